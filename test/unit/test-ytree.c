/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-ytree.c - the bounded YAML tree: node types with line/column, flow
 * style (JSON input), the quoted flag, rejected features (anchors, aliases,
 * several documents, duplicate and non-scalar keys), the depth/node/scalar
 * limits (-E2BIG), syntax errors with positions, empty documents, ytree_get.
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ytree.h"

#include <check.h>

#include "testutil.h"

static char err[256];

/* Parses a NUL-terminated document with the given limits (NULL: defaults). */
static int parse(const char *doc, const YTreeLimits *lim, YNode **ret) {
        memset(err, 'Z', sizeof(err));
        err[sizeof(err) - 1] = '\0';
        *ret = (YNode *)0x1; /* must be left alone on failure */
        int r = ytree_parse(doc, strlen(doc), lim, ret, err, sizeof(err));
        if (r < 0)
                ck_assert_ptr_eq(*ret, (YNode *)0x1);
        else
                ck_assert_str_eq(err, ""); /* cleared on success */
        return r;
}

static YNode *parse_ok(const char *doc) {
        YNode *root;
        int r = parse(doc, NULL, &root);
        ck_assert_msg(r == 0, "parse failed (%d): %s\n--\n%s", r, err, doc);
        return root;
}

static void parse_fail(const char *doc, const YTreeLimits *lim, int want_r, const char *prefix,
                       const char *needle) {
        YNode *root;
        int r = parse(doc, lim, &root);
        ck_assert_msg(r == want_r, "'%s': got %d (%s), want %d", doc, r, err, want_r);
        if (prefix)
                ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                              "'%s': error '%s' does not start with '%s'", doc, err, prefix);
        if (needle)
                ck_assert_msg(strstr(err, needle) != NULL, "'%s': '%s' not in '%s'", doc, needle,
                              err);
}

static void check_node(const YNode *n, YNodeType type, unsigned line, unsigned col) {
        ck_assert_ptr_nonnull(n);
        ck_assert_msg(n->type == type, "type %s, want %s", ytree_type_name(n->type),
                      ytree_type_name(type));
        ck_assert_uint_eq(n->line, line);
        ck_assert_uint_eq(n->column, col);
}

static void check_scalar(const YNode *n, const char *value, int quoted, unsigned line,
                         unsigned col) {
        check_node(n, YNODE_SCALAR, line, col);
        ck_assert_str_eq(n->scalar, value);
        ck_assert_uint_eq(n->scalar_len, strlen(value));
        ck_assert_int_eq(n->quoted, quoted);
        ck_assert_uint_eq(n->n_children, 0);
}

/* ---- structure ---- */

START_TEST(test_block_structure)
{
        YNode *root = parse_ok("a: 1\n"
                               "b:\n"
                               "  - x\n"
                               "  - 'y'\n"
                               "c:\n"
                               "  d: \"e\"\n"
                               "  f: plain text here\n");
        const YNode *b, *c;

        check_node(root, YNODE_MAPPING, 1, 1);
        ck_assert_uint_eq(root->n_children, 3);
        check_scalar(root->keys[0], "a", 0, 1, 1);
        check_scalar(root->values[0], "1", 0, 1, 4);
        check_scalar(root->keys[1], "b", 0, 2, 1);
        check_scalar(root->keys[2], "c", 0, 5, 1);

        b = root->values[1];
        check_node(b, YNODE_SEQUENCE, 3, 3);
        ck_assert_uint_eq(b->n_children, 2);
        ck_assert_ptr_null(b->keys);
        check_scalar(b->values[0], "x", 0, 3, 5);
        check_scalar(b->values[1], "y", 1, 4, 5);

        c = root->values[2];
        check_node(c, YNODE_MAPPING, 6, 3);
        ck_assert_uint_eq(c->n_children, 2);
        check_scalar(c->keys[0], "d", 0, 6, 3);
        check_scalar(c->values[0], "e", 1, 6, 6);
        check_scalar(c->values[1], "plain text here", 0, 7, 6);

        /* mapping order is document order */
        ck_assert_ptr_eq(ytree_get(root, "a"), root->values[0]);
        ck_assert_ptr_eq(ytree_get(root, "c"), c);
        ck_assert_ptr_eq(ytree_get(c, "f"), c->values[1]);
        ck_assert_ptr_null(ytree_get(c, "a"));
        ytree_free(root);
}
END_TEST

START_TEST(test_scalars)
{
        YNode *root = parse_ok("plain: hello world\n"
                               "single: 'it''s'\n"
                               "double: \"tab\\there\\u00e9\"\n"
                               "literal: |\n"
                               "  line1\n"
                               "  line2\n"
                               "folded: >\n"
                               "  a\n"
                               "  b\n"
                               "empty:\n"
                               "quoted_empty: \"\"\n"
                               "number: 0755\n"
                               "tagged: !!str 5\n");
        check_scalar(ytree_get(root, "plain"), "hello world", 0, 1, 8);
        check_scalar(ytree_get(root, "single"), "it's", 1, 2, 9);
        check_scalar(ytree_get(root, "double"), "tab\there\xc3\xa9", 1, 3, 9);
        ck_assert_str_eq(ytree_get(root, "literal")->scalar, "line1\nline2\n");
        ck_assert_int_eq(ytree_get(root, "literal")->quoted, 0);
        ck_assert_str_eq(ytree_get(root, "folded")->scalar, "a b\n");
        /* a missing value is an empty plain scalar, distinguishable from "" */
        check_scalar(ytree_get(root, "empty"), "", 0, 10, 7);
        ck_assert_int_eq(ytree_get(root, "quoted_empty")->quoted, 1);
        ck_assert_str_eq(ytree_get(root, "quoted_empty")->scalar, "");
        /* values are text: no numeric interpretation */
        ck_assert_str_eq(ytree_get(root, "number")->scalar, "0755");
        ck_assert_str_eq(ytree_get(root, "tagged")->scalar, "5");
        ytree_free(root);
}
END_TEST

START_TEST(test_embedded_nul)
{
        /* "\0" is a valid YAML escape: scalar_len keeps the real length */
        YNode *root = parse_ok("\"a\\0b\"");
        check_node(root, YNODE_SCALAR, 1, 1);
        ck_assert_uint_eq(root->scalar_len, 3);
        ck_assert_int_eq(memcmp(root->scalar, "a\0b", 4), 0);
        ytree_free(root);
}
END_TEST

START_TEST(test_flow_json)
{
        YNode *root = parse_ok("{\"a\": [1, 2, {\"b\": null}], \"c\": \"x\", \"d\": true}");
        const YNode *a, *inner;

        check_node(root, YNODE_MAPPING, 1, 1);
        ck_assert_uint_eq(root->n_children, 3);
        check_scalar(root->keys[0], "a", 1, 1, 2);
        a = ytree_get(root, "a");
        check_node(a, YNODE_SEQUENCE, 1, 7);
        ck_assert_uint_eq(a->n_children, 3);
        check_scalar(a->values[0], "1", 0, 1, 8);
        check_scalar(a->values[1], "2", 0, 1, 11);
        inner = a->values[2];
        check_node(inner, YNODE_MAPPING, 1, 14);
        check_scalar(ytree_get(inner, "b"), "null", 0, 1, 20);
        check_scalar(ytree_get(root, "c"), "x", 1, 1, 33);
        check_scalar(ytree_get(root, "d"), "true", 0, 1, 43);
        ytree_free(root);
}
END_TEST

START_TEST(test_flow_json_multiline)
{
        YNode *root = parse_ok("[\n"
                               "  {\"name\": \"db-password\", \"path\": \"kv/data/db\"},\n"
                               "  {\"name\": \"api\", \"path\": \"kv/data/api\"}\n"
                               "]\n");
        check_node(root, YNODE_SEQUENCE, 1, 1);
        ck_assert_uint_eq(root->n_children, 2);
        check_node(root->values[0], YNODE_MAPPING, 2, 3);
        check_node(root->values[1], YNODE_MAPPING, 3, 3);
        ck_assert_str_eq(ytree_get(root->values[1], "path")->scalar, "kv/data/api");
        ytree_free(root);
}
END_TEST

START_TEST(test_top_level_kinds)
{
        YNode *root = parse_ok("- a\n- b\n");
        check_node(root, YNODE_SEQUENCE, 1, 1);
        ck_assert_uint_eq(root->n_children, 2);
        ytree_free(root);
        root = parse_ok("\n\n  just text\n");
        check_scalar(root, "just text", 0, 3, 3);
        ytree_free(root);
        root = parse_ok("{}");
        check_node(root, YNODE_MAPPING, 1, 1);
        ck_assert_uint_eq(root->n_children, 0);
        ytree_free(root);
        root = parse_ok("[]");
        check_node(root, YNODE_SEQUENCE, 1, 1);
        ck_assert_uint_eq(root->n_children, 0);
        ytree_free(root);
}
END_TEST

/* ---- empty documents ---- */

START_TEST(test_empty_document)
{
        static const char *const empty[] = { "", "\n\n", "# only a comment\n", "   \n# x\n" };
        for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
                YNode *root = parse_ok(empty[i]);
                ck_assert_msg(root == NULL, "'%s' gave a node", empty[i]);
        }
        /* length 0 with a non-terminated buffer */
        YNode *root = (YNode *)0x1;
        ck_assert_int_eq(ytree_parse("xyz", 0, NULL, &root, err, sizeof(err)), 0);
        ck_assert_ptr_null(root);
}
END_TEST

START_TEST(test_empty_document_explicit)
{
        /* An explicit document marker with nothing in it is still empty. */
        static const char *const empty[] = { "---\n", "---\n# all defaults\n", "--- \n...\n" };
        for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
                YNode *root = parse_ok(empty[i]);
                ck_assert_msg(root == NULL, "'%s' gave a %s", empty[i],
                              root ? ytree_type_name(root->type) : "");
        }
        /* with content it is a normal document */
        YNode *root = parse_ok("---\na: 1\n...\n");
        check_node(root, YNODE_MAPPING, 2, 1);
        ytree_free(root);
}
END_TEST

/* ---- rejected features ---- */

START_TEST(test_anchors_aliases)
{
        parse_fail("a: &x 1\nb: *x\n", NULL, -EINVAL, "line 1 column 4: ", "anchors");
        parse_fail("- &x 1\n- *x\n", NULL, -EINVAL, "line 1 column 3: ", "anchors");
        parse_fail("a: &m {b: 1}\n", NULL, -EINVAL, "line 1 column 4: ", "anchors");
        parse_fail("a: &s [1]\n", NULL, -EINVAL, "line 1 column 4: ", "anchors");
        parse_fail("&top {a: 1}\n", NULL, -EINVAL, "line 1 column 1: ", "anchors");
        parse_fail("*x\n", NULL, -EINVAL, "line 1 column 1: ", "aliases");
        parse_fail("a: 1\nb: *undefined\n", NULL, -EINVAL, "line 2 column 4: ", "aliases");
        /* merge keys need aliases, so they are rejected too */
        parse_fail("base: &b {x: 1}\nderived:\n  <<: *b\n", NULL, -EINVAL, "line ", "anchors");
}
END_TEST

START_TEST(test_multiple_documents)
{
        parse_fail("a: 1\n---\nb: 2\n", NULL, -EINVAL,
                   "line 2 column 1: ", "only one YAML document");
        parse_fail("--- a\n--- b\n", NULL, -EINVAL, "line 2 column 1: ", "only one");
        parse_fail("a: 1\n...\n---\n", NULL, -EINVAL, "line 3 column 1: ", "only one");
}
END_TEST

START_TEST(test_duplicate_keys)
{
        parse_fail("a: 1\nb: 2\na: 3\n", NULL, -EINVAL, "line 3 column 1: ", "duplicate key 'a'");
        parse_fail("{\"a\": 1, \"a\": 2}", NULL, -EINVAL, "line 1 column 10: ", "duplicate key");
        parse_fail("x:\n  k: 1\n  k: 1\n", NULL, -EINVAL, "line 3 column 3: ", "duplicate");
        /* quoting does not make a key different */
        parse_fail("a: 1\n'a': 2\n", NULL, -EINVAL, "line 2 column 1: ", "duplicate");
        /* the same key in different mappings is fine */
        YNode *root = parse_ok("x: {k: 1}\ny: {k: 2}\n");
        ytree_free(root);
}
END_TEST

START_TEST(test_non_scalar_keys)
{
        parse_fail("? [a, b]\n: 1\n", NULL, -EINVAL, "line 1 column 3: ", "plain strings");
        parse_fail("? {a: 1}\n: 1\n", NULL, -EINVAL, "line 1 column 3: ", "plain strings");
        parse_fail("{[a]: 1}", NULL, -EINVAL, "line 1 column 2: ", "plain strings");
        parse_fail("x:\n  [a]: 1\n", NULL, -EINVAL, "line 2 column 3: ", "plain strings");
}
END_TEST

/* ---- syntax errors ---- */

START_TEST(test_syntax_errors)
{
        parse_fail("a: 1\n  b: 2\n", NULL, -EINVAL, "line 2 column 4: ", NULL);
        parse_fail("a: [1, 2\n", NULL, -EINVAL, "line 2 column 1: ", NULL);
        parse_fail("a: 1\n\tb: 2\n", NULL, -EINVAL, "line 2 column 1: ", "tab");
        parse_fail("- a\n-b: {\n", NULL, -EINVAL, "line 2 column 1: ", NULL);
        parse_fail("a: \"unterminated\n", NULL, -EINVAL, "line ", NULL);
        parse_fail("\n\n\nkey: value: more\n", NULL, -EINVAL, "line 4 column ", NULL);
        parse_fail("\xff"
                   "abc",
                   NULL, -EINVAL, "line 1 column 1: ", "UTF-8");
        parse_fail("a: \xc3\x28\n", NULL, -EINVAL, "line 1 column ", NULL);
        parse_fail("{a: 1", NULL, -EINVAL, "line 2 column 1: ", NULL); /* at the end */
        parse_fail("]", NULL, -EINVAL, "line 1 column 1: ", NULL);
}
END_TEST

START_TEST(test_error_buffer)
{
        YNode *root = NULL;
        char small[12];
        /* a short error buffer is NUL-terminated, never overrun */
        memset(small, 'Z', sizeof(small));
        ck_assert_int_eq(ytree_parse("*x", 2, NULL, &root, small, 8), -EINVAL);
        ck_assert_int_eq(small[7], '\0');
        ck_assert_int_eq(small[8], 'Z');
        ck_assert_int_eq(strncmp(small, "line 1 ", 7), 0);
        /* errlen 0: nothing written at all */
        memset(small, 'Z', sizeof(small));
        ck_assert_int_eq(ytree_parse("*x", 2, NULL, &root, small, 0), -EINVAL);
        ck_assert_int_eq(small[0], 'Z');
}
END_TEST

/* ---- limits ---- */

static char *nested_seq(unsigned depth) {
        /* depth levels of "[" around one scalar: depth + 1 levels in all */
        char *s = malloc(2 * depth + 2);
        size_t n = 0;
        for (unsigned i = 0; i < depth; i++)
                s[n++] = '[';
        s[n++] = 'x';
        for (unsigned i = 0; i < depth; i++)
                s[n++] = ']';
        s[n] = '\0';
        return s;
}

START_TEST(test_limit_depth)
{
        const YTreeLimits lim = { .max_depth = 3, .max_nodes = 100, .max_scalar = 100 };
        YNode *root;
        char *doc;

        /* the scalar counts as a level: [[x]] is 3 deep */
        ck_assert_int_eq(parse("[[x]]", &lim, &root), 0);
        ytree_free(root);
        ck_assert_int_eq(parse("a: {b: 1}", &lim, &root), 0);
        ytree_free(root);
        parse_fail("[[[x]]]", &lim, -E2BIG, "line 1 column 4: ", "deeper than 3");
        parse_fail("a: {b: {c: 1}}", &lim, -E2BIG, "line 1 ", "deeper than 3");
        parse_fail("a:\n  b:\n    c: 1\n", &lim, -E2BIG, "line 3 ", "deeper");

        /* the defaults: 16 levels */
        doc = nested_seq(15);
        ck_assert_int_eq(parse(doc, NULL, &root), 0);
        ytree_free(root);
        free(doc);
        doc = nested_seq(16);
        parse_fail(doc, NULL, -E2BIG, "line 1 column 17: ", "deeper than 16");
        free(doc);

        /* very deep input stops at the limit instead of recursing on */
        doc = nested_seq(100000);
        parse_fail(doc, NULL, -E2BIG, NULL, "deeper than 16");
        free(doc);
}
END_TEST

START_TEST(test_limit_nodes)
{
        const YTreeLimits lim = { .max_depth = 16, .max_nodes = 5, .max_scalar = 100 };
        YNode *root;

        /* a sequence node + 4 scalars = 5 nodes */
        ck_assert_int_eq(parse("[1, 2, 3, 4]", &lim, &root), 0);
        ytree_free(root);
        parse_fail("[1, 2, 3, 4, 5]", &lim, -E2BIG, "line 1 column 14: ", "more than 5 nodes");
        /* keys count as nodes: mapping + 2 keys + 2 values = 5 */
        ck_assert_int_eq(parse("{a: 1, b: 2}", &lim, &root), 0);
        ytree_free(root);
        parse_fail("{a: 1, b: 2, c: 3}", &lim, -E2BIG, NULL, "more than 5 nodes");
}
END_TEST

START_TEST(test_limit_nodes_default)
{
        /* 10000 nodes by default: a list of 9999 scalars fits, 10000 do not */
        size_t n = 10000, len = 0;
        char *doc = malloc(n * 3 + 4);
        YNode *root;

        doc[len++] = '[';
        for (size_t i = 0; i < n - 1; i++) {
                doc[len++] = 'x';
                doc[len++] = ',';
        }
        doc[len - 1] = ']';
        doc[len] = '\0';
        ck_assert_int_eq(parse(doc, NULL, &root), 0);
        ck_assert_uint_eq(root->n_children, n - 1);
        ytree_free(root);
        doc[len - 1] = ',';
        doc[len++] = 'x';
        doc[len++] = ']';
        doc[len] = '\0';
        parse_fail(doc, NULL, -E2BIG, NULL, "more than 10000 nodes");
        free(doc);
}
END_TEST

START_TEST(test_limit_scalar)
{
        const YTreeLimits lim = { .max_depth = 16, .max_nodes = 100, .max_scalar = 4 };
        YNode *root;

        ck_assert_int_eq(parse("abcd", &lim, &root), 0);
        ytree_free(root);
        ck_assert_int_eq(parse("{abcd: wxyz}", &lim, &root), 0);
        ytree_free(root);
        parse_fail("abcde", &lim, -E2BIG, "line 1 column 1: ", "longer than 4 bytes");
        parse_fail("a: \"12345\"", &lim, -E2BIG, "line 1 column 4: ", "longer than 4");
        /* keys are scalars too */
        parse_fail("abcde: 1", &lim, -E2BIG, "line 1 column 1: ", "longer than 4");
        /* the limit is on the decoded value: "\u00e9\u00e9" is 4 bytes */
        ck_assert_int_eq(parse("\"\\u00e9\\u00e9\"", &lim, &root), 0);
        ck_assert_uint_eq(root->scalar_len, 4);
        ytree_free(root);
}
END_TEST

START_TEST(test_limit_scalar_default)
{
        size_t n = 65536;
        char *doc = malloc(n + 2);
        YNode *root;
        memset(doc, 'v', n);
        doc[n] = '\0';
        ck_assert_int_eq(parse(doc, NULL, &root), 0);
        ck_assert_uint_eq(root->scalar_len, n);
        ytree_free(root);
        doc[n] = 'v';
        doc[n + 1] = '\0';
        parse_fail(doc, NULL, -E2BIG, NULL, "longer than 65536");
        free(doc);
}
END_TEST

/* ---- accessors ---- */

START_TEST(test_get)
{
        YNode *root = parse_ok("a: 1\nb: [x]\n");
        const YNode *b = ytree_get(root, "b");
        ck_assert_ptr_nonnull(b);
        ck_assert_ptr_null(ytree_get(root, "c"));
        ck_assert_ptr_null(ytree_get(root, ""));
        ck_assert_ptr_null(ytree_get(root, "A"));
        ck_assert_ptr_null(ytree_get(root, "a "));
        /* not a mapping */
        ck_assert_ptr_null(ytree_get(b, "x"));
        ck_assert_ptr_null(ytree_get(b->values[0], "x"));
        ck_assert_ptr_null(ytree_get(NULL, "a"));
        ytree_free(root);
}
END_TEST

START_TEST(test_type_names_and_free)
{
        ck_assert_str_eq(ytree_type_name(YNODE_SCALAR), "a scalar");
        ck_assert_str_eq(ytree_type_name(YNODE_MAPPING), "a mapping");
        ck_assert_str_eq(ytree_type_name(YNODE_SEQUENCE), "a list");
        ck_assert_str_eq(ytree_type_name((YNodeType)42), "?");
        ck_assert_ptr_null(ytree_free(NULL));
        YNode *root = parse_ok("a: [1, {b: c}]\n");
        ck_assert_ptr_null(ytree_free(root));
        YNode *n = NULL;
        ytree_freep(&n);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("ytree");
        TCase *tc;

        tc = tcase_create("structure");
        tcase_add_test(tc, test_block_structure);
        tcase_add_test(tc, test_scalars);
        tcase_add_test(tc, test_embedded_nul);
        tcase_add_test(tc, test_flow_json);
        tcase_add_test(tc, test_flow_json_multiline);
        tcase_add_test(tc, test_top_level_kinds);
        suite_add_tcase(s, tc);

        tc = tcase_create("empty");
        tcase_add_test(tc, test_empty_document);
        tcase_add_test(tc, test_empty_document_explicit);
        suite_add_tcase(s, tc);

        tc = tcase_create("rejected");
        tcase_add_test(tc, test_anchors_aliases);
        tcase_add_test(tc, test_multiple_documents);
        tcase_add_test(tc, test_duplicate_keys);
        tcase_add_test(tc, test_non_scalar_keys);
        suite_add_tcase(s, tc);

        tc = tcase_create("syntax");
        tcase_add_test(tc, test_syntax_errors);
        tcase_add_test(tc, test_error_buffer);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_limit_depth);
        tcase_add_test(tc, test_limit_nodes);
        tcase_add_test(tc, test_limit_nodes_default);
        tcase_add_test(tc, test_limit_scalar);
        tcase_add_test(tc, test_limit_scalar_default);
        suite_add_tcase(s, tc);

        tc = tcase_create("accessors");
        tcase_add_test(tc, test_get);
        tcase_add_test(tc, test_type_names_and_free);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
