/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - jansson behind a small API (see json.h for the number policy and
 * the secret-hygiene rules).
 *
 * The serialiser is our own rather than json_dumps(): it writes straight into
 * a Secret (no intermediate heap copy of secret values), and it produces the
 * byte format of Go's encoding/json (escapes, number text, optional sorted
 * keys), which is what users of vault-csi-provider get in their files. The
 * streaming writer (JsonOut) shares its escapes and produces the same bytes
 * without a value tree: the state records and status files are written a
 * few times per publish and refresh, and building the tree cost more than
 * writing the text.
 *
 * Never logs. No shared mutable state besides jansson's allocator hooks,
 * installed once.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "json.h"
#include "macro.h"
#include "utf8.h"

/* jansson nests at most this deep while parsing (JSON_PARSER_MAX_DEPTH). */
#define JSON_WRITE_MAX_DEPTH 2048U

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void alloc_setup(void) {
        /* Every string jansson copies (secret values included) is wiped when
         * jansson frees it. */
        json_set_alloc_funcs(malloc, secret_erase_and_free);
}

static void json_setup(void) {
        (void)pthread_once(&alloc_once, alloc_setup);
}

/* --- parsing ------------------------------------------------------------- */

static void error_fill(JsonError *e, const json_error_t *je) {
        char reason[JSON_ERROR_TEXT_LENGTH];
        char *near;

        if (!e)
                return;
        /* jansson appends "near '<input excerpt>'": the input may be a secret. */
        (void)snprintf(reason, sizeof(reason), "%s", je->text);
        near = strstr(reason, " near ");
        if (near)
                *near = 0;
        e->line = je->line > 0 ? (unsigned)je->line : 0;
        e->column = je->column > 0 ? (unsigned)je->column : 0;
        e->position = je->position;
        if (e->line > 0)
                (void)snprintf(e->text, sizeof(e->text), "line %u, column %u: %.100s", e->line,
                               e->column, reason);
        else
                (void)snprintf(e->text, sizeof(e->text), "%.100s", reason);
}

static void error_set(JsonError *e, const char *text) {
        if (!e)
                return;
        *e = (JsonError){ 0 };
        (void)snprintf(e->text, sizeof(e->text), "%s", text);
}

static bool too_deep(const json_t *v, unsigned depth, unsigned max) {
        if (!json_is_object(v) && !json_is_array(v))
                return false;
        if (depth >= max)
                return true;
        if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++)
                        if (too_deep(json_array_get(v, i), depth + 1, max))
                                return true;
                return false;
        }
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it))
                if (too_deep(json_object_iter_value(it), depth + 1, max))
                        return true;
        return false;
}

/**
 * json_parse() - parses one JSON value from a bounded buffer.
 * @p: the bytes (need not be NUL-terminated).
 * @n: their count.
 * @max_size: size cap (0: none); checked before parsing.
 * @max_depth: nesting cap (0: JSON_DEPTH_DEFAULT).
 * @ret: the value (a new reference).
 * @reterr: when non-NULL, line/column and reason on failure; never quotes
 *          the input.
 *
 * Integers beyond int64 make the whole document decode as doubles (see
 * json.h). Return: 0, JSON_E_SYNTAX, JSON_E_TOO_DEEP, -E2BIG, -ENOMEM,
 * -EINVAL.
 */
int json_parse(const void *p, size_t n, size_t max_size, unsigned max_depth, JsonValue **ret,
               JsonError *reterr) {
        size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
        json_error_t je;
        json_t *v;

        if (!ret || (!p && n > 0))
                return -EINVAL;
        if (max_size > 0 && n > max_size) {
                error_set(reterr, "document exceeds the size limit");
                return -E2BIG;
        }
        if (max_depth == 0)
                max_depth = JSON_DEPTH_DEFAULT;
        json_setup();

        v = json_loadb(p ? p : "", n, flags, &je);
        if (!v && json_error_code(&je) == json_error_numeric_overflow) {
                /* An integer beyond int64: keep the document, as doubles. */
                flags |= JSON_DECODE_INT_AS_REAL;
                v = json_loadb(p, n, flags, &je);
        }
        if (!v) {
                if (json_error_code(&je) == json_error_out_of_memory)
                        return -ENOMEM;
                error_fill(reterr, &je);
                return JSON_E_SYNTAX;
        }
        if (too_deep(v, 0, max_depth)) {
                json_decref(v);
                error_set(reterr, "document nests too deeply");
                return JSON_E_TOO_DEEP;
        }
        *ret = v;
        return 0;
}

int json_parse_object(const void *p, size_t n, size_t max_size, unsigned max_depth, JsonValue **ret,
                      JsonError *reterr) {
        JsonValue *v = NULL;
        int r;

        r = json_parse(p, n, max_size, max_depth, &v, reterr);
        if (r != 0)
                return r;
        if (!json_is_object(v)) {
                json_decref(v);
                error_set(reterr, "document is not a JSON object");
                return JSON_E_KIND;
        }
        *ret = v;
        return 0;
}

/* --- values -------------------------------------------------------------- */

JsonValue *json_value_ref(JsonValue *v) {
        return json_incref(v);
}

JsonValue *json_value_unref(JsonValue *v) {
        json_decref(v);
        return NULL;
}

JsonKind json_value_kind(const JsonValue *v) {
        if (!v)
                return _JSON_KIND_INVALID;
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return JSON_KIND_OBJECT;
        case JSON_ARRAY:
                return JSON_KIND_ARRAY;
        case JSON_STRING:
                return JSON_KIND_STRING;
        case JSON_INTEGER:
                return JSON_KIND_INTEGER;
        case JSON_REAL:
                return JSON_KIND_REAL;
        case JSON_TRUE:
        case JSON_FALSE:
                return JSON_KIND_BOOL;
        case JSON_NULL:
                return JSON_KIND_NULL;
        }
        return _JSON_KIND_INVALID;
}

bool json_value_equal(const JsonValue *a, const JsonValue *b) {
        return json_equal(a, b);
}

const JsonValue *json_object_member(const JsonValue *obj, const char *key) {
        if (!obj || !key || !json_is_object(obj))
                return NULL;
        return json_object_get(obj, key);
}

size_t json_object_count(const JsonValue *obj) {
        return obj && json_is_object(obj) ? json_object_size(obj) : 0;
}

size_t json_array_count(const JsonValue *arr) {
        return arr && json_is_array(arr) ? json_array_size(arr) : 0;
}

const JsonValue *json_array_element(const JsonValue *arr, size_t i) {
        if (!arr || !json_is_array(arr))
                return NULL;
        return json_array_get(arr, i);
}

bool json_object_next(const JsonValue *obj, JsonIter *it, const char **ret_key, size_t *ret_key_len,
                      const JsonValue **ret_value) {
        if (!obj || !it || !json_is_object(obj))
                return false;
        /* jansson's iterator API takes non-const objects but does not modify. */
        if (!it->started) {
                it->pos = json_object_iter((json_t *)obj);
                it->started = true;
        } else if (it->pos)
                it->pos = json_object_iter_next((json_t *)obj, it->pos);
        if (!it->pos)
                return false;
        if (ret_key)
                *ret_key = json_object_iter_key(it->pos);
        if (ret_key_len)
                *ret_key_len = json_object_iter_key_len(it->pos);
        if (ret_value)
                *ret_value = json_object_iter_value(it->pos);
        return true;
}

int json_value_string(const JsonValue *v, const char **ret, size_t *ret_len) {
        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_string(v))
                return -EMEDIUMTYPE;
        if (ret)
                *ret = json_string_value(v);
        if (ret_len)
                *ret_len = json_string_length(v);
        return 0;
}

/**
 * json_value_int64() - an integer, or an integral real in int64 range (the
 * form integers take in a document decoded with big integers).
 * Return: 0, -ENOENT (NULL/null), -EMEDIUMTYPE, -ERANGE.
 */
int json_value_int64(const JsonValue *v, int64_t *ret) {
        if (!v || json_is_null(v))
                return -ENOENT;
        if (json_is_integer(v)) {
                if (ret)
                        *ret = (int64_t)json_integer_value(v);
                return 0;
        }
        if (json_is_real(v)) {
                double d = json_real_value(v);
                /* Integral and inside [-2^63, 2^63). */
                if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
                    d >= 9223372036854775808.0)
                        return -ERANGE;
                if (ret)
                        *ret = (int64_t)d;
                return 0;
        }
        return -EMEDIUMTYPE;
}

int json_value_double(const JsonValue *v, double *ret) {
        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_number(v))
                return -EMEDIUMTYPE;
        if (ret)
                *ret = json_number_value(v);
        return 0;
}

int json_value_bool(const JsonValue *v, bool *ret) {
        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_boolean(v))
                return -EMEDIUMTYPE;
        if (ret)
                *ret = json_is_true(v);
        return 0;
}

int json_member_string(const JsonValue *obj, const char *key, const char **ret, size_t *ret_len) {
        return json_value_string(json_object_member(obj, key), ret, ret_len);
}

int json_member_int64(const JsonValue *obj, const char *key, int64_t *ret) {
        return json_value_int64(json_object_member(obj, key), ret);
}

int json_member_bool(const JsonValue *obj, const char *key, bool *ret) {
        return json_value_bool(json_object_member(obj, key), ret);
}

/**
 * json_member_strdup() - a heap copy of a string member, for data that is
 * not secret (identifiers, lease ids). Secrets stay in jansson's wiped
 * copies or go to a Secret.
 * Return: 0, -ENOENT, -EMEDIUMTYPE, -EINVAL (holds U+0000), -ENOMEM.
 */
int json_member_strdup(const JsonValue *obj, const char *key, char **ret) {
        const char *s;
        size_t n;
        char *d;
        int r;

        r = json_member_string(obj, key, &s, &n);
        if (r < 0)
                return r;
        if (memchr(s, 0, n))
                return -EINVAL;
        d = strndup(s, n);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

/* --- builders ------------------------------------------------------------ */

int json_object_new(JsonValue **ret) {
        json_setup();
        *ret = json_object();
        return *ret ? 0 : -ENOMEM;
}

int json_array_new(JsonValue **ret) {
        json_setup();
        *ret = json_array();
        return *ret ? 0 : -ENOMEM;
}

/* A string value; -EINVAL unless p[0..n) is valid UTF-8. */
int json_string_new(const void *p, size_t n, JsonValue **ret) {
        json_setup();
        if (!p && n > 0)
                return -EINVAL;
        /* json_stringn() validates UTF-8; NULL then means invalid or OOM. */
        *ret = json_stringn(p ? p : "", n);
        return *ret ? 0 : -EINVAL;
}

static int object_put_new(JsonValue *obj, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (!obj || !key || !json_is_object(obj)) {
                json_decref(v);
                return -EINVAL;
        }
        /* json_object_set_new() steals v even on failure (bad UTF-8 key). */
        return json_object_set_new(obj, key, v) == 0 ? 0 : -EINVAL;
}

int json_object_put_string(JsonValue *obj, const char *key, const void *p, size_t n) {
        JsonValue *s = NULL;
        int r;

        r = json_string_new(p, n, &s);
        if (r < 0)
                return r;
        return object_put_new(obj, key, s);
}

int json_object_put_int64(JsonValue *obj, const char *key, int64_t v) {
        json_setup();
        return object_put_new(obj, key, json_integer((json_int_t)v));
}

int json_object_put_bool(JsonValue *obj, const char *key, bool v) {
        json_setup();
        return object_put_new(obj, key, json_boolean(v));
}

int json_object_put_value(JsonValue *obj, const char *key, JsonValue *v) {
        if (!v)
                return -EINVAL;
        return object_put_new(obj, key, json_incref(v));
}

int json_array_append_value(JsonValue *arr, JsonValue *v) {
        if (!arr || !v || !json_is_array(arr))
                return -EINVAL;
        return json_array_append(arr, v) == 0 ? 0 : -ENOMEM;
}

int json_object_remove(JsonValue *obj, const char *key) {
        if (!obj || !key || !json_is_object(obj))
                return -EINVAL;
        return json_object_del(obj, key) == 0 ? 0 : -ENOENT;
}

/* --- serialiser ------------------------------------------------------------ */

typedef struct Writer {
        Secret *secret; /* secret mode */
        char *buf;      /* plain mode */
        size_t len, cap;
        unsigned flags;
} Writer;

static int w_put(Writer *w, const void *p, size_t n) {
        size_t need;

        if (w->secret)
                return secret_append(w->secret, p, n);
        if (!size_add(w->len, n, &need) || !size_add(need, 1, &need))
                return -ENOMEM;
        if (need > w->cap) {
                size_t cap = MAX(need, w->cap * 2);
                char *b = realloc(w->buf, cap); /* plain mode only: never secrets */
                if (!b)
                        return -ENOMEM;
                w->buf = b;
                w->cap = cap;
        }
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        w->buf[w->len] = 0;
        return 0;
}

static int w_str(Writer *w, const char *s) {
        return w_put(w, s, strlen(s));
}

/*
 * What write_quoted() looks at, per byte: QUOTE_ALWAYS never goes out as it
 * is (controls, '"', '\\', and 0xe2, which may start U+2028/U+2029),
 * QUOTE_HTML only with JSON_WRITE_ESCAPE_HTML.
 */
enum {
        QUOTE_ALWAYS = 1,
        QUOTE_HTML = 2
};
#define QUOTE_16_CONTROLS 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const uint8_t quote_class[256] = {
        QUOTE_16_CONTROLS,    QUOTE_16_CONTROLS, /* 0x00-0x1f */
        ['"'] = QUOTE_ALWAYS, ['\\'] = QUOTE_ALWAYS, [0xe2] = QUOTE_ALWAYS,
        ['<'] = QUOTE_HTML,   ['>'] = QUOTE_HTML,    ['&'] = QUOTE_HTML,
};

static int write_quoted(Writer *w, const char *s, size_t n) {
        static const char hex[] = "0123456789abcdef";
        bool html = w->flags & JSON_WRITE_ESCAPE_HTML;
        uint8_t look = html ? QUOTE_ALWAYS | QUOTE_HTML : QUOTE_ALWAYS;
        size_t start = 0;
        int r;

        r = w_put(w, "\"", 1);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                unsigned char c;
                char esc[7];
                const char *e = NULL;
                size_t skip = 1;

                /* the run of plain bytes is copied with what follows it */
                while (i < n && !(quote_class[(unsigned char)s[i]] & look))
                        i++;
                if (i == n)
                        break;
                c = (unsigned char)s[i];
                if (c == '"')
                        e = "\\\"";
                else if (c == '\\')
                        e = "\\\\";
                else if (c == '\n')
                        e = "\\n";
                else if (c == '\r')
                        e = "\\r";
                else if (c == '\t')
                        e = "\\t";
                else if (c < 0x20 || (html && (c == '<' || c == '>' || c == '&'))) {
                        esc[0] = '\\';
                        esc[1] = 'u';
                        esc[2] = '0';
                        esc[3] = '0';
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 0xf];
                        esc[6] = 0;
                        e = esc;
                } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                           ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
                        /* U+2028/U+2029: Go escapes them (JavaScript line ends). */
                        e = (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
                        skip = 3;
                }
                if (!e)
                        continue;
                r = w_put(w, s + start, i - start);
                if (r >= 0)
                        r = w_str(w, e);
                i += skip - 1;
                start = i + 1;
        }
        if (r >= 0)
                r = w_put(w, s + start, n - start);
        if (r >= 0)
                r = w_put(w, "\"", 1);
        return r;
}

/*
 * Shortest text that reads back as the same double, laid out like Go's
 * strconv.AppendFloat(f, 'f' or 'e', -1, 64) as encoding/json uses it.
 */
static int format_real(double d, char *out, size_t outlen) {
        char e[40], digits[24];
        size_t nd = 0;
        int exp10, p;
        bool neg;
        size_t o = 0;

        if (!isfinite(d))
                return -EINVAL;
        for (p = 1; p <= 17; p++) {
                (void)snprintf(e, sizeof(e), "%.*e", p - 1, d);
                if (strtod(e, NULL) == d)
                        break;
        }
        /* e = "[-]d[.ddd]e[+-]xx" */
        neg = e[0] == '-';
        for (const char *q = e + neg; *q && *q != 'e'; q++)
                if (*q >= '0' && *q <= '9' && nd < sizeof(digits) - 1)
                        digits[nd++] = *q;
        digits[nd] = 0;
        exp10 = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
        while (nd > 1 && digits[nd - 1] == '0')
                digits[--nd] = 0;

#define PUTC(ch)                                                                                   \
        do {                                                                                       \
                if (o + 1 >= outlen)                                                               \
                        return -ENOBUFS;                                                           \
                out[o++] = (ch);                                                                   \
        } while (0)

        if (neg)
                PUTC('-');
        if (d != 0 && (fabs(d) < 1e-6 || fabs(d) >= 1e21)) {
                PUTC(digits[0]);
                if (nd > 1) {
                        PUTC('.');
                        for (size_t i = 1; i < nd; i++)
                                PUTC(digits[i]);
                }
                /* Go writes "1e+21" and, after encoding/json's cleanup, "1e-7". */
                p = snprintf(out + o, outlen - o, "e%c%d", exp10 < 0 ? '-' : '+', abs(exp10));
                return p > 0 && (size_t)p < outlen - o ? 0 : -ENOBUFS;
        }
        if (exp10 < 0) {
                PUTC('0');
                PUTC('.');
                for (int i = -1; i > exp10; i--)
                        PUTC('0');
                for (size_t i = 0; i < nd; i++)
                        PUTC(digits[i]);
        } else {
                for (int i = 0; i <= exp10 || (size_t)i < nd; i++) {
                        if (i == exp10 + 1)
                                PUTC('.');
                        PUTC((size_t)i < nd ? digits[i] : '0');
                }
        }
        out[o] = 0;
#undef PUTC
        return 0;
}

typedef struct KeyRef {
        const char *key;
        size_t len;
        const json_t *value;
} KeyRef;

static int keyref_cmp(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = memcmp(x->key, y->key, MIN(x->len, y->len));
        if (c != 0)
                return c;
        return x->len < y->len ? -1 : x->len > y->len;
}

static int write_value(Writer *w, const json_t *v, unsigned depth);

static int write_object(Writer *w, const json_t *v, unsigned depth) {
        _cleanup_free_ KeyRef *keys = NULL;
        size_t n = json_object_size(v), i = 0;
        int r;

        if (n > 0) {
                keys = calloc(n, sizeof(*keys));
                if (!keys)
                        return -ENOMEM;
        }
        for (void *it = json_object_iter((json_t *)v); it && i < n;
             it = json_object_iter_next((json_t *)v, it), i++)
                keys[i] = (KeyRef){ json_object_iter_key(it), json_object_iter_key_len(it),
                                    json_object_iter_value(it) };
        n = i;
        if (n > 1 && (w->flags & JSON_WRITE_SORT_KEYS))
                qsort(keys, n, sizeof(*keys), keyref_cmp);

        r = w_put(w, "{", 1);
        for (i = 0; r >= 0 && i < n; i++) {
                if (i > 0)
                        r = w_put(w, ",", 1);
                if (r >= 0)
                        r = write_quoted(w, keys[i].key, keys[i].len);
                if (r >= 0)
                        r = w_put(w, ":", 1);
                if (r >= 0)
                        r = write_value(w, keys[i].value, depth + 1);
        }
        if (r >= 0)
                r = w_put(w, "}", 1);
        return r;
}

static int write_value(Writer *w, const json_t *v, unsigned depth) {
        char num[64];
        int r;

        if (!v)
                return -EINVAL;
        if (depth > JSON_WRITE_MAX_DEPTH)
                return -ELOOP;
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return write_object(w, v, depth);
        case JSON_ARRAY:
                r = w_put(w, "[", 1);
                for (size_t i = 0; r >= 0 && i < json_array_size(v); i++) {
                        if (i > 0)
                                r = w_put(w, ",", 1);
                        if (r >= 0)
                                r = write_value(w, json_array_get(v, i), depth + 1);
                }
                if (r >= 0)
                        r = w_put(w, "]", 1);
                return r;
        case JSON_STRING:
                return write_quoted(w, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                (void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return w_str(w, num);
        case JSON_REAL:
                r = format_real(json_real_value(v), num, sizeof(num));
                if (r < 0)
                        return r;
                return w_str(w, num);
        case JSON_TRUE:
                return w_str(w, "true");
        case JSON_FALSE:
                return w_str(w, "false");
        case JSON_NULL:
                return w_str(w, "null");
        }
        return -EINVAL;
}

/**
 * json_write_secret() - appends the compact text of v to a Secret.
 * @flags: JSON_WRITE_SORT_KEYS, JSON_WRITE_ESCAPE_HTML, JSON_WRITE_NEWLINE.
 *
 * Go-compatible bytes: escapes, shortest round-trip number text. No heap
 * copy of the text is made outside out.
 * Return: 0; -E2BIG (out's bound reached, out holds a prefix); -ENOMEM;
 * -EINVAL (NULL, a non-finite real); -ELOOP (nesting beyond 2048).
 */
int json_write_secret(const JsonValue *v, unsigned flags, Secret *out) {
        Writer w = { .secret = out, .flags = flags };
        int r;

        if (!v || !out)
                return -EINVAL;
        r = write_value(&w, v, 0);
        if (r >= 0 && (flags & JSON_WRITE_NEWLINE))
                r = w_put(&w, "\n", 1);
        return r < 0 ? r : 0;
}

/* json_write_secret() into a new Secret (bounded by SECRET_SIZE_MAX only). */
int json_write_new_secret(const JsonValue *v, unsigned flags, Secret **ret) {
        _cleanup_(secret_freep) Secret *s = NULL;
        int r = secret_new(&s, 0);

        if (r < 0)
                return r;
        r = json_write_secret(v, flags, s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

/* As json_write_secret(), into a malloc'd string: never for secrets. */
int json_write_string(const JsonValue *v, unsigned flags, char **ret, size_t *ret_len) {
        Writer w = { .flags = flags };
        int r;

        if (!v || !ret)
                return -EINVAL;
        r = write_value(&w, v, 0);
        if (r >= 0 && (flags & JSON_WRITE_NEWLINE))
                r = w_put(&w, "\n", 1);
        if (r >= 0 && !w.buf)
                r = w_put(&w, "", 0);
        if (r < 0 || !w.buf) {
                free(w.buf);
                return r < 0 ? r : -ENOMEM;
        }
        *ret = w.buf;
        if (ret_len)
                *ret_len = w.len;
        return 0;
}

/* --- streaming writer -------------------------------------------------------- */

typedef struct OutLevel {
        bool object;     /* else an array */
        bool has_items;  /* a comma before the next one */
        const char *key; /* the last key given (objects) */
        size_t key_len;
} OutLevel;

struct JsonOut {
        Writer w;
        int error;
        unsigned depth;   /* open containers */
        bool key_pending; /* a key was written, its value not yet */
        bool complete;    /* the top-level value was written */
        OutLevel level[JSON_OUT_MAX_DEPTH];
};

int json_out_new(unsigned flags, JsonOut **ret) {
        JsonOut *o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->w.flags = flags & (JSON_WRITE_ESCAPE_HTML | JSON_WRITE_NEWLINE);
        *ret = o;
        return 0;
}

JsonOut *json_out_free(JsonOut *o) {
        if (o) {
                free(o->w.buf);
                free(o);
        }
        return NULL;
}

static void out_fail(JsonOut *o, int r) {
        if (r < 0 && o->error == 0)
                o->error = r;
}

static void out_put(JsonOut *o, const char *p, size_t n) {
        if (o->error == 0)
                out_fail(o, w_put(&o->w, p, n));
}

/* Before a value: where one may go (after a key, in an array, at the top
 * once), with the comma an array needs. false after an error. */
static bool out_value_begin(JsonOut *o) {
        OutLevel *l = o->depth > 0 ? &o->level[o->depth - 1] : NULL;

        if (o->error != 0)
                return false;
        if (l ? (l->object && !o->key_pending) : o->complete) {
                out_fail(o, -EINVAL);
                return false;
        }
        if (l && !l->object && l->has_items)
                out_put(o, ",", 1);
        o->key_pending = false;
        return o->error == 0;
}

static void out_value_end(JsonOut *o) {
        if (o->depth > 0)
                o->level[o->depth - 1].has_items = true;
        else
                o->complete = true;
}

static void out_open(JsonOut *o, bool object) {
        if (!out_value_begin(o))
                return;
        if (o->depth == JSON_OUT_MAX_DEPTH) {
                out_fail(o, -EINVAL);
                return;
        }
        o->level[o->depth++] = (OutLevel){ .object = object };
        out_put(o, object ? "{" : "[", 1);
}

static void out_close(JsonOut *o, bool object) {
        if (o->error != 0)
                return;
        if (o->depth == 0 || o->level[o->depth - 1].object != object || o->key_pending) {
                out_fail(o, -EINVAL);
                return;
        }
        o->depth--;
        out_put(o, object ? "}" : "]", 1);
        out_value_end(o);
}

void json_out_object_open(JsonOut *o) {
        out_open(o, true);
}

void json_out_object_close(JsonOut *o) {
        out_close(o, true);
}

void json_out_array_open(JsonOut *o) {
        out_open(o, false);
}

void json_out_array_close(JsonOut *o) {
        out_close(o, false);
}

void json_out_key(JsonOut *o, const char *key) {
        OutLevel *l = o->depth > 0 ? &o->level[o->depth - 1] : NULL;
        size_t n = strlen(key);

        if (o->error != 0)
                return;
        if (!l || !l->object || o->key_pending || !utf8_valid(key, n) ||
            (l->key &&
             keyref_cmp(&(KeyRef){ l->key, l->key_len, NULL }, &(KeyRef){ key, n, NULL }) >= 0)) {
                out_fail(o, -EINVAL);
                return;
        }
        if (l->has_items)
                out_put(o, ",", 1);
        if (o->error == 0)
                out_fail(o, write_quoted(&o->w, key, n));
        out_put(o, ":", 1);
        l->key = key;
        l->key_len = n;
        o->key_pending = true;
}

void json_out_string(JsonOut *o, const char *s, size_t n) {
        if (!out_value_begin(o))
                return;
        if (!utf8_valid(s, n)) {
                out_fail(o, -EINVAL);
                return;
        }
        out_fail(o, write_quoted(&o->w, s, n));
        out_value_end(o);
}

void json_out_int64(JsonOut *o, int64_t v) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRId64, v);

        if (!out_value_begin(o))
                return;
        out_put(o, num, (size_t)n);
        out_value_end(o);
}

void json_out_bool(JsonOut *o, bool v) {
        if (!out_value_begin(o))
                return;
        out_put(o, v ? "true" : "false", v ? 4 : 5);
        out_value_end(o);
}

void json_out_member_string(JsonOut *o, const char *key, const char *s) {
        json_out_key(o, key);
        json_out_string(o, s, strlen(s));
}

void json_out_member_int64(JsonOut *o, const char *key, int64_t v) {
        json_out_key(o, key);
        json_out_int64(o, v);
}

void json_out_member_bool(JsonOut *o, const char *key, bool v) {
        json_out_key(o, key);
        json_out_bool(o, v);
}

int json_out_finish(JsonOut *o, char **ret, size_t *ret_len) {
        if (o->error == 0 && (o->depth != 0 || !o->complete))
                out_fail(o, -EINVAL);
        if (o->w.flags & JSON_WRITE_NEWLINE)
                out_put(o, "\n", 1);
        if (o->error != 0)
                return o->error;
        *ret = TAKE_PTR(o->w.buf);
        if (ret_len)
                *ret_len = o->w.len;
        o->w.len = o->w.cap = 0;
        o->complete = false;
        return 0;
}

const char *json_library_version(void) {
        return jansson_version_str();
}
