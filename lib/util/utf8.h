/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.h - the one UTF-8 decoder: shortest form only, no surrogates, at most
 * U+10FFFF (what proto3, JSON and the kernel's file names may carry). Never
 * logs. Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at p (at most n bytes looked at,
 * n >= 1) and its code point in *ret; 0 when invalid or cut off. */
size_t utf8_next(const uint8_t *p, size_t n, uint32_t *ret);

/* True when s (n bytes) is well-formed UTF-8; NULL with n == 0 is. */
bool utf8_valid(const char *s, size_t n);
