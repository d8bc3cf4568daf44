/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health.h - a volume's rotation health after each refresh run: its state
 * (ok, failing, stale, waiting-for-token), the error an operator sees, the
 * status file REFRESH_STATUS_FILE at the volume root, and one log record
 * per state change (MESSAGE_IDs from log-ids.h).
 *
 * health_after_run() is pure (time and randomness passed in); the writers
 * do file I/O or logging only. Never a token, JWT or secret value.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "volumes.h"

/* The status file at each volume's root (beside "..data"; object names
 * cannot start with '.', so it cannot collide with one). */
#define REFRESH_STATUS_FILE   "..vaultmount-status.json"
#define REFRESH_STATUS_SCHEMA 1

/* What one refresh run did (the refresher fills it in). */
typedef struct RefreshOutcome {
        uint64_t now;
        bool requests; /* at least one Vault request went */
        bool failed;
        bool token_failed; /* the failure was the token's */
        bool deferred;     /* postponed by the server's limits */
        bool paused;       /* ... because the server is paused (429/503/no answer) */
        uint64_t defer_until;
        bool cancelled;
        bool need_jwt;      /* the token must be replaced and no pod JWT is at hand */
        const char *error;  /* with failed */
        size_t error_group; /* SIZE_MAX: the token, or no group */
} RefreshOutcome;

typedef struct HealthPolicy {
        uint64_t backoff_min_usec, backoff_max_usec;
} HealthPolicy;

/*
 * The volume's health after a run: h starts as a copy of the previous one
 * and gets the new state, error, earliest expiry and next refresh. Failing
 * groups (and the token, after a token failure) get their retry time in
 * the record. Returns the next due time (REFRESH_PARK: only when kicked).
 */
uint64_t health_after_run(VolumeRecord *rec, const RefreshOutcome *o, const HealthPolicy *pol,
                          uint64_t random, VolumeHealth *h);

/* Replaces the status file through the volume's tmpfs (mode 0444, or 0440
 * with the volume's group), a reader sees the old or the new file, whole.
 * The caller holds the volume. 0 or -errno. */
int health_write_status(VolumeTable *t, VolumeRecord *rec);

/* One log record for a change from `from` to h->state. */
void health_log_change(const VolumeRecord *rec, VolumeState from, const VolumeHealth *h,
                       uint64_t now);

/* "2026-01-02T03:04:05.678Z" (UTC) for CLOCK_REALTIME µs; buf holds 40 bytes. */
const char *refresh_format_time(uint64_t usec, char *buf, size_t len);
