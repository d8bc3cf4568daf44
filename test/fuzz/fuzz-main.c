/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-main.c - corpus replay driver for the fuzz harnesses.
 *
 * Links with a harness that defines LLVMFuzzerTestOneInput() and feeds it
 * every regular file in the directories (or the files) named on the command
 * line, in name order, so every `meson test --suite fuzz` replays the seeds
 * and past crashers. Each input is copied into a buffer of exactly its size,
 * so an over-read shows up under ASan or valgrind.
 *
 * Exit status: 0 when at least one input ran (a crash aborts the process),
 * 1 when nothing was found to run, 2 on usage or I/O errors.
 *
 * Built with libFuzzer (-fsanitize=fuzzer) this file is left out: libFuzzer
 * brings its own main().
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, size_t *count) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;

        if (!f) {
                fprintf(stderr, "fuzz-main: %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                size_t n;
                if (len == cap) {
                        uint8_t *nb;
                        cap = cap ? cap * 2 : 4096;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                fclose(f);
                                return -1;
                        }
                        buf = nb;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                fprintf(stderr, "fuzz-main: %s: read error\n", path);
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);

        /* exactly-sized copy: reading one byte past the input is caught; never
         * NULL, even for an empty input (libFuzzer does the same) */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
                free(buf);
                return -1;
        }
        if (len)
                memcpy(exact, buf, len);
        free(buf);
        (void)LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        (*count)++;
        return 0;
}

static int only_visible(const struct dirent *d) {
        return d->d_name[0] != '.';
}

static int run_path(const char *path, size_t *count) {
        struct stat st;
        struct dirent **list = NULL;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "fuzz-main: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path, count);

        n = scandir(path, &list, only_visible, alphasort);
        if (n < 0) {
                fprintf(stderr, "fuzz-main: %s: %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char sub[4096];
                struct stat sst;
                (void)snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
                if (r == 0 && stat(sub, &sst) == 0 && S_ISREG(sst.st_mode))
                        r = run_file(sub, count);
                free(list[i]);
        }
        free(list);
        return r;
}

int main(int argc, char **argv) {
        size_t count = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++)
                if (run_path(argv[i], &count) < 0)
                        return 2;
        printf("fuzz-main: %zu inputs ran\n", count);
        if (count == 0) {
                fprintf(stderr, "fuzz-main: no inputs found: an empty corpus tests nothing\n");
                return 1;
        }
        return 0;
}
