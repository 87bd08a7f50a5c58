"""Shared fixtures: the notun binary under test and helpers to run it."""
import os
import shutil
import subprocess
import sys

import pytest

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
