# SPDX-License-Identifier: Apache-2.0
"""What operators watch (issue 11): the Prometheus endpoint, `vaultmountd status`, and the
monitoring manifests.

The real daemon with --metrics-address on a free loopback port, real mounts, the Vault dev
server. Every scrape goes through `promtool check metrics` (Debian's prometheus package), and
the values are checked against what the test did: a publish counted as OK, the volume's
series labelled with its pod and gone after unpublish, a 429 storm counted and pausing the
server. The example alert rules go through `promtool check rules` and `promtool test rules`.
"""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import yaml

import vmtest
from test_publish import KV_OBJECTS, Pod, assert_clean, node, vault  # noqa: F401  (fixtures)

FAST = ["--test-refresh-interval-min=500ms", "--refresh-interval=1s",
        "--refresh-backoff-min=500ms", "--refresh-backoff-max=2s",
        "--refresh-request-timeout=3s"]

DB_OBJECTS = """
- objectName: db-user
  secretPath: database/creds/readonly
  secretKey: username
- objectName: db-pass
  secretPath: database/creds/readonly
  secretKey: password
"""

FAMILIES = {
    "vaultmount_build_info": "gauge",
    "vaultmount_csi_requests_total": "counter",
    "vaultmount_csi_request_duration_seconds": "histogram",
    "vaultmount_vault_requests_total": "counter",
    "vaultmount_vault_request_duration_seconds": "histogram",
    "vaultmount_volumes": "gauge",
    "vaultmount_refresh_total": "counter",
    "vaultmount_vault_server_paused": "gauge",
    "vaultmount_refresh_budget_exhausted": "gauge",
    "vaultmount_vault_rate_limited_total": "counter",
    "vaultmount_volume_secret_expiry_timestamp_seconds": "gauge",
    "vaultmount_volume_last_refresh_success_timestamp_seconds": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
}

MANIFESTS = os.path.join(vmtest.SRC, "manifests")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def wait_until(pred, timeout, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(step)


def metrics_port(d):
    line = d.wait_for_log(r"METRICS_PORT=\d+")
    return int(re.search(r"METRICS_PORT=(\d+)", line).group(1))


def http(port, path="/metrics", method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Scrape:
    """One scrape, checked by promtool, as {(name, frozenset(labels)): value}."""

    def __init__(self, port):
        status, headers, self.text = http(port)
        assert status == 200, (status, self.text)
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
        p = subprocess.run(["promtool", "check", "metrics"], input=self.text,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "promtool check metrics:\n%s%s\n%s" % (
            p.stdout, p.stderr, self.text)
        self.types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", self.text, re.M))
        self.samples = {}
        for line in self.text.splitlines():
            if line.startswith("#") or not line:
                continue
            m = SAMPLE.match(line)
            assert m, line
            labels = frozenset(LABEL.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name):
        return [(dict(l), v) for (n, l), v in self.samples.items() if n == name]


def scrape(d):
    return Scrape(metrics_port(d))


def test_publish_kv_and_database_then_unpublish(node, vault):
    """The issue's "done when": one publish of a KV and a database object, a scrape that
    promtool accepts with every family, the publish counted as OK, one volume ok, an
    expiry series with the pod's namespace and name that goes with the unpublish."""
    d = node(["--metrics-address=127.0.0.1:0"])
    pod = Pod(node.pods, name="web-7", namespace="shop")
    t0 = time.time()
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS + DB_OBJECTS}))
    s = scrape(d)
    for name, typ in FAMILIES.items():
        assert s.types.get(name) == typ, (name, s.types.get(name))
    assert s.get("vaultmount_csi_requests_total", method="NodePublishVolume", code="OK") == 1
    assert s.get("vaultmount_csi_request_duration_seconds_count",
                 method="NodePublishVolume") == 1
    assert s.get("vaultmount_volumes", state="ok") == 1
    for state in ("failing", "stale", "waiting_for_token"):
        assert s.get("vaultmount_volumes", state=state) == 0
    build = s.series("vaultmount_build_info")
    assert len(build) == 1 and build[0][1] == 1 and build[0][0]["version"]
    # Vault: one login, the reads (KV v2, KV v1, database), no path in any label
    assert s.get("vaultmount_vault_requests_total", server="default", operation="login",
                 result="ok") == 1
    assert s.get("vaultmount_vault_requests_total", server="default", operation="read",
                 result="ok") >= 3
    assert s.get("vaultmount_vault_request_duration_seconds_count", server="default",
                 operation="login") == 1
    assert s.get("vaultmount_vault_server_paused", server="default") == 0
    assert s.get("vaultmount_refresh_budget_exhausted", server="default") == 0
    assert s.get("vaultmount_vault_rate_limited_total", server="default") == 0
    # the volume's series: labelled with its pod; the lease ends before two KV intervals
    exp = s.series("vaultmount_volume_secret_expiry_timestamp_seconds")
    assert len(exp) == 1, exp
    labels, expiry = exp[0]
    assert labels == {"namespace": "shop", "pod": "web-7", "volume_id": pod.volume_id}
    assert t0 < expiry < t0 + 2 * 3600 + 60, (t0, expiry)
    last = s.get("vaultmount_volume_last_refresh_success_timestamp_seconds", **labels)
    assert t0 - 1 <= last <= time.time() + 1, (t0, last)
    assert s.get("process_resident_memory_bytes") > 1024 * 1024
    assert s.get("process_open_fds") >= 3
    assert abs(s.get("process_start_time_seconds") - t0) < 120
    # never a secret, a token or a secret path
    for needle in ("appuser", "secret/data", "database/creds", "hvs.", "eyJ"):
        assert needle not in s.text, needle
    for lease in vault.leases():
        assert lease.get("username", "\0") not in s.text

    d.call("NodeUnpublishVolume", pod.unpublish_request())
    s = scrape(d)
    assert s.series("vaultmount_volume_secret_expiry_timestamp_seconds") == []
    assert s.series("vaultmount_volume_last_refresh_success_timestamp_seconds") == []
    assert s.get("vaultmount_volumes", state="ok") == 0
    assert s.get("vaultmount_csi_requests_total", method="NodeUnpublishVolume", code="OK") == 1
    assert s.get("vaultmount_vault_requests_total", server="default", operation="revoke",
                 result="ok") >= 1
    assert_clean(pod, node, vault)


def test_only_get_metrics(node, vault):
    d = node(["--metrics-address=127.0.0.1:0"])
    port = metrics_port(d)
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        status, headers, _ = http(port, method=method)
        assert status == 405, (method, status)
        assert headers.get("Allow") == "GET"
    for path in ("/", "/metrics/", "/metricsx", "/debug"):
        assert http(port, path)[0] == 404, path
    assert http(port, "/metrics?x=1")[0] == 200
    # the failed calls above are not CSI calls
    assert scrape(d).series("vaultmount_csi_requests_total") == []


def test_failed_publish_is_counted_with_its_code(node, vault):
    d = node(["--metrics-address=127.0.0.1:0"])
    pod = Pod(node.pods)
    objects = "- objectName: x\n  secretPath: secret/data/does-not-exist\n  secretKey: a\n"
    try:
        d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                                 "objects": objects}))
        raise AssertionError("the publish should fail")
    except vmtest.CallError as e:
        code = e.code.name
    s = scrape(d)
    assert s.get("vaultmount_csi_requests_total", method="NodePublishVolume", code=code) == 1
    assert s.get("vaultmount_vault_requests_total", server="default", operation="read",
                 result="not_found") == 1
    assert s.get("vaultmount_volumes", state="ok") == 0
    assert s.series("vaultmount_volume_secret_expiry_timestamp_seconds") == []


def test_kubelet_registration_calls_are_counted(daemons, tmp_path):
    from test_registration import reg_daemon
    d, kubelet = reg_daemon(daemons, tmp_path, extra=["--metrics-address=127.0.0.1:0"])
    kubelet.watcher.wait_for(kubelet.sock)
    kubelet.register("node-a")
    s = scrape(d)
    assert s.get("vaultmount_csi_requests_total", method="GetInfo", code="OK") == 1
    assert s.get("vaultmount_csi_requests_total", method="NotifyRegistrationStatus",
                 code="OK") == 1
    assert s.get("vaultmount_csi_requests_total", method="NodeGetInfo", code="OK") == 1
    assert s.get("vaultmount_csi_request_duration_seconds_count", method="GetInfo") == 1


def status_cmd(node_, *args):
    return vmtest.run_daemon_cli(["status", "--config=/dev/null", "--registration-dir=",
                                  "--state-dir=%s" % node_.state] + list(args))


def test_rate_limited_server_is_counted_paused_and_reported(node, vault):
    """A 429 storm on the KV reads: 429s counted, the server paused, the refresh failures
    counted, the volume failing (in the metrics and in `vaultmountd status`, exit 1); and
    all of it back to normal once Vault answers again."""
    d = node(["--metrics-address=127.0.0.1:0"] + FAST)
    port = metrics_port(d)
    pod = Pod(node.pods, name="api-2", namespace="prod")
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "refreshInterval": "1s",
                "objects": "- objectName: u\n  secretPath: secret/data/myapp/config\n"
                           "  secretKey: username\n"}))
    r = status_cmd(node)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^prod/api-2\s+csi-\S+\s+ok\s", r.stdout, re.M), r.stdout

    vault.fault(type="rate_limit", count=None, path="/v1/secret/*")
    wait_until(lambda: (Scrape(port).get("vaultmount_volumes", state="failing") or 0) >= 1, 20,
               what="the volume failing")
    s = Scrape(port)
    assert s.get("vaultmount_vault_rate_limited_total", server="default") >= 1
    assert s.get("vaultmount_vault_requests_total", server="default", operation="read",
                 result="rate_limited") >= 1
    assert s.get("vaultmount_refresh_total", server="default", kind="kv",
                 result="failed") >= 1
    wait_until(lambda: Scrape(port).get("vaultmount_vault_server_paused", server="default") == 1,
               10, what="the server paused")
    r = status_cmd(node)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^prod/api-2\s+csi-\S+\s+failing\s", r.stdout, re.M), r.stdout
    r = status_cmd(node, "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["healthy"] is False
    assert [(v["namespace"], v["pod"], v["state"]) for v in doc["volumes"]] == \
        [("prod", "api-2", "failing")]
    assert doc["volumes"][0]["volume_id"] == pod.volume_id
    assert doc["volumes"][0]["last_error"]
    assert "appuser" not in r.stdout

    vault.clear_faults()
    wait_until(lambda: Scrape(port).get("vaultmount_volumes", state="ok") == 1, 20,
               what="recovery")
    wait_until(lambda: Scrape(port).get("vaultmount_vault_server_paused", server="default") == 0,
               10, what="the pause lifted")
    s = Scrape(port)
    assert s.get("vaultmount_refresh_total", server="default", kind="kv", result="ok") >= 1
    assert status_cmd(node).returncode == 0
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    r = status_cmd(node, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["volumes"] == [], r.stdout
    assert_clean(pod, node, vault)


def test_bad_or_busy_address_fails_fast(daemons, tmp_path):
    d = daemons(["--metrics-address=127.0.0.1"], start=False, expect_exit=2)
    d.start(wait=False)
    assert d.wait() == 2
    assert "not HOST:PORT" in d.log
    holder = daemons(["--metrics-address=127.0.0.1:0"], name="holder")
    port = metrics_port(holder)
    d2 = daemons(["--metrics-address=127.0.0.1:%d" % port], name="second", start=False,
                 expect_exit=1)
    d2.start(wait=False)
    assert d2.wait() == 1
    assert "cannot start: metrics endpoint" in d2.log and "Address already in use" in d2.log


def test_endpoint_off_by_default(daemons):
    d = daemons()
    assert "METRICS_PORT" not in d.log and "Prometheus" not in d.log


# ---- manifests and alerts -------------------------------------------------------------

def load_all(path):
    with open(path) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def test_monitoring_overlay_matches_the_daemonset():
    ds = [o for o in load_all(os.path.join(MANIFESTS, "base", "daemonset.yaml"))
          if o["kind"] == "DaemonSet"][0]
    container = [c for c in ds["spec"]["template"]["spec"]["containers"]
                 if c["name"] == "vaultmountd"][0]
    ports = {p["name"]: p for p in container.get("ports", [])}
    assert ports["metrics"]["protocol"] == "TCP"
    # the ConfigMap is generated from base/config.yaml (configMapGenerator)
    with open(os.path.join(MANIFESTS, "base", "config.yaml")) as f:
        cfg = yaml.safe_load(f)
    assert cfg["metrics-address"].rsplit(":", 1)[1] == str(ports["metrics"]["containerPort"])
    # the daemon accepts the shipped address
    r = vmtest.run_daemon_cli(["--config=/dev/null", "--check-config", "--registration-dir=",
                               "--vault-address=https://vault.example:8200",
                               "--metrics-address=" + cfg["metrics-address"]],
                              env={"NODE_NAME": "n"})
    assert r.returncode == 0, r.stderr
    kust = yaml.safe_load(open(os.path.join(MANIFESTS, "monitoring", "kustomization.yaml")))
    assert kust["bases"] == ["../base"]
    for res in kust["resources"]:
        assert os.path.exists(os.path.join(MANIFESTS, "monitoring", res)), res
    pm = load_all(os.path.join(MANIFESTS, "monitoring", "podmonitor.yaml"))[0]
    assert pm["kind"] == "PodMonitor"
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    for k, v in pm["spec"]["selector"]["matchLabels"].items():
        assert pod_labels[k] == v
    ep = pm["spec"]["podMetricsEndpoints"][0]
    assert ep["port"] == "metrics" and ep["path"] == "/metrics" and ep["honorLabels"] is True
    # the Debian package's config serves loopback only
    deb = yaml.safe_load(open(os.path.join(vmtest.SRC, "packaging", "config.yaml")))
    assert deb["metrics-address"] == "127.0.0.1:9810"


def rules_file(tmp_path):
    rule = load_all(os.path.join(MANIFESTS, "monitoring", "prometheusrule.yaml"))[0]
    assert rule["kind"] == "PrometheusRule"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path, rule["spec"]["groups"][0]["rules"]


def test_alert_rules_check(tmp_path):
    path, rules = rules_file(tmp_path)
    p = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert {r["alert"] for r in rules} == {"VaultmountSecretStale", "VaultmountRefreshFailing",
                                           "VaultmountVaultRateLimited",
                                           "VaultmountPublishErrors"}
    # only families the daemon exports
    for r in rules:
        for name in re.findall(r"\b(vaultmount_[a-z_]+)", r["expr"]):
            assert name in FAMILIES, name


def render(template, labels):
    return re.sub(r"\{\{ \$labels\.([a-z_]+) \}\}", lambda m: labels.get(m.group(1), ""),
                  template)


def expected(rules, alert, labels):
    rule = [r for r in rules if r["alert"] == alert][0]
    full = dict(labels, alertname=alert, **rule["labels"])
    return {"exp_labels": {k: v for k, v in full.items() if k != "alertname"},
            "exp_annotations": {k: render(v, full) for k, v in rule["annotations"].items()}}


def test_alert_rules_fire_on_the_right_series(tmp_path):
    """`promtool test rules`: each alert fires for the series it is about, and not for a
    healthy node."""
    path, rules = rules_file(tmp_path)
    node_ = {"node": "w1", "instance": "10.0.0.5:9810"}
    vol = dict(node_, namespace="shop", pod="web-0", volume_id="csi-1")
    ok_vol = dict(node_, namespace="shop", pod="web-1", volume_id="csi-2")

    def series(name, labels, values):
        inner = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        return {"series": "%s{%s}" % (name, inner), "values": values}

    tests = {
        "rule_files": [str(path)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                # expired at t=100s; the other volume's secrets are good for a day
                series("vaultmount_volume_secret_expiry_timestamp_seconds", vol, "100x30"),
                series("vaultmount_volume_secret_expiry_timestamp_seconds", ok_vol, "86400x30"),
                series("vaultmount_volumes", dict(node_, state="failing"), "1x30"),
                series("vaultmount_volumes", dict(node_, state="stale"), "0x30"),
                series("vaultmount_volumes", dict(node_, state="ok"), "1x30"),
                series("vaultmount_vault_rate_limited_total", dict(node_, server="main"),
                       "0+5x30"),
                series("vaultmount_vault_server_paused", dict(node_, server="main"), "1x30"),
                series("vaultmount_csi_requests_total",
                       dict(node_, method="NodePublishVolume", code="PERMISSION_DENIED"),
                       "0+2x30"),
                series("vaultmount_csi_requests_total",
                       dict(node_, method="NodePublishVolume", code="ABORTED"), "0+2x30"),
                series("vaultmount_csi_requests_total",
                       dict(node_, method="NodePublishVolume", code="OK"), "0+9x30"),
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "VaultmountSecretStale", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "VaultmountSecretStale",
                 "exp_alerts": [expected(rules, "VaultmountSecretStale", vol)]},
                {"eval_time": "10m", "alertname": "VaultmountRefreshFailing", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "VaultmountRefreshFailing",
                 "exp_alerts": [expected(rules, "VaultmountRefreshFailing", node_)]},
                {"eval_time": "20m", "alertname": "VaultmountVaultRateLimited",
                 "exp_alerts": [expected(rules, "VaultmountVaultRateLimited",
                                         dict(node_, server="main"))]},
                {"eval_time": "25m", "alertname": "VaultmountPublishErrors",
                 "exp_alerts": [expected(rules, "VaultmountPublishErrors",
                                         dict(node_, code="PERMISSION_DENIED"))]},
            ],
        }, {
            # a healthy node: nothing fires
            "interval": "1m",
            "input_series": [
                series("vaultmount_volume_secret_expiry_timestamp_seconds", ok_vol, "86400x30"),
                series("vaultmount_volumes", dict(node_, state="ok"), "3x30"),
                series("vaultmount_volumes", dict(node_, state="failing"), "0x30"),
                series("vaultmount_vault_rate_limited_total", dict(node_, server="main"),
                       "0x30"),
                series("vaultmount_vault_server_paused", dict(node_, server="main"), "0x30"),
                series("vaultmount_csi_requests_total",
                       dict(node_, method="NodePublishVolume", code="OK"), "0+9x30"),
            ],
            "alert_rule_test": [{"eval_time": "25m", "alertname": a, "exp_alerts": []}
                                for a in ("VaultmountSecretStale", "VaultmountRefreshFailing",
                                          "VaultmountVaultRateLimited",
                                          "VaultmountPublishErrors")],
        }],
    }
    tpath = tmp_path / "rules-test.yaml"
    tpath.write_text(yaml.safe_dump(tests))
    p = subprocess.run(["promtool", "test", "rules", str(tpath)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
