/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-atomic-writer.c - atomic-writer.c on real directories (and small
 * tmpfs mounts for ENOSPC and read-only failures; the tests run as root):
 * the on-disk layout, modes and group, the swap and removal of the old
 * payload and stale links, atomic_writer_same, rollback leaving the old
 * payload byte-identical (same inodes), a concurrent reader that must
 * never see a mix of two payloads, symlink attacks, atomic_writer_clear,
 * and that no payload byte reaches the log or an error message.
 *
 * Cleanup: every test works in its own mkdtemp dir under a per-TCase base
 * dir; the checked teardown removes it, and the unchecked teardown (run in
 * the parent, also after a failed test) detaches any mount left under the
 * base dir and removes the rest.
 */
#undef NDEBUG
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic-writer.h"
#include "log.h"

#include <check.h>

#include "testutil.h"

/* snprintf that fails the test instead of truncating a path. */
#define PATHF(buf, size, ...) ck_assert_int_lt(snprintf((buf), (size), __VA_ARGS__), (int)(size))

#define TEST_GID              ((gid_t)12345)
#define MIN(a, b)             ((a) < (b) ? (a) : (b))

static char base[PATH_MAX]; /* per TCase, made in the parent */
static char dir[PATH_MAX];  /* per test */
static char root[PATH_MAX]; /* dir/root, the writer's root */
static int root_fd = -1;

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
        size_t plen = strlen(path);

        if (!path[0])
                return;
        for (int round = 0; round < 16; round++) {
                char line[4096], last[PATH_MAX] = "";
                FILE *f = fopen("/proc/self/mountinfo", "re");
                if (!f)
                        break;
                while (fgets(line, sizeof(line), f)) {
                        char tgt[PATH_MAX];
                        if (sscanf(line, "%*s %*s %*s %*s %4095s", tgt) == 1 &&
                            strncmp(tgt, path, plen) == 0 &&
                            (tgt[plen] == '/' || tgt[plen] == '\0'))
                                (void)snprintf(last, sizeof(last), "%s", tgt);
                }
                fclose(f);
                if (!last[0])
                        break;
                (void)umount2(last, MNT_DETACH);
        }
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void base_setup(void) {
        (void)snprintf(base, sizeof(base), "/tmp/test-atomic-writer-XXXXXX");
        if (!mkdtemp(base))
                base[0] = '\0';
}

static void base_teardown(void) {
        sweep(base);
        base[0] = '\0';
}

static void open_root(void) {
        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(root_fd, 0);
}

static void setup(void) {
        ck_assert(base[0] != '\0');
        PATHF(dir, sizeof(dir), "%s/t-XXXXXX", base);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        PATHF(root, sizeof(root), "%s/root", dir);
        ck_assert_int_eq(mkdir(root, 0755), 0);
        open_root();
}

static void teardown(void) {
        if (root_fd >= 0)
                close(root_fd);
        root_fd = -1;
        sweep(dir);
        dir[0] = '\0';
}

/* Mounts a small tmpfs at root (for ENOSPC and EROFS) and reopens root_fd. */
static void root_on_tmpfs(const char *options) {
        close(root_fd);
        ck_assert_int_eq(mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options),
                         0);
        open_root();
}

/* ---- helpers ---- */

#define PF(n, s, m)                                                                                \
        ((PayloadFile){                                                                            \
                .name = (n), .data = (const uint8_t *)(s), .len = sizeof(s) - 1, .mode = (m) })

/* Reads root/<rel> (following the per-file symlinks, as a pod would). */
static ssize_t read_path(const char *rel, char *buf, size_t max) {
        int fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC);
        ssize_t n = 0, k;
        if (fd < 0)
                return -errno;
        while ((size_t)n < max && (k = read(fd, buf + n, max - (size_t)n)) > 0)
                n += k;
        close(fd);
        return n;
}

static void assert_content(const char *rel, const void *want, size_t len) {
        char buf[8192];
        ssize_t n = read_path(rel, buf, sizeof(buf));
        ck_assert_msg(n == (ssize_t)len, "%s: read %zd bytes, want %zu", rel, n, len);
        ck_assert_msg(len == 0 || memcmp(buf, want, len) == 0, "%s: content differs", rel);
}

static bool is_payload_dir(const char *s) {
        static const char tmpl[] = "..DDDD_DD_DD_DD_DD_DD.DDDDDDDDD";
        for (size_t i = 0; i < sizeof(tmpl); i++) {
                if (tmpl[i] == 'D' ? (s[i] < '0' || s[i] > '9') : s[i] != tmpl[i])
                        return false;
        }
        return true;
}

/* Number of entries in root whose name starts with "..", except "..data". */
static size_t count_dotdot(void) {
        DIR *d;
        struct dirent *de;
        size_t n = 0;
        int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        d = fdopendir(fd);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "..", 2) == 0 && de->d_name[2] &&
                    strcmp(de->d_name, "..data") != 0)
                        n++;
        closedir(d);
        return n;
}

static size_t count_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void data_target(char *buf, size_t size) {
        ssize_t k = readlinkat(root_fd, "..data", buf, size - 1);
        ck_assert_int_gt(k, 0);
        buf[k] = '\0';
}

/*
 * A dump of everything under the fd: names, types, modes, owners, inode
 * numbers, mtimes, link targets and file bytes. Equal dumps mean nothing
 * was touched, not just "the same content".
 */
static void dump_dir(FILE *out, int dfd, const char *prefix) {
        struct dirent **list = NULL;
        int n = scandirat(dfd, ".", &list, NULL, alphasort);

        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                struct stat st;
                if (!strcmp(name, ".") || !strcmp(name, "..")) {
                        free(list[i]);
                        continue;
                }
                ck_assert_int_eq(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
                fprintf(out, "%s%s mode=%o uid=%u gid=%u ino=%lu mtime=%ld.%09ld size=%lld", prefix,
                        name, (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
                        (unsigned long)st.st_ino, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                        (long long)st.st_size);
                if (S_ISLNK(st.st_mode)) {
                        char t[PATH_MAX];
                        ssize_t k = readlinkat(dfd, name, t, sizeof(t) - 1);
                        ck_assert_int_ge(k, 0);
                        t[k] = '\0';
                        fprintf(out, " -> %s\n", t);
                } else if (S_ISREG(st.st_mode)) {
                        char buf[4096];
                        ssize_t k;
                        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        ck_assert_int_ge(fd, 0);
                        fputs(" data=", out);
                        while ((k = read(fd, buf, sizeof(buf))) > 0)
                                fputs(testutil_tohex((const uint8_t *)buf, (size_t)k), out);
                        close(fd);
                        fputc('\n', out);
                } else if (S_ISDIR(st.st_mode)) {
                        char sub[PATH_MAX];
                        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        ck_assert_int_ge(fd, 0);
                        fputc('\n', out);
                        PATHF(sub, sizeof(sub), "%s%s/", prefix, name);
                        dump_dir(out, fd, sub);
                        close(fd);
                } else {
                        fputc('\n', out);
                }
                free(list[i]);
        }
        free(list);
}

static char *snapshot(void) {
        char *s = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&s, &len);

        ck_assert_ptr_nonnull(out);
        dump_dir(out, root_fd, "");
        fclose(out);
        return s;
}

static int line_len(const char *s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        return (int)MIN(n, 300);
}

/* Fails with the first differing line (snapshots are too long for Check's
 * message limit). */
static void assert_same_snapshot(const char *before, const char *after) {
        const char *b = before, *a = after;

        while (*b && *b == *a) {
                b++;
                a++;
        }
        if (*b == *a)
                return;
        while (b > before && b[-1] != '\n') {
                b--;
                a--;
        }
        ck_abort_msg("snapshot changed:\n  before: %.*s\n  after:  %.*s", line_len(b), b,
                     line_len(a), a);
}

static void assert_link(const char *name) {
        char t[PATH_MAX], want[PATH_MAX];
        ssize_t k = readlinkat(root_fd, name, t, sizeof(t) - 1);
        ck_assert_msg(k > 0, "%s is not a symlink", name);
        t[k] = '\0';
        PATHF(want, sizeof(want), "..data/%s", name);
        ck_assert_str_eq(t, want);
}

static void assert_missing(const char *name) {
        struct stat st;
        errno = 0;
        ck_assert_msg(fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
                      "%s still exists", name);
}

static bool same(const PayloadFile *files, size_t n) {
        bool r = true;
        ck_assert_int_eq(atomic_writer_same(root_fd, files, n, &r), 0);
        return r;
}

static void write_ok(const PayloadFile *files, size_t n, gid_t gid) {
        char err[256] = "";
        int r = atomic_writer_write(root_fd, files, n, gid, 0, err, sizeof(err));
        ck_assert_msg(r == 0, "write failed: %d %s", r, err);
}

/* ---- layout ---- */

START_TEST(test_first_write_layout)
{
        static const uint8_t bin[] = { 'b', 0, 0xff, '\n' };
        PayloadFile files[] = {
                PF("alpha", "alpha-secret", 0444),
                { .name = "bin", .data = bin, .len = sizeof(bin), .mode = 0440 },
                { .name = "empty", .data = NULL, .len = 0, .mode = 0400 },
        };
        char target[PATH_MAX], path[PATH_MAX];
        struct stat st;

        write_ok(files, 3, (gid_t)-1);

        data_target(target, sizeof(target));
        ck_assert_msg(is_payload_dir(target) && strlen(target) == 31, "..data -> %s", target);
        ck_assert_int_eq(fstatat(root_fd, target, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(count_dotdot(), 1); /* the payload dir, no temporaries */

        for (size_t i = 0; i < 3; i++) {
                assert_link(files[i].name);
                assert_content(files[i].name, files[i].data, files[i].len);
                PATHF(path, sizeof(path), "%s/%s", target, files[i].name);
                ck_assert_int_eq(fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
                ck_assert(S_ISREG(st.st_mode));
                ck_assert_uint_eq(st.st_mode & 07777, files[i].mode);
                ck_assert_uint_eq(st.st_uid, 0);
                ck_assert_uint_eq(st.st_nlink, 1);
        }
        /* root: 3 links, ..data, the payload dir. */
        ck_assert_uint_eq(count_entries(root), 5);
        PATHF(path, sizeof(path), "%s/%s", root, target);
        ck_assert_uint_eq(count_entries(path), 3);
}
END_TEST

START_TEST(test_group_and_umask)
{
        PayloadFile files[] = { PF("token", "t0k3n", 0440), PF("ca.crt", "cert", 0444) };
        char target[PATH_MAX], path[PATH_MAX];
        struct stat st;
        mode_t old = umask(077); /* the daemon's umask */

        write_ok(files, 2, TEST_GID);
        (void)umask(old);

        data_target(target, sizeof(target));
        ck_assert_int_eq(fstatat(root_fd, target, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_gid, TEST_GID);
        for (size_t i = 0; i < 2; i++) {
                PATHF(path, sizeof(path), "%s/%s", target, files[i].name);
                ck_assert_int_eq(fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
                ck_assert_uint_eq(st.st_mode & 07777, files[i].mode);
                ck_assert_uint_eq(st.st_uid, 0);
                ck_assert_uint_eq(st.st_gid, TEST_GID);
                assert_content(files[i].name, files[i].data, files[i].len);
        }
}
END_TEST

START_TEST(test_second_write_swaps)
{
        PayloadFile a[] = { PF("keep", "one", 0444), PF("gone", "bye", 0444) };
        PayloadFile b[] = { PF("keep", "two-longer", 0440), PF("new", "hi", 0444) };
        char t1[PATH_MAX], t2[PATH_MAX];
        struct stat st;

        write_ok(a, 2, (gid_t)-1);
        data_target(t1, sizeof(t1));
        write_ok(b, 2, (gid_t)-1);
        data_target(t2, sizeof(t2));

        ck_assert_str_ne(t1, t2);
        errno = 0;
        ck_assert_int_lt(fstatat(root_fd, t1, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert_uint_eq(count_dotdot(), 1);
        assert_missing("gone");
        assert_link("keep");
        assert_link("new");
        assert_content("keep", "two-longer", 10);
        assert_content("new", "hi", 2);
        ck_assert_uint_eq(count_entries(root), 4);

        /* An empty payload is a payload too. */
        write_ok(NULL, 0, (gid_t)-1);
        assert_missing("keep");
        assert_missing("new");
        ck_assert_uint_eq(count_entries(root), 2);
        ck_assert(same(NULL, 0));
}
END_TEST

/* An expanded object: "dir/name" files under one link per directory. */
START_TEST(test_subdirectories)
{
        PayloadFile a[] = { PF("db/user", "admin", 0440), PF("plain", "p", 0444),
                            PF("db/pass", "hunter2", 0400), PF("db-x", "dash", 0444) };
        PayloadFile b[] = { PF("db/user", "admin", 0440), PF("db/token", "t0k", 0440),
                            PF("plain", "p", 0444) };
        char target[PATH_MAX], path[PATH_MAX];
        struct stat st;

        ck_assert(!same(a, 4));
        write_ok(a, 4, TEST_GID);
        ck_assert(same(a, 4));
        assert_link("db");
        assert_link("plain");
        assert_link("db-x");
        assert_content("db/user", "admin", 5);
        assert_content("db/pass", "hunter2", 7);
        data_target(target, sizeof(target));
        PATHF(path, sizeof(path), "%s/db", target);
        ck_assert_int_eq(fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_gid, TEST_GID);
        PATHF(path, sizeof(path), "%s/db/pass", target);
        ck_assert_int_eq(fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0400);
        ck_assert_uint_eq(st.st_gid, TEST_GID);
        /* root: 3 links, ..data, the payload dir */
        ck_assert_uint_eq(count_entries(root), 5);

        /* a key more or less in the directory is a difference */
        ck_assert(!same(a, 3));
        ck_assert(!same(b, 3));
        {
                PayloadFile c[] = { PF("db/user", "admin", 0440), PF("plain", "p", 0444),
                                    PF("db/pass", "hunter2", 0400), PF("db-x", "dash", 0444),
                                    PF("db/more", "m", 0444) };
                ck_assert(!same(c, 5));
        }

        /* the next payload: db/pass gone, db/token new, db-x gone, one swap */
        write_ok(b, 3, TEST_GID);
        ck_assert(same(b, 3));
        assert_content("db/token", "t0k", 3);
        errno = 0;
        ck_assert_int_lt(openat(root_fd, "db/pass", O_RDONLY | O_CLOEXEC), 0);
        ck_assert_int_eq(errno, ENOENT);
        assert_missing("db-x");
        ck_assert_uint_eq(count_dotdot(), 1);
        ck_assert_uint_eq(count_entries(root), 4);

        /* the directory becomes a file again, and goes */
        {
                PayloadFile c[] = { PF("db", "now a file", 0444) };
                write_ok(c, 1, (gid_t)-1);
                ck_assert(same(c, 1));
                assert_content("db", "now a file", 10);
        }
        write_ok(NULL, 0, (gid_t)-1);
        assert_missing("db");
        /* clear removes payload subdirs too */
        write_ok(a, 4, TEST_GID);
        ck_assert_int_eq(atomic_writer_clear(root_fd), 0);
        ck_assert_uint_eq(count_entries(root), 0);
}
END_TEST

START_TEST(test_same)
{
        PayloadFile a[] = { PF("user", "admin", 0440), PF("pass", "hunter2", 0440) };
        PayloadFile v[2];
        bool r = true;

        ck_assert(!same(a, 2)); /* nothing published yet */
        write_ok(a, 2, TEST_GID);
        ck_assert(same(a, 2));
        /* Order does not matter. */
        v[0] = a[1];
        v[1] = a[0];
        ck_assert(same(v, 2));

        memcpy(v, a, sizeof(v));
        v[1] = PF("pass", "hunter3", 0440); /* one byte */
        ck_assert(!same(v, 2));
        v[1] = PF("pass", "hunter22", 0440); /* longer */
        ck_assert(!same(v, 2));
        v[1] = PF("pass", "hunter", 0440); /* shorter */
        ck_assert(!same(v, 2));
        v[1] = PF("pass", "hunter2", 0444); /* mode */
        ck_assert(!same(v, 2));
        v[1] = PF("word", "hunter2", 0440); /* name */
        ck_assert(!same(v, 2));
        ck_assert(!same(a, 1)); /* a name less */
        ck_assert(!same(NULL, 0));

        ck_assert_int_eq(atomic_writer_same(root_fd, (PayloadFile[]){ PF(".x", "y", 0444) }, 1, &r),
                         -EINVAL);
        ck_assert_int_eq(atomic_writer_same(-1, a, 2, &r), -EBADF);

        /* A lost per-file link makes it "different", so the next write repairs it. */
        ck_assert_int_eq(unlinkat(root_fd, "pass", 0), 0);
        ck_assert(!same(a, 2));
        write_ok(a, 2, TEST_GID);
        ck_assert(same(a, 2));
        assert_link("pass");
}
END_TEST

/* ---- failures leave the previous payload as it was ---- */

START_TEST(test_invalid_input_untouched)
{
        PayloadFile a[] = { PF("a", "AAAA", 0444), PF("b", "BBBB", 0444) };
        /* one directory level ("x/y") is fine; more, or an empty or dot
         * component, is not */
        static const char *const bad[] = { "",      ".",    "..",         ".hidden", "..data",
                                           "x/y/z", "/abs", "..data_tmp", "x/",      "x//y",
                                           "x/.y",  "../x", "..data/x" };
        char *before, *after, err[256];

        write_ok(a, 2, (gid_t)-1);
        before = snapshot();

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                PayloadFile v[] = { PF("a", "new-a", 0444), PF("b", "new-b", 0444),
                                    PF("c", "new-c", 0444) };
                v[1].name = bad[i]; /* in the middle of the list */
                err[0] = '\0';
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 3, (gid_t)-1, 0, err, sizeof(err)),
                                 -EINVAL);
                ck_assert(err[0] != '\0');
                ck_assert_ptr_null(strstr(err, "new-"));
        }
        {
                PayloadFile v[] = { PF("a", "x", 0444), { .name = NULL }, PF("c", "z", 0444) };
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 3, (gid_t)-1, 0, NULL, 0),
                                 -EINVAL);
        }
        {
                PayloadFile v[] = { PF("a", "x", 0444), PF("c", "y", 0444), PF("a", "z", 0444) };
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 3, (gid_t)-1, 0, err, sizeof(err)),
                                 -EINVAL);
        }
        {
                /* a name that is also a directory */
                PayloadFile v[] = { PF("a", "x", 0444), PF("c", "y", 0444), PF("c/d", "z", 0444) };
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 3, (gid_t)-1, 0, err, sizeof(err)),
                                 -EINVAL);
                ck_assert_str_eq(err, "payload file 'c' is also a directory");
        }
        {
                PayloadFile v[] = { PF("a", "x", 0444), PF("c", "y", 04755) };
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 2, (gid_t)-1, 0, err, sizeof(err)),
                                 -EINVAL);
        }
        {
                char longname[NAME_MAX + 2];
                memset(longname, 'n', sizeof(longname) - 1);
                longname[sizeof(longname) - 1] = '\0';
                PayloadFile v[] = { PF("a", "x", 0444), { .name = longname, .mode = 0444 } };
                ck_assert_int_eq(atomic_writer_write(root_fd, v, 2, (gid_t)-1, 0, err, sizeof(err)),
                                 -EINVAL);
        }
        ck_assert_int_eq(atomic_writer_write(-1, a, 2, (gid_t)-1, 0, err, sizeof(err)), -EBADF);

        after = snapshot();
        assert_same_snapshot(before, after);
        ck_assert_uint_eq(count_dotdot(), 1);
        ck_assert(same(a, 2));
        free(before);
        free(after);
}
END_TEST

START_TEST(test_enospc_rolls_back)
{
        static uint8_t big[256 * 1024];
        PayloadFile a[] = { PF("a", "AAAA", 0444), PF("b", "BBBB", 0444) };
        PayloadFile v[] = { PF("a", "new-a", 0444),
                            PF("c", "new-c", 0444),
                            { .name = "big", .data = big, .len = sizeof(big), .mode = 0444 },
                            PF("d", "new-d", 0444) };
        char *before, *after, err[256] = "";
        int r;

        memset(big, 'S', sizeof(big));
        root_on_tmpfs("size=64k,mode=0755"); /* 16 pages: "big" cannot fit */
        write_ok(a, 2, TEST_GID);
        before = snapshot();

        r = atomic_writer_write(root_fd, v, 4, TEST_GID, 0, err, sizeof(err));
        ck_assert_msg(r == -ENOSPC, "r=%d err=%s", r, err);
        ck_assert_ptr_nonnull(strstr(err, "big"));
        ck_assert_ptr_null(strstr(err, "SSSS"));

        after = snapshot();
        assert_same_snapshot(before, after);
        ck_assert_uint_eq(count_dotdot(), 1);
        ck_assert(same(a, 2));
        assert_missing("c");
        assert_missing("d");
        free(before);
        free(after);

        /* The next write that fits goes through. */
        v[2].len = 1000;
        write_ok(v, 4, TEST_GID);
        ck_assert(same(v, 4));
        assert_missing("b");
        ck_assert_uint_eq(count_dotdot(), 1);
}
END_TEST

START_TEST(test_inode_limit_rolls_back)
{
        PayloadFile a[] = { PF("a", "A", 0444) };
        PayloadFile v[8];
        char names[8][8], *before, *after, err[256] = "";
        int r;

        /* root + ..data + payload dir + 1 file + 1 link: 5 inodes used. */
        root_on_tmpfs("size=1m,nr_inodes=12,mode=0755");
        write_ok(a, 1, (gid_t)-1);
        before = snapshot();
        for (size_t i = 0; i < 8; i++) {
                (void)snprintf(names[i], sizeof(names[i]), "f%zu", i);
                v[i] = (PayloadFile){
                        .name = names[i], .data = (const uint8_t *)"v", .len = 1, .mode = 0444
                };
        }
        r = atomic_writer_write(root_fd, v, 8, (gid_t)-1, 0, err, sizeof(err));
        ck_assert_msg(r == -ENOSPC, "r=%d err=%s", r, err);
        after = snapshot();
        assert_same_snapshot(before, after);
        ck_assert_uint_eq(count_dotdot(), 1);
        ck_assert(same(a, 1));
        free(before);
        free(after);
}
END_TEST

START_TEST(test_readonly_root_untouched)
{
        PayloadFile a[] = { PF("a", "AAAA", 0444), PF("b", "BBBB", 0444) };
        PayloadFile v[] = { PF("a", "new-a", 0444), PF("c", "new-c", 0444) };
        char *before, *after, err[256] = "";
        int r;

        root_on_tmpfs("size=1m,mode=0755");
        write_ok(a, 2, (gid_t)-1);
        before = snapshot();
        ck_assert_int_eq(mount("none", root, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);

        r = atomic_writer_write(root_fd, v, 2, (gid_t)-1, 0, err, sizeof(err));
        ck_assert_msg(r == -EROFS, "r=%d err=%s", r, err);
        ck_assert(err[0] != '\0');
        ck_assert_int_eq(atomic_writer_clear(root_fd), -EROFS);

        ck_assert_int_eq(mount("none", root, "none", MS_REMOUNT | MS_BIND, NULL), 0);
        after = snapshot();
        assert_same_snapshot(before, after);
        ck_assert(same(a, 2));
        free(before);
        free(after);
}
END_TEST

START_TEST(test_orphans_removed)
{
        PayloadFile a[] = { PF("a", "A", 0444) };
        const char *orphan = "..2020_01_01_00_00_00.000000001";
        int fd;

        /* What a crash between "payload written" and "swap" leaves behind. */
        ck_assert_int_eq(mkdirat(root_fd, orphan, 0755), 0);
        fd = openat(root_fd, "..2020_01_01_00_00_00.000000001/a", O_WRONLY | O_CREAT | O_CLOEXEC,
                    0444);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(symlinkat(orphan, root_fd, "..data_tmp"), 0);
        /* Not ours by name: left alone. */
        ck_assert_int_eq(mkdirat(root_fd, "..other", 0755), 0);

        write_ok(a, 1, (gid_t)-1);
        assert_missing(orphan);
        assert_missing("..data_tmp");
        assert_link("a");
        ck_assert_uint_eq(count_dotdot(), 2); /* the new payload dir and ..other */
        ck_assert_int_eq(unlinkat(root_fd, "..other", AT_REMOVEDIR), 0);
}
END_TEST

/* A new root (the publish's fresh tmpfs): the same layout without the
 * look-ups and the tidy-up; the next write (a rotation) tidies as usual. */
START_TEST(test_new_root)
{
        PayloadFile v1[] = { PF("a", "A", 0444), PF("db/user", "U", 0440) };
        PayloadFile v2[] = { PF("a", "A2", 0444) };
        char err[256] = "";

        ck_assert_int_eq(atomic_writer_write(root_fd, v1, 2, (gid_t)-1, ATOMIC_WRITE_NEW_ROOT, err,
                                             sizeof(err)),
                         0);
        ck_assert(same(v1, 2));
        assert_link("a");
        assert_link("db");
        assert_content("db/user", "U", 1);
        ck_assert_uint_eq(count_dotdot(), 1);
        ck_assert_uint_eq(count_entries(root), 4); /* the payload dir, ..data, a, db */

        write_ok(v2, 1, (gid_t)-1);
        ck_assert(same(v2, 1));
        assert_missing("db");
        ck_assert_uint_eq(count_dotdot(), 1);
}
END_TEST

/* A root that is not new after all: the write fails at the name it finds
 * taken and leaves the root exactly as it was. */
START_TEST(test_new_root_not_empty)
{
        PayloadFile a[] = { PF("a", "A", 0444), PF("b", "B", 0444) };
        char err[256] = "", *before, *after;
        int fd = openat(root_fd, "b", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        close(fd);
        before = snapshot();
        ck_assert_int_eq(atomic_writer_write(root_fd, a, 2, (gid_t)-1, ATOMIC_WRITE_NEW_ROOT, err,
                                             sizeof(err)),
                         -EEXIST);
        ck_assert_msg(strstr(err, "'b'"), "err: %s", err);
        after = snapshot();
        assert_same_snapshot(before, after);
        free(before);
        free(after);
}
END_TEST

/* ---- concurrent readers ---- */

#define N_SWAPS 200
#define N_FILES 4

typedef struct Version {
        PayloadFile files[N_FILES + 1];
        size_t n;
} Version;

static uint8_t content[2][N_FILES + 1][40000];
static Version versions[2];
static atomic_bool writer_done;

/* A and B: the same four names with different sizes and bytes, plus one
 * name that only A has and one that only B has. */
static void build_versions(void) {
        static const size_t sizes[2][N_FILES + 1] = {
                { 1, 4096, 40000, 7, 100 },
                { 2, 4095, 12345, 4096, 33 },
        };
        static const char *const names[N_FILES] = { "f0", "f1", "f2", "f3" };

        for (int v = 0; v < 2; v++) {
                for (size_t i = 0; i <= N_FILES; i++) {
                        memset(content[v][i], v ? 'B' : 'A', sizes[v][i]);
                        content[v][i][0] = (uint8_t)('0' + i);
                        versions[v].files[i] = (PayloadFile){
                                .name = i < N_FILES ? names[i] : (v ? "onlyB" : "onlyA"),
                                .data = content[v][i],
                                .len = sizes[v][i],
                                .mode = 0444,
                        };
                }
                versions[v].n = N_FILES + 1;
        }
}

/* Which version `name` with these bytes belongs to: 0 (A), 1 (B), -1. */
static int classify(const char *name, const uint8_t *buf, size_t len) {
        for (int v = 0; v < 2; v++)
                for (size_t i = 0; i < versions[v].n; i++) {
                        const PayloadFile *f = &versions[v].files[i];
                        if (strcmp(f->name, name) == 0 && f->len == len &&
                            memcmp(f->data, buf, len) == 0)
                                return v;
                }
        return -1;
}

typedef struct ReaderStats {
        unsigned consistent; /* whole sets read, all from one version */
        unsigned retried;    /* set reads that raced the old dir's removal */
        unsigned mixed;      /* set reads with files of both versions: must stay 0 */
        unsigned torn;       /* single files that are neither A's nor B's: must stay 0 */
        unsigned singles;    /* single files read through <root>/<name> */
} ReaderStats;

static ssize_t read_at(int dfd, const char *name, uint8_t *buf, size_t max) {
        int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        ssize_t n = 0, k;
        if (fd < 0)
                return -errno;
        while ((size_t)n < max && (k = read(fd, buf + n, max - (size_t)n)) > 0)
                n += k;
        close(fd);
        return n;
}

/*
 * One consistent read, as a consumer should do it: resolve ..data once,
 * then read every file relative to that directory.
 */
static void read_set(ReaderStats *st, uint8_t *buf, size_t max) {
        static const char *const all[] = { "f0", "f1", "f2", "f3", "onlyA", "onlyB" };
        int dfd = openat(root_fd, "..data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int version = -1;
        bool retry = false, mixed = false;

        if (dfd < 0) {
                st->retried++;
                return;
        }
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                ssize_t n = read_at(dfd, all[i], buf, max);
                int v;
                if (n == -ENOENT) {
                        /* Absent by design (the other version's only-file),
                         * or the old dir is being removed: decided below. */
                        continue;
                }
                if (n < 0) {
                        retry = true;
                        continue;
                }
                v = classify(all[i], buf, (size_t)n);
                if (v < 0) {
                        st->torn++;
                        continue;
                }
                if (version < 0)
                        version = v;
                else if (v != version)
                        mixed = true;
        }
        /* A file the version should have but that vanished means the old
         * dir was being emptied: retry, it is not a mix. */
        if (version >= 0 && !mixed)
                for (size_t i = 0; i < versions[version].n; i++) {
                        struct stat s;
                        if (fstatat(dfd, versions[version].files[i].name, &s, 0) < 0)
                                retry = true;
                }
        close(dfd);
        if (mixed)
                st->mixed++;
        else if (retry || version < 0)
                st->retried++;
        else
                st->consistent++;
}

/* Per-file reads through the stable <name> links: never partial. */
static void read_singles(ReaderStats *st, uint8_t *buf, size_t max) {
        static const char *const names[] = { "f0", "f1", "f2", "f3" };
        for (size_t i = 0; i < 4; i++) {
                ssize_t n = read_at(root_fd, names[i], buf, max);
                if (n < 0)
                        continue; /* ENOENT while the old dir goes away */
                st->singles++;
                if (classify(names[i], buf, (size_t)n) < 0)
                        st->torn++;
        }
}

static void *reader(void *arg) {
        ReaderStats *st = arg;
        static uint8_t buf[65536];

        while (!atomic_load(&writer_done)) {
                read_set(st, buf, sizeof(buf));
                read_singles(st, buf, sizeof(buf));
        }
        /* At least one full read, however the threads were scheduled. */
        read_set(st, buf, sizeof(buf));
        read_singles(st, buf, sizeof(buf));
        return NULL;
}

START_TEST(test_concurrent_reader)
{
        ReaderStats st = { 0 };
        pthread_t t;

        build_versions();
        write_ok(versions[0].files, versions[0].n, (gid_t)-1);
        atomic_store(&writer_done, false);
        ck_assert_int_eq(pthread_create(&t, NULL, reader, &st), 0);
        for (int i = 1; i <= N_SWAPS; i++) {
                char err[256] = "";
                int r = atomic_writer_write(root_fd, versions[i % 2].files, versions[i % 2].n,
                                            (gid_t)-1, 0, err, sizeof(err));
                if (r < 0) {
                        atomic_store(&writer_done, true);
                        (void)pthread_join(t, NULL);
                        ck_abort_msg("write %d failed: %s", i, err);
                }
        }
        atomic_store(&writer_done, true);
        ck_assert_int_eq(pthread_join(t, NULL), 0);

        ck_assert_msg(st.mixed == 0 && st.torn == 0,
                      "mixed=%u torn=%u (consistent=%u retried=%u singles=%u)", st.mixed, st.torn,
                      st.consistent, st.retried, st.singles);
        ck_assert_uint_gt(st.consistent, 0);
        ck_assert_uint_gt(st.singles, 0);
        /* N_SWAPS is even: A is current again, with nothing left of B. */
        ck_assert(same(versions[0].files, versions[0].n));
        assert_missing("onlyB");
        ck_assert_uint_eq(count_dotdot(), 1);
}
END_TEST

/* ---- symlink attacks ---- */

START_TEST(test_symlink_attacks)
{
        PayloadFile files[] = { PF("a", "payload-a", 0444), PF("b", "payload-b", 0444),
                                PF("c", "payload-c", 0444) };
        char outside[PATH_MAX], victim[PATH_MAX], *out_before, *out_after;
        struct stat st_before, st_after;
        int fd, out_fd;
        bool r = true;

        PATHF(outside, sizeof(outside), "%s/outside", dir);
        ck_assert_int_eq(mkdir(outside, 0700), 0);
        PATHF(victim, sizeof(victim), "%s/victim", outside);
        fd = open(victim, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "untouched", 9), 9);
        close(fd);
        ck_assert_int_eq(stat(victim, &st_before), 0);

        /* Planted before the first write: payload names, our own link names,
         * and a name outside the payload, all pointing out of root. */
        ck_assert_int_eq(symlinkat(victim, root_fd, "a"), 0);
        ck_assert_int_eq(symlinkat("../outside/victim", root_fd, "b"), 0);
        ck_assert_int_eq(mkdirat(root_fd, "c", 0755), 0); /* an empty dir */
        ck_assert_int_eq(symlinkat("../outside", root_fd, "..data"), 0);
        ck_assert_int_eq(symlinkat(victim, root_fd, "..data_tmp"), 0);
        ck_assert_int_eq(symlinkat(victim, root_fd, "..link_tmp"), 0);
        ck_assert_int_eq(symlinkat(victim, root_fd, "stale"), 0);

        /* ..data pointing outside is not "the current payload". */
        ck_assert_int_eq(atomic_writer_same(root_fd, files, 0, &r), 0);
        ck_assert(!r);

        out_fd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(out_fd, 0);
        {
                int saved = root_fd;
                root_fd = out_fd;
                out_before = snapshot();
                root_fd = saved;
        }

        write_ok(files, 3, TEST_GID);

        for (size_t i = 0; i < 3; i++) {
                assert_link(files[i].name);
                assert_content(files[i].name, files[i].data, files[i].len);
        }
        assert_missing("stale");
        assert_missing("..data_tmp");
        assert_missing("..link_tmp");
        ck_assert(same(files, 3));

        /* The outside is exactly as it was: same inode, bytes, mode, owner. */
        {
                int saved = root_fd;
                root_fd = out_fd;
                out_after = snapshot();
                root_fd = saved;
        }
        assert_same_snapshot(out_before, out_after);
        ck_assert_int_eq(stat(victim, &st_after), 0);
        ck_assert_uint_eq(st_after.st_ino, st_before.st_ino);
        ck_assert_uint_eq(st_after.st_mode, st_before.st_mode);
        ck_assert_uint_eq(st_after.st_gid, st_before.st_gid);
        close(out_fd);
        free(out_before);
        free(out_after);

        /* A non-empty directory squatting on a payload name fails the write
         * and leaves the published payload alone. */
        {
                PayloadFile v[] = { PF("a", "x", 0444), PF("sq", "y", 0444) };
                char *before = NULL, *after = NULL, err[256] = "";
                ck_assert_int_eq(mkdirat(root_fd, "sq", 0755), 0);
                fd = openat(root_fd, "sq/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                ck_assert_int_ge(fd, 0);
                close(fd);
                before = snapshot();
                ck_assert_int_lt(atomic_writer_write(root_fd, v, 2, TEST_GID, 0, err, sizeof(err)),
                                 0);
                ck_assert_ptr_nonnull(strstr(err, "sq"));
                after = snapshot();
                assert_same_snapshot(before, after);
                ck_assert(same(files, 3));
                free(before);
                free(after);
        }
}
END_TEST

/* ---- clear ---- */

START_TEST(test_clear)
{
        PayloadFile a[] = { PF("a", "A", 0444), PF("b", "B", 0440) };

        ck_assert_int_eq(atomic_writer_clear(root_fd), 0); /* nothing there */
        write_ok(a, 2, TEST_GID);
        write_ok(a + 1, 1, TEST_GID);
        ck_assert_int_eq(mkdirat(root_fd, "..2021_02_03_04_05_06.7", 0700), 0);
        ck_assert_int_eq(symlinkat("x", root_fd, "..data_tmp"), 0);

        ck_assert_int_eq(atomic_writer_clear(root_fd), 0);
        ck_assert_uint_eq(count_entries(root), 0);
        ck_assert_int_eq(atomic_writer_clear(root_fd), 0);
        ck_assert_int_eq(atomic_writer_clear(-1), -EBADF);

        /* The root is reusable afterwards. */
        write_ok(a, 2, TEST_GID);
        ck_assert(same(a, 2));
}
END_TEST

/* ---- secret hygiene ---- */

START_TEST(test_no_secret_in_log)
{
        static const char canary[] = "CANARY-5ecr3t-value";
        PayloadFile a[] = { PF("secret", "CANARY-5ecr3t-value", 0440) };
        PayloadFile bad[] = { PF("secret", "CANARY-5ecr3t-value", 0440), PF(".x", "y", 0444) };
        char err[256] = "", buf[8192];
        int cap, old_level = log_get_max_level();
        ssize_t n;
        bool r;

        cap = memfd_create("log", MFD_CLOEXEC);
        ck_assert_int_ge(cap, 0);
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_set_stderr_fd(cap);

        write_ok(a, 1, TEST_GID);
        ck_assert_int_eq(atomic_writer_same(root_fd, a, 1, &r), 0);
        ck_assert(r);
        write_ok(a, 1, TEST_GID);
        ck_assert_int_eq(atomic_writer_write(root_fd, bad, 2, TEST_GID, 0, err, sizeof(err)),
                         -EINVAL);
        ck_assert_int_eq(atomic_writer_clear(root_fd), 0);

        log_set_stderr_fd(-1);
        log_set_max_level(old_level);
        n = pread(cap, buf, sizeof(buf) - 1, 0);
        close(cap);
        ck_assert_int_gt(n, 0); /* the capture works: the writer logged at debug */
        buf[n] = '\0';
        ck_assert_ptr_null(strstr(buf, canary));
        ck_assert_ptr_null(strstr(err, canary));
}
END_TEST

static TCase *tcase(const char *name) {
        TCase *tc = tcase_create(name);
        tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        return tc;
}

static Suite *suite(void) {
        Suite *s = suite_create("atomic-writer");
        TCase *tc;

        tc = tcase("layout");
        tcase_add_test(tc, test_first_write_layout);
        tcase_add_test(tc, test_group_and_umask);
        tcase_add_test(tc, test_second_write_swaps);
        tcase_add_test(tc, test_same);
        tcase_add_test(tc, test_subdirectories);
        tcase_add_test(tc, test_new_root);
        suite_add_tcase(s, tc);

        tc = tcase("failure");
        tcase_add_test(tc, test_invalid_input_untouched);
        tcase_add_test(tc, test_enospc_rolls_back);
        tcase_add_test(tc, test_inode_limit_rolls_back);
        tcase_add_test(tc, test_readonly_root_untouched);
        tcase_add_test(tc, test_orphans_removed);
        tcase_add_test(tc, test_new_root_not_empty);
        suite_add_tcase(s, tc);

        tc = tcase("concurrency");
        tcase_add_test(tc, test_concurrent_reader);
        suite_add_tcase(s, tc);

        tc = tcase("safety");
        tcase_add_test(tc, test_symlink_attacks);
        tcase_add_test(tc, test_clear);
        tcase_add_test(tc, test_no_secret_in_log);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return testutil_run(suite());
}
