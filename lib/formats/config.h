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
#define CONFIG_ERROR_MAX    512

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
        CONFIG_MODE_STATUS, /* `vaultmountd status [--json]` */
} ConfigMode;

/* How the pod's service-account token may reach us (KEP-5538). */
typedef enum TokenSource {
        TOKEN_SOURCE_SECRETS_OR_CONTEXT, /* secrets first, volume_context as a fallback */
        TOKEN_SOURCE_SECRETS_ONLY,       /* migrated clusters: refuse volume_context tokens */
} TokenSource;

/* A Vault server the node admin configured (config file `vault-servers:`). */
typedef struct VaultServerConfig {
        char *name;
        char *address; /* https://host:8200 */
        char *ca_file;
        char *ca_dir;
        char *client_cert;
        char *client_key;
        char *tls_server_name;
        bool tls_skip_verify;     /* warned about at every start */
        bool allow_http;          /* plain http only when set */
        char *ns;                 /* default Vault namespace, or NULL */
        char *auth_method;        /* "kubernetes" (default) or "jwt" */
        char *auth_mount;         /* default: the method's name */
        char *audience;           /* token audience used by default: "vault" */
        char **allowed_audiences; /* others a volume may ask for */
        size_t n_allowed_audiences;
} VaultServerConfig;

typedef struct Config {
        ConfigMode mode;
        char *config_path;
        bool config_file_loaded;

        /* server */
        char *endpoint;    /* as configured: unix:///abs.sock or /abs.sock */
        char *socket_path; /* derived: the absolute socket path */
        char *socket_group;
        gid_t socket_gid; /* valid when socket_group is set */
        char *driver_name;
        char *node_id; /* --node-id, else $NODE_NAME, else hostname */
        int64_t max_volumes_per_node;
        char *state_dir;
        unsigned workers;
        uint64_t shutdown_grace_usec;
        uint64_t probe_timeout_usec;

        /* logging */
        int log_level;
        int log_format;

        /* publish */
        VaultServerConfig *vault_servers;
        size_t n_vault_servers;
        char *default_vault_server;  /* name; default: the only server, or "default" */
        char **target_roots;         /* allowed target_path roots */
        size_t n_target_roots;       /* must follow target_roots (OPT_STRLIST) */
        uint64_t tmpfs_size_default; /* bytes */
        uint64_t tmpfs_size_max;     /* bytes */
        unsigned max_objects;        /* objects per volume */
        uint64_t max_file_bytes;
        uint64_t max_volume_bytes;
        TokenSource token_source;
        uint64_t refresh_interval_default_usec;
        uint64_t refresh_interval_min_usec;
        VaultServerConfig flat_vault; /* the vault-* settings: server "default" */

        /* logging: target and gRPC tracing */
        char *log_target;      /* "auto", "stderr" or "journal" (checked by main) */
        bool allow_grpc_trace; /* start even when $GRPC_TRACE is set */

        /* mounts */
        char *mount_api; /* "auto", "new" or "classic" (checked by main) */

        /* registration */
        char *registration_dir; /* kubelet's plugins_registry; NULL or "" disables */
        char *kubelet_endpoint; /* GetInfo endpoint; NULL: socket_path */

        /* rotation */
        unsigned refresh_workers;       /* refresh threads */
        unsigned refresh_rate;          /* refresh requests/s per Vault server */
        unsigned refresh_burst;         /* token bucket size */
        unsigned vault_max_concurrency; /* calls in flight per server (all kinds) */
        uint64_t refresh_backoff_min_usec;
        uint64_t refresh_backoff_max_usec;
        uint64_t refresh_request_timeout_usec;
        uint64_t republish_wait_usec;
        bool republish_stale_unavailable;
        uint64_t test_refresh_interval_min_usec; /* testing only: replaces the 30 s floor */

        /* observability */
        char *metrics_address; /* HOST:PORT of the Prometheus endpoint; NULL or "": off */
        bool status_json;      /* `vaultmountd status --json` */

        /* testing only: NodePublishVolume sleeps this long first */
        uint64_t test_publish_delay_usec;
        /* testing only: a first publish stops before this step (crash tests) */
        char *test_publish_pause;

        /* where each option's value came from (index: option table order) */
        ConfigSource *sources;
        char **origins; /* "--workers", "VAULTMOUNT_WORKERS", "/etc/x.yaml:3: workers" */
        char *warnings[CONFIG_WARNINGS_MAX];
        size_t n_warnings;
} Config;

/*
 * Loads the configuration. argv[0] is the program name; a first argument
 * `probe` selects the probe client mode. envp is the environment (a NULL-
 * terminated array). A first argument `status` selects the status report
 * (with `--json`). Returns 0, or a negative errno with a message naming
 * the bad setting in err.
 */
int config_load(Config *c, int argc, char **argv, char *const *envp, char *err, size_t errlen);
void config_done(Config *c);

/* The server a volume names (NULL name: the default one), or NULL. */
const VaultServerConfig *config_vault_server(const Config *c, const char *name);

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
