/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.h - the bytes of an object's files: a Vault secret's data object
 * shaped the way applications read it (docs/output-formats.md).
 *
 * One call, render_object(), turns a RenderSpec (what the object asks for)
 * and the secret's data object into a list of files, each a (name, Secret)
 * pair:
 *
 *   key set        one file `name`: the key's value (a string raw, any other
 *                  JSON value compact), then `encoding` (base64/hex decode)
 *   template       one file `name`: the template with every `{{ key }}`
 *                  replaced by that key's value (as with key set); `{{{{` is a
 *                  literal `{{`; nothing else is interpreted
 *   expand         one file `name/<key>` per key of the data (the value as
 *                  with key set, `encoding` applied to each); a key that is
 *                  not a safe file name is refused
 *   format json    one file: the whole data as compact JSON in Go's bytes
 *                  (sorted keys, <>& escaped): the output before the other formats existed
 *   format yaml    one file: a YAML block mapping, every string
 *                  double-quoted with escapes, numbers, booleans, null and
 *                  nesting kept (reals as !!float)
 *   format env     one file: KEY='value' per key; keys must match
 *                  [A-Za-z_][A-Za-z0-9_]*; non-strings as compact JSON;
 *                  values a POSIX shell and dotenv parsers cannot both read
 *                  back exactly (', CR, NUL, "${", "\\", a final '\') are
 *                  refused naming the key
 *   format pem     one file: `certificate` then `ca_chain` (else
 *                  `issuing_ca`), leaf first, each certificate once (x509.h)
 *   format pkcs12  one file: a PKCS#12 bundle of `certificate`,
 *                  `private_key` and the chain (x509.h)
 *
 * `data` is the secret's data object as the caller selects it: the response
 * `data` member, or for KV v2 the inner `data.data` (vault_data_unwrap_kv2()
 * in volume-spec.h). Files never exceed spec->max_file_bytes: the output
 * Secret is bounded, so a huge value stops the renderer with -E2BIG.
 *
 * Errors: 0; -EINVAL (the object is not renderable from this data: bad key
 * name, unknown template key, unterminated `{{`, value an env file cannot
 * carry, bad base64/hex, not a PKI response) with a message in err that
 * names the object and the key or field to fix, never a value; -ENOENT (no
 * data, or secretKey absent: the caller answers NOT_FOUND as before);
 * -E2BIG (a file above max_file_bytes); -ENOMEM.
 *
 * Output lives only in Secrets (wiped, never logged); temporaries are
 * wiped. Pure: no I/O, never logs. Thread-safe (no shared state).
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "secret.h"

typedef enum SecretEncoding {
        SECRET_ENCODING_UTF8,
        SECRET_ENCODING_BASE64,
        SECRET_ENCODING_HEX,
} SecretEncoding;

typedef enum RenderFormat {
        RENDER_FORMAT_JSON, /* the default */
        RENDER_FORMAT_YAML,
        RENDER_FORMAT_ENV,
        RENDER_FORMAT_PEM,
        RENDER_FORMAT_PKCS12,
        _RENDER_FORMAT_MAX,
        _RENDER_FORMAT_INVALID = -EINVAL,
} RenderFormat;

/* "json", "yaml", "env", "pem", "pkcs12" (case-insensitive); else
 * _RENDER_FORMAT_INVALID. */
RenderFormat render_format_from_string(const char *s);
const char *render_format_to_string(RenderFormat f);

typedef struct RenderSpec {
        const char *name;              /* objectName: the file, or the directory with expand */
        const char *key;               /* secretKey, or NULL */
        RenderFormat format;           /* the whole secret's shape (key, template, expand unset) */
        SecretEncoding encoding;       /* applied to a key's value, and to each expanded file */
        bool expand;                   /* one file per key under name/ */
        const char *template_text;     /* template, or NULL */
        const Secret *pkcs12_password; /* NULL: the empty password */
        /* pkcs12 only: the object's current file, or NULL. When it holds the
         * same certificate, key and chain under the same password it is
         * returned as is, so the file changes only when its inputs do (a
         * PKCS#12 bundle has random salts and IVs). */
        const Secret *previous;
        size_t max_file_bytes; /* 0: SECRET_SIZE_MAX */
} RenderSpec;

typedef struct RenderedFile {
        char *name; /* "objectName", or "objectName/key" with expand */
        Secret *data;
} RenderedFile;

/*
 * Renders one object (see the top of this file). On success *ret_files is
 * an array of *ret_n files (free with rendered_files_free()); one file
 * unless expand is set (an empty data object then gives none). Outputs are
 * written only on success.
 */
int render_object(const RenderSpec *spec, const JsonValue *data, RenderedFile **ret_files,
                  size_t *ret_n, char *err, size_t errlen);
/*
 * Whether an object's fields make sense together, before any data: at most
 * one of key, expand, template and a format (format_set: the object named
 * one; json is also the default); encoding only with key or expand;
 * pkcs12_password only with pkcs12 and without NUL; a template's syntax.
 * Returns 0, or -EINVAL with err naming the object and the fields.
 * render_object() checks it too (format_set = format != json).
 */
int render_spec_check(const RenderSpec *spec, bool format_set, char *err, size_t errlen);

/*
 * The template's syntax alone (for the volume spec, before any Vault
 * request): 0, or -EINVAL naming the line and column of an unterminated
 * '{{' or an empty '{{ }}'. render_object() checks it again.
 */
int render_template_check(const char *name, const char *text, char *err, size_t errlen);

/* Frees names and Secrets (wiped) and the array; NULL is fine. Returns NULL. */
RenderedFile *rendered_files_free(RenderedFile *files, size_t n);

/* A file name the volume can hold: non-empty, at most RENDER_NAME_MAX
 * bytes, no '/', no NUL or other control character, no leading '.' (so not
 * "." or ".."), valid UTF-8. Returns NULL or the problem ("is empty"...). */
#define RENDER_NAME_MAX 253U
const char *render_file_name_problem(const char *name, size_t len);

/*
 * Checks a whole volume's file list (every object's files, expansions
 * included): no name twice, and no name that is also the directory of
 * another ("db" and "db/user"). Returns 0, or -EINVAL with err naming the
 * file, or -ENOMEM.
 */
int render_names_check(const char *const *names, size_t n, char *err, size_t errlen);

/* For a KV v2 response: data holds exactly "data" (object or null) and
 * "metadata" (object with "version"). Returns the inner data (or NULL for
 * null) and sets *ret_is_kv2; otherwise returns `data` unchanged. */
const JsonValue *vault_data_unwrap_kv2(const JsonValue *data, bool *ret_is_kv2);
