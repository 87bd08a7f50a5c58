#!/usr/bin/python3
"""Single-stream HTTP download and upload through notun against wireguard-go
with a TUN device (the kernel's TCP: what a user with root would run), both
to the same wireguard-go server and the same HTTP server, with no delay and
with 20 ms of round trip added on the tunnel's UDP path; then notun's memory,
idle and holding 1000 idle proxied connections. Prints table rows (see
tests/bench/README.md); needs root for the namespaces.

Topology (made here and removed again, also on failure or Ctrl-C):

  host: curl --socks5-hostname -> notun up (SOCKS5 127.0.0.1:P)
          -> udprelay 127.0.0.1:RA --------------------\\
  ns C: curl -> kernel TCP -> wireguard-go 10.214.S.3     |
          -> veth -> udprelay 10.213.C.1:RB (host) ------+-> veth -> ns S:
                                                               wireguard-go 10.214.S.1
                                                               HTTP server on 10.214.S.1

Usage: tunnel_bench.py [--build DIR] [--rows-only] [--calibrate]
  --calibrate also measures what the bench itself may cost: the HTTP server
  without any tunnel, wireguard-go over a direct veth without the relay, and
  the relay's CPU time during the transfers.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (RTT_MS, RUNS, TARGET_LOOPBACK, TARGET_RTT, TOP, NotunProcess, Relay, best,
                      curl, free_tcp_port, info, make_client_wg, make_file, measure_pair,
                      pair_rows, row, run_bench, start_http, transfer_args, warm_up, wg_keypair)

WG_PORT = 51820
HTTP_PORT = 8080
IDLE_CONNS = 1000
IDLE_CONNS_TIMEOUT_S = 120
IDLE_SETTLE_S = 2

TARGET_RSS_IDLE_MIB = 4
TARGET_RSS_CONNS_MIB = 24


# ---- measurements ----

def socks5_connect(proxy_port, ip, port, timeout):
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    try:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            raise ConnectionError("SOCKS5 greeting refused")
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(ip) + port.to_bytes(2, "big"))
        reply = b""
        while len(reply) < 10:
            chunk = s.recv(10 - len(reply))
            if not chunk:
                raise ConnectionError("proxy closed during CONNECT")
            reply += chunk
        if reply[1] != 0:
            raise ConnectionError(f"SOCKS5 reply {reply[1]}")
        return s
    except Exception:
        s.close()
        raise


def idle_connections_rss(notun, proxy_port, ip, port):
    socks = []
    deadline = time.monotonic() + IDLE_CONNS_TIMEOUT_S
    try:
        for i in range(IDLE_CONNS):
            left = deadline - time.monotonic()
            if left <= 0:
                return f"{i} of {IDLE_CONNS} connections opened in {IDLE_CONNS_TIMEOUT_S}s"
            try:
                socks.append(socks5_connect(proxy_port, ip, port, min(left, 10)))
            except (OSError, ConnectionError) as e:
                return f"connection {i + 1} of {IDLE_CONNS} failed: {e}"
            if not notun.alive():
                return notun.error
        time.sleep(IDLE_SETTLE_S)
        return notun.rss_mib() if notun.alive() else notun.error
    finally:
        for s in socks:
            s.close()

# ---- main ----

class Rig:
    """The topology of the module docstring; every part is registered on the
    ExitStack as it is made, so that a failure anywhere removes it all."""

    def __init__(self, build, stack):
        from netns import Namespace, WireGuardGo

        self.build, self.stack = build, stack
        self.tmp = tempfile.mkdtemp(prefix="notun-bench-")
        stack.callback(shutil.rmtree, self.tmp, True)
        self.data_file = os.path.join(self.tmp, "data")
        make_file(self.data_file)
        relay_bin = os.path.join(build, "tools", "udprelay")

        # Namespace S: the server side.
        self.srv_ns = Namespace()
        stack.callback(self.srv_ns.close)
        srv_priv, self.srv_pub = wg_keypair()
        self.srv_wg = WireGuardGo(self.srv_ns, srv_priv, WG_PORT)
        stack.callback(self.srv_wg.close)
        self.net = f"10.214.{self.srv_ns.n}"
        self.http_ip = self.srv_wg.tunnel_ip
        self.url_base = f"http://{self.http_ip}:{HTTP_PORT}"
        # The idle connections arrive in a burst.
        start_http(self.srv_ns, self.http_ip, HTTP_PORT, self.data_file, backlog=2 * IDLE_CONNS)
        self.wg_target = f"{self.srv_ns.ns_ip}:{WG_PORT}"

        # Namespace C: the reference client, wireguard-go + kernel TCP.
        self.cli_ns = Namespace()
        stack.callback(self.cli_ns.close)
        self.relay_b = Relay(relay_bin, self.cli_ns.host_ip, self.wg_target)
        stack.callback(self.relay_b.stop)
        self.relay_b.start(0)
        cli_priv, cli_pub = wg_keypair()
        self.cli_wg = make_client_wg(WireGuardGo, self.cli_ns, cli_priv, f"{self.net}.3",
                                     f"fd00:214:{self.srv_ns.n:x}::3")
        stack.callback(self.cli_wg.close)
        self.cli_wg.add_peer(self.srv_pub, f"{self.net}.0/24", endpoint=self.relay_b.endpoint())
        self.srv_wg.add_peer(cli_pub, f"{self.net}.3/32")
        self.ref_prefix = ["ip", "netns", "exec", self.cli_ns.name, "curl", "--noproxy", "*"]

        # Contender A: notun on the host.
        self.relay_a = Relay(relay_bin, "127.0.0.1", self.wg_target)
        stack.callback(self.relay_a.stop)
        self.relay_a.start(0)
        self.nt_priv, nt_pub = wg_keypair()
        self.srv_wg.add_peer(nt_pub, f"{self.net}.2/32")
        self.proxy_port = free_tcp_port()
        self.nt_prefix = ["curl", "--socks5-hostname", f"127.0.0.1:{self.proxy_port}"]
        self.notun = self.start_notun(self.relay_a.endpoint())

    def start_notun(self, endpoint, name="notun"):
        """notun up toward endpoint, listening and through the tunnel once;
        on failure its error says why."""
        notun = NotunProcess(os.path.join(self.build, "notun"), self.tmp, name,
                            f"[Interface]\nPrivateKey = {self.nt_priv}\n"
                            f"Address = {self.net}.2/32\n\n"
                            f"[Peer]\nPublicKey = {self.srv_pub}\nEndpoint = {endpoint}\n"
                            f"AllowedIPs = {self.net}.0/24\n\n"
                            f"[Proxy]\nListen = 127.0.0.1:{self.proxy_port}\n")
        self.stack.callback(notun.stop)
        if notun.error is None and notun.wait_listening(self.proxy_port):
            err = warm_up(self.nt_prefix, self.url_base)
            if err and notun.alive():
                notun.error = f"notun up failed: {err}"
        return notun


def bench(args, stack):
    rig = Rig(os.path.abspath(args.build), stack)
    notun, relays = rig.notun, [rig.relay_a, rig.relay_b]

    ok = True
    # Memory first, on a fresh process: idle (after the handshake), then with
    # 1000 idle proxied connections.
    rss_idle = rss_conns = notun.error
    if notun.alive():
        time.sleep(IDLE_SETTLE_S)
        rss_idle = notun.rss_mib()
        rss_conns = idle_connections_rss(notun, rig.proxy_port, rig.http_ip, HTTP_PORT)
        if not notun.alive():
            rss_conns = notun.error

    contenders = [("notun", rig.nt_prefix, notun.alive),
                  ("reference", rig.ref_prefix, lambda: True)]
    relay_cpu = []
    for label, delay_ms, target in (("loopback", 0, TARGET_LOOPBACK),
                                    (f"{RTT_MS} ms RTT", RTT_MS / 2, TARGET_RTT)):
        if delay_ms:
            for relay in relays:
                relay.stop()
                if args.calibrate:
                    info(f"relay {relay.endpoint()}: {relay.last_stats}")
                relay.start(delay_ms)
        results = {(n, w): [] for n, _, _ in contenders for w in ("download", "upload")}
        ref_err = warm_up(rig.ref_prefix, rig.url_base)
        if ref_err:
            results[("reference", "download")].append(f"reference: {ref_err}")
            results[("reference", "upload")].append(f"reference: {ref_err}")
        if notun.alive():
            err = warm_up(rig.nt_prefix, rig.url_base)
            if err and notun.alive():
                notun.error = f"notun up failed: {err}"
        measure_pair(contenders, rig.url_base, rig.data_file, results, relays, relay_cpu)
        ok &= pair_rows(results, notun, f"{{what}} MB/s ({label})", target)
        if args.calibrate:
            for name, what, res, cpu in relay_cpu:
                rate = f"{res:.1f} MB/s" if isinstance(res, float) else res
                info(f"{label}: {name} {what} {rate}, relays' CPU {100 * cpu:.0f}% of one core")
            relay_cpu.clear()
    ok &= row("RSS idle (MiB)", rss_idle, "-", TARGET_RSS_IDLE_MIB, lower_is_better=True)
    ok &= row(f"RSS +{IDLE_CONNS} idle conns (MiB)", rss_conns, "-", TARGET_RSS_CONNS_MIB,
              lower_is_better=True)

    if args.calibrate:
        for relay in relays:
            relay.stop()
            info(f"relay {relay.endpoint()}: {relay.last_stats}")
        calibrate(rig)
    return ok


def compare_paths(paths, prefix_of, use, rig, relay):
    """Interleaved best-of-RUNS transfers over each (label, endpoint) path;
    use(endpoint) points the client there and returns an error or None."""
    results = {(p, w): [] for p, _ in paths for w in ("download", "upload")}
    cpu = {p: [0.0, 0.0] for p, _ in paths}
    for run in range(RUNS):
        for label, endpoint in (paths if run % 2 == 0 else paths[::-1]):
            err = use(endpoint)
            for what in ("download", "upload"):
                before, t0 = relay.cpu_s(), time.monotonic()
                results[(label, what)].append(err or curl(
                    prefix_of(), transfer_args(rig.url_base, rig.data_file, what), what))
                cpu[label][0] += relay.cpu_s() - before
                cpu[label][1] += time.monotonic() - t0
    for label, _ in paths:
        rates = []
        for what in ("download", "upload"):
            r = best(results[(label, what)])
            rates.append(f"{what} {r:.1f} MB/s" if isinstance(r, float) else f"{what} {r}")
        share = 100 * cpu[label][0] / cpu[label][1] if cpu[label][1] else 0
        info(f"  {label}: {', '.join(rates)}; relay CPU {share:.0f}% of one core")


def calibrate(rig):
    """What the rig can carry without the parts under test: the HTTP server
    alone, and each client with and without the relay in its path."""
    in_s = ["ip", "netns", "exec", rig.srv_ns.name, "curl", "--noproxy", "*"]
    for what in ("download", "upload"):
        r = best([curl(in_s, transfer_args(rig.url_base, rig.data_file, what), what)
                  for _ in range(RUNS)])
        rate = f"{r:.1f} MB/s" if isinstance(r, float) else r
        info(f"HTTP server alone (curl inside S, no tunnel): {what} {rate}")

    # wireguard-go over a direct veth C <-> S, against the relay's path.
    cli_ns, srv_ns = rig.cli_ns, rig.srv_ns
    a_if, b_if = f"ntdc{cli_ns.n}", f"ntds{cli_ns.n}"
    sub = f"10.213.{cli_ns.n}"
    subprocess.run(["ip", "link", "add", a_if, "netns", cli_ns.name, "type", "veth", "peer",
                    "name", b_if, "netns", srv_ns.name], check=True, timeout=10)
    cli_ns.run("ip", "addr", "add", f"{sub}.9/30", "dev", a_if)
    cli_ns.run("ip", "link", "set", a_if, "up")
    srv_ns.run("ip", "addr", "add", f"{sub}.10/30", "dev", b_if)
    srv_ns.run("ip", "link", "set", b_if, "up")
    rig.relay_b.start(0)

    def use_ref(endpoint):
        rig.cli_wg.add_peer(rig.srv_pub, f"{rig.net}.0/24", endpoint=endpoint)
        return warm_up(rig.ref_prefix, rig.url_base)

    info(f"reference (wireguard-go + TUN), best of {RUNS}, interleaved:")
    compare_paths([("direct veth, no relay", f"{sub}.10:{WG_PORT}"),
                   ("via relay, no delay", rig.relay_b.endpoint())],
                  lambda: rig.ref_prefix, use_ref, rig, rig.relay_b)
    rig.relay_b.stop()
    info(f"relay: {rig.relay_b.last_stats}")
    cli_ns.run("ip", "link", "del", a_if, check=False)

    # notun straight to the server's veth, against the relay's path.
    if not rig.notun.alive():
        info(f"notun: not calibrated ({rig.notun.error})")
        return
    rig.notun.stop()
    rig.relay_a.start(0)
    current = []

    def use_notun(endpoint):
        if current:
            current[-1].stop()
        current.append(rig.start_notun(endpoint, name=f"notun-calibrate{len(current)}"))
        return current[-1].error

    info(f"notun, best of {RUNS}, interleaved (a fresh process per run):")
    compare_paths([("direct to S's veth, no relay", rig.wg_target),
                   ("via relay, no delay", rig.relay_a.endpoint())],
                  lambda: rig.nt_prefix, use_notun, rig, rig.relay_a)
    current[-1].stop()
    rig.relay_a.stop()
    info(f"relay: {rig.relay_a.last_stats}")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--rows-only", action="store_true", help="no table header (run.py)")
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args()
    return run_bench("tunnel throughput and memory", args.build, args.rows_only,
                     lambda stack: bench(args, stack))


if __name__ == "__main__":
    sys.exit(main())
