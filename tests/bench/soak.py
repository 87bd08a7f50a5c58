#!/usr/bin/python3
"""make soak: mixed traffic through notun up -> notun gateway on loopback for
SOAK_MINUTES (default 30), the RSS and descriptor count of both processes
sampled every 10 s. Passes when both stay flat over the last 10 minutes (the
last half of a shorter run): the median of that window's second half within
5 % of the median of its first half (descriptors: or within 2 of it, the
noise of the few connections in flight at a sample). Prints one table row a
sample and the verdict; exits 1 on growth, on a failed transfer or when a
process died. Unprivileged: everything is on 127.0.0.1 (the gateway's setup
of tests/integration/test_gateway.py).

Traffic, each kind in its own thread(s), every loop bounded by the end time:
  bulk      8 MiB downloads, sha256 checked
  short     GET /hello over a new SOCKS5 connection, 4 threads
  udp       SOCKS5 UDP ASSOCIATE to an echo server, 32 datagrams an
            association, each echoed back, 5 associations a second at most
  abandon   a 64 MiB download read for 64 KiB then closed, and a CONNECT
            closed before any request

Usage: soak.py [--build DIR] (SOAK_MINUTES in the environment)."""
import argparse
import hashlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import socks  # noqa: E402
from client import free_tcp_port  # noqa: E402
from httpsrv import pattern_sha256  # noqa: E402
from test_gateway import GW_IP, Site, rss_kib  # noqa: E402
from udpecho import UdpEcho  # noqa: E402

SAMPLE_S = 10
WINDOW_S = 600
FLAT = 0.05
FD_SLACK = 2
BULK = 8 << 20
IO_TIMEOUT_S = 30


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Mix:
    """The traffic threads; errors and counts of what each kind did."""

    def __init__(self, site, servers, end):
        self.site, self.servers, self.end = site, servers, end
        self.counts = {"bulk": 0, "short": 0, "udp": 0, "abandon": 0}
        self.errors = []
        self.lock = threading.Lock()

    def count(self, kind):
        with self.lock:
            self.counts[kind] += 1

    def connect(self):
        rep, sock = socks.connect(self.site.proxy, GW_IP, self.servers["http"],
                                  timeout=IO_TIMEOUT_S)
        if rep != 0:
            raise ConnectionError(f"SOCKS5 reply {rep:#x}")
        return sock

    def get(self, sock, path):
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())

    def bulk(self):
        n = 0
        while time.monotonic() < self.end:
            with self.connect() as sock:
                self.get(sock, f"/bytes/{BULK}?seed=soak{n}")
                data = b""
                while True:
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    data += chunk
            body = data.split(b"\r\n\r\n", 1)[1]
            if len(body) != BULK or hashlib.sha256(body).hexdigest() != pattern_sha256(
                    BULK, f"soak{n}"):
                raise ValueError(f"bulk {n}: {len(body)} bytes, corrupt or short")
            n += 1
            self.count("bulk")

    def short(self):
        while time.monotonic() < self.end:
            with self.connect() as sock:
                self.get(sock, "/hello")
                data = b""
                while not data.endswith(b"hello through notun\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError(f"short request cut: {data[-80:]!r}")
                    data += chunk
            self.count("short")

    def udp(self):
        while time.monotonic() < self.end:
            ctl, relay = socks.udp_associate(self.site.proxy, timeout=IO_TIMEOUT_S)
            with ctl, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                for i in range(32):
                    payload = f"soak {i}".encode() * 8
                    u.sendto(socks.udp_wrap(GW_IP, self.servers["echo"], payload), relay)
                    if socks.udp_unwrap(u.recvfrom(65535)[0]) != payload:
                        raise ValueError("udp echo differs")
            self.count("udp")
            # Each association is a new gateway UDP flow, kept for --udp-idle
            # (60 s): paced, so that they stay a few hundred.
            time.sleep(0.2)

    def abandon(self):
        n = 0
        while time.monotonic() < self.end:
            with self.connect() as sock:
                if n % 2 == 0:
                    self.get(sock, f"/bytes/{64 << 20}?seed=gone{n}")
                    got = 0
                    while got < 65536:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
            n += 1
            self.count("abandon")
            time.sleep(0.05)

    def run(self, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 — reported, and the run fails
            with self.lock:
                self.errors.append(f"{fn.__name__}: {e!r}")

    def start(self):
        kinds = [self.bulk, self.udp, self.abandon] + [self.short] * 4
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in kinds]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=IO_TIMEOUT_S * 3)


def median(values):
    v = sorted(values)
    return v[len(v) // 2]


def flat(values, slack=0):
    """(ok, first half's median, second half's median) of a window."""
    half = len(values) // 2
    a, b = median(values[:half]), median(values[half:])
    return abs(b - a) <= max(FLAT * a, slack), a, b


def soak(build, minutes):
    notun = os.path.join(build, "notun")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="notun-soak."))
    http_port = free_tcp_port()
    http = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "integration", "httpsrv.py"),
                             "127.0.0.1", str(http_port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    echo = UdpEcho()
    site = None
    try:
        assert http.stdout.readline().strip() == "ready"
        servers = {"http": http_port, "http6": http_port, "echo": echo.port,
                   "closed": free_tcp_port(), "silent": free_tcp_port()}
        site = Site(notun, tmp, servers)
        procs = {"client": site.client.proc, "gateway": site.gateway.proc}
        start = time.monotonic()
        mix = Mix(site, servers, start + minutes * 60)
        mix.start()
        samples = []
        print(f"{'t (s)':>6} {'client RSS KiB':>15} {'client fds':>10} "
              f"{'gateway RSS KiB':>16} {'gateway fds':>11}  bulk short udp abandon", flush=True)
        while time.monotonic() < mix.end and not mix.errors:
            time.sleep(min(SAMPLE_S, max(0.0, mix.end - time.monotonic())))
            if any(p.poll() is not None for p in procs.values()):
                mix.errors.append("a notun process exited")
                break
            s = {n: (rss_kib(p), fd_count(p.pid)) for n, p in procs.items()}
            samples.append(s)
            c = mix.counts
            print(f"{time.monotonic() - start:6.0f} {s['client'][0]:15} {s['client'][1]:10} "
                  f"{s['gateway'][0]:16} {s['gateway'][1]:11}  {c['bulk']:4} {c['short']:5} "
                  f"{c['udp']:3} {c['abandon']:7}", flush=True)
        mix.end = 0
        mix.join()
        if mix.errors:
            print("soak: FAILED: " + "; ".join(mix.errors))
            return 1
        window = samples[-max(2, min(WINDOW_S // SAMPLE_S, len(samples) // 2)):]
        ok = True
        for name in procs:
            for i, what, slack in ((0, "RSS KiB", 0), (1, "fds", FD_SLACK)):
                good, a, b = flat([s[name][i] for s in window], slack)
                ok &= good
                print(f"soak: {name} {what}: median {a} then {b} over the last "
                      f"{len(window) * SAMPLE_S} s: {'flat' if good else 'GROWING'}")
        print(f"soak: {minutes} min, {mix.counts}: {'ok' if ok else 'FAILED'}")
        return 0 if ok else 1
    finally:
        if site:
            site.close(check=False)
        echo.close()
        http.terminate()
        http.wait(timeout=10)
        # The processes' debug logs are kept only when something failed.
        if site and site.client.proc.returncode == 0 and site.gateway.proc.returncode == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"soak: logs in {tmp}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    sys.exit(soak(args.build, float(os.environ.get("SOAK_MINUTES", "30"))))


if __name__ == "__main__":
    main()
