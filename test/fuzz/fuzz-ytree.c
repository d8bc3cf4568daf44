/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-ytree.c - ytree_parse() with the default limits on arbitrary bytes
 * (the `objects` volume attribute comes from pod authors).
 *
 * Invariants (abort() on violation): the result is 0, -EINVAL or -E2BIG
 * (-ENOMEM aside); a failure leaves *ret alone and writes a "line L column
 * C: ..." message; a success gives a tree within the limits, every scalar
 * NUL-terminated at scalar_len, every mapping key a scalar and unique.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ytree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const YTreeLimits limits = YTREE_LIMITS_DEFAULT;

static size_t walk(const YNode *n, unsigned depth) {
        size_t count = 1;
        if (depth > limits.max_depth)
                abort();
        switch (n->type) {
        case YNODE_SCALAR:
                if (!n->scalar || n->scalar[n->scalar_len] != '\0' ||
                    n->scalar_len > limits.max_scalar || n->n_children != 0)
                        abort();
                break;
        case YNODE_MAPPING:
                for (size_t i = 0; i < n->n_children; i++) {
                        const YNode *k = n->keys[i];
                        if (!k || k->type != YNODE_SCALAR || !n->values[i])
                                abort();
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(n->keys[j]->scalar, k->scalar) == 0)
                                        abort();
                        if (ytree_get(n, k->scalar) == NULL)
                                abort();
                        count += walk(k, depth + 1) + walk(n->values[i], depth + 1);
                }
                break;
        case YNODE_SEQUENCE:
                if (n->keys && n->n_children)
                        abort();
                for (size_t i = 0; i < n->n_children; i++)
                        count += walk(n->values[i], depth + 1);
                break;
        default:
                abort();
        }
        if (n->line == 0 || n->column == 0)
                abort();
        return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        YNode *root = (YNode *)&limits; /* sentinel: must stay on failure */
        char err[256];
        int r = ytree_parse((const char *)data, size, NULL, &root, err, sizeof(err));

        if (r < 0) {
                if (r != -EINVAL && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (root != (YNode *)&limits)
                        abort();
                if (r != -ENOMEM && strncmp(err, "line ", 5) != 0)
                        abort();
                return 0;
        }
        if (err[0] != '\0')
                abort();
        if (root && walk(root, 1) > limits.max_nodes)
                abort();
        ytree_free(root);
        return 0;
}
