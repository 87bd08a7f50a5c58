#!/usr/bin/env bash
# deb.sh VERSION STAGE OUT.deb: turns the tree `make install PREFIX=/usr
# DESTDIR=STAGE` left into one Debian binary package, without debhelper:
# binaries stripped, man pages and changelog gzip -9n, the copyright file,
# Depends from dpkg-shlibdeps, md5sums, a shlibs file and the ldconfig
# trigger for libnotun.so.0, files owned by root (--root-owner-group).
# One package, not notun + libnotun0 + libnotun-dev: libnotun has one user
# today (the desktop app) and this keeps `apt install ./notun_*.deb` to one
# file; core/cli/deb/lintian-overrides names the warnings that choice brings.
set -euo pipefail
version=$1 stage=$(cd "$2" && pwd) out=$3
here=$(cd "$(dirname "$0")" && pwd)
pkg=notun
arch=$(dpkg --print-architecture)

changelog_version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
[ "$changelog_version" = "$version" ] || {
	echo "deb: core/cli/deb/changelog is at $changelog_version, the Makefile's VERSION is $version" >&2
	exit 1
}
# Every date in the package is the changelog's: the same tree, the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(dpkg-parsechangelog -l "$here/changelog" -S Timestamp)}

doc=$stage/usr/share/doc/$pkg
major=$(sed -n 's/^libnotun\.so\.\([0-9]*\)$/\1/p' <(ls "$stage/usr/lib"))
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$stage/usr/bin/notun" "$stage/usr/lib/libnotun.so.$version"
strip --strip-debug --remove-section=.comment --enable-deterministic-archives "$stage/usr/lib/libnotun.a"
gzip -9n "$stage"/usr/share/man/man*/*
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -9n <"$here/changelog" >"$doc/changelog.gz"
install -D -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/$pkg"
# Policy 8.1: a shared library is not executable.
chmod 0644 "$stage/usr/lib/libnotun.so.$version"
find "$stage" -type d -exec chmod 0755 {} +

mkdir -p "$stage/DEBIAN"
# dpkg-shlibdeps wants a debian/control to read; it needs nothing from it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' $pkg $pkg >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"$stage/usr/bin/notun" -e"$stage/usr/lib/libnotun.so.$version" |
	sed -n 's/^shlibs:Depends=//p')
echo "libnotun $major $pkg (>= $version)" >"$stage/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"
(cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
cat >"$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $(dpkg-parsechangelog -l "$here/changelog" -S Maintainer)
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: WireGuard access for one process, without a TUN device or root
 notun lets a process reach private resources through an encrypted
 WireGuard tunnel without a TUN device and without root: the application
 talks to a local SOCKS5/HTTP proxy, which notun terminates in an embedded
 userspace TCP/IP stack (lwIP). The same command is an unprivileged
 gateway and a reference control plane (the portal).
 .
 Also included: libnotun (shared and static), its header and pkg-config
 file, for programs that embed the client.
EOF
chmod 0644 "$stage"/DEBIAN/*
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
