/* SPDX-License-Identifier: Apache-2.0 */
/*
 * redact.c - descriptor-driven text form of protobuf-c messages, with the
 * stripping rules described in redact.h.
 *
 * Output goes through a small bounded writer (Out); once it is full every
 * further write is a no-op and the walk stops early, so the cost is bounded
 * by the buffer, not by the message.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "proto-util.h"
#include "utf8.h"
#include "redact.h"
#include "ytree.h"
#include "macro.h"

#define ELLIPSIS "..."

typedef struct Out {
        char *buf;
        size_t size; /* > sizeof(ELLIPSIS) */
        size_t len;
        bool full;
} Out;

/*
 * Fields stripped whatever the secret table says. The CSI spec: "mount_flags
 * MAY contain sensitive information" (VolumeCapability.MountVolume, field 2).
 */
static const CsiSecretField always_stripped[] = {
        { "csi.v1.VolumeCapability.MountVolume", 2, "mount_flags" },
};

/*
 * Volume attributes whose values are shown. Everything else in
 * volume_context is user-controlled (pod spec volumeAttributes) and may hold
 * anything, so its value is stripped and only its key shown. Add the
 * driver's own non-secret attributes here as they are defined.
 */
static const char *const shown_attributes[] = {
        /* kubelet, with podInfoOnMount */
        "csi.storage.k8s.io/pod.name",
        "csi.storage.k8s.io/pod.namespace",
        "csi.storage.k8s.io/pod.uid",
        "csi.storage.k8s.io/serviceAccount.name",
        "csi.storage.k8s.io/ephemeral",
        /* vaultmount's own (lib/volume-spec.h; `objects` is handled apart) */
        "roleName",
        "audience",
        "vaultServer",
        "vaultAddress",
        "vaultNamespace",
        "vaultAuthMountPath",
        "vaultKubernetesMountPath",
        "refreshInterval",
        /* rejected by vaultmount (TLS is the node admin's), shown to explain why */
        "vaultCACertPath",
        "vaultCADirectory",
        "vaultTLSServerName",
        "vaultTLSClientCertPath",
        "vaultTLSClientKeyPath",
        "vaultSkipTLSVerify",
};

/* The volume attribute holding the YAML list of objects to fetch. */
#define OBJECTS_ATTRIBUTE "objects"

/* Keys of one object in `objects` whose values are shown. Every other key's
 * value is stripped: secretArgs (keys shown), template, pkcs12Password. */
static const char *const shown_object_keys[] = {
        "objectName",     "secretPath", "secretKey", "method",
        "filePermission", "encoding",   "format",    "expand",
};

/* The object key whose mapping values are request parameters: keys shown, values stripped. */
#define SECRET_ARGS_KEY "secretArgs"

static void out_write(Out *o, const char *s, size_t n) {
        if (o->full)
                return;
        /* keep room for the ellipsis and the NUL */
        if (n > o->size - o->len - sizeof(ELLIPSIS)) {
                size_t room = o->size - o->len - sizeof(ELLIPSIS);
                /* never cut inside a UTF-8 sequence */
                while (room > 0 && ((unsigned char)s[room] & 0xc0) == 0x80)
                        room--;
                memcpy(o->buf + o->len, s, room);
                o->len += room;
                memcpy(o->buf + o->len, ELLIPSIS, sizeof(ELLIPSIS) - 1);
                o->len += sizeof(ELLIPSIS) - 1;
                o->full = true;
        } else {
                memcpy(o->buf + o->len, s, n);
                o->len += n;
        }
        o->buf[o->len] = '\0';
}

static void out_puts(Out *o, const char *s) {
        out_write(o, s, strlen(s));
}

static _printf_(2, 3) void out_printf(Out *o, const char *fmt, ...) {
        char tmp[64];
        va_list ap;
        int n;
        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                out_write(o, tmp, MIN((size_t)n, sizeof(tmp) - 1));
}

/* A double-quoted string: C escapes, invalid UTF-8 and control bytes as \xHH. */
static void out_quoted(Out *o, const char *s, size_t n) {
        static const char hex[] = "0123456789abcdef";
        bool utf8 = utf8_valid(s, n);
        char esc[4] = { '\\', 'x', 0, 0 };

        out_write(o, "\"", 1);
        for (size_t i = 0; i < n && !o->full; i++) {
                unsigned char c = (unsigned char)s[i];
                size_t start = i;
                switch (c) {
                case '"':
                        out_write(o, "\\\"", 2);
                        continue;
                case '\\':
                        out_write(o, "\\\\", 2);
                        continue;
                case '\n':
                        out_write(o, "\\n", 2);
                        continue;
                case '\t':
                        out_write(o, "\\t", 2);
                        continue;
                case '\r':
                        out_write(o, "\\r", 2);
                        continue;
                default:
                        break;
                }
                if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
                        esc[2] = hex[c >> 4];
                        esc[3] = hex[c & 0xf];
                        out_write(o, esc, 4);
                        continue;
                }
                /* a run of plain bytes in one write */
                while (i + 1 < n) {
                        unsigned char d = (unsigned char)s[i + 1];
                        if (d < 0x20 || d == 0x7f || d == '"' || d == '\\' || (d >= 0x80 && !utf8))
                                break;
                        i++;
                }
                out_write(o, s + start, i - start + 1);
        }
        out_write(o, "\"", 1);
}

static void out_cstr(Out *o, const char *s) {
        if (!s)
                out_puts(o, "\"\"");
        else
                out_quoted(o, s, strlen(s));
}

static bool field_stripped(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                           const CsiSecretField *table, size_t n_table) {
        if (table && csi_secret_field_in(table, n_table, d->name, f->id))
                return true;
        return csi_secret_field_in(always_stripped, ELEMENTSOF(always_stripped), d->name, f->id);
}

bool redact_volume_attribute_shown(const char *key) {
        if (!key)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(shown_attributes); i++)
                if (streq(key, shown_attributes[i]))
                        return true;
        return false;
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d) {
        size_t n;
        if (!d || d->n_fields != 2)
                return false;
        n = strlen(d->short_name);
        return n > 5 && streq(d->short_name + n - 5, "Entry") && d->fields[0].id == 1 &&
               d->fields[1].id == 2 && streq(d->fields[0].name, "key") &&
               streq(d->fields[1].name, "value");
}

/* Maps whose values follow the volume attribute policy. */
static bool is_attribute_map(const ProtobufCFieldDescriptor *f) {
        return streq(f->name, "volume_context") || streq(f->name, "publish_context");
}

/* ---- the `objects` attribute (YAML) ---- */

static bool key_in(const char *key, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(key, list[i]))
                        return true;
        return false;
}

static void out_ynode(Out *o, const YNode *n, unsigned depth);

/* One object of the list: known keys with values, secretArgs keys only. */
static void out_yobject(Out *o, const YNode *n, unsigned depth) {
        out_puts(o, "{");
        for (size_t i = 0; i < n->n_children && !o->full; i++) {
                const YNode *k = n->keys[i], *v = n->values[i];
                if (i > 0)
                        out_puts(o, ", ");
                if (k->type != YNODE_SCALAR) {
                        out_puts(o, "?: " REDACT_MARKER);
                        continue;
                }
                out_quoted(o, k->scalar, k->scalar_len);
                out_puts(o, ": ");
                if (strcasecmp(k->scalar, SECRET_ARGS_KEY) == 0 && v->type == YNODE_MAPPING) {
                        out_puts(o, "{");
                        for (size_t j = 0; j < v->n_children && !o->full; j++) {
                                const YNode *ak = v->keys[j];
                                if (j > 0)
                                        out_puts(o, ", ");
                                if (ak->type == YNODE_SCALAR)
                                        out_quoted(o, ak->scalar, ak->scalar_len);
                                else
                                        out_puts(o, "?");
                                out_puts(o, ": " REDACT_MARKER);
                        }
                        out_puts(o, "}");
                } else if (key_in(k->scalar, shown_object_keys, ELEMENTSOF(shown_object_keys)))
                        out_ynode(o, v, depth + 1);
                else
                        out_puts(o, REDACT_MARKER);
        }
        out_puts(o, "}");
}

static void out_ynode(Out *o, const YNode *n, unsigned depth) {
        if (depth > REDACT_DEPTH_MAX) {
                out_puts(o, "{...}");
                return;
        }
        switch (n->type) {
        case YNODE_SCALAR:
                out_quoted(o, n->scalar, n->scalar_len);
                break;
        case YNODE_SEQUENCE:
                out_puts(o, "[");
                for (size_t i = 0; i < n->n_children && !o->full; i++) {
                        if (i > 0)
                                out_puts(o, ", ");
                        if (n->values[i]->type == YNODE_MAPPING)
                                out_yobject(o, n->values[i], depth + 1);
                        else
                                out_puts(o, REDACT_MARKER);
                }
                out_puts(o, "]");
                break;
        case YNODE_MAPPING:
                /* only reached for shown object keys: no secrets expected, but be strict */
                out_puts(o, REDACT_MARKER);
                break;
        }
}

static void out_objects(Out *o, const char *yaml) {
        _cleanup_(ytree_freep) YNode *root = NULL;
        YTreeLimits limits = YTREE_LIMITS_DEFAULT;
        char err[128];

        if (ytree_parse(yaml, strlen(yaml), &limits, &root, err, sizeof(err)) < 0 || !root ||
            root->type != YNODE_SEQUENCE) {
                /* the raw text could hold secretArgs values: never print it */
                out_puts(o, REDACT_MARKER " (not a YAML list)");
                return;
        }
        out_ynode(o, root, 0);
}

/* ---- the generic walk ---- */

static void out_message(Out *o, const ProtobufCMessage *m, const CsiSecretField *table,
                        size_t n_table, unsigned depth);

static size_t element_size(ProtobufCType t) {
        switch (t) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_ENUM:
                return 4;
        case PROTOBUF_C_TYPE_FLOAT:
                return sizeof(float);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return 8;
        case PROTOBUF_C_TYPE_DOUBLE:
                return sizeof(double);
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
                return sizeof(char *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(ProtobufCMessage *);
        }
        return 0;
}

static void out_value(Out *o, const ProtobufCFieldDescriptor *f, const void *p,
                      const CsiSecretField *table, size_t n_table, unsigned depth) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                out_printf(o, "%" PRId32, *(const int32_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                out_printf(o, "%" PRIu32, *(const uint32_t *)p);
                break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                out_printf(o, "%" PRId64, *(const int64_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                out_printf(o, "%" PRIu64, *(const uint64_t *)p);
                break;
        case PROTOBUF_C_TYPE_FLOAT:
                out_printf(o, "%g", (double)*(const float *)p);
                break;
        case PROTOBUF_C_TYPE_DOUBLE:
                out_printf(o, "%g", *(const double *)p);
                break;
        case PROTOBUF_C_TYPE_BOOL:
                out_puts(o, *(const protobuf_c_boolean *)p ? "true" : "false");
                break;
        case PROTOBUF_C_TYPE_ENUM: {
                int v = *(const int *)p;
                const ProtobufCEnumValue *ev =
                        f->descriptor ? protobuf_c_enum_descriptor_get_value(f->descriptor, v)
                                      : NULL;
                if (ev && ev->name)
                        out_puts(o, ev->name);
                else
                        out_printf(o, "%d", v);
                break;
        }
        case PROTOBUF_C_TYPE_STRING:
                out_cstr(o, *(char *const *)p);
                break;
        case PROTOBUF_C_TYPE_BYTES:
                /* opaque bytes are never shown, only their size */
                out_printf(o, "<%zu bytes>", ((const ProtobufCBinaryData *)p)->len);
                break;
        case PROTOBUF_C_TYPE_MESSAGE:
                out_message(o, *(ProtobufCMessage *const *)p, table, n_table, depth + 1);
                break;
        }
}

/* Is the value at p the proto3 default (left out of the text)? */
static bool value_is_default(const ProtobufCFieldDescriptor *f, const void *p) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                return *(const uint32_t *)p == 0;
        case PROTOBUF_C_TYPE_ENUM:
                return *(const int *)p == 0;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return *(const uint64_t *)p == 0;
        case PROTOBUF_C_TYPE_FLOAT:
                return *(const float *)p == 0.0f;
        case PROTOBUF_C_TYPE_DOUBLE:
                return *(const double *)p == 0.0;
        case PROTOBUF_C_TYPE_BOOL:
                return !*(const protobuf_c_boolean *)p;
        case PROTOBUF_C_TYPE_STRING:
                return isempty(*(char *const *)p);
        case PROTOBUF_C_TYPE_BYTES:
                return ((const ProtobufCBinaryData *)p)->len == 0;
        case PROTOBUF_C_TYPE_MESSAGE:
                return *(ProtobufCMessage *const *)p == NULL;
        }
        return true;
}

/* Is a singular field present (so printed)? */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
        const char *base = (const char *)m;
        const void *member = base + f->offset;

        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
        if (f->label == PROTOBUF_C_LABEL_REQUIRED)
                return true;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
                /* scalars carry has_*; strings and messages are present when set */
                if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
                        return *(void *const *)member != NULL &&
                               *(const void *const *)member != f->default_value;
                return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
        }
        return !value_is_default(f, member);
}

/* One map entry of an attribute map: the value only when it may be shown. */
static void out_attribute_entry(Out *o, const ProtobufCMessage *entry) {
        const ProtobufCFieldDescriptor *kf = &entry->descriptor->fields[0];
        const ProtobufCFieldDescriptor *vf = &entry->descriptor->fields[1];
        const char *key = *(char *const *)((const char *)entry + kf->offset);
        const char *value = *(char *const *)((const char *)entry + vf->offset);

        out_cstr(o, key);
        out_puts(o, ": ");
        if (key && streq(key, OBJECTS_ATTRIBUTE) && value)
                out_objects(o, value);
        else if (redact_volume_attribute_shown(key))
                out_cstr(o, value);
        else
                out_puts(o, REDACT_MARKER);
}

static void out_map(Out *o, const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *entries,
                    size_t n, const CsiSecretField *table, size_t n_table, unsigned depth) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        bool attributes = is_attribute_map(f) && ed->fields[0].type == PROTOBUF_C_TYPE_STRING &&
                          ed->fields[1].type == PROTOBUF_C_TYPE_STRING;

        out_puts(o, "{");
        for (size_t i = 0; i < n && !o->full; i++) {
                const ProtobufCMessage *e = entries[i];
                if (i > 0)
                        out_puts(o, ", ");
                if (!e) {
                        out_puts(o, "null");
                        continue;
                }
                if (attributes) {
                        out_attribute_entry(o, e);
                        continue;
                }
                out_value(o, &ed->fields[0], (const char *)e + ed->fields[0].offset, table, n_table,
                          depth);
                out_puts(o, ": ");
                {
                        const char *key =
                                ed->fields[0].type == PROTOBUF_C_TYPE_STRING
                                        ? *(char *const *)((const char *)e + ed->fields[0].offset)
                                        : NULL;
                        /* the token key is stripped in every map, not only volume_context */
                        if (key && strcasecmp(key, REDACT_TOKENS_KEY) == 0)
                                out_puts(o, REDACT_MARKER);
                        else
                                out_value(o, &ed->fields[1], (const char *)e + ed->fields[1].offset,
                                          table, n_table, depth);
                }
        }
        out_puts(o, "}");
}

static void out_field(Out *o, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                      const CsiSecretField *table, size_t n_table, unsigned depth) {
        const char *base = (const char *)m;
        const void *member = base + f->offset;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t n = *(const size_t *)(base + f->quantifier_offset);
                const char *arr = *(const char *const *)member;
                size_t sz = element_size(f->type);

                if (n == 0 || !arr)
                        return;
                out_puts(o, f->name);
                out_puts(o, ": ");
                if (field_stripped(m->descriptor, f, table, n_table)) {
                        out_puts(o, REDACT_MARKER);
                        return;
                }
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
                        out_map(o, f, (ProtobufCMessage *const *)(const void *)arr, n, table,
                                n_table, depth);
                        return;
                }
                out_puts(o, "[");
                for (size_t k = 0; k < n && !o->full; k++) {
                        if (k > 0)
                                out_puts(o, ", ");
                        out_value(o, f, arr + k * sz, table, n_table, depth);
                }
                out_puts(o, "]");
                return;
        }
        if (!field_present(m, f))
                return;
        out_puts(o, f->name);
        out_puts(o, ": ");
        if (field_stripped(m->descriptor, f, table, n_table))
                out_puts(o, REDACT_MARKER);
        else
                out_value(o, f, member, table, n_table, depth);
}

static void out_message(Out *o, const ProtobufCMessage *m, const CsiSecretField *table,
                        size_t n_table, unsigned depth) {
        const ProtobufCMessageDescriptor *d;
        size_t before;
        bool first = true;

        if (!m) {
                out_puts(o, "null");
                return;
        }
        if (depth > REDACT_DEPTH_MAX) {
                out_puts(o, "{...}");
                return;
        }
        d = m->descriptor;
        out_puts(o, "{");
        for (unsigned i = 0; i < d->n_fields && !o->full; i++) {
                before = o->len;
                if (!first)
                        out_puts(o, ", ");
                size_t after_sep = o->len;
                out_field(o, m, &d->fields[i], table, n_table, depth);
                if (o->len == after_sep && !o->full)
                        o->len = before, o->buf[o->len] = '\0'; /* nothing printed: drop ", " */
                else
                        first = false;
        }
        if (m->n_unknown_fields > 0 && m->unknown_fields) {
                /* never their content: a newer CO may send a secret field we do not know */
                if (!first)
                        out_puts(o, ", ");
                out_puts(o, "unknown_fields: [");
                for (unsigned i = 0; i < m->n_unknown_fields && !o->full; i++)
                        out_printf(o, "%s#%" PRIu32, i > 0 ? ", " : "", m->unknown_fields[i].tag);
                out_puts(o, "]");
        }
        out_puts(o, "}");
}

size_t redact_message(const ProtobufCMessage *m, const CsiSecretField *secret_fields,
                      size_t n_secret_fields, char *buf, size_t size) {
        Out o = { .buf = buf, .size = size };

        if (size == 0)
                return 0;
        buf[0] = '\0';
        if (size <= sizeof(ELLIPSIS))
                return 0;
        out_message(&o, m, secret_fields, n_secret_fields, 0);
        return o.len;
}
