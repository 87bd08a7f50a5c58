"""notun gateway's answers read by a peer notun did not write (issue 19): a
wireguard-go client in a namespace whose kernel TCP/UDP sockets (kprobe.py)
turn the answers into errno, and whose TUN device is tapped (AF_PACKET) for
the packets themselves, parsed here against the RFC values. Root only: the
namespace and TUN device (netns.require_netns skips otherwise, which fails
under CI). core/gateway/gateway.md "What a client sees" is the claim."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys

import pytest

from conftest import release
# servers: a fixture, used by dests.
from test_gateway import (FAST_S, KernelSite, counters, secret_config, servers,  # noqa: F401
                          silent_listener)
from udpecho import UdpEcho
from wgtun import free_udp_port

KPROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kprobe.py")
KPROBE_PAYLOAD = b"kprobe"  # what kprobe.py's udp probe sends
PROBE_TIMEOUT_S = 30  # a socket's own wait: far past any answer expected
FILTERED_PORT = 22  # on the gateway's address, never allowed
OUTSIDE = 7  # host part of a tunnel address no rule allows

# Destination unreachable: RFC 792 type 3 with RFC 1812's code 13 for
# "communication administratively prohibited"; RFC 4443 type 1.
ICMP4 = {"type": 3, "host": 1, "port": 3, "prohibited": 13}
ICMP6 = {"type": 1, "prohibited": 1, "host": 3, "port": 4}
# What Linux's sockets make of each (net/ipv4/icmp.c icmp_err_convert,
# net/ipv6/icmp.c tab_unreach): a connecting TCP socket fails on any of them.
ERRNO4 = {"host": "EHOSTUNREACH", "port": "ECONNREFUSED", "prohibited": "EHOSTUNREACH"}
ERRNO6 = {"host": "EHOSTUNREACH", "port": "ECONNREFUSED", "prohibited": "EACCES"}
TCP_RST = 0x04


@pytest.fixture(scope="module")
def dests(servers):
    """Per family, the gateway-host ports the rules allow: an HTTP server,
    a TCP port nothing listens on, a silent listener, a closed UDP port, a
    UDP echo server."""
    held, echo6 = [socket.socket(socket.AF_INET6, socket.SOCK_STREAM)], None
    try:
        # Bound, never listening: the port stays ours and SYNs get an RST.
        held[0].bind(("::1", 0))
        held += silent_listener("::1", 0)
        echo6 = UdpEcho("::1")
        yield {4: {"http": servers["http"], "closed": servers["closed"],
                   "silent": servers["silent"], "udp_closed": free_udp_port("127.0.0.1"),
                   "echo": servers["echo"]},
               6: {"http": servers["http6"], "closed": held[0].getsockname()[1],
                   "silent": held[1].getsockname()[1], "udp_closed": free_udp_port("::1"),
                   "echo": echo6.port}}
    finally:
        release(echo6 and echo6.close, *[sock.close for sock in held])


# An address on the host's side of the namespace's veth (10.213.n.0/29) that
# no one holds: the host's ARP for it fails (about 3 s) and its connect()
# ends in EHOSTUNREACH. The namespace routes it into the tunnel.
NO_NEIGHBOUR = "10.213.{n}.3"


def kernel_site(notun, tmp_path, dests, gw_args=()):
    d4, d6 = dests[4], dests[6]
    return KernelSite(notun, tmp_path, (
        f"Allow = {NO_NEIGHBOUR}/32 tcp:80\n"
        f"Allow = {{gw}}/32 tcp:{d4['http']},{d4['closed']},{d4['silent']}\n"
        f"Allow = {{gw}}/32 udp:{d4['udp_closed']},{d4['echo']}\n"
        f"Allow = {{gw6}}/128 tcp:{d6['http']},{d6['closed']},{d6['silent']}\n"
        f"Allow = {{gw6}}/128 udp:{d6['udp_closed']},{d6['echo']}\n"), gw_args,
        routed=[f"{NO_NEIGHBOUR}/32"])


class Family:
    """One address family's view of a KernelSite: addresses and RFC values."""

    def __init__(self, site, v):
        self.v = v
        n = site.ns.n
        if v == 4:
            self.gw, self.client = site.gw_ip, site.wg.tunnel_ip
            self.outside = f"10.214.{n}.{OUTSIDE}"
            self.icmp, self.errno = ICMP4, ERRNO4
        else:
            self.gw, self.client = site.gw_ip6, site.wg.tunnel_ip6
            self.outside = f"fd00:214:{n:x}::{OUTSIDE}"
            self.icmp, self.errno = ICMP6, ERRNO6


def start_probes(site, probes):
    """kprobe.py inside the site's namespace, under way: finish_probes()
    collects its results."""
    proc = subprocess.Popen(["ip", "netns", "exec", site.ns.name, sys.executable, KPROBE],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # Small: the pipe takes it whole, the probes run after reading it.
        proc.stdin.write(json.dumps({"capture": site.wg.ifname, "probes": probes}))
        proc.stdin.close()
        proc.stdin = None
    except Exception:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc


def finish_probes(site, proc, count, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err + site.gateway.read_log()[-3000:]
    results = json.loads(out)["results"]
    assert len(results) == count
    return results


def run_probes(site, probes):
    return finish_probes(site, start_probes(site, probes), len(probes))


def connect(host, port, keep=None):
    p = {"op": "connect", "host": host, "port": port, "timeout": PROBE_TIMEOUT_S}
    if keep:
        p["keep"] = keep
    return p


def udp_probe(host, port, size=len(KPROBE_PAYLOAD)):
    return {"op": "udp", "host": host, "port": port, "timeout": PROBE_TIMEOUT_S, "size": size}


# ---- the packets, read here: IPv4 (RFC 791), IPv6 (RFC 8200), ICMP, TCP ----

def inet_sum(data):
    """RFC 1071: the one's complement sum; 0 over data holding a correct
    checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(b):
    """(family, src, dst, protocol, header length, the datagram's length),
    checking the IPv4 header checksum; IPv6 without extension headers."""
    if b[0] >> 4 == 4:
        ihl = (b[0] & 0x0F) * 4
        assert inet_sum(b[:ihl]) == 0, f"IPv4 header checksum: {b[:ihl].hex()}"
        return (4, socket.inet_ntop(socket.AF_INET, b[12:16]),
                socket.inet_ntop(socket.AF_INET, b[16:20]), b[9], ihl,
                struct.unpack("!H", b[2:4])[0])
    assert b[0] >> 4 == 6, b.hex()
    return (6, socket.inet_ntop(socket.AF_INET6, b[8:24]),
            socket.inet_ntop(socket.AF_INET6, b[24:40]), b[6], 40,
            40 + struct.unpack("!H", b[4:6])[0])


def parse(hexpkt):
    """A packet the TUN device received, as a dict: addresses, protocol, and
    for ICMP(v6) its type, code, checksum check and the quoted packet's
    addresses, protocol, ports and payload; for TCP its ports and flags."""
    b = bytes.fromhex(hexpkt)
    v, src, dst, proto, hlen, total = ip_header(b)
    body = b[hlen:total]
    pkt = {"v": v, "src": src, "dst": dst, "proto": proto}
    if proto == 6:
        pkt["sport"], pkt["dport"] = struct.unpack("!HH", body[:4])
        pkt["flags"] = body[13]
    elif (v, proto) in ((4, 1), (6, 58)):
        if v == 4:
            pkt["sum_ok"] = inet_sum(body) == 0
        else:  # the pseudo-header (RFC 8200 8.1) is part of the sum
            pseudo = b[8:40] + struct.pack("!I3xB", len(body), 58)
            pkt["sum_ok"] = inet_sum(pseudo + body) == 0
        pkt["type"], pkt["code"] = body[0], body[1]
        inner = body[8:]
        qv, qsrc, qdst, qproto, qhlen, _ = ip_header(inner)
        pkt["quoted"] = {"v": qv, "src": qsrc, "dst": qdst, "proto": qproto,
                         "ports": struct.unpack("!HH", inner[qhlen:qhlen + 4]),
                         "after": inner[qhlen + (8 if qproto == 17 else 20):]}
    return pkt


def icmp_of(result):
    return [p for p in map(parse, result["packets"]) if "type" in p]


def assert_unreach(fam, result, why, dst, port, proto=6):
    """The one ICMP error a probe got: from the gateway's address, of the
    RFC type and code for why, quoting the probe's own packet; and the
    errno Linux makes of it."""
    assert result["errno"] == fam.errno[why], result
    (icmp,) = icmp_of(result)
    assert icmp["sum_ok"], icmp
    assert (icmp["src"], icmp["dst"]) == (fam.gw, fam.client), icmp
    assert (icmp["type"], icmp["code"]) == (fam.icmp["type"], fam.icmp[why]), icmp
    q = icmp["quoted"]
    assert (q["v"], q["src"], q["dst"], q["proto"]) == (fam.v, fam.client, dst, proto), q
    assert q["ports"] == (result["sport"], port), q
    return q


def assert_reset(fam, result, port):
    """Refused by an RST from the destination (no ICMP): ECONNREFUSED."""
    assert result["errno"] == "ECONNREFUSED", result
    assert result["s"] < FAST_S, f"the refusal took {result['s']:.3f} s"
    assert icmp_of(result) == [], result
    rsts = [p for p in map(parse, result["packets"])
            if p["proto"] == 6 and p["flags"] & TCP_RST]
    assert [(p["src"], p["sport"], p["dst"], p["dport"]) for p in rsts] == \
        [(fam.gw, port, fam.client, result["sport"])], result


@pytest.mark.parametrize("v", [4, 6])
def test_kernel_client_sees_refused_port_unreachable_and_prohibited(notun, tmp_path, dests,
                                                                       v):
    site = kernel_site(notun, tmp_path, dests)
    try:
        fam, d = Family(site, v), dests[v]
        # UDP to the gateway's address is refused before lwIP, to another
        # address by the datagram's catch-all: both kinds of denial.
        denied = [(6, fam.gw, FILTERED_PORT), (6, fam.outside, 80),
                  (17, fam.gw, FILTERED_PORT), (17, fam.outside, 53)]
        up, refused, udp, *denials = run_probes(site, [
            connect(fam.gw, d["http"]),  # the session up: later times are answers only
            connect(fam.gw, d["closed"]),
            udp_probe(fam.gw, d["udp_closed"]),
            *[connect(host, port) if proto == 6 else udp_probe(host, port)
              for proto, host, port in denied]])
        assert up["errno"] is None, up
        assert_reset(fam, refused, d["closed"])
        q = assert_unreach(fam, udp, "port", fam.gw, d["udp_closed"], proto=17)
        assert q["after"].startswith(KPROBE_PAYLOAD), q  # the client's own datagram
        assert udp["s"] < FAST_S and udp["reply_len"] is None, udp
        for r, (proto, host, port) in zip(denials, denied):
            q = assert_unreach(fam, r, "prohibited", host, port, proto)
            assert r["s"] < FAST_S, f"the denial of {proto}/{host}:{port} took {r['s']:.3f} s"
            if proto == 17:
                assert q["after"].startswith(KPROBE_PAYLOAD), q
    finally:
        site.close()


CONNECT_TIMEOUT_S = 2


def test_kernel_client_sees_host_unreachable_when_the_destination_is(notun, tmp_path, dests):
    """The gateway's connect() fails (no neighbour answers ARP, about 3 s)
    before its ConnectTimeout: ICMP host unreachable, EHOSTUNREACH."""
    timeout_s = 20
    site = kernel_site(notun, tmp_path, dests, ["--connect-timeout", str(timeout_s)])
    try:
        fam, host = Family(site, 4), NO_NEIGHBOUR.format(n=site.ns.n)
        up, r = run_probes(site, [connect(fam.gw, dests[4]["http"]), connect(host, 80)])
        assert up["errno"] is None, up
        assert_unreach(fam, r, "host", host, 80)
        assert r["s"] < timeout_s - FAST_S, f"took {r['s']:.3f} s: the gateway's timeout?"
        site.gateway.wait_log(rf"event=flow_failed .*dst={re.escape(host)}:80 "
                              r"reason=\"No route to host\"")
    finally:
        site.close()


@pytest.mark.parametrize("v", [4, 6])
def test_kernel_client_sees_host_unreachable_after_the_connect_timeout(notun, tmp_path, dests,
                                                                        v):
    site = kernel_site(notun, tmp_path, dests, ["--connect-timeout", str(CONNECT_TIMEOUT_S)])
    try:
        fam, d = Family(site, v), dests[v]
        up, silent = run_probes(site, [connect(fam.gw, d["http"]),
                                       connect(fam.gw, d["silent"])])
        assert up["errno"] is None, up
        assert_unreach(fam, silent, "host", fam.gw, d["silent"])
        # The gateway's timeout, not the kernel's (minutes of SYN retries).
        assert CONNECT_TIMEOUT_S - 0.1 < silent["s"] < CONNECT_TIMEOUT_S + FAST_S, silent
    finally:
        site.close()


UDP_SILENCE_S = 2  # how long a datagram that gets no answer is waited for


@pytest.mark.parametrize("v", [4, 6])
def test_kernel_client_over_the_flow_limit_is_reset_or_dropped_others_work(notun, tmp_path,
                                                                          dests, v):
    site = kernel_site(notun, tmp_path, dests, ["--max-flows-per-peer", "2"])
    try:
        fam, d = Family(site, v), dests[v]
        a, b, over, udp_over, get_a, get_b = run_probes(site, [
            connect(fam.gw, d["http"], keep="a"), connect(fam.gw, d["http"], keep="b"),
            connect(fam.gw, d["http"]),
            dict(udp_probe(fam.gw, d["echo"]), timeout=UDP_SILENCE_S),
            {"op": "get", "on": "a", "path": "/hello", "timeout": PROBE_TIMEOUT_S},
            {"op": "get", "on": "b", "path": "/hello", "timeout": PROBE_TIMEOUT_S}])
        assert a["errno"] is None and b["errno"] is None, (a, b)
        assert_reset(fam, over, d["http"])
        # A datagram over the limit: dropped, no answer of any kind.
        assert udp_over["errno"] == "TIMEOUT" and udp_over["packets"] == [], udp_over
        for r in (get_a, get_b):
            assert r["errno"] is None, r
            assert r["reply"].startswith("HTTP/1.1 200"), r
            assert r["reply"].endswith("hello through notun\n"), r
        assert counters(site.gateway, "limit_peer") == 2
        assert counters(site.gateway, "udp_dropped") == 1
    finally:
        site.close()


# Each recv() waits this for the RST: the gateway's whole exit (ASan, a loaded
# machine) fits, and an RST the kernel ignored leaves it waiting in vain.
RESET_WAIT_S = 15


def stop_gateway(site, dests):
    site.gateway.stop()


def revoke_by_reload(site, dests):
    """The file without the HTTP ports, reread (SIGHUP)."""
    text = site.gateway.conf.read_text()
    for v in (4, 6):
        text = text.replace(f"tcp:{dests[v]['http']},", "tcp:")
    secret_config(site.gateway.conf, text)
    site.gateway.proc.send_signal(signal.SIGHUP)
    site.gateway.wait_log(r"event=peers_reloaded ")


@pytest.mark.parametrize("end", [stop_gateway, revoke_by_reload])
def test_kernel_client_flows_are_reset_when_the_gateway_ends_them(notun, tmp_path, dests, end):
    """gateway.md: SIGTERM resets every client flow, the RSTs sent through
    the tunnel before the process exits; SIGHUP resets the flows the new
    rules no longer allow. A kernel takes an RST only at its exact next
    sequence number (RFC 5961 3.2): anything else is answered with a
    challenge ACK and the connection lives on."""
    site = kernel_site(notun, tmp_path, dests)
    proc = None
    try:
        proc = start_probes(site, [
            connect(site.gw_ip, dests[4]["http"], keep="a"),
            connect(site.gw_ip6, dests[6]["http"], keep="b"),
            {"op": "recv", "on": "a", "timeout": RESET_WAIT_S},
            {"op": "recv", "on": "b", "timeout": RESET_WAIT_S}])
        site.gateway.wait_log("event=flow_opened", count=2)
        end(site, dests)
        _, _, ra, rb = finish_probes(site, proc, 4)
        proc = None
        for r in (ra, rb):
            assert r["errno"] == "ECONNRESET", r
    finally:
        release(proc and (lambda: (proc.kill(), proc.wait(timeout=10))), site.close)


@pytest.mark.parametrize("v", [4, 6])
def test_kernel_client_pings_the_gateway_and_no_one_else(notun, tmp_path, dests, v):
    """gateway.md: an ICMP echo request to the gateway's tunnel address is
    answered (lwIP), ICMP to any other address is dropped."""
    site = kernel_site(notun, tmp_path, dests)
    try:
        fam = Family(site, v)

        def ping(host, count, wait_s):
            return subprocess.run(["ip", "netns", "exec", site.ns.name, "ping", f"-{v}", "-n",
                                   "-c", str(count), "-i", "0.2", "-W", str(wait_s), host],
                                  capture_output=True, text=True, timeout=30)

        r = ping(fam.gw, 3, 10)
        assert r.returncode == 0 and " 3 received" in r.stdout, r.stdout + r.stderr
        r = ping(fam.outside, 1, 2)
        # Dropped: no reply and no error (an ICMP unreachable) either.
        assert r.returncode == 1 and " 0 received" in r.stdout, r.stdout + r.stderr
        assert "error" not in r.stdout, r.stdout
    finally:
        site.close()


@pytest.mark.parametrize("v", [4, 6])
def test_kernel_client_udp_echo_fragmented_both_ways(notun, tmp_path, dests, v):
    """gateway.md: UDP replies come back from the destination's address,
    lwIP fragmenting large ones; the kernel reassembles them. 1400 and 9000
    bytes exceed the tunnel's MTU (1420) with their headers."""
    site = kernel_site(notun, tmp_path, dests)
    try:
        fam, port = Family(site, v), dests[v]["echo"]
        sizes = (5, 1400, 9000)
        results = run_probes(site, [udp_probe(fam.gw, port, size) for size in sizes])
        for size, r in zip(sizes, results):
            assert r["errno"] is None and r["reply_len"] == size and r["echoed"], (size, r)
            got = [(p["src"], p["dst"]) for p in map(parse, r["packets"])]
            # One datagram, or the fragments of one above the MTU.
            assert (len(got) == 1) == (size < 1400), (size, len(got))
            assert set(got) == {(fam.gw, fam.client)}, got
    finally:
        site.close()
