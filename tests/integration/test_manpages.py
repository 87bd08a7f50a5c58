"""The man pages: generated from what they mirror (notun.conf(5) from
core/config/config.md by core/cli/md2man.py, notun(1) from the binary's
help by core/cli/help2man.py), rendered by groff without a warning;
notun.conf(5) names every key the configuration parsers accept (read from
their key tables in core/config/), every command's --help every option its
getopt table takes; `make install` then `make uninstall` leave no file."""
import glob
import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MD2MAN = os.path.join(TOP, "core", "cli", "md2man.py")

PAGES = [("core/config/config.md", "notun.conf", "5", "notun configuration files")]


def need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (run make deps)")


def render(path):
    need("groff", "man")
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run(["man", "--warnings=w", "-l", str(path)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def page(tmp_path, src, name, section, what):
    out = tmp_path / f"{name}.{section}"
    r = subprocess.run(["/usr/bin/python3", MD2MAN, os.path.join(TOP, src), name, section,
                        "2026-01-01", what], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out.write_text(r.stdout)
    return out


@pytest.mark.parametrize("src,name,section,what", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_warnings(tmp_path, src, name, section, what):
    text = render(page(tmp_path, src, name, section, what))
    assert "NAME" in text and name in text


def getopt_tables():
    """{command: [long options]} from each core/cli/cmd_*.c's option table."""
    out = {}
    for src in glob.glob(os.path.join(TOP, "core", "cli", "cmd_*.c")):
        with open(src, encoding="utf-8") as f:
            opts = re.findall(r'\{"([a-z][a-z-]*)", (?:required|no|optional)_argument', f.read())
        cmd = os.path.basename(src)[len("cmd_"):-len(".c")]
        if opts:
            out[cmd] = opts
    return out


def test_every_option_is_in_its_help_and_in_notun_1(notun, tmp_path):
    tables = getopt_tables()
    assert {"up", "run", "gateway", "status"} <= set(tables), tables
    man = tmp_path / "notun.1"
    r = subprocess.run(["/usr/bin/python3", os.path.join(TOP, "core", "cli", "help2man.py"),
                        notun, "2026-01-01"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    man.write_text(r.stdout)
    text = render(man)
    for cmd, opts in tables.items():
        h = subprocess.run([notun, cmd, "--help"], capture_output=True, text=True, timeout=30)
        assert h.returncode == 0, h.stderr
        assert "Options:" in h.stdout, (cmd, h.stdout)
        for opt in opts:
            assert f"--{opt}" in h.stdout, (cmd, opt, h.stdout)
        assert f"notun {cmd} " in text, cmd
    for opt in {o for opts in tables.values() for o in opts}:
        assert f"--{opt}" in text, opt
    up = subprocess.run([notun, "up", "--help"], capture_output=True, text=True, timeout=30)
    assert "SOCKS5" in up.stdout and "HTTP" in up.stdout


def test_install_then_uninstall_leaves_no_file(tmp_path):
    stage = tmp_path / "stage"
    make = ["make", "--no-print-directory", f"DESTDIR={stage}", "PREFIX=/usr"]
    r = subprocess.run(make + ["install"], cwd=TOP, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if not p.is_dir())
    for want in ("usr/bin/notun", "usr/share/man/man1/notun.1", "usr/share/man/man5/notun.conf.5",
                 "usr/share/doc/notun/examples/client.conf",
                 "usr/share/doc/notun/examples/gateway.conf",
                 "usr/share/doc/notun/examples/portal.conf",
                 "usr/lib/systemd/user/notun-up@.service", "usr/include/notun.h",
                 "usr/lib/pkgconfig/notun.pc"):
        assert want in files, files
    unit_path = stage / "usr/lib/systemd/user/notun-up@.service"
    unit = unit_path.read_text()
    assert "ExecStart=/usr/bin/notun up -c %E/notun/%i.conf" in unit
    if shutil.which("systemd-analyze"):
        # An instance of the template, its ExecStart pointed at the staged binary.
        inst = tmp_path / "notun-up@work.service"
        inst.write_text(unit.replace("/usr/bin/notun", str(stage / "usr/bin/notun")))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(inst)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    render(stage / "usr/share/man/man1/notun.1")
    r = subprocess.run(make + ["uninstall"], cwd=TOP, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if not p.is_dir())
    assert left == [], left


def parser_tables():
    """The configuration parsers' tables: keys {"Key", SEC_X, FLAGS, handler}
    and sections {"Name", SEC_X, repeatable}."""
    keys, sections = set(), set()
    for src in glob.glob(os.path.join(TOP, "core", "config", "*.c")):
        with open(src, encoding="utf-8") as f:
            text = f.read()
        keys.update(re.findall(r'\{"([A-Za-z][A-Za-z0-9]*)", SEC_\w+, [\w|]+, \w+\}', text))
        sections.update(re.findall(r'\{"([A-Za-z]+)", SEC_\w+, (?:true|false)\}', text))
    return keys, sections


def test_every_configuration_key_is_in_notun_conf_5(tmp_path):
    keys, sections = parser_tables()
    # The tables are where the parsers look keys up: too few found means the
    # patterns no longer match them, not that everything is documented.
    assert {"PrivateKey", "AllowedIPs", "Bypass", "TokenHash", "AccessTTL"} <= keys, keys
    assert {"Interface", "Peer", "Proxy", "Resource"} <= sections, sections
    text = page(tmp_path, *PAGES[0]).read_text()
    missing = sorted(k for k in keys if f"\\fB{k}\\fR" not in text)
    assert not missing, f"keys the parser accepts but notun.conf(5) does not name: {missing}"
    missing = sorted(s for s in sections if f"[{s}".upper() not in text.upper())
    assert not missing, f"sections the parser accepts but notun.conf(5) does not name: {missing}"
