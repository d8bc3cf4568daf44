/* SPDX-License-Identifier: Apache-2.0 */
/*
 * budget.c - is a server's refresh budget enough (see budget.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "budget.h"
#include "log-ids.h"
#include "log.h"
#include "macro.h"

int refresh_budget_init(RefreshBudget *b, size_t n) {
        *b = (RefreshBudget){ .n = n, .inited = true };
        pthread_mutex_init(&b->lock, NULL);
        b->exhausted = calloc(n ? n : 1, sizeof(*b->exhausted));
        b->last_short = calloc(n ? n : 1, sizeof(*b->last_short));
        b->shorts = calloc(n ? n : 1, sizeof(*b->shorts));
        if (!b->exhausted || !b->last_short || !b->shorts) {
                refresh_budget_done(b);
                return -ENOMEM;
        }
        return 0;
}

void refresh_budget_done(RefreshBudget *b) {
        if (!b->inited)
                return;
        free(b->exhausted);
        free(b->last_short);
        free(b->shorts);
        pthread_mutex_destroy(&b->lock);
        *b = (RefreshBudget){ 0 };
}

static void log_change(const char *name, bool exhausted) {
        LogField f[] = {
                { "VAULT_SERVER", name },
                { "MESSAGE_ID", LOG_MESSAGE_REFRESH_BUDGET },
                { "REFRESH_BUDGET", exhausted ? "exhausted" : "enough" },
        };

        if (exhausted)
                log_struct(LOG_LEVEL_WARNING, 0, f, ELEMENTSOF(f),
                           "Vault server '%s': the refresh budget (refresh-rate, refresh-burst) "
                           "cannot keep every volume's credentials valid: a token or lease "
                           "renewal had to be deferred; raise refresh-rate or lengthen the TTLs",
                           name);
        else
                log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                           "Vault server '%s': the refresh budget keeps up again (no deferred "
                           "token or lease renewal for %llu s)",
                           name, (unsigned long long)(BUDGET_CLEAR_USEC / 1000000));
}

bool refresh_budget_note(RefreshBudget *b, size_t idx, const char *name, bool short_now,
                         uint64_t now) {
        bool changed = false, ex;

        if (idx >= b->n)
                return false;
        pthread_mutex_lock(&b->lock);
        if (short_now) {
                b->last_short[idx] = now;
                b->shorts[idx]++;
                changed = !b->exhausted[idx];
                b->exhausted[idx] = true;
        } else if (b->exhausted[idx] && now > b->last_short[idx] + BUDGET_CLEAR_USEC) {
                b->exhausted[idx] = false;
                changed = true;
        }
        ex = b->exhausted[idx];
        pthread_mutex_unlock(&b->lock);
        if (changed)
                log_change(name, ex);
        return ex;
}

int refresh_budget_exhausted(RefreshBudget *b, size_t idx) {
        int r;
        if (idx >= b->n)
                return -ENOENT;
        pthread_mutex_lock(&b->lock);
        r = b->exhausted[idx] ? 1 : 0;
        pthread_mutex_unlock(&b->lock);
        return r;
}
