/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml-go.h - YAML typed the way vault-csi-provider's Go decoder types it,
 * so that a volume's secretArgs reach Vault as the same JSON, and its plain
 * scalars (filePermission, expand) mean what they mean there.
 *
 * vault-csi-provider (v1.7) decodes `objects` with Go's
 * gopkg.in/yaml.v3 into map[string]interface{} and sends json.Marshal() of
 * it, so a plain (unquoted) scalar becomes:
 *   - null:   "" ~ null Null NULL
 *   - bool:   true True TRUE false False FALSE   (yes/no/on/off stay strings:
 *             yaml.v3 dropped those YAML 1.1 booleans for untyped values)
 *   - int:    after removing every '_': an optional sign, then decimal,
 *             0x.. hex, 0o.. octal, 0b.. binary, or a leading-0 octal
 *             (YAML 1.1 style, 0755 = 493), within int64 (or uint64)
 *   - float:  [-+]?(.D+|D+(.D*)?)([eE][-+]?D+)?, e.g. 1.5, 1e3, -.5, 08
 *             (an invalid octal falls through to a float, as in Go); an
 *             integer beyond 64 bits is a float too
 *   - .inf (with or without a sign) and .nan (without one), in the case
 *     variants yaml.v3 knows (.inf .Inf .INF, .nan .NaN .NAN), are refused:
 *     Go's json.Marshal fails on them, and JSON has no form for them; "-.nan"
 *     is a string there and here
 *   - everything else, and every quoted scalar, is a string.
 * We do the same, with two deliberate differences: a plain timestamp
 * (2024-01-02) stays the text the user wrote (yaml.v3 turns it into a
 * time.Time and json.Marshal rewrites it as 2024-01-02T00:00:00Z), and
 * YAML tags (!!str) are not honoured (ytree drops them). Block scalars
 * (| and >) are typed like plain ones because ytree does not mark them;
 * only a single-line `|-`/`>-` scalar can differ from Go there.
 * Mappings nest; keys are always strings. The JSON is compact with sorted
 * keys and <, >, & escaped, byte for byte what json.Marshal sends.
 *
 * Secret hygiene: secretArgs values pass through ytree scalars (wiped by
 * ytree_free), jansson strings (wiped by json.c's allocator) and number
 * texts on the stack (wiped here), and end up in the Secret returned.
 * Errors name keys, never values.
 *
 * Never logs. Thread-safe (no shared state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "ytree.h"

typedef enum YamlPlainKind {
        YAML_PLAIN_STRING,
        YAML_PLAIN_NULL,
        YAML_PLAIN_BOOL,
        YAML_PLAIN_INT,
        YAML_PLAIN_UINT,
        YAML_PLAIN_FLOAT,
        YAML_PLAIN_NONFINITE,
} YamlPlainKind;

typedef struct YamlPlainValue {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
} YamlPlainValue;

/* Whether a plain scalar is YAML's null: "", ~, null, Null or NULL. */
bool yaml_plain_is_null(const char *s);

/* The type and value of the plain (unquoted) scalar s[0..len): 0, or
 * -ENOMEM. Anything that is not null, a bool or a number is a string. */
int yaml_plain_resolve(const char *s, size_t len, YamlPlainKind *ret_kind, YamlPlainValue *ret);

/* The YAML node n as the compact JSON json.Marshal() sends (sorted keys,
 * <, > and & escaped) into a new Secret. -EINVAL with a message that starts
 * with `label` (a key that is not UTF-8, a .inf or .nan), or -ENOMEM. */
int yaml_go_json(const YNode *n, const char *label, Secret **ret, char *err, size_t errlen);
