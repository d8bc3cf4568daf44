/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-node.h - CSI Node service.
 *
 * NodeGetCapabilities advertises only what is implemented; NodeGetInfo
 * reports the configured node id and volume limit. NodePublishVolume and
 * NodeUnpublishVolume validate the spec's required fields before anything
 * touches the filesystem. Staging, expansion and volume stats are not
 * supported (UNIMPLEMENTED): a tmpfs of secrets has nothing to stage or grow.
 *
 * Never logs above debug (the RPC edge logs outcomes); thread-safe.
 */
#pragma once

#include "csi.pb-c.h"
#include "grpc-server.h"

/* Validation, exposed for unit tests. Return 0, or -EINVAL with st set. */
int csi_node_validate_publish(const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st);
int csi_node_validate_unpublish(const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st);

/* Pod identity keys kubelet adds to volume_context (podInfoOnMount). */
const char *csi_node_context_get(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry **entries,
                                 size_t n, const char *key);

void csi_node_get_capabilities(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                               ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
void csi_node_get_info(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                       ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
void csi_node_publish_volume(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                             ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
void csi_node_unpublish_volume(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                               ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
void csi_node_unsupported(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                          ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
