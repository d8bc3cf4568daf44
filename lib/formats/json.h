/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.h - the project's only door to jansson: bounded parsing with a clear
 * error, typed getters, a few builders, a compact serialiser, and a
 * streaming writer for the documents the daemon composes itself.
 *
 * Callers see JsonValue (jansson's json_t, but only through this header) and
 * never include <jansson.h>. Parsed values are reference counted; getters
 * return borrowed pointers valid while the root is alive.
 *
 * Secret hygiene: the first use installs json_set_alloc_funcs() with a free
 * that wipes malloc_usable_size() bytes first, so jansson's copies of secret
 * strings are wiped when released. Parse errors never quote the input
 * (jansson's "near '...'" excerpt is cut off), because the input may hold
 * secrets. json_write_secret() serialises straight into a Secret.
 *
 * Numbers: integers that fit int64 stay integers. A document holding an
 * integer beyond 64 bits is not rejected: it is decoded again with
 * JSON_DECODE_INT_AS_REAL, so every integer in *that* document becomes a
 * double; the serialiser prints integral doubles below 1e21 without a
 * fraction, so ordinary integers still round-trip exactly and big ones come
 * out value-equal as IEEE doubles (not digit-for-digit). Reals are printed
 * as the shortest text that reads back to the same double, in the format of
 * Go's encoding/json (1e21 and up, and below 1e-6, in exponent form).
 * A real beyond the double range (1e400) is a syntax error (jansson).
 * Strings may contain U+0000 (JSON_ALLOW_NUL); use the (pointer, length)
 * getters.
 *
 * Never logs. Thread-safe: values are not shared between threads (style
 * guide section 7); the one-time allocator setup is pthread_once.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

typedef struct json_t JsonValue;

typedef enum JsonKind {
        JSON_KIND_OBJECT,
        JSON_KIND_ARRAY,
        JSON_KIND_STRING,
        JSON_KIND_INTEGER,
        JSON_KIND_REAL,
        JSON_KIND_BOOL,
        JSON_KIND_NULL,
        _JSON_KIND_MAX,
        _JSON_KIND_INVALID = -EINVAL,
} JsonKind;

/* Positive outcomes of json_parse(). Size caps give -E2BIG. */
enum {
        _JSON_E_SUCCESS,
        JSON_E_SYNTAX,   /* not JSON, truncated, trailing junk, bad UTF-8 */
        JSON_E_TOO_DEEP, /* nesting beyond max_depth */
        JSON_E_KIND,     /* json_parse_object(): valid JSON but not an object */
};

#define JSON_DEPTH_DEFAULT 64U

typedef struct JsonError {
        unsigned line;   /* 1-based; 0 when not applicable */
        unsigned column; /* 1-based character column */
        size_t position; /* byte offset */
        char text[160];  /* "line 1, column 9: unexpected token" (no input quoted) */
} JsonError;

/*
 * Parses exactly one JSON value from p[0..n). max_size 0 means no size cap;
 * max_depth 0 means JSON_DEPTH_DEFAULT. Returns 0, -E2BIG (n > max_size),
 * -ENOMEM, JSON_E_SYNTAX or JSON_E_TOO_DEEP (reterr filled when non-NULL).
 */
int json_parse(const void *p, size_t n, size_t max_size, unsigned max_depth, JsonValue **ret,
               JsonError *reterr);
/* Same, but the value must be an object (else JSON_E_KIND). */
int json_parse_object(const void *p, size_t n, size_t max_size, unsigned max_depth, JsonValue **ret,
                      JsonError *reterr);

JsonValue *json_value_ref(JsonValue *v);
JsonValue *json_value_unref(JsonValue *v);
static inline void json_value_unrefp(JsonValue **v) {
        if (*v)
                *v = json_value_unref(*v);
}
JsonKind json_value_kind(const JsonValue *v);
/* Structural equality (objects unordered, integer 1 != real 1.0). */
bool json_value_equal(const JsonValue *a, const JsonValue *b);

/* Borrowed member / element; NULL if absent or v has another kind. */
const JsonValue *json_object_member(const JsonValue *obj, const char *key);
size_t json_object_count(const JsonValue *obj);
size_t json_array_count(const JsonValue *arr);
const JsonValue *json_array_element(const JsonValue *arr, size_t i);

/* Object iteration in document order: `JsonIter it = JSON_ITER_INIT;`
 * `while (json_object_next(obj, &it, &key, &len, &value)) ...` */
typedef struct JsonIter {
        void *pos;
        bool started;
} JsonIter;
#define JSON_ITER_INIT                                                                             \
        { .pos = NULL, .started = false }
bool json_object_next(const JsonValue *obj, JsonIter *it, const char **ret_key, size_t *ret_key_len,
                      const JsonValue **ret_value);

/*
 * Typed getters. Return 0; -ENOENT when v is NULL or JSON null (a missing
 * member); -EMEDIUMTYPE for another kind; -ERANGE when a number does not fit.
 * json_value_int64() also accepts integral reals. Outputs are written only on
 * success.
 */
int json_value_string(const JsonValue *v, const char **ret, size_t *ret_len);
int json_value_int64(const JsonValue *v, int64_t *ret);
int json_value_double(const JsonValue *v, double *ret);
int json_value_bool(const JsonValue *v, bool *ret);
int json_member_string(const JsonValue *obj, const char *key, const char **ret, size_t *ret_len);
int json_member_int64(const JsonValue *obj, const char *key, int64_t *ret);
int json_member_bool(const JsonValue *obj, const char *key, bool *ret);
/* A malloc'd copy of a string member for non-secret data; -EINVAL when the
 * string holds U+0000. */
int json_member_strdup(const JsonValue *obj, const char *key, char **ret);

/* Builders. Strings must be valid UTF-8 (else -EINVAL). _put_ replaces an
 * existing key. json_object_put_value() takes its own reference to v. */
int json_object_new(JsonValue **ret);
int json_array_new(JsonValue **ret);
int json_string_new(const void *p, size_t n, JsonValue **ret);
int json_object_put_string(JsonValue *obj, const char *key, const void *p, size_t n);
int json_object_put_int64(JsonValue *obj, const char *key, int64_t v);
int json_object_put_bool(JsonValue *obj, const char *key, bool v);
int json_object_put_value(JsonValue *obj, const char *key, JsonValue *v);
int json_array_append_value(JsonValue *arr, JsonValue *v);
/* Removes a member (its value is released, and wiped when unreferenced).
 * 0, or -ENOENT when absent. */
int json_object_remove(JsonValue *obj, const char *key);

/* Serialiser flags. Output is always compact (no whitespace). */
enum {
        JSON_WRITE_SORT_KEYS = 1U << 0,   /* bytewise key order (Go map order) */
        JSON_WRITE_ESCAPE_HTML = 1U << 1, /* <, >, & as \u003c... (Go's default) */
        JSON_WRITE_NEWLINE = 1U << 2,     /* append "\n" (Go's json.Encoder) */
};

/* Appends the text of v to out. -E2BIG when out's bound is reached (out then
 * holds a prefix: clear it), -ENOMEM, -EINVAL. */
int json_write_secret(const JsonValue *v, unsigned flags, Secret *out);
/* The text of v in a new Secret; the same errors. */
int json_write_new_secret(const JsonValue *v, unsigned flags, Secret **ret);
/* The same into a malloc'd NUL-terminated string; never for secrets. */
int json_write_string(const JsonValue *v, unsigned flags, char **ret, size_t *ret_len);

/*
 * Streaming writer, for documents the daemon composes from its own state
 * (state records, status files): the text is written as the calls come, with
 * no value tree in between. The output is what json_write_string() gives for
 * the same document with JSON_WRITE_SORT_KEYS: compact, and every object's
 * keys in bytewise ascending order, which the caller keeps and the writer
 * checks (a key out of order or repeated fails the document). Strings must be
 * valid UTF-8 (checked). Key pointers must stay valid until the next key of
 * the same object. Nesting: at most JSON_OUT_MAX_DEPTH.
 *
 * Errors are sticky: after the first failure every call does nothing, and
 * json_out_finish() returns it: -EINVAL (misuse, out of order, not UTF-8),
 * -ENOMEM. Never for secrets (a plain heap buffer).
 */
#define JSON_OUT_MAX_DEPTH 8U

typedef struct JsonOut JsonOut;

/* flags: JSON_WRITE_ESCAPE_HTML, JSON_WRITE_NEWLINE. */
int json_out_new(unsigned flags, JsonOut **ret);
JsonOut *json_out_free(JsonOut *o);
static inline void json_out_freep(JsonOut **o) {
        if (*o)
                *o = json_out_free(*o);
}
void json_out_object_open(JsonOut *o);
void json_out_object_close(JsonOut *o);
void json_out_array_open(JsonOut *o);
void json_out_array_close(JsonOut *o);
/* The next member's key; a value (or an open) must follow. */
void json_out_key(JsonOut *o, const char *key);
void json_out_string(JsonOut *o, const char *s, size_t n);
void json_out_int64(JsonOut *o, int64_t v);
void json_out_bool(JsonOut *o, bool v);
/* A member: its key, then its value (s NUL-terminated). */
void json_out_member_string(JsonOut *o, const char *key, const char *s);
void json_out_member_int64(JsonOut *o, const char *key, int64_t v);
void json_out_member_bool(JsonOut *o, const char *key, bool v);
/* Hands over the text (NUL-terminated, newline appended when asked) once
 * exactly one complete value was written; 0 or the first error. */
int json_out_finish(JsonOut *o, char **ret, size_t *ret_len);

/* The version of the jansson library loaded at run time ("2.14"). */
const char *json_library_version(void);
