#!/usr/bin/python3
"""A small HTTP server for the tests: deterministic content and upload digests.

  GET  /bytes/N?seed=S   N bytes of a seeded pattern (see pattern())
  GET  /chunked/N?seed=S the same bytes, Transfer-Encoding: chunked
  POST /upload, PUT /upload   replies with the sha256 (hex) of the body
                          (Content-Length or chunked)
  GET  /hello             a short text

Usage: httpsrv.py ADDR PORT [CERT KEY]. With CERT and KEY it speaks HTTPS.
Prints "ready" once listening.
"""
import hashlib
import http.server
import socketserver
import ssl
import sys
import urllib.parse

CHUNK = 1 << 16


def pattern_chunks(n, seed):
    """The content of /bytes/N?seed=S, chunk by chunk: sha256 counter blocks."""
    block = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(CHUNK // 32))
    sent = 0
    i = 0
    while sent < n:
        part = block if i % 2 == 0 else block[::-1]
        take = min(len(part), n - sent)
        yield part[:take]
        sent += take
        i += 1


def pattern_sha256(n, seed):
    h = hashlib.sha256()
    for chunk in pattern_chunks(n, seed):
        h.update(chunk)
    return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/hello":
            body = b"hello through notun\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if url.path == "/peer":
            # Which connection asked: the proxy's upstream, as the server saw it.
            body = ("%s %d\n" % self.client_address[:2]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if url.path.startswith("/bytes/"):
            n = int(url.path.split("/")[2])
            seed = urllib.parse.parse_qs(url.query).get("seed", ["0"])[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for chunk in pattern_chunks(n, seed):
                self.wfile.write(chunk)
            return
        if url.path.startswith("/chunked/"):
            n = int(url.path.split("/")[2])
            seed = urllib.parse.parse_qs(url.query).get("seed", ["0"])[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, chunk in enumerate(pattern_chunks(n, seed)):
                # uneven chunk sizes: split each piece in two
                cut = (i * 7919) % len(chunk) if len(chunk) > 1 else len(chunk)
                for part in (chunk[:cut], chunk[cut:]):
                    if part:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_error(404)

    def read_chunked(self, h):
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            left = size
            while left > 0:
                chunk = self.rfile.read(min(CHUNK, left))
                if not chunk:
                    return
                h.update(chunk)
                left -= len(chunk)
            self.rfile.readline()

    def do_POST(self):
        if self.path != "/upload":
            self.send_error(404)
            return
        h = hashlib.sha256()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.read_chunked(h)
            left = 0
        else:
            left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    if ":" in addr:
        Server.address_family = __import__("socket").AF_INET6
    srv = Server((addr, port), Handler)
    if len(sys.argv) >= 5:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
