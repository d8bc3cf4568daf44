#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the valid-request seeds of corpus/csi-request/ from csi-spec/csi.proto.

Run from the source root with Debian's interpreter (python3-protobuf):
    /usr/bin/python3 test/fuzz/gen-csi-request-seeds.py test/fuzz/corpus/csi-request

The messages are encoded by python3-protobuf from classes that protoc
generates into a temporary directory, i.e. by an implementation other than
protobuf-c. The hand-made seeds (empty, truncated, unknown-field, ...) and
crashers found by libFuzzer are kept as they are.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "csi-spec")


def load_csi_pb2(tmp):
    subprocess.run(["protoc", "--proto_path=" + SRC, "--proto_path=/usr/include",
                    "--python_out=" + tmp, "csi.proto"], check=True)
    sys.path.insert(0, tmp)
    import csi_pb2  # noqa: E402
    return csi_pb2


def main():
    out = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        c = load_csi_pb2(tmp)

        def w(name, msg_or_bytes):
            data = msg_or_bytes
            if not isinstance(data, bytes):
                data = data.SerializeToString()
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)

        def mount_cap(mode=1, fs="", flags=(), group=""):
            cap = c.VolumeCapability()
            cap.mount.fs_type = fs
            cap.mount.mount_flags.extend(flags)
            cap.mount.volume_mount_group = group
            cap.access_mode.mode = mode
            return cap

        # kubelet's NodePublishVolume for an inline volume (csi-facts 3.2)
        uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        vol = "csi-" + hashlib.sha256((uid + "vault-secrets").encode()).hexdigest()
        target = "/var/lib/kubelet/pods/%s/volumes/kubernetes.io~csi/vault-secrets/mount" % uid
        tokens = json.dumps({"vault": {"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
                                       "expirationTimestamp": "2026-01-01T00:00:00Z"}},
                            separators=(",", ":"), sort_keys=True)
        p = c.NodePublishVolumeRequest(volume_id=vol, target_path=target, readonly=True)
        p.volume_capability.CopyFrom(mount_cap(group="2000"))
        p.volume_context.update({
            "objects": "- name: db\n  path: kv/data/db\n  key: password\n",
            "csi.storage.k8s.io/pod.name": "web-0",
            "csi.storage.k8s.io/pod.namespace": "prod",
            "csi.storage.k8s.io/pod.uid": uid,
            "csi.storage.k8s.io/serviceAccount.name": "web",
            "csi.storage.k8s.io/ephemeral": "true",
        })
        p.secrets["csi.storage.k8s.io/serviceAccount.tokens"] = tokens
        w("publish-kubelet-inline", p)

        p = c.NodePublishVolumeRequest(volume_id="v", target_path="/t", staging_target_path="/s")
        p.volume_capability.CopyFrom(mount_cap(mode=7, fs="ext4", flags=["ro", "context=\"x\""]))
        p.publish_context["k"] = "v"
        w("publish-mode7-flags", p)

        p = c.NodePublishVolumeRequest(volume_id="v", target_path="/t")
        p.volume_capability.block.SetInParent()
        p.volume_capability.access_mode.mode = 1
        w("publish-block", p)

        p = c.NodePublishVolumeRequest(volume_id="v", target_path="/t")
        p.volume_capability.mount.SetInParent()
        w("publish-no-access-mode", p)

        # invalid UTF-8 in a map value: encode a valid one, then patch the bytes
        p = c.NodePublishVolumeRequest(volume_id="v", target_path="/t")
        p.volume_capability.CopyFrom(mount_cap())
        p.volume_context["k"] = "AAAA"
        w("publish-bad-utf8", p.SerializeToString().replace(b"AAAA", b"A\xc3\x28A"))

        w("unpublish", c.NodeUnpublishVolumeRequest(volume_id=vol, target_path=target))
        w("unpublish-empty-target", c.NodeUnpublishVolumeRequest(volume_id=vol))

        s = c.NodeStageVolumeRequest(volume_id="v1", staging_target_path="/stg")
        s.volume_capability.CopyFrom(mount_cap(mode=5))
        s.secrets["password"] = "hunter2"
        s.publish_context["pk"] = "pv"
        s.volume_context["ck"] = "cv"
        w("stage", s)
        w("unstage", c.NodeUnstageVolumeRequest(volume_id="v1", staging_target_path="/stg"))

        e = c.NodeExpandVolumeRequest(volume_id="v", volume_path="/p", staging_target_path="/s")
        e.capacity_range.required_bytes = 1 << 30
        e.capacity_range.limit_bytes = -1
        e.volume_capability.CopyFrom(mount_cap(mode=2))
        e.secrets["k"] = "v"
        w("expand", e)
        w("stats", c.NodeGetVolumeStatsRequest(volume_id="v", volume_path="/p",
                                               staging_target_path="/s"))

        # hand-made edge cases
        w("empty", b"")
        w("unknown-field", b"\x98\x06\x01")          # field 99, varint 1
        w("truncated", b"\x0a\x10abc")               # field 1, length 16, 3 bytes
        w("wrong-wire-type", b"\x2d\x01\x02\x03\x04")  # field 5 as fixed32
    return 0


if __name__ == "__main__":
    sys.exit(main())
