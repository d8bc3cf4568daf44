/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret-set.c - request groups and the payload builder (see secret-set.h).
 */
#include <stdio.h>

#include "fsutil.h"
#include "secret-set.h"
#include "macro.h"

VaultRequest secret_set_request(const SecretObject *o) {
        VaultRequest rq = { .method = o->method, .path = o->path };
        if (o->args)
                rq.body = secret_get(o->args, &rq.body_len);
        return rq;
}

/* The path as the client sends it; the raw path when it does not
 * normalise (the request then fails on its own, once per spelling). */
static char *request_path(const SecretObject *o) {
        char *norm = NULL;
        if (vault_path_normalize(o->path, &norm, NULL) != 0 || !norm)
                return strdup(o->path);
        return norm;
}

static bool same_args(const SecretObject *a, const SecretObject *b) {
        if (!a->args || !b->args)
                return !a->args && !b->args;
        return secret_equal(a->args, b->args);
}

int secret_set_group(const VolumeSpec *spec, size_t **ret_group_of, size_t *ret_n_groups) {
        size_t n_obj = spec->n_objects, n = 0;
        _cleanup_free_ size_t *group_of = calloc(n_obj ? n_obj : 1, sizeof(*group_of));
        char **paths = calloc(n_obj ? n_obj : 1, sizeof(*paths));
        int r = 0;

        if (!group_of || !paths) {
                free(paths);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_obj && r == 0; i++) {
                const SecretObject *o = &spec->objects[i];
                size_t g = n;

                paths[i] = request_path(o);
                if (!paths[i]) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t j = 0; j < i; j++)
                        if (o->method == spec->objects[j].method && streq(paths[i], paths[j]) &&
                            same_args(o, &spec->objects[j])) {
                                g = group_of[j];
                                break;
                        }
                group_of[i] = g;
                if (g == n)
                        n++;
        }
        for (size_t i = 0; i < n_obj; i++)
                free(paths[i]);
        free(paths);
        if (r < 0)
                return r;
        *ret_group_of = TAKE_PTR(group_of);
        *ret_n_groups = n;
        return 0;
}

size_t secret_set_first_object(const size_t *group_of, size_t n_objects, size_t gi) {
        for (size_t i = 0; i < n_objects; i++)
                if (group_of[i] == gi)
                        return i;
        return SIZE_MAX;
}

unsigned secret_set_mode(const SecretObject *o, gid_t gid) {
        if (o->mode_set)
                return o->mode;
        return gid != (gid_t)-1 ? 0440 : 0444;
}

void object_value_done(ObjectValue *v) {
        v->files = rendered_files_free(v->files, v->n);
        v->n = 0;
        v->set = false;
}

static void values_free(ObjectValue *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                object_value_done(&v[i]);
}

int secret_set_render_group(const VolumeSpec *spec, const size_t *group_of, size_t gi,
                            const VaultResponse *resp, uint64_t max_file_bytes, ObjectValue *values,
                            char *err, size_t errlen) {
        size_t n = spec->n_objects, first = secret_set_first_object(group_of, n, gi);
        _cleanup_free_ ObjectValue *fresh = calloc(n ? n : 1, sizeof(*fresh));
        const JsonValue *data;
        bool kv2 = false;
        int r = 0;

        err_init(err, errlen);
        if (!fresh || first == SIZE_MAX)
                return -ENOMEM;
        data = vault_data_unwrap_kv2(resp->data, &kv2);
        if (!data) {
                err_set(err, errlen,
                        "object '%s': '%s' has no data (a deleted or destroyed version?)",
                        spec->objects[first].name, spec->objects[first].path);
                return -ENOENT;
        }
        for (size_t i = 0; i < n && r == 0; i++) {
                const SecretObject *o = &spec->objects[i];
                RenderSpec rs;

                if (group_of[i] != gi)
                        continue;
                /* the cap is enforced while rendering: a huge value stops early */
                secret_object_render_spec(o, (size_t)MIN(max_file_bytes, (uint64_t)SIZE_MAX), NULL,
                                          &rs);
                r = render_object(&rs, data, &fresh[i].files, &fresh[i].n, err, errlen);
                fresh[i].set = r == 0;
        }
        if (r < 0) {
                values_free(fresh, n);
                return r;
        }
        for (size_t i = 0; i < n; i++)
                if (group_of[i] == gi) {
                        object_value_done(&values[i]);
                        values[i] = fresh[i];
                }
        return 0;
}

int secret_set_files(const VolumeSpec *spec, const ObjectValue *values, gid_t gid,
                     uint64_t max_volume_bytes, PayloadFile **ret_files, size_t *ret_n, char *err,
                     size_t errlen) {
        _cleanup_free_ PayloadFile *files = NULL;
        _cleanup_free_ const char **names = NULL;
        uint64_t total = 0;
        size_t count = 0, k = 0;
        int r;

        err_init(err, errlen);
        for (size_t i = 0; i < spec->n_objects; i++)
                count += values[i].n;
        files = calloc(count ? count : 1, sizeof(*files));
        names = calloc(count ? count : 1, sizeof(*names));
        if (!files || !names)
                return -ENOMEM;
        for (size_t i = 0; i < spec->n_objects; i++)
                for (size_t j = 0; j < values[i].n; j++, k++) {
                        const RenderedFile *f = &values[i].files[j];
                        size_t len = 0;
                        const uint8_t *data = secret_get(f->data, &len);

                        files[k] = (PayloadFile){
                                .name = f->name,
                                .data = data,
                                .len = len,
                                .mode = secret_set_mode(&spec->objects[i], gid),
                        };
                        names[k] = f->name;
                        total += len;
                }
        if (total > max_volume_bytes) {
                err_set(err, errlen, "the volume's files exceed the node's max-volume-bytes (%llu)",
                        (unsigned long long)max_volume_bytes);
                return -E2BIG;
        }
        r = render_names_check(names, count, err, errlen);
        if (r < 0)
                return r;
        *ret_files = TAKE_PTR(files);
        *ret_n = count;
        return 0;
}

VaultLoginParams volume_login_params(const VolumeSpec *spec, const Secret *jwt) {
        size_t len = 0;
        VaultLoginParams lp = {
                .method = streq(spec->server->auth_method, "jwt") ? VAULT_AUTH_JWT
                                                                  : VAULT_AUTH_KUBERNETES,
                .mount = spec->auth_mount,
                .role = spec->role,
                .ns = spec->ns,
        };
        lp.jwt = secret_get(jwt, &len);
        lp.jwt_len = len;
        return lp;
}
