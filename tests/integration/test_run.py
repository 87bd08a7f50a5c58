"""Per-process proxying end to end: `notun run`, `notun env` and
`notun connect` give real programs (curl, wget, git, Python's urllib, ssh)
their proxy, through WireGuard to wireguard-go in a namespace; content is
checked by sha256. The site's addresses (10.214.n.0/24) exist only inside
the namespace, so a program that reached them went through notun."""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import socks
from client import HTTP_PORT, Notun, free_tcp_port, sha256_of_file
from httpsrv import pattern_sha256

MIB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
RUN_TIMEOUT_S = 120
TLS_PORT = 8443
GIT_PORT = 8081
SSH_PORT = 2222
SINK_PORT = 7008
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_env(**extra):
    """This process's environment without proxy settings of its own."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS
           and k not in ("JAVA_TOOL_OPTIONS", "NODE_USE_ENV_PROXY")}
    env.update(extra)
    return env


def need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (run make deps)")


@pytest.fixture
def conf(tmp_path, site):
    """A client configuration for the site; notun run picks its own port."""
    path = tmp_path / "client.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(site.client_config(free_tcp_port()))
    return path


def run(notun, conf, cmd, *opts, env=None, timeout=RUN_TIMEOUT_S, **kw):
    """notun run -c CONF OPTS -- CMD, bounded; returns the CompletedProcess."""
    return subprocess.run([notun, "run", "-c", str(conf), *opts, "--", *cmd],
                          env=env or clean_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, **kw)


def wait_listening_in(ns, ip, port, proc, log=None):
    """Until a TCP socket listens on ip:port in the namespace (bounded)."""
    deadline = time.monotonic() + 10
    while not ns.run("ss", "-Htln", f"src {ip}:{port}").stdout.strip():
        assert proc.poll() is None, log.read_text() if log else f"server on {port} exited"
        assert time.monotonic() < deadline, f"nothing listens on {ip}:{port}"
        time.sleep(0.05)


def bytes_url(site, size, seed):
    return f"http://{site.ip}:{HTTP_PORT}/bytes/{size}?seed={seed}"


def check_download(r, out, size, seed):
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(out) == pattern_sha256(size, seed)


# ---- programs given their proxy by notun run ----

def test_curl_through_all_proxy_socks5h(notun, tmp_path, site, conf):
    out, size = tmp_path / "socks", 4 * MIB + 3
    # Without the HTTP variables, curl takes ALL_PROXY (socks5h://user:pass@...).
    r = run(notun, conf, ["env", "-u", "http_proxy", "-u", "HTTP_PROXY", "curl", "-sS",
                          "--max-time", "100", "-o", str(out), bytes_url(site, size, "socks")])
    check_download(r, out, size, "socks")


def test_curl_through_http_proxy(notun, tmp_path, site, conf):
    out, size = tmp_path / "http", 4 * MIB + 5
    r = run(notun, conf, ["curl", "-sS", "--max-time", "100", "-o", str(out),
                          bytes_url(site, size, "http")])
    check_download(r, out, size, "http")


def test_curl_https_through_https_proxy(notun, tmp_path, site, conf):
    need("openssl")
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", f"/CN={site.ip}", "-addext",
                    f"subjectAltName=IP:{site.ip}"], check=True, capture_output=True, timeout=30)
    tls = site.ns.spawn(sys.executable, os.path.join(HERE, "httpsrv.py"), site.ip,
                        str(TLS_PORT), str(cert), str(key), stdout=subprocess.PIPE, text=True)
    try:
        assert tls.stdout.readline().strip() == "ready"
        out, size = tmp_path / "https", 4 * MIB + 7
        r = run(notun, conf, ["curl", "-sS", "--max-time", "100", "--cacert", str(cert), "-o",
                              str(out), f"https://{site.ip}:{TLS_PORT}/bytes/{size}?seed=tls"])
        check_download(r, out, size, "tls")
    finally:
        site.ns.stop(tls)


def test_wget_through_http_proxy(notun, tmp_path, site, conf):
    need("wget")
    out, size = tmp_path / "wget", 3 * MIB + 11
    r = run(notun, conf, ["wget", "-q", "--tries=1", "--timeout=100", "-O", str(out),
                          bytes_url(site, size, "wget")])
    check_download(r, out, size, "wget")


def test_python_urllib_through_http_proxy(notun, tmp_path, site, conf):
    out, size = tmp_path / "urllib", 2 * MIB + 13
    script = ("import sys, urllib.request\n"
              "with urllib.request.urlopen(sys.argv[1], timeout=100) as r, "
              "open(sys.argv[2], 'wb') as f:\n"
              "    f.write(r.read())\n")
    r = run(notun, conf, [sys.executable, "-c", script, bytes_url(site, size, "urllib"),
                          str(out)])
    check_download(r, out, size, "urllib")


@pytest.fixture
def git_site(tmp_path, site):
    """A bare repository behind the tunnel, served by dumb HTTP; yields the
    URL and the sha256 of its one file."""
    need("git")
    git = ["git", "-c", "user.name=notun", "-c", "user.email=notun@test", "-c",
           "init.defaultBranch=main"]
    src, serve = tmp_path / "src", tmp_path / "serve"
    serve.mkdir()
    subprocess.run([*git, "init", "-q", str(src)], check=True, timeout=30)
    payload = os.urandom(3 * MIB)
    (src / "payload.bin").write_bytes(payload)
    subprocess.run([*git, "-C", str(src), "add", "payload.bin"], check=True, timeout=30)
    subprocess.run([*git, "-C", str(src), "commit", "-q", "-m", "payload"], check=True,
                   timeout=30)
    subprocess.run([*git, "clone", "-q", "--bare", str(src), str(serve / "repo.git")],
                   check=True, timeout=30)
    subprocess.run(["git", "-C", str(serve / "repo.git"), "update-server-info"], check=True,
                   timeout=30)
    srv = site.ns.spawn(sys.executable, "-m", "http.server", "--bind", site.ip, "--directory",
                        str(serve), str(GIT_PORT), stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
    wait_listening_in(site.ns, site.ip, GIT_PORT, srv)
    yield f"http://{site.ip}:{GIT_PORT}/repo.git", hashlib.sha256(payload).hexdigest()
    site.ns.stop(srv)


def test_git_clone_over_dumb_http(notun, tmp_path, conf, git_site):
    url, digest = git_site
    dest = tmp_path / "clone"
    r = run(notun, conf, ["git", "clone", "-q", url, str(dest)],
            env=clean_env(GIT_TERMINAL_PROMPT="0"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(dest / "payload.bin") == digest


def test_git_clone_with_all_proxy_as_git_proxy(notun, tmp_path, conf, git_site):
    url, digest = git_site
    dest = tmp_path / "clone-socks"
    r = run(notun, conf, ["sh", "-c", 'exec git -c http.proxy="$ALL_PROXY" clone -q "$0" "$1"',
                          url, str(dest)], env=clean_env(GIT_TERMINAL_PROMPT="0"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(dest / "payload.bin") == digest


# ---- ssh with notun connect as its ProxyCommand ----

@pytest.fixture
def sshd(tmp_path, site):
    """sshd in the namespace on the tunnel address, with a host key and one
    authorized key made here; yields (client key, file to fetch)."""
    need("ssh", "ssh-keygen")
    sshd_bin = "/usr/sbin/sshd"
    if not os.access(sshd_bin, os.X_OK):
        pytest.skip("sshd is missing (openssh-server; run make deps)")
    d = tmp_path / "ssh"
    d.mkdir()
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True, timeout=30)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "sshd_config").write_text(
        f"Port {SSH_PORT}\nListenAddress {site.ip}\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile none\nStrictModes no\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    proc = site.ns.spawn(sshd_bin, "-D", "-e", "-f", str(d / "sshd_config"),
                         stdout=subprocess.DEVNULL, stderr=open(d / "sshd.log", "w"))
    wait_listening_in(site.ns, site.ip, SSH_PORT, proc, d / "sshd.log")
    data = d / "data.bin"
    data.write_bytes(os.urandom(8 * MIB + 17))
    yield d / "client_key", data
    site.ns.stop(proc)


def ssh_args(key, proxy_command, site, remote_cmd):
    return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
            f"ProxyCommand={proxy_command}", "-i", str(key), "-p", str(SSH_PORT),
            f"root@{site.ip}", remote_cmd]


def test_ssh_through_notun_connect_in_notun_run(notun, tmp_path, site, conf, sshd):
    key, data = sshd
    out = tmp_path / "ssh-out"
    cmd = ssh_args(key, f"{notun} connect %h %p", site, f"cat {data}")
    r = run(notun, conf, ["sh", "-c", 'exec "$@" > "$0"', str(out), *cmd])
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(out) == sha256_of_file(data)


def test_ssh_through_notun_connect_with_its_own_engine(notun, tmp_path, site, conf, sshd):
    key, data = sshd
    out = tmp_path / "ssh-own"
    cmd = ssh_args(key, f"{notun} connect -c {conf} %h %p", site, f"cat {data}")
    with open(out, "wb") as f:
        r = subprocess.run(cmd, env=clean_env(), stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sha256_of_file(out) == sha256_of_file(data)


# ---- notun connect on its own ----

@pytest.fixture
def sink(site):
    """A server in the namespace that reads to EOF, then answers with the
    sha256 of what it read and closes: both half-closes must pass."""
    proc = site.ns.spawn(sys.executable, "-c", (
        "import hashlib,socket\n"
        f"s=socket.create_server(('{site.ip}',{SINK_PORT}))\n"
        "print('ready',flush=True)\n"
        "while True:\n"
        " c,_=s.accept(); h=hashlib.sha256()\n"
        " while True:\n"
        "  d=c.recv(1<<16)\n"
        "  if not d: break\n"
        "  h.update(d)\n"
        " c.sendall(h.hexdigest().encode()+b'\\n'); c.close()\n"),
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield SINK_PORT
    site.ns.stop(proc)


@pytest.mark.parametrize("own_engine", [False, True], ids=["all_proxy", "own_engine"])
def test_connect_half_closes_both_ways(notun, tmp_path, site, conf, sink, own_engine):
    src = tmp_path / "upload"
    src.write_bytes(os.urandom(6 * MIB + 1))
    opts = f"-c {conf} " if own_engine else ""
    r = run(notun, conf, ["sh", "-c", f'exec {notun} connect {opts}"$0" "$1" < "$2"', site.ip,
                          str(sink), str(src)])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == sha256_of_file(src)


@pytest.fixture
def local_echo():
    """An echo server on the host's loopback (outside every AllowedIPs, so
    reached directly): reads to EOF, sends it all back, closes."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(1)
    stop = threading.Event()

    def serve(c):
        with c:
            c.settimeout(30)
            data = bytearray()
            try:
                while chunk := c.recv(1 << 16):
                    data += chunk
                c.sendall(data)
            except OSError:
                pass  # the client gave up: its test fails on what it got

    def accept_loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(timeout=5)
    srv.close()


def test_connect_to_a_direct_destination_half_closes_both_ways(notun, tmp_path, conf,
                                                                local_echo):
    src = tmp_path / "echo-in"
    src.write_bytes(os.urandom(3 * MIB + 5))
    rounds = 10
    # Each EOF (ours, then the server's) must cross the direct splice at
    # whatever point of its read loop it arrives.
    script = ('i=0; while [ $i -lt "$3" ]; do i=$((i+1)); '
              'timeout 20 "$0" connect 127.0.0.1 "$1" < "$2" > "$2.$i" || exit 1; done')
    r = run(notun, conf, ["sh", "-c", script, notun, str(local_echo), str(src), str(rounds)])
    assert r.returncode == 0, r.stderr[-3000:]
    for i in range(1, rounds + 1):
        assert sha256_of_file(f"{src}.{i}") == sha256_of_file(src), f"round {i}"


@pytest.mark.parametrize("own_engine", [False, True], ids=["all_proxy", "own_engine"])
def test_connect_refused_exits_1_with_the_reason(notun, site, conf, own_engine):
    opts = f"-c {conf} " if own_engine else ""
    r = run(notun, conf, ["sh", "-c", f'exec {notun} connect {opts}"$0" 9', site.ip])
    assert r.returncode == 1
    assert "refused" in r.stderr


def test_connect_without_proxy_or_config_is_a_usage_error(notun):
    r = subprocess.run([notun, "connect", "10.0.0.1", "22"], env=clean_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "ALL_PROXY" in r.stderr


# ---- notun run: exit statuses, signals, credentials ----

@pytest.mark.parametrize("cmd,status", [
    (["true"], 0), (["false"], 1), (["sh", "-c", "exit 3"], 3),
    (["/nonexistent/command"], 127)])
def test_run_exits_with_the_command_status(notun, conf, cmd, status):
    r = run(notun, conf, cmd)
    assert r.returncode == status, r.stderr[-2000:]


def test_run_is_quiet_unless_asked(notun, conf):
    """Its stderr is the command's: no info lines by default, which
    --log-level brings back."""
    r = run(notun, conf, ["true"])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run([notun, "--log-level", "info", "run", "-c", str(conf), "--", "true"],
                       env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT_S)
    assert r.returncode == 0 and "event=listening" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd,status", [(["no-such-command-xyz"], 127),
                                        (["/nonexistent/command"], 127),
                                        (["NOT_EXECUTABLE"], 126)])
def test_run_refuses_a_missing_command_before_any_client_starts(notun, tmp_path, conf, cmd,
                                                                  status):
    if cmd[0] == "NOT_EXECUTABLE":
        plain = tmp_path / "plain.txt"
        plain.write_text("not a program\n")
        plain.chmod(0o644)
        cmd = [str(plain)]
    r = subprocess.run([notun, "--log-level", "debug", "run", "-c", str(conf), "--", *cmd],
                       env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT_S)
    assert r.returncode == status, r.stderr
    assert f"notun run: {cmd[0]}: " in r.stderr
    # Not one line from a client: no engine, no listener, no tunnel.
    assert "event=" not in r.stderr, r.stderr


def test_run_forwards_sigint_and_exits_130(notun, tmp_path, conf):
    started = tmp_path / "started"
    proc = subprocess.Popen([notun, "run", "-c", str(conf), "--", "sh", "-c",
                             'touch "$0" && exec sleep 60', str(started)],
                            env=clean_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)  # sh has exec'd sleep
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# Blocks SIGINT and logs every one it takes, "si_code si_pid", for 4 s.
SIGINT_LOGGER = r"""
import signal, sys, time
out = sys.argv[1]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
open(out + ".ready", "w").close()
end = time.monotonic() + 4
with open(out, "w") as f:
    while time.monotonic() < end:
        si = signal.sigtimedwait({signal.SIGINT}, max(0.01, end - time.monotonic()))
        if si:
            f.write("%d %d\n" % (si.si_code, si.si_pid))
            f.flush()
"""
SI_KERNEL = 0x80


def test_run_does_not_repeat_a_terminal_ctrl_c(notun, tmp_path, conf):
    """Ctrl-C on a terminal reaches CMD (in notun run's process group) from
    the kernel; notun run must not send it a second one of its own. A second
    copy that arrived while the first was still pending would merge with it,
    so notun run is stopped until CMD has taken the terminal's: its own
    SIGINT waits, and a copy it forwarded after SIGCONT cannot merge."""
    import pty
    log = tmp_path / "sigint.log"
    ready = tmp_path / "sigint.log.ready"
    pid, master = pty.fork()
    if pid == 0:  # the child: a session with the pty as its terminal
        try:
            os.execve(notun, [notun, "run", "-c", str(conf), "--", "/usr/bin/python3", "-c",
                              SIGINT_LOGGER, str(log)], clean_env())
        finally:
            os._exit(127)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        os.kill(pid, signal.SIGSTOP)
        os.write(master, b"\x03")  # the terminal's interrupt character
        deadline = time.monotonic() + 20
        while not (log.exists() and log.read_text()):
            assert time.monotonic() < deadline, "the command did not take the Ctrl-C"
            time.sleep(0.05)
        os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, "notun run did not end"
            try:
                output += os.read(master, 4096)
            except OSError:
                time.sleep(0.05)
        assert os.waitstatus_to_exitcode(status) == 0, output[-2000:]
        got = [tuple(int(v) for v in line.split()) for line in log.read_text().splitlines()]
        assert (SI_KERNEL, 0) in got, got  # the terminal's own
        assert all(sender != pid for _, sender in got), (got, pid)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)


def test_run_sets_the_variables_for_the_command_only(notun, conf):
    r = run(notun, conf, ["env"], env=clean_env(NO_PROXY="corp.example",
                                               JAVA_TOOL_OPTIONS="-Xmx1g"))
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    url = env["ALL_PROXY"]
    assert url.startswith("socks5h://") and url == env["all_proxy"]
    creds, hostport = url[len("socks5h://"):].split("@")
    assert hostport.startswith("127.0.0.1:") and ":" in creds
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        assert env[name] == f"http://{creds}@{hostport}"
    assert env["NO_PROXY"] == env["no_proxy"] == "localhost,127.0.0.1,::1,corp.example"
    assert env["NODE_USE_ENV_PROXY"] == "1"
    port = hostport.split(":")[1]
    assert env["JAVA_TOOL_OPTIONS"].startswith(f"-Xmx1g -Dhttp.proxyHost=127.0.0.1 "
                                               f"-Dhttp.proxyPort={port} ")
    assert "-Dhttp.nonProxyHosts=localhost|*.localhost|127.0.0.1|[::1]|corp.example|" \
           "*.corp.example" in env["JAVA_TOOL_OPTIONS"]
    # For the command only: the proxy the variables name answers while the
    # command runs (a SOCKS5 greeting offering user/password gets it) and is
    # gone once notun run has ended.
    probe = ("import os, socket, urllib.parse\n"
             "u = urllib.parse.urlsplit(os.environ['ALL_PROXY'])\n"
             "s = socket.create_connection((u.hostname, u.port), timeout=10)\n"
             "s.sendall(b'\\x05\\x01\\x02')\n"
             "print(os.environ['ALL_PROXY'], s.recv(2).hex())\n")
    during = run(notun, conf, [sys.executable, "-c", probe])
    assert during.returncode == 0, during.stderr
    seen, answer = during.stdout.split()
    assert answer == "0502", during.stdout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(seen.rsplit(":", 1)[1])), timeout=10).close()
    # fresh credentials each run
    again = run(notun, conf, ["sh", "-c", 'echo "$ALL_PROXY"'])
    assert again.stdout.strip() != url


@pytest.fixture
def running(notun, tmp_path, conf):
    """notun run with a command that waits; yields (ALL_PROXY, process)."""
    url_file = tmp_path / "url"
    proc = subprocess.Popen([notun, "run", "-c", str(conf), "--", "sh", "-c",
                             'echo "$ALL_PROXY" > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 60',
                             str(url_file)], env=clean_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not url_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    yield url_file.read_text().strip(), proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_another_process_without_the_credentials_is_refused(site, running):
    url, proc = running
    creds, hostport = url[len("socks5h://"):].split("@")
    user, password = creds.split(":")
    proxy = ("127.0.0.1", int(hostport.split(":")[1]))
    # SOCKS5: no credentials -> no acceptable method; wrong ones -> refused
    assert socks.connect(proxy, site.ip, HTTP_PORT)[0] == 0xFF
    with pytest.raises(PermissionError):
        socks.connect(proxy, site.ip, HTTP_PORT, user, password + "x")
    rep, sock = socks.connect(proxy, site.ip, HTTP_PORT, user, password)
    assert rep == 0
    sock.close()
    # HTTP: 407 without Proxy-Authorization
    with socket.create_connection(proxy, timeout=30) as s:
        s.sendall(f"GET http://{site.ip}:{HTTP_PORT}/hello HTTP/1.1\r\n"
                  f"Host: {site.ip}:{HTTP_PORT}\r\n\r\n".encode())
        assert s.recv(64).startswith(b"HTTP/1.1 407")
    # SIGTERM goes to the command: sleep dies of it, notun exits 128 + 15
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM


def test_run_no_auth_needs_no_credentials(notun, site, conf):
    r = run(notun, conf, ["sh", "-c", 'echo "$ALL_PROXY"; exec env -u http_proxy curl -sS '
                          '--max-time 60 "$0"', f"http://{site.ip}:{HTTP_PORT}/hello"], "--no-auth")
    assert r.returncode == 0, r.stderr[-2000:]
    url, body = r.stdout.split("\n", 1)
    assert "@" not in url and url.startswith("socks5h://127.0.0.1:")
    assert "hello" in body


# ---- notun env for a notun up running elsewhere ----

def test_env_output_evaluated_by_sh_works_with_curl(notun, tmp_path, site):
    port = free_tcp_port()
    up = Notun(notun, tmp_path, site.client_config(
        port, extra_proxy="Username = ci user\nPassword = p@ss:w'rd%"), name="up")
    try:
        up.wait_listening(port)
        out, size = tmp_path / "env-out", 2 * MIB + 1
        script = ('eval "$("$0" env -c "$1")" || exit 99\n'
                  'curl -sS --max-time 100 -o "$2" "$3" || exit 98\n'
                  'unset http_proxy HTTP_PROXY\n'
                  'exec curl -sS --max-time 100 "$4"\n')
        r = subprocess.run(["sh", "-c", script, notun, str(up.conf), str(out),
                            bytes_url(site, size, "env"), f"http://{site.ip}:{HTTP_PORT}/hello"],
                           env=clean_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        check_download(r, out, size, "env")
        assert "hello" in r.stdout
    finally:
        up.stop()


def test_env_refuses_a_config_without_a_fixed_port(notun, tmp_path, site):
    path = tmp_path / "port0.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(site.client_config(0))
    r = subprocess.run([notun, "env", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "port 0" in r.stderr
