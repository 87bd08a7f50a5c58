#!/usr/bin/env bash
# make demo: shows the built binary working. Today that is the version report
# and a key pair that wg(8) agrees with; the tunnel demo (a local gateway and
# resource, a request through the proxy) replaces this as the data path lands.
set -euo pipefail
notun=${1:-build/notun}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

echo "== $notun --version"
"$notun" --version
echo
echo "== a key pair"
"$notun" genkey >"$tmp/private"
pub=$("$notun" pubkey <"$tmp/private")
echo "public key (notun pubkey): $pub"
if command -v wg >/dev/null; then
	wgpub=$(wg pubkey <"$tmp/private")
	echo "public key (wg pubkey):    $wgpub"
	[ "$pub" = "$wgpub" ] || { echo "demo: notun and wg disagree" >&2; exit 1; }
	echo "notun and wg agree."
fi
