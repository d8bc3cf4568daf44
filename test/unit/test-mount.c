/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-mount.c - mount.c against the real kernel (the tests run as root):
 * tmpfs options as libmount and /proc/self/mountinfo report them, the
 * read-only bind (EROFS through the bind, writable underneath, per-mount
 * flags), mount_is_mountpoint, idempotent umount, EBUSY with and without
 * lazy detach, and failed binds that leave nothing mounted; mount
 * identities (the ids mount_tmpfs_id/mount_bind_readonly_id record, as the
 * kernel's mountinfo shows them) and mount_umount_if refusing every mount
 * but the recorded one. The whole suite runs twice: with the new mount API
 * (the default; on this kernel it must be the one in use) and with the
 * classic back-end forced (mount(2) through libmount, the fallback for
 * older kernels).
 *
 * Cleanup: every test works in its own mkdtemp dir under a per-TCase base
 * dir. The checked teardown unmounts and removes the test's dir; since
 * Check's forked test exits at the first failed assertion without running
 * the checked teardown, the unchecked teardown (run in the parent after
 * the TCase) sweeps every mount left under the base dir as a safety net.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount.h"

#include <check.h>

#include "testutil.h"

/* snprintf that fails the test instead of truncating a path. */
#define PATHF(buf, size, ...) ck_assert_int_lt(snprintf((buf), (size), __VA_ARGS__), (int)(size))

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

static char base[PATH_MAX];     /* per TCase, made in the parent */
static char dir[PATH_MAX];      /* per test */
static MountApi api_under_test; /* set by main() before each run */
static bool new_api_reachable(void);

/* ---- mountinfo helpers (independent of libmount) ---- */

typedef struct MountLine {
        char target[PATH_MAX];
        char mnt_opts[512]; /* per-mount options (field 6) */
        char fstype[64];
        char super_opts[512]; /* superblock options (after the fstype and source) */
} MountLine;

/* Fills *ret for the last (topmost) mountinfo line whose mount point is
 * `target`; returns false when none. Our test paths contain no spaces, so
 * the octal escapes of mountinfo do not matter here. */
static bool mountinfo_find(const char *target, MountLine *ret) {
        char line[4096];
        bool found = false;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                char tgt[PATH_MAX], mopts[512], fstype[64], source[PATH_MAX], sopts[512];
                char *sep = strstr(line, " - ");
                if (!sep)
                        continue;
                if (sscanf(line, "%*s %*s %*s %*s %4095s %511s", tgt, mopts) != 2)
                        continue;
                if (sscanf(sep + 3, "%63s %4095s %511s", fstype, source, sopts) != 3)
                        continue;
                if (strcmp(tgt, target) != 0)
                        continue;
                (void)snprintf(ret->target, sizeof(ret->target), "%s", tgt);
                (void)snprintf(ret->mnt_opts, sizeof(ret->mnt_opts), "%s", mopts);
                (void)snprintf(ret->fstype, sizeof(ret->fstype), "%s", fstype);
                (void)snprintf(ret->super_opts, sizeof(ret->super_opts), "%s", sopts);
                found = true;
        }
        fclose(f);
        return found;
}

/* Mount points at or below `prefix`, in mountinfo order (parents first). */
static size_t mounts_under(const char *prefix, char (*out)[PATH_MAX], size_t max) {
        char line[4096];
        size_t n = 0, plen = strlen(prefix);
        FILE *f = fopen("/proc/self/mountinfo", "re");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                char tgt[PATH_MAX];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", tgt) != 1)
                        continue;
                if (strncmp(tgt, prefix, plen) != 0 || (tgt[plen] != '/' && tgt[plen] != '\0'))
                        continue;
                if (out && n < max)
                        (void)snprintf(out[n], PATH_MAX, "%s", tgt);
                n++;
        }
        fclose(f);
        return n;
}

/* The id (first mountinfo field) of the topmost mount at `target`, or 0. */
static uint64_t mountinfo_id(const char *target) {
        char line[4096];
        unsigned long long id = 0;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                char tgt[PATH_MAX];
                unsigned long long v;
                if (sscanf(line, "%llu %*s %*s %*s %4095s", &v, tgt) == 2 &&
                    strcmp(tgt, target) == 0)
                        id = v;
        }
        fclose(f);
        return id;
}

/* Whether the comma-separated `opts` holds exactly the option `want`. */
static bool has_opt(const char *opts, const char *want) {
        size_t wl = strlen(want);
        for (const char *p = opts; p && *p;) {
                const char *end = strchr(p, ',');
                size_t l = end ? (size_t)(end - p) : strlen(p);
                if (l == wl && strncmp(p, want, wl) == 0)
                        return true;
                p = end ? end + 1 : NULL;
        }
        return false;
}

/* ---- cleanup that works even after a failed assertion ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

/* Detaches every mount at or below `path` (innermost first), then removes
 * the tree without crossing into anything still mounted. */
static void sweep(const char *path) {
        char(*mnts)[PATH_MAX];
        size_t n;

        if (!path[0])
                return;
        mnts = calloc(64, PATH_MAX);
        if (!mnts)
                return;
        for (int round = 0; round < 16; round++) {
                n = mounts_under(path, mnts, 64);
                if (n == 0)
                        break;
                for (size_t i = MIN(n, 64); i > 0; i--)
                        (void)umount2(mnts[i - 1], MNT_DETACH);
        }
        free(mnts);
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void base_setup(void) {
        (void)snprintf(base, sizeof(base), "/tmp/test-mount-XXXXXX");
        if (!mkdtemp(base))
                base[0] = '\0';
}

static void base_teardown(void) {
        sweep(base);
        base[0] = '\0';
}

static void setup(void) {
        ck_assert(base[0] != '\0');
        ck_assert_int_eq(mount_api_in_use(), api_under_test);
        PATHF(dir, sizeof(dir), "%s/t-XXXXXX", base);
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        sweep(dir);
        dir[0] = '\0';
}

/* dir/<name>, optionally created as a directory. */
static const char *sub(const char *name, bool create) {
        static char paths[4][PATH_MAX];
        static int slot;
        char *p = paths[slot++ % 4];

        PATHF(p, PATH_MAX, "%s/%s", dir, name);
        if (create)
                ck_assert_int_eq(mkdir(p, 0755), 0);
        return p;
}

static bool is_mp(const char *path) {
        bool r = false;
        ck_assert_int_eq(mount_is_mountpoint(path, &r), 0);
        return r;
}

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        ck_assert_int_eq(close(fd), 0);
}

static const TmpfsOptions small = {
        .size_bytes = 1024 * 1024,
        .nr_inodes = 64,
        .gid = 12345,
        .mode = 0750,
};

/* ---- tmpfs ---- */

START_TEST(test_tmpfs_options)
{
        const char *vol = sub("vol", true);
        char err[256] = "", *fstype = NULL, *opts = NULL;
        MountLine ml;
        struct stat st;

        ck_assert_int_eq(mount_tmpfs(vol, &small, err, sizeof(err)), 0);
        ck_assert(is_mp(vol));

        ck_assert_int_eq(mount_get(vol, &fstype, &opts), 0);
        ck_assert_str_eq(fstype, "tmpfs");
        ck_assert_msg(has_opt(opts, "rw") && has_opt(opts, "nosuid") && has_opt(opts, "nodev") &&
                              has_opt(opts, "noexec") && has_opt(opts, "size=1024k") &&
                              has_opt(opts, "nr_inodes=64") && has_opt(opts, "mode=750") &&
                              has_opt(opts, "gid=12345"),
                      "options: %s", opts);
        free(fstype);
        free(opts);

        /* The same facts straight from the kernel. */
        ck_assert(mountinfo_find(vol, &ml));
        ck_assert_str_eq(ml.fstype, "tmpfs");
        ck_assert_msg(has_opt(ml.mnt_opts, "rw") && has_opt(ml.mnt_opts, "nosuid") &&
                              has_opt(ml.mnt_opts, "nodev") && has_opt(ml.mnt_opts, "noexec"),
                      "per-mount options: %s", ml.mnt_opts);
        ck_assert_msg(
                has_opt(ml.super_opts, "size=1024k") && has_opt(ml.super_opts, "nr_inodes=64") &&
                        has_opt(ml.super_opts, "mode=750") && has_opt(ml.super_opts, "gid=12345"),
                "superblock options: %s", ml.super_opts);

        ck_assert_int_eq(stat(vol, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_gid, 12345);

        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
        ck_assert(!is_mp(vol));
}
END_TEST

START_TEST(test_tmpfs_defaults)
{
        const char *vol = sub("vol", true);
        TmpfsOptions o = { .size_bytes = 65536, .nr_inodes = 0, .gid = (gid_t)-1, .mode = 0755 };
        char err[256] = "";
        MountLine ml;
        struct stat st;

        ck_assert_int_eq(mount_tmpfs(vol, &o, err, sizeof(err)), 0);
        ck_assert(mountinfo_find(vol, &ml));
        ck_assert_msg(has_opt(ml.super_opts, "size=64k") && has_opt(ml.super_opts, "mode=755") &&
                              !strstr(ml.super_opts, "gid="),
                      "superblock options: %s", ml.super_opts);
        ck_assert_msg(has_opt(ml.mnt_opts, "nosuid") && has_opt(ml.mnt_opts, "nodev") &&
                              has_opt(ml.mnt_opts, "noexec"),
                      "per-mount options: %s", ml.mnt_opts);
        ck_assert_int_eq(stat(vol, &st), 0);
        ck_assert_uint_eq(st.st_gid, 0);
        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_tmpfs_invalid)
{
        const char *vol = sub("vol", true);
        TmpfsOptions o = small;
        char err[256] = "";

        o.size_bytes = 0; /* tmpfs would read it as "unlimited" */
        ck_assert_int_eq(mount_tmpfs(vol, &o, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, vol));
        o = small;
        o.mode = 010000;
        ck_assert_int_eq(mount_tmpfs(vol, &o, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(mount_tmpfs(NULL, &small, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(mount_tmpfs(vol, NULL, NULL, 0), -EINVAL);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);

        err[0] = '\0';
        ck_assert_int_eq(mount_tmpfs(sub("missing", false), &small, err, sizeof(err)), -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "missing"));
        ck_assert_ptr_nonnull(strstr(err, strerror(ENOENT)));
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

/* ---- read-only bind ---- */

START_TEST(test_bind_readonly)
{
        const char *priv = sub("priv", true), *tgt = sub("target", true);
        char err[256] = "", path[PATH_MAX], buf[64] = "", *fstype = NULL, *opts = NULL;
        MountLine ml;
        int fd;

        ck_assert_int_eq(mount_tmpfs(priv, &small, err, sizeof(err)), 0);
        PATHF(path, sizeof(path), "%s/f", priv);
        write_text(path, "hello");

        ck_assert_msg(mount_bind_readonly(priv, tgt, err, sizeof(err)) == 0, "%s", err);
        ck_assert(is_mp(tgt));

        /* Reading through the bind works ... */
        PATHF(path, sizeof(path), "%s/f", tgt);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 5);
        ck_assert_str_eq(buf, "hello");
        close(fd);
        /* ... writing does not, neither to old nor to new files ... */
        errno = 0;
        ck_assert_int_lt(open(path, O_WRONLY | O_CLOEXEC), 0);
        ck_assert_int_eq(errno, EROFS);
        PATHF(path, sizeof(path), "%s/new", tgt);
        errno = 0;
        ck_assert_int_lt(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), 0);
        ck_assert_int_eq(errno, EROFS);
        errno = 0;
        ck_assert_int_lt(mkdir(path, 0755), 0);
        ck_assert_int_eq(errno, EROFS);
        /* ... while the private tmpfs stays writable, and the bind shows it. */
        PATHF(path, sizeof(path), "%s/g", priv);
        write_text(path, "more");
        PATHF(path, sizeof(path), "%s/g", tgt);
        ck_assert_int_eq(access(path, F_OK), 0);

        ck_assert_int_eq(mount_get(tgt, &fstype, &opts), 0);
        ck_assert_str_eq(fstype, "tmpfs");
        ck_assert_msg(has_opt(opts, "ro") && !has_opt(opts, "rw") && has_opt(opts, "nosuid") &&
                              has_opt(opts, "nodev") && has_opt(opts, "noexec"),
                      "bind options: %s", opts);
        free(fstype);
        free(opts);
        ck_assert(mountinfo_find(tgt, &ml));
        ck_assert_msg(has_opt(ml.mnt_opts, "ro") && has_opt(ml.mnt_opts, "nosuid") &&
                              has_opt(ml.mnt_opts, "nodev") && has_opt(ml.mnt_opts, "noexec"),
                      "bind per-mount options: %s", ml.mnt_opts);
        ck_assert(mountinfo_find(priv, &ml));
        ck_assert_msg(has_opt(ml.mnt_opts, "rw"), "private per-mount options: %s", ml.mnt_opts);

        ck_assert_int_eq(mount_umount(tgt, false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount(priv, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_bind_missing_target)
{
        const char *priv = sub("priv", true), *tgt = sub("missing", false);
        char err[256] = "";

        ck_assert_int_eq(mount_tmpfs(priv, &small, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 1);

        ck_assert_int_eq(mount_bind_readonly(priv, tgt, err, sizeof(err)), -ENOENT);
        ck_assert_msg(strstr(err, tgt) && strstr(err, strerror(ENOENT)), "err: %s", err);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 1);
        ck_assert(!is_mp(tgt));
        ck_assert(is_mp(priv));
        ck_assert_int_eq(access(tgt, F_OK), -1);

        /* A missing source fails the same way. */
        err[0] = '\0';
        ck_assert_int_eq(
                mount_bind_readonly(sub("nosrc", false), sub("t2", true), err, sizeof(err)),
                -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "nosrc"));
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 1);

        ck_assert_int_eq(mount_bind_readonly(NULL, tgt, NULL, 0), -EINVAL);
        ck_assert_int_eq(mount_umount(priv, false, err, sizeof(err)), 0);
}
END_TEST

/* ---- queries ---- */

START_TEST(test_is_mountpoint)
{
        const char *vol = sub("vol", true);
        char err[256] = "", *fstype = NULL, *opts = NULL, path[PATH_MAX];
        bool r = true;

        ck_assert(!is_mp(vol));
        ck_assert_int_eq(mount_is_mountpoint(sub("missing", false), &r), 0);
        ck_assert(!r);
        ck_assert_int_eq(mount_get(vol, &fstype, &opts), -ENOENT);
        ck_assert_ptr_null(fstype);
        ck_assert_ptr_null(opts);

        ck_assert_int_eq(mount_tmpfs(vol, &small, err, sizeof(err)), 0);
        ck_assert(is_mp(vol));
        /* Non-canonical spellings of the same path. */
        PATHF(path, sizeof(path), "%s/./vol/", dir);
        ck_assert(is_mp(path));
        /* A directory inside the mount is not itself a mount point. */
        PATHF(path, sizeof(path), "%s/sub", vol);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        ck_assert(!is_mp(path));
        ck_assert(!is_mp(dir));

        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
        ck_assert(!is_mp(vol));
}
END_TEST

/* ---- umount ---- */

START_TEST(test_umount_idempotent)
{
        const char *vol = sub("vol", true);
        char err[256] = "";

        ck_assert_int_eq(mount_tmpfs(vol, &small, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
        ck_assert(!is_mp(vol));
        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount(vol, true, err, sizeof(err)), 0);
        /* Never mounted, or not even there: still nothing to do. */
        ck_assert_int_eq(mount_umount(sub("plain", true), false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount(sub("missing", false), false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount(NULL, false, NULL, 0), -EINVAL);
        /* Unmounting a plain dir must not unmount what contains it. */
        ck_assert_int_eq(mount_tmpfs(vol, &small, err, sizeof(err)), 0);
        {
                char inner[PATH_MAX];
                PATHF(inner, sizeof(inner), "%s/inner", vol);
                ck_assert_int_eq(mkdir(inner, 0755), 0);
                ck_assert_int_eq(mount_umount(inner, false, err, sizeof(err)), 0);
                ck_assert(is_mp(vol));
        }
        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

/* Forks a child whose cwd is inside `path`; it exits when *hold_fd closes.
 * Returns its pid once it is in place. */
static pid_t hold_busy(const char *path, int *hold_fd) {
        int ready[2], hold[2];
        char c;
        pid_t pid;

        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(hold, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(ready[0]);
                close(hold[1]);
                if (chdir(path) < 0)
                        _exit(1);
                if (write(ready[1], "x", 1) != 1)
                        _exit(1);
                /* Blocks until the test closes its end (or dies). */
                while (read(hold[0], &c, 1) < 0 && errno == EINTR)
                        ;
                _exit(0);
        }
        close(ready[1]);
        close(hold[0]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        *hold_fd = hold[1];
        return pid;
}

START_TEST(test_umount_busy)
{
        const char *vol = sub("vol", true);
        char err[256] = "";
        int hold_fd = -1, status = 0;
        pid_t pid;

        ck_assert_int_eq(mount_tmpfs(vol, &small, err, sizeof(err)), 0);
        pid = hold_busy(vol, &hold_fd);

        err[0] = '\0';
        ck_assert_int_eq(mount_umount(vol, false, err, sizeof(err)), MOUNT_E_BUSY);
        ck_assert_msg(strstr(err, vol) && strstr(err, strerror(EBUSY)), "err: %s", err);
        ck_assert(is_mp(vol));

        ck_assert_int_eq(mount_umount(vol, true, err, sizeof(err)), 0);
        ck_assert(!is_mp(vol));
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);

        close(hold_fd);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* ---- identity: recorded ids and mount_umount_if ---- */

START_TEST(test_tmpfs_id_recorded)
{
        const char *vol = sub("vol", true);
        char err[256] = "", inner[PATH_MAX];
        uint64_t id = 0, got = 0;
        bool root = false;

        ck_assert_msg(mount_tmpfs_id(vol, &small, &id, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_gt(id, 0);
        /* the kernel's own name for it */
        ck_assert_uint_eq(id, mountinfo_id(vol));
        ck_assert_int_eq(mount_id_of(vol, &got, &root), 0);
        ck_assert_uint_eq(got, id);
        ck_assert(root);
        /* a directory inside is on the same mount, but not its root */
        PATHF(inner, sizeof(inner), "%s/d", vol);
        ck_assert_int_eq(mkdir(inner, 0755), 0);
        ck_assert_int_eq(mount_id_of(inner, &got, &root), 0);
        ck_assert_uint_eq(got, id);
        ck_assert(!root);
        /* the directory the mount sits on is another mount */
        ck_assert_int_eq(mount_id_of(dir, &got, &root), 0);
        ck_assert_uint_ne(got, id);
        ck_assert_int_eq(mount_id_of(sub("missing", false), &got, &root), -ENOENT);

        ck_assert_int_eq(mount_umount_if(vol, id, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
        ck_assert_int_eq(mount_id_of(vol, &got, &root), 0);
        ck_assert(!root);
}
END_TEST

START_TEST(test_bind_id_recorded)
{
        const char *priv = sub("priv", true), *tgt = sub("target", true);
        char err[256] = "", path[PATH_MAX];
        uint64_t tid = 0, bid = 0, got = 0;
        bool root = false;
        MountLine ml;

        ck_assert_int_eq(mount_tmpfs_id(priv, &small, &tid, err, sizeof(err)), 0);
        ck_assert_msg(mount_bind_readonly_id(priv, tgt, &bid, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_gt(bid, 0);
        ck_assert_uint_ne(bid, tid);
        ck_assert_uint_eq(bid, mountinfo_id(tgt));
        ck_assert_uint_eq(tid, mountinfo_id(priv));
        ck_assert_int_eq(mount_id_of(tgt, &got, &root), 0);
        ck_assert_uint_eq(got, bid);
        ck_assert(root);
        ck_assert(mountinfo_find(tgt, &ml));
        ck_assert_msg(has_opt(ml.mnt_opts, "ro") && has_opt(ml.mnt_opts, "nosuid") &&
                              has_opt(ml.mnt_opts, "nodev") && has_opt(ml.mnt_opts, "noexec"),
                      "bind per-mount options: %s", ml.mnt_opts);
        ck_assert_str_eq(ml.fstype, "tmpfs");
        PATHF(path, sizeof(path), "%s/new", tgt);
        errno = 0;
        ck_assert_int_lt(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), 0);
        ck_assert_int_eq(errno, EROFS);

        /* each id unmounts its own mount only */
        ck_assert_int_eq(mount_umount_if(tgt, tid, false, err, sizeof(err)), MOUNT_E_NOT_OURS);
        ck_assert(is_mp(tgt));
        ck_assert_int_eq(mount_umount_if(tgt, bid, false, err, sizeof(err)), 0);
        ck_assert(!is_mp(tgt));
        ck_assert(is_mp(priv));
        ck_assert_int_eq(mount_umount_if(priv, tid, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_umount_if_refuses_others)
{
        const char *vol = sub("vol", true), *plain = sub("plain", true);
        char err[256] = "";
        uint64_t id = 0, foreign = 0, got = 0;
        bool root = false;

        ck_assert_int_eq(mount_tmpfs_id(vol, &small, &id, err, sizeof(err)), 0);
        /* a wrong id: refused, nothing unmounted, the message names both */
        err[0] = '\0';
        ck_assert_int_eq(mount_umount_if(vol, id + 1000, false, err, sizeof(err)),
                         MOUNT_E_NOT_OURS);
        ck_assert_msg(strstr(err, vol) && strstr(err, "not unmounting"), "err: %s", err);
        ck_assert_uint_eq(mountinfo_id(vol), id);
        ck_assert_int_eq(mount_umount_if(vol, id + 1000, true, err, sizeof(err)), MOUNT_E_NOT_OURS);
        ck_assert_uint_eq(mountinfo_id(vol), id);

        /* someone else's mount on top of ours: neither is touched */
        ck_assert_int_eq(mount("tmpfs", vol, "tmpfs", 0, "size=64k"), 0);
        foreign = mountinfo_id(vol);
        ck_assert_uint_ne(foreign, id);
        ck_assert_int_eq(mount_umount_if(vol, id, true, err, sizeof(err)), MOUNT_E_NOT_OURS);
        ck_assert_uint_eq(mountinfo_id(vol), foreign);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 2);
        ck_assert_int_eq(umount2(vol, 0), 0);

        /* ours again on top: unmounted, then nothing to do */
        ck_assert_int_eq(mount_umount_if(vol, id, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
        ck_assert_int_eq(mount_umount_if(vol, id, false, err, sizeof(err)), 0);
        /* a directory that is no mount, a missing path, bad arguments */
        ck_assert_int_eq(mount_umount_if(plain, id, false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount_if(sub("missing", false), id, false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount_if(vol, 0, false, NULL, 0), -EINVAL);
        ck_assert_int_eq(mount_umount_if(NULL, id, false, NULL, 0), -EINVAL);
        ck_assert_int_eq(mount_id_of(NULL, &got, &root), -EINVAL);
}
END_TEST

START_TEST(test_umount_if_symlink_not_followed)
{
        const char *vol = sub("vol", true), *link = sub("link", false);
        char err[256] = "";
        uint64_t id = 0, got = 0;
        bool root = true;

        ck_assert_int_eq(mount_tmpfs_id(vol, &small, &id, err, sizeof(err)), 0);
        ck_assert_int_eq(symlink(vol, link), 0);
        /* the link itself is not the mount's root */
        ck_assert_int_eq(mount_id_of(link, &got, &root), 0);
        ck_assert(!root);
        ck_assert_uint_ne(got, id);
        ck_assert_int_eq(mount_umount_if(link, id, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mountinfo_id(vol), id);
        ck_assert_int_eq(mount_umount_if(vol, id, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_umount_if_busy)
{
        const char *vol = sub("vol", true);
        char err[256] = "";
        uint64_t id = 0;
        int hold_fd = -1, status = 0;
        pid_t pid;

        ck_assert_int_eq(mount_tmpfs_id(vol, &small, &id, err, sizeof(err)), 0);
        pid = hold_busy(vol, &hold_fd);
        err[0] = '\0';
        ck_assert_int_eq(mount_umount_if(vol, id, false, err, sizeof(err)), MOUNT_E_BUSY);
        ck_assert_msg(strstr(err, vol) && strstr(err, strerror(EBUSY)), "err: %s", err);
        ck_assert_uint_eq(mountinfo_id(vol), id);
        ck_assert_int_eq(mount_umount_if(vol, id, true, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
        close(hold_fd);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_id_failures_leave_nothing)
{
        const char *priv = sub("priv", true);
        char err[256] = "";
        uint64_t id = 7, bid = 7;

        ck_assert_int_eq(mount_tmpfs_id(sub("missing", false), &small, &id, err, sizeof(err)),
                         -ENOENT);
        ck_assert_uint_eq(id, 7); /* untouched on failure */
        ck_assert_int_eq(mount_tmpfs_id(priv, &small, &id, err, sizeof(err)), 0);
        err[0] = '\0';
        ck_assert_int_eq(mount_bind_readonly_id(priv, sub("nodir", false), &bid, err, sizeof(err)),
                         -ENOENT);
        ck_assert_msg(strstr(err, "nodir") && strstr(err, strerror(ENOENT)), "err: %s", err);
        ck_assert_uint_eq(bid, 7);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 1);
        ck_assert_int_eq(mount_umount_if(priv, id, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

/* Ids survive a change of back-end (a record written by one, read by the other). */
START_TEST(test_ids_across_backends)
{
        const char *a = sub("a", true), *b = sub("b", true);
        MountApi other = api_under_test == MOUNT_API_NEW ? MOUNT_API_CLASSIC : MOUNT_API_NEW;
        char err[256] = "";
        uint64_t ida = 0, idb = 0, got = 0;
        bool root = false;

        ck_assert_int_eq(mount_tmpfs_id(a, &small, &ida, err, sizeof(err)), 0);
        if (other == MOUNT_API_NEW && !new_api_reachable()) {
                /* no new API here (valgrind): refused, and nothing changes */
                ck_assert_int_eq(mount_set_api(MOUNT_API_NEW), -EOPNOTSUPP);
                ck_assert_int_eq(mount_api_in_use(), MOUNT_API_CLASSIC);
                ck_assert_int_eq(mount_umount_if(a, ida, false, err, sizeof(err)), 0);
                ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
                return;
        }
        ck_assert_int_eq(mount_set_api(other), 0);
        ck_assert_int_eq(mount_api_in_use(), other);
        ck_assert_int_eq(mount_id_of(a, &got, &root), 0);
        ck_assert_uint_eq(got, ida);
        ck_assert(root);
        ck_assert_int_eq(mount_bind_readonly_id(a, b, &idb, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_set_api(api_under_test), 0);
        ck_assert_int_eq(mount_id_of(b, &got, &root), 0);
        ck_assert_uint_eq(got, idb);
        ck_assert_int_eq(mount_umount_if(b, idb, false, err, sizeof(err)), 0);
        ck_assert_int_eq(mount_umount_if(a, ida, false, err, sizeof(err)), 0);
        ck_assert_uint_eq(mounts_under(dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_api_names)
{
        ck_assert_int_eq(mount_api_from_string("auto"), MOUNT_API_AUTO);
        ck_assert_int_eq(mount_api_from_string("new"), MOUNT_API_NEW);
        ck_assert_int_eq(mount_api_from_string("classic"), MOUNT_API_CLASSIC);
        ck_assert_int_eq(mount_api_from_string("Classic"), _MOUNT_API_INVALID);
        ck_assert_int_eq(mount_api_from_string(NULL), _MOUNT_API_INVALID);
        ck_assert_str_eq(mount_api_to_string(MOUNT_API_CLASSIC), "classic");
        ck_assert_ptr_null(mount_api_to_string(_MOUNT_API_MAX));
        ck_assert_int_eq(mount_set_api(_MOUNT_API_MAX), -EINVAL);
        ck_assert_int_eq(mount_api_in_use(), api_under_test);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mount");
        TCase *tc;

        tc = tcase_create("tmpfs");
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_tmpfs_options);
        tcase_add_test(tc, test_tmpfs_defaults);
        tcase_add_test(tc, test_tmpfs_invalid);
        suite_add_tcase(s, tc);

        tc = tcase_create("bind");
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_bind_readonly);
        tcase_add_test(tc, test_bind_missing_target);
        suite_add_tcase(s, tc);

        tc = tcase_create("query");
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_is_mountpoint);
        suite_add_tcase(s, tc);

        tc = tcase_create("umount");
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_umount_idempotent);
        tcase_add_test(tc, test_umount_busy);
        suite_add_tcase(s, tc);

        tc = tcase_create("identity");
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_tmpfs_id_recorded);
        tcase_add_test(tc, test_bind_id_recorded);
        tcase_add_test(tc, test_umount_if_refuses_others);
        tcase_add_test(tc, test_umount_if_symlink_not_followed);
        tcase_add_test(tc, test_umount_if_busy);
        tcase_add_test(tc, test_id_failures_leave_nothing);
        tcase_add_test(tc, test_ids_across_backends);
        tcase_add_test(tc, test_api_names);
        suite_add_tcase(s, tc);

        return s;
}

/*
 * Whether this process can use the whole new mount API: a kernel >= 5.12
 * (mount_setattr) whose fsopen and statx mount ids reach us. Under valgrind
 * (which does not know these calls) they fail with ENOSYS, and the library
 * must then pick the classic back-end by itself.
 */
static bool new_api_reachable(void) {
        struct utsname u;
        struct statx sx;
        int major = 0, minor = 0, fd;

        if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
            (major < 5 || (major == 5 && minor < 12)))
                return false;
        if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID))
                return false;
        fd = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

int main(void) {
        int r1, r2;

        /* the default back-end: on a kernel that has it, it must be the new API */
        if (mount_set_api(MOUNT_API_AUTO) < 0)
                return EXIT_FAILURE;
        api_under_test = new_api_reachable() ? MOUNT_API_NEW : MOUNT_API_CLASSIC;
        printf("mount back-end: %s\n", mount_api_to_string(api_under_test));
        r1 = testutil_run(suite());
        /* the fallback for older kernels, forced */
        if (mount_set_api(MOUNT_API_CLASSIC) < 0)
                return EXIT_FAILURE;
        api_under_test = MOUNT_API_CLASSIC;
        printf("mount back-end: classic (forced)\n");
        r2 = testutil_run(suite());
        return r1 == EXIT_SUCCESS && r2 == EXIT_SUCCESS ? EXIT_SUCCESS : EXIT_FAILURE;
}
