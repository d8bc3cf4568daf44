# SPDX-License-Identifier: Apache-2.0
"""Configuration: flags > environment > file > defaults; errors name their origin."""
import pytest

import vmtest


def check(args, env=None):
    return vmtest.run_daemon_cli(["--check-config"] + list(args), env=env)


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
