/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log-journal.c - the native journald sink: one sd_journal_sendv() per
 * record, with structured fields an admin can filter on
 * (`journalctl CSI_VOLUME_ID=...`, `-p warning`, `MESSAGE_ID=...`).
 *
 * libsystemd is a required dependency, so there is no stub; whether this
 * sink is used is decided once at start-up (log_target_resolve()). When the
 * journal cannot be reached (no socket, nobody listening, a send error) a
 * record goes to the stderr sink instead of being lost.
 *
 * The record has already been scrubbed and rate-limited by log.c. Field
 * names that journald would refuse (lower case, a leading '_' or digit,
 * longer than 64) and those this sink sets itself are left out.
 *
 * Thread-safety: sd_journal_sendv() is thread-safe; the staging buffer is
 * per call.
 */
#include <stdio.h>
#include <sys/uio.h>
/* we send the caller's CODE_FILE/LINE/FUNC; without this, libsystemd adds its own */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"
#include "macro.h"

/* context (7) + explicit fields (32) + SUPPRESSED + the ones set here */
#define JOURNAL_IOV_MAX 48
/* Where libsystemd sends; it reports success when this is missing, so we look first. */
#define JOURNAL_SOCKET_PATH "/run/systemd/journal/socket"

static bool field_name_valid(const char *k) {
        size_t n = 0;
        if (isempty(k) || k[0] == '_' || (k[0] >= '0' && k[0] <= '9'))
                return false;
        for (; k[n]; n++)
                if (!((k[n] >= 'A' && k[n] <= 'Z') || (k[n] >= '0' && k[n] <= '9') || k[n] == '_'))
                        return false;
        return n <= 64;
}

/* Fields this sink fills itself; a record field of the same name is dropped. */
static bool field_reserved(const char *k) {
        static const char *const reserved[] = {
                "MESSAGE",   "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE",
                "CODE_FUNC", "ERRNO",
        };
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (streq(k, reserved[i]))
                        return true;
        return false;
}

typedef struct Pair {
        const char *key, *value;
} Pair;

void log_sink_journal(const LogRecord *r, void *userdata) {
        const char *ident = userdata ? userdata : LOG_SYSLOG_IDENTIFIER;
        Pair pairs[JOURNAL_IOV_MAX];
        struct iovec iov[JOURNAL_IOV_MAX];
        char prio[8], line[16], err[16];
        size_t n = 0, total = 0;
        char *buf, *p;
        int ret;

        /*
         * sd_journal_sendv() returns 0 when the socket does not exist ("no
         * journal, nothing to do"): that would lose the record silently.
         */
        if (access(JOURNAL_SOCKET_PATH, F_OK) < 0) {
                log_sink_stderr(r, NULL);
                return;
        }
        (void)snprintf(prio, sizeof(prio), "%d", r->level);
        pairs[n++] = (Pair){ "PRIORITY", prio };
        pairs[n++] = (Pair){ "MESSAGE", r->message };
        pairs[n++] = (Pair){ "SYSLOG_IDENTIFIER", ident };
        if (r->file) {
                (void)snprintf(line, sizeof(line), "%d", r->line);
                pairs[n++] = (Pair){ "CODE_FILE", r->file };
                pairs[n++] = (Pair){ "CODE_LINE", line };
                if (r->func)
                        pairs[n++] = (Pair){ "CODE_FUNC", r->func };
        }
        if (r->error > 0) {
                (void)snprintf(err, sizeof(err), "%d", r->error);
                pairs[n++] = (Pair){ "ERRNO", err };
        }
        for (size_t i = 0; i < r->n_fields && n < ELEMENTSOF(pairs); i++) {
                const LogField *f = &r->fields[i];
                if (!field_name_valid(f->key) || field_reserved(f->key) || isempty(f->value))
                        continue;
                pairs[n++] = (Pair){ f->key, f->value };
        }

        for (size_t i = 0; i < n; i++)
                total += strlen(pairs[i].key) + 1 + strlen(pairs[i].value);
        buf = malloc(total ? total : 1);
        if (!buf) {
                log_sink_stderr(r, NULL);
                return;
        }
        p = buf;
        for (size_t i = 0; i < n; i++) {
                size_t kl = strlen(pairs[i].key), vl = strlen(pairs[i].value);
                iov[i].iov_base = p;
                memcpy(p, pairs[i].key, kl);
                p[kl] = '=';
                memcpy(p + kl + 1, pairs[i].value, vl);
                iov[i].iov_len = kl + 1 + vl;
                p += kl + 1 + vl;
        }

        /* values with newlines are sent in journald's binary form by libsystemd */
        ret = sd_journal_sendv(iov, (int)n);
        free(buf);
        if (ret < 0)
                log_sink_stderr(r, NULL);
}
