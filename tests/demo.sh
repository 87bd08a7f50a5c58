#!/usr/bin/env bash
# make demo: the whole path on this machine, without root or namespaces.
#
#   curl --socks5--> notun up (client) ==WireGuard over 127.0.0.1==> notun gateway --> HTTP on 127.0.0.1
#
# Keys come from notun genkey/pubkey, both configurations are written to a
# temporary directory, and every process is stopped by its PID and every
# file removed at the end, also on failure or Ctrl-C. DEMO_TIMEOUT_S (default
# 15) bounds each wait for a process to come up.
#
# Addressing: the gateway's own tunnel address (10.99.0.1) stands for the
# gateway host, so a flow to 10.99.0.1:PORT is connected to 127.0.0.1:PORT
# on the gateway's side. The client routes 10.99.0.0/24 into the tunnel like
# any wg-quick AllowedIPs; 127.0.0.1 itself could not be used, since the
# client's own stack (like any IP stack) never sends loopback destinations
# onto a link. A [Gateway] Allow rule opens exactly the demo's HTTP port.
set -euo pipefail
notun=${1:-build/notun}
top=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3
timeout_s=${DEMO_TIMEOUT_S:-15}

tmp=$(mktemp -d)
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 077

fail() {
	echo "demo: $*" >&2
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}

free_port() { # tcp|udp
	"$python" -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

wait_for() { # FILE PATTERN WHAT
	local i
	for ((i = 0; i < timeout_s * 20; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "$3 did not start"
}

# The interesting part of a log line: drop the timestamp and level.
show() { # FILE PATTERN
	grep -E -- "$2" "$1" | sed -e 's/^ts=[^ ]* level=[a-z]* //' -e 's/^/    /' || true
}

[ -x "$notun" ] || fail "$notun is not built (make all)"
command -v curl >/dev/null || fail "curl is missing"

echo "== $("$notun" --version | head -1)"
echo
echo "== keys (notun genkey | notun pubkey)"
"$notun" genkey >"$tmp/gateway.key"
"$notun" genkey >"$tmp/client.key"
gw_pub=$("$notun" pubkey <"$tmp/gateway.key")
client_pub=$("$notun" pubkey <"$tmp/client.key")
echo "    gateway $gw_pub"
echo "    client  $client_pub"

http_port=$(free_port tcp)
wg_port=$(free_port udp)
proxy_port=$(free_port tcp)

cat >"$tmp/gateway.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/gateway.key")
ListenPort = $wg_port
Address = 10.99.0.1/32

[Peer]
PublicKey = $client_pub
AllowedIPs = 10.99.0.2/32

[Gateway]
Allow = 10.99.0.1/32 tcp:$http_port
EOF
cat >"$tmp/client.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/client.key")
Address = 10.99.0.2/32

[Peer]
PublicKey = $gw_pub
Endpoint = 127.0.0.1:$wg_port
AllowedIPs = 10.99.0.0/24

[Proxy]
Listen = 127.0.0.1:$proxy_port
EOF
echo
echo "== gateway.conf (keys elided)"
sed -e 's/^\(PrivateKey = \).*/\1.../' -e 's/^/    /' "$tmp/gateway.conf"
echo "== client.conf (keys elided)"
sed -e 's/^\(PrivateKey = \).*/\1.../' -e 's/^/    /' "$tmp/client.conf"

echo
echo "== starting an HTTP server on 127.0.0.1:$http_port, the gateway (udp $wg_port), the client (socks5 $proxy_port)"
"$python" "$top/tests/integration/httpsrv.py" 127.0.0.1 "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)
"$notun" --log-level debug gateway -c "$tmp/gateway.conf" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
"$notun" --log-level debug up -c "$tmp/client.conf" >"$tmp/client.log" 2>&1 &
pids+=($!)
wait_for "$tmp/http.log" ready "the HTTP server"
wait_for "$tmp/gateway.log" "event=gateway_up" "notun gateway"
wait_for "$tmp/client.log" "event=listening proxy=socks5" "notun up"

url="http://10.99.0.1:$http_port/hello"
echo
echo "== curl --socks5-hostname 127.0.0.1:$proxy_port $url"
body=$(curl --silent --show-error --max-time 20 --socks5-hostname "127.0.0.1:$proxy_port" "$url") ||
	fail "the request through the tunnel failed"
echo "    $body"
[ "$body" = "hello through notun" ] || fail "unexpected answer: $body"

# A port no rule allows: the gateway answers ICMP "administratively
# prohibited" at once, the client turns it into SOCKS5 reply 0x02.
denied="http://10.99.0.1:22/"
echo
echo "== curl $denied (no Allow rule)"
if out=$(curl --silent --show-error --max-time 10 --socks5-hostname "127.0.0.1:$proxy_port" \
	"$denied" 2>&1); then
	fail "a filtered destination was reachable"
fi
echo "    ${out#curl: }"

wait_for "$tmp/gateway.log" "event=flow_closed" "the flow's end"
wait_for "$tmp/gateway.log" "event=flow_denied" "the denial's log line"
echo
echo "== what happened, from the logs"
echo "  client:"
show "$tmp/client.log" "event=(handshake_initiation_sent|handshake_complete)"
echo "  gateway:"
show "$tmp/gateway.log" "event=(handshake_complete|flow_opened|flow_closed|flow_denied)"
echo
echo "demo: ok"
