/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-json.c - Vault response envelope parser and outcome classifier.
 *
 * Envelope (vault-api-facts 1.4): request_id, lease_id, renewable,
 * lease_duration, data, wrap_info, warnings, auth, mount_type; errors for
 * status >= 400. Known keys must have their documented JSON type (null counts
 * as absent); unknown keys are ignored. Pure: no I/O, never logs.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

#include "vault-json.h"
#include "macro.h"

static const char *const code_names[_VAULT_E_MAX] = {
        [_VAULT_E_SUCCESS] = "OK",
        [VAULT_E_LOGIN_REJECTED] = "LOGIN_REJECTED",
        [VAULT_E_DENIED] = "DENIED",
        [VAULT_E_NOT_FOUND] = "NOT_FOUND",
        [VAULT_E_BAD_REQUEST] = "BAD_REQUEST",
        [VAULT_E_UNAVAILABLE] = "UNAVAILABLE",
        [VAULT_E_SEALED] = "SEALED",
        [VAULT_E_RATE_LIMITED] = "RATE_LIMITED",
        [VAULT_E_TLS] = "TLS",
        [VAULT_E_PROTOCOL] = "PROTOCOL",
        [VAULT_E_TOO_LARGE] = "TOO_LARGE",
        [VAULT_E_CONFIG] = "CONFIG",
};

const char *vault_error_code_to_string(int code) {
        if (code < 0)
                return "ERRNO";
        if (code < _VAULT_E_MAX)
                return code_names[code];
        return "UNKNOWN";
}

int vault_error_set(VaultError *err, int code, long http_status, const char *fmt, ...) {
        va_list ap;

        if (!err)
                return code;
        err->code = code;
        err->http_status = http_status;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return code;
}

bool vault_status_retryable(long status) {
        /* Go api.DefaultRetryPolicy: 412 (Enterprise consistency), 429, and
         * every 5xx but 501 (not initialized, which retrying cannot fix). */
        return status == 412 || status == 429 || (status >= 500 && status <= 599 && status != 501);
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
        size_t len;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                len = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return len;
}

/**
 * vault_text_sanitize() - makes Vault's text safe for one log/status line.
 *
 * Keeps valid UTF-8 only; C0/C1 controls and DEL become blanks; blank runs
 * collapse; the result is trimmed and cut to @max bytes at a character
 * boundary. Vault's multi-error texts ("1 error occurred:\n\t* ...") read
 * naturally afterwards. Return: bytes written (dst is NUL-terminated).
 */
size_t vault_text_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen, size_t max) {
        const unsigned char *s = (const unsigned char *)src;
        size_t o = 0, limit;
        bool space = true; /* drops leading whitespace */

        if (!dst || dstlen == 0)
                return 0;
        limit = MIN(max, dstlen - 1);
        for (size_t i = 0; src && i < srclen;) {
                size_t clen = utf8_len(s + i, srclen - i);
                bool blank;

                if (clen == 0) {
                        /* Not UTF-8: drop the byte. */
                        i++;
                        continue;
                }
                /* C0 controls, DEL and C1 controls (U+0080..U+009F) become blanks. */
                blank = (clen == 1 && (s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ')) ||
                        (clen == 2 && s[i] == 0xc2 && s[i + 1] <= 0x9f);
                if (blank) {
                        i += clen;
                        if (space)
                                continue;
                        space = true;
                        if (o + 1 > limit)
                                break;
                        dst[o++] = ' ';
                        continue;
                }
                if (o + clen > limit)
                        break;
                memcpy(dst + o, s + i, clen);
                o += clen;
                i += clen;
                space = false;
        }
        while (o > 0 && dst[o - 1] == ' ')
                o--;
        dst[o] = 0;
        return o;
}

VaultResponse *vault_response_free(VaultResponse *r) {
        if (!r)
                return NULL;
        if (r->auth) {
                secret_free(r->auth->client_token);
                free(r->auth->accessor);
                free(r->auth->token_type);
                free(r->auth->entity_id);
                free(r->auth);
        }
        for (size_t i = 0; i < r->n_warnings; i++)
                free(r->warnings[i]);
        free(r->errors_text);
        free(r->mount_type);
        free(r->lease_id);
        free(r->request_id);
        json_value_unref(r->root);
        free(r);
        return NULL;
}

/* Optional string member: absent/null → NULL; "" → NULL when empty_is_null. */
static int opt_string(const JsonValue *obj, const char *key, bool strict, bool empty_is_null,
                      char **ret) {
        const char *s;
        size_t n;
        int r;

        r = json_member_string(obj, key, &s, &n);
        if (r == -ENOENT || (r == -EMEDIUMTYPE && !strict))
                return 0;
        if (r < 0)
                return r;
        if (n == 0 && empty_is_null)
                return 0;
        if (memchr(s, 0, n))
                return strict ? -EMEDIUMTYPE : 0;
        *ret = strndup(s, n);
        return *ret ? 0 : -ENOMEM;
}

static int opt_int(const JsonValue *obj, const char *key, int64_t *ret) {
        int r = json_member_int64(obj, key, ret);
        return r == -ENOENT ? 0 : r;
}

static int opt_bool(const JsonValue *obj, const char *key, bool *ret) {
        int r = json_member_bool(obj, key, ret);
        return r == -ENOENT ? 0 : r;
}

bool vault_header_value_valid(const void *p, size_t n, size_t max) {
        const unsigned char *b = p;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (b[i] < 0x21 || b[i] > 0x7e)
                        return false;
        return true;
}

static int parse_auth(VaultResponse *resp, JsonValue *auth, VaultError *err) {
        _cleanup_free_ VaultAuth *a = NULL;
        const char *tok;
        size_t toklen;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        r = json_member_string(auth, "client_token", &tok, &toklen);
        if (r == 0) {
                /* Opaque, but it goes into a header: printable ASCII, no spaces. */
                if (!vault_header_value_valid(tok, toklen, VAULT_TOKEN_MAX))
                        return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                               "malformed auth.client_token in Vault response");
                r = secret_new_from(&a->client_token, tok, toklen);
                if (r < 0)
                        return r;
                /* Drop jansson's copy now (wiped by json.c's allocator). */
                (void)json_object_remove(auth, "client_token");
        } else if (r != -ENOENT) {
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "auth.client_token in Vault response is not a string");
        }
        /* Hand `a` to resp first so that a later failure frees it with resp. */
        resp->auth = TAKE_PTR(a);
        if ((r = opt_string(auth, "accessor", true, true, &resp->auth->accessor)) < 0 ||
            (r = opt_string(auth, "token_type", false, true, &resp->auth->token_type)) < 0 ||
            (r = opt_string(auth, "entity_id", false, true, &resp->auth->entity_id)) < 0 ||
            (r = opt_int(auth, "lease_duration", &resp->auth->lease_duration)) < 0 ||
            (r = opt_bool(auth, "renewable", &resp->auth->renewable)) < 0 ||
            (r = opt_bool(auth, "orphan", &resp->auth->orphan)) < 0) {
                if (r == -ENOMEM)
                        return r;
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "malformed auth object in Vault response");
        }
        if (resp->auth->lease_duration < 0)
                return vault_error_set(err, VAULT_E_PROTOCOL, resp->status,
                                       "negative auth.lease_duration in Vault response");
        resp->auth->policies = json_object_member(auth, "policies");
        if (json_value_kind(resp->auth->policies) != JSON_KIND_ARRAY)
                resp->auth->policies = NULL;
        resp->auth->metadata = json_object_member(auth, "metadata");
        if (json_value_kind(resp->auth->metadata) != JSON_KIND_OBJECT)
                resp->auth->metadata = NULL;
        return 0;
}

/*
 * One string of Vault's, sanitised into piece (VAULT_ERROR_TEXT_MAX + 1
 * bytes), through the filter first when there is one. Returns the length,
 * or -ENOMEM.
 */
static ssize_t text_piece(const char *s, size_t n, const VaultTextFilter *f, char *piece) {
        _cleanup_free_ char *filtered = NULL;
        size_t fn = 0;
        int r;

        if (f && f->fn) {
                r = f->fn(s, n, &filtered, &fn, f->userdata);
                if (r < 0)
                        return r;
                s = filtered;
                n = fn;
        }
        return (ssize_t)vault_text_sanitize(piece, VAULT_ERROR_TEXT_MAX + 1, s, n,
                                            VAULT_ERROR_TEXT_MAX);
}

/* Joins the strings of an array member, sanitised, into one capped text. */
static int join_strings(const JsonValue *arr, const VaultTextFilter *f, char **ret,
                        size_t *ret_count) {
        char buf[VAULT_ERROR_TEXT_MAX + 1];
        size_t o = 0, count = 0;
        bool full = false;

        for (size_t i = 0; i < json_array_count(arr); i++) {
                char piece[VAULT_ERROR_TEXT_MAX + 1];
                const char *s;
                size_t n, pn, take;
                ssize_t k;

                if (json_value_string(json_array_element(arr, i), &s, &n) < 0)
                        continue;
                count++;
                if (full)
                        continue;
                k = text_piece(s, n, f, piece);
                if (k < 0)
                        return (int)k;
                pn = (size_t)k;
                if (pn == 0)
                        continue;
                if (o > 0) {
                        if (o + 3 > VAULT_ERROR_TEXT_MAX) {
                                full = true;
                                continue;
                        }
                        buf[o++] = ';';
                        buf[o++] = ' ';
                }
                take = MIN(pn, VAULT_ERROR_TEXT_MAX - o);
                /* Cut at a character boundary. */
                while (take < pn && take > 0 && ((unsigned char)piece[take] & 0xc0) == 0x80)
                        take--;
                memcpy(buf + o, piece, take);
                o += take;
                full = take < pn;
        }
        *ret_count = count;
        while (o > 0 && (buf[o - 1] == ' ' || buf[o - 1] == ';'))
                o--;
        if (o == 0)
                return 0;
        buf[o] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* warnings[] and errors[] of resp->root, as texts (through the filter). */
static int response_texts(VaultResponse *resp, const VaultTextFilter *f) {
        const JsonValue *v = json_object_member(resp->root, "warnings");
        int r;

        for (size_t i = 0; i < json_array_count(v) && resp->n_warnings < VAULT_WARNINGS_MAX; i++) {
                char buf[VAULT_ERROR_TEXT_MAX + 1];
                const char *s;
                size_t n;
                ssize_t k;

                if (json_value_string(json_array_element(v, i), &s, &n) < 0)
                        continue;
                k = text_piece(s, n, f, buf);
                if (k < 0)
                        return (int)k;
                if (k == 0)
                        continue;
                resp->warnings[resp->n_warnings] = strdup(buf);
                if (!resp->warnings[resp->n_warnings])
                        return -ENOMEM;
                resp->n_warnings++;
        }

        v = json_object_member(resp->root, "errors");
        if (v && json_value_kind(v) != JSON_KIND_NULL) {
                resp->has_errors_key = true;
                r = join_strings(v, f, &resp->errors_text, &resp->n_errors);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void texts_clear(VaultResponse *r) {
        for (size_t i = 0; i < r->n_warnings; i++) {
                free(r->warnings[i]);
                r->warnings[i] = NULL;
        }
        r->n_warnings = 0;
        free(r->errors_text);
        r->errors_text = NULL;
}

/**
 * vault_response_retext() - rebuilds the texts of a parsed response.
 * @r: a response from vault_response_parse().
 * @f: applied to each raw string of errors[] and warnings[] before it is
 *     sanitised and capped (so that a filter sees whole strings).
 *
 * Return: 0 or -ENOMEM (the texts are then gone: never half-filtered).
 */
int vault_response_retext(VaultResponse *r, const VaultTextFilter *f) {
        int rc;

        if (!r)
                return -EINVAL;
        texts_clear(r);
        r->n_errors = 0;
        if (!r->root)
                return 0;
        rc = response_texts(r, f);
        if (rc < 0)
                texts_clear(r);
        return rc;
}

/**
 * vault_response_parse() - parses one Vault HTTP response body.
 * @status: the HTTP status.
 * @body: the body bytes (may be NULL when size is 0).
 * @size: body length.
 * @ret: the parsed response, to free with vault_response_free().
 * @err: filled on failure.
 *
 * Return: 0; VAULT_E_PROTOCOL (not JSON / not an object / a known key with
 * the wrong type, for status < 400); -ENOMEM.
 */
/* The envelope's lease fields (request_id, lease_id, lease_duration,
 * renewable, mount_type). */
static int parse_lease_fields(VaultResponse *resp, long status, VaultError *err) {
        int r;

        if ((r = opt_string(resp->root, "request_id", false, true, &resp->request_id)) < 0 ||
            (r = opt_string(resp->root, "lease_id", true, true, &resp->lease_id)) < 0 ||
            (r = opt_int(resp->root, "lease_duration", &resp->lease_duration)) < 0 ||
            (r = opt_bool(resp->root, "renewable", &resp->renewable)) < 0 ||
            (r = opt_string(resp->root, "mount_type", false, true, &resp->mount_type)) < 0) {
                if (r == -ENOMEM)
                        return r;
                return vault_error_set(err, VAULT_E_PROTOCOL, status,
                                       "malformed lease fields in Vault response (HTTP %ld)",
                                       status);
        }
        if (resp->lease_duration < 0)
                return vault_error_set(err, VAULT_E_PROTOCOL, status,
                                       "negative lease_duration in Vault response");
        return 0;
}

/* The envelope's data, errors and warnings, wrap_info and auth. */
static int parse_members(VaultResponse *resp, long status, VaultError *err) {
        const JsonValue *v = json_object_member(resp->root, "data");
        int r;

        if (json_value_kind(v) == JSON_KIND_OBJECT)
                resp->data = v;
        else if (v && json_value_kind(v) != JSON_KIND_NULL)
                return vault_error_set(err, VAULT_E_PROTOCOL, status,
                                       "'data' in Vault response is not an object");
        r = response_texts(resp, NULL);
        if (r < 0)
                return r;
        v = json_object_member(resp->root, "wrap_info");
        resp->has_wrap_info = json_value_kind(v) == JSON_KIND_OBJECT;
        v = json_object_member(resp->root, "auth");
        if (json_value_kind(v) == JSON_KIND_OBJECT)
                return parse_auth(resp, (JsonValue *)v, err);
        if (v && json_value_kind(v) != JSON_KIND_NULL && status < 400)
                return vault_error_set(err, VAULT_E_PROTOCOL, status,
                                       "'auth' in Vault response is not an object");
        return 0;
}

int vault_response_parse(long status, const uint8_t *body, size_t size, VaultResponse **ret,
                         VaultError *err) {
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        JsonError jerr;
        int r;

        if (!ret || (!body && size > 0))
                return -EINVAL;
        resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        resp->status = status;

        if (size == 0) {
                *ret = TAKE_PTR(resp);
                return 0;
        }
        r = json_parse_object(body, size, 0, VAULT_JSON_DEPTH_MAX, &resp->root, &jerr);
        if (r == -ENOMEM)
                return r;
        if (r != 0) {
                if (status >= 400) {
                        /* A proxy's HTML error page, say: keep only the status. */
                        resp->body_not_json = true;
                        *ret = TAKE_PTR(resp);
                        return 0;
                }
                return vault_error_set(err, VAULT_E_PROTOCOL, status,
                                       "Vault response (HTTP %ld, %zu bytes) is not a JSON "
                                       "object: %s",
                                       status, size, jerr.text);
        }
        r = parse_lease_fields(resp, status, err);
        if (r == 0)
                r = parse_members(resp, status, err);
        if (r != 0)
                return r;
        *ret = TAKE_PTR(resp);
        return 0;
}

static bool text_has(const VaultResponse *r, const char *needle) {
        return r->errors_text && strstr(r->errors_text, needle);
}

/* Vault's own words, for the end of a message. */
static const char *vault_text(const VaultResponse *r) {
        if (r->errors_text)
                return r->errors_text;
        if (r->n_warnings > 0)
                return r->warnings[0];
        return NULL;
}

static int fail(const VaultResponse *r, VaultError *err, int code, const char *summary) {
        const char *text = vault_text(r);

        if (text)
                return vault_error_set(err, code, r->status, "%s (HTTP %ld): %s", summary,
                                       r->status, text);
        if (r->body_not_json)
                return vault_error_set(err, code, r->status,
                                       "%s (HTTP %ld, body is not Vault JSON)", summary, r->status);
        return vault_error_set(err, code, r->status, "%s (HTTP %ld)", summary, r->status);
}

/* KV v2 answers a deleted or destroyed version with a 404 envelope whose
 * data.metadata says so, and no errors key (facts 4.2). */
static int kv2_gone(const VaultResponse *r, VaultError *err) {
        const JsonValue *md = json_object_member(r->data, "metadata");
        const char *dt = NULL;
        size_t dtn = 0;
        bool destroyed = false;
        int64_t version = 0;
        char when[64];

        if (!md || r->has_errors_key)
                return 0;
        (void)json_member_bool(md, "destroyed", &destroyed);
        (void)json_member_string(md, "deletion_time", &dt, &dtn);
        (void)json_member_int64(md, "version", &version);
        if (destroyed)
                return vault_error_set(err, VAULT_E_NOT_FOUND, r->status,
                                       "secret version %" PRId64 " was destroyed (HTTP 404)",
                                       version);
        if (dt && dtn > 0) {
                (void)vault_text_sanitize(when, sizeof(when), dt, dtn, sizeof(when) - 1);
                return vault_error_set(err, VAULT_E_NOT_FOUND, r->status,
                                       "secret version %" PRId64 " was deleted at %s (HTTP 404)",
                                       version, when);
        }
        return 0;
}

static bool jwt_config_error(const VaultResponse *r) {
        /* jwt auth answers 400 for both rejected tokens and role/config
         * problems (facts 3); the latter are the caller's to fix. */
        return text_has(r, "missing role") || text_has(r, "could not be found") ||
               text_has(r, "role_type is not allowed") ||
               text_has(r, "could not load configuration");
}

/**
 * vault_response_check() - the outcome of a parsed response.
 * @r: the response.
 * @op: what kind of call it answers.
 * @err: filled when the outcome is not 0.
 *
 * Return: 0 for 2xx (and for logins, a usable auth.client_token);
 * VAULT_E_LOGIN_REJECTED, VAULT_E_DENIED, VAULT_E_NOT_FOUND,
 * VAULT_E_BAD_REQUEST, VAULT_E_UNAVAILABLE, VAULT_E_SEALED,
 * VAULT_E_RATE_LIMITED, VAULT_E_PROTOCOL.
 */
int vault_response_check(const VaultResponse *r, VaultOp op, VaultError *err) {
        bool login = op == VAULT_OP_LOGIN_KUBERNETES || op == VAULT_OP_LOGIN_JWT;
        long s;
        int k;

        if (!r)
                return -EINVAL;
        s = r->status;
        if (s >= 200 && s < 300) {
                if (login && (!r->auth || !r->auth->client_token))
                        return vault_error_set(err, VAULT_E_PROTOCOL, s,
                                               "Vault login answered HTTP %ld without a token", s);
                return 0;
        }
        if (s >= 300 && s < 400)
                return fail(r, err, VAULT_E_PROTOCOL, "unexpected redirect from Vault");
        switch (s) {
        case 400:
                if (op == VAULT_OP_LOGIN_JWT && !jwt_config_error(r))
                        return fail(r, err, VAULT_E_LOGIN_REJECTED, "Vault login rejected");
                return fail(r, err, VAULT_E_BAD_REQUEST, "Vault rejected the request");
        case 401:
        case 403:
                if (login)
                        return fail(r, err, VAULT_E_LOGIN_REJECTED, "Vault login rejected");
                return fail(r, err, VAULT_E_DENIED, "permission denied by Vault");
        case 404:
                k = kv2_gone(r, err);
                if (k != 0)
                        return k;
                return fail(r, err, VAULT_E_NOT_FOUND, "not found in Vault");
        case 405:
                return fail(r, err, VAULT_E_BAD_REQUEST,
                            "operation not supported on this Vault path");
        case 412:
                return fail(r, err, VAULT_E_UNAVAILABLE, "Vault precondition failed");
        case 429:
                return fail(r, err, VAULT_E_RATE_LIMITED, "rate limited by Vault");
        case 501:
                return fail(r, err, VAULT_E_UNAVAILABLE, "Vault is not initialized");
        case 503:
                if (text_has(r, "sealed"))
                        return fail(r, err, VAULT_E_SEALED, "Vault is sealed");
                return fail(r, err, VAULT_E_UNAVAILABLE, "Vault unavailable");
        default:
                break;
        }
        if (login && s == 500 && text_has(r, "not authorized"))
                /* Older kubernetes auth plugins: "not authorized" as a 500. */
                return fail(r, err, VAULT_E_LOGIN_REJECTED, "Vault login rejected");
        if (s >= 500 && s < 600)
                return fail(r, err, VAULT_E_UNAVAILABLE, "Vault server error");
        if (s >= 400 && s < 500)
                return fail(r, err, VAULT_E_BAD_REQUEST, "Vault rejected the request");
        return fail(r, err, VAULT_E_PROTOCOL, "unexpected HTTP status from Vault");
}
