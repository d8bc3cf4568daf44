/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-pool.h - one VaultShared per configured Vault server (TLS trust,
 * timeouts, the TLS-session/DNS share), and one VaultClient per thread and
 * server (libcurl 7.88 cannot share connections between threads, so each
 * worker keeps its own kept-alive connections).
 *
 * Built once at start-up from the immutable Config; clients are created
 * lazily on first use by a thread and freed when the thread exits.
 * Never logs above debug; thread-safe.
 */
#pragma once

#include "config.h"
#include "vault.h"

typedef struct VaultPool VaultPool;

/* VAULT_E_CONFIG with err naming the server and the problem (a CA file that
 * does not load, ...), or -errno. Every Vault call is counted in `metrics`
 * (may be NULL), as server i of the Config. */
int vault_pool_new(VaultPool **ret, const Config *c, Metrics *metrics, char *err,
                   size_t errlen);
VaultPool *vault_pool_free(VaultPool *p);
static inline void vault_pool_freep(VaultPool **p) {
        if (*p)
                *p = vault_pool_free(*p);
}

/* The calling thread's client for `server` (a pointer into the Config the
 * pool was built from). NULL on OOM. */
VaultClient *vault_pool_client(VaultPool *p, const VaultServerConfig *server);
VaultShared *vault_pool_shared(VaultPool *p, const VaultServerConfig *server);
