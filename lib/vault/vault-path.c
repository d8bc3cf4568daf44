/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-path.c - a user-supplied Vault path as the URL path of a request:
 * "/v1/" + its components percent-encoded, then its query.
 */
#include <string.h>

#include "vault.h"
#include "macro.h"

static bool path_char_safe(unsigned char c) {
        /* RFC 3986 unreserved + sub-delims + ':' '@' '/' (a path's pchar). */
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr("-._~!$&'()*+,;=:@/", c);
}

static bool query_char_safe(unsigned char c) {
        return path_char_safe(c) || c == '?' || c == '%';
}

static int put_encoded(char **o, const char *s, size_t n, bool query) {
        static const char hex[] = "0123456789ABCDEF";
        char *p = *o;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f)
                        return -EINVAL;
                if (c != 0 && (query ? query_char_safe(c) : path_char_safe(c)))
                        *p++ = (char)c;
                else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 0xf];
                }
        }
        *o = p;
        return 0;
}

/* A path's length and bytes: 1 to VAULT_PATH_MAX bytes, no control character. */
static int path_check(const char *path, size_t len, VaultError *err) {
        if (len == 0 || len > VAULT_PATH_MAX)
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                       "Vault path is empty or longer than %d bytes",
                                       VAULT_PATH_MAX);
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
                        return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                               "Vault path contains a control character");
        return 0;
}

/* Past the leading slashes and a leading "v1" component, which "/v1" replaces. */
static const char *skip_v1_prefix(const char *p, const char *end) {
        while (p < end && *p == '/')
                p++;
        if (end - p >= 2 && strncmp(p, "v1", 2) == 0 && (end - p == 2 || p[2] == '/'))
                p += 2;
        return p;
}

/* Writes each non-empty component of [@p, @end) as "/" + its encoding; '.' and '..'
 * refused. */
static int put_components(char **o, const char *p, const char *end, size_t *ret_components,
                          VaultError *err) {
        size_t components = 0;

        while (p < end) {
                const char *c = p;
                size_t n;

                while (c < end && *c != '/')
                        c++;
                n = (size_t)(c - p);
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return vault_error_set(err, VAULT_E_BAD_REQUEST, 0,
                                               "Vault path must not contain '.' or '..' "
                                               "components");
                if (n > 0) {
                        *(*o)++ = '/';
                        if (put_encoded(o, p, n, false) < 0)
                                return -EINVAL;
                        components++;
                }
                p = c < end ? c + 1 : c;
        }
        *ret_components = components;
        return 0;
}

/**
 * vault_path_normalize() - builds the URL path for a user-supplied Vault path.
 * @path: e.g. "secret/data/app?version=2" or "/v1/secret/data/app".
 * @ret: malloc'd "/v1/secret/data/app?version=2".
 * @err: filled on failure.
 *
 * Return: 0, VAULT_E_BAD_REQUEST, -ENOMEM.
 */
int vault_path_normalize(const char *path, char **ret, VaultError *err) {
        _cleanup_free_ char *out = NULL;
        const char *q, *end;
        size_t len, components = 0;
        char *o;
        int r;

        if (!path || !ret)
                return -EINVAL;
        len = strlen(path);
        r = path_check(path, len, err);
        if (r != 0)
                return r;
        q = strchr(path, '?');
        end = q ? q : path + len;

        /* Worst case every byte becomes %XX, plus "/v1". */
        out = malloc(len * 3 + 8);
        if (!out)
                return -ENOMEM;
        o = out;
        memcpy(o, "/v1", 3);
        o += 3;

        r = put_components(&o, skip_v1_prefix(path, end), end, &components, err);
        if (r != 0)
                return r;
        if (components == 0)
                return vault_error_set(err, VAULT_E_BAD_REQUEST, 0, "Vault path names no secret");
        if (q && q[1]) {
                *o++ = '?';
                if (put_encoded(&o, q + 1, strlen(q + 1), true) < 0)
                        return -EINVAL;
        }
        *o = 0;
        *ret = TAKE_PTR(out);
        return 0;
}
