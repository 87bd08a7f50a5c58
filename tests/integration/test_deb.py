"""make deb: build/notun_VERSION_ARCH.deb (core/cli/deb/deb.sh) passes lintian with no
error and no warning it does not override, names its library dependencies,
and installs into a scratch root with dpkg --root, where every installed
command and file works and belongs to the package, then purges leaving
nothing behind."""
import os
import re
import subprocess

import pytest

from conftest import TOP, run

MAKE_TIMEOUT_S = 900


def makefile_version():
    with open(os.path.join(TOP, "Makefile")) as f:
        return re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)


@pytest.fixture(scope="module")
def deb():
    r = subprocess.run(["make", "--no-print-directory", "deb"], cwd=TOP, capture_output=True,
                       text=True, timeout=MAKE_TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    path = os.path.join(TOP, "build", f"notun_{makefile_version()}_{arch}.deb")
    assert os.path.exists(path), r.stdout
    return path


def test_deb_control_and_lintian(deb):
    info = run(["dpkg-deb", "-f", deb]).stdout
    depends = re.search(r"^Depends: (.*)$", info, re.M).group(1)
    for lib in ("libc6", "libsodium", "libmbedtls", "libb2"):
        assert lib in depends, depends
    files = run(["dpkg-deb", "-c", deb]).stdout
    for want in ("./usr/share/doc/notun/copyright", "./usr/share/doc/notun/changelog.gz",
                 "./usr/share/man/man1/notun.1.gz", "./usr/lib/libnotun.so.0"):
        assert want in files, files
    r = subprocess.run(["lintian", "--allow-root", "--fail-on", "error,warning", deb],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not re.search(r"^[EW]: ", r.stdout, re.M), r.stdout


def tree(root):
    """Every path under root but dpkg's own database (and its parents)."""
    out = set()
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel not in ("var", "var/lib") and not rel.startswith("var/lib/dpkg"):
                out.add(rel)
    return out


def test_deb_installs_into_a_scratch_root_and_purges_to_nothing(deb, tmp_path):
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").write_text("")
    before = tree(root)
    # The scratch root has no libc6 and friends: their absence is what
    # --force-depends lets through; the host's copies serve the binary.
    dpkg = ["dpkg", f"--root={root}", "--log=/dev/null", "--force-depends"]
    r = subprocess.run(dpkg + ["-i", deb], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = run(["dpkg", f"--root={root}", "-L", "notun"]).stdout.split()
    installed = tree(root) - before
    assert installed, r.stdout
    assert {"/" + p for p in installed} <= set(listed), installed - {p[1:] for p in listed}
    notun = root / "usr" / "bin" / "notun"
    assert run([str(notun), "--version"]).stdout.startswith(f"notun {makefile_version()}")
    r = subprocess.run(dpkg + ["--purge", "notun"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree(root) == before, sorted(tree(root) - before)
    assert not [f for f in os.listdir(admin / "info") if f.startswith("notun.")]
    assert "Package: notun" not in (admin / "status").read_text()
