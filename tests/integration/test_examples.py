"""The sample configurations `make install` puts beside the man pages
(core/cli/examples/) work once their placeholders are filled: the client's
is accepted by `notun env`, the gateway and the portal start on theirs."""
import os
import re
import subprocess
import time

from client import free_tcp_port
from test_portal import new_token
from wgtun import KeyPair, free_udp_port

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(TOP, "core", "cli", "examples")


def sample(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return f.read()


def write(tmp_path, name, text):
    path = tmp_path / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def runs_until(cmd, ready, timeout=15):
    """cmd starts and logs ready; then SIGTERM ends it with 0."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if ready in line:
                break
        assert any(ready in line for line in seen), "".join(seen)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, "".join(seen) + out


def test_client_sample(notun, tmp_path):
    text = sample("client.conf")
    assert "REPLACE_WITH" in text
    client, gateway = KeyPair(notun), KeyPair(notun)
    text = text.replace("REPLACE_WITH_THE_OUTPUT_OF_notun_genkey", client.private)
    text = text.replace("REPLACE_WITH_THE_GATEWAYS_PUBLIC_KEY", gateway.public)
    assert "REPLACE_WITH" not in text
    conf = write(tmp_path, "client.conf", text)
    r = subprocess.run([notun, "env", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "export ALL_PROXY='socks5h://127.0.0.1:1080'" in r.stdout, r.stdout


def test_gateway_sample(notun, tmp_path):
    gateway, client = KeyPair(notun), KeyPair(notun)
    text = sample("gateway.conf")
    text = text.replace("REPLACE_WITH_THE_OUTPUT_OF_notun_genkey", gateway.private)
    text = text.replace("REPLACE_WITH_THE_CLIENTS_PUBLIC_KEY", client.public)
    text = re.sub(r"(?m)^ListenPort = 51820$", f"ListenPort = {free_udp_port('127.0.0.1')}",
                  text)
    assert "REPLACE_WITH" not in text
    conf = write(tmp_path, "gateway.conf", text)
    runs_until([notun, "gateway", "-c", str(conf), "--control", "none"], "event=gateway_up")


def test_portal_sample(notun, tmp_path):
    text = sample("portal.conf")
    text = text.replace("REPLACE_WITH_THE_TokenHash_LINE_OF_notun_portal_token_gateway",
                        new_token(notun, "gateway")[1].split(" = ", 1)[1])
    text = text.replace("REPLACE_WITH_THE_TokenHash_LINE_OF_notun_portal_token_client",
                        new_token(notun, "client")[1].split(" = ", 1)[1])
    text = re.sub(r"(?m)^Listen = 127.0.0.1:8443$", f"Listen = 127.0.0.1:{free_tcp_port()}",
                  text)
    assert "REPLACE_WITH" not in text
    conf = write(tmp_path, "portal.conf", text)
    runs_until([notun, "portal", "-c", str(conf)], "event=started")


def test_user_unit_names_an_installed_binary_and_the_config_dir():
    text = sample("notun-up@.service")
    assert re.search(r"(?m)^ExecStart=@BINDIR@/notun up -c %E/notun/%i\.conf$", text), text
    assert "RestartPreventExitStatus=2" in text
