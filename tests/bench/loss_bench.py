#!/usr/bin/python3
"""Goodput under loss: single-stream HTTP download and upload through notun
and through the wireguard-go pair of tunnel_bench.py (the same rig: the same
server, HTTP server and file), both relays impaired alike with udprelay
--loss PCT --reorder 1 --duplicate 1 (each direction; a fixed seed), at each
loss level of LOSSES. Prints table rows (see tests/bench/README.md); needs
root for the namespaces.

Usage: loss_bench.py [--build DIR] [--rows-only]
"""
import argparse
import os
import sys

from benchlib import TOP, measure_pair, pair_rows, run_bench, warm_up
from tunnel_bench import Rig

LOSSES = ("1", "5")  # percent
IMPAIRMENTS = ("--reorder", "1", "--duplicate", "1", "--seed", "1")
TARGET_LOSS = 0.5


def bench(args, stack):
    rig = Rig(os.path.abspath(args.build), stack)
    notun, relays = rig.notun, [rig.relay_a, rig.relay_b]
    contenders = [("notun", rig.nt_prefix, notun.alive),
                  ("reference", rig.ref_prefix, lambda: True)]
    ok = True
    for loss in LOSSES:
        for relay in relays:
            relay.stop()
            relay.start(0, ("--loss", loss) + IMPAIRMENTS)
        results = {(n, w): [] for n, _, _ in contenders for w in ("download", "upload")}
        for name, prefix, _ in contenders:
            err = warm_up(prefix, rig.url_base)
            if err:
                for what in ("download", "upload"):
                    results[(name, what)].append(f"{name}: {err}")
        measure_pair(contenders, rig.url_base, rig.data_file, results, relays, [])
        ok &= pair_rows(results, notun, f"{{what}} MB/s ({loss}% loss)", TARGET_LOSS)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--rows-only", action="store_true", help="no table header (run.py)")
    args = ap.parse_args()
    return run_bench("goodput under loss", args.build, args.rows_only,
                     lambda stack: bench(args, stack))


if __name__ == "__main__":
    sys.exit(main())
