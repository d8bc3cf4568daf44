/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-publish.h - NodePublishVolume and NodeUnpublishVolume for real:
 * pod token → per-pod tmpfs → Vault → secret files → read-only bind.
 *
 * Publish: validate → volume lock (ABORTED when busy) → republish? (same
 * target already published: keep the new JWT, answer OK, never remount) →
 * target path checks → create target dir → private tmpfs under the state
 * dir → Vault login with the pod's token → fetch every object (identical
 * requests once) → write files atomically → read-only bind at target_path →
 * save state. Any failure undoes every step, revoking the new Vault token.
 *
 * Unpublish: idempotent; unmount the bind and the tmpfs, remove the target
 * dir and state, revoke the Vault token (its leases go with it); Vault being
 * down never fails an unpublish.
 *
 * CSI codes are decided here (style guide section 3 table plus: login
 * rejected → UNAUTHENTICATED, denied → PERMISSION_DENIED, not found →
 * NOT_FOUND, unreachable/sealed/rate-limited → UNAVAILABLE, limits →
 * RESOURCE_EXHAUSTED, busy → ABORTED). Status messages may carry Vault's
 * capped errors[] text, never tokens, JWTs or secret values.
 * Thread-safe: runs on worker threads; per-volume work is serialised by the
 * volume table.
 */
#pragma once

#include "config.h"
#include "csi.pb-c.h"
#include "status.h"
#include "vault-pool.h"
#include "volumes.h"

typedef struct Publisher {
        const Config *config;
        VaultPool *pool;
        VolumeTable *volumes;
} Publisher;

void csi_publish(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st);
void csi_unpublish(Publisher *p, const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st);

/*
 * target_path checks: absolute, normalised (no "." / ".." / empty
 * components), under one of `roots`, no symlink on the way, parent exists.
 * On success returns an O_PATH fd of the parent and the last component in
 * *ret_name (pointing into path). -EINVAL/-ENOENT/-ELOOP with err set.
 */
int target_path_check(const char *path, char *const *roots, size_t n_roots, int *ret_parent_fd,
                      const char **ret_name, char *err, size_t errlen);
