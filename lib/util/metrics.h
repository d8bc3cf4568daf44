/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - the daemon's counters, kept in one place for a metrics
 * endpoint to export later: refreshes, Vault calls by outcome, leases and
 * certificates, tokens, and the number of volumes whose secrets are stale.
 *
 * One Metrics object per daemon (main owns it); the publish path and the
 * refresh threads bump it. Every counter is a relaxed C11 atomic, so
 * bumping never blocks and never logs; metrics_snapshot() copies them (each
 * value is exact, the set is not one instant). Thread-safe.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a Vault call ended (from its last HTTP status, or no status at all). */
typedef enum MetricsVaultClass {
        METRICS_VAULT_2XX,
        METRICS_VAULT_3XX,
        METRICS_VAULT_4XX,       /* 4xx but 429 */
        METRICS_VAULT_429,
        METRICS_VAULT_5XX,       /* 5xx but 503 */
        METRICS_VAULT_503,
        METRICS_VAULT_TRANSPORT, /* no HTTP answer: refused, reset, timeout, TLS */
        _METRICS_VAULT_CLASS_MAX,
} MetricsVaultClass;

typedef enum MetricsCounter {
        METRICS_REFRESH_OK,        /* refreshes of a volume that succeeded */
        METRICS_REFRESH_FAILED,    /* ... that failed (the files were kept) */
        METRICS_REFRESH_DEFERRED,  /* postponed by the server-wide limits, no request made */
        METRICS_FILES_SWAPPED,     /* payload swaps by refreshes (changed content) */
        METRICS_UNCHANGED,         /* refreshed responses that changed nothing */
        METRICS_LEASES_ISSUED,     /* new leases (dynamic secrets fetched) */
        METRICS_LEASES_RENEWED,
        METRICS_LEASES_REVOKED,    /* explicitly, or with their token */
        METRICS_CERTS_ISSUED,
        METRICS_TOKENS_LOGIN,      /* Vault logins (publish and re-login) */
        METRICS_TOKENS_RENEWED,
        METRICS_TOKENS_REVOKED,
        METRICS_RETRIES,           /* extra HTTP attempts inside one call */
        _METRICS_COUNTER_MAX,
} MetricsCounter;

typedef struct Metrics {
        atomic_uint_fast64_t counters[_METRICS_COUNTER_MAX];
        atomic_uint_fast64_t vault_calls[_METRICS_VAULT_CLASS_MAX];
        atomic_int_fast64_t volumes_stale; /* gauge */
} Metrics;

typedef struct MetricsSnapshot {
        uint64_t counters[_METRICS_COUNTER_MAX];
        uint64_t vault_calls[_METRICS_VAULT_CLASS_MAX];
        uint64_t vault_calls_total;
        int64_t volumes_stale;
} MetricsSnapshot;

void metrics_init(Metrics *m);

/* NULL-safe: callers without metrics (unit tests) pass NULL. */
void metrics_add(Metrics *m, MetricsCounter c, uint64_t n);
static inline void metrics_inc(Metrics *m, MetricsCounter c) {
        metrics_add(m, c, 1);
}
/* One Vault call: `http_status` is the last status seen (0: none), `attempts`
 * the HTTP attempts it made (0 counts as 1). */
void metrics_vault_call(Metrics *m, long http_status, unsigned attempts);
void metrics_stale_add(Metrics *m, int delta);

MetricsVaultClass metrics_vault_class(long http_status);
const char *metrics_counter_name(MetricsCounter c);
const char *metrics_vault_class_name(MetricsVaultClass c);

void metrics_snapshot(const Metrics *m, MetricsSnapshot *ret);
/* "refresh_ok=3 refresh_failed=0 ... vault_2xx=12 ..." into buf; returns buf. */
const char *metrics_format(const MetricsSnapshot *s, char *buf, size_t len);
