/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status-report.h - `vaultmountd status`: the published volumes
 * of a node, read from the state dir (no call to the daemon): per volume its
 * pod, volume id, rotation state, last success, next refresh, earliest
 * expiry and last error; as a table, or JSON for scripts.
 *
 * Sources per <state-dir>/volumes/<key>: record.json (volume id, the pod's
 * attributes, the rotation status as last saved) and, newer and more
 * complete, the status file the refresher writes at the volume's root
 * (mnt/REFRESH_STATUS_FILE). Neither holds a secret; the report leaves out
 * the Vault paths their error texts quote, too. Never logs; thread-safe (no
 * shared state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct StatusEntry {
        char *volume_id;
        char *ns;           /* the pod's namespace, or NULL */
        char *pod;          /* the pod's name, or NULL */
        char *state;        /* ok, failing, stale, waiting-for-token, unknown */
        char *last_success; /* RFC 3339 UTC, or NULL */
        char *next_refresh;
        char *earliest_expiry;
        char *last_error;
} StatusEntry;

void status_entries_free(StatusEntry *e, size_t n);

/* Reads every volume of the state dir (sorted by namespace, pod, volume id).
 * 0 or -errno; a volume whose record does not parse is skipped and counted
 * in *ret_bad. A state dir without volumes gives none. */
int status_report_load(const char *state_dir, StatusEntry **ret, size_t *ret_n, size_t *ret_bad);

/* Replaces, in place, every '...' or "..." quoted text holding a '/' (a Vault
 * path, in the refresher's error texts) by '<path>' ('?' when shorter). */
void status_redact_paths(char *s);

/* "csi-3f2a9c1e0b7d4a55..." (at most `max` bytes with the dots) into buf. */
const char *status_short_id(const char *volume_id, char *buf, size_t max);

/* The table (one line per volume, a header first) or the JSON document. 0 or -errno. */
int status_report_print(FILE *f, const StatusEntry *e, size_t n, bool json);

/* 1 when any volume is failing or stale, else 0. */
int status_report_exit_code(const StatusEntry *e, size_t n);

/* `vaultmountd status`: load, print to out (problems to errf); the exit
 * code (0, 1, or 2 when the state dir cannot be read). */
int status_report_run(const char *state_dir, bool json, FILE *out, FILE *errf);
