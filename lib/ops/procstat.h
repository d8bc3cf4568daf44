/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procstat.h - the process_* families of a scrape, read from
 * /proc/self/stat, /proc/stat (boot time), /proc/self/fd and RLIMIT_NOFILE.
 *
 * The parsers are pure (unit-tested); procstat_read() does the reading.
 * Never logs; thread-safe.
 */
#pragma once

#include <stdint.h>

#include "prom.h"

typedef struct ProcStat {
        uint64_t utime_ticks;
        uint64_t stime_ticks;
        uint64_t start_ticks; /* since boot */
        uint64_t vsize_bytes;
        uint64_t rss_pages;
} ProcStat;

/* The text of /proc/<pid>/stat (the command name may hold spaces and ')').
 * 0 or -EINVAL. */
int procstat_parse_stat(const char *text, ProcStat *ret);
/* The "btime N" line of /proc/stat. 0 or -EINVAL. */
int procstat_parse_btime(const char *text, uint64_t *ret);

/* Fills *ret for this process (ret->valid says whether it worked). */
void procstat_read(PromProcess *ret);
