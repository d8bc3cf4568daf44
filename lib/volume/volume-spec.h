/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume-spec.h - what a pod asks for: the inline volume's volumeAttributes
 * (NodePublishVolumeRequest.volume_context) checked against the node admin's
 * configuration.
 *
 * Attributes (docs/volume-attributes.md): roleName (required), objects
 * (YAML or JSON list: objectName, secretPath, secretKey, secretArgs, method,
 * filePermission, encoding, and the output shape: format, expand, template,
 * pkcs12Password; docs/output-formats.md), vaultAuthMountPath (alias
 * vaultKubernetesMountPath), vaultNamespace, audience, vaultServer,
 * vaultAddress (only a configured server's address: selects it),
 * refreshInterval. vaultCACertPath, vaultCADirectory, vaultTLS* and
 * vaultSkipTLSVerify are rejected: TLS is the node admin's. Kubelet's
 * csi.storage.k8s.io/... keys are read (pod info) or ignored; any other key is
 * an error naming it, so typos fail loudly.
 *
 * Never logs. Thread-safe (no shared state). secretArgs values and
 * pkcs12Password are kept in Secrets (they may be sensitive) and never
 * appear in error messages (lib/csi/redact.c shows only allow-listed object
 * keys, so neither reaches a log).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "render.h"
#include "sa-token.h"
#include "secret.h"
#include "vault.h"

#define OBJECT_NAME_MAX 253
/* The `objects` attribute in bytes: refused at publish above this, and the
 * most a restarted daemon reloads from the state dir (volumes.c). */
#define VOLUME_OBJECTS_ATTR_MAX ((size_t)1024 * 1024)

typedef struct SecretObject {
        char *name;         /* objectName: the file name */
        char *path;         /* secretPath */
        char *key;          /* secretKey, or NULL: the whole data as JSON */
        VaultMethod method; /* method, else POST when args are set, else GET */
        Secret *args;       /* secretArgs as a compact JSON object, or NULL */
        unsigned mode;      /* filePermission, else the default */
        bool mode_set;
        SecretEncoding encoding;
        /* the output shape (render.h); at most one of key, template, expand
         * and a format other than json; checked at parse */
        RenderFormat format;     /* format, else json */
        bool expand;             /* expand: name is a directory, one file per key */
        char *template_text;     /* template, or NULL */
        Secret *pkcs12_password; /* pkcs12Password (format pkcs12 only), or NULL */
} SecretObject;

typedef struct VolumeSpec {
        const VaultServerConfig *server; /* chosen server (points into Config) */
        char *role;
        char *auth_mount;               /* attribute, else the server's */
        char *ns;                       /* attribute, else the server's, or NULL */
        char *audience;                 /* attribute (allowed list), else the server's */
        uint64_t refresh_interval_usec; /* attribute (>= node minimum), else default */
        SecretObject *objects;
        size_t n_objects;
        /* kubelet's pod info (podInfoOnMount), or NULL */
        const char *pod_name;
        const char *pod_namespace;
        const char *pod_uid;
        const char *service_account;
} VolumeSpec;

/*
 * Parses volume_context (pointers into it are kept for pod info: keep the
 * request alive while the spec is used). An empty value of an optional
 * attribute means "not set"; max_objects 0 means no limit. Returns 0 and
 * *ret, -EINVAL with a message in err that names the attribute or object at
 * fault, -E2BIG when a configured limit (objects per volume) or the objects
 * document's size limits are exceeded, or -ENOMEM.
 */
int volume_spec_parse(const Config *c, const KeyValue *context, size_t n, VolumeSpec **ret,
                      char *err, size_t errlen);
VolumeSpec *volume_spec_free(VolumeSpec *s);
static inline void volume_spec_freep(VolumeSpec **s) {
        if (*s)
                *s = volume_spec_free(*s);
}

/* objectName rules: non-empty, <= OBJECT_NAME_MAX bytes, no '/', not "." or
 * "..", no leading '.', no control characters. */
bool object_name_valid(const char *name);

/*
 * The RenderSpec of an object (pointers into o, valid while o lives), for
 * render_object(): max_file_bytes is the node's cap (0: none); previous is
 * the object's current file for pkcs12 (kept when equivalent), or NULL.
 */
void secret_object_render_spec(const SecretObject *o, size_t max_file_bytes, const Secret *previous,
                               RenderSpec *ret);

/*
 * The bytes of one file, for an object that is one file (not expand): `data` is the Vault
 * response's data object (for KV v2, the caller passes the inner data). secretKey set: a string
 * value raw, any other JSON value compact, then `encoding` decodes it; unset: the whole object in
 * the object's format (json: compact, as Go's json.Marshal writes it: sorted keys, <>& escaped), or
 * its template (render.h). Returns 0 and a Secret, -ENOENT when the key is absent or data is
 * NULL/null (a deleted KV v2 version; err names the object and key, never a value), -EINVAL when
 * decoding or shaping fails, data is not an object while secretKey is set, or the object is an
 * expand (use render_object()).
 */
int secret_object_render(const SecretObject *o, const JsonValue *data, Secret **ret, char *err,
                         size_t errlen);
