/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devserver.h - start and drive test/vaultdev from C (header only; used by
 * the Vault integration test and the Vault benchmark).
 *
 * devserver_start() fork/execs `$VAULTMOUNT_PYTHON <srcroot>/test/vaultdev/
 * vaultdev.py --ready-file ...` with stdout on a pipe and waits, with a
 * bounded poll() (no sleeps), for its single "vaultdev ready <addr>" line,
 * then reads the ready file. vd_admin() speaks to the plain-http admin
 * channel with libcurl directly, independent of the code under test.
 * vd_make_jwt() signs Kubernetes-style service-account JWTs (RS256).
 */
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

typedef struct DevServer {
        pid_t pid;
        char addr[128];
        char admin[128];
        char standby[128];
        char ca_file[512];
        char log_path[512];
} DevServer;

static inline char *vd_read_text(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
                buf[0] = 0;
        fclose(f);
        return buf;
}

static inline void vd_copy_member(const JsonValue *o, const char *key, char *dst, size_t len) {
        const char *s;
        size_t n;

        dst[0] = 0;
        if (json_member_string(o, key, &s, &n) == 0)
                snprintf(dst, len, "%.*s", (int)n, s);
}

/* Returns 0, or -1 with a reason in err. extra: NULL-terminated flags. */
static inline int devserver_start(DevServer *d, const char *workdir, const char *name,
                                  const char *const *extra, char *err, size_t errlen) {
        const char *src = getenv("VAULTMOUNT_SOURCE_ROOT");
        const char *py = getenv("VAULTMOUNT_PYTHON");
        char script[512], ready[512], line[512];
        const char *argv[40];
        size_t n = 0, len = 0;
        int pfd[2];
        JsonValue *v = NULL;
        JsonError je;
        char *text;

        memset(d, 0, sizeof(*d));
        line[0] = 0;
        if (!src) {
                snprintf(err, errlen, "VAULTMOUNT_SOURCE_ROOT is not set: run through meson");
                return -1;
        }
        if (!py)
                py = "/usr/bin/python3";
        snprintf(script, sizeof(script), "%s/test/vaultdev/vaultdev.py", src);
        snprintf(ready, sizeof(ready), "%s/%s-ready.json", workdir, name);
        snprintf(d->log_path, sizeof(d->log_path), "%s/%s.log", workdir, name);
        argv[n++] = py;
        argv[n++] = script;
        argv[n++] = "--ready-file";
        argv[n++] = ready;
        for (size_t i = 0; extra && extra[i] && n < 38; i++)
                argv[n++] = extra[i];
        argv[n] = NULL;

        if (pipe2(pfd, O_CLOEXEC) < 0) {
                snprintf(err, errlen, "pipe: %m");
                return -1;
        }
        d->pid = fork();
        if (d->pid < 0) {
                snprintf(err, errlen, "fork: %m");
                return -1;
        }
        if (d->pid == 0) {
                int logfd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                signal(SIGTERM, SIG_DFL);
                dup2(pfd[1], STDOUT_FILENO);
                if (logfd >= 0)
                        dup2(logfd, STDERR_FILENO);
                execv(py, (char *const *)argv);
                _exit(127);
        }
        close(pfd[1]);
        /* "vaultdev ready <addr>\n" within 60 s, else give up. */
        while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
                struct pollfd p = { .fd = pfd[0], .events = POLLIN };
                ssize_t k;
                if (poll(&p, 1, 60000) <= 0) {
                        snprintf(err, errlen, "%s: not ready within 60 s (see %.200s)", name,
                                 d->log_path);
                        close(pfd[0]);
                        return -1;
                }
                k = read(pfd[0], line + len, sizeof(line) - 1 - len);
                if (k <= 0) {
                        snprintf(err, errlen, "%s: exited before ready (see %.200s)", name,
                                 d->log_path);
                        close(pfd[0]);
                        return -1;
                }
                len += (size_t)k;
                line[len] = 0;
        }
        close(pfd[0]);
        if (strncmp(line, "vaultdev ready ", 15) != 0) {
                snprintf(err, errlen, "%s: unexpected ready line", name);
                return -1;
        }
        text = vd_read_text(ready);
        if (!text || json_parse_object(text, strlen(text), 0, 0, &v, &je) != 0) {
                free(text);
                snprintf(err, errlen, "%s: cannot read ready file %.200s", name, ready);
                return -1;
        }
        vd_copy_member(v, "addr", d->addr, sizeof(d->addr));
        vd_copy_member(v, "admin_addr", d->admin, sizeof(d->admin));
        vd_copy_member(v, "ca_file", d->ca_file, sizeof(d->ca_file));
        vd_copy_member(v, "standby_addr", d->standby, sizeof(d->standby));
        json_value_unref(v);
        free(text);
        return 0;
}

static inline void devserver_stop(DevServer *d) {
        if (d->pid > 0) {
                kill(d->pid, SIGTERM);
                (void)waitpid(d->pid, NULL, 0);
                d->pid = 0;
        }
}

typedef struct VdBuf {
        char *p;
        size_t n;
} VdBuf;

static inline size_t vd_buf_write(char *ptr, size_t size, size_t nmemb, void *ud) {
        VdBuf *b = ud;
        size_t k = size * nmemb;
        char *q = realloc(b->p, b->n + k + 1);

        if (!q)
                return 0;
        memcpy(q + b->n, ptr, k);
        b->p = q;
        b->n += k;
        b->p[b->n] = 0;
        return k;
}

/* One admin call. Returns the HTTP status (-1 on transport failure); *ret
 * gets the parsed JSON answer (or NULL) when ret is not NULL. */
static inline long vd_admin(const DevServer *d, const char *method, const char *path,
                            const char *body, JsonValue **ret) {
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        char url[512];
        VdBuf b = { 0 };
        long status = -1;

        if (ret)
                *ret = NULL;
        snprintf(url, sizeof(url), "%s%s", d->admin, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vd_buf_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        if (curl_easy_perform(c) == CURLE_OK) {
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                if (ret && b.p) {
                        JsonError je;
                        if (json_parse(b.p, b.n, 0, 0, ret, &je) != 0)
                                *ret = NULL;
                }
        }
        free(b.p);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return status;
}

static inline char *vd_b64url(const unsigned char *p, size_t n) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char *o = malloc(n * 4 / 3 + 4), *q = o;
        size_t i;

        if (!o)
                return NULL;
        for (i = 0; i + 2 < n; i += 3) {
                *q++ = t[p[i] >> 2];
                *q++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
                *q++ = t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
                *q++ = t[p[i + 2] & 63];
        }
        if (n - i == 1) {
                *q++ = t[p[i] >> 2];
                *q++ = t[(p[i] & 3) << 4];
        } else if (n - i == 2) {
                *q++ = t[p[i] >> 2];
                *q++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
                *q++ = t[(p[i + 1] & 15) << 2];
        }
        *q = 0;
        return o;
}

/* A projected service-account token for <ns>/<sa> with audience aud,
 * expiring exp_in seconds from now (negative: already expired), RS256. */
static inline char *vd_make_jwt(EVP_PKEY *key, const char *ns, const char *sa, const char *aud,
                                long exp_in) {
        const char *header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
        char claims[1024], *h, *c, *sig64, *input = NULL, *jwt = NULL;
        long now = (long)time(NULL);
        unsigned char sig[1024];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *md = EVP_MD_CTX_new();

        snprintf(claims, sizeof(claims),
                 "{\"aud\":[\"%s\"],\"exp\":%ld,\"iat\":%ld,\"nbf\":%ld,"
                 "\"iss\":\"https://kubernetes.default.svc.cluster.local\","
                 "\"kubernetes.io\":{\"namespace\":\"%s\",\"pod\":{\"name\":\"app-0\","
                 "\"uid\":\"5a1d7c2e-0000-4000-8000-000000000001\"},\"serviceaccount\":{"
                 "\"name\":\"%s\",\"uid\":\"5a1d7c2e-0000-4000-8000-000000000002\"}},"
                 "\"sub\":\"system:serviceaccount:%s:%s\"}",
                 aud, now + exp_in, now - 5, now - 5, ns, sa, ns, sa);
        h = vd_b64url((const unsigned char *)header, strlen(header));
        c = vd_b64url((const unsigned char *)claims, strlen(claims));
        if (h && c && asprintf(&input, "%s.%s", h, c) >= 0 && md &&
            EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1) {
                sig64 = vd_b64url(sig, siglen);
                if (!sig64 || asprintf(&jwt, "%s.%s", input, sig64) < 0)
                        jwt = NULL;
                free(sig64);
        }
        EVP_MD_CTX_free(md);
        free(h);
        free(c);
        free(input);
        return jwt;
}

/* Writes a PEM public key for --jwt-pubkey. */
static inline int vd_write_pubkey(const char *path, EVP_PKEY *key) {
        FILE *f = fopen(path, "we");
        int ok;

        if (!f)
                return -1;
        ok = PEM_write_PUBKEY(f, key);
        fclose(f);
        return ok == 1 ? 0 : -1;
}
