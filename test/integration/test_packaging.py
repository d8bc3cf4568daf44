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
    r = vmtest.run_daemon_cli(list(args) + ["--check-config"])
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
        shutil.rmtree(cache, ignore_errors=True)
        os.rename(tmp, cache)
    return cache


def _deb_file(deb):
    return sorted(glob.glob(os.path.join(deb, "vaultmount_*.deb")))[-1]


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
              "/usr/share/doc/vaultmount/copyright"):
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
    assert version.stdout.strip() == "vaultmountd " + _meson_version()
    # the config file the unit names is there, a conffile, and valid
    cfg = [a.split("=", 1)[1] for a in exec_start if a.startswith("--config=")][0]
    conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "vaultmount"],
                               capture_output=True, text=True, check=True).stdout
    assert cfg in conffiles
    r = subprocess.run([binary, "--config=" + cfg, "--check-config"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
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
    for f in ("meson.build", "meson_options.txt"):
        assert f in copied
    # the build stage has the package's Build-Depends (one list of what it takes)
    control = open(os.path.join(PKG, "debian", "control")).read()
    bdeps = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S).group(1)
    names = {re.split(r"[\s(]", d.strip())[0] for d in bdeps.split(",") if d.strip()}
    names.discard("debhelper-compat")
    assert names <= _apt_packages(build), names - _apt_packages(build)
    # the runtime stage copies only from the build stage
    assert all(any(a.startswith("--from=build") for a in args) for args in runtime["copy"])


def test_containerfile_runs_the_built_binary_as_the_daemonset_does():
    build, runtime = _containerfile()
    dest = [args[-1] for args in runtime["copy"]]
    entry = runtime["entrypoint"]
    assert entry[0] in dest
    # meson installs the daemon into sbindir: the path the image copies from
    m = re.search(r"meson setup \S+ --prefix=(\S+)", " ".join(build["run"]))
    assert m and [a for a in runtime["copy"] if a[-1] == entry[0]][0][1] == \
        "/out" + m.group(1) + "/sbin/vaultmountd"
    ds = yaml.safe_load(open(os.path.join(vmtest.SRC, "manifests", "base", "daemonset.yaml")))
    c = ds["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][0] == entry[0]
    assert c["livenessProbe"]["exec"]["command"][0] == entry[0]
    flags = known_flags()
    for a in (runtime["cmd"] or []) + entry[1:]:
        assert a.split("=")[0] in flags, a
    # the runtime stage installs the package of every shared library the daemon needs
    needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(
        ["objdump", "-p", vmtest.DAEMON], capture_output=True, text=True, check=True).stdout)
    ldd = subprocess.run(["ldd", vmtest.DAEMON], capture_output=True, text=True).stdout
    pkgs = _apt_packages(runtime)
    for so in needed:
        if so.startswith(("libc.so", "ld-linux", "libasan", "libubsan", "libm.so",
                          "libgcc_s", "libstdc++")):
            continue  # in every Debian image (or only in sanitizer builds)
        path = re.search(r"^\s*%s => (\S+)" % re.escape(so), ldd, re.M).group(1)
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True,
                               text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        pkg = owner.stdout.split(":")[0]
        assert pkg in pkgs, "%s (%s) is not installed in the image" % (so, pkg)
