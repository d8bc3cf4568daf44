/* SPDX-License-Identifier: Apache-2.0 */
/*
 * limiter.c - token bucket, server gate and the per-server limiter (see
 * limiter.h).
 */
#include <pthread.h>

#include "clock.h"
#include "limiter.h"
#include "macro.h"

/* ---- pure helpers ---- */

void token_bucket_init(TokenBucket *b, uint64_t rate, uint64_t burst, uint64_t now_usec) {
        *b = (TokenBucket){
                .rate = rate > 0 ? rate : 1,
                .burst = burst > 0 ? burst : 1,
                .last_usec = now_usec,
        };
        b->micro_tokens = b->burst * USEC_PER_SEC;
}

uint64_t token_bucket_take(TokenBucket *b, uint64_t now_usec) {
        return token_bucket_take_keep(b, now_usec, 0);
}

uint64_t token_bucket_take_keep(TokenBucket *b, uint64_t now_usec, uint64_t keep) {
        uint64_t cap = b->burst * USEC_PER_SEC, need;

        if (now_usec > b->last_usec) {
                uint64_t elapsed = now_usec - b->last_usec, add;
                if (__builtin_mul_overflow(elapsed, b->rate, &add) || add > cap)
                        add = cap;
                b->micro_tokens = MIN(b->micro_tokens + add, cap);
                b->last_usec = now_usec;
        }
        /* never more than the bucket holds: keep at most burst - 1 */
        need = (MIN(keep, b->burst - 1) + 1) * USEC_PER_SEC;
        if (b->micro_tokens >= need) {
                b->micro_tokens -= USEC_PER_SEC;
                return 0;
        }
        /* µs until enough whole tokens: ceil(missing / rate) */
        return (need - b->micro_tokens + b->rate - 1) / b->rate;
}

void server_gate_init(ServerGate *g, uint64_t min_usec, uint64_t max_usec) {
        *g = (ServerGate){
                .min_usec = min_usec,
                .max_usec = MAX(max_usec, min_usec),
                .step_usec = min_usec,
        };
}

uint64_t server_gate_wait(const ServerGate *g, uint64_t now) {
        if (now < g->pause_until_usec)
                return g->pause_until_usec - now;
        if (g->probing && g->probe_in_flight)
                return SERVER_GATE_PROBE_WAIT_USEC;
        return 0;
}

void server_gate_begin(ServerGate *g) {
        if (g->probing)
                g->probe_in_flight = true;
}

void server_gate_report(ServerGate *g, uint64_t now, GateOutcome o, int64_t retry_after_sec) {
        uint64_t ra = retry_after_sec > 0 ? (uint64_t)retry_after_sec * USEC_PER_SEC : 0;

        g->probe_in_flight = false;
        if (o == GATE_OK) {
                /* the server answers: back to normal (a running pause still ends) */
                g->probing = false;
                g->step_usec = g->min_usec;
                return;
        }
        if (now >= g->pause_until_usec) {
                /* a new pause: at least Retry-After, doubling while it lasts */
                g->pause_until_usec = now + MAX(g->step_usec, ra);
                g->step_usec = MIN(g->step_usec * 2, g->max_usec);
                g->pauses++;
        } else if (now + ra > g->pause_until_usec)
                g->pause_until_usec = now + ra; /* requests in flight before the pause */
        g->probing = true;
}

GateOutcome gate_outcome(int r, const VaultError *ve) {
        if (r == 0)
                return GATE_OK;
        if (ve->http_status == 429 || r == VAULT_E_RATE_LIMITED)
                return GATE_THROTTLED;
        if (ve->http_status == 503 || r == VAULT_E_SEALED)
                return GATE_UNAVAILABLE;
        if (ve->http_status == 0 && (r == VAULT_E_UNAVAILABLE || r == VAULT_E_TLS))
                return GATE_UNAVAILABLE;
        return GATE_OK;
}

/* ---- one server's limiter ---- */

void vault_limit_init(VaultLimit *L, const VaultLimitConfig *cfg) {
        uint64_t now = monotonic_usec();

        *L = (VaultLimit){ 0 };
        pthread_mutex_init(&L->lock, NULL);
        cond_init_monotonic(&L->cond);
        token_bucket_init(&L->bucket, cfg->rate, cfg->burst, now);
        server_gate_init(&L->gate, cfg->backoff_min_usec, cfg->backoff_max_usec);
        L->max = cfg->max_concurrency ? cfg->max_concurrency : 1;
        L->defer_after_usec = cfg->defer_after_usec;
        L->reserve = L->bucket.burst / 4;
}

void vault_limit_done(VaultLimit *L) {
        pthread_cond_destroy(&L->cond);
        pthread_mutex_destroy(&L->lock);
}

int vault_limit_acquire(VaultLimit *L, VaultLimitCancelFn cancelled, const void *userdata,
                        uint64_t *ret_wait) {
        return vault_limit_acquire_class(L, VAULT_LIMIT_CRITICAL, cancelled, userdata, ret_wait);
}

int vault_limit_acquire_class(VaultLimit *L, VaultLimitClass cls, VaultLimitCancelFn cancelled,
                              const void *userdata, uint64_t *ret_wait) {
        bool critical = cls == VAULT_LIMIT_CRITICAL, waiting = false;
        int r = 0;

        pthread_mutex_lock(&L->lock);
        for (;;) {
                uint64_t now = monotonic_usec(), w;

                if (cancelled && cancelled(userdata)) {
                        r = -ECANCELED;
                        break;
                }
                if (L->in_flight >= L->max) {
                        cond_wait_usec(&L->cond, &L->lock, 200 * 1000);
                        continue;
                }
                w = server_gate_wait(&L->gate, now);
                if (w > 0) {
                        /* paused: do not hold this thread, come back later */
                        *ret_wait = w;
                        r = -EAGAIN;
                        break;
                }
                /* routine requests leave the reserve and a token per waiting
                 * critical request (not counting this one) */
                w = token_bucket_take_keep(&L->bucket, now,
                                           critical ? 0 : L->reserve + L->critical_waiting);
                if (w > 0) {
                        if (w > L->defer_after_usec) {
                                *ret_wait = w;
                                r = -EBUSY;
                                break;
                        }
                        if (critical && !waiting) {
                                waiting = true;
                                L->critical_waiting++;
                        }
                        cond_wait_usec(&L->cond, &L->lock, w);
                        continue;
                }
                server_gate_begin(&L->gate);
                L->in_flight++;
                break;
        }
        if (waiting) {
                L->critical_waiting--;
                pthread_cond_broadcast(&L->cond); /* routine waiters may go now */
        }
        pthread_mutex_unlock(&L->lock);
        return r;
}

void vault_limit_release(VaultLimit *L, int r, const VaultError *ve, bool report_ok) {
        GateOutcome o = gate_outcome(r, ve);

        pthread_mutex_lock(&L->lock);
        if (L->in_flight > 0)
                L->in_flight--;
        if (o == GATE_THROTTLED)
                L->rate_limited++;
        if (o != GATE_OK || report_ok)
                server_gate_report(&L->gate, monotonic_usec(), o,
                                   o == GATE_THROTTLED && ve->has_retry_after ? ve->retry_after_sec
                                                                              : -1);
        pthread_cond_broadcast(&L->cond);
        pthread_mutex_unlock(&L->lock);
}

int vault_limit_enter(VaultLimit *L, uint64_t timeout_usec) {
        uint64_t deadline = monotonic_usec() + timeout_usec;
        int r = 0;

        pthread_mutex_lock(&L->lock);
        while (L->in_flight >= L->max) {
                uint64_t now = monotonic_usec();
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_usec(&L->cond, &L->lock, deadline - now);
        }
        if (r == 0)
                L->in_flight++;
        pthread_mutex_unlock(&L->lock);
        return r;
}

void vault_limit_leave(VaultLimit *L, int r, const VaultError *ve) {
        VaultError none = { 0 };
        /* a publish's success says nothing new; its 429/503 pauses refreshes */
        vault_limit_release(L, r, ve ? ve : &none, false);
}

bool vault_limit_paused(VaultLimit *L) {
        return LOCKED_READ(&L->lock,
                           monotonic_usec() < L->gate.pause_until_usec || L->gate.probing);
}

uint64_t vault_limit_rate_limited(VaultLimit *L) {
        return LOCKED_READ(&L->lock, L->rate_limited);
}
