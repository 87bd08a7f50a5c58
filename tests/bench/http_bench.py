#!/usr/bin/python3
"""Requests through notun's HTTP proxy against the same requests straight to
the HTTP server, in one run, on loopback and without root:

- the rate of requests that each open a new connection (ab -n N -c C, with
  and without -X PROXY);
- the median latency a warm request gains: sequential GETs on one kept-alive
  connection, through the proxy and directly, p50 of each, the difference.

Two configurations, one row set each:

  direct path:  ab -X 127.0.0.1:P --> notun up (Bypass = direct) --> httpd 127.0.0.1:H
  tunnel:       ab -X 127.0.0.1:P --> notun up --WireGuard over 127.0.0.1--> notun gateway
                  --> httpd 127.0.0.1:H          (the URL names 10.99.0.1:H, the gateway)
  reference:    ab --> httpd 127.0.0.1:H

The HTTP server is tests/tools/httpd_bench (C, epoll, keep-alive): Python's
http.server would be the bottleneck. One notun up serves both configurations:
127.0.0.1 lies outside its AllowedIPs (10.99.0.0/24), so it takes the direct
path; 10.99.0.1 is the gateway's tunnel address, which the gateway connects
to its own 127.0.0.1 (as tests/demo.sh does).

Usage: http_bench.py [--build DIR] [--rows-only] [--calibrate]
  --calibrate also prints each run's figures, the p50s behind the added
  latency, the CPU share of ab, notun up, the gateway and the server during
  every ab run, and the server's counters.
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import (TOP, NotunProcess, free_tcp_port, header, info, one_line, proc_cpu_s, row,
                      run_guarded, stop_proc)

TITLE = "HTTP proxy"
# -n, the same for notun and the reference. RUNS x AB_REQUESTS connections
# through the tunnel stay near the 16384 local ports of the client's lwIP,
# which keeps a port in TIME_WAIT for 10 s (past that, the oldest is
# recycled; see tests/bench/README.md).
AB_REQUESTS = 5000
AB_CONCURRENCY = 10  # -c
AB_TIMEOUT_S = 120
AB_SOCKET_TIMEOUT_S = 10  # ab -s
LAT_REQUESTS = 2000
LAT_WARMUP = 100
LAT_SOCKET_TIMEOUT_S = 5
LAT_TIMEOUT_S = 60
RUNS = 3
BODY_BYTES = 64
WARMUP_TIMEOUT_S = 20
TUNNEL_NET = "10.99.0"
GW_HOST, CLIENT_HOST = 1, 2

TARGET_RATE = 0.5
TARGET_ADDED_US = 500.0

CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notun_keypair(notun):
    private = subprocess.run([notun, "genkey"], capture_output=True, text=True, timeout=10,
                             check=True).stdout.strip()
    public = subprocess.run([notun, "pubkey"], input=private + "\n", capture_output=True,
                            text=True, timeout=10, check=True).stdout.strip()
    return private, public


class Server:
    """tests/tools/httpd_bench on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--body-bytes",
                                      str(BODY_BYTES)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.stats = ""
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"httpd_bench did not start: {self.stats}")
        self.port = int(line[1].rsplit(":", 1)[1])

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.stats = self.proc.stderr.read().strip()
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


# ---- measurements ----

def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def ab(url, proxy, watches):
    """ab -n N -c C [-X proxy] url: requests per second, or an error string.
    Also returns the CPU share of ab and of each watched (name, pid)."""
    cmd = ["ab", "-q", "-s", str(AB_SOCKET_TIMEOUT_S), "-n", str(AB_REQUESTS), "-c",
           str(AB_CONCURRENCY)]
    if proxy:
        cmd += ["-X", proxy]
    before = [proc_cpu_s(pid) for _, pid in watches]
    before_ab = children_cpu_s()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=AB_TIMEOUT_S,
                              env=CLEAN_ENV)
    except subprocess.TimeoutExpired:
        return f"ab took over {AB_TIMEOUT_S}s", []
    elapsed = time.monotonic() - t0 or 1e-9
    shares = [("ab", (children_cpu_s() - before_ab) / elapsed)]
    shares += [(name, (proc_cpu_s(pid) - b) / elapsed) for (name, pid), b in zip(watches, before)]
    fields = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        complete = int(fields["Complete requests"])
        failed = int(fields["Failed requests"])
        rate = float(fields["Requests per second"].split()[0])
    except (KeyError, ValueError):
        return f"ab exit {proc.returncode}: {one_line(proc.stderr or proc.stdout)}", shares
    non2xx = fields.get("Non-2xx responses")
    if proc.returncode != 0 or complete != AB_REQUESTS or failed or non2xx:
        return (f"ab: {complete} complete, {failed} failed, {non2xx or 0} non-2xx, "
                f"exit {proc.returncode}"), shares
    return rate, shares


class KeptConnection:
    """One kept-alive HTTP/1.1 connection sending the same GET again and again
    (raw sockets: the least client overhead Python allows, alike for both)."""

    def __init__(self, connect_port, target, host):
        self.sock = socket.create_connection(("127.0.0.1", connect_port),
                                             timeout=LAT_SOCKET_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        self.buf = b""

    def get(self):
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"answer {lines[0][:60]!r}")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and b"close" in value.lower():
                raise RuntimeError("the connection was not kept alive")
        if length is None:
            raise RuntimeError("no Content-Length in the answer")
        while len(self.buf) < length:
            self._recv()
        self.buf = self.buf[length:]

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("closed by the other side")
        self.buf += data

    def close(self):
        self.sock.close()


def p50_us(connect_port, target, host):
    """LAT_WARMUP requests, then the median of LAT_REQUESTS sequential ones
    on the same connection, in microseconds; or an error string."""
    conn = None
    deadline = time.monotonic() + LAT_TIMEOUT_S
    try:
        conn = KeptConnection(connect_port, target, host)
        for _ in range(LAT_WARMUP):
            conn.get()
        samples = []
        for _ in range(LAT_REQUESTS):
            t0 = time.perf_counter_ns()
            conn.get()
            samples.append(time.perf_counter_ns() - t0)
            if time.monotonic() > deadline:
                return f"{len(samples)} requests took over {LAT_TIMEOUT_S}s"
        return statistics.median(samples) / 1000.0
    except (OSError, RuntimeError, ValueError) as e:
        return f"keep-alive GET failed: {one_line(e)}"
    finally:
        if conn is not None:
            conn.close()


def warm_up(proxy_port, url):
    """One request through the proxy until it succeeds (handshake done)."""
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    last = ""
    host = url.split("/")[2]
    while time.monotonic() < deadline:
        conn = None
        try:
            conn = KeptConnection(proxy_port, url, host)
            conn.get()
            return None
        except (OSError, RuntimeError, ValueError) as e:
            last = one_line(e)
        finally:
            if conn is not None:
                conn.close()
        time.sleep(0.2)
    return f"no answer through notun in {WARMUP_TIMEOUT_S}s: {last}"


def best(results, pick):
    nums = [r for r in results if isinstance(r, float)]
    return pick(nums) if nums else (results[-1] if results else "not run")


def fmt_result(r, unit):
    return f"{r:.1f} {unit}" if isinstance(r, float) else r


def interleaved(label, what, unit, contenders, calibrate):
    """RUNS rounds of every contender (name, function), the order swapped
    every round; {name: [results]}."""
    results = {name: [] for name, _ in contenders}
    for run in range(RUNS):
        for name, fn in (contenders if run % 2 == 0 else contenders[::-1]):
            r, extra = fn()
            results[name].append(r)
            if calibrate:
                info(f"{label}: {what} {name} {fmt_result(r, unit)}{extra}")
    return results


def cpu_text(shares):
    return "; CPU: " + ", ".join(f"{n} {100 * s:.0f}%" for n, s in shares) if shares else ""


def measure(label, proxy_port, proxy_url, direct_url, watches, calibrate):
    """The warm latency first (RUNS interleaved rounds), then the rate of new
    connections (RUNS interleaved rounds of ab); prints two rows."""
    proxy = f"127.0.0.1:{proxy_port}"
    proxy_host, direct_host = proxy_url.split("/")[2], direct_url.split("/")[2]
    direct_port = int(direct_host.rsplit(":", 1)[1])
    p50s = interleaved(label, "keep-alive p50", "us",
                       [("notun", lambda: (p50_us(proxy_port, proxy_url, proxy_host), "")),
                        ("direct", lambda: (p50_us(direct_port, "/", direct_host), ""))],
                       calibrate)

    def ab_run(url, via):
        r, shares = ab(url, via, watches)
        return r, cpu_text(shares)

    rates = interleaved(label, f"ab -n {AB_REQUESTS} -c {AB_CONCURRENCY}", "req/s",
                        [("notun", lambda: ab_run(proxy_url, proxy)),
                         ("direct", lambda: ab_run(direct_url, None))], calibrate)
    ok = row(f"HTTP new conns/s ({label})", best(rates["notun"], max),
             best(rates["direct"], max), TARGET_RATE)
    nt, ref = best(p50s["notun"], min), best(p50s["direct"], min)
    if isinstance(nt, float) and isinstance(ref, float):
        added = nt - ref
        if calibrate:
            info(f"{label}: keep-alive p50, best of {RUNS}: notun {nt:.1f} us, "
                 f"direct {ref:.1f} us")
    else:
        added = nt if not isinstance(nt, float) else f"reference: {ref}"
    ok &= row(f"HTTP warm p50 added us ({label})", added, None, TARGET_ADDED_US,
              lower_is_better=True)
    return ok


# ---- the rig and the run ----

def preflight(build):
    if shutil.which("ab") is None:
        return "ab is missing (Debian's apache2-utils)"
    for name in ("notun", os.path.join("tools", "httpd_bench")):
        if not os.access(os.path.join(build, name), os.X_OK):
            return f"{build}/{name} is not built"
    return None


def bench(args, stack):
    build = os.path.abspath(args.build)
    notun_bin = os.path.join(build, "notun")
    tmp = tempfile.mkdtemp(prefix="notun-httpbench-")
    stack.callback(shutil.rmtree, tmp, True)
    os.chmod(tmp, 0o700)

    server = Server(os.path.join(build, "tools", "httpd_bench"))
    stack.callback(server.stop)
    server_pid = server.proc.pid

    gw_priv, gw_pub = notun_keypair(notun_bin)
    cl_priv, cl_pub = notun_keypair(notun_bin)
    wg_port, proxy_port = free_udp_port(), free_tcp_port()
    gw_ip, cl_ip = f"{TUNNEL_NET}.{GW_HOST}", f"{TUNNEL_NET}.{CLIENT_HOST}"
    gateway = NotunProcess(notun_bin, tmp, "gateway",
                           f"[Interface]\nPrivateKey = {gw_priv}\nListenPort = {wg_port}\n"
                           f"Address = {gw_ip}/32\n\n"
                           f"[Peer]\nPublicKey = {cl_pub}\nAllowedIPs = {cl_ip}/32\n\n"
                           f"[Gateway]\nAllow = {gw_ip}/32 tcp:{server.port}\n",
                           command="gateway")
    stack.callback(gateway.stop)
    if gateway.error is None:
        gateway.wait_log("event=gateway_up")
    client = NotunProcess(notun_bin, tmp, "client",
                          f"[Interface]\nPrivateKey = {cl_priv}\nAddress = {cl_ip}/32\n\n"
                          f"[Peer]\nPublicKey = {gw_pub}\nEndpoint = 127.0.0.1:{wg_port}\n"
                          f"AllowedIPs = {TUNNEL_NET}.0/24\n\n"
                          f"[Proxy]\nListen = 127.0.0.1:{proxy_port}\nBypass = direct\n")
    stack.callback(client.stop)
    if client.error is None:
        client.wait_listening(proxy_port)

    direct_url = f"http://127.0.0.1:{server.port}/"
    configs = (("direct path", direct_url, [client]),
               ("tunnel", f"http://{gw_ip}:{server.port}/", [client, gateway]))
    ok = True
    for label, proxy_url, procs in configs:
        error = next((p.error for p in procs if not p.alive()), None)
        if error is None:
            error = warm_up(proxy_port, proxy_url)
        if error is not None:
            error = next((p.error for p in procs if not p.alive()), error)
            # The reference is still measured, so that the row says what notun missed.
            rate, _ = ab(direct_url, None, [])
            ok &= row(f"HTTP new conns/s ({label})", error, rate, TARGET_RATE)
            ok &= row(f"HTTP warm p50 added us ({label})", error, None, TARGET_ADDED_US,
                      lower_is_better=True)
            continue
        watches = [("notun up", client.proc.pid), ("HTTP server", server_pid)]
        if gateway in procs:
            watches.insert(1, ("notun gateway", gateway.proc.pid))
        ok &= measure(label, proxy_port, proxy_url, direct_url, watches, args.calibrate)
        for p in procs:
            if not p.alive():
                info(f"{label}: {p.error}")
                ok = False

    if args.calibrate:
        server.stop()
        info(f"HTTP server: {server.stats}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--rows-only", action="store_true", help="no table header (run.py)")
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args()
    if not args.rows_only:
        header()
    reason = preflight(os.path.abspath(args.build))
    if reason:
        print(f"{TITLE:38} FAILED ({reason})", flush=True)
        return 1
    return run_guarded(TITLE, lambda stack: bench(args, stack))


if __name__ == "__main__":
    sys.exit(main())
