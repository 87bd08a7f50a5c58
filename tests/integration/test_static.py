"""build/notun-static (`make static`) on a system with no shared libraries
and no privileges: copied alone into an empty directory, it runs chrooted
there inside `unshare --user --map-root-user --net --mount --pid`, started
as uid 65534 (no capability in the initial namespaces). Both ends are that
file: the gateway and `notun connect --own` through it, in the new network
namespace (nothing there reaches out, so the gateway runs there too); the
client finds the gateway by name through etc/resolv.conf and a DNS server
on the namespace's loopback (glibc's built-in dns lookup, no NSS module).
The directory holds the binary, the two configurations and etc/resolv.conf;
no CA bundle, since no TLS is involved. static_inside.py runs in the
namespaces and serves the page; the response's sha256 is checked here."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import TOP, run
from httpsrv import pattern_sha256
from wgtun import KeyPair

STATIC = os.path.join(TOP, "build", "notun-static")
HERE = os.path.dirname(os.path.abspath(__file__))
NOBODY = 65534
MIB = 1 << 20
SIZE, SEED = 8 * MIB, "static"
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def static_notun():
    """make static: nothing to do when build/notun-static is current (make
    test built it), so this never tests a stale binary."""
    r = subprocess.run(["make", "--no-print-directory", "static"], cwd=TOP, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return STATIC


def test_static_binary_has_no_interpreter_and_no_needed_library(static_notun):
    assert "statically linked" in run(["ldd", static_notun], check=False).stdout
    assert re.search(r"static(-pie)? linked", run(["file", "-b", static_notun]).stdout)
    assert "INTERP" not in run(["readelf", "-lW", static_notun]).stdout
    assert "(NEEDED)" not in run(["readelf", "-dW", static_notun]).stdout
    assert run([static_notun, "--version"]).stdout.startswith("notun ")
    debug = static_notun + ".debug"
    assert os.path.getsize(debug) > 0
    link = subprocess.run(["readelf", "-p", ".gnu_debuglink", static_notun], capture_output=True,
                          timeout=30).stdout
    assert b"notun-static.debug" in link


def as_nobody(cmd):
    """cmd started as uid 65534 with no capability when we are root."""
    if os.getuid() != 0:
        return cmd
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + cmd


def test_static_binary_alone_in_a_chroot_without_privileges_transfers_8mib(static_notun):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is missing")
    probe = subprocess.run(as_nobody(["unshare", "--user", "--map-root-user", "--net", "true"]),
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no unprivileged user namespaces here: {probe.stderr.strip()}")
    gw, cl = KeyPair(static_notun), KeyPair(static_notun)
    work = tempfile.mkdtemp(prefix="notun-static-")
    try:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "etc"))
        shutil.copy(static_notun, os.path.join(root, "notun"))
        for name in ("static_inside.py", "httpsrv.py"):
            shutil.copy(os.path.join(HERE, name), work)
        files = {
            "gateway.conf": f"[Interface]\nPrivateKey = {gw.private}\nListenPort = 51820\n"
                            f"Address = 10.99.0.1/32\n\n[Peer]\nPublicKey = {cl.public}\n"
                            f"AllowedIPs = 10.99.0.2/32\n\n[Gateway]\n"
                            f"Allow = 10.99.0.1/32 tcp:8080\n",
            "client.conf": f"[Interface]\nPrivateKey = {cl.private}\nAddress = 10.99.0.2/32\n\n"
                           f"[Peer]\nPublicKey = {gw.public}\nEndpoint = gw.notun.test:51820\n"
                           f"AllowedIPs = 10.99.0.0/24\n",
            "etc/resolv.conf": "nameserver 127.0.0.1\n",
        }
        for name, text in files.items():
            fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        assert sorted(os.listdir(root)) == ["client.conf", "etc", "gateway.conf", "notun"]
        for dirpath, dirs, names in os.walk(work):
            for name in [dirpath] + [os.path.join(dirpath, n) for n in dirs + names]:
                os.lchown(name, NOBODY, NOBODY)
        request = (f"GET /bytes/{SIZE}?seed={SEED} HTTP/1.1\r\nHost: x\r\n"
                   f"Connection: close\r\n\r\n")
        cmd = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork",
               "--kill-child", sys.executable, os.path.join(work, "static_inside.py"), work,
               request]
        r = subprocess.run(as_nobody(cmd), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        seen_path = os.path.join(work, "inside.json")
        seen = json.load(open(seen_path)) if os.path.exists(seen_path) else {}
        gw_log = os.path.join(work, "gateway.log")
        log = open(gw_log).read()[-3000:] if os.path.exists(gw_log) else ""
        assert r.returncode == 0, f"{r.stderr[-2000:]}\n{seen}\ngateway:\n{log}"
        outside = NOBODY if os.getuid() == 0 else os.getuid()
        assert seen["uid_map"] == ["0", str(outside), "1"], seen  # root inside, nobody outside
        with open(os.path.join(work, "response"), "rb") as f:
            response = f.read()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert len(body) == SIZE
        assert hashlib.sha256(body).hexdigest() == pattern_sha256(SIZE, SEED)
        assert seen["gateway_exit"] == 0, log
        assert re.search(r"event=flow_closed .*dst=10\.99\.0\.1:8080", log), log
    finally:
        shutil.rmtree(work, ignore_errors=True)
