/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-echo.c - cuts request values out of Vault's error text (see
 * vault-echo.h).
 */
#include <stdio.h>

#include "json.h"
#include "vault-echo.h"
#include "parse.h"
#include "macro.h"

#define BODY_DEPTH_MAX VAULT_JSON_DEPTH_MAX

static bool same(const Secret *s, const void *p, size_t n) {
        size_t sn;
        const uint8_t *sp = secret_get(s, &sn);
        return sn == n && memcmp(sp, p, n) == 0;
}

int vault_echoes_add(VaultEchoes *e, const void *p, size_t n) {
        Secret **grown;
        int r;

        if (n == 0 || e->too_many)
                return 0;
        for (size_t i = 0; i < e->n; i++)
                if (same(e->needles[i], p, n))
                        return 0;
        if (e->n >= VAULT_ECHO_NEEDLES_MAX) {
                e->too_many = true;
                return 0;
        }
        grown = realloc(e->needles, (e->n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        e->needles = grown;
        r = secret_new_from(&e->needles[e->n], p, n);
        if (r < 0)
                return r;
        e->n++;
        return 0;
}

void vault_echoes_done(VaultEchoes *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n; i++)
                secret_free(e->needles[i]);
        free(e->needles);
        *e = (VaultEchoes)VAULT_ECHOES_INIT;
}

static int collect_json(VaultEchoes *e, const JsonValue *v, unsigned depth) {
        JsonIter it = JSON_ITER_INIT;
        const JsonValue *child;
        const char *s, *key;
        size_t n, klen;
        int64_t i;
        char num[32];
        int r = 0;

        if (depth > BODY_DEPTH_MAX)
                return 0;
        switch (json_value_kind(v)) {
        case JSON_KIND_STRING:
                if (json_value_string(v, &s, &n) == 0)
                        r = vault_echoes_add(e, s, n);
                break;
        case JSON_KIND_INTEGER:
                if (json_value_int64(v, &i) == 0) {
                        int k = snprintf(num, sizeof(num), "%lld", (long long)i);
                        if (k > 0)
                                r = vault_echoes_add(e, num, (size_t)k);
                }
                break;
        case JSON_KIND_OBJECT:
                while (r == 0 && json_object_next(v, &it, &key, &klen, &child))
                        r = collect_json(e, child, depth + 1);
                break;
        case JSON_KIND_ARRAY:
                for (size_t k = 0; r == 0 && k < json_array_count(v); k++)
                        r = collect_json(e, json_array_element(v, k), depth + 1);
                break;
        default: /* reals, booleans and null are not worth hiding */
                break;
        }
        return r;
}

/* A query value as sent, and as Vault reads it ('+' is a space, %XX a byte). */
static int collect_query_value(VaultEchoes *e, const char *p, size_t n) {
        _cleanup_free_ char *dec = malloc(n + 1);
        size_t o = 0;
        int r;

        if (!dec)
                return -ENOMEM;
        r = vault_echoes_add(e, p, n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (p[i] == '%' && i + 2 < n && hex_digit_value(p[i + 1]) >= 0 &&
                    hex_digit_value(p[i + 2]) >= 0) {
                        dec[o++] =
                                (char)(hex_digit_value(p[i + 1]) << 4 | hex_digit_value(p[i + 2]));
                        i += 2;
                } else
                        dec[o++] = p[i] == '+' ? ' ' : p[i];
        }
        if (r == 0)
                r = vault_echoes_add(e, dec, o);
        explicit_bzero(dec, n + 1);
        return r;
}

static int collect_query(VaultEchoes *e, const char *url_path) {
        const char *q = url_path ? strchr(url_path, '?') : NULL;
        int r = 0;

        while (q && r == 0) {
                const char *start = q + 1, *end = strchr(start, '&'), *eq;
                size_t len = end ? (size_t)(end - start) : strlen(start);

                eq = memchr(start, '=', len);
                if (eq)
                        r = collect_query_value(e, eq + 1, len - (size_t)(eq + 1 - start));
                else
                        r = collect_query_value(e, start, len);
                q = end;
        }
        return r;
}

int vault_echoes_collect(VaultEchoes *e, const char *url_path, const uint8_t *body,
                         size_t body_len) {
        _cleanup_(json_value_unrefp) JsonValue *v = NULL;
        int r;

        r = collect_query(e, url_path);
        if (r < 0 || !body || body_len == 0)
                return r;
        r = json_parse(body, body_len, 0, BODY_DEPTH_MAX, &v, NULL);
        if (r == -ENOMEM)
                return r;
        if (r != 0) /* not JSON: the whole body is what was sent */
                return vault_echoes_add(e, body, body_len);
        return collect_json(e, v, 0);
}

static bool word_byte(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_' || c >= 0x80;
}

/* The length of the longest needle that matches at s[i] (0: none). */
static size_t match_at(const VaultEchoes *e, const char *s, size_t n, size_t i) {
        size_t best = 0;

        for (size_t k = 0; k < e->n; k++) {
                size_t len;
                const uint8_t *p = secret_get(e->needles[k], &len);
                if (len <= best || len > n - i || memcmp(s + i, p, len) != 0)
                        continue;
                if (len < VAULT_ECHO_SHORT &&
                    ((i > 0 && word_byte((unsigned char)s[i - 1])) ||
                     (i + len < n && word_byte((unsigned char)s[i + len]))))
                        continue;
                best = len;
        }
        return best;
}

int vault_text_redact(const VaultEchoes *e, const char *s, size_t n, char **ret, size_t *ret_len) {
        const size_t mark = strlen(VAULT_ECHO_MARK);
        size_t cap, o = 0;
        char *out;

        if (n > VAULT_ECHO_SCAN_MAX)
                n = VAULT_ECHO_SCAN_MAX;
        if (e && e->too_many)
                n = 0;
        /* a match of one byte at worst becomes `mark` bytes */
        cap = n * mark + 1;
        out = malloc(cap);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                size_t m = e ? match_at(e, s, n, i) : 0;
                if (m > 0) {
                        memcpy(out + o, VAULT_ECHO_MARK, mark);
                        o += mark;
                        i += m;
                } else
                        out[o++] = s[i++];
        }
        out[o] = 0;
        *ret = out;
        *ret_len = o;
        return 0;
}

static int redact_filter(const char *s, size_t n, char **ret, size_t *ret_len, void *userdata) {
        return vault_text_redact(userdata, s, n, ret, ret_len);
}

int vault_response_strip_echoes(VaultResponse *r, const char *url_path, const Secret *body) {
        VaultEchoes e = VAULT_ECHOES_INIT;
        const uint8_t *b = NULL;
        size_t blen = 0;
        int rc;

        if (!r || (!r->errors_text && r->n_warnings == 0))
                return 0;
        if (body)
                b = secret_get(body, &blen);
        rc = vault_echoes_collect(&e, url_path, b, blen);
        if (rc == 0 && (e.n > 0 || e.too_many))
                rc = vault_response_retext(r, &(VaultTextFilter){ redact_filter, &e });
        vault_echoes_done(&e);
        return rc;
}
