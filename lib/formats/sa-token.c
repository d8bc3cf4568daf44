/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sa-token.c - the pod's service-account token from a NodePublishVolume
 * request (see sa-token.h).
 *
 * The value is parsed with the json module, whose allocator wipes every
 * string jansson frees, so the parsed tree is the only other copy of the JWT
 * we make; it is released before returning. The caller owns (and wipes) the
 * request strings. Error texts are built from the audience, the driver name,
 * key names and times only: never from the token or the raw value.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "json.h"
#include "sa-token.h"
#include "macro.h"

/* Kubelet writes about 1 KiB per audience; this allows dozens. */
#define SA_TOKENS_JSON_MAX (256U * 1024U)
/* {audience: {token, expirationTimestamp}}: two levels, one spare. */
#define SA_TOKENS_JSON_DEPTH 3U

_printf_(4, 5) static int fail(char *err, size_t errlen, int r, const char *fmt, ...) {
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                (void)vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

static const char *origin_name(SaTokenOrigin o) {
        return o == SA_TOKEN_FROM_SECRETS ? "secrets" : "volume_context";
}

static const KeyValue *find_key(const KeyValue *kv, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (kv[i].key && streq(kv[i].key, key))
                        return &kv[i];
        return NULL;
}

/* Copies a name for an error message: printable ASCII only, bounded. */
static const char *printable(const char *s, char *buf, size_t len) {
        size_t i = 0;

        for (; s && *s && i + 1 < len; s++)
                buf[i++] = (*s >= 0x20 && *s < 0x7f && *s != '\'') ? *s : '?';
        buf[i] = 0;
        if (s && *s && len > 4)
                memcpy(buf + len - 4, "...", 4);
        return buf;
}

static void format_time(int64_t t, char *buf, size_t len) {
        struct tm tm;
        time_t tt = (time_t)t;

        if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void)snprintf(buf, len, "@%" PRId64, t);
}

/*
 * How many other audiences the request carries. Their names are the
 * request's (kubelet's keys, or anything a pod spec put in volume_context),
 * so they are counted, never quoted.
 */
static void count_audiences(const JsonValue *obj, char *buf, size_t len) {
        size_t n = json_object_count(obj);

        if (n == 0)
                (void)snprintf(buf, len, "the request has no tokens");
        else
                (void)snprintf(buf, len, "the request has %s for %zu other audience%s",
                               n == 1 ? "a token" : "tokens", n, n == 1 ? "" : "s");
}

static int b64url_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/*
 * The compact JWS shape of a service-account token (RFC 7515 7.1, RFC 7519):
 * header.payload.signature in unpadded base64url, header and payload not
 * empty, and a header that decodes to a JSON object. The signature may be
 * empty (an unsecured JWT: Vault refuses it with its own words). Anything
 * else would only earn a Vault round trip and a confusing login error.
 */
static bool jwt_shaped(const char *t, size_t n) {
        size_t dots[2], nd = 0, hn;
        unsigned char first = 0, last = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        for (size_t i = 0; i < n; i++) {
                if (t[i] == '.') {
                        if (nd == 2)
                                return false;
                        dots[nd++] = i;
                } else if (b64url_value((unsigned char)t[i]) < 0)
                        return false;
        }
        if (nd != 2 || dots[0] == 0 || dots[1] == dots[0] + 1)
                return false;
        /* the header's first and last non-blank bytes must be '{' and '}' */
        hn = dots[0];
        if (hn % 4 == 1)
                return false;
        for (size_t i = 0; i < hn; i++) {
                acc = acc << 6 | (uint32_t)b64url_value((unsigned char)t[i]);
                bits += 6;
                if (bits >= 8) {
                        unsigned char c = (unsigned char)(acc >> (bits - 8));
                        bits -= 8;
                        acc &= (1U << bits) - 1;
                        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                                continue;
                        if (!first)
                                first = c;
                        last = c;
                }
        }
        return first == '{' && last == '}';
}

/* What is wrong with a token value, or NULL. */
static const char *token_problem(const char *t, size_t n) {
        if (n == 0)
                return "'token' is empty";
        if (memchr(t, 0, n))
                return "'token' contains a NUL character";
        if (!jwt_shaped(t, n))
                return "'token' is not a JWT (header.payload.signature in base64url): kubelet "
                       "writes one per tokenRequests audience";
        return NULL;
}

/* One lookup's names for its messages, and where its error message goes. */
typedef struct {
        char aud[96];
        char drv[96];
        SaTokenOrigin origin;
        char *err;
        size_t errlen;
} Lookup;

/* The request's tokens value: in secrets, else in volume_context if @policy allows. */
static int find_tokens(Lookup *l, const KeyValue *secrets, size_t n_secrets,
                       const KeyValue *volume_context, size_t n_context, TokenSource policy,
                       const char **ret) {
        const KeyValue *kv;

        kv = find_key(secrets, n_secrets, SA_TOKENS_KEY);
        l->origin = SA_TOKEN_FROM_SECRETS;
        if (!kv) {
                kv = find_key(volume_context, n_context, SA_TOKENS_KEY);
                l->origin = SA_TOKEN_FROM_VOLUME_CONTEXT;
                if (kv && policy == TOKEN_SOURCE_SECRETS_ONLY)
                        return fail(l->err, l->errlen, SA_TOKEN_E_POLICY,
                                    "the service-account token came in volume_context, but this "
                                    "node accepts it only in secrets (token-source: "
                                    "secrets-only): set serviceAccountTokenInSecrets: true in "
                                    "the CSIDriver '%s'",
                                    l->drv);
        }
        if (!kv) {
                if (policy == TOKEN_SOURCE_SECRETS_ONLY)
                        return fail(l->err, l->errlen, SA_TOKEN_E_MISSING,
                                    "no service-account token in the request (%s): set "
                                    "tokenRequests with audience '%s' and "
                                    "serviceAccountTokenInSecrets: true in the CSIDriver '%s'",
                                    SA_TOKENS_KEY, l->aud, l->drv);
                return fail(l->err, l->errlen, SA_TOKEN_E_MISSING,
                            "no service-account token in the request (%s): set tokenRequests "
                            "with audience '%s' in the CSIDriver '%s'",
                            SA_TOKENS_KEY, l->aud, l->drv);
        }
        *ret = strempty(kv->value);
        return 0;
}

/* The tokens value as a JSON object of audience -> {token, expirationTimestamp}. */
static int parse_tokens(const Lookup *l, const char *value, JsonValue **ret) {
        JsonError jerr = { 0 };
        int r;

        r = json_parse_object(value, strlen(value), SA_TOKENS_JSON_MAX, SA_TOKENS_JSON_DEPTH, ret,
                              &jerr);
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "the service-account tokens value (%s in %s) is larger than %u "
                            "bytes",
                            SA_TOKENS_KEY, origin_name(l->origin), SA_TOKENS_JSON_MAX);
        if (r == JSON_E_KIND)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "the service-account tokens value (%s in %s) is not a JSON object "
                            "of audience -> {token, expirationTimestamp}",
                            SA_TOKENS_KEY, origin_name(l->origin));
        if (r == JSON_E_TOO_DEEP)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "the service-account tokens value (%s in %s) nests deeper than "
                            "audience -> {token, expirationTimestamp}",
                            SA_TOKENS_KEY, origin_name(l->origin));
        if (r != 0)
                /* Only the position: jansson's reason may quote a byte of input. */
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "the service-account tokens value (%s in %s) is not valid JSON "
                            "(error at line %u, column %u)",
                            SA_TOKENS_KEY, origin_name(l->origin), jerr.line, jerr.column);
        return 0;
}

/* The entry for @audience: a JSON object. */
static int find_entry(const Lookup *l, const JsonValue *root, const char *audience,
                      const JsonValue **ret) {
        const JsonValue *entry;

        entry = json_object_member(root, audience);
        if (!entry) {
                char have[96];
                count_audiences(root, have, sizeof(have));
                return fail(l->err, l->errlen, SA_TOKEN_E_AUDIENCE,
                            "no service-account token for audience '%s' (%s): set "
                            "tokenRequests with audience '%s' in the CSIDriver '%s'",
                            l->aud, have, l->aud, l->drv);
        }
        if (json_value_kind(entry) != JSON_KIND_OBJECT)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): the entry is not "
                            "a JSON object {token, expirationTimestamp}",
                            l->aud, origin_name(l->origin));
        *ret = entry;
        return 0;
}

/* The entry's 'token': a JWT-shaped string. */
static int entry_token(const Lookup *l, const JsonValue *entry, const char **ret, size_t *ret_len) {
        const char *why;
        int r;

        r = json_value_string(json_object_member(entry, "token"), ret, ret_len);
        if (r == -ENOENT)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): 'token' is missing",
                            l->aud, origin_name(l->origin));
        if (r < 0)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): 'token' is not a "
                            "string",
                            l->aud, origin_name(l->origin));
        if ((why = token_problem(*ret, *ret_len)))
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): %s", l->aud,
                            origin_name(l->origin), why);
        return 0;
}

/* The entry's 'expirationTimestamp': an RFC 3339 time after @now_unix. */
static int entry_expiry(const Lookup *l, const JsonValue *entry, int64_t now_unix, int64_t *ret) {
        const char *ts;
        size_t ts_len;
        int64_t exp;
        int r;

        r = json_value_string(json_object_member(entry, "expirationTimestamp"), &ts, &ts_len);
        if (r == -ENOENT)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): "
                            "'expirationTimestamp' is missing",
                            l->aud, origin_name(l->origin));
        if (r < 0)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): "
                            "'expirationTimestamp' is not a string",
                            l->aud, origin_name(l->origin));
        if (memchr(ts, 0, ts_len) || parse_rfc3339(ts, &exp) < 0)
                return fail(l->err, l->errlen, SA_TOKEN_E_MALFORMED,
                            "service-account token for audience '%s' (in %s): "
                            "'expirationTimestamp' is not an RFC 3339 time "
                            "(YYYY-MM-DDTHH:MM:SSZ)",
                            l->aud, origin_name(l->origin));
        if (exp <= now_unix) {
                char when[40], now[40];
                format_time(exp, when, sizeof(when));
                format_time(now_unix, now, sizeof(now));
                return fail(l->err, l->errlen, SA_TOKEN_E_EXPIRED,
                            "the service-account token for audience '%s' (in %s) expired at %s "
                            "(now %s): kubelet should refresh it (requiresRepublish: true in the "
                            "CSIDriver '%s')",
                            l->aud, origin_name(l->origin), when, now, l->drv);
        }
        *ret = exp;
        return 0;
}

/**
 * sa_token_get() - the service-account token for one audience.
 * @secrets: NodePublishVolumeRequest.secrets as key/value pairs.
 * @n_secrets: number of entries in @secrets.
 * @volume_context: NodePublishVolumeRequest.volume_context.
 * @n_context: number of entries in @volume_context.
 * @policy: whether a token in volume_context is accepted (KEP-5538 fallback).
 * @audience: the audience to use ("" is kubelet's key for the apiserver's
 *            default audiences).
 * @now_unix: the current time; a token expiring at or before it is refused.
 * @driver_name: our CSI driver name, for the hints in messages.
 * @ret: filled on success; release with sa_token_done().
 * @err: a message naming what to fix, never any token bytes.
 * @errlen: size of @err.
 *
 * Return: 0, SA_TOKEN_E_MISSING, SA_TOKEN_E_POLICY, SA_TOKEN_E_MALFORMED,
 * SA_TOKEN_E_AUDIENCE, SA_TOKEN_E_EXPIRED, -EINVAL (bad arguments) or
 * -ENOMEM. No locking needed.
 */
int sa_token_get(const KeyValue *secrets, size_t n_secrets, const KeyValue *volume_context,
                 size_t n_context, TokenSource policy, const char *audience, int64_t now_unix,
                 const char *driver_name, SaToken *ret, char *err, size_t errlen) {
        _cleanup_(json_value_unrefp) JsonValue *root = NULL;
        _cleanup_(secret_freep) Secret *jwt = NULL;
        Lookup l = { .err = err, .errlen = errlen };
        const char *value = "";
        const JsonValue *entry = NULL;
        const char *token = NULL;
        size_t token_len = 0;
        int64_t exp = 0;
        int r;

        if (err && errlen > 0)
                err[0] = 0;
        if (!ret || !audience || (!secrets && n_secrets > 0) || (!volume_context && n_context > 0))
                return fail(err, errlen, -EINVAL, "service-account token: invalid arguments");
        if (strlen(audience) >= sizeof(ret->audience))
                return fail(err, errlen, -EINVAL,
                            "service-account token: audience longer than %zu bytes",
                            sizeof(ret->audience) - 1);
        printable(audience, l.aud, sizeof(l.aud));
        printable(isempty(driver_name) ? "?" : driver_name, l.drv, sizeof(l.drv));

        r = find_tokens(&l, secrets, n_secrets, volume_context, n_context, policy, &value);
        if (r != 0)
                return r;
        r = parse_tokens(&l, value, &root);
        if (r != 0)
                return r;
        r = find_entry(&l, root, audience, &entry);
        if (r != 0)
                return r;
        r = entry_token(&l, entry, &token, &token_len);
        if (r != 0)
                return r;
        r = entry_expiry(&l, entry, now_unix, &exp);
        if (r != 0)
                return r;

        r = secret_new_from(&jwt, token, token_len);
        if (r < 0)
                return r;
        /* root goes now, and jansson's copy of the JWT is wiped with it. */
        root = json_value_unref(root);

        *ret = (SaToken){ .jwt = TAKE_PTR(jwt), .expires_unix = exp, .origin = l.origin };
        memcpy(ret->audience, audience, strlen(audience) + 1);
        return 0;
}

void sa_token_done(SaToken *t) {
        if (!t)
                return;
        secret_freep(&t->jwt);
        *t = (SaToken){ 0 };
}

static bool digits(const char *s, size_t n, int *ret) {
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

static int days_in_month(int year, int month) {
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS" at the start of @s, each field in range, into @tm. */
static bool parse_date_time(const char *s, struct tm *tm) {
        int year, mon, day, hour, min, sec;

        if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
            !digits(s + 8, 2, &day) || s[10] != 'T' || !digits(s + 11, 2, &hour) || s[13] != ':' ||
            !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec))
                return false;
        if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
            min > 59 || sec > 59)
                return false;

        *tm = (struct tm){ .tm_year = year - 1900,
                           .tm_mon = mon - 1,
                           .tm_mday = day,
                           .tm_hour = hour,
                           .tm_min = min,
                           .tm_sec = sec };
        return true;
}

/* An optional ".fraction" of 1-9 digits at *@p, skipped (it is dropped). */
static bool skip_fraction(const char **p) {
        size_t n = 0;

        if (**p != '.')
                return true;
        for ((*p)++; **p >= '0' && **p <= '9'; (*p)++)
                n++;
        return n > 0 && n <= 9;
}

/* "Z", "+HH:MM" or "-HH:MM" as all of @p, into seconds east of UTC. */
static bool parse_offset(const char *p, int64_t *ret_seconds) {
        int oh, om, sign;

        if (streq(p, "Z")) {
                *ret_seconds = 0;
                return true;
        }
        if (*p != '+' && *p != '-')
                return false;
        sign = *p == '-' ? -1 : 1;
        if (strlen(p) != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
                return false;
        *ret_seconds = sign * (int64_t)(oh * 3600 + om * 60);
        return true;
}

/**
 * parse_rfc3339() - strict RFC 3339 date-time to seconds since the epoch.
 * @s: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 'T' and 'Z' upper
 *     case; the fraction (1-9 digits) is dropped; leap seconds (:60) are
 *     refused (kubelet never writes them).
 * @ret_unix: written on success only.
 *
 * Return: 0 or -EINVAL.
 */
int parse_rfc3339(const char *s, int64_t *ret_unix) {
        struct tm tm;
        const char *p;
        int64_t offset;
        time_t t;

        if (!s || !ret_unix || strlen(s) < 20)
                return -EINVAL;
        if (!parse_date_time(s, &tm))
                return -EINVAL;
        p = s + 19;
        if (!skip_fraction(&p) || !parse_offset(p, &offset))
                return -EINVAL;

        errno = 0;
        t = timegm(&tm);
        if (t == (time_t)-1 && errno != 0)
                return -EINVAL;
        /* local time = UTC + offset, so UTC = local - offset */
        *ret_unix = (int64_t)t - offset;
        return 0;
}
