/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-yaml-go.c - the module's own API: the type of each plain scalar as
 * Go's yaml.v3 gives it (yaml_plain_resolve, yaml_plain_is_null), and a
 * YAML node as json.Marshal's JSON (yaml_go_json), with its errors. The
 * whole typing table through volume attributes is in test-volume-spec.c.
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml-go.h"
#include "ytree.h"
#include "macro.h"

#include <check.h>

#include "testutil.h"

static YamlPlainKind kind_of(const char *s, YamlPlainValue *v) {
        YamlPlainKind k = (YamlPlainKind)-1;
        YamlPlainValue ignored;

        ck_assert_int_eq(yaml_plain_resolve(s, strlen(s), &k, v ? v : &ignored), 0);
        return k;
}

START_TEST(test_plain_kinds)
{
        static const struct {
                const char *text;
                YamlPlainKind kind;
        } cases[] = {
                { "", YAML_PLAIN_NULL },
                { "~", YAML_PLAIN_NULL },
                { "Null", YAML_PLAIN_NULL },
                { "nULL", YAML_PLAIN_STRING },
                { "true", YAML_PLAIN_BOOL },
                { "FALSE", YAML_PLAIN_BOOL },
                { "yes", YAML_PLAIN_STRING },
                { "off", YAML_PLAIN_STRING },
                { "42", YAML_PLAIN_INT },
                { "-0x1F", YAML_PLAIN_INT },
                { "1_000", YAML_PLAIN_INT },
                { "0b101", YAML_PLAIN_INT },
                { "18446744073709551615", YAML_PLAIN_UINT },
                { "1.5", YAML_PLAIN_FLOAT },
                { "08", YAML_PLAIN_FLOAT },
                { ".inf", YAML_PLAIN_NONFINITE },
                { ".NaN", YAML_PLAIN_NONFINITE },
                { "-.nan", YAML_PLAIN_STRING },
                { "1.2.3", YAML_PLAIN_STRING },
                { "2024-01-02", YAML_PLAIN_STRING },
                { "0x", YAML_PLAIN_STRING },
                { "-", YAML_PLAIN_STRING },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(kind_of(cases[i].text, NULL) == cases[i].kind,
                              "'%s': kind %d, want %d", cases[i].text,
                              (int)kind_of(cases[i].text, NULL), (int)cases[i].kind);
}
END_TEST

START_TEST(test_plain_values)
{
        YamlPlainValue v;

        ck_assert_int_eq(kind_of("0755", &v), YAML_PLAIN_INT);
        ck_assert_int_eq(v.i, 0755);
        ck_assert_int_eq(kind_of("0o17", &v), YAML_PLAIN_INT);
        ck_assert_int_eq(v.i, 15);
        ck_assert_int_eq(kind_of("-9223372036854775808", &v), YAML_PLAIN_INT);
        ck_assert(v.i == INT64_MIN);
        ck_assert_int_eq(kind_of("True", &v), YAML_PLAIN_BOOL);
        ck_assert(v.b);
        ck_assert_int_eq(kind_of("-.25", &v), YAML_PLAIN_FLOAT);
        ck_assert(v.d == -0.25);
        ck_assert(yaml_plain_is_null("~"));
        ck_assert(!yaml_plain_is_null("none"));
}
END_TEST

/* yaml_go_json() of a one-document YAML text; the JSON, or NULL with err. */
static char *go_json(const char *doc, char *err, size_t errlen, int *ret_r) {
        _cleanup_(ytree_freep) YNode *root = NULL;
        _cleanup_(secret_freep) Secret *s = NULL;
        char yerr[128];
        const uint8_t *p;
        size_t n = 0;
        char *out;

        ck_assert_msg(ytree_parse(doc, strlen(doc), NULL, &root, yerr, sizeof(yerr)) == 0, "%s",
                      yerr);
        *ret_r = yaml_go_json(root, "object 'o'", &s, err, errlen);
        if (*ret_r < 0)
                return NULL;
        p = secret_get(s, &n);
        out = strndup((const char *)p, n);
        ck_assert_ptr_nonnull(out);
        return out;
}

START_TEST(test_json_as_go_sends_it)
{
        char err[256] = "";
        int r;
        _cleanup_free_ char *j = go_json("z: [1, '2', ~]\na: {y: <&>, x: 0x10}\nq: \"true\"\n", err,
                                         sizeof(err), &r);

        ck_assert_msg(j, "%d %s", r, err);
        ck_assert_str_eq(j, "{\"a\":{\"x\":16,\"y\":\"\\u003c\\u0026\\u003e\"},\"q\":\"true\","
                            "\"z\":[1,\"2\",null]}");
}
END_TEST

START_TEST(test_json_errors_name_the_key_not_the_value)
{
        char err[256] = "";
        int r;
        char *j = go_json("outer: {ttl: -.Inf}\n", err, sizeof(err), &r);

        ck_assert_ptr_null(j);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_str_eq(err, "object 'o': secretArgs: the value of 'ttl' is .inf or .nan, which "
                              "JSON cannot carry: quote it to send a string");
        /* in a list, the error names the list's key */
        j = go_json("ns: [1, .nan]\n", err, sizeof(err), &r);
        ck_assert_ptr_null(j);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "the value of 'ns' is .inf or .nan"));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("yaml-go");
        TCase *tc = tcase_create("plain");

        tcase_add_test(tc, test_plain_kinds);
        tcase_add_test(tc, test_plain_values);
        suite_add_tcase(s, tc);
        tc = tcase_create("json");
        tcase_add_test(tc, test_json_as_go_sends_it);
        tcase_add_test(tc, test_json_errors_name_the_key_not_the_value);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
