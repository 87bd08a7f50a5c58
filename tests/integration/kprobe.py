#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kernel sockets as a test's probes, run inside a namespace (ip netns exec):
reads {"capture": IFNAME, "probes": [...]} as JSON on stdin, runs the probes
in order and prints {"results": [...]}, one result per probe.

  {"op": "connect", "host": H, "port": P, "timeout": S, "keep": NAME}
      a blocking TCP connect(); {"errno": "ECONNREFUSED" | "TIMEOUT" | null,
      "s": seconds, "sport": its source port}. With keep, a connected socket stays open under NAME.
  {"op": "get", "on": NAME, "path": "/hello", "timeout": S}
      an HTTP/1.1 GET on a kept socket; {"reply": the bytes read, as text}
  {"op": "recv", "on": NAME, "timeout": S}
      one recv() on a kept socket: {"errno": ..., "s": seconds, "data": text
      ("" at EOF) or null}
  {"op": "udp", "host": H, "port": P, "timeout": S, "size": N}
      a connected UDP socket sends one datagram (N bytes of PAYLOAD repeated,
      PAYLOAD by default), then recv(); {"errno": ..., "s": seconds,
      "sport": ..., "reply_len": bytes or null, "echoed": the reply is the
      datagram}

Every result also carries "packets": the hex of each packet that came in on
IFNAME (an AF_PACKET socket, opened before the first probe) while the probe
ran, for the test to parse itself. The kernel turns an ICMP error into the
socket's errno only after the device received it, so the answer to a probe
is always among its own packets. Everything is bounded: each probe by its
timeout, the packets kept per probe by MAX_PACKETS.
"""
import errno
import json
import socket
import sys
import time

ETH_P_ALL = 0x0003
MAX_PACKETS = 64
PAYLOAD = b"kprobe"


def errno_name(e):
    if isinstance(e, socket.timeout):
        return "TIMEOUT"
    return errno.errorcode.get(e.errno, str(e.errno))


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_connect(p, kept):
    family = family_of(p["host"])
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(p["timeout"])
    # Bound first: the port is known even when the connect fails.
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    sport = s.getsockname()[1]
    start = time.monotonic()
    try:
        s.connect((p["host"], p["port"]))
        err = None
    except OSError as e:
        err = errno_name(e)
    elapsed = time.monotonic() - start
    if err is None and "keep" in p:
        kept[p["keep"]] = s
    else:
        s.close()
    return {"errno": err, "s": elapsed, "sport": sport}


def http_get(p, kept):
    s = kept[p["on"]]
    s.settimeout(p["timeout"])
    s.sendall(f"GET {p['path']} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except OSError as e:
        return {"reply": data.decode(errors="replace"), "errno": errno_name(e)}
    return {"reply": data.decode(errors="replace"), "errno": None}


def tcp_recv(p, kept):
    s = kept[p["on"]]
    s.settimeout(p["timeout"])
    start = time.monotonic()
    try:
        data, err = s.recv(65536).decode(errors="replace"), None
    except OSError as e:
        data, err = None, errno_name(e)
    return {"errno": err, "s": time.monotonic() - start, "data": data}


def udp_exchange(p, kept):
    size = p.get("size", len(PAYLOAD))
    payload = (PAYLOAD * (size // len(PAYLOAD) + 1))[:size]
    with socket.socket(family_of(p["host"]), socket.SOCK_DGRAM) as s:
        s.settimeout(p["timeout"])
        s.connect((p["host"], p["port"]))
        sport = s.getsockname()[1]
        start = time.monotonic()
        try:
            s.send(payload)
            reply, err = s.recv(65535), None
        except OSError as e:
            reply, err = None, errno_name(e)
        return {"errno": err, "s": time.monotonic() - start, "sport": sport,
                "reply_len": None if reply is None else len(reply), "echoed": reply == payload}


OPS = {"connect": tcp_connect, "get": http_get, "recv": tcp_recv, "udp": udp_exchange}


def drain(cap):
    packets = []
    while True:
        try:
            data, addr = cap.recvfrom(65535, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return packets
        if addr[2] != socket.PACKET_OUTGOING and len(packets) < MAX_PACKETS:
            packets.append(data.hex())


def main():
    req = json.load(sys.stdin)
    kept = {}
    results = []
    # A TUN device has no link header: SOCK_DGRAM and SOCK_RAW both give
    # the IP packet as the device took it.
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)) as cap:
        cap.bind((req["capture"], ETH_P_ALL))
        drain(cap)
        try:
            for p in req["probes"]:
                r = OPS[p["op"]](p, kept)
                r["packets"] = drain(cap)
                results.append(r)
        finally:
            for s in kept.values():
                s.close()
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
