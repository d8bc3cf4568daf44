/* SPDX-License-Identifier: Apache-2.0 */
/*
 * refresher.c - the Vault refresh of one volume, and the refresher's
 * lifecycle (see refresher.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "atomic-writer.h"
#include "budget.h"
#include "clock.h"
#include "fsutil.h"
#include "log.h"
#include "log-ids.h"
#include "payload-read.h"
#include "refresher.h"
#include "volume-rotation.h"
#include "secret-set.h"
#include "volume-observe.h"
#include "macro.h"

/* Restarted volumes are spread over this much time. */
#define RESUME_SPREAD_USEC (2ULL * USEC_PER_SEC)
/* A pod JWT this close to its expiry is not used for a login. */
#define JWT_MARGIN_SEC 5

struct Refresher {
        const Config *config;
        VolumeTable *volumes;
        VaultPool *pool;
        Metrics *metrics;
        RefreshScheduler *sched;
        atomic_bool *revoke_denied; /* per server: the 403 on sys/leases/revoke was logged */
        RefreshBudget budget;
};

static uint64_t refresher_clock(void *userdata) {
        (void)userdata;
        return realtime_usec();
}

static uint64_t refresh_volume(void *userdata, const RefreshJob *job);

int refresher_new(Refresher **ret, const Config *c, VolumeTable *volumes, VaultPool *pool,
                  Metrics *metrics, char *err, size_t errlen) {
        _cleanup_(refresher_freep) Refresher *R = calloc(1, sizeof(*R));
        int r;

        err_init(err, errlen);
        if (!R)
                return -ENOMEM;
        R->config = c;
        R->volumes = volumes;
        R->pool = pool;
        R->metrics = metrics;
        R->revoke_denied =
                calloc(c->n_vault_servers ? c->n_vault_servers : 1, sizeof(*R->revoke_denied));
        if (!R->revoke_denied)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_vault_servers; i++)
                atomic_init(&R->revoke_denied[i], false);
        r = refresh_budget_init(&R->budget, c->n_vault_servers);
        if (r < 0)
                return r;
        r = refresh_scheduler_new(&R->sched, c->refresh_workers ? c->refresh_workers : 1,
                                  refresher_clock, refresh_volume, R);
        if (r < 0) {
                err_set(err, errlen, "creating the refresh scheduler failed: %s", strerror(-r));
                return r;
        }
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

bool refresher_alive(Refresher *R, uint64_t timeout_usec) {
        return R && R->sched && refresh_scheduler_alive(R->sched, timeout_usec);
}

Refresher *refresher_free(Refresher *R) {
        if (!R)
                return NULL;
        R->sched = refresh_scheduler_free(R->sched);
        free(R->revoke_denied);
        refresh_budget_done(&R->budget);
        free(R);
        return NULL;
}

Metrics *refresher_metrics(Refresher *R) {
        return R ? R->metrics : NULL;
}

static bool job_cancelled(const void *userdata) {
        return refresh_job_cancelled(userdata);
}

typedef struct RoutineWait {
        const RefreshJob *job;
        RefreshScheduler *sched;
} RoutineWait;

/* A routine request stops waiting for the bucket once a critical refresh
 * waits for a thread: this run gives way (deferred) instead of holding one. */
static bool routine_gives_way(const void *userdata) {
        const RoutineWait *w = userdata;
        return refresh_job_cancelled(w->job) || refresh_scheduler_critical_waiting(w->sched);
}

/* ---- one refresh run ---- */

typedef struct Run {
        Refresher *R;
        VolumeRecord *rec;
        const RefreshJob *job;
        const VolumeSpec *spec;
        VaultLimit *limit;
        VaultClient *client;
        uint64_t now;
        bool requests;  /* at least one Vault request went */
        unsigned calls; /* Vault requests that went (refresh_total) */
        bool failed;
        bool token_failed;
        bool deferred;
        bool paused; /* deferred by the server gate (429/503/no answer) */
        uint64_t defer_until;
        bool cancelled;
        bool need_jwt;       /* the token must be replaced and no pod JWT is at hand */
        VaultLimitClass cls; /* of the requests the run makes now */
        bool budget_short;   /* a critical request was deferred for lack of budget */
        bool crit_deferred;  /* deferred at a critical request, or the server is paused */
        bool resumed;        /* the first run after a restart: token check and critical steps */
        uint64_t gen0;       /* rec->rot->state_gen when the run started */
        char err[VOLUME_ERROR_MAX];
        size_t err_group;    /* SIZE_MAX: the token, or no group */
        ObjectValue *values; /* per object: new files (set), or unset (keep) */
        bool *changed;       /* per group */
        SecretGroup *saved;  /* per group: state before this run (for a failed swap) */
        char **revoke;       /* old lease ids, revoked after the swap */
        size_t n_revoke;
        char **unused; /* new lease ids not in the files (failed swap) */
        size_t n_unused;
} Run;

enum {
        CALL_DEFERRED = 1000,
        CALL_CANCELLED,
};

static _printf_(3, 4) void run_fail(Run *run, size_t group, const char *fmt, ...) {
        va_list ap;

        if (group != SIZE_MAX && group < run->rec->rot->n_groups)
                run->rec->rot->groups[group].failing = true;
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
        if (run->cls == VAULT_LIMIT_ROUTINE) {
                RoutineWait rw = { .job = run->job, .sched = run->R->sched };
                r = vault_limit_acquire_class(run->limit, run->cls, routine_gives_way, &rw, &wait);
                if (r == -ECANCELED && !refresh_job_cancelled(run->job)) {
                        r = -EBUSY; /* gave way: back soon, in the routine lane */
                        wait = 50 * 1000;
                }
        } else
                r = vault_limit_acquire_class(run->limit, run->cls, job_cancelled, run->job, &wait);
        if (r == -ECANCELED) {
                run->cancelled = true;
                return CALL_CANCELLED;
        }
        if (r == -EAGAIN || r == -EBUSY) {
                run->deferred = true;
                run->paused = r == -EAGAIN;
                if (r == -EBUSY && run->cls == VAULT_LIMIT_CRITICAL)
                        run->budget_short = true;
                /* a deferred KV re-read does not hold back a critical step */
                run->crit_deferred = run->paused || run->cls == VAULT_LIMIT_CRITICAL;
                /* spread the volumes that wait for the same pause */
                run->defer_until = realtime_usec() + wait + random_u64() % (wait / 4 + 100 * 1000);
                metrics_inc(run->R->metrics, METRICS_REFRESH_DEFERRED);
                return CALL_DEFERRED;
        }
        run->requests = true;
        run->calls++;
        return 0;
}

static void call_leave(Run *run, int r, const VaultError *ve) {
        vault_limit_release(run->limit, r, ve, true);
        metrics_vault_call(run->R->metrics, r == 0 ? 200 : ve->http_status, ve->attempts);
}

static bool call_skipped(int r) {
        return r == CALL_DEFERRED || r == CALL_CANCELLED;
}

static const char *group_path(const Run *run, size_t gi) {
        return run->rec->spec->objects[run->rec->rot->groups[gi].first_object].path;
}

static const char *group_object(const Run *run, size_t gi) {
        return run->rec->spec->objects[run->rec->rot->groups[gi].first_object].name;
}

/* Expired or revoked: its leases are gone from now on. */
static void mark_token_dead(VolumeRecord *rec, uint64_t now) {
        if (!rec->rot->token_dead)
                rec->rot->token_expires_usec =
                        rec->rot->token_expires_usec ? MIN(rec->rot->token_expires_usec, now) : now;
        rec->rot->token_dead = true;
        rec->rot->token_verify = false;
        rec->rot->state_gen++;
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
                VaultLoginParams lp = volume_login_params(spec, jwt);
                r = vault_client_login(run->client, &lp, &tok, &ve);
        }
        call_leave(run, r, &ve);
        if (r != 0) {
                run_fail(run, SIZE_MAX, "logging in again with role '%s' at auth mount '%s': %s",
                         spec->role, spec->auth_mount, ve.message[0] ? ve.message : "failed");
                if (r == VAULT_E_LOGIN_REJECTED)
                        run->need_jwt = rec->rot->token_dead || !rec->token;
                return r;
        }
        metrics_inc(run->R->metrics, METRICS_TOKENS_LOGIN);
        if (refresh_token_usable(rec)) {
                /* its leases stay valid until theirs are replaced */
                if (rec->rot->old_token) {
                        VaultError ve2 = { 0 };
                        if (call_enter(run) == 0) {
                                int q = vault_client_token_revoke_self(run->client,
                                                                       rec->rot->old_token, &ve2);
                                call_leave(run, q, &ve2);
                        }
                        vault_token_free(rec->rot->old_token);
                }
                rec->rot->old_token = rec->token;
        } else
                vault_token_free(rec->token);
        volume_record_set_token(rec, tok);
        free(rec->token_accessor);
        rec->token_accessor = vault_token_accessor(tok) ? strdup(vault_token_accessor(tok)) : NULL;
        rec->rot->token_ttl_sec = vault_token_ttl_sec(tok);
        rec->rot->token_renewed_usec = run->now;
        rec->rot->token_expires_usec = vault_token_expires_usec(tok);
        rec->rot->token_renewable = vault_token_renewable(tok);
        rec->rot->token_final = !rec->rot->token_renewable;
        rec->rot->token_dead = false;
        rec->rot->token_verify = false;
        rec->rot->token_retry_usec = 0;
        rec->rot->state_gen++;
        /* leases die with the token that created them: fetch them again */
        for (size_t i = 0; i < rec->rot->n_groups; i++)
                if (rec->rot->groups[i].kind == SECRET_KIND_LEASE)
                        rec->rot->groups[i].replace = true;
        log_debug("volume '%s': logged in to Vault again", rec->volume_id);
        return 0;
}

/* A token restored from disk: ask Vault whether it still lives. false when
 * the run cannot go on with it (skipped or failed). */
static bool token_verify(Run *run) {
        VolumeRecord *rec = run->rec;
        VaultTokenInfo info = { 0 };
        VaultError ve = { 0 };
        int r = call_enter(run);

        if (r != 0)
                return false;
        r = vault_client_token_lookup_self(run->client, rec->token, &info, &ve);
        call_leave(run, r, &ve);
        if (r == VAULT_E_DENIED) {
                mark_token_dead(rec, run->now);
                return true;
        }
        if (r != 0) {
                if (!call_skipped(r))
                        run_fail(run, SIZE_MAX, "looking up the volume's Vault token: %s",
                                 ve.message);
                return false;
        }
        rec->rot->token_verify = false;
        rec->rot->token_retry_usec = 0;
        rec->rot->token_renewable = info.renewable;
        if (rec->rot->token_ttl_sec <= 0)
                rec->rot->token_ttl_sec = info.creation_ttl_sec;
        if (info.ttl_sec > 0) {
                rec->rot->token_expires_usec = run->now + (uint64_t)info.ttl_sec * USEC_PER_SEC;
                if (!rec->rot->token_renewed_usec || rec->rot->token_renewed_usec > run->now)
                        rec->rot->token_renewed_usec = run->now;
        } else
                rec->rot->token_expires_usec = 0;
        rec->rot->state_gen++;
        return true;
}

/* Whether the token cannot be extended and is a third of its TTL from expiry. */
static bool token_needs_login(const VolumeRecord *rec, uint64_t now) {
        if (!refresh_token_usable(rec))
                return true;
        return rec->rot->token_expires_usec &&
               (!rec->rot->token_renewable || rec->rot->token_final) &&
               now >= refresh_replace_due(rec->rot->token_renewed_usec,
                                          rec->rot->token_expires_usec, rec->rot->token_ttl_sec);
}

static bool token_renew_due(const VolumeRecord *rec, uint64_t now) {
        return rec->rot->token_renewable && !rec->rot->token_final &&
               rec->rot->token_expires_usec &&
               now >= refresh_renew_due(rec->rot->token_renewed_usec, rec->rot->token_expires_usec);
}

static void token_renewed(Run *run, int64_t want) {
        VolumeRecord *rec = run->rec;
        int64_t got = vault_token_ttl_sec(rec->token);

        metrics_inc(run->R->metrics, METRICS_TOKENS_RENEWED);
        rec->rot->token_retry_usec = 0;
        rec->rot->token_renewed_usec = run->now;
        rec->rot->token_expires_usec = vault_token_expires_usec(rec->token);
        rec->rot->token_renewable = vault_token_renewable(rec->token);
        /* shorter than asked: capped by the max TTL, the end is near */
        rec->rot->token_final = !rec->rot->token_renewable || (want > 0 && got + 1 < want);
        rec->rot->state_gen++;
}

/* renew-self at 2/3 of its TTL. Returns 1 when a login must follow, 0 when
 * not, -1 when the run cannot go on with the token. */
static int token_renew(Run *run) {
        VolumeRecord *rec = run->rec;
        int64_t want = rec->rot->token_ttl_sec;
        VaultError ve = { 0 };
        int r = call_enter(run);

        if (r != 0)
                return -1;
        r = vault_client_token_renew_self(run->client, rec->token, want > 0 ? (uint64_t)want : 0,
                                          &ve);
        call_leave(run, r, &ve);
        if (r == 0) {
                token_renewed(run, want);
                return rec->rot->token_final &&
                       run->now >= refresh_replace_due(run->now, rec->rot->token_expires_usec,
                                                       rec->rot->token_ttl_sec);
        }
        if (r == VAULT_E_DENIED) {
                mark_token_dead(rec, run->now);
                return 1;
        }
        if (r == VAULT_E_BAD_REQUEST) {
                rec->rot->token_renewable = false; /* not renewable after all */
                rec->rot->token_final = true;
                rec->rot->state_gen++;
                return 0;
        }
        if (!call_skipped(r))
                run_fail(run, SIZE_MAX, "renewing the volume's Vault token: %s", ve.message);
        return -1;
}

static void token_step(Run *run) {
        VolumeRecord *rec = run->rec;
        bool need_login;

        if (rec->token && !rec->rot->token_dead && rec->rot->token_expires_usec &&
            run->now >= rec->rot->token_expires_usec) {
                /* expired waiting for its turn (not after failures, not while
                 * the daemon was down): the budget did not keep it valid */
                if (!rec->rot->token_retry_usec && !run->resumed)
                        run->budget_short = true;
                mark_token_dead(rec, run->now); /* expired; its leases went with it */
        }
        if (rec->rot->token_retry_usec > run->now)
                return;
        if (refresh_token_usable(rec) && rec->rot->token_verify && !token_verify(run))
                return;
        need_login = token_needs_login(rec, run->now);
        if (!need_login && token_renew_due(rec, run->now)) {
                int r = token_renew(run);
                if (r < 0)
                        return;
                need_login = r > 0;
        }
        if (need_login)
                (void)vault_login_with_jwt(run);
}

/* Renders every object of group gi from resp into run->values. */
static int render_group(Run *run, size_t gi, const VaultResponse *resp) {
        char err[VOLUME_ERROR_MAX];
        int r = secret_set_render_group(run->spec, run->rec->rot->group_of, gi, resp,
                                        run->R->config->max_file_bytes, run->values, err,
                                        sizeof(err));
        if (r < 0)
                run_fail(run, gi, "%s", err);
        return r;
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
        SecretGroup *g = &rec->rot->groups[gi];
        const SecretObject *o = &run->spec->objects[g->first_object];
        _cleanup_(vault_response_freep) VaultResponse *resp = NULL;
        _cleanup_free_ char *old_lease = NULL;
        VaultRequest rq = secret_set_request(o);
        VaultError ve = { 0 };
        bool was_replace = g->replace, old_under_old_token;
        int64_t old_version = g->version;
        SecretKind old_kind = g->kind;
        int r;

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
        old_under_old_token = was_replace && rec->rot->old_token;
        old_lease = TAKE_PTR(g->lease_id);
        refresh_group_observe(g, resp, run->now, run->spec->refresh_interval_usec, random_u64());
        if (g->kind == SECRET_KIND_LEASE)
                metrics_inc(run->R->metrics, METRICS_LEASES_ISSUED);
        else if (g->kind == SECRET_KIND_PKI)
                metrics_inc(run->R->metrics, METRICS_CERTS_ISSUED);
        /* what a restart needs (a KV re-read changes nothing worth a save) */
        if (g->kind == SECRET_KIND_LEASE || g->kind == SECRET_KIND_PKI || g->kind != old_kind ||
            was_replace)
                rec->rot->state_gen++;
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
        SecretGroup *g = &rec->rot->groups[gi];
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
                        g->expires_usec =
                                run->now + (uint64_t)MAX(lease.duration_sec, 0) * USEC_PER_SEC;
                        g->renewable = lease.renewable;
                        /* Vault cannot extend it further (max TTL): replace it */
                        g->final = !lease.renewable || lease.capped ||
                                   lease.duration_sec + 1 < g->lease_ttl_sec;
                        g->failing = false;
                        rec->rot->state_gen++;
                        if (!g->final) {
                                g->due_usec = refresh_renew_due(run->now, g->expires_usec);
                                return;
                        }
                        g->due_usec =
                                refresh_replace_due(run->now, g->expires_usec, g->lease_ttl_sec);
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

/* The current content of every object this run did not render. */
static int read_unchanged(Run *run, int root_fd, ObjectValue *cur, char *err, size_t errlen) {
        const VolumeSpec *spec = run->spec;

        for (size_t i = 0; i < spec->n_objects; i++) {
                int r;
                if (run->values[i].set)
                        continue;
                r = payload_read_object(root_fd, &spec->objects[i], run->R->config->max_file_bytes,
                                        &cur[i]);
                if (r < 0) {
                        err_set(err, errlen, "reading the current file '%s' failed: %s",
                                spec->objects[i].name, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static bool any_changed(const Run *run) {
        for (size_t i = 0; i < run->rec->rot->n_groups; i++)
                if (run->changed[i])
                        return true;
        return false;
}

/* Swaps in the new payload when a group changed. 0, or -errno (failed). */
static int write_payload(Run *run) {
        VolumeRecord *rec = run->rec;
        const VolumeSpec *spec = run->spec;
        size_t n = spec->n_objects ? spec->n_objects : 1, n_files = 0;
        _cleanup_free_ PayloadFile *files = NULL;
        _cleanup_free_ ObjectValue *cur = NULL, *all = NULL;
        _cleanup_close_ int root_fd = -1;
        gid_t gid = volume_record_gid(rec);
        char err[VOLUME_ERROR_MAX] = "";
        bool same = false;
        int r = 0;

        if (!any_changed(run))
                return 0;
        cur = calloc(n, sizeof(*cur));
        all = calloc(n, sizeof(*all));
        if (!cur || !all) {
                r = -ENOMEM;
                goto out;
        }
        root_fd = volume_record_open_tmpfs(run->R->volumes, rec);
        if (root_fd < 0) {
                r = root_fd;
                if (r == -ESTALE)
                        err_set(err, sizeof(err), "%s", VOLUME_TMPFS_GONE);
                else
                        err_set(err, sizeof(err), "opening the volume's tmpfs failed: %s",
                                strerror(-r));
                goto fail;
        }
        r = read_unchanged(run, root_fd, cur, err, sizeof(err));
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < spec->n_objects; i++)
                all[i] = run->values[i].set ? run->values[i] : cur[i]; /* borrowed */
        r = secret_set_files(spec, all, gid, run->R->config->max_volume_bytes, &files, &n_files,
                             err, sizeof(err));
        if (r < 0)
                goto fail;
        r = atomic_writer_same(root_fd, files, n_files, &same);
        if (r == 0 && same) {
                metrics_inc(run->R->metrics, METRICS_UNCHANGED);
                goto out;
        }
        r = atomic_writer_write(root_fd, files, n_files, gid, 0, err, sizeof(err));
        if (r < 0)
                goto fail;
        metrics_inc(run->R->metrics, METRICS_FILES_SWAPPED);
        rec->rot->state_gen++;
        log_debug("volume '%s': new content swapped in", rec->volume_id);
        goto out;
fail:
        run_fail(run, run->err_group != SIZE_MAX ? run->err_group : 0,
                 "writing the new files failed (the previous ones are kept): %s", err);
out:
        for (size_t i = 0; cur && i < spec->n_objects; i++)
                object_value_done(&cur[i]);
        return r < 0 ? r : 0;
}

/* A failed swap: the groups go back to what the files hold. */
static void restore_groups(Run *run) {
        VolumeRecord *rec = run->rec;
        for (size_t i = 0; i < rec->rot->n_groups; i++) {
                if (!run->changed[i])
                        continue;
                if (rec->rot->groups[i].lease_id &&
                    !streq_ptr(rec->rot->groups[i].lease_id, run->saved[i].lease_id))
                        (void)list_add(&run->unused, &run->n_unused, rec->rot->groups[i].lease_id);
                free(rec->rot->groups[i].lease_id);
                rec->rot->groups[i] = run->saved[i];
                rec->rot->groups[i].lease_id = TAKE_PTR(run->saved[i].lease_id);
                rec->rot->groups[i].failing = true;
                rec->rot->groups[i].due_usec = run->now;
                run->changed[i] = false;
        }
        /* nothing of the old leases is to be revoked now */
        for (size_t i = 0; i < run->n_revoke; i++)
                free(run->revoke[i]);
        run->n_revoke = 0;
}

/* A 403 on sys/leases/revoke: the role's policies lack it (Vault's default
 * policy does). Said once per server; the lease expires with its TTL. */
static void revoke_denied(Run *run) {
        size_t server = (size_t)(run->spec->server - run->R->config->vault_servers);
        LogField f[] = {
                { "VAULT_SERVER", run->spec->server->name },
                { "MESSAGE_ID", LOG_MESSAGE_LEASE_REVOKE_DENIED },
        };

        if (server >= run->R->config->n_vault_servers ||
            atomic_exchange(&run->R->revoke_denied[server], true))
                return;
        log_struct(LOG_LEVEL_WARNING, 0, f, ELEMENTSOF(f),
                   "Vault server '%s': the policy does not allow sys/leases/revoke (403), so "
                   "replaced leases are left to expire with their TTL; add "
                   "'path \"sys/leases/revoke\" { capabilities = [\"update\"] }' to the "
                   "role's policies (logged once)",
                   run->spec->server->name);
}

static void revoke_leases(Run *run, char **ids, size_t n) {
        for (size_t i = 0; i < n && refresh_token_usable(run->rec); i++) {
                VaultError ve = { 0 };
                int r = call_enter(run);
                if (r != 0)
                        return; /* it expires on its own, soon: it was at its max TTL */
                r = vault_client_lease_revoke(run->client, run->rec->token, ids[i], &ve);
                call_leave(run, r, &ve);
                if (r == 0)
                        metrics_inc(run->R->metrics, METRICS_LEASES_REVOKED);
                else if (r == VAULT_E_DENIED)
                        revoke_denied(run);
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

        if (!rec->rot->old_token)
                return;
        for (size_t i = 0; i < rec->rot->n_groups; i++)
                if (rec->rot->groups[i].kind == SECRET_KIND_LEASE && rec->rot->groups[i].replace)
                        return; /* some credentials still come from it */
        r = call_enter(run);
        if (call_skipped(r))
                return;
        r = vault_client_token_revoke_self(run->client, rec->rot->old_token, &ve);
        call_leave(run, r, &ve);
        if (r == 0)
                metrics_inc(run->R->metrics, METRICS_TOKENS_REVOKED);
        else
                log_debug("volume '%s': revoking the replaced Vault token failed, ignoring (it "
                          "expires with its TTL): %s",
                          rec->volume_id, ve.message);
        rec->rot->old_token = vault_token_free(rec->rot->old_token);
}

/* ---- the end of a run ---- */

/* Health, gauges, logs, the status file, the record; returns the next due time. */
static uint64_t finish_run(Run *run) {
        Refresher *R = run->R;
        VolumeRecord *rec = run->rec;
        HealthPolicy pol = {
                .backoff_min_usec = R->config->refresh_backoff_min_usec,
                .backoff_max_usec = R->config->refresh_backoff_max_usec,
        };
        RefreshOutcome o = {
                .now = run->now,
                .requests = run->requests,
                .failed = run->failed,
                .token_failed = run->token_failed,
                .deferred = run->deferred,
                .paused = run->paused,
                .defer_until = run->defer_until,
                .cancelled = run->cancelled,
                .need_jwt = run->need_jwt,
                .error = run->err,
                .error_group = run->err_group,
        };
        VolumeHealth h, old;
        uint64_t next;
        int r;

        volume_record_get_health(R->volumes, rec, &h);
        old = h;
        next = health_after_run(rec, &o, &pol, random_u64(), &h);
        if (run->job && run->job->ret_critical_due) {
                uint64_t crit = refresh_next_critical_due(rec, run->now, run->need_jwt, next);
                if (crit != REFRESH_PARK && run->deferred && run->crit_deferred)
                        crit = MAX(crit, run->defer_until);
                *run->job->ret_critical_due = crit;
        }
        if (rec->spec)
                rec->rot->budget_exhausted = refresh_budget_note(
                        &R->budget, (size_t)(rec->spec->server - R->config->vault_servers),
                        rec->spec->server->name, run->budget_short, monotonic_usec());
        h.stale_after_usec = refresh_stale_after(rec, R->config->refresh_interval_default_usec);
        if (h.state == VOLUME_STATE_STALE && old.state != VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, +1);
        else if (h.state != VOLUME_STATE_STALE && old.state == VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, -1);
        if (run->requests)
                metrics_inc(R->metrics, run->failed ? METRICS_REFRESH_FAILED : METRICS_REFRESH_OK);
        volume_record_set_health(R->volumes, rec, &h);
        if (h.state != old.state)
                health_log_change(rec, old.state, &h, run->now);
        (void)refresher_write_status(R, rec);
        if (h.state != old.state || rec->rot->state_gen != run->gen0) {
                r = volume_record_save(R->volumes, rec);
                if (r < 0)
                        log_debug("volume '%s': saving its state failed: %s", rec->volume_id,
                                  strerror(-r));
        }
        return next;
}

int refresher_write_status(Refresher *R, VolumeRecord *rec) {
        int r = health_write_status(R->volumes, rec);
        if (r < 0)
                log_debug("volume '%s': writing the status file failed: %s", rec->volume_id,
                          r == -ESTALE ? VOLUME_TMPFS_GONE : strerror(-r));
        return r;
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
                log_debug("volume '%s': its kept attributes no longer parse: %s", rec->volume_id,
                          err);
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

        if (rec->rot->group_of)
                return 0;
        r = secret_set_group(rec->spec, &go, &n);
        if (r < 0)
                return r;
        fits = rec->rot->n_groups == n;
        for (size_t k = 0; fits && k < n; k++) {
                size_t first = SIZE_MAX;
                for (size_t i = 0; i < rec->spec->n_objects && first == SIZE_MAX; i++)
                        if (go[i] == k)
                                first = i;
                fits = rec->rot->groups[k].first_object == first;
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
                rec->rot->groups = gs;
                rec->rot->n_groups = n;
        }
        rec->rot->group_of = go;
        return 0;
}

static void run_done(Run *run) {
        for (size_t i = 0; run->values && run->spec && i < run->spec->n_objects; i++)
                object_value_done(&run->values[i]);
        free(run->values);
        free(run->changed);
        for (size_t i = 0; run->saved && i < run->rec->rot->n_groups; i++)
                free(run->saved[i].lease_id);
        free(run->saved);
        for (size_t i = 0; i < run->n_revoke; i++)
                free(run->revoke[i]);
        free(run->revoke);
        for (size_t i = 0; i < run->n_unused; i++)
                free(run->unused[i]);
        free(run->unused);
}

/* How one refresh step (the token, or one secret) ended, for refresh_total. */
static MetricsRefreshKind metrics_kind_of(SecretKind k) {
        return k == SECRET_KIND_LEASE ? METRICS_KIND_LEASE
               : k == SECRET_KIND_PKI ? METRICS_KIND_PKI
                                      : METRICS_KIND_KV;
}

static void count_step(Run *run, size_t server, MetricsRefreshKind kind, unsigned calls0,
                       bool failed) {
        if (run->calls > calls0)
                metrics_refresh(run->R->metrics, server, kind,
                                failed ? METRICS_REFRESH_RESULT_FAILED : METRICS_REFRESH_RESULT_OK);
        else if (run->deferred)
                metrics_refresh(run->R->metrics, server, kind, METRICS_REFRESH_RESULT_DEFERRED);
}

/* Leases and certificates expire: their renewal or replacement is critical. */
static bool group_critical(const SecretGroup *g) {
        return g->kind == SECRET_KIND_LEASE || g->kind == SECRET_KIND_PKI;
}

/*
 * The token step, then every secret that is due, each counted: the critical
 * ones first (they pass the limiter as critical requests), then the KV
 * re-reads (routine). The first run after a restart checks the token and
 * does the critical steps only: its KV re-reads come in a later run, in the
 * scheduler's routine lane, after every volume's token check.
 */
static void run_steps(Run *run, size_t server) {
        VolumeRecord *rec = run->rec;
        unsigned c0 = run->calls;

        run->cls = VAULT_LIMIT_CRITICAL;
        token_step(run);
        count_step(run, server, METRICS_KIND_TOKEN, c0, run->token_failed);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1 && run->resumed)
                        break;
                run->cls = pass == 0 ? VAULT_LIMIT_CRITICAL : VAULT_LIMIT_ROUTINE;
                for (size_t i = 0;
                     i < rec->rot->n_groups && refresh_token_usable(rec) && !run->cancelled; i++) {
                        SecretGroup *g = &rec->rot->groups[i];
                        if ((!g->replace && g->due_usec > run->now) ||
                            group_critical(g) != (pass == 0))
                                continue;
                        /* a lease or certificate that expired waiting for its turn */
                        if (pass == 0 && !run->resumed && !run->saved[i].failing && !g->replace &&
                            g->expires_usec && g->expires_usec <= run->now)
                                run->budget_short = true;
                        c0 = run->calls;
                        group_step(run, i);
                        count_step(run, server, metrics_kind_of(g->kind), c0, g->failing);
                }
        }
        run->cls = VAULT_LIMIT_ROUTINE; /* revocations */
}

static uint64_t refresh_record(Refresher *R, VolumeRecord *rec, const RefreshJob *job) {
        Run run = { .R = R,
                    .rec = rec,
                    .job = job,
                    .now = realtime_usec(),
                    .err_group = SIZE_MAX,
                    .gen0 = rec->rot->state_gen,
                    .cls = VAULT_LIMIT_CRITICAL,
                    .resumed = rec->rot->token_verify };
        uint64_t next;

        if (ensure_spec(&run) < 0 || ensure_groups(rec, run.now) < 0)
                return finish_run(&run);
        run.spec = rec->spec;
        run.limit = vault_pool_limit(R->pool, rec->spec->server);
        if (!run.limit)
                return finish_run(&run);
        run.client = vault_pool_client_for(R->pool, rec->spec->server, VAULT_POOL_REFRESH);
        run.values = calloc(rec->spec->n_objects ? rec->spec->n_objects : 1, sizeof(*run.values));
        run.changed = calloc(rec->rot->n_groups ? rec->rot->n_groups : 1, sizeof(*run.changed));
        run.saved = calloc(rec->rot->n_groups ? rec->rot->n_groups : 1, sizeof(*run.saved));
        if (!run.client || !run.values || !run.changed || !run.saved) {
                run_fail(&run, SIZE_MAX, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < rec->rot->n_groups; i++) {
                run.saved[i] = rec->rot->groups[i];
                run.saved[i].lease_id =
                        rec->rot->groups[i].lease_id ? strdup(rec->rot->groups[i].lease_id) : NULL;
                rec->rot->groups[i].failing = false;
        }

        run_steps(&run, (size_t)(rec->spec->server - R->config->vault_servers));
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
                return realtime_usec() + 500 * 1000; /* an RPC holds it; try again soon */
        {
                /* every record of this refresh names the volume and its pod */
                LogContext lc;
                volume_record_log_context(rec, &lc);
                log_context_push(&lc);
                next = refresh_record(R, rec, job);
                log_context_pop(&lc);
        }
        volume_table_release(R->volumes, rec, false);
        return next;
}

/* ---- the publish side ---- */

int refresher_volume_init(Refresher *R, VolumeRecord *rec, size_t *go, size_t n,
                          const VaultResponse *const *responses, uint64_t now) {
        const VolumeSpec *spec = rec->spec;
        VolumeHealth h = { .state = VOLUME_STATE_OK };
        Metrics *metrics = R ? R->metrics : NULL;
        SecretGroup *gs;

        if (!spec) {
                free(go);
                return -EINVAL;
        }
        gs = calloc(n ? n : 1, sizeof(*gs));
        if (!gs) {
                free(go);
                return -ENOMEM;
        }
        for (size_t i = spec->n_objects; i-- > 0;)
                gs[go[i]].first_object = i;
        for (size_t k = 0; k < n; k++) {
                const VaultResponse *resp = responses[k];
                if (!resp) {
                        gs[k].replace = true;
                        gs[k].due_usec = now;
                        continue;
                }
                refresh_group_observe(&gs[k], resp, now, spec->refresh_interval_usec, random_u64());
                if (gs[k].kind == SECRET_KIND_LEASE)
                        metrics_inc(metrics, METRICS_LEASES_ISSUED);
                else if (gs[k].kind == SECRET_KIND_PKI)
                        metrics_inc(metrics, METRICS_CERTS_ISSUED);
        }
        volume_record_clear_groups(rec);
        rec->rot->groups = gs;
        rec->rot->n_groups = n;
        rec->rot->group_of = go;

        rec->rot->token_ttl_sec = vault_token_ttl_sec(rec->token);
        rec->rot->token_renewed_usec = now;
        rec->rot->token_expires_usec = vault_token_expires_usec(rec->token);
        rec->rot->token_renewable = vault_token_renewable(rec->token);
        rec->rot->token_final = !rec->rot->token_renewable;
        rec->rot->token_dead = false;
        rec->rot->token_verify = false;

        if (!R)
                return 0;
        h.last_success_usec = h.last_attempt_usec = now;
        h.earliest_expiry_usec = refresh_earliest_expiry(rec, NULL);
        h.stale_after_usec = refresh_stale_after(rec, R->config->refresh_interval_default_usec);
        {
                uint64_t next = refresh_next_due(rec, now, false, &h);
                h.next_refresh_usec = next == REFRESH_PARK ? 0 : next;
        }
        volume_record_set_health(R->volumes, rec, &h);
        (void)refresher_write_status(R, rec);
        return 0;
}

void refresher_schedule(Refresher *R, VolumeRecord *rec) {
        VolumeHealth h;
        uint64_t next, now;

        if (!R)
                return;
        volume_record_get_health(R->volumes, rec, &h);
        now = realtime_usec();
        next = refresh_next_due(rec, now, false, &h);
        if (refresh_scheduler_add_class(R->sched, rec->volume_id, next,
                                        refresh_next_critical_due(rec, now, false, next)) < 0)
                log_warning("volume '%s': out of memory, it will not be refreshed", rec->volume_id);
}

size_t refresher_resume_all(Refresher *R) {
        char **ids = NULL;
        size_t n = 0, added = 0;
        uint64_t now = realtime_usec();

        if (volume_table_list(R->volumes, &ids, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                VolumeHealth h;
                uint64_t due;
                /* the gauge counts stale volumes of this process too */
                if (volume_table_get_health(R->volumes, ids[i], &h) == 0 &&
                    h.state == VOLUME_STATE_STALE)
                        metrics_stale_add(R->metrics, +1);
                /* first refresh soon, spread out, in the critical lane: it checks
                 * the token (and renews what is due to expire); the KV re-reads
                 * follow in a later run, after every volume's token check */
                due = now + random_u64() % RESUME_SPREAD_USEC;
                if (refresh_scheduler_add_class(R->sched, ids[i], due, due) == 0)
                        added++;
                free(ids[i]);
        }
        free(ids);
        return added;
}

void refresher_resume(Refresher *R, const char *volume_id) {
        if (R)
                (void)refresh_scheduler_add(R->sched, volume_id,
                                            realtime_usec() + random_u64() % RESUME_SPREAD_USEC);
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
                                        R->config->refresh_request_timeout_usec + 2 * USEC_PER_SEC);
}

void refresher_forget(Refresher *R, VolumeRecord *rec) {
        VolumeHealth h;
        if (!R)
                return;
        volume_record_get_health(R->volumes, rec, &h);
        if (h.state == VOLUME_STATE_STALE)
                metrics_stale_add(R->metrics, -1);
}

int refresher_server_paused(Refresher *R, size_t idx) {
        VaultLimit *L;

        if (!R || idx >= R->config->n_vault_servers)
                return -ENOENT;
        L = vault_pool_limit(R->pool, &R->config->vault_servers[idx]);
        return L ? vault_limit_paused(L) : -ENOENT;
}

int refresher_budget_exhausted(Refresher *R, size_t idx) {
        return R ? refresh_budget_exhausted(&R->budget, idx) : -ENOENT;
}
