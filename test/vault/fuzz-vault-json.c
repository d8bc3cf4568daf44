/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-vault-json.c - fuzz target for the Vault response parser and
 * classifier (lib/vault-json.c) and the json serialiser behind it.
 *
 * One input is one response body. It is parsed as the answer to every
 * status the client distinguishes, classified for every kind of call, and
 * when it parses, re-serialised and parsed again (the serialiser must
 * produce JSON that reads back equal). Invariants checked: no crash, no
 * leak (ASan), error messages bounded and free of control characters.
 *
 * Default build: main() replays every file of the corpus directory given as
 * argv[1] (test/vault/corpus), so `meson test` runs the corpus. With
 * -Dllvm-fuzz=true (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) libFuzzer
 * provides main().
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "vault-json.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const VaultError *err) {
        size_t n = strnlen(err->message, sizeof(err->message));
        if (n >= sizeof(err->message))
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)err->message[i] < 0x20)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const long statuses[] = {
                200, 204, 307, 400, 403, 404, 405, 412, 429, 500, 501, 503
        };

        for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
                VaultResponse *r = NULL;
                VaultError err = { 0 };

                if (vault_response_parse(statuses[s], data, size, &r, &err) != 0) {
                        check_message(&err);
                        continue;
                }
                for (int op = 0; op < _VAULT_OP_MAX; op++) {
                        err = (VaultError){ 0 };
                        (void)vault_response_check(r, (VaultOp)op, &err);
                        check_message(&err);
                        (void)vault_error_to_csi_code(err.code);
                }
                if (r->errors_text && strlen(r->errors_text) > VAULT_ERROR_TEXT_MAX)
                        abort();
                if (s == 0 && r->root) {
                        char *text = NULL;
                        size_t len = 0;
                        JsonValue *again = NULL;
                        JsonError je;
                        if (json_write_string(r->root, JSON_WRITE_SORT_KEYS, &text, &len) == 0) {
                                if (json_parse(text, len, 0, VAULT_JSON_DEPTH_MAX + 1, &again,
                                               &je) != 0)
                                        abort();
                                /* Reals print in shortest form: equal as numbers. */
                                if (!json_value_equal(r->root, again)) {
                                        char *t2 = NULL;
                                        if (json_write_string(again, JSON_WRITE_SORT_KEYS, &t2,
                                                              NULL) != 0 ||
                                            strcmp(text, t2) != 0)
                                                abort();
                                        free(t2);
                                }
                                json_value_unref(again);
                                free(text);
                        }
                }
                vault_response_free(r);
        }
        return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static int run_file(const char *path) {
        struct stat st;
        uint8_t *buf;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "cannot read %s\n", path);
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        buf = malloc((size_t)st.st_size + 1);
        n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
        close(fd);
        if (n != st.st_size) {
                free(buf);
                return -1;
        }
        (void)LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        return 0;
}

int main(int argc, char **argv) {
        size_t files = 0;
        int failed = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) == 0 && !S_ISDIR(st.st_mode)) {
                        failed |= run_file(argv[i]) < 0;
                        files++;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d) {
                        fprintf(stderr, "cannot open %s\n", argv[i]);
                        return 1;
                }
                while ((de = readdir(d))) {
                        char path[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
                        failed |= run_file(path) < 0;
                        files++;
                }
                closedir(d);
        }
        printf("fuzz-vault-json: replayed %zu inputs\n", files);
        /* An empty corpus proves nothing. */
        return failed || files == 0 ? 1 : 0;
}
#endif
