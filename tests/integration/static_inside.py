#!/usr/bin/python3
"""Run by test_static.py inside `unshare --user --map-root-user --net --mount
--pid` as uid 65534: the network namespace's loopback, a one-name DNS server
and the HTTP server (this Python, outside the chroot), then ROOT/notun twice,
each chrooted into ROOT, which holds nothing but the binary, its two
configuration files and etc/resolv.conf: the gateway, and `notun connect
--own` through it, its stdout (the HTTP response) in WORK/response.

Usage: static_inside.py WORK REQUEST. Exits with connect's exit code; the
gateway's log is WORK/gateway.log, what this script saw WORK/inside.json."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

GW_NAME = b"gw.notun.test"
GW_PORT = 51820
HTTP_PORT = 8080
START_TIMEOUT_S = 15
CONNECT_TIMEOUT_S = 60


def dns_server():
    """Answers A queries for GW_NAME with 127.0.0.1, anything else NXDOMAIN:
    enough for the static binary's getaddrinfo to go through resolv.conf."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))

    def serve():
        while True:
            q, peer = sock.recvfrom(512)
            if len(q) < 12:
                continue
            labels, i = [], 12
            while i < len(q) and q[i]:
                labels.append(q[i + 1:i + 1 + q[i]])
                i += 1 + q[i]
            question = q[12:i + 5]
            qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
            name = b".".join(labels).lower()
            found = name == GW_NAME
            answer = b""
            if found and qtype == 1:
                answer = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, socket.inet_aton("127.0.0.1"))
            flags = 0x8180 if found else 0x8183
            head = struct.pack("!HHHHHH", struct.unpack("!H", q[:2])[0], flags, 1,
                               1 if answer else 0, 0, 0)
            sock.sendto(head + question + answer, peer)

    threading.Thread(target=serve, daemon=True).start()


def wait_log(path, text, proc):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        with open(path) as f:
            if text in f.read():
                return True
        time.sleep(0.05)
    return False


def main():
    work, request = sys.argv[1], sys.argv[2].encode()
    root = os.path.join(work, "root")
    seen = {}
    with open("/proc/self/uid_map") as f:
        seen["uid_map"] = f.read().split()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    dns_server()
    here = os.path.dirname(os.path.abspath(__file__))
    http = subprocess.Popen([sys.executable, os.path.join(here, "httpsrv.py"), "127.0.0.1",
                             str(HTTP_PORT)], stdout=subprocess.PIPE, text=True)
    gw = None
    code = 99
    try:
        seen["http"] = http.stdout.readline().strip()
        gw_log = os.path.join(work, "gateway.log")
        with open(gw_log, "w") as log:
            gw = subprocess.Popen(["chroot", root, "/notun", "--log-level", "debug", "gateway",
                                   "-c", "/gateway.conf"], stdout=log, stderr=subprocess.STDOUT)
        seen["gateway_up"] = wait_log(gw_log, "event=gateway_up", gw)
        if seen["gateway_up"]:
            with open(os.path.join(work, "response"), "wb") as out:
                c = subprocess.run(["chroot", root, "/notun", "connect", "-c", "/client.conf",
                                    "--own", "10.99.0.1", str(HTTP_PORT)], input=request,
                                   stdout=out, stderr=subprocess.PIPE, timeout=CONNECT_TIMEOUT_S)
            seen["connect_stderr"] = c.stderr.decode(errors="replace")[-3000:]
            code = c.returncode
    finally:
        for proc in (gw, http):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        if gw:
            seen["gateway_exit"] = gw.returncode
        with open(os.path.join(work, "inside.json"), "w") as f:
            json.dump(seen, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
