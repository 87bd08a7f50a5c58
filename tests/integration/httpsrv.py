#!/usr/bin/python3
"""A small HTTP server for the tests: deterministic content and upload digests.

  GET  /bytes/N?seed=S   N bytes of a seeded pattern (see pattern())
  POST /upload, PUT /upload   replies with the sha256 (hex) of the body
  GET  /hello             a short text

Usage: httpsrv.py ADDR PORT. Prints "ready" once listening.
"""
import hashlib
import http.server
import socketserver
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
        self.send_error(404)

    def do_POST(self):
        if self.path != "/upload":
            self.send_error(404)
            return
        h = hashlib.sha256()
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
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
