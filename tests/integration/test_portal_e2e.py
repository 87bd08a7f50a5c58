# SPDX-License-Identifier: MIT
"""The control plane end to end, with a standard WireGuard client: `notun
portal` and `notun gateway` (joined over wss:// with the portal's pinned
self-signed certificate) are notun's; the client is not. A Python
`websockets` client obtains `authorization_created` from the portal, then
wireguard-go in a network namespace, configured with the gateway key,
endpoint and pre-shared key it received, fetches from the resource through
the gateway. A port no grant covers is refused at once (ICMP prohibited);
a reload that takes the policy away makes the portal send reject_access,
and the open flow is reset. Every wait is bounded."""
import asyncio
import json
import os
import socket
import subprocess
import time
import urllib.parse

import websockets

from client import free_tcp_port, sha256_of_file
from conftest import run
from httpsrv import pattern_sha256
from test_gateway_grants import HOLD
from test_gateway_portal import PortalGateway
from test_portal import Portal, new_token, pin_ok, pinned_ctx
from wgtun import KeyPair, free_udp_port

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT_S = 10


def portal_config(port, tokens, res_ip, ports, allow="alice"):
    web_filters = ", ".join(f"tcp:{p}" for p in ports)
    return (f"[Portal]\nListen = 127.0.0.1:{port}\nAccessTTL = 1h\n"
            f"ClientAddresses = 100.64.0.0/24\n"
            "[Site office]\n"
            f"[Gateway gw1]\nSite = office\n{tokens['gw1'][1]}\n"
            f"[Client alice]\n{tokens['alice'][1]}\n"
            f"[Client bob]\n{tokens['bob'][1]}\n"
            f"[Resource web]\nAddress = {res_ip}/32\nFilters = {web_filters}\n"
            f"Sites = office\nAllow = {allow}\n")


async def authorize(port, token, public_key, fingerprint, resource):
    """Joins as a client, asks for resource, returns (init, authorization_created)."""
    q = urllib.parse.urlencode({"public_key": public_key}, quote_via=urllib.parse.quote)
    async with websockets.connect(f"wss://127.0.0.1:{port}/client/websocket?{q}",
                                  ssl=pinned_ctx(), open_timeout=5, close_timeout=2,
                                  extra_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert pin_ok(ws, fingerprint)

        async def frame(event):
            deadline = time.monotonic() + WAIT_S
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                if f["event"] == event:
                    return f

        await ws.send(json.dumps({"topic": "client", "event": "phx_join", "payload": {},
                                  "ref": 0}))
        init = (await frame("init"))["payload"]
        await ws.send(json.dumps({"topic": "client", "event": "request_authorization",
                                  "payload": {"resource_id": resource,
                                              "connected_gateway_ids": []}, "ref": 1}))
        return init, (await frame("authorization_created"))["payload"]


def test_standard_wireguard_client_through_portal_and_gateway(notun, tmp_path):
    from netns import Namespace, WireGuardGo, require_netns
    require_netns()
    ns = Namespace()
    portal = gw = wg = srv = hold_srv = other = None
    try:
        tokens = {"alice": new_token(notun, "client"), "bob": new_token(notun, "client"),
                  "gw1": new_token(notun, "gateway")}
        res_ip = ns.host_ip2
        http_port, hold_port, other_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
        srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), res_ip,
                                str(http_port)], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        hold_srv = socket.create_server((res_ip, hold_port))
        other = socket.create_server((res_ip, other_port))  # listening, never granted

        pport = free_tcp_port()
        conf = tmp_path / "portal.conf"
        conf.write_text(portal_config(pport, tokens, res_ip, (http_port, hold_port)))
        portal = Portal(notun, conf).start()
        fp = portal.fingerprint()

        gw_keys, client_keys = KeyPair(notun), KeyPair(notun)
        gw_port = free_udp_port("127.0.0.1")
        advertise = f"{ns.host_ip}:{gw_port}"
        gw = PortalGateway(notun, tmp_path, (
            f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
            f"Address = 10.215.{ns.n}.1/32\n\n[Portal]\nURL = wss://127.0.0.1:{pport}\n"
            f"Token = {tokens['gw1'][0]}\nFingerprint = {fp}\nAdvertise = {advertise}\n"))
        portal.wait_log("event=joined gid=gw1")

        init, auth = asyncio.run(authorize(pport, tokens["alice"][0], client_keys.public, fp,
                                           "web"))
        assert [r["id"] for r in init["resources"]] == ["web"]
        assert auth["resource_id"] == "web" and auth["gateway_id"] == "gw1"
        assert auth["gateway_public_key"] == gw_keys.public
        assert auth["gateway_endpoint"] == advertise
        client_ip = init["interface"]["ipv4"]

        # The standard client, configured with what the portal handed out.
        wg = WireGuardGo(ns, client_keys.private, free_udp_port("127.0.0.1"))
        ns.run("ip", "addr", "add", f"{client_ip}/32", "dev", wg.ifname)
        wg.add_peer(auth["gateway_public_key"], f"{res_ip}/32", psk=auth["preshared_key"],
                    endpoint=auth["gateway_endpoint"])
        ns.run("ip", "route", "add", f"{res_ip}/32", "dev", wg.ifname, "src", client_ip)

        out = tmp_path / "down"
        r = ns.run("curl", "--silent", "--show-error", "--max-time", "20", "-o", str(out),
                   f"http://{res_ip}:{http_port}/bytes/{1 << 20}?seed=e2e", check=False)
        assert r.returncode == 0, r.stderr + gw.read_log()[-3000:]
        assert sha256_of_file(out) == pattern_sha256(1 << 20, "e2e")

        # No grant covers this port: ICMP prohibited, curl fails at once.
        t = time.monotonic()
        r = ns.run("curl", "--silent", "--max-time", "8", f"http://{res_ip}:{other_port}/",
                   check=False)
        assert r.returncode == 7 and time.monotonic() - t < 3, (r.returncode, gw.read_log())

        # The policy goes away: the portal sends reject_access, the flow is reset.
        hold = ns.spawn("python3", "-c", HOLD, res_ip, str(hold_port), "15",
                        stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "connected"
        conn, _ = hold_srv.accept()
        mark = len(portal.lines)
        conf.write_text(portal_config(pport, tokens, res_ip, (http_port, hold_port),
                                      allow="bob"))
        portal.proc.send_signal(1)  # SIGHUP
        portal.wait_log("event=grant_revoked cid=alice rid=web gid=gw1", start=mark)
        verdict = hold.stdout.readline().split()
        assert verdict[0] == "reset" and float(verdict[1]) < 5, (verdict, gw.read_log())
        conn.close()
        log = gw.read_log() + "\n".join(portal.lines)
        assert auth["preshared_key"] not in log
        assert tokens["gw1"][0] not in log and tokens["alice"][0] not in log
        assert gw.stop() == 0
        gw = None
    finally:
        if gw:
            gw.stop()
        if portal:
            portal.stop()
        if wg:
            wg.close()
        for s in (hold_srv, other):
            if s:
                s.close()
        if srv:
            srv.terminate()
            srv.wait(timeout=10)
        ns.close()


def gateway_only(notun, tmp_path, token, fingerprint):
    """notun portal and one notun gateway joining it; no namespace needed."""
    tokens = {"alice": new_token(notun, "client"), "bob": new_token(notun, "client"),
              "gw1": new_token(notun, "gateway")}
    pport = free_tcp_port()
    conf = tmp_path / "portal.conf"
    conf.write_text(portal_config(pport, tokens, "10.20.0.5", (80,)))
    portal = Portal(notun, conf).start()
    keys = KeyPair(notun)
    gw = PortalGateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {keys.private}\nListenPort = {free_udp_port('127.0.0.1')}\n"
        f"Address = 10.215.0.1/32\n\n[Portal]\nURL = wss://127.0.0.1:{pport}\n"
        f"Token = {token(tokens)}\nFingerprint = {fingerprint(portal.fingerprint())}\n"))
    return portal, gw


def test_gateway_exits_2_when_notun_portal_refuses_its_token(notun, tmp_path):
    # A well-formed gateway token the portal does not know: 401 before the upgrade.
    unknown = new_token(notun, "gateway")[0]
    portal, gw = gateway_only(notun, tmp_path, lambda t: unknown, lambda fp: fp)
    try:
        assert gw.wait(timeout=20) == 2, gw.read_log()
        assert "refused the token" in gw.read_log()
        assert not any("event=joined" in line for line in portal.lines)
    finally:
        gw.stop()
        portal.stop()


def test_gateway_refuses_a_portal_whose_certificate_does_not_match_its_pin(notun, tmp_path):
    def wrong(fp):
        return "SHA256:" + "A" * 43

    portal, gw = gateway_only(notun, tmp_path, lambda t: t["gw1"][0], wrong)
    try:
        deadline = time.monotonic() + WAIT_S
        while "tls_pin_mismatch" not in gw.read_log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "event=tls_pin_mismatch" in gw.read_log()
        time.sleep(1)
        # The token never left: the portal saw no upgrade request, no join.
        assert not any("gid=gw1" in line for line in portal.lines), portal.lines
    finally:
        gw.stop()
        portal.stop()
