/* SPDX-License-Identifier: Apache-2.0 */
/*
 * budget.h - whether a Vault server's refresh budget (refresh-rate,
 * refresh-burst) still keeps every volume's credentials valid. It does not
 * once an expiry-critical request (token renewal or login, lease renewal or
 * replacement, certificate re-issue) had to be deferred for lack of bucket
 * tokens; it does again after BUDGET_CLEAR_USEC without such a deferral.
 * Each change is logged once (LOG_MESSAGE_REFRESH_BUDGET); the state is in
 * the volumes' status files and the vaultmount_refresh_budget_exhausted
 * gauge. Thread-safe; never a token or secret value.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A server is "enough" again this long after its last critical deferral. */
#define BUDGET_CLEAR_USEC (30ULL * 1000 * 1000)

typedef struct RefreshBudget {
        pthread_mutex_t lock;
        bool inited;
        size_t n;
        bool *exhausted;      /* per server */
        uint64_t *last_short; /* per server: the last critical deferral (µs) */
        uint64_t *shorts;     /* per server: critical deferrals so far */
} RefreshBudget;

int refresh_budget_init(RefreshBudget *b, size_t n_servers);
void refresh_budget_done(RefreshBudget *b);
/*
 * After a refresh run on server `idx` (name for the log) at `now` (µs,
 * monotonic or realtime, one clock throughout): `short_now` when one of its
 * critical requests was deferred for lack of budget. Logs a change once.
 * Returns whether the server's budget is exhausted now.
 */
bool refresh_budget_note(RefreshBudget *b, size_t idx, const char *name, bool short_now,
                         uint64_t now);
/* 1 when exhausted, 0 when not, -ENOENT for no such server. */
int refresh_budget_exhausted(RefreshBudget *b, size_t idx);
