/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registration.c - the pluginregistration.Registration service, its socket
 * and the controller thread that re-creates the socket after kubelet said no.
 *
 * Kubelet's sequence (csi-facts §4): it sees the socket appear in
 * plugins_registry (inotify, or its start-up walk), calls GetInfo with a 1 s
 * deadline, validates the versions, calls CSI NodeGetInfo on the endpoint we
 * named, and finally sends NotifyRegistrationStatus. After a false verdict
 * the plugin is left in kubelet's actual state, so kubelet will not try
 * again until the socket file changes: that is why we re-create it.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/un.h>
#include <time.h>

#include "grpc-server.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "pluginregistration.pb-c.h"
#include "registration.h"
#include "macro.h"

/* In-flight calls (a reply to kubelet) get this long when the socket goes. */
#define REGISTRATION_SHUTDOWN_GRACE_USEC (1ULL * 1000000)
#define KUBELET_ERROR_MAX                512

struct Registration {
        char *socket_path;
        char *endpoint;          /* as kubelet sees it */
        const char *driver_name; /* the Config's, immutable */
        Metrics *metrics;        /* kubelet's calls counted (NULL: not) */

        RpcServer *server; /* the controller thread's once it runs */
        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;             /* registration_stop() was called */
        bool rejected;         /* a false verdict not acted upon yet */
        uint64_t backoff_usec; /* the next wait before a re-creation */
};

/* The CSI versions kubelet's validator accepts: one major-1 version. */
static const char *const supported_versions[] = { "1.0.0" };

uint64_t registration_backoff_next(uint64_t cur_usec) {
        if (cur_usec < REGISTRATION_BACKOFF_MIN_USEC)
                return REGISTRATION_BACKOFF_MIN_USEC;
        if (cur_usec >= REGISTRATION_BACKOFF_MAX_USEC / 2)
                return REGISTRATION_BACKOFF_MAX_USEC;
        return cur_usec * 2;
}

/**
 * registration_paths() - where to serve, and which CSI endpoint to announce.
 * @c: the configuration (registration_dir set and non-empty)
 * @ret_socket: malloc'd `<registration-dir>/<driver-name>-reg.sock`
 * @ret_endpoint: malloc'd kubelet-endpoint as a plain path (a `unix://`
 *                prefix is dropped: kubelet dials the string as a path),
 *                or the endpoint's own path when kubelet-endpoint is unset
 * @err: message naming the setting on failure
 *
 * Return: 0, -EINVAL (relative directory, socket path longer than a unix
 * socket address allows, bad kubelet-endpoint) or -ENOMEM.
 */
int registration_paths(const Config *c, char **ret_socket, char **ret_endpoint, char *err,
                       size_t errlen) {
        _cleanup_free_ char *sock = NULL, *endpoint = NULL;
        const char *dir = c->registration_dir;
        size_t dlen;
        int n;

        if (isempty(dir) || dir[0] != '/') {
                (void)snprintf(err, errlen, "registration-dir: '%s' is not an absolute path",
                               strempty(dir));
                return -EINVAL;
        }
        dlen = strlen(dir);
        while (dlen > 1 && dir[dlen - 1] == '/')
                dlen--;
        n = asprintf(&sock, "%.*s/%s-reg.sock", (int)dlen, dlen == 1 ? "" : dir, c->driver_name);
        if (n < 0) {
                sock = NULL;
                return -ENOMEM;
        }
        if ((size_t)n + 1 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
                (void)snprintf(err, errlen,
                               "registration-dir: the socket path '%s' is longer than a unix "
                               "socket address allows (%zu bytes)",
                               sock, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                return -EINVAL;
        }

        if (isempty(c->kubelet_endpoint)) {
                endpoint = strdup(c->socket_path);
                if (!endpoint)
                        return -ENOMEM;
        } else {
                char sub[CONFIG_ERROR_MAX];
                int r = config_parse_endpoint(c->kubelet_endpoint, &endpoint, sub, sizeof(sub));
                if (r < 0) {
                        endpoint = NULL;
                        (void)snprintf(err, errlen, "kubelet-endpoint: %s", sub);
                        return r;
                }
        }
        *ret_socket = TAKE_PTR(sock);
        *ret_endpoint = TAKE_PTR(endpoint);
        return 0;
}

/* ---- handlers (the registration server's single fast-lane thread) ---- */

static void registration_get_info(void *userdata, _unused_ RpcCall *call,
                                  _unused_ const ProtobufCMessage *req, ProtobufCMessage *resp,
                                  _unused_ CsiStatus *st, _unused_ LogContext *ctx) {
        const Registration *reg = userdata;
        Pluginregistration__PluginInfo *r = (Pluginregistration__PluginInfo *)resp;

        /* packed before the call ends, and only read: static strings will do */
        r->type = (char *)REGISTRATION_PLUGIN_TYPE;
        r->name = (char *)reg->driver_name;
        r->endpoint = reg->endpoint;
        r->n_supported_versions = ELEMENTSOF(supported_versions);
        r->supported_versions = (char **)supported_versions;
}

static void registration_notify(void *userdata, _unused_ RpcCall *call, const ProtobufCMessage *req,
                                _unused_ ProtobufCMessage *resp, _unused_ CsiStatus *st,
                                _unused_ LogContext *ctx) {
        Registration *reg = userdata;
        const Pluginregistration__RegistrationStatus *s =
                (const Pluginregistration__RegistrationStatus *)req;
        char wait[32];
        uint64_t backoff;

        pthread_mutex_lock(&reg->lock);
        if (s->plugin_registered) {
                reg->backoff_usec = REGISTRATION_BACKOFF_MIN_USEC;
                reg->rejected = false;
        } else
                reg->rejected = true;
        backoff = reg->backoff_usec;
        pthread_cond_broadcast(&reg->cond);
        pthread_mutex_unlock(&reg->lock);

        LogField f[] = { { "DRIVER_NAME", reg->driver_name },
                         { "REGISTRATION_SOCKET", reg->socket_path } };
        if (s->plugin_registered)
                log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                           "kubelet registered driver '%s' (CSI endpoint '%s')", reg->driver_name,
                           reg->endpoint);
        else
                log_struct(LOG_LEVEL_WARNING, 0, f, ELEMENTSOF(f),
                           "kubelet refused to register driver '%s': '%.*s'; re-creating the "
                           "registration socket in %s",
                           reg->driver_name, KUBELET_ERROR_MAX, strempty(s->error),
                           format_duration(backoff, wait, sizeof(wait)));
}

static const RpcMethod registration_methods[] = {
        {
                .path = "/pluginregistration.Registration/GetInfo",
                .request = &pluginregistration__info_request__descriptor,
                .response = &pluginregistration__plugin_info__descriptor,
                .handler = registration_get_info,
                .fast = true,
                .ok_log_level = LOG_LEVEL_DEBUG,
        },
        {
                .path = "/pluginregistration.Registration/NotifyRegistrationStatus",
                .request = &pluginregistration__registration_status__descriptor,
                .response = &pluginregistration__registration_status_response__descriptor,
                .handler = registration_notify,
                .fast = true,
                .ok_log_level = LOG_LEVEL_DEBUG,
        },
};

/* ---- the socket ---- */

/* Creates, binds and starts a registration server; reg->server on success. */
static int serve(Registration *reg, char *err, size_t errlen) {
        _cleanup_(rpc_server_freep) RpcServer *s = NULL;
        int r;

        /* one worker: the worker lane stays idle, every method is fast */
        r = rpc_server_new(&s, registration_methods, ELEMENTSOF(registration_methods), reg, 1);
        if (r < 0) {
                (void)snprintf(err, errlen, "creating the registration server failed: %s",
                               strerror(-r));
                return r;
        }
        rpc_server_set_metrics(s, reg->metrics);
        /* 0600, like node-driver-registrar's umask 0077: kubelet runs as root */
        r = rpc_server_listen_unix(s, reg->socket_path, (gid_t)-1, err, errlen);
        if (r < 0)
                return r;
        r = rpc_server_start(s);
        if (r < 0) {
                (void)snprintf(err, errlen, "starting the registration server failed: %s",
                               strerror(-r));
                return r;
        }
        reg->server = TAKE_PTR(s);
        return 0;
}

static void unserve(Registration *reg) {
        if (!reg->server)
                return;
        rpc_server_shutdown(reg->server, REGISTRATION_SHUTDOWN_GRACE_USEC);
        reg->server = rpc_server_free(reg->server);
}

/* Waits until stop or the deadline (CLOCK_MONOTONIC); lock held. True on stop. */
static bool wait_stop(Registration *reg, const struct timespec *deadline) {
        while (!reg->stop)
                if (pthread_cond_timedwait(&reg->cond, &reg->lock, deadline) == ETIMEDOUT)
                        break;
        return reg->stop;
}

static void *controller(void *arg) {
        Registration *reg = arg;
        char err[512], wait[32];

        pthread_mutex_lock(&reg->lock);
        for (;;) {
                struct timespec deadline;
                uint64_t delay;
                int r;

                while (!reg->stop && !reg->rejected && reg->server)
                        pthread_cond_wait(&reg->cond, &reg->lock);
                if (reg->stop)
                        break;

                /* Remove the socket at once: kubelet deregisters what it rejected. */
                reg->rejected = false;
                delay = reg->backoff_usec;
                reg->backoff_usec = registration_backoff_next(delay);
                pthread_mutex_unlock(&reg->lock);
                unserve(reg);
                pthread_mutex_lock(&reg->lock);

                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += (time_t)(delay / 1000000);
                deadline.tv_nsec += (long)(delay % 1000000) * 1000;
                if (deadline.tv_nsec >= 1000000000L) {
                        deadline.tv_sec++;
                        deadline.tv_nsec -= 1000000000L;
                }
                if (wait_stop(reg, &deadline))
                        break;
                /* a verdict that came in meanwhile concerned the old socket */
                reg->rejected = false;
                delay = reg->backoff_usec; /* the wait after a failure below */

                pthread_mutex_unlock(&reg->lock);
                r = serve(reg, err, sizeof(err));
                if (r < 0)
                        log_warning_errno(r, "plugin registration: %s; retrying in %s", err,
                                          format_duration(delay, wait, sizeof(wait)));
                else
                        log_info("plugin registration: re-created '%s' for kubelet",
                                 reg->socket_path);
                pthread_mutex_lock(&reg->lock);
        }
        pthread_mutex_unlock(&reg->lock);
        unserve(reg); /* removes the socket: kubelet deregisters the driver */
        return NULL;
}

/* ---- lifecycle ---- */

/**
 * registration_start() - serve plugin registration for kubelet.
 * @ret: the registration, or NULL when registration-dir is empty (disabled)
 * @c: the configuration; must outlive the registration
 * @metrics: where kubelet's calls are counted (NULL: nowhere); must outlive it
 * @err: a message naming the setting on failure
 *
 * Call after rpc_runtime_init() and after the CSI server is listening, so a
 * kubelet that reacts at once finds the CSI endpoint. A socket that cannot be
 * created now is retried in the background (a warning is logged), so only
 * configuration errors fail the start.
 *
 * Return: 0, -EINVAL (bad registration-dir or kubelet-endpoint; err says
 * which), -ENOMEM, or a negative errno from pthread_create.
 */
int registration_start(Registration **ret, const Config *c, Metrics *metrics, char *err,
                       size_t errlen) {
        _cleanup_(registration_freep) Registration *reg = NULL;
        char sub[512], wait[32];
        int r;

        *ret = NULL;
        if (isempty(c->registration_dir)) {
                log_info("plugin registration is off (registration-dir is empty): a "
                         "node-driver-registrar must register driver '%s' with kubelet",
                         c->driver_name);
                return 0;
        }
        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        pthread_mutex_init(&reg->lock, NULL);
        {
                pthread_condattr_t attr;
                pthread_condattr_init(&attr);
                pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_init(&reg->cond, &attr);
                pthread_condattr_destroy(&attr);
        }
        reg->driver_name = c->driver_name;
        reg->metrics = metrics;
        reg->backoff_usec = REGISTRATION_BACKOFF_MIN_USEC;
        r = registration_paths(c, &reg->socket_path, &reg->endpoint, err, errlen);
        if (r < 0)
                return r;

        r = serve(reg, sub, sizeof(sub));
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                /* the CSI service still works; kubelet learns of us once this does */
                log_warning_errno(r, "plugin registration: %s; retrying in %s", sub,
                                  format_duration(reg->backoff_usec, wait, sizeof(wait)));
        } else {
                LogField f[] = { { "DRIVER_NAME", reg->driver_name },
                                 { "REGISTRATION_SOCKET", reg->socket_path },
                                 { "KUBELET_ENDPOINT", reg->endpoint } };
                log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                           "plugin registration: serving '%s' for kubelet (CSI endpoint '%s')",
                           reg->socket_path, reg->endpoint);
        }

        r = pthread_create(&reg->thread, NULL, controller, reg);
        if (r != 0) {
                (void)snprintf(err, errlen, "cannot start the registration thread: %s",
                               strerror(r));
                return -r;
        }
        reg->thread_started = true;
        *ret = TAKE_PTR(reg);
        return 0;
}

/**
 * registration_stop() - remove the registration socket and stop serving it.
 * @r: the registration, or NULL
 *
 * Kubelet sees the socket go and deregisters the driver. Call before the CSI
 * server stops. Idempotent.
 */
void registration_stop(Registration *r) {
        if (!r)
                return;
        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_broadcast(&r->cond);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL);
                r->thread_started = false;
        }
        unserve(r);
}

Registration *registration_free(Registration *r) {
        if (!r)
                return NULL;
        registration_stop(r);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r->socket_path);
        free(r->endpoint);
        free(r);
        return NULL;
}

const char *registration_socket_path(const Registration *r) {
        return r ? r->socket_path : NULL;
}
