/* SPDX-License-Identifier: Apache-2.0 */
/*
 * republish.c - kubelet's requiresRepublish: the newest pod JWT, never a
 * remount (see csi-publish.h).
 */
#include <stdio.h>

#include "clock.h"
#include "health.h"
#include "log.h"
#include "parse.h"
#include "publish-internal.h"
#include "refresher.h"
#include "macro.h"

/* Same arguments (secrets aside) as the recorded publish? (spec table) */
static bool same_publish_args(const VolumeRecord *r, const Csi__V1__NodePublishVolumeRequest *req) {
        const Csi__V1__VolumeCapability *cap = req->volume_capability;
        return r->facts.readonly == req->readonly &&
               r->facts.access_mode == capability_access_mode(cap) &&
               streq(strempty(r->facts.fs_type), capability_fs_type(cap)) &&
               streq_ptr(r->facts.mount_group, capability_mount_group(cap));
}

static const char *token_code_hint(int r) {
        return r == SA_TOKEN_E_EXPIRED ? "expired" : "invalid";
}

/* The pod's JWT for `audience` from a republish; logs (never fails) when unusable. */
static int republish_token(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req,
                           const KvList *secrets, const KvList *ctx, SaToken *tok) {
        _cleanup_(volume_spec_freep) VolumeSpec *spec = NULL;
        const VaultServerConfig *server;
        char err[PUBLISH_ERRLEN] = "";
        int r;

        /* the volume's audience: parse the attributes again (no I/O) */
        if (volume_spec_parse(p->config, ctx->kv, ctx->n, &spec, err, sizeof(err)) < 0)
                spec = NULL;
        server = spec ? spec->server : config_vault_server(p->config, NULL);
        if (!server)
                return -ENOENT;
        r = sa_token_get(secrets->kv, secrets->n, ctx->kv, ctx->n, p->config->token_source,
                         spec ? spec->audience : server->audience,
                         (int64_t)(publish_ops(p)->now(p) / USEC_PER_SEC), p->config->driver_name,
                         tok, err, sizeof(err));
        if (r != 0) {
                log_warning("republish of volume '%s': the new token is %s, keeping the "
                            "previous one: %s",
                            req->volume_id, token_code_hint(r), err);
                return -EINVAL;
        }
        return 0;
}

/* Republish checks on the fields the first publish set (they never change). */
static bool republish_check(const VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
                            CsiStatus *st) {
        if (!streq(rec->facts.target_path, req->target_path)) {
                csi_status_set(st, CSI_FAILED_PRECONDITION,
                               "NodePublishVolume: volume '%s' is already published at '%s'",
                               req->volume_id, rec->facts.target_path);
                return false;
        }
        if (!same_publish_args(rec, req)) {
                csi_status_set(st, CSI_ALREADY_EXISTS,
                               "NodePublishVolume: volume '%s' is already published at '%s' "
                               "with a different capability or readonly",
                               req->volume_id, req->target_path);
                return false;
        }
        return true;
}

/*
 * The answer to a republish from the volume's rotation status: OK, or
 * UNAVAILABLE (non-final: kubelet keeps the mount and records an event)
 * while a secret is past its expiry and refreshing it keeps failing.
 */
void republish_answer(Publisher *p, const char *volume_id, CsiStatus *st) {
        VolumeHealth h;
        char when[40];

        if (!p->config->republish_stale_unavailable ||
            volume_table_get_health(p->volumes, volume_id, &h) < 0 || h.state != VOLUME_STATE_STALE)
                return;
        csi_status_set(st, CSI_UNAVAILABLE,
                       "NodePublishVolume: volume '%s': secret '%s' (%s) expired at %s and "
                       "refreshing it keeps failing: %s; the mounted files are kept",
                       volume_id, h.error_object[0] ? h.error_object : "?",
                       h.error_path[0] ? h.error_path : "?",
                       refresh_format_time(h.earliest_expiry_usec, when, sizeof(when)),
                       h.last_error[0] ? h.last_error : "no usable Vault token");
}

typedef struct RefreshingRepublish {
        const Csi__V1__NodePublishVolumeRequest *req;
        CsiStatus *st;
        SaToken *tok;
        Secret *old_jwt;
} RefreshingRepublish;

/* Under the table lock, while the refresh thread holds the volume. */
static int republish_locked(VolumeRecord *rec, void *userdata) {
        RefreshingRepublish *rr = userdata;

        if (!republish_check(rec, rr->req, rr->st))
                return 0;
        if (rr->tok->jwt) {
                rr->old_jwt = rec->locked.jwt; /* freed outside the lock */
                rec->locked.jwt = TAKE_PTR(rr->tok->jwt);
                rec->locked.jwt_expires = rr->tok->expires_unix;
                rec->locked.jwt_gen++;
        }
        return 0;
}

/*
 * A republish that finds the volume busy: when the refresh thread holds it,
 * store the newest JWT without waiting for the flag and answer at once
 * (OK, or UNAVAILABLE when stale once that refresh ends); ABORTED when
 * another RPC holds it.
 */
void republish_while_refreshing(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req,
                                const KvList *secrets, const KvList *ctx, CsiStatus *st) {
        SaToken tok = { 0 };
        RefreshingRepublish rr = { .req = req, .st = st, .tok = &tok };
        VolumeHealth h;
        int r;

        (void)republish_token(p, req, secrets, ctx, &tok);
        r = volume_table_with_refreshing(p->volumes, req->volume_id, republish_locked, &rr);
        secret_free(rr.old_jwt);
        sa_token_done(&tok);
        if (r < 0) {
                csi_status_set(st, CSI_ABORTED,
                               "NodePublishVolume: another operation on volume '%s' is in "
                               "progress",
                               req->volume_id);
                return;
        }
        if (st->set)
                return;
        /* stale: the refresh in flight may be the one that fixes it */
        if (volume_table_get_health(p->volumes, req->volume_id, &h) == 0 &&
            h.state == VOLUME_STATE_STALE)
                (void)refresher_wait_current(p->refresher, req->volume_id,
                                             p->config->republish_wait_usec);
        republish_answer(p, req->volume_id, st);
        log_debug("republish of volume '%s' during its refresh: token stored", req->volume_id);
}

/*
 * kubelet's requiresRepublish (the caller holds the volume): keep the
 * newest JWT, never remount. Returns true when a refresh should run now
 * (the volume waits for a token or its attributes, or is stale and due),
 * which the caller does after releasing the volume.
 */
bool republish(Publisher *p, VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
               const KvList *secrets, const KvList *ctx, CsiStatus *st) {
        SaToken tok = { 0 };
        VolumeHealth h;
        uint64_t now;
        bool due;

        if (!republish_check(rec, req, st))
                return false;
        /* Never a final code here (csi-facts 3.4): a problem with the new token
         * is logged; the mounted files stay as they are. */
        if (republish_token(p, req, secrets, ctx, &tok) == 0)
                volume_record_set_jwt(p->volumes, rec, TAKE_PTR(tok.jwt), tok.expires_unix);
        sa_token_done(&tok);

        /* attributes not (yet) parsed after a restart, or not kept: this request
         * carries them (kubelet sends the same volume_context every time) */
        if (!rec->spec) {
                _cleanup_free_ KeyValue *kv = NULL;
                char err[PUBLISH_ERRLEN] = "";
                size_t n = 0;
                int r = volume_record_set_attributes(rec, ctx->kv, ctx->n);
                if (r == 0)
                        r = volume_record_attributes(rec, &kv, &n);
                if (r == 0 &&
                    volume_spec_parse(p->config, kv, n, &rec->spec, err, sizeof(err)) < 0) {
                        log_warning("republish of volume '%s': its attributes do not parse, "
                                    "it cannot be refreshed: %s",
                                    req->volume_id, err);
                        rec->spec = NULL;
                }
                volume_record_regroup(rec); /* matched against the kept state again */
                if (rec->spec && volume_record_save(p->volumes, rec) == 0)
                        rec->objects_attr = secret_free(rec->objects_attr);
        }
        /* Only a volume that waits (for this token, or its attributes) or is
         * stale and due for its next attempt is refreshed now; anything else
         * that is due runs on the refresh thread anyway, without us waiting. */
        volume_record_get_health(p->volumes, rec, &h);
        now = publish_ops(p)->now(p);
        due = h.state == VOLUME_STATE_WAITING || !rec->spec || !rec->token ||
              volume_record_token_dead(rec) ||
              (h.state == VOLUME_STATE_STALE && h.next_refresh_usec && h.next_refresh_usec <= now);
        log_debug("republish of volume '%s': token stored, files kept%s", req->volume_id,
                  due ? ", a refresh is due" : "");
        return due;
}
