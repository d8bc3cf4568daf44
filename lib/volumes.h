/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volumes.h - the published volumes: an in-memory table with a per-volume
 * "operation in flight" flag (a concurrent publish/unpublish of the same
 * volume gets ABORTED), and their non-secret state in the state dir so that
 * a restarted daemon can still unpublish (and revoke) what it published.
 *
 * State dir layout:
 *   <state-dir>/volumes/<key>/record.json   volume id, target, server... (0600)
 *   <state-dir>/volumes/<key>/token         the Vault token (0600), only when
 *                                           the state dir is a tmpfs
 *   <state-dir>/volumes/<key>/mnt           the volume's private tmpfs
 * <key> is the volume id when it is a safe file name, else "h-" + sha256.
 *
 * Never logs above debug. The table is thread-safe; a record is used only by
 * the thread that holds its busy flag.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "vault.h"

typedef struct VolumeRecord {
        char *volume_id;
        char *key;          /* directory name under <state-dir>/volumes */
        char *target_path;
        char *server;       /* Vault server name */
        char *ns;           /* Vault namespace or NULL */
        bool readonly;
        int access_mode;
        char *fs_type;
        char *mount_group;  /* volume_mount_group or NULL */
        VaultToken *token;  /* the pod's Vault token, or NULL */
        char *token_accessor;
        Secret *jwt;        /* the newest pod JWT (memory only) */
        int64_t jwt_expires;
        bool published;     /* fully published (false: placeholder while publishing) */
        bool busy;
} VolumeRecord;

typedef struct VolumeTable VolumeTable;

int volume_table_new(VolumeTable **ret, const char *state_dir);
VolumeTable *volume_table_free(VolumeTable *t);
static inline void volume_table_freep(VolumeTable **t) {
        if (*t)
                *t = volume_table_free(*t);
}

/* Whether the state dir is a tmpfs (Vault tokens are persisted only then). */
bool volume_table_state_on_tmpfs(const VolumeTable *t);

/* Loads every record.json (and token) under <state-dir>/volumes. Returns the
 * number loaded, or -errno. Records that do not parse are skipped and
 * counted in *ret_bad. */
int volume_table_load(VolumeTable *t, size_t *ret_bad);

/*
 * Marks `volume_id` busy and returns its record: the published one, or a new
 * placeholder (published = false). -EBUSY when another operation holds it.
 */
int volume_table_acquire(VolumeTable *t, const char *volume_id, VolumeRecord **ret);
/* Clears busy; with `drop` the record leaves the table and is freed. */
void volume_table_release(VolumeTable *t, VolumeRecord *r, bool drop);
size_t volume_table_count(VolumeTable *t);

/* <state-dir>/volumes/<key> and .../mnt (malloc'd). */
char *volume_record_dir(const VolumeTable *t, const VolumeRecord *r);
char *volume_record_mount_dir(const VolumeTable *t, const VolumeRecord *r);

/* Writes record.json (and the token file when allowed) atomically. */
int volume_record_save(const VolumeTable *t, const VolumeRecord *r);
/* Removes the record's directory (which must no longer be a mount point). */
int volume_record_remove(const VolumeTable *t, const VolumeRecord *r);
