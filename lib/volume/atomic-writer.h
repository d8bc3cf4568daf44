/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomic-writer.h - publish a set of files into a directory so that readers
 * never see a partial file or a mix of old and new (kubelet's secret
 * volumes do the same):
 *
 *   <root>/..2026_11_23_09_00_00.123456789/<name>   the payload, written in full
 *   <root>/..data -> ..2026_11_23_09_00_00.123456789  swapped by one rename()
 *   <root>/<name> -> ..data/<name>                     stable per-file symlinks
 *   <root>/<dir> -> ..data/<dir>                       one link per directory of
 *                                                      "dir/name" files
 *
 * Every path operation is relative to a directory fd with O_NOFOLLOW;
 * nothing outside `root` is ever touched. A failure leaves the previous
 * payload exactly as it was (the new timestamped dir is removed).
 * Never logs above debug, and never file contents at any level.
 * Not thread-safe per root (callers lock the volume).
 *
 * Readers: each <name> always holds one complete version of that file. A
 * reader that needs a consistent *set* opens ..data once and reads the
 * files relative to that directory; if a file vanishes meanwhile (the old
 * payload is removed right after the swap), it retries.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct PayloadFile {
        /* a file name (not "", no leading '.'), or "dir/name" for one level of
         * directory (an expanded object: root/dir is one link to ..data/dir) */
        const char *name;
        const uint8_t *data;
        size_t len;
        unsigned mode; /* e.g. 0444, 0440; at most 0777 */
} PayloadFile;

/*
 * Writes `files` as the new payload of the directory `root_fd`. Files are
 * owned by uid 0 and by `gid` unless it is (gid_t)-1; the payload dir is
 * 0755, or 0750 and group `gid`. Stale per-file symlinks of names no longer
 * in the payload are removed, then the old payload dir (and any orphaned
 * one). Returns 0 or -errno with a message in err (may be NULL); -EINVAL
 * for an invalid or duplicate name or mode, before anything is touched.
 */
enum {
        /* root_fd is a directory the caller just made (a new tmpfs): no
         * leftovers to look for, nothing to tidy up (atomic-writer.c) */
        ATOMIC_WRITE_NEW_ROOT = 1U << 0,
};
int atomic_writer_write(int root_fd, const PayloadFile *files, size_t n, gid_t gid, unsigned flags,
                        char *err, size_t errlen);

/* True when the current payload holds exactly these names, contents and
 * modes, and every <name> link is in place (rotation skips the swap then).
 * False when nothing is published yet. -EINVAL for invalid names. */
int atomic_writer_same(int root_fd, const PayloadFile *files, size_t n, bool *ret);

/* Removes everything the writer created under root_fd (payload dirs,
 * ..data and temporaries, per-file symlinks); other entries stay. 0 or the
 * first -errno. */
int atomic_writer_clear(int root_fd);
