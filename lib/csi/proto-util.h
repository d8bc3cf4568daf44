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

/* True when `s` (n bytes) is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);

/*
 * proto3 requires string fields to hold valid UTF-8; protobuf-c does not
 * check it (Go's gRPC, kubelet's, does). Returns 0, or -EILSEQ and the name
 * of the first offending field in *ret_field.
 */
int proto_check_utf8(const ProtobufCMessage *m, const char **ret_field);

/* The version of the protobuf-c library loaded at run time ("1.4.1"). */
const char *proto_library_version(void);
