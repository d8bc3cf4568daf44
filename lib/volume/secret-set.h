/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret-set.h - one model of "what a volume's files are made of", shared by
 * the first publish and every refresh:
 *
 *   - the request groups: objects whose Vault requests are the same (method,
 *     the path as the Vault client sends it — "/v1/secret/data/a",
 *     "v1/secret/data/a" and "secret/data/a" are one path — and secretArgs)
 *     form one group, fetched with one request; its files always change
 *     together;
 *   - the payload builder: every object of a group rendered from that
 *     group's response by render_object() (render.h: secretKey, format,
 *     template, expand), each file within max-file-bytes, the whole volume
 *     within max-volume-bytes and without a name produced twice, each file
 *     with its mode (filePermission, else 0440 when the pod has an fsGroup,
 *     0444 without). An object gives one file, or with expand one file
 *     "objectName/key" per key.
 *
 * Rendered values live in Secrets (wiped, locked). Pure: no I/O, no logging;
 * messages name objects, paths and limits, never a value. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atomic-writer.h"
#include "secret.h"
#include "vault.h"
#include "volume-spec.h"

/* Groups a spec's objects by Vault request, in order of first appearance.
 * (*ret_group_of)[i] is object i's group. -ENOMEM. */
int secret_set_group(const VolumeSpec *spec, size_t **ret_group_of, size_t *ret_n_groups);

/* The first object of group gi (its request stands for the group). */
size_t secret_set_first_object(const size_t *group_of, size_t n_objects, size_t gi);

/* The Vault request of object i (body points into the spec). */
VaultRequest secret_set_request(const SecretObject *o);

/* A file's mode: filePermission, else 0440 with a group, 0444 without. */
unsigned secret_set_mode(const SecretObject *o, gid_t gid);

/* One object's files: rendered (set) this time, or read back from the
 * volume; names "objectName" or "objectName/key". */
typedef struct ObjectValue {
        RenderedFile *files;
        size_t n;
        bool set;
} ObjectValue;
/* Frees the files (Secrets wiped); the value is unset again. */
void object_value_done(ObjectValue *v);

/*
 * Renders every object of group gi from `resp` into values[i] (replacing
 * what was there; values[i].set afterwards). On failure values are
 * unchanged and err names the object: -ENOENT (no data, a missing key),
 * -EINVAL (cannot render: bad key for env or expand, unknown template key,
 * not a PKI response...), -E2BIG (over max_file_bytes), -ENOMEM.
 */
int secret_set_render_group(const VolumeSpec *spec, const size_t *group_of, size_t gi,
                            const VaultResponse *resp, uint64_t max_file_bytes, ObjectValue *values,
                            char *err, size_t errlen);

/*
 * The payload of every object's files (values[i] for object i; the file data
 * points into their Secrets, the names into their names): *ret_files (free
 * with free()) and *ret_n. -E2BIG when the volume exceeds max_volume_bytes,
 * -EINVAL when a file name is produced twice (err says which), -ENOMEM.
 */
int secret_set_files(const VolumeSpec *spec, const ObjectValue *values, gid_t gid,
                     uint64_t max_volume_bytes, PayloadFile **ret_files, size_t *ret_n, char *err,
                     size_t errlen);

/* The Vault login of a volume: its server's auth method, mount, role and
 * namespace, with the pod's JWT (which stays the caller's). */
VaultLoginParams volume_login_params(const VolumeSpec *spec, const Secret *jwt);
