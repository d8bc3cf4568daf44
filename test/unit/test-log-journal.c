/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-log-journal.c - the log core's issue-5 parts: the journald sink, the
 * choice of target, and rate limiting.
 *
 *  - journald sink: each test runs in a private mount namespace with a
 *    tmpfs over /run and our own datagram socket at
 *    /run/systemd/journal/socket, so the exact native-protocol datagram
 *    libsystemd sends is read back and parsed (field names, values with
 *    newlines in the binary form, invalid and reserved names dropped). With
 *    the socket gone, records fall back to the stderr sink.
 *  - targets: names, $JOURNAL_STREAM matching against the stderr fd
 *    (device:inode), AUTO resolution.
 *  - rate limiting with an injectable clock: the burst, suppression, the
 *    count reported by the next record of that key or by a flush, keys by
 *    (message text, call site), eviction, info never limited, and 8 threads
 *    hammering one key without losing a count.
 *
 * Needs root for the mount namespace (CI runs as root).
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log-ids.h"
#include "log.h"

#include <check.h>

#include "testutil.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* ---- a private /run with our own journal socket ---- */

static int jsock = -1;

static void private_run(void) {
        static bool done;
        if (done)
                return; /* CK_FORK=no: once per process */
        ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s (needs root)",
                      strerror(errno));
        /* type and source are ignored for MS_PRIVATE; valgrind wants them set */
        ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"), 0);
        ck_assert_int_eq(mkdir("/run/systemd", 0755), 0);
        ck_assert_int_eq(mkdir("/run/systemd/journal", 0755), 0);
        done = true;
}

static void journal_setup(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        private_run();
        (void)unlink(JOURNAL_SOCKET);
        jsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(jsock, 0);
        ck_assert_int_eq(bind(jsock, (struct sockaddr *)&sa, sizeof(sa)), 0);
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_ratelimit_configure(0, 0, NULL);
}

static void journal_teardown(void) {
        log_set_sink(NULL, NULL);
        log_set_stderr_fd(-1);
        log_set_max_level(LOG_LEVEL_INFO);
        if (jsock >= 0)
                close(jsock);
        jsock = -1;
        (void)unlink(JOURNAL_SOCKET);
}

/* One received entry: up to 64 fields, values copied and NUL-terminated. */
typedef struct Entry {
        size_t n;
        char *key[64];
        char *value[64];
        size_t value_len[64];
        bool binary[64];
} Entry;

static void entry_free(Entry *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->key[i]);
                free(e->value[i]);
        }
        e->n = 0;
}

/* Parses journald's native protocol: KEY=value\n, or KEY\n<le64 size><data>\n. */
static void receive(Entry *e) {
        static uint8_t buf[65536];
        ssize_t n = recv(jsock, buf, sizeof(buf), MSG_DONTWAIT);
        size_t i = 0;

        ck_assert_msg(n > 0, "no datagram on the journal socket: %s", strerror(errno));
        memset(e, 0, sizeof(*e));
        while (i < (size_t)n) {
                size_t k = i, vl;
                const uint8_t *v;
                bool bin;
                while (k < (size_t)n && buf[k] != '=' && buf[k] != '\n')
                        k++;
                ck_assert(k < (size_t)n);
                bin = buf[k] == '\n';
                if (bin) {
                        uint64_t le = 0;
                        ck_assert(k + 9 <= (size_t)n);
                        for (int b = 7; b >= 0; b--)
                                le = le << 8 | buf[k + 1 + b];
                        vl = (size_t)le;
                        v = buf + k + 9;
                        ck_assert(k + 9 + vl < (size_t)n && v[vl] == '\n');
                } else {
                        v = buf + k + 1;
                        vl = 0;
                        while (k + 1 + vl < (size_t)n && v[vl] != '\n')
                                vl++;
                }
                ck_assert_uint_lt(e->n, 64);
                e->key[e->n] = strndup((const char *)buf + i, k - i);
                e->value[e->n] = malloc(vl + 1);
                memcpy(e->value[e->n], v, vl);
                e->value[e->n][vl] = '\0';
                e->value_len[e->n] = vl;
                e->binary[e->n] = bin;
                e->n++;
                i = (size_t)(v - buf) + vl + 1;
        }
}

static const char *get(const Entry *e, const char *key) {
        for (size_t i = 0; i < e->n; i++)
                if (strcmp(e->key[i], key) == 0)
                        return e->value[i];
        return NULL;
}

static size_t count(const Entry *e, const char *key) {
        size_t c = 0;
        for (size_t i = 0; i < e->n; i++)
                c += strcmp(e->key[i], key) == 0;
        return c;
}

START_TEST(test_journal_fields)
{
        LogContext ctx = { .method = "NodePublishVolume",
                           .volume_id = "csi-vol-1",
                           .target_path = "/var/lib/kubelet/pods/u/volumes/x/mount",
                           .pod_namespace = "shop",
                           .pod_name = "web-0",
                           .pod_uid = "uid-1" };
        const LogField f[] = {
                { "VAULT_SERVER", "default" },
                { "VAULT_PATH", "secret/data/app" },
                { "GRPC_CODE", "14" },
                { "DURATION_MS", "12.5" },
                { "MESSAGE_ID", LOG_MESSAGE_PUBLISH_FAILED },
                { "MULTI", "line one\nline two" },
                { "lower", "dropped" },
                { "_TRUSTED", "dropped" },
                { "9LIVES", "dropped" },
                { "MESSAGE", "dropped" },
                { "PRIORITY", "dropped" },
                { "EMPTY", "" },
        };
        Entry e;
        int line;

        log_set_sink(log_sink_journal, NULL);
        log_context_push(&ctx);
        ck_assert_uint_eq(sizeof(f) / sizeof(f[0]), 12);
        /* one line: compilers differ on __LINE__ in a macro call spanning lines */
        line = __LINE__ + 1;
        log_struct(LOG_LEVEL_ERR, EHOSTUNREACH, f, 12, "publish failed: %s", "unreachable");
        log_context_pop(&ctx);

        receive(&e);
        ck_assert_str_eq(get(&e, "PRIORITY"), "3");
        ck_assert_str_eq(get(&e, "MESSAGE"), "publish failed: unreachable");
        ck_assert_str_eq(get(&e, "SYSLOG_IDENTIFIER"), "vaultmountd");
        ck_assert_ptr_nonnull(strstr(get(&e, "CODE_FILE"), "test-log-journal.c"));
        ck_assert_int_eq(atoi(get(&e, "CODE_LINE")), line);
        ck_assert_str_eq(get(&e, "CODE_FUNC"), "test_journal_fields_fn");
        /* once each: libsystemd must not add its own location */
        ck_assert_uint_eq(count(&e, "CODE_FILE"), 1);
        ck_assert_uint_eq(count(&e, "CODE_LINE"), 1);
        ck_assert_uint_eq(count(&e, "CODE_FUNC"), 1);
        ck_assert_int_eq(atoi(get(&e, "ERRNO")), EHOSTUNREACH);
        ck_assert_str_eq(get(&e, "CSI_METHOD"), "NodePublishVolume");
        ck_assert_str_eq(get(&e, "CSI_VOLUME_ID"), "csi-vol-1");
        ck_assert_str_eq(get(&e, "CSI_TARGET_PATH"), "/var/lib/kubelet/pods/u/volumes/x/mount");
        ck_assert_str_eq(get(&e, "POD_NAMESPACE"), "shop");
        ck_assert_str_eq(get(&e, "POD_NAME"), "web-0");
        ck_assert_str_eq(get(&e, "POD_UID"), "uid-1");
        ck_assert_str_eq(get(&e, "VAULT_SERVER"), "default");
        ck_assert_str_eq(get(&e, "VAULT_PATH"), "secret/data/app");
        ck_assert_str_eq(get(&e, "GRPC_CODE"), "14");
        ck_assert_str_eq(get(&e, "DURATION_MS"), "12.5");
        ck_assert_str_eq(get(&e, "MESSAGE_ID"), LOG_MESSAGE_PUBLISH_FAILED);
        /* a value with a newline travels in the binary form, intact */
        ck_assert_str_eq(get(&e, "MULTI"), "line one\nline two");
        for (size_t i = 0; i < e.n; i++)
                if (strcmp(e.key[i], "MULTI") == 0)
                        ck_assert(e.binary[i]);
        /* invalid and reserved names are dropped, empty values left out */
        ck_assert_ptr_null(get(&e, "lower"));
        ck_assert_ptr_null(get(&e, "_TRUSTED"));
        ck_assert_ptr_null(get(&e, "9LIVES"));
        ck_assert_ptr_null(get(&e, "EMPTY"));
        ck_assert_uint_eq(count(&e, "MESSAGE"), 1);
        ck_assert_uint_eq(count(&e, "PRIORITY"), 1);
        for (size_t i = 0; i < e.n; i++)
                ck_assert_msg(strcmp(e.value[i], "dropped") != 0, "%s came through", e.key[i]);
        entry_free(&e);

        /* a custom identifier, and no ERRNO without an error */
        log_set_sink(log_sink_journal, (void *)"other-id");
        log_info("plain");
        receive(&e);
        ck_assert_str_eq(get(&e, "SYSLOG_IDENTIFIER"), "other-id");
        ck_assert_str_eq(get(&e, "PRIORITY"), "6");
        ck_assert_ptr_null(get(&e, "ERRNO"));
        ck_assert_ptr_null(get(&e, "CSI_METHOD"));
        entry_free(&e);
}
END_TEST

START_TEST(test_journal_scrubbed_and_multiline_message)
{
        Entry e;
        log_set_target(LOG_TARGET_JOURNAL);
        log_warning("first\nsecond with hvs.CAESIJlWeFxZq3wYd0zJpS1dG2eB0r9gFv7yKqL4nA6m");
        receive(&e);
        ck_assert_str_eq(get(&e, "MESSAGE"), "first\nsecond with " LOG_TOKEN_MARKER);
        ck_assert_str_eq(get(&e, "PRIORITY"), "4");
        entry_free(&e);
}
END_TEST

static char *read_fd(int fd) {
        static char buf[65536];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        ck_assert_int_ge(n, 0);
        buf[n] = '\0';
        return strdup(buf);
}

START_TEST(test_journal_unreachable_falls_back_to_stderr)
{
        int cap = memfd_create("stderr", MFD_CLOEXEC);
        char *out;

        ck_assert_int_ge(cap, 0);
        log_set_stderr_fd(cap);
        log_set_target(LOG_TARGET_JOURNAL);
        close(jsock);
        jsock = -1;
        ck_assert_int_eq(unlink(JOURNAL_SOCKET), 0);
        log_error("no socket");
        out = read_fd(cap);
        ck_assert_ptr_nonnull(strstr(out, "level=error msg=\"no socket\""));
        free(out);

        /* a socket file nobody listens on (journald stopped) */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
                int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                close(fd);
        }
        log_error("nobody listens");
        out = read_fd(cap);
        ck_assert_ptr_nonnull(strstr(out, "level=error msg=\"nobody listens\""));
        free(out);
        close(cap);
}
END_TEST

/* ---- targets ---- */

START_TEST(test_target_names)
{
        ck_assert_int_eq(log_target_from_string("auto"), LOG_TARGET_AUTO);
        ck_assert_int_eq(log_target_from_string("stderr"), LOG_TARGET_STDERR);
        ck_assert_int_eq(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        ck_assert_int_eq(log_target_from_string("journald"), -EINVAL);
        ck_assert_int_eq(log_target_from_string("Journal"), -EINVAL);
        ck_assert_int_eq(log_target_from_string(""), -EINVAL);
        ck_assert_int_eq(log_target_from_string(NULL), -EINVAL);
        ck_assert_str_eq(log_target_to_string(LOG_TARGET_AUTO), "auto");
        ck_assert_str_eq(log_target_to_string(LOG_TARGET_STDERR), "stderr");
        ck_assert_str_eq(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        ck_assert_str_eq(log_target_to_string(_LOG_TARGET_MAX), "unknown");
        ck_assert_str_eq(log_target_to_string((LogTarget)-1), "unknown");
}
END_TEST

START_TEST(test_journal_stream_matching)
{
        int p[2];
        struct stat st;
        char good[64], other_ino[64], other_dev[64];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(fstat(p[1], &st), 0);
        (void)snprintf(good, sizeof(good), "%llu:%llu", (unsigned long long)st.st_dev,
                       (unsigned long long)st.st_ino);
        (void)snprintf(other_ino, sizeof(other_ino), "%llu:%llu", (unsigned long long)st.st_dev,
                       (unsigned long long)st.st_ino + 1);
        (void)snprintf(other_dev, sizeof(other_dev), "%llu:%llu", (unsigned long long)st.st_dev + 1,
                       (unsigned long long)st.st_ino);

        ck_assert(log_journal_stream_matches(good, p[1]));
        ck_assert(log_journal_stream_matches(good, p[0])); /* both ends: one pipe inode */
        ck_assert(!log_journal_stream_matches(other_ino, p[1]));
        ck_assert(!log_journal_stream_matches(other_dev, p[1]));
        ck_assert(!log_journal_stream_matches(good, -1));
        static const char *const bad[] = {
                "",      ":",    "1:",   ":1",   "a:b",
                "1:2:3", "-1:5", " 1:2", "1 :2", "99999999999999999999999:1",
                "12"
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!log_journal_stream_matches(bad[i], p[1]), "'%s'", bad[i]);
        ck_assert(!log_journal_stream_matches(NULL, p[1]));

        /* AUTO follows the stderr sink's fd */
        log_set_stderr_fd(p[1]);
        ck_assert_int_eq(log_target_resolve(LOG_TARGET_AUTO, good), LOG_TARGET_JOURNAL);
        ck_assert_int_eq(log_target_resolve(LOG_TARGET_AUTO, other_ino), LOG_TARGET_STDERR);
        ck_assert_int_eq(log_target_resolve(LOG_TARGET_AUTO, NULL), LOG_TARGET_STDERR);
        ck_assert_int_eq(log_target_resolve(LOG_TARGET_STDERR, good), LOG_TARGET_STDERR);
        ck_assert_int_eq(log_target_resolve(LOG_TARGET_JOURNAL, NULL), LOG_TARGET_JOURNAL);
        log_set_stderr_fd(-1);
        close(p[0]);
        close(p[1]);
}
END_TEST

/* ---- rate limiting ---- */

static uint64_t fake_now;
static uint64_t fake_clock(void) {
        return fake_now;
}

typedef struct Rec {
        int level, line;
        char message[512];
        unsigned suppressed; /* SUPPRESSED=, 0 when absent */
} Rec;

static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;
static Rec recs[4096];
static size_t n_recs;

static void rec_sink(const LogRecord *r, void *userdata) {
        (void)userdata;
        pthread_mutex_lock(&recs_lock);
        if (n_recs < sizeof(recs) / sizeof(recs[0])) {
                Rec *x = &recs[n_recs++];
                x->level = r->level;
                x->line = r->line;
                (void)snprintf(x->message, sizeof(x->message), "%s", r->message);
                x->suppressed = 0;
                for (size_t i = 0; i < r->n_fields; i++)
                        if (strcmp(r->fields[i].key, "SUPPRESSED") == 0)
                                x->suppressed = (unsigned)atoi(r->fields[i].value);
        }
        pthread_mutex_unlock(&recs_lock);
}

static void rate_setup(void) {
        fake_now = 1000000;
        n_recs = 0;
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_set_sink(rec_sink, NULL);
        log_ratelimit_configure(30000000, 10, fake_clock);
        n_recs = 0;
}

static void rate_teardown(void) {
        log_ratelimit_configure(0, 0, NULL);
        log_set_sink(NULL, NULL);
        log_set_max_level(LOG_LEVEL_INFO);
}

/* One call site for every "Vault is down" record. */
static void vault_down(const char *server) {
        log_warning("cannot reach Vault server '%s'", server);
}

START_TEST(test_burst_then_suppressed_then_reported)
{
        for (int i = 0; i < 25; i++)
                vault_down("a");
        ck_assert_uint_eq(n_recs, 10);
        for (size_t i = 0; i < n_recs; i++) {
                ck_assert_str_eq(recs[i].message, "cannot reach Vault server 'a'");
                ck_assert_uint_eq(recs[i].suppressed, 0);
        }
        /* still inside the window: suppressed */
        fake_now += 29999999;
        vault_down("a");
        ck_assert_uint_eq(n_recs, 10);
        /* a new window: the next record says how many were suppressed */
        fake_now += 1;
        vault_down("a");
        ck_assert_uint_eq(n_recs, 11);
        ck_assert_str_eq(recs[10].message,
                         "cannot reach Vault server 'a' (16 similar messages suppressed)");
        ck_assert_uint_eq(recs[10].suppressed, 16);
        ck_assert_int_eq(recs[10].level, LOG_LEVEL_WARNING);
        /* and the count starts again */
        for (int i = 0; i < 9; i++)
                vault_down("a");
        ck_assert_uint_eq(n_recs, 20);
        ck_assert_uint_eq(recs[19].suppressed, 0);
        vault_down("a");
        ck_assert_uint_eq(n_recs, 20);
}
END_TEST

START_TEST(test_keys_are_message_and_call_site)
{
        for (int i = 0; i < 15; i++) {
                vault_down("a");
                vault_down("b");                              /* other text, same site */
                log_warning("cannot reach Vault server 'a'"); /* same text, other site */
        }
        ck_assert_uint_eq(n_recs, 30);
}
END_TEST

START_TEST(test_info_and_debug_never_limited)
{
        for (int i = 0; i < 100; i++) {
                log_info("same info");
                log_debug("same debug");
                log_notice("same notice");
        }
        ck_assert_uint_eq(n_recs, 300);
        for (int i = 0; i < 100; i++)
                log_error("same error");
        ck_assert_uint_eq(n_recs, 310);
}
END_TEST

START_TEST(test_flush)
{
        for (int i = 0; i < 14; i++)
                vault_down("a");
        ck_assert_uint_eq(n_recs, 10);
        /* nothing due yet */
        ck_assert_uint_eq(log_ratelimit_flush(false), 0);
        ck_assert_uint_eq(n_recs, 10);
        fake_now += 30000000;
        ck_assert_uint_eq(log_ratelimit_flush(false), 1);
        ck_assert_uint_eq(n_recs, 11);
        ck_assert_str_eq(recs[10].message,
                         "cannot reach Vault server 'a' (4 similar messages suppressed)");
        ck_assert_uint_eq(recs[10].suppressed, 4);
        ck_assert_int_eq(recs[10].level, LOG_LEVEL_WARNING);
        /* reported once only */
        ck_assert_uint_eq(log_ratelimit_flush(true), 0);
        /* the key was forgotten with its window: a fresh burst */
        for (int i = 0; i < 12; i++)
                vault_down("a");
        ck_assert_uint_eq(n_recs, 21);
        ck_assert_uint_eq(recs[11].suppressed, 0);
        /* at shutdown, pending counts are reported even inside the window */
        ck_assert_uint_eq(log_ratelimit_flush(true), 1);
        ck_assert_uint_eq(recs[21].suppressed, 2);
        ck_assert_uint_eq(log_ratelimit_flush(true), 0);
}
END_TEST

START_TEST(test_eviction_reports)
{
        char server[32];
        for (int i = 0; i < 12; i++)
                vault_down("first");
        ck_assert_uint_eq(n_recs, 10);
        /* LOG_RATELIMIT_KEYS other keys, later: "first" is the oldest and is evicted */
        for (int k = 0; k < LOG_RATELIMIT_KEYS; k++) {
                fake_now += 1;
                (void)snprintf(server, sizeof(server), "s%d", k);
                vault_down(server);
        }
        size_t found = 0;
        for (size_t i = 0; i < n_recs; i++)
                if (recs[i].suppressed > 0) {
                        ck_assert_str_eq(recs[i].message, "cannot reach Vault server 'first' "
                                                          "(2 similar messages suppressed)");
                        ck_assert_uint_eq(recs[i].suppressed, 2);
                        found++;
                }
        ck_assert_uint_eq(found, 1);
        ck_assert_uint_eq(n_recs, 10 + LOG_RATELIMIT_KEYS + 1);
}
END_TEST

START_TEST(test_configure_reports_pending)
{
        for (int i = 0; i < 13; i++)
                vault_down("a");
        log_ratelimit_configure(30000000, 10, fake_clock);
        ck_assert_uint_eq(n_recs, 11);
        ck_assert_uint_eq(recs[10].suppressed, 3);
        /* burst and window are configurable */
        log_ratelimit_configure(1000, 2, fake_clock);
        n_recs = 0;
        for (int i = 0; i < 5; i++)
                vault_down("b");
        ck_assert_uint_eq(n_recs, 2);
        fake_now += 1000;
        vault_down("b");
        ck_assert_uint_eq(n_recs, 3);
        ck_assert_uint_eq(recs[2].suppressed, 3);
}
END_TEST

#define N_THREADS  8
#define PER_THREAD 2000

static void *hammer(void *arg) {
        (void)arg;
        for (int i = 0; i < PER_THREAD; i++)
                vault_down("shared");
        return NULL;
}

START_TEST(test_threads_lose_no_count)
{
        pthread_t th[N_THREADS];
        unsigned emitted = 0, suppressed = 0;

        for (int t = 0; t < N_THREADS; t++)
                ck_assert_int_eq(pthread_create(&th[t], NULL, hammer, NULL), 0);
        for (int t = 0; t < N_THREADS; t++)
                ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        (void)log_ratelimit_flush(true);
        for (size_t i = 0; i < n_recs; i++) {
                if (recs[i].suppressed > 0)
                        suppressed += recs[i].suppressed;
                else
                        emitted++;
        }
        ck_assert_uint_eq(emitted, 10);
        ck_assert_uint_eq(emitted + suppressed, N_THREADS * PER_THREAD);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("log-journal");
        TCase *tc;

        tc = tcase_create("journal");
        tcase_add_checked_fixture(tc, journal_setup, journal_teardown);
        tcase_add_test(tc, test_journal_fields);
        tcase_add_test(tc, test_journal_scrubbed_and_multiline_message);
        tcase_add_test(tc, test_journal_unreachable_falls_back_to_stderr);
        suite_add_tcase(s, tc);

        tc = tcase_create("targets");
        tcase_add_test(tc, test_target_names);
        tcase_add_test(tc, test_journal_stream_matching);
        suite_add_tcase(s, tc);

        tc = tcase_create("ratelimit");
        tcase_add_checked_fixture(tc, rate_setup, rate_teardown);
        tcase_add_test(tc, test_burst_then_suppressed_then_reported);
        tcase_add_test(tc, test_keys_are_message_and_call_site);
        tcase_add_test(tc, test_info_and_debug_never_limited);
        tcase_add_test(tc, test_flush);
        tcase_add_test(tc, test_eviction_reports);
        tcase_add_test(tc, test_configure_reports_pending);
        tcase_add_test(tc, test_threads_lose_no_count);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
