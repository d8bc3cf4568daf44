/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h - small helpers shared by the Check unit tests. */
#pragma once

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Runs one suite, prints Check's summary, returns the process exit code. */
int testutil_run(Suite *s);
/* Parses "0a 1b ..." (whitespace ignored) into bytes; returns the length. */
size_t testutil_hex(const char *hex, uint8_t *out, size_t max);
/* Formats bytes as hex for failure messages (static buffer per thread). */
const char *testutil_tohex(const uint8_t *p, size_t n);
