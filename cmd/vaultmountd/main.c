/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vaultmountd - the vaultmount CSI node driver daemon.
 *
 * main() owns the process: configuration (fail fast), logging, signals,
 * the instance lock, the gRPC server, and the exit code (the only exit).
 * `vaultmountd probe` is a small client mode for exec liveness probes.
 *
 * Signals: SIGTERM/SIGINT are blocked in every thread and taken with
 * sigwaitinfo() here. The first one starts a graceful shutdown (stop
 * accepting, let in-flight calls finish within --shutdown-grace, remove the
 * socket, exit 0); a second one exits at once. While waiting, the main
 * thread reports rate-limited log messages every LOG_RATELIMIT_FLUSH_USEC.
 *
 * Logging is set up first: level, format, and the target (stderr, or the
 * journal when asked or when $JOURNAL_STREAM says stderr is the journal).
 * GRPC_TRACE makes gRPC core dump request bytes, secrets included: the
 * daemon refuses to run with it unless --allow-grpc-trace is given, and even
 * then the dumps are stripped by the log core.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "config-defaults.h"
#include "config.h"
#include "csi-service.h"
#include "csi.pb-c.h"
#include "grpc-server.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "refresh.h"
#include "registration.h"
#include "statedir.h"
#include "vault-pool.h"
#include "volumes.h"
#include "macro.h"

extern char **environ;

#define EXIT_USAGE 2

/* For the second-signal handler, which may only use async-signal-safe calls. */
static const char *emergency_unlink[4];
static size_t n_emergency_unlink;

static void second_signal(int sig) {
        static const char msg[] = "vaultmountd: second signal, exiting at once\n";
        for (size_t i = 0; i < n_emergency_unlink; i++)
                (void)unlink(emergency_unlink[i]);
        (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(128 + sig);
}

/*
 * The shutdown grace as a deadline for Vault I/O (issue 14): when it passes,
 * every in-flight Vault call is aborted (http_abort_all), so that a hanging
 * Vault cannot hold a publish, its rollback or a refresh beyond the grace and
 * the process exits before systemd's or kubelet's SIGKILL.
 */
typedef struct GraceTimer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct timespec deadline; /* CLOCK_REALTIME (the condition's clock) */
        bool done;
        bool started;
        const char *grace;
} GraceTimer;

static void *grace_timer_run(void *userdata) {
        GraceTimer *g = userdata;
        bool fire = false;

        pthread_mutex_lock(&g->lock);
        while (!g->done)
                if (pthread_cond_timedwait(&g->cond, &g->lock, &g->deadline) == ETIMEDOUT) {
                        fire = !g->done;
                        break;
                }
        pthread_mutex_unlock(&g->lock);
        if (fire) {
                log_warning("the shutdown grace (%s) is over: aborting in-flight Vault calls",
                            g->grace);
                http_abort_all();
        }
        return NULL;
}

static void grace_timer_start(GraceTimer *g, uint64_t grace_usec, const char *grace) {
        clock_gettime(CLOCK_REALTIME, &g->deadline);
        g->deadline.tv_sec += (time_t)(grace_usec / 1000000);
        g->deadline.tv_nsec += (long)(grace_usec % 1000000) * 1000;
        if (g->deadline.tv_nsec >= 1000000000L) {
                g->deadline.tv_sec++;
                g->deadline.tv_nsec -= 1000000000L;
        }
        g->grace = grace;
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
        g->started = pthread_create(&g->thread, NULL, grace_timer_run, g) == 0;
        if (!g->started) {
                /* no timer: abort now rather than risk outliving the grace */
                log_warning("cannot start the shutdown grace timer; aborting Vault calls now");
                http_abort_all();
        }
}

static void grace_timer_stop(GraceTimer *g) {
        if (!g->started)
                return;
        pthread_mutex_lock(&g->lock);
        g->done = true;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->lock);
        g->started = false;
}

/*
 * Memory given back after a burst (issue 14): a burst of publishes (each
 * worker and gRPC thread allocating in its own malloc arena) or of large
 * requests leaves freed memory that glibc keeps mapped. Once a whole tick of
 * the main loop (LOG_RATELIMIT_FLUSH_USEC) passed without a new call after
 * some calls, malloc_trim() returns the free pages of every arena to the
 * kernel. Idle daemons never trim; a busy one trims when the burst ends.
 *
 * glibc raises its mmap threshold to the size of every large block freed
 * (up to 32 MiB), so after one multi-MiB request the next ones come from
 * the arenas and fragment them: measured with test/bench/bench_memory.py,
 * 20 requests of 3 MiB left 12 MiB anonymous after malloc_trim() with the
 * dynamic threshold, 3.6 MiB with a fixed one (idle: 2.7 MiB). So the
 * threshold is pinned: large request buffers are mmap'd and unmapped.
 *
 * Every thread that allocates gets its own arena (up to 8 per core), and
 * after a burst each keeps its fragments: with a fixed threshold and the
 * trim, bench_memory.py still left +1.3 MiB over idle with glibc's arenas,
 * +1.1 MiB with 2 and +0.9 MiB with 1. The workers spend their calls
 * waiting on Vault, not in malloc, so one arena it is.
 */
#define MMAP_THRESHOLD_BYTES (128 * 1024)
#define MALLOC_ARENAS 1
typedef struct IdleTrim {
        uint64_t calls_seen;
        bool pending;
} IdleTrim;

static void idle_trim_tick(IdleTrim *t, const RpcServer *server) {
        uint64_t calls = rpc_server_calls_received(server);

        if (calls != t->calls_seen) {
                t->calls_seen = calls;
                t->pending = true;
        } else if (t->pending) {
                t->pending = false;
                (void)malloc_trim(0);
        }
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int run_probe(const Config *c) {
        Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        CsiStatus st = CSI_STATUS_INIT;
        int r, ret = EXIT_FAILURE;

        rpc_runtime_init();
        r = rpc_client_unary(c->socket_path, "/csi.v1.Identity/Probe", &req.base,
                             &csi__v1__probe_response__descriptor, c->probe_timeout_usec, &resp,
                             &st);
        if (r < 0)
                fprintf(stderr, "vaultmountd probe: calling '%s' failed: %s\n", c->socket_path,
                        strerror(-r));
        else if (st.code != CSI_OK)
                fprintf(stderr, "vaultmountd probe: %s: %s\n", csi_code_to_string(st.code),
                        st.message);
        else {
                const Csi__V1__ProbeResponse *p = (const Csi__V1__ProbeResponse *)resp;
                if (p->ready && !p->ready->value)
                        fprintf(stderr, "vaultmountd probe: not ready yet\n");
                else {
                        printf("ready\n");
                        ret = EXIT_SUCCESS;
                }
        }
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        rpc_runtime_done();
        return ret;
}

static int run_daemon(const Config *c) {
        _cleanup_(vault_pool_freep) VaultPool *pool = NULL;
        _cleanup_(volume_table_freep) VolumeTable *volumes = NULL;
        _cleanup_(refresher_freep) Refresher *refresher = NULL;
        _cleanup_(rpc_server_freep) RpcServer *server = NULL;
        Metrics metrics;
        _cleanup_(registration_freep) Registration *registration = NULL;
        _cleanup_close_ int lock_fd = -1;
        Publisher publisher = { .config = c };
        CsiDriver driver = { .config = c, .publisher = &publisher };
        const RpcMethod *methods;
        size_t n_methods;
        sigset_t mask;
        siginfo_t si;
        char err[512], grace[32];
        GraceTimer grace_timer = { .started = false };
        IdleTrim idle_trim = { .calls_seen = 0, .pending = false };
        uint64_t t0 = now_usec();
        int r;

        /* a fixed threshold: multi-MiB request buffers never stay in the arenas */
        (void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        (void)mallopt(M_ARENA_MAX, MALLOC_ARENAS);
        /* Never dump core: the process holds pod tokens and secrets. */
        (void)prctl(PR_SET_DUMPABLE, 0);
        umask(077);
        (void)signal(SIGPIPE, SIG_IGN);

        /* Blocked before any thread exists, so every thread inherits it. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        lock_fd = state_dir_lock(c->state_dir, err, sizeof(err));
        if (lock_fd < 0) {
                log_error_errno(lock_fd, "cannot start: %s", err);
                return EXIT_FAILURE;
        }

        /* libcurl's global state, before any thread exists (curl 7.88 is not
         * thread-safe here) */
        r = http_global_init();
        if (r < 0) {
                log_error_errno(r, "cannot start: initialising libcurl failed: %m");
                return EXIT_FAILURE;
        }

        /* Vault servers: TLS trust and timeouts, checked now (fail fast) */
        r = vault_pool_new(&pool, c, err, sizeof(err));
        if (r != 0) {
                log_error_errno(r < 0 ? r : EINVAL, "cannot start: %s", err);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < c->n_vault_servers; i++)
                if (c->vault_servers[i].tls_skip_verify)
                        log_warning("vault server '%s': TLS certificate verification is "
                                    "DISABLED (tls-skip-verify); pod tokens can be stolen by "
                                    "anyone on the path",
                                    c->vault_servers[i].name);
        if (c->n_vault_servers == 0)
                log_warning("no Vault server is configured (vault-servers or vault-address): "
                            "every NodePublishVolume will fail");

        /* volumes published before a restart, so they can be unpublished */
        r = volume_table_new(&volumes, c->state_dir);
        if (r < 0) {
                log_error_errno(r, "cannot start: state dir '%s': %m", c->state_dir);
                return EXIT_FAILURE;
        }
        {
                size_t bad = 0;
                r = volume_table_load(volumes, &bad);
                if (r < 0) {
                        log_error_errno(r, "cannot start: reading the volume state: %m");
                        return EXIT_FAILURE;
                }
                if (r > 0 || bad > 0)
                        log_info("recovered %d published volume(s) from '%s'%s", r, c->state_dir,
                                 bad ? " (some state files were unreadable and skipped)" : "");
        }
        if (!volume_table_state_on_tmpfs(volumes))
                log_warning("state dir '%s' is not a tmpfs: Vault tokens are kept in memory "
                            "only, so after a restart they can no longer be revoked (they "
                            "expire with their TTL)",
                            c->state_dir);
        publisher.pool = pool;
        publisher.volumes = volumes;

        /* rotation (issue 6): built now, its threads start once we serve */
        metrics_init(&metrics);
        r = refresher_new(&refresher, c, volumes, &metrics, err, sizeof(err));
        if (r != 0) {
                log_error_errno(r < 0 ? r : EINVAL, "cannot start: %s", err);
                return EXIT_FAILURE;
        }
        publisher.refresher = refresher;
        publisher.metrics = &metrics;

        rpc_runtime_init();
        methods = csi_service_methods(&n_methods);
        r = rpc_server_new(&server, methods, n_methods, &driver, c->workers);
        if (r < 0) {
                log_error_errno(r, "cannot start: creating the gRPC server failed: %m");
                rpc_runtime_done();
                return EXIT_FAILURE;
        }
        r = rpc_server_listen_unix(server, c->socket_path,
                                   c->socket_group ? c->socket_gid : (gid_t)-1, err,
                                   sizeof(err));
        if (r < 0) {
                log_error_errno(r, "cannot start: %s", err);
                server = rpc_server_free(server);
                rpc_runtime_done();
                return EXIT_FAILURE;
        }
        n_emergency_unlink = rpc_server_socket_paths(server, emergency_unlink,
                                                     ELEMENTSOF(emergency_unlink));
        r = rpc_server_start(server);
        if (r < 0) {
                log_error_errno(r, "cannot start: starting the gRPC server failed: %m");
                server = rpc_server_free(server);
                rpc_runtime_done();
                return EXIT_FAILURE;
        }
        r = refresher_start(refresher);
        if (r < 0) {
                log_error_errno(r, "cannot start: starting the refresh threads failed: %m");
                server = rpc_server_free(server);
                rpc_runtime_done();
                return EXIT_FAILURE;
        }
        {
                size_t n = refresher_resume_all(refresher);
                if (n > 0)
                        log_info("%zu recovered volume(s) are back on the refresh schedule", n);
        }

        /* kubelet plugin registration (issue 7), once the CSI socket exists */
        err[0] = '\0';
        r = registration_start(&registration, c, err, sizeof(err));
        if (r < 0) {
                log_error_errno(r, "cannot start: %s", err[0] ? err : "plugin registration");
                server = rpc_server_free(server);
                rpc_runtime_done();
                return EXIT_FAILURE;
        }
        if (registration && n_emergency_unlink < ELEMENTSOF(emergency_unlink))
                emergency_unlink[n_emergency_unlink++] = registration_socket_path(registration);

        {
                char workers[16], ms[32];
                (void)snprintf(workers, sizeof(workers), "%u", c->workers);
                (void)snprintf(ms, sizeof(ms), "%.1f", (double)(now_usec() - t0) / 1000.0);
                LogField f[] = {
                        { "VERSION", VAULTMOUNT_VERSION }, { "CSI_ENDPOINT", c->endpoint },
                        { "DRIVER_NAME", c->driver_name }, { "NODE_ID", c->node_id },
                        { "STATE_DIR", c->state_dir },     { "WORKERS", workers },
                        { "STARTUP_MS", ms },
                };
                log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                           "vaultmountd %s serving driver '%s' on '%s' (node '%s')",
                           VAULTMOUNT_VERSION, c->driver_name, c->endpoint, c->node_id);
        }
        (void)sd_notify(0, "READY=1");

        for (;;) {
                struct timespec flush = {
                        .tv_sec = (time_t)(LOG_RATELIMIT_FLUSH_USEC / 1000000),
                        .tv_nsec = (long)(LOG_RATELIMIT_FLUSH_USEC % 1000000) * 1000,
                };
                if (sigtimedwait(&mask, &si, &flush) >= 0)
                        break;
                if (errno == EAGAIN) {
                        /* report messages suppressed by the rate limiter */
                        (void)log_ratelimit_flush(false);
                        idle_trim_tick(&idle_trim, server);
                        continue;
                }
                if (errno != EINTR) {
                        log_error_errno(errno, "sigtimedwait failed: %m");
                        break;
                }
        }

        /* From here a second SIGTERM/SIGINT ends the process at once. */
        {
                struct sigaction sa = { .sa_handler = second_signal };
                sigemptyset(&sa.sa_mask);
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGINT, &sa, NULL);
                pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
        }
        (void)sd_notify(0, "STOPPING=1");
        log_info("received %s from pid %d: shutting down, in-flight calls have %s to finish",
                 si.si_signo == SIGTERM ? "SIGTERM" : "SIGINT", (int)si.si_pid,
                 format_duration(c->shutdown_grace_usec, grace, sizeof(grace)));

        /* the grace bounds Vault I/O too: a publish, its rollback, a refresh */
        grace_timer_start(&grace_timer, c->shutdown_grace_usec, grace);
        /* the registration socket goes first: kubelet deregisters the driver */
        registration = registration_free(registration);
        rpc_server_shutdown(server, c->shutdown_grace_usec);
        server = rpc_server_free(server);
        rpc_runtime_done();
        /* no RPC runs any more: stop rotation before the Vault clients go */
        refresher_stop(refresher);
        {
                MetricsSnapshot ms;
                char buf[1024];
                metrics_snapshot(&metrics, &ms);
                log_debug("metrics: %s", metrics_format(&ms, buf, sizeof(buf)));
        }
        refresher = refresher_free(refresher);
        grace_timer_stop(&grace_timer);
        /* the worker threads are gone, and their Vault clients with them */
        pool = vault_pool_free(pool);
        volumes = volume_table_free(volumes);
        (void)log_ratelimit_flush(true);
        log_info("vaultmountd stopped after %s", si.si_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        return EXIT_SUCCESS;
}

/*
 * GRPC_TRACE turns on gRPC core's tracers, which hex-dump the bytes of every
 * request (NodePublishVolume's secrets and tokens included). Refuse it
 * unless the admin opted in; with the opt-in the dumps still go through the
 * log core, which strips byte dumps and token shapes.
 */
static int check_grpc_trace(const Config *c) {
        const char *trace = getenv("GRPC_TRACE");

        if (isempty(trace) || c->mode == CONFIG_MODE_CHECK)
                return 0;
        if (!c->allow_grpc_trace)
                return log_error_errno(EPERM,
                                       "refusing to start: GRPC_TRACE is set, and gRPC's tracers "
                                       "dump request bytes (secrets and tokens included); unset "
                                       "it, or set allow-grpc-trace=true for debugging");
        log_warning("GRPC_TRACE is set and allowed (allow-grpc-trace): gRPC trace output is "
                    "logged at debug level with byte dumps and token shapes stripped; never "
                    "leave this on in production");
        return 0;
}

int main(int argc, char **argv) {
        Config c;
        char err[CONFIG_ERROR_MAX];
        int r, ret;

        r = config_load(&c, argc, argv, environ, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "vaultmountd: %s\n", err[0] ? err : strerror(-r));
                config_done(&c);
                return EXIT_USAGE;
        }

        switch (c.mode) {
        case CONFIG_MODE_HELP:
                config_print_help(stdout, "vaultmountd");
                config_done(&c);
                return EXIT_SUCCESS;
        case CONFIG_MODE_VERSION:
                printf("vaultmountd %s\n", VAULTMOUNT_VERSION);
                config_done(&c);
                return EXIT_SUCCESS;
        default:
                break;
        }

        log_set_max_level(c.log_level);
        log_set_format((LogFormat)c.log_format);
        r = log_target_from_string(c.log_target);
        if (r < 0) {
                fprintf(stderr,
                        "vaultmountd: log-target: '%s' is not a log target (auto, stderr, "
                        "journal)\n",
                        c.log_target);
                config_done(&c);
                return EXIT_USAGE;
        }
        log_set_target(log_target_resolve((LogTarget)r, getenv("JOURNAL_STREAM")));
        for (size_t i = 0; i < c.n_warnings; i++)
                log_warning("%s", c.warnings[i]);

        r = check_grpc_trace(&c);
        if (r < 0) {
                config_done(&c);
                return EXIT_USAGE;
        }

        switch (c.mode) {
        case CONFIG_MODE_CHECK:
                config_print(&c, stdout);
                ret = EXIT_SUCCESS;
                break;
        case CONFIG_MODE_PROBE:
                ret = run_probe(&c);
                break;
        default:
                ret = run_daemon(&c);
                break;
        }
        config_done(&c);
        return ret;
}
