# SPDX-License-Identifier: Apache-2.0
"""Rotation: the refresh thread keeps published volumes fresh, gently and visibly.

Real daemon, real mounts, the Vault dev server with short TTLs. Timing assertions
use generous bounds (order and counts, not exact instants); the benchmark keeps the
exact figures. Every test publishes through kubelet-shaped requests (test_publish.Pod)
and unpublishes at the end, so no mount, lease or token is left behind.
"""
import datetime
import json
import os
import pathlib
import re
import threading
import time

import grpc
import pytest

from test_publish import Pod, assert_clean, node, vault  # noqa: F401  (fixtures)
from vmtest import CallError
from test_metrics import Scrape, metrics_port

STATUS = "..vaultmount-status.json"

# fast schedules for tests; test-refresh-interval-min is the test-only knob
FAST = ["--test-refresh-interval-min=500ms", "--refresh-interval=1s",
        "--refresh-backoff-min=500ms", "--refresh-backoff-max=4s",
        "--refresh-request-timeout=3s", "--republish-wait=4s"]

MSG_ROTATION_FAILED = "4269a0acc3ba4dd38dfae89f8b22e51d"
MSG_SECRET_STALE = "b88a2a87867b485cb0eb9a3d9d7f2928"
MSG_RECOVERED = "ad453106c14946a9968acf6227d02333"


def wait_until(pred, timeout, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(step)


def status(pod):
    with open(pod.target / STATUS) as f:
        return json.load(f)


def assert_canonical(path):
    """The daemon's state and status files: compact JSON, every object's keys
    in bytewise order (what its streaming writer promises)."""
    text = path.read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False) + "\n", text


def live_leases(vault, prefix):
    return [l for l in vault.leases() if l["path"].startswith(prefix)]


def record(node_, pod):
    with open(os.path.join(node_.state, "volumes", pod.volume_id, "record.json")) as f:
        return json.load(f)


def file_stats(target, names):
    out = {}
    for n in names:
        st = os.stat(target / n)
        out[n] = (st.st_ino, st.st_mtime_ns, (target / n).read_bytes())
    out["..data"] = os.readlink(target / "..data")
    return out


def kv_objects(path="secret/data/myapp/config", interval=None):
    return {"roleName": "demo",
            "objects": "- objectName: username\n  secretPath: %s\n  secretKey: username\n" % path,
            **({"refreshInterval": interval} if interval else {})}


DB_SHORT = """
- objectName: db-user
  secretPath: database/creds/short
  secretKey: username
- objectName: db-pass
  secretPath: database/creds/short
  secretKey: password
"""


def test_kv_change_appears_within_an_interval_and_status_file(node, vault):
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(vault, kv_objects(interval="1s")))
    assert (pod.target / "username").read_text() == "appuser"
    st = status(pod)
    assert st["schema"] == 1 and st["volume_id"] == pod.volume_id and st["state"] == "ok"
    assert st["consecutive_failures"] == 0 and "last_error" not in st
    for k in ("last_success", "next_refresh", "token_expires"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", st[k]), (k, st)
    assert st["secrets"] == [{"objects": ["username"], "path": "secret/data/myapp/config",
                              "kind": "kv2", "version": 1,
                              "next_refresh": st["secrets"][0]["next_refresh"]}]
    # the status file is not a payload file, and the pod cannot write it
    assert STATUS not in os.listdir(pod.target / "..data")
    assert oct(os.stat(pod.target / STATUS).st_mode & 0o777) == "0o444"
    assert_canonical(pod.target / STATUS)
    assert_canonical(pathlib.Path(node.state, "volumes", pod.volume_id, "record.json"))

    vault.write_secret("secret", "myapp/config",
                       {"username": "rotated", "password": "p2", "port": 5432})
    t0 = time.monotonic()
    wait_until(lambda: (pod.target / "username").read_text() == "rotated", 6,
               what="the new KV version in the file")
    assert time.monotonic() - t0 < 3.5  # about one interval (1s), not many
    wait_until(lambda: status(pod)["secrets"][0].get("version") == 2, 3, what="status version 2")
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


SPELLINGS = """
- objectName: a
  secretPath: /v1/secret/data/myapp/config
  secretKey: username
- objectName: b
  secretPath: v1/secret/data/myapp/config
  secretKey: username
- objectName: c
  secretPath: secret/data/myapp/config
  secretKey: username
"""


def test_one_request_for_every_spelling_of_a_path(node, vault):
    """Objects that share one Vault request at publish share it at rotation: one
    group in the status file, one GET per refresh, and the three files always
    change together."""
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": SPELLINGS, "refreshInterval": "1s"}))
    groups = status(pod)["secrets"]
    assert len(groups) == 1 and groups[0]["objects"] == ["a", "b", "c"], groups
    reads0 = vault.requests_to("secret/data/myapp/config")
    t_start = time.monotonic()
    mixed, seen = 0, 0
    stop = threading.Event()

    def reader():
        nonlocal mixed, seen
        while not stop.is_set():
            # one snapshot, as a consumer that wants consistency reads one:
            # three reads through the top-level links may straddle a swap of
            # ..data, whatever the writer does
            try:
                snap = pod.target / os.readlink(pod.target / "..data")
                vals = {(snap / n).read_text() for n in ("a", "b", "c")}
            except OSError:
                continue
            seen += 1
            mixed += len(vals) > 1
            time.sleep(0.002)

    t = threading.Thread(target=reader)
    t.start()
    try:
        time.sleep(1.5)
        vault.write_secret("secret", "myapp/config",
                           {"username": "rotated", "password": "p2", "port": 5432})
        wait_until(lambda: (pod.target / "c").read_text() == "rotated", 8,
                   what="the new KV version in the files")
        time.sleep(1.5)
    finally:
        stop.set()
        t.join()
    # a refresh reads the path once, not once per spelling: one group due every
    # 0.9-1 s (three groups would read about three times as often)
    reads = vault.requests_to("secret/data/myapp/config") - reads0
    window = time.monotonic() - t_start
    assert 2 <= reads <= window / 0.9 + 2, (reads, window)
    assert status(pod)["secrets"][0]["version"] == 2
    assert len(status(pod)["secrets"]) == 1
    assert seen > 50 and mixed == 0, (seen, mixed)
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_unchanged_volume_is_not_rewritten(node, vault):
    from test_publish import KV_OBJECTS
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS, "refreshInterval": "1s"}))
    names = ["username", "config.json", "port", "legacy"]
    before = file_stats(pod.target, names)
    reads_v2 = vault.requests_to("secret/data/myapp/config")
    reads_v1 = vault.requests_to("kv/myapp/legacy")
    time.sleep(4)
    # it did re-read (KV v2 and KV v1), every second or so
    assert vault.requests_to("secret/data/myapp/config") - reads_v2 >= 2
    assert vault.requests_to("kv/myapp/legacy") - reads_v1 >= 2
    # ... and wrote nothing: same inodes, mtimes, bytes, same payload dir
    assert file_stats(pod.target, names) == before
    assert status(pod)["state"] == "ok"
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_database_lease_is_renewed_not_reissued(node, vault):
    """Role `short`: 2 s leases, 6 s max TTL. One lease until its max TTL, renewed at
    ~2/3 of its duration; then exactly one replacement, swapped into both files."""
    d = node(FAST)
    pod = Pod(node.pods)
    t0 = time.time()
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": DB_SHORT}))
    first = live_leases(vault, "database/creds/short")
    assert len(first) == 1
    user1 = (pod.target / "db-user").read_text()
    assert first[0]["username"] == user1
    assert status(pod)["secrets"][0]["kind"] == "lease"

    # the first lease is renewed a few times, never replaced before its max TTL
    wait_until(lambda: len(live_leases(vault, "database/creds/short")) >= 2, 12,
               what="the replacement lease")
    t_replaced = time.time()
    assert t_replaced - t0 > 4.0, "replaced long before the 6 s max TTL"
    leases = sorted(live_leases(vault, "database/creds/short"), key=lambda l: l["issue_time"])
    assert leases[0]["lease_id"] == first[0]["lease_id"]
    assert leases[0]["renew_count"] >= 2, leases[0]
    # exactly one replacement, issued before the first lease ran out
    assert len(leases) == 2
    assert leases[1]["issue_time"] < leases[0]["issue_time"] + 6.0

    # both files swapped together to the new lease; the old lease revoked by us
    wait_until(lambda: (pod.target / "db-user").read_text() == leases[1]["username"], 3,
               what="the new username in the file")
    old = [l for l in vault.leases() if l["lease_id"] == leases[0]["lease_id"]][0]
    assert old["revoked"] or old["expired"]
    assert vault.requests_to("sys/leases/renew") >= 2
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)
    d.stop()
    m = re.search(r"metrics: (.*)", d.log)
    assert m, "metrics are logged at shutdown (debug)"
    counters = dict(kv.split("=") for kv in m.group(1).split() if "=" in kv)
    assert int(counters["leases_renewed"]) >= 2
    assert int(counters["leases_issued"]) >= 2
    assert int(counters["refresh_ok"]) >= 2
    assert int(counters["vault_2xx"]) >= 5


def test_certificate_reissued_near_two_thirds_and_always_matches_its_key(node, vault):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    d = node(FAST)
    pod = Pod(node.pods)
    objects = """
- objectName: tls.crt
  secretPath: pki/issue/example-dot-com
  secretKey: certificate
  secretArgs: {common_name: app.example.com, ttl: 9s}
- objectName: tls.key
  secretPath: pki/issue/example-dot-com
  secretKey: private_key
  secretArgs: {common_name: app.example.com, ttl: 9s}
- objectName: ca.crt
  secretPath: pki/issue/example-dot-com
  secretKey: issuing_ca
  secretArgs: {common_name: app.example.com, ttl: 9s}
"""
    t_issue = time.time()
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": objects}))
    assert vault.requests_to("pki/issue") == 1

    def sample():
        # one consistent set: open ..data once and read relative to it
        fd = os.open(pod.target / "..data", os.O_RDONLY | os.O_DIRECTORY)
        try:
            crt = open("tls.crt", "rb", opener=lambda p, f: os.open(p, f, dir_fd=fd)).read()
            key = open("tls.key", "rb", opener=lambda p, f: os.open(p, f, dir_fd=fd)).read()
        finally:
            os.close(fd)
        c = x509.load_pem_x509_certificate(crt)
        k = serialization.load_pem_private_key(key, None)
        assert c.public_key().public_numbers() == k.public_key().public_numbers()
        not_after = c.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()
        assert time.time() < not_after, "an expired certificate"
        return c.serial_number

    serial0 = sample()
    changed_at = None
    while time.time() - t_issue < 12:
        s = sample()
        if s != serial0 and changed_at is None:
            changed_at = time.time() - t_issue
        time.sleep(0.05)
    assert changed_at is not None, "never re-issued"
    # 2/3 of 9 s = 6 s: generous bounds around it, well before expiry
    assert 4.0 <= changed_at <= 8.5, changed_at
    assert 2 <= vault.requests_to("pki/issue") <= 3
    assert status(pod)["secrets"][0]["kind"] == "pki"
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def request_log(vault, since=0):
    return vault.api("GET", "/admin/requests?since=%d" % since)


def test_vault_down_stale_unavailable_then_recovery(node, vault):
    d = node(FAST)
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "refreshInterval": "1s", "objects": DB_SHORT +
             "- objectName: username\n  secretPath: secret/data/myapp/config\n"
             "  secretKey: username\n"}
    d.call("NodePublishVolume", pod.publish_request(vault, attrs))
    # a second volume on the same server: the server-wide pause holds its requests
    # back, and it must still report its lease stale
    pod2 = Pod(node.pods, name="second")
    d.call("NodePublishVolume", pod2.publish_request(vault, {"roleName": "demo",
                                                            "objects": DB_SHORT}))
    names = ["db-user", "db-pass", "username"]
    time.sleep(0.5)
    before = file_stats(pod.target, names)
    seq0 = request_log(vault)["last_seq"]
    log_start = len(d.log.splitlines())

    vault.fault(type="drop", count=None, path="*")
    t_down = time.time()
    st = wait_until(lambda: status(pod)["state"] == "stale" and status(pod), 10,
                    what="status stale")
    assert st["consecutive_failures"] >= 1 and st["last_error"]
    assert "db-" in json.dumps(st) or st["secrets"]
    wait_until(lambda: status(pod2)["state"] == "stale", 10, what="second volume stale")
    assert status(pod2)["last_error"]
    d.wait_for_log(MSG_ROTATION_FAILED)
    for p in (pod, pod2):
        d.wait_for_log(r"%s.*MESSAGE_ID=%s" % (p.volume_id, MSG_SECRET_STALE))

    # republish: UNAVAILABLE (non-final), naming the volume and the cause
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=30)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE, e.value.details
    assert pod.volume_id in e.value.details and "expired" in e.value.details
    assert "eyJ" not in e.value.details

    # the files stay exactly as they were
    time.sleep(max(0, 8 - (time.time() - t_down)))
    assert file_stats(pod.target, names) == before
    # the attempts back off: few of them, ever further apart
    reqs = [r for r in request_log(vault, seq0)["requests"] if r["listener"] == "main"]
    times = sorted(r["time"] for r in reqs)
    bursts = []
    for t in times:  # libcurl may resend once on a fresh connection: one attempt
        if not bursts or t - bursts[-1] > 0.15:
            bursts.append(t)
    span = time.time() - t_down
    # without backoff: two volumes, a KV read each second and renewals every ~1.3 s
    assert len(bursts) <= span * 0.8, (len(bursts), span)
    gaps = [b - a for a, b in zip(bursts, bursts[1:])]
    assert gaps and max(gaps[-2:]) >= 1.5 * min(gaps[:2]), gaps

    # Vault back: recovery within the capped backoff, with a fresh lease
    vault.clear_faults()
    wait_until(lambda: status(pod)["state"] == "ok", 12, what="recovery")
    wait_until(lambda: status(pod2)["state"] == "ok", 12, what="recovery of the second")
    d.wait_for_log(MSG_RECOVERED)
    user = (pod.target / "db-user").read_text()
    live = [l for l in vault.leases() if l["username"] == user]
    assert live and not live[0]["expired"] and not live[0]["revoked"]
    d.call("NodePublishVolume", pod.publish_request(vault, attrs))  # OK again
    assert status(pod)["consecutive_failures"] == 0
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    d.call("NodeUnpublishVolume", pod2.unpublish_request())
    assert_clean(pod, node, vault)
    lines = d.log.splitlines()[log_start:]
    # once per state change and volume, not once per attempt
    for p in (pod, pod2):
        mine = [l for l in lines if p.volume_id in l]
        assert sum(MSG_SECRET_STALE in l for l in mine) == 1
        assert sum(MSG_RECOVERED in l for l in mine) == 1


def count_secret_reads(vault, seq0):
    reqs = request_log(vault, seq0)["requests"]
    return len([r for r in reqs if r["path"].startswith("/v1/secret/data/")])


@pytest.mark.parametrize("retry_after", [None, 3])
def test_429_storm_slows_every_volume_of_the_server(node, vault, retry_after):
    d = node(FAST[:2] + ["--refresh-backoff-min=1s", "--refresh-backoff-max=4s",
                         "--refresh-request-timeout=3s"])
    pods = [Pod(node.pods, name="p%d" % i) for i in range(5)]
    for p in pods:
        d.call("NodePublishVolume", p.publish_request(vault, kv_objects(interval="1s")))
    seq0 = request_log(vault)["last_seq"]
    time.sleep(3)
    normal = count_secret_reads(vault, seq0) / 3.0
    assert normal >= 3.0, normal  # 5 volumes, one read a second each

    fault = {"type": "rate_limit", "count": None, "path": "/v1/secret/*"}
    if retry_after:
        fault["retry_after"] = retry_after
    vault.fault(**fault)
    seq1 = request_log(vault)["last_seq"]
    time.sleep(9)
    storm = count_secret_reads(vault, seq1) / 9.0
    # server-wide pause: 1 s doubling to 4 s (or Retry-After 3 s), one probe each
    assert storm <= 1.0, storm
    assert storm < normal / 3, (storm, normal)
    vault.clear_faults()
    for p in pods:
        wait_until(lambda: status(p)["state"] == "ok", 10, what="recovery")
    for p in pods:
        d.call("NodeUnpublishVolume", p.unpublish_request())
    for p in pods:
        assert not p.target.exists()


def test_refresh_rate_limit_per_server(node, vault):
    d = node(FAST + ["--refresh-rate=2", "--refresh-burst=1"])
    pods = [Pod(node.pods, name="r%d" % i) for i in range(6)]
    for p in pods:  # first publishes are not held by the refresh budget
        d.call("NodePublishVolume", p.publish_request(vault, kv_objects(interval="1s")),
               timeout=10)
    seq0 = request_log(vault)["last_seq"]
    time.sleep(5)
    n = count_secret_reads(vault, seq0)
    assert n <= 2 * 5 + 3, n  # 6 volumes would want ~30
    assert n >= 5, n
    for p in pods:
        d.call("NodeUnpublishVolume", p.unpublish_request())


def test_restart_mid_life_no_expired_credential(node, vault):
    vault.api("POST", "/admin/roles", {"mount": "database", "name": "mid",
                                       "role": {"default_ttl": "6s", "max_ttl": "40s"}})
    d = node(FAST)
    pod = Pod(node.pods)
    objects = ("- objectName: db-user\n  secretPath: database/creds/mid\n  secretKey: username\n"
               "- objectName: username\n  secretPath: secret/data/myapp/config\n"
               "  secretKey: username\n")
    attrs = {"roleName": "demo", "objects": objects, "refreshInterval": "1s"}
    d.call("NodePublishVolume", pod.publish_request(vault, attrs))
    problems, samples = [], [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            t_read = time.time()
            try:
                user = (pod.target / "db-user").read_text()
            except OSError as e:
                problems.append("read failed: %s" % e)
                continue
            lease = [l for l in vault.leases() if l["username"] == user]
            if not lease:
                problems.append("no lease for %s" % user)
            else:
                le = lease[0]
                end = min(le["expire_time"], le["revoked_time"] or le["expire_time"])
                if end < t_read - 0.05:
                    problems.append("expired credential seen at %.2f (ended %.2f)"
                                    % (t_read, end))
            samples[0] += 1
            time.sleep(0.1)

    th = threading.Thread(target=sampler)
    th.start()
    try:
        time.sleep(3)
        assert d.stop() == 0
        d2 = node(FAST, name="restarted")
        d2.wait_for_log("back on the refresh schedule")
        renews = vault.requests_to("sys/leases/renew")
        kv_reads = vault.requests_to("secret/data/myapp/config")
        time.sleep(9)
        # refresh resumed with the kept token: renewals and KV reads go on
        assert vault.requests_to("sys/leases/renew") > renews
        assert vault.requests_to("secret/data/myapp/config") >= kv_reads + 4
    finally:
        stop.set()
        th.join()
    assert problems == [], problems[:5]
    assert samples[0] > 50
    assert status(pod)["state"] == "ok"
    assert len(vault.live_tokens()) == 1  # the same token, no new login
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_restart_with_dead_token_waits_for_republish(node, vault):
    d = node(FAST)
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "objects": DB_SHORT.replace("short", "readonly")}
    d.call("NodePublishVolume", pod.publish_request(vault, attrs))
    user1 = (pod.target / "db-user").read_text()
    accessor = record(node, pod)["token_accessor"]
    assert d.stop() == 0
    # the token dies while the daemon is down; its lease goes with it
    vault.api("POST", "/admin/tokens/expire", {"accessor": accessor})
    d2 = node(FAST, name="restarted")
    st = wait_until(lambda: status(pod)["state"] in ("stale", "waiting-for-token")
                    and status(pod), 10, what="waiting for a token")
    assert "token" in st["last_error"]
    assert (pod.target / "db-user").read_text() == user1  # nothing destroyed
    # the next republish brings a pod JWT: login, new lease, files swapped, OK
    d2.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=30)
    wait_until(lambda: status(pod)["state"] == "ok", 5, what="ok after republish")
    user2 = (pod.target / "db-user").read_text()
    assert user2 != user1
    live = [l for l in vault.leases() if l["username"] == user2]
    assert live and not live[0]["revoked"] and not live[0]["expired"]
    assert len(vault.live_tokens()) == 1
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_unpublish_stops_every_request_for_the_volume(node, vault):
    vault.write_secret("secret", "a", {"username": "a"})
    vault.write_secret("secret", "b", {"username": "b"})
    d = node(FAST)
    pa, pb = Pod(node.pods, name="a"), Pod(node.pods, name="b")
    d.call("NodePublishVolume", pa.publish_request(vault, kv_objects("secret/data/a", "1s")))
    d.call("NodePublishVolume", pb.publish_request(vault, kv_objects("secret/data/b", "1s")))
    acc_a = record(node, pa)["token_accessor"]
    acc_b = record(node, pb)["token_accessor"]
    time.sleep(1.5)
    # a refresh of A is in flight (slow Vault) when the unpublish arrives
    vault.fault(type="latency", ms=1200, count=None, path="/v1/secret/data/a")
    time.sleep(1.0)
    d.call("NodeUnpublishVolume", pa.unpublish_request(), timeout=30)
    count_a = vault.counters()["tokens"].get(acc_a, 0)
    reads_a = vault.requests_to("secret/data/a")
    count_b = vault.counters()["tokens"].get(acc_b, 0)
    time.sleep(4)
    assert vault.counters()["tokens"].get(acc_a, 0) == count_a
    assert vault.requests_to("secret/data/a") == reads_a
    assert vault.counters()["tokens"].get(acc_b, 0) >= count_b + 2  # B goes on
    vault.clear_faults()
    d.call("NodeUnpublishVolume", pb.unpublish_request())
    assert not pa.target.exists() and not pb.target.exists()
    assert vault.live_tokens() == []


def test_republish_during_refresh_answers_at_once(node, vault):
    d = node(FAST)
    pod = Pod(node.pods)
    attrs = kv_objects(interval="1s")
    d.call("NodePublishVolume", pod.publish_request(vault, attrs))
    # every refresh read now takes 2 s, so the refresh thread holds the volume
    vault.fault(type="latency", ms=2000, count=None, path="/v1/secret/*")
    time.sleep(1.5)
    worst = 0.0
    for _ in range(5):
        t0 = time.monotonic()
        d.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=10)  # OK
        worst = max(worst, time.monotonic() - t0)
        time.sleep(0.3)
    assert worst < 1.0, worst  # never waits for the running refresh
    assert "republish of volume '%s' during its refresh" % pod.volume_id in d.log
    vault.clear_faults()
    d.call("NodeUnpublishVolume", pod.unpublish_request(), timeout=30)
    assert_clean(pod, node, vault)


def test_refresh_failure_says_not_retried_not_budget_spent(node, vault):
    """Refresh requests get one attempt (the schedule retries them): the error
    says so instead of claiming a spent time budget."""
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(vault, kv_objects(interval="1s")))
    vault.fault(type="status", status=500, count=None, path="/v1/secret/*")
    st = wait_until(lambda: status(pod).get("last_error") and status(pod), 10,
                    what="a failed refresh in the status file")
    vault.clear_faults()
    assert "time budget" not in st["last_error"], st["last_error"]
    assert "not retried" in st["last_error"] and "refresh schedule" in st["last_error"], \
        st["last_error"]
    wait_until(lambda: status(pod)["state"] == "ok", 10, what="recovery")
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


MSG_REVOKE_DENIED = "policy does not allow sys/leases/revoke"


def test_lease_revoke_denied_warns_once_and_rotates(node, vault):
    """A role without `sys/leases/revoke` (Vault's default policy denies it):
    replaced leases cannot be revoked; one warning with the policy line, and the
    files go on rotating (the old lease expires with its TTL)."""
    vault.set_role("auth/kubernetes", "norevoke", {
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"],
        "audience": "vault", "token_policies": ["kv-read", "db-creds"],
        "token_ttl": "1h", "token_max_ttl": "24h"})
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "norevoke",
                                                           "objects": DB_SHORT}))
    users = [(pod.target / "db-user").read_text()]

    def rotated():
        u = (pod.target / "db-user").read_text()
        if u != users[-1]:
            users.append(u)
        return len(users) >= 4
    # short: 2 s TTL, 6 s max: a replacement every few seconds
    wait_until(rotated, 40, step=0.2, what="three lease replacements")
    assert vault.requests_to("sys/leases/revoke") >= 2
    lines = [l for l in d.log.splitlines() if MSG_REVOKE_DENIED in l]
    assert len(lines) == 1, lines
    assert 'path \\"sys/leases/revoke\\"' in lines[0] or 'path "sys/leases/revoke"' in lines[0]
    assert "eyJ" not in d.log and "hvs." not in d.log
    assert status(pod)["state"] == "ok"
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


MSG_REFRESH_BUDGET = "56925955cf7c40f2a238fe1609af82da"


def short_token_role(vault, ttl="6s"):
    vault.set_role("auth/kubernetes", "shorttok", {
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"],
        "audience": "vault", "token_policies": ["kv-read", "db-creds", "lease-admin"],
        "token_ttl": ttl, "token_max_ttl": ttl})


def expired_before_replaced(vault, role="shorttok"):
    """Per service account (one volume each), its chain of Vault tokens: those
    that expired before the next login replaced them."""
    chains = {}
    for t in vault.tokens()["tokens"]:
        if t.get("role") == role:
            chains.setdefault(t["metadata"]["service_account_name"], []).append(t)
    out, slack = [], []
    for sa, toks in chains.items():
        toks.sort(key=lambda t: t["issue_time"])
        for a, b in zip(toks, toks[1:]):
            if a["expire_time"] is None:
                continue
            slack.append(a["expire_time"] - b["issue_time"])
            if b["issue_time"] >= a["expire_time"]:
                out.append("%s: expired %.2f s before its re-login"
                           % (sa, b["issue_time"] - a["expire_time"]))
    if slack:
        print("re-logins: %d, least time left on the old token %.2f s"
              % (len(slack), min(slack)))
    return out, sum(len(t) for t in chains.values())


def publish_many(d, vault, pods, attrs):
    for p in pods:
        d.call("NodePublishVolume", p.publish_request(vault, attrs), timeout=30)


def test_overload_token_relogin_goes_before_kv_rereads(node, vault):
    """Item 14.9: 30 volumes whose KV re-reads are always due (1 s interval)
    against a budget of 4 requests/s, and 3 volumes whose Vault tokens (9 s,
    not extendable past that) need a new login every 6 s, 3 s before expiry.
    The re-logins go first: no token expires before its replacement."""
    short_token_role(vault, ttl="9s")
    d = node(FAST + ["--refresh-rate=4", "--refresh-burst=2"])
    kv = [Pod(node.pods, name="kv%d" % i) for i in range(30)]
    tok = [Pod(node.pods, name="tok%d" % i, sa="tok%d" % i) for i in range(3)]
    publish_many(d, vault, kv, kv_objects(interval="1s"))
    publish_many(d, vault, tok, {**kv_objects(interval="1s"), "roleName": "shorttok"})
    time.sleep(25)  # ~4 token generations per volume
    bad, logins = expired_before_replaced(vault)
    assert bad == [], bad
    assert logins >= 3 + 3 * 2, logins  # the re-logins did happen
    for p in tok:
        assert status(p)["state"] == "ok", status(p)
    for p in kv + tok:
        d.call("NodeUnpublishVolume", p.unpublish_request(), timeout=30)


def test_budget_exhausted_is_said_once(node, vault):
    """When even the expiry-critical work does not fit in the budget, one
    warning (MESSAGE_ID, REFRESH_BUDGET=exhausted), the status file says so,
    and the gauge is 1."""
    short_token_role(vault, ttl="3s")
    d = node(FAST + ["--refresh-rate=1", "--refresh-burst=1", "--metrics-address=127.0.0.1:0"])
    tok = [Pod(node.pods, name="tok%d" % i, sa="tok%d" % i) for i in range(8)]
    publish_many(d, vault, tok, {**kv_objects(interval="1s"), "roleName": "shorttok"})
    line = d.wait_for_log(r"REFRESH_BUDGET=exhausted", timeout=40)
    assert "refresh budget" in line and "MESSAGE_ID=" + MSG_REFRESH_BUDGET in line
    assert "eyJ" not in d.log
    wait_until(lambda: any(status(p).get("refresh_budget") == "exhausted" for p in tok), 20,
               what="refresh_budget in a status file")
    assert Scrape(metrics_port(d)).get("vaultmount_refresh_budget_exhausted",
                                       server="default") == 1
    time.sleep(3)
    assert len([l for l in d.log.splitlines() if "REFRESH_BUDGET=exhausted" in l]) == 1
    for p in tok:
        d.call("NodeUnpublishVolume", p.unpublish_request(), timeout=30)


def test_restart_token_checks_first(node, vault):
    """Item 14.10: after a restart, every volume's kept token is checked
    (lookup-self) before the KV re-reads that fell due while the daemon was
    down; with refresh-rate R and burst B, N volumes take about
    max(2 s spread, (N - B) / R). Prints the measured figure."""
    n, rate, burst = 60, 10, 10
    args = FAST + ["--refresh-rate=%d" % rate, "--refresh-burst=%d" % burst]
    d = node(args)
    pods = [Pod(node.pods, name="r%d" % i) for i in range(n)]
    publish_many(d, vault, pods, kv_objects(interval="2s"))
    time.sleep(3)  # every kept KV due time is in the past now
    assert d.stop() == 0
    lookups0 = vault.requests_to("auth/token/lookup-self")
    t0 = time.monotonic()
    d2 = node(args, name="restarted")
    seen = []
    while time.monotonic() - t0 < 40:
        k = vault.requests_to("auth/token/lookup-self") - lookups0
        seen.append((time.monotonic() - t0, k))
        if k >= n:
            break
        time.sleep(0.05)
    took = seen[-1][0]
    print("restart: %d token checks done after %.2f s (refresh-rate=%d, burst=%d)"
          % (n, took, rate, burst))
    assert seen[-1][1] >= n, seen[-5:]
    # (N - B) / R = 5 s of budget; KV re-reads in between would double it
    assert took <= (n - burst) / rate + 3.0, took
    for p in pods:
        d2.call("NodeUnpublishVolume", p.unpublish_request(), timeout=30)
