/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-status-report.c - status-report.c: a state dir with volumes in every
 * shape (status file present, only record.json, a broken record, none at
 * all), the table, the JSON document, the exit code, short volume ids.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status-report.h"

#include <check.h>

#include "testutil.h"

static char root[64];

static void put_file(const char *rel, const char *text) {
        char path[512];
        FILE *f;
        (void)snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

static void mk(const char *rel) {
        char path[512];
        (void)snprintf(path, sizeof(path), "%s/%s", root, rel);
        ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void setup(void) {
        (void)snprintf(root, sizeof(root), "/tmp/test-status-report-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(root));
        mk("volumes");
        /* ok, with the refresher's status file */
        mk("volumes/csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        mk("volumes/csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/mnt");
        put_file("volumes/csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/record.json",
                 "{\"volume_id\":\"csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"target_path\":\"/t\","
                 "\"attributes\":{\"csi.storage.k8s.io/pod.name\":\"web-0\","
                 "\"csi.storage.k8s.io/pod.namespace\":\"shop\",\"roleName\":\"r\"},"
                 "\"status\":{\"state\":\"failing\",\"last_error\":\"old\"}}\n");
        put_file("volumes/csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/mnt/..vaultmount-status.json",
                 "{\"schema\":1,\"state\":\"ok\",\"last_success\":\"2026-11-23T09:29:01.334Z\","
                 "\"next_refresh\":\"2026-11-23T09:31:00.101Z\","
                 "\"earliest_expiry\":\"2026-11-23T10:00:00.000Z\"}\n");
        /* stale, known only from record.json (no status file) */
        mk("volumes/h-bbbb");
        put_file("volumes/h-bbbb/record.json",
                 "{\"volume_id\":\"vol/b\",\"target_path\":\"/t\","
                 "\"attributes\":{\"csi.storage.k8s.io/pod.name\":\"api-1\","
                 "\"csi.storage.k8s.io/pod.namespace\":\"alpha\"},"
                 "\"status\":{\"state\":\"stale\",\"last_success_usec\":1700000000000000,"
                 "\"last_error\":\"reading 'database/creds/app': permission denied\"}}\n");
        /* broken */
        mk("volumes/broken");
        put_file("volumes/broken/record.json", "{not json");
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)ftw;
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void teardown(void) {
        (void)nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *capture(const StatusEntry *e, size_t n, bool json) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(status_report_print(f, e, n, json), 0);
        fclose(f);
        return text;
}

START_TEST(test_load)
{
        StatusEntry *e = NULL;
        size_t n = 0, bad = 0;

        ck_assert_int_eq(status_report_load(root, &e, &n, &bad), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(bad, 1);
        /* sorted by namespace: alpha before shop */
        ck_assert_str_eq(e[0].ns, "alpha");
        ck_assert_str_eq(e[0].pod, "api-1");
        ck_assert_str_eq(e[0].volume_id, "vol/b");
        ck_assert_str_eq(e[0].state, "stale");
        ck_assert_str_eq(e[0].last_success, "2023-11-14T22:13:20Z");
        ck_assert_ptr_null(e[0].next_refresh);
        ck_assert_str_eq(e[1].state, "ok"); /* the status file wins over record.json */
        ck_assert_ptr_null(e[1].last_error);
        ck_assert_str_eq(e[1].next_refresh, "2026-11-23T09:31:00.101Z");
        ck_assert_int_eq(status_report_exit_code(e, n), 1);
        ck_assert_int_eq(status_report_exit_code(e + 1, 1), 0);
        status_entries_free(e, n);
}
END_TEST

/* A publish in progress (or interrupted, to be undone by the next start):
 * "publishing", with its pod, whatever a status file in its tmpfs says. */
START_TEST(test_load_publishing)
{
        StatusEntry *e = NULL;
        size_t n = 0, bad = 0;

        mk("volumes/h-cccc");
        mk("volumes/h-cccc/mnt");
        put_file("volumes/h-cccc/record.json",
                 "{\"volume_id\":\"vol/c\",\"target_path\":\"/t\",\"publishing\":true,"
                 "\"attributes\":{\"csi.storage.k8s.io/pod.name\":\"job-7\","
                 "\"csi.storage.k8s.io/pod.namespace\":\"beta\"}}\n");
        put_file("volumes/h-cccc/mnt/..vaultmount-status.json",
                 "{\"schema\":1,\"state\":\"ok\"}\n");
        ck_assert_int_eq(status_report_load(root, &e, &n, &bad), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_str_eq(e[1].ns, "beta");
        ck_assert_str_eq(e[1].pod, "job-7");
        ck_assert_str_eq(e[1].state, "publishing");
        ck_assert_int_eq(status_report_exit_code(e + 1, 1), 0);
        status_entries_free(e, n);
}
END_TEST

START_TEST(test_print)
{
        StatusEntry *e = NULL;
        size_t n = 0;
        char *t;

        ck_assert_int_eq(status_report_load(root, &e, &n, NULL), 0);
        t = capture(e, n, false);
        ck_assert_msg(strncmp(t, "NAMESPACE/POD", 13) == 0, "%s", t);
        ck_assert_ptr_nonnull(strstr(t, "alpha/api-1"));
        ck_assert_ptr_nonnull(strstr(t, "shop/web-0"));
        ck_assert_ptr_nonnull(strstr(t, "csi-aaaaaaaaaaaaaaaa... "));
        ck_assert_ptr_nonnull(strstr(t, "2026-11-23T09:31:00Z"));
        ck_assert_ptr_nonnull(strstr(t, "reading '<path>': permission denied\n"));
        ck_assert_ptr_null(strstr(t, "database/creds"));
        free(t);
        t = capture(e, n, true);
        ck_assert_ptr_nonnull(strstr(t, "\"healthy\":false"));
        ck_assert_ptr_nonnull(strstr(t, "\"volume_id\":\"csi-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""));
        ck_assert_ptr_nonnull(strstr(t, "\"namespace\":\"shop\""));
        ck_assert_ptr_nonnull(strstr(t, "\"next_refresh\":\"2026-11-23T09:31:00.101Z\""));
        free(t);
        status_entries_free(e, n);
}
END_TEST

START_TEST(test_run_exit_codes)
{
        char *out = NULL, *err = NULL, missing[128];
        size_t ol = 0, el = 0;
        FILE *o = open_memstream(&out, &ol), *f = open_memstream(&err, &el);

        ck_assert_int_eq(status_report_run(root, false, o, f), 1);
        fflush(f);
        ck_assert_ptr_nonnull(strstr(err, "1 volume record(s) could not be read"));
        /* no volumes dir at all: nothing published, all fine */
        (void)snprintf(missing, sizeof(missing), "%s/volumes/h-bbbb", root);
        ck_assert_int_eq(status_report_run(missing, true, o, f), 0);
        fclose(o);
        fclose(f);
        ck_assert_ptr_nonnull(strstr(out, "\"volumes\":[]"));
        free(out);
        free(err);
        /* a state dir that is not a directory */
        o = open_memstream(&out, &ol);
        f = open_memstream(&err, &el);
        (void)snprintf(missing, sizeof(missing), "%s/volumes/h-bbbb/record.json", root);
        ck_assert_int_eq(status_report_run(missing, false, o, f), 2);
        fclose(o);
        fclose(f);
        free(out);
        free(err);
}
END_TEST

START_TEST(test_redact_paths)
{
        char a[] = "reading 'secret/data/app' for object 'config': 1 error: "
                   "request path \"kv/x\": rate limit; 'a/b' 'no path' \"unterminated/";
        char b[] = "";
        status_redact_paths(a);
        ck_assert_str_eq(a, "reading '<path>' for object 'config': 1 error: request path "
                            "\"?\": rate limit; '?' 'no path' \"unterminated/");
        status_redact_paths(b);
        ck_assert_str_eq(b, "");
        status_redact_paths(NULL);
}
END_TEST

START_TEST(test_short_id)
{
        char buf[24];
        ck_assert_str_eq(status_short_id("csi-1", buf, sizeof(buf)), "csi-1");
        ck_assert_str_eq(status_short_id("0123456789012345678901234", buf, sizeof(buf)),
                         "01234567890123456789...");
        ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
        ck_assert_str_eq(status_short_id("01234567890123456789012", buf, sizeof(buf)),
                         "01234567890123456789012");
}
END_TEST

static Suite *status_report_suite(void) {
        Suite *s = suite_create("status-report");
        TCase *tc = tcase_create("status-report");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_load);
        tcase_add_test(tc, test_load_publishing);
        tcase_add_test(tc, test_print);
        tcase_add_test(tc, test_run_exit_codes);
        tcase_add_test(tc, test_short_id);
        tcase_add_test(tc, test_redact_paths);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(status_report_suite());
}
