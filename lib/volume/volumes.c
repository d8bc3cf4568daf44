/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volumes.c - the volume table and its state files.
 *
 * record.json holds only non-secret data: identifiers, the attributes other
 * than `objects`, lease ids (useless without the token), expiry times and
 * the rotation status. The Vault token and the `objects` attribute (which
 * may carry secretArgs) are separate 0600 files, written only when the
 * state dir is a tmpfs, so no secret ever reaches a disk.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "mount.h"
#include "parse.h"
#include "volume-rotation.h"
#include "volumes.h"
#include "macro.h"

#define RECORD_MAX     (1024 * 1024)
#define TOKEN_FILE_MAX 8192
/* read_small() refuses a file of `max` bytes: one more than the publish limit */
#define OBJECTS_FILE_MAX (VOLUME_OBJECTS_ATTR_MAX + 1)
#define RECORD_DEPTH     8

struct VolumeTable {
        char *state_dir;
        char *volumes_dir;
        bool on_tmpfs;
        pthread_mutex_t lock;
        VolumeRecord **records;
        size_t n;
};

static const char *const kind_names[_SECRET_KIND_MAX] = {
        [SECRET_KIND_KV] = "kv",
        [SECRET_KIND_KV2] = "kv2",
        [SECRET_KIND_LEASE] = "lease",
        [SECRET_KIND_PKI] = "pki",
};

const char *secret_kind_to_string(SecretKind k) {
        return k >= 0 && k < _SECRET_KIND_MAX ? kind_names[k] : "unknown";
}

SecretKind secret_kind_from_string(const char *s) {
        for (int i = 0; s && i < _SECRET_KIND_MAX; i++)
                if (streq(s, kind_names[i]))
                        return (SecretKind)i;
        return _SECRET_KIND_INVALID;
}

static const char *const state_names[_VOLUME_STATE_MAX] = {
        [VOLUME_STATE_OK] = "ok",
        [VOLUME_STATE_FAILING] = "failing",
        [VOLUME_STATE_STALE] = "stale",
        [VOLUME_STATE_WAITING] = "waiting-for-token",
};

const char *volume_state_to_string(VolumeState s) {
        return s < _VOLUME_STATE_MAX ? state_names[s] : "unknown";
}

static VolumeState volume_state_from_string(const char *s) {
        for (int i = 0; s && i < _VOLUME_STATE_MAX; i++)
                if (streq(s, state_names[i]))
                        return (VolumeState)i;
        return VOLUME_STATE_OK;
}

void volume_record_clear_groups(VolumeRecord *r) {
        for (size_t i = 0; i < r->rot->n_groups; i++)
                free(r->rot->groups[i].lease_id);
        free(r->rot->groups);
        free(r->rot->group_of);
        r->rot->groups = NULL;
        r->rot->group_of = NULL;
        r->rot->n_groups = 0;
}

static void attrs_free(VolumeRecord *r) {
        for (size_t i = 0; i < r->n_attrs; i++) {
                free((char *)r->attrs[i].key);
                free((char *)r->attrs[i].value);
        }
        free(r->attrs);
        r->attrs = NULL;
        r->n_attrs = 0;
        r->objects_attr = secret_free(r->objects_attr);
}

static VolumeRecord *record_free(VolumeRecord *r) {
        if (!r)
                return NULL;
        free(r->volume_id);
        free(r->key);
        free(r->facts.target_path);
        free(r->facts.server);
        free(r->facts.ns);
        free(r->facts.fs_type);
        free(r->facts.mount_group);
        free(r->token_accessor);
        volume_record_release_dir(r);
        vault_token_free(r->token);
        secret_free(r->locked.jwt);
        volume_spec_free(r->spec);
        attrs_free(r);
        if (r->rot) {
                vault_token_free(r->rot->old_token);
                volume_record_clear_groups(r);
                free(r->rot);
        }
        free(r);
        return NULL;
}

static VolumeRecord *record_new(void) {
        VolumeRecord *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->rot = calloc(1, sizeof(*r->rot));
        if (!r->rot) {
                free(r);
                return NULL;
        }
        return r;
}

void volume_record_regroup(VolumeRecord *r) {
        free(r->rot->group_of);
        r->rot->group_of = NULL;
}

bool volume_record_token_dead(const VolumeRecord *r) {
        return r->rot->token_dead;
}

VaultToken *volume_record_take_old_token(VolumeRecord *r) {
        return TAKE_PTR(r->rot->old_token);
}

/* A volume id that is its own key: a safe file name that cannot be mistaken
 * for a hashed key (those, and only those, start with "h-"). */
static bool key_plain(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 200 || id[0] == '.' || strncmp(id, "h-", 2) == 0)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

/* See volumes.h: "h-" + sha256 + an optional "-<n>" when a legacy record has it. */
static char *key_for(const char *volume_id, unsigned n) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        char *k;
        if (key_plain(volume_id))
                return strdup(volume_id);
        SHA256((const unsigned char *)volume_id, strlen(volume_id), md);
        k = malloc(2 + 2 * sizeof(md) + 16);
        if (!k)
                return NULL;
        memcpy(k, "h-", 2);
        for (size_t i = 0; i < sizeof(md); i++)
                (void)snprintf(k + 2 + 2 * i, 3, "%02x", md[i]);
        if (n > 0)
                (void)snprintf(k + 2 + 2 * sizeof(md), 16, "-%u", n);
        return k;
}

int volume_table_new(VolumeTable **ret, const char *state_dir) {
        VolumeTable *t = calloc(1, sizeof(*t));
        struct statfs sfs;
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        t->state_dir = strdup(state_dir);
        if (!t->state_dir || asprintf(&t->volumes_dir, "%s/volumes", state_dir) < 0) {
                t->volumes_dir = NULL;
                volume_table_free(t);
                return -ENOMEM;
        }
        if (mkdir(t->volumes_dir, 0700) < 0 && errno != EEXIST) {
                int r = -errno;
                volume_table_free(t);
                return r;
        }
        t->on_tmpfs = statfs(state_dir, &sfs) == 0 &&
                      (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
        *ret = t;
        return 0;
}

VolumeTable *volume_table_free(VolumeTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                record_free(t->records[i]);
        free(t->records);
        free(t->state_dir);
        free(t->volumes_dir);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

bool volume_table_state_on_tmpfs(const VolumeTable *t) {
        return t->on_tmpfs;
}

static int table_add(VolumeTable *t, VolumeRecord *r) {
        VolumeRecord **grown = realloc(t->records, (t->n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        t->records = grown;
        t->records[t->n++] = r;
        return 0;
}

/* Table lock held. */
static bool table_key_taken(const VolumeTable *t, const char *key) {
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->records[i]->key, key))
                        return true;
        return false;
}

/*
 * Table lock held. A key no record uses: only a record restored from a
 * state dir written before the "h-" prefix was reserved (a volume id that
 * was literally "h-<hash>") can hold the hashed key of another id.
 */
static char *table_new_key(const VolumeTable *t, const char *volume_id) {
        for (unsigned n = 0; n < 100; n++) {
                char *k = key_for(volume_id, n);
                if (!k || !table_key_taken(t, k))
                        return k;
                free(k);
        }
        return NULL;
}

/* Table lock held. */
static VolumeRecord *table_find(VolumeTable *t, const char *volume_id) {
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->records[i]->volume_id, volume_id))
                        return t->records[i];
        return NULL;
}

int volume_table_acquire(VolumeTable *t, const char *volume_id, VolumeRecord **ret) {
        VolumeRecord *r;
        int ret_code = 0;

        pthread_mutex_lock(&t->lock);
        r = table_find(t, volume_id);
        if (r && r->busy) {
                ret_code = -EBUSY;
                goto out;
        }
        if (!r) {
                r = record_new();
                if (!r || !(r->volume_id = strdup(volume_id)) ||
                    !(r->key = table_new_key(t, volume_id)) || table_add(t, r) < 0) {
                        record_free(r);
                        ret_code = -ENOMEM;
                        goto out;
                }
        }
        r->busy = true;
        r->busy_by = VOLUME_BUSY_RPC;
        *ret = r;
out:
        pthread_mutex_unlock(&t->lock);
        return ret_code;
}

int volume_table_acquire_refresh(VolumeTable *t, const char *volume_id, VolumeRecord **ret) {
        VolumeRecord *r;
        int ret_code = 0;

        pthread_mutex_lock(&t->lock);
        r = table_find(t, volume_id);
        if (!r || !r->published)
                ret_code = -ENOENT;
        else if (r->busy)
                ret_code = -EBUSY;
        else {
                r->busy = true;
                r->busy_by = VOLUME_BUSY_REFRESH;
                *ret = r;
        }
        pthread_mutex_unlock(&t->lock);
        return ret_code;
}

void volume_table_release(VolumeTable *t, VolumeRecord *r, bool drop) {
        pthread_mutex_lock(&t->lock);
        r->busy = false;
        r->busy_by = VOLUME_BUSY_NONE;
        if (drop)
                for (size_t i = 0; i < t->n; i++)
                        if (t->records[i] == r) {
                                t->records[i] = t->records[--t->n];
                                record_free(r);
                                break;
                        }
        pthread_mutex_unlock(&t->lock);
}

size_t volume_table_count(VolumeTable *t) {
        return LOCKED_READ(&t->lock, t->n);
}

static int table_ids(VolumeTable *t, bool intents, char ***ret, size_t *ret_n) {
        char **ids;
        size_t n = 0;
        int r = 0;

        pthread_mutex_lock(&t->lock);
        ids = calloc(t->n + 1, sizeof(*ids));
        if (!ids)
                r = -ENOMEM;
        for (size_t i = 0; ids && i < t->n; i++) {
                const VolumeRecord *v = t->records[i];
                if (intents ? !v->intent || v->published : !v->published)
                        continue;
                ids[n] = strdup(t->records[i]->volume_id);
                if (!ids[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        pthread_mutex_unlock(&t->lock);
        if (r < 0) {
                for (size_t i = 0; ids && i < n; i++)
                        free(ids[i]);
                free(ids);
                return r;
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}

int volume_table_list(VolumeTable *t, char ***ret, size_t *ret_n) {
        return table_ids(t, false, ret, ret_n);
}

int volume_table_list_intents(VolumeTable *t, char ***ret, size_t *ret_n) {
        return table_ids(t, true, ret, ret_n);
}

int volume_table_claim_target(VolumeTable *t, VolumeRecord *r, const char *target,
                              char **ret_owner) {
        char *copy = strdup(target);
        int rc = 0;

        if (!copy)
                return -ENOMEM;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n && rc == 0; i++) {
                const VolumeRecord *o = t->records[i];
                if (o != r && o->facts.target_path && streq(o->facts.target_path, target)) {
                        *ret_owner = strdup(o->volume_id);
                        rc = *ret_owner ? -EEXIST : -ENOMEM;
                }
        }
        if (rc == 0) {
                free(r->facts.target_path);
                r->facts.target_path = TAKE_PTR(copy);
        }
        pthread_mutex_unlock(&t->lock);
        free(copy);
        return rc;
}

int volume_table_with_refreshing(VolumeTable *t, const char *volume_id,
                                 int (*fn)(VolumeRecord *r, void *userdata), void *userdata) {
        VolumeRecord *r;
        int rc;

        pthread_mutex_lock(&t->lock);
        r = table_find(t, volume_id);
        if (!r || !r->published)
                rc = -ENOENT;
        else if (!r->busy || r->busy_by != VOLUME_BUSY_REFRESH)
                rc = -EBUSY;
        else
                rc = fn(r, userdata);
        pthread_mutex_unlock(&t->lock);
        return rc;
}

char *volume_record_dir(const VolumeTable *t, const VolumeRecord *r) {
        char *p;
        return asprintf(&p, "%s/%s", t->volumes_dir, r->key) < 0 ? NULL : p;
}

char *volume_record_mount_dir(const VolumeTable *t, const VolumeRecord *r) {
        char *p;
        return asprintf(&p, "%s/%s/mnt", t->volumes_dir, r->key) < 0 ? NULL : p;
}

/**
 * volume_record_open_tmpfs() - the volume's tmpfs, opened to write into it.
 * @t: the table.
 * @r: the record.
 *
 * The mount dir is opened and checked to be the root of the tmpfs the
 * publish made (its recorded mount id): after a crash that interrupted an
 * unpublish past its unmount, the dir is a plain directory of the state dir,
 * and no secret or status file may go there.
 * Return: a descriptor, -ESTALE when the dir is not the volume's tmpfs, or
 * -errno.
 */
int volume_record_open_tmpfs(const VolumeTable *t, const VolumeRecord *r) {
        _cleanup_free_ char *mnt = volume_record_mount_dir(t, r);
        _cleanup_close_ int fd = -1;
        int rc;

        if (!mnt)
                return -ENOMEM;
        fd = open(mnt, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        rc = mount_fd_is_root_of(fd, mnt, r->facts.tmpfs_mnt_id);
        if (rc == MOUNT_E_NOT_OURS)
                return -ESTALE;
        if (rc < 0)
                return rc;
        return TAKE_FD(fd);
}

/* ---- attributes ---- */

/*
 * kubelet's keys (csi.storage.k8s.io/...) other than the pod info the spec
 * reads are ignored by volume_spec_parse(): not kept either, so that a big
 * one cannot push record.json past what a restarted daemon reloads.
 */
static bool attr_ignored(const char *key) {
        static const char *const kept[] = {
                "csi.storage.k8s.io/pod.name",
                "csi.storage.k8s.io/pod.namespace",
                "csi.storage.k8s.io/pod.uid",
                "csi.storage.k8s.io/serviceAccount.name",
        };
        if (strncmp(key, "csi.storage.k8s.io/", 19) != 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                if (streq(key, kept[i]))
                        return false;
        return true;
}

int volume_record_set_attributes(VolumeRecord *r, const KeyValue *context, size_t n) {
        KeyValue *kv = calloc(n ? n : 1, sizeof(*kv));
        Secret *objects = NULL;
        size_t m = 0;

        if (!kv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (streq(context[i].key, SA_TOKENS_KEY) || attr_ignored(context[i].key))
                        continue; /* the pod token: never kept with the attributes */
                if (streq(context[i].key, "objects")) {
                        secret_free(objects);
                        objects = NULL;
                        if (secret_new_from(&objects, context[i].value, strlen(context[i].value)) <
                            0)
                                goto oom;
                        continue;
                }
                kv[m].key = strdup(context[i].key);
                kv[m].value = strdup(context[i].value);
                if (!kv[m].key || !kv[m].value) {
                        m++;
                        goto oom;
                }
                m++;
        }
        attrs_free(r);
        r->attrs = kv;
        r->n_attrs = m;
        r->objects_attr = objects;
        r->objects_saved = false;
        return 0;
oom:
        for (size_t i = 0; i < m; i++) {
                free((char *)kv[i].key);
                free((char *)kv[i].value);
        }
        free(kv);
        secret_free(objects);
        return -ENOMEM;
}

int volume_record_attributes(const VolumeRecord *r, KeyValue **ret, size_t *ret_n) {
        KeyValue *kv;
        size_t n = 0;

        if (!r->attrs && !r->objects_attr)
                return -ENODATA;
        kv = calloc(r->n_attrs + 1, sizeof(*kv));
        if (!kv)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_attrs; i++)
                kv[n++] = r->attrs[i];
        if (r->objects_attr) {
                /* secret_get() always NUL-terminates; the YAML parser copies
                 * secretArgs into Secrets of its own. */
                kv[n++] = (KeyValue){ "objects", (const char *)secret_get(r->objects_attr, NULL) };
        }
        *ret = kv;
        *ret_n = n;
        return 0;
}

/* ---- locked accessors ---- */

void volume_record_set_jwt(VolumeTable *t, VolumeRecord *r, Secret *jwt, int64_t expires) {
        Secret *old;
        pthread_mutex_lock(&t->lock);
        old = r->locked.jwt;
        r->locked.jwt = jwt;
        r->locked.jwt_expires = expires;
        r->locked.jwt_gen++;
        pthread_mutex_unlock(&t->lock);
        secret_free(old);
}

int volume_record_dup_jwt(VolumeTable *t, VolumeRecord *r, Secret **ret, int64_t *ret_expires,
                          uint64_t *ret_gen) {
        int rc = -ENOENT;
        pthread_mutex_lock(&t->lock);
        if (r->locked.jwt) {
                rc = secret_dup(r->locked.jwt, ret);
                if (rc == 0 && ret_expires)
                        *ret_expires = r->locked.jwt_expires;
        }
        if (ret_gen)
                *ret_gen = r->locked.jwt_gen;
        pthread_mutex_unlock(&t->lock);
        return rc;
}

void volume_record_set_health(VolumeTable *t, VolumeRecord *r, const VolumeHealth *h) {
        pthread_mutex_lock(&t->lock);
        r->locked.health = *h;
        pthread_mutex_unlock(&t->lock);
}

void volume_record_get_health(VolumeTable *t, VolumeRecord *r, VolumeHealth *ret) {
        pthread_mutex_lock(&t->lock);
        *ret = r->locked.health;
        pthread_mutex_unlock(&t->lock);
}

int volume_table_get_health(VolumeTable *t, const char *volume_id, VolumeHealth *ret) {
        VolumeRecord *r;
        int rc = -ENOENT;
        pthread_mutex_lock(&t->lock);
        r = table_find(t, volume_id);
        if (r && r->published) {
                *ret = r->locked.health;
                rc = 0;
        }
        pthread_mutex_unlock(&t->lock);
        return rc;
}

/* ---- files ---- */

/*
 * record.json is written with the streaming writer (json.h): every object's
 * keys in bytewise order, as the writer checks. An absent string and a zero
 * time are left out.
 */
static void out_str(JsonOut *o, const char *k, const char *v) {
        if (v)
                json_out_member_string(o, k, v);
}

static void out_u64(JsonOut *o, const char *k, uint64_t v) {
        if (v)
                json_out_member_int64(o, k, (int64_t)MIN(v, (uint64_t)INT64_MAX));
}

static int attr_cmp(const void *a, const void *b) {
        return strcmp((*(const KeyValue *const *)a)->key, (*(const KeyValue *const *)b)->key);
}

/* The attributes in key order (a publish refuses a key given twice, and so
 * would the writer). */
static int out_attributes(JsonOut *o, const VolumeRecord *r) {
        _cleanup_free_ const KeyValue **sorted = NULL;

        if (r->n_attrs > 0 && !(sorted = calloc(r->n_attrs, sizeof(*sorted))))
                return -ENOMEM;
        for (size_t i = 0; i < r->n_attrs; i++)
                sorted[i] = &r->attrs[i];
        if (r->n_attrs > 1)
                qsort(sorted, r->n_attrs, sizeof(*sorted), attr_cmp);
        json_out_key(o, "attributes");
        json_out_object_open(o);
        for (size_t i = 0; i < r->n_attrs; i++)
                out_str(o, sorted[i]->key, sorted[i]->value);
        json_out_object_close(o);
        return 0;
}

static void out_groups(JsonOut *o, const VolumeRecord *r) {
        json_out_key(o, "groups");
        json_out_array_open(o);
        for (size_t i = 0; i < r->rot->n_groups; i++) {
                const SecretGroup *g = &r->rot->groups[i];
                json_out_object_open(o);
                out_u64(o, "due_usec", g->due_usec);
                out_u64(o, "expires_usec", g->expires_usec);
                json_out_member_bool(o, "final", g->final);
                json_out_member_int64(o, "first_object", (int64_t)g->first_object);
                out_u64(o, "issued_usec", g->issued_usec);
                out_str(o, "kind", secret_kind_to_string(g->kind));
                out_str(o, "lease_id", g->lease_id);
                json_out_member_int64(o, "lease_ttl", g->lease_ttl_sec);
                json_out_member_bool(o, "renewable", g->renewable);
                out_u64(o, "renewed_usec", g->renewed_usec);
                json_out_member_bool(o, "replace", g->replace);
                json_out_member_int64(o, "version", g->version);
                json_out_object_close(o);
        }
        json_out_array_close(o);
}

static void out_health(JsonOut *o, const VolumeHealth *h) {
        json_out_key(o, "status");
        json_out_object_open(o);
        out_str(o, "error_object", h->error_object[0] ? h->error_object : NULL);
        out_str(o, "error_path", h->error_path[0] ? h->error_path : NULL);
        json_out_member_int64(o, "failures", h->failures);
        out_u64(o, "last_attempt_usec", h->last_attempt_usec);
        out_str(o, "last_error", h->last_error[0] ? h->last_error : NULL);
        out_u64(o, "last_success_usec", h->last_success_usec);
        out_str(o, "state", volume_state_to_string(h->state));
        json_out_object_close(o);
}

static void out_token(JsonOut *o, const VolumeRotation *rot) {
        json_out_key(o, "token");
        json_out_object_open(o);
        json_out_member_bool(o, "dead", rot->token_dead);
        out_u64(o, "expires_usec", rot->token_expires_usec);
        json_out_member_bool(o, "final", rot->token_final);
        json_out_member_bool(o, "renewable", rot->token_renewable);
        out_u64(o, "renewed_usec", rot->token_renewed_usec);
        json_out_member_int64(o, "ttl", rot->token_ttl_sec);
        json_out_object_close(o);
}

/*
 * record.json's text: the facts, the attributes, the rotation state, the
 * status, in key order. A publish in progress records its facts and
 * attributes only: what a start needs to undo it, and whose it is (a record
 * with "publishing" is never served again, so it has no rotation state).
 */
static int record_json(const VolumeTable *t, const VolumeRecord *r, char **ret, size_t *ret_len) {
        _cleanup_(json_out_freep) JsonOut *o = NULL;
        bool publishing = r->intent && !r->published;
        VolumeHealth h;
        int rc;

        pthread_mutex_lock((pthread_mutex_t *)&t->lock);
        h = r->locked.health;
        pthread_mutex_unlock((pthread_mutex_t *)&t->lock);
        if ((rc = json_out_new(JSON_WRITE_NEWLINE, &o)) < 0)
                return rc;
        json_out_object_open(o);
        json_out_member_int64(o, "access_mode", r->facts.access_mode);
        if ((r->attrs || r->objects_attr) && (rc = out_attributes(o, r)) < 0)
                return rc;
        out_str(o, "fs_type", r->facts.fs_type);
        if (!publishing)
                out_groups(o, r);
        out_str(o, "mount_group", r->facts.mount_group);
        out_str(o, "namespace", r->facts.ns);
        if (publishing)
                json_out_member_bool(o, "publishing", true);
        json_out_member_bool(o, "readonly", r->facts.readonly);
        out_str(o, "server", r->facts.server);
        if (!publishing)
                out_health(o, &h);
        if (r->facts.target_created)
                json_out_member_bool(o, "target_created", true);
        out_u64(o, "target_mnt_id", r->facts.target_mnt_id);
        out_str(o, "target_path", r->facts.target_path);
        out_u64(o, "tmpfs_mnt_id", r->facts.tmpfs_mnt_id);
        if (!publishing)
                out_token(o, r->rot);
        out_str(o, "token_accessor", r->token_accessor);
        out_str(o, "volume_id", r->volume_id);
        json_out_object_close(o);
        return json_out_finish(o, ret, ret_len);
}

/* A secret state file: written on a tmpfs state dir, else removed (when `keep`
 * is false) or left alone. */
static int save_secret_file(const VolumeTable *t, int dfd, const char *name, const Secret *s,
                            bool remove_when_not_kept) {
        size_t n;
        const uint8_t *p;

        if (s && t->on_tmpfs) {
                p = secret_get(s, &n);
                return write_file_replace(dfd, name, p, n, 0600, (gid_t)-1, 0);
        }
        if (remove_when_not_kept)
                (void)unlinkat(dfd, name, 0);
        return 0;
}

/**
 * volume_record_set_token() - the record's Vault token from now on.
 * @r: the record; the caller holds its busy flag.
 * @token: owned by the record from now on (the previous one is the caller's).
 *
 * The next volume_record_save() writes the token file again.
 */
void volume_record_set_token(VolumeRecord *r, VaultToken *token) {
        r->token = token;
        r->token_saved = false;
}

static int save_token_and_objects(const VolumeTable *t, int dfd, VolumeRecord *r) {
        int rc;

        if (!r->token_saved) {
                rc = save_secret_file(t, dfd, "token",
                                      r->token ? vault_token_secret(r->token) : NULL, true);
                if (rc < 0)
                        return rc;
                r->token_saved = true;
        }
        if (!r->objects_saved) {
                /* kept in memory only until it is saved (or parsed after a restart) */
                rc = save_secret_file(t, dfd, "objects", r->objects_attr, !t->on_tmpfs);
                if (rc < 0)
                        return rc;
                r->objects_saved = r->objects_attr != NULL;
        }
        return 0;
}

/* The record's state dir, opened (made again when it is gone). */
static int open_record_dir(const VolumeTable *t, const VolumeRecord *r) {
        _cleanup_free_ char *dir = volume_record_dir(t, r);
        int fd, rc;

        if (!dir)
                return -ENOMEM;
        /* the publish made the dir (with its first record): every later
         * save opens it; a save finds it gone only when the state was removed */
        fd = open(dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
                if ((rc = mkdir_one(dir, 0700)) < 0)
                        return rc;
                fd = open(dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        return fd < 0 ? -errno : fd;
}

int volume_record_hold_dir(const VolumeTable *t, VolumeRecord *r) {
        int fd;

        if (r->dir_held)
                return 0;
        fd = open_record_dir(t, r);
        if (fd < 0)
                return fd;
        r->dir_fd = fd;
        r->dir_held = true;
        return 0;
}

void volume_record_release_dir(VolumeRecord *r) {
        if (r->dir_held)
                (void)close(r->dir_fd);
        r->dir_held = false;
}

/**
 * volume_record_save() - writes the record's state files.
 * @t: the table (state dir, tmpfs or not).
 * @r: the record; the caller holds its busy flag.
 *
 * record.json always; the token and objects files only when the state dir
 * is a tmpfs (otherwise they are removed), and only when they changed since
 * the last save. Each file is replaced atomically, in the dir the record
 * holds (volume_record_hold_dir()) or in one opened for this save.
 * Return: 0 or -errno. Locking: takes the table lock for the health fields.
 */
int volume_record_save(const VolumeTable *t, VolumeRecord *r) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int own_fd = -1;
        size_t len = 0;
        int dfd, rc;

        if (r->dir_held)
                dfd = r->dir_fd;
        else if ((dfd = own_fd = open_record_dir(t, r)) < 0)
                return dfd;
        rc = record_json(t, r, &text, &len);
        if (rc < 0)
                return rc;
        rc = write_file_replace(dfd, "record.json", text, len, 0600, (gid_t)-1, 0);
        if (rc < 0)
                return rc;
        return save_token_and_objects(t, dfd, r);
}

static int read_small(int dir_fd, const char *name, size_t max, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        uint8_t *buf;
        size_t len = 0;
        if (fd < 0)
                return -errno;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, max - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        secret_erase_and_free(buf);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == max) {
                        secret_erase_and_free(buf);
                        return -E2BIG;
                }
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

static uint64_t member_u64(const JsonValue *o, const char *key) {
        int64_t v = 0;
        return json_member_int64(o, key, &v) == 0 && v > 0 ? (uint64_t)v : 0;
}

static int attrs_from_json(VolumeRecord *r, const JsonValue *o) {
        JsonIter it = JSON_ITER_INIT;
        const JsonValue *v;
        const char *key;
        size_t klen, n = json_object_count(o), m = 0;

        r->attrs = calloc(n ? n : 1, sizeof(KeyValue));
        if (!r->attrs)
                return -ENOMEM;
        while (json_object_next(o, &it, &key, &klen, &v)) {
                const char *s;
                size_t slen;
                if (json_value_string(v, &s, &slen) < 0 || memchr(s, 0, slen) ||
                    memchr(key, 0, klen))
                        return -EBADMSG;
                r->attrs[m].key = strndup(key, klen);
                r->attrs[m].value = strndup(s, slen);
                m++;
                r->n_attrs = m;
                if (!r->attrs[m - 1].key || !r->attrs[m - 1].value)
                        return -ENOMEM;
        }
        return 0;
}

static int groups_from_json(VolumeRecord *r, const JsonValue *arr) {
        size_t n = json_array_count(arr);

        if (n == 0)
                return 0;
        r->rot->groups = calloc(n, sizeof(*r->rot->groups));
        if (!r->rot->groups)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const JsonValue *o = json_array_element(arr, i);
                SecretGroup *g = &r->rot->groups[i];
                const char *kind = NULL;
                int64_t first = 0;
                size_t klen;

                r->rot->n_groups = i + 1;
                if (json_member_string(o, "kind", &kind, &klen) < 0 ||
                    (g->kind = secret_kind_from_string(kind)) < 0 ||
                    json_member_int64(o, "first_object", &first) < 0 || first < 0)
                        return -EBADMSG;
                g->first_object = (size_t)first;
                (void)json_member_int64(o, "version", &g->version);
                (void)json_member_strdup(o, "lease_id", &g->lease_id);
                (void)json_member_int64(o, "lease_ttl", &g->lease_ttl_sec);
                (void)json_member_bool(o, "renewable", &g->renewable);
                (void)json_member_bool(o, "final", &g->final);
                (void)json_member_bool(o, "replace", &g->replace);
                g->issued_usec = member_u64(o, "issued_usec");
                g->renewed_usec = member_u64(o, "renewed_usec");
                g->expires_usec = member_u64(o, "expires_usec");
                g->due_usec = member_u64(o, "due_usec");
        }
        return 0;
}

static void token_from_json(VolumeRecord *r, const JsonValue *o) {
        if (!o)
                return;
        (void)json_member_int64(o, "ttl", &r->rot->token_ttl_sec);
        r->rot->token_renewed_usec = member_u64(o, "renewed_usec");
        r->rot->token_expires_usec = member_u64(o, "expires_usec");
        (void)json_member_bool(o, "renewable", &r->rot->token_renewable);
        (void)json_member_bool(o, "final", &r->rot->token_final);
        (void)json_member_bool(o, "dead", &r->rot->token_dead);
}

static void copy_member(const JsonValue *o, const char *key, char *dst, size_t len) {
        const char *s;
        size_t n;
        if (json_member_string(o, key, &s, &n) == 0) {
                n = MIN(n, len - 1);
                memcpy(dst, s, n);
                dst[n] = '\0';
        }
}

static void health_from_json(VolumeHealth *h, const JsonValue *o) {
        const char *s;
        size_t n;
        int64_t f = 0;

        if (!o)
                return;
        if (json_member_string(o, "state", &s, &n) == 0)
                h->state = volume_state_from_string(s);
        h->last_success_usec = member_u64(o, "last_success_usec");
        h->last_attempt_usec = member_u64(o, "last_attempt_usec");
        if (json_member_int64(o, "failures", &f) == 0 && f >= 0 && f < 1000000)
                h->failures = (unsigned)f;
        copy_member(o, "last_error", h->last_error, sizeof(h->last_error));
        copy_member(o, "error_object", h->error_object, sizeof(h->error_object));
        copy_member(o, "error_path", h->error_path, sizeof(h->error_path));
}

/* A record's fields from its record.json (object o). 0, -EBADMSG or -ENOMEM. */
static int record_from_json(VolumeRecord *r, const JsonValue *o) {
        const JsonValue *child;
        int64_t mode = 0;
        int rc;

        if (json_member_strdup(o, "volume_id", &r->volume_id) < 0 || !r->volume_id ||
            json_member_strdup(o, "target_path", &r->facts.target_path) < 0 ||
            !r->facts.target_path)
                return -EBADMSG;
        (void)json_member_strdup(o, "server", &r->facts.server);
        (void)json_member_strdup(o, "namespace", &r->facts.ns);
        (void)json_member_strdup(o, "fs_type", &r->facts.fs_type);
        (void)json_member_strdup(o, "mount_group", &r->facts.mount_group);
        (void)json_member_strdup(o, "token_accessor", &r->token_accessor);
        (void)json_member_bool(o, "readonly", &r->facts.readonly);
        if (json_member_int64(o, "access_mode", &mode) == 0)
                r->facts.access_mode = (int)mode;
        r->facts.tmpfs_mnt_id = member_u64(o, "tmpfs_mnt_id");
        (void)json_member_bool(o, "target_created", &r->facts.target_created);
        (void)json_member_bool(o, "publishing", &r->intent);
        r->facts.target_mnt_id = member_u64(o, "target_mnt_id");
        child = json_object_member(o, "attributes");
        if (child && (rc = attrs_from_json(r, child)) < 0)
                return rc;
        child = json_object_member(o, "groups");
        if (child && (rc = groups_from_json(r, child)) < 0)
                return rc;
        token_from_json(r, json_object_member(o, "token"));
        health_from_json(&r->locked.health, json_object_member(o, "status"));
        return 0;
}

/* The volume's Vault token and objects attribute, from their root-only
 * files beside record.json (each may be missing). 0 or -ENOMEM. */
static int record_read_secrets(VolumeRecord *r, int dfd) {
        uint8_t *data = NULL;
        size_t len = 0;
        int rc;

        if (read_small(dfd, "token", TOKEN_FILE_MAX, &data, &len) == 0) {
                (void)vault_token_new(data, len, r->facts.ns, &r->token);
                secret_erase_and_free(data);
                data = NULL;
                r->rot->token_verify = r->token != NULL;
                r->token_saved = r->token != NULL;
        }
        if (read_small(dfd, "objects", OBJECTS_FILE_MAX, &data, &len) == 0) {
                rc = secret_new_from(&r->objects_attr, data, len);
                secret_erase_and_free(data);
                if (rc < 0)
                        return rc;
                r->objects_saved = true;
        }
        return 0;
}

static int load_one(VolumeTable *t, const char *key) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -1;
        uint8_t *data = NULL;
        size_t len = 0;
        JsonValue *o = NULL;
        VolumeRecord *r = NULL;
        int rc;

        if (asprintf(&dir, "%s/%s", t->volumes_dir, key) < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        dfd = open(dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        rc = read_small(dfd, "record.json", RECORD_MAX, &data, &len);
        if (rc < 0)
                return rc;
        rc = json_parse_object(data, len, RECORD_MAX, RECORD_DEPTH, &o, NULL);
        free(data);
        if (rc != 0)
                return -EBADMSG;
        r = record_new();
        rc = !r || !(r->key = strdup(key)) ? -ENOMEM : record_from_json(r, o);
        if (rc == 0)
                rc = record_read_secrets(r, dfd);
        if (rc == 0) {
                /* a publish a crash interrupted: kept to be undone, never served */
                r->published = !r->intent;
                pthread_mutex_lock(&t->lock);
                rc = table_add(t, r);
                pthread_mutex_unlock(&t->lock);
                if (rc == 0)
                        r = NULL;
        }
        record_free(r);
        json_value_unref(o);
        return rc;
}

/* A volume dir without record.json whose mnt is an empty directory (not a
 * mount): what a publish leaves when it dies before its first record. */
static int remove_empty(const VolumeTable *t, const char *key) {
        char path[PATH_MAX];

        if (snprintf(path, sizeof(path), "%s/%s/mnt", t->volumes_dir, key) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        if (rmdir(path) < 0 && errno != ENOENT)
                return -errno;
        path[strlen(path) - strlen("/mnt")] = '\0';
        return rmdir(path) < 0 ? -errno : 0;
}

int volume_table_load(VolumeTable *t, size_t *ret_bad) {
        DIR *d = opendir(t->volumes_dir);
        struct dirent *de;
        size_t bad = 0;
        int n = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                int r;
                if (de->d_name[0] == '.')
                        continue;
                r = load_one(t, de->d_name);
                if (r == -ENOENT && remove_empty(t, de->d_name) == 0)
                        continue; /* a publish died before it recorded anything */
                if (r == -ENOMEM) {
                        closedir(d);
                        return r;
                }
                if (r < 0) {
                        log_debug("state of '%s' not loaded: %s", de->d_name, strerror(-r));
                        bad++;
                } else
                        n++;
        }
        closedir(d);
        if (ret_bad)
                *ret_bad = bad;
        return n;
}

static void unlink_in(const char *dir, const char *const *names, size_t n) {
        char path[PATH_MAX];

        for (size_t i = 0; i < n; i++)
                if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < (int)sizeof(path))
                        (void)unlink(path);
}

int volume_record_remove(const VolumeTable *t, const VolumeRecord *r) {
        static const char *const files[] = { "token", "objects", "record.json" };
        /* only where a write was interrupted (see write_file_replace()) */
        static const char *const leftovers[] = { ".token.tmp", ".objects.tmp", ".record.json.tmp" };
        _cleanup_free_ char *dir = volume_record_dir(t, r);
        char path[PATH_MAX];

        if (!dir)
                return -ENOMEM;
        /* by path, no descriptor: this also runs when descriptors ran out */
        unlink_in(dir, files, ELEMENTSOF(files));
        if (snprintf(path, sizeof(path), "%s/mnt", dir) < (int)sizeof(path))
                (void)rmdir(path);
        if (rmdir(dir) == 0 || errno == ENOENT)
                return 0;
        if (errno != ENOTEMPTY && errno != EEXIST)
                return -errno;
        unlink_in(dir, leftovers, ELEMENTSOF(leftovers));
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

gid_t volume_record_gid(const VolumeRecord *rec) {
        unsigned g;
        if (rec->facts.mount_group &&
            parse_unsigned(rec->facts.mount_group, 0, 0x7fffffff, &g) == 0)
                return (gid_t)g;
        return (gid_t)-1;
}
