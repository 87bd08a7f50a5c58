# SPDX-License-Identifier: MIT
"""dns resources at the gateway (portal-protocol.md section 7): a fake portal
grants dns resources to a client, and tests/tools/wgtun, as that client,
sends the in-tunnel assigned_ips control packets and probes the proxy
addresses. Everything on loopback; the one name the system resolver is asked
for comes from /etc/hosts (skipped without one). Every wait is bounded."""
import socket
import time

from client import free_tcp_port
from test_gateway_portal import (FakePortal, PortalGateway, PREFIX, gateway_config,
                                 gateway_token)
from wgtun import WGTUN, KeyPair, finish, free_udp_port, secret_file, start

CLIENT4, CLIENT6, GW_IP = "100.64.0.7", "fd00:6e74::7", "10.215.0.1"
PROXY_RANGES = "100.96.0.0/11,fd00:2021:1111:8000::/107"


def hosts_name():
    """A name /etc/hosts gives 127.0.0.1 (not localhost): getaddrinfo answers
    it from the file, no query leaves the machine."""
    try:
        with open("/etc/hosts") as f:
            for line in f:
                fields = line.split("#")[0].split()
                if len(fields) >= 2 and fields[0] == "127.0.0.1":
                    for name in fields[1:]:
                        if "localhost" not in name and "." not in name:
                            return name
    except OSError:
        pass
    return None


def resource(rid, pattern, *ports):
    return {"id": rid, "type": "dns", "address": pattern, "name": rid,
            "filters": [{"protocol": "tcp", "port_range_start": p, "port_range_end": p}
                        for p in ports]}


def test_dns_resources_resolve_map_and_refuse(notun, tmp_path):
    portal = gw = proc = None
    listeners = []
    try:
        token = gateway_token(notun)
        client_keys, gw_keys = KeyPair(notun), KeyPair(notun)
        gw_port = free_udp_port("127.0.0.1")
        published, unpublished = free_tcp_port(), free_tcp_port()
        for port in (published, unpublished):
            listeners.append(socket.create_server(("127.0.0.1", port)))
        hosted = hosts_name()

        portal = FakePortal(token, GW_IP)
        client = {"id": "c-1", "public_key": client_keys.public,
                  "preshared_key": KeyPair(notun).private, "ipv4": CLIENT4, "ipv6": CLIENT6,
                  "name": "alice"}
        expires = int(time.time()) + 3600
        resources = [resource("r-loc", "*.localhost", published, unpublished),
                     resource("r-inv", "*.invalid")]
        if hosted:
            resources.append(resource("r-host", hosted, published))
        portal.authorizations = [{"resource": r, "client": client, "expires_at": expires}
                                 for r in resources]
        gw = PortalGateway(notun, tmp_path, gateway_config(
            gw_keys, gw_port, GW_IP, f"ws://127.0.0.1:{portal.port}{PREFIX}", token,
            f"Advertise = 127.0.0.1:{gw_port}\n\n[Gateway]\n"
            f"Allow = 127.0.0.1/32 tcp:{published}\n"))
        portal.wait_frame("phx_join")
        deadline = time.monotonic() + 10
        while "event=portal_init" not in gw.read_log():
            assert time.monotonic() < deadline, gw.read_log()[-3000:]
            time.sleep(0.05)
        log = gw.read_log()
        assert f"event=portal_init grants={len(resources)}" in log, log[-3000:]

        assigns = ["r-loc,app.localhost,100.96.0.1",
                   "r-inv,x.invalid,100.96.0.2",
                   "r-corp,db.corp.internal,100.96.0.3",  # no grant of r-corp
                   "r-loc,db.corp.internal,100.96.0.4"]   # granted, not its pattern
        probes = [f"tcp:100.96.0.1:{published}", f"tcp:100.96.0.1:{unpublished}",
                  f"tcp:100.96.0.4:{published}"]
        if hosted:
            assigns.append(f"r-host,{hosted},100.96.0.5")
            probes.append(f"tcp:100.96.0.5:{published}")
        args = [WGTUN, "--private-key-file", secret_file(tmp_path, "c.key", client_keys.private),
                "--peer-psk-file", secret_file(tmp_path, "c.psk", client["preshared_key"]),
                "--address", CLIENT4, "--address6", CLIENT6,
                "--peer-public-key", gw_keys.public, "--peer-endpoint", f"127.0.0.1:{gw_port}",
                "--peer-allowed-ips", f"{GW_IP}/32,{PROXY_RANGES}",
                "--ping", GW_IP, "--count", "1", "--timeout-ms", "10000",
                "--ctl-garbage", "--probe-timeout-ms", "8000"]
        for a in assigns:
            args += ["--assign", a]
        for p in probes:
            args += ["--probe", p]
        proc = start(args)
        code, rep, err = finish(proc, 40)
        log = gw.read_log()
        assert code == 0, err[-3000:] + log[-3000:]
        status = {d["domain"] + "/" + d["resource_id"]: (d["status"], d["reason"])
                  for d in rep["dns"]}
        assert status["app.localhost/r-loc"] == ("active", ""), (status, log[-3000:])
        assert status["x.invalid/r-inv"] == ("failed", "not_found"), status
        assert status["db.corp.internal/r-corp"] == ("failed", "forbidden"), status
        assert status["db.corp.internal/r-loc"] == ("failed", "forbidden"), status
        by = {p["probe"]: p for p in rep["probes"]}
        # published by [Gateway]: the host's 127.0.0.1:published answers
        assert by[probes[0]]["synack"] == 1, (by, log[-3000:])
        # the grant's filters allow it, the gateway's rules do not publish it
        assert by[probes[1]]["prohibited"] == 1, by
        # a proxy address that was never mapped
        assert by[probes[2]]["prohibited"] == 1, by
        if hosted:
            assert status[f"{hosted}/r-host"] == ("active", ""), (status, log[-3000:])
            assert by[probes[3]]["synack"] == 1, by
            assert f"event=dns_lookup cid=c-1 rid=r-host domain={hosted}" in log
        # RFC 6761 names and refused ones never reach the resolver
        for name in ("app.localhost", "x.invalid", "db.corp.internal"):
            assert f"domain={name}" in log and f"event=dns_lookup cid=c-1 rid=r-loc " \
                f"domain={name}" not in log
        assert "event=dns_lookup cid=c-1 rid=r-corp" not in log
        assert "event=dns_refused cid=c-1 rid=r-corp domain=db.corp.internal" in log
        assert gw.stop() == 0
        log = gw.read_log()
        counters = next(line for line in log.splitlines() if "event=portal_counters" in line)
        fields = dict(kv.split("=", 1) for kv in counters.split() if "=" in kv)
        assert fields["dns_ctl_malformed"] == "1", counters
        assert fields["dns_refused"] == "2", counters
        assert fields["dns_lookups"] == ("1" if hosted else "0"), counters
        assert int(fields["dns_active"]) >= (2 if hosted else 1), counters
        assert client["preshared_key"] not in log
        gw = None
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if gw:
            gw.stop()
        if portal:
            portal.close()
        for s in listeners:
            s.close()
