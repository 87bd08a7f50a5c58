"""notun up end to end as an HTTP proxy: real clients (python http.client,
curl, raw sockets) through notun's HTTP proxy, lwIP and WireGuard to
wireguard-go in a namespace; content checked by sha256."""
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time

from client import HTTP_PORT, Notun, curl, free_tcp_port, sha256_of_file
from httpsrv import pattern_sha256

MIB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
TLS_PORT = 8443
IO_TIMEOUT_S = 30


def proxy_url(port, user=None):
    return f"http://{user + '@' if user else ''}127.0.0.1:{port}"


def raw_exchange(port, data, pause=None):
    """Sends data (a list of pieces, each sent alone, pause seconds apart),
    then reads until the proxy closes or a whole response arrived; returns
    (status, head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in data:
            s.sendall(piece)
            if pause:
                time.sleep(pause)
        buf = b""
        while b"\r\n\r\n" not in buf:
            got = s.recv(65536)
            assert got, f"closed before a response: {buf!r}"
            buf += got
        head, _, body = buf.partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while length is None or len(body) < length:
            got = s.recv(65536)
            if not got:
                break
            body += got
        status = int(head.split(b" ")[1])
        return status, head.decode("latin-1"), body


def test_keep_alive_several_requests_on_one_connection(site, client):
    _, port = client
    base = f"http://{site.ip}:{HTTP_PORT}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_S)
    try:
        sock = None
        for i in range(6):
            conn.request("GET", f"{base}/hello")
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b"hello through notun\n"
            size = 100_000 + i * 77_777
            conn.request("GET", f"{base}/bytes/{size}?seed=ka{i}")
            r = conn.getresponse()
            assert r.status == 200
            assert hashlib.sha256(r.read()).hexdigest() == pattern_sha256(size, f"ka{i}")
            body = os.urandom(50_000 + i)
            conn.request("POST", f"{base}/upload", body=body)
            r = conn.getresponse()
            assert r.status == 200
            assert r.read().decode().strip() == hashlib.sha256(body).hexdigest()
            # http.client reconnects on its own when a connection closes:
            # the same socket all along means keep-alive held.
            sock = sock or conn.sock
            assert conn.sock is sock
        assert "Via: 1.1 notun" in str(r.headers) or r.headers.get("Via") == "1.1 notun"
    finally:
        conn.close()


def test_clients_one_after_another_share_one_tunnel_connection(site, client):
    """curl run once per request (a new client connection each, saying
    close): notun keeps the flow through the tunnel for the next GET to the
    same server, so the server sees one connection (that a POST never
    takes one is tested in tests/unit/test_http_proxy.c)."""
    _, port = client
    url = f"http://{site.ip}:{HTTP_PORT}/peer"

    def peer(*extra):
        out = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", proxy_url(port),
                              "-H", "Connection: close", *extra, url],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    first = peer()
    assert first.split()[0] != "127.0.0.1" and int(first.split()[1]) > 0
    assert [peer() for _ in range(3)] == [first] * 3


def test_chunked_upload_and_download(site, client):
    _, port = client
    base = f"http://{site.ip}:{HTTP_PORT}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_S)
    try:
        size = 5 * MIB + 123
        conn.request("GET", f"{base}/chunked/{size}?seed=chunks")
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader("Transfer-Encoding") == "chunked"
        assert hashlib.sha256(r.read()).hexdigest() == pattern_sha256(size, "chunks")
        pieces = [os.urandom(n) for n in (1, 17, 4096, 65536, 300_000, 9, 1_000_000)]
        conn.request("POST", f"{base}/upload", body=iter(pieces), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert r.status == 200
        assert r.read().decode().strip() == hashlib.sha256(b"".join(pieces)).hexdigest()
        # and the connection is still good
        conn.request("GET", f"{base}/hello")
        assert conn.getresponse().read() == b"hello through notun\n"
    finally:
        conn.close()


def test_post_10mib_sha256(tmp_path, site, client):
    _, port = client
    src = tmp_path / "up"
    src.write_bytes(os.urandom(10 * MIB))
    r = curl(["-x", proxy_url(port), "--data-binary", f"@{src}",
              "-H", "Content-Type: application/octet-stream",
              f"http://{site.ip}:{HTTP_PORT}/upload"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == sha256_of_file(src)


def test_request_split_across_many_segments(site, client):
    _, port = client
    body = os.urandom(1500)
    req = (f"POST http://{site.ip}:{HTTP_PORT}/upload HTTP/1.1\r\nHost: x\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    pieces, at = [], 0
    while at < len(req):
        step = 1 + at % 5
        pieces.append(req[at:at + step])
        at += step
    status, _, got = raw_exchange(port, pieces, pause=0.001)
    assert status == 200
    assert got.decode().strip() == hashlib.sha256(body).hexdigest()


def test_oversized_headers_get_431(site, client):
    _, port = client
    req = (f"GET http://{site.ip}:{HTTP_PORT}/hello HTTP/1.1\r\n"
           + "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(40)) + "\r\n").encode()
    status, head, body = raw_exchange(port, [req])
    assert status == 431, head
    assert b"too large" in body


def test_malformed_request_gets_400(site, client):
    _, port = client
    status, head, body = raw_exchange(port, [b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert status == 400 and "Connection: close" in head
    assert body.startswith(b"notun: ")
    status, _, _ = raw_exchange(port, [
        f"POST http://{site.ip}:{HTTP_PORT}/upload HTTP/1.1\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()])
    assert status == 400


def test_unreachable_destination_gets_502_with_reason(site, client):
    _, port = client
    # Nothing listens on port 9 in the namespace: the kernel there resets.
    status, head, body = raw_exchange(port, [
        f"GET http://{site.ip}:9/ HTTP/1.1\r\nHost: x\r\n\r\n".encode()])
    assert status == 502, head
    assert body == b"notun: connection refused\r\n"
    r = curl(["-x", proxy_url(port), "-o", "/dev/null", "-w", "%{http_code}",
              f"http://{site.ip}:9/"])
    assert r.stdout == "502"


def test_unroutable_network_gets_502_network_unreachable(notun, tmp_path, site):
    # The client routes 10.215.n.0/24 to the site, whose kernel has no route
    # for it: with forwarding on, it answers with ICMP net unreachable.
    port = free_tcp_port()
    site.ns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    n = Notun(notun, tmp_path, site.client_config(
        port, allowed=f"10.214.{site.ns.n}.0/24, 10.215.{site.ns.n}.0/24"))
    try:
        n.wait_listening(port)
        start = time.monotonic()
        status, _, body = raw_exchange(port, [
            f"GET http://10.215.{site.ns.n}.7/ HTTP/1.1\r\n\r\n".encode()])
        assert status == 502
        assert body == b"notun: network unreachable\r\n"
        assert time.monotonic() - start < 5  # at once, not at a timeout
    finally:
        n.stop()


def test_missing_or_wrong_credentials_get_407(notun, tmp_path, site):
    port = free_tcp_port()
    n = Notun(notun, tmp_path, site.client_config(
        port, extra_proxy="Username = ci\nPassword = s3cret-pass"))
    try:
        n.wait_listening(port)
        url = f"http://{site.ip}:{HTTP_PORT}/hello"
        status, head, _ = raw_exchange(port, [f"GET {url} HTTP/1.1\r\n\r\n".encode()])
        assert status == 407
        assert 'Proxy-Authenticate: Basic realm="notun"' in head
        ok = curl(["-x", proxy_url(port, "ci:s3cret-pass"), url])
        assert ok.returncode == 0 and ok.stdout == "hello through notun\n", ok.stderr
        for creds in ("ci:wrong", "other:s3cret-pass"):
            bad = curl(["-x", proxy_url(port, creds), "-w", "%{http_code}", "-o", "/dev/null",
                        url])
            assert bad.stdout == "407", creds
    finally:
        n.stop()


def test_client_leaving_mid_body_does_not_harm_a_transfer(tmp_path, site, client):
    _, port = client
    out = tmp_path / "survivor"
    result = {}

    def transfer():
        result["r"] = curl(["-x", proxy_url(port), "-o", str(out), "--limit-rate", "20M",
                            f"http://{site.ip}:{HTTP_PORT}/bytes/{32 * MIB}?seed=leave"])

    t = threading.Thread(target=transfer)
    t.start()
    head = (f"POST http://{site.ip}:{HTTP_PORT}/upload HTTP/1.1\r\n"
            f"Content-Length: {50 * MIB}\r\n\r\n").encode()
    left = 0
    deadline = time.monotonic() + 20
    while t.is_alive() and left < 10 and time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
            s.sendall(head)
            s.sendall(os.urandom(MIB))
        left += 1
        time.sleep(0.1)
    t.join(timeout=120)
    r = result["r"]
    assert r.returncode == 0, r.stderr
    assert sha256_of_file(out) == pattern_sha256(32 * MIB, "leave")
    assert left >= 3
    # the proxy still serves
    ok = curl(["-x", proxy_url(port), f"http://{site.ip}:{HTTP_PORT}/hello"])
    assert ok.stdout == "hello through notun\n", ok.stderr


def make_tls_files(tmp_path, ip):
    """A throwaway CA and a server certificate for ip, with openssl(1)."""
    ca_key, ca, key, csr, cert = (tmp_path / f for f in
                                  ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ext = tmp_path / "srv.ext"
    ext.write_text(f"subjectAltName=IP:{ip}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
            ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1",
             "-subj", "/CN=notun test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={ip}"],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "1", "-extfile", ext]):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True,
                       timeout=30)
    return ca, cert, key


def test_https_through_connect(tmp_path, site, client):
    _, port = client
    ca, cert, key = make_tls_files(tmp_path, site.ip)
    tls = site.ns.spawn(sys.executable, os.path.join(HERE, "httpsrv.py"), site.ip,
                        str(TLS_PORT), str(cert), str(key), stdout=subprocess.PIPE, text=True)
    try:
        assert tls.stdout.readline().strip() == "ready"
        out = tmp_path / "tls"
        size = 8 * MIB + 5
        r = curl(["-x", proxy_url(port), "--cacert", str(ca), "-o", str(out),
                  f"https://{site.ip}:{TLS_PORT}/bytes/{size}?seed=tls"])
        assert r.returncode == 0, r.stderr
        assert sha256_of_file(out) == pattern_sha256(size, "tls")
        # the certificate is checked end to end: another CA is refused
        (tmp_path / "other").mkdir()
        other_ca, _, _ = make_tls_files(tmp_path / "other", site.ip)
        bad = curl(["-x", proxy_url(port), "--cacert", str(other_ca), "-o", "/dev/null",
                    f"https://{site.ip}:{TLS_PORT}/hello"])
        assert bad.returncode != 0
    finally:
        site.ns.stop(tls)


def test_destination_outside_allowed_ips_goes_direct(tmp_path, client, local_http):
    _, port = client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT_S)
    try:
        for i in range(3):
            size = 3 * MIB + i
            conn.request("GET", f"http://127.0.0.1:{local_http}/chunked/{size}?seed=d{i}")
            r = conn.getresponse()
            assert r.status == 200
            assert hashlib.sha256(r.read()).hexdigest() == pattern_sha256(size, f"d{i}")
    finally:
        conn.close()
