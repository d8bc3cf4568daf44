/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-metrics.c - operation and result classes of Vault calls (see
 * vault-metrics.h).
 */
#include <string.h>

#include "vault-metrics.h"
#include "macro.h"

MetricsVaultOp vault_metrics_op(VaultOp op, VaultMethod method, const char *url_path) {
        const char *p = strempty(url_path);

        if (op == VAULT_OP_LOGIN_KUBERNETES || op == VAULT_OP_LOGIN_JWT)
                return METRICS_OP_LOGIN;
        if (op == VAULT_OP_LIFECYCLE) {
                if (strstr(p, "/renew-self"))
                        return METRICS_OP_RENEW_SELF;
                if (strstr(p, "/lookup-self"))
                        return METRICS_OP_LOOKUP;
                if (strstr(p, "/revoke"))
                        return METRICS_OP_REVOKE;
                return METRICS_OP_RENEW;
        }
        return method == VAULT_METHOD_GET ? METRICS_OP_READ : METRICS_OP_WRITE;
}

MetricsVaultResult vault_metrics_result(int r, long http_status) {
        if (r == 0)
                return METRICS_RESULT_OK;
        if (http_status == 429 || r == VAULT_E_RATE_LIMITED)
                return METRICS_RESULT_RATE_LIMITED;
        switch (r) {
        case VAULT_E_DENIED:
        case VAULT_E_LOGIN_REJECTED:
                return METRICS_RESULT_DENIED;
        case VAULT_E_NOT_FOUND:
                return METRICS_RESULT_NOT_FOUND;
        case VAULT_E_UNAVAILABLE:
        case VAULT_E_SEALED:
                return METRICS_RESULT_UNAVAILABLE;
        default:
                return METRICS_RESULT_ERROR;
        }
}
