# SPDX-License-Identifier: MIT
"""The client under a portal (issue 13, cidr resources): `notun portal`,
`notun gateway` and `notun up` with a [Portal] section, all notun. The
resource is an HTTP server on an address of a veth the test creates (not
loopback: grants never open the gateway host's loopback). A first
connection opens its flow at once, its packets wait while access is
requested, then leave through the gateway's WireGuard peer. Refusals come
back at once with the resource named; a port outside the filters is
refused with no request sent. Every wait is bounded."""
import contextlib
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import time

import pytest

from client import Notun, curl, free_tcp_port, sha256_of_file
from conftest import run
from httpsrv import pattern_sha256
from socks import connect
from test_gateway_portal import PortalGateway
from test_portal import Portal, new_token
from wgtun import KeyPair, free_udp_port

HERE = os.path.dirname(os.path.abspath(__file__))


def portal_config(port, tokens, res_ip, http_port, ttl="1h", extra="", allow="alice",
                  state=None):
    return (f"[Portal]\nListen = 127.0.0.1:{port}\nAccessTTL = {ttl}\n"
            + (f"State = {state}\n" if state else "") +
            "ClientAddresses = 100.64.0.0/24\n"
            "[Site office]\n[Site attic]\n"
            f"[Gateway gw1]\nSite = office\n{tokens['gw1'][1]}\n"
            f"[Client alice]\n{tokens['alice'][1]}\n"
            f"[Client bob]\n{tokens['bob'][1]}\n"
            f"[Resource web]\nAddress = {res_ip}/32\nFilters = tcp:{http_port}\n"
            f"Sites = office\nAllow = {allow}\n"
            "[Resource secret]\nAddress = 10.214.0.7/32\nSites = office\nAllow = bob\n"
            "[Resource attic]\nAddress = 10.214.0.8/32\nSites = attic\nAllow = alice\n"
            + extra)


def client_config(pport, token, fingerprint, proxy_port, timeout="15s"):
    # No PrivateKey, no Address, no [Peer]: the portal gives the rest.
    return (f"[Interface]\n\n[Portal]\nURL = wss://127.0.0.1:{pport}\nToken = {token}\n"
            f"Fingerprint = {fingerprint}\n\n[Proxy]\nListen = 127.0.0.1:{proxy_port}\n"
            f"ConnectTimeout = {timeout}\n")


@contextlib.contextmanager
def portal_world(notun, tmp_path, ttl="1h", extra=lambda ns, http_port: "", timeout="15s",
                 gw_extra=""):
    """A portal (with a state file), gateway gw1 and client alice; the
    resource web is an HTTP server on the test veth. extra(ns, http_port) adds to the
    portal's configuration, gw_extra to the gateway's; the dict yielded has what the
    tests need."""
    from netns import Namespace, require_netns
    require_netns()
    ns = Namespace()
    portal = gw = srv = client = None
    try:
        tokens = {"alice": new_token(notun, "client"), "bob": new_token(notun, "client"),
                  "gw1": new_token(notun, "gateway")}
        res_ip, http_port = ns.host_ip2, free_tcp_port()
        srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), res_ip,
                                str(http_port)], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        pport = free_tcp_port()
        conf = tmp_path / "portal.conf"

        def configure(**kw):
            conf.write_text(portal_config(pport, tokens, res_ip, http_port, ttl=ttl,
                                          extra=extra(ns, http_port), state=tmp_path / "portal.state",
                                          **kw))
        configure()
        portal = Portal(notun, conf).start()
        fp = portal.fingerprint()
        gw_port = free_udp_port("127.0.0.1")
        gw = PortalGateway(notun, tmp_path, (
            f"[Interface]\nPrivateKey = {KeyPair(notun).private}\nListenPort = {gw_port}\n"
            f"Address = 10.215.{ns.n}.1/32\n\n[Portal]\nURL = wss://127.0.0.1:{pport}\n"
            f"Token = {tokens['gw1'][0]}\nFingerprint = {fp}\n"
            f"Advertise = 127.0.0.1:{gw_port}\n" + gw_extra))
        portal.wait_log("event=joined gid=gw1")
        proxy_port = free_tcp_port()
        cconf = client_config(pport, tokens["alice"][0], fp, proxy_port, timeout)
        client = Notun(notun, tmp_path, cconf)
        client.wait_listening(proxy_port)
        wait_for(lambda: "event=portal_init" in client.read_log())
        yield {"portal": portal, "gw": gw, "client": client, "res_ip": res_ip,
               "http_port": http_port, "proxy": ("127.0.0.1", proxy_port),
               "tokens": tokens, "conf": tmp_path / "client.conf", "tmp": tmp_path,
               "ns": ns, "configure": configure,
               "url": f"http://{res_ip}:{http_port}"}
        client.stop()
        client = None
    finally:
        if client:
            client.stop(check=False)
        if gw:
            gw.stop()
        if portal:
            portal.stop()
        if srv:
            srv.terminate()
            srv.wait(timeout=10)
        ns.close()


@pytest.fixture
def world(notun, tmp_path):
    with portal_world(notun, tmp_path) as w:
        yield w


def wait_for(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_cidr_resource_through_socks5_and_http(world):
    w = world
    url = f"http://{w['res_ip']}:{w['http_port']}/bytes/{1 << 20}?seed=cp"
    out = w["tmp"] / "down"
    port = w["proxy"][1]
    # The first connection waits for the portal, the gateway and the handshake.
    r = curl(["--socks5", f"127.0.0.1:{port}", "-o", str(out), url], timeout=40)
    assert r.returncode == 0, r.stderr + w["client"].read_log()
    assert sha256_of_file(out) == pattern_sha256(1 << 20, "cp")
    r = curl(["--proxy", f"http://127.0.0.1:{port}", "-o", str(out), url], timeout=40)
    assert r.returncode == 0, r.stderr + w["client"].read_log()
    assert sha256_of_file(out) == pattern_sha256(1 << 20, "cp")
    log = w["client"].read_log()
    assert "event=access_granted rid=web gid=gw1" in log
    assert w["tokens"]["alice"][0] not in log


def test_offline_and_filtered_fail_at_once(world):
    w = world
    port = w["proxy"][1]
    # No gateway of site attic is online.
    rep, _ = connect(w["proxy"], "10.214.0.8", 80)
    assert rep == 0x03, w["client"].read_log()
    r = curl(["--proxy", f"http://127.0.0.1:{port}", "-i", "http://10.214.0.8/"], timeout=20)
    assert "502" in r.stdout.splitlines()[0] and "attic" in r.stdout, r.stdout
    # A port outside web's filters: refused here, the portal hears nothing.
    mark = len(w["portal"].lines)
    t = time.monotonic()
    rep, _ = connect(w["proxy"], w["res_ip"], w["http_port"] + 1)
    assert rep == 0x02 and time.monotonic() - t < 1
    time.sleep(0.3)
    assert not any("rid=web" in line for line in w["portal"].lines[mark:]), w["portal"].lines
    assert "event=port_refused rid=web" in w["client"].read_log()


def test_notun_run_on_a_portal_configuration(world, notun):
    w = world
    w["client"].stop()
    url = f"http://{w['res_ip']}:{w['http_port']}/bytes/4096?seed=run"
    r = subprocess.run([notun, "run", "-c", str(w["conf"]), "--", "curl", "--silent",
                        "--max-time", "30", url], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert len(r.stdout) == 4096


def http_over(sock, host, port):
    """An HTTPConnection on a socket the proxy already connected."""
    sock.settimeout(5)
    conn = http.client.HTTPConnection(host, port)
    conn.sock = sock
    return conn


def full_log(notun_up):
    """The whole log (read_log gives its tail)."""
    return notun_up.log_path.read_text()


class Held:
    """One HTTP/1.1 keep-alive connection to web through the SOCKS5 proxy,
    used by request after request (curl's --limit-rate does not pace what
    crosses the tunnel: the socket buffers take it all at once)."""

    def __init__(self, w):
        rep, sock = connect(w["proxy"], w["res_ip"], w["http_port"], timeout=30)
        assert rep == 0, w["client"].read_log()[-3000:]
        self.conn = http_over(sock, w["res_ip"], w["http_port"])

    def fetch(self, n, seed):
        """The body's sha256 matches, else AssertionError; OSError when the
        connection breaks."""
        self.conn.request("GET", f"/bytes/{n}?seed={seed}")
        body = self.conn.getresponse().read()
        assert hashlib.sha256(body).hexdigest() == pattern_sha256(n, seed), len(body)

    def close(self):
        self.conn.close()


def grants_of(portal, rid):
    return [line for line in list(portal.lines)
            if "event=authorization_created" in line and f"rid={rid} " in line]


def test_a_10s_grant_is_renewed_under_an_active_flow(notun, tmp_path):
    with portal_world(notun, tmp_path, ttl="10s") as w:
        held = Held(w)
        try:
            # 64 KiB every 0.25 s for 16 s, on one connection: across the
            # renewal (at 9 s) and the first grant's expiry (10 s).
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < 16:
                t = time.monotonic()
                held.fetch(1 << 16, f"ttl{i}")
                assert time.monotonic() - t < 2, i
                i += 1
                time.sleep(0.25)
        finally:
            held.close()
        assert len(grants_of(w["portal"], "web")) >= 2, w["portal"].lines
        assert "event=access_renewed rid=web" in full_log(w["client"])


def test_revoke_mid_transfer_ends_the_flow(notun, tmp_path):
    with portal_world(notun, tmp_path) as w:
        held = Held(w)
        n = 64 << 20
        got = 0
        try:
            held.conn.request("GET", f"/bytes/{n}?seed=rev")
            body = held.conn.getresponse()
            got += len(body.read(1 << 20))
            # alice loses web: the portal revokes her grant on reload.
            w["configure"](allow="bob")
            w["portal"].proc.send_signal(signal.SIGHUP)
            w["portal"].wait_log("event=reloaded")
            t = time.monotonic()
            # Read on at about 2 MiB/s: far from the end in 5 s unless cut.
            with pytest.raises((OSError, http.client.HTTPException)):
                while time.monotonic() - t < 5:
                    chunk = body.read(1 << 16)
                    if not chunk:
                        raise ConnectionError("closed")
                    got += len(chunk)
                    time.sleep(0.03)
            assert time.monotonic() - t < 5 and got < n
        finally:
            held.close()
        # The gateway's reset (the portal told it too) may come before the
        # client has read its own revocation: wait for it, within bounds.
        wait_for(lambda: "event=access_ended rid=web" in full_log(w["client"]))


def serve_http(addr, port):
    srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), addr, str(port)],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "ready"
    return srv


def in_thread(fn, *args):
    """fn(*args) on a thread; .result holds what it returned or raised."""
    import threading

    class Run(threading.Thread):
        result = None

        def run(self):
            try:
                self.result = fn(*args)
            except Exception as e:  # reported by the test's assert
                self.result = e
    th = Run(daemon=True)
    th.start()
    return th


def test_portal_killed_mid_transfer(notun, tmp_path):
    """The portal dies (SIGKILL) during a 64 MiB download: the download
    completes intact on its grant; a new resource waits for the portal and
    works once it is back (same configuration and state file)."""
    def second(ns, http_port):
        return (f"[Resource web2]\nAddress = {ns.host_ip}/32\nFilters = tcp:{http_port}\n"
                "Sites = office\nAllow = alice\n")
    # ConnectTimeout 60 s: after the outage both the client and the gateway
    # reconnect on the section 3 backoff (grown to several seconds by then),
    # then the request waits out the portal's rejoin grace.
    with portal_world(notun, tmp_path, timeout="60s", extra=second) as w:
        srv2 = serve_http(w["ns"].host_ip, w["http_port"])
        held = Held(w)
        waiter = None
        try:
            n = 64 << 20
            held.conn.request("GET", f"/bytes/{n}?seed=kill")
            body = held.conn.getresponse()
            h = hashlib.sha256(body.read(1 << 20))
            w["portal"].proc.kill()
            w["portal"].proc.wait(10)
            killed = time.monotonic()
            waiter = in_thread(lambda: connect(w["proxy"], w["ns"].host_ip, w["http_port"],
                                               timeout=75))
            while True:
                chunk = body.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
            assert h.hexdigest() == pattern_sha256(n, "kill")
            time.sleep(max(0.0, 2 - (time.monotonic() - killed)))
            assert waiter.is_alive(), waiter.result
            # The client is back before the gateway (held stopped): the new
            # portal has not seen gw1 yet, and must not call web2 offline.
            gw_pid = w["gw"].proc.pid
            os.kill(gw_pid, signal.SIGSTOP)
            try:
                w["portal"].start()
                wait_for(lambda: full_log(w["client"]).count("event=portal_init") >= 2)
                time.sleep(0.5)
            finally:
                os.kill(gw_pid, signal.SIGCONT)
            waiter.join(70)
            assert not waiter.is_alive()
            rep, sock = waiter.result
            assert rep == 0, (rep, w["client"].read_log()[-3000:])
            conn = http_over(sock, w["ns"].host_ip, w["http_port"])
            conn.request("GET", "/hello")
            assert conn.getresponse().read() == b"hello through notun\n"
            conn.close()
        finally:
            held.close()
            srv2.terminate()
            srv2.wait(timeout=10)
        assert "event=access_granted rid=web2" in full_log(w["client"])


def test_one_syn_per_flow_opened_while_access_was_pending(world):
    """5 connections wait for access long enough for lwIP to retransmit their
    SYNs (the portal is held stopped); the pending buffer keeps the newest
    copy of each, so the gateway sees exactly one SYN per flow."""
    w = world
    n = 5
    pid = w["portal"].proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        waiters = [in_thread(lambda: connect(w["proxy"], w["res_ip"], w["http_port"],
                                             timeout=30)) for _ in range(n)]
        wait_for(lambda: full_log(w["client"]).count("event=connect target=") >= n)
        time.sleep(4.5)  # lwIP's first SYN retransmission comes after 3 s
    finally:
        os.kill(pid, signal.SIGCONT)
    for th in waiters:
        th.join(30)
        rep, sock = th.result
        assert rep == 0, (rep, w["client"].read_log()[-3000:])
        sock.close()
    dst = f"dst={w['res_ip']}:{w['http_port']} "
    syns = [line for line in w["gw"].read_log().splitlines()
            if "event=syn " in line and dst in line]
    assert len(syns) == n, syns
    assert len({line.split("src=")[1].split()[0] for line in syns}) == n
    w["client"].stop()
    stats = [line for line in full_log(w["client"]).splitlines() if "event=portal_stats" in line]
    replaced = int(stats[-1].split("replaced=")[1].split()[0])
    assert replaced >= n, stats  # the retransmissions did happen, and were replaced


def test_access_granted_after_lwips_syn_retries_still_connects(notun, tmp_path):
    """Access that takes longer than lwIP's six SYN retransmissions (the
    portal held stopped for 9 s): ConnectTimeout (30 s), not lwIP, is the
    deadline, since the SYNs never left the engine's pending buffer."""
    with portal_world(notun, tmp_path, timeout="30s") as w:
        pid = w["portal"].proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            waiter = in_thread(lambda: connect(w["proxy"], w["res_ip"], w["http_port"],
                                               timeout=40))
            wait_for(lambda: "event=connect target=" in full_log(w["client"]))
            time.sleep(9)
            assert waiter.is_alive(), waiter.result
        finally:
            os.kill(pid, signal.SIGCONT)
        waiter.join(35)
        assert not waiter.is_alive()
        rep, sock = waiter.result
        assert rep == 0, (rep, full_log(w["client"])[-3000:])
        sock.close()


MANY = 50


def many_addresses(ns):
    return [f"10.216.{ns.n}.{10 + i}" for i in range(MANY)]


def many_resources(ns, http_port):
    return "".join(f"[Resource m{i}]\nAddress = {ip}/32\nFilters = tcp:{http_port}\n"
                   "Sites = office\nAllow = alice\n" for i, ip in enumerate(many_addresses(ns)))


@contextlib.contextmanager
def many_listeners(w):
    """The MANY addresses of many_resources on the test veth, a listener on
    each that sends its address and closes; yields the addresses."""
    import selectors
    ips = many_addresses(w["ns"])
    batch = "".join(f"addr add {ip}/32 dev {w['ns'].host_if}\n" for ip in ips)
    run(["ip", "-batch", "-"], stdin=batch)
    sel, stop = selectors.DefaultSelector(), [False]
    listeners, acceptor = [], None
    try:
        for ip in ips:
            s = socket.create_server((ip, w["http_port"]))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            listeners.append(s)

        def accept():
            while not stop[0]:
                for key, _ in sel.select(0.2):
                    conn, _ = key.fileobj.accept()
                    conn.sendall(key.fileobj.getsockname()[0].encode())
                    conn.close()
        acceptor = in_thread(accept)
        yield ips
    finally:
        stop[0] = True
        if acceptor:
            acceptor.join(5)
        for s in listeners:
            s.close()
        sel.close()


def cold_request(w, ip, timeout):
    """A CONNECT to one of many_listeners: (its address or the SOCKS reply
    code, seconds it took)."""
    start = time.monotonic()
    rep, sock = connect(w["proxy"], ip, w["http_port"], timeout=timeout)
    if rep != 0:
        return rep, time.monotonic() - start
    with sock:
        sock.settimeout(10)
        return sock.recv(64).decode(), time.monotonic() - start


def test_50_resources_behind_one_new_gateway_at_once(notun, tmp_path):
    """50 resources (50 /32 addresses on the test veth, one listener each)
    requested at the same moment: every CONNECT succeeds, and the client and
    gateway made one WireGuard session between them."""
    with portal_world(notun, tmp_path, extra=many_resources) as w, many_listeners(w) as ips:
        start = time.monotonic()
        runs = [in_thread(cold_request, w, ip, 30) for ip in ips]
        for th in runs:
            th.join(max(0.1, 40 - (time.monotonic() - start)))
        results = [th.result[0] for th in runs]
        assert results == ips, (results, w["client"].read_log()[-3000:])
        assert len([line for line in w["portal"].lines if "event=authorization_created" in line
                    and " rid=m" in line]) == MANY
        shakes = [line for line in w["gw"].read_log().splitlines()
                  if "event=handshake_complete" in line]
        assert len(shakes) == 1, shakes
        assert full_log(w["client"]).count("event=gateway_peer_added") == 1


COLD_TIMEOUT_S = 15


def test_portal_killed_during_50_cold_requests(notun, tmp_path):
    """SIGKILL of the portal as 50 first requests to 50 resources go out; it
    is back 2 s later. Each CONNECT succeeds (after the client's reconnect)
    or fails 0x04 at its ConnectTimeout; none hangs."""
    with portal_world(notun, tmp_path, extra=many_resources,
                      timeout=f"{COLD_TIMEOUT_S}s") as w, many_listeners(w) as ips:
        start = time.monotonic()
        runs = [in_thread(cold_request, w, ip, COLD_TIMEOUT_S + 10) for ip in ips]
        w["portal"].proc.kill()
        w["portal"].proc.wait(10)
        time.sleep(2)
        w["portal"].start()
        for th in runs:
            th.join(max(0.1, COLD_TIMEOUT_S + 5 - (time.monotonic() - start)))
        assert not any(th.is_alive() for th in runs), "a request hangs"
        for ip, th in zip(ips, runs):
            assert not isinstance(th.result, Exception), (ip, th.result)
            got, took = th.result
            assert got == ip or (got == 0x04 and COLD_TIMEOUT_S - 1 < took < COLD_TIMEOUT_S + 3), \
                (ip, got, took, w["client"].read_log()[-3000:])
        print("outcomes:", sorted((str(r[0]) == ip, round(r[1], 1))
                                  for ip, r in zip(ips, (th.result for th in runs))))


# ---- a fake portal drives the client ----

RES = {"id": "r-x", "type": "cidr", "address": "10.214.9.0/24", "name": "x",
       "filters": [{"protocol": "tcp", "port_range_start": 80, "port_range_end": 80}],
       "sites": [{"id": "s", "name": "s"}]}


@pytest.fixture
def fake(notun, tmp_path):
    from test_gateway_portal import FakePortal
    token = new_token(notun, "client")[0]
    portal = FakePortal(token, "100.64.0.9", topic="client")
    portal.client_init["resources"] = [RES, {"id": "r-d", "type": "dns",
                                              "address": "*.corp", "name": "d"}]
    proxy_port = free_tcp_port()
    cfg = (f"[Interface]\n[Portal]\nURL = ws://127.0.0.1:{portal.port}\nToken = {token}\n"
           f"[Proxy]\nListen = 127.0.0.1:{proxy_port}\nConnectTimeout = 3s\n")
    client = Notun(notun, tmp_path, cfg)
    try:
        client.wait_listening(proxy_port)
        portal.wait_frame("phx_join")
        wait_for(lambda: "event=portal_init" in client.read_log())
        yield portal, client, ("127.0.0.1", proxy_port)
        client.stop()
    finally:
        client.stop(check=False)
        portal.close()


def test_a_portal_that_never_answers_gives_0x04_at_connect_timeout(fake):
    portal, client, proxy = fake
    t = time.monotonic()
    rep, _ = connect(proxy, "10.214.9.3", 80, timeout=10)
    took = time.monotonic() - t
    assert rep == 0x04 and 2.5 < took < 4.5, (rep, took, client.read_log())
    # Asked at once, and again every 2 s while pending.
    _, f = portal.wait_frame("request_authorization")
    assert f["payload"] == {"resource_id": "r-x", "connected_gateway_ids": []}
    portal.wait_frame("request_authorization")
    assert "rid=r-x" in client.read_log()


def test_forbidden_fails_at_once_with_the_resource_named(fake):
    portal, client, proxy = fake
    port = proxy[1]

    def refuse():
        portal.wait_frame("request_authorization")
        portal.push("authorization_creation_failed", {"resource_id": "r-x",
                                                      "reason": "forbidden"})
    import threading
    th = threading.Thread(target=refuse)
    th.start()
    t = time.monotonic()
    rep, _ = connect(proxy, "10.214.9.3", 80, timeout=10)
    th.join(10)
    assert rep == 0x02 and time.monotonic() - t < 1, client.read_log()
    th = threading.Thread(target=refuse)
    th.start()
    r = curl(["--proxy", f"http://127.0.0.1:{port}", "-i", "http://10.214.9.3/"], timeout=20)
    th.join(10)
    assert "403" in r.stdout.splitlines()[0] and "r-x" in r.stdout, r.stdout
    assert "forbidden" in r.stdout


def test_unrequested_grant_and_malformed_pushes_are_harmless(fake):
    portal, client, proxy = fake
    portal.push("authorization_created", {
        "resource_id": "r-x", "gateway_id": "g1",
        "gateway_public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "gateway_endpoint": "127.0.0.1:9", "gateway_ipv4": "100.64.0.1",
        "gateway_ipv6": "fd00::1",
        "preshared_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "site_id": "s", "expires_at": int(time.time()) + 3600})
    for event, payload in (("resource_created_or_updated", {"id": 5}),
                           ("authorization_created", {"resource_id": "r-x"}),
                           ("init", "nonsense"), ("resource_deleted", {"x": 1}),
                           ("authorization_revoked", {"resource_id": 7}), ("what_is_this", {})):
        portal.push(event, payload)
    wait_for(lambda: client.read_log().count("event=portal_message_invalid") >= 5)
    log = client.read_log()
    assert "event=authorization_unrequested rid=r-x gid=g1" in log
    assert "event=gateway_peer_added" not in log
    # Still working: a filtered port is refused locally, the resource still routed.
    rep, _ = connect(proxy, "10.214.9.3", 81)
    assert rep == 0x02
    assert client.proc.poll() is None
