/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csi-publish.c - the publish and unpublish paths (see csi-publish.h).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic-writer.h"
#include "csi-publish.h"
#include "log.h"
#include "metrics.h"
#include "mount.h"
#include "parse.h"
#include "refresh.h"
#include "sa-token.h"
#include "volume-spec.h"
#include "macro.h"

#define ERRLEN 512
/* How long a first publish waits for a Vault concurrency slot. */
#define PUBLISH_SLOT_WAIT_USEC (30ULL * 1000000)

/* ---- request maps as KeyValue arrays ---- */

typedef struct KvList {
        KeyValue *kv;
        size_t n;
} KvList;

static int kv_from_secrets(Csi__V1__NodePublishVolumeRequest__SecretsEntry **e, size_t n,
                           KvList *out) {
        out->kv = calloc(n ? n : 1, sizeof(KeyValue));
        if (!out->kv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                out->kv[i] = (KeyValue){ e[i]->key, e[i]->value };
        out->n = n;
        return 0;
}

static int kv_from_context(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry **e, size_t n,
                           KvList *out) {
        out->kv = calloc(n ? n : 1, sizeof(KeyValue));
        if (!out->kv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                out->kv[i] = (KeyValue){ e[i]->key, e[i]->value };
        out->n = n;
        return 0;
}

static void kv_done(KvList *l) {
        free(l->kv);
        l->kv = NULL;
}

/* ---- target path ---- */

int target_path_check(const char *path, char *const *roots, size_t n_roots, int *ret_parent_fd,
                      const char **ret_name, char *err, size_t errlen) {
        const char *root = NULL, *p, *last;
        int fd;
        size_t len = strlen(path);

        if (path[0] != '/') {
                (void)snprintf(err, errlen, "target_path '%s' is not absolute", path);
                return -EINVAL;
        }
        if (len >= PATH_MAX || len < 2 || path[len - 1] == '/') {
                (void)snprintf(err, errlen, "target_path '%s' is not a usable directory path",
                               path);
                return -EINVAL;
        }
        /* every component must be a plain name */
        for (p = path + 1;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t)(slash - p) : strlen(p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        (void)snprintf(err, errlen,
                                       "target_path '%s' has an empty, '.' or '..' component",
                                       path);
                        return -EINVAL;
                }
                if (!slash)
                        break;
                p = slash + 1;
        }
        for (size_t i = 0; i < n_roots && !root; i++) {
                size_t rl = strlen(roots[i]);
                while (rl > 1 && roots[i][rl - 1] == '/')
                        rl--;
                if (strncmp(path, roots[i], rl) == 0 && path[rl] == '/' && path[rl + 1])
                        root = roots[i];
        }
        if (!root) {
                (void)snprintf(err, errlen,
                               "target_path '%s' is not under an allowed root (node setting "
                               "target-roots)",
                               path);
                return -EINVAL;
        }

        /* walk the parent with O_NOFOLLOW: no symlink anywhere on the way */
        last = strrchr(path, '/');
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (p = path + 1; p < last;) {
                const char *slash = strchr(p, '/');
                char comp[NAME_MAX + 1];
                size_t n = (size_t)(slash - p);
                int next;
                if (n > NAME_MAX) {
                        close(fd);
                        (void)snprintf(err, errlen, "target_path '%s' has a component longer "
                                                    "than %d bytes", path, NAME_MAX);
                        return -ENAMETOOLONG;
                }
                memcpy(comp, p, n);
                comp[n] = '\0';
                next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        int r = -errno;
                        close(fd);
                        if (r == -ENOTDIR || r == -ELOOP)
                                (void)snprintf(err, errlen,
                                               "target_path '%s': '%s' is a symlink or not a "
                                               "directory",
                                               path, comp);
                        else
                                (void)snprintf(err, errlen,
                                               "target_path '%s': the parent directory does "
                                               "not exist (kubelet creates it)",
                                               path);
                        return r;
                }
                close(fd);
                fd = next;
                p = slash + 1;
        }
        if (strlen(last + 1) > NAME_MAX) {
                close(fd);
                (void)snprintf(err, errlen, "target_path '%s': name too long", path);
                return -ENAMETOOLONG;
        }
        *ret_parent_fd = fd;
        *ret_name = last + 1;
        return 0;
}

/* ---- helpers ---- */

static const char *token_code_hint(int r) {
        switch (r) {
        case SA_TOKEN_E_EXPIRED:
                return "expired";
        default:
                return "invalid";
        }
}

static int mode_of_capability(const Csi__V1__VolumeCapability *cap) {
        return cap && cap->access_mode ? (int)cap->access_mode->mode : 0;
}

static const char *mount_group_of(const Csi__V1__VolumeCapability *cap) {
        if (!cap || cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT ||
            !cap->mount || isempty(cap->mount->volume_mount_group))
                return NULL;
        return cap->mount->volume_mount_group;
}

static const char *fs_type_of(const Csi__V1__VolumeCapability *cap) {
        if (!cap || !cap->mount)
                return "";
        return strempty(cap->mount->fs_type);
}

/* Same arguments (secrets aside) as the recorded publish? (spec table) */
static bool same_publish_args(const VolumeRecord *r, const Csi__V1__NodePublishVolumeRequest *req) {
        const Csi__V1__VolumeCapability *cap = req->volume_capability;
        return r->readonly == req->readonly && r->access_mode == mode_of_capability(cap) &&
               streq(strempty(r->fs_type), fs_type_of(cap)) &&
               streq_ptr(r->mount_group, mount_group_of(cap));
}

static void revoke_quietly(Publisher *p, const VaultServerConfig *server, VaultToken *token,
                           const char *volume_id) {
        VaultClient *client;
        VaultError ve = { 0 };
        int r;
        if (!token || !server)
                return;
        client = vault_pool_client(p->pool, server);
        if (!client)
                return;
        r = vault_client_token_revoke_self(client, token, &ve);
        metrics_vault_call(p->metrics, r == 0 ? 204 : ve.http_status, ve.attempts);
        if (r == 0)
                metrics_inc(p->metrics, METRICS_TOKENS_REVOKED);
        if (r != 0)
                log_warning("revoking the Vault token of volume '%s' failed, ignoring (it "
                            "expires with its TTL): %s",
                            volume_id, ve.message);
        else
                log_debug("revoked the Vault token of volume '%s'", volume_id);
}

static int mkdir_p_mode(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Unmounts if mounted; a busy mount is detached lazily with a warning. */
static int umount_path(const char *path, const char *what, const char *volume_id, char *err,
                       size_t errlen) {
        int r = mount_umount(path, false, err, errlen);
        if (r == MOUNT_E_BUSY) {
                log_warning("volume '%s': %s '%s' is busy; detaching it lazily", volume_id, what,
                            path);
                r = mount_umount(path, true, err, errlen);
        }
        return r;
}

/*
 * Unmounts our mount at `path`, recognised by the id recorded when we made
 * it (issue 15: no mount table read); a busy one is detached lazily with a
 * warning. Another mount there is left alone: MOUNT_E_NOT_OURS. Without a
 * recorded id (a record of an older version, or lost state) it falls back
 * to umount_path().
 */
static int umount_ours(const char *path, uint64_t mnt_id, const char *what,
                       const char *volume_id, char *err, size_t errlen) {
        int r;
        if (mnt_id == 0) {
                bool mp = false;
                if (mount_is_mountpoint(path, &mp) < 0 || !mp)
                        return 0;
                return umount_path(path, what, volume_id, err, errlen);
        }
        r = mount_umount_if(path, mnt_id, false, err, errlen);
        if (r == MOUNT_E_BUSY) {
                log_warning("volume '%s': %s '%s' is busy; detaching it lazily", volume_id, what,
                            path);
                r = mount_umount_if(path, mnt_id, true, err, errlen);
        }
        return r;
}

/* ---- publish ---- */

typedef struct Fetched {
        Secret **values;
        PayloadFile *files;
        size_t n;
} Fetched;

static void fetched_done(Fetched *f) {
        for (size_t i = 0; f->values && i < f->n; i++)
                secret_free(f->values[i]);
        free(f->values);
        free(f->files);
        *f = (Fetched){ 0 };
}

static void set_vault_status(CsiStatus *st, int r, const VaultError *ve, const char *what,
                             const char *server) {
        csi_status_set(st, vault_error_to_csi_code(r), "NodePublishVolume: %s (Vault server '%s'): %s",
                       what, server, ve->message[0] ? ve->message : "failed");
}

/*
 * Fetches every object through `cache` (identical requests once). On
 * success resp_of[i] is object i's response (owned by the cache), which
 * the refresher reads for leases, versions and certificate lifetimes.
 */
static int fetch_objects(Publisher *p, const VolumeSpec *spec, VaultClient *client,
                         const VaultToken *token, gid_t gid, VaultRequestCache *cache,
                         const VaultResponse **resp_of, Fetched *out, int *ret_vault_r,
                         VaultError *ret_ve, CsiStatus *st) {
        const Config *c = p->config;
        uint64_t total = 0;
        int r;

        out->values = calloc(spec->n_objects, sizeof(*out->values));
        out->files = calloc(spec->n_objects, sizeof(*out->files));
        if (!out->values || !out->files)
                return -ENOMEM;
        out->n = spec->n_objects;

        for (size_t i = 0; i < spec->n_objects; i++) {
                const SecretObject *o = &spec->objects[i];
                const VaultResponse *resp = NULL;
                VaultError ve = { 0 };
                VaultRequest rq = { .method = o->method, .path = o->path };
                const JsonValue *data;
                char err[ERRLEN], what[768];
                bool kv2 = false;
                size_t len;

                if (o->args)
                        rq.body = secret_get(o->args, &rq.body_len);
                {
                        size_t before = vault_request_cache_size(cache);
                        r = vault_request_cache_read(cache, client, token, &rq, &resp, &ve);
                        if (r != 0 || vault_request_cache_size(cache) != before)
                                metrics_vault_call(p->metrics, r == 0 ? 200 : ve.http_status,
                                                   ve.attempts);
                }
                if (r != 0) {
                        (void)snprintf(what, sizeof(what), "reading '%s' for object '%s'",
                                       o->path, o->name);
                        set_vault_status(st, r, &ve, what, spec->server->name);
                        *ret_vault_r = r;
                        *ret_ve = ve;
                        return -EIO;
                }
                resp_of[i] = resp;
                data = vault_data_unwrap_kv2(resp->data, &kv2);
                if (!data) {
                        csi_status_set(st, CSI_NOT_FOUND,
                                       "NodePublishVolume: object '%s': '%s' has no data (a "
                                       "deleted or destroyed version?)",
                                       o->name, o->path);
                        return -EIO;
                }
                r = secret_object_render(o, data, &out->values[i], err, sizeof(err));
                if (r < 0) {
                        csi_status_set(st, r == -ENOENT ? CSI_NOT_FOUND : CSI_INVALID_ARGUMENT,
                                       "NodePublishVolume: %s", err);
                        return -EIO;
                }
                len = secret_size(out->values[i]);
                if (len > c->max_file_bytes) {
                        csi_status_set(st, CSI_RESOURCE_EXHAUSTED,
                                       "NodePublishVolume: object '%s' is %zu bytes, more than "
                                       "the node's max-file-bytes (%llu)",
                                       o->name, len, (unsigned long long)c->max_file_bytes);
                        return -EIO;
                }
                total += len;
                if (total > c->max_volume_bytes) {
                        csi_status_set(st, CSI_RESOURCE_EXHAUSTED,
                                       "NodePublishVolume: the volume's files exceed the node's "
                                       "max-volume-bytes (%llu)",
                                       (unsigned long long)c->max_volume_bytes);
                        return -EIO;
                }
                out->files[i] = (PayloadFile){
                        .name = o->name,
                        .data = secret_get(out->values[i], &len),
                        .len = len,
                        .mode = o->mode_set ? o->mode : (gid != (gid_t)-1 ? 0440 : 0444),
                };
        }
        log_debug("fetched %zu objects with %zu Vault requests", spec->n_objects,
                  vault_request_cache_size(cache));
        return 0;
}

/* The pod's JWT for `audience` from a republish; logs (never fails) when unusable. */
static int republish_token(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req,
                           const KvList *secrets, const KvList *ctx, SaToken *tok) {
        _cleanup_(volume_spec_freep) VolumeSpec *spec = NULL;
        const VaultServerConfig *server;
        char err[ERRLEN];
        int r;

        /* the volume's audience: parse the attributes again (no I/O) */
        if (volume_spec_parse(p->config, ctx->kv, ctx->n, &spec, err, sizeof(err)) < 0)
                spec = NULL;
        server = spec ? spec->server : config_vault_server(p->config, NULL);
        if (!server)
                return -ENOENT;
        r = sa_token_get(secrets->kv, secrets->n, ctx->kv, ctx->n, p->config->token_source,
                         spec ? spec->audience : server->audience, (int64_t)time(NULL),
                         p->config->driver_name, tok, err, sizeof(err));
        if (r != 0) {
                log_warning("republish of volume '%s': the new token is %s, keeping the "
                            "previous one: %s",
                            req->volume_id, token_code_hint(r), err);
                return -EINVAL;
        }
        return 0;
}

/* Republish checks on the fields the first publish set (they never change). */
static bool republish_check(const VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
                            CsiStatus *st) {
        if (!streq(rec->target_path, req->target_path)) {
                csi_status_set(st, CSI_FAILED_PRECONDITION,
                               "NodePublishVolume: volume '%s' is already published at '%s'",
                               req->volume_id, rec->target_path);
                return false;
        }
        if (!same_publish_args(rec, req)) {
                csi_status_set(st, CSI_ALREADY_EXISTS,
                               "NodePublishVolume: volume '%s' is already published at '%s' "
                               "with a different capability or readonly",
                               req->volume_id, req->target_path);
                return false;
        }
        return true;
}

/*
 * The answer to a republish from the volume's rotation status: OK, or
 * UNAVAILABLE (non-final: kubelet keeps the mount and records an event)
 * while a secret is past its expiry and refreshing it keeps failing.
 */
static void republish_answer(Publisher *p, const char *volume_id, CsiStatus *st) {
        VolumeHealth h;
        char when[40];

        if (!p->config->republish_stale_unavailable ||
            volume_table_get_health(p->volumes, volume_id, &h) < 0 ||
            h.state != VOLUME_STATE_STALE)
                return;
        csi_status_set(st, CSI_UNAVAILABLE,
                       "NodePublishVolume: volume '%s': secret '%s' (%s) expired at %s and "
                       "refreshing it keeps failing: %s; the mounted files are kept",
                       volume_id, h.error_object[0] ? h.error_object : "?",
                       h.error_path[0] ? h.error_path : "?",
                       refresh_format_time(h.earliest_expiry_usec, when, sizeof(when)),
                       h.last_error[0] ? h.last_error : "no usable Vault token");
}

typedef struct RefreshingRepublish {
        const Csi__V1__NodePublishVolumeRequest *req;
        CsiStatus *st;
        SaToken *tok;
        Secret *old_jwt;
} RefreshingRepublish;

/* Under the table lock, while the refresh thread holds the volume. */
static int republish_locked(VolumeRecord *rec, void *userdata) {
        RefreshingRepublish *rr = userdata;

        if (!republish_check(rec, rr->req, rr->st))
                return 0;
        if (rr->tok->jwt) {
                rr->old_jwt = rec->jwt; /* freed outside the lock */
                rec->jwt = TAKE_PTR(rr->tok->jwt);
                rec->jwt_expires = rr->tok->expires_unix;
                rec->jwt_gen++;
        }
        return 0;
}

/*
 * A republish that finds the volume busy: when the refresh thread holds it,
 * store the newest JWT without waiting for the flag and answer at once
 * (OK, or UNAVAILABLE when stale once that refresh ends); ABORTED when
 * another RPC holds it.
 */
static void republish_while_refreshing(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req,
                                       const KvList *secrets, const KvList *ctx, CsiStatus *st) {
        SaToken tok = { 0 };
        RefreshingRepublish rr = { .req = req, .st = st, .tok = &tok };
        VolumeHealth h;
        int r;

        (void)republish_token(p, req, secrets, ctx, &tok);
        r = volume_table_with_refreshing(p->volumes, req->volume_id, republish_locked, &rr);
        secret_free(rr.old_jwt);
        sa_token_done(&tok);
        if (r < 0) {
                csi_status_set(st, CSI_ABORTED,
                               "NodePublishVolume: another operation on volume '%s' is in "
                               "progress",
                               req->volume_id);
                return;
        }
        if (st->set)
                return;
        /* stale: the refresh in flight may be the one that fixes it */
        if (volume_table_get_health(p->volumes, req->volume_id, &h) == 0 &&
            h.state == VOLUME_STATE_STALE)
                (void)refresher_wait_current(p->refresher, req->volume_id,
                                             p->config->republish_wait_usec);
        republish_answer(p, req->volume_id, st);
        log_debug("republish of volume '%s' during its refresh: token stored", req->volume_id);
}

/*
 * kubelet's requiresRepublish (the caller holds the volume): keep the
 * newest JWT, never remount. Returns true when a refresh should run now
 * (the volume waits for a token or its attributes, or is stale and due),
 * which the caller does after releasing the volume.
 */
static bool republish(Publisher *p, VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
                      const KvList *secrets, const KvList *ctx, CsiStatus *st) {
        SaToken tok = { 0 };
        VolumeHealth h;
        uint64_t now;
        bool due;

        if (!republish_check(rec, req, st))
                return false;
        /* Never a final code here (csi-facts 3.4): a problem with the new token
         * is logged; the mounted files stay as they are. */
        if (republish_token(p, req, secrets, ctx, &tok) == 0)
                volume_record_set_jwt(p->volumes, rec, TAKE_PTR(tok.jwt), tok.expires_unix);
        sa_token_done(&tok);

        /* attributes not (yet) parsed after a restart, or not kept: this request
         * carries them (kubelet sends the same volume_context every time) */
        if (!rec->spec) {
                _cleanup_free_ KeyValue *kv = NULL;
                char err[ERRLEN];
                size_t n = 0;
                int r = volume_record_set_attributes(rec, ctx->kv, ctx->n);
                if (r == 0)
                        r = volume_record_attributes(rec, &kv, &n);
                if (r == 0 &&
                    volume_spec_parse(p->config, kv, n, &rec->spec, err, sizeof(err)) < 0) {
                        log_warning("republish of volume '%s': its attributes do not parse, "
                                    "it cannot be refreshed: %s",
                                    req->volume_id, err);
                        rec->spec = NULL;
                }
                free(rec->group_of); /* matched against the kept state again */
                rec->group_of = NULL;
                if (rec->spec && volume_record_save(p->volumes, rec) == 0)
                        rec->objects_attr = secret_free(rec->objects_attr);
        }
        /* Only a volume that waits (for this token, or its attributes) or is
         * stale and due for its next attempt is refreshed now; anything else
         * that is due runs on the refresh thread anyway, without us waiting. */
        volume_record_get_health(p->volumes, rec, &h);
        now = (uint64_t)time(NULL) * USEC_PER_SEC;
        due = h.state == VOLUME_STATE_WAITING || !rec->spec || !rec->token || rec->token_dead ||
              (h.state == VOLUME_STATE_STALE && h.next_refresh_usec &&
               h.next_refresh_usec <= now);
        log_debug("republish of volume '%s': token stored, files kept%s", req->volume_id,
                  due ? ", a refresh is due" : "");
        return due;
}

void csi_publish(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req, CsiStatus *st) {
        const Config *c = p->config;
        _cleanup_(volume_spec_freep) VolumeSpec *spec = NULL;
        KvList secrets = { 0 }, ctx = { 0 };
        VolumeRecord *rec = NULL;
        SaToken tok = { 0 };
        VaultToken *token = NULL;
        Fetched fetched = { 0 };
        _cleanup_free_ char *state_mnt = NULL;
        _cleanup_(vault_request_cache_freep) VaultRequestCache *cache = NULL;
        _cleanup_free_ const VaultResponse **resp_of = NULL;
        _cleanup_free_ KeyValue *attrs = NULL;
        size_t n_attrs = 0;
        bool refresh_now = false, republished = false;
        _cleanup_close_ int parent_fd = -1, root_fd = -1;
        const char *name = NULL, *group = mount_group_of(req->volume_capability);
        char err[ERRLEN];
        gid_t gid = (gid_t)-1;
        bool created_target = false, tmpfs_mounted = false, bound = false, keep = false;
        int r;

        if (kv_from_secrets(req->secrets, req->n_secrets, &secrets) < 0 ||
            kv_from_context(req->volume_context, req->n_volume_context, &ctx) < 0) {
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
                republished = keep = true;
                goto out;
        }

        /* what the pod asks for, kept with the record for refreshes */
        r = volume_record_set_attributes(rec, ctx.kv, ctx.n);
        if (r == 0)
                r = volume_record_attributes(rec, &attrs, &n_attrs);
        if (r < 0) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodePublishVolume: out of memory");
                goto out;
        }
        r = volume_spec_parse(c, attrs, n_attrs, &spec, err, sizeof(err));
        if (r < 0) {
                csi_status_set(st, r == -E2BIG ? CSI_RESOURCE_EXHAUSTED : CSI_INVALID_ARGUMENT,
                               "NodePublishVolume: %s", err);
                goto out;
        }
        if (!isempty(fs_type_of(req->volume_capability)) &&
            !streq(fs_type_of(req->volume_capability), "tmpfs")) {
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "NodePublishVolume: fsType '%s' is not supported: vaultmount "
                               "volumes are tmpfs (leave fsType unset)",
                               fs_type_of(req->volume_capability));
                goto out;
        }
        if (req->volume_capability->mount->n_mount_flags > 0) {
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "NodePublishVolume: mount flags are not supported (leave "
                               "CSIDriver seLinuxMount unset)");
                goto out;
        }
        if (group) {
                unsigned g;
                if (parse_unsigned(group, 0, 0x7fffffff, &g) < 0) {
                        csi_status_set(st, CSI_INVALID_ARGUMENT,
                                       "NodePublishVolume: volume_mount_group '%s' is not a "
                                       "numeric group id",
                                       group);
                        goto out;
                }
                gid = (gid_t)g;
        }

        /* the pod's token (KEP-5538) */
        r = sa_token_get(secrets.kv, secrets.n, ctx.kv, ctx.n, c->token_source, spec->audience,
                         (int64_t)time(NULL), c->driver_name, &tok, err, sizeof(err));
        if (r != 0) {
                csi_status_set(st,
                               r == SA_TOKEN_E_EXPIRED ? CSI_UNAUTHENTICATED
                               : r < 0                 ? CSI_RESOURCE_EXHAUSTED
                                                       : CSI_INVALID_ARGUMENT,
                               "NodePublishVolume: %s", err);
                goto out;
        }
        if (tok.origin == SA_TOKEN_FROM_VOLUME_CONTEXT)
                log_warning("volume '%s': the service-account token came in volume_context; set "
                            "serviceAccountTokenInSecrets: true in the CSIDriver '%s' "
                            "(Kubernetes 1.35+) so tokens travel in the secrets field",
                            req->volume_id, c->driver_name);

        /* target dir */
        r = target_path_check(req->target_path, c->target_roots, c->n_target_roots, &parent_fd,
                              &name, err, sizeof(err));
        if (r < 0) {
                csi_status_set(st, r == -ENOENT ? CSI_FAILED_PRECONDITION : CSI_INVALID_ARGUMENT,
                               "NodePublishVolume: %s", err);
                goto out;
        }
        if (mkdirat(parent_fd, name, 0750) == 0)
                created_target = true;
        else if (errno == EEXIST) {
                struct stat sb;
                bool mp = false;
                if (fstatat(parent_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(sb.st_mode)) {
                        csi_status_set(st, CSI_INVALID_ARGUMENT,
                                       "NodePublishVolume: target_path '%s' exists and is not "
                                       "a directory",
                                       req->target_path);
                        goto out;
                }
                if (mount_is_mountpoint(req->target_path, &mp) == 0 && mp) {
                        csi_status_set(st, CSI_FAILED_PRECONDITION,
                                       "NodePublishVolume: target_path '%s' is already a mount "
                                       "point that vaultmount did not publish",
                                       req->target_path);
                        goto out;
                }
        } else {
                csi_status_set(st, csi_code_from_errno(-errno),
                               "NodePublishVolume: creating target_path '%s' failed: %s",
                               req->target_path, strerror(errno));
                goto out;
        }

        /* private tmpfs */
        {
                _cleanup_free_ char *dir = volume_record_dir(p->volumes, rec);
                TmpfsOptions to = {
                        .size_bytes = c->tmpfs_size_default,
                        .nr_inodes = (uint64_t)c->max_objects * 2 + 16,
                        .gid = gid,
                        .mode = gid != (gid_t)-1 ? 0750 : 0755,
                };
                state_mnt = volume_record_mount_dir(p->volumes, rec);
                if (!dir || !state_mnt) {
                        csi_status_set(st, CSI_RESOURCE_EXHAUSTED,
                                       "NodePublishVolume: out of memory");
                        goto out;
                }
                if ((r = mkdir_p_mode(dir, 0700)) < 0 || (r = mkdir_p_mode(state_mnt, 0700)) < 0) {
                        csi_status_set(st, csi_code_from_errno(r),
                                       "NodePublishVolume: creating '%s' failed: %s", state_mnt,
                                       strerror(-r));
                        goto out;
                }
                r = mount_tmpfs_id(state_mnt, &to, &rec->tmpfs_mnt_id, err, sizeof(err));
                if (r != 0) {
                        csi_status_set(st, csi_code_from_errno(r < 0 ? r : -EIO),
                                       "NodePublishVolume: %s", err);
                        goto out;
                }
                tmpfs_mounted = true;
        }

        /* Vault: login with the pod's token, then every object */
        {
                VaultClient *client = vault_pool_client(p->pool, spec->server);
                VaultError ve = { 0 };
                size_t jlen;
                VaultLoginParams lp = {
                        .method = streq(spec->server->auth_method, "jwt") ? VAULT_AUTH_JWT
                                                                           : VAULT_AUTH_KUBERNETES,
                        .mount = spec->auth_mount,
                        .role = spec->role,
                        .ns = spec->ns,
                };
                if (!client || vault_request_cache_new(&cache) < 0 ||
                    !(resp_of = calloc(spec->n_objects, sizeof(*resp_of)))) {
                        csi_status_set(st, CSI_RESOURCE_EXHAUSTED,
                                       "NodePublishVolume: out of memory");
                        goto out;
                }
                /* first publishes are bounded by concurrency only, not by the
                 * refresh rate limit */
                if (refresher_vault_enter(p->refresher, spec->server, PUBLISH_SLOT_WAIT_USEC) < 0) {
                        csi_status_set(st, CSI_UNAVAILABLE,
                                       "NodePublishVolume: too many Vault calls in flight to "
                                       "server '%s' (node setting vault-max-concurrency); "
                                       "retrying later may help",
                                       spec->server->name);
                        goto out;
                }
                lp.jwt = secret_get(tok.jwt, &jlen);
                lp.jwt_len = jlen;
                r = vault_client_login(client, &lp, &token, &ve);
                metrics_vault_call(p->metrics, r == 0 ? 200 : ve.http_status, ve.attempts);
                if (r != 0) {
                        char what[512];
                        (void)snprintf(what, sizeof(what), "login with role '%s' at auth mount '%s'",
                                       spec->role, spec->auth_mount);
                        set_vault_status(st, r, &ve, what, spec->server->name);
                        refresher_vault_leave(p->refresher, spec->server, r, &ve);
                        goto out;
                }
                metrics_inc(p->metrics, METRICS_TOKENS_LOGIN);
                {
                        int vr = 0;
                        ve = (VaultError){ 0 };
                        r = fetch_objects(p, spec, client, token, gid, cache, resp_of, &fetched,
                                          &vr, &ve, st);
                        /* the slot back; a 429/503 also pauses refreshes */
                        refresher_vault_leave(p->refresher, spec->server, vr, &ve);
                }
                if (r < 0) {
                        if (!st->set)
                                csi_status_set(st, csi_code_from_errno(r),
                                               "NodePublishVolume: fetching secrets failed: %s",
                                               strerror(-r));
                        goto out;
                }
        }

        /* files, then the read-only bind */
        root_fd = open(state_mnt, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root_fd < 0) {
                csi_status_set(st, CSI_INTERNAL, "NodePublishVolume: opening '%s' failed: %s",
                               state_mnt, strerror(errno));
                goto out;
        }
        r = atomic_writer_write(root_fd, fetched.files, fetched.n, gid, err, sizeof(err));
        if (r < 0) {
                csi_status_set(st, csi_code_from_errno(r), "NodePublishVolume: writing files: %s",
                               err);
                goto out;
        }
        r = mount_bind_readonly_id(state_mnt, req->target_path, &rec->target_mnt_id, err,
                                   sizeof(err));
        if (r != 0) {
                csi_status_set(st, csi_code_from_errno(r < 0 ? r : -EIO), "NodePublishVolume: %s",
                               err);
                goto out;
        }
        bound = true;

        /* remember it (state survives a daemon restart) */
        rec->target_path = strdup(req->target_path);
        rec->server = strdup(spec->server->name);
        rec->ns = spec->ns ? strdup(spec->ns) : NULL;
        rec->fs_type = strdup(fs_type_of(req->volume_capability));
        rec->mount_group = group ? strdup(group) : NULL;
        rec->readonly = req->readonly;
        rec->access_mode = mode_of_capability(req->volume_capability);
        rec->token_accessor = vault_token_accessor(token) ? strdup(vault_token_accessor(token))
                                                          : NULL;
        if (!rec->target_path || !rec->server || !rec->fs_type) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodePublishVolume: out of memory");
                goto out;
        }
        rec->token = TAKE_PTR(token);
        volume_record_set_jwt(p->volumes, rec, TAKE_PTR(tok.jwt), tok.expires_unix);
        rec->spec = TAKE_PTR(spec);
        if (p->refresher) {
                r = refresher_volume_init(p->refresher, rec, resp_of,
                                          (uint64_t)time(NULL) * USEC_PER_SEC);
                if (r < 0) {
                        spec = TAKE_PTR(rec->spec);
                        token = TAKE_PTR(rec->token); /* revoked below */
                        csi_status_set(st, CSI_RESOURCE_EXHAUSTED,
                                       "NodePublishVolume: out of memory");
                        goto out;
                }
        }
        r = volume_record_save(p->volumes, rec);
        if (r < 0) {
                spec = TAKE_PTR(rec->spec);
                token = TAKE_PTR(rec->token); /* revoked below */
                csi_status_set(st, CSI_INTERNAL,
                               "NodePublishVolume: saving the volume state failed: %s",
                               strerror(-r));
                goto out;
        }
        /* the spec holds what it needs; the objects file has the rest (a page less
         * of locked memory per volume) */
        rec->objects_attr = secret_free(rec->objects_attr);
        rec->published = true;
        keep = true;
        refresher_schedule(p->refresher, rec);
        log_debug("volume '%s' published at '%s' with %zu files", req->volume_id,
                  req->target_path, fetched.n);

out:
        if (!keep && rec) {
                /* undo every step: no mount, no directory, no live Vault token */
                char uerr[ERRLEN];
                if (bound)
                        (void)umount_ours(req->target_path, rec->target_mnt_id, "target",
                                          req->volume_id, uerr, sizeof(uerr));
                if (tmpfs_mounted)
                        (void)umount_ours(state_mnt, rec->tmpfs_mnt_id, "tmpfs", req->volume_id,
                                          uerr, sizeof(uerr));
                if (token || rec->token)
                        revoke_quietly(p, spec ? spec->server : NULL,
                                       token ? token : rec->token, req->volume_id);
                (void)volume_record_remove(p->volumes, rec);
                if (created_target && parent_fd >= 0)
                        (void)unlinkat(parent_fd, name, AT_REMOVEDIR);
        }
        vault_token_free(token);
        fetched_done(&fetched);
        sa_token_done(&tok);
        if (rec)
                volume_table_release(p->volumes, rec, !keep);
        if (refresh_now && !st->set) {
                /* something was due (or the volume waited for this token):
                 * refresh it now, within a bound, and answer from its status */
                (void)refresher_refresh_now(p->refresher, req->volume_id,
                                            c->republish_wait_usec);
                republish_answer(p, req->volume_id, st);
        } else if (republished && !st->set)
                republish_answer(p, req->volume_id, st);
        kv_done(&secrets);
        kv_done(&ctx);
}

/* ---- unpublish ---- */

void csi_unpublish(Publisher *p, const Csi__V1__NodeUnpublishVolumeRequest *req, CsiStatus *st) {
        VolumeRecord *rec = NULL;
        char err[ERRLEN];
        int r;

        /* No refresh of this volume runs or starts from here on (one in
         * flight sees the flag before its next request and is waited for). */
        r = refresher_cancel(p->refresher, req->volume_id);
        if (r == -EBUSY) {
                refresher_resume(p->refresher, req->volume_id);
                csi_status_set(st, CSI_ABORTED,
                               "NodeUnpublishVolume: a refresh of volume '%s' is still in "
                               "progress",
                               req->volume_id);
                return;
        }
        r = volume_table_acquire(p->volumes, req->volume_id, &rec);
        if (r == -EBUSY) {
                refresher_resume(p->refresher, req->volume_id);
                csi_status_set(st, CSI_ABORTED,
                               "NodeUnpublishVolume: another operation on volume '%s' is in "
                               "progress",
                               req->volume_id);
                return;
        }
        if (r < 0) {
                refresher_resume(p->refresher, req->volume_id);
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "NodeUnpublishVolume: out of memory");
                return;
        }

        if (rec->published && !streq(rec->target_path, req->target_path)) {
                /* not the target we published: nothing of ours is there */
                log_debug("unpublish of volume '%s' at '%s': published at '%s', nothing to do",
                          req->volume_id, req->target_path, rec->target_path);
                refresher_schedule(p->refresher, rec);
                volume_table_release(p->volumes, rec, false);
                return;
        }

        /* the bind at target_path, by its recorded mount id (without one, e.g.
         * when our state was lost: whatever is mounted there) */
        {
                r = umount_ours(req->target_path, rec->target_mnt_id, "target", req->volume_id,
                                err, sizeof(err));
                if (r != 0) {
                        if (r == MOUNT_E_NOT_OURS)
                                csi_status_set(st, CSI_FAILED_PRECONDITION,
                                               "NodeUnpublishVolume: %s", err);
                        else
                                csi_status_set(st, CSI_UNAVAILABLE, "NodeUnpublishVolume: %s "
                                               "(retrying later may help)", err);
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
                        csi_status_set(st, csi_code_from_errno(-errno),
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
                if (mnt) {
                        r = umount_ours(mnt, rec->tmpfs_mnt_id, "tmpfs", req->volume_id, err,
                                        sizeof(err));
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
        if (rec->token)
                revoke_quietly(p, config_vault_server(p->config, rec->server), rec->token,
                               req->volume_id);
        if (rec->old_token)
                revoke_quietly(p, config_vault_server(p->config, rec->server), rec->old_token,
                               req->volume_id);
        if (rec->published)
                refresher_forget(p->refresher, rec);
        else if (rec->published && rec->token_accessor)
                log_warning("volume '%s': its Vault token was not kept (state dir not on tmpfs); "
                            "it expires with its TTL",
                            req->volume_id);
        r = volume_record_remove(p->volumes, rec);
        if (r < 0)
                log_warning("volume '%s': removing its state failed, ignoring: %s",
                            req->volume_id, strerror(-r));
        volume_table_release(p->volumes, rec, true);
}
