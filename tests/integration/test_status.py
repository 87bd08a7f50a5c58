# SPDX-License-Identifier: MIT
"""`notun status [--json]`, the control socket and the [Metrics] endpoint
(issue 14): a client and a gateway on loopback (static peers), then a
portal world (a resource granted with its expiry; /readyz 503 until the
gateway joined). Values must move with traffic; a connection from another
user is refused by the server's peer-credential check, with the socket's
mode opened up so that the file permissions do not do it first."""
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from client import Notun, curl, free_tcp_port
from conftest import run
from test_gateway import GW_IP, CLIENT_IP, Gateway, servers  # noqa: F401 (fixture)
from wgtun import KeyPair, free_udp_port

MIB = 1 << 20
NOBODY = 65534


def status(notun, *args, check=True, preexec_fn=None):
    proc = subprocess.run([notun, "status", *args], capture_output=True, text=True, timeout=30,
                          preexec_fn=preexec_fn)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def status_json(notun, sock):
    return json.loads(status(notun, "--json", "--control", str(sock)).stdout)


def http_get(port, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(port):
    code, text = http_get(port, "/metrics")
    assert code == 200
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def wait_for(pred, timeout=15):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


class StaticWorld:
    """A gateway and a client on loopback, each with --control and [Metrics]."""

    def __init__(self, notun, tmp_path, servers, sockdir):
        self.notun = notun
        self.gw_keys, self.client_keys = KeyPair(notun), KeyPair(notun)
        self.gw_port = free_udp_port("127.0.0.1")
        self.gw_metrics, self.cl_metrics = free_tcp_port(), free_tcp_port()
        self.gw_sock, self.cl_sock = sockdir / "gw.sock", sockdir / "cl.sock"
        self.http = servers["http"]
        self.gateway = Gateway(notun, tmp_path, (
            f"[Interface]\nPrivateKey = {self.gw_keys.private}\nListenPort = {self.gw_port}\n"
            f"Address = {GW_IP}/32\n\n[Peer]\nPublicKey = {self.client_keys.public}\n"
            f"AllowedIPs = {CLIENT_IP}/32\n\n[Gateway]\nAllow = {GW_IP}/32 tcp:{self.http}\n\n"
            f"[Metrics]\nListen = 127.0.0.1:{self.gw_metrics}\n"),
            args=["--control", str(self.gw_sock)])
        self.client = None
        try:
            self.proxy_port = free_tcp_port()
            self.client = Notun(notun, tmp_path, (
                f"[Interface]\nPrivateKey = {self.client_keys.private}\n"
                f"Address = {CLIENT_IP}/32\n\n[Peer]\nPublicKey = {self.gw_keys.public}\n"
                f"Endpoint = 127.0.0.1:{self.gw_port}\nAllowedIPs = 10.99.0.0/24\n\n"
                f"[Proxy]\nListen = 127.0.0.1:{self.proxy_port}\n\n"
                f"[Metrics]\nListen = 127.0.0.1:{self.cl_metrics}\n"),
                args=["--control", str(self.cl_sock)])
            self.client.wait_listening(self.proxy_port)
        except Exception:
            self.close(check=False)
            raise

    def download(self, tmp_path, size=MIB):
        out = tmp_path / "down"
        r = curl(["--proxy", f"socks5h://127.0.0.1:{self.proxy_port}", "-o", str(out),
                  f"http://{GW_IP}:{self.http}/bytes/{size}?seed=st"])
        assert r.returncode == 0, r.stderr + self.client.read_log()[-3000:]
        assert out.stat().st_size == size

    def close(self, check=True):
        if self.client:
            self.client.stop(check=check)
        self.gateway.stop(check=check)


@pytest.fixture
def sockdir():
    # World-traversable (the refusal test connects as nobody); removed after.
    d = tempfile.mkdtemp(prefix="notun-ctl-")
    os.chmod(d, 0o755)
    yield __import__("pathlib").Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def world(notun, tmp_path, servers, sockdir):  # noqa: F811
    w = StaticWorld(notun, tmp_path, servers, sockdir)
    yield w
    w.close()


def test_status_json_client_and_gateway_bytes_grow_with_a_transfer(notun, tmp_path, world):
    w = world
    w.download(tmp_path, 4096)
    cl0, gw0 = status_json(notun, w.cl_sock), status_json(notun, w.gw_sock)
    w.download(tmp_path, 2 * MIB)
    cl, gw = status_json(notun, w.cl_sock), status_json(notun, w.gw_sock)

    assert cl["version"] == 1 and cl["role"] == "client" and cl["name"] == "client"
    assert cl["ready"] is True and cl["portal"] is None
    assert cl["pid"] == w.client.proc.pid
    (peer,) = cl["peers"]
    assert peer["public_key"] == w.gw_keys.public
    assert peer["endpoint"] == f"127.0.0.1:{w.gw_port}"
    assert peer["session"] is True
    assert 0 <= peer["latest_handshake_age_seconds"] < 60
    assert abs(peer["latest_handshake"] - time.time()) < 60
    # The client received the 2 MiB: its peer's received bytes grew by them.
    assert peer["rx_bytes"] - cl0["peers"][0]["rx_bytes"] >= 2 * MIB
    assert cl["counters"]["engine"]["via_tunnel"] == cl0["counters"]["engine"]["via_tunnel"] + 1
    assert cl["counters"]["proxy"]["connect_ok"] >= 2
    assert cl["counters"]["flow"]["bytes_in"] - cl0["counters"]["flow"]["bytes_in"] >= 2 * MIB

    assert gw["role"] == "gateway" and gw["name"] == "gateway" and gw["ready"] is True
    (gpeer,) = gw["peers"]
    assert gpeer["public_key"] == w.client_keys.public and gpeer["name"] is None
    assert gpeer["endpoint"].startswith("127.0.0.1:")
    assert gpeer["tx_bytes"] - gw0["peers"][0]["tx_bytes"] >= 2 * MIB
    assert gpeer["flows"]["bytes_down"] - gw0["peers"][0]["flows"]["bytes_down"] >= 2 * MIB
    assert gpeer["flows"]["tcp_flows"] == gw0["peers"][0]["flows"]["tcp_flows"] + 1
    assert gw["counters"]["gateway"]["tcp_flows"] >= 2
    assert "engine" not in gw["counters"]


def test_status_text_client_and_gateway(notun, tmp_path, world):
    w = world
    w.download(tmp_path, 4096)
    text = status(notun, "--control", str(w.cl_sock)).stdout
    assert text.startswith(f"notun client client (pid {w.client.proc.pid}), up ")
    assert f"peer {w.gw_keys.public}\n" in text
    assert f"endpoint: 127.0.0.1:{w.gw_port}\n" in text
    assert " s ago\n" in text and "B received" in text
    text = status(notun, "--control", str(w.gw_sock)).stdout
    assert text.startswith("notun gateway gateway")
    assert f"peer {w.client_keys.public}\n" in text
    assert "flows: 0 open, 1 tcp" in text


def test_metrics_page_parses_and_moves_with_traffic(notun, tmp_path, world):
    w = world
    key = ("notun_peer_rx_bytes_total", (("name", ""), ("peer", w.gw_keys.public)))
    before = metrics(w.cl_metrics)
    w.download(tmp_path, MIB)
    after = metrics(w.cl_metrics)
    assert after[key] - before.get(key, 0) >= MIB
    assert after[("notun_ready", ())] == 1
    assert after[("notun_engine_opens_total", ())] == before[("notun_engine_opens_total", ())] + 1
    assert after[("notun_flow_tcp_open", ())] >= 0
    gkey = ("notun_gateway_peer_down_bytes_total",
            (("name", ""), ("peer", w.client_keys.public)))
    g = metrics(w.gw_metrics)
    assert g[gkey] >= MIB
    assert g[("notun_info", (("name", "gateway"), ("role", "gateway")))] == 1
    assert g[("notun_peer_last_handshake_timestamp_seconds",
              (("name", ""), ("peer", w.client_keys.public)))] > time.time() - 60
    assert http_get(w.cl_metrics, "/healthz") == (200, "ok\n")
    assert http_get(w.gw_metrics, "/readyz") == (200, "ready\n")
    assert http_get(w.cl_metrics, "/nope")[0] == 404
    assert http_get(w.cl_metrics, "/metrics", method="POST")[0] == 405
    assert http_get(w.cl_metrics, "/metrics", method="HEAD") == (200, "")


def test_metrics_endpoint_bounds_requests_and_slow_clients(world):
    w = world
    # A header section over the limit: 431, the connection closed.
    with socket.create_connection(("127.0.0.1", w.cl_metrics), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431 ")
    # Slow clients that never finish hold a slot each, not the loop: the
    # page still answers while 10 of them wait.
    idle = [socket.create_connection(("127.0.0.1", w.cl_metrics), timeout=10) for _ in range(10)]
    try:
        for s in idle:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
        assert http_get(w.cl_metrics, "/healthz")[0] == 200
    finally:
        for s in idle:
            s.close()


def test_status_exit_codes(notun, tmp_path):
    assert status(notun, check=False).returncode == 2
    assert status(notun, "-c", "x.conf", "--control", "y", check=False).returncode == 2
    assert status(notun, "--bogus", check=False).returncode == 2
    r = status(notun, "--control", str(tmp_path / "none.sock"), check=False)
    assert r.returncode == 1 and "No such file" in r.stderr


def test_control_socket_default_path_mode_stale_and_removal(notun, tmp_path, servers):  # noqa: F811
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    (runtime / "notun").mkdir(mode=0o700)
    path = runtime / "notun" / "client.sock"
    # A stale socket file, as a killed process leaves it: nothing listens.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    keys, gw = KeyPair(notun), KeyPair(notun)
    port = free_tcp_port()
    n = Notun(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {keys.private}\nAddress = {CLIENT_IP}/32\n\n"
        f"[Peer]\nPublicKey = {gw.public}\nEndpoint = 127.0.0.1:9\nAllowedIPs = 10.99.0.0/24\n\n"
        f"[Proxy]\nListen = 127.0.0.1:{port}\n"), env=env)
    try:
        n.wait_listening(port)
        wait_for(lambda: "event=control_listening" in n.read_log())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_ISSOCK(path.stat().st_mode)
        r = subprocess.run([notun, "status", "--json", "-c", str(n.conf)], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        # Never handshaken: no endpoint learnt... but the file's, and no handshake.
        peer = json.loads(r.stdout)["peers"][0]
        assert peer["latest_handshake"] is None and peer["session"] is False
        # A second client of the same file finds a live socket: it runs on
        # without one, and says so.
        port2 = free_tcp_port()
        conf2 = tmp_path / "second" / "client.conf"
        conf2.parent.mkdir()
        n2 = Notun(notun, conf2.parent, n.conf.read_text().replace(str(port), str(port2)),
                   env=env)
        try:
            n2.wait_listening(port2)
            wait_for(lambda: "event=control_unavailable" in n2.read_log())
            assert "Address already in use" in n2.read_log()
        finally:
            n2.stop()
        assert path.exists(), "the second client removed the first one's socket"
    finally:
        n.stop()
    assert not path.exists(), "the socket file outlived the process"


def test_control_socket_refuses_another_user_by_peer_credentials(notun, world):
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user (nobody)")
    w = world
    # Open the file's mode: only the server's credential check stands.
    os.chmod(w.cl_sock, 0o666)

    def as_nobody():
        os.setgid(NOBODY)
        os.setgroups([])
        os.setuid(NOBODY)

    r = status(notun, "--json", "--control", str(w.cl_sock), check=False, preexec_fn=as_nobody)
    assert r.returncode == 1
    assert "refused" in r.stderr and r.stdout == ""
    wait_for(lambda: f"event=control_refused uid={NOBODY}" in w.client.read_log())
    # The same request from our own user is answered.
    assert status_json(notun, w.cl_sock)["role"] == "client"


def test_readyz_gateway_503_until_joined_then_200(notun, tmp_path):
    from test_gateway_portal import PortalGateway
    from test_portal import Portal, new_token

    tokens = {"gw1": new_token(notun, "gateway")}
    pport = free_tcp_port()
    conf = tmp_path / "portal.conf"
    conf.write_text(f"[Portal]\nListen = 127.0.0.1:{pport}\nClientAddresses = 100.64.0.0/24\n"
                    f"[Site office]\n[Gateway gw1]\nSite = office\n{tokens['gw1'][1]}\n")
    portal = Portal(notun, conf).start()
    fp = portal.fingerprint()
    portal.stop()
    mport, gw_port = free_tcp_port(), free_udp_port("127.0.0.1")
    gw = PortalGateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {KeyPair(notun).private}\nListenPort = {gw_port}\n"
        f"Address = 10.215.0.1/32\n\n[Portal]\nURL = wss://127.0.0.1:{pport}\n"
        f"Token = {tokens['gw1'][0]}\nFingerprint = {fp}\n"
        f"Advertise = 127.0.0.1:{gw_port}\n\n[Metrics]\nListen = 127.0.0.1:{mport}\n"))
    try:
        wait_for(lambda: "event=metrics_listening" in gw.read_log())
        assert http_get(mport, "/readyz") == (503, "not ready\n")
        assert http_get(mport, "/healthz")[0] == 200
        assert metrics(mport)[("notun_portal_joined", ())] == 0
        portal.start()
        wait_for(lambda: http_get(mport, "/readyz")[0] == 200, timeout=30)
        assert metrics(mport)[("notun_portal_joined", ())] == 1
        r = run([notun, "status", "--json", "-c", str(gw.conf)])
        assert json.loads(r.stdout)["portal"] == {"joined": True}
    finally:
        gw.stop()
        portal.stop()


def test_status_portal_client_resource_granted_with_expiry(notun, tmp_path):
    from test_client_portal import portal_world

    with portal_world(notun, tmp_path) as w:
        before = json.loads(run([notun, "status", "--json", "-c", str(w["conf"])]).stdout)
        (web,) = [r for r in before["resources"] if r["id"] == "web"]
        assert web["access"] == "none" and web["expires_at"] is None
        assert before["portal"] == {"joined": True} and before["ready"] is True
        r = curl(["--socks5", "127.0.0.1:%d" % w["proxy"][1], w["url"] + "/hello"], timeout=40)
        assert r.returncode == 0, r.stderr
        after = json.loads(run([notun, "status", "--json", "-c", str(w["conf"])]).stdout)
        (web,) = [r for r in after["resources"] if r["id"] == "web"]
        assert web["access"] == "granted" and web["gateway"] == "gw1"
        # AccessTTL = 1h
        assert 3500 <= web["expires_in_seconds"] <= 3600
        assert abs(web["expires_at"] - (after["time"] + web["expires_in_seconds"])) <= 1
        (peer,) = after["peers"]
        assert peer["name"] == "gw1" and peer["rx_bytes"] > 0
        assert after["counters"]["portal"]["requests"] >= 1
        assert after["counters"]["pending"]["flushed"] >= 1
        text = run([notun, "status", "-c", str(w["conf"])]).stdout
        assert "web" in text and "granted via gw1, expires in" in text
        gw = json.loads(run([notun, "status", "--json", "-c", str(w["gw"].conf)]).stdout)
        (gpeer,) = gw["peers"]
        assert gpeer["name"] == "alice" and gpeer["flows"]["tcp_flows"] >= 1
        assert gw["counters"]["gateway"]["grants"] == 1
