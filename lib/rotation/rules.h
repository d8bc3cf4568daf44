/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.h - rotation's pure rules: when each kind of secret is due, the
 * per-volume backoff, what a Vault response says about its secret (kind,
 * version, lease, certificate lifetime), a volume's earliest expiry and its
 * next due time.
 *
 *   - KV: re-read every refreshInterval minus up to 10 % jitter;
 *   - leases: renewed at 2/3 of their duration; once Vault cannot extend one,
 *     replaced when a third of its duration is left;
 *   - PKI: re-issued at 2/3 of the certificate's lifetime, counted from
 *     max(notBefore, fetch time) because Vault back-dates notBefore;
 *   - the volume's Vault token: renew-self at 2/3 of its TTL while
 *     renewable, else a new login a third of its TTL before expiry.
 *
 * No I/O, no locks, no logging: the time and the randomness are passed in.
 * Times are CLOCK_REALTIME µs; 0 means "none".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "scheduler.h"
#include "vault.h"
#include "volumes.h"

/* A refresh never reschedules sooner than this (guards against zero TTLs). */
#define REFRESH_MIN_GAP_USEC (50ULL * 1000)

/* KV: interval minus up to 10 % (random picks where), never earlier than now. */
uint64_t refresh_kv_due(uint64_t now, uint64_t interval_usec, uint64_t random);
/* Renew at 2/3 of [renewed, expires]. */
uint64_t refresh_renew_due(uint64_t renewed, uint64_t expires);
/* Replace a lease that cannot be extended: a third of its issued TTL
 * before it expires (at once when less is left). */
uint64_t refresh_replace_due(uint64_t now, uint64_t expires, int64_t ttl_sec);
/* PKI: 2/3 of [issued, not_after]. */
uint64_t refresh_pki_due(uint64_t issued, uint64_t not_after);
/* Per-volume backoff before attempt failures+1: min·2^(failures-1) capped at
 * max, jittered into its upper half ("equal jitter"). failures 0 → 0. */
uint64_t refresh_backoff_usec(uint64_t min_usec, uint64_t max_usec, unsigned failures,
                              uint64_t random);

/* Sets g's kind, version, lease and certificate times from a response
 * fetched at `now`, and its next due time (interval for KV kinds). */
void refresh_group_observe(SecretGroup *g, const VaultResponse *resp, uint64_t now,
                           uint64_t interval_usec, uint64_t random);

/* The volume has a Vault token that is neither expired nor revoked. */
bool refresh_token_usable(const VolumeRecord *rec);
/* Earliest expiry among the volume's secrets (leases die with the token);
 * *ret_group (may be NULL) gets the group it belongs to. 0: none. */
uint64_t refresh_earliest_expiry(const VolumeRecord *rec, size_t *ret_group);
/* When the volume's next refresh is due (REFRESH_PARK: only when kicked).
 * need_jwt: a new login is needed and no usable pod JWT is at hand. */
uint64_t refresh_next_due(const VolumeRecord *rec, uint64_t now, bool need_jwt,
                          const VolumeHealth *h);

/* When the volume's next expiry-critical step is due: a token check,
 * renewal or login, or a lease or certificate renewal/replacement (KV
 * re-reads are not); it may be before `next` (refresh_next_due's answer,
 * e.g. a deferred KV re-read), never sooner than the minimum gap.
 * REFRESH_PARK: none (or next is REFRESH_PARK). */
uint64_t refresh_next_critical_due(const VolumeRecord *rec, uint64_t now, bool need_jwt,
                                   uint64_t next);

/*
 * The earliest time a secret of the volume stops being current (CLOCK_REALTIME
 * µs; 0 when the volume has no secret state yet):
 *  - a lease or certificate: its expiry (a lease ends with its token too);
 *  - anything without an expiry (KV, a lease without a duration): its last
 *    successful read plus two refresh intervals, i.e. once two re-reads in a
 *    row have not happened or have failed.
 * `default_interval_usec` stands in while the volume's spec is not known.
 */
uint64_t refresh_stale_after(const VolumeRecord *r, uint64_t default_interval_usec);
