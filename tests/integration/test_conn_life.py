"""What a user reads in the log: one event=conn_closed line per proxied
connection (route, bytes, reason), a named port in use, a silent peer warned
about once, and "the tunnel is down" told apart in the proxy's answers."""
import re
import socket
import subprocess
import time

import socks
from client import HTTP_PORT, Notun, curl, free_tcp_port, sha256_of_file
from conftest import run
from httpsrv import pattern_sha256
from wgtun import KeyPair

KIB = 1 << 10
LOG_WAIT_S = 10


def conn_lines(n, want, count=1, timeout=LOG_WAIT_S):
    """The event=conn_closed lines whose fields include every key=value in
    want, once at least count are there (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        text = n.log_path.read_text()
        found = [line for line in text.splitlines() if "event=conn_closed" in line
                 and all(f" {k}={v}" in line for k, v in want.items())]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"no conn_closed line with {want}: {text[-4000:]}"
            return found


def field(line, key):
    m = re.search(rf" {key}=(\"[^\"]*\"|\S+)", line)
    return m.group(1).strip('"') if m else None


def test_conn_closed_lines_tunnel_direct_failed_http(notun, tmp_path, site, local_http):
    name = "files.notun-private.test"
    dns = site.ns.spawn("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                        f"--listen-address={site.ip}", "--bind-interfaces", "--port=53",
                        f"--address=/{name}/{site.ip}", "--pid-file=", "--user=root",
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_tcp_port()
    n = Notun(notun, tmp_path, site.client_config(port, extra_interface=f"DNS = {site.ip}"))
    try:
        n.wait_listening(port)
        size = 300 * KIB
        # SOCKS5 by address, through the tunnel: the bytes are the download's.
        out = tmp_path / "by_addr"
        r = curl(["--proxy", f"socks5://127.0.0.1:{port}", "-o", str(out),
                  f"http://{site.ip}:{HTTP_PORT}/bytes/{size}?seed=a"])
        assert r.returncode == 0, r.stderr
        assert sha256_of_file(out) == pattern_sha256(size, "a")
        line = conn_lines(n, {"target": site.ip, "route": "tunnel"})[0]
        assert field(line, "port") == str(HTTP_PORT)
        assert re.fullmatch(r"\d+", field(line, "cid"))
        assert re.fullmatch(r"127\.0\.0\.1:\d+", field(line, "client"))
        assert field(line, "peer"), line
        assert int(field(line, "bytes_down")) >= size
        assert int(field(line, "bytes_up")) > 0
        assert re.fullmatch(r"\d+", field(line, "duration_ms"))
        assert "reason=" not in line

        # SOCKS5 by name (the tunnel's DNS): the name as given.
        out = tmp_path / "by_name"
        r = curl(["--proxy", f"socks5h://127.0.0.1:{port}", "-o", str(out),
                  f"http://{name}:{HTTP_PORT}/bytes/{size}?seed=n"])
        assert r.returncode == 0, r.stderr
        line = conn_lines(n, {"target": name, "route": "tunnel"})[0]
        assert int(field(line, "bytes_down")) >= size

        # Direct (bypass = direct): a host outside every AllowedIPs.
        r = curl(["--proxy", f"socks5://127.0.0.1:{port}", "-o", str(tmp_path / "d"),
                  f"http://127.0.0.1:{local_http}/bytes/{size}?seed=d"])
        assert r.returncode == 0, r.stderr
        line = conn_lines(n, {"target": "127.0.0.1", "port": local_http, "route": "direct"})[0]
        assert int(field(line, "bytes_down")) >= size and "peer=" not in line

        # HTTP forwarding: one line for the run of requests to one host:port.
        r = curl(["--proxy", f"http://127.0.0.1:{port}", "-o", str(tmp_path / "h"),
                  f"http://{site.ip}:{HTTP_PORT}/bytes/{size}?seed=h"])
        assert r.returncode == 0, r.stderr
        line = conn_lines(n, {"requests": 1, "route": "tunnel"})[0]
        assert field(line, "target") == site.ip and int(field(line, "bytes_down")) >= size

        # Failed: refused by the destination, and a name that does not resolve.
        closed = free_tcp_port()
        rep, sock = socks.connect(("127.0.0.1", port), "127.0.0.1", closed)
        assert rep == 0x05 and sock is None
        line = conn_lines(n, {"port": closed, "route": "direct"})[0]
        assert field(line, "reason") == "connection refused"
        rep, sock = socks.connect(("127.0.0.1", port), "nosuch.notun-private.test", 80)
        assert rep == 0x04 and sock is None
        line = conn_lines(n, {"target": "nosuch.notun-private.test", "route": "failed"})[0]
        assert field(line, "reason") == "name does not resolve"
        assert int(field(line, "bytes_down")) == 0
    finally:
        n.stop()
        dns.terminate()
        dns.wait(timeout=5)


def test_conn_closed_line_rejected(notun, tmp_path, site, local_http):
    port = free_tcp_port()
    n = Notun(notun, tmp_path, site.client_config(port, extra_proxy="Bypass = reject"))
    try:
        n.wait_listening(port)
        rep, sock = socks.connect(("127.0.0.1", port), "127.0.0.1", local_http)
        assert rep == 0x02 and sock is None
        line = conn_lines(n, {"target": "127.0.0.1", "route": "rejected"})[0]
        assert field(line, "reason") == "destination not allowed"
    finally:
        n.stop()


def silent_config(keys, peer, proxy_port, endpoint_port, extra=""):
    return (f"[Interface]\nPrivateKey = {keys.private}\nAddress = 10.77.0.2/32\n\n"
            f"[Peer]\nPublicKey = {peer.public}\nEndpoint = 127.0.0.1:{endpoint_port}\n"
            f"AllowedIPs = 10.77.0.0/24\n\n"
            f"[Proxy]\nListen = 127.0.0.1:{proxy_port}\n{extra}\n")


def test_port_in_use_is_named(notun, tmp_path):
    keys, peer = KeyPair(notun), KeyPair(notun)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = holder.getsockname()[1]
        conf = tmp_path / "busy.conf"
        conf.write_text(silent_config(keys, peer, busy, 9))
        conf.chmod(0o600)
        proc = run([notun, "up", "-c", str(conf)], check=False)
    assert proc.returncode != 0
    assert f"port {busy} on 127.0.0.1 is already in use (another notun up?)" in proc.stderr, \
        proc.stderr
    assert "error=-98" not in proc.stderr


def test_silent_peer_warned_once_and_tunnel_down_told(notun, tmp_path):
    keys, peer = KeyPair(notun), KeyPair(notun)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        ep = silent.getsockname()[1]
        port = free_tcp_port()
        n = Notun(notun, tmp_path, silent_config(keys, peer, port, ep, "ConnectTimeout = 2s"))
        try:
            n.wait_listening(port)
            start = time.monotonic()
            rep, sock = socks.connect(("127.0.0.1", port), "10.77.0.9", 80, timeout=10)
            assert rep == 0x04 and sock is None  # proxy/README.md: host unreachable
            line = conn_lines(n, {"target": "10.77.0.9", "route": "tunnel"})[0]
            assert field(line, "reason").startswith("the tunnel is down"), line
            r = curl(["--proxy", f"http://127.0.0.1:{port}", "-i", "http://10.77.0.9/"],
                     timeout=20)
            assert " 502 " in r.stdout and "notun: the tunnel is down" in r.stdout, r.stdout
            # Retries every 5 s (REKEY_TIMEOUT): by 12 s two went unanswered,
            # warned about once.
            time.sleep(max(0.0, 12 - (time.monotonic() - start)))
            log = n.log_path.read_text()
            warned = [l for l in log.splitlines() if "event=handshake_unanswered" in l]
            assert len(warned) == 1, log[-4000:]
            assert f"endpoint=127.0.0.1:{ep}" in warned[0]
            assert re.search(rf"no handshake answer from 127\.0\.0\.1:{ep} for [4-6] s",
                             warned[0]), warned[0]
            assert log.count("event=handshake_initiation_sent") >= 3
        finally:
            n.stop()
