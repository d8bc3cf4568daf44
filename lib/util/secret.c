/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.c - wiped-on-free storage for secret bytes: a size-class pool for
 * small secrets, dedicated page-granular mappings for the rest.
 *
 * Storage of a Secret is one of:
 *
 *   - a pool slot, when the capacity wanted (bytes + the trailing NUL) fits
 *     the largest class. The classes are 64, 128, 256, 512, 1024 and 2048
 *     bytes; a slot's last POOL_CANARY_SIZE bytes hold a canary, so a slot of
 *     class C gives C - 8 usable bytes. Every pool page is its own mapping of
 *     one page followed by a PROT_NONE guard page, with MADV_DONTDUMP and a
 *     best-effort mlock() (as for dedicated pages), cut into equal slots of one
 *     class. Pool pages hold only slots: their memory never comes from or goes
 *     back to malloc, and no non-secret object shares them.
 *   - dedicated pages, for anything larger: `cap` usable bytes rounded up to
 *     whole pages, then one PROT_NONE guard page, so that an overrun faults
 *     instead of reading a neighbour.
 *
 * Slots trade the per-secret guard page for density: the daemon keeps a
 * handful of small secrets per volume (JWT, Vault token and its header,
 * rendered values), and a page plus a guard mapping for each one dominated
 * its anonymous memory. What protects a slot instead:
 *   - an overrun past a slot reaches its own canary first, then the next slot
 *     of the same page (always a secret of the same class, or a free,
 *     zeroed slot), and past the page's last slot the guard page, which
 *     faults. It never reaches a heap object or a non-secret mapping.
 *   - the canary (a per-process random key mixed with the slot's address) is
 *     checked whenever the slot is released, in every build type, and a
 *     mismatch abort()s: the process's secret storage is corrupt and carrying
 *     on would write a damaged secret into some pod's volume.
 *   - a free slot is all zeroes: it is wiped (explicit_bzero over the whole
 *     slot, canary included) when released, checked to be still all zeroes
 *     and wiped again when handed out. A non-zero byte means something wrote
 *     through a stale pointer: abort() as well. A double release aborts.
 *   - under ASan (manual poisoning) and valgrind (client requests) free slots
 *     and canaries are marked inaccessible, so the sanitizers report a slot
 *     overrun or a use after free at the faulting access.
 *
 * Page policy: a pool page whose slots are all free stays mapped (locked,
 * zeroed) if it is the only empty page of its class; any further empty page
 * is wiped, unlocked and unmapped at once. So at most one idle page per class
 * (six pages) is kept beyond the pages holding live secrets. Allocation
 * prefers pages that already hold live slots (they are listed before the
 * empty one), which keeps secrets packed.
 *
 * Threads: the pool's lists, bitmaps and counters are guarded by one mutex,
 * held for the whole of a slot's hand-out or release (including the wipes, at
 * most 2 KiB, and the mmap of a new pool page, once per page). Dedicated
 * pages take no lock. The struct Secret header (sizes only, no secret) and
 * the pool's per-page bookkeeping are on the heap.
 *
 * See secret.h for the copies we cannot reach. Never logs above debug.
 */
#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/random.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define POOL_POISON(p, n)   ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define POOL_UNPOISON(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#endif
#endif
#ifndef POOL_POISON
#define POOL_POISON(p, n)   ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "log.h"
#include "secret.h"
#include "macro.h"

/* The size classes of the pool (powers of two, so slots stay aligned). */
static const size_t pool_class_size[] = { 64, 128, 256, 512, 1024, 2048 };
#define POOL_CLASSES ELEMENTSOF(pool_class_size)
/* Bytes at the end of every slot holding its canary (not usable). */
#define POOL_CANARY_SIZE ((size_t)8)
/* Empty pages kept mapped per class; more are unmapped at once. */
#define POOL_KEEP_EMPTY 1

typedef struct PoolPage PoolPage;
struct PoolPage {
        PoolPage *prev, *next; /* in its class's list while it has a free slot */
        uint8_t *mem;          /* the page; a guard page follows */
        size_t len;            /* usable bytes of the mapping (one page) */
        unsigned cls;
        unsigned nslots, nused;
        bool locked, listed;
        uint64_t used[]; /* bit i set: slot i is live */
};

typedef struct PoolClass {
        /* Pages with a free slot: partly used ones first, empty ones last. */
        PoolPage *head, *tail;
        size_t npages, nempty;
} PoolClass;

static struct {
        pthread_mutex_t lock;
        PoolClass cls[POOL_CLASSES];
        uint64_t key; /* canary key; set with the first page */
        bool keyed;
        size_t slots_used;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct Secret {
        uint8_t *data; /* NULL while the capacity is 0 */
        size_t size;
        size_t cap;     /* usable bytes (slot minus canary, or the mapping minus the guard page) */
        size_t max;     /* bound on size */
        PoolPage *page; /* the pool page holding data; NULL for dedicated pages */
        bool locked;    /* dedicated pages only */
};

/* Where a Secret's bytes live; moved into the Secret once filled. */
typedef struct Storage {
        uint8_t *data;
        size_t cap;
        PoolPage *page;
        bool locked;
} Storage;

static atomic_bool mlock_failed_flag;
static atomic_size_t dedicated_live;

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
                log_debug("secret: mlock() refused (%s); secrets may be swapped", strerror(errno));

        *ret = p;
        *ret_cap = cap;
        return 0;
}

/* ---- the pool -------------------------------------------------------- */

/* The smallest class whose slot holds `want` usable bytes, or -1. */
static int pool_class_for(size_t want) {
        size_t ps = page_size();

        for (size_t c = 0; c < POOL_CLASSES; c++)
                if (pool_class_size[c] <= ps && want <= pool_class_size[c] - POOL_CANARY_SIZE)
                        return (int)c;
        return -1;
}

static uint64_t pool_canary(const uint8_t *slot) {
        /* Address-dependent, so a neighbour's canary copied over does not
         * pass; never zero, so a wiped canary does not pass either. */
        return (pool.key ^ ((uint64_t)(uintptr_t)slot * UINT64_C(0x9e3779b97f4a7c15))) | 1;
}

static bool all_zero(const uint8_t *p, size_t n) {
        uint8_t acc = 0;

        for (size_t i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

_noreturn_ static void pool_corrupt(const char *what) {
        /* No secret in the message: just what broke. */
        log_debug("secret: pool %s, aborting", what);
        abort();
}

static void pool_unlink(PoolClass *pc, PoolPage *pg) {
        if (pg->prev)
                pg->prev->next = pg->next;
        else
                pc->head = pg->next;
        if (pg->next)
                pg->next->prev = pg->prev;
        else
                pc->tail = pg->prev;
        pg->prev = pg->next = NULL;
        pg->listed = false;
}

static void pool_push_head(PoolClass *pc, PoolPage *pg) {
        pg->prev = NULL;
        pg->next = pc->head;
        if (pc->head)
                pc->head->prev = pg;
        else
                pc->tail = pg;
        pc->head = pg;
        pg->listed = true;
}

static void pool_push_tail(PoolClass *pc, PoolPage *pg) {
        pg->next = NULL;
        pg->prev = pc->tail;
        if (pc->tail)
                pc->tail->next = pg;
        else
                pc->head = pg;
        pc->tail = pg;
        pg->listed = true;
}

/* Maps a new, empty page for class c and lists it. Called with the lock. */
static int pool_page_new(unsigned c, PoolPage **ret) {
        size_t ps = page_size(), nslots = ps / pool_class_size[c], words = (nslots + 63) / 64;
        PoolPage *pg;
        int r;

        if (!pool.keyed) {
                uint64_t k = 0;
                if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
                        k = UINT64_C(0x5ec2e75a11ca7a2d) ^ (uint64_t)(uintptr_t)&k;
                pool.key = k;
                pool.keyed = true;
        }

        pg = calloc(1, sizeof(*pg) + words * sizeof(uint64_t));
        if (!pg)
                return -ENOMEM;
        r = pages_alloc(ps, &pg->mem, &pg->len, &pg->locked);
        if (r < 0) {
                free(pg);
                return r;
        }
        pg->cls = c;
        pg->nslots = (unsigned)nslots;
        POOL_POISON(pg->mem, pg->len);
        pool_push_tail(&pool.cls[c], pg);
        pool.cls[c].npages++;
        pool.cls[c].nempty++;
        *ret = pg;
        return 0;
}

static int pool_slot_alloc(unsigned c, Storage *ret) {
        PoolClass *pc = &pool.cls[c];
        size_t sz = pool_class_size[c];
        PoolPage *pg;
        uint8_t *slot;
        uint64_t canary;
        unsigned i = 0;
        int r;

        pthread_mutex_lock(&pool.lock);
        pg = pc->head;
        if (!pg) {
                r = pool_page_new(c, &pg);
                if (r < 0) {
                        pthread_mutex_unlock(&pool.lock);
                        return r;
                }
        }
        while (pg->used[i / 64] & (UINT64_C(1) << (i % 64)))
                i++; /* a listed page has a free slot */
        pg->used[i / 64] |= UINT64_C(1) << (i % 64);
        if (pg->nused++ == 0)
                pc->nempty--;
        if (pg->nused == pg->nslots)
                pool_unlink(pc, pg); /* full pages are not listed */
        pool.slots_used++;

        slot = pg->mem + (size_t)i * sz;
        POOL_UNPOISON(slot, sz);
        if (!all_zero(slot, sz))
                pool_corrupt("free slot written to after release");
        secret_wipe(slot, sz);
        canary = pool_canary(slot);
        memcpy(slot + sz - POOL_CANARY_SIZE, &canary, sizeof(canary));
        POOL_POISON(slot + sz - POOL_CANARY_SIZE, POOL_CANARY_SIZE);
        pthread_mutex_unlock(&pool.lock);

        *ret = (Storage){ .data = slot, .cap = sz - POOL_CANARY_SIZE, .page = pg };
        return 0;
}

/* Checks the canary, wipes the whole slot and returns it to its page. */
static void pool_slot_free(PoolPage *pg, uint8_t *slot) {
        PoolClass *pc;
        size_t sz, off, i;
        uint64_t canary, want;
        bool unmap = false;

        pthread_mutex_lock(&pool.lock);
        pc = &pool.cls[pg->cls];
        sz = pool_class_size[pg->cls];
        off = (size_t)(slot - pg->mem);
        i = off / sz;
        if (off % sz != 0 || i >= pg->nslots || !(pg->used[i / 64] & (UINT64_C(1) << (i % 64))))
                pool_corrupt("slot released twice or not a slot");

        POOL_UNPOISON(slot + sz - POOL_CANARY_SIZE, POOL_CANARY_SIZE);
        memcpy(&canary, slot + sz - POOL_CANARY_SIZE, sizeof(canary));
        want = pool_canary(slot);
        if (CRYPTO_memcmp(&canary, &want, sizeof(canary)) != 0)
                pool_corrupt("slot overrun (canary overwritten)");
        secret_wipe(slot, sz);
        POOL_POISON(slot, sz);

        pg->used[i / 64] &= ~(UINT64_C(1) << (i % 64));
        pool.slots_used--;
        if (!pg->listed)
                pool_push_head(pc, pg); /* it was full: prefer it over empty pages */
        if (--pg->nused == 0) {
                pool_unlink(pc, pg);
                if (pc->nempty >= POOL_KEEP_EMPTY) {
                        pc->npages--;
                        unmap = true;
                } else {
                        pc->nempty++;
                        pool_push_tail(pc, pg);
                }
        }
        pthread_mutex_unlock(&pool.lock);

        if (unmap) {
                /* Every slot was wiped on release; wipe the page once more
                 * anyway before it goes back to the kernel. */
                POOL_UNPOISON(pg->mem, pg->len);
                pages_free(pg->mem, pg->len, pg->locked);
                free(pg);
        }
}

/* ---- storage: a slot or dedicated pages -------------------------------- */

static int storage_alloc(size_t want, Storage *ret) {
        int c = pool_class_for(want);
        int r;

        if (c >= 0)
                return pool_slot_alloc((unsigned)c, ret);
        *ret = (Storage){ 0 };
        r = pages_alloc(want, &ret->data, &ret->cap, &ret->locked);
        if (r < 0)
                return r;
        atomic_fetch_add(&dedicated_live, 1);
        return 0;
}

/* Wipes the full capacity and releases s's storage; s then holds none. */
static void storage_release(Secret *s) {
        if (!s->data)
                return;
        if (s->page)
                pool_slot_free(s->page, s->data);
        else {
                pages_free(s->data, s->cap, s->locked);
                atomic_fetch_sub(&dedicated_live, 1);
        }
        s->data = NULL;
        s->page = NULL;
        s->cap = 0;
        s->locked = false;
}

/**
 * secret_new() - an empty secret buffer.
 * @ret: the new Secret.
 * @max: bound on its size in bytes; 0 means SECRET_SIZE_MAX.
 *
 * No storage is taken until the first append.
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
 * secret_free() - wipes the full capacity and releases the storage (a pool
 * slot goes back to its page, dedicated pages are unlocked and unmapped);
 * NULL is fine.
 * Return: NULL.
 */
Secret *secret_free(Secret *s) {
        if (!s)
                return NULL;
        storage_release(s);
        secret_wipe(s, sizeof(*s));
        free(s);
        return NULL;
}

/*
 * Makes room for `need` bytes plus the trailing NUL, without realloc(): new
 * storage (a slot of a larger class, or dedicated pages), copy, then the old
 * storage is wiped and released.
 */
static int secret_reserve(Secret *s, size_t need) {
        Storage st;
        size_t want;
        int r;

        if (!size_add(need, 1, &want))
                return -E2BIG;
        if (want <= s->cap)
                return 0;
        /* Grow geometrically, but never far past the bound. */
        if (s->cap > 0 && s->cap * 2 > want)
                want = MIN(s->cap * 2, s->max + 1);
        r = storage_alloc(want, &st);
        if (r < 0)
                return r;
        if (s->size > 0)
                memcpy(st.data, s->data, s->size);
        storage_release(s);
        s->data = st.data;
        s->cap = st.cap;
        s->page = st.page;
        s->locked = st.locked;
        return 0;
}

/**
 * secret_append() - appends n bytes, growing without realloc().
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

/* Wipes the whole capacity and empties s; the storage is kept. */
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

size_t secret_capacity(const Secret *s) {
        return s ? s->cap : 0;
}

bool secret_pooled(const Secret *s) {
        return s && s->page;
}

void secret_pool_stats(SecretPoolStats *ret) {
        SecretPoolStats st = { 0 };

        if (!ret)
                return;
        pthread_mutex_lock(&pool.lock);
        for (size_t c = 0; c < POOL_CLASSES; c++) {
                st.pages += pool.cls[c].npages;
                st.pages_empty += pool.cls[c].nempty;
        }
        st.slots_used = pool.slots_used;
        pthread_mutex_unlock(&pool.lock);
        st.page_size = page_size();
        st.dedicated = atomic_load(&dedicated_live);
        *ret = st;
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
