/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - level filter, per-thread request context, and the stderr sink.
 *
 * The stderr sink writes one record per write(2): logfmt by default
 * (`ts=... level=info msg="..." CSI_METHOD=...`), or one JSON object per line.
 * Control characters in messages and values are escaped so a record can
 * never span lines or forge another record.
 *
 * Thread-safety: the level, format and sink are atomics/guarded by a mutex;
 * the context stack is thread-local.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "macro.h"

#define LOG_MESSAGE_MAX 4096
#define LOG_LINE_MAX 16384

static atomic_int max_level = LOG_LEVEL_INFO;
static atomic_int log_format = LOG_FORMAT_LOGFMT;
static atomic_int stderr_fd = STDERR_FILENO;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static LogSinkFn sink_fn = log_sink_stderr;
static void *sink_userdata;

static _Thread_local LogContext *current_ctx;

static const char *const level_names[] = {
        [LOG_LEVEL_ERR] = "error",   [LOG_LEVEL_WARNING] = "warning",
        [LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_DEBUG] = "debug",
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

/* A bounded line under construction; once full, further appends are dropped. */
typedef struct Line {
        char buf[LOG_LINE_MAX];
        size_t len;
        bool truncated;
} Line;

static void line_putc(Line *l, char c) {
        /* keep room for "…\n" */
        if (l->len + 5 >= sizeof(l->buf)) {
                l->truncated = true;
                return;
        }
        l->buf[l->len++] = c;
}

static void line_puts(Line *l, const char *s) {
        for (; *s; s++)
                line_putc(l, *s);
}

/* Escapes for both logfmt's and JSON's double-quoted strings. */
static void line_put_escaped(Line *l, const char *s, bool json) {
        static const char hex[] = "0123456789abcdef";
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
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
                                line_puts(l, json ? "\\u00" : "\\x");
                                line_putc(l, hex[*p >> 4]);
                                line_putc(l, hex[*p & 0xf]);
                        } else
                                line_putc(l, (char)*p);
                }
        }
}

static bool logfmt_needs_quotes(const char *s) {
        if (!*s)
                return true;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
                        return true;
        return false;
}

static void line_put_pair(Line *l, const char *key, const char *value, bool json) {
        if (json) {
                if (l->len > 1)
                        line_putc(l, ',');
                line_putc(l, '"');
                line_put_escaped(l, key, true);
                line_puts(l, "\":\"");
                line_put_escaped(l, value, true);
                line_putc(l, '"');
                return;
        }
        if (l->len > 0)
                line_putc(l, ' ');
        line_puts(l, key);
        line_putc(l, '=');
        if (logfmt_needs_quotes(value)) {
                line_putc(l, '"');
                line_put_escaped(l, value, false);
                line_putc(l, '"');
        } else
                line_put_escaped(l, value, false);
}

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
                line_puts(l, json ? "" : " TRUNCATED=1");
        if (json)
                line_putc(l, '}');
        l->buf[l->len++] = '\n';

        /* One write per record: lines from concurrent threads never interleave. */
        const char *p = l->buf;
        size_t left = l->len;
        int fd = atomic_load(&stderr_fd);
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                p += n;
                left -= (size_t)n;
        }
        free(l);
}

static size_t collect_context(LogField *out, size_t max) {
        size_t n = 0;
        const LogContext *c = current_ctx;
        if (!c)
                return 0;
#define ADD(k, v)                                                                          \
        do {                                                                               \
                if (!isempty(v) && n < max)                                                \
                        out[n++] = (LogField){ k, v };                                     \
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

int log_internalv(int level, int error, const char *file, int line, const char *func,
                  const LogField *fields, size_t n_fields, const char *format, va_list ap) {
        char message[LOG_MESSAGE_MAX];
        LogField all[32];
        size_t n = 0;
        int saved_errno = errno;

        if (error < 0)
                error = -error;
        if (!log_level_enabled(level))
                goto out;

        /* %m refers to `error` when given, as in systemd's log_*_errno(). */
        errno = error ? error : saved_errno;
        (void)vsnprintf(message, sizeof(message), format, ap);

        n = collect_context(all, ELEMENTSOF(all));
        for (size_t i = 0; i < n_fields && n < ELEMENTSOF(all); i++)
                if (fields[i].key && !isempty(fields[i].value))
                        all[n++] = fields[i];

        LogRecord rec = {
                .level = level,
                .error = error,
                .file = file,
                .line = line,
                .func = func,
                .message = message,
                .fields = all,
                .n_fields = n,
        };
        pthread_mutex_lock(&sink_lock);
        LogSinkFn fn = sink_fn;
        void *ud = sink_userdata;
        pthread_mutex_unlock(&sink_lock);
        fn(&rec, ud);
out:
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
