"""Test hosts in network namespaces: a veth pair to the host and, inside, a
wireguard-go interface on a TUN device. Everything is created by the test and
removed again, also on failure; processes are stopped by PID.

Addresses: the veth pair of namespace n is 10.213.n.0/29: 10.213.n.1 on the
host side, 10.213.n.2 inside, and 10.213.n.5 a second host address (a source
of load that is not the client's); the tunnel inside is 10.214.n.0/24 and
fd00:214:n::/64.
"""
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

SETUP_TIMEOUT_S = 10
LOCK_PATH = "/run/notun-test-netns.lock"
# One file per namespace the suite made, named as it and holding the PID of
# the process that made it: the session-start sweep removes those whose
# maker is gone (a killed run), never one a live run beside it still uses.
OWNER_DIR = "/run/notun-test-netns"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=SETUP_TIMEOUT_S,
                          check=check, **kw)


def is_tun_device(path):
    """The TUN clone device itself: a file of that name that is something
    else (a container's /dev/null in its place) fails only later, in
    wireguard-go, for a reason that names no prerequisite."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (10, 200)


def require_netns():
    """Skips the calling test, with the reason, unless namespaces can be made."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and a TUN device")
    if not is_tun_device("/dev/net/tun"):
        pytest.skip("/dev/net/tun is missing or not the TUN device (char 10:200)")
    for tool in ("ip", "wireguard-go", "wg"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (run make deps)")


class Namespace:
    """A network namespace joined to the host by its own veth pair."""

    def __init__(self):
        self.procs = []
        self.name = self.host_if = None
        # Tests and benchmarks may run side by side: the number n (the third
        # octet of every address and part of every name) is taken under a
        # lock, as the first one no interface of this host uses yet.
        with open(LOCK_PATH, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = (sh("ip", "-o", "link", "show").stdout + sh("ip", "-o", "addr").stdout
                    + sh("ip", "netns", "list").stdout).split()
            self.n = next((n for n in range(1, 250)
                           if not any(w.startswith((f"10.213.{n}.", f"ntvh{n}@", f"ntns{n}"))
                                      or w in (f"ntvh{n}:", f"ntns{n}") for w in used)), None)
            if self.n is None:
                raise RuntimeError("no free test network number (1..249)")
            os.makedirs(OWNER_DIR, exist_ok=True)
            with open(os.path.join(OWNER_DIR, f"ntns{self.n}"), "w") as f:
                f.write(f"{os.getpid()}\n")
            self._create()

    def _create(self):
        tag = str(self.n)
        self.name = f"ntns{tag}"
        self.host_if, self.ns_if = f"ntvh{tag}", f"ntvn{tag}"
        self.host_ip, self.ns_ip = f"10.213.{self.n}.1", f"10.213.{self.n}.2"
        self.host_ip2 = f"10.213.{self.n}.5"
        try:
            sh("ip", "netns", "add", self.name)
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.name)
            sh("ip", "addr", "add", f"{self.host_ip}/29", "dev", self.host_if)
            sh("ip", "addr", "add", f"{self.host_ip2}/29", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", f"{self.ns_ip}/29", "dev", self.ns_if)
            self.run("ip", "link", "set", self.ns_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except Exception:
            # Still under __init__'s lock (remove_network would wait for it
            # forever), and no process was started yet.
            try:
                _remove_network_locked(self.n)
            except RuntimeError as e:
                print(f"netns: {e}")
            raise

    def run(self, *args, check=True):
        return sh("ip", "netns", "exec", self.name, *args, check=check)

    def spawn(self, *args, **kw):
        """Starts a long-running process inside; close() stops it by PID."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self):
        for proc in list(self.procs):
            self.stop(proc)
        remove_network(self.n)


def remove_network(n):
    """Deletes namespace n's veth and namespace, then checks they are gone:
    a deletion that failed is raised, naming what is left, and the owner file
    stays for the next session's sweep. Under the lock Namespace() takes its
    number with: a suite running beside this one could otherwise take n
    between the deletion and the check, and its new namespace would read as
    ours left behind (and lose its owner file)."""
    with open(LOCK_PATH, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_network_locked(n)


def _remove_network_locked(n):
    name, host_if = f"ntns{n}", f"ntvh{n}"
    link = sh("ip", "link", "del", host_if, check=False)
    netns = sh("ip", "netns", "del", name, check=False)
    left = []
    if sh("ip", "link", "show", host_if, check=False).returncode == 0:
        left.append(f"link {host_if} ({link.stderr.strip()})")
    if name in sh("ip", "netns", "list").stdout.split():
        left.append(f"namespace {name} ({netns.stderr.strip()})")
    if left:
        raise RuntimeError("could not delete " + ", ".join(left))
    try:
        os.unlink(os.path.join(OWNER_DIR, name))
    except FileNotFoundError:
        pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep_leftovers():
    """Removes what a killed run left: for each namespace whose owner process
    is gone, its processes (by PID), veth, namespace and wireguard-go files."""
    if os.geteuid() != 0 or shutil.which("ip") is None or not os.path.isdir(OWNER_DIR):
        return
    with open(LOCK_PATH, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in os.listdir(OWNER_DIR):
            try:
                with open(os.path.join(OWNER_DIR, name)) as f:
                    owner = int(f.read().strip() or 0)
                n = int(name[len("ntns"):])
            except (OSError, ValueError):
                continue
            if not name.startswith("ntns") or alive(owner):
                continue
            print(f"netns: removing {name}, left by a killed run (pid {owner})")
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in map(int, pids):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for path in (f"/tmp/ntwg{n}.log", f"/var/run/wireguard/ntwg{n}.sock"):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            try:
                _remove_network_locked(n)
            except RuntimeError as e:
                print(f"netns: {e}")


class WireGuardGo:
    """wireguard-go on a TUN device inside a Namespace, configured with wg(8)."""

    def __init__(self, ns, private_key, listen_port, mtu=1420):
        self.ns = ns
        self.ifname = f"ntwg{ns.n}"  # /var/run/wireguard is shared: n is unique
        self.private_key = private_key
        self.listen_port = listen_port
        self.tunnel_ip = f"10.214.{ns.n}.1"
        self.tunnel_ip6 = f"fd00:214:{ns.n:x}::1"
        self.sock = f"/var/run/wireguard/{self.ifname}.sock"
        self.log = open(f"/tmp/{self.ifname}.log", "w+")
        self.proc = None
        self.start(mtu)

    def start(self, mtu=1420):
        env = dict(os.environ, LOG_LEVEL="debug")
        self.proc = self.ns.spawn("wireguard-go", "-f", self.ifname, stdout=self.log,
                                  stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"wireguard-go did not start: {self.read_log()}")
            time.sleep(0.02)
        key_file = f"/tmp/{self.ifname}.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.private_key + "\n")
        try:
            self.ns.run("wg", "set", self.ifname, "private-key", key_file,
                        "listen-port", str(self.listen_port))
        finally:
            os.unlink(key_file)
        self.ns.run("ip", "addr", "add", f"{self.tunnel_ip}/24", "dev", self.ifname)
        self.ns.run("ip", "-6", "addr", "add", f"{self.tunnel_ip6}/64", "dev", self.ifname)
        self.ns.run("ip", "link", "set", "mtu", str(mtu), "up", "dev", self.ifname)

    def add_peer(self, public_key, allowed_ips, psk=None, endpoint=None, keepalive=None):
        args = ["wg", "set", self.ifname, "peer", public_key, "allowed-ips", allowed_ips]
        psk_file = None
        if psk:
            psk_file = f"/tmp/{self.ifname}.psk"
            fd = os.open(psk_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(psk + "\n")
            args += ["preshared-key", psk_file]
        if endpoint:
            args += ["endpoint", endpoint]
        if keepalive:
            args += ["persistent-keepalive", str(keepalive)]
        try:
            self.ns.run(*args)
        finally:
            if psk_file:
                os.unlink(psk_file)

    def show(self, what="dump"):
        return self.ns.run("wg", "show", self.ifname, what).stdout

    def latest_handshake(self, public_key):
        for line in self.show("latest-handshakes").splitlines():
            key, ts = line.split()
            if key == public_key:
                return int(ts)
        return 0

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self):
        if self.proc is not None:
            self.ns.stop(self.proc)
            self.proc = None

    def close(self):
        self.stop()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except FileNotFoundError:
            pass
