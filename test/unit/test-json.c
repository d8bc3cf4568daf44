/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-json.c - the json module: bounded parsing and its errors (which must
 * never quote the input), typed getters, builders, and the compact
 * serialiser (Go-compatible escapes and number text, big integers), and the
 * streaming writer (the same bytes as the serialiser, misuse refused).
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static JsonValue *parse_ok(const char *text) {
        JsonValue *v = NULL;
        JsonError e;
        int r = json_parse(text, strlen(text), 0, 0, &v, &e);
        ck_assert_msg(r == 0, "parse of %s failed: %d %s", text, r, e.text);
        return v;
}

/* Serialises with flags and compares with the expected text. */
static void assert_writes(const JsonValue *v, unsigned flags, const char *want) {
        char *out = NULL;
        size_t n = 0;

        ck_assert_int_eq(json_write_string(v, flags, &out, &n), 0);
        ck_assert_str_eq(out, want);
        ck_assert_uint_eq(n, strlen(want));
        free(out);
}

static void assert_roundtrip(const char *in, unsigned flags, const char *want) {
        JsonValue *v = parse_ok(in);
        assert_writes(v, flags, want);
        json_value_unref(v);
}

START_TEST(test_parse_basic)
{
        JsonValue *v = parse_ok("{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":2.5}}");
        const JsonValue *b, *c;
        int64_t i;
        double d;
        bool t;

        ck_assert_int_eq(json_value_kind(v), JSON_KIND_OBJECT);
        ck_assert_uint_eq(json_object_count(v), 3);
        ck_assert_int_eq(json_member_int64(v, "a", &i), 0);
        ck_assert_int_eq(i, 1);
        b = json_object_member(v, "b");
        ck_assert_int_eq(json_value_kind(b), JSON_KIND_ARRAY);
        ck_assert_uint_eq(json_array_count(b), 3);
        ck_assert_int_eq(json_value_bool(json_array_element(b, 0), &t), 0);
        ck_assert(t);
        ck_assert_int_eq(json_value_kind(json_array_element(b, 1)), JSON_KIND_NULL);
        ck_assert_ptr_null(json_array_element(b, 3));
        c = json_object_member(v, "c");
        ck_assert_int_eq(json_value_double(json_object_member(c, "d"), &d), 0);
        ck_assert(d == 2.5);
        ck_assert_ptr_null(json_object_member(v, "zzz"));
        ck_assert_ptr_null(json_object_member(b, "a"));
        json_value_unref(v);

        /* Any value at the top level. */
        v = parse_ok("\"just a string\"");
        ck_assert_int_eq(json_value_kind(v), JSON_KIND_STRING);
        json_value_unref(v);
        v = parse_ok("  42 \n");
        ck_assert_int_eq(json_value_kind(v), JSON_KIND_INTEGER);
        json_value_unref(v);
}
END_TEST

START_TEST(test_parse_errors_do_not_quote_input)
{
        static const char *const bad[] = {
                "{\"password\":\"PLANTED-secret-value", /* truncated string */
                "{\"password\":PLANTEDbareword}",       /* bad token */
                "{\"a\":1} PLANTEDtrailing",            /* trailing junk */
                "{\"a\":\"\xff\xfePLANTED\"}",          /* invalid UTF-8 */
                "",                                     /* empty */
                "{\"a\":1,}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                JsonValue *v = NULL;
                JsonError e;
                int r = json_parse(bad[i], strlen(bad[i]), 0, 0, &v, &e);
                ck_assert_int_eq(r, JSON_E_SYNTAX);
                ck_assert_ptr_null(v);
                ck_assert_msg(strstr(e.text, "PLANTED") == NULL, "input leaked: %s", e.text);
                ck_assert_uint_gt(strlen(e.text), 0);
        }
}
END_TEST

START_TEST(test_parse_error_position)
{
        const char *text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
        JsonValue *v = NULL;
        JsonError e;

        ck_assert_int_eq(json_parse(text, strlen(text), 0, 0, &v, &e), JSON_E_SYNTAX);
        ck_assert_uint_eq(e.line, 3);
        ck_assert_uint_gt(e.column, 0);
        ck_assert_msg(strncmp(e.text, "line 3, column ", 15) == 0, "%s", e.text);
}
END_TEST

START_TEST(test_parse_caps)
{
        JsonValue *v = NULL;
        JsonError e;
        char deep[300];
        size_t n = 0;

        ck_assert_int_eq(json_parse("[1,2,3]", 7, 6, 0, &v, &e), -E2BIG);
        ck_assert_int_eq(json_parse("[1,2,3]", 7, 7, 0, &v, &e), 0);
        json_value_unref(v);
        v = NULL;

        for (int i = 0; i < 100; i++)
                deep[n++] = '[';
        for (int i = 0; i < 100; i++)
                deep[n++] = ']';
        ck_assert_int_eq(json_parse(deep, n, 0, 64, &v, &e), JSON_E_TOO_DEEP);
        ck_assert_ptr_null(v);
        ck_assert_int_eq(json_parse(deep, n, 0, 100, &v, &e), 0);
        json_value_unref(v);
        v = NULL;
        ck_assert_int_eq(json_parse(deep, n, 0, 99, &v, &e), JSON_E_TOO_DEEP);

        ck_assert_int_eq(json_parse_object("[]", 2, 0, 0, &v, &e), JSON_E_KIND);
        ck_assert_int_eq(json_parse_object("{}", 2, 0, 0, &v, &e), 0);
        json_value_unref(v);
}
END_TEST

START_TEST(test_big_integers)
{
        JsonValue *v = parse_ok("{\"big\":123456789012345678901234567890,\"small\":42,"
                                "\"neg\":-98765432109876543210,\"r\":1.5}");
        int64_t i;
        double d;

        /* The document survives; small integers stay exact. */
        ck_assert_int_eq(json_member_int64(v, "small", &i), 0);
        ck_assert_int_eq(i, 42);
        ck_assert_int_eq(json_member_int64(v, "big", &i), -ERANGE);
        ck_assert_int_eq(json_value_double(json_object_member(v, "big"), &d), 0);
        ck_assert(d == 123456789012345678901234567890.0);
        assert_writes(v, 0,
                      "{\"big\":1.2345678901234568e+29,\"small\":42,"
                      "\"neg\":-98765432109876540000,\"r\":1.5}");
        json_value_unref(v);

        /* Value-equal round trip: parsing the output gives the same numbers. */
        v = parse_ok("[18446744073709551616]");
        assert_writes(v, 0, "[18446744073709552000]");
        json_value_unref(v);
        v = parse_ok("[9223372036854775807,-9223372036854775808]");
        assert_writes(v, 0, "[9223372036854775807,-9223372036854775808]");
        json_value_unref(v);
}
END_TEST

START_TEST(test_reals_like_go)
{
        assert_roundtrip("[1.5,0.1,100.0,-0.0,0.0,1e21,1e20,1e-7,0.000001,123.456,5e-324]", 0,
                         "[1.5,0.1,100,-0,0,1e+21,100000000000000000000,1e-7,0.000001,123.456,"
                         "5e-324]");
        assert_roundtrip("[2.5e-10,1.7976931348623157e308,-3.25]", 0,
                         "[2.5e-10,1.7976931348623157e+308,-3.25]");
        /* A real beyond the double range is not JSON we can hold. */
        {
                JsonValue *v = NULL;
                JsonError e;
                ck_assert_int_eq(json_parse("[1e400]", 7, 0, 0, &v, &e), JSON_E_SYNTAX);
        }
}
END_TEST

START_TEST(test_string_escapes)
{
        /* Control characters, quote, backslash, U+2028/2029, and raw UTF-8. */
        assert_roundtrip("[\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\\u007f<>&\\u2028\\u2029 é/\"]", 0,
                         "[\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\x7f<>&\\u2028\\u2029 é/\"]");
        /* other 0xe2 sequences (U+2027, U+20AC) stay raw, beside and between escaped ones */
        assert_roundtrip("[\"\\u2027\\u2028x\\u20ac\\u2029\\u2027\"]", 0,
                         "[\"\xe2\x80\xa7\\u2028x\xe2\x82\xac\\u2029\xe2\x80\xa7\"]");
        assert_roundtrip("[\"<a href=\\\"x\\\">&</a>\"]", JSON_WRITE_ESCAPE_HTML,
                         "[\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\"]");
        /* U+0000 inside a string is kept (ALLOW_NUL) and escaped again. */
        {
                JsonValue *v = parse_ok("{\"k\":\"a\\u0000b\"}");
                const char *s;
                size_t n;
                char *dup = NULL;
                ck_assert_int_eq(json_member_string(v, "k", &s, &n), 0);
                ck_assert_uint_eq(n, 3);
                ck_assert_mem_eq(s, "a\0b", 3);
                ck_assert_int_eq(json_member_strdup(v, "k", &dup), -EINVAL);
                assert_writes(v, 0, "{\"k\":\"a\\u0000b\"}");
                json_value_unref(v);
        }
}
END_TEST

START_TEST(test_key_order_and_newline)
{
        JsonValue *v = parse_ok("{\"b\":1,\"a\":{\"z\":1,\"y\":2},\"ab\":[],\"\":null}");

        /* Document order by default, bytewise order on request. */
        assert_writes(v, 0, "{\"b\":1,\"a\":{\"z\":1,\"y\":2},\"ab\":[],\"\":null}");
        assert_writes(v, JSON_WRITE_SORT_KEYS,
                      "{\"\":null,\"a\":{\"y\":2,\"z\":1},\"ab\":[],\"b\":1}");
        assert_writes(v, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE,
                      "{\"\":null,\"a\":{\"y\":2,\"z\":1},\"ab\":[],\"b\":1}\n");
        json_value_unref(v);
        assert_roundtrip("{}", 0, "{}");
        assert_roundtrip("[]", 0, "[]");
        assert_roundtrip("{\"dup\":1,\"dup\":2}", 0, "{\"dup\":2}");
}
END_TEST

START_TEST(test_roundtrip_equal)
{
        static const char *const docs[] = {
                "{\"request_id\":\"x\",\"data\":{\"n\":[1,2.25,-3,true,false,null],\"s\":\"\\u00e9\"}}",
                "[[[[]]],{\"a\":{\"b\":{}}}]",
                "{\"a\":9007199254740993,\"b\":-1}",
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                JsonValue *a = parse_ok(docs[i]), *b;
                char *out = NULL;
                ck_assert_int_eq(json_write_string(a, JSON_WRITE_SORT_KEYS, &out, NULL), 0);
                b = parse_ok(out);
                ck_assert(json_value_equal(a, b));
                free(out);
                json_value_unref(a);
                json_value_unref(b);
        }
}
END_TEST

START_TEST(test_getter_errors)
{
        JsonValue *v = parse_ok("{\"s\":\"x\",\"i\":7,\"r\":7.0,\"f\":7.5,\"n\":null,\"b\":false,"
                                "\"huge\":1e19}");
        const char *s = "untouched";
        int64_t i = -1;
        bool b = true;

        ck_assert_int_eq(json_member_string(v, "missing", &s, NULL), -ENOENT);
        ck_assert_int_eq(json_member_string(v, "n", &s, NULL), -ENOENT);
        ck_assert_int_eq(json_member_string(v, "i", &s, NULL), -EMEDIUMTYPE);
        ck_assert_str_eq(s, "untouched");
        ck_assert_int_eq(json_member_int64(v, "s", &i), -EMEDIUMTYPE);
        ck_assert_int_eq(json_member_int64(v, "f", &i), -ERANGE);
        ck_assert_int_eq(json_member_int64(v, "huge", &i), -ERANGE);
        ck_assert_int_eq(i, -1);
        ck_assert_int_eq(json_member_int64(v, "r", &i), 0); /* integral real */
        ck_assert_int_eq(i, 7);
        ck_assert_int_eq(json_member_bool(v, "b", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(json_member_bool(v, "s", &b), -EMEDIUMTYPE);
        ck_assert_int_eq(json_value_kind(NULL), _JSON_KIND_INVALID);
        /* Getters on NULL or non-objects are safe. */
        ck_assert_ptr_null(json_object_member(NULL, "a"));
        ck_assert_uint_eq(json_object_count(NULL), 0);
        ck_assert_uint_eq(json_array_count(v), 0);
        json_value_unref(v);
}
END_TEST

START_TEST(test_iteration_order)
{
        JsonValue *v = parse_ok("{\"z\":1,\"a\":2,\"m\":3}");
        JsonIter it = JSON_ITER_INIT;
        const char *k, *want[] = { "z", "a", "m" };
        const JsonValue *val;
        size_t n = 0, kl;

        while (json_object_next(v, &it, &k, &kl, &val)) {
                ck_assert_uint_lt(n, 3);
                ck_assert_str_eq(k, want[n]);
                ck_assert_uint_eq(kl, 1);
                n++;
        }
        ck_assert_uint_eq(n, 3);
        /* Exhausted iterators stay exhausted. */
        ck_assert(!json_object_next(v, &it, &k, &kl, &val));
        json_value_unref(v);
}
END_TEST

START_TEST(test_builders)
{
        JsonValue *o = NULL, *a = NULL, *s = NULL;
        char *out = NULL;

        ck_assert_int_eq(json_object_new(&o), 0);
        ck_assert_int_eq(json_object_put_string(o, "role", "kv-role", 7), 0);
        ck_assert_int_eq(json_object_put_int64(o, "increment", 3600), 0);
        ck_assert_int_eq(json_object_put_bool(o, "sync", true), 0);
        ck_assert_int_eq(json_array_new(&a), 0);
        ck_assert_int_eq(json_string_new("x", 1, &s), 0);
        ck_assert_int_eq(json_array_append_value(a, s), 0);
        ck_assert_int_eq(json_object_put_value(o, "list", a), 0);
        /* Invalid UTF-8 is refused. */
        ck_assert_int_eq(json_object_put_string(o, "bad", "\xc3\x28", 2), -EINVAL);
        ck_assert_int_eq(json_object_put_string(o, "role", "other", 5), 0); /* replaces */
        ck_assert_int_eq(json_write_string(o, JSON_WRITE_SORT_KEYS, &out, NULL), 0);
        ck_assert_str_eq(out,
                         "{\"increment\":3600,\"list\":[\"x\"],\"role\":\"other\",\"sync\":true}");
        free(out);
        ck_assert_int_eq(json_object_remove(o, "list"), 0);
        ck_assert_int_eq(json_object_remove(o, "list"), -ENOENT);
        ck_assert_uint_eq(json_object_count(o), 3);
        json_value_unref(s);
        json_value_unref(a);
        json_value_unref(o);
}
END_TEST

START_TEST(test_write_secret_bounded)
{
        JsonValue *v = parse_ok("{\"password\":\"PLANTED-0123456789\"}");
        Secret *out = NULL;
        size_t n;

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(json_write_secret(v, 0, out), 0);
        ck_assert_str_eq((const char *)secret_get(out, &n),
                         "{\"password\":\"PLANTED-0123456789\"}");
        secret_free(out);

        ck_assert_int_eq(secret_new(&out, 10), 0);
        ck_assert_int_eq(json_write_secret(v, 0, out), -E2BIG);
        secret_free(out);
        json_value_unref(v);
}
END_TEST

/* ---- streaming writer ---- */

static JsonOut *out_new(unsigned flags) {
        JsonOut *o = NULL;
        ck_assert_int_eq(json_out_new(flags, &o), 0);
        return o;
}

static void assert_out(JsonOut *o, const char *want) {
        char *text = NULL;
        size_t n = 0;
        ck_assert_int_eq(json_out_finish(o, &text, &n), 0);
        ck_assert_str_eq(text, want);
        ck_assert_uint_eq(n, strlen(want));
        free(text);
        json_out_free(o);
}

static void assert_out_fails(JsonOut *o, int want) {
        char *text = NULL;
        ck_assert_int_eq(json_out_finish(o, &text, NULL), want);
        ck_assert_ptr_null(text);
        json_out_free(o);
}

/* The same document written twice, as a value tree and streamed: the same
 * bytes, escapes included. */
START_TEST(test_out_matches_the_tree_writer)
{
        static const char doc[] = "{\"\":\"\",\"a\":{\"k\\\"ey\":\"v\\n\\u2028<é>\",\"z\":[]},"
                                  "\"ab\":[1,-9223372036854775808,true,false,{}],"
                                  "\"b\":9223372036854775807}";
        JsonValue *v = parse_ok(doc);
        JsonOut *o = out_new(JSON_WRITE_NEWLINE);
        char *want = NULL;

        json_out_object_open(o);
        json_out_member_string(o, "", "");
        json_out_key(o, "a");
        json_out_object_open(o);
        json_out_key(o, "k\"ey");
        json_out_string(o, "v\n\xe2\x80\xa8<\xc3\xa9>", 9);
        json_out_key(o, "z");
        json_out_array_open(o);
        json_out_array_close(o);
        json_out_object_close(o);
        json_out_key(o, "ab");
        json_out_array_open(o);
        json_out_int64(o, 1);
        json_out_int64(o, INT64_MIN);
        json_out_bool(o, true);
        json_out_bool(o, false);
        json_out_object_open(o);
        json_out_object_close(o);
        json_out_array_close(o);
        json_out_member_int64(o, "b", INT64_MAX);
        json_out_object_close(o);
        ck_assert_int_eq(
                json_write_string(v, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE, &want, NULL), 0);
        assert_out(o, want);
        free(want);
        json_value_unref(v);

        o = out_new(JSON_WRITE_ESCAPE_HTML);
        json_out_string(o, "<&>", 3);
        assert_out(o, "\"\\u003c\\u0026\\u003e\"");
        o = out_new(0);
        json_out_array_open(o);
        json_out_array_close(o);
        assert_out(o, "[]");
}
END_TEST

/* Every misuse fails the whole document, with the first error kept. */
START_TEST(test_out_refuses_misuse)
{
        JsonOut *o;

        /* keys out of order, repeated, or a prefix after its extension */
        static const char *const pairs[][2] = { { "b", "a" }, { "a", "a" }, { "ab", "a" } };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
                o = out_new(0);
                json_out_object_open(o);
                json_out_key(o, pairs[i][0]);
                json_out_int64(o, 1);
                json_out_key(o, pairs[i][1]);
                json_out_int64(o, 2);
                json_out_object_close(o);
                assert_out_fails(o, -EINVAL);
        }
        /* a value without its key, a key in an array, a key without value */
        o = out_new(0);
        json_out_object_open(o);
        json_out_int64(o, 1);
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        json_out_array_open(o);
        json_out_key(o, "k");
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        json_out_object_open(o);
        json_out_key(o, "k");
        json_out_object_close(o);
        assert_out_fails(o, -EINVAL);
        /* the wrong close, an unclosed object, two top-level values, none */
        o = out_new(0);
        json_out_object_open(o);
        json_out_array_close(o);
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        json_out_object_open(o);
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        json_out_bool(o, true);
        json_out_bool(o, false);
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        assert_out_fails(o, -EINVAL);
        /* not UTF-8, as a value and as a key */
        o = out_new(0);
        json_out_string(o, "\xc3", 1);
        assert_out_fails(o, -EINVAL);
        o = out_new(0);
        json_out_object_open(o);
        json_out_key(o, "\xff");
        json_out_int64(o, 1);
        json_out_object_close(o);
        assert_out_fails(o, -EINVAL);
        /* deeper than JSON_OUT_MAX_DEPTH */
        o = out_new(0);
        for (unsigned i = 0; i <= JSON_OUT_MAX_DEPTH; i++)
                json_out_array_open(o);
        for (unsigned i = 0; i <= JSON_OUT_MAX_DEPTH; i++)
                json_out_array_close(o);
        assert_out_fails(o, -EINVAL);
        /* exactly JSON_OUT_MAX_DEPTH is fine */
        o = out_new(0);
        for (unsigned i = 0; i < JSON_OUT_MAX_DEPTH; i++)
                json_out_array_open(o);
        for (unsigned i = 0; i < JSON_OUT_MAX_DEPTH; i++)
                json_out_array_close(o);
        assert_out(o, "[[[[[[[[]]]]]]]]");
}
END_TEST

static Suite *json_suite(void) {
        Suite *s = suite_create("json");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, test_parse_basic);
        tcase_add_test(tc, test_parse_errors_do_not_quote_input);
        tcase_add_test(tc, test_parse_error_position);
        tcase_add_test(tc, test_parse_caps);
        tcase_add_test(tc, test_big_integers);
        suite_add_tcase(s, tc);

        tc = tcase_create("access");
        tcase_add_test(tc, test_getter_errors);
        tcase_add_test(tc, test_iteration_order);
        tcase_add_test(tc, test_builders);
        suite_add_tcase(s, tc);

        tc = tcase_create("write");
        tcase_add_test(tc, test_reals_like_go);
        tcase_add_test(tc, test_string_escapes);
        tcase_add_test(tc, test_key_order_and_newline);
        tcase_add_test(tc, test_roundtrip_equal);
        tcase_add_test(tc, test_write_secret_bounded);
        tcase_add_test(tc, test_out_matches_the_tree_writer);
        tcase_add_test(tc, test_out_refuses_misuse);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(json_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
