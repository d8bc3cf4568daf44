/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-config.c - config_load() on a fuzzed config file, flags and
 * environment.
 *
 * Input layout: FILE ( '\0' PIECE )*. FILE is written to a temporary config
 * file, passed as --config=<file> with --check-config. Each PIECE that looks
 * like NAME=value with NAME starting with an upper-case letter goes to the
 * environment, any other PIECE is one more argv element (at most 32 each).
 *
 * Invariants (abort() on violation): on success the configuration is
 * complete and valid (driver name, absolute socket path, node id, ranges);
 * on failure there is a message; config_done() always cleans up (ASan and
 * valgrind report leaks) and config_print() works on any loaded config.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIECES 32

static char cfg_path[64];
static int cfg_fd = -1;

static void cleanup(void) {
        if (cfg_fd >= 0) {
                close(cfg_fd);
                unlink(cfg_path);
        }
}

static int temp_file(void) {
        if (cfg_fd >= 0)
                return 0;
        (void)snprintf(cfg_path, sizeof(cfg_path), "/tmp/fuzz-config-XXXXXX");
        cfg_fd = mkstemp(cfg_path);
        if (cfg_fd < 0)
                return -1;
        atexit(cleanup);
        return 0;
}

static void check_loaded(const Config *c) {
        if (c->mode == CONFIG_MODE_HELP || c->mode == CONFIG_MODE_VERSION)
                return;
        if (!c->driver_name || !config_driver_name_valid(c->driver_name))
                abort();
        if (!c->socket_path || c->socket_path[0] != '/' || !c->endpoint)
                abort();
        if (!c->node_id || !*c->node_id || strlen(c->node_id) > 256)
                abort();
        if (c->workers < 1 || c->workers > 64 || c->max_volumes_per_node < 0)
                abort();
        if (!c->state_dir || c->state_dir[0] != '/' || !c->config_path)
                abort();
        if (c->probe_timeout_usec < 1000 || c->n_warnings > CONFIG_WARNINGS_MAX)
                abort();
        for (size_t i = 0; i < c->n_warnings; i++)
                if (!c->warnings[i])
                        abort();

        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (f) {
                config_print(c, f);
                fclose(f);
                free(out);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *copy, *argv[MAX_PIECES + 4], *envp[MAX_PIECES + 1], arg_config[96];
        char err[CONFIG_ERROR_MAX];
        const char *p, *end;
        size_t file_len;
        int argc = 0, n_env = 0, r;
        Config c;

        if (temp_file() < 0)
                return 0;
        p = memchr(data, '\0', size);
        file_len = p ? (size_t)(p - (const char *)data) : size;
        if (ftruncate(cfg_fd, 0) < 0 ||
            (file_len > 0 && pwrite(cfg_fd, data, file_len, 0) != (ssize_t)file_len))
                return 0;

        /* the pieces after the file, NUL-terminated in a private copy */
        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = '\0';

        (void)snprintf(arg_config, sizeof(arg_config), "--config=%s", cfg_path);
        argv[argc++] = (char *)"vaultmountd";
        argv[argc++] = arg_config;
        argv[argc++] = (char *)"--check-config";
        end = copy + size;
        for (char *q = copy + file_len; q < end;) {
                char *piece = q + 1; /* skip the NUL separator */
                if (piece > end)
                        break;
                q = piece + strlen(piece);
                if (piece[0] >= 'A' && piece[0] <= 'Z' && strchr(piece, '=')) {
                        if (n_env < MAX_PIECES)
                                envp[n_env++] = piece;
                } else if (argc < MAX_PIECES + 3)
                        argv[argc++] = piece;
        }
        argv[argc] = NULL;
        envp[n_env] = NULL;

        memset(err, 0, sizeof(err));
        r = config_load(&c, argc, argv, envp, err, sizeof(err));
        if (r == 0)
                check_loaded(&c);
        else if (r > 0 || (err[0] == '\0' && r != -ENOMEM))
                abort();
        config_done(&c);
        free(copy);
        return 0;
}
