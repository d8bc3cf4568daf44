/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-sa-token.c - the tokens JSON kubelet sends (csi.storage.k8s.io/
 * serviceAccount.tokens), as sa_token_get() reads it.
 *
 * The input is the value of the tokens key. It is tried from `secrets` and
 * from `volume_context` under both token-source policies, for several
 * audiences (kubelet's "" among them), at a fixed time. Invariants checked
 * with abort():
 *   - a result is 0, a positive SA_TOKEN_E_* with a message, or -ENOMEM;
 *   - on success the JWT is non-empty, JWT-shaped (two dots) and holds no NUL;
 *   - a message is bounded, one line, and quotes nothing of the input but the
 *     audience asked for: no key, token or other string of the input (of 12
 *     bytes or more) shows up in it, unless it is part of the messages' own
 *     fixed wording (gathered once from inputs that reach every failure).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sa-token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW    1700000000LL
#define DRIVER "csi.vaultmount.io"

/*
 * Every fixed phrase the messages can hold, gathered once from inputs that
 * reach each failure: a string of the input that is part of one of them
 * (a key named "service-account token", say) is not an echo.
 */
static char fixed_text[16384];

static void gather_fixed(void) {
        static const char *const inputs[] = {
                "x",
                "[]",
                "{\"a\":",
                "{\"vault\":1}",
                "{\"vault\":{}}",
                "{\"vault\":{\"token\":1}}",
                "{\"vault\":{\"token\":\"\"}}",
                "{\"vault\":{\"token\":\"a\"}}",
                "{\"vault\":{\"token\":\"e30.e30.x\"}}",
                "{\"vault\":{\"token\":\"e30.e30.x\",\"expirationTimestamp\":1}}",
                "{\"vault\":{\"token\":\"e30.e30.x\",\"expirationTimestamp\":\"x\"}}",
                "{\"vault\":{\"token\":\"e30.e30.x\",\"expirationTimestamp\":"
                "\"2000-01-01T00:00:00Z\"}}",
                "{\"a\":{\"b\":{\"c\":1}}}",
                "{}",
                "{\"o\":1}",
                "{\"o\":1,\"p\":2}",
        };
        size_t o = 0;
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
                for (int where = 0; where < 3; where++) {
                        KeyValue kv[] = { { SA_TOKENS_KEY, inputs[i] } };
                        SaToken t = { 0 };
                        char err[512] = "";
                        (void)sa_token_get(where == 0 ? kv : NULL, where == 0,
                                           where == 1 ? kv : NULL, where == 1,
                                           where == 2 ? TOKEN_SOURCE_SECRETS_ONLY
                                                      : TOKEN_SOURCE_SECRETS_OR_CONTEXT,
                                           "vault", NOW, DRIVER, &t, err, sizeof(err));
                        sa_token_done(&t);
                        o += (size_t)snprintf(fixed_text + o, sizeof(fixed_text) - o, "%s\n", err);
                        if (o >= sizeof(fixed_text))
                                abort();
                }
}

static void check_string(const char *msg, const char *s, size_t n, const char *aud) {
        char *copy;
        if (n < 12 || memchr(s, 0, n))
                return;
        copy = strndup(s, n);
        if (!copy)
                return;
        if (strstr(msg, copy) && !strstr(aud, copy) && !strstr(fixed_text, copy))
                abort();
        free(copy);
}

/* No key or string value of the input is quoted, but the audience asked for. */
static void check_no_echo(const char *msg, const char *in, size_t n, const char *aud) {
        JsonValue *root = NULL;
        JsonIter it = JSON_ITER_INIT;
        const char *key, *s;
        size_t klen, sn;
        const JsonValue *v;

        if (json_parse(in, n, 0, 8, &root, NULL) != 0)
                return;
        while (json_object_next(root, &it, &key, &klen, &v)) {
                JsonIter it2 = JSON_ITER_INIT;
                const char *k2;
                size_t k2len;
                const JsonValue *v2;
                check_string(msg, key, klen, aud);
                if (json_value_string(v, &s, &sn) == 0)
                        check_string(msg, s, sn, aud);
                /* expirationTimestamp is quoted as a parsed time, never as sent */
                while (json_object_next(v, &it2, &k2, &k2len, &v2)) {
                        check_string(msg, k2, k2len, aud);
                        if (k2len == 5 && memcmp(k2, "token", 5) == 0 &&
                            json_value_string(v2, &s, &sn) == 0)
                                check_string(msg, s, sn, aud);
                }
        }
        json_value_unref(root);
}

static void check(int r, const SaToken *t, const char *err, size_t errlen, const char *in, size_t n,
                  const char *aud) {
        size_t len;

        if (r < 0 && r != -ENOMEM && r != -EINVAL)
                abort();
        if (r == 0) {
                size_t jn;
                const uint8_t *j = secret_get(t->jwt, &jn);
                size_t dots = 0;
                if (!j || jn == 0 || memchr(j, 0, jn))
                        abort();
                for (size_t i = 0; i < jn; i++)
                        dots += j[i] == '.';
                if (dots != 2 || strcmp(t->audience, aud) != 0)
                        abort();
                return;
        }
        len = strnlen(err, errlen);
        if (len == 0 || len >= errlen)
                abort();
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)err[i] < 0x20)
                        abort();
        check_no_echo(err, in, n, aud);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const audiences[] = { "vault", "", "https://kubernetes.default.svc" };
        char *value = malloc(size + 1);

        if (!value)
                return 0;
        if (!fixed_text[0])
                gather_fixed();
        memcpy(value, data, size);
        value[size] = 0; /* protobuf-c hands out NUL-terminated strings */
        for (size_t a = 0; a < sizeof(audiences) / sizeof(audiences[0]); a++)
                for (int where = 0; where < 2; where++)
                        for (int pol = 0; pol < 2; pol++) {
                                KeyValue kv[] = { { "other", "x" }, { SA_TOKENS_KEY, value } };
                                SaToken t = { 0 };
                                char err[512];
                                int r;
                                err[0] = 0;
                                r = sa_token_get(where ? NULL : kv, where ? 0 : 2,
                                                 where ? kv : NULL, where ? 2 : 0,
                                                 pol ? TOKEN_SOURCE_SECRETS_ONLY
                                                     : TOKEN_SOURCE_SECRETS_OR_CONTEXT,
                                                 audiences[a], NOW, DRIVER, &t, err, sizeof(err));
                                check(r, &t, err, sizeof(err), value, strlen(value), audiences[a]);
                                sa_token_done(&t);
                        }
        free(value);
        return 0;
}
