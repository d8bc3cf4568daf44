/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil.h - small helpers every layer needs once: the error buffer, mkdir -p,
 * and "write a temporary file, then rename it over the old one".
 *
 * Error buffers: every function that takes (char *err, size_t errlen) writes
 * a message on every failure; err_set() is the one way to write it, and
 * err_init() empties a buffer before any path can return, so no caller ever
 * reads stack bytes. Thread-safe; no logging.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* Empties err (NULL or errlen 0: nothing). */
static inline void err_init(char *err, size_t errlen) {
        if (err && errlen > 0)
                err[0] = '\0';
}

/* printf into err (always NUL-terminated, cut when long). */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void err_setv(char *err, size_t errlen, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* err_set(), then returns r: "return err_fail(err, errlen, -EINVAL, ...)". */
int err_fail(char *err, size_t errlen, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* mkdir -p: every missing component, parents 0755 (0700 with private), the
 * last one `mode`. 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);
/* One directory, tolerating that it exists. 0 or -errno. */
int mkdir_one(const char *path, mode_t mode);

/* Opens the directory at the first `len` bytes of the absolute `path` as an
 * O_PATH fd, refusing a symlink anywhere on the way (openat2()
 * RESOLVE_NO_SYMLINKS, Linux >= 5.6): one call where a walk takes one per
 * component. The fd, or -errno (-ENOSYS on an older kernel). */
int open_dir_no_symlinks(const char *path, size_t len);

/* Reads up to `size` bytes of an fd until EOF into buf; *ret_len gets the
 * count. -E2BIG when more is there. 0 or -errno. */
int read_fd_bounded(int fd, void *buf, size_t size, size_t *ret_len);

/*
 * Sets the process umask, once at start-up before any thread exists, and
 * remembers it: write_file_replace() then skips the fchmod() that a file it
 * creates does not need (the umask took none of the mode's bits). Without
 * this call every such file gets its fchmod().
 */
void fs_umask_set(mode_t mask);

/*
 * Writes data to dir_fd/<name>.tmp (O_EXCL, mode, group gid unless
 * (gid_t)-1), fsyncs when `sync`, and renames it over dir_fd/<name>; a
 * reader sees the old or the new file, whole. On failure the temporary file
 * is gone. 0 or -errno.
 */
int write_file_replace(int dir_fd, const char *name, const void *data, size_t len, mode_t mode,
                       gid_t gid, int sync);
