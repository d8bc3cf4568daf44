/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - the daemon's counters, kept in one place for the metrics
 * endpoint (lib/ops): refreshes, Vault calls by outcome, leases and
 * certificates, tokens, the number of volumes whose secrets are stale, and
 * the labelled families: CSI calls by method and code with their
 * durations, Vault requests by server, operation and result with their
 * durations, refreshes by server, kind and result, 429s per server, and the
 * pod each published volume belongs to.
 *
 * One Metrics object per daemon (main owns it); the gRPC edge, the Vault
 * client, the publish path and the refresh threads bump it. Every counter is
 * a relaxed C11 atomic, so bumping never blocks and never logs;
 * metrics_snapshot() copies them (each value is exact, the set is not one
 * instant). The per-volume identities have their own mutex, held only to
 * copy a few short strings (never across I/O). Thread-safe.
 *
 * Labels are fixed small sets (methods, codes, operations, results, kinds)
 * or names the node admin configured (Vault servers), never a path, token
 * or secret.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a Vault call ended (from its last HTTP status, or no status at all). */
typedef enum MetricsVaultClass {
        METRICS_VAULT_2XX,
        METRICS_VAULT_3XX,
        METRICS_VAULT_4XX, /* 4xx but 429 */
        METRICS_VAULT_429,
        METRICS_VAULT_5XX, /* 5xx but 503 */
        METRICS_VAULT_503,
        METRICS_VAULT_TRANSPORT, /* no HTTP answer: refused, reset, timeout, TLS */
        _METRICS_VAULT_CLASS_MAX,
} MetricsVaultClass;

typedef enum MetricsCounter {
        METRICS_REFRESH_OK,       /* refreshes of a volume that succeeded */
        METRICS_REFRESH_FAILED,   /* ... that failed (the files were kept) */
        METRICS_REFRESH_DEFERRED, /* postponed by the server-wide limits, no request made */
        METRICS_FILES_SWAPPED,    /* payload swaps by refreshes (changed content) */
        METRICS_UNCHANGED,        /* refreshed responses that changed nothing */
        METRICS_LEASES_ISSUED,    /* new leases (dynamic secrets fetched) */
        METRICS_LEASES_RENEWED,
        METRICS_LEASES_REVOKED, /* explicitly, or with their token */
        METRICS_CERTS_ISSUED,
        METRICS_TOKENS_LOGIN, /* Vault logins (publish and re-login) */
        METRICS_TOKENS_RENEWED,
        METRICS_TOKENS_REVOKED,
        METRICS_RETRIES, /* extra HTTP attempts inside one call */
        _METRICS_COUNTER_MAX,
} MetricsCounter;

/* ---- labelled families ---- */

/* Histogram buckets: upper bounds from 1 ms to 30 s, plus one above 30 s. */
#define METRICS_BUCKETS 14
typedef struct MetricsHistogram {
        atomic_uint_fast64_t buckets[METRICS_BUCKETS + 1]; /* not cumulative */
        atomic_uint_fast64_t sum_usec;
} MetricsHistogram;

/* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED), as CSI answers use them. */
#define METRICS_CSI_CODES 17

/* The CSI methods we serve (Identity, Node, kubelet registration); anything
 * else counts as "unknown", so the label stays a small fixed set. */
#define METRICS_CSI_METHODS        14
#define METRICS_CSI_METHOD_UNKNOWN (METRICS_CSI_METHODS - 1)

typedef enum MetricsVaultOp {
        METRICS_OP_LOGIN,
        METRICS_OP_READ,       /* GET of a secret path */
        METRICS_OP_WRITE,      /* POST/PUT of a secret path (PKI issue, secretArgs) */
        METRICS_OP_RENEW,      /* sys/leases/renew */
        METRICS_OP_RENEW_SELF, /* auth/token/renew-self */
        METRICS_OP_REVOKE,     /* auth/token/revoke-self, sys/leases/revoke */
        METRICS_OP_LOOKUP,     /* auth/token/lookup-self */
        _METRICS_OP_MAX,
} MetricsVaultOp;

typedef enum MetricsVaultResult {
        METRICS_RESULT_OK,
        METRICS_RESULT_DENIED,       /* 403, or a rejected login */
        METRICS_RESULT_NOT_FOUND,    /* 404 */
        METRICS_RESULT_RATE_LIMITED, /* 429 */
        METRICS_RESULT_UNAVAILABLE,  /* no answer, 5xx, sealed, timeout */
        METRICS_RESULT_ERROR,        /* anything else (bad request, TLS, protocol...) */
        _METRICS_RESULT_MAX,
} MetricsVaultResult;

typedef enum MetricsRefreshKind {
        METRICS_KIND_KV,
        METRICS_KIND_LEASE,
        METRICS_KIND_PKI,
        METRICS_KIND_TOKEN,
        _METRICS_KIND_MAX,
} MetricsRefreshKind;

typedef enum MetricsRefreshResult {
        METRICS_REFRESH_RESULT_OK,
        METRICS_REFRESH_RESULT_FAILED,
        METRICS_REFRESH_RESULT_DEFERRED, /* held back by the server-wide limits */
        _METRICS_REFRESH_RESULT_MAX,
} MetricsRefreshResult;

/* Per Vault server (index: the Config's vault_servers order). */
typedef struct MetricsServer {
        char *name;
        atomic_uint_fast64_t requests[_METRICS_OP_MAX][_METRICS_RESULT_MAX];
        MetricsHistogram duration[_METRICS_OP_MAX];
        atomic_uint_fast64_t refreshes[_METRICS_KIND_MAX][_METRICS_REFRESH_RESULT_MAX];
        atomic_uint_fast64_t rate_limited; /* 429 answers, retried ones included */
} MetricsServer;

/* The pod a published volume belongs to (labels of its series). */
#define METRICS_POD_FIELD_MAX 254
typedef struct MetricsVolumeIdentity {
        char ns[METRICS_POD_FIELD_MAX];
        char pod[METRICS_POD_FIELD_MAX];
        char uid[64];
} MetricsVolumeIdentity;

typedef struct MetricsVolume {
        char *volume_id;
        MetricsVolumeIdentity id;
} MetricsVolume;

typedef struct Metrics {
        atomic_uint_fast64_t counters[_METRICS_COUNTER_MAX];
        atomic_uint_fast64_t vault_calls[_METRICS_VAULT_CLASS_MAX];
        atomic_int_fast64_t volumes_stale; /* gauge */

        atomic_uint_fast64_t csi_requests[METRICS_CSI_METHODS][METRICS_CSI_CODES];
        MetricsHistogram csi_duration[METRICS_CSI_METHODS];
        MetricsServer *servers; /* set once at start-up (metrics_set_servers) */
        size_t n_servers;
        pthread_mutex_t volumes_lock;
        MetricsVolume *volumes;
        size_t n_volumes;
} Metrics;

typedef struct MetricsSnapshot {
        uint64_t counters[_METRICS_COUNTER_MAX];
        uint64_t vault_calls[_METRICS_VAULT_CLASS_MAX];
        uint64_t vault_calls_total;
        int64_t volumes_stale;
} MetricsSnapshot;

void metrics_init(Metrics *m);
/* Frees the servers and volume identities (metrics_init() state again). */
void metrics_done(Metrics *m);

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

/* ---- labelled families ---- */

/* The Vault servers, in Config order; at start-up, before any thread. -ENOMEM. */
int metrics_set_servers(Metrics *m, const char *const *names, size_t n);

/* The bucket bounds: "0.001" ... "30" (the `le` label) and in µs. */
const char *metrics_bucket_label(size_t i);
uint64_t metrics_bucket_usec(size_t i);
void metrics_histogram_observe(MetricsHistogram *h, uint64_t usec);

/* "NodePublishVolume" → its index; anything else → METRICS_CSI_METHOD_UNKNOWN. */
size_t metrics_csi_method_index(const char *method);
const char *metrics_csi_method_name(size_t i);
/* One CSI call ended with gRPC code `code` after `usec` (a code out of
 * range counts as 2, UNKNOWN). NULL-safe. */
void metrics_csi_request(Metrics *m, const char *method, int code, uint64_t usec);
/* "OK", "INVALID_ARGUMENT", ... (the `code` label); "UNKNOWN" out of range. */
const char *metrics_csi_code_name(int code);

/* The label values of a MetricsVaultOp, MetricsVaultResult, MetricsRefreshKind and
 * MetricsRefreshResult (by index, like metrics_csi_method_name); "unknown" out of range. */
const char *metrics_vault_op_name(size_t op);
const char *metrics_vault_result_name(size_t r);
const char *metrics_refresh_kind_name(size_t k);
const char *metrics_refresh_result_name(size_t r);

/* One Vault call to server `server` ended; NULL-safe, unknown servers ignored. */
void metrics_vault_request(Metrics *m, size_t server, MetricsVaultOp op, MetricsVaultResult res,
                           uint64_t usec);
/* One 429 answer from the server (also one that was retried). */
void metrics_vault_rate_limited(Metrics *m, size_t server);
/* One refresh step of a secret (or of the volume's token) ended. */
void metrics_refresh(Metrics *m, size_t server, MetricsRefreshKind k, MetricsRefreshResult r);

/*
 * The pod a volume belongs to: set after a successful publish (and for the
 * volumes recovered at start-up), forgotten after its unpublish. NULL or
 * empty fields are kept empty; longer ones are cut. 0 or -ENOMEM.
 */
int metrics_volume_set(Metrics *m, const char *volume_id, const char *ns, const char *pod,
                       const char *uid);
void metrics_volume_forget(Metrics *m, const char *volume_id);
/* A copy of the volume's identity: 0 or -ENOENT. */
int metrics_volume_get(Metrics *m, const char *volume_id, MetricsVolumeIdentity *ret);
size_t metrics_volume_count(Metrics *m);
