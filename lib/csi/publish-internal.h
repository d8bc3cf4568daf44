/* SPDX-License-Identifier: Apache-2.0 */
/*
 * publish-internal.h - what the publish, republish and unpublish files share
 * (csi-publish.h has the contract). Not for other modules.
 */
#pragma once

#include "csi-publish.h"
#include "sa-token.h"

#define PUBLISH_ERRLEN 512

/* A request map (secrets, volume_context) as KeyValue pairs pointing into it. */
typedef struct KvList {
        KeyValue *kv;
        size_t n;
} KvList;

/* From a protobuf-c map entry array: every entry type has key, value. */
#define KV_LIST_FROM(entries, count, out)                                                          \
        ({                                                                                         \
                (out)->kv = calloc((count) ? (count) : 1, sizeof(KeyValue));                       \
                (out)->n = (out)->kv ? (count) : 0;                                                \
                for (size_t _i = 0; (out)->kv && _i < (count); _i++)                               \
                        (out)->kv[_i] = (KeyValue){ (entries)[_i]->key, (entries)[_i]->value };    \
                (out)->kv ? 0 : -ENOMEM;                                                           \
        })
void kv_done(KvList *l);

static inline const PublishOps *publish_ops(const Publisher *p) {
        return p->ops ? p->ops : &publish_ops_real;
}

int capability_access_mode(const Csi__V1__VolumeCapability *cap);
const char *capability_mount_group(const Csi__V1__VolumeCapability *cap);
const char *capability_fs_type(const Csi__V1__VolumeCapability *cap);

/* Revokes a Vault token, logging (never failing) when Vault says no. */
void publish_revoke_quietly(Publisher *p, const VaultServerConfig *server, const VaultToken *token,
                            const char *volume_id);
/* Unmounts if mounted; a busy mount is detached lazily with a warning. */
int publish_umount(Publisher *p, const char *path, const char *what, const char *volume_id,
                   char *err, size_t errlen);
/*
 * Unmounts our mount at `path`, recognised by the id recorded when we made
 * it (no mount table read); a busy one is detached lazily with a warning.
 * Another mount there is left alone: MOUNT_E_NOT_OURS. Without a recorded
 * id (a record of an older version) it falls back to publish_umount() of
 * whatever is mounted there.
 */
int publish_umount_ours(Publisher *p, const char *path, uint64_t mnt_id, const char *what,
                        const char *volume_id, char *err, size_t errlen);

/* Whether target_path (no symlink on the way, under the roots) is a bind of
 * the mount at `ours` (same device): what a crash left between bind and save. */
bool publish_target_is_bind_of(Publisher *p, const char *target, const char *ours);

/*
 * What a publish that never finished left mounted, ours only: the bind at
 * `target` (by its recorded id, or for lack of one when it is a bind of the
 * tmpfs at `mnt`), then the tmpfs at the volume's own state path `mnt`.
 * 0, or what publish_umount_ours() said, with err set.
 */
int publish_undo_mounts(Publisher *p, VolumeRecord *rec, const char *target, const char *mnt,
                        char *err, size_t errlen);

/* The first publish of a volume the caller holds (rec->published false). */
void publish_first(Publisher *p, VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
                   const KvList *secrets, const KvList *ctx, CsiStatus *st, bool *ret_keep);

/* kubelet's requiresRepublish for a volume the caller holds; true when a
 * refresh should run now (after the caller released it). */
bool republish(Publisher *p, VolumeRecord *rec, const Csi__V1__NodePublishVolumeRequest *req,
               const KvList *secrets, const KvList *ctx, CsiStatus *st);
/* A republish that found the volume busy (with a refresh: store the JWT). */
void republish_while_refreshing(Publisher *p, const Csi__V1__NodePublishVolumeRequest *req,
                                const KvList *secrets, const KvList *ctx, CsiStatus *st);
/* OK, or UNAVAILABLE while the volume is stale (see csi-publish.h). */
void republish_answer(Publisher *p, const char *volume_id, CsiStatus *st);
