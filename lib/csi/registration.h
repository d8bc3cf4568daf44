/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registration.h - kubelet plugin registration, served by the daemon itself
 * (what the node-driver-registrar sidecar does elsewhere).
 *
 * A small RpcServer of its own (one fast-lane thread, every method fast)
 * serves pluginregistration.Registration on
 * `<registration-dir>/<driver-name>-reg.sock`:
 *   - GetInfo: type "CSIPlugin", the driver name, the CSI endpoint as kubelet
 *     sees it (`kubelet-endpoint`, default the endpoint's path) and
 *     supported_versions ["1.0.0"]. Kubelet gives it a 1 s deadline; being on
 *     its own server and thread, it never waits behind the CSI workers.
 *   - NotifyRegistrationStatus: true is logged; false is logged with
 *     kubelet's reason and makes a controller thread remove the socket and
 *     create it again after a backoff (1 s doubling to 2 min, reset by a true
 *     notification). Kubelet does not retry a failed registration by itself:
 *     only a new socket (a new timestamp) makes it try again.
 * The socket is removed by registration_stop(), so kubelet deregisters the
 * driver on shutdown. When the socket cannot be created (the directory is not
 * writable, another process serves it) the daemon keeps serving CSI and the
 * controller retries with the same backoff, warning each time.
 *
 * Logs at the edge like an RPC handler: kubelet's verdicts and the
 * controller's retries are operator-visible events.
 *
 * Thread-safety: registration_start/stop/free come from main()'s thread; the
 * handlers and the controller thread share state under a mutex.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define REGISTRATION_PLUGIN_TYPE      "CSIPlugin"
#define REGISTRATION_BACKOFF_MIN_USEC (1ULL * 1000000)
#define REGISTRATION_BACKOFF_MAX_USEC (120ULL * 1000000)

typedef struct Registration Registration;

struct Metrics;
int registration_start(Registration **ret, const Config *c, struct Metrics *metrics, char *err,
                       size_t errlen);
void registration_stop(Registration *r);
Registration *registration_free(Registration *r);
static inline void registration_freep(Registration **r) {
        registration_free(*r);
}

/* The registration socket's path (fixed for the daemon's life), or NULL. */
const char *registration_socket_path(const Registration *r);

/* Pure helpers (unit-tested). */
int registration_paths(const Config *c, char **ret_socket, char **ret_endpoint, char *err,
                       size_t errlen);
uint64_t registration_backoff_next(uint64_t cur_usec);
