/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-procstat.c - procstat.c: /proc/<pid>/stat with awkward command
 * names, the btime line, bad input, and this process's own statistics.
 */
#undef NDEBUG
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

#include <check.h>

#include "testutil.h"

/* proc(5): pid (comm) state ppid ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
#define STAT_TAIL                                                                                  \
        "S 1 2 3 4 5 6 7 8 9 10 250 50 13 14 15 16 17 0 4242 8388608 300 18446744073709551615\n"

START_TEST(test_parse_stat)
{
        ProcStat s;
        ck_assert_int_eq(procstat_parse_stat("1234 (vaultmountd) " STAT_TAIL, &s), 0);
        ck_assert_uint_eq(s.utime_ticks, 250);
        ck_assert_uint_eq(s.stime_ticks, 50);
        ck_assert_uint_eq(s.start_ticks, 4242);
        ck_assert_uint_eq(s.vsize_bytes, 8388608);
        ck_assert_uint_eq(s.rss_pages, 300);
        /* a command name with spaces and parentheses: the last ')' counts */
        ck_assert_int_eq(procstat_parse_stat("7 (a) b (c) ) " STAT_TAIL, &s), 0);
        ck_assert_uint_eq(s.start_ticks, 4242);
}
END_TEST

START_TEST(test_parse_bad)
{
        ProcStat s = { .utime_ticks = 77 };
        uint64_t b = 5;
        ck_assert_int_eq(procstat_parse_stat("", &s), -EINVAL);
        ck_assert_int_eq(procstat_parse_stat("1 (x) S 1 2 3\n", &s), -EINVAL);
        ck_assert_int_eq(procstat_parse_stat("no parenthesis at all", &s), -EINVAL);
        ck_assert_int_eq(procstat_parse_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 -1 50 13 14 15 16 17 0 "
                                             "4242 8388608 300\n",
                                             &s),
                         -EINVAL);
        ck_assert_uint_eq(s.utime_ticks, 77); /* untouched on failure */
        ck_assert_int_eq(procstat_parse_btime("cpu 1 2 3\nbtime x\n", &b), -EINVAL);
        ck_assert_int_eq(procstat_parse_btime("cpu 1 2 3\n", &b), -EINVAL);
        ck_assert_uint_eq(b, 5);
}
END_TEST

START_TEST(test_parse_btime)
{
        uint64_t b = 0;
        ck_assert_int_eq(procstat_parse_btime("cpu  1 2 3\nintr 1 2 3\nctxt 9\nbtime 1700000000\n"
                                              "processes 5\n",
                                              &b),
                         0);
        ck_assert_uint_eq(b, 1700000000);
}
END_TEST

START_TEST(test_read_self)
{
        PromProcess p;
        double now = (double)time(NULL);
        procstat_read(&p);
        ck_assert(p.valid);
        ck_assert_uint_gt(p.resident_bytes, 0);
        ck_assert_uint_ge(p.virtual_bytes, p.resident_bytes);
        ck_assert_uint_ge(p.open_fds, 3); /* at least stdin, stdout, stderr */
        ck_assert_uint_ge(p.max_fds, p.open_fds);
        ck_assert(p.cpu_seconds >= 0);
        /* started within the last hour, not in the future (generous bounds) */
        ck_assert(p.start_time_seconds <= now + 5 && p.start_time_seconds > now - 3600);
}
END_TEST

static Suite *procstat_suite(void) {
        Suite *s = suite_create("procstat");
        TCase *tc = tcase_create("procstat");
        tcase_add_test(tc, test_parse_stat);
        tcase_add_test(tc, test_parse_bad);
        tcase_add_test(tc, test_parse_btime);
        tcase_add_test(tc, test_read_self);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(procstat_suite());
}
