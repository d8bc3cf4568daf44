/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-metrics.c - metrics.c: counters, Vault outcome classes, the gauge,
 * snapshots under concurrent increments, the text form, NULL safety.
 */
#undef NDEBUG
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

#include <check.h>

#include "testutil.h"

START_TEST(test_classes) {
        ck_assert_int_eq(metrics_vault_class(200), METRICS_VAULT_2XX);
        ck_assert_int_eq(metrics_vault_class(204), METRICS_VAULT_2XX);
        ck_assert_int_eq(metrics_vault_class(307), METRICS_VAULT_3XX);
        ck_assert_int_eq(metrics_vault_class(403), METRICS_VAULT_4XX);
        ck_assert_int_eq(metrics_vault_class(429), METRICS_VAULT_429);
        ck_assert_int_eq(metrics_vault_class(500), METRICS_VAULT_5XX);
        ck_assert_int_eq(metrics_vault_class(503), METRICS_VAULT_503);
        ck_assert_int_eq(metrics_vault_class(0), METRICS_VAULT_TRANSPORT);
        ck_assert_int_eq(metrics_vault_class(99), METRICS_VAULT_TRANSPORT);
        ck_assert_int_eq(metrics_vault_class(600), METRICS_VAULT_TRANSPORT);
        ck_assert_str_eq(metrics_vault_class_name(METRICS_VAULT_429), "vault_429");
        ck_assert_str_eq(metrics_counter_name(METRICS_LEASES_RENEWED), "leases_renewed");
        ck_assert_str_eq(metrics_counter_name(_METRICS_COUNTER_MAX), "unknown");
}
END_TEST

START_TEST(test_counts_and_snapshot) {
        Metrics m;
        MetricsSnapshot s;
        char buf[1024];

        metrics_init(&m);
        metrics_snapshot(&m, &s);
        ck_assert_uint_eq(s.vault_calls_total, 0);
        metrics_inc(&m, METRICS_REFRESH_OK);
        metrics_add(&m, METRICS_LEASES_RENEWED, 5);
        metrics_vault_call(&m, 200, 1);
        metrics_vault_call(&m, 429, 3); /* two retries inside that call */
        metrics_vault_call(&m, 0, 0);
        metrics_stale_add(&m, +1);
        metrics_stale_add(&m, +1);
        metrics_stale_add(&m, -1);
        metrics_snapshot(&m, &s);
        ck_assert_uint_eq(s.counters[METRICS_REFRESH_OK], 1);
        ck_assert_uint_eq(s.counters[METRICS_LEASES_RENEWED], 5);
        ck_assert_uint_eq(s.counters[METRICS_RETRIES], 2);
        ck_assert_uint_eq(s.vault_calls[METRICS_VAULT_2XX], 1);
        ck_assert_uint_eq(s.vault_calls[METRICS_VAULT_429], 1);
        ck_assert_uint_eq(s.vault_calls[METRICS_VAULT_TRANSPORT], 1);
        ck_assert_uint_eq(s.vault_calls_total, 3);
        ck_assert_int_eq(s.volumes_stale, 1);
        metrics_format(&s, buf, sizeof(buf));
        ck_assert_ptr_nonnull(strstr(buf, "refresh_ok=1 "));
        ck_assert_ptr_nonnull(strstr(buf, "leases_renewed=5"));
        ck_assert_ptr_nonnull(strstr(buf, "vault_calls=3"));
        ck_assert_ptr_nonnull(strstr(buf, "vault_429=1"));
        ck_assert_ptr_nonnull(strstr(buf, "volumes_stale=1"));
        /* a short buffer is cut, never overrun */
        memset(buf, 'x', sizeof(buf));
        metrics_format(&s, buf, 16);
        ck_assert_uint_lt(strlen(buf), 16);
        /* NULL metrics: nothing happens */
        metrics_inc(NULL, METRICS_REFRESH_OK);
        metrics_vault_call(NULL, 200, 1);
        metrics_stale_add(NULL, 1);
        metrics_snapshot(NULL, &s);
        ck_assert_uint_eq(s.vault_calls_total, 0);
}
END_TEST

static Metrics shared;

static void *bump(void *p) {
        (void)p;
        for (int i = 0; i < 100000; i++) {
                metrics_inc(&shared, METRICS_REFRESH_OK);
                metrics_vault_call(&shared, 200, 1);
        }
        return NULL;
}

START_TEST(test_concurrent) {
        pthread_t t[4];
        MetricsSnapshot s;
        metrics_init(&shared);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, bump, NULL), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        metrics_snapshot(&shared, &s);
        ck_assert_uint_eq(s.counters[METRICS_REFRESH_OK], 400000);
        ck_assert_uint_eq(s.vault_calls[METRICS_VAULT_2XX], 400000);
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("metrics");
        tcase_add_test(tc, test_classes);
        tcase_add_test(tc, test_counts_and_snapshot);
        tcase_add_test(tc, test_concurrent);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(metrics_suite());
}
