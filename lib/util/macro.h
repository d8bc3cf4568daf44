/* SPDX-License-Identifier: Apache-2.0 */
/*
 * macro.h - attributes, scope-bound cleanup helpers, ownership transfer,
 * checked size arithmetic and the list of banned functions.
 *
 * Every lib/ and cmd/ source includes this header after its system headers,
 * so the poisoned identifiers at the bottom are rejected at compile time.
 * Header only; no state; thread-safe.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _must_check_   __attribute__((warn_unused_result))
#define _noreturn_     __attribute__((noreturn))
#define _fallthrough_  __attribute__((fallthrough))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)

/* Number of elements of a true array (fails to compile on a pointer). */
#define ELEMENTSOF(x)                                                                              \
        (__extension__(__builtin_choose_expr(                                                      \
                !__builtin_types_compatible_p(__typeof__(x), __typeof__(&*(x))),                   \
                sizeof(x) / sizeof((x)[0]), (void)0)))

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _take_tmp_ = (p);                                                    \
                (p) = NULL;                                                                        \
                _take_tmp_;                                                                        \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _take_fd_ = (fd);                                                              \
                (fd) = -1;                                                                         \
                _take_fd_;                                                                         \
        })

/* The value of expr, read with the pthread mutex *m held (a one-field getter). */
#define LOCKED_READ(m, expr)                                                                       \
        ({                                                                                         \
                pthread_mutex_lock(m);                                                             \
                __typeof__(expr) _locked_value_ = (expr);                                          \
                pthread_mutex_unlock(m);                                                           \
                _locked_value_;                                                                    \
        })

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void)close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Closes fd if open (errno kept) and returns -1, for "fd = safe_close(fd)". */
static inline int safe_close(int fd) {
        closep(&fd);
        return -1;
}

/* Checked size arithmetic: return false on overflow, *ret untouched then. */
static inline bool size_add(size_t a, size_t b, size_t *ret) {
        size_t r;
        if (__builtin_add_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}
static inline bool size_mul(size_t a, size_t b, size_t *ret) {
        size_t r;
        if (__builtin_mul_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline const char *strempty(const char *s) {
        return s ? s : "";
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}

/*
 * Banned functions (curl's checksrc list, systemd's rules). Poisoning must
 * come after every system header, which is why this header is included last.
 */
#undef alloca
#pragma GCC poison strcpy strcat sprintf vsprintf gets strtok atoi atol atoll system popen tmpnam  \
        alloca
