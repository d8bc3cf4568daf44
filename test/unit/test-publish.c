/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-publish.c - the publish transaction and unpublish through a fake
 * PublishOps table: a failure injected at every side effect, in turn, must
 * end with the right CSI code, a message that names the cause, and nothing
 * left behind (no mount, no directory, no state, no live Vault token).
 *
 * Mounts and Vault are fakes that count what is live; directories and the
 * state files are real, in a temporary directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "csi-publish.h"
#include "fsutil.h"
#include "json.h"
#include "sa-token.h"
#include "status.h"
#include "testutil.h"

#define streq(a, b)   (strcmp((a), (b)) == 0)
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define SEC           1000000ULL
#define NOW_SEC       1700000000ULL
/* header.payload.signature; the payload says exp 2030-01-01 */
#define JWT "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE4OTM0NTYwMDB9.c2lnQ0FOQVJZ"
#define TOKENS                                                                                     \
        "{\"vault\":{\"token\":\"" JWT "\",\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}"
#define OBJECTS                                                                                    \
        "- objectName: user\n  secretPath: secret/data/app/db\n  secretKey: username\n"            \
        "- objectName: pass\n  secretPath: /v1/secret/data/app/db\n  secretKey: password\n"        \
        "- objectName: other\n  secretPath: secret/data/app/other\n  secretKey: k\n"

/* ---- fake side effects ---- */

typedef enum Op {
        OP_ENTER,
        OP_LOGIN,
        OP_READ,
        OP_REVOKE,
        OP_MKDIR,
        OP_TMPFS,
        OP_BIND,
        OP_UMOUNT,
        OP_ISMNT,
        OP_WRITE,
        OP_SAVE,
        _OP_MAX,
} Op;

static const char *const op_names[_OP_MAX] = {
        "enter", "login",  "read",  "revoke", "mkdir", "tmpfs",
        "bind",  "umount", "ismnt", "write",  "save",
};

static struct {
        unsigned calls;   /* side effects so far */
        unsigned fail_at; /* fail the call with this number (1-based); 0: none */
        int fail_every;   /* 1 + an Op: fail every call of it; 0: none */
        Op failed_op;
        bool failed;
        int mounts; /* live fake mounts */
        int tokens; /* live fake Vault tokens */
        unsigned reads, logins;
        unsigned mkdirs, target_mkdirs, tmpfs_mounts; /* attempted */
        int slots;                                    /* concurrency slots held */
        /* with track_saves: the distinct inodes the token and objects files
         * had after each save (a rewrite is a new inode: rename over) */
        bool track_saves;
        unsigned saves;
        ino_t token_ino[8], objects_ino[8];
        unsigned n_token_ino, n_objects_ino;
        char mounted[4][PATH_MAX];
} fk;

static bool fail_now(Op op) {
        fk.calls++;
        if ((fk.fail_at && fk.calls == fk.fail_at) || fk.fail_every == (int)op + 1) {
                fk.failed = true;
                fk.failed_op = op;
                return true;
        }
        return false;
}

static int f_enter(Publisher *p, const VaultServerConfig *s) {
        if (fail_now(OP_ENTER))
                return -ETIMEDOUT;
        fk.slots++;
        return 0;
}

static void f_leave(Publisher *p, const VaultServerConfig *s, int r, const VaultError *ve) {
        fk.slots--;
}

static int f_login(Publisher *p, const VolumeSpec *spec, const Secret *jwt, VaultToken **ret,
                   VaultError *ve) {
        if (fail_now(OP_LOGIN))
                return vault_error_set(ve, VAULT_E_LOGIN_REJECTED, 403,
                                       "permission denied (HTTP 403)");
        ck_assert_int_eq(vault_token_new((const uint8_t *)"hvs.FAKE", 8, NULL, ret), 0);
        fk.tokens++;
        fk.logins++;
        return 0;
}

static int f_read(Publisher *p, const VolumeSpec *spec, const VaultToken *t, const VaultRequest *rq,
                  VaultResponse **ret, VaultError *ve) {
        static const char body[] = "{\"data\":{\"data\":{\"username\":\"u\",\"password\":\"p\","
                                   "\"k\":\"v\"},\"metadata\":{\"version\":3}}}";
        ck_assert_ptr_nonnull(t); /* reads go with the token the login gave */
        if (fail_now(OP_READ))
                return vault_error_set(ve, VAULT_E_DENIED, 403, "permission denied (HTTP 403)");
        fk.reads++;
        return vault_response_parse(200, (const uint8_t *)body, strlen(body), ret, ve);
}

static int f_revoke(Publisher *p, const VaultServerConfig *s, const VaultToken *t, VaultError *ve) {
        if (fail_now(OP_REVOKE))
                return vault_error_set(ve, VAULT_E_UNAVAILABLE, 0, "connection refused");
        fk.tokens--;
        return 0;
}

static int f_mkdirat(Publisher *p, int dfd, const char *path, mode_t mode) {
        fk.mkdirs++;
        fk.target_mkdirs += dfd != AT_FDCWD; /* the state dirs go by absolute path */
        if (fail_now(OP_MKDIR))
                return -EMFILE;
        return mkdirat(dfd, path, mode) < 0 ? -errno : 0;
}

static int mount_add(const char *path) {
        for (size_t i = 0; i < 4; i++)
                if (!fk.mounted[i][0]) {
                        (void)snprintf(fk.mounted[i], PATH_MAX, "%s", path);
                        fk.mounts++;
                        return 0;
                }
        return -EBUSY;
}

static uint64_t next_mnt_id = 100;

static int f_tmpfs(Publisher *p, const char *path, const TmpfsOptions *o, uint64_t *ret_id,
                   char *err, size_t errlen) {
        fk.tmpfs_mounts++;
        if (fail_now(OP_TMPFS))
                return -ENOSPC; /* says nothing in err: the caller must */
        *ret_id = next_mnt_id++;
        return mount_add(path);
}

static int f_bind(Publisher *p, const char *src, const char *dst, uint64_t *ret_id, char *err,
                  size_t errlen) {
        if (fail_now(OP_BIND)) {
                (void)snprintf(err, errlen, "binding '%s' failed: Permission denied", dst);
                return -EACCES;
        }
        *ret_id = next_mnt_id++;
        return mount_add(dst);
}

static int f_umount(Publisher *p, const char *path, bool lazy, char *err, size_t errlen) {
        if (fail_now(OP_UMOUNT)) {
                (void)snprintf(err, errlen, "unmounting '%s' failed: busy", path);
                return MOUNT_E_BUSY;
        }
        for (size_t i = 0; i < 4; i++)
                if (streq(fk.mounted[i], path)) {
                        fk.mounted[i][0] = '\0';
                        fk.mounts--;
                }
        return 0;
}

static int f_umount_if(Publisher *p, const char *path, uint64_t id, bool lazy, char *err,
                       size_t errlen) {
        ck_assert_uint_ne(id, 0);
        return f_umount(p, path, lazy, err, errlen);
}

static int f_ismnt(Publisher *p, const char *path, bool *ret) {
        *ret = false;
        for (size_t i = 0; i < 4; i++)
                if (streq(fk.mounted[i], path))
                        *ret = true;
        return 0;
}

static int f_write(Publisher *p, int root_fd, const PayloadFile *files, size_t n, gid_t gid,
                   char *err, size_t errlen) {
        /* atomic_writer_write could return -ENOMEM without a message */
        if (fail_now(OP_WRITE))
                return -ENOMEM;
        ck_assert_uint_eq(n, 3);
        return 0;
}

static void note_inode(const char *dir, const char *name, ino_t *seen, unsigned *n) {
        char path[PATH_MAX];
        struct stat st;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (stat(path, &st) < 0)
                return;
        for (unsigned i = 0; i < *n; i++)
                if (seen[i] == st.st_ino)
                        return;
        if (*n < 8)
                seen[(*n)++] = st.st_ino;
}

static int f_save(Publisher *p, VolumeRecord *rec) {
        int r;

        if (fail_now(OP_SAVE))
                return -ENOSPC;
        r = volume_record_save(p->volumes, rec);
        if (r == 0 && fk.track_saves) {
                char *dir = volume_record_dir(p->volumes, rec);
                fk.saves++;
                note_inode(dir, "token", fk.token_ino, &fk.n_token_ino);
                note_inode(dir, "objects", fk.objects_ino, &fk.n_objects_ino);
                free(dir);
        }
        return r;
}

static uint64_t f_now(Publisher *p) {
        return NOW_SEC * SEC;
}

static const PublishOps fake_ops = {
        .vault_enter = f_enter,
        .vault_leave = f_leave,
        .login = f_login,
        .read = f_read,
        .revoke = f_revoke,
        .mkdirat = f_mkdirat,
        .mount_tmpfs = f_tmpfs,
        .bind = f_bind,
        .umount = f_umount,
        .umount_if = f_umount_if,
        .is_mountpoint = f_ismnt,
        .write_files = f_write,
        .save = f_save,
        .now = f_now,
};

/* ---- fixture ---- */

static size_t dir_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;
        size_t n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static char tmp[64], state_dir[PATH_MAX], root[PATH_MAX], target[PATH_MAX];
static size_t fds_at_start; /* open descriptors after setup() */
static char s_name[] = "default", s_addr[] = "https://vault.example:8200",
            s_method[] = "kubernetes", s_aud[] = "vault", drv[] = "csi.vaultmount.io";
static char *roots[1];
static VaultServerConfig server;
static Config cfg;
static VolumeTable *volumes;
static Publisher pub;

static void setup(void) {
        (void)snprintf(tmp, sizeof(tmp), "/tmp/vm-test-publish-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmp));
        (void)snprintf(state_dir, sizeof(state_dir), "%s/state", tmp);
        (void)snprintf(root, sizeof(root), "%s/pods", tmp);
        (void)snprintf(target, sizeof(target), "%s/pods/vol", tmp);
        ck_assert_int_eq(mkdir(state_dir, 0700), 0);
        ck_assert_int_eq(mkdir(root, 0755), 0);
        roots[0] = root;
        server = (VaultServerConfig){
                .name = s_name, .address = s_addr, .auth_method = s_method, .audience = s_aud
        };
        cfg = (Config){ .driver_name = drv,
                        .state_dir = state_dir,
                        .vault_servers = &server,
                        .n_vault_servers = 1,
                        .target_roots = roots,
                        .n_target_roots = 1,
                        .tmpfs_size_default = 1 << 20,
                        .max_objects = 8,
                        .max_file_bytes = 1 << 16,
                        .max_volume_bytes = 1 << 20,
                        .refresh_interval_default_usec = 120 * SEC,
                        .refresh_interval_min_usec = 30 * SEC };
        ck_assert_int_eq(volume_table_new(&volumes, state_dir), 0);
        pub = (Publisher){ .config = &cfg, .volumes = volumes, .ops = &fake_ops };
        memset(&fk, 0, sizeof(fk));
        fds_at_start = dir_entries("/proc/self/fd");
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? 0 : 0;
}

static void rm_tree(const char *path) {
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void) {
        volume_table_free(volumes);
        volumes = NULL;
        rm_tree(tmp);
}

/* A kubelet-shaped request for volume "vol-1" at target. */
typedef struct Req {
        Csi__V1__NodePublishVolumeRequest r;
        Csi__V1__VolumeCapability cap;
        Csi__V1__VolumeCapability__MountVolume mount;
        Csi__V1__VolumeCapability__AccessMode mode;
        Csi__V1__NodePublishVolumeRequest__SecretsEntry sec, *secp[1];
        Csi__V1__NodePublishVolumeRequest__VolumeContextEntry ctx[4], *ctxp[4];
} Req;

static void req_init(Req *q, const char *objects) {
        *q = (Req){ .r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT,
                    .cap = CSI__V1__VOLUME_CAPABILITY__INIT,
                    .mount = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT,
                    .mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT,
                    .sec = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__SECRETS_ENTRY__INIT };
        q->mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        q->cap.access_mode = &q->mode;
        q->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        q->cap.mount = &q->mount;
        q->sec.key = (char *)SA_TOKENS_KEY;
        q->sec.value = (char *)TOKENS;
        q->secp[0] = &q->sec;
        for (size_t i = 0; i < ELEMENTSOF(q->ctx); i++) {
                q->ctx[i] = (Csi__V1__NodePublishVolumeRequest__VolumeContextEntry)
                        CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
                q->ctxp[i] = &q->ctx[i];
        }
        q->ctx[0].key = (char *)"roleName";
        q->ctx[0].value = (char *)"app";
        q->ctx[1].key = (char *)"objects";
        q->ctx[1].value = (char *)objects;
        q->r.volume_id = (char *)"vol-1";
        q->r.target_path = target;
        q->r.volume_capability = &q->cap;
        q->r.readonly = true;
        q->r.n_secrets = 1;
        q->r.secrets = q->secp;
        q->r.n_volume_context = 2;
        q->r.volume_context = q->ctxp;
}

static void assert_nothing_left(const char *when) {
        char vols[PATH_MAX + 16];
        (void)snprintf(vols, sizeof(vols), "%s/volumes", state_dir);
        ck_assert_msg(fk.mounts == 0, "%s: %d mounts left", when, fk.mounts);
        ck_assert_msg(fk.tokens == 0, "%s: %d Vault tokens left", when, fk.tokens);
        ck_assert_msg(fk.slots == 0, "%s: %d Vault slots held", when, fk.slots);
        ck_assert_msg(access(target, F_OK) < 0 && errno == ENOENT, "%s: target left", when);
        ck_assert_msg(dir_entries(vols) == 0, "%s: state left in %s", when, vols);
        ck_assert_msg(volume_table_count(volumes) == 0, "%s: record left", when);
        ck_assert_msg(dir_entries("/proc/self/fd") == fds_at_start, "%s: %zu descriptors left",
                      when, dir_entries("/proc/self/fd") - fds_at_start);
}

/* The code a failure of each side effect must end with. */
static CsiCode code_for(Op op) {
        switch (op) {
        case OP_ENTER:
                return CSI_UNAVAILABLE;
        case OP_LOGIN:
                return CSI_UNAUTHENTICATED;
        case OP_READ:
                return CSI_PERMISSION_DENIED;
        case OP_MKDIR: /* EMFILE */
        case OP_TMPFS: /* ENOSPC */
        case OP_WRITE: /* ENOMEM */
        case OP_SAVE:  /* ENOSPC */
                return CSI_RESOURCE_EXHAUSTED;
        case OP_BIND: /* EACCES is ours, not the caller's */
                return CSI_INTERNAL;
        default:
                return CSI_INTERNAL;
        }
}

/* The words a failure's message must carry. */
static const char *words_for(Op op) {
        switch (op) {
        case OP_ENTER:
                return "vault-max-concurrency";
        case OP_LOGIN:
                return "login with role 'app'";
        case OP_READ:
                return "reading 'secret/data/app/";
        case OP_MKDIR:
                return "Too many open files";
        case OP_TMPFS:
                return "tmpfs";
        case OP_BIND:
                return "Permission denied";
        case OP_WRITE:
                return "writing files: Cannot allocate memory";
        case OP_SAVE: /* the write-ahead records, then the final save */
                return "failed: No space left on device";
        default:
                return "";
        }
}

START_TEST(test_publish_then_unpublish)
{
        Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        CsiStatus st = CSI_STATUS_INIT;
        Req q;

        req_init(&q, OBJECTS);
        csi_publish(&pub, &q.r, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        ck_assert_int_eq(fk.mounts, 2);
        ck_assert_int_eq(fk.tokens, 1);
        ck_assert_int_eq(fk.slots, 0);
        /* three objects, two spellings of one path: two requests */
        ck_assert_uint_eq(fk.reads, 2);
        ck_assert_uint_eq(volume_table_count(volumes), 1);
        /* a published volume holds no descriptor (a node has thousands) */
        ck_assert_uint_eq(dir_entries("/proc/self/fd"), fds_at_start);

        u.volume_id = (char *)"vol-1";
        u.target_path = target;
        csi_unpublish(&pub, &u, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        assert_nothing_left("after unpublish");
}
END_TEST

/* Fails the n-th side effect of a publish, for every n a publish makes. */
START_TEST(test_publish_fails_at_every_step)
{
        unsigned total, n_failed = 0, seen[_OP_MAX] = { 0 };
        Req q;

        /* how many side effects a whole publish makes */
        {
                Csi__V1__NodeUnpublishVolumeRequest u =
                        CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
                CsiStatus st = CSI_STATUS_INIT;
                req_init(&q, OBJECTS);
                csi_publish(&pub, &q.r, &st);
                ck_assert_msg(!st.set, "%s", st.message);
                total = fk.calls;
                u.volume_id = (char *)"vol-1";
                u.target_path = target;
                csi_unpublish(&pub, &u, &st);
                assert_nothing_left("clean run");
        }
        ck_assert_uint_ge(total, 9);
        for (unsigned n = 1; n <= total; n++) {
                CsiStatus st = CSI_STATUS_INIT;
                memset(&fk, 0, sizeof(fk));
                fk.fail_at = n;
                req_init(&q, OBJECTS);
                csi_publish(&pub, &q.r, &st);
                if (!fk.failed)
                        continue;
                if (fk.failed_op == OP_ISMNT || fk.failed_op == OP_REVOKE)
                        continue; /* not on a clean publish's path */
                n_failed++;
                seen[fk.failed_op]++;
                ck_assert_msg(st.set, "step %u (%s) failed but publish answered OK", n,
                              op_names[fk.failed_op]);
                ck_assert_msg(st.code == code_for(fk.failed_op), "step %u (%s): %s, want %s: %s", n,
                              op_names[fk.failed_op], csi_code_to_string(st.code),
                              csi_code_to_string(code_for(fk.failed_op)), st.message);
                ck_assert_msg(strncmp(st.message, "NodePublishVolume: ", 19) == 0 &&
                                      strstr(st.message, words_for(fk.failed_op)),
                              "step %u (%s): message '%s' lacks '%s'", n, op_names[fk.failed_op],
                              st.message, words_for(fk.failed_op));
                ck_assert_msg(!strstr(st.message, "CANARY") && !strstr(st.message, "hvs."),
                              "secret in message: %s", st.message);
                assert_nothing_left(op_names[fk.failed_op]);
        }
        /* every kind of side effect a publish makes was failed at least once */
        ck_assert_uint_ge(n_failed, total - 1);
        for (Op op = OP_ENTER; op < _OP_MAX; op++)
                if (op != OP_ISMNT && op != OP_REVOKE && op != OP_UMOUNT)
                        ck_assert_msg(seen[op] > 0, "no publish failed at %s", op_names[op]);
}
END_TEST

/* Vault refusing the pod (login or read) fails the publish before it
 * creates the target or mounts anything, and a refused login before it
 * creates anything at all: kubelet's retries of a misconfigured pod cost no
 * mount or directory churn. */
START_TEST(test_vault_refusal_touches_no_target)
{
        static const Op ops[] = { OP_LOGIN, OP_READ };

        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                CsiStatus st = CSI_STATUS_INIT;
                Req q;

                memset(&fk, 0, sizeof(fk));
                fk.fail_every = (int)ops[i] + 1;
                req_init(&q, OBJECTS);
                csi_publish(&pub, &q.r, &st);
                ck_assert(st.set);
                ck_assert_int_eq(st.code, code_for(ops[i]));
                ck_assert_uint_eq(fk.target_mkdirs, 0);
                ck_assert_uint_eq(fk.tmpfs_mounts, 0);
                if (ops[i] == OP_LOGIN)
                        ck_assert_uint_eq(fk.mkdirs, 0);
                assert_nothing_left(op_names[ops[i]]);
        }
}
END_TEST

/* A rollback whose revoke fails still leaves no mount and no state (the
 * token then expires with its TTL). */
START_TEST(test_rollback_survives_failed_cleanup)
{
        CsiStatus st = CSI_STATUS_INIT;
        Req q;

        /* a save failure, then the revoke in the rollback fails too */
        req_init(&q, OBJECTS);
        fk.fail_at = 0;
        csi_publish(&pub, &q.r, &st);
        ck_assert(!st.set);
        {
                unsigned total = fk.calls;
                Csi__V1__NodeUnpublishVolumeRequest u =
                        CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
                u.volume_id = (char *)"vol-1";
                u.target_path = target;
                csi_unpublish(&pub, &u, &st);
                memset(&fk, 0, sizeof(fk));
                fk.fail_at = total; /* the save */
                csi_publish(&pub, &q.r, &st);
                ck_assert(fk.failed && fk.failed_op == OP_SAVE);
        }
        ck_assert_int_eq(st.code, CSI_RESOURCE_EXHAUSTED);
        assert_nothing_left("save failed");
}
END_TEST

START_TEST(test_unpublish_umount_fails_then_retries)
{
        Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        CsiStatus st = CSI_STATUS_INIT, st2 = CSI_STATUS_INIT, st3 = CSI_STATUS_INIT;
        Req q;

        req_init(&q, OBJECTS);
        csi_publish(&pub, &q.r, &st);
        ck_assert(!st.set);
        u.volume_id = (char *)"vol-1";
        u.target_path = target;
        /* both the unmount and the lazy detach fail */
        fk.fail_every = OP_UMOUNT + 1;
        csi_unpublish(&pub, &u, &st2);
        ck_assert(fk.failed && fk.failed_op == OP_UMOUNT);
        ck_assert_int_eq(st2.code, CSI_UNAVAILABLE);
        ck_assert_msg(strstr(st2.message, "NodeUnpublishVolume:"), "%s", st2.message);
        ck_assert_uint_eq(volume_table_count(volumes), 1); /* kept for the retry */
        fk.fail_every = 0;
        csi_unpublish(&pub, &u, &st3);
        ck_assert_msg(!st3.set, "%s", st3.message);
        assert_nothing_left("unpublish retried");
}
END_TEST

/* A bad request leaves nothing and makes no Vault call. */
START_TEST(test_bad_requests)
{
        static const struct {
                const char *objects;
                const char *fs;
                const char *group;
                CsiCode code;
                const char *words;
        } cases[] = {
                { "- objectName: a\n", "", "", CSI_INVALID_ARGUMENT, "secretPath" },
                { OBJECTS, "ext4", "", CSI_INVALID_ARGUMENT, "fsType 'ext4'" },
                { OBJECTS, "", "staff", CSI_INVALID_ARGUMENT, "volume_mount_group 'staff'" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CsiStatus st = CSI_STATUS_INIT;
                Req q;
                memset(&fk, 0, sizeof(fk));
                req_init(&q, cases[i].objects);
                q.mount.fs_type = (char *)cases[i].fs;
                q.mount.volume_mount_group = (char *)cases[i].group;
                csi_publish(&pub, &q.r, &st);
                ck_assert_int_eq(st.code, cases[i].code);
                ck_assert_msg(strstr(st.message, cases[i].words), "%zu: %s", i, st.message);
                ck_assert_uint_eq(fk.logins, 0);
                assert_nothing_left("bad request");
        }
}
END_TEST

/* Bug: target_path_check returned -EMFILE without writing err, so stack
 * bytes could reach the status message (and a pod Event). */
START_TEST(test_target_check_emfile_writes_err)
{
        struct rlimit old, low;
        char err[256];
        const char *name = NULL;
        int fd = -1, r, lowest;

        memset(err, 'x', sizeof(err));
        err[sizeof(err) - 1] = '\0';
        lowest = dup(0);
        ck_assert_int_ge(lowest, 0);
        close(lowest);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = old;
        low.rlim_cur = (rlim_t)lowest;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
        r = target_path_check(target, roots, 1, &fd, &name, err, sizeof(err));
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        ck_assert_int_eq(r, -EMFILE);
        ck_assert_msg(err[0] != 'x' && strstr(err, "opening '/'"), "err: %.60s", err);
}
END_TEST

/* The same at the RPC: a clear RESOURCE_EXHAUSTED, not stack bytes. */
START_TEST(test_publish_emfile_message)
{
        struct rlimit old, low;
        CsiStatus st = CSI_STATUS_INIT;
        Req q;
        int lowest;

        req_init(&q, OBJECTS);
        lowest = dup(0);
        close(lowest);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = old;
        low.rlim_cur = (rlim_t)lowest;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
        csi_publish(&pub, &q.r, &st);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        ck_assert_int_eq(st.code, CSI_RESOURCE_EXHAUSTED);
        /* the first step that needs a descriptor says so, in words */
        ck_assert_msg(strncmp(st.message, "NodePublishVolume: ", 19) == 0 &&
                              strstr(st.message, "failed: Too many open files"),
                      "%s", st.message);
        for (const char *c = st.message; *c; c++)
                ck_assert_msg(*c >= 0x20 && *c < 0x7f, "a raw byte in: %s", st.message);
        assert_nothing_left("EMFILE");
}
END_TEST

/* A failed assertion ends a test before its umount, and the checked
 * teardown does not run then: in a mount namespace of the test process's
 * own, what the test mounts ends with the process. (Without forking, the
 * runner may not be able to unshare; the test's own umount is then all.) */
static void own_mount_namespace(void) {
        if (unshare(CLONE_NEWNS) == 0)
                ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
}

/* The write-ahead saves of one publish write the token and the objects
 * files once each (they do not change between saves); record.json every
 * time. The state dir is a tmpfs here, as the daemon wants it. */
static void assert_state_modes_0600(void) {
        static const char *const names[] = { "record.json", "token", "objects" };
        VolumeRecord *rec = NULL;
        char path[PATH_MAX + 32];
        struct stat sb;
        char *dir;

        ck_assert_int_eq(volume_table_acquire(volumes, "vol-1", &rec), 0);
        dir = volume_record_dir(volumes, rec);
        volume_table_release(volumes, rec, false);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                (void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                ck_assert_int_eq(stat(path, &sb), 0);
                ck_assert_msg((sb.st_mode & 07777) == 0600, "%s: mode %o", names[i],
                              (unsigned)(sb.st_mode & 07777));
        }
        free(dir);
}

/* A state file the daemon writes is compact JSON with every object's keys in
 * bytewise order: parsed and written again sorted, it is the same bytes. */
static void assert_canonical_json(const char *path) {
        char buf[16384], *again = NULL;
        JsonValue *v = NULL;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert_msg(fd >= 0, "%s: %m", path);
        n = read(fd, buf, sizeof(buf));
        close(fd);
        ck_assert_msg(n > 0 && (size_t)n < sizeof(buf), "%s: %zd bytes", path, n);
        ck_assert_int_eq(json_parse(buf, (size_t)n, 0, 0, &v, NULL), 0);
        ck_assert_int_eq(
                json_write_string(v, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE, &again, NULL), 0);
        ck_assert_uint_eq(strlen(again), (size_t)n);
        ck_assert_msg(memcmp(again, buf, (size_t)n) == 0, "%s is not in key order: %.*s", path,
                      (int)n, buf);
        free(again);
        json_value_unref(v);
}

static void assert_record_canonical(void) {
        char path[PATH_MAX + 64];
        VolumeRecord *rec = NULL;
        char *dir;

        ck_assert_int_eq(volume_table_acquire(volumes, "vol-1", &rec), 0);
        dir = volume_record_dir(volumes, rec);
        volume_table_release(volumes, rec, false);
        (void)snprintf(path, sizeof(path), "%s/record.json", dir);
        assert_canonical_json(path);
        free(dir);
}

START_TEST(test_publish_writes_token_and_objects_once)
{
        Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        CsiStatus st = CSI_STATUS_INIT;
        Req q;

        own_mount_namespace();
        ck_assert_int_eq(mount("tmpfs", state_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700"), 0);
        volume_table_free(volumes);
        ck_assert_int_eq(volume_table_new(&volumes, state_dir), 0);
        ck_assert(volume_table_state_on_tmpfs(volumes));
        pub.volumes = volumes;
        fk.track_saves = true;

        fs_umask_set(077); /* as the daemon does: the state files need no fchmod */
        req_init(&q, OBJECTS);
        /* attributes out of key order: record.json has them sorted */
        q.ctx[2].key = (char *)"csi.storage.k8s.io/pod.uid";
        q.ctx[2].value = (char *)"0d5c";
        q.ctx[3].key = (char *)"csi.storage.k8s.io/pod.name";
        q.ctx[3].value = (char *)"web-0";
        q.r.n_volume_context = 4;
        csi_publish(&pub, &q.r, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        /* the token's checkpoint and the final save */
        ck_assert_uint_eq(fk.saves, 2);
        ck_assert_uint_eq(fk.n_token_ino, 1);
        ck_assert_uint_eq(fk.n_objects_ino, 1);
        assert_state_modes_0600();
        assert_record_canonical();

        u.volume_id = (char *)"vol-1";
        u.target_path = target;
        csi_unpublish(&pub, &u, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        assert_nothing_left("after unpublish");
        ck_assert_int_eq(umount2(state_dir, MNT_DETACH), 0);
}
END_TEST

/* A symlink on the way to target_path is refused, naming the component
 * (openat2 refuses it; the walk then says which one). */
START_TEST(test_target_check_symlink_component)
{
        char real[PATH_MAX + 16], link[PATH_MAX + 16], via[PATH_MAX + 16], err[256];
        const char *name = NULL;
        int fd = -1, r;

        (void)snprintf(real, sizeof(real), "%s/real", root);
        (void)snprintf(link, sizeof(link), "%s/link", root);
        (void)snprintf(via, sizeof(via), "%s/link/vol", root);
        ck_assert_int_eq(mkdir(real, 0755), 0);
        ck_assert_int_eq(symlink(real, link), 0);
        r = target_path_check(via, roots, 1, &fd, &name, err, sizeof(err));
        ck_assert_msg(r == -ENOTDIR || r == -ELOOP, "r = %d", r);
        ck_assert_int_eq(fd, -1);
        ck_assert_msg(strstr(err, "'link' is a symlink or not a directory"), "err: %s", err);

        /* the real directory is fine: the parent fd and the last name */
        (void)snprintf(via, sizeof(via), "%s/real/vol", root);
        r = target_path_check(via, roots, 1, &fd, &name, err, sizeof(err));
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(name, "vol");
        ck_assert_int_eq(mkdirat(fd, name, 0750), 0);
        close(fd);
        (void)snprintf(via, sizeof(via), "%s/real/vol", root);
        ck_assert_int_eq(access(via, F_OK), 0);
}
END_TEST

/* A crash between create and rename leaves <dir>/.<name>.tmp: the next
 * write replaces it, and removing the state removes it. */
START_TEST(test_leftover_temporary_files)
{
        Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        CsiStatus st = CSI_STATUS_INIT;
        VolumeRecord *rec = NULL;
        char buf[16] = { 0 };
        struct stat sb;
        char *dir;
        int dfd, fd;
        Req q;

        req_init(&q, OBJECTS);
        csi_publish(&pub, &q.r, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        ck_assert_int_eq(volume_table_acquire(volumes, "vol-1", &rec), 0);
        dir = volume_record_dir(volumes, rec);
        volume_table_release(volumes, rec, false);
        dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);

        fd = openat(dfd, ".f.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "old", 3), 3);
        close(fd);
        ck_assert_int_eq(write_file_replace(dfd, "f", "new", 3, 0600, (gid_t)-1, 0), 0);
        ck_assert_int_eq(faccessat(dfd, ".f.tmp", F_OK, 0), -1);
        /* a mode the umask trims still ends up whole; one it leaves alone too */
        fs_umask_set(077);
        ck_assert_int_eq(write_file_replace(dfd, "m", "x", 1, 0644, (gid_t)-1, 0), 0);
        ck_assert_int_eq(fstatat(dfd, "m", &sb, 0), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0644);
        ck_assert_int_eq(write_file_replace(dfd, "m", "x", 1, 0600, (gid_t)-1, 0), 0);
        ck_assert_int_eq(fstatat(dfd, "m", &sb, 0), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        ck_assert_int_eq(unlinkat(dfd, "m", 0), 0);
        fd = openat(dfd, "f", O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 3);
        close(fd);
        ck_assert_str_eq(buf, "new");
        ck_assert_int_eq(unlinkat(dfd, "f", 0), 0);

        /* what a crash in the middle of a state save leaves */
        fd = openat(dfd, ".record.json.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        close(dfd);
        free(dir);
        u.volume_id = (char *)"vol-1";
        u.target_path = target;
        csi_unpublish(&pub, &u, &st);
        ck_assert_msg(!st.set, "%s", st.message);
        assert_nothing_left("after unpublish with a leftover .tmp");
}
END_TEST

static Suite *publish_suite(void) {
        Suite *s = suite_create("publish");
        TCase *tc = tcase_create("transaction");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_publish_then_unpublish);
        tcase_add_test(tc, test_publish_fails_at_every_step);
        tcase_add_test(tc, test_vault_refusal_touches_no_target);
        tcase_add_test(tc, test_rollback_survives_failed_cleanup);
        tcase_add_test(tc, test_unpublish_umount_fails_then_retries);
        tcase_add_test(tc, test_bad_requests);
        tcase_add_test(tc, test_target_check_emfile_writes_err);
        tcase_add_test(tc, test_publish_emfile_message);
        tcase_add_test(tc, test_publish_writes_token_and_objects_once);
        tcase_add_test(tc, test_target_check_symlink_component);
        tcase_add_test(tc, test_leftover_temporary_files);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(publish_suite());
}
