"""Load through notun up -> notun gateway on loopback (test_gateway.py's
Site): many transfers at once, each checked end to end, and many idle
connections held through one client, with the memory each one costs."""
import hashlib
import os
import subprocess
import sys
import time

import pytest

from load import echo_all, open_many
from test_gateway import GW_IP, RELEASE, Site, rss_kib, servers  # noqa: F401 (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20
TRANSFERS = 1000
IDLE = 10000
# Alone it takes about 50 s under ASan; beside another suite on 2 CPUs twice
# that and more. What fails it is a stall: 30 s in which nothing moved.
TRANSFER_TIMEOUT_S = 400
TRANSFER_STALL_S = 30
# Over every default on the way: MaxConnections (4096), the client's flow
# cap (8192) and the gateway's --max-flows (8192) / --max-flows-per-peer (1024).
IDLE_CAP = 16384
# Measured on the release build (10,000 idle connections): see the bench
# README's load rows; the ceilings leave room for allocator noise.
CLIENT_KIB_PER_CONN = 8
GATEWAY_KIB_PER_CONN = 8


def echo_server(*args):
    """load.py's echo server on 127.0.0.1, in its own process: its port."""
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "load.py"), "echo", "127.0.0.1",
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def echo():
    yield from echo_server()


@pytest.fixture
def digest():
    """A server that answers the first MiB of each connection with its sha256."""
    yield from echo_server(str(MIB))


def load_site(notun, tmp_path, servers, echo, gw_args=(), client_extra=""):
    return Site(notun, tmp_path, servers, gw_args=gw_args, client_extra=client_extra,
                gw_rules=f"Allow = {GW_IP}/32 tcp:{echo}\n")


def test_load_1000_concurrent_1mib_transfers_intact(notun, tmp_path, servers, digest):
    """1,000 connections open at once, each sending 1 MiB through client and
    gateway to a server that answers with its sha256: every one intact."""
    site = load_site(notun, tmp_path, servers, digest)
    conns = []
    try:
        base = os.urandom(MIB)
        # Each transfer its own bytes (a rotation of one random MiB), so a
        # segment delivered to the wrong flow changes a digest.
        payloads = [base[i * 1021:] + base[:i * 1021] for i in range(TRANSFERS)]
        conns = open_many(site.proxy, GW_IP, digest, TRANSFERS)
        start = time.monotonic()
        results = echo_all(conns, payloads, timeout=TRANSFER_TIMEOUT_S, reply_len=32,
                           stall=TRANSFER_STALL_S)
        took = time.monotonic() - start
        short = [i for i, (n, _) in enumerate(results) if n != 32]
        assert not short, f"{len(short)} of {TRANSFERS} transfers unanswered after {took:.1f} s"
        # echo_all hashes the answer: the sha256 of the payload's sha256.
        bad = [i for i, (_, d) in enumerate(results)
               if d != hashlib.sha256(hashlib.sha256(payloads[i]).digest()).hexdigest()]
        assert not bad, f"{len(bad)} of {TRANSFERS} transfers corrupt: {bad[:10]}"
        print(f"{TRANSFERS} x 1 MiB sent in {took:.1f} s")
    finally:
        for c in conns:
            c.close()
        site.close()


def test_load_10000_idle_connections_through_one_client(tmp_path, servers, echo):
    """10,000 SOCKS5 CONNECTs held open through one client and one gateway
    (limits raised over their defaults), each still echoing afterwards; the
    memory each costs both processes is measured from /proc (release build:
    ASan's allocator is not the one notun runs on)."""
    if not os.access(RELEASE, os.X_OK):
        pytest.fail(f"{RELEASE} is not built (run make test)")
    site = load_site(RELEASE, tmp_path, servers, echo,
                     gw_args=["--max-flows", str(IDLE_CAP), "--max-flows-per-peer", str(IDLE_CAP)],
                     client_extra=f"MaxConnections = {IDLE_CAP}")
    conns = []
    try:
        procs = {"client": site.client.proc, "gateway": site.gateway.proc}
        conns = open_many(site.proxy, GW_IP, echo, 1)  # the session up
        time.sleep(1)
        before = {n: rss_kib(p) for n, p in procs.items()}
        start = time.monotonic()
        conns += open_many(site.proxy, GW_IP, echo, IDLE)
        opened_s = time.monotonic() - start
        time.sleep(2)
        after = {n: rss_kib(p) for n, p in procs.items()}
        per = {n: (after[n] - before[n]) / IDLE for n in procs}
        # Every tenth still carries data after all were opened.
        sample = conns[1::10]
        echoed = echo_all(sample, [b"x"] * len(sample), timeout=30)
        assert echoed.count((1, hashlib.sha256(b"x").hexdigest())) == len(sample)
        summary = (f"{IDLE} idle connections opened in {opened_s:.1f} s; RSS KiB before/after/"
                   f"per connection: " + ", ".join(
                       f"{n} {before[n]}/{after[n]}/{per[n]:.2f}" for n in procs))
        print(summary)
        assert per["client"] <= CLIENT_KIB_PER_CONN, summary
        assert per["gateway"] <= GATEWAY_KIB_PER_CONN, summary
    finally:
        for c in conns:
            c.close()
        site.close()
