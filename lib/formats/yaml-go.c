/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml-go.c - YAML typed as Go's yaml.v3 types it (see yaml-go.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"
#include "vault-json.h"
#include "yaml-go.h"
#include "macro.h"

#define JSON_WRITE_GO (JSON_WRITE_SORT_KEYS | JSON_WRITE_ESCAPE_HTML)

static bool str_in(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

bool yaml_plain_is_null(const char *s) {
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
        return str_in(s, nulls);
}

static int digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'Z')
                return c - 'A' + 10;
        return 99;
}

/* Go's strconv.ParseUint(s, 0, 64): prefixes 0x 0o 0b, a leading 0 is octal. */
static int go_parse_uint(const char *s, uint64_t *ret) {
        unsigned base = 10;
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        if (s[0] == '0') {
                size_t n = strlen(s);
                char p = (char)(n >= 3 ? (s[1] | 0x20) : 0);
                if (p == 'x' || p == 'o' || p == 'b') {
                        base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
                        s += 2;
                } else {
                        base = 8;
                        s += 1;
                }
        }
        for (; *s; s++) {
                unsigned d = (unsigned)digit_value(*s);
                if (d >= base)
                        return -EINVAL;
                if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

/* Go's strconv.ParseInt(s, 0, 64). */
static int go_parse_int(const char *s, int64_t *ret) {
        bool neg = false;
        uint64_t u;
        int r;

        if (*s == '+' || *s == '-') {
                neg = *s == '-';
                s++;
        }
        r = go_parse_uint(s, &u);
        if (r < 0)
                return r;
        if (neg) {
                if (u > (uint64_t)INT64_MAX + 1)
                        return -ERANGE;
                *ret = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        } else {
                if (u > (uint64_t)INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t)u;
        }
        return 0;
}

static const char *skip_digits(const char *s, size_t *n) {
        *n = 0;
        while (*s >= '0' && *s <= '9') {
                s++;
                (*n)++;
        }
        return s;
}

/* yaml.v3's float pattern: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_float_syntax(const char *s) {
        size_t n;

        if (*s == '+' || *s == '-')
                s++;
        if (*s == '.') {
                s = skip_digits(s + 1, &n);
                if (n == 0)
                        return false;
        } else {
                s = skip_digits(s, &n);
                if (n == 0)
                        return false;
                if (*s == '.')
                        s = skip_digits(s + 1, &n);
        }
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                s = skip_digits(s, &n);
                if (n == 0)
                        return false;
        }
        return *s == 0;
}

/* strconv.ParseFloat: fails on overflow, rounds underflow to 0 silently. */
static bool go_parse_float(const char *s, double *ret) {
        char *end;
        double d;

        errno = 0;
        d = strtod(s, &end);
        if (*end || (errno == ERANGE && isinf(d)) || !isfinite(d))
                return false;
        *ret = d;
        return true;
}

/*
 * Types a plain scalar like yaml.v3's resolve() (see the top of the file).
 * `s` may be a secret value: the '_'-stripped copy is wiped.
 */
int yaml_plain_resolve(const char *s, size_t len, YamlPlainKind *ret_kind, YamlPlainValue *ret) {
        static const char *const trues[] = { "true", "True", "TRUE", NULL };
        static const char *const falses[] = { "false", "False", "FALSE", NULL };
        static const char *const nonfinite[] = { ".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                                 ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
                                                 "-.Inf", "-.INF", NULL };
        _cleanup_free_ char *plain = NULL;
        YamlPlainKind kind = YAML_PLAIN_STRING;
        char c = s[0];
        size_t j = 0;

        *ret = (YamlPlainValue){ 0 };
        if (yaml_plain_is_null(s)) {
                *ret_kind = YAML_PLAIN_NULL;
                return 0;
        }
        if (str_in(s, trues) || str_in(s, falses)) {
                ret->b = str_in(s, trues);
                *ret_kind = YAML_PLAIN_BOOL;
                return 0;
        }
        if (str_in(s, nonfinite)) {
                *ret_kind = YAML_PLAIN_NONFINITE;
                return 0;
        }
        if (c == '.') {
                /* ParseFloat on the text as written (no '_' removal) */
                if (yaml_float_syntax(s) && go_parse_float(s, &ret->d))
                        kind = YAML_PLAIN_FLOAT;
                *ret_kind = kind;
                return 0;
        }
        if (!(c == '+' || c == '-' || (c >= '0' && c <= '9'))) {
                *ret_kind = YAML_PLAIN_STRING;
                return 0;
        }

        plain = malloc(len + 1);
        if (!plain)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++)
                if (s[i] != '_')
                        plain[j++] = s[i];
        plain[j] = 0;
        if (go_parse_int(plain, &ret->i) == 0)
                kind = YAML_PLAIN_INT;
        else if (go_parse_uint(plain, &ret->u) == 0)
                kind = YAML_PLAIN_UINT;
        else if (yaml_float_syntax(plain) && go_parse_float(plain, &ret->d))
                kind = YAML_PLAIN_FLOAT;
        secret_wipe(plain, len + 1);
        *ret_kind = kind;
        return 0;
}

/* A standalone JSON value from its text (numbers, true/false/null). */
static int json_from_text(const char *text, JsonValue **ret) {
        int r = json_parse(text, strlen(text), 0, 1, ret, NULL);
        return r > 0 ? -EINVAL : r;
}

typedef struct ArgsCtx {
        const char *label; /* "object 'x'" */
        char *err;
        size_t errlen;
} ArgsCtx;

static int yaml_to_json(const ArgsCtx *ctx, const YNode *n, const char *key, JsonValue **ret);

static int scalar_to_json(const ArgsCtx *ctx, const YNode *n, const char *key, JsonValue **ret) {
        char text[64];
        YamlPlainKind kind;
        YamlPlainValue pv;
        QuotedText qk;
        int r;

        if (n->quoted)
                kind = YAML_PLAIN_STRING;
        else {
                r = yaml_plain_resolve(n->scalar, n->scalar_len, &kind, &pv);
                if (r < 0)
                        return r;
        }
        switch (kind) {
        case YAML_PLAIN_STRING:
                r = json_string_new(n->scalar, n->scalar_len, ret);
                if (r == -EINVAL)
                        return err_fail(ctx->err, ctx->errlen, -EINVAL,
                                        "%s: secretArgs: the value of '%s' is not valid UTF-8",
                                        ctx->label, quote_text(&qk, key));
                return r;
        case YAML_PLAIN_NULL:
                return json_from_text("null", ret);
        case YAML_PLAIN_BOOL:
                return json_from_text(pv.b ? "true" : "false", ret);
        case YAML_PLAIN_NONFINITE:
                return err_fail(ctx->err, ctx->errlen, -EINVAL,
                                "%s: secretArgs: the value of '%s' is .inf or .nan, which JSON "
                                "cannot carry: quote it to send a string",
                                ctx->label, quote_text(&qk, key));
        case YAML_PLAIN_INT:
                (void)snprintf(text, sizeof(text), "%" PRId64, pv.i);
                break;
        case YAML_PLAIN_UINT:
                (void)snprintf(text, sizeof(text), "%" PRIu64, pv.u);
                break;
        case YAML_PLAIN_FLOAT:
                /* exponent form keeps it a JSON real; the writer prints it as Go does */
                (void)snprintf(text, sizeof(text), "%.17e", pv.d);
                break;
        }
        r = json_from_text(text, ret);
        secret_wipe(text, sizeof(text));
        secret_wipe(&pv, sizeof(pv));
        return r;
}

static int yaml_to_json(const ArgsCtx *ctx, const YNode *n, const char *key, JsonValue **ret) {
        _cleanup_(json_value_unrefp) JsonValue *v = NULL;
        int r;

        switch (n->type) {
        case YNODE_SCALAR:
                return scalar_to_json(ctx, n, key, ret);
        case YNODE_MAPPING:
                r = json_object_new(&v);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n->n_children; i++) {
                        _cleanup_(json_value_unrefp) JsonValue *child = NULL;
                        const char *k = n->keys[i]->scalar;
                        QuotedText qk;

                        r = yaml_to_json(ctx, n->values[i], k, &child);
                        if (r < 0)
                                return r;
                        r = json_object_put_value(v, k, child);
                        if (r == -EINVAL)
                                return err_fail(ctx->err, ctx->errlen, -EINVAL,
                                                "%s: secretArgs: key '%s' is not valid UTF-8",
                                                ctx->label, quote_text(&qk, k));
                        if (r < 0)
                                return r;
                }
                break;
        case YNODE_SEQUENCE:
                r = json_array_new(&v);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n->n_children; i++) {
                        _cleanup_(json_value_unrefp) JsonValue *child = NULL;

                        r = yaml_to_json(ctx, n->values[i], key, &child);
                        if (r < 0)
                                return r;
                        r = json_array_append_value(v, child);
                        if (r < 0)
                                return r;
                }
                break;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int yaml_go_json(const YNode *n, const char *label, Secret **ret, char *err, size_t errlen) {
        const ArgsCtx ctx = { .label = label, .err = err, .errlen = errlen };
        _cleanup_(json_value_unrefp) JsonValue *obj = NULL;
        int r = yaml_to_json(&ctx, n, "", &obj);

        if (r < 0)
                return r;
        return json_write_new_secret(obj, JSON_WRITE_GO, ret);
}
