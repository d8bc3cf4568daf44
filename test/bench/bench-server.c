/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-server - start-up time, memory and round-trip latency of vaultmountd.
 *
 * Usage: bench-server /path/to/vaultmountd [ROUNDS of 2,000 connections, default 2]
 * Prints what it measured (nothing here is asserted; targets are in docs/development.md):
 *   - time from exec to the first successful Probe (median of 10 starts);
 *   - RSS, Private_Dirty and Anonymous (from /proc/PID/smaps_rollup) when
 *     idle, and after 2,000 sequential connections (a new channel per call,
 *     as kubelet opens one per operation);
 *   - GetPluginInfo round-trip p50/p99 over 5,000 calls on one connection;
 *   - with the metrics endpoint on (issue 11, a new daemon with
 *     --metrics-address): memory idle, and after 200 scrapes of GET /metrics,
 *     with the scrape time p50/max.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "grpc-server.h"
#include "macro.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

typedef struct Mem {
        long rss_kb, private_dirty_kb, anonymous_kb;
} Mem;

static int read_mem(pid_t pid, Mem *m) {
        char path[64], line[256];
        FILE *f;
        (void)snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        *m = (Mem){ 0 };
        while (fgets(line, sizeof(line), f)) {
                long v;
                if (sscanf(line, "Rss: %ld kB", &v) == 1)
                        m->rss_kb = v;
                else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
                        m->private_dirty_kb = v;
                else if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
                        m->anonymous_kb = v;
        }
        fclose(f);
        return 0;
}

static int call(const char *sock, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, uint64_t timeout) {
        ProtobufCMessage *resp = NULL;
        CsiStatus st = CSI_STATUS_INIT;
        int r = rpc_client_unary(sock, method, req, desc, timeout, &resp, &st);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r < 0 ? r : (st.code == CSI_OK ? 0 : -EIO);
}

static int atoi_safe(const char *s) {
        char *end;
        long v = strtol(s, &end, 10);
        return (*end || v < 1 || v > 100) ? 2 : (int)v;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* A loopback port nobody listens on right now. */
static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        close(fd);
        return port;
}

/* GET /metrics over HTTP/1.0; the bytes of the whole answer, or -1. */
static long scrape(int port) {
        static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        char buf[65536];
        long total = 0;
        ssize_t n;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
                close(fd);
                return -1;
        }
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                total += n;
        close(fd);
        return n < 0 || total < 12 ? -1 : total;
}

/* Issue 11: the same daemon with the metrics endpoint on. */
static int bench_metrics(const char *daemon, const char *sock, const char *ep, const char *sd) {
        Csi__V1__ProbeRequest probe = CSI__V1__PROBE_REQUEST__INIT;
        enum {
                SCRAPES = 200
        };
        static uint64_t lat[SCRAPES];
        char ma[64];
        int port = free_port(), wst;
        uint64_t t0 = now_usec();
        long bytes = 0;
        Mem idle, after;
        pid_t pid;

        if (port < 0)
                return 1;
        (void)snprintf(ma, sizeof(ma), "--metrics-address=127.0.0.1:%d", port);
        pid = fork();
        if (pid == 0) {
                execl(daemon, daemon, ep, sd, "--config=/dev/null", "--log-level=warning",
                      "--registration-dir=", ma, (char *)NULL);
                _exit(127);
        }
        while (call(sock, "/csi.v1.Identity/Probe", &probe.base,
                    &csi__v1__probe_response__descriptor, 200000) != 0) {
                struct timespec ts = { 0, 1000000 };
                if (now_usec() - t0 > 10000000) {
                        kill(pid, SIGKILL);
                        return 1;
                }
                nanosleep(&ts, NULL);
        }
        {
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);
        }
        read_mem(pid, &idle);
        printf("metrics endpoint on, memory idle: RSS %ld KiB, Private_Dirty %ld KiB, "
               "Anonymous %ld KiB\n",
               idle.rss_kb, idle.private_dirty_kb, idle.anonymous_kb);
        for (int i = 0; i < SCRAPES; i++) {
                uint64_t s = now_usec();
                bytes = scrape(port);
                lat[i] = now_usec() - s;
                if (bytes < 0) {
                        fprintf(stderr, "scrape %d failed\n", i);
                        kill(pid, SIGKILL);
                        return 1;
                }
        }
        {
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);
        }
        read_mem(pid, &after);
        qsort(lat, SCRAPES, sizeof(lat[0]), cmp_u64);
        printf("metrics endpoint on, after %d scrapes (%ld bytes each, p50 %.2f ms, max %.2f "
               "ms): RSS %ld KiB, Private_Dirty %ld KiB, Anonymous %ld KiB (%+ld KiB)\n",
               SCRAPES, bytes, (double)lat[SCRAPES / 2] / 1000.0, (double)lat[SCRAPES - 1] / 1000.0,
               after.rss_kb, after.private_dirty_kb, after.anonymous_kb,
               after.anonymous_kb - idle.anonymous_kb);
        kill(pid, SIGTERM);
        waitpid(pid, &wst, 0);
        return WIFEXITED(wst) && WEXITSTATUS(wst) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        char dir[] = "/tmp/vm-bench-XXXXXX", sock[128], state[128], ep[160], sd[160];
        Csi__V1__ProbeRequest probe = CSI__V1__PROBE_REQUEST__INIT;
        Csi__V1__GetPluginInfoRequest info = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
        enum {
                CONNS = 2000,
                CALLS = 5000
        };
        static uint64_t lat[CALLS];
        Mem idle, after;
        uint64_t t0, ready;
        pid_t pid;

        if (argc < 2) {
                fprintf(stderr, "usage: %s /path/to/vaultmountd\n", argv[0]);
                return 2;
        }
        if (!mkdtemp(dir))
                return 1;
        (void)snprintf(sock, sizeof(sock), "%s/csi.sock", dir);
        (void)snprintf(state, sizeof(state), "%s/state", dir);
        (void)snprintf(ep, sizeof(ep), "--endpoint=unix://%s", sock);
        (void)snprintf(sd, sizeof(sd), "--state-dir=%s", state);

        rpc_runtime_init();
        /*
         * Start-up: exec to the first successful Probe, STARTS times (the last
         * daemon stays up for the rest). Median, min and max are printed: one
         * sample mostly measures what else the machine is doing.
         */
        {
                enum {
                        STARTS = 10
                };
                uint64_t samples[STARTS];
                for (int s = 0; s < STARTS; s++) {
                        int attempts = 0;
                        t0 = now_usec();
                        pid = fork();
                        if (pid == 0) {
                                execl(argv[1], argv[1], ep, sd, "--config=/dev/null",
                                      "--log-level=warning", "--registration-dir=", (char *)NULL);
                                _exit(127);
                        }
                        for (;;) {
                                attempts++;
                                if (call(sock, "/csi.v1.Identity/Probe", &probe.base,
                                         &csi__v1__probe_response__descriptor, 200000) == 0)
                                        break;
                                if (now_usec() - t0 > 10000000) {
                                        fprintf(stderr, "daemon not ready after 10 s\n");
                                        kill(pid, SIGKILL);
                                        return 1;
                                }
                                struct timespec ts = { 0, 200000 }; /* 0.2 ms between attempts */
                                nanosleep(&ts, NULL);
                        }
                        samples[s] = now_usec() - t0;
                        if (s + 1 < STARTS) {
                                int wst;
                                kill(pid, SIGTERM);
                                waitpid(pid, &wst, 0);
                        }
                }
                qsort(samples, STARTS, sizeof(samples[0]), cmp_u64);
                ready = samples[STARTS / 2];
                printf("startup: exec to first successful Probe over %d starts: median %.1f ms, "
                       "min %.1f ms, max %.1f ms\n",
                       STARTS, (double)ready / 1000.0, (double)samples[0] / 1000.0,
                       (double)samples[STARTS - 1] / 1000.0);
        }

        {
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);
        }
        read_mem(pid, &idle);
        printf("memory idle: RSS %ld KiB, Private_Dirty %ld KiB, Anonymous %ld KiB\n", idle.rss_kb,
               idle.private_dirty_kb, idle.anonymous_kb);

        /*
         * Two rounds: the first includes one-time growth (gRPC's lazily built
         * internals, malloc arenas of its threads); a leak shows in the second.
         */
        Mem prev = idle;
        int rounds = argc > 2 ? atoi_safe(argv[2]) : 2;
        for (int round = 1; round <= rounds; round++) {
                t0 = now_usec();
                for (int i = 0; i < CONNS; i++)
                        if (call(sock, "/csi.v1.Identity/GetPluginInfo", &info.base,
                                 &csi__v1__get_plugin_info_response__descriptor, 5000000) < 0) {
                                fprintf(stderr, "call %d failed\n", i);
                                kill(pid, SIGKILL);
                                return 1;
                        }
                double ms = (double)(now_usec() - t0) / 1000.0;
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);
                read_mem(pid, &after);
                printf("round %d, %d sequential connections (new channel each, %.0f ms): RSS %ld "
                       "KiB, Private_Dirty %ld KiB, Anonymous %ld KiB; anonymous growth %+ld KiB "
                       "this round, %+ld KiB since idle\n",
                       round, CONNS, ms, after.rss_kb, after.private_dirty_kb, after.anonymous_kb,
                       after.anonymous_kb - prev.anonymous_kb,
                       after.anonymous_kb - idle.anonymous_kb);
                prev = after;
        }

        {
                RpcClient *cl = NULL;
                if (rpc_client_new(&cl, sock) < 0)
                        return 1;
                for (int i = 0; i < 100; i++) { /* warm the connection */
                        ProtobufCMessage *resp = NULL;
                        CsiStatus st = CSI_STATUS_INIT;
                        rpc_client_call(cl, "/csi.v1.Identity/GetPluginInfo", &info.base,
                                        &csi__v1__get_plugin_info_response__descriptor, 5000000,
                                        &resp, &st);
                        if (resp)
                                protobuf_c_message_free_unpacked(resp, NULL);
                }
                for (int i = 0; i < CALLS; i++) {
                        ProtobufCMessage *resp = NULL;
                        CsiStatus st = CSI_STATUS_INIT;
                        uint64_t s = now_usec();
                        int r = rpc_client_call(cl, "/csi.v1.Identity/GetPluginInfo", &info.base,
                                                &csi__v1__get_plugin_info_response__descriptor,
                                                5000000, &resp, &st);
                        lat[i] = now_usec() - s;
                        if (resp)
                                protobuf_c_message_free_unpacked(resp, NULL);
                        if (r < 0 || st.code != CSI_OK) {
                                fprintf(stderr, "round trip %d failed\n", i);
                                return 1;
                        }
                }
                rpc_client_free(cl);
                qsort(lat, CALLS, sizeof(lat[0]), cmp_u64);
                printf("GetPluginInfo round trip over one connection, %d calls: p50 %.1f us, "
                       "p99 %.1f us, max %.1f us\n",
                       CALLS, (double)lat[CALLS / 2], (double)lat[CALLS * 99 / 100],
                       (double)lat[CALLS - 1]);
        }

        kill(pid, SIGTERM);
        int wst;
        waitpid(pid, &wst, 0);
        printf("daemon exit status after SIGTERM: %d\n", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
        if (bench_metrics(argv[1], sock, ep, sd) != 0) {
                fprintf(stderr, "the metrics endpoint benchmark failed\n");
                rpc_runtime_done();
                return 1;
        }
        rpc_runtime_done();
        return 0;
}
