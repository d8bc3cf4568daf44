/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.h - a small pool of threads driven by a min-heap of due times
 * and a condition variable (never busy-polling). Each volume has one entry;
 * a worker pops the earliest due one and calls the refresh function, which
 * returns the next due time. Add, kick (due now), cancel (waits a bounded
 * time for a refresh in flight) and wait-for-next-refresh are thread-safe.
 * The clock and the refresh function are injected, so the scheduler is
 * tested without Vault or real time. Knows nothing of Vault or volumes.
 *
 * Two lanes: every entry waits in the routine lane at its due time and,
 * when it has an expiry-critical step (the refresh function says when, or
 * add_class), in the critical lane at that step's due time too. A due
 * critical entry always pops before a due routine one, however much earlier
 * that was due; within a lane, the earliest due time first.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Next-due value that parks a volume until it is kicked or added again. */
#define REFRESH_PARK UINT64_MAX

/* A min-heap of (due, data); equal due times pop in insertion order. */
typedef struct RefreshQueueItem {
        uint64_t due;
        uint64_t seq;
        void *data;
} RefreshQueueItem;
typedef struct RefreshQueue {
        RefreshQueueItem *items;
        size_t n, cap;
        uint64_t seq;
} RefreshQueue;
int refresh_queue_push(RefreshQueue *q, uint64_t due, void *data);
bool refresh_queue_remove(RefreshQueue *q, const void *data);
void *refresh_queue_peek(const RefreshQueue *q, uint64_t *ret_due);
void *refresh_queue_pop(RefreshQueue *q);
void refresh_queue_done(RefreshQueue *q);

typedef uint64_t (*RefreshClockFn)(void *userdata); /* µs */

typedef struct RefreshJob {
        const char *volume_id;
        const atomic_bool *cancelled; /* unpublish cancelled this volume */
        const atomic_bool *stopping;  /* the scheduler is stopping */
        uint64_t *ret_critical_due;   /* the refresh sets it: when its next expiry-critical
                                       * step is due (REFRESH_PARK: none) */
} RefreshJob;
static inline bool refresh_job_cancelled(const RefreshJob *j) {
        return (j->cancelled && atomic_load(j->cancelled)) ||
               (j->stopping && atomic_load(j->stopping));
}

/* Refreshes one volume; returns its next due time, REFRESH_PARK, or 0 to
 * forget the volume. */
typedef uint64_t (*RefreshFn)(void *userdata, const RefreshJob *job);

typedef struct RefreshScheduler RefreshScheduler;

int refresh_scheduler_new(RefreshScheduler **ret, unsigned workers, RefreshClockFn clock,
                          RefreshFn fn, void *userdata);
int refresh_scheduler_start(RefreshScheduler *s);
/* Stops and joins the workers (a refresh in flight sees `stopping`). */
void refresh_scheduler_stop(RefreshScheduler *s);
RefreshScheduler *refresh_scheduler_free(RefreshScheduler *s);
static inline void refresh_scheduler_freep(RefreshScheduler **s) {
        if (*s)
                *s = refresh_scheduler_free(*s);
}
/* Adds the volume or moves it to `due` (earlier only, while it runs); a
 * known volume keeps its lanes, a new one is routine. */
int refresh_scheduler_add(RefreshScheduler *s, const char *volume_id, uint64_t due);
/* The same, and when the volume's next expiry-critical step is due
 * (REFRESH_PARK: none; may be before `due`: then it runs at crit_due). A
 * volume that runs: for its next run. */
int refresh_scheduler_add_class(RefreshScheduler *s, const char *volume_id, uint64_t due,
                                uint64_t crit_due);
/* Makes a known volume due now; *ret_gen (may be NULL) gets its count of
 * finished refreshes before this one. -ENOENT when unknown. */
int refresh_scheduler_kick(RefreshScheduler *s, const char *volume_id, uint64_t *ret_gen);
/* Finished refreshes of the volume; -ENOENT when unknown. */
int refresh_scheduler_generation(RefreshScheduler *s, const char *volume_id, uint64_t *ret_gen);
/* Waits (real time, at most timeout_usec) until the volume has finished more
 * than `gen` refreshes. 0; -ETIMEDOUT; -ENOENT when it was forgotten. */
int refresh_scheduler_wait(RefreshScheduler *s, const char *volume_id, uint64_t gen,
                           uint64_t timeout_usec);
/*
 * Forgets the volume: no refresh of it starts afterwards. One in flight is
 * told (RefreshJob.cancelled) and waited for, at most timeout_usec of real
 * time. 0 when nothing runs any more; -EBUSY when it still does.
 */
int refresh_scheduler_cancel(RefreshScheduler *s, const char *volume_id, uint64_t timeout_usec);
/* Re-reads the clock (tests that move an injected clock). */
void refresh_scheduler_wakeup(RefreshScheduler *s);
size_t refresh_scheduler_size(RefreshScheduler *s);
/* An entry of the critical lane is due now and waits for a thread: a
 * refresh busy with routine work should give way. */
bool refresh_scheduler_critical_waiting(RefreshScheduler *s);
/* Every worker started, not stopping, and the lock free within timeout_usec
 * (a worker stuck holding it makes this false): for the service watchdog. */
bool refresh_scheduler_alive(RefreshScheduler *s, uint64_t timeout_usec);
