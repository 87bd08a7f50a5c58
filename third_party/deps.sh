#!/usr/bin/env bash
# Installs the Debian packages notun builds and tests with, then fetches the
# pinned third-party sources. Idempotent: when everything is present it only
# checks and returns. Without root it prints the command to run instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# One package per line: build, unit tests, integration tests, the interop peer.
packages=(
	build-essential pkg-config cmake clang libclang-rt-dev dpkg-dev xz-utils lintian
	libsodium-dev libb2-dev libmbedtls-dev libjsmn-dev libcmocka-dev
	python3 python3-pytest python3-websockets python3-prometheus-client
	wireguard-go wireguard-tools iproute2 iputils-ping dnsmasq-base curl ca-certificates
	openssh-server openssh-client wget git apache2-utils groff man-db
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	cmd="apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "notun: missing Debian packages: ${missing[*]}" >&2
		echo "notun: run as root: apt-get update && $cmd" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	$cmd
fi

"$here/fetch.sh" lwip
"$here/fetch.sh" libwebsockets
