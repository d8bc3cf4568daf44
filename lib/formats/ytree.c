/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ytree.c - build a bounded YAML node tree from libyaml's event stream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <yaml.h>

#include "ytree.h"
#include "macro.h"

typedef struct Builder {
        const YTreeLimits *limits;
        size_t nodes;
        char *err;
        size_t errlen;
} Builder;

static int fail(Builder *b, const yaml_mark_t *m, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(Builder *b, const yaml_mark_t *m, int r, const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (b->errlen > 0)
                (void)snprintf(b->err, b->errlen, "line %zu column %zu: %s", m ? m->line + 1 : 0,
                               m ? m->column + 1 : 0, msg);
        return r;
}

YNode *ytree_free(YNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++) {
                if (n->keys)
                        ytree_free(n->keys[i]);
                ytree_free(n->values[i]);
        }
        free(n->keys);
        free(n->values);
        if (n->scalar) {
                /* scalars may hold secretArgs values: wipe before free */
                explicit_bzero(n->scalar, n->scalar_len);
                free(n->scalar);
        }
        free(n);
        return NULL;
}

static int node_new(Builder *b, YNodeType type, const yaml_mark_t *m, YNode **ret) {
        YNode *n;
        if (++b->nodes > b->limits->max_nodes)
                return fail(b, m, -E2BIG, "document has more than %zu nodes", b->limits->max_nodes);
        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->type = type;
        n->line = (unsigned)m->line + 1;
        n->column = (unsigned)m->column + 1;
        *ret = n;
        return 0;
}

static int append(YNode *parent, YNode *key, YNode *value) {
        size_t n = parent->n_children + 1;
        YNode **v = realloc(parent->values, n * sizeof(*v));
        if (!v)
                return -ENOMEM;
        parent->values = v;
        if (parent->type == YNODE_MAPPING) {
                YNode **k = realloc(parent->keys, n * sizeof(*k));
                if (!k)
                        return -ENOMEM;
                parent->keys = k;
                parent->keys[n - 1] = key;
        }
        parent->values[n - 1] = value;
        parent->n_children = n;
        return 0;
}

static int next_event(yaml_parser_t *p, yaml_event_t *ev, Builder *b) {
        if (!yaml_parser_parse(p, ev))
                return fail(b, &p->problem_mark, -EINVAL, "%s",
                            p->problem ? p->problem : "invalid YAML");
        return 0;
}

static int parse_node(yaml_parser_t *p, yaml_event_t *ev, Builder *b, unsigned depth, YNode **ret);

static int parse_scalar(yaml_event_t *ev, Builder *b, YNode **ret) {
        _cleanup_(ytree_freep) YNode *n = NULL;
        size_t len = ev->data.scalar.length;
        int r;

        if (ev->data.scalar.anchor)
                return fail(b, &ev->start_mark, -EINVAL, "anchors are not supported");
        if (len > b->limits->max_scalar)
                return fail(b, &ev->start_mark, -E2BIG, "value longer than %zu bytes",
                            b->limits->max_scalar);
        r = node_new(b, YNODE_SCALAR, &ev->start_mark, &n);
        if (r < 0 || !n) /* !n: never, but gcc -O3 cannot tell */
                return r < 0 ? r : -ENOMEM;
        n->scalar = malloc(len + 1);
        if (!n->scalar)
                return -ENOMEM;
        memcpy(n->scalar, ev->data.scalar.value, len);
        n->scalar[len] = '\0';
        n->scalar_len = len;
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        /* libyaml keeps its own copy of the value: wipe it too */
        explicit_bzero(ev->data.scalar.value, len);
        *ret = TAKE_PTR(n);
        return 0;
}

/* The node that starts with the parser's next event. */
static int parse_next(yaml_parser_t *p, Builder *b, unsigned depth, YNode **ret) {
        yaml_event_t ev;
        int r;

        r = next_event(p, &ev, b);
        if (r < 0)
                return r;
        r = parse_node(p, &ev, b, depth, ret);
        yaml_event_delete(&ev);
        return r;
}

/* A key of mapping `map` must be a string, and new there. */
static int key_check(Builder *b, const YNode *map, const YNode *key) {
        yaml_mark_t m = { .line = key->line - 1, .column = key->column - 1 };

        if (key->type != YNODE_SCALAR)
                return fail(b, &m, -EINVAL, "mapping keys must be plain strings");
        if (ytree_get(map, key->scalar))
                return fail(b, &m, -EINVAL, "duplicate key '%s'", key->scalar);
        return 0;
}

/* A sequence or mapping, from its start event `ev` to its end event. */
static int parse_collection(yaml_parser_t *p, yaml_event_t *ev, Builder *b, unsigned depth,
                            YNode **ret) {
        bool mapping = ev->type == YAML_MAPPING_START_EVENT;
        yaml_event_type_t end = mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
        _cleanup_(ytree_freep) YNode *n = NULL;
        int r;

        if (mapping ? ev->data.mapping_start.anchor != NULL
                    : ev->data.sequence_start.anchor != NULL)
                return fail(b, &ev->start_mark, -EINVAL, "anchors are not supported");
        r = node_new(b, mapping ? YNODE_MAPPING : YNODE_SEQUENCE, &ev->start_mark, &n);
        if (r < 0 || !n)
                return r < 0 ? r : -ENOMEM;
        for (;;) {
                _cleanup_(ytree_freep) YNode *key = NULL;
                _cleanup_(ytree_freep) YNode *value = NULL;
                yaml_event_t child;

                r = next_event(p, &child, b);
                if (r < 0)
                        return r;
                if (child.type == end) {
                        yaml_event_delete(&child);
                        break;
                }
                r = parse_node(p, &child, b, depth + 1, mapping ? &key : &value);
                yaml_event_delete(&child);
                if (r >= 0 && mapping) {
                        r = key_check(b, n, key);
                        if (r >= 0)
                                r = parse_next(p, b, depth + 1, &value);
                }
                if (r >= 0)
                        r = append(n, key, value);
                if (r < 0)
                        return r;
                key = value = NULL; /* n has them */
        }
        *ret = TAKE_PTR(n);
        return 0;
}

/* Parses one node starting with event `ev` (consumed). */
static int parse_node(yaml_parser_t *p, yaml_event_t *ev, Builder *b, unsigned depth, YNode **ret) {
        if (depth > b->limits->max_depth)
                return fail(b, &ev->start_mark, -E2BIG, "nesting deeper than %u levels",
                            b->limits->max_depth);
        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return fail(b, &ev->start_mark, -EINVAL, "aliases are not supported");
        case YAML_SCALAR_EVENT:
                return parse_scalar(ev, b, ret);
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                return parse_collection(p, ev, b, depth, ret);
        default:
                return fail(b, &ev->start_mark, -EINVAL, "unexpected YAML event");
        }
}

int ytree_parse(const char *data, size_t len, const YTreeLimits *limits, YNode **ret, char *err,
                size_t errlen) {
        static const YTreeLimits default_limits = YTREE_LIMITS_DEFAULT;
        Builder b = { .limits = limits ? limits : &default_limits, .err = err, .errlen = errlen };
        _cleanup_(ytree_freep) YNode *root = NULL;
        yaml_parser_t p;
        yaml_event_t ev;
        int r = 0, docs = 0;
        bool done = false;

        if (errlen > 0)
                err[0] = '\0';
        if (!yaml_parser_initialize(&p))
                return -ENOMEM;
        yaml_parser_set_input_string(&p, (const unsigned char *)data, len);

        while (!done) {
                r = next_event(&p, &ev, &b);
                if (r < 0)
                        break;
                switch (ev.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++docs > 1)
                                r = fail(&b, &ev.start_mark, -EINVAL,
                                         "only one YAML document is allowed");
                        break;
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                default:
                        r = parse_node(&p, &ev, &b, 1, &root);
                        break;
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&p);
        if (r < 0)
                return r;
        /* "---" alone: libyaml reports an empty plain scalar; that is an empty document */
        if (root && root->type == YNODE_SCALAR && !root->quoted && root->scalar_len == 0)
                root = ytree_free(root);
        *ret = TAKE_PTR(root);
        return 0;
}

const YNode *ytree_get(const YNode *mapping, const char *key) {
        if (!mapping || mapping->type != YNODE_MAPPING)
                return NULL;
        for (size_t i = 0; i < mapping->n_children; i++)
                if (streq(mapping->keys[i]->scalar, key))
                        return mapping->values[i];
        return NULL;
}

const char *ytree_type_name(YNodeType t) {
        switch (t) {
        case YNODE_SCALAR:
                return "a scalar";
        case YNODE_MAPPING:
                return "a mapping";
        case YNODE_SEQUENCE:
                return "a list";
        }
        return "?";
}

const char *ytree_library_version(void) {
        return yaml_get_version_string();
}
