/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume-rotation.h - a volume's rotation state: its request groups and
 * their secrets' lifetimes, and its Vault token's lifecycle. Owned by the
 * refresher (rotation/), persisted with the record (volumes.c); nothing
 * else includes this header. Used by the holder of the volume's busy flag.
 * Times are CLOCK_REALTIME µs; 0 means "none".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault.h"
#include "volumes.h"

struct VolumeRotation {
        size_t *group_of; /* spec object index → group index (secret-set.h) */
        SecretGroup *groups;
        size_t n_groups;
        int64_t token_ttl_sec;       /* TTL at login: the renew increment */
        uint64_t token_renewed_usec; /* login or last renewal */
        uint64_t token_expires_usec; /* 0: no TTL (or unknown) */
        bool token_renewable;
        bool token_final;          /* renewal cannot extend it: log in again before expiry */
        bool token_dead;           /* expired or revoked: log in again with a new pod JWT */
        bool token_verify;         /* restored from disk: look it up first */
        uint64_t token_retry_usec; /* a failed renewal/login: not again before (memory) */
        VaultToken *old_token;     /* replaced; revoked once its credentials are replaced */
        uint64_t state_gen;        /* bumped whenever a refresh changed the record */
        bool budget_exhausted;     /* its server's refresh budget falls short (memory) */
};
