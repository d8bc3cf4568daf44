/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509.c - PEM certificate chains, PKCS#12 bundles and certificate times
 * with OpenSSL 3 (see x509.h for the algorithms and the error model).
 *
 * Certificates are public; private keys are not: a key is parsed with
 * PEM_read_bio_PrivateKey() from a read-only BIO over the caller's buffer
 * (OpenSSL keeps PEM key bytes in its secure heap and clears them), and the
 * DER of a bundle, which holds the encrypted key, is cleared before it is
 * freed. OpenSSL's error queue is drained before returning, so no stale
 * error leaks into an unrelated later call on the same thread.
 *
 * Never logs. Thread-safe.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "x509.h"
#include "fsutil.h"
#include "macro.h"

/* err_fail(), and OpenSSL's error queue emptied (no stale error for the next caller). */
#define x509_fail(err, errlen, r, ...)                                                             \
        (ERR_clear_error(), err_fail((err), (errlen), (r), __VA_ARGS__))

static void x509_stack_freep(STACK_OF(X509) * *s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
        *s = NULL;
}

static void x509_freep(X509 **x) {
        X509_free(*x);
        *x = NULL;
}

static void pkey_freep(EVP_PKEY **k) {
        EVP_PKEY_free(*k);
        *k = NULL;
}

static bool stack_has(STACK_OF(X509) * s, X509 *x) {
        for (int i = 0; i < sk_X509_num(s); i++)
                if (X509_cmp(sk_X509_value(s, i), x) == 0)
                        return true;
        return false;
}

/*
 * Appends every CERTIFICATE block of t to `all` (new ones only when dedup).
 * Returns the number read (>= 0), -EINVAL (t holds none, or a damaged one),
 * -ENOMEM.
 */
static int certs_read(const X509Text *t, STACK_OF(X509) * all, bool dedup) {
        BIO *bio;
        int n = 0, r = 0;

        if (!t->p || t->n == 0 || t->n > INT32_MAX)
                return -EINVAL;
        bio = BIO_new_mem_buf(t->p, (int)t->n);
        if (!bio)
                return -ENOMEM;
        for (;;) {
                X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                if (!x) {
                        unsigned long e = ERR_peek_last_error();
                        /* the end of the text; anything else is a damaged block */
                        if (n == 0 || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
                                r = -EINVAL;
                        break;
                }
                n++;
                if (dedup && stack_has(all, x)) {
                        X509_free(x);
                        continue;
                }
                if (!sk_X509_push(all, x)) {
                        X509_free(x);
                        r = -ENOMEM;
                        break;
                }
        }
        BIO_free(bio);
        ERR_clear_error();
        return r < 0 ? r : n;
}

/* The leaf (first certificate of leaf) and the deduplicated chain after it. */
static int chain_load(const X509Text *leaf, const X509Text *chain, size_t n_chain,
                      STACK_OF(X509) * *ret, char *err, size_t errlen) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = sk_X509_new_null();
        _cleanup_(x509_stack_freep) STACK_OF(X509) *leafs = sk_X509_new_null();
        X509 *first;
        int r;

        if (!all || !leafs)
                return -ENOMEM;
        r = certs_read(leaf, leafs, false);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return x509_fail(err, errlen, -EINVAL, "'%s' is not a PEM certificate",
                                 leaf->field);
        first = sk_X509_shift(leafs);
        if (!sk_X509_push(all, first)) {
                X509_free(first);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_chain; i++) {
                r = certs_read(&chain[i], all, true);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return x509_fail(err, errlen, -EINVAL, "'%s' is not a PEM certificate",
                                         chain[i].field);
        }
        *ret = TAKE_PTR(all);
        return 0;
}

/**
 * x509_pem_chain() - the leaf and its chain as one PEM text.
 * @leaf: the certificate (its first CERTIFICATE block is the leaf).
 * @chain: the chain texts in order (ca_chain elements, or issuing_ca).
 * @n_chain: their number.
 * @out: receives the PEM blocks.
 * @err: the field at fault.
 * @errlen: size of @err.
 *
 * Return: 0, -EINVAL (a text without a readable certificate), -E2BIG (out's
 * bound), -ENOMEM.
 */
int x509_pem_chain(const X509Text *leaf, const X509Text *chain, size_t n_chain, Secret *out,
                   char *err, size_t errlen) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = NULL;
        int r;

        r = chain_load(leaf, chain, n_chain, &all, err, errlen);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_num(all); i++) {
                BIO *bio = BIO_new(BIO_s_mem());
                char *p;
                long n;

                if (!bio)
                        return -ENOMEM;
                if (!PEM_write_bio_X509(bio, sk_X509_value(all, i))) {
                        BIO_free(bio);
                        return x509_fail(err, errlen, -ENOMEM, "writing a PEM certificate failed");
                }
                n = BIO_get_mem_data(bio, &p);
                r = n > 0 ? secret_append(out, p, (size_t)n) : -ENOMEM;
                BIO_free(bio);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int key_load(const X509Text *key, X509 *leaf, EVP_PKEY **ret, char *err, size_t errlen) {
        EVP_PKEY *pkey;
        BIO *bio;

        if (!key->p || key->n == 0 || key->n > INT32_MAX)
                return x509_fail(err, errlen, -EINVAL, "'%s' is empty", key->field);
        bio = BIO_new_mem_buf(key->p, (int)key->n);
        if (!bio)
                return -ENOMEM;
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!pkey)
                return x509_fail(
                        err, errlen, -EINVAL,
                        "'%s' is not a PEM private key (format: der or pkcs8 in secretArgs?)",
                        key->field);
        if (X509_check_private_key(leaf, pkey) != 1) {
                EVP_PKEY_free(pkey);
                return x509_fail(err, errlen, -EINVAL, "'%s' does not match the certificate",
                                 key->field);
        }
        ERR_clear_error();
        *ret = pkey;
        return 0;
}

/* The chain after the leaf, as a new stack sharing the certificates. */
static STACK_OF(X509) * chain_rest(STACK_OF(X509) * all) {
        STACK_OF(X509) *ca = sk_X509_new_null();

        if (!ca)
                return NULL;
        for (int i = 1; i < sk_X509_num(all); i++)
                if (!sk_X509_push(ca, sk_X509_value(all, i))) {
                        sk_X509_free(ca);
                        return NULL;
                }
        return ca;
}

/**
 * x509_pkcs12_build() - a PKCS#12 bundle of a certificate, its key and chain.
 * @leaf: the certificate text.
 * @key: the private key text (PEM: PKCS#1, SEC1 or PKCS#8).
 * @chain: the chain texts (ca_chain elements, or issuing_ca).
 * @n_chain: their number.
 * @pass: the bundle's password, NUL-terminated ("" allowed).
 * @friendly_name: the key's and certificate's alias, or NULL.
 * @out: receives the DER bundle.
 * @err: the field at fault.
 * @errlen: size of @err.
 *
 * AES-256-CBC with PBKDF2-HMAC-SHA256 for both bags, a SHA-256 MAC,
 * X509_PKCS12_ITER iterations each.
 *
 * Return: 0, -EINVAL (unreadable certificate or key, or a key that does not
 * match), -E2BIG (out's bound), -ENOMEM.
 */
int x509_pkcs12_build(const X509Text *leaf, const X509Text *key, const X509Text *chain,
                      size_t n_chain, const char *pass, const char *friendly_name, Secret *out,
                      char *err, size_t errlen) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = NULL;
        _cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
        STACK_OF(X509) * ca;
        unsigned char *der = NULL, *q;
        PKCS12 *p12;
        int len, r;

        if (!pass)
                pass = "";
        r = chain_load(leaf, chain, n_chain, &all, err, errlen);
        if (r < 0)
                return r;
        r = key_load(key, sk_X509_value(all, 0), &pkey, err, errlen);
        if (r < 0)
                return r;
        ca = chain_rest(all);
        if (!ca)
                return -ENOMEM;
        /* mac_iter -1: no MAC here; the SHA-256 one is set below (the
         * default would be SHA-1) */
        p12 = PKCS12_create_ex(pass, friendly_name, pkey, sk_X509_value(all, 0), ca,
                               NID_aes_256_cbc, NID_aes_256_cbc, X509_PKCS12_ITER, -1, 0, NULL,
                               NULL);
        sk_X509_free(ca);
        if (!p12)
                return x509_fail(err, errlen, -ENOMEM, "building the PKCS#12 bundle failed");
        if (!PKCS12_set_mac(p12, pass, -1, NULL, 0, X509_PKCS12_ITER, EVP_sha256())) {
                PKCS12_free(p12);
                return x509_fail(err, errlen, -ENOMEM, "the PKCS#12 bundle's MAC failed");
        }
        len = i2d_PKCS12(p12, NULL);
        if (len > 0)
                der = OPENSSL_malloc((size_t)len);
        if (!der) {
                PKCS12_free(p12);
                return x509_fail(err, errlen, -ENOMEM, "encoding the PKCS#12 bundle failed");
        }
        q = der;
        len = i2d_PKCS12(p12, &q);
        PKCS12_free(p12);
        r = len > 0 ? secret_append(out, der, (size_t)len) : -ENOMEM;
        OPENSSL_clear_free(der, len > 0 ? (size_t)len : 0);
        ERR_clear_error();
        return r;
}

static bool mac_is_sha256(const PKCS12 *p12) {
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *obj = NULL;

        if (!PKCS12_mac_present(p12))
                return false;
        PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
        if (!alg)
                return false;
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
        return obj && OBJ_obj2nid(obj) == NID_sha256;
}

/**
 * x509_pkcs12_same() - whether a bundle already holds these inputs.
 * @p12: the bundle's DER bytes.
 * @n: their length.
 * @leaf: the certificate text.
 * @key: the private key text.
 * @chain: the chain texts.
 * @n_chain: their number.
 * @pass: the password, NUL-terminated.
 * @ret: the answer.
 *
 * Return: 0 and *ret; -EINVAL (the inputs are unusable), -ENOMEM.
 */
int x509_pkcs12_same(const uint8_t *p12, size_t n, const X509Text *leaf, const X509Text *key,
                     const X509Text *chain, size_t n_chain, const char *pass, bool *ret) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = NULL, *ca = NULL;
        _cleanup_(pkey_freep) EVP_PKEY *pkey = NULL, *old_key = NULL;
        _cleanup_(x509_freep) X509 *old_cert = NULL;
        const unsigned char *q = p12;
        PKCS12 *bundle;
        bool same;
        int r;

        if (!pass)
                pass = "";
        r = chain_load(leaf, chain, n_chain, &all, NULL, 0);
        if (r < 0)
                return r;
        r = key_load(key, sk_X509_value(all, 0), &pkey, NULL, 0);
        if (r < 0)
                return r;
        *ret = false;
        if (!p12 || n == 0 || n > INT32_MAX)
                return 0;
        bundle = d2i_PKCS12(NULL, &q, (long)n);
        if (!bundle) {
                ERR_clear_error();
                return 0;
        }
        same = mac_is_sha256(bundle) && q == p12 + n &&
               PKCS12_parse(bundle, pass, &old_key, &old_cert, &ca) == 1;
        PKCS12_free(bundle);
        ERR_clear_error();
        if (!same || !old_key || !old_cert)
                return 0;
        same = X509_cmp(old_cert, sk_X509_value(all, 0)) == 0 && EVP_PKEY_eq(old_key, pkey) == 1 &&
               sk_X509_num(ca) == sk_X509_num(all) - 1;
        for (int i = 1; same && i < sk_X509_num(all); i++)
                same = stack_has(ca, sk_X509_value(all, i));
        *ret = same;
        return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no timegm()). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *ret) {
        struct tm tm = { 0 };

        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return -EINVAL;
        *ret = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                               (unsigned)tm.tm_mday) *
                       86400 +
               tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        return 0;
}

/**
 * x509_pem_times() - the validity period of a PEM certificate.
 * @pem: the text (the first CERTIFICATE block is used).
 * @n: its length.
 * @ret_not_before: notBefore in unix seconds.
 * @ret_not_after: notAfter in unix seconds.
 *
 * Return: 0, -EINVAL (no readable certificate or time), -ENOMEM.
 */
int x509_pem_times(const char *pem, size_t n, int64_t *ret_not_before, int64_t *ret_not_after) {
        _cleanup_(x509_freep) X509 *x = NULL;
        int64_t nb, na;
        BIO *bio;

        if (!pem || n == 0 || n > INT32_MAX)
                return -EINVAL;
        bio = BIO_new_mem_buf(pem, (int)n);
        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ERR_clear_error();
        if (!x || asn1_time_unix(X509_get0_notBefore(x), &nb) < 0 ||
            asn1_time_unix(X509_get0_notAfter(x), &na) < 0)
                return -EINVAL;
        *ret_not_before = nb;
        *ret_not_after = na;
        return 0;
}

/* ---- TLS trust material (for the Vault client's http module) ---- */

static int pem_buf_add(X509PemBuf *out, const char *p, size_t n) {
        char *grown = realloc(out->data, out->len + n + 1);
        if (!grown)
                return -ENOMEM;
        memcpy(grown + out->len, p, n);
        out->len += n;
        grown[out->len] = '\0';
        out->data = grown;
        return 0;
}

static int pem_write_cert(X509 *x, X509PemBuf *out) {
        BIO *b = BIO_new(BIO_s_mem());
        BUF_MEM *mem = NULL;
        int r = -ENOMEM;

        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_X509(b, x) == 1) {
                BIO_get_mem_ptr(b, &mem);
                r = pem_buf_add(out, mem->data, mem->length);
        }
        BIO_free(b);
        return r;
}

int x509_pem_certs_append(const char *pem, size_t len, X509PemBuf *out, unsigned *ret_count) {
        unsigned count = 0;
        unsigned long e;
        bool clean_end;
        BIO *in;
        int r = 0;

        *ret_count = 0;
        if (len > INT32_MAX)
                return -EBADMSG;
        in = BIO_new_mem_buf(pem, (int)len);
        if (!in)
                return -ENOMEM;
        ERR_clear_error();
        for (X509 *x; r == 0 && (x = PEM_read_bio_X509(in, NULL, NULL, NULL));) {
                r = pem_write_cert(x, out);
                X509_free(x);
                count += r == 0;
        }
        BIO_free(in);
        /* the loop ends with "no start line" at a clean end of input */
        e = ERR_peek_last_error();
        clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
        ERR_clear_error();
        *ret_count = count;
        if (r < 0)
                return r;
        return count == 0 || !clean_end ? -EBADMSG : 0;
}

const char *x509_key_pair_problem(const char *cert_path, const char *key_path) {
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        const char *problem = NULL;
        BIO *b = BIO_new_file(cert_path, "re");

        if (b) {
                cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
                BIO_free(b);
        }
        if (!cert)
                problem = "certificate";
        if (!problem && (b = BIO_new_file(key_path, "re"))) {
                /* no passphrase callback: an encrypted key fails here */
                key = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
                BIO_free(b);
        }
        if (!problem && !key)
                problem = "key";
        if (!problem && X509_check_private_key(cert, key) != 1)
                problem = "mismatch";
        ERR_clear_error();
        EVP_PKEY_free(key); /* OpenSSL cleanses key material on free */
        X509_free(cert);
        return problem;
}

const char *x509_verify_error_string(long code) {
        return X509_verify_cert_error_string(code);
}
