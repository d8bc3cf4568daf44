/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the one logging API of the daemon.
 *
 * Records have a level (syslog priorities), a message, the call site, and
 * structured fields. Fields come from two places: the per-request LogContext
 * that the RPC edge installs for the calling thread (CSI_METHOD,
 * CSI_VOLUME_ID, ...), and explicit LogField arrays given to log_struct().
 *
 * Sinks: one line per record on stderr (logfmt, or JSON) by default; the
 * native journald sink (log-journal.c) when the target says so (see
 * LogTarget); others plug in through log_set_sink(). Exactly one write() per
 * record, so concurrent threads never interleave within a line.
 *
 * Before a record reaches the sink, the core:
 *  - rate-limits records at warning or worse: the same (message text, call
 *    site) more than LOG_RATELIMIT_BURST times within
 *    LOG_RATELIMIT_INTERVAL_USEC is suppressed and counted, and the count
 *    is reported (SUPPRESSED=N) by the next emitted record of that key or
 *    by log_ratelimit_flush(); never silently dropped;
 *  - scrubs token shapes (JWTs, Vault/OpenBao tokens, hex byte dumps) from
 *    the message and every field value. This is defence in depth, not the
 *    mechanism: callers must still never log a secret (the redactor in
 *    redact.h is how requests are logged).
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
#include <stdint.h>

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

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _lvl_ = (level), _err_ = (error);                                              \
                log_level_enabled(_lvl_) ? log_internal(_lvl_, _err_, __FILE__, __LINE__,          \
                                                        __func__, NULL, 0, __VA_ARGS__)            \
                                         : (_err_ > 0 ? -_err_ : _err_);                           \
        })
#define log_full(level, ...)      ((void)log_full_errno((level), 0, __VA_ARGS__))

#define log_debug(...)            log_full(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)             log_full(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(...)           log_full(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(...)          log_full(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...)            log_full(LOG_LEVEL_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_LEVEL_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_LEVEL_ERR, (e), __VA_ARGS__)

/* A record with explicit structured fields: log_struct(LOG_LEVEL_INFO, 0, f, n, "..."). */
#define log_struct(level, error, fields, n_fields, ...)                                            \
        ({                                                                                         \
                int _lvl_ = (level), _err_ = (error);                                              \
                log_level_enabled(_lvl_)                                                           \
                        ? log_internal(_lvl_, _err_, __FILE__, __LINE__, __func__, (fields),       \
                                       (n_fields), __VA_ARGS__)                                    \
                        : (_err_ > 0 ? -_err_ : _err_);                                            \
        })

/* ---- targets and journald ---- */

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal when $JOURNAL_STREAM names our stderr, else stderr */
        LOG_TARGET_STDERR,  /* one line per record on stderr (logfmt or JSON) */
        LOG_TARGET_JOURNAL, /* native journald protocol (sd_journal_sendv) */
        _LOG_TARGET_MAX,
} LogTarget;

#define LOG_SYSLOG_IDENTIFIER "vaultmountd"

int log_target_from_string(const char *s); /* "auto" | "stderr" | "journal"; -EINVAL */
const char *log_target_to_string(LogTarget t);

/*
 * True when `journal_stream` (the value of $JOURNAL_STREAM, "DEVICE:INODE"
 * in decimal) names the file open on fd: systemd's way of saying "your
 * stderr is connected to the journal".
 */
bool log_journal_stream_matches(const char *journal_stream, int fd);

/* AUTO → JOURNAL when journal_stream matches the stderr sink's fd, else STDERR. */
LogTarget log_target_resolve(LogTarget t, const char *journal_stream);

/* Installs the sink of a resolved target (AUTO is treated as STDERR). */
void log_set_target(LogTarget t);

/*
 * The journald sink (log-journal.c). userdata is the SYSLOG_IDENTIFIER (a
 * string; NULL means LOG_SYSLOG_IDENTIFIER). Fields: PRIORITY, MESSAGE,
 * SYSLOG_IDENTIFIER, CODE_FILE/CODE_LINE/CODE_FUNC, ERRNO, then the record's
 * fields (names that journald would reject are left out). When the journal
 * cannot be reached the record goes to the stderr sink instead.
 */
void log_sink_journal(const LogRecord *record, void *userdata);

/* ---- rate limiting ---- */

#define LOG_RATELIMIT_INTERVAL_USEC (30ULL * 1000000)
#define LOG_RATELIMIT_BURST         10U
/* Distinct (message, call site) keys tracked at once; the oldest is evicted (and reported). */
#define LOG_RATELIMIT_KEYS 64
/* How often main() calls log_ratelimit_flush(). */
#define LOG_RATELIMIT_FLUSH_USEC (10ULL * 1000000)

/* A monotonic clock in microseconds; injectable for tests. */
typedef uint64_t (*LogClockFn)(void);

/*
 * Sets the window, the burst and the clock (0 / NULL: the defaults above).
 * Forgets every key (their pending counts are reported first). For
 * start-up and tests.
 */
void log_ratelimit_configure(uint64_t interval_usec, unsigned burst, LogClockFn clock);

/*
 * Reports pending suppression counts as records "… (N similar messages
 * suppressed)" with SUPPRESSED=N: those whose window has ended, or all when
 * `all` (at shutdown). Returns the number of records emitted.
 */
unsigned log_ratelimit_flush(bool all);

/* ---- token-shape scrubbing (defence in depth) ---- */

#define LOG_TOKEN_MARKER "***token-stripped***"
#define LOG_DUMP_MARKER  "***bytes-stripped***"

/*
 * Length of the token-shaped string starting at s[i] (0 when none):
 *  - a JWT/JWS/JWE: base64url segments separated by dots, the first one
 *    starting "eyJ" (a JSON object "{"...);
 *  - a Vault or OpenBao token: "hvs.", "hvb.", "hvr." + at least 20, or
 *    "s.", "b.", "r." + at least 24 characters of [A-Za-z0-9_-], at a word
 *    start, with any ".suffix" parts (namespace ids);
 *  - a hex byte dump: at least 8 two-digit hex groups separated by single
 *    spaces, with gRPC's following quoted rendition ('...'), if any.
 * A shape that runs into the end of the string (a record cut short) counts
 * with a shorter tail: what is visible of a cut token is still removed.
 */
size_t log_token_shape_at(const char *s, size_t i);

/*
 * Copies `in` to `out` (outlen bytes, NUL-terminated, cut if needed) with
 * every token shape replaced by LOG_TOKEN_MARKER (byte dumps by
 * LOG_DUMP_MARKER). Returns the number of replacements.
 */
size_t log_scrub_tokens(const char *in, char *out, size_t outlen);
