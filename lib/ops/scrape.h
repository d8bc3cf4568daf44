/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape.h - one scrape of the metrics endpoint: gathers the
 * counters, the published volumes' health and pods, the Vault servers'
 * pause state and the process statistics, and renders them (prom.h).
 *
 * Never waits on Vault I/O or on a volume's busy flag: it takes only the
 * volume table lock, the metrics' volume lock and each server's limit lock,
 * none of which is held across a Vault request, each for a few copies.
 * Never logs above debug; thread-safe.
 */
#pragma once

#include <stddef.h>

#include "metrics.h"
#include "health.h"
#include "refresher.h"
#include "volumes.h"

typedef struct ScrapeSources {
        Metrics *metrics;
        VolumeTable *volumes; /* NULL: no volume series */
        Refresher *refresher; /* NULL: no server is paused */
        const char *version;
        const char *commit;
} ScrapeSources;

/* The exposition text (malloc'd). 0 or -ENOMEM. */
int scrape_render(const ScrapeSources *src, char **ret, size_t *ret_len);
