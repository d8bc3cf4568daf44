/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unpublish.c - NodeUnpublishVolume (see csi-publish.h).
 */
#include <stdio.h>

#include "log.h"
#include "publish-internal.h"
#include "refresher.h"
#include "macro.h"


/* ABORTED (kubelet retries); the volume goes back on the refresh schedule. */
static void unpublish_busy(Publisher *p, const char *volume_id, const char *what,
                           CsiStatus *st) {
        refresher_resume(p->refresher, volume_id);
        csi_status_set(st, CSI_ABORTED, "NodeUnpublishVolume: %s volume '%s' is still in "
                       "progress", what, volume_id);
}

void csi_unpublish(Publisher *p, const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st) {
        const PublishOps *ops = publish_ops(p);
        VolumeRecord *rec = NULL;
        char err[PUBLISH_ERRLEN] = "";
        bool mp = false;
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
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodeUnpublishVolume: out of memory");
                return;
        }

        if (rec->published && !streq(rec->facts.target_path, req->target_path)) {
                /* not the target we published: nothing of ours is there */
                log_debug("unpublish of volume '%s' at '%s': published at '%s', nothing to do",
                          req->volume_id, req->target_path, rec->facts.target_path);
                refresher_schedule(p->refresher, rec);
                volume_table_release(p->volumes, rec, false);
                return;
        }

        /* the bind at target_path (also when our state was lost) */
        if (ops->is_mountpoint(p, req->target_path, &mp) == 0 && mp) {
                r = publish_umount(p, req->target_path, "target", req->volume_id, err, sizeof(err));
                if (r != 0) {
                        csi_status_set(st, CSI_UNAVAILABLE, "NodeUnpublishVolume: %s (retrying "
                                       "later may help)", err);
                        if (rec->published)
                                refresher_schedule(p->refresher, rec);
                        volume_table_release(p->volumes, rec, !rec->published);
                        return;
                }
        }
        if (rmdir(req->target_path) < 0 && errno != ENOENT) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                        log_warning("volume '%s': target_path '%s' is not empty after unmount, "
                                    "leaving it to kubelet",
                                    req->volume_id, req->target_path);
                else if (errno != ENOTDIR) {
                        csi_status_set(st, csi_code_from_local(-errno),
                                       "NodeUnpublishVolume: removing '%s' failed: %s",
                                       req->target_path, strerror(errno));
                        if (rec->published)
                                refresher_schedule(p->refresher, rec);
                        volume_table_release(p->volumes, rec, !rec->published);
                        return;
                }
        }

        /* the private tmpfs, the Vault token and the state */
        {
                _cleanup_free_ char *mnt = volume_record_mount_dir(p->volumes, rec);
                if (mnt && ops->is_mountpoint(p, mnt, &mp) == 0 && mp) {
                        r = publish_umount(p, mnt, "tmpfs", req->volume_id, err, sizeof(err));
                        if (r != 0) {
                                csi_status_set(st, CSI_UNAVAILABLE, "NodeUnpublishVolume: %s",
                                               err);
                                if (rec->published)
                                        refresher_schedule(p->refresher, rec);
                                volume_table_release(p->volumes, rec, !rec->published);
                                return;
                        }
                }
        }
        {
                const VaultServerConfig *server = config_vault_server(p->config,
                                                                      rec->facts.server);
                _cleanup_(vault_token_freep) VaultToken *old = volume_record_take_old_token(rec);
                if (rec->token)
                        publish_revoke_quietly(p, server, rec->token, req->volume_id);
                else if (rec->token_accessor)
                        log_warning("volume '%s': its Vault token was not kept (state dir not "
                                    "on tmpfs); it expires with its TTL",
                                    req->volume_id);
                if (old)
                        publish_revoke_quietly(p, server, old, req->volume_id);
        }
        if (rec->published)
                refresher_forget(p->refresher, rec);
        r = volume_record_remove(p->volumes, rec);
        if (r < 0)
                log_warning("volume '%s': removing its state failed, ignoring: %s",
                            req->volume_id, strerror(-r));
        volume_table_release(p->volumes, rec, true);
}
