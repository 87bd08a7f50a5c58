"""dns resources (portal-protocol.md section 7) end to end, all notun: the
client gives a name a proxy address and never resolves it, the gateway
resolves it (RFC 6761 names here, so no DNS server is asked) and maps the
proxy address to the real one. The HTTP server of the dns resource listens
on the gateway's loopback, published to grants by the gateway's own
`[Gateway] Allow` rule."""
import os
import subprocess
import time

import pytest

from client import curl, free_tcp_port, sha256_of_file
from httpsrv import pattern_sha256
from socks import connect
from test_client_portal import portal_world

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def dns_world(notun, tmp_path):
    lport = free_tcp_port()
    srv = subprocess.Popen(["python3", os.path.join(HERE, "httpsrv.py"), "127.0.0.1",
                            str(lport)], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"

        def extra(ns, http_port):
            return (f"[Resource webdns]\nAddress = *.demo.localhost\nFilters = tcp:{lport}\n"
                    "Sites = office\nAllow = alice\n"
                    "[Resource gone]\nAddress = nothere.invalid\nSites = office\n"
                    "Allow = alice\n")
        with portal_world(notun, tmp_path, extra=extra,
                          gw_extra=f"\n[Gateway]\nAllow = 127.0.0.1/32 tcp:{lport}\n") as w:
            w["lport"] = lport
            yield w
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_dns_resource_through_socks5_and_http(dns_world):
    w = dns_world
    port, lport = w["proxy"][1], w["lport"]
    out = w["tmp"] / "down"
    url = f"http://web.demo.localhost:{lport}/bytes/{1 << 20}?seed=dns"
    r = curl(["--socks5-hostname", f"127.0.0.1:{port}", "-o", str(out), url], timeout=40)
    assert r.returncode == 0, r.stderr + w["client"].read_log() + w["gw"].read_log()
    assert sha256_of_file(out) == pattern_sha256(1 << 20, "dns")
    r = curl(["--proxy", f"http://127.0.0.1:{port}", "-o", str(out),
              url.replace("web.", "api.")], timeout=40)
    assert r.returncode == 0, r.stderr + w["client"].read_log()
    assert sha256_of_file(out) == pattern_sha256(1 << 20, "dns")
    # Again by the first name: its proxy address is kept, not made anew.
    r = curl(["--socks5-hostname", f"127.0.0.1:{port}", "-o", str(out), url], timeout=40)
    assert r.returncode == 0
    log = w["client"].read_log()
    assert log.count("event=name_added rid=webdns domain=web.demo.localhost") == 1, log
    assert log.count("event=name_added rid=webdns domain=api.demo.localhost") == 1, log
    assert "event=name_active rid=webdns gid=gw1 domain=web.demo.localhost" in log
    assert "event=name_active rid=webdns gid=gw1 domain=api.demo.localhost" in log
    # One grant serves both names.
    assert log.count("event=access_granted rid=webdns") == 1, log


def test_dns_name_that_does_not_resolve_fails_at_once(dns_world):
    w = dns_world
    t = time.monotonic()
    rep, _ = connect(w["proxy"], "nothere.invalid", 80)
    assert rep == 0x04, w["client"].read_log()
    assert time.monotonic() - t < 5
    r = curl(["--proxy", f"http://127.0.0.1:{w['proxy'][1]}", "-i", "http://nothere.invalid/"],
             timeout=20)
    head = r.stdout.splitlines()[0] if r.stdout else ""
    assert "502" in head and "gone" in r.stdout and "nothere.invalid" in r.stdout, r.stdout
    assert "event=name_failed rid=gone gid=gw1 domain=nothere.invalid" in w["client"].read_log()


def test_dns_port_outside_filters_is_refused_locally(dns_world):
    w = dns_world
    mark = len(w["portal"].lines)
    t = time.monotonic()
    rep, _ = connect(w["proxy"], "web.demo.localhost", w["lport"] + 1)
    assert rep == 0x02 and time.monotonic() - t < 1
    time.sleep(0.3)
    assert not any("rid=webdns" in line for line in w["portal"].lines[mark:])


def test_dns_name_matching_no_resource_is_not_a_proxy_address(dns_world):
    """A name outside every pattern takes the usual path: resolved locally
    (here the RFC 6761 name localhost: no DNS server involved) and, with no
    route, the bypass; it gets no proxy address."""
    w = dns_world
    rep, _ = connect(w["proxy"], "localhost", w["lport"])
    assert rep == 0x00, w["client"].read_log()
    log = w["client"].read_log()
    assert "event=name_added" not in log, log
