/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - the daemon's clocks and its cheap randomness, once.
 *
 * Times are microseconds: CLOCK_REALTIME for what is persisted or shown
 * (expiry, last success), CLOCK_MONOTONIC for intervals and deadlines.
 * random_u64() is a per-thread xorshift64* seeded from getrandom(): for
 * jitter only, never for anything secret. Thread-safe.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL

uint64_t clock_usec(clockid_t id);
static inline uint64_t realtime_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}
static inline uint64_t monotonic_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}

/* Jitter source (not cryptographic). */
uint64_t random_u64(void);

#include <pthread.h>

/* A condition variable that waits on CLOCK_MONOTONIC. */
void cond_init_monotonic(pthread_cond_t *c);
/* Waits on c (m held) at most `usec` of monotonic time. */
void cond_wait_usec(pthread_cond_t *c, pthread_mutex_t *m, uint64_t usec);
