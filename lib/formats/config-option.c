/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config-option.c - the settings table and its value types (see
 * config-option.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config-defaults.h"
#include "config-option.h"
#include "log.h"
#include "parse.h"
#include "macro.h"

#define DURATION_MAX_USEC (366ULL * 24 * 3600 * 1000000)

#define F(field)          offsetof(Config, field)

const Option config_options[] = {
        { "config", OPT_PATH, F(config_path), NULL, 0, 0, OPT_NO_FILE, "PATH",
          "YAML config file (default " DEFAULT_CONFIG_PATH " when it exists)" },
        { "endpoint", OPT_STRING, F(endpoint),
          "unix:///var/lib/kubelet/plugins/csi.vaultmount.io/csi.sock", 0, 0, 0, "ENDPOINT",
          "CSI socket, unix:///abs/path.sock or /abs/path.sock (also $CSI_ENDPOINT)" },
        { "socket-group", OPT_STRING, F(socket_group), NULL, 0, 0, 0, "GROUP",
          "group (name or id) allowed to use the socket; the socket is then 0660 instead of 0600" },
        { "driver-name", OPT_STRING, F(driver_name), DEFAULT_DRIVER_NAME, 0, 0, 0, "NAME",
          "CSI driver name reported by GetPluginInfo" },
        { "node-id", OPT_STRING, F(node_id), NULL, 0, 0, 0, "ID",
          "node id for NodeGetInfo (default: $NODE_NAME, else the host name)" },
        { "max-volumes-per-node", OPT_INT64, F(max_volumes_per_node), "0", 0, INT64_MAX, 0, "N",
          "NodeGetInfo max_volumes_per_node (0: the CO decides)" },
        { "state-dir", OPT_PATH, F(state_dir), "/run/vaultmount", 0, 0, 0, "DIR",
          "runtime state directory (tmpfs; holds the instance lock)" },
        { "workers", OPT_UNSIGNED, F(workers), "4", 1, 64, 0, "N",
          "worker threads for NodePublish/NodeUnpublish" },
        { "shutdown-grace", OPT_DURATION, F(shutdown_grace_usec), "20s", 0, 0, 0, "DURATION",
          "on SIGTERM, how long in-flight calls may take before they are cancelled" },
        { "probe-timeout", OPT_DURATION, F(probe_timeout_usec), "5s", 1000, 0, 0, "DURATION",
          "deadline of `vaultmountd probe`" },
        { "log-level", OPT_LOG_LEVEL, F(log_level), "info", 0, 0, 0, "LEVEL",
          "error, warning, notice, info or debug" },
        { "log-format", OPT_LOG_FORMAT, F(log_format), "logfmt", 0, 0, 0, "FORMAT",
          "stderr format: logfmt or json" },
        /* Vault servers: `vault-servers:` in the file; the vault-* settings below
         * define (or override) the server named "default". */
        { "default-vault-server", OPT_STRING, F(default_vault_server), NULL, 0, 0, 0, "NAME",
          "server used when a volume names none (default: the only one, or 'default')" },
        { "vault-address", OPT_STRING, F(flat_vault.address), NULL, 0, 0, 0, "URL",
          "address of the Vault server named 'default', e.g. https://vault:8200" },
        { "vault-ca-file", OPT_PATH, F(flat_vault.ca_file), NULL, 0, 0, 0, "PATH",
          "PEM CA bundle that signs the 'default' server's certificate" },
        { "vault-ca-dir", OPT_PATH, F(flat_vault.ca_dir), NULL, 0, 0, 0, "DIR",
          "directory of PEM CA certificates for the 'default' server" },
        { "vault-client-cert", OPT_PATH, F(flat_vault.client_cert), NULL, 0, 0, 0, "PATH",
          "client certificate (PEM) for the 'default' server" },
        { "vault-client-key", OPT_PATH, F(flat_vault.client_key), NULL, 0, 0, 0, "PATH",
          "client key (PEM) for the 'default' server" },
        { "vault-tls-server-name", OPT_STRING, F(flat_vault.tls_server_name), NULL, 0, 0, 0, "NAME",
          "TLS server name to verify for the 'default' server" },
        { "vault-tls-skip-verify", OPT_BOOL, F(flat_vault.tls_skip_verify), "false", 0, 0, 0,
          "BOOL", "do not verify the 'default' server's certificate (warned at every start)" },
        { "vault-allow-http", OPT_BOOL, F(flat_vault.allow_http), "false", 0, 0, 0, "BOOL",
          "allow a plain http:// address for the 'default' server" },
        { "vault-namespace", OPT_STRING, F(flat_vault.ns), NULL, 0, 0, 0, "NS",
          "Vault Enterprise/OpenBao namespace of the 'default' server" },
        { "vault-auth-method", OPT_STRING, F(flat_vault.auth_method), NULL, 0, 0, 0, "METHOD",
          "kubernetes (default) or jwt, for the 'default' server" },
        { "vault-auth-mount", OPT_STRING, F(flat_vault.auth_mount), NULL, 0, 0, 0, "PATH",
          "auth mount path for the 'default' server (default: the method's name)" },
        { "vault-audience", OPT_STRING, F(flat_vault.audience), NULL, 0, 0, 0, "AUD",
          "service-account token audience for the 'default' server (default: vault)" },
        { "target-roots", OPT_STRLIST, F(target_roots), "/var/lib/kubelet/pods", 0, 0, 0, "DIRS",
          "comma-separated directories a target_path must be under" },
        { "tmpfs-size", OPT_SIZE, F(tmpfs_size_default), "1Mi", 4096, 0, 0, "SIZE",
          "size= of each volume's tmpfs (charged to the daemon's memory cgroup)" },
        { "tmpfs-size-max", OPT_SIZE, F(tmpfs_size_max), "16Mi", 4096, 0, 0, "SIZE",
          "upper bound for tmpfs-size" },
        { "max-objects", OPT_UNSIGNED, F(max_objects), "64", 1, 4096, 0, "N",
          "objects (files) per volume" },
        { "max-file-bytes", OPT_SIZE, F(max_file_bytes), "256Ki", 1, 0, 0, "SIZE",
          "largest file a volume may hold" },
        { "max-volume-bytes", OPT_SIZE, F(max_volume_bytes), "1Mi", 1, 0, 0, "SIZE",
          "all files of a volume together" },
        { "token-source", OPT_TOKEN_SOURCE, F(token_source), "secrets-or-context", 0, 0, 0,
          "POLICY", "secrets-or-context (KEP-5538 with fallback) or secrets-only" },
        { "refresh-interval", OPT_DURATION, F(refresh_interval_default_usec), "2m", 1000, 0, 0,
          "DURATION", "how often KV secrets are re-read (a volume may ask for longer)" },
        { "refresh-interval-min", OPT_DURATION, F(refresh_interval_min_usec), "30s", 1000, 0, 0,
          "DURATION", "shortest refreshInterval a volume may ask for" },
        { "log-target", OPT_STRING, F(log_target), "auto", 0, 0, 0, "TARGET",
          "auto (journald when $JOURNAL_STREAM is our stderr, else stderr), stderr or journal" },
        { "allow-grpc-trace", OPT_BOOL, F(allow_grpc_trace), "false", 0, 0, 0, "BOOL",
          "debugging only: start although GRPC_TRACE is set (byte dumps are still stripped)" },
        /* mounts */
        { "mount-api", OPT_STRING, F(mount_api), "auto", 0, 0, 0, "API",
          "auto (the new mount API with statx mount ids where the kernel has it, Linux "
          "5.12+), new, or classic (mount(2) through libmount, for older kernels)" },
        /* registration: string, not path: empty disables it */
        { "registration-dir", OPT_STRING, F(registration_dir), "/var/lib/kubelet/plugins_registry",
          0, 0, 0, "DIR",
          "serve kubelet plugin registration on DIR/<driver-name>-reg.sock (empty: off, e.g. "
          "with a node-driver-registrar sidecar)" },
        { "kubelet-endpoint", OPT_STRING, F(kubelet_endpoint), NULL, 0, 0, 0, "PATH",
          "the CSI socket as kubelet sees it, sent in registration (default: the endpoint's "
          "path)" },
        /* rotation */
        { "refresh-workers", OPT_UNSIGNED, F(refresh_workers), "2", 1, 16, 0, "N",
          "threads that keep published volumes fresh (renewals, re-reads, re-issues)" },
        { "refresh-rate", OPT_UNSIGNED, F(refresh_rate), "20", 1, 1000000, 0, "N",
          "refresh requests per second to each Vault server (first publishes do not count)" },
        { "refresh-burst", OPT_UNSIGNED, F(refresh_burst), "40", 1, 1000000, 0, "N",
          "refresh requests that may go at once after a quiet spell (token bucket size)" },
        { "vault-max-concurrency", OPT_UNSIGNED, F(vault_max_concurrency), "16", 1, 4096, 0, "N",
          "Vault calls in flight to each server, publishes and refreshes together" },
        { "refresh-backoff-min", OPT_DURATION, F(refresh_backoff_min_usec), "5s", 1000, 0, 0,
          "DURATION",
          "first wait after a failed refresh (doubling, jittered; also the first "
          "server-wide pause after a 429 or 503)" },
        { "refresh-backoff-max", OPT_DURATION, F(refresh_backoff_max_usec), "5m", 1000, 0, 0,
          "DURATION", "longest wait between refresh attempts of a failing volume" },
        { "refresh-request-timeout", OPT_DURATION, F(refresh_request_timeout_usec), "10s", 100000,
          0, 0, "DURATION", "deadline of one Vault request made by a refresh" },
        { "republish-wait", OPT_DURATION, F(republish_wait_usec), "5s", 0, 0, 0, "DURATION",
          "how long a republish waits for a refresh that is due (it never waits otherwise)" },
        { "republish-stale-unavailable", OPT_BOOL, F(republish_stale_unavailable), "true", 0, 0, 0,
          "BOOL",
          "answer a republish UNAVAILABLE while a secret of the volume is past its "
          "expiry and refreshing it fails (false: always OK)" },
        /* observability: string, not a socket address: empty is off */
        { "metrics-address", OPT_STRING, F(metrics_address), NULL, 0, 0, 0, "HOST:PORT",
          "serve Prometheus metrics on GET http://HOST:PORT/metrics (e.g. 127.0.0.1:9810; "
          "empty: off)" },
        { "test-refresh-interval-min", OPT_DURATION, F(test_refresh_interval_min_usec), "0", 0, 0,
          OPT_TEST, "DURATION",
          "replace refresh-interval-min and its 30s floor (tests and "
          "benchmarks of rotation only)" },
        { "test-publish-delay", OPT_DURATION, F(test_publish_delay_usec), "0", 0, 0, OPT_TEST,
          "DURATION", "make every NodePublishVolume sleep first (tests of the fast lane only)" },
        { "test-publish-pause", OPT_STRING, F(test_publish_pause), NULL, 0, 0, OPT_TEST, "STEP",
          "make a first publish stop for a minute before the named step, after writing "
          "<state-dir>/paused-STEP (crash tests only)" },
};

_Static_assert(ELEMENTSOF(config_options) <= CONFIG_OPTIONS_MAX, "raise CONFIG_OPTIONS_MAX");
const size_t config_n_options = ELEMENTSOF(config_options);

ssize_t option_find(const char *name) {
        for (size_t i = 0; i < config_n_options; i++)
                if (streq(config_options[i].name, name))
                        return (ssize_t)i;
        return -1;
}

void option_env_name(const Option *o, char *buf, size_t len) {
        size_t i = 0;
        const char *prefix = "VAULTMOUNT_";
        for (; *prefix && i + 1 < len; prefix++)
                buf[i++] = *prefix;
        for (const char *p = o->name; *p && i + 1 < len; p++)
                buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        buf[i] = '\0';
}

void strlist_free(char **list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                free(list[i]);
        free(list);
}

int strlist_parse(const char *value, char ***list, size_t *count) {
        char **out = NULL;
        size_t n = 0;
        const char *p = value;

        while (*p) {
                const char *start, *end;
                char **grown;
                while (*p == ' ' || *p == ',')
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && *p != ',')
                        p++;
                end = p;
                while (end > start && end[-1] == ' ')
                        end--;
                grown = realloc(out, (n + 1) * sizeof(*out));
                if (!grown) {
                        strlist_free(out, n);
                        return -ENOMEM;
                }
                out = grown;
                out[n] = strndup(start, (size_t)(end - start));
                if (!out[n]) {
                        strlist_free(out, n);
                        return -ENOMEM;
                }
                n++;
        }
        strlist_free(*list, *count);
        *list = out;
        *count = n;
        return 0;
}

/* An OPT_STRLIST field: the list, then its count. */
static size_t *strlist_count(const void *field) {
        return (size_t *)((char *)field + sizeof(char **));
}

typedef int (*OptionParser)(const Option *o, const char *value, void *p, const char *origin,
                            char *err, size_t errlen);

static int parse_text(const Option *o, const char *value, void *p, const char *origin, char *err,
                      size_t errlen) {
        char *copy;

        if (o->type == OPT_PATH && value[0] != '/')
                return set_err(err, errlen, "%s: '%s' is not an absolute path", origin, value);
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        free(*(char **)p);
        *(char **)p = copy;
        return 0;
}

/* OPT_UNSIGNED (no sign, not even "-0") or OPT_INT64, from o->min to o->max. */
static int parse_whole_number(const Option *o, const char *value, void *p, const char *origin,
                              char *err, size_t errlen) {
        int64_t v;

        if ((o->type == OPT_UNSIGNED && value[0] == '-') ||
            parse_int64(value, o->min, o->max, &v) < 0)
                return set_err(err, errlen, "%s: '%s' is not a whole number from %lld to %lld",
                               origin, value, (long long)o->min, (long long)o->max);
        if (o->type == OPT_UNSIGNED)
                *(unsigned *)p = (unsigned)v;
        else
                *(int64_t *)p = v;
        return 0;
}

static int parse_duration(const Option *o, const char *value, void *p, const char *origin,
                          char *err, size_t errlen) {
        uint64_t v;

        if (parse_duration_usec(value, DURATION_MAX_USEC, &v) < 0)
                return set_err(err, errlen,
                               "%s: '%s' is not a duration (examples: 30s, 2m, 1h30m, 250ms)",
                               origin, value);
        if (o->min > 0 && v < (uint64_t)o->min)
                return set_err(err, errlen, "%s: '%s' is too short", origin, value);
        *(uint64_t *)p = v;
        return 0;
}

/* An int-valued name (log level, log format): from_string() gives its
 * number, or < 0 for a name it does not know; `names` lists the known ones. */
static int parse_named(int (*from_string)(const char *), const char *what, const char *names,
                       const char *value, void *p, const char *origin, char *err, size_t errlen) {
        int r = from_string(value);

        if (r < 0)
                return set_err(err, errlen, "%s: '%s' is not a %s (%s)", origin, value, what,
                               names);
        *(int *)p = r;
        return 0;
}

static int parse_log_level(const Option *o, const char *value, void *p, const char *origin,
                           char *err, size_t errlen) {
        (void)o;
        return parse_named(log_level_from_string, "log level",
                           "error, warning, notice, info, debug", value, p, origin, err, errlen);
}

static int parse_log_format(const Option *o, const char *value, void *p, const char *origin,
                            char *err, size_t errlen) {
        (void)o;
        return parse_named(log_format_from_string, "log format", "logfmt, json", value, p, origin,
                           err, errlen);
}

static int parse_boolean(const Option *o, const char *value, void *p, const char *origin, char *err,
                         size_t errlen) {
        bool v;

        (void)o;
        if (parse_bool(value, &v) < 0)
                return set_err(err, errlen, "%s: '%s' is not a boolean (true, false)", origin,
                               value);
        *(bool *)p = v;
        return 0;
}

static int parse_byte_size(const Option *o, const char *value, void *p, const char *origin,
                           char *err, size_t errlen) {
        uint64_t v;

        if (parse_size(value, UINT64_MAX / 2, &v) < 0)
                return set_err(err, errlen,
                               "%s: '%s' is not a size (examples: 4096, 64Ki, 16Mi, 1Gi)", origin,
                               value);
        if (o->min > 0 && v < (uint64_t)o->min)
                return set_err(err, errlen, "%s: '%s' is smaller than %lld bytes", origin, value,
                               (long long)o->min);
        *(uint64_t *)p = v;
        return 0;
}

/* A list of absolute paths (OPT_STRLIST is used for target-roots only). */
static int parse_path_list(const Option *o, const char *value, void *p, const char *origin,
                           char *err, size_t errlen) {
        char ***list = p;
        size_t *count = strlist_count(p);
        int r = strlist_parse(value, list, count);

        (void)o;
        if (r < 0)
                return r;
        for (size_t i = 0; i < *count; i++)
                if ((*list)[i][0] != '/')
                        return set_err(err, errlen, "%s: '%s' is not an absolute path", origin,
                                       (*list)[i]);
        return 0;
}

static int parse_token_source(const Option *o, const char *value, void *p, const char *origin,
                              char *err, size_t errlen) {
        (void)o;
        if (streq(value, "secrets-or-context"))
                *(TokenSource *)p = TOKEN_SOURCE_SECRETS_OR_CONTEXT;
        else if (streq(value, "secrets-only"))
                *(TokenSource *)p = TOKEN_SOURCE_SECRETS_ONLY;
        else
                return set_err(err, errlen,
                               "%s: '%s' is not a token source (secrets-or-context, secrets-only)",
                               origin, value);
        return 0;
}

static const OptionParser parsers[] = {
        [OPT_STRING] = parse_text,
        [OPT_PATH] = parse_text,
        [OPT_UNSIGNED] = parse_whole_number,
        [OPT_INT64] = parse_whole_number,
        [OPT_DURATION] = parse_duration,
        [OPT_LOG_LEVEL] = parse_log_level,
        [OPT_LOG_FORMAT] = parse_log_format,
        [OPT_BOOL] = parse_boolean,
        [OPT_SIZE] = parse_byte_size,
        [OPT_STRLIST] = parse_path_list,
        [OPT_TOKEN_SOURCE] = parse_token_source,
};

int option_parse(const Option *o, const char *value, void *field, const char *origin, char *err,
                 size_t errlen) {
        return parsers[o->type](o, value, field, origin, err, errlen);
}

/* "a,b,c", cut at len. */
static const char *format_list(char *const *list, size_t n, char *buf, size_t len) {
        size_t off = 0;

        buf[0] = '\0';
        for (size_t k = 0; k < n && off < len; k++) {
                int w = snprintf(buf + off, len - off, "%s%s", k ? "," : "", list[k]);
                if (w > 0)
                        off += (size_t)w;
        }
        return buf;
}

const char *option_format(const Option *o, const void *p, char *buf, size_t len) {
        switch (o->type) {
        case OPT_STRING:
        case OPT_PATH:
                return *(char *const *)p;
        case OPT_UNSIGNED:
                (void)snprintf(buf, len, "%u", *(const unsigned *)p);
                return buf;
        case OPT_INT64:
                (void)snprintf(buf, len, "%lld", (long long)*(const int64_t *)p);
                return buf;
        case OPT_DURATION:
                return format_duration(*(const uint64_t *)p, buf, len);
        case OPT_LOG_LEVEL:
                return log_level_to_string(*(const int *)p);
        case OPT_LOG_FORMAT:
                return *(const int *)p == LOG_FORMAT_JSON ? "json" : "logfmt";
        case OPT_BOOL:
                return *(const bool *)p ? "true" : "false";
        case OPT_SIZE:
                (void)snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
                return buf;
        case OPT_STRLIST:
                return format_list(*(char *const *const *)p, *strlist_count(p), buf, len);
        case OPT_TOKEN_SOURCE:
                return *(const TokenSource *)p == TOKEN_SOURCE_SECRETS_ONLY ? "secrets-only"
                                                                            : "secrets-or-context";
        }
        return NULL;
}

void option_free(const Option *o, void *p) {
        if (o->type == OPT_STRING || o->type == OPT_PATH) {
                free(*(char **)p);
                *(char **)p = NULL;
        } else if (o->type == OPT_STRLIST) {
                strlist_free(*(char ***)p, *strlist_count(p));
                *(char ***)p = NULL;
                *strlist_count(p) = 0;
        }
}
