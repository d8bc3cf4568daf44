/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mount.h - tmpfs and bind mounts through libmount; nothing else in the
 * daemon touches libmount or mount(2).
 *
 * A volume is a private tmpfs under the state dir, bound read-only at the
 * pod's target_path. A bind of a read-only bind stays read-only, so the
 * container runtime's own bind is read-only too.
 *
 * Returns 0, a positive MOUNT_E_* outcome, or -errno, with a message in err
 * that names the path and the cause. Never logs above debug. Thread-safe
 * (libmount contexts are per call).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
        _MOUNT_E_SUCCESS,
        MOUNT_E_BUSY, /* umount: still in use (and lazy detach not allowed) */
};

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
