# SPDX-License-Identifier: MIT
"""The portal channel (core/channel/) against independent peers, through
tests/tools/chantool: Python's `websockets` as client of the notun server
side, and as a TLS server (Python's ssl, a certificate made by `openssl`) for
the notun client side. Loopback only; every wait is bounded."""
import asyncio
import base64
import hashlib
import http
import json
import os
import ssl
import subprocess
import time

import pytest
import urllib.parse

import websockets
import websockets.exceptions
import websockets.frames

from conftest import BUILD, free_port

CHANTOOL = os.path.join(BUILD, "tools", "chantool")
KEY = base64.b64encode(bytes(range(32))).decode()  # has '+' and '/'
TOKEN = "ntg_test-token"


def spawn(args, **kw):
    return subprocess.Popen([CHANTOOL] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def server(tmp_path):
    port = free_port()
    p = spawn(["server", "--listen", "127.0.0.1", "--port", str(port), "--selfsigned-dir",
               str(tmp_path), "--token", TOKEN, "--idle-ms", "1500"])
    line = p.stdout.readline()
    assert line.startswith("listening fingerprint=SHA256:"), p.stderr.read()
    yield {"port": port, "fp": line.split("=", 1)[1].strip(), "dir": tmp_path, "proc": p}
    stop(p)


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def url(port, path="/gateway/websocket", key=KEY):
    return f"wss://127.0.0.1:{port}{path}?public_key={urllib.parse.quote(key, safe='')}"


def connect(port, token=TOKEN, max_size=2 ** 20, **kw):
    hdr = {"Authorization": f"Bearer {token}"} if token else {}
    return websockets.connect(url(port, **kw), ssl=client_ctx(), extra_headers=hdr,
                              open_timeout=5, close_timeout=2, max_size=max_size)


def frame(topic, event, payload, ref):
    return json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref})


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_server_cert_and_fingerprint(server):
    der = ssl.PEM_cert_to_DER_cert((server["dir"] / "portal-cert.pem").read_text())
    want = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert server["fp"] == want
    for name in ("portal-cert.pem", "portal-key.pem"):
        assert os.stat(server["dir"] / name).st_mode & 0o777 == 0o600


def test_server_refuses_bad_token_path_and_key(server):
    async def go():
        for token, kw, status in ((None, {}, 401), ("wrong", {}, 401),
                                  (TOKEN, {"path": "/other/websocket"}, 404),
                                  (TOKEN, {"key": "short"}, 400)):
            with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
                async with connect(server["port"], token, **kw):
                    pass
            assert e.value.status_code == status
    run(go())


def test_server_join_heartbeat_echo_idle(server):
    async def go():
        async with connect(server["port"]) as ws:
            await ws.send(frame("gateway", "phx_join", {}, 0))
            r = json.loads(await ws.recv())
            assert r == {"topic": "gateway", "event": "phx_reply", "ref": 0,
                         "payload": {"status": "ok", "response": {}}}
            await ws.send(frame("phoenix", "heartbeat", {}, 1))
            r = json.loads(await ws.recv())
            assert (r["topic"], r["event"], r["ref"], r["payload"]["status"]) == \
                ("phoenix", "phx_reply", 1, "ok")
            await ws.send(frame("gateway", "hello", {"x": 1}, 2))
            assert json.loads(await ws.recv())["payload"] == {"x": 1}
            # then silence: closed after --idle-ms (1.5 s)
            t0 = time.monotonic()
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert 1.0 < time.monotonic() - t0 < 4.5
    run(go())


def test_server_oversized_and_invalid_close_only_that_connection(server):
    async def go():
        async with connect(server["port"]) as bystander:
            async with connect(server["port"], max_size=None) as ws:
                await ws.send("x" * ((1 << 20) + 1))
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1009
            async with connect(server["port"]) as ws:
                await ws.send(b'{"topic":"gateway","event":"\xff","payload":{},"ref":1}'.decode(
                    "latin-1").encode("latin-1"))  # binary: refused as well
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1007
            async with connect(server["port"]) as ws:
                # invalid UTF-8 in a text frame: websockets refuses to send it, so raw bytes
                # go through its low-level writer
                await ws.write_frame(True, websockets.frames.OP_TEXT,
                                     b'{"topic":"gateway","event":"\xc3\x28","payload":{},"ref":1}')
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1007
            async with connect(server["port"]) as ws:
                await ws.send("not json")
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1007
            await bystander.send(frame("phoenix", "heartbeat", {}, 7))
            assert json.loads(await bystander.recv())["ref"] == 7
    run(go())


# ---- the client side against a Python websockets server -------------------

@pytest.fixture
def tls_files(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=test-portal"], check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    return cert, key, fp


class PyPortal:
    """A websockets server in a thread-free asyncio loop run by the test."""

    def __init__(self, cert, key, behaviour):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.behaviour = behaviour
        self.port = free_port()
        self.log = []
        self.busy = 0  # upgrades to answer 503 Retry-After: 3

    async def handler(self, ws, path):
        self.log.append(("open", time.monotonic(), path, ws.request_headers.get("Authorization")))
        await self.behaviour(self, ws)

    async def process_request(self, path, headers):
        # websockets 10 wants an HTTPStatus here: a plain int makes its
        # handler fail and close the connection without any response.
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            self.log.append(("401", time.monotonic(), path, None))
            return (http.HTTPStatus.UNAUTHORIZED, [], b"")
        if self.busy:
            self.busy -= 1
            self.log.append(("503", time.monotonic(), path, None))
            return (http.HTTPStatus.SERVICE_UNAVAILABLE, [("Retry-After", "3")], b"")
        return None

    def serve(self):
        return websockets.serve(self.handler, "127.0.0.1", self.port, ssl=self.ctx,
                                process_request=self.process_request)


async def answer_joins(portal, ws):
    async for msg in ws:
        f = json.loads(msg)
        portal.log.append(("frame", time.monotonic(), f["event"], f["ref"]))
        if f["event"] in ("phx_join", "heartbeat"):
            await ws.send(json.dumps({"topic": f["topic"], "event": "phx_reply", "ref": f["ref"],
                                      "payload": {"status": "ok", "response": {}}}))


def chan_client(port, *extra, token=TOKEN):
    return spawn(["client", "--url", f"wss://127.0.0.1:{port}", "--token", token,
                  "--topic", "gateway", "--public-key", KEY, "--name", "gw one"] + list(extra),
                 stdin=subprocess.PIPE)


async def read_event(p, timeout):
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, p.stdout.readline), timeout)
    return json.loads(line) if line else None


def test_client_joins_heartbeats_and_reconnects(tls_files):
    cert, key, fp = tls_files

    async def close_after_join(portal, ws):
        if sum(1 for e in portal.log if e[0] == "open") == 1:
            try:
                await asyncio.wait_for(answer_joins(portal, ws), 1.6)
            except asyncio.TimeoutError:
                pass
            return  # the server closes the first connection
        await answer_joins(portal, ws)

    portal = PyPortal(cert, key, close_after_join)

    async def go():
        async with portal.serve():
            p = chan_client(portal.port, "--fingerprint", fp, "--heartbeat-ms", "500")
            try:
                assert (await read_event(p, 5)) == {"event": "joined"}
                ev = await read_event(p, 5)
                assert ev["event"] == "disconnected"
                assert 250 <= ev["retry_ms"] <= 750  # 500 ms +-50 %
                assert (await read_event(p, 5)) == {"event": "joined"}
                p.stdin.write(frame("gateway", "authorization_created", {"ref": "x"}, None) + "\n")
                p.stdin.flush()
                await asyncio.sleep(0.3)
            finally:
                stop(p)
        opens = [e for e in portal.log if e[0] == "open"]
        assert len(opens) == 2
        path = opens[0][2]
        assert path.startswith("/gateway/websocket?public_key=")
        assert "public_key=" + urllib.parse.quote(KEY, safe="") in path
        assert "name=gw%20one" in path
        assert opens[0][3] == f"Bearer {TOKEN}"
        frames = [e for e in portal.log if e[0] == "frame"]
        first = [e for e in frames if e[1] < opens[1][1]]
        assert first[0][2:] == ("phx_join", 0)
        beats = [e for e in first if e[2] == "heartbeat"]
        assert len(beats) >= 2 and [b[3] for b in beats] == list(range(1, len(beats) + 1))
        gaps = [b[1] - a[1] for a, b in zip(beats, beats[1:])]
        assert all(0.35 < g < 0.9 for g in gaps), gaps
        second = [e for e in frames if e[1] > opens[1][1]]
        assert second[0][2:] == ("phx_join", 0)  # refs start over per connection
        assert any(e[2] == "authorization_created" for e in second)
    run(go())


def test_client_unauthorized_by_chantool_server_exits_2(server):
    p = spawn(["client", "--url", f"wss://127.0.0.1:{server['port']}", "--token", "ntg_wrong",
               "--topic", "gateway", "--fingerprint", server["fp"]], stdin=subprocess.PIPE)
    try:
        assert p.wait(10) == 2  # stdin stays open: only the 401 ends it
    finally:
        stop(p)
    out, err = p.stdout.read(), p.stderr.read()
    assert json.loads(out.splitlines()[0]) == {"event": "fatal", "reason": "unauthorized"}
    assert "event=portal_unauthorized" in err


def test_client_unauthorized_exits_2(tls_files):
    cert, key, fp = tls_files
    portal = PyPortal(cert, key, answer_joins)

    async def go():
        async with portal.serve():
            p = chan_client(portal.port, "--fingerprint", fp, token="ntg_wrong")
            try:
                ev = await read_event(p, 5)
                assert ev == {"event": "fatal", "reason": "unauthorized"}
                rc = await asyncio.get_running_loop().run_in_executor(None, p.wait, 5)
                assert rc == 2
            finally:
                stop(p)
        assert [e[0] for e in portal.log] == ["401"]  # no retry
    run(go())


def test_client_honours_503_retry_after(tls_files):
    cert, key, fp = tls_files
    portal = PyPortal(cert, key, answer_joins)
    portal.busy = 1

    async def go():
        async with portal.serve():
            p = chan_client(portal.port, "--fingerprint", fp)
            try:
                ev = await read_event(p, 5)
                # the early policy alone would say 1000
                assert ev == {"event": "disconnected", "reason": "http_status", "retry_ms": 3000}
                assert (await read_event(p, 8)) == {"event": "joined"}
            finally:
                stop(p)
        busy = [e for e in portal.log if e[0] == "503"]
        opens = [e for e in portal.log if e[0] == "open"]
        assert len(busy) == 1 and len(opens) == 1
        assert 2.9 <= opens[0][1] - busy[0][1] < 6
    run(go())


def test_client_pin_mismatch_refused_with_clear_error(tls_files):
    cert, key, _ = tls_files
    portal = PyPortal(cert, key, answer_joins)
    wrong = "SHA256:" + base64.b64encode(b"\x01" * 32).decode().rstrip("=")

    async def go():
        async with portal.serve():
            p = chan_client(portal.port, "--fingerprint", wrong)
            try:
                ev = await read_event(p, 5)
                assert ev["event"] == "disconnected" and ev["reason"] == "tls_pin_mismatch"
                ev = await read_event(p, 5)
                assert ev["event"] == "disconnected"
            finally:
                stop(p)
            err = p.stderr.read()
            assert err.count("event=tls_pin_mismatch") == 1  # rate-limited, said once
            assert "level=warn" in err
        # the token never left: no request reached the handler
        assert not [e for e in portal.log if e[0] in ("open", "401")]
    run(go())


def test_client_without_pin_refuses_self_signed(tls_files):
    cert, key, _ = tls_files
    portal = PyPortal(cert, key, answer_joins)

    async def go():
        async with portal.serve():
            p = chan_client(portal.port)
            try:
                ev = await read_event(p, 5)
                assert ev["event"] == "disconnected"
            finally:
                stop(p)
        assert not portal.log
    run(go())


def test_client_refuses_plain_ws_to_non_loopback():
    p = spawn(["client", "--url", "ws://192.0.2.1:80", "--token", TOKEN, "--topic", "gateway"])
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1
    assert "ws_needs_loopback" in err
