/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-metrics.c - metrics.c: counters, Vault outcome classes, the gauge,
 * snapshots under concurrent increments, the text form, NULL safety; the
 * labelled families (issue 11): CSI methods and codes, histogram buckets,
 * per-server Vault requests and refreshes, and the volumes' pods.
 */
#undef NDEBUG
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "status.h"

#include <check.h>

#include "testutil.h"

START_TEST(test_classes)
{
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

START_TEST(test_counts_and_snapshot)
{
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

START_TEST(test_concurrent)
{
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

/* ---- issue 11 ---- */

static uint64_t ld(const atomic_uint_fast64_t *v) {
        return atomic_load((atomic_uint_fast64_t *)v);
}

START_TEST(test_histogram_buckets)
{
        MetricsHistogram *h = calloc(1, sizeof(*h));
        ck_assert_str_eq(metrics_bucket_label(0), "0.001");
        ck_assert_str_eq(metrics_bucket_label(METRICS_BUCKETS - 1), "30");
        ck_assert_str_eq(metrics_bucket_label(METRICS_BUCKETS), "+Inf");
        ck_assert_uint_eq(metrics_bucket_usec(METRICS_BUCKETS - 1), 30000000);
        for (size_t i = 1; i < METRICS_BUCKETS; i++)
                ck_assert_uint_gt(metrics_bucket_usec(i), metrics_bucket_usec(i - 1));
        metrics_histogram_observe(h, 0);        /* le 0.001 */
        metrics_histogram_observe(h, 1000);     /* le 0.001 (upper bound inclusive) */
        metrics_histogram_observe(h, 1001);     /* le 0.0025 */
        metrics_histogram_observe(h, 30000000); /* le 30 */
        metrics_histogram_observe(h, 30000001); /* above every bound */
        ck_assert_uint_eq(ld(&h->buckets[0]), 2);
        ck_assert_uint_eq(ld(&h->buckets[1]), 1);
        ck_assert_uint_eq(ld(&h->buckets[METRICS_BUCKETS - 1]), 1);
        ck_assert_uint_eq(ld(&h->buckets[METRICS_BUCKETS]), 1);
        ck_assert_uint_eq(ld(&h->sum_usec), 0 + 1000 + 1001 + 30000000 + 30000001);
        free(h);
}
END_TEST

START_TEST(test_csi_requests)
{
        Metrics *m = calloc(1, sizeof(*m));
        size_t pub = metrics_csi_method_index("NodePublishVolume");

        metrics_init(m);
        ck_assert_str_eq(metrics_csi_method_name(pub), "NodePublishVolume");
        ck_assert_uint_eq(metrics_csi_method_index("/csi.v1.Node/NodePublishVolume"),
                          METRICS_CSI_METHOD_UNKNOWN);
        ck_assert_uint_eq(metrics_csi_method_index(NULL), METRICS_CSI_METHOD_UNKNOWN);
        ck_assert_str_eq(metrics_csi_method_name(METRICS_CSI_METHOD_UNKNOWN), "unknown");
        metrics_csi_request(m, "NodePublishVolume", CSI_OK, 1500);
        metrics_csi_request(m, "NodePublishVolume", CSI_OK, 2500000);
        metrics_csi_request(m, "NodePublishVolume", CSI_UNAVAILABLE, 10);
        metrics_csi_request(m, "Nonsense", CSI_UNIMPLEMENTED, 10);
        metrics_csi_request(m, "Probe", 99, 10);        /* out of range: UNKNOWN */
        metrics_csi_request(NULL, "Probe", CSI_OK, 10); /* no metrics: nothing */
        ck_assert_uint_eq(ld(&m->csi_requests[pub][CSI_OK]), 2);
        ck_assert_uint_eq(ld(&m->csi_requests[pub][CSI_UNAVAILABLE]), 1);
        ck_assert_uint_eq(ld(&m->csi_requests[METRICS_CSI_METHOD_UNKNOWN][CSI_UNIMPLEMENTED]), 1);
        ck_assert_uint_eq(ld(&m->csi_requests[metrics_csi_method_index("Probe")][CSI_UNKNOWN]), 1);
        ck_assert_uint_eq(ld(&m->csi_duration[pub].sum_usec), 1500 + 2500000 + 10);
        /* the label names match the codes' numbers (grpc/status.h) */
        ck_assert_str_eq(metrics_csi_code_name(0), "OK");
        ck_assert_str_eq(metrics_csi_code_name(CSI_ABORTED), "ABORTED");
        ck_assert_str_eq(metrics_csi_code_name(CSI_UNAUTHENTICATED), "UNAUTHENTICATED");
        for (int c = 0; c < METRICS_CSI_CODES; c++)
                ck_assert_str_eq(metrics_csi_code_name(c), csi_code_to_string((CsiCode)c));
        ck_assert_str_eq(metrics_csi_code_name(17), "UNKNOWN");
        ck_assert_str_eq(metrics_csi_code_name(-1), "UNKNOWN");
        metrics_done(m);
        free(m);
}
END_TEST

START_TEST(test_servers)
{
        Metrics *m = calloc(1, sizeof(*m));
        const char *names[] = { "default", "eu" };

        metrics_init(m);
        /* before the servers are set, every server index is unknown */
        metrics_vault_request(m, 0, METRICS_OP_READ, METRICS_RESULT_OK, 10);
        ck_assert_int_eq(metrics_set_servers(m, names, 2), 0);
        ck_assert_str_eq(m->servers[1].name, "eu");
        metrics_vault_request(m, 1, METRICS_OP_READ, METRICS_RESULT_OK, 10);
        metrics_vault_request(m, 1, METRICS_OP_LOGIN, METRICS_RESULT_RATE_LIMITED, 20);
        metrics_vault_request(m, 2, METRICS_OP_READ, METRICS_RESULT_OK, 10); /* no such server */
        metrics_vault_request(m, 0, _METRICS_OP_MAX, METRICS_RESULT_OK, 10); /* no such op */
        metrics_vault_rate_limited(m, 1);
        metrics_vault_rate_limited(m, 7);
        metrics_refresh(m, 0, METRICS_KIND_LEASE, METRICS_REFRESH_RESULT_FAILED);
        metrics_refresh(m, 0, METRICS_KIND_TOKEN, _METRICS_REFRESH_RESULT_MAX);
        ck_assert_uint_eq(ld(&m->servers[1].requests[METRICS_OP_READ][METRICS_RESULT_OK]), 1);
        ck_assert_uint_eq(
                ld(&m->servers[1].requests[METRICS_OP_LOGIN][METRICS_RESULT_RATE_LIMITED]), 1);
        ck_assert_uint_eq(ld(&m->servers[0].requests[METRICS_OP_READ][METRICS_RESULT_OK]), 0);
        ck_assert_uint_eq(ld(&m->servers[1].rate_limited), 1);
        ck_assert_uint_eq(ld(&m->servers[0].rate_limited), 0);
        ck_assert_uint_eq(
                ld(&m->servers[0].refreshes[METRICS_KIND_LEASE][METRICS_REFRESH_RESULT_FAILED]), 1);
        ck_assert_uint_eq(ld(&m->servers[1].duration[METRICS_OP_LOGIN].sum_usec), 20);
        ck_assert_str_eq(metrics_vault_op_name(METRICS_OP_RENEW_SELF), "renew_self");
        ck_assert_str_eq(metrics_vault_result_name(METRICS_RESULT_NOT_FOUND), "not_found");
        ck_assert_str_eq(metrics_refresh_kind_name(METRICS_KIND_PKI), "pki");
        ck_assert_str_eq(metrics_refresh_result_name(METRICS_REFRESH_RESULT_DEFERRED), "deferred");
        metrics_done(m);
        ck_assert_uint_eq(m->n_servers, 0);
        free(m);
}
END_TEST

START_TEST(test_volume_identities)
{
        Metrics *m = calloc(1, sizeof(*m));
        MetricsVolumeIdentity id;
        char longname[400];

        metrics_init(m);
        ck_assert_int_eq(metrics_volume_get(m, "v1", &id), -ENOENT);
        ck_assert_int_eq(metrics_volume_set(m, "v1", "ns", "app-0", "uid-1"), 0);
        ck_assert_int_eq(metrics_volume_set(m, "v2", NULL, "app-1", NULL), 0);
        ck_assert_int_eq(metrics_volume_set(m, "", "x", "y", "z"), 0); /* ignored */
        ck_assert_uint_eq(metrics_volume_count(m), 2);
        ck_assert_int_eq(metrics_volume_get(m, "v1", &id), 0);
        ck_assert_str_eq(id.ns, "ns");
        ck_assert_str_eq(id.pod, "app-0");
        ck_assert_str_eq(id.uid, "uid-1");
        ck_assert_int_eq(metrics_volume_get(m, "v2", &id), 0);
        ck_assert_str_eq(id.ns, "");
        /* a republish sets the same volume again: still one entry, new values */
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        ck_assert_int_eq(metrics_volume_set(m, "v1", "ns2", longname, "uid-1"), 0);
        ck_assert_uint_eq(metrics_volume_count(m), 2);
        ck_assert_int_eq(metrics_volume_get(m, "v1", &id), 0);
        ck_assert_str_eq(id.ns, "ns2");
        ck_assert_uint_eq(strlen(id.pod), sizeof(id.pod) - 1); /* cut, terminated */
        metrics_volume_forget(m, "v1");
        metrics_volume_forget(m, "v1");
        metrics_volume_forget(m, "nope");
        ck_assert_uint_eq(metrics_volume_count(m), 1);
        ck_assert_int_eq(metrics_volume_get(m, "v1", &id), -ENOENT);
        ck_assert_int_eq(metrics_volume_get(m, "v2", &id), 0);
        ck_assert_str_eq(id.pod, "app-1");
        /* NULL-safe */
        ck_assert_int_eq(metrics_volume_set(NULL, "v", "a", "b", "c"), 0);
        metrics_volume_forget(NULL, "v");
        ck_assert_int_eq(metrics_volume_get(NULL, "v", &id), -ENOENT);
        metrics_done(m);
        free(m);
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("metrics");
        tcase_add_test(tc, test_classes);
        tcase_add_test(tc, test_counts_and_snapshot);
        tcase_add_test(tc, test_concurrent);
        tcase_add_test(tc, test_histogram_buckets);
        tcase_add_test(tc, test_csi_requests);
        tcase_add_test(tc, test_servers);
        tcase_add_test(tc, test_volume_identities);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(metrics_suite());
}
