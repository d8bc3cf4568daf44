/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc-server.h - unary gRPC services on gRPC C core, and a unary client.
 *
 * The only module that includes <grpc/...>. Callers describe their methods
 * in an RpcMethod table (path, protobuf-c descriptors, handler, lane) and
 * never see gRPC types.
 *
 * Lanes: methods marked `fast` are requested on their own completion queue
 * with one thread (Identity, NodeGetCapabilities, NodeGetInfo, plugin
 * registration, unknown methods); the rest go to a queue served by N worker
 * threads. With every worker stuck in a slow handler the fast lane still
 * answers at once. The fast lane's queue is the only one that polls: its
 * thread reads and writes the sockets and hands each slow call to a worker
 * once; the workers only wait for calls. (When every worker polled too,
 * each call bounced between pollers: twice the context switches per call,
 * about 14 % more CPU per publish+unpublish pair; test/bench.) Every call
 * is bound to the polling queue, so the polling thread also frees each call
 * once its reply is sent and the client has closed. Fast handlers must
 * therefore never block.
 *
 * Requests over 4 MiB end in RESOURCE_EXHAUSTED (gRPC's own check, made
 * once it has read the message); a 32 MiB memory quota bounds what gRPC
 * holds for all connections together, so a huge request is reset before it
 * is read whole.
 *
 * The edge: every call's outcome is logged once here (method, code,
 * duration; volume fields come from the LogContext the handler fills in).
 * Malformed request bytes end in INVALID_ARGUMENT, unknown methods in
 * UNIMPLEMENTED. Request bytes are wiped after use (they may carry the
 * `secrets` map); gRPC's own receive buffers are beyond our reach.
 *
 * Thread-safety: handlers run concurrently on worker threads and must be
 * thread-safe. rpc_server_* calls come from one controlling thread.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "status.h"

typedef struct RpcServer RpcServer;
typedef struct RpcCall RpcCall;

/*
 * A handler fills `response` (already initialised with its descriptor) and
 * sets `status` on failure (left unset means OK). It may fill `log_ctx`
 * (volume id, target path, pod) with pointers into `request`. Memory for the
 * response comes from rpc_call_alloc().
 */
typedef void (*RpcHandlerFn)(void *userdata, RpcCall *call, const ProtobufCMessage *request,
                             ProtobufCMessage *response, CsiStatus *status, LogContext *log_ctx);

typedef struct RpcMethod {
        const char *path; /* "/csi.v1.Identity/Probe" */
        const ProtobufCMessageDescriptor *request;
        const ProtobufCMessageDescriptor *response;
        RpcHandlerFn handler;
        bool fast;        /* served on the fast lane */
        int ok_log_level; /* level of the outcome line when OK */
} RpcMethod;

/* Zeroed memory that lives until the call has been answered. NULL on OOM. */
void *rpc_call_alloc(RpcCall *call, size_t size);
char *rpc_call_strdup(RpcCall *call, const char *s);

/* grpc_init() and routing of gRPC's own log output into log.h; also turns
 * off abseil's debug-only lock checks where the running abseil has them
 * (logged at debug level). */
void rpc_runtime_init(void);
void rpc_runtime_done(void);

int rpc_server_new(RpcServer **ret, const RpcMethod *methods, size_t n_methods, void *userdata,
                   unsigned workers);

/*
 * Listens on a unix socket. Refuses when another process is listening there
 * (-EADDRINUSE) or the path is not a socket (-EEXIST); removes a stale
 * socket. The socket is created 0600, or 0660 owned by `gid` when gid is not
 * (gid_t)-1. Creates the parent directory (0755) when missing.
 */
int rpc_server_listen_unix(RpcServer *s, const char *path, gid_t gid, char *err, size_t errlen);
int rpc_server_start(RpcServer *s);
/* Counts every call (method, code, duration) in `metrics`; before
 * rpc_server_start(). */
struct Metrics;
void rpc_server_set_metrics(RpcServer *s, struct Metrics *metrics);

/*
 * Stops accepting calls, lets in-flight calls finish within grace_usec, then
 * cancels the rest; joins the threads and removes the sockets. Idempotent.
 */
/* How many calls the server has received so far (any method). Thread-safe. */
uint64_t rpc_server_calls_received(const RpcServer *s);

void rpc_server_shutdown(RpcServer *s, uint64_t grace_usec);
RpcServer *rpc_server_free(RpcServer *s);
static inline void rpc_server_freep(RpcServer **s) {
        rpc_server_free(*s);
}

/* Socket paths being listened on (for an emergency unlink on a 2nd signal). */
size_t rpc_server_socket_paths(RpcServer *s, const char **ret, size_t max);

/* A client connection to a unix socket, reused across calls. */
typedef struct RpcClient RpcClient;
int rpc_client_new(RpcClient **ret, const char *socket_path);
RpcClient *rpc_client_free(RpcClient *c);
int rpc_client_call(RpcClient *c, const char *method, const ProtobufCMessage *request,
                    const ProtobufCMessageDescriptor *response_desc, uint64_t timeout_usec,
                    ProtobufCMessage **ret_response, CsiStatus *status);

/*
 * One unary call over a new connection to a unix socket. On success *ret_response is unpacked
 * (free with protobuf_c_message_free_unpacked) and status is OK; on a gRPC
 * error status holds the code and message and *ret_response is NULL.
 * Returns 0 when a status was obtained, negative errno otherwise.
 */
int rpc_client_unary(const char *socket_path, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *response_desc, uint64_t timeout_usec,
                     ProtobufCMessage **ret_response, CsiStatus *status);

/* The version of the gRPC core library loaded at run time ("29.0.0"). */
const char *rpc_library_version(void);
