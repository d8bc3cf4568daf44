/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-node.c - the Node service: capabilities, info, and the spec's request
 * validation for publish/unpublish (CSI v1.12 "NodePublishVolume" and
 * csi-facts sections 1.4 and 2).
 */
#include <time.h>

#include "config-defaults.h"
#include "csi-node.h"
#include "csi-service.h"
#include "log.h"
#include "metrics.h"
#include "macro.h"

#define POD_NAME_KEY      "csi.storage.k8s.io/pod.name"
#define POD_NAMESPACE_KEY "csi.storage.k8s.io/pod.namespace"
#define POD_UID_KEY       "csi.storage.k8s.io/pod.uid"

const char *csi_node_context_get(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry **entries,
                                 size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (entries[i]->key && streq(entries[i]->key, key))
                        return entries[i]->value;
        return NULL;
}

static int validate_capability(const char *method, const Csi__V1__VolumeCapability *cap,
                               CsiStatus *st) {
        if (!cap) {
                csi_status_set(st, CSI_INVALID_ARGUMENT, "%s: volume_capability is required",
                               method);
                return -EINVAL;
        }
        switch (cap->access_type_case) {
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT:
                break;
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK:
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: block access is not supported: vaultmount volumes are "
                               "filesystems (use access type mount)",
                               method);
                return -EINVAL;
        default:
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: volume_capability must set an access type (mount)", method);
                return -EINVAL;
        }
        if (!cap->access_mode) {
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: volume_capability.access_mode is required", method);
                return -EINVAL;
        }
        switch (cap->access_mode->mode) {
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER:
                return 0;
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: access mode %d needs the SINGLE_NODE_MULTI_WRITER "
                               "capability, which vaultmount does not advertise",
                               method, (int)cap->access_mode->mode);
                return -EINVAL;
        default:
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: volume_capability.access_mode.mode %d is unknown or unset",
                               method, (int)cap->access_mode->mode);
                return -EINVAL;
        }
}

/*
 * volume_id and target_path name a directory, a state key and log fields:
 * control characters (C0, DEL, C1) have no business there. NUL never gets
 * here (grpc-server refuses it at the wire length).
 */
static int check_text(const char *method, const char *field, const char *s, CsiStatus *st) {
        const unsigned char *u = (const unsigned char *)s;
        for (size_t i = 0; u[i]; i++) {
                unsigned c = u[i];
                if (c == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
                        c = u[i + 1]; /* U+0080..U+009F in UTF-8 */
                else if (c >= 0x20 && c != 0x7f)
                        continue;
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: %s contains the control character 0x%02x at byte %zu; "
                               "control characters are not allowed",
                               method, field, c, i);
                return -EINVAL;
        }
        return 0;
}

static int validate_ids(const char *method, const char *volume_id, const char *target_path,
                        CsiStatus *st) {
        if (isempty(volume_id)) {
                csi_status_set(st, CSI_INVALID_ARGUMENT, "%s: volume_id is required", method);
                return -EINVAL;
        }
        if (isempty(target_path)) {
                csi_status_set(st, CSI_INVALID_ARGUMENT, "%s: target_path is required", method);
                return -EINVAL;
        }
        if (check_text(method, "volume_id", volume_id, st) < 0 ||
            check_text(method, "target_path", target_path, st) < 0)
                return -EINVAL;
        return 0;
}

int csi_node_validate_publish(const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st) {
        if (validate_ids("NodePublishVolume", req->volume_id, req->target_path, st) < 0)
                return -EINVAL;
        return validate_capability("NodePublishVolume", req->volume_capability, st);
}

int csi_node_validate_unpublish(const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st) {
        return validate_ids("NodeUnpublishVolume", req->volume_id, req->target_path, st);
}

void csi_node_get_capabilities(_unused_ void *userdata, RpcCall *call,
                               _unused_ const ProtobufCMessage *req, ProtobufCMessage *resp,
                               CsiStatus *st, _unused_ LogContext *ctx) {
        /*
         * Only implemented capabilities are advertised: VOLUME_MOUNT_GROUP
         * (the tmpfs gid= and group-owned 0440 files). Staging, expansion and
         * volume stats make no sense for a tmpfs of secrets.
         */
        Csi__V1__NodeGetCapabilitiesResponse *r = (Csi__V1__NodeGetCapabilitiesResponse *)resp;
        Csi__V1__NodeServiceCapability *cap = rpc_call_alloc(call, sizeof(*cap));
        Csi__V1__NodeServiceCapability__RPC *rpc = rpc_call_alloc(call, sizeof(*rpc));
        Csi__V1__NodeServiceCapability **list = rpc_call_alloc(call, sizeof(*list));

        if (!cap || !rpc || !list) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodeGetCapabilities: out of memory");
                return;
        }
        csi__v1__node_service_capability__init(cap);
        csi__v1__node_service_capability__rpc__init(rpc);
        rpc->type = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP;
        cap->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
        cap->rpc = rpc;
        list[0] = cap;
        r->capabilities = list;
        r->n_capabilities = 1;
}

void csi_node_get_info(void *userdata, _unused_ RpcCall *call, _unused_ const ProtobufCMessage *req,
                       ProtobufCMessage *resp, _unused_ CsiStatus *st, _unused_ LogContext *ctx) {
        const CsiDriver *d = userdata;
        Csi__V1__NodeGetInfoResponse *r = (Csi__V1__NodeGetInfoResponse *)resp;

        r->node_id = d->config->node_id;
        r->max_volumes_per_node = d->config->max_volumes_per_node;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t)(usec / 1000000),
                               .tv_nsec = (long)(usec % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void csi_node_publish_volume(void *userdata, _unused_ RpcCall *call, const ProtobufCMessage *m,
                             _unused_ ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx) {
        const CsiDriver *d = userdata;
        const Csi__V1__NodePublishVolumeRequest *req = (const Csi__V1__NodePublishVolumeRequest *)m;

        ctx->volume_id = req->volume_id;
        ctx->target_path = req->target_path;
        ctx->pod_namespace =
                csi_node_context_get(req->volume_context, req->n_volume_context, POD_NAMESPACE_KEY);
        ctx->pod_name =
                csi_node_context_get(req->volume_context, req->n_volume_context, POD_NAME_KEY);
        ctx->pod_uid =
                csi_node_context_get(req->volume_context, req->n_volume_context, POD_UID_KEY);

        if (d->config->test_publish_delay_usec > 0) {
                log_debug("test-publish-delay: holding this worker for %llu ms",
                          (unsigned long long)(d->config->test_publish_delay_usec / 1000));
                sleep_usec(d->config->test_publish_delay_usec);
        }

        if (csi_node_validate_publish(req, st) < 0)
                return;

        log_debug("publish request for volume '%s' validated", req->volume_id);
        csi_publish(d->publisher, req, st);
        /* the pod's name labels the volume's series and its later records */
        if (st->code == CSI_OK && d->publisher)
                (void)metrics_volume_set(d->publisher->metrics, req->volume_id, ctx->pod_namespace,
                                         ctx->pod_name, ctx->pod_uid);
}

void csi_node_unpublish_volume(void *userdata, RpcCall *call, const ProtobufCMessage *m,
                               _unused_ ProtobufCMessage *resp, CsiStatus *st, LogContext *ctx) {
        const CsiDriver *d = userdata;
        const Csi__V1__NodeUnpublishVolumeRequest *req =
                (const Csi__V1__NodeUnpublishVolumeRequest *)m;
        Metrics *metrics = d->publisher ? d->publisher->metrics : NULL;
        MetricsVolumeIdentity *id;

        ctx->volume_id = req->volume_id;
        ctx->target_path = req->target_path;
        if (csi_node_validate_unpublish(req, st) < 0)
                return;
        /* the request does not name the pod; what its publish said does
         * (kept until the call is answered: the outcome line carries it too) */
        id = metrics ? rpc_call_alloc(call, sizeof(*id)) : NULL;
        if (id && metrics_volume_get(metrics, req->volume_id, id) == 0) {
                ctx->pod_namespace = id->ns[0] ? id->ns : NULL;
                ctx->pod_name = id->pod[0] ? id->pod : NULL;
                ctx->pod_uid = id->uid[0] ? id->uid : NULL;
        }
        csi_unpublish(d->publisher, req, st);
        if (st->code == CSI_OK && metrics) {
                VolumeHealth h; /* gone from the table (not: published at another target) */
                if (volume_table_get_health(d->publisher->volumes, req->volume_id, &h) == -ENOENT)
                        metrics_volume_forget(metrics, req->volume_id);
        }
}

void csi_node_unsupported(_unused_ void *userdata, _unused_ RpcCall *call,
                          const ProtobufCMessage *req, _unused_ ProtobufCMessage *resp,
                          CsiStatus *st, _unused_ LogContext *ctx) {
        const char *name = req->descriptor->short_name;
        size_t n = strlen(name);
        /* "NodeStageVolumeRequest" -> "NodeStageVolume" */
        if (n > 7 && streq(name + n - 7, "Request"))
                n -= 7;
        csi_status_set(st, CSI_UNIMPLEMENTED,
                       "%.*s is not supported: vaultmount does not advertise the capability "
                       "for it",
                       (int)n, name);
}
