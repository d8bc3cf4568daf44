/* SPDX-License-Identifier: Apache-2.0 */
/*
 * refresher.h - rotation's Vault side: keeps every published volume's files
 * fresh, gently and visibly. Per volume and secret (one Vault request
 * feeding one or more files, secret-set.h), with the due rules of rules.h:
 *   - KV re-read; KV v2 unchanged while metadata.version is, anything else
 *     when the rendered files are byte-identical (atomic_writer_same): no
 *     write;
 *   - leases renewed, and replaced when Vault cannot extend them: every file
 *     from that response is swapped at once;
 *   - PKI re-issued;
 *   - the volume's Vault token renewed; when it cannot be extended, a new
 *     login with the newest pod JWT, then the leased secrets are fetched
 *     again under the new token and swapped, and only then is the old token
 *     revoked (leases die with it).
 * A failed step keeps the previous files exactly; the volume backs off
 * exponentially with jitter and its health (health.h) says so. Every request
 * passes the server's limiter (limiter.h): a token bucket (refresh-rate,
 * refresh-burst), the concurrency limit shared with publishes
 * (vault-max-concurrency) and the gate that pauses a server after a 429,
 * a 503 or no answer. Refresh requests are never retried inside the Vault
 * client, so each one passes these limits.
 *
 * Logging: state changes (health.h); everything else at debug. Never a
 * token, JWT or secret value.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "health.h"
#include "metrics.h"
#include "rules.h"
#include "scheduler.h"
#include "vault-pool.h"
#include "vault.h"
#include "volumes.h"

typedef struct Refresher Refresher;

/*
 * Builds the refresher for the Config's Vault servers (the pool's refresh
 * connections and limiters, vault-pool.h) and its scheduler
 * (config->refresh_workers threads, not started). 0 or -errno (err,
 * errlen: a message, when there is one).
 */
int refresher_new(Refresher **ret, const Config *c, VolumeTable *volumes, VaultPool *pool,
                  Metrics *metrics, char *err, size_t errlen);
int refresher_start(Refresher *r);
void refresher_stop(Refresher *r);
/* The refresh threads run and their scheduler answers within timeout_usec
 * (the service watchdog pings only then). */
bool refresher_alive(Refresher *r, uint64_t timeout_usec);
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
 * request groups (secret-set.h; takes group_of, which the caller allocated)
 * and their responses (one per group), sets its health to ok and writes
 * the status file. Call refresher_schedule() once the record is saved and
 * published. R may be NULL (no rotation): the groups are kept all the same.
 */
int refresher_volume_init(Refresher *r, VolumeRecord *rec, size_t *group_of, size_t n_groups,
                          const VaultResponse *const *responses, uint64_t now_usec);
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
/* Writes the status file from the record (busy holder); a failure is logged. */
int refresher_write_status(Refresher *r, VolumeRecord *rec);

Metrics *refresher_metrics(Refresher *r);
/* 1 while refreshes to server `idx` (Config order) are paused after a 429, a
 * 503 or no answer, until a probe request is answered; 0 otherwise; -ENOENT
 * for no such server. Never waits on Vault I/O. */
int refresher_server_paused(Refresher *r, size_t idx);
/* 1 while the refresh budget of server `idx` cannot keep every volume's
 * credentials valid (budget.h); 0 otherwise; -ENOENT for no such server. */
int refresher_budget_exhausted(Refresher *r, size_t idx);
