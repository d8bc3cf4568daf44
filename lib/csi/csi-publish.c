/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-publish.c - NodePublishVolume's entry: the request's maps, the volume
 * lock, then a republish or a first publish (see csi-publish.h), and what
 * publish, republish and unpublish share.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics.h"
#include "publish-internal.h"
#include "refresher.h"
#include "macro.h"

void kv_done(KvList *l) {
        free(l->kv);
        *l = (KvList){ 0 };
}

int capability_access_mode(const Csi__V1__VolumeCapability *cap) {
        return cap && cap->access_mode ? (int)cap->access_mode->mode : 0;
}

const char *capability_mount_group(const Csi__V1__VolumeCapability *cap) {
        if (!cap || cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT ||
            !cap->mount || isempty(cap->mount->volume_mount_group))
                return NULL;
        return cap->mount->volume_mount_group;
}

const char *capability_fs_type(const Csi__V1__VolumeCapability *cap) {
        if (!cap || !cap->mount)
                return "";
        return strempty(cap->mount->fs_type);
}

void publish_revoke_quietly(Publisher *p, const VaultServerConfig *server, const VaultToken *token,
                            const char *volume_id) {
        VaultError ve = { 0 };
        int r;

        if (!token || !server)
                return;
        r = publish_ops(p)->revoke(p, server, token, &ve);
        if (r != 0)
                log_warning("revoking the Vault token of volume '%s' failed, ignoring (it "
                            "expires with its TTL): %s",
                            volume_id, ve.message[0] ? ve.message : "failed");
        else
                log_debug("revoked the Vault token of volume '%s'", volume_id);
}

int publish_umount(Publisher *p, const char *path, const char *what, const char *volume_id,
                   char *err, size_t errlen) {
        const PublishOps *ops = publish_ops(p);
        int r = ops->umount(p, path, false, err, errlen);

        if (r == MOUNT_E_BUSY) {
                log_warning("volume '%s': %s '%s' is busy; detaching it lazily", volume_id, what,
                            path);
                r = ops->umount(p, path, true, err, errlen);
        }
        return r;
}

int publish_umount_ours(Publisher *p, const char *path, uint64_t mnt_id, const char *what,
                        const char *volume_id, char *err, size_t errlen) {
        const PublishOps *ops = publish_ops(p);
        bool mp = false;
        int r;

        if (mnt_id == 0) {
                if (ops->is_mountpoint(p, path, &mp) < 0 || !mp)
                        return 0;
                return publish_umount(p, path, what, volume_id, err, errlen);
        }
        r = ops->umount_if(p, path, mnt_id, false, err, errlen);
        if (r == MOUNT_E_BUSY) {
                log_warning("volume '%s': %s '%s' is busy; detaching it lazily", volume_id, what,
                            path);
                r = ops->umount_if(p, path, mnt_id, true, err, errlen);
        }
        return r;
}

/* Whether target_path (no symlink on the way, under the roots) is a bind of
 * the mount at `ours` (same device): what a crash left between bind and save. */
bool publish_target_is_bind_of(Publisher *p, const char *target, const char *ours) {
        const Config *c = p->config;
        _cleanup_close_ int parent_fd = -1;
        const char *name = NULL;
        struct stat a, b;
        bool mp = false;
        char err[PUBLISH_ERRLEN] = "";

        if (target_path_check(target, c->target_roots, c->n_target_roots, &parent_fd, &name, err,
                              sizeof(err)) < 0)
                return false;
        if (fstatat(parent_fd, name, &a, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(a.st_mode) ||
            stat(ours, &b) < 0)
                return false;
        return publish_ops(p)->is_mountpoint(p, target, &mp) == 0 && mp && a.st_dev == b.st_dev;
}

int publish_undo_mounts(Publisher *p, VolumeRecord *rec, const char *target, const char *mnt,
                        char *err, size_t errlen) {
        const char *id = rec->volume_id;
        bool mp = false;
        int r = 0;

        if (rec->facts.target_mnt_id)
                r = publish_umount_ours(p, target, rec->facts.target_mnt_id, "target", id, err,
                                        errlen);
        else if (target && publish_ops(p)->is_mountpoint(p, mnt, &mp) == 0 && mp &&
                 publish_target_is_bind_of(p, target, mnt))
                r = publish_umount(p, target, "target", id, err, errlen);
        if (r == 0)
                /* the state path is ours: whatever is mounted there is our tmpfs */
                r = publish_umount_ours(p, mnt, rec->facts.tmpfs_mnt_id, "tmpfs", id, err, errlen);
        return r;
}

/* After the volume is released: a republish that found something due
 * refreshes it now, within a bound, and answers from its status. */
static void republish_finish(Publisher *p, const char *volume_id, bool refresh_now, CsiStatus *st) {
        if (st->set)
                return;
        if (refresh_now)
                (void)refresher_refresh_now(p->refresher, volume_id,
                                            p->config->republish_wait_usec);
        republish_answer(p, volume_id, st);
}

void csi_publish(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st) {
        KvList secrets = { 0 }, ctx = { 0 };
        VolumeRecord *rec = NULL;
        bool keep = false, refresh_now = false;
        int r;

        if (KV_LIST_FROM(req->secrets, req->n_secrets, &secrets) < 0 ||
            KV_LIST_FROM(req->volume_context, req->n_volume_context, &ctx) < 0) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodePublishVolume: out of memory");
                goto out;
        }
        r = volume_table_acquire(p->volumes, req->volume_id, &rec);
        if (r == -EBUSY) {
                republish_while_refreshing(p, req, &secrets, &ctx, st);
                goto out;
        }
        if (r < 0) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodePublishVolume: out of memory");
                goto out;
        }
        if (rec->published) {
                refresh_now = republish(p, rec, req, &secrets, &ctx, st);
                volume_table_release(p->volumes, rec, false);
                republish_finish(p, req->volume_id, refresh_now, st);
                goto out;
        }
        publish_first(p, rec, req, &secrets, &ctx, st, &keep);
        volume_table_release(p->volumes, rec, !keep);
out:
        kv_done(&secrets);
        kv_done(&ctx);
}
