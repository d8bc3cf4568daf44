#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every fuzz target under libFuzzer for a bounded time (test/run stage `fuzz`).

Builds the libraries once with clang (-fsanitize=fuzzer-no-link plus ASan/UBSan) in
BUILD (default ./build-fuzz), links each harness with -fsanitize=fuzzer (libFuzzer's
main, not fuzz-main.c), and runs it for SECONDS on its committed corpus (read-only:
new inputs go to BUILD/work/<target>, crashers to BUILD/artifacts/). A crash, leak,
sanitizer report or timeout fails that target.

Writes BUILD/meson-logs/fuzz.json in meson's test-log format (one line per target,
result OK/FAIL, libFuzzer's final stats as stdout), which test/summarize.py counts.

Usage: test/fuzz/libfuzzer.py [--seconds N] [--build DIR] [--werror] [TARGET...]
Needs clang and the libFuzzer runtime (Debian: clang, libclang-rt-<v>-dev).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAYERS = ["util", "formats", "vault", "volume", "rotation", "csi"]
PKGS = ["grpc", "libprotobuf-c", "libcurl", "jansson", "openssl", "mount", "yaml-0.1",
        "libsystemd"]

# target -> (harness source, corpus dir, dictionary or None)
TARGETS = {
    "csi-request": ("test/fuzz/fuzz-csi-request.c", "test/fuzz/corpus/csi-request", None),
    "ytree": ("test/fuzz/fuzz-ytree.c", "test/fuzz/corpus/ytree", "test/fuzz/ytree.dict"),
    "config": ("test/fuzz/fuzz-config.c", "test/fuzz/corpus/config", "test/fuzz/config.dict"),
    "sa-token": ("test/fuzz/fuzz-sa-token.c", "test/fuzz/corpus/sa-token",
                 "test/fuzz/sa-token.dict"),
    "vault-response": ("test/fuzz/fuzz-vault-response.c", "test/fuzz/corpus/vault-response",
                       "test/fuzz/vault-response.dict"),
    "vault-json": ("test/vault/fuzz-vault-json.c", "test/vault/corpus",
                   "test/fuzz/vault-response.dict"),
}


def run(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kw)


def build_libs(build, werror):
    env = dict(os.environ, CC="clang")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        r = run(["meson", "setup", build, "-Db_sanitize=address,undefined", "-Db_lundef=false",
                 "-Dc_args=-fsanitize=fuzzer-no-link", "-Dtests=disabled",
                 "-Dwerror=%s" % ("true" if werror else "false")], cwd=TOP, env=env)
        if r.returncode != 0:
            return False
    libs = ["lib/libvm-%s.a" % l for l in LAYERS] + ["csi-spec/libcsi-proto.a"]
    return run(["ninja", "-C", build] + libs, cwd=TOP).returncode == 0


def link(build, name, src):
    out = os.path.join(build, "fuzzers", "fuzz-" + name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    libs = pkg_libs()
    incs = ["-I" + os.path.join(TOP, "lib", l) for l in LAYERS]
    incs += ["-I" + build, "-I" + os.path.join(build, "csi-spec"),
             "-I" + os.path.join(TOP, "csi-spec"), "-I" + os.path.join(TOP, "csi-spec", "shim")]
    archives = [os.path.join(build, "lib", "libvm-%s.a" % l) for l in reversed(LAYERS)]
    archives.append(os.path.join(build, "csi-spec", "libcsi-proto.a"))
    cmd = (["clang", "-g", "-O1", "-std=gnu11", "-fsanitize=fuzzer,address,undefined",
            "-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION", "-D_GNU_SOURCE"] + incs +
           [os.path.join(TOP, src), "-Wl,--start-group"] + archives + ["-Wl,--end-group"] +
           libs + ["-o", out])
    r = run(cmd, cwd=TOP)
    return out if r.returncode == 0 else None


def pkg_libs():
    r = subprocess.run(["pkg-config", "--libs"] + PKGS, capture_output=True, text=True,
                       check=True)
    return r.stdout.split() + ["-lpthread"]


def fuzz(build, name, exe, corpus, dictionary, seconds):
    work = os.path.join(build, "work", name)
    arts = os.path.join(build, "artifacts")
    os.makedirs(work, exist_ok=True)
    os.makedirs(arts, exist_ok=True)
    cmd = [exe, "-max_total_time=%d" % seconds, "-timeout=20", "-rss_limit_mb=2048",
           "-max_len=65536", "-print_final_stats=1",
           "-artifact_prefix=%s/%s-" % (arts, name)]
    if dictionary:
        cmd.append("-dict=" + os.path.join(TOP, dictionary))
    cmd += [work, os.path.join(TOP, corpus)]
    env = dict(os.environ,
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    t0 = time.monotonic()
    # libFuzzer's own deadline is -max_total_time; this one catches a hang outside it
    try:
        r = run(cmd, cwd=TOP, env=env, capture_output=True, text=True,
                timeout=seconds + 120)
        rc, log = r.returncode, r.stderr + r.stdout
    except subprocess.TimeoutExpired as e:
        rc, log = -1, (e.stderr or b"").decode("utf-8", "replace") + "\nkilled: hung\n"
    dur = time.monotonic() - t0
    runs = [l for l in log.splitlines() if l.startswith("Done ") or l.startswith("stat::")]
    crash = [l for l in log.splitlines() if "ERROR:" in l or "SUMMARY:" in l or
             "Test unit written" in l]
    return rc, dur, "\n".join(runs + crash) + "\n", log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "25")))
    ap.add_argument("--build", default=os.path.join(TOP, "build-fuzz"))
    ap.add_argument("--werror", action="store_true")
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()
    names = a.targets or list(TARGETS)
    if not shutil.which("clang"):
        print("libfuzzer: clang not found", file=sys.stderr)
        return 1
    logdir = os.path.join(a.build, "meson-logs")
    entries = []
    if not build_libs(a.build, a.werror):
        entries = [{"name": "libfuzzer-build", "result": "FAIL", "stdout": "build failed\n"}]
    else:
        for name in names:
            src, corpus, dictionary = TARGETS[name]
            exe = link(a.build, name, src)
            if not exe:
                entries.append({"name": "libfuzzer-" + name, "result": "FAIL",
                                "stdout": "link failed\n"})
                continue
            rc, dur, summary, log = fuzz(a.build, name, exe, corpus, dictionary, a.seconds)
            with open(os.path.join(a.build, "fuzz-%s.log" % name), "w") as f:
                f.write(log)
            ok = rc == 0
            print("libfuzzer: %-16s %s after %.0f s\n%s" % (name, "OK" if ok else "FAIL", dur,
                                                          summary if not ok else
                                                          summary.splitlines()[0]
                                                          if summary.strip() else ""),
                  flush=True)
            if not ok:
                print(log[-6000:])
            entries.append({"name": "libfuzzer-" + name, "result": "OK" if ok else "FAIL",
                            "duration": dur, "stdout": summary})
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, "fuzz.json"), "w") as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")
    failed = sum(1 for e in entries if e["result"] != "OK")
    print("libfuzzer: %d targets, %d passed, %d failed" % (len(entries), len(entries) - failed,
                                                          failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
