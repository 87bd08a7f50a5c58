"""libnotun as a desktop developer gets it: `make install` into a staging
directory (DESTDIR, PREFIX), the example host built with
`pkg-config --cflags --libs notun` against it, run against a local
`notun gateway` (static peers on loopback, as test_gateway.py), one request
through its proxy, its event lines checked, Ctrl-C (SIGINT) stops it."""
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from client import curl
from conftest import TOP, release
from test_gateway import CLIENT_IP, GW_IP, Gateway, servers  # noqa: F401 (fixture)
from wgtun import KeyPair, free_udp_port

PREFIX = "/opt/notun"
INSTALL_TIMEOUT_S = 900
EVENT_TIMEOUT_S = 15


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The staged installation: (stage dir, environment for pkg-config)."""
    stage = tmp_path_factory.mktemp("stage")
    r = subprocess.run(["make", "--no-print-directory", "install", f"DESTDIR={stage}",
                        f"PREFIX={PREFIX}"], cwd=TOP, capture_output=True, text=True,
                       timeout=INSTALL_TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    env = dict(os.environ, PKG_CONFIG_PATH=f"{stage}{PREFIX}/lib/pkgconfig",
               PKG_CONFIG_SYSROOT_DIR=str(stage))
    return stage, env


def test_install_layout_and_exports(installed):
    stage, env = installed
    lib = f"{stage}{PREFIX}/lib"
    for f in ("bin/notun", "include/notun.h", "lib/libnotun.a", "lib/libnotun.so",
              "lib/libnotun.so.0", "lib/pkgconfig/notun.pc"):
        assert os.path.exists(f"{stage}{PREFIX}/{f}"), f
    soname = subprocess.run(["readelf", "-d", f"{lib}/libnotun.so"], capture_output=True,
                            text=True, timeout=30).stdout
    assert "Library soname: [libnotun.so.0]" in soname
    syms = subprocess.run(["nm", "-D", "--defined-only", f"{lib}/libnotun.so"],
                          capture_output=True, text=True, timeout=30).stdout.split("\n")
    names = [line.split()[-1].split("@")[0] for line in syms if line.strip()]
    assert "notun_session_new" in names
    assert [n for n in names if not n.startswith("notun_") and n != "NOTUN_0"] == []
    # The static archive: the API is its only global definition.
    syms = subprocess.run(["nm", "-g", "--defined-only", f"{lib}/libnotun.a"],
                          capture_output=True, text=True, timeout=30).stdout.split("\n")
    defined = [line.split()[-1] for line in syms if re.match(r"^[0-9a-f]+ [A-Z] ", line)]
    assert "notun_next_event" in defined
    assert [n for n in defined if not n.startswith("notun_")] == []


class Host:
    """The example host: its event lines gathered by a thread."""

    def __init__(self, exe, config, env):
        self.lines = []
        self.proc = subprocess.Popen([exe, config], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.err = []
        self.readers = [threading.Thread(target=self._read, args=(f, out), daemon=True)
                        for f, out in ((self.proc.stdout, self.lines),
                                       (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(f, out):
        for line in f:
            out.append(line.rstrip("\n"))

    def wait(self, pattern, since=0):
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while time.monotonic() < deadline:
            # Once it has exited, its last lines may still be on their way
            # from the pipe: look again after the readers reached the end.
            done = self.proc.poll() is not None
            if done:
                for t in self.readers:
                    t.join(timeout=EVENT_TIMEOUT_S)
            for line in list(self.lines)[since:]:
                m = re.search(pattern, line)
                if m:
                    return m
            if done:
                break
            time.sleep(0.05)
        raise AssertionError(f"no '{pattern}' in {self.lines}; log: {self.err[-20:]}")

    def command(self, line):
        """A command on the host's stdin; its line says it was queued."""
        mark = len(self.lines)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        word = line.split()[0]
        self.wait(rf'^command={word} result="queued"$', since=mark)

    def count(self, pattern):
        return sum(1 for line in list(self.lines) if re.search(pattern, line))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def example(installed, tmp_path_factory):
    """The example host built against the staged installation: (exe, run env)."""
    stage, env = installed
    tmp_path = tmp_path_factory.mktemp("example")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "notun"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert flags.returncode == 0, flags.stderr
    assert f"-I{stage}{PREFIX}/include" in flags.stdout
    exe = str(tmp_path / "notun-events")
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror",
                         os.path.join(TOP, "core", "lib", "example", "notun-events.c"), "-o", exe]
                        + flags.stdout.split(), capture_output=True, text=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    # Statically: the archive needs only the private libraries.
    static = subprocess.run(["pkg-config", "--static", "--libs-only-l", "notun"], env=env,
                            capture_output=True, text=True, timeout=30).stdout.split()
    cc = subprocess.run(["cc", "-std=c11", os.path.join(TOP, "core", "lib", "example",
                                                        "notun-events.c"),
                         "-o", exe + "-static", f"-I{stage}{PREFIX}/include",
                         f"{stage}{PREFIX}/lib/libnotun.a"] + [f for f in static if f != "-lnotun"],
                        capture_output=True, text=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    return exe, dict(os.environ, LD_LIBRARY_PATH=f"{stage}{PREFIX}/lib")


def test_example_host_through_a_gateway(example, notun, tmp_path, servers):  # noqa: F811
    exe, run_env = example
    gw_keys, client_keys = KeyPair(notun), KeyPair(notun)
    gw_port = free_udp_port("127.0.0.1")
    gateway = Gateway(notun, tmp_path, (
        f"[Interface]\nPrivateKey = {gw_keys.private}\nListenPort = {gw_port}\n"
        f"Address = {GW_IP}/32\n\n"
        f"[Peer]\nPublicKey = {client_keys.public}\nAllowedIPs = {CLIENT_IP}/32\n\n"
        f"[Gateway]\nAllow = {GW_IP}/32 tcp:{servers['http']}\n"))
    config = tmp_path / "client.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[Interface]\nPrivateKey = {client_keys.private}\nAddress = {CLIENT_IP}/32\n\n"
                f"[Peer]\nPublicKey = {gw_keys.public}\nEndpoint = 127.0.0.1:{gw_port}\n"
                f"AllowedIPs = {GW_IP}/32\n\n[Proxy]\nListen = 127.0.0.1:0\n")
    host = Host(exe, str(config), run_env)
    try:
        addr = host.wait(r"^event=listener_ready addr=(127\.0\.0\.1:\d+)$").group(1)
        r = curl(["--proxy", f"socks5h://{addr}", f"http://{GW_IP}:{servers['http']}/hello"],
                 timeout=30)
        assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
        host.wait(rf"^event=tunnel_up key={re.escape(gw_keys.public)} "
                  rf"endpoint=127\.0\.0\.1:{gw_port} last_handshake_ms=[1-9]\d+$")
        host.proc.send_signal(signal.SIGINT)
        host.wait(r"^signal=Interrupt$")
        host.wait(r"^event=stopped$")
        assert host.proc.wait(timeout=EVENT_TIMEOUT_S) == 0, host.err[-20:]
        # Its log went to the fd it gave (stderr), key=value lines.
        assert any("event=engine_up" in line for line in host.err), host.err[-20:]
    finally:
        release(host.close, gateway.stop)


def test_example_host_under_a_portal_access_disable_reset(example, notun, tmp_path):
    """The session under a real portal: access events for a resource, a
    resource disabled from the host (refused at once, nothing asked) and
    enabled again, reset (the portal sees the client join again, the gateway
    a new handshake), stop."""
    from socks import connect
    from test_client_portal import portal_world
    exe, run_env = example
    with portal_world(notun, tmp_path) as w:
        w["client"].stop()  # the host is alice now
        host = Host(exe, str(w["conf"]), run_env)
        try:
            addr = host.wait(r"^event=listener_ready addr=(127\.0\.0\.1:\d+)$").group(1)
            host.wait(r"^event=portal_connected")
            host.wait(r"^event=resources_updated count=[1-9]")
            url = f"{w['url']}/hello"
            r = curl(["--proxy", f"socks5h://{addr}", url], timeout=30)
            assert r.returncode == 0 and r.stdout == "hello through notun\n", r.stderr
            host.wait(r"^event=access rid=web state=pending")
            host.wait(r"^event=access rid=web state=granted gid=gw1 expires_at=\d+")
            host.wait(r"^event=tunnel_up key=")
            hs_at = time.monotonic()

            mark = len(host.lines)
            host.command("disable web")
            host.wait(r"^event=access rid=web state=none", since=mark)
            asked = len(w["portal"].lines)
            t = time.monotonic()
            proxy = tuple(addr.split(":"))
            rep, _ = connect((proxy[0], int(proxy[1])), w["res_ip"], w["http_port"])
            assert rep == 0x02 and time.monotonic() - t < 1
            time.sleep(0.3)
            assert not any("rid=web" in line for line in w["portal"].lines[asked:])

            host.command("enable web")
            r = curl(["--proxy", f"socks5h://{addr}", url], timeout=30)
            assert r.returncode == 0, r.stderr

            # A handshake is started only 5 s (REKEY_TIMEOUT) after the last one.
            time.sleep(max(0.0, hs_at + 5.5 - time.monotonic()))
            joins = sum("event=joined cid=alice" in line for line in w["portal"].lines)
            handshakes = w["gw"].read_log().count("event=handshake_complete")
            host.command("reset")
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while time.monotonic() < deadline and (
                    sum("event=joined cid=alice" in line for line in w["portal"].lines) <= joins
                    or w["gw"].read_log().count("event=handshake_complete") <= handshakes):
                time.sleep(0.1)
            assert sum("event=joined cid=alice" in line for line in w["portal"].lines) > joins
            assert w["gw"].read_log().count("event=handshake_complete") > handshakes

            host.command("stop")
            host.wait(r"^event=stopped$")
            assert host.proc.wait(timeout=EVENT_TIMEOUT_S) == 0, host.err[-20:]
        finally:
            host.close()
