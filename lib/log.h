/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the one logging API of the daemon.
 *
 * Records have a level (syslog priorities), a message, the call site, and
 * structured fields. Fields come from two places: the per-request LogContext
 * that the RPC edge installs for the calling thread (CSI_METHOD,
 * CSI_VOLUME_ID, ...), and explicit LogField arrays given to log_struct().
 *
 * Sinks: one line per record on stderr (logfmt, or JSON) by default; other
 * sinks (journald) plug in through log_set_sink(). Exactly one write() per
 * record, so concurrent threads never interleave within a line.
 *
 * Rules (style guide section 6): lib/ modules log at debug level only; the
 * RPC edge logs each call's outcome once; never pass a token, JWT, Vault
 * token or secret value to any function here, at any level.
 *
 * Thread-safety: every function is safe to call from any thread. The
 * configuration functions (log_set_*) are meant for start-up.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Levels are syslog priorities so that journald's PRIORITY= is the level. */
enum {
        LOG_LEVEL_ERR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

typedef enum LogFormat {
        LOG_FORMAT_LOGFMT,
        LOG_FORMAT_JSON,
} LogFormat;

typedef struct LogField {
        const char *key;   /* upper-case journald-style name, e.g. "VAULT_PATH" */
        const char *value; /* NULL or "" fields are left out */
} LogField;

/*
 * Per-request context, installed for the current thread by the RPC edge with
 * log_context_push() and removed with log_context_pop(). Pointers must stay
 * valid while installed. NULL members are left out.
 */
typedef struct LogContext {
        const char *method;        /* CSI_METHOD */
        const char *volume_id;     /* CSI_VOLUME_ID */
        const char *target_path;   /* CSI_TARGET_PATH */
        const char *pod_namespace; /* POD_NAMESPACE */
        const char *pod_name;      /* POD_NAME */
        const char *pod_uid;       /* POD_UID */
        const char *request_id;    /* REQUEST_ID */
        struct LogContext *parent;
} LogContext;

/*
 * A sink receives a fully built record. `fields` holds the context fields
 * then the explicit ones, in order. Sinks must be thread-safe.
 */
typedef struct LogRecord {
        int level;
        int error; /* positive errno or 0 */
        const char *file;
        int line;
        const char *func;
        const char *message;
        const LogField *fields;
        size_t n_fields;
} LogRecord;
typedef void (*LogSinkFn)(const LogRecord *record, void *userdata);

void log_set_max_level(int level);
int log_get_max_level(void);
bool log_level_enabled(int level);
int log_level_from_string(const char *s); /* "debug".."error" or 3..7; -EINVAL */
const char *log_level_to_string(int level);

void log_set_format(LogFormat format);
int log_format_from_string(const char *s); /* "logfmt" | "json"; -EINVAL */

/* Replace the sink (NULL restores stderr). Returns the previous one. */
void log_set_sink(LogSinkFn fn, void *userdata);
/* Redirect the stderr sink to another fd (tests). */
void log_set_stderr_fd(int fd);
/* The built-in stderr sink, for sinks that fall back to it. */
void log_sink_stderr(const LogRecord *record, void *userdata);

void log_context_push(LogContext *ctx);
void log_context_pop(LogContext *ctx);
const LogContext *log_context_current(void);

/*
 * Emits one record. Returns -abs(error) (or 0 for error == 0) so callers can
 * write `return log_error_errno(r, "...")`.
 */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const LogField *fields, size_t n_fields, const char *format, ...)
        __attribute__((format(printf, 8, 9)));
int log_internalv(int level, int error, const char *file, int line, const char *func,
                  const LogField *fields, size_t n_fields, const char *format, va_list ap)
        __attribute__((format(printf, 8, 0)));

#define log_full_errno(level, error, ...)                                                  \
        ({                                                                                 \
                int _lvl_ = (level), _err_ = (error);                                      \
                log_level_enabled(_lvl_)                                                   \
                        ? log_internal(_lvl_, _err_, __FILE__, __LINE__, __func__, NULL,   \
                                       0, __VA_ARGS__)                                     \
                        : (_err_ > 0 ? -_err_ : _err_);                                    \
        })
#define log_full(level, ...) ((void)log_full_errno((level), 0, __VA_ARGS__))

#define log_debug(...) log_full(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_LEVEL_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_LEVEL_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_LEVEL_ERR, (e), __VA_ARGS__)

/* A record with explicit structured fields: log_struct(LOG_LEVEL_INFO, 0, f, n, "..."). */
#define log_struct(level, error, fields, n_fields, ...)                                    \
        ({                                                                                 \
                int _lvl_ = (level), _err_ = (error);                                      \
                log_level_enabled(_lvl_)                                                   \
                        ? log_internal(_lvl_, _err_, __FILE__, __LINE__, __func__,         \
                                       (fields), (n_fields), __VA_ARGS__)                  \
                        : (_err_ > 0 ? -_err_ : _err_);                                    \
        })
