/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomic-writer.h - publish a set of files into a directory so that readers
 * never see a partial file or a mix of old and new (kubelet's secret
 * volumes do the same):
 *
 *   <root>/..2026_11_23_09_00_00.123456789/<name>   the payload, written in full
 *   <root>/..data -> ..2026_11_23_09_00_00.123456789  swapped by one rename()
 *   <root>/<name> -> ..data/<name>                     stable per-file symlinks
 *
 * Every path operation is relative to a directory fd with O_NOFOLLOW;
 * nothing outside `root` is ever touched. A failure leaves the previous
 * payload exactly as it was (the new timestamped dir is removed).
 * Never logs above debug. Not thread-safe per root (callers lock the volume).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct PayloadFile {
        const char *name;     /* a plain file name (validated by the caller) */
        const uint8_t *data;
        size_t len;
        unsigned mode;        /* e.g. 0444, 0440 */
} PayloadFile;

/*
 * Writes `files` as the new payload of the directory `root_fd`. Files are
 * owned by uid 0 and by `gid` unless it is (gid_t)-1. Stale per-file
 * symlinks of names no longer in the payload are removed, then the old
 * payload dir. Returns 0 or -errno with a message in err.
 */
int atomic_writer_write(int root_fd, const PayloadFile *files, size_t n, gid_t gid, char *err,
                        size_t errlen);

/* True when the current payload holds exactly these names, contents and
 * modes (rotation skips the swap then). */
int atomic_writer_same(int root_fd, const PayloadFile *files, size_t n, bool *ret);

/* Removes everything the writer created under root_fd (payload dirs,
 * ..data, per-file symlinks). */
int atomic_writer_clear(int root_fd);
