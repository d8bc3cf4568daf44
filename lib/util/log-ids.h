/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log-ids.h - MESSAGE_ID values of the events a node admin filters on.
 *
 * journald's MESSAGE_ID= is a 128-bit id written as 32 lower-case hex
 * digits. Each id below was generated once (from
 * /proc/sys/kernel/random/uuid, dashes removed) and is fixed forever: admins
 * put them in scripts and alerting rules (`journalctl MESSAGE_ID=...`).
 * Never reuse an id for a different event; add a new one instead.
 *
 * Pass them as a LogField: { "MESSAGE_ID", LOG_MESSAGE_PUBLISH_FAILED }.
 * The stderr format carries them too (MESSAGE_ID=...).
 *
 * Header only; no state.
 */
#pragma once

/* NodePublishVolume or NodeUnpublishVolume answered OK (CSI_METHOD says which). */
#define LOG_MESSAGE_PUBLISH_OK "3f27ff6f21e9498fa6fb23db6cb10c8c"
/* NodePublishVolume or NodeUnpublishVolume answered an error (GRPC_CODE says which). */
#define LOG_MESSAGE_PUBLISH_FAILED "5355695f2acd4166bc75ed17aaff056a"
/* Refreshing a published volume's secrets failed (the old content stays). */
#define LOG_MESSAGE_ROTATION_FAILED "4269a0acc3ba4dd38dfae89f8b22e51d"
/* A published secret is past its refresh deadline (lease or TTL) and still not renewed. */
#define LOG_MESSAGE_SECRET_STALE "b88a2a87867b485cb0eb9a3d9d7f2928"
/* A volume that had rotation failures or stale secrets is current again. */
#define LOG_MESSAGE_RECOVERED "ad453106c14946a9968acf6227d02333"
/* Vault denied sys/leases/revoke (403): replaced leases expire with their TTL (once per server). */
#define LOG_MESSAGE_LEASE_REVOKE_DENIED "2436f50e71b74dfea30b0ac4bb4abf88"
/* A Vault server's refresh budget stopped (or started again) keeping every volume's credentials
 * valid (REFRESH_BUDGET=exhausted|enough). */
#define LOG_MESSAGE_REFRESH_BUDGET "56925955cf7c40f2a238fe1609af82da"
