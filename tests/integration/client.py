"""`notun up` as a test fixture: a config file, the process, its proxy port,
and the namespace behind the tunnel (wireguard-go, an HTTP server, and what
else a test asks for)."""
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

from conftest import free_port, wrapped
from netns import Namespace, WireGuardGo
from wgtun import KeyPair

HERE = os.path.dirname(os.path.abspath(__file__))
WG_PORT = 51820
HTTP_PORT = 8080
START_TIMEOUT_S = 15


def free_tcp_port():
    return free_port(socket.SOCK_STREAM)


def wait_port(addr, port, proc, timeout=START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((addr, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Notun:
    """notun up -c FILE, with its log in a file; stop() checks a clean exit."""

    def __init__(self, notun, tmp_path, config, name="client", args=(), preexec_fn=None,
                 env=None):
        self.conf = tmp_path / f"{name}.conf"
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config)
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(wrapped([notun, "--log-level", "debug", "up", "-c",
                                              str(self.conf), *args]),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn, env=env)

    def wait_listening(self, port):
        if not wait_port("127.0.0.1", port, self.proc):
            self.stop(check=False)
            raise AssertionError(f"notun up did not listen on {port}: {self.read_log()}")

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()[-6000:]

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError(f"notun up ignored SIGTERM: {self.read_log()}")
        self.log.close()
        if check:
            assert self.proc.returncode == 0, f"notun up exited {self.proc.returncode}: {self.read_log()}"


class Site:
    """A private site behind wireguard-go in a namespace."""

    def __init__(self, notun):
        self.ns = Namespace()
        try:
            self.client_keys, self.server_keys = KeyPair(notun), KeyPair(notun)
            self.wg = WireGuardGo(self.ns, self.server_keys.private, WG_PORT)
            self.ip = self.wg.tunnel_ip
            self.client_ip = f"10.214.{self.ns.n}.2"
            self.wg.add_peer(self.client_keys.public, f"{self.client_ip}/32")
            self.http = self.ns.spawn(sys.executable, os.path.join(HERE, "httpsrv.py"), self.ip,
                                      str(HTTP_PORT), stdout=subprocess.PIPE, text=True)
            assert self.http.stdout.readline().strip() == "ready"
        except Exception:
            self.close()
            raise

    def restart_wireguard(self):
        self.wg.stop()
        self.ns.run("ip", "link", "del", self.wg.ifname, check=False)
        self.wg.start()
        self.wg.add_peer(self.client_keys.public, f"{self.client_ip}/32")

    def client_config(self, proxy_port, extra_interface="", extra_proxy="", allowed=None,
                      endpoint=None):
        return (f"[Interface]\nPrivateKey = {self.client_keys.private}\n"
                f"Address = {self.client_ip}/32\n{extra_interface}\n"
                f"[Peer]\nPublicKey = {self.server_keys.public}\n"
                f"Endpoint = {endpoint or f'{self.ns.ns_ip}:{WG_PORT}'}\n"
                f"AllowedIPs = {allowed or f'10.214.{self.ns.n}.0/24'}\n\n"
                f"[Proxy]\nListen = 127.0.0.1:{proxy_port}\n{extra_proxy}\n")

    def close(self):
        if getattr(self, "wg", None):
            self.wg.close()
        self.ns.close()


def sha256_of_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def curl(args, timeout=120):
    """curl with a bounded time; returns the CompletedProcess."""
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(timeout - 5)]
                          + args, capture_output=True, text=True, timeout=timeout)
