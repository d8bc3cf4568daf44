/* SPDX-License-Identifier: Apache-2.0 */
/*
 * refresh.c - rotation (see refresh.h): pure schedule rules and limits, the
 * due-time scheduler, and the Vault refresh of one volume.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic-writer.h"
#include "json.h"
#include "log-ids.h"
#include "log.h"
#include "parse.h"
#include "refresh.h"
#include "macro.h"

/* A refresh never reschedules sooner than this (guards against zero TTLs). */
#define REFRESH_MIN_GAP_USEC (50ULL * 1000)
/* A gate/bucket wait longer than this ends the refresh run (deferred) instead
 * of holding a refresh thread. */
#define REFRESH_DEFER_AFTER_USEC (2ULL * USEC_PER_SEC)
/* Longest condition wait of a scheduler thread (it re-reads the clock). */
#define SCHEDULER_MAX_SLEEP_USEC (30ULL * USEC_PER_SEC)
/* Restarted volumes are spread over this much time. */
#define RESUME_SPREAD_USEC (2ULL * USEC_PER_SEC)
/* A pod JWT this close to its expiry is not used for a login. */
#define JWT_MARGIN_SEC 5

/* ---- clocks and randomness ---------------------------------------------------- */

static void format_time(uint64_t usec, char *buf, size_t len);

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t realtime_now(void) {
        return clock_usec(CLOCK_REALTIME);
}

static _Thread_local uint64_t rng_state;

static uint64_t rnd(void) {
        uint64_t x;
        if (rng_state == 0) {
                if (getrandom(&rng_state, sizeof(rng_state), GRND_NONBLOCK) !=
                            (ssize_t)sizeof(rng_state) ||
                    rng_state == 0)
                        rng_state = clock_usec(CLOCK_MONOTONIC) | 1;
        }
        /* xorshift64* */
        x = rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng_state = x;
        return x * 0x2545F4914F6CDD1DULL;
}

/* ---- 1. pure helpers -------------------------------------------------------- */

uint64_t refresh_kv_due(uint64_t now, uint64_t interval_usec, uint64_t random) {
        uint64_t jitter = interval_usec / 10;
        /* earlier, never later: a file is never older than its interval */
        return now + interval_usec - (jitter ? random % (jitter + 1) : 0);
}

uint64_t refresh_renew_due(uint64_t renewed, uint64_t expires) {
        if (expires <= renewed)
                return renewed;
        return renewed + (expires - renewed) / 3 * 2;
}

uint64_t refresh_replace_due(uint64_t now, uint64_t expires, int64_t ttl_sec) {
        uint64_t margin = ttl_sec > 0 ? (uint64_t)ttl_sec * USEC_PER_SEC / 3 : 0;
        if (expires <= now || expires - now <= margin)
                return now;
        return expires - margin;
}

uint64_t refresh_pki_due(uint64_t issued, uint64_t not_after) {
        return refresh_renew_due(issued, not_after);
}

uint64_t refresh_backoff_usec(uint64_t min_usec, uint64_t max_usec, unsigned failures,
                              uint64_t random) {
        uint64_t d = min_usec, half;

        if (failures == 0)
                return 0;
        for (unsigned i = 1; i < failures && d < max_usec; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        d = MIN(d, max_usec);
        half = d / 2;
        return half + (d - half ? random % (d - half + 1) : 0);
}

void token_bucket_init(TokenBucket *b, uint64_t rate, uint64_t burst, uint64_t now_usec) {
        *b = (TokenBucket){
                .rate = rate > 0 ? rate : 1,
                .burst = burst > 0 ? burst : 1,
                .last_usec = now_usec,
        };
        b->micro_tokens = b->burst * USEC_PER_SEC;
}

uint64_t token_bucket_take(TokenBucket *b, uint64_t now_usec) {
        uint64_t cap = b->burst * USEC_PER_SEC;

        if (now_usec > b->last_usec) {
                uint64_t elapsed = now_usec - b->last_usec, add;
                if (__builtin_mul_overflow(elapsed, b->rate, &add) || add > cap)
                        add = cap;
                b->micro_tokens = MIN(b->micro_tokens + add, cap);
                b->last_usec = now_usec;
        }
        if (b->micro_tokens >= USEC_PER_SEC) {
                b->micro_tokens -= USEC_PER_SEC;
                return 0;
        }
        /* µs until one whole token: ceil(missing / rate) */
        return (USEC_PER_SEC - b->micro_tokens + b->rate - 1) / b->rate;
}

void server_gate_init(ServerGate *g, uint64_t min_usec, uint64_t max_usec) {
        *g = (ServerGate){
                .min_usec = min_usec,
                .max_usec = MAX(max_usec, min_usec),
                .step_usec = min_usec,
        };
}

uint64_t server_gate_wait(const ServerGate *g, uint64_t now) {
        if (now < g->pause_until_usec)
                return g->pause_until_usec - now;
        if (g->probing && g->probe_in_flight)
                return SERVER_GATE_PROBE_WAIT_USEC;
        return 0;
}

void server_gate_begin(ServerGate *g) {
        if (g->probing)
                g->probe_in_flight = true;
}

void server_gate_report(ServerGate *g, uint64_t now, GateOutcome o, int64_t retry_after_sec) {
        uint64_t ra = retry_after_sec > 0 ? (uint64_t)retry_after_sec * USEC_PER_SEC : 0;

        g->probe_in_flight = false;
        if (o == GATE_OK) {
                /* the server answers: back to normal (a running pause still ends) */
                g->probing = false;
                g->step_usec = g->min_usec;
                return;
        }
        if (now >= g->pause_until_usec) {
                /* a new pause: at least Retry-After, doubling while it lasts */
                g->pause_until_usec = now + MAX(g->step_usec, ra);
                g->step_usec = MIN(g->step_usec * 2, g->max_usec);
                g->pauses++;
        } else if (now + ra > g->pause_until_usec)
                g->pause_until_usec = now + ra; /* requests in flight before the pause */
        g->probing = true;
}

/* heap order: due time, then insertion order */
static bool item_less(const RefreshQueueItem *a, const RefreshQueueItem *b) {
        return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(RefreshQueue *q, size_t i, size_t j) {
        RefreshQueueItem t = q->items[i];
        q->items[i] = q->items[j];
        q->items[j] = t;
}

static void heap_up(RefreshQueue *q, size_t i) {
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (!item_less(&q->items[i], &q->items[parent]))
                        break;
                heap_swap(q, i, parent);
                i = parent;
        }
}

static void heap_down(RefreshQueue *q, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < q->n && item_less(&q->items[l], &q->items[m]))
                        m = l;
                if (r < q->n && item_less(&q->items[r], &q->items[m]))
                        m = r;
                if (m == i)
                        break;
                heap_swap(q, i, m);
                i = m;
        }
}

int refresh_queue_push(RefreshQueue *q, uint64_t due, void *data) {
        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 16;
                RefreshQueueItem *grown = realloc(q->items, cap * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                q->items = grown;
                q->cap = cap;
        }
        q->items[q->n] = (RefreshQueueItem){ .due = due, .seq = q->seq++, .data = data };
        heap_up(q, q->n++);
        return 0;
}

bool refresh_queue_remove(RefreshQueue *q, const void *data) {
        for (size_t i = 0; i < q->n; i++) {
                if (q->items[i].data != data)
                        continue;
                q->items[i] = q->items[--q->n];
                if (i < q->n) {
                        heap_down(q, i);
                        heap_up(q, i);
                }
                return true;
        }
        return false;
}

void *refresh_queue_peek(const RefreshQueue *q, uint64_t *ret_due) {
        if (q->n == 0)
                return NULL;
        if (ret_due)
                *ret_due = q->items[0].due;
        return q->items[0].data;
}

void *refresh_queue_pop(RefreshQueue *q) {
        void *data;
        if (q->n == 0)
                return NULL;
        data = q->items[0].data;
        q->items[0] = q->items[--q->n];
        if (q->n > 0)
                heap_down(q, 0);
        return data;
}

void refresh_queue_done(RefreshQueue *q) {
        free(q->items);
        *q = (RefreshQueue){ 0 };
}

static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *ret) {
        ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
        int days = 0, secs = 0, ok;

        if (!epoch)
                return -ENOMEM;
        ok = ASN1_TIME_diff(&days, &secs, epoch, t);
        ASN1_TIME_free(epoch);
        if (!ok)
                return -EINVAL;
        *ret = (int64_t)days * 86400 + secs;
        return 0;
}

int refresh_cert_times(const char *pem, size_t len, int64_t *ret_not_before,
                       int64_t *ret_not_after) {
        BIO *bio;
        X509 *x;
        int r;

        if (!pem || len == 0 || len > INT32_MAX)
                return -EINVAL;
        bio = BIO_new_mem_buf(pem, (int)len);
        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!x)
                return -EINVAL;
        r = asn1_time_to_unix(X509_get0_notBefore(x), ret_not_before);
        if (r == 0)
                r = asn1_time_to_unix(X509_get0_notAfter(x), ret_not_after);
        X509_free(x);
        return r;
}

int64_t refresh_retry_after_from_message(const char *message) {
        static const char needle[] = "retry after ";
        const char *p = message ? strstr(message, needle) : NULL;
        int64_t v = 0;
        int digits = 0;

        if (!p)
                return -1;
        for (p += sizeof(needle) - 1; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
                v = v * 10 + (*p - '0');
        return digits > 0 && p[0] == ' ' && p[1] == 's' ? v : -1;
}

static bool same_request(const SecretObject *a, const SecretObject *b) {
        if (a->method != b->method || !streq(a->path, b->path))
                return false;
        if (!a->args || !b->args)
                return !a->args && !b->args;
        return secret_equal(a->args, b->args);
}

int refresh_groups_build(const VolumeSpec *spec, size_t **ret_group_of, size_t *ret_n_groups) {
        size_t *group_of = calloc(spec->n_objects ? spec->n_objects : 1, sizeof(*group_of));
        size_t n = 0;

        if (!group_of)
                return -ENOMEM;
        for (size_t i = 0; i < spec->n_objects; i++) {
                size_t g = n;
                for (size_t j = 0; j < i; j++)
                        if (same_request(&spec->objects[i], &spec->objects[j])) {
                                g = group_of[j];
                                break;
                        }
                group_of[i] = g;
                if (g == n)
                        n++;
        }
        *ret_group_of = group_of;
        *ret_n_groups = n;
        return 0;
}

static bool response_cert_times(const VaultResponse *resp, int64_t *nb, int64_t *na) {
        const char *pem;
        size_t len;

        if (!resp->data || json_member_string(resp->data, "certificate", &pem, &len) < 0)
                return false;
        if (refresh_cert_times(pem, len, nb, na) == 0)
                return true;
        /* not PEM (format=der): Vault's own `expiration` still says when */
        if (json_member_int64(resp->data, "expiration", na) == 0 && *na > 0) {
                *nb = 0;
                return true;
        }
        return false;
}

void refresh_group_observe(SecretGroup *g, const VaultResponse *resp, uint64_t now,
                           uint64_t interval_usec, uint64_t random) {
        int64_t nb = 0, na = 0;
        bool kv2 = false;

        g->replace = false;
        g->failing = false;
        g->issued_usec = g->renewed_usec = now;
        g->expires_usec = 0;
        g->final = false;
        free(g->lease_id);
        g->lease_id = NULL;

        if (resp->lease_id) {
                g->kind = SECRET_KIND_LEASE;
                g->lease_id = strdup(resp->lease_id);
                g->lease_ttl_sec = resp->lease_duration;
                g->renewable = resp->renewable && g->lease_id;
                g->final = !g->renewable;
                if (resp->lease_duration <= 0) {
                        /* a lease without a duration: re-read like KV */
                        g->due_usec = refresh_kv_due(now, interval_usec, random);
                        return;
                }
                g->expires_usec = now + (uint64_t)resp->lease_duration * USEC_PER_SEC;
                /* renewable: renew at 2/3; not renewable: replace at 2/3 */
                g->due_usec = refresh_renew_due(now, g->expires_usec);
                return;
        }
        g->lease_ttl_sec = 0;
        g->renewable = false;
        if (response_cert_times(resp, &nb, &na) && na > 0) {
                uint64_t nbu = nb > 0 ? (uint64_t)nb * USEC_PER_SEC : 0;
                g->kind = SECRET_KIND_PKI;
                /* Vault back-dates notBefore (30 s by default): count from the fetch */
                g->issued_usec = MAX(nbu, now);
                g->expires_usec = (uint64_t)na * USEC_PER_SEC;
                if (g->expires_usec > g->issued_usec) {
                        g->due_usec = refresh_pki_due(g->issued_usec, g->expires_usec);
                        return;
                }
                g->due_usec = now; /* already expired when fetched: the clocks disagree */
                return;
        }
        (void)vault_data_unwrap_kv2(resp->data, &kv2);
        g->kind = kv2 ? SECRET_KIND_KV2 : SECRET_KIND_KV;
        g->version = 0;
        if (kv2) {
                const JsonValue *md = json_object_member(resp->data, "metadata");
                (void)json_member_int64(md, "version", &g->version);
        }
        g->due_usec = refresh_kv_due(now, interval_usec, random);
}

/* ---- 2. the scheduler ------------------------------------------------------- */

typedef struct Entry {
        char *volume_id;
        uint64_t due;
        uint64_t gen;         /* finished refreshes */
        uint64_t pending_due; /* added while running: the earliest asked for */
        bool queued;
        bool running;
        bool kicked;          /* made due while running: run again at once */
        atomic_bool cancelled;
} Entry;

struct RefreshScheduler {
        pthread_mutex_t lock;
        pthread_cond_t work; /* workers */
        pthread_cond_t done; /* cancel() and wait() */
        RefreshQueue queue;
        Entry **entries;
        size_t n_entries;
        pthread_t *threads;
        unsigned n_threads;
        unsigned n_started;
        atomic_bool stopping;
        RefreshClockFn clock;
        RefreshFn fn;
        void *userdata;
        unsigned n_idle;    /* workers waiting on `work` for the queue */
        uint64_t idle_wake; /* monotonic: the earliest they wake anyway; 0: not known */
};

static void cond_init_monotonic(pthread_cond_t *c) {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(c, &a);
        pthread_condattr_destroy(&a);
}

/* Waits on c at most `usec` (monotonic). */
static void cond_wait_usec(pthread_cond_t *c, pthread_mutex_t *m, uint64_t usec) {
        uint64_t t = clock_usec(CLOCK_MONOTONIC) + usec;
        struct timespec ts = {
                .tv_sec = (time_t)(t / USEC_PER_SEC),
                .tv_nsec = (long)(t % USEC_PER_SEC) * 1000,
        };
        (void)pthread_cond_timedwait(c, m, &ts);
}

/* An idle worker waits for the queue at most `usec` (issue 15: see wake_idle()). */
static void idle_wait(RefreshScheduler *s, uint64_t usec) {
        uint64_t at = clock_usec(CLOCK_MONOTONIC) + usec;

        if (s->n_idle == 0 || (s->idle_wake && at < s->idle_wake))
                s->idle_wake = at;
        s->n_idle++;
        cond_wait_usec(&s->work, &s->lock, usec);
        s->n_idle--;
        s->idle_wake = 0; /* whose wake-up is next is not known any more */
}

/*
 * After an entry was queued with `due`: wakes the idle workers only when
 * they would not look at the queue before `due` anyway. A publish adds a
 * volume due minutes later, so this spares the refresh threads two
 * wake-ups per publish; a busy worker looks at the queue when its job ends.
 */
static void wake_idle(RefreshScheduler *s, uint64_t due) {
        uint64_t now, mono;

        if (s->n_idle == 0)
                return;
        if (s->idle_wake && due != REFRESH_PARK) {
                now = s->clock(s->userdata);
                mono = clock_usec(CLOCK_MONOTONIC);
                if (due > now && mono < s->idle_wake && due - now >= s->idle_wake - mono)
                        return;
        } else if (due == REFRESH_PARK)
                return;
        pthread_cond_broadcast(&s->work);
}

static Entry *entry_find(RefreshScheduler *s, const char *volume_id) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (streq(s->entries[i]->volume_id, volume_id))
                        return s->entries[i];
        return NULL;
}

static void entry_drop(RefreshScheduler *s, Entry *e) {
        if (e->queued)
                (void)refresh_queue_remove(&s->queue, e);
        for (size_t i = 0; i < s->n_entries; i++)
                if (s->entries[i] == e) {
                        s->entries[i] = s->entries[--s->n_entries];
                        break;
                }
        free(e->volume_id);
        free(e);
}

static int entry_queue(RefreshScheduler *s, Entry *e, uint64_t due) {
        int r;
        if (e->queued)
                (void)refresh_queue_remove(&s->queue, e);
        e->queued = false;
        e->due = due;
        if (due == REFRESH_PARK)
                return 0;
        r = refresh_queue_push(&s->queue, due, e);
        if (r == 0)
                e->queued = true;
        return r;
}

static void *scheduler_thread(void *p) {
        RefreshScheduler *s = p;

        pthread_mutex_lock(&s->lock);
        while (!atomic_load(&s->stopping)) {
                uint64_t due = 0, now, next;
                Entry *e = refresh_queue_peek(&s->queue, &due);
                RefreshJob job;

                if (!e) {
                        idle_wait(s, SCHEDULER_MAX_SLEEP_USEC);
                        continue;
                }
                now = s->clock(s->userdata);
                if (due > now) {
                        idle_wait(s, MIN(due - now, SCHEDULER_MAX_SLEEP_USEC));
                        continue;
                }
                (void)refresh_queue_pop(&s->queue);
                e->queued = false;
                e->running = true;
                e->kicked = false;
                e->pending_due = 0;
                job = (RefreshJob){ .volume_id = e->volume_id,
                                    .cancelled = &e->cancelled,
                                    .stopping = &s->stopping };
                pthread_mutex_unlock(&s->lock);

                next = s->fn(s->userdata, &job);

                pthread_mutex_lock(&s->lock);
                e->running = false;
                e->gen++;
                if (atomic_load(&e->cancelled) || next == 0)
                        entry_drop(s, e);
                else {
                        if (e->kicked)
                                next = 0;
                        if (e->pending_due && e->pending_due < next)
                                next = e->pending_due;
                        if (entry_queue(s, e, next) < 0)
                                (void)entry_queue(s, e, REFRESH_PARK);
                }
                pthread_cond_broadcast(&s->done);
                /* another thread may now have an earlier entry to wait for */
                pthread_cond_broadcast(&s->work);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

int refresh_scheduler_new(RefreshScheduler **ret, unsigned workers, RefreshClockFn clock,
                          RefreshFn fn, void *userdata) {
        RefreshScheduler *s;

        if (!ret || !clock || !fn || workers == 0)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->threads = calloc(workers, sizeof(*s->threads));
        if (!s->threads) {
                free(s);
                return -ENOMEM;
        }
        pthread_mutex_init(&s->lock, NULL);
        cond_init_monotonic(&s->work);
        cond_init_monotonic(&s->done);
        atomic_init(&s->stopping, false);
        s->n_threads = workers;
        s->clock = clock;
        s->fn = fn;
        s->userdata = userdata;
        *ret = s;
        return 0;
}

int refresh_scheduler_start(RefreshScheduler *s) {
        sigset_t all, old;
        int r = 0;

        /* the threads inherit a fully blocked mask: signals go to main() */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        atomic_store(&s->stopping, false);
        for (; s->n_started < s->n_threads; s->n_started++) {
                r = -pthread_create(&s->threads[s->n_started], NULL, scheduler_thread, s);
                if (r < 0)
                        break;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                refresh_scheduler_stop(s);
        return r;
}

void refresh_scheduler_stop(RefreshScheduler *s) {
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stopping, true);
        pthread_cond_broadcast(&s->work);
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->lock);
        for (unsigned i = 0; i < s->n_started; i++)
                pthread_join(s->threads[i], NULL);
        s->n_started = 0;
}

RefreshScheduler *refresh_scheduler_free(RefreshScheduler *s) {
        if (!s)
                return NULL;
        refresh_scheduler_stop(s);
        while (s->n_entries > 0)
                entry_drop(s, s->entries[0]);
        free(s->entries);
        refresh_queue_done(&s->queue);
        free(s->threads);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->done);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

int refresh_scheduler_add(RefreshScheduler *s, const char *volume_id, uint64_t due) {
        Entry *e;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        e = entry_find(s, volume_id);
        if (!e) {
                Entry **grown = realloc(s->entries, (s->n_entries + 1) * sizeof(*grown));
                e = calloc(1, sizeof(*e));
                if (grown)
                        s->entries = grown;
                if (!grown || !e || !(e->volume_id = strdup(volume_id))) {
                        free(e);
                        r = -ENOMEM;
                        goto out;
                }
                atomic_init(&e->cancelled, false);
                s->entries[s->n_entries++] = e;
                r = entry_queue(s, e, due);
        } else if (e->running) {
                atomic_store(&e->cancelled, false);
                if (!e->pending_due || due < e->pending_due)
                        e->pending_due = due;
        } else
                r = entry_queue(s, e, due);
        wake_idle(s, due);
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

int refresh_scheduler_kick(RefreshScheduler *s, const char *volume_id, uint64_t *ret_gen) {
        Entry *e;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        e = entry_find(s, volume_id);
        if (!e || atomic_load(&e->cancelled))
                r = -ENOENT;
        else {
                if (ret_gen)
                        *ret_gen = e->gen;
                if (e->running)
                        e->kicked = true;
                else
                        r = entry_queue(s, e, 0);
                pthread_cond_broadcast(&s->work);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int refresh_scheduler_generation(RefreshScheduler *s, const char *volume_id, uint64_t *ret_gen) {
        Entry *e;
        int r = 0;
        pthread_mutex_lock(&s->lock);
        e = entry_find(s, volume_id);
        if (!e)
                r = -ENOENT;
        else
                *ret_gen = e->gen;
        pthread_mutex_unlock(&s->lock);
        return r;
}

int refresh_scheduler_wait(RefreshScheduler *s, const char *volume_id, uint64_t gen,
                           uint64_t timeout_usec) {
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) + timeout_usec;
        int r;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                Entry *e = entry_find(s, volume_id);
                uint64_t now = clock_usec(CLOCK_MONOTONIC);
                if (!e) {
                        r = -ENOENT;
                        break;
                }
                if (e->gen > gen) {
                        r = 0;
                        break;
                }
                if (now >= deadline || atomic_load(&s->stopping)) {
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_usec(&s->done, &s->lock, deadline - now);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

int refresh_scheduler_cancel(RefreshScheduler *s, const char *volume_id, uint64_t timeout_usec) {
        uint64_t deadline = clock_usec(CLOCK_MONOTONIC) + timeout_usec;
        Entry *e;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        e = entry_find(s, volume_id);
        if (e && !e->running)
                entry_drop(s, e);
        else if (e) {
                atomic_store(&e->cancelled, true);
                pthread_cond_broadcast(&s->work); /* wakes a refresh waiting for its limits */
                for (;;) {
                        uint64_t now = clock_usec(CLOCK_MONOTONIC);
                        e = entry_find(s, volume_id);
                        if (!e || !e->running)
                                break;
                        if (now >= deadline) {
                                r = -EBUSY;
                                break;
                        }
                        cond_wait_usec(&s->done, &s->lock, deadline - now);
                }
                /* finished but re-added meanwhile? then it is not cancelled any more */
                if (r == 0 && e && !e->running && atomic_load(&e->cancelled))
                        entry_drop(s, e);
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

void refresh_scheduler_wakeup(RefreshScheduler *s) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->lock);
}

size_t refresh_scheduler_size(RefreshScheduler *s) {
        size_t n;
        pthread_mutex_lock(&s->lock);
        n = s->n_entries;
        pthread_mutex_unlock(&s->lock);
        return n;
}

/* ---- 3. the refresher ------------------------------------------------------- */

/* Per Vault server: its refresh connections' config, and the limits. */
typedef struct ServerLimit {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        TokenBucket bucket;
        ServerGate gate;
        unsigned in_flight;
        unsigned max;
        VaultConfig vc;      /* strings point into the Config */
        VaultShared *shared; /* made on first use (under lock) */
} ServerLimit;

struct Refresher {
        const Config *config;
        VolumeTable *volumes;
        Metrics *metrics;
        RefreshScheduler *sched;
        ServerLimit *limits; /* one per config->vault_servers[] */
        size_t n_limits;
        pthread_key_t key;   /* the calling thread's VaultClient per server */
        bool key_created;
};

typedef struct ThreadClients {
        VaultClient **clients;
        size_t n;
} ThreadClients;

static void thread_clients_free(void *p) {
        ThreadClients *tc = p;
        if (!tc)
                return;
        for (size_t i = 0; i < tc->n; i++)
                vault_client_free(tc->clients[i]);
        free(tc->clients);
        free(tc);
}

static VaultClient *thread_client(Refresher *R, size_t idx) {
        ThreadClients *tc = pthread_getspecific(R->key);

        if (idx >= R->n_limits)
                return NULL;
        if (!tc) {
                tc = calloc(1, sizeof(*tc));
                if (!tc)
                        return NULL;
                tc->clients = calloc(R->n_limits, sizeof(*tc->clients));
                tc->n = R->n_limits;
                if (!tc->clients) {
                        free(tc);
                        return NULL;
                }
                pthread_setspecific(R->key, tc);
        }
        if (!tc->clients[idx]) {
                ServerLimit *L = &R->limits[idx];
                VaultError ve = { 0 };
                int r = 0;

                /* the refresh connections' TLS setup waits for the first refresh:
                 * nothing to hold for a server no volume uses (the CA files were
                 * checked at start by the publish pool) */
                pthread_mutex_lock(&L->lock);
                if (!L->shared)
                        r = vault_shared_new(&L->shared, &L->vc, &ve);
                pthread_mutex_unlock(&L->lock);
                if (r != 0) {
                        log_debug("refresh: Vault connection setup failed: %s", ve.message);
                        return NULL;
                }
                if (vault_client_new(&tc->clients[idx], L->shared) < 0)
                        return NULL;
        }
        return tc->clients[idx];
}

static ssize_t server_index(const Refresher *R, const VaultServerConfig *server) {
        if (!server || R->config->n_vault_servers == 0)
                return -1;
        if (server < R->config->vault_servers ||
            server >= R->config->vault_servers + R->config->n_vault_servers)
                return -1;
        return server - R->config->vault_servers;
}

static uint64_t refresher_clock(void *userdata) {
        (void)userdata;
        return realtime_now();
}

static uint64_t refresh_volume(void *userdata, const RefreshJob *job);

int refresher_new(Refresher **ret, const Config *c, VolumeTable *volumes, Metrics *metrics,
                  char *err, size_t errlen) {
        _cleanup_(refresher_freep) Refresher *R = calloc(1, sizeof(*R));
        uint64_t now = clock_usec(CLOCK_MONOTONIC);
        int r;

        if (errlen > 0)
                err[0] = '\0';
        if (!R)
                return -ENOMEM;
        R->config = c;
        R->volumes = volumes;
        R->metrics = metrics;
        if (pthread_key_create(&R->key, thread_clients_free) != 0)
                return -EAGAIN;
        R->key_created = true;
        R->limits = calloc(c->n_vault_servers ? c->n_vault_servers : 1, sizeof(*R->limits));
        if (!R->limits)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vault_servers; i++) {
                const VaultServerConfig *s = &c->vault_servers[i];
                ServerLimit *L = &R->limits[i];
                VaultConfig vc = VAULT_CONFIG_INIT;

                pthread_mutex_init(&L->lock, NULL);
                cond_init_monotonic(&L->cond);
                R->n_limits = i + 1;
                token_bucket_init(&L->bucket, c->refresh_rate, c->refresh_burst, now);
                server_gate_init(&L->gate, c->refresh_backoff_min_usec,
                                 c->refresh_backoff_max_usec);
                L->max = c->vault_max_concurrency ? c->vault_max_concurrency : 1;

                vc.address = s->address;
                vc.allow_plain_http = s->allow_http;
                vc.ca_file = s->ca_file;
                vc.ca_dir = s->ca_dir;
                vc.client_cert = s->client_cert;
                vc.client_key = s->client_key;
                vc.tls_server_name = s->tls_server_name;
                vc.tls_skip_verify = s->tls_skip_verify;
                /*
                 * No retries inside the client: every refresh request goes
                 * through the bucket and the gate instead. One "retry" stays
                 * allowed so that the client reports a Retry-After (any value
                 * beyond 1 ms ends the call at once, naming it); without one
                 * the huge backoff never fits the time budget.
                 */
                vc.max_retries = 1;
                vc.backoff_base_ms = vc.backoff_max_ms = 3600ULL * 1000;
                vc.retry_after_max_ms = 1;
                vc.request_timeout_ms = MAX(c->refresh_request_timeout_usec / 1000, 100ULL);
                vc.total_timeout_ms = vc.request_timeout_ms;
                L->vc = vc;
        }
        r = refresh_scheduler_new(&R->sched, c->refresh_workers ? c->refresh_workers : 1,
                                  refresher_clock, refresh_volume, R);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(R);
        return 0;
}

int refresher_start(Refresher *R) {
        return refresh_scheduler_start(R->sched);
}

void refresher_stop(Refresher *R) {
        if (R && R->sched)
                refresh_scheduler_stop(R->sched);
}

Refresher *refresher_free(Refresher *R) {
        if (!R)
                return NULL;
        R->sched = refresh_scheduler_free(R->sched);
        if (R->key_created) {
                thread_clients_free(pthread_getspecific(R->key));
                pthread_setspecific(R->key, NULL);
                pthread_key_delete(R->key);
        }
        for (size_t i = 0; i < R->n_limits; i++) {
                vault_shared_free(R->limits[i].shared);
                pthread_cond_destroy(&R->limits[i].cond);
                pthread_mutex_destroy(&R->limits[i].lock);
        }
        free(R->limits);
        free(R);
        return NULL;
}

Metrics *refresher_metrics(Refresher *R) {
        return R ? R->metrics : NULL;
}

/* ---- limits ---- */

static GateOutcome gate_outcome(int r, const VaultError *ve) {
        if (r == 0)
                return GATE_OK;
        if (ve->http_status == 429 || r == VAULT_E_RATE_LIMITED)
                return GATE_THROTTLED;
        if (ve->http_status == 503 || r == VAULT_E_SEALED)
                return GATE_UNAVAILABLE;
        if (ve->http_status == 0 && (r == VAULT_E_UNAVAILABLE || r == VAULT_E_TLS))
                return GATE_UNAVAILABLE;
        return GATE_OK;
}

/*
 * A refresh request may go: a concurrency slot, the server gate and a bucket
 * token. 0; -EAGAIN (the server is paused) or -EBUSY (the bucket is empty for
 * long) with *ret_wait: the run is deferred; -ECANCELED when the job was
 * cancelled meanwhile.
 */
static int limit_acquire(ServerLimit *L, const RefreshJob *job, uint64_t *ret_wait) {
        int r = 0;

        pthread_mutex_lock(&L->lock);
        for (;;) {
                uint64_t now = clock_usec(CLOCK_MONOTONIC), w;

                if (refresh_job_cancelled(job)) {
                        r = -ECANCELED;
                        break;
                }
                if (L->in_flight >= L->max) {
                        cond_wait_usec(&L->cond, &L->lock, 200 * 1000);
                        continue;
                }
                w = server_gate_wait(&L->gate, now);
                if (w > 0) {
                        /* paused: do not hold this thread, come back later */
                        *ret_wait = w;
                        r = -EAGAIN;
                        break;
                }
                w = token_bucket_take(&L->bucket, now);
                if (w > 0) {
                        if (w > REFRESH_DEFER_AFTER_USEC) {
                                *ret_wait = w;
                                r = -EBUSY;
                                break;
                        }
                        cond_wait_usec(&L->cond, &L->lock, w);
                        continue;
                }
                server_gate_begin(&L->gate);
                L->in_flight++;
                break;
        }
        pthread_mutex_unlock(&L->lock);
        return r;
}

static void limit_release(ServerLimit *L, int r, const VaultError *ve, bool report_ok) {
        GateOutcome o = gate_outcome(r, ve);

        pthread_mutex_lock(&L->lock);
        if (L->in_flight > 0)
                L->in_flight--;
        if (o != GATE_OK || report_ok)
                server_gate_report(&L->gate, clock_usec(CLOCK_MONOTONIC), o,
                                   o == GATE_THROTTLED
                                           ? refresh_retry_after_from_message(ve->message)
                                           : -1);
        pthread_cond_broadcast(&L->cond);
        pthread_mutex_unlock(&L->lock);
}

int refresher_vault_enter(Refresher *R, const VaultServerConfig *server, uint64_t timeout_usec) {
        ssize_t idx = R ? server_index(R, server) : -1;
        uint64_t deadline;
        ServerLimit *L;
        int r = 0;

        if (idx < 0)
                return 0;
        L = &R->limits[idx];
        deadline = clock_usec(CLOCK_MONOTONIC) + timeout_usec;
        pthread_mutex_lock(&L->lock);
        while (L->in_flight >= L->max) {
                uint64_t now = clock_usec(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_usec(&L->cond, &L->lock, deadline - now);
        }
        if (r == 0)
                L->in_flight++;
        pthread_mutex_unlock(&L->lock);
        return r;
}

void refresher_vault_leave(Refresher *R, const VaultServerConfig *server, int result,
                           const VaultError *ve) {
        ssize_t idx = R ? server_index(R, server) : -1;
        VaultError none = { 0 };

        if (idx < 0)
                return;
        /* a publish's success says nothing new; its 429/503 pauses refreshes */
        limit_release(&R->limits[idx], result, ve ? ve : &none, false);
}

/* ---- one refresh run ---- */

typedef struct Run {
        Refresher *R;
        VolumeRecord *rec;
        const RefreshJob *job;
        const VolumeSpec *spec;
        ServerLimit *limit;
        VaultClient *client;
        uint64_t now;
        bool requests;       /* at least one Vault request went */
        bool failed;
        bool token_failed;
        bool deferred;
        bool paused;         /* deferred by the server gate (429/503/no answer) */
        uint64_t defer_until;
        bool cancelled;
        bool need_jwt;       /* the token must be replaced and no pod JWT is at hand */
        uint64_t gen0;       /* rec->state_gen when the run started */
        char err[VOLUME_ERROR_MAX];
        size_t err_group;    /* SIZE_MAX: the token, or no group */
        Secret **values;     /* per object: new content, or NULL (keep) */
        bool *changed;       /* per group */
        SecretGroup *saved;  /* per group: state before this run (for a failed swap) */
        char **revoke;       /* old lease ids, revoked after the swap */
        size_t n_revoke;
        char **unused;       /* new lease ids not in the files (failed swap) */
        size_t n_unused;
} Run;

enum {
        CALL_DEFERRED = 1000,
        CALL_CANCELLED,
};

static _printf_(3, 4) void run_fail(Run *run, size_t group, const char *fmt, ...) {
        va_list ap;

        if (group != SIZE_MAX && group < run->rec->n_groups)
                run->rec->groups[group].failing = true;
        else
                run->token_failed = true;
        if (run->failed)
                return;
        run->failed = true;
        run->err_group = group;
        va_start(ap, fmt);
        (void)vsnprintf(run->err, sizeof(run->err), fmt, ap);
        va_end(ap);
}

static int call_enter(Run *run) {
        uint64_t wait = 0;
        int r;

        if (run->deferred || run->cancelled)
                return run->cancelled ? CALL_CANCELLED : CALL_DEFERRED;
        r = limit_acquire(run->limit, run->job, &wait);
        if (r == -ECANCELED) {
                run->cancelled = true;
                return CALL_CANCELLED;
        }
        if (r == -EAGAIN || r == -EBUSY) {
                run->deferred = true;
                run->paused = r == -EAGAIN;
                /* spread the volumes that wait for the same pause */
                run->defer_until = realtime_now() + wait + rnd() % (wait / 4 + 100 * 1000);
                metrics_inc(run->R->metrics, METRICS_REFRESH_DEFERRED);
                return CALL_DEFERRED;
        }
        run->requests = true;
        return 0;
}

static void call_leave(Run *run, int r, const VaultError *ve) {
        limit_release(run->limit, r, ve, true);
        metrics_vault_call(run->R->metrics, r == 0 ? 200 : ve->http_status, ve->attempts);
}

static bool call_skipped(int r) {
        return r == CALL_DEFERRED || r == CALL_CANCELLED;
}

static const char *group_path(const Run *run, size_t gi) {
        return run->rec->spec->objects[run->rec->groups[gi].first_object].path;
}

static const char *group_object(const Run *run, size_t gi) {
        return run->rec->spec->objects[run->rec->groups[gi].first_object].name;
}

/* Expired or revoked: its leases are gone from now on. */
static void mark_token_dead(VolumeRecord *rec, uint64_t now) {
        if (!rec->token_dead)
                rec->token_expires_usec = rec->token_expires_usec
                                                  ? MIN(rec->token_expires_usec, now)
                                                  : now;
        rec->token_dead = true;
        rec->token_verify = false;
        rec->state_gen++;
}

static bool token_usable(const VolumeRecord *rec) {
        return rec->token && !rec->token_dead;
}

/* The token after a 403: dead (expired/revoked), or alive and just denied. */
static void check_token_after_denied(Run *run) {
        VaultTokenInfo info;
        VaultError ve = { 0 };
        int r = call_enter(run);
        if (r != 0)
                return;
        r = vault_client_token_lookup_self(run->client, run->rec->token, &info, &ve);
        call_leave(run, r, &ve);
        if (r == VAULT_E_DENIED)
                mark_token_dead(run->rec, run->now);
}

static int vault_login_with_jwt(Run *run) {
        VolumeRecord *rec = run->rec;
        const VolumeSpec *spec = run->spec;
        _cleanup_(secret_freep) Secret *jwt = NULL;
        VaultToken *tok = NULL;
        VaultError ve = { 0 };
        int64_t exp = 0;
        size_t len;
        int r;

        if (volume_record_dup_jwt(run->R->volumes, rec, &jwt, &exp, NULL) < 0 ||
            (exp > 0 && exp <= (int64_t)(run->now / USEC_PER_SEC) + JWT_MARGIN_SEC)) {
                run->need_jwt = true;
                return -ENOKEY;
        }
        r = call_enter(run);
        if (r != 0)
                return r;
        {
                VaultLoginParams lp = {
                        .method = streq(spec->server->auth_method, "jwt") ? VAULT_AUTH_JWT
                                                                           : VAULT_AUTH_KUBERNETES,
                        .mount = spec->auth_mount,
                        .role = spec->role,
                        .ns = spec->ns,
                };
                lp.jwt = secret_get(jwt, &len);
                lp.jwt_len = len;
                r = vault_client_login(run->client, &lp, &tok, &ve);
        }
        call_leave(run, r, &ve);
        if (r != 0) {
                run_fail(run, SIZE_MAX, "logging in again with role '%s' at auth mount '%s': %s",
                         spec->role, spec->auth_mount, ve.message[0] ? ve.message : "failed");
                if (r == VAULT_E_LOGIN_REJECTED)
                        run->need_jwt = rec->token_dead || !rec->token;
                return r;
        }
        metrics_inc(run->R->metrics, METRICS_TOKENS_LOGIN);
        if (token_usable(rec)) {
                /* its leases stay valid until theirs are replaced */
                if (rec->old_token) {
                        VaultError ve2 = { 0 };
                        if (call_enter(run) == 0) {
                                int q = vault_client_token_revoke_self(run->client, rec->old_token,
                                                                       &ve2);
                                call_leave(run, q, &ve2);
                        }
                        vault_token_free(rec->old_token);
                }
                rec->old_token = rec->token;
        } else
                vault_token_free(rec->token);
        rec->token = tok;
        free(rec->token_accessor);
        rec->token_accessor = vault_token_accessor(tok) ? strdup(vault_token_accessor(tok)) : NULL;
        rec->token_ttl_sec = vault_token_ttl_sec(tok);
        rec->token_renewed_usec = run->now;
        rec->token_expires_usec = vault_token_expires_usec(tok);
        rec->token_renewable = vault_token_renewable(tok);
        rec->token_final = !rec->token_renewable;
        rec->token_dead = false;
        rec->token_verify = false;
        rec->token_retry_usec = 0;
        rec->state_gen++;
        /* leases die with the token that created them: fetch them again */
        for (size_t i = 0; i < rec->n_groups; i++)
                if (rec->groups[i].kind == SECRET_KIND_LEASE)
                        rec->groups[i].replace = true;
        log_debug("volume '%s': logged in to Vault again", rec->volume_id);
        return 0;
}

static void token_step(Run *run) {
        VolumeRecord *rec = run->rec;
        VaultError ve = { 0 };
        bool need_login;
        int r;

        if (rec->token && !rec->token_dead && rec->token_expires_usec &&
            run->now >= rec->token_expires_usec)
                mark_token_dead(rec, run->now); /* expired; its leases went with it */
        if (rec->token_retry_usec > run->now)
                return;

        if (token_usable(rec) && rec->token_verify) {
                VaultTokenInfo info = { 0 };
                r = call_enter(run);
                if (r != 0)
                        return;
                r = vault_client_token_lookup_self(run->client, rec->token, &info, &ve);
                call_leave(run, r, &ve);
                if (r == 0) {
                        rec->token_verify = false;
                        rec->token_retry_usec = 0;
                        rec->token_renewable = info.renewable;
                        if (rec->token_ttl_sec <= 0)
                                rec->token_ttl_sec = info.creation_ttl_sec;
                        if (info.ttl_sec > 0) {
                                rec->token_expires_usec =
                                        run->now + (uint64_t)info.ttl_sec * USEC_PER_SEC;
                                if (!rec->token_renewed_usec ||
                                    rec->token_renewed_usec > run->now)
                                        rec->token_renewed_usec = run->now;
                        } else
                                rec->token_expires_usec = 0;
                        rec->state_gen++;
                } else if (r == VAULT_E_DENIED)
                        mark_token_dead(rec, run->now);
                else {
                        if (!call_skipped(r))
                                run_fail(run, SIZE_MAX, "looking up the volume's Vault token: %s",
                                         ve.message);
                        return;
                }
        }

        need_login = !token_usable(rec);
        if (!need_login && rec->token_expires_usec &&
            (!rec->token_renewable || rec->token_final) &&
            run->now >= refresh_replace_due(rec->token_renewed_usec, rec->token_expires_usec,
                                            rec->token_ttl_sec))
                need_login = true;

        if (!need_login && rec->token_renewable && !rec->token_final && rec->token_expires_usec &&
            run->now >= refresh_renew_due(rec->token_renewed_usec, rec->token_expires_usec)) {
                int64_t want = rec->token_ttl_sec;
                r = call_enter(run);
                if (r != 0)
                        return;
                r = vault_client_token_renew_self(run->client, rec->token,
                                                  want > 0 ? (uint64_t)want : 0, &ve);
                call_leave(run, r, &ve);
                if (r == 0) {
                        int64_t got = vault_token_ttl_sec(rec->token);
                        metrics_inc(run->R->metrics, METRICS_TOKENS_RENEWED);
                        rec->token_retry_usec = 0;
                        rec->token_renewed_usec = run->now;
                        rec->token_expires_usec = vault_token_expires_usec(rec->token);
                        rec->token_renewable = vault_token_renewable(rec->token);
                        /* shorter than asked: capped by the max TTL, the end is near */
                        rec->token_final = !rec->token_renewable || (want > 0 && got + 1 < want);
                        rec->state_gen++;
                        if (rec->token_final &&
                            run->now >= refresh_replace_due(run->now, rec->token_expires_usec,
                                                            rec->token_ttl_sec))
                                need_login = true;
                } else if (r == VAULT_E_DENIED) {
                        mark_token_dead(rec, run->now);
                        need_login = true;
                } else if (r == VAULT_E_BAD_REQUEST) {
                        rec->token_renewable = false; /* not renewable after all */
                        rec->token_final = true;
                        rec->state_gen++;
                } else if (!call_skipped(r)) {
                        run_fail(run, SIZE_MAX, "renewing the volume's Vault token: %s",
                                 ve.message);
                        return;
                } else
                        return;
        }
        if (need_login)
                (void)vault_login_with_jwt(run);
}

/* Renders every object of group gi from resp into run->values. */
static int render_group(Run *run, size_t gi, const VaultResponse *resp) {
        const Config *c = run->R->config;
        const JsonValue *data;
        bool kv2 = false;

        data = vault_data_unwrap_kv2(resp->data, &kv2);
        if (!data) {
                run_fail(run, gi, "object '%s': '%s' has no data (a deleted or destroyed version?)",
                         group_object(run, gi), group_path(run, gi));
                return -ENOENT;
        }
        for (size_t i = 0; i < run->spec->n_objects; i++) {
                char err[VOLUME_ERROR_MAX];
                Secret *v = NULL;
                int r;

                if (run->rec->group_of[i] != gi)
                        continue;
                r = secret_object_render(&run->spec->objects[i], data, &v, err, sizeof(err));
                if (r < 0) {
                        run_fail(run, gi, "%s", err);
                        return r;
                }
                if (secret_size(v) > c->max_file_bytes) {
                        run_fail(run, gi,
                                 "object '%s' is %zu bytes, more than the node's max-file-bytes",
                                 run->spec->objects[i].name, secret_size(v));
                        secret_free(v);
                        return -E2BIG;
                }
                secret_free(run->values[i]);
                run->values[i] = v;
        }
        return 0;
}

static int list_add(char ***list, size_t *n, const char *s) {
        char **grown;
        if (!s)
                return 0;
        grown = realloc(*list, (*n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        *list = grown;
        grown[*n] = strdup(s);
        if (!grown[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

/* Fetches group gi again (a re-read, a new lease, a new certificate). */
static void fetch_group(Run *run, size_t gi) {
        VolumeRecord *rec = run->rec;
        SecretGroup *g = &rec->groups[gi];
        const SecretObject *o = &run->spec->objects[g->first_object];
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        _cleanup_free_ char *old_lease = NULL;
        VaultRequest rq = { .method = o->method, .path = o->path };
        VaultError ve = { 0 };
        bool was_replace = g->replace, old_under_old_token;
        int64_t old_version = g->version;
        SecretKind old_kind = g->kind;
        int r;

        if (o->args)
                rq.body = secret_get(o->args, &rq.body_len);
        r = call_enter(run);
        if (r != 0)
                return;
        r = vault_client_read(run->client, rec->token, &rq, &resp, &ve);
        call_leave(run, r, &ve);
        if (r != 0) {
                run_fail(run, gi, "reading '%s' for object '%s': %s", o->path, o->name,
                         ve.message[0] ? ve.message : "failed");
                if (r == VAULT_E_DENIED)
                        check_token_after_denied(run);
                return;
        }
        old_under_old_token = was_replace && rec->old_token;
        old_lease = TAKE_PTR(g->lease_id);
        refresh_group_observe(g, resp, run->now, run->spec->refresh_interval_usec, rnd());
        if (g->kind == SECRET_KIND_LEASE)
                metrics_inc(run->R->metrics, METRICS_LEASES_ISSUED);
        else if (g->kind == SECRET_KIND_PKI)
                metrics_inc(run->R->metrics, METRICS_CERTS_ISSUED);
        /* what a restart needs (a KV re-read changes nothing worth a save) */
        if (g->kind == SECRET_KIND_LEASE || g->kind == SECRET_KIND_PKI || g->kind != old_kind ||
            was_replace)
                rec->state_gen++;
        if (g->kind == SECRET_KIND_KV2 && old_kind == SECRET_KIND_KV2 && !was_replace &&
            g->version == old_version && g->version > 0) {
                metrics_inc(run->R->metrics, METRICS_UNCHANGED);
                return; /* same version: nothing to render, nothing to write */
        }
        if (render_group(run, gi, resp) < 0) {
                /* a new lease that is not in the files: give it back; the
                 * group goes back to what the files hold */
                if (g->lease_id && !streq_ptr(g->lease_id, old_lease))
                        (void)list_add(&run->unused, &run->n_unused, g->lease_id);
                free(g->lease_id);
                *g = run->saved[gi];
                g->lease_id = TAKE_PTR(old_lease);
                g->failing = true;
                return;
        }
        run->changed[gi] = true;
        /* the replaced lease: revoked after the swap (under an old token it
         * goes with that token) */
        if (old_lease && !old_under_old_token && !streq_ptr(old_lease, g->lease_id))
                (void)list_add(&run->revoke, &run->n_revoke, old_lease);
}

static void group_step(Run *run, size_t gi) {
        VolumeRecord *rec = run->rec;
        SecretGroup *g = &rec->groups[gi];
        VaultError ve = { 0 };
        VaultLease lease = { 0 };
        int r;

        if (g->kind == SECRET_KIND_LEASE && g->lease_id && !g->replace && g->renewable &&
            !g->final) {
                r = call_enter(run);
                if (r != 0)
                        return;
                r = vault_client_lease_renew(run->client, rec->token, g->lease_id,
                                             g->lease_ttl_sec > 0 ? (uint64_t)g->lease_ttl_sec : 0,
                                             &lease, &ve);
                call_leave(run, r, &ve);
                if (r == 0) {
                        metrics_inc(run->R->metrics, METRICS_LEASES_RENEWED);
                        g->renewed_usec = run->now;
                        g->expires_usec = run->now + (uint64_t)MAX(lease.duration_sec, 0) *
                                                             USEC_PER_SEC;
                        g->renewable = lease.renewable;
                        /* Vault cannot extend it further (max TTL): replace it */
                        g->final = !lease.renewable || lease.capped ||
                                   lease.duration_sec + 1 < g->lease_ttl_sec;
                        g->failing = false;
                        rec->state_gen++;
                        if (!g->final) {
                                g->due_usec = refresh_renew_due(run->now, g->expires_usec);
                                return;
                        }
                        g->due_usec = refresh_replace_due(run->now, g->expires_usec,
                                                          g->lease_ttl_sec);
                        if (g->due_usec > run->now)
                                return;
                        /* too little left: fetch the replacement now */
                } else if (r == VAULT_E_BAD_REQUEST || r == VAULT_E_NOT_FOUND) {
                        /* lease not found, expired or not renewable: replace it now */
                        log_debug("volume '%s': lease of '%s' cannot be renewed (%s); "
                                  "fetching a new one",
                                  rec->volume_id, group_path(run, gi), ve.message);
                        g->final = true;
                } else {
                        if (!call_skipped(r)) {
                                run_fail(run, gi, "renewing the lease of '%s' (object '%s'): %s",
                                         group_path(run, gi), group_object(run, gi),
                                         ve.message[0] ? ve.message : "failed");
                                if (r == VAULT_E_DENIED)
                                        check_token_after_denied(run);
                        }
                        return;
                }
        }
        fetch_group(run, gi);
}

/* The current content of object `name` (from the swapped-in payload). */
static int read_current(int root_fd, const char *name, size_t max, Secret **ret) {
        char path[OBJECT_NAME_MAX + 16];
        _cleanup_close_ int fd = -1;
        _cleanup_(secret_freep) Secret *s = NULL;
        uint8_t buf[4096];
        int r;

        if (snprintf(path, sizeof(path), "..data/%s", name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = openat(root_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = secret_new(&s, max + 1);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                r = secret_append(s, buf, (size_t)n);
                if (r < 0)
                        break;
        }
        secret_wipe(buf, sizeof(buf));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

static gid_t record_gid(const VolumeRecord *rec) {
        unsigned g;
        if (rec->mount_group && parse_unsigned(rec->mount_group, 0, 0x7fffffff, &g) == 0)
                return (gid_t)g;
        return (gid_t)-1;
}

/* Swaps in the new payload when a group changed. 0, or -errno (failed). */
static int write_payload(Run *run) {
        const Config *c = run->R->config;
        VolumeRecord *rec = run->rec;
        const VolumeSpec *spec = run->spec;
        _cleanup_free_ char *mnt = NULL;
        _cleanup_free_ PayloadFile *files = NULL;
        _cleanup_close_ int root_fd = -1;
        Secret **cur = NULL;
        gid_t gid = record_gid(rec);
        char err[VOLUME_ERROR_MAX];
        bool any = false, same = false;
        uint64_t total = 0;
        int r = 0;

        for (size_t i = 0; i < rec->n_groups; i++)
                any = any || run->changed[i];
        if (!any)
                return 0;
        mnt = volume_record_mount_dir(run->R->volumes, rec);
        files = calloc(spec->n_objects ? spec->n_objects : 1, sizeof(*files));
        cur = calloc(spec->n_objects ? spec->n_objects : 1, sizeof(*cur));
        if (!mnt || !files || !cur) {
                r = -ENOMEM;
                goto out;
        }
        root_fd = open(mnt, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root_fd < 0) {
                r = -errno;
                (void)snprintf(err, sizeof(err), "opening the volume's tmpfs failed: %s",
                               strerror(-r));
                goto fail;
        }
        for (size_t i = 0; i < spec->n_objects; i++) {
                const SecretObject *o = &spec->objects[i];
                const Secret *v = run->values[i];
                size_t len;
                if (!v) {
                        r = read_current(root_fd, o->name, c->max_file_bytes, &cur[i]);
                        if (r < 0) {
                                (void)snprintf(err, sizeof(err),
                                               "reading the current file '%s' failed: %s",
                                               o->name, strerror(-r));
                                goto fail;
                        }
                        v = cur[i];
                }
                files[i] = (PayloadFile){
                        .name = o->name,
                        .data = secret_get(v, &len),
                        .len = len,
                        .mode = o->mode_set ? o->mode : (gid != (gid_t)-1 ? 0440 : 0444),
                };
                total += len;
        }
        if (total > c->max_volume_bytes) {
                r = -E2BIG;
                (void)snprintf(err, sizeof(err),
                               "the volume's files would exceed the node's max-volume-bytes");
                goto fail;
        }
        r = atomic_writer_same(root_fd, files, spec->n_objects, &same);
        if (r == 0 && same) {
                metrics_inc(run->R->metrics, METRICS_UNCHANGED);
                goto out;
        }
        r = atomic_writer_write(root_fd, files, spec->n_objects, gid, err, sizeof(err));
        if (r < 0)
                goto fail;
        metrics_inc(run->R->metrics, METRICS_FILES_SWAPPED);
        rec->state_gen++;
        log_debug("volume '%s': new content swapped in", rec->volume_id);
        goto out;
fail:
        run_fail(run, run->err_group != SIZE_MAX ? run->err_group : 0,
                 "writing the new files failed (the previous ones are kept): %s", err);
out:
        for (size_t i = 0; cur && i < spec->n_objects; i++)
                secret_free(cur[i]);
        free(cur);
        return r < 0 ? r : 0;
}

/* A failed swap: the groups go back to what the files hold. */
static void restore_groups(Run *run) {
        VolumeRecord *rec = run->rec;
        for (size_t i = 0; i < rec->n_groups; i++) {
                if (!run->changed[i])
                        continue;
                if (rec->groups[i].lease_id &&
                    !streq_ptr(rec->groups[i].lease_id, run->saved[i].lease_id))
                        (void)list_add(&run->unused, &run->n_unused, rec->groups[i].lease_id);
                free(rec->groups[i].lease_id);
                rec->groups[i] = run->saved[i];
                rec->groups[i].lease_id = TAKE_PTR(run->saved[i].lease_id);
                rec->groups[i].failing = true;
                rec->groups[i].due_usec = run->now;
                run->changed[i] = false;
        }
        /* nothing of the old leases is to be revoked now */
        for (size_t i = 0; i < run->n_revoke; i++)
                free(run->revoke[i]);
        run->n_revoke = 0;
}

static void revoke_leases(Run *run, char **ids, size_t n) {
        for (size_t i = 0; i < n && token_usable(run->rec); i++) {
                VaultError ve = { 0 };
                int r = call_enter(run);
                if (r != 0)
                        return; /* it expires on its own, soon: it was at its max TTL */
                r = vault_client_lease_revoke(run->client, run->rec->token, ids[i], &ve);
                call_leave(run, r, &ve);
                if (r == 0)
                        metrics_inc(run->R->metrics, METRICS_LEASES_REVOKED);
                else
                        log_debug("volume '%s': revoking a replaced lease failed, ignoring (it "
                                  "expires with its TTL): %s",
                                  run->rec->volume_id, ve.message);
        }
}

static void revoke_old_token(Run *run) {
        VolumeRecord *rec = run->rec;
        VaultError ve = { 0 };
        int r;

        if (!rec->old_token)
                return;
        for (size_t i = 0; i < rec->n_groups; i++)
                if (rec->groups[i].kind == SECRET_KIND_LEASE && rec->groups[i].replace)
                        return; /* some credentials still come from it */
        r = call_enter(run);
        if (call_skipped(r))
                return;
        r = vault_client_token_revoke_self(run->client, rec->old_token, &ve);
        call_leave(run, r, &ve);
        if (r == 0)
                metrics_inc(run->R->metrics, METRICS_TOKENS_REVOKED);
        else
                log_debug("volume '%s': revoking the replaced Vault token failed, ignoring (it "
                          "expires with its TTL): %s",
                          rec->volume_id, ve.message);
        rec->old_token = vault_token_free(rec->old_token);
}

/* ---- health, schedule, status ---- */

/* Earliest expiry among the volume's secrets (leases die with the token). */
static uint64_t earliest_expiry(const VolumeRecord *rec, size_t *ret_group) {
        uint64_t best = 0;
        for (size_t i = 0; i < rec->n_groups; i++) {
                const SecretGroup *g = &rec->groups[i];
                uint64_t e = g->expires_usec;
                if (g->kind == SECRET_KIND_LEASE && rec->token_expires_usec &&
                    (!e || rec->token_expires_usec < e))
                        e = rec->token_expires_usec;
                if (e && (!best || e < best)) {
                        best = e;
                        if (ret_group)
                                *ret_group = i;
                }
        }
        return best;
}

static uint64_t token_due(const VolumeRecord *rec, uint64_t now, bool need_jwt) {
        if (!token_usable(rec))
                return REFRESH_PARK; /* a republish with a pod JWT kicks it */
        if (rec->token_retry_usec)
                return rec->token_retry_usec;
        if (rec->token_verify)
                return now;
        if (!rec->token_expires_usec)
                return REFRESH_PARK;
        if (need_jwt)
                return rec->token_expires_usec; /* nothing to do before it dies */
        if (rec->token_renewable && !rec->token_final)
                return refresh_renew_due(rec->token_renewed_usec, rec->token_expires_usec);
        return refresh_replace_due(rec->token_renewed_usec, rec->token_expires_usec,
                                   rec->token_ttl_sec);
}

static uint64_t next_due(const VolumeRecord *rec, uint64_t now, bool need_jwt,
                         const VolumeHealth *h) {
        uint64_t next = REFRESH_PARK;

        if (!rec->spec)
                ; /* nothing to do before a republish brings the attributes */
        else if (!token_usable(rec)) {
                /* a login is next, if a pod JWT is at hand */
                if (!need_jwt)
                        next = MAX(rec->token_retry_usec, now);
        } else {
                for (size_t i = 0; i < rec->n_groups; i++)
                        next = MIN(next, rec->groups[i].replace ? now : rec->groups[i].due_usec);
                next = MIN(next, token_due(rec, now, need_jwt));
        }
        /* failing: wake up at the earliest expiry to report it stale in time */
        if (h->state != VOLUME_STATE_OK && h->state != VOLUME_STATE_STALE &&
            h->earliest_expiry_usec > now)
                next = MIN(next, h->earliest_expiry_usec);
        if (next != REFRESH_PARK && next < now + REFRESH_MIN_GAP_USEC)
                next = now + REFRESH_MIN_GAP_USEC;
        return next;
}

const char *refresh_format_time(uint64_t usec, char *buf, size_t len) {
        format_time(usec, buf, len);
        return buf;
}

static void format_time(uint64_t usec, char *buf, size_t len) {
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) ||
            snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(usec % USEC_PER_SEC / 1000)) >= (int)len)
                (void)snprintf(buf, len, "?");
}

static int put_time(JsonValue *o, const char *key, uint64_t usec) {
        char buf[40];
        if (!usec || usec == REFRESH_PARK)
                return 0;
        format_time(usec, buf, sizeof(buf));
        return json_object_put_string(o, key, buf, strlen(buf));
}

static int status_json(const VolumeRecord *rec, const VolumeHealth *h, char **ret,
                       size_t *ret_len) {
        JsonValue *o = NULL, *arr = NULL;
        int r;

        if ((r = json_object_new(&o)) < 0)
                return r;
        if ((r = json_object_put_int64(o, "schema", REFRESH_STATUS_SCHEMA)) < 0 ||
            (r = json_object_put_string(o, "volume_id", rec->volume_id,
                                        strlen(rec->volume_id))) < 0 ||
            (r = json_object_put_string(o, "state", volume_state_to_string(h->state),
                                        strlen(volume_state_to_string(h->state)))) < 0 ||
            (r = put_time(o, "last_success", h->last_success_usec)) < 0 ||
            (r = put_time(o, "last_attempt", h->last_attempt_usec)) < 0 ||
            (r = put_time(o, "next_refresh", h->next_refresh_usec)) < 0 ||
            (r = put_time(o, "earliest_expiry", h->earliest_expiry_usec)) < 0 ||
            (r = json_object_put_int64(o, "consecutive_failures", h->failures)) < 0 ||
            (h->last_error[0] && (r = json_object_put_string(o, "last_error", h->last_error,
                                                             strlen(h->last_error))) < 0) ||
            (r = put_time(o, "token_expires", token_usable(rec) ? rec->token_expires_usec : 0)) <
                    0)
                goto out;
        if ((r = json_array_new(&arr)) < 0)
                goto out;
        for (size_t gi = 0; rec->spec && rec->group_of && gi < rec->n_groups; gi++) {
                const SecretGroup *g = &rec->groups[gi];
                const VolumeSpec *spec = rec->spec;
                JsonValue *go = NULL, *names = NULL;
                const char *kind = secret_kind_to_string(g->kind);
                const char *path = spec->objects[g->first_object].path;

                if ((r = json_object_new(&go)) < 0)
                        goto out;
                if ((r = json_array_new(&names)) == 0) {
                        for (size_t i = 0; r == 0 && i < spec->n_objects; i++) {
                                JsonValue *s = NULL;
                                if (rec->group_of[i] != gi)
                                        continue;
                                r = json_string_new(spec->objects[i].name,
                                                    strlen(spec->objects[i].name), &s);
                                if (r == 0)
                                        r = json_array_append_value(names, s);
                                json_value_unref(s);
                        }
                }
                if (r == 0)
                        r = json_object_put_value(go, "objects", names);
                json_value_unref(names);
                if (r == 0 && (r = json_object_put_string(go, "path", path, strlen(path))) == 0 &&
                    (r = json_object_put_string(go, "kind", kind, strlen(kind))) == 0 &&
                    (r = put_time(go, "expires", g->expires_usec)) == 0 &&
                    (r = put_time(go, "next_refresh", g->due_usec)) == 0 &&
                    g->kind == SECRET_KIND_KV2)
                        r = json_object_put_int64(go, "version", g->version);
                if (r == 0)
                        r = json_array_append_value(arr, go);
                json_value_unref(go);
                if (r < 0)
                        goto out;
        }
        if ((r = json_object_put_value(o, "secrets", arr)) < 0)
                goto out;
        r = json_write_string(o, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE, ret, ret_len);
out:
        json_value_unref(arr);
        json_value_unref(o);
        return r;
}

/**
 * refresher_write_status() - replaces the volume's status file.
 * @R: the refresher.
 * @rec: the volume; the caller holds its busy flag.
 *
 * Written through the private tmpfs mount (the pod's view is read-only) as
 * REFRESH_STATUS_FILE.tmp, then renamed over the old one, so a reader sees
 * the old or the new file, whole. Mode 0444, or 0440 with the volume's group.
 * Return: 0 or -errno.
 */
int refresher_write_status(Refresher *R, VolumeRecord *rec) {
        _cleanup_free_ char *mnt = volume_record_mount_dir(R->volumes, rec), *text = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        static const char tmp[] = REFRESH_STATUS_FILE ".tmp";
        gid_t gid = record_gid(rec);
        VolumeHealth h;
        size_t len = 0, off = 0;
        int r;

        if (!mnt)
                return -ENOMEM;
        volume_record_get_health(R->volumes, rec, &h);
        r = status_json(rec, &h, &text, &len);
        if (r < 0)
                return r;
        dfd = open(mnt, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        (void)unlinkat(dfd, tmp, 0);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    gid != (gid_t)-1 ? 0440 : 0444);
        if (fd < 0)
                return -errno;
        if (gid != (gid_t)-1 && fchown(fd, 0, gid) < 0)
                r = -errno;
        while (r == 0 && off < len) {
                ssize_t n = write(fd, text + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        r = n < 0 ? -errno : -EIO;
                else
                        off += (size_t)n;
        }
        if (r == 0 && fchmod(fd, gid != (gid_t)-1 ? 0440 : 0444) < 0)
                r = -errno;
        if (close(TAKE_FD(fd)) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(dfd, tmp, dfd, REFRESH_STATUS_FILE) < 0)
                r = -errno;
        if (r < 0)
                (void)unlinkat(dfd, tmp, 0);
        return r;
}

static void log_state_change(Run *run, VolumeState from, const VolumeHealth *h) {
        VolumeRecord *rec = run->rec;
        const char *server = rec->spec ? rec->spec->server->name : rec->server;
        char when[40], retry[32];
        LogField f[] = {
                { "CSI_VOLUME_ID", rec->volume_id },
                { "VAULT_SERVER", server },
                { "VAULT_PATH", h->error_path[0] ? h->error_path : NULL },
                { "MESSAGE_ID", NULL },
                { "VOLUME_STATE", volume_state_to_string(h->state) },
        };

        switch (h->state) {
        case VOLUME_STATE_OK:
                f[3].value = LOG_MESSAGE_RECOVERED;
                log_struct(LOG_LEVEL_INFO, 0, f, ELEMENTSOF(f),
                           "volume '%s': secrets are current again (was %s)", rec->volume_id,
                           volume_state_to_string(from));
                break;
        case VOLUME_STATE_FAILING:
                f[3].value = LOG_MESSAGE_ROTATION_FAILED;
                (void)format_duration(h->next_refresh_usec > run->now
                                              ? h->next_refresh_usec - run->now
                                              : 0,
                                      retry, sizeof(retry));
                log_struct(LOG_LEVEL_WARNING, 0, f, ELEMENTSOF(f),
                           "volume '%s': refreshing its secrets failed, the current files are "
                           "kept; next attempt in %s: %s",
                           rec->volume_id, retry, h->last_error);
                break;
        case VOLUME_STATE_WAITING:
                f[3].value = LOG_MESSAGE_ROTATION_FAILED;
                log_struct(LOG_LEVEL_WARNING, 0, f, ELEMENTSOF(f),
                           "volume '%s': waiting for a republish to bring a fresh pod token; "
                           "the current files are kept: %s",
                           rec->volume_id, h->last_error);
                break;
        case VOLUME_STATE_STALE:
                f[3].value = LOG_MESSAGE_SECRET_STALE;
                format_time(h->earliest_expiry_usec, when, sizeof(when));
                log_struct(LOG_LEVEL_ERR, 0, f, ELEMENTSOF(f),
                           "volume '%s': secret '%s' expired at %s and refreshing it keeps "
                           "failing: %s",
                           rec->volume_id, h->error_object[0] ? h->error_object : "?", when,
                           h->last_error[0] ? h->last_error : "no usable Vault token");
                break;
        default:
                break;
        }
}

static void copy_text(char *dst, size_t len, const char *src) {
        size_t n = strlen(strempty(src));
        n = MIN(n, len - 1);
        memcpy(dst, strempty(src), n);
        dst[n] = '\0';
}

/* Health, gauges, logs, the status file, the record; returns the next due time. */
static uint64_t finish_run(Run *run) {
        Refresher *R = run->R;
        VolumeRecord *rec = run->rec;
        VolumeHealth h, old;
        size_t eg = SIZE_MAX;
        uint64_t next;
        bool waiting;
        int r;

        volume_record_get_health(R->volumes, rec, &h);
        old = h;
        if (run->requests)
                h.last_attempt_usec = run->now;
        if (run->failed) {
                uint64_t retry = run->now +
                                 refresh_backoff_usec(R->config->refresh_backoff_min_usec,
                                                      R->config->refresh_backoff_max_usec,
                                                      h.failures + 1, rnd());
                h.failures++;
                copy_text(h.last_error, sizeof(h.last_error), run->err);
                if (run->err_group != SIZE_MAX && rec->spec) {
                        copy_text(h.error_object, sizeof(h.error_object),
                                  group_object(run, run->err_group));
                        copy_text(h.error_path, sizeof(h.error_path),
                                  group_path(run, run->err_group));
                } else {
                        h.error_object[0] = '\0';
                        h.error_path[0] = '\0';
                }
                for (size_t i = 0; i < rec->n_groups; i++)
                        if (rec->groups[i].failing)
                                rec->groups[i].due_usec = retry;
                if (run->token_failed)
                        rec->token_retry_usec = retry;
        } else if (run->requests && !run->cancelled && !run->need_jwt) {
                h.failures = 0;
                h.last_success_usec = run->now;
                h.last_error[0] = '\0';
                h.error_object[0] = '\0';
                h.error_path[0] = '\0';
        }

        waiting = !rec->spec || !token_usable(rec) || run->need_jwt;
        if (waiting && !run->failed) {
                const char *why = !rec->spec
                                          ? "the volume attributes were not kept across the "
                                            "restart (state dir not on a tmpfs)"
                                  : !rec->token ? "the volume's Vault token was not kept across "
                                                  "the restart (state dir not on a tmpfs)"
                                  : rec->token_dead
                                          ? "the volume's Vault token expired or was revoked"
                                          : "the volume's Vault token reaches its max TTL and "
                                            "no unexpired pod token is at hand for a new login";
                if (!h.last_error[0])
                        copy_text(h.last_error, sizeof(h.last_error), why);
        }
        if (run->paused && !run->failed) {
                char when[40];
                format_time(run->defer_until, when, sizeof(when));
                (void)snprintf(h.last_error, sizeof(h.last_error),
                               "refreshes to Vault server '%s' are paused after it answered "
                               "429/503 or did not answer; next attempt at %s",
                               rec->spec ? rec->spec->server->name : strempty(rec->server),
                               when);
        }
        h.earliest_expiry_usec = earliest_expiry(rec, &eg);
        /* a secret past its end is stale, whatever kept it from being refreshed */
        if (h.earliest_expiry_usec && h.earliest_expiry_usec <= run->now) {
                h.state = VOLUME_STATE_STALE;
                if (eg != SIZE_MAX && rec->spec) {
                        copy_text(h.error_object, sizeof(h.error_object), group_object(run, eg));
                        copy_text(h.error_path, sizeof(h.error_path), group_path(run, eg));
                }
        } else if (waiting)
                h.state = VOLUME_STATE_WAITING;
        else if (h.failures > 0 || run->paused)
                h.state = VOLUME_STATE_FAILING;
        else
                h.state = VOLUME_STATE_OK;

        next = next_due(rec, run->now, run->need_jwt, &h);
        if (run->deferred && next != REFRESH_PARK)
                /* what was due waits for the server's pause (or the bucket) */
                next = MAX(next, run->defer_until);
        h.next_refresh_usec = next == REFRESH_PARK ? 0 : next;

        if (h.state == VOLUME_STATE_STALE && old.state != VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, +1);
        else if (h.state != VOLUME_STATE_STALE && old.state == VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, -1);
        if (run->requests)
                metrics_inc(R->metrics, run->failed ? METRICS_REFRESH_FAILED : METRICS_REFRESH_OK);
        volume_record_set_health(R->volumes, rec, &h);
        if (h.state != old.state)
                log_state_change(run, old.state, &h);

        r = refresher_write_status(R, rec);
        if (r < 0)
                log_debug("volume '%s': writing the status file failed: %s", rec->volume_id,
                          strerror(-r));
        if (h.state != old.state || rec->state_gen != run->gen0) {
                r = volume_record_save(R->volumes, rec);
                if (r < 0)
                        log_debug("volume '%s': saving its state failed: %s", rec->volume_id,
                                  strerror(-r));
        }
        return next;
}

/* Parses the spec kept with the record (after a restart). */
static int ensure_spec(Run *run) {
        VolumeRecord *rec = run->rec;
        _cleanup_free_ KeyValue *kv = NULL;
        char err[VOLUME_ERROR_MAX];
        size_t n = 0;
        int r;

        if (rec->spec)
                return 0;
        r = volume_record_attributes(rec, &kv, &n);
        if (r < 0)
                return r;
        r = volume_spec_parse(run->R->config, kv, n, &rec->spec, err, sizeof(err));
        if (r < 0) {
                log_debug("volume '%s': its kept attributes no longer parse: %s",
                          rec->volume_id, err);
                rec->spec = NULL;
                return r;
        }
        /* the spec has its own copies; the objects file stays as it is */
        rec->objects_attr = secret_free(rec->objects_attr);
        return 0;
}

/* The rotation state matching the spec (kept state when it still fits). */
static int ensure_groups(VolumeRecord *rec, uint64_t now) {
        size_t *go = NULL, n = 0;
        bool fits;
        int r;

        if (rec->group_of)
                return 0;
        r = refresh_groups_build(rec->spec, &go, &n);
        if (r < 0)
                return r;
        fits = rec->n_groups == n;
        for (size_t k = 0; fits && k < n; k++) {
                size_t first = SIZE_MAX;
                for (size_t i = 0; i < rec->spec->n_objects && first == SIZE_MAX; i++)
                        if (go[i] == k)
                                first = i;
                fits = rec->groups[k].first_object == first;
        }
        if (!fits) {
                SecretGroup *gs = calloc(n ? n : 1, sizeof(*gs));
                if (!gs) {
                        free(go);
                        return -ENOMEM;
                }
                volume_record_clear_groups(rec);
                for (size_t i = rec->spec->n_objects; i-- > 0;)
                        gs[go[i]].first_object = i;
                for (size_t k = 0; k < n; k++) {
                        gs[k].replace = true;
                        gs[k].due_usec = now;
                }
                rec->groups = gs;
                rec->n_groups = n;
        }
        rec->group_of = go;
        return 0;
}

static void run_done(Run *run) {
        for (size_t i = 0; run->values && run->spec && i < run->spec->n_objects; i++)
                secret_free(run->values[i]);
        free(run->values);
        free(run->changed);
        for (size_t i = 0; run->saved && i < run->rec->n_groups; i++)
                free(run->saved[i].lease_id);
        free(run->saved);
        for (size_t i = 0; i < run->n_revoke; i++)
                free(run->revoke[i]);
        free(run->revoke);
        for (size_t i = 0; i < run->n_unused; i++)
                free(run->unused[i]);
        free(run->unused);
}

static uint64_t refresh_record(Refresher *R, VolumeRecord *rec, const RefreshJob *job) {
        Run run = { .R = R, .rec = rec, .job = job, .now = realtime_now(), .err_group = SIZE_MAX,
                    .gen0 = rec->state_gen };
        ssize_t idx;
        uint64_t next;

        if (ensure_spec(&run) < 0 || ensure_groups(rec, run.now) < 0)
                return finish_run(&run);
        run.spec = rec->spec;
        idx = server_index(R, rec->spec->server);
        if (idx < 0)
                return finish_run(&run);
        run.limit = &R->limits[idx];
        run.client = thread_client(R, (size_t)idx);
        run.values = calloc(rec->spec->n_objects ? rec->spec->n_objects : 1, sizeof(*run.values));
        run.changed = calloc(rec->n_groups ? rec->n_groups : 1, sizeof(*run.changed));
        run.saved = calloc(rec->n_groups ? rec->n_groups : 1, sizeof(*run.saved));
        if (!run.client || !run.values || !run.changed || !run.saved) {
                run_fail(&run, SIZE_MAX, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < rec->n_groups; i++) {
                run.saved[i] = rec->groups[i];
                run.saved[i].lease_id = rec->groups[i].lease_id ? strdup(rec->groups[i].lease_id)
                                                                : NULL;
                rec->groups[i].failing = false;
        }

        token_step(&run);
        for (size_t i = 0; i < rec->n_groups && token_usable(rec) && !run.cancelled; i++) {
                SecretGroup *g = &rec->groups[i];
                if (g->replace || g->due_usec <= run.now)
                        group_step(&run, i);
        }
        if (!run.cancelled && write_payload(&run) < 0)
                restore_groups(&run);
        if (!run.cancelled) {
                revoke_leases(&run, run.unused, run.n_unused);
                revoke_leases(&run, run.revoke, run.n_revoke);
                revoke_old_token(&run);
        }
done:
        next = finish_run(&run);
        run_done(&run);
        return next;
}

static uint64_t refresh_volume(void *userdata, const RefreshJob *job) {
        Refresher *R = userdata;
        VolumeRecord *rec = NULL;
        uint64_t next;
        int r;

        if (refresh_job_cancelled(job))
                return 0;
        r = volume_table_acquire_refresh(R->volumes, job->volume_id, &rec);
        if (r == -ENOENT)
                return 0; /* unpublished */
        if (r < 0)
                return realtime_now() + 500 * 1000; /* an RPC holds it; try again soon */
        next = refresh_record(R, rec, job);
        volume_table_release(R->volumes, rec, false);
        return next;
}

/* ---- the publish side ---- */

int refresher_volume_init(Refresher *R, VolumeRecord *rec, const VaultResponse *const *responses,
                          uint64_t now) {
        const VolumeSpec *spec = rec->spec;
        VolumeHealth h = { .state = VOLUME_STATE_OK };
        size_t *go = NULL, n = 0;
        SecretGroup *gs;
        int r;

        if (!spec)
                return -EINVAL;
        r = refresh_groups_build(spec, &go, &n);
        if (r < 0)
                return r;
        gs = calloc(n ? n : 1, sizeof(*gs));
        if (!gs) {
                free(go);
                return -ENOMEM;
        }
        for (size_t i = spec->n_objects; i-- > 0;)
                gs[go[i]].first_object = i;
        for (size_t k = 0; k < n; k++) {
                const VaultResponse *resp = responses[gs[k].first_object];
                if (!resp) {
                        gs[k].replace = true;
                        gs[k].due_usec = now;
                        continue;
                }
                refresh_group_observe(&gs[k], resp, now, spec->refresh_interval_usec, rnd());
                if (gs[k].kind == SECRET_KIND_LEASE)
                        metrics_inc(R->metrics, METRICS_LEASES_ISSUED);
                else if (gs[k].kind == SECRET_KIND_PKI)
                        metrics_inc(R->metrics, METRICS_CERTS_ISSUED);
        }
        volume_record_clear_groups(rec);
        rec->groups = gs;
        rec->n_groups = n;
        rec->group_of = go;

        rec->token_ttl_sec = vault_token_ttl_sec(rec->token);
        rec->token_renewed_usec = now;
        rec->token_expires_usec = vault_token_expires_usec(rec->token);
        rec->token_renewable = vault_token_renewable(rec->token);
        rec->token_final = !rec->token_renewable;
        rec->token_dead = false;
        rec->token_verify = false;

        h.last_success_usec = h.last_attempt_usec = now;
        h.earliest_expiry_usec = earliest_expiry(rec, NULL);
        {
                uint64_t next = next_due(rec, now, false, &h);
                h.next_refresh_usec = next == REFRESH_PARK ? 0 : next;
        }
        volume_record_set_health(R->volumes, rec, &h);
        r = refresher_write_status(R, rec);
        if (r < 0)
                log_debug("volume '%s': writing the status file failed: %s", rec->volume_id,
                          strerror(-r));
        return 0;
}

void refresher_schedule(Refresher *R, VolumeRecord *rec) {
        VolumeHealth h;
        uint64_t next;

        if (!R)
                return;
        volume_record_get_health(R->volumes, rec, &h);
        next = next_due(rec, realtime_now(), false, &h);
        if (refresh_scheduler_add(R->sched, rec->volume_id, next) < 0)
                log_warning("volume '%s': out of memory, it will not be refreshed",
                            rec->volume_id);
}

size_t refresher_resume_all(Refresher *R) {
        char **ids = NULL;
        size_t n = 0, added = 0;
        uint64_t now = realtime_now();

        if (volume_table_list(R->volumes, &ids, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                VolumeHealth h;
                /* the gauge counts stale volumes of this process too */
                if (volume_table_get_health(R->volumes, ids[i], &h) == 0 &&
                    h.state == VOLUME_STATE_STALE)
                        metrics_stale_add(R->metrics, +1);
                /* first refresh soon (it checks the token), spread out */
                if (refresh_scheduler_add(R->sched, ids[i], now + rnd() % RESUME_SPREAD_USEC) == 0)
                        added++;
                free(ids[i]);
        }
        free(ids);
        return added;
}

void refresher_resume(Refresher *R, const char *volume_id) {
        if (R)
                (void)refresh_scheduler_add(R->sched, volume_id,
                                            realtime_now() + rnd() % RESUME_SPREAD_USEC);
}

int refresher_refresh_now(Refresher *R, const char *volume_id, uint64_t timeout_usec) {
        uint64_t gen = 0;
        int r;

        if (!R)
                return -ENOENT;
        r = refresh_scheduler_kick(R->sched, volume_id, &gen);
        if (r < 0)
                return r;
        return refresh_scheduler_wait(R->sched, volume_id, gen, timeout_usec);
}

int refresher_wait_current(Refresher *R, const char *volume_id, uint64_t timeout_usec) {
        uint64_t gen = 0;
        int r;

        if (!R)
                return -ENOENT;
        r = refresh_scheduler_generation(R->sched, volume_id, &gen);
        if (r < 0)
                return r;
        return refresh_scheduler_wait(R->sched, volume_id, gen, timeout_usec);
}

int refresher_cancel(Refresher *R, const char *volume_id) {
        if (!R)
                return 0;
        /* one request at most is in flight once it sees the flag */
        return refresh_scheduler_cancel(R->sched, volume_id,
                                        R->config->refresh_request_timeout_usec +
                                                2 * USEC_PER_SEC);
}

void refresher_forget(Refresher *R, VolumeRecord *rec) {
        VolumeHealth h;
        if (!R)
                return;
        volume_record_get_health(R->volumes, rec, &h);
        if (h.state == VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, -1);
}
