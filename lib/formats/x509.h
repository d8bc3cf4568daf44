/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509.h - the project's one home for X.509 and PKCS#12 (OpenSSL's
 * X509/PEM/PKCS12 APIs are used nowhere else): certificate chains in PEM,
 * PKCS#12 bundles, and certificate times.
 *
 * Inputs are PEM texts as Vault's PKI engine returns them (`certificate`,
 * `issuing_ca`, `ca_chain[]`, `private_key`), given as (pointer, length);
 * only CERTIFICATE blocks are read from certificate texts (a pem_bundle's
 * key block is skipped), and each output certificate is re-encoded by
 * OpenSSL, so stray text between blocks never reaches a file.
 *
 * PKCS#12 bundles use AES-256-CBC with PBKDF2 (HMAC-SHA256) for the key
 * and certificate bags, X509_PKCS12_ITER iterations, and a SHA-256 MAC; an
 * empty password is allowed (keystores often use one) and is the password
 * "" (not "no password"). Salts and IVs are random, so two builds of the
 * same inputs differ: x509_pkcs12_same() tells a caller when it can keep
 * the bundle it has.
 *
 * Errors: 0; -EINVAL with a message in err naming the field at fault
 * ("certificate", "private_key", "ca_chain[2]"), never key material;
 * -E2BIG when out's bound is reached; -ENOMEM. Private keys are parsed
 * straight from the caller's buffer, and every DER/PEM temporary that held
 * key material is wiped before it is freed.
 *
 * Never logs. Thread-safe (OpenSSL 3 is; no shared state here).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

#define X509_PKCS12_ITER 10000

typedef struct X509Text {
        const char *p; /* PEM text, not necessarily NUL-terminated */
        size_t n;
        const char *field; /* its name for messages: "certificate", "ca_chain[0]" */
} X509Text;

/*
 * Appends the leaf (the first certificate of `leaf`) and then every
 * certificate of chain[0..n_chain) to out as PEM, each certificate once
 * (a repeat of an earlier one, the leaf included, is skipped).
 */
int x509_pem_chain(const X509Text *leaf, const X509Text *chain, size_t n_chain, Secret *out,
                   char *err, size_t errlen);

/*
 * Appends a DER PKCS#12 bundle holding the leaf certificate, its private key
 * (which must match it) and the chain's certificates (each once, the leaf
 * excluded). pass is NUL-terminated ("" allowed); friendly_name may be NULL.
 */
int x509_pkcs12_build(const X509Text *leaf, const X509Text *key, const X509Text *chain,
                      size_t n_chain, const char *pass, const char *friendly_name, Secret *out,
                      char *err, size_t errlen);

/*
 * Whether the bundle p12[0..n) opens with pass, has a SHA-256 MAC, and holds
 * exactly the certificate, key and chain that x509_pkcs12_build() would put
 * in it for these inputs. Returns 0 and *ret (false for anything that does
 * not parse), or -EINVAL when the inputs themselves are unusable, -ENOMEM.
 */
int x509_pkcs12_same(const uint8_t *p12, size_t n, const X509Text *leaf, const X509Text *key,
                     const X509Text *chain, size_t n_chain, const char *pass, bool *ret);

/*
 * notBefore and notAfter (unix seconds) of the first certificate in pem.
 * Returns 0, -EINVAL (no certificate, or a time OpenSSL cannot read).
 */
int x509_pem_times(const char *pem, size_t n, int64_t *ret_not_before, int64_t *ret_not_after);

/* A growing text buffer (malloc'd; the caller frees .data). */
typedef struct X509PemBuf {
        char *data;
        size_t len;
} X509PemBuf;

/*
 * Parses every certificate of a PEM text and appends it, re-encoded, to
 * out: what a TLS library is then given holds certificates only. 0 with
 * *ret_count; -EBADMSG when the text holds no certificate, or one that
 * does not parse (*ret_count says how many did); -ENOMEM.
 */
int x509_pem_certs_append(const char *pem, size_t len, X509PemBuf *out, unsigned *ret_count);

/* The problem with a client certificate and key pair (PEM files; the key
 * unencrypted): NULL when both load and match, else "certificate", "key"
 * or "mismatch". */
const char *x509_key_pair_problem(const char *cert_path, const char *key_path);

/* OpenSSL's text for a certificate verification result code. */
const char *x509_verify_error_string(long code);
