#!/usr/bin/python3
"""What the Python benchmarks (tests/bench/*_bench.py) share:
the HTTP server they download from and upload to, the impairment relay,
notun processes, wireguard-go clients, timed curl transfers, table rows,
and the run that cleans up after itself on failure, SIGTERM and Ctrl-C.

  benchlib.py --serve-http ADDR PORT FILE [BACKLOG]  is the HTTP server
  (run inside a namespace by the benchmarks)."""
import contextlib
import http.server
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

FILE_MIB = 256
RUNS = 3
WG_CLIENT_PORT = 51821
RTT_MS = 20
TRANSFER_MAX_S = 20  # a slower transfer is measured over its first 20 s
START_TIMEOUT_S = 15
WARMUP_TIMEOUT_S = 20
STOP_TIMEOUT_S = 5
NOFILE_WANTED = 8192
COPY_CHUNK = 1 << 20
HTTP_BACKLOG = 128

TARGET_LOOPBACK = 1.0
TARGET_RTT = 0.8

CURL_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class Interrupted(Exception):
    pass


# ---- the HTTP server (runs inside a namespace) ----

def serve_http(addr, port, path, backlog=HTTP_BACKLOG):
    """GET /file sends FILE, GET /hello a short body, PUT or POST reads and
    discards the body. Prints "ready" once listening."""

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
        request_queue_size = backlog
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A client cut at its time limit or stopped is not the server's error.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    with Server((addr, port), Handler) as srv:
        print("ready", flush=True)
        srv.serve_forever()


def start_http(ns, addr, port, path, backlog=HTTP_BACKLOG):
    """The HTTP server inside namespace ns (ns.close() stops it by PID)."""
    proc = ns.spawn(sys.executable, os.path.abspath(__file__), "--serve-http", addr, str(port),
                    path, str(backlog), stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the HTTP server did not start")
    return proc


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


def header():
    print(f"{'benchmark':38} {'notun':>12} {'reference':>12} {'ratio':>8} {'target':>8}",
          flush=True)


def row(name, notun, ref, target, lower_is_better=False, floor=False):
    """notun and ref are floats or error strings; prints one row, returns ok.
    target is a ratio to ref, or with lower_is_better a ceiling and with
    floor a minimum for notun's own figure."""
    ratio = notun / ref if isinstance(notun, float) and isinstance(ref, float) and ref else None
    if not isinstance(notun, float):
        status, ok = f"FAILED ({notun})", False
    elif lower_is_better:
        ok = notun <= target
        status = "ok" if ok else "ABOVE"
    elif floor:
        ok = notun >= target
        status = "ok" if ok else "BELOW"
    elif ratio is None:
        status, ok = f"FAILED (reference: {ref})", False
    else:
        ok = ratio >= target
        status = "ok" if ok else "BELOW"
    ratio_s = f"{ratio:8.3f}" if ratio is not None else f"{'-':>8}"
    print(f"{name:38} {fmt(notun)} {fmt(ref)} {ratio_s} {target:8.2f} {status}", flush=True)
    return ok


def pair_rows(results, notun, name, target, floor=False):
    """The download and upload rows of measure_pair's results, name a format
    of {what}; a notun that failed gives its error. Returns ok."""
    ok = True
    for what in ("download", "upload"):
        nt = best(results[("notun", what)])
        if not isinstance(nt, float) and notun.error:
            nt = notun.error
        ok &= row(name.format(what=what), nt, best(results[("reference", what)]), target,
                  floor=floor)
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


def make_client_wg(base, ns, private_key, tunnel_ip, tunnel_ip6, listen_port=WG_CLIENT_PORT):
    """A wireguard-go client in ns whose tunnel address lies in the server's
    subnet: netns.WireGuardGo with another interface name and address."""

    class ClientWG(base):
        def __init__(self):
            self.ns = ns
            self.ifname = f"ntwc{ns.n}"  # unique as ns.n is
            self.private_key = private_key
            self.listen_port = listen_port
            self.tunnel_ip, self.tunnel_ip6 = tunnel_ip, tunnel_ip6
            self.sock = f"/var/run/wireguard/{self.ifname}.sock"
            self.log = open(f"/tmp/{self.ifname}.log", "w+")
            self.proc = None
            self.start()

    return ClientWG()


def proc_cpu_s(pid):
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Relay:
    """tests/tools/udprelay on the host; restart() keeps the listening port."""

    def __init__(self, binary, listen_ip, to):
        self.binary, self.listen_ip, self.to = binary, listen_ip, to
        self.port, self.proc, self.last_stats = 0, None, ""

    def start(self, delay_ms, impairments=()):
        """impairments: more udprelay options (--loss PCT ...)."""
        self.proc = subprocess.Popen(
            [self.binary, "--listen", f"{self.listen_ip}:{self.port}", "--to", self.to,
             "--delay-ms", str(delay_ms), *impairments], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            stop_proc(self.proc)
            raise RuntimeError(f"udprelay did not start: {one_line(self.proc.stderr.read())}")
        self.port = int(line[1].rsplit(":", 1)[1])

    def endpoint(self):
        return f"{self.listen_ip}:{self.port}"

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid) if self.proc is not None else 0.0

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.last_stats = self.proc.stderr.read().strip()
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


class NotunProcess:
    """build/notun COMMAND -c CONFIG (up or gateway) with its config and log
    in tmp, started through prefix (e.g. ip netns exec NS, which execs notun
    under the same PID); error holds why it failed."""

    def __init__(self, binary, tmp, name, config, command="up", prefix=()):
        self.proc, self.error, self.command = None, None, command
        conf = os.path.join(tmp, f"{name}.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "w")
        if not os.access(binary, os.X_OK):
            self.error = f"notun {command} failed: {binary} is not built"
            return
        self.proc = subprocess.Popen(list(prefix) + [binary, command, "-c", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def _exited(self):
        self.error = (f"notun {self.command} failed: exited {self.proc.returncode}: "
                      f"{one_line(self.read_log())}")
        return False

    def wait_listening(self, port):
        """For a process on the host: its TCP listener on 127.0.0.1:port."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self._exited()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        self.error = (f"notun {self.command} failed: no listener on 127.0.0.1:{port} "
                      f"after {START_TIMEOUT_S}s")
        return False

    def wait_log(self, text):
        """Until text appears in the log (at most START_TIMEOUT_S)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if text in self.read_log():
                return True
            if self.proc.poll() is not None:
                return self._exited()
            time.sleep(0.05)
        self.error = f"notun {self.command} failed: no {text} after {START_TIMEOUT_S}s"
        return False

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmRSS")

    def alive(self):
        if self.proc is not None and self.proc.poll() is not None and not self.error:
            self.error = (f"notun {self.command} died: exit {self.proc.returncode}: "
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


def measure_pair(contenders, url_base, data_file, results, relays, relay_cpu, watches=(),
                 per_process=None):
    """RUNS rounds, each download then upload, each by every contender; the
    order of contenders alternates between rounds. A contender is (name,
    curl prefix, is_alive) or (name, curl prefix, is_alive, url_base).
    relay_cpu gets (name, what, result, the relays' CPU share of one core)
    per transfer; per_process, if given, (name, what, result, [share of each
    of watches]) (anything with a cpu_s())."""
    for run in range(RUNS):
        for what in ("download", "upload"):
            order = contenders if run % 2 == 0 else contenders[::-1]
            for name, prefix, is_alive, *url in order:
                if not is_alive():
                    results[(name, what)].append("not running")
                    continue
                before = [r.cpu_s() for r in relays]
                before_w = [w.cpu_s() for w in watches]
                t0 = time.monotonic()
                res = curl(prefix, transfer_args(url[0] if url else url_base, data_file, what),
                           what)
                elapsed = time.monotonic() - t0 or 1e-9
                cpu = sum(r.cpu_s() for r in relays) - sum(before)
                results[(name, what)].append(res)
                relay_cpu.append((name, what, res, cpu / elapsed))
                if per_process is not None:
                    per_process.append((name, what, res, [(w.cpu_s() - b) / elapsed
                                                          for w, b in zip(watches, before_w)]))


# ---- set-up and the run ----

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


def run_bench(title, build, rows_only, bench, check=preflight):
    """The frame of a benchmark: the header, the skipped row without root
    (check(build) says what is missing), then bench(stack) with everything
    it registers on the ExitStack undone on success, failure, SIGTERM or
    Ctrl-C. Returns the exit status."""
    if not rows_only:
        header()
    reason = check(build)
    if reason:
        # Without root the benchmark cannot run here; as root, a missing part is a failure.
        word = "skipped" if os.geteuid() != 0 else "FAILED"
        print(f"{title:38} {word}: {reason}")
        return 0 if os.geteuid() != 0 else 1
    return run_guarded(title, bench)


def run_guarded(title, bench):
    """bench(stack), with everything it registers on the ExitStack undone on
    success, failure, SIGTERM or Ctrl-C; one row says why it did not end
    normally. Returns the exit status."""

    def on_term(*_):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_term)
    raise_nofile()
    try:
        with contextlib.ExitStack() as stack:
            return 0 if bench(stack) else 1
    except (Interrupted, KeyboardInterrupt):
        print(f"{title:38} interrupted", flush=True)
        return 130
    except Exception as e:
        print(f"{title:38} FAILED (set-up: {one_line(e)})", flush=True)
        return 1


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--serve-http":
        for sig in (signal.SIGTERM, signal.SIGINT):  # stopped, or Ctrl-C on the group
            signal.signal(sig, lambda *_: sys.exit(0))
        serve_http(sys.argv[2], int(sys.argv[3]), sys.argv[4],
                   int(sys.argv[5]) if len(sys.argv) == 6 else HTTP_BACKLOG)
        sys.exit(0)
    sys.exit(__doc__)
