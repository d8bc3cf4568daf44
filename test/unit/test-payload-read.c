/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-payload-read.c - an object's files read back from a payload that
 * atomic_writer_write() laid out: one file, an expanded object's directory
 * (and a missing one), a file over the bound, a missing object.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic-writer.h"
#include "payload-read.h"
#include "macro.h"

#include <check.h>

#include "testutil.h"

static char dir[] = "/tmp/vm-payload-read-XXXXXX";
static int root_fd = -1;

static void setup(void) {
        static const PayloadFile files[] = {
                { "plain", (const uint8_t *)"one", 3, 0444 },
                { "exp/a", (const uint8_t *)"alpha", 5, 0444 },
                { "exp/b", (const uint8_t *)"beta", 4, 0444 },
                { "big", (const uint8_t *)"0123456789", 10, 0444 },
        };
        char err[256];

        memcpy(dir, "/tmp/vm-payload-read-XXXXXX", sizeof(dir));
        ck_assert_ptr_nonnull(mkdtemp(dir));
        root_fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(root_fd, 0);
        ck_assert_msg(atomic_writer_write(root_fd, files, ELEMENTSOF(files), (gid_t)-1, 0, err,
                                          sizeof(err)) == 0,
                      "%s", err);
}

static void teardown(void) {
        ck_assert_int_eq(atomic_writer_clear(root_fd), 0);
        close(root_fd);
        ck_assert_int_eq(rmdir(dir), 0);
}

static const char *file_text(const ObjectValue *v, size_t i) {
        static char buf[64];
        size_t n = 0;
        const uint8_t *p = secret_get(v->files[i].data, &n);

        ck_assert_uint_lt(n, sizeof(buf));
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
}

START_TEST(test_one_file)
{
        char name[] = "plain";
        SecretObject o = { .name = name };
        ObjectValue v;

        ck_assert_int_eq(payload_read_object(root_fd, &o, 64, &v), 0);
        ck_assert_uint_eq(v.n, 1);
        ck_assert_str_eq(v.files[0].name, "plain");
        ck_assert_str_eq(file_text(&v, 0), "one");
        object_value_done(&v);
}
END_TEST

START_TEST(test_expanded_directory)
{
        char name[] = "exp", gone[] = "gone";
        SecretObject o = { .name = name, .expand = true };
        ObjectValue v;
        bool seen_a = false, seen_b = false;

        ck_assert_int_eq(payload_read_object(root_fd, &o, 64, &v), 0);
        ck_assert_uint_eq(v.n, 2);
        for (size_t i = 0; i < v.n; i++) {
                if (streq(v.files[i].name, "exp/a")) {
                        ck_assert_str_eq(file_text(&v, i), "alpha");
                        seen_a = true;
                } else {
                        ck_assert_str_eq(v.files[i].name, "exp/b");
                        ck_assert_str_eq(file_text(&v, i), "beta");
                        seen_b = true;
                }
        }
        ck_assert(seen_a && seen_b);
        object_value_done(&v);

        /* an expanded object whose last render had no keys: no directory */
        o.name = gone;
        ck_assert_int_eq(payload_read_object(root_fd, &o, 64, &v), 0);
        ck_assert_uint_eq(v.n, 0);
        object_value_done(&v);
}
END_TEST

START_TEST(test_bounds_and_missing)
{
        char name[] = "big", missing[] = "missing";
        SecretObject o = { .name = name };
        ObjectValue v;

        /* max + 1 bytes are read whole, for the caller's own size check */
        ck_assert_int_eq(payload_read_object(root_fd, &o, 9, &v), 0);
        ck_assert_str_eq(file_text(&v, 0), "0123456789");
        object_value_done(&v);
        ck_assert_int_eq(payload_read_object(root_fd, &o, 8, &v), -E2BIG);
        ck_assert_uint_eq(v.n, 0);
        ck_assert_ptr_null(v.files);
        o.name = missing;
        ck_assert_int_eq(payload_read_object(root_fd, &o, 64, &v), -ENOENT);
        ck_assert_uint_eq(v.n, 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("payload-read");
        TCase *tc = tcase_create("read");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_one_file);
        tcase_add_test(tc, test_expanded_directory);
        tcase_add_test(tc, test_bounds_and_missing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
