/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-x509.c - lib/formats/x509.c and the pem/pkcs12 shapes of render.c
 * against a chain built here with OpenSSL (root → intermediate → leaf, EC
 * P-256 keys): PEM chains read back certificate by certificate, PKCS#12
 * bundles opened again with PKCS12_parse() (key matches certificate, chain
 * complete, AES-256-CBC + PBKDF2-HMAC-SHA256 bags, SHA-256 MAC), the empty
 * password, and the "keep the bundle you have" check.
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "render.h"
#include "x509.h"
#include "testutil.h"
#include "macro.h"

static char err[1024];

typedef struct Ident {
        EVP_PKEY *key;
        X509 *cert;
        char *cert_pem;
        char *key_pem;
} Ident;

static Ident root, inter, leaf, other;

static char *bio_text(BIO *b) {
        char *p, *s;
        long n = BIO_get_mem_data(b, &p);
        /* a BIO's buffer has no NUL: no strndup() (ASan strict_string_checks) */
        s = malloc((size_t)n + 1);
        ck_assert_ptr_nonnull(s);
        memcpy(s, p, (size_t)n);
        s[n] = 0;
        BIO_free(b);
        return s;
}

static void ident_make(Ident *id, const char *cn, const Ident *issuer, bool ca, long serial) {
        X509_NAME *name;
        BIO *b;

        id->key = EVP_EC_gen("P-256");
        ck_assert_ptr_nonnull(id->key);
        id->cert = X509_new();
        ck_assert_ptr_nonnull(id->cert);
        ck_assert_int_eq(X509_set_version(id->cert, 2), 1);
        ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(id->cert), serial), 1);
        ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(id->cert), -60));
        ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(id->cert), 3600));
        ck_assert_int_eq(X509_set_pubkey(id->cert, id->key), 1);
        name = X509_get_subject_name(id->cert);
        ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)cn, -1, -1, 0),
                         1);
        ck_assert_int_eq(
                X509_set_issuer_name(id->cert, issuer ? X509_get_subject_name(issuer->cert) : name),
                1);
        if (ca) {
                X509_EXTENSION *ext =
                        X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
                ck_assert_ptr_nonnull(ext);
                ck_assert_int_eq(X509_add_ext(id->cert, ext, -1), 1);
                X509_EXTENSION_free(ext);
        }
        ck_assert_int_gt(X509_sign(id->cert, issuer ? issuer->key : id->key, EVP_sha256()), 0);

        b = BIO_new(BIO_s_mem());
        ck_assert_int_eq(PEM_write_bio_X509(b, id->cert), 1);
        id->cert_pem = bio_text(b);
        b = BIO_new(BIO_s_mem());
        ck_assert_int_eq(PEM_write_bio_PrivateKey(b, id->key, NULL, NULL, 0, NULL, NULL), 1);
        id->key_pem = bio_text(b);
}

static void ident_free(Ident *id) {
        EVP_PKEY_free(id->key);
        X509_free(id->cert);
        free(id->cert_pem);
        free(id->key_pem);
        *id = (Ident){ 0 };
}

static void setup(void) {
        ident_make(&root, "Test Root", NULL, true, 1);
        ident_make(&inter, "Test Intermediate", &root, true, 2);
        ident_make(&leaf, "leaf.example", &inter, false, 3);
        ident_make(&other, "other.example", &inter, false, 4);
}

static void teardown(void) {
        ident_free(&root);
        ident_free(&inter);
        ident_free(&leaf);
        ident_free(&other);
}

static X509Text text(const char *p, const char *field) {
        return (X509Text){ .p = p, .n = strlen(p), .field = field };
}

/* The certificates of a PEM text, in order. */
static STACK_OF(X509) * read_certs(const uint8_t *p, size_t n) {
        STACK_OF(X509) *s = sk_X509_new_null();
        BIO *b = BIO_new_mem_buf(p, (int)n);
        X509 *x;

        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
                ck_assert_int_gt(sk_X509_push(s, x), 0);
        ERR_clear_error();
        BIO_free(b);
        return s;
}

static void expect_chain(const Secret *out, X509 *const *want, int n) {
        size_t len;
        const uint8_t *p = secret_get(out, &len);
        STACK_OF(X509) *got = read_certs(p, len);

        ck_assert_int_eq(sk_X509_num(got), n);
        for (int i = 0; i < n; i++)
                ck_assert_int_eq(X509_cmp(sk_X509_value(got, i), want[i]), 0);
        ck_assert_ptr_null(memmem(p, len, "PRIVATE KEY", 11));
        sk_X509_pop_free(got, X509_free);
}

/* --- PEM chains ----------------------------------------------------------------------------- */

START_TEST(test_pem_chain)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text(leaf.cert_pem, "certificate");
        X509Text chain[] = { text(inter.cert_pem, "ca_chain[0]"),
                             text(root.cert_pem, "ca_chain[1]") };
        X509 *want[] = { leaf.cert, inter.cert, root.cert };

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(x509_pem_chain(&l, chain, 2, out, err, sizeof(err)), 0);
        expect_chain(out, want, 3);
}
END_TEST

START_TEST(test_pem_chain_dedup)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        _cleanup_free_ char *bundle = NULL, *both = NULL;
        X509 *want[] = { leaf.cert, inter.cert, root.cert };
        X509Text l, chain[4];

        /* a pem_bundle-style certificate (key first, then the leaf), a chain
         * that repeats the leaf and the intermediate, and a two-block text */
        ck_assert_int_gt(asprintf(&bundle, "%s%s", leaf.key_pem, leaf.cert_pem), 0);
        ck_assert_int_gt(asprintf(&both, "junk between\n%s\n%s", inter.cert_pem, root.cert_pem), 0);
        l = text(bundle, "certificate");
        chain[0] = text(leaf.cert_pem, "ca_chain[0]");
        chain[1] = text(inter.cert_pem, "ca_chain[1]");
        chain[2] = text(both, "ca_chain[2]");
        chain[3] = text(inter.cert_pem, "ca_chain[3]");
        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(x509_pem_chain(&l, chain, 4, out, err, sizeof(err)), 0);
        expect_chain(out, want, 3);
}
END_TEST

START_TEST(test_pem_chain_errors)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text("not a certificate", "certificate");
        X509Text chain[] = { text(inter.cert_pem, "ca_chain[0]"),
                             text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                  "ca_chain[1]") };

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(x509_pem_chain(&l, chain, 0, out, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "'certificate' is not a PEM certificate");
        l = text(leaf.cert_pem, "certificate");
        ck_assert_int_eq(x509_pem_chain(&l, chain, 2, out, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "'ca_chain[1]' is not a PEM certificate");
        ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* --- render: pem -------------------------------------------------------------------------------
 */

static JsonValue *pki_data(const Ident *cert, const Ident *key, const char *chain_json,
                           const char *issuing) {
        _cleanup_(json_value_unrefp) JsonValue *chain = NULL;
        JsonValue *d = NULL;

        ck_assert_int_eq(json_object_new(&d), 0);
        ck_assert_int_eq(
                json_object_put_string(d, "certificate", cert->cert_pem, strlen(cert->cert_pem)),
                0);
        if (key)
                ck_assert_int_eq(json_object_put_string(d, "private_key", key->key_pem,
                                                        strlen(key->key_pem)),
                                 0);
        if (issuing)
                ck_assert_int_eq(json_object_put_string(d, "issuing_ca", issuing, strlen(issuing)),
                                 0);
        if (chain_json) {
                ck_assert_int_eq(json_parse(chain_json, strlen(chain_json), 0, 0, &chain, NULL), 0);
                ck_assert_int_eq(json_object_put_value(d, "ca_chain", chain), 0);
        }
        ck_assert_int_eq(json_object_put_string(d, "serial_number", "03", 2), 0);
        return d;
}

/* A JSON array of PEM strings. */
static char *chain_json(const char *a, const char *b) {
        _cleanup_(json_value_unrefp) JsonValue *arr = NULL;
        char *s = NULL;
        size_t n;

        ck_assert_int_eq(json_array_new(&arr), 0);
        for (const char *p = a; p; p = p == a ? b : NULL) {
                JsonValue *v = NULL;
                ck_assert_int_eq(json_string_new(p, strlen(p), &v), 0);
                ck_assert_int_eq(json_array_append_value(arr, v), 0);
                json_value_unref(v);
        }
        ck_assert_int_eq(json_write_string(arr, 0, &s, &n), 0);
        return s;
}

static int render1(const RenderSpec *spec, const JsonValue *data, RenderedFile **f) {
        size_t n = 0;
        int r = render_object(spec, data, f, &n, err, sizeof(err));
        if (r == 0)
                ck_assert_uint_eq(n, 1);
        return r;
}

START_TEST(test_render_pem)
{
        _cleanup_free_ char *cj = chain_json(inter.cert_pem, root.cert_pem);
        RenderSpec spec = { .name = "tls.pem", .format = RENDER_FORMAT_PEM };
        X509 *want3[] = { leaf.cert, inter.cert, root.cert };
        X509 *want2[] = { leaf.cert, inter.cert };
        RenderedFile *f = NULL;
        JsonValue *d;

        /* ca_chain wins over issuing_ca */
        d = pki_data(&leaf, &leaf, cj, inter.cert_pem);
        ck_assert_int_eq(render1(&spec, d, &f), 0);
        ck_assert_str_eq(f[0].name, "tls.pem");
        expect_chain(f[0].data, want3, 3);
        f = rendered_files_free(f, 1);
        json_value_unref(d);

        /* no ca_chain (or an empty one): issuing_ca */
        d = pki_data(&leaf, NULL, "[]", inter.cert_pem);
        ck_assert_int_eq(render1(&spec, d, &f), 0);
        expect_chain(f[0].data, want2, 2);
        f = rendered_files_free(f, 1);
        json_value_unref(d);

        /* a KV secret is not a PKI response */
        d = NULL;
        ck_assert_int_eq(json_parse("{\"password\":\"x\"}", 16, 0, 0, &d, NULL), 0);
        ck_assert_int_eq(render1(&spec, d, &f), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "object 'tls.pem': format pem needs a PKI issue/sign "
                                          "response: its 'certificate' is missing"));
        json_value_unref(d);

        d = pki_data(&leaf, NULL, "[\"garbage\"]", NULL);
        ck_assert_int_eq(render1(&spec, d, &f), -EINVAL);
        ck_assert_str_eq(err, "object 'tls.pem': format pem: 'ca_chain[0]' is not a PEM "
                              "certificate");
        json_value_unref(d);
}
END_TEST

/* --- PKCS#12 -------------------------------------------------------------------------------------
 */

/* PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC. */
static void expect_pbes2_aes256(const X509_ALGOR *alg) {
        const ASN1_OBJECT *obj;
        const void *param;
        int ptype;
        PBE2PARAM *pbe2;
        PBKDF2PARAM *kdf;

        X509_ALGOR_get0(&obj, &ptype, &param, alg);
        ck_assert_int_eq(OBJ_obj2nid(obj), NID_pbes2);
        pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
        ck_assert_ptr_nonnull(pbe2);
        ck_assert_int_eq(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
        ck_assert_int_eq(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
        kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
        ck_assert_ptr_nonnull(kdf);
        ck_assert_int_eq(ASN1_INTEGER_get(kdf->iter), X509_PKCS12_ITER);
        ck_assert_ptr_nonnull(kdf->prf);
        ck_assert_int_eq(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
        PBKDF2PARAM_free(kdf);
        PBE2PARAM_free(pbe2);
}

/* Opens the bundle like a keystore would and checks everything in it. */
static void expect_bundle(const uint8_t *p, size_t n, const char *pass, const Ident *id, int n_ca) {
        const unsigned char *q = p;
        PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)n);
        STACK_OF(PKCS7) * safes;
        STACK_OF(X509) *ca = NULL;
        const X509_ALGOR *mac_alg = NULL;
        const ASN1_OBJECT *mac_obj = NULL;
        EVP_PKEY *key = NULL;
        X509 *cert = NULL;
        bool saw_key = false, saw_certs = false;

        ck_assert_ptr_nonnull(p12);
        ck_assert_ptr_eq(q, p + n);
        /* the MAC: SHA-256 */
        PKCS12_get0_mac(NULL, &mac_alg, NULL, NULL, p12);
        X509_ALGOR_get0(&mac_obj, NULL, NULL, mac_alg);
        ck_assert_int_eq(OBJ_obj2nid(mac_obj), NID_sha256);
        ck_assert_int_eq(PKCS12_verify_mac(p12, pass, -1), 1);
        ck_assert_int_eq(PKCS12_verify_mac(p12, "wrong", -1), 0);

        /* the bags: certificates in encrypted data, the key shrouded */
        safes = PKCS12_unpack_authsafes(p12);
        ck_assert_ptr_nonnull(safes);
        for (int i = 0; i < sk_PKCS7_num(safes); i++) {
                PKCS7 *p7 = sk_PKCS7_value(safes, i);
                int nid = OBJ_obj2nid(p7->type);
                if (nid == NID_pkcs7_encrypted) {
                        expect_pbes2_aes256(p7->d.encrypted->enc_data->algorithm);
                        saw_certs = true;
                } else {
                        STACK_OF(PKCS12_SAFEBAG) *bags = PKCS12_unpack_p7data(p7);
                        ck_assert_int_eq(nid, NID_pkcs7_data);
                        for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
                                const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
                                const X509_ALGOR *alg;
                                ck_assert_int_eq(PKCS12_SAFEBAG_get_nid(bag),
                                                 NID_pkcs8ShroudedKeyBag);
                                X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
                                expect_pbes2_aes256(alg);
                                saw_key = true;
                        }
                        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
                }
        }
        sk_PKCS7_pop_free(safes, PKCS7_free);
        ck_assert(saw_key && saw_certs);

        /* what a keystore gets: the key matching the certificate, the chain */
        ck_assert_int_eq(PKCS12_parse(p12, pass, &key, &cert, &ca), 1);
        ck_assert_int_eq(X509_cmp(cert, id->cert), 0);
        ck_assert_int_eq(X509_check_private_key(cert, key), 1);
        ck_assert_int_eq(EVP_PKEY_eq(key, id->key), 1);
        ck_assert_int_eq(ca ? sk_X509_num(ca) : 0, n_ca);
        EVP_PKEY_free(key);
        X509_free(cert);
        sk_X509_pop_free(ca, X509_free);
        PKCS12_free(p12);
}

START_TEST(test_pkcs12_build)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text(leaf.cert_pem, "certificate"), k = text(leaf.key_pem, "private_key");
        X509Text chain[] = { text(inter.cert_pem, "ca_chain[0]"),
                             text(root.cert_pem, "ca_chain[1]"),
                             text(leaf.cert_pem, "ca_chain[2]") };
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(
                x509_pkcs12_build(&l, &k, chain, 3, "pa$$ 'w\"rd", "tls", out, err, sizeof(err)),
                0);
        p = secret_get(out, &n);
        /* the leaf repeated in the chain is not a CA entry */
        expect_bundle(p, n, "pa$$ 'w\"rd", &leaf, 2);
}
END_TEST

START_TEST(test_pkcs12_empty_password)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text(leaf.cert_pem, "certificate"), k = text(leaf.key_pem, "private_key");
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, NULL, 0, "", NULL, out, err, sizeof(err)), 0);
        p = secret_get(out, &n);
        expect_bundle(p, n, "", &leaf, 0);
}
END_TEST

START_TEST(test_pkcs12_errors)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text(leaf.cert_pem, "certificate"), k = text(other.key_pem, "private_key");

        ck_assert_int_eq(secret_new(&out, 0), 0);
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, NULL, 0, "pw", NULL, out, err, sizeof(err)),
                         -EINVAL);
        ck_assert_str_eq(err, "'private_key' does not match the certificate");
        k = text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "private_key");
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, NULL, 0, "pw", NULL, out, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "'private_key' is not a PEM private key"));
        ck_assert_uint_eq(secret_size(out), 0);
        ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_pkcs12_bound)
{
        _cleanup_(secret_freep) Secret *out = NULL;
        X509Text l = text(leaf.cert_pem, "certificate"), k = text(leaf.key_pem, "private_key");

        ck_assert_int_eq(secret_new(&out, 100), 0);
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, NULL, 0, "pw", NULL, out, err, sizeof(err)),
                         -E2BIG);
}
END_TEST

START_TEST(test_pkcs12_same)
{
        _cleanup_(secret_freep) Secret *a = NULL, *b = NULL;
        X509Text l = text(leaf.cert_pem, "certificate"), k = text(leaf.key_pem, "private_key");
        X509Text chain[] = { text(inter.cert_pem, "ca_chain[0]") };
        X509Text l2 = text(other.cert_pem, "certificate"), k2 = text(other.key_pem, "private_key");
        const uint8_t *p;
        size_t n;
        bool same;

        ck_assert_int_eq(secret_new(&a, 0), 0);
        ck_assert_int_eq(secret_new(&b, 0), 0);
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, chain, 1, "pw", NULL, a, err, sizeof(err)), 0);
        ck_assert_int_eq(x509_pkcs12_build(&l, &k, chain, 1, "pw", NULL, b, err, sizeof(err)), 0);
        /* random salts and IVs: two builds differ... */
        ck_assert(!secret_equal(a, b));
        p = secret_get(a, &n);
        /* ...but each holds exactly these inputs */
        ck_assert_int_eq(x509_pkcs12_same(p, n, &l, &k, chain, 1, "pw", &same), 0);
        ck_assert(same);
        ck_assert_int_eq(x509_pkcs12_same(p, n, &l, &k, chain, 1, "other", &same), 0);
        ck_assert(!same);
        ck_assert_int_eq(x509_pkcs12_same(p, n, &l, &k, NULL, 0, "pw", &same), 0);
        ck_assert(!same);
        ck_assert_int_eq(x509_pkcs12_same(p, n, &l2, &k2, chain, 1, "pw", &same), 0);
        ck_assert(!same);
        ck_assert_int_eq(x509_pkcs12_same(p, n - 1, &l, &k, chain, 1, "pw", &same), 0);
        ck_assert(!same);
        ck_assert_int_eq(
                x509_pkcs12_same((const uint8_t *)"junk", 4, &l, &k, chain, 1, "pw", &same), 0);
        ck_assert(!same);
        ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_render_pkcs12)
{
        _cleanup_free_ char *cj = chain_json(inter.cert_pem, root.cert_pem);
        _cleanup_(secret_freep) Secret *pw = NULL;
        RenderSpec spec = { .name = "keystore.p12", .format = RENDER_FORMAT_PKCS12 };
        RenderedFile *f = NULL, *g = NULL;
        JsonValue *d = pki_data(&leaf, &leaf, cj, NULL);
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(secret_new_from(&pw, "changeit", 8), 0);
        spec.pkcs12_password = pw;
        ck_assert_int_eq(render1(&spec, d, &f), 0);
        p = secret_get(f[0].data, &n);
        expect_bundle(p, n, "changeit", &leaf, 2);

        /* with the current file as previous, the same inputs keep it byte for byte */
        spec.previous = f[0].data;
        ck_assert_int_eq(render1(&spec, d, &g), 0);
        ck_assert(secret_equal(f[0].data, g[0].data));
        g = rendered_files_free(g, 1);
        json_value_unref(d);

        /* a new certificate (rotation): a new bundle */
        d = pki_data(&other, &other, cj, NULL);
        ck_assert_int_eq(render1(&spec, d, &g), 0);
        ck_assert(!secret_equal(f[0].data, g[0].data));
        p = secret_get(g[0].data, &n);
        expect_bundle(p, n, "changeit", &other, 2);
        g = rendered_files_free(g, 1);
        f = rendered_files_free(f, 1);
        json_value_unref(d);

        /* pki/sign returns no private key */
        spec.previous = NULL;
        d = pki_data(&leaf, NULL, cj, NULL);
        ck_assert_int_eq(render1(&spec, d, &f), -EINVAL);
        ck_assert_str_eq(err, "object 'keystore.p12': format pkcs12 needs the response's "
                              "'private_key' (a PKI issue, not sign, response)");
        json_value_unref(d);

        /* a key of another certificate */
        d = pki_data(&leaf, &other, cj, NULL);
        ck_assert_int_eq(render1(&spec, d, &f), -EINVAL);
        ck_assert_str_eq(err, "object 'keystore.p12': format pkcs12: 'private_key' does not "
                              "match the certificate");
        json_value_unref(d);
}
END_TEST

/* The same issuance shaped three ways matches: pem leaf, pkcs12 cert, raw key. */
START_TEST(test_one_issuance_three_shapes)
{
        _cleanup_free_ char *cj = chain_json(inter.cert_pem, root.cert_pem);
        RenderSpec pem = { .name = "tls.crt", .format = RENDER_FORMAT_PEM };
        RenderSpec p12 = { .name = "tls.p12", .format = RENDER_FORMAT_PKCS12 };
        RenderSpec key = { .name = "tls.key", .key = "private_key" };
        RenderedFile *a = NULL, *b = NULL, *c = NULL;
        JsonValue *d = pki_data(&leaf, &leaf, cj, NULL);
        STACK_OF(X509) * certs;
        const unsigned char *q;
        EVP_PKEY *k, *k12 = NULL;
        X509 *c12 = NULL;
        PKCS12 *bundle;
        const uint8_t *p;
        size_t n;
        BIO *bio;

        ck_assert_int_eq(render1(&pem, d, &a), 0);
        ck_assert_int_eq(render1(&p12, d, &b), 0);
        ck_assert_int_eq(render1(&key, d, &c), 0);
        p = secret_get(a[0].data, &n);
        certs = read_certs(p, n);
        p = secret_get(c[0].data, &n);
        bio = BIO_new_mem_buf(p, (int)n);
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        ck_assert_int_eq(X509_check_private_key(sk_X509_value(certs, 0), k), 1);
        p = secret_get(b[0].data, &n);
        q = p;
        bundle = d2i_PKCS12(NULL, &q, (long)n);
        ck_assert_int_eq(PKCS12_parse(bundle, "", &k12, &c12, NULL), 1);
        ck_assert_int_eq(X509_cmp(c12, sk_X509_value(certs, 0)), 0);
        ck_assert_int_eq(EVP_PKEY_eq(k12, k), 1);
        PKCS12_free(bundle);
        EVP_PKEY_free(k);
        EVP_PKEY_free(k12);
        X509_free(c12);
        sk_X509_pop_free(certs, X509_free);
        rendered_files_free(a, 1);
        rendered_files_free(b, 1);
        rendered_files_free(c, 1);
        json_value_unref(d);
}
END_TEST

START_TEST(test_pem_times)
{
        int64_t nb = 0, na = 0, want_nb, want_na;
        ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
        int days, secs;

        ck_assert_int_eq(x509_pem_times(leaf.cert_pem, strlen(leaf.cert_pem), &nb, &na), 0);
        ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notBefore(leaf.cert)), 1);
        want_nb = (int64_t)days * 86400 + secs;
        ck_assert_int_eq(ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(leaf.cert)), 1);
        want_na = (int64_t)days * 86400 + secs;
        ck_assert_int_eq(nb, want_nb);
        ck_assert_int_eq(na, want_na);
        ck_assert_int_eq(na - nb, 3660);
        ck_assert_int_eq(x509_pem_times("junk", 4, &nb, &na), -EINVAL);
        ASN1_TIME_free(epoch);
}
END_TEST

static Suite *x509_suite(void) {
        Suite *s = suite_create("x509");
        TCase *tc;

        tc = tcase_create("pem");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_pem_chain);
        tcase_add_test(tc, test_pem_chain_dedup);
        tcase_add_test(tc, test_pem_chain_errors);
        tcase_add_test(tc, test_render_pem);
        tcase_add_test(tc, test_pem_times);
        suite_add_tcase(s, tc);

        tc = tcase_create("pkcs12");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_pkcs12_build);
        tcase_add_test(tc, test_pkcs12_empty_password);
        tcase_add_test(tc, test_pkcs12_errors);
        tcase_add_test(tc, test_pkcs12_bound);
        tcase_add_test(tc, test_pkcs12_same);
        tcase_add_test(tc, test_render_pkcs12);
        tcase_add_test(tc, test_one_issuance_three_shapes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(x509_suite());
}
