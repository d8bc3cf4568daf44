/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault-metrics.h - how one Vault call is counted: its operation
 * (a fixed small set, never a path) and its result class.
 *
 * Pure functions; no I/O, never logs, thread-safe.
 */
#pragma once

#include "metrics.h"
#include "vault.h"

/* The operation of a call: `op` and `method` as vault.c sends them, and the
 * URL path ("/v1/...") only to tell the lifecycle endpoints apart. */
MetricsVaultOp vault_metrics_op(VaultOp op, VaultMethod method, const char *url_path);

/* The result class of a call that returned `r` (0, VAULT_E_*, -errno) with
 * `http_status` the last status seen (0: none). */
MetricsVaultResult vault_metrics_result(int r, long http_status);
