/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse.h - strict parsing of numbers, booleans, durations, sizes and modes.
 *
 * Every function matches the whole string (no trailing junk, no leading
 * whitespace, no sign surprises), checks the range, and writes *ret only on
 * success. Errors: -EINVAL (syntax), -ERANGE (out of range). Never logs.
 * Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret);
/* true/false, yes/no, on/off, 1/0 (lower case). */
int parse_bool(const char *s, bool *ret);
/* The value of one hex digit (either case), or -1. */
int hex_digit_value(int c);
/* Go-style durations: "90s", "2m", "1h30m", "250ms", "1.5s"; a bare
 * integer means seconds. Result in microseconds, at most max_usec. */
int parse_duration_usec(const char *s, uint64_t max_usec, uint64_t *ret_usec);
/* Byte sizes: "4096", "64Ki", "16Mi", "1Gi", "10M", "1G" (Kubernetes quantity
 * suffixes, binary and decimal). */
int parse_size(const char *s, uint64_t max, uint64_t *ret);
/* Octal file mode "0440" or "440", at most 07777. */
int parse_mode(const char *s, unsigned *ret);
/* Duration for humans: "1h2m3s", "250ms". buf must hold 32 bytes. */
const char *format_duration(uint64_t usec, char *buf, size_t len);

/*
 * "HOST:PORT": HOST is a name, an IPv4 literal,
 * "[IPv6]" or empty (every address); PORT is 0..65535. Writes HOST (without
 * brackets, "" when empty) into host (hostlen bytes) and the port. -EINVAL.
 */
int parse_host_port(const char *s, char *host, size_t hostlen, uint16_t *ret_port);
