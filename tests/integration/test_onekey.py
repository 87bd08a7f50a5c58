"""One key, two processes (issue 15, item 1), unprivileged on loopback:
`notun up` -> WireGuard -> `notun gateway` -> local servers (test_gateway's
Site). `notun run`, `connect -c` and `env` of the same file use the running
client's proxy instead of a second client with the same key; two clients
with one key anyway are named at the gateway; one ordinary roam is not."""
import hashlib
import os
import re
import selectors
import socket
import subprocess
import threading
import time

import pytest

from client import Notun, curl, free_tcp_port, sha256_of_file
from httpsrv import pattern_sha256
from test_gateway import GW_IP, Site, servers  # noqa: F401 (fixture)

MIB = 1 << 20
TIMEOUT_S = 120
DUP_WARN_S = 60  # the gateway names a doubled key within this
TWICE = "event=peer_key_in_use_twice"


@pytest.fixture
def gw_site(notun, tmp_path, servers):  # noqa: F811
    s = Site(notun, tmp_path, servers)
    yield s
    s.close()


def env_without_proxy():
    return {k: v for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}


def warm_up(site):
    """One request through notun up: its handshake done, the gateway's
    endpoint for the client learnt."""
    r = curl(["--proxy", f"socks5h://127.0.0.1:{site.proxy_port}", site.url("/hello")])
    assert r.returncode == 0, r.stderr
    site.gateway.wait_log("event=handshake_complete")


def gateway_series(site):
    """What a second client with the key would add to the gateway's log."""
    log = site.gateway.read_log()
    return (len(re.findall(r"event=handshake_complete", log)),
            len(re.findall(r"event=endpoint_changed", log)))


def test_run_uses_the_running_notun_up(notun, tmp_path, gw_site):
    site = gw_site
    warm_up(site)
    before = gateway_series(site)
    out, size = tmp_path / "run-out", 3 * MIB + 7
    r = subprocess.run([notun, "--log-level", "info", "run", "-c", str(site.client.conf), "--",
                        "sh", "-c", 'echo "$ALL_PROXY" >&2; exec curl -sS --max-time 100 '
                        '-o "$0" "$1"', str(out), site.url(f"/bytes/{size}?seed=onekey")],
                       env=env_without_proxy(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(out) == pattern_sha256(size, "onekey")
    # No second client: the gateway saw no new handshake and no other
    # endpoint for the key, and notun up carried the flow.
    assert gateway_series(site) == before, site.gateway.read_log()[-3000:]
    assert re.search(rf"event=conn_closed .*target=10\.99\.0\.1 port={site.servers['http']} "
                     r"route=tunnel", site.client.read_log()), site.client.read_log()
    assert f"event=using_running_client pid={site.client.proc.pid} " \
           f"proxy=127.0.0.1:{site.proxy_port}" in r.stderr, r.stderr
    assert f"@127.0.0.1:{site.proxy_port}" not in r.stderr  # the file has no credentials
    assert f"socks5h://127.0.0.1:{site.proxy_port}" in r.stderr
    # --own: a client of its own, as before (and the gateway sees its key
    # from a second endpoint).
    r = subprocess.run([notun, "--log-level", "info", "run", "--own", "-c",
                        str(site.client.conf), "--", "curl", "-sS", "--max-time", "60",
                        site.url("/hello")], env=env_without_proxy(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    assert r.returncode == 0 and "hello through notun" in r.stdout, r.stderr[-3000:]
    assert "using_running_client" not in r.stderr and "event=listening" in r.stderr


def test_connect_uses_the_running_notun_up(notun, gw_site):
    site = gw_site
    warm_up(site)
    before = gateway_series(site)
    size = 2 * MIB + 3
    request = (f"GET /bytes/{size}?seed=connect HTTP/1.0\r\nHost: {GW_IP}\r\n\r\n").encode()
    # connect's own default is warn; info is taken for that default.
    r = subprocess.run([notun, "--log-level", "debug", "connect", "-c", str(site.client.conf),
                        GW_IP, str(site.servers["http"])], input=request, capture_output=True,
                       env=env_without_proxy(), timeout=TIMEOUT_S)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-3000:]
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), head[:200]
    assert hashlib.sha256(body).hexdigest() == pattern_sha256(size, "connect")
    assert gateway_series(site) == before, site.gateway.read_log()[-3000:]
    assert f"event=using_running_client pid={site.client.proc.pid} " \
           f"proxy=127.0.0.1:{site.proxy_port}" in err, err
    assert re.search(r"event=conn_closed .*route=tunnel", site.client.read_log())


def test_env_says_whether_notun_up_runs(notun, gw_site):
    site = gw_site
    r = subprocess.run([notun, "env", "-c", str(site.client.conf)], capture_output=True,
                       text=True, env=env_without_proxy(), timeout=30)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first == (f"# a notun up of this file runs (pid {site.client.proc.pid}): "
                     f"its proxy 127.0.0.1:{site.proxy_port}"), r.stdout
    assert f"export ALL_PROXY='socks5h://127.0.0.1:{site.proxy_port}'" in r.stdout
    site.client.stop()
    site.client = None
    r = subprocess.run([notun, "env", "-c", str(tmp_conf := site.tmp_path / "client.conf")],
                       capture_output=True, text=True, env=env_without_proxy(), timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# no notun up of this file runs now"), r.stdout
    assert tmp_conf.exists()


def pump(port, url, stop):
    """Requests through one proxy until stop is set (failures expected:
    the other process takes the session)."""
    while not stop.is_set():
        curl(["--proxy", f"socks5h://127.0.0.1:{port}", "--max-time", "2", url], timeout=10)


def test_two_clients_with_one_key_warned_at_the_gateway(notun, tmp_path, gw_site):
    site = gw_site
    warm_up(site)
    port2 = free_tcp_port()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    # The same file elsewhere (its own control socket): a second notun up
    # with the same key, which notun up itself warns about only when it
    # shares the control socket; here only the gateway can tell.
    second = Notun(notun, second_dir, site.client.conf.read_text().replace(
        f":{site.proxy_port}", f":{port2}"))
    stop = threading.Event()
    pumps = [threading.Thread(target=pump, args=(p, site.url("/hello"), stop), daemon=True)
             for p in (site.proxy_port, port2)]
    try:
        second.wait_listening(port2)
        t0 = time.monotonic()
        for t in pumps:
            t.start()
        site.gateway.wait_log(TWICE, timeout=DUP_WARN_S)
        took = time.monotonic() - t0
        line = next(ln for ln in site.gateway.read_log().splitlines() if TWICE in ln)
        assert "level=warn" in line and 'hint="two processes with the same private key?"' in line
        m = re.search(r"endpoints=(127\.0\.0\.1:\d+),(127\.0\.0\.1:\d+)", line)
        assert m and m.group(1) != m.group(2), line
        assert f"peer={site.client_keys.public[:8]}" in line, line
        # Once per episode: a few more seconds of it add no second line.
        time.sleep(3)
        assert site.gateway.read_log().count(TWICE) == 1
        print(f"warned after {took:.1f} s")
    finally:
        stop.set()
        for t in pumps:
            if t.is_alive():
                t.join(timeout=15)
        second.stop()


def test_second_notun_up_of_the_same_file_warns(notun, tmp_path, gw_site):
    site = gw_site
    port2 = free_tcp_port()
    second = Notun(notun, tmp_path, site.client.conf.read_text().replace(
        f":{site.proxy_port}", f":{port2}"), name="client-copy",
        args=["--control", str(tmp_path / "client.sock")])
    try:
        second.wait_listening(port2)
        log = second.read_log()
        assert re.search(rf"level=warn mod=up event=client_already_running "
                         rf"pid={site.client.proc.pid} proxy=127\.0\.0\.1:{site.proxy_port}", log), log
    finally:
        second.stop()


class RoamingRelay(threading.Thread):
    """Forwards a client's WireGuard datagrams to the gateway from one of
    two sockets; roam() moves to the other, as a laptop changing networks."""

    def __init__(self, gw_port):
        super().__init__(daemon=True)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.backs = []
        for _ in range(2):
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind(("127.0.0.1", 0))
            self.backs.append(b)
        self.use = 0
        self.port = self.front.getsockname()[1]
        self.gw = ("127.0.0.1", gw_port)
        self.client = None
        self.done = threading.Event()
        self.start()

    def roam(self):
        self.use = 1

    def run(self):
        sel = selectors.DefaultSelector()
        for s in [self.front] + self.backs:
            sel.register(s, selectors.EVENT_READ)
        while not self.done.is_set():
            for key, _ in sel.select(timeout=0.2):
                data, peer = key.fileobj.recvfrom(65535)
                if key.fileobj is self.front:
                    self.client = peer
                    self.backs[self.use].sendto(data, self.gw)
                elif self.client:
                    self.front.sendto(data, self.client)

    def close(self):
        self.done.set()
        self.join(timeout=5)
        for s in [self.front] + self.backs:
            s.close()


def test_one_roam_mid_download_is_not_warned(notun, tmp_path, gw_site):
    site = gw_site
    relay = RoamingRelay(site.gw_port)
    port = free_tcp_port()
    # The site's client key, through the relay (the site's own client stays idle).
    roamer = Notun(notun, tmp_path, site.client_config(
        site.client_keys, f"127.0.0.1:{relay.port}", port), name="roamer")
    out, size = tmp_path / "roam-out", 48 * MIB
    try:
        roamer.wait_listening(port)
        proc = subprocess.Popen(["curl", "-sS", "--max-time", "100", "--limit-rate", "8M",
                                 "--proxy", f"socks5h://127.0.0.1:{port}", "-o", str(out),
                                 site.url(f"/bytes/{size}?seed=roam")],
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while (not out.exists() or out.stat().st_size < 4 * MIB) and proc.poll() is None:
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.05)
        relay.roam()
        assert proc.wait(timeout=TIMEOUT_S) == 0, proc.stderr.read()
        assert sha256_of_file(out) == pattern_sha256(size, "roam")
        log = site.gateway.read_log()
        assert re.search(r"event=endpoint_changed peer=\S+ endpoint=127\.0\.0\.1:"
                         rf"{relay.backs[1].getsockname()[1]}", log), log[-3000:]
        time.sleep(2)
        assert TWICE not in site.gateway.read_log()
    finally:
        roamer.stop()
        relay.close()
