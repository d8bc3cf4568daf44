/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509.h - the one place that reads X.509 certificates (OpenSSL's X509 API).
 *
 * Pure: no I/O, no logging. Thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* notBefore/notAfter (unix seconds) of the first certificate in a PEM text.
 * -EINVAL when it does not parse, -ENOMEM. */
int x509_pem_times(const char *pem, size_t len, int64_t *ret_not_before, int64_t *ret_not_after);
