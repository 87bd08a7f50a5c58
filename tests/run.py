#!/usr/bin/python3
"""Runs every test notun has and ends with one line: N passed, N failed, N skipped.

The layering check (tests/layering.py) counts as one test; unit tests are
the cmocka binaries in BUILD/tests/; integration tests are
tests/integration/ under Debian's pytest, pointed at BUILD/notun. A unit binary
that dies before cmocka prints its summary (a sanitizer report, a crash) counts
as one failure, so nothing fails silently.
"""
import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT_TIMEOUT_S = 120
PASSED = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
FAILED = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)
SKIPPED = re.compile(r"^\[  SKIPPED \] (\d+) test", re.M)


def count(pattern, text):
    return sum(int(n) for n in pattern.findall(text))


def run_unit(build):
    totals = [0, 0, 0]
    tdir = os.path.join(build, "tests")
    bins = sorted(f for f in os.listdir(tdir) if f.startswith("test_")) if os.path.isdir(tdir) else []
    for name in bins:
        path = os.path.join(tdir, name)
        try:
            proc = subprocess.run([path], cwd=TOP, capture_output=True, text=True,
                                  timeout=UNIT_TIMEOUT_S)
            out, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = f"{e.stdout or ''}{e.stderr or ''}\ntimed out after {UNIT_TIMEOUT_S}s", -1
        p, f, s = count(PASSED, out), count(FAILED, out), count(SKIPPED, out)
        if rc != 0 and f == 0:
            f = 1
        print(f"unit {name}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
        if f:
            print(out.rstrip())
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
    return totals


def run_layering():
    """tests/layering.py, counted as one test."""
    proc = subprocess.run([sys.executable, os.path.join(TOP, "tests", "layering.py"), TOP],
                          capture_output=True, text=True, timeout=60)
    print(proc.stdout.rstrip())
    return [0, 1, 0] if proc.returncode else [1, 0, 0]


def run_integration(build, extra):
    xml = os.path.join(build, "pytest.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    env = dict(os.environ, NOTUN_BUILD=os.path.abspath(build), PYTHONDONTWRITEBYTECODE="1")
    cmd = ["/usr/bin/python3", "-m", "pytest", "tests/integration", "-q", "-rs",
           "-p", "no:cacheprovider", f"--junitxml={xml}"] + extra
    rc = subprocess.call(cmd, cwd=TOP, env=env)
    if rc == 5:  # nothing collected: a typo in -k or a broken tree, never a pass
        print("integration: pytest collected no tests")
        return [0, 1, 0]
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        print(f"integration: pytest exited {rc} without a report")
        return [0, 1, 0]
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    if rc != 0 and failed == 0:
        failed = 1
    return [tests - failed - skipped, failed, skipped]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/asan")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (e.g. -k keys)")
    args = ap.parse_args()
    totals = [a + b for a, b in zip(run_layering(), run_unit(args.build))]
    if not args.unit_only:
        integ = run_integration(args.build, args.pytest_args)
        totals = [a + b for a, b in zip(totals, integ)]
    line = f"{totals[0]} passed, {totals[1]} failed"
    if totals[2]:
        line += f", {totals[2]} skipped"
    print(line)
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
