# SPDX-License-Identifier: Apache-2.0
"""Configuration: flags > environment > file > defaults; errors name their origin.

--check-config prints every key with its origin and exits 1, listing every
problem, when the configuration could not serve a publish; --version shows
the commit and the linked libraries' versions."""
import os
import re
import subprocess

import pytest

import vmtest


# a config that can serve: one Vault server (nothing is contacted)
SERVER = {"VAULTMOUNT_VAULT_ADDRESS": "https://vault.test:8200"}


def check(args, env=None, server=True):
    e = dict(SERVER) if server else {}
    e.update(env or {})
    return vmtest.run_daemon_cli(["--check-config"] + list(args), env=e)


def value(out, key):
    for line in out.splitlines():
        if line.startswith(key + ":"):
            v, _, origin = line.partition("  # ")
            return v.split(":", 1)[1].strip().strip('"'), origin.strip()
    raise AssertionError("no %s in %s" % (key, out))


def test_help_and_version():
    r = vmtest.run_daemon_cli(["--help"])
    assert r.returncode == 0
    for flag in ("--endpoint", "--state-dir", "--node-id", "--driver-name", "--workers",
                 "--config", "--check-config", "--log-level", "probe"):
        assert flag in r.stdout
    r = vmtest.run_daemon_cli(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("vaultmountd ")


def test_defaults():
    r = check(["--config=/dev/null"], env={"NODE_NAME": "n"})
    assert r.returncode == 0, r.stderr
    assert value(r.stdout, "endpoint") == (
        "unix:///var/lib/kubelet/plugins/csi.vaultmount.io/csi.sock", "default")
    assert value(r.stdout, "state-dir") == ("/run/vaultmount", "default")
    assert value(r.stdout, "driver-name") == ("csi.vaultmount.io", "default")
    assert value(r.stdout, "max-volumes-per-node") == ("0", "default")


def test_precedence_flag_env_file_default(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("workers: 3\nnode-id: file-node\nlog-level: debug\n")
    r = check(["--config=%s" % cfg])
    assert value(r.stdout, "workers") == ("3", "file")
    assert value(r.stdout, "log-level") == ("debug", "file")
    r = check(["--config=%s" % cfg], env={"VAULTMOUNT_WORKERS": "5"})
    assert value(r.stdout, "workers") == ("5", "environment")
    r = check(["--config=%s" % cfg, "--workers=7"], env={"VAULTMOUNT_WORKERS": "5"})
    assert value(r.stdout, "workers") == ("7", "flag")
    assert value(r.stdout, "node-id") == ("file-node", "file")


def test_config_path_from_environment(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("driver-name: env.example.com\n")
    r = check([], env={"VAULTMOUNT_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    assert value(r.stdout, "driver-name") == ("env.example.com", "file")
    # the file's own origin is the variable that named it
    assert value(r.stdout, "config") == (str(cfg), "environment")
    r = check(["--config=%s" % cfg])
    assert value(r.stdout, "config") == (str(cfg), "flag")


@pytest.mark.parametrize("content,needle", [
    ("workers: 2\nstat-dir: /x\n", ":2: unknown key 'stat-dir'"),
    ("workers: many\n", ":1: workers: 'many' is not a whole number"),
    ("workers:\n  - 1\n", ":2: 'workers' must be a single value"),
    ("shutdown-grace: 5 minutes\n", ":1: shutdown-grace: '5 minutes' is not a duration"),
    ("log-level: loud\n", ":1: log-level: 'loud' is not a log level"),
    ("state-dir: relative/dir\n", ":1: state-dir: 'relative/dir' is not an absolute path"),
    ("- a\n- b\n", ":1: the config file must be a mapping"),
    ("workers: 1\nworkers: 2\n", "duplicate key 'workers'"),
    ("a: [unclosed\n", "line 2"),
    ("config: /etc/other.yaml\n", ":1: unknown key 'config'"),
])
def test_file_errors_name_file_and_line(tmp_path, content, needle):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    r = check(["--config=%s" % cfg])
    assert r.returncode == 2
    assert str(cfg) in r.stderr and needle in r.stderr, r.stderr


def test_missing_explicit_config_file_is_an_error(tmp_path):
    r = check(["--config=%s" % (tmp_path / "nope.yaml")])
    assert r.returncode == 2 and "cannot open" in r.stderr


@pytest.mark.parametrize("args,env,needle", [
    (["--workers=0"], None, "--workers: '0' is not a whole number from 1 to 64"),
    (["--bogus"], None, "unknown option '--bogus'"),
    (["--endpoint=tcp://1.2.3.4:5"], None, "only unix sockets"),
    (["--endpoint=unix://relative.sock"], None, "must be absolute"),
    (["--endpoint=/" + "x" * 120 + ".sock"], None, "longer than"),
    ([], {"VAULTMOUNT_WORKERS": "-1"}, "VAULTMOUNT_WORKERS: '-1'"),
    ([], {"VAULTMOUNT_LOG_FORMAT": "xml"}, "VAULTMOUNT_LOG_FORMAT: 'xml' is not a log format"),
    (["--socket-group=no-such-group-xyz"], None, "no group named 'no-such-group-xyz'"),
    (["--node-id=" + "n" * 257], None, "longer than 256 bytes"),
    (["--workers"], None, "needs a value"),
])
def test_bad_values(args, env, needle):
    r = check(["--config=/dev/null"] + args, env=env)
    assert r.returncode == 2
    assert needle in r.stderr, r.stderr


def test_unknown_environment_variable_is_warned_about():
    r = check(["--config=/dev/null"], env={"VAULTMOUNT_WORKRES": "3"})
    assert r.returncode == 0
    assert "unknown environment variable 'VAULTMOUNT_WORKRES'" in r.stderr


def test_csi_endpoint_env_and_vaultmount_endpoint_precedence():
    r = check(["--config=/dev/null"], env={"CSI_ENDPOINT": "unix:///a/csi.sock"})
    assert value(r.stdout, "endpoint") == ("unix:///a/csi.sock", "environment")
    r = check(["--config=/dev/null"], env={"CSI_ENDPOINT": "unix:///a/csi.sock",
                                           "VAULTMOUNT_ENDPOINT": "unix:///b/csi.sock"})
    assert value(r.stdout, "endpoint")[0] == "unix:///b/csi.sock"
    r = check(["--config=/dev/null", "--endpoint=/c/csi.sock"],
              env={"CSI_ENDPOINT": "unix:///a/csi.sock"})
    assert value(r.stdout, "endpoint") == ("/c/csi.sock", "flag")


def test_readme_demo_runs():
    """The README's demo command must keep working (it drives the daemon like kubelet)."""
    import subprocess
    import sys
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("VAULTMOUNT_")}
    env["VAULTMOUNTD"] = vmtest.DAEMON
    r = subprocess.run([sys.executable, __import__("os").path.join(vmtest.SRC, "test", "demo.py")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "driver csi.vaultmount.io" in r.stdout
    assert "exit status 0" in r.stdout


# ---------------------------------------------------------------------------
# --check-config: can this configuration serve a publish?

def test_check_config_fails_a_serverless_config():
    r = check(["--config=/dev/null", "--node-id=n"], server=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no Vault server is configured: set vault-address" in r.stderr
    assert "1 problem(s)" in r.stderr
    # the effective configuration is still printed, for the admin to read
    assert value(r.stdout, "node-id") == ("n", "flag")
    # the same with a server: fine
    assert check(["--config=/dev/null", "--node-id=n"]).returncode == 0


def test_check_config_lists_every_problem(tmp_path):
    cfg = tmp_path / "c.yaml"
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    cfg.write_text(
        "vault-servers:\n"
        "  a:\n    address: https://a.test:8200\n    ca-file: %s\n"
        "  b:\n    address: https://b.test:8200\n    ca-file: %s\n"
        "  c:\n    address: https://c.test:8200\n"
        "  d:\n    address: https://d.test:8200\n    client-cert: %s\n"
        "    client-key: %s\n" % (tmp_path / "missing-ca.pem", empty, empty, empty))
    r = check(["--config=%s" % cfg], server=False)
    assert r.returncode == 1, r.stderr
    problems = [l for l in r.stderr.splitlines() if l.startswith("  - ")]
    assert len(problems) == 3, r.stderr
    assert "vault server 'a'" in problems[0] and "missing-ca.pem" in problems[0]
    assert "vault server 'b'" in problems[1] and "no PEM certificate" in problems[1]
    assert "vault server 'd'" in problems[2]
    assert "'c'" not in r.stderr  # a good server is not a problem
    assert "3 problem(s)" in r.stderr


def test_check_config_prints_every_key_with_its_origin(tmp_path):
    helptext = vmtest.run_daemon_cli(["--help"]).stdout
    names = re.findall(r"^\s+--([a-z0-9-]+)=", helptext, re.M)
    flat = {"vault-address", "vault-ca-file", "vault-ca-dir", "vault-client-cert",
            "vault-client-key", "vault-tls-server-name", "vault-tls-skip-verify",
            "vault-allow-http", "vault-namespace", "vault-auth-method", "vault-auth-mount",
            "vault-audience"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text("vault-max-concurrency: 9\n")
    r = check(["--config=%s" % cfg], env={"VAULTMOUNT_WORKERS": "3"})
    assert r.returncode == 0, r.stderr
    for name in names:
        if name in flat:  # server "default": printed under vault-servers
            continue
        assert re.search(r"^(# )?%s: " % re.escape(name), r.stdout, re.M), name
    assert value(r.stdout, "vault-max-concurrency") == ("9", "file")
    assert value(r.stdout, "workers") == ("3", "environment")
    assert re.search(r"^  default:\n    address: \"https://vault.test:8200\"", r.stdout, re.M)


# ---------------------------------------------------------------------------
# --version

def _pkg_version(module):
    r = subprocess.run(["pkg-config", "--modversion", module], capture_output=True, text=True)
    assert r.returncode == 0, module
    return r.stdout.strip()


def test_version_shows_the_commit_and_the_linked_libraries():
    r = vmtest.run_daemon_cli(["--version"])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    meson = re.search(r"version:\s*'([^']+)'",
                      open(os.path.join(vmtest.SRC, "meson.build")).read()).group(1)
    assert lines[0] == "vaultmountd " + meson
    commit = lines[1].split(": ", 1)[1]
    head = subprocess.run(["git", "-C", vmtest.SRC, "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout: the commit built, maybe with local changes
        assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?", commit), commit
    else:
        assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", commit), commit
    libs = dict(l.strip().split(" ", 1) for l in lines[3:])
    assert set(libs) == {"grpc-core", "protobuf-c", "libcurl", "jansson", "libmount",
                         "libyaml", "libsystemd"}, libs
    # the versions loaded are those installed (the same machine built it)
    for name, module in (("protobuf-c", "libprotobuf-c"), ("jansson", "jansson"),
                         ("libmount", "mount"), ("libyaml", "yaml-0.1"), ("grpc-core", "grpc")):
        assert libs[name] == _pkg_version(module), (name, libs[name])
    curl, tls = re.fullmatch(r"(\S+) \((\S+)\)", libs["libcurl"]).groups()
    assert curl == _pkg_version("libcurl") and tls.startswith("OpenSSL/")
    assert libs["libsystemd"] == _pkg_version("libsystemd") + " (built against)"
