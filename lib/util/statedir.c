/* SPDX-License-Identifier: Apache-2.0 */
/*
 * statedir.c - create the state directory and take the instance lock.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "statedir.h"
#include "macro.h"

int state_dir_lock(const char *path, char *err, size_t errlen) {
        char lock_path[PATH_MAX];
        struct stat st;
        int fd, r;

        r = mkdir_p(path, 0700);
        if (r < 0) {
                (void)snprintf(err, errlen, "cannot create state dir '%s': %s", path, strerror(-r));
                return r;
        }
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
                (void)snprintf(err, errlen, "state dir '%s' is not a directory", path);
                return -ENOTDIR;
        }
        if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
                (void)snprintf(err, errlen,
                               "state dir '%s' must be owned by uid %u and not writable by "
                               "group or others (it holds Vault tokens)",
                               path, (unsigned)geteuid());
                return -EPERM;
        }
        if ((size_t)snprintf(lock_path, sizeof(lock_path), "%s/vaultmountd.lock", path) >=
            sizeof(lock_path))
                return -ENAMETOOLONG;
        fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                (void)snprintf(err, errlen, "cannot open lock file '%s': %s", lock_path,
                               strerror(errno));
                return r;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                (void)snprintf(err, errlen,
                               r == -EBUSY ? "another vaultmountd is running with state dir "
                                             "'%s' (lock held)"
                                           : "cannot lock state dir '%s'",
                               path);
                close(fd);
                return r;
        }
        return fd;
}
