/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.c - UTF-8 decoding (RFC 3629).
 */
#include "utf8.h"

size_t utf8_next(const uint8_t *p, size_t n, uint32_t *ret) {
        uint32_t cp, min;
        size_t len;

        if (p[0] < 0x80) {
                *ret = p[0];
                return 1;
        }
        if ((p[0] & 0xe0) == 0xc0) {
                len = 2, cp = p[0] & 0x1f, min = 0x80;
        } else if ((p[0] & 0xf0) == 0xe0) {
                len = 3, cp = p[0] & 0x0f, min = 0x800;
        } else if ((p[0] & 0xf8) == 0xf0) {
                len = 4, cp = p[0] & 0x07, min = 0x10000;
        } else
                return 0;
        if (len > n)
                return 0;
        /* a continuation byte is never NUL: a NUL-terminated string is not
         * read past its end even when n over-states it */
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret = cp;
        return len;
}

bool utf8_valid(const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *)s;
        uint32_t cp;

        for (size_t i = 0; i < n;) {
                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                size_t k = utf8_next(p + i, n - i, &cp);
                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}
