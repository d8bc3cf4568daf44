#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fill the KEYS section of vaultmount-config(5) from `vaultmountd --help`.

Usage: gen-config-man.py TEMPLATE VAULTMOUNTD > vaultmount-config.5

The option table in config.c is the one source of the keys, their
meanings and defaults; the page is generated from the built binary when the
package is built, so it cannot fall behind. Testing aids are left out.
"""
import re
import subprocess
import sys

MARKER = '.\\" @OPTIONS@'


def roff(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return ("\\&" + text) if text.startswith((".", "'")) else text


def options(binary):
    out = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    section = None
    for line in out.splitlines():
        if line.startswith("Options:"):
            section = "options"
            continue
        if not line.startswith("  "):
            section = None if line.strip() else section
            continue
        if section != "options":
            continue
        m = re.match(r"^  --([a-z0-9-]+)=(\S+)\s+(.*)$", line)
        if not m:
            continue
        name, metavar, text = m.groups()
        default = None
        d = re.search(r"\s*\[default: (.*)\]$", text)
        if d:
            default, text = d.group(1), text[:d.start()]
        yield name, metavar, text, default


def main():
    template, binary = sys.argv[1], sys.argv[2]
    lines = open(template).read().splitlines()
    out = []
    n = 0
    for line in lines:
        if not line.startswith(MARKER):
            out.append(line)
            continue
        for name, metavar, text, default in options(binary):
            n += 1
            out.append(".TP")
            out.append("\\fB%s\\fR: \\fI%s\\fR" % (roff(name), roff(metavar)))
            out.append(roff(text[0].upper() + text[1:] + ("." if not text.endswith(".") else "")))
            if default is not None:
                out.append("Default: \\fB%s\\fR." % roff(default))
    if n == 0:
        sys.exit("gen-config-man: no options found in the --help output of " + binary)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
