/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procstat.c - process statistics from /proc (see procstat.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "parse.h"
#include "procstat.h"
#include "fsutil.h"
#include "macro.h"

/* The n-th space-separated field after the command name (0: the state). */
static int field_after_comm(const char *text, unsigned n, uint64_t *ret) {
        const char *p = strrchr(text, ')');
        char buf[32];
        size_t len;

        if (!p)
                return -EINVAL;
        p++;
        for (unsigned i = 0;; i++) {
                while (*p == ' ')
                        p++;
                if (!*p || *p == '\n')
                        return -EINVAL;
                len = strcspn(p, " \n");
                if (i == n)
                        break;
                p += len;
        }
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, p, len);
        buf[len] = '\0';
        return parse_uint64(buf, 0, UINT64_MAX, ret);
}

int procstat_parse_stat(const char *text, ProcStat *ret) {
        ProcStat s;

        /* fields 14, 15, 22, 23, 24 of proc(5); the state is field 3 */
        if (field_after_comm(text, 14 - 3, &s.utime_ticks) < 0 ||
            field_after_comm(text, 15 - 3, &s.stime_ticks) < 0 ||
            field_after_comm(text, 22 - 3, &s.start_ticks) < 0 ||
            field_after_comm(text, 23 - 3, &s.vsize_bytes) < 0 ||
            field_after_comm(text, 24 - 3, &s.rss_pages) < 0)
                return -EINVAL;
        *ret = s;
        return 0;
}

int procstat_parse_btime(const char *text, uint64_t *ret) {
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                char buf[32];
                size_t len;
                if (strncmp(p, "btime ", 6) != 0)
                        continue;
                len = strcspn(p + 6, "\n");
                if (len == 0 || len >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, p + 6, len);
                buf[len] = '\0';
                return parse_uint64(buf, 0, UINT64_MAX, ret);
        }
        return -EINVAL;
}

/* The file's first size-1 bytes as a string (a longer one is cut). */
static int read_text(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t n = 0;
        int r;

        if (fd < 0)
                return -errno;
        r = read_fd_bounded(fd, buf, size - 1, &n);
        if (r < 0 && r != -E2BIG)
                return r;
        buf[n] = '\0';
        return 0;
}

/* /proc/stat, line by line: its "intr" line alone can be many kilobytes. */
static int read_btime(uint64_t *ret) {
        FILE *f = fopen("/proc/stat", "re");
        char *line = NULL;
        size_t size = 0;
        int r = -EINVAL;

        if (!f)
                return -errno;
        while (r < 0 && getline(&line, &size, f) > 0)
                if (strncmp(line, "btime ", 6) == 0)
                        r = procstat_parse_btime(line, ret);
        free(line);
        fclose(f);
        return r;
}

static uint64_t count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        uint64_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n > 0 ? n - 1 : 0; /* not the directory's own fd */
}

void procstat_read(PromProcess *ret) {
        char stat[1024];
        ProcStat s;
        uint64_t btime = 0;
        long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        struct rlimit rl;

        *ret = (PromProcess){ 0 };
        if (ticks <= 0 || page <= 0 || read_text("/proc/self/stat", stat, sizeof(stat)) < 0 ||
            procstat_parse_stat(stat, &s) < 0)
                return;
        (void)read_btime(&btime);
        ret->cpu_seconds = (double)(s.utime_ticks + s.stime_ticks) / (double)ticks;
        ret->resident_bytes = s.rss_pages * (uint64_t)page;
        ret->virtual_bytes = s.vsize_bytes;
        ret->open_fds = count_fds();
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
                ret->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
        ret->start_time_seconds = (double)btime + (double)s.start_ticks / (double)ticks;
        ret->valid = btime > 0;
}
