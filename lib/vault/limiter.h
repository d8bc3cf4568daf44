/* SPDX-License-Identifier: Apache-2.0 */
/*
 * limiter.h - how gently the daemon talks to one Vault server: the pure
 * pieces (a token bucket, the server-wide gate that pauses a server after a
 * 429 or 503) and the per-server limiter built from them, which the Vault
 * pool (vault-pool.h) keeps for every configured server.
 *
 * Refresh requests pass a concurrency slot, the gate and a bucket token;
 * publish requests pass the concurrency slot only (a first publish never
 * waits for the refresh rate). A 429 (with its Retry-After), a 503 or no
 * answer at all pauses refreshes to the server, doubling from the minimum;
 * after a pause one probe request goes first.
 *
 * The pure helpers take the time as an argument; VaultLimit is thread-safe.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vault-json.h"

/* Token bucket: `rate` tokens per second, at most `burst` stored. Integer
 * arithmetic in millionths of a token, so no rounding drift. */
typedef struct TokenBucket {
        uint64_t micro_tokens;
        uint64_t rate; /* tokens per second = millionths per µs */
        uint64_t burst;
        uint64_t last_usec;
} TokenBucket;
void token_bucket_init(TokenBucket *b, uint64_t rate, uint64_t burst, uint64_t now_usec);
/* Takes one token: 0, or (nothing taken) the µs until one is there. */
uint64_t token_bucket_take(TokenBucket *b, uint64_t now_usec);
/* The same, but only while `keep` whole tokens stay in the bucket after it
 * (else the µs until there are keep + 1). */
uint64_t token_bucket_take_keep(TokenBucket *b, uint64_t now_usec, uint64_t keep);

/* What a request to a server said about the server. */
typedef enum GateOutcome {
        GATE_OK,          /* an answer (any status but 429/503): the server copes */
        GATE_THROTTLED,   /* 429 */
        GATE_UNAVAILABLE, /* 503 (sealed, no leader) or no answer at all */
} GateOutcome;

/* The server-wide brake (one per Vault server). */
typedef struct ServerGate {
        uint64_t min_usec, max_usec;
        uint64_t step_usec; /* length of the next pause */
        uint64_t pause_until_usec;
        bool probing; /* after a pause: one request at a time until an answer */
        bool probe_in_flight;
        unsigned pauses; /* pauses so far */
} ServerGate;
#define SERVER_GATE_PROBE_WAIT_USEC (250ULL * 1000)
void server_gate_init(ServerGate *g, uint64_t min_usec, uint64_t max_usec);
/* 0 when a request may go now, else the µs to wait (pause, or a probe in flight). */
uint64_t server_gate_wait(const ServerGate *g, uint64_t now);
/* A request goes (after server_gate_wait() said 0). */
void server_gate_begin(ServerGate *g);
/* Its outcome; retry_after_sec < 0 when the answer had none. */
void server_gate_report(ServerGate *g, uint64_t now, GateOutcome o, int64_t retry_after_sec);

/* The outcome class of a finished Vault call (0 or VAULT_E_*, its VaultError). */
GateOutcome gate_outcome(int r, const VaultError *ve);

/* ---- one server's limiter ---- */

typedef struct VaultLimitConfig {
        uint64_t rate, burst;                        /* refresh requests per second, burst */
        uint64_t backoff_min_usec, backoff_max_usec; /* the gate's pauses */
        unsigned max_concurrency;  /* Vault calls in flight, publish and refresh */
        uint64_t defer_after_usec; /* a longer bucket wait defers instead */
} VaultLimitConfig;

typedef struct VaultLimit {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        TokenBucket bucket;
        ServerGate gate;
        unsigned in_flight;
        unsigned max;
        uint64_t defer_after_usec;
        uint64_t rate_limited;     /* 429 answers seen (monotonic count) */
        uint64_t reserve;          /* bucket tokens routine requests leave to critical ones */
        unsigned critical_waiting; /* critical requests waiting for a bucket token */
} VaultLimit;

/*
 * What a refresh request is for. Critical: it keeps a volume's credentials
 * valid (token renewal or login, lease renewal or replacement, a certificate
 * re-issue); it may take the bucket's last token and goes before routine
 * requests (KV re-reads, revocations), which leave `reserve` tokens (a
 * quarter of the burst) plus one per waiting critical request in the bucket.
 */
typedef enum VaultLimitClass {
        VAULT_LIMIT_ROUTINE,
        VAULT_LIMIT_CRITICAL,
} VaultLimitClass;

void vault_limit_init(VaultLimit *L, const VaultLimitConfig *cfg);
void vault_limit_done(VaultLimit *L);

/* Whether the caller gave up meanwhile (NULL: never). */
typedef bool (*VaultLimitCancelFn)(const void *userdata);

/*
 * A refresh request may go: a concurrency slot, the gate and a bucket token.
 * 0; -EAGAIN (the server is paused) or -EBUSY (the bucket is empty for
 * longer than defer_after) with *ret_wait µs: come back later; -ECANCELED.
 */
int vault_limit_acquire(VaultLimit *L, VaultLimitCancelFn cancelled, const void *userdata,
                        uint64_t *ret_wait);
/* The same for a request of class `cls` (vault_limit_acquire: critical). */
int vault_limit_acquire_class(VaultLimit *L, VaultLimitClass cls, VaultLimitCancelFn cancelled,
                              const void *userdata, uint64_t *ret_wait);
/* The request ended with (r, ve); report_ok: a success also ends a probe. */
void vault_limit_release(VaultLimit *L, int r, const VaultError *ve, bool report_ok);

/* A publish's Vault calls: a concurrency slot only, waiting at most
 * timeout_usec. 0 or -ETIMEDOUT. */
int vault_limit_enter(VaultLimit *L, uint64_t timeout_usec);
/* Gives the slot back; a 429/503/no-answer result also pauses refreshes. */
void vault_limit_leave(VaultLimit *L, int r, const VaultError *ve);

/* Whether refreshes to the server are paused (or wait for a probe to be
 * answered) now; 429s seen so far. */
bool vault_limit_paused(VaultLimit *L);
uint64_t vault_limit_rate_limited(VaultLimit *L);
