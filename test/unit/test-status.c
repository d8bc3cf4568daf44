/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-status.c - CsiStatus: code names, final/non-final codes (csi-facts
 * 3.4), the errno mapping, first-wins, one-line messages, truncation.
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

#include <check.h>

#include "testutil.h"

/* The canonical names from csi-facts 1.6, indexed by code. */
static const char *const expected_names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
};

/* ---- names ---- */

START_TEST(test_code_values)
{
        /* The enum must equal grpc_status_code numerically (csi-facts 1.6). */
        ck_assert_int_eq(CSI_OK, 0);
        ck_assert_int_eq(CSI_CANCELLED, 1);
        ck_assert_int_eq(CSI_UNKNOWN, 2);
        ck_assert_int_eq(CSI_INVALID_ARGUMENT, 3);
        ck_assert_int_eq(CSI_DEADLINE_EXCEEDED, 4);
        ck_assert_int_eq(CSI_NOT_FOUND, 5);
        ck_assert_int_eq(CSI_ALREADY_EXISTS, 6);
        ck_assert_int_eq(CSI_PERMISSION_DENIED, 7);
        ck_assert_int_eq(CSI_RESOURCE_EXHAUSTED, 8);
        ck_assert_int_eq(CSI_FAILED_PRECONDITION, 9);
        ck_assert_int_eq(CSI_ABORTED, 10);
        ck_assert_int_eq(CSI_OUT_OF_RANGE, 11);
        ck_assert_int_eq(CSI_UNIMPLEMENTED, 12);
        ck_assert_int_eq(CSI_INTERNAL, 13);
        ck_assert_int_eq(CSI_UNAVAILABLE, 14);
        ck_assert_int_eq(CSI_DATA_LOSS, 15);
        ck_assert_int_eq(CSI_UNAUTHENTICATED, 16);
        ck_assert_int_eq(_CSI_CODE_MAX, 17);
}
END_TEST

START_TEST(test_code_names)
{
        for (int c = 0; c < _CSI_CODE_MAX; c++)
                ck_assert_str_eq(csi_code_to_string((CsiCode)c), expected_names[c]);
}
END_TEST

START_TEST(test_code_names_unknown)
{
        const int bad[] = { 17, 99, -1, 1000000 };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *s = csi_code_to_string((CsiCode)bad[i]);
                ck_assert_ptr_nonnull(s);
                /* "CODE_<something>", and never mistaken for a real code */
                ck_assert_msg(strncmp(s, "CODE_", 5) == 0, "code %d named '%s'", bad[i], s);
                for (int c = 0; c < _CSI_CODE_MAX; c++)
                        ck_assert_str_ne(s, expected_names[c]);
        }
}
END_TEST

/* ---- final / non-final ---- */

START_TEST(test_is_final)
{
        for (int c = 0; c < _CSI_CODE_MAX; c++) {
                bool nonfinal = c == CSI_CANCELLED || c == CSI_DEADLINE_EXCEEDED ||
                                c == CSI_UNAVAILABLE || c == CSI_RESOURCE_EXHAUSTED ||
                                c == CSI_ABORTED;
                ck_assert_msg(csi_code_is_final((CsiCode)c) == !nonfinal, "%s: final=%d",
                              expected_names[c], csi_code_is_final((CsiCode)c));
        }
}
END_TEST

/* ---- errno mapping ---- */

static const struct {
        int err;
        CsiCode code;
} errno_table[] = {
        { 0, CSI_OK },
        { ENOMEM, CSI_RESOURCE_EXHAUSTED },
        { ENOSPC, CSI_RESOURCE_EXHAUSTED },
        { EMFILE, CSI_RESOURCE_EXHAUSTED },
        { ENFILE, CSI_RESOURCE_EXHAUSTED },
        { E2BIG, CSI_RESOURCE_EXHAUSTED },
        { EDQUOT, CSI_RESOURCE_EXHAUSTED },
        { EINVAL, CSI_INVALID_ARGUMENT },
        { ENOENT, CSI_NOT_FOUND },
        { EEXIST, CSI_ALREADY_EXISTS },
        { EACCES, CSI_PERMISSION_DENIED },
        { EPERM, CSI_PERMISSION_DENIED },
        { EBUSY, CSI_ABORTED },
        { EAGAIN, CSI_ABORTED },
        { ETIMEDOUT, CSI_UNAVAILABLE },
        { ECONNREFUSED, CSI_UNAVAILABLE },
        { ECONNRESET, CSI_UNAVAILABLE },
        { EHOSTUNREACH, CSI_UNAVAILABLE },
        { ENETUNREACH, CSI_UNAVAILABLE },
        { ENETDOWN, CSI_UNAVAILABLE },
        { EPIPE, CSI_UNAVAILABLE },
        { ENOSYS, CSI_UNIMPLEMENTED },
        { EOPNOTSUPP, CSI_UNIMPLEMENTED },
        /* everything else is INTERNAL */
        { EIO, CSI_INTERNAL },
        { EBADF, CSI_INTERNAL },
        { ELOOP, CSI_INTERNAL },
        { EILSEQ, CSI_INTERNAL },
        { 4095, CSI_INTERNAL },
};

START_TEST(test_errno_negative)
{
        for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++)
                ck_assert_msg(csi_code_from_errno(-errno_table[i].err) == errno_table[i].code,
                              "-%d (%s) -> %s, want %s", errno_table[i].err,
                              strerror(errno_table[i].err),
                              csi_code_to_string(csi_code_from_errno(-errno_table[i].err)),
                              csi_code_to_string(errno_table[i].code));
}
END_TEST

START_TEST(test_errno_positive)
{
        /* A positive errno maps the same way (callers pass either). */
        for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++)
                ck_assert_int_eq(csi_code_from_errno(errno_table[i].err), errno_table[i].code);
}
END_TEST

/* ---- csi_status_set ---- */

START_TEST(test_init)
{
        CsiStatus st = CSI_STATUS_INIT;
        ck_assert(!st.set);
        ck_assert_int_eq(st.code, CSI_OK);
        ck_assert_str_eq(st.message, "");
}
END_TEST

START_TEST(test_set_formats)
{
        CsiStatus st = CSI_STATUS_INIT;
        csi_status_set(&st, CSI_NOT_FOUND, "volume '%s' has %d files", "v1", 3);
        ck_assert(st.set);
        ck_assert_int_eq(st.code, CSI_NOT_FOUND);
        ck_assert_str_eq(st.message, "volume 'v1' has 3 files");
}
END_TEST

START_TEST(test_first_wins)
{
        CsiStatus st = CSI_STATUS_INIT;
        csi_status_set(&st, CSI_PERMISSION_DENIED, "root cause");
        csi_status_set(&st, CSI_INTERNAL, "cleanup failed");
        csi_status_set(&st, CSI_OK, "%s", "");
        ck_assert_int_eq(st.code, CSI_PERMISSION_DENIED);
        ck_assert_str_eq(st.message, "root cause");
}
END_TEST

START_TEST(test_first_wins_ok)
{
        /* An explicit OK also counts as set: a later error does not replace it. */
        CsiStatus st = CSI_STATUS_INIT;
        csi_status_set(&st, CSI_OK, "fine");
        csi_status_set(&st, CSI_INTERNAL, "late");
        ck_assert(st.set);
        ck_assert_int_eq(st.code, CSI_OK);
        ck_assert_str_eq(st.message, "fine");
}
END_TEST

START_TEST(test_control_chars)
{
        CsiStatus st = CSI_STATUS_INIT;
        csi_status_set(&st, CSI_INVALID_ARGUMENT, "a\nb\rc\td%ce\x1b[31mf\x7fg", 1);
        ck_assert_str_eq(st.message, "a b c d e [31mf g");
        for (const char *p = st.message; *p; p++)
                ck_assert((unsigned char)*p >= 0x20 && *p != 0x7f);
}
END_TEST

START_TEST(test_utf8_kept)
{
        /* Bytes >= 0x80 are not control characters: UTF-8 survives. */
        CsiStatus st = CSI_STATUS_INIT;
        csi_status_set(&st, CSI_INVALID_ARGUMENT, "caf\xc3\xa9 \xe2\x82\xac");
        ck_assert_str_eq(st.message, "caf\xc3\xa9 \xe2\x82\xac");
}
END_TEST

START_TEST(test_truncation)
{
        CsiStatus st = CSI_STATUS_INIT;
        char big[CSI_STATUS_MESSAGE_MAX * 3];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        csi_status_set(&st, CSI_INTERNAL, "%s", big);
        ck_assert_uint_eq(strlen(st.message), CSI_STATUS_MESSAGE_MAX - 1);
        ck_assert_int_eq(st.message[CSI_STATUS_MESSAGE_MAX - 1], '\0');
        ck_assert_int_eq(st.message[0], 'x');
        ck_assert_int_eq(st.code, CSI_INTERNAL);
}
END_TEST

START_TEST(test_truncation_exact)
{
        CsiStatus st = CSI_STATUS_INIT;
        char fit[CSI_STATUS_MESSAGE_MAX];
        memset(fit, 'y', sizeof(fit) - 1);
        fit[sizeof(fit) - 1] = '\0';
        csi_status_set(&st, CSI_INTERNAL, "%s", fit);
        ck_assert_str_eq(st.message, fit);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("status");
        TCase *tc;

        tc = tcase_create("names");
        tcase_add_test(tc, test_code_values);
        tcase_add_test(tc, test_code_names);
        tcase_add_test(tc, test_code_names_unknown);
        suite_add_tcase(s, tc);

        tc = tcase_create("final");
        tcase_add_test(tc, test_is_final);
        suite_add_tcase(s, tc);

        tc = tcase_create("errno");
        tcase_add_test(tc, test_errno_negative);
        tcase_add_test(tc, test_errno_positive);
        suite_add_tcase(s, tc);

        tc = tcase_create("set");
        tcase_add_test(tc, test_init);
        tcase_add_test(tc, test_set_formats);
        tcase_add_test(tc, test_first_wins);
        tcase_add_test(tc, test_first_wins_ok);
        tcase_add_test(tc, test_control_chars);
        tcase_add_test(tc, test_utf8_kept);
        tcase_add_test(tc, test_truncation);
        tcase_add_test(tc, test_truncation_exact);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
