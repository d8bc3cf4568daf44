/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - atomic counters and their snapshot (see metrics.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void histogram_init(MetricsHistogram *h) {
        for (size_t i = 0; i <= METRICS_BUCKETS; i++)
                atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_usec, 0);
}

void metrics_init(Metrics *m) {
        for (size_t i = 0; i < _METRICS_COUNTER_MAX; i++)
                atomic_init(&m->counters[i], 0);
        for (size_t i = 0; i < _METRICS_VAULT_CLASS_MAX; i++)
                atomic_init(&m->vault_calls[i], 0);
        atomic_init(&m->volumes_stale, 0);
        for (size_t i = 0; i < METRICS_CSI_METHODS; i++) {
                for (size_t c = 0; c < METRICS_CSI_CODES; c++)
                        atomic_init(&m->csi_requests[i][c], 0);
                histogram_init(&m->csi_duration[i]);
        }
        m->servers = NULL;
        m->n_servers = 0;
        pthread_mutex_init(&m->volumes_lock, NULL);
        m->volumes = NULL;
        m->n_volumes = 0;
}

void metrics_done(Metrics *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_servers; i++)
                free(m->servers[i].name);
        free(m->servers);
        m->servers = NULL;
        m->n_servers = 0;
        for (size_t i = 0; i < m->n_volumes; i++)
                free(m->volumes[i].volume_id);
        free(m->volumes);
        m->volumes = NULL;
        m->n_volumes = 0;
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
                ret->counters[i] = atomic_load_explicit((atomic_uint_fast64_t *)&m->counters[i],
                                                        memory_order_relaxed);
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
#define APPEND(...)                                                                                \
        do {                                                                                       \
                k = snprintf(buf + n, len - n, __VA_ARGS__);                                       \
                if (k < 0 || (size_t)k >= len - n)                                                 \
                        return buf;                                                                \
                n += (size_t)k;                                                                    \
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

/* ---- labelled families ---- */

static const struct {
        const char *label;
        uint64_t usec;
} buckets[METRICS_BUCKETS] = {
        { "0.001", 1000 },  { "0.0025", 2500 }, { "0.005", 5000 },  { "0.01", 10000 },
        { "0.025", 25000 }, { "0.05", 50000 },  { "0.1", 100000 },  { "0.25", 250000 },
        { "0.5", 500000 },  { "1", 1000000 },   { "2.5", 2500000 }, { "5", 5000000 },
        { "10", 10000000 }, { "30", 30000000 },
};

/* CSI v1.12 Identity and Node methods, and kubelet's registration service. */
static const char *const csi_methods[METRICS_CSI_METHODS] = {
        "GetPluginInfo",
        "GetPluginCapabilities",
        "Probe",
        "NodeStageVolume",
        "NodeUnstageVolume",
        "NodePublishVolume",
        "NodeUnpublishVolume",
        "NodeGetVolumeStats",
        "NodeExpandVolume",
        "NodeGetCapabilities",
        "NodeGetInfo",
        "GetInfo",
        "NotifyRegistrationStatus",
        "unknown",
};

static const char *const op_names[_METRICS_OP_MAX] = {
        [METRICS_OP_LOGIN] = "login",           [METRICS_OP_READ] = "read",
        [METRICS_OP_WRITE] = "write",           [METRICS_OP_RENEW] = "renew",
        [METRICS_OP_RENEW_SELF] = "renew_self", [METRICS_OP_REVOKE] = "revoke",
        [METRICS_OP_LOOKUP] = "lookup",
};

static const char *const result_names[_METRICS_RESULT_MAX] = {
        [METRICS_RESULT_OK] = "ok",
        [METRICS_RESULT_DENIED] = "denied",
        [METRICS_RESULT_NOT_FOUND] = "not_found",
        [METRICS_RESULT_RATE_LIMITED] = "rate_limited",
        [METRICS_RESULT_UNAVAILABLE] = "unavailable",
        [METRICS_RESULT_ERROR] = "error",
};

static const char *const kind_names[_METRICS_KIND_MAX] = {
        [METRICS_KIND_KV] = "kv",
        [METRICS_KIND_LEASE] = "lease",
        [METRICS_KIND_PKI] = "pki",
        [METRICS_KIND_TOKEN] = "token",
};

static const char *const refresh_result_names[_METRICS_REFRESH_RESULT_MAX] = {
        [METRICS_REFRESH_RESULT_OK] = "ok",
        [METRICS_REFRESH_RESULT_FAILED] = "failed",
        [METRICS_REFRESH_RESULT_DEFERRED] = "deferred",
};

int metrics_set_servers(Metrics *m, const char *const *names, size_t n) {
        MetricsServer *s;

        if (!m)
                return 0;
        s = calloc(n ? n : 1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                for (size_t o = 0; o < _METRICS_OP_MAX; o++) {
                        for (size_t r = 0; r < _METRICS_RESULT_MAX; r++)
                                atomic_init(&s[i].requests[o][r], 0);
                        histogram_init(&s[i].duration[o]);
                }
                for (size_t k = 0; k < _METRICS_KIND_MAX; k++)
                        for (size_t r = 0; r < _METRICS_REFRESH_RESULT_MAX; r++)
                                atomic_init(&s[i].refreshes[k][r], 0);
                atomic_init(&s[i].rate_limited, 0);
                s[i].name = strdup(names[i] ? names[i] : "");
                if (!s[i].name) {
                        for (size_t j = 0; j < i; j++)
                                free(s[j].name);
                        free(s);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < m->n_servers; i++)
                free(m->servers[i].name);
        free(m->servers);
        m->servers = s;
        m->n_servers = n;
        return 0;
}

const char *metrics_bucket_label(size_t i) {
        return i < METRICS_BUCKETS ? buckets[i].label : "+Inf";
}

uint64_t metrics_bucket_usec(size_t i) {
        return i < METRICS_BUCKETS ? buckets[i].usec : UINT64_MAX;
}

void metrics_histogram_observe(MetricsHistogram *h, uint64_t usec) {
        size_t i = 0;
        while (i < METRICS_BUCKETS && usec > buckets[i].usec)
                i++;
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->sum_usec, usec, memory_order_relaxed);
}

size_t metrics_csi_method_index(const char *method) {
        for (size_t i = 0; method && i < METRICS_CSI_METHOD_UNKNOWN; i++)
                if (streq(csi_methods[i], method))
                        return i;
        return METRICS_CSI_METHOD_UNKNOWN;
}

const char *metrics_csi_method_name(size_t i) {
        return i < METRICS_CSI_METHODS ? csi_methods[i] : "unknown";
}

/* gRPC's status code names (the `code` label; grpc/status.h, in order). */
static const char *const csi_codes[METRICS_CSI_CODES] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
};

const char *metrics_csi_code_name(int code) {
        return code >= 0 && code < METRICS_CSI_CODES ? csi_codes[code] : "UNKNOWN";
}

void metrics_csi_request(Metrics *m, const char *method, int code, uint64_t usec) {
        size_t i;
        if (!m)
                return;
        i = metrics_csi_method_index(method);
        if (code < 0 || code >= METRICS_CSI_CODES)
                code = 2; /* UNKNOWN */
        atomic_fetch_add_explicit(&m->csi_requests[i][code], 1, memory_order_relaxed);
        metrics_histogram_observe(&m->csi_duration[i], usec);
}

const char *metrics_vault_op_name(size_t op) {
        return op < _METRICS_OP_MAX ? op_names[op] : "unknown";
}

const char *metrics_vault_result_name(size_t r) {
        return r < _METRICS_RESULT_MAX ? result_names[r] : "unknown";
}

const char *metrics_refresh_kind_name(size_t k) {
        return k < _METRICS_KIND_MAX ? kind_names[k] : "unknown";
}

const char *metrics_refresh_result_name(size_t r) {
        return r < _METRICS_REFRESH_RESULT_MAX ? refresh_result_names[r] : "unknown";
}

void metrics_vault_request(Metrics *m, size_t server, MetricsVaultOp op, MetricsVaultResult res,
                           uint64_t usec) {
        MetricsServer *s;
        if (!m || server >= m->n_servers || (int)op < 0 || op >= _METRICS_OP_MAX || (int)res < 0 ||
            res >= _METRICS_RESULT_MAX)
                return;
        s = &m->servers[server];
        atomic_fetch_add_explicit(&s->requests[op][res], 1, memory_order_relaxed);
        metrics_histogram_observe(&s->duration[op], usec);
}

void metrics_vault_rate_limited(Metrics *m, size_t server) {
        if (!m || server >= m->n_servers)
                return;
        atomic_fetch_add_explicit(&m->servers[server].rate_limited, 1, memory_order_relaxed);
}

void metrics_refresh(Metrics *m, size_t server, MetricsRefreshKind k, MetricsRefreshResult r) {
        if (!m || server >= m->n_servers || (int)k < 0 || k >= _METRICS_KIND_MAX || (int)r < 0 ||
            r >= _METRICS_REFRESH_RESULT_MAX)
                return;
        atomic_fetch_add_explicit(&m->servers[server].refreshes[k][r], 1, memory_order_relaxed);
}

static void copy_field(char *dst, size_t len, const char *src) {
        size_t n = strlen(strempty(src));
        n = MIN(n, len - 1);
        memcpy(dst, strempty(src), n);
        dst[n] = '\0';
}

/* Volumes lock held. */
static MetricsVolume *volume_find(Metrics *m, const char *volume_id) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (streq(m->volumes[i].volume_id, volume_id))
                        return &m->volumes[i];
        return NULL;
}

int metrics_volume_set(Metrics *m, const char *volume_id, const char *ns, const char *pod,
                       const char *uid) {
        MetricsVolume *v;
        int r = 0;

        if (!m || isempty(volume_id))
                return 0;
        pthread_mutex_lock(&m->volumes_lock);
        v = volume_find(m, volume_id);
        if (!v) {
                MetricsVolume *grown = realloc(m->volumes, (m->n_volumes + 1) * sizeof(*grown));
                char *id = strdup(volume_id);
                if (grown)
                        m->volumes = grown;
                if (!grown || !id) {
                        free(id);
                        r = -ENOMEM;
                        goto out;
                }
                v = &m->volumes[m->n_volumes++];
                *v = (MetricsVolume){ .volume_id = id };
        }
        copy_field(v->id.ns, sizeof(v->id.ns), ns);
        copy_field(v->id.pod, sizeof(v->id.pod), pod);
        copy_field(v->id.uid, sizeof(v->id.uid), uid);
out:
        pthread_mutex_unlock(&m->volumes_lock);
        return r;
}

void metrics_volume_forget(Metrics *m, const char *volume_id) {
        MetricsVolume *v;

        if (!m || isempty(volume_id))
                return;
        pthread_mutex_lock(&m->volumes_lock);
        v = volume_find(m, volume_id);
        if (v) {
                free(v->volume_id);
                *v = m->volumes[--m->n_volumes];
        }
        pthread_mutex_unlock(&m->volumes_lock);
}

int metrics_volume_get(Metrics *m, const char *volume_id, MetricsVolumeIdentity *ret) {
        const MetricsVolume *v;
        int r = -ENOENT;

        if (!m || isempty(volume_id))
                return -ENOENT;
        pthread_mutex_lock(&m->volumes_lock);
        v = volume_find(m, volume_id);
        if (v) {
                *ret = v->id;
                r = 0;
        }
        pthread_mutex_unlock(&m->volumes_lock);
        return r;
}

size_t metrics_volume_count(Metrics *m) {
        size_t n;
        if (!m)
                return 0;
        pthread_mutex_lock(&m->volumes_lock);
        n = m->n_volumes;
        pthread_mutex_unlock(&m->volumes_lock);
        return n;
}
