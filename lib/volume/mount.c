/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount.c - tmpfs and read-only bind mounts through libmount.
 *
 * Every call builds its own libmnt_context, so calls from different worker
 * threads never share libmount state. Each context is configured the same
 * way (context_new()):
 *
 *   - no /sbin/mount.<type> helpers: we only mount tmpfs and binds, and a
 *     helper found on the node would run with our privileges;
 *   - no utab/mtab bookkeeping: our mounts carry no userspace options;
 *   - no fstab or mtab option merging (MNT_OMODE_NOTAB|IGNORE): the options
 *     we pass are the whole story, whatever the node's /etc/fstab says.
 *
 * A read-only bind is two mount(2) calls, because MS_BIND ignores MS_RDONLY
 * and the per-mount flags: bind, then remount the bind with
 * bind,ro,nosuid,nodev,noexec. If the remount fails the bind is undone, so
 * a pod can never end up with a writable view of its secrets.
 *
 * Queries (mount_is_mountpoint, mount_get) read /proc/self/mountinfo through
 * mnt_table_parse_mtab() and match the canonical path against the topmost
 * mount at that target.
 *
 * Error messages name the path and strerror() of the cause. Nothing here
 * logs above debug.
 */
#include <libmount/libmount.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "mount.h"
#include "macro.h"

/* libmount's return codes above this are MNT_ERR_* (5000...), not errnos. */
#define ERRNO_MAX 4095

static pthread_once_t libmount_once = PTHREAD_ONCE_INIT;

static void libmount_init(void) {
        /* mnt_new_context() initialises libmount's debug mask from the
         * environment on first use, which is a write to a global; do it
         * once here so concurrent contexts only ever read it. */
        mnt_init_debug(0);
}

static void mnt_free_contextp(struct libmnt_context **c) {
        if (*c)
                mnt_free_context(*c);
}
#define _cleanup_context_ _cleanup_(mnt_free_contextp)

static void mnt_unref_tablep(struct libmnt_table **t) {
        if (*t)
                mnt_unref_table(*t);
}
#define _cleanup_table_ _cleanup_(mnt_unref_tablep)

_printf_(3, 4) static void set_err(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static int context_new(struct libmnt_context **ret) {
        struct libmnt_context *c;

        (void)pthread_once(&libmount_once, libmount_init);
        c = mnt_new_context();
        if (!c)
                return -ENOMEM;
        if (mnt_context_disable_helpers(c, 1) < 0 || mnt_context_disable_mtab(c, 1) < 0 ||
            mnt_context_set_optsmode(c, MNT_OMODE_IGNORE | MNT_OMODE_NOTAB) < 0) {
                mnt_free_context(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/*
 * Turns the result of mnt_context_mount/umount into -errno. libmount returns
 * 0, a positive errno of the mount(2)/umount2(2) syscall, or a negative
 * errno / MNT_ERR_* code for its own failures (bad options, lookups). The
 * syscall's errno wins when the syscall ran.
 */
static int context_errno(struct libmnt_context *c, int rc) {
        if (mnt_context_syscall_called(c)) {
                int e = mnt_context_get_syscall_errno(c);
                if (e > 0)
                        return -e;
        }
        if (rc > 0 && rc <= ERRNO_MAX)
                return -rc;
        if (rc < 0 && rc >= -ERRNO_MAX)
                return rc;
        return -EINVAL; /* MNT_ERR_*: libmount refused the request itself */
}

static int do_mount(const char *source, const char *target, const char *fstype,
                    const char *options) {
        _cleanup_context_ struct libmnt_context *c = NULL;
        int r;

        r = context_new(&c);
        if (r < 0)
                return r;
        if ((source && mnt_context_set_source(c, source) < 0) ||
            mnt_context_set_target(c, target) < 0 ||
            (fstype && mnt_context_set_fstype(c, fstype) < 0) ||
            mnt_context_set_options(c, options) < 0)
                return -ENOMEM;
        r = mnt_context_mount(c);
        if (r == 0)
                return 0;
        return context_errno(c, r);
}

static int do_umount(const char *path, bool detach) {
        _cleanup_context_ struct libmnt_context *c = NULL;
        int r;

        r = context_new(&c);
        if (r < 0)
                return r;
        if (mnt_context_set_target(c, path) < 0)
                return -ENOMEM;
        if (detach && mnt_context_enable_lazy(c, 1) < 0)
                return -ENOMEM;
        r = mnt_context_umount(c);
        if (r == 0)
                return 0;
        return context_errno(c, r);
}

/*
 * The topmost mount whose target is `path`, from a fresh mountinfo table.
 * Returns 1 with *ret_fs (owned by *ret_table), 0 when `path` (or its
 * canonical form) is not a mount point or does not exist, or -errno.
 */
static int find_mount(const char *path, struct libmnt_table **ret_table,
                      struct libmnt_fs **ret_fs) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        _cleanup_free_ char *canon = NULL;
        struct libmnt_fs *fs;
        int r;

        if (isempty(path))
                return -EINVAL;
        canon = realpath(path, NULL);
        if (!canon) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return -errno;
        }

        (void)pthread_once(&libmount_once, libmount_init);
        t = mnt_new_table();
        if (!t)
                return -ENOMEM;
        r = mnt_table_parse_mtab(t, NULL);
        if (r < 0)
                return r >= -ERRNO_MAX ? r : -EIO;
        fs = mnt_table_find_target(t, canon, MNT_ITER_BACKWARD);
        if (!fs)
                return 0;
        *ret_fs = fs;
        *ret_table = TAKE_PTR(t);
        return 1;
}

/**
 * mount_tmpfs() - mount a private tmpfs for one volume.
 * @path:   an existing directory
 * @opts:   size (required, > 0: tmpfs treats size=0 as unlimited), inode
 *          limit (0: kernel default), gid ((gid_t)-1: none) and root mode
 *          (at most 07777)
 * @err:    receives a message naming @path and the cause (may be NULL)
 * @errlen: size of @err
 *
 * Always nosuid,nodev,noexec. Returns 0, -EINVAL for bad options, or the
 * -errno of mount(2).
 */
int mount_tmpfs(const char *path, const TmpfsOptions *opts, char *err, size_t errlen) {
        char options[256], extra[64];
        int n, r;

        if (isempty(path) || !opts) {
                set_err(err, errlen, "mount_tmpfs: missing path or options");
                return -EINVAL;
        }
        if (opts->size_bytes == 0 || opts->mode > 07777) {
                set_err(err, errlen, "mounting tmpfs at '%s': invalid size (%llu) or mode (%o)",
                        path, (unsigned long long)opts->size_bytes, opts->mode);
                return -EINVAL;
        }

        extra[0] = '\0';
        if (opts->gid != (gid_t)-1) {
                n = snprintf(extra, sizeof(extra), ",gid=%u", (unsigned)opts->gid);
                if (n < 0 || (size_t)n >= sizeof(extra))
                        return -ENAMETOOLONG;
        }
        if (opts->nr_inodes > 0)
                n = snprintf(options, sizeof(options),
                             "nosuid,nodev,noexec,size=%llu,nr_inodes=%llu,mode=%04o%s",
                             (unsigned long long)opts->size_bytes,
                             (unsigned long long)opts->nr_inodes, opts->mode, extra);
        else
                n = snprintf(options, sizeof(options), "nosuid,nodev,noexec,size=%llu,mode=%04o%s",
                             (unsigned long long)opts->size_bytes, opts->mode, extra);
        if (n < 0 || (size_t)n >= sizeof(options))
                return -ENAMETOOLONG;

        r = do_mount("tmpfs", path, "tmpfs", options);
        if (r < 0) {
                set_err(err, errlen, "mounting tmpfs at '%s' failed: %s", path, strerror(-r));
                return r;
        }
        log_debug("mounted tmpfs at '%s' (%s)", path, options);
        return 0;
}

/**
 * mount_bind_readonly() - bind @source at @target, read-only.
 * @source: the volume's private tmpfs (or a directory in it)
 * @target: an existing directory (the pod's target_path)
 * @err:    receives a message naming the path and the cause (may be NULL)
 * @errlen: size of @err
 *
 * Bind, then remount the bind with MS_REMOUNT|MS_BIND|MS_RDONLY|MS_NOSUID|
 * MS_NODEV|MS_NOEXEC. If the remount fails the bind is unmounted again
 * (detached if busy), so on any failure nothing new stays mounted at
 * @target. Returns 0 or -errno.
 */
int mount_bind_readonly(const char *source, const char *target, char *err, size_t errlen) {
        int r, q;

        if (isempty(source) || isempty(target)) {
                set_err(err, errlen, "mount_bind_readonly: missing source or target");
                return -EINVAL;
        }

        r = do_mount(source, target, NULL, "bind");
        if (r < 0) {
                set_err(err, errlen, "binding '%s' at '%s' failed: %s", source, target,
                        strerror(-r));
                return r;
        }

        r = do_mount(NULL, target, NULL, "remount,bind,ro,nosuid,nodev,noexec");
        if (r < 0)
                goto undo;

        log_debug("bound '%s' read-only at '%s'", source, target);
        return 0;

undo:
        /* A writable bind must not outlive this call. The bind was just made,
         * so nobody should hold it busy; detach if someone does. */
        q = do_umount(target, false);
        if (q == -EBUSY)
                q = do_umount(target, true);
        if (q < 0)
                set_err(err, errlen,
                        "remounting '%s' read-only failed: %s; undoing the bind failed too: %s",
                        target, strerror(-r), strerror(-q));
        else
                set_err(err, errlen, "remounting '%s' read-only failed: %s", target,
                        strerror(-r));
        return r;
}

/**
 * mount_umount() - unmount the topmost mount at @path.
 * @path:   a mount point
 * @lazy:   detach (MNT_DETACH) when the mount is busy
 * @err:    receives a message naming @path and the cause (may be NULL)
 * @errlen: size of @err
 *
 * A plain umount is always tried first; MNT_DETACH is only the fallback for
 * EBUSY. Returns 0 (also when @path is not mounted or does not exist:
 * EINVAL/ENOENT from umount2), MOUNT_E_BUSY when busy and !@lazy, or -errno.
 */
int mount_umount(const char *path, bool lazy, char *err, size_t errlen) {
        int r;

        if (isempty(path)) {
                set_err(err, errlen, "mount_umount: missing path");
                return -EINVAL;
        }

        r = do_umount(path, false);
        if (r == -EBUSY) {
                if (!lazy) {
                        set_err(err, errlen, "unmounting '%s' failed: %s", path, strerror(EBUSY));
                        return MOUNT_E_BUSY;
                }
                log_debug("'%s' is busy, detaching it", path);
                r = do_umount(path, true);
        }
        if (r == -EINVAL || r == -ENOENT)
                return 0; /* not a mount point (any more), or no such path */
        if (r < 0) {
                set_err(err, errlen, "unmounting '%s' failed: %s", path, strerror(-r));
                return r;
        }
        log_debug("unmounted '%s'", path);
        return 0;
}

/**
 * mount_is_mountpoint() - whether @path is the target of a mount.
 * @path: any path; it is canonicalised (realpath) before the lookup
 * @ret:  set on success
 *
 * A path that does not exist is not a mount point (returns 0, *ret false).
 * Returns 0 or -errno.
 */
int mount_is_mountpoint(const char *path, bool *ret) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        struct libmnt_fs *fs = NULL;
        int r;

        r = find_mount(path, &t, &fs);
        if (r < 0)
                return r;
        *ret = r > 0;
        return 0;
}

/**
 * mount_get() - fstype and options of the topmost mount at @path.
 * @path:        a mount point
 * @ret_fstype:  malloc'd fstype, e.g. "tmpfs"
 * @ret_options: malloc'd merged per-mount and superblock options, e.g.
 *               "ro,nosuid,nodev,noexec,relatime,size=1024k,mode=750"
 *
 * Returns 0, -ENOENT when @path is not a mount point, or -errno. The
 * outputs are untouched on failure.
 */
int mount_get(const char *path, char **ret_fstype, char **ret_options) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        _cleanup_free_ char *fstype = NULL, *options = NULL;
        struct libmnt_fs *fs = NULL;
        int r;

        r = find_mount(path, &t, &fs);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        fstype = strdup(strempty(mnt_fs_get_fstype(fs)));
        options = strdup(strempty(mnt_fs_get_options(fs)));
        if (!fstype || !options)
                return -ENOMEM;
        *ret_fstype = TAKE_PTR(fstype);
        *ret_options = TAKE_PTR(options);
        return 0;
}

const char *mount_library_version(void) {
        const char *v = NULL;
        return mnt_get_library_version(&v) >= 0 && v ? v : "unknown";
}
