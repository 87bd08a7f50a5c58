#!/usr/bin/python3
"""The cold first byte through a portal: how long a connection to a resource
the client never used takes, from the SOCKS5 CONNECT to the first byte of
the HTTP answer. That covers request_authorization -> portal -> the
gateway's create_authorization -> ack -> authorization_created -> the
client routes the resource (WireGuard handshake when the gateway's peer is
new) -> TCP handshake through the tunnel -> the gateway's connect().

Everything runs in one network namespace made for the run, whose lo holds
10.77.0.1/16, so every 10.77.x.y is a local address there:

  timing client --SOCKS5--> notun up 127.0.0.1:1080 --wss--> notun portal 127.0.0.1:4443
       |                        \\--WireGuard 127.0.0.1:51820--> notun gateway --> HTTP *:8080
       \\--(reference: straight to 10.77.1.i:8080)------------------------------------^

The portal's file has RESOURCES resources, 10.77.1.i/32 with tcp:8080, all
allowed to the one client and served by the one gateway. The timing client
(this script with --measure, run inside the namespace) does the SOCKS5
handshake itself and takes time.perf_counter_ns(): no curl start-up in the
figures.

Usage: portal_bench.py [--build DIR] [--rows-only] [--calibrate] [--log-level L]
  --calibrate also prints the slowest connections and every process's log
  tail; --log-level (default info) is passed to all three notun processes
  (debug: their event lines, with millisecond timestamps, stay in the
  temporary directory's logs, kept with --keep-logs DIR).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from benchlib import TOP, info, one_line, row, run_bench, start_http, stop_proc

TITLE = "cold first byte"
RESOURCES = 200
NET = "10.77"  # lo in the namespace: 10.77.0.1/16
RES_NET = f"{NET}.1"  # resource i is 10.77.1.i
HTTP_PORT = 8080
PORTAL_PORT = 4443
GW_PORT = 51820
PROXY_PORT = 1080
GW_TUNNEL_IP = "10.78.0.1"
CONNECT_TIMEOUT_S = 10  # one measured connection
MEASURE_TIMEOUT_S = 300  # the whole --measure run
START_TIMEOUT_S = 15
WARM_SAMPLES = 200

TARGET_COLD_P50_MS = 5.0
TARGET_COLD_P99_MS = 10.0
TARGET_WARM_P50_MS = 2.0


# ---- the timing client (runs inside the namespace) ----

def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the other side")
        buf += chunk
    return buf


def socks5_reply(sock):
    """The CONNECT reply's code, its bound address read past."""
    ver, rep, _, atyp = recv_exact(sock, 4)
    if ver != 5:
        raise ConnectionError(f"not a SOCKS5 reply (version {ver})")
    recv_exact(sock, {1: 4, 4: 16}.get(atyp, 0) + 2)
    return rep


def first_byte_ms(ip, via_proxy):
    """One new connection to ip:HTTP_PORT (through notun's SOCKS5 proxy or
    directly) and one GET; milliseconds from the CONNECT request (directly:
    from connect()) to the answer's first byte, and to the SOCKS5 reply
    (directly: connect()'s return). Raises on failure."""
    request = f"GET /hello HTTP/1.1\r\nHost: {ip}:{HTTP_PORT}\r\nConnection: close\r\n\r\n"
    if via_proxy:
        sock = socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=CONNECT_TIMEOUT_S)
    else:
        sock = socket.socket()
        sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if via_proxy:
            sock.sendall(b"\x05\x01\x00")
            if recv_exact(sock, 2) != b"\x05\x00":
                raise ConnectionError("SOCKS5 greeting refused")
            connect = b"\x05\x01\x00\x01" + socket.inet_aton(ip) + struct.pack("!H", HTTP_PORT)
            t0 = time.perf_counter_ns()
            sock.sendall(connect)
            rep = socks5_reply(sock)
            if rep != 0:
                raise ConnectionError(f"SOCKS5 reply {rep}")
        else:
            t0 = time.perf_counter_ns()
            sock.connect((ip, HTTP_PORT))
        t_connected = time.perf_counter_ns()
        sock.sendall(request.encode())
        first = sock.recv(1)
        t1 = time.perf_counter_ns()
        if not first:
            raise ConnectionError("closed before the answer")
        rest = first
        while True:  # the short answer, to close cleanly
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        if not rest.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"answer {rest[:40]!r}")
        return (t1 - t0) / 1e6, (t_connected - t0) / 1e6
    finally:
        sock.close()


def measure(plan):
    """plan: [[kind, ip], ...] with kind cold, warm or direct; prints one JSON
    list of [kind, ip, ms or null, error or null, ms to the SOCKS5 reply]."""
    out = []
    deadline = time.monotonic() + MEASURE_TIMEOUT_S
    for kind, ip in plan:
        if time.monotonic() > deadline:
            out.append([kind, ip, None, f"the run took over {MEASURE_TIMEOUT_S}s", None])
            continue
        try:
            ms, reply_ms = first_byte_ms(ip, kind != "direct")
            out.append([kind, ip, ms, None, reply_ms])
        except (OSError, ValueError) as e:
            out.append([kind, ip, None, one_line(e), None])
    print(json.dumps(out), flush=True)


# ---- the namespace and the processes ----

class NetNs:
    """A network namespace made for the run: lo up with NET.0.1/16."""

    def __init__(self):
        self.name = f"ntpbench{os.getpid()}"
        self.made = False
        self.procs = []

    def sh(self, *args, timeout=10):
        return subprocess.run(["ip", "netns", "exec", self.name, *args], capture_output=True,
                              text=True, timeout=timeout, check=True)

    def create(self):
        subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True,
                       timeout=10, check=True)
        self.made = True
        self.sh("ip", "link", "set", "lo", "up")
        self.sh("ip", "addr", "add", f"{NET}.0.1/16", "dev", "lo")
        route = self.sh("ip", "route", "get", f"{RES_NET}.{RESOURCES}").stdout
        if not route.startswith("local ") or " dev lo " not in route:
            raise RuntimeError(f"{RES_NET}.{RESOURCES} is not local in {self.name}: {route}")
        links = self.sh("ip", "-o", "link", "show").stdout.splitlines()
        if len(links) != 1:
            raise RuntimeError(f"{self.name} has more than lo: {links}")

    def spawn(self, *args, **kw):
        """ip netns exec runs the program under the same PID: stopped by it."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in reversed(self.procs):
            stop_proc(proc)
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


class Proc:
    """A notun process in the namespace, its output in tmp/NAME.log."""

    def __init__(self, ns, tmp, name, argv):
        self.name, self.path = name, os.path.join(tmp, f"{name}.log")
        self.log = open(self.path, "w")
        self.proc = ns.spawn(*argv, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        self.log.flush()
        with open(self.path) as f:
            return f.read()

    def wait_log(self, needle, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                raise RuntimeError(f"notun {self.name} exited {self.proc.returncode}: "
                                   f"{one_line(text)}")
            time.sleep(0.05)
        raise RuntimeError(f"notun {self.name}: no {needle} in {timeout}s: "
                           f"{one_line(self.text())}")

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        stop_proc(self.proc)
        self.log.close()


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def token(notun, kind):
    lines = subprocess.run([notun, "portal", "token", kind], capture_output=True, text=True,
                           timeout=10, check=True).stdout.splitlines()
    return lines[0], lines[1]  # the token, "TokenHash = ..."


def portal_config(client_hash, gw_hash):
    res = "".join(f"[Resource r{i}]\nAddress = {RES_NET}.{i}/32\nFilters = tcp:{HTTP_PORT}\n"
                  "Sites = office\nAllow = alice\n" for i in range(1, RESOURCES + 1))
    return (f"[Portal]\nListen = 127.0.0.1:{PORTAL_PORT}\nAccessTTL = 1h\n"
            "ClientAddresses = 100.64.0.0/24\n[Site office]\n"
            f"[Gateway gw1]\nSite = office\n{gw_hash}\n[Client alice]\n{client_hash}\n" + res)


def start_world(args, stack, ns, tmp):
    notun = os.path.join(os.path.abspath(args.build), "notun")
    level = ["--log-level", args.log_level]
    client_tok, client_hash = token(notun, "client")
    gw_tok, gw_hash = token(notun, "gateway")
    gw_key = subprocess.run([notun, "genkey"], capture_output=True, text=True, timeout=10,
                            check=True).stdout.strip()
    conf = os.path.join(tmp, "portal.conf")
    write_secret(conf, portal_config(client_hash, gw_hash))
    portal = Proc(ns, tmp, "portal", [notun, *level, "portal", "-c", conf])
    stack.callback(portal.close)
    fp = portal.wait_log("event=started").split("fingerprint=")[1].split()[0]
    url = f"URL = wss://127.0.0.1:{PORTAL_PORT}\nFingerprint = {fp}\n"
    conf = os.path.join(tmp, "gateway.conf")
    write_secret(conf, f"[Interface]\nPrivateKey = {gw_key}\nListenPort = {GW_PORT}\n"
                 f"Address = {GW_TUNNEL_IP}/32\n\n[Portal]\n{url}Token = {gw_tok}\n"
                 f"Advertise = 127.0.0.1:{GW_PORT}\n")
    gateway = Proc(ns, tmp, "gateway", [notun, *level, "gateway", "-c", conf])
    stack.callback(gateway.close)
    portal.wait_log("event=joined gid=gw1")
    conf = os.path.join(tmp, "client.conf")
    write_secret(conf, f"[Interface]\n\n[Portal]\n{url}Token = {client_tok}\n\n"
                 f"[Proxy]\nListen = 127.0.0.1:{PROXY_PORT}\n")
    client = Proc(ns, tmp, "client", [notun, *level, "up", "-c", conf])
    stack.callback(client.close)
    client.wait_log("event=portal_init")
    return [portal, gateway, client]


def run_plan(ns, plan):
    """The timing client inside the namespace; its results."""
    proc = ns.spawn(sys.executable, os.path.abspath(__file__), "--measure", json.dumps(plan),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=MEASURE_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        stop_proc(proc)
        raise RuntimeError(f"the timing client took over {MEASURE_TIMEOUT_S + 30}s")
    if proc.returncode != 0:
        raise RuntimeError(f"the timing client failed: {one_line(err)}")
    return json.loads(out)


def pct(samples, p):
    """The p-th percentile, nearest rank."""
    s = sorted(samples)
    return s[max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))]


def summary(results, kind):
    """(samples in ms, failures as [ip, why])."""
    ok = [ms for k, _, ms, _, _ in results if k == kind and ms is not None]
    bad = [[ip, err] for k, ip, ms, err, _ in results if k == kind and ms is None]
    return ok, bad


def bench(args, stack):
    tmp = tempfile.mkdtemp(prefix="notun-portalbench-")
    stack.callback(shutil.rmtree, tmp, True)
    if args.keep_logs:
        stack.callback(lambda: [shutil.copy(os.path.join(tmp, f), args.keep_logs)
                                for f in os.listdir(tmp) if f.endswith(".log")])
    os.chmod(tmp, 0o700)
    ns = NetNs()
    stack.callback(ns.close)
    ns.create()
    start_http(ns, "0.0.0.0", HTTP_PORT, "/dev/null")
    procs = start_world(args, stack, ns, tmp)

    # Cold: each resource once, never asked for before, the first one
    # meeting a new gateway peer. Each is followed by a direct connection to
    # the same address (the reference), so that load drifts hit both alike.
    plan = []
    for i in range(1, RESOURCES + 1):
        plan += [["cold", f"{RES_NET}.{i}"], ["direct", f"{RES_NET}.{i}"]]
    # Warm: a granted resource, a new connection each time.
    plan += [["warm", f"{RES_NET}.{1 + i % RESOURCES}"] for i in range(WARM_SAMPLES)]
    results = run_plan(ns, plan)
    dead = [p.name for p in procs if not p.alive()]

    cold, cold_bad = summary(results, "cold")
    warm, warm_bad = summary(results, "warm")
    direct, direct_bad = summary(results, "direct")

    def figure(samples, bad, p):
        if dead:
            return f"notun {', '.join(dead)} died"
        if bad:
            return f"{len(bad)} of {len(samples) + len(bad)} failed, first {bad[0][0]}: {bad[0][1]}"
        return pct(samples, p)

    ref = pct(direct, 50) if direct and not direct_bad else (
        f"{len(direct_bad)} direct failed: {direct_bad[0][1]}" if direct_bad else "no samples")
    ok = row("cold first byte p50 (ms)", figure(cold, cold_bad, 50), ref, TARGET_COLD_P50_MS,
             lower_is_better=True)
    ok &= row("cold first byte p99 (ms)", figure(cold, cold_bad, 99),
              pct(direct, 99) if direct and not direct_bad else ref, TARGET_COLD_P99_MS,
              lower_is_better=True)
    ok &= row("warm first byte p50 (ms)", figure(warm, warm_bad, 50), ref, TARGET_WARM_P50_MS,
              lower_is_better=True)
    for name, samples, bad in (("cold", cold, cold_bad), ("warm", warm, warm_bad),
                               ("direct", direct, direct_bad)):
        if samples:
            info(f"{name}: {len(samples)} ok, {len(bad)} failed, min {min(samples):.2f} ms, "
                 f"p50 {pct(samples, 50):.2f}, max {max(samples):.2f} ms"
                 + (f", first (new gateway peer) {results[0][2]:.2f} ms"
                    if name == "cold" and results[0][2] is not None else ""))
        else:
            info(f"{name}: no sample, {len(bad)} failed")
    if args.calibrate:
        slow = sorted((r for r in results if r[2] is not None), key=lambda r: -r[2])[:10]
        info("slowest: " + ", ".join(f"{k} {ip} {ms:.1f}" for k, ip, ms, _, _ in slow))
        for kind in ("cold", "warm", "direct"):
            replies = [r[4] for r in results if r[0] == kind and r[4] is not None]
            if replies:
                info(f"{kind}: to the SOCKS5 reply (direct: connect()) p50 "
                     f"{statistics.median(replies):.2f} ms, the rest to the first byte p50 "
                     f"""{statistics.median(r[2] - r[4] for r in results
                                           if r[0] == kind and r[4] is not None):.2f} ms""")
        for p in procs:
            for line in p.text().splitlines()[-5:]:
                info(f"{p.name}: {line}")
    return ok


def preflight(build):
    if os.geteuid() != 0:
        return "needs root for a network namespace"
    if shutil.which("ip") is None:
        return "ip is missing (iproute2)"
    if not os.access(os.path.join(build, "notun"), os.X_OK):
        return f"{build}/notun is not built"
    return None


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(json.loads(sys.argv[2]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--rows-only", action="store_true", help="no table header (run.py)")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the three logs to DIR at the end")
    args = ap.parse_args()
    return run_bench(TITLE, os.path.abspath(args.build), args.rows_only,
                     lambda stack: bench(args, stack), check=preflight)


if __name__ == "__main__":
    sys.exit(main())
