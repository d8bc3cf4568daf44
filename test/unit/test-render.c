/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-render.c - the renderers of lib/formats/render.c with hostile input:
 * keys and values with newlines, quotes, '$', backslashes, NUL, C1 controls
 * and U+2028, non-UTF-8 bytes where they can occur (decoded values,
 * template text, file names), and huge values against the cap.
 *
 * Besides exact bytes, the yaml and env shapes are read back by independent
 * parsers (Debian's python3 yaml and python-dotenv, and /bin/sh `.`); the
 * harness is $VAULTMOUNT_PYTHON (set by meson), else /usr/bin/python3.
 * Temporary files live in a mkdtemp dir removed by the fixture.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "render.h"
#include "testutil.h"
#include "macro.h"

#define CANARY "S3CRET-canary"

static char err[1024];
static char tmpdir[] = "/tmp/test-render-XXXXXX";

static void tmp_setup(void) {
        memcpy(tmpdir, "/tmp/test-render-XXXXXX", sizeof(tmpdir));
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
        char path[512];
        const char *names[] = { "out", "data.json", NULL };
        for (size_t i = 0; names[i]; i++) {
                (void)snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
                (void)unlink(path);
        }
        (void)rmdir(tmpdir);
}

static JsonValue *parse(const char *text) {
        JsonValue *v = NULL;
        JsonError je;
        int r = json_parse(text, strlen(text), 0, 0, &v, &je);
        ck_assert_msg(r == 0, "bad test JSON: %s", je.text);
        return v;
}

typedef struct Out {
        RenderedFile *files;
        size_t n;
} Out;

static int render(const RenderSpec *spec, const char *json, Out *out) {
        _cleanup_(json_value_unrefp) JsonValue *data = json ? parse(json) : NULL;
        memset(err, 'x', sizeof(err));
        err[sizeof(err) - 1] = 0;
        *out = (Out){ 0 };
        return render_object(spec, data, &out->files, &out->n, err, sizeof(err));
}

static void out_done(Out *o) {
        o->files = rendered_files_free(o->files, o->n);
}

/* One file named `name` with exactly these bytes. */
static void expect_file(const Out *o, size_t i, const char *name, const void *bytes, size_t n) {
        size_t len;
        const uint8_t *p;

        ck_assert_uint_gt(o->n, i);
        ck_assert_str_eq(o->files[i].name, name);
        p = secret_get(o->files[i].data, &len);
        ck_assert_msg(len == n && memcmp(p, bytes, n) == 0, "file '%s': got [%.*s] want [%.*s]",
                      name, (int)len, (const char *)p, (int)n, (const char *)bytes);
}

static void expect_one(const RenderSpec *spec, const char *json, const char *want) {
        Out o;
        int r = render(spec, json, &o);
        ck_assert_msg(r == 0, "render: %d %s", r, err);
        ck_assert_uint_eq(o.n, 1);
        expect_file(&o, 0, spec->name, want, strlen(want));
        out_done(&o);
}

static void expect_fail(const RenderSpec *spec, const char *json, int want, const char *needle) {
        Out o;
        int r = render(spec, json, &o);
        ck_assert_msg(r == want, "got %d, want %d (%s)", r, want, err);
        ck_assert_ptr_null(o.files);
        ck_assert_msg(strstr(err, needle), "want '%s' in: %s", needle, err);
        ck_assert_msg(!strstr(err, CANARY), "value in message: %s", err);
}

/* Runs argv; returns its exit status (or 128 + signal). */
static int run(const char *const *argv) {
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *python(void) {
        const char *p = getenv("VAULTMOUNT_PYTHON");
        return p && *p ? p : "/usr/bin/python3";
}

static void write_file(const char *name, const void *p, size_t n, char *path, size_t pathlen) {
        FILE *f;

        (void)snprintf(path, pathlen, "%s/%s", tmpdir, name);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(p, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
}

/* Writes the rendered file and the source JSON, then runs the python check
 * `script` with both paths: it exits 0 when the file reads back as the data. */
static void roundtrip(const Out *o, const char *json, const char *script) {
        char out_path[512], data_path[512];
        const uint8_t *p;
        size_t n;

        p = secret_get(o->files[0].data, &n);
        write_file("out", p, n, out_path, sizeof(out_path));
        write_file("data.json", json, strlen(json), data_path, sizeof(data_path));
        {
                const char *argv[] = { python(), "-c", script, out_path, data_path, NULL };
                ck_assert_int_eq(run(argv), 0);
        }
}

/* Expected text per key: strings as they are, anything else as compact JSON. */
#define PY_EXPECTED                                                                                \
        "import json, sys\n"                                                                       \
        "data = json.load(open(sys.argv[2], encoding='utf-8'))\n"                                  \
        "def text(v):\n"                                                                           \
        "    return v if isinstance(v, str) else json.dumps(v, separators=(',', ':'),\n"           \
        "                                              sort_keys=True, ensure_ascii=False)\n"      \
        "want = {k: text(v) for k, v in data.items()}\n"

#define PY_YAML                                                                                    \
        "import json, sys, yaml\n"                                                                 \
        "data = json.load(open(sys.argv[2], encoding='utf-8'))\n"                                  \
        "got = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))\n"                              \
        "if got != data:\n"                                                                        \
        "    print('yaml:', repr(got), '\\njson:', repr(data)); sys.exit(1)\n"

#define PY_DOTENV                                                                                  \
        PY_EXPECTED                                                                                \
        "from dotenv import dotenv_values\n"                                                       \
        "got = dict(dotenv_values(sys.argv[1]))\n"                                                 \
        "if got != want:\n"                                                                        \
        "    print('dotenv:', repr(got), '\\nwant:', repr(want)); sys.exit(1)\n"

/* `set -a; . file` in a POSIX shell, then the exported environment (NUL
 * separated) compared key by key. */
#define PY_SHELL                                                                                     \
        PY_EXPECTED                                                                                  \
        "import subprocess\n"                                                                        \
        "env = subprocess.run(['/bin/sh', '-c', 'set -a; . \"$1\" && exec /usr/bin/env -0', 'sh',\n" \
        "                      sys.argv[1]], env={}, check=True, capture_output=True).stdout\n"      \
        "got = {}\n"                                                                                 \
        "for item in env.split(b'\\0'):\n"                                                           \
        "    if b'=' in item:\n"                                                                     \
        "        k, v = item.split(b'=', 1)\n"                                                       \
        "        got[k.decode()] = v.decode('utf-8')\n"                                              \
        "for k, v in want.items():\n"                                                                \
        "    if got.get(k) != v:\n"                                                                  \
        "        print('sh:', k, repr(got.get(k)), 'want', repr(v)); sys.exit(1)\n"

/* --- json: the output before issue 12 ------------------------------------------------ */

START_TEST(test_json_default)
{
        RenderSpec spec = { .name = "db" };
        /* sorted keys, <>& escaped as Go does, numbers as written, NUL kept */
        expect_one(&spec,
                   "{\"z\":1,\"a\":\"<b>&\",\"n\":null,\"o\":{\"y\":[1.5,true],\"x\":\"\\u0000\"}}",
                   "{\"a\":\"\\u003cb\\u003e\\u0026\",\"n\":null,\"o\":{\"x\":\"\\u0000\",\"y\":"
                   "[1.5,true]},\"z\":1}");
        spec.format = RENDER_FORMAT_JSON;
        expect_one(&spec, "{}", "{}");
}
END_TEST

START_TEST(test_json_matches_json_writer)
{
        /* the very bytes json_write_secret() gives with Go's flags */
        const char *doc = "{\"b\":\"line\\nnext\",\"a\":\"quote\\\"\",\"u\":\"\\u2028\",\"big\":"
                          "123456789012345678901234567890}";
        _cleanup_(json_value_unrefp) JsonValue *v = parse(doc);
        _cleanup_(secret_freep) Secret *want = NULL;
        RenderSpec spec = { .name = "x" };
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new(&want, 0), 0);
        ck_assert_int_eq(json_write_secret(v, JSON_WRITE_SORT_KEYS | JSON_WRITE_ESCAPE_HTML, want),
                         0);
        p = secret_get(want, &n);
        {
                Out o;
                ck_assert_int_eq(render(&spec, doc, &o), 0);
                expect_file(&o, 0, "x", p, n);
                out_done(&o);
        }
}
END_TEST

START_TEST(test_no_data)
{
        RenderSpec spec = { .name = "gone" };
        expect_fail(&spec, NULL, -ENOENT,
                    "object 'gone': the secret at its secretPath has no data");
        expect_fail(&spec, "null", -ENOENT, "has no data");
}
END_TEST

/* --- secretKey ------------------------------------------------------------------------ */

START_TEST(test_key_values)
{
        RenderSpec spec = { .name = "f", .key = "s" };
        expect_one(&spec, "{\"s\":\"raw \\\"text\\\"\\n\"}", "raw \"text\"\n");
        spec.key = "n";
        expect_one(&spec, "{\"n\":5432}", "5432");
        spec.key = "o";
        expect_one(&spec, "{\"o\":{\"b\":1,\"a\":\"<\"}}", "{\"a\":\"\\u003c\",\"b\":1}");
        spec.key = "missing";
        expect_fail(&spec, "{\"s\":\"" CANARY "\"}", -ENOENT,
                    "object 'f': key 'missing' does not exist");
        spec.key = "s";
        expect_fail(&spec, "[\"" CANARY "\"]", -EINVAL, "is not a JSON object");
}
END_TEST

START_TEST(test_key_encodings)
{
        RenderSpec spec = { .name = "bin", .key = "k", .encoding = SECRET_ENCODING_BASE64 };
        Out o;

        /* decoded bytes may be anything, non-UTF-8 and NUL included */
        ck_assert_int_eq(render(&spec, "{\"k\":\"/wAB\\n\"}", &o), 0);
        expect_file(&o, 0, "bin", "\xff\x00\x01", 3);
        out_done(&o);
        expect_fail(&spec, "{\"k\":\"" CANARY "!\"}", -EINVAL,
                    "the value of key 'k' is not valid base64");
        spec.encoding = SECRET_ENCODING_HEX;
        ck_assert_int_eq(render(&spec, "{\"k\":\"fF00\"}", &o), 0);
        expect_file(&o, 0, "bin", "\xff\x00", 2);
        out_done(&o);
        expect_fail(&spec, "{\"k\":\"abc\"}", -EINVAL, "not valid hex");
}
END_TEST

/* --- yaml ----------------------------------------------------------------------------- */

START_TEST(test_yaml_exact)
{
        RenderSpec spec = { .name = "cfg", .format = RENDER_FORMAT_YAML };
        expect_one(&spec,
                   "{\"b\":\"two\\nlines\",\"a\":5,\"c\":{\"d\":[1,\"x\",{}],\"e\":[]},\"f\":1e21,"
                   "\"g\":null,\"h\":true}",
                   "\"a\": 5\n"
                   "\"b\": \"two\\nlines\"\n"
                   "\"c\":\n"
                   "  \"d\":\n"
                   "    - 1\n"
                   "    - \"x\"\n"
                   "    - {}\n"
                   "  \"e\": []\n"
                   "\"f\": !!float 1e+21\n"
                   "\"g\": null\n"
                   "\"h\": true\n");
        expect_one(&spec, "{}", "{}\n");
}
END_TEST

START_TEST(test_yaml_escapes)
{
        RenderSpec spec = { .name = "cfg", .format = RENDER_FORMAT_YAML };
        /* NUL, bell, ESC, DEL, C1 NEL, U+2028, BOM, quote and backslash escaped;
         * é and the emoji kept as UTF-8 */
        expect_one(&spec,
                   "{\"k\\n\\\"\":\"\\u0000\\u0007\\u001b\\u007f\\u0085\\u2028\\ufeff\\\\\\\"$'"
                   "\\u00e9\\ud83d\\ude00\"}",
                   "\"k\\n\\\"\": \"\\0\\a\\e\\x7F\\x85\\u2028\\uFEFF\\\\\\\"$'\xc3\xa9"
                   "\xf0\x9f\x98\x80\"\n");
}
END_TEST

static const char *hostile_doc =
        "{\"plain\":\"value\",\"newline\":\"a\\nb\\n\",\"quotes\":\"it's \\\"q\\\"\","
        "\"dollar\":\"$HOME ${HOME} $(id) `id`\",\"backslash\":\"c:\\\\dir\\\\\\\\x\\\\\","
        "\"nul\":\"a\\u0000b\",\"cr\":\"a\\r\\nb\\r\",\"c1\":\"\\u0085\\u2028\\u2029\","
        "\"key: with colon\":\"# not a comment\",\"key\\nnewline\":\" lead and trail \","
        "\"yes\":\"no\",\"octal\":\"0755\",\"date\":\"2024-01-02\",\"empty\":\"\","
        "\"num\":-12,\"real\":0.5,\"exp\":1e-7,\"nested\":{\"list\":[null,false,\"~\"]},"
        "\"unicode\":\"\\u00e9\\u4e2d\\ud83d\\ude00\\ufeff\"}";

START_TEST(test_yaml_python_reads_back)
{
        RenderSpec spec = { .name = "cfg", .format = RENDER_FORMAT_YAML };
        Out o;

        ck_assert_msg(render(&spec, hostile_doc, &o) == 0, "%s", err);
        roundtrip(&o, hostile_doc, PY_YAML);
        out_done(&o);
}
END_TEST

START_TEST(test_yaml_non_utf8_never_reaches)
{
        /* jansson refuses bytes that are not UTF-8, and NUL in keys, so the
         * writers (which would refuse them too) never see any */
        const char *nul_key = "{\"a\\u0000b\":\"v\"}";
        JsonValue *v = NULL;

        ck_assert_int_eq(json_parse(nul_key, strlen(nul_key), 0, 0, &v, NULL), JSON_E_SYNTAX);
        ck_assert_str_eq(render_file_name_problem("a\0b", 3),
                         "contains a control character or NUL");
        const char *bad = "{\"k\":\"\xff\"}";
        ck_assert_int_eq(json_parse(bad, strlen(bad), 0, 0, &v, NULL), JSON_E_SYNTAX);
        ck_assert_int_eq(json_string_new("\xc3\x28", 2, &v), -EINVAL);
}
END_TEST

/* --- env ----------------------------------------------------------------------------- */

static const char *env_doc =
        "{\"PLAIN\":\"value\",\"NEWLINE\":\"a\\nb\\n\\n\",\"DQUOTE\":\"say \\\"hi\\\"\","
        "\"DOLLAR\":\"$HOME $(id) `id` $$ $1\",\"BACKSLASH\":\"c:\\\\dir\\\\x \\\\n\","
        "\"HASH\":\"a # b\",\"SPACES\":\"  lead and trail  \",\"EMPTY\":\"\","
        "\"TAB\":\"a\\tb\",\"UNICODE\":\"\\u00e9\\u4e2d\\ud83d\\ude00\",\"_under\":\"x\","
        "\"PORT\":5432,\"FLAG\":true,\"OBJ\":{\"b\":[1,2],\"a\":\"x\"},\"NULLV\":null,"
        "\"eq\":\"a=b==\"}";

START_TEST(test_env_exact)
{
        RenderSpec spec = { .name = "app.env", .format = RENDER_FORMAT_ENV };
        expect_one(&spec,
                   "{\"B\":\"two\\nlines\",\"A\":\"$x \\\"q\\\"\",\"N\":1,\"O\":{\"k\":\"v\"}}",
                   "A='$x \"q\"'\nB='two\nlines'\nN='1'\nO='{\"k\":\"v\"}'\n");
        expect_one(&spec, "{}", "");
}
END_TEST

START_TEST(test_env_shell_reads_back)
{
        RenderSpec spec = { .name = "app.env", .format = RENDER_FORMAT_ENV };
        Out o;

        ck_assert_msg(render(&spec, env_doc, &o) == 0, "%s", err);
        roundtrip(&o, env_doc, PY_SHELL);
        out_done(&o);
}
END_TEST

START_TEST(test_env_dotenv_reads_back)
{
        RenderSpec spec = { .name = "app.env", .format = RENDER_FORMAT_ENV };
        Out o;

        ck_assert_msg(render(&spec, env_doc, &o) == 0, "%s", err);
        roundtrip(&o, env_doc, PY_DOTENV);
        out_done(&o);
}
END_TEST

START_TEST(test_env_bad_keys)
{
        RenderSpec spec = { .name = "e", .format = RENDER_FORMAT_ENV };
        static const struct {
                const char *json_key;
                const char *shown;
        } bad[] = {
                { "1A", "'1A'" },
                { "A-B", "'A-B'" },
                { "A B", "'A B'" },
                { "A\\nB", "'A\\x0aB'" },
                { "", "''" },
                { "A'B", "'A\\x27B'" },
                { "\\u00e9", "'\\xc3\\xa9'" },
                { "A$", "'A$'" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char doc[256], needle[128];
                (void)snprintf(doc, sizeof(doc), "{\"OK\":\"1\",\"%s\":\"" CANARY "\"}",
                               bad[i].json_key);
                (void)snprintf(needle, sizeof(needle),
                               "object 'e': format env: key %s is not a shell variable name",
                               bad[i].shown);
                expect_fail(&spec, doc, -EINVAL, needle);
        }
}
END_TEST

START_TEST(test_env_unrepresentable_values)
{
        RenderSpec spec = { .name = "e", .format = RENDER_FORMAT_ENV };
        static const struct {
                const char *value;
                const char *why;
        } bad[] = {
                { "it's", "single quote" },          { "a\\u0000b", "NUL" },
                { "a\\rb", "carriage return" },      { "${HOME}", "'${'" },
                { "a\\\\\\\\b", "two backslashes" }, { "end\\\\", "ends with a backslash" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char doc[256];
                (void)snprintf(doc, sizeof(doc), "{\"KEY\":\"" CANARY "%s\"}", bad[i].value);
                expect_fail(&spec, doc, -EINVAL, "the value of key 'KEY'");
                expect_fail(&spec, doc, -EINVAL, bad[i].why);
        }
        /* inside a JSON-rendered value too */
        expect_fail(&spec, "{\"J\":{\"a\":\"it's\"}}", -EINVAL, "key 'J'");
}
END_TEST

/* --- template ---------------------------------------------------------------------------- */

START_TEST(test_template)
{
        RenderSpec spec = { .name = "url",
                            .template_text = "postgres://{{ username }}:{{password}}@db:5432/"
                                             "app?{{\tport }}" };
        expect_one(&spec, "{\"username\":\"u\",\"password\":\"p@ss:{{x}}\",\"port\":5432}",
                   "postgres://u:p@ss:{{x}}@db:5432/app?5432");
        /* {{{{ is a literal {{; a lone }} and single braces are text */
        spec.template_text = "{{{{ username }} }} {x} {{username}}";
        expect_one(&spec, "{\"username\":\"u\"}", "{{ username }} }} {x} u");
        spec.template_text = "{{{{{{ username }}";
        expect_one(&spec, "{\"username\":\"u\"}", "{{u");
        /* non-string values as JSON; bytes outside tags pass through */
        spec.template_text = "\xff{{ o }}\n";
        expect_one(&spec, "{\"o\":{\"b\":null,\"a\":[1]}}", "\xff{\"a\":[1],\"b\":null}\n");
        spec.template_text = "no tags";
        expect_one(&spec, "{}", "no tags");
        spec.template_text = "";
        expect_one(&spec, "{}", "");
}
END_TEST

START_TEST(test_template_errors)
{
        RenderSpec spec = { .name = "t", .template_text = "a {{ nope }}" };
        expect_fail(&spec, "{\"yes\":\"" CANARY "\"}", -EINVAL,
                    "object 't': template: key 'nope' does not exist");
        spec.template_text = "x\nab {{ yes";
        expect_fail(&spec, "{\"yes\":\"" CANARY "\"}", -EINVAL,
                    "template: '{{' at line 2, column 4 is not closed");
        spec.template_text = "{{  }}";
        expect_fail(&spec, "{\"yes\":\"1\"}", -EINVAL, "line 1, column 1 names no key");
        spec.template_text = "{{ a\nb }}";
        expect_fail(&spec, "{\"a\":\"1\"}", -EINVAL, "key 'a\\x0ab' does not exist");
        spec.template_text = "{{ yes }}";
        expect_fail(&spec, "[1]", -EINVAL, "needs a secret whose data is a JSON object");
        /* the syntax check alone, as volume-spec runs it before any request */
        ck_assert_int_eq(render_template_check("t", "{{ a }} {{{{", err, sizeof(err)), 0);
        ck_assert_int_eq(render_template_check("t", "{{ a }} {{", err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "line 1, column 9 is not closed"));
}
END_TEST

/* --- expand ------------------------------------------------------------------------------ */

START_TEST(test_expand)
{
        RenderSpec spec = { .name = "db", .expand = true };
        Out o;

        ck_assert_int_eq(render(&spec,
                                "{\"username\":\"u\",\"password\":\"p\\n\",\"port\":5432,"
                                "\"\\u00e9t\\u00e9\":\"x\",\"a b\":{\"k\":1}}",
                                &o),
                         0);
        ck_assert_uint_eq(o.n, 5);
        /* bytewise key order */
        expect_file(&o, 0, "db/a b", "{\"k\":1}", 7);
        expect_file(&o, 1, "db/password", "p\n", 2);
        expect_file(&o, 2, "db/port", "5432", 4);
        expect_file(&o, 3, "db/username", "u", 1);
        expect_file(&o, 4, "db/\xc3\xa9t\xc3\xa9", "x", 1);
        out_done(&o);

        ck_assert_int_eq(render(&spec, "{}", &o), 0);
        ck_assert_uint_eq(o.n, 0);
        out_done(&o);

        spec.encoding = SECRET_ENCODING_BASE64;
        ck_assert_int_eq(render(&spec, "{\"k1\":\"/w==\",\"k2\":\"AA==\"}", &o), 0);
        expect_file(&o, 0, "db/k1", "\xff", 1);
        expect_file(&o, 1, "db/k2", "\0", 1);
        out_done(&o);
        expect_fail(&spec, "{\"k1\":\"/w==\",\"k2\":\"" CANARY "\"}", -EINVAL,
                    "the value of key 'k2' is not valid base64");
}
END_TEST

START_TEST(test_expand_bad_names)
{
        RenderSpec spec = { .name = "db", .expand = true };
        static const struct {
                const char *json_key;
                const char *needle;
        } bad[] = {
                { "a/b", "key 'a/b' contains '/'" },
                { "..", "key '..' starts with '.'" },
                { ".hidden", "key '.hidden' starts with '.'" },
                { "", "key '' is empty" },
                { "a\\nb", "key 'a\\x0ab' contains a control character" },
                { "tab\\t", "contains a control character" },
        };
        char long_key[300];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char doc[256];
                (void)snprintf(doc, sizeof(doc), "{\"ok\":\"1\",\"%s\":\"" CANARY "\"}",
                               bad[i].json_key);
                expect_fail(&spec, doc, -EINVAL, bad[i].needle);
                expect_fail(&spec, doc, -EINVAL, "object 'db': expand:");
        }
        memset(long_key, 'k', 260);
        long_key[260] = 0;
        {
                char doc[400];
                (void)snprintf(doc, sizeof(doc), "{\"%s\":\"v\"}", long_key);
                expect_fail(&spec, doc, -EINVAL, "is longer than 253 bytes");
        }
        /* non-UTF-8 names cannot come from JSON; the checker still refuses them */
        ck_assert_str_eq(render_file_name_problem("a\xff", 2), "is not valid UTF-8");
        ck_assert_ptr_null(render_file_name_problem("ok-name_1.txt", 13));
}
END_TEST

/* --- caps ----------------------------------------------------------------------------------- */

static char *huge_doc(size_t value_len) {
        char *doc = malloc(value_len + 64);
        size_t o;

        ck_assert_ptr_nonnull(doc);
        o = (size_t)snprintf(doc, 64, "{\"BIG\":\"");
        memset(doc + o, 'v', value_len);
        o += value_len;
        (void)snprintf(doc + o, value_len + 64 - o, "\",\"SMALL\":\"s\"}");
        return doc;
}

START_TEST(test_caps)
{
        _cleanup_free_ char *doc = huge_doc(1 << 20);
        RenderSpec spec = { .name = "big", .max_file_bytes = 4096 };
        Out o;

        expect_fail(&spec, doc, -E2BIG,
                    "object 'big': file 'big' would be more than the node's "
                    "max-file-bytes (4096)");
        spec.format = RENDER_FORMAT_YAML;
        expect_fail(&spec, doc, -E2BIG, "max-file-bytes");
        spec.format = RENDER_FORMAT_ENV;
        expect_fail(&spec, doc, -E2BIG, "max-file-bytes");
        spec.format = RENDER_FORMAT_JSON;
        spec.key = "BIG";
        expect_fail(&spec, doc, -E2BIG, "max-file-bytes");
        spec.key = NULL;
        spec.template_text = "{{ SMALL }}{{ BIG }}";
        expect_fail(&spec, doc, -E2BIG, "max-file-bytes");
        spec.template_text = NULL;
        spec.expand = true;
        expect_fail(&spec, doc, -E2BIG, "file 'big/BIG' would be more");

        /* exactly at the cap is fine: BIG='<4000 v>'\n SMALL='s'\n is 4017 bytes */
        free(doc);
        doc = huge_doc(4000);
        spec = (RenderSpec){ .name = "big", .format = RENDER_FORMAT_ENV, .max_file_bytes = 4017 };
        ck_assert_msg(render(&spec, doc, &o) == 0, "%s", err);
        ck_assert_uint_eq(secret_size(o.files[0].data), 4017);
        out_done(&o);
        spec.max_file_bytes = 4016;
        expect_fail(&spec, doc, -E2BIG, "max-file-bytes");
}
END_TEST

/* --- names and combinations ------------------------------------------------------------------ */

START_TEST(test_names_check)
{
        const char *ok[] = { "a", "db/user", "db/pass", "dbx", "db-x/y" };
        const char *dup[] = { "a", "db/user", "a" };
        const char *dir[] = { "db/user", "x", "db" };
        const char *dup2[] = { "db/user", "db/user" };

        ck_assert_int_eq(render_names_check(ok, ELEMENTSOF(ok), err, sizeof(err)), 0);
        ck_assert_int_eq(render_names_check(NULL, 0, err, sizeof(err)), 0);
        ck_assert_int_eq(render_names_check(dup, ELEMENTSOF(dup), err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "file 'a' is produced twice"));
        ck_assert_int_eq(render_names_check(dir, ELEMENTSOF(dir), err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "file 'db' is also the directory of"));
        ck_assert_int_eq(render_names_check(dup2, ELEMENTSOF(dup2), err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "file 'db/user' is produced twice"));
}
END_TEST

static void spec_fails(const RenderSpec *spec, bool format_set, const char *needle) {
        ck_assert_int_eq(render_spec_check(spec, format_set, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, needle), "want '%s' in: %s", needle, err);
}

START_TEST(test_spec_check)
{
        _cleanup_(secret_freep) Secret *pw = NULL;
        RenderSpec s = { .name = "o", .key = "k" };

        ck_assert_int_eq(render_spec_check(&s, false, err, sizeof(err)), 0);
        spec_fails(&s, true, "format shapes the whole secret and secretKey picks one value");
        s.expand = true;
        spec_fails(&s, false, "expand writes every key");
        s = (RenderSpec){ .name = "o", .key = "k", .template_text = "x" };
        spec_fails(&s, false, "template writes the keys it names");
        s = (RenderSpec){ .name = "o", .expand = true, .format = RENDER_FORMAT_YAML };
        spec_fails(&s, true, "expand writes one file per key and format");
        s = (RenderSpec){ .name = "o", .expand = true, .template_text = "x" };
        spec_fails(&s, false, "expand writes one file per key and template");
        s = (RenderSpec){ .name = "o", .format = RENDER_FORMAT_ENV, .template_text = "x" };
        spec_fails(&s, true, "template is its own format");
        s = (RenderSpec){ .name = "o", .encoding = SECRET_ENCODING_HEX };
        spec_fails(&s, false, "encoding applies to one value or to each expanded file");
        s.expand = true;
        ck_assert_int_eq(render_spec_check(&s, false, err, sizeof(err)), 0);
        ck_assert_int_eq(secret_new_from(&pw, "a\0b", 3), 0);
        s = (RenderSpec){ .name = "o", .format = RENDER_FORMAT_PEM, .pkcs12_password = pw };
        spec_fails(&s, true, "pkcs12Password applies only to format pkcs12");
        s.format = RENDER_FORMAT_PKCS12;
        spec_fails(&s, true, "pkcs12Password holds a NUL byte");
        s = (RenderSpec){ .name = "o", .template_text = "{{" };
        spec_fails(&s, false, "is not closed");
        /* render_object() refuses the same */
        s = (RenderSpec){ .name = "o", .key = "k", .format = RENDER_FORMAT_YAML };
        expect_fail(&s, "{\"k\":\"v\"}", -EINVAL, "set only one of them");
}
END_TEST

START_TEST(test_format_names)
{
        ck_assert_int_eq(render_format_from_string("json"), RENDER_FORMAT_JSON);
        ck_assert_int_eq(render_format_from_string("YAML"), RENDER_FORMAT_YAML);
        ck_assert_int_eq(render_format_from_string("env"), RENDER_FORMAT_ENV);
        ck_assert_int_eq(render_format_from_string("pem"), RENDER_FORMAT_PEM);
        ck_assert_int_eq(render_format_from_string("pkcs12"), RENDER_FORMAT_PKCS12);
        ck_assert_int_eq(render_format_from_string("toml"), _RENDER_FORMAT_INVALID);
        ck_assert_int_eq(render_format_from_string(NULL), _RENDER_FORMAT_INVALID);
        ck_assert_str_eq(render_format_to_string(RENDER_FORMAT_PKCS12), "pkcs12");
        ck_assert_ptr_null(render_format_to_string(_RENDER_FORMAT_MAX));
}
END_TEST

static Suite *render_suite(void) {
        Suite *s = suite_create("render");
        TCase *tc;

        tc = tcase_create("json");
        tcase_add_test(tc, test_json_default);
        tcase_add_test(tc, test_json_matches_json_writer);
        tcase_add_test(tc, test_no_data);
        tcase_add_test(tc, test_key_values);
        tcase_add_test(tc, test_key_encodings);
        suite_add_tcase(s, tc);

        tc = tcase_create("yaml");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, test_yaml_exact);
        tcase_add_test(tc, test_yaml_escapes);
        tcase_add_test(tc, test_yaml_python_reads_back);
        tcase_add_test(tc, test_yaml_non_utf8_never_reaches);
        suite_add_tcase(s, tc);

        tc = tcase_create("env");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, test_env_exact);
        tcase_add_test(tc, test_env_shell_reads_back);
        tcase_add_test(tc, test_env_dotenv_reads_back);
        tcase_add_test(tc, test_env_bad_keys);
        tcase_add_test(tc, test_env_unrepresentable_values);
        suite_add_tcase(s, tc);

        tc = tcase_create("template-expand");
        tcase_add_test(tc, test_template);
        tcase_add_test(tc, test_template_errors);
        tcase_add_test(tc, test_expand);
        tcase_add_test(tc, test_expand_bad_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_caps);
        tcase_add_test(tc, test_names_check);
        tcase_add_test(tc, test_spec_check);
        tcase_add_test(tc, test_format_names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(render_suite());
}
