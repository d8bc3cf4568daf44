/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vaultmountd - the vaultmount CSI node driver daemon.
 *
 * main() owns the process: configuration (fail fast), logging, signals,
 * the instance lock, the gRPC server, and the exit code (the only exit).
 * `vaultmountd probe` is a small client mode for exec liveness probes;
 * `vaultmountd status` reports the published volumes from the state dir.
 * `--check-config` prints the effective configuration and exits non-zero,
 * listing every problem, when it could not serve a publish; `--version`
 * prints the version, the commit and the linked libraries' versions.
 *
 * Watchdog: under systemd with WatchdogSec= ($WATCHDOG_USEC), the main
 * thread checks every half interval that the gRPC server answers Probe on
 * its own socket and that the refresh scheduler responds, and sends
 * WATCHDOG=1 only then; otherwise systemd restarts the service.
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
#include "fsutil.h"
#include "grpc-server.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics-http.h"
#include "metrics.h"
#include "mount.h"
#include "parse.h"
#include "proto-util.h"
#include "refresher.h"
#include "registration.h"
#include "statedir.h"
#include "status-report.h"
#include "vault-pool.h"
#include "version.h"
#include "volume-observe.h"
#include "volumes.h"
#include "ytree.h"
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
#define MALLOC_ARENAS        1
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

typedef struct Watchdog {
        uint64_t interval; /* $WATCHDOG_USEC; 0: no watchdog */
        uint64_t next;     /* monotonic usec of the next check */
        bool failing;      /* the last check failed (logged once) */
} Watchdog;

static void watchdog_init(Watchdog *w) {
        uint64_t usec = 0;

        *w = (Watchdog){ 0 };
        if (sd_watchdog_enabled(0, &usec) > 0)
                w->interval = usec;
}

/* The gRPC server answers Probe on its socket (through the fast lane, as
 * kubelet's calls do), and the refresh scheduler is not stuck. */
static bool daemon_alive(const Config *c, Refresher *refresher, uint64_t budget, char *why,
                         size_t whylen) {
        Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        CsiStatus st = CSI_STATUS_INIT;
        int r;

        if (!refresher_alive(refresher, budget)) {
                (void)snprintf(why, whylen, "the refresh scheduler does not respond");
                return false;
        }
        r = rpc_client_unary(c->socket_path, "/csi.v1.Identity/Probe", &req.base,
                             &csi__v1__probe_response__descriptor, budget, &resp, &st);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        if (r < 0 || st.code != CSI_OK) {
                (void)snprintf(why, whylen, "the gRPC server does not answer Probe on '%s' (%s)",
                               c->socket_path, r < 0 ? strerror(-r) : csi_code_to_string(st.code));
                return false;
        }
        return true;
}

/* Checks and pings systemd when due; returns the usec until the next check
 * (UINT64_MAX without a watchdog). */
static uint64_t watchdog_tick(Watchdog *w, const Config *c, Refresher *refresher) {
        char why[PATH_MAX + 128];
        uint64_t now = now_usec();

        if (w->interval == 0)
                return UINT64_MAX;
        if (now < w->next)
                return w->next - now;
        if (daemon_alive(c, refresher, MIN(w->interval / 4, 5 * USEC_PER_SEC), why, sizeof(why))) {
                (void)sd_notify(0, "WATCHDOG=1");
                if (w->failing)
                        log_info("watchdog: healthy again, pinging systemd");
                w->failing = false;
        } else {
                if (!w->failing)
                        log_error("watchdog: %s; no more WATCHDOG=1 pings, systemd restarts "
                                  "the service after WatchdogSec",
                                  why);
                w->failing = true;
        }
        w->next = now_usec() + w->interval / 2;
        return w->interval / 2;
}

/*
 * Waits for SIGTERM/SIGINT (into si): meanwhile reports messages the rate
 * limiter suppressed, every LOG_RATELIMIT_FLUSH_USEC, and runs the watchdog.
 * 0 on a signal, -1 (errno set) if waiting failed.
 */
static int wait_for_signal(const sigset_t *mask, siginfo_t *si, const Config *c,
                           Refresher *refresher, IdleTrim *idle_trim, const RpcServer *server) {
        uint64_t next_flush = now_usec() + LOG_RATELIMIT_FLUSH_USEC;
        Watchdog watchdog;

        watchdog_init(&watchdog);
        for (;;) {
                uint64_t now, wait = watchdog_tick(&watchdog, c, refresher);
                struct timespec ts;

                now = now_usec();
                if (now >= next_flush) {
                        /* report messages suppressed by the rate limiter; give memory
                         * back once the calls stop */
                        (void)log_ratelimit_flush(false);
                        idle_trim_tick(idle_trim, server);
                        next_flush = now + LOG_RATELIMIT_FLUSH_USEC;
                }
                wait = MIN(wait, next_flush - now);
                ts = (struct timespec){ .tv_sec = (time_t)(wait / USEC_PER_SEC),
                                        .tv_nsec = (long)(wait % USEC_PER_SEC) * 1000 };
                if (sigtimedwait(mask, si, &ts) >= 0)
                        return 0;
                if (errno != EAGAIN && errno != EINTR)
                        return -1;
        }
}

static void print_version(FILE *f) {
        fprintf(f,
                "vaultmountd %s\n"
                "commit: %s\n"
                "libraries (as loaded now):\n"
                "  grpc-core %s\n"
                "  protobuf-c %s\n"
                "  libcurl %s (%s)\n"
                "  jansson %s\n"
                "  libmount %s\n"
                "  libyaml %s\n"
                "  libsystemd %s (built against)\n",
                VAULTMOUNT_VERSION, VAULTMOUNT_COMMIT, rpc_library_version(),
                proto_library_version(), http_curl_version(), http_tls_version(),
                json_library_version(), mount_library_version(), ytree_library_version(),
                LIBSYSTEMD_BUILD_VERSION);
}

/*
 * --check-config: what would keep the effective configuration from serving
 * a NodePublishVolume. Each Vault server goes through the daemon's own
 * start-up check (TLS trust, client certificate), one at a time so that
 * every broken one is listed. Paths kubelet owns (target roots, the state
 * dir) are not checked: the config is often checked away from the node.
 * Prints one line per problem to f; returns their number.
 */
static size_t check_serving(const Config *c, FILE *f) {
        size_t n = 0;

        if (c->n_vault_servers == 0) {
                fprintf(f, "  - no Vault server is configured: set vault-address (or "
                           "vault-servers in the config file); every NodePublishVolume "
                           "would fail\n");
                n++;
        }
        if (c->n_vault_servers > 0 && http_global_init() < 0) {
                fprintf(f, "  - initialising libcurl failed: Vault servers not checked\n");
                return n + 1;
        }
        for (size_t i = 0; i < c->n_vault_servers; i++) {
                Config one = *c;
                VaultPool *pool = NULL;
                char err[512] = "";
                int r;

                one.vault_servers = &c->vault_servers[i];
                one.n_vault_servers = 1;
                r = vault_pool_new(&pool, &one, NULL, err, sizeof(err));
                pool = vault_pool_free(pool);
                if (r != 0) {
                        fprintf(f, "  - %s\n", err[0] ? err : strerror(r < 0 ? -r : EINVAL));
                        n++;
                }
        }
        if (c->n_vault_servers > 0)
                http_global_cleanup();
        return n;
}

static int run_check(const Config *c) {
        size_t n;

        config_print(c, stdout);
        fflush(stdout);
        n = check_serving(c, stderr);
        if (n == 0)
                return EXIT_SUCCESS;
        fprintf(stderr,
                "vaultmountd: this configuration cannot serve a publish: %zu "
                "problem(s) above\n",
                n);
        return EXIT_FAILURE;
}

/*
 * Volumes recovered from the state dir: their pods label their metrics and
 * the records about them, and each gets a record of its own.
 * Before any thread that could hold a volume exists.
 */
static void recovered_volumes_register(VolumeTable *volumes, Metrics *metrics) {
        char **ids = NULL;
        size_t n = 0;

        if (volume_table_list(volumes, &ids, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                VolumeRecord *rec = NULL;
                LogContext lc;
                if (volume_table_acquire_refresh(volumes, ids[i], &rec) == 0) {
                        volume_record_log_context(rec, &lc);
                        (void)metrics_volume_set(metrics, rec->volume_id, lc.pod_namespace,
                                                 lc.pod_name, lc.pod_uid);
                        log_context_push(&lc);
                        log_info("volume '%s' (pod %s/%s) recovered from the state dir",
                                 rec->volume_id, strempty(lc.pod_namespace), strempty(lc.pod_name));
                        log_context_pop(&lc);
                        volume_table_release(volumes, rec, false);
                }
                free(ids[i]);
        }
        free(ids);
}

/* The metrics' Vault servers, in Config order (the index every layer uses). */
static int metrics_servers_init(Metrics *m, const Config *c) {
        _cleanup_free_ const char **names = calloc(c->n_vault_servers + 1, sizeof(*names));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vault_servers; i++)
                names[i] = c->vault_servers[i].name;
        return metrics_set_servers(m, names, c->n_vault_servers);
}

/* The volume table and what a previous run left in it; logs why not. */
static int volumes_load(VolumeTable **ret, const Config *c, Metrics *metrics) {
        size_t bad = 0;
        int r;

        r = volume_table_new(ret, c->state_dir);
        if (r < 0)
                return log_error_errno(r, "cannot start: state dir '%s': %m", c->state_dir);
        r = volume_table_load(*ret, &bad);
        if (r < 0)
                return log_error_errno(r, "cannot start: reading the volume state: %m");
        if (r > 0 || bad > 0)
                log_info("recovered %d published volume(s) from '%s'%s", r, c->state_dir,
                         bad ? " (some state files were unreadable and skipped)" : "");
        recovered_volumes_register(*ret, metrics);
        if (!volume_table_state_on_tmpfs(*ret))
                log_warning("state dir '%s' is not a tmpfs: Vault tokens are kept in memory "
                            "only, so after a restart they can no longer be revoked (they "
                            "expire with their TTL)",
                            c->state_dir);
        return 0;
}

/* The Prometheus endpoint when metrics-address is set; logs. */
static int metrics_endpoint_start(MetricsHttp **ret, const Config *c, const ScrapeSources *src) {
        char err[512], port[8];
        int r;

        if (isempty(c->metrics_address))
                return 0;
        r = metrics_http_start(ret, c->metrics_address, src, err, sizeof(err));
        if (r < 0)
                return log_error_errno(r, "cannot start: metrics endpoint '%s': %s",
                                       c->metrics_address, err[0] ? err : strerror(-r));
        (void)snprintf(port, sizeof(port), "%u", (unsigned)metrics_http_port(*ret));
        LogField f[] = { { "METRICS_ADDRESS", c->metrics_address }, { "METRICS_PORT", port } };
        log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                   "serving Prometheus metrics on http://%s/metrics (port %s)", c->metrics_address,
                   port);
        return 0;
}

/*
 * What a serving daemon holds. daemon_prepare() and daemon_serve() fill it
 * in; daemon_done() takes down whatever is there, in the shutdown's order.
 */
typedef struct Daemon {
        const Config *config;
        int lock_fd; /* the state dir's lock: released last */
        Metrics metrics;
        VaultPool *pool;
        VolumeTable *volumes;
        Refresher *refresher;
        bool rpc_runtime; /* rpc_runtime_init() ran */
        RpcServer *server;
        MetricsHttp *metrics_http;
        Registration *registration;
        Publisher publisher;
        CsiDriver driver;
} Daemon;

/* Process-wide settings, before any thread exists; mask gets the signals
 * the main loop waits for, blocked so every thread inherits that. */
static void process_setup(sigset_t *mask) {
        /* a fixed threshold: multi-MiB request buffers never stay in the arenas */
        (void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        (void)mallopt(M_ARENA_MAX, MALLOC_ARENAS);
        /* Never dump core: the process holds pod tokens and secrets. */
        (void)prctl(PR_SET_DUMPABLE, 0);
        fs_umask_set(077);
        (void)signal(SIGPIPE, SIG_IGN);

        sigemptyset(mask);
        sigaddset(mask, SIGTERM);
        sigaddset(mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, mask, NULL);
}

static void vault_servers_warn(const Config *c) {
        for (size_t i = 0; i < c->n_vault_servers; i++)
                if (c->vault_servers[i].tls_skip_verify)
                        log_warning("vault server '%s': TLS certificate verification is "
                                    "DISABLED (tls-skip-verify); pod tokens can be stolen by "
                                    "anyone on the path",
                                    c->vault_servers[i].name);
        if (c->n_vault_servers == 0)
                log_warning("no Vault server is configured (vault-servers or vault-address): "
                            "every NodePublishVolume will fail");
}

/* Everything before the first thread: the state dir's lock, libcurl, the
 * Vault servers, the volumes a previous run left, rotation (not started).
 * Logs why it cannot start; < 0 then. */
static int daemon_prepare(Daemon *d) {
        const Config *c = d->config;
        char err[512];
        size_t n;
        int r;

        d->lock_fd = state_dir_lock(c->state_dir, err, sizeof(err));
        if (d->lock_fd < 0)
                return log_error_errno(d->lock_fd, "cannot start: %s", err);
        /* libcurl's global state, before any thread exists (curl 7.88 is not
         * thread-safe here) */
        r = http_global_init();
        if (r < 0)
                return log_error_errno(r, "cannot start: initialising libcurl failed: %m");
        /* the counters, labelled by Vault server */
        metrics_init(&d->metrics);
        if (metrics_servers_init(&d->metrics, c) < 0)
                return log_error_errno(ENOMEM, "cannot start: out of memory");
        /* Vault servers: TLS trust and timeouts, checked now (fail fast) */
        r = vault_pool_new(&d->pool, c, &d->metrics, err, sizeof(err));
        if (r != 0)
                return log_error_errno(r < 0 ? r : EINVAL, "cannot start: %s", err);
        vault_servers_warn(c);
        /* volumes published before a restart, so they can be unpublished */
        r = volumes_load(&d->volumes, c, &d->metrics);
        if (r < 0)
                return r;
        /* rotation: built now, its threads start once we serve */
        r = refresher_new(&d->refresher, c, d->volumes, d->pool, &d->metrics, err, sizeof(err));
        if (r != 0)
                return log_error_errno(r < 0 ? r : EINVAL, "cannot start: %s", err);
        d->publisher = (Publisher){
                .config = c, .pool = d->pool, .volumes = d->volumes, .refresher = d->refresher
        };
        /* publishes a crash interrupted: undone before anything is served */
        n = publish_recover(&d->publisher);
        if (n > 0)
                log_info("undid %zu publish(es) that a restart interrupted", n);
        d->publisher.metrics = &d->metrics;
        d->driver = (CsiDriver){ .config = c, .publisher = &d->publisher };
        return 0;
}

/* The CSI socket and its server, rotation's threads, the metrics endpoint
 * and kubelet's plugin registration. Logs why it cannot start; < 0 then. */
static int daemon_serve(Daemon *d) {
        const Config *c = d->config;
        const RpcMethod *methods;
        size_t n_methods, n;
        char err[512] = "";
        int r;

        rpc_runtime_init();
        d->rpc_runtime = true;
        methods = csi_service_methods(&n_methods);
        r = rpc_server_new(&d->server, methods, n_methods, &d->driver, c->workers);
        if (r < 0)
                return log_error_errno(r, "cannot start: creating the gRPC server failed: %m");
        rpc_server_set_metrics(d->server, &d->metrics);
        r = rpc_server_listen_unix(d->server, c->socket_path,
                                   c->socket_group ? c->socket_gid : (gid_t)-1, err, sizeof(err));
        if (r < 0)
                return log_error_errno(r, "cannot start: %s", err);
        n_emergency_unlink =
                rpc_server_socket_paths(d->server, emergency_unlink, ELEMENTSOF(emergency_unlink));
        r = rpc_server_start(d->server);
        if (r < 0)
                return log_error_errno(r, "cannot start: starting the gRPC server failed: %m");
        r = refresher_start(d->refresher);
        if (r < 0)
                return log_error_errno(r, "cannot start: starting the refresh threads failed: %m");
        n = refresher_resume_all(d->refresher);
        if (n > 0)
                log_info("%zu recovered volume(s) are back on the refresh schedule", n);

        /* the Prometheus endpoint, when an address is set */
        ScrapeSources src = { .metrics = &d->metrics,
                              .volumes = d->volumes,
                              .refresher = d->refresher,
                              .version = VAULTMOUNT_VERSION,
                              .commit = VAULTMOUNT_COMMIT };
        r = metrics_endpoint_start(&d->metrics_http, c, &src);
        if (r < 0)
                return r;

        /* kubelet plugin registration, once the CSI socket exists */
        err[0] = '\0';
        r = registration_start(&d->registration, c, &d->metrics, err, sizeof(err));
        if (r < 0)
                return log_error_errno(r, "cannot start: %s", err[0] ? err : "plugin registration");
        if (d->registration && n_emergency_unlink < ELEMENTSOF(emergency_unlink))
                emergency_unlink[n_emergency_unlink++] = registration_socket_path(d->registration);
        return 0;
}

static void log_serving(const Config *c, uint64_t t0) {
        char workers[16], ms[32];

        (void)snprintf(workers, sizeof(workers), "%u", c->workers);
        (void)snprintf(ms, sizeof(ms), "%.1f", (double)(now_usec() - t0) / 1000.0);
        LogField f[] = {
                { "VERSION", VAULTMOUNT_VERSION },
                { "CSI_ENDPOINT", c->endpoint },
                { "DRIVER_NAME", c->driver_name },
                { "NODE_ID", c->node_id },
                { "STATE_DIR", c->state_dir },
                { "WORKERS", workers },
                { "STARTUP_MS", ms },
                { "MOUNT_API", mount_api_to_string(mount_api_in_use()) },
        };
        log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                   "vaultmountd %s serving driver '%s' on '%s' (node '%s')", VAULTMOUNT_VERSION,
                   c->driver_name, c->endpoint, c->node_id);
}

/*
 * Taking down what d holds goes in this order. Kubelet's registration goes
 * first, so kubelet deregisters the driver; then the metrics endpoint, so no
 * scrape reads the volumes or the refresher any more.
 */
static void daemon_unregister(Daemon *d) {
        d->registration = registration_free(d->registration);
        d->metrics_http = metrics_http_free(d->metrics_http);
}

/* Then the gRPC server (shut down already, or now without a grace), and
 * rotation once no RPC runs. */
static void daemon_stop_threads(Daemon *d) {
        d->server = rpc_server_free(d->server);
        if (d->rpc_runtime)
                rpc_runtime_done();
        d->rpc_runtime = false;
        if (d->refresher) {
                MetricsSnapshot ms;
                char buf[1024];
                refresher_stop(d->refresher);
                metrics_snapshot(&d->metrics, &ms);
                log_debug("metrics: %s", metrics_format(&ms, buf, sizeof(buf)));
        }
        d->refresher = refresher_free(d->refresher);
}

/* Last, with every thread gone: the Vault clients, the volumes, the
 * counters, and the state dir's lock. */
static void daemon_free(Daemon *d) {
        d->pool = vault_pool_free(d->pool);
        d->volumes = volume_table_free(d->volumes);
        metrics_done(&d->metrics);
        d->lock_fd = safe_close(d->lock_fd);
}

static void daemon_done(Daemon *d) {
        daemon_unregister(d);
        daemon_stop_threads(d);
        daemon_free(d);
}

/* After the first SIGTERM/SIGINT: a second one ends the process at once. */
static void second_signal_exits(const sigset_t *mask) {
        struct sigaction sa = { .sa_handler = second_signal };

        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        pthread_sigmask(SIG_UNBLOCK, mask, NULL);
}

static int run_daemon(const Config *c) {
        Daemon d = { .config = c, .lock_fd = -1 };
        GraceTimer grace_timer = { .started = false };
        IdleTrim idle_trim = { .calls_seen = 0, .pending = false };
        uint64_t t0 = now_usec();
        const char *signame;
        char grace[32];
        sigset_t mask;
        siginfo_t si;

        process_setup(&mask);
        if (daemon_prepare(&d) < 0 || daemon_serve(&d) < 0) {
                daemon_done(&d);
                return EXIT_FAILURE;
        }
        log_serving(c, t0);
        (void)sd_notify(0, "READY=1");

        if (wait_for_signal(&mask, &si, c, d.refresher, &idle_trim, d.server) < 0)
                log_error_errno(errno, "sigtimedwait failed: %m");
        second_signal_exits(&mask);
        (void)sd_notify(0, "STOPPING=1");
        signame = si.si_signo == SIGTERM ? "SIGTERM" : "SIGINT";
        log_info("received %s from pid %d: shutting down, in-flight calls have %s to finish",
                 signame, (int)si.si_pid,
                 format_duration(c->shutdown_grace_usec, grace, sizeof(grace)));

        /* the grace bounds Vault I/O too: a publish, its rollback, a refresh */
        grace_timer_start(&grace_timer, c->shutdown_grace_usec, grace);
        daemon_unregister(&d);
        rpc_server_shutdown(d.server, c->shutdown_grace_usec);
        daemon_stop_threads(&d);
        grace_timer_stop(&grace_timer);
        /* the worker threads are gone, and their Vault clients with them */
        daemon_free(&d);
        (void)log_ratelimit_flush(true);
        log_info("vaultmountd stopped after %s", signame);
        return EXIT_SUCCESS;
}

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

/* Log level, format and target from the settings; the config's warnings
 * logged. -EINVAL (message printed) for an unknown log target. */
static int setup_logging(const Config *c) {
        int r = log_target_from_string(c->log_target);

        log_set_max_level(c->log_level);
        log_set_format((LogFormat)c->log_format);
        if (r < 0) {
                fprintf(stderr,
                        "vaultmountd: log-target: '%s' is not a log target (auto, stderr, "
                        "journal)\n",
                        c->log_target);
                return r;
        }
        log_set_target(log_target_resolve((LogTarget)r, getenv("JOURNAL_STREAM")));
        for (size_t i = 0; i < c->n_warnings; i++)
                log_warning("%s", c->warnings[i]);
        return 0;
}

/* The mount back-end; only the modes that mount need the kernel to have it.
 * -EINVAL (message printed) when it cannot be had. */
static int setup_mount_api(const Config *c) {
        int r = mount_api_from_string(c->mount_api);

        if (r < 0) {
                fprintf(stderr,
                        "vaultmountd: mount-api: '%s' is not a mount back-end (auto, new, "
                        "classic)\n",
                        c->mount_api);
                return r;
        }
        if (c->mode != CONFIG_MODE_CHECK && c->mode != CONFIG_MODE_PROBE &&
            mount_set_api((MountApi)r) < 0) {
                fprintf(stderr, "vaultmountd: mount-api: this kernel lacks the new mount API "
                                "(Linux 5.12+); use auto or classic\n");
                return -EINVAL;
        }
        return 0;
}

static int run_mode(const Config *c) {
        switch (c->mode) {
        case CONFIG_MODE_HELP:
                config_print_help(stdout, "vaultmountd");
                return EXIT_SUCCESS;
        case CONFIG_MODE_VERSION:
                print_version(stdout);
                return EXIT_SUCCESS;
        default:
                break;
        }
        if (setup_logging(c) < 0 || check_grpc_trace(c) < 0 || setup_mount_api(c) < 0)
                return EXIT_USAGE;
        switch (c->mode) {
        case CONFIG_MODE_CHECK:
                return run_check(c);
        case CONFIG_MODE_STATUS:
                return status_report_run(c->state_dir, c->status_json, stdout, stderr);
        case CONFIG_MODE_PROBE:
                return run_probe(c);
        default:
                return run_daemon(c);
        }
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
        ret = run_mode(&c);
        config_done(&c);
        return ret;
}
