/* SPDX-License-Identifier: Apache-2.0 */
/*
 * statedir.h - the daemon's runtime state directory and its instance lock.
 *
 * The state dir (default /run/vaultmount, tmpfs) is created 0700. One daemon
 * per state dir: an exclusive flock on `<state-dir>/vaultmountd.lock` is
 * taken at start and held for the process lifetime. The lock lives here and
 * not beside the CSI socket, because the spec forbids extra files there.
 * Never logs; not thread-safe (start-up only).
 */
#pragma once

#include <stddef.h>

/* Returns an fd holding the lock (>= 0), or -EBUSY when another process holds
 * it, or another negative errno; err says what went wrong. */
int state_dir_lock(const char *path, char *err, size_t errlen);
