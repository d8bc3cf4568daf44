/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-secret.c - Secret: bounded growth, the NUL after the bytes, wiping,
 * constant-time comparison, the page protections (guard page,
 * MADV_DONTDUMP and mlock as the kernel reports them in /proc/self/smaps),
 * and the slot pool for small secrets: wiped reuse, growth out of a slot,
 * page accounting, canaries, threads, and the mlock failure path.
 *
 * A few tests read a freed slot through a stale pointer to prove it was
 * wiped. The pool marks free slots inaccessible for ASan and valgrind, so
 * those reads go through reveal(), which lifts the mark first.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define REVEAL(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define REVEAL(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#endif
#endif
#ifndef REVEAL
#define REVEAL(p, n) ((void)(p), (void)(n))
#endif

#include "secret.h"

/* The largest usable capacity of a pool slot (class 2048 minus the canary);
 * anything above it gets dedicated pages. */
#define SLOT_CAP_MAX 2040
/* The pool's classes, and the canary at the end of every slot. */
static const size_t classes[] = { 64, 128, 256, 512, 1024, 2048 };
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))
#define CANARY   8

static bool under_valgrind(void) {
        return getenv("VAULTMOUNT_UNDER_VALGRIND") != NULL;
}

/* Lifts the sanitizers' "inaccessible" mark from a freed slot so the test
 * may look at it. */
static const uint8_t *reveal(const uint8_t *p, size_t n) {
        REVEAL((void *)p, n);
        return p;
}

/* Checks assert by assert (each is a mark point, slow under valgrind):
 * scan first. The index of the first non-zero byte in p[from..to), or to. */
static size_t nonzero_at(const uint8_t *p, size_t from, size_t to) {
        while (from < to && p[from] == 0)
                from++;
        return from;
}

static uintptr_t page_of(const void *p) {
        return (uintptr_t)p & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
}

/* A secret of exactly n bytes of `fill`, bound SECRET_SIZE_MAX. */
static Secret *filled(size_t n, uint8_t fill) {
        Secret *s = NULL;
        uint8_t buf[4096];

        ck_assert_uint_le(n, sizeof(buf));
        memset(buf, fill, n);
        ck_assert_int_eq(secret_new(&s, 0), 0);
        ck_assert_int_eq(secret_append(s, buf, n), 0);
        return s;
}

/*
 * Two live secrets of n bytes (so of one class) whose slots share a page,
 * so that the page stays mapped while one of them is freed. Secrets that
 * did not pair up are kept in spares[] (freed by the caller), so the answer
 * does not depend on what earlier tests left in the pool.
 */
#define SPARES 64
static void same_page_pair(size_t n, Secret **ret_a, Secret **ret_b, Secret **spares) {
        Secret *prev = NULL, *cur = NULL;
        size_t k = 0;

        prev = filled(n, 0x5a);
        for (;;) {
                cur = filled(n, 0x5a);
                if (page_of(secret_get(prev, NULL)) == page_of(secret_get(cur, NULL)))
                        break;
                ck_assert_uint_lt(k, SPARES);
                spares[k++] = prev;
                prev = cur;
        }
        ck_assert(secret_pooled(prev) && secret_pooled(cur));
        *ret_a = prev;
        *ret_b = cur;
}

static void free_spares(Secret **spares) {
        for (size_t k = 0; k < SPARES; k++)
                spares[k] = secret_free(spares[k]);
}

START_TEST(test_new_append_get)
{
        Secret *s = NULL;
        const uint8_t *p;
        size_t n = 99;

        ck_assert_int_eq(secret_new(&s, 64), 0);
        p = secret_get(s, &n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(n, 0);
        ck_assert_uint_eq(p[0], 0);
        ck_assert_int_eq(secret_append(s, "abc", 3), 0);
        ck_assert_int_eq(secret_append_str(s, "def"), 0);
        p = secret_get(s, &n);
        ck_assert_uint_eq(n, 6);
        ck_assert_mem_eq(p, "abcdef", 6);
        ck_assert_uint_eq(p[6], 0); /* the NUL the http module relies on */
        ck_assert_uint_eq(secret_size(s), 6);
        ck_assert_uint_eq(secret_max(s), 64);
        ck_assert_int_eq(secret_append(s, NULL, 0), 0);
        ck_assert_int_eq(secret_append(s, NULL, 1), -EINVAL);
        ck_assert_ptr_null(secret_free(s));
        ck_assert_ptr_null(secret_free(NULL));
}
END_TEST

START_TEST(test_bound)
{
        Secret *s = NULL;
        char big[100];
        size_t n;

        memset(big, 'x', sizeof(big));
        ck_assert_int_eq(secret_new(&s, 10), 0);
        ck_assert_int_eq(secret_append(s, big, 10), 0);
        ck_assert_int_eq(secret_append(s, big, 1), -E2BIG);
        /* the content survives a refused append */
        ck_assert_uint_eq(secret_size(s), 10);
        ck_assert_mem_eq(secret_get(s, &n), big, 10);
        secret_free(s);

        ck_assert_int_eq(secret_new(&s, 0), 0);
        ck_assert_uint_eq(secret_max(s), SECRET_SIZE_MAX);
        secret_free(s);
}
END_TEST

START_TEST(test_growth_keeps_content)
{
        Secret *s = NULL;
        size_t total = 0, n;
        const uint8_t *p;
        long ps = sysconf(_SC_PAGESIZE);

        ck_assert_int_eq(secret_new(&s, 0), 0);
        /* Grow across several page boundaries with an odd-sized pattern. */
        for (int i = 0; i < 2000; i++) {
                uint8_t chunk[37];
                for (size_t j = 0; j < sizeof(chunk); j++)
                        chunk[j] = (uint8_t)(total + j);
                ck_assert_int_eq(secret_append(s, chunk, sizeof(chunk)), 0);
                total += sizeof(chunk);
        }
        ck_assert_uint_gt(total, (size_t)ps * 10);
        p = secret_get(s, &n);
        ck_assert_uint_eq(n, total);
        for (size_t i = 0; i < total; i++)
                ck_assert_uint_eq(p[i], (uint8_t)i);
        ck_assert_uint_eq(p[total], 0);
        secret_free(s);
}
END_TEST

START_TEST(test_new_from_dup_equal)
{
        Secret *a = NULL, *b = NULL, *c = NULL, *e = NULL;

        ck_assert_int_eq(secret_new_from(&a, "hvs.token", 9), 0);
        ck_assert_int_eq(secret_dup(a, &b), 0);
        ck_assert_int_eq(secret_new_from(&c, "hvs.tokeN", 9), 0);
        ck_assert(secret_equal(a, b));
        ck_assert(!secret_equal(a, c));
        ck_assert(secret_equal_bytes(a, "hvs.token", 9));
        ck_assert(!secret_equal_bytes(a, "hvs.toke", 8));
        ck_assert(!secret_equal_bytes(a, "hvs.token!", 10));
        ck_assert_int_eq(secret_new(&e, 0), 0);
        ck_assert(secret_equal_bytes(e, "", 0));
        ck_assert(!secret_equal(a, e));
        ck_assert_int_eq(secret_new_from(NULL, "x", 1), -EINVAL);
        secret_free(a);
        secret_free(b);
        secret_free(c);
        secret_free(e);
}
END_TEST

START_TEST(test_clear_wipes)
{
        Secret *s = NULL;
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new_from(&s, "PLANTED-canary", 14), 0);
        p = secret_get(s, &n);
        secret_clear(s);
        ck_assert_uint_eq(secret_size(s), 0);
        /* The same pages are kept: the old bytes must be gone. */
        for (size_t i = 0; i < 14; i++)
                ck_assert_uint_eq(p[i], 0);
        ck_assert_int_eq(secret_append(s, "x", 1), 0);
        secret_free(s);
}
END_TEST

START_TEST(test_wipe_helpers)
{
        char buf[16];
        char *heap;

        memset(buf, 'A', sizeof(buf));
        secret_wipe(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
                ck_assert_int_eq(buf[i], 0);
        secret_wipe(NULL, 5);
        heap = strdup("PLANTED-heap-copy");
        ck_assert_ptr_nonnull(heap);
        secret_erase_and_free(heap); /* must not crash; ASan checks the free */
        secret_erase_and_free(NULL);
}
END_TEST

/* Reads the VmFlags of the mapping that contains p from /proc/self/smaps. */
static int vm_flags(const void *p, char *flags, size_t len) {
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        int in = 0, found = -1;
        uintptr_t a = (uintptr_t)p;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
                        in = a >= lo && a < hi;
                        continue;
                }
                if (in && strncmp(line, "VmFlags:", 8) == 0) {
                        snprintf(flags, len, "%.200s", line + 8);
                        found = 0;
                        break;
                }
        }
        fclose(f);
        return found;
}

START_TEST(test_dontdump_and_mlock)
{
        Secret *s = NULL;
        char flags[256];
        const uint8_t *p;

        ck_assert_int_eq(secret_new_from(&s, "PLANTED", 7), 0);
        p = secret_get(s, NULL);
        ck_assert_int_eq(vm_flags(p, flags, sizeof(flags)), 0);
        ck_assert_msg(strstr(flags, " dd"), "MADV_DONTDUMP missing: %s", flags);
#if !defined(__SANITIZE_ADDRESS__)
        /* (ASan's mlock() interceptor does nothing and reports success.) */
        if (!secret_mlock_failed())
                ck_assert_msg(strstr(flags, " lo"), "mlock missing: %s", flags);
#endif
        secret_free(s);
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
/* Dedicated pages (secrets too big for a slot) keep their own guard page. */
START_TEST(test_guard_page)
{
        Secret *s = filled(SLOT_CAP_MAX + 1, 'x');
        volatile uint8_t *p;
        long ps = sysconf(_SC_PAGESIZE);

        ck_assert(!secret_pooled(s));
        ck_assert_uint_eq(secret_capacity(s), (size_t)ps);
        p = (volatile uint8_t *)secret_get(s, NULL);
        p[ps - 1] = 1; /* last usable byte */
        p[ps] = 1;     /* guard page: must fault */
        secret_free(s);
}
END_TEST

/* A pool page is followed by a guard page too: running off its last slot
 * faults instead of reaching another mapping. */
START_TEST(test_pool_page_guard)
{
        long ps = sysconf(_SC_PAGESIZE);
        Secret *s[64] = { NULL };
        volatile uint8_t *p = NULL;

        for (size_t i = 0; i < 64 && !p; i++) {
                s[i] = filled(1500, 'y'); /* class 2048 */
                ck_assert(secret_pooled(s[i]));
                if ((((uintptr_t)secret_get(s[i], NULL)) + 2048) % (uintptr_t)ps == 0)
                        p = (volatile uint8_t *)secret_get(s[i], NULL);
        }
        ck_assert_ptr_nonnull((void *)p);
        p[2048] = 1; /* the first byte after the page: must fault */
}
END_TEST

/* Running past a slot's capacity overwrites its canary: released → abort. */
START_TEST(test_canary_abort)
{
        Secret *s = filled(10, 'z');
        uint8_t *p = (uint8_t *)secret_get(s, NULL);

        ck_assert(secret_pooled(s));
        p[secret_capacity(s)] ^= 0x5a; /* a deliberate overrun */
        secret_free(s);                /* must abort */
}
END_TEST

/* Writing through a stale pointer into a free slot is caught when the slot
 * is handed out again. A page of class 2048 holds two slots: fill one page
 * with an anchor and a victim, so that the victim's slot is the one free
 * slot of the page the pool prefers. */
START_TEST(test_write_after_free_abort)
{
        Secret *spares[SPARES] = { NULL }, *anchor = NULL, *victim = NULL, *again = NULL;
        uint8_t *stale;

        same_page_pair(1500, &anchor, &victim, spares);
        stale = (uint8_t *)secret_get(victim, NULL);
        secret_free(victim);
        stale[100] = 1;            /* a write through a stale pointer */
        again = filled(1500, 'n'); /* takes the victim's slot: must abort */
        secret_free(again);
        secret_free(anchor);
        free_spares(spares);
}
END_TEST
#endif

/* Dedicated pages are DONTDUMP and locked too (test_dontdump_and_mlock
 * above sees a pooled secret). */
START_TEST(test_dontdump_and_mlock_dedicated)
{
        Secret *s = filled(3000, 'd');
        char flags[256];

        ck_assert(!secret_pooled(s));
        ck_assert_int_eq(vm_flags(secret_get(s, NULL), flags, sizeof(flags)), 0);
        ck_assert_msg(strstr(flags, " dd"), "MADV_DONTDUMP missing: %s", flags);
#if !defined(__SANITIZE_ADDRESS__)
        if (!secret_mlock_failed())
                ck_assert_msg(strstr(flags, " lo"), "mlock missing: %s", flags);
#endif
        secret_free(s);
}
END_TEST

/* Every class: fill slots with a pattern up to their capacity, free them,
 * allocate again from the same class: the bytes past the new content are
 * zero, and at least one slot really was reused. */
START_TEST(test_slot_reuse_wiped)
{
        long ps = sysconf(_SC_PAGESIZE);
        uint8_t buf[SLOT_CAP_MAX];

        memset(buf, 'k', sizeof(buf));
        for (size_t c = 0; c < NCLASSES; c++) {
                size_t cap = classes[c] - CANARY, n = 2 * (size_t)ps / classes[c] + 3;
                /* the shortest content that still lands in this class */
                size_t small = c == 0 ? 1 : classes[c - 1] - CANARY;
                Secret **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
                const uint8_t **old = calloc(n, sizeof(*old));
                size_t reused = 0;

                ck_assert(a && b && old);
                for (size_t i = 0; i < n; i++) {
                        a[i] = filled(cap - 1, 0xa5); /* the NUL takes the last byte */
                        ck_assert(secret_pooled(a[i]));
                        ck_assert_uint_eq(secret_capacity(a[i]), cap);
                        old[i] = secret_get(a[i], NULL);
                }
                for (size_t i = 0; i < n; i++)
                        secret_free(a[i]);
                for (size_t i = 0; i < n; i++) {
                        const uint8_t *p;
                        size_t sz;

                        ck_assert_int_eq(secret_new_from(&b[i], buf, small), 0);
                        ck_assert(secret_pooled(b[i]));
                        ck_assert_uint_eq(secret_capacity(b[i]), cap);
                        p = secret_get(b[i], &sz);
                        ck_assert_uint_eq(sz, small);
                        ck_assert_mem_eq(p, buf, small);
                        ck_assert_msg(nonzero_at(p, small, cap) == cap,
                                      "class %zu byte %zu not wiped", classes[c],
                                      nonzero_at(p, small, cap));
                        for (size_t k = 0; k < n; k++)
                                if (old[k] == p)
                                        reused++;
                }
                ck_assert_uint_gt(reused, 0);
                for (size_t i = 0; i < n; i++)
                        secret_free(b[i]);
                free(a);
                free(b);
                free(old);
        }
}
END_TEST

/* A freed slot is wiped at once, whole (content, NUL, slack and canary),
 * even while its page stays mapped for the neighbours. */
START_TEST(test_free_wipes_slot)
{
        for (size_t c = 0; c < NCLASSES; c++) {
                Secret *spares[SPARES] = { NULL }, *anchor = NULL, *victim = NULL;
                const uint8_t *p;

                same_page_pair(classes[c] - CANARY - 1, &anchor, &victim, spares);
                p = secret_get(victim, NULL);
                secret_free(victim);
                reveal(p, classes[c]);
                ck_assert_msg(nonzero_at(p, 0, classes[c]) == classes[c],
                              "class %zu byte %zu survived", classes[c],
                              nonzero_at(p, 0, classes[c]));
                secret_free(anchor);
                free_spares(spares);
        }
}
END_TEST

/* Growth out of a slot into dedicated pages keeps the content and wipes the
 * old slot; growth through every class keeps it too. */
START_TEST(test_growth_slot_to_pages)
{
        Secret *spares[SPARES] = { NULL }, *anchor = NULL, *s = NULL;
        const uint8_t *old, *p;
        uint8_t big[3000];
        SecretPoolStats st0, st1;
        size_t n, bad;

        same_page_pair(100, &anchor, &s, spares);
        secret_clear(s);
        memset(big, 0x44, 100);
        ck_assert_int_eq(secret_append(s, big, 100), 0);
        old = secret_get(s, NULL);
        ck_assert(secret_pooled(s));
        ck_assert_uint_eq(secret_capacity(s), 120);
        secret_pool_stats(&st0);
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t)(i * 7 + 1);
        ck_assert_int_eq(secret_append(s, big, sizeof(big)), 0);
        secret_pool_stats(&st1);
        ck_assert(!secret_pooled(s));
        ck_assert_uint_eq(st1.slots_used, st0.slots_used - 1);
        ck_assert_uint_eq(st1.dedicated, st0.dedicated + 1);
        p = secret_get(s, &n);
        ck_assert_ptr_ne(p, old);
        ck_assert_uint_eq(n, 100 + sizeof(big));
        bad = 0;
        for (size_t i = 0; i < 100; i++)
                bad += p[i] != 0x44;
        ck_assert_uint_eq(bad, 0);
        ck_assert_mem_eq(p + 100, big, sizeof(big));
        ck_assert_uint_eq(p[n], 0);
        reveal(old, 128);
        ck_assert_msg(nonzero_at(old, 0, 128) == 128, "old slot byte %zu survived",
                      nonzero_at(old, 0, 128));
        secret_free(s);
        secret_free(anchor);
        free_spares(spares);

        /* One byte at a time from empty to past the largest class. */
        ck_assert_int_eq(secret_new(&s, 0), 0);
        for (size_t i = 0; i < 2 * SLOT_CAP_MAX; i++) {
                uint8_t b = (uint8_t)(i * 13 + 5);
                ck_assert_int_eq(secret_append(s, &b, 1), 0);
                ck_assert_uint_eq(secret_pooled(s), i + 2 <= SLOT_CAP_MAX);
                ck_assert_uint_ge(secret_capacity(s), i + 2);
        }
        p = secret_get(s, &n);
        ck_assert_uint_eq(n, 2 * SLOT_CAP_MAX);
        bad = 0;
        for (size_t i = 0; i < n; i++)
                bad += p[i] != (uint8_t)(i * 13 + 5);
        ck_assert_uint_eq(bad, 0);
        secret_free(s);

        /* A bounded secret that fits a slot never leaves it. */
        ck_assert_int_eq(secret_new(&s, 50), 0);
        for (int i = 0; i < 50; i++)
                ck_assert_int_eq(secret_append(s, "q", 1), 0);
        ck_assert_int_eq(secret_append(s, "q", 1), -E2BIG);
        ck_assert(secret_pooled(s));
        ck_assert_uint_eq(secret_capacity(s), 56);
        secret_free(s);
}
END_TEST

#define MANY 10000

static size_t next_pow2(size_t n) {
        size_t p = 1;
        while (p < n)
                p <<= 1;
        return p;
}

/* 10,000 small secrets of every class: contents intact, pool pages packed
 * (no more than the slots need, plus what was mapped before), and given back
 * when they are freed (at most one empty page per class stays). */
START_TEST(test_many_small)
{
        Secret **v = calloc(MANY, sizeof(*v));
        SecretPoolStats st0, st1, st2;
        size_t per_class[NCLASSES] = { 0 }, need_pages = 0;

        ck_assert_ptr_nonnull(v);
        secret_pool_stats(&st0);
        ck_assert_uint_gt(st0.page_size, 0);
        for (size_t i = 0; i < MANY; i++) {
                /* Mostly token-sized, a quarter up to the largest slot
                 * (1..2039 bytes: with the NUL, every one fits a slot). */
                size_t n = i % 4 == 0 ? 1 + (i * 37) % (SLOT_CAP_MAX - 1) : 1 + (i * 13) % 240;
                uint8_t buf[SLOT_CAP_MAX];

                for (size_t j = 0; j < n; j++)
                        buf[j] = (uint8_t)(i ^ j);
                ck_assert_int_eq(secret_new_from(&v[i], buf, n), 0);
                ck_assert(secret_pooled(v[i]));
                for (size_t c = 0; c < NCLASSES; c++)
                        if (next_pow2(secret_capacity(v[i]) + CANARY) == classes[c])
                                per_class[c]++;
        }
        for (size_t c = 0; c < NCLASSES; c++)
                need_pages += (per_class[c] * classes[c] + st0.page_size - 1) / st0.page_size;
        secret_pool_stats(&st1);
        ck_assert_uint_eq(st1.slots_used, st0.slots_used + MANY);
        ck_assert_uint_eq(st1.dedicated, st0.dedicated);
        ck_assert_uint_le(st1.pages, st0.pages + need_pages);
        ck_assert_uint_ge(st1.pages + st0.pages, need_pages);
        ck_assert_uint_le(st1.pages_empty, NCLASSES);
        /* Far fewer pages than secrets (before the pool: a page each). */
        ck_assert_uint_lt(st1.pages - st0.pages, MANY / 4);

        /* Check and free in an interleaved order. */
        for (size_t k = 0; k < 7; k++)
                for (size_t i = k; i < MANY; i += 7) {
                        size_t n;
                        const uint8_t *p = secret_get(v[i], &n);
                        size_t bad = p[n] != 0;
                        for (size_t j = 0; j < n; j++)
                                bad += p[j] != (uint8_t)(i ^ j);
                        ck_assert_msg(bad == 0, "secret %zu: %zu bad bytes", i, bad);
                        v[i] = secret_free(v[i]);
                }
        secret_pool_stats(&st2);
        ck_assert_uint_eq(st2.slots_used, st0.slots_used);
        ck_assert_uint_le(st2.pages_empty, NCLASSES);
        ck_assert_uint_le(st2.pages, st0.pages + NCLASSES);
        free(v);
}
END_TEST

#define THREADS 8
#define CYCLES  5000
#define WINDOW  8

typedef struct Worker {
        pthread_t tid;
        unsigned id;
        unsigned errors;
} Worker;

static uint8_t pattern(unsigned id, unsigned gen, size_t j) {
        return (uint8_t)(id * 31 + gen * 7 + j);
}

static unsigned verify(const Secret *s, unsigned id, unsigned gen, size_t len) {
        size_t n;
        const uint8_t *p = secret_get(s, &n);

        if (n != len || p[n] != 0)
                return 1;
        for (size_t j = 0; j < n; j++)
                if (p[j] != pattern(id, gen, j))
                        return 1;
        return 0;
}

static void *worker_run(void *arg) {
        Worker *w = arg;
        Secret *live[WINDOW] = { NULL };
        unsigned gen[WINDOW] = { 0 };
        size_t len[WINDOW] = { 0 };
        uint32_t rnd = 2463534242u ^ (w->id * 2654435761u);
        uint8_t buf[6000];

        for (unsigned i = 0; i < CYCLES; i++) {
                unsigned k = i % WINDOW;
                size_t n;

                rnd ^= rnd << 13;
                rnd ^= rnd >> 17;
                rnd ^= rnd << 5;
                if (live[k]) {
                        w->errors += verify(live[k], w->id, gen[k], len[k]);
                        live[k] = secret_free(live[k]);
                }
                /* mostly small (all classes), one in 32 dedicated */
                n = rnd % 32 == 0 ? 2100 + rnd % 3000 : 1 + rnd % SLOT_CAP_MAX;
                gen[k] = i;
                for (size_t j = 0; j < n; j++)
                        buf[j] = pattern(w->id, i, j);
                /* half in one go, half in two appends (growth under load) */
                if (secret_new(&live[k], 0) < 0) {
                        w->errors++;
                        continue;
                }
                if (rnd & 64) {
                        w->errors += secret_append(live[k], buf, n / 3) < 0;
                        w->errors += secret_append(live[k], buf + n / 3, n - n / 3) < 0;
                } else
                        w->errors += secret_append(live[k], buf, n) < 0;
                len[k] = n;
                w->errors += verify(live[k], w->id, gen[k], len[k]);
        }
        for (unsigned k = 0; k < WINDOW; k++)
                if (live[k]) {
                        w->errors += verify(live[k], w->id, gen[k], len[k]);
                        secret_free(live[k]);
                }
        return NULL;
}

START_TEST(test_threads)
{
        Worker w[THREADS];
        SecretPoolStats st0, st1;

        secret_pool_stats(&st0);
        for (unsigned t = 0; t < THREADS; t++) {
                w[t] = (Worker){ .id = t };
                ck_assert_int_eq(pthread_create(&w[t].tid, NULL, worker_run, &w[t]), 0);
        }
        for (unsigned t = 0; t < THREADS; t++) {
                ck_assert_int_eq(pthread_join(w[t].tid, NULL), 0);
                ck_assert_msg(w[t].errors == 0, "thread %u: %u errors", t, w[t].errors);
        }
        secret_pool_stats(&st1);
        ck_assert_uint_eq(st1.slots_used, st0.slots_used);
        ck_assert_uint_eq(st1.dedicated, st0.dedicated);
        ck_assert_uint_le(st1.pages_empty, NCLASSES);
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
/* Drops CAP_IPC_LOCK from this process (a no-op for a non-root user). */
static int drop_ipc_lock(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2];

        if (syscall(SYS_capget, &h, d) < 0)
                return -1;
        d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
        d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
        d[CAP_IPC_LOCK / 32].inheritable &= ~(1u << (CAP_IPC_LOCK % 32));
        return syscall(SYS_capset, &h, d) < 0 ? -1 : 0;
}

/* The body of test_mlock_refused, in a child: its capabilities, rlimit and
 * the sticky "mlock failed" flag must not leak into the other tests. */
static int mlock_refused_child(void) {
        struct rlimit rl = { 0, 0 };
        SecretPoolStats st0, st;
        Secret *big = NULL, *small[256] = { NULL };
        char flags[256];
        size_t i;

        if (drop_ipc_lock() < 0 || setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                return 10;
        /* Dedicated pages: allocated, usable, not locked, still DONTDUMP. */
        big = filled(3000, 'B');
        if (!big || secret_pooled(big) || !secret_mlock_failed())
                return 11;
        if (vm_flags(secret_get(big, NULL), flags, sizeof(flags)) < 0 || !strstr(flags, " dd") ||
            strstr(flags, " lo"))
                return 12;
        /* A pool page mapped now: the same. */
        secret_pool_stats(&st0);
        for (i = 0; i < 256; i++) {
                small[i] = filled(1500, 'S');
                secret_pool_stats(&st);
                if (st.pages > st0.pages)
                        break;
        }
        if (i == 256)
                return 13;
        if (vm_flags(secret_get(small[i], NULL), flags, sizeof(flags)) < 0 ||
            !strstr(flags, " dd") || strstr(flags, " lo"))
                return 14;
        if (!secret_equal_bytes(small[i], secret_get(small[0], NULL), 1500))
                return 15;
        for (size_t j = 0; j <= i; j++)
                secret_free(small[j]);
        secret_free(big);
        return 0;
}

START_TEST(test_mlock_refused)
{
        int status = 0;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(mlock_refused_child());
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
END_TEST
#endif

static Suite *secret_suite(void) {
        Suite *s = suite_create("secret");
        TCase *tc = tcase_create("buffer");
        tcase_add_test(tc, test_new_append_get);
        tcase_add_test(tc, test_bound);
        tcase_add_test(tc, test_growth_keeps_content);
        tcase_add_test(tc, test_new_from_dup_equal);
        tcase_add_test(tc, test_clear_wipes);
        tcase_add_test(tc, test_wipe_helpers);
        suite_add_tcase(s, tc);

        tc = tcase_create("pages");
        tcase_add_test(tc, test_dontdump_and_mlock);
        tcase_add_test(tc, test_dontdump_and_mlock_dedicated);
#if !defined(__SANITIZE_ADDRESS__)
        /* ASan turns SIGSEGV into its own report and exit code, and without
         * fork (valgrind setup) the fault would end the whole runner. */
        if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no") != 0) {
                tcase_add_test_raise_signal(tc, test_guard_page, SIGSEGV);
                tcase_add_test_raise_signal(tc, test_pool_page_guard, SIGSEGV);
                tcase_add_test_raise_signal(tc, test_canary_abort, SIGABRT);
                tcase_add_test_raise_signal(tc, test_write_after_free_abort, SIGABRT);
        }
        tcase_add_test(tc, test_mlock_refused);
#endif
        suite_add_tcase(s, tc);

        tc = tcase_create("pool");
        tcase_set_timeout(tc, under_valgrind() ? 600 : 60);
        tcase_add_test(tc, test_slot_reuse_wiped);
        tcase_add_test(tc, test_free_wipes_slot);
        tcase_add_test(tc, test_growth_slot_to_pages);
        tcase_add_test(tc, test_many_small);
        tcase_add_test(tc, test_threads);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(secret_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
