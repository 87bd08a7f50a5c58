"""The gateway's portal grants end to end, without the WebSocket channel:
tests/tools/gwportal runs the gateway and takes the portal's gateway-topic
pushes (portal-protocol.md section 6) as "EVENT JSON" lines on its stdin. A
wireguard-go client in a network namespace, configured with the pre-shared
key of create_authorization, reaches a resource on the host side of its
veth (10.213.n.5, routed into the tunnel inside the namespace)."""
import base64
import json
import os
import socket
import subprocess
import time

import pytest

from client import free_tcp_port, sha256_of_file
from conftest import TOP, release
from httpsrv import pattern_sha256
from wgtun import KeyPair, free_udp_port

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("NOTUN_BUILD", os.path.join(TOP, "build"))
GWPORTAL = os.path.join(BUILD, "tools", "gwportal")
MIB = 1 << 20
TIMEOUT_S = 15

# Inside the namespace: connect, then wait for the connection's end; prints
# "reset", "eof" or "timeout" and how long it took.
HOLD = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print("connected", flush=True)
s.settimeout(float(sys.argv[3]))
t = time.monotonic()
try:
    r = "eof" if s.recv(1) == b"" else "data"
except ConnectionResetError:
    r = "reset"
except socket.timeout:
    r = "timeout"
print(r, round(time.monotonic() - t, 2), flush=True)
"""


class GwPortal:
    def __init__(self, tmp_path, config):
        conf = tmp_path / "gw.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        self.log_path = tmp_path / "gw.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([GWPORTAL, "-c", str(conf)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout.readline().startswith("ready"), self.read_log()

    def push(self, event, payload):
        self.proc.stdin.write(f"{event} {json.dumps(payload)}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def read_log(self):
        self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


def test_grant_installs_peer_then_reject_and_expiry_reset(notun, tmp_path):
    from netns import Namespace, WireGuardGo, require_netns
    require_netns()
    if not os.path.exists(GWPORTAL):
        pytest.skip("tests/tools/gwportal not built")
    ns = Namespace()
    wg = gw = srv = hold_srv = None
    try:
        client_keys, gw_keys = KeyPair(notun), KeyPair(notun)
        psk = base64.b64encode(os.urandom(32)).decode()
        gw_port = free_udp_port("127.0.0.1")
        gw_ip = f"10.214.{ns.n}.2"
        res_ip = ns.host_ip2
        http_port, hold_port, other_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
        srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), res_ip,
                                str(http_port)], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        hold_srv = socket.create_server((res_ip, hold_port))
        other = socket.create_server((res_ip, other_port))  # listening, never granted
        gw = GwPortal(tmp_path, f"[Interface]\nPrivateKey = {gw_keys.private}\n"
                      f"ListenPort = {gw_port}\nAddress = {gw_ip}/32\n")
        wg = WireGuardGo(ns, client_keys.private, free_udp_port("127.0.0.1"))
        wg.add_peer(gw_keys.public, f"{gw_ip}/32,{res_ip}/32", psk=psk,
                    endpoint=f"{ns.host_ip}:{gw_port}")
        ns.run("ip", "route", "add", f"{res_ip}/32", "dev", wg.ifname)

        client = {"id": "c-1", "public_key": client_keys.public, "preshared_key": psk,
                  "ipv4": wg.tunnel_ip, "ipv6": wg.tunnel_ip6, "name": "alice"}
        resource = {"id": "r-web", "type": "cidr", "address": f"{res_ip}/32", "name": "web",
                    "filters": [{"protocol": "tcp", "port_range_start": http_port,
                                 "port_range_end": http_port},
                                {"protocol": "tcp", "port_range_start": hold_port,
                                 "port_range_end": hold_port}]}

        def grant(ref, expires_at):
            return gw.push("create_authorization", {"ref": ref, "resource": resource,
                                                    "client": client,
                                                    "expires_at": expires_at})

        # Nothing granted yet: the gateway does not know the client's key.
        assert gw.push("init", {"interface": {"ipv4": gw_ip, "ipv6": "fd00:214::2"},
                                "authorizations": []}) == "ok init"
        assert grant("ref-1", int(time.time()) + 3600) == \
            'authorization_created {"ref":"ref-1"}'
        out = tmp_path / "down"
        r = ns.run("curl", "--silent", "--show-error", "--max-time", "60", "-o", str(out),
                   f"http://{res_ip}:{http_port}/bytes/{4 * MIB}?seed=grant", check=False)
        assert r.returncode == 0, r.stderr + gw.read_log()[-3000:]
        assert sha256_of_file(out) == pattern_sha256(4 * MIB, "grant")
        assert "event=peer_added cid=c-1" in gw.read_log()
        assert psk not in gw.read_log()

        # A port the resource's filters do not name: ICMP prohibited, at once.
        t = time.monotonic()
        r = ns.run("curl", "--silent", "--show-error", "--max-time", "8",
                   f"http://{res_ip}:{other_port}/", check=False)
        assert r.returncode == 7, r.stderr  # could not connect: not a timeout (28)
        assert time.monotonic() - t < 3
        assert f"dst={res_ip}:{other_port} reason=no_grant" in gw.read_log()

        # reject_access resets an open connection and removes the peer.
        hold = ns.spawn("python3", "-c", HOLD, res_ip, str(hold_port), "20",
                        stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "connected"
        conn, _ = hold_srv.accept()
        assert gw.push("reject_access", {"client_id": "c-1", "resource_id": "r-web"}) == \
            "ok reject_access"
        verdict = hold.stdout.readline().split()
        assert verdict[0] == "reset", verdict
        assert float(verdict[1]) < 5
        conn.close()
        log = gw.read_log()
        assert "event=grant_ended cid=c-1 rid=r-web reason=rejected" in log
        assert "event=peer_removed cid=c-1" in log

        # A short grant: the open connection is reset at expires_at.
        expires = int(time.time()) + 3
        assert grant("ref-2", expires) == 'authorization_created {"ref":"ref-2"}'
        # The removed peer's session died with it: the client starts anew,
        # as a client does on authorization_created.
        ns.run("wg", "set", wg.ifname, "peer", gw_keys.public, "remove")
        wg.add_peer(gw_keys.public, f"{gw_ip}/32,{res_ip}/32", psk=psk,
                    endpoint=f"{ns.host_ip}:{gw_port}")
        hold = ns.spawn("python3", "-c", HOLD, res_ip, str(hold_port), "20",
                        stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "connected"
        conn, _ = hold_srv.accept()
        verdict = hold.stdout.readline().split()
        assert verdict[0] == "reset", verdict + [gw.read_log()[-2000:]]
        assert time.time() >= expires - 1
        conn.close()
        assert "reason=expired" in gw.read_log()
        assert gw.stop() == 0
        gw = None
        other.close()
    finally:
        release(gw and gw.stop, wg and wg.close, hold_srv and hold_srv.close,
                srv and (lambda: (srv.terminate(), srv.wait(timeout=10))), ns.close)
