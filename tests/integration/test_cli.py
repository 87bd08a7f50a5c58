"""The command line: version report, help, and one-line errors with exit 2."""
import re
import subprocess

from conftest import run


def debian_version(package):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                         capture_output=True, text=True, timeout=30).stdout
    return re.match(r"(?:\d+:)?(\d+\.\d+\.\d+)", out).group(1)


def test_version_lists_the_four_linked_libraries(notun):
    out = run([notun, "--version"]).stdout
    versions = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", versions["notun"])
    assert versions["lwIP"] == "2.1.3"
    assert versions["libwebsockets"] == "4.1.6"
    assert versions["libsodium"] == debian_version("libsodium-dev")
    assert versions["mbedTLS"] == debian_version("libmbedtls-dev")


def test_help_lists_commands(notun):
    out = run([notun, "--help"]).stdout
    for cmd in ("genkey", "pubkey", "genpsk"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd
    assert run([notun, "genkey", "--help"]).stdout.startswith("usage: notun genkey")


def test_errors_are_one_line_and_exit_2(notun):
    cases = [
        ([notun, "frobnicate"], "unknown command 'frobnicate'"),
        ([notun, "--frobnicate"], "unknown option '--frobnicate'"),
        ([notun, "genkey", "extra"], "takes no arguments"),
        ([notun, "--log-level", "loud", "genkey"], "--log-level"),
        ([notun, "--log-level"], "--log-level"),
    ]
    for args, needle in cases:
        proc = run(args, check=False)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, proc.stderr)


def test_no_command_prints_usage_and_exits_2(notun):
    proc = run([notun], check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: notun")
