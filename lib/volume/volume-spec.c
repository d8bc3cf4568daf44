/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume-spec.c - volumeAttributes → VolumeSpec, and the bytes of each file
 * (see volume-spec.h and docs/volume-attributes.md).
 *
 * secretArgs and the plain scalars of filePermission and expand are typed
 * as vault-csi-provider's Go decoder types them (yaml-go.h).
 *
 * Secret hygiene: secretArgs end up in SecretObject.args (see yaml-go.h for
 * the copies on the way). Errors name attributes, objects and keys, never
 * values.
 *
 * Never logs. Thread-safe (no shared state).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "json.h"
#include "parse.h"
#include "vault-json.h"
#include "volume-spec.h"
#include "yaml-go.h"
#include "ytree.h"
#include "fsutil.h"
#include "macro.h"

#define ATTR_TEXT_MAX             1024U                         /* roleName, vaultServer, ... */
#define REFRESH_INTERVAL_MAX_USEC (30ULL * 24 * 3600 * 1000000) /* 30 days */

#define TLS_HINT                  "TLS settings belong to the node admin (vaultmount config `vault-servers`)"
#define KNOWN_ATTRS                                                                                \
        "roleName, objects, vaultServer, vaultAddress, vaultAuthMountPath, vaultNamespace, "       \
        "audience, refreshInterval"
#define KNOWN_OBJECT_KEYS                                                                          \
        "objectName, secretPath, secretKey, secretArgs, method, filePermission, encoding, "        \
        "format, expand, template, pkcs12Password"

static bool text_ok(const char *s, size_t max) {
        size_t n = 0;

        for (; *s; s++, n++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
                        return false;
        return true;
}

/* --- object names ------------------------------------------------------------ */

static const char *object_name_problem(const char *name) {
        if (isempty(name))
                return "is empty";
        if (strlen(name) > OBJECT_NAME_MAX)
                return "is longer than 253 bytes";
        if (streq(name, ".") || streq(name, ".."))
                return "is '.' or '..'";
        if (name[0] == '.')
                return "starts with '.' (reserved for the volume's own files)";
        if (strchr(name, '/'))
                return "contains '/' (objectName is one file name, not a path)";
        for (const char *p = name; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return "contains a control character";
        return NULL;
}

/**
 * object_name_valid() - whether objectName can be a file in the volume.
 * @name: the objectName.
 *
 * Return: true for a non-empty name of at most OBJECT_NAME_MAX bytes with no
 * '/', no control character and no leading '.' (so also not "." or "..").
 */
bool object_name_valid(const char *name) {
        return !object_name_problem(name);
}

/* --- objects ----------------------------------------------------------------- */

static void secret_object_done(SecretObject *o) {
        free(o->name);
        free(o->path);
        free(o->key);
        free(o->template_text);
        secret_freep(&o->args);
        secret_freep(&o->pkcs12_password);
        *o = (SecretObject){ 0 };
}

/*
 * A string-valued object key: a scalar; a plain null (`key:`, `~`, null) is
 * "not set" (*ret = NULL), as Go leaves the field empty.
 */
static int object_string(const char *label, const YNode *v, const char *key, const char **ret,
                         char *err, size_t errlen) {
        if (v->type != YNODE_SCALAR)
                return err_fail(err, errlen, -EINVAL, "%s: %s must be a string, got %s", label, key,
                                ytree_type_name(v->type));
        *ret = !v->quoted && yaml_plain_is_null(v->scalar) ? NULL : v->scalar;
        return 0;
}

static int file_permission_parse(const char *label, const YNode *v, unsigned *ret, char *err,
                                 size_t errlen) {
        const char *hint = "write it in octal with a leading 0 (0440) or as a quoted octal "
                           "string (\"0440\")";
        unsigned mode;
        YamlPlainKind kind;
        YamlPlainValue pv;
        QuotedText q;
        int r;

        if (v->type != YNODE_SCALAR)
                return err_fail(err, errlen, -EINVAL,
                                "%s: filePermission must be a file mode, got %s", label,
                                ytree_type_name(v->type));
        if (v->quoted) {
                const char *s = v->scalar;
                if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                        s += 2;
                if (parse_mode(s, &mode) < 0 || mode > 0777)
                        return err_fail(
                                err, errlen, -EINVAL,
                                "%s: filePermission '%s' is not an octal mode of at most 0777: "
                                "%s",
                                label, quote_text(&q, v->scalar), hint);
                *ret = mode;
                return 0;
        }
        r = yaml_plain_resolve(v->scalar, v->scalar_len, &kind, &pv);
        if (r < 0)
                return r;
        if (kind != YAML_PLAIN_INT || pv.i < 0)
                return err_fail(err, errlen, -EINVAL,
                                "%s: filePermission '%s' is not a file mode: %s", label,
                                quote_text(&q, v->scalar), hint);
        if (pv.i > 0777) {
                bool decimal = v->scalar[0] != '0';
                return err_fail(
                        err, errlen, -EINVAL,
                        "%s: filePermission '%s' is 0%" PRIo64 " in octal, above 0777%s: %s", label,
                        quote_text(&q, v->scalar), (uint64_t)pv.i,
                        decimal ? " (YAML and JSON read it as a decimal number)" : "", hint);
        }
        *ret = (unsigned)pv.i;
        return 0;
}

static int encoding_parse(const char *s, SecretEncoding *ret) {
        if (strcasecmp(s, "utf-8") == 0 || strcasecmp(s, "utf8") == 0)
                *ret = SECRET_ENCODING_UTF8;
        else if (strcasecmp(s, "base64") == 0)
                *ret = SECRET_ENCODING_BASE64;
        else if (strcasecmp(s, "hex") == 0)
                *ret = SECRET_ENCODING_HEX;
        else
                return -EINVAL;
        return 0;
}

/* --- the output shape: format, expand, template, pkcs12Password ------------------ */

typedef struct ShapeFields {
        const char *format;
        const YNode *expand;
        const char *template_text;
        const YNode *password;
} ShapeFields;

static bool shape_key(const char *k) {
        return streq(k, "format") || streq(k, "expand") || streq(k, "template") ||
               streq(k, "pkcs12Password");
}

static int shape_field(const char *label, const char *k, const YNode *v, ShapeFields *sf, char *err,
                       size_t errlen) {
        bool null = v->type == YNODE_SCALAR && !v->quoted && yaml_plain_is_null(v->scalar);

        if (streq(k, "format"))
                return object_string(label, v, k, &sf->format, err, errlen);
        if (streq(k, "template"))
                return object_string(label, v, k, &sf->template_text, err, errlen);
        if (v->type != YNODE_SCALAR)
                return err_fail(err, errlen, -EINVAL, "%s: %s must be a %s, got %s", label, k,
                                streq(k, "expand") ? "boolean (true or false)" : "string",
                                ytree_type_name(v->type));
        if (streq(k, "expand"))
                sf->expand = null ? NULL : v;
        else
                sf->password = null ? NULL : v;
        return 0;
}

/* true or false, as YAML (plain or quoted) or JSON writes them. */
static int expand_parse(const char *label, const YNode *v, bool *ret, char *err, size_t errlen) {
        YamlPlainKind kind = YAML_PLAIN_STRING;
        YamlPlainValue pv = { 0 };
        QuotedText q;

        *ret = false;
        if (v && (yaml_plain_resolve(v->scalar, v->scalar_len, &kind, &pv) < 0 ||
                  kind != YAML_PLAIN_BOOL))
                return err_fail(err, errlen, -EINVAL, "%s: expand '%s' is not true or false", label,
                                quote_text(&q, v->scalar));
        *ret = pv.b;
        return 0;
}

/* "<...>/issue/<role>": the PKI endpoint that returns a private key. */
static bool path_is_pki_issue(const char *path) {
        size_t n = strcspn(path, "?"), end, start;

        while (n > 0 && path[n - 1] == '/')
                n--;
        end = n;
        while (end > 0 && path[end - 1] != '/')
                end--; /* path[end..n) is the role */
        if (end == 0 || end == n)
                return false;
        start = --end; /* path[end] is the '/' before the role */
        while (start > 0 && path[start - 1] != '/')
                start--;
        return end - start == 5 && strncmp(path + start, "issue", 5) == 0;
}

/* format, expand, template, pkcs12Password (after encoding): render.h decides
 * which combinations make sense, the request decides pkcs12 (below). */
static int shape_parse(const char *label, const ShapeFields *sf, SecretObject *o, char *err,
                       size_t errlen) {
        RenderSpec spec;
        QuotedText q;
        int r;

        o->format = RENDER_FORMAT_JSON;
        if (sf->format) {
                RenderFormat f = render_format_from_string(sf->format);
                if (f < 0)
                        return err_fail(
                                err, errlen, -EINVAL,
                                "%s: format '%s' is not one of json, yaml, env, pem, pkcs12", label,
                                quote_text(&q, sf->format));
                o->format = f;
        }
        r = expand_parse(label, sf->expand, &o->expand, err, errlen);
        if (r < 0)
                return r;
        if (sf->password && (r = secret_new_from(&o->pkcs12_password, sf->password->scalar,
                                                 sf->password->scalar_len)) < 0)
                return r;
        if (sf->template_text && !(o->template_text = strdup(sf->template_text)))
                return -ENOMEM;
        secret_object_render_spec(o, 0, NULL, &spec);
        r = render_spec_check(&spec, sf->format != NULL, err, errlen);
        if (r < 0)
                return r;
        if (o->format == RENDER_FORMAT_PKCS12 && !path_is_pki_issue(o->path))
                return err_fail(err, errlen, -EINVAL,
                                "%s: format pkcs12 needs a PKI issue response (secretPath "
                                "<mount>/issue/<role>, the one that returns a private key)",
                                label);
        return 0;
}

typedef struct ObjectFields {
        const char *name, *path, *key, *method, *encoding;
        const YNode *args, *perm;
        ShapeFields shape;
} ObjectFields;

static bool yaml_null(const YNode *v) {
        return v->type == YNODE_SCALAR && !v->quoted && yaml_plain_is_null(v->scalar);
}

/* objectName first, so that every later message can name the object. */
static int object_name_get(const YNode *m, char *label, size_t labellen, const char **ret,
                           char *err, size_t errlen) {
        const char *name = NULL, *problem;
        QuotedText q;
        int r;

        if (m->type != YNODE_MAPPING)
                return err_fail(err, errlen, -EINVAL,
                                "%s: must be a mapping with objectName and secretPath, got %s",
                                label, ytree_type_name(m->type));
        for (size_t i = 0; i < m->n_children; i++)
                if (streq(m->keys[i]->scalar, "objectName")) {
                        r = object_string(label, m->values[i], "objectName", &name, err, errlen);
                        if (r < 0)
                                return r;
                }
        if (!name)
                return err_fail(err, errlen, -EINVAL,
                                "%s: objectName is required (the file name in the volume)", label);
        problem = object_name_problem(name);
        if (problem)
                return err_fail(err, errlen, -EINVAL, "%s: objectName '%s' %s", label,
                                quote_text(&q, name), problem);
        (void)snprintf(label, labellen, "object '%s'", quote_text(&q, name));
        *ret = name;
        return 0;
}

static int object_field(const char *label, const char *k, const YNode *v, ObjectFields *f,
                        char *err, size_t errlen) {
        static const struct {
                const char *key;
                size_t offset;
        } strings[] = {
                { "secretPath", offsetof(ObjectFields, path) },
                { "secretKey", offsetof(ObjectFields, key) },
                { "method", offsetof(ObjectFields, method) },
                { "encoding", offsetof(ObjectFields, encoding) },
        };
        QuotedText q;

        for (size_t t = 0; t < ELEMENTSOF(strings); t++)
                if (streq(k, strings[t].key))
                        return object_string(label, v, k,
                                             (const char **)((char *)f + strings[t].offset), err,
                                             errlen);
        if (shape_key(k))
                return shape_field(label, k, v, &f->shape, err, errlen);
        if (streq(k, "filePermission")) {
                f->perm = yaml_null(v) ? NULL : v;
                return 0;
        }
        if (!streq(k, "secretArgs"))
                return err_fail(err, errlen, -EINVAL, "%s: unknown key '%s' (known: %s)", label,
                                quote_text(&q, k), KNOWN_OBJECT_KEYS);
        if (yaml_null(v))
                f->args = NULL;
        else if (v->type != YNODE_MAPPING)
                return err_fail(err, errlen, -EINVAL,
                                "%s: secretArgs must be a mapping (the JSON body sent to Vault), "
                                "got %s",
                                label, ytree_type_name(v->type));
        else
                f->args = v->n_children > 0 ? v : NULL;
        return 0;
}

static int object_path_check(const char *label, const ObjectFields *f, char *err, size_t errlen) {
        VaultError verr = { 0 };
        char *normalized = NULL;
        int r;

        if (isempty(f->path))
                return err_fail(err, errlen, -EINVAL,
                                "%s: secretPath is required (e.g. secret/data/app for KV v2)",
                                label);
        r = vault_path_normalize(f->path, &normalized, &verr);
        free(normalized);
        if (r == -ENOMEM)
                return r;
        if (r != 0)
                return err_fail(err, errlen, -EINVAL, "%s: secretPath: %s", label,
                                verr.message[0] ? verr.message : "not a Vault path");
        if (f->key && !text_ok(f->key, ATTR_TEXT_MAX))
                return err_fail(err, errlen, -EINVAL,
                                "%s: secretKey contains a control character or is longer than %u "
                                "bytes",
                                label, ATTR_TEXT_MAX);
        return 0;
}

static int object_method(const char *label, const ObjectFields *f, SecretObject *o, char *err,
                         size_t errlen) {
        QuotedText q;

        o->method = f->args ? VAULT_METHOD_POST : VAULT_METHOD_GET;
        if (f->method) {
                VaultMethod vm = vault_method_from_string(f->method);
                if (vm != VAULT_METHOD_GET && vm != VAULT_METHOD_POST && vm != VAULT_METHOD_PUT)
                        return err_fail(err, errlen, -EINVAL,
                                        "%s: method '%s' is not one of GET, POST, PUT", label,
                                        quote_text(&q, f->method));
                if (vm == VAULT_METHOD_GET && f->args)
                        return err_fail(err, errlen, -EINVAL,
                                        "%s: method GET sends no body, so secretArgs would be "
                                        "ignored: use POST or PUT (or drop secretArgs)",
                                        label);
                o->method = vm;
        }
        if (o->format == RENDER_FORMAT_PKCS12 && o->method == VAULT_METHOD_GET)
                return err_fail(err, errlen, -EINVAL,
                                "%s: format pkcs12 needs a PKI issue, which is a POST: set "
                                "secretArgs (e.g. common_name) or method POST",
                                label);
        return 0;
}

static int object_encoding(const char *label, const ObjectFields *f, SecretObject *o, char *err,
                           size_t errlen) {
        QuotedText q;

        o->encoding = SECRET_ENCODING_UTF8;
        if (f->encoding && encoding_parse(f->encoding, &o->encoding) < 0)
                return err_fail(err, errlen, -EINVAL,
                                "%s: encoding '%s' is not one of utf-8, base64, hex", label,
                                quote_text(&q, f->encoding));
        return 0;
}

static int object_parse(const YNode *m, size_t index, SecretObject *o, char *err, size_t errlen) {
        char label[QUOTED_TEXT_MAX * 2 + 64];
        ObjectFields f = { 0 };
        int r;

        (void)snprintf(label, sizeof(label), "objects[%zu] (line %u)", index, m->line);
        r = object_name_get(m, label, sizeof(label), &f.name, err, errlen);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_children; i++) {
                if (streq(m->keys[i]->scalar, "objectName"))
                        continue;
                r = object_field(label, m->keys[i]->scalar, m->values[i], &f, err, errlen);
                if (r < 0)
                        return r;
        }
        o->name = strdup(f.name);
        o->path = strdup(f.path ? f.path : "");
        o->key = f.key ? strdup(f.key) : NULL;
        if (!o->name || !o->path || (f.key && !o->key))
                return -ENOMEM;
        if ((r = object_path_check(label, &f, err, errlen)) < 0 ||
            (r = object_encoding(label, &f, o, err, errlen)) < 0 ||
            (r = shape_parse(label, &f.shape, o, err, errlen)) < 0 ||
            (r = object_method(label, &f, o, err, errlen)) < 0)
                return r;
        if (f.perm) {
                r = file_permission_parse(label, f.perm, &o->mode, err, errlen);
                if (r < 0)
                        return r;
                o->mode_set = true;
        }
        if (f.args) {
                r = yaml_go_json(f.args, label, &o->args, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int objects_parse(const Config *c, const char *text, VolumeSpec *s, char *err,
                         size_t errlen) {
        _cleanup_(ytree_freep) YNode *root = NULL;
        char yerr[256];
        int r;

        /* what publishes must reload after a restart (volumes.c) */
        if (strlen(text) > VOLUME_OBJECTS_ATTR_MAX)
                return err_fail(err, errlen, -EINVAL,
                                "objects: %zu bytes, more than the limit of %zu bytes (1 MiB)",
                                strlen(text), VOLUME_OBJECTS_ATTR_MAX);
        r = ytree_parse(text, strlen(text), NULL, &root, yerr, sizeof(yerr));
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return err_fail(err, errlen, r, "objects: too large: %s", yerr);
        if (r < 0)
                return err_fail(err, errlen, r, "objects: not valid YAML or JSON: %s", yerr);
        if (!root ||
            (root->type == YNODE_SCALAR && !root->quoted && yaml_plain_is_null(root->scalar)))
                return err_fail(
                        err, errlen, -EINVAL,
                        "objects: empty: list at least one object (objectName, secretPath)");
        if (root->type != YNODE_SEQUENCE)
                return err_fail(err, errlen, -EINVAL,
                                "objects: must be a list of objects (YAML '- objectName: ...' or "
                                "JSON [{...}]), got %s",
                                ytree_type_name(root->type));
        if (root->n_children == 0)
                return err_fail(err, errlen, -EINVAL,
                                "objects: the list is empty: list at least one object");
        if (c->max_objects > 0 && root->n_children > c->max_objects)
                return err_fail(err, errlen, -E2BIG,
                                "objects: %zu objects, more than this node's limit of %u "
                                "(vaultmount config max-objects)",
                                root->n_children, c->max_objects);

        s->objects = calloc(root->n_children, sizeof(*s->objects));
        if (!s->objects)
                return -ENOMEM;
        for (size_t i = 0; i < root->n_children; i++) {
                SecretObject *o = &s->objects[s->n_objects++];

                r = object_parse(root->values[i], i, o, err, errlen);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(s->objects[j].name, o->name)) {
                                QuotedText q;
                                return err_fail(
                                        err, errlen, -EINVAL,
                                        "object '%s': objectName is used twice (objects[%zu] "
                                        "and objects[%zu]): each object is one file",
                                        quote_text(&q, o->name), j, i);
                        }
        }
        return 0;
}

/* --- attributes -------------------------------------------------------------- */

typedef struct RawAttrs {
        const char *role;
        const char *objects;
        const char *auth_mount;
        const char *k8s_mount;
        const char *ns;
        const char *audience;
        const char *server;
        const char *address;
        const char *refresh;
        const char *pod_name;
        const char *pod_namespace;
        const char *pod_uid;
        const char *service_account;
} RawAttrs;

static const struct {
        const char *name;
        size_t offset;
} attr_table[] = {
        { "roleName", offsetof(RawAttrs, role) },
        { "objects", offsetof(RawAttrs, objects) },
        { "vaultAuthMountPath", offsetof(RawAttrs, auth_mount) },
        { "vaultKubernetesMountPath", offsetof(RawAttrs, k8s_mount) },
        { "vaultNamespace", offsetof(RawAttrs, ns) },
        { "audience", offsetof(RawAttrs, audience) },
        { "vaultServer", offsetof(RawAttrs, server) },
        { "vaultAddress", offsetof(RawAttrs, address) },
        { "refreshInterval", offsetof(RawAttrs, refresh) },
        { "csi.storage.k8s.io/pod.name", offsetof(RawAttrs, pod_name) },
        { "csi.storage.k8s.io/pod.namespace", offsetof(RawAttrs, pod_namespace) },
        { "csi.storage.k8s.io/pod.uid", offsetof(RawAttrs, pod_uid) },
        { "csi.storage.k8s.io/serviceAccount.name", offsetof(RawAttrs, service_account) },
};

static bool is_tls_attr(const char *k) {
        return streq(k, "vaultCACertPath") || streq(k, "vaultCADirectory") ||
               streq(k, "vaultSkipTLSVerify") || strncmp(k, "vaultTLS", 8) == 0;
}

static int attrs_collect(const KeyValue *context, size_t n, RawAttrs *a, char *err, size_t errlen) {
        for (size_t i = 0; i < n; i++) {
                const char *k = context[i].key, *v = strempty(context[i].value);
                const char **slot = NULL;
                QuotedText q;

                if (!k)
                        return err_fail(err, errlen, -EINVAL, "volume attribute without a name");
                for (size_t t = 0; t < ELEMENTSOF(attr_table); t++)
                        if (streq(k, attr_table[t].name))
                                slot = (const char **)((char *)a + attr_table[t].offset);
                if (slot) {
                        if (*slot)
                                return err_fail(err, errlen, -EINVAL,
                                                "volume attribute '%s' is given twice", k);
                        *slot = v;
                        continue;
                }
                if (strncmp(k, "csi.storage.k8s.io/", 19) == 0)
                        continue; /* ephemeral, serviceAccount.tokens, future keys */
                if (is_tls_attr(k))
                        return err_fail(err, errlen, -EINVAL, "%s: " TLS_HINT, quote_text(&q, k));
                if (streq(k, "secretProviderClass"))
                        return err_fail(
                                err, errlen, -EINVAL,
                                "unknown volume attribute 'secretProviderClass': this driver "
                                "takes the parameters (roleName, objects, ...) directly in "
                                "volumeAttributes");
                return err_fail(err, errlen, -EINVAL, "unknown volume attribute '%s' (known: %s)",
                                quote_text(&q, k), KNOWN_ATTRS);
        }
        return 0;
}

/* "a" and "a/" are the same address. */
static bool address_equal(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b);

        while (na > 0 && a[na - 1] == '/')
                na--;
        while (nb > 0 && b[nb - 1] == '/')
                nb--;
        return na == nb && strncmp(a, b, na) == 0;
}

static void list_servers(const Config *c, bool with_address, char *buf, size_t len) {
        size_t off = 0;

        buf[0] = 0;
        for (size_t i = 0; i < c->n_vault_servers; i++) {
                const VaultServerConfig *s = &c->vault_servers[i];
                int k;
                if (with_address)
                        k = snprintf(buf + off, len - off, "%s'%s' (%s)", i ? ", " : "",
                                     strempty(s->name), strempty(s->address));
                else
                        k = snprintf(buf + off, len - off, "%s'%s'", i ? ", " : "",
                                     strempty(s->name));
                if (k < 0 || (size_t)k >= len - off) {
                        if (len > 4)
                                memcpy(buf + len - 4, "...", 4);
                        return;
                }
                off += (size_t)k;
        }
        if (c->n_vault_servers == 0)
                (void)snprintf(buf, len, "none");
}

static int server_choose(const Config *c, const RawAttrs *a, const VaultServerConfig **ret,
                         char *err, size_t errlen) {
        const VaultServerConfig *s = NULL;
        char names[512];
        QuotedText q;

        if (c->n_vault_servers == 0)
                return err_fail(err, errlen, -EINVAL,
                                "no Vault server is configured on this node (vaultmount config "
                                "`vault-servers` or vault-address)");
        if (!isempty(a->server)) {
                s = config_vault_server(c, a->server);
                if (!s) {
                        list_servers(c, false, names, sizeof(names));
                        return err_fail(
                                err, errlen, -EINVAL,
                                "vaultServer: '%s' is not a Vault server configured on this "
                                "node (configured: %s)",
                                quote_text(&q, a->server), names);
                }
        }
        if (!isempty(a->address)) {
                if (s) {
                        if (!address_equal(strempty(s->address), a->address))
                                return err_fail(
                                        err, errlen, -EINVAL,
                                        "vaultAddress: '%s' is not the address of vaultServer "
                                        "'%s' (%s): drop vaultAddress",
                                        quote_text(&q, a->address), s->name, strempty(s->address));
                } else {
                        for (size_t i = 0; i < c->n_vault_servers && !s; i++)
                                if (c->vault_servers[i].address &&
                                    address_equal(c->vault_servers[i].address, a->address))
                                        s = &c->vault_servers[i];
                        if (!s) {
                                list_servers(c, true, names, sizeof(names));
                                return err_fail(err, errlen, -EINVAL,
                                                "vaultAddress: '%s' is not the address of a Vault "
                                                "server configured on this node; the node admin "
                                                "chooses Vault servers (vaultmount config "
                                                "`vault-servers`): use vaultServer with one of %s",
                                                quote_text(&q, a->address), names);
                        }
                }
        }
        if (!s) {
                s = config_vault_server(c, NULL);
                if (!s) {
                        list_servers(c, false, names, sizeof(names));
                        return err_fail(err, errlen, -EINVAL,
                                        "vaultServer: this node has no default Vault server "
                                        "(vaultmount config default-vault-server): set vaultServer "
                                        "to one of %s",
                                        names);
                }
        }
        *ret = s;
        return 0;
}

static int audience_choose(const VaultServerConfig *s, const char *want, const char **ret,
                           char *err, size_t errlen) {
        const char *def = isempty(s->audience) ? "vault" : s->audience;
        char allowed[512];
        size_t off;
        QuotedText q;
        int k;

        if (isempty(want) || streq(want, def)) {
                *ret = def;
                return 0;
        }
        for (size_t i = 0; i < s->n_allowed_audiences; i++)
                if (s->allowed_audiences[i] && streq(want, s->allowed_audiences[i])) {
                        *ret = s->allowed_audiences[i];
                        return 0;
                }

        k = snprintf(allowed, sizeof(allowed), "'%s'", def);
        off = k > 0 ? (size_t)k : 0;
        for (size_t i = 0; i < s->n_allowed_audiences && off < sizeof(allowed); i++) {
                k = snprintf(allowed + off, sizeof(allowed) - off, ", '%s'",
                             strempty(s->allowed_audiences[i]));
                if (k < 0 || (size_t)k >= sizeof(allowed) - off) {
                        memcpy(allowed + sizeof(allowed) - 4, "...", 4);
                        break;
                }
                off += (size_t)k;
        }
        return err_fail(
                err, errlen, -EINVAL,
                "audience: '%s' is not allowed for Vault server '%s': use one of %s (or ask "
                "the node admin to add it to allowed-audiences in vaultmount config "
                "`vault-servers`)",
                quote_text(&q, want), strempty(s->name), allowed);
}

static int strdup_or_null(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* vaultAuthMountPath, or its old name vaultKubernetesMountPath; NULL: the server's. */
static int auth_mount_choose(const RawAttrs *a, const char **ret, char *err, size_t errlen) {
        const char *mount;
        QuotedText q;

        if (!isempty(a->auth_mount) && !isempty(a->k8s_mount) &&
            !streq(a->auth_mount, a->k8s_mount))
                return err_fail(err, errlen, -EINVAL,
                                "vaultAuthMountPath and vaultKubernetesMountPath (its old name) "
                                "disagree: set only vaultAuthMountPath");
        mount = !isempty(a->auth_mount)  ? a->auth_mount
                : !isempty(a->k8s_mount) ? a->k8s_mount
                                         : NULL;
        if (mount && (!text_ok(mount, ATTR_TEXT_MAX) || strchr(mount, '?') || strchr(mount, '#')))
                return err_fail(err, errlen, -EINVAL,
                                "%s: '%s' is not an auth mount path (e.g. kubernetes)",
                                !isempty(a->auth_mount) ? "vaultAuthMountPath"
                                                        : "vaultKubernetesMountPath",
                                quote_text(&q, mount));
        *ret = mount;
        return 0;
}

static int refresh_interval_parse(const Config *c, const char *text, uint64_t *ret, char *err,
                                  size_t errlen) {
        char min[32];
        QuotedText q;
        int r;

        *ret = c->refresh_interval_default_usec;
        if (isempty(text))
                return 0;
        r = parse_duration_usec(text, REFRESH_INTERVAL_MAX_USEC, ret);
        if (r == -ERANGE)
                return err_fail(err, errlen, -EINVAL,
                                "refreshInterval: '%s' is longer than 30 days",
                                quote_text(&q, text));
        if (r < 0)
                return err_fail(err, errlen, -EINVAL,
                                "refreshInterval: '%s' is not a duration such as 90s, 5m or 1h30m",
                                quote_text(&q, text));
        if (*ret < c->refresh_interval_min_usec)
                return err_fail(
                        err, errlen, -EINVAL,
                        "refreshInterval: '%s' is below this node's minimum of %s (vaultmount "
                        "config refresh-interval-min)",
                        quote_text(&q, text),
                        format_duration(c->refresh_interval_min_usec, min, sizeof(min)));
        return 0;
}

/**
 * volume_spec_parse() - check a volume's attributes against the node config.
 * @c: the daemon's configuration (servers, limits).
 * @context: NodePublishVolumeRequest.volume_context as key/value pairs.
 * @n: number of entries.
 * @ret: the spec on success (free with volume_spec_free()).
 * @err: the attribute or object at fault and how to fix it.
 * @errlen: size of @err.
 *
 * Pod info pointers point into @context. An empty value of an optional
 * attribute means "not set".
 *
 * Return: 0, -EINVAL (err names the attribute or object), -E2BIG (more
 * objects than max_objects, or an oversized objects document) or -ENOMEM.
 */
static int role_check(const RawAttrs *a, char *err, size_t errlen) {
        if (isempty(a->role))
                return err_fail(err, errlen, -EINVAL,
                                "roleName is required: the Vault role to log in as");
        if (!text_ok(a->role, ATTR_TEXT_MAX))
                return err_fail(err, errlen, -EINVAL,
                                "roleName: contains a control character or is longer than %u bytes",
                                ATTR_TEXT_MAX);
        return 0;
}

/* Where and how the volume logs in: its server, audience, auth mount and
 * namespace (the last two checked; set into s by spec_fill()). */
static int login_choose(const Config *c, const RawAttrs *a, VolumeSpec *s, const char **mount,
                        const char **audience, char *err, size_t errlen) {
        int r = server_choose(c, a, &s->server, err, errlen);

        if (r < 0)
                return r;
        r = audience_choose(s->server, a->audience, audience, err, errlen);
        if (r < 0)
                return r;
        r = auth_mount_choose(a, mount, err, errlen);
        if (r < 0)
                return r;
        if (!isempty(a->ns) && !text_ok(a->ns, 255))
                return err_fail(
                        err, errlen, -EINVAL,
                        "vaultNamespace: contains a control character or is longer than 255 "
                        "bytes");
        return 0;
}

/* The checked attributes into s (the pod's fields are borrowed from a). */
static int spec_fill(VolumeSpec *s, const RawAttrs *a, const char *mount, const char *audience) {
        int r;

        if ((r = strdup_or_null(a->role, &s->role)) < 0 ||
            (r = strdup_or_null(mount ? mount : s->server->auth_mount, &s->auth_mount)) < 0 ||
            (r = strdup_or_null(!isempty(a->ns) ? a->ns : s->server->ns, &s->ns)) < 0 ||
            (r = strdup_or_null(audience, &s->audience)) < 0)
                return r;
        s->pod_name = a->pod_name;
        s->pod_namespace = a->pod_namespace;
        s->pod_uid = a->pod_uid;
        s->service_account = a->service_account;
        return 0;
}

int volume_spec_parse(const Config *c, const KeyValue *context, size_t n, VolumeSpec **ret,
                      char *err, size_t errlen) {
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *mount = NULL, *audience = NULL;
        RawAttrs a = { 0 };
        int r;

        err_init(err, errlen);
        if (!c || !ret || (!context && n > 0))
                return err_fail(err, errlen, -EINVAL, "volume attributes: invalid arguments");
        r = attrs_collect(context, n, &a, err, errlen);
        if (r < 0)
                return r;
        r = role_check(&a, err, errlen);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = login_choose(c, &a, s, &mount, &audience, err, errlen);
        if (r < 0)
                return r;
        r = refresh_interval_parse(c, a.refresh, &s->refresh_interval_usec, err, errlen);
        if (r < 0)
                return r;
        if (isempty(a.objects))
                return err_fail(
                        err, errlen, -EINVAL,
                        "objects is required: a YAML or JSON list of {objectName, secretPath, "
                        "...}");
        r = objects_parse(c, a.objects, s, err, errlen);
        if (r < 0)
                return r;
        r = spec_fill(s, &a, mount, audience);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

VolumeSpec *volume_spec_free(VolumeSpec *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_objects; i++)
                secret_object_done(&s->objects[i]);
        free(s->objects);
        free(s->role);
        free(s->auth_mount);
        free(s->ns);
        free(s->audience);
        free(s);
        return NULL;
}

/* --- rendering ---------------------------------------------------------------- */

/**
 * secret_object_render_spec() - what render_object() needs of an object.
 * @o: the object.
 * @max_file_bytes: the node's max-file-bytes (0: no cap).
 * @previous: the object's current file (pkcs12: kept when equivalent), or NULL.
 * @ret: filled with pointers into @o (valid while @o lives).
 */
void secret_object_render_spec(const SecretObject *o, size_t max_file_bytes, const Secret *previous,
                               RenderSpec *ret) {
        *ret = (RenderSpec){
                .name = o->name,
                .key = o->key,
                .format = o->format,
                .encoding = o->encoding,
                .expand = o->expand,
                .template_text = o->template_text,
                .pkcs12_password = o->pkcs12_password,
                .previous = previous,
                .max_file_bytes = max_file_bytes,
        };
}

/**
 * secret_object_render() - the bytes of a one-file object (volume-spec.h).
 * @o: the object.
 * @data: the secret's data object (KV v2: the inner data), or NULL.
 * @ret: a new Secret with the file content.
 * @err: names the object and the key, never a value.
 * @errlen: size of @err.
 *
 * Return: 0, -ENOENT, -EINVAL (also for an expand object), -E2BIG, -ENOMEM.
 */
int secret_object_render(const SecretObject *o, const JsonValue *data, Secret **ret, char *err,
                         size_t errlen) {
        RenderedFile *files = NULL;
        RenderSpec spec;
        size_t n = 0;
        QuotedText qn;
        int r;

        if (err && errlen > 0)
                err[0] = 0;
        if (!o || !ret)
                return -EINVAL;
        if (o->expand)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': expand gives several files: render it with "
                                "render_object()",
                                quote_text(&qn, o->name));
        secret_object_render_spec(o, 0, NULL, &spec);
        r = render_object(&spec, data, &files, &n, err, errlen);
        if (r < 0)
                return r;
        if (n != 1) {
                rendered_files_free(files, n);
                return -EINVAL;
        }
        *ret = TAKE_PTR(files[0].data);
        rendered_files_free(files, n);
        return 0;
}
