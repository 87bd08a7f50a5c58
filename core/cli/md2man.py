#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""md2man: one of notun's Markdown documents as a man page, so that the
page and the document cannot drift apart (notun.conf(5) is
core/config/config.md).

  md2man.py SOURCE.md NAME SECTION DATE "ONE-LINE DESCRIPTION" > PAGE

The subset of Markdown the project's documents use: headings (# title,
## section, ### subsection), paragraphs, "- " lists, ``` blocks, tables
(the first column becomes the tag of a .TP entry, the others follow with
their header), `code`, *emphasis*, **strong** and [text](link).
"""
import re
import sys


def escape(text):
    """Text as troff reads it: backslashes, and no line starting a request."""
    text = text.replace("\\", "\\e")
    return text


def line_safe(text):
    return "\\&" + text if text[:1] in (".", "'") else text


def inline(text):
    text = escape(text)
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"`([^`]+)`", lambda m: "\\fB" + m.group(1).replace("-", "\\-") + "\\fR",
                  text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", text)
    return text


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split("|")]


def convert(lines, name, section, date, description):
    out = [f'.TH {name.upper()} {section} "{date}" "notun" "notun"',
           ".SH NAME", f"{escape(name)} \\- {escape(description)}"]
    para = []
    i = 0

    def flush():
        if para:
            out.append(".PP")
            out.append(line_safe(inline(" ".join(para))))
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip("\n")
        if line.startswith("```"):
            flush()
            out += [".PP", ".RS 4", ".nf"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_safe(escape(lines[i].rstrip("\n"))))
                i += 1
            out += [".fi", ".RE"]
        elif line.startswith("# "):
            flush()
            out.append(".SH DESCRIPTION")
        elif line.startswith("## "):
            flush()
            out.append(".SH " + inline(line[3:]).upper())
        elif line.startswith("### "):
            flush()
            out.append(".SS " + inline(line[4:]))
        elif line.startswith("|"):
            flush()
            head = cells(line)
            i += 2  # the header and the --- row
            while i < len(lines) and lines[i].startswith("|"):
                row = cells(lines[i])
                out += [".TP", line_safe(inline(row[0]))]
                rest = [inline(row[1])] if len(row) > 1 and row[1] else []
                for h, c in zip(head[2:], row[2:]):
                    if c:
                        rest.append(f"{inline(h.capitalize())}: {inline(c)}")
                out.append(line_safe(". ".join(rest)) if rest else "\\&")
                i += 1
            continue
        elif line.startswith("- "):
            flush()
            item = [line[2:]]
            while i + 1 < len(lines) and lines[i + 1].startswith("  ") and lines[i + 1].strip():
                i += 1
                item.append(lines[i].strip())
            out += [".IP \\(bu 2", line_safe(inline(" ".join(item)))]
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
        i += 1
    flush()
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        lines = f.readlines()
    sys.stdout.write(convert(lines, argv[2], argv[3], argv[4], argv[5]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
