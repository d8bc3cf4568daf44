/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-prom.c - prom.c: the Prometheus text format of every family (HELP
 * and TYPE always, zeros where the label set is fixed, CSI pairs only once
 * seen), cumulative histograms, label escaping, per-volume series and
 * their absence, the process families.
 */
#undef NDEBUG
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "prom.h"
#include "status.h"

#include <check.h>

#include "testutil.h"

static const char *const families[] = {
        "vaultmount_build_info gauge",
        "vaultmount_csi_requests_total counter",
        "vaultmount_csi_request_duration_seconds histogram",
        "vaultmount_vault_requests_total counter",
        "vaultmount_vault_request_duration_seconds histogram",
        "vaultmount_volumes gauge",
        "vaultmount_refresh_total counter",
        "vaultmount_vault_server_paused gauge",
        "vaultmount_vault_rate_limited_total counter",
        "vaultmount_volume_secret_expiry_timestamp_seconds gauge",
        "vaultmount_volume_last_refresh_success_timestamp_seconds gauge",
};

static char *render(const PromInput *in) {
        char *text = NULL;
        size_t len = 0;
        ck_assert_int_eq(prom_render(in, &text, &len), 0);
        ck_assert_uint_eq(strlen(text), len);
        return text;
}

static void has_line(const char *text, const char *line) {
        char *want;
        ck_assert_int_ge(asprintf(&want, "\n%s\n", line), 0);
        ck_assert_msg(strstr(text, want) != NULL, "missing line '%s' in:\n%s", line, text);
        free(want);
}

static void lacks(const char *text, const char *fragment) {
        ck_assert_msg(strstr(text, fragment) == NULL, "unexpected '%s' in:\n%s", fragment, text);
}

START_TEST(test_empty_has_every_family)
{
        PromInput in = { .version = "1.2.3", .commit = "abc" };
        char *t = render(&in);

        ck_assert_str_eq(strstr(t, "# HELP vaultmount_build_info ") == t ? "first" : "not first",
                         "first");
        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
                char type[128];
                (void)snprintf(type, sizeof(type), "# TYPE %s", families[i]);
                has_line(t, type);
        }
        has_line(t, "vaultmount_build_info{version=\"1.2.3\",commit=\"abc\"} 1");
        /* every state, zeros included */
        has_line(t, "vaultmount_volumes{state=\"ok\"} 0");
        has_line(t, "vaultmount_volumes{state=\"failing\"} 0");
        has_line(t, "vaultmount_volumes{state=\"stale\"} 0");
        has_line(t, "vaultmount_volumes{state=\"waiting_for_token\"} 0");
        lacks(t, "process_");
        ck_assert(t[strlen(t) - 1] == '\n');
        free(t);
}
END_TEST

START_TEST(test_counters_histograms_escaping)
{
        Metrics *m = calloc(1, sizeof(*m));
        const char *names[] = { "default", "we\"ird\\name" };
        int paused[] = { 0, 1 };
        PromInput in = { .version = "v\"1\\\n", .commit = "c", .server_paused = paused };
        char *t;

        metrics_init(m);
        ck_assert_int_eq(metrics_set_servers(m, names, 2), 0);
        in.metrics = m;
        metrics_csi_request(m, "NodePublishVolume", CSI_OK, 1500);
        metrics_csi_request(m, "NodePublishVolume", CSI_OK, 2500000);
        metrics_vault_request(m, 0, METRICS_OP_READ, METRICS_RESULT_OK, 4000);
        metrics_vault_rate_limited(m, 1);
        metrics_vault_rate_limited(m, 1);
        metrics_refresh(m, 0, METRICS_KIND_KV, METRICS_REFRESH_RESULT_OK);
        t = render(&in);

        has_line(t, "vaultmount_build_info{version=\"v\\\"1\\\\\\n\",commit=\"c\"} 1");
        has_line(t, "vaultmount_csi_requests_total{method=\"NodePublishVolume\",code=\"OK\"} 2");
        lacks(t, "code=\"INTERNAL\"");
        lacks(t, "method=\"Probe\"");
        /* cumulative buckets: 1.5 ms, 2.5 s */
        has_line(t, "vaultmount_csi_request_duration_seconds_bucket{method=\"NodePublishVolume\","
                    "le=\"0.001\"} 0");
        has_line(t, "vaultmount_csi_request_duration_seconds_bucket{method=\"NodePublishVolume\","
                    "le=\"0.0025\"} 1");
        has_line(t, "vaultmount_csi_request_duration_seconds_bucket{method=\"NodePublishVolume\","
                    "le=\"1\"} 1");
        has_line(t, "vaultmount_csi_request_duration_seconds_bucket{method=\"NodePublishVolume\","
                    "le=\"2.5\"} 2");
        has_line(t, "vaultmount_csi_request_duration_seconds_bucket{method=\"NodePublishVolume\","
                    "le=\"+Inf\"} 2");
        has_line(t, "vaultmount_csi_request_duration_seconds_sum{method=\"NodePublishVolume\"} "
                    "2.501500");
        has_line(t,
                 "vaultmount_csi_request_duration_seconds_count{method=\"NodePublishVolume\"} 2");
        /* fixed label sets with their zeros; server names escaped */
        has_line(t, "vaultmount_vault_requests_total{server=\"default\",operation=\"read\","
                    "result=\"ok\"} 1");
        has_line(t, "vaultmount_vault_requests_total{server=\"we\\\"ird\\\\name\","
                    "operation=\"lookup\",result=\"error\"} 0");
        has_line(t, "vaultmount_vault_request_duration_seconds_count{server=\"default\","
                    "operation=\"read\"} 1");
        lacks(t, "vaultmount_vault_request_duration_seconds_count{server=\"default\","
                 "operation=\"login\"}");
        has_line(t, "vaultmount_refresh_total{server=\"default\",kind=\"kv\",result=\"ok\"} 1");
        has_line(t, "vaultmount_refresh_total{server=\"default\",kind=\"token\","
                    "result=\"deferred\"} 0");
        has_line(t, "vaultmount_vault_server_paused{server=\"default\"} 0");
        has_line(t, "vaultmount_vault_server_paused{server=\"we\\\"ird\\\\name\"} 1");
        has_line(t, "vaultmount_vault_rate_limited_total{server=\"we\\\"ird\\\\name\"} 2");
        has_line(t, "vaultmount_vault_rate_limited_total{server=\"default\"} 0");
        free(t);
        metrics_done(m);
        free(m);
}
END_TEST

START_TEST(test_volumes_and_process)
{
        PromVolume v[] = {
                { .volume_id = "csi-1",
                  .ns = "default",
                  .pod = "app-0",
                  .expiry_usec = 1700000000250000ULL,
                  .last_success_usec = 1699999999000000ULL },
                { .volume_id = "csi-2", .ns = "prod", .pod = "db-1" }, /* nothing known yet */
        };
        PromProcess p = { .valid = true,
                          .cpu_seconds = 1.5,
                          .resident_bytes = 4096,
                          .virtual_bytes = 8192,
                          .open_fds = 12,
                          .max_fds = 1024,
                          .start_time_seconds = 1700000000.5 };
        PromInput in = {
                .version = "1", .commit = "c", .volumes = v, .n_volumes = 2, .process = &p
        };
        char *t;

        in.volumes_by_state[VOLUME_STATE_OK] = 1;
        in.volumes_by_state[VOLUME_STATE_STALE] = 1;
        t = render(&in);
        has_line(t, "vaultmount_volumes{state=\"ok\"} 1");
        has_line(t, "vaultmount_volumes{state=\"stale\"} 1");
        has_line(t, "vaultmount_volume_secret_expiry_timestamp_seconds{namespace=\"default\","
                    "pod=\"app-0\",volume_id=\"csi-1\"} 1700000000.250");
        has_line(t, "vaultmount_volume_last_refresh_success_timestamp_seconds{namespace="
                    "\"default\",pod=\"app-0\",volume_id=\"csi-1\"} 1699999999.000");
        lacks(t, "csi-2");
        has_line(t, "process_cpu_seconds_total 1.50");
        has_line(t, "process_resident_memory_bytes 4096");
        has_line(t, "process_open_fds 12");
        has_line(t, "process_max_fds 1024");
        has_line(t, "process_start_time_seconds 1700000000.50");
        has_line(t, "# TYPE process_cpu_seconds_total counter");
        free(t);
        ck_assert_str_eq(prom_volume_state_label(VOLUME_STATE_WAITING), "waiting_for_token");
        ck_assert_str_eq(prom_volume_state_label(_VOLUME_STATE_MAX), "unknown");
}
END_TEST

static Suite *prom_suite(void) {
        Suite *s = suite_create("prom");
        TCase *tc = tcase_create("render");
        tcase_add_test(tc, test_empty_has_every_family);
        tcase_add_test(tc, test_counters_histograms_escaping);
        tcase_add_test(tc, test_volumes_and_process);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(prom_suite());
}
