/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prom.c - Prometheus text format 0.0.4 (see prom.h).
 *
 * Families are written in a fixed order, each with HELP and TYPE even when
 * it has no series yet, so the scrape always names every family alert
 * rules are written against. Counters with a fixed label set (Vault
 * requests, refreshes, 429s) are written with their zeros; CSI requests
 * only for the (method, code) pairs seen.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "prom.h"
#include "macro.h"

static const char *const state_labels[_VOLUME_STATE_MAX] = {
        [VOLUME_STATE_OK] = "ok",
        [VOLUME_STATE_FAILING] = "failing",
        [VOLUME_STATE_STALE] = "stale",
        [VOLUME_STATE_WAITING] = "waiting_for_token",
};

const char *prom_volume_state_label(VolumeState s) {
        return (int)s >= 0 && s < _VOLUME_STATE_MAX ? state_labels[s] : "unknown";
}

static uint64_t load(const atomic_uint_fast64_t *v) {
        return atomic_load_explicit((atomic_uint_fast64_t *)v, memory_order_relaxed);
}

/* A label value: backslash, double quote and line feed escaped. */
static void put_value(FILE *f, const char *s) {
        for (const char *p = strempty(s); *p; p++) {
                if (*p == '\\' || *p == '"')
                        fputc('\\', f);
                if (*p == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*p, f);
        }
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram's series; `labels` is the text inside the braces before `le`
 * ("method=\"Probe\""), already escaped. */
static void histogram(FILE *f, const char *name, const char *labels, const MetricsHistogram *h) {
        uint64_t cum = 0;

        for (size_t i = 0; i <= METRICS_BUCKETS; i++) {
                cum += load(&h->buckets[i]);
                fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels,
                        metrics_bucket_label(i), cum);
        }
        fprintf(f, "%s_sum{%s} %.6f\n", name, labels, (double)load(&h->sum_usec) / 1e6);
        fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

static uint64_t histogram_count(const MetricsHistogram *h) {
        uint64_t n = 0;
        for (size_t i = 0; i <= METRICS_BUCKETS; i++)
                n += load(&h->buckets[i]);
        return n;
}

static void render_csi(FILE *f, const Metrics *m) {
        family(f, "vaultmount_csi_requests_total", "counter",
               "CSI calls answered, by method and gRPC status code.");
        for (size_t i = 0; m && i < METRICS_CSI_METHODS; i++)
                for (int c = 0; c < METRICS_CSI_CODES; c++) {
                        uint64_t v = load(&m->csi_requests[i][c]);
                        if (v)
                                fprintf(f,
                                        "vaultmount_csi_requests_total{method=\"%s\",code=\"%s\"} "
                                        "%" PRIu64 "\n",
                                        metrics_csi_method_name(i), metrics_csi_code_name(c), v);
                }
        family(f, "vaultmount_csi_request_duration_seconds", "histogram",
               "Time from a CSI call's arrival to its answer, by method.");
        for (size_t i = 0; m && i < METRICS_CSI_METHODS; i++) {
                char labels[96];
                if (!histogram_count(&m->csi_duration[i]))
                        continue;
                (void)snprintf(labels, sizeof(labels), "method=\"%s\"", metrics_csi_method_name(i));
                histogram(f, "vaultmount_csi_request_duration_seconds", labels,
                          &m->csi_duration[i]);
        }
}

/* `server="<escaped name>"` into a memstream-built string (malloc'd). */
static char *server_label(const char *name) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);
        if (!f)
                return NULL;
        fputs("server=\"", f);
        put_value(f, name);
        fputc('"', f);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

/* One more label of a per-server counter: its name and its values' names. */
typedef struct Axis {
        const char *label;
        size_t n;
        const char *(*name)(size_t i);
} Axis;

static const Axis op_axis = { "operation", _METRICS_OP_MAX, metrics_vault_op_name };
static const Axis result_axis = { "result", _METRICS_RESULT_MAX, metrics_vault_result_name };
static const Axis kind_axis = { "kind", _METRICS_KIND_MAX, metrics_refresh_kind_name };
static const Axis refresh_result_axis = { "result", _METRICS_REFRESH_RESULT_MAX,
                                          metrics_refresh_result_name };

/* A counter by server and two more labels, every combination written (its
 * zeros too); `offset` is that of its [a->n][b->n] array in MetricsServer. */
static void server_counters(FILE *f, const char *name, const Axis *a, const Axis *b, size_t offset,
                            const Metrics *m, char *const *labels, size_t n) {
        for (size_t s = 0; s < n; s++) {
                const atomic_uint_fast64_t *v =
                        (const atomic_uint_fast64_t *)((const char *)&m->servers[s] + offset);
                for (size_t i = 0; i < a->n; i++)
                        for (size_t j = 0; j < b->n; j++)
                                fprintf(f, "%s{%s,%s=\"%s\",%s=\"%s\"} %" PRIu64 "\n", name,
                                        labels[s], a->label, a->name(i), b->label, b->name(j),
                                        load(&v[i * b->n + j]));
        }
}

/* A 0/1 gauge by server: 1 where flags[s] > 0 (flags may be NULL: all 0). */
static void server_flags(FILE *f, const char *name, char *const *labels, size_t n,
                         const int *flags) {
        for (size_t s = 0; s < n; s++)
                fprintf(f, "%s{%s} %d\n", name, labels[s], flags && flags[s] > 0 ? 1 : 0);
}

static int render_vault(FILE *f, const Metrics *m, const int *paused, const int *exhausted) {
        size_t n = m ? m->n_servers : 0, shown;
        _cleanup_free_ char **labels = calloc(n ? n : 1, sizeof(char *));
        int r = 0;

        if (!labels)
                return -ENOMEM;
        for (size_t s = 0; s < n && r == 0; s++)
                if (!(labels[s] = server_label(m->servers[s].name)))
                        r = -ENOMEM;
        shown = r == 0 ? n : 0; /* no series after a failure, only the families */

        family(f, "vaultmount_vault_requests_total", "counter",
               "Vault calls (retries inside a call included), by server, operation and result.");
        server_counters(f, "vaultmount_vault_requests_total", &op_axis, &result_axis,
                        offsetof(MetricsServer, requests), m, labels, shown);
        family(f, "vaultmount_vault_request_duration_seconds", "histogram",
               "Duration of Vault calls (every attempt and wait), by server and operation.");
        for (size_t s = 0; s < shown; s++)
                for (size_t o = 0; o < _METRICS_OP_MAX; o++) {
                        char l[512];
                        if (!histogram_count(&m->servers[s].duration[o]))
                                continue;
                        (void)snprintf(l, sizeof(l), "%s,operation=\"%s\"", labels[s],
                                       metrics_vault_op_name(o));
                        histogram(f, "vaultmount_vault_request_duration_seconds", l,
                                  &m->servers[s].duration[o]);
                }
        family(f, "vaultmount_refresh_total", "counter",
               "Refresh steps of published volumes, by server, kind (kv, lease, pki, token) "
               "and result (ok, failed, deferred).");
        server_counters(f, "vaultmount_refresh_total", &kind_axis, &refresh_result_axis,
                        offsetof(MetricsServer, refreshes), m, labels, shown);
        family(f, "vaultmount_vault_server_paused", "gauge",
               "1 while refreshes to the server are paused after a 429, a 503 or no answer.");
        server_flags(f, "vaultmount_vault_server_paused", labels, shown, paused);
        family(f, "vaultmount_refresh_budget_exhausted", "gauge",
               "1 while the server's refresh budget cannot keep every volume's credentials "
               "valid.");
        server_flags(f, "vaultmount_refresh_budget_exhausted", labels, shown, exhausted);
        family(f, "vaultmount_vault_rate_limited_total", "counter",
               "429 answers from the server (also those a retry got past).");
        for (size_t s = 0; s < shown; s++)
                fprintf(f, "vaultmount_vault_rate_limited_total{%s} %" PRIu64 "\n", labels[s],
                        load(&m->servers[s].rate_limited));
        for (size_t s = 0; s < n; s++)
                free(labels[s]);
        return r;
}

static void volume_series(FILE *f, const char *name, const PromVolume *v, uint64_t usec) {
        fprintf(f, "%s{namespace=\"", name);
        put_value(f, v->ns);
        fputs("\",pod=\"", f);
        put_value(f, v->pod);
        fputs("\",volume_id=\"", f);
        put_value(f, v->volume_id);
        fprintf(f, "\"} %" PRIu64 ".%03u\n", usec / 1000000, (unsigned)(usec % 1000000 / 1000));
}

static void render_volumes(FILE *f, const PromInput *in) {
        family(f, "vaultmount_volumes", "gauge", "Published volumes by rotation state.");
        for (size_t s = 0; s < _VOLUME_STATE_MAX; s++)
                fprintf(f, "vaultmount_volumes{state=\"%s\"} %" PRIu64 "\n",
                        prom_volume_state_label((VolumeState)s), in->volumes_by_state[s]);
        family(f, "vaultmount_volume_secret_expiry_timestamp_seconds", "gauge",
               "Earliest expiry of the volume's secrets (for secrets without one: their last "
               "read plus two refresh intervals), as a Unix time.");
        for (size_t i = 0; i < in->n_volumes; i++)
                if (in->volumes[i].expiry_usec)
                        volume_series(f, "vaultmount_volume_secret_expiry_timestamp_seconds",
                                      &in->volumes[i], in->volumes[i].expiry_usec);
        family(f, "vaultmount_volume_last_refresh_success_timestamp_seconds", "gauge",
               "When the volume's secrets were last fetched or refreshed successfully, as a "
               "Unix time.");
        for (size_t i = 0; i < in->n_volumes; i++)
                if (in->volumes[i].last_success_usec)
                        volume_series(f, "vaultmount_volume_last_refresh_success_timestamp_seconds",
                                      &in->volumes[i], in->volumes[i].last_success_usec);
}

static void render_process(FILE *f, const PromProcess *p) {
        if (!p || !p->valid)
                return;
        family(f, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
        fprintf(f, "process_cpu_seconds_total %.2f\n", p->cpu_seconds);
        family(f, "process_resident_memory_bytes", "gauge", "Resident memory size.");
        fprintf(f, "process_resident_memory_bytes %" PRIu64 "\n", p->resident_bytes);
        family(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
        fprintf(f, "process_virtual_memory_bytes %" PRIu64 "\n", p->virtual_bytes);
        family(f, "process_open_fds", "gauge", "Open file descriptors.");
        fprintf(f, "process_open_fds %" PRIu64 "\n", p->open_fds);
        family(f, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        fprintf(f, "process_max_fds %" PRIu64 "\n", p->max_fds);
        family(f, "process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch.");
        fprintf(f, "process_start_time_seconds %.2f\n", p->start_time_seconds);
}

int prom_render(const PromInput *in, char **ret, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int r;

        if (!f)
                return -ENOMEM;
        family(f, "vaultmount_build_info", "gauge", "Version and commit of the running daemon.");
        fputs("vaultmount_build_info{version=\"", f);
        put_value(f, in->version);
        fputs("\",commit=\"", f);
        put_value(f, in->commit);
        fputs("\"} 1\n", f);
        render_csi(f, in->metrics);
        r = render_vault(f, in->metrics, in->server_paused, in->budget_exhausted);
        render_volumes(f, in);
        render_process(f, in->process);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(text);
                return r;
        }
        *ret = text;
        *ret_len = len;
        return 0;
}
