/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - the project's only door to libcurl: one HTTP exchange at a time,
 * with TLS settings, timeouts, a hard cap on the response body, and header
 * hygiene for the one secret header (the Vault token).
 *
 * Objects:
 *   HttpShared  - built once from an HttpConfig and immutable afterwards:
 *                 the normalised address, the CA bundle (loaded and checked
 *                 here, CA directories included), client certificate paths,
 *                 and a curl share handle (CURLSH, locked with mutexes) that
 *                 shares TLS sessions and DNS between threads. Connections are
 *                 NOT shared: libcurl 7.88 cannot share a connection cache
 *                 between threads.
 *   HttpClient  - one per thread (worker or refresh thread): one easy handle
 *                 that keeps its own connections alive between requests.
 *
 * This module does not retry, follow redirects or interpret status codes;
 * the vault module owns that policy. Each perform is one exchange.
 *
 * Secrets: the response body is received into a Secret with the configured
 * cap; the request body is a Secret handed to curl without a copy
 * (CURLOPT_POSTFIELDS); the secret header line is appended to curl's header
 * list and every list string is wiped before curl_slist_free_all(). Copies
 * inside libcurl and OpenSSL buffers are out of reach (see secret.h).
 *
 * Never logs above debug (and never a header, body or token).
 * Thread-safety: HttpShared is safe to use from any thread; an HttpClient
 * belongs to one thread at a time. Free all clients before their shared.
 * http_global_init() must run before any thread uses this module.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "secret.h"

#define HTTP_RESPONSE_MAX_DEFAULT       ((size_t)4 * 1024 * 1024)
#define HTTP_CONNECT_TIMEOUT_DEFAULT_MS 10000U
#define HTTP_MESSAGE_MAX                256

typedef struct HttpShared HttpShared;
typedef struct HttpClient HttpClient;

typedef struct HttpTlsConfig {
        const char *ca_file;     /* PEM bundle; replaces the system roots */
        const char *ca_dir;      /* every non-hidden file must be PEM; used when no ca_file */
        const char *client_cert; /* PEM; both cert and key or neither */
        const char *client_key;  /* PEM, unencrypted */
        const char *server_name; /* SNI and the name verified, instead of the URL host */
        bool insecure_skip_verify;
} HttpTlsConfig;

/* How connections are used; anything but REUSE exists for the benchmark. */
typedef enum HttpConnectionPolicy {
        HTTP_CONNECTION_REUSE, /* keep-alive per client (default) */
        HTTP_CONNECTION_FRESH, /* a new TCP+TLS connection per request, TLS session resumed */
        HTTP_CONNECTION_FRESH_NO_SESSION, /* ... and a full TLS handshake every time */
} HttpConnectionPolicy;

typedef struct HttpConfig {
        const char *address;   /* "https://host[:port][/prefix]" */
        bool allow_plain_http; /* accept "http://" addresses (node-admin opt-in) */
        HttpTlsConfig tls;
        uint64_t connect_timeout_ms; /* 0 → HTTP_CONNECT_TIMEOUT_DEFAULT_MS */
        size_t max_response_size;    /* 0 → HTTP_RESPONSE_MAX_DEFAULT */
        HttpConnectionPolicy connection_policy;
} HttpConfig;

/* Positive outcomes of this module. */
enum {
        _HTTP_E_SUCCESS,
        HTTP_E_NETWORK,   /* resolve/connect failed, reset, nothing received */
        HTTP_E_TIMEOUT,   /* connect or whole-exchange timeout */
        HTTP_E_TLS,       /* handshake or certificate/hostname verification failed */
        HTTP_E_TOO_LARGE, /* the response body exceeds max_response_size */
        HTTP_E_TRUNCATED, /* the body ended before its announced length */
        HTTP_E_PROTOCOL,  /* not an HTTP response, or a refused URL scheme */
        HTTP_E_CONFIG,    /* http_shared_new(): bad address or TLS file */
        HTTP_E_ABORTED,   /* http_abort_all() was called: the daemon is stopping */
};

typedef struct HttpError {
        int code;       /* HTTP_E_* or -errno */
        bool retryable; /* transient: worth another attempt */
        char message[HTTP_MESSAGE_MAX];
} HttpError;

typedef enum HttpMethod {
        HTTP_METHOD_GET,
        HTTP_METHOD_POST,
        HTTP_METHOD_PUT,
        HTTP_METHOD_DELETE,
        _HTTP_METHOD_MAX,
} HttpMethod;

typedef struct HttpRequest {
        HttpMethod method;
        const char *url;            /* absolute */
        const char *const *headers; /* n_headers "Name: value" lines, not secret */
        size_t n_headers;
        const Secret *secret_header; /* one "Name: value" line, or NULL */
        const Secret *body;          /* request body or NULL (never sent with GET) */
        const char *content_type;    /* for the body; NULL → application/json */
        uint64_t timeout_ms;         /* the whole exchange; 0 → none */
} HttpRequest;

typedef struct HttpResponse {
        long status;             /* HTTP status code */
        Secret *body;            /* always set after success (maybe empty) */
        int64_t retry_after_sec; /* Retry-After in seconds; -1 when absent or bad */
        char *location;          /* absolute redirect target (3xx), or NULL */
        uint64_t duration_usec;
        bool new_connection; /* a connection was opened for this exchange */
} HttpResponse;

#define HTTP_RESPONSE_INIT                                                                         \
        { .status = 0, .body = NULL, .retry_after_sec = -1 }
void http_response_done(HttpResponse *r);

/* curl_global_init()/cleanup(); call from main() before threads start. */
int http_global_init(void);
void http_global_cleanup(void);

const char *http_method_to_string(HttpMethod m);

int http_shared_new(HttpShared **ret, const HttpConfig *cfg, HttpError *err);
HttpShared *http_shared_free(HttpShared *s);
static inline void http_shared_freep(HttpShared **s) {
        if (*s)
                *s = http_shared_free(*s);
}
/* "https://host:port[/prefix]" without a trailing '/'. */
const char *http_shared_address(const HttpShared *s);
/* True when certificate verification is off: the caller warns at every start. */
bool http_shared_tls_insecure(const HttpShared *s);
/* May a redirect go from `from` to `to`? Refuses https→http, and http when
 * plain http is not allowed. 0 or HTTP_E_PROTOCOL with a message. */
int http_shared_check_redirect(const HttpShared *s, const char *from, const char *to,
                               HttpError *err);

int http_client_new(HttpClient **ret, HttpShared *s);
HttpClient *http_client_free(HttpClient *c);
static inline void http_client_freep(HttpClient **c) {
        if (*c)
                *c = http_client_free(*c);
}

/*
 * One exchange. Returns 0 when an HTTP response arrived (whatever its
 * status; *ret filled, release with http_response_done()), a positive
 * HTTP_E_* with err filled, or -ENOMEM/-EINVAL.
 */
int http_client_perform(HttpClient *c, const HttpRequest *req, HttpResponse *ret, HttpError *err);

/* Retry-After: delta-seconds or an HTTP-date (relative to now). -1 if bad. */
int64_t http_parse_retry_after(const char *value, time_t now);

/* The versions of the libraries loaded at run time: libcurl ("7.88.1") and
 * the TLS library libcurl was built with ("OpenSSL/3.0.17"). */
const char *http_curl_version(void);
const char *http_tls_version(void);

/*
 * Process-wide abort, for shutdown (SIGTERM ends within
 * shutdown-grace even when Vault hangs). After http_abort_all() every
 * transfer in flight ends within about a second (curl's progress callback
 * checks the flag), every new one fails at once with HTTP_E_ABORTED (not
 * retryable), and http_sleep_ms() returns early. There is no way back: the
 * process is on its way out. Thread-safe (not for signal handlers).
 */
void http_abort_all(void);
bool http_aborting(void);
/* Sleeps ms milliseconds, or less once http_abort_all() is called.
 * Returns false when cut short by the abort. */
bool http_sleep_ms(uint64_t ms);
