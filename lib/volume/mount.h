/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount.h - tmpfs and read-only bind mounts; nothing else in the daemon
 * touches libmount, mount(2) or the new mount API.
 *
 * A volume is a private tmpfs under the state dir, bound read-only at the
 * pod's target_path. A bind of a read-only bind stays read-only, so the
 * container runtime's own bind is read-only too.
 *
 * Two back-ends (mount_set_api()): the new mount API (fsopen/fsmount,
 * open_tree, mount_setattr, move_mount; statx(STATX_MNT_ID)), which works on
 * exactly the mounts we make and never reads the mount table, and the
 * classic one (mount(2)/umount2(2) through libmount, identities from
 * /proc/self/mountinfo) for kernels without it. Both name a mount by the
 * same id: statx's stx_mnt_id, the first field of mountinfo.
 *
 * Returns 0, a positive MOUNT_E_* outcome, or -errno, with a message in err
 * that names the path and the cause. Never logs above debug. Thread-safe
 * (libmount contexts are per call).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

enum {
        _MOUNT_E_SUCCESS,
        MOUNT_E_BUSY,     /* umount: still in use (and lazy detach not allowed) */
        MOUNT_E_NOT_OURS, /* umount_if: another mount than the expected one is there */
};

typedef enum MountApi {
        MOUNT_API_AUTO,    /* the new API when the kernel has it (Linux >= 5.12), else classic */
        MOUNT_API_NEW,     /* fsopen/open_tree/mount_setattr/move_mount and statx mount ids */
        MOUNT_API_CLASSIC, /* mount(2) through libmount, ids from the mount table */
        _MOUNT_API_MAX,
        _MOUNT_API_INVALID = -EINVAL,
} MountApi;

typedef struct TmpfsOptions {
        uint64_t size_bytes; /* size=; must be > 0 (tmpfs reads 0 as "unlimited") */
        uint64_t nr_inodes;  /* nr_inodes= (0: kernel default) */
        gid_t gid;           /* gid= and group-owned root, or (gid_t)-1 */
        unsigned mode;       /* mode= of the root directory, e.g. 0755 or 0750; <= 07777 */
} TmpfsOptions;

/* Mounts a tmpfs with nosuid,nodev,noexec and the options at `path` (an
 * existing directory). -EINVAL for a zero size or a mode above 07777. */
int mount_tmpfs(const char *path, const TmpfsOptions *opts, char *err, size_t errlen);

/* Binds `source` at `target` (an existing directory), then remounts the bind
 * read-only with nosuid,nodev,noexec. On failure nothing stays mounted. */
int mount_bind_readonly(const char *source, const char *target, char *err, size_t errlen);

/* Unmounts `path`. EINVAL/ENOENT (not mounted) → 0. EBUSY → MOUNT_E_BUSY,
 * or with `lazy` a detach (MNT_DETACH), still returning 0. */
int mount_umount(const char *path, bool lazy, char *err, size_t errlen);

/* Whether `path` is a mount point (libmount's view of /proc/self/mountinfo,
 * matched against realpath(path)). A missing path is not one: 0, *ret false. */
int mount_is_mountpoint(const char *path, bool *ret);

/* The fstype and options of the topmost mount at `path` (for restart
 * recovery and tests); *ret_fstype and *ret_options are malloc'd. The options
 * merge the per-mount and superblock ones, e.g.
 * "ro,nosuid,nodev,noexec,relatime,size=1024k,mode=750,gid=12345".
 * -ENOENT if not mounted. */
int mount_get(const char *path, char **ret_fstype, char **ret_options);

/* The version of the libmount library loaded at run time ("2.38.1"). */
const char *mount_library_version(void);

/* "auto", "new" or "classic" (the node setting mount-api). */
const char *mount_api_to_string(MountApi api);
MountApi mount_api_from_string(const char *s);

/* Selects the back-end for every later call (at startup, before threads).
 * -EOPNOTSUPP for MOUNT_API_NEW on a kernel without it (nothing changes). */
int mount_set_api(MountApi api);
/* The back-end in use: MOUNT_API_NEW or MOUNT_API_CLASSIC. */
MountApi mount_api_in_use(void);

/* mount_tmpfs(), and the id of the new mount in *ret_mnt_id (may be NULL). */
int mount_tmpfs_id(const char *path, const TmpfsOptions *opts, uint64_t *ret_mnt_id, char *err,
                   size_t errlen);

/* mount_bind_readonly(), and the id of the bind in *ret_mnt_id (may be NULL).
 * With the new API the bind is read-only before it appears at `target`. */
int mount_bind_readonly_id(const char *source, const char *target, uint64_t *ret_mnt_id, char *err,
                           size_t errlen);

/* The id of the mount `path` is on (a trailing symlink is not followed) and
 * whether `path` is that mount's root (ret_root may be NULL). -ENOENT,
 * -ENOTDIR for a missing path. O(1) with the new API. */
int mount_id_of(const char *path, uint64_t *ret_mnt_id, bool *ret_root);

/* Whether the directory open at `fd`, opened by `path`, is the root of
 * mount `expected_mnt_id` (0: of some mount): 0 when it is,
 * MOUNT_E_NOT_OURS when it is not, -errno when that cannot be told. */
int mount_fd_is_root_of(int fd, const char *path, uint64_t expected_mnt_id);

/* Unmounts `path` only when it is the root of mount `expected_mnt_id`.
 * Nothing mounted at `path` (or no such path) → 0; another mount there →
 * MOUNT_E_NOT_OURS, untouched; EBUSY → MOUNT_E_BUSY, or with `lazy` a
 * detach. A trailing symlink is never followed. */
int mount_umount_if(const char *path, uint64_t expected_mnt_id, bool lazy, char *err,
                    size_t errlen);
