/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-identity.c - the Identity service. The plugin name was validated
 * against the spec's rules at start-up (config.c); vendor_version is the
 * meson project version.
 */
#include "config-defaults.h"
#include "csi-identity.h"
#include "csi-service.h"
#include "csi.pb-c.h"
#include "macro.h"

void csi_identity_get_plugin_info(void *userdata, _unused_ RpcCall *call,
                                  _unused_ const ProtobufCMessage *req, ProtobufCMessage *resp,
                                  _unused_ CsiStatus *st, _unused_ LogContext *ctx) {
        const CsiDriver *d = userdata;
        Csi__V1__GetPluginInfoResponse *r = (Csi__V1__GetPluginInfoResponse *)resp;

        r->name = d->config->driver_name;
        r->vendor_version = (char *)VAULTMOUNT_VERSION;
}

void csi_identity_get_plugin_capabilities(_unused_ void *userdata, _unused_ RpcCall *call,
                                          _unused_ const ProtobufCMessage *req,
                                          _unused_ ProtobufCMessage *resp, _unused_ CsiStatus *st,
                                          _unused_ LogContext *ctx) {
        /* Node-only: no CONTROLLER_SERVICE, no accessibility constraints. */
}

void csi_identity_probe(_unused_ void *userdata, RpcCall *call,
                        _unused_ const ProtobufCMessage *req, ProtobufCMessage *resp, CsiStatus *st,
                        _unused_ LogContext *ctx) {
        Csi__V1__ProbeResponse *r = (Csi__V1__ProbeResponse *)resp;
        Csi__V1__BoolValue *ready = rpc_call_alloc(call, sizeof(*ready));

        if (!ready) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "Probe: out of memory");
                return;
        }
        csi__v1__bool_value__init(ready);
        ready->value = true;
        r->ready = ready;
}
