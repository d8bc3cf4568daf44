/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape.c - gathers one scrape (see scrape.h).
 */
#include <stdlib.h>

#include "procstat.h"
#include "prom.h"
#include "scrape.h"
#include "macro.h"

typedef struct VolumeRow {
        char *volume_id;
        MetricsVolumeIdentity id;
} VolumeRow;

static void rows_free(VolumeRow *rows, size_t n) {
        for (size_t i = 0; rows && i < n; i++)
                free(rows[i].volume_id);
        free(rows);
}

/* Per published volume: its state (counted) and, when its pod is known, its series. */
static int gather_volumes(const ScrapeSources *src, PromInput *in, VolumeRow **ret_rows,
                          PromVolume **ret_vols) {
        char **ids = NULL;
        size_t n = 0, k = 0;
        VolumeRow *rows;
        PromVolume *vols;
        int r;

        if (!src->volumes)
                return 0;
        r = volume_table_list(src->volumes, &ids, &n);
        if (r < 0)
                return r;
        rows = calloc(n ? n : 1, sizeof(*rows));
        vols = calloc(n ? n : 1, sizeof(*vols));
        for (size_t i = 0; i < n; i++) {
                VolumeHealth h;
                if (rows && vols && volume_table_get_health(src->volumes, ids[i], &h) == 0) {
                        if ((int)h.state >= 0 && h.state < _VOLUME_STATE_MAX)
                                in->volumes_by_state[h.state]++;
                        if (metrics_volume_get(src->metrics, ids[i], &rows[k].id) == 0) {
                                rows[k].volume_id = TAKE_PTR(ids[i]);
                                vols[k] = (PromVolume){
                                        .volume_id = rows[k].volume_id,
                                        .ns = rows[k].id.ns,
                                        .pod = rows[k].id.pod,
                                        .expiry_usec = h.stale_after_usec ? h.stale_after_usec
                                                                          : h.earliest_expiry_usec,
                                        .last_success_usec = h.last_success_usec,
                                };
                                k++;
                        }
                }
                free(ids[i]);
        }
        free(ids);
        if (!rows || !vols) {
                rows_free(rows, k);
                free(vols);
                return -ENOMEM;
        }
        in->volumes = vols;
        in->n_volumes = k;
        *ret_rows = rows;
        *ret_vols = vols;
        return (int)k;
}

int scrape_render(const ScrapeSources *src, char **ret, size_t *ret_len) {
        PromInput in = {
                .version = src->version,
                .commit = src->commit,
                .metrics = src->metrics,
        };
        PromProcess proc;
        VolumeRow *rows = NULL;
        PromVolume *vols = NULL;
        _cleanup_free_ int *paused = NULL, *exhausted = NULL;
        size_t n_servers = src->metrics ? src->metrics->n_servers : 0;
        int r;

        paused = calloc(n_servers ? n_servers : 1, sizeof(*paused));
        exhausted = calloc(n_servers ? n_servers : 1, sizeof(*exhausted));
        if (!paused || !exhausted)
                return -ENOMEM;
        for (size_t i = 0; i < n_servers; i++) {
                paused[i] = src->refresher ? refresher_server_paused(src->refresher, i) : 0;
                exhausted[i] = src->refresher ? refresher_budget_exhausted(src->refresher, i) : 0;
        }
        in.server_paused = paused;
        in.budget_exhausted = exhausted;

        r = gather_volumes(src, &in, &rows, &vols);
        if (r < 0)
                return r;
        procstat_read(&proc);
        in.process = &proc;
        r = prom_render(&in, ret, ret_len);
        rows_free(rows, in.n_volumes);
        free(vols);
        return r;
}
