/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-json.h - the pure half of the Vault client: response bytes →
 * VaultResponse, status/body → outcome code, error texts, and the mapping of
 * outcomes to CSI codes. No I/O, no clock, no globals: this is the fuzz
 * target (test/vault/fuzz-vault-json.c) and the unit-tested core.
 *
 * Outcome codes (positive, style guide section 3) are defined here and used
 * by vault.h. What a VaultError may carry: a fixed summary, the HTTP status,
 * and Vault's own `errors[]` (or, for a 404 without errors, `warnings[]`)
 * text with control characters replaced and capped at VAULT_ERROR_TEXT_MAX
 * bytes; never anything else of a body, and never a token, JWT, request body
 * or secret value.
 *
 * The login token (auth.client_token) is moved into a Secret and removed
 * from the parsed tree at once.
 *
 * Never logs. Thread-safe (no shared state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "secret.h"

/* Outcomes of Vault calls (besides 0 and -errno). */
enum {
        _VAULT_E_SUCCESS,
        VAULT_E_LOGIN_REJECTED, /* auth method refused the JWT (k8s 403, jwt 400) */
        VAULT_E_DENIED,         /* 403 with a token: policy (or a dead token) */
        VAULT_E_NOT_FOUND,      /* 404: no secret/version, deleted/destroyed version, no route */
        VAULT_E_BAD_REQUEST,    /* 400/405/other 4xx, or a request we refuse to send */
        VAULT_E_UNAVAILABLE,    /* network, timeout, 5xx, 412 after retries, 501 */
        VAULT_E_SEALED,         /* 503 "Vault is sealed" after retries */
        VAULT_E_RATE_LIMITED,   /* 429 after retries */
        VAULT_E_TLS,            /* handshake or certificate/hostname verification */
        VAULT_E_PROTOCOL,       /* not JSON, truncated, malformed fields, bad redirect */
        VAULT_E_TOO_LARGE,      /* response over the size cap */
        VAULT_E_CONFIG,         /* vault_shared_new(): bad address/TLS files */
        _VAULT_E_MAX,
};

#define VAULT_ERROR_TEXT_MAX    256
#define VAULT_ERROR_MESSAGE_MAX 512
#define VAULT_WARNINGS_MAX      16
#define VAULT_TOKEN_MAX         8192
#define VAULT_JSON_DEPTH_MAX    128U

typedef struct VaultError {
        int code;                /* VAULT_E_* or -errno; 0 when unset */
        long http_status;        /* last HTTP status seen, 0 if none */
        unsigned attempts;       /* HTTP attempts made (vault.c) */
        bool has_retry_after;    /* the last answer carried a usable Retry-After */
        int64_t retry_after_sec; /* its value in seconds (with has_retry_after) */
        char message[VAULT_ERROR_MESSAGE_MAX];
} VaultError;

/* Which kind of call a response answers; it changes how 400/403 read. */
typedef enum VaultOp {
        VAULT_OP_READ,             /* secrets and any other path */
        VAULT_OP_LOGIN_KUBERNETES, /* 403 → LOGIN_REJECTED */
        VAULT_OP_LOGIN_JWT,        /* 400 (token validation) and 403 → LOGIN_REJECTED */
        VAULT_OP_LIFECYCLE,        /* token renew/revoke/lookup-self, sys/leases/... */
        _VAULT_OP_MAX,
} VaultOp;

typedef struct VaultAuth {
        Secret *client_token;
        char *accessor;
        char *token_type; /* "service" | "batch" | NULL */
        char *entity_id;
        int64_t lease_duration; /* token TTL in seconds */
        bool renewable;
        bool orphan;
        const JsonValue *policies; /* borrowed from the root: array or NULL */
        const JsonValue *metadata; /* borrowed: object or NULL */
} VaultAuth;

typedef struct VaultResponse {
        long status;
        JsonValue *root;       /* the envelope; NULL for an empty body or a non-JSON error */
        const JsonValue *data; /* root.data when an object, else NULL */
        char *request_id;
        char *lease_id;         /* NULL when absent or "" */
        int64_t lease_duration; /* seconds */
        bool renewable;
        char *mount_type;                   /* Vault only; NULL on OpenBao */
        char *warnings[VAULT_WARNINGS_MAX]; /* sanitised */
        size_t n_warnings;
        char *errors_text; /* errors[] sanitised and joined with "; ", or NULL */
        size_t n_errors;
        bool has_errors_key;
        bool has_wrap_info;
        bool body_not_json; /* status >= 400 and the body is not a JSON object */
        VaultAuth *auth;    /* NULL when absent or null */
} VaultResponse;

/*
 * Parses a response body (size may be 0). For status < 400 the body must be
 * empty or a JSON object with well-typed known fields; for status >= 400 a
 * non-JSON body is kept as body_not_json. Unknown keys are ignored.
 * Returns 0, VAULT_E_PROTOCOL (err says why: line/column for bad JSON), or
 * -ENOMEM.
 */
int vault_response_parse(long status, const uint8_t *body, size_t size, VaultResponse **ret,
                         VaultError *err);
VaultResponse *vault_response_free(VaultResponse *r);
static inline void vault_response_freep(VaultResponse **r) {
        if (*r)
                *r = vault_response_free(*r);
}

/*
 * A transformation of Vault's raw strings (errors[], warnings[]) before they
 * are sanitised and capped: fn sets *ret (malloc'd, NUL-terminated) and
 * *ret_len, or returns -ENOMEM. The vault layer uses it to cut out what the
 * request sent (vault-echo.h).
 */
typedef struct VaultTextFilter {
        int (*fn)(const char *s, size_t n, char **ret, size_t *ret_len, void *userdata);
        void *userdata;
} VaultTextFilter;

/* Rebuilds errors_text and warnings[] from r->root through f. 0 or -ENOMEM. */
int vault_response_retext(VaultResponse *r, const VaultTextFilter *f);

/*
 * Turns a parsed response into an outcome: 0 for 2xx, else a VAULT_E_* with
 * a message in err (summary, HTTP status and Vault's text). Login calls also
 * require a well-formed auth.client_token (VAULT_E_PROTOCOL otherwise).
 */
int vault_response_check(const VaultResponse *r, VaultOp op, VaultError *err);

/* True for statuses worth another attempt: 412, 429, 5xx except 501. */
bool vault_status_retryable(long status);

/*
 * True when @n bytes at @p can go into an HTTP header as one value: 1 to @max
 * bytes of printable ASCII, no spaces (tokens, namespaces, lease ids).
 */
bool vault_header_value_valid(const void *p, size_t n, size_t max);

/*
 * Copies text into dst (size dstlen, always NUL-terminated): control
 * characters (C0, DEL, C1) become spaces, runs of whitespace collapse to one
 * space, ends are trimmed, and at most max bytes are kept, cut at a UTF-8
 * boundary. Returns the length written.
 */
size_t vault_text_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen, size_t max);

/* User text (a name, a key) for an error message: sanitized as above, at
 * most QUOTED_TEXT_MAX bytes of it. One QuotedText per text in a message. */
#define QUOTED_TEXT_MAX 64U
typedef struct QuotedText {
        char s[QUOTED_TEXT_MAX * 2];
} QuotedText;

static inline const char *quote_text(QuotedText *q, const char *s) {
        (void)vault_text_sanitize(q->s, sizeof(q->s), s ? s : "", s ? strlen(s) : 0,
                                  QUOTED_TEXT_MAX);
        return q->s;
}

/* Sets err (code, status, message) unless err is NULL. Returns code. */
int vault_error_set(VaultError *err, int code, long http_status, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* "LOGIN_REJECTED", "DENIED", ...; "ERRNO" for negative values. */
const char *vault_error_code_to_string(int code);
