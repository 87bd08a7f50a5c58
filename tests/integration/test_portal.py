# SPDX-License-Identifier: MIT
"""`notun portal -c FILE` against independent peers: Python's `websockets`
(asyncio) plays the clients and a fake gateway over wss:// with the
portal's self-signed certificate, checked by its fingerprint. Tokens come
from `notun portal token`. Loopback only; every wait is bounded; only the
portal processes started here are stopped, by their Popen handle."""
import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

import websockets
import websockets.exceptions

from conftest import free_port, run

START_TIMEOUT_S = 15
GW_KEY = base64.b64encode(bytes(range(1, 33))).decode()
ALICE_KEY = base64.b64encode(bytes(range(33, 65))).decode()
BOB_KEY = base64.b64encode(bytes(range(65, 97))).decode()
GW_ENDPOINT = "127.0.0.1:51820"


def new_token(notun, kind):
    lines = run([notun, "portal", "token", kind]).stdout.splitlines()
    return lines[0], lines[1]  # the token, "TokenHash = ..."


def config_text(port, t, db_allow="eng"):
    return (f"[Portal]\nListen = 127.0.0.1:{port}\nAccessTTL = 1h\n"
            "[Site office]\n"
            f"[Gateway gw1]\nSite = office\n{t['gw1'][1]}\n"
            f"[Client alice]\n{t['alice'][1]}\nGroups = eng\n"
            f"[Client bob]\n{t['bob'][1]}\nGroups = ops\n"
            f"[Resource db]\nAddress = 10.20.0.5/32\nFilters = tcp:5432, icmp\n"
            f"Sites = office\nAllow = {db_allow}\n"
            "[Resource web]\nAddress = 10.20.0.6/32\nSites = office\nAllow = ops\n")


class Portal:
    """One `notun portal` process; its log lines are collected by a thread."""

    def __init__(self, notun, conf):
        self.notun, self.conf = notun, conf
        self.lines, self.cond = [], threading.Condition()
        self.proc = None

    def start(self):
        self.lines = []
        self.proc = subprocess.Popen([self.notun, "portal", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_log("event=started")
        return self

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_log(self, needle, timeout=START_TIMEOUT_S, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and needle != "exit"):
                    raise AssertionError(f"no '{needle}' in the log:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def fingerprint(self):
        return self.wait_log("event=certificate").split("fingerprint=")[1].split()[0]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


@pytest.fixture
def setup(notun, tmp_path):
    tokens = {"alice": new_token(notun, "client"), "bob": new_token(notun, "client"),
              "gw1": new_token(notun, "gateway")}
    port = free_port()
    conf = tmp_path / "portal.conf"
    conf.write_text(config_text(port, tokens))
    p = Portal(notun, conf).start()
    yield {"portal": p, "port": port, "tokens": tokens, "conf": conf, "dir": tmp_path}
    p.stop()


def pinned_ctx():
    """Chain checks off; the certificate is checked by its pin (pin_ok)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def fingerprint_of(der):
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def pin_ok(ws, fp):
    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return fingerprint_of(der) == fp


def url(s, role, key, endpoint=None):
    q = {"public_key": key}
    if endpoint:
        q["endpoint"] = endpoint
    return (f"wss://127.0.0.1:{s['port']}/{role}/websocket?" +
            urllib.parse.urlencode(q, quote_via=urllib.parse.quote))


class Peer:
    """One joined (or not yet joined) connection with its own refs."""

    def __init__(self, ws, topic):
        self.ws, self.topic, self.ref, self.seen = ws, topic, 0, []

    async def push(self, event, payload, topic=None):
        ref = self.ref
        self.ref += 1
        await self.ws.send(json.dumps({"topic": topic or self.topic, "event": event,
                                       "payload": payload, "ref": ref}))
        return ref

    async def next(self, event=None, timeout=5.0, ref=None):
        """The next frame with that event (and ref), others kept in seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no {event} within {timeout} s; saw {self.seen}")
            f = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            self.seen.append(f)
            if (event is None or f["event"] == event) and (ref is None or f["ref"] == ref):
                return f

    async def silent_for(self, event, seconds):
        """Asserts no frame with that event arrives for seconds."""
        try:
            f = await self.next(event, timeout=seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {f}")

    async def join(self):
        ref = await self.push("phx_join", {})
        r = await self.next("phx_reply", ref=ref)
        assert r["payload"] == {"status": "ok", "response": {}}, r
        return (await self.next("init"))["payload"]


def connect(s, who, key, role="client", endpoint=None, token=None, max_size=2 ** 21):
    tok = token if token is not None else s["tokens"][who][0]
    hdr = {"Authorization": f"Bearer {tok}"} if tok else {}
    return websockets.connect(url(s, role, key, endpoint), ssl=pinned_ctx(), extra_headers=hdr,
                              open_timeout=5, close_timeout=2, max_size=max_size)


class Session:
    """async with Session(s, who, key, role) as peer: connected, pin checked."""

    def __init__(self, s, who, key, role="client", endpoint=None):
        self.cm = connect(s, who, key, role, endpoint)
        self.s, self.role = s, role

    async def __aenter__(self):
        ws = await self.cm.__aenter__()
        assert pin_ok(ws, self.s["portal"].fingerprint())
        return Peer(ws, self.role)

    async def __aexit__(self, *exc):
        return await self.cm.__aexit__(*exc)


def go(coro, timeout=25):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def grant(s, alice, gw):
    """alice asks for db, the gateway acknowledges; returns (create, created)."""
    await alice.push("request_authorization", {"resource_id": "db", "connected_gateway_ids": []})
    create = await gw.next("create_authorization")
    ref = await gw.push("authorization_created", {"ref": create["payload"]["ref"]})
    assert (await gw.next("phx_reply", ref=ref))["payload"]["status"] == "ok"
    return create["payload"], (await alice.next("authorization_created"))["payload"]


# ---- tests ----------------------------------------------------------------

def test_certificate_pin_and_files(setup):
    s = setup
    fp = s["portal"].fingerprint()
    der = ssl.PEM_cert_to_DER_cert((s["dir"] / "portal-cert.pem").read_text())
    assert fingerprint_of(der) == fp
    # The state file is written by the loop after start-up: wait for it, bounded.
    deadline = time.monotonic() + 5
    while not (s["dir"] / "portal.state").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for name in ("portal-cert.pem", "portal-key.pem", "portal.state"):
        assert os.stat(s["dir"] / name).st_mode & 0o777 == 0o600, name
    # The pin checked on a bare TLS connection, before any token is sent.
    with socket.create_connection(("127.0.0.1", s["port"]), timeout=5) as raw:
        with pinned_ctx().wrap_socket(raw) as tls:
            assert fingerprint_of(tls.getpeercert(binary_form=True)) == fp


def test_plain_ws_is_not_served(setup):
    async def attempt():
        with pytest.raises((websockets.exceptions.InvalidMessage,
                            websockets.exceptions.InvalidHandshake, OSError, EOFError)):
            async with websockets.connect(
                    f"ws://127.0.0.1:{setup['port']}/client/websocket?public_key=x",
                    open_timeout=5, close_timeout=1):
                pass
    go(attempt())


def test_bad_or_missing_token_gets_401(setup):
    s = setup

    async def attempt():
        for who, role, token in (("alice", "client", "ntc_" + "A" * 43),
                                 ("alice", "client", ""),
                                 ("alice", "gateway", None),  # a client's token as a gateway
                                 ("gw1", "client", None)):
            with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
                async with connect(s, who, ALICE_KEY, role, token=token):
                    pass
            assert e.value.status_code == 401, (who, role)
    go(attempt())
    assert "ntc_" not in "\n".join(s["portal"].lines)  # tokens never logged


def test_join_heartbeat_and_init_per_client(setup):
    async def run_it():
        async with Session(setup, "alice", ALICE_KEY) as alice, \
                Session(setup, "bob", BOB_KEY) as bob:
            a = await alice.join()
            b = await bob.join()
            assert [r["id"] for r in a["resources"]] == ["db"]
            assert [r["id"] for r in b["resources"]] == ["web"]
            db = a["resources"][0]
            assert (db["type"], db["address"]) == ("cidr", "10.20.0.5/32")
            assert {"protocol": "tcp", "port_range_start": 5432,
                    "port_range_end": 5432} in db["filters"]
            assert db["sites"] == [{"id": "office", "name": "office"}]
            assert a["interface"]["ipv4"] != b["interface"]["ipv4"]
            ref = await alice.push("heartbeat", {}, topic="phoenix")
            r = await alice.next("phx_reply", ref=ref)
            assert (r["topic"], r["payload"]["status"]) == ("phoenix", "ok")
    go(run_it())


def test_two_requests_one_create_then_ack_gives_the_grant(setup):
    async def run_it():
        async with Session(setup, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw, \
                Session(setup, "alice", ALICE_KEY) as alice:
            assert (await gw.join())["authorizations"] == []
            await alice.join()
            for _ in range(2):
                await alice.push("request_authorization",
                                 {"resource_id": "db", "connected_gateway_ids": []})
            create = (await gw.next("create_authorization"))["payload"]
            await gw.silent_for("create_authorization", 1.5)
            await alice.silent_for("authorization_created", 0.5)
            assert create["resource"]["id"] == "db"
            assert create["client"]["id"] == "alice"
            assert create["client"]["public_key"] == ALICE_KEY
            ref = await gw.push("authorization_created", {"ref": create["ref"]})
            assert (await gw.next("phx_reply", ref=ref))["payload"]["status"] == "ok"
            got = (await alice.next("authorization_created"))["payload"]
            assert got["resource_id"] == "db" and got["gateway_id"] == "gw1"
            assert got["gateway_public_key"] == GW_KEY
            assert got["gateway_endpoint"] == GW_ENDPOINT
            assert got["preshared_key"] == create["client"]["preshared_key"]
            assert got["expires_at"] == create["expires_at"]
            assert 3500 < got["expires_at"] - time.time() <= 3601
            await alice.silent_for("authorization_created", 0.5)  # one, for two requests
            return got["preshared_key"]
    psk = go(run_it())
    log = "\n".join(setup["portal"].lines)
    for secret in (psk, setup["tokens"]["alice"][0], setup["tokens"]["gw1"][0]):
        assert secret not in log


def test_gateway_without_endpoint_is_reached_at_its_source_address(setup):
    async def run_it():
        async with Session(setup, "gw1", GW_KEY, "gateway") as gw, \
                Session(setup, "alice", ALICE_KEY) as alice:
            await gw.join()
            await alice.join()
            _, got = await grant(setup, alice, gw)
            assert got["gateway_endpoint"] == "127.0.0.1:51820"
    go(run_it())


def test_no_ack_gives_offline_after_15_s(setup):
    async def run_it():
        async with Session(setup, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw, \
                Session(setup, "alice", ALICE_KEY) as alice:
            await gw.join()
            await alice.join()
            t0 = time.monotonic()
            await alice.push("request_authorization",
                             {"resource_id": "db", "connected_gateway_ids": ["gw1"]})
            create = (await gw.next("create_authorization"))["payload"]
            failed = await alice.next("authorization_creation_failed", timeout=17)
            waited = time.monotonic() - t0
            assert failed["payload"] == {"resource_id": "db", "reason": "offline"}
            assert 14.5 <= waited <= 17, waited
            assert not [f for f in alice.seen if f["event"] == "authorization_created"]
            # a late acknowledgement is refused and reaches nobody
            ref = await gw.push("authorization_created", {"ref": create["ref"]})
            r = await gw.next("phx_reply", ref=ref)
            assert r["payload"] == {"status": "error", "response": {"reason": "invalid_ref"}}
            await alice.silent_for("authorization_created", 1)
    go(run_it(), timeout=30)


def test_forbidden_and_not_found_at_once(setup):
    async def run_it():
        async with Session(setup, "alice", ALICE_KEY) as alice:
            await alice.join()
            for rid, reason in (("web", "forbidden"), ("nope", "not_found")):
                t0 = time.monotonic()
                await alice.push("request_authorization",
                                 {"resource_id": rid, "connected_gateway_ids": []})
                f = await alice.next("authorization_creation_failed", timeout=1)
                assert f["payload"] == {"resource_id": rid, "reason": reason}
                assert time.monotonic() - t0 < 1
    go(run_it())


def test_oversized_frame_and_invalid_json_close_only_that_connection(setup):
    async def run_it():
        async with Session(setup, "bob", BOB_KEY) as bob:
            await bob.join()
            async with Session(setup, "alice", ALICE_KEY) as alice:
                await alice.join()
                await alice.ws.send('{"topic":"client","event":')
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await alice.next(timeout=5)
                assert alice.ws.close_code == 1007
            async with Session(setup, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw:
                await gw.join()
                await gw.push("x", {"pad": "x" * (1 << 20)})
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    await gw.next(timeout=5)
                assert gw.ws.close_code == 1009
            ref = await bob.push("heartbeat", {}, topic="phoenix")
            assert (await bob.next("phx_reply", ref=ref))["payload"]["status"] == "ok"
    go(run_it())
    assert setup["portal"].proc.poll() is None


def rewrite_and_hup(s, text):
    tmp = s["conf"].with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, s["conf"])
    start = len(s["portal"].lines)
    s["portal"].proc.send_signal(signal.SIGHUP)
    return start


def test_reload_removing_a_policy_revokes(setup):
    s = setup

    async def run_it():
        async with Session(s, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw, \
                Session(s, "alice", ALICE_KEY) as alice:
            await gw.join()
            await alice.join()
            await grant(s, alice, gw)
            start = rewrite_and_hup(s, config_text(s["port"], s["tokens"], db_allow="ops"))
            rej = await gw.next("reject_access")
            assert rej["payload"] == {"client_id": "alice", "resource_id": "db"}
            rev = await alice.next("authorization_revoked")
            assert rev["payload"] == {"resource_id": "db"}
            s["portal"].wait_log("event=reloaded", start=start)
    go(run_it())


def test_reload_with_an_error_keeps_the_running_configuration(setup):
    s = setup
    bad = config_text(s["port"], s["tokens"], db_allow="eng, nobody")
    start = rewrite_and_hup(s, bad)
    line = s["portal"].wait_log("event=reload_failed", start=start)
    # file:line:key of the error (Allow of [Resource db], line 18)
    assert f"file={s['conf']}" in line and "line=18" in line and "key=Allow" in line, line
    assert s["portal"].proc.poll() is None

    async def run_it():
        async with Session(s, "alice", ALICE_KEY) as alice:
            assert [r["id"] for r in (await alice.join())["resources"]] == ["db"]
    go(run_it())


def test_restart_loses_no_grant(setup):
    s = setup

    async def first():
        async with Session(s, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw, \
                Session(s, "alice", ALICE_KEY) as alice:
            await gw.join()
            await alice.join()
            return await grant(s, alice, gw)

    create, _ = go(first())
    assert s["portal"].stop() == 0
    s["portal"].start()

    async def second():
        async with Session(s, "gw1", GW_KEY, "gateway", GW_ENDPOINT) as gw:
            return (await gw.join())["authorizations"]

    auths = go(second())
    assert len(auths) == 1, auths
    a = auths[0]
    assert a["resource"]["id"] == "db" and a["client"]["id"] == "alice"
    assert a["client"]["preshared_key"] == create["client"]["preshared_key"]
    assert a["client"]["public_key"] == ALICE_KEY
    assert a["expires_at"] == create["expires_at"]


def test_exit_codes(setup, notun, tmp_path):
    # the same port again: cannot listen, a runtime failure
    other = tmp_path / "other"
    other.mkdir()
    conf = other / "portal.conf"
    conf.write_text(config_text(setup["port"], setup["tokens"]))
    proc = run([notun, "portal", "-c", str(conf)], check=False)
    assert proc.returncode == 1, proc.stderr
    assert "cannot listen" in proc.stderr
    conf.write_text("[Portal]\nAccessTTL = soon\n")
    proc = run([notun, "portal", "-c", str(conf)], check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"{conf}:2: AccessTTL" in proc.stderr


def test_longest_name_connects(setup, notun):
    # Names are 1-64 bytes: the longest one is the identity the listener
    # hands over whole (a cut name would be an unknown client).
    s = setup
    name = "c" * 64
    s["tokens"][name] = new_token(notun, "client")
    text = config_text(s["port"], s["tokens"]).replace(
        "[Resource db]", f"[Client {name}]\n{s['tokens'][name][1]}\nGroups = eng\n[Resource db]")
    start = rewrite_and_hup(s, text)
    s["portal"].wait_log("event=reloaded", start=start)

    async def run_it():
        async with Session(s, name, ALICE_KEY) as peer:
            assert [r["id"] for r in (await peer.join())["resources"]] == ["db"]
    go(run_it())
