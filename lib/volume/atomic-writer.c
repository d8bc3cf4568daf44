/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomic-writer.c - publish a set of files so that readers see all of the
 * old set or all of the new one (the layout is described in atomic-writer.h).
 *
 * One write, in order:
 *
 *   1. Validate every name and mode; nothing is touched on bad input.
 *   2. mkdirat a fresh "..<UTC timestamp>.<ns>" dir (0700 while filling it),
 *      create each file with O_CREAT|O_EXCL|O_NOFOLLOW, write it in full,
 *      fchown (0, gid) and fchmod it; then give the dir its final owner and
 *      mode (0755, or 0750 group-owned with a gid).
 *   3. Make sure each "<name>" is a symlink to "..data/<name>". Names that
 *      are new get their link now (it dangles until the swap, which readers
 *      see as "not there yet"); an entry of the right name that is anything
 *      else (a file, a symlink elsewhere) is replaced by rename, never
 *      followed.
 *   4. symlinkat "..data_tmp" -> new dir, renameat it over "..data". This
 *      is the commit point: rename(2) replaces the link atomically.
 *   5. Best effort, after the commit: remove per-file symlinks whose names
 *      left the payload, and every payload dir but the new one (the old
 *      one, and orphans of a crash between 2 and 4).
 *
 * Any failure in 2-4 removes the links made in 3 and the new dir, so the
 * previous payload and "..data" stay exactly as they were.
 *
 * Every path operation is relative to root_fd, on a single component, with
 * O_NOFOLLOW or on the link itself (readlinkat, unlinkat, renameat), so a
 * symlink planted in root can never redirect a write outside it.
 *
 * Readers that want a consistent set open "..data" once (as a directory)
 * and openat() every file relative to it; opening "<name>" paths one by
 * one gives per-file atomicity only. A reader racing the removal of the
 * old dir may see ENOENT and should retry.
 *
 * A name may have one directory level ("db/user", an expanded object):
 * the payload dir then holds a subdir "db" (same owner and mode as the
 * payload dir) and root holds one link "db" -> "..data/db" for the whole
 * directory, so a reader sees all of its files from one payload. Links
 * are per top-level entry ("user" or "db"), never per file in a subdir.
 *
 * File contents are secrets: they are never logged, and the read-back in
 * atomic_writer_same() goes through a stack buffer that is wiped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic-writer.h"
#include "log.h"
#include "fsutil.h"
#include "macro.h"

#define DATA_LINK   "..data"
#define DATA_TMP    "..data_tmp"
#define LINK_TMP    "..link_tmp"
#define DATA_PREFIX "..data/"

/* "..YYYY_MM_DD_HH_MM_SS." plus up to 9 digits of nanoseconds. */
#define PAYLOAD_DIR_MAX 48

static void closedirp(DIR **d) {
        if (*d)
                (void)closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* The next entry, or NULL at the end (a read error goes to *r unless an
 * earlier error is there). */
static struct dirent *next_entry(DIR *d, int *r) {
        struct dirent *de;

        errno = 0;
        de = readdir(d);
        if (!de && errno != 0 && *r == 0)
                *r = -errno;
        return de;
}

/* One path component of ours: not empty, no '/', no leading '.'. */
static bool component_valid(const char *name, size_t len) {
        if (len == 0 || len > NAME_MAX || name[0] == '.')
                return false; /* also rejects ".", ".." and our own "..*" */
        return !memchr(name, '/', len);
}

/* "name" or "dir/name" (one level: an expanded object). */
static bool name_valid(const char *name) {
        const char *slash;
        size_t len;

        if (!name)
                return false;
        len = strlen(name);
        /* The link target "..data/<name>" must fit a path too. */
        if (len + sizeof(DATA_PREFIX) > PATH_MAX)
                return false;
        slash = strchr(name, '/');
        if (!slash)
                return component_valid(name, len);
        return component_valid(name, (size_t)(slash - name)) &&
               component_valid(slash + 1, len - (size_t)(slash - name) - 1);
}

/* The top-level entry of a name: "db" for "db/user", else the name. */
static size_t top_len(const char *name) {
        const char *slash = strchr(name, '/');
        return slash ? (size_t)(slash - name) : strlen(name);
}

/* Whether `s` is the name of a payload dir: "..DDDD_DD_DD_DD_DD_DD.D+". */
static bool payload_dir_name(const char *s) {
        static const char tmpl[] = "..DDDD_DD_DD_DD_DD_DD.";
        size_t i, digits = 0;

        for (i = 0; tmpl[i]; i++) {
                if (tmpl[i] == 'D' ? (s[i] < '0' || s[i] > '9') : s[i] != tmpl[i])
                        return false;
        }
        for (; s[i]; i++, digits++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return digits >= 1 && digits <= 9;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Checks names and modes; returns the names sorted (for duplicate checks
 * and lookups) in *ret_sorted (malloc'd, NULL for n == 0).
 */
static int validate(const PayloadFile *files, size_t n, const char ***ret_sorted, char *err,
                    size_t errlen) {
        _cleanup_free_ const char **sorted = NULL;
        size_t bytes;

        if (n > 0 && !files) {
                err_set(err, errlen, "no payload files given");
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                if (!name_valid(files[i].name)) {
                        /* The name is not a secret, but it may be garbage: no quoting of it. */
                        err_set(err, errlen, "payload file #%zu has an invalid name", i);
                        return -EINVAL;
                }
                if (files[i].mode > 0777 || (files[i].len > 0 && !files[i].data)) {
                        err_set(err, errlen, "payload file '%s' has an invalid mode or no data",
                                files[i].name);
                        return -EINVAL;
                }
        }
        if (n > 0) {
                if (!size_mul(n, sizeof(*sorted), &bytes))
                        return -ENOMEM;
                sorted = malloc(bytes);
                if (!sorted)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        sorted[i] = files[i].name;
                qsort(sorted, n, sizeof(*sorted), cmp_names);
                for (size_t i = 1; i < n; i++)
                        if (streq(sorted[i - 1], sorted[i])) {
                                err_set(err, errlen, "payload file '%s' appears twice", sorted[i]);
                                return -EINVAL;
                        }
        }
        *ret_sorted = TAKE_PTR(sorted);
        return 0;
}

static bool name_in(const char *const *sorted, size_t n, const char *name) {
        return n > 0 && bsearch(&name, sorted, n, sizeof(*sorted), cmp_names) != NULL;
}

/* The top-level entries of the payload (sorted, unique, malloc'd): what gets
 * a link in root. A name that is both a file and a directory is refused. */
typedef struct Tops {
        char **names;
        size_t n;
        size_t n_dirs; /* how many of them are directories ("db" of "db/user") */
} Tops;

static void tops_done(Tops *t) {
        for (size_t i = 0; t->names && i < t->n; i++)
                free(t->names[i]);
        free(t->names);
        *t = (Tops){ 0 };
}

static int tops_build(const char *const *sorted, size_t n, Tops *ret, char *err, size_t errlen) {
        Tops t = { .names = calloc(n ? n : 1, sizeof(char *)) };

        if (!t.names)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t len = top_len(sorted[i]);
                char *top;

                if (sorted[i][len] == '/') {
                        top = strndup(sorted[i], len);
                        if (top && name_in(sorted, n, top)) {
                                err_set(err, errlen, "payload file '%s' is also a directory", top);
                                free(top);
                                tops_done(&t);
                                return -EINVAL;
                        }
                } else
                        top = strdup(sorted[i]);
                if (!top) {
                        tops_done(&t);
                        return -ENOMEM;
                }
                /* sorted input: equal tops are adjacent ("db/a" < "db/b" < "db-x") */
                if (t.n > 0 && streq(t.names[t.n - 1], top)) {
                        free(top);
                        continue;
                }
                t.names[t.n++] = top;
                if (sorted[i][len] == '/')
                        t.n_dirs++;
        }
        qsort(t.names, t.n, sizeof(*t.names), cmp_names);
        *ret = t;
        return 0;
}

static int link_target(const char *name, char *buf, size_t size) {
        int k = snprintf(buf, size, DATA_PREFIX "%s", name);
        return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
}

/* Reads the symlink `name` in dir_fd; -EINVAL if it is not a symlink. */
static int read_link(int dir_fd, const char *name, char *buf, size_t size) {
        ssize_t k = readlinkat(dir_fd, name, buf, size);
        if (k < 0)
                return -errno;
        if ((size_t)k >= size)
                return -ENAMETOOLONG;
        buf[k] = '\0';
        return 0;
}

static int unlink_if_exists(int dir_fd, const char *name, int flags) {
        if (unlinkat(dir_fd, name, flags) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int opendir_at(int dir_fd, const char *name, DIR **ret) {
        _cleanup_close_ int fd = -1;
        DIR *d;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        *ret = d;
        return 0;
}

/*
 * Removes the directory `name` in parent_fd and the files in it; with
 * depth > 0 also its subdirs (an expanded object's files), recursively up
 * to that depth. Anything deeper makes the final rmdir fail. Missing → 0.
 */
static int remove_dir(int parent_fd, const char *name, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        r = opendir_at(parent_fd, name, &d);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (;;) {
                if (!(de = next_entry(d, &r)))
                        break;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
                        int q = -errno;
                        if (q == -EISDIR)
                                q = depth > 0 ? remove_dir(dirfd(d), de->d_name, depth - 1)
                                    : unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0 ? 0
                                                                                        : -errno;
                        if (q < 0 && q != -ENOENT && r == 0)
                                r = q;
                }
        }
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

/* A payload dir: files, and subdirs of files (expanded objects). */
static int remove_payload_dir(int root_fd, const char *name) {
        return remove_dir(root_fd, name, 1);
}

/* Creates a fresh payload dir named after the current UTC time. */
static int make_payload_dir(int root_fd, char *name, size_t size) {
        struct timespec ts;
        struct tm tm;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        if (!gmtime_r(&ts.tv_sec, &tm))
                return -EOVERFLOW;
        /* Two writes within one clock tick would collide; step the
         * nanoseconds instead of failing. */
        for (unsigned attempt = 0; attempt < 1000; attempt++) {
                long ns = (ts.tv_nsec + (long)attempt) % 1000000000L;
                int k = snprintf(name, size, "..%04d_%02d_%02d_%02d_%02d_%02d.%09ld",
                                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                 tm.tm_min, tm.tm_sec, ns);
                if (k < 0 || (size_t)k >= size)
                        return -ENAMETOOLONG;
                if (mkdirat(root_fd, name, 0700) == 0)
                        return 0;
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
        while (len > 0) {
                ssize_t k = write(fd, p, MIN(len, (size_t)SSIZE_MAX));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                len -= (size_t)k;
        }
        return 0;
}

/* The payload dir's subdir `top` (made 0700 on first use), opened. */
static int open_subdir(int dfd, const char *top, bool create) {
        int fd;

        if (create && mkdirat(dfd, top, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(dfd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int write_file(int dfd, const PayloadFile *f, gid_t gid) {
        _cleanup_close_ int fd = -1, sub = -1;
        const char *slash = strchr(f->name, '/'), *base = f->name;
        int r;

        if (slash) {
                _cleanup_free_ char *top = strndup(f->name, (size_t)(slash - f->name));
                if (!top)
                        return -ENOMEM;
                sub = open_subdir(dfd, top, true);
                if (sub < 0)
                        return sub;
                dfd = sub;
                base = slash + 1;
        }
        fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    (mode_t)f->mode);
        if (fd < 0)
                return -errno;
        r = write_all(fd, f->data, f->len);
        if (r < 0)
                return r;
        if (gid != (gid_t)-1 && fchown(fd, 0, gid) < 0)
                return -errno;
        /* The umask (077 in the daemon) trimmed the create mode, and a chown
         * may clear mode bits: set the mode last. */
        if (fchmod(fd, (mode_t)f->mode) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

/* Gives the payload dir and its subdirs their final owner and mode. */
static int finish_dirs(int dfd, const Tops *tops, gid_t gid) {
        mode_t mode = gid != (gid_t)-1 ? 0750 : 0755;

        for (size_t i = 0; tops->n_dirs > 0 && i < tops->n; i++) {
                _cleanup_close_ int sub = -1;
                struct stat st;

                if (fstatat(dfd, tops->names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        continue;
                sub = open_subdir(dfd, tops->names[i], false);
                if (sub < 0)
                        return sub;
                if ((gid != (gid_t)-1 && fchown(sub, 0, gid) < 0) || fchmod(sub, mode) < 0)
                        return -errno;
        }
        if ((gid != (gid_t)-1 && fchown(dfd, 0, gid) < 0) || fchmod(dfd, mode) < 0)
                return -errno;
        return 0;
}

/*
 * Whether root/<name> is the symlink to "..data/<name>" (that text goes to
 * want): 1 when it is, 0 when something else has the name (another link,
 * not a link), -ENOENT when nothing does, or another -errno.
 */
static int link_check(int root_fd, const char *name, char *want, size_t size) {
        char have[PATH_MAX];
        int r;

        r = link_target(name, want, size);
        if (r < 0)
                return r;
        r = read_link(root_fd, name, have, sizeof(have));
        if (r == -EINVAL || r == -ENAMETOOLONG)
                return 0;
        return r < 0 ? r : streq(have, want);
}

/*
 * Makes root/<name> a symlink to "..data/<name>". Sets *created when it
 * made or replaced the entry (so a rollback removes it again). In a new root
 * nothing has the name: the link is made without looking (EEXIST fails).
 */
static int ensure_link(int root_fd, const char *name, bool new_root, bool *created) {
        char want[PATH_MAX];
        int r;

        if (new_root) {
                r = link_target(name, want, sizeof(want));
                if (r == 0 && symlinkat(want, root_fd, name) < 0)
                        r = -errno;
                *created = r == 0;
                return r;
        }
        r = link_check(root_fd, name, want, sizeof(want));
        if (r > 0)
                return 0;
        if (r == -ENOENT) {
                if (symlinkat(want, root_fd, name) < 0)
                        return -errno;
                *created = true;
                return 0;
        }
        if (r < 0)
                return r;

        /* Something else has the name: a file, a dir, or a symlink to
         * elsewhere. Replace the entry itself, never what it points to. */
        r = unlink_if_exists(root_fd, LINK_TMP, 0);
        if (r < 0)
                return r;
        if (symlinkat(want, root_fd, LINK_TMP) < 0)
                return -errno;
        if (renameat(root_fd, LINK_TMP, root_fd, name) < 0) {
                r = -errno;
                /* rename(2) cannot replace a directory by a symlink; an empty
                 * one can go, anything else stays and fails the write. */
                if ((r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST) &&
                    unlinkat(root_fd, name, AT_REMOVEDIR) == 0 &&
                    renameat(root_fd, LINK_TMP, root_fd, name) == 0)
                        r = 0;
                if (r < 0) {
                        (void)unlinkat(root_fd, LINK_TMP, 0);
                        return r;
                }
        }
        *created = true;
        return 0;
}

/* Calls visit for every entry of root but "." and "..". Best effort: keeps
 * going after an error and returns the first one. */
static int walk_root(int root_fd, int (*visit)(int root_fd, const char *name, const void *userdata),
                     const void *userdata) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_at(root_fd, ".", &d);
        if (r < 0)
                return r;
        while ((de = next_entry(d, &r))) {
                int q;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                q = visit(root_fd, de->d_name, userdata);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

/* Removes root/<name> when it is a symlink or a payload dir; anything else stays. */
static int remove_link_or_payload(int root_fd, const char *name, const void *userdata) {
        struct stat st;

        (void)userdata;
        if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISLNK(st.st_mode))
                return unlink_if_exists(root_fd, name, 0);
        if (S_ISDIR(st.st_mode) && payload_dir_name(name))
                return remove_payload_dir(root_fd, name);
        return 0;
}

typedef struct StaleFilter {
        const char *const *sorted; /* the payload's top-level names */
        size_t n;
        const char *keep; /* the payload dir just committed */
} StaleFilter;

static int remove_if_stale(int root_fd, const char *name, const void *userdata) {
        const StaleFilter *f = userdata;

        if (name[0] == '.')
                return payload_dir_name(name) && !streq(name, f->keep)
                               ? remove_payload_dir(root_fd, name)
                               : 0;
        return name_in(f->sorted, f->n, name) ? 0 : remove_link_or_payload(root_fd, name, NULL);
}

/* After the commit: drop per-file symlinks whose names left the payload,
 * and every payload dir but `keep`. Best effort; returns the first error. */
static int remove_stale(int root_fd, const char *const *sorted, size_t n, const char *keep) {
        StaleFilter f = { sorted, n, keep };
        return walk_root(root_fd, remove_if_stale, &f);
}

static int check_root(int root_fd) {
        struct stat st;

        if (root_fd < 0)
                return -EBADF;
        if (fstat(root_fd, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* The checks that come before anything is written: names and modes, the
 * top-level names, the root. */
static int write_check(int root_fd, const PayloadFile *files, size_t n, const char ***sorted,
                       Tops *tops, char *err, size_t errlen) {
        int r = validate(files, n, sorted, err, errlen);

        if (r < 0)
                return r;
        r = tops_build(*sorted, n, tops, err, errlen);
        if (r < 0)
                return r;
        r = check_root(root_fd);
        if (r < 0)
                return err_fail(err, errlen, r, "payload root is not a usable directory: %s",
                                strerror(-r));
        return 0;
}

/* Leftovers of an interrupted write; they are ours by name. */
static int remove_leftovers(int root_fd, char *err, size_t errlen) {
        int r = unlink_if_exists(root_fd, DATA_TMP, 0);

        if (r == 0)
                r = unlink_if_exists(root_fd, LINK_TMP, 0);
        if (r < 0)
                return err_fail(err, errlen, r, "removing stale temporary links: %s", strerror(-r));
        return 0;
}

/* Every file, then the owner and mode of the new payload dir's dirs. */
static int fill_payload_dir(int root_fd, const char *dir, const PayloadFile *files, size_t n,
                            const Tops *tops, gid_t gid, char *err, size_t errlen) {
        _cleanup_close_ int dfd =
                openat(root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r = dfd < 0 ? -errno : 0;

        if (r < 0)
                return err_fail(err, errlen, r, "opening payload directory '%s': %s", dir,
                                strerror(-r));
        for (size_t i = 0; i < n; i++) {
                r = write_file(dfd, &files[i], gid);
                if (r < 0)
                        return err_fail(err, errlen, r, "writing payload file '%s': %s",
                                        files[i].name, strerror(-r));
        }
        r = finish_dirs(dfd, tops, gid);
        if (r < 0)
                return err_fail(err, errlen, r, "setting owner and mode of '%s': %s", dir,
                                strerror(-r));
        return 0;
}

/* The top-level links (created[i]: link i is new), then the commit: ..data
 * switched to `dir` in one rename. */
static int link_and_switch(int root_fd, const char *dir, const Tops *tops, bool new_root,
                           bool *created, char *err, size_t errlen) {
        for (size_t i = 0; i < tops->n; i++) {
                int r = ensure_link(root_fd, tops->names[i], new_root, &created[i]);
                if (r < 0)
                        return err_fail(err, errlen, r, "linking payload file '%s': %s",
                                        tops->names[i], strerror(-r));
        }
        if (symlinkat(dir, root_fd, DATA_TMP) < 0 ||
            renameat(root_fd, DATA_TMP, root_fd, DATA_LINK) < 0) {
                int r = -errno;
                return err_fail(err, errlen, r, "switching " DATA_LINK " to '%s': %s", dir,
                                strerror(-r));
        }
        return 0;
}

/* Undoes a write that did not commit: the temporary link, the links it
 * created, its payload dir. */
static void write_rollback(int root_fd, const char *dir, const Tops *tops, const bool *created) {
        (void)unlinkat(root_fd, DATA_TMP, 0);
        for (size_t j = 0; j < tops->n; j++)
                if (created[j])
                        (void)unlinkat(root_fd, tops->names[j], 0);
        (void)remove_payload_dir(root_fd, dir);
}

/**
 * atomic_writer_write() - publish @files as the new payload of @root_fd.
 * @root_fd: the volume's root directory (only ever used with *at() calls)
 * @files:   the payload; names are file names not starting with '.', or
 *           "dir/name" (one level), unique, no name also a directory, modes
 *           at most 0777
 * @n:       number of @files (0 publishes an empty payload)
 * @gid:     group of the files and payload dir, or (gid_t)-1
 * @flags:   ATOMIC_WRITE_NEW_ROOT: @root_fd is a directory the caller just
 *           made and nothing else wrote to; the write then neither looks
 *           for leftovers and existing links nor tidies up afterwards (a
 *           root that is not empty after all fails with EEXIST, rolled back)
 * @err:     receives a message naming the step and file (never contents)
 * @errlen:  size of @err
 *
 * Not thread-safe per root: callers hold the volume lock. Returns 0;
 * -EINVAL for a bad name, mode or duplicate (nothing touched); or -errno of
 * the failing step, with the previous payload left exactly as it was.
 */
int atomic_writer_write(int root_fd, const PayloadFile *files, size_t n, gid_t gid, unsigned flags,
                        char *err, size_t errlen) {
        bool new_root = flags & ATOMIC_WRITE_NEW_ROOT;
        _cleanup_free_ const char **sorted = NULL;
        _cleanup_free_ bool *created = NULL;
        _cleanup_(tops_done) Tops tops = { 0 };
        char dir[PAYLOAD_DIR_MAX];
        int r, q;

        r = write_check(root_fd, files, n, &sorted, &tops, err, errlen);
        if (r < 0)
                return r;
        created = calloc(tops.n > 0 ? tops.n : 1, sizeof(*created));
        if (!created)
                return -ENOMEM;
        r = new_root ? 0 : remove_leftovers(root_fd, err, errlen);
        if (r < 0)
                return r;
        r = make_payload_dir(root_fd, dir, sizeof(dir));
        if (r < 0)
                return err_fail(err, errlen, r, "creating payload directory: %s", strerror(-r));

        r = fill_payload_dir(root_fd, dir, files, n, &tops, gid, err, errlen);
        if (r == 0)
                r = link_and_switch(root_fd, dir, &tops, new_root, created, err, errlen);
        if (r < 0) {
                write_rollback(root_fd, dir, &tops, created);
                return r;
        }

        /* Committed. What is left is tidying up; a failure there does not
         * change what readers see, so it is only reported at debug level. */
        q = new_root ? 0 : remove_stale(root_fd, (const char *const *)tops.names, tops.n, dir);
        if (q < 0)
                log_debug("removing stale payload entries failed, ignoring: %s", strerror(-q));
        log_debug("published %zu payload file(s) in '%s'", n, dir);
        return 0;
}

/* Compares the open file `fd` with `f` in constant time per chunk; the
 * chunk buffer is wiped. Returns 1 equal, 0 different, -errno. */
static int file_equal(int fd, const PayloadFile *f) {
        uint8_t buf[16384];
        size_t off = 0;
        int r = 1;

        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (k == 0) {
                        if (off != f->len)
                                r = 0;
                        break;
                }
                if ((size_t)k > f->len - off || CRYPTO_memcmp(buf, f->data + off, (size_t)k) != 0) {
                        r = 0;
                        break;
                }
                off += (size_t)k;
        }
        explicit_bzero(buf, sizeof(buf));
        return r;
}

/*
 * Opens the dir "..data" points to, without following anything but a
 * link that names a payload dir. Returns the fd, 0 when there is no
 * usable current payload, or -errno.
 */
static int open_current(int root_fd) {
        char target[PATH_MAX];
        int fd, r;

        r = read_link(root_fd, DATA_LINK, target, sizeof(target));
        if (r == -ENOENT || r == -EINVAL || r == -ENAMETOOLONG)
                return 0;
        if (r < 0)
                return r;
        if (!payload_dir_name(target))
                return 0;
        fd = openat(root_fd, target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
        return fd;
}

/* Opens a payload file in the payload dir dfd (through its subdir). */
static int open_payload_file(int dfd, const char *name) {
        const char *slash = strchr(name, '/');
        _cleanup_close_ int sub = -1;
        int fd;

        if (slash) {
                _cleanup_free_ char *top = strndup(name, (size_t)(slash - name));
                if (!top)
                        return -ENOMEM;
                sub = open_subdir(dfd, top, false);
                if (sub < 0)
                        return sub;
                dfd = sub;
                name = slash + 1;
        }
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

/* Entries of the directory `name` in dir_fd (".": dir_fd itself), with the
 * entries of its subdirs counted instead of the subdirs when `files`. */
static int count_dir(int dir_fd, const char *name, bool files, size_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        size_t count = 0;
        int r;

        r = opendir_at(dir_fd, name, &d);
        if (r < 0)
                return r;
        for (;;) {
                struct stat st;
                size_t sub = 0;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (files && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISDIR(st.st_mode)) {
                        r = count_dir(dirfd(d), de->d_name, false, &sub);
                        if (r < 0)
                                return r;
                        count += sub;
                } else
                        count++;
        }
        *ret = count;
        return 0;
}

/* 1 when the file f in the payload dir dfd has f's type, mode and bytes. */
static int payload_file_same(int dfd, const PayloadFile *f) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open_payload_file(dfd, f->name);
        if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR)
                return 0;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != f->mode ||
            (uint64_t)st.st_size != (uint64_t)f->len)
                return 0;
        return file_equal(fd, f);
}

/* 1 when root/<top> is the link to "..data/<top>". */
static int link_same(int root_fd, const char *top) {
        char want[PATH_MAX];
        int r = link_check(root_fd, top, want, sizeof(want));
        return r == -ENOENT ? 0 : r;
}

/**
 * atomic_writer_same() - whether the current payload equals @files.
 * @root_fd: the volume's root directory
 * @files:   the candidate payload (validated as in atomic_writer_write)
 * @n:       number of @files
 * @ret:     true when "..data" names a payload dir that holds exactly these
 *           names, as regular files with these contents and modes, and each
 *           top-level "<name>" (a file, or the directory of "dir/name") is
 *           the symlink to "..data/<name>"
 *
 * Used by rotation to skip a swap when nothing changed. Returns 0, -EINVAL
 * for a bad name, mode or duplicate, or -errno.
 */
int atomic_writer_same(int root_fd, const PayloadFile *files, size_t n, bool *ret) {
        _cleanup_free_ const char **sorted = NULL;
        _cleanup_(tops_done) Tops tops = { 0 };
        _cleanup_close_ int dfd = -1;
        size_t n_tops = 0, n_files = 0;
        int r;

        r = validate(files, n, &sorted, NULL, 0);
        if (r < 0)
                return r;
        r = tops_build(sorted, n, &tops, NULL, 0);
        if (r < 0)
                return r;
        r = check_root(root_fd);
        if (r < 0)
                return r;

        *ret = false;
        r = open_current(root_fd);
        if (r <= 0)
                return r;
        dfd = r;

        for (size_t i = 0; i < tops.n; i++) {
                r = link_same(root_fd, tops.names[i]);
                if (r <= 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                r = payload_file_same(dfd, &files[i]);
                if (r <= 0)
                        return r;
        }
        /* Every wanted name exists, so equal counts mean the same names. */
        r = count_dir(dfd, ".", false, &n_tops);
        if (r == 0)
                r = count_dir(dfd, ".", true, &n_files);
        if (r < 0)
                return r;
        *ret = n_tops == tops.n && n_files == n;
        return 0;
}

/**
 * atomic_writer_clear() - remove what the writer created under @root_fd.
 * @root_fd: the volume's root directory
 *
 * Removes every symlink in root ("..data", temporaries, per-file links) and
 * every payload dir with its files. Other entries are left alone. Returns 0
 * or the first -errno (it keeps going after an error).
 */
int atomic_writer_clear(int root_fd) {
        int r;

        r = check_root(root_fd);
        if (r < 0)
                return r;
        /* Unlink "..data" first, so no reader can reach a payload that is
         * being emptied. */
        r = unlink_if_exists(root_fd, DATA_LINK, 0);
        if (r < 0 && r != -EISDIR)
                return r;
        return walk_root(root_fd, remove_link_or_payload, NULL);
}
