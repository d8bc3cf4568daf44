/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - CsiStatus helpers and the errno → gRPC code mapping.
 * Never logs. Thread-safe (no state).
 */
#include <stdarg.h>
#include <stdio.h>

#include "metrics.h"
#include "status.h"
#include "macro.h"

/* The names are the metrics' `code` label values, kept once (util/metrics.c). */
_Static_assert(_CSI_CODE_MAX == METRICS_CSI_CODES, "one name per gRPC code");

void csi_status_set(CsiStatus *s, CsiCode code, const char *format, ...) {
        va_list ap;

        if (s->set)
                return;
        s->set = true;
        s->code = code;
        va_start(ap, format);
        (void)vsnprintf(s->message, sizeof(s->message), format, ap);
        va_end(ap);
        /* A status message is one line: kubelet puts it in an Event. */
        for (char *p = s->message; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = ' ';
}

CsiCode csi_code_from_errno(int r) {
        switch (r < 0 ? -r : r) {
        case 0:
                return CSI_OK;
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE:
        case E2BIG:
        case EDQUOT:
                return CSI_RESOURCE_EXHAUSTED;
        case EINVAL:
                return CSI_INVALID_ARGUMENT;
        case ENOENT:
                return CSI_NOT_FOUND;
        case EEXIST:
                return CSI_ALREADY_EXISTS;
        case EACCES:
        case EPERM:
                return CSI_PERMISSION_DENIED;
        case EBUSY:
        case EAGAIN:
                return CSI_ABORTED;
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENETDOWN:
        case EPIPE:
                return CSI_UNAVAILABLE;
        case ENOSYS:
        case EOPNOTSUPP:
                return CSI_UNIMPLEMENTED;
        default:
                return CSI_INTERNAL;
        }
}

const char *csi_code_to_string(CsiCode code) {
        if ((unsigned)code < _CSI_CODE_MAX)
                return metrics_csi_code_name((int)code);
        return "CODE_UNKNOWN";
}

bool csi_code_is_final(CsiCode code) {
        switch (code) {
        case CSI_CANCELLED:
        case CSI_DEADLINE_EXCEEDED:
        case CSI_UNAVAILABLE:
        case CSI_RESOURCE_EXHAUSTED:
        case CSI_ABORTED:
                return false;
        default:
                return true;
        }
}

CsiCode csi_code_from_local(int r) {
        switch (r < 0 ? -r : r) {
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE:
        case EDQUOT:
                return CSI_RESOURCE_EXHAUSTED;
        default:
                return CSI_INTERNAL;
        }
}

/**
 * vault_error_to_csi_code() - the gRPC code for a Vault call's result.
 * @r: 0, a VAULT_E_* outcome, or a negative errno.
 *
 * See status.h for the table; transport-level troubles (TLS, protocol)
 * are UNAVAILABLE so that kubelet retries instead of failing the pod.
 */
CsiCode vault_error_to_csi_code(int r) {
        if (r < 0)
                return csi_code_from_errno(r);
        switch (r) {
        case 0:
                return CSI_OK;
        case VAULT_E_LOGIN_REJECTED:
                return CSI_UNAUTHENTICATED;
        case VAULT_E_DENIED:
                return CSI_PERMISSION_DENIED;
        case VAULT_E_NOT_FOUND:
                return CSI_NOT_FOUND;
        case VAULT_E_BAD_REQUEST:
                return CSI_INVALID_ARGUMENT;
        case VAULT_E_UNAVAILABLE:
        case VAULT_E_SEALED:
        case VAULT_E_RATE_LIMITED:
        case VAULT_E_TLS:
        case VAULT_E_PROTOCOL:
                /* Non-final: kubelet keeps the volume "uncertain" and retries. */
                return CSI_UNAVAILABLE;
        case VAULT_E_TOO_LARGE:
                return CSI_RESOURCE_EXHAUSTED;
        case VAULT_E_CONFIG:
                return CSI_FAILED_PRECONDITION;
        default:
                return CSI_INTERNAL;
        }
}
