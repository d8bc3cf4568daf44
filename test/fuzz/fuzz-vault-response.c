/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-vault-response.c - a Vault response body as NodePublishVolume uses it.
 *
 * One input is one body. It goes the publish path: vault_response_parse()
 * for a 200 and a 400, the request's values cut out of Vault's text
 * (vault_response_strip_echoes, as vault.c does before any check), the
 * outcome (vault_response_check), then for a 200 the KV v2 unwrap and
 * secret_object_render() for a whole-data object and for keyed objects in
 * every encoding. Invariants checked with abort():
 *   - error messages are bounded, one line, and never hold a value the
 *     request sent (a secretArgs value, the query's), whatever Vault quotes;
 *   - errors_text stays within VAULT_ERROR_TEXT_MAX;
 *   - a rendered value is a Secret (or an error with a message).
 * test/fuzz/fuzz-vault-json.c (test/vault) covers every status and call kind
 * and the serialiser round trip; this one the steps after the parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "secret.h"
#include "vault-echo.h"
#include "vault-json.h"
#include "volume-spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CANARY "sArgCanary"
/* what the publish sent: a secretArgs body and a query */
static const char request_body[] = "{\"common_name\":\"" CANARY ".example\",\"ttl\":\"1h\"}";
static const char url_path[] = "/v1/pki/issue/web?version=" CANARY "q";

static void check_text(const char *s, size_t max) {
        size_t n = strnlen(s, max + 1);
        if (n > max)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20)
                        abort();
        /* the values sent, whole (Vault may well say "sArgCanary" on its own) */
        if (strstr(s, CANARY ".example") || strstr(s, CANARY "q"))
                abort();
}

static void render_all(const JsonValue *d) {
        static const char *const keys[] = { NULL, "value", "password", "certificate", "" };
        static const SecretEncoding encs[] = { SECRET_ENCODING_UTF8, SECRET_ENCODING_BASE64,
                                               SECRET_ENCODING_HEX };
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                for (size_t e = 0; e < sizeof(encs) / sizeof(encs[0]); e++) {
                        SecretObject o = { .name = (char *)"f",
                                           .path = (char *)"p",
                                           .key = (char *)keys[k],
                                           .encoding = encs[e] };
                        Secret *out = NULL;
                        char err[256] = "";
                        int r;
                        if (!keys[k] && e > 0)
                                continue;
                        r = secret_object_render(&o, d, &out, err, sizeof(err));
                        if (r == 0 && !out)
                                abort();
                        if (r < 0 && (out || !err[0] || strnlen(err, sizeof(err)) >= sizeof(err)))
                                abort();
                        secret_free(out);
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const long statuses[] = { 200, 400 };
        Secret *body = NULL;

        if (secret_new_from(&body, request_body, sizeof(request_body) - 1) < 0)
                return 0;
        for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
                VaultResponse *r = NULL;
                VaultError err = { 0 };
                bool kv2 = false;
                const JsonValue *d;

                if (vault_response_parse(statuses[s], data, size, &r, &err) != 0) {
                        check_text(err.message, sizeof(err.message) - 1);
                        continue;
                }
                if (vault_response_strip_echoes(r, url_path, body) < 0) {
                        vault_response_free(r);
                        continue;
                }
                if (r->errors_text)
                        check_text(r->errors_text, VAULT_ERROR_TEXT_MAX);
                for (size_t i = 0; i < r->n_warnings; i++)
                        check_text(r->warnings[i], VAULT_ERROR_TEXT_MAX);
                err = (VaultError){ 0 };
                if (vault_response_check(r, VAULT_OP_READ, &err) != 0)
                        check_text(err.message, sizeof(err.message) - 1);
                else if ((d = vault_data_unwrap_kv2(r->data, &kv2)))
                        render_all(d);
                vault_response_free(r);
        }
        secret_free(body);
        return 0;
}
