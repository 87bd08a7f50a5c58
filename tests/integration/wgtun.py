"""Runs tests/tools/wgtun, notun's tunnel driven with raw IP packets, and
returns its JSON report. Keys come from notun itself."""
import json
import os
import socket
import subprocess
import time

from conftest import BUILD, free_port, run

WGTUN = os.path.join(BUILD, "tools", "wgtun")
WGFLOOD = os.path.join(BUILD, "tools", "wgflood")


class KeyPair:
    def __init__(self, notun):
        self.private = run([notun, "genkey"]).stdout.strip()
        self.public = run([notun, "pubkey"], stdin=self.private + "\n").stdout.strip()


def secret_file(tmp_path, name, value):
    path = tmp_path / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return str(path)


def free_udp_port(addr):
    return free_port(socket.SOCK_DGRAM, addr)


def wgtun_args(tmp_path, key, ns, peer_public, endpoint=None, psk=None, extra=()):
    args = [WGTUN, "--private-key-file", secret_file(tmp_path, "wgtun.key", key.private),
            "--address", f"10.214.{ns.n}.2", "--address6", f"fd00:214:{ns.n:x}::2",
            "--peer-public-key", peer_public,
            "--peer-allowed-ips", f"10.214.{ns.n}.0/24,fd00:214:{ns.n:x}::/64",
            "--log-level", "debug"]
    if endpoint:
        args += ["--peer-endpoint", endpoint]
    if psk:
        args += ["--peer-psk-file", secret_file(tmp_path, "wgtun.psk", psk)]
    return args + list(extra)


def start(args, timeout=10):
    """Starts wgtun and waits until its socket is bound (its "listening" line),
    so a peer's first handshake cannot arrive before it."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.early_stderr = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        proc.early_stderr += line
        if not line or "listening port=" in line:
            break
    if "listening port=" not in proc.early_stderr:
        kill(proc)
        raise AssertionError(f"wgtun did not start: {proc.early_stderr}")
    return proc


def kill(proc):
    """Stops a process no longer wanted, by PID, and reaps it."""
    proc.kill()
    proc.communicate(timeout=5)


def finish(proc, timeout):
    """Waits for wgtun, returns (exit code, report dict, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
        err = getattr(proc, "early_stderr", "") + err
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        raise AssertionError(f"wgtun did not finish in {timeout}s: {err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"wgtun printed no report (exit {proc.returncode}): {err[-3000:]}"
    return proc.returncode, json.loads(lines[-1]), err


def wgtun(args, timeout):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(proc, timeout)
