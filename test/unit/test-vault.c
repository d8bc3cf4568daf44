/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-vault.c - the Vault client: pure helpers (path normalisation, method
 * names, backoff), tokens, and whole calls against a scripted local server
 * (test/vault/mini-server.h): login request shape, retries and their count,
 * Retry-After, the one redirect, the per-volume request cache, the
 * lifecycle endpoints, and that no token or JWT reaches the debug log or an
 * error message.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vault.h"
#include "status.h"

#include "../vault/mini-server.h"

#define CANARY_TOKEN "hvs.CAESIPLANTEDkubeTOKEN0123456789abcdef"
#define CANARY_JWT   "eyJhbGciOiJSUzI1NiJ9.eyJQTEFOVEVEIjoiand0In0.PLANTEDjwtSIGNATURE"

/* --- captured debug log ------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;
static size_t log_records;

static void capture_sink(const LogRecord *rec, void *userdata) {
        (void)userdata;
        pthread_mutex_lock(&log_lock);
        log_records++;
        log_len += (size_t)snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "%s\n",
                                    rec->message);
        if (log_len >= sizeof(log_buf))
                log_len = sizeof(log_buf) - 1;
        pthread_mutex_unlock(&log_lock);
}

static void log_setup(void) {
        log_len = 0;
        log_records = 0;
        log_buf[0] = 0;
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_set_sink(capture_sink, NULL);
}

static void log_teardown(void) {
        log_set_sink(NULL, NULL);
        /* Nothing secret may ever appear in the log. */
        ck_assert_msg(!strstr(log_buf, "PLANTED"), "secret in log:\n%s", log_buf);
}

static void assert_clean(const VaultError *err) {
        ck_assert_msg(!strstr(err->message, "PLANTED"), "secret in error: %s", err->message);
}

/* --- scripted server ------------------------------------------------------------ */

static char answer_pool[16][4096];
static size_t answer_next;

/* A complete HTTP response with a JSON body (or none). */
static const char *answer(int status, const char *extra_headers, const char *body) {
        char *p = answer_pool[answer_next++ % 16];
        snprintf(p, sizeof(answer_pool[0]),
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n%s\r\n%s",
                 status, body ? strlen(body) : 0, extra_headers ? extra_headers : "",
                 body ? body : "");
        return p;
}

#define LOGIN_OK                                                                                   \
        "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,"        \
        "\"data\":null,\"warnings\":null,\"auth\":{\"client_token\":\"" CANARY_TOKEN               \
        "\",\"accessor\":\"acc-123\",\"policies\":[\"default\"],\"lease_duration\":3600,"          \
        "\"renewable\":true,\"token_type\":\"service\",\"orphan\":true}}\n"
#define KV_OK                                                                                      \
        "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,"        \
        "\"data\":{\"data\":{\"password\":\"PLANTED-value\"},\"metadata\":{\"version\":1}},"       \
        "\"warnings\":null,\"auth\":null}\n"
#define SEALED "{\"errors\":[\"Vault is sealed\"]}\n"

typedef struct Env {
        MiniServer srv;
        VaultShared *shared;
        VaultClient *client;
        VaultToken *token;
} Env;

static void env_start(Env *e, const MiniAnswer *script, size_t n, unsigned max_retries) {
        VaultConfig cfg = VAULT_CONFIG_INIT;
        VaultError err = { 0 };
        char addr[64];

        memset(e, 0, sizeof(*e));
        ck_assert_int_eq(mini_server_start(&e->srv, script, n), 0);
        snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", e->srv.port);
        cfg.address = addr;
        cfg.allow_plain_http = true;
        cfg.max_retries = max_retries;
        cfg.backoff_base_ms = 20;
        cfg.backoff_max_ms = 100;
        cfg.retry_after_max_ms = 2000;
        cfg.total_timeout_ms = 10000;
        ck_assert_int_eq(vault_shared_new(&e->shared, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&e->client, e->shared), 0);
        ck_assert_int_eq(vault_token_new((const uint8_t *)CANARY_TOKEN, strlen(CANARY_TOKEN),
                                         "team-a/", &e->token),
                         0);
}

static void env_stop(Env *e) {
        vault_token_free(e->token);
        vault_client_free(e->client);
        vault_shared_free(e->shared);
        mini_server_stop(&e->srv);
}

static char *request_at(Env *e, size_t i) {
        char *raw = mini_server_request(&e->srv, i);
        ck_assert_msg(raw, "no request %zu recorded", i);
        return raw;
}

static const char *body_of(const char *raw) {
        const char *b = strstr(raw, "\r\n\r\n");
        return b ? b + 4 : "";
}

/* --- pure helpers -------------------------------------------------------------- */

START_TEST(test_path_normalize)
{
        static const struct {
                const char *in, *out;
        } ok[] = {
                { "secret/data/app", "/v1/secret/data/app" },
                { "/secret/data/app", "/v1/secret/data/app" },
                { "v1/secret/data/app", "/v1/secret/data/app" },
                { "/v1/secret/data/app/", "/v1/secret/data/app" },
                { "secret//data///app", "/v1/secret/data/app" },
                { "secret/data/app?version=2", "/v1/secret/data/app?version=2" },
                { "v1x/a", "/v1/v1x/a" },
                { "secret/data/my app", "/v1/secret/data/my%20app" },
                { "secret/data/100%", "/v1/secret/data/100%25" },
                { "secret/data/é", "/v1/secret/data/%C3%A9" },
                { "database/creds/read-only_role.1", "/v1/database/creds/read-only_role.1" },
                { "secret/data/a?version=2&x=%41", "/v1/secret/data/a?version=2&x=%41" },
                { "secret/data/a?x=a b", "/v1/secret/data/a?x=a%20b" },
        };
        static const char *const bad[] = {
                "",           "/",          "v1",         "/v1/", "secret/../sys/seal",
                "secret/./x", "secret/x\n", "secret/\x01"
        };
        VaultError err;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                char *out = NULL;
                ck_assert_msg(vault_path_normalize(ok[i].in, &out, &err) == 0, "%s: %s", ok[i].in,
                              err.message);
                ck_assert_str_eq(out, ok[i].out);
                free(out);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *out = NULL;
                ck_assert_msg(vault_path_normalize(bad[i], &out, &err) == VAULT_E_BAD_REQUEST,
                              "accepted '%s'", bad[i]);
                ck_assert_ptr_null(out);
        }
}
END_TEST

START_TEST(test_methods_and_backoff)
{
        ck_assert_int_eq(vault_method_from_string("GET"), VAULT_METHOD_GET);
        ck_assert_int_eq(vault_method_from_string("put"), VAULT_METHOD_PUT);
        ck_assert_int_eq(vault_method_from_string("Post"), VAULT_METHOD_POST);
        ck_assert_int_eq(vault_method_from_string("DELETE"), VAULT_METHOD_DELETE);
        ck_assert_int_eq(vault_method_from_string("PATCH"), _VAULT_METHOD_INVALID);
        ck_assert_int_eq(vault_method_from_string(NULL), _VAULT_METHOD_INVALID);
        ck_assert_str_eq(vault_method_to_string(VAULT_METHOD_PUT), "PUT");

        for (unsigned retry = 1; retry <= 8; retry++) {
                uint64_t d = 1000;
                for (unsigned i = 1; i < retry; i++)
                        d *= 2;
                if (d > 15000)
                        d = 15000;
                for (uint64_t rnd = 0; rnd < 2000; rnd += 97) {
                        uint64_t w = vault_backoff_ms(1000, 15000, retry, rnd * 7919);
                        ck_assert_uint_ge(w, d / 2);
                        ck_assert_uint_le(w, d);
                }
        }
        /* Jitter spreads clients: not every random value gives the same wait. */
        ck_assert_uint_ne(vault_backoff_ms(1000, 15000, 2, 1),
                          vault_backoff_ms(1000, 15000, 2, 777));
        ck_assert_uint_eq(vault_backoff_ms(0, 0, 3, 5), 0);
}
END_TEST

START_TEST(test_tokens)
{
        VaultToken *t = NULL;
        uint64_t before = (uint64_t)time(NULL) * 1000000U;

        ck_assert_int_eq(vault_token_new((const uint8_t *)"hvs.abc", 7, NULL, &t), 0);
        ck_assert(secret_equal_bytes(vault_token_secret(t), "hvs.abc", 7));
        ck_assert_ptr_null(vault_token_namespace(t));
        ck_assert_ptr_null(vault_token_accessor(t));
        ck_assert_uint_ge(vault_token_issued_usec(t) + 1000000U, before);
        ck_assert_uint_eq(vault_token_expires_usec(t), 0);
        vault_token_free(t);
        t = NULL;
        /* Tokens go into a header: no spaces, controls or line breaks. */
        ck_assert_int_eq(vault_token_new((const uint8_t *)"hvs.a b", 7, NULL, &t), -EINVAL);
        ck_assert_int_eq(vault_token_new((const uint8_t *)"hvs.a\r\nX: y", 11, NULL, &t), -EINVAL);
        ck_assert_int_eq(vault_token_new((const uint8_t *)"", 0, NULL, &t), -EINVAL);
        ck_assert_int_eq(vault_token_new((const uint8_t *)"hvs.a", 5, "ns\nX", &t), -EINVAL);
        ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_config_checks)
{
        VaultConfig cfg = VAULT_CONFIG_INIT;
        VaultShared *s = NULL;
        VaultError err = { 0 };

        cfg.address = "http://vault.example:8200";
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), VAULT_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "plain http"));
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_FAILED_PRECONDITION);
        cfg.address = "https://vault.example:8200";
        cfg.tls_skip_verify = true;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert(vault_shared_tls_insecure(s));
        ck_assert_str_eq(vault_shared_address(s), "https://vault.example:8200");
        vault_shared_free(s);
}
END_TEST

/* --- calls ------------------------------------------------------------------------ */

START_TEST(test_login_request_shape)
{
        MiniAnswer script[2];
        Env e;
        VaultToken *t = NULL;
        VaultError err = { 0 };
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "kv-role",
                                .jwt = (const uint8_t *)CANARY_JWT,
                                .jwt_len = strlen(CANARY_JWT),
                                .ns = "team-a/" };
        char *raw;

        script[0] = (MiniAnswer){ MINI_SEND, answer(200, NULL, LOGIN_OK), 0, 0 };
        script[1] = (MiniAnswer){ MINI_SEND, answer(200, NULL, LOGIN_OK), 0, 0 };
        env_start(&e, script, 2, 0);
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), 0);
        ck_assert(secret_equal_bytes(vault_token_secret(t), CANARY_TOKEN, strlen(CANARY_TOKEN)));
        ck_assert_str_eq(vault_token_accessor(t), "acc-123");
        ck_assert_str_eq(vault_token_namespace(t), "team-a/");
        ck_assert_int_eq(vault_token_ttl_sec(t), 3600);
        ck_assert(vault_token_renewable(t));
        ck_assert_uint_eq(vault_token_expires_usec(t) - vault_token_issued_usec(t),
                          3600ULL * 1000000U);
        vault_token_free(t);
        t = NULL;

        raw = request_at(&e, 0);
        ck_assert_msg(strncmp(raw, "POST /v1/auth/kubernetes/login HTTP/1.1\r\n", 41) == 0, "%s",
                      raw);
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Request: true\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Namespace: team-a/\r\n"));
        ck_assert_ptr_null(strstr(raw, "X-Vault-Token"));
        ck_assert_str_eq(body_of(raw), "{\"jwt\":\"" CANARY_JWT "\",\"role\":\"kv-role\"}");
        free(raw);

        /* jwt auth with a custom mount path and no role (default_role). */
        lp.method = VAULT_AUTH_JWT;
        lp.mount = "/auth/oidc-k8s/";
        lp.role = NULL;
        lp.ns = NULL;
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), 0);
        raw = request_at(&e, 1);
        ck_assert_msg(strncmp(raw, "POST /v1/auth/oidc-k8s/login ", 29) == 0, "%s", raw);
        ck_assert_ptr_null(strstr(raw, "X-Vault-Namespace"));
        ck_assert_str_eq(body_of(raw), "{\"jwt\":\"" CANARY_JWT "\"}");
        free(raw);
        vault_token_free(t);
        env_stop(&e);
}
END_TEST

START_TEST(test_login_rejected_not_retried)
{
        MiniAnswer script[3];
        Env e;
        VaultToken *t = NULL;
        VaultError err = { 0 };
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "kv-role",
                                .jwt = (const uint8_t *)CANARY_JWT,
                                .jwt_len = strlen(CANARY_JWT) };

        script[0] = (MiniAnswer){
                MINI_SEND,
                answer(403, NULL, "{\"errors\":[\"service account name not authorized\"]}"), 0, 0
        };
        script[1] = (MiniAnswer){ MINI_SEND,
                                  answer(500, NULL, "{\"errors\":[\"namespace not authorized\"]}"),
                                  0, 0 };
        script[2] = script[0];
        env_start(&e, script, 3, 2);
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), VAULT_E_LOGIN_REJECTED);
        ck_assert_ptr_null(t);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_ptr_nonnull(strstr(err.message, "service account name not authorized"));
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAUTHENTICATED);
        assert_clean(&err);
        /* An old plugin's 500 "not authorized" is final, not retried. */
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), VAULT_E_LOGIN_REJECTED);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_uint_eq(mini_server_count(&e.srv), 2);

        /* Local refusals need no server. */
        lp.role = NULL;
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), VAULT_E_BAD_REQUEST);
        lp.role = "r";
        lp.jwt_len = 0;
        ck_assert_int_eq(vault_client_login(e.client, &lp, &t, &err), VAULT_E_BAD_REQUEST);
        ck_assert_uint_eq(mini_server_count(&e.srv), 2);
        env_stop(&e);
}
END_TEST

START_TEST(test_read_retries_then_succeeds)
{
        MiniAnswer script[4];
        Env e;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app?version=1" };
        char *raw;

        script[0] = (MiniAnswer){ MINI_SEND, answer(503, NULL, SEALED), 0, 0 };
        script[1] = (MiniAnswer){ MINI_DROP, NULL, 0, 0 };
        script[2] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        env_start(&e, script, 3, 2);
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), 0);
        ck_assert_uint_eq(err.attempts, 3);
        ck_assert_uint_eq(mini_server_count(&e.srv), 3);
        ck_assert_ptr_nonnull(r->data);
        vault_response_free(r);
        raw = request_at(&e, 2);
        ck_assert_msg(strncmp(raw, "GET /v1/secret/data/app?version=1 HTTP/1.1\r\n", 44) == 0, "%s",
                      raw);
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Token: " CANARY_TOKEN "\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Namespace: team-a/\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Request: true\r\n"));
        free(raw);
        ck_assert_ptr_nonnull(strstr(log_buf, "attempt 3"));
        env_stop(&e);
}
END_TEST

START_TEST(test_read_retries_exhausted)
{
        MiniAnswer script[5];
        Env e;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app" };

        for (int i = 0; i < 3; i++)
                script[i] = (MiniAnswer){ MINI_SEND, answer(503, NULL, SEALED), 0, 0 };
        script[3] = (MiniAnswer){ MINI_SEND,
                                  answer(501, NULL, "{\"errors\":[\"not initialized\"]}"), 0, 0 };
        script[4] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        env_start(&e, script, 5, 2);
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_SEALED);
        ck_assert_ptr_null(r);
        ck_assert_uint_eq(err.attempts, 3);
        ck_assert_int_eq(err.http_status, 503);
        ck_assert_ptr_nonnull(strstr(err.message, "Vault is sealed"));
        ck_assert_ptr_nonnull(strstr(err.message, "3 attempts"));
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAVAILABLE);
        /* 501 is not retried. */
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_UNAVAILABLE);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_uint_eq(mini_server_count(&e.srv), 4);
        env_stop(&e);
}
END_TEST

START_TEST(test_retry_after)
{
        MiniAnswer script[4];
        Env e;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app" };
        struct timespec t0, t1;
        long ms;

        script[0] = (MiniAnswer){ MINI_SEND,
                                  answer(429, "Retry-After: 1\r\n",
                                         "{\"errors\":[\"rate limit quota exceeded\"]}"),
                                  0, 0 };
        script[1] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        script[2] = (MiniAnswer){ MINI_SEND,
                                  answer(429, "Retry-After: 120\r\n",
                                         "{\"errors\":[\"rate limit quota exceeded\"]}"),
                                  0, 0 };
        script[3] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        env_start(&e, script, 4, 2);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        ck_assert_msg(ms >= 950, "Retry-After not honoured: %ld ms", ms);
        ck_assert_uint_eq(err.attempts, 2);
        vault_response_free(r);
        r = NULL;
        /* Longer than retry_after_max: give up at once, rate limited. */
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_RATE_LIMITED);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_uint_eq(mini_server_count(&e.srv), 3);
        env_stop(&e);
}
END_TEST

START_TEST(test_redirect_once)
{
        MiniAnswer script[4];
        Env e;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        const char *args = "{\"common_name\":\"a.example\"}";
        VaultRequest rq = { .method = VAULT_METHOD_PUT,
                            .path = "pki/issue/web",
                            .body = (const uint8_t *)args,
                            .body_len = strlen(args) };
        const char *loc = "Location: http://127.0.0.1:{PORT}/v1/pki/issue/web\r\n";
        char *raw;

        script[0] = (MiniAnswer){ MINI_SEND, answer(307, loc, NULL), 0, 0 };
        script[1] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        script[2] = (MiniAnswer){ MINI_SEND, answer(307, loc, NULL), 0, 0 };
        script[3] = (MiniAnswer){ MINI_SEND, answer(307, loc, NULL), 0, 0 };
        env_start(&e, script, 4, 2);
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), 0);
        ck_assert_uint_eq(err.attempts, 2);
        vault_response_free(r);
        r = NULL;
        /* The same method, token and body go to the new location. */
        raw = request_at(&e, 1);
        ck_assert_msg(strncmp(raw, "PUT /v1/pki/issue/web HTTP/1.1\r\n", 32) == 0, "%s", raw);
        ck_assert_ptr_nonnull(strstr(raw, "X-Vault-Token: " CANARY_TOKEN));
        ck_assert_str_eq(body_of(raw), args);
        free(raw);
        /* A second redirect in one call is refused. */
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_PROTOCOL);
        ck_assert_ptr_nonnull(strstr(err.message, "redirected more than once"));
        ck_assert_uint_eq(mini_server_count(&e.srv), 4);
        env_stop(&e);
}
END_TEST

START_TEST(test_request_cache)
{
        MiniAnswer script[4];
        Env e;
        VaultRequestCache *cache = NULL;
        const VaultResponse *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        VaultError err = { 0 };
        VaultRequest get = { .method = VAULT_METHOD_GET, .path = "database/creds/ro" };
        VaultRequest get2 = { .method = VAULT_METHOD_GET, .path = "/v1/database/creds/ro/" };
        VaultRequest put1 = { .method = VAULT_METHOD_PUT,
                              .path = "pki/issue/web",
                              .body = (const uint8_t *)"{\"common_name\":\"a\"}",
                              .body_len = 19 };
        VaultRequest put2 = { .method = VAULT_METHOD_PUT,
                              .path = "pki/issue/web",
                              .body = (const uint8_t *)"{\"common_name\":\"b\"}",
                              .body_len = 19 };

        for (int i = 0; i < 4; i++)
                script[i] = (MiniAnswer){ MINI_SEND, answer(200, NULL, KV_OK), 0, 0 };
        env_start(&e, script, 4, 0);
        ck_assert_int_eq(vault_request_cache_new(&cache), 0);
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &get, &a, &err), 0);
        /* Same request, spelled differently: one Vault call. */
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &get2, &b, &err), 0);
        ck_assert_ptr_eq(a, b);
        /* Same path, different body: two calls (not keyed on path alone). */
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &put1, &c, &err), 0);
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &put2, &d, &err), 0);
        ck_assert_ptr_ne(c, d);
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &put1, &d, &err), 0);
        ck_assert_ptr_eq(c, d);
        ck_assert_uint_eq(vault_request_cache_size(cache), 3);
        ck_assert_uint_eq(vault_request_cache_hits(cache), 2);
        ck_assert_uint_eq(mini_server_count(&e.srv), 3);

        /* A body that is not a JSON object is refused before any I/O. */
        put1.body = (const uint8_t *)"[1,2]";
        put1.body_len = 5;
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &put1, &d, &err),
                         VAULT_E_BAD_REQUEST);
        put1.body = (const uint8_t *)"{\"a\":";
        ck_assert_int_eq(vault_request_cache_read(cache, e.client, e.token, &put1, &d, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_uint_eq(mini_server_count(&e.srv), 3);
        vault_request_cache_free(cache);
        env_stop(&e);
}
END_TEST

START_TEST(test_lifecycle)
{
        MiniAnswer script[6];
        Env e;
        VaultError err = { 0 };
        VaultTokenInfo info;
        VaultLease lease;
        char *raw;

        script[0] = (MiniAnswer){
                MINI_SEND,
                answer(200, NULL,
                       "{\"auth\":{\"client_token\":\"" CANARY_TOKEN
                       "\",\"accessor\":\"acc\",\"lease_duration\":7200,\"renewable\":true}}"),
                0, 0
        };
        script[1] = (MiniAnswer){
                MINI_SEND,
                answer(200, NULL,
                       "{\"data\":{\"accessor\":\"acc\",\"ttl\":7100,\"creation_ttl\":7200,"
                       "\"renewable\":true,\"orphan\":true,\"num_uses\":0,\"type\":\"service\","
                       "\"id\":\"" CANARY_TOKEN "\"}}"),
                0, 0
        };
        script[2] = (MiniAnswer){
                MINI_SEND,
                answer(200, NULL,
                       "{\"lease_id\":\"database/creds/ro/abc\",\"renewable\":true,"
                       "\"lease_duration\":120,\"data\":null,\"warnings\":[\"TTL capped\"]}"),
                0, 0
        };
        script[3] = (MiniAnswer){ MINI_SEND, answer(204, NULL, NULL), 0, 0 };
        script[4] = (MiniAnswer){ MINI_SEND, answer(204, NULL, NULL), 0, 0 };
        script[5] = (MiniAnswer){ MINI_SEND,
                                  answer(403, NULL,
                                         "{\"errors\":[\"2 errors occurred:\\n\\t* permission "
                                         "denied\\n\\t* invalid token\\n\\n\"]}"),
                                  0, 0 };
        env_start(&e, script, 6, 0);

        ck_assert_int_eq(vault_client_token_renew_self(e.client, e.token, 7200, &err), 0);
        ck_assert_int_eq(vault_token_ttl_sec(e.token), 7200);
        ck_assert(vault_token_renewable(e.token));
        raw = request_at(&e, 0);
        ck_assert_msg(strncmp(raw, "POST /v1/auth/token/renew-self ", 31) == 0, "%s", raw);
        ck_assert_str_eq(body_of(raw), "{\"increment\":7200}");
        free(raw);

        ck_assert_int_eq(vault_client_token_lookup_self(e.client, e.token, &info, &err), 0);
        ck_assert_int_eq(info.ttl_sec, 7100);
        ck_assert_int_eq(info.creation_ttl_sec, 7200);
        ck_assert(info.renewable);
        ck_assert_str_eq(info.accessor, "acc");
        ck_assert_str_eq(info.type, "service");
        raw = request_at(&e, 1);
        ck_assert_msg(strncmp(raw, "GET /v1/auth/token/lookup-self ", 31) == 0, "%s", raw);
        free(raw);

        ck_assert_int_eq(vault_client_lease_renew(e.client, e.token, "database/creds/ro/abc", 3600,
                                                  &lease, &err),
                         0);
        ck_assert_int_eq(lease.duration_sec, 120);
        ck_assert(lease.renewable);
        ck_assert(lease.capped);
        raw = request_at(&e, 2);
        ck_assert_msg(strncmp(raw, "PUT /v1/sys/leases/renew ", 25) == 0, "%s", raw);
        ck_assert_str_eq(body_of(raw),
                         "{\"increment\":3600,\"lease_id\":\"database/creds/ro/abc\"}");
        free(raw);

        ck_assert_int_eq(
                vault_client_lease_revoke(e.client, e.token, "database/creds/ro/abc", &err), 0);
        raw = request_at(&e, 3);
        ck_assert_msg(strncmp(raw, "PUT /v1/sys/leases/revoke ", 26) == 0, "%s", raw);
        ck_assert_str_eq(body_of(raw), "{\"lease_id\":\"database/creds/ro/abc\"}");
        free(raw);

        ck_assert_int_eq(vault_client_token_revoke_self(e.client, e.token, &err), 0);
        raw = request_at(&e, 4);
        ck_assert_msg(strncmp(raw, "POST /v1/auth/token/revoke-self ", 32) == 0, "%s", raw);
        free(raw);

        /* After revocation: 403, DENIED, with Vault's words. */
        ck_assert_int_eq(vault_client_token_lookup_self(e.client, e.token, &info, &err),
                         VAULT_E_DENIED);
        ck_assert_ptr_nonnull(strstr(err.message, "invalid token"));
        assert_clean(&err);

        ck_assert_int_eq(vault_client_lease_renew(e.client, e.token, "bad\nlease", 0, &lease, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_uint_eq(mini_server_count(&e.srv), 6);
        env_stop(&e);
}
END_TEST

START_TEST(test_bad_answers)
{
        static char big[8192];
        MiniAnswer script[5];
        Env e;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app" };
        VaultConfig cfg = VAULT_CONFIG_INIT;
        VaultShared *small = NULL;
        VaultClient *sc = NULL;
        char addr[64];
        int n;

        script[0] =
                (MiniAnswer){ MINI_SEND, answer(200, NULL, "<html>PLANTED not json</html>"), 0, 0 };
        script[1] = (MiniAnswer){ MINI_SEND,
                                  "HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n"
                                  "\r\n{\"data\":{\"password\":\"PLANTED",
                                  0, 0 };
        script[2] = script[1];
        n = snprintf(big, sizeof(big),
                     "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n"
                     "Connection: close\r\n\r\n");
        memset(big + n, ' ', 5000);
        script[3] = (MiniAnswer){ MINI_SEND, big, (size_t)n + 5000, 0 };
        script[4] = (MiniAnswer){ MINI_SEND, answer(200, NULL, "{\"data\":{}}"), 0, 0 };
        env_start(&e, script, 5, 1);

        /* A 200 that is not JSON: clear error, not retried, nothing quoted. */
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_PROTOCOL);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_ptr_nonnull(strstr(err.message, "not a JSON object"));
        assert_clean(&err);
        /* Truncated twice: retried once, then a protocol error. */
        ck_assert_int_eq(vault_client_read(e.client, e.token, &rq, &r, &err), VAULT_E_PROTOCOL);
        ck_assert_uint_eq(err.attempts, 2);
        ck_assert_ptr_nonnull(strstr(err.message, "truncated"));
        assert_clean(&err);

        /* Over the size cap: TOO_LARGE, not retried. */
        snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", e.srv.port);
        cfg.address = addr;
        cfg.allow_plain_http = true;
        cfg.max_response_size = 4096;
        cfg.max_retries = 1;
        ck_assert_int_eq(vault_shared_new(&small, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&sc, small), 0);
        ck_assert_int_eq(vault_client_read(sc, e.token, &rq, &r, &err), VAULT_E_TOO_LARGE);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_RESOURCE_EXHAUSTED);
        ck_assert_int_eq(vault_client_read(sc, e.token, &rq, &r, &err), 0);
        vault_response_free(r);
        ck_assert_uint_eq(mini_server_count(&e.srv), 5);
        vault_client_free(sc);
        vault_shared_free(small);
        env_stop(&e);
}
END_TEST

START_TEST(test_unreachable)
{
        MiniServer dead;
        VaultConfig cfg = VAULT_CONFIG_INIT;
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultToken *t = NULL;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/app" };
        char addr[64];

        ck_assert_int_eq(mini_server_start(&dead, NULL, 0), 0);
        mini_server_stop(&dead);
        snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", dead.port);
        cfg.address = addr;
        cfg.allow_plain_http = true;
        cfg.backoff_base_ms = 10;
        cfg.backoff_max_ms = 20;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        ck_assert_int_eq(
                vault_token_new((const uint8_t *)CANARY_TOKEN, strlen(CANARY_TOKEN), NULL, &t), 0);
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), VAULT_E_UNAVAILABLE);
        ck_assert_uint_eq(err.attempts, 3);
        ck_assert_int_eq(err.http_status, 0);
        ck_assert_ptr_nonnull(strstr(err.message, "3 attempts"));
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAVAILABLE);
        vault_token_free(t);
        vault_client_free(c);
        vault_shared_free(s);
}
END_TEST

static Suite *vault_suite(void) {
        Suite *s = suite_create("vault");
        TCase *tc = tcase_create("helpers");
        tcase_add_test(tc, test_path_normalize);
        tcase_add_test(tc, test_methods_and_backoff);
        tcase_add_test(tc, test_tokens);
        tcase_add_test(tc, test_config_checks);
        suite_add_tcase(s, tc);

        tc = tcase_create("calls");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, log_setup, log_teardown);
        tcase_add_test(tc, test_login_request_shape);
        tcase_add_test(tc, test_login_rejected_not_retried);
        tcase_add_test(tc, test_read_retries_then_succeeds);
        tcase_add_test(tc, test_read_retries_exhausted);
        tcase_add_test(tc, test_retry_after);
        tcase_add_test(tc, test_redirect_once);
        tcase_add_test(tc, test_request_cache);
        tcase_add_test(tc, test_lifecycle);
        tcase_add_test(tc, test_bad_answers);
        tcase_add_test(tc, test_unreachable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (http_global_init() < 0)
                return EXIT_FAILURE;
        sr = srunner_create(vault_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        http_global_cleanup();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
