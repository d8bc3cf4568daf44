/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-proto.c - descriptor-driven helpers: proto_wipe_strings (every string
 * in nested messages, maps, repeated fields and oneofs is zeroed in place),
 * utf8_valid, proto_check_utf8 (names the offending field), and the
 * generated csi_secret table (exactly the three `secrets` maps of
 * csi-facts 1.4).
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "proto-util.h"
#include "utf8.h"
#include "secret-fields.h"

#include <check.h>

#include "testutil.h"

/* ---- helpers ---- */

/* Packs `m` and unpacks it again, so every string lives in its own heap
 * allocation made by protobuf-c, as in the server. */
static ProtobufCMessage *roundtrip(const ProtobufCMessage *m) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        ProtobufCMessage *out;
        ck_assert_uint_eq(protobuf_c_message_pack(m, buf), n);
        out = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
        ck_assert_ptr_nonnull(out);
        free(buf);
        return out;
}

/* Remembers strings of a message tree so they can be checked after wiping. */
typedef struct Tracked {
        const char *name;
        const char *p;
        size_t len;
} Tracked;
typedef struct Tracker {
        Tracked t[64];
        size_t n;
} Tracker;

static void track(Tracker *tr, const char *name, const char *p) {
        ck_assert_uint_lt(tr->n, 64);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_gt(strlen(p), 0);
        tr->t[tr->n++] = (Tracked){ name, p, strlen(p) };
}

static void check_wiped(const Tracker *tr) {
        for (size_t i = 0; i < tr->n; i++)
                for (size_t k = 0; k < tr->t[i].len; k++)
                        ck_assert_msg(tr->t[i].p[k] == '\0', "%s: byte %zu is 0x%02x after wipe",
                                      tr->t[i].name, k, (unsigned char)tr->t[i].p[k]);
}

typedef Csi__V1__NodePublishVolumeRequest__SecretsEntry SecretsEntry;
typedef Csi__V1__NodePublishVolumeRequest__VolumeContextEntry VolCtxEntry;
typedef Csi__V1__NodePublishVolumeRequest__PublishContextEntry PubCtxEntry;

/* ---- proto_wipe_strings ---- */

START_TEST(test_wipe_publish_request)
{
        Csi__V1__VolumeCapability__MountVolume mount =
                CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
        Csi__V1__VolumeCapability__AccessMode mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
        Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
        Csi__V1__NodePublishVolumeRequest req = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        SecretsEntry s1 = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__SECRETS_ENTRY__INIT, s2 = s1;
        VolCtxEntry v1 = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
        PubCtxEntry p1 = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__PUBLISH_CONTEXT_ENTRY__INIT;
        SecretsEntry *secrets[] = { &s1, &s2 };
        VolCtxEntry *vctx[] = { &v1 };
        PubCtxEntry *pctx[] = { &p1 };
        char *flags[] = { (char *)"ro", (char *)"context=\"system_u:object_r:x\"" };
        Csi__V1__NodePublishVolumeRequest *u;
        Tracker tr = { .n = 0 };

        s1.key = (char *)"csi.storage.k8s.io/serviceAccount.tokens";
        s1.value = (char *)"{\"vault\":{\"token\":\"eyJhbGciOiJSUzI1NiJ9.payload.sig\"}}";
        s2.key = (char *)"password";
        s2.value = (char *)"hunter2";
        v1.key = (char *)"csi.storage.k8s.io/pod.name";
        v1.value = (char *)"web-0";
        p1.key = (char *)"pk";
        p1.value = (char *)"pv";
        mount.fs_type = (char *)"tmpfs";
        mount.n_mount_flags = 2;
        mount.mount_flags = flags;
        mount.volume_mount_group = (char *)"2000";
        mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        cap.mount = &mount;
        cap.access_mode = &mode;
        req.volume_id = (char *)"csi-0123";
        req.staging_target_path = (char *)"/staging";
        req.target_path = (char *)"/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/v/mount";
        req.volume_capability = &cap;
        req.readonly = 1;
        req.n_secrets = 2;
        req.secrets = secrets;
        req.n_volume_context = 1;
        req.volume_context = vctx;
        req.n_publish_context = 1;
        req.publish_context = pctx;

        u = (Csi__V1__NodePublishVolumeRequest *)roundtrip(&req.base);
        ck_assert_uint_eq(u->n_secrets, 2);
        track(&tr, "volume_id", u->volume_id);
        track(&tr, "staging_target_path", u->staging_target_path);
        track(&tr, "target_path", u->target_path);
        track(&tr, "mount.fs_type", u->volume_capability->mount->fs_type);
        track(&tr, "mount.mount_flags[0]", u->volume_capability->mount->mount_flags[0]);
        track(&tr, "mount.mount_flags[1]", u->volume_capability->mount->mount_flags[1]);
        track(&tr, "mount.volume_mount_group", u->volume_capability->mount->volume_mount_group);
        for (size_t i = 0; i < u->n_secrets; i++) {
                track(&tr, "secrets.key", u->secrets[i]->key);
                track(&tr, "secrets.value", u->secrets[i]->value);
        }
        track(&tr, "volume_context.key", u->volume_context[0]->key);
        track(&tr, "volume_context.value", u->volume_context[0]->value);
        track(&tr, "publish_context.key", u->publish_context[0]->key);
        track(&tr, "publish_context.value", u->publish_context[0]->value);

        proto_wipe_strings(&u->base);
        check_wiped(&tr);
        /* non-string fields are untouched */
        ck_assert_int_eq(u->readonly, 1);
        ck_assert_int_eq(u->volume_capability->access_mode->mode, 1);
        ck_assert_uint_eq(u->n_secrets, 2);
        protobuf_c_message_free_unpacked(&u->base, NULL);
}
END_TEST

START_TEST(test_wipe_other_requests)
{
        /* NodeStage and NodeExpand also carry secrets maps */
        Csi__V1__NodeStageVolumeRequest__SecretsEntry se =
                CSI__V1__NODE_STAGE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
        Csi__V1__NodeStageVolumeRequest__SecretsEntry *sev[] = { &se };
        Csi__V1__NodeStageVolumeRequest stage = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
        Csi__V1__NodeExpandVolumeRequest__SecretsEntry ee =
                CSI__V1__NODE_EXPAND_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
        Csi__V1__NodeExpandVolumeRequest__SecretsEntry *eev[] = { &ee };
        Csi__V1__NodeExpandVolumeRequest expand = CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
        Csi__V1__NodeStageVolumeRequest *us;
        Csi__V1__NodeExpandVolumeRequest *ue;
        Tracker tr = { .n = 0 };

        se.key = (char *)"k1";
        se.value = (char *)"stage-secret";
        stage.volume_id = (char *)"v";
        stage.n_secrets = 1;
        stage.secrets = sev;
        ee.key = (char *)"k2";
        ee.value = (char *)"expand-secret";
        expand.volume_path = (char *)"/p";
        expand.n_secrets = 1;
        expand.secrets = eev;

        us = (Csi__V1__NodeStageVolumeRequest *)roundtrip(&stage.base);
        ue = (Csi__V1__NodeExpandVolumeRequest *)roundtrip(&expand.base);
        track(&tr, "stage.secrets.value", us->secrets[0]->value);
        track(&tr, "stage.secrets.key", us->secrets[0]->key);
        track(&tr, "stage.volume_id", us->volume_id);
        track(&tr, "expand.secrets.value", ue->secrets[0]->value);
        track(&tr, "expand.volume_path", ue->volume_path);
        proto_wipe_strings(&us->base);
        proto_wipe_strings(&ue->base);
        check_wiped(&tr);
        protobuf_c_message_free_unpacked(&us->base, NULL);
        protobuf_c_message_free_unpacked(&ue->base, NULL);
}
END_TEST

START_TEST(test_wipe_nested_responses)
{
        Csi__V1__Topology__SegmentsEntry seg = CSI__V1__TOPOLOGY__SEGMENTS_ENTRY__INIT;
        Csi__V1__Topology__SegmentsEntry *segs[] = { &seg };
        Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
        Csi__V1__NodeGetInfoResponse info = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        Csi__V1__VolumeCondition cond = CSI__V1__VOLUME_CONDITION__INIT;
        Csi__V1__VolumeUsage usage = CSI__V1__VOLUME_USAGE__INIT;
        Csi__V1__VolumeUsage *usages[] = { &usage, &usage };
        Csi__V1__NodeGetVolumeStatsResponse stats = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
        Csi__V1__NodeGetInfoResponse *ui;
        Csi__V1__NodeGetVolumeStatsResponse *us;
        Tracker tr = { .n = 0 };

        seg.key = (char *)"topology.vaultmount.io/zone";
        seg.value = (char *)"zone-a";
        topo.n_segments = 1;
        topo.segments = segs;
        info.node_id = (char *)"node-1";
        info.max_volumes_per_node = 10;
        info.accessible_topology = &topo;
        cond.abnormal = 1;
        cond.message = (char *)"token expired";
        usage.total = 5;
        usage.unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
        stats.n_usage = 2;
        stats.usage = usages;
        stats.volume_condition = &cond;

        ui = (Csi__V1__NodeGetInfoResponse *)roundtrip(&info.base);
        us = (Csi__V1__NodeGetVolumeStatsResponse *)roundtrip(&stats.base);
        track(&tr, "node_id", ui->node_id);
        track(&tr, "segments.key", ui->accessible_topology->segments[0]->key);
        track(&tr, "segments.value", ui->accessible_topology->segments[0]->value);
        track(&tr, "volume_condition.message", us->volume_condition->message);
        proto_wipe_strings(&ui->base);
        proto_wipe_strings(&us->base);
        check_wiped(&tr);
        ck_assert_int_eq(ui->max_volumes_per_node, 10);
        ck_assert_int_eq(us->usage[1]->total, 5);
        protobuf_c_message_free_unpacked(&ui->base, NULL);
        protobuf_c_message_free_unpacked(&us->base, NULL);
}
END_TEST

START_TEST(test_wipe_oneof_and_defaults)
{
        /* The block arm of the oneof is set: the walker must not read the
         * union as a MountVolume (valgrind/ASan would see it). */
        Csi__V1__VolumeCapability__BlockVolume *block = malloc(sizeof(*block));
        Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
        Csi__V1__NodePublishVolumeRequest req = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        Csi__V1__NodePublishVolumeRequest *u;

        csi__v1__volume_capability__block_volume__init(block);
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
        cap.block = block;
        req.volume_capability = &cap;
        /* unset strings point at the shared read-only ""; wiping must not
         * write there (it would fault) */
        proto_wipe_strings(&req.base);
        ck_assert_str_eq(req.volume_id, "");
        ck_assert_ptr_eq(req.volume_id, protobuf_c_empty_string);

        u = (Csi__V1__NodePublishVolumeRequest *)roundtrip(&req.base);
        free(block);
        ck_assert_int_eq(u->volume_capability->access_type_case,
                         CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
        proto_wipe_strings(&u->base);
        protobuf_c_message_free_unpacked(&u->base, NULL);

        proto_wipe_strings(NULL);
}
END_TEST

START_TEST(test_wipe_identity)
{
        Csi__V1__GetPluginInfoResponse__ManifestEntry me =
                CSI__V1__GET_PLUGIN_INFO_RESPONSE__MANIFEST_ENTRY__INIT;
        Csi__V1__GetPluginInfoResponse__ManifestEntry *mev[] = { &me };
        Csi__V1__GetPluginInfoResponse info = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;
        Csi__V1__GetPluginInfoResponse *u;
        Tracker tr = { .n = 0 };

        me.key = (char *)"url";
        me.value = (char *)"https://example.invalid";
        info.name = (char *)"csi.vaultmount.io";
        info.vendor_version = (char *)"0.1.0";
        info.n_manifest = 1;
        info.manifest = mev;
        u = (Csi__V1__GetPluginInfoResponse *)roundtrip(&info.base);
        track(&tr, "name", u->name);
        track(&tr, "vendor_version", u->vendor_version);
        track(&tr, "manifest.key", u->manifest[0]->key);
        track(&tr, "manifest.value", u->manifest[0]->value);
        proto_wipe_strings(&u->base);
        check_wiped(&tr);
        protobuf_c_message_free_unpacked(&u->base, NULL);
}
END_TEST

/* ---- utf8_valid ---- */

START_TEST(test_utf8_valid)
{
        static const struct {
                const char *s;
                size_t n;
        } ok[] = {
                { "", 0 },
                { "plain ascii", 11 },
                { "\x7f", 1 },
                { "a\0b", 3 },             /* U+0000 is valid UTF-8 */
                { "\xc2\x80", 2 },         /* U+0080, smallest 2-byte */
                { "\xc3\xa9", 2 },         /* é */
                { "\xdf\xbf", 2 },         /* U+07FF */
                { "\xe0\xa0\x80", 3 },     /* U+0800, smallest 3-byte */
                { "\xe2\x82\xac", 3 },     /* € */
                { "\xed\x9f\xbf", 3 },     /* U+D7FF, just below the surrogates */
                { "\xee\x80\x80", 3 },     /* U+E000, just above them */
                { "\xef\xbf\xbf", 3 },     /* U+FFFF */
                { "\xf0\x90\x80\x80", 4 }, /* U+10000, smallest 4-byte */
                { "\xf0\x9d\x84\x9e", 4 }, /* 𝄞 */
                { "\xf4\x8f\xbf\xbf", 4 }, /* U+10FFFF, the last code point */
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 14 },
        };
        static const struct {
                const char *s;
                size_t n;
                const char *why;
        } bad[] = {
                { "\x80", 1, "lone continuation byte" },
                { "\xbf", 1, "lone continuation byte" },
                { "a\x80z", 3, "continuation byte in ASCII" },
                { "\xc0\x80", 2, "overlong NUL" },
                { "\xc1\xbf", 2, "overlong 2-byte" },
                { "\xe0\x80\x80", 3, "overlong 3-byte NUL" },
                { "\xe0\x9f\xbf", 3, "overlong U+07FF" },
                { "\xf0\x80\x80\x80", 4, "overlong 4-byte NUL" },
                { "\xf0\x8f\xbf\xbf", 4, "overlong U+FFFF" },
                { "\xed\xa0\x80", 3, "surrogate U+D800" },
                { "\xed\xbf\xbf", 3, "surrogate U+DFFF" },
                { "\xed\xa0\xbd\xed\xb8\x80", 6, "CESU-8 surrogate pair" },
                { "\xf4\x90\x80\x80", 4, "U+110000" },
                { "\xf5\x80\x80\x80", 4, "lead byte F5" },
                { "\xf7\xbf\xbf\xbf", 4, "U+1FFFFF" },
                { "\xf8\x88\x80\x80\x80", 5, "5-byte form" },
                { "\xfc\x84\x80\x80\x80\x80", 6, "6-byte form" },
                { "\xfe", 1, "FE" },
                { "\xff", 1, "FF" },
                { "\xc3", 1, "truncated 2-byte" },
                { "\xe2\x82", 2, "truncated 3-byte" },
                { "\xf0\x9d\x84", 3, "truncated 4-byte" },
                { "ok\xe2\x82", 4, "truncated at the end" },
                { "\xc3\x28", 2, "bad continuation" },
                { "\xe2\x28\xac", 3, "bad second byte" },
                { "\xe2\x82\x28", 3, "bad third byte" },
                { "\xf0\x9d\x84\x28", 4, "bad fourth byte" },
                { "\xc3\xa9\xc3", 3, "valid then truncated" },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                ck_assert_msg(utf8_valid(ok[i].s, ok[i].n), "valid case %zu rejected", i);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!utf8_valid(bad[i].s, bad[i].n), "%s accepted", bad[i].why);
        /* n bounds the check: a multi-byte sequence cut by n is invalid,
         * and bytes past n are not looked at */
        ck_assert(!utf8_valid("\xc3\xa9", 1));
        ck_assert(utf8_valid("ab\xff", 2));
        ck_assert(utf8_valid(NULL, 0));
}
END_TEST

/* ---- proto_check_utf8 ---- */

typedef struct PublishFixture {
        Csi__V1__VolumeCapability__MountVolume mount;
        Csi__V1__VolumeCapability__AccessMode mode;
        Csi__V1__VolumeCapability cap;
        SecretsEntry sec;
        SecretsEntry *secv[1];
        VolCtxEntry ctx[2];
        VolCtxEntry *ctxv[2];
        char *flags[2];
        Csi__V1__NodePublishVolumeRequest req;
} PublishFixture;

/* A valid request whose strings the tests then spoil one at a time. */
static void publish_fixture(PublishFixture *f) {
        *f = (PublishFixture){
                .mount = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT,
                .mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT,
                .cap = CSI__V1__VOLUME_CAPABILITY__INIT,
                .sec = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__SECRETS_ENTRY__INIT,
                .ctx = { CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                         CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT },
                .req = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT,
        };
        f->flags[0] = (char *)"ro";
        f->flags[1] = (char *)"noexec";
        f->mount.fs_type = (char *)"tmpfs";
        f->mount.n_mount_flags = 2;
        f->mount.mount_flags = f->flags;
        f->mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        f->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        f->cap.mount = &f->mount;
        f->cap.access_mode = &f->mode;
        f->sec.key = (char *)"token";
        f->sec.value = (char *)"s3cr\xc3\xa9t";
        f->secv[0] = &f->sec;
        f->ctx[0].key = (char *)"csi.storage.k8s.io/pod.name";
        f->ctx[0].value = (char *)"web-\xe2\x82\xac";
        f->ctx[1].key = (char *)"objects";
        f->ctx[1].value = (char *)"- path: kv/data/x";
        f->ctxv[0] = &f->ctx[0];
        f->ctxv[1] = &f->ctx[1];
        f->req.volume_id = (char *)"csi-1";
        f->req.target_path = (char *)"/t/mount";
        f->req.volume_capability = &f->cap;
        f->req.n_secrets = 1;
        f->req.secrets = f->secv;
        f->req.n_volume_context = 2;
        f->req.volume_context = f->ctxv;
}

static void expect_bad_field(const ProtobufCMessage *m, const char *field) {
        const char *got = NULL;
        int r = proto_check_utf8(m, &got);
        ck_assert_int_eq(r, -EILSEQ);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, field);
}

START_TEST(test_check_utf8_valid)
{
        PublishFixture f;
        const char *got = NULL;
        publish_fixture(&f);
        ck_assert_int_eq(proto_check_utf8(&f.req.base, &got), 0);
        ck_assert_ptr_null(got);
}
END_TEST

START_TEST(test_check_utf8_top_level)
{
        PublishFixture f;
        publish_fixture(&f);
        f.req.target_path = (char *)"/t/\xc0\xaf"
                                    "etc";
        expect_bad_field(&f.req.base, "target_path");
        /* the first offending field in field order is named */
        f.req.volume_id = (char *)"\xed\xa0\x80";
        expect_bad_field(&f.req.base, "volume_id");
        publish_fixture(&f);
        f.req.staging_target_path = (char *)"\xff";
        expect_bad_field(&f.req.base, "staging_target_path");
}
END_TEST

START_TEST(test_check_utf8_nested)
{
        PublishFixture f;
        publish_fixture(&f);
        f.mount.fs_type = (char *)"ext4\xf4\x90\x80\x80";
        expect_bad_field(&f.req.base, "volume_capability.mount.fs_type");
        publish_fixture(&f);
        f.flags[1] = (char *)"noexec\xe2\x82";
        expect_bad_field(&f.req.base, "volume_capability.mount.mount_flags");
        publish_fixture(&f);
        f.mount.volume_mount_group = (char *)"\x80";
        expect_bad_field(&f.req.base, "volume_capability.mount.volume_mount_group");
}
END_TEST

START_TEST(test_check_utf8_map_entries)
{
        /* map entries are nested messages: the path names the map and the entry's field */
        PublishFixture f;
        publish_fixture(&f);
        f.ctx[1].value = (char *)"- path: \xc3";
        expect_bad_field(&f.req.base, "volume_context.value");
        publish_fixture(&f);
        f.ctx[0].key = (char *)"csi.storage.k8s.io/\xfe";
        expect_bad_field(&f.req.base, "volume_context.key");
        publish_fixture(&f);
        f.sec.value = (char *)"\xed\xbf\xbf";
        expect_bad_field(&f.req.base, "secrets.value");

        /* deeper: a map inside a nested message */
        Csi__V1__Topology__SegmentsEntry seg = CSI__V1__TOPOLOGY__SEGMENTS_ENTRY__INIT;
        Csi__V1__Topology__SegmentsEntry *segs[] = { &seg };
        Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
        Csi__V1__NodeGetInfoResponse info = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        seg.key = (char *)"zone";
        seg.value = (char *)"a\xc1\xbf";
        topo.n_segments = 1;
        topo.segments = segs;
        info.node_id = (char *)"n";
        info.accessible_topology = &topo;
        expect_bad_field(&info.base, "accessible_topology.segments.value");
}
END_TEST

START_TEST(test_check_utf8_oneof_block)
{
        Csi__V1__VolumeCapability__BlockVolume block =
                CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
        PublishFixture f;
        const char *got = NULL;
        publish_fixture(&f);
        f.cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
        f.cap.block = &block;
        ck_assert_int_eq(proto_check_utf8(&f.req.base, &got), 0);
        ck_assert_ptr_null(got);
}
END_TEST

START_TEST(test_check_utf8_unpacked)
{
        /* The server's path: bytes off the wire with an invalid string. */
        static const char hex[] = "0a 02 76 31" /* 1: volume_id "v1" */
                                  "22 03 2f 74 ff" /* 4: target_path "/t\xff" */;
        uint8_t buf[16];
        size_t n = testutil_hex(hex, buf, sizeof(buf));
        ProtobufCMessage *m = protobuf_c_message_unpack(
                &csi__v1__node_publish_volume_request__descriptor, NULL, n, buf);
        ck_assert_ptr_nonnull(m); /* protobuf-c itself does not check UTF-8 */
        expect_bad_field(m, "target_path");
        protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

/* ---- the generated csi_secret table ---- */

START_TEST(test_secret_table_exact)
{
        static const struct {
                const char *message;
                unsigned number;
                const char *field;
        } want[] = {
                { "csi.v1.NodeStageVolumeRequest", 5, "secrets" },
                { "csi.v1.NodePublishVolumeRequest", 7, "secrets" },
                { "csi.v1.NodeExpandVolumeRequest", 6, "secrets" },
        };
        bool seen[3] = { false, false, false };

        ck_assert_uint_eq(csi_secret_fields_count, 3);
        for (size_t i = 0; i < csi_secret_fields_count; i++) {
                const CsiSecretField *f = &csi_secret_fields[i];
                bool found = false;
                for (size_t k = 0; k < 3; k++)
                        if (strcmp(f->message, want[k].message) == 0 &&
                            f->number == want[k].number && strcmp(f->field, want[k].field) == 0) {
                                ck_assert_msg(!seen[k], "%s/%u listed twice", f->message,
                                              f->number);
                                seen[k] = found = true;
                        }
                ck_assert_msg(found, "unexpected entry %s/%u %s", f->message, f->number, f->field);
        }
        for (size_t k = 0; k < 3; k++)
                ck_assert_msg(seen[k], "%s/%u missing", want[k].message, want[k].number);
}
END_TEST

START_TEST(test_secret_table_matches_descriptors)
{
        /* Every entry names a real map field of that number and name. */
        static const ProtobufCMessageDescriptor *const all[] = {
                &csi__v1__node_stage_volume_request__descriptor,
                &csi__v1__node_unstage_volume_request__descriptor,
                &csi__v1__node_publish_volume_request__descriptor,
                &csi__v1__node_unpublish_volume_request__descriptor,
                &csi__v1__node_get_volume_stats_request__descriptor,
                &csi__v1__node_expand_volume_request__descriptor,
                &csi__v1__node_get_capabilities_request__descriptor,
                &csi__v1__node_get_info_request__descriptor,
                &csi__v1__get_plugin_info_request__descriptor,
                &csi__v1__get_plugin_info_response__descriptor,
                &csi__v1__get_plugin_capabilities_request__descriptor,
                &csi__v1__probe_request__descriptor,
                &csi__v1__node_get_info_response__descriptor,
                &csi__v1__volume_capability__descriptor,
                &csi__v1__volume_capability__mount_volume__descriptor,
        };
        size_t secrets_fields = 0;

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                const ProtobufCMessageDescriptor *d = all[i];
                for (unsigned k = 0; k < d->n_fields; k++) {
                        const ProtobufCFieldDescriptor *fd = &d->fields[k];
                        bool in = csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                                      d->name, fd->id);
                        bool is_secrets = strcmp(fd->name, "secrets") == 0;
                        ck_assert_msg(in == is_secrets, "%s.%s (%u): in table %d", d->name,
                                      fd->name, fd->id, in);
                        if (is_secrets) {
                                secrets_fields++;
                                ck_assert_int_eq(fd->label, PROTOBUF_C_LABEL_REPEATED);
                                ck_assert_int_eq(fd->type, PROTOBUF_C_TYPE_MESSAGE);
                        }
                }
        }
        ck_assert_uint_eq(secrets_fields, 3);
        for (size_t i = 0; i < csi_secret_fields_count; i++) {
                const CsiSecretField *f = &csi_secret_fields[i];
                const ProtobufCMessageDescriptor *d = NULL;
                for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
                        if (strcmp(all[k]->name, f->message) == 0)
                                d = all[k];
                ck_assert_msg(d != NULL, "%s has no descriptor", f->message);
                const ProtobufCFieldDescriptor *fd =
                        protobuf_c_message_descriptor_get_field(d, f->number);
                ck_assert_ptr_nonnull(fd);
                ck_assert_str_eq(fd->name, f->field);
        }
}
END_TEST

START_TEST(test_secret_field_in)
{
        const CsiSecretField *t = csi_secret_fields;
        size_t n = csi_secret_fields_count;
        ck_assert(csi_secret_field_in(t, n, "csi.v1.NodePublishVolumeRequest", 7));
        ck_assert(csi_secret_field_in(t, n, "csi.v1.NodeStageVolumeRequest", 5));
        ck_assert(csi_secret_field_in(t, n, "csi.v1.NodeExpandVolumeRequest", 6));
        /* right message, wrong number; right number, wrong message */
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodePublishVolumeRequest", 8));
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodePublishVolumeRequest", 5));
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodeStageVolumeRequest", 7));
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodeUnpublishVolumeRequest", 7));
        /* prefixes and extensions of a name do not match */
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodePublishVolumeReq", 7));
        ck_assert(!csi_secret_field_in(t, n, "csi.v1.NodePublishVolumeRequestX", 7));
        ck_assert(!csi_secret_field_in(t, n, "NodePublishVolumeRequest", 7));
        ck_assert(!csi_secret_field_in(t, n, "", 7));
        /* an empty table matches nothing */
        ck_assert(!csi_secret_field_in(t, 0, "csi.v1.NodePublishVolumeRequest", 7));
        /* a custom table */
        const CsiSecretField mine[] = { { "x.Y", 3, "f" } };
        ck_assert(csi_secret_field_in(mine, 1, "x.Y", 3));
        ck_assert(!csi_secret_field_in(mine, 1, "x.Y", 4));
}
END_TEST

/* ---- proto_check_wire: strings at their wire length ---- */

/* A packed publish fixture whose first `needle` bytes in the wire get byte `b`. */
static int wire_with(const char *needle, size_t at, uint8_t b, const char **ret_field) {
        PublishFixture f;
        uint8_t *buf;
        size_t n;
        int r = -ENOENT;
        publish_fixture(&f);
        n = protobuf_c_message_get_packed_size(&f.req.base);
        buf = malloc(n);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(protobuf_c_message_pack(&f.req.base, buf), n);
        for (size_t i = 0; i + strlen(needle) <= n; i++)
                if (memcmp(buf + i, needle, strlen(needle)) == 0) {
                        buf[i + at] = b;
                        r = proto_check_wire(&csi__v1__node_publish_volume_request__descriptor, buf,
                                             n, ret_field);
                        break;
                }
        free(buf);
        return r;
}

START_TEST(test_check_wire)
{
        const char *got = NULL;
        /* volume_id "a\0b": unpack would hand out "a" */
        const uint8_t unpub[] = { 0x0a, 0x03, 'a', 0, 'b', 0x12, 0x02, '/', 't' };
        const uint8_t ok[] = { 0x0a, 0x03, 'a', 'x', 'b', 0x12, 0x02, '/', 't' };
        const uint8_t unknown[] = { 0x0a, 0x01, 'a', 0xfa, 0x3e, 0x02, 0, 0xff, 0x80, 0x01, 1 };
        const uint8_t trunc[] = { 0x0a, 0x05, 'a' };
        const ProtobufCMessageDescriptor *d = &csi__v1__node_unpublish_volume_request__descriptor;

        ck_assert_int_eq(proto_check_wire(d, ok, sizeof(ok), &got), 0);
        ck_assert_ptr_null(got);
        ck_assert_int_eq(proto_check_wire(d, unpub, sizeof(unpub), &got), -EINVAL);
        ck_assert_str_eq(got, "volume_id");
        /* unknown fields (1000, bytes with a NUL; 16, varint) are skipped */
        ck_assert_int_eq(proto_check_wire(d, unknown, sizeof(unknown), &got), 0);
        ck_assert_int_eq(proto_check_wire(d, trunc, sizeof(trunc), &got), -EBADMSG);
        ck_assert_int_eq(proto_check_wire(d, NULL, 0, &got), 0);

        /* nested and map fields name their path */
        ck_assert_int_eq(wire_with("csi-1", 3, 0, &got), -EINVAL);
        ck_assert_str_eq(got, "volume_id");
        ck_assert_int_eq(wire_with("/t/mount", 2, 0, &got), -EINVAL);
        ck_assert_str_eq(got, "target_path");
        ck_assert_int_eq(wire_with("web-", 1, 0, &got), -EINVAL);
        ck_assert_str_eq(got, "volume_context.value");
        ck_assert_int_eq(wire_with("noexec", 0, 0, &got), -EINVAL);
        ck_assert_str_eq(got, "volume_capability.mount.mount_flags");
        ck_assert_int_eq(wire_with("s3cr", 0, 0xff, &got), -EILSEQ);
        ck_assert_str_eq(got, "secrets.value");
        ck_assert_int_eq(wire_with("tmpfs", 0, 'T', &got), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("proto");
        TCase *tc;

        tc = tcase_create("wipe");
        tcase_add_test(tc, test_wipe_publish_request);
        tcase_add_test(tc, test_wipe_other_requests);
        tcase_add_test(tc, test_wipe_nested_responses);
        tcase_add_test(tc, test_wipe_oneof_and_defaults);
        tcase_add_test(tc, test_wipe_identity);
        suite_add_tcase(s, tc);

        tc = tcase_create("utf8");
        tcase_add_test(tc, test_utf8_valid);
        tcase_add_test(tc, test_check_utf8_valid);
        tcase_add_test(tc, test_check_utf8_top_level);
        tcase_add_test(tc, test_check_utf8_nested);
        tcase_add_test(tc, test_check_utf8_map_entries);
        tcase_add_test(tc, test_check_utf8_oneof_block);
        tcase_add_test(tc, test_check_utf8_unpacked);
        tcase_add_test(tc, test_check_wire);
        suite_add_tcase(s, tc);

        tc = tcase_create("secret_fields");
        tcase_add_test(tc, test_secret_table_exact);
        tcase_add_test(tc, test_secret_table_matches_descriptors);
        tcase_add_test(tc, test_secret_field_in);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
