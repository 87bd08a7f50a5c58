#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""help2man: notun(1) from the binary's own help, `notun --help` and each
`notun COMMAND --help` (core/cli/help.c), so the page cannot drift from it.

  help2man.py NOTUN DATE > notun.1
"""
import re
import subprocess
import sys


def escape(text):
    text = text.replace("\\", "\\e")
    return "\\&" + text if text[:1] in (".", "'") else text


def roman(text):
    """`code` as bold, dashes of options as minus signs."""
    text = escape(text)
    text = re.sub(r"`([^`]+)`", lambda m: "\\fB" + m.group(1) + "\\fR", text)
    return re.sub(r"(?<![\w-])(--?[a-z][a-z-]*)", lambda m: m.group(1).replace("-", "\\-"), text)


def run(notun, *args):
    r = subprocess.run([notun, *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"help2man: {notun} {' '.join(args)} exited {r.returncode}")
    return r.stdout.splitlines()


def options(lines):
    """'  -c, --config FILE   text' entries with their continuation lines."""
    out = []
    for line in lines:
        m = re.match(r"^  (-\S.*?)(?:\s{2,}(.*))?$", line)
        if m:
            out.append([m.group(1), m.group(2) or ""])
        elif out and line.strip():
            out[-1][1] += " " + line.strip()
    return out


def section(out, lines):
    """A command's help after its usage and summary lines: paragraphs, then
    'Options:' entries."""
    para = []
    i = 0
    while i < len(lines) and lines[i] != "Options:":
        if lines[i].strip():
            para.append(lines[i].strip())
        elif para:
            out += [".PP", roman(" ".join(para))]
            para = []
        i += 1
    if para:
        out += [".PP", roman(" ".join(para))]
    for opt, text in options(lines[i + 1:]):
        out += [".TP", "\\fB" + roman(opt) + "\\fR", roman(text)]


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    notun, date = argv[1], argv[2]
    top = run(notun, "--help")
    out = [f'.TH NOTUN 1 "{date}" "notun" "notun"', ".SH NAME",
           "notun \\- userspace WireGuard access client, gateway and portal",
           ".SH SYNOPSIS", "\\fBnotun\\fR [\\fB\\-\\-log\\-level\\fR \\fILEVEL\\fR] "
           "\\fICOMMAND\\fR [\\fIARGS\\fR]", ".SH DESCRIPTION", roman(top[2])]
    cmds = [m.group(1) for m in (re.match(r"^  (\w+)\s{2,}\S", line)
                                 for line in top[top.index("Commands:") + 1:]) if m]
    out.append(".SH COMMANDS")
    for cmd in cmds:
        lines = run(notun, cmd, "--help")
        usage = lines[0][len("usage: "):]
        out += [".SS " + escape(usage).replace("-", "\\-"), roman(lines[1])]
        section(out, lines[3:])
    out.append(".SH OPTIONS")
    opts = top[top.index("Options:") + 1:]
    end = opts.index("") if "" in opts else len(opts)
    for opt, text in options(opts[:end]):
        out += [".TP", "\\fB" + roman(opt) + "\\fR", roman(text)]
    out += [".SH NOTES"] + [roman(line) for line in opts[end + 1:] if line.strip()]
    out += [".SH SEE ALSO", "\\fBnotun.conf\\fR(5), \\fBwg\\fR(8), \\fBwg\\-quick\\fR(8)"]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
