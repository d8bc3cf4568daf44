/* SPDX-License-Identifier: Apache-2.0 */
/*
 * publish-tx.c - a first publish as a transaction: small steps, each
 * recording what it did, and one rollback that undoes exactly that in
 * reverse (see csi-publish.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "clock.h"
#include "fsutil.h"
#include "log.h"
#include "parse.h"
#include "publish-internal.h"
#include "refresher.h"
#include "secret-set.h"
#include "volume-spec.h"
#include "macro.h"

/* What a step did, for the rollback (bits of PublishTx.done). */
typedef enum TxDone {
        TX_TARGET_CREATED = 1U << 0, /* mkdir target_path */
        TX_STATE_DIR = 1U << 1,      /* the volume's state dir and its mnt */
        TX_TMPFS = 1U << 2,          /* the private tmpfs is mounted */
        TX_TOKEN = 1U << 3,          /* a Vault token was issued for us */
        TX_BOUND = 1U << 4,          /* the read-only bind at target_path */
        TX_SAVED = 1U << 5,          /* record.json (and the token) were written */
} TxDone;

typedef struct PublishTx {
        Publisher *p;
        const PublishOps *ops;
        const Csi__V1__NodePublishVolumeRequest *req;
        const KvList *secrets, *ctx;
        CsiStatus *st;
        VolumeRecord *rec;
        VolumeSpec *spec;
        SaToken tok;
        VaultToken *token;
        const char *group;
        gid_t gid;
        int parent_fd;
        const char *name;
        char *state_mnt;
        int root_fd;
        size_t *group_of;
        size_t n_groups;
        VaultResponse **resp; /* per group */
        ObjectValue *values;  /* per object: its files */
        unsigned done;
} PublishTx;

typedef int (*TxStep)(PublishTx *tx);

#define FAIL(tx, code, ...)                                                                        \
        (csi_status_set((tx)->st, (code), "NodePublishVolume: " __VA_ARGS__), -EIO)

static int tx_oom(PublishTx *tx) {
        return FAIL(tx, CSI_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- steps ---- */

static int step_attributes(PublishTx *tx) {
        _cleanup_free_ KeyValue *attrs = NULL;
        char err[PUBLISH_ERRLEN] = "";
        size_t n = 0;
        int r;

        r = volume_record_set_attributes(tx->rec, tx->ctx->kv, tx->ctx->n);
        if (r == 0)
                r = volume_record_attributes(tx->rec, &attrs, &n);
        if (r < 0)
                return tx_oom(tx);
        r = volume_spec_parse(tx->p->config, attrs, n, &tx->spec, err, sizeof(err));
        if (r < 0)
                return FAIL(tx, r == -E2BIG ? CSI_RESOURCE_EXHAUSTED : CSI_INVALID_ARGUMENT, "%s",
                            err);
        return 0;
}

static int step_capability(PublishTx *tx) {
        const Csi__V1__VolumeCapability *cap = tx->req->volume_capability;
        const char *fs = capability_fs_type(cap);
        unsigned g;

        if (!isempty(fs) && !streq(fs, "tmpfs"))
                return FAIL(tx, CSI_INVALID_ARGUMENT,
                            "fsType '%s' is not supported: vaultmount volumes are tmpfs (leave "
                            "fsType unset)",
                            fs);
        if (cap && cap->mount && cap->mount->n_mount_flags > 0)
                return FAIL(tx, CSI_INVALID_ARGUMENT,
                            "mount flags are not supported (leave CSIDriver seLinuxMount unset)");
        tx->group = capability_mount_group(cap);
        if (!tx->group)
                return 0;
        if (parse_unsigned(tx->group, 0, 0x7fffffff, &g) < 0)
                return FAIL(tx, CSI_INVALID_ARGUMENT,
                            "volume_mount_group '%s' is not a numeric group id", tx->group);
        tx->gid = (gid_t)g;
        return 0;
}

static int step_pod_token(PublishTx *tx) {
        const Config *c = tx->p->config;
        char err[PUBLISH_ERRLEN] = "";
        int r;

        r = sa_token_get(tx->secrets->kv, tx->secrets->n, tx->ctx->kv, tx->ctx->n, c->token_source,
                         tx->spec->audience, (int64_t)(tx->ops->now(tx->p) / USEC_PER_SEC),
                         c->driver_name, &tx->tok, err, sizeof(err));
        if (r != 0)
                return FAIL(tx,
                            r == SA_TOKEN_E_EXPIRED ? CSI_UNAUTHENTICATED
                            : r < 0                 ? CSI_RESOURCE_EXHAUSTED
                                                    : CSI_INVALID_ARGUMENT,
                            "%s", err[0] ? err : "the service-account token is unusable");
        if (tx->tok.origin == SA_TOKEN_FROM_VOLUME_CONTEXT)
                log_warning("volume '%s': the service-account token came in volume_context; set "
                            "serviceAccountTokenInSecrets: true in the CSIDriver '%s' "
                            "(Kubernetes 1.35+) so tokens travel in the secrets field",
                            tx->req->volume_id, c->driver_name);
        return 0;
}

/*
 * Write-ahead: records what the publish has done or is about to do, so that
 * after a crash the next start undoes it (publish_recover()). One record
 * (record.json with "publishing", in the state dir made for it) as soon as
 * Vault issued the token: the token, and the target dir the publish is
 * about to create. A start recognises both mounts without their ids
 * (publish_undo_mounts()), so they wait for the final save. A publish that
 * cannot record itself does not go on.
 */
static int tx_checkpoint(PublishTx *tx, const char *what) {
        int r;

        tx->rec->intent = true;
        r = tx->ops->save(tx->p, tx->rec);
        if (r < 0)
                return FAIL(tx, csi_code_from_local(r), "recording the publish (%s) failed: %s",
                            what, strerror(-r));
        tx->done |= TX_SAVED;
        return 0;
}

/* One target, one volume: another volume published (or being published)
 * at target_path refuses this one. */
static int step_claim(PublishTx *tx) {
        _cleanup_free_ char *owner = NULL;
        int r = volume_table_claim_target(tx->p->volumes, tx->rec, tx->req->target_path, &owner);

        if (r == -EEXIST)
                return FAIL(tx, CSI_FAILED_PRECONDITION,
                            "target_path '%s' is already used by volume '%s'", tx->req->target_path,
                            owner);
        if (r < 0)
                return tx_oom(tx);
        tx->rec->facts.server = strdup(tx->spec->server->name);
        tx->rec->facts.ns = tx->spec->ns ? strdup(tx->spec->ns) : NULL;
        if (!tx->rec->facts.server || (tx->spec->ns && !tx->rec->facts.ns))
                return tx_oom(tx);
        return 0;
}

/* target_path exists already: ours to use only when it is an empty-handed dir. */
static int target_existing(PublishTx *tx) {
        const char *target = tx->req->target_path;
        struct stat sb;
        bool mp = false;

        if (fstatat(tx->parent_fd, tx->name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
                return FAIL(tx, CSI_INVALID_ARGUMENT,
                            "target_path '%s' exists and is not a directory", target);
        if (tx->ops->is_mountpoint(tx->p, target, &mp) == 0 && mp)
                return FAIL(tx, CSI_FAILED_PRECONDITION,
                            "target_path '%s' is already a mount point that vaultmount did not "
                            "publish",
                            target);
        return 0;
}

/*
 * Checks target_path and whether it exists; touches nothing. The dir it
 * will create is recorded with the token (step "vault") and made after it
 * (step "target-dir"), so a publish that Vault refuses creates none.
 */
static int step_target(PublishTx *tx) {
        const Config *c = tx->p->config;
        char err[PUBLISH_ERRLEN] = "";
        struct stat sb;
        int r;

        r = target_path_check(tx->req->target_path, c->target_roots, c->n_target_roots,
                              &tx->parent_fd, &tx->name, err, sizeof(err));
        if (r < 0)
                return FAIL(
                        tx,
                        r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -ENAMETOOLONG ||
                                        r == -EINVAL
                                ? (r == -ENOENT ? CSI_FAILED_PRECONDITION : CSI_INVALID_ARGUMENT)
                                : csi_code_from_local(r),
                        "%s", err[0] ? err : strerror(-r));
        if (fstatat(tx->parent_fd, tx->name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
                return target_existing(tx);
        r = -errno;
        if (r != -ENOENT)
                return FAIL(tx, csi_code_from_local(r), "checking target_path '%s' failed: %s",
                            tx->req->target_path, strerror(-r));
        tx->rec->facts.target_created = true; /* about to be: recorded first */
        return 0;
}

static int step_target_dir(PublishTx *tx) {
        int r;

        if (!tx->rec->facts.target_created)
                return 0;
        r = tx->ops->mkdirat(tx->p, tx->parent_fd, tx->name, 0750);
        if (r == 0) {
                tx->done |= TX_TARGET_CREATED;
                return 0;
        }
        if (r != -EEXIST)
                return FAIL(tx, csi_code_from_local(r), "creating target_path '%s' failed: %s",
                            tx->req->target_path, strerror(-r));
        /* made by someone else since step "target": never ours to remove */
        tx->rec->facts.target_created = false;
        if (tx_checkpoint(tx, "target") < 0)
                return -EIO;
        return target_existing(tx);
}

/* The volume's state dir and its mnt, made once Vault issued the token: a
 * pod that Vault refuses touches nothing on the node. */
static int make_state_dir(PublishTx *tx) {
        _cleanup_free_ char *dir = volume_record_dir(tx->p->volumes, tx->rec);
        int r;

        tx->state_mnt = volume_record_mount_dir(tx->p->volumes, tx->rec);
        if (!dir || !tx->state_mnt)
                return tx_oom(tx);
        r = tx->ops->mkdirat(tx->p, AT_FDCWD, dir, 0700);
        if (r == 0 || r == -EEXIST) {
                tx->done |= TX_STATE_DIR;
                r = tx->ops->mkdirat(tx->p, AT_FDCWD, tx->state_mnt, 0700);
        }
        if (r < 0 && r != -EEXIST)
                return FAIL(tx, csi_code_from_local(r), "creating '%s' failed: %s", tx->state_mnt,
                            strerror(-r));
        /* the publish's saves share one descriptor (else each opens the dir) */
        (void)volume_record_hold_dir(tx->p->volumes, tx->rec);
        /* recorded right away, with the token; a start finds a dir without
         * a record empty and removes it */
        return 0;
}

static int step_tmpfs(PublishTx *tx) {
        const Config *c = tx->p->config;
        char err[PUBLISH_ERRLEN] = "";
        TmpfsOptions to = {
                .size_bytes = c->tmpfs_size_default,
                .nr_inodes = (uint64_t)c->max_objects * 2 + 16,
                .gid = tx->gid,
                .mode = tx->gid != (gid_t)-1 ? 0750 : 0755,
        };
        int r = tx->ops->mount_tmpfs(tx->p, tx->state_mnt, &to, &tx->rec->facts.tmpfs_mnt_id, err,
                                     sizeof(err));

        if (r != 0)
                return FAIL(tx, csi_code_from_local(r < 0 ? r : -EIO), "%s",
                            err[0] ? err : "mounting the volume's tmpfs failed");
        tx->done |= TX_TMPFS;
        /* its id is recorded by the final save; a start that finds none
         * unmounts whatever is at the volume's own state path
         * (publish_undo_mounts()) */
        return 0;
}

static void set_vault_status(PublishTx *tx, int r, const VaultError *ve, const char *what) {
        csi_status_set(tx->st, vault_error_to_csi_code(r),
                       "NodePublishVolume: %s (Vault server '%s'): %s", what,
                       tx->spec->server->name, ve->message[0] ? ve->message : "failed");
}

static int vault_login(PublishTx *tx) {
        VaultError ve = { 0 };
        char what[512];
        int r = tx->ops->login(tx->p, tx->spec, tx->tok.jwt, &tx->token, &ve);

        if (r == 0) {
                const char *accessor = vault_token_accessor(tx->token);
                tx->done |= TX_TOKEN;
                /* the record holds it from now on: saved, so a restart can revoke it */
                volume_record_set_token(tx->rec, TAKE_PTR(tx->token));
                tx->rec->token_accessor = accessor ? strdup(accessor) : NULL;
                r = make_state_dir(tx);
                if (r == 0)
                        r = tx_checkpoint(tx, "token");
                if (r < 0)
                        tx->ops->vault_leave(tx->p, tx->spec->server, 0, &ve);
                return r;
        }
        (void)snprintf(what, sizeof(what), "login with role '%s' at auth mount '%s'",
                       tx->spec->role, tx->spec->auth_mount);
        set_vault_status(tx, r, &ve, what);
        tx->ops->vault_leave(tx->p, tx->spec->server, r, &ve);
        return -EIO;
}

/* One read per request group; every object rendered from its group's response. */
static int vault_fetch(PublishTx *tx, int *ret_r, VaultError *ret_ve) {
        const VolumeSpec *spec = tx->spec;
        char err[PUBLISH_ERRLEN] = "";

        for (size_t gi = 0; gi < tx->n_groups; gi++) {
                size_t first = secret_set_first_object(tx->group_of, spec->n_objects, gi);
                const SecretObject *o = &spec->objects[first];
                VaultRequest rq = secret_set_request(o);
                int r = tx->ops->read(tx->p, spec, tx->rec->token, &rq, &tx->resp[gi], ret_ve);

                if (r != 0) {
                        char what[768];
                        (void)snprintf(what, sizeof(what), "reading '%s' for object '%s'", o->path,
                                       o->name);
                        set_vault_status(tx, r, ret_ve, what);
                        *ret_r = r;
                        return -EIO;
                }
                r = secret_set_render_group(spec, tx->group_of, gi, tx->resp[gi],
                                            tx->p->config->max_file_bytes, tx->values, err,
                                            sizeof(err));
                if (r < 0)
                        return FAIL(tx,
                                    r == -ENOENT   ? CSI_NOT_FOUND
                                    : r == -E2BIG  ? CSI_RESOURCE_EXHAUSTED
                                    : r == -EINVAL ? CSI_INVALID_ARGUMENT
                                                   : csi_code_from_local(r),
                                    "%s", err[0] ? err : strerror(-r));
        }
        log_debug("fetched %zu objects with %zu Vault requests", spec->n_objects, tx->n_groups);
        return 0;
}

static int step_vault(PublishTx *tx) {
        const VolumeSpec *spec = tx->spec;
        VaultError ve = { 0 };
        int r, vr = 0;

        if (secret_set_group(spec, &tx->group_of, &tx->n_groups) < 0 ||
            !(tx->resp = calloc(tx->n_groups ? tx->n_groups : 1, sizeof(*tx->resp))) ||
            !(tx->values = calloc(spec->n_objects ? spec->n_objects : 1, sizeof(*tx->values))))
                return tx_oom(tx);
        /* first publishes are bounded by concurrency only, not by the refresh rate */
        if (tx->ops->vault_enter(tx->p, spec->server) < 0)
                return FAIL(tx, CSI_UNAVAILABLE,
                            "too many Vault calls in flight to server '%s' (node setting "
                            "vault-max-concurrency); retrying later may help",
                            spec->server->name);
        r = vault_login(tx);
        if (r < 0)
                return r;
        r = vault_fetch(tx, &vr, &ve);
        /* the slot back; a 429/503 also pauses refreshes */
        tx->ops->vault_leave(tx->p, spec->server, vr, &ve);
        return r;
}

static int step_files(PublishTx *tx) {
        _cleanup_free_ PayloadFile *files = NULL;
        char err[PUBLISH_ERRLEN] = "";
        size_t n_files = 0;
        int r;

        r = secret_set_files(tx->spec, tx->values, tx->gid, tx->p->config->max_volume_bytes, &files,
                             &n_files, err, sizeof(err));
        if (r == -ENOMEM)
                return tx_oom(tx);
        if (r < 0)
                return FAIL(tx, r == -EINVAL ? CSI_INVALID_ARGUMENT : CSI_RESOURCE_EXHAUSTED, "%s",
                            err);
        tx->root_fd = open(tx->state_mnt, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tx->root_fd < 0)
                return FAIL(tx, csi_code_from_local(-errno), "opening '%s' failed: %s",
                            tx->state_mnt, strerror(errno));
        r = tx->ops->write_files(tx->p, tx->root_fd, files, n_files, tx->gid, err, sizeof(err));
        /* nothing keeps the tmpfs busy from here on (a rollback unmounts it) */
        tx->root_fd = safe_close(tx->root_fd);
        if (r < 0)
                return FAIL(tx, csi_code_from_local(r), "writing files: %s",
                            err[0] ? err : strerror(-r));
        return 0;
}

static int step_bind(PublishTx *tx) {
        char err[PUBLISH_ERRLEN] = "";
        int r = tx->ops->bind(tx->p, tx->state_mnt, tx->req->target_path,
                              &tx->rec->facts.target_mnt_id, err, sizeof(err));

        if (r != 0)
                return FAIL(tx, csi_code_from_local(r < 0 ? r : -EIO), "%s",
                            err[0] ? err : "binding the volume at target_path failed");
        tx->done |= TX_BOUND;
        /* its id is recorded by the final save, a few file writes later; a
         * start that finds none unmounts the target only when it is a bind
         * of exactly this volume's tmpfs (publish_target_is_bind_of()) */
        return 0;
}

/* The record's publish facts (they never change afterwards). */
static int record_facts(PublishTx *tx) {
        const Csi__V1__NodePublishVolumeRequest *req = tx->req;
        VolumeRecord *rec = tx->rec;
        rec->facts.fs_type = strdup(capability_fs_type(req->volume_capability));
        rec->facts.mount_group = tx->group ? strdup(tx->group) : NULL;
        rec->facts.readonly = req->readonly;
        rec->facts.access_mode = capability_access_mode(req->volume_capability);
        if (!rec->facts.fs_type || (tx->group && !rec->facts.mount_group))
                return -ENOMEM;
        return 0;
}

static int step_record(PublishTx *tx) {
        VolumeRecord *rec = tx->rec;
        int r;

        if (record_facts(tx) < 0)
                return tx_oom(tx);
        volume_record_set_jwt(tx->p->volumes, rec, TAKE_PTR(tx->tok.jwt), tx->tok.expires_unix);
        rec->spec = TAKE_PTR(tx->spec);
        r = refresher_volume_init(tx->p->refresher, rec, TAKE_PTR(tx->group_of), tx->n_groups,
                                  (const VaultResponse *const *)tx->resp, tx->ops->now(tx->p));
        if (r < 0)
                return tx_oom(tx);
        return 0;
}

static int step_save(PublishTx *tx) {
        int r;

        tx->rec->published = true; /* record.json without "publishing" */
        r = tx->ops->save(tx->p, tx->rec);
        tx->rec->published = false;

        if (r < 0)
                return FAIL(tx, csi_code_from_local(r), "saving the volume state failed: %s",
                            strerror(-r));
        tx->done |= TX_SAVED;
        return 0;
}

/* ---- rollback ---- */

/* Undoes exactly what the steps did, in reverse: no mount, no directory, no
 * state, no live Vault token. */
static void tx_rollback(PublishTx *tx) {
        Publisher *p = tx->p;
        VolumeRecord *rec = tx->rec;
        const char *id = tx->req->volume_id;
        const VaultServerConfig *server = rec->spec  ? rec->spec->server
                                          : tx->spec ? tx->spec->server
                                                     : NULL;
        char err[PUBLISH_ERRLEN] = "";

        tx->root_fd = safe_close(tx->root_fd);
        if (tx->done & TX_BOUND)
                (void)publish_umount_ours(p, tx->req->target_path, rec->facts.target_mnt_id,
                                          "target", id, err, sizeof(err));
        if (tx->done & TX_TMPFS)
                (void)publish_umount_ours(p, tx->state_mnt, rec->facts.tmpfs_mnt_id, "tmpfs", id,
                                          err, sizeof(err));
        if (tx->done & TX_TOKEN)
                publish_revoke_quietly(p, server, rec->token, id);
        if (tx->done & (TX_STATE_DIR | TX_SAVED))
                (void)volume_record_remove(p->volumes, rec);
        if ((tx->done & TX_TARGET_CREATED) && tx->parent_fd >= 0)
                (void)unlinkat(tx->parent_fd, tx->name, AT_REMOVEDIR);
}

static void tx_done(PublishTx *tx) {
        volume_record_release_dir(tx->rec);
        tx->root_fd = safe_close(tx->root_fd);
        tx->parent_fd = safe_close(tx->parent_fd);
        vault_token_free(tx->token);
        sa_token_done(&tx->tok);
        volume_spec_free(tx->spec);
        free(tx->group_of);
        for (size_t i = 0; tx->resp && i < tx->n_groups; i++)
                vault_response_free(tx->resp[i]);
        free(tx->resp);
        free(tx->values); /* the files were freed by the caller */
        free(tx->state_mnt);
}

static const struct {
        const char *name;
        TxStep fn;
} publish_steps[] = {
        { "attributes", step_attributes }, { "capability", step_capability },
        { "pod-token", step_pod_token },   { "claim", step_claim },
        { "target", step_target },         { "vault", step_vault },
        { "target-dir", step_target_dir }, { "tmpfs", step_tmpfs },
        { "files", step_files },           { "bind", step_bind },
        { "record", step_record },         { "save", step_save },
};

/* Testing aid (test-publish-pause): stop before a step so a test can kill
 * the daemon there. */
static void test_pause(const Publisher *p, const char *step) {
        char path[PATH_MAX];
        int fd;

        if (isempty(p->config->test_publish_pause) || !streq(p->config->test_publish_pause, step))
                return;
        (void)snprintf(path, sizeof(path), "%s/paused-%s", p->config->state_dir, step);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
                close(fd);
        log_warning("test-publish-pause: stopping before step '%s' for a minute", step);
        (void)sleep(60);
}

void publish_first(Publisher *p, VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
                   const KvList *secrets, const KvList *ctx, CsiStatus *st, bool *ret_keep) {
        PublishTx tx = {
                .p = p,
                .ops = publish_ops(p),
                .req = req,
                .secrets = secrets,
                .ctx = ctx,
                .st = st,
                .rec = rec,
                .gid = (gid_t)-1,
                .parent_fd = -1,
                .root_fd = -1,
        };
        size_t n_objects = 0;

        *ret_keep = false;
        for (size_t i = 0; i < ELEMENTSOF(publish_steps); i++) {
                test_pause(p, publish_steps[i].name);
                if (publish_steps[i].fn(&tx) < 0) {
                        if (!st->set)
                                csi_status_set(st, CSI_INTERNAL,
                                               "NodePublishVolume: step '%s' failed",
                                               publish_steps[i].name);
                        tx_rollback(&tx);
                        break;
                }
        }
        if (!st->set) {
                /* the spec holds what it needs; the objects file has the rest */
                rec->objects_attr = secret_free(rec->objects_attr);
                rec->published = true;
                rec->intent = false;
                *ret_keep = true;
                refresher_schedule(p->refresher, rec);
                log_debug("volume '%s' published at '%s' with %zu files", req->volume_id,
                          req->target_path, rec->spec->n_objects);
        }
        n_objects = rec->spec ? rec->spec->n_objects : tx.spec ? tx.spec->n_objects : 0;
        for (size_t i = 0; tx.values && i < n_objects; i++)
                object_value_done(&tx.values[i]);
        tx_done(&tx);
}

/* ---- after a crash ---- */

/* The bind and the tmpfs of an interrupted publish (ours only). */
static int recover_mounts(Publisher *p, VolumeRecord *rec, const char *mnt) {
        char err[PUBLISH_ERRLEN] = "";
        int r = publish_undo_mounts(p, rec, rec->facts.target_path, mnt, err, sizeof(err));

        if (r != 0)
                log_warning("volume '%s': undoing a publish that a restart interrupted: %s",
                            rec->volume_id, err);
        return r;
}

static bool recover_one(Publisher *p, VolumeRecord *rec) {
        _cleanup_free_ char *mnt = volume_record_mount_dir(p->volumes, rec);
        const VaultServerConfig *server = config_vault_server(p->config, rec->facts.server);

        if (!mnt || recover_mounts(p, rec, mnt) != 0)
                return false; /* kept: the next start tries again */
        if (rec->token)
                publish_revoke_quietly(p, server, rec->token, rec->volume_id);
        else if (rec->token_accessor)
                log_warning("volume '%s': the Vault token of an interrupted publish was not kept "
                            "(state dir not on tmpfs); it expires with its TTL",
                            rec->volume_id);
        /* only an empty directory goes: one that is still a mount point stays */
        if (rec->facts.target_created && rec->facts.target_path &&
            rmdir(rec->facts.target_path) < 0 && errno != ENOENT)
                log_debug("volume '%s': target_path '%s' stays: %s", rec->volume_id,
                          rec->facts.target_path, strerror(errno));
        (void)volume_record_remove(p->volumes, rec);
        log_info("volume '%s': undid a publish that a restart interrupted (target '%s')",
                 rec->volume_id, strempty(rec->facts.target_path));
        return true;
}

size_t publish_recover(Publisher *p) {
        char **ids = NULL;
        size_t n = 0, undone = 0;

        if (volume_table_list_intents(p->volumes, &ids, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                VolumeRecord *rec = NULL;
                if (volume_table_acquire(p->volumes, ids[i], &rec) == 0) {
                        bool done = recover_one(p, rec);
                        undone += done;
                        volume_table_release(p->volumes, rec, done);
                }
                free(ids[i]);
        }
        free(ids);
        return undone;
}
