# SPDX-License-Identifier: Apache-2.0
"""Run a command next to a private systemd-journald, in a private mount namespace.

Usage (the caller provides the namespace):

    unshare --mount --propagation private /usr/bin/python3 journal_ns.py \\
        --dir DIR [--no-journald] [--tmpfs PATH]... -- COMMAND [ARGS...]

Inside the namespace this
  1. puts a tmpfs over /run (the host's journal socket and runtime files are
     out of sight; nothing on the host is touched), then bind-mounts
     DIR/run-systemd on /run/systemd and DIR/run-log on /run/log, so the
     journal files stay readable from outside: `journalctl -D DIR/run-log/journal`;
  2. writes /run/systemd/journald.conf.d/test.conf (read by journald from
     /run): Storage=volatile (never the host's /var/log/journal), no kmsg,
     no audit, no forwarding;
  3. starts /lib/systemd/systemd-journald (it creates
     /run/systemd/journal/{socket,stdout,dev-log} itself when not socket
     activated) and waits until its socket exists; with --no-journald
     there is no journal at all (a daemon told to log there must fall back);
  4. mounts a tmpfs on each --tmpfs PATH (a daemon state dir that must be a
     tmpfs; from outside, read it through /proc/<COMMAND's pid>/root/PATH);
  5. runs COMMAND with this process's stdin/stdout/stderr and environment
     (JOURNAL_STREAM included), forwarding SIGTERM/SIGINT to it;
  6. stops journald and exits with COMMAND's status (128+N for a signal).

Diagnostics go to DIR/helper.log and DIR/journald.log, never to stderr:
stderr belongs to COMMAND (tests read it).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

JOURNALD = "/lib/systemd/systemd-journald"
SOCKET = "/run/systemd/journal/socket"
CONF = """[Journal]
Storage=volatile
ReadKMsg=no
Audit=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
"""


def log(dirpath, msg):
    with open(os.path.join(dirpath, "helper.log"), "a") as f:
        f.write("%.3f %s\n" % (time.monotonic(), msg))


def mount(*args):
    subprocess.run(["mount"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--no-journald", action="store_true")
    ap.add_argument("--tmpfs", action="append", default=[])
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")

    d = os.path.abspath(a.dir)
    for sub in ("run-systemd", "run-log"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    # A private namespace is required: refuse to touch the host's /run.
    if os.readlink("/proc/self/ns/mnt") == os.readlink("/proc/%d/ns/mnt" % os.getppid()):
        log(d, "not in a private mount namespace; refusing")
        return 125
    mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run")
    for sub, target in (("run-systemd", "/run/systemd"), ("run-log", "/run/log")):
        os.makedirs(target, exist_ok=True)
        mount("--bind", os.path.join(d, sub), target)
    os.makedirs("/run/systemd/journald.conf.d", exist_ok=True)
    with open("/run/systemd/journald.conf.d/test.conf", "w") as f:
        f.write(CONF)

    journald = None
    if not a.no_journald:
        jlog = open(os.path.join(d, "journald.log"), "ab")
        journald = subprocess.Popen([JOURNALD], stdin=subprocess.DEVNULL, stdout=jlog,
                                    stderr=jlog, close_fds=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(SOCKET):
            if journald.poll() is not None:
                log(d, "journald exited early: %s" % journald.returncode)
                return 124
            if time.monotonic() > deadline:
                log(d, "journald did not create %s" % SOCKET)
                journald.kill()
                return 124
            time.sleep(0.01)
        log(d, "journald %d ready" % journald.pid)

    for path in a.tmpfs:
        mount("-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", path)

    child = subprocess.Popen(cmd, close_fds=False)
    log(d, "started %s as %d" % (cmd[0], child.pid))

    def forward(sig, _frame):
        if child.poll() is None:
            child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = child.wait()
    log(d, "%s exited %s" % (cmd[0], rc))
    if journald is not None:
        journald.terminate()
        try:
            journald.wait(timeout=20)
        except subprocess.TimeoutExpired:
            journald.kill()
            journald.wait()
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    sys.exit(main())
