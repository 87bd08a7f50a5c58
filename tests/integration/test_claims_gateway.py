"""Claims core/gateway/gateway.md and the READMEs make about the gateway that
no other test checked, read from the client's side by wgtun's raw packets
and wgflood's initiations (issue 19): the deny-log rate limit, the held SYN
a retransmission replaces, the default flow limits, the lwIP ISN hook
(netstack/README.md) and the per-peer initiation rate."""
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from client import curl
from conftest import release
from test_gateway import (FILTERED_PORT, GW_IP, OUTSIDE_IP, Gateway, Site, counters,
                          gateway_with, loopback_service, probe, proxy_url,  # noqa: F401
                          servers, timed_connect)
from test_status import status_json
from wgtun import WGFLOOD, KeyPair, finish, free_udp_port, kill, secret_file

# wgtun's crafted SYNs: sequence number --probe-isn + source port * 7919.
SEQ_STEP = 7919
PROBE_TCP = re.compile(r"event=probe_tcp probe=\S+ sport=(\d+) flags=0x([0-9a-f]{2}) "
                       r"seq=(\d+) ack=(\d+)")


def tcp_answers(err):
    """wgtun's debug lines for TCP answers: [(sport, flags, seq, ack)]."""
    return [(int(s), int(f, 16), int(q), int(a)) for s, f, q, a in PROBE_TCP.findall(err)]


def test_gateway_deny_log_lines_limited_per_client(notun, tmp_path, servers):  # noqa: F811
    """gateway.md: "deny log lines per client per second | 10 |
    deny_logs_dropped". 200 denied SYNs from one client within a second or
    two: every one is answered prohibited and counted denied, at most 10
    lines a second are logged, the rest counted dropped; another client's
    denial is still logged."""
    site = Site(notun, tmp_path, servers)
    try:
        (p,) = probe(tmp_path, site.pinger_keys, site.gw_keys, site.gw_port,
                     [f"tcp:{OUTSIDE_IP}:80"], count=200)["probes"]
        assert p["prohibited"] == 200, p
        assert counters(site.gateway, "denied") == 200
        lines = len(re.findall(r"event=flow_denied peer=\S+ proto=tcp src=10\.99\.0\.3:",
                               site.gateway.read_log()))
        # The burst lasts well under a second but may straddle a second's edge.
        assert 10 <= lines <= 20, lines
        assert counters(site.gateway, "deny_logs_dropped") == 200 - lines
        assert timed_connect(site, GW_IP, FILTERED_PORT)[0] == 0x02
        site.gateway.wait_log(rf"event=flow_denied peer=\S+ proto=tcp src=10\.99\.0\.2:\d+ "
                              rf"dst=10\.99\.0\.1:{FILTERED_PORT}")
    finally:
        site.close()


def test_gateway_retransmitted_syn_replaces_the_held_one(notun, tmp_path):
    """gateway.md: "Retransmitted SYNs while the gateway connects replace the
    held one (one SYN per flow is kept, never a queue)", counted in
    syn_collapsed. The destination's accept queue is full, so the gateway's
    connect() waits; the same SYN comes again with another sequence number;
    once the queue has room, the one SYN-ACK the client gets acknowledges
    the second SYN."""
    silent = socket.socket()
    filler = accepted = gw = second = None
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        filler = socket.create_connection(silent.getsockname())
        port = silent.getsockname()[1]
        gw_keys, prober_keys = KeyPair(notun), KeyPair(notun)
        gw, gw_port = gateway_with(notun, tmp_path, gw_keys, prober_keys,
                                   f"Allow = {GW_IP}/32 tcp:{port}\n")
        dst = f"tcp:{GW_IP}:{port}"
        (p,) = probe(tmp_path, prober_keys, gw_keys, gw_port, [dst], timeout_ms=300)["probes"]
        assert (p["synack"], p["rst"], p["icmp_other"]) == (0, 0, 0), p
        gw.wait_log(r"event=flow_connecting peer=\S+ proto=tcp")
        isn2 = 1 << 30
        second = probe(tmp_path, prober_keys, gw_keys, gw_port, [dst], timeout_ms=15000,
                       wait=False, extra=["--probe-isn", str(isn2)])
        gw.wait_log(r"event=syn peer=\S+ src=\S+ dst=\S+ flow=held")
        accepted, _ = silent.accept()  # room in the queue: the kernel's next SYN gets in
        rc, report, err = finish(second, timeout=30)
        second = None
        (p,) = report["probes"]
        assert rc == 0 and p["synack"] == 1 and p["rst"] == 0, (p, err[-2000:])
        ((sport, flags, _, ack),) = [a for a in tcp_answers(err) if a[1] & 0x12 == 0x12]
        assert ack == (isn2 + sport * SEQ_STEP + 1) % (1 << 32), \
            f"the SYN-ACK acknowledges {ack}, not the newest SYN"
        assert counters(gw, "syn_collapsed") == 1
        assert counters(gw, "os_connects") == 1
    finally:
        release(second and (lambda: kill(second)), gw and gw.stop, filler and filler.close,
                accepted and accepted.close, silent.close)


def test_gateway_isns_are_not_predictable_across_connections(notun, tmp_path,
                                                             loopback_service):  # noqa: F811
    """netstack/README.md: LWIP_HOOK_TCP_ISN gives RFC 6528 ISNs (a 4 us
    clock + SipHash of the 4-tuple) "instead of lwIP's predictable counter".
    The SYN-ACKs of 32 connections opened within milliseconds, from
    consecutive source ports: a counter or a bare clock would put them a
    few thousand apart; keyed hashes spread them over the 32-bit space."""
    port = loopback_service
    gw_keys, prober_keys = KeyPair(notun), KeyPair(notun)
    gw, gw_port = gateway_with(notun, tmp_path, gw_keys, prober_keys,
                               f"Allow = {GW_IP}/32 tcp:{port}\n")
    prober = None
    try:
        n = 32
        prober = probe(tmp_path, prober_keys, gw_keys, gw_port, [f"tcp:{GW_IP}:{port}"],
                       count=n, timeout_ms=15000, wait=False)
        rc, report, err = finish(prober, timeout=45)
        prober = None
        assert rc == 0 and report["probes"][0]["synack"] == n, report
        synacks = {sport: (seq, ack) for sport, flags, seq, ack in tcp_answers(err)
                   if flags & 0x12 == 0x12}
        assert len(synacks) == n, synacks
        for sport, (_, ack) in synacks.items():
            assert ack == (sport * SEQ_STEP + 1) % (1 << 32)  # the answer to our SYN
        isns = [synacks[s][0] for s in sorted(synacks)]
        assert len(set(isns)) == n
        # Consecutive connections (ports in sending order): for independent
        # uniform values a gap under 2**24 has odds 1/256, five of 31 ~1e-7.
        near = sum(1 for a, b in zip(isns, isns[1:]) if min((b - a) % (1 << 32),
                                                              (a - b) % (1 << 32)) < 1 << 24)
        assert near < 5, f"ISNs in sending order: {isns}"
    finally:
        release(prober and (lambda: kill(prober)), gw.stop)


def test_gateway_default_limit_of_8192_flows(notun, tmp_path, servers):  # noqa: F811
    """README.md and gateway.md: gateway flows, all clients, 8192 by default
    (--max-flows not given), counted in limit_total. Nine clients send 1024
    SYNs each (the per-client default, never exceeded) to a destination
    that never answers, so every flow stays connecting: 8192 are held,
    1024 refused (RST), none by the per-client limit."""
    gw_keys = KeyPair(notun)
    clients = [(KeyPair(notun), f"10.99.1.{i + 1}") for i in range(9)]
    gw_port = free_udp_port("127.0.0.1")
    peers = "".join(f"[Peer]\nPublicKey = {k.public}\nAllowedIPs = {ip}/32\n\n"
                    for k, ip in clients)
    dst = f"{GW_IP}:{servers['silent']}"
    gw = Gateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
        f"Address = {GW_IP}/32\n\n{peers}[Gateway]\nAllow = {GW_IP}/32 tcp:{servers['silent']}\n"))
    probers = []
    try:
        gw.wait_log(r"event=gateway_up .* max_flows=8192 max_flows_per_peer=1024 ")
        for keys, ip in clients:
            probers.append(probe(tmp_path, keys, gw_keys, gw_port, [f"tcp:{dst}"], count=1024,
                                 timeout_ms=1000, wait=False, address=ip))
        refused = 0
        while probers:
            rc, report, err = finish(probers[-1], timeout=60)
            probers.pop()
            assert rc == 0, err[-2000:]
            refused += report["probes"][0]["rst"]
        assert refused == 1024
        assert counters(gw, "limit_total") == 1024
        assert counters(gw, "limit_peer") == 0
        assert counters(gw, "flows_open") == 8192
    finally:
        release(*[lambda p=p: kill(p) for p in probers], gw.stop)


def test_gateway_enforces_the_per_peer_initiation_rate(notun, tmp_path, servers):  # noqa: F811
    """README.md: "initiations accepted from one peer | one per 20 ms |
    hs_rate_limited". wgflood sends genuine initiations from one client's
    key, 200 a second for 1.5 s (fewer than the 256 handshake
    messages a second that would put the gateway under load, answering
    cookies instead): the gateway answers at most one per 20 ms, counts
    every other one, and the same client then completes a handshake of its
    own while another client is served."""
    sockdir = Path(tempfile.mkdtemp(prefix="notun-ctl-"))  # a short path for the socket
    site = None
    try:
        site = Site(notun, tmp_path, servers, gw_args=["--control", str(sockdir / "gw.sock")])
        flood = subprocess.run(
            [WGFLOOD, "--to", f"127.0.0.1:{site.gw_port}", "--responder-public-key",
             site.gw_keys.public, "--rate", "200", "--seconds", "1.5",
             "--initiator-private-key-file",
             secret_file(tmp_path, "flood.key", site.pinger_keys.private)],
            capture_output=True, text=True, timeout=30)
        assert flood.returncode == 0, flood.stderr
        m = re.fullmatch(r"sent=(\d+) seconds=([\d.]+) responses=(\d+)\n", flood.stdout)
        assert m, flood.stdout
        sent, seconds, answered = int(m.group(1)), float(m.group(2)), int(m.group(3))
        limited = status_json(notun, sockdir / "gw.sock")["counters"]["tunnel"][
            "hs_rate_limited"]
        assert sent >= 250, flood.stdout  # wgflood stops at --seconds
        assert answered + limited == sent, (answered, limited)
        assert 10 <= answered <= seconds / 0.020 + 2, f"{answered} answered in {seconds} s"
        report = probe(tmp_path, site.pinger_keys, site.gw_keys, site.gw_port, [])
        assert report["handshakes_completed"] >= 1, report
        r = curl(["--proxy", proxy_url(site.proxy_port), site.url("/hello")])
        assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
    finally:
        release(site and site.close, lambda: shutil.rmtree(sockdir, ignore_errors=True))
