"""The command line: version report, help, and one-line errors with exit 2."""
import os
import re
import subprocess

from conftest import TOP, run


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


def table_commands():
    """The subcommands of core/cli/main.c's table, read from the source: a
    command added there is covered here without a test edit."""
    with open(os.path.join(TOP, "core", "cli", "main.c")) as f:
        return re.findall(r'^\s+\{"([a-z]+)", "', f.read(), re.M)


def test_help_lists_commands(notun):
    cmds = table_commands()
    # The README's commands: the reading of the table above must find them all.
    assert set(cmds) >= {"up", "run", "env", "connect", "gateway", "portal", "status",
                         "genkey", "pubkey", "genpsk"}, cmds
    out = run([notun, "--help"]).stdout
    for cmd in cmds:
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd
        sub = run([notun, cmd, "--help"])
        assert sub.stdout.startswith(f"usage: notun {cmd}"), (cmd, sub.stdout[:200])


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
