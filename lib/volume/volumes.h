/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volumes.h - the published volumes: an in-memory table with a per-volume
 * "operation in flight" flag (a concurrent publish/unpublish of the same
 * volume gets ABORTED; the refresh thread takes the same flag for one
 * refresh), and their state in the state dir so that a restarted daemon can
 * still unpublish (and revoke) what it published and keep refreshing it.
 *
 * State dir layout:
 *   <state-dir>/volumes/<key>/record.json   volume id, target, server, the
 *                                           ids of our two mounts, the
 *                                           non-secret volume attributes and
 *                                           the rotation state (0600)
 *   <state-dir>/volumes/<key>/token         the Vault token (0600), only when
 *                                           the state dir is a tmpfs
 *   <state-dir>/volumes/<key>/objects       the `objects` attribute (0600),
 *                                           only when the state dir is a
 *                                           tmpfs: it may carry secretArgs
 *   <state-dir>/volumes/<key>/mnt           the volume's private tmpfs
 * <key> is the volume id itself when it is a safe file name ([A-Za-z0-9._-],
 * at most 200 bytes, no leading '.') that does not start with "h-"; every
 * other id (unsafe, or starting with "h-") gets "h-" + the hex sha256 of the
 * id. The two forms cannot meet: a literal id "h-<sha256 of another id>" is
 * hashed too. State dirs written before "h-" was reserved still load (a
 * record keeps the directory it was loaded from); should such a legacy
 * directory hold the hashed key of another id, that id gets "h-<sha256>-<n>".
 *
 * The `objects` attribute is the one attribute that may hold secrets
 * (secretArgs values), so it never goes to record.json: it is kept like the
 * Vault token, and when the state dir is not a tmpfs it is kept in memory
 * only and re-derived from the next republish after a restart (the volume
 * waits for it, as it waits for a pod token).
 *
 * Locking: the table is thread-safe. A record's fields belong to the thread
 * that holds its busy flag (an RPC or the refresh thread), except the ones
 * marked "table lock", which anyone reaches through the accessors below
 * (a republish stores the newest pod JWT while a refresh is running). The
 * fields set by the first publish (target_path ... mount_group) never
 * change afterwards. Never logs above debug.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "secret.h"
#include "vault.h"
#include "volume-spec.h"

/* What a Vault response holds decides how it is kept fresh (refresh.h). */
typedef enum SecretKind {
        SECRET_KIND_KV,    /* re-read every refreshInterval (KV v1, anything without a lease) */
        SECRET_KIND_KV2,   /* the same, but unchanged when metadata.version is */
        SECRET_KIND_LEASE, /* dynamic: renewed at 2/3 of its lease, replaced at its max TTL */
        SECRET_KIND_PKI,   /* a certificate: re-issued at 2/3 of its lifetime */
        _SECRET_KIND_MAX,
        _SECRET_KIND_INVALID = -EINVAL,
} SecretKind;

const char *secret_kind_to_string(SecretKind k);
SecretKind secret_kind_from_string(const char *s);

/*
 * One Vault request of a volume (objects with the same method, path and
 * secretArgs share it, like the publish-time request cache) and what its
 * last response said. Times are CLOCK_REALTIME microseconds (they survive a
 * restart); 0 means "none".
 */
typedef struct SecretGroup {
        SecretKind kind;
        size_t first_object;   /* index of its first object in the spec */
        int64_t version;       /* KV v2 metadata.version */
        char *lease_id;        /* LEASE */
        int64_t lease_ttl_sec; /* lease duration when issued: the renew increment */
        bool renewable;
        bool final;            /* cannot be extended any more: replace before expiry */
        bool replace;          /* fetch a new one at the next refresh (new token...) */
        uint64_t issued_usec;  /* fetched (PKI: max(notBefore, fetched)) */
        uint64_t renewed_usec; /* last fetch or renewal */
        uint64_t expires_usec; /* lease end or notAfter */
        uint64_t due_usec;     /* next action */
        bool failing;          /* the last attempt failed */
} SecretGroup;

typedef enum VolumeState {
        VOLUME_STATE_OK,
        VOLUME_STATE_FAILING, /* refreshes fail; every secret still within its lifetime */
        VOLUME_STATE_STALE,   /* refreshes fail and a secret is past its expiry */
        VOLUME_STATE_WAITING, /* no usable Vault token: waiting for a republish's pod token */
        _VOLUME_STATE_MAX,
} VolumeState;

const char *volume_state_to_string(VolumeState s);

#define VOLUME_ERROR_MAX 512

/* Rotation status of a volume (table lock). Times as in SecretGroup. */
typedef struct VolumeHealth {
        VolumeState state;
        uint64_t last_success_usec;
        uint64_t last_attempt_usec;
        uint64_t next_refresh_usec;
        uint64_t earliest_expiry_usec;
        uint64_t stale_after_usec;              /* see refresh_stale_after() */
        unsigned failures;                      /* consecutive failed refreshes */
        char last_error[VOLUME_ERROR_MAX];      /* no secrets: Vault's capped errors[] at most */
        char error_object[OBJECT_NAME_MAX + 1]; /* the object the error or expiry is about */
        char error_path[256];                   /* its Vault path (may be cut) */
} VolumeHealth;

typedef enum VolumeBusy {
        VOLUME_BUSY_NONE,
        VOLUME_BUSY_RPC,     /* NodePublish/NodeUnpublish */
        VOLUME_BUSY_REFRESH, /* the refresh thread */
} VolumeBusy;

/* What the first publish fixed; never changes afterwards. */
typedef struct VolumeFacts {
        char *target_path;
        char *server; /* Vault server name */
        char *ns;     /* Vault namespace or NULL */
        bool readonly;
        int access_mode;
        char *fs_type;
        char *mount_group;      /* volume_mount_group or NULL */
        uint64_t tmpfs_mnt_id;  /* mount id of the private tmpfs (mount.h); 0: not known */
        uint64_t target_mnt_id; /* mount id of the read-only bind at target_path; 0: not known */
        bool target_created;    /* this daemon made the target directory */
} VolumeFacts;

/* The rotation state: the refresher's own (volume-rotation.h), opaque to
 * everyone else; persisted with the record. */
typedef struct VolumeRotation VolumeRotation;

/* What the table lock guards (volume_record_*_locked accessors). */
typedef struct VolumeLocked {
        Secret *jwt; /* the newest pod JWT (memory only) */
        int64_t jwt_expires;
        uint64_t jwt_gen; /* bumped by every new JWT */
        VolumeHealth health;
} VolumeLocked;

typedef struct VolumeRecord {
        char *volume_id;
        char *key; /* directory name under <state-dir>/volumes */
        VolumeFacts facts;
        VaultToken *token; /* the pod's Vault token, or NULL */
        char *token_accessor;
        bool published; /* fully published (false: placeholder while publishing) */
        bool intent;    /* a publish in progress was recorded (write-ahead): after a
                         * crash the next start undoes what it did */
        /* the state dir already holds this token / these objects: a save
         * rewrites only record.json (set by volume_record_save(), cleared by
         * volume_record_set_token() and volume_record_set_attributes()) */
        bool token_saved;
        bool objects_saved;
        /* the state dir held open by its busy holder (a publish, from its
         * mkdir to its end) so that its saves share one descriptor */
        bool dir_held;
        int dir_fd;
        bool busy;
        VolumeBusy busy_by;

        /* What the pod asked for, kept to refresh it (and to rebuild it after a
         * restart): the volume attributes but the token key and `objects`,
         * which lives in a Secret because of secretArgs. */
        KeyValue *attrs; /* owned strings */
        size_t n_attrs;
        Secret *objects_attr; /* until saved and parsed (then the spec has it), else NULL */
        VolumeSpec *spec;     /* parsed from the above; NULL until available */

        VolumeRotation *rot; /* never NULL */
        VolumeLocked locked; /* table lock */
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

/* The ids of every recorded publish that never finished (a crash between its
 * first side effect and its last save): the start undoes them first. */
int volume_table_list_intents(VolumeTable *t, char ***ret, size_t *ret_n);

/*
 * Claims `target` for `r` (busy holder, not yet published): -EEXIST with
 * *ret_owner (a copy of the other volume's id) when another volume is
 * published at it or is being published there. -ENOMEM.
 */
int volume_table_claim_target(VolumeTable *t, VolumeRecord *r, const char *target,
                              char **ret_owner);

/* The ids of every published volume (malloc'd array of malloc'd strings). */
int volume_table_list(VolumeTable *t, char ***ret, size_t *ret_n);

/*
 * Marks `volume_id` busy (for an RPC) and returns its record: the published
 * one, or a new placeholder (published = false). -EBUSY when another
 * operation holds it.
 */
int volume_table_acquire(VolumeTable *t, const char *volume_id, VolumeRecord **ret);
/* The same for the refresh thread: -ENOENT when there is no published record. */
int volume_table_acquire_refresh(VolumeTable *t, const char *volume_id, VolumeRecord **ret);
/* Clears busy; with `drop` the record leaves the table and is freed. */
void volume_table_release(VolumeTable *t, VolumeRecord *r, bool drop);
size_t volume_table_count(VolumeTable *t);

/*
 * Runs fn(record, userdata) under the table lock when `volume_id` is
 * published and busy with a refresh (a republish that must not wait). fn
 * may read the fields set by the first publish and use the locked fields
 * directly. Returns fn's result, -ENOENT (no published record), or -EBUSY
 * (not busy with a refresh: busy with an RPC, or not busy at all).
 */
int volume_table_with_refreshing(VolumeTable *t, const char *volume_id,
                                 int (*fn)(VolumeRecord *r, void *userdata), void *userdata);

/* <state-dir>/volumes/<key> and .../mnt (malloc'd). */
char *volume_record_dir(const VolumeTable *t, const VolumeRecord *r);
char *volume_record_mount_dir(const VolumeTable *t, const VolumeRecord *r);
int volume_record_open_tmpfs(const VolumeTable *t, const VolumeRecord *r);
#define VOLUME_TMPFS_GONE                                                                          \
        "the volume's tmpfs is not mounted any more (a restart interrupted its unpublish): "       \
        "nothing is written until kubelet unpublishes it"

/* Writes record.json (and the token and objects files when allowed) atomically. */
int volume_record_save(const VolumeTable *t, VolumeRecord *r);
/*
 * Keeps the record's state dir open until volume_record_release_dir(), for
 * the saves of one operation (the caller holds the busy flag). Only an
 * optimisation: when it fails (-errno), each save opens the dir itself.
 * Never holds a dir on a mount the operation may unmount.
 */
int volume_record_hold_dir(const VolumeTable *t, VolumeRecord *r);
void volume_record_release_dir(VolumeRecord *r);
void volume_record_set_token(VolumeRecord *r, VaultToken *token);
/* Removes the record's directory (which must no longer be a mount point). */
int volume_record_remove(const VolumeTable *t, const VolumeRecord *r);

/*
 * Keeps a copy of the volume attributes (the request's volume_context)
 * without the service-account token key and without the kubelet keys
 * (csi.storage.k8s.io/...) the spec ignores; `objects` goes into a Secret.
 * Busy holder only. -ENOMEM.
 */
int volume_record_set_attributes(VolumeRecord *r, const KeyValue *context, size_t n);
/* A KeyValue array (malloc'd; the strings stay the record's) for
 * volume_spec_parse(). -ENODATA when the attributes are not known. */
int volume_record_attributes(const VolumeRecord *r, KeyValue **ret, size_t *ret_n);
/* The volume's fsGroup (volume_mount_group), or (gid_t)-1. */
gid_t volume_record_gid(const VolumeRecord *rec);
/* Frees the rotation state (groups and mapping). */
void volume_record_clear_groups(VolumeRecord *r);
/* Forgets which object belongs to which group (kept state is matched
 * against the spec again at the next refresh). */
void volume_record_regroup(VolumeRecord *r);
/* Whether the volume's Vault token is known to be expired or revoked. */
bool volume_record_token_dead(const VolumeRecord *r);
/* The replaced Vault token still waiting to be revoked (caller owns it). */
VaultToken *volume_record_take_old_token(VolumeRecord *r);

/* Locked accessors. set_jwt takes ownership of jwt. */
void volume_record_set_jwt(VolumeTable *t, VolumeRecord *r, Secret *jwt, int64_t expires);
int volume_record_dup_jwt(VolumeTable *t, VolumeRecord *r, Secret **ret, int64_t *ret_expires,
                          uint64_t *ret_gen);
void volume_record_set_health(VolumeTable *t, VolumeRecord *r, const VolumeHealth *h);
void volume_record_get_health(VolumeTable *t, VolumeRecord *r, VolumeHealth *ret);
/* The same by id, for callers that do not hold the record. -ENOENT. */
int volume_table_get_health(VolumeTable *t, const char *volume_id, VolumeHealth *ret);
