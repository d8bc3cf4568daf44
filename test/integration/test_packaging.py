# SPDX-License-Identifier: Apache-2.0
"""packaging/: the systemd unit, the Debian package and the Containerfile.

- The unit passes `systemd-analyze verify`, keeps every option that would give
  it a private mount namespace out, and its seccomp allow list covers every
  system call the daemon makes in a real publish/unpublish (traced).
- The package is built by dpkg-buildpackage from a copy of the tree
  (packaging/build-deb; the project's tests skipped), passes lintian without
  errors, installs with `dpkg -i` (binary and unit where the unit expects
  them, unit neither enabled nor started, a default config, man pages) and is
  purged again. The build is cached per tree content, so the ASan run of this
  suite reuses the normal run's package.
- The Containerfile cannot be built here (no container engine): its COPY
  sources exist, it copies every directory meson.build needs, its runtime
  stage installs the packages of the daemon's shared libraries, and it runs
  the binary where the DaemonSet expects it, with flags the daemon knows.
"""
import configparser
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest
import yaml

import vmtest

PKG = os.path.join(vmtest.SRC, "packaging")
UNIT = os.path.join(PKG, "vaultmountd.service")
CONTAINERFILE = os.path.join(PKG, "Containerfile")
# each implies a private mount namespace: our mounts would be invisible to kubelet
MOUNT_NAMESPACE_OPTIONS = [
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc",
    "ProcSubset", "ProtectHostname", "PrivateMounts", "MountFlags", "ReadOnlyPaths",
    "ReadWritePaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths", "TemporaryFileSystem",
    "BindPaths", "BindReadOnlyPaths", "RootDirectory", "RootImage", "MountAPIVFS",
    "PrivateUsers", "DynamicUser", "PrivateNetwork", "NetworkNamespacePath", "PrivateIPC",
]
MAX_EXPOSURE = 5.0


def unit_service(path=UNIT):
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                   comment_prefixes=("#", ";"))
    cp.optionxform = str
    cp.read(path)
    return cp


def daemon_help():
    r = vmtest.run_daemon_cli(["--help"])
    assert r.returncode == 0
    return r.stdout


def known_flags():
    return set(re.findall(r"^\s+(--[a-z0-9-]+)", daemon_help(), re.M))


def check_config(args):
    # a Vault server, or --check-config fails the config (it could not serve)
    r = vmtest.run_daemon_cli(list(args) + ["--check-config",
                                            "--vault-address=https://vault.test:8200"])
    assert r.returncode == 0, r.stderr
    return dict(re.findall(r'^([a-z0-9-]+): "(.*)"  #', r.stdout, re.M))


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|min|m)?", text)
    assert m, text
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n / 1000 if unit == "ms" else n * 60 if unit in ("m", "min") else n


# ---------------------------------------------------------------------------
# systemd unit

def test_unit_passes_systemd_analyze_verify(tmp_path):
    # the binary at the unit's path is the built one; man pages are checked after install
    unit = tmp_path / "vaultmountd.service"
    unit.write_text(open(UNIT).read().replace("/usr/sbin/vaultmountd", vmtest.DAEMON))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "vaultmountd" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_unit_settings():
    svc = unit_service()["Service"]
    assert svc["Type"] == "notify"  # the daemon sends READY=1 once its sockets listen
    assert svc["Restart"] in ("on-failure", "always")
    exec_start = svc["ExecStart"].split()
    assert exec_start[0] == "/usr/sbin/vaultmountd"
    flags = known_flags()
    for a in exec_start[1:]:
        assert a.split("=")[0] in flags, a
    assert "--config=/etc/vaultmount/config.yaml" in exec_start
    # in-flight calls get shutdown-grace before systemd's SIGKILL
    grace = check_config(["--config=/dev/null"])["shutdown-grace"]
    # ... and after it, about 2 s to abort Vault calls and roll back (test_shutdown_grace)
    assert duration_s(svc["TimeoutStopSec"]) > duration_s(grace) + 2
    # the state dir systemd prepares is the daemon's default one, kept across stops
    assert "/run/" + svc["RuntimeDirectory"] == check_config(["--config=/dev/null"])["state-dir"]
    assert svc["RuntimeDirectoryPreserve"] == "yes" and svc["RuntimeDirectoryMode"] == "0700"
    for opt in MOUNT_NAMESPACE_OPTIONS:
        assert opt not in svc, "%s would hide our mounts from kubelet" % opt
    assert "CAP_SYS_ADMIN" in svc["CapabilityBoundingSet"].split()


def test_unit_security_exposure():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for vaultmountd\.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    print("systemd-analyze security: exposure %s" % m.group(1))
    assert float(m.group(1)) <= MAX_EXPOSURE


def _expand_syscall_groups(groups, seen=None):
    seen = set() if seen is None else seen
    names = set()
    for g in groups:
        if g in seen:
            continue
        seen.add(g)
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", g],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines()[1:]:
            w = line.strip()
            if not w or w.startswith("#"):
                continue
            if w.startswith("@"):
                names |= _expand_syscall_groups([w], seen)
            else:
                names.add(w)
    return names


@pytest.fixture
def traced(monkeypatch, tmp_path):
    """Runs the daemon under `strace -f`; yields the trace file's path."""
    strace = shutil.which("strace")
    assert strace, "strace is needed (.ci/install-deps installs it)"
    trace = tmp_path / "strace.out"
    wrapper = tmp_path / "vaultmountd-traced"
    # LeakSanitizer cannot run under ptrace: an ASan daemon traces without it
    wrapper.write_text("#!/bin/sh\nASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\"\n"
                       "export ASAN_OPTIONS\nexec %s -f -qq -o %s -- %s \"$@\"\n" % (
                           strace, trace, vmtest.DAEMON))
    wrapper.chmod(0o755)
    monkeypatch.setattr(vmtest, "DAEMON", str(wrapper))
    yield trace


def test_syscall_filter_allows_everything_a_publish_needs(traced, tmp_path, daemons):
    """SystemCallFilter= cannot be tried here (no systemd as PID 1), so the
    daemon's real system calls in a publish/republish/unpublish with an
    fsGroup, kubelet registration and a shutdown are traced and compared with
    the unit's allow list."""
    from test_publish import KV_OBJECTS, Pod, mounts_under  # the publish suite's kubelet
    from vaultenv import VaultDev

    vault = VaultDev(tmp_path)
    pods = tmp_path / "kubelet" / "pods"
    pods.mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(state)],
                   check=True)
    try:
        d = daemons(["--target-roots=%s" % pods, "--registration-dir=%s" % (tmp_path / "reg")]
                    + vault.daemon_args(), start=False)
        d.args = [a for a in d.args if not a.startswith("--state-dir=")] + [
            "--state-dir=%s" % state]
        d.start(timeout=120)
        pod = Pod(pods)
        req = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS},
                                  group=4321)
        d.call("NodePublishVolume", req, timeout=60)
        d.call("NodePublishVolume", req, timeout=60)  # kubelet's republish
        d.call("NodeGetInfo")
        d.call("NodeUnpublishVolume", pod.unpublish_request(), timeout=60)
        # signal the daemon, not strace
        child = int(subprocess.run(["pgrep", "-P", str(d.proc.pid)], capture_output=True,
                                   text=True).stdout.split()[0])
        os.kill(child, signal.SIGTERM)
        assert d.wait() == 0
    finally:
        vault.stop()
        for mp in sorted(mounts_under(tmp_path), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)

    used = set()
    for line in open(traced):
        m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
        if m and m.group(1) not in ("exited", "killed", "resumed"):
            used.add(m.group(1))
    # exec of the daemon itself happens before the filter applies
    used.discard("execve")
    assert "mount" in used or "move_mount" in used, sorted(used)
    svc = unit_service()["Service"]
    allowed = _expand_syscall_groups(svc["SystemCallFilter"].split())
    asan = {"sigaltstack", "madvise", "prctl", "sched_getaffinity", "readlink"}
    missing = sorted(used - allowed - (asan if "asan" in os.path.realpath(
        vmtest.DAEMON) else set()))
    assert not missing, "SystemCallFilter= would refuse: %s" % missing


# ---------------------------------------------------------------------------
# Debian package

def _tree_digest():
    """Content hash of what build-deb copies (tracked and new files)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=vmtest.SRC, capture_output=True,
                           check=True).stdout.split(b"\0")
    h = hashlib.sha256()
    for f in sorted(x for x in files if x):
        p = os.path.join(vmtest.SRC.encode(), f)
        if os.path.isfile(p):
            h.update(f + b"\0")
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def deb():
    """The package's directory, built once per tree content."""
    cache = os.path.join(tempfile.gettempdir(), "vaultmount-deb-" + _tree_digest())
    if not glob.glob(os.path.join(cache, "vaultmount_*.deb")):
        tmp = cache + ".tmp%d" % os.getpid()
        r = subprocess.run([os.path.join(PKG, "build-deb"), tmp], capture_output=True,
                           text=True, timeout=900, env=dict(os.environ, JOBS="2"))
        assert r.returncode == 0, (r.stdout[-6000:] + r.stderr[-6000:])
        with open(os.path.join(tmp, "build.log"), "w") as f:
            f.write(r.stdout + r.stderr)
        shutil.rmtree(cache, ignore_errors=True)
        os.rename(tmp, cache)
    return cache


def _deb_file(deb):
    return sorted(glob.glob(os.path.join(deb, "vaultmount_*.deb")))[-1]


COMPILER_WARNING = re.compile(r"^\S+:\d+:\d+: warning: .*$|^.*warning: \"_FORTIFY_SOURCE\".*$",
                              re.M)


def _compiler_warnings(log):
    log = re.sub(r"\x1b\[[0-9;]*[mK]", "", log)  # gcc's colours
    found = COMPILER_WARNING.findall(log)
    found += [l for l in re.findall(r"^.*\[-W[a-z0-9-]+(?:=\d+)?\]$", log, re.M)
              if l not in found]
    return found


def test_the_warning_counter_sees_warnings():
    sample = ("[12/46] Compiling C object lib/x.c.o\n"
              "\x1b[01m\x1b[K../lib/formats/ytree.c:114:27:\x1b[m\x1b[K \x1b[01;35m\x1b[Kwarning: "
              "\x1b[m\x1b[Kpotential null pointer dereference [\x1b[01;35m\x1b[K"
              "-Wnull-dereference\x1b[m\x1b[K]\n"
              "<command-line>: warning: \"_FORTIFY_SOURCE\" redefined\n")
    assert len(_compiler_warnings(sample)) == 2, _compiler_warnings(sample)
    assert _compiler_warnings("[1/2] Compiling C object lib/x.c.o\n") == []


def test_package_build_has_no_compiler_warnings(deb):
    log = open(os.path.join(deb, "build.log")).read()
    # the build really compiled the daemon here, with Debian's hardening flags
    assert "main.c" in log and "-fstack-protector-strong" in log and "-z,now" in log
    assert "-D_FORTIFY_SOURCE=3" in log and "-D_FORTIFY_SOURCE=2" not in log
    warnings = _compiler_warnings(log)
    assert not warnings, "\n".join(warnings[:20])


def test_release_build_has_no_compiler_warnings(tmp_path):
    """A --buildtype=release build (-O3: more inlining, more -Wnull-dereference
    findings than CI's -O2 build sees) of the daemon, warnings counted."""
    cache = os.path.join(tempfile.gettempdir(), "vaultmount-release-" + _tree_digest())
    log_path = os.path.join(cache, "build.log")
    if not os.path.exists(log_path):
        build = tmp_path / "build-release"
        env = dict(os.environ)
        for k in ("CFLAGS", "CPPFLAGS", "LDFLAGS"):
            env.pop(k, None)
        r1 = subprocess.run(["meson", "setup", str(build), vmtest.SRC, "--buildtype=release",
                             "-Dtests=disabled"], capture_output=True, text=True, env=env,
                            timeout=300)
        assert r1.returncode == 0, r1.stdout + r1.stderr
        r2 = subprocess.run(["ninja", "-C", str(build), "-j2", "cmd/vaultmountd/vaultmountd"],
                            capture_output=True, text=True, timeout=1200)
        assert r2.returncode == 0, r2.stdout[-6000:] + r2.stderr[-6000:]
        os.makedirs(cache, exist_ok=True)
        with open(log_path, "w") as f:
            f.write(r2.stdout + r2.stderr)
    log = open(log_path).read()
    assert "Linking target cmd/vaultmountd/vaultmountd" in log or "no work to do" in log
    warnings = _compiler_warnings(log)
    assert not warnings, "\n".join(warnings[:20])


def test_lintian_reports_no_errors(deb):
    changes = sorted(glob.glob(os.path.join(deb, "vaultmount_*.changes")))[-1]
    r = subprocess.run(["lintian", "--fail-on", "error", "--display-info", changes],
                       capture_output=True, text=True, timeout=600)
    print("lintian:\n" + r.stdout)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert r.returncode == 0 and not errors, r.stdout + r.stderr


def test_package_contents(deb):
    listing = subprocess.run(["dpkg-deb", "-c", _deb_file(deb)], capture_output=True,
                             text=True, check=True).stdout
    paths = {l.split()[-1].lstrip(".") for l in listing.splitlines()}
    for p in ("/usr/sbin/vaultmountd", "/lib/systemd/system/vaultmountd.service",
              "/etc/vaultmount/config.yaml", "/usr/share/man/man8/vaultmountd.8.gz",
              "/usr/share/man/man5/vaultmount-config.5.gz",
              "/usr/share/doc/vaultmount/copyright", "/usr/share/vaultmount/csidriver.yaml",
              "/usr/share/vaultmount/csidriver-token-in-secrets.yaml"):
        assert p in paths, p
    # no test programs or build leftovers
    assert not [p for p in paths if "/test" in p or p.endswith((".a", ".o", ".h"))]


@pytest.fixture
def installed(deb):
    """`dpkg -i` of the package, and `dpkg --purge` afterwards. An admin's own
    /etc/vaultmount/config.yaml is moved aside for the test and put back."""
    q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "vaultmount"],
                       capture_output=True, text=True)
    assert "installed" not in q.stdout.split(), \
        "the vaultmount package is already installed; `dpkg --purge vaultmount` first"
    saved = None
    if os.path.exists("/etc/vaultmount/config.yaml"):
        saved = tempfile.mktemp(prefix="vaultmount-config-")
        shutil.move("/etc/vaultmount/config.yaml", saved)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        r = subprocess.run(["dpkg", "-i", _deb_file(deb)], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        yield
    finally:
        r = subprocess.run(["dpkg", "--purge", "vaultmount"], capture_output=True, text=True,
                           env=env, timeout=300)
        if saved:
            os.makedirs("/etc/vaultmount", exist_ok=True)
            shutil.move(saved, "/etc/vaultmount/config.yaml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_install_and_purge(installed):
    unit_path = "/lib/systemd/system/vaultmountd.service"
    assert open(unit_path).read() == open(UNIT).read()
    exec_start = unit_service(unit_path)["Service"]["ExecStart"].split()
    binary = exec_start[0]
    st = os.stat(binary)
    assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and st.st_uid == 0
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.splitlines()[0] == "vaultmountd " + _meson_version()
    # the config file the unit names is there, a conffile, and valid; as shipped it names
    # no Vault server, so --check-config says that a publish cannot be served yet
    cfg = [a.split("=", 1)[1] for a in exec_start if a.startswith("--config=")][0]
    conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "vaultmount"],
                               capture_output=True, text=True, check=True).stdout
    assert cfg in conffiles
    r = subprocess.run([binary, "--config=" + cfg, "--check-config"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "no Vault server" in r.stderr, r.stderr
    r = subprocess.run([binary, "--config=" + cfg, "--check-config",
                        "--vault-address=https://vault.test:8200"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    # the CSIDriver objects a node admin applies are the manifests' objects
    _check_shipped_csidrivers()
    # the full check, man pages included (Documentation=)
    r = subprocess.run(["systemd-analyze", "verify", unit_path], capture_output=True, text=True)
    assert r.returncode == 0 and "vaultmountd" not in r.stdout + r.stderr, r.stdout + r.stderr
    # installed, neither enabled nor started
    enabled = subprocess.run(["systemctl", "is-enabled", "vaultmountd.service"],
                             capture_output=True, text=True)
    assert enabled.stdout.strip() == "disabled", enabled.stdout + enabled.stderr
    assert not glob.glob("/etc/systemd/system/*.wants/vaultmountd.service")
    running = [p for p in os.listdir("/proc") if p.isdigit() and
               _exe(p) == os.path.realpath(binary)]
    assert not running, "the package started vaultmountd"
    # the config page documents every key of the installed daemon
    page = gzip.open("/usr/share/man/man5/vaultmount-config.5.gz", "rt").read()
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    options = helptext.split("Options:")[1].split("Testing aids")[0]
    for name in re.findall(r"^\s+--([a-z0-9-]+)=", options, re.M):
        assert "\\fB%s\\fR" % name.replace("-", "\\-") in page, name
    assert "@OPTIONS@" not in page
    r = subprocess.run(["man", "-l", "/usr/share/man/man8/vaultmountd.8.gz"],
                       capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0 and "vaultmountd" in r.stdout


def test_purge_leaves_nothing(deb):
    # runs after test_install_and_purge's teardown
    for p in ("/usr/sbin/vaultmountd", "/lib/systemd/system/vaultmountd.service",
              "/usr/share/man/man8/vaultmountd.8.gz"):
        assert not os.path.exists(p), p
    q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "vaultmount"],
                       capture_output=True, text=True)
    assert "installed" not in q.stdout.split()


def _check_shipped_csidrivers():
    base = yaml.safe_load(open(os.path.join(vmtest.SRC, "manifests", "base",
                                            "csidriver.yaml")))
    shipped = yaml.safe_load(open("/usr/share/vaultmount/csidriver.yaml"))
    assert shipped == base
    step2 = yaml.safe_load(open("/usr/share/vaultmount/csidriver-token-in-secrets.yaml"))
    patch = yaml.safe_load(open(os.path.join(vmtest.SRC, "manifests", "token-in-secrets",
                                             "csidriver-token-in-secrets.yaml")))
    expected = json.loads(json.dumps(base))
    expected["spec"].update(patch["spec"])
    assert step2 == expected and step2["spec"]["serviceAccountTokenInSecrets"] is True


def _control_scripts(deb, tmp_path):
    out = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", _deb_file(deb), str(out)], check=True)
    scripts = {}
    for name in ("preinst", "postinst", "prerm", "postrm"):
        f = out / name
        scripts[name] = f.read_text() if f.exists() else ""
    return scripts


def _branch(script, condition):
    """The body of every `if ...condition...; then ... fi` block of a shell script."""
    bodies, lines = [], script.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("if") and condition in line:
            depth, body = 1, []
            for l in lines[i + 1:]:
                s = l.strip()
                if s.startswith("if "):
                    depth += 1
                elif s == "fi":
                    depth -= 1
                    if depth == 0:
                        break
                body.append(s)
            bodies.append("\n".join(body))
    return "\n".join(bodies)


def test_maintainer_scripts(deb, tmp_path):
    s = _control_scripts(deb, tmp_path)
    # never enabled by the package (a node runs the service or the DaemonSet): an
    # upgrade only re-creates the links of a unit the admin had enabled
    kept = _branch(s["postinst"], "was-enabled").splitlines()
    enables = [l.strip() for l in s["postinst"].splitlines() if "deb-systemd-helper enable" in l]
    assert enables and all(l in kept for l in enables), s["postinst"]
    # upgrade: the old daemon serves until the new files are in place, then one restart
    assert "vaultmountd" not in s["preinst"] or "stop" not in s["preinst"], s["preinst"]
    assert "stop" not in _branch(s["prerm"], "upgrade")
    configure = _branch(s["postinst"], '"configure"')
    assert "deb-systemd-invoke" in configure and "vaultmountd.service" in configure
    assert re.search(r'if \[ -n "\$2" \]; then\s*_dh_action=restart', configure), configure
    # removal stops the service
    remove = _branch(s["prerm"], "= remove")
    assert re.search(r"deb-systemd-invoke stop .*vaultmountd\.service", remove), s["prerm"]
    # purge removes the state dir, mounts under it first
    purge = _branch(s["postrm"], '"purge"')
    assert "rm -rf \"$STATE_DIR\"" in purge and "STATE_DIR=/run/vaultmount" in s["postrm"]
    assert purge.index("unmount_state") < purge.index("rm -rf")
    for name, text in s.items():
        if text:
            r = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
            assert r.returncode == 0, (name, r.stderr)


FAKE_SYSTEMD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake-systemd")
UNIT_NAME = "vaultmountd.service"


class SystemdNamespace:
    """A private mount namespace in which the maintainer scripts believe systemd
    runs: a tmpfs on /run with /run/systemd/system, policy-rc.d (if the machine
    has one) allowing every action, and fake-systemd/systemctl first in PATH.
    The unit's daemon really runs, started and stopped by that systemctl."""

    def __init__(self, calls):
        self.calls = calls
        script = ("mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/system && "
                  "if [ -e /usr/sbin/policy-rc.d ]; then "
                  "printf '#!/bin/sh\\nexit 0\\n' > /run/policy-rc.d && "
                  "chmod 0755 /run/policy-rc.d && "
                  "mount --bind /run/policy-rc.d /usr/sbin/policy-rc.d; fi && "
                  "echo ready && exec sleep 3600")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                      "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", "could not set up the mount namespace"
        self.seen = 0

    def run(self, argv, check=True):
        env = dict(os.environ, PATH=FAKE_SYSTEMD + ":" + os.environ["PATH"],
                   DEBIAN_FRONTEND="noninteractive", FAKE_SYSTEMD_LOG=str(self.calls))
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--"] + list(argv),
                           env=env, capture_output=True, text=True, timeout=300)
        if check:
            assert r.returncode == 0, "%s: %s%s" % (argv, r.stdout, r.stderr)
        return r

    def actions(self):
        """systemctl calls since the last look that change a unit's state."""
        lines = self.calls.read_text().splitlines() if self.calls.exists() else []
        new, self.seen = lines[self.seen:], len(lines)
        out = []
        for line in new:
            words = [w for w in line.split() if not w.startswith("-")]
            if words and words[0] in ("start", "stop", "restart", "enable", "disable"):
                out.append((words[0], words[1:]))
        return out

    def enabled(self):
        return self.run([os.path.join(FAKE_SYSTEMD, "systemctl"), "is-enabled", UNIT_NAME],
                        check=False).stdout.strip() == "enabled"

    def pid(self):
        r = self.run(["cat", "/run/fake-systemd/%s.pid" % UNIT_NAME], check=False)
        if r.returncode != 0:
            return None
        pid = int(r.stdout)
        return pid if os.path.exists("/proc/%d" % pid) and _exe(pid) else None

    def exists(self, path):
        return self.run(["test", "-e", path], check=False).returncode == 0

    def close(self):
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait()


def test_package_lifecycle(deb, tmp_path):
    """install → enable → upgrade → remove → purge of the built package, with
    the service's state checked after each step. systemd is not PID 1 here, so
    the maintainer scripts run in a mount namespace with a stand-in systemctl
    (fake-systemd/) that records what they ask for and really starts and stops
    the daemon; an upgrade is the same version installed again (dpkg runs the
    upgrade path: postinst configure with the old version)."""
    q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "vaultmount"],
                       capture_output=True, text=True)
    assert "installed" not in q.stdout.split(), \
        "the vaultmount package is already installed; `dpkg --purge vaultmount` first"
    saved = None
    if os.path.exists("/etc/vaultmount/config.yaml"):
        saved = tempfile.mktemp(prefix="vaultmount-config-")
        shutil.move("/etc/vaultmount/config.yaml", saved)
    (tmp_path / "pods").mkdir()
    ns = SystemdNamespace(tmp_path / "systemctl-calls")
    deb_file = _deb_file(deb)
    installed = False
    try:
        # 1. install: neither enabled nor started
        ns.run(["dpkg", "-i", deb_file])
        installed = True
        assert ns.actions() == []
        assert not ns.enabled() and ns.pid() is None
        # 2. the admin configures, enables and starts it
        with open("/etc/vaultmount/config.yaml", "w") as f:
            f.write("endpoint: unix://%s/csi.sock\nregistration-dir: \"\"\n"
                    "target-roots: [%s/pods]\nvault-address: https://vault.test:8200\n"
                    % (tmp_path, tmp_path))
        ns.run([os.path.join(FAKE_SYSTEMD, "systemctl"), "enable", "--now", UNIT_NAME])
        ns.actions()
        first = ns.pid()
        assert ns.enabled() and first, "the service did not start"
        # 3. upgrade: one restart once the new files are in place, nothing before
        ns.run(["dpkg", "--force-confold", "-i", deb_file])
        assert ns.actions() == [("restart", [UNIT_NAME])]
        second = ns.pid()
        assert second and second != first and not os.path.exists("/proc/%d" % first)
        assert ns.enabled()
        r = vmtest.run_daemon_cli(["probe", "--config=/etc/vaultmount/config.yaml"])
        assert r.returncode == 0, r.stderr
        # 4. remove: stopped; the config and the state stay
        ns.run(["dpkg", "-r", "vaultmount"])
        assert ("stop", [UNIT_NAME]) in ns.actions()
        assert ns.pid() is None and not os.path.exists("/proc/%d" % second)
        assert os.path.exists("/etc/vaultmount/config.yaml")
        assert ns.exists("/run/vaultmount/vaultmountd.lock")
        # a volume's tmpfs left mounted in the state dir (the daemon keeps them
        # across stops so that a restart can still unpublish)
        ns.run(["sh", "-c", "mkdir -p /run/vaultmount/volumes/csi-left/mnt && "
                "mount -t tmpfs tmpfs /run/vaultmount/volumes/csi-left/mnt && "
                "echo secret > /run/vaultmount/volumes/csi-left/mnt/f"])
        # 5. purge: the state dir and the config go, mounts included
        ns.run(["dpkg", "--purge", "vaultmount"])
        installed = False
        assert not ns.exists("/run/vaultmount")
        mounts = ns.run(["cat", "/proc/self/mountinfo"]).stdout
        assert "/run/vaultmount" not in mounts
        assert not os.path.exists("/etc/vaultmount/config.yaml")
        assert not glob.glob("/etc/systemd/system/*.wants/" + UNIT_NAME)
    finally:
        if installed:
            ns.run(["dpkg", "--purge", "vaultmount"], check=False)
        ns.close()
        for link in glob.glob("/etc/systemd/system/*.wants/" + UNIT_NAME):
            os.unlink(link)
        if saved:
            os.makedirs("/etc/vaultmount", exist_ok=True)
            shutil.move(saved, "/etc/vaultmount/config.yaml")


def _exe(pid):
    try:
        return os.path.realpath("/proc/%s/exe" % pid)
    except OSError:
        return None


def _meson_version():
    m = re.search(r"version:\s*'([^']+)'", open(os.path.join(vmtest.SRC, "meson.build")).read())
    return m.group(1)


def test_debian_changelog_version_is_the_project_version():
    r = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(PKG, "debian", "changelog"),
                        "-S", "Version"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == _meson_version()


# ---------------------------------------------------------------------------
# Containerfile

def _containerfile():
    text = open(CONTAINERFILE).read().replace("\\\n", " ")
    stages, cur = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            cur = {"from": rest, "run": [], "copy": [], "entrypoint": None, "cmd": None}
            stages.append(cur)
        elif word.upper() == "RUN":
            cur["run"].append(rest)
        elif word.upper() == "COPY":
            cur["copy"].append(rest.split())
        elif word.upper() in ("ENTRYPOINT", "CMD"):
            cur[word.lower()] = yaml.safe_load(rest)
    return stages


def _apt_packages(stage):
    pkgs = set()
    for run in stage["run"]:
        for cmd in run.split("&&"):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


def test_containerfile_copy_sources_exist_and_cover_the_build():
    build, runtime = _containerfile()
    copied = []
    for args in build["copy"]:
        assert not any(a.startswith("--from") for a in args)
        for src in args[:-1]:
            assert os.path.exists(os.path.join(vmtest.SRC, src)), src
            copied.append(src.rstrip("/"))
    # every directory the top-level meson.build enters (tests are disabled)
    top = open(os.path.join(vmtest.SRC, "meson.build")).read()
    for sub in re.findall(r"subdir\('([^']+)'\)", top):
        if sub != "test":
            assert any(sub == c or sub.startswith(c + "/") for c in copied), sub
    for f in ("meson.build", "meson_options.txt", "packaging"):
        assert f in copied
    # what debian/rules takes from the tree (the CSIDriver objects)
    rules = open(os.path.join(PKG, "debian", "rules")).read()
    for f in set(re.findall(r"\bmanifests/\S+\.yaml", rules)):
        assert any(f == c or f.startswith(c + "/") for c in copied), f
    # the build stage has the package's Build-Depends (one list of what it takes)
    control = open(os.path.join(PKG, "debian", "control")).read()
    bdeps = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S).group(1)
    names = {re.split(r"[\s(]", d.strip())[0] for d in bdeps.split(",") if d.strip()}
    names.discard("debhelper-compat")
    assert names <= _apt_packages(build), names - _apt_packages(build)
    # the runtime stage copies only from the build stage
    assert all(any(a.startswith("--from=build") for a in args) for args in runtime["copy"])


def test_containerfile_runs_the_built_binary_as_the_daemonset_does(deb):
    """The image is the Debian package installed on Debian 12: the same binary,
    built with the same flags (hardening included) as on a node."""
    build, runtime = _containerfile()
    # the build stage builds the package with build-deb, as a node admin does
    runs = " ".join(build["run"])
    m = re.search(r"packaging/build-deb (\S+)", runs)
    assert m, build["run"]
    out = m.group(1).rstrip("/")
    assert not re.search(r"meson setup|ninja -C|dpkg-buildflags|CFLAGS=|LDFLAGS=", runs), \
        "the image must not build the daemon any other way"
    # the runtime stage installs that package (apt brings its dependencies)
    copied = {a[-1].rstrip("/"): a for a in runtime["copy"]}
    installs = [w for w in _apt_packages(runtime) if w.endswith(".deb")]
    assert installs, "the runtime stage does not install the package"
    for w in installs:
        src = [a for dest, a in copied.items() if w.startswith(dest + "/")]
        assert src and src[0][0] == "--from=build" and src[0][1].rstrip("/") == out, w
    # and runs the binary the package installs, where the DaemonSet expects it
    entry = runtime["entrypoint"]
    listing = subprocess.run(["dpkg-deb", "-c", _deb_file(deb)], capture_output=True,
                             text=True, check=True).stdout
    assert "." + entry[0] in listing.split(), entry[0]
    ds = yaml.safe_load(open(os.path.join(vmtest.SRC, "manifests", "base", "daemonset.yaml")))
    c = ds["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][0] == entry[0]
    assert c["livenessProbe"]["exec"]["command"][0] == entry[0]
    flags = known_flags()
    for a in (runtime["cmd"] or []) + entry[1:]:
        assert a.split("=")[0] in flags, a
    # the package depends on the package of every shared library the binary needs
    tmp = tempfile.mkdtemp(prefix="vaultmount-deb-x-")
    try:
        subprocess.run(["dpkg-deb", "-x", _deb_file(deb), tmp], check=True)
        binary = os.path.join(tmp, entry[0].lstrip("/"))
        needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(
            ["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout)
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        # hardening: full RELRO (BIND_NOW), PIE, stack protector, fortified calls
        dyn = subprocess.run(["readelf", "-d", "-h", binary], capture_output=True, text=True,
                             check=True).stdout
        assert re.search(r"FLAGS.*\bBIND_NOW\b", dyn) and "DYN (Position-Independent" in dyn
        syms = subprocess.run(["objdump", "-T", binary], capture_output=True, text=True,
                              check=True).stdout
        assert "__stack_chk_fail" in syms and re.search(r"__\w+_chk\b", syms.replace(
            "__stack_chk_fail", ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    depends = subprocess.run(["dpkg-deb", "-f", _deb_file(deb), "Depends"],
                             capture_output=True, text=True, check=True).stdout
    dep_pkgs = {re.split(r"[\s(]", d.strip())[0] for d in re.split(r"[,|]", depends)}
    for so in needed:
        if so.startswith(("libc.so", "ld-linux", "libm.so", "libgcc_s")):
            continue  # libc6 and libgcc-s1 are in every Debian image
        path = re.search(r"^\s*%s => (\S+)" % re.escape(so), ldd, re.M).group(1)
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True,
                               text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        pkg = owner.stdout.split(":")[0]
        assert pkg in dep_pkgs, "%s (%s) is not a dependency of the package" % (so, pkg)
