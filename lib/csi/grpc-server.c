/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc-server.c - completion-queue lanes, call slots, packing and the edge log.
 *
 * Each registered method keeps one outstanding "request call" on its lane's
 * completion queue. A lane thread that receives a new call first requests
 * the next one, then unpacks, runs the handler straight-line, and starts a
 * single batch (initial metadata, message, status, close). The batch's
 * completion frees the slot. Events of a slot are never handled by two
 * threads at once, so slots need no locks. Only the fast lane's queue polls
 * (see grpc-server.h).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "grpc-server.h"
#include "log-ids.h"
#include "metrics.h"
#include "proto-util.h"
#include "redact.h"
#include "secret-fields.h"
#include "macro.h"

#define MAX_SOCKETS               4
#define SHUTDOWN_CANCEL_WAIT_USEC (10ULL * 1000000)
/* kubelet's largest requests carry a few tokens and attributes */
#define MAX_REQUEST_BYTES (4 * 1024 * 1024)
/* what gRPC may hold for all connections together: 8 requests at the limit */
#define GRPC_MEMORY_QUOTA_BYTES (32 * 1024 * 1024)
#define SERVER_ARGS             3

typedef enum TagKind {
        TAG_SLOT,
        TAG_SHUTDOWN,
} TagKind;

typedef struct Lane {
        grpc_completion_queue *cq;
        pthread_t *threads;
        unsigned n_threads;
        unsigned started;
} Lane;

typedef struct RegisteredMethod {
        const RpcMethod *method;
        void *handle; /* grpc registered method */
        Lane *lane;
} RegisteredMethod;

typedef struct Arena {
        struct Arena *next;
        max_align_t data[];
} Arena;

struct RpcCall {
        TagKind kind; /* first member: every tag starts with its kind */
        RpcServer *server;
        RegisteredMethod *rm; /* NULL for a generic (unknown-method) call */
        Lane *lane;
        bool sending;

        grpc_call *call;
        gpr_timespec deadline;
        grpc_metadata_array request_md;
        grpc_call_details details;
        grpc_byte_buffer *payload;

        grpc_byte_buffer *response_payload;
        grpc_slice status_details;
        bool have_status_details;
        int cancelled;

        Arena *arena;
};

typedef struct ShutdownTag {
        TagKind kind;
} ShutdownTag;

struct RpcServer {
        grpc_server *server;
        Lane fast, work;
        RegisteredMethod *methods;
        size_t n_methods;
        void *userdata;
        Metrics *metrics; /* every call counted (NULL: not) */
        bool started;
        bool shut_down;
        atomic_bool stopping;
        atomic_ulong next_request_id;

        ShutdownTag shutdown_tag;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool shutdown_done;
        unsigned handlers_running; /* between taking a call and starting its reply */

        char *sockets[MAX_SOCKETS];
        size_t n_sockets;
};

void rpc_server_set_metrics(RpcServer *s, Metrics *metrics) {
        if (s)
                s->metrics = metrics;
}

/* ---- gRPC runtime and its logs ---- */

static void grpc_log_to_ours(gpr_log_func_args *args) {
        int level;
        switch (args->severity) {
        case GPR_LOG_SEVERITY_ERROR:
                level = LOG_LEVEL_ERR;
                break;
        default:
                /* gRPC's info output is developer detail: debug for us */
                level = LOG_LEVEL_DEBUG;
                break;
        }
        if (!log_level_enabled(level))
                return;
        LogField f[] = { { "SUBSYSTEM", "grpc" } };
        (void)log_internal(level, 0, args->file, args->line, "grpc", f, ELEMENTSOF(f), "grpc: %s",
                           args->message);
}

/*
 * Debian builds abseil without NDEBUG, so every absl::Mutex lock that gRPC
 * takes also runs abseil's debug-only deadlock detection: a lookup in one
 * process-wide lock graph under a process-wide spin lock (3.6 % of a publish's
 * user-space instructions, counted). abseil's own switch turns it off; it is a
 * C++ function, looked up by its name in Debian 12's abseil ABI (inline
 * namespace "debian3"), so a build against another abseil simply keeps the
 * checks. Called before grpc_init() starts gRPC's threads.
 */
#define ABSL_SET_DEADLOCK_MODE                                                                     \
        "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE"
#define ABSL_ON_DEADLOCK_IGNORE 0 /* absl::OnDeadlockCycle::kIgnore */

static bool absl_lock_checks_turn_off(void) {
        void (*set_mode)(int);
        void *sym = dlsym(RTLD_DEFAULT, ABSL_SET_DEADLOCK_MODE);

        if (!sym)
                return false;
        memcpy(&set_mode, &sym, sizeof(set_mode)); /* POSIX: a function's address */
        set_mode(ABSL_ON_DEADLOCK_IGNORE);
        return true;
}

void rpc_runtime_init(void) {
        bool lock_checks_off;

        gpr_set_log_function(grpc_log_to_ours);
        lock_checks_off = absl_lock_checks_turn_off();
        grpc_init();
        gpr_set_log_function(grpc_log_to_ours);
        gpr_set_log_verbosity(log_level_enabled(LOG_LEVEL_DEBUG) ? GPR_LOG_SEVERITY_DEBUG
                                                                 : GPR_LOG_SEVERITY_ERROR);
        log_debug("gRPC: abseil's debug-only deadlock detection %s",
                  lock_checks_off ? "turned off" : "left as built (no switch found)");
}

void rpc_runtime_done(void) {
        grpc_shutdown();
}

/* ---- per-call memory ---- */

void *rpc_call_alloc(RpcCall *call, size_t size) {
        size_t total;
        Arena *a;
        if (!size_add(sizeof(Arena), size, &total))
                return NULL;
        a = calloc(1, total);
        if (!a)
                return NULL;
        a->next = call->arena;
        call->arena = a;
        return a->data;
}

char *rpc_call_strdup(RpcCall *call, const char *s) {
        size_t n = strlen(s) + 1;
        char *p = rpc_call_alloc(call, n);
        if (p)
                memcpy(p, s, n);
        return p;
}

static RpcCall *call_free(RpcCall *c) {
        if (!c)
                return NULL;
        while (c->arena) {
                Arena *next = c->arena->next;
                free(c->arena);
                c->arena = next;
        }
        if (c->payload)
                grpc_byte_buffer_destroy(c->payload);
        if (c->response_payload)
                grpc_byte_buffer_destroy(c->response_payload);
        if (c->have_status_details)
                grpc_slice_unref(c->status_details);
        grpc_metadata_array_destroy(&c->request_md);
        if (!c->rm)
                grpc_call_details_destroy(&c->details);
        if (c->call)
                grpc_call_unref(c->call);
        free(c);
        return NULL;
}

/* ---- requesting calls ---- */

static int request_call(RpcServer *s, RegisteredMethod *rm, Lane *lane) {
        RpcCall *c = calloc(1, sizeof(*c));
        grpc_call_error e;

        if (!c)
                return -ENOMEM;
        c->kind = TAG_SLOT;
        c->server = s;
        c->rm = rm;
        c->lane = lane;
        grpc_metadata_array_init(&c->request_md);
        /*
         * Every call is bound to the polling queue, whatever its lane: the
         * completion of its reply batch (the client has closed) is then
         * taken by the polling thread, awake anyway to read that close,
         * instead of waking a worker only to free the call. The lane's
         * queue gets the new-call notification.
         */
        if (rm)
                e = grpc_server_request_registered_call(s->server, rm->handle, &c->call,
                                                        &c->deadline, &c->request_md, &c->payload,
                                                        s->fast.cq, lane->cq, c);
        else {
                grpc_call_details_init(&c->details);
                e = grpc_server_request_call(s->server, &c->call, &c->details, &c->request_md,
                                             s->fast.cq, lane->cq, c);
        }
        if (e != GRPC_CALL_OK) {
                call_free(c);
                return -EIO;
        }
        return 0;
}

/* ---- answering ---- */

static void start_reply(RpcCall *c, const CsiStatus *st, const ProtobufCMessage *response) {
        grpc_op ops[4];
        size_t n = 0;

        memset(ops, 0, sizeof(ops));
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = 0;
        n++;

        if (st->code == CSI_OK && response) {
                size_t len = protobuf_c_message_get_packed_size(response);
                grpc_slice slice = grpc_slice_malloc(len);
                protobuf_c_message_pack(response, GRPC_SLICE_START_PTR(slice));
                c->response_payload = grpc_raw_byte_buffer_create(&slice, 1);
                grpc_slice_unref(slice);
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n].data.send_message.send_message = c->response_payload;
                n++;
        }

        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)st->code;
        ops[n].data.send_status_from_server.trailing_metadata_count = 0;
        if (st->code != CSI_OK && st->message[0]) {
                c->status_details = grpc_slice_from_copied_string(st->message);
                c->have_status_details = true;
                ops[n].data.send_status_from_server.status_details = &c->status_details;
        }
        n++;

        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
        n++;

        c->sending = true;
        if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
                log_error("gRPC refused to send a reply; dropping the call");
                call_free(c);
        }
}

/* Copies the request payload into one flat buffer. */
static int read_payload(grpc_byte_buffer *bb, uint8_t **ret, size_t *ret_len) {
        grpc_byte_buffer_reader reader;
        grpc_slice slice;
        uint8_t *data;
        size_t len;

        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return -EBADMSG;
        slice = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        len = GRPC_SLICE_LENGTH(slice);
        data = malloc(len ? len : 1);
        if (!data) {
                grpc_slice_unref(slice);
                return -ENOMEM;
        }
        memcpy(data, GRPC_SLICE_START_PTR(slice), len);
        /* the merged slice is ours when the buffer had several: wipe it */
        explicit_bzero(GRPC_SLICE_START_PTR(slice), len);
        grpc_slice_unref(slice);
        *ret = data;
        *ret_len = len;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static const char *short_name(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? slash + 1 : path;
}

static void log_outcome(const char *method, const CsiStatus *st, uint64_t usec, int ok_level) {
        char code[16], dur[32];
        int level;
        /* publish/unpublish outcomes carry an id admins filter on (log-ids.h) */
        bool publish = streq(method, "NodePublishVolume") || streq(method, "NodeUnpublishVolume");
        const char *message_id = !publish             ? NULL
                                 : st->code == CSI_OK ? LOG_MESSAGE_PUBLISH_OK
                                                      : LOG_MESSAGE_PUBLISH_FAILED;

        if (st->code == CSI_OK)
                level = ok_level;
        else if (st->code == CSI_INTERNAL || st->code == CSI_UNKNOWN || st->code == CSI_DATA_LOSS)
                level = LOG_LEVEL_ERR;
        else
                level = LOG_LEVEL_WARNING;
        if (!log_level_enabled(level))
                return;
        (void)snprintf(code, sizeof(code), "%d", (int)st->code);
        (void)snprintf(dur, sizeof(dur), "%.3f", (double)usec / 1000.0);
        LogField f[] = { { "GRPC_CODE", code },
                         { "GRPC_CODE_NAME", csi_code_to_string(st->code) },
                         { "DURATION_MS", dur },
                         { "MESSAGE_ID", message_id } };
        /* status messages already name the method ("NodePublishVolume: ...") */
        if (st->code == CSI_OK)
                (void)log_struct(level, 0, f, ELEMENTSOF(f), "%s: OK", method);
        else
                (void)log_struct(level, 0, f, ELEMENTSOF(f), "%s", st->message);
}

/* A request's string field by name ("volume_id"), or NULL. */
static const char *request_string(const ProtobufCMessage *m, const char *name) {
        const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
        const char *v;
        if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
                return NULL;
        v = *(const char *const *)((const char *)m + f->offset);
        return isempty(v) ? NULL : v;
}

/*
 * At debug level: a request or response as text, with every csi_secret
 * field, mount_flags, the token key and unknown volume attributes stripped
 * (redact.h). The secret-field table is generated from csi.proto.
 */
static void log_message_debug(const char *method, const char *what, const ProtobufCMessage *msg) {
        char text[REDACT_TEXT_MAX];

        if (!log_level_enabled(LOG_LEVEL_DEBUG))
                return;
        (void)redact_message(msg, csi_secret_fields, csi_secret_fields_count, text, sizeof(text));
        log_debug("%s %s: %s", method, what, text);
        explicit_bzero(text, sizeof(text));
}

/* The message of a failed wire check (r from proto_check_wire()). */
static void set_wire_status(CsiStatus *st, const char *method, const RpcMethod *m, int r,
                            const char *bad_field) {
        /* at the wire length: protobuf-c cuts a string at a NUL */
        if (r == -EINVAL)
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: malformed request: field '%s' contains a NUL byte; string "
                               "fields may not contain NUL",
                               method, bad_field);
        else if (r == -EILSEQ)
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: malformed request: field '%s' is not valid UTF-8", method,
                               bad_field);
        else
                csi_status_set(st, CSI_INVALID_ARGUMENT,
                               "%s: malformed request: the bytes are not a valid %s message",
                               method, m->request->name);
}

/* The call's request message, unpacked and checked on the wire; NULL with
 * st set when there is none. The received bytes are wiped. */
static ProtobufCMessage *unpack_request(RpcCall *c, const RpcMethod *m, const char *method,
                                        CsiStatus *st) {
        ProtobufCMessage *request = NULL;
        const char *bad_field = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        int r;

        if (!c->payload) {
                csi_status_set(st, CSI_INVALID_ARGUMENT, "%s: the request has no message", method);
                return NULL;
        }
        if (read_payload(c->payload, &data, &len) < 0) {
                csi_status_set(st, CSI_INTERNAL, "%s: cannot read the request", method);
                return NULL;
        }
        request = protobuf_c_message_unpack(m->request, NULL, len, data);
        if (!request)
                set_wire_status(st, method, m, -EBADMSG, NULL);
        else if ((r = proto_check_wire(m->request, data, len, &bad_field)) < 0) {
                set_wire_status(st, method, m, r, bad_field);
                proto_wipe_strings(request);
                protobuf_c_message_free_unpacked(request, NULL);
                request = NULL;
        }
        if (data) {
                explicit_bzero(data, len);
                free(data);
        }
        return request;
}

/* The handler, with a response in the call's arena; NULL when none could
 * be had (st says so). */
static ProtobufCMessage *run_handler(RpcCall *c, const RpcMethod *m,
                                     const ProtobufCMessage *request, CsiStatus *st,
                                     LogContext *ctx) {
        ProtobufCMessage *response = rpc_call_alloc(c, m->response->sizeof_message);

        if (!response) {
                csi_status_set(st, CSI_RESOURCE_EXHAUSTED, "%s: out of memory", ctx->method);
                return NULL;
        }
        protobuf_c_message_init(m->response, response);
        m->handler(c->server->userdata, c, request, response, st, ctx);
        return response;
}

static void handle_registered(RpcCall *c) {
        const RpcMethod *m = c->rm->method;
        CsiStatus st = CSI_STATUS_INIT;
        ProtobufCMessage *request, *response = NULL;
        char reqid[32];
        uint64_t start = now_usec(), usec;
        LogContext ctx = { .method = short_name(m->path), .request_id = reqid };

        (void)snprintf(reqid, sizeof(reqid), "%lu",
                       atomic_fetch_add(&c->server->next_request_id, 1) + 1);
        log_context_push(&ctx);

        request = unpack_request(c, m, ctx.method, &st);
        if (request) {
                /* so the dump can be found by volume (the handler sets these again) */
                ctx.volume_id = request_string(request, "volume_id");
                ctx.target_path = request_string(request, "target_path");
                log_message_debug(ctx.method, "request", request);
                response = run_handler(c, m, request, &st, &ctx);
        }
        if (response && st.code == CSI_OK)
                log_message_debug(ctx.method, "response", response);
        usec = now_usec() - start;
        log_outcome(ctx.method, &st, usec, m->ok_log_level);
        metrics_csi_request(c->server->metrics, ctx.method, (int)st.code, usec);
        log_context_pop(&ctx);

        /* pack before the request goes: handlers may point into it */
        start_reply(c, &st, response);
        if (request) {
                proto_wipe_strings(request);
                protobuf_c_message_free_unpacked(request, NULL);
        }
}

static void handle_generic(RpcCall *c) {
        CsiStatus st = CSI_STATUS_INIT;
        char method[160];
        size_t n = GRPC_SLICE_LENGTH(c->details.method);

        if (n >= sizeof(method))
                n = sizeof(method) - 1;
        memcpy(method, GRPC_SLICE_START_PTR(c->details.method), n);
        method[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)method[i] < 0x20 || method[i] == 0x7f)
                        method[i] = '?';
        csi_status_set(&st, CSI_UNIMPLEMENTED, "unknown method '%s'", method);
        log_outcome(method, &st, 0, LOG_LEVEL_DEBUG);
        metrics_csi_request(c->server->metrics, NULL, (int)st.code, 0); /* "unknown" */
        start_reply(c, &st, NULL);
}

static void *lane_thread(void *arg) {
        Lane *lane = arg;
        for (;;) {
                grpc_event ev = grpc_completion_queue_next(
                        lane->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                if (*(TagKind *)ev.tag == TAG_SHUTDOWN) {
                        RpcServer *s =
                                (RpcServer *)((char *)ev.tag - offsetof(RpcServer, shutdown_tag));
                        pthread_mutex_lock(&s->lock);
                        s->shutdown_done = true;
                        pthread_cond_broadcast(&s->cond);
                        pthread_mutex_unlock(&s->lock);
                        continue;
                }
                RpcCall *c = ev.tag;
                if (c->sending || !ev.success) {
                        /* reply sent (or the request was cancelled by shutdown) */
                        call_free(c);
                        continue;
                }
                RpcServer *s = c->server;
                /* keep one request outstanding per method before doing the work */
                if (!atomic_load(&s->stopping))
                        (void)request_call(s, c->rm, c->lane);
                pthread_mutex_lock(&s->lock);
                s->handlers_running++;
                pthread_mutex_unlock(&s->lock);
                if (c->rm)
                        handle_registered(c);
                else
                        handle_generic(c);
                pthread_mutex_lock(&s->lock);
                if (--s->handlers_running == 0)
                        pthread_cond_broadcast(&s->cond);
                pthread_mutex_unlock(&s->lock);
        }
        return NULL;
}

/* ---- server lifecycle ---- */

/* `polls`: the lane's threads poll the sockets while they wait (one lane
 * only); otherwise they wait for completions alone. */
static int lane_init(Lane *lane, unsigned n_threads, bool polls) {
        grpc_completion_queue_attributes attr = { GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT,
                                                  polls ? GRPC_CQ_DEFAULT_POLLING
                                                        : GRPC_CQ_NON_POLLING,
                                                  NULL };
        lane->cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr,
                                                NULL);
        if (!lane->cq)
                return -ENOMEM;
        lane->threads = calloc(n_threads, sizeof(pthread_t));
        if (!lane->threads)
                return -ENOMEM;
        lane->n_threads = n_threads;
        return 0;
}

/* The server's channel arguments; `quota` is referenced by them. */
static void server_args(grpc_arg args[static SERVER_ARGS], grpc_resource_quota *quota) {
        /* Bounded requests (CSI requests are small): MAX_REQUEST_BYTES is
         * gRPC's own default limit, so no argument sets it. Every argument
         * is converted again for each new connection, three times, which
         * costs more than the limit's own check (30-50 k instructions per
         * publish+unpublish pair for this one). */
        _Static_assert(MAX_REQUEST_BYTES == GRPC_DEFAULT_MAX_RECV_MESSAGE_LENGTH,
                       "the request limit is gRPC's default");
        /* no channelz: nobody queries it, and it keeps per-connection records */
        args[0].type = GRPC_ARG_INTEGER;
        args[0].key = (char *)GRPC_ARG_ENABLE_CHANNELZ;
        args[0].value.integer = 0;
        /* no bandwidth-delay probing: its pings tune flow-control windows
         * for bulk transfers; a CSI call is a few hundred bytes on a
         * connection of its own, and the pings cost wake-ups */
        args[1].type = GRPC_ARG_INTEGER;
        args[1].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
        args[1].value.integer = 0;
        /* a memory quota for everything gRPC holds: the size limit alone
         * does not bound memory, since gRPC reads a message whole before
         * anyone checks its size; past the quota gRPC resets streams to get
         * memory back (RESOURCE_EXHAUSTED to their clients) */
        args[2].type = GRPC_ARG_POINTER;
        args[2].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
        args[2].value.pointer.p = quota;
        args[2].value.pointer.vtable = grpc_resource_quota_arg_vtable();
}

int rpc_server_new(RpcServer **ret, const RpcMethod *methods, size_t n_methods, void *userdata,
                   unsigned workers) {
        RpcServer *s;
        grpc_arg args[SERVER_ARGS];
        grpc_channel_args cargs = { .num_args = SERVER_ARGS, .args = args };
        grpc_resource_quota *quota;
        int r;

        if (workers == 0)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->shutdown_tag.kind = TAG_SHUTDOWN;
        s->userdata = userdata;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);

        if ((r = lane_init(&s->fast, 1, true)) < 0 ||
            (r = lane_init(&s->work, workers, false)) < 0) {
                rpc_server_free(s);
                return r;
        }
        quota = grpc_resource_quota_create("vaultmount");
        grpc_resource_quota_resize(quota, GRPC_MEMORY_QUOTA_BYTES);
        server_args(args, quota);
        s->server = grpc_server_create(&cargs, NULL);
        grpc_resource_quota_unref(quota); /* the server holds its own reference */
        if (!s->server) {
                rpc_server_free(s);
                return -ENOMEM;
        }
        grpc_server_register_completion_queue(s->server, s->fast.cq, NULL);
        grpc_server_register_completion_queue(s->server, s->work.cq, NULL);

        s->methods = calloc(n_methods, sizeof(*s->methods));
        if (!s->methods) {
                rpc_server_free(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_methods; i++) {
                RegisteredMethod *rm = &s->methods[i];
                rm->method = &methods[i];
                rm->lane = methods[i].fast ? &s->fast : &s->work;
                rm->handle =
                        grpc_server_register_method(s->server, methods[i].path, NULL,
                                                    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
                if (!rm->handle) {
                        rpc_server_free(s);
                        return -EINVAL;
                }
        }
        s->n_methods = n_methods;
        *ret = s;
        return 0;
}

/* Is something accepting connections on this socket path? */
static bool socket_is_live(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        memcpy(sa.sun_path, path, strlen(path));
        return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int mkdir_parents(const char *path) {
        char buf[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
        size_t n = strlen(path);
        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

int rpc_server_listen_unix(RpcServer *s, const char *path, gid_t gid, char *err, size_t errlen) {
        struct stat st;
        char addr[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
        grpc_server_credentials *creds;
        mode_t old_umask;
        int port, r;

        if (s->n_sockets >= MAX_SOCKETS || s->started)
                return -EINVAL;
        if (strlen(path) + 1 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
                (void)snprintf(err, errlen, "socket path '%s' is too long", path);
                return -ENAMETOOLONG;
        }
        r = mkdir_parents(path);
        if (r < 0) {
                (void)snprintf(err, errlen, "cannot create the directory of '%s': %s", path,
                               strerror(-r));
                return r;
        }
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        (void)snprintf(err, errlen,
                                       "'%s' exists and is not a socket; refusing to replace it",
                                       path);
                        return -EEXIST;
                }
                /* gRPC unlinks and rebinds a live socket silently: check first */
                if (socket_is_live(path)) {
                        (void)snprintf(err, errlen,
                                       "another process is listening on '%s' (is vaultmountd "
                                       "already running?)",
                                       path);
                        return -EADDRINUSE;
                }
                if (unlink(path) < 0 && errno != ENOENT) {
                        r = -errno;
                        (void)snprintf(err, errlen, "cannot remove the stale socket '%s': %s", path,
                                       strerror(errno));
                        return r;
                }
        }

        (void)snprintf(addr, sizeof(addr), "unix:%s", path);
        creds = grpc_insecure_server_credentials_create();
        /* the socket is born 0600: no window in which others could connect */
        old_umask = umask(0177);
        port = grpc_server_add_http2_port(s->server, addr, creds);
        umask(old_umask);
        grpc_server_credentials_release(creds);
        if (port == 0) {
                (void)snprintf(err, errlen, "cannot listen on '%s'", path);
                return -EADDRNOTAVAIL;
        }
        s->sockets[s->n_sockets] = strdup(path);
        if (!s->sockets[s->n_sockets])
                return -ENOMEM;
        s->n_sockets++;
        if (gid != (gid_t)-1) {
                if (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0) {
                        r = -errno;
                        (void)snprintf(err, errlen, "cannot give group %u access to '%s': %s",
                                       (unsigned)gid, path, strerror(errno));
                        return r;
                }
        }
        return 0;
}

int rpc_server_start(RpcServer *s) {
        int r;

        grpc_server_start(s->server);
        s->started = true;

        for (size_t i = 0; i < s->n_methods; i++) {
                r = request_call(s, &s->methods[i], s->methods[i].lane);
                if (r < 0)
                        return r;
        }
        r = request_call(s, NULL, &s->fast); /* unknown methods */
        if (r < 0)
                return r;

        for (Lane *lane = &s->fast; lane; lane = lane == &s->fast ? &s->work : NULL)
                for (unsigned i = 0; i < lane->n_threads; i++) {
                        r = pthread_create(&lane->threads[i], NULL, lane_thread, lane);
                        if (r != 0)
                                return -r;
                        lane->started++;
                }
        return 0;
}

static bool wait_shutdown_done(RpcServer *s, uint64_t usec) {
        struct timespec deadline;
        bool done;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += (time_t)(usec / 1000000);
        deadline.tv_nsec += (long)(usec % 1000000) * 1000;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        while (!s->shutdown_done)
                if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
                        break;
        done = s->shutdown_done;
        pthread_mutex_unlock(&s->lock);
        return done;
}

static void remove_sockets(RpcServer *s) {
        for (size_t i = 0; i < s->n_sockets; i++)
                if (s->sockets[i])
                        (void)unlink(s->sockets[i]);
}

uint64_t rpc_server_calls_received(const RpcServer *s) {
        return s ? (uint64_t)atomic_load(&((RpcServer *)s)->next_request_id) : 0;
}

void rpc_server_shutdown(RpcServer *s, uint64_t grace_usec) {
        if (!s || s->shut_down)
                return;
        s->shut_down = true;
        atomic_store(&s->stopping, true);

        if (s->started) {
                grpc_server_shutdown_and_notify(s->server, s->fast.cq, &s->shutdown_tag);
                /* the listener is closed now: the socket file can go */
                remove_sockets(s);
                if (!wait_shutdown_done(s, grace_usec)) {
                        log_warning("in-flight calls still running after the shutdown grace "
                                    "period; cancelling them");
                        grpc_server_cancel_all_calls(s->server);
                        while (!wait_shutdown_done(s, SHUTDOWN_CANCEL_WAIT_USEC))
                                log_warning("still waiting for cancelled calls to end");
                }
                /*
                 * A cancelled call counts as done for gRPC while its handler
                 * may still run; the handler then starts its reply batch on
                 * our queue, so the queues must outlive every handler.
                 */
                pthread_mutex_lock(&s->lock);
                while (s->handlers_running > 0)
                        pthread_cond_wait(&s->cond, &s->lock);
                pthread_mutex_unlock(&s->lock);
        }
        grpc_completion_queue_shutdown(s->fast.cq);
        grpc_completion_queue_shutdown(s->work.cq);
        for (Lane *lane = &s->fast; lane; lane = lane == &s->fast ? &s->work : NULL) {
                for (unsigned i = 0; i < lane->started; i++)
                        pthread_join(lane->threads[i], NULL);
                lane->started = 0;
        }
        remove_sockets(s);
}

RpcServer *rpc_server_free(RpcServer *s) {
        if (!s)
                return NULL;
        if (s->server && !s->shut_down) {
                if (s->started)
                        rpc_server_shutdown(s, 0);
                else {
                        /* never started: the shutdown tag is drained below */
                        s->shut_down = true;
                        grpc_server_shutdown_and_notify(s->server, s->fast.cq, &s->shutdown_tag);
                        remove_sockets(s);
                }
        }
        for (Lane *lane = &s->fast; lane; lane = lane == &s->fast ? &s->work : NULL) {
                if (!lane->cq)
                        continue;
                grpc_completion_queue_shutdown(lane->cq);
                for (;;) {
                        grpc_event ev = grpc_completion_queue_next(
                                lane->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                        if (ev.type == GRPC_QUEUE_SHUTDOWN)
                                break;
                        if (ev.type == GRPC_OP_COMPLETE && *(TagKind *)ev.tag == TAG_SLOT)
                                call_free(ev.tag);
                }
        }
        if (s->server)
                grpc_server_destroy(s->server);
        for (Lane *lane = &s->fast; lane; lane = lane == &s->fast ? &s->work : NULL) {
                if (lane->cq)
                        grpc_completion_queue_destroy(lane->cq);
                free(lane->threads);
        }
        for (size_t i = 0; i < s->n_sockets; i++)
                free(s->sockets[i]);
        free(s->methods);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        return NULL;
}

size_t rpc_server_socket_paths(RpcServer *s, const char **ret, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_sockets && n < max; i++)
                ret[n++] = s->sockets[i];
        return n;
}

/* ---- client ---- */

struct RpcClient {
        grpc_channel *channel;
        grpc_completion_queue *cq;
        uintptr_t next_tag;
};

int rpc_client_new(RpcClient **ret, const char *socket_path) {
        char target[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
        grpc_channel_credentials *creds;
        RpcClient *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        (void)snprintf(target, sizeof(target), "unix:%s", socket_path);
        creds = grpc_insecure_credentials_create();
        c->channel = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        c->cq = grpc_completion_queue_create_for_pluck(NULL);
        if (!c->channel || !c->cq) {
                rpc_client_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

RpcClient *rpc_client_free(RpcClient *c) {
        if (!c)
                return NULL;
        if (c->channel)
                grpc_channel_destroy(c->channel);
        if (c->cq) {
                grpc_completion_queue_shutdown(c->cq);
                while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                                   NULL)
                               .type != GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(c->cq);
        }
        free(c);
        return NULL;
}

/* What one unary client call sends and receives. */
typedef struct ClientExchange {
        grpc_metadata_array initial_md, trailing_md;
        grpc_byte_buffer *send_bb, *recv_bb;
        grpc_status_code code;
        grpc_slice details;
        const char *error_string;
        grpc_op ops[6];
} ClientExchange;

/* The request packed, and the six operations of a unary call. */
static void exchange_init(ClientExchange *x, const ProtobufCMessage *request) {
        grpc_slice slice = grpc_slice_malloc(protobuf_c_message_get_packed_size(request));
        grpc_op *ops = x->ops;

        *x = (ClientExchange){ .code = GRPC_STATUS_UNKNOWN, .details = grpc_empty_slice() };
        protobuf_c_message_pack(request, GRPC_SLICE_START_PTR(slice));
        x->send_bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        grpc_metadata_array_init(&x->initial_md);
        grpc_metadata_array_init(&x->trailing_md);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = x->send_bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &x->recv_bb;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &x->trailing_md;
        ops[5].data.recv_status_on_client.status = &x->code;
        ops[5].data.recv_status_on_client.status_details = &x->details;
        ops[5].data.recv_status_on_client.error_string = &x->error_string;
}

static void exchange_done(ClientExchange *x) {
        gpr_free((void *)x->error_string);
        grpc_slice_unref(x->details);
        grpc_metadata_array_destroy(&x->initial_md);
        grpc_metadata_array_destroy(&x->trailing_md);
        grpc_byte_buffer_destroy(x->send_bb);
        if (x->recv_bb)
                grpc_byte_buffer_destroy(x->recv_bb);
}

/* The completed call's status, and its response when it is OK. */
static int exchange_result(ClientExchange *x, const ProtobufCMessageDescriptor *response_desc,
                           ProtobufCMessage **ret_response, CsiStatus *status) {
        uint8_t *data;
        size_t len;
        int r;

        if (x->code != GRPC_STATUS_OK) {
                char *msg = grpc_slice_to_c_string(x->details);
                csi_status_set(status, (CsiCode)x->code, "%s",
                               msg && *msg ? msg : strempty(x->error_string));
                gpr_free(msg);
                return 0;
        }
        if (!x->recv_bb) {
                csi_status_set(status, CSI_INTERNAL, "the reply has no message");
                return 0;
        }
        r = read_payload(x->recv_bb, &data, &len);
        if (r < 0)
                return r;
        *ret_response = protobuf_c_message_unpack(response_desc, NULL, len, data);
        free(data);
        if (!*ret_response)
                csi_status_set(status, CSI_INTERNAL, "malformed %s in the reply",
                               response_desc->name);
        else
                csi_status_set(status, CSI_OK, "OK");
        return 0;
}

int rpc_client_call(RpcClient *cl, const char *method, const ProtobufCMessage *request,
                    const ProtobufCMessageDescriptor *response_desc, uint64_t timeout_usec,
                    ProtobufCMessage **ret_response, CsiStatus *status) {
        gpr_timespec deadline =
                gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                             gpr_time_from_micros((int64_t)timeout_usec, GPR_TIMESPAN));
        void *tag = (void *)++cl->next_tag;
        ClientExchange x;
        grpc_call *call;
        grpc_event ev;
        int r = -EIO;

        *ret_response = NULL;
        call = grpc_channel_create_call(cl->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cl->cq,
                                        grpc_slice_from_static_string(method), NULL, deadline,
                                        NULL);
        exchange_init(&x, request);
        if (grpc_call_start_batch(call, x.ops, ELEMENTSOF(x.ops), tag, NULL) == GRPC_CALL_OK) {
                ev = grpc_completion_queue_pluck(cl->cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                                 NULL);
                if (ev.type == GRPC_OP_COMPLETE)
                        r = exchange_result(&x, response_desc, ret_response, status);
        }
        exchange_done(&x);
        grpc_call_unref(call);
        return r;
}

int rpc_client_unary(const char *socket_path, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *response_desc, uint64_t timeout_usec,
                     ProtobufCMessage **ret_response, CsiStatus *status) {
        RpcClient *c = NULL;
        int r;

        *ret_response = NULL;
        r = rpc_client_new(&c, socket_path);
        if (r < 0)
                return r;
        r = rpc_client_call(c, method, request, response_desc, timeout_usec, ret_response, status);
        rpc_client_free(c);
        return r;
}

const char *rpc_library_version(void) {
        return grpc_version_string();
}
