/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mini-server.h - a scripted plain-HTTP server for the http and vault unit
 * tests (header only, test code).
 *
 * mini_server_start() binds 127.0.0.1 on an ephemeral port and forks a child
 * that serves one scripted answer per connection, in order, recording each
 * raw request into <dir>/req-<n>. Answers may be raw bytes (any status line,
 * headers and body, including malformed ones; "{PORT}" is replaced by the
 * server's port, for redirects back to itself), a dropped connection, or a
 * delay first. After the script the child exits. The parent reads the
 * recorded requests to assert what the client sent and how many attempts
 * it made. No sleeps are used to synchronise: the listening socket exists
 * before the fork, and mini_server_stop() waits for the child.
 */
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef enum MiniAction {
        MINI_SEND, /* write `raw`, then close */
        MINI_DROP, /* read the request, close without answering */
} MiniAction;

typedef struct MiniAnswer {
        MiniAction action;
        const char *raw;   /* complete HTTP response bytes */
        size_t len;        /* 0 → strlen(raw) */
        unsigned delay_ms; /* before answering */
} MiniAnswer;

typedef struct MiniServer {
        pid_t pid;
        int port;
        char dir[64];
} MiniServer;

static inline void mini_sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0)
                ;
}

/* Reads one request (headers + Content-Length body) into buf; returns length. */
static inline size_t mini_read_request(int fd, char *buf, size_t cap) {
        size_t len = 0, want = 0;

        while (len + 1 < cap) {
                ssize_t n = read(fd, buf + len, cap - 1 - len);
                char *hdr_end;
                if (n <= 0)
                        break;
                len += (size_t)n;
                buf[len] = 0;
                hdr_end = strstr(buf, "\r\n\r\n");
                if (!hdr_end)
                        continue;
                if (want == 0) {
                        const char *cl = strcasestr(buf, "\r\nContent-Length:");
                        size_t body = 0;
                        if (cl && cl < hdr_end)
                                body = (size_t)strtoul(cl + 17, NULL, 10);
                        want = (size_t)(hdr_end + 4 - buf) + body;
                }
                if (len >= want)
                        break;
        }
        buf[len] = 0;
        return len;
}

/* Writes raw to fd with every "{PORT}" replaced by the server's port. */
static inline void mini_send(int fd, const char *raw, size_t len, int port) {
        static char out[1 << 16];
        size_t o = 0;

        for (size_t i = 0; i < len && o + 8 < sizeof(out); i++) {
                if (i + 6 <= len && memcmp(raw + i, "{PORT}", 6) == 0) {
                        o += (size_t)snprintf(out + o, sizeof(out) - o, "%d", port);
                        i += 5;
                } else
                        out[o++] = raw[i];
        }
        if (len >= sizeof(out) - 8) {
                /* large answers are sent as they are */
                (void)send(fd, raw, len, MSG_NOSIGNAL);
                return;
        }
        /* MSG_NOSIGNAL: the client may have gone (timeouts). */
        (void)send(fd, out, o, MSG_NOSIGNAL);
}

static inline void mini_child(int lfd, int port, const char *dir, const MiniAnswer *script,
                              size_t n) {
        static char buf[1 << 20];

        for (size_t i = 0; i < n; i++) {
                char path[128];
                size_t len;
                int fd = accept(lfd, NULL, NULL), out;

                if (fd < 0)
                        _exit(2);
                len = mini_read_request(fd, buf, sizeof(buf));
                (void)snprintf(path, sizeof(path), "%s/req-%02zu", dir, i);
                out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (out >= 0) {
                        if (write(out, buf, len) < 0) {
                                /* recorded best effort */
                        }
                        close(out);
                }
                if (script[i].delay_ms)
                        mini_sleep_ms(script[i].delay_ms);
                if (script[i].action == MINI_SEND && script[i].raw) {
                        size_t rl = script[i].len ? script[i].len : strlen(script[i].raw);
                        mini_send(fd, script[i].raw, rl, port);
                }
                shutdown(fd, SHUT_RDWR);
                close(fd);
        }
        _exit(0);
}

static inline int mini_server_start(MiniServer *s, const MiniAnswer *script, size_t n) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t alen = sizeof(a);
        int lfd, one = 1;

        memset(s, 0, sizeof(*s));
        (void)snprintf(s->dir, sizeof(s->dir), "/tmp/vm-mini-XXXXXX");
        if (!mkdtemp(s->dir))
                return -1;
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return -1;
        (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0 ||
            getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
                close(lfd);
                return -1;
        }
        s->port = ntohs(a.sin_port);
        s->pid = fork();
        if (s->pid < 0) {
                close(lfd);
                return -1;
        }
        if (s->pid == 0) {
                /* Check's handlers (they signal the whole process group) are
                 * not ours to run. */
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                signal(SIGALRM, SIG_DFL);
                mini_child(lfd, s->port, s->dir, script, n);
        }
        close(lfd);
        return 0;
}

static inline size_t mini_server_count(const MiniServer *s) {
        size_t n = 0;
        DIR *d = opendir(s->dir);
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "req-", 4) == 0)
                        n++;
        closedir(d);
        return n;
}

/* The i-th recorded request (malloc'd, NUL-terminated) or NULL. */
static inline char *mini_server_request(const MiniServer *s, size_t i) {
        char path[128];
        struct stat st;
        char *buf;
        int fd;
        ssize_t r;

        (void)snprintf(path, sizeof(path), "%s/req-%02zu", s->dir, i);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return NULL;
        }
        buf = calloc(1, (size_t)st.st_size + 1);
        if (buf) {
                r = read(fd, buf, (size_t)st.st_size);
                if (r < 0)
                        buf[0] = 0;
        }
        close(fd);
        return buf;
}

/* Stops the child (if still serving) and removes the recordings. */
static inline void mini_server_stop(MiniServer *s) {
        DIR *d;
        struct dirent *de;

        if (s->pid > 0) {
                kill(s->pid, SIGKILL);
                (void)waitpid(s->pid, NULL, 0);
                s->pid = 0;
        }
        d = opendir(s->dir);
        if (d) {
                while ((de = readdir(d))) {
                        char path[400];
                        if (de->d_name[0] == '.')
                                continue;
                        (void)snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
                        unlink(path);
                }
                closedir(d);
                rmdir(s->dir);
        }
}

/* Waits until the child has served its whole script (bounded). */
static inline int mini_server_wait(MiniServer *s, unsigned timeout_ms) {
        for (unsigned waited = 0; s->pid > 0; waited += 10) {
                int status;
                pid_t p = waitpid(s->pid, &status, WNOHANG);
                if (p == s->pid) {
                        s->pid = 0;
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                }
                if (waited >= timeout_ms)
                        return -1;
                mini_sleep_ms(10);
        }
        return 0;
}
