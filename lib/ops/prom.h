/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prom.h - the Prometheus text exposition (format 0.0.4) of the daemon's
 * metrics: every family, its HELP and TYPE, label values
 * escaped, histograms cumulative with +Inf, _sum and _count.
 *
 * Pure: the caller gathers the input (scrape.h); rendering does no I/O,
 * never logs, never blocks (counters are read with relaxed atomic loads).
 * Labels are fixed sets, configured server names and the pod's namespace,
 * name and volume id; never a path, token or secret. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "volumes.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One published volume's series. Strings are borrowed. */
typedef struct PromVolume {
        const char *volume_id;
        const char *ns;
        const char *pod;
        uint64_t expiry_usec;       /* CLOCK_REALTIME µs; 0: no series */
        uint64_t last_success_usec; /* 0: no series */
} PromVolume;

/* The standard process_* families (procstat.h fills it). */
typedef struct PromProcess {
        bool valid;
        double cpu_seconds;
        uint64_t resident_bytes;
        uint64_t virtual_bytes;
        uint64_t open_fds;
        uint64_t max_fds;
        double start_time_seconds;
} PromProcess;

typedef struct PromInput {
        const char *version;
        const char *commit;
        const Metrics *metrics;      /* may be NULL: no counters */
        const int *server_paused;    /* per metrics->servers[]: 0/1; NULL: all 0 */
        const int *budget_exhausted; /* the same: the refresh budget falls short */
        uint64_t volumes_by_state[_VOLUME_STATE_MAX];
        const PromVolume *volumes;
        size_t n_volumes;
        const PromProcess *process; /* NULL or !valid: no process_* series */
} PromInput;

/* The `state` label of vaultmount_volumes: ok, failing, stale, waiting_for_token. */
const char *prom_volume_state_label(VolumeState s);

/* Renders the exposition into a malloc'd NUL-terminated text. 0 or -ENOMEM. */
int prom_render(const PromInput *in, char **ret, size_t *ret_len);
