/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.h - the one type for secret bytes: tokens, JWTs, request bodies
 * that carry them, Vault response bodies and secret values.
 *
 * A Secret is a bounded, growable byte buffer whose storage is always
 * mmap'd memory that holds nothing but secrets: it is excluded from core
 * dumps (MADV_DONTDUMP), locked in RAM where RLIMIT_MEMLOCK allows (best
 * effort; secret_mlock_failed() tells the caller to warn once), and never
 * comes from or goes back to malloc. Two kinds of storage:
 *   - small secrets (capacity up to 2040 bytes, the NUL included) take a slot
 *     of a size-class pool (classes 64..2048 bytes, 8 of them used by a
 *     canary): pages shared by secrets of one class, each page followed by a
 *     PROT_NONE guard page. Slots trade the per-secret guard page for
 *     density: an overrun of a slot reaches its canary (checked on release;
 *     a mismatch aborts), then a neighbouring secret slot of the same page,
 *     then the guard page; never a non-secret object. Slots are wiped when
 *     released and again before reuse. At most one empty pool page per
 *     class stays mapped; further empty pages are wiped and unmapped.
 *   - larger secrets get dedicated pages followed by their own PROT_NONE
 *     guard page.
 * Growth allocates new storage (possibly moving from a slot to a larger
 * class or to dedicated pages), copies, then wipes and releases the old
 * storage: never realloc. Freeing wipes the full capacity (explicit_bzero)
 * before releasing it.
 *
 * The only accessor is secret_get(), which returns (const uint8_t *, size_t):
 * there is deliberately no `const char *` getter, so a secret cannot reach a
 * `%s`. For the http module's benefit the bytes are always followed by a NUL
 * byte (at data[size]), which is not part of the secret.
 *
 * Copies we wipe that live outside Secret:
 *   - jansson's string copies: json.c installs json_set_alloc_funcs() with
 *     secret_erase_and_free() (wipes malloc_usable_size() bytes);
 *   - curl header lists: http.c wipes every slist string before
 *     curl_slist_free_all().
 * Copies that are out of our reach, and that this module cannot wipe:
 *   - libcurl's internal request buffer (headers and the POST body are
 *     copied into it while sending) and its receive buffer;
 *   - OpenSSL's TLS record buffers (plaintext before encryption and after
 *     decryption);
 *   - gRPC's receive slices holding the NodePublishVolume request (and with
 *     it the pod's service-account token), and protobuf-c's unpacked message
 *     until the caller wipes it;
 *   - the kernel's socket buffers and the tmpfs page cache.
 *
 * Comparisons of secrets use CRYPTO_memcmp (constant time).
 *
 * Never logs above debug. A Secret belongs to one thread at a time. The
 * shared state is the slot pool (one mutex, taken when a small secret's
 * storage is taken or released) and the "mlock failed" flag and the count of
 * dedicated allocations (atomics); every function may be called from any
 * thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound for any one Secret (a sanity limit; callers pass their own). */
#define SECRET_SIZE_MAX ((size_t)64 * 1024 * 1024)

typedef struct Secret Secret;

/* An empty secret that may grow up to max bytes (0 → SECRET_SIZE_MAX). */
int secret_new(Secret **ret, size_t max);
/* A secret holding a copy of p[0..n) (max = n, or SECRET_SIZE_MAX if n==0). */
int secret_new_from(Secret **ret, const void *p, size_t n);
/* A copy of s with the same bound. */
int secret_dup(const Secret *s, Secret **ret);
Secret *secret_free(Secret *s);
static inline void secret_freep(Secret **s) {
        if (*s)
                *s = secret_free(*s);
}

/* Appends; -E2BIG past the bound (the content is kept), -ENOMEM. */
int secret_append(Secret *s, const void *p, size_t n);
/* Appends a NUL-terminated string (not the NUL). */
int secret_append_str(Secret *s, const char *str);
/* Wipes the content; the capacity is kept. */
void secret_clear(Secret *s);

/* The only accessor. Never NULL (an empty secret gives ""); the bytes are
 * followed by a NUL that is not counted in *ret_size. */
const uint8_t *secret_get(const Secret *s, size_t *ret_size);
size_t secret_size(const Secret *s);
size_t secret_max(const Secret *s);

/* Constant-time equality (the lengths are compared first; they are not
 * secret). */
bool secret_equal(const Secret *a, const Secret *b);
bool secret_equal_bytes(const Secret *a, const void *p, size_t n);

/* True once any mlock() was refused (EPERM/ENOMEM); main() warns once. */
bool secret_mlock_failed(void);

/*
 * Introspection for tests and metrics: sizes and counts only, never bytes.
 */
/* Usable bytes of s's current storage, the byte for the trailing NUL
 * included (0 before the first append). The bytes of secret_get() from
 * size + 1 up to the capacity are always zero. */
size_t secret_capacity(const Secret *s);
/* Whether s's bytes are in a slot of the shared pool (false for dedicated
 * pages, and before the first append). */
bool secret_pooled(const Secret *s);

typedef struct SecretPoolStats {
        size_t page_size;   /* bytes of one pool page */
        size_t pages;       /* pool pages mapped, guard pages not counted */
        size_t pages_empty; /* of those, pages with no live slot (kept for reuse) */
        size_t slots_used;  /* live secrets in pool slots */
        size_t dedicated;   /* live secrets on dedicated pages */
} SecretPoolStats;
/* The counters now: the pool's are read together under its lock, the
 * dedicated count separately. */
void secret_pool_stats(SecretPoolStats *ret);

/* Wipes n bytes in a way the compiler cannot drop. */
void secret_wipe(void *p, size_t n);
/* Wipes malloc_usable_size(p) bytes, then free()s; NULL is fine. For heap
 * copies made by foreign libraries (jansson, curl slists). */
void secret_erase_and_free(void *p);
