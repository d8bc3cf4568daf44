/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - atomic counters and their snapshot (see metrics.h).
 */
#include <stdio.h>

#include "metrics.h"
#include "macro.h"

static const char *const counter_names[_METRICS_COUNTER_MAX] = {
        [METRICS_REFRESH_OK] = "refresh_ok",
        [METRICS_REFRESH_FAILED] = "refresh_failed",
        [METRICS_REFRESH_DEFERRED] = "refresh_deferred",
        [METRICS_FILES_SWAPPED] = "files_swapped",
        [METRICS_UNCHANGED] = "unchanged",
        [METRICS_LEASES_ISSUED] = "leases_issued",
        [METRICS_LEASES_RENEWED] = "leases_renewed",
        [METRICS_LEASES_REVOKED] = "leases_revoked",
        [METRICS_CERTS_ISSUED] = "certs_issued",
        [METRICS_TOKENS_LOGIN] = "tokens_login",
        [METRICS_TOKENS_RENEWED] = "tokens_renewed",
        [METRICS_TOKENS_REVOKED] = "tokens_revoked",
        [METRICS_RETRIES] = "vault_retries",
};

static const char *const class_names[_METRICS_VAULT_CLASS_MAX] = {
        [METRICS_VAULT_2XX] = "vault_2xx",
        [METRICS_VAULT_3XX] = "vault_3xx",
        [METRICS_VAULT_4XX] = "vault_4xx",
        [METRICS_VAULT_429] = "vault_429",
        [METRICS_VAULT_5XX] = "vault_5xx",
        [METRICS_VAULT_503] = "vault_503",
        [METRICS_VAULT_TRANSPORT] = "vault_transport_error",
};

void metrics_init(Metrics *m) {
        for (size_t i = 0; i < _METRICS_COUNTER_MAX; i++)
                atomic_init(&m->counters[i], 0);
        for (size_t i = 0; i < _METRICS_VAULT_CLASS_MAX; i++)
                atomic_init(&m->vault_calls[i], 0);
        atomic_init(&m->volumes_stale, 0);
}

void metrics_add(Metrics *m, MetricsCounter c, uint64_t n) {
        if (!m || c < 0 || c >= _METRICS_COUNTER_MAX)
                return;
        atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
}

MetricsVaultClass metrics_vault_class(long s) {
        if (s == 429)
                return METRICS_VAULT_429;
        if (s == 503)
                return METRICS_VAULT_503;
        if (s >= 200 && s < 300)
                return METRICS_VAULT_2XX;
        if (s >= 300 && s < 400)
                return METRICS_VAULT_3XX;
        if (s >= 400 && s < 500)
                return METRICS_VAULT_4XX;
        if (s >= 500 && s < 600)
                return METRICS_VAULT_5XX;
        return METRICS_VAULT_TRANSPORT;
}

void metrics_vault_call(Metrics *m, long http_status, unsigned attempts) {
        if (!m)
                return;
        atomic_fetch_add_explicit(&m->vault_calls[metrics_vault_class(http_status)], 1,
                                  memory_order_relaxed);
        if (attempts > 1)
                metrics_add(m, METRICS_RETRIES, attempts - 1);
}

void metrics_stale_add(Metrics *m, int delta) {
        if (!m || delta == 0)
                return;
        atomic_fetch_add_explicit(&m->volumes_stale, delta, memory_order_relaxed);
}

const char *metrics_counter_name(MetricsCounter c) {
        return c >= 0 && c < _METRICS_COUNTER_MAX ? counter_names[c] : "unknown";
}

const char *metrics_vault_class_name(MetricsVaultClass c) {
        return c >= 0 && c < _METRICS_VAULT_CLASS_MAX ? class_names[c] : "unknown";
}

void metrics_snapshot(const Metrics *m, MetricsSnapshot *ret) {
        *ret = (MetricsSnapshot){ 0 };
        if (!m)
                return;
        for (size_t i = 0; i < _METRICS_COUNTER_MAX; i++)
                ret->counters[i] = atomic_load_explicit(
                        (atomic_uint_fast64_t *)&m->counters[i], memory_order_relaxed);
        for (size_t i = 0; i < _METRICS_VAULT_CLASS_MAX; i++) {
                ret->vault_calls[i] = atomic_load_explicit(
                        (atomic_uint_fast64_t *)&m->vault_calls[i], memory_order_relaxed);
                ret->vault_calls_total += ret->vault_calls[i];
        }
        ret->volumes_stale = atomic_load_explicit((atomic_int_fast64_t *)&m->volumes_stale,
                                                  memory_order_relaxed);
}

const char *metrics_format(const MetricsSnapshot *s, char *buf, size_t len) {
        size_t n = 0;
        int k;

        if (len == 0)
                return buf;
        buf[0] = '\0';
#define APPEND(...)                                                                        \
        do {                                                                               \
                k = snprintf(buf + n, len - n, __VA_ARGS__);                               \
                if (k < 0 || (size_t)k >= len - n)                                         \
                        return buf;                                                        \
                n += (size_t)k;                                                            \
        } while (0)
        for (size_t i = 0; i < _METRICS_COUNTER_MAX; i++)
                APPEND("%s%s=%llu", n ? " " : "", counter_names[i],
                       (unsigned long long)s->counters[i]);
        APPEND(" vault_calls=%llu", (unsigned long long)s->vault_calls_total);
        for (size_t i = 0; i < _METRICS_VAULT_CLASS_MAX; i++)
                APPEND(" %s=%llu", class_names[i], (unsigned long long)s->vault_calls[i]);
        APPEND(" volumes_stale=%lld", (long long)s->volumes_stale);
#undef APPEND
        return buf;
}
