/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics-http.h - the Prometheus endpoint: GET /metrics over
 * plain HTTP on --metrics-address, served by libmicrohttpd on its own
 * thread. Other methods get 405, other paths 404.
 *
 * The only module that includes <microhttpd.h>. A scrape renders through
 * scrape.h and so never waits on Vault I/O or on a volume held across I/O.
 * Logs at debug level only (main logs where it listens). Thread-safe after
 * start; start and free come from one controlling thread.
 */
#pragma once

#include <stdint.h>

#include "scrape.h"

typedef struct MetricsHttp MetricsHttp;

/*
 * Listens on `address` (HOST:PORT, parse_host_port(); port 0 picks a free
 * one) and serves in a thread of its own. `src` is copied; what it points
 * to must outlive the endpoint. 0, or -errno with a message in err.
 */
int metrics_http_start(MetricsHttp **ret, const char *address, const ScrapeSources *src, char *err,
                       size_t errlen);
/* The port listened on. */
uint16_t metrics_http_port(const MetricsHttp *h);
/* Stops serving (waits for a scrape in progress) and frees. NULL-safe. */
MetricsHttp *metrics_http_free(MetricsHttp *h);
static inline void metrics_http_freep(MetricsHttp **h) {
        if (*h)
                *h = metrics_http_free(*h);
}
