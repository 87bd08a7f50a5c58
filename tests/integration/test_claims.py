"""Claims the README makes that no other test checked: notun run forwards
SIGHUP to its command, notun up exits 2 on a configuration error and its
--listen replaces the file's Listen, and names are never resolved by the
system when the configuration names a tunnel DNS server (issue 19)."""
import signal
import socket
import subprocess
import time

from client import Notun, free_tcp_port
from socks import connect
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
