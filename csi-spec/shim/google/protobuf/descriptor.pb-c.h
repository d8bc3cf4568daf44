/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Empty stand-in for the protoc-c output of google/protobuf/descriptor.proto.
 *
 * csi.proto imports descriptor.proto only to declare the `csi_secret`
 * FieldOptions extension. protoc-c generates no code for extensions, but its
 * header for csi.proto still includes this file, and Debian's libprotobuf-c
 * does not install it. Nothing from descriptor.proto is referenced by the
 * generated csi code: if that ever changes, the build fails on the missing
 * symbol rather than silently misbehaving.
 */
#pragma once
