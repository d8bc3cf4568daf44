/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret-fields.h - the fields marked `[(csi_secret) = true]` in our .proto
 * files, as generated at build time by gen-secret-fields.py. The redacting
 * logger looks fields up here while walking messages through protobuf-c
 * descriptors, so a newly marked field is redacted without code changes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct CsiSecretField {
        const char *message; /* full name, e.g. "csi.v1.NodePublishVolumeRequest" */
        unsigned number;     /* field number */
        const char *field;   /* field name, for diagnostics */
} CsiSecretField;

extern const CsiSecretField csi_secret_fields[];
extern const size_t csi_secret_fields_count;

/* True when (message full name, field number) is in `table`. */
static inline bool csi_secret_field_in(const CsiSecretField *table, size_t n,
                                       const char *message, unsigned number) {
        for (size_t i = 0; i < n; i++) {
                if (table[i].number != number)
                        continue;
                const char *a = table[i].message, *b = message;
                while (*a && *a == *b)
                        a++, b++;
                if (*a == *b)
                        return true;
        }
        return false;
}
