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
say() { echo; fold -s -w 78 <<<"$*"; }

say "1. The resources. An HTTP server on 127.0.0.1:$http_port plays a private" \
	"service on the gateway's host. The portal's file names two resources for the" \
	"user alice: 'web', the address 10.99.0.1 (the gateway's tunnel address, which" \
	"stands for the gateway host) on port $http_port only, and 'intranet', every name" \
	"under demo.localhost, resolved by the gateway, never by the client."
echo "== portal.conf (tokens elided)"
elide "$tmp/portal.conf"
say "2. The portal runs on wss://127.0.0.1:$portal_port with a self-signed" \
	"certificate; gateway and client pin its fingerprint ($fp)."
say "3. The gateway joins the portal. Its own file publishes one port of its host to" \
	"grants; nothing else of the host is reachable, whatever the portal says."
echo "== gateway.conf"
elide "$tmp/gateway.conf"
"$notun" --log-level debug gateway -c "$tmp/gateway.conf" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
wait_for "$tmp/portal.log" "event=joined gid=gw1" "the gateway's join"
say "4. The client joins: no key in its file (a fresh one each start), no peers; the" \
	"portal's init gives it an address and the list of its resources. Its SOCKS5" \
	"and HTTP proxy listen on 127.0.0.1:$proxy_port."
echo "== client.conf"
elide "$tmp/client.conf"
"$notun" --log-level debug up -c "$tmp/client.conf" >"$tmp/client.log" 2>&1 &
pids+=($!)
wait_for "$tmp/client.log" "event=portal_init" "the client's join"

events="access_requested|create_authorization|grant_added|authorization_created|access_granted"
events+="|handshake_complete|name_assigning|dns_status|name_active|flow_opened|port_refused"
declare -A mark
marks() { for who in client portal gateway; do mark[$who]=$(wc -l <"$tmp/$who.log"); done; }
# The event lines of the three logs since marks, merged in time order.
story() {
	for who in client portal gateway; do
		tail -n +"$((mark[$who] + 1))" "$tmp/$who.log" |
			sed -e "s/^\(ts=[^ ]*\) level=[a-z]* mod=[a-z]* /\1 $who: /"
	done | grep -E "event=($events)" | grep -v "event=authorization_created ref" |
		sort -s -k1,1 | sed -e 's/^ts=[^T]*T\([^ ]*\) /    \1 /'
}

fetch() { # WHAT CURL-ARGS...
	local body i
	echo "   \$ curl $*"
	marks
	body=$(curl --silent --show-error --max-time 20 "$@") || fail "the request failed"
	echo "    $body"
	[ "$body" = "hello through notun" ] || fail "unexpected answer: $body"
	# The story ends with the gateway's flow: wait for its line.
	for ((i = 0; i < timeout_s * 20; i++)); do
		tail -n +"$((mark[gateway] + 1))" "$tmp/gateway.log" | grep -q "event=flow_closed" && break
		sleep 0.05
	done
	story
}

say "5. A request to 'web' through SOCKS5. The client opens the connection at once" \
	"and holds its first packet (held=1 below) while it asks the portal; the portal" \
	"asks the gateway, which installs the grant and acknowledges; only then does the" \
	"portal tell the client, which sends the held packet through a new WireGuard" \
	"session to that gateway, in order, before anything newer."
fetch --socks5-hostname "127.0.0.1:$proxy_port" "http://10.99.0.1:$http_port/hello"
say "6. A request by name to 'intranet' through the HTTP proxy. The client gives" \
	"wiki.demo.localhost a proxy address instead of resolving it; once access is" \
	"granted it asks the gateway, inside the tunnel, to resolve the name and map the" \
	"address (the same WireGuard session: one per gateway)."
fetch --proxy "http://127.0.0.1:$proxy_port" "http://wiki.demo.localhost:$http_port/hello"

refused() { # URL
	local out
	echo "   \$ curl --proxy http://127.0.0.1:$proxy_port $1"
	out=$(curl --silent --max-time 10 --proxy "http://127.0.0.1:$proxy_port" \
		--write-out '%{http_code}' "$1") || true
	echo "    HTTP ${out: -3}: $(printf '%s' "${out%???}" | head -1)"
	[ "${out: -3}" = 403 ] || fail "expected 403, got ${out: -3}"
}
say "7. Refused: port 22 of 10.99.0.1. 'web' allows port $http_port only, so the" \
	"client refuses at once with 403 and asks nobody."
refused "http://10.99.0.1:22/"
say "8. Refused: 10.20.30.40 is no resource of alice's, and the client's file says" \
	"Bypass = reject, so it is not connected directly either."
refused "http://10.20.30.40/"
echo
echo "demo: ok"
