/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.c - rotation's pure rules (see rules.h).
 */
#include "json.h"
#include "rules.h"
#include "volume-rotation.h"
#include "x509.h"
#include "macro.h"

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

static bool response_cert_times(const VaultResponse *resp, int64_t *nb, int64_t *na) {
        const char *pem;
        size_t len;

        if (!resp->data || json_member_string(resp->data, "certificate", &pem, &len) < 0)
                return false;
        if (x509_pem_times(pem, len, nb, na) == 0)
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

bool refresh_token_usable(const VolumeRecord *rec) {
        return rec->token && !rec->rot->token_dead;
}

/* Earliest expiry among the volume's secrets (leases die with the token). */
uint64_t refresh_earliest_expiry(const VolumeRecord *rec, size_t *ret_group) {
        uint64_t best = 0;
        for (size_t i = 0; i < rec->rot->n_groups; i++) {
                const SecretGroup *g = &rec->rot->groups[i];
                uint64_t e = g->expires_usec;
                if (g->kind == SECRET_KIND_LEASE && rec->rot->token_expires_usec &&
                    (!e || rec->rot->token_expires_usec < e))
                        e = rec->rot->token_expires_usec;
                if (e && (!best || e < best)) {
                        best = e;
                        if (ret_group)
                                *ret_group = i;
                }
        }
        return best;
}

static uint64_t token_due(const VolumeRecord *rec, uint64_t now, bool need_jwt) {
        if (!refresh_token_usable(rec))
                return REFRESH_PARK; /* a republish with a pod JWT kicks it */
        if (rec->rot->token_retry_usec)
                return rec->rot->token_retry_usec;
        if (rec->rot->token_verify)
                return now;
        if (!rec->rot->token_expires_usec)
                return REFRESH_PARK;
        if (need_jwt)
                return rec->rot->token_expires_usec; /* nothing to do before it dies */
        if (rec->rot->token_renewable && !rec->rot->token_final)
                return refresh_renew_due(rec->rot->token_renewed_usec,
                                         rec->rot->token_expires_usec);
        return refresh_replace_due(rec->rot->token_renewed_usec, rec->rot->token_expires_usec,
                                   rec->rot->token_ttl_sec);
}

uint64_t refresh_next_due(const VolumeRecord *rec, uint64_t now, bool need_jwt,
                          const VolumeHealth *h) {
        uint64_t next = REFRESH_PARK;

        if (!rec->spec)
                ; /* nothing to do before a republish brings the attributes */
        else if (!refresh_token_usable(rec)) {
                /* a login is next, if a pod JWT is at hand */
                if (!need_jwt)
                        next = MAX(rec->rot->token_retry_usec, now);
        } else {
                for (size_t i = 0; i < rec->rot->n_groups; i++)
                        next = MIN(next, rec->rot->groups[i].replace
                                                 ? now
                                                 : rec->rot->groups[i].due_usec);
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

uint64_t refresh_next_critical_due(const VolumeRecord *rec, uint64_t now, bool need_jwt,
                                   uint64_t next) {
        uint64_t due;

        if (next == REFRESH_PARK || !rec->spec)
                return REFRESH_PARK;
        if (!refresh_token_usable(rec))
                return next; /* a login is next */
        due = token_due(rec, now, need_jwt);
        for (size_t i = 0; i < rec->rot->n_groups; i++) {
                const SecretGroup *g = &rec->rot->groups[i];
                if (g->kind == SECRET_KIND_LEASE || g->kind == SECRET_KIND_PKI)
                        due = MIN(due, g->replace ? now : g->due_usec);
        }
        return due == REFRESH_PARK ? REFRESH_PARK : MAX(due, now + REFRESH_MIN_GAP_USEC);
}

uint64_t refresh_stale_after(const VolumeRecord *r, uint64_t default_interval_usec) {
        uint64_t interval = r->spec && r->spec->refresh_interval_usec
                                    ? r->spec->refresh_interval_usec
                                    : default_interval_usec;
        uint64_t best = 0;

        for (size_t i = 0; i < r->rot->n_groups; i++) {
                const SecretGroup *g = &r->rot->groups[i];
                uint64_t e = g->expires_usec;

                if (g->kind == SECRET_KIND_LEASE && r->rot->token_expires_usec &&
                    (!e || r->rot->token_expires_usec < e))
                        e = r->rot->token_expires_usec;
                if (!e && g->renewed_usec)
                        e = g->renewed_usec + 2 * interval;
                if (e && (!best || e < best))
                        best = e;
        }
        return best;
}
