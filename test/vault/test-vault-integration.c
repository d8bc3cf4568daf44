/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-vault-integration.c - the Vault client against the project's
 * Vault-compatible dev server (test/vaultdev), over real TLS.
 *
 * main() starts three dev servers as subprocesses (the API over https with a
 * standby listener and an extra SAN; one with plain http; one that requires
 * client certificates) and waits for each one's "ready" line on a pipe
 * (bounded poll, no sleeps). Every test resets the server state, runs the
 * client, and asserts three things: the outcome, the number of HTTP
 * attempts as the server's request log counted them, and that no token,
 * JWT or secret value appears in the client's debug log or error messages.
 * JWTs are RS256, signed here with a key registered with --jwt-pubkey.
 *
 * Never skips: a server that does not start fails the run.
 */
#undef NDEBUG
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "vault.h"
#include "status.h"

#include "devserver.h"

/* --- dev servers --------------------------------------------------------------- */

static char workdir[64];
static DevServer main_srv, http_srv, mtls_srv;
static EVP_PKEY *jwt_key;
static char jwt_pub_path[256];
static char client_ca_path[256], client_cert_path[256], client_key_path[256];
static char wrong_ca_path[256];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAILURE);
}

/* --- admin channel (plain libcurl, independent of the code under test) ---------- */

static long admin_on(const DevServer *d, const char *method, const char *path, JsonValue **ret,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static long admin_on(const DevServer *d, const char *method, const char *path, JsonValue **ret,
                     const char *fmt, ...) {
        char *body = NULL;
        JsonValue *v = NULL;
        long status;
        va_list ap;

        if (fmt) {
                va_start(ap, fmt);
                if (vasprintf(&body, fmt, ap) < 0)
                        body = NULL;
                va_end(ap);
        }
        status = vd_admin(d, method, path, body, &v);
        ck_assert_msg(status == 200, "admin %s %s → %ld", method, path, status);
        if (ret) {
                ck_assert_msg(v, "admin %s %s: no JSON answer", method, path);
                *ret = v;
        } else
                json_value_unref(v);
        free(body);
        return status;
}

#define admin(method, path, ret, ...) admin_on(&main_srv, method, path, ret, __VA_ARGS__)

/* The dev server's request log, as counted by the server. */
static JsonValue *requests_on(const DevServer *d) {
        JsonValue *v = NULL;
        admin_on(d, "GET", "/admin/requests", &v, NULL);
        return v;
}

/* How many requests reached `path` (URL path) on listener (NULL: any). */
static size_t count_on(const DevServer *d, const char *path, const char *listener) {
        JsonValue *v = requests_on(d);
        const JsonValue *reqs = json_object_member(v, "requests");
        size_t n = 0;

        for (size_t i = 0; i < json_array_count(reqs); i++) {
                const JsonValue *e = json_array_element(reqs, i);
                const char *p, *l;
                if (json_member_string(e, "path", &p, NULL) != 0 || strcmp(p, path) != 0)
                        continue;
                if (listener &&
                    (json_member_string(e, "listener", &l, NULL) != 0 || strcmp(l, listener) != 0))
                        continue;
                n++;
        }
        json_value_unref(v);
        return n;
}

/*
 * Asserts that exactly n requests reached path. vaultdev records a request
 * just after sending its response, so a client that has its answer may ask
 * before the entry exists: poll (bounded, 5 s) until n are there, then
 * check that there are no more.
 */
static void expect_count_on(const DevServer *d, const char *path, const char *listener, size_t n,
                            int line) {
        size_t got = 0;

        for (int i = 0; i < 500; i++) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                got = count_on(d, path, listener);
                if (got >= n)
                        break;
                nanosleep(&ts, NULL);
        }
        ck_assert_msg(got == n, "line %d: %zu requests reached %s%s%s, expected %zu", line, got,
                      path, listener ? " on " : "", listener ? listener : "", n);
}

#define expect_count(path, n) expect_count_on(&main_srv, (path), NULL, (n), __LINE__)
#define expect_count_listener(path, listener, n)                                                   \
        expect_count_on(&main_srv, (path), (listener), (n), __LINE__)

static void add_fault(const char *json) {
        admin("POST", "/admin/faults", NULL, "%s", json);
}

/* --- keys, certificates and JWTs --------------------------------------------------- */

static void write_private_key(const char *path, EVP_PKEY *k) {
        FILE *f = fopen(path, "we");
        if (!f)
                die("cannot write %s", path);
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
        fclose(f);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
        X509 *x = X509_new();
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)random() & 0xffffff);
        X509_set_version(x, 2);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                  ca ? "critical,CA:TRUE" : "CA:FALSE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        if (!ca) {
                ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "clientAuth");
                X509_add_ext(x, ext, -1);
                X509_EXTENSION_free(ext);
        }
        if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
                die("X509_sign failed");
        return x;
}

static void write_cert(const char *path, X509 *x) {
        FILE *f = fopen(path, "we");
        if (!f)
                die("cannot write %s", path);
        PEM_write_X509(f, x);
        fclose(f);
}

static void make_keys(void) {
        EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *cl_key = EVP_EC_gen("P-256"),
                 *wrong_key = EVP_EC_gen("P-256");
        X509 *ca, *cl, *wrong;

        jwt_key = EVP_RSA_gen(2048);
        if (!jwt_key || !ca_key || !cl_key || !wrong_key)
                die("key generation failed");
        snprintf(jwt_pub_path, sizeof(jwt_pub_path), "%s/jwt-pub.pem", workdir);
        if (vd_write_pubkey(jwt_pub_path, jwt_key) < 0)
                die("cannot write %s", jwt_pub_path);

        ca = make_cert(ca_key, "vaultmount test client CA", NULL, NULL, true);
        cl = make_cert(cl_key, "vaultmount-node", ca, ca_key, false);
        wrong = make_cert(wrong_key, "unrelated CA", NULL, NULL, true);
        snprintf(client_ca_path, sizeof(client_ca_path), "%s/client-ca.pem", workdir);
        snprintf(client_cert_path, sizeof(client_cert_path), "%s/client.pem", workdir);
        snprintf(client_key_path, sizeof(client_key_path), "%s/client-key.pem", workdir);
        snprintf(wrong_ca_path, sizeof(wrong_ca_path), "%s/wrong-ca.pem", workdir);
        write_cert(client_ca_path, ca);
        write_cert(client_cert_path, cl);
        write_private_key(client_key_path, cl_key);
        write_cert(wrong_ca_path, wrong);
        X509_free(ca);
        X509_free(cl);
        X509_free(wrong);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(cl_key);
        EVP_PKEY_free(wrong_key);
}

/* Every JWT and token the tests handle: none may show up in any output. */
static char *forbidden[256];
static size_t n_forbidden;

static void forbid(const char *s, size_t n) {
        if (n_forbidden < sizeof(forbidden) / sizeof(forbidden[0]))
                forbidden[n_forbidden++] = strndup(s, n);
}

/* A Kubernetes-style projected service-account token, RS256; remembered
 * (whole and its signature) as text that must never appear in output. */
static char *make_jwt(const char *ns, const char *sa, const char *aud, long exp_in) {
        char *jwt = vd_make_jwt(jwt_key, ns, sa, aud, exp_in);

        ck_assert_ptr_nonnull(jwt);
        forbid(jwt, strlen(jwt));
        forbid(strrchr(jwt, '.') + 1, strlen(strrchr(jwt, '.') + 1));
        return jwt;
}

/* --- log capture and per-test fixture -------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_text;
static size_t log_len, log_cap;

static void capture_sink(const LogRecord *rec, void *userdata) {
        size_t n = strlen(rec->message);
        (void)userdata;
        pthread_mutex_lock(&log_lock);
        if (log_len + n + 2 > log_cap) {
                size_t cap = (log_len + n + 2) * 2;
                char *p = realloc(log_text, cap);
                if (p) {
                        log_text = p;
                        log_cap = cap;
                }
        }
        if (log_len + n + 2 <= log_cap) {
                memcpy(log_text + log_len, rec->message, n);
                log_len += n;
                log_text[log_len++] = '\n';
                log_text[log_len] = 0;
        }
        pthread_mutex_unlock(&log_lock);
}

static VaultShared *shared;
static VaultClient *client;
static char errors_seen[1 << 15];

static VaultConfig base_config(const DevServer *d) {
        VaultConfig cfg = VAULT_CONFIG_INIT;
        cfg.address = d->addr;
        cfg.ca_file = d->ca_file[0] ? d->ca_file : NULL;
        cfg.backoff_base_ms = 50;
        cfg.backoff_max_ms = 200;
        cfg.total_timeout_ms = 20000;
        cfg.request_timeout_ms = 10000;
        return cfg;
}

static void setup(void) {
        VaultConfig cfg = base_config(&main_srv);
        VaultError err = { 0 };

        admin("POST", "/admin/reset", NULL, "{}");
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_set_sink(capture_sink, NULL);
        ck_assert_int_eq(vault_shared_new(&shared, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&client, shared), 0);
}

/* Nothing secret in the debug log or in any error message of this test. */
static void assert_no_secrets(void) {
        for (size_t i = 0; i < n_forbidden; i++) {
                ck_assert_msg(!log_text || !strstr(log_text, forbidden[i]),
                              "secret #%zu leaked into the debug log", i);
                ck_assert_msg(!strstr(errors_seen, forbidden[i]),
                              "secret #%zu leaked into an error message", i);
        }
        ck_assert_msg(!log_text || !strstr(log_text, "s3cr3t-demo"), "KV value in log");
        ck_assert_msg(!log_text || !strstr(log_text, "hvs."), "token-shaped text in log");
}

static void teardown(void) {
        vault_client_free(client);
        vault_shared_free(shared);
        client = NULL;
        shared = NULL;
        log_set_sink(NULL, NULL);
        assert_no_secrets();
        /* The client did log (debug lines per attempt). */
        ck_assert_ptr_nonnull(log_text);
}

static void note_error(const VaultError *err) {
        size_t n = strlen(errors_seen);
        snprintf(errors_seen + n, sizeof(errors_seen) - n, "%s\n", err->message);
}

static void note_token(const VaultToken *t) {
        size_t n;
        const uint8_t *p = secret_get(vault_token_secret(t), &n);
        forbid((const char *)p, n);
}

/* Logs in with kubernetes auth (role demo) and remembers the token as secret. */
static VaultToken *login_k8s(VaultClient *c, const char *ns) {
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "demo",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = strlen(jwt),
                                .ns = ns };
        VaultToken *t = NULL;
        VaultError err = { 0 };
        int r = vault_client_login(c, &lp, &t, &err);

        note_error(&err);
        ck_assert_msg(r == 0, "login failed: %d %s", r, err.message);
        note_token(t);
        free(jwt);
        return t;
}

/* A root token made through the admin channel (sees past every ACL). */
static VaultToken *root_token(void) {
        JsonValue *v = NULL;
        VaultToken *t = NULL;
        const char *tok;
        size_t n;

        admin("POST", "/admin/tokens", &v, "{\"policies\":[\"root\"]}");
        ck_assert_int_eq(json_member_string(v, "token", &tok, &n), 0);
        forbid(tok, n);
        ck_assert_int_eq(vault_token_new((const uint8_t *)tok, n, NULL, &t), 0);
        json_value_unref(v);
        return t;
}

static int read_path(VaultToken *t, VaultMethod m, const char *path, const char *body,
                     VaultResponse **ret, VaultError *err) {
        VaultRequest rq = { .method = m,
                            .path = path,
                            .body = (const uint8_t *)body,
                            .body_len = body ? strlen(body) : 0 };
        int r;

        *err = (VaultError){ 0 };
        *ret = NULL;
        r = vault_client_read(client, t, &rq, ret, err);
        note_error(err);
        return r;
}

/* The JWT public key as the inside of a JSON string (for pem_keys). */
static char *jwt_pub_json(void) {
        char *pem = vd_read_text(jwt_pub_path), *esc, *q;

        ck_assert_ptr_nonnull(pem);
        esc = q = calloc(1, strlen(pem) * 2 + 1);
        ck_assert_ptr_nonnull(esc);
        for (const char *p = pem; *p; p++) {
                if (*p == '\n') {
                        *q++ = '\\';
                        *q++ = 'n';
                } else
                        *q++ = *p;
        }
        free(pem);
        return esc;
}

/* --- auth -------------------------------------------------------------------------------- */

START_TEST(test_login_kubernetes)
{
        VaultToken *t = login_k8s(client, NULL);
        JsonValue *v = NULL;
        const JsonValue *tok;
        char path[256];

        ck_assert_int_eq(vault_token_ttl_sec(t), 3600);
        ck_assert(vault_token_renewable(t));
        ck_assert_ptr_nonnull(vault_token_accessor(t));
        /* The server knows the token by the accessor we were given. */
        snprintf(path, sizeof(path), "/admin/tokens?accessor=%s", vault_token_accessor(t));
        admin("GET", path, &v, NULL);
        tok = json_array_element(json_object_member(v, "tokens"), 0);
        ck_assert_ptr_nonnull(tok);
        ck_assert_int_eq(json_value_kind(json_object_member(tok, "revoked")), JSON_KIND_BOOL);
        json_value_unref(v);
        expect_count("/v1/auth/kubernetes/login", 1);
        vault_token_free(t);
}
END_TEST

START_TEST(test_login_custom_mount)
{
        char *esc = jwt_pub_json();
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .mount = "k8s-cluster2",
                                .role = "r2",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = strlen(jwt) };
        VaultToken *t = NULL;
        VaultError err = { 0 };

        admin("POST", "/admin/mounts", NULL,
              "{\"path\":\"auth/k8s-cluster2\",\"type\":\"kubernetes\","
              "\"config\":{\"pem_keys\":[\"%s\"]},\"roles\":{\"r2\":{"
              "\"bound_service_account_names\":[\"app\"],"
              "\"bound_service_account_namespaces\":[\"team-a\"],"
              "\"audience\":\"vault\",\"token_policies\":[\"kv-read\"],\"token_ttl\":\"20m\"}}}",
              esc);
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), 0);
        note_token(t);
        ck_assert_int_eq(vault_token_ttl_sec(t), 1200);
        expect_count("/v1/auth/k8s-cluster2/login", 1);
        expect_count("/v1/auth/kubernetes/login", 0);
        vault_token_free(t);
        free(jwt);
        free(esc);
}
END_TEST

START_TEST(test_login_jwt)
{
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_JWT,
                                .role = "demo",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = strlen(jwt) };
        VaultToken *t = NULL;
        VaultError err = { 0 };

        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), 0);
        note_token(t);
        ck_assert_int_eq(vault_token_ttl_sec(t), 3600);
        expect_count("/v1/auth/jwt/login", 1);
        vault_token_free(t);
        free(jwt);
}
END_TEST

START_TEST(test_login_rejected)
{
        char *jwt_wrong_aud = make_jwt("team-a", "app", "not-vault", 600);
        char *jwt_expired = make_jwt("team-a", "app", "vault", -3600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES, .role = "demo" };
        VaultToken *t = NULL;
        VaultError err = { 0 };

        /* kubernetes auth: SA name not bound → 403 with Vault's text. */
        admin("POST", "/admin/roles", NULL,
              "{\"mount\":\"auth/kubernetes\",\"name\":\"demo\",\"role\":{"
              "\"bound_service_account_names\":[\"other\"],"
              "\"bound_service_account_namespaces\":[\"*\"],\"audience\":\"vault\","
              "\"token_policies\":[\"kv-read\"]}}");
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        lp.jwt = (const uint8_t *)jwt;
        lp.jwt_len = strlen(jwt);
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), VAULT_E_LOGIN_REJECTED);
        note_error(&err);
        ck_assert_ptr_null(t);
        ck_assert_int_eq(err.http_status, 403);
        ck_assert_msg(strstr(err.message, "service account name not authorized"), "%s",
                      err.message);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAUTHENTICATED);
        ck_assert_uint_eq(err.attempts, 1);
        expect_count("/v1/auth/kubernetes/login", 1);

        /* jwt auth: validation failures are 400s, still "login rejected". */
        lp.method = VAULT_AUTH_JWT;
        lp.jwt = (const uint8_t *)jwt_wrong_aud;
        lp.jwt_len = strlen(jwt_wrong_aud);
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), VAULT_E_LOGIN_REJECTED);
        note_error(&err);
        ck_assert_int_eq(err.http_status, 400);
        ck_assert_msg(strstr(err.message, "aud"), "%s", err.message);
        lp.jwt = (const uint8_t *)jwt_expired;
        lp.jwt_len = strlen(jwt_expired);
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), VAULT_E_LOGIN_REJECTED);
        note_error(&err);
        ck_assert_msg(strstr(err.message, "exp"), "%s", err.message);
        /* An unknown jwt role is the user's configuration error. */
        lp.jwt = (const uint8_t *)jwt;
        lp.jwt_len = strlen(jwt);
        lp.role = "nope";
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), VAULT_E_BAD_REQUEST);
        note_error(&err);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_INVALID_ARGUMENT);
        expect_count("/v1/auth/jwt/login", 3);
        /* A login mount that does not exist. */
        lp.method = VAULT_AUTH_KUBERNETES;
        lp.mount = "no-such-mount";
        lp.role = "demo";
        ck_assert_int_gt(vault_client_login(client, &lp, &t, &err), 0);
        note_error(&err);
        ck_assert_ptr_null(t);
        free(jwt);
        free(jwt_wrong_aud);
        free(jwt_expired);
}
END_TEST

/* --- reads --------------------------------------------------------------------------------- */

START_TEST(test_kv_v2)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultResponse *r = NULL;
        VaultError err;
        const JsonValue *inner;
        const char *s;
        size_t n;
        int64_t version;

        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         0);
        inner = json_object_member(r->data, "data");
        ck_assert_int_eq(json_member_string(inner, "password", &s, &n), 0);
        ck_assert_int_eq((int)n, 11);
        ck_assert_mem_eq(s, "s3cr3t-demo", 11);
        ck_assert_str_eq(r->mount_type, "kv");
        vault_response_free(r);

        /* A second version, then ?version=1 still reads the first. */
        admin("POST", "/admin/secrets", NULL,
              "{\"mount\":\"secret\",\"path\":\"myapp/config\",\"data\":{\"password\":\"v2\"}}");
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config?version=1", NULL,
                                   &r, &err),
                         0);
        ck_assert_int_eq(
                json_member_int64(json_object_member(r->data, "metadata"), "version", &version), 0);
        ck_assert_int_eq(version, 1);
        vault_response_free(r);
        ck_assert_int_eq(
                read_path(t, VAULT_METHOD_GET, "/v1/secret/data/myapp/config", NULL, &r, &err), 0);
        ck_assert_int_eq(
                json_member_int64(json_object_member(r->data, "metadata"), "version", &version), 0);
        ck_assert_int_eq(version, 2);
        vault_response_free(r);

        /* Deleted and destroyed versions: 404 with a body, no errors key. */
        admin("DELETE", "/admin/secrets", NULL,
              "{\"mount\":\"secret\",\"path\":\"myapp/config\",\"versions\":[1]}");
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config?version=1", NULL,
                                   &r, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_msg(strstr(err.message, "secret version 1 was deleted at"), "%s", err.message);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_NOT_FOUND);
        admin("DELETE", "/admin/secrets", NULL,
              "{\"mount\":\"secret\",\"path\":\"myapp/config\",\"versions\":[2],"
              "\"destroy\":true}");
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_msg(strstr(err.message, "secret version 2 was destroyed"), "%s", err.message);
        /* Missing key; v2 mount read without data/ (Vault's warning; a root
         * token, since the ACL is checked before the route). */
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/nope", NULL, &r, &err),
                         VAULT_E_NOT_FOUND);
        vault_token_free(t);
        t = root_token();
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/myapp/config", NULL, &r, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_msg(strstr(err.message, "Invalid path for a versioned K/V secrets engine"), "%s",
                      err.message);
        expect_count("/v1/secret/data/myapp/config", 5);
        ck_assert_uint_eq(err.attempts, 1);
        vault_token_free(t);
}
END_TEST

START_TEST(test_kv_v1_and_denied)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultResponse *r = NULL;
        VaultError err;
        const char *s;

        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "kv/myapp/legacy", NULL, &r, &err), 0);
        ck_assert_int_eq(r->lease_duration, 3600); /* the data's ttl key */
        ck_assert_ptr_null(r->lease_id);
        ck_assert_int_eq(json_member_string(r->data, "api_key", &s, NULL), 0);
        vault_response_free(r);

        /* Outside the token's policies: 403, not retried. */
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/config", NULL, &r, &err),
                         VAULT_E_DENIED);
        ck_assert_msg(strstr(err.message, "permission denied"), "%s", err.message);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_PERMISSION_DENIED);
        expect_count("/v1/secret/config", 1);
        /* A mount that does not exist: 404 with the route text (root token). */
        vault_token_free(t);
        t = root_token();
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "nomount/data/x", NULL, &r, &err),
                         VAULT_E_NOT_FOUND);
        ck_assert_msg(strstr(err.message, "no handler for route"), "%s", err.message);
        /* An invalid path never leaves the process. */
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/../sys/seal", NULL, &r, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_uint_eq(err.attempts, 0);
        vault_token_free(t);
}
END_TEST

START_TEST(test_dynamic_credentials_and_leases)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultRequestCache *cache = NULL;
        const VaultResponse *a = NULL, *b = NULL;
        VaultResponse *r = NULL;
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "database/creds/readonly" };
        VaultError err = { 0 };
        VaultLease lease;
        JsonValue *v = NULL;
        char path[512], lease_id[256];
        const char *s;
        size_t n;

        /* Two objects (username, password) on one path: one lease. */
        ck_assert_int_eq(vault_request_cache_new(&cache), 0);
        ck_assert_int_eq(vault_request_cache_read(cache, client, t, &rq, &a, &err), 0);
        ck_assert_int_eq(vault_request_cache_read(cache, client, t, &rq, &b, &err), 0);
        ck_assert_ptr_eq(a, b);
        expect_count("/v1/database/creds/readonly", 1);
        ck_assert_ptr_nonnull(a->lease_id);
        ck_assert_int_eq(strncmp(a->lease_id, "database/creds/readonly/", 24), 0);
        ck_assert_int_eq(a->lease_duration, 3600);
        ck_assert(a->renewable);
        ck_assert_int_eq(json_member_string(a->data, "password", &s, &n), 0);
        forbid(s, n);
        snprintf(lease_id, sizeof(lease_id), "%s", a->lease_id);

        ck_assert_int_eq(vault_client_lease_renew(client, t, lease_id, 600, &lease, &err), 0);
        ck_assert_int_eq(lease.duration_sec, 600);
        ck_assert(lease.renewable);
        ck_assert_int_eq(vault_client_lease_revoke(client, t, lease_id, &err), 0);
        snprintf(path, sizeof(path), "/admin/leases?prefix=%s", lease_id);
        admin("GET", path, &v, NULL);
        ck_assert_int_eq(json_member_string(json_array_element(json_object_member(v, "leases"), 0),
                                            "revoke_reason", &s, NULL),
                         0);
        ck_assert_str_eq(s, "revoked");
        json_value_unref(v);
        vault_request_cache_free(cache);

        /* Leases die with their token: revoke-self takes the next lease along. */
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "database/creds/readonly", NULL, &r, &err),
                         0);
        snprintf(lease_id, sizeof(lease_id), "%s", r->lease_id);
        ck_assert_int_eq(json_member_string(r->data, "password", &s, &n), 0);
        forbid(s, n);
        vault_response_free(r);
        ck_assert_int_eq(vault_client_token_revoke_self(client, t, &err), 0);
        snprintf(path, sizeof(path), "/admin/leases?prefix=%s", lease_id);
        admin("GET", path, &v, NULL);
        ck_assert_int_eq(json_member_string(json_array_element(json_object_member(v, "leases"), 0),
                                            "revoke_reason", &s, NULL),
                         0);
        ck_assert_str_eq(s, "token_revoked");
        json_value_unref(v);
        /* A renewal of an unknown lease is the caller's problem (400). */
        ck_assert_int_eq(vault_client_lease_renew(client, t, "database/creds/readonly/none", 0,
                                                  &lease, &err),
                         VAULT_E_DENIED);
        note_error(&err);
        vault_token_free(t);
}
END_TEST

START_TEST(test_pki_and_request_cache)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultRequestCache *cache = NULL;
        const VaultResponse *a = NULL, *b = NULL, *c = NULL;
        const char *args1 = "{\"common_name\":\"a.example.com\",\"ttl\":\"1h\"}";
        const char *args2 = "{\"common_name\":\"b.example.com\",\"ttl\":\"1h\"}";
        VaultRequest rq = { .method = VAULT_METHOD_PUT,
                            .path = "pki/issue/example-dot-com",
                            .body = (const uint8_t *)args1,
                            .body_len = strlen(args1) };
        VaultError err = { 0 };
        VaultResponse *r = NULL;
        const char *cert, *key;
        size_t n;

        ck_assert_int_eq(vault_request_cache_new(&cache), 0);
        ck_assert_int_eq(vault_request_cache_read(cache, client, t, &rq, &a, &err), 0);
        ck_assert_int_eq(json_member_string(a->data, "certificate", &cert, NULL), 0);
        ck_assert_int_eq(strncmp(cert, "-----BEGIN CERTIFICATE-----", 27), 0);
        ck_assert_int_eq(json_member_string(a->data, "private_key", &key, &n), 0);
        forbid(key + 40, 40); /* a slice of the key body */
        /* Same method, path and body → one issuance; another body → another. */
        ck_assert_int_eq(vault_request_cache_read(cache, client, t, &rq, &b, &err), 0);
        ck_assert_ptr_eq(a, b);
        rq.body = (const uint8_t *)args2;
        rq.body_len = strlen(args2);
        ck_assert_int_eq(vault_request_cache_read(cache, client, t, &rq, &c, &err), 0);
        ck_assert_ptr_ne(a, c);
        expect_count("/v1/pki/issue/example-dot-com", 2);
        vault_request_cache_free(cache);

        /* GET on an update-only path: the ACL answers first (403). */
        ck_assert_int_eq(
                read_path(t, VAULT_METHOD_GET, "pki/issue/example-dot-com", NULL, &r, &err),
                VAULT_E_DENIED);
        /* A CN the role does not allow: 400 with Vault's words, but never the
         * value we sent (issue 14: secretArgs values are not echoed). */
        ck_assert_int_eq(read_path(t, VAULT_METHOD_POST, "pki/issue/example-dot-com",
                                   "{\"common_name\":\"evil.test\"}", &r, &err),
                         VAULT_E_BAD_REQUEST);
        ck_assert_msg(strstr(err.message, "common name *** not allowed"), "%s", err.message);
        ck_assert_msg(!strstr(err.message, "evil.test"), "%s", err.message);
        vault_token_free(t);
}
END_TEST

START_TEST(test_token_lifecycle)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultTokenInfo info;
        VaultError err = { 0 };

        ck_assert_int_eq(vault_client_token_lookup_self(client, t, &info, &err), 0);
        ck_assert_int_gt(info.ttl_sec, 3500);
        ck_assert_int_le(info.ttl_sec, 3600);
        ck_assert(info.renewable);
        ck_assert_str_eq(info.accessor, vault_token_accessor(t));
        ck_assert_int_eq(vault_client_token_renew_self(client, t, 1800, &err), 0);
        ck_assert_int_eq(vault_token_ttl_sec(t), 1800);
        ck_assert_int_eq(vault_client_token_revoke_self(client, t, &err), 0);
        ck_assert_int_eq(vault_client_token_lookup_self(client, t, &info, &err), VAULT_E_DENIED);
        note_error(&err);
        ck_assert_msg(strstr(err.message, "invalid token"), "%s", err.message);
        ck_assert_int_eq(vault_client_token_renew_self(client, t, 0, &err), VAULT_E_DENIED);
        note_error(&err);
        expect_count("/v1/auth/token/lookup-self", 2);
        expect_count("/v1/auth/token/renew-self", 2);
        expect_count("/v1/auth/token/revoke-self", 1);
        vault_token_free(t);
}
END_TEST

START_TEST(test_namespace_and_headers)
{
        VaultToken *t, *root_t;
        VaultResponse *r = NULL;
        VaultError err;
        JsonValue *v = NULL;
        const JsonValue *reqs;
        char *esc = jwt_pub_json();
        const char *s;

        admin("POST", "/admin/namespaces", NULL, "{\"path\":\"team-a\"}");
        admin("POST", "/admin/policies", NULL,
              "{\"namespace\":\"team-a\",\"name\":\"ns-read\",\"policy\":{\"path\":{"
              "\"secret/data/*\":{\"capabilities\":[\"read\"]}}}}");
        admin("POST", "/admin/mounts", NULL,
              "{\"namespace\":\"team-a\",\"path\":\"secret\",\"type\":\"kv\","
              "\"options\":{\"version\":\"2\"},\"data\":{\"app\":{\"k\":\"in-team-a\"}}}");
        admin("POST", "/admin/mounts", NULL,
              "{\"namespace\":\"team-a\",\"path\":\"auth/kubernetes\",\"type\":\"kubernetes\","
              "\"config\":{\"pem_keys\":[\"%s\"]},\"roles\":{\"demo\":{"
              "\"bound_service_account_names\":[\"*\"],\"bound_service_account_namespaces\":[\"*\"],"
              "\"audience\":\"vault\",\"token_policies\":[\"ns-read\"]}}}",
              esc);
        t = login_k8s(client, "team-a");
        ck_assert_str_eq(vault_token_namespace(t), "team-a");
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/app", NULL, &r, &err), 0);
        ck_assert_int_eq(json_member_string(json_object_member(r->data, "data"), "k", &s, NULL), 0);
        ck_assert_str_eq(s, "in-team-a");
        vault_response_free(r);
        /* The root namespace has no such secret. */
        root_t = login_k8s(client, NULL);
        ck_assert_int_eq(read_path(root_t, VAULT_METHOD_GET, "secret/data/app", NULL, &r, &err),
                         VAULT_E_NOT_FOUND);

        /* Every request: X-Vault-Request: true; the namespace header only with one;
         * no token on logins. */
        expect_count("/v1/secret/data/app", 2);
        v = requests_on(&main_srv);
        reqs = json_object_member(v, "requests");
        ck_assert_uint_eq(json_array_count(reqs), 4);
        for (size_t i = 0; i < json_array_count(reqs); i++) {
                const JsonValue *e = json_array_element(reqs, i);
                const char *path, *ns = NULL;
                bool has_token = false;
                ck_assert_int_eq(json_member_string(e, "x_vault_request", &s, NULL), 0);
                ck_assert_str_eq(s, "true");
                ck_assert_int_eq(json_member_string(e, "path", &path, NULL), 0);
                (void)json_member_string(e, "x_vault_namespace", &ns, NULL);
                ck_assert_int_eq(json_member_bool(e, "has_token", &has_token), 0);
                ck_assert(has_token == (strstr(path, "/login") == NULL));
                ck_assert(i < 2 ? ns && strcmp(ns, "team-a") == 0 : ns == NULL);
                ck_assert_int_eq(json_member_string(e, "user_agent", &s, NULL), 0);
                ck_assert_int_eq(strncmp(s, "vaultmount/", 11), 0);
        }
        json_value_unref(v);
        vault_token_free(t);
        vault_token_free(root_t);
        free(esc);
}
END_TEST

/* --- faults: retries, attempts, Retry-After, redirects ------------------------------------------
 */

START_TEST(test_retry_transient_statuses)
{
        static const char *const faults[] = {
                "{\"type\":\"sealed\",\"count\":2,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"error\",\"count\":1,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"bad_gateway\",\"count\":2,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"precondition\",\"count\":1,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"rate_limit\",\"count\":2,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"drop\",\"count\":1,\"path\":\"/v1/secret/*\"}",
                "{\"type\":\"drop\",\"rst\":true,\"count\":1,\"path\":\"/v1/secret/*\"}",
        };
        /* Our attempts, and requests the server saw. A request dropped on a
         * kept-alive connection is re-sent once by libcurl itself on a new
         * connection before we see any error ("connection died, retrying"). */
        static const size_t expected_attempts[] = { 3, 2, 3, 2, 3, 1, 1 };
        static const size_t expected_seen[] = { 3, 2, 3, 2, 3, 2, 2 };
        VaultToken *t = login_k8s(client, NULL);

        for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
                VaultResponse *r = NULL;
                VaultError err;
                admin("POST", "/admin/counters/reset", NULL, "{}");
                add_fault(faults[i]);
                ck_assert_msg(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r,
                                        &err) == 0,
                              "fault %s: %s", faults[i], err.message);
                ck_assert_msg(err.attempts == expected_attempts[i], "fault %s: %u attempts",
                              faults[i], err.attempts);
                expect_count("/v1/secret/data/myapp/config", expected_seen[i]);
                vault_response_free(r);
        }
        vault_token_free(t);
}
END_TEST

START_TEST(test_retries_exhausted)
{
        static const struct {
                const char *fault;
                int code;
                const char *text;
                size_t attempts, seen; /* ours, and what the server saw (see above) */
        } cases[] = {
                { "{\"type\":\"sealed\"}", VAULT_E_SEALED, "Vault is sealed", 3, 3 },
                { "{\"type\":\"rate_limit\"}", VAULT_E_RATE_LIMITED, "rate limit quota exceeded", 3,
                  3 },
                { "{\"type\":\"error\"}", VAULT_E_UNAVAILABLE, "internal error", 3, 3 },
                { "{\"type\":\"bad_gateway\"}", VAULT_E_UNAVAILABLE, "upstream error", 3, 3 },
                { "{\"type\":\"precondition\"}", VAULT_E_UNAVAILABLE, "required index state", 3,
                  3 },
                { "{\"type\":\"drop\"}", VAULT_E_UNAVAILABLE, "3 attempts", 3, 4 },
                { "{\"type\":\"truncate\"}", VAULT_E_PROTOCOL, "truncated", 3, 3 },
                { "{\"type\":\"status\",\"status\":501,\"errors\":[\"Vault is not initialized\"]}",
                  VAULT_E_UNAVAILABLE, "not initialized", 1, 1 },
                { "{\"type\":\"garbage\",\"body\":\"<html>PLANTED garbage</html>\"}",
                  VAULT_E_PROTOCOL, "not a JSON object", 1, 1 },
                { "{\"type\":\"status\",\"status\":400,\"errors\":[\"bad thing\"]}",
                  VAULT_E_BAD_REQUEST, "bad thing", 1, 1 },
                { "{\"type\":\"status\",\"status\":204}", 0, "", 1, 1 },
        };
        VaultToken *t = login_k8s(client, NULL);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                VaultResponse *r = NULL;
                VaultError err;
                char fault[256];
                snprintf(fault, sizeof(fault), "%.*s,\"path\":\"/v1/secret/*\"}",
                         (int)strlen(cases[i].fault) - 1, cases[i].fault);
                admin("POST", "/admin/reset", NULL, "{}");
                vault_token_free(t);
                t = login_k8s(client, NULL);
                add_fault(fault);
                ck_assert_msg(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r,
                                        &err) == cases[i].code,
                              "%s: %d %s", fault, err.code, err.message);
                if (cases[i].code == 0) {
                        /* 204: success without a body, so without data. */
                        ck_assert_ptr_nonnull(r);
                        ck_assert_ptr_null(r->data);
                        vault_response_free(r);
                        r = NULL;
                }
                ck_assert_ptr_null(r);
                ck_assert_msg(strstr(err.message, cases[i].text), "%s: %s", fault, err.message);
                ck_assert_msg(err.attempts == cases[i].attempts, "%s: %u attempts", fault,
                              err.attempts);
                expect_count("/v1/secret/data/myapp/config", cases[i].seen);
                ck_assert(!strstr(err.message, "PLANTED"));
                ck_assert(cases[i].code == 0 || vault_error_to_csi_code(err.code) != CSI_OK);
        }
        vault_token_free(t);
}
END_TEST

START_TEST(test_retry_after)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultResponse *r = NULL;
        VaultError err;
        struct timespec t0, t1;
        long ms;

        add_fault("{\"type\":\"rate_limit\",\"retry_after\":1,\"rate_limit_headers\":true,"
                  "\"count\":1,\"path\":\"/v1/secret/*\"}");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        ck_assert_msg(ms >= 950, "Retry-After: 1 not honoured (%ld ms)", ms);
        ck_assert_uint_eq(err.attempts, 2);
        expect_count("/v1/secret/data/myapp/config", 2);
        vault_response_free(r);

        /* A Retry-After past the client's limit (30 s) ends the retries at once. */
        admin("POST", "/admin/counters/reset", NULL, "{}");
        add_fault("{\"type\":\"rate_limit\",\"retry_after\":3600,\"path\":\"/v1/secret/*\"}");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         VAULT_E_RATE_LIMITED);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        ck_assert_uint_eq(err.attempts, 1);
        expect_count("/v1/secret/data/myapp/config", 1);
        ck_assert_msg(strstr(err.message, "retry after 3600"), "%s", err.message);
        ck_assert_msg(ms < 2000, "waited %ld ms", ms);
        /* 503 without Retry-After: jittered backoff, still bounded. */
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAVAILABLE);
        vault_token_free(t);
}
END_TEST

START_TEST(test_timeouts)
{
        VaultConfig cfg = base_config(&main_srv);
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultToken *t = login_k8s(client, NULL);
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/myapp/config" };
        VaultResponse *r = NULL;
        VaultError err = { 0 };

        cfg.request_timeout_ms = 400;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        /* One slow answer: the attempt times out, the retry succeeds. */
        add_fault("{\"type\":\"latency\",\"ms\":1500,\"count\":1,\"path\":\"/v1/secret/*\"}");
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), 0);
        ck_assert_uint_eq(err.attempts, 2);
        vault_response_free(r);
        r = NULL;
        /* A body that trickles in forever: every attempt times out. */
        add_fault("{\"type\":\"slow_body\",\"chunk_size\":4,\"delay_ms\":300,"
                  "\"path\":\"/v1/secret/*\"}");
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), VAULT_E_UNAVAILABLE);
        note_error(&err);
        ck_assert_uint_eq(err.attempts, 3);
        ck_assert_msg(strstr(err.message, "timed out"), "%s", err.message);
        /* The server finishes (and records) the abandoned answers later: wait
         * for all five so that nothing spills into the next test. */
        expect_count("/v1/secret/data/myapp/config", 5);
        vault_client_free(c);
        vault_shared_free(s);
        vault_token_free(t);
}
END_TEST

START_TEST(test_standby_redirect)
{
        VaultConfig cfg = base_config(&main_srv);
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultToken *t = NULL;
        VaultResponse *r = NULL;
        VaultError err = { 0 };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/myapp/config" };
        char loc[256];

        /* Talking to the standby: one 307 to the active node, followed once,
         * for a login (POST with body) as for a read. */
        cfg.address = main_srv.standby;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        t = login_k8s(c, NULL);
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), 0);
        ck_assert_uint_eq(err.attempts, 2);
        vault_response_free(r);
        r = NULL;
        expect_count_listener("/v1/auth/kubernetes/login", "standby", 1);
        expect_count_listener("/v1/auth/kubernetes/login", "main", 1);
        expect_count_listener("/v1/secret/data/myapp/config", "standby", 1);
        expect_count_listener("/v1/secret/data/myapp/config", "main", 1);

        /* Redirects disabled: the 307 is an error. */
        vault_client_free(c);
        vault_shared_free(s);
        cfg.disable_redirects = true;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), VAULT_E_PROTOCOL);
        ck_assert_msg(strstr(err.message, "unexpected redirect"), "%s", err.message);
        expect_count_listener("/v1/secret/data/myapp/config", "standby", 2);
        vault_client_free(c);
        vault_shared_free(s);

        /* Never from https to http. */
        admin("POST", "/admin/counters/reset", NULL, "{}");
        snprintf(loc, sizeof(loc),
                 "{\"type\":\"redirect\",\"location\":\"%s\","
                 "\"path\":\"/v1/secret/*\"}",
                 http_srv.addr);
        add_fault(loc);
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         VAULT_E_PROTOCOL);
        ck_assert_msg(strstr(err.message, "https to plain http"), "%s", err.message);
        expect_count_on(&http_srv, "/v1/secret/data/myapp/config", NULL, 0, __LINE__);
        admin("DELETE", "/admin/faults", NULL, NULL);

        /* At most one redirect per call. */
        snprintf(loc, sizeof(loc),
                 "{\"type\":\"redirect\",\"location\":\"%s\","
                 "\"path\":\"/v1/secret/*\"}",
                 main_srv.addr);
        add_fault(loc);
        ck_assert_int_eq(read_path(t, VAULT_METHOD_GET, "secret/data/myapp/config", NULL, &r, &err),
                         VAULT_E_PROTOCOL);
        ck_assert_msg(strstr(err.message, "more than once"), "%s", err.message);
        ck_assert_uint_eq(err.attempts, 2);
        vault_token_free(t);
}
END_TEST

START_TEST(test_sealed_everywhere)
{
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "demo",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = strlen(jwt) };
        VaultToken *t = NULL;
        VaultError err = { 0 };

        admin("POST", "/admin/state", NULL, "{\"sealed\":true}");
        ck_assert_int_eq(vault_client_login(client, &lp, &t, &err), VAULT_E_SEALED);
        note_error(&err);
        ck_assert_uint_eq(err.attempts, 3);
        expect_count("/v1/auth/kubernetes/login", 3);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAVAILABLE);
        free(jwt);
}
END_TEST

START_TEST(test_response_cap)
{
        VaultConfig cfg = base_config(&main_srv);
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultToken *t = login_k8s(client, NULL);
        const char *args = "{\"common_name\":\"a.example.com\"}";
        VaultRequest rq = { .method = VAULT_METHOD_POST,
                            .path = "pki/issue/example-dot-com",
                            .body = (const uint8_t *)args,
                            .body_len = strlen(args) };
        VaultResponse *r = NULL;
        VaultError err = { 0 };

        cfg.max_response_size = 512;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), VAULT_E_TOO_LARGE);
        note_error(&err);
        ck_assert_uint_eq(err.attempts, 1);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_RESOURCE_EXHAUSTED);
        vault_client_free(c);
        vault_shared_free(s);
        vault_token_free(t);
}
END_TEST

/* --- TLS -----------------------------------------------------------------------------------------
 */

static int try_read_with(VaultConfig *cfg, VaultError *err, const DevServer *d) {
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultToken *t = NULL;
        char *jwt = make_jwt("team-a", "app", "vault", 600);
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "demo",
                                .jwt = (const uint8_t *)jwt,
                                .jwt_len = strlen(jwt) };
        int r;

        (void)d;
        *err = (VaultError){ 0 };
        r = vault_shared_new(&s, cfg, err);
        if (r == 0) {
                ck_assert_int_eq(vault_client_new(&c, s), 0);
                r = vault_client_login(c, &lp, &t, err);
                if (r == 0)
                        note_token(t);
        }
        note_error(err);
        vault_token_free(t);
        vault_client_free(c);
        vault_shared_free(s);
        free(jwt);
        return r;
}

START_TEST(test_tls_trust)
{
        VaultConfig cfg = base_config(&main_srv);
        VaultError err;
        char dir[300], copy[400];
        char *pem = vd_read_text(main_srv.ca_file);
        FILE *f;

        /* An unrelated CA: verification fails, not retried, with curl's reason. */
        cfg.ca_file = wrong_ca_path;
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), VAULT_E_TLS);
        ck_assert_msg(strstr(err.message, "certificate"), "%s", err.message);
        ck_assert_uint_eq(err.attempts, 1);
        expect_count("/v1/auth/kubernetes/login", 0);
        ck_assert_int_eq(vault_error_to_csi_code(err.code), CSI_UNAVAILABLE);

        /* ...unless verification is off by the node admin's flag. */
        cfg.tls_skip_verify = true;
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), 0);
        cfg.tls_skip_verify = false;

        /* A CA directory with a file that has no c_rehash name. */
        snprintf(dir, sizeof(dir), "%s/ca-dir", workdir);
        mkdir(dir, 0700);
        snprintf(copy, sizeof(copy), "%s/dev-ca.crt", dir);
        f = fopen(copy, "we");
        fputs(pem, f);
        fclose(f);
        cfg.ca_file = NULL;
        cfg.ca_dir = dir;
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), 0);

        /* No CA configured: the system roots do not know the dev CA. */
        cfg.ca_dir = NULL;
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), VAULT_E_TLS);
        free(pem);
}
END_TEST

START_TEST(test_tls_server_name)
{
        VaultConfig cfg = base_config(&main_srv);
        VaultError err;

        /* The certificate has SAN vault.test (which does not resolve): the
         * override sends SNI/verification there while connecting to 127.0.0.1. */
        cfg.tls_server_name = "vault.test";
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), 0);
        cfg.tls_server_name = "wrong.example";
        ck_assert_int_eq(try_read_with(&cfg, &err, &main_srv), VAULT_E_TLS);
        ck_assert_msg(strstr(err.message, "wrong.example"), "%s", err.message);
}
END_TEST

START_TEST(test_tls_client_certificate)
{
        VaultConfig cfg = base_config(&mtls_srv);
        VaultError err;

        admin_on(&mtls_srv, "POST", "/admin/reset", NULL, "{}");
        /* The server requires a client certificate. */
        ck_assert_int_gt(try_read_with(&cfg, &err, &mtls_srv), 0);
        expect_count_on(&mtls_srv, "/v1/auth/kubernetes/login", NULL, 0, __LINE__);
        cfg.client_cert = client_cert_path;
        ck_assert_int_eq(try_read_with(&cfg, &err, &mtls_srv), VAULT_E_CONFIG);
        ck_assert_msg(strstr(err.message, "both client certificate and client key"), "%s",
                      err.message);
        cfg.client_key = client_key_path;
        ck_assert_int_eq(try_read_with(&cfg, &err, &mtls_srv), 0);
        expect_count_on(&mtls_srv, "/v1/auth/kubernetes/login", NULL, 1, __LINE__);
}
END_TEST

START_TEST(test_plain_http)
{
        VaultConfig cfg = base_config(&http_srv);
        VaultError err;

        admin_on(&http_srv, "POST", "/admin/reset", NULL, "{}");
        ck_assert_int_eq(try_read_with(&cfg, &err, &http_srv), VAULT_E_CONFIG);
        ck_assert_msg(strstr(err.message, "plain http"), "%s", err.message);
        expect_count_on(&http_srv, "/v1/auth/kubernetes/login", NULL, 0, __LINE__);
        cfg.allow_plain_http = true;
        ck_assert_int_eq(try_read_with(&cfg, &err, &http_srv), 0);
        expect_count_on(&http_srv, "/v1/auth/kubernetes/login", NULL, 1, __LINE__);
}
END_TEST

/* --- connections and threads ---------------------------------------------------------------------
 */

static long connections(void) {
        JsonValue *v = NULL;
        int64_t n = -1;
        admin("GET", "/admin/counters", &v, NULL);
        (void)json_member_int64(v, "connections", &n);
        json_value_unref(v);
        return (long)n;
}

START_TEST(test_connection_reuse)
{
        VaultToken *t = login_k8s(client, NULL);
        VaultConfig cfg = base_config(&main_srv);
        VaultShared *s = NULL;
        VaultClient *c = NULL;
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "secret/data/myapp/config" };
        VaultError err = { 0 };

        /* One client: login and ten reads over one kept-alive connection. */
        for (int i = 0; i < 10; i++) {
                VaultResponse *r = NULL;
                ck_assert_int_eq(vault_client_read(client, t, &rq, &r, &err), 0);
                vault_response_free(r);
        }
        ck_assert_int_eq(connections(), 1);
        expect_count("/v1/secret/data/myapp/config", 10);

        /* The benchmark's "fresh" policy: one connection per request. */
        admin("POST", "/admin/counters/reset", NULL, "{}");
        cfg.connection_policy = HTTP_CONNECTION_FRESH;
        ck_assert_int_eq(vault_shared_new(&s, &cfg, &err), 0);
        ck_assert_int_eq(vault_client_new(&c, s), 0);
        for (int i = 0; i < 4; i++) {
                VaultResponse *r = NULL;
                ck_assert_int_eq(vault_client_read(c, t, &rq, &r, &err), 0);
                vault_response_free(r);
        }
        ck_assert_int_eq(connections(), 4);
        vault_client_free(c);
        vault_shared_free(s);
        vault_token_free(t);
}
END_TEST

typedef struct Worker {
        pthread_t tid;
        int failures;
        char *jwt;
} Worker;

static void *worker_main(void *arg) {
        Worker *w = arg;
        VaultClient *c = NULL;
        VaultToken *t = NULL;
        VaultError err = { 0 };
        VaultLoginParams lp = { .method = VAULT_AUTH_KUBERNETES,
                                .role = "demo",
                                .jwt = (const uint8_t *)w->jwt,
                                .jwt_len = strlen(w->jwt) };
        VaultRequest rq = { .method = VAULT_METHOD_GET, .path = "database/creds/readonly" };

        if (vault_client_new(&c, shared) < 0 || vault_client_login(c, &lp, &t, &err) != 0) {
                w->failures++;
                vault_client_free(c);
                return NULL;
        }
        for (int i = 0; i < 5; i++) {
                VaultResponse *r = NULL;
                if (vault_client_read(c, t, &rq, &r, &err) != 0)
                        w->failures++;
                vault_response_free(r);
        }
        if (vault_client_token_revoke_self(c, t, &err) != 0)
                w->failures++;
        vault_token_free(t);
        vault_client_free(c);
        return NULL;
}

START_TEST(test_threads)
{
        Worker w[4] = { 0 };

        /* Four threads, one client each, one shared (TLS sessions, DNS). */
        for (int i = 0; i < 4; i++) {
                w[i].jwt = make_jwt("team-a", "app", "vault", 600);
                ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(w[i].tid, NULL);
                ck_assert_int_eq(w[i].failures, 0);
                free(w[i].jwt);
        }
        expect_count("/v1/database/creds/readonly", 20);
        ck_assert_int_eq(connections(), 4);
}
END_TEST

static Suite *integration_suite(void) {
        Suite *s = suite_create("vault-integration");
        TCase *tc;

        tc = tcase_create("auth");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_login_kubernetes);
        tcase_add_test(tc, test_login_custom_mount);
        tcase_add_test(tc, test_login_jwt);
        tcase_add_test(tc, test_login_rejected);
        tcase_add_test(tc, test_token_lifecycle);
        suite_add_tcase(s, tc);

        tc = tcase_create("reads");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_kv_v2);
        tcase_add_test(tc, test_kv_v1_and_denied);
        tcase_add_test(tc, test_dynamic_credentials_and_leases);
        tcase_add_test(tc, test_pki_and_request_cache);
        tcase_add_test(tc, test_namespace_and_headers);
        suite_add_tcase(s, tc);

        tc = tcase_create("faults");
        tcase_set_timeout(tc, 180);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_retry_transient_statuses);
        tcase_add_test(tc, test_retries_exhausted);
        tcase_add_test(tc, test_retry_after);
        tcase_add_test(tc, test_timeouts);
        tcase_add_test(tc, test_standby_redirect);
        tcase_add_test(tc, test_sealed_everywhere);
        tcase_add_test(tc, test_response_cap);
        suite_add_tcase(s, tc);

        tc = tcase_create("tls");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_tls_trust);
        tcase_add_test(tc, test_tls_server_name);
        tcase_add_test(tc, test_tls_client_certificate);
        tcase_add_test(tc, test_plain_http);
        suite_add_tcase(s, tc);

        tc = tcase_create("connections");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_connection_reuse);
        tcase_add_test(tc, test_threads);
        suite_add_tcase(s, tc);
        return s;
}

/* The servers' own logs must not hold a token or JWT either. */
static int check_server_logs(void) {
        const DevServer *all[] = { &main_srv, &http_srv, &mtls_srv };
        int bad = 0;

        for (size_t i = 0; i < 3; i++) {
                char *text = vd_read_text(all[i]->log_path);
                if (text && (strstr(text, "hvs.") || strstr(text, "eyJ"))) {
                        fprintf(stderr, "token-shaped text in %s\n", all[i]->log_path);
                        bad++;
                }
                free(text);
        }
        return bad;
}

static int rm_tree(const char *dir) {
        pid_t p = fork();
        if (p == 0) {
                execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
                _exit(127);
        }
        return p > 0 ? waitpid(p, NULL, 0) : -1;
}

int main(void) {
        SRunner *sr;
        int failed;
        char cmd_ca[300];

        snprintf(workdir, sizeof(workdir), "/tmp/vm-vault-it-XXXXXX");
        if (!mkdtemp(workdir))
                die("mkdtemp: %m");
        if (http_global_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                die("curl init failed");
        make_keys();

        {
                const char *main_args[] = {
                        "--jwt-pubkey", jwt_pub_path, "--standby-port", "0", "--san",
                        "vault.test",   NULL
                };
                const char *http_args[] = { "--jwt-pubkey", jwt_pub_path, "--http", NULL };
                const char *mtls_args[] = { "--jwt-pubkey",
                                            jwt_pub_path,
                                            "--client-ca-file",
                                            client_ca_path,
                                            "--require-client-cert",
                                            "--ca-file",
                                            cmd_ca,
                                            NULL };
                snprintf(cmd_ca, sizeof(cmd_ca), "%s/mtls-ca.pem", workdir);
                char err[512];
                if (devserver_start(&main_srv, workdir, "main", main_args, err, sizeof(err)) < 0 ||
                    devserver_start(&http_srv, workdir, "http", http_args, err, sizeof(err)) < 0 ||
                    devserver_start(&mtls_srv, workdir, "mtls", mtls_args, err, sizeof(err)) < 0)
                        die("%s", err);
        }

        sr = srunner_create(integration_suite());
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);

        devserver_stop(&main_srv);
        devserver_stop(&http_srv);
        devserver_stop(&mtls_srv);
        failed += check_server_logs();
        EVP_PKEY_free(jwt_key);
        curl_global_cleanup();
        if (failed == 0)
                rm_tree(workdir);
        else
                fprintf(stderr, "kept %s for inspection\n", workdir);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
