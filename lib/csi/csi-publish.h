/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-publish.h - NodePublishVolume and NodeUnpublishVolume:
 * pod token → per-pod tmpfs → Vault → secret files → read-only bind.
 *
 * A first publish is a transaction (publish-tx.c) of small steps, in order:
 *
 *   attributes   parse the volume attributes (volume-spec.h)
 *   capability   fsType, mount flags, volume_mount_group
 *   pod token    the service-account token (KEP-5538; sa-token.h)
 *   target       target_path checks, create the target dir
 *   state dir    <state-dir>/volumes/<key>/mnt
 *   tmpfs        the private tmpfs there
 *   vault        a concurrency slot on the server, login with the pod's
 *                token, one read per request group (secret-set.h)
 *   files        render every object and write them atomically
 *   bind         bind the tmpfs read-only at target_path
 *   record       the record's publish facts and rotation state
 *   save         record.json (and the token) in the state dir
 *
 * Each step records what it did; on any failure one rollback undoes exactly
 * that, in reverse, after every descriptor into the tmpfs is closed: the
 * state removed, the bind and the tmpfs unmounted, the new Vault token
 * revoked, the directories it created removed. Every side effect goes
 * through a PublishOps table, so unit tests inject a failure at any step.
 *
 * Republish (kubelet's requiresRepublish, republish.c): stores the newest
 * pod JWT and answers at once, also while the refresh thread holds the
 * volume. It makes Vault calls only when a refresh is already due or the
 * volume waits for a token, and then waits republish-wait at most. It
 * answers UNAVAILABLE (non-final) while a secret of the volume is past its
 * expiry and refreshing it keeps failing, unless republish-stale-unavailable
 * is false; otherwise OK.
 *
 * Unpublish (unpublish.c): idempotent; cancels the volume's refresh
 * (ABORTED if one in flight does not end), unmounts the bind and the tmpfs,
 * removes the target dir and state, revokes the Vault token (its leases go
 * with it); Vault being down never fails an unpublish.
 *
 * CSI codes: Vault outcomes through vault_error_to_csi_code() (status.h),
 * the daemon's own syscall failures through csi_code_from_local(), request
 * problems named here. Status messages may carry Vault's capped errors[]
 * text, never tokens, JWTs or secret values. Thread-safe: runs on worker
 * threads; per-volume work is serialised by the volume table.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "atomic-writer.h"
#include "config.h"
#include "csi.pb-c.h"
#include "mount.h"
#include "status.h"
#include "vault-pool.h"
#include "volumes.h"

typedef struct Refresher Refresher;
typedef struct Metrics Metrics;
typedef struct Publisher Publisher;

/* The side effects of publish and unpublish (publish-ops.c has the real ones). */
typedef struct PublishOps {
        /* a concurrency slot for a publish's Vault calls: 0 or -ETIMEDOUT */
        int (*vault_enter)(Publisher *p, const VaultServerConfig *server);
        void (*vault_leave)(Publisher *p, const VaultServerConfig *server, int r,
                            const VaultError *ve);
        int (*login)(Publisher *p, const VolumeSpec *spec, const Secret *jwt, VaultToken **ret,
                     VaultError *ve);
        int (*read)(Publisher *p, const VolumeSpec *spec, const VaultToken *token,
                    const VaultRequest *rq, VaultResponse **ret, VaultError *ve);
        int (*revoke)(Publisher *p, const VaultServerConfig *server, const VaultToken *token,
                      VaultError *ve);
        /* mkdirat(2): 0 or -errno (-EEXIST when it exists) */
        int (*mkdirat)(Publisher *p, int dir_fd, const char *path, mode_t mode);
        /* the new mount's id in *ret_mnt_id (mount.h) */
        int (*mount_tmpfs)(Publisher *p, const char *path, const TmpfsOptions *opts,
                           uint64_t *ret_mnt_id, char *err, size_t errlen);
        int (*bind)(Publisher *p, const char *source, const char *target, uint64_t *ret_mnt_id,
                    char *err, size_t errlen);
        int (*umount)(Publisher *p, const char *path, bool lazy, char *err, size_t errlen);
        /* mount_umount_if(): only the mount with that id; MOUNT_E_NOT_OURS */
        int (*umount_if)(Publisher *p, const char *path, uint64_t mnt_id, bool lazy, char *err,
                         size_t errlen);
        int (*is_mountpoint)(Publisher *p, const char *path, bool *ret);
        int (*write_files)(Publisher *p, int root_fd, const PayloadFile *files, size_t n, gid_t gid,
                           char *err, size_t errlen);
        int (*save)(Publisher *p, VolumeRecord *rec);
        uint64_t (*now)(Publisher *p); /* CLOCK_REALTIME µs */
} PublishOps;

extern const PublishOps publish_ops_real;

struct Publisher {
        const Config *config;
        VaultPool *pool;
        VolumeTable *volumes;
        Refresher *refresher;  /* NULL: no rotation (unit tests) */
        Metrics *metrics;      /* NULL: not counted */
        const PublishOps *ops; /* NULL: publish_ops_real */
        void *ops_data;        /* for test ops */
};

void csi_publish(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st);

/*
 * At start, before the server: undoes every publish a crash interrupted
 * (recorded write-ahead, volumes.h "intent"): its bind and tmpfs (ours by
 * their mount ids, or for lack of one by being our own state path and a
 * bind of exactly it), its Vault token, the target dir it made, its state.
 * Returns how many were undone.
 */
size_t publish_recover(Publisher *p);
void csi_unpublish(Publisher *p, const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st);

/*
 * target_path checks: absolute, normalised (no "." / ".." / empty
 * components), under one of `roots`, no symlink on the way, parent exists.
 * On success returns an O_PATH fd of the parent and the last component in
 * *ret_name (pointing into path). -EINVAL/-ENOENT/-ELOOP with err set.
 */
int target_path_check(const char *path, char *const *roots, size_t n_roots, int *ret_parent_fd,
                      const char **ret_name, char *err, size_t errlen);
