/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volumes.c - the volume table and its state files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "json.h"
#include "log.h"
#include "volumes.h"
#include "macro.h"

#define RECORD_MAX 65536
#define TOKEN_FILE_MAX 8192

struct VolumeTable {
        char *state_dir;
        char *volumes_dir;
        bool on_tmpfs;
        pthread_mutex_t lock;
        VolumeRecord **records;
        size_t n;
};

static VolumeRecord *record_free(VolumeRecord *r) {
        if (!r)
                return NULL;
        free(r->volume_id);
        free(r->key);
        free(r->target_path);
        free(r->server);
        free(r->ns);
        free(r->fs_type);
        free(r->mount_group);
        free(r->token_accessor);
        vault_token_free(r->token);
        secret_free(r->jwt);
        free(r);
        return NULL;
}

static bool key_safe(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 200 || id[0] == '.')
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

static char *key_for(const char *volume_id) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        char *k;
        if (key_safe(volume_id))
                return strdup(volume_id);
        SHA256((const unsigned char *)volume_id, strlen(volume_id), md);
        k = malloc(2 + 2 * sizeof(md) + 1);
        if (!k)
                return NULL;
        memcpy(k, "h-", 2);
        for (size_t i = 0; i < sizeof(md); i++)
                (void)snprintf(k + 2 + 2 * i, 3, "%02x", md[i]);
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

int volume_table_acquire(VolumeTable *t, const char *volume_id, VolumeRecord **ret) {
        VolumeRecord *r = NULL;
        int ret_code = 0;

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->records[i]->volume_id, volume_id)) {
                        r = t->records[i];
                        break;
                }
        if (r && r->busy) {
                ret_code = -EBUSY;
                goto out;
        }
        if (!r) {
                r = calloc(1, sizeof(*r));
                if (!r || !(r->volume_id = strdup(volume_id)) || !(r->key = key_for(volume_id)) ||
                    table_add(t, r) < 0) {
                        record_free(r);
                        ret_code = -ENOMEM;
                        goto out;
                }
        }
        r->busy = true;
        *ret = r;
out:
        pthread_mutex_unlock(&t->lock);
        return ret_code;
}

void volume_table_release(VolumeTable *t, VolumeRecord *r, bool drop) {
        pthread_mutex_lock(&t->lock);
        r->busy = false;
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
        size_t n;
        pthread_mutex_lock(&t->lock);
        n = t->n;
        pthread_mutex_unlock(&t->lock);
        return n;
}

char *volume_record_dir(const VolumeTable *t, const VolumeRecord *r) {
        char *p;
        return asprintf(&p, "%s/%s", t->volumes_dir, r->key) < 0 ? NULL : p;
}

char *volume_record_mount_dir(const VolumeTable *t, const VolumeRecord *r) {
        char *p;
        return asprintf(&p, "%s/%s/mnt", t->volumes_dir, r->key) < 0 ? NULL : p;
}

/* Writes `len` bytes to dir_fd/name through a temporary file and rename. */
static int write_file_atomic(int dir_fd, const char *name, const void *data, size_t len) {
        char tmp[256];
        const char *p = data;
        int fd, r = 0;

        (void)snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        (void)unlinkat(dir_fd, tmp, 0);
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
                p += n;
                len -= (size_t)n;
        }
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0)
                (void)unlinkat(dir_fd, tmp, 0);
        return r;
}

int volume_record_save(const VolumeTable *t, const VolumeRecord *r) {
        _cleanup_free_ char *dir = volume_record_dir(t, r);
        _cleanup_close_ int dfd = -1;
        JsonValue *o = NULL;
        char *text = NULL;
        size_t len = 0;
        int rc;

        if (!dir)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        dfd = open(dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if ((rc = json_object_new(&o)) < 0)
                return rc;
#define PUT(k, v)                                                                          \
        if ((v) && (rc = json_object_put_string(o, k, (v), strlen(v))) < 0)                \
        goto out
        PUT("volume_id", r->volume_id);
        PUT("target_path", r->target_path);
        PUT("server", r->server);
        PUT("namespace", r->ns);
        PUT("fs_type", r->fs_type);
        PUT("mount_group", r->mount_group);
        PUT("token_accessor", r->token_accessor);
#undef PUT
        if ((rc = json_object_put_bool(o, "readonly", r->readonly)) < 0 ||
            (rc = json_object_put_int64(o, "access_mode", r->access_mode)) < 0)
                goto out;
        if ((rc = json_write_string(o, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE, &text, &len)) <
            0)
                goto out;
        rc = write_file_atomic(dfd, "record.json", text, len);
        if (rc < 0)
                goto out;
        if (r->token && t->on_tmpfs) {
                size_t n;
                const uint8_t *tok = secret_get(vault_token_secret(r->token), &n);
                rc = write_file_atomic(dfd, "token", tok, n);
        } else
                (void)unlinkat(dfd, "token", 0);
out:
        free(text);
        json_value_unref(o);
        return rc;
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

static int load_one(VolumeTable *t, const char *key) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -1;
        uint8_t *data = NULL, *tok = NULL;
        size_t len = 0, tlen = 0;
        JsonValue *o = NULL;
        VolumeRecord *r = NULL;
        int64_t mode = 0;
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
        rc = json_parse_object(data, len, RECORD_MAX, 8, &o, NULL);
        free(data);
        if (rc != 0)
                return -EBADMSG;
        r = calloc(1, sizeof(*r));
        if (!r) {
                rc = -ENOMEM;
                goto out;
        }
        r->key = strdup(key);
        if (json_member_strdup(o, "volume_id", &r->volume_id) < 0 || !r->volume_id ||
            json_member_strdup(o, "target_path", &r->target_path) < 0 || !r->target_path) {
                rc = -EBADMSG;
                goto out;
        }
        (void)json_member_strdup(o, "server", &r->server);
        (void)json_member_strdup(o, "namespace", &r->ns);
        (void)json_member_strdup(o, "fs_type", &r->fs_type);
        (void)json_member_strdup(o, "mount_group", &r->mount_group);
        (void)json_member_strdup(o, "token_accessor", &r->token_accessor);
        (void)json_member_bool(o, "readonly", &r->readonly);
        if (json_member_int64(o, "access_mode", &mode) == 0)
                r->access_mode = (int)mode;
        if (read_small(dfd, "token", TOKEN_FILE_MAX, &tok, &tlen) == 0) {
                (void)vault_token_new(tok, tlen, r->ns, &r->token);
                secret_erase_and_free(tok);
        }
        r->published = true;
        pthread_mutex_lock(&t->lock);
        rc = table_add(t, r);
        pthread_mutex_unlock(&t->lock);
        if (rc == 0)
                r = NULL;
out:
        record_free(r);
        json_value_unref(o);
        return rc;
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

int volume_record_remove(const VolumeTable *t, const VolumeRecord *r) {
        _cleanup_free_ char *dir = volume_record_dir(t, r);
        _cleanup_close_ int dfd = -1;
        if (!dir)
                return -ENOMEM;
        dfd = open(dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        (void)unlinkat(dfd, "token", 0);
        (void)unlinkat(dfd, "record.json", 0);
        (void)unlinkat(dfd, "mnt", AT_REMOVEDIR);
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
