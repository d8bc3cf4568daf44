/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-service.c - the CSI method table: paths, message types, handlers, lanes.
 */
#include "csi-identity.h"
#include "csi-node.h"
#include "csi-service.h"
#include "csi.pb-c.h"
#include "macro.h"

#define METHOD(svc, name, msg, fn, is_fast, level)                                                 \
        {                                                                                          \
                .path = "/csi.v1." svc "/" #name,                                                  \
                .request = &csi__v1__##msg##_request__descriptor,                                  \
                .response = &csi__v1__##msg##_response__descriptor, .handler = fn,                 \
                .fast = is_fast, .ok_log_level = level,                                            \
        }

/* A Node method whose capability vaultmount does not advertise: UNIMPLEMENTED, at once. */
#define NODE_UNSUPPORTED(name, msg)                                                                \
        METHOD("Node", name, msg, csi_node_unsupported, true, LOG_LEVEL_DEBUG)

static const RpcMethod methods[] = {
        METHOD("Identity", GetPluginInfo, get_plugin_info, csi_identity_get_plugin_info, true,
               LOG_LEVEL_DEBUG),
        METHOD("Identity", GetPluginCapabilities, get_plugin_capabilities,
               csi_identity_get_plugin_capabilities, true, LOG_LEVEL_DEBUG),
        METHOD("Identity", Probe, probe, csi_identity_probe, true, LOG_LEVEL_DEBUG),
        METHOD("Node", NodeGetCapabilities, node_get_capabilities, csi_node_get_capabilities, true,
               LOG_LEVEL_DEBUG),
        METHOD("Node", NodeGetInfo, node_get_info, csi_node_get_info, true, LOG_LEVEL_INFO),
        METHOD("Node", NodePublishVolume, node_publish_volume, csi_node_publish_volume, false,
               LOG_LEVEL_INFO),
        METHOD("Node", NodeUnpublishVolume, node_unpublish_volume, csi_node_unpublish_volume, false,
               LOG_LEVEL_INFO),
        NODE_UNSUPPORTED(NodeStageVolume, node_stage_volume),
        NODE_UNSUPPORTED(NodeUnstageVolume, node_unstage_volume),
        NODE_UNSUPPORTED(NodeGetVolumeStats, node_get_volume_stats),
        NODE_UNSUPPORTED(NodeExpandVolume, node_expand_volume),
};

const RpcMethod *csi_service_methods(size_t *ret_n) {
        *ret_n = ELEMENTSOF(methods);
        return methods;
}
