/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scheduler.c - the due-time heap and the refresh threads (see scheduler.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "clock.h"
#include "scheduler.h"
#include "macro.h"

/* Longest condition wait of a scheduler thread (it re-reads the clock). */
#define SCHEDULER_MAX_SLEEP_USEC (30ULL * USEC_PER_SEC)

/* ---- the heap ---- */

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

/* ---- the scheduler ---- */

typedef struct Entry {
        char *volume_id;
        uint64_t due;
        uint64_t gen;              /* finished refreshes */
        uint64_t pending_due;      /* added while running: the earliest asked for */
        uint64_t crit_due;         /* its next expiry-critical step (REFRESH_PARK: none) */
        uint64_t pending_crit_due; /* added as critical while running (0: not) */
        bool queued;               /* in the routine lane at `due` */
        bool crit_queued;          /* in the critical lane at `crit_due` */
        bool running;
        bool kicked; /* made due while running: run again at once */
        atomic_bool cancelled;
} Entry;

struct RefreshScheduler {
        pthread_mutex_t lock;
        pthread_cond_t work;   /* workers */
        pthread_cond_t done;   /* cancel() and wait() */
        RefreshQueue queue;    /* routine lane */
        RefreshQueue critical; /* critical lane: pops first once due */
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

/* An idle worker waits for the queue at most `usec` (see wake_idle()). */
static void idle_wait(RefreshScheduler *s, uint64_t usec) {
        uint64_t at = monotonic_usec() + usec;

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

        if (s->n_idle == 0 || due == REFRESH_PARK)
                return;
        if (s->idle_wake) {
                now = s->clock(s->userdata);
                mono = monotonic_usec();
                if (due > now && mono < s->idle_wake && due - now >= s->idle_wake - mono)
                        return;
        }
        pthread_cond_broadcast(&s->work);
}

static Entry *entry_find(RefreshScheduler *s, const char *volume_id) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (streq(s->entries[i]->volume_id, volume_id))
                        return s->entries[i];
        return NULL;
}

static void entry_unqueue(RefreshScheduler *s, Entry *e) {
        if (e->queued)
                (void)refresh_queue_remove(&s->queue, e);
        if (e->crit_queued)
                (void)refresh_queue_remove(&s->critical, e);
        e->queued = e->crit_queued = false;
}

static void entry_drop(RefreshScheduler *s, Entry *e) {
        entry_unqueue(s, e);
        for (size_t i = 0; i < s->n_entries; i++)
                if (s->entries[i] == e) {
                        s->entries[i] = s->entries[--s->n_entries];
                        break;
                }
        free(e->volume_id);
        free(e);
}

/* Queues the entry in the routine lane at `due` and, when it has an
 * expiry-critical step, in the critical lane at crit_due (which may be
 * earlier: a routine step put off): whichever pops first runs it. */
static int entry_queue_class(RefreshScheduler *s, Entry *e, uint64_t due, uint64_t crit_due) {
        int r;

        entry_unqueue(s, e);
        e->due = due;
        e->crit_due = crit_due;
        if (due == REFRESH_PARK)
                return 0;
        r = refresh_queue_push(&s->queue, due, e);
        if (r < 0)
                return r;
        e->queued = true;
        if (e->crit_due == REFRESH_PARK)
                return 0;
        r = refresh_queue_push(&s->critical, e->crit_due, e);
        if (r == 0)
                e->crit_queued = true;
        return r;
}

/* A known volume moved to `due`: wholly critical before, it stays so. */
static uint64_t moved_crit_due(const Entry *e, uint64_t due) {
        if (e->crit_due == REFRESH_PARK)
                return REFRESH_PARK;
        return e->crit_due <= e->due ? due : MAX(e->crit_due, due);
}

static int entry_queue(RefreshScheduler *s, Entry *e, uint64_t due) {
        return entry_queue_class(s, e, due, moved_crit_due(e, due));
}

/* The entry to run now (popped), or NULL and *ret_wait: how long to sleep. */
static Entry *lanes_pop_due(RefreshScheduler *s, uint64_t *ret_wait) {
        uint64_t due_c = UINT64_MAX, due_r = UINT64_MAX, now;
        Entry *c = refresh_queue_peek(&s->critical, &due_c);
        Entry *e = refresh_queue_peek(&s->queue, &due_r);

        *ret_wait = SCHEDULER_MAX_SLEEP_USEC;
        if (!c && !e)
                return NULL;
        now = s->clock(s->userdata);
        if (c && due_c <= now) {
                entry_unqueue(s, c);
                return c;
        }
        if (e && due_r <= now) {
                entry_unqueue(s, e);
                return e;
        }
        *ret_wait = MIN(MIN(due_c, due_r) - now, SCHEDULER_MAX_SLEEP_USEC);
        return NULL;
}

static void *scheduler_thread(void *p) {
        RefreshScheduler *s = p;

        pthread_mutex_lock(&s->lock);
        while (!atomic_load(&s->stopping)) {
                uint64_t wait, next, crit_due;
                Entry *e = lanes_pop_due(s, &wait);
                RefreshJob job;

                if (!e) {
                        idle_wait(s, wait);
                        continue;
                }
                e->running = true;
                e->kicked = false;
                e->pending_due = 0;
                e->pending_crit_due = 0;
                crit_due = e->crit_due; /* unless the refresh says otherwise */
                job = (RefreshJob){ .volume_id = e->volume_id,
                                    .cancelled = &e->cancelled,
                                    .stopping = &s->stopping,
                                    .ret_critical_due = &crit_due };
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
                        if (e->pending_crit_due && e->pending_crit_due < crit_due)
                                crit_due = e->pending_crit_due;
                        if (entry_queue_class(s, e, next, crit_due) < 0)
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
        refresh_queue_done(&s->critical);
        free(s->threads);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->done);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

/* keep: a known volume keeps its lanes (a new one is routine); else crit_due. */
static int scheduler_add(RefreshScheduler *s, const char *volume_id, uint64_t due, bool keep,
                         uint64_t crit_due) {
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
                r = entry_queue_class(s, e, due, keep ? REFRESH_PARK : crit_due);
        } else if (e->running) {
                atomic_store(&e->cancelled, false);
                if (!e->pending_due || due < e->pending_due)
                        e->pending_due = due;
                if (!keep && crit_due != REFRESH_PARK &&
                    (!e->pending_crit_due || crit_due < e->pending_crit_due))
                        e->pending_crit_due = crit_due;
        } else
                r = entry_queue_class(s, e, due, keep ? moved_crit_due(e, due) : crit_due);
        /* an idle worker wakes only for what is due before it wakes anyway */
        wake_idle(s, keep ? due : MIN(due, crit_due));
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

int refresh_scheduler_add(RefreshScheduler *s, const char *volume_id, uint64_t due) {
        return scheduler_add(s, volume_id, due, true, REFRESH_PARK);
}

int refresh_scheduler_add_class(RefreshScheduler *s, const char *volume_id, uint64_t due,
                                uint64_t crit_due) {
        return scheduler_add(s, volume_id, due, false, crit_due);
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
        uint64_t deadline = monotonic_usec() + timeout_usec;
        int r;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                Entry *e = entry_find(s, volume_id);
                uint64_t now = monotonic_usec();
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
        uint64_t deadline = monotonic_usec() + timeout_usec;
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
                        uint64_t now = monotonic_usec();
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
        return LOCKED_READ(&s->lock, s->n_entries);
}

bool refresh_scheduler_critical_waiting(RefreshScheduler *s) {
        uint64_t due = 0;
        bool waiting;

        pthread_mutex_lock(&s->lock);
        waiting = refresh_queue_peek(&s->critical, &due) && due <= s->clock(s->userdata);
        pthread_mutex_unlock(&s->lock);
        return waiting;
}

bool refresh_scheduler_alive(RefreshScheduler *s, uint64_t timeout_usec) {
        uint64_t t = clock_usec(CLOCK_REALTIME) + timeout_usec;
        struct timespec ts = { .tv_sec = (time_t)(t / USEC_PER_SEC),
                               .tv_nsec = (long)(t % USEC_PER_SEC) * 1000 };
        bool alive;

        /* a thread stuck while holding the lock makes this time out */
        if (pthread_mutex_timedlock(&s->lock, &ts) != 0)
                return false;
        alive = s->n_threads > 0 && s->n_started == s->n_threads && !atomic_load(&s->stopping);
        pthread_mutex_unlock(&s->lock);
        return alive;
}
