/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-golden.c - wire bytes of every CSI message vaultmount uses, written
 * by hand from the field tables in docs/csi-facts.md section 1.
 *
 * Our client and our server both use csi-spec/csi.proto, so a wrong field
 * number or type there would pass every round-trip test and still break
 * kubelet. Here each message is built with protobuf-c with every field set
 * to a distinctive value, packed, and compared with bytes written by hand;
 * then the hand-written bytes are unpacked and every field is checked.
 *
 * Reading the hex: a tag byte is (field_number << 3) | wire_type, with wire
 * type 0 = varint (bool, enum, int64) and 2 = length-delimited (string,
 * message, map entry). Tags used: field 1: 08/0a, 2: 10/12, 3: 18/1a,
 * 4: 20/22, 5: 28/2a, 6: 30/32, 7: 38/3a, 8: 40/42. A map<string,string>
 * is a repeated nested message {key = 1 (0a), value = 2 (12)}. proto3 does
 * not encode zero/empty scalars, so no value below is 0, "" or false
 * unless the point is to show that it is left out. Every comment names the
 * field number, the wire type and the field, for checking against the facts
 * file.
 */
#undef NDEBUG
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi-service.h"
#include "csi.pb-c.h"

#include <check.h>

#include "testutil.h"

#define S(x) ((char *)(x))

/* Every map entry type protobuf-c generates has this layout. */
typedef struct KV {
        ProtobufCMessage base;
        char *key;
        char *value;
} KV;

static void check_kv(const void *entry, const char *key, const char *value) {
        const KV *kv = entry;
        ck_assert_str_eq(kv->key, key);
        ck_assert_str_eq(kv->value, value);
}

/* ------------------------------------------------------------------------ */
/* BoolValue (stand-in for google.protobuf.BoolValue): value = 1 bool        */

static const char hex_bool_value[] = "08 01"; /* 1 value, varint: true */

static ProtobufCMessage *build_bool_value(void) {
        static Csi__V1__BoolValue m;
        m = (Csi__V1__BoolValue)CSI__V1__BOOL_VALUE__INIT;
        m.value = 1;
        return &m.base;
}

static void check_bool_value(const ProtobufCMessage *b) {
        const Csi__V1__BoolValue *m = (const void *)b;
        ck_assert_int_eq(m->value, 1);
}

/* ------------------------------------------------------------------------ */
/* GetPluginInfoResponse: name = 1 string, vendor_version = 2 string,       */
/* manifest = 3 map<string,string>                                          */

static const char hex_get_plugin_info_response[] =
        "0a 05 63 73 69 2e 78" /* 1 name, LD(5): "csi.x" */
        "12 03 31 2e 32"       /* 2 vendor_version, LD(3): "1.2" */
        "1a 06"                /* 3 manifest entry, LD(6): */
        "   0a 01 6b"          /*   1 key, LD(1): "k" */
        "   12 01 76"          /*   2 value, LD(1): "v" */
        "1a 08"                /* 3 manifest entry, LD(8): */
        "   0a 02 6b 32"       /*   1 key, LD(2): "k2" */
        "   12 02 76 32";      /*   2 value, LD(2): "v2" */

static ProtobufCMessage *build_get_plugin_info_response(void) {
        static Csi__V1__GetPluginInfoResponse m;
        static Csi__V1__GetPluginInfoResponse__ManifestEntry e1, e2;
        static Csi__V1__GetPluginInfoResponse__ManifestEntry *ev[2];
        m = (Csi__V1__GetPluginInfoResponse)CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;
        e1 = (Csi__V1__GetPluginInfoResponse__ManifestEntry)
                CSI__V1__GET_PLUGIN_INFO_RESPONSE__MANIFEST_ENTRY__INIT;
        e2 = e1;
        e1.key = S("k");
        e1.value = S("v");
        e2.key = S("k2");
        e2.value = S("v2");
        ev[0] = &e1;
        ev[1] = &e2;
        m.name = S("csi.x");
        m.vendor_version = S("1.2");
        m.n_manifest = 2;
        m.manifest = ev;
        return &m.base;
}

static void check_get_plugin_info_response(const ProtobufCMessage *b) {
        const Csi__V1__GetPluginInfoResponse *m = (const void *)b;
        ck_assert_str_eq(m->name, "csi.x");
        ck_assert_str_eq(m->vendor_version, "1.2");
        ck_assert_uint_eq(m->n_manifest, 2);
        check_kv(m->manifest[0], "k", "v");
        check_kv(m->manifest[1], "k2", "v2");
}

/* ------------------------------------------------------------------------ */
/* GetPluginCapabilitiesResponse: capabilities = 1 repeated PluginCapability */
/* PluginCapability: oneof type { service = 1, volume_expansion = 2 }        */
/* Service.type = 1 enum (CONTROLLER_SERVICE 1, VOLUME_ACCESSIBILITY_        */
/* CONSTRAINTS 2, GROUP_CONTROLLER_SERVICE 3, SNAPSHOT_METADATA_SERVICE 4);  */
/* VolumeExpansion.type = 1 enum (ONLINE 1, OFFLINE 2)                       */

static const char hex_get_plugin_capabilities_response[] =
        "0a 04"        /* 1 capabilities[0], LD(4): PluginCapability */
        "   0a 02"     /*   1 service, LD(2): */
        "      08 01"  /*     1 type, varint: CONTROLLER_SERVICE */
        "0a 04"        /* 1 capabilities[1], LD(4): */
        "   0a 02"     /*   1 service, LD(2): */
        "      08 02"  /*     1 type, varint: VOLUME_ACCESSIBILITY_CONSTRAINTS */
        "0a 04"        /* 1 capabilities[2], LD(4): */
        "   0a 02"     /*   1 service, LD(2): */
        "      08 04"  /*     1 type, varint: SNAPSHOT_METADATA_SERVICE */
        "0a 04"        /* 1 capabilities[3], LD(4): */
        "   12 02"     /*   2 volume_expansion, LD(2): */
        "      08 02"; /*     1 type, varint: OFFLINE */

static ProtobufCMessage *build_get_plugin_capabilities_response(void) {
        static Csi__V1__GetPluginCapabilitiesResponse m;
        static Csi__V1__PluginCapability c[4], *cv[4];
        static Csi__V1__PluginCapability__Service s[3];
        static Csi__V1__PluginCapability__VolumeExpansion ve;
        static const int types[3] = { 1, 2, 4 };
        m = (Csi__V1__GetPluginCapabilitiesResponse)CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
        for (int i = 0; i < 3; i++) {
                s[i] = (Csi__V1__PluginCapability__Service)
                        CSI__V1__PLUGIN_CAPABILITY__SERVICE__INIT;
                s[i].type = (Csi__V1__PluginCapability__Service__Type)types[i];
                c[i] = (Csi__V1__PluginCapability)CSI__V1__PLUGIN_CAPABILITY__INIT;
                c[i].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
                c[i].service = &s[i];
                cv[i] = &c[i];
        }
        ve = (Csi__V1__PluginCapability__VolumeExpansion)
                CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__INIT;
        ve.type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__OFFLINE;
        c[3] = (Csi__V1__PluginCapability)CSI__V1__PLUGIN_CAPABILITY__INIT;
        c[3].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
        c[3].volume_expansion = &ve;
        cv[3] = &c[3];
        m.n_capabilities = 4;
        m.capabilities = cv;
        return &m.base;
}

static void check_get_plugin_capabilities_response(const ProtobufCMessage *b) {
        const Csi__V1__GetPluginCapabilitiesResponse *m = (const void *)b;
        ck_assert_uint_eq(m->n_capabilities, 4);
        ck_assert_int_eq(m->capabilities[0]->type_case, CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE);
        ck_assert_int_eq(m->capabilities[0]->service->type,
                         CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE);
        ck_assert_int_eq(m->capabilities[1]->type_case, CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE);
        ck_assert_int_eq(
                m->capabilities[1]->service->type,
                CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS);
        ck_assert_int_eq(m->capabilities[2]->service->type,
                         CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__SNAPSHOT_METADATA_SERVICE);
        ck_assert_int_eq(m->capabilities[3]->type_case,
                         CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION);
        ck_assert_int_eq(m->capabilities[3]->volume_expansion->type,
                         CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__OFFLINE);
}

/* PluginCapability on its own, the volume_expansion arm (field 2) */
static const char hex_plugin_capability[] = "12 02"     /* 2 volume_expansion, LD(2): */
                                            "   08 01"; /*   1 type, varint: ONLINE */

static ProtobufCMessage *build_plugin_capability(void) {
        static Csi__V1__PluginCapability m;
        static Csi__V1__PluginCapability__VolumeExpansion ve;
        ve = (Csi__V1__PluginCapability__VolumeExpansion)
                CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__INIT;
        ve.type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
        m = (Csi__V1__PluginCapability)CSI__V1__PLUGIN_CAPABILITY__INIT;
        m.type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
        m.volume_expansion = &ve;
        return &m.base;
}

static void check_plugin_capability(const ProtobufCMessage *b) {
        const Csi__V1__PluginCapability *m = (const void *)b;
        ck_assert_int_eq(m->type_case, CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION);
        ck_assert_int_eq(m->volume_expansion->type,
                         CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE);
}

static const char hex_plugin_capability_service[] =
        "08 03"; /* 1 type, varint: GROUP_CONTROLLER_SERVICE */

static ProtobufCMessage *build_plugin_capability_service(void) {
        static Csi__V1__PluginCapability__Service m;
        m = (Csi__V1__PluginCapability__Service)CSI__V1__PLUGIN_CAPABILITY__SERVICE__INIT;
        m.type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__GROUP_CONTROLLER_SERVICE;
        return &m.base;
}

static void check_plugin_capability_service(const ProtobufCMessage *b) {
        const Csi__V1__PluginCapability__Service *m = (const void *)b;
        ck_assert_int_eq(m->type, 3);
}

static const char hex_plugin_capability_volume_expansion[] = "08 02"; /* 1 type, varint: OFFLINE */

static ProtobufCMessage *build_plugin_capability_volume_expansion(void) {
        static Csi__V1__PluginCapability__VolumeExpansion m;
        m = (Csi__V1__PluginCapability__VolumeExpansion)
                CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__INIT;
        m.type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__OFFLINE;
        return &m.base;
}

static void check_plugin_capability_volume_expansion(const ProtobufCMessage *b) {
        const Csi__V1__PluginCapability__VolumeExpansion *m = (const void *)b;
        ck_assert_int_eq(m->type, 2);
}

/* ------------------------------------------------------------------------ */
/* ProbeResponse: ready = 1 BoolValue                                        */

static const char hex_probe_response[] = "0a 02"     /* 1 ready, LD(2): BoolValue */
                                         "   08 01"; /*   1 value, varint: true */

static ProtobufCMessage *build_probe_response(void) {
        static Csi__V1__ProbeResponse m;
        static Csi__V1__BoolValue ready;
        ready = (Csi__V1__BoolValue)CSI__V1__BOOL_VALUE__INIT;
        ready.value = 1;
        m = (Csi__V1__ProbeResponse)CSI__V1__PROBE_RESPONSE__INIT;
        m.ready = &ready;
        return &m.base;
}

static void check_probe_response(const ProtobufCMessage *b) {
        const Csi__V1__ProbeResponse *m = (const void *)b;
        ck_assert_ptr_nonnull(m->ready);
        ck_assert_int_eq(m->ready->value, 1);
}

/* ready = false must stay distinguishable from "absent" (csi-facts 1.2):
 * the wrapper message is present, its bool is not encoded */
static const char hex_probe_response_not_ready[] =
        "0a 00"; /* 1 ready, LD(0): BoolValue{value=false} */

static ProtobufCMessage *build_probe_response_not_ready(void) {
        static Csi__V1__ProbeResponse m;
        static Csi__V1__BoolValue ready;
        ready = (Csi__V1__BoolValue)CSI__V1__BOOL_VALUE__INIT;
        m = (Csi__V1__ProbeResponse)CSI__V1__PROBE_RESPONSE__INIT;
        m.ready = &ready;
        return &m.base;
}

static void check_probe_response_not_ready(const ProtobufCMessage *b) {
        const Csi__V1__ProbeResponse *m = (const void *)b;
        ck_assert_ptr_nonnull(m->ready);
        ck_assert_int_eq(m->ready->value, 0);
}

/* ------------------------------------------------------------------------ */
/* VolumeCapability: oneof access_type { block = 1, mount = 2 },             */
/* access_mode = 3 AccessMode. MountVolume: fs_type = 1 string,              */
/* mount_flags = 2 repeated string, volume_mount_group = 3 string.           */
/* AccessMode: mode = 1 enum (1..7).                                         */

static const char hex_volume_capability_mount[] =
        "12 05"             /* 2 mount, LD(5): MountVolume */
        "   0a 03 78 66 73" /*   1 fs_type, LD(3): "xfs" */
        "1a 02"             /* 3 access_mode, LD(2): AccessMode */
        "   08 02";         /*   1 mode, varint: SINGLE_NODE_READER_ONLY */

static ProtobufCMessage *build_volume_capability_mount(void) {
        static Csi__V1__VolumeCapability m;
        static Csi__V1__VolumeCapability__MountVolume mount;
        static Csi__V1__VolumeCapability__AccessMode mode;
        mount = (Csi__V1__VolumeCapability__MountVolume)
                CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
        mount.fs_type = S("xfs");
        mode = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY;
        m = (Csi__V1__VolumeCapability)CSI__V1__VOLUME_CAPABILITY__INIT;
        m.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        m.mount = &mount;
        m.access_mode = &mode;
        return &m.base;
}

static void check_volume_capability_mount(const ProtobufCMessage *b) {
        const Csi__V1__VolumeCapability *m = (const void *)b;
        ck_assert_int_eq(m->access_type_case, CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT);
        ck_assert_str_eq(m->mount->fs_type, "xfs");
        ck_assert_uint_eq(m->mount->n_mount_flags, 0);
        ck_assert_str_eq(m->mount->volume_mount_group, "");
        ck_assert_int_eq(m->access_mode->mode, 2);
}

static const char hex_volume_capability_block[] =
        "0a 00"     /* 1 block, LD(0): BlockVolume{} */
        "1a 02"     /* 3 access_mode, LD(2): */
        "   08 04"; /*   1 mode, varint: MULTI_NODE_SINGLE_WRITER */

static ProtobufCMessage *build_volume_capability_block(void) {
        static Csi__V1__VolumeCapability m;
        static Csi__V1__VolumeCapability__BlockVolume block;
        static Csi__V1__VolumeCapability__AccessMode mode;
        block = (Csi__V1__VolumeCapability__BlockVolume)
                CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
        mode = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER;
        m = (Csi__V1__VolumeCapability)CSI__V1__VOLUME_CAPABILITY__INIT;
        m.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
        m.block = &block;
        m.access_mode = &mode;
        return &m.base;
}

static void check_volume_capability_block(const ProtobufCMessage *b) {
        const Csi__V1__VolumeCapability *m = (const void *)b;
        ck_assert_int_eq(m->access_type_case, CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
        ck_assert_ptr_nonnull(m->block);
        ck_assert_int_eq(m->access_mode->mode, 4);
}

static const char hex_mount_volume[] =
        "0a 04 65 78 74 34"       /* 1 fs_type, LD(4): "ext4" */
        "12 02 72 6f"             /* 2 mount_flags[0], LD(2): "ro" */
        "12 06 6e 6f 65 78 65 63" /* 2 mount_flags[1], LD(6): "noexec" */
        "1a 04 32 30 30 30";      /* 3 volume_mount_group, LD(4): "2000" */

static ProtobufCMessage *build_mount_volume(void) {
        static Csi__V1__VolumeCapability__MountVolume m;
        static char *flags[2];
        m = (Csi__V1__VolumeCapability__MountVolume)CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
        flags[0] = S("ro");
        flags[1] = S("noexec");
        m.fs_type = S("ext4");
        m.n_mount_flags = 2;
        m.mount_flags = flags;
        m.volume_mount_group = S("2000");
        return &m.base;
}

static void check_mount_volume(const ProtobufCMessage *b) {
        const Csi__V1__VolumeCapability__MountVolume *m = (const void *)b;
        ck_assert_str_eq(m->fs_type, "ext4");
        ck_assert_uint_eq(m->n_mount_flags, 2);
        ck_assert_str_eq(m->mount_flags[0], "ro");
        ck_assert_str_eq(m->mount_flags[1], "noexec");
        ck_assert_str_eq(m->volume_mount_group, "2000");
}

static const char hex_access_mode[] = "08 07"; /* 1 mode, varint: SINGLE_NODE_MULTI_WRITER */

static ProtobufCMessage *build_access_mode(void) {
        static Csi__V1__VolumeCapability__AccessMode m;
        m = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        m.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER;
        return &m.base;
}

static void check_access_mode(const ProtobufCMessage *b) {
        const Csi__V1__VolumeCapability__AccessMode *m = (const void *)b;
        ck_assert_int_eq(m->mode, 7);
}

/* ------------------------------------------------------------------------ */
/* Topology: segments = 1 map<string,string>                                 */

static const char hex_topology[] = "0a 0a"                /* 1 segments entry, LD(10): */
                                   "   0a 04 7a 6f 6e 65" /*   1 key, LD(4): "zone" */
                                   "   12 02 7a 31";      /*   2 value, LD(2): "z1" */

static ProtobufCMessage *build_topology(void) {
        static Csi__V1__Topology m;
        static Csi__V1__Topology__SegmentsEntry e, *ev[1];
        e = (Csi__V1__Topology__SegmentsEntry)CSI__V1__TOPOLOGY__SEGMENTS_ENTRY__INIT;
        e.key = S("zone");
        e.value = S("z1");
        ev[0] = &e;
        m = (Csi__V1__Topology)CSI__V1__TOPOLOGY__INIT;
        m.n_segments = 1;
        m.segments = ev;
        return &m.base;
}

static void check_topology(const ProtobufCMessage *b) {
        const Csi__V1__Topology *m = (const void *)b;
        ck_assert_uint_eq(m->n_segments, 1);
        check_kv(m->segments[0], "zone", "z1");
}

/* ------------------------------------------------------------------------ */
/* CapacityRange: required_bytes = 1 int64, limit_bytes = 2 int64            */
/* int64 is a plain varint: a negative value takes 10 bytes (sint64 would    */
/* zig-zag it into 1 byte), which tells the two types apart.                 */

static const char hex_capacity_range[] =
        "08 80 80 80 80 80 20"              /* 1 required_bytes, varint: 2^40 */
        "10 fe ff ff ff ff ff ff ff ff 01"; /* 2 limit_bytes, varint: -2 as int64 */

static ProtobufCMessage *build_capacity_range(void) {
        static Csi__V1__CapacityRange m;
        m = (Csi__V1__CapacityRange)CSI__V1__CAPACITY_RANGE__INIT;
        m.required_bytes = INT64_C(1) << 40;
        m.limit_bytes = -2;
        return &m.base;
}

static void check_capacity_range(const ProtobufCMessage *b) {
        const Csi__V1__CapacityRange *m = (const void *)b;
        ck_assert(m->required_bytes == INT64_C(1) << 40);
        ck_assert(m->limit_bytes == -2);
}

/* ------------------------------------------------------------------------ */
/* VolumeUsage: available = 1 int64, total = 2 int64, used = 3 int64,        */
/* unit = 4 enum (BYTES 1, INODES 2)                                         */

static const char hex_volume_usage[] = "08 ac 02"    /* 1 available, varint: 300 */
                                       "10 c0 84 3d" /* 2 total, varint: 1000000 */
                                       "18 96 01"    /* 3 used, varint: 150 */
                                       "20 02";      /* 4 unit, varint: INODES */

static ProtobufCMessage *build_volume_usage(void) {
        static Csi__V1__VolumeUsage m;
        m = (Csi__V1__VolumeUsage)CSI__V1__VOLUME_USAGE__INIT;
        m.available = 300;
        m.total = 1000000;
        m.used = 150;
        m.unit = CSI__V1__VOLUME_USAGE__UNIT__INODES;
        return &m.base;
}

static void check_volume_usage(const ProtobufCMessage *b) {
        const Csi__V1__VolumeUsage *m = (const void *)b;
        ck_assert_int_eq(m->available, 300);
        ck_assert_int_eq(m->total, 1000000);
        ck_assert_int_eq(m->used, 150);
        ck_assert_int_eq(m->unit, 2);
}

/* ------------------------------------------------------------------------ */
/* VolumeCondition: abnormal = 1 bool, message = 2 string                    */

static const char hex_volume_condition[] = "08 01"           /* 1 abnormal, varint: true */
                                           "12 03 62 61 64"; /* 2 message, LD(3): "bad" */

static ProtobufCMessage *build_volume_condition(void) {
        static Csi__V1__VolumeCondition m;
        m = (Csi__V1__VolumeCondition)CSI__V1__VOLUME_CONDITION__INIT;
        m.abnormal = 1;
        m.message = S("bad");
        return &m.base;
}

static void check_volume_condition(const ProtobufCMessage *b) {
        const Csi__V1__VolumeCondition *m = (const void *)b;
        ck_assert_int_eq(m->abnormal, 1);
        ck_assert_str_eq(m->message, "bad");
}

/* ------------------------------------------------------------------------ */
/* NodeStageVolumeRequest: volume_id = 1, publish_context = 2 map,           */
/* staging_target_path = 3, volume_capability = 4, secrets = 5 map,          */
/* volume_context = 6 map                                                    */

static const char hex_node_stage_volume_request[] =
        "0a 02 76 31"       /* 1 volume_id, LD(2): "v1" */
        "12 08"             /* 2 publish_context entry, LD(8): */
        "   0a 02 70 6b"    /*   1 key, LD(2): "pk" */
        "   12 02 70 76"    /*   2 value, LD(2): "pv" */
        "1a 04 2f 73 74 67" /* 3 staging_target_path, LD(4): "/stg" */
        "22 06"             /* 4 volume_capability, LD(6): */
        "   12 00"          /*   2 mount, LD(0): MountVolume{} */
        "   1a 02"          /*   3 access_mode, LD(2): */
        "      08 01"       /*     1 mode, varint: SINGLE_NODE_WRITER */
        "2a 08"             /* 5 secrets entry, LD(8): */
        "   0a 02 73 6b"    /*   1 key, LD(2): "sk" */
        "   12 02 73 76"    /*   2 value, LD(2): "sv" */
        "32 08"             /* 6 volume_context entry, LD(8): */
        "   0a 02 63 6b"    /*   1 key, LD(2): "ck" */
        "   12 02 63 76";   /*   2 value, LD(2): "cv" */

static ProtobufCMessage *build_node_stage_volume_request(void) {
        static Csi__V1__NodeStageVolumeRequest m;
        static Csi__V1__NodeStageVolumeRequest__PublishContextEntry pc, *pcv[1];
        static Csi__V1__NodeStageVolumeRequest__SecretsEntry se, *sev[1];
        static Csi__V1__NodeStageVolumeRequest__VolumeContextEntry vc, *vcv[1];
        static Csi__V1__VolumeCapability cap;
        static Csi__V1__VolumeCapability__MountVolume mount;
        static Csi__V1__VolumeCapability__AccessMode mode;

        pc = (Csi__V1__NodeStageVolumeRequest__PublishContextEntry)
                CSI__V1__NODE_STAGE_VOLUME_REQUEST__PUBLISH_CONTEXT_ENTRY__INIT;
        pc.key = S("pk");
        pc.value = S("pv");
        pcv[0] = &pc;
        se = (Csi__V1__NodeStageVolumeRequest__SecretsEntry)
                CSI__V1__NODE_STAGE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
        se.key = S("sk");
        se.value = S("sv");
        sev[0] = &se;
        vc = (Csi__V1__NodeStageVolumeRequest__VolumeContextEntry)
                CSI__V1__NODE_STAGE_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
        vc.key = S("ck");
        vc.value = S("cv");
        vcv[0] = &vc;
        mount = (Csi__V1__VolumeCapability__MountVolume)
                CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
        mode = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        cap = (Csi__V1__VolumeCapability)CSI__V1__VOLUME_CAPABILITY__INIT;
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        cap.mount = &mount;
        cap.access_mode = &mode;

        m = (Csi__V1__NodeStageVolumeRequest)CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
        m.volume_id = S("v1");
        m.n_publish_context = 1;
        m.publish_context = pcv;
        m.staging_target_path = S("/stg");
        m.volume_capability = &cap;
        m.n_secrets = 1;
        m.secrets = sev;
        m.n_volume_context = 1;
        m.volume_context = vcv;
        return &m.base;
}

static void check_node_stage_volume_request(const ProtobufCMessage *b) {
        const Csi__V1__NodeStageVolumeRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v1");
        ck_assert_uint_eq(m->n_publish_context, 1);
        check_kv(m->publish_context[0], "pk", "pv");
        ck_assert_str_eq(m->staging_target_path, "/stg");
        ck_assert_int_eq(m->volume_capability->access_type_case,
                         CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT);
        ck_assert_str_eq(m->volume_capability->mount->fs_type, "");
        ck_assert_int_eq(m->volume_capability->access_mode->mode, 1);
        ck_assert_uint_eq(m->n_secrets, 1);
        check_kv(m->secrets[0], "sk", "sv");
        ck_assert_uint_eq(m->n_volume_context, 1);
        check_kv(m->volume_context[0], "ck", "cv");
}

/* ------------------------------------------------------------------------ */
/* NodeUnstageVolumeRequest: volume_id = 1, staging_target_path = 2          */

static const char hex_node_unstage_volume_request[] =
        "0a 02 76 32"     /* 1 volume_id, LD(2): "v2" */
        "12 03 2f 73 32"; /* 2 staging_target_path, LD(3): "/s2" */

static ProtobufCMessage *build_node_unstage_volume_request(void) {
        static Csi__V1__NodeUnstageVolumeRequest m;
        m = (Csi__V1__NodeUnstageVolumeRequest)CSI__V1__NODE_UNSTAGE_VOLUME_REQUEST__INIT;
        m.volume_id = S("v2");
        m.staging_target_path = S("/s2");
        return &m.base;
}

static void check_node_unstage_volume_request(const ProtobufCMessage *b) {
        const Csi__V1__NodeUnstageVolumeRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v2");
        ck_assert_str_eq(m->staging_target_path, "/s2");
}

/* ------------------------------------------------------------------------ */
/* NodePublishVolumeRequest: volume_id = 1, publish_context = 2 map,         */
/* staging_target_path = 3, target_path = 4, volume_capability = 5,          */
/* readonly = 6 bool, secrets = 7 map, volume_context = 8 map                */

static const char hex_node_publish_volume_request[] =
        "0a 02 76 33"                /* 1 volume_id, LD(2): "v3" */
        "12 08"                      /* 2 publish_context entry, LD(8): */
        "   0a 02 70 6b"             /*   1 key, LD(2): "pk" */
        "   12 02 70 76"             /*   2 value, LD(2): "pv" */
        "1a 04 2f 73 74 67"          /* 3 staging_target_path, LD(4): "/stg" */
        "22 04 2f 74 67 74"          /* 4 target_path, LD(4): "/tgt" */
        "2a 0d"                      /* 5 volume_capability, LD(13): */
        "   12 07"                   /*   2 mount, LD(7): */
        "      0a 05 74 6d 70 66 73" /*     1 fs_type, LD(5): "tmpfs" */
        "   1a 02"                   /*   3 access_mode, LD(2): */
        "      08 05"                /*     1 mode, varint: MULTI_NODE_MULTI_WRITER */
        "30 01"                      /* 6 readonly, varint: true */
        "3a 08"                      /* 7 secrets entry, LD(8): */
        "   0a 02 73 6b"             /*   1 key, LD(2): "sk" */
        "   12 02 73 76"             /*   2 value, LD(2): "sv" */
        "3a 07"                      /* 7 secrets entry, LD(7): */
        "   0a 02 73 32"             /*   1 key, LD(2): "s2" */
        "   12 01 78"                /*   2 value, LD(1): "x" */
        "42 08"                      /* 8 volume_context entry, LD(8): */
        "   0a 02 63 6b"             /*   1 key, LD(2): "ck" */
        "   12 02 63 76";            /*   2 value, LD(2): "cv" */

static ProtobufCMessage *build_node_publish_volume_request(void) {
        static Csi__V1__NodePublishVolumeRequest m;
        static Csi__V1__NodePublishVolumeRequest__PublishContextEntry pc, *pcv[1];
        static Csi__V1__NodePublishVolumeRequest__SecretsEntry se[2], *sev[2];
        static Csi__V1__NodePublishVolumeRequest__VolumeContextEntry vc, *vcv[1];
        static Csi__V1__VolumeCapability cap;
        static Csi__V1__VolumeCapability__MountVolume mount;
        static Csi__V1__VolumeCapability__AccessMode mode;

        pc = (Csi__V1__NodePublishVolumeRequest__PublishContextEntry)
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__PUBLISH_CONTEXT_ENTRY__INIT;
        pc.key = S("pk");
        pc.value = S("pv");
        pcv[0] = &pc;
        se[0] = (Csi__V1__NodePublishVolumeRequest__SecretsEntry)
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
        se[1] = se[0];
        se[0].key = S("sk");
        se[0].value = S("sv");
        se[1].key = S("s2");
        se[1].value = S("x");
        sev[0] = &se[0];
        sev[1] = &se[1];
        vc = (Csi__V1__NodePublishVolumeRequest__VolumeContextEntry)
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
        vc.key = S("ck");
        vc.value = S("cv");
        vcv[0] = &vc;
        mount = (Csi__V1__VolumeCapability__MountVolume)
                CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
        mount.fs_type = S("tmpfs");
        mode = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER;
        cap = (Csi__V1__VolumeCapability)CSI__V1__VOLUME_CAPABILITY__INIT;
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        cap.mount = &mount;
        cap.access_mode = &mode;

        m = (Csi__V1__NodePublishVolumeRequest)CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        m.volume_id = S("v3");
        m.n_publish_context = 1;
        m.publish_context = pcv;
        m.staging_target_path = S("/stg");
        m.target_path = S("/tgt");
        m.volume_capability = &cap;
        m.readonly = 1;
        m.n_secrets = 2;
        m.secrets = sev;
        m.n_volume_context = 1;
        m.volume_context = vcv;
        return &m.base;
}

static void check_node_publish_volume_request(const ProtobufCMessage *b) {
        const Csi__V1__NodePublishVolumeRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v3");
        ck_assert_uint_eq(m->n_publish_context, 1);
        check_kv(m->publish_context[0], "pk", "pv");
        ck_assert_str_eq(m->staging_target_path, "/stg");
        ck_assert_str_eq(m->target_path, "/tgt");
        ck_assert_int_eq(m->volume_capability->access_type_case,
                         CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT);
        ck_assert_str_eq(m->volume_capability->mount->fs_type, "tmpfs");
        ck_assert_int_eq(m->volume_capability->access_mode->mode, 5);
        ck_assert_int_eq(m->readonly, 1);
        ck_assert_uint_eq(m->n_secrets, 2);
        check_kv(m->secrets[0], "sk", "sv");
        check_kv(m->secrets[1], "s2", "x");
        ck_assert_uint_eq(m->n_volume_context, 1);
        check_kv(m->volume_context[0], "ck", "cv");
}

/* ------------------------------------------------------------------------ */
/* NodeUnpublishVolumeRequest: volume_id = 1, target_path = 2                */

static const char hex_node_unpublish_volume_request[] =
        "0a 02 76 34"     /* 1 volume_id, LD(2): "v4" */
        "12 03 2f 74 34"; /* 2 target_path, LD(3): "/t4" */

static ProtobufCMessage *build_node_unpublish_volume_request(void) {
        static Csi__V1__NodeUnpublishVolumeRequest m;
        m = (Csi__V1__NodeUnpublishVolumeRequest)CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        m.volume_id = S("v4");
        m.target_path = S("/t4");
        return &m.base;
}

static void check_node_unpublish_volume_request(const ProtobufCMessage *b) {
        const Csi__V1__NodeUnpublishVolumeRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v4");
        ck_assert_str_eq(m->target_path, "/t4");
}

/* ------------------------------------------------------------------------ */
/* NodeGetVolumeStatsRequest: volume_id = 1, volume_path = 2,                */
/* staging_target_path = 3                                                   */

static const char hex_node_get_volume_stats_request[] =
        "0a 02 76 35"     /* 1 volume_id, LD(2): "v5" */
        "12 03 2f 70 35"  /* 2 volume_path, LD(3): "/p5" */
        "1a 03 2f 73 35"; /* 3 staging_target_path, LD(3): "/s5" */

static ProtobufCMessage *build_node_get_volume_stats_request(void) {
        static Csi__V1__NodeGetVolumeStatsRequest m;
        m = (Csi__V1__NodeGetVolumeStatsRequest)CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
        m.volume_id = S("v5");
        m.volume_path = S("/p5");
        m.staging_target_path = S("/s5");
        return &m.base;
}

static void check_node_get_volume_stats_request(const ProtobufCMessage *b) {
        const Csi__V1__NodeGetVolumeStatsRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v5");
        ck_assert_str_eq(m->volume_path, "/p5");
        ck_assert_str_eq(m->staging_target_path, "/s5");
}

/* ------------------------------------------------------------------------ */
/* NodeGetVolumeStatsResponse: usage = 1 repeated VolumeUsage,               */
/* volume_condition = 2 VolumeCondition                                      */

static const char hex_node_get_volume_stats_response[] =
        "0a 05"        /* 1 usage[0], LD(5): VolumeUsage */
        "   10 80 20"  /*   2 total, varint: 4096 */
        "   20 01"     /*   4 unit, varint: BYTES */
        "0a 08"        /* 1 usage[1], LD(8): */
        "   08 07"     /*   1 available, varint: 7 */
        "   10 09"     /*   2 total, varint: 9 */
        "   18 02"     /*   3 used, varint: 2 */
        "   20 02"     /*   4 unit, varint: INODES */
        "12 05"        /* 2 volume_condition, LD(5): */
        "   08 01"     /*   1 abnormal, varint: true */
        "   12 01 78"; /*   2 message, LD(1): "x" */

static ProtobufCMessage *build_node_get_volume_stats_response(void) {
        static Csi__V1__NodeGetVolumeStatsResponse m;
        static Csi__V1__VolumeUsage u[2], *uv[2];
        static Csi__V1__VolumeCondition cond;
        u[0] = (Csi__V1__VolumeUsage)CSI__V1__VOLUME_USAGE__INIT;
        u[1] = u[0];
        u[0].total = 4096;
        u[0].unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
        u[1].available = 7;
        u[1].total = 9;
        u[1].used = 2;
        u[1].unit = CSI__V1__VOLUME_USAGE__UNIT__INODES;
        uv[0] = &u[0];
        uv[1] = &u[1];
        cond = (Csi__V1__VolumeCondition)CSI__V1__VOLUME_CONDITION__INIT;
        cond.abnormal = 1;
        cond.message = S("x");
        m = (Csi__V1__NodeGetVolumeStatsResponse)CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
        m.n_usage = 2;
        m.usage = uv;
        m.volume_condition = &cond;
        return &m.base;
}

static void check_node_get_volume_stats_response(const ProtobufCMessage *b) {
        const Csi__V1__NodeGetVolumeStatsResponse *m = (const void *)b;
        ck_assert_uint_eq(m->n_usage, 2);
        ck_assert_int_eq(m->usage[0]->available, 0);
        ck_assert_int_eq(m->usage[0]->total, 4096);
        ck_assert_int_eq(m->usage[0]->used, 0);
        ck_assert_int_eq(m->usage[0]->unit, 1);
        ck_assert_int_eq(m->usage[1]->available, 7);
        ck_assert_int_eq(m->usage[1]->total, 9);
        ck_assert_int_eq(m->usage[1]->used, 2);
        ck_assert_int_eq(m->usage[1]->unit, 2);
        ck_assert_int_eq(m->volume_condition->abnormal, 1);
        ck_assert_str_eq(m->volume_condition->message, "x");
}

/* ------------------------------------------------------------------------ */
/* NodeExpandVolumeRequest: volume_id = 1, volume_path = 2,                  */
/* capacity_range = 3, staging_target_path = 4, volume_capability = 5,       */
/* secrets = 6 map                                                           */

static const char hex_node_expand_volume_request[] =
        "0a 02 76 36"     /* 1 volume_id, LD(2): "v6" */
        "12 03 2f 70 36"  /* 2 volume_path, LD(3): "/p6" */
        "1a 04"           /* 3 capacity_range, LD(4): */
        "   08 01"        /*   1 required_bytes, varint: 1 */
        "   10 02"        /*   2 limit_bytes, varint: 2 */
        "22 03 2f 73 36"  /* 4 staging_target_path, LD(3): "/s6" */
        "2a 06"           /* 5 volume_capability, LD(6): */
        "   0a 00"        /*   1 block, LD(0): BlockVolume{} */
        "   1a 02"        /*   3 access_mode, LD(2): */
        "      08 03"     /*     1 mode, varint: MULTI_NODE_READER_ONLY */
        "32 08"           /* 6 secrets entry, LD(8): */
        "   0a 02 73 6b"  /*   1 key, LD(2): "sk" */
        "   12 02 73 76"; /*   2 value, LD(2): "sv" */

static ProtobufCMessage *build_node_expand_volume_request(void) {
        static Csi__V1__NodeExpandVolumeRequest m;
        static Csi__V1__NodeExpandVolumeRequest__SecretsEntry se, *sev[1];
        static Csi__V1__CapacityRange cr;
        static Csi__V1__VolumeCapability cap;
        static Csi__V1__VolumeCapability__BlockVolume block;
        static Csi__V1__VolumeCapability__AccessMode mode;

        se = (Csi__V1__NodeExpandVolumeRequest__SecretsEntry)
                CSI__V1__NODE_EXPAND_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
        se.key = S("sk");
        se.value = S("sv");
        sev[0] = &se;
        cr = (Csi__V1__CapacityRange)CSI__V1__CAPACITY_RANGE__INIT;
        cr.required_bytes = 1;
        cr.limit_bytes = 2;
        block = (Csi__V1__VolumeCapability__BlockVolume)
                CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
        mode = (Csi__V1__VolumeCapability__AccessMode)CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
        cap = (Csi__V1__VolumeCapability)CSI__V1__VOLUME_CAPABILITY__INIT;
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
        cap.block = &block;
        cap.access_mode = &mode;

        m = (Csi__V1__NodeExpandVolumeRequest)CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
        m.volume_id = S("v6");
        m.volume_path = S("/p6");
        m.capacity_range = &cr;
        m.staging_target_path = S("/s6");
        m.volume_capability = &cap;
        m.n_secrets = 1;
        m.secrets = sev;
        return &m.base;
}

static void check_node_expand_volume_request(const ProtobufCMessage *b) {
        const Csi__V1__NodeExpandVolumeRequest *m = (const void *)b;
        ck_assert_str_eq(m->volume_id, "v6");
        ck_assert_str_eq(m->volume_path, "/p6");
        ck_assert_int_eq(m->capacity_range->required_bytes, 1);
        ck_assert_int_eq(m->capacity_range->limit_bytes, 2);
        ck_assert_str_eq(m->staging_target_path, "/s6");
        ck_assert_int_eq(m->volume_capability->access_type_case,
                         CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
        ck_assert_int_eq(m->volume_capability->access_mode->mode, 3);
        ck_assert_uint_eq(m->n_secrets, 1);
        check_kv(m->secrets[0], "sk", "sv");
}

/* ------------------------------------------------------------------------ */
/* NodeExpandVolumeResponse: capacity_bytes = 1 int64                        */

static const char hex_node_expand_volume_response[] =
        "08 80 80 80 80 14"; /* 1 capacity_bytes, varint: 5 GiB = 5368709120 */

static ProtobufCMessage *build_node_expand_volume_response(void) {
        static Csi__V1__NodeExpandVolumeResponse m;
        m = (Csi__V1__NodeExpandVolumeResponse)CSI__V1__NODE_EXPAND_VOLUME_RESPONSE__INIT;
        m.capacity_bytes = INT64_C(5) << 30;
        return &m.base;
}

static void check_node_expand_volume_response(const ProtobufCMessage *b) {
        const Csi__V1__NodeExpandVolumeResponse *m = (const void *)b;
        ck_assert(m->capacity_bytes == INT64_C(5368709120));
}

/* ------------------------------------------------------------------------ */
/* NodeGetCapabilitiesResponse: capabilities = 1 repeated                    */
/* NodeServiceCapability; NodeServiceCapability: oneof type { rpc = 1 };     */
/* RPC.type = 1 enum (STAGE_UNSTAGE_VOLUME 1, GET_VOLUME_STATS 2,            */
/* EXPAND_VOLUME 3, VOLUME_CONDITION 4, SINGLE_NODE_MULTI_WRITER 5,          */
/* VOLUME_MOUNT_GROUP 6)                                                     */

static const char hex_node_get_capabilities_response[] =
        "0a 04"        /* 1 capabilities[0], LD(4): */
        "   0a 02"     /*   1 rpc, LD(2): */
        "      08 01"  /*     1 type, varint: STAGE_UNSTAGE_VOLUME */
        "0a 04"        /* 1 capabilities[1], LD(4): */
        "   0a 02"     /*   1 rpc, LD(2): */
        "      08 06"  /*     1 type, varint: VOLUME_MOUNT_GROUP */
        "0a 04"        /* 1 capabilities[2], LD(4): */
        "   0a 02"     /*   1 rpc, LD(2): */
        "      08 05"; /*     1 type, varint: SINGLE_NODE_MULTI_WRITER */

static ProtobufCMessage *build_node_get_capabilities_response(void) {
        static Csi__V1__NodeGetCapabilitiesResponse m;
        static Csi__V1__NodeServiceCapability c[3], *cv[3];
        static Csi__V1__NodeServiceCapability__RPC rpc[3];
        static const int types[3] = { 1, 6, 5 };
        for (int i = 0; i < 3; i++) {
                rpc[i] = (Csi__V1__NodeServiceCapability__RPC)
                        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__INIT;
                rpc[i].type = (Csi__V1__NodeServiceCapability__RPC__Type)types[i];
                c[i] = (Csi__V1__NodeServiceCapability)CSI__V1__NODE_SERVICE_CAPABILITY__INIT;
                c[i].type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
                c[i].rpc = &rpc[i];
                cv[i] = &c[i];
        }
        m = (Csi__V1__NodeGetCapabilitiesResponse)CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;
        m.n_capabilities = 3;
        m.capabilities = cv;
        return &m.base;
}

static void check_node_get_capabilities_response(const ProtobufCMessage *b) {
        const Csi__V1__NodeGetCapabilitiesResponse *m = (const void *)b;
        ck_assert_uint_eq(m->n_capabilities, 3);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(m->capabilities[i]->type_case,
                                 CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC);
        ck_assert_int_eq(m->capabilities[0]->rpc->type,
                         CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME);
        ck_assert_int_eq(m->capabilities[1]->rpc->type,
                         CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP);
        ck_assert_int_eq(m->capabilities[2]->rpc->type,
                         CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER);
}

static const char hex_node_service_capability[] =
        "0a 02"     /* 1 rpc, LD(2): */
        "   08 02"; /*   1 type, varint: GET_VOLUME_STATS */

static ProtobufCMessage *build_node_service_capability(void) {
        static Csi__V1__NodeServiceCapability m;
        static Csi__V1__NodeServiceCapability__RPC rpc;
        rpc = (Csi__V1__NodeServiceCapability__RPC)CSI__V1__NODE_SERVICE_CAPABILITY__RPC__INIT;
        rpc.type = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS;
        m = (Csi__V1__NodeServiceCapability)CSI__V1__NODE_SERVICE_CAPABILITY__INIT;
        m.type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
        m.rpc = &rpc;
        return &m.base;
}

static void check_node_service_capability(const ProtobufCMessage *b) {
        const Csi__V1__NodeServiceCapability *m = (const void *)b;
        ck_assert_int_eq(m->type_case, CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC);
        ck_assert_int_eq(m->rpc->type, 2);
}

static const char hex_node_service_capability_rpc[] =
        "08 04"; /* 1 type, varint: VOLUME_CONDITION */

static ProtobufCMessage *build_node_service_capability_rpc(void) {
        static Csi__V1__NodeServiceCapability__RPC m;
        m = (Csi__V1__NodeServiceCapability__RPC)CSI__V1__NODE_SERVICE_CAPABILITY__RPC__INIT;
        m.type = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION;
        return &m.base;
}

static void check_node_service_capability_rpc(const ProtobufCMessage *b) {
        const Csi__V1__NodeServiceCapability__RPC *m = (const void *)b;
        ck_assert_int_eq(m->type, 4);
}

/* ------------------------------------------------------------------------ */
/* NodeGetInfoResponse: node_id = 1 string, max_volumes_per_node = 2 int64,  */
/* accessible_topology = 3 Topology                                          */

static const char hex_node_get_info_response[] =
        "0a 06 6e 6f 64 65 2d 31" /* 1 node_id, LD(6): "node-1" */
        "10 ac 02"                /* 2 max_volumes_per_node, varint: 300 */
        "1a 0c"                   /* 3 accessible_topology, LD(12): Topology */
        "   0a 0a"                /*   1 segments entry, LD(10): */
        "      0a 04 7a 6f 6e 65" /*     1 key, LD(4): "zone" */
        "      12 02 7a 31";      /*     2 value, LD(2): "z1" */

static ProtobufCMessage *build_node_get_info_response(void) {
        static Csi__V1__NodeGetInfoResponse m;
        m = (Csi__V1__NodeGetInfoResponse)CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        m.node_id = S("node-1");
        m.max_volumes_per_node = 300;
        m.accessible_topology = (Csi__V1__Topology *)build_topology();
        return &m.base;
}

static void check_node_get_info_response(const ProtobufCMessage *b) {
        const Csi__V1__NodeGetInfoResponse *m = (const void *)b;
        ck_assert_str_eq(m->node_id, "node-1");
        ck_assert_int_eq(m->max_volumes_per_node, 300);
        ck_assert_ptr_nonnull(m->accessible_topology);
        check_topology(&m->accessible_topology->base);
}

/* ------------------------------------------------------------------------ */
/* Messages without fields: they pack to zero bytes.                         */

#define EMPTY(fn, T, INIT)                                                                         \
        static ProtobufCMessage *build_##fn(void) {                                                \
                static T m;                                                                        \
                m = (T)INIT;                                                                       \
                return &m.base;                                                                    \
        }                                                                                          \
        static void check_##fn(const ProtobufCMessage *b) {                                        \
                ck_assert_uint_eq(b->n_unknown_fields, 0);                                         \
        }

EMPTY(get_plugin_info_request, Csi__V1__GetPluginInfoRequest,
      CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT)
EMPTY(get_plugin_capabilities_request, Csi__V1__GetPluginCapabilitiesRequest,
      CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT)
EMPTY(probe_request, Csi__V1__ProbeRequest, CSI__V1__PROBE_REQUEST__INIT)
EMPTY(block_volume, Csi__V1__VolumeCapability__BlockVolume,
      CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT)
EMPTY(node_stage_volume_response, Csi__V1__NodeStageVolumeResponse,
      CSI__V1__NODE_STAGE_VOLUME_RESPONSE__INIT)
EMPTY(node_unstage_volume_response, Csi__V1__NodeUnstageVolumeResponse,
      CSI__V1__NODE_UNSTAGE_VOLUME_RESPONSE__INIT)
EMPTY(node_publish_volume_response, Csi__V1__NodePublishVolumeResponse,
      CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT)
EMPTY(node_unpublish_volume_response, Csi__V1__NodeUnpublishVolumeResponse,
      CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT)
EMPTY(node_get_capabilities_request, Csi__V1__NodeGetCapabilitiesRequest,
      CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT)
EMPTY(node_get_info_request, Csi__V1__NodeGetInfoRequest, CSI__V1__NODE_GET_INFO_REQUEST__INIT)

/* ------------------------------------------------------------------------ */

typedef struct Golden {
        const char *name; /* full protobuf name, as in csi.proto upstream */
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *(*build)(void);
        void (*check)(const ProtobufCMessage *m);
        const char *hex;
        unsigned n_fields; /* field count per csi-facts */
} Golden;

#define G(name, fn, desc, nf)                                                                      \
        { name, &desc, build_##fn, check_##fn, hex_##fn, nf }
#define E(name, fn, desc)                                                                          \
        { name, &desc, build_##fn, check_##fn, "", 0 }

static const Golden golden[] = {
        /* Identity */
        E("csi.v1.GetPluginInfoRequest", get_plugin_info_request,
          csi__v1__get_plugin_info_request__descriptor),
        G("csi.v1.GetPluginInfoResponse", get_plugin_info_response,
          csi__v1__get_plugin_info_response__descriptor, 3),
        E("csi.v1.GetPluginCapabilitiesRequest", get_plugin_capabilities_request,
          csi__v1__get_plugin_capabilities_request__descriptor),
        G("csi.v1.GetPluginCapabilitiesResponse", get_plugin_capabilities_response,
          csi__v1__get_plugin_capabilities_response__descriptor, 1),
        G("csi.v1.PluginCapability", plugin_capability, csi__v1__plugin_capability__descriptor, 2),
        G("csi.v1.PluginCapability.Service", plugin_capability_service,
          csi__v1__plugin_capability__service__descriptor, 1),
        G("csi.v1.PluginCapability.VolumeExpansion", plugin_capability_volume_expansion,
          csi__v1__plugin_capability__volume_expansion__descriptor, 1),
        E("csi.v1.ProbeRequest", probe_request, csi__v1__probe_request__descriptor),
        G("csi.v1.ProbeResponse", probe_response, csi__v1__probe_response__descriptor, 1),
        G("csi.v1.ProbeResponse", probe_response_not_ready, csi__v1__probe_response__descriptor, 1),
        G("csi.v1.BoolValue", bool_value, csi__v1__bool_value__descriptor, 1),
        /* shared types */
        G("csi.v1.VolumeCapability", volume_capability_mount,
          csi__v1__volume_capability__descriptor, 3),
        G("csi.v1.VolumeCapability", volume_capability_block,
          csi__v1__volume_capability__descriptor, 3),
        E("csi.v1.VolumeCapability.BlockVolume", block_volume,
          csi__v1__volume_capability__block_volume__descriptor),
        G("csi.v1.VolumeCapability.MountVolume", mount_volume,
          csi__v1__volume_capability__mount_volume__descriptor, 3),
        G("csi.v1.VolumeCapability.AccessMode", access_mode,
          csi__v1__volume_capability__access_mode__descriptor, 1),
        G("csi.v1.Topology", topology, csi__v1__topology__descriptor, 1),
        G("csi.v1.CapacityRange", capacity_range, csi__v1__capacity_range__descriptor, 2),
        G("csi.v1.VolumeUsage", volume_usage, csi__v1__volume_usage__descriptor, 4),
        G("csi.v1.VolumeCondition", volume_condition, csi__v1__volume_condition__descriptor, 2),
        /* Node */
        G("csi.v1.NodeStageVolumeRequest", node_stage_volume_request,
          csi__v1__node_stage_volume_request__descriptor, 6),
        E("csi.v1.NodeStageVolumeResponse", node_stage_volume_response,
          csi__v1__node_stage_volume_response__descriptor),
        G("csi.v1.NodeUnstageVolumeRequest", node_unstage_volume_request,
          csi__v1__node_unstage_volume_request__descriptor, 2),
        E("csi.v1.NodeUnstageVolumeResponse", node_unstage_volume_response,
          csi__v1__node_unstage_volume_response__descriptor),
        G("csi.v1.NodePublishVolumeRequest", node_publish_volume_request,
          csi__v1__node_publish_volume_request__descriptor, 8),
        E("csi.v1.NodePublishVolumeResponse", node_publish_volume_response,
          csi__v1__node_publish_volume_response__descriptor),
        G("csi.v1.NodeUnpublishVolumeRequest", node_unpublish_volume_request,
          csi__v1__node_unpublish_volume_request__descriptor, 2),
        E("csi.v1.NodeUnpublishVolumeResponse", node_unpublish_volume_response,
          csi__v1__node_unpublish_volume_response__descriptor),
        G("csi.v1.NodeGetVolumeStatsRequest", node_get_volume_stats_request,
          csi__v1__node_get_volume_stats_request__descriptor, 3),
        G("csi.v1.NodeGetVolumeStatsResponse", node_get_volume_stats_response,
          csi__v1__node_get_volume_stats_response__descriptor, 2),
        G("csi.v1.NodeExpandVolumeRequest", node_expand_volume_request,
          csi__v1__node_expand_volume_request__descriptor, 6),
        G("csi.v1.NodeExpandVolumeResponse", node_expand_volume_response,
          csi__v1__node_expand_volume_response__descriptor, 1),
        E("csi.v1.NodeGetCapabilitiesRequest", node_get_capabilities_request,
          csi__v1__node_get_capabilities_request__descriptor),
        G("csi.v1.NodeGetCapabilitiesResponse", node_get_capabilities_response,
          csi__v1__node_get_capabilities_response__descriptor, 1),
        G("csi.v1.NodeServiceCapability", node_service_capability,
          csi__v1__node_service_capability__descriptor, 1),
        G("csi.v1.NodeServiceCapability.RPC", node_service_capability_rpc,
          csi__v1__node_service_capability__rpc__descriptor, 1),
        E("csi.v1.NodeGetInfoRequest", node_get_info_request,
          csi__v1__node_get_info_request__descriptor),
        G("csi.v1.NodeGetInfoResponse", node_get_info_response,
          csi__v1__node_get_info_response__descriptor, 3),
};

#define N_GOLDEN ((int)(sizeof(golden) / sizeof(golden[0])))

static size_t expected_bytes(const Golden *g, uint8_t *buf, size_t max) {
        size_t n = testutil_hex(g->hex, buf, max);
        ck_assert_uint_le(n, max);
        return n;
}

START_TEST(test_pack)
{
        const Golden *g = &golden[_i];
        uint8_t want[256], got[256];
        size_t nw = expected_bytes(g, want, sizeof(want));
        ProtobufCMessage *m = g->build();
        size_t ng;

        ck_assert_ptr_eq(m->descriptor, g->desc);
        ng = protobuf_c_message_get_packed_size(m);
        ck_assert_uint_le(ng, sizeof(got));
        ck_assert_uint_eq(protobuf_c_message_pack(m, got), ng);
        ck_assert_msg(ng == nw && memcmp(got, want, nw) == 0, "%s:\n  packed %s", g->name,
                      testutil_tohex(got, ng));
}
END_TEST

START_TEST(test_unpack)
{
        const Golden *g = &golden[_i];
        uint8_t want[256], again[256];
        size_t nw = expected_bytes(g, want, sizeof(want));
        ProtobufCMessage *m = protobuf_c_message_unpack(g->desc, NULL, nw, want);

        ck_assert_msg(m != NULL, "%s: hand-written bytes do not unpack", g->name);
        /* every byte was understood: nothing landed in unknown fields */
        ck_assert_uint_eq(m->n_unknown_fields, 0);
        g->check(m);
        /* and the unpacked message packs back to the same bytes */
        ck_assert_uint_eq(protobuf_c_message_pack(m, again), nw);
        ck_assert_int_eq(memcmp(again, want, nw), 0);
        protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(test_descriptor)
{
        /* full names (part of the gRPC contract only through the method
         * table, but a renamed message is a sign of a wrong edit) and field
         * counts per csi-facts section 1 */
        const Golden *g = &golden[_i];
        ck_assert_str_eq(g->desc->name, g->name);
        ck_assert_str_eq(g->desc->package_name, "csi.v1");
        ck_assert_uint_eq(g->desc->n_fields, g->n_fields);
}
END_TEST

START_TEST(test_empty_messages_pack_to_nothing)
{
        int empties = 0;
        for (int i = 0; i < N_GOLDEN; i++) {
                if (golden[i].n_fields != 0)
                        continue;
                empties++;
                ck_assert_uint_eq(protobuf_c_message_get_packed_size(golden[i].build()), 0);
        }
        ck_assert_int_eq(empties, 10);
        /* messages whose every field is at its default also pack to nothing */
        Csi__V1__NodePublishVolumeRequest p = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        Csi__V1__ProbeResponse pr = CSI__V1__PROBE_RESPONSE__INIT; /* ready absent */
        Csi__V1__NodeGetInfoResponse ir = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        ck_assert_uint_eq(protobuf_c_message_get_packed_size(&p.base), 0);
        ck_assert_uint_eq(protobuf_c_message_get_packed_size(&pr.base), 0);
        ck_assert_uint_eq(protobuf_c_message_get_packed_size(&ir.base), 0);
}
END_TEST

#define FT(msg, id, name, type, rep)                                                               \
        { &csi__v1__##msg##__descriptor, id, name, PROTOBUF_C_TYPE_##type, rep }

START_TEST(test_field_table)
{
        /* Field number, label and type of every field, from csi-facts 1.2-1.4,
         * checked on the descriptors (the other tests check them in bytes). */
        static const struct {
                const ProtobufCMessageDescriptor *d;
                unsigned id;
                const char *name;
                ProtobufCType type;
                bool repeated;
        } f[] = {
                FT(get_plugin_info_response, 1, "name", STRING, false),
                FT(get_plugin_info_response, 2, "vendor_version", STRING, false),
                FT(get_plugin_info_response, 3, "manifest", MESSAGE, true),
                FT(get_plugin_capabilities_response, 1, "capabilities", MESSAGE, true),
                FT(plugin_capability, 1, "service", MESSAGE, false),
                FT(plugin_capability, 2, "volume_expansion", MESSAGE, false),
                FT(plugin_capability__service, 1, "type", ENUM, false),
                FT(plugin_capability__volume_expansion, 1, "type", ENUM, false),
                FT(probe_response, 1, "ready", MESSAGE, false),
                FT(bool_value, 1, "value", BOOL, false),
                FT(volume_capability, 1, "block", MESSAGE, false),
                FT(volume_capability, 2, "mount", MESSAGE, false),
                FT(volume_capability, 3, "access_mode", MESSAGE, false),
                FT(volume_capability__mount_volume, 1, "fs_type", STRING, false),
                FT(volume_capability__mount_volume, 2, "mount_flags", STRING, true),
                FT(volume_capability__mount_volume, 3, "volume_mount_group", STRING, false),
                FT(volume_capability__access_mode, 1, "mode", ENUM, false),
                FT(topology, 1, "segments", MESSAGE, true),
                FT(capacity_range, 1, "required_bytes", INT64, false),
                FT(capacity_range, 2, "limit_bytes", INT64, false),
                FT(volume_usage, 1, "available", INT64, false),
                FT(volume_usage, 2, "total", INT64, false),
                FT(volume_usage, 3, "used", INT64, false),
                FT(volume_usage, 4, "unit", ENUM, false),
                FT(volume_condition, 1, "abnormal", BOOL, false),
                FT(volume_condition, 2, "message", STRING, false),
                FT(node_stage_volume_request, 1, "volume_id", STRING, false),
                FT(node_stage_volume_request, 2, "publish_context", MESSAGE, true),
                FT(node_stage_volume_request, 3, "staging_target_path", STRING, false),
                FT(node_stage_volume_request, 4, "volume_capability", MESSAGE, false),
                FT(node_stage_volume_request, 5, "secrets", MESSAGE, true),
                FT(node_stage_volume_request, 6, "volume_context", MESSAGE, true),
                FT(node_unstage_volume_request, 1, "volume_id", STRING, false),
                FT(node_unstage_volume_request, 2, "staging_target_path", STRING, false),
                FT(node_publish_volume_request, 1, "volume_id", STRING, false),
                FT(node_publish_volume_request, 2, "publish_context", MESSAGE, true),
                FT(node_publish_volume_request, 3, "staging_target_path", STRING, false),
                FT(node_publish_volume_request, 4, "target_path", STRING, false),
                FT(node_publish_volume_request, 5, "volume_capability", MESSAGE, false),
                FT(node_publish_volume_request, 6, "readonly", BOOL, false),
                FT(node_publish_volume_request, 7, "secrets", MESSAGE, true),
                FT(node_publish_volume_request, 8, "volume_context", MESSAGE, true),
                FT(node_unpublish_volume_request, 1, "volume_id", STRING, false),
                FT(node_unpublish_volume_request, 2, "target_path", STRING, false),
                FT(node_get_volume_stats_request, 1, "volume_id", STRING, false),
                FT(node_get_volume_stats_request, 2, "volume_path", STRING, false),
                FT(node_get_volume_stats_request, 3, "staging_target_path", STRING, false),
                FT(node_get_volume_stats_response, 1, "usage", MESSAGE, true),
                FT(node_get_volume_stats_response, 2, "volume_condition", MESSAGE, false),
                FT(node_expand_volume_request, 1, "volume_id", STRING, false),
                FT(node_expand_volume_request, 2, "volume_path", STRING, false),
                FT(node_expand_volume_request, 3, "capacity_range", MESSAGE, false),
                FT(node_expand_volume_request, 4, "staging_target_path", STRING, false),
                FT(node_expand_volume_request, 5, "volume_capability", MESSAGE, false),
                FT(node_expand_volume_request, 6, "secrets", MESSAGE, true),
                FT(node_expand_volume_response, 1, "capacity_bytes", INT64, false),
                FT(node_get_capabilities_response, 1, "capabilities", MESSAGE, true),
                FT(node_service_capability, 1, "rpc", MESSAGE, false),
                FT(node_service_capability__rpc, 1, "type", ENUM, false),
                FT(node_get_info_response, 1, "node_id", STRING, false),
                FT(node_get_info_response, 2, "max_volumes_per_node", INT64, false),
                FT(node_get_info_response, 3, "accessible_topology", MESSAGE, false),
        };
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                const ProtobufCFieldDescriptor *fd =
                        protobuf_c_message_descriptor_get_field(f[i].d, f[i].id);
                ck_assert_msg(fd != NULL, "%s has no field %u", f[i].d->name, f[i].id);
                ck_assert_msg(strcmp(fd->name, f[i].name) == 0, "%s/%u is '%s', want '%s'",
                              f[i].d->name, f[i].id, fd->name, f[i].name);
                ck_assert_msg(fd->type == f[i].type, "%s.%s: type %d", f[i].d->name, fd->name,
                              fd->type);
                ck_assert_msg((fd->label == PROTOBUF_C_LABEL_REPEATED) == f[i].repeated,
                              "%s.%s: label %d", f[i].d->name, fd->name, fd->label);
        }
}
END_TEST

START_TEST(test_map_entries)
{
        /* every map<string,string> entry is {string key = 1; string value = 2} */
        static const ProtobufCMessageDescriptor *const entries[] = {
                &csi__v1__get_plugin_info_response__manifest_entry__descriptor,
                &csi__v1__topology__segments_entry__descriptor,
                &csi__v1__node_stage_volume_request__publish_context_entry__descriptor,
                &csi__v1__node_stage_volume_request__secrets_entry__descriptor,
                &csi__v1__node_stage_volume_request__volume_context_entry__descriptor,
                &csi__v1__node_publish_volume_request__publish_context_entry__descriptor,
                &csi__v1__node_publish_volume_request__secrets_entry__descriptor,
                &csi__v1__node_publish_volume_request__volume_context_entry__descriptor,
                &csi__v1__node_expand_volume_request__secrets_entry__descriptor,
        };
        for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
                const ProtobufCMessageDescriptor *d = entries[i];
                ck_assert_uint_eq(d->n_fields, 2);
                ck_assert_str_eq(protobuf_c_message_descriptor_get_field(d, 1)->name, "key");
                ck_assert_int_eq(protobuf_c_message_descriptor_get_field(d, 1)->type,
                                 PROTOBUF_C_TYPE_STRING);
                ck_assert_str_eq(protobuf_c_message_descriptor_get_field(d, 2)->name, "value");
                ck_assert_int_eq(protobuf_c_message_descriptor_get_field(d, 2)->type,
                                 PROTOBUF_C_TYPE_STRING);
                /* the KV cast used above matches the generated layout */
                ck_assert_uint_eq(d->sizeof_message, sizeof(KV));
                ck_assert_uint_eq(protobuf_c_message_descriptor_get_field(d, 1)->offset,
                                  offsetof(KV, key));
                ck_assert_uint_eq(protobuf_c_message_descriptor_get_field(d, 2)->offset,
                                  offsetof(KV, value));
        }
}
END_TEST

START_TEST(test_enum_values)
{
        /* enum numbers are wire values too (csi-facts 1.2-1.4) */
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__UNKNOWN, 0);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE, 1);
#define AM(x) CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__##x
        ck_assert_int_eq(
                CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS, 2);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__GROUP_CONTROLLER_SERVICE, 3);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__SNAPSHOT_METADATA_SERVICE, 4);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__UNKNOWN, 0);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE, 1);
        ck_assert_int_eq(CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__OFFLINE, 2);
        ck_assert_int_eq(AM(UNKNOWN), 0);
        ck_assert_int_eq(AM(SINGLE_NODE_WRITER), 1);
        ck_assert_int_eq(AM(SINGLE_NODE_READER_ONLY), 2);
        ck_assert_int_eq(AM(MULTI_NODE_READER_ONLY), 3);
        ck_assert_int_eq(AM(MULTI_NODE_SINGLE_WRITER), 4);
        ck_assert_int_eq(AM(MULTI_NODE_MULTI_WRITER), 5);
        ck_assert_int_eq(AM(SINGLE_NODE_SINGLE_WRITER), 6);
        ck_assert_int_eq(AM(SINGLE_NODE_MULTI_WRITER), 7);
#undef AM
        ck_assert_int_eq(CSI__V1__VOLUME_USAGE__UNIT__UNKNOWN, 0);
        ck_assert_int_eq(CSI__V1__VOLUME_USAGE__UNIT__BYTES, 1);
        ck_assert_int_eq(CSI__V1__VOLUME_USAGE__UNIT__INODES, 2);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__UNKNOWN, 0);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME, 1);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS, 2);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME, 3);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION, 4);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER, 5);
        ck_assert_int_eq(CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP, 6);
}
END_TEST

START_TEST(test_method_paths)
{
        /* gRPC C core matches these strings exactly (csi-facts 1.1) */
        static const struct {
                const char *path;
                const ProtobufCMessageDescriptor *req, *resp;
        } want[] = {
                { "/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor,
                  &csi__v1__get_plugin_info_response__descriptor },
                { "/csi.v1.Identity/GetPluginCapabilities",
                  &csi__v1__get_plugin_capabilities_request__descriptor,
                  &csi__v1__get_plugin_capabilities_response__descriptor },
                { "/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor,
                  &csi__v1__probe_response__descriptor },
                { "/csi.v1.Node/NodeStageVolume", &csi__v1__node_stage_volume_request__descriptor,
                  &csi__v1__node_stage_volume_response__descriptor },
                { "/csi.v1.Node/NodeUnstageVolume",
                  &csi__v1__node_unstage_volume_request__descriptor,
                  &csi__v1__node_unstage_volume_response__descriptor },
                { "/csi.v1.Node/NodePublishVolume",
                  &csi__v1__node_publish_volume_request__descriptor,
                  &csi__v1__node_publish_volume_response__descriptor },
                { "/csi.v1.Node/NodeUnpublishVolume",
                  &csi__v1__node_unpublish_volume_request__descriptor,
                  &csi__v1__node_unpublish_volume_response__descriptor },
                { "/csi.v1.Node/NodeGetVolumeStats",
                  &csi__v1__node_get_volume_stats_request__descriptor,
                  &csi__v1__node_get_volume_stats_response__descriptor },
                { "/csi.v1.Node/NodeExpandVolume", &csi__v1__node_expand_volume_request__descriptor,
                  &csi__v1__node_expand_volume_response__descriptor },
                { "/csi.v1.Node/NodeGetCapabilities",
                  &csi__v1__node_get_capabilities_request__descriptor,
                  &csi__v1__node_get_capabilities_response__descriptor },
                { "/csi.v1.Node/NodeGetInfo", &csi__v1__node_get_info_request__descriptor,
                  &csi__v1__node_get_info_response__descriptor },
        };
        size_t n = 0;
        const RpcMethod *m = csi_service_methods(&n);
        bool seen[sizeof(want) / sizeof(want[0])] = { false };

        ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < n; i++) {
                size_t k;
                ck_assert_msg(strncmp(m[i].path, "/csi.v1.Controller/", 19) != 0, "%s", m[i].path);
                for (k = 0; k < n; k++)
                        if (strcmp(m[i].path, want[k].path) == 0)
                                break;
                ck_assert_msg(k < n, "unexpected method %s", m[i].path);
                ck_assert_msg(!seen[k], "%s twice", m[i].path);
                seen[k] = true;
                ck_assert_ptr_eq(m[i].request, want[k].req);
                ck_assert_ptr_eq(m[i].response, want[k].resp);
                ck_assert_ptr_nonnull(m[i].handler);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("golden");
        TCase *tc;

        tc = tcase_create("pack");
        tcase_add_loop_test(tc, test_pack, 0, N_GOLDEN);
        suite_add_tcase(s, tc);

        tc = tcase_create("unpack");
        tcase_add_loop_test(tc, test_unpack, 0, N_GOLDEN);
        suite_add_tcase(s, tc);

        tc = tcase_create("descriptors");
        tcase_add_loop_test(tc, test_descriptor, 0, N_GOLDEN);
        tcase_add_test(tc, test_empty_messages_pack_to_nothing);
        tcase_add_test(tc, test_field_table);
        tcase_add_test(tc, test_map_entries);
        tcase_add_test(tc, test_enum_values);
        tcase_add_test(tc, test_method_paths);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
