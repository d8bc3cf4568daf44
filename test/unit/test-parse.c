/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-parse.c - strict parsers: full-string match, ranges, overflow at the
 * UINT64_MAX/INT64 boundaries, durations, sizes, modes, format_duration.
 */
#undef NDEBUG
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

#include <check.h>

#include "testutil.h"

#define SENTINEL 0xdeadbeefcafef00dULL
#define SEC      1000000ULL
#define MIN_     (60 * SEC)
#define HOUR     (3600 * SEC)

/* ---- parse_uint64 ---- */

START_TEST(test_uint64_ok)
{
        static const struct {
                const char *s;
                uint64_t v;
        } ok[] = {
                { "0", 0 },
                { "1", 1 },
                { "007", 7 },
                { "4096", 4096 },
                { "18446744073709551615", UINT64_MAX },
                { "18446744073709551614", UINT64_MAX - 1 },
                { "000000000000000000000000018446744073709551615", UINT64_MAX },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t v = SENTINEL;
                ck_assert_int_eq(parse_uint64(ok[i].s, 0, UINT64_MAX, &v), 0);
                ck_assert_uint_eq(v, ok[i].v);
        }
}
END_TEST

START_TEST(test_uint64_syntax)
{
        static const char *const bad[] = {
                "",    " 1",    "1 ",  "+1",  "-1",  "-0",  "0x10", "1e3",
                "1.0", "1,000", "one", "1\n", "\t1", "12a", "a12",  "1_000",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = SENTINEL;
                ck_assert_msg(parse_uint64(bad[i], 0, UINT64_MAX, &v) == -EINVAL, "'%s'", bad[i]);
                ck_assert_uint_eq(v, SENTINEL);
        }
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_uint64(NULL, 0, UINT64_MAX, &v), -EINVAL);
        ck_assert_uint_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_uint64_overflow)
{
        static const char *const big[] = {
                "18446744073709551616", /* UINT64_MAX + 1 */
                "18446744073709551620", /* overflows in the last addition */
                "18446744073709551699",           "99999999999999999999",
                "184467440737095516150", /* overflows in the multiplication */
                "100000000000000000000000000000",
        };
        for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
                uint64_t v = SENTINEL;
                ck_assert_msg(parse_uint64(big[i], 0, UINT64_MAX, &v) == -ERANGE, "'%s'", big[i]);
                ck_assert_uint_eq(v, SENTINEL);
        }
}
END_TEST

START_TEST(test_uint64_range)
{
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_uint64("9", 10, 20, &v), -ERANGE);
        ck_assert_int_eq(parse_uint64("21", 10, 20, &v), -ERANGE);
        ck_assert_uint_eq(v, SENTINEL);
        ck_assert_int_eq(parse_uint64("10", 10, 20, &v), 0);
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(parse_uint64("20", 10, 20, &v), 0);
        ck_assert_uint_eq(v, 20);
        ck_assert_int_eq(parse_uint64("18446744073709551615", 0, UINT64_MAX - 1, &v), -ERANGE);
        ck_assert_int_eq(parse_uint64("18446744073709551615", UINT64_MAX, UINT64_MAX, &v), 0);
        ck_assert_uint_eq(v, UINT64_MAX);
        /* syntax errors win over range errors */
        ck_assert_int_eq(parse_uint64("5x", 10, 20, &v), -EINVAL);
}
END_TEST

/* ---- parse_int64 ---- */

START_TEST(test_int64_ok)
{
        int64_t v = 0;
        ck_assert_int_eq(parse_int64("0", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert_int_eq(v, 0);
        ck_assert_int_eq(parse_int64("-0", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert_int_eq(v, 0);
        ck_assert_int_eq(parse_int64("-42", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert_int_eq(v, -42);
        ck_assert_int_eq(parse_int64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert(v == INT64_MAX);
        ck_assert_int_eq(parse_int64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert(v == INT64_MIN);
        ck_assert_int_eq(parse_int64("-9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
        ck_assert(v == INT64_MIN + 1);
}
END_TEST

START_TEST(test_int64_bad)
{
        static const struct {
                const char *s;
                int r;
        } bad[] = {
                { "9223372036854775808", -ERANGE },
                { "-9223372036854775809", -ERANGE },
                { "18446744073709551615", -ERANGE },
                { "-18446744073709551616", -ERANGE },
                { "", -EINVAL },
                { "-", -EINVAL },
                { "--1", -EINVAL },
                { "+1", -EINVAL },
                { "- 1", -EINVAL },
                { " -1", -EINVAL },
                { "-1 ", -EINVAL },
                { "1-", -EINVAL },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t v = 77;
                ck_assert_msg(parse_int64(bad[i].s, INT64_MIN, INT64_MAX, &v) == bad[i].r, "'%s'",
                              bad[i].s);
                ck_assert_int_eq(v, 77);
        }
        int64_t v = 77;
        ck_assert_int_eq(parse_int64(NULL, INT64_MIN, INT64_MAX, &v), -EINVAL);
}
END_TEST

START_TEST(test_int64_range)
{
        int64_t v = 77;
        ck_assert_int_eq(parse_int64("-1", 0, INT64_MAX, &v), -ERANGE);
        ck_assert_int_eq(parse_int64("-11", -10, 10, &v), -ERANGE);
        ck_assert_int_eq(parse_int64("11", -10, 10, &v), -ERANGE);
        ck_assert_int_eq(v, 77);
        ck_assert_int_eq(parse_int64("-10", -10, 10, &v), 0);
        ck_assert_int_eq(v, -10);
        ck_assert_int_eq(parse_int64("10", -10, 10, &v), 0);
        ck_assert_int_eq(v, 10);
}
END_TEST

/* ---- parse_unsigned ---- */

START_TEST(test_unsigned)
{
        unsigned v = 77;
        ck_assert_int_eq(parse_unsigned("4294967295", 0, UINT_MAX, &v), 0);
        ck_assert_uint_eq(v, UINT_MAX);
        v = 77;
        ck_assert_int_eq(parse_unsigned("4294967296", 0, UINT_MAX, &v), -ERANGE);
        ck_assert_int_eq(parse_unsigned("18446744073709551616", 0, UINT_MAX, &v), -ERANGE);
        ck_assert_int_eq(parse_unsigned("0", 1, 64, &v), -ERANGE);
        ck_assert_int_eq(parse_unsigned("65", 1, 64, &v), -ERANGE);
        ck_assert_int_eq(parse_unsigned("-1", 0, UINT_MAX, &v), -EINVAL);
        ck_assert_int_eq(parse_unsigned("4 ", 0, UINT_MAX, &v), -EINVAL);
        ck_assert_int_eq(parse_unsigned("", 0, UINT_MAX, &v), -EINVAL);
        ck_assert_uint_eq(v, 77);
        ck_assert_int_eq(parse_unsigned("64", 1, 64, &v), 0);
        ck_assert_uint_eq(v, 64);
        ck_assert_int_eq(parse_unsigned("1", 1, 64, &v), 0);
        ck_assert_uint_eq(v, 1);
}
END_TEST

/* ---- parse_bool ---- */

START_TEST(test_bool)
{
        static const char *const yes[] = { "true", "yes", "on", "1" };
        static const char *const no[] = { "false", "no", "off", "0" };
        static const char *const bad[] = { "",  "TRUE",  "True",  "Yes", "y",     "n",
                                           "2", "true ", " true", "01",  "truee", "of" };
        for (size_t i = 0; i < 4; i++) {
                bool b = false;
                ck_assert_int_eq(parse_bool(yes[i], &b), 0);
                ck_assert(b);
                b = true;
                ck_assert_int_eq(parse_bool(no[i], &b), 0);
                ck_assert(!b);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bool b = true;
                ck_assert_msg(parse_bool(bad[i], &b) == -EINVAL, "'%s'", bad[i]);
                ck_assert(b);
        }
        bool b = true;
        ck_assert_int_eq(parse_bool(NULL, &b), -EINVAL);
        ck_assert(b);
}
END_TEST

/* ---- parse_duration_usec ---- */

START_TEST(test_duration_ok)
{
        static const struct {
                const char *s;
                uint64_t usec;
        } ok[] = {
                { "90s", 90 * SEC },
                { "2m", 2 * MIN_ },
                { "1h30m", HOUR + 30 * MIN_ },
                { "250ms", 250000 },
                { "1.5s", 1500000 },
                { "30", 30 * SEC }, /* bare integer = seconds */
                { "0", 0 },
                { "0s", 0 },
                { "1us", 1 },
                { "1h", HOUR },
                { "1h2m3s4ms5us", HOUR + 2 * MIN_ + 3 * SEC + 4000 + 5 },
                { "1.5h", HOUR + 30 * MIN_ },
                { "0.5m", 30 * SEC },
                { "0.001s", 1000 },
                { "0.000001s", 1 },
                { "1.0000009s", SEC }, /* only 6 fractional digits count */
                { "1.25ms", 1250 },
                { "2s2s", 4 * SEC }, /* Go accepts repeated units too */
                { "90m", 90 * MIN_ },
                { "007s", 7 * SEC },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t v = SENTINEL;
                int r = parse_duration_usec(ok[i].s, UINT64_MAX, &v);
                ck_assert_msg(r == 0, "'%s': %d", ok[i].s, r);
                ck_assert_msg(v == ok[i].usec, "'%s' = %" PRIu64 ", want %" PRIu64, ok[i].s, v,
                              ok[i].usec);
        }
}
END_TEST

START_TEST(test_duration_junk)
{
        static const char *const bad[] = {
                "",    "s",   "ms",  "1x",  "1S",   "1M",    "1H",   "1sec",  "1 s", " 1s",
                "1s ", "-1s", "+1s", "1.s", ".5s",  "1..5s", "1.5",  "1h30",  "1m1", "1sms",
                "h1",  "1d",  "1w",  "1ns", "1e3s", "1,5s",  "1s\n", "0x10s", "1µs",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = SENTINEL;
                int r = parse_duration_usec(bad[i], UINT64_MAX, &v);
                ck_assert_msg(r == -EINVAL, "'%s': %d", bad[i], r);
                ck_assert_uint_eq(v, SENTINEL);
        }
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_duration_usec(NULL, UINT64_MAX, &v), -EINVAL);
}
END_TEST

START_TEST(test_duration_overflow)
{
        static const char *const big[] = {
                "18446744073709551615", /* bare seconds: * 10^6 overflows */
                "18446744073709551616", /* does not even fit as a number */
                "18446744073709551616s",
                "18446744073709551616us",
                "5124095577h",            /* 5124095577 * 3.6e9 > UINT64_MAX */
                "5124095576h5124095576h", /* each fits, the sum does not */
                "18446744073709551615us1us",
                "18446744073709551615.5us", /* not an overflow: see below */
        };
        for (size_t i = 0; i < sizeof(big) / sizeof(big[0]) - 1; i++) {
                uint64_t v = SENTINEL;
                int r = parse_duration_usec(big[i], UINT64_MAX, &v);
                ck_assert_msg(r == -ERANGE, "'%s': %d", big[i], r);
                ck_assert_uint_eq(v, SENTINEL);
        }
        /* At the boundary: the largest whole values that still fit. */
        uint64_t v = 0;
        ck_assert_int_eq(parse_duration_usec("18446744073709551615us", UINT64_MAX, &v), 0);
        ck_assert_uint_eq(v, UINT64_MAX);
        ck_assert_int_eq(parse_duration_usec("5124095576h", UINT64_MAX, &v), 0);
        ck_assert_uint_eq(v, 5124095576ULL * HOUR);
        ck_assert_int_eq(parse_duration_usec("18446744073709s", UINT64_MAX, &v), 0);
        ck_assert_uint_eq(v, 18446744073709ULL * SEC);
        ck_assert_int_eq(parse_duration_usec("18446744073710s", UINT64_MAX, &v), -ERANGE);
        /* a fraction below 1us adds nothing, so it cannot overflow either */
        ck_assert_int_eq(parse_duration_usec(big[7], UINT64_MAX, &v), 0);
        ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_duration_max)
{
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_duration_usec("10s", 10 * SEC - 1, &v), -ERANGE);
        ck_assert_int_eq(parse_duration_usec("10", 10 * SEC - 1, &v), -ERANGE);
        ck_assert_int_eq(parse_duration_usec("1h", 59 * MIN_, &v), -ERANGE);
        ck_assert_int_eq(parse_duration_usec("1us", 0, &v), -ERANGE);
        ck_assert_uint_eq(v, SENTINEL);
        ck_assert_int_eq(parse_duration_usec("10s", 10 * SEC, &v), 0);
        ck_assert_uint_eq(v, 10 * SEC);
        ck_assert_int_eq(parse_duration_usec("10", 10 * SEC, &v), 0);
        ck_assert_uint_eq(v, 10 * SEC);
        ck_assert_int_eq(parse_duration_usec("0", 0, &v), 0);
        ck_assert_uint_eq(v, 0);
}
END_TEST

/* ---- parse_size ---- */

START_TEST(test_size_ok)
{
        static const struct {
                const char *s;
                uint64_t v;
        } ok[] = {
                { "0", 0 },
                { "4096", 4096 },
                { "64Ki", 64 * 1024 },
                { "16Mi", 16ULL << 20 },
                { "1Gi", 1ULL << 30 },
                { "1Ti", 1ULL << 40 },
                { "10k", 10000 },
                { "10K", 10000 },
                { "10M", 10000000 },
                { "1G", 1000000000 },
                { "2T", 2000000000000ULL },
                { "0Gi", 0 },
                { "18446744073709551615", UINT64_MAX },
                { "16777215Ti", 16777215ULL << 40 },
                { "17179869183Gi", 17179869183ULL << 30 },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t v = SENTINEL;
                ck_assert_msg(parse_size(ok[i].s, UINT64_MAX, &v) == 0, "'%s'", ok[i].s);
                ck_assert_msg(v == ok[i].v, "'%s' = %" PRIu64, ok[i].s, v);
        }
}
END_TEST

START_TEST(test_size_bad)
{
        static const struct {
                const char *s;
                int r;
        } bad[] = {
                { "", -EINVAL },
                { "Ki", -EINVAL },
                { "1KiB", -EINVAL },
                { "1 Ki", -EINVAL },
                { "1ki", -EINVAL },
                { "1KI", -EINVAL },
                { "1m", -EINVAL },
                { "1g", -EINVAL },
                { "1.5Gi", -EINVAL },
                { "-1", -EINVAL },
                { "+1", -EINVAL },
                { " 1", -EINVAL },
                { "1 ", -EINVAL },
                { "1B", -EINVAL },
                { "1Kii", -EINVAL },
                { "1E", -EINVAL },
                { "1Pi", -EINVAL },
                { "0x10", -EINVAL },
                { "16777216Ti", -ERANGE }, /* exactly 2^64 */
                { "17179869184Gi", -ERANGE },
                { "18446744073709551616", -ERANGE },
                { "18446744073709552K", -ERANGE },
                { "99999999999999999999Ki", -ERANGE },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = SENTINEL;
                int r = parse_size(bad[i].s, UINT64_MAX, &v);
                ck_assert_msg(r == bad[i].r, "'%s': %d, want %d", bad[i].s, r, bad[i].r);
                ck_assert_uint_eq(v, SENTINEL);
        }
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_size(NULL, UINT64_MAX, &v), -EINVAL);
}
END_TEST

START_TEST(test_size_max)
{
        uint64_t v = SENTINEL;
        ck_assert_int_eq(parse_size("1Ki", 1023, &v), -ERANGE);
        ck_assert_int_eq(parse_size("1025", 1024, &v), -ERANGE);
        ck_assert_uint_eq(v, SENTINEL);
        ck_assert_int_eq(parse_size("1Ki", 1024, &v), 0);
        ck_assert_uint_eq(v, 1024);
        ck_assert_int_eq(parse_size("1024", 1024, &v), 0);
        ck_assert_uint_eq(v, 1024);
}
END_TEST

/* ---- parse_mode ---- */

START_TEST(test_mode)
{
        static const struct {
                const char *s;
                unsigned v;
        } ok[] = {
                { "0440", 0440 },   { "440", 0440 },  { "0", 0 },     { "7777", 07777 },
                { "07777", 07777 }, { "0600", 0600 }, { "00000", 0 }, { "644", 0644 },
        };
        static const struct {
                const char *s;
                int r;
        } bad[] = {
                { "", -EINVAL },          { "8", -EINVAL },     { "0448", -EINVAL },
                { "-1", -EINVAL },        { "+644", -EINVAL },  { "0o644", -EINVAL },
                { "0x1a", -EINVAL },      { "644 ", -EINVAL },  { " 644", -EINVAL },
                { "077777", -EINVAL }, /* more than 5 digits */
                { "17777", -ERANGE },     { "77777", -ERANGE }, { "10000", -ERANGE },
                { "rw-r--r--", -EINVAL },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                unsigned v = 0xffff;
                ck_assert_msg(parse_mode(ok[i].s, &v) == 0, "'%s'", ok[i].s);
                ck_assert_uint_eq(v, ok[i].v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                unsigned v = 0xffff;
                int r = parse_mode(bad[i].s, &v);
                ck_assert_msg(r == bad[i].r, "'%s': %d, want %d", bad[i].s, r, bad[i].r);
                ck_assert_uint_eq(v, 0xffff);
        }
        unsigned v = 0xffff;
        ck_assert_int_eq(parse_mode(NULL, &v), -EINVAL);
}
END_TEST

/* ---- format_duration ---- */

START_TEST(test_format_duration)
{
        static const struct {
                uint64_t usec;
                const char *s;
        } cases[] = {
                { 0, "0s" },
                { 1, "1us" },
                { 999, "999us" },
                { 1000, "1ms" },
                { 250000, "250ms" },
                { SEC, "1s" },
                { 1500000, "1s500ms" },
                { 90 * SEC, "1m30s" },
                { 2 * MIN_, "2m" },
                { HOUR + 30 * MIN_, "1h30m" },
                { HOUR + 2 * MIN_ + 3 * SEC + 4000, "1h2m3s4ms" },
                { 100 * HOUR, "100h" },
                { 20 * SEC, "20s" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[32];
                ck_assert_str_eq(format_duration(cases[i].usec, buf, sizeof(buf)), cases[i].s);
        }
}
END_TEST

static void check_round_trip(uint64_t usec) {
        char buf[32];
        uint64_t back = SENTINEL;
        const char *s = format_duration(usec, buf, sizeof(buf));
        ck_assert_ptr_eq(s, buf);
        ck_assert_msg(parse_duration_usec(s, UINT64_MAX, &back) == 0, "'%s' does not parse", s);
        ck_assert_msg(back == usec, "%" PRIu64 " -> '%s' -> %" PRIu64, usec, s, back);
}

START_TEST(test_format_round_trip)
{
        /* Every whole-millisecond value and every value below 1ms round-trips. */
        uint64_t x = 88172645463325252ULL;
        for (uint64_t u = 0; u < 1000; u++)
                check_round_trip(u);
        for (int i = 0; i < 20000; i++) {
                /* xorshift64: deterministic spread over many magnitudes */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint64_t ms = x >> (i % 40 + 24);
                check_round_trip(ms * 1000);
        }
        check_round_trip(UINT64_MAX / 1000 * 1000);
        check_round_trip(366ULL * 24 * HOUR);
}
END_TEST

START_TEST(test_format_largest)
{
        char buf[32];
        /* UINT64_MAX usec = 5124095576h 1m 49s 551ms 615us: fits the documented
         * 32-byte buffer (the microseconds are dropped next to larger units). */
        const char *s = format_duration(UINT64_MAX, buf, sizeof(buf));
        ck_assert_str_eq(s, "5124095576h1m49s551ms");
}
END_TEST

START_TEST(test_format_small_buffer)
{
        char buf[16];
        for (size_t len = 0; len < 8; len++) {
                memset(buf, 'Z', sizeof(buf));
                format_duration(HOUR + 2 * MIN_ + 3 * SEC + 4000, buf, len);
                /* nothing written past len, and NUL-terminated within it */
                for (size_t k = len; k < sizeof(buf); k++)
                        ck_assert_msg(buf[k] == 'Z', "len %zu: byte %zu written", len, k);
                if (len > 0)
                        ck_assert(memchr(buf, '\0', len) != NULL);
        }
        memset(buf, 'Z', sizeof(buf));
        format_duration(HOUR + 2 * MIN_ + 3 * SEC + 4000, buf, 4);
        ck_assert_str_eq(buf, "1h2");
}
END_TEST

/* issue 11: metrics-address */
START_TEST(test_host_port)
{
        char host[64];
        uint16_t port = 0;

        ck_assert_int_eq(parse_host_port("127.0.0.1:9810", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "127.0.0.1");
        ck_assert_uint_eq(port, 9810);
        ck_assert_int_eq(parse_host_port("[::1]:0", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "::1");
        ck_assert_uint_eq(port, 0);
        ck_assert_int_eq(parse_host_port(":9810", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "");
        ck_assert_int_eq(parse_host_port("node-1.example:65535", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "node-1.example");
        ck_assert_uint_eq(port, 65535);
        port = 7;
        ck_assert_int_eq(parse_host_port("127.0.0.1", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("127.0.0.1:", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("127.0.0.1:65536", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("127.0.0.1:-1", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("::1:9810", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("[::1]9810", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("a b:1", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port(NULL, host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(parse_host_port("abcdefgh:1", host, 8, &port), -EINVAL); /* too long */
        ck_assert_uint_eq(port, 7);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("parse");
        TCase *tc;

        tc = tcase_create("uint64");
        tcase_add_test(tc, test_uint64_ok);
        tcase_add_test(tc, test_uint64_syntax);
        tcase_add_test(tc, test_uint64_overflow);
        tcase_add_test(tc, test_uint64_range);
        suite_add_tcase(s, tc);

        tc = tcase_create("int64");
        tcase_add_test(tc, test_int64_ok);
        tcase_add_test(tc, test_int64_bad);
        tcase_add_test(tc, test_int64_range);
        suite_add_tcase(s, tc);

        tc = tcase_create("unsigned");
        tcase_add_test(tc, test_unsigned);
        suite_add_tcase(s, tc);

        tc = tcase_create("bool");
        tcase_add_test(tc, test_bool);
        suite_add_tcase(s, tc);

        tc = tcase_create("duration");
        tcase_add_test(tc, test_duration_ok);
        tcase_add_test(tc, test_duration_junk);
        tcase_add_test(tc, test_duration_overflow);
        tcase_add_test(tc, test_duration_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("size");
        tcase_add_test(tc, test_size_ok);
        tcase_add_test(tc, test_size_bad);
        tcase_add_test(tc, test_size_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("mode");
        tcase_add_test(tc, test_mode);
        suite_add_tcase(s, tc);

        tc = tcase_create("format_duration");
        tcase_add_test(tc, test_format_duration);
        tcase_add_test(tc, test_format_round_trip);
        tcase_add_test(tc, test_format_largest);
        tcase_add_test(tc, test_format_small_buffer);
        tcase_add_test(tc, test_host_port);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
