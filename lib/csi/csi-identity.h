/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-identity.h - CSI Identity service: GetPluginInfo,
 * GetPluginCapabilities (none: a node-only driver), Probe.
 * Never logs above debug; thread-safe (reads the immutable Config only).
 */
#pragma once

#include "grpc-server.h"

void csi_identity_get_plugin_info(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                                  ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
void csi_identity_get_plugin_capabilities(void *userdata, RpcCall *call,
                                          const ProtobufCMessage *req, ProtobufCMessage *resp,
                                          CsiStatus *st, LogContext *ctx);
void csi_identity_probe(void *userdata, RpcCall *call, const ProtobufCMessage *req,
                        ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx);
