"""The harness itself: tests/run.py under CI fails on a missing prerequisite
(naming it) instead of skipping, passes where everything is there, and
counts "nothing collected" as a failure. Each case runs tests/run.py on one
quick namespace test, against a build directory holding this build's
binaries but no unit tests, so only that test and the layering check run."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD, TOP

NESTED_TIMEOUT_S = 240
# Quick, and its first step is require_netns (through the site fixture).
PROBE = "test_run_sets_the_variables_for_the_command_only"


@pytest.fixture
def bare_build(tmp_path):
    """BUILD's binaries and tools, without its unit tests."""
    for name in os.listdir(BUILD):
        if name not in ("tests", "pytest.xml"):
            os.symlink(os.path.join(BUILD, name), tmp_path / name)
    return tmp_path


def run_py(build, *pytest_args, strict, wrap=()):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NOTUN_TESTS")}
    env.update(strict or {})
    cmd = [*wrap, sys.executable, os.path.join(TOP, "tests", "run.py"), "--build", str(build),
           "--", *pytest_args]
    proc = subprocess.run(cmd, cwd=TOP, env=env, capture_output=True, text=True,
                          timeout=NESTED_TIMEOUT_S)
    out = proc.stdout + proc.stderr
    return proc.returncode, out.strip().splitlines()[-1] if out.strip() else "", out


def without_tun():
    """unshare -m, /dev/null bound over /dev/net/tun in that mount namespace
    only (private: the host's device is untouched), then the command."""
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (util-linux)")
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    return ("unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind /dev/null /dev/net/tun && exec "$@"', "sh")


STRICT = {"CI": "true"}


@pytest.mark.parametrize("strict", [STRICT, {"NOTUN_TESTS": "all"}], ids=["CI", "NOTUN_TESTS"])
def test_ci_fails_on_a_missing_tun_device_and_names_it(bare_build, strict):
    rc, last, out = run_py(bare_build, "-k", PROBE, strict=strict, wrap=without_tun())
    assert rc != 0 and last == "1 passed, 1 failed", out[-3000:]
    assert "/dev/net/tun" in out and "missing prerequisite" in out, out[-3000:]


def test_without_ci_a_missing_tun_device_is_a_skip(bare_build):
    rc, last, out = run_py(bare_build, "-k", PROBE, strict=None, wrap=without_tun())
    assert rc == 0 and last == "1 passed, 0 failed, 1 skipped", out[-3000:]
    assert "/dev/net/tun" in out, out[-3000:]


def test_ci_passes_where_every_prerequisite_is_there(bare_build):
    rc, last, out = run_py(bare_build, "-k", PROBE, strict=STRICT)
    assert rc == 0 and last == "2 passed, 0 failed", out[-3000:]


def test_nothing_collected_is_a_failure(bare_build):
    rc, last, out = run_py(bare_build, "-k", "no_test_has_this_name", strict=None)
    assert rc != 0 and last == "1 passed, 1 failed", out[-3000:]
    assert "collected no tests" in out, out[-3000:]
