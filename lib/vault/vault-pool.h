/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-pool.h - everything the daemon keeps per configured Vault server:
 * the shared TLS/DNS state (VaultShared) for each of the two ways the daemon
 * calls Vault, one VaultClient per thread and server and way (libcurl 7.88
 * cannot share connections between threads, so each thread keeps its own
 * kept-alive connections), and the server's limiter (limiter.h).
 *
 * The two ways:
 *   VAULT_POOL_PUBLISH - publish and unpublish: the client's own retries
 *                        with backoff, built at start-up (a CA file that does
 *                        not load fails the start);
 *   VAULT_POOL_REFRESH - rotation: no retries inside the client (every
 *                        request passes the limiter instead), one attempt
 *                        bounded by refresh-request-timeout; built on first
 *                        use, so a server no volume uses costs nothing.
 *
 * Built once from the immutable Config; clients are created lazily on first
 * use by a thread and freed when the thread exits. Never logs above debug;
 * thread-safe.
 */
#pragma once

#include "config.h"
#include "limiter.h"
#include "vault.h"

typedef struct VaultPool VaultPool;

typedef enum VaultPoolUse {
        VAULT_POOL_PUBLISH,
        VAULT_POOL_REFRESH,
        _VAULT_POOL_USE_MAX,
} VaultPoolUse;

/* A refresh wait on the bucket longer than this defers the refresh. */
#define VAULT_POOL_DEFER_AFTER_USEC (2ULL * 1000000)

/* VAULT_E_CONFIG with err naming the server and the problem (a CA file that
 * does not load, ...), or -errno. Every Vault call is counted in `metrics`
 * (may be NULL), as server i of the Config. */
int vault_pool_new(VaultPool **ret, const Config *c, Metrics *metrics, char *err, size_t errlen);
VaultPool *vault_pool_free(VaultPool *p);
static inline void vault_pool_freep(VaultPool **p) {
        if (*p)
                *p = vault_pool_free(*p);
}

/* The calling thread's client for `server` (a pointer into the Config the
 * pool was built from) and `use`. NULL on OOM or when the connection setup
 * fails. */
VaultClient *vault_pool_client_for(VaultPool *p, const VaultServerConfig *server, VaultPoolUse use);
static inline VaultClient *vault_pool_client(VaultPool *p, const VaultServerConfig *server) {
        return vault_pool_client_for(p, server, VAULT_POOL_PUBLISH);
}
VaultShared *vault_pool_shared(VaultPool *p, const VaultServerConfig *server);
/* The server's limiter; NULL for a server not in the Config. */
VaultLimit *vault_pool_limit(VaultPool *p, const VaultServerConfig *server);
