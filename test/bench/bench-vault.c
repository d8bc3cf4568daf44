/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-vault.c - Vault client throughput and latency against the dev
 * server (test/vaultdev) over TLS on loopback.
 *
 * Prints:
 *   - KV v2 reads per second over one kept-alive TLS connection;
 *   - the same with a new TCP+TLS connection per request (TLS session
 *     resumed through the shared session cache), and with a full TLS
 *     handshake per request (no session cache);
 *   - p50/p99 latency of login + one read, on a kept-alive client and on
 *     new connections.
 * The dev server is Python: absolute numbers measure it as much as us; the
 * ratios between the rows are the point.
 *
 * Run: meson test -C build --benchmark --suite vault -v   (or the binary
 * directly with VAULTMOUNT_SOURCE_ROOT set). VAULTMOUNT_BENCH_SCALE=N
 * multiplies the iteration counts.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "vault.h"

#include "../vault/devserver.h"

static DevServer srv;
static EVP_PKEY *key;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p) {
        size_t i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i < n ? i : n - 1];
}

static void fail(const char *what, const VaultError *err) {
        fprintf(stderr, "bench-vault: %s failed: %s\n", what, err ? err->message : "");
        devserver_stop(&srv);
        exit(EXIT_FAILURE);
}

static VaultShared *make_shared(HttpConnectionPolicy policy) {
        VaultConfig cfg = VAULT_CONFIG_INIT;
        VaultShared *s = NULL;
        VaultError err = { 0 };

        cfg.address = srv.addr;
        cfg.ca_file = srv.ca_file;
        cfg.connection_policy = policy;
        if (vault_shared_new(&s, &cfg, &err) != 0)
                fail("vault_shared_new", &err);
        return s;
}

static VaultToken *login(VaultClient *c) {
        char *jwt = vd_make_jwt(key, "bench", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "demo",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = jwt ? strlen(jwt) : 0 };
        VaultToken *t = NULL;
        VaultError err = { 0 };

        if (!jwt || vault_client_login(c, &lp, &t, &err) != 0)
                fail("login", &err);
        free(jwt);
        return t;
}

static void read_once(VaultClient *c, VaultToken *t) {
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/myapp/config" };
        VaultResponse *r = NULL;
        VaultError err = { 0 };

        if (vault_client_read(c, t, &rq, &r, &err) != 0)
                fail("read", &err);
        vault_response_free(r);
}

static double reads_per_second(HttpConnectionPolicy policy, unsigned n) {
        VaultShared *s = make_shared(policy);
        VaultClient *c = NULL;
        VaultToken *t;
        double t0;

        if (vault_client_new(&c, s) < 0)
                fail("vault_client_new", NULL);
        t = login(c);
        read_once(c, t); /* warm: connection (or session) exists */
        t0 = now_s();
        for (unsigned i = 0; i < n; i++)
                read_once(c, t);
        t0 = now_s() - t0;
        vault_token_free(t);
        vault_client_free(c);
        vault_shared_free(s);
        return (double)n / t0;
}

static void login_read_latency(HttpConnectionPolicy policy, unsigned n, double *p50, double *p99) {
        VaultShared *s = make_shared(policy);
        VaultClient *c = NULL;
        double *ms = calloc(n, sizeof(double));

        if (!ms || vault_client_new(&c, s) < 0)
                fail("setup", NULL);
        vault_token_free(login(c)); /* warm */
        for (unsigned i = 0; i < n; i++) {
                double t0 = now_s();
                VaultToken *t = login(c);
                read_once(c, t);
                ms[i] = (now_s() - t0) * 1000.0;
                vault_token_free(t);
        }
        qsort(ms, n, sizeof(double), cmp_double);
        *p50 = percentile(ms, n, 0.50);
        *p99 = percentile(ms, n, 0.99);
        free(ms);
        vault_client_free(c);
        vault_shared_free(s);
}

int main(void) {
        char workdir[64] = "/tmp/vm-vault-bench-XXXXXX", pub[128], err[512];
        const char *scale_env = getenv("VAULTMOUNT_BENCH_SCALE");
        unsigned scale = 1;
        double reuse, fresh, full, p50, p99, fp50, fp99;
        pid_t rm;

        if (scale_env && parse_unsigned(scale_env, 1, 100, &scale) < 0) {
                fprintf(stderr, "bench-vault: VAULTMOUNT_BENCH_SCALE must be 1..100\n");
                return EXIT_FAILURE;
        }
        if (!mkdtemp(workdir) || http_global_init() < 0)
                return EXIT_FAILURE;
        log_set_max_level(LOG_LEVEL_INFO);
        key = EVP_RSA_gen(2048);
        snprintf(pub, sizeof(pub), "%s/jwt-pub.pem", workdir);
        if (!key || vd_write_pubkey(pub, key) < 0)
                return EXIT_FAILURE;
        {
                const char *args[] = { "--jwt-pubkey", pub, "--quiet", NULL };
                if (devserver_start(&srv, workdir, "bench", args, err, sizeof(err)) < 0) {
                        fprintf(stderr, "bench-vault: %s\n", err);
                        return EXIT_FAILURE;
                }
        }

        reuse = reads_per_second(HTTP_CONNECTION_REUSE, 2000 * scale);
        fresh = reads_per_second(HTTP_CONNECTION_FRESH, 300 * scale);
        full = reads_per_second(HTTP_CONNECTION_FRESH_NO_SESSION, 300 * scale);
        login_read_latency(HTTP_CONNECTION_REUSE, 300 * scale, &p50, &p99);
        login_read_latency(HTTP_CONNECTION_FRESH, 200 * scale, &fp50, &fp99);

        printf("vault client benchmark (dev server %s, TLS on loopback)\n", srv.addr);
        printf("  KV v2 reads/s, one kept-alive TLS connection:      %8.0f\n", reuse);
        printf("  KV v2 reads/s, new connection each (TLS resumed):  %8.0f\n", fresh);
        printf("  KV v2 reads/s, new connection each (full handshake):%7.0f\n", full);
        printf("  login+read latency, kept-alive:   p50 %6.2f ms  p99 %6.2f ms\n", p50, p99);
        printf("  login+read latency, new conns:    p50 %6.2f ms  p99 %6.2f ms\n", fp50, fp99);
        printf("  reuse speed-up vs full handshake: %.1fx\n", reuse / full);

        devserver_stop(&srv);
        EVP_PKEY_free(key);
        http_global_cleanup();
        rm = fork();
        if (rm == 0) {
                execl("/bin/rm", "rm", "-rf", "--", workdir, (char *)NULL);
                _exit(127);
        }
        if (rm > 0)
                (void)waitpid(rm, NULL, 0);
        return EXIT_SUCCESS;
}
