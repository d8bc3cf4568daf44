/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sa-token.h - the pod's service-account token from a NodePublishVolume
 * request (KEP-5538, csi-facts sections 3.2 and 5).
 *
 * Kubelet sends `csi.storage.k8s.io/serviceAccount.tokens` whose value is
 * JSON: {"<audience>":{"token":"<JWT>","expirationTimestamp":"<RFC3339>"},..}.
 * With the CSIDriver's serviceAccountTokenInSecrets it is in `secrets`;
 * older kubelets put it in `volume_context`. We read `secrets` first and fall
 * back to `volume_context` unless the node policy is secrets-only.
 *
 * The JWT is copied into a Secret at once; nothing here keeps another copy.
 * A token that is not JWT-shaped (header.payload.signature, base64url, a
 * JSON-object header) is SA_TOKEN_E_MALFORMED: it never goes to Vault.
 * Error messages say what to fix and never contain the token, nor the keys
 * of the tokens JSON (other audiences are counted, not named).
 * Never logs. Thread-safe (no shared state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"

#define SA_TOKENS_KEY "csi.storage.k8s.io/serviceAccount.tokens"

typedef struct KeyValue {
        const char *key;
        const char *value;
} KeyValue;

typedef enum SaTokenOrigin {
        SA_TOKEN_FROM_SECRETS,
        SA_TOKEN_FROM_VOLUME_CONTEXT,
} SaTokenOrigin;

typedef struct SaToken {
        Secret *jwt;
        char audience[256];
        int64_t expires_unix; /* expirationTimestamp, seconds since the epoch */
        SaTokenOrigin origin;
} SaToken;

enum {
        _SA_TOKEN_E_SUCCESS,
        SA_TOKEN_E_MISSING,   /* no tokens key where policy allows one */
        SA_TOKEN_E_MALFORMED, /* not the JSON kubelet writes */
        SA_TOKEN_E_AUDIENCE,  /* no token for the wanted audience */
        SA_TOKEN_E_EXPIRED,   /* expirationTimestamp is in the past */
        SA_TOKEN_E_POLICY,    /* found only in volume_context under secrets-only */
};

/*
 * Finds and parses the token for `audience` (already checked against the
 * node admin's allowed list by the caller) at time `now_unix`. Returns 0
 * with *ret filled (free with sa_token_done), a positive SA_TOKEN_E_* with a
 * message in err naming what to fix (e.g. "set tokenRequests with audience
 * 'vault' in the CSIDriver"), -EINVAL for bad arguments (NULL audience or
 * ret, an audience of 256 bytes or more), or -ENOMEM. A token that expires
 * at or before now_unix is SA_TOKEN_E_EXPIRED.
 */
int sa_token_get(const KeyValue *secrets, size_t n_secrets, const KeyValue *volume_context,
                 size_t n_context, TokenSource policy, const char *audience, int64_t now_unix,
                 const char *driver_name, SaToken *ret, char *err, size_t errlen);
void sa_token_done(SaToken *t);

/* Parses "2026-01-01T00:00:00Z" (RFC 3339, UTC 'Z' or an offset). Strict:
 * YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|+HH:MM|-HH:MM), upper-case 'T' and 'Z',
 * real calendar dates, no leap second; the fraction is dropped. -EINVAL. */
int parse_rfc3339(const char *s, int64_t *ret_unix);
