"""Claims the README makes that no other test checked: notun run forwards
SIGHUP to its command, notun up exits 2 on a configuration error and its
--listen replaces the file's Listen, names are never resolved by the
system when the configuration names a tunnel DNS server, and the proxy
pauses its listeners when out of descriptors with no reserve left (issue
19)."""
import os
import re
import resource
import signal
import socket
import subprocess
import time

from client import Notun, free_tcp_port
from socks import connect
from test_proxy_guard import start
from test_signals import wait_log
from wgtun import KeyPair, free_udp_port


def static_config(notun, listen_port, extra=""):
    """A client whose one peer never answers (nothing listens on its UDP port)."""
    gw = KeyPair(notun)
    return (f"[Interface]\nPrivateKey = {KeyPair(notun).private}\nAddress = 10.77.9.2/32\n"
            f"{extra}\n[Peer]\nPublicKey = {gw.public}\n"
            f"Endpoint = 127.0.0.1:{free_udp_port('127.0.0.1')}\nAllowedIPs = 10.77.9.0/24\n\n"
            f"[Proxy]\nListen = 127.0.0.1:{listen_port}\nConnectTimeout = 3s\n")


def test_run_forwards_sighup_to_its_command(notun, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(static_config(notun, free_tcp_port()))
    conf.chmod(0o600)
    started, got = tmp_path / "started", tmp_path / "got"
    script = (f'trap \'echo hup > "{got}"; exit 7\' HUP; touch "{started}"; '
              'i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 1')
    proc = subprocess.Popen([notun, "run", "-c", str(conf), "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=15) == 7
        assert got.read_text() == "hup\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_up_exits_2_on_a_configuration_error(notun, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(static_config(notun, free_tcp_port()) + "\n[Proxy]\nNoSuchKey = 1\n")
    conf.chmod(0o600)
    r = subprocess.run([notun, "up", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "NoSuchKey" in lines[0] and "bad.conf:" in lines[0], r.stderr


def test_up_listen_option_replaces_the_files_listen(notun, tmp_path):
    in_file, given = free_tcp_port(), free_tcp_port()
    client = Notun(notun, tmp_path, static_config(notun, in_file),
                   args=("--listen", f"127.0.0.1:{given}", "--control", "none"))
    try:
        client.wait_listening(given)
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex(("127.0.0.1", in_file)) != 0, "the file's Listen is open too"
    finally:
        client.stop()


def test_names_never_fall_back_to_the_system_resolver(notun, tmp_path):
    """With DNS = a tunnel server that never answers, `localhost` (which the
    system resolves from /etc/hosts) must fail: a fallback would connect to
    the listener below."""
    port = free_tcp_port()
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(4)
    try:
        client = Notun(notun, tmp_path, static_config(notun, port, "DNS = 10.77.9.53"),
                       args=("--control", "none"))
        try:
            client.wait_listening(port)
            t = time.monotonic()
            rep, _ = connect(("127.0.0.1", port), "localhost", target.getsockname()[1],
                             timeout=15)
            assert rep != 0x00, client.read_log()
            assert time.monotonic() - t < 12
            target.setblocking(False)
            try:
                target.accept()
                raise AssertionError("the name was resolved outside the tunnel")
            except BlockingIOError:
                pass
        finally:
            client.stop()
    finally:
        target.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reserve_fd(pid):
    """The proxy's reserve: the one /dev/null notun opened itself (O_CLOEXEC)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = int(re.search(r"^flags:\s+(\d+)", f.read(), re.M).group(1), 8)
        except OSError:
            continue
        if target == "/dev/null" and flags & os.O_CLOEXEC:
            found.append(int(fd))
    assert len(found) == 1, found
    return found[0]


def proxy_counter(client, field):
    before = len(re.findall(r"event=counters set=proxy ", client.log_path.read_text()))
    client.proc.send_signal(signal.SIGUSR1)
    line = wait_log(client, r"event=counters set=proxy .*", count=before + 1)[-1]
    return int(re.search(rf" {field}=(\d+)", line).group(1))


def test_out_of_descriptors_with_no_reserve_pauses_the_listeners(notun, tmp_path):
    """proxy/README.md: accept() "out of descriptors with the reserve gone":
    "listeners pause 100 ms; accept_errors", and one clients_refused warning
    at once with accept_pauses. The running client's soft RLIMIT_NOFILE is
    lowered to its lowest free descriptor (or its reserve's, if lower): no
    descriptor can be made, and giving the reserve up frees none under the
    limit. Clients wait in the backlog while the process rests (CPU time and
    accept_errors bounded by the pauses, not a spin), and are served once
    the limit is back."""
    port = free_tcp_port()
    n = start(notun, tmp_path, port)
    waiting = []
    pid = n.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    try:
        used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        lowest_free = min(set(range(len(used) + 1)) - used)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (min(lowest_free, reserve_fd(pid)), hard))
        errors_before = proxy_counter(n, "accept_errors")
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"\x05\x01\x00")
            waiting.append(s)
        wait_log(n, r"level=warn mod=proxy event=clients_refused .* refused=0 accept_pauses=1 ")
        time.sleep(2)
        for s in waiting:  # in the backlog: neither answered nor closed
            s.setblocking(False)
            try:
                got = s.recv(16)
                raise AssertionError(f"a client got {got!r} while out of descriptors")
            except BlockingIOError:
                pass
            s.settimeout(5)
        cpu, paused = cpu_seconds(pid) - cpu0, time.monotonic() - t0
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for s in waiting:
            assert s.recv(2) == b"\x05\x00"
        assert cpu < 0.5, f"{cpu:.2f} s of CPU in {paused:.2f} s out of descriptors"
        errors = proxy_counter(n, "accept_errors") - errors_before
        # One failed accept per 100 ms pause (and per wake-up of a client).
        assert 2 <= errors <= paused / 0.1 + 5, f"{errors} accept errors in {paused:.2f} s"
        assert proxy_counter(n, "rejected_no_fd") == 0
        assert len(re.findall("event=clients_refused", n.log_path.read_text())) == 1
    finally:
        for s in waiting:
            s.close()
        n.stop()
