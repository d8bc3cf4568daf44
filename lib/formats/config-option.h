/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-option.h - the settings table behind config.c, and the one place
 * that turns a setting's text into its Config field and back.
 *
 * Every row of config_options[] is a flag, a VAULTMOUNT_* variable and (unless
 * OPT_NO_FILE) a config-file key; its type decides how a value is checked,
 * stored (at `offset` in Config), printed by --check-config and freed. A plain
 * new setting is one row here and its field in config.h.
 *
 * Internal to lib/formats: config.c is its only user. Never logs; no state
 * but the constant table; thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "fsutil.h"

typedef enum OptionType {
        OPT_STRING,
        OPT_PATH, /* absolute path */
        OPT_UNSIGNED,
        OPT_INT64,
        OPT_DURATION,
        OPT_LOG_LEVEL,
        OPT_LOG_FORMAT,
        OPT_BOOL,
        OPT_SIZE,
        OPT_STRLIST, /* comma-separated in flags/env, a YAML list or string in the file */
        OPT_TOKEN_SOURCE,
} OptionType;

enum {
        OPT_NO_FILE = 1 << 0, /* flag and environment only */
        OPT_TEST = 1 << 1,    /* testing aid: listed under its own heading */
};

typedef struct Option {
        const char *name;
        OptionType type;
        size_t offset;
        const char *default_value;
        int64_t min, max;
        unsigned flags;
        const char *metavar;
        const char *help;
} Option;

/* At most this many rows (a compile-time bound for getopt's table). */
#define CONFIG_OPTIONS_MAX 96

extern const Option config_options[];
extern const size_t config_n_options;

/* A bad value: the message into err, -EINVAL back. */
#define set_err(err, errlen, ...) err_fail((err), (errlen), -EINVAL, __VA_ARGS__)

/* The row named `name`, or -1. */
ssize_t option_find(const char *name);

/* Where o's value lives in c. */
static inline void *option_field(Config *c, const Option *o) {
        return (char *)c + o->offset;
}

/* VAULTMOUNT_<NAME> for o: upper case, '-' as '_'. */
void option_env_name(const Option *o, char *buf, size_t len);

/* Checks `value` against o's type and bounds and stores it at `field`,
 * replacing (and freeing) what was there. -EINVAL with a message that starts
 * with `origin`, or -ENOMEM. */
int option_parse(const Option *o, const char *value, void *field, const char *origin, char *err,
                 size_t errlen);

/* The value at `field` as text, the way option_parse() reads it (buf holds
 * numbers and lists, cut at len); NULL for an unset string. */
const char *option_format(const Option *o, const void *field, char *buf, size_t len);

/* Frees what option_parse() stored at `field` and unsets it. */
void option_free(const Option *o, void *field);

/* A string list: "a, b,c" into a new list that replaces *list (0 or
 * -ENOMEM), and its free. */
int strlist_parse(const char *value, char ***list, size_t *count);
void strlist_free(char **list, size_t n);
