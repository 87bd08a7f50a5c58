"""notun's WireGuard against an independent implementation: wireguard-go on a
TUN device in a network namespace that each test creates and removes."""
import subprocess
import time

import pytest

from netns import Namespace, WireGuardGo, require_netns
from wgtun import WGFLOOD, KeyPair, finish, free_udp_port, kill, start, wgtun, wgtun_args

WG_PORT = 51820


@pytest.fixture
def ns():
    require_netns()
    n = Namespace()
    yield n
    n.close()


@pytest.fixture
def pair(notun, ns):
    """wireguard-go in the namespace, and the keys of both sides."""
    ours, theirs = KeyPair(notun), KeyPair(notun)
    wg = WireGuardGo(ns, theirs.private, WG_PORT)
    yield ours, theirs, wg
    wg.close()


def endpoint(ns):
    return f"{ns.ns_ip}:{WG_PORT}"


def test_initiator_handshake_and_icmp_echo_v4_v6(tmp_path, ns, pair):
    ours, theirs, wg = pair
    wg.add_peer(ours.public, f"10.214.{ns.n}.2/32,fd00:214:{ns.n:x}::2/128")
    for dst in (wg.tunnel_ip, wg.tunnel_ip6):
        args = wgtun_args(tmp_path, ours, ns, theirs.public, endpoint=endpoint(ns),
                          extra=["--ping", dst, "--count", "20", "--size", "1200",
                                 "--timeout-ms", "10000"])
        rc, report, err = wgtun(args, timeout=30)
        assert rc == 0, err[-3000:]
        assert report["sent"] == 20 and report["received"] == 20
        assert report["bad_replies"] == 0
        assert report["handshakes_completed"] >= 1
    assert wg.latest_handshake(ours.public) > 0


def test_responder_accepts_wireguard_go_initiation(tmp_path, ns, pair):
    ours, theirs, wg = pair
    port = free_udp_port(ns.host_ip)
    args = wgtun_args(tmp_path, ours, ns, theirs.public,
                      extra=["--listen", f"{ns.host_ip}:{port}", "--serve-ms", "15000"])
    proc = start(args)
    try:
        wg.add_peer(ours.public, f"10.214.{ns.n}.2/32", endpoint=f"{ns.host_ip}:{port}")
        ping = ns.run("ping", "-c", "5", "-i", "0.2", "-W", "3", f"10.214.{ns.n}.2", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        proc.terminate()
    rc, report, err = finish(proc, timeout=15)
    assert rc == 0, err[-3000:]
    assert report["handshakes_completed"] >= 1
    assert report["handshakes_initiated"] == 0, "wireguard-go should have initiated"
    assert report["rx_packets"] >= 5


def test_preshared_key(tmp_path, ns, pair, notun):
    ours, theirs, wg = pair
    psk = subprocess.run([notun, "genpsk"], capture_output=True, text=True,
                         timeout=10).stdout.strip()
    wg.add_peer(ours.public, f"10.214.{ns.n}.2/32", psk=psk)
    args = wgtun_args(tmp_path, ours, ns, theirs.public, endpoint=endpoint(ns), psk=psk,
                      extra=["--ping", wg.tunnel_ip, "--count", "5", "--timeout-ms", "10000"])
    rc, report, err = wgtun(args, timeout=30)
    assert rc == 0, err[-3000:]
    assert report["received"] == 5


def test_wrong_psk_fails_cleanly_with_reason(tmp_path, ns, pair, notun):
    ours, theirs, wg = pair
    genpsk = lambda: subprocess.run([notun, "genpsk"], capture_output=True, text=True,
                                    timeout=10).stdout.strip()
    wg.add_peer(ours.public, f"10.214.{ns.n}.2/32", psk=genpsk())
    args = wgtun_args(tmp_path, ours, ns, theirs.public, endpoint=endpoint(ns), psk=genpsk(),
                      extra=["--ping", wg.tunnel_ip, "--count", "2", "--timeout-ms", "3000"])
    rc, report, err = wgtun(args, timeout=30)
    assert rc == 1
    assert report["received"] == 0 and report["handshakes_completed"] == 0
    assert "event=handshake_failed" in err and "does not authenticate" in err, err[-3000:]


def test_unknown_key_is_refused_with_reason(tmp_path, ns, pair, notun):
    ours, theirs, wg = pair
    stranger = KeyPair(notun)
    port = free_udp_port(ns.host_ip)
    # We expect a peer key that is not wireguard-go's: its initiations must be refused.
    args = wgtun_args(tmp_path, ours, ns, stranger.public,
                      extra=["--listen", f"{ns.host_ip}:{port}", "--serve-ms", "4000"])
    proc = start(args)
    try:
        wg.add_peer(ours.public, f"10.214.{ns.n}.2/32", endpoint=f"{ns.host_ip}:{port}")
        ping = ns.run("ping", "-c", "2", "-W", "1", f"10.214.{ns.n}.2", check=False)
    except Exception:
        kill(proc)
        raise
    rc, report, err = finish(proc, timeout=15)
    assert ping.returncode != 0
    assert report["handshakes_completed"] == 0
    assert "unknown static key" in err, err[-3000:]


def test_cookie_reply_from_loaded_wireguard_go_then_mac2_handshake(tmp_path, ns, pair):
    ours, theirs, wg = pair
    wg.add_peer(ours.public, f"10.214.{ns.n}.2/32")
    flood = subprocess.Popen([WGFLOOD, "--to", endpoint(ns), "--from", ns.host_ip2,
                              "--responder-public-key", theirs.public, "--rate", "50000",
                              "--seconds", "25"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # let wireguard-go's handshake queue fill
        assert flood.poll() is None, flood.stderr.read()
        args = wgtun_args(tmp_path, ours, ns, theirs.public, endpoint=endpoint(ns),
                          extra=["--ping", wg.tunnel_ip, "--count", "3",
                                 "--timeout-ms", "20000"])
        rc, report, err = wgtun(args, timeout=40)
    finally:
        flood.terminate()
        try:
            flood.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            kill(flood)
    assert rc == 0, err[-3000:]
    assert report["cookie_replies"] >= 1, "wireguard-go was not under load"
    assert report["received"] == 3


def test_rekey_happens_across_a_long_transfer(tmp_path, ns, pair):
    ours, theirs, wg = pair
    wg.add_peer(ours.public, f"10.214.{ns.n}.2/32")
    count = 400
    args = wgtun_args(tmp_path, ours, ns, theirs.public, endpoint=endpoint(ns),
                      extra=["--rekey-after-ms", "1500", "--reject-after-ms", "6000",
                             "--ping", wg.tunnel_ip, "--count", str(count), "--size", "1300",
                             "--interval-ms", "20", "--timeout-ms", "30000"])
    rc, report, err = wgtun(args, timeout=60)
    assert rc == 0, err[-3000:]
    assert report["received"] == count, "packets were lost across a rekey"
    assert report["handshakes_completed"] >= 3, report
