/* SPDX-License-Identifier: Apache-2.0 */
/*
 * publish-ops.c - the real side effects of publish and unpublish: the Vault
 * pool (with the server's concurrency slot and the counters), mount.h, the
 * atomic writer, the volume table's state files, the clock.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "clock.h"
#include "metrics.h"
#include "publish-internal.h"
#include "secret-set.h"
#include "macro.h"

/* How long a first publish waits for a Vault concurrency slot. */
#define PUBLISH_SLOT_WAIT_USEC (30ULL * USEC_PER_SEC)

static int real_vault_enter(Publisher *p, const VaultServerConfig *server) {
        VaultLimit *L = vault_pool_limit(p->pool, server);
        return L ? vault_limit_enter(L, PUBLISH_SLOT_WAIT_USEC) : 0;
}

static void real_vault_leave(Publisher *p, const VaultServerConfig *server, int r,
                             const VaultError *ve) {
        VaultLimit *L = vault_pool_limit(p->pool, server);
        if (L)
                vault_limit_leave(L, r, ve);
}

static VaultClient *client_of(Publisher *p, const VaultServerConfig *server, VaultError *ve) {
        VaultClient *c = vault_pool_client(p->pool, server);
        if (!c)
                (void)vault_error_set(ve, -ENOMEM, 0, "out of memory");
        return c;
}

static int real_login(Publisher *p, const VolumeSpec *spec, const Secret *jwt, VaultToken **ret,
                      VaultError *ve) {
        VaultClient *c = client_of(p, spec->server, ve);
        VaultLoginParams lp = volume_login_params(spec, jwt);
        int r;

        if (!c)
                return -ENOMEM;
        r = vault_client_login(c, &lp, ret, ve);
        metrics_vault_call(p->metrics, r == 0 ? 200 : ve->http_status, ve->attempts);
        if (r == 0)
                metrics_inc(p->metrics, METRICS_TOKENS_LOGIN);
        return r;
}

static int real_read(Publisher *p, const VolumeSpec *spec, const VaultToken *token,
                     const VaultRequest *rq, VaultResponse **ret, VaultError *ve) {
        VaultClient *c = client_of(p, spec->server, ve);
        int r;

        if (!c)
                return -ENOMEM;
        r = vault_client_read(c, token, rq, ret, ve);
        metrics_vault_call(p->metrics, r == 0 ? 200 : ve->http_status, ve->attempts);
        return r;
}

static int real_revoke(Publisher *p, const VaultServerConfig *server, const VaultToken *token,
                       VaultError *ve) {
        VaultClient *c = client_of(p, server, ve);
        int r;

        if (!c)
                return -ENOMEM;
        r = vault_client_token_revoke_self(c, token, ve);
        metrics_vault_call(p->metrics, r == 0 ? 204 : ve->http_status, ve->attempts);
        if (r == 0)
                metrics_inc(p->metrics, METRICS_TOKENS_REVOKED);
        return r;
}

static int real_mkdirat(Publisher *p, int dir_fd, const char *path, mode_t mode) {
        return mkdirat(dir_fd, path, mode) < 0 ? -errno : 0;
}

static int real_mount_tmpfs(Publisher *p, const char *path, const TmpfsOptions *opts,
                            uint64_t *ret_mnt_id, char *err, size_t errlen) {
        return mount_tmpfs_id(path, opts, ret_mnt_id, err, errlen);
}

static int real_bind(Publisher *p, const char *source, const char *target, uint64_t *ret_mnt_id,
                     char *err, size_t errlen) {
        return mount_bind_readonly_id(source, target, ret_mnt_id, err, errlen);
}

static int real_umount_if(Publisher *p, const char *path, uint64_t mnt_id, bool lazy, char *err,
                          size_t errlen) {
        return mount_umount_if(path, mnt_id, lazy, err, errlen);
}

static int real_umount(Publisher *p, const char *path, bool lazy, char *err, size_t errlen) {
        return mount_umount(path, lazy, err, errlen);
}

static int real_is_mountpoint(Publisher *p, const char *path, bool *ret) {
        return mount_is_mountpoint(path, ret);
}

static int real_write_files(Publisher *p, int root_fd, const PayloadFile *files, size_t n,
                            gid_t gid, char *err, size_t errlen) {
        /* always the publish's new tmpfs (step_files) */
        return atomic_writer_write(root_fd, files, n, gid, ATOMIC_WRITE_NEW_ROOT, err, errlen);
}

static int real_save(Publisher *p, VolumeRecord *rec) {
        return volume_record_save(p->volumes, rec);
}

static uint64_t real_now(Publisher *p) {
        return realtime_usec();
}

const PublishOps publish_ops_real = {
        .vault_enter = real_vault_enter,
        .vault_leave = real_vault_leave,
        .login = real_login,
        .read = real_read,
        .revoke = real_revoke,
        .mkdirat = real_mkdirat,
        .mount_tmpfs = real_mount_tmpfs,
        .bind = real_bind,
        .umount = real_umount,
        .umount_if = real_umount_if,
        .is_mountpoint = real_is_mountpoint,
        .write_files = real_write_files,
        .save = real_save,
        .now = real_now,
};
