/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-secret.c - Secret: bounded growth, the NUL after the bytes, wiping,
 * constant-time comparison, and the page protections (guard page,
 * MADV_DONTDUMP and mlock as the kernel reports them in /proc/self/smaps).
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"

START_TEST(test_new_append_get) {
        Secret *s = NULL;
        const uint8_t *p;
        size_t n = 99;

        ck_assert_int_eq(secret_new(&s, 64), 0);
        p = secret_get(s, &n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(n, 0);
        ck_assert_uint_eq(p[0], 0);
        ck_assert_int_eq(secret_append(s, "abc", 3), 0);
        ck_assert_int_eq(secret_append_str(s, "def"), 0);
        p = secret_get(s, &n);
        ck_assert_uint_eq(n, 6);
        ck_assert_mem_eq(p, "abcdef", 6);
        ck_assert_uint_eq(p[6], 0); /* the NUL the http module relies on */
        ck_assert_uint_eq(secret_size(s), 6);
        ck_assert_uint_eq(secret_max(s), 64);
        ck_assert_int_eq(secret_append(s, NULL, 0), 0);
        ck_assert_int_eq(secret_append(s, NULL, 1), -EINVAL);
        ck_assert_ptr_null(secret_free(s));
        ck_assert_ptr_null(secret_free(NULL));
}
END_TEST

START_TEST(test_bound) {
        Secret *s = NULL;
        char big[100];
        size_t n;

        memset(big, 'x', sizeof(big));
        ck_assert_int_eq(secret_new(&s, 10), 0);
        ck_assert_int_eq(secret_append(s, big, 10), 0);
        ck_assert_int_eq(secret_append(s, big, 1), -E2BIG);
        /* the content survives a refused append */
        ck_assert_uint_eq(secret_size(s), 10);
        ck_assert_mem_eq(secret_get(s, &n), big, 10);
        secret_free(s);

        ck_assert_int_eq(secret_new(&s, 0), 0);
        ck_assert_uint_eq(secret_max(s), SECRET_SIZE_MAX);
        secret_free(s);
}
END_TEST

START_TEST(test_growth_keeps_content) {
        Secret *s = NULL;
        size_t total = 0, n;
        const uint8_t *p;
        long ps = sysconf(_SC_PAGESIZE);

        ck_assert_int_eq(secret_new(&s, 0), 0);
        /* Grow across several page boundaries with an odd-sized pattern. */
        for (int i = 0; i < 2000; i++) {
                uint8_t chunk[37];
                for (size_t j = 0; j < sizeof(chunk); j++)
                        chunk[j] = (uint8_t)(total + j);
                ck_assert_int_eq(secret_append(s, chunk, sizeof(chunk)), 0);
                total += sizeof(chunk);
        }
        ck_assert_uint_gt(total, (size_t)ps * 10);
        p = secret_get(s, &n);
        ck_assert_uint_eq(n, total);
        for (size_t i = 0; i < total; i++)
                ck_assert_uint_eq(p[i], (uint8_t)i);
        ck_assert_uint_eq(p[total], 0);
        secret_free(s);
}
END_TEST

START_TEST(test_new_from_dup_equal) {
        Secret *a = NULL, *b = NULL, *c = NULL, *e = NULL;

        ck_assert_int_eq(secret_new_from(&a, "hvs.token", 9), 0);
        ck_assert_int_eq(secret_dup(a, &b), 0);
        ck_assert_int_eq(secret_new_from(&c, "hvs.tokeN", 9), 0);
        ck_assert(secret_equal(a, b));
        ck_assert(!secret_equal(a, c));
        ck_assert(secret_equal_bytes(a, "hvs.token", 9));
        ck_assert(!secret_equal_bytes(a, "hvs.toke", 8));
        ck_assert(!secret_equal_bytes(a, "hvs.token!", 10));
        ck_assert_int_eq(secret_new(&e, 0), 0);
        ck_assert(secret_equal_bytes(e, "", 0));
        ck_assert(!secret_equal(a, e));
        ck_assert_int_eq(secret_new_from(NULL, "x", 1), -EINVAL);
        secret_free(a);
        secret_free(b);
        secret_free(c);
        secret_free(e);
}
END_TEST

START_TEST(test_clear_wipes) {
        Secret *s = NULL;
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new_from(&s, "PLANTED-canary", 14), 0);
        p = secret_get(s, &n);
        secret_clear(s);
        ck_assert_uint_eq(secret_size(s), 0);
        /* The same pages are kept: the old bytes must be gone. */
        for (size_t i = 0; i < 14; i++)
                ck_assert_uint_eq(p[i], 0);
        ck_assert_int_eq(secret_append(s, "x", 1), 0);
        secret_free(s);
}
END_TEST

START_TEST(test_wipe_helpers) {
        char buf[16];
        char *heap;

        memset(buf, 'A', sizeof(buf));
        secret_wipe(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
                ck_assert_int_eq(buf[i], 0);
        secret_wipe(NULL, 5);
        heap = strdup("PLANTED-heap-copy");
        ck_assert_ptr_nonnull(heap);
        secret_erase_and_free(heap); /* must not crash; ASan checks the free */
        secret_erase_and_free(NULL);
}
END_TEST

/* Reads the VmFlags of the mapping that contains p from /proc/self/smaps. */
static int vm_flags(const void *p, char *flags, size_t len) {
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        int in = 0, found = -1;
        uintptr_t a = (uintptr_t)p;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
                        in = a >= lo && a < hi;
                        continue;
                }
                if (in && strncmp(line, "VmFlags:", 8) == 0) {
                        snprintf(flags, len, "%.200s", line + 8);
                        found = 0;
                        break;
                }
        }
        fclose(f);
        return found;
}

START_TEST(test_dontdump_and_mlock) {
        Secret *s = NULL;
        char flags[256];
        const uint8_t *p;

        ck_assert_int_eq(secret_new_from(&s, "PLANTED", 7), 0);
        p = secret_get(s, NULL);
        ck_assert_int_eq(vm_flags(p, flags, sizeof(flags)), 0);
        ck_assert_msg(strstr(flags, " dd"), "MADV_DONTDUMP missing: %s", flags);
#if !defined(__SANITIZE_ADDRESS__)
        /* (ASan's mlock() interceptor does nothing and reports success.) */
        if (!secret_mlock_failed())
                ck_assert_msg(strstr(flags, " lo"), "mlock missing: %s", flags);
#endif
        secret_free(s);
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
START_TEST(test_guard_page) {
        Secret *s = NULL;
        volatile uint8_t *p;
        long ps = sysconf(_SC_PAGESIZE);

        ck_assert_int_eq(secret_new_from(&s, "x", 1), 0);
        p = (volatile uint8_t *)secret_get(s, NULL);
        p[ps - 1] = 1; /* last usable byte */
        p[ps] = 1;     /* guard page: must fault */
        secret_free(s);
}
END_TEST
#endif

static Suite *secret_suite(void) {
        Suite *s = suite_create("secret");
        TCase *tc = tcase_create("buffer");
        tcase_add_test(tc, test_new_append_get);
        tcase_add_test(tc, test_bound);
        tcase_add_test(tc, test_growth_keeps_content);
        tcase_add_test(tc, test_new_from_dup_equal);
        tcase_add_test(tc, test_clear_wipes);
        tcase_add_test(tc, test_wipe_helpers);
        suite_add_tcase(s, tc);

        tc = tcase_create("pages");
        tcase_add_test(tc, test_dontdump_and_mlock);
#if !defined(__SANITIZE_ADDRESS__)
        /* ASan turns SIGSEGV into its own report and exit code, and without
         * fork (valgrind setup) the fault would end the whole runner. */
        if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no") != 0)
                tcase_add_test_raise_signal(tc, test_guard_page, SIGSEGV);
#endif
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(secret_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
