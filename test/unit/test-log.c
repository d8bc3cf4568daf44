/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-log.c - the logging core: level filter, logfmt quoting and escaping,
 * JSON lines (checked with jansson), per-thread LogContext, *_errno return
 * values and %m, one write per record under 8 concurrent threads, and
 * truncation of long records.
 *
 * The stderr sink is redirected to a memfd per test (log_set_stderr_fd), so
 * the exact bytes written are read back.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#include <check.h>

#include "testutil.h"

static int cap_fd = -1;

static void setup(void) {
        cap_fd = memfd_create("log-capture", MFD_CLOEXEC);
        ck_assert_int_ge(cap_fd, 0);
        log_set_stderr_fd(cap_fd);
        log_set_sink(NULL, NULL);
        log_set_max_level(LOG_LEVEL_INFO);
        log_set_format(LOG_FORMAT_LOGFMT);
}

static void teardown(void) {
        log_set_stderr_fd(-1);
        log_set_sink(NULL, NULL);
        log_set_max_level(LOG_LEVEL_INFO);
        log_set_format(LOG_FORMAT_LOGFMT);
        if (cap_fd >= 0)
                close(cap_fd);
        cap_fd = -1;
}

/* Everything written so far (malloc'd, NUL-terminated); clears the capture. */
static char *capture_take(size_t *ret_len) {
        struct stat st;
        char *buf;
        size_t len = 0;

        ck_assert_int_eq(fstat(cap_fd, &st), 0);
        buf = malloc((size_t)st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        while (len < (size_t)st.st_size) {
                ssize_t n = pread(cap_fd, buf + len, (size_t)st.st_size - len, (off_t)len);
                ck_assert_int_gt(n, 0);
                len += (size_t)n;
        }
        buf[len] = '\0';
        ck_assert_int_eq(ftruncate(cap_fd, 0), 0);
        ck_assert_int_eq(lseek(cap_fd, 0, SEEK_SET), 0);
        if (ret_len)
                *ret_len = len;
        return buf;
}

static size_t count_lines(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/*
 * A small strict logfmt reader: `key=value` pairs separated by one space,
 * values bare (no space, quote, '=' or control byte) or double-quoted with
 * the escapes the sink emits (\" \\ \n \t \r \xHH). Returns the number of
 * pairs, or -1 when the line is not well-formed. When `want` is set, copies
 * that key's unescaped value into out.
 */
static int logfmt_parse(const char *line, const char *want, char *out, size_t outlen) {
        const char *p = line;
        int pairs = 0;
        bool found = false;

        while (*p) {
                char key[128], val[32768];
                size_t kl = 0, vl = 0;

                if (pairs > 0) {
                        if (*p != ' ')
                                return -1;
                        p++;
                }
                while (*p && *p != '=' && *p != ' ' && *p != '"') {
                        if (kl + 1 >= sizeof(key) || (unsigned char)*p < 0x21)
                                return -1;
                        key[kl++] = *p++;
                }
                key[kl] = '\0';
                if (kl == 0 || *p != '=')
                        return -1;
                p++;
                if (*p == '"') {
                        p++;
                        for (;;) {
                                char c = *p++;
                                if (c == '\0')
                                        return -1; /* unterminated */
                                if (c == '"')
                                        break;
                                if ((unsigned char)c < 0x20 || c == 0x7f)
                                        return -1;
                                if (c == '\\') {
                                        c = *p++;
                                        switch (c) {
                                        case '"':
                                        case '\\':
                                                break;
                                        case 'n':
                                                c = '\n';
                                                break;
                                        case 't':
                                                c = '\t';
                                                break;
                                        case 'r':
                                                c = '\r';
                                                break;
                                        case 'x': {
                                                unsigned v;
                                                if (sscanf(p, "%2x", &v) != 1 || !p[0] || !p[1])
                                                        return -1;
                                                c = (char)v;
                                                p += 2;
                                                break;
                                        }
                                        default:
                                                return -1;
                                        }
                                }
                                if (vl + 1 >= sizeof(val))
                                        return -1;
                                val[vl++] = c;
                        }
                } else {
                        while (*p && *p != ' ') {
                                if ((unsigned char)*p < 0x21 || *p == '"' || *p == '=' ||
                                    *p == '\\' || *p == 0x7f)
                                        return -1;
                                if (vl + 1 >= sizeof(val))
                                        return -1;
                                val[vl++] = *p++;
                        }
                        if (vl == 0)
                                return -1; /* empty values must be quoted */
                }
                val[vl] = '\0';
                if (want && strcmp(key, want) == 0 && !found) {
                        found = true;
                        if (out && outlen > 0) {
                                size_t n = vl < outlen - 1 ? vl : outlen - 1;
                                memcpy(out, val, n);
                                out[n] = '\0';
                        }
                }
                pairs++;
        }
        if (want && !found)
                return -1;
        return pairs;
}

/* The single line captured since the last take (asserts there is exactly one). */
static char *take_one_line(void) {
        size_t len;
        char *s = capture_take(&len);
        ck_assert_msg(len > 0 && s[len - 1] == '\n', "no complete line: '%.200s'", s);
        ck_assert_msg(count_lines(s) == 1, "expected one line, got '%.300s'", s);
        s[len - 1] = '\0';
        return s;
}

/* ---- levels ---- */

START_TEST(test_level_filter)
{
        char *out, *line, *save = NULL;

        log_set_max_level(LOG_LEVEL_WARNING);
        ck_assert_int_eq(log_get_max_level(), LOG_LEVEL_WARNING);
        ck_assert(!log_level_enabled(LOG_LEVEL_INFO));
        ck_assert(log_level_enabled(LOG_LEVEL_WARNING));
        ck_assert(log_level_enabled(LOG_LEVEL_ERR));
        log_debug("d");
        log_info("i");
        log_notice("n");
        log_warning("w");
        log_error("e");
        out = capture_take(NULL);
        ck_assert_uint_eq(count_lines(out), 2);
        line = strtok_r(out, "\n", &save);
        ck_assert_ptr_nonnull(strstr(line, " level=warning msg=w"));
        line = strtok_r(NULL, "\n", &save);
        ck_assert_ptr_nonnull(strstr(line, " level=error msg=e"));
        free(out);

        log_set_max_level(LOG_LEVEL_DEBUG);
        log_debug("d");
        log_info("i");
        log_notice("n");
        out = capture_take(NULL);
        ck_assert_uint_eq(count_lines(out), 3);
        ck_assert_ptr_nonnull(strstr(out, " level=debug msg=d"));
        ck_assert_ptr_nonnull(strstr(out, " level=info msg=i"));
        ck_assert_ptr_nonnull(strstr(out, " level=notice msg=n"));
        free(out);

        log_set_max_level(LOG_LEVEL_ERR);
        log_warning("w");
        out = capture_take(NULL);
        ck_assert_str_eq(out, "");
        free(out);
}
END_TEST

START_TEST(test_level_clamp)
{
        log_set_max_level(100);
        ck_assert_int_eq(log_get_max_level(), LOG_LEVEL_DEBUG);
        log_set_max_level(-5);
        ck_assert_int_eq(log_get_max_level(), LOG_LEVEL_ERR);
        /* error records always pass */
        log_error("still here");
        char *line = take_one_line();
        ck_assert_ptr_nonnull(strstr(line, "msg=\"still here\""));
        free(line);
}
END_TEST

START_TEST(test_level_strings)
{
        ck_assert_int_eq(log_level_from_string("error"), LOG_LEVEL_ERR);
        ck_assert_int_eq(log_level_from_string("err"), LOG_LEVEL_ERR);
        ck_assert_int_eq(log_level_from_string("warning"), LOG_LEVEL_WARNING);
        ck_assert_int_eq(log_level_from_string("warn"), LOG_LEVEL_WARNING);
        ck_assert_int_eq(log_level_from_string("notice"), LOG_LEVEL_NOTICE);
        ck_assert_int_eq(log_level_from_string("info"), LOG_LEVEL_INFO);
        ck_assert_int_eq(log_level_from_string("debug"), LOG_LEVEL_DEBUG);
        for (int i = 3; i <= 7; i++) {
                char s[2] = { (char)('0' + i), '\0' };
                ck_assert_int_eq(log_level_from_string(s), i);
        }
        static const char *const bad[] = { "",      "2",     "8",     "0",     "37", "INFO",
                                           "Debug", "info ", "trace", "fatal", "-3" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(log_level_from_string(bad[i]) == -EINVAL, "'%s'", bad[i]);
        ck_assert_int_eq(log_level_from_string(NULL), -EINVAL);

        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_ERR), "error");
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_WARNING), "warning");
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_NOTICE), "notice");
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_INFO), "info");
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_DEBUG), "debug");
        ck_assert_str_eq(log_level_to_string(2), "unknown");
        ck_assert_str_eq(log_level_to_string(8), "unknown");
        ck_assert_str_eq(log_level_to_string(-1), "unknown");

        ck_assert_int_eq(log_format_from_string("logfmt"), LOG_FORMAT_LOGFMT);
        ck_assert_int_eq(log_format_from_string("json"), LOG_FORMAT_JSON);
        ck_assert_int_eq(log_format_from_string("JSON"), -EINVAL);
        ck_assert_int_eq(log_format_from_string("text"), -EINVAL);
        ck_assert_int_eq(log_format_from_string(""), -EINVAL);
        ck_assert_int_eq(log_format_from_string(NULL), -EINVAL);
}
END_TEST

/* ---- logfmt ---- */

START_TEST(test_logfmt_shape)
{
        char *line;
        int y, mo, d, h, mi, s, ms, n = 0;

        log_info("hello");
        line = take_one_line();
        /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ level=info msg=hello */
        ck_assert_int_eq(sscanf(line, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &y, &mo, &d, &h, &mi,
                                &s, &ms, &n),
                         7);
        ck_assert_int_eq(n, (int)strlen("ts=2025-01-01T00:00:00.000Z "));
        ck_assert(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 &&
                  s <= 60 && ms < 1000);
        ck_assert_str_eq(line + n, "level=info msg=hello");
        ck_assert_int_eq(logfmt_parse(line, NULL, NULL, 0), 3);
        free(line);
}
END_TEST

static const char *const tricky[] = {
        "plain",
        "two words",
        "line1\nline2",
        "say \"hi\"",
        "k=v",
        "a=b c=d",
        "back\\slash",
        "tab\there",
        "cr\rhere",
        "bell\x07 esc\x1b[31m del\x7f",
        "\x01\x02\x03\x1f",
        "caf\xc3\xa9 \xe2\x82\xac",
        " leading space",
        "trailing space ",
        "=",
        "\"",
        "\\",
        "ts=forged level=error msg=forged",
        "x\nts=2020-01-01T00:00:00.000Z level=error msg=forged",
};

START_TEST(test_logfmt_escaping)
{
        for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
                char got[4096];
                char *line;
                log_info("%s", tricky[i]);
                line = take_one_line();
                ck_assert_msg(logfmt_parse(line, "msg", got, sizeof(got)) == 3,
                              "case %zu: not valid logfmt: %s", i, line);
                ck_assert_msg(strcmp(got, tricky[i]) == 0, "case %zu: '%s' read back as '%s'", i,
                              tricky[i], got);
                /* the raw line never carries a control byte */
                for (const char *p = line; *p; p++)
                        ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f,
                                      "case %zu: raw byte 0x%02x", i, (unsigned char)*p);
                free(line);
        }
}
END_TEST

START_TEST(test_logfmt_quoting_exact)
{
        static const struct {
                const char *msg, *want;
        } cases[] = {
                { "hello", "msg=hello" },
                { "two words", "msg=\"two words\"" },
                { "a\nb", "msg=\"a\\nb\"" },
                { "say \"hi\"", "msg=\"say \\\"hi\\\"\"" },
                { "k=v", "msg=\"k=v\"" },
                { "x\x01y", "msg=\"x\\x01y\"" },
                { "d\x7f", "msg=\"d\\x7f\"" },
                { "a\\b", "msg=\"a\\\\b\"" },
                { "", "msg=\"\"" },
                { "t\tx", "msg=\"t\\tx\"" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *line, *msg;
                log_info("%s", cases[i].msg);
                line = take_one_line();
                msg = strstr(line, " msg=");
                ck_assert_ptr_nonnull(msg);
                ck_assert_str_eq(msg + 1, cases[i].want);
                free(line);
        }
}
END_TEST

START_TEST(test_logfmt_fields)
{
        const LogField f[] = {
                { "VAULT_PATH", "secret/data/app" },
                { "EMPTY", "" },
                { "NULLV", NULL },
                { NULL, "no key" },
                { "SPACED", "a b" },
                { "EQ", "x=y" },
        };
        char got[256];
        char *line;

        log_struct(LOG_LEVEL_INFO, 0, f, sizeof(f) / sizeof(f[0]), "with fields");
        line = take_one_line();
        ck_assert_ptr_nonnull(
                strstr(line, " msg=\"with fields\" VAULT_PATH=secret/data/app SPACED=\"a b\" "
                             "EQ=\"x=y\""));
        ck_assert_ptr_null(strstr(line, "EMPTY"));
        ck_assert_ptr_null(strstr(line, "NULLV"));
        ck_assert_ptr_null(strstr(line, "no key"));
        ck_assert_int_eq(logfmt_parse(line, "EQ", got, sizeof(got)), 6);
        ck_assert_str_eq(got, "x=y");
        free(line);

        /* a disabled level emits nothing */
        ck_assert_int_eq(log_struct(LOG_LEVEL_DEBUG, 0, f, 1, "hidden"), 0);
        line = capture_take(NULL);
        ck_assert_str_eq(line, "");
        free(line);
}
END_TEST

START_TEST(test_code_location_at_debug)
{
        char *line, file[256], func[64], lno[16];

        log_info("no location");
        line = take_one_line();
        ck_assert_ptr_null(strstr(line, "CODE_FILE"));
        free(line);

        log_set_max_level(LOG_LEVEL_DEBUG);
        log_info("with location");
        line = take_one_line();
        ck_assert_int_gt(logfmt_parse(line, "CODE_FILE", file, sizeof(file)), 0);
        ck_assert_ptr_nonnull(strstr(file, "test-log.c"));
        ck_assert_int_gt(logfmt_parse(line, "CODE_FUNC", func, sizeof(func)), 0);
        ck_assert_str_eq(func, "test_code_location_at_debug_fn");
        ck_assert_int_gt(logfmt_parse(line, "CODE_LINE", lno, sizeof(lno)), 0);
        ck_assert_int_gt(atoi(lno), 0);
        free(line);
}
END_TEST

/* ---- JSON ---- */

static json_t *take_json(void) {
        json_error_t e;
        char *line = take_one_line();
        json_t *j = json_loads(line, 0, &e);
        ck_assert_msg(j != NULL, "not JSON (%s at %d of %zu): ...%s", e.text, e.position,
                      strlen(line), line + (strlen(line) > 80 ? strlen(line) - 80 : 0));
        ck_assert(json_is_object(j));
        free(line);
        return j;
}

START_TEST(test_json_lines)
{
        log_set_format(LOG_FORMAT_JSON);
        for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
                const char *k;
                json_t *v, *j;
                log_warning("%s", tricky[i]);
                j = take_json();
                ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "warning");
                ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "ts")));
                ck_assert_msg(strcmp(json_string_value(json_object_get(j, "msg")), tricky[i]) == 0,
                              "case %zu", i);
                /* every value is a string */
                json_object_foreach(j, k, v) ck_assert_msg(json_is_string(v), "%s", k);
                ck_assert_uint_eq(json_object_size(j), 3);
                json_decref(j);
        }
}
END_TEST

START_TEST(test_json_fields_and_errno)
{
        LogContext ctx = { .method = "NodePublishVolume", .volume_id = "vol \"1\"" };
        const LogField f[] = { { "VAULT_PATH", "kv/data/a\nb" } };
        json_t *j;
        int r;

        log_set_format(LOG_FORMAT_JSON);
        log_context_push(&ctx);
        r = log_struct(LOG_LEVEL_ERR, ENOENT, f, 1, "failed: %m");
        log_context_pop(&ctx);
        ck_assert_int_eq(r, -ENOENT);
        j = take_json();
        ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "error");
        ck_assert_str_eq(json_string_value(json_object_get(j, "ERRNO")), "2");
        ck_assert_str_eq(json_string_value(json_object_get(j, "CSI_METHOD")), "NodePublishVolume");
        ck_assert_str_eq(json_string_value(json_object_get(j, "CSI_VOLUME_ID")), "vol \"1\"");
        ck_assert_str_eq(json_string_value(json_object_get(j, "VAULT_PATH")), "kv/data/a\nb");
        char want[128];
        (void)snprintf(want, sizeof(want), "failed: %s", strerror(ENOENT));
        ck_assert_str_eq(json_string_value(json_object_get(j, "msg")), want);
        json_decref(j);
}
END_TEST

/* ---- context ---- */

START_TEST(test_context_push_pop)
{
        LogContext outer = { .method = "NodePublishVolume",
                             .volume_id = "csi-abc",
                             .target_path = "/var/lib/kubelet/pods/u/volumes/x/mount",
                             .pod_namespace = "ns",
                             .pod_name = "", /* empty: left out */
                             .pod_uid = "uid-1",
                             .request_id = "42" };
        LogContext inner = { .method = "Inner" };
        char v[256], *line;

        ck_assert_ptr_null(log_context_current());
        log_context_push(&outer);
        ck_assert_ptr_eq(log_context_current(), &outer);
        log_info("in outer");
        line = take_one_line();
        ck_assert_ptr_nonnull(strstr(line,
                                     " msg=\"in outer\" CSI_METHOD=NodePublishVolume "
                                     "CSI_VOLUME_ID=csi-abc "
                                     "CSI_TARGET_PATH=/var/lib/kubelet/pods/u/volumes/x/mount "
                                     "POD_NAMESPACE=ns POD_UID=uid-1 REQUEST_ID=42"));
        ck_assert_ptr_null(strstr(line, "POD_NAME="));
        free(line);

        log_context_push(&inner);
        ck_assert_ptr_eq(log_context_current(), &inner);
        ck_assert_ptr_eq(inner.parent, &outer);
        log_info("in inner");
        line = take_one_line();
        ck_assert_int_gt(logfmt_parse(line, "CSI_METHOD", v, sizeof(v)), 0);
        ck_assert_str_eq(v, "Inner");
        ck_assert_ptr_null(strstr(line, "CSI_VOLUME_ID"));
        free(line);

        /* popping something that is not current changes nothing */
        log_context_pop(&outer);
        ck_assert_ptr_eq(log_context_current(), &inner);

        log_context_pop(&inner);
        ck_assert_ptr_eq(log_context_current(), &outer);
        log_info("back in outer");
        line = take_one_line();
        ck_assert_int_gt(logfmt_parse(line, "CSI_METHOD", v, sizeof(v)), 0);
        ck_assert_str_eq(v, "NodePublishVolume");
        free(line);

        log_context_pop(&outer);
        ck_assert_ptr_null(log_context_current());
        log_info("no context");
        line = take_one_line();
        ck_assert_ptr_null(strstr(line, "CSI_"));
        ck_assert_ptr_null(strstr(line, "REQUEST_ID"));
        free(line);
}
END_TEST

static void *other_thread(void *arg) {
        (void)arg;
        /* The main thread's context is invisible here. */
        if (log_context_current() != NULL)
                return (void *)1;
        log_info("from other thread");
        return NULL;
}

START_TEST(test_context_thread_local)
{
        LogContext ctx = { .method = "MainOnly" };
        pthread_t t;
        void *ret = (void *)2;
        char *line;

        log_context_push(&ctx);
        ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
        ck_assert_int_eq(pthread_join(t, &ret), 0);
        log_context_pop(&ctx);
        ck_assert_ptr_null(ret);
        line = take_one_line();
        ck_assert_ptr_nonnull(strstr(line, "from other thread"));
        ck_assert_ptr_null(strstr(line, "MainOnly"));
        free(line);
}
END_TEST

/* ---- sinks ---- */

typedef struct Seen {
        int calls, level, error, line;
        char message[256], fields[512];
} Seen;

static void test_sink(const LogRecord *r, void *userdata) {
        Seen *s = userdata;
        size_t off = 0;
        s->calls++;
        s->level = r->level;
        s->error = r->error;
        s->line = r->line;
        (void)snprintf(s->message, sizeof(s->message), "%s", r->message);
        s->fields[0] = '\0';
        for (size_t i = 0; i < r->n_fields; i++)
                off += (size_t)snprintf(s->fields + off, sizeof(s->fields) - off, "%s=%s;",
                                        r->fields[i].key, r->fields[i].value);
}

START_TEST(test_custom_sink)
{
        Seen seen = { 0 };
        LogContext ctx = { .method = "M", .request_id = "7" };
        const LogField f[] = { { "A", "1" }, { "B", "" }, { "C", "3" } };
        char *out;

        log_set_sink(test_sink, &seen);
        log_context_push(&ctx);
        int line = __LINE__ + 1;
        int r = log_struct(LOG_LEVEL_WARNING, -EPERM, f, 3, "n=%d", 5);
        log_context_pop(&ctx);
        ck_assert_int_eq(r, -EPERM);
        ck_assert_int_eq(seen.calls, 1);
        ck_assert_int_eq(seen.level, LOG_LEVEL_WARNING);
        ck_assert_int_eq(seen.error, EPERM); /* positive in the record */
        ck_assert_int_eq(seen.line, line);
        ck_assert_str_eq(seen.message, "n=5");
        /* context fields first, then the explicit ones; empty values left out */
        ck_assert_str_eq(seen.fields, "CSI_METHOD=M;REQUEST_ID=7;A=1;C=3;");

        /* the stderr sink saw nothing; restoring it brings output back */
        out = capture_take(NULL);
        ck_assert_str_eq(out, "");
        free(out);
        log_set_sink(NULL, NULL);
        log_info("back");
        out = take_one_line();
        ck_assert_ptr_nonnull(strstr(out, "msg=back"));
        free(out);
        ck_assert_int_eq(seen.calls, 1);
}
END_TEST

/* ---- errno ---- */

START_TEST(test_errno_return)
{
        char *out;

        ck_assert_int_eq(log_error_errno(EIO, "x"), -EIO);
        ck_assert_int_eq(log_error_errno(-EIO, "x"), -EIO);
        ck_assert_int_eq(log_warning_errno(ENOSPC, "x"), -ENOSPC);
        ck_assert_int_eq(log_info_errno(-EACCES, "x"), -EACCES);
        ck_assert_int_eq(log_error_errno(0, "x"), 0);
        out = capture_take(NULL);
        ck_assert_uint_eq(count_lines(out), 5);
        ck_assert_ptr_nonnull(strstr(out, " ERRNO=5"));
        ck_assert_ptr_nonnull(strstr(out, " ERRNO=28"));
        ck_assert_ptr_nonnull(strstr(out, " ERRNO=13"));
        free(out);

        /* disabled levels still return -errno, and write nothing */
        ck_assert_int_eq(log_debug_errno(EIO, "hidden"), -EIO);
        ck_assert_int_eq(log_debug_errno(-ENOENT, "hidden"), -ENOENT);
        out = capture_take(NULL);
        ck_assert_str_eq(out, "");
        free(out);
}
END_TEST

START_TEST(test_percent_m)
{
        char want[256], got[256], *line;

        errno = EBADF;
        log_error_errno(ENOENT, "open failed: %m");
        ck_assert_int_eq(errno, EBADF); /* errno survives logging */
        line = take_one_line();
        ck_assert_int_eq(logfmt_parse(line, "msg", got, sizeof(got)), 4);
        (void)snprintf(want, sizeof(want), "open failed: %s", strerror(ENOENT));
        ck_assert_str_eq(got, want);
        free(line);

        /* negative error: same */
        log_error_errno(-EACCES, "%m");
        line = take_one_line();
        ck_assert_int_gt(logfmt_parse(line, "msg", got, sizeof(got)), 0);
        ck_assert_str_eq(got, strerror(EACCES));
        free(line);

        /* without an error, %m is the caller's errno */
        errno = EROFS;
        log_error("plain: %m");
        ck_assert_int_eq(errno, EROFS);
        line = take_one_line();
        ck_assert_int_gt(logfmt_parse(line, "msg", got, sizeof(got)), 0);
        (void)snprintf(want, sizeof(want), "plain: %s", strerror(EROFS));
        ck_assert_str_eq(got, want);
        ck_assert_ptr_null(strstr(line, "ERRNO"));
        free(line);
}
END_TEST

/* ---- concurrency: one write per record ---- */

/*
 * The writers log into a pipe, as a container runtime's stderr is one, with
 * a reader thread draining it. (A memfd does not serialise the file
 * position between concurrent write()s, so it would lose records for
 * reasons that have nothing to do with the logger.)
 */
typedef struct PipeCapture {
        int rfd;
        size_t chunk;
        char *buf;
        size_t len, cap;
} PipeCapture;

static void *pipe_reader(void *arg) {
        PipeCapture *pc = arg;
        for (;;) {
                ssize_t n;
                if (pc->cap - pc->len < pc->chunk + 1) {
                        pc->cap = pc->cap * 2 + pc->chunk + 1;
                        pc->buf = realloc(pc->buf, pc->cap);
                        if (!pc->buf)
                                return (void *)1;
                }
                n = read(pc->rfd, pc->buf + pc->len, pc->chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                pc->len += (size_t)n;
        }
        pc->buf[pc->len] = '\0';
        return NULL;
}

#define N_THREADS 8

typedef struct Writer {
        int t, lines;
        size_t min_pad, spread;
} Writer;

static size_t pad_len(const Writer *w, int seq) {
        return w->min_pad + (size_t)(seq * 37 + w->t * 101) % w->spread;
}

static void *writer(void *arg) {
        Writer *w = arg;
        char method[16], *pad = malloc(w->min_pad + w->spread + 1);
        LogContext ctx = { .method = method };

        if (!pad)
                return (void *)1;
        (void)snprintf(method, sizeof(method), "T%d", w->t);
        log_context_push(&ctx);
        for (int i = 0; i < w->lines; i++) {
                /* lengths vary, so writes straddle pipe pages at random points */
                size_t n = pad_len(w, i);
                LogField f = { "PAD", pad };
                memset(pad, 'a' + w->t, n);
                pad[n] = '\0';
                log_struct(LOG_LEVEL_INFO, 0, &f, 1, "thread=%d seq=%d \"x\"\n", w->t, i);
        }
        log_context_pop(&ctx);
        free(pad);
        return NULL;
}

static void run_writers(int lines, size_t min_pad, size_t spread, int pipe_size,
                        size_t read_chunk) {
        pthread_t th[N_THREADS], rd;
        Writer w[N_THREADS];
        PipeCapture pc = { .chunk = read_chunk };
        int next[N_THREADS] = { 0 }, p[2];
        size_t n_lines = 0;
        char *save = NULL;
        void *ret = NULL;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        if (pipe_size > 0)
                ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, pipe_size), pipe_size);
        pc.rfd = p[0];
        ck_assert_int_eq(pthread_create(&rd, NULL, pipe_reader, &pc), 0);
        log_set_format(LOG_FORMAT_JSON);
        log_set_stderr_fd(p[1]);
        for (int t = 0; t < N_THREADS; t++) {
                w[t] = (Writer){ .t = t, .lines = lines, .min_pad = min_pad, .spread = spread };
                ck_assert_int_eq(pthread_create(&th[t], NULL, writer, &w[t]), 0);
        }
        for (int t = 0; t < N_THREADS; t++) {
                ck_assert_int_eq(pthread_join(th[t], &ret), 0);
                ck_assert_ptr_null(ret);
        }
        log_set_stderr_fd(cap_fd);
        close(p[1]);
        ck_assert_int_eq(pthread_join(rd, &ret), 0);
        ck_assert_ptr_null(ret);
        close(p[0]);

        ck_assert_uint_eq(count_lines(pc.buf), (size_t)N_THREADS * (size_t)lines);
        for (char *line = strtok_r(pc.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_error_t e;
                json_t *j = json_loads(line, 0, &e);
                int t, seq, n = 0;
                const char *msg, *m, *pad;

                ck_assert_msg(j != NULL, "line %zu is not JSON (%s): %.200s", n_lines, e.text,
                              line);
                msg = json_string_value(json_object_get(j, "msg"));
                m = json_string_value(json_object_get(j, "CSI_METHOD"));
                pad = json_string_value(json_object_get(j, "PAD"));
                ck_assert_ptr_nonnull(msg);
                ck_assert_ptr_nonnull(m);
                ck_assert_int_eq(sscanf(msg, "thread=%d seq=%d \"x\"\n%n", &t, &seq, &n), 2);
                ck_assert_uint_eq(strlen(msg), (size_t)n);
                ck_assert(t >= 0 && t < N_THREADS);
                ck_assert_int_eq(atoi(m + 1), t); /* context of the writing thread */
                ck_assert_int_eq(seq, next[t]);   /* per-thread order kept */
                next[t]++;
                size_t padn = pad_len(&w[t], seq);
                if (padn == 0)
                        ck_assert_ptr_null(pad); /* empty fields are left out */
                else {
                        ck_assert_ptr_nonnull(pad);
                        ck_assert_uint_eq(strlen(pad), padn);
                        for (size_t k = 0; k < padn; k++)
                                ck_assert_int_eq(pad[k], 'a' + t);
                }
                json_decref(j);
                n_lines++;
        }
        ck_assert_uint_eq(n_lines, (size_t)N_THREADS * (size_t)lines);
        for (int t = 0; t < N_THREADS; t++)
                ck_assert_int_eq(next[t], lines);
        free(pc.buf);
}

/* valgrind serialises threads and is ~50x slower: fewer records there */
static int scaled(int n) {
        return getenv("VAULTMOUNT_UNDER_VALGRIND") ? n / 10 : n;
}

START_TEST(test_threads_no_interleave)
{
        /* 8 threads x 500 records of up to ~1.1 KiB */
        run_writers(scaled(500), 0, 1100, 0, 65536);
}
END_TEST

START_TEST(test_threads_no_interleave_big_records)
{
        /*
         * Records of 5-9 KiB, larger than PIPE_BUF, into a small pipe that a
         * reader drains in small reads: the kernel only keeps writes up to
         * PIPE_BUF atomic, so this needs the logger itself to serialise.
         */
        run_writers(scaled(150), 5000, 4000, 4096, 512);
}
END_TEST

/* ---- truncation ---- */

#define LOG_LINE_MAX_EXPECTED 16384

START_TEST(test_long_message_truncated)
{
        size_t big = 20000;
        char *msg = malloc(big + 1), *line, got[8192];

        memset(msg, 'm', big);
        msg[big] = '\0';
        log_info("%s", msg);
        line = take_one_line();
        ck_assert_uint_lt(strlen(line), LOG_LINE_MAX_EXPECTED);
        ck_assert_int_eq(logfmt_parse(line, "msg", got, sizeof(got)), 3);
        /* the message is cut at the message buffer (4 KiB), not overflowed */
        ck_assert_uint_gt(strlen(got), 1000);
        ck_assert_uint_lt(strlen(got), 4097);
        for (const char *p = got; *p; p++)
                ck_assert_int_eq(*p, 'm');
        free(line);
        free(msg);
}
END_TEST

/* A line whose escaped form exceeds the line buffer: control bytes take 4
 * (logfmt) or 6 (JSON) bytes each, and there are many fields. */
static void log_overlong_record(void) {
        char *msg = malloc(5000), *val = malloc(3000);
        LogField f[8];
        memset(msg, '\x01', 4999);
        msg[4999] = '\0';
        memset(val, '"', 2999);
        val[2999] = '\0';
        for (size_t i = 0; i < 8; i++)
                f[i] = (LogField){ "FIELD", val };
        log_struct(LOG_LEVEL_INFO, 0, f, 8, "%s", msg);
        free(msg);
        free(val);
}

START_TEST(test_overlong_logfmt_stays_well_formed)
{
        char *line;
        log_overlong_record();
        line = take_one_line();
        ck_assert_uint_lt(strlen(line), LOG_LINE_MAX_EXPECTED);
        /* truncated, but still one parseable logfmt record that says so */
        ck_assert_msg(logfmt_parse(line, "TRUNCATED", NULL, 0) > 0,
                      "truncated logfmt record is malformed (tail: '%s')",
                      line + strlen(line) - (strlen(line) > 60 ? 60 : strlen(line)));
        free(line);
}
END_TEST

/* A plain value longer than the line is cut where the line ends: its
 * prefix is kept (plain bytes are copied in runs, and a run is cut, not
 * dropped whole). */
START_TEST(test_overlong_plain_value_keeps_its_prefix)
{
        char *val = malloc(20001), *line, *got = malloc(LOG_LINE_MAX_EXPECTED);
        LogField f = { "FIELD", val };
        memset(val, 'v', 20000);
        val[20000] = '\0';
        log_struct(LOG_LEVEL_INFO, 0, &f, 1, "plain");
        line = take_one_line();
        ck_assert_uint_lt(strlen(line), LOG_LINE_MAX_EXPECTED);
        ck_assert_msg(logfmt_parse(line, "TRUNCATED", NULL, 0) > 0, "no TRUNCATED=1");
        ck_assert_int_gt(logfmt_parse(line, "FIELD", got, LOG_LINE_MAX_EXPECTED), 0);
        ck_assert_uint_gt(strlen(got), LOG_LINE_MAX_EXPECTED - 200);
        for (const char *p = got; *p; p++)
                ck_assert_int_eq(*p, 'v');
        free(line);
        free(got);
        free(val);
}
END_TEST

START_TEST(test_overlong_json_stays_valid)
{
        json_t *j;
        log_set_format(LOG_FORMAT_JSON);
        log_overlong_record();
        /* one line, and still a JSON object (the record is cut, not the syntax) */
        j = take_json();
        ck_assert_ptr_nonnull(json_object_get(j, "msg"));
        json_decref(j);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("log");
        TCase *tc;

        tc = tcase_create("levels");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_level_filter);
        tcase_add_test(tc, test_level_clamp);
        tcase_add_test(tc, test_level_strings);
        suite_add_tcase(s, tc);

        tc = tcase_create("logfmt");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_logfmt_shape);
        tcase_add_test(tc, test_logfmt_escaping);
        tcase_add_test(tc, test_logfmt_quoting_exact);
        tcase_add_test(tc, test_logfmt_fields);
        tcase_add_test(tc, test_code_location_at_debug);
        suite_add_tcase(s, tc);

        tc = tcase_create("json");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_json_lines);
        tcase_add_test(tc, test_json_fields_and_errno);
        suite_add_tcase(s, tc);

        tc = tcase_create("context");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_context_push_pop);
        tcase_add_test(tc, test_context_thread_local);
        suite_add_tcase(s, tc);

        tc = tcase_create("sink");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_custom_sink);
        suite_add_tcase(s, tc);

        tc = tcase_create("errno");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_errno_return);
        tcase_add_test(tc, test_percent_m);
        suite_add_tcase(s, tc);

        tc = tcase_create("threads");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_threads_no_interleave);
        tcase_add_test(tc, test_threads_no_interleave_big_records);
        suite_add_tcase(s, tc);

        tc = tcase_create("truncation");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_long_message_truncated);
        tcase_add_test(tc, test_overlong_logfmt_stays_well_formed);
        tcase_add_test(tc, test_overlong_plain_value_keeps_its_prefix);
        tcase_add_test(tc, test_overlong_json_stays_valid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
