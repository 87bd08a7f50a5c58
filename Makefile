# notun: the one build entry.
#   make            build/notun (release)
#   make test       sanitized build, unit + integration tests, one summary line
#   make demo       build, then a real request through the proxy
#   make bench      benchmarks (never part of make test)
#   make fuzz       libFuzzer harnesses, each for a short bounded time
#   make soak       30 minutes of mixed traffic, memory and descriptors sampled
#   make valgrind   integration tests with notun under valgrind memcheck
#   make deps       Debian packages and pinned third-party sources
#   make static     build/notun-static, one static executable
#   make deb        build/notun_VERSION_ARCH.deb
# Variables: O (output dir), SAN=1 (ASan+UBSan), LWIP_SRC / LWS_SRC (local trees).

O ?= build
SAN ?= 0
CC ?= cc
PREFIX ?= /usr/local
# Quiet unless V=1: objects compile silently, each library, program and
# page built says so in one line.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-5s %s\n' $(1) $(2)
endif
PYTHON := /usr/bin/python3

TP := build/third_party
LWIP_DIR := $(or $(LWIP_SRC),$(TP)/src/lwip)
LWS_DIR := $(or $(LWS_SRC),$(TP)/src/libwebsockets)
LWS_OUT := $(TP)/lws

VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# The lwIP files notun's patches change (third_party/lwip-*.patch, see
# below); the headers come from $(O)/lwip-patched, ahead of lwIP's own, for
# lwIP and notun alike.
LWIP_PATCHED_SRCS := src/core/ip.c src/core/ipv4/ip4.c src/core/ipv6/ip6.c src/core/tcp.c \
	src/core/tcp_in.c src/core/tcp_out.c src/core/udp.c
LWIP_PATCHED_H := src/include/lwip/tcp.h src/include/lwip/priv/tcp_priv.h
LWIP_PATCHED := $(LWIP_PATCHED_SRCS) $(LWIP_PATCHED_H)
LWIP_PATCHED_DIR := $(O)/lwip-patched
LWIP_PATCHED_HDRS := $(addprefix $(LWIP_PATCHED_DIR)/,$(LWIP_PATCHED_H))
LWIP_INCLUDES := -I$(LWIP_PATCHED_DIR)/src/include -I$(LWIP_DIR)/src/include
INCLUDES := -I. -Inetstack $(LWIP_INCLUDES) -I$(LWS_OUT)/include
# Every object may go into libnotun.so: position-independent, and only the
# API (NOTUN_API, core/lib/notun.h) visible outside it.
PIC := -fPIC -fvisibility=hidden
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -MMD -MP -fno-strict-aliasing $(PIC)
ifeq ($(SAN),fuzz)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
else ifeq ($(SAN),1)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
OPT := -O2
endif
CFLAGS += $(CFLAGS_BASE) $(OPT)
, := ,
LDFLAGS += $(if $(filter-out 0,$(SAN)),-fsanitize=address$(,)undefined)
# The channel's certificate pin reads the peer's DER through this libwebsockets
# internal (core/channel/chan_peercert.c says why); -u pulls the wrapper in.
LWS_PEERCERT := ssl_get_peer_mbedtls_x509_crt
LDFLAGS += -Wl,--wrap=$(LWS_PEERCERT) -Wl,-u,__wrap_$(LWS_PEERCERT)
LIBS := $(LWS_OUT)/lib/libwebsockets.a -lmbedtls -lmbedx509 -lmbedcrypto -lsodium -lb2 -lpthread

# lwIP: the core, IPv4 and IPv6, compiled with our lwipopts.h and arch/ port.
LWIP_SRCS := $(wildcard $(LWIP_DIR)/src/core/*.c $(LWIP_DIR)/src/core/ipv4/*.c \
	$(LWIP_DIR)/src/core/ipv6/*.c)
LWIP_OBJS := $(patsubst $(LWIP_DIR)/%.c,$(O)/lwip/%.o,$(LWIP_SRCS))

# Project code: every module's .c files; main.c alone makes the binary.
LIB_SRCS := $(wildcard platform/*.c netstack/*.c netstack/arch/*.c proxy/*.c core/*.c core/*/*.c)
LIB_SRCS := $(filter-out core/cli/main.c,$(LIB_SRCS))
LIB_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(O)/tools/%,$(TOOL_SRCS))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(O)/bench/%,$(BENCH_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))
# libnotun for other programs (below).
LIB_API := $(shell sed -n 's/^\#define NOTUN_API_VERSION[ \t]*\([0-9]*\).*/\1/p' core/lib/notun.h)
LIB_MAJOR := $(shell expr $(LIB_API) / 10000)
DIST := $(O)/dist
DIST_LIBS := $(DIST)/libnotun.so.$(VERSION) $(DIST)/libnotun.a
# Man pages, made from the help texts and config.md; dated by the last commit.
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
MANS := $(O)/man/notun.1 $(O)/man/notun.conf.5
EXAMPLES := $(wildcard core/cli/examples/*.conf)

.PHONY: all deps fetch test demo bench fuzz soak valgrind install uninstall clean distclean format \
	_binaries _tests _fuzzers _benches

all: deps
	@$(MAKE) --no-print-directory O=build SAN=0 _binaries

deps:
	@third_party/deps.sh

fetch:
	@third_party/fetch.sh lwip && third_party/fetch.sh libwebsockets

_binaries: $(O)/notun $(TOOL_BINS) $(DIST_LIBS) $(MANS)
_tests: $(O)/notun $(UNIT_BINS) $(TOOL_BINS)
_fuzzers: $(FUZZ_BINS)
_benches: $(O)/notun $(BENCH_BINS) $(TOOL_BINS)

$(O)/man/notun.1: $(O)/notun core/cli/help2man.py
	@mkdir -p $(@D)
	$(call say,MAN,$@)
	$(Q)/usr/bin/python3 core/cli/help2man.py $(O)/notun $(MAN_DATE) >$@.tmp && mv $@.tmp $@

$(O)/man/notun.conf.5: core/config/config.md core/cli/md2man.py
	@mkdir -p $(@D)
	$(call say,MAN,$@)
	$(Q)/usr/bin/python3 core/cli/md2man.py $< notun.conf 5 $(MAN_DATE) \
		"notun configuration files" >$@.tmp && mv $@.tmp $@

$(LWS_OUT)/lib/libwebsockets.a:
	@LWS_DIR=$(LWS_DIR) third_party/build-lws.sh $(LWS_OUT)

# lwIP builds its timestamp option as u8 << 24 into an int (tcp_in.c), which
# UBSan reports though every compiler does the expected thing: that one
# check is off for lwIP; the rest of the sanitizers still watch it.
LWIP_SAN := $(if $(filter-out 0,$(SAN)),-fno-sanitize=shift-base)

LWIP_CC = $(CC) -std=c11 -D_GNU_SOURCE -g -MMD -MP $(PIC) $(OPT) $(LWIP_SAN) -w -I. -Inetstack \
	$(LWIP_INCLUDES)

$(O)/lwip/%.o: $(LWIP_DIR)/%.c netstack/lwipopts.h $(wildcard netstack/arch/*.h) Makefile \
		$(LWIP_PATCHED_HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(LWIP_CC) -c $< -o $@

# notun's lwIP patches, applied in name order: the files they touch are
# copied (as LF text), patched under $(O)/lwip-patched and used instead of
# the originals (sources compiled, headers found first); the upstream tree
# stays as fetched. Each patch says why it exists (accept-any: inert until
# the gateway enables it at run time; pcb-hash: pcb lookup without walking
# lists; sack-recovery: fast retransmit from SACK information;
# unacked-tail: tcp_output without walking the unacked queue). A patched
# file is replaced only when its text changes, and every object depends on
# the patched headers: a header change (pcb-hash changes struct tcp_pcb)
# rebuilds everything, a patch that leaves them alone rebuilds its sources.
LWIP_PATCHES := $(sort $(wildcard third_party/lwip-*.patch))
$(LWIP_PATCHED_DIR)/.stamp: $(LWIP_PATCHES) $(addprefix $(LWIP_DIR)/,$(LWIP_PATCHED)) Makefile
	@rm -rf $(LWIP_PATCHED_DIR).tmp
	@for f in $(LWIP_PATCHED); do mkdir -p $(LWIP_PATCHED_DIR).tmp/$$(dirname $$f) && \
		sed 's/\r$$//' $(LWIP_DIR)/$$f >$(LWIP_PATCHED_DIR).tmp/$$f || exit 1; done
	@for p in $(LWIP_PATCHES); do \
		patch -s -p1 --no-backup-if-mismatch -d $(LWIP_PATCHED_DIR).tmp <$$p || exit 1; done
	@mkdir -p $(LWIP_PATCHED_DIR) && cd $(LWIP_PATCHED_DIR) && \
		find . -type f ! -name .stamp | sed 's|^\./||' | while read f; do \
		case " $(LWIP_PATCHED) " in *" $$f "*) ;; *) rm -f "$$f";; esac; done
	@for f in $(LWIP_PATCHED); do mkdir -p $(LWIP_PATCHED_DIR)/$$(dirname $$f) && \
		{ cmp -s $(LWIP_PATCHED_DIR).tmp/$$f $(LWIP_PATCHED_DIR)/$$f || \
		cp $(LWIP_PATCHED_DIR).tmp/$$f $(LWIP_PATCHED_DIR)/$$f; } || exit 1; done
	@rm -rf $(LWIP_PATCHED_DIR).tmp
	@touch $@

# Made by the stamp's recipe, which leaves them untouched when unchanged.
$(LWIP_PATCHED_HDRS): $(LWIP_PATCHED_DIR)/.stamp
	@test -f $@ || { rm -f $<; echo "$@ is missing: run make again" >&2; exit 1; }

$(patsubst %.c,$(O)/lwip/%.o,$(LWIP_PATCHED_SRCS)): $(O)/lwip/%.o: $(LWIP_PATCHED_DIR)/.stamp \
		$(LWIP_PATCHED_HDRS) netstack/lwipopts.h $(wildcard netstack/arch/*.h) Makefile
	@mkdir -p $(dir $@)
	$(Q)$(LWIP_CC) -c $(LWIP_PATCHED_DIR)/$*.c -o $@

$(O)/liblwip.a: $(LWIP_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

# libwebsockets' headers are installed with its library: core/channel/ and
# the version report include them, so it is built before any object.
$(O)/obj/%.o: %.c $(LWIP_PATCHED_HDRS) | $(LWS_OUT)/lib/libwebsockets.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -DNT_VERSION='"$(VERSION)"' -c $< -o $@

$(O)/libnotun.a: $(LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(O)/notun: $(O)/obj/core/cli/main.o $(O)/libnotun.a $(O)/liblwip.a | $(LWS_OUT)/lib/libwebsockets.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(O)/libnotun.a $(O)/liblwip.a | $(LWS_OUT)/lib/libwebsockets.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

$(O)/tools/%: $(O)/obj/tests/tools/%.o $(O)/libnotun.a $(O)/liblwip.a | $(LWS_OUT)/lib/libwebsockets.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/bench/%: $(O)/obj/tests/bench/%.o $(O)/libnotun.a $(O)/liblwip.a | $(LWS_OUT)/lib/libwebsockets.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/fuzz/%: $(O)/obj/tests/fuzz/%.o $(O)/libnotun.a $(O)/liblwip.a | $(LWS_OUT)/lib/libwebsockets.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# libnotun for other programs (core/lib/notun.h, core/lib/README.md): the
# API alone is exported (NOTUN_API, -fvisibility=hidden, the version script),
# lwIP and libwebsockets are inside; the static archive is one relocatable
# object whose other symbols are made local, so nothing clashes with the
# host's. Both need the system's mbedTLS, libsodium and libb2 (notun.pc).
DIST_INPUTS := $(LIB_OBJS) $(LWIP_OBJS) $(LWS_OUT)/lib/libwebsockets.a

$(DIST)/libnotun.so.$(VERSION): $(DIST_INPUTS) core/lib/notun.map
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libnotun.so.$(LIB_MAJOR) -Wl,--version-script=core/lib/notun.map \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS) $(LWIP_OBJS) $(LIBS)

$(DIST)/libnotun.a: $(DIST_INPUTS)
	@mkdir -p $(dir $@)
	$(call say,LD,$(DIST)/notun-all.o)
	$(Q)$(LD) -r --wrap=$(LWS_PEERCERT) -u __wrap_$(LWS_PEERCERT) -o $(DIST)/notun-all.o $(LIB_OBJS) $(LWIP_OBJS) \
		--whole-archive $(LWS_OUT)/lib/libwebsockets.a --no-whole-archive
	$(Q)objcopy -w --keep-global-symbol='notun_*' $(DIST)/notun-all.o
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $(DIST)/notun-all.o

# The test suite runs against the sanitized build in build/asan; the memory
# test measures RSS on the release binary, build/notun (glibc's malloc, not ASan's).
test: deps
	@$(MAKE) --no-print-directory O=build/asan SAN=1 _tests
	@$(MAKE) --no-print-directory O=build SAN=0 build/notun
	@$(PYTHON) tests/run.py --build build/asan

demo: all
	@tests/demo.sh build/notun

bench: deps
	@$(MAKE) --no-print-directory O=build SAN=0 _benches
	@$(PYTHON) tests/bench/run.py --build build

# Not in make test: SOAK_MINUTES (default 30) through client and gateway
# (tests/bench/soak.py); the release build.
soak: deps
	@$(MAKE) --no-print-directory O=build SAN=0 _binaries
	@$(PYTHON) tests/bench/soak.py --build build

# tests/valgrind.sh: the release build (-O2 -g, no sanitizer) under memcheck.
valgrind: deps
	@$(MAKE) --no-print-directory O=build SAN=0 _binaries
	@tests/valgrind.sh build

# Every harness, FUZZ_SECONDS each (default 30), corpora kept in build/fuzz/corpus.
fuzz: deps
	@$(MAKE) --no-print-directory O=build/fuzz SAN=fuzz CC=clang _fuzzers
	@tests/fuzz/run.sh build/fuzz

install: all
	install -D -m 0755 build/notun $(DESTDIR)$(PREFIX)/bin/notun
	install -D -m 0644 core/lib/notun.h $(DESTDIR)$(PREFIX)/include/notun.h
	install -D -m 0644 build/dist/libnotun.a $(DESTDIR)$(PREFIX)/lib/libnotun.a
	install -D -m 0755 build/dist/libnotun.so.$(VERSION) \
		$(DESTDIR)$(PREFIX)/lib/libnotun.so.$(VERSION)
	ln -sf libnotun.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libnotun.so.$(LIB_MAJOR)
	ln -sf libnotun.so.$(LIB_MAJOR) $(DESTDIR)$(PREFIX)/lib/libnotun.so
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' core/lib/notun.pc.in \
		>$(DESTDIR)$(PREFIX)/lib/pkgconfig/notun.pc
	install -D -m 0644 build/man/notun.1 $(DESTDIR)$(PREFIX)/share/man/man1/notun.1
	install -D -m 0644 build/man/notun.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/notun.conf.5
	install -d $(DESTDIR)$(PREFIX)/share/doc/notun/examples
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(PREFIX)/share/doc/notun/examples/
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/user
	sed -e 's|@BINDIR@|$(PREFIX)/bin|' core/cli/examples/notun-up@.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/user/notun-up@.service

# Exactly what install put there, and the folders that are notun's own.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/notun $(DESTDIR)$(PREFIX)/include/notun.h \
		$(DESTDIR)$(PREFIX)/lib/libnotun.a $(DESTDIR)$(PREFIX)/lib/libnotun.so \
		$(DESTDIR)$(PREFIX)/lib/libnotun.so.$(LIB_MAJOR) \
		$(DESTDIR)$(PREFIX)/lib/libnotun.so.$(VERSION) \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/notun.pc \
		$(DESTDIR)$(PREFIX)/share/man/man1/notun.1 \
		$(DESTDIR)$(PREFIX)/share/man/man5/notun.conf.5 \
		$(DESTDIR)$(PREFIX)/lib/systemd/user/notun-up@.service \
		$(addprefix $(DESTDIR)$(PREFIX)/share/doc/notun/examples/,$(notdir $(EXAMPLES)))
	rmdir $(DESTDIR)$(PREFIX)/share/doc/notun/examples $(DESTDIR)$(PREFIX)/share/doc/notun \
		2>/dev/null || true

# --- Shipping (README "Install"): a static binary and a Debian package. ---
# make static: build/notun-static, glibc's static libraries and Debian's
# static libsodium, mbedTLS and libb2, stripped, its debug file beside it
# (.debug, found through the debuglink). glibc 2.34+ has the files and dns
# lookups built in, so getaddrinfo needs no NSS module (the linker's
# warning about getaddrinfo concerns the other NSS services; its getpw*/
# getgr* warnings are libwebsockets' privilege drop, which notun never asks
# for: tests/integration/test_static.py runs it with no library). Paths are
# mapped to ".", archives are deterministic (Debian's ar default) and nothing
# reads the clock at build time: two clean trees give the same bytes.
STATIC_O := build/static
ifeq ($(STATIC),1)
SHIP_FLAGS := -ffile-prefix-map=$(CURDIR)=.
CFLAGS += $(SHIP_FLAGS)
LWIP_CC += $(SHIP_FLAGS)
LDFLAGS += -static-pie
endif

.PHONY: static deb
static: deps
	@$(MAKE) --no-print-directory O=$(STATIC_O) SAN=0 STATIC=1 build/notun-static
	@printf '  %-5s %s: %s bytes, %s\n' SIZE build/notun-static \
		"$$(stat -c %s build/notun-static)" "$$(build/notun-static --version | head -1)"

build/notun-static: $(STATIC_O)/notun
	$(call say,STRIP,$@)
	$(Q)objcopy --only-keep-debug $< $@.debug
	$(Q)objcopy --strip-all --add-gnu-debuglink=$@.debug $< $@

# make deb: build/notun_VERSION_ARCH.deb from what `make install PREFIX=/usr`
# puts in a staging tree (core/cli/deb/deb.sh says what it adds).
DEB := build/notun_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb
deb: all
	@rm -rf build/deb
	$(Q)$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/build/deb PREFIX=/usr >/dev/null
	$(call say,DEB,$(DEB))
	$(Q)core/cli/deb/deb.sh $(VERSION) build/deb $(DEB)
	@rm -rf build/deb

# make test runs test_static.py against it.
test: static

clean: clean-ship
.PHONY: clean-ship
clean-ship:
	rm -rf $(STATIC_O) build/notun-static build/notun-static.debug build/deb build/*.deb

format:
	clang-format -i $(LIB_SRCS) core/cli/main.c $(wildcard */*.h */*/*.h tests/unit/*.c tests/tools/*.c)

# Project objects only: the fetched and built third-party code stays.
clean:
	rm -rf build/obj build/lwip build/lwip-patched build/lwip-patched.tmp build/tests build/tools \
		build/bench build/asan build/fuzz build/notun build/*.a

distclean:
	rm -rf build

# Keep objects make would see as intermediate (test objects), so a second run rebuilds nothing.
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(LWIP_OBJS:.o=.d) $(O)/obj/core/cli/main.d \
	$(patsubst %,$(O)/obj/%.d,$(basename $(UNIT_SRCS) $(TOOL_SRCS) $(FUZZ_SRCS) $(BENCH_SRCS)))
