/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault.c - the I/O half of the Vault client: request building, the retry
 * and redirect policy, login, reads, token and lease lifecycle, and the
 * per-volume request cache. Parsing and classification are in vault-json.c.
 *
 * Retry policy (vault-api-facts 8, the Go client's DefaultRetryPolicy):
 * network errors and timeouts, 412, 429 and every 5xx but 501 are retried,
 * up to max_retries times, all within total_timeout_ms. The wait is a
 * jittered exponential backoff, or the server's Retry-After when it sent
 * one (a Retry-After beyond retry_after_max_ms or the remaining budget ends
 * the retries at once rather than sleeping past the deadline). TLS
 * verification failures, 4xx and 501 are never retried.
 *
 * Two things an "attempt" count does not show: libcurl itself re-sends a
 * request once, on a new connection, when a kept-alive connection turns out
 * to be closed before any byte of the answer (an idle close by the server);
 * and, like the Go client, we retry POST/PUT too, so a 5xx after Vault did
 * the work (database/creds, pki/issue) can mint a second credential. The
 * per-volume request cache keeps that from happening on the success path.
 *
 * Redirects: a standby answers 307 + Location (facts 1.6). One redirect is
 * followed per call, with the same method, headers and body, never from
 * https to http; a second one is a protocol error.
 *
 * Headers on every call: X-Vault-Request: true; X-Vault-Namespace when the
 * token (or login) has one; X-Vault-Token except for logins. The token
 * header line is prebuilt in a Secret at token creation.
 *
 * Logs at debug only; never a token, JWT, header or body.
 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "vault-echo.h"
#include "vault.h"
#include "vault-metrics.h"
#include "macro.h"

#define TOKEN_HEADER "X-Vault-Token: "
#define HEADERS_MAX  2
#define LEASE_ID_MAX 1024
#define MOUNT_MAX    256

struct VaultShared {
        HttpShared *http;
        uint64_t request_timeout_ms;
        uint64_t total_timeout_ms;
        unsigned max_retries;
        uint64_t backoff_base_ms;
        uint64_t backoff_max_ms;
        uint64_t retry_after_max_ms;
        bool disable_redirects;
        Metrics *metrics;
        size_t metrics_server;
};

struct VaultClient {
        VaultShared *shared;
        HttpClient *http;
        uint64_t rng; /* xorshift64* state for backoff jitter */
};

struct VaultToken {
        Secret *token;
        Secret *header; /* "X-Vault-Token: <token>" */
        char *accessor;
        char *ns;
        int64_t ttl_sec;
        bool renewable;
        uint64_t issued_usec;
};

typedef struct CacheEntry {
        VaultMethod method;
        char *path;   /* normalised URL path */
        Secret *body; /* NULL when none */
        VaultResponse *resp;
} CacheEntry;

struct VaultRequestCache {
        CacheEntry entries[VAULT_REQUEST_CACHE_MAX];
        size_t n;
        size_t hits;
};

/* --- pure helpers -------------------------------------------------------- */

static HttpMethod to_http_method(VaultMethod m) {
        switch (m) {
        case VAULT_METHOD_POST:
                return HTTP_METHOD_POST;
        case VAULT_METHOD_PUT:
                return HTTP_METHOD_PUT;
        case VAULT_METHOD_DELETE:
                return HTTP_METHOD_DELETE;
        default:
                return HTTP_METHOD_GET;
        }
}

/* The HTTP method's name (one table of names, in http.c). */
const char *vault_method_to_string(VaultMethod m) {
        return (unsigned)m < _VAULT_METHOD_MAX ? http_method_to_string(to_http_method(m)) : "?";
}

VaultMethod vault_method_from_string(const char *s) {
        if (!s)
                return _VAULT_METHOD_INVALID;
        for (int m = 0; m < _VAULT_METHOD_MAX; m++)
                if (strcasecmp(s, vault_method_to_string((VaultMethod)m)) == 0)
                        return (VaultMethod)m;
        return _VAULT_METHOD_INVALID;
}

uint64_t vault_backoff_ms(uint64_t base_ms, uint64_t max_ms, unsigned retry, uint64_t random) {
        uint64_t d = base_ms, half;

        if (retry == 0)
                retry = 1;
        for (unsigned i = 1; i < retry && d < max_ms; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        d = MIN(d, max_ms);
        /* "Equal jitter": half fixed, half random, so waits never collapse to 0
         * and concurrent clients spread out. */
        half = d / 2;
        return d - half + (half > 0 ? random % (half + 1) : 0);
}

static bool header_value_valid(const char *s, size_t max) {
        return vault_header_value_valid(s, strlen(s), max);
}

/* --- shared and clients ------------------------------------------------------ */

static int http_to_vault_code(int code) {
        switch (code) {
        case HTTP_E_TLS:
                return VAULT_E_TLS;
        case HTTP_E_TOO_LARGE:
                return VAULT_E_TOO_LARGE;
        case HTTP_E_PROTOCOL:
        case HTTP_E_TRUNCATED:
                return VAULT_E_PROTOCOL;
        case HTTP_E_CONFIG:
                return VAULT_E_CONFIG;
        default:
                return VAULT_E_UNAVAILABLE;
        }
}

/**
 * vault_shared_new() - validates the configuration and builds shared state.
 * @ret: the new object.
 * @cfg: configuration (strings copied); start from VAULT_CONFIG_INIT.
 * @err: filled on failure.
 *
 * Return: 0, VAULT_E_CONFIG (message says what is wrong), -ENOMEM.
 * Locking: none; call once at start-up, after http_global_init().
 */
int vault_shared_new(VaultShared **ret, const VaultConfig *cfg, VaultError *err) {
        _cleanup_(vault_shared_freep) VaultShared *s = NULL;
        HttpConfig hc = { 0 };
        HttpError herr = { 0 };
        int r;

        if (!ret || !cfg)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->request_timeout_ms = cfg->request_timeout_ms ?: VAULT_REQUEST_TIMEOUT_DEFAULT_MS;
        s->total_timeout_ms = cfg->total_timeout_ms ?: VAULT_TOTAL_TIMEOUT_DEFAULT_MS;
        s->max_retries = MIN(cfg->max_retries, 10U);
        s->backoff_base_ms = cfg->backoff_base_ms ?: VAULT_BACKOFF_BASE_DEFAULT_MS;
        s->backoff_max_ms = cfg->backoff_max_ms ?: VAULT_BACKOFF_MAX_DEFAULT_MS;
        s->retry_after_max_ms = cfg->retry_after_max_ms ?: VAULT_RETRY_AFTER_MAX_DEFAULT_MS;
        s->disable_redirects = cfg->disable_redirects;
        s->metrics = cfg->metrics;
        s->metrics_server = cfg->metrics_server;

        hc.address = cfg->address;
        hc.allow_plain_http = cfg->allow_plain_http;
        hc.tls = (HttpTlsConfig){
                .ca_file = cfg->ca_file,
                .ca_dir = cfg->ca_dir,
                .client_cert = cfg->client_cert,
                .client_key = cfg->client_key,
                .server_name = cfg->tls_server_name,
                .insecure_skip_verify = cfg->tls_skip_verify,
        };
        hc.connect_timeout_ms = cfg->connect_timeout_ms;
        hc.max_response_size = cfg->max_response_size;
        hc.connection_policy = cfg->connection_policy;
        r = http_shared_new(&s->http, &hc, &herr);
        if (r < 0)
                return r;
        if (r > 0)
                return vault_error_set(err, http_to_vault_code(r), 0, "%s", herr.message);

        *ret = TAKE_PTR(s);
        return 0;
}

VaultShared *vault_shared_free(VaultShared *s) {
        if (!s)
                return NULL;
        http_shared_free(s->http);
        free(s);
        return NULL;
}

bool vault_shared_tls_insecure(const VaultShared *s) {
        return s && http_shared_tls_insecure(s->http);
}

const char *vault_shared_address(const VaultShared *s) {
        return s ? http_shared_address(s->http) : NULL;
}

int vault_client_new(VaultClient **ret, VaultShared *s) {
        _cleanup_(vault_client_freep) VaultClient *c = NULL;
        int r;

        if (!ret || !s)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->shared = s;
        r = http_client_new(&c->http, s->http);
        if (r < 0)
                return r;
        if (getrandom(&c->rng, sizeof(c->rng), GRND_NONBLOCK) != sizeof(c->rng))
                c->rng = monotonic_usec() ^ (uintptr_t)c;
        c->rng |= 1;
        *ret = TAKE_PTR(c);
        return 0;
}

VaultClient *vault_client_free(VaultClient *c) {
        if (!c)
                return NULL;
        http_client_free(c->http);
        free(c);
        return NULL;
}

static uint64_t client_random(VaultClient *c) {
        /* xorshift64*: jitter only, not security relevant. */
        c->rng ^= c->rng >> 12;
        c->rng ^= c->rng << 25;
        c->rng ^= c->rng >> 27;
        return c->rng * 0x2545F4914F6CDD1DULL;
}

/* --- tokens ------------------------------------------------------------------ */

static int token_build(const uint8_t *tok, size_t len, const char *ns, VaultToken **ret) {
        _cleanup_(vault_token_freep) VaultToken *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        r = secret_new_from(&t->token, tok, len);
        if (r < 0)
                return r;
        r = secret_new(&t->header, sizeof(TOKEN_HEADER) + len);
        if (r < 0)
                return r;
        r = secret_append_str(t->header, TOKEN_HEADER);
        if (r >= 0)
                r = secret_append(t->header, tok, len);
        if (r < 0)
                return r;
        if (!isempty(ns)) {
                t->ns = strdup(ns);
                if (!t->ns)
                        return -ENOMEM;
        }
        t->issued_usec = realtime_usec();
        *ret = TAKE_PTR(t);
        return 0;
}

int vault_token_new(const uint8_t *token, size_t len, const char *ns, VaultToken **ret) {
        if (!token || !ret || !vault_header_value_valid(token, len, VAULT_TOKEN_MAX))
                return -EINVAL;
        if (!isempty(ns) && !header_value_valid(ns, VAULT_NAMESPACE_MAX))
                return -EINVAL;
        return token_build(token, len, ns, ret);
}

VaultToken *vault_token_free(VaultToken *t) {
        if (!t)
                return NULL;
        secret_free(t->token);
        secret_free(t->header);
        free(t->accessor);
        free(t->ns);
        free(t);
        return NULL;
}

const Secret *vault_token_secret(const VaultToken *t) {
        return t ? t->token : NULL;
}

const char *vault_token_accessor(const VaultToken *t) {
        return t ? t->accessor : NULL;
}

const char *vault_token_namespace(const VaultToken *t) {
        return t ? t->ns : NULL;
}

int64_t vault_token_ttl_sec(const VaultToken *t) {
        return t ? t->ttl_sec : 0;
}

bool vault_token_renewable(const VaultToken *t) {
        return t && t->renewable;
}

uint64_t vault_token_issued_usec(const VaultToken *t) {
        return t ? t->issued_usec : 0;
}

uint64_t vault_token_expires_usec(const VaultToken *t) {
        if (!t || t->ttl_sec <= 0)
                return 0;
        return t->issued_usec + (uint64_t)t->ttl_sec * 1000000U;
}

/* --- the call engine ------------------------------------------------------------- */

typedef struct Call {
        VaultOp op;
        VaultMethod method;
        const char *url_path;    /* "/v1/..." */
        const Secret *body;      /* or NULL */
        const VaultToken *token; /* NULL for logins */
        const char *ns;          /* namespace for this call or NULL */
} Call;

/* A retry's wait; cut short at shutdown (http_abort_all), and the next
 * attempt then fails at once. */
static void sleep_ms(uint64_t ms) {
        (void)http_sleep_ms(ms);
}

/* The Vault path as logged: the URL path without "/v1/". */
static const char *log_path(const char *url_path) {
        return strncmp(url_path, "/v1/", 4) == 0 ? url_path + 4 : url_path;
}

static bool want_retry(const Call *call, const VaultResponse *resp) {
        if (!vault_status_retryable(resp->status))
                return false;
        /* Older kubernetes auth plugins reject with a 500: final, not transient. */
        if ((call->op == VAULT_OP_LOGIN_KUBERNETES || call->op == VAULT_OP_LOGIN_JWT) &&
            resp->status == 500 && resp->errors_text && strstr(resp->errors_text, "not authorized"))
                return false;
        return true;
}

/*
 * Decides the wait before the next retry. Returns false when retrying would
 * not fit: no retries left, Retry-After too long, or no time left.
 */
static bool plan_retry(VaultClient *c, unsigned retries_used, int64_t retry_after_sec,
                       uint64_t deadline_usec, uint64_t *ret_wait_ms, char *why, size_t whylen) {
        const VaultShared *s = c->shared;
        uint64_t now = monotonic_usec(), wait;

        if (retries_used >= s->max_retries)
                return false; /* the usual end: no note needed */
        if (retry_after_sec >= 0) {
                uint64_t ra = (uint64_t)retry_after_sec;
                if (ra > s->retry_after_max_ms / 1000) {
                        (void)snprintf(why, whylen, "Vault asked to retry after %" PRIu64 " s", ra);
                        return false;
                }
                wait = ra * 1000;
        } else
                wait = vault_backoff_ms(s->backoff_base_ms, s->backoff_max_ms, retries_used + 1,
                                        client_random(c));
        if (retry_after_sec < 0 && wait >= s->total_timeout_ms) {
                /* a client that never retries (the refresh one): no budget was spent */
                (void)snprintf(why, whylen,
                               "refresh requests are retried by the refresh "
                               "schedule, not by the client");
                return false;
        }
        if (now + wait * 1000 >= deadline_usec) {
                (void)snprintf(why, whylen, "the %" PRIu64 " ms time budget is spent",
                               s->total_timeout_ms);
                return false;
        }
        *ret_wait_ms = wait;
        return true;
}

/* Notes the attempts and why retrying stopped at the end of err's message
 * (also after one attempt when a retry was refused, e.g. a long Retry-After). */
static void call_fail_suffix(VaultError *err, unsigned attempts, const char *why) {
        size_t n;

        if (!err || (attempts <= 1 && isempty(why)))
                return;
        n = strlen(err->message);
        if (attempts > 1)
                (void)snprintf(err->message + n, sizeof(err->message) - n, " [%u attempts; %s]",
                               attempts, isempty(why) ? "no retries left" : why);
        else
                (void)snprintf(err->message + n, sizeof(err->message) - n, " [not retried: %s]",
                               why);
}

/* One Vault call's state across its attempts. */
typedef struct Attempts {
        VaultClient *c;
        const Call *call;
        char *url;       /* the address's URL, or where a redirect pointed */
        char *ns_header; /* "X-Vault-Namespace: …" or NULL */
        const char *headers[HEADERS_MAX];
        size_t n_headers;
        uint64_t deadline;
        unsigned attempts, retries;
        bool redirected;
        const char *method; /* for the logs */
        const char *path;
        char why[96]; /* why retrying stopped, when not for want of retries */
} Attempts;

static void attempts_done(Attempts *a) {
        free(a->url);
        free(a->ns_header);
        a->url = a->ns_header = NULL;
}

/* The URL, the headers and the deadline of a call's first attempt. */
static int attempts_init(Attempts *a, VaultClient *c, const Call *call) {
        const VaultShared *s = c->shared;

        *a = (Attempts){
                .c = c,
                .call = call,
                .method = vault_method_to_string(call->method),
                .path = log_path(call->url_path),
        };
        if (asprintf(&a->url, "%s%s", http_shared_address(s->http), call->url_path) < 0) {
                a->url = NULL;
                return -ENOMEM;
        }
        a->headers[a->n_headers++] = "X-Vault-Request: true";
        if (call->ns) {
                if (asprintf(&a->ns_header, "X-Vault-Namespace: %s", call->ns) < 0) {
                        a->ns_header = NULL;
                        return -ENOMEM;
                }
                a->headers[a->n_headers++] = a->ns_header;
        }
        a->deadline = monotonic_usec() + s->total_timeout_ms * 1000;
        return 0;
}

/* Waits before the next attempt, counted as a retry. */
static void retry_wait(Attempts *a, uint64_t wait_ms) {
        sleep_ms(wait_ms);
        a->retries++;
}

/* No response arrived (HTTP_E_* in @code): retried when transient and it still fits. */
static int transport_failed(Attempts *a, int code, const HttpError *herr, VaultError *err,
                            bool *again) {
        uint64_t wait_ms = 0;

        log_debug("vault: %s %s failed on attempt %u: %s", a->method, a->path, a->attempts,
                  herr->message);
        vault_error_set(err, http_to_vault_code(code), 0, "%s", herr->message);
        if (herr->retryable &&
            plan_retry(a->c, a->retries, -1, a->deadline, &wait_ms, a->why, sizeof(a->why))) {
                log_debug("vault: retrying %s %s in %" PRIu64 " ms", a->method, a->path, wait_ms);
                retry_wait(a, wait_ms);
                *again = true;
                return 0;
        }
        if (herr->retryable)
                call_fail_suffix(err, a->attempts, a->why);
        return http_to_vault_code(code);
}

/* A 3xx with a Location: followed once, never from https to http. */
static int follow_redirect(Attempts *a, HttpResponse *hresp, VaultError *err, bool *again) {
        HttpError herr = { 0 };
        int r;

        if (a->redirected) {
                http_response_done(hresp);
                return vault_error_set(err, VAULT_E_PROTOCOL, 0, "Vault redirected more than once");
        }
        r = http_shared_check_redirect(a->c->shared->http, a->url, hresp->location, &herr);
        if (r != 0) {
                http_response_done(hresp);
                return r < 0 ? r
                             : vault_error_set(err, VAULT_E_PROTOCOL, hresp->status, "%s",
                                               herr.message);
        }
        log_debug("vault: %s %s redirected (HTTP %ld) to another node", a->method, a->path,
                  hresp->status);
        free(a->url);
        a->url = TAKE_PTR(hresp->location);
        a->redirected = true;
        http_response_done(hresp);
        *again = true;
        return 0;
}

/* A response arrived: parsed, then retried, refused or handed out. */
static int response_arrived(Attempts *a, HttpResponse *hresp, VaultResponse **ret, VaultError *err,
                            bool *again) {
        const VaultShared *s = a->c->shared;
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        uint64_t wait_ms = 0;
        int64_t retry_after;
        const uint8_t *body;
        size_t body_len;
        int r;

        if (hresp->status == 429)
                metrics_vault_rate_limited(s->metrics, s->metrics_server);
        retry_after = hresp->retry_after_sec;
        body = secret_get(hresp->body, &body_len);
        r = vault_response_parse(hresp->status, body, body_len, &resp, err);
        http_response_done(hresp);
        if (r == 0) /* issue 14: Vault's text never quotes what we sent */
                r = vault_response_strip_echoes(resp, a->call->url_path, a->call->body);
        if (r != 0)
                return r;

        if (want_retry(a->call, resp) && plan_retry(a->c, a->retries, retry_after, a->deadline,
                                                    &wait_ms, a->why, sizeof(a->why))) {
                log_debug("vault: retrying %s %s in %" PRIu64 " ms (HTTP %ld%s)", a->method,
                          a->path, wait_ms, resp->status,
                          retry_after >= 0 ? ", as Retry-After asked" : "");
                retry_wait(a, wait_ms);
                *again = true;
                return 0;
        }

        r = vault_response_check(resp, a->call->op, err);
        if (r != 0 && err && retry_after >= 0) {
                err->has_retry_after = true;
                err->retry_after_sec = retry_after;
        }
        if (r != 0) {
                if (vault_status_retryable(resp->status))
                        call_fail_suffix(err, a->attempts, a->why);
                return r;
        }
        *ret = TAKE_PTR(resp);
        return 0;
}

/* One attempt of a call; *@again tells whether another one follows. */
static int attempt(Attempts *a, VaultResponse **ret, VaultError *err, bool *again) {
        const VaultShared *s = a->c->shared;
        HttpRequest hreq = {
                .method = to_http_method(a->call->method),
                .url = a->url,
                .headers = a->headers,
                .n_headers = a->n_headers,
                .secret_header = a->call->token ? a->call->token->header : NULL,
                .body = a->call->body,
        };
        HttpResponse hresp = HTTP_RESPONSE_INIT;
        HttpError herr = { 0 };
        uint64_t now = monotonic_usec();
        int r;

        *again = false;
        if (now >= a->deadline) {
                vault_error_set(err, VAULT_E_UNAVAILABLE, 0,
                                "Vault call timed out after %" PRIu64 " ms", s->total_timeout_ms);
                return err ? err->code : VAULT_E_UNAVAILABLE;
        }
        hreq.timeout_ms = MIN(s->request_timeout_ms, (a->deadline - now + 999) / 1000);
        a->attempts++;
        if (err)
                err->attempts = a->attempts;

        r = http_client_perform(a->c->http, &hreq, &hresp, &herr);
        if (r < 0)
                return r;
        if (r > 0)
                return transport_failed(a, r, &herr, err, again);

        log_debug("vault: %s %s -> HTTP %ld (attempt %u, %" PRIu64 " ms%s)", a->method, a->path,
                  hresp.status, a->attempts, hresp.duration_usec / 1000,
                  hresp.new_connection ? ", new connection" : "");

        if (hresp.status >= 300 && hresp.status < 400 && hresp.location && !s->disable_redirects)
                return follow_redirect(a, &hresp, err, again);
        return response_arrived(a, &hresp, ret, err, again);
}

/**
 * vault_call() - runs one Vault call with retries and one redirect.
 *
 * Return: 0 with *ret set (a 2xx response), a VAULT_E_* with err filled, or
 * -errno.
 */
static int vault_call_attempts(VaultClient *c, const Call *call, VaultResponse **ret,
                               VaultError *err) {
        _cleanup_(attempts_done) Attempts a = { 0 };
        bool again;
        int r;

        if (err)
                *err = (VaultError){ 0 };
        r = attempts_init(&a, c, call);
        if (r < 0)
                return r;
        do
                r = attempt(&a, ret, err, &again);
        while (again);
        return r;
}

/* Issue 11: every call counted by operation, result class and duration. */
static int vault_call(VaultClient *c, const Call *call, VaultResponse **ret, VaultError *err) {
        const VaultShared *s = c->shared;
        VaultError own = { 0 };
        uint64_t t0 = monotonic_usec();
        int r = vault_call_attempts(c, call, ret, err ? err : &own);

        metrics_vault_request(s->metrics, s->metrics_server,
                              vault_metrics_op(call->op, call->method, call->url_path),
                              vault_metrics_result(r, (err ? err : &own)->http_status),
                              monotonic_usec() - t0);
        return r;
}

/* --- login and reads --------------------------------------------------------- */

static int mount_path(const char *mount, const char *fallback, char *buf, size_t len,
                      VaultError *err) {
        const char *m = isempty(mount) ? fallback : mount;
        size_t n;

        while (*m == '/')
                m++;
        if (strncmp(m, "auth/", 5) == 0)
                m += 5;
        n = strlen(m);
        while (n > 0 && m[n - 1] == '/')
                n--;
        if (n == 0 || n >= MOUNT_MAX || n >= len || memchr(m, '?', n))
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "invalid Vault auth mount path");
        memcpy(buf, m, n);
        buf[n] = 0;
        return 0;
}

/* What can be refused before any request: no JWT, no role for kubernetes, a bad
 * namespace. */
static int login_check(const VaultLoginParams *p, VaultError *err) {
        if (p->jwt_len == 0)
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "no service account token to log in with");
        if (p->method == VAULT_AUTH_KUBERNETES && isempty(p->role))
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "a Vault role is required for kubernetes auth");
        if (!isempty(p->ns) && !header_value_valid(p->ns, VAULT_NAMESPACE_MAX))
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0, "invalid Vault namespace");
        return 0;
}

/* "/v1/auth/<mount>/login". */
static int login_url_path(const VaultLoginParams *p, char **ret, VaultError *err) {
        _cleanup_free_ char *path = NULL;
        char mount[MOUNT_MAX];
        int r;

        r = mount_path(p->mount, p->method == VAULT_AUTH_JWT ? "jwt" : "kubernetes", mount,
                       sizeof(mount), err);
        if (r != 0)
                return r;
        if (asprintf(&path, "auth/%s/login", mount) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        return vault_path_normalize(path, ret, err);
}

/* A request body: @o's compact text, keys sorted, in a new Secret. */
static int body_from_json(const JsonValue *o, Secret **ret) {
        return json_write_new_secret(o, JSON_WRITE_SORT_KEYS, ret);
}

/* {"jwt":"…","role":"…"}: built and serialised without leaving our wiped
 * allocations (jansson's copy is wiped on release). */
static int login_body(const VaultLoginParams *p, Secret **ret, VaultError *err) {
        _cleanup_(json_value_unrefp) JsonValue *o = NULL;
        int r;

        r = json_object_new(&o);
        if (r < 0)
                return r;
        r = json_object_put_string(o, "jwt", p->jwt, p->jwt_len);
        if (r < 0)
                return r == -EINVAL ? vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                                      "service account token is not UTF-8")
                                    : r;
        if (!isempty(p->role)) {
                r = json_object_put_string(o, "role", p->role, strlen(p->role));
                if (r < 0)
                        return r == -EINVAL ? vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                                              "Vault role is not UTF-8")
                                            : r;
        }
        return body_from_json(o, ret);
}

/* The token a login's reply carries, with its accessor, TTL and renewability. */
static int login_token(const VaultResponse *resp, const char *ns, VaultToken **ret) {
        _cleanup_(vault_token_freep) VaultToken *t = NULL;
        const uint8_t *tok;
        size_t toklen;
        int r;

        tok = secret_get(resp->auth->client_token, &toklen);
        r = token_build(tok, toklen, ns, &t);
        if (r < 0)
                return r;
        if (resp->auth->accessor) {
                t->accessor = strdup(resp->auth->accessor);
                if (!t->accessor)
                        return -ENOMEM;
        }
        t->ttl_sec = resp->auth->lease_duration;
        t->renewable = resp->auth->renewable;
        *ret = TAKE_PTR(t);
        return 0;
}

/**
 * vault_client_login() - logs in with a service-account JWT.
 * @c: this thread's client.
 * @p: auth method, mount, role, JWT and namespace.
 * @ret: the new token (TTL, renewability and accessor from the reply).
 * @err: filled on failure.
 *
 * Return: 0; VAULT_E_LOGIN_REJECTED (kubernetes 403, jwt 400/403: Vault's
 * reason in err), VAULT_E_BAD_REQUEST (unknown role, bad mount),
 * VAULT_E_NOT_FOUND (no such auth mount), VAULT_E_UNAVAILABLE, VAULT_E_SEALED,
 * VAULT_E_RATE_LIMITED, VAULT_E_TLS, VAULT_E_PROTOCOL, VAULT_E_TOO_LARGE;
 * -ENOMEM, -EINVAL.
 * Locking: none.
 */
int vault_client_login(VaultClient *c, const VaultLoginParams *p, VaultToken **ret,
                       VaultError *err) {
        _cleanup_(secret_freep) Secret *body = NULL;
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        _cleanup_free_ char *url_path = NULL;
        Call call;
        int r;

        if (!c || !p || !ret || (unsigned)p->method >= _VAULT_AUTH_MAX || (!p->jwt && p->jwt_len))
                return -EINVAL;
        if (err)
                *err = (VaultError){ 0 };
        r = login_check(p, err);
        if (r != 0)
                return r;
        r = login_url_path(p, &url_path, err);
        if (r != 0)
                return r;
        r = login_body(p, &body, err);
        if (r != 0)
                return r;

        call = (Call){
                .op = p->method == VAULT_AUTH_JWT ? VAULT_OP_LOGIN_JWT : VAULT_OP_LOGIN_KUBERNETES,
                .method = VAULT_METHOD_POST,
                .url_path = url_path,
                .body = body,
                .ns = isempty(p->ns) ? NULL : p->ns,
        };
        r = vault_call(c, &call, &resp, err);
        if (r != 0)
                return r;
        return login_token(resp, call.ns, ret);
}

/* Copies a request body after checking it is a JSON object. */
static int request_body(const VaultRequest *req, Secret **ret, VaultError *err) {
        _cleanup_(json_value_unrefp) JsonValue *v = NULL;
        JsonError jerr;
        int r;

        *ret = NULL;
        if (!req->body || req->body_len == 0)
                return 0;
        r = json_parse_object(req->body, req->body_len, 0, VAULT_JSON_DEPTH_MAX, &v, &jerr);
        if (r < 0)
                return r == -E2BIG ? vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                                     "request body too large")
                                   : r;
        if (r > 0)
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "request body (secretArgs) is not a JSON object: %s",
                                       jerr.text);
        return secret_new_from(ret, req->body, req->body_len);
}

/* A read's URL path and body, checked. */
static int read_prepare(const VaultRequest *req, char **ret_url_path, Secret **ret_body,
                        VaultError *err) {
        int r;

        r = vault_path_normalize(req->path, ret_url_path, err);
        if (r != 0)
                return r;
        return request_body(req, ret_body, err);
}

/* A call made with @t, in its namespace. */
static int token_call(VaultClient *c, const VaultToken *t, VaultOp op, VaultMethod m,
                      const char *url_path, const Secret *body, VaultResponse **ret,
                      VaultError *err) {
        Call call = {
                .op = op,
                .method = m,
                .url_path = url_path,
                .body = body,
                .token = t,
                .ns = t->ns,
        };
        return vault_call(c, &call, ret, err);
}

static int read_prepared(VaultClient *c, const VaultToken *t, VaultMethod m, const char *url_path,
                         const Secret *body, VaultResponse **ret, VaultError *err) {
        return token_call(c, t, VAULT_OP_READ, m, url_path, m == VAULT_METHOD_GET ? NULL : body,
                          ret, err);
}

/**
 * vault_client_read() - one request to any Vault path with the given token.
 * @c: this thread's client.
 * @t: the token (its namespace is used).
 * @req: method, path (with optional ?query, e.g. version=2) and JSON body.
 * @ret: the response (2xx only); free with vault_response_free().
 * @err: filled on failure.
 *
 * Return: 0; VAULT_E_DENIED (403), VAULT_E_NOT_FOUND (404, including a KV v2
 * deleted or destroyed version, with Vault's text), VAULT_E_BAD_REQUEST
 * (400/405, or a bad path/body), VAULT_E_UNAVAILABLE, VAULT_E_SEALED,
 * VAULT_E_RATE_LIMITED, VAULT_E_TLS, VAULT_E_PROTOCOL, VAULT_E_TOO_LARGE;
 * -ENOMEM, -EINVAL. A 204 gives a response with no root and no data.
 * Locking: none.
 */
int vault_client_read(VaultClient *c, const VaultToken *t, const VaultRequest *req,
                      VaultResponse **ret, VaultError *err) {
        _cleanup_free_ char *url_path = NULL;
        _cleanup_(secret_freep) Secret *body = NULL;
        int r;

        if (!c || !t || !req || !ret || (unsigned)req->method >= _VAULT_METHOD_MAX)
                return -EINVAL;
        if (err)
                *err = (VaultError){ 0 };
        r = read_prepare(req, &url_path, &body, err);
        if (r != 0)
                return r;
        return read_prepared(c, t, req->method, url_path, body, ret, err);
}

/* --- lifecycle ---------------------------------------------------------------- */

static int lifecycle_body(const char *lease_id, uint64_t increment, bool with_increment,
                          Secret **ret) {
        _cleanup_(json_value_unrefp) JsonValue *o = NULL;
        int r;

        r = json_object_new(&o);
        if (r < 0)
                return r;
        if (lease_id)
                r = json_object_put_string(o, "lease_id", lease_id, strlen(lease_id));
        if (r >= 0 && with_increment)
                r = json_object_put_int64(o, "increment",
                                          (int64_t)MIN(increment, (uint64_t)INT64_MAX));
        if (r < 0)
                return r;
        return body_from_json(o, ret);
}

static int lifecycle_call(VaultClient *c, const VaultToken *t, VaultMethod m, const char *url_path,
                          const Secret *body, VaultResponse **ret, VaultError *err) {
        if (err)
                *err = (VaultError){ 0 };
        return token_call(c, t, VAULT_OP_LIFECYCLE, m, url_path, body, ret, err);
}

/* A lifecycle call with the JSON body lifecycle_body() makes. */
static int lifecycle_call_body(VaultClient *c, const VaultToken *t, VaultMethod m,
                               const char *url_path, const char *lease_id, uint64_t increment,
                               bool with_increment, VaultResponse **ret, VaultError *err) {
        _cleanup_(secret_freep) Secret *body = NULL;
        int r;

        r = lifecycle_body(lease_id, increment, with_increment, &body);
        if (r < 0)
                return r;
        return lifecycle_call(c, t, m, url_path, body, ret, err);
}

/**
 * vault_client_token_renew_self() - extends the token's TTL.
 * @c: this thread's client.
 * @t: the token; its TTL, renewability and issue time are updated.
 * @increment_sec: requested TTL (0: let Vault choose).
 * @err: filled on failure.
 *
 * Return: 0; VAULT_E_BAD_REQUEST (not renewable), VAULT_E_DENIED (token
 * expired or revoked), VAULT_E_UNAVAILABLE..., VAULT_E_PROTOCOL (no auth in
 * the reply); -errno.
 * Locking: the caller serialises access to t.
 */
int vault_client_token_renew_self(VaultClient *c, VaultToken *t, uint64_t increment_sec,
                                  VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        int r;

        if (!c || !t)
                return -EINVAL;
        r = lifecycle_call_body(c, t, VAULT_METHOD_POST, "/v1/auth/token/renew-self", NULL,
                                increment_sec, increment_sec > 0, &resp, err);
        if (r != 0)
                return r;
        if (!resp->auth)
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "token renewal answered without an auth object");
        t->ttl_sec = resp->auth->lease_duration;
        t->renewable = resp->auth->renewable;
        t->issued_usec = realtime_usec();
        return 0;
}

/**
 * vault_client_token_revoke_self() - revokes the token, its children and
 * every lease it created (Vault answers 204).
 *
 * Return: 0; VAULT_E_DENIED (already invalid), VAULT_E_UNAVAILABLE...; -errno.
 */
int vault_client_token_revoke_self(VaultClient *c, const VaultToken *t, VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;

        if (!c || !t)
                return -EINVAL;
        return lifecycle_call(c, t, VAULT_METHOD_POST, "/v1/auth/token/revoke-self", NULL, &resp,
                              err);
}

static void copy_str(char *dst, size_t len, const JsonValue *obj, const char *key) {
        const char *s;
        size_t n;

        dst[0] = 0;
        if (json_member_string(obj, key, &s, &n) == 0)
                (void)vault_text_sanitize(dst, len, s, n, len - 1);
}

/**
 * vault_client_token_lookup_self() - the token's remaining TTL and properties.
 *
 * Return: 0; VAULT_E_DENIED (bad or expired token), VAULT_E_PROTOCOL (no
 * data), ...; -errno.
 */
int vault_client_token_lookup_self(VaultClient *c, const VaultToken *t, VaultTokenInfo *ret,
                                   VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        VaultTokenInfo info = { 0 };
        int r;

        if (!c || !t || !ret)
                return -EINVAL;
        r = lifecycle_call(c, t, VAULT_METHOD_GET, "/v1/auth/token/lookup-self", NULL, &resp, err);
        if (r != 0)
                return r;
        if (!resp->data)
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "token lookup answered without data");
        if (json_member_int64(resp->data, "ttl", &info.ttl_sec) < 0 ||
            json_member_bool(resp->data, "renewable", &info.renewable) == -EMEDIUMTYPE)
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "token lookup answered with malformed data");
        (void)json_member_int64(resp->data, "creation_ttl", &info.creation_ttl_sec);
        (void)json_member_int64(resp->data, "num_uses", &info.num_uses);
        (void)json_member_bool(resp->data, "orphan", &info.orphan);
        copy_str(info.accessor, sizeof(info.accessor), resp->data, "accessor");
        copy_str(info.type, sizeof(info.type), resp->data, "type");
        *ret = info;
        return 0;
}

/* A sys/leases call (PUT) about lease_id, after checking it. */
static int lease_call(VaultClient *c, const VaultToken *t, const char *url_path,
                      const char *lease_id, uint64_t increment, bool with_increment,
                      VaultResponse **ret, VaultError *err) {
        if (err)
                *err = (VaultError){ 0 };
        if (!lease_id || !header_value_valid(lease_id, LEASE_ID_MAX))
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0, "invalid lease id");
        return lifecycle_call_body(c, t, VAULT_METHOD_PUT, url_path, lease_id, increment,
                                   with_increment, ret, err);
}

/**
 * vault_client_lease_renew() - sys/leases/renew for a dynamic secret.
 * @increment_sec: requested extension (0: the lease's default).
 * @ret: new duration and renewability; capped when Vault warned (max_ttl).
 *
 * Return: 0; VAULT_E_BAD_REQUEST (lease not found / not renewable /
 * expired), VAULT_E_DENIED, ...; -errno. A renewed lease still ends with
 * the token that created it.
 */
int vault_client_lease_renew(VaultClient *c, const VaultToken *t, const char *lease_id,
                             uint64_t increment_sec, VaultLease *ret, VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        int r;

        if (!c || !t || !ret)
                return -EINVAL;
        r = lease_call(c, t, "/v1/sys/leases/renew", lease_id, increment_sec, increment_sec > 0,
                       &resp, err);
        if (r != 0)
                return r;
        *ret = (VaultLease){
                .duration_sec = resp->lease_duration,
                .renewable = resp->renewable,
                .capped = resp->n_warnings > 0,
        };
        return 0;
}

/**
 * vault_client_lease_revoke() - sys/leases/revoke (synchronous; 204).
 *
 * Return: 0; VAULT_E_BAD_REQUEST, VAULT_E_DENIED, ...; -errno.
 */
int vault_client_lease_revoke(VaultClient *c, const VaultToken *t, const char *lease_id,
                              VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;

        if (!c || !t)
                return -EINVAL;
        return lease_call(c, t, "/v1/sys/leases/revoke", lease_id, 0, false, &resp, err);
}

/* --- per-volume request cache ------------------------------------------------- */

int vault_request_cache_new(VaultRequestCache **ret) {
        if (!ret)
                return -EINVAL;
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : -ENOMEM;
}

VaultRequestCache *vault_request_cache_free(VaultRequestCache *cache) {
        if (!cache)
                return NULL;
        for (size_t i = 0; i < cache->n; i++) {
                free(cache->entries[i].path);
                secret_free(cache->entries[i].body);
                vault_response_free(cache->entries[i].resp);
        }
        free(cache);
        return NULL;
}

size_t vault_request_cache_size(const VaultRequestCache *cache) {
        return cache ? cache->n : 0;
}

size_t vault_request_cache_hits(const VaultRequestCache *cache) {
        return cache ? cache->hits : 0;
}

static bool entry_matches(const CacheEntry *e, VaultMethod m, const char *path,
                          const Secret *body) {
        size_t n;
        const uint8_t *b;

        if (e->method != m || !streq(e->path, path))
                return false;
        if (!e->body || !body)
                return !e->body && !body;
        b = secret_get(body, &n);
        return secret_equal_bytes(e->body, b, n);
}

/**
 * vault_request_cache_read() - vault_client_read() once per distinct request.
 * @cache: the volume's cache.
 * @ret: a response owned by the cache (valid until the cache is freed).
 *
 * The key is (method, normalised path with query, body bytes), so two
 * objects reading one path with different secretArgs are two requests.
 * Failures are not cached. Return values as vault_client_read().
 * Locking: a cache belongs to one volume operation (one thread).
 */
int vault_request_cache_read(VaultRequestCache *cache, VaultClient *c, const VaultToken *t,
                             const VaultRequest *req, const VaultResponse **ret, VaultError *err) {
        _cleanup_free_ char *url_path = NULL;
        _cleanup_(secret_freep) Secret *body = NULL;
        VaultResponse *resp = NULL;
        const Secret *key_body;
        int r;

        if (!cache || !c || !t || !req || !ret || (unsigned)req->method >= _VAULT_METHOD_MAX)
                return -EINVAL;
        if (err)
                *err = (VaultError){ 0 };
        r = read_prepare(req, &url_path, &body, err);
        if (r != 0)
                return r;
        key_body = body;
        for (size_t i = 0; i < cache->n; i++)
                if (entry_matches(&cache->entries[i], req->method, url_path, key_body)) {
                        cache->hits++;
                        log_debug("vault: %s %s answered from the volume's request cache",
                                  vault_method_to_string(req->method), log_path(url_path));
                        *ret = cache->entries[i].resp;
                        return 0;
                }

        if (cache->n >= VAULT_REQUEST_CACHE_MAX)
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "more than %d distinct Vault requests in one volume",
                                       VAULT_REQUEST_CACHE_MAX);
        r = read_prepared(c, t, req->method, url_path, body, &resp, err);
        if (r != 0)
                return r;
        cache->entries[cache->n] = (CacheEntry){
                .method = req->method,
                .path = TAKE_PTR(url_path),
                .body = TAKE_PTR(body),
                .resp = resp,
        };
        *ret = cache->entries[cache->n++].resp;
        return 0;
}
