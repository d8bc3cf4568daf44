/* SPDX-License-Identifier: Apache-2.0 */
/*
 * payload-read.c - what a volume's files hold now (see payload-read.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "payload-read.h"
#include "macro.h"

/* The current content of the file `path` under dir_fd: -E2BIG past max + 1
 * bytes. */
static int read_file_at(int dir_fd, const char *path, size_t max, Secret **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_(secret_freep) Secret *s = NULL;
        uint8_t buf[4096];
        int r;

        fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = secret_new(&s, max + 1);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                r = secret_append(s, buf, (size_t)n);
                if (r < 0)
                        break;
        }
        secret_wipe(buf, sizeof(buf));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

static int value_add(ObjectValue *v, const char *dir, const char *name, Secret *data) {
        RenderedFile *grown = realloc(v->files, (v->n + 1) * sizeof(*grown));

        if (!grown)
                return -ENOMEM;
        v->files = grown;
        if (asprintf(&v->files[v->n].name, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) < 0)
                return -ENOMEM;
        v->files[v->n++].data = data;
        return 0;
}

/* An expanded object's current files: every file of ..data/<name>/ (none
 * when the last render had no keys). */
static int read_current_dir(int root_fd, const char *name, size_t max, ObjectValue *v) {
        char path[OBJECT_NAME_MAX + 16];
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (snprintf(path, sizeof(path), "..data/%s", name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while (r == 0 && (errno = 0, de = readdir(d))) {
                Secret *data = NULL;
                if (de->d_name[0] == '.')
                        continue;
                r = read_file_at(dirfd(d), de->d_name, max, &data);
                if (r == 0 && (r = value_add(v, name, de->d_name, data)) < 0)
                        secret_free(data);
        }
        if (r == 0 && errno != 0)
                r = -errno;
        (void)closedir(d);
        return r;
}

int payload_read_object(int root_fd, const SecretObject *o, size_t max, ObjectValue *ret) {
        char path[OBJECT_NAME_MAX + 16];
        Secret *data = NULL;
        int r;

        *ret = (ObjectValue){ 0 };
        if (o->expand)
                r = read_current_dir(root_fd, o->name, max, ret);
        else if (snprintf(path, sizeof(path), "..data/%s", o->name) >= (int)sizeof(path))
                r = -ENAMETOOLONG;
        else {
                r = read_file_at(root_fd, path, max, &data);
                if (r == 0 && (r = value_add(ret, NULL, o->name, data)) < 0)
                        secret_free(data);
        }
        if (r < 0)
                object_value_done(ret);
        return r;
}
