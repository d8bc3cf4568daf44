/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - table-driven loader for flags, VAULTMOUNT_* variables and the
 * YAML config file, in layers (defaults, file, environment, flags), then the
 * checks that need all of them. A plain new setting is a row of
 * config_options[] (config-option.c); nothing here changes for it.
 */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config-defaults.h"
#include "config-option.h"
#include "log.h"
#include "parse.h"
#include "ytree.h"
#include "macro.h"

#define CONFIG_FILE_MAX             (1024 * 1024)
#define REFRESH_INTERVAL_FLOOR_USEC (30ULL * 1000000)

static const char *const source_names[_CONFIG_SOURCE_MAX] = {
        [CONFIG_SOURCE_DEFAULT] = "default",
        [CONFIG_SOURCE_FILE] = "file",
        [CONFIG_SOURCE_ENV] = "environment",
        [CONFIG_SOURCE_FLAG] = "flag",
};

/* Applies one textual value; `origin` prefixes the error message. */
static int option_set(Config *c, size_t idx, const char *value, ConfigSource src,
                      const char *origin, char *err, size_t errlen) {
        const Option *o = &config_options[idx];
        char *copy;
        int r = option_parse(o, value, option_field(c, o), origin, err, errlen);

        if (r < 0)
                return r;
        c->sources[idx] = src;
        copy = strdup(origin);
        if (!copy)
                return -ENOMEM;
        free(c->origins[idx]);
        c->origins[idx] = copy;
        return 0;
}

/* Where an option's value came from, for errors found after all layers. */
static const char *origin_of(const Config *c, const char *name) {
        ssize_t i = option_find(name);
        if (i < 0 || !c->origins || !c->origins[i])
                return name;
        return c->origins[i];
}

static const char *env_lookup(char *const *envp, const char *name) {
        size_t n = strlen(name);
        if (!envp)
                return NULL;
        for (char *const *e = envp; *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

static int read_file(const char *path, char **ret, size_t *ret_len, char *err, size_t errlen) {
        /* O_NONBLOCK: a FIFO at the path must not hang the start-up */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        if (fd < 0)
                return set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno)), -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISCHR(st.st_mode) && streq(path, "/dev/null"))
                st.st_size = 0; /* --config=/dev/null: run with no config file */
        else if (!S_ISREG(st.st_mode))
                return set_err(err, errlen, "%s: not a regular file", path);
        if (st.st_size > CONFIG_FILE_MAX)
                return set_err(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return set_err(err, errlen, "%s: read failed: %s", path, strerror(errno));
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

typedef struct ServerKey {
        const char *name;
        OptionType type; /* OPT_STRING, OPT_PATH, OPT_BOOL or OPT_STRLIST */
        size_t offset;
} ServerKey;

#define S(field) offsetof(VaultServerConfig, field)
static const ServerKey server_keys[] = {
        { "address", OPT_STRING, S(address) },
        { "ca-file", OPT_PATH, S(ca_file) },
        { "ca-dir", OPT_PATH, S(ca_dir) },
        { "client-cert", OPT_PATH, S(client_cert) },
        { "client-key", OPT_PATH, S(client_key) },
        { "tls-server-name", OPT_STRING, S(tls_server_name) },
        { "tls-skip-verify", OPT_BOOL, S(tls_skip_verify) },
        { "allow-http", OPT_BOOL, S(allow_http) },
        { "namespace", OPT_STRING, S(ns) },
        { "auth-method", OPT_STRING, S(auth_method) },
        { "auth-mount", OPT_STRING, S(auth_mount) },
        { "audience", OPT_STRING, S(audience) },
        { "allowed-audiences", OPT_STRLIST, S(allowed_audiences) },
};

static void server_done(VaultServerConfig *s) {
        free(s->name);
        for (size_t i = 0; i < ELEMENTSOF(server_keys); i++) {
                void *p = (char *)s + server_keys[i].offset;
                if (server_keys[i].type == OPT_STRLIST)
                        strlist_free(*(char ***)p, s->n_allowed_audiences);
                else if (server_keys[i].type != OPT_BOOL)
                        free(*(char **)p);
        }
        *s = (VaultServerConfig){ 0 };
}

/* A list from a YAML sequence of scalars or one (comma-separated) scalar. */
static int yaml_strlist(const YNode *v, char ***list, size_t *count) {
        char **out;
        if (v->type == YNODE_SCALAR)
                return strlist_parse(v->scalar, list, count);
        if (v->type != YNODE_SEQUENCE)
                return -EINVAL;
        out = calloc(v->n_children + 1, sizeof(*out));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < v->n_children; i++) {
                if (v->values[i]->type != YNODE_SCALAR) {
                        strlist_free(out, i);
                        return -EINVAL;
                }
                out[i] = strdup(v->values[i]->scalar);
                if (!out[i]) {
                        strlist_free(out, i);
                        return -ENOMEM;
                }
        }
        strlist_free(*list, *count);
        *list = out;
        *count = v->n_children;
        return 0;
}

static const ServerKey *server_key_find(const char *name) {
        for (size_t j = 0; j < ELEMENTSOF(server_keys); j++)
                if (streq(server_keys[j].name, name))
                        return &server_keys[j];
        return NULL;
}

/* One `vault-servers.<server>.<key>: val` of the file at `path`. */
static int server_key_set(VaultServerConfig *s, const char *path, const YNode *key,
                          const YNode *val, char *err, size_t errlen) {
        const ServerKey *sk = server_key_find(key->scalar);
        void *p;

        if (!sk)
                return set_err(err, errlen, "%s:%u: unknown key 'vault-servers.%s.%s'", path,
                               key->line, s->name, key->scalar);
        p = (char *)s + sk->offset;
        if (sk->type == OPT_STRLIST) {
                int r = yaml_strlist(val, (char ***)p, &s->n_allowed_audiences);
                if (r < 0 && r != -ENOMEM)
                        return set_err(err, errlen,
                                       "%s:%u: vault-servers.%s.%s must be a list of strings", path,
                                       val->line, s->name, key->scalar);
                return r;
        }
        if (val->type != YNODE_SCALAR)
                return set_err(err, errlen, "%s:%u: vault-servers.%s.%s must be a single value",
                               path, val->line, s->name, key->scalar);
        if (sk->type == OPT_BOOL) {
                if (parse_bool(val->scalar, (bool *)p) < 0)
                        return set_err(err, errlen,
                                       "%s:%u: vault-servers.%s.%s: '%s' is not a boolean", path,
                                       val->line, s->name, key->scalar, val->scalar);
                return 0;
        }
        if (sk->type == OPT_PATH && val->scalar[0] != '/')
                return set_err(err, errlen,
                               "%s:%u: vault-servers.%s.%s: '%s' is not an absolute path", path,
                               val->line, s->name, key->scalar, val->scalar);
        free(*(char **)p);
        *(char **)p = strdup(val->scalar);
        return *(char **)p ? 0 : -ENOMEM;
}

/* A new, empty server entry named `name`; NULL on OOM. */
static VaultServerConfig *server_add(Config *c, const char *name) {
        VaultServerConfig *grown, *s;

        grown = realloc(c->vault_servers, (c->n_vault_servers + 1) * sizeof(*grown));
        if (!grown)
                return NULL;
        c->vault_servers = grown;
        s = &c->vault_servers[c->n_vault_servers++];
        *s = (VaultServerConfig){ .name = strdup(name) };
        return s->name ? s : NULL;
}

static int load_vault_servers(Config *c, const char *path, const YNode *v, char *err,
                              size_t errlen) {
        if (v->type != YNODE_MAPPING)
                return set_err(err, errlen,
                               "%s:%u: vault-servers must map server names to settings", path,
                               v->line);
        for (size_t i = 0; i < v->n_children; i++) {
                const YNode *name = v->keys[i], *body = v->values[i];
                VaultServerConfig *s;

                if (body->type != YNODE_MAPPING)
                        return set_err(err, errlen,
                                       "%s:%u: vault-servers.%s must be a mapping of settings",
                                       path, body->line, name->scalar);
                if (!config_driver_name_valid(name->scalar))
                        return set_err(err, errlen,
                                       "%s:%u: vault server name '%s' must be letters, digits, "
                                       "'-' and '.'",
                                       path, name->line, name->scalar);
                s = server_add(c, name->scalar);
                if (!s)
                        return -ENOMEM;
                for (size_t k = 0; k < body->n_children; k++) {
                        int r = server_key_set(s, path, body->keys[k], body->values[k], err,
                                               errlen);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int load_file(Config *c, const char *path, char *err, size_t errlen) {
        _cleanup_free_ char *data = NULL;
        _cleanup_(ytree_freep) YNode *root = NULL;
        char yerr[256], origin[PATH_MAX + 96];
        size_t len = 0;
        int r;

        r = read_file(path, &data, &len, err, errlen);
        if (r < 0)
                return r;
        r = ytree_parse(data, len, NULL, &root, yerr, sizeof(yerr));
        if (r < 0)
                return set_err(err, errlen, "%s: %s", path, yerr);
        c->config_file_loaded = true;
        if (!root)
                return 0; /* empty file */
        if (root->type != YNODE_MAPPING)
                return set_err(err, errlen, "%s:%u: the config file must be a mapping of keys",
                               path, root->line);

        for (size_t i = 0; i < root->n_children; i++) {
                const YNode *k = root->keys[i], *v = root->values[i];
                ssize_t idx = option_find(k->scalar);

                if (streq(k->scalar, "vault-servers")) {
                        r = load_vault_servers(c, path, v, err, errlen);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (idx >= 0 && config_options[idx].type == OPT_STRLIST &&
                    v->type == YNODE_SEQUENCE) {
                        void *p = option_field(c, &config_options[idx]);
                        r = yaml_strlist(v, (char ***)p, (size_t *)((char *)p + sizeof(char **)));
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return set_err(err, errlen, "%s:%u: %s must be a list of strings",
                                               path, v->line, k->scalar);
                        c->sources[idx] = CONFIG_SOURCE_FILE;
                        continue;
                }
                if (idx < 0 || (config_options[idx].flags & OPT_NO_FILE))
                        return set_err(err, errlen, "%s:%u: unknown key '%s' (see %s --help)", path,
                                       k->line, k->scalar, "vaultmountd");
                if (v->type != YNODE_SCALAR)
                        return set_err(err, errlen, "%s:%u: '%s' must be a single value, not %s",
                                       path, v->line, k->scalar, ytree_type_name(v->type));
                (void)snprintf(origin, sizeof(origin), "%s:%u: %s", path, v->line, k->scalar);
                r = option_set(c, (size_t)idx, v->scalar, CONFIG_SOURCE_FILE, origin, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void add_warning(Config *c, const char *fmt, ...) _printf_(2, 3);
static void add_warning(Config *c, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        if (c->n_warnings >= CONFIG_WARNINGS_MAX)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) >= 0)
                c->warnings[c->n_warnings++] = s;
        va_end(ap);
}

bool config_driver_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > 63)
                return false;
        if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '.')
                        return false;
        return true;
}

int config_parse_endpoint(const char *endpoint, char **ret_path, char *err, size_t errlen) {
        const char *path = endpoint;
        struct sockaddr_un sa;

        if (isempty(endpoint))
                return set_err(err, errlen, "endpoint is empty");
        if (strncmp(endpoint, "unix://", 7) == 0)
                path = endpoint + 7;
        else if (strncmp(endpoint, "unix:", 5) == 0)
                path = endpoint + 5;
        else if (strstr(endpoint, "://"))
                return set_err(err, errlen,
                               "endpoint '%s': only unix sockets are supported "
                               "(unix:///abs/path.sock)",
                               endpoint);
        if (path[0] != '/')
                return set_err(err, errlen,
                               "endpoint '%s': the socket path must be absolute "
                               "(unix:///abs/path.sock)",
                               endpoint);
        if (strlen(path) >= sizeof(sa.sun_path))
                return set_err(err, errlen, "endpoint '%s': socket path longer than %zu bytes",
                               endpoint, sizeof(sa.sun_path) - 1);
        if (path[strlen(path) - 1] == '/')
                return set_err(err, errlen, "endpoint '%s': names a directory, not a socket",
                               endpoint);
        *ret_path = strdup(path);
        return *ret_path ? 0 : -ENOMEM;
}

static int resolve_group(Config *c, char *err, size_t errlen) {
        struct group gr, *res = NULL;
        char buf[4096];
        unsigned gid;

        if (!c->socket_group)
                return 0;
        if (parse_unsigned(c->socket_group, 0, 0x7fffffff, &gid) == 0) {
                c->socket_gid = (gid_t)gid;
                return 0;
        }
        if (getgrnam_r(c->socket_group, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return set_err(err, errlen, "%s: no group named '%s'", origin_of(c, "socket-group"),
                               c->socket_group);
        c->socket_gid = res->gr_gid;
        return 0;
}

static int server_check(const VaultServerConfig *s, char *err, size_t errlen) {
        if (isempty(s->address))
                return set_err(err, errlen, "vault server '%s': address is required", s->name);
        if (strncmp(s->address, "https://", 8) != 0 && strncmp(s->address, "http://", 7) != 0)
                return set_err(err, errlen,
                               "vault server '%s': address '%s' must start with https:// (or "
                               "http:// with allow-http)",
                               s->name, s->address);
        if (strncmp(s->address, "http://", 7) == 0 && !s->allow_http)
                return set_err(err, errlen,
                               "vault server '%s': plain http address '%s' needs allow-http: true "
                               "(tokens would cross the network unencrypted)",
                               s->name, s->address);
        if (!streq(s->auth_method, "kubernetes") && !streq(s->auth_method, "jwt"))
                return set_err(err, errlen,
                               "vault server '%s': auth-method '%s' is not kubernetes or jwt",
                               s->name, s->auth_method);
        if (!!s->client_cert != !!s->client_key)
                return set_err(err, errlen,
                               "vault server '%s': client-cert and client-key go together",
                               s->name);
        return 0;
}

static int dup_default(char **p, const char *def) {
        if (*p)
                return 0;
        *p = strdup(def);
        return *p ? 0 : -ENOMEM;
}

static int finalize_vault_servers(Config *c, char *err, size_t errlen) {
        VaultServerConfig *flat = &c->flat_vault;
        int r;

        /* the vault-* settings define the server "default" */
        if (flat->address) {
                VaultServerConfig *grown;
                if (config_vault_server(c, "default"))
                        return set_err(err, errlen,
                                       "vault-address defines the server 'default', which "
                                       "vault-servers defines too");
                grown = realloc(c->vault_servers, (c->n_vault_servers + 1) * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                c->vault_servers = grown;
                grown[c->n_vault_servers] = *flat;
                *flat = (VaultServerConfig){ 0 };
                grown[c->n_vault_servers].name = strdup("default");
                if (!grown[c->n_vault_servers].name)
                        return -ENOMEM;
                c->n_vault_servers++;
        } else if (flat->ca_file || flat->ca_dir || flat->client_cert || flat->auth_mount ||
                   flat->audience || flat->ns || flat->auth_method || flat->tls_server_name)
                return set_err(err, errlen, "vault-* settings are given but vault-address is not");

        for (size_t i = 0; i < c->n_vault_servers; i++) {
                VaultServerConfig *s = &c->vault_servers[i];
                for (size_t j = 0; j < i; j++)
                        if (streq(c->vault_servers[j].name, s->name))
                                return set_err(err, errlen, "vault server '%s' is defined twice",
                                               s->name);
                if ((r = dup_default(&s->auth_method, "kubernetes")) < 0 ||
                    (r = dup_default(&s->auth_mount, s->auth_method)) < 0 ||
                    (r = dup_default(&s->audience, "vault")) < 0)
                        return r;
                r = server_check(s, err, errlen);
                if (r < 0)
                        return r;
        }
        if (c->default_vault_server && !config_vault_server(c, c->default_vault_server))
                return set_err(err, errlen,
                               "default-vault-server: no vault server named '%s' is configured",
                               c->default_vault_server);
        return 0;
}

const VaultServerConfig *config_vault_server(const Config *c, const char *name) {
        if (!name) {
                if (c->default_vault_server)
                        name = c->default_vault_server;
                else if (c->n_vault_servers == 1)
                        return &c->vault_servers[0];
                else
                        name = "default";
        }
        for (size_t i = 0; i < c->n_vault_servers; i++)
                if (streq(c->vault_servers[i].name, name))
                        return &c->vault_servers[i];
        return NULL;
}

/* node-id: the setting, else $NODE_NAME, else the host name. */
static int finalize_node_id(Config *c, char *const *envp, char *err, size_t errlen) {
        if (isempty(c->node_id)) {
                const char *nn = env_lookup(envp, "NODE_NAME");
                char host[HOST_NAME_MAX + 1];
                free(c->node_id);
                c->node_id = NULL;
                if (!isempty(nn))
                        c->node_id = strdup(nn);
                else if (gethostname(host, sizeof(host)) == 0) {
                        host[sizeof(host) - 1] = '\0';
                        c->node_id = strdup(host);
                }
                if (!c->node_id)
                        return set_err(err, errlen,
                                       "node-id: not set and neither $NODE_NAME nor the host "
                                       "name is available");
        }
        if (strlen(c->node_id) > 256)
                return set_err(err, errlen, "%s: longer than 256 bytes (CSI limit)",
                               c->origins[option_find("node-id")] ? origin_of(c, "node-id")
                                                                  : "node-id ($NODE_NAME)");
        return 0;
}

/* The driver name, the endpoint, the socket group and the node id. */
static int finalize_identity(Config *c, char *const *envp, char *err, size_t errlen) {
        int r;

        if (!config_driver_name_valid(c->driver_name))
                return set_err(err, errlen,
                               "%s: '%s' is not a valid CSI plugin name (at most 63 "
                               "characters: letters, digits, '-' and '.', starting and ending "
                               "with a letter or digit)",
                               origin_of(c, "driver-name"), c->driver_name);
        r = config_parse_endpoint(c->endpoint, &c->socket_path, err, errlen);
        if (r < 0) {
                char inner[CONFIG_ERROR_MAX];
                (void)snprintf(inner, sizeof(inner), "%s", err);
                (void)set_err(err, errlen, "%s: %s", origin_of(c, "endpoint"), inner);
                return r;
        }
        r = resolve_group(c, err, errlen);
        if (r < 0)
                return r;
        return finalize_node_id(c, envp, err, errlen);
}

/* Rotation: 30 s is the node floor; only the test option goes lower. */
static int finalize_refresh(Config *c, char *err, size_t errlen) {
        if (c->test_refresh_interval_min_usec > 0) {
                c->refresh_interval_min_usec = c->test_refresh_interval_min_usec;
                add_warning(c, "test-refresh-interval-min is set: volumes may refresh more "
                               "often than every 30s; this is a testing aid, never use it in "
                               "production");
        } else if (c->refresh_interval_min_usec < REFRESH_INTERVAL_FLOOR_USEC)
                return set_err(err, errlen, "refresh-interval-min: below the node floor of 30s");
        if (c->refresh_backoff_min_usec > c->refresh_backoff_max_usec)
                return set_err(err, errlen,
                               "refresh-backoff-min is longer than refresh-backoff-max");
        if (c->refresh_interval_default_usec < c->refresh_interval_min_usec)
                return set_err(err, errlen,
                               "refresh-interval is shorter than refresh-interval-min");
        return 0;
}

/* The checks that need every layer applied, in the order their errors are
 * reported. */
static int finalize(Config *c, char *const *envp, char *err, size_t errlen) {
        int r = finalize_identity(c, envp, err, errlen);

        if (r >= 0)
                r = finalize_vault_servers(c, err, errlen);
        if (r < 0)
                return r;
        if (c->tmpfs_size_default > c->tmpfs_size_max)
                return set_err(err, errlen,
                               "tmpfs-size (%llu bytes) is larger than tmpfs-size-max "
                               "(%llu bytes)",
                               (unsigned long long)c->tmpfs_size_default,
                               (unsigned long long)c->tmpfs_size_max);
        r = finalize_refresh(c, err, errlen);
        if (r < 0)
                return r;
        if (c->n_target_roots == 0)
                return set_err(err, errlen, "target-roots: at least one directory is needed");
        if (!isempty(c->metrics_address)) {
                char host[256];
                uint16_t port;
                if (parse_host_port(c->metrics_address, host, sizeof(host), &port) < 0)
                        return set_err(err, errlen,
                                       "%s: '%s' is not HOST:PORT (e.g. 127.0.0.1:9810, "
                                       "[::1]:9810, :9810)",
                                       origin_of(c, "metrics-address"), c->metrics_address);
        }
        if (!isempty(c->test_publish_pause))
                add_warning(c,
                            "test-publish-pause is set: a publish stops for a minute at step "
                            "'%s'; this is a testing aid, never use it in production",
                            c->test_publish_pause);
        if (c->test_publish_delay_usec > 0)
                add_warning(c, "test-publish-delay is set: every NodePublishVolume sleeps "
                               "first; this is a testing aid, never use it in production");
        return 0;
}

static void build_long_options(struct option *lo, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < config_n_options && n + 1 < max; i++)
                lo[n++] = (struct option){ config_options[i].name, required_argument, NULL,
                                           (int)(1000 + i) };
        lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
        lo[n++] = (struct option){ "version", no_argument, NULL, 'V' };
        lo[n++] = (struct option){ "check-config", no_argument, NULL, 'C' };
        lo[n++] = (struct option){ "json", no_argument, NULL, 'J' };
        lo[n] = (struct option){ 0 };
}

/* The config file's own origin: the variable, when VAULTMOUNT_CONFIG named it. */
static int note_config_origin(Config *c, bool from_env) {
        size_t idx = (size_t)option_find("config");

        if (!from_env)
                return 0;
        c->sources[idx] = CONFIG_SOURCE_ENV;
        free(c->origins[idx]);
        c->origins[idx] = strdup("VAULTMOUNT_CONFIG");
        return c->origins[idx] ? 0 : -ENOMEM;
}

/* Step 3 of config_load(): VAULTMOUNT_<NAME> variables (CSI_ENDPOINT is the
 * spec's name for the endpoint); unknown VAULTMOUNT_* ones are warned about. */
static int load_env(Config *c, char *const *envp, char *err, size_t errlen) {
        const char *csi = env_lookup(envp, "CSI_ENDPOINT");
        int r;

        if (!isempty(csi)) {
                r = option_set(c, (size_t)option_find("endpoint"), csi, CONFIG_SOURCE_ENV,
                               "CSI_ENDPOINT", err, errlen);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < config_n_options; i++) {
                char name[96];
                const char *v;
                option_env_name(&config_options[i], name, sizeof(name));
                v = env_lookup(envp, name);
                if (!v || streq(config_options[i].name, "config"))
                        continue;
                r = option_set(c, i, v, CONFIG_SOURCE_ENV, name, err, errlen);
                if (r < 0)
                        return r;
        }
        for (char *const *e = envp; e && *e; e++) {
                bool known = false;
                if (strncmp(*e, "VAULTMOUNT_", 11) != 0)
                        continue;
                for (size_t i = 0; i < config_n_options && !known; i++) {
                        char name[96];
                        option_env_name(&config_options[i], name, sizeof(name));
                        known = strncmp(*e, name, strlen(name)) == 0 && (*e)[strlen(name)] == '=';
                }
                if (!known) {
                        const char *eq = strchr(*e, '=');
                        add_warning(c, "unknown environment variable '%.*s', ignoring",
                                    eq ? (int)(eq - *e) : 64, *e);
                }
        }
        return 0;
}

static ConfigMode subcommand_mode(int argc, char **argv) {
        if (argc <= 1)
                return CONFIG_MODE_RUN;
        if (streq(argv[1], "probe"))
                return CONFIG_MODE_PROBE;
        if (streq(argv[1], "status"))
                return CONFIG_MODE_STATUS;
        return CONFIG_MODE_RUN;
}

static int set_status_json(Config *c, char *err, size_t errlen) {
        if (c->mode != CONFIG_MODE_STATUS)
                return set_err(err, errlen, "--json goes with `status` only");
        c->status_json = true;
        return 0;
}

typedef struct FlagValue {
        size_t idx;
        const char *value;
} FlagValue;

/* What the command line says, before any layer is applied. */
typedef struct CommandLine {
        FlagValue flags[64];
        size_t n_flags;
        const char *config_path; /* --config or VAULTMOUNT_CONFIG, else NULL */
        bool config_from_env;
} CommandLine;

/* One getopt result: a setting is kept for layer 4, the rest acts at once.
 * 1 when the mode needs no further parsing (--help, --version). */
static int command_line_one(Config *c, CommandLine *cl, int opt, char **argv, char *err,
                            size_t errlen) {
        switch (opt) {
        case 'h':
                c->mode = CONFIG_MODE_HELP;
                return 1;
        case 'V':
                c->mode = CONFIG_MODE_VERSION;
                return 1;
        case 'C':
                if (c->mode == CONFIG_MODE_RUN)
                        c->mode = CONFIG_MODE_CHECK;
                return 0;
        case 'J':
                return set_status_json(c, err, errlen);
        case ':':
                return set_err(err, errlen, "option '%s' needs a value", argv[optind - 1]);
        case '?':
                return set_err(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
        if (opt < 1000 || (size_t)(opt - 1000) >= config_n_options)
                return set_err(err, errlen, "bad option");
        if (cl->n_flags >= ELEMENTSOF(cl->flags))
                return set_err(err, errlen, "too many options");
        cl->flags[cl->n_flags++] = (FlagValue){ (size_t)(opt - 1000), optarg };
        if (streq(config_options[opt - 1000].name, "config"))
                cl->config_path = optarg;
        return 0;
}

/* `vaultmountd [probe|status] [flags]`: the mode and the flags, nothing
 * applied yet. 1 for --help/--version. */
static int command_line_parse(Config *c, CommandLine *cl, int argc, char **argv, char *const *envp,
                              char *err, size_t errlen) {
        struct option lo[CONFIG_OPTIONS_MAX + 5];
        int r, opt;

        /* `vaultmountd probe|status [flags]`: same settings, client modes. */
        c->mode = subcommand_mode(argc, argv);
        if (c->mode != CONFIG_MODE_RUN) {
                argv[1] = argv[0];
                argv++;
                argc--;
        }
        build_long_options(lo, ELEMENTSOF(lo));
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hV", lo, NULL)) != -1) {
                r = command_line_one(c, cl, opt, argv, err, errlen);
                if (r != 0)
                        return r;
        }
        if (optind < argc)
                return set_err(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        if (!cl->config_path) {
                cl->config_path = env_lookup(envp, "VAULTMOUNT_CONFIG");
                cl->config_from_env = cl->config_path != NULL;
        }
        return 0;
}

/* Layers 1 and 2: the defaults, then the file (the default path only when
 * it exists). */
static int load_defaults_and_file(Config *c, const CommandLine *cl, char *err, size_t errlen) {
        const char *path = cl->config_path ? cl->config_path : DEFAULT_CONFIG_PATH;
        int r;

        for (size_t i = 0; i < config_n_options; i++) {
                if (!config_options[i].default_value)
                        continue;
                r = option_set(c, i, config_options[i].default_value, CONFIG_SOURCE_DEFAULT,
                               "default", err, errlen);
                if (r < 0)
                        return r;
        }
        if (cl->config_path || access(path, F_OK) == 0) {
                r = load_file(c, path, err, errlen);
                if (r < 0)
                        return r;
        }
        free(c->config_path);
        c->config_path = strdup(path);
        if (!c->config_path)
                return -ENOMEM;
        return note_config_origin(c, cl->config_from_env);
}

/* Layer 4: the flags, in the order given. */
static int load_flags(Config *c, const CommandLine *cl, char *err, size_t errlen) {
        char origin[128];

        for (size_t i = 0; i < cl->n_flags; i++) {
                const FlagValue *f = &cl->flags[i];
                int r;
                (void)snprintf(origin, sizeof(origin), "--%s", config_options[f->idx].name);
                r = option_set(c, f->idx, f->value, CONFIG_SOURCE_FLAG, origin, err, errlen);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load(Config *c, int argc, char **argv, char *const *envp, char *err, size_t errlen) {
        CommandLine cl = { 0 };
        int r;

        *c = (Config){ .mode = CONFIG_MODE_RUN };
        c->sources = calloc(config_n_options, sizeof(*c->sources));
        c->origins = calloc(config_n_options, sizeof(*c->origins));
        if (!c->sources || !c->origins)
                return -ENOMEM;
        err_init(err, errlen);

        r = command_line_parse(c, &cl, argc, argv, envp, err, errlen);
        if (r != 0)
                return r < 0 ? r : 0;
        r = load_defaults_and_file(c, &cl, err, errlen);
        if (r >= 0)
                r = load_env(c, envp, err, errlen);
        if (r >= 0)
                r = load_flags(c, &cl, err, errlen);
        if (r < 0)
                return r;
        return finalize(c, envp, err, errlen);
}

void config_done(Config *c) {
        for (size_t i = 0; i < config_n_options; i++)
                option_free(&config_options[i], option_field(c, &config_options[i]));
        for (size_t i = 0; i < c->n_vault_servers; i++)
                server_done(&c->vault_servers[i]);
        free(c->vault_servers);
        c->vault_servers = NULL;
        c->n_vault_servers = 0;
        server_done(&c->flat_vault);
        free(c->socket_path);
        c->socket_path = NULL;
        free(c->sources);
        c->sources = NULL;
        for (size_t i = 0; c->origins && i < config_n_options; i++)
                free(c->origins[i]);
        free(c->origins);
        c->origins = NULL;
        for (size_t i = 0; i < c->n_warnings; i++)
                free(c->warnings[i]);
        c->n_warnings = 0;
}

void config_print_help(FILE *f, const char *program) {
        fprintf(f,
                "Usage: %s [OPTIONS]          run the CSI node driver\n"
                "       %s probe [OPTIONS]    call Probe on the socket, exit 0 if ready\n"
                "       %s status [--json] [OPTIONS]\n"
                "                             the published volumes from the state dir; exit 0\n"
                "                             when none is failing or stale, 1 otherwise\n"
                "\n"
                "vaultmount: Vault secrets in Kubernetes pods, as a CSI node driver.\n"
                "Every option is also an environment variable VAULTMOUNT_<NAME> and a key\n"
                "in the YAML config file. Precedence: flag > environment > file > default.\n"
                "\n"
                "Options:\n",
                program, program, program);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1)
                        fprintf(f, "\nTesting aids (never in production):\n");
                for (size_t i = 0; i < config_n_options; i++) {
                        const Option *o = &config_options[i];
                        char left[64];
                        if (!!(o->flags & OPT_TEST) != (pass == 1))
                                continue;
                        (void)snprintf(left, sizeof(left), "--%s=%s", o->name, o->metavar);
                        fprintf(f, "  %-34s %s", left, o->help);
                        if (o->default_value && !(o->flags & OPT_TEST))
                                fprintf(f, " [default: %s]", o->default_value);
                        fputc('\n', f);
                }
        }
        fprintf(f,
                "\n"
                "  %-34s validate the configuration, print it, exit\n"
                "  %-34s show this help\n"
                "  %-34s show the version\n",
                "--check-config", "--help", "--version");
}

/* A YAML double-quoted scalar. */
static void print_quoted(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

/* One vault-servers entry, its keys in table order (unset strings left out). */
static void print_server(const VaultServerConfig *s, FILE *f) {
        fprintf(f, "  %s:\n", s->name);
        for (size_t k = 0; k < ELEMENTSOF(server_keys); k++) {
                const ServerKey *key = &server_keys[k];
                const void *p = (const char *)s + key->offset;
                if (key->type == OPT_BOOL)
                        fprintf(f, "    %s: %s\n", key->name, *(const bool *)p ? "true" : "false");
                else if (key->type == OPT_STRLIST) {
                        fprintf(f, "    %s: [", key->name);
                        for (size_t a = 0; a < s->n_allowed_audiences; a++) {
                                fputs(a ? ", " : "", f);
                                print_quoted(f, (*(char *const *const *)p)[a]);
                        }
                        fprintf(f, "]\n");
                } else if (*(char *const *)p) {
                        fprintf(f, "    %s: ", key->name);
                        print_quoted(f, *(char *const *)p);
                        fputc('\n', f);
                }
        }
}

void config_print(const Config *c, FILE *f) {
        const VaultServerConfig *d = config_vault_server(c, NULL);
        char buf[64];

        fprintf(f, "# effective vaultmountd configuration (value  # origin)\n");
        for (size_t i = 0; i < config_n_options; i++) {
                const Option *o = &config_options[i];
                const char *v;

                if (o->offset >= offsetof(Config, flat_vault) &&
                    o->offset < offsetof(Config, flat_vault) + sizeof(VaultServerConfig))
                        continue; /* server "default": printed with the servers below */
                /* option_field() takes a mutable Config; nothing is written */
                v = option_format(o, option_field((Config *)c, o), buf, sizeof(buf));
                if (!v) {
                        fprintf(f, "# %s: (unset)\n", o->name);
                        continue;
                }
                fprintf(f, "%s: ", o->name);
                print_quoted(f, v);
                fprintf(f, "  # %s\n",
                        streq(o->name, "node-id") && c->sources[i] == CONFIG_SOURCE_DEFAULT
                                ? "derived"
                                : source_names[c->sources[i]]);
        }
        fprintf(f, "vault-servers:%s\n", c->n_vault_servers ? "" : " {}");
        for (size_t i = 0; i < c->n_vault_servers; i++)
                print_server(&c->vault_servers[i], f);
        fprintf(f, "# server used when a volume names none: %s\n",
                d ? d->name : "(none: volumes must set vaultServer)");
}
