/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - libcurl easy handles per thread, one locked share handle for TLS
 * sessions and DNS, and the TLS trust set we load ourselves.
 *
 * Trust: a configured CA file or directory *replaces* the system roots (as
 * the Go client's go-rootcerts does; a CA file wins over a directory). We
 * read and check every PEM ourselves at start-up, then hand curl one
 * concatenated bundle through CURLOPT_CAINFO_BLOB with CAINFO/CAPATH
 * cleared, so Debian's compiled-in /etc/ssl/certs is not consulted and no
 * c_rehash links are needed. CA files are read once: rotating them needs a
 * restart.
 *
 * TLS server name override: the URL host is replaced by the server name and
 * CURLOPT_CONNECT_TO sends the connection to the real host and port, so SNI,
 * certificate verification (and the Host header) use the override. It
 * applies to every host this client talks to, redirect targets included,
 * like the Go client's tls.Config.ServerName.
 *
 * Never logs above debug. See http.h for thread-safety.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#include "clock.h"
#include "config-defaults.h"
#include "http.h"
#include "log.h"
#include "x509.h"
#include "parse.h"
#include "macro.h"

#define CA_FILE_MAX      ((size_t)1024 * 1024)
#define CA_DIR_FILES_MAX 1000
#define CA_DIR_DEPTH_MAX 8

struct HttpShared {
        char *address; /* normalised */
        bool https;
        bool allow_plain_http;
        bool insecure;
        char *server_name;
        char *client_cert;
        char *client_key;
        struct curl_blob ca_blob; /* .data NULL → system roots */
        uint64_t connect_timeout_ms;
        size_t max_response_size;
        HttpConnectionPolicy policy;

        CURLSH *share;
        pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
        bool locks_initialized;
};

struct HttpClient {
        HttpShared *shared;
        CURL *easy;
        char errbuf[CURL_ERROR_SIZE];
        /* per perform */
        Secret *body;
        bool body_too_large;
};

static void error_set(HttpError *e, int code, bool retryable, const char *fmt, ...) _printf_(4, 5);
static void error_set(HttpError *e, int code, bool retryable, const char *fmt, ...) {
        va_list ap;

        if (!e)
                return;
        e->code = code;
        e->retryable = retryable;
        va_start(ap, fmt);
        (void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
}

int http_global_init(void) {
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void http_global_cleanup(void) {
        curl_global_cleanup();
}

const char *http_method_to_string(HttpMethod m) {
        static const char *const names[_HTTP_METHOD_MAX] = {
                [HTTP_METHOD_GET] = "GET",
                [HTTP_METHOD_POST] = "POST",
                [HTTP_METHOD_PUT] = "PUT",
                [HTTP_METHOD_DELETE] = "DELETE",
        };
        return (unsigned)m < _HTTP_METHOD_MAX ? names[m] : "?";
}

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        r->body = secret_free(r->body);
        free(r->location);
        *r = (HttpResponse)HTTP_RESPONSE_INIT;
}

/**
 * http_parse_retry_after() - a Retry-After value in seconds from now.
 * @value: delay-seconds or an HTTP-date (curl_getdate()).
 * @now: the current time, for dates.
 * Return: seconds (0 for a date in the past), or -1 when absent or bad.
 */
int64_t http_parse_retry_after(const char *value, time_t now) {
        uint64_t secs;
        time_t t;

        if (isempty(value))
                return -1;
        /* RFC 9110 10.2.3: delay-seconds / HTTP-date. */
        if (parse_uint64(value, 0, INT64_MAX, &secs) == 0)
                return (int64_t)secs;
        t = curl_getdate(value, NULL);
        if (t < 0)
                return -1;
        return t > now ? (int64_t)(t - now) : 0;
}

/* --- trust material ------------------------------------------------------ */

static int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if ((uint64_t)st.st_size > max)
                return -E2BIG;
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Appends every certificate of the PEM file at path to out (re-encoded). */
static int load_pem_certs(const char *path, X509PemBuf *out, HttpError *err) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        unsigned count = 0;
        int r;

        r = read_file_bounded(path, CA_FILE_MAX, &data, &len);
        if (r < 0) {
                error_set(err, HTTP_E_CONFIG, false, "cannot read CA certificate '%s': %s", path,
                          strerror(-r));
                return HTTP_E_CONFIG;
        }
        r = x509_pem_certs_append(data, len, out, &count);
        if (r == -EBADMSG) {
                error_set(err, HTTP_E_CONFIG, false,
                          count == 0 ? "'%s' holds no PEM certificate"
                                     : "'%s' holds a malformed PEM certificate",
                          path);
                return HTTP_E_CONFIG;
        }
        return r;
}

/* Hidden entries are skipped: "." and "..", and Kubernetes' ConfigMap and
 * Secret volume internals ("..data", "..2024_..."). */
static int not_hidden(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* Byte order, whatever the locale (alphasort() uses strcoll()). */
static int dirent_name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_pem_dir(const char *dir, unsigned depth, unsigned *n_files, X509PemBuf *out,
                        HttpError *err);

/* One entry of a CA directory: a file of certificates, or a directory to
 * descend into (up to CA_DIR_DEPTH_MAX; CA_DIR_FILES_MAX files in all). */
static int load_pem_entry(const char *dir, const char *name, unsigned depth, unsigned *n_files,
                          X509PemBuf *out, HttpError *err) {
        char path[PATH_MAX];
        struct stat st;
        int k = snprintf(path, sizeof(path), "%s/%s", dir, name);

        if (k < 0 || (size_t)k >= sizeof(path)) {
                error_set(err, HTTP_E_CONFIG, false, "CA path too long in '%s'", dir);
                return HTTP_E_CONFIG;
        }
        if (stat(path, &st) < 0) {
                error_set(err, HTTP_E_CONFIG, false, "cannot stat CA file '%s': %s", path,
                          strerror(errno));
                return HTTP_E_CONFIG;
        }
        if (S_ISDIR(st.st_mode))
                return load_pem_dir(path, depth + 1, n_files, out, err);
        if (!S_ISREG(st.st_mode))
                return 0;
        if (++*n_files > CA_DIR_FILES_MAX) {
                error_set(err, HTTP_E_CONFIG, false, "CA directory '%s' holds too many files", dir);
                return HTTP_E_CONFIG;
        }
        return load_pem_certs(path, out, err);
}

/* Every non-hidden entry of `dir`, in byte order of their names. */
static int load_pem_dir(const char *dir, unsigned depth, unsigned *n_files, X509PemBuf *out,
                        HttpError *err) {
        struct dirent **names = NULL;
        int n, r = 0;

        if (depth > CA_DIR_DEPTH_MAX) {
                error_set(err, HTTP_E_CONFIG, false, "CA directory '%s' nests too deeply", dir);
                return HTTP_E_CONFIG;
        }
        n = scandir(dir, &names, not_hidden, dirent_name_cmp);
        if (n < 0) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                error_set(err, HTTP_E_CONFIG, false, "cannot open CA directory '%s': %s", dir,
                          strerror(errno));
                return HTTP_E_CONFIG;
        }
        for (int i = 0; r == 0 && i < n; i++)
                r = load_pem_entry(dir, names[i]->d_name, depth, n_files, out, err);
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static int build_ca_blob(HttpShared *s, const HttpTlsConfig *tls, HttpError *err) {
        X509PemBuf out = { 0 };
        unsigned n_files = 0;
        int r;

        if (isempty(tls->ca_file) && isempty(tls->ca_dir))
                return 0;
        if (!isempty(tls->ca_file))
                r = load_pem_certs(tls->ca_file, &out, err);
        else {
                r = load_pem_dir(tls->ca_dir, 0, &n_files, &out, err);
                if (r == 0 && n_files == 0) {
                        error_set(err, HTTP_E_CONFIG, false,
                                  "CA directory '%s' holds no certificate file", tls->ca_dir);
                        r = HTTP_E_CONFIG;
                }
        }
        if (r != 0) {
                free(out.data);
                return r;
        }
        s->ca_blob.data = out.data;
        s->ca_blob.len = out.len;
        s->ca_blob.flags = CURL_BLOB_NOCOPY;
        return 0;
}

static int check_client_cert(const HttpTlsConfig *tls, HttpError *err) {
        const char *problem;

        if (isempty(tls->client_cert) != isempty(tls->client_key)) {
                error_set(err, HTTP_E_CONFIG, false,
                          "both client certificate and client key must be provided");
                return HTTP_E_CONFIG;
        }
        if (isempty(tls->client_cert))
                return 0;
        problem = x509_key_pair_problem(tls->client_cert, tls->client_key);
        if (!problem)
                return 0;
        if (streq(problem, "certificate"))
                error_set(err, HTTP_E_CONFIG, false, "cannot read client certificate '%s'",
                          tls->client_cert);
        else if (streq(problem, "key"))
                error_set(err, HTTP_E_CONFIG, false,
                          "cannot read client key '%s' (PEM, unencrypted)", tls->client_key);
        else
                error_set(err, HTTP_E_CONFIG, false,
                          "client key '%s' does not match certificate '%s'", tls->client_key,
                          tls->client_cert);
        return HTTP_E_CONFIG;
}

static bool server_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 253)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
                        return false;
        return true;
}

/* Checks and normalises the address: scheme, host, optional port and path
 * prefix; no credentials, query or fragment. */
static int parse_address(HttpShared *s, const char *address, HttpError *err) {
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *query = NULL,
             *frag = NULL;
        int r = HTTP_E_CONFIG;

        if (!u)
                return -ENOMEM;
        if (isempty(address)) {
                error_set(err, HTTP_E_CONFIG, false, "no Vault address configured");
                goto finish;
        }
        if (curl_url_set(u, CURLUPART_URL, address, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
                error_set(err, HTTP_E_CONFIG, false,
                          "Vault address '%s' is not a URL like https://vault.example:8200",
                          address);
                goto finish;
        }
        (void)curl_url_get(u, CURLUPART_USER, &user, 0);
        (void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
        (void)curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
        if (user || query || frag) {
                error_set(err, HTTP_E_CONFIG, false,
                          "Vault address '%s' must not contain credentials, a query or a fragment",
                          address);
                goto finish;
        }
        if (streq(scheme, "https"))
                s->https = true;
        else if (streq(scheme, "http")) {
                if (!s->allow_plain_http) {
                        error_set(err, HTTP_E_CONFIG, false,
                                  "Vault address '%s' uses plain http: tokens and secrets would "
                                  "travel unencrypted; use https, or allow plain http explicitly",
                                  address);
                        goto finish;
                }
        } else {
                error_set(err, HTTP_E_CONFIG, false, "Vault address '%s': scheme must be https",
                          address);
                goto finish;
        }
        {
                size_t plen = strlen(path);
                while (plen > 0 && path[plen - 1] == '/')
                        path[--plen] = 0;
                if (asprintf(&s->address, "%s://%s:%s%s", scheme, host, port, path) < 0) {
                        s->address = NULL;
                        r = -ENOMEM;
                        goto finish;
                }
        }
        r = 0;
finish:
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(path);
        curl_free(user);
        curl_free(query);
        curl_free(frag);
        curl_url_cleanup(u);
        return r;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp) {
        HttpShared *s = userp;
        (void)h;
        (void)access;
        if ((unsigned)data < CURL_LOCK_DATA_LAST)
                (void)pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp) {
        HttpShared *s = userp;
        (void)h;
        if ((unsigned)data < CURL_LOCK_DATA_LAST)
                (void)pthread_mutex_unlock(&s->locks[data]);
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *d;

        if (isempty(s))
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

/**
 * http_shared_new() - checks an HttpConfig and builds the shared state.
 * @ret: the new object.
 * @cfg: configuration; strings are copied.
 * @err: filled on failure.
 *
 * Return: 0; HTTP_E_CONFIG (message in err: plain http refused, bad address,
 * unreadable or non-PEM CA/client files, cert/key mismatch); -ENOMEM.
 * Locking: none; call at start-up.
 */
int http_shared_new(HttpShared **ret, const HttpConfig *cfg, HttpError *err) {
        _cleanup_(http_shared_freep) HttpShared *s = NULL;
        bool oom = false;
        int r;

        if (!ret || !cfg)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->allow_plain_http = cfg->allow_plain_http;
        s->insecure = cfg->tls.insecure_skip_verify;
        s->connect_timeout_ms =
                cfg->connect_timeout_ms ? cfg->connect_timeout_ms : HTTP_CONNECT_TIMEOUT_DEFAULT_MS;
        s->max_response_size =
                cfg->max_response_size ? cfg->max_response_size : HTTP_RESPONSE_MAX_DEFAULT;
        if (s->max_response_size > SECRET_SIZE_MAX)
                s->max_response_size = SECRET_SIZE_MAX;
        s->policy = cfg->connection_policy;

        r = parse_address(s, cfg->address, err);
        if (r != 0)
                return r;
        if (!isempty(cfg->tls.server_name) && !server_name_valid(cfg->tls.server_name)) {
                error_set(err, HTTP_E_CONFIG, false, "TLS server name '%s' is not a host name",
                          cfg->tls.server_name);
                return HTTP_E_CONFIG;
        }
        r = check_client_cert(&cfg->tls, err);
        if (r != 0)
                return r;
        r = build_ca_blob(s, &cfg->tls, err);
        if (r != 0)
                return r;
        s->server_name = strdup_or_null(cfg->tls.server_name, &oom);
        s->client_cert = strdup_or_null(cfg->tls.client_cert, &oom);
        s->client_key = strdup_or_null(cfg->tls.client_key, &oom);
        if (oom)
                return -ENOMEM;

        for (unsigned i = 0; i < CURL_LOCK_DATA_LAST; i++)
                (void)pthread_mutex_init(&s->locks[i], NULL);
        s->locks_initialized = true;
        s->share = curl_share_init();
        if (!s->share)
                return -ENOMEM;
        if (curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
                return -ENOMEM;

        *ret = TAKE_PTR(s);
        return 0;
}

HttpShared *http_shared_free(HttpShared *s) {
        if (!s)
                return NULL;
        if (s->share)
                (void)curl_share_cleanup(s->share);
        if (s->locks_initialized)
                for (unsigned i = 0; i < CURL_LOCK_DATA_LAST; i++)
                        (void)pthread_mutex_destroy(&s->locks[i]);
        free(s->ca_blob.data);
        free(s->client_key);
        free(s->client_cert);
        free(s->server_name);
        free(s->address);
        free(s);
        return NULL;
}

const char *http_shared_address(const HttpShared *s) {
        return s ? s->address : NULL;
}

bool http_shared_tls_insecure(const HttpShared *s) {
        return s && s->insecure;
}

static bool has_scheme(const char *url, const char *scheme) {
        size_t n = strlen(scheme);
        return strncasecmp(url, scheme, n) == 0 && url[n] == ':';
}

/**
 * http_shared_check_redirect() - may a redirect go from @from to @to?
 *
 * https targets are fine; http only from http and only when plain http was
 * allowed; anything else (https→http, other schemes) is refused.
 * Return: 0, HTTP_E_PROTOCOL (message in err), -EINVAL.
 */
int http_shared_check_redirect(const HttpShared *s, const char *from, const char *to,
                               HttpError *err) {
        if (!s || !from || !to)
                return -EINVAL;
        if (has_scheme(to, "https"))
                return 0;
        if (has_scheme(to, "http")) {
                if (has_scheme(from, "https")) {
                        error_set(err, HTTP_E_PROTOCOL, false,
                                  "refused a redirect from https to plain http");
                        return HTTP_E_PROTOCOL;
                }
                if (s->allow_plain_http)
                        return 0;
        }
        error_set(err, HTTP_E_PROTOCOL, false, "refused a redirect to a non-https URL");
        return HTTP_E_PROTOCOL;
}

/* --- the shutdown abort -------------------------------------------------- */

static atomic_bool abort_all;
static pthread_mutex_t abort_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t abort_cond = PTHREAD_COND_INITIALIZER;

void http_abort_all(void) {
        atomic_store(&abort_all, true);
        pthread_mutex_lock(&abort_lock);
        pthread_cond_broadcast(&abort_cond);
        pthread_mutex_unlock(&abort_lock);
}

bool http_aborting(void) {
        return atomic_load(&abort_all);
}

bool http_sleep_ms(uint64_t ms) {
        struct timespec deadline;
        bool aborted;

        /* the condition variable's clock (PTHREAD_COND_INITIALIZER: realtime) */
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t)(ms / 1000);
        deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&abort_lock);
        while (!atomic_load(&abort_all))
                if (pthread_cond_timedwait(&abort_cond, &abort_lock, &deadline) == ETIMEDOUT)
                        break;
        aborted = atomic_load(&abort_all);
        pthread_mutex_unlock(&abort_lock);
        return !aborted;
}

/* Called by curl about once a second even while nothing moves. */
static int xferinfo_cb(_unused_ void *userdata, _unused_ curl_off_t dltotal,
                       _unused_ curl_off_t dlnow, _unused_ curl_off_t ultotal,
                       _unused_ curl_off_t ulnow) {
        return atomic_load(&abort_all) ? 1 : 0; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

/* --- clients ------------------------------------------------------------- */

/* A fresh body buffer and error state for the next exchange; none at shutdown. */
static int client_reset(HttpClient *c, HttpError *err) {
        c->errbuf[0] = 0;
        c->body_too_large = false;
        c->body = secret_free(c->body);
        if (http_aborting()) {
                error_set(err, HTTP_E_ABORTED, false,
                          "Vault call not made: the daemon is shutting down");
                return HTTP_E_ABORTED;
        }
        return secret_new(&c->body, c->shared->max_response_size);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        HttpClient *c = userdata;
        size_t n = size * nmemb;

        if (secret_append(c->body, ptr, n) < 0) {
                c->body_too_large = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        return n;
}

/**
 * http_client_new() - one thread's curl handle with the invariant options
 * (share handle, TLS trust and client certificate, protocols, timeouts,
 * body cap, no automatic redirects).
 * Return: 0, -ENOMEM, -EINVAL.
 * Locking: the client is then used by one thread at a time.
 */
int http_client_new(HttpClient **ret, HttpShared *s) {
        _cleanup_(http_client_freep) HttpClient *c = NULL;
        const HttpShared *cs = s;
        CURLcode cc = CURLE_OK;

        if (!ret || !s)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->shared = s;
        c->easy = curl_easy_init();
        if (!c->easy)
                return -ENOMEM;

#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (cc == CURLE_OK)                                                                \
                        cc = curl_easy_setopt(c->easy, opt, val);                                  \
        } while (0)
        /* Options that never change for this handle. */
        SET(CURLOPT_SHARE, s->share);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_ERRORBUFFER, c->errbuf);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_WRITEDATA, c);
        SET(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_FOLLOWLOCATION, 0L); /* the vault module follows one redirect itself */
        SET(CURLOPT_PROTOCOLS_STR, cs->allow_plain_http ? "http,https" : "https");
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long)MIN(cs->connect_timeout_ms, (uint64_t)LONG_MAX));
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cs->max_response_size);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_USERAGENT, "vaultmount/" VAULTMOUNT_VERSION);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        SET(CURLOPT_SSL_VERIFYPEER, cs->insecure ? 0L : 1L);
        SET(CURLOPT_SSL_VERIFYHOST, cs->insecure ? 0L : 2L);
        if (cs->ca_blob.data) {
                /* Our bundle replaces every compiled-in default. */
                SET(CURLOPT_CAINFO, NULL);
                SET(CURLOPT_CAPATH, NULL);
                SET(CURLOPT_CAINFO_BLOB, &s->ca_blob);
        }
        if (cs->client_cert) {
                SET(CURLOPT_SSLCERT, cs->client_cert);
                SET(CURLOPT_SSLCERTTYPE, "PEM");
                SET(CURLOPT_SSLKEY, cs->client_key);
                SET(CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (cs->policy != HTTP_CONNECTION_REUSE) {
                SET(CURLOPT_FRESH_CONNECT, 1L);
                SET(CURLOPT_FORBID_REUSE, 1L);
        }
        if (cs->policy == HTTP_CONNECTION_FRESH_NO_SESSION)
                SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
#undef SET
        if (cc != CURLE_OK)
                return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;

        *ret = TAKE_PTR(c);
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;
        if (c->easy)
                curl_easy_cleanup(c->easy);
        secret_free(c->body);
        free(c);
        return NULL;
}

/* Wipes every string of a header list (the token line is one of them), then
 * frees it. */
static void slist_wipe_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                if (i->data)
                        secret_wipe(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

static void slist_wipe_freep(struct curl_slist **l) {
        if (*l) {
                slist_wipe_free(*l);
                *l = NULL;
        }
}

static int slist_add(struct curl_slist **l, const char *s) {
        struct curl_slist *n = curl_slist_append(*l, s);
        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

/* Applies the server-name override: rewrites the URL host and returns the
 * CONNECT_TO entry that maps it back to the real host and port. */
static int server_name_rewrite(const HttpShared *s, const char *url, char **ret_url,
                               char **ret_connect_to) {
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL, *nurl = NULL;
        int r = -EINVAL;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_HOST, s->server_name, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_URL, &nurl, 0) != CURLUE_OK)
                goto finish;
        /* host comes back bracketed when it is an IPv6 literal. */
        if (asprintf(ret_connect_to, "%s:%s:%s:%s", s->server_name, port, host, port) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        *ret_url = strdup(nurl);
        if (!*ret_url) {
                free(*ret_connect_to);
                r = -ENOMEM;
                goto finish;
        }
        r = 0;
finish:
        curl_free(host);
        curl_free(port);
        curl_free(nurl);
        curl_url_cleanup(u);
        return r;
}

static int map_curl_error(HttpClient *c, CURLcode cc, HttpError *err) {
        const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
        long verify = 0;

        switch (cc) {
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_ABORTED_BY_CALLBACK:
                error_set(err, HTTP_E_ABORTED, false,
                          "Vault call aborted: the daemon is shutting down");
                return HTTP_E_ABORTED;
        case CURLE_URL_MALFORMAT:
                error_set(err, -EINVAL, false, "malformed URL");
                return -EINVAL;
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
                if (cc == CURLE_FILESIZE_EXCEEDED || c->body_too_large) {
                        error_set(err, HTTP_E_TOO_LARGE, false,
                                  "response body exceeds the limit of %zu bytes",
                                  c->shared->max_response_size);
                        return HTTP_E_TOO_LARGE;
                }
                break;
        case CURLE_OPERATION_TIMEDOUT:
                error_set(err, HTTP_E_TIMEOUT, true, "timed out: %s", detail);
                return HTTP_E_TIMEOUT;
        case CURLE_PEER_FAILED_VERIFICATION: /* = CURLE_SSL_CACERT */
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_USE_SSL_FAILED:
                (void)curl_easy_getinfo(c->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
                if (verify != 0)
                        error_set(err, HTTP_E_TLS, false, "TLS verification failed: %s (%s)",
                                  detail, x509_verify_error_string(verify));
                else
                        error_set(err, HTTP_E_TLS, false, "TLS failure: %s", detail);
                return HTTP_E_TLS;
        case CURLE_SSL_CONNECT_ERROR:
                /* Also what a connection dropped mid-handshake looks like. */
                error_set(err, HTTP_E_TLS, true, "TLS handshake failed: %s", detail);
                return HTTP_E_TLS;
        case CURLE_PARTIAL_FILE:
                error_set(err, HTTP_E_TRUNCATED, true, "response body truncated: %s", detail);
                return HTTP_E_TRUNCATED;
        case CURLE_UNSUPPORTED_PROTOCOL: /* also "HTTP/0.9 not allowed": garbage */
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_BAD_CONTENT_ENCODING:
                error_set(err, HTTP_E_PROTOCOL, true, "bad HTTP response: %s", detail);
                return HTTP_E_PROTOCOL;
        default:
                break;
        }
        error_set(err, HTTP_E_NETWORK, true, "%s", detail);
        return HTTP_E_NETWORK;
}

/* The request's header lines, then "Expect:" and, with a body, its Content-Type; the
 * secret header last. */
static int build_headers(const HttpRequest *req, bool send_body, struct curl_slist **headers) {
        int r;

        for (size_t i = 0; i < req->n_headers; i++) {
                r = slist_add(headers, req->headers[i]);
                if (r < 0)
                        return r;
        }
        /* No "Expect: 100-continue" round trip for larger bodies. */
        r = slist_add(headers, "Expect:");
        if (r < 0)
                return r;
        if (send_body) {
                if (req->content_type) {
                        _cleanup_free_ char *ct = NULL;
                        if (asprintf(&ct, "Content-Type: %s", req->content_type) < 0)
                                ct = NULL;
                        r = ct ? slist_add(headers, ct) : -ENOMEM;
                } else
                        r = slist_add(headers, "Content-Type: application/json");
                if (r < 0)
                        return r;
        }
        if (req->secret_header) {
                /* secret_get() guarantees a NUL after the bytes. curl copies the
                 * string; slist_wipe_free() wipes that copy. */
                r = slist_add(headers, (const char *)secret_get(req->secret_header, NULL));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* This request's options on the handle: URL, headers, timeout, method and body. */
static int set_request_options(HttpClient *c, const HttpRequest *req, const char *url,
                               struct curl_slist *connect_to, struct curl_slist *headers,
                               bool send_body) {
        const uint8_t *body = NULL;
        size_t body_len = 0;
        CURLcode cc = CURLE_OK;

        if (send_body)
                body = secret_get(req->body, &body_len);
#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (cc == CURLE_OK)                                                                \
                        cc = curl_easy_setopt(c->easy, opt, val);                                  \
        } while (0)
        SET(CURLOPT_URL, url);
        SET(CURLOPT_CONNECT_TO, connect_to);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_TIMEOUT_MS, (long)MIN(req->timeout_ms, (uint64_t)LONG_MAX));
        if (send_body || req->method == HTTP_METHOD_POST || req->method == HTTP_METHOD_PUT) {
                /* No copy: curl reads our Secret during the transfer. */
                SET(CURLOPT_POST, 1L);
                SET(CURLOPT_POSTFIELDS, body ? (const char *)body : "");
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
                SET(CURLOPT_CUSTOMREQUEST,
                    req->method == HTTP_METHOD_POST ? NULL : http_method_to_string(req->method));
        } else {
                SET(CURLOPT_HTTPGET, 1L);
                SET(CURLOPT_CUSTOMREQUEST,
                    req->method == HTTP_METHOD_GET ? NULL : http_method_to_string(req->method));
        }
#undef SET
        if (cc != CURLE_OK)
                return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        return 0;
}

/* What a response that arrived says: status, Retry-After, a redirect's Location, body. */
static int read_response(HttpClient *c, HttpResponse *ret) {
        struct curl_header *h = NULL;
        long status = 0;

        (void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        ret->status = status;

        if (curl_easy_header(c->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h)
                ret->retry_after_sec = http_parse_retry_after(h->value, time(NULL));
        if (status >= 300 && status < 400) {
                char *loc = NULL;
                if (curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
                        ret->location = strdup(loc);
                        if (!ret->location)
                                return -ENOMEM;
                }
        }
        ret->body = TAKE_PTR(c->body);
        return 0;
}

/* Runs the transfer, timing it and noting whether it opened a connection. */
static int transfer(HttpClient *c, HttpResponse *ret, HttpError *err) {
        long connects = 0;
        uint64_t t0;
        CURLcode cc;

        t0 = monotonic_usec();
        cc = curl_easy_perform(c->easy);
        ret->duration_usec = monotonic_usec() - t0;
        (void)curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
        ret->new_connection = connects > 0;

        if (cc != CURLE_OK)
                return map_curl_error(c, cc, err);
        return read_response(c, ret);
}

/**
 * http_client_perform() - runs one HTTP exchange on this thread's handle.
 * @c: the calling thread's client.
 * @req: the request; the body and secret header must stay valid meanwhile.
 * @ret: the response (any status); release with http_response_done().
 * @err: filled on failure, with err->retryable for transient failures.
 *
 * Return: 0 when a response arrived; HTTP_E_NETWORK, HTTP_E_TIMEOUT,
 * HTTP_E_TLS, HTTP_E_TOO_LARGE, HTTP_E_TRUNCATED, HTTP_E_PROTOCOL;
 * -ENOMEM; -EINVAL for a bad request.
 * Locking: none (the share handle locks itself).
 */
int http_client_perform(HttpClient *c, const HttpRequest *req, HttpResponse *ret, HttpError *err) {
        _cleanup_(slist_wipe_freep) struct curl_slist *headers = NULL;
        struct curl_slist *connect_to = NULL;
        _cleanup_free_ char *url = NULL, *connect_entry = NULL;
        const HttpShared *s;
        bool send_body;
        int r;

        if (!c || !req || !ret || !req->url || (unsigned)req->method >= _HTTP_METHOD_MAX)
                return -EINVAL;
        s = c->shared;
        *ret = (HttpResponse)HTTP_RESPONSE_INIT;
        r = client_reset(c, err);
        if (r != 0)
                return r;

        if (s->server_name) {
                r = server_name_rewrite(s, req->url, &url, &connect_entry);
                if (r < 0)
                        return r;
                connect_to = curl_slist_append(NULL, connect_entry);
                if (!connect_to)
                        return -ENOMEM;
        }

        send_body = req->body && req->method != HTTP_METHOD_GET;
        r = build_headers(req, send_body, &headers);
        if (r == 0)
                r = set_request_options(c, req, url ? url : req->url, connect_to, headers,
                                        send_body);
        if (r == 0)
                r = transfer(c, ret, err);

        /* Nothing of this request may linger in the handle's options. */
        (void)curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
        (void)curl_easy_setopt(c->easy, CURLOPT_CONNECT_TO, NULL);
        (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
        curl_slist_free_all(connect_to);
        c->body = secret_free(c->body);
        if (r != 0)
                http_response_done(ret);
        return r;
}

const char *http_curl_version(void) {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        return v && v->version ? v->version : "unknown";
}

const char *http_tls_version(void) {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        return v && v->ssl_version ? v->ssl_version : "none";
}
