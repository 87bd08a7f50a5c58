#!/usr/bin/env bash
# build-lws.sh OUT: builds libwebsockets as a static library against the
# system mbedTLS (client and server roles, no event-library plugins, no zlib)
# and installs headers and library under OUT. Done once; make skips it while
# OUT/lib/libwebsockets.a exists.
set -euo pipefail
out=$1
src=${LWS_DIR:?LWS_DIR not set}
[ -f "$src/CMakeLists.txt" ] || { echo "build-lws: no libwebsockets source in $src (run make deps)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/build"
echo "build-lws: configuring libwebsockets (static, mbedTLS)"
cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$out" \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_C_FLAGS="-Wno-error" \
	-DDISABLE_WERROR=ON \
	-DLWS_WITH_MBEDTLS=ON -DLWS_WITH_SSL=ON \
	-DLWS_WITH_STATIC=ON -DLWS_WITH_SHARED=OFF \
	-DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF \
	-DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITHOUT_TEST_CLIENT=ON \
	-DLWS_WITH_LIBUV=OFF -DLWS_WITH_LIBEV=OFF -DLWS_WITH_LIBEVENT=OFF -DLWS_WITH_GLIB=OFF \
	-DLWS_WITH_ZLIB=OFF -DLWS_WITH_ZIP_FOPS=OFF -DLWS_WITHOUT_EXTENSIONS=ON \
	-DLWS_WITH_HTTP2=OFF -DLWS_WITH_SOCKS5=OFF -DLWS_IPV6=ON \
	-DLWS_WITH_DIR=OFF -DLWS_WITH_LEJP_CONF=OFF -DLWS_WITH_LWSAC=ON \
	-DLWS_CTEST_INTERNET_AVAILABLE=OFF >"$out/configure.log" 2>&1 ||
	{ tail -30 "$out/configure.log" >&2; exit 1; }
echo "build-lws: compiling"
cmake --build "$work" -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; exit 1; }
cmake --install "$work" >/dev/null
rm -rf "$out/build"
ls "$out/lib/libwebsockets.a" >/dev/null
