"""Shared fixtures: the notun binary under test and helpers to run it."""
import os
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NOTUN_BUILD", os.path.join(TOP, "build", "asan"))
COMMAND_TIMEOUT_S = 30


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
