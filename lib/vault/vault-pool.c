/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-pool.c - shared per-server state and per-thread clients.
 */
#include <pthread.h>
#include <stdio.h>

#include "vault-pool.h"
#include "macro.h"

/* Thread-local: the clients of one thread, one slot per server of one pool. */
typedef struct ThreadClients {
        const VaultPool *pool;
        VaultClient **clients;
        size_t n;
} ThreadClients;

struct VaultPool {
        const Config *config;
        VaultShared **shared;
        size_t n;
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

static void config_to_vault(const VaultServerConfig *s, VaultConfig *v) {
        *v = (VaultConfig)VAULT_CONFIG_INIT;
        v->address = s->address;
        v->allow_plain_http = s->allow_http;
        v->ca_file = s->ca_file;
        v->ca_dir = s->ca_dir;
        v->client_cert = s->client_cert;
        v->client_key = s->client_key;
        v->tls_server_name = s->tls_server_name;
        v->tls_skip_verify = s->tls_skip_verify;
}

int vault_pool_new(VaultPool **ret, const Config *c, Metrics *metrics, char *err,
                   size_t errlen) {
        _cleanup_(vault_pool_freep) VaultPool *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->config = c;
        if (pthread_key_create(&p->key, thread_clients_free) != 0)
                return -EAGAIN;
        p->key_created = true;
        p->shared = calloc(c->n_vault_servers + 1, sizeof(*p->shared));
        if (!p->shared)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vault_servers; i++) {
                VaultConfig vc;
                VaultError ve = { 0 };
                int r;
                config_to_vault(&c->vault_servers[i], &vc);
                vc.metrics = metrics;
                vc.metrics_server = i;
                r = vault_shared_new(&p->shared[i], &vc, &ve);
                if (r != 0) {
                        (void)snprintf(err, errlen, "vault server '%s': %s",
                                       c->vault_servers[i].name,
                                       ve.message[0] ? ve.message : strerror(r < 0 ? -r : EINVAL));
                        return r;
                }
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
        for (size_t i = 0; i < p->n; i++)
                vault_shared_free(p->shared[i]);
        free(p->shared);
        free(p);
        return NULL;
}

static ssize_t server_index(const VaultPool *p, const VaultServerConfig *server) {
        for (size_t i = 0; i < p->n; i++)
                if (&p->config->vault_servers[i] == server)
                        return (ssize_t)i;
        return -1;
}

VaultShared *vault_pool_shared(VaultPool *p, const VaultServerConfig *server) {
        ssize_t i = server_index(p, server);
        return i < 0 ? NULL : p->shared[i];
}

VaultClient *vault_pool_client(VaultPool *p, const VaultServerConfig *server) {
        ThreadClients *tc = pthread_getspecific(p->key);
        ssize_t i = server_index(p, server);

        if (i < 0)
                return NULL;
        if (!tc) {
                tc = calloc(1, sizeof(*tc));
                if (!tc)
                        return NULL;
                tc->pool = p;
                tc->n = p->n;
                tc->clients = calloc(p->n ? p->n : 1, sizeof(*tc->clients));
                if (!tc->clients) {
                        free(tc);
                        return NULL;
                }
                pthread_setspecific(p->key, tc);
        }
        if (!tc->clients[i] && vault_client_new(&tc->clients[i], p->shared[i]) < 0)
                return NULL;
        return tc->clients[i];
}
