#!/usr/bin/env bash
# make demo: the whole product on this machine, without root or namespaces:
# a portal, a gateway under it, a client under it, two resources.
#
#   curl --socks5/--proxy--> notun up (client) ==WireGuard, 127.0.0.1==> notun gateway --> HTTP on 127.0.0.1
#                                 \\                                          /
#                                  `--- wss:// ---> notun portal <--- wss:// '
#
# The client has no key and no peer in its file: it joins the portal, which
# lists its resources; the first connection to one is held in the client
# while the portal asks the gateway to install the grant, and released once
# the gateway has acknowledged it. Keys and tokens come from notun itself,
# every file lives in a temporary directory, every process is stopped by its
# PID, also on failure or Ctrl-C. DEMO_TIMEOUT_S (default 15) bounds each
# wait for a process to come up.
#
# Addressing, unprivileged: the gateway's resources live on its loopback,
# which no grant may reach unless the gateway's own file publishes it
# ([Gateway] Allow). The cidr resource is the gateway's tunnel address
# (10.99.0.1, which stands for the gateway host: a flow to it is connected
# to 127.0.0.1 on the same port); the dns resource's names end in .localhost,
# which the gateway resolves to 127.0.0.1 without asking any DNS server
# (RFC 6761), and the client never resolves at all.
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
	fail "$3 did not happen"
}

elide() { sed -e 's/^\(PrivateKey\|Token\|TokenHash\) = .*/\1 = .../' -e 's/^/    /' "$1"; }

[ -x "$notun" ] || fail "$notun is not built (make all)"
command -v curl >/dev/null || fail "curl is missing"

echo "== $("$notun" --version | head -1)"
http_port=$(free_port tcp)
wg_port=$(free_port udp)
portal_port=$(free_port tcp)
proxy_port=$(free_port tcp)
"$notun" genkey >"$tmp/gateway.key"
{ read -r gw_token; read -r gw_hash; } < <("$notun" portal token gateway)
{ read -r client_token; read -r client_hash; } < <("$notun" portal token client)

cat >"$tmp/portal.conf" <<EOF
[Portal]
Listen = 127.0.0.1:$portal_port
AccessTTL = 1h
ClientAddresses = 100.64.0.0/24

[Site home]

[Gateway gw1]
Site = home
$gw_hash

[Client alice]
$client_hash

[Resource web]
Address = 10.99.0.1/32
Filters = tcp:$http_port
Sites = home
Allow = alice

[Resource intranet]
Address = *.demo.localhost
Filters = tcp:$http_port
Sites = home
Allow = alice
EOF
cat >"$tmp/gateway.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/gateway.key")
ListenPort = $wg_port
Address = 10.99.0.1/32

[Portal]
URL = wss://127.0.0.1:$portal_port
Token = $gw_token
FINGERPRINT
Advertise = 127.0.0.1:$wg_port

# What of this host grants may reach: its HTTP port, by the tunnel
# address and by loopback. Nothing else of the host, whatever the portal says.
[Gateway]
Allow = 10.99.0.1/32 tcp:$http_port
Allow = 127.0.0.1/32 tcp:$http_port
EOF
cat >"$tmp/client.conf" <<EOF
[Interface]
# No PrivateKey (a fresh one each start), no Address, no [Peer]: the portal
# gives the rest.

[Portal]
URL = wss://127.0.0.1:$portal_port
Token = $client_token
FINGERPRINT

[Proxy]
Listen = 127.0.0.1:$proxy_port
# Destinations no resource covers are refused, not connected directly.
Bypass = reject
EOF

echo
echo "== starting an HTTP server on 127.0.0.1:$http_port and the portal (wss 127.0.0.1:$portal_port)"
"$python" "$top/tests/integration/httpsrv.py" 127.0.0.1 "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)
"$notun" --log-level debug portal -c "$tmp/portal.conf" >"$tmp/portal.log" 2>&1 &
pids+=($!)
wait_for "$tmp/http.log" ready "the HTTP server's start"
wait_for "$tmp/portal.log" "event=certificate" "the portal's start"
fp=$(grep -o 'fingerprint=[^ ]*' "$tmp/portal.log" | head -1 | cut -d= -f2)
sed -i "s|^FINGERPRINT$|Fingerprint = $fp|" "$tmp/gateway.conf" "$tmp/client.conf"
echo "== portal.conf (tokens elided)"
elide "$tmp/portal.conf"
echo "== gateway.conf"
elide "$tmp/gateway.conf"
echo "== client.conf"
elide "$tmp/client.conf"

echo
echo "== starting the gateway (udp $wg_port) and the client (socks5 and http on $proxy_port)"
"$notun" --log-level debug gateway -c "$tmp/gateway.conf" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
wait_for "$tmp/portal.log" "event=joined gid=gw1" "the gateway's join"
"$notun" --log-level debug up -c "$tmp/client.conf" >"$tmp/client.log" 2>&1 &
pids+=($!)
wait_for "$tmp/client.log" "event=portal_init" "the client's join"

fetch() { # WHAT CURL-ARGS...
	local what=$1 body
	shift
	echo
	echo "== $what"
	echo "   curl $*"
	body=$(curl --silent --show-error --max-time 20 "$@") || fail "$what failed"
	echo "    $body"
	[ "$body" = "hello through notun" ] || fail "unexpected answer: $body"
}

fetch "cidr resource web (10.99.0.1/32), through SOCKS5" \
	--socks5-hostname "127.0.0.1:$proxy_port" "http://10.99.0.1:$http_port/hello"
fetch "dns resource intranet (*.demo.localhost), through the HTTP proxy" \
	--proxy "http://127.0.0.1:$proxy_port" "http://wiki.demo.localhost:$http_port/hello"

refused() { # WHAT URL
	local out
	echo
	echo "== $1"
	echo "   curl --proxy http://127.0.0.1:$proxy_port $2"
	out=$(curl --silent --max-time 10 --proxy "http://127.0.0.1:$proxy_port" \
		--write-out '%{http_code}' "$2") || true
	echo "    HTTP ${out: -3}: $(printf '%s' "${out%???}" | head -1)"
	[ "${out: -3}" = 403 ] || fail "expected 403, got ${out: -3}"
}
refused "refused: port 22 is outside web's filters (decided in the client, nothing sent)" \
	"http://10.99.0.1:22/"
refused "refused: 10.20.30.40 is no resource of alice's (Bypass = reject)" "http://10.20.30.40/"

wait_for "$tmp/gateway.log" "event=flow_closed" "the flows' end"
echo
echo "== what happened, in time order (client, portal, gateway; held=N: packets the"
echo "   client held until the gateway had confirmed access, then sent in order)"
for who in client portal gateway; do
	sed -e "s/^\(ts=[^ ]*\) level=[a-z]* /\1 $who: /" "$tmp/$who.log"
done | grep -E "event=(access_requested|request_pending|create_authorization|grant_added|authorization_created|access_granted|handshake_complete|name_assigning|dns_status|name_active|flow_opened|port_refused)" |
	grep -v "event=authorization_created ref" | sort -s -k1,1 | sed -e 's/^ts=\([^ ]*\) /    \1 /'
echo
echo "demo: ok"
