"""The man pages: generated from the documents they mirror (core/cli/md2man.py),
rendered by groff without a warning, and notun.conf(5) naming every key the
configuration parsers accept (read from their key tables in core/config/)."""
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


def page(tmp_path, src, name, section, what):
    out = tmp_path / f"{name}.{section}"
    r = subprocess.run(["/usr/bin/python3", MD2MAN, os.path.join(TOP, src), name, section,
                        "2026-01-01", what], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out.write_text(r.stdout)
    return out


@pytest.mark.parametrize("src,name,section,what", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_warnings(tmp_path, src, name, section, what):
    need("groff", "man")
    path = page(tmp_path, src, name, section, what)
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run(["man", "--warnings=w", "-l", str(path)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "NAME" in r.stdout and name in r.stdout


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
