# SPDX-License-Identifier: Apache-2.0
"""The architecture as the tree shows it: lib/ in layer folders, includes that point
one way, every third-party C API behind one module, no function a reader must scroll
through, no file too long.

The build already refuses an upward include (each layer's include path holds only
the layers below it); these checks say so in words, and also hold for what the
build cannot see (a header included only by tests, a third-party header that is
on every include path)."""
import os
import re
import subprocess

SRC = os.environ.get("VAULTMOUNT_SOURCE_ROOT",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(SRC, "lib")

# third-party include prefix -> the one lib/ module (path without extension) allowed to use it
THIRD_PARTY = {
    "grpc/": "csi/grpc-server",
    "curl/": "vault/http",
    "jansson.h": "formats/json",
    "libmount/": "volume/mount",
    "yaml.h": "formats/ytree",
    "systemd/sd-journal.h": "util/log-journal",
    "microhttpd.h": "ops/metrics-http",
    "openssl/x509.h": "formats/x509",
    "openssl/x509v3.h": "formats/x509",
    "openssl/pem.h": "formats/x509",
    "openssl/pkcs12.h": "formats/x509",
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def layer_order():
    build = open(os.path.join(LIB, "meson.build")).read()
    order = re.search(r"layer_order = \[([^\]]*)\]", build).group(1)
    return re.findall(r"'([a-z]+)'", order)


def sources():
    for layer in sorted(os.listdir(LIB)):
        d = os.path.join(LIB, layer)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                yield layer, name, os.path.join(d, name)


def header_layers():
    """header file name -> its layer (names are unique across lib/)."""
    where = {}
    for layer, name, _ in sources():
        if name.endswith(".h"):
            assert name not in where, "header %s in both %s and %s" % (name, where[name], layer)
            where[name] = layer
    return where


def test_lib_is_layer_folders_only():
    order = layer_order()
    assert len(order) >= 4
    loose = [n for n in os.listdir(LIB) if n.endswith((".c", ".h"))]
    assert not loose, "source files at lib/'s top level: %s" % loose
    present = sorted(d for d in os.listdir(LIB) if os.path.isdir(os.path.join(LIB, d)))
    assert sorted(order) == present


def test_includes_point_one_way():
    order = layer_order()
    rank = {l: i for i, l in enumerate(order)}
    where = header_layers()
    bad = []
    for layer, name, path in sources():
        for kind, inc in INCLUDE.findall(open(path).read()):
            if kind != '"' or inc not in where:
                continue
            if rank[where[inc]] > rank[layer]:
                bad.append("%s/%s includes %s from the higher layer %s" %
                           (layer, name, inc, where[inc]))
    assert not bad, "\n".join(bad)


def test_third_party_apis_behind_one_module():
    bad = []
    for layer, name, path in sources():
        module = "%s/%s" % (layer, os.path.splitext(name)[0])
        for kind, inc in INCLUDE.findall(open(path).read()):
            if kind != "<":
                continue
            for prefix, owner in THIRD_PARTY.items():
                if inc.startswith(prefix) and module != owner:
                    bad.append("%s includes <%s>, which belongs to %s" % (module, inc, owner))
    assert not bad, "\n".join(bad)


def test_the_checks_can_fail(tmp_path):
    """A planted upward include and a planted curl include are caught."""
    text = '#include "grpc-server.h"\n#include <curl/curl.h>\n'
    found = [(k, i) for k, i in INCLUDE.findall(text)]
    assert ("\"", "grpc-server.h") in found and ("<", "curl/curl.h") in found
    where = header_layers()
    rank = {l: i for i, l in enumerate(layer_order())}
    assert rank[where["grpc-server.h"]] > rank["util"]


def test_no_function_above_mccabe_30_and_no_long_file():
    files = [p for _, n, p in sources() if n.endswith(".c")]
    out = subprocess.run(["pmccabe"] + files, capture_output=True, text=True, check=True).stdout
    over = [l for l in out.splitlines() if l.split() and int(l.split()[0]) > 30]
    assert not over, "\n".join(over)
    long = ["%s: %d lines" % (p, n) for p in files
            for n in [sum(1 for _ in open(p))] if n > 1300]
    assert not long, "\n".join(long)


def test_c_sources_follow_clang_format():
    """lib/, cmd/ and test/ C files as .clang-format says (clang-format 14, Debian 12)."""
    files = [os.path.join(SRC, p) for p in subprocess.run(
        ["git", "-C", SRC, "ls-files", "lib/*.c", "lib/*.h", "cmd/*.c", "cmd/*.h", "test/*.c",
         "test/*.h"], capture_output=True, text=True, check=True).stdout.split()]
    if not files:  # not a git checkout (a release tarball): the tree itself
        files = [p for _, _, p in sources()]
    r = subprocess.run(["clang-format", "--dry-run", "--Werror", "--style=file"] + files,
                       capture_output=True, text=True, cwd=SRC)
    assert r.returncode == 0, r.stderr[-3000:]
