/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil.c - error buffers, mkdir -p, write-then-rename (see fsutil.h).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fsutil.h"
#include "macro.h"

/* -1 until fs_umask_set(); read by every thread, written before they exist */
static _Atomic int process_umask = -1;

void fs_umask_set(mode_t mask) {
        (void)umask(mask);
        atomic_store(&process_umask, (int)(mask & 0777));
}

/*
 * Whether a file just created with `mode` needs an fchmod() to get it: the
 * umask (when known) took some of its bits. A default ACL on the dir can
 * only narrow the mode further, never widen it, so a file whose mode the
 * umask left alone is at most as open as asked.
 */
static bool created_mode_short(mode_t mode) {
        int mask = atomic_load(&process_umask);
        return mask < 0 || (mode & (mode_t)mask) != 0;
}

void err_setv(char *err, size_t errlen, const char *fmt, va_list ap) {
        if (!err || errlen == 0)
                return;
        (void)vsnprintf(err, errlen, fmt, ap);
}

void err_set(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        err_setv(err, errlen, fmt, ap);
        va_end(ap);
}

int err_fail(char *err, size_t errlen, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        err_setv(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

int mkdir_one(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        size_t n = strlen(path);

        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1;; p++) {
                char c;
                if (*p != '/' && *p != '\0')
                        continue;
                c = *p;
                *p = '\0';
                if (mkdir(buf, c ? 0755 : mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = c;
                if (!c)
                        break;
        }
        return 0;
}

int read_fd_bounded(int fd, void *buf, size_t size, size_t *ret_len) {
        char *p = buf;
        size_t n = 0;

        for (;;) {
                ssize_t k;
                if (n == size) {
                        char extra;
                        k = read(fd, &extra, 1);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return -errno;
                        if (k > 0)
                                return -E2BIG;
                        break;
                }
                k = read(fd, p + n, size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        *ret_len = n;
        return 0;
}

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        size_t off = 0;

        while (off < len) {
                ssize_t n = write(fd, p + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                off += (size_t)n;
        }
        return 0;
}

int open_dir_no_symlinks(const char *path, size_t len) {
        struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                .resolve = RESOLVE_NO_SYMLINKS };
        char buf[PATH_MAX];
        long fd;

        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len);
        buf[len] = '\0';
        fd = syscall(SYS_openat2, AT_FDCWD, buf, &how, sizeof(how));
        return fd < 0 ? -errno : (int)fd;
}

int write_file_replace(int dir_fd, const char *name, const void *data, size_t len, mode_t mode,
                       gid_t gid, int sync) {
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -1;
        int r = 0;

        if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno == EEXIST) {
                /* left behind by a write that a crash interrupted */
                (void)unlinkat(dir_fd, tmp, 0);
                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            mode);
        }
        if (fd < 0)
                return -errno;
        if (gid != (gid_t)-1 && fchown(fd, 0, gid) < 0)
                r = -errno;
        if (r == 0)
                r = write_all(fd, data, len);
        /* the umask may have narrowed the mode at creation */
        if (r == 0 && created_mode_short(mode) && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && sync && fsync(fd) < 0)
                r = -errno;
        if (close(TAKE_FD(fd)) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0)
                (void)unlinkat(dir_fd, tmp, 0);
        return r;
}
