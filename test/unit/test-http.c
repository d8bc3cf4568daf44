/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-http.c - the libcurl wrapper: configuration checks (plain http
 * refused, CA files and directories loaded and validated by us, client
 * certificate pairs), and single exchanges against a scripted local server
 * (test/vault/mini-server.h): what goes on the wire, the body cap,
 * truncated and dropped answers, Retry-After, redirects, timeouts and the
 * TLS server-name rewrite.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

#include "../vault/mini-server.h"

static char tmpdir[64];

static void tmp_setup(void) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/vm-http-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static void tmp_teardown(void) {
        (void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *name) {
        static char buf[4][256];
        static int i;
        char *p = buf[i++ % 4];
        snprintf(p, 256, "%s/%s", tmpdir, name);
        return p;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

/* A self-signed EC certificate and its key as PEM files. */
static void make_cert(const char *cert_path, const char *key_path, const char *cn) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        X509_NAME *name;
        FILE *f;

        ck_assert_ptr_nonnull(key);
        ck_assert_ptr_nonnull(x);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, name);
        ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
        f = fopen(cert_path, "we");
        ck_assert_ptr_nonnull(f);
        PEM_write_X509(f, x);
        fclose(f);
        if (key_path) {
                f = fopen(key_path, "we");
                ck_assert_ptr_nonnull(f);
                PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
                fclose(f);
        }
        X509_free(x);
        EVP_PKEY_free(key);
}

static int shared_new(const HttpConfig *cfg, HttpShared **s, HttpError *err) {
        *err = (HttpError){ 0 };
        return http_shared_new(s, cfg, err);
}

/* --- configuration -------------------------------------------------------- */

START_TEST(test_address_rules)
{
        HttpShared *s = NULL;
        HttpError err;
        HttpConfig cfg = { .address = "http://vault.example:8200" };

        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "plain http"));
        ck_assert_ptr_null(s);
        cfg.allow_plain_http = true;
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        ck_assert_str_eq(http_shared_address(s), "http://vault.example:8200");
        s = http_shared_free(s);

        cfg = (HttpConfig){ .address = "https://vault.example/" };
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        ck_assert_str_eq(http_shared_address(s), "https://vault.example:443");
        ck_assert(!http_shared_tls_insecure(s));
        s = http_shared_free(s);

        cfg = (HttpConfig){ .address = "https://proxy.example:8443/vault//",
                            .tls.insecure_skip_verify = true };
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        ck_assert_str_eq(http_shared_address(s), "https://proxy.example:8443/vault");
        ck_assert(http_shared_tls_insecure(s));
        s = http_shared_free(s);

        static const char *const bad[] = { "ftp://vault.example",
                                           "https://user:pw@vault.example",
                                           "https://vault.example/?x=1",
                                           "https://vault.example/#f",
                                           "not a url",
                                           "",
                                           "unix:///run/vault.sock" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cfg = (HttpConfig){ .address = bad[i], .allow_plain_http = true };
                ck_assert_msg(shared_new(&cfg, &s, &err) == HTTP_E_CONFIG, "accepted %s", bad[i]);
                ck_assert_uint_gt(strlen(err.message), 0);
        }
        cfg = (HttpConfig){ .address = "https://vault.example", .tls.server_name = "bad name" };
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
}
END_TEST

START_TEST(test_ca_file)
{
        HttpShared *s = NULL;
        HttpError err;
        HttpConfig cfg = { .address = "https://vault.example",
                           .tls.ca_file = tmp_path("nope.pem") };

        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "nope.pem"));

        write_file(tmp_path("junk.pem"), "this is not PEM\n");
        cfg.tls.ca_file = tmp_path("junk.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "no PEM certificate"));

        make_cert(tmp_path("ca.pem"), NULL, "Test CA");
        cfg.tls.ca_file = tmp_path("ca.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        http_shared_free(s);
}
END_TEST

START_TEST(test_ca_dir)
{
        HttpShared *s = NULL;
        HttpError err;
        HttpConfig cfg = { .address = "https://vault.example", .tls.ca_dir = tmp_path("cas") };
        char p[300];

        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG); /* missing */
        mkdir(tmp_path("cas"), 0700);
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG); /* empty */
        ck_assert_ptr_nonnull(strstr(err.message, "no certificate"));

        /* Files without c_rehash names, a subdirectory, and hidden entries
         * (a Kubernetes ConfigMap volume's "..data") that are skipped. */
        snprintf(p, sizeof(p), "%s/cas/a.crt", tmpdir);
        make_cert(p, NULL, "CA one");
        snprintf(p, sizeof(p), "%s/cas/sub", tmpdir);
        mkdir(p, 0700);
        snprintf(p, sizeof(p), "%s/cas/sub/b.pem", tmpdir);
        make_cert(p, NULL, "CA two");
        snprintf(p, sizeof(p), "%s/cas/..data", tmpdir);
        write_file(p, "hidden, not PEM\n");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        http_shared_free(s);

        /* Every visible file must be PEM, and the error names it. */
        snprintf(p, sizeof(p), "%s/cas/README", tmpdir);
        write_file(p, "not a certificate\n");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "README"));
}
END_TEST

START_TEST(test_client_cert)
{
        HttpShared *s = NULL;
        HttpError err;
        HttpConfig cfg = { .address = "https://vault.example" };

        make_cert(tmp_path("c1.pem"), tmp_path("k1.pem"), "client one");
        make_cert(tmp_path("c2.pem"), tmp_path("k2.pem"), "client two");
        cfg.tls.client_cert = tmp_path("c1.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "both client certificate and client key"));
        cfg.tls.client_key = tmp_path("k2.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        ck_assert_ptr_nonnull(strstr(err.message, "does not match"));
        cfg.tls.client_key = tmp_path("c1.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), HTTP_E_CONFIG);
        cfg.tls.client_key = tmp_path("k1.pem");
        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        http_shared_free(s);
}
END_TEST

START_TEST(test_redirect_rules)
{
        HttpShared *s = NULL, *p = NULL;
        HttpError err;
        HttpConfig cfg = { .address = "https://vault.example" };

        ck_assert_int_eq(shared_new(&cfg, &s, &err), 0);
        ck_assert_int_eq(
                http_shared_check_redirect(s, "https://a:8200/v1/x", "https://b:8200/v1/x", &err),
                0);
        ck_assert_int_eq(http_shared_check_redirect(s, "https://a/v1/x", "http://b/v1/x", &err),
                         HTTP_E_PROTOCOL);
        ck_assert_ptr_nonnull(strstr(err.message, "https to plain http"));
        ck_assert_int_eq(http_shared_check_redirect(s, "https://a/v1/x", "ftp://b/x", &err),
                         HTTP_E_PROTOCOL);
        cfg.allow_plain_http = true;
        ck_assert_int_eq(shared_new(&cfg, &p, &err), 0);
        ck_assert_int_eq(http_shared_check_redirect(p, "http://a/v1/x", "http://b/v1/x", &err), 0);
        ck_assert_int_eq(http_shared_check_redirect(p, "https://a/v1/x", "http://b/v1/x", &err),
                         HTTP_E_PROTOCOL);
        ck_assert_int_eq(http_shared_check_redirect(s, "http://a/v1/x", "http://b/v1/x", &err),
                         HTTP_E_PROTOCOL);
        http_shared_free(s);
        http_shared_free(p);
}
END_TEST

START_TEST(test_retry_after_parse)
{
        time_t now = 1700000000;

        ck_assert_int_eq(http_parse_retry_after("120", now), 120);
        ck_assert_int_eq(http_parse_retry_after("0", now), 0);
        ck_assert_int_eq(http_parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now), 20);
        ck_assert_int_eq(http_parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
        ck_assert_int_eq(http_parse_retry_after("-5", now), -1);
        ck_assert_int_eq(http_parse_retry_after("soon", now), -1);
        ck_assert_int_eq(http_parse_retry_after("", now), -1);
        ck_assert_int_eq(http_parse_retry_after(NULL, now), -1);
        ck_assert_int_eq(http_parse_retry_after("12abc", now), -1);
}
END_TEST

/* --- exchanges ------------------------------------------------------------- */

typedef struct Fixture {
        MiniServer srv;
        HttpShared *shared;
        HttpClient *client;
        char url[256];
} Fixture;

static void fixture_start(Fixture *f, const MiniAnswer *script, size_t n, size_t max_body,
                          const char *server_name) {
        HttpError err = { 0 };
        char addr[64];
        HttpConfig cfg = { .allow_plain_http = true,
                           .max_response_size = max_body,
                           .tls.server_name = server_name };

        memset(f, 0, sizeof(*f));
        ck_assert_int_eq(mini_server_start(&f->srv, script, n), 0);
        snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", f->srv.port);
        cfg.address = addr;
        ck_assert_int_eq(http_shared_new(&f->shared, &cfg, &err), 0);
        ck_assert_int_eq(http_client_new(&f->client, f->shared), 0);
        snprintf(f->url, sizeof(f->url), "%s/v1/secret/data/app", addr);
}

static void fixture_stop(Fixture *f) {
        http_client_free(f->client);
        http_shared_free(f->shared);
        mini_server_stop(&f->srv);
}

#define OK_JSON                                                                                    \
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"              \
        "Connection: close\r\n\r\n{\"data\":{}}\n"

START_TEST(test_get_wire_format)
{
        static const MiniAnswer script[] = { { MINI_SEND, OK_JSON, 0, 0 } };
        static const char *const headers[] = { "X-Vault-Request: true",
                                               "X-Vault-Namespace: team-a/" };
        Fixture f;
        Secret *tok = NULL;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        char *raw;
        size_t n;

        fixture_start(&f, script, 1, 0, NULL);
        ck_assert_int_eq(secret_new_from(&tok, "X-Vault-Token: hvs.PLANTED", 26), 0);
        req = (HttpRequest){ .method = HTTP_METHOD_GET,
                             .url = f.url,
                             .headers = headers,
                             .n_headers = 2,
                             .secret_header = tok,
                             .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        ck_assert_int_eq(resp.status, 200);
        ck_assert_mem_eq(secret_get(resp.body, &n), "{\"data\":{}}\n", 12);
        ck_assert_uint_eq(n, 12);
        ck_assert_int_eq(resp.retry_after_sec, -1);
        ck_assert_ptr_null(resp.location);
        ck_assert(resp.new_connection);
        http_response_done(&resp);

        raw = mini_server_request(&f.srv, 0);
        ck_assert_ptr_nonnull(raw);
        ck_assert_msg(strncmp(raw, "GET /v1/secret/data/app HTTP/1.1\r\n", 34) == 0, "%s", raw);
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Request: true\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Namespace: team-a/\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nX-Vault-Token: hvs.PLANTED\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nUser-Agent: vaultmount/"));
        ck_assert_ptr_null(strcasestr(raw, "Content-Type"));
        ck_assert_ptr_null(strcasestr(raw, "Expect:"));
        free(raw);
        secret_free(tok);
        fixture_stop(&f);
}
END_TEST

START_TEST(test_post_put_body)
{
        static const MiniAnswer script[] = { { MINI_SEND, OK_JSON, 0, 0 },
                                             { MINI_SEND, OK_JSON, 0, 0 },
                                             { MINI_SEND, OK_JSON, 0, 0 } };
        const char *json = "{\"common_name\":\"a.example\",\"ttl\":\"1h\"}";
        char bigjson[3000];
        Fixture f;
        Secret *body = NULL, *big = NULL;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        char *raw;

        fixture_start(&f, script, 3, 0, NULL);
        ck_assert_int_eq(secret_new_from(&body, json, strlen(json)), 0);
        req = (HttpRequest){
                .method = HTTP_METHOD_PUT, .url = f.url, .body = body, .timeout_ms = 5000
        };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        http_response_done(&resp);
        raw = mini_server_request(&f.srv, 0);
        ck_assert_msg(strncmp(raw, "PUT /v1/secret/data/app ", 24) == 0, "%s", raw);
        ck_assert_ptr_nonnull(strstr(raw, "\r\nContent-Type: application/json\r\n"));
        ck_assert_ptr_nonnull(strstr(raw, "\r\nContent-Length: 38\r\n"));
        ck_assert_str_eq(strstr(raw, "\r\n\r\n") + 4, json);
        free(raw);

        /* A larger POST: no Expect: 100-continue round trip. */
        memset(bigjson, 0, sizeof(bigjson));
        memcpy(bigjson, "{\"k\":\"", 6);
        memset(bigjson + 6, 'v', 2000);
        memcpy(bigjson + 2006, "\"}", 2);
        ck_assert_int_eq(secret_new_from(&big, bigjson, strlen(bigjson)), 0);
        req.method = HTTP_METHOD_POST;
        req.body = big;
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        http_response_done(&resp);
        raw = mini_server_request(&f.srv, 1);
        ck_assert_msg(strncmp(raw, "POST /v1/secret/data/app ", 25) == 0, "%s", raw);
        ck_assert_ptr_null(strcasestr(raw, "Expect:"));
        ck_assert_str_eq(strstr(raw, "\r\n\r\n") + 4, bigjson);
        free(raw);

        /* A GET never carries the body. */
        req.method = HTTP_METHOD_GET;
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        http_response_done(&resp);
        raw = mini_server_request(&f.srv, 2);
        ck_assert_msg(strncmp(raw, "GET ", 4) == 0, "%s", raw);
        ck_assert_str_eq(strstr(raw, "\r\n\r\n") + 4, "");
        free(raw);

        secret_free(body);
        secret_free(big);
        fixture_stop(&f);
}
END_TEST

START_TEST(test_body_cap)
{
        static char chunked[4096];
        static char withlen[4096];
        static MiniAnswer script[2];
        Fixture f;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        int n;

        /* Announced length over the cap, and a chunked body that grows past it. */
        n = snprintf(withlen, sizeof(withlen),
                     "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n");
        memset(withlen + n, 'x', 2000);
        script[0] = (MiniAnswer){ MINI_SEND, withlen, (size_t)n + 2000, 0 };
        n = snprintf(chunked, sizeof(chunked),
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     "7d0\r\n");
        memset(chunked + n, 'y', 2000);
        n += 2000;
        n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "\r\n0\r\n\r\n");
        script[1] = (MiniAnswer){ MINI_SEND, chunked, (size_t)n, 0 };

        fixture_start(&f, script, 2, 1000, NULL);
        req = (HttpRequest){ .method = HTTP_METHOD_GET, .url = f.url, .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_TOO_LARGE);
        ck_assert(!err.retryable);
        ck_assert_ptr_nonnull(strstr(err.message, "1000 bytes"));
        ck_assert_ptr_null(resp.body);
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_TOO_LARGE);
        fixture_stop(&f);
}
END_TEST

START_TEST(test_broken_answers)
{
        static const MiniAnswer script[] = {
                { MINI_SEND,
                  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"data\":",
                  0, 0 },
                { MINI_DROP, NULL, 0, 0 },
                { MINI_SEND, "garbage that is not HTTP at all\r\n\r\n", 0, 0 },
                { MINI_SEND, OK_JSON, 0, 1500 },
        };
        Fixture f;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;

        fixture_start(&f, script, 4, 0, NULL);
        req = (HttpRequest){ .method = HTTP_METHOD_GET, .url = f.url, .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_TRUNCATED);
        ck_assert(err.retryable);
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_NETWORK);
        ck_assert(err.retryable);
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_PROTOCOL);
        req.timeout_ms = 300;
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), HTTP_E_TIMEOUT);
        ck_assert(err.retryable);
        ck_assert_uint_eq(mini_server_count(&f.srv), 4);
        fixture_stop(&f);
}
END_TEST

START_TEST(test_connection_refused)
{
        MiniServer srv;
        HttpShared *s = NULL;
        HttpClient *c = NULL;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        char addr[64], url[128];
        HttpConfig cfg = { .allow_plain_http = true };

        /* A port that was listening a moment ago and is now closed. */
        ck_assert_int_eq(mini_server_start(&srv, NULL, 0), 0);
        mini_server_stop(&srv);
        snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", srv.port);
        snprintf(url, sizeof(url), "%s/v1/sys/health", addr);
        cfg.address = addr;
        ck_assert_int_eq(http_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(http_client_new(&c, s), 0);
        req = (HttpRequest){ .method = HTTP_METHOD_GET, .url = url, .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(c, &req, &resp, &err), HTTP_E_NETWORK);
        ck_assert(err.retryable);
        ck_assert_uint_gt(strlen(err.message), 0);
        http_client_free(c);
        http_shared_free(s);
}
END_TEST

START_TEST(test_retry_after_and_location)
{
        static const MiniAnswer script[] = {
                { MINI_SEND,
                  "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 13\r\n"
                  "Connection: close\r\n\r\n{\"errors\":[]}",
                  0, 0 },
                { MINI_SEND,
                  "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://active.example:8200/v1/"
                  "secret/data/app?version=2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                  0, 0 },
                { MINI_SEND,
                  "HTTP/1.1 307 Temporary Redirect\r\nLocation: /v1/other\r\n"
                  "Content-Length: 0\r\nConnection: close\r\n\r\n",
                  0, 0 },
        };
        Fixture f;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        char want[128];

        fixture_start(&f, script, 3, 0, NULL);
        req = (HttpRequest){ .method = HTTP_METHOD_GET, .url = f.url, .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        ck_assert_int_eq(resp.status, 429);
        ck_assert_int_eq(resp.retry_after_sec, 7);
        http_response_done(&resp);
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        ck_assert_int_eq(resp.status, 307);
        ck_assert_str_eq(resp.location, "https://active.example:8200/v1/secret/data/app?version=2");
        http_response_done(&resp);
        /* A relative Location comes back absolute. */
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        snprintf(want, sizeof(want), "http://127.0.0.1:%d/v1/other", f.srv.port);
        ck_assert_str_eq(resp.location, want);
        http_response_done(&resp);
        fixture_stop(&f);
}
END_TEST

START_TEST(test_server_name_rewrite)
{
        static const MiniAnswer script[] = { { MINI_SEND, OK_JSON, 0, 0 } };
        Fixture f;
        HttpResponse resp = HTTP_RESPONSE_INIT;
        HttpError err = { 0 };
        HttpRequest req;
        char *raw, want[64];

        /* The connection goes to 127.0.0.1, the name used is the override. */
        fixture_start(&f, script, 1, 0, "vault.internal.example");
        req = (HttpRequest){ .method = HTTP_METHOD_GET, .url = f.url, .timeout_ms = 5000 };
        ck_assert_int_eq(http_client_perform(f.client, &req, &resp, &err), 0);
        ck_assert_int_eq(resp.status, 200);
        http_response_done(&resp);
        raw = mini_server_request(&f.srv, 0);
        snprintf(want, sizeof(want), "\r\nHost: vault.internal.example:%d\r\n", f.srv.port);
        ck_assert_msg(strstr(raw, want), "%s", raw);
        free(raw);
        fixture_stop(&f);
}
END_TEST

static Suite *http_suite(void) {
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("config");
        tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, test_address_rules);
        tcase_add_test(tc, test_ca_file);
        tcase_add_test(tc, test_ca_dir);
        tcase_add_test(tc, test_client_cert);
        tcase_add_test(tc, test_redirect_rules);
        tcase_add_test(tc, test_retry_after_parse);
        suite_add_tcase(s, tc);

        tc = tcase_create("exchange");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_get_wire_format);
        tcase_add_test(tc, test_post_put_body);
        tcase_add_test(tc, test_body_cap);
        tcase_add_test(tc, test_broken_answers);
        tcase_add_test(tc, test_connection_refused);
        tcase_add_test(tc, test_retry_after_and_location);
        tcase_add_test(tc, test_server_name_rewrite);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (http_global_init() < 0)
                return EXIT_FAILURE;
        sr = srunner_create(http_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        http_global_cleanup();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
