"""Signals of `notun up` and `notun gateway` (issue 15, item 3), on the
loopback site of test_gateway.py: SIGUSR1 logs the counters, SIGHUP reloads
the configuration file (peers, proxy credentials and bypass; a gateway's
peers and Allow rules) and names what needs a restart; neither ends the
process (their default action does)."""
import re
import signal
import socket
import time

import pytest

import socks
from client import curl, free_tcp_port
from test_gateway import (GW_IP, CLIENT_IP, Gateway, Site, proxy_url,  # noqa: F401
                          secret_config, servers)
from wgtun import KeyPair, free_udp_port

WAIT_S = 15
GW2_IP = "10.98.0.1"


@pytest.fixture
def site(notun, tmp_path, servers):
    """test_gateway.py's loopback site (conftest's is a namespace's)."""
    s = Site(notun, tmp_path, servers)
    yield s
    s.close()


def full_log(proc):
    """A Notun's or a Gateway's whole log (Notun.read_log keeps the tail)."""
    if not proc.log.closed:
        proc.log.flush()
    return proc.log_path.read_text()


def wait_log(proc, pattern, count=1, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(pattern, full_log(proc))
        if len(found) >= count:
            return found
        assert proc.proc.poll() is None, f"exited {proc.proc.returncode}: {full_log(proc)[-4000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no '{pattern}' in the log: {full_log(proc)[-4000:]}")


def rewrite(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    secret_config(path, text.replace(old, new))


def reload(proc, count=1):
    proc.proc.send_signal(signal.SIGHUP)
    wait_log(proc, r"event=(reloaded|reload_failed)", count=count)


def fetch(site, user=None, password=None):
    auth = f"{user}:{password}@" if user else ""
    return curl(["--proxy", f"socks5h://{auth}127.0.0.1:{site.proxy_port}",
                 site.url("/hello")], timeout=30)


def http_proxy_status(site, user, password):
    r = curl(["--proxy", f"http://{user}:{password}@127.0.0.1:{site.proxy_port}",
              "-o", "/dev/null", "-w", "%{http_code}", site.url("/hello")], timeout=30)
    return r.stdout


def test_sigusr1_and_sighup_keep_the_client_alive(site):
    assert fetch(site).stdout == "hello through notun\n"
    site.client.proc.send_signal(signal.SIGUSR1)
    wait_log(site.client, r"event=counters set=engine opens=\d+ via_tunnel=\d+")
    wait_log(site.client, r"event=counters set=proxy accepted=\d+")
    wait_log(site.client, r"event=counters set=tunnel ")
    wait_log(site.client, r"event=peer_counters peer=\S+ endpoint=127\.0\.0\.1:\d+ session=yes "
                          r".*handshakes=1 ")
    reload(site.client)
    assert "event=reload_needs_restart" not in full_log(site.client)
    r = fetch(site)
    assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
    assert site.client.proc.poll() is None


def test_sighup_takes_a_new_password(notun, tmp_path, servers):
    site = Site(notun, tmp_path, servers, client_extra="Username = u\nPassword = old-secret\n")
    try:
        assert fetch(site, "u", "old-secret").returncode == 0
        rewrite(site.client.conf, "Password = old-secret", "Password = new-secret")
        reload(site.client)
        old = fetch(site, "u", "old-secret")
        assert old.returncode != 0, "the old password still works"
        assert http_proxy_status(site, "u", "old-secret") == "407"
        new = fetch(site, "u", "new-secret")
        assert new.returncode == 0 and new.stdout == "hello through notun\n", new.stderr
        assert http_proxy_status(site, "u", "new-secret") == "200"
        assert "new-secret" not in full_log(site.client)
    finally:
        site.close()


def test_sighup_adds_a_peer_and_leaves_the_unchanged_session_alone(notun, tmp_path, site):
    s = site.servers
    gw2_keys, gw2_port = KeyPair(notun), free_udp_port("127.0.0.1")
    gw2 = Gateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {gw2_keys.private}\nListenPort = {gw2_port}\n"
        f"Address = {GW2_IP}/32\n\n"
        f"[Peer]\nPublicKey = {site.client_keys.public}\nAllowedIPs = {CLIENT_IP}/32\n\n"
        f"[Gateway]\nAllow = {GW2_IP}/32 tcp:{s['http']}\n"), name="gateway2")
    try:
        assert fetch(site).returncode == 0  # the session with the first gateway
        handshakes = len(re.findall("event=handshake_complete", site.gateway.read_log()))
        assert handshakes >= 1
        rewrite(site.client.conf, "[Proxy]",
                f"[Peer]\nPublicKey = {gw2_keys.public}\nEndpoint = 127.0.0.1:{gw2_port}\n"
                f"AllowedIPs = {GW2_IP}/32\n\n[Proxy]")
        reload(site.client)
        wait_log(site.client, r"event=peers_reloaded peers=2 added=1 removed=0")
        r = curl(["--proxy", proxy_url(site.proxy_port), f"http://{GW2_IP}:{s['http']}/hello"],
                 timeout=30)
        assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
        gw2.wait_log(r"event=flow_opened peer=\S+ proto=tcp")
        assert fetch(site).returncode == 0
        # The first gateway's session went on: no handshake since.
        assert len(re.findall("event=handshake_complete",
                              site.gateway.read_log())) == handshakes
    finally:
        gw2.stop()


def test_sighup_with_a_broken_file_changes_nothing(site):
    rewrite(site.client.conf, "[Proxy]", "[Proxy]\nBypass = sometimes")
    reload(site.client)
    line = wait_log(site.client, r"event=reload_failed file=\S+ line=\d+ key=\S+ reason=\".*\"")
    assert re.search(r"line=[1-9]\d* key=Bypass", full_log(site.client)), line
    assert "event=reloaded" not in full_log(site.client)
    r = fetch(site)
    assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr


def test_sighup_names_a_changed_listen_as_needing_a_restart(site):
    other = free_tcp_port()
    rewrite(site.client.conf, f"Listen = 127.0.0.1:{site.proxy_port}",
            f"Listen = 127.0.0.1:{other}")
    reload(site.client)
    wait_log(site.client, r"event=reload_needs_restart keys=Listen\b")
    assert fetch(site).returncode == 0  # still on the old port


def test_gateway_sighup_removed_rule_resets_its_flows_and_refuses_new_ones(site):
    s = site.servers
    rep, sock = socks.connect(site.proxy, GW_IP, s["http"])
    assert rep == 0
    with sock:
        rewrite(site.gateway.conf, f"tcp:{s['http']},", "tcp:")
        reload(site.gateway)
        site.gateway.wait_log(r"event=peers_reloaded peers=2 added=0 removed=0")
        sock.settimeout(WAIT_S)
        try:
            got = sock.recv(100)
        except ConnectionResetError:
            got = b""
        assert got == b"", "the flow the removed rule allowed is still open"
    rep, sock = socks.connect(site.proxy, GW_IP, s["http"])
    if sock:
        sock.close()
    assert rep == 0x02, f"a new flow gave {rep:#x}"
    # The rules that stay still work.
    rep, sock = socks.connect(site.proxy, GW_IP, s["closed"])
    if sock:
        sock.close()
    assert rep == 0x05


def test_gateway_sighup_removed_peer_can_no_longer_connect(notun, tmp_path, servers):
    site = Site(notun, tmp_path, servers, client_extra="ConnectTimeout = 2\n")
    try:
        assert fetch(site).returncode == 0
        rewrite(site.gateway.conf, f"[Peer]\nPublicKey = {site.client_keys.public}\n",
                "[Peer]\nPublicKey = " + KeyPair(notun).public + "\n")
        reload(site.gateway)
        site.gateway.wait_log(r"event=peers_reloaded peers=2 added=1 removed=1")
        rep, sock = socks.connect(site.proxy, GW_IP, servers["http"])
        if sock:
            sock.close()
        assert rep != 0, "the removed peer still connects"
    finally:
        site.close()


def test_gateway_sighup_with_a_broken_file_changes_nothing(site):
    rewrite(site.gateway.conf, "[Gateway]", "[Gateway]\nAllow = 10.0.0.300/32")
    reload(site.gateway)
    site.gateway.wait_log(r"event=reload_failed file=\S+ line=\d+ key=Allow reason=\".*\"")
    assert fetch(site).returncode == 0
