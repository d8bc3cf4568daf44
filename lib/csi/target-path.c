/* SPDX-License-Identifier: Apache-2.0 */
/*
 * target-path.c - target_path checks (see csi-publish.h).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>

#include "csi-publish.h"
#include "fsutil.h"
#include "macro.h"

/* The parent opened one component at a time with O_NOFOLLOW; says which
 * component is wrong. */
static int target_path_walk(const char *path, const char *last, int *ret_parent_fd,
                            const char **ret_name, char *err, size_t errlen) {
        const char *p;
        int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0) {
                int r = -errno;
                err_set(err, errlen, "target_path '%s': opening '/' failed: %s", path,
                        strerror(-r));
                return r;
        }
        for (p = path + 1; p < last;) {
                const char *slash = strchr(p, '/');
                char comp[NAME_MAX + 1];
                size_t n = (size_t)(slash - p);
                int next;
                if (n > NAME_MAX) {
                        close(fd);
                        (void)snprintf(err, errlen,
                                       "target_path '%s' has a component longer "
                                       "than %d bytes",
                                       path, NAME_MAX);
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
        *ret_parent_fd = fd;
        *ret_name = last + 1;
        return 0;
}

int target_path_check(const char *path, char *const *roots, size_t n_roots, int *ret_parent_fd,
                      const char **ret_name, char *err, size_t errlen) {
        const char *root = NULL, *p, *last;
        int fd;
        size_t len = strlen(path);

        err_init(err, errlen);
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

        last = strrchr(path, '/');
        if (strlen(last + 1) > NAME_MAX) {
                (void)snprintf(err, errlen, "target_path '%s': name too long", path);
                return -ENAMETOOLONG;
        }
        /* no symlink anywhere on the way: one openat2() call; where that
         * fails (or the kernel lacks it), the walk below says why */
        fd = open_dir_no_symlinks(path, (size_t)(last - path));
        if (fd >= 0) {
                *ret_parent_fd = fd;
                *ret_name = last + 1;
                return 0;
        }
        return target_path_walk(path, last, ret_parent_fd, ret_name, err, errlen);
}
