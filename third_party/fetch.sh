#!/usr/bin/env bash
# fetch.sh NAME: obtains the pinned upstream source of NAME (lwip or
# libwebsockets) from Debian's source package, checks its sha256 and unpacks it
# under build/third_party/src/. A second run finds the stamp and does nothing.
# LWIP_SRC / LWS_SRC point at a local tree instead (non-Debian systems).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
srcdir="$top/build/third_party/src"

case "${1:-}" in
lwip)
	override=${LWIP_SRC:-}
	pkg=lwip version=2.1.3+dfsg1-2
	orig=lwip_2.1.3+dfsg1.orig.tar.xz
	sha=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
	dest="$srcdir/lwip"
	probe=src/core/tcp.c
	;;
libwebsockets)
	override=${LWS_SRC:-}
	pkg=libwebsockets version=4.1.6-3
	orig=libwebsockets_4.1.6.orig.tar.gz
	sha=402e9a8df553c9cd2aff5d7a9758e9e5285bf3070c82539082864633db3deb83
	dest="$srcdir/libwebsockets"
	probe=CMakeLists.txt
	;;
*)
	echo "usage: $0 lwip|libwebsockets" >&2
	exit 2
	;;
esac

if [ -n "$override" ]; then
	if [ ! -f "$override/$probe" ]; then
		echo "fetch: $override does not look like a $pkg source tree (no $probe)" >&2
		exit 1
	fi
	exit 0
fi
[ -f "$dest/.notun-sha256" ] && [ "$(cat "$dest/.notun-sha256")" = "$sha" ] && exit 0

have_source_entry() { apt-cache showsrc "$pkg" 2>/dev/null | grep -q "^Version: $version\$"; }

if ! have_source_entry; then
	list=/etc/apt/sources.list.d/notun-src.sources
	if [ "$(id -u)" -ne 0 ]; then
		echo "fetch: apt has no source entry for $pkg $version" >&2
		echo "fetch: as root, add deb-src entries (make deps does this), or set ${pkg^^}_SRC" >&2
		exit 1
	fi
	# This machine has binary entries only: mirror them as deb-src, same
	# archives and suites, so the source comes from where the packages do.
	echo "fetch: no deb-src entries; deriving $list from the existing Debian entries"
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && [ "$f" != "$list" ] || continue
			grep -q 'debian' "$f" || continue
			sed -e 's/^Types:.*$/Types: deb-src/' "$f"
			echo
		done
		if [ -f /etc/apt/sources.list ]; then
			grep -E '^deb\s' /etc/apt/sources.list | grep debian |
				sed -e 's/^deb\s/Types: deb-src\nURIs: /' \
					-e 's/^\(URIs: [^ ]*\) \([^ ]*\) \(.*\)$/\1\nSuites: \2\nComponents: \3\n/' || true
		fi
	} >"$list.tmp"
	mv "$list.tmp" "$list"
	apt-get update -qq
	if ! have_source_entry; then
		echo "fetch: apt still has no source of $pkg $version; set ${pkg^^}_SRC to a local tree" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch: $pkg $version (Debian source package)"
(cd "$tmp" && apt-get source -qq --download-only "$pkg=$version" >/dev/null 2>&1) || {
	echo "fetch: apt-get source $pkg=$version failed" >&2
	exit 1
}
got=$(sha256sum "$tmp/$orig" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
	echo "fetch: sha256 mismatch for $orig: got $got, want $sha" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
tar -xf "$tmp/$orig" -C "$dest" --strip-components=1
echo "$sha" >"$dest/.notun-sha256"
echo "fetch: $pkg unpacked in ${dest#"$top"/}"
