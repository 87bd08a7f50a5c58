"""Many connections at once, for the load tests (test_load.py): a TCP echo
server in its own process (its descriptors are not the test's), SOCKS5
CONNECTs opened by a pool of threads, and one event loop that pushes a
payload down every connection and reads the answer back.

  load.py echo ADDR [N]  serves on ADDR, an ephemeral port; prints the port.
                         With N: answers the first N bytes of a connection
                         with their sha256 (32 bytes) instead of echoing.
"""
import concurrent.futures
import hashlib
import selectors
import socket
import sys
import time

import socks

CHUNK = 1 << 16


def serve_echo(addr, digest_after=0):
    """Echoes every connection (or digests its first digest_after bytes)
    until stdin closes; holds any number of them (up to RLIMIT_NOFILE), each
    with at most one chunk waiting to be sent."""
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    lsock.bind((addr, 0))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print(lsock.getsockname()[1], flush=True)
    pending = {}
    sums = {}
    while True:
        for key, ev in sel.select():
            s = key.fileobj
            if s is sys.stdin:
                return
            if s is lsock:
                while True:
                    try:
                        c, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                continue
            if ev & selectors.EVENT_WRITE:
                try:
                    n = s.send(pending[s])
                except OSError:
                    n = len(pending[s])
                pending[s] = pending[s][n:]
                if not pending[s]:
                    del pending[s]
                    sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(CHUNK)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                sums.pop(s, None)
                s.close()
                continue
            if digest_after:
                h, n = sums.get(s, (hashlib.sha256(), 0))
                data = data[:digest_after - n]
                h.update(data)
                sums[s] = (h, n + len(data))
                if n + len(data) < digest_after:
                    continue
                data = h.digest()
            try:
                n = s.send(data)
            except BlockingIOError:
                n = 0
            if n < len(data):
                pending[s] = data[n:]
                sel.modify(s, selectors.EVENT_WRITE)


def open_many(proxy, host, port, count, workers=32):
    """count SOCKS5 CONNECTs to host:port, each kept open: returns the
    sockets, or raises with the first refusal's reply code."""
    def one(_):
        rep, sock = socks.connect(proxy, host, port)
        if rep != 0:
            raise ConnectionError(f"SOCKS5 reply {rep:#x}")
        return sock

    out = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for sock in pool.map(one, range(count)):
                out.append(sock)
        except Exception:
            for sock in out:
                sock.close()
            raise
    return out


def echo_all(sockets, payloads, timeout, reply_len=None, stall=None):
    """Writes payloads[i] down sockets[i] while reading the answer back, all
    at once; returns (bytes, sha256) of what came back on each: reply_len
    bytes (default: len(payloads[i]), an echo), or less if a connection
    ended or time ran out: timeout seconds in all, or, with stall, stall
    seconds in which no byte moved either way (a loaded machine is slow,
    a stuck transfer is stuck)."""
    sel = selectors.DefaultSelector()
    sent = [0] * len(sockets)
    got = [0] * len(sockets)
    digest = [hashlib.sha256() for _ in sockets]
    for i, s in enumerate(sockets):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, i)
    left = len(sockets)
    end = time.monotonic() + timeout
    moved = time.monotonic()
    while left and time.monotonic() < end and (stall is None or time.monotonic() - moved < stall):
        for key, ev in sel.select(timeout=1):
            i, s = key.data, key.fileobj
            moved = time.monotonic()
            if ev & selectors.EVENT_WRITE:
                try:
                    sent[i] += s.send(memoryview(payloads[i])[sent[i]:sent[i] + CHUNK])
                except BlockingIOError:
                    pass
                if sent[i] == len(payloads[i]):
                    sel.modify(s, selectors.EVENT_READ, i)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                digest[i].update(data)
                got[i] += len(data)
                if not data or got[i] >= (reply_len or len(payloads[i])):
                    sel.unregister(s)
                    left -= 1
    sel.close()
    return [(n, d.hexdigest()) for n, d in zip(got, digest)]


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "echo":
        sys.exit(__doc__)
    serve_echo(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 0)
