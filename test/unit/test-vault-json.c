/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-vault-json.c - the pure half of the Vault client against recorded
 * response bodies (test/vault/corpus/, one file per shape in
 * vault-api-facts): parsing, outcome classification per call kind, the
 * texts a VaultError may carry, and the CSI code mapping.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vault-json.h"
#include "status.h"

static char *read_body(const char *name, size_t *ret_len) {
        const char *root = getenv("VAULTMOUNT_SOURCE_ROOT");
        char path[1024];
        struct stat st;
        char *buf;
        int fd;

        ck_assert_msg(root, "VAULTMOUNT_SOURCE_ROOT is not set (run through meson test)");
        snprintf(path, sizeof(path), "%s/test/vault/corpus/%s", root, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "cannot open %s", path);
        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = calloc(1, (size_t)st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        *ret_len = (size_t)st.st_size;
        return buf;
}

static VaultResponse *parse_file(const char *name, long status) {
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        size_t n;
        char *body = read_body(name, &n);
        int k = vault_response_parse(status, (const uint8_t *)body, n, &r, &err);

        ck_assert_msg(k == 0, "%s: parse returned %d: %s", name, k, err.message);
        free(body);
        return r;
}

/* Parses and checks a recorded body; returns the outcome and the message. */
static int outcome(const char *name, long status, VaultOp op, VaultError *err) {
        VaultResponse *r = parse_file(name, status);
        int k;

        *err = (VaultError){ 0 };
        k = vault_response_check(r, op, err);
        vault_response_free(r);
        return k;
}

START_TEST(test_login_kubernetes)
{
        VaultResponse *r = parse_file("login-kubernetes.json", 200);
        VaultError err = { 0 };
        const uint8_t *tok;
        size_t n;
        char *whole = NULL;

        ck_assert_int_eq(vault_response_check(r, VAULT_OP_LOGIN_KUBERNETES, &err), 0);
        ck_assert_ptr_nonnull(r->auth);
        tok = secret_get(r->auth->client_token, &n);
        ck_assert_uint_eq(n, strlen("hvs.CAESIPLANTEDkubeTOKEN0123456789abcdef"));
        ck_assert_mem_eq(tok, "hvs.CAESIPLANTEDkubeTOKEN0123456789abcdef", n);
        ck_assert_str_eq(r->auth->accessor, "Xq8mW2vR5tY7uI9oP1aS3dF6");
        ck_assert_int_eq(r->auth->lease_duration, 86400);
        ck_assert(r->auth->renewable);
        ck_assert(r->auth->orphan);
        ck_assert_str_eq(r->auth->token_type, "service");
        ck_assert_uint_eq(json_array_count(r->auth->policies), 2);
        ck_assert_uint_eq(json_object_count(r->auth->metadata), 5);
        ck_assert_str_eq(r->mount_type, "kubernetes");
        ck_assert_ptr_null(r->data);
        ck_assert_ptr_null(r->lease_id);
        /* The token was taken out of the parsed tree. */
        ck_assert_int_eq(json_write_string(r->root, 0, &whole, NULL), 0);
        ck_assert_ptr_null(strstr(whole, "PLANTED"));
        free(whole);
        vault_response_free(r);
}
END_TEST

START_TEST(test_login_jwt_and_batch)
{
        VaultResponse *r = parse_file("login-jwt.json", 200);
        VaultError err = { 0 };

        ck_assert_int_eq(vault_response_check(r, VAULT_OP_LOGIN_JWT, &err), 0);
        ck_assert_int_eq(r->auth->lease_duration, 3600);
        ck_assert_ptr_null(r->mount_type); /* OpenBao omits it */
        vault_response_free(r);

        r = parse_file("login-batch-token.json", 200);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_LOGIN_KUBERNETES, &err), 0);
        ck_assert_str_eq(r->auth->token_type, "batch");
        ck_assert(!r->auth->renewable);
        ck_assert_ptr_null(r->auth->accessor); /* "" means none */
        vault_response_free(r);

        /* A 200 login without auth is a protocol error, not a crash. */
        ck_assert_int_eq(outcome("login-no-auth.json", 200, VAULT_OP_LOGIN_KUBERNETES, &err),
                         VAULT_E_PROTOCOL);
        ck_assert_ptr_nonnull(strstr(err.message, "without a token"));
}
END_TEST

START_TEST(test_login_rejections)
{
        VaultError err;

        ck_assert_int_eq(outcome("login-k8s-sa-not-authorized-403.json", 403,
                                 VAULT_OP_LOGIN_KUBERNETES, &err),
                         VAULT_E_LOGIN_REJECTED);
        ck_assert_str_eq(err.message,
                         "Vault login rejected (HTTP 403): service account name not authorized");
        ck_assert_int_eq(err.http_status, 403);
        ck_assert_int_eq(outcome("login-k8s-ns-not-authorized-403.json", 403,
                                 VAULT_OP_LOGIN_KUBERNETES, &err),
                         VAULT_E_LOGIN_REJECTED);
        ck_assert_int_eq(
                outcome("login-k8s-invalid-role-400.json", 400, VAULT_OP_LOGIN_KUBERNETES, &err),
                VAULT_E_BAD_REQUEST);
        ck_assert_ptr_nonnull(strstr(err.message, "invalid role name \"nope\""));
        /* Older plugin versions said "not authorized" with a 500. */
        ck_assert_int_eq(outcome("login-k8s-old-500.json", 500, VAULT_OP_LOGIN_KUBERNETES, &err),
                         VAULT_E_LOGIN_REJECTED);
        /* jwt: token validation failures are 400s. */
        ck_assert_int_eq(outcome("login-jwt-aud-400.json", 400, VAULT_OP_LOGIN_JWT, &err),
                         VAULT_E_LOGIN_REJECTED);
        ck_assert_ptr_nonnull(strstr(err.message, "invalid audience (aud) claim"));
        ck_assert_int_eq(outcome("login-jwt-expired-400.json", 400, VAULT_OP_LOGIN_JWT, &err),
                         VAULT_E_LOGIN_REJECTED);
        ck_assert_int_eq(outcome("login-jwt-role-missing-400.json", 400, VAULT_OP_LOGIN_JWT, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_int_eq(outcome("denied-403.json", 403, VAULT_OP_LOGIN_JWT, &err),
                         VAULT_E_LOGIN_REJECTED);
        /* The same 400 body on a read is a plain bad request. */
        ck_assert_int_eq(outcome("login-jwt-aud-400.json", 400, VAULT_OP_READ, &err),
                         VAULT_E_BAD_REQUEST);
}
END_TEST

START_TEST(test_kv_reads)
{
        VaultResponse *r = parse_file("kv1-read.json", 200);
        VaultError err = { 0 };
        const char *s;
        size_t n;
        int64_t i;

        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        ck_assert_ptr_nonnull(r->data);
        ck_assert_int_eq(json_member_string(r->data, "password", &s, &n), 0);
        ck_assert_int_eq(json_member_int64(r->data, "port", &i), 0);
        ck_assert_int_eq(i, 5432);
        ck_assert_int_eq(r->lease_duration, 2764800);
        ck_assert(!r->renewable);
        ck_assert_ptr_null(r->lease_id);
        ck_assert_str_eq(r->mount_type, "kv");
        ck_assert_str_eq(r->request_id, "3e5a7c9b-0d2f-4b6e-8a1c-5f7d9b3e1a20");
        vault_response_free(r);

        r = parse_file("kv2-read-version.json", 200);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        ck_assert_int_eq(json_member_int64(json_object_member(r->data, "metadata"), "version", &i),
                         0);
        ck_assert_int_eq(i, 2);
        vault_response_free(r);

        /* Unknown keys anywhere are ignored; so are the top-level copies of sys/ data. */
        r = parse_file("unknown-keys.json", 200);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        vault_response_free(r);
        r = parse_file("sys-ui-mounts.json", 200);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        vault_response_free(r);
}
END_TEST

START_TEST(test_not_found_shapes)
{
        VaultError err;

        ck_assert_int_eq(outcome("not-found-404.json", 404, VAULT_OP_READ, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_str_eq(err.message, "not found in Vault (HTTP 404)");
        ck_assert_int_eq(outcome("kv2-deleted-404.json", 404, VAULT_OP_READ, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_str_eq(err.message,
                         "secret version 3 was deleted at 2025-06-28T10:11:12.131415Z (HTTP 404)");
        ck_assert_int_eq(outcome("kv2-destroyed-404.json", 404, VAULT_OP_READ, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_str_eq(err.message, "secret version 4 was destroyed (HTTP 404)");
        ck_assert_int_eq(outcome("kv2-wrong-path-404.json", 404, VAULT_OP_READ, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_ptr_nonnull(
                strstr(err.message, "Invalid path for a versioned K/V secrets engine"));
        ck_assert_int_eq(outcome("no-route-404.json", 404, VAULT_OP_READ, &err), VAULT_E_NOT_FOUND);
        ck_assert_ptr_nonnull(strstr(err.message, "no handler for route \"nomount/data/x\""));

        /* A future deletion_time is still a 200 and a normal read. */
        ck_assert_int_eq(outcome("kv2-read-version.json", 200, VAULT_OP_READ, &err), 0);
}
END_TEST

START_TEST(test_denied_and_server_errors)
{
        VaultError err;

        ck_assert_int_eq(outcome("denied-403.json", 403, VAULT_OP_READ, &err), VAULT_E_DENIED);
        ck_assert_str_eq(
                err.message,
                "permission denied by Vault (HTTP 403): 1 error occurred: * permission denied");
        ck_assert_int_eq(outcome("invalid-token-403.json", 403, VAULT_OP_LIFECYCLE, &err),
                         VAULT_E_DENIED);
        ck_assert_ptr_nonnull(strstr(err.message, "invalid token"));
        ck_assert_int_eq(outcome("sealed-503.json", 503, VAULT_OP_READ, &err), VAULT_E_SEALED);
        ck_assert_int_eq(outcome("no-active-503.json", 503, VAULT_OP_READ, &err),
                         VAULT_E_UNAVAILABLE);
        ck_assert_int_eq(outcome("rate-limited-429.json", 429, VAULT_OP_READ, &err),
                         VAULT_E_RATE_LIMITED);
        ck_assert_int_eq(outcome("internal-500.json", 500, VAULT_OP_READ, &err),
                         VAULT_E_UNAVAILABLE);
        ck_assert_int_eq(outcome("internal-500.json", 502, VAULT_OP_READ, &err),
                         VAULT_E_UNAVAILABLE);
        ck_assert_int_eq(outcome("internal-500.json", 501, VAULT_OP_READ, &err),
                         VAULT_E_UNAVAILABLE);
        ck_assert_int_eq(outcome("precondition-412.json", 412, VAULT_OP_READ, &err),
                         VAULT_E_UNAVAILABLE);
        ck_assert_int_eq(outcome("unsupported-405.json", 405, VAULT_OP_READ, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_int_eq(outcome("db-unknown-role-400.json", 400, VAULT_OP_READ, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_ptr_nonnull(strstr(err.message, "unknown role: nope"));
        ck_assert_int_eq(outcome("not-found-404.json", 418, VAULT_OP_READ, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_int_eq(outcome("not-found-404.json", 307, VAULT_OP_READ, &err), VAULT_E_PROTOCOL);
}
END_TEST

START_TEST(test_dynamic_pki_lifecycle)
{
        VaultResponse *r = parse_file("db-creds.json", 200);
        VaultError err = { 0 };
        int64_t ttl;

        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        ck_assert_str_eq(r->lease_id, "database/creds/readonly/Xz3k9yXq1aB2cD3eF4gH5iJ6");
        ck_assert_int_eq(r->lease_duration, 3600);
        ck_assert(r->renewable);
        ck_assert_str_eq(r->mount_type, "database");
        vault_response_free(r);

        r = parse_file("pki-issue.json", 200);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), 0);
        ck_assert_ptr_nonnull(json_object_member(r->data, "private_key"));
        ck_assert_uint_eq(json_array_count(json_object_member(r->data, "ca_chain")), 1);
        vault_response_free(r);

        r = parse_file("pki-leased.json", 200);
        ck_assert_str_eq(r->lease_id, "pki/issue/web/Q1w2E3r4T5y6U7i8O9p0A1s2");
        ck_assert(!r->renewable);
        vault_response_free(r);

        r = parse_file("lease-renew-capped.json", 200);
        ck_assert_int_eq(r->lease_duration, 120);
        ck_assert_uint_eq(r->n_warnings, 1);
        ck_assert_ptr_nonnull(strstr(r->warnings[0], "max_ttl"));
        vault_response_free(r);

        r = parse_file("token-renew-self.json", 200);
        ck_assert_int_eq(r->auth->lease_duration, 7200);
        vault_response_free(r);

        r = parse_file("token-lookup-self.json", 200);
        ck_assert_int_eq(json_member_int64(r->data, "ttl", &ttl), 0);
        ck_assert_int_eq(ttl, 86123);
        vault_response_free(r);

        ck_assert_int_eq(outcome("lease-not-found-400.json", 400, VAULT_OP_LIFECYCLE, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_int_eq(outcome("token-not-renewable-400.json", 400, VAULT_OP_LIFECYCLE, &err),
                         VAULT_E_BAD_REQUEST);

        r = parse_file("wrapped.json", 200);
        ck_assert(r->has_wrap_info);
        ck_assert_ptr_null(r->data);
        vault_response_free(r);
}
END_TEST

START_TEST(test_empty_and_odd_bodies)
{
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        size_t n;
        char *body;

        /* 204: success with no body. */
        ck_assert_int_eq(vault_response_parse(204, NULL, 0, &r, &err), 0);
        ck_assert_ptr_null(r->root);
        ck_assert_ptr_null(r->data);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_LIFECYCLE, &err), 0);
        vault_response_free(r);
        r = NULL;

        /* Not JSON, truncated, not an object, wrong types: clear errors. */
        static const char *const bad[] = { "garbage.txt",         "truncated.json",
                                           "not-object.json",     "bad-types.json",
                                           "auth-bad-token.json", "html-502.txt" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                body = read_body(bad[i], &n);
                err = (VaultError){ 0 };
                ck_assert_int_eq(vault_response_parse(200, (const uint8_t *)body, n, &r, &err),
                                 VAULT_E_PROTOCOL);
                ck_assert_ptr_null(r);
                ck_assert_uint_gt(strlen(err.message), 0);
                ck_assert_msg(!strstr(err.message, "PLANTED"), "%s leaked: %s", bad[i],
                              err.message);
                free(body);
        }

        /* A proxy's HTML 502: only the status survives. */
        body = read_body("html-502.txt", &n);
        ck_assert_int_eq(vault_response_parse(502, (const uint8_t *)body, n, &r, &err), 0);
        ck_assert(r->body_not_json);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), VAULT_E_UNAVAILABLE);
        ck_assert_str_eq(err.message, "Vault server error (HTTP 502, body is not Vault JSON)");
        vault_response_free(r);
        free(body);

        /* Errors and data together: only errors[] text may travel. */
        ck_assert_int_eq(outcome("errors-with-data.json", 403, VAULT_OP_READ, &err),
                         VAULT_E_DENIED);
        ck_assert_ptr_null(strstr(err.message, "PLANTED"));
        ck_assert_ptr_null(strchr(err.message, '\x1b'));
        ck_assert_ptr_nonnull(strstr(err.message, "custom [31mred [0m error"));

        /* Big integers in data do not fail the read. */
        ck_assert_int_eq(outcome("bigint.json", 200, VAULT_OP_READ, &err), 0);
        ck_assert_int_eq(outcome("warnings-200.json", 200, VAULT_OP_READ, &err), 0);
        r = parse_file("warnings-200.json", 200);
        ck_assert_uint_eq(r->n_warnings, 2);
        ck_assert_str_eq(r->warnings[1], "second warning with control");
        vault_response_free(r);
}
END_TEST

START_TEST(test_every_corpus_file_parses_without_crash)
{
        static const long statuses[] = { 200, 204, 307, 400, 403, 404, 412, 429, 500, 503 };
        static const char *const names[] = {
                "login-kubernetes.json", "login-jwt.json", "kv1-read.json",  "kv2-read.json",
                "kv2-deleted-404.json",  "db-creds.json",  "pki-issue.json", "garbage.txt",
                "truncated.json",        "empty-204.bin",  "health.json",    "bigint.json",
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                size_t n;
                char *body = read_body(names[i], &n);
                for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++)
                        for (int op = 0; op < _VAULT_OP_MAX; op++) {
                                VaultResponse *r = NULL;
                                VaultError err = { 0 };
                                if (vault_response_parse(statuses[s], (const uint8_t *)body, n, &r,
                                                         &err) == 0) {
                                        (void)vault_response_check(r, (VaultOp)op, &err);
                                        vault_response_free(r);
                                }
                                ck_assert(!strstr(err.message, "PLANTED"));
                        }
                free(body);
        }
}
END_TEST

START_TEST(test_sanitize)
{
        char out[300];
        char longer[600];
        const char *in = "  a\n\tb  \x01 c\r\n";

        ck_assert_uint_eq(vault_text_sanitize(out, sizeof(out), in, strlen(in), 256), 5);
        ck_assert_str_eq(out, "a b c");
        /* C1 controls and invalid bytes go away; UTF-8 stays. */
        in = "x\xc2\x9by é \xff z";
        ck_assert_uint_gt(vault_text_sanitize(out, sizeof(out), in, strlen(in), 256), 0);
        ck_assert_str_eq(out, "x y é z");
        /* Cap at a character boundary. */
        memset(longer, 0, sizeof(longer));
        for (size_t i = 0; i + 2 <= 590; i += 2)
                memcpy(longer + i, "\xc3\xa9", 2);
        ck_assert_uint_le(vault_text_sanitize(out, sizeof(out), longer, 590, 256), 256);
        ck_assert_uint_eq(strlen(out) % 2, 0);
        ck_assert_uint_eq(vault_text_sanitize(out, 4, "abcdef", 6, 256), 3);
        ck_assert_str_eq(out, "abc");
}
END_TEST

START_TEST(test_errors_capped)
{
        char body[4096];
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        int n = snprintf(body, sizeof(body), "{\"errors\":[\"");

        for (int i = 0; i < 100; i++)
                n += snprintf(body + n, sizeof(body) - (size_t)n, "long reason %02d, ", i);
        n += snprintf(body + n, sizeof(body) - (size_t)n, "\",\"second\",\"third\"]}");
        ck_assert_int_eq(vault_response_parse(403, (const uint8_t *)body, (size_t)n, &r, &err), 0);
        ck_assert_uint_le(strlen(r->errors_text), VAULT_ERROR_TEXT_MAX);
        ck_assert_uint_eq(r->n_errors, 3);
        ck_assert_int_eq(vault_response_check(r, VAULT_OP_READ, &err), VAULT_E_DENIED);
        ck_assert_uint_lt(strlen(err.message), VAULT_ERROR_MESSAGE_MAX);
        vault_response_free(r);

        r = NULL;
        ck_assert_int_eq(vault_response_parse(400, (const uint8_t *)"{\"errors\":[\"a\",\"b\"]}",
                                              20, &r, &err),
                         0);
        ck_assert_str_eq(r->errors_text, "a; b");
        vault_response_free(r);
}
END_TEST

START_TEST(test_retryable_and_csi)
{
        ck_assert(vault_status_retryable(412));
        ck_assert(vault_status_retryable(429));
        ck_assert(vault_status_retryable(500));
        ck_assert(vault_status_retryable(503));
        ck_assert(vault_status_retryable(599));
        ck_assert(!vault_status_retryable(501));
        ck_assert(!vault_status_retryable(400));
        ck_assert(!vault_status_retryable(403));
        ck_assert(!vault_status_retryable(404));
        ck_assert(!vault_status_retryable(307));
        ck_assert(!vault_status_retryable(200));

        ck_assert_int_eq(vault_error_to_csi_code(0), CSI_OK);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_LOGIN_REJECTED), CSI_UNAUTHENTICATED);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_DENIED), CSI_PERMISSION_DENIED);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_NOT_FOUND), CSI_NOT_FOUND);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_BAD_REQUEST), CSI_INVALID_ARGUMENT);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_UNAVAILABLE), CSI_UNAVAILABLE);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_SEALED), CSI_UNAVAILABLE);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_RATE_LIMITED), CSI_UNAVAILABLE);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_TLS), CSI_UNAVAILABLE);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_PROTOCOL), CSI_UNAVAILABLE);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_TOO_LARGE), CSI_RESOURCE_EXHAUSTED);
        ck_assert_int_eq(vault_error_to_csi_code(VAULT_E_CONFIG), CSI_FAILED_PRECONDITION);
        ck_assert_int_eq(vault_error_to_csi_code(-ENOMEM), CSI_RESOURCE_EXHAUSTED);
        ck_assert_int_eq(vault_error_to_csi_code(-EINVAL), CSI_INVALID_ARGUMENT);
        ck_assert_int_eq(vault_error_to_csi_code(999), CSI_INTERNAL);

        for (int c = 0; c < _VAULT_E_MAX; c++)
                ck_assert_ptr_nonnull(vault_error_code_to_string(c));
        ck_assert_str_eq(vault_error_code_to_string(VAULT_E_DENIED), "DENIED");
        ck_assert_str_eq(vault_error_code_to_string(-5), "ERRNO");
}
END_TEST

static Suite *vault_json_suite(void) {
        Suite *s = suite_create("vault-json");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, test_login_kubernetes);
        tcase_add_test(tc, test_login_jwt_and_batch);
        tcase_add_test(tc, test_kv_reads);
        tcase_add_test(tc, test_dynamic_pki_lifecycle);
        tcase_add_test(tc, test_empty_and_odd_bodies);
        tcase_add_test(tc, test_every_corpus_file_parses_without_crash);
        suite_add_tcase(s, tc);

        tc = tcase_create("classify");
        tcase_add_test(tc, test_login_rejections);
        tcase_add_test(tc, test_not_found_shapes);
        tcase_add_test(tc, test_denied_and_server_errors);
        tcase_add_test(tc, test_retryable_and_csi);
        suite_add_tcase(s, tc);

        tc = tcase_create("text");
        tcase_add_test(tc, test_sanitize);
        tcase_add_test(tc, test_errors_capped);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(vault_json_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
