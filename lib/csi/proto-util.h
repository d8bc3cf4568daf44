/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto-util.h - generic walks over protobuf-c messages via their descriptors.
 * Never logs; thread-safe (no shared state).
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Wipes every string and bytes value in a message tree, nested messages,
 * repeated fields and map entries included (request `secrets` maps). */
void proto_wipe_strings(ProtobufCMessage *m);

/*
 * proto3 requires string fields to hold valid UTF-8; protobuf-c does not
 * check it (Go's gRPC, kubelet's, does). Returns 0, or -EILSEQ and the name
 * of the first offending field in *ret_field.
 */
int proto_check_utf8(const ProtobufCMessage *m, const char **ret_field);

/* The version of the protobuf-c library loaded at run time ("1.4.1"). */
const char *proto_library_version(void);

/*
 * The same check on the request as sent, plus what the unpacked message can
 * no longer show: protobuf-c hands out string fields as NUL-terminated C
 * strings, so "a\0b" would silently become "a". Walks the wire bytes with the
 * descriptor `d` (nested messages and map entries included, unknown fields
 * skipped) and checks every string field at its wire length. Returns 0;
 * -EILSEQ (not UTF-8) or -EINVAL (a NUL byte) with the field's path in
 * *ret_field ("volume_context.value"; valid until the next call on this
 * thread); or -EBADMSG for bytes that are not a protobuf message.
 */
int proto_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                     const char **ret_field);
