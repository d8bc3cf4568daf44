/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-pool.c - per-server shared state, limiters and per-thread clients.
 */
#include <pthread.h>
#include <stdio.h>

#include "vault-pool.h"
#include "macro.h"

/* Thread-local: the clients of one thread, one slot per server and use. */
typedef struct ThreadClients {
        VaultClient **clients;
        size_t n;
} ThreadClients;

typedef struct PoolServer {
        VaultShared *shared[_VAULT_POOL_USE_MAX];
        VaultLimit limit;
} PoolServer;

struct VaultPool {
        const Config *config;
        Metrics *metrics; /* every Vault call counted (NULL: not) */
        PoolServer *servers;
        size_t n;
        pthread_mutex_t lock; /* the lazily made refresh VaultShared */
        pthread_key_t key;
        bool key_created;
};

static void thread_clients_free(void *p) {
        ThreadClients *tc = p;
        if (!tc)
                return;
        for (size_t i = 0; i < tc->n; i++)
                vault_client_free(tc->clients[i]);
        free(tc->clients);
        free(tc);
}

static void config_to_vault(const Config *c, const VaultServerConfig *s, VaultPoolUse use,
                            VaultConfig *v) {
        *v = (VaultConfig)VAULT_CONFIG_INIT;
        v->metrics_server = (size_t)(s - c->vault_servers);
        v->address = s->address;
        v->allow_plain_http = s->allow_http;
        v->ca_file = s->ca_file;
        v->ca_dir = s->ca_dir;
        v->client_cert = s->client_cert;
        v->client_key = s->client_key;
        v->tls_server_name = s->tls_server_name;
        v->tls_skip_verify = s->tls_skip_verify;
        if (use != VAULT_POOL_REFRESH)
                return;
        /*
         * No retries inside the client: every refresh request goes through
         * the limiter instead. One "retry" stays allowed so that the client
         * reports a Retry-After (any value beyond 1 ms ends the call at
         * once, naming it); the huge backoff never fits the time budget.
         */
        v->max_retries = 1;
        v->backoff_base_ms = v->backoff_max_ms = 3600ULL * 1000;
        v->retry_after_max_ms = 1;
        v->request_timeout_ms = MAX(c->refresh_request_timeout_usec / 1000, 100ULL);
        v->total_timeout_ms = v->request_timeout_ms;
}

static int shared_new(const VaultPool *p, size_t i, VaultPoolUse use, VaultShared **ret, char *err,
                      size_t errlen) {
        const Config *c = p->config;
        VaultConfig vc;
        VaultError ve = { 0 };
        int r;

        config_to_vault(c, &c->vault_servers[i], use, &vc);
        vc.metrics = p->metrics;
        r = vault_shared_new(ret, &vc, &ve);
        if (r != 0 && err)
                (void)snprintf(err, errlen, "vault server '%s': %s", c->vault_servers[i].name,
                               ve.message[0] ? ve.message : strerror(r < 0 ? -r : EINVAL));
        return r;
}

int vault_pool_new(VaultPool **ret, const Config *c, Metrics *metrics, char *err, size_t errlen) {
        _cleanup_(vault_pool_freep) VaultPool *p = calloc(1, sizeof(*p));
        VaultLimitConfig lc = {
                .rate = c->refresh_rate,
                .burst = c->refresh_burst,
                .backoff_min_usec = c->refresh_backoff_min_usec,
                .backoff_max_usec = c->refresh_backoff_max_usec,
                .max_concurrency = c->vault_max_concurrency,
                .defer_after_usec = VAULT_POOL_DEFER_AFTER_USEC,
        };

        if (errlen > 0)
                err[0] = '\0';
        if (!p)
                return -ENOMEM;
        p->config = c;
        p->metrics = metrics;
        pthread_mutex_init(&p->lock, NULL);
        if (pthread_key_create(&p->key, thread_clients_free) != 0)
                return -EAGAIN;
        p->key_created = true;
        p->servers = calloc(c->n_vault_servers + 1, sizeof(*p->servers));
        if (!p->servers)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vault_servers; i++) {
                int r = shared_new(p, i, VAULT_POOL_PUBLISH,
                                   &p->servers[i].shared[VAULT_POOL_PUBLISH], err, errlen);
                if (r != 0)
                        return r;
                vault_limit_init(&p->servers[i].limit, &lc);
                p->n++;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

VaultPool *vault_pool_free(VaultPool *p) {
        if (!p)
                return NULL;
        if (p->key_created) {
                /* the calling thread's clients; worker threads freed theirs at exit */
                thread_clients_free(pthread_getspecific(p->key));
                pthread_setspecific(p->key, NULL);
                pthread_key_delete(p->key);
        }
        for (size_t i = 0; i < p->n; i++) {
                for (size_t u = 0; u < _VAULT_POOL_USE_MAX; u++)
                        vault_shared_free(p->servers[i].shared[u]);
                vault_limit_done(&p->servers[i].limit);
        }
        free(p->servers);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

static ssize_t server_index(const VaultPool *p, const VaultServerConfig *server) {
        if (!server || server < p->config->vault_servers ||
            server >= p->config->vault_servers + p->n)
                return -1;
        return server - p->config->vault_servers;
}

VaultShared *vault_pool_shared(VaultPool *p, const VaultServerConfig *server) {
        ssize_t i = server_index(p, server);
        return i < 0 ? NULL : p->servers[i].shared[VAULT_POOL_PUBLISH];
}

VaultLimit *vault_pool_limit(VaultPool *p, const VaultServerConfig *server) {
        ssize_t i = p ? server_index(p, server) : -1;
        return i < 0 ? NULL : &p->servers[i].limit;
}

static ThreadClients *thread_clients(VaultPool *p) {
        ThreadClients *tc = pthread_getspecific(p->key);

        if (tc)
                return tc;
        tc = calloc(1, sizeof(*tc));
        if (!tc)
                return NULL;
        tc->n = (p->n ? p->n : 1) * _VAULT_POOL_USE_MAX;
        tc->clients = calloc(tc->n, sizeof(*tc->clients));
        if (!tc->clients) {
                free(tc);
                return NULL;
        }
        pthread_setspecific(p->key, tc);
        return tc;
}

/* The server's VaultShared for `use`, made on first use (refresh). */
static VaultShared *shared_for(VaultPool *p, size_t i, VaultPoolUse use) {
        VaultShared *s;
        char err[256];

        pthread_mutex_lock(&p->lock);
        if (!p->servers[i].shared[use] &&
            shared_new(p, i, use, &p->servers[i].shared[use], err, sizeof(err)) != 0)
                p->servers[i].shared[use] = NULL;
        s = p->servers[i].shared[use];
        pthread_mutex_unlock(&p->lock);
        return s;
}

VaultClient *vault_pool_client_for(VaultPool *p, const VaultServerConfig *server,
                                   VaultPoolUse use) {
        ssize_t i = server_index(p, server);
        ThreadClients *tc;
        VaultShared *s;
        size_t slot;

        if (i < 0 || use >= _VAULT_POOL_USE_MAX || !(tc = thread_clients(p)))
                return NULL;
        slot = (size_t)i * _VAULT_POOL_USE_MAX + use;
        if (tc->clients[slot])
                return tc->clients[slot];
        s = shared_for(p, (size_t)i, use);
        if (!s || vault_client_new(&tc->clients[slot], s) < 0)
                return NULL;
        return tc->clients[slot];
}
