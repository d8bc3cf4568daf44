/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-echo.h - what a request sent, cut out of what Vault says back.
 *
 * Vault's errors[] and warnings[] may quote request arguments ("subject
 * alternate name <secretArgs value> not allowed by this role"), and that text
 * reaches gRPC status messages, pod Events and logs. The docs promise that
 * secretArgs values, tokens and JWTs never appear there, so before Vault's
 * text is used every value the request supplied is replaced by "***":
 *
 *   - every string and integer leaf of the JSON request body, nested ones
 *     included (secretArgs values; the role and JWT of a login; the lease id
 *     and increment of lifecycle calls);
 *   - every value of the path's query ("?version=3"), as sent and decoded.
 *
 * Needles of 4 bytes or more are cut wherever they occur; shorter ones only
 * where they stand alone (not inside a word), so that a "1h" TTL does not
 * tear Vault's words apart. With more than VAULT_ECHO_NEEDLES_MAX values
 * Vault's text is withheld whole. The collected values are secrets: they
 * live in Secrets and are wiped with them.
 *
 * Never logs. Thread-safe (no shared state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"
#include "vault-json.h"

#define VAULT_ECHO_NEEDLES_MAX 256
#define VAULT_ECHO_SHORT       4
#define VAULT_ECHO_MARK        "***"

typedef struct VaultEchoes {
        Secret **needles;
        size_t n;
        bool too_many; /* more than VAULT_ECHO_NEEDLES_MAX: withhold the text */
} VaultEchoes;

#define VAULT_ECHOES_INIT                                                                          \
        { .needles = NULL, .n = 0, .too_many = false }

/* Collects the values of a request: its URL path (query) and JSON body
 * (may be NULL; a body that is not JSON is one needle). 0 or -ENOMEM. */
int vault_echoes_collect(VaultEchoes *e, const char *url_path, const uint8_t *body,
                         size_t body_len);
/* Adds one value (a role name, say). Empty values are ignored. 0 or -ENOMEM. */
int vault_echoes_add(VaultEchoes *e, const void *p, size_t n);
void vault_echoes_done(VaultEchoes *e);

/*
 * s[0..n) with every needle replaced by VAULT_ECHO_MARK, into *ret
 * (malloc'd, NUL-terminated). Only the first VAULT_ECHO_SCAN_MAX bytes of s
 * are kept (the caller caps the text far below that anyway). 0 or -ENOMEM.
 */
#define VAULT_ECHO_SCAN_MAX ((size_t)64 * 1024)
int vault_text_redact(const VaultEchoes *e, const char *s, size_t n, char **ret, size_t *ret_len);

/*
 * Rebuilds r's errors_text and warnings[] with what the request sent cut
 * out (url_path and body as sent). Does nothing when r carries no text.
 * 0 or -ENOMEM.
 */
int vault_response_strip_echoes(VaultResponse *r, const char *url_path, const Secret *body);
