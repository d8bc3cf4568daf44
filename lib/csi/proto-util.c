/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto-util.c - descriptor-driven helpers for protobuf-c messages.
 */
#include <stdio.h>

#include "proto-util.h"
#include "utf8.h"
#include "macro.h"

static void wipe_value(const ProtobufCFieldDescriptor *f, void *p) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                char *s = *(char **)p;
                /* protobuf-c points unset strings at a shared "" default */
                if (s && s != (const char *)f->default_value && *s)
                        explicit_bzero(s, strlen(s));
                break;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                ProtobufCBinaryData *b = p;
                if (b->data && b->len)
                        explicit_bzero(b->data, b->len);
                break;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                if (*(ProtobufCMessage **)p)
                        proto_wipe_strings(*(ProtobufCMessage **)p);
                break;
        default:
                break;
        }
}

void proto_wipe_strings(ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d;
        if (!m)
                return;
        d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                char *member = (char *)m + f->offset;

                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(size_t *)((char *)m + f->quantifier_offset);
                        char *arr = *(char **)member;
                        size_t sz;
                        switch (f->type) {
                        case PROTOBUF_C_TYPE_STRING:
                        case PROTOBUF_C_TYPE_MESSAGE:
                                sz = sizeof(void *);
                                break;
                        case PROTOBUF_C_TYPE_BYTES:
                                sz = sizeof(ProtobufCBinaryData);
                                break;
                        default:
                                continue;
                        }
                        for (size_t k = 0; arr && k < n; k++)
                                wipe_value(f, arr + k * sz);
                        continue;
                }
                if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
                        continue;
                wipe_value(f, member);
        }
}

static int check_value(const ProtobufCFieldDescriptor *f, const void *p, const char **ret_field) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = *(char *const *)p;
                if (s && !utf8_valid(s, strlen(s))) {
                        *ret_field = f->name;
                        return -EILSEQ;
                }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *)p) {
                /* name the path: "volume_context.value", not just "value" */
                static _Thread_local char path[256];
                const char *inner = NULL;
                int r = proto_check_utf8(*(ProtobufCMessage *const *)p, &inner);
                if (r < 0) {
                        char tmp[256];
                        (void)snprintf(tmp, sizeof(tmp), "%s.%s", f->name, inner);
                        memcpy(path, tmp, sizeof(path));
                        *ret_field = path;
                }
                return r;
        }
        return 0;
}

int proto_check_utf8(const ProtobufCMessage *m, const char **ret_field) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *member = (const char *)m + f->offset;
                int r;
                if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
                        void *const *arr = *(void *const *const *)member;
                        for (size_t k = 0; arr && k < n; k++)
                                if ((r = check_value(f, &arr[k], ret_field)) < 0)
                                        return r;
                        continue;
                }
                if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                        continue;
                if ((r = check_value(f, member, ret_field)) < 0)
                        return r;
        }
        return 0;
}

const char *proto_library_version(void) {
        return protobuf_c_version();
}

/* --- the wire walk ------------------------------------------------------------ */

#define WIRE_DEPTH_MAX 32

typedef struct WirePath {
        char text[256];
        const char *names[WIRE_DEPTH_MAX];
        unsigned depth;
} WirePath;

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret) {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
                uint8_t b = *(*p)++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* "volume_context.value" from the names on the way down. */
static const char *wire_path_name(WirePath *w, const char *leaf) {
        size_t o = 0;
        w->text[0] = 0;
        for (unsigned i = 0; i <= w->depth; i++) {
                const char *n = i < w->depth ? w->names[i] : leaf;
                int k = snprintf(w->text + o, sizeof(w->text) - o, "%s%s", i ? "." : "", n);
                if (k < 0 || (size_t)k >= sizeof(w->text) - o)
                        break;
                o += (size_t)k;
        }
        return w->text;
}

static int wire_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                     WirePath *w, const char **ret_field) {
        while (p < end) {
                const ProtobufCFieldDescriptor *f;
                uint64_t tag, n;
                int r;

                if (!wire_varint(&p, end, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
                        return -EBADMSG;
                switch (tag & 7) {
                case 0:
                        if (!wire_varint(&p, end, &n))
                                return -EBADMSG;
                        continue;
                case 1:
                case 5:
                        n = (tag & 7) == 1 ? 8 : 4;
                        if ((uint64_t)(end - p) < n)
                                return -EBADMSG;
                        p += n;
                        continue;
                case 2:
                        break;
                default: /* groups: protobuf-c does not take them either */
                        return -EBADMSG;
                }
                if (!wire_varint(&p, end, &n) || n > (uint64_t)(end - p))
                        return -EBADMSG;
                f = protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
                if (f && f->type == PROTOBUF_C_TYPE_STRING) {
                        if (memchr(p, 0, n)) {
                                *ret_field = wire_path_name(w, f->name);
                                return -EINVAL;
                        }
                        if (!utf8_valid((const char *)p, n)) {
                                *ret_field = wire_path_name(w, f->name);
                                return -EILSEQ;
                        }
                } else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                        if (w->depth >= WIRE_DEPTH_MAX)
                                return -EBADMSG;
                        w->names[w->depth++] = f->name;
                        r = wire_walk(f->descriptor, p, p + n, w, ret_field);
                        w->depth--;
                        if (r < 0)
                                return r;
                }
                p += n;
        }
        return 0;
}

int proto_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                     const char **ret_field) {
        static _Thread_local WirePath w;
        const char *field = NULL;
        int r;

        if (!d || (!data && len > 0))
                return -EINVAL;
        w.depth = 0;
        r = wire_walk(d, data, data + len, &w, &field);
        if (ret_field)
                *ret_field = r < 0 ? (field ? field : "") : NULL;
        return r;
}
