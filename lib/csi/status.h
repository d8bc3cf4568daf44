/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.h - CsiStatus: the gRPC status code and message an RPC ends with.
 *
 * Codes mirror grpc_status_code numerically (CSI spec "Error Scheme") so that
 * nothing outside grpc-server needs gRPC headers. Setting a status is
 * "first wins" (curl's failf): the root cause survives later cleanup errors.
 *
 * Messages go to kubelet, which copies them into pod Events: build them only
 * from validated identifiers, attribute names and strerror(). Never a token,
 * JWT, secret value, request `secrets` entry or Vault response body.
 *
 * Thread-safety: a CsiStatus belongs to one call; no shared state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vault-json.h"

typedef enum CsiCode {
        CSI_OK = 0,
        CSI_CANCELLED = 1,
        CSI_UNKNOWN = 2,
        CSI_INVALID_ARGUMENT = 3,
        CSI_DEADLINE_EXCEEDED = 4,
        CSI_NOT_FOUND = 5,
        CSI_ALREADY_EXISTS = 6,
        CSI_PERMISSION_DENIED = 7,
        CSI_RESOURCE_EXHAUSTED = 8,
        CSI_FAILED_PRECONDITION = 9,
        CSI_ABORTED = 10,
        CSI_OUT_OF_RANGE = 11,
        CSI_UNIMPLEMENTED = 12,
        CSI_INTERNAL = 13,
        CSI_UNAVAILABLE = 14,
        CSI_DATA_LOSS = 15,
        CSI_UNAUTHENTICATED = 16,
        _CSI_CODE_MAX,
} CsiCode;

#define CSI_STATUS_MESSAGE_MAX 512

typedef struct CsiStatus {
        CsiCode code;
        bool set;
        char message[CSI_STATUS_MESSAGE_MAX];
} CsiStatus;

#define CSI_STATUS_INIT                                                                            \
        { .code = CSI_OK, .set = false, .message = "" }

/* Sets code and message unless a status was set already (first wins). */
void csi_status_set(CsiStatus *s, CsiCode code, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Maps a negative errno to a code (style guide section 3 table). For an
 * errno that describes the caller's request; a local syscall failure is
 * csi_code_from_local(). */
CsiCode csi_code_from_errno(int r);

/* A failure of the daemon's own work (a syscall on its files or mounts):
 * RESOURCE_EXHAUSTED when a resource ran out (memory, space, descriptors,
 * quota), INTERNAL for anything else. Never a code that blames the caller. */
CsiCode csi_code_from_local(int r);

/*
 * The one place where Vault's outcome classes (vault-json.h VAULT_E_*)
 * become CSI codes (style guide section 3 table): 0 → OK; LOGIN_REJECTED → UNAUTHENTICATED; DENIED
 * → PERMISSION_DENIED; NOT_FOUND → NOT_FOUND; BAD_REQUEST → INVALID_ARGUMENT; UNAVAILABLE, SEALED,
 * RATE_LIMITED, TLS, PROTOCOL → UNAVAILABLE; TOO_LARGE → RESOURCE_EXHAUSTED;
 * CONFIG → FAILED_PRECONDITION; -errno → csi_code_from_errno().
 */
CsiCode vault_error_to_csi_code(int r);

/* "INVALID_ARGUMENT", ...; "CODE_UNKNOWN" for values outside the enum. */
const char *csi_code_to_string(CsiCode code);

/*
 * Non-final codes leave kubelet's volume "uncertain" and keep the mount
 * (csi-facts section 3.4): CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE,
 * RESOURCE_EXHAUSTED, ABORTED.
 */
bool csi_code_is_final(CsiCode code);
