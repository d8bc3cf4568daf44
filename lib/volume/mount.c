/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount.c - tmpfs and read-only bind mounts: the new mount API, or mount(2)
 * through libmount.
 *
 * The new mount API (the default where the kernel has all of it: fsopen and
 * move_mount since 5.2, STATX_MNT_ID since 5.8, mount_setattr since 5.12)
 * hands us an fd for exactly the mount we create, so publish, unpublish and
 * refresh never read the mount table: rendering /proc/self/mountinfo costs
 * the kernel time in proportion to every mount on the node, and that was
 * most of a publish's CPU on a busy node (issue 15).
 *
 *   - tmpfs: fsopen("tmpfs"), fsconfig the options, fsmount with
 *     nosuid,nodev,noexec, statx(STATX_MNT_ID) of the detached mount, then
 *     move_mount to the path;
 *   - read-only bind: open_tree(OPEN_TREE_CLONE) of the source, mount_setattr
 *     ro,nosuid,nodev,noexec on the detached clone, move_mount to the target,
 *     so a writable view never exists even for an instant;
 *   - identity: statx(STATX_MNT_ID) gives the id of the mount a path is on
 *     and STATX_ATTR_MOUNT_ROOT whether the path is its root; unmounting by
 *     id (mount_umount_if) refuses any mount but the one we recorded.
 *
 * A detached mount that is never attached (an error before move_mount)
 * disappears when its fd is closed: a failure leaves nothing behind.
 *
 * The classic back-end (mount-api: classic, or a kernel without the above)
 * builds its own libmnt_context per call, so calls from different worker
 * threads never share libmount state. Each context is configured the same
 * way (context_new()):
 *
 *   - no /sbin/mount.<type> helpers: we only mount tmpfs and binds, and a
 *     helper found on the node would run with our privileges;
 *   - no utab/mtab bookkeeping: our mounts carry no userspace options;
 *   - no fstab or mtab option merging (MNT_OMODE_NOTAB|IGNORE): the options
 *     we pass are the whole story, whatever the node's /etc/fstab says.
 *
 * There a read-only bind is two mount(2) calls, because MS_BIND ignores
 * MS_RDONLY and the per-mount flags: bind, then remount the bind with
 * bind,ro,nosuid,nodev,noexec. If the remount fails the bind is undone, so
 * a pod can never end up with a writable view of its secrets. Mount ids
 * come from the table (the first field of mountinfo is the same id statx
 * reports), so records stay valid when the back-end changes.
 *
 * Queries for diagnostics and restart recovery (mount_get; and
 * mount_is_mountpoint with the classic back-end) read /proc/self/mountinfo
 * through mnt_table_parse_mtab() and match the canonical path against the
 * topmost mount at that target.
 *
 * Error messages name the path and strerror() of the cause. Nothing here
 * logs above debug.
 */
#include <fcntl.h>
#include <libmount/libmount.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

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

/* The node's mount table, parsed (the one place that reads it). */
static int table_load(struct libmnt_table **ret) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        int r;

        (void)pthread_once(&libmount_once, libmount_init);
        t = mnt_new_table();
        if (!t)
                return -ENOMEM;
        r = mnt_table_parse_mtab(t, NULL);
        if (r < 0)
                return r >= -ERRNO_MAX ? r : -EIO;
        *ret = TAKE_PTR(t);
        return 0;
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

        r = table_load(&t);
        if (r < 0)
                return r;
        fs = mnt_table_find_target(t, canon, MNT_ITER_BACKWARD);
        if (!fs)
                return 0;
        *ret_fs = fs;
        *ret_table = TAKE_PTR(t);
        return 1;
}

/* ---- back-end selection ---- */

static const char *const api_names[_MOUNT_API_MAX] = {
        [MOUNT_API_AUTO] = "auto",
        [MOUNT_API_NEW] = "new",
        [MOUNT_API_CLASSIC] = "classic",
};

const char *mount_api_to_string(MountApi api) {
        return api >= 0 && api < _MOUNT_API_MAX ? api_names[api] : NULL;
}

MountApi mount_api_from_string(const char *s) {
        for (int i = 0; s && i < _MOUNT_API_MAX; i++)
                if (streq(s, api_names[i]))
                        return (MountApi)i;
        return _MOUNT_API_INVALID;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool kernel_has_new_api;
/* Written at startup (mount_set_api) before any worker thread exists; atomic
 * so that a test switching back-ends is well-defined too. */
static atomic_int api_selected = MOUNT_API_AUTO;

/*
 * Whether every piece of the new API works here: statx must report mount
 * ids and the mount-root attribute (5.8), fsopen must work (5.2, and not be
 * filtered by a seccomp profile), and mount_setattr must exist (5.12): a
 * call that changes nothing fails with ENOSYS (or a seccomp EPERM) only
 * where it does not.
 * Remove the classic back-end once the baseline kernel is >= 5.12.
 */
static void probe_kernel(void) {
        struct statx sx;
        struct mount_attr none = { 0 };
        int fd;

        if (statx(AT_FDCWD, "/", AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0 ||
            !(sx.stx_mask & STATX_MNT_ID) || !(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
                return;
        fd = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fd < 0)
                return;
        (void)close(fd);
        if (mount_setattr(-1, "", AT_EMPTY_PATH, &none, sizeof(none)) < 0 &&
            (errno == ENOSYS || errno == EPERM))
                return;
        kernel_has_new_api = true;
}

static bool use_new_api(void) {
        (void)pthread_once(&probe_once, probe_kernel);
        return atomic_load(&api_selected) != MOUNT_API_CLASSIC && kernel_has_new_api;
}

/**
 * mount_set_api() - select the back-end of every later call.
 * @api: MOUNT_API_AUTO (the new API when the kernel has all of it),
 *       MOUNT_API_NEW (the same, but an error when it does not) or
 *       MOUNT_API_CLASSIC (mount(2) through libmount, ids from the table)
 *
 * Meant for startup, before worker threads exist. Returns 0, -EINVAL for
 * an unknown value, or -EOPNOTSUPP for MOUNT_API_NEW on a kernel without
 * it (the selection is then unchanged).
 */
int mount_set_api(MountApi api) {
        if (api < 0 || api >= _MOUNT_API_MAX)
                return -EINVAL;
        (void)pthread_once(&probe_once, probe_kernel);
        if (api == MOUNT_API_NEW && !kernel_has_new_api)
                return -EOPNOTSUPP;
        atomic_store(&api_selected, api);
        return 0;
}

/**
 * mount_api_in_use() - the back-end the next call uses.
 *
 * Returns MOUNT_API_NEW or MOUNT_API_CLASSIC (never AUTO).
 */
MountApi mount_api_in_use(void) {
        return use_new_api() ? MOUNT_API_NEW : MOUNT_API_CLASSIC;
}

/* ---- the new mount API ---- */

/* The mount id of what statx(dirfd, path, flags) finds, and whether that is
 * the mount's root (the new API's way: no table). */
static int statx_mount_id(int dirfd, const char *path, int flags, uint64_t *ret_id,
                          bool *ret_root) {
        struct statx sx;

        if (statx(dirfd, path, flags | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret_id = sx.stx_mnt_id;
        *ret_root = sx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
        return 0;
}

/* The id of the mount `fd` (from fsmount/open_tree) is, attached or not. */
static int fd_mount_id(int fd, uint64_t *ret) {
        bool root = false;
        return statx_mount_id(fd, "", AT_EMPTY_PATH, ret, &root);
}

/* Attaches the detached mount `fd` at `target`; on success *ret_id (if
 * asked) is its id. A trailing symlink in `target` is not followed. */
static int attach(int fd, const char *target, uint64_t *ret_id) {
        uint64_t id = 0;
        int r;

        if (ret_id) {
                r = fd_mount_id(fd, &id);
                if (r < 0)
                        return r;
        }
        if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        if (ret_id)
                *ret_id = id;
        return 0;
}

static int fsconfig_u64(int fd, const char *key, unsigned long long v, bool octal) {
        char buf[32];
        int n = octal ? snprintf(buf, sizeof(buf), "%04llo", v)
                      : snprintf(buf, sizeof(buf), "%llu", v);

        if (n < 0 || (size_t)n >= sizeof(buf))
                return -EINVAL;
        if (fsconfig(fd, FSCONFIG_SET_STRING, key, buf, 0) < 0)
                return -errno;
        return 0;
}

static int tmpfs_new_api(const char *path, const TmpfsOptions *o, uint64_t *ret_id) {
        _cleanup_close_ int fs = -1, mnt = -1;
        int r;

        fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        /* "tmpfs" as the source, as mount -t tmpfs tmpfs shows it */
        if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "tmpfs", 0) < 0)
                return -errno;
        if ((r = fsconfig_u64(fs, "size", o->size_bytes, false)) < 0 ||
            (o->nr_inodes > 0 && (r = fsconfig_u64(fs, "nr_inodes", o->nr_inodes, false)) < 0) ||
            (r = fsconfig_u64(fs, "mode", o->mode, true)) < 0 ||
            (o->gid != (gid_t)-1 && (r = fsconfig_u64(fs, "gid", o->gid, false)) < 0))
                return r;
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return -errno;
        /* on failure the detached mount goes with its fd */
        return attach(mnt, path, ret_id);
}

static int bind_new_api(const char *source, const char *target, uint64_t *ret_id) {
        _cleanup_close_ int tree = -1;
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                            MOUNT_ATTR_NOEXEC,
        };

        /* a non-recursive clone, like MS_BIND without MS_REC */
        tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return -errno;
        /* read-only before anyone can see it */
        if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return -errno;
        return attach(tree, target, ret_id);
}

/* ---- identity ---- */

/* The classic answer: the mount `path` is on, from the table. */
static int table_mount_id(const char *path, uint64_t *ret_id, bool *ret_root) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        _cleanup_free_ char *canon = NULL;
        struct libmnt_fs *fs;
        int r, id;

        canon = realpath(path, NULL);
        if (!canon)
                return -errno;
        r = table_load(&t);
        if (r < 0)
                return r;
        fs = mnt_table_find_mountpoint(t, canon, MNT_ITER_BACKWARD);
        if (!fs)
                return -ENOENT;
        id = mnt_fs_get_id(fs);
        if (id < 0)
                return -EIO;
        *ret_id = (uint64_t)id;
        *ret_root = streq_ptr(mnt_fs_get_target(fs), canon);
        return 0;
}

/**
 * mount_id_of() - the mount @path is on.
 * @path:       any path; a trailing symlink is not followed
 * @ret_mnt_id: the mount's id (statx stx_mnt_id, mountinfo's first field)
 * @ret_root:   whether @path is the root of that mount (may be NULL)
 *
 * With the new API one statx(2), whatever the size of the mount table.
 * Returns 0, -ENOENT/-ENOTDIR when @path does not exist, or -errno.
 */
int mount_id_of(const char *path, uint64_t *ret_mnt_id, bool *ret_root) {
        uint64_t id = 0;
        bool root = false;
        int r;

        if (isempty(path) || !ret_mnt_id)
                return -EINVAL;
        if (use_new_api()) {
                r = statx_mount_id(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, &id,
                                   &root);
                if (r < 0)
                        return r;
        } else {
                struct stat st;
                /* realpath() would follow it: a symlink is never a mount root */
                if (lstat(path, &st) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode)) {
                        _cleanup_free_ char *copy = strdup(path);
                        char *slash = copy ? strrchr(copy, '/') : NULL;
                        if (!copy)
                                return -ENOMEM;
                        if (slash == copy)
                                slash[1] = '\0';
                        else if (slash)
                                *slash = '\0';
                        r = table_mount_id(slash ? copy : ".", &id, &root);
                        root = false;
                } else
                        r = table_mount_id(path, &id, &root);
                if (r < 0)
                        return r;
        }
        *ret_mnt_id = id;
        if (ret_root)
                *ret_root = root;
        return 0;
}

int mount_fd_is_root_of(int fd, const char *path, uint64_t expected_mnt_id) {
        uint64_t id = 0;
        bool root = false;
        int r;

        if (fd < 0 || isempty(path))
                return -EINVAL;
        if (use_new_api()) {
                r = statx_mount_id(fd, "", AT_EMPTY_PATH, &id, &root);
                if (r < 0)
                        return r;
        } else {
                struct stat a, b;
                /* the table knows paths: `path` must still name what fd is */
                r = mount_id_of(path, &id, &root);
                if (r < 0)
                        return r;
                if (fstat(fd, &a) < 0 || lstat(path, &b) < 0)
                        return -errno;
                if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                        return MOUNT_E_NOT_OURS;
        }
        if (!root || (expected_mnt_id != 0 && id != expected_mnt_id))
                return MOUNT_E_NOT_OURS;
        return 0;
}

/* The tmpfs options for libmount (the classic back-end). */
static int tmpfs_options_string(const TmpfsOptions *opts, char *options, size_t size) {
        char extra[64];
        int n;

        extra[0] = '\0';
        if (opts->gid != (gid_t)-1) {
                n = snprintf(extra, sizeof(extra), ",gid=%u", (unsigned)opts->gid);
                if (n < 0 || (size_t)n >= sizeof(extra))
                        return -ENAMETOOLONG;
        }
        if (opts->nr_inodes > 0)
                n = snprintf(options, size,
                             "nosuid,nodev,noexec,size=%llu,nr_inodes=%llu,mode=%04o%s",
                             (unsigned long long)opts->size_bytes,
                             (unsigned long long)opts->nr_inodes, opts->mode, extra);
        else
                n = snprintf(options, size, "nosuid,nodev,noexec,size=%llu,mode=%04o%s",
                             (unsigned long long)opts->size_bytes, opts->mode, extra);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* Unmounts what the classic back-end just mounted at `path`, busy or not. */
static int undo_classic(const char *path) {
        int r = do_umount(path, false);
        if (r == -EBUSY)
                r = do_umount(path, true);
        return r;
}

/**
 * mount_tmpfs_id() - mount a private tmpfs for one volume.
 * @path:       an existing directory
 * @opts:       size (required, > 0: tmpfs treats size=0 as unlimited), inode
 *              limit (0: kernel default), gid ((gid_t)-1: none) and root mode
 *              (at most 07777)
 * @ret_mnt_id: the new mount's id for mount_umount_if() (may be NULL)
 * @err:        receives a message naming @path and the cause (may be NULL)
 * @errlen:     size of @err
 *
 * Always nosuid,nodev,noexec. Returns 0, -EINVAL for bad options, or the
 * -errno of the mount; on failure nothing new is mounted at @path.
 */
int mount_tmpfs_id(const char *path, const TmpfsOptions *opts, uint64_t *ret_mnt_id, char *err,
                   size_t errlen) {
        char options[256];
        bool root = false;
        int r;

        if (isempty(path) || !opts) {
                set_err(err, errlen, "mount_tmpfs: missing path or options");
                return -EINVAL;
        }
        if (opts->size_bytes == 0 || opts->mode > 07777) {
                set_err(err, errlen, "mounting tmpfs at '%s': invalid size (%llu) or mode (%o)",
                        path, (unsigned long long)opts->size_bytes, opts->mode);
                return -EINVAL;
        }
        r = tmpfs_options_string(opts, options, sizeof(options));
        if (r < 0)
                return r;

        if (use_new_api())
                r = tmpfs_new_api(path, opts, ret_mnt_id);
        else {
                r = do_mount("tmpfs", path, "tmpfs", options);
                if (r == 0 && ret_mnt_id && (r = mount_id_of(path, ret_mnt_id, &root)) == 0 &&
                    !root)
                        r = -EIO; /* cannot happen: the mount we just made is not there */
                if (r < 0 && r != -ENOENT && mount_is_mountpoint(path, &root) == 0 && root)
                        (void)undo_classic(path);
        }
        if (r < 0) {
                set_err(err, errlen, "mounting tmpfs at '%s' failed: %s", path, strerror(-r));
                return r;
        }
        log_debug("mounted tmpfs at '%s' (%s)", path, options);
        return 0;
}

/**
 * mount_tmpfs() - mount_tmpfs_id() without the id.
 * @path:   an existing directory
 * @opts:   as for mount_tmpfs_id()
 * @err:    receives a message naming @path and the cause (may be NULL)
 * @errlen: size of @err
 *
 * Returns 0, -EINVAL for bad options, or the -errno of the mount.
 */
int mount_tmpfs(const char *path, const TmpfsOptions *opts, char *err, size_t errlen) {
        return mount_tmpfs_id(path, opts, NULL, err, errlen);
}

static int bind_classic(const char *source, const char *target, uint64_t *ret_id, char *err,
                        size_t errlen) {
        bool root = false;
        int r, q;

        r = do_mount(source, target, NULL, "bind");
        if (r < 0) {
                set_err(err, errlen, "binding '%s' at '%s' failed: %s", source, target,
                        strerror(-r));
                return r;
        }
        r = do_mount(NULL, target, NULL, "remount,bind,ro,nosuid,nodev,noexec");
        if (r == 0 && ret_id && (r = mount_id_of(target, ret_id, &root)) == 0 && !root)
                r = -EIO;
        if (r == 0)
                return 0;

        /* A writable bind must not outlive this call. The bind was just made,
         * so nobody should hold it busy; detach if someone does. */
        q = undo_classic(target);
        if (q < 0)
                set_err(err, errlen,
                        "remounting '%s' read-only failed: %s; undoing the bind failed too: %s",
                        target, strerror(-r), strerror(-q));
        else
                set_err(err, errlen, "remounting '%s' read-only failed: %s", target, strerror(-r));
        return r;
}

/**
 * mount_bind_readonly_id() - bind @source at @target, read-only.
 * @source:     the volume's private tmpfs (or a directory in it)
 * @target:     an existing directory (the pod's target_path); with the new
 *              API a trailing symlink is not followed
 * @ret_mnt_id: the bind's mount id for mount_umount_if() (may be NULL)
 * @err:        receives a message naming the path and the cause (may be NULL)
 * @errlen:     size of @err
 *
 * New API: a detached clone of @source is made read-only, nosuid, nodev and
 * noexec, then attached at @target. Classic: bind, then remount the bind
 * with MS_REMOUNT|MS_BIND|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC; if that
 * fails the bind is unmounted again (detached if busy). Either way, on any
 * failure nothing new stays mounted at @target. Returns 0 or -errno.
 */
int mount_bind_readonly_id(const char *source, const char *target, uint64_t *ret_mnt_id, char *err,
                           size_t errlen) {
        int r;

        if (isempty(source) || isempty(target)) {
                set_err(err, errlen, "mount_bind_readonly: missing source or target");
                return -EINVAL;
        }
        if (!use_new_api()) {
                r = bind_classic(source, target, ret_mnt_id, err, errlen);
                if (r < 0)
                        return r;
        } else {
                r = bind_new_api(source, target, ret_mnt_id);
                if (r < 0) {
                        set_err(err, errlen, "binding '%s' read-only at '%s' failed: %s", source,
                                target, strerror(-r));
                        return r;
                }
        }
        log_debug("bound '%s' read-only at '%s'", source, target);
        return 0;
}

/**
 * mount_bind_readonly() - mount_bind_readonly_id() without the id.
 * @source: the volume's private tmpfs (or a directory in it)
 * @target: an existing directory (the pod's target_path)
 * @err:    receives a message naming the path and the cause (may be NULL)
 * @errlen: size of @err
 *
 * Returns 0 or -errno; on failure nothing new stays mounted at @target.
 */
int mount_bind_readonly(const char *source, const char *target, char *err, size_t errlen) {
        return mount_bind_readonly_id(source, target, NULL, err, errlen);
}

/* umount2(2) directly (new API) or through libmount; -errno. */
static int umount_one(const char *path, bool detach, bool nofollow) {
        if (!use_new_api())
                return do_umount(path, detach);
        if (umount2(path, (detach ? MNT_DETACH : 0) | (nofollow ? UMOUNT_NOFOLLOW : 0)) < 0)
                return -errno;
        return 0;
}

/* Plain umount first, MNT_DETACH only as the fallback for EBUSY. */
static int umount_busy_aware(const char *path, bool lazy, bool nofollow, char *err, size_t errlen) {
        int r = umount_one(path, false, nofollow);

        if (r == -EBUSY) {
                if (!lazy) {
                        set_err(err, errlen, "unmounting '%s' failed: %s", path, strerror(EBUSY));
                        return MOUNT_E_BUSY;
                }
                log_debug("'%s' is busy, detaching it", path);
                r = umount_one(path, true, nofollow);
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
        if (isempty(path)) {
                set_err(err, errlen, "mount_umount: missing path");
                return -EINVAL;
        }
        return umount_busy_aware(path, lazy, false, err, errlen);
}

/**
 * mount_umount_if() - unmount @path only if it is the mount we made.
 * @path:            where the mount was attached
 * @expected_mnt_id: the id mount_tmpfs_id()/mount_bind_readonly_id() gave
 * @lazy:            detach (MNT_DETACH) when the mount is busy
 * @err:             receives a message naming @path and the cause (may be NULL)
 * @errlen:          size of @err
 *
 * The identity check is one statx(2) with the new API (a table lookup with
 * the classic one). Mount ids are reused only after the mount is gone, so
 * a match means the mount at @path is the one recorded; a mount stacked on
 * top of ours by someone else does not match, and is left alone (so is
 * ours under it). Between the check and umount2(2) only a privileged
 * process could put another mount there. Returns 0 (unmounted, or nothing
 * is mounted at @path, or @path does not exist), MOUNT_E_NOT_OURS,
 * MOUNT_E_BUSY when busy and !@lazy, or -errno.
 */
int mount_umount_if(const char *path, uint64_t expected_mnt_id, bool lazy, char *err,
                    size_t errlen) {
        uint64_t id = 0;
        bool root = false;
        int r;

        if (isempty(path) || expected_mnt_id == 0) {
                set_err(err, errlen, "mount_umount_if: missing path or mount id");
                return -EINVAL;
        }
        r = mount_id_of(path, &id, &root);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r < 0) {
                set_err(err, errlen, "looking up the mount at '%s' failed: %s", path, strerror(-r));
                return r;
        }
        if (!root)
                return 0; /* ours is gone already */
        if (id != expected_mnt_id) {
                set_err(err, errlen,
                        "'%s' is mount %llu, not the one vaultmount made (%llu): not "
                        "unmounting it",
                        path, (unsigned long long)id, (unsigned long long)expected_mnt_id);
                return MOUNT_E_NOT_OURS;
        }
        return umount_busy_aware(path, lazy, true, err, errlen);
}

/**
 * mount_is_mountpoint() - whether @path is the target of a mount.
 * @path: any path; symlinks are followed
 * @ret:  set on success
 *
 * New API: statx's STATX_ATTR_MOUNT_ROOT (O(1)); classic: @path is
 * canonicalised (realpath) and looked up in the table. A path that does
 * not exist is not a mount point (returns 0, *ret false). Returns 0 or
 * -errno.
 */
int mount_is_mountpoint(const char *path, bool *ret) {
        _cleanup_table_ struct libmnt_table *t = NULL;
        struct libmnt_fs *fs = NULL;
        struct statx sx;
        int r;

        if (use_new_api() && !isempty(path)) {
                if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC, 0, &sx) < 0) {
                        if (errno != ENOENT && errno != ENOTDIR)
                                return -errno;
                        *ret = false;
                        return 0;
                }
                *ret = sx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
                return 0;
        }
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
