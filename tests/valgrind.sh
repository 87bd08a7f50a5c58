#!/usr/bin/env bash
# valgrind.sh BUILD: a chosen set of integration tests with every notun
# client and gateway they start under valgrind memcheck (NOTUN_WRAPPER, see
# tests/integration/conftest.py), BUILD a build without sanitizers. Each
# process writes BUILD/valgrind/vg.PID.log; passes when the tests pass and
# every log ends with no errors and nothing definitely lost (memcheck's exit
# code 99 also fails the test that stopped the process).
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
logs="$top/$build/valgrind"
rm -rf "$logs" && mkdir -p "$logs"
# Timing-free tests: under memcheck notun runs 20 to 50 times slower, so
# tests asserting "within a second" are left out.
tests=(
	"tests/integration/test_gateway.py::test_gateway_serves_a_page_and_logs_the_flow"
	"tests/integration/test_gateway.py::test_gateway_upload_64mib_sha256"
	"tests/integration/test_gateway.py::test_gateway_udp_associate_to_echo_server"
	"tests/integration/test_gateway.py::test_gateway_ipv6_flow_to_its_own_address_reaches_loopback"
	"tests/integration/test_gateway.py::test_gateway_answers_echo_requests_to_its_own_address"
	"tests/integration/test_gateway.py::test_gateway_restart_mid_transfer_client_rehandshakes"
	"tests/integration/test_socks5_tunnel.py"
)
export NOTUN_BUILD="$top/$build"
export NOTUN_WRAPPER="valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no \
--log-file=$logs/vg.%p.log"
cd "$top"
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider "${tests[@]}" || rc=1
# A process a test kills (SIGKILL: the gateway restart) leaves no summary:
# its log is still searched for errors found before the kill.
errors='^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest)'
n=0 killed=0
for f in "$logs"/vg.*.log; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	bad=0
	grep -qE "$errors" "$f" && bad=1
	if grep -q "ERROR SUMMARY:" "$f"; then
		grep -q "ERROR SUMMARY: 0 errors" "$f" || bad=1
		grep -q "definitely lost: [1-9]" "$f" && bad=1
	else
		killed=$((killed + 1))
	fi
	if [ $bad = 1 ]; then
		echo "valgrind: findings in $f:" >&2
		grep -E "$errors|definitely lost|^==[0-9]+==    (at|by) " "$f" | head -40 >&2 || true
		rc=1
	fi
done
[ "$n" -gt 0 ] || { echo "valgrind: no process ran under valgrind" >&2; exit 1; }
echo "valgrind: $n notun processes ($killed killed by their test), $([ $rc = 0 ] && echo clean ||
	echo FINDINGS)"
exit $rc
