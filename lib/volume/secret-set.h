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
 *     group's response, each within max-file-bytes, the whole volume within
 *     max-volume-bytes, each file with its mode (filePermission, else 0440
 *     when the pod has an fsGroup, 0444 without).
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

/*
 * Renders every object of group gi from `resp` into values[i] (replacing
 * what was there). On failure values are unchanged and err names the
 * object: -ENOENT (no data, a missing key), -EINVAL (cannot render), -E2BIG
 * (over max_file_bytes), -ENOMEM.
 */
int secret_set_render_group(const VolumeSpec *spec, const size_t *group_of, size_t gi,
                            const VaultResponse *resp, uint64_t max_file_bytes, Secret **values,
                            char *err, size_t errlen);

/*
 * Fills files[i] for every object from values[i] (each non-NULL; the file
 * data points into the Secret). -E2BIG when the volume exceeds
 * max_volume_bytes (err says so).
 */
int secret_set_files(const VolumeSpec *spec, Secret *const *values, gid_t gid,
                     uint64_t max_volume_bytes, PayloadFile *files, char *err, size_t errlen);

/* The Vault login of a volume: its server's auth method, mount, role and
 * namespace, with the pod's JWT (which stays the caller's). */
VaultLoginParams volume_login_params(const VolumeSpec *spec, const Secret *jwt);
