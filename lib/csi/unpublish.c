/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unpublish.c - NodeUnpublishVolume (see csi-publish.h).
 *
 * Only ever unmounts and removes what this daemon made for that volume_id:
 * the bind at target_path is recognised by the mount id recorded when it
 * was made (mount_umount_if), never by "something is mounted there"; an
 * unknown volume_id touches nothing but its own leftovers in the state dir
 * (a tmpfs of a publish that a crash interrupted, and a bind of exactly
 * that tmpfs at target_path).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "publish-internal.h"
#include "refresher.h"
#include "macro.h"

#define ERR_PREFIX "NodeUnpublishVolume: "

/* ABORTED (kubelet retries); the volume goes back on the refresh schedule. */
static void unpublish_busy(Publisher *p, const char *volume_id, const char *what, CsiStatus *st) {
        refresher_resume(p->refresher, volume_id);
        csi_status_set(st, CSI_ABORTED, ERR_PREFIX "%s volume '%s' is still in progress", what,
                       volume_id);
}

/* Gives the volume back after a failure: a published one stays scheduled. */
static void unpublish_keep(Publisher *p, VolumeRecord *rec) {
        if (rec->published)
                refresher_schedule(p->refresher, rec);
        volume_table_release(p->volumes, rec, !rec->published);
}

/*
 * No published record: a publish that failed (it cleaned up) or that a
 * crash interrupted before its state was saved. Unmounts only our own
 * leftovers; anything else, also whatever is mounted at target_path, stays.
 */
static void unpublish_unknown(Publisher *p, VolumeRecord *rec,
                              const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st) {
        _cleanup_free_ char *mnt = volume_record_mount_dir(p->volumes, rec);
        char err[PUBLISH_ERRLEN] = "";
        bool mp = false;
        int r = 0;

        if (mnt && publish_ops(p)->is_mountpoint(p, mnt, &mp) == 0 && mp)
                r = publish_undo_mounts(p, rec, req->target_path, mnt, err, sizeof(err));
        if (r != 0)
                csi_status_set(st, CSI_UNAVAILABLE, ERR_PREFIX "%s (retrying later may help)", err);
        if (r == 0 && rec->token) /* a recorded publish that a start could not undo */
                publish_revoke_quietly(p, config_vault_server(p->config, rec->facts.server),
                                       rec->token, req->volume_id);
        if (r == 0)
                (void)volume_record_remove(p->volumes, rec);
        log_debug("unpublish of unknown volume '%s' at '%s': %s", req->volume_id, req->target_path,
                  mp ? "removed what a failed publish left" : "nothing to do");
        volume_table_release(p->volumes, rec, true);
}

/* The bind at target_path (ours by its mount id), then target_path itself. */
static int unpublish_target(Publisher *p, VolumeRecord *rec, const char *target, CsiStatus *st) {
        char err[PUBLISH_ERRLEN] = "";
        int r = publish_umount_ours(p, target, rec->facts.target_mnt_id, "target", rec->volume_id,
                                    err, sizeof(err));

        if (r == MOUNT_E_NOT_OURS) {
                /* err names the path and both mount ids */
                csi_status_set(st, CSI_FAILED_PRECONDITION,
                               ERR_PREFIX "%s; volume '%s' keeps its files until that mount is "
                                          "gone",
                               err, rec->volume_id);
                return -EBUSY;
        }
        if (r != 0) {
                csi_status_set(st, CSI_UNAVAILABLE, ERR_PREFIX "%s (retrying later may help)", err);
                return -EIO;
        }
        if (rmdir(target) < 0 && errno != ENOENT) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                        log_warning("volume '%s': target_path '%s' is not empty after unmount, "
                                    "leaving it to kubelet",
                                    rec->volume_id, target);
                else if (errno != ENOTDIR) {
                        csi_status_set(st, csi_code_from_local(-errno),
                                       ERR_PREFIX "removing '%s' failed: %s", target,
                                       strerror(errno));
                        return -errno;
                }
        }
        return 0;
}

/* The private tmpfs (ours by its mount id). */
static int unpublish_tmpfs(Publisher *p, VolumeRecord *rec, CsiStatus *st) {
        _cleanup_free_ char *mnt = volume_record_mount_dir(p->volumes, rec);
        char err[PUBLISH_ERRLEN] = "";
        int r;

        if (!mnt) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, ERR_PREFIX "out of memory");
                return -ENOMEM;
        }
        r = publish_umount_ours(p, mnt, rec->facts.tmpfs_mnt_id, "tmpfs", rec->volume_id, err,
                                sizeof(err));
        if (r != 0) {
                csi_status_set(st, CSI_UNAVAILABLE, ERR_PREFIX "%s", err);
                return -EIO;
        }
        return 0;
}

/* The Vault token (its leases go with it), the replaced one, the state. */
static void unpublish_forget(Publisher *p, VolumeRecord *rec) {
        const VaultServerConfig *server = config_vault_server(p->config, rec->facts.server);
        _cleanup_(vault_token_freep) VaultToken *old = volume_record_take_old_token(rec);
        int r;

        if (rec->token)
                publish_revoke_quietly(p, server, rec->token, rec->volume_id);
        else if (rec->token_accessor)
                log_warning("volume '%s': its Vault token was not kept (state dir not on tmpfs); "
                            "it expires with its TTL",
                            rec->volume_id);
        if (old)
                publish_revoke_quietly(p, server, old, rec->volume_id);
        refresher_forget(p->refresher, rec);
        r = volume_record_remove(p->volumes, rec);
        if (r < 0)
                log_warning("volume '%s': removing its state failed, ignoring: %s", rec->volume_id,
                            strerror(-r));
}

void csi_unpublish(Publisher *p, const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st) {
        VolumeRecord *rec = NULL;
        int r;

        /* No refresh of this volume runs or starts from here on (one in
         * flight sees the flag before its next request and is waited for). */
        r = refresher_cancel(p->refresher, req->volume_id);
        if (r == -EBUSY) {
                unpublish_busy(p, req->volume_id, "a refresh of", st);
                return;
        }
        r = volume_table_acquire(p->volumes, req->volume_id, &rec);
        if (r == -EBUSY) {
                unpublish_busy(p, req->volume_id, "another operation on", st);
                return;
        }
        if (r < 0) {
                refresher_resume(p->refresher, req->volume_id);
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, ERR_PREFIX "out of memory");
                return;
        }
        if (!rec->published) {
                unpublish_unknown(p, rec, req, st);
                return;
        }
        if (!streq(rec->facts.target_path, req->target_path)) {
                /* not the target we published: nothing of ours is there */
                log_debug("unpublish of volume '%s' at '%s': published at '%s', nothing to do",
                          req->volume_id, req->target_path, rec->facts.target_path);
                unpublish_keep(p, rec);
                return;
        }
        if (unpublish_target(p, rec, req->target_path, st) < 0 || unpublish_tmpfs(p, rec, st) < 0) {
                unpublish_keep(p, rec);
                return;
        }
        unpublish_forget(p, rec);
        volume_table_release(p->volumes, rec, true);
}
