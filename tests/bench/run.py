#!/usr/bin/python3
"""make bench: every benchmark, one table. Each row is measured in one run,
notun beside its reference (raw library calls, wireguard-go with a TUN device,
or a direct connection), as a ratio against the row's target."""
import argparse
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH_TIMEOUT_S = 600


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    bdir = os.path.join(args.build, "bench")
    bins = sorted(f for f in os.listdir(bdir) if f.startswith("bench_")) if os.path.isdir(bdir) else []
    if not bins:
        print("bench: nothing built in", bdir)
        return 1
    print(f"{'benchmark':38} {'notun':>12} {'reference':>12} {'ratio':>8} {'target':>8}")
    failed = 0
    for name in bins:
        proc = subprocess.run([os.path.join(bdir, name)], cwd=TOP, capture_output=True, text=True,
                              timeout=BENCH_TIMEOUT_S)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            sys.stderr.write(proc.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
