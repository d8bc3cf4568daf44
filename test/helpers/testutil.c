/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.c - helpers shared by the Check unit tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int testutil_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

size_t testutil_hex(const char *hex, uint8_t *out, size_t max) {
        size_t n = 0;
        int hi = -1;
        for (const char *p = hex; *p; p++) {
                int v = hexval(*p);
                if (v < 0)
                        continue;
                if (hi < 0)
                        hi = v;
                else {
                        if (n < max)
                                out[n] = (uint8_t)(hi << 4 | v);
                        n++;
                        hi = -1;
                }
        }
        return n;
}

const char *testutil_tohex(const uint8_t *p, size_t n) {
        static _Thread_local char buf[4096];
        size_t off = 0;
        for (size_t i = 0; i < n && off + 4 < sizeof(buf); i++)
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%02x ", p[i]);
        buf[off] = '\0';
        return buf;
}
