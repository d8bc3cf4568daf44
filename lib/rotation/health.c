/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health.c - state, status file and state-change records (see health.h).
 */
#include <fcntl.h>
#include <stdio.h>

#include "clock.h"
#include "fsutil.h"
#include "health.h"
#include "volume-rotation.h"
#include "json.h"
#include "log-ids.h"
#include "log.h"
#include "parse.h"
#include "rules.h"
#include "macro.h"

/* ---- times ---- */

const char *refresh_format_time(uint64_t usec, char *buf, size_t len) {
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) ||
            snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(usec % USEC_PER_SEC / 1000)) >= (int)len)
                (void)snprintf(buf, len, "?");
        return buf;
}

static void copy_text(char *dst, size_t len, const char *src) {
        size_t n = strlen(strempty(src));
        n = MIN(n, len - 1);
        memcpy(dst, strempty(src), n);
        dst[n] = '\0';
}

static const SecretObject *group_first(const VolumeRecord *rec, size_t gi) {
        if (!rec->spec || gi >= rec->rot->n_groups)
                return NULL;
        return &rec->spec->objects[rec->rot->groups[gi].first_object];
}

/* error_object/error_path name group gi (or nothing). */
static void health_name_group(VolumeHealth *h, const VolumeRecord *rec, size_t gi) {
        const SecretObject *o = gi != SIZE_MAX ? group_first(rec, gi) : NULL;
        copy_text(h->error_object, sizeof(h->error_object), o ? o->name : NULL);
        copy_text(h->error_path, sizeof(h->error_path), o ? o->path : NULL);
}

/* ---- the state after a run ---- */

static void apply_failure(VolumeRecord *rec, const RefreshOutcome *o, const HealthPolicy *pol,
                          uint64_t random, VolumeHealth *h) {
        uint64_t retry = o->now + refresh_backoff_usec(pol->backoff_min_usec, pol->backoff_max_usec,
                                                       h->failures + 1, random);
        h->failures++;
        copy_text(h->last_error, sizeof(h->last_error), o->error);
        health_name_group(h, rec, o->error_group);
        for (size_t i = 0; i < rec->rot->n_groups; i++)
                if (rec->rot->groups[i].failing)
                        rec->rot->groups[i].due_usec = retry;
        if (o->token_failed)
                rec->rot->token_retry_usec = retry;
}

static void apply_success(VolumeHealth *h, uint64_t now) {
        h->failures = 0;
        h->last_success_usec = now;
        h->last_error[0] = '\0';
        h->error_object[0] = '\0';
        h->error_path[0] = '\0';
}

static const char *waiting_reason(const VolumeRecord *rec) {
        if (!rec->spec)
                return "the volume attributes were not kept across the restart (state dir "
                       "not on a tmpfs)";
        if (!rec->token)
                return "the volume's Vault token was not kept across the restart (state dir "
                       "not on a tmpfs)";
        if (rec->rot->token_dead)
                return "the volume's Vault token expired or was revoked";
        return "the volume's Vault token reaches its max TTL and no unexpired pod token is "
               "at hand for a new login";
}

static VolumeState decide_state(const VolumeRecord *rec, const RefreshOutcome *o, bool waiting,
                                VolumeHealth *h) {
        size_t eg = SIZE_MAX;

        h->earliest_expiry_usec = refresh_earliest_expiry(rec, &eg);
        /* a secret past its end is stale, whatever kept it from being refreshed */
        if (h->earliest_expiry_usec && h->earliest_expiry_usec <= o->now) {
                if (eg != SIZE_MAX && rec->spec)
                        health_name_group(h, rec, eg);
                return VOLUME_STATE_STALE;
        }
        if (waiting)
                return VOLUME_STATE_WAITING;
        if (h->failures > 0 || o->paused)
                return VOLUME_STATE_FAILING;
        return VOLUME_STATE_OK;
}

uint64_t health_after_run(VolumeRecord *rec, const RefreshOutcome *o, const HealthPolicy *pol,
                          uint64_t random, VolumeHealth *h) {
        bool waiting = !rec->spec || !refresh_token_usable(rec) || o->need_jwt;
        uint64_t next;

        if (o->requests)
                h->last_attempt_usec = o->now;
        if (o->failed)
                apply_failure(rec, o, pol, random, h);
        else if (o->requests && !o->cancelled && !o->need_jwt)
                apply_success(h, o->now);
        if (waiting && !o->failed && !h->last_error[0])
                copy_text(h->last_error, sizeof(h->last_error), waiting_reason(rec));
        if (o->paused && !o->failed) {
                char when[40];
                (void)snprintf(h->last_error, sizeof(h->last_error),
                               "refreshes to Vault server '%s' are paused after it answered "
                               "429/503 or did not answer; next attempt at %s",
                               rec->spec ? rec->spec->server->name : strempty(rec->facts.server),
                               refresh_format_time(o->defer_until, when, sizeof(when)));
        }
        h->state = decide_state(rec, o, waiting, h);
        next = refresh_next_due(rec, o->now, o->need_jwt, h);
        if (o->deferred && next != REFRESH_PARK)
                /* what was due waits for the server's pause (or the bucket) */
                next = MAX(next, o->defer_until);
        h->next_refresh_usec = next == REFRESH_PARK ? 0 : next;
        return next;
}

/* ---- the status file ---- */

/* Written with the streaming writer (json.h): every object's keys in
 * bytewise order. A time that is not set is left out. */
static void out_time(JsonOut *o, const char *key, uint64_t usec) {
        char buf[40];
        if (!usec || usec == REFRESH_PARK)
                return;
        refresh_format_time(usec, buf, sizeof(buf));
        json_out_member_string(o, key, buf);
}

static void out_group(JsonOut *o, const VolumeRecord *rec, size_t gi) {
        const VolumeSpec *spec = rec->spec;
        const SecretGroup *g = &rec->rot->groups[gi];

        json_out_object_open(o);
        out_time(o, "expires", g->expires_usec);
        json_out_member_string(o, "kind", secret_kind_to_string(g->kind));
        out_time(o, "next_refresh", g->due_usec);
        json_out_key(o, "objects");
        json_out_array_open(o);
        for (size_t i = 0; i < spec->n_objects; i++)
                if (rec->rot->group_of[i] == gi)
                        json_out_string(o, spec->objects[i].name, strlen(spec->objects[i].name));
        json_out_array_close(o);
        json_out_member_string(o, "path", spec->objects[g->first_object].path);
        if (g->kind == SECRET_KIND_KV2)
                json_out_member_int64(o, "version", g->version);
        json_out_object_close(o);
}

static int status_json(const VolumeRecord *rec, const VolumeHealth *h, char **ret,
                       size_t *ret_len) {
        _cleanup_(json_out_freep) JsonOut *o = NULL;
        int r;

        if ((r = json_out_new(JSON_WRITE_NEWLINE, &o)) < 0)
                return r;
        json_out_object_open(o);
        json_out_member_int64(o, "consecutive_failures", h->failures);
        out_time(o, "earliest_expiry", h->earliest_expiry_usec);
        out_time(o, "last_attempt", h->last_attempt_usec);
        if (h->last_error[0])
                json_out_member_string(o, "last_error", h->last_error);
        out_time(o, "last_success", h->last_success_usec);
        out_time(o, "next_refresh", h->next_refresh_usec);
        /* the server's refresh budget cannot keep every volume valid (budget.h) */
        if (rec->rot->budget_exhausted)
                json_out_member_string(o, "refresh_budget", "exhausted");
        json_out_member_int64(o, "schema", REFRESH_STATUS_SCHEMA);
        json_out_key(o, "secrets");
        json_out_array_open(o);
        for (size_t gi = 0; rec->spec && rec->rot->group_of && gi < rec->rot->n_groups; gi++)
                out_group(o, rec, gi);
        json_out_array_close(o);
        json_out_member_string(o, "state", volume_state_to_string(h->state));
        out_time(o, "token_expires", refresh_token_usable(rec) ? rec->rot->token_expires_usec : 0);
        json_out_member_string(o, "volume_id", rec->volume_id);
        json_out_object_close(o);
        return json_out_finish(o, ret, ret_len);
}

int health_write_status(VolumeTable *t, VolumeRecord *rec) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dfd = -1;
        gid_t gid = volume_record_gid(rec);
        VolumeHealth h;
        size_t len = 0;
        int r;

        volume_record_get_health(t, rec, &h);
        r = status_json(rec, &h, &text, &len);
        if (r < 0)
                return r;
        dfd = volume_record_open_tmpfs(t, rec);
        if (dfd < 0)
                return dfd;
        return write_file_replace(dfd, REFRESH_STATUS_FILE, text, len,
                                  gid != (gid_t)-1 ? 0440 : 0444, gid, 0);
}

/* ---- one record per change ---- */

void health_log_change(const VolumeRecord *rec, VolumeState from, const VolumeHealth *h,
                       uint64_t now) {
        const char *server = rec->spec ? rec->spec->server->name : rec->facts.server;
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
                (void)format_duration(h->next_refresh_usec > now ? h->next_refresh_usec - now : 0,
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
                refresh_format_time(h->earliest_expiry_usec, when, sizeof(when));
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
