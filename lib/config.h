/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - the daemon's configuration: flags, environment and YAML file.
 *
 * Every setting has one name used three ways: the flag `--state-dir`, the
 * environment variable `VAULTMOUNT_STATE_DIR` and the file key `state-dir`.
 * Precedence: flag > environment > file > default. The file is
 * `--config`/`VAULTMOUNT_CONFIG`, else DEFAULT_CONFIG_PATH when it exists.
 * Unknown keys and bad values are errors that name their origin
 * ("config.yaml:7: ...", "--workers: ...", "VAULTMOUNT_WORKERS: ...").
 *
 * A Config is built once at start-up by config_load() and immutable
 * afterwards, so worker threads read it without locks. Never logs: warnings
 * are collected in Config.warnings for main() to log.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CONFIG_WARNINGS_MAX 8
#define CONFIG_ERROR_MAX 512

typedef enum ConfigSource {
        CONFIG_SOURCE_DEFAULT,
        CONFIG_SOURCE_FILE,
        CONFIG_SOURCE_ENV,
        CONFIG_SOURCE_FLAG,
        _CONFIG_SOURCE_MAX,
} ConfigSource;

typedef enum ConfigMode {
        CONFIG_MODE_RUN,
        CONFIG_MODE_HELP,
        CONFIG_MODE_VERSION,
        CONFIG_MODE_CHECK,
        CONFIG_MODE_PROBE,
} ConfigMode;

typedef struct Config {
        ConfigMode mode;
        char *config_path;
        bool config_file_loaded;

        /* server */
        char *endpoint;    /* as configured: unix:///abs.sock or /abs.sock */
        char *socket_path; /* derived: the absolute socket path */
        char *socket_group;
        gid_t socket_gid;  /* valid when socket_group is set */
        char *driver_name;
        char *node_id;     /* --node-id, else $NODE_NAME, else hostname */
        int64_t max_volumes_per_node;
        char *state_dir;
        unsigned workers;
        uint64_t shutdown_grace_usec;
        uint64_t probe_timeout_usec;

        /* logging */
        int log_level;
        int log_format;

        /* testing only: NodePublishVolume sleeps this long first */
        uint64_t test_publish_delay_usec;

        /* where each option's value came from (index: option table order) */
        ConfigSource *sources;
        char *warnings[CONFIG_WARNINGS_MAX];
        size_t n_warnings;
} Config;

/*
 * Loads the configuration. argv[0] is the program name; a first argument
 * `probe` selects the probe client mode. envp is the environment (a NULL-
 * terminated array). Returns 0, or a negative errno with a message naming
 * the bad setting in err.
 */
int config_load(Config *c, int argc, char **argv, char *const *envp, char *err, size_t errlen);
void config_done(Config *c);

/* `vaultmountd --help` text. */
void config_print_help(FILE *f, const char *program);
/* Prints the effective configuration as YAML with each value's origin. */
void config_print(const Config *c, FILE *f);

/* CSI plugin name rules: <= 63 chars, alphanumerics with '-' and '.' inside,
 * starting and ending with an alphanumeric. */
bool config_driver_name_valid(const char *name);
/* Accepts "unix:///abs/path", "unix:/abs/path" or "/abs/path"; writes a
 * malloc'd absolute path. -EINVAL with a message otherwise. */
int config_parse_endpoint(const char *endpoint, char **ret_path, char *err, size_t errlen);
