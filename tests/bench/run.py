#!/usr/bin/python3
"""make bench: every benchmark, one table. Each row is measured in one run,
notun beside its reference (raw library calls, wireguard-go with a TUN device,
or a direct connection), as a ratio against the row's target.

The C benchmarks (BUILD/bench/bench_*) run first, then the Python ones
(tests/bench/*_bench.py, run with --build BUILD --rows-only); each prints
table rows and exits non-zero when a row misses its target."""
import argparse
import glob
import os
import signal
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(TOP, "tests", "bench")
BENCH_TIMEOUT_S = 600
PY_BENCH_TIMEOUT_S = 1200
STOP_GRACE_S = 30


def run_python(path, build):
    """Rows stream straight to our stdout (these take minutes). On timeout
    the script gets SIGTERM first, so that it removes what it set up."""
    proc = subprocess.Popen(["/usr/bin/python3", path, "--build", build, "--rows-only"],
                            cwd=TOP)
    try:
        return proc.wait(timeout=PY_BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"{os.path.basename(path)}: timed out after {PY_BENCH_TIMEOUT_S}s", flush=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    bdir = os.path.join(args.build, "bench")
    bins = sorted(f for f in os.listdir(bdir) if f.startswith("bench_")) if os.path.isdir(bdir) else []
    scripts = sorted(glob.glob(os.path.join(HERE, "*_bench.py")))
    if not bins and not scripts:
        print("bench: nothing built in", bdir)
        return 1
    print(f"{'benchmark':38} {'notun':>12} {'reference':>12} {'ratio':>8} {'target':>8}",
          flush=True)
    failed = 0
    for name in bins:
        proc = subprocess.run([os.path.join(bdir, name)], cwd=TOP, capture_output=True, text=True,
                              timeout=BENCH_TIMEOUT_S)
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
        if proc.returncode != 0:
            failed += 1
            sys.stderr.write(proc.stderr)
    for path in scripts:
        if run_python(path, os.path.abspath(args.build)) != 0:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
