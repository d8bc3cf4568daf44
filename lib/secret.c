/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.c - page-granular, wiped-on-free storage for secret bytes.
 *
 * Layout of one allocation: `cap` usable bytes rounded up to whole pages,
 * then one PROT_NONE guard page, so that an overrun faults instead of
 * reading a neighbour. The usable pages get MADV_DONTDUMP and a best-effort
 * mlock(). The struct header (sizes only, no secret) is on the heap.
 *
 * See secret.h for the copies we cannot reach. Never logs above debug.
 */
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "log.h"
#include "secret.h"
#include "macro.h"

struct Secret {
        uint8_t *data; /* NULL while the capacity is 0 */
        size_t size;
        size_t cap;    /* usable bytes of the mapping (excluding the guard page) */
        size_t max;    /* bound on size */
        bool locked;
};

static atomic_bool mlock_failed_flag;

static size_t page_size(void) {
        /* No cache: a static would be a (benign) data race between threads. */
        long p = sysconf(_SC_PAGESIZE);
        return p > 0 ? (size_t)p : 4096;
}

void secret_wipe(void *p, size_t n) {
        if (p && n > 0)
                explicit_bzero(p, n);
}

void secret_erase_and_free(void *p) {
        if (!p)
                return;
        secret_wipe(p, malloc_usable_size(p));
        free(p);
}

bool secret_mlock_failed(void) {
        return atomic_load(&mlock_failed_flag);
}

static void pages_free(uint8_t *data, size_t cap, bool locked) {
        if (!data)
                return;
        secret_wipe(data, cap);
        if (locked)
                (void)munlock(data, cap);
        (void)munmap(data, cap + page_size());
}

/* Maps at least `need` usable bytes; *ret_cap gets the rounded size. */
static int pages_alloc(size_t need, uint8_t **ret, size_t *ret_cap, bool *ret_locked) {
        size_t ps = page_size(), cap, total;
        uint8_t *p;

        if (need == 0)
                need = 1;
        if (!size_add(need, ps - 1, &cap))
                return -ENOMEM;
        cap -= cap % ps;
        if (!size_add(cap, ps, &total))
                return -ENOMEM;

        p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        if (mprotect(p + cap, ps, PROT_NONE) < 0) {
                int r = -errno;
                (void)munmap(p, total);
                return r;
        }
        /* Keep secrets out of core dumps; older kernels lack it, carry on. */
        (void)madvise(p, cap, MADV_DONTDUMP);

        *ret_locked = mlock(p, cap) == 0;
        if (!*ret_locked && !atomic_exchange(&mlock_failed_flag, true))
                log_debug("secret: mlock() refused (%s); secrets may be swapped",
                          strerror(errno));

        *ret = p;
        *ret_cap = cap;
        return 0;
}

/**
 * secret_new() - an empty secret buffer.
 * @ret: the new Secret.
 * @max: bound on its size in bytes; 0 means SECRET_SIZE_MAX.
 *
 * No pages are mapped until the first append.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int secret_new(Secret **ret, size_t max) {
        Secret *s;

        if (!ret)
                return -EINVAL;
        if (max == 0 || max > SECRET_SIZE_MAX)
                max = SECRET_SIZE_MAX;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->max = max;
        *ret = s;
        return 0;
}

/**
 * secret_new_from() - a secret holding a copy of p[0..n).
 *
 * The bound is n (SECRET_SIZE_MAX for n == 0). The caller still owns, and
 * should wipe, its own copy of p.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int secret_new_from(Secret **ret, const void *p, size_t n) {
        _cleanup_(secret_freep) Secret *s = NULL;
        int r;

        if (!ret || (!p && n > 0) || n > SECRET_SIZE_MAX)
                return -EINVAL;
        r = secret_new(&s, n);
        if (r < 0)
                return r;
        r = secret_append(s, p, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int secret_dup(const Secret *s, Secret **ret) {
        _cleanup_(secret_freep) Secret *d = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = secret_new(&d, s->max);
        if (r < 0)
                return r;
        r = secret_append(d, s->data, s->size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

/**
 * secret_free() - wipes the full capacity, unlocks and unmaps; NULL is fine.
 * Return: NULL.
 */
Secret *secret_free(Secret *s) {
        if (!s)
                return NULL;
        pages_free(s->data, s->cap, s->locked);
        secret_wipe(s, sizeof(*s));
        free(s);
        return NULL;
}

/* Makes room for `need` bytes plus the trailing NUL, without realloc(). */
static int secret_reserve(Secret *s, size_t need) {
        size_t want, cap = 0;
        uint8_t *p = NULL;
        bool locked = false;
        int r;

        if (!size_add(need, 1, &want))
                return -E2BIG;
        if (want <= s->cap)
                return 0;
        /* Grow geometrically, but never far past the bound. */
        if (s->cap > 0 && s->cap * 2 > want)
                want = MIN(s->cap * 2, s->max + 1);
        r = pages_alloc(want, &p, &cap, &locked);
        if (r < 0)
                return r;
        if (s->size > 0)
                memcpy(p, s->data, s->size);
        pages_free(s->data, s->cap, s->locked);
        s->data = p;
        s->cap = cap;
        s->locked = locked;
        return 0;
}

/**
 * secret_append() - appends n bytes, growing page-wise without realloc().
 *
 * Return: 0; -E2BIG when the result would exceed the bound (nothing is
 * appended, the content is kept); -ENOMEM; -EINVAL.
 */
int secret_append(Secret *s, const void *p, size_t n) {
        size_t need;
        int r;

        if (!s || (!p && n > 0))
                return -EINVAL;
        if (n == 0)
                return 0;
        if (!size_add(s->size, n, &need) || need > s->max)
                return -E2BIG;
        r = secret_reserve(s, need);
        if (r < 0)
                return r;
        memcpy(s->data + s->size, p, n);
        s->size = need;
        s->data[s->size] = 0;
        return 0;
}

int secret_append_str(Secret *s, const char *str) {
        if (!str)
                return -EINVAL;
        return secret_append(s, str, strlen(str));
}

/* Wipes the whole capacity and empties s; the pages stay mapped. */
void secret_clear(Secret *s) {
        if (!s || !s->data)
                return;
        secret_wipe(s->data, s->cap);
        s->size = 0;
}

/**
 * secret_get() - the only accessor: the bytes and their count.
 *
 * The bytes are followed by a NUL (not counted), which http.c relies on to
 * hand a header line to curl. Never NULL.
 */
const uint8_t *secret_get(const Secret *s, size_t *ret_size) {
        if (ret_size)
                *ret_size = s && s->data ? s->size : 0;
        if (!s || !s->data)
                return (const uint8_t *)"";
        return s->data;
}

size_t secret_size(const Secret *s) {
        return s ? s->size : 0;
}

size_t secret_max(const Secret *s) {
        return s ? s->max : 0;
}

/* Constant-time comparison (CRYPTO_memcmp); lengths are not secret. */
bool secret_equal_bytes(const Secret *a, const void *p, size_t n) {
        size_t an;
        const uint8_t *ad = secret_get(a, &an);

        if (an != n)
                return false;
        if (n == 0)
                return true;
        return CRYPTO_memcmp(ad, p, n) == 0;
}

bool secret_equal(const Secret *a, const Secret *b) {
        size_t bn;
        const uint8_t *bd = secret_get(b, &bn);

        return secret_equal_bytes(a, bd, bn);
}
