/* SPDX-License-Identifier: Apache-2.0 */
/*
 * redact.h - protobuf-c messages as one line of text with secrets stripped,
 * for debug logging of gRPC requests and responses.
 *
 * The walk is generic: it follows the protobuf-c descriptors (field names,
 * nested messages, repeated fields, oneofs, maps as {key: value}), so it
 * needs no change when the .proto grows. What it never prints:
 *
 *  - a field listed in the secret-field table (generated at build time from
 *    the `[(csi_secret) = true]` marks, see csi-spec/secret-fields.h): the
 *    whole value, map keys included, becomes REDACT_MARKER;
 *  - VolumeCapability.MountVolume.mount_flags (the CSI spec says they may
 *    hold sensitive data);
 *  - in `volume_context` / `publish_context` maps: the value of
 *    `csi.storage.k8s.io/serviceAccount.tokens` (kubelet's pre-1.35 token
 *    path; pod authors can plant the key too) and of every key that is not
 *    a known, non-secret volume attribute (keys are shown, so an admin sees
 *    what was sent). The `objects` attribute is parsed as YAML and shown
 *    with the values of `secretArgs` and of unknown object keys stripped;
 *  - the content of unknown fields (a newer CO may send a secret field our
 *    .proto does not know): only their field numbers;
 *  - the content of bytes fields: only their length.
 *
 * Strings are double-quoted with C-style escapes (control bytes and invalid
 * UTF-8 as \xHH), so the text is a single line. Output is bounded by the
 * buffer; a cut ends in "...".
 *
 * The token-shape scrubber in log.c is a second, independent line of
 * defence; this module is the main mechanism.
 *
 * Never logs; no shared state; thread-safe.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "secret-fields.h"

#define REDACT_MARKER "***stripped***"
/* The kubelet key holding service-account tokens (JSON), in volume_context or secrets. */
#define REDACT_TOKENS_KEY "csi.storage.k8s.io/serviceAccount.tokens"
/* A buffer size that fits a typical NodePublishVolumeRequest and a log record. */
#define REDACT_TEXT_MAX 3072
/* Nesting beyond this is shown as {...} (protects the stack; CSI nests 3 deep). */
#define REDACT_DEPTH_MAX 16

/*
 * Writes the text form of `m` to buf (always NUL-terminated when size > 0).
 * `secret_fields` is the table of fields to strip (csi_secret_fields, or a
 * test's own table); the built-in rules above apply in addition.
 * Returns the length of the text; when the text did not fit it was cut and
 * ends in "...". A NULL message is written as "null".
 */
size_t redact_message(const ProtobufCMessage *m, const CsiSecretField *secret_fields,
                      size_t n_secret_fields, char *buf, size_t size);

/* True when a volume attribute's value may be shown (known and not secret). */
bool redact_volume_attribute_shown(const char *key);
