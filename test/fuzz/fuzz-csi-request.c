/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-csi-request.c - request bytes as the gRPC edge handles them.
 *
 * The input is unpacked as every Identity and Node request type. Each
 * message that unpacks goes through what grpc-server.c does with a request:
 * proto_check_utf8 and proto_check_wire, the Node publish/unpublish validation, then
 * proto_wipe_strings and free. Invariants are checked with abort():
 *   - a publish request that validates has a volume_id, a target_path and a
 *     mount capability with access mode 1..5;
 *   - a status message is one line (no control bytes);
 *   - proto_check_utf8 names a field whenever it fails;
 *   - after proto_wipe_strings every string byte is zero;
 *   - a message that unpacked packs again and unpacks again, unless it
 *     kept an unknown field numbered 0: protobuf-c 1.4 accepts field number
 *     0 in an over-long tag ("80 00") but rejects its own re-encoding of
 *     it. The server never re-packs a request, so that quirk is harmless
 *     here (corpus/csi-request/field-number-0 is the input libFuzzer found).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csi-node.h"
#include "csi.pb-c.h"
#include "proto-util.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const requests[] = {
        &csi__v1__get_plugin_info_request__descriptor,
        &csi__v1__get_plugin_capabilities_request__descriptor,
        &csi__v1__probe_request__descriptor,
        &csi__v1__node_stage_volume_request__descriptor,
        &csi__v1__node_unstage_volume_request__descriptor,
        &csi__v1__node_publish_volume_request__descriptor,
        &csi__v1__node_unpublish_volume_request__descriptor,
        &csi__v1__node_get_volume_stats_request__descriptor,
        &csi__v1__node_expand_volume_request__descriptor,
        &csi__v1__node_get_capabilities_request__descriptor,
        &csi__v1__node_get_info_request__descriptor,
};

static void check_status(const CsiStatus *st) {
        if (!st->set)
                return;
        if (st->code == CSI_OK || memchr(st->message, '\0', sizeof(st->message)) == NULL)
                abort();
        for (const char *p = st->message; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        abort();
}

/* Every string in the tree is all zero bytes (up to its original NUL). */
static void check_wiped(const ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *member = (const char *)m + f->offset;
                size_t n = 1;
                const void *const *arr = (const void *const *)member;

                if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        n = *(const size_t *)((const char *)m + f->quantifier_offset);
                        arr = *(const void *const *const *)member;
                } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                           *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                        continue;
                for (size_t k = 0; arr && k < n; k++) {
                        if (!arr[k])
                                continue;
                        if (f->type == PROTOBUF_C_TYPE_STRING) {
                                if (*(const char *)arr[k] != '\0')
                                        abort();
                        } else
                                check_wiped(arr[k]);
                }
        }
}

static void check_publish(const Csi__V1__NodePublishVolumeRequest *req) {
        CsiStatus st = CSI_STATUS_INIT;
        int r = csi_node_validate_publish(req, &st);
        check_status(&st);
        if (r < 0) {
                if (r != -EINVAL || !st.set || st.code != CSI_INVALID_ARGUMENT)
                        abort();
                return;
        }
        if (st.set || !req->volume_id || !*req->volume_id || !req->target_path ||
            !*req->target_path || !req->volume_capability ||
            req->volume_capability->access_type_case !=
                    CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT ||
            !req->volume_capability->mount || !req->volume_capability->access_mode ||
            req->volume_capability->access_mode->mode < 1 ||
            req->volume_capability->access_mode->mode > 5)
                abort();
        /* the pod keys are looked up the way the handler does */
        (void)csi_node_context_get(req->volume_context, req->n_volume_context,
                                   "csi.storage.k8s.io/pod.name");
}

static void check_unpublish(const Csi__V1__NodeUnpublishVolumeRequest *req) {
        CsiStatus st = CSI_STATUS_INIT;
        int r = csi_node_validate_unpublish(req, &st);
        check_status(&st);
        if (r == 0 && (st.set || !req->volume_id || !*req->volume_id || !req->target_path ||
                       !*req->target_path))
                abort();
        if (r < 0 && (r != -EINVAL || st.code != CSI_INVALID_ARGUMENT))
                abort();
}

/* An unknown field numbered 0 anywhere in the tree. */
static bool has_field_zero(const ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < m->n_unknown_fields; i++)
                if (m->unknown_fields[i].tag == 0)
                        return true;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *member = (const char *)m + f->offset;
                const void *const *arr = (const void *const *)member;
                size_t n = 1;

                if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        n = *(const size_t *)((const char *)m + f->quantifier_offset);
                        arr = *(const void *const *const *)member;
                } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                           *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                        continue;
                for (size_t k = 0; arr && k < n; k++)
                        if (arr[k] && has_field_zero(arr[k]))
                                return true;
        }
        return false;
}

static void repack(const ProtobufCMessage *m) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf;
        ProtobufCMessage *again;
        if (has_field_zero(m))
                return;
        buf = malloc(n ? n : 1);
        if (!buf)
                return;
        if (protobuf_c_message_pack(m, buf) != n)
                abort();
        again = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
        if (!again)
                abort();
        protobuf_c_message_free_unpacked(again, NULL);
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
                const ProtobufCMessageDescriptor *d = requests[i];
                ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, data);
                const char *bad = NULL;
                int r;

                if (!m)
                        continue;
                r = proto_check_utf8(m, &bad);
                if (r < 0 && (r != -EILSEQ || !bad || !*bad))
                        abort();
                {
                        /* the wire check is the stricter one, and names a field */
                        const char *wbad = NULL;
                        int w = proto_check_wire(d, data, size, &wbad);
                        if ((w == 0 && r < 0) || (w < 0 && !wbad) ||
                            (w < 0 && w != -EINVAL && w != -EILSEQ && w != -EBADMSG))
                                abort();
                        if (w < 0)
                                r = w;
                }
                if (r == 0) {
                        /* the server only hands valid requests to handlers */
                        if (d == &csi__v1__node_publish_volume_request__descriptor)
                                check_publish((const Csi__V1__NodePublishVolumeRequest *)m);
                        else if (d == &csi__v1__node_unpublish_volume_request__descriptor)
                                check_unpublish((const Csi__V1__NodeUnpublishVolumeRequest *)m);
                }
                repack(m);
                proto_wipe_strings(m);
                check_wiped(m);
                protobuf_c_message_free_unpacked(m, NULL);
        }
        return 0;
}
