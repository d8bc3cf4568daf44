/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics-http.c - GET /metrics on libmicrohttpd (see metrics-http.h).
 *
 * We make the listening socket ourselves (so a bad or busy address fails
 * with its errno at start-up, and port 0 can be read back) and hand it to
 * libmicrohttpd, which serves it from one internal thread with a small
 * connection limit and timeout: a scrape is one short request, and a slow
 * or idle client cannot hold more than its connection.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics-http.h"
#include "parse.h"
#include "prom.h"
#include "macro.h"

#define CONNECTION_LIMIT       8
#define CONNECTION_TIMEOUT_SEC 10
#define THREAD_STACK_SIZE      (256 * 1024)

struct MetricsHttp {
        struct MHD_Daemon *daemon;
        ScrapeSources src;
        uint16_t port;
};

static _printf_(3, 4) int set_err(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;
        if (errlen == 0)
                return 0;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text,
                             const char *allow) {
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result r;

        if (!resp)
                return MHD_NO;
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      "text/plain; charset=utf-8");
        if (allow)
                (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
        MetricsHttp *h = cls;
        struct MHD_Response *resp;
        char *text = NULL;
        size_t len = 0;
        enum MHD_Result r;

        if (!streq_ptr(url, "/metrics"))
                return reply(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n",
                             NULL);
        if (!streq_ptr(method, MHD_HTTP_METHOD_GET))
                return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is allowed\n", "GET");
        if (scrape_render(&h->src, &text, &len) < 0)
                return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, PROM_CONTENT_TYPE);
        r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];
        (void)vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("metrics endpoint: %s", buf);
}

/* A listening socket on host:port, of the given family (AF_UNSPEC: any). -errno. */
static int listen_family(const char *host, uint16_t port, int family, int *ret_family, char *err,
                         size_t errlen) {
        struct addrinfo hints = { .ai_family = family,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
        struct addrinfo *res = NULL;
        char service[8];
        int fd = -1, r, saved = 0;

        (void)snprintf(service, sizeof(service), "%u", (unsigned)port);
        r = getaddrinfo(isempty(host) ? NULL : host, service, &hints, &res);
        if (r != 0) {
                set_err(err, errlen, "'%s': %s", host, gai_strerror(r));
                return -EADDRNOTAVAIL;
        }
        for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
                int one = 1, zero = 0;
                fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            a->ai_protocol);
                if (fd < 0) {
                        saved = errno;
                        continue;
                }
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                /* "::" (an empty host) takes IPv4 connections too */
                if (a->ai_family == AF_INET6 && isempty(host))
                        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
                if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 16) < 0) {
                        saved = errno;
                        close(fd);
                        fd = -1;
                        continue;
                }
                *ret_family = a->ai_family;
        }
        freeaddrinfo(res);
        if (fd < 0) {
                set_err(err, errlen, "listening on port %u failed: %s", (unsigned)port,
                        strerror(saved ? saved : EADDRNOTAVAIL));
                return -(saved ? saved : EADDRNOTAVAIL);
        }
        return fd;
}

/* An empty host means every address: IPv6 and IPv4 on one socket when the
 * node has IPv6, else IPv4 only. */
static int listen_on(const char *host, uint16_t port, int *ret_family, char *err, size_t errlen) {
        if (isempty(host)) {
                int fd = listen_family(host, port, AF_INET6, ret_family, err, errlen);
                if (fd >= 0 || fd == -EADDRINUSE)
                        return fd;
                return listen_family(host, port, AF_INET, ret_family, err, errlen);
        }
        return listen_family(host, port, AF_UNSPEC, ret_family, err, errlen);
}

static uint16_t bound_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return 0;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return 0;
}

int metrics_http_start(MetricsHttp **ret, const char *address, const ScrapeSources *src, char *err,
                       size_t errlen) {
        _cleanup_(metrics_http_freep) MetricsHttp *h = NULL;
        char host[256];
        uint16_t port;
        int fd, family = AF_INET;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

        if (errlen > 0)
                err[0] = '\0';
        if (parse_host_port(address, host, sizeof(host), &port) < 0) {
                set_err(err, errlen, "'%s' is not HOST:PORT", strempty(address));
                return -EINVAL;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->src = *src;
        fd = listen_on(host, port, &family, err, errlen);
        if (fd < 0)
                return fd;
        if (family == AF_INET6)
                flags |= MHD_USE_IPv6;
        h->port = bound_port(fd);
        h->daemon =
                MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_SEC,
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK_SIZE,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
        if (!h->daemon) {
                close(fd);
                set_err(err, errlen, "starting the HTTP server on '%s' failed", address);
                return -EIO;
        }
        *ret = TAKE_PTR(h);
        return 0;
}

uint16_t metrics_http_port(const MetricsHttp *h) {
        return h ? h->port : 0;
}

MetricsHttp *metrics_http_free(MetricsHttp *h) {
        if (!h)
                return NULL;
        if (h->daemon) {
                /* MHD_stop_daemon() closes the listening socket we gave it */
                MHD_stop_daemon(h->daemon);
        }
        free(h);
        return NULL;
}
