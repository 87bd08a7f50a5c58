# SPDX-License-Identifier: MIT
"""A UDP echo server on loopback, for the gateway and SOCKS5 UDP tests."""
import socket
import threading


class UdpEcho(threading.Thread):
    """A UDP echo server on loopback, in a thread; got: every payload."""

    def __init__(self, addr="127.0.0.1"):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.done = threading.Event()
        self.start()

    def run(self):
        while not self.done.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.got.append(data)
            self.sock.sendto(data, peer)

    def close(self):
        self.done.set()
        self.join(timeout=5)
        self.sock.close()
