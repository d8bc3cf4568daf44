/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x509.c - certificate reading (see x509.h).
 */
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "x509.h"
#include "macro.h"

static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *ret) {
        ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
        int days = 0, secs = 0, ok;

        if (!epoch)
                return -ENOMEM;
        ok = ASN1_TIME_diff(&days, &secs, epoch, t);
        ASN1_TIME_free(epoch);
        if (!ok)
                return -EINVAL;
        *ret = (int64_t)days * 86400 + secs;
        return 0;
}

int x509_pem_times(const char *pem, size_t len, int64_t *ret_not_before,
                   int64_t *ret_not_after) {
        BIO *bio;
        X509 *x;
        int r;

        if (!pem || len == 0 || len > INT32_MAX)
                return -EINVAL;
        bio = BIO_new_mem_buf(pem, (int)len);
        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!x)
                return -EINVAL;
        r = asn1_time_to_unix(X509_get0_notBefore(x), ret_not_before);
        if (r == 0)
                r = asn1_time_to_unix(X509_get0_notAfter(x), ret_not_after);
        X509_free(x);
        return r;
}
