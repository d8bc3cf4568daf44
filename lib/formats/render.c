/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.c - an object's files from a secret's data object (see render.h
 * for the shapes, the limits and the error model; docs/output-formats.md
 * for users).
 *
 * Why the env quoting is what it is: a value is written in single quotes,
 * the one form that a POSIX shell (`.`), python-dotenv, Node's dotenv,
 * Ruby's dotenv, godotenv and docker compose all read literally, newlines
 * included. Inside single quotes a shell cannot escape a `'` at all, while
 * python-dotenv turns `\\` and `\'` into `\` and `'`, expands `${NAME}`,
 * and (like Node's dotenv) reads a CR as a line end; a trailing `\` would
 * escape the closing quote for the dotenv regexes. No quoting reads those
 * back the same everywhere, so such values are refused naming the key,
 * and the user picks yaml, json or expand instead. A POSIX shell variable
 * cannot hold NUL either.
 *
 * Why YAML strings are always double-quoted: a plain scalar changes type
 * (yes, 0755, 1e3, null, 2024-01-02) or meaning (": ", "#", leading
 * spaces) depending on the parser's YAML version; a double-quoted scalar
 * with every non-printable character escaped (C0, DEL, C1, U+2028/9, which
 * YAML 1.1 parsers fold as line breaks, and U+FEFF) reads back the same in
 * YAML 1.1 and 1.2 parsers. Reals carry an explicit !!float because a YAML
 * 1.1 parser reads 1e+21 (no '.') as a string.
 *
 * Keys are emitted in bytewise order (as the json shape is, Go's order), so
 * the same data always gives the same bytes.
 *
 * Never logs. Thread-safe (no shared state).
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "render.h"
#include "x509.h"
#include "fsutil.h"
#include "parse.h"
#include "utf8.h"
#include "macro.h"

#define JSON_WRITE_GO  (JSON_WRITE_SORT_KEYS | JSON_WRITE_ESCAPE_HTML)
#define QUOTE_MAX      64U  /* bytes of a key or name shown in a message */
#define YAML_DEPTH_MAX 256U /* json.c parses at most 64 deep by default */

/* A key or name for a message: printable ASCII as is, every other byte as
 * \xHH (so "a\nb" and "a b" stay apart), cut after QUOTE_MAX bytes. */
typedef struct Quoted {
        char s[QUOTE_MAX * 4 + 8];
} Quoted;

static const char *quote(Quoted *q, const char *p, size_t n) {
        size_t o = 0;

        for (size_t i = 0; p && i < n && i < QUOTE_MAX; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
                        q->s[o++] = (char)c;
                else
                        o += (size_t)snprintf(q->s + o, sizeof(q->s) - o, "\\x%02x", c);
        }
        if (p && n > QUOTE_MAX) {
                memcpy(q->s + o, "...", 3);
                o += 3;
        }
        q->s[o] = 0;
        return q->s;
}

static const char *quote_str(Quoted *q, const char *s) {
        return quote(q, s, s ? strlen(s) : 0);
}

/* --- formats ------------------------------------------------------------------- */

static const char *const format_names[_RENDER_FORMAT_MAX] = {
        [RENDER_FORMAT_JSON] = "json",     [RENDER_FORMAT_YAML] = "yaml",
        [RENDER_FORMAT_ENV] = "env",       [RENDER_FORMAT_PEM] = "pem",
        [RENDER_FORMAT_PKCS12] = "pkcs12",
};

RenderFormat render_format_from_string(const char *s) {
        for (int f = 0; s && f < _RENDER_FORMAT_MAX; f++)
                if (strcasecmp(s, format_names[f]) == 0)
                        return (RenderFormat)f;
        return _RENDER_FORMAT_INVALID;
}

const char *render_format_to_string(RenderFormat f) {
        return f >= 0 && f < _RENDER_FORMAT_MAX ? format_names[f] : NULL;
}

/* --- UTF-8 ----------------------------------------------------------------------- */

/* --- file names ---------------------------------------------------------------- */

/**
 * render_file_name_problem() - why a name cannot be a file in the volume.
 * @name: the name (may hold NUL within @len).
 * @len: its length in bytes.
 *
 * Return: NULL for a usable name, else a phrase ("is empty", ...).
 */
const char *render_file_name_problem(const char *name, size_t len) {
        if (!name || len == 0)
                return "is empty";
        if (len > RENDER_NAME_MAX)
                return "is longer than 253 bytes";
        if (name[0] == '.')
                return "starts with '.' (reserved for the volume's own files; also '.' and '..')";
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c == '/')
                        return "contains '/'";
                if (c < 0x20 || c == 0x7f)
                        return "contains a control character or NUL";
        }
        if (!utf8_valid(name, len))
                return "is not valid UTF-8";
        return NULL;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool name_present(const char **sorted, size_t n, const char *name) {
        return bsearch(&name, sorted, n, sizeof(*sorted), name_cmp) != NULL;
}

/**
 * render_names_check() - a volume's files do not collide.
 * @names: every file name of the volume ("obj" or "obj/key").
 * @n: their number.
 * @err: names the file produced twice.
 * @errlen: size of @err.
 *
 * Return: 0, -EINVAL (a name twice, or a name that is also a directory of
 * another), -ENOMEM.
 */
int render_names_check(const char *const *names, size_t n, char *err, size_t errlen) {
        _cleanup_free_ const char **sorted = NULL;
        Quoted q;

        if (n == 0)
                return 0;
        sorted = malloc(n * sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, names, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), name_cmp);
        for (size_t i = 1; i < n; i++)
                if (streq(sorted[i - 1], sorted[i]))
                        return err_fail(
                                err, errlen, -EINVAL,
                                "file '%s' is produced twice in this volume (by two objects "
                                "or an object and an expansion): rename an objectName",
                                quote_str(&q, sorted[i]));
        for (size_t i = 0; i < n; i++) {
                const char *slash = strchr(sorted[i], '/');
                _cleanup_free_ char *dir = NULL;

                if (!slash)
                        continue;
                dir = strndup(sorted[i], (size_t)(slash - sorted[i]));
                if (!dir)
                        return -ENOMEM;
                if (name_present(sorted, n, dir))
                        return err_fail(err, errlen, -EINVAL,
                                        "file '%s' is also the directory of the expanded file '%s' "
                                        "in this volume: rename an objectName",
                                        dir, quote_str(&q, sorted[i]));
        }
        return 0;
}

/* --- values ---------------------------------------------------------------------- */

typedef struct Member {
        const char *key;
        size_t len;
        const JsonValue *v;
} Member;

static int member_cmp(const void *a, const void *b) {
        const Member *x = a, *y = b;
        int c = memcmp(x->key, y->key, MIN(x->len, y->len));

        if (c != 0)
                return c;
        return x->len < y->len ? -1 : x->len > y->len;
}

/* The members of obj in bytewise key order (borrowed pointers). */
static int members_sorted(const JsonValue *obj, Member **ret, size_t *ret_n) {
        size_t n = json_object_count(obj), i = 0;
        JsonIter it = JSON_ITER_INIT;
        Member *m;

        m = calloc(n ? n : 1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        while (i < n && json_object_next(obj, &it, &m[i].key, &m[i].len, &m[i].v))
                i++;
        qsort(m, i, sizeof(*m), member_cmp);
        *ret = m;
        *ret_n = i;
        return 0;
}

/*
 * The bytes of one value: a string's own bytes, anything else as compact
 * JSON (written into *tmp, created on demand).
 */
static int value_bytes(const JsonValue *v, Secret **tmp, const uint8_t **ret_p, size_t *ret_n) {
        int r;

        if (json_value_kind(v) == JSON_KIND_STRING) {
                const char *s;
                r = json_value_string(v, &s, ret_n);
                if (r < 0)
                        return r;
                *ret_p = (const uint8_t *)s;
                return 0;
        }
        if (!*tmp) {
                r = secret_new(tmp, 0);
                if (r < 0)
                        return r;
        } else
                secret_clear(*tmp);
        r = json_write_secret(v, JSON_WRITE_GO, *tmp);
        if (r < 0)
                return r;
        *ret_p = secret_get(*tmp, ret_n);
        return 0;
}

static bool base64_char(uint8_t c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
}

/*
 * Standard base64 with padding, as Go's base64.StdEncoding: '\r' and '\n'
 * are skipped anywhere, nothing else is; '=' only ends the text.
 */
static int base64_decode(const uint8_t *p, size_t n, Secret *out) {
        unsigned char quad[4], triple[4];
        size_t q = 0;
        bool ended = false;
        int r = 0;

        for (size_t i = 0; i < n && r == 0; i++) {
                uint8_t ch = p[i];
                size_t pad;

                if (ch == '\r' || ch == '\n')
                        continue;
                if (ended || !(base64_char(ch) || ch == '=')) {
                        r = -EINVAL;
                        break;
                }
                quad[q++] = ch;
                if (q < 4)
                        continue;
                q = 0;
                pad = quad[3] == '=' ? (quad[2] == '=' ? 2 : 1) : 0;
                if (quad[0] == '=' || quad[1] == '=' || (quad[2] == '=' && pad != 2) ||
                    EVP_DecodeBlock(triple, quad, 4) != 3) {
                        r = -EINVAL;
                        break;
                }
                r = secret_append(out, triple, 3 - pad);
                ended = pad > 0;
        }
        if (r == 0 && q != 0)
                r = -EINVAL; /* not a multiple of four characters */
        secret_wipe(quad, sizeof(quad));
        secret_wipe(triple, sizeof(triple));
        return r;
}

static int hex_decode(const uint8_t *p, size_t n, Secret *out) {
        uint8_t chunk[64];
        size_t k = 0;
        int r = 0;

        if (n % 2 != 0)
                return -EINVAL;
        for (size_t i = 0; i < n && r == 0; i += 2) {
                int hi = hex_digit_value(p[i]), lo = hex_digit_value(p[i + 1]);
                if (hi < 0 || lo < 0) {
                        r = -EINVAL;
                        break;
                }
                chunk[k++] = (uint8_t)(hi << 4 | lo);
                if (k == sizeof(chunk) || i + 2 == n) {
                        r = secret_append(out, chunk, k);
                        k = 0;
                }
        }
        secret_wipe(chunk, sizeof(chunk));
        return r;
}

/* Appends p[0..n) decoded per encoding; err names the object and key. */
static int encoded_append(const RenderSpec *spec, const char *key, size_t key_len, const uint8_t *p,
                          size_t n, Secret *out, char *err, size_t errlen) {
        Quoted qn, qk;
        int r = 0;

        switch (spec->encoding) {
        case SECRET_ENCODING_UTF8:
                return secret_append(out, p, n);
        case SECRET_ENCODING_BASE64:
                r = base64_decode(p, n, out);
                if (r == -EINVAL)
                        return err_fail(err, errlen, -EINVAL,
                                        "object '%s': the value of key '%s' is not valid base64 "
                                        "(standard alphabet, padded)",
                                        quote_str(&qn, spec->name), quote(&qk, key, key_len));
                return r;
        case SECRET_ENCODING_HEX:
                r = hex_decode(p, n, out);
                if (r == -EINVAL)
                        return err_fail(err, errlen, -EINVAL,
                                        "object '%s': the value of key '%s' is not valid hex",
                                        quote_str(&qn, spec->name), quote(&qk, key, key_len));
                return r;
        }
        return -EINVAL;
}

/* --- KV v2 ---------------------------------------------------------------------------- */

/**
 * vault_data_unwrap_kv2() - the secret's own data from a KV v2 read.
 * @data: the response's data member.
 * @ret_is_kv2: set to whether @data had the KV v2 shape (may be NULL).
 *
 * The KV v2 shape is an object with exactly two members: "data" (an object,
 * or null for a deleted or destroyed version) and "metadata" (an object with
 * an integer "version"). A KV v1 secret that happens to hold "data" and
 * "metadata" keys without that metadata is returned unchanged.
 *
 * Return: the inner data, NULL for a deleted version, or @data itself.
 */
const JsonValue *vault_data_unwrap_kv2(const JsonValue *data, bool *ret_is_kv2) {
        const JsonValue *inner, *meta;
        int64_t version;
        JsonKind kind;

        if (ret_is_kv2)
                *ret_is_kv2 = false;
        if (json_value_kind(data) != JSON_KIND_OBJECT || json_object_count(data) != 2)
                return data;
        inner = json_object_member(data, "data");
        meta = json_object_member(data, "metadata");
        if (!inner || json_value_kind(meta) != JSON_KIND_OBJECT)
                return data;
        /* an integral real too: a document with a >64-bit integer has no
         * integers left (json.h) */
        if (json_value_int64(json_object_member(meta, "version"), &version) < 0)
                return data;
        kind = json_value_kind(inner);
        if (kind != JSON_KIND_OBJECT && kind != JSON_KIND_NULL)
                return data;
        if (ret_is_kv2)
                *ret_is_kv2 = true;
        return kind == JSON_KIND_NULL ? NULL : inner;
}

/* --- the file list ------------------------------------------------------------- */

typedef struct Files {
        RenderedFile *f;
        size_t n;
        size_t max_bytes;
} Files;

static void files_done(Files *fs) {
        fs->f = rendered_files_free(fs->f, fs->n);
        fs->n = 0;
}

/* A new empty file `name` (or `name/sub` when sub is set) bounded by the
 * cap; returns its Secret through *ret. */
static int files_add(Files *fs, const char *name, const char *sub, size_t sub_len, Secret **ret) {
        RenderedFile *grown;
        RenderedFile *f;
        size_t nl = strlen(name);
        int r;

        grown = realloc(fs->f, (fs->n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        fs->f = grown;
        f = &fs->f[fs->n];
        *f = (RenderedFile){ 0 };
        f->name = malloc(nl + (sub ? sub_len + 1 : 0) + 1);
        if (!f->name)
                return -ENOMEM;
        memcpy(f->name, name, nl);
        if (sub) {
                f->name[nl] = '/';
                memcpy(f->name + nl + 1, sub, sub_len);
                nl += sub_len + 1;
        }
        f->name[nl] = 0;
        r = secret_new(&f->data, fs->max_bytes);
        if (r < 0) {
                free(f->name);
                return r;
        }
        fs->n++;
        *ret = f->data;
        return 0;
}

/**
 * rendered_files_free() - frees a render_object() result.
 * @files: the array (may be NULL).
 * @n: its length.
 *
 * Return: NULL.
 */
RenderedFile *rendered_files_free(RenderedFile *files, size_t n) {
        for (size_t i = 0; files && i < n; i++) {
                free(files[i].name);
                secret_free(files[i].data);
        }
        free(files);
        return NULL;
}

/* --- secretKey and expand --------------------------------------------------------- */

static int render_key(const RenderSpec *spec, const JsonValue *data, Files *fs, char *err,
                      size_t errlen) {
        _cleanup_(secret_freep) Secret *tmp = NULL;
        const JsonValue *v;
        const uint8_t *p;
        Secret *out;
        Quoted qn, qk;
        size_t n = 0;
        int r;

        if (json_value_kind(data) != JSON_KIND_OBJECT)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': the secret's data is not a JSON object, so secretKey "
                                "'%s' cannot be read",
                                quote_str(&qn, spec->name), quote_str(&qk, spec->key));
        v = json_object_member(data, spec->key);
        if (!v)
                return err_fail(err, errlen, -ENOENT,
                                "object '%s': key '%s' does not exist in the secret at its "
                                "secretPath",
                                quote_str(&qn, spec->name), quote_str(&qk, spec->key));
        r = value_bytes(v, &tmp, &p, &n);
        if (r < 0)
                return r;
        r = files_add(fs, spec->name, NULL, 0, &out);
        if (r < 0)
                return r;
        return encoded_append(spec, spec->key, strlen(spec->key), p, n, out, err, errlen);
}

/* The secret's members, sorted, or a message that `what` needs an object. */
static int object_members(const RenderSpec *spec, const JsonValue *data, const char *what,
                          Member **ret, size_t *ret_n, char *err, size_t errlen) {
        Quoted qn;

        if (json_value_kind(data) != JSON_KIND_OBJECT)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': %s needs a secret whose data is a JSON object",
                                quote_str(&qn, spec->name), what);
        return members_sorted(data, ret, ret_n);
}

/* What a renderer of every member (expand, format env) does with each one. */
typedef struct MemberRenderer {
        const char *what; /* the renderer's name in the message for a non-object secret */
        /* 0, or an error with a message for a key the renderer cannot take */
        int (*check_key)(const RenderSpec *spec, const Member *m, char *err, size_t errlen);
        /* adds the member, whose value's bytes are p/len, to out */
        int (*add)(const RenderSpec *spec, const Member *m, const uint8_t *p, size_t len, void *out,
                   char *err, size_t errlen);
} MemberRenderer;

/* The secret's members in key order, each checked and added by mr. */
static int render_members(const RenderSpec *spec, const JsonValue *data, const MemberRenderer *mr,
                          void *out, char *err, size_t errlen) {
        _cleanup_(secret_freep) Secret *tmp = NULL;
        _cleanup_free_ Member *m = NULL;
        size_t n = 0;
        int r;

        r = object_members(spec, data, mr->what, &m, &n, err, errlen);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *p;
                size_t len;

                r = mr->check_key(spec, &m[i], err, errlen);
                if (r < 0)
                        return r;
                r = value_bytes(m[i].v, &tmp, &p, &len);
                if (r < 0)
                        return r;
                r = mr->add(spec, &m[i], p, len, out, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int expand_check_key(const RenderSpec *spec, const Member *m, char *err, size_t errlen) {
        const char *problem = render_file_name_problem(m->key, m->len);
        Quoted qn, qk;

        if (!problem)
                return 0;
        return err_fail(err, errlen, -EINVAL,
                        "object '%s': expand: key '%s' %s, so it cannot be a file "
                        "name: read it with secretKey or a format instead",
                        quote_str(&qn, spec->name), quote(&qk, m->key, m->len), problem);
}

/* One file named after the key. */
static int expand_add(const RenderSpec *spec, const Member *m, const uint8_t *p, size_t len,
                      void *out, char *err, size_t errlen) {
        Secret *file;
        int r;

        r = files_add(out, spec->name, m->key, m->len, &file);
        if (r < 0)
                return r;
        return encoded_append(spec, m->key, m->len, p, len, file, err, errlen);
}

static int render_expand(const RenderSpec *spec, const JsonValue *data, Files *fs, char *err,
                         size_t errlen) {
        static const MemberRenderer expand = { "expand", expand_check_key, expand_add };
        return render_members(spec, data, &expand, fs, err, errlen);
}

/* --- template ----------------------------------------------------------------------- */

typedef struct Tag {
        size_t start; /* offset of "{{" */
        size_t end;   /* offset after "}}" */
        size_t key;   /* the key's offset and length (blanks trimmed) */
        size_t key_len;
        bool literal; /* "{{{{" */
} Tag;

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* The next tag at or after i; false when there is none. -EINVAL through
 * *ret_r for an unterminated or empty tag. */
static bool tag_next(const char *t, size_t n, size_t i, Tag *tag, int *ret_r) {
        const char *open, *close;

        *ret_r = 0;
        open = i < n ? memmem(t + i, n - i, "{{", 2) : NULL;
        if (!open)
                return false;
        tag->start = (size_t)(open - t);
        if (tag->start + 4 <= n && memcmp(open + 2, "{{", 2) == 0) {
                tag->literal = true;
                tag->end = tag->start + 4;
                return true;
        }
        tag->literal = false;
        close = memmem(open + 2, n - tag->start - 2, "}}", 2);
        if (!close) {
                tag->end = 0; /* unterminated */
                tag->key_len = 0;
                *ret_r = -EINVAL;
                return true;
        }
        tag->end = (size_t)(close - t) + 2;
        tag->key = tag->start + 2;
        tag->key_len = (size_t)(close - t) - tag->key;
        while (tag->key_len > 0 && is_blank(t[tag->key]))
                tag->key++, tag->key_len--;
        while (tag->key_len > 0 && is_blank(t[tag->key + tag->key_len - 1]))
                tag->key_len--;
        if (tag->key_len == 0)
                *ret_r = -EINVAL;
        return true;
}

/* Line and column (1-based) of offset off, for messages. */
static void text_position(const char *t, size_t off, unsigned *line, unsigned *col) {
        *line = 1;
        *col = 1;
        for (size_t i = 0; i < off; i++) {
                if (t[i] == '\n') {
                        (*line)++;
                        *col = 1;
                } else
                        (*col)++;
        }
}

static int tag_error(const char *name, const char *t, const Tag *tag, char *err, size_t errlen) {
        unsigned line, col;
        Quoted qn;

        text_position(t, tag->start, &line, &col);
        if (tag->end == 0)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': template: '{{' at line %u, column %u is not closed "
                                "by '}}' (write '{{{{' for a literal '{{')",
                                quote_str(&qn, name), line, col);
        return err_fail(err, errlen, -EINVAL,
                        "object '%s': template: '{{ }}' at line %u, column %u names no key",
                        quote_str(&qn, name), line, col);
}

/**
 * render_template_check() - the syntax of a template, before any data.
 * @name: the objectName, for messages.
 * @text: the template.
 * @err: names the object and the position of the fault.
 * @errlen: size of @err.
 *
 * Return: 0, or -EINVAL for an unterminated '{{' or an empty '{{ }}'.
 */
int render_template_check(const char *name, const char *text, char *err, size_t errlen) {
        size_t n = strlen(text), i = 0;
        Tag tag = { 0 };
        int r;

        while (tag_next(text, n, i, &tag, &r)) {
                if (r < 0)
                        return tag_error(name, text, &tag, err, errlen);
                i = tag.end;
        }
        return 0;
}

static int render_template(const RenderSpec *spec, const JsonValue *data, Files *fs, char *err,
                           size_t errlen) {
        _cleanup_(secret_freep) Secret *tmp = NULL;
        const char *t = spec->template_text;
        size_t n = strlen(t), i = 0;
        Secret *out;
        Quoted qn, qk;
        Tag tag = { 0 };
        int r;

        r = render_template_check(spec->name, t, err, errlen);
        if (r < 0)
                return r;
        if (json_value_kind(data) != JSON_KIND_OBJECT)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': template needs a secret whose data is a JSON object",
                                quote_str(&qn, spec->name));
        r = files_add(fs, spec->name, NULL, 0, &out);
        if (r < 0)
                return r;
        while (tag_next(t, n, i, &tag, &r)) {
                _cleanup_free_ char *key = NULL;
                const JsonValue *v;
                const uint8_t *p;
                size_t len;

                r = secret_append(out, t + i, tag.start - i);
                if (r < 0)
                        return r;
                i = tag.end;
                if (tag.literal) {
                        r = secret_append(out, "{{", 2);
                        if (r < 0)
                                return r;
                        continue;
                }
                key = strndup(t + tag.key, tag.key_len);
                if (!key)
                        return -ENOMEM;
                v = json_object_member(data, key);
                if (!v)
                        return err_fail(err, errlen, -EINVAL,
                                        "object '%s': template: key '%s' does not exist in the "
                                        "secret at its secretPath",
                                        quote_str(&qn, spec->name), quote_str(&qk, key));
                r = value_bytes(v, &tmp, &p, &len);
                if (r < 0)
                        return r;
                r = secret_append(out, p, len);
                if (r < 0)
                        return r;
        }
        return secret_append(out, t + i, n - i);
}

/* --- env ------------------------------------------------------------------------------ */

static bool env_key_valid(const char *k, size_t n) {
        if (n == 0 ||
            !((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z') ||
                      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
                        return false;
        return true;
}

/* Why a value cannot sit in single quotes for every reader (see the top). */
static const char *env_value_problem(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                switch (p[i]) {
                case 0:
                        return "holds a NUL byte, which a shell variable cannot";
                case '\'':
                        return "holds a single quote (')";
                case '\r':
                        return "holds a carriage return, which dotenv parsers read as a line "
                               "end";
                case '$':
                        if (i + 1 < n && p[i + 1] == '{')
                                return "holds '${', which python-dotenv expands";
                        break;
                case '\\':
                        if (i + 1 == n)
                                return "ends with a backslash";
                        if (p[i + 1] == '\\')
                                return "holds two backslashes in a row, which python-dotenv "
                                       "reads as one";
                        break;
                default:
                        break;
                }
        return NULL;
}

static int env_check_key(const RenderSpec *spec, const Member *m, char *err, size_t errlen) {
        Quoted qn, qk;

        if (env_key_valid(m->key, m->len))
                return 0;
        return err_fail(err, errlen, -EINVAL,
                        "object '%s': format env: key '%s' is not a shell variable "
                        "name ([A-Za-z_][A-Za-z0-9_]*): use format yaml or json, or "
                        "expand",
                        quote_str(&qn, spec->name), quote(&qk, m->key, m->len));
}

/* One line KEY='value'. */
static int env_add(const RenderSpec *spec, const Member *m, const uint8_t *p, size_t len, void *out,
                   char *err, size_t errlen) {
        const char *problem = env_value_problem(p, len);
        Quoted qn, qk;
        int r;

        if (problem)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': format env: the value of key '%s' %s; a POSIX "
                                "shell and dotenv parsers cannot both read that back from an "
                                "env file: use format yaml or json, or expand",
                                quote_str(&qn, spec->name), quote(&qk, m->key, m->len), problem);
        if ((r = secret_append(out, m->key, m->len)) < 0 || (r = secret_append(out, "='", 2)) < 0 ||
            (r = secret_append(out, p, len)) < 0 || (r = secret_append(out, "'\n", 2)) < 0)
                return r;
        return 0;
}

static int render_env(const RenderSpec *spec, const JsonValue *data, Secret *out, char *err,
                      size_t errlen) {
        static const MemberRenderer env = { "format env", env_check_key, env_add };
        return render_members(spec, data, &env, out, err, errlen);
}

/* --- yaml ----------------------------------------------------------------------------- */

static int yaml_escape(Secret *out, uint32_t cp) {
        static const char simple[] = {
                [0] = '0',  [7] = 'a',  [8] = 'b',  [9] = 't',   [10] = 'n',   [11] = 'v',
                [12] = 'f', [13] = 'r', [27] = 'e', ['"'] = '"', ['\\'] = '\\'
        };
        char buf[12];

        if (cp < sizeof(simple) && simple[cp]) {
                buf[0] = '\\';
                buf[1] = simple[cp];
                return secret_append(out, buf, 2);
        }
        if (cp < 0x100)
                (void)snprintf(buf, sizeof(buf), "\\x%02X", (unsigned)cp);
        else
                (void)snprintf(buf, sizeof(buf), "\\u%04X", (unsigned)cp);
        return secret_append(out, buf, strlen(buf));
}

static bool yaml_needs_escape(uint32_t cp) {
        return cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
               cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/* A double-quoted scalar; -EINVAL for bytes that are not UTF-8. */
static int yaml_string(Secret *out, const char *s, size_t n) {
        const uint8_t *p = (const uint8_t *)s;
        size_t run = 0;
        int r;

        r = secret_append(out, "\"", 1);
        for (size_t i = 0; r == 0 && i < n;) {
                uint32_t cp;
                size_t k = utf8_next(p + i, n - i, &cp);

                if (k == 0)
                        return -EINVAL;
                if (yaml_needs_escape(cp)) {
                        r = secret_append(out, p + run, i - run);
                        if (r == 0)
                                r = yaml_escape(out, cp);
                        run = i + k;
                }
                i += k;
        }
        if (r == 0)
                r = secret_append(out, p + run, n - run);
        if (r == 0)
                r = secret_append(out, "\"", 1);
        return r;
}

static int yaml_indent(Secret *out, unsigned indent) {
        static const char spaces[] = "                                ";
        int r = 0;

        while (r == 0 && indent > 0) {
                unsigned k = MIN(indent, (unsigned)sizeof(spaces) - 1);
                r = secret_append(out, spaces, k);
                indent -= k;
        }
        return r;
}

static bool yaml_is_block(const JsonValue *v) {
        JsonKind k = json_value_kind(v);
        return (k == JSON_KIND_OBJECT && json_object_count(v) > 0) ||
               (k == JSON_KIND_ARRAY && json_array_count(v) > 0);
}

/* A value that fits on its line: a scalar, {} or []. */
static int yaml_inline(Secret *out, const JsonValue *v) {
        const char *s;
        size_t n = 0;
        int r;

        switch (json_value_kind(v)) {
        case JSON_KIND_STRING:
                r = json_value_string(v, &s, &n);
                return r < 0 ? r : yaml_string(out, s, n);
        case JSON_KIND_OBJECT:
                return secret_append(out, "{}", 2);
        case JSON_KIND_ARRAY:
                return secret_append(out, "[]", 2);
        case JSON_KIND_REAL:
                r = secret_append(out, "!!float ", 8);
                return r < 0 ? r : json_write_secret(v, 0, out);
        default: /* integers, booleans, null: JSON's text is YAML's */
                return json_write_secret(v, 0, out);
        }
}

static int yaml_block(Secret *out, const JsonValue *v, unsigned indent, unsigned depth);

/* After "key:" or "-": the value inline, or a block on the next lines. */
static int yaml_after(Secret *out, const JsonValue *v, unsigned indent, unsigned depth) {
        int r;

        if (!yaml_is_block(v)) {
                r = secret_append(out, " ", 1);
                if (r == 0)
                        r = yaml_inline(out, v);
                return r < 0 ? r : secret_append(out, "\n", 1);
        }
        r = secret_append(out, "\n", 1);
        return r < 0 ? r : yaml_block(out, v, indent + 2, depth + 1);
}

static int yaml_block(Secret *out, const JsonValue *v, unsigned indent, unsigned depth) {
        _cleanup_free_ Member *m = NULL;
        size_t n = 0;
        int r;

        if (depth > YAML_DEPTH_MAX)
                return -ELOOP;
        if (json_value_kind(v) == JSON_KIND_ARRAY) {
                for (size_t i = 0; i < json_array_count(v); i++) {
                        if ((r = yaml_indent(out, indent)) < 0 ||
                            (r = secret_append(out, "-", 1)) < 0 ||
                            (r = yaml_after(out, json_array_element(v, i), indent, depth)) < 0)
                                return r;
                }
                return 0;
        }
        r = members_sorted(v, &m, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if ((r = yaml_indent(out, indent)) < 0 ||
                    (r = yaml_string(out, m[i].key, m[i].len)) < 0 ||
                    (r = secret_append(out, ":", 1)) < 0 ||
                    (r = yaml_after(out, m[i].v, indent, depth)) < 0)
                        return r;
        }
        return 0;
}

static int render_yaml(const RenderSpec *spec, const JsonValue *data, Secret *out, char *err,
                       size_t errlen) {
        Quoted qn;
        int r;

        if (yaml_is_block(data))
                r = yaml_block(out, data, 0, 0);
        else {
                r = yaml_inline(out, data);
                if (r == 0)
                        r = secret_append(out, "\n", 1);
        }
        if (r == -EINVAL || r == -ELOOP)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': format yaml: the secret holds %s",
                                quote_str(&qn, spec->name),
                                r == -EINVAL ? "text that is not UTF-8" : "nesting too deep");
        return r;
}

/* --- PKI ------------------------------------------------------------------------------ */

typedef struct Pki {
        X509Text leaf;
        X509Text key;
        X509Text *chain;
        char (*fields)[32];
        size_t n_chain;
} Pki;

static void pki_done(Pki *k) {
        free(k->chain);
        free(k->fields);
        *k = (Pki){ 0 };
}

static int pki_text(const JsonValue *v, const char *field, X509Text *t) {
        if (json_value_string(v, &t->p, &t->n) < 0 || t->n == 0)
                return -EINVAL;
        t->field = field;
        return 0;
}

/* certificate, private_key (when want_key) and ca_chain (else issuing_ca). */
static int pki_collect(const RenderSpec *spec, const JsonValue *data, bool want_key, Pki *k,
                       char *err, size_t errlen) {
        const JsonValue *chain = json_object_member(data, "ca_chain");
        size_t n = json_array_count(chain);
        const char *fmt = render_format_to_string(spec->format);
        Quoted qn;

        quote_str(&qn, spec->name);
        if (pki_text(json_object_member(data, "certificate"), "certificate", &k->leaf) < 0)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': format %s needs a PKI issue%s response: its "
                                "'certificate' is missing or not a string",
                                qn.s, fmt, want_key ? "" : "/sign");
        if (want_key &&
            pki_text(json_object_member(data, "private_key"), "private_key", &k->key) < 0)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': format %s needs the response's 'private_key' (a PKI "
                                "issue, not sign, response)",
                                qn.s, fmt);
        k->chain = calloc(n ? n : 1, sizeof(*k->chain));
        k->fields = calloc(n ? n : 1, sizeof(*k->fields));
        if (!k->chain || !k->fields)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                (void)snprintf(k->fields[i], sizeof(k->fields[i]), "ca_chain[%zu]", i);
                if (pki_text(json_array_element(chain, i), k->fields[i], &k->chain[i]) < 0)
                        return err_fail(err, errlen, -EINVAL,
                                        "object '%s': format %s: '%s' is not a PEM string", qn.s,
                                        fmt, k->fields[i]);
        }
        k->n_chain = n;
        if (n == 0 &&
            pki_text(json_object_member(data, "issuing_ca"), "issuing_ca", &k->chain[0]) == 0)
                k->n_chain = 1;
        return 0;
}

static int render_pem(const RenderSpec *spec, const JsonValue *data, Secret *out, char *err,
                      size_t errlen) {
        char why[256] = "";
        Pki k = { 0 };
        Quoted qn;
        int r;

        r = pki_collect(spec, data, false, &k, err, errlen);
        if (r == 0) {
                r = x509_pem_chain(&k.leaf, k.chain, k.n_chain, out, why, sizeof(why));
                if (r == -EINVAL)
                        r = err_fail(err, errlen, -EINVAL, "object '%s': format pem: %s",
                                     quote_str(&qn, spec->name), why);
        }
        pki_done(&k);
        return r;
}

static int pkcs12_password(const RenderSpec *spec, const char **ret, char *err, size_t errlen) {
        const uint8_t *p;
        size_t n = 0;
        Quoted qn;

        if (!spec->pkcs12_password) {
                *ret = "";
                return 0;
        }
        p = secret_get(spec->pkcs12_password, &n);
        if (memchr(p, 0, n))
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': pkcs12Password holds a NUL byte",
                                quote_str(&qn, spec->name));
        *ret = (const char *)p; /* secret_get() bytes are NUL-terminated */
        return 0;
}

static int render_pkcs12(const RenderSpec *spec, const JsonValue *data, Secret *out, char *err,
                         size_t errlen) {
        const char *pass = NULL;
        char why[256] = "";
        bool same = false;
        Pki k = { 0 };
        Quoted qn;
        int r;

        r = pkcs12_password(spec, &pass, err, errlen);
        if (r == 0)
                r = pki_collect(spec, data, true, &k, err, errlen);
        if (r == 0 && spec->previous) {
                size_t n;
                const uint8_t *p = secret_get(spec->previous, &n);
                r = x509_pkcs12_same(p, n, &k.leaf, &k.key, k.chain, k.n_chain, pass, &same);
                if (r == 0 && same)
                        r = secret_append(out, p, n);
                else if (r == -EINVAL)
                        r = 0; /* the build below names the field at fault */
        }
        if (r == 0 && !same) {
                r = x509_pkcs12_build(&k.leaf, &k.key, k.chain, k.n_chain, pass, spec->name, out,
                                      why, sizeof(why));
                if (r == -EINVAL)
                        r = err_fail(err, errlen, -EINVAL, "object '%s': format pkcs12: %s",
                                     quote_str(&qn, spec->name), why);
        }
        pki_done(&k);
        return r;
}

/* --- combinations ---------------------------------------------------------------------- */

static const char *spec_clash(const RenderSpec *spec, bool format_set) {
        bool tmpl = spec->template_text != NULL;

        if (spec->key && format_set)
                return "format shapes the whole secret and secretKey picks one value";
        if (spec->key && spec->expand)
                return "expand writes every key of the secret and secretKey picks one";
        if (spec->key && tmpl)
                return "template writes the keys it names and secretKey picks one value";
        if (spec->expand && format_set)
                return "expand writes one file per key and format one file of the whole secret";
        if (spec->expand && tmpl)
                return "expand writes one file per key and template one file";
        if (tmpl && format_set)
                return "template is its own format";
        return NULL;
}

/**
 * render_spec_check() - whether an object's fields make sense together.
 * @spec: the object's spec.
 * @format_set: whether the object set format (json is also the default).
 * @err: names the object and the fields to fix.
 * @errlen: size of @err.
 *
 * Return: 0 or -EINVAL.
 */
int render_spec_check(const RenderSpec *spec, bool format_set, char *err, size_t errlen) {
        const char *clash;
        Quoted qn;

        if (!spec || isempty(spec->name))
                return -EINVAL;
        quote_str(&qn, spec->name);
        clash = spec_clash(spec, format_set);
        if (clash)
                return err_fail(err, errlen, -EINVAL, "object '%s': %s: set only one of them", qn.s,
                                clash);
        if (spec->encoding != SECRET_ENCODING_UTF8 && !spec->key && !spec->expand)
                return err_fail(err, errlen, -EINVAL,
                                "object '%s': encoding applies to one value or to each expanded "
                                "file: set secretKey or expand too",
                                qn.s);
        if (spec->format < 0 || spec->format >= _RENDER_FORMAT_MAX)
                return err_fail(err, errlen, -EINVAL, "object '%s': unknown format", qn.s);
        if (spec->pkcs12_password) {
                const char *pass;
                if (spec->format != RENDER_FORMAT_PKCS12)
                        return err_fail(err, errlen, -EINVAL,
                                        "object '%s': pkcs12Password applies only to format pkcs12",
                                        qn.s);
                if (pkcs12_password(spec, &pass, err, errlen) < 0)
                        return -EINVAL;
        }
        if (spec->template_text)
                return render_template_check(spec->name, spec->template_text, err, errlen);
        return 0;
}

/* --- the entry point ------------------------------------------------------------------- */

static int render_whole(const RenderSpec *spec, const JsonValue *data, Files *fs, char *err,
                        size_t errlen) {
        Secret *out;
        int r;

        r = files_add(fs, spec->name, NULL, 0, &out);
        if (r < 0)
                return r;
        switch (spec->format) {
        case RENDER_FORMAT_JSON:
                return json_write_secret(data, JSON_WRITE_GO, out);
        case RENDER_FORMAT_YAML:
                return render_yaml(spec, data, out, err, errlen);
        case RENDER_FORMAT_ENV:
                return render_env(spec, data, out, err, errlen);
        case RENDER_FORMAT_PEM:
                return render_pem(spec, data, out, err, errlen);
        case RENDER_FORMAT_PKCS12:
                return render_pkcs12(spec, data, out, err, errlen);
        default:
                return -EINVAL;
        }
}

/**
 * render_object() - an object's files from its secret's data.
 * @spec: what the object asks for (render.h).
 * @data: the secret's data object (KV v2: the inner data); NULL or JSON
 *        null is "no data" (a deleted version).
 * @ret_files: the files, in a new array (rendered_files_free()).
 * @ret_n: their number.
 * @err: names the object and the key or field to fix, never a value.
 * @errlen: size of @err.
 *
 * Return: 0; -EINVAL, -ENOENT, -E2BIG (a file above spec->max_file_bytes),
 * -ENOMEM (see render.h).
 */
int render_object(const RenderSpec *spec, const JsonValue *data, RenderedFile **ret_files,
                  size_t *ret_n, char *err, size_t errlen) {
        Files fs = { .max_bytes = spec && spec->max_file_bytes ? spec->max_file_bytes
                                                               : SECRET_SIZE_MAX };
        Quoted qn;
        int r;

        if (err && errlen > 0)
                err[0] = 0;
        if (!spec || isempty(spec->name) || !ret_files || !ret_n)
                return -EINVAL;
        r = render_spec_check(spec, spec->format != RENDER_FORMAT_JSON, err, errlen);
        if (r < 0)
                return r;
        if (!data || json_value_kind(data) == JSON_KIND_NULL)
                return err_fail(err, errlen, -ENOENT,
                                "object '%s': the secret at its secretPath has no data (a deleted "
                                "or destroyed KV v2 version?)",
                                quote_str(&qn, spec->name));
        if (spec->key)
                r = render_key(spec, data, &fs, err, errlen);
        else if (spec->expand)
                r = render_expand(spec, data, &fs, err, errlen);
        else if (spec->template_text)
                r = render_template(spec, data, &fs, err, errlen);
        else
                r = render_whole(spec, data, &fs, err, errlen);
        if (r == -E2BIG && (!err || !err[0]))
                r = err_fail(err, errlen, -E2BIG,
                             "object '%s': file '%s' would be more than the node's max-file-bytes "
                             "(%zu)",
                             quote_str(&qn, spec->name),
                             fs.n > 0 ? fs.f[fs.n - 1].name : spec->name, fs.max_bytes);
        if (r < 0) {
                files_done(&fs);
                return r;
        }
        *ret_files = fs.f;
        *ret_n = fs.n;
        return 0;
}
