/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-sa-token.c - the pod's service-account token from secrets or
 * volume_context (KEP-5538 placement, policy, JSON shapes, audiences,
 * expiry, messages without token bytes) and the RFC 3339 parser.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa-token.h"
#include "testutil.h"

#define DRIVER   "csi.vaultmount.io"
#define CANARY   "CANARYb64payload"
#define JWT_A    "eyJhbGciOiJSUzI1NiJ9.A" CANARY ".sigA"
#define JWT_B    "eyJhbGciOiJSUzI1NiJ9.B" CANARY ".sigB"
#define JWT_C    "eyJhbGciOiJSUzI1NiJ9.C" CANARY ".sigC"
#define EXP_2030 "2030-01-01T00:00:00Z"
#define T_2030   1893456000LL
#define NOW      1700000000LL /* 2023-11-14T22:13:20Z */

#define ENTRY(aud, jwt, exp)                                                                       \
        "\"" aud "\":{\"token\":\"" jwt "\",\"expirationTimestamp\":\"" exp "\"}"
#define TOKENS(jwt) "{" ENTRY("vault", jwt, EXP_2030) "}"

static char err[512];

static int get(const KeyValue *sec, size_t ns, const KeyValue *ctx, size_t nc, TokenSource pol,
               const char *aud, int64_t now, SaToken *t) {
        memset(err, 'x', sizeof(err));
        err[sizeof(err) - 1] = 0;
        return sa_token_get(sec, ns, ctx, nc, pol, aud, now, DRIVER, t, err, sizeof(err));
}

/* Every failure message: non-empty and free of token bytes. */
static void assert_clean_err(void) {
        ck_assert_msg(err[0] && err[0] != 'x', "no message: %s", err);
        ck_assert_msg(!strstr(err, CANARY), "token bytes in message: %s", err);
        ck_assert_msg(!strstr(err, "eyJ"), "token bytes in message: %s", err);
}

static void assert_jwt(const SaToken *t, const char *jwt) {
        ck_assert_ptr_nonnull(t->jwt);
        ck_assert_uint_eq(secret_size(t->jwt), strlen(jwt));
        ck_assert(secret_equal_bytes(t->jwt, jwt, strlen(jwt)));
}

START_TEST(test_secrets_first)
{
        KeyValue sec[] = { { "username", "u" }, { SA_TOKENS_KEY, TOKENS(JWT_A) } };
        KeyValue ctx[] = { { "roleName", "app" }, { SA_TOKENS_KEY, TOKENS(JWT_B) } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 2, ctx, 2, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t), 0);
        assert_jwt(&t, JWT_A);
        ck_assert_int_eq(t.origin, SA_TOKEN_FROM_SECRETS);
        ck_assert_str_eq(t.audience, "vault");
        ck_assert_int_eq(t.expires_unix, T_2030);
        sa_token_done(&t);
        ck_assert_ptr_null(t.jwt);
        sa_token_done(&t); /* twice is fine */

        /* secrets-only accepts the secrets copy */
        ck_assert_int_eq(get(sec, 2, ctx, 2, TOKEN_SOURCE_SECRETS_ONLY, "vault", NOW, &t), 0);
        assert_jwt(&t, JWT_A);
        ck_assert_int_eq(t.origin, SA_TOKEN_FROM_SECRETS);
        sa_token_done(&t);
}
END_TEST

START_TEST(test_context_fallback)
{
        KeyValue sec[] = { { "username", "u" } };
        KeyValue ctx[] = { { "csi.storage.k8s.io/pod.name", "p" },
                           { SA_TOKENS_KEY, TOKENS(JWT_B) } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 1, ctx, 2, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t), 0);
        assert_jwt(&t, JWT_B);
        ck_assert_int_eq(t.origin, SA_TOKEN_FROM_VOLUME_CONTEXT);
        sa_token_done(&t);

        /* no secrets at all */
        ck_assert_int_eq(get(NULL, 0, ctx, 2, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         0);
        assert_jwt(&t, JWT_B);
        sa_token_done(&t);
}
END_TEST

START_TEST(test_secrets_only_policy)
{
        KeyValue ctx[] = { { SA_TOKENS_KEY, TOKENS(JWT_B) } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(NULL, 0, ctx, 1, TOKEN_SOURCE_SECRETS_ONLY, "vault", NOW, &t),
                         SA_TOKEN_E_POLICY);
        assert_clean_err();
        ck_assert_msg(strstr(err, "serviceAccountTokenInSecrets"), "%s", err);
        ck_assert_msg(strstr(err, "'" DRIVER "'"), "%s", err);
        ck_assert_ptr_null(t.jwt);
}
END_TEST

START_TEST(test_missing)
{
        KeyValue sec[] = { { "username", "u" } };
        KeyValue ctx[] = { { "roleName", "app" } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 1, ctx, 1, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         SA_TOKEN_E_MISSING);
        assert_clean_err();
        ck_assert_msg(strstr(err,
                             "set tokenRequests with audience 'vault' in the CSIDriver '" DRIVER
                             "'"),
                      "%s", err);
        ck_assert_msg(!strstr(err, "serviceAccountTokenInSecrets"), "%s", err);

        ck_assert_int_eq(get(sec, 1, ctx, 1, TOKEN_SOURCE_SECRETS_ONLY, "aud-x", NOW, &t),
                         SA_TOKEN_E_MISSING);
        ck_assert_msg(strstr(err, "tokenRequests with audience 'aud-x'"), "%s", err);
        ck_assert_msg(strstr(err, "serviceAccountTokenInSecrets: true"), "%s", err);
        ck_assert_ptr_null(t.jwt);
}
END_TEST

static void expect_malformed(const char *value, const char *needle) {
        KeyValue sec[] = { { SA_TOKENS_KEY, value } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         SA_TOKEN_E_MALFORMED);
        assert_clean_err();
        ck_assert_msg(strstr(err, needle), "want '%s' in: %s", needle, err);
        ck_assert_ptr_null(t.jwt);
}

START_TEST(test_malformed)
{
        expect_malformed("", "not valid JSON");
        expect_malformed("not json " JWT_A, "not valid JSON");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A "\"", "not valid JSON");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A "\",}}", "not valid JSON");
        expect_malformed("[\"" JWT_A "\"]", "not a JSON object");
        expect_malformed("\"" JWT_A "\"", "not a JSON object");
        expect_malformed("{\"vault\":\"" JWT_A "\"}", "the entry is not a JSON object");
        expect_malformed("{\"vault\":{\"token\":5,\"expirationTimestamp\":\"" EXP_2030 "\"}}",
                         "'token' is not a string");
        expect_malformed("{\"vault\":{\"token\":[\"" JWT_A "\"],\"expirationTimestamp\":\"" EXP_2030
                         "\"}}",
                         "'token' is not a string");
        expect_malformed("{\"vault\":{\"expirationTimestamp\":\"" EXP_2030 "\"}}",
                         "'token' is missing");
        expect_malformed("{\"vault\":{\"token\":null,\"expirationTimestamp\":\"" EXP_2030 "\"}}",
                         "'token' is missing");
        expect_malformed("{\"vault\":{\"token\":\"\",\"expirationTimestamp\":\"" EXP_2030 "\"}}",
                         "'token' is empty");
        expect_malformed("{\"vault\":{\"token\":\"a\\u0000" CANARY
                         "\",\"expirationTimestamp\":\"" EXP_2030 "\"}}",
                         "NUL");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A "\"}}",
                         "'expirationTimestamp' is missing");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A "\",\"expirationTimestamp\":1893456000}}",
                         "'expirationTimestamp' is not a string");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A
                         "\",\"expirationTimestamp\":\"2030-01-01 00:00:00\"}}",
                         "'expirationTimestamp' is not an RFC 3339 time");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A
                         "\",\"expirationTimestamp\":\"2030-02-30T00:00:00Z\"}}",
                         "'expirationTimestamp' is not an RFC 3339 time");
        expect_malformed("{\"vault\":{\"token\":\"" JWT_A
                         "\",\"expirationTimestamp\":{\"a\":{\"b\":1}}}}",
                         "nests deeper");
}
END_TEST

START_TEST(test_malformed_oversized)
{
        size_t n = 300 * 1024;
        char *big = malloc(n + 1);
        ck_assert_ptr_nonnull(big);
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        big[n] = 0;
        expect_malformed(big, "larger than");
        free(big);
}
END_TEST

START_TEST(test_audience_selection)
{
        const char *v = "{" ENTRY("", JWT_A, EXP_2030) "," ENTRY(
                "other", JWT_C, EXP_2030) "," ENTRY("vault", JWT_B, EXP_2030) "}";
        KeyValue sec[] = { { SA_TOKENS_KEY, v } };
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "", NOW, &t), 0);
        assert_jwt(&t, JWT_A);
        ck_assert_str_eq(t.audience, "");
        sa_token_done(&t);

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "other", NOW, &t),
                         0);
        assert_jwt(&t, JWT_C);
        ck_assert_str_eq(t.audience, "other");
        sa_token_done(&t);

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         0);
        assert_jwt(&t, JWT_B);
        sa_token_done(&t);

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "nope", NOW, &t),
                         SA_TOKEN_E_AUDIENCE);
        assert_clean_err();
        ck_assert_msg(strstr(err, "no service-account token for audience 'nope'"), "%s", err);
        /* issue 14: keys of the tokens JSON are the request's, never echoed */
        ck_assert_msg(!strstr(err, "'other'") && !strstr(err, "'vault'"), "%s", err);
        ck_assert_msg(strstr(err, "(the request has tokens for 3 other audiences)"), "%s", err);
        ck_assert_msg(
                strstr(err, "set tokenRequests with audience 'nope' in the CSIDriver '" DRIVER "'"),
                "%s", err);
        ck_assert_ptr_null(t.jwt);

        /* an empty map */
        sec[0].value = "{}";
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         SA_TOKEN_E_AUDIENCE);
        ck_assert_msg(strstr(err, "(the request has no tokens)"), "%s", err);

        /* a key that carries something else entirely */
        sec[0].value = "{\"" CANARY "-key\":{\"token\":\"" JWT_A "\",\"expirationTimestamp\":"
                       "\"" EXP_2030 "\"}}";
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         SA_TOKEN_E_AUDIENCE);
        assert_clean_err();
        ck_assert_msg(strstr(err, "(the request has a token for 1 other audience)"), "%s", err);

        /* "" is a key like any other: absent here */
        sec[0].value = TOKENS(JWT_B);
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "", NOW, &t),
                         SA_TOKEN_E_AUDIENCE);
        assert_clean_err();
}
END_TEST

/* issue 14: a token that is not a JWT never goes to Vault (README: INVALID_ARGUMENT) */
START_TEST(test_not_a_jwt)
{
        static const char *const bad[] = {
                "not-a-jwt",
                "eyJhbGciOiJSUzI1NiJ9.onlytwo",
                "eyJhbGciOiJSUzI1NiJ9..sig",          /* empty payload */
                ".eyJzdWIiOiJ4In0.sig",               /* empty header */
                "eyJhbGciOiJSUzI1NiJ9.e30.sig.extra", /* four parts */
                "eyJhbGciOiJSUzI1NiJ9.e3 0.sig",      /* not base64url */
                "eyJhbGciOiJSUzI1NiJ9.e30+.sig",
                "eyJhbGciOiJSUzI1NiJ9.e30=.sig", /* JWTs carry no padding */
                "YWJj.e30.sig",                  /* header is not a JSON object */
        };
        char value[512];
        KeyValue sec[] = { { SA_TOKENS_KEY, value } };
        SaToken t = { 0 };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                (void)snprintf(value, sizeof(value), "{" ENTRY("vault", "%s", EXP_2030) "}",
                               bad[i]);
                ck_assert_msg(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW,
                                  &t) == SA_TOKEN_E_MALFORMED,
                              "accepted '%s'", bad[i]);
                ck_assert_msg(strstr(err, "not a JWT"), "%s", err);
                ck_assert_msg(!strstr(err, bad[i]), "token echoed: %s", err);
                ck_assert_ptr_null(t.jwt);
        }
        /* a real-shaped one, and an unsigned one (empty signature) */
        (void)snprintf(value, sizeof(value), "{" ENTRY("vault", "%s", EXP_2030) "}",
                       "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         0);
        sa_token_done(&t);
}
END_TEST

START_TEST(test_expiry)
{
        KeyValue sec[] = { { SA_TOKENS_KEY, TOKENS(JWT_A) } };
        SaToken t = { 0 };

        /* past */
        ck_assert_int_eq(
                get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", T_2030 + 3600, &t),
                SA_TOKEN_E_EXPIRED);
        assert_clean_err();
        ck_assert_msg(strstr(err, "expired at 2030-01-01T00:00:00Z (now 2030-01-01T01:00:00Z)"),
                      "%s", err);
        ck_assert_msg(strstr(err, "kubelet should refresh it (requiresRepublish"), "%s", err);
        ck_assert_msg(strstr(err, "'" DRIVER "'"), "%s", err);
        ck_assert_ptr_null(t.jwt);

        /* exactly now counts as expired */
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", T_2030, &t),
                         SA_TOKEN_E_EXPIRED);
        assert_clean_err();

        /* one second left */
        ck_assert_int_eq(
                get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", T_2030 - 1, &t), 0);
        ck_assert_int_eq(t.expires_unix, T_2030);
        assert_jwt(&t, JWT_A);
        sa_token_done(&t);

        /* an offset timestamp is compared in UTC */
        sec[0].value = "{" ENTRY("vault", JWT_A, "2030-01-01T01:00:00+01:00") "}";
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", T_2030, &t),
                         SA_TOKEN_E_EXPIRED);
        ck_assert_int_eq(
                get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", T_2030 - 1, &t), 0);
        ck_assert_int_eq(t.expires_unix, T_2030);
        sa_token_done(&t);
}
END_TEST

START_TEST(test_bad_arguments)
{
        KeyValue sec[] = { { SA_TOKENS_KEY, TOKENS(JWT_A) } };
        char aud[300];
        SaToken t = { 0 };

        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, NULL, NOW, &t),
                         -EINVAL);
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, NULL),
                         -EINVAL);
        ck_assert_int_eq(get(NULL, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         -EINVAL);
        memset(aud, 'a', sizeof(aud) - 1);
        aud[sizeof(aud) - 1] = 0;
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, aud, NOW, &t),
                         -EINVAL);
        ck_assert_ptr_null(t.jwt);

        /* a NULL value is an empty one */
        sec[0].value = NULL;
        ck_assert_int_eq(get(sec, 1, NULL, 0, TOKEN_SOURCE_SECRETS_OR_CONTEXT, "vault", NOW, &t),
                         SA_TOKEN_E_MALFORMED);
}
END_TEST

static void rfc_ok(const char *s, int64_t want) {
        int64_t v = -42;
        ck_assert_msg(parse_rfc3339(s, &v) == 0, "rejected %s", s);
        ck_assert_msg(v == want, "%s: got %lld, want %lld", s, (long long)v, (long long)want);
}

static void rfc_bad(const char *s) {
        int64_t v = -42;
        ck_assert_msg(parse_rfc3339(s, &v) == -EINVAL, "accepted %s", s);
        ck_assert_int_eq(v, -42);
}

START_TEST(test_rfc3339)
{
        rfc_ok("2026-01-01T00:00:00Z", 1767225600);
        rfc_ok("1970-01-01T00:00:00Z", 0);
        rfc_ok("1969-12-31T23:59:59Z", -1);
        rfc_ok("2030-01-01T00:00:00Z", T_2030);
        rfc_ok("2026-01-01T01:00:00+01:00", 1767225600);
        rfc_ok("2025-12-31T19:00:00-05:00", 1767225600);
        rfc_ok("2026-01-01T05:30:00+05:30", 1767225600);
        rfc_ok("2026-01-01T00:00:00-00:00", 1767225600);
        rfc_ok("2026-01-01T00:00:00.5Z", 1767225600);
        rfc_ok("2026-01-01T00:00:00.123456789Z", 1767225600);
        rfc_ok("2026-01-01T00:00:00.999+00:00", 1767225600);
        rfc_ok("2024-02-29T12:00:00Z", 1709208000);
        rfc_ok("2000-02-29T00:00:00Z", 951782400);
        rfc_ok("2023-11-14T22:13:20Z", NOW);

        rfc_bad("");
        rfc_bad("2026-01-01");
        rfc_bad("2026-01-01T00:00:00");
        rfc_bad("2026-01-01 00:00:00Z");
        rfc_bad("2026-01-01t00:00:00Z");
        rfc_bad("2026-01-01T00:00:00z");
        rfc_bad("2026-01-01T00:00:00ZZ");
        rfc_bad("2026-01-01T00:00:00Z ");
        rfc_bad(" 2026-01-01T00:00:00Z");
        rfc_bad("2026-1-01T00:00:00Z");
        rfc_bad("26-01-01T00:00:00Z");
        rfc_bad("+2026-01-01T00:00:00Z");
        rfc_bad("2026-13-01T00:00:00Z");
        rfc_bad("2026-00-01T00:00:00Z");
        rfc_bad("2026-01-00T00:00:00Z");
        rfc_bad("2026-01-32T00:00:00Z");
        rfc_bad("2026-04-31T00:00:00Z");
        rfc_bad("2023-02-29T00:00:00Z");
        rfc_bad("1900-02-29T00:00:00Z");
        rfc_bad("2026-01-01T24:00:00Z");
        rfc_bad("2026-01-01T00:60:00Z");
        rfc_bad("2026-01-01T00:00:60Z");
        rfc_bad("2026-01-01T00:00:00.Z");
        rfc_bad("2026-01-01T00:00:00.1234567890Z");
        rfc_bad("2026-01-01T00:00:00,5Z");
        rfc_bad("2026-01-01T00:00:00+0100");
        rfc_bad("2026-01-01T00:00:00+01");
        rfc_bad("2026-01-01T00:00:00+01:00x");
        rfc_bad("2026-01-01T00:00:00+24:00");
        rfc_bad("2026-01-01T00:00:00+01:60");
        rfc_bad("2026-01-01T00:00:00+1:00");
        rfc_bad("2026-0a-01T00:00:00Z");
        ck_assert_int_eq(parse_rfc3339(NULL, &(int64_t){ 0 }), -EINVAL);
}
END_TEST

static Suite *sa_token_suite(void) {
        Suite *s = suite_create("sa-token");
        TCase *tc = tcase_create("placement");
        tcase_add_test(tc, test_secrets_first);
        tcase_add_test(tc, test_context_fallback);
        tcase_add_test(tc, test_secrets_only_policy);
        tcase_add_test(tc, test_missing);
        suite_add_tcase(s, tc);

        tc = tcase_create("content");
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_malformed_oversized);
        tcase_add_test(tc, test_audience_selection);
        tcase_add_test(tc, test_not_a_jwt);
        tcase_add_test(tc, test_expiry);
        tcase_add_test(tc, test_bad_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("rfc3339");
        tcase_add_test(tc, test_rfc3339);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(sa_token_suite());
}
