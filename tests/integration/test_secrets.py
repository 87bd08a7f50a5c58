"""Key material stays in the process: notun is not dumpable (no core file,
no ptrace, /proc/PID/mem and environ owned by root) even when it runs as an
unprivileged user."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from client import free_tcp_port, wait_port
from conftest import run

NOBODY = 65534


def test_client_is_not_dumpable_as_an_unprivileged_user(notun):
    if os.geteuid() != 0:
        pytest.skip("needs root to start notun as another user")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    private, peer = run([notun, "genkey"]).stdout.strip(), run([notun, "genkey"]).stdout.strip()
    peer_pub = run([notun, "pubkey"], stdin=peer + "\n").stdout.strip()
    port = free_tcp_port()
    d = tempfile.mkdtemp(prefix="notun-secrets-")
    proc = None
    try:
        os.chmod(d, 0o755)
        conf = os.path.join(d, "client.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"[Interface]\nPrivateKey = {private}\nAddress = 10.77.0.2/32\n\n"
                    f"[Peer]\nPublicKey = {peer_pub}\nEndpoint = 127.0.0.1:9\n"
                    f"AllowedIPs = 10.77.0.0/24\n\n[Proxy]\nListen = 127.0.0.1:{port}\n")
        os.chown(conf, NOBODY, NOBODY)
        proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                 "--clear-groups", notun, "up", "-c", conf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert wait_port("127.0.0.1", port, proc), proc.stderr.read() if proc.poll() is not None else ""
        status = f"/proc/{proc.pid}/status"
        with open(status) as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert uids == [str(NOBODY)] * 4, uids
        # A dumpable process owns its /proc files; a non-dumpable one's belong to root.
        assert os.stat(status).st_uid == 0
        assert os.stat(f"/proc/{proc.pid}/mem").st_uid == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(d, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr.read()
