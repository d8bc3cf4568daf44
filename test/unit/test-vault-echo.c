/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-vault-echo.c - request values cut out of Vault's error text: body
 * leaves (nested, integers), query values (sent and decoded), short values
 * only as words, too many values, and a parsed response rebuilt before its
 * texts are capped (an echo longer than the cap leaves no prefix behind).
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault-echo.h"
#include "testutil.h"

static char *redact(const VaultEchoes *e, const char *s) {
        char *out = NULL;
        size_t n = 0;
        ck_assert_int_eq(vault_text_redact(e, s, strlen(s), &out, &n), 0);
        ck_assert_uint_eq(n, strlen(out));
        return out;
}

static void expect(const VaultEchoes *e, const char *in, const char *want) {
        char *got = redact(e, in);
        ck_assert_msg(strcmp(got, want) == 0, "'%s' -> '%s', want '%s'", in, got, want);
        free(got);
}

START_TEST(test_body_and_query)
{
        VaultEchoes e = VAULT_ECHOES_INIT;
        const char *body = "{\"common_name\":\"db.secret.example\",\"ttl\":\"1h\","
                           "\"n\":{\"deep\":[\"hidden-value\",3600]},\"ok\":true}";

        ck_assert_int_eq(vault_echoes_collect(&e, "/v1/pki/issue/web?x=a%20b+c&flag",
                                              (const uint8_t *)body, strlen(body)),
                         0);
        expect(&e, "common name db.secret.example not allowed", "common name *** not allowed");
        expect(&e, "nested hidden-value and 3600 s", "nested *** and *** s");
        expect(&e, "ttl 1h is too long; 1hour stays", "ttl *** is too long; 1hour stays");
        expect(&e, "value a b c and a%20b+c", "value *** and ***");
        expect(&e, "flag and flagged", "*** and ***ged");
        expect(&e, "true stays", "true stays");
        vault_echoes_done(&e);
        ck_assert_uint_eq(e.n, 0);
}
END_TEST

START_TEST(test_not_json_and_too_many)
{
        VaultEchoes e = VAULT_ECHOES_INIT;
        char body[8192];
        size_t o = 0;

        ck_assert_int_eq(vault_echoes_collect(&e, "/v1/x", (const uint8_t *)"raw-body-text", 13),
                         0);
        expect(&e, "got raw-body-text", "got ***");
        vault_echoes_done(&e);

        o += (size_t)snprintf(body + o, sizeof(body) - o, "[");
        for (int i = 0; i < VAULT_ECHO_NEEDLES_MAX + 1; i++)
                o += (size_t)snprintf(body + o, sizeof(body) - o, "%s\"v%04d\"", i ? "," : "", i);
        (void)snprintf(body + o, sizeof(body) - o, "]");
        ck_assert_int_eq(vault_echoes_collect(&e, "/v1/x", (const uint8_t *)body, strlen(body)), 0);
        ck_assert(e.too_many);
        expect(&e, "anything at all", "");
        vault_echoes_done(&e);
}
END_TEST

START_TEST(test_response_rebuilt_before_the_cap)
{
        char value[400], body[1024], reqbody[512];
        VaultResponse *r = NULL;
        Secret *sent = NULL;
        VaultError err = { 0 };

        memset(value, 'q', sizeof(value) - 1);
        value[sizeof(value) - 1] = 0;
        (void)snprintf(body, sizeof(body),
                       "{\"errors\":[\"subject alternate name %s not allowed\"],"
                       "\"warnings\":[\"ttl 7d capped; name %s\"]}",
                       value, value);
        (void)snprintf(reqbody, sizeof(reqbody), "{\"alt_names\":\"%s\",\"ttl\":\"7d\"}", value);
        ck_assert_int_eq(vault_response_parse(400, (const uint8_t *)body, strlen(body), &r, &err),
                         0);
        /* unredacted, the capped text ends in a long prefix of the value */
        ck_assert_ptr_nonnull(strstr(r->errors_text, "qqqqqqqq"));
        ck_assert_int_eq(secret_new_from(&sent, reqbody, strlen(reqbody)), 0);
        ck_assert_int_eq(vault_response_strip_echoes(r, "/v1/pki/issue/web", sent), 0);
        ck_assert_str_eq(r->errors_text, "subject alternate name *** not allowed");
        ck_assert_uint_eq(r->n_errors, 1);
        ck_assert_uint_eq(r->n_warnings, 1);
        ck_assert_str_eq(r->warnings[0], "ttl *** capped; name ***");
        /* and the outcome's message is built from the rebuilt text */
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), VAULT_E_BAD_REQUEST);
        ck_assert_ptr_null(strstr(err.message, "qqq"));
        vault_response_free(r);
        secret_free(sent);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("vault-echo");
        TCase *tc = tcase_create("redact");
        tcase_add_test(tc, test_body_and_query);
        tcase_add_test(tc, test_not_json_and_too_many);
        tcase_add_test(tc, test_response_rebuilt_before_the_cap);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
