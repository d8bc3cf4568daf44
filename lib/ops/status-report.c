/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status-report.c - `vaultmountd status` (see status-report.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "health.h"
#include "refresher.h"
#include "status-report.h"
#include "volume-observe.h"
#include "fsutil.h"
#include "macro.h"

#define FILE_MAX   (1024 * 1024)
#define JSON_DEPTH 8

static void entry_done(StatusEntry *e) {
        free(e->volume_id);
        free(e->ns);
        free(e->pod);
        free(e->state);
        free(e->last_success);
        free(e->next_refresh);
        free(e->earliest_expiry);
        free(e->last_error);
        *e = (StatusEntry){ 0 };
}

void status_entries_free(StatusEntry *e, size_t n) {
        for (size_t i = 0; e && i < n; i++)
                entry_done(&e[i]);
        free(e);
}

/* dir_fd/name, whole (at most FILE_MAX bytes), as a parsed JSON object. */
static int read_json(int dir_fd, const char *name, JsonValue **ret) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fd < 0)
                return -errno;
        int r;

        buf = malloc(FILE_MAX);
        if (!buf)
                return -ENOMEM;
        r = read_fd_bounded(fd, buf, FILE_MAX - 1, &len);
        if (r < 0)
                return r;
        return json_parse_object(buf, len, FILE_MAX, JSON_DEPTH, ret, NULL) == 0 ? 0 : -EBADMSG;
}

/* *dst = a copy of obj[key] when it is a string (kept when absent). */
static int take_string(const JsonValue *obj, const char *key, char **dst) {
        const char *s;
        size_t n;
        char *c;

        if (!obj || json_member_string(obj, key, &s, &n) < 0 || memchr(s, 0, n))
                return 0;
        c = strndup(s, n);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

static int format_usec(uint64_t usec, char **dst) {
        char buf[40];
        time_t t = (time_t)(usec / 1000000);
        struct tm tm;

        if (!usec || !gmtime_r(&t, &tm) ||
            strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return 0;
        free(*dst);
        *dst = strdup(buf);
        return *dst ? 0 : -ENOMEM;
}

/* record.json: the volume id, its pod, and the status as last saved. */
static int entry_from_record(const JsonValue *o, StatusEntry *e) {
        const JsonValue *attrs = json_object_member(o, "attributes");
        const JsonValue *st = json_object_member(o, "status");
        bool publishing = false;
        int64_t last = 0;
        int r;

        if ((r = take_string(o, "volume_id", &e->volume_id)) < 0)
                return r;
        if (!e->volume_id)
                return -EBADMSG;
        if ((r = take_string(attrs, VOLUME_POD_NAMESPACE_KEY, &e->ns)) < 0 ||
            (r = take_string(attrs, VOLUME_POD_NAME_KEY, &e->pod)) < 0 ||
            (r = take_string(st, "state", &e->state)) < 0 ||
            (r = take_string(st, "last_error", &e->last_error)) < 0)
                return r;
        if (json_member_bool(o, "publishing", &publishing) == 0 && publishing) {
                /* in progress, or interrupted and undone by the next start */
                free(e->state);
                e->state = strdup("publishing");
                return e->state ? 0 : -ENOMEM;
        }
        if (st && json_member_int64(st, "last_success_usec", &last) == 0 && last > 0)
                return format_usec((uint64_t)last, &e->last_success);
        return 0;
}

void status_redact_paths(char *s) {
        char *w = s;

        for (const char *r = s; r && *r;) {
                const char *end = (*r == '\'' || *r == '"') ? strchr(r + 1, *r) : NULL;
                if (end && !memchr(r + 1, '/', (size_t)(end - r - 1))) {
                        /* quoted, no path: kept whole (its closing quote opens nothing) */
                        size_t n = (size_t)(end - r + 1);
                        memmove(w, r, n);
                        w += n;
                        r = end + 1;
                        continue;
                }
                if (end) {
                        static const char mark[] = "<path>";
                        *w++ = *r;
                        /* the mark is never longer than what it replaces ("a/b" at least) */
                        if ((size_t)(end - r - 1) >= sizeof(mark) - 1) {
                                memcpy(w, mark, sizeof(mark) - 1);
                                w += sizeof(mark) - 1;
                        } else
                                *w++ = '?';
                        *w++ = *end;
                        r = end + 1;
                        continue;
                }
                *w++ = *r++;
        }
        if (w)
                *w = '\0';
}

/* The refresher's status file: newer, and it has the times. */
static int entry_from_status(const JsonValue *o, StatusEntry *e) {
        int r;
        if ((r = take_string(o, "state", &e->state)) < 0 ||
            (r = take_string(o, "last_success", &e->last_success)) < 0 ||
            (r = take_string(o, "next_refresh", &e->next_refresh)) < 0 ||
            (r = take_string(o, "earliest_expiry", &e->earliest_expiry)) < 0)
                return r;
        /* the file leaves last_error out once the volume is fine again */
        free(e->last_error);
        e->last_error = NULL;
        return take_string(o, "last_error", &e->last_error);
}

static int load_entry(int volumes_fd, const char *key, StatusEntry *e) {
        _cleanup_close_ int dfd =
                openat(volumes_fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int mfd = -1;
        JsonValue *o = NULL;
        int r;

        if (dfd < 0)
                return -errno;
        r = read_json(dfd, "record.json", &o);
        if (r < 0)
                return r;
        r = entry_from_record(o, e);
        json_value_unref(o);
        o = NULL;
        if (r < 0)
                return r;
        /* a publish in progress has no status of its own yet */
        if (!streq_ptr(e->state, "publishing"))
                mfd = openat(dfd, "mnt", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (mfd >= 0 && read_json(mfd, REFRESH_STATUS_FILE, &o) == 0) {
                r = entry_from_status(o, e);
                json_value_unref(o);
                if (r < 0)
                        return r;
        }
        if (e->last_error)
                status_redact_paths(e->last_error);
        if (!e->state)
                e->state = strdup("unknown");
        return e->state ? 0 : -ENOMEM;
}

static int entry_cmp(const void *a, const void *b) {
        const StatusEntry *x = a, *y = b;
        int c = strcmp(strempty(x->ns), strempty(y->ns));
        if (c == 0)
                c = strcmp(strempty(x->pod), strempty(y->pod));
        return c ? c : strcmp(x->volume_id, y->volume_id);
}

int status_report_load(const char *state_dir, StatusEntry **ret, size_t *ret_n, size_t *ret_bad) {
        _cleanup_free_ char *path = NULL;
        StatusEntry *list = NULL;
        size_t n = 0, bad = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (asprintf(&path, "%s/volumes", state_dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        d = opendir(path);
        if (!d && errno != ENOENT)
                return -errno;
        while (d && (de = readdir(d))) {
                StatusEntry *grown;
                if (de->d_name[0] == '.')
                        continue;
                grown = realloc(list, (n + 1) * sizeof(*grown));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                list = grown;
                list[n] = (StatusEntry){ 0 };
                r = load_entry(dirfd(d), de->d_name, &list[n]);
                if (r < 0)
                        entry_done(&list[n]);
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        bad++;
                        r = 0;
                        continue;
                }
                n++;
        }
        if (d)
                closedir(d);
        if (r < 0) {
                status_entries_free(list, n);
                return r;
        }
        if (n > 1)
                qsort(list, n, sizeof(*list), entry_cmp);
        *ret = list;
        *ret_n = n;
        if (ret_bad)
                *ret_bad = bad;
        return 0;
}

const char *status_short_id(const char *volume_id, char *buf, size_t max) {
        size_t n = strlen(volume_id);

        if (max < 4) {
                if (max)
                        buf[0] = '\0';
                return buf;
        }
        if (n + 1 <= max) {
                memcpy(buf, volume_id, n + 1);
                return buf;
        }
        memcpy(buf, volume_id, max - 4);
        memcpy(buf + max - 4, "...", 4);
        return buf;
}

/* "2026-11-23T09:29:01.334Z" → "2026-11-23T09:29:01Z" for the table. */
static void put_time(FILE *f, const char *t, int width) {
        char buf[32];
        size_t n = strcspn(strempty(t), ".");

        if (isempty(t)) {
                fprintf(f, "%-*s", width, "-");
                return;
        }
        if (n >= sizeof(buf) - 1 || strchr(t, '.') == NULL)
                (void)snprintf(buf, sizeof(buf), "%s", t);
        else
                (void)snprintf(buf, sizeof(buf), "%.*sZ", (int)n, t);
        fprintf(f, "%-*s", width, buf);
}

static void print_table(FILE *f, const StatusEntry *e, size_t n) {
        fprintf(f, "%-36s %-24s %-17s %-21s %-21s %-21s %s\n", "NAMESPACE/POD", "VOLUME", "STATE",
                "LAST-SUCCESS", "NEXT-REFRESH", "EARLIEST-EXPIRY", "LAST-ERROR");
        for (size_t i = 0; i < n; i++) {
                char pod[512], id[24];
                (void)snprintf(pod, sizeof(pod), "%s/%s", e[i].ns ? e[i].ns : "?",
                               e[i].pod ? e[i].pod : "?");
                fprintf(f, "%-36s %-24s %-17s ", pod,
                        status_short_id(e[i].volume_id, id, sizeof(id)), e[i].state);
                put_time(f, e[i].last_success, 21);
                fputc(' ', f);
                put_time(f, e[i].next_refresh, 21);
                fputc(' ', f);
                put_time(f, e[i].earliest_expiry, 21);
                fprintf(f, " %s\n", isempty(e[i].last_error) ? "-" : e[i].last_error);
        }
}

static int put(JsonValue *o, const char *key, const char *v) {
        return v ? json_object_put_string(o, key, v, strlen(v)) : 0;
}

static int print_json(FILE *f, const StatusEntry *e, size_t n) {
        JsonValue *arr = NULL, *doc = NULL;
        char *text = NULL;
        size_t len = 0;
        int r;

        if ((r = json_object_new(&doc)) < 0)
                return r;
        if ((r = json_array_new(&arr)) < 0)
                goto out;
        for (size_t i = 0; i < n && r == 0; i++) {
                JsonValue *o = NULL;
                if ((r = json_object_new(&o)) < 0)
                        break;
                if ((r = put(o, "volume_id", e[i].volume_id)) == 0 &&
                    (r = put(o, "namespace", e[i].ns)) == 0 && (r = put(o, "pod", e[i].pod)) == 0 &&
                    (r = put(o, "state", e[i].state)) == 0 &&
                    (r = put(o, "last_success", e[i].last_success)) == 0 &&
                    (r = put(o, "next_refresh", e[i].next_refresh)) == 0 &&
                    (r = put(o, "earliest_expiry", e[i].earliest_expiry)) == 0 &&
                    (r = put(o, "last_error", e[i].last_error)) == 0)
                        r = json_array_append_value(arr, o);
                json_value_unref(o);
        }
        if (r == 0 &&
            (r = json_object_put_bool(doc, "healthy", status_report_exit_code(e, n) == 0)) == 0 &&
            (r = json_object_put_value(doc, "volumes", arr)) == 0 &&
            (r = json_write_string(doc, JSON_WRITE_SORT_KEYS | JSON_WRITE_NEWLINE, &text, &len)) ==
                    0 &&
            fwrite(text, 1, len, f) != len)
                r = -EIO;
out:
        free(text);
        json_value_unref(arr);
        json_value_unref(doc);
        return r;
}

int status_report_print(FILE *f, const StatusEntry *e, size_t n, bool json) {
        if (json)
                return print_json(f, e, n);
        print_table(f, e, n);
        return 0;
}

int status_report_exit_code(const StatusEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(e[i].state, "failing") || streq_ptr(e[i].state, "stale"))
                        return 1;
        return 0;
}

int status_report_run(const char *state_dir, bool json, FILE *out, FILE *errf) {
        StatusEntry *e = NULL;
        size_t n = 0, bad = 0;
        int r;

        r = status_report_load(state_dir, &e, &n, &bad);
        if (r < 0) {
                fprintf(errf, "vaultmountd status: reading '%s/volumes' failed: %s\n", state_dir,
                        strerror(-r));
                return 2;
        }
        if (bad > 0)
                fprintf(errf, "vaultmountd status: %zu volume record(s) could not be read\n", bad);
        r = status_report_print(out, e, n, json);
        if (r >= 0 && fflush(out) != 0)
                r = -EIO;
        if (r < 0) {
                fprintf(errf, "vaultmountd status: writing the report failed: %s\n", strerror(-r));
                status_entries_free(e, n);
                return 2;
        }
        r = status_report_exit_code(e, n);
        status_entries_free(e, n);
        return r;
}
