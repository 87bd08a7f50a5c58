#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The layering check: dependencies between source folders point one way.

Every folder of C sources has a layer; a file may include headers of its own
folder and of folders on a lower layer, never of a higher one or of another
folder on the same layer. A folder missing from the table fails the check, so
a new subsystem gets its place on purpose. Two more rules:
- lwIP's headers are netstack/'s alone: the rest of the code reaches the
  stack through netstack/'s own headers;
- core/wg/ is the protocol without I/O: besides its own headers and the
  crypto libraries it includes only the system headers listed below and
  platform/random.h.

Usage: layering.py [TOP]. Prints each violation as file:line and exits 1 when
there is any; prints nothing else but a one-line summary.
"""
import os
import re
import sys

# Lower first. core/README.md draws the same order.
LAYERS = {
    "platform": 0,
    "core/wg": 1,
    "netstack": 1,
    "core/config": 2,
    "core/tunnel": 2,
    "core/resolver": 2,
    "core/phx": 2,
    "core/channel": 3,
    "core/engine": 4,
    "core/gateway": 4,
    "core/portal": 4,
    "proxy": 5,
    "core/ctl": 6,
    "core/lib": 6,
    "core/cli": 7,
}
SOURCE_ROOTS = ("platform", "core", "netstack", "proxy")
LWIP_OWNER = "netstack"
WG_SYSTEM_OK = {
    "arpa/inet.h", "blake2.h", "errno.h", "netinet/in.h", "sodium.h", "stdbool.h", "stddef.h",
    "stdint.h", "stdio.h", "stdlib.h", "string.h", "sys/socket.h",
}
WG_PROJECT_OK = {"platform/random.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def folder_of(path):
    """The table's folder that holds path (the longest match), or None."""
    best = None
    for f in LAYERS:
        if path.startswith(f + "/") and (best is None or len(f) > len(best)):
            best = f
    return best


def check_file(top, path):
    errors = []
    here = folder_of(path)
    if here is None:
        return [f"{path}: its folder has no layer in tests/layering.py"]
    with open(os.path.join(top, path), encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        quoted, name = m.group(1) == '"', m.group(2)
        where = f"{path}:{n}: #include {line.split('include', 1)[1].strip()}"
        if name.startswith("lwip/") or name.startswith("arch/"):
            if here != LWIP_OWNER:
                errors.append(f"{where}: lwIP belongs to {LWIP_OWNER}/")
            continue
        target = folder_of(name) if quoted and "/" in name else None
        if here == "core/wg":
            if target == "core/wg" or name in WG_PROJECT_OK or (not quoted and name in WG_SYSTEM_OK):
                pass
            else:
                errors.append(f"{where}: core/wg/ includes nothing that does I/O")
                continue
        if target is None:
            if quoted and "/" in name and name.split("/")[0] in SOURCE_ROOTS:
                errors.append(f"{where}: no such layer")
            continue
        if target == here:
            continue
        if LAYERS[target] >= LAYERS[here]:
            errors.append(f"{where}: {here}/ (layer {LAYERS[here]}) may not include "
                          f"{target}/ (layer {LAYERS[target]})")
    return errors


def sources(top):
    for root in SOURCE_ROOTS:
        for dirpath, _, files in os.walk(os.path.join(top, root)):
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, name), top)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))
    errors, count = [], 0
    for path in sources(top):
        count += 1
        errors += check_file(top, path)
    for e in errors:
        print(e)
    print(f"layering: {count} files, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
