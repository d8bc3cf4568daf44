/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-service.h - the CSI Identity and Node method table and the state the
 * handlers share.
 *
 * Handlers live in csi-identity.c and csi-node.c; they see protobuf-c
 * messages and CsiStatus, never gRPC types. This table decides which lane a
 * method runs on: Identity, NodeGetCapabilities, NodeGetInfo and the
 * unsupported Node calls answer on the fast lane; NodePublishVolume and
 * NodeUnpublishVolume, which do I/O, run on the worker lane.
 */
#pragma once

#include <stddef.h>

#include "config.h"
#include "csi-publish.h"
#include "grpc-server.h"

typedef struct CsiDriver {
        const Config *config;
        Publisher *publisher; /* the publish path: Vault servers and volumes */
} CsiDriver;

const RpcMethod *csi_service_methods(size_t *ret_n);
