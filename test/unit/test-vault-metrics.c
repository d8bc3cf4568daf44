/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-vault-metrics.c - vault-metrics.c: every call shape to its operation
 * (never a path), every outcome to its result class; and volume-observe.c:
 * the log context of a record and the time its files go stale.
 */
#undef NDEBUG
#include <errno.h>
#include <string.h>

#include "vault-metrics.h"
#include "rules.h"
#include "volume-observe.h"
#include "volume-rotation.h"

#include <check.h>

#include "testutil.h"

START_TEST(test_ops)
{
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_LOGIN_KUBERNETES, VAULT_METHOD_POST,
                                          "/v1/auth/kubernetes/login"),
                         METRICS_OP_LOGIN);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_LOGIN_JWT, VAULT_METHOD_POST, "/v1/auth/x"),
                         METRICS_OP_LOGIN);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_READ, VAULT_METHOD_GET, "/v1/secret/data/a"),
                         METRICS_OP_READ);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_READ, VAULT_METHOD_POST, "/v1/pki/issue/r"),
                         METRICS_OP_WRITE);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_READ, VAULT_METHOD_PUT, "/v1/x"),
                         METRICS_OP_WRITE);
        /* a secret path that looks like a lifecycle endpoint is still a read */
        ck_assert_int_eq(
                vault_metrics_op(VAULT_OP_READ, VAULT_METHOD_GET, "/v1/secret/data/renew-self"),
                METRICS_OP_READ);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_LIFECYCLE, VAULT_METHOD_POST,
                                          "/v1/auth/token/renew-self"),
                         METRICS_OP_RENEW_SELF);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_LIFECYCLE, VAULT_METHOD_POST,
                                          "/v1/auth/token/revoke-self"),
                         METRICS_OP_REVOKE);
        ck_assert_int_eq(
                vault_metrics_op(VAULT_OP_LIFECYCLE, VAULT_METHOD_PUT, "/v1/sys/leases/revoke"),
                METRICS_OP_REVOKE);
        ck_assert_int_eq(vault_metrics_op(VAULT_OP_LIFECYCLE, VAULT_METHOD_GET,
                                          "/v1/auth/token/lookup-self"),
                         METRICS_OP_LOOKUP);
        ck_assert_int_eq(
                vault_metrics_op(VAULT_OP_LIFECYCLE, VAULT_METHOD_PUT, "/v1/sys/leases/renew"),
                METRICS_OP_RENEW);
}
END_TEST

START_TEST(test_results)
{
        ck_assert_int_eq(vault_metrics_result(0, 200), METRICS_RESULT_OK);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_DENIED, 403), METRICS_RESULT_DENIED);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_LOGIN_REJECTED, 400), METRICS_RESULT_DENIED);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_NOT_FOUND, 404), METRICS_RESULT_NOT_FOUND);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_RATE_LIMITED, 429),
                         METRICS_RESULT_RATE_LIMITED);
        /* a 429 whose call ended otherwise (the client's retry budget) */
        ck_assert_int_eq(vault_metrics_result(VAULT_E_UNAVAILABLE, 429),
                         METRICS_RESULT_RATE_LIMITED);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_UNAVAILABLE, 0), METRICS_RESULT_UNAVAILABLE);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_SEALED, 503), METRICS_RESULT_UNAVAILABLE);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_BAD_REQUEST, 400), METRICS_RESULT_ERROR);
        ck_assert_int_eq(vault_metrics_result(VAULT_E_TLS, 0), METRICS_RESULT_ERROR);
        ck_assert_int_eq(vault_metrics_result(-ENOMEM, 0), METRICS_RESULT_ERROR);
}
END_TEST

START_TEST(test_log_context)
{
        KeyValue attrs[] = {
                { "roleName", "demo" },
                { VOLUME_POD_NAME_KEY, "app-0" },
                { VOLUME_POD_NAMESPACE_KEY, "shop" },
                { VOLUME_POD_UID_KEY, "u-1" },
        };
        char id1[] = "csi-1", id2[] = "csi-2";
        VolumeRecord r = { .volume_id = id1, .attrs = attrs, .n_attrs = 4 };
        VolumeRecord bare = { .volume_id = id2 };
        LogContext lc;

        volume_record_log_context(&r, &lc);
        ck_assert_str_eq(lc.volume_id, "csi-1");
        ck_assert_str_eq(lc.pod_name, "app-0");
        ck_assert_str_eq(lc.pod_namespace, "shop");
        ck_assert_str_eq(lc.pod_uid, "u-1");
        ck_assert_ptr_null(lc.method);
        volume_record_log_context(&bare, &lc);
        ck_assert_str_eq(lc.volume_id, "csi-2");
        ck_assert_ptr_null(lc.pod_name);
        ck_assert_ptr_null(volume_record_attribute(&r, "nope"));
}
END_TEST

#define SEC 1000000ULL

START_TEST(test_stale_after)
{
        SecretGroup g[3] = {
                { .kind = SECRET_KIND_KV2, .renewed_usec = 1000 * SEC },
                { .kind = SECRET_KIND_LEASE,
                  .renewed_usec = 1000 * SEC,
                  .expires_usec = 5000 * SEC },
                { .kind = SECRET_KIND_PKI, .renewed_usec = 900 * SEC, .expires_usec = 9000 * SEC },
        };
        VolumeRotation rot = { .groups = g, .n_groups = 1 }, none = { 0 };
        VolumeRecord r = { .rot = &rot }, r0 = { .rot = &none };

        ck_assert_uint_eq(refresh_stale_after(&r0, SEC), 0);
        /* KV alone: its last read plus two intervals (no spec: the default) */
        ck_assert_uint_eq(refresh_stale_after(&r, 120 * SEC), 1240 * SEC);
        /* a lease that ends earlier wins */
        rot.n_groups = 3;
        ck_assert_uint_eq(refresh_stale_after(&r, 3600 * SEC), 5000 * SEC);
        ck_assert_uint_eq(refresh_stale_after(&r, 60 * SEC), 1120 * SEC);
        /* a lease ends with its token */
        rot.token_expires_usec = 3000 * SEC;
        ck_assert_uint_eq(refresh_stale_after(&r, 3600 * SEC), 3000 * SEC);
        /* a lease without a duration is capped by its token too */
        g[1].expires_usec = 0;
        rot.token_expires_usec = 0;
        ck_assert_uint_eq(refresh_stale_after(&r, 3600 * SEC), 8200 * SEC);
}
END_TEST

static Suite *vault_metrics_suite(void) {
        Suite *s = suite_create("vault-metrics");
        TCase *tc = tcase_create("classes");
        tcase_add_test(tc, test_ops);
        tcase_add_test(tc, test_results);
        suite_add_tcase(s, tc);
        tc = tcase_create("volume-observe");
        tcase_add_test(tc, test_log_context);
        tcase_add_test(tc, test_stale_after);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(vault_metrics_suite());
}
