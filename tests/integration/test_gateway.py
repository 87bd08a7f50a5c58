"""notun gateway end to end, unprivileged and on loopback: `notun up` (the
client) -> WireGuard over 127.0.0.1 -> `notun gateway` -> local servers.

The gateway's own tunnel address (10.99.0.1) stands for the gateway host:
flows to it are connected to 127.0.0.1 (::1 for fd00:99::1) on the same
port, so the servers below listen on loopback and the client reaches them as
10.99.0.1:PORT. The last test (root only) puts a wireguard-go client with
kernel TCP in a network namespace in front of the same gateway."""
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import socks
from client import Notun, curl, free_tcp_port, sha256_of_file
from httpsrv import pattern_sha256
from udpecho import UdpEcho
from conftest import TOP, release, wrapped
from wgtun import WGTUN, KeyPair, finish, free_udp_port, kill, secret_file

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20
GW_IP, GW_IP6 = "10.99.0.1", "fd00:99::1"
CLIENT_IP, CLIENT_IP6 = "10.99.0.2", "fd00:99::2"
PINGER_IP = "10.99.0.3"
FILTERED_PORT = 22  # on GW_IP, never allowed
OUTSIDE_IP = "10.99.0.7"  # routed to the gateway by the client, allowed by no rule
START_TIMEOUT_S = 15
# "At once": a refusal, a denial, a reset must come back within this. Half
# the gateway's default connect timeout (10 s; the client's is 15 s): an
# answer that waited for a timeout stays apart, and a loaded 2-CPU machine
# under ASan keeps it.
FAST_S = 5.0


def secret_config(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Gateway:
    """notun gateway -c FILE, its log in a file; stop() checks a clean exit."""

    def __init__(self, notun, tmp_path, config, args=(), name="gateway"):
        self.notun, self.args = notun, list(args)
        self.conf = tmp_path / f"{name}.conf"
        secret_config(self.conf, config)
        self.log_path = tmp_path / f"{name}.log"
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(wrapped([self.notun, "--log-level", "debug", "gateway", "-c",
                                              str(self.conf)] + self.args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.wait_log("event=gateway_up", count=self.starts)
        except AssertionError:
            self.kill()  # the caller has no object to stop: it raised
            raise

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def wait_log(self, pattern, count=1, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.read_log())) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no '{pattern}' in the gateway's log: {self.read_log()[-4000:]}")

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError(f"notun gateway ignored SIGTERM: {self.read_log()[-4000:]}")
        self.log.close()
        if check:
            assert self.proc.returncode == 0, \
                f"notun gateway exited {self.proc.returncode}: {self.read_log()[-4000:]}"


class UdpRelay(threading.Thread):
    """Forwards WireGuard datagrams between one client and the gateway on
    loopback, counting each direction."""

    def __init__(self, gw_port):
        super().__init__(daemon=True)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.gw = ("127.0.0.1", gw_port)
        self.client = None
        self.to_gateway = self.to_client = 0
        self.done = threading.Event()
        self.start()

    def run(self):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ)
        sel.register(self.back, selectors.EVENT_READ)
        while not self.done.is_set():
            for key, _ in sel.select(timeout=0.2):
                data, peer = key.fileobj.recvfrom(65535)
                if key.fileobj is self.front:
                    self.client = peer
                    self.to_gateway += 1
                    self.back.sendto(data, self.gw)
                elif self.client:
                    self.to_client += 1
                    self.front.sendto(data, self.client)

    def close(self):
        self.done.set()
        self.join(timeout=5)
        self.front.close()
        self.back.close()


def silent_listener(addr, port):
    """A listener on addr:port that never answers: its accept queue is full
    (one connection, never accepted), so Linux drops further SYNs. Returns
    [listener, filler]; the caller closes both."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.bind((addr, port))
        listener.listen(0)
        return [listener, socket.create_connection(listener.getsockname()[:2])]
    except Exception:
        listener.close()
        raise


@pytest.fixture(scope="module")
def servers():
    """The destinations: an HTTP server on 127.0.0.1 and ::1, a UDP echo
    server, a TCP port nothing listens on, and one that never answers
    (silent_listener)."""
    procs = []
    silent = []
    try:
        silent += silent_listener("127.0.0.1", 0)
        ports = {}
        for addr in ("127.0.0.1", "::1"):
            port = free_tcp_port()
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, "httpsrv.py"), addr,
                                     str(port)], stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout.readline().strip() == "ready"
            ports[addr] = port
        echo = UdpEcho()
        closed = free_tcp_port()
        yield {"http": ports["127.0.0.1"], "http6": ports["::1"], "echo": echo.port,
               "closed": closed, "silent": silent[0].getsockname()[1]}
        echo.close()
    finally:
        for sock in silent:
            sock.close()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


class Site:
    """Keys, a gateway allowing its own address on the servers' ports, and a
    client routing 10.99.0.0/24 and fd00:99::/64 to it."""

    def __init__(self, notun, tmp_path, servers, gw_args=(), client_extra="", gw_rules=""):
        self.notun, self.tmp_path, self.servers = notun, tmp_path, servers
        self.gw_keys, self.client_keys = KeyPair(notun), KeyPair(notun)
        self.pinger_keys = KeyPair(notun)
        self.gw_port = free_udp_port("127.0.0.1")
        s = servers
        self.gateway = Gateway(notun, tmp_path, (
            f"[Interface]\nPrivateKey = {self.gw_keys.private}\nListenPort = {self.gw_port}\n"
            f"Address = {GW_IP}/32, {GW_IP6}/128\n\n"
            f"[Peer]\nPublicKey = {self.client_keys.public}\n"
            f"AllowedIPs = {CLIENT_IP}/32, {CLIENT_IP6}/128\n\n"
            f"[Peer]\nPublicKey = {self.pinger_keys.public}\nAllowedIPs = {PINGER_IP}/32\n\n"
            f"[Gateway]\nAllow = {GW_IP}/32 tcp:{s['http']},{s['closed']},{s['silent']}\n"
            f"Allow = {GW_IP}/32 udp:{s['echo']}\n"
            f"Allow = {GW_IP6}/128 tcp:{s['http6']}\n{gw_rules}"), args=gw_args)
        self.client = None
        try:
            self.proxy_port = free_tcp_port()
            self.client = Notun(notun, tmp_path, self.client_config(
                self.client_keys, f"127.0.0.1:{self.gw_port}", self.proxy_port, client_extra))
            self.client.wait_listening(self.proxy_port)
        except Exception:
            self.close(check=False)
            raise

    def client_config(self, keys, endpoint, proxy_port, extra=""):
        return (f"[Interface]\nPrivateKey = {keys.private}\n"
                f"Address = {CLIENT_IP}/32, {CLIENT_IP6}/128\n\n"
                f"[Peer]\nPublicKey = {self.gw_keys.public}\nEndpoint = {endpoint}\n"
                f"AllowedIPs = 10.99.0.0/24, fd00:99::/64\n\n"
                f"[Proxy]\nListen = 127.0.0.1:{proxy_port}\n{extra}\n")

    @property
    def proxy(self):
        return ("127.0.0.1", self.proxy_port)

    def url(self, path):
        return f"http://{GW_IP}:{self.servers['http']}{path}"

    def close(self, check=True):
        if self.client:
            self.client.stop(check=check)
        self.gateway.stop(check=check)


@pytest.fixture
def site(notun, tmp_path, servers):
    s = Site(notun, tmp_path, servers)
    yield s
    s.close()


def proxy_url(port):
    return f"socks5h://127.0.0.1:{port}"


def test_gateway_serves_a_page_and_logs_the_flow(site):
    r = curl(["--proxy", proxy_url(site.proxy_port), site.url("/hello")])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello through notun\n"
    site.gateway.wait_log(r"event=flow_closed peer=\S+ proto=tcp src=10\.99\.0\.2:\d+ "
                          rf"dst=10\.99\.0\.1:{site.servers['http']} how=closed bytes_up=\d+ "
                          r"bytes_down=\d+")
    log = site.gateway.read_log()
    assert "event=handshake_complete" in log
    assert re.search(r"event=flow_opened peer=\S+ proto=tcp", log)


def test_gateway_download_64mib_sha256(tmp_path, site):
    out = tmp_path / "down"
    r = curl(["--proxy", proxy_url(site.proxy_port), "-o", str(out),
              site.url(f"/bytes/{64 * MIB}?seed=gwdown")])
    assert r.returncode == 0, r.stderr
    assert sha256_of_file(out) == pattern_sha256(64 * MIB, "gwdown")


def test_gateway_upload_64mib_sha256(tmp_path, site):
    src = tmp_path / "up"
    src.write_bytes(os.urandom(64 * MIB))
    r = curl(["--proxy", proxy_url(site.proxy_port), "--data-binary", f"@{src}",
              "-H", "Content-Type: application/octet-stream", site.url("/upload")])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == sha256_of_file(src)


def test_gateway_200_concurrent_flows_intact(tmp_path, site):
    def one(i):
        out = tmp_path / f"c{i}"
        size = 256 * 1024 + i * 4099
        r = curl(["--proxy", proxy_url(site.proxy_port), "-o", str(out),
                  site.url(f"/bytes/{size}?seed=gw{i}")], timeout=110)
        return r.returncode, r.stderr, sha256_of_file(out) if out.exists() else None, size

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(one, range(200)))
    for i, (rc, err, digest, size) in enumerate(results):
        assert rc == 0, f"transfer {i}: {err}"
        assert digest == pattern_sha256(size, f"gw{i}"), f"transfer {i} corrupted"
    site.gateway.wait_log("event=flow_closed", count=200)


def timed_connect(site, host, port):
    start = time.monotonic()
    rep, sock = socks.connect(site.proxy, host, port)
    elapsed = time.monotonic() - start
    if sock:
        sock.close()
    return rep, elapsed


def test_gateway_refused_port_gives_0x05_at_once(site):
    assert timed_connect(site, GW_IP, site.servers["http"])[0] == 0  # session up
    rep, elapsed = timed_connect(site, GW_IP, site.servers["closed"])
    assert rep == 0x05
    assert elapsed < FAST_S, f"refusal took {elapsed:.3f}s"
    site.gateway.wait_log(rf"event=flow_failed .*dst=10\.99\.0\.1:{site.servers['closed']} "
                          r"reason=\"Connection refused\"")


def test_gateway_silent_destination_gives_0x04_after_connect_timeout(notun, tmp_path, servers):
    site = Site(notun, tmp_path, servers, gw_args=["--connect-timeout", "1"])
    try:
        assert timed_connect(site, GW_IP, servers["http"])[0] == 0  # session up
        rep, elapsed = timed_connect(site, GW_IP, servers["silent"])
        assert rep == 0x04  # ICMP host unreachable: the client's 0x04, not its own timeout
        assert 0.9 < elapsed < 3, f"took {elapsed:.3f}s with a 1 s connect timeout"
        site.gateway.wait_log(rf"event=flow_failed .*dst=10\.99\.0\.1:{servers['silent']} "
                              r"reason=\"timeout\"")
    finally:
        site.close()


def test_gateway_filtered_destination_gives_0x02_at_once_and_a_log_line(site):
    assert timed_connect(site, GW_IP, site.servers["http"])[0] == 0  # session up
    for host, port in ((GW_IP, FILTERED_PORT), (OUTSIDE_IP, 80), (GW_IP6, FILTERED_PORT)):
        rep, elapsed = timed_connect(site, host, port)
        assert rep == 0x02, f"{host}:{port} gave {rep:#x}"
        assert elapsed < FAST_S, f"denial of {host}:{port} took {elapsed:.3f}s"
        dst = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        site.gateway.wait_log(rf"event=flow_denied peer=\S+ proto=tcp src=\S+ dst={re.escape(dst)}")


def test_gateway_ipv6_flow_to_its_own_address_reaches_loopback(site):
    rep, sock = socks.connect(site.proxy, GW_IP6, site.servers["http6"])
    assert rep == 0
    with sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello through notun\n")


def test_gateway_udp_associate_to_echo_server(site):
    ctl, relay = socks.udp_associate(site.proxy)
    with ctl, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        # One small, one at the MTU, one that lwIP fragments on both sides.
        for size in (5, 1400, 9000):
            payload = os.urandom(size)
            for attempt in range(3):  # UDP: the first may race the handshake
                u.sendto(socks.udp_wrap(GW_IP, site.servers["echo"], payload), relay)
                try:
                    got = socks.udp_unwrap(u.recvfrom(65535)[0])
                    break
                except socket.timeout:
                    got = None
            assert got == payload, f"{size}-byte datagram not echoed intact"
        # A port no rule allows: nothing comes back, and the gateway says why.
        u.sendto(socks.udp_wrap(GW_IP, site.servers["echo"] + 1, b"nope"), relay)
        with pytest.raises(socket.timeout):
            u.settimeout(1)
            u.recvfrom(65535)
    site.gateway.wait_log(rf"event=flow_denied peer=\S+ proto=udp src=\S+ "
                          rf"dst=10\.99\.0\.1:{site.servers['echo'] + 1}")
    site.gateway.wait_log(rf"event=flow_opened peer=\S+ proto=udp src=\S+ "
                          rf"dst=10\.99\.0\.1:{site.servers['echo']}")


def test_gateway_answers_echo_requests_to_its_own_address(tmp_path, site):
    args = [WGTUN, "--private-key-file", secret_file(tmp_path, "pinger.key",
                                                     site.pinger_keys.private),
            "--address", PINGER_IP, "--peer-public-key", site.gw_keys.public,
            "--peer-endpoint", f"127.0.0.1:{site.gw_port}", "--peer-allowed-ips", "10.99.0.0/24",
            "--ping", GW_IP, "--count", "3", "--timeout-ms", "10000", "--log-level", "debug"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, report, err = finish(proc, timeout=30)
    assert rc == 0 and report["received"] == 3, err[-3000:]


def test_gateway_restart_mid_transfer_client_rehandshakes(site):
    # A slow download is under way when the gateway dies.
    slow = subprocess.Popen(["curl", "--silent", "--max-time", "100", "--limit-rate", "1M",
                             "--proxy", proxy_url(site.proxy_port), "-o", os.devnull,
                             site.url(f"/bytes/{64 * MIB}?seed=slow")])
    try:
        site.gateway.wait_log("event=flow_opened")
        time.sleep(0.5)
        site.gateway.kill()
        site.gateway.start()
        # The client's session is gone on the other side: WireGuard's timers
        # start a new handshake once data goes unanswered (about 15 s).
        deadline = time.monotonic() + 60
        while True:
            r = curl(["--proxy", proxy_url(site.proxy_port), site.url("/hello")], timeout=30)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
        assert r.returncode == 0, r.stderr
        assert r.stdout == "hello through notun\n"
        site.gateway.wait_log("event=handshake_complete", count=2)
        r = curl(["--proxy", proxy_url(site.proxy_port), "-o", os.devnull,
                  site.url("/bytes/1000000?seed=after")])
        assert r.returncode == 0, r.stderr
        assert slow.poll() is None or slow.returncode != 0  # the old flow did not "succeed"
    finally:
        slow.kill()
        slow.wait(timeout=10)


def test_gateway_gives_nothing_to_an_unknown_key(notun, tmp_path, site):
    stranger = KeyPair(notun)
    relay = UdpRelay(site.gw_port)
    port = free_tcp_port()
    client = Notun(notun, tmp_path, site.client_config(
        stranger, f"127.0.0.1:{relay.port}", port, "ConnectTimeout = 2s"), name="stranger")
    try:
        client.wait_listening(port)
        rep, _ = timed_connect(site, GW_IP, site.servers["http"])
        assert rep == 0  # the configured client still works
        rep, sock = socks.connect(("127.0.0.1", port), GW_IP, site.servers["http"])
        assert sock is None and rep == 0x04  # no session: host unreachable
        site.gateway.wait_log("event=handshake_failed msg=initiation")
        time.sleep(0.5)
        assert relay.to_gateway >= 1
        assert relay.to_client == 0, f"the gateway answered {relay.to_client} datagrams"
    finally:
        client.stop()
        relay.close()


@pytest.mark.parametrize("option,counter", [("--max-flows-per-peer", "limit_peer"),
                                            ("--max-flows", "limit_total")])
def test_gateway_limits_flows(notun, tmp_path, servers, option, counter):
    site = Site(notun, tmp_path, servers, gw_args=[option, "2"])
    held = []
    try:
        for _ in range(2):
            rep, sock = socks.connect(site.proxy, GW_IP, servers["http"])
            assert rep == 0
            held.append(sock)
        rep, elapsed = timed_connect(site, GW_IP, servers["http"])
        assert rep == 0x05 and elapsed < FAST_S  # over the limit: refused at once
        held.pop().close()
        site.gateway.wait_log("event=flow_closed", count=1)
        assert timed_connect(site, GW_IP, servers["http"])[0] == 0
        site.gateway.proc.send_signal(signal.SIGUSR1)
        site.gateway.wait_log(rf"event=counters .* {counter}=1 ")
        site.gateway.wait_log(r"event=peer_counters peer=\S+ flows_open=\d+ tcp=\d+ udp=0 "
                              r"denied=0 refused=0 unreachable=0 limit_hits=1")
    finally:
        for sock in held:
            sock.close()
        site.close()


class KernelSite:
    """Root only: a wireguard-go client in a Namespace, its kernel's TCP and
    UDP over the TUN device, in front of a notun gateway on the host. The
    tunnel is 10.214.n.0/24 and fd00:214:n::/64: wireguard-go's interface is
    .1 (::1), the gateway .2 (::2), and the whole of both is routed to it.
    rules: the [Gateway] section's lines, {gw} and {gw6} standing for the
    gateway's addresses, {n} for the namespace's number; routed: more
    prefixes ({n} as well) the namespace sends into the tunnel."""

    def __init__(self, notun, tmp_path, rules, gw_args=(), routed=()):
        from netns import Namespace, WireGuardGo, require_netns
        require_netns()
        self.ns = Namespace()
        self.wg = self.gateway = None
        try:
            n = self.ns.n
            client_keys, gw_keys = KeyPair(notun), KeyPair(notun)
            gw_port = free_udp_port("127.0.0.1")
            self.wg = WireGuardGo(self.ns, client_keys.private, free_udp_port("127.0.0.1"))
            self.gw_ip, self.gw_ip6 = f"10.214.{n}.2", f"fd00:214:{n:x}::2"
            self.gateway = Gateway(notun, tmp_path, (
                f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
                f"Address = {self.gw_ip}/32, {self.gw_ip6}/128\n\n"
                f"[Peer]\nPublicKey = {client_keys.public}\n"
                f"AllowedIPs = {self.wg.tunnel_ip}/32, {self.wg.tunnel_ip6}/128\n\n"
                f"[Gateway]\n" + rules.format(gw=self.gw_ip, gw6=self.gw_ip6, n=n)), args=gw_args)
            routed = [p.format(n=n) for p in routed]
            self.wg.add_peer(gw_keys.public,
                             ",".join([f"10.214.{n}.0/24", f"fd00:214:{n:x}::/64", *routed]),
                             endpoint=f"{self.ns.host_ip}:{gw_port}")
            for prefix in routed:
                self.ns.run("ip", "route", "add", prefix, "dev", self.wg.ifname)
        except Exception:
            self.close(check=False)
            raise

    def close(self, check=True):
        release(self.gateway and (lambda: self.gateway.stop(check=check)),
                self.wg and self.wg.close, self.ns.close)


def test_gateway_serves_wireguard_go_kernel_tcp_client(notun, tmp_path, servers):
    """Root only: a wireguard-go client in a namespace, its kernel's TCP over
    the TUN device, through notun gateway to the HTTP server on loopback."""
    site = KernelSite(notun, tmp_path, f"Allow = {{gw}}/32 tcp:{servers['http']}\n")
    try:
        out = tmp_path / "kernel-down"
        r = subprocess.run(["ip", "netns", "exec", site.ns.name, "curl", "--silent",
                            "--show-error", "--max-time", "100", "-o", str(out),
                            f"http://{site.gw_ip}:{servers['http']}/bytes/{32 * MIB}?seed=kernel"],
                           capture_output=True, text=True, timeout=110)
        assert r.returncode == 0, r.stderr + site.gateway.read_log()[-3000:]
        assert sha256_of_file(out) == pattern_sha256(32 * MIB, "kernel")
    finally:
        site.close()


# ---- special destinations: crafted inner packets (tests/tools/wgtun --probe) ----

PROBER_IP, PROBER_IP6 = "10.99.0.3", "fd00:99::3"


def probe(tmp_path, keys, gw_keys, gw_port, probes, count=1, timeout_ms=5000, wait=True,
          extra=(), address=PROBER_IP):
    """wgtun as a client of the gateway: a ping to the gateway's address
    brings the session up, then each probe ("tcp:IP:PORT") sends `count`
    crafted SYNs or datagrams (extra: more wgtun options; address: its
    IPv4 one). Returns the Popen, or with wait its report."""
    args = [WGTUN, "--private-key-file",
            secret_file(tmp_path, f"prober-{address}.key", keys.private),
            "--address", address, "--address6", PROBER_IP6,
            "--peer-public-key", gw_keys.public, "--peer-endpoint", f"127.0.0.1:{gw_port}",
            "--peer-allowed-ips", "0.0.0.0/0,::/0", "--ping", GW_IP, "--count", "1",
            "--probe-count", str(count), "--probe-timeout-ms", str(timeout_ms),
            "--log-level", "debug", *extra]
    for p in probes:
        args += ["--probe", p]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    rc, report, err = finish(proc, timeout=timeout_ms / 1000 + 30)
    assert rc == 0, err[-3000:]  # the ping: the session was up
    return report


def counters(gateway, field):
    """The gateway's counters line (SIGUSR1), one field of it."""
    before = len(re.findall(r"event=counters ", gateway.read_log()))
    gateway.proc.send_signal(signal.SIGUSR1)
    gateway.wait_log(r"event=counters ", count=before + 1)
    line = re.findall(r"event=counters .*", gateway.read_log())[-1]
    m = re.search(rf" {field}=(\d+)", line)
    assert m, f"no {field} in {line}"
    return int(m.group(1))


@pytest.fixture
def loopback_service():
    """A TCP listener on 127.0.0.1 and one on ::1, same port: services only
    the gateway host itself should reach."""
    socks_ = []
    port = free_tcp_port()
    try:
        for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(64)
            socks_.append(s)
        yield port
    finally:
        for s in socks_:
            s.close()


def gateway_with(notun, tmp_path, gw_keys, prober_keys, rules, name="gateway"):
    gw_port = free_udp_port("127.0.0.1")
    gw = Gateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
        f"Address = {GW_IP}/32, {GW_IP6}/128\n\n"
        f"[Peer]\nPublicKey = {prober_keys.public}\n"
        f"AllowedIPs = {PROBER_IP}/32, {PROBER_IP6}/128\n\n"
        f"[Gateway]\n{rules}"), name=name)
    return gw, gw_port


def test_gateway_broad_rule_never_connects_to_special_destinations(notun, tmp_path,
                                                                   loopback_service):
    """Allow = 0.0.0.0/0, ::/0: SYNs and datagrams to loopback, unspecified,
    link-local, multicast, broadcast, IPv4-in-IPv6 forms of them and the
    gateway's own tunnel address are answered ICMP prohibited, and the
    gateway makes no socket for any (a listener waits on loopback)."""
    port = loopback_service
    gw_keys, prober_keys = KeyPair(notun), KeyPair(notun)
    gw, gw_port = gateway_with(notun, tmp_path, gw_keys, prober_keys,
                               "Allow = 0.0.0.0/0, ::/0\n")
    dests = ["127.0.0.1", "127.1.2.3", "0.0.0.0", "0.0.0.1", "169.254.169.254", "224.0.0.1",
             "255.255.255.255", "240.0.0.1", GW_IP, "[::1]", "[::]", "[::ffff:127.0.0.1]",
             "[::ffff:0.0.0.0]", "[::127.0.0.1]", "[fe80::1]", "[ff02::1]", f"[{GW_IP6}]"]
    probes = [f"{proto}:{d}:{port}" for d in dests for proto in ("tcp", "udp")]
    try:
        gw.wait_log(r"event=broad_allow_rule file=\S+ line=11 section=Gateway cidr=0\.0\.0\.0/0")
        gw.wait_log(r"event=broad_allow_rule file=\S+ line=11 section=Gateway cidr=::/0")
        report = probe(tmp_path, prober_keys, gw_keys, gw_port, probes)
        for p in report["probes"]:
            assert (p["prohibited"], p["synack"], p["rst"], p["icmp_other"]) == (1, 0, 0, 0), p
        assert len(report["probes"]) == len(probes)
        assert counters(gw, "os_connects") == 0
        assert counters(gw, "denied_martian") == len(probes)
        gw.wait_log(rf"event=flow_denied peer=\S+ proto=tcp src=\S+ dst=127\.0\.0\.1:{port} "
                    r"reason=loopback")
    finally:
        gw.stop()


@pytest.mark.parametrize("rule,reached", [("Allow = 0.0.0.0/0, ::/0", False),
                                          ("Allow = 10.99.0.0/16", False),
                                          (f"Allow = {GW_IP}/32 tcp:{{port}}", True),
                                          (f"Allow = {GW_IP}/32", True)])
def test_gateway_tunnel_address_reaches_host_only_by_its_own_rule(notun, tmp_path,
                                                                  loopback_service, rule,
                                                                  reached):
    port = loopback_service
    gw_keys, prober_keys = KeyPair(notun), KeyPair(notun)
    gw, gw_port = gateway_with(notun, tmp_path, gw_keys, prober_keys,
                               rule.format(port=port) + "\n")
    try:
        (p,) = probe(tmp_path, prober_keys, gw_keys, gw_port, [f"tcp:{GW_IP}:{port}"])["probes"]
        if reached:
            assert p["synack"] == 1 and p["prohibited"] == 0, p
            assert counters(gw, "os_connects") == 1
        else:
            assert p["prohibited"] == 1 and p["synack"] == 0, p
            assert counters(gw, "os_connects") == 0
            gw.wait_log(rf"event=flow_denied peer=\S+ proto=tcp src=\S+ "
                        rf"dst={re.escape(GW_IP)}:{port} reason=gateway_host")
    finally:
        gw.stop()


def test_gateway_warns_of_broad_peer_rule(notun, tmp_path):
    gw_keys, prober_keys = KeyPair(notun), KeyPair(notun)
    gw_port = free_udp_port("127.0.0.1")
    gw = Gateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
        f"Address = {GW_IP}/32\n\n"
        f"[Peer]\nPublicKey = {prober_keys.public}\nAllowedIPs = {PROBER_IP}/32\n"
        f"Allow = 10.0.0.0/8\nAllow = 0.0.0.0/4 tcp:443\n\n"
        f"[Gateway]\nAllow = 10.0.0.0/8\nAllow = 2001:db8::/32\nAllow = 2000::/3 udp:53\n"))
    try:
        gw.wait_log(r"level=warn .*event=broad_allow_rule file=\S+ line=10 section=Peer "
                    r"cidr=0\.0\.0\.0/4")
        gw.wait_log(r"event=broad_allow_rule file=\S+ line=15 section=Gateway cidr=2000::/3")
        assert len(re.findall("event=broad_allow_rule", gw.read_log())) == 2
    finally:
        gw.stop()


def test_gateway_1100_syns_from_one_peer_hit_its_limit_not_the_others(notun, tmp_path,
                                                                      servers):
    """One peer's 1100 crafted SYNs (to a destination that never answers):
    1024 are held connecting, 76 are refused by the per-peer limit, and the
    other peer is served meanwhile."""
    site = Site(notun, tmp_path, servers, gw_args=["--connect-timeout", "3"])
    prober = None
    try:
        prober = probe(tmp_path, site.pinger_keys, site.gw_keys, site.gw_port,
                       [f"tcp:{GW_IP}:{servers['silent']}"], count=1100, timeout_ms=20000,
                       wait=False)
        deadline = time.monotonic() + 10
        while counters(site.gateway, "limit_peer") < 76 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counters(site.gateway, "limit_peer") == 76
        r = curl(["--proxy", proxy_url(site.proxy_port), site.url("/hello")])
        assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
        rc, report, err = finish(prober, timeout=40)
        prober = None
        (p,) = report["probes"]
        assert p["rst"] == 76 and p["icmp_other"] == 1024 and p["synack"] == 0, p
    finally:
        release(prober and (lambda: kill(prober)), site.close)


def test_gateway_udp_port_unreachable_and_idle_close(notun, tmp_path, servers):
    """gateway.md's UDP rows, read by wgtun (not notun's client): a datagram
    to a port nothing listens on comes back as an ICMP unreachable (not
    "prohibited", nor silence), and a UDP flow without traffic is closed
    after --udp-idle."""
    closed = free_udp_port("127.0.0.1")
    site = Site(notun, tmp_path, servers, gw_args=["--udp-idle", "2"],
                gw_rules=f"Allow = {GW_IP}/32 udp:{closed}\n")
    try:
        (p,) = probe(tmp_path, site.pinger_keys, site.gw_keys, site.gw_port,
                     [f"udp:{GW_IP}:{closed}"], count=3)["probes"]
        assert p["icmp_other"] == 3 and p["prohibited"] == 0 and p["udp"] == 0, p
        (p,) = probe(tmp_path, site.pinger_keys, site.gw_keys, site.gw_port,
                     [f"udp:{GW_IP}:{servers['echo']}"], count=1)["probes"]
        assert p["udp"] == 1, p
        t = time.monotonic()
        site.gateway.wait_log(rf"event=flow_closed peer=\S+ proto=udp src=\S+ "
                              rf"dst=10\.99\.0\.1:{servers['echo']} how=idle", timeout=15)
        # Idle for 2 s, noticed by a timer, not at some later event.
        assert time.monotonic() - t < 8
    finally:
        site.close()


def start_download(site, seed):
    """A 64 MiB download through the client, under way (its first bytes
    read) and then left unread: returns the proxy socket."""
    rep, sock = socks.connect(site.proxy, GW_IP, site.servers["http"])
    assert rep == 0
    sock.sendall(f"GET /bytes/{64 * MIB}?seed={seed} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    site.gateway.wait_log("event=flow_opened")
    return sock


def test_gateway_sees_a_reset_when_the_client_stops_mid_download(site):
    # Unfixed, the RST of the client's last words waited in its tunnel queue,
    # freed with it: the gateway kept the flow until retransmissions ran out.
    with start_download(site, "stopclient"):
        start = time.monotonic()
        site.client.proc.send_signal(signal.SIGINT)
        site.client.proc.wait(timeout=10)
        left = FAST_S - (time.monotonic() - start)
        assert left > 0, f"the client took more than {FAST_S} s to stop"
        site.gateway.wait_log(rf"event=flow_closed peer=\S+ proto=tcp src=10\.99\.0\.2:\d+ "
                              rf"dst=10\.99\.0\.1:{site.servers['http']} how=reset", timeout=left)
    assert site.client.proc.returncode == 0


def test_client_sees_a_reset_when_the_gateway_stops_mid_download(site):
    with start_download(site, "stopgateway") as sock:
        start = time.monotonic()
        site.gateway.proc.send_signal(signal.SIGINT)
        sock.settimeout(FAST_S)
        with pytest.raises(ConnectionResetError):
            while sock.recv(1 << 20):
                pass
        assert time.monotonic() - start < FAST_S + 0.2
        site.gateway.proc.wait(timeout=10)
    assert site.gateway.proc.returncode == 0


def rss_kib(proc):
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {proc.pid}")


# RSS is measured on the release build: ASan's allocator (its quarantine,
# its own release policy) is not the glibc malloc notun runs on.
RELEASE = os.environ.get("NOTUN_RELEASE", os.path.join(TOP, "build", "notun"))
UNREAD_DOWNLOADS = 50
# Within 2 MiB of idle, plus 512 KiB: pages that live allocations still touch
# (malloc_trim gives back whole free pages only) and the glibc arena's top pad.
RSS_MARGIN_KIB = 2048 + 512


def test_memory_returns_to_idle_after_unread_downloads(tmp_path, servers):
    if not os.access(RELEASE, os.X_OK):
        pytest.fail(f"{RELEASE} is not built (run make test)")
    site = Site(RELEASE, tmp_path, servers)
    socks_open = []
    try:
        procs = {"client": site.client.proc, "gateway": site.gateway.proc}
        r = curl(["--proxy", proxy_url(site.proxy_port), site.url("/hello")])
        assert r.returncode == 0, r.stderr
        time.sleep(1)
        idle = {name: rss_kib(p) for name, p in procs.items()}
        for i in range(UNREAD_DOWNLOADS):
            rep, sock = socks.connect(site.proxy, GW_IP, servers["http"])
            assert rep == 0
            socks_open.append(sock)
            sock.sendall(f"GET /bytes/{64 * MIB}?seed=unread{i} HTTP/1.1\r\nHost: x\r\n\r\n"
                         .encode())
        # The data piles up in both: each flow's window at the client, its
        # send space at the gateway.
        deadline = time.monotonic() + 20
        while True:
            peak = {name: rss_kib(p) for name, p in procs.items()}
            if all(peak[n] - idle[n] > 50 * 1024 for n in procs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(peak[n] - idle[n] > 50 * 1024 for n in procs), f"idle {idle}, load {peak}"
        for sock in socks_open:
            sock.close()
        socks_open = []
        site.gateway.wait_log("event=flow_closed", count=UNREAD_DOWNLOADS + 1)
        time.sleep(10)
        after = {name: rss_kib(p) for name, p in procs.items()}
        for n in procs:
            assert after[n] - idle[n] <= RSS_MARGIN_KIB, \
                f"{n}: {idle[n]} KiB idle, {peak[n]} KiB under load, {after[n]} KiB 10 s after"
    finally:
        for sock in socks_open:
            sock.close()
        site.close()
