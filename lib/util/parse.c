/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse.c - strict parsers for configuration and request values.
 * Never logs; thread-safe; *ret is written only on success.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "macro.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Parses leading decimal digits (at least one); returns the number of
 * characters consumed, -EINVAL (no digit first) or -ERANGE. */
static int scan_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        int n = 0;
        if (isempty(s) || !is_digit(s[0]))
                return -EINVAL;
        while (is_digit(s[n])) {
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t)(s[n] - '0'), &v))
                        return -ERANGE;
                n++;
        }
        *ret = v;
        return n;
}

int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int n;
        n = scan_u64(s, &v);
        if (n < 0)
                return n;
        if (s[n] != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        bool neg = false;
        uint64_t u;
        int64_t v;
        int r;
        if (isempty(s))
                return -EINVAL;
        if (s[0] == '-') {
                neg = true;
                s++;
        }
        r = parse_uint64(s, 0, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &u);
        if (r < 0)
                return r;
        v = neg ? (int64_t)(0 - u) : (int64_t)u;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        uint64_t v;
        int r = parse_uint64(s, min, max, &v);
        if (r < 0)
                return r;
        *ret = (unsigned)v;
        return 0;
}

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "true", "yes", "on", "1" };
        static const char *const no[] = { "false", "no", "off", "0" };
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(s, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (streq(s, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int parse_duration_usec(const char *s, uint64_t max_usec, uint64_t *ret_usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                /* longest suffix first so "ms" is not read as "m" */
                { "ms", 1000ULL },    { "us", 1ULL },      { "h", 3600000000ULL },
                { "m", 60000000ULL }, { "s", 1000000ULL },
        };
        uint64_t total = 0;

        if (isempty(s))
                return -EINVAL;
        /* A bare integer means seconds. */
        if (parse_uint64(s, 0, UINT64_MAX, &total) == 0) {
                if (__builtin_mul_overflow(total, 1000000ULL, &total) || total > max_usec)
                        return -ERANGE;
                *ret_usec = total;
                return 0;
        }
        while (*s) {
                uint64_t whole, frac = 0, frac_div = 1, part;
                int n;
                size_t i;

                if (!is_digit(*s))
                        return -EINVAL;
                n = scan_u64(s, &whole);
                if (n < 0)
                        return n;
                s += n;
                if (*s == '.') {
                        s++;
                        if (!is_digit(*s))
                                return -EINVAL;
                        /* up to 6 fractional digits are significant */
                        for (int k = 0; is_digit(*s); k++, s++)
                                if (k < 6) {
                                        frac = frac * 10 + (uint64_t)(*s - '0');
                                        frac_div *= 10;
                                }
                }
                for (i = 0; i < ELEMENTSOF(units); i++)
                        if (strncmp(s, units[i].suffix, strlen(units[i].suffix)) == 0)
                                break;
                if (i == ELEMENTSOF(units))
                        return -EINVAL;
                s += strlen(units[i].suffix);
                if (__builtin_mul_overflow(whole, units[i].usec, &part) ||
                    __builtin_add_overflow(part, frac * units[i].usec / frac_div, &part) ||
                    __builtin_add_overflow(total, part, &total))
                        return -ERANGE;
        }
        if (total > max_usec)
                return -ERANGE;
        *ret_usec = total;
        return 0;
}

int parse_size(const char *s, uint64_t max, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "Ki", 1ULL << 10 },      { "Mi", 1ULL << 20 },
                { "Gi", 1ULL << 30 },      { "Ti", 1ULL << 40 },
                { "k", 1000ULL },          { "K", 1000ULL },
                { "M", 1000000ULL },       { "G", 1000000000ULL },
                { "T", 1000000000000ULL }, { "", 1 },
        };
        uint64_t v;
        int n;

        n = scan_u64(s, &v);
        if (n < 0)
                return n;
        s += n;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (!streq(s, units[i].suffix))
                        continue;
                if (__builtin_mul_overflow(v, units[i].factor, &v) || v > max)
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        return -EINVAL;
}

int parse_mode(const char *s, unsigned *ret) {
        unsigned v = 0;
        if (isempty(s) || strlen(s) > 5)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '7')
                        return -EINVAL;
                v = v * 8 + (unsigned)(*p - '0');
        }
        if (v > 07777)
                return -ERANGE;
        *ret = v;
        return 0;
}

const char *format_duration(uint64_t usec, char *buf, size_t len) {
        uint64_t h = usec / 3600000000ULL, m = usec / 60000000ULL % 60,
                 sec = usec / 1000000ULL % 60, ms = usec / 1000ULL % 1000;
        size_t off = 0;
        int n;

        if (len == 0)
                return buf;
        buf[0] = '\0';
        if (usec == 0) {
                (void)snprintf(buf, len, "0s");
                return buf;
        }
#define PART(v, unit)                                                                              \
        if ((v) > 0 && off < len) {                                                                \
                n = snprintf(buf + off, len - off, "%llu" unit, (unsigned long long)(v));          \
                if (n > 0)                                                                         \
                        off += (size_t)n;                                                          \
        }
        PART(h, "h")
        PART(m, "m")
        PART(sec, "s")
        PART(ms, "ms")
#undef PART
        if (off == 0)
                (void)snprintf(buf, len, "%lluus", (unsigned long long)usec);
        return buf;
}

int parse_host_port(const char *s, char *host, size_t hostlen, uint16_t *ret_port) {
        const char *colon, *h = s, *hend;
        unsigned port;
        size_t n;

        if (isempty(s) || hostlen == 0)
                return -EINVAL;
        if (s[0] == '[') {
                hend = strchr(s, ']');
                if (!hend || hend[1] != ':')
                        return -EINVAL;
                h = s + 1;
                colon = hend + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || memchr(s, ':', (size_t)(colon - s)))
                        return -EINVAL; /* an IPv6 literal needs brackets */
                hend = colon;
        }
        n = (size_t)(hend - h);
        if (n >= hostlen)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char)h[i]) || h[i] == '.' || h[i] == '-' || h[i] == '_' ||
                      (s[0] == '[' && (h[i] == ':' || h[i] == '%'))))
                        return -EINVAL;
        if (parse_unsigned(colon + 1, 0, 65535, &port) < 0)
                return -EINVAL;
        memcpy(host, h, n);
        host[n] = '\0';
        *ret_port = (uint16_t)port;
        return 0;
}

int hex_digit_value(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
