/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault.h - the Vault (and OpenBao) client: kubernetes/jwt login, reads and
 * writes of any path, token and lease lifecycle, retries, one standby
 * redirect, and a per-volume request cache.
 *
 * Objects:
 *   VaultShared        - from a VaultConfig, once per daemon (per Vault server):
 *                        address, TLS trust, timeouts, retry policy, and the
 *                        http share handle (TLS sessions + DNS). Immutable and
 *                        thread-safe.
 *   VaultClient        - one per thread (each CSI worker, the refresh thread):
 *                        owns its curl handle and so its kept-alive connections.
 *   VaultToken         - a Vault token (in a Secret) with its accessor,
 *                        namespace, TTL and renewability. Not locked: the
 *                        token cache that shares one between threads holds
 *                        its own lock around vault_client_token_renew_self().
 *   VaultRequestCache  - per volume: identical (method, path, body) requests
 *                        are sent once, so a database username and password
 *                        read as two files come from one lease.
 *
 * Typical use:
 *
 *     VaultConfig cfg = VAULT_CONFIG_INIT;
 *     cfg.address = "https://vault.example:8200";
 *     r = vault_shared_new(&shared, &cfg, &err);          // at start-up
 *     if (vault_shared_tls_insecure(shared)) log_warning(...); // every start
 *     r = vault_client_new(&client, shared);              // per thread
 *     VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES, .role = "app",
 *                             .jwt = sa_token, .jwt_len = n };
 *     r = vault_client_login(client, &lp, &token, &err);
 *     VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app" };
 *     r = vault_request_cache_read(cache, client, token, &rq, &resp, &err);
 *     // resp->data, resp->lease_id ...
 *     if (r != 0) csi_status_set(&st, vault_error_to_csi_code(r), "...: %s", err.message);
 *
 * Leases die with the token that created them (vault-api-facts 5.1): keep
 * the login token alive with vault_client_token_renew_self() while dynamic
 * credentials are in use; vault_client_token_revoke_self() at unpublish also
 * revokes the token's leases.
 *
 * Return values: 0; a positive VAULT_E_* outcome (vault-json.h) with
 * VaultError filled; or -errno (-ENOMEM, -EINVAL for a programming error).
 *
 * Logging: debug level only, one line per HTTP attempt (method, Vault path,
 * status, attempt number, duration) and per retry decision; never a token,
 * JWT, header, request or response body.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "json.h"
#include "metrics.h"
#include "secret.h"
#include "vault-json.h"

#define VAULT_REQUEST_TIMEOUT_DEFAULT_MS 30000U
#define VAULT_TOTAL_TIMEOUT_DEFAULT_MS   60000U
#define VAULT_BACKOFF_BASE_DEFAULT_MS    1000U
#define VAULT_BACKOFF_MAX_DEFAULT_MS     15000U
#define VAULT_RETRY_AFTER_MAX_DEFAULT_MS 30000U
#define VAULT_MAX_RETRIES_DEFAULT        2U
#define VAULT_PATH_MAX                   4096
#define VAULT_NAMESPACE_MAX              256
#define VAULT_REQUEST_CACHE_MAX          256

typedef struct VaultConfig {
        const char *address;   /* https://host:port[/prefix] */
        bool allow_plain_http; /* node-admin opt-in for http:// */
        const char *ca_file;
        const char *ca_dir;
        const char *client_cert;
        const char *client_key;
        const char *tls_server_name;
        bool tls_skip_verify;        /* node-admin flag; the caller warns at every start */
        uint64_t connect_timeout_ms; /* per connection */
        uint64_t request_timeout_ms; /* per attempt */
        uint64_t total_timeout_ms;   /* one call: every attempt and every wait */
        unsigned max_retries;        /* attempts = 1 + max_retries */
        uint64_t backoff_base_ms;    /* first retry waits base/2..base, then doubling */
        uint64_t backoff_max_ms;     /* cap of one wait */
        uint64_t retry_after_max_ms; /* a longer Retry-After ends the retries */
        size_t max_response_size;    /* body cap (bytes) */
        bool disable_redirects;      /* do not follow the one standby redirect */
        HttpConnectionPolicy connection_policy; /* REUSE but for the benchmark */
        Metrics *metrics;                       /* every call counted here (NULL: not) */
        size_t metrics_server;                  /* ... as this server (index in Config order) */
} VaultConfig;

/* Start from this; zero timeouts/sizes also mean "default". */
#define VAULT_CONFIG_INIT                                                                          \
        {                                                                                          \
                .connect_timeout_ms = HTTP_CONNECT_TIMEOUT_DEFAULT_MS,                             \
                .request_timeout_ms = VAULT_REQUEST_TIMEOUT_DEFAULT_MS,                            \
                .total_timeout_ms = VAULT_TOTAL_TIMEOUT_DEFAULT_MS,                                \
                .max_retries = VAULT_MAX_RETRIES_DEFAULT,                                          \
                .backoff_base_ms = VAULT_BACKOFF_BASE_DEFAULT_MS,                                  \
                .backoff_max_ms = VAULT_BACKOFF_MAX_DEFAULT_MS,                                    \
                .retry_after_max_ms = VAULT_RETRY_AFTER_MAX_DEFAULT_MS,                            \
                .max_response_size = HTTP_RESPONSE_MAX_DEFAULT,                                    \
        }

typedef struct VaultShared VaultShared;
typedef struct VaultClient VaultClient;
typedef struct VaultToken VaultToken;
typedef struct VaultRequestCache VaultRequestCache;

typedef enum VaultAuthMethod {
        VAULT_AUTH_KUBERNETES,
        VAULT_AUTH_JWT,
        _VAULT_AUTH_MAX,
} VaultAuthMethod;

typedef struct VaultLoginParams {
        VaultAuthMethod method;
        const char *mount;  /* auth mount path; NULL → "kubernetes" / "jwt" */
        const char *role;   /* required for kubernetes; jwt may use default_role */
        const uint8_t *jwt; /* the service-account token (secret) */
        size_t jwt_len;
        const char *ns; /* Vault namespace or NULL; the token remembers it */
} VaultLoginParams;

typedef enum VaultMethod {
        VAULT_METHOD_GET,
        VAULT_METHOD_POST,
        VAULT_METHOD_PUT,
        VAULT_METHOD_DELETE,
        _VAULT_METHOD_MAX,
        _VAULT_METHOD_INVALID = -EINVAL,
} VaultMethod;

typedef struct VaultRequest {
        VaultMethod method;
        /* "secret/data/app?version=2"; a leading "/", "v1/" or "/v1/" is
         * accepted (vault-csi-provider's secretPath). */
        const char *path;
        const uint8_t *body; /* JSON object (secretArgs) or NULL; not sent with GET */
        size_t body_len;
} VaultRequest;

typedef struct VaultTokenInfo {
        int64_t ttl_sec; /* remaining */
        int64_t creation_ttl_sec;
        int64_t num_uses;
        bool renewable;
        bool orphan;
        char accessor[128];
        char type[16];
} VaultTokenInfo;

typedef struct VaultLease {
        int64_t duration_sec;
        bool renewable;
        bool capped; /* Vault warned (e.g. TTL capped by max_ttl) */
} VaultLease;

/* --- shared state and per-thread clients ---------------------------------- */

/* VAULT_E_CONFIG (err says what: plain http refused, bad CA/cert files...). */
int vault_shared_new(VaultShared **ret, const VaultConfig *cfg, VaultError *err);
VaultShared *vault_shared_free(VaultShared *s);
static inline void vault_shared_freep(VaultShared **s) {
        if (*s)
                *s = vault_shared_free(*s);
}
/* True when TLS verification is disabled (the caller logs a warning). */
bool vault_shared_tls_insecure(const VaultShared *s);
const char *vault_shared_address(const VaultShared *s);

int vault_client_new(VaultClient **ret, VaultShared *s);
VaultClient *vault_client_free(VaultClient *c);
static inline void vault_client_freep(VaultClient **c) {
        if (*c)
                *c = vault_client_free(*c);
}

/* --- tokens ----------------------------------------------------------------- */

/* Wraps an existing token (restored state, tests). */
int vault_token_new(const uint8_t *token, size_t len, const char *ns, VaultToken **ret);
VaultToken *vault_token_free(VaultToken *t);
static inline void vault_token_freep(VaultToken **t) {
        if (*t)
                *t = vault_token_free(*t);
}
const Secret *vault_token_secret(const VaultToken *t);
const char *vault_token_accessor(const VaultToken *t); /* NULL if unknown */
const char *vault_token_namespace(const VaultToken *t);
int64_t vault_token_ttl_sec(const VaultToken *t); /* as of the last login/renewal */
bool vault_token_renewable(const VaultToken *t);
/* CLOCK_REALTIME µs of the last login/renewal, and of the expiry then (0 = no TTL). */
uint64_t vault_token_issued_usec(const VaultToken *t);
uint64_t vault_token_expires_usec(const VaultToken *t);

/* --- calls ------------------------------------------------------------------ */

int vault_client_login(VaultClient *c, const VaultLoginParams *p, VaultToken **ret,
                       VaultError *err);
/* Any path. *ret holds status, data, lease and warnings. */
int vault_client_read(VaultClient *c, const VaultToken *t, const VaultRequest *req,
                      VaultResponse **ret, VaultError *err);

int vault_client_token_renew_self(VaultClient *c, VaultToken *t, uint64_t increment_sec,
                                  VaultError *err);
int vault_client_token_revoke_self(VaultClient *c, const VaultToken *t, VaultError *err);
int vault_client_token_lookup_self(VaultClient *c, const VaultToken *t, VaultTokenInfo *ret,
                                   VaultError *err);
int vault_client_lease_renew(VaultClient *c, const VaultToken *t, const char *lease_id,
                             uint64_t increment_sec, VaultLease *ret, VaultError *err);
int vault_client_lease_revoke(VaultClient *c, const VaultToken *t, const char *lease_id,
                              VaultError *err);

/* --- per-volume request cache ---------------------------------------------- */

int vault_request_cache_new(VaultRequestCache **ret);
VaultRequestCache *vault_request_cache_free(VaultRequestCache *cache);
static inline void vault_request_cache_freep(VaultRequestCache **c) {
        if (*c)
                *c = vault_request_cache_free(*c);
}
/* Like vault_client_read(), but answers a repeated (method, path, body) from
 * the cache. *ret is owned by the cache. Failures are not cached. */
int vault_request_cache_read(VaultRequestCache *cache, VaultClient *c, const VaultToken *t,
                             const VaultRequest *req, const VaultResponse **ret, VaultError *err);
size_t vault_request_cache_size(const VaultRequestCache *cache);
size_t vault_request_cache_hits(const VaultRequestCache *cache);

/* --- pure helpers (unit-tested) ---------------------------------------------- */

/* "get"/"GET"... → VaultMethod; -EINVAL otherwise. */
VaultMethod vault_method_from_string(const char *s);
const char *vault_method_to_string(VaultMethod m);
/*
 * A user's secret path → the URL path "/v1/<path>[?query]": leading "/" and
 * "v1/" dropped, "//" and a trailing "/" removed, unsafe bytes
 * percent-encoded. VAULT_E_BAD_REQUEST for empty paths, "." or ".."
 * components, control characters, or more than VAULT_PATH_MAX bytes.
 */
int vault_path_normalize(const char *path, char **ret, VaultError *err);
/* Wait before retry number `retry` (1-based): base·2^(retry-1) capped at max,
 * then jittered into its upper half by `random`. */
uint64_t vault_backoff_ms(uint64_t base_ms, uint64_t max_ms, unsigned retry, uint64_t random);
