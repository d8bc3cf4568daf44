/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-refresh.c - refresh.c without Vault: the schedule rules (renew at
 * 2/3, replace a third before expiry, KV jitter), the per-volume backoff,
 * the token bucket, the server gate (429/503 pauses, probe), the due-time
 * heap, certificate lifetimes, Retry-After from client messages, request
 * grouping and what a response says about its secret, and the scheduler
 * threads driven by an injected clock and refresh function (order, kick,
 * park, forget, cancel with and without a refresh in flight, wait).
 */
#undef NDEBUG
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "limiter.h"
#include "rules.h"
#include "scheduler.h"
#include "secret-set.h"
#include "x509.h"
#include "vault-json.h"

#include <check.h>

#include "testutil.h"

#define SEC 1000000ULL
#define MS  1000ULL

/* ---- schedule rules ---- */

START_TEST(test_kv_due_jitter)
{
        uint64_t now = 1000 * SEC, iv = 120 * SEC;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint64_t r = 0; r < 5000; r++) {
                uint64_t d = refresh_kv_due(now, iv, r * 7919);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
        }
        /* never later than the interval, at most 10 % earlier */
        ck_assert_uint_le(hi, now + iv);
        ck_assert_uint_ge(lo, now + iv - iv / 10);
        ck_assert_uint_lt(lo, hi); /* it does jitter */
        ck_assert_uint_eq(refresh_kv_due(now, 0, 5), now);
}
END_TEST

START_TEST(test_renew_replace_pki_due)
{
        /* a 1 h lease renewed at 2/3 */
        ck_assert_uint_eq(refresh_renew_due(0, 3600 * SEC), 2400 * SEC);
        ck_assert_uint_eq(refresh_renew_due(100 * SEC, 100 * SEC), 100 * SEC);
        /* replace a final lease a third of its TTL before it expires */
        ck_assert_uint_eq(refresh_replace_due(0, 3600 * SEC, 3600), 2400 * SEC);
        /* less than a third left: at once */
        ck_assert_uint_eq(refresh_replace_due(5 * SEC, 6 * SEC, 3), 5 * SEC);
        ck_assert_uint_eq(refresh_replace_due(9 * SEC, 6 * SEC, 3), 9 * SEC);
        /* certificate: 2/3 of [issued, notAfter] */
        ck_assert_uint_eq(refresh_pki_due(10 * SEC, 10 * SEC + 24 * 3600 * SEC),
                          10 * SEC + 16 * 3600 * SEC);
}
END_TEST

START_TEST(test_backoff)
{
        ck_assert_uint_eq(refresh_backoff_usec(5 * SEC, 300 * SEC, 0, 123), 0);
        for (unsigned f = 1; f <= 20; f++) {
                uint64_t d = 5 * SEC;
                for (unsigned i = 1; i < f && d < 300 * SEC; i++)
                        d *= 2;
                if (d > 300 * SEC)
                        d = 300 * SEC;
                for (uint64_t r = 0; r < 200; r++) {
                        uint64_t b = refresh_backoff_usec(5 * SEC, 300 * SEC, f, r * 104729);
                        ck_assert_uint_ge(b, d / 2);
                        ck_assert_uint_le(b, d);
                }
        }
        /* exponential, then capped */
        ck_assert_uint_eq(refresh_backoff_usec(SEC, 8 * SEC, 3, 0), 2 * SEC);
        ck_assert_uint_eq(refresh_backoff_usec(SEC, 8 * SEC, 50, 0), 4 * SEC);
        ck_assert_uint_le(refresh_backoff_usec(SEC, 8 * SEC, UINT32_MAX, UINT64_MAX), 8 * SEC);
}
END_TEST

/* ---- token bucket ---- */

START_TEST(test_token_bucket)
{
        TokenBucket b;
        token_bucket_init(&b, 2, 3, 0);
        /* the burst goes at once */
        for (int i = 0; i < 3; i++)
                ck_assert_uint_eq(token_bucket_take(&b, 0), 0);
        /* then one every 500 ms */
        uint64_t w = token_bucket_take(&b, 0);
        ck_assert_uint_eq(w, 500 * MS);
        ck_assert_uint_gt(token_bucket_take(&b, 250 * MS), 0);
        ck_assert_uint_eq(token_bucket_take(&b, 500 * MS), 0);
        ck_assert_uint_gt(token_bucket_take(&b, 500 * MS), 0);
        /* a long quiet spell refills up to the burst only */
        for (int i = 0; i < 3; i++)
                ck_assert_uint_eq(token_bucket_take(&b, 3600 * SEC), 0);
        ck_assert_uint_gt(token_bucket_take(&b, 3600 * SEC), 0);
        /* the rate over a long run */
        {
                TokenBucket c;
                unsigned taken = 0;
                token_bucket_init(&c, 10, 1, 0);
                for (uint64_t t = 0; t <= 10 * SEC; t += 10 * MS)
                        taken += token_bucket_take(&c, t) == 0;
                ck_assert_uint_eq(taken, 101); /* the burst, then exactly 10/s */
        }
}
END_TEST

/* Routine requests leave a quarter of the burst to critical ones. */
START_TEST(test_limit_reserve_for_critical)
{
        VaultLimitConfig cfg = { .rate = 1,
                                 .burst = 8,
                                 .backoff_min_usec = SEC,
                                 .backoff_max_usec = 60 * SEC,
                                 .max_concurrency = 100,
                                 .defer_after_usec = 100 * MS };
        VaultError ok = { 0 };
        VaultLimit L;
        uint64_t wait = 0;
        TokenBucket b;

        token_bucket_init(&b, 10, 8, 0);
        for (int i = 0; i < 6; i++)
                ck_assert_uint_eq(token_bucket_take_keep(&b, 0, 2), 0);
        /* 3 whole tokens needed, 2 there: 100 ms at 10/s */
        ck_assert_uint_eq(token_bucket_take_keep(&b, 0, 2), 100 * MS);
        ck_assert_uint_eq(token_bucket_take(&b, 0), 0);
        ck_assert_uint_eq(token_bucket_take(&b, 0), 0);
        ck_assert_uint_eq(token_bucket_take(&b, 0), 100 * MS);
        /* a reserve beyond the burst keeps burst - 1 */
        token_bucket_init(&b, 10, 2, 0);
        ck_assert_uint_eq(token_bucket_take_keep(&b, 0, 50), 0);
        ck_assert_uint_gt(token_bucket_take_keep(&b, 0, 50), 0);

        vault_limit_init(&L, &cfg);
        ck_assert_uint_eq(L.reserve, 2);
        for (int i = 0; i < 6; i++) {
                ck_assert_int_eq(
                        vault_limit_acquire_class(&L, VAULT_LIMIT_ROUTINE, NULL, NULL, &wait), 0);
                vault_limit_release(&L, 0, &ok, true);
        }
        /* the routine request is deferred (1/s: seconds away) ... */
        ck_assert_int_eq(vault_limit_acquire_class(&L, VAULT_LIMIT_ROUTINE, NULL, NULL, &wait),
                         -EBUSY);
        ck_assert_uint_gt(wait, 100 * MS);
        /* ... the critical ones still go */
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(
                        vault_limit_acquire_class(&L, VAULT_LIMIT_CRITICAL, NULL, NULL, &wait), 0);
                vault_limit_release(&L, 0, &ok, true);
        }
        ck_assert_int_eq(vault_limit_acquire(&L, NULL, NULL, &wait), -EBUSY);
        vault_limit_done(&L);
}
END_TEST

/* A server's budget: exhausted from a critical deferral until 30 s without one. */
START_TEST(test_budget_exhausted_and_back)
{
        RefreshBudget b;

        ck_assert_int_eq(refresh_budget_init(&b, 2), 0);
        ck_assert_int_eq(refresh_budget_exhausted(&b, 0), 0);
        ck_assert(!refresh_budget_note(&b, 0, "a", false, 1 * SEC));
        ck_assert(refresh_budget_note(&b, 0, "a", true, 2 * SEC));
        ck_assert(refresh_budget_note(&b, 0, "a", true, 3 * SEC));
        ck_assert_int_eq(refresh_budget_exhausted(&b, 0), 1);
        ck_assert_int_eq(refresh_budget_exhausted(&b, 1), 0); /* per server */
        ck_assert(refresh_budget_note(&b, 0, "a", false, 3 * SEC + BUDGET_CLEAR_USEC));
        ck_assert(!refresh_budget_note(&b, 0, "a", false, 4 * SEC + BUDGET_CLEAR_USEC));
        ck_assert_int_eq(refresh_budget_exhausted(&b, 0), 0);
        ck_assert_uint_eq(b.shorts[0], 2);
        ck_assert_int_eq(refresh_budget_exhausted(&b, 2), -ENOENT);
        ck_assert(!refresh_budget_note(&b, 7, "x", true, 5 * SEC));
        refresh_budget_done(&b);
        refresh_budget_done(&b); /* twice is fine */
}
END_TEST

/* ---- server gate ---- */

START_TEST(test_server_gate)
{
        ServerGate g;
        server_gate_init(&g, SEC, 8 * SEC);
        ck_assert_uint_eq(server_gate_wait(&g, 0), 0);
        server_gate_begin(&g);
        server_gate_report(&g, 0, GATE_OK, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 0), 0);

        /* a 429 without Retry-After pauses the server for the first step */
        server_gate_begin(&g);
        server_gate_report(&g, 10 * SEC, GATE_THROTTLED, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 10 * SEC), SEC);
        ck_assert_uint_eq(server_gate_wait(&g, 10 * SEC + 400 * MS), 600 * MS);
        /* requests in flight before the pause do not stack pauses */
        server_gate_report(&g, 10 * SEC + 500 * MS, GATE_THROTTLED, -1);
        ck_assert_uint_eq(g.pauses, 1);
        /* after the pause: one probe; others wait for it */
        ck_assert_uint_eq(server_gate_wait(&g, 11 * SEC), 0);
        server_gate_begin(&g);
        ck_assert_uint_eq(server_gate_wait(&g, 11 * SEC), SERVER_GATE_PROBE_WAIT_USEC);
        /* the probe is throttled again: twice as long */
        server_gate_report(&g, 11 * SEC, GATE_THROTTLED, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 11 * SEC), 2 * SEC);
        server_gate_begin(&g);
        server_gate_report(&g, 13 * SEC, GATE_UNAVAILABLE, -1); /* a 503: the same */
        ck_assert_uint_eq(server_gate_wait(&g, 13 * SEC), 4 * SEC);
        server_gate_begin(&g);
        server_gate_report(&g, 17 * SEC, GATE_THROTTLED, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 17 * SEC), 8 * SEC);
        server_gate_begin(&g);
        server_gate_report(&g, 25 * SEC, GATE_THROTTLED, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 25 * SEC), 8 * SEC); /* capped */
        /* Retry-After longer than the step wins */
        server_gate_begin(&g);
        server_gate_report(&g, 33 * SEC, GATE_THROTTLED, 30);
        ck_assert_uint_eq(server_gate_wait(&g, 33 * SEC), 30 * SEC);
        /* an answer ends the probing and resets the step */
        server_gate_begin(&g);
        server_gate_report(&g, 63 * SEC, GATE_OK, -1);
        ck_assert_uint_eq(server_gate_wait(&g, 63 * SEC), 0);
        server_gate_begin(&g);
        ck_assert_uint_eq(server_gate_wait(&g, 63 * SEC), 0); /* not probing any more */
        server_gate_report(&g, 64 * SEC, GATE_THROTTLED, 0);
        ck_assert_uint_eq(server_gate_wait(&g, 64 * SEC), SEC);
}
END_TEST

/* ---- heap ---- */

START_TEST(test_queue_order)
{
        RefreshQueue q = { 0 };
        static int tags[64];
        uint64_t last = 0, due;
        for (int i = 0; i < 64; i++) {
                tags[i] = i;
                uint64_t due0 = (uint64_t)((i * 37) % 64) / 2;
                ck_assert_int_eq(refresh_queue_push(&q, due0, &tags[i]), 0);
        }
        /* removing from the middle keeps the order */
        ck_assert(refresh_queue_remove(&q, &tags[10]));
        ck_assert(!refresh_queue_remove(&q, &tags[10]));
        for (int n = 0; n < 63; n++) {
                int *t = refresh_queue_peek(&q, &due);
                ck_assert_ptr_nonnull(t);
                ck_assert_uint_ge(due, last);
                ck_assert_ptr_eq(refresh_queue_pop(&q), t);
                ck_assert_int_ne(*t, 10);
                last = due;
        }
        ck_assert_ptr_null(refresh_queue_pop(&q));
        /* equal due times come out in insertion order */
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(refresh_queue_push(&q, 7, &tags[i]), 0);
        for (int i = 0; i < 5; i++)
                ck_assert_ptr_eq(refresh_queue_pop(&q), &tags[i]);
        refresh_queue_done(&q);
}
END_TEST

/* ---- certificates and messages ---- */

static char *make_cert(long not_before_offset, long not_after_offset, time_t base) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        BIO *bio = BIO_new(BIO_s_mem());
        char *out, *p;
        long len;

        ck_assert_ptr_nonnull(key);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
        X509_time_adj(X509_getm_notBefore(x), not_before_offset, &base);
        X509_time_adj(X509_getm_notAfter(x), not_after_offset, &base);
        X509_set_pubkey(x, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"test.example.com", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
        PEM_write_bio_X509(bio, x);
        len = BIO_get_mem_data(bio, &p);
        /* the BIO's buffer has no NUL: strndup would read past it */
        out = malloc((size_t)len + 1);
        ck_assert_ptr_nonnull(out);
        memcpy(out, p, (size_t)len);
        out[len] = '\0';
        BIO_free(bio);
        X509_free(x);
        EVP_PKEY_free(key);
        return out;
}

START_TEST(test_cert_times)
{
        time_t base = 1800000000;
        char *pem = make_cert(-30, 24 * 3600, base);
        int64_t nb = 0, na = 0;
        ck_assert_int_eq(x509_pem_times(pem, strlen(pem), &nb, &na), 0);
        ck_assert_int_eq(nb, (int64_t)base - 30);
        ck_assert_int_eq(na, (int64_t)base + 24 * 3600);
        ck_assert_int_eq(x509_pem_times("not a cert", 10, &nb, &na), -EINVAL);
        ck_assert_int_eq(x509_pem_times(pem, 0, &nb, &na), -EINVAL);
        free(pem);
}
END_TEST

/* A 429's Retry-After travels in the VaultError (not in its text) and
 * pauses the server at least that long. */
START_TEST(test_retry_after_structured)
{
        VaultLimitConfig cfg = { .rate = 10,
                                 .burst = 10,
                                 .backoff_min_usec = 1 * SEC,
                                 .backoff_max_usec = 60 * SEC,
                                 .max_concurrency = 2,
                                 .defer_after_usec = 2 * SEC };
        VaultError ve = { .code = VAULT_E_RATE_LIMITED,
                          .http_status = 429,
                          .has_retry_after = true,
                          .retry_after_sec = 7 };
        VaultLimit L;
        uint64_t wait = 0, now;

        snprintf(ve.message, sizeof(ve.message), "rate limited (HTTP 429)");
        vault_limit_init(&L, &cfg);
        ck_assert_int_eq(vault_limit_acquire(&L, NULL, NULL, &wait), 0);
        vault_limit_release(&L, VAULT_E_RATE_LIMITED, &ve, true);
        now = monotonic_usec();
        ck_assert(vault_limit_paused(&L));
        ck_assert_uint_ge(L.gate.pause_until_usec, now + 6 * SEC);
        ck_assert_uint_eq(vault_limit_rate_limited(&L), 1);
        ck_assert_int_eq(vault_limit_acquire(&L, NULL, NULL, &wait), -EAGAIN);
        ck_assert_uint_ge(wait, 6 * SEC);
        vault_limit_done(&L);

        /* without a Retry-After, the first pause is the minimum backoff */
        vault_limit_init(&L, &cfg);
        ve.has_retry_after = false;
        ck_assert_int_eq(vault_limit_acquire(&L, NULL, NULL, &wait), 0);
        vault_limit_release(&L, VAULT_E_RATE_LIMITED, &ve, true);
        ck_assert_uint_le(L.gate.pause_until_usec, monotonic_usec() + 2 * SEC);
        vault_limit_done(&L);
}
END_TEST

/* ---- groups and responses ---- */

START_TEST(test_groups_build)
{
        Secret *a1 = NULL, *a2 = NULL, *b = NULL;
        ck_assert_int_eq(secret_new_from(&a1, "{\"ttl\":\"1h\"}", 12), 0);
        ck_assert_int_eq(secret_new_from(&a2, "{\"ttl\":\"1h\"}", 12), 0);
        ck_assert_int_eq(secret_new_from(&b, "{\"ttl\":\"2h\"}", 12), 0);
        char n_user[] = "user", n_crt[] = "crt", n_pass[] = "pass", n_key[] = "key",
             n_other[] = "other", n_put[] = "put", p_db[] = "database/creds/r",
             p_pki[] = "pki/issue/x";
        SecretObject objs[] = {
                { .name = n_user, .path = p_db, .method = VAULT_METHOD_GET },
                { .name = n_crt, .path = p_pki, .method = VAULT_METHOD_POST, .args = a1 },
                { .name = n_pass, .path = p_db, .method = VAULT_METHOD_GET },
                { .name = n_key, .path = p_pki, .method = VAULT_METHOD_POST, .args = a2 },
                { .name = n_other, .path = p_pki, .method = VAULT_METHOD_POST, .args = b },
                { .name = n_put, .path = p_db, .method = VAULT_METHOD_PUT },
        };
        VolumeSpec spec = { .objects = objs, .n_objects = 6 };
        size_t *go = NULL, n = 0;
        ck_assert_int_eq(secret_set_group(&spec, &go, &n), 0);
        ck_assert_uint_eq(n, 4);
        ck_assert_uint_eq(go[0], 0);
        ck_assert_uint_eq(go[1], 1);
        ck_assert_uint_eq(go[2], 0); /* same lease as "user" */
        ck_assert_uint_eq(go[3], 1); /* same issuance as "crt" */
        ck_assert_uint_eq(go[4], 2); /* other secretArgs: another request */
        ck_assert_uint_eq(go[5], 3); /* other method */
        free(go);
        secret_free(a1);
        secret_free(a2);
        secret_free(b);
}
END_TEST

/* Bug: three spellings of one path were one request at publish but three
 * at rotation. One grouping rule now serves both. */
START_TEST(test_groups_normalised_paths)
{
        char n_a[] = "a", n_b[] = "b", n_c[] = "c", n_d[] = "d", p1[] = "/v1/secret/data/app/db",
             p2[] = "v1/secret/data/app/db", p3[] = "secret/data/app/db",
             p4[] = "secret/data/app/other";
        SecretObject objs[] = {
                { .name = n_a, .path = p1, .method = VAULT_METHOD_GET },
                { .name = n_b, .path = p2, .method = VAULT_METHOD_GET },
                { .name = n_c, .path = p3, .method = VAULT_METHOD_GET },
                { .name = n_d, .path = p4, .method = VAULT_METHOD_GET },
        };
        VolumeSpec spec = { .objects = objs, .n_objects = 4 };
        size_t *go = NULL, n = 0;

        ck_assert_int_eq(secret_set_group(&spec, &go, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(go[0], 0);
        ck_assert_uint_eq(go[1], 0);
        ck_assert_uint_eq(go[2], 0);
        ck_assert_uint_eq(go[3], 1);
        ck_assert_uint_eq(secret_set_first_object(go, 4, 1), 3);
        free(go);
}
END_TEST

static VaultResponse *parse(const char *json) {
        VaultResponse *r = NULL;
        VaultError e = { 0 };
        ck_assert_int_eq(vault_response_parse(200, (const uint8_t *)json, strlen(json), &r, &e), 0);
        return r;
}

START_TEST(test_observe)
{
        SecretGroup g = { 0 };
        uint64_t now = 1000 * SEC;
        VaultResponse *r;

        r = parse("{\"lease_id\":\"database/creds/r/abc\",\"renewable\":true,"
                  "\"lease_duration\":30,\"data\":{\"username\":\"u\",\"password\":\"p\"}}");
        refresh_group_observe(&g, r, now, 120 * SEC, 0);
        ck_assert_int_eq(g.kind, SECRET_KIND_LEASE);
        ck_assert_str_eq(g.lease_id, "database/creds/r/abc");
        ck_assert_int_eq(g.lease_ttl_sec, 30);
        ck_assert(g.renewable && !g.final);
        ck_assert_uint_eq(g.expires_usec, now + 30 * SEC);
        ck_assert_uint_eq(g.due_usec, now + 20 * SEC); /* renew at 2/3 */
        vault_response_free(r);

        /* not renewable: replaced at 2/3 instead */
        r = parse("{\"lease_id\":\"pki/issue/x/abc\",\"renewable\":false,"
                  "\"lease_duration\":90,\"data\":{\"certificate\":\"x\"}}");
        refresh_group_observe(&g, r, now, 120 * SEC, 0);
        ck_assert_int_eq(g.kind, SECRET_KIND_LEASE);
        ck_assert(g.final);
        ck_assert_uint_eq(g.due_usec, now + 60 * SEC);
        vault_response_free(r);

        r = parse("{\"lease_id\":\"\",\"data\":{\"data\":{\"a\":\"b\"},\"metadata\":"
                  "{\"version\":7,\"created_time\":\"x\",\"deletion_time\":\"\","
                  "\"destroyed\":false,\"custom_metadata\":null}}}");
        refresh_group_observe(&g, r, now, 120 * SEC, 0);
        ck_assert_int_eq(g.kind, SECRET_KIND_KV2);
        ck_assert_int_eq(g.version, 7);
        ck_assert_ptr_null(g.lease_id);
        ck_assert_uint_eq(g.expires_usec, 0);
        ck_assert_uint_eq(g.due_usec, now + 120 * SEC);
        vault_response_free(r);

        /* KV v1's lease_duration is advisory: no lease, re-read every interval */
        r = parse("{\"lease_id\":\"\",\"lease_duration\":3600,\"data\":{\"api_key\":\"k\"}}");
        refresh_group_observe(&g, r, now, 60 * SEC, 0);
        ck_assert_int_eq(g.kind, SECRET_KIND_KV);
        ck_assert_uint_eq(g.due_usec, now + 60 * SEC);
        vault_response_free(r);

        {
                time_t base = (time_t)(now / SEC);
                char *pem = make_cert(-30, 9, base), *json = NULL, *q, *w;
                /* JSON-escape the PEM's newlines */
                json = malloc(strlen(pem) * 2 + 256);
                w = json + sprintf(json, "{\"data\":{\"certificate\":\"");
                for (q = pem; *q; q++) {
                        if (*q == '\n') {
                                *w++ = '\\';
                                *w++ = 'n';
                        } else
                                *w++ = *q;
                }
                strcpy(w, "\",\"private_key\":\"k\"}}");
                r = parse(json);
                refresh_group_observe(&g, r, now, 120 * SEC, 0);
                ck_assert_int_eq(g.kind, SECRET_KIND_PKI);
                /* notBefore is back-dated 30 s: the lifetime counts from the fetch */
                ck_assert_uint_eq(g.issued_usec, now);
                ck_assert_uint_eq(g.expires_usec, now + 9 * SEC);
                ck_assert_uint_eq(g.due_usec, now + 6 * SEC);
                vault_response_free(r);
                free(json);
                free(pem);
        }
        free(g.lease_id);
}
END_TEST

/* ---- scheduler with an injected clock ---- */

static atomic_uint_fast64_t fake_now;
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static char calls[64][16];
static uint64_t call_times[64];
static size_t n_calls;
static atomic_bool slow_release;
static atomic_bool slow_saw_cancel;
static atomic_int slow_ignores_cancel;

static uint64_t fake_clock(void *ud) {
        (void)ud;
        return atomic_load(&fake_now);
}

static size_t ncalls(void) {
        size_t n;
        pthread_mutex_lock(&calls_lock);
        n = n_calls;
        pthread_mutex_unlock(&calls_lock);
        return n;
}

static size_t calls_of(const char *id) {
        size_t n = 0;
        pthread_mutex_lock(&calls_lock);
        for (size_t i = 0; i < n_calls; i++)
                n += strcmp(calls[i], id) == 0;
        pthread_mutex_unlock(&calls_lock);
        return n;
}

/* "a".."z": due again 1000 s later; "park": parked; "gone": forgotten;
 * "slow": runs until cancelled (or released). */
static uint64_t fake_refresh(void *ud, const RefreshJob *job) {
        uint64_t now = fake_clock(ud);
        pthread_mutex_lock(&calls_lock);
        if (n_calls < 64) {
                snprintf(calls[n_calls], sizeof(calls[n_calls]), "%s", job->volume_id);
                call_times[n_calls] = now;
                n_calls++;
        }
        pthread_mutex_unlock(&calls_lock);
        if (strcmp(job->volume_id, "park") == 0)
                return REFRESH_PARK;
        if (strcmp(job->volume_id, "gone") == 0)
                return 0;
        if (strcmp(job->volume_id, "slow") == 0) {
                while (!atomic_load(&slow_release)) {
                        if (refresh_job_cancelled(job) && !atomic_load(&slow_ignores_cancel)) {
                                atomic_store(&slow_saw_cancel, true);
                                break;
                        }
                        usleep(1000);
                }
        }
        return now + 1000 * SEC;
}

static void wait_calls(size_t n) {
        for (int i = 0; i < 5000 && ncalls() < n; i++)
                usleep(1000);
        ck_assert_uint_ge(ncalls(), n);
}

static void sched_setup(void) {
        atomic_store(&fake_now, 0);
        n_calls = 0;
        atomic_store(&slow_release, false);
        atomic_store(&slow_saw_cancel, false);
        atomic_store(&slow_ignores_cancel, 0);
}

START_TEST(test_scheduler_order_and_clock)
{
        RefreshScheduler *s = NULL;
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, fake_refresh, NULL), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "a", 300 * SEC), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "b", 100 * SEC), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "c", 200 * SEC), 0);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        /* nothing is due yet: no call, however long we wait */
        usleep(100 * 1000);
        ck_assert_uint_eq(ncalls(), 0);
        atomic_store(&fake_now, 150 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(1);
        usleep(50 * 1000);
        ck_assert_uint_eq(ncalls(), 1);
        ck_assert_str_eq(calls[0], "b");
        atomic_store(&fake_now, 1000 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(3);
        ck_assert_str_eq(calls[1], "c");
        ck_assert_str_eq(calls[2], "a");
        /* each came back due 1000 s after its run */
        usleep(50 * 1000);
        ck_assert_uint_eq(ncalls(), 3);
        atomic_store(&fake_now, 1150 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(4);
        ck_assert_str_eq(calls[3], "b");
        /* moving a volume earlier */
        ck_assert_int_eq(refresh_scheduler_add(s, "a", 1100 * SEC), 0);
        wait_calls(5);
        ck_assert_str_eq(calls[4], "a");
        ck_assert_uint_eq(refresh_scheduler_size(s), 3);
        refresh_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_kick_park_forget_wait)
{
        RefreshScheduler *s = NULL;
        uint64_t gen = 99;
        ck_assert_int_eq(refresh_scheduler_new(&s, 2, fake_clock, fake_refresh, NULL), 0);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "park", 0), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "gone", 0), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "x", 500 * SEC), 0);
        wait_calls(2);
        usleep(50 * 1000);
        /* "gone" is forgotten, "park" waits for a kick, "x" for its time */
        ck_assert_uint_eq(refresh_scheduler_size(s), 2);
        ck_assert_int_eq(refresh_scheduler_kick(s, "gone", NULL), -ENOENT);
        ck_assert_uint_eq(calls_of("park"), 1);
        atomic_store(&fake_now, 100 * SEC);
        refresh_scheduler_wakeup(s);
        usleep(50 * 1000);
        ck_assert_uint_eq(calls_of("park"), 1);
        ck_assert_uint_eq(calls_of("x"), 0);
        /* a kick makes it due now; wait() sees its next refresh */
        ck_assert_int_eq(refresh_scheduler_kick(s, "park", &gen), 0);
        ck_assert_uint_eq(gen, 1);
        ck_assert_int_eq(refresh_scheduler_wait(s, "park", gen, 5 * SEC), 0);
        ck_assert_uint_eq(calls_of("park"), 2);
        ck_assert_int_eq(refresh_scheduler_generation(s, "park", &gen), 0);
        ck_assert_uint_eq(gen, 2);
        /* nothing happens to "x": wait times out */
        ck_assert_int_eq(refresh_scheduler_generation(s, "x", &gen), 0);
        ck_assert_int_eq(refresh_scheduler_wait(s, "x", gen, 100 * MS), -ETIMEDOUT);
        ck_assert_int_eq(refresh_scheduler_wait(s, "nope", 0, 100 * MS), -ENOENT);
        /* cancel of a queued volume: gone at once, never runs */
        ck_assert_int_eq(refresh_scheduler_cancel(s, "x", SEC), 0);
        atomic_store(&fake_now, 10000 * SEC);
        refresh_scheduler_wakeup(s);
        usleep(50 * 1000);
        ck_assert_uint_eq(calls_of("x"), 0);
        ck_assert_uint_eq(refresh_scheduler_size(s), 1);
        ck_assert_int_eq(refresh_scheduler_cancel(s, "unknown", SEC), 0);
        refresh_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_cancel_in_flight)
{
        RefreshScheduler *s = NULL;
        struct timespec t0, t1;
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, fake_refresh, NULL), 0);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "slow", 0), 0);
        wait_calls(1);
        /* the refresh in flight sees the flag; cancel returns once it ended */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(refresh_scheduler_cancel(s, "slow", 5 * SEC), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert(atomic_load(&slow_saw_cancel));
        ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
        ck_assert_uint_eq(refresh_scheduler_size(s), 0);
        /* and it never runs again */
        atomic_store(&fake_now, 1000000 * SEC);
        refresh_scheduler_wakeup(s);
        usleep(50 * 1000);
        ck_assert_uint_eq(ncalls(), 1);
        refresh_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_cancel_times_out)
{
        RefreshScheduler *s = NULL;
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, fake_refresh, NULL), 0);
        atomic_store(&slow_ignores_cancel, 1);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "slow", 0), 0);
        wait_calls(1);
        /* bounded: a refresh that does not end makes cancel say so */
        ck_assert_int_eq(refresh_scheduler_cancel(s, "slow", 100 * MS), -EBUSY);
        /* a kick of a cancelled volume is refused */
        ck_assert_int_eq(refresh_scheduler_kick(s, "slow", NULL), -ENOENT);
        atomic_store(&slow_release, true);
        for (int i = 0; i < 2000 && refresh_scheduler_size(s) > 0; i++)
                usleep(1000);
        /* once it ends, it is dropped, not rescheduled */
        ck_assert_uint_eq(refresh_scheduler_size(s), 0);
        ck_assert_uint_eq(ncalls(), 1);
        refresh_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_readd_while_running)
{
        RefreshScheduler *s = NULL;
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, fake_refresh, NULL), 0);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "slow", 0), 0);
        wait_calls(1);
        /* an unpublish that gave up puts it back: it stays scheduled, earlier */
        atomic_store(&slow_ignores_cancel, 1);
        ck_assert_int_eq(refresh_scheduler_cancel(s, "slow", 50 * MS), -EBUSY);
        ck_assert_int_eq(refresh_scheduler_add(s, "slow", 5 * SEC), 0);
        atomic_store(&fake_now, 5 * SEC);
        atomic_store(&slow_release, true);
        wait_calls(2);
        ck_assert_uint_eq(refresh_scheduler_size(s), 1);
        refresh_scheduler_free(s);
}
END_TEST

START_TEST(test_scheduler_many_volumes_two_workers)
{
        RefreshScheduler *s = NULL;
        char id[16];
        ck_assert_int_eq(refresh_scheduler_new(&s, 2, fake_clock, fake_refresh, NULL), 0);
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "v%d", i);
                ck_assert_int_eq(refresh_scheduler_add(s, id, (uint64_t)(40 - i) * SEC), 0);
        }
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        atomic_store(&fake_now, 20 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(20);
        usleep(50 * 1000);
        /* exactly the 20 due ones, each once */
        ck_assert_uint_eq(ncalls(), 21 - 1);
        atomic_store(&fake_now, 40 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(40);
        usleep(50 * 1000);
        ck_assert_uint_eq(ncalls(), 40);
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "v%d", i);
                ck_assert_uint_eq(calls_of(id), 1);
        }
        refresh_scheduler_free(s);
}
END_TEST

/* Overload: every run costs one second of the (fake) budget. "kvN" re-reads
 * come back in 1000 s; "tokN" say their next step is critical and come back
 * in 1500 s. */
static uint64_t lane_refresh(void *ud, const RefreshJob *job) {
        uint64_t now = fake_clock(ud);
        pthread_mutex_lock(&calls_lock);
        if (n_calls < 64) {
                snprintf(calls[n_calls], sizeof(calls[n_calls]), "%s", job->volume_id);
                call_times[n_calls] = now;
                n_calls++;
        }
        pthread_mutex_unlock(&calls_lock);
        atomic_fetch_add(&fake_now, SEC);
        if (strncmp(job->volume_id, "tok", 3) == 0) {
                *job->ret_critical_due = now + 1500 * SEC;
                return now + 1500 * SEC;
        }
        if (strncmp(job->volume_id, "mix", 3) == 0) {
                /* a KV re-read in 100 s, its token's renewal in 1400 s */
                *job->ret_critical_due = now + 1400 * SEC;
                return now + 100 * SEC;
        }
        return now + 1000 * SEC;
}

START_TEST(test_scheduler_critical_lane_first)
{
        RefreshScheduler *s = NULL;
        char id[16];

        atomic_store(&fake_now, 10 * SEC);
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, lane_refresh, NULL), 0);
        /* 20 KV re-reads overdue, then 3 tokens whose re-login is due now and
         * which expire at 14 s: in due order they would run at 30 s */
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "kv%d", i);
                ck_assert_int_eq(refresh_scheduler_add(s, id, (uint64_t)i * 100 * MS), 0);
        }
        for (int i = 0; i < 3; i++) {
                snprintf(id, sizeof(id), "tok%d", i);
                ck_assert_int_eq(refresh_scheduler_add_class(s, id, 10 * SEC, 10 * SEC), 0);
        }
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        wait_calls(23);
        for (size_t i = 0; i < 3; i++) {
                ck_assert_int_eq(strncmp(calls[i], "tok", 3), 0);
                ck_assert_uint_lt(call_times[i], 14 * SEC);
        }
        /* the KV re-reads all ran after them, each once, in due order */
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "kv%d", i);
                ck_assert_str_eq(calls[3 + i], id);
        }
        /* the refresh said "critical next": later due, still first once due */
        atomic_store(&fake_now, 3000 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(46);
        for (size_t i = 23; i < 26; i++)
                ck_assert_int_eq(strncmp(calls[i], "tok", 3), 0);
        for (size_t i = 26; i < 46; i++)
                ck_assert_int_eq(strncmp(calls[i], "kv", 2), 0);
        /* a plain add keeps the lane; add_class moves it */
        ck_assert_int_eq(refresh_scheduler_add(s, "tok0", 3900 * SEC), 0);
        ck_assert_int_eq(refresh_scheduler_add_class(s, "tok1", 3900 * SEC, REFRESH_PARK), 0);
        ck_assert_int_eq(refresh_scheduler_add(s, "kv0", 3800 * SEC), 0);
        atomic_store(&fake_now, 4000 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(49);
        ck_assert_str_eq(calls[46], "tok0");
        ck_assert_str_eq(calls[47], "kv0");
        ck_assert_str_eq(calls[48], "tok1");
        refresh_scheduler_free(s);
}
END_TEST

/* A volume whose KV re-read is due early and its token renewal later waits
 * in both lanes: behind the overdue re-reads it would miss the renewal. */
START_TEST(test_scheduler_critical_due_later_overtakes)
{
        RefreshScheduler *s = NULL;
        char id[16];

        atomic_store(&fake_now, 10 * SEC);
        ck_assert_int_eq(refresh_scheduler_new(&s, 1, fake_clock, lane_refresh, NULL), 0);
        for (int i = 0; i < 20; i++) {
                snprintf(id, sizeof(id), "kv%d", i);
                ck_assert_int_eq(refresh_scheduler_add(s, id, (uint64_t)i * 100 * MS), 0);
        }
        ck_assert_int_eq(refresh_scheduler_add_class(s, "mix0", 5 * SEC, 12 * SEC), 0);
        ck_assert_int_eq(refresh_scheduler_start(s), 0);
        wait_calls(21);
        ck_assert_str_eq(calls[0], "kv0");
        ck_assert_str_eq(calls[1], "kv1");
        ck_assert_str_eq(calls[2], "mix0"); /* at 12 s, its renewal's time */
        ck_assert_uint_eq(call_times[2], 12 * SEC);
        ck_assert_uint_eq(calls_of("mix0"), 1);
        ck_assert_uint_eq(refresh_scheduler_size(s), 21);
        /* a routine step put off past its critical one: runs at the critical time */
        ck_assert_int_eq(refresh_scheduler_add_class(s, "mix0", 9000 * SEC, 2500 * SEC), 0);
        atomic_store(&fake_now, 2600 * SEC);
        refresh_scheduler_wakeup(s);
        wait_calls(22);
        ck_assert_str_eq(calls[21], "mix0");
        refresh_scheduler_free(s);
}
END_TEST

static Suite *refresh_suite(void) {
        Suite *s = suite_create("refresh");
        TCase *tc;

        tc = tcase_create("rules");
        tcase_add_test(tc, test_kv_due_jitter);
        tcase_add_test(tc, test_renew_replace_pki_due);
        tcase_add_test(tc, test_backoff);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_token_bucket);
        tcase_add_test(tc, test_server_gate);
        tcase_add_test(tc, test_limit_reserve_for_critical);
        tcase_add_test(tc, test_budget_exhausted_and_back);
        suite_add_tcase(s, tc);

        tc = tcase_create("queue");
        tcase_add_test(tc, test_queue_order);
        suite_add_tcase(s, tc);

        tc = tcase_create("secrets");
        tcase_add_test(tc, test_cert_times);
        tcase_add_test(tc, test_retry_after_structured);
        tcase_add_test(tc, test_groups_build);
        tcase_add_test(tc, test_groups_normalised_paths);
        tcase_add_test(tc, test_observe);
        suite_add_tcase(s, tc);

        tc = tcase_create("scheduler");
        tcase_add_checked_fixture(tc, sched_setup, NULL);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_scheduler_order_and_clock);
        tcase_add_test(tc, test_scheduler_kick_park_forget_wait);
        tcase_add_test(tc, test_scheduler_cancel_in_flight);
        tcase_add_test(tc, test_scheduler_cancel_times_out);
        tcase_add_test(tc, test_scheduler_readd_while_running);
        tcase_add_test(tc, test_scheduler_many_volumes_two_workers);
        tcase_add_test(tc, test_scheduler_critical_lane_first);
        tcase_add_test(tc, test_scheduler_critical_due_later_overtakes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(refresh_suite());
}
