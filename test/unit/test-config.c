/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-config.c - config_load() with crafted argv, envp and temp files:
 * precedence (default < file < environment < flag), error messages that
 * name their origin, file-format errors, endpoint and driver-name rules,
 * node-id fallback, the modes (probe, --check-config, --help, --version),
 * warnings, config_print/config_print_help, and config_done() freeing
 * everything (valgrind runs this suite).
 */
#undef NDEBUG
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "ytree.h"

#include <check.h>

#include "testutil.h"

#define SEC 1000000ULL

static char tmpdir[64];

static void setup(void) {
        (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-config-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void teardown(void) {
        if (tmpdir[0])
                (void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        tmpdir[0] = '\0';
}

/* Writes tmpdir/name; returns the path (static buffer per slot). */
static const char *write_file(const char *name, const char *content) {
        static char paths[4][PATH_MAX];
        static int slot;
        char *p = paths[slot++ % 4];
        FILE *f;

        (void)snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(content, f) >= 0 || content[0] == '\0', 1);
        ck_assert_int_eq(fclose(f), 0);
        return p;
}

/*
 * Runs config_load with argv = {"vaultmountd", args..., NULL} and the given
 * environment. argv strings are writable copies (getopt permutes argv, and
 * probe mode rewrites it); `keep` remembers them for freeing.
 */
#define MAX_ARGS 32
typedef struct Load {
        Config c;
        char err[CONFIG_ERROR_MAX];
        int r;
} Load;

static int load_into(Load *l, const char *const *args, const char *const *env) {
        char *argv[MAX_ARGS + 2], *keep[MAX_ARGS + 2], *envp[MAX_ARGS + 1];
        int argc = 0, n_env = 0;

        argv[argc++] = strdup("vaultmountd");
        for (; args && *args; args++) {
                ck_assert_int_lt(argc, MAX_ARGS);
                argv[argc++] = strdup(*args);
        }
        argv[argc] = NULL;
        memcpy(keep, argv, sizeof(argv));
        for (; env && *env; env++) {
                ck_assert_int_lt(n_env, MAX_ARGS);
                envp[n_env++] = strdup(*env);
        }
        envp[n_env] = NULL;

        memset(l->err, 'Z', sizeof(l->err));
        l->err[sizeof(l->err) - 1] = '\0';
        l->r = config_load(&l->c, argc, argv, envp, l->err, sizeof(l->err));

        for (int i = 0; i < argc; i++)
                free(keep[i]);
        for (int i = 0; i < n_env; i++)
                free(envp[i]);
        return l->r;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...)  ((const char *const[]){ __VA_ARGS__, NULL })
#define NOENV     ((const char *const[]){ NULL })

/* Asserts success, with the error text in the failure message. */
#define LOAD_OK(l, args, env)                                                                      \
        do {                                                                                       \
                int _r = load_into((l), (args), (env));                                            \
                ck_assert_msg(_r == 0, "config_load: %d: %s", _r, (l)->err);                       \
        } while (0)

/* Asserts failure and that err contains every given string. */
static void expect_error(Load *l, const char *const *args, const char *const *env,
                         const char *const *needles) {
        int r = load_into(l, args, env);
        ck_assert_msg(r < 0, "config_load succeeded, expected an error");
        ck_assert_msg(l->err[0] != '\0' && l->err[0] != 'Z', "no error message");
        for (; needles && *needles; needles++)
                ck_assert_msg(strstr(l->err, *needles) != NULL, "'%s' not in error '%s'", *needles,
                              l->err);
        config_done(&l->c);
}

static char *print_config(const Config *c) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(f);
        config_print(c, f);
        ck_assert_int_eq(fclose(f), 0);
        return buf;
}

/* Asserts that config_print shows `line` (a whole line). */
static void expect_printed(const Config *c, const char *line) {
        char *out = print_config(c), *p;
        size_t n = strlen(line);
        bool found = false;
        for (p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) {
                        found = true;
                        break;
                }
        ck_assert_msg(found, "line '%s' not in:\n%s", line, out);
        free(out);
}

/* ---- defaults ---- */

START_TEST(test_defaults)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null"), ENV("NODE_NAME=node-a"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_RUN);
        ck_assert_str_eq(l.c.config_path, "/dev/null");
        ck_assert(l.c.config_file_loaded);
        ck_assert_str_eq(l.c.endpoint,
                         "unix:///var/lib/kubelet/plugins/csi.vaultmount.io/csi.sock");
        ck_assert_str_eq(l.c.socket_path, "/var/lib/kubelet/plugins/csi.vaultmount.io/csi.sock");
        ck_assert_ptr_null(l.c.socket_group);
        ck_assert_str_eq(l.c.driver_name, "csi.vaultmount.io");
        ck_assert_str_eq(l.c.node_id, "node-a");
        ck_assert_int_eq(l.c.max_volumes_per_node, 0);
        ck_assert_str_eq(l.c.state_dir, "/run/vaultmount");
        ck_assert_uint_eq(l.c.workers, 4);
        ck_assert_uint_eq(l.c.shutdown_grace_usec, 20 * SEC);
        ck_assert_uint_eq(l.c.probe_timeout_usec, 5 * SEC);
        ck_assert_int_eq(l.c.log_level, LOG_LEVEL_INFO);
        ck_assert_int_eq(l.c.log_format, LOG_FORMAT_LOGFMT);
        ck_assert_uint_eq(l.c.test_publish_delay_usec, 0);
        ck_assert_uint_eq(l.c.n_warnings, 0);

        expect_printed(&l.c, "workers: \"4\"  # default");
        expect_printed(&l.c, "shutdown-grace: \"20s\"  # default");
        expect_printed(&l.c, "probe-timeout: \"5s\"  # default");
        expect_printed(&l.c, "log-level: \"info\"  # default");
        expect_printed(&l.c, "log-format: \"logfmt\"  # default");
        expect_printed(&l.c, "node-id: \"node-a\"  # derived");
        expect_printed(&l.c, "config: \"/dev/null\"  # flag");
        expect_printed(&l.c, "# socket-group: (unset)");
        config_done(&l.c);
}
END_TEST

START_TEST(test_no_config_file)
{
        /* Without --config or VAULTMOUNT_CONFIG the default path is read only
         * when it exists. */
        Load l;
        int r = load_into(&l, NULL, ENV("NODE_NAME=n"));
        if (r < 0) {
                /* only an installed default file can make this fail */
                const char *def = l.c.config_path ? l.c.config_path : "/etc/vaultmount/config.yaml";
                ck_assert_msg(access(def, F_OK) == 0, "%s", l.err);
                config_done(&l.c);
                return;
        }
        ck_assert_ptr_nonnull(l.c.config_path);
        ck_assert_int_eq(l.c.config_path[0], '/');
        ck_assert(l.c.config_file_loaded == (access(l.c.config_path, F_OK) == 0));
        config_done(&l.c);
}
END_TEST

/* ---- precedence ---- */

START_TEST(test_precedence)
{
        const char *f = write_file("c.yaml", "workers: 2\n"
                                             "log-level: debug\n"
                                             "state-dir: /from-file\n"
                                             "max-volumes-per-node: 11\n");
        char cfg[PATH_MAX + 16];
        Load l;

        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);

        /* file < env < flag, per setting */
        LOAD_OK(&l, ARGS(cfg, "--workers=5"),
                ENV("NODE_NAME=n", "VAULTMOUNT_WORKERS=3", "VAULTMOUNT_LOG_LEVEL=warning",
                    "VAULTMOUNT_MAX_VOLUMES_PER_NODE=12"));
        ck_assert_uint_eq(l.c.workers, 5);
        ck_assert_int_eq(l.c.log_level, LOG_LEVEL_WARNING);
        ck_assert_str_eq(l.c.state_dir, "/from-file");
        ck_assert_int_eq(l.c.max_volumes_per_node, 12);
        ck_assert_uint_eq(l.c.shutdown_grace_usec, 20 * SEC);
        expect_printed(&l.c, "workers: \"5\"  # flag");
        expect_printed(&l.c, "log-level: \"warning\"  # environment");
        expect_printed(&l.c, "state-dir: \"/from-file\"  # file");
        expect_printed(&l.c, "max-volumes-per-node: \"12\"  # environment");
        expect_printed(&l.c, "shutdown-grace: \"20s\"  # default");
        config_done(&l.c);

        /* no flag: the environment wins over the file */
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n", "VAULTMOUNT_WORKERS=3"));
        ck_assert_uint_eq(l.c.workers, 3);
        ck_assert_int_eq(l.c.log_level, LOG_LEVEL_DEBUG);
        config_done(&l.c);

        /* no flag, no env: the file wins over the default */
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.workers, 2);
        ck_assert_int_eq(l.c.max_volumes_per_node, 11);
        expect_printed(&l.c, "workers: \"2\"  # file");
        config_done(&l.c);

        /* a flag beats the file even without env */
        LOAD_OK(&l, ARGS(cfg, "--log-level", "error"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.log_level, LOG_LEVEL_ERR);
        ck_assert_uint_eq(l.c.workers, 2);
        config_done(&l.c);
}
END_TEST

START_TEST(test_flag_repeated_last_wins)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--workers=5", "--workers", "6"),
                ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.workers, 6);
        config_done(&l.c);
}
END_TEST

START_TEST(test_endpoint_precedence)
{
        const char *f = write_file("e.yaml", "endpoint: unix:///file.sock\n");
        char cfg[PATH_MAX + 16];
        Load l;

        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n"));
        ck_assert_str_eq(l.c.socket_path, "/file.sock");
        config_done(&l.c);

        /* CSI_ENDPOINT (the spec's variable) beats the file */
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n", "CSI_ENDPOINT=unix:///csi.sock"));
        ck_assert_str_eq(l.c.endpoint, "unix:///csi.sock");
        ck_assert_str_eq(l.c.socket_path, "/csi.sock");
        expect_printed(&l.c, "endpoint: \"unix:///csi.sock\"  # environment");
        config_done(&l.c);

        /* an empty CSI_ENDPOINT is ignored */
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n", "CSI_ENDPOINT="));
        ck_assert_str_eq(l.c.socket_path, "/file.sock");
        config_done(&l.c);

        /* VAULTMOUNT_ENDPOINT is more specific than CSI_ENDPOINT */
        LOAD_OK(&l, ARGS(cfg),
                ENV("CSI_ENDPOINT=unix:///csi.sock", "NODE_NAME=n",
                    "VAULTMOUNT_ENDPOINT=/vm.sock"));
        ck_assert_str_eq(l.c.socket_path, "/vm.sock");
        config_done(&l.c);

        /* the flag beats both */
        LOAD_OK(&l, ARGS(cfg, "--endpoint=unix:/flag.sock"),
                ENV("CSI_ENDPOINT=unix:///csi.sock", "NODE_NAME=n",
                    "VAULTMOUNT_ENDPOINT=/vm.sock"));
        ck_assert_str_eq(l.c.socket_path, "/flag.sock");
        config_done(&l.c);
}
END_TEST

START_TEST(test_config_from_env)
{
        const char *f1 = write_file("env.yaml", "workers: 7\n");
        const char *f2 = write_file("flag.yaml", "workers: 8\n");
        char env[PATH_MAX + 32], flag[PATH_MAX + 16];
        Load l;

        (void)snprintf(env, sizeof(env), "VAULTMOUNT_CONFIG=%s", f1);
        (void)snprintf(flag, sizeof(flag), "--config=%s", f2);
        LOAD_OK(&l, NULL, ENV("NODE_NAME=n", env));
        ck_assert_uint_eq(l.c.workers, 7);
        ck_assert_str_eq(l.c.config_path, f1);
        ck_assert_uint_eq(l.c.n_warnings, 0); /* VAULTMOUNT_CONFIG is a known name */
        config_done(&l.c);

        /* --config beats VAULTMOUNT_CONFIG */
        LOAD_OK(&l, ARGS(flag), ENV("NODE_NAME=n", env));
        ck_assert_uint_eq(l.c.workers, 8);
        ck_assert_str_eq(l.c.config_path, f2);
        config_done(&l.c);

        /* an explicit VAULTMOUNT_CONFIG that does not exist is an error */
        expect_error(&l, NULL, ENV("NODE_NAME=n", "VAULTMOUNT_CONFIG=/nonexistent/vm.yaml"),
                     ARGS("/nonexistent/vm.yaml"));
}
END_TEST

START_TEST(test_value_types)
{
        Load l;
        LOAD_OK(&l,
                ARGS("--config=/dev/null", "--shutdown-grace=1m30s", "--probe-timeout=1ms",
                     "--log-format=json", "--log-level=warn", "--max-volumes-per-node",
                     "9223372036854775807", "--workers=64", "--state-dir=/s",
                     "--driver-name=vault.csi.example.com"),
                ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.shutdown_grace_usec, 90 * SEC);
        ck_assert_uint_eq(l.c.probe_timeout_usec, 1000);
        ck_assert_int_eq(l.c.log_format, LOG_FORMAT_JSON);
        ck_assert_int_eq(l.c.log_level, LOG_LEVEL_WARNING);
        ck_assert(l.c.max_volumes_per_node == INT64_MAX);
        ck_assert_uint_eq(l.c.workers, 64);
        ck_assert_str_eq(l.c.state_dir, "/s");
        ck_assert_str_eq(l.c.driver_name, "vault.csi.example.com");
        expect_printed(&l.c, "shutdown-grace: \"1m30s\"  # flag");
        expect_printed(&l.c, "log-format: \"json\"  # flag");
        config_done(&l.c);
}
END_TEST

/* ---- errors name their origin ---- */

START_TEST(test_error_origin_file)
{
        const char *f = write_file("bad.yaml", "# comment\n"
                                               "log-level: info\n"
                                               "workers: abc\n");
        char cfg[PATH_MAX + 16], where[PATH_MAX + 8];
        Load l;

        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        (void)snprintf(where, sizeof(where), "%s:3:", f);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), ARGS(where, "workers", "'abc'", "1 to 64"));
        ck_assert_int_eq(strncmp(l.err, where, strlen(where)), 0);

        f = write_file("dur.yaml", "shutdown-grace: 5 minutes\n");
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        (void)snprintf(where, sizeof(where), "%s:1:", f);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"),
                     ARGS(where, "shutdown-grace", "'5 minutes'", "duration"));

        f = write_file("path.yaml", "\n\nstate-dir: run/x\n");
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        (void)snprintf(where, sizeof(where), "%s:3:", f);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"),
                     ARGS(where, "state-dir", "not an absolute path"));
}
END_TEST

START_TEST(test_error_origin_env)
{
        Load l;
        expect_error(&l, ARGS("--config=/dev/null"), ENV("NODE_NAME=n", "VAULTMOUNT_WORKERS=0"),
                     ARGS("VAULTMOUNT_WORKERS: '0'", "1 to 64"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_LOG_FORMAT=xml"),
                     ARGS("VAULTMOUNT_LOG_FORMAT: 'xml'", "logfmt, json"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_LOG_LEVEL=verbose"),
                     ARGS("VAULTMOUNT_LOG_LEVEL: 'verbose'"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_PROBE_TIMEOUT=1h1"),
                     ARGS("VAULTMOUNT_PROBE_TIMEOUT: '1h1'"));
}
END_TEST

START_TEST(test_error_origin_flag)
{
        Load l;
        expect_error(&l, ARGS("--config=/dev/null", "--workers=65"), ENV("NODE_NAME=n"),
                     ARGS("--workers: '65'", "1 to 64"));
        expect_error(&l, ARGS("--config=/dev/null", "--state-dir=relative"), ENV("NODE_NAME=n"),
                     ARGS("--state-dir: 'relative' is not an absolute path"));
        expect_error(&l, ARGS("--config=/dev/null", "--probe-timeout=999us"), ENV("NODE_NAME=n"),
                     ARGS("--probe-timeout: '999us' is too short"));
        expect_error(&l, ARGS("--config=/dev/null", "--max-volumes-per-node=-1"),
                     ENV("NODE_NAME=n"), ARGS("--max-volumes-per-node: '-1'"));
        expect_error(&l, ARGS("--config=/dev/null", "--shutdown-grace=367d"), ENV("NODE_NAME=n"),
                     ARGS("--shutdown-grace: '367d'"));
        /* over the 366-day cap */
        expect_error(&l, ARGS("--config=/dev/null", "--shutdown-grace=8785h"), ENV("NODE_NAME=n"),
                     ARGS("--shutdown-grace: '8785h'"));
}
END_TEST

START_TEST(test_validated_values_name_origin)
{
        /*
         * Values checked after all sources are merged (driver name, endpoint)
         * must still say where the bad value came from (config.h: errors
         * "name their origin").
         */
        const char *f = write_file("ep.yaml", "workers: 2\nendpoint: tcp://10.0.0.1:9000\n");
        char cfg[PATH_MAX + 16], where[PATH_MAX + 8];
        Load l;

        expect_error(&l, ARGS("--config=/dev/null", "--driver-name=-bad"), ENV("NODE_NAME=n"),
                     ARGS("--driver-name", "'-bad'"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "CSI_ENDPOINT=tcp://10.0.0.1:9000"),
                     ARGS("CSI_ENDPOINT", "tcp://10.0.0.1:9000"));
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        (void)snprintf(where, sizeof(where), "%s:2:", f);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), ARGS(where, "tcp://10.0.0.1:9000"));
}
END_TEST

/* ---- file format errors ---- */

static void expect_file_error(const char *content, const char *line_tag,
                              const char *const *needles) {
        const char *f = write_file("fmt.yaml", content);
        char cfg[PATH_MAX + 16], where[PATH_MAX + 32];
        Load l;

        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        (void)snprintf(where, sizeof(where), "%s%s", f, line_tag);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), needles);
        ck_assert_msg(strncmp(l.err, where, strlen(where)) == 0, "'%s' does not start with '%s'",
                      l.err, where);
}

START_TEST(test_file_unknown_key)
{
        expect_file_error("workers: 2\nbogus: 1\n", ":2:", ARGS("unknown key 'bogus'"));
        /* `config` is flag/env only */
        expect_file_error("config: /etc/x.yaml\n", ":1:", ARGS("unknown key 'config'"));
        /* keys are the flag names, not the env names or snake_case */
        expect_file_error("\nstate_dir: /x\n", ":2:", ARGS("unknown key 'state_dir'"));
        expect_file_error("VAULTMOUNT_WORKERS: 2\n", ":1:", ARGS("unknown key"));
}
END_TEST

START_TEST(test_file_duplicate_key)
{
        expect_file_error("workers: 2\nlog-level: info\nworkers: 3\n", ": line 3",
                          ARGS("duplicate key 'workers'"));
}
END_TEST

START_TEST(test_file_non_scalar)
{
        expect_file_error("log-level: info\nworkers:\n  - 1\n  - 2\n",
                          ":3:", ARGS("'workers' must be a single value, not a list"));
        expect_file_error("state-dir: {a: b}\n",
                          ":1:", ARGS("'state-dir' must be a single value, not a mapping"));
        expect_file_error("workers: [4]\n", ":1:", ARGS("'workers'", "a list"));
}
END_TEST

START_TEST(test_file_not_mapping)
{
        expect_file_error("- workers\n- 2\n", ":1:", ARGS("must be a mapping"));
        expect_file_error("\n\njust a string\n", ":3:", ARGS("must be a mapping"));
}
END_TEST

START_TEST(test_file_syntax_error)
{
        expect_file_error("workers: 2\nlog-level: [info\n", ": line ", ARGS("line"));
        expect_file_error("a: &x 1\nb: *x\n", ": line ", ARGS("not supported"));
        expect_file_error("workers: 2\n---\nworkers: 3\n", ": line 2", ARGS("one YAML document"));
        expect_file_error("workers: \"\\xff\"\n", ":1:", ARGS("whole number"));
}
END_TEST

START_TEST(test_file_empty_or_comments)
{
        const char *f;
        char cfg[PATH_MAX + 16];
        Load l;

        f = write_file("empty.yaml", "");
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n"));
        ck_assert(l.c.config_file_loaded);
        ck_assert_uint_eq(l.c.workers, 4);
        config_done(&l.c);

        f = write_file("comments.yaml", "# nothing here\n\n# still nothing\n");
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        LOAD_OK(&l, ARGS(cfg), ENV("NODE_NAME=n"));
        ck_assert(l.c.config_file_loaded);
        config_done(&l.c);
}
END_TEST

START_TEST(test_file_unreadable)
{
        char cfg[PATH_MAX + 16];
        Load l;

        expect_error(&l, ARGS("--config=/nonexistent/dir/c.yaml"), ENV("NODE_NAME=n"),
                     ARGS("/nonexistent/dir/c.yaml", "cannot open"));
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", tmpdir);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), ARGS(tmpdir, "not a regular file"));
        /* other character devices are not /dev/null */
        expect_error(&l, ARGS("--config=/dev/zero"), ENV("NODE_NAME=n"),
                     ARGS("/dev/zero", "not a regular file"));
}
END_TEST

START_TEST(test_file_too_large)
{
        char path[PATH_MAX], cfg[PATH_MAX + 16];
        int fd;
        Load l;

        (void)snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 1024 * 1024 + 1), 0);
        close(fd);
        (void)snprintf(cfg, sizeof(cfg), "--config=%s", path);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), ARGS(path, "larger than"));
}
END_TEST

/* ---- endpoint ---- */

START_TEST(test_endpoint_forms)
{
        static const struct {
                const char *in, *path;
        } ok[] = {
                { "unix:///var/lib/kubelet/plugins/x/csi.sock",
                  "/var/lib/kubelet/plugins/x/csi.sock" },
                { "unix:/tmp/a.sock", "/tmp/a.sock" },
                { "/tmp/a.sock", "/tmp/a.sock" },
                { "unix:///a", "/a" },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                char err[256] = "", *p = NULL;
                ck_assert_msg(config_parse_endpoint(ok[i].in, &p, err, sizeof(err)) == 0, "%s: %s",
                              ok[i].in, err);
                ck_assert_str_eq(p, ok[i].path);
                free(p);
        }
}
END_TEST

START_TEST(test_endpoint_bad)
{
        static const char *const bad[] = {
                "tcp://127.0.0.1:10000",
                "http://localhost/csi.sock",
                "dns:///csi.example:443",
                "unix://relative.sock",
                "unix://localhost/abs.sock",
                "unix:relative.sock",
                "relative.sock",
                "./csi.sock",
                "unix://",
                "unix:",
                "unix:///",
                "/var/lib/kubelet/plugins/x/",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char err[256] = "", *p = (char *)"untouched";
                int r = config_parse_endpoint(bad[i], &p, err, sizeof(err));
                ck_assert_msg(r == -EINVAL, "'%s' accepted (%d)", bad[i], r);
                ck_assert_str_eq(p, "untouched");
                ck_assert_msg(strstr(err, bad[i]) != NULL, "'%s' not named in '%s'", bad[i], err);
        }
        char err[256] = "", *p = NULL;
        ck_assert_int_eq(config_parse_endpoint("", &p, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "empty"));
        ck_assert_int_eq(config_parse_endpoint(NULL, &p, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_endpoint_length)
{
        /* sun_path holds 108 bytes including the NUL: 107 characters fit */
        char ep[256], err[256], *p = NULL;
        memset(ep, 'a', sizeof(ep));
        ep[0] = '/';
        ep[107] = '\0';
        ck_assert_int_eq(config_parse_endpoint(ep, &p, err, sizeof(err)), 0);
        ck_assert_uint_eq(strlen(p), 107);
        free(p);
        p = NULL;
        ep[107] = 'a';
        ep[108] = '\0';
        ck_assert_int_eq(config_parse_endpoint(ep, &p, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_ptr_nonnull(strstr(err, "longer than 107"));
}
END_TEST

START_TEST(test_endpoint_via_load)
{
        Load l;
        expect_error(&l, ARGS("--config=/dev/null", "--endpoint=tcp://0.0.0.0:1"),
                     ENV("NODE_NAME=n"), ARGS("tcp://0.0.0.0:1", "unix"));
        expect_error(&l, ARGS("--config=/dev/null", "--endpoint=csi.sock"), ENV("NODE_NAME=n"),
                     ARGS("csi.sock", "absolute"));
}
END_TEST

/* ---- driver name ---- */

START_TEST(test_driver_name)
{
        char n63[64], n64[65];
        memset(n63, 'a', 63);
        n63[63] = '\0';
        memset(n64, 'a', 64);
        n64[64] = '\0';

        static const char *const ok[] = {
                "csi.vaultmount.io", "a",  "1", "A-b.C", "a..b", "vault.csi.example.com",
                "csi.example.io2",   "a-b"
        };
        static const char *const bad[] = { "",    "-x",  "x-",          ".x",  "x.", "x_y",
                                           "x y", "x/y", "caf\xc3\xa9", "x\n", "-",  "." };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                ck_assert_msg(config_driver_name_valid(ok[i]), "'%s' rejected", ok[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!config_driver_name_valid(bad[i]), "'%s' accepted", bad[i]);
        ck_assert(config_driver_name_valid(n63));
        ck_assert(!config_driver_name_valid(n64));
        ck_assert(!config_driver_name_valid(NULL));
}
END_TEST

START_TEST(test_driver_name_via_load)
{
        char n64[80];
        Load l;
        (void)snprintf(n64, sizeof(n64), "--driver-name=%064d", 7);
        expect_error(&l, ARGS("--config=/dev/null", n64), ENV("NODE_NAME=n"),
                     ARGS("driver-name", "not a valid CSI plugin name"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_DRIVER_NAME=x_y"), ARGS("'x_y'"));
}
END_TEST

/* ---- node id ---- */

START_TEST(test_node_id_fallback)
{
        char host[256];
        Load l;

        LOAD_OK(&l, ARGS("--config=/dev/null"), ENV("NODE_NAME=worker-7"));
        ck_assert_str_eq(l.c.node_id, "worker-7");
        expect_printed(&l.c, "node-id: \"worker-7\"  # derived");
        config_done(&l.c);

        LOAD_OK(&l, ARGS("--config=/dev/null", "--node-id=explicit"), ENV("NODE_NAME=worker-7"));
        ck_assert_str_eq(l.c.node_id, "explicit");
        expect_printed(&l.c, "node-id: \"explicit\"  # flag");
        config_done(&l.c);

        LOAD_OK(&l, ARGS("--config=/dev/null"),
                ENV("NODE_NAME=worker-7", "VAULTMOUNT_NODE_ID=from-env"));
        ck_assert_str_eq(l.c.node_id, "from-env");
        config_done(&l.c);

        /* NODE_NAMEX is not NODE_NAME */
        ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
        LOAD_OK(&l, ARGS("--config=/dev/null"), ENV("NODE_NAMEX=wrong"));
        ck_assert_str_eq(l.c.node_id, host);
        config_done(&l.c);

        /* empty NODE_NAME and empty --node-id fall back further */
        LOAD_OK(&l, ARGS("--config=/dev/null", "--node-id="), ENV("NODE_NAME="));
        ck_assert_str_eq(l.c.node_id, host);
        config_done(&l.c);

        LOAD_OK(&l, ARGS("--config=/dev/null"), NULL);
        ck_assert_str_eq(l.c.node_id, host);
        config_done(&l.c);
}
END_TEST

START_TEST(test_node_id_length)
{
        char arg[300];
        Load l;
        (void)snprintf(arg, sizeof(arg), "--node-id=%0256d", 1);
        LOAD_OK(&l, ARGS("--config=/dev/null", arg), NOENV);
        ck_assert_uint_eq(strlen(l.c.node_id), 256);
        config_done(&l.c);
        (void)snprintf(arg, sizeof(arg), "--node-id=%0257d", 1);
        expect_error(&l, ARGS("--config=/dev/null", arg), NOENV, ARGS("node-id", "256"));
}
END_TEST

/* ---- socket group ---- */

START_TEST(test_socket_group)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--socket-group=0"), ENV("NODE_NAME=n"));
        ck_assert_str_eq(l.c.socket_group, "0");
        ck_assert_uint_eq(l.c.socket_gid, 0);
        config_done(&l.c);

        LOAD_OK(&l, ARGS("--config=/dev/null", "--socket-group=1234"), ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.socket_gid, 1234);
        config_done(&l.c);

        LOAD_OK(&l, ARGS("--config=/dev/null", "--socket-group=root"), ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.socket_gid, 0);
        config_done(&l.c);

        expect_error(&l, ARGS("--config=/dev/null", "--socket-group=no-such-group-zq"),
                     ENV("NODE_NAME=n"), ARGS("socket-group", "no-such-group-zq"));
}
END_TEST

/* ---- modes and argv ---- */

START_TEST(test_mode_probe)
{
        Load l;
        LOAD_OK(&l, ARGS("probe", "--config=/dev/null", "--probe-timeout=2s"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_PROBE);
        ck_assert_uint_eq(l.c.probe_timeout_usec, 2 * SEC);
        config_done(&l.c);

        /* --check-config does not turn probe mode into check mode */
        LOAD_OK(&l, ARGS("probe", "--check-config", "--config=/dev/null"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_PROBE);
        config_done(&l.c);

        /* probe is a subcommand only in first position */
        expect_error(&l, ARGS("--config=/dev/null", "probe"), ENV("NODE_NAME=n"),
                     ARGS("unexpected argument 'probe'"));
        expect_error(&l, ARGS("probe", "--workers=0", "--config=/dev/null"), ENV("NODE_NAME=n"),
                     ARGS("--workers"));
}
END_TEST

/* issue 11 */
START_TEST(test_mode_status)
{
        Load l;
        LOAD_OK(&l, ARGS("status", "--config=/dev/null", "--state-dir=/run/x"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_STATUS);
        ck_assert(!l.c.status_json);
        ck_assert_str_eq(l.c.state_dir, "/run/x");
        config_done(&l.c);
        LOAD_OK(&l, ARGS("status", "--json", "--config=/dev/null"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_STATUS);
        ck_assert(l.c.status_json);
        config_done(&l.c);
        /* --json belongs to status */
        expect_error(&l, ARGS("--json", "--config=/dev/null"), ENV("NODE_NAME=n"),
                     ARGS("--json goes with `status` only"));
        expect_error(&l, ARGS("probe", "--json", "--config=/dev/null"), ENV("NODE_NAME=n"),
                     ARGS("--json"));
}
END_TEST

START_TEST(test_metrics_address)
{
        Load l;
        char *out;
        /* off by default */
        LOAD_OK(&l, ARGS("--config=/dev/null"), ENV("NODE_NAME=n"));
        ck_assert_ptr_null(l.c.metrics_address);
        out = print_config(&l.c);
        ck_assert_ptr_nonnull(strstr(out, "# metrics-address: (unset)"));
        free(out);
        config_done(&l.c);
        /* flag, environment, file */
        LOAD_OK(&l, ARGS("--config=/dev/null", "--metrics-address=127.0.0.1:9810"),
                ENV("NODE_NAME=n"));
        ck_assert_str_eq(l.c.metrics_address, "127.0.0.1:9810");
        out = print_config(&l.c);
        ck_assert_ptr_nonnull(strstr(out, "metrics-address: \"127.0.0.1:9810\"  # flag"));
        free(out);
        config_done(&l.c);
        LOAD_OK(&l, ARGS("--config=/dev/null"),
                ENV("NODE_NAME=n", "VAULTMOUNT_METRICS_ADDRESS=[::1]:9810"));
        ck_assert_str_eq(l.c.metrics_address, "[::1]:9810");
        config_done(&l.c);
        LOAD_OK(&l, ARGS("--config=/dev/null", "--metrics-address="), ENV("NODE_NAME=n"));
        config_done(&l.c);
        expect_error(&l, ARGS("--config=/dev/null", "--metrics-address=127.0.0.1"),
                     ENV("NODE_NAME=n"), ARGS("--metrics-address", "not HOST:PORT"));
        expect_error(&l, ARGS("--config=/dev/null"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_METRICS_ADDRESS=host:99999"),
                     ARGS("VAULTMOUNT_METRICS_ADDRESS"));
}
END_TEST

START_TEST(test_mode_check)
{
        Load l;
        LOAD_OK(&l, ARGS("--check-config", "--config=/dev/null"), ENV("NODE_NAME=n"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_CHECK);
        config_done(&l.c);
        /* --check-config still reports errors */
        expect_error(&l, ARGS("--check-config", "--config=/dev/null", "--workers=x"),
                     ENV("NODE_NAME=n"), ARGS("--workers: 'x'"));
}
END_TEST

START_TEST(test_mode_help_version)
{
        Load l;
        /* help/version win before anything is read or validated */
        LOAD_OK(&l, ARGS("--workers=bad", "--help", "--config=/nonexistent"), NOENV);
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_HELP);
        config_done(&l.c);
        LOAD_OK(&l, ARGS("-h"), NOENV);
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_HELP);
        config_done(&l.c);
        LOAD_OK(&l, ARGS("--version", "--config=/nonexistent"), NOENV);
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_VERSION);
        config_done(&l.c);
        LOAD_OK(&l, ARGS("-V"), ENV("VAULTMOUNT_WORKERS=bad"));
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_VERSION);
        config_done(&l.c);
        LOAD_OK(&l, ARGS("probe", "--help"), NOENV);
        ck_assert_int_eq(l.c.mode, CONFIG_MODE_HELP);
        config_done(&l.c);
}
END_TEST

START_TEST(test_bad_argv)
{
        Load l;
        expect_error(&l, ARGS("--config=/dev/null", "--bogus"), ENV("NODE_NAME=n"),
                     ARGS("unknown option '--bogus'"));
        expect_error(&l, ARGS("--config=/dev/null", "--bogus=1"), ENV("NODE_NAME=n"),
                     ARGS("unknown option", "--bogus"));
        expect_error(&l, ARGS("-x"), ENV("NODE_NAME=n"), ARGS("unknown option '-x'"));
        expect_error(&l, ARGS("--config=/dev/null", "--workers"), ENV("NODE_NAME=n"),
                     ARGS("option '--workers' needs a value"));
        expect_error(&l, ARGS("--config=/dev/null", "extra"), ENV("NODE_NAME=n"),
                     ARGS("unexpected argument 'extra'"));
        expect_error(&l, ARGS("--help=1"), ENV("NODE_NAME=n"), ARGS("--help"));
}
END_TEST

START_TEST(test_dev_null)
{
        /* --config=/dev/null: run on defaults, even with env and flags */
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--workers=2"), ENV("NODE_NAME=n"));
        ck_assert(l.c.config_file_loaded);
        ck_assert_uint_eq(l.c.workers, 2);
        config_done(&l.c);
        LOAD_OK(&l, NULL, ENV("NODE_NAME=n", "VAULTMOUNT_CONFIG=/dev/null"));
        ck_assert_str_eq(l.c.config_path, "/dev/null");
        config_done(&l.c);
}
END_TEST

/* ---- warnings ---- */

START_TEST(test_unknown_env_warns)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null"),
                ENV("NODE_NAME=n", "VAULTMOUNT_WORKERS=3", "VAULTMOUNT_FOO=secret-value",
                    "VAULTMOUNT_WORKERSX=1", "PATH=/usr/bin", "VAULTMOUNT_CONFIG=/dev/null"));
        ck_assert_uint_eq(l.c.workers, 3);
        ck_assert_uint_eq(l.c.n_warnings, 2);
        ck_assert_ptr_nonnull(strstr(l.c.warnings[0], "VAULTMOUNT_FOO"));
        ck_assert_ptr_nonnull(strstr(l.c.warnings[1], "VAULTMOUNT_WORKERSX"));
        for (size_t i = 0; i < l.c.n_warnings; i++)
                ck_assert_msg(strstr(l.c.warnings[i], "secret-value") == NULL,
                              "warning shows the value: %s", l.c.warnings[i]);
        config_done(&l.c);
}
END_TEST

START_TEST(test_many_warnings_capped)
{
        const char *env[] = { "VAULTMOUNT_A=1",
                              "VAULTMOUNT_B=1",
                              "VAULTMOUNT_C=1",
                              "VAULTMOUNT_D=1",
                              "VAULTMOUNT_E=1",
                              "VAULTMOUNT_F=1",
                              "VAULTMOUNT_G=1",
                              "VAULTMOUNT_H=1",
                              "VAULTMOUNT_I=1",
                              "VAULTMOUNT_J=1",
                              "VAULTMOUNT_NOEQUALS",
                              "NODE_NAME=n",
                              NULL };
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--test-publish-delay=1s"), env);
        ck_assert_uint_eq(l.c.n_warnings, CONFIG_WARNINGS_MAX);
        for (size_t i = 0; i < l.c.n_warnings; i++)
                ck_assert_ptr_nonnull(l.c.warnings[i]);
        config_done(&l.c);
}
END_TEST

START_TEST(test_publish_delay_warns)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--test-publish-delay=250ms"), ENV("NODE_NAME=n"));
        ck_assert_uint_eq(l.c.test_publish_delay_usec, 250000);
        ck_assert_uint_eq(l.c.n_warnings, 1);
        ck_assert_ptr_nonnull(strstr(l.c.warnings[0], "test-publish-delay"));
        config_done(&l.c);
}
END_TEST

/* ---- output ---- */

START_TEST(test_help_text)
{
        static const char *const needles[] = {
                "Usage: vaultmountd [OPTIONS]",
                "vaultmountd probe",
                "--config=PATH",
                "--endpoint=ENDPOINT",
                "--socket-group=GROUP",
                "--driver-name=NAME",
                "--node-id=ID",
                "--max-volumes-per-node=N",
                "--state-dir=DIR",
                "--workers=N",
                "[default: 4]",
                "--shutdown-grace=DURATION",
                "--probe-timeout=DURATION",
                "--log-level=LEVEL",
                "--log-format=FORMAT",
                "--check-config",
                "--help",
                "--version",
                "Testing aids",
                "--test-publish-delay=DURATION",
        };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        config_print_help(f, "vaultmountd");
        fclose(f);
        for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
                ck_assert_msg(strstr(buf, needles[i]) != NULL, "'%s' not in help", needles[i]);
        /* the testing aid is listed after its heading, not among the options */
        ck_assert(strstr(buf, "--test-publish-delay") > strstr(buf, "Testing aids"));
        free(buf);
}
END_TEST

START_TEST(test_print_is_yaml)
{
        /* config_print's output reads back as YAML with the same values. */
        Load l;
        char *out, err[256];
        YNode *root = NULL;

        LOAD_OK(&l,
                ARGS("--config=/dev/null", "--state-dir=/run/with \"quote\" and \\back",
                     "--node-id=n1"),
                NOENV);
        out = print_config(&l.c);
        ck_assert_msg(ytree_parse(out, strlen(out), NULL, &root, err, sizeof(err)) == 0, "%s\n%s",
                      err, out);
        ck_assert_ptr_nonnull(root);
        ck_assert_str_eq(ytree_get(root, "workers")->scalar, "4");
        ck_assert_str_eq(ytree_get(root, "node-id")->scalar, "n1");
        ck_assert_str_eq(ytree_get(root, "state-dir")->scalar, "/run/with \"quote\" and \\back");
        ytree_free(root);
        free(out);
        config_done(&l.c);
}
END_TEST

/* ---- config_done ---- */

START_TEST(test_done_frees)
{
        Load l;
        LOAD_OK(&l, ARGS("--config=/dev/null", "--socket-group=0", "--test-publish-delay=1s"),
                ENV("NODE_NAME=n", "VAULTMOUNT_ZZZ=1"));
        ck_assert_uint_eq(l.c.n_warnings, 2);
        config_done(&l.c);
        ck_assert_ptr_null(l.c.endpoint);
        ck_assert_ptr_null(l.c.socket_path);
        ck_assert_ptr_null(l.c.socket_group);
        ck_assert_ptr_null(l.c.driver_name);
        ck_assert_ptr_null(l.c.node_id);
        ck_assert_ptr_null(l.c.state_dir);
        ck_assert_ptr_null(l.c.config_path);
        ck_assert_ptr_null(l.c.sources);
        ck_assert_uint_eq(l.c.n_warnings, 0);
        /* idempotent */
        config_done(&l.c);
}
END_TEST

START_TEST(test_done_after_errors)
{
        /* Every failure path leaves a Config that config_done() cleans up
         * (valgrind reports definite leaks otherwise). */
        const char *f = write_file("late.yaml", "driver-name: ok.example\nworkers: nope\n");
        char cfg[PATH_MAX + 16];
        Load l;

        (void)snprintf(cfg, sizeof(cfg), "--config=%s", f);
        expect_error(&l, ARGS(cfg), ENV("NODE_NAME=n"), NULL);
        expect_error(&l, ARGS("--config=/dev/null", "--node-id=x", "--endpoint=tcp://x"),
                     ENV("NODE_NAME=n", "VAULTMOUNT_Q=1"), NULL);
        expect_error(&l, ARGS("--config=/dev/null", "--socket-group=no-such-group-zq"),
                     ENV("NODE_NAME=n"), NULL);
        expect_error(&l, ARGS("--nope"), NOENV, NULL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("config");
        TCase *tc;

        tc = tcase_create("defaults");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_no_config_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("precedence");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_precedence);
        tcase_add_test(tc, test_flag_repeated_last_wins);
        tcase_add_test(tc, test_endpoint_precedence);
        tcase_add_test(tc, test_config_from_env);
        tcase_add_test(tc, test_value_types);
        suite_add_tcase(s, tc);

        tc = tcase_create("origins");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_error_origin_file);
        tcase_add_test(tc, test_error_origin_env);
        tcase_add_test(tc, test_error_origin_flag);
        tcase_add_test(tc, test_validated_values_name_origin);
        suite_add_tcase(s, tc);

        tc = tcase_create("file");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_file_unknown_key);
        tcase_add_test(tc, test_file_duplicate_key);
        tcase_add_test(tc, test_file_non_scalar);
        tcase_add_test(tc, test_file_not_mapping);
        tcase_add_test(tc, test_file_syntax_error);
        tcase_add_test(tc, test_file_empty_or_comments);
        tcase_add_test(tc, test_file_unreadable);
        tcase_add_test(tc, test_file_too_large);
        tcase_add_test(tc, test_dev_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("endpoint");
        tcase_add_test(tc, test_endpoint_forms);
        tcase_add_test(tc, test_endpoint_bad);
        tcase_add_test(tc, test_endpoint_length);
        tcase_add_test(tc, test_endpoint_via_load);
        suite_add_tcase(s, tc);

        tc = tcase_create("driver_name");
        tcase_add_test(tc, test_driver_name);
        tcase_add_test(tc, test_driver_name_via_load);
        suite_add_tcase(s, tc);

        tc = tcase_create("node_id");
        tcase_add_test(tc, test_node_id_fallback);
        tcase_add_test(tc, test_node_id_length);
        tcase_add_test(tc, test_socket_group);
        suite_add_tcase(s, tc);

        tc = tcase_create("modes");
        tcase_add_test(tc, test_mode_probe);
        tcase_add_test(tc, test_mode_check);
        tcase_add_test(tc, test_mode_status);
        tcase_add_test(tc, test_metrics_address);
        tcase_add_test(tc, test_mode_help_version);
        tcase_add_test(tc, test_bad_argv);
        suite_add_tcase(s, tc);

        tc = tcase_create("warnings");
        tcase_add_test(tc, test_unknown_env_warns);
        tcase_add_test(tc, test_many_warnings_capped);
        tcase_add_test(tc, test_publish_delay_warns);
        suite_add_tcase(s, tc);

        tc = tcase_create("output");
        tcase_add_test(tc, test_help_text);
        tcase_add_test(tc, test_print_is_yaml);
        suite_add_tcase(s, tc);

        tc = tcase_create("done");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_done_frees);
        tcase_add_test(tc, test_done_after_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
