/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.c - clocks and jitter randomness (see clock.h).
 */
#include <sys/random.h>

#include "clock.h"
#include "macro.h"

uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        (void)clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static _Thread_local uint64_t rng_state;

uint64_t random_u64(void) {
        uint64_t x;
        if (rng_state == 0) {
                if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) !=
                            (ssize_t)sizeof(rng_state) ||
                    rng_state == 0)
                        rng_state = monotonic_usec() | 1;
        }
        /* xorshift64* */
        x = rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng_state = x;
        return x * 0x2545F4914F6CDD1DULL;
}

void cond_init_monotonic(pthread_cond_t *c) {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(c, &a);
        pthread_condattr_destroy(&a);
}

void cond_wait_usec(pthread_cond_t *c, pthread_mutex_t *m, uint64_t usec) {
        uint64_t t = monotonic_usec() + usec;
        struct timespec ts = {
                .tv_sec = (time_t)(t / USEC_PER_SEC),
                .tv_nsec = (long)(t % USEC_PER_SEC) * 1000,
        };
        (void)pthread_cond_timedwait(c, m, &ts);
}
