/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload-read.h - the files an object has now in a volume, read back
 * through the payload's ..data link (atomic-writer.h): a refresh that
 * renders only some objects writes the others' current files again.
 *
 * Contents go into Secrets (wiped, locked) through a wiped stack buffer.
 * Never logs. Thread-safe (callers hold the volume's lock, as for writes).
 */
#pragma once

#include <stddef.h>

#include "secret-set.h"
#include "volume-spec.h"

/*
 * Reads object o's files from the payload under root_fd into *ret: one file
 * named o->name, or with expand every file of ..data/<name>/ as
 * "<name>/<key>" (none when the directory is missing: the last render had
 * no keys). A file longer than max + 1 bytes fails with -E2BIG. 0, or
 * -errno with *ret empty.
 */
int payload_read_object(int root_fd, const SecretObject *o, size_t max, ObjectValue *ret);
