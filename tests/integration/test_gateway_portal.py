# SPDX-License-Identifier: MIT
"""notun gateway under a portal (portal-protocol.md sections 1-3 and 6): a
FAKE PORTAL written with Python's websockets (ws:// on loopback) hands the
real `notun gateway` its grants; a wireguard-go client in a network
namespace, with the grant's pre-shared key, fetches through it. The 401 case
uses chantool's server over wss:// with a pin. Every wait is bounded."""
import asyncio
import base64
import http
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import websockets

from client import free_tcp_port, sha256_of_file
from conftest import BUILD, run
from httpsrv import pattern_sha256
from test_gateway import secret_config
from test_gateway_grants import HOLD
from wgtun import KeyPair, free_udp_port

HERE = os.path.dirname(os.path.abspath(__file__))
CHANTOOL = os.path.join(BUILD, "tools", "chantool")
WAIT_S = 10
PREFIX = "/notun"  # the URL's path: the gateway appends /gateway/websocket


def gateway_token(notun):
    return run([notun, "portal", "token", "gateway"]).stdout.splitlines()[0].strip()


class FakePortal:
    """The gateway topic of a portal (or the client topic: topic="client",
    init's payload from self.client_init), on an asyncio loop in a thread.
    Frames it receives go to self.frames (with their arrival time); joins
    are answered ok and followed by init with self.authorizations;
    heartbeats, acknowledgements and requests are answered ok."""

    def __init__(self, token, gw_ip, topic="gateway"):
        self.token, self.gw_ip, self.topic = token, gw_ip, topic
        self.authorizations = []
        self.client_init = {"interface": {"ipv4": gw_ip, "ipv6": "fd00:214::2"},
                            "resources": []}
        self.frames = queue.Queue()
        self.opens = []
        self.ws = None
        self.port = free_tcp_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(WAIT_S)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(websockets.serve(
            self._handler, "127.0.0.1", self.port, process_request=self._check))
        self.ready.set()
        self.loop.run_forever()

    async def _check(self, path, headers):
        if headers.get("Authorization") != f"Bearer {self.token}":
            return (http.HTTPStatus.UNAUTHORIZED, [], b"")
        return None

    async def _reply(self, ws, f):
        await ws.send(json.dumps({"topic": f["topic"], "event": "phx_reply", "ref": f["ref"],
                                  "payload": {"status": "ok", "response": {}}}))

    async def _handler(self, ws, path):
        self.opens.append(path)
        self.ws = ws
        try:
            async for msg in ws:
                f = json.loads(msg)
                self.frames.put((time.monotonic(), f))
                if f["event"] in ("phx_join", "heartbeat", "authorization_created",
                                  "request_authorization"):
                    await self._reply(ws, f)
                if f["event"] == "phx_join" and self.topic == "client":
                    await self._push(ws, "init", self.client_init)
                elif f["event"] == "phx_join":
                    await self._push(ws, "init", {
                        "interface": {"ipv4": self.gw_ip, "ipv6": "fd00:214::2"},
                        "authorizations": self.authorizations})
        except websockets.exceptions.ConnectionClosed:
            pass

    async def _push(self, ws, event, payload):
        await ws.send(json.dumps({"topic": self.topic, "event": event, "payload": payload,
                                  "ref": None}))

    def push(self, event, payload):
        asyncio.run_coroutine_threadsafe(self._push(self.ws, event, payload),
                                         self.loop).result(WAIT_S)

    def wait_frame(self, event, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event} from the {self.topic} within {timeout} s")
            try:
                t, f = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if f["event"] == event:
                return t, f

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(WAIT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)


class PortalGateway:
    """notun gateway -c FILE with a [Portal], its log in a file."""

    def __init__(self, notun, tmp_path, config):
        self.conf = tmp_path / "gw.conf"
        secret_config(self.conf, config)
        self.notun = notun
        self.log_path = tmp_path / "gw.log"
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.notun, "--log-level", "debug", "gateway", "-c",
                                      str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT)

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("notun gateway ignored SIGTERM: " + self.read_log()[-3000:])
        self.log.close()
        return self.proc.returncode


def gateway_config(keys, gw_port, gw_ip, url, token, extra=""):
    return (f"[Interface]\nPrivateKey = {keys.private}\nListenPort = {gw_port}\n"
            f"Address = {gw_ip}/32\n\n[Portal]\nURL = {url}\nToken = {token}\n{extra}")


def test_gateway_joins_portal_and_serves_its_grants(notun, tmp_path):
    from netns import Namespace, WireGuardGo, require_netns
    require_netns()
    ns = Namespace()
    portal = gw = wg = srv = hold_srv = other = None
    try:
        token = gateway_token(notun)
        client_keys, gw_keys = KeyPair(notun), KeyPair(notun)
        psk = run(["wg", "genpsk"]).stdout.strip()
        gw_port = free_udp_port("127.0.0.1")
        gw_ip, res_ip = f"10.214.{ns.n}.2", ns.host_ip2
        advertise = f"{ns.host_ip}:{gw_port}"
        http_port, hold_port, other_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
        srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), res_ip,
                                str(http_port)], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        hold_srv = socket.create_server((res_ip, hold_port))
        other = socket.create_server((res_ip, other_port))  # listening, never granted

        portal = FakePortal(token, gw_ip)
        gw = PortalGateway(notun, tmp_path, gateway_config(
            gw_keys, gw_port, gw_ip, f"ws://127.0.0.1:{portal.port}{PREFIX}", token,
            f"Advertise = {advertise}\n"))
        t_join, join = portal.wait_frame("phx_join")
        assert (join["topic"], join["ref"], join["payload"]) == ("gateway", 0, {})
        path, _, query = portal.opens[0].partition("?")
        assert path == PREFIX + "/gateway/websocket"
        q = urllib.parse.parse_qs(query)
        assert q["public_key"] == [gw_keys.public]
        assert q["endpoint"] == [advertise]

        wg = WireGuardGo(ns, client_keys.private, free_udp_port("127.0.0.1"))
        wg.add_peer(gw_keys.public, f"{gw_ip}/32,{res_ip}/32", psk=psk, endpoint=advertise)
        ns.run("ip", "route", "add", f"{res_ip}/32", "dev", wg.ifname)
        client = {"id": "c-1", "public_key": client_keys.public, "preshared_key": psk,
                  "ipv4": wg.tunnel_ip, "ipv6": wg.tunnel_ip6, "name": "alice"}
        resource = {"id": "r-web", "type": "cidr", "address": f"{res_ip}/32", "name": "web",
                    "filters": [{"protocol": "tcp", "port_range_start": p, "port_range_end": p}
                                for p in (http_port, hold_port)]}
        grant = {"resource": resource, "client": client, "expires_at": int(time.time()) + 3600}

        portal.push("create_authorization", dict(grant, ref="ref-7"))
        _, ack = portal.wait_frame("authorization_created")
        assert (ack["topic"], ack["payload"]) == ("gateway", {"ref": "ref-7"})
        out = tmp_path / "down"
        r = ns.run("curl", "--silent", "--show-error", "--max-time", "20", "-o", str(out),
                   f"http://{res_ip}:{http_port}/bytes/{1 << 20}?seed=portal", check=False)
        assert r.returncode == 0, r.stderr + gw.read_log()[-3000:]
        assert sha256_of_file(out) == pattern_sha256(1 << 20, "portal")

        # Not granted: ICMP prohibited, so curl fails at once (not a timeout).
        t = time.monotonic()
        r = ns.run("curl", "--silent", "--max-time", "8", f"http://{res_ip}:{other_port}/",
                   check=False)
        assert r.returncode == 7 and time.monotonic() - t < 3, r.returncode

        # reject_access resets the open flow.
        hold = ns.spawn("python3", "-c", HOLD, res_ip, str(hold_port), "15",
                        stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "connected"
        conn, _ = hold_srv.accept()
        portal.push("reject_access", {"client_id": "c-1", "resource_id": "r-web"})
        verdict = hold.stdout.readline().split()
        assert verdict[0] == "reset" and float(verdict[1]) < 5, verdict
        conn.close()

        # Heartbeats on the gateway topic's connection, every 10 s.
        t_beat, beat = portal.wait_frame("heartbeat", timeout=t_join + 12 - time.monotonic())
        assert (beat["topic"], beat["payload"]) == ("phoenix", {})
        assert beat["ref"] > 0

        # (d) A restarted gateway gets its grants back from init alone.
        assert gw.stop() == 0
        portal.authorizations = [grant]
        gw.start()
        portal.wait_frame("phx_join")
        ns.run("wg", "set", wg.ifname, "peer", gw_keys.public, "remove")
        wg.add_peer(gw_keys.public, f"{gw_ip}/32,{res_ip}/32", psk=psk, endpoint=advertise)
        r = ns.run("curl", "--silent", "--show-error", "--max-time", "15", "-o", str(out),
                   f"http://{res_ip}:{http_port}/bytes/65536?seed=again", check=False)
        assert r.returncode == 0, r.stderr + gw.read_log()[-3000:]
        assert sha256_of_file(out) == pattern_sha256(65536, "again")
        log = gw.read_log()
        assert "event=portal_init grants=1" in log
        assert psk not in log and token not in log
        assert gw.stop() == 0
        gw = None
    finally:
        if gw:
            gw.stop()
        if portal:
            portal.close()
        if wg:
            wg.close()
        for s in (hold_srv, other):
            if s:
                s.close()
        if srv:
            srv.terminate()
            srv.wait(timeout=10)
        ns.close()


def test_gateway_without_advertise_sends_its_source_address_and_listen_port(notun, tmp_path):
    # The protocol's default endpoint: the address the WebSocket connection
    # left from, with ListenPort (not the portal's guess of port 51820).
    token = gateway_token(notun)
    gw_port = free_udp_port("127.0.0.1")
    assert gw_port != 51820
    portal = FakePortal(token, "10.214.250.2")
    gw = None
    try:
        gw = PortalGateway(notun, tmp_path, gateway_config(
            KeyPair(notun), gw_port, "10.214.250.2", f"ws://127.0.0.1:{portal.port}", token))
        portal.wait_frame("phx_join")
        q = urllib.parse.parse_qs(portal.opens[0].partition("?")[2])
        assert q["endpoint"] == [f"127.0.0.1:{gw_port}"], gw.read_log()[-3000:]
    finally:
        if gw:
            gw.stop()
        portal.close()


def test_gateway_exits_2_when_the_portal_refuses_its_token(notun, tmp_path):
    port = free_tcp_port()
    srv = subprocess.Popen([CHANTOOL, "server", "--listen", "127.0.0.1", "--port", str(port),
                            "--selfsigned-dir", str(tmp_path), "--token", gateway_token(notun)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    gw = None
    try:
        line = srv.stdout.readline()
        assert line.startswith("listening fingerprint=SHA256:"), line
        fp = line.split("=", 1)[1].strip()
        gw = PortalGateway(notun, tmp_path, gateway_config(
            KeyPair(notun), free_udp_port("127.0.0.1"), "10.214.250.2",
            f"wss://127.0.0.1:{port}", gateway_token(notun), f"Fingerprint = {fp}\n"))
        assert gw.wait(WAIT_S) == 2, gw.read_log()[-3000:]
        log = gw.read_log()
        assert "the portal refused the token (HTTP 401): fix [Portal] Token" in log
        assert log.count("event=portal_connecting") == 1  # no retry
        gw = None
    finally:
        if gw:
            gw.stop()
        srv.terminate()
        srv.wait(timeout=10)


def test_gateway_exits_1_when_the_portal_never_answers(notun, tmp_path):
    # Nothing listens: section 3 retries every 1 s for 15 s, then gives up.
    gw = PortalGateway(notun, tmp_path, gateway_config(
        KeyPair(notun), free_udp_port("127.0.0.1"), "10.214.250.2",
        f"ws://127.0.0.1:{free_tcp_port()}", gateway_token(notun)))
    t = time.monotonic()
    try:
        assert gw.wait(25) == 1, gw.read_log()[-3000:]
    finally:
        if gw.proc.poll() is None:
            gw.proc.kill()
            gw.proc.wait(timeout=5)
    assert 14 < time.monotonic() - t < 25
    assert "gave up reaching the portal at ws://127.0.0.1:" in gw.read_log()


def test_gateway_takes_1024_portal_clients_beside_its_static_peers(notun, tmp_path):
    """The tunnel has room for every static peer a configuration may hold
    and the 1024 portal clients of max_portal_peers together: with one
    static [Peer], the 1024th client's grant is not refused for lack of a
    tunnel slot (it was: the tunnel's own default is 1024 peers in all)."""
    portal = gw = None
    try:
        token = gateway_token(notun)
        gw_keys, static_keys = KeyPair(notun), KeyPair(notun)
        portal = FakePortal(token, "10.99.0.1")
        gw = PortalGateway(notun, tmp_path, gateway_config(
            gw_keys, free_udp_port("127.0.0.1"), "10.99.0.1",
            f"ws://127.0.0.1:{portal.port}{PREFIX}", token,
            f"\n[Peer]\nPublicKey = {static_keys.public}\nAllowedIPs = 10.98.0.1/32\n"))
        portal.wait_frame("phx_join")
        resource = {"id": "r-1", "type": "cidr", "address": "10.97.0.1/32", "name": "r",
                    "filters": [{"protocol": "tcp", "port_range_start": 80,
                                 "port_range_end": 80}]}
        psk = run(["wg", "genpsk"]).stdout.strip()
        for i in range(1024):
            client = {"id": f"c-{i}", "name": f"c{i}", "preshared_key": psk,
                      # Any 32 bytes is a usable Curve25519 public key.
                      "public_key": base64.b64encode(os.urandom(32)).decode(),
                      "ipv4": f"100.64.{i // 200}.{i % 200 + 1}",
                      "ipv6": f"fd00:100::{i + 1:x}"}
            portal.push("create_authorization", {
                "resource": resource, "client": client, "ref": f"ref-{i}",
                "expires_at": int(time.time()) + 3600})
            _, ack = portal.wait_frame("authorization_created")
            assert ack["payload"] == {"ref": f"ref-{i}"}, (i, ack, gw.read_log()[-2000:])
        log = gw.read_log()
        assert "event=grant_refused" not in log, log[-2000:]
        assert log.count("event=grant_added ") == 1024
    finally:
        if gw:
            gw.stop()
        if portal:
            portal.close()
