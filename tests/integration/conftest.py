"""Shared fixtures: the notun binary under test and helpers to run it."""
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys

import pytest

# A suite started as a background job of a script (`make test &`) or under
# nohup inherits SIGINT / SIGHUP ignored, and every process a test starts
# would too: `notun run`'s signal tests would then fail on the shell's job
# control, not on notun. Children get the default dispositions back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
for _sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.SIG_DFL)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NOTUN_BUILD", os.path.join(TOP, "build", "asan"))
COMMAND_TIMEOUT_S = 30


def strict_prerequisites():
    """CI (any non-empty CI, as .ci/run sets it) or NOTUN_TESTS=all: a test
    that would skip for a missing prerequisite fails instead, naming it, so a
    machine without root, /dev/net/tun or a tool cannot pass by running
    nothing. A developer's laptop keeps the friendly skips."""
    return bool(os.environ.get("CI")) or os.environ.get("NOTUN_TESTS") == "all"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "opt_in: the test runs only when asked (a soak, a benchmark): its skip "
                   "is no missing prerequisite and stays a skip under CI")


def skip_reason(rep):
    return rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every skip, whichever test or fixture raised it, unless xfail or opt_in."""
    rep = (yield).get_result()
    if (rep.skipped and strict_prerequisites() and not hasattr(rep, "wasxfail")
            and item.get_closest_marker("opt_in") is None):
        rep.outcome = "failed"
        rep.longrepr = f"missing prerequisite (a skip fails under CI): {skip_reason(rep)}"


def pytest_sessionstart(session):
    """Namespaces a killed run of the suite left behind (their owner is gone)."""
    from netns import sweep_leftovers

    sweep_leftovers()


def live_children():
    """This process's children that still run (zombies are no leak)."""
    kids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ").strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            kids.append((int(pid), cmd))
    return kids


def pytest_sessionfinish(session, exitstatus):
    """Every fixture is torn down by now: a child still running is one a test
    did not stop on its way out. It is stopped here, by PID, and named, and
    the run fails."""
    import signal

    leaked = live_children()
    for pid, cmd in leaked:
        print(f"\nleaked process: pid={pid} {cmd[:200]}", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if leaked and session.exitstatus == 0:
        session.exitstatus = 1


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped at import (allow_module_level) fails as well."""
    rep = (yield).get_result()
    if rep.skipped and strict_prerequisites():
        rep.outcome = "failed"
        rep.longrepr = f"missing prerequisite (a skip fails under CI): {skip_reason(rep)}"


@pytest.fixture(scope="session")
def notun():
    path = os.path.join(BUILD, "notun")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (run make test)")
    return path


@pytest.fixture(scope="session")
def wg():
    path = shutil.which("wg")
    if path is None:
        pytest.fail("wg (wireguard-tools) is missing: run make deps")
    return path


def wrapped(argv):
    """argv behind NOTUN_WRAPPER (e.g. valgrind and its options, for make
    valgrind), when set: for the long-running notun processes."""
    return shlex.split(os.environ.get("NOTUN_WRAPPER", "")) + list(argv)
# A port tested free and closed is bound later by another process (notun): in
# that gap an outgoing connection anywhere on the machine may take it, if it
# is an ephemeral one. So ports come from just below the kernel's ephemeral
# range, where only explicit binds compete; a random pick and this session's
# record of picks keep those apart (suites run side by side here).
PORT_SPAN = 10000
_picked_ports = set()


def free_port(kind=socket.SOCK_STREAM, addr="127.0.0.1"):
    """A port no socket of kind holds on addr, outside the ephemeral range."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    span = range(max(1024, low - PORT_SPAN), low)
    for _ in range(200):
        port = random.choice(span) if len(span) > 1000 else 0
        if port in _picked_ports:
            continue
        with socket.socket(family, kind) as s:
            try:
                s.bind((addr, port))
            except OSError:
                continue
            port = s.getsockname()[1]
        _picked_ports.add(port)
        return port
    raise RuntimeError(f"no free port in {span}")


def release(*steps):
    """Runs every clean-up step (falsy ones skipped) even when one raises,
    then raises the first failure: a stop that fails (an exit code, an ASan
    report) must not leave the next process or namespace behind."""
    first = None
    for step in steps:
        try:
            if step:
                step()
        except Exception as e:  # noqa: BLE001 (each is re-raised or chained)
            first = first or e
    if first:
        raise first


def run(args, stdin=None, check=True):
    """Runs a command with a bounded time, returns the CompletedProcess."""
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


# Shared by the end-to-end files. Imported inside the fixtures: client.py and
# wgtun.py import this module.
@pytest.fixture
def site(notun):
    """wireguard-go in a namespace with an HTTP server behind the tunnel."""
    from client import Site
    from netns import require_netns

    require_netns()
    s = Site(notun)
    yield s
    s.close()


@pytest.fixture
def client(notun, tmp_path, site):
    """notun up against the site with default settings; yields (Notun, port)."""
    from client import Notun, free_tcp_port

    port = free_tcp_port()
    n = Notun(notun, tmp_path, site.client_config(port))
    n.wait_listening(port)
    yield n, port
    n.stop()


@pytest.fixture
def local_http():
    """An HTTP server on the host's loopback: outside every AllowedIPs."""
    from client import free_tcp_port

    port = free_tcp_port()
    proc = subprocess.Popen([sys.executable, os.path.join(TOP, "tests", "integration", "httpsrv.py"),
                             "127.0.0.1", str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield port
    proc.terminate()
    proc.wait(timeout=5)
