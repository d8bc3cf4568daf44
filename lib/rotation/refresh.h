/* SPDX-License-Identifier: Apache-2.0 */
/*
 * refresh.h - rotation: keeps every published volume's files fresh, gently
 * and visibly.
 *
 * Three layers:
 *
 *  1. Pure helpers (unit-tested, no I/O, time passed in): the due-time
 *     rules, a token bucket, the per-volume backoff, the server-wide gate
 *     that pauses a Vault server after a 429 or 503, a min-heap of due
 *     times, and certificate lifetimes.
 *
 *  2. RefreshScheduler: a small pool of threads driven by that heap and a
 *     condition variable (never busy-polling). Each volume has one entry; a
 *     worker pops the earliest due one and calls the refresh function,
 *     which returns the next due time. Add, kick (due now), cancel (waits a
 *     bounded time for a refresh in flight) and wait-for-next-refresh are
 *     thread-safe. The clock and the refresh function are injectable, so the
 *     scheduler is tested without Vault or real time.
 *
 *  3. Refresher: the Vault side. Per volume and secret (one Vault request
 *     feeding one or more files):
 *       - KV: re-read every refreshInterval minus up to 10 % jitter; KV v2
 *         is unchanged while metadata.version is, anything else when the
 *         rendered files are byte-identical (atomic_writer_same): no write;
 *       - leases: renewed (sys/leases/renew) at 2/3 of their duration;
 *         once Vault cannot extend one (shorter than asked, not renewable,
 *         refused) a replacement is fetched when a third of its duration is
 *         left, and every file from that response is swapped at once;
 *       - PKI: re-issued at 2/3 of the certificate's lifetime, counted from
 *         max(notBefore, fetch time) because Vault back-dates notBefore;
 *       - the volume's Vault token: renew-self at 2/3 of its TTL while
 *         renewable; when it cannot be extended, a new login with the
 *         newest pod JWT a third of its TTL before expiry, then the leased
 *         secrets are fetched again under the new token and swapped, and
 *         only then is the old token revoked (leases die with it).
 *     A failed step keeps the previous files exactly; the volume backs off
 *     exponentially with jitter (refresh-backoff-min..max), and its state
 *     (ok, failing, stale, waiting-for-token) goes to the status file
 *     REFRESH_STATUS_FILE at the volume root and, once per change, to the
 *     log (MESSAGE_IDs from log-ids.h).
 *     Gentle on Vault: per Vault server, refresh requests pass a token
 *     bucket (refresh-rate, refresh-burst) and, with publishes, a
 *     concurrency limit (vault-max-concurrency). A 429 (Retry-After or not),
 *     a 503 or no answer at all pauses every refresh to that server
 *     (doubling from refresh-backoff-min, at least Retry-After); after a
 *     pause one probe request goes first. Refresh requests are never
 *     retried inside the Vault client, so each one passes these limits.
 *
 * Logging: state changes at warning/info (this is an edge, like main);
 * everything else at debug. Never a token, JWT or secret value.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "vault.h"
#include "volumes.h"

#define USEC_PER_SEC 1000000ULL

/* Next-due value that parks a volume until it is kicked or added again. */
#define REFRESH_PARK UINT64_MAX
/* The status file at each volume's root (beside "..data"; object names
 * cannot start with '.', so it cannot collide with one). */
#define REFRESH_STATUS_FILE "..vaultmount-status.json"
#define REFRESH_STATUS_SCHEMA 1

/* ---- 1. pure helpers -------------------------------------------------------- */

/* KV: interval minus up to 10 % (random picks where), never earlier than now. */
uint64_t refresh_kv_due(uint64_t now, uint64_t interval_usec, uint64_t random);
/* Renew at 2/3 of [renewed, expires]. */
uint64_t refresh_renew_due(uint64_t renewed, uint64_t expires);
/* Replace a lease that cannot be extended: a third of its issued TTL
 * before it expires (at once when less is left). */
uint64_t refresh_replace_due(uint64_t now, uint64_t expires, int64_t ttl_sec);
/* PKI: 2/3 of [issued, not_after]. */
uint64_t refresh_pki_due(uint64_t issued, uint64_t not_after);
/* Per-volume backoff before attempt failures+1: min·2^(failures-1) capped at
 * max, jittered into its upper half ("equal jitter"). failures 0 → 0. */
uint64_t refresh_backoff_usec(uint64_t min_usec, uint64_t max_usec, unsigned failures,
                              uint64_t random);

/* Token bucket: `rate` tokens per second, at most `burst` stored. Integer
 * arithmetic in millionths of a token, so no rounding drift. */
typedef struct TokenBucket {
        uint64_t micro_tokens;
        uint64_t rate;  /* tokens per second = millionths per µs */
        uint64_t burst;
        uint64_t last_usec;
} TokenBucket;
void token_bucket_init(TokenBucket *b, uint64_t rate, uint64_t burst, uint64_t now_usec);
/* Takes one token: 0, or (nothing taken) the µs until one is there. */
uint64_t token_bucket_take(TokenBucket *b, uint64_t now_usec);

/* What a request to a server said about the server. */
typedef enum GateOutcome {
        GATE_OK,          /* an answer (any status but 429/503): the server copes */
        GATE_THROTTLED,   /* 429 */
        GATE_UNAVAILABLE, /* 503 (sealed, no leader) or no answer at all */
} GateOutcome;

/* The server-wide brake (one per Vault server). */
typedef struct ServerGate {
        uint64_t min_usec, max_usec;
        uint64_t step_usec;        /* length of the next pause */
        uint64_t pause_until_usec;
        bool probing;              /* after a pause: one request at a time until an answer */
        bool probe_in_flight;
        unsigned pauses;           /* pauses so far */
} ServerGate;
#define SERVER_GATE_PROBE_WAIT_USEC (250ULL * 1000)
void server_gate_init(ServerGate *g, uint64_t min_usec, uint64_t max_usec);
/* 0 when a request may go now, else the µs to wait (pause, or a probe in flight). */
uint64_t server_gate_wait(const ServerGate *g, uint64_t now);
/* A request goes (after server_gate_wait() said 0). */
void server_gate_begin(ServerGate *g);
/* Its outcome; retry_after_sec < 0 when the answer had none. */
void server_gate_report(ServerGate *g, uint64_t now, GateOutcome o, int64_t retry_after_sec);

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

/* notBefore/notAfter (unix seconds) of the first certificate in a PEM text.
 * -EINVAL when it does not parse. */
int refresh_cert_times(const char *pem, size_t len, int64_t *ret_not_before,
                       int64_t *ret_not_after);
/* The Retry-After the Vault client reported in an error message
 * ("... retry after N s ..."), or -1. */
int64_t refresh_retry_after_from_message(const char *message);

/*
 * Groups a spec's objects by Vault request (method, path, secretArgs), in
 * order of first appearance. *ret_group_of[i] is object i's group.
 */
int refresh_groups_build(const VolumeSpec *spec, size_t **ret_group_of, size_t *ret_n_groups);
/* Sets g's kind, version, lease and certificate times from a response
 * fetched at `now`, and its next due time (interval for KV kinds). */
void refresh_group_observe(SecretGroup *g, const VaultResponse *resp, uint64_t now,
                           uint64_t interval_usec, uint64_t random);

/* "2026-01-02T03:04:05.678Z" (UTC) for CLOCK_REALTIME µs; buf holds 40 bytes. */
const char *refresh_format_time(uint64_t usec, char *buf, size_t len);

/* ---- 2. the scheduler ------------------------------------------------------- */

typedef uint64_t (*RefreshClockFn)(void *userdata); /* µs */

typedef struct RefreshJob {
        const char *volume_id;
        const atomic_bool *cancelled; /* unpublish cancelled this volume */
        const atomic_bool *stopping;  /* the scheduler is stopping */
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
/* Adds the volume or moves it to `due` (earlier only, while it runs). */
int refresh_scheduler_add(RefreshScheduler *s, const char *volume_id, uint64_t due);
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

/* ---- 3. the refresher ------------------------------------------------------- */

typedef struct Refresher Refresher;

/*
 * Builds the refresher for the Config's Vault servers (its own Vault
 * connections, made on first use, with client-side retries off: the limits
 * above decide) and its scheduler (config->refresh_workers threads, not
 * started). 0 or -errno (err, errlen: a message, when there is one).
 */
int refresher_new(Refresher **ret, const Config *c, VolumeTable *volumes, Metrics *metrics,
                  char *err, size_t errlen);
int refresher_start(Refresher *r);
void refresher_stop(Refresher *r);
Refresher *refresher_free(Refresher *r);
static inline void refresher_freep(Refresher **r) {
        if (*r)
                *r = refresher_free(*r);
}

/* Every published volume of the table (after a restart) goes back on the
 * schedule, spread over the next few seconds. Returns how many. */
size_t refresher_resume_all(Refresher *r);

/*
 * After a first publish (the caller holds the busy flag; rec->spec, token
 * and files are in place): builds the volume's rotation state from the
 * responses (one per spec object, NULL allowed for duplicates of an earlier
 * object), sets its health to ok and writes the status file. Call
 * refresher_schedule() once the record is saved and published.
 */
int refresher_volume_init(Refresher *r, VolumeRecord *rec, const VaultResponse *const *responses,
                          uint64_t now_usec);
/* Puts the volume on the schedule at its next due time (busy holder). */
void refresher_schedule(Refresher *r, VolumeRecord *rec);
/* Makes the volume due now and waits up to `timeout_usec` (real time) for
 * that refresh. 0, -ETIMEDOUT, -ENOENT. */
int refresher_refresh_now(Refresher *r, const char *volume_id, uint64_t timeout_usec);
/* Waits up to timeout_usec for the refresh in flight (if any) to end. */
int refresher_wait_current(Refresher *r, const char *volume_id, uint64_t timeout_usec);
/* Unpublish: no refresh of the volume runs or starts afterwards (waits the
 * refresh-request-timeout plus a margin at most). 0 or -EBUSY. */
int refresher_cancel(Refresher *r, const char *volume_id);
/* Back on the schedule soon (an unpublish that gave up after cancelling). */
void refresher_resume(Refresher *r, const char *volume_id);
/* Unpublish done: drops the volume's share of the gauges (busy holder). */
void refresher_forget(Refresher *r, VolumeRecord *rec);
/* Writes the status file from the record (busy holder). */
int refresher_write_status(Refresher *r, VolumeRecord *rec);

/* Publish-side limits: a concurrency slot on the volume's Vault server for
 * the publish's Vault calls (first publishes skip the refresh rate limit). */
int refresher_vault_enter(Refresher *r, const VaultServerConfig *server, uint64_t timeout_usec);
/* Gives the slot back; a 429/503/no-answer result also pauses refreshes. */
void refresher_vault_leave(Refresher *r, const VaultServerConfig *server, int result,
                           const VaultError *ve);

Metrics *refresher_metrics(Refresher *r);

/* Issue 11: 1 while refreshes to server `idx` (Config order) are paused after
 * a 429, a 503 or no answer (until a probe is answered), 0 otherwise, -ENOENT. */
int refresher_server_paused(Refresher *r, size_t idx);
