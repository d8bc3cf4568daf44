#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Starts vaultmountd and calls it as kubelet would for a pod's inline volume.

Kubelet's sequence (csi-facts sections 3-4): registration (GetInfo, then
NodeGetInfo), then per mount a new connection each for NodeGetCapabilities
(twice) and NodePublishVolume with the pod's token in `secrets`; at pod
deletion NodeUnpublishVolume. Each step prints what was sent and answered.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import vmtest  # noqa: E402
from vmtest import CallError, csi_pb2  # noqa: E402


def step(title):
    print("\n== " + title)


def main():
    tmp = tempfile.mkdtemp(prefix="vaultmount-demo-")
    d = vmtest.Daemon(tmp, args=["--node-id=demo-node", "--log-level=info"], name="node")
    d.start()
    print("vaultmountd running: pid %d, socket %s" % (d.proc.pid, d.socket))
    try:
        step("plugin registration: GetPluginInfo, NodeGetInfo")
        info = d.call("GetPluginInfo")
        print("driver %s, version %s" % (info.name, info.vendor_version))
        ni = d.call("NodeGetInfo")
        print("node_id %s, max_volumes_per_node %d" % (ni.node_id, ni.max_volumes_per_node))

        step("liveness: Probe (vaultmountd probe does the same)")
        print("ready:", d.call("Probe").ready.value)

        step("mount: NodeGetCapabilities (kubelet asks twice, one connection each)")
        for _ in range(2):
            caps = d.call("NodeGetCapabilities")
        print("capabilities:", [c.rpc.type for c in caps.capabilities] or "none")

        pod_uid = str(uuid.uuid4())
        volume = "vault-secrets"
        volume_id = "csi-" + hashlib.sha256((pod_uid + volume).encode()).hexdigest()
        target = os.path.join(tmp, "kubelet", "pods", pod_uid, "volumes", "kubernetes.io~csi",
                              volume, "mount")
        os.makedirs(os.path.dirname(target), mode=0o750)
        token = {"vault": {"token": "header.payload.signature-of-a-demo-jwt",
                           "expirationTimestamp": "2030-01-01T00:00:00Z"}}
        req = csi_pb2.NodePublishVolumeRequest(
            volume_id=volume_id, target_path=target, readonly=True,
            volume_capability=vmtest.mount_capability(),
            volume_context={
                "roleName": "demo",
                "csi.storage.k8s.io/pod.name": "demo-pod",
                "csi.storage.k8s.io/pod.namespace": "default",
                "csi.storage.k8s.io/pod.uid": pod_uid,
                "csi.storage.k8s.io/serviceAccount.name": "default",
                "csi.storage.k8s.io/ephemeral": "true",
            },
            secrets={"csi.storage.k8s.io/serviceAccount.tokens": json.dumps(token)})
        step("mount: NodePublishVolume (token in secrets, KEP-5538)")
        print("volume_id", volume_id)
        print("target   ", target)
        try:
            d.call("NodePublishVolume", req, timeout=120)
            print("published; files:", sorted(os.listdir(target)))
        except CallError as e:
            print("answer: %s: %s" % (e.code.name, e.details))

        step("pod deletion: NodeUnpublishVolume")
        d.call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=volume_id, target_path=target), timeout=120)
        print("unpublished")
    finally:
        step("SIGTERM: graceful shutdown")
        rc = d.stop()
        print("exit status", rc)
        print("\n-- daemon log (stderr, logfmt) --")
        print(d.log, end="")
        assert "header.payload.signature-of-a-demo-jwt" not in d.log
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
