/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - level filter, per-thread request context, the stderr sink, the
 * choice of target, rate limiting and token-shape scrubbing.
 *
 * The stderr sink writes one record per write(2), under a lock so that
 * records longer than PIPE_BUF do not interleave either: logfmt by default
 * (`ts=... level=info msg="..." CSI_METHOD=...`), or one JSON object per line.
 * Control characters in messages and values are escaped so a record can
 * never span lines or forge another record; a record too long for a line
 * is cut and marked TRUNCATED, still well-formed.
 *
 * Every record passes, in this order: the level filter, formatting, the
 * token-shape scrubber (message and field values), the rate limiter
 * (warning and worse only), then the sink. The scrubber is the last line of
 * defence, not the mechanism: see log.h.
 *
 * Thread-safety: the level, format and sink are atomics/guarded by a mutex;
 * the context stack is thread-local; the rate limiter's table has its own
 * mutex, never held while a sink runs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "parse.h"
#include "utf8.h"
#include "macro.h"

#define LOG_MESSAGE_MAX 4096
#define LOG_LINE_MAX    16384

static atomic_int max_level = LOG_LEVEL_INFO;
static atomic_int log_format = LOG_FORMAT_LOGFMT;
static atomic_int stderr_fd = STDERR_FILENO;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static LogSinkFn sink_fn = log_sink_stderr;
static void *sink_userdata;

static _Thread_local LogContext *current_ctx;

static const char *const level_names[] = {
        [LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
        [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        if (level < LOG_LEVEL_ERR)
                level = LOG_LEVEL_ERR;
        if (level > LOG_LEVEL_DEBUG)
                level = LOG_LEVEL_DEBUG;
        atomic_store(&max_level, level);
}

int log_get_max_level(void) {
        return atomic_load(&max_level);
}

bool log_level_enabled(int level) {
        return level <= atomic_load(&max_level);
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = LOG_LEVEL_ERR; i <= LOG_LEVEL_DEBUG; i++)
                if (streq(s, level_names[i]))
                        return i;
        if (streq(s, "err"))
                return LOG_LEVEL_ERR;
        if (streq(s, "warn"))
                return LOG_LEVEL_WARNING;
        if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG)
                return "unknown";
        return level_names[level];
}

void log_set_format(LogFormat format) {
        atomic_store(&log_format, (int)format);
}

int log_format_from_string(const char *s) {
        if (streq_ptr(s, "logfmt"))
                return LOG_FORMAT_LOGFMT;
        if (streq_ptr(s, "json"))
                return LOG_FORMAT_JSON;
        return -EINVAL;
}

void log_set_sink(LogSinkFn fn, void *userdata) {
        pthread_mutex_lock(&sink_lock);
        sink_fn = fn ? fn : log_sink_stderr;
        sink_userdata = fn ? userdata : NULL;
        pthread_mutex_unlock(&sink_lock);
}

void log_set_stderr_fd(int fd) {
        atomic_store(&stderr_fd, fd >= 0 ? fd : STDERR_FILENO);
}

void log_context_push(LogContext *ctx) {
        ctx->parent = current_ctx;
        current_ctx = ctx;
}

void log_context_pop(LogContext *ctx) {
        if (current_ctx == ctx)
                current_ctx = ctx->parent;
}

const LogContext *log_context_current(void) {
        return current_ctx;
}

/*
 * A bounded line under construction. Appends stop LINE_RESERVE bytes before
 * the end of the buffer, which keeps room for what closes a cut record (a
 * quote, the TRUNCATED marker, '}' and '\n'), so a truncated record is
 * still one well-formed logfmt or JSON line. Escape and UTF-8 sequences are
 * written whole or not at all.
 */
#define LINE_RESERVE 32

typedef struct Line {
        char buf[LOG_LINE_MAX];
        size_t len;
        bool truncated;
} Line;

static bool line_room(Line *l, size_t n) {
        if (l->truncated || l->len + n > sizeof(l->buf) - LINE_RESERVE) {
                l->truncated = true;
                return false;
        }
        return true;
}

static void line_write(Line *l, const char *s, size_t n) {
        if (line_room(l, n)) {
                memcpy(l->buf + l->len, s, n);
                l->len += n;
        }
}

/* As much of s as fits: plain bytes may be cut anywhere. */
static void line_write_cut(Line *l, const char *s, size_t n) {
        size_t room;

        if (l->truncated || l->len >= sizeof(l->buf) - LINE_RESERVE) {
                l->truncated = true;
                return;
        }
        room = sizeof(l->buf) - LINE_RESERVE - l->len;
        line_write(l, s, MIN(n, room));
        if (n > room)
                l->truncated = true;
}

static void line_putc(Line *l, char c) {
        line_write(l, &c, 1);
}

static void line_puts(Line *l, const char *s) {
        line_write(l, s, strlen(s));
}

/* Closing bytes, written into the reserve even when the line is full. */
static void line_force(Line *l, const char *s) {
        size_t n = strlen(s);
        if (l->len + n <= sizeof(l->buf) - 1) {
                memcpy(l->buf + l->len, s, n);
                l->len += n;
        }
}

/* Printable ASCII that needs no escape in either format. */
static bool plain_byte(unsigned char c) {
        return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/*
 * Escapes for both logfmt's and JSON's double-quoted strings. Bytes that are
 * not valid UTF-8 become \xHH (logfmt) or U+FFFD (JSON, which must be UTF-8).
 */
static void line_put_escaped(Line *l, const char *s, bool json) {
        static const char hex[] = "0123456789abcdef";
        for (const unsigned char *p = (const unsigned char *)s; *p && !l->truncated; p++) {
                char esc[8];
                size_t run = 0;

                /* printable ASCII, the common case, in one copy */
                while (plain_byte(p[run]))
                        run++;
                if (run > 0) {
                        line_write_cut(l, (const char *)p, run);
                        p += run - 1;
                        continue;
                }
                switch (*p) {
                case '"':
                        line_puts(l, "\\\"");
                        break;
                case '\\':
                        line_puts(l, "\\\\");
                        break;
                case '\n':
                        line_puts(l, "\\n");
                        break;
                case '\t':
                        line_puts(l, "\\t");
                        break;
                case '\r':
                        line_puts(l, "\\r");
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f) {
                                if (json)
                                        memcpy(esc, "\\u00", 4), esc[4] = hex[*p >> 4],
                                                                 esc[5] = hex[*p & 0xf];
                                else
                                        memcpy(esc, "\\x", 2), esc[2] = hex[*p >> 4],
                                                               esc[3] = hex[*p & 0xf];
                                line_write(l, esc, json ? 6 : 4);
                        } else { /* >= 0x80: plain bytes were copied above */
                                uint32_t cp;
                                /* NUL-terminated: utf8_next() stops at the NUL */
                                size_t n = utf8_next(p, 4, &cp);
                                if (n > 0) {
                                        line_write(l, (const char *)p, n);
                                        p += n - 1;
                                } else if (json)
                                        line_puts(l, "\\ufffd");
                                else {
                                        memcpy(esc, "\\x", 2), esc[2] = hex[*p >> 4],
                                                               esc[3] = hex[*p & 0xf];
                                        line_write(l, esc, 4);
                                }
                        }
                }
        }
}

static bool logfmt_needs_quotes(const char *s) {
        if (!*s)
                return true;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
                        return true;
        return false;
}

static void line_put_pair(Line *l, const char *key, const char *value, bool json) {
        size_t mark = l->len;

        /* a pair starts only with room for its key and a little of its value */
        if (!line_room(l, strlen(key) + 16))
                return;
        if (json) {
                if (l->len > 1)
                        line_putc(l, ',');
                line_putc(l, '"');
                line_put_escaped(l, key, true);
                line_puts(l, "\":\"");
                line_put_escaped(l, value, true);
                line_force(l, "\"");
                return;
        }
        if (l->len > 0)
                line_putc(l, ' ');
        line_puts(l, key);
        line_putc(l, '=');
        if (logfmt_needs_quotes(value)) {
                line_putc(l, '"');
                line_put_escaped(l, value, false);
                line_force(l, "\"");
        } else {
                size_t vstart = l->len;
                line_put_escaped(l, value, false);
                if (l->len == vstart)
                        l->len = mark; /* "KEY=" alone is not logfmt: drop the pair */
        }
}

/* Serialises whole records on the fd: a write larger than PIPE_BUF is not atomic. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void log_sink_stderr(const LogRecord *r, _unused_ void *userdata) {
        bool json = atomic_load(&log_format) == LOG_FORMAT_JSON;
        Line *l = malloc(sizeof(Line));
        char ts[64], num[32];
        struct timespec now;
        struct tm tm;

        if (!l)
                return;
        l->len = 0;
        l->truncated = false;

        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        (void)snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       now.tv_nsec / 1000000);

        if (json)
                line_putc(l, '{');
        line_put_pair(l, "ts", ts, json);
        line_put_pair(l, "level", log_level_to_string(r->level), json);
        line_put_pair(l, "msg", r->message, json);
        if (r->error > 0) {
                (void)snprintf(num, sizeof(num), "%d", r->error);
                line_put_pair(l, "ERRNO", num, json);
        }
        for (size_t i = 0; i < r->n_fields; i++)
                line_put_pair(l, r->fields[i].key, r->fields[i].value, json);
        if (log_get_max_level() >= LOG_LEVEL_DEBUG && r->file) {
                (void)snprintf(num, sizeof(num), "%d", r->line);
                line_put_pair(l, "CODE_FILE", r->file, json);
                line_put_pair(l, "CODE_LINE", num, json);
                line_put_pair(l, "CODE_FUNC", strempty(r->func), json);
        }
        if (l->truncated)
                line_force(l, json ? ",\"TRUNCATED\":\"1\"" : " TRUNCATED=1");
        if (json)
                line_force(l, "}");
        l->buf[l->len++] = '\n';

        /* One write per record, under a lock: records never interleave. */
        const char *p = l->buf;
        size_t left = l->len;
        int fd = atomic_load(&stderr_fd);
        pthread_mutex_lock(&write_lock);
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                p += n;
                left -= (size_t)n;
        }
        pthread_mutex_unlock(&write_lock);
        free(l);
}

static size_t collect_context(LogField *out, size_t max) {
        size_t n = 0;
        const LogContext *c = current_ctx;
        if (!c)
                return 0;
#define ADD(k, v)                                                                                  \
        do {                                                                                       \
                if (!isempty(v) && n < max)                                                        \
                        out[n++] = (LogField){ k, v };                                             \
        } while (0)
        ADD("CSI_METHOD", c->method);
        ADD("CSI_VOLUME_ID", c->volume_id);
        ADD("CSI_TARGET_PATH", c->target_path);
        ADD("POD_NAMESPACE", c->pod_namespace);
        ADD("POD_NAME", c->pod_name);
        ADD("POD_UID", c->pod_uid);
        ADD("REQUEST_ID", c->request_id);
#undef ADD
        return n;
}

/* ---- targets ---- */

static const char *const target_names[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_STDERR] = "stderr",
        [LOG_TARGET_JOURNAL] = "journal",
};

int log_target_from_string(const char *s) {
        for (int i = 0; i < _LOG_TARGET_MAX; i++)
                if (streq_ptr(s, target_names[i]))
                        return i;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        if ((int)t < 0 || t >= _LOG_TARGET_MAX)
                return "unknown";
        return target_names[t];
}

bool log_journal_stream_matches(const char *journal_stream, int fd) {
        char dev[32];
        const char *colon;
        uint64_t d, ino;
        struct stat st;

        if (isempty(journal_stream) || fd < 0)
                return false;
        colon = strchr(journal_stream, ':');
        if (!colon || (size_t)(colon - journal_stream) >= sizeof(dev))
                return false;
        memcpy(dev, journal_stream, (size_t)(colon - journal_stream));
        dev[colon - journal_stream] = '\0';
        if (parse_uint64(dev, 0, UINT64_MAX, &d) < 0 ||
            parse_uint64(colon + 1, 0, UINT64_MAX, &ino) < 0)
                return false;
        if (fstat(fd, &st) < 0)
                return false;
        return (uint64_t)st.st_dev == d && (uint64_t)st.st_ino == ino;
}

LogTarget log_target_resolve(LogTarget t, const char *journal_stream) {
        if (t != LOG_TARGET_AUTO)
                return t;
        /* systemd sets JOURNAL_STREAM when it connects stderr to the journal */
        return log_journal_stream_matches(journal_stream, atomic_load(&stderr_fd))
                       ? LOG_TARGET_JOURNAL
                       : LOG_TARGET_STDERR;
}

void log_set_target(LogTarget t) {
        if (t == LOG_TARGET_JOURNAL)
                log_set_sink(log_sink_journal, (void *)LOG_SYSLOG_IDENTIFIER);
        else
                log_set_sink(NULL, NULL);
}

/* ---- token-shape scrubbing ---- */

typedef enum ShapeKind {
        SHAPE_NONE,
        SHAPE_TOKEN,
        SHAPE_DUMP,
} ShapeKind;

static bool ascii_alnum(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool b64url(char c) {
        return ascii_alnum(c) || c == '-' || c == '_';
}

static bool hexdigit(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A JWT/JWS/JWE: "eyJ..." "." payload "." signature [ "." more ]. */
static size_t jwt_at(const char *s) {
        size_t i = 3, start;

        if (s[0] != 'e' || s[1] != 'y' || s[2] != 'J')
                return 0;
        while (b64url(s[i]))
                i++;
        if (i < 10)
                return 0;
        /* a record cut inside a token must not show the rest of it */
        if (s[i] == '\0')
                return i;
        if (s[i] != '.')
                return 0;
        start = ++i;
        while (b64url(s[i]))
                i++;
        if (s[i] == '\0')
                return i;
        if (i - start < 2 || s[i] != '.')
                return 0;
        i++;
        while (b64url(s[i]))
                i++;
        while (s[i] == '.' && b64url(s[i + 1])) {
                i++;
                while (b64url(s[i]))
                        i++;
        }
        return i;
}

/* Vault (hvs./hvb./hvr., legacy s./b./r.) and OpenBao (s./b./r.) tokens. */
static size_t vault_token_at(const char *s, size_t pos) {
        static const struct {
                const char *prefix;
                size_t len, min, min_at_end;
        } prefixes[] = {
                { "hvs.", 4, 20, 1 }, { "hvb.", 4, 20, 1 }, { "hvr.", 4, 20, 1 },
                { "s.", 2, 24, 8 },   { "b.", 2, 24, 8 },   { "r.", 2, 24, 8 },
        };
        const char *p = s + pos;

        if (pos > 0 && ascii_alnum(s[pos - 1]))
                return 0; /* not at a word start */
        for (size_t k = 0; k < ELEMENTSOF(prefixes); k++) {
                size_t j, run;
                if (strncmp(p, prefixes[k].prefix, prefixes[k].len) != 0)
                        continue;
                j = prefixes[k].len;
                while (b64url(p[j]))
                        j++;
                run = j - prefixes[k].len;
                if (run < (p[j] == '\0' ? prefixes[k].min_at_end : prefixes[k].min))
                        continue;
                /* namespaced tokens carry ".<namespace id>" */
                while (p[j] == '.' && ascii_alnum(p[j + 1])) {
                        j++;
                        while (b64url(p[j]))
                                j++;
                }
                return j;
        }
        return 0;
}

/*
 * A hex byte dump ("0a 1b 2c ..."), as gRPC core's tracers write request
 * bytes, with the quoted rendition gRPC appends: one character per byte.
 */
static size_t hexdump_at(const char *s, size_t pos) {
        const char *p = s + pos;
        size_t j = 0, groups = 0;

        if (pos > 0 && ascii_alnum(s[pos - 1]))
                return 0;
        for (;;) {
                if (!hexdigit(p[j]) || !hexdigit(p[j + 1]) || ascii_alnum(p[j + 2]))
                        break;
                groups++;
                j += 2;
                if (p[j] == ' ' && hexdigit(p[j + 1]) && hexdigit(p[j + 2]))
                        j++;
                else
                        break;
        }
        if (groups < 8)
                return 0;
        if (p[j] == ' ' && p[j + 1] == '\'') {
                size_t k = j + 2;
                for (size_t n = 0; p[k] && n < groups; n++)
                        k++;
                if (p[k] == '\'')
                        k++;
                j = k;
        }
        return j;
}

/*
 * Whether a shape can start at s[i]: a JWT starts with "eyJ" anywhere; a
 * Vault token (hvs. s. b. r. ...) and a hex dump only at a word start. Most
 * characters of a line are none of these, and go no further.
 */
static bool shape_may_start(const char *s, size_t i) {
        char c = s[i];
        if (c == 'e')
                return true;
        if (i > 0 && ascii_alnum(s[i - 1]))
                return false;
        return c == 'h' || c == 's' || c == 'r' || hexdigit(c);
}

static size_t shape_at(const char *s, size_t i, ShapeKind *ret_kind) {
        size_t n;
        *ret_kind = SHAPE_NONE;
        if (!shape_may_start(s, i))
                return 0;
        if ((n = jwt_at(s + i)) > 0 || (n = vault_token_at(s, i)) > 0) {
                *ret_kind = SHAPE_TOKEN;
                return n;
        }
        if ((n = hexdump_at(s, i)) > 0) {
                *ret_kind = SHAPE_DUMP;
                return n;
        }
        *ret_kind = SHAPE_NONE;
        return 0;
}

size_t log_token_shape_at(const char *s, size_t i) {
        ShapeKind k;
        return shape_at(s, i, &k);
}

static bool has_token_shape(const char *s) {
        for (size_t i = 0; s[i]; i++)
                if (log_token_shape_at(s, i) > 0)
                        return true;
        return false;
}

size_t log_scrub_tokens(const char *in, char *out, size_t outlen) {
        size_t o = 0, count = 0;

        if (outlen == 0)
                return 0;
        for (size_t i = 0; in[i];) {
                ShapeKind kind;
                size_t n = shape_at(in, i, &kind);
                if (n > 0) {
                        const char *marker =
                                kind == SHAPE_DUMP ? LOG_DUMP_MARKER : LOG_TOKEN_MARKER;
                        size_t m = strlen(marker);
                        if (o + m < outlen) {
                                memcpy(out + o, marker, m);
                                o += m;
                        } else
                                o = outlen - 1; /* no room: the record is cut here */
                        i += n;
                        count++;
                        continue;
                }
                if (o + 1 < outlen)
                        out[o++] = in[i];
                i++;
        }
        out[o] = '\0';
        return count;
}

/* ---- rate limiting ---- */

#define RATE_MESSAGE_MAX 512

typedef struct RateKey {
        bool used;
        uint64_t hash;
        const char *file;
        int line;
        const char *func;
        int level;
        uint64_t window_start;
        unsigned count;      /* records of this window, emitted or not */
        unsigned suppressed; /* suppressed and not yet reported */
        char message[RATE_MESSAGE_MAX];
} RateKey;

/* A suppression count to report, copied out of the table. */
typedef struct RateReport {
        int level;
        const char *file;
        int line;
        const char *func;
        unsigned suppressed;
        char message[RATE_MESSAGE_MAX];
} RateReport;

static uint64_t monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static RateKey rate_keys[LOG_RATELIMIT_KEYS];
static uint64_t rate_interval = LOG_RATELIMIT_INTERVAL_USEC;
static unsigned rate_burst = LOG_RATELIMIT_BURST;
static LogClockFn rate_clock = monotonic_usec;

static uint64_t rate_hash(const char *message, const char *file, int line) {
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *)message; *p; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ (uint64_t)(uintptr_t)file) * 0x100000001b3ULL;
        return (h ^ (uint64_t)(unsigned)line) * 0x100000001b3ULL;
}

/* Copies at most size - 1 bytes of src, never cutting a UTF-8 sequence. */
static void copy_cut(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);
        if (src[n] != '\0')
                while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
                        n--;
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void report_from(RateReport *r, const RateKey *k) {
        r->level = k->level;
        r->file = k->file;
        r->line = k->line;
        r->func = k->func;
        r->suppressed = k->suppressed;
        memcpy(r->message, k->message, sizeof(r->message));
}

/*
 * Decides whether a record is emitted (true) or suppressed. When emitted,
 * *ret_reported is the count suppressed since the key's last emitted record,
 * and *ret_evicted is filled (returning true in *ret_have_evicted) when
 * another key with a pending count had to make room.
 */
static bool ratelimit_check(int level, const char *file, int line, const char *func,
                            const char *message, unsigned *ret_reported, RateReport *ret_evicted,
                            bool *ret_have_evicted) {
        uint64_t h = rate_hash(message, file, line);
        RateKey *k = NULL, *victim = NULL;
        uint64_t now;
        bool emit = true;

        *ret_reported = 0;
        *ret_have_evicted = false;
        pthread_mutex_lock(&rate_lock);
        now = rate_clock();
        for (size_t i = 0; i < LOG_RATELIMIT_KEYS; i++) {
                RateKey *e = &rate_keys[i];
                if (!e->used) {
                        if (!victim || victim->used)
                                victim = e;
                        continue;
                }
                if (e->hash == h && e->file == file && e->line == line) {
                        k = e;
                        break;
                }
                if (!victim || (victim->used && e->window_start < victim->window_start))
                        victim = e;
        }
        if (!k) {
                k = victim;
                if (k->used && k->suppressed > 0) {
                        report_from(ret_evicted, k);
                        *ret_have_evicted = true;
                }
                *k = (RateKey){ .used = true,
                                .hash = h,
                                .file = file,
                                .line = line,
                                .func = func,
                                .level = level,
                                .window_start = now,
                                .count = 1 };
                copy_cut(k->message, sizeof(k->message), message);
        } else if (now - k->window_start >= rate_interval) {
                /* a new window: report what the last one suppressed */
                *ret_reported = k->suppressed;
                k->suppressed = 0;
                k->window_start = now;
                k->count = 1;
        } else if (k->count < rate_burst) {
                k->count++;
        } else {
                k->count++;
                k->suppressed++;
                emit = false;
        }
        pthread_mutex_unlock(&rate_lock);
        return emit;
}

static void emit(const LogRecord *rec) {
        pthread_mutex_lock(&sink_lock);
        LogSinkFn fn = sink_fn;
        void *ud = sink_userdata;
        pthread_mutex_unlock(&sink_lock);
        fn(rec, ud);
}

static void emit_report(const RateReport *r) {
        char num[16], message[RATE_MESSAGE_MAX + 64];
        LogField f[] = { { "SUPPRESSED", num } };

        (void)snprintf(num, sizeof(num), "%u", r->suppressed);
        (void)snprintf(message, sizeof(message), "%s (%u similar messages suppressed)", r->message,
                       r->suppressed);
        LogRecord rec = {
                .level = r->level,
                .file = r->file,
                .line = r->line,
                .func = r->func,
                .message = message,
                .fields = f,
                .n_fields = ELEMENTSOF(f),
        };
        emit(&rec);
}

/* Takes the pending reports out of the table (due ones, or all); frees ended windows. */
static size_t ratelimit_collect(bool all, bool forget, RateReport *out) {
        size_t n = 0;
        uint64_t now = rate_clock();
        for (size_t i = 0; i < LOG_RATELIMIT_KEYS; i++) {
                RateKey *k = &rate_keys[i];
                bool ended;
                if (!k->used)
                        continue;
                ended = now - k->window_start >= rate_interval;
                if (k->suppressed > 0 && (all || ended)) {
                        report_from(&out[n++], k);
                        k->suppressed = 0;
                }
                if (ended || forget)
                        k->used = false;
        }
        return n;
}

unsigned log_ratelimit_flush(bool all) {
        RateReport *reports = malloc(sizeof(RateReport) * LOG_RATELIMIT_KEYS);
        size_t n;

        if (!reports)
                return 0;
        pthread_mutex_lock(&rate_lock);
        n = ratelimit_collect(all, false, reports);
        pthread_mutex_unlock(&rate_lock);
        for (size_t i = 0; i < n; i++)
                emit_report(&reports[i]);
        free(reports);
        return (unsigned)n;
}

void log_ratelimit_configure(uint64_t interval_usec, unsigned burst, LogClockFn clock) {
        RateReport *reports = malloc(sizeof(RateReport) * LOG_RATELIMIT_KEYS);
        size_t n = 0;

        pthread_mutex_lock(&rate_lock);
        if (reports)
                n = ratelimit_collect(true, true, reports);
        else
                memset(rate_keys, 0, sizeof(rate_keys));
        rate_interval = interval_usec > 0 ? interval_usec : LOG_RATELIMIT_INTERVAL_USEC;
        rate_burst = burst > 0 ? burst : LOG_RATELIMIT_BURST;
        rate_clock = clock ? clock : monotonic_usec;
        pthread_mutex_unlock(&rate_lock);
        for (size_t i = 0; i < n; i++)
                emit_report(&reports[i]);
        free(reports);
}

/* ---- records ---- */

#define LOG_FIELDS_MAX 32

/* The call's fields after the context's (all has n of them): an explicit
 * field replaces the context's field of that name. The new count. */
static size_t merge_fields(LogField *all, size_t n, const LogField *fields, size_t n_fields) {
        for (size_t i = 0; i < n_fields; i++) {
                size_t k = 0;
                if (!fields[i].key || isempty(fields[i].value))
                        continue;
                while (k < n && !streq(all[k].key, fields[i].key))
                        k++;
                if (k < n)
                        all[k] = fields[i];
                else if (n < LOG_FIELDS_MAX)
                        all[n++] = fields[i];
        }
        return n;
}

/* Every field value that holds a token shape is replaced by a scrubbed
 * copy (scrubbed[i], for the caller to free), or by the marker alone. */
static void scrub_fields(LogField *all, size_t n, char **scrubbed) {
        for (size_t i = 0; i < n; i++) {
                size_t len, size = 0;
                if (!has_token_shape(all[i].value))
                        continue;
                len = strlen(all[i].value);
                /* every shape is at least 10 bytes and a marker is 20: twice is enough */
                if (size_mul(len, 2, &size) && size_add(size, sizeof(LOG_TOKEN_MARKER), &size))
                        scrubbed[i] = malloc(size);
                if (scrubbed[i]) {
                        (void)log_scrub_tokens(all[i].value, scrubbed[i], size);
                        all[i].value = scrubbed[i];
                } else
                        all[i].value = LOG_TOKEN_MARKER;
        }
}

/* Warnings and errors pass the rate limit (a record it evicted is reported
 * first); *reported: how many like this one it held back before. */
static bool rate_limit_pass(int level, const char *file, int line, const char *func,
                            const char *message, unsigned *reported) {
        RateReport evicted;
        bool have_evicted, go;

        if (level > LOG_LEVEL_WARNING)
                return true;
        go = ratelimit_check(level, file, line, func, message, reported, &evicted, &have_evicted);
        if (have_evicted)
                emit_report(&evicted);
        return go;
}

int log_internalv(int level, int error, const char *file, int line, const char *func,
                  const LogField *fields, size_t n_fields, const char *format, va_list ap) {
        char raw[LOG_MESSAGE_MAX], message[LOG_MESSAGE_MAX + 64], num[16];
        LogField all[LOG_FIELDS_MAX + 1];
        char *scrubbed[LOG_FIELDS_MAX] = { 0 };
        size_t n;
        unsigned reported = 0;
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (!log_level_enabled(level)) {
                errno = saved_errno;
                return -error;
        }

        /* %m refers to `error` when given, as in systemd's log_*_errno(). */
        errno = error ? error : saved_errno;
        (void)vsnprintf(raw, sizeof(raw), format, ap);
        (void)log_scrub_tokens(raw, message, LOG_MESSAGE_MAX);
        explicit_bzero(raw, sizeof(raw));

        n = merge_fields(all, collect_context(all, LOG_FIELDS_MAX), fields, n_fields);
        scrub_fields(all, n, scrubbed);
        if (rate_limit_pass(level, file, line, func, message, &reported)) {
                if (reported > 0) {
                        size_t ml = strlen(message);
                        (void)snprintf(message + ml, sizeof(message) - ml,
                                       " (%u similar messages suppressed)", reported);
                        (void)snprintf(num, sizeof(num), "%u", reported);
                        all[n++] = (LogField){ "SUPPRESSED", num };
                }
                emit(&(LogRecord){
                        .level = level,
                        .error = error,
                        .file = file,
                        .line = line,
                        .func = func,
                        .message = message,
                        .fields = all,
                        .n_fields = n,
                });
        }
        for (size_t i = 0; i < ELEMENTSOF(scrubbed); i++)
                free(scrubbed[i]);
        errno = saved_errno;
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const LogField *fields, size_t n_fields, const char *format, ...) {
        va_list ap;
        int r;
        va_start(ap, format);
        r = log_internalv(level, error, file, line, func, fields, n_fields, format, ap);
        va_end(ap);
        return r;
}
