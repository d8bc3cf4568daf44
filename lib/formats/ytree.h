/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ytree.h - a YAML document as a small tree with line numbers (libyaml).
 *
 * Used by the config file loader and by the `objects` volume attribute.
 * Bounded: depth, node count and scalar length are capped, because
 * `objects` comes from pod authors. Anchors, aliases and multiple documents
 * are rejected. Flow style ([...], {...}) works, so JSON input parses too.
 * Never logs. Thread-safe (no shared state).
 */
#pragma once

#include <stddef.h>

typedef enum YNodeType {
        YNODE_SCALAR,
        YNODE_MAPPING,
        YNODE_SEQUENCE,
} YNodeType;

typedef struct YNode YNode;
struct YNode {
        YNodeType type;
        unsigned line;   /* 1-based */
        unsigned column; /* 1-based */
        char *scalar;    /* YNODE_SCALAR: value (NUL-terminated) */
        size_t scalar_len;
        int quoted; /* scalar was quoted ('...' or "...") */
        /* YNODE_MAPPING: keys[i] -> values[i]; YNODE_SEQUENCE: values[i] */
        YNode **keys;
        YNode **values;
        size_t n_children;
};

typedef struct YTreeLimits {
        unsigned max_depth;
        size_t max_nodes;
        size_t max_scalar;
} YTreeLimits;

#define YTREE_LIMITS_DEFAULT                                                                       \
        { .max_depth = 16, .max_nodes = 10000, .max_scalar = 65536 }

/*
 * Parses `len` bytes. On success *ret is the root node (NULL for an empty
 * document). On failure returns -EINVAL (syntax, or an unsupported feature),
 * -E2BIG (a limit) or -ENOMEM, with a message "line L column C: ..." in err.
 */
int ytree_parse(const char *data, size_t len, const YTreeLimits *limits, YNode **ret, char *err,
                size_t errlen);
YNode *ytree_free(YNode *n);
static inline void ytree_freep(YNode **n) {
        ytree_free(*n);
}

/* The value for `key` in a mapping, or NULL. */
const YNode *ytree_get(const YNode *mapping, const char *key);
const char *ytree_type_name(YNodeType t);

/* The version of the libyaml library loaded at run time ("0.2.5"). */
const char *ytree_library_version(void);
