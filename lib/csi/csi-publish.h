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
 * save state, then hand the volume to the refresher (refresh.h). Any
 * failure undoes every step, revoking the new Vault token. The Vault calls
 * of a first publish take a concurrency slot on their server but never wait
 * for the refresh rate limit.
 *
 * Republish (kubelet's requiresRepublish): stores the newest pod JWT and
 * answers at once, also while the refresh thread holds the volume (the JWT
 * goes in under the table lock, without the busy flag). It makes Vault
 * calls only when a refresh is already due or the volume waits for a token,
 * and then waits republish-wait at most. It answers UNAVAILABLE (non-final:
 * kubelet keeps the mount and records an event) while a secret of the
 * volume is past its expiry and refreshing it keeps failing, unless the
 * node setting republish-stale-unavailable is false; otherwise OK.
 *
 * Unpublish: idempotent; cancels the volume's refresh (waiting a bounded
 * time for one in flight; ABORTED if it does not end, so no request for the
 * volume is ever made after an OK), unmounts the bind and the tmpfs, removes
 * the target dir and state, revokes the Vault token (its leases go with
 * it); Vault being down never fails an unpublish.
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

typedef struct Refresher Refresher;
typedef struct Metrics Metrics;

typedef struct Publisher {
        const Config *config;
        VaultPool *pool;
        VolumeTable *volumes;
        Refresher *refresher; /* NULL: no rotation (unit tests) */
        Metrics *metrics;     /* NULL: not counted */
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
