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
  tunnel_bench.py --serve-http ADDR PORT FILE  is the HTTP server (internal).
"""
import argparse
import contextlib
import http.server
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

FILE_MIB = 256
RUNS = 3
WG_PORT = 51820
WG_CLIENT_PORT = 51821
HTTP_PORT = 8080
RTT_MS = 20
TRANSFER_MAX_S = 20  # a slower transfer is measured over its first 20 s
START_TIMEOUT_S = 15
WARMUP_TIMEOUT_S = 20
IDLE_CONNS = 1000
IDLE_CONNS_TIMEOUT_S = 120
IDLE_SETTLE_S = 2
STOP_TIMEOUT_S = 5
NOFILE_WANTED = 8192
COPY_CHUNK = 1 << 20

TARGET_LOOPBACK = 1.0
TARGET_RTT = 0.8
TARGET_RSS_IDLE_MIB = 4
TARGET_RSS_CONNS_MIB = 24

CURL_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class Interrupted(Exception):
    pass


# ---- the HTTP server (runs inside namespace S) ----

def serve_http(addr, port, path):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/file":
                with open(path, "rb") as f:
                    self.send_response(200)
                    self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                    self.end_headers()
                    self.connection.sendfile(f)
                return
            body = b"ok\n"
            self.send_response(200 if self.path == "/hello" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            remaining = int(self.headers.get("Content-Length") or 0)
            buf = memoryview(bytearray(COPY_CHUNK))
            while remaining > 0:
                n = self.rfile.readinto(buf[:min(remaining, COPY_CHUNK)])
                if not n:
                    self.close_connection = True
                    return
                remaining -= n
            body = b"stored nowhere\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 2 * IDLE_CONNS  # the idle connections arrive in a burst
        daemon_threads = True

    with Server((addr, port), Handler) as srv:
        print("ready", flush=True)
        srv.serve_forever()


# ---- processes and rows ----

def stop_proc(proc):
    """SIGTERM, then SIGKILL after a while; only ever our own children."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def one_line(text, limit=100):
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[:limit - 3] + "..."


def fmt(v):
    return f"{v:12.1f}" if isinstance(v, float) else f"{'-':>12}"


def row(name, notun, ref, target, lower_is_better=False):
    """notun and ref are floats or error strings; prints one row, returns ok."""
    ratio = notun / ref if isinstance(notun, float) and isinstance(ref, float) and ref else None
    if not isinstance(notun, float):
        status, ok = f"FAILED ({notun})", False
    elif lower_is_better:
        ok = notun <= target
        status = "ok" if ok else "ABOVE"
    elif ratio is None:
        status, ok = f"FAILED (reference: {ref})", False
    else:
        ok = ratio >= target
        status = "ok" if ok else "BELOW"
    ratio_s = f"{ratio:8.3f}" if ratio is not None else f"{'-':>8}"
    print(f"{name:38} {fmt(notun)} {fmt(ref)} {ratio_s} {target:8.2f} {status}", flush=True)
    return ok


def info(text):
    print(f"# {text}", flush=True)


# ---- the topology ----

def wg_keypair():
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, timeout=10,
                             check=True).stdout.strip()
    public = subprocess.run(["wg", "pubkey"], input=private + "\n", capture_output=True,
                            text=True, timeout=10, check=True).stdout.strip()
    return private, public


def make_client_wg(base, ns, private_key, tunnel_ip, tunnel_ip6):
    """A wireguard-go client in ns whose tunnel address lies in the server's
    subnet: netns.WireGuardGo with another interface name and address."""

    class ClientWG(base):
        def __init__(self):
            self.ns = ns
            self.ifname = f"ntwc{ns.n}"  # unique as ns.n is
            self.private_key = private_key
            self.listen_port = WG_CLIENT_PORT
            self.tunnel_ip, self.tunnel_ip6 = tunnel_ip, tunnel_ip6
            self.sock = f"/var/run/wireguard/{self.ifname}.sock"
            self.log = open(f"/tmp/{self.ifname}.log", "w+")
            self.proc = None
            self.start()

    return ClientWG()


class Relay:
    """tests/tools/udprelay on the host; restart() keeps the listening port."""

    def __init__(self, binary, listen_ip, to):
        self.binary, self.listen_ip, self.to = binary, listen_ip, to
        self.port, self.proc, self.last_stats = 0, None, ""

    def start(self, delay_ms):
        self.proc = subprocess.Popen(
            [self.binary, "--listen", f"{self.listen_ip}:{self.port}", "--to", self.to,
             "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            stop_proc(self.proc)
            raise RuntimeError(f"udprelay did not start: {one_line(self.proc.stderr.read())}")
        self.port = int(line[1].rsplit(":", 1)[1])

    def endpoint(self):
        return f"{self.listen_ip}:{self.port}"

    def cpu_s(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.last_stats = self.proc.stderr.read().strip()
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


class NotunClient:
    """build/notun up with a wg-quick style config; error holds why it failed."""

    def __init__(self, binary, tmp, name, config):
        self.proc, self.error = None, None
        conf = os.path.join(tmp, f"{name}.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "w")
        if not os.access(binary, os.X_OK):
            self.error = f"notun up failed: {binary} is not built"
            return
        self.proc = subprocess.Popen([binary, "up", "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_listening(self, port):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = (f"notun up failed: exited {self.proc.returncode}: "
                              f"{one_line(self.read_log())}")
                return False
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        self.error = f"notun up failed: no listener on 127.0.0.1:{port} after {START_TIMEOUT_S}s"
        return False

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def alive(self):
        if self.proc is not None and self.proc.poll() is not None and not self.error:
            self.error = (f"notun up died: exit {self.proc.returncode}: "
                          f"{one_line(self.read_log())}")
        return self.error is None

    def stop(self):
        stop_proc(self.proc)
        if not self.log.closed:
            self.log.close()


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- measurements ----

def curl(prefix, args, what, timeout=TRANSFER_MAX_S):
    """Runs curl (prefix places it: a proxy or a namespace); returns MB/s or
    an error string. A transfer cut at the time limit counts at its rate."""
    speed = "speed_download" if what == "download" else "speed_upload"
    size = "size_download" if what == "download" else "size_upload"
    cmd = prefix + ["--silent", "--show-error", "--max-time", str(timeout), "-o", "/dev/null",
                    "-w", f"%{{{speed}}} %{{{size}}} %{{http_code}}"] + args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15,
                              env=CURL_ENV)
    except subprocess.TimeoutExpired:
        return f"curl hung past {timeout + 15}s"
    try:
        bps, nbytes, code = proc.stdout.split()
        bps, nbytes = float(bps), int(nbytes)
    except ValueError:
        return f"curl exit {proc.returncode}: {one_line(proc.stderr)}"
    if proc.returncode == 28 and nbytes > 0:  # the time limit: keep the rate
        return bps / 1e6
    if proc.returncode != 0 or code != "200" or nbytes != FILE_MIB << 20:
        return f"curl exit {proc.returncode}, HTTP {code}, {nbytes} B: {one_line(proc.stderr)}"
    return bps / 1e6


def transfer_args(url_base, data_file, what):
    if what == "download":
        return [f"{url_base}/file"]
    # Expect: 100-continue would add a wait that is not the tunnel's.
    return ["-T", data_file, "-H", "Expect:", f"{url_base}/upload"]


def warm_up(prefix, url_base):
    """A small request until it succeeds: handshakes done, endpoints learnt."""
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(prefix + ["--silent", "--show-error", "--max-time", "3", "-o",
                                        "/dev/null", "-w", "%{http_code}", f"{url_base}/hello"],
                              capture_output=True, text=True, timeout=10, env=CURL_ENV)
        if proc.stdout.strip() == "200":
            return None
        last = one_line(proc.stderr or proc.stdout)
        time.sleep(0.2)
    return f"no answer through the tunnel in {WARMUP_TIMEOUT_S}s: {last}"


def best(results):
    nums = [r for r in results if isinstance(r, float)]
    if nums:
        return max(nums)
    return results[-1] if results else "not run"


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


def measure_pair(contenders, url_base, data_file, results, relays, relay_cpu):
    """RUNS rounds, each download then upload, each by every contender; the
    order of contenders alternates between rounds."""
    for run in range(RUNS):
        for what in ("download", "upload"):
            order = contenders if run % 2 == 0 else contenders[::-1]
            for name, prefix, is_alive in order:
                if not is_alive():
                    results[(name, what)].append("not running")
                    continue
                before = [r.cpu_s() for r in relays]
                t0 = time.monotonic()
                res = curl(prefix, transfer_args(url_base, data_file, what), what)
                elapsed = time.monotonic() - t0
                cpu = sum(r.cpu_s() for r in relays) - sum(before)
                results[(name, what)].append(res)
                relay_cpu.append((name, what, res, cpu / elapsed if elapsed else 0.0))


# ---- main ----

def preflight(build):
    if os.geteuid() != 0:
        return "needs root for network namespaces and TUN devices"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun on this machine"
    for tool in ("ip", "wireguard-go", "wg", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (run make deps)"
    if not os.access(os.path.join(build, "tools", "udprelay"), os.X_OK):
        return f"{build}/tools/udprelay is not built"
    return None


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, NOFILE_WANTED) if hard != resource.RLIM_INFINITY else NOFILE_WANTED
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def make_file(path):
    with open(path, "wb") as f:
        for _ in range(FILE_MIB):
            f.write(os.urandom(1 << 20))


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
        http = self.srv_ns.spawn(sys.executable, os.path.abspath(__file__), "--serve-http",
                                 self.http_ip, str(HTTP_PORT), self.data_file,
                                 stdout=subprocess.PIPE, text=True)
        if http.stdout.readline().strip() != "ready":
            raise RuntimeError("the HTTP server did not start")
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
        notun = NotunClient(os.path.join(self.build, "notun"), self.tmp, name,
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
        for what in ("download", "upload"):
            nt = best(results[("notun", what)])
            if not isinstance(nt, float) and notun.error:
                nt = notun.error
            ok &= row(f"{what} MB/s ({label})", nt, best(results[("reference", what)]), target)
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
    ap.add_argument("--serve-http", nargs=3, metavar=("ADDR", "PORT", "FILE"))
    args = ap.parse_args()
    if args.serve_http:
        addr, port, path = args.serve_http
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_http(addr, int(port), path)
        return 0
    if not args.rows_only:
        print(f"{'benchmark':38} {'notun':>12} {'reference':>12} {'ratio':>8} {'target':>8}")
    reason = preflight(args.build)
    if reason:
        # Without root the benchmark cannot run here; as root, a missing part is a failure.
        word = "skipped" if os.geteuid() != 0 else "FAILED"
        print(f"{'tunnel throughput and memory':38} {word}: {reason}")
        return 0 if os.geteuid() != 0 else 1

    def on_term(*_):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_term)
    raise_nofile()
    try:
        with contextlib.ExitStack() as stack:
            return 0 if bench(args, stack) else 1
    except (Interrupted, KeyboardInterrupt):
        print(f"{'tunnel throughput and memory':38} interrupted", flush=True)
        return 130
    except Exception as e:
        print(f"{'tunnel throughput and memory':38} FAILED (set-up: {one_line(e)})", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
