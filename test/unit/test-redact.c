/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-redact.c - the redacting text form of protobuf-c messages
 * (lib/redact.c) and the log core's token-shape scrubber (lib/log.c).
 *
 *  - every CSI Identity/Node request type and the responses, with exact
 *    expected text: secrets maps, mount_flags, the service-account token
 *    key, unknown volume attributes and secretArgs values stripped;
 *  - maps with many keys and empty values; bounded output;
 *  - malformed input: unknown fields in an unpacked message (only their
 *    numbers appear), absent sub-messages, invalid UTF-8, deep nesting;
 *  - a TEST-ONLY message (redact-test.proto) whose fields are marked
 *    csi_secret and whose table is generated at build time by the same
 *    generator as csi.proto: marking a field is all it takes;
 *  - the scrubber: JWT, Vault and OpenBao token shapes, hex byte dumps,
 *    near misses that must stay, and records passing through the log core.
 *
 * Planted secrets are fake, and a leak is reported by the secret's name,
 * never by its value, so test output cannot carry one either.
 */
#undef NDEBUG
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "log.h"
#include "proto-util.h"
#include "utf8.h"
#include "redact-test.pb-c.h"
#include "redact.h"
#include "secret-fields.h"

#include <check.h>

#include "testutil.h"

extern const CsiSecretField redact_test_secret_fields[];
extern const size_t redact_test_secret_fields_count;

#define S(x) ((char *)(x))
#define M    "***stripped***"

/* Fake secrets; a leak is reported by name. */
#define SECRET_A "canary-secret-value-A-5b1f"
#define SECRET_B "canary-secret-value-B-93c0"
#define FAKE_JWT                                                                                   \
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6"          \
        "ZmFrZTpmYWtlIn0.ZmFrZS1zaWduYXR1cmUtbm90LXJlYWw"
#define TOKENS_JSON                                                                                \
        "{\"vault\":{\"token\":\"" FAKE_JWT "\",\"expirationTimestamp\":\"2026-01-01T00:00:00Z\"}}"

static const struct {
        const char *name, *value;
} planted[] = {
        { "SECRET_A", SECRET_A },
        { "SECRET_B", SECRET_B },
        { "FAKE_JWT", FAKE_JWT },
        { "JWT header", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ" },
};

static void assert_no_planted(const char *out) {
        for (size_t i = 0; i < sizeof(planted) / sizeof(planted[0]); i++)
                ck_assert_msg(strstr(out, planted[i].value) == NULL, "%s leaked into the output",
                              planted[i].name);
}

/* ---- building messages ---- */

static void *allocs[4096];
static size_t n_allocs;

static void *tzalloc(size_t n) {
        void *p = calloc(1, n ? n : 1);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_lt(n_allocs, sizeof(allocs) / sizeof(allocs[0]));
        allocs[n_allocs++] = p;
        return p;
}

static void teardown(void) {
        while (n_allocs > 0)
                free(allocs[--n_allocs]);
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *m, const char *name) {
        const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
        ck_assert_msg(f != NULL, "%s has no field %s", m->descriptor->name, name);
        return f;
}

/* Sets a map<string,string> field from key/value pairs (kv has 2*n entries). */
static void set_map(ProtobufCMessage *m, const char *name, const char *const *kv, size_t n) {
        const ProtobufCFieldDescriptor *f = field(m, name);
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        ProtobufCMessage **arr = tzalloc(n * sizeof(*arr));

        for (size_t i = 0; i < n; i++) {
                ProtobufCMessage *e = tzalloc(ed->sizeof_message);
                protobuf_c_message_init(ed, e);
                *(const char **)((char *)e + ed->fields[0].offset) = kv[2 * i];
                *(const char **)((char *)e + ed->fields[1].offset) = kv[2 * i + 1];
                arr[i] = e;
        }
        *(size_t *)((char *)m + f->quantifier_offset) = n;
        *(ProtobufCMessage ***)((char *)m + f->offset) = arr;
}

static void set_strings(ProtobufCMessage *m, const char *name, const char *const *v, size_t n) {
        const ProtobufCFieldDescriptor *f = field(m, name);
        *(size_t *)((char *)m + f->quantifier_offset) = n;
        *(const char *const **)((char *)m + f->offset) = v;
}

static char out[REDACT_TEXT_MAX];

static const char *text(const ProtobufCMessage *m) {
        size_t n = redact_message(m, csi_secret_fields, csi_secret_fields_count, out, sizeof(out));
        ck_assert_uint_eq(n, strlen(out));
        assert_no_planted(out);
        return out;
}

/* Packs then unpacks, so the walk also sees what protobuf-c builds itself. */
static ProtobufCMessage *roundtrip(const ProtobufCMessage *m) {
        size_t len = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = tzalloc(len);
        ProtobufCMessage *u;
        ck_assert_uint_eq(protobuf_c_message_pack(m, buf), len);
        u = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
        ck_assert_ptr_nonnull(u);
        return u;
}

static Csi__V1__VolumeCapability *mount_cap(const char *const *flags, size_t n_flags) {
        Csi__V1__VolumeCapability *cap = tzalloc(sizeof(*cap));
        Csi__V1__VolumeCapability__MountVolume *mv = tzalloc(sizeof(*mv));
        Csi__V1__VolumeCapability__AccessMode *am = tzalloc(sizeof(*am));

        csi__v1__volume_capability__init(cap);
        csi__v1__volume_capability__mount_volume__init(mv);
        csi__v1__volume_capability__access_mode__init(am);
        mv->fs_type = S("tmpfs");
        set_strings(&mv->base, "mount_flags", flags, n_flags);
        am->mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        cap->access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        cap->mount = mv;
        cap->access_mode = am;
        return cap;
}

static const char *const mount_flags[] = { "ro", "password=" SECRET_A };

static const char *const publish_secrets[] = {
        "csi.storage.k8s.io/serviceAccount.tokens",
        TOKENS_JSON,
        "db-password",
        SECRET_A,
        "api-key",
        SECRET_B,
};

#define OBJECTS_YAML                                                                               \
        "- objectName: db-creds\n"                                                                 \
        "  secretPath: database/creds/app\n"                                                       \
        "  secretKey: password\n"                                                                  \
        "- objectName: cert.pem\n"                                                                 \
        "  secretPath: pki/issue/web\n"                                                            \
        "  method: PUT\n"                                                                          \
        "  secretArgs:\n"                                                                          \
        "    common_name: " SECRET_B "\n"                                                          \
        "    ttl: 24h\n"                                                                           \
        "  template: " SECRET_A "\n"                                                               \
        "  format: pkcs12\n"                                                                       \
        "  expand: false\n"                                                                        \
        "  pkcs12Password: " SECRET_B "\n"

static const char *const publish_context_kv[] = {
        "csi.storage.k8s.io/pod.name",
        "web-0",
        "csi.storage.k8s.io/pod.namespace",
        "shop",
        "csi.storage.k8s.io/pod.uid",
        "5f0c3e1a-0000-4000-8000-000000000001",
        "csi.storage.k8s.io/serviceAccount.name",
        "web",
        "csi.storage.k8s.io/ephemeral",
        "true",
        "csi.storage.k8s.io/serviceAccount.tokens",
        TOKENS_JSON,
        "roleName",
        "web-role",
        "objects",
        OBJECTS_YAML,
        "myCustomAttribute",
        SECRET_A,
        "emptyValue",
        "",
};

/* ---- CSI requests ---- */

START_TEST(test_publish_request)
{
        Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        static const char *const pc[] = { "controller-key", "controller-value" };
        const char *want =
                "{volume_id: \"csi-vol-1\", publish_context: {\"controller-key\": " M "}, "
                "target_path: \"/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/v/mount\", "
                "volume_capability: {mount: {fs_type: \"tmpfs\", mount_flags: " M "}, "
                "access_mode: {mode: SINGLE_NODE_WRITER}}, readonly: true, secrets: " M ", "
                "volume_context: {\"csi.storage.k8s.io/pod.name\": \"web-0\", "
                "\"csi.storage.k8s.io/pod.namespace\": \"shop\", "
                "\"csi.storage.k8s.io/pod.uid\": \"5f0c3e1a-0000-4000-8000-000000000001\", "
                "\"csi.storage.k8s.io/serviceAccount.name\": \"web\", "
                "\"csi.storage.k8s.io/ephemeral\": \"true\", "
                "\"csi.storage.k8s.io/serviceAccount.tokens\": " M ", "
                "\"roleName\": \"web-role\", "
                "\"objects\": [{\"objectName\": \"db-creds\", \"secretPath\": "
                "\"database/creds/app\", \"secretKey\": \"password\"}, {\"objectName\": "
                "\"cert.pem\", \"secretPath\": \"pki/issue/web\", \"method\": \"PUT\", "
                "\"secretArgs\": {\"common_name\": " M ", \"ttl\": " M "}, \"template\": " M
                ", \"format\": \"pkcs12\", \"expand\": \"false\", \"pkcs12Password\": " M
                "}], \"myCustomAttribute\": " M ", \"emptyValue\": " M "}}";

        r.volume_id = S("csi-vol-1");
        r.target_path = S("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/v/mount");
        r.volume_capability = mount_cap(mount_flags, 2);
        r.readonly = 1;
        set_map(&r.base, "publish_context", pc, 1);
        set_map(&r.base, "secrets", publish_secrets, 3);
        set_map(&r.base, "volume_context", publish_context_kv,
                sizeof(publish_context_kv) / sizeof(publish_context_kv[0]) / 2);

        ck_assert_str_eq(text(&r.base), want);
        /* keys of the secrets map are hidden too: key names can be sensitive */
        ck_assert_ptr_null(strstr(out, "db-password"));
        ck_assert_ptr_null(strstr(out, "api-key"));

        /* the unpacked form reads the same */
        ProtobufCMessage *u = roundtrip(&r.base);
        ck_assert_str_eq(text(u), want);
        protobuf_c_message_free_unpacked(u, NULL);
}
END_TEST

START_TEST(test_stage_unstage_requests)
{
        Csi__V1__NodeStageVolumeRequest st = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
        Csi__V1__NodeUnstageVolumeRequest un = CSI__V1__NODE_UNSTAGE_VOLUME_REQUEST__INIT;
        static const char *const ctx[] = { "roleName", "r", "password", SECRET_B };

        st.volume_id = S("v");
        st.staging_target_path = S("/staging");
        st.volume_capability = mount_cap(mount_flags, 2);
        set_map(&st.base, "secrets", publish_secrets, 3);
        set_map(&st.base, "volume_context", ctx, 2);
        ck_assert_str_eq(text(&st.base),
                         "{volume_id: \"v\", staging_target_path: \"/staging\", "
                         "volume_capability: {mount: {fs_type: \"tmpfs\", mount_flags: " M "}, "
                         "access_mode: {mode: SINGLE_NODE_WRITER}}, secrets: " M ", "
                         "volume_context: {\"roleName\": \"r\", \"password\": " M "}}");

        un.volume_id = S("v");
        un.staging_target_path = S("/staging");
        ck_assert_str_eq(text(&un.base), "{volume_id: \"v\", staging_target_path: \"/staging\"}");
}
END_TEST

START_TEST(test_unpublish_stats_expand_requests)
{
        Csi__V1__NodeUnpublishVolumeRequest up = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        Csi__V1__NodeGetVolumeStatsRequest vs = CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
        Csi__V1__NodeExpandVolumeRequest ex = CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
        Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;

        up.volume_id = S("v");
        up.target_path = S("/t");
        ck_assert_str_eq(text(&up.base), "{volume_id: \"v\", target_path: \"/t\"}");

        vs.volume_id = S("v");
        vs.volume_path = S("/t");
        ck_assert_str_eq(text(&vs.base), "{volume_id: \"v\", volume_path: \"/t\"}");

        ex.volume_id = S("v");
        ex.volume_path = S("/t");
        cr.required_bytes = 1048576;
        cr.limit_bytes = -1;
        ex.capacity_range = &cr;
        set_map(&ex.base, "secrets", publish_secrets, 3);
        ck_assert_str_eq(text(&ex.base),
                         "{volume_id: \"v\", volume_path: \"/t\", capacity_range: "
                         "{required_bytes: 1048576, limit_bytes: -1}, secrets: " M "}");
}
END_TEST

START_TEST(test_empty_requests)
{
        Csi__V1__GetPluginInfoRequest a = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
        Csi__V1__GetPluginCapabilitiesRequest b = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
        Csi__V1__ProbeRequest c = CSI__V1__PROBE_REQUEST__INIT;
        Csi__V1__NodeGetCapabilitiesRequest d = CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT;
        Csi__V1__NodeGetInfoRequest e = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
        Csi__V1__NodePublishVolumeRequest f = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        const ProtobufCMessage *all[] = { &a.base, &b.base, &c.base, &d.base, &e.base, &f.base };

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                ck_assert_str_eq(text(all[i]), "{}");
                ProtobufCMessage *u = roundtrip(all[i]);
                ck_assert_str_eq(text(u), "{}");
                protobuf_c_message_free_unpacked(u, NULL);
        }
        ck_assert_uint_eq(redact_message(NULL, NULL, 0, out, sizeof(out)), 4);
        ck_assert_str_eq(out, "null");
}
END_TEST

/* ---- CSI responses ---- */

START_TEST(test_responses)
{
        Csi__V1__GetPluginInfoResponse pi = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;
        static const char *const manifest[] = { "url", "https://example.invalid",
                                                "csi.storage.k8s.io/serviceAccount.tokens",
                                                TOKENS_JSON };
        Csi__V1__ProbeResponse pr = CSI__V1__PROBE_RESPONSE__INIT;
        Csi__V1__BoolValue ready = CSI__V1__BOOL_VALUE__INIT;
        Csi__V1__NodeGetCapabilitiesResponse nc = CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;
        Csi__V1__NodeServiceCapability cap = CSI__V1__NODE_SERVICE_CAPABILITY__INIT;
        Csi__V1__NodeServiceCapability__RPC rpc = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__INIT;
        Csi__V1__NodeServiceCapability *caps[] = { &cap };
        Csi__V1__GetPluginCapabilitiesResponse gc = CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
        Csi__V1__PluginCapability pc = CSI__V1__PLUGIN_CAPABILITY__INIT;
        Csi__V1__PluginCapability__Service svc = CSI__V1__PLUGIN_CAPABILITY__SERVICE__INIT;
        Csi__V1__PluginCapability *pcs[] = { &pc };
        Csi__V1__NodeGetInfoResponse ni = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
        static const char *const seg[] = { "topology.kubernetes.io/zone", "z1" };
        Csi__V1__NodeGetVolumeStatsResponse vs = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
        Csi__V1__VolumeUsage use = CSI__V1__VOLUME_USAGE__INIT;
        Csi__V1__VolumeUsage *uses[] = { &use, &use };

        pi.name = S("csi.vaultmount.io");
        pi.vendor_version = S("0.1.0");
        set_map(&pi.base, "manifest", manifest, 2);
        /* the token key is stripped in any map */
        ck_assert_str_eq(text(&pi.base),
                         "{name: \"csi.vaultmount.io\", vendor_version: \"0.1.0\", manifest: "
                         "{\"url\": \"https://example.invalid\", "
                         "\"csi.storage.k8s.io/serviceAccount.tokens\": " M "}}");

        pr.ready = &ready;
        ck_assert_str_eq(text(&pr.base), "{ready: {}}"); /* false: the default */
        ready.value = 1;
        ck_assert_str_eq(text(&pr.base), "{ready: {value: true}}");

        rpc.type = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS;
        cap.type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
        cap.rpc = &rpc;
        nc.n_capabilities = 1;
        nc.capabilities = caps;
        ck_assert_str_eq(text(&nc.base), "{capabilities: [{rpc: {type: GET_VOLUME_STATS}}]}");
        rpc.type = 99; /* unknown enum value: its number */
        ck_assert_str_eq(text(&nc.base), "{capabilities: [{rpc: {type: 99}}]}");

        svc.type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
        pc.type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
        pc.service = &svc;
        gc.n_capabilities = 1;
        gc.capabilities = pcs;
        ck_assert_str_eq(text(&gc.base), "{capabilities: [{service: {type: CONTROLLER_SERVICE}}]}");

        ni.node_id = S("node-1");
        ni.max_volumes_per_node = 110;
        set_map(&topo.base, "segments", seg, 1);
        ni.accessible_topology = &topo;
        ck_assert_str_eq(text(&ni.base),
                         "{node_id: \"node-1\", max_volumes_per_node: 110, accessible_topology: "
                         "{segments: {\"topology.kubernetes.io/zone\": \"z1\"}}}");

        use.total = 4096;
        use.used = 12;
        use.unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
        vs.n_usage = 2;
        vs.usage = uses;
        ck_assert_str_eq(text(&vs.base), "{usage: [{total: 4096, used: 12, unit: BYTES}, "
                                         "{total: 4096, used: 12, unit: BYTES}]}");
}
END_TEST

START_TEST(test_generated_table)
{
        /* the table comes from the [(csi_secret) = true] marks in csi.proto */
        ck_assert_uint_eq(csi_secret_fields_count, 3);
        ck_assert(csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                      "csi.v1.NodePublishVolumeRequest", 7));
        ck_assert(csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                      "csi.v1.NodeStageVolumeRequest", 5));
        ck_assert(csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                      "csi.v1.NodeExpandVolumeRequest", 6));
        ck_assert(!csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                       "csi.v1.NodePublishVolumeRequest", 8));
        ck_assert(!csi_secret_field_in(csi_secret_fields, csi_secret_fields_count,
                                       "csi.v1.NodePublishVolumeRequestX", 7));
}
END_TEST

START_TEST(test_builtin_rules_without_table)
{
        Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;

        /* mount_flags and the attribute policy apply whatever the table is */
        r.volume_capability = mount_cap(mount_flags, 2);
        set_map(&r.base, "volume_context", publish_context_kv, 10);
        (void)redact_message(&r.base, NULL, 0, out, sizeof(out));
        assert_no_planted(out);
        ck_assert_ptr_nonnull(strstr(out, "mount_flags: " M));
        ck_assert_ptr_nonnull(strstr(out, "\"roleName\": \"web-role\""));
}
END_TEST

/* ---- volume attributes ---- */

START_TEST(test_attribute_policy)
{
        ck_assert(redact_volume_attribute_shown("roleName"));
        ck_assert(redact_volume_attribute_shown("csi.storage.k8s.io/pod.uid"));
        ck_assert(!redact_volume_attribute_shown(REDACT_TOKENS_KEY));
        ck_assert(!redact_volume_attribute_shown("objects")); /* shown through its own parser */
        ck_assert(!redact_volume_attribute_shown("rolename"));
        ck_assert(!redact_volume_attribute_shown("password"));
        ck_assert(!redact_volume_attribute_shown(""));
        ck_assert(!redact_volume_attribute_shown(NULL));
}
END_TEST

static const char *publish_with_context(const char *const *kv, size_t n) {
        Csi__V1__NodePublishVolumeRequest *r = tzalloc(sizeof(*r));
        csi__v1__node_publish_volume_request__init(r);
        set_map(&r->base, "volume_context", kv, n);
        return text(&r->base);
}

START_TEST(test_objects_attribute)
{
        static const char *const json_form[] = {
                "objects",
                "[{\"objectName\": \"a\", \"secretPath\": \"kv/data/a\", \"secretArgs\": "
                "{\"x\": \"" SECRET_A "\"}}]",
        };
        static const char *const bad_yaml[] = { "objects",
                                                "- objectName: a\n  secretArgs: {" SECRET_A };
        static const char *const not_list[] = { "objects", "objectName: " SECRET_A };
        static const char *const scalar_args[] = { "objects", "- secretArgs: " SECRET_A "\n"
                                                              "- " SECRET_B "\n" };
        static const char *const case_args[] = { "objects", "- SECRETARGS: {k: " SECRET_A "}\n" };

        ck_assert_str_eq(publish_with_context(json_form, 1),
                         "{volume_context: {\"objects\": [{\"objectName\": \"a\", "
                         "\"secretPath\": \"kv/data/a\", \"secretArgs\": {\"x\": " M "}}]}}");
        ck_assert_str_eq(publish_with_context(bad_yaml, 1),
                         "{volume_context: {\"objects\": " M " (not a YAML list)}}");
        ck_assert_str_eq(publish_with_context(not_list, 1),
                         "{volume_context: {\"objects\": " M " (not a YAML list)}}");
        ck_assert_str_eq(publish_with_context(scalar_args, 1),
                         "{volume_context: {\"objects\": [{\"secretArgs\": " M "}, " M "]}}");
        ck_assert_str_eq(publish_with_context(case_args, 1),
                         "{volume_context: {\"objects\": [{\"SECRETARGS\": {\"k\": " M "}}]}}");
}
END_TEST

START_TEST(test_token_key_variants)
{
        static const char *const kv[] = {
                "CSI.storage.k8s.io/serviceAccount.TOKENS",
                TOKENS_JSON,
                "csi.storage.k8s.io/serviceAccount.tokens",
                TOKENS_JSON,
        };
        Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;

        ck_assert_str_eq(publish_with_context(kv, 2),
                         "{volume_context: {\"CSI.storage.k8s.io/serviceAccount.TOKENS\": " M
                         ", \"csi.storage.k8s.io/serviceAccount.tokens\": " M "}}");
        /* publish_context follows the same policy */
        set_map(&r.base, "publish_context", kv, 2);
        ck_assert_str_eq(text(&r.base),
                         "{publish_context: {\"CSI.storage.k8s.io/serviceAccount.TOKENS\": " M
                         ", \"csi.storage.k8s.io/serviceAccount.tokens\": " M "}}");
}
END_TEST

/* ---- maps ---- */

START_TEST(test_many_keys)
{
        enum {
                N = 600
        };
        const char **kv = tzalloc(2 * N * sizeof(char *));
        Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        size_t n;

        for (size_t i = 0; i < N; i++) {
                char *k = tzalloc(32);
                (void)snprintf(k, 32, "key-%zu", i);
                kv[2 * i] = k;
                kv[2 * i + 1] = i % 2 ? SECRET_A : "";
        }
        /* a secrets map is one marker, however many keys (and no key shows) */
        set_map(&r.base, "secrets", kv, N);
        ck_assert_str_eq(text(&r.base), "{secrets: " M "}");

        /* a big volume_context: bounded, cut with "...", no value leaks */
        r.n_secrets = 0;
        set_map(&r.base, "volume_context", kv, N);
        n = redact_message(&r.base, csi_secret_fields, csi_secret_fields_count, out, sizeof(out));
        assert_no_planted(out);
        ck_assert_uint_eq(n, strlen(out));
        ck_assert_uint_lt(n, sizeof(out));
        ck_assert_uint_gt(n, sizeof(out) - 64);
        ck_assert_str_eq(out + n - 3, "...");
        ck_assert_ptr_nonnull(strstr(out, "\"key-0\": " M ", \"key-1\": " M ", \"key-2\""));

        /* empty keys and values are printed as "" */
        static const char *const empty[] = { "", "", "csi.storage.k8s.io/pod.name", "" };
        Csi__V1__GetPluginInfoResponse pi = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;
        set_map(&pi.base, "manifest", empty, 2);
        ck_assert_str_eq(text(&pi.base),
                         "{manifest: {\"\": \"\", \"csi.storage.k8s.io/pod.name\": \"\"}}");
        ck_assert_str_eq(publish_with_context(empty, 2),
                         "{volume_context: {\"\": " M ", \"csi.storage.k8s.io/pod.name\": \"\"}}");

        /* a hand-built message may hold NULL entries: never a crash */
        pi.manifest[0] = NULL;
        ck_assert_str_eq(text(&pi.base),
                         "{manifest: {null, \"csi.storage.k8s.io/pod.name\": \"\"}}");
}
END_TEST

/* ---- malformed ---- */

START_TEST(test_unknown_fields)
{
        Csi__V1__NodeUnpublishVolumeRequest up = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        uint8_t buf[256];
        size_t len;
        ProtobufCMessage *u;
        static const char secret[] = SECRET_A;

        up.volume_id = S("v");
        len = protobuf_c_message_pack(&up.base, buf);
        /* field 99, length-delimited: a secret field a newer CO might add */
        buf[len++] = ((99 << 3 | 2) & 0x7f) | 0x80;
        buf[len++] = (99 << 3 | 2) >> 7;
        buf[len++] = (uint8_t)(sizeof(secret) - 1);
        memcpy(buf + len, secret, sizeof(secret) - 1);
        len += sizeof(secret) - 1;
        /* field 100, varint */
        buf[len++] = ((100 << 3) & 0x7f) | 0x80;
        buf[len++] = (100 << 3) >> 7;
        buf[len++] = 42;

        u = protobuf_c_message_unpack(&csi__v1__node_unpublish_volume_request__descriptor, NULL,
                                      len, buf);
        ck_assert_ptr_nonnull(u);
        ck_assert_uint_eq(u->n_unknown_fields, 2);
        ck_assert_str_eq(text(u), "{volume_id: \"v\", unknown_fields: [#99, #100]}");
        protobuf_c_message_free_unpacked(u, NULL);

        /* an otherwise empty message with an unknown field */
        u = protobuf_c_message_unpack(
                &csi__v1__probe_request__descriptor, NULL, 3,
                (const uint8_t[]){ ((100 << 3) & 0x7f) | 0x80, (100 << 3) >> 7, 1 });
        ck_assert_ptr_nonnull(u);
        ck_assert_str_eq(text(u), "{unknown_fields: [#100]}");
        protobuf_c_message_free_unpacked(u, NULL);
}
END_TEST

START_TEST(test_absent_submessages)
{
        Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
        Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
        Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;

        r.volume_capability = &cap;
        ck_assert_str_eq(text(&r.base), "{volume_capability: {}}");
        /* a oneof case without its message (hand-built): null, not a crash */
        cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        cap.mount = NULL;
        ck_assert_str_eq(text(&r.base), "{volume_capability: {mount: null}}");
        cap.mount = &mv;
        ck_assert_str_eq(text(&r.base), "{volume_capability: {mount: {}}}");
        /* a repeated field whose count is set but whose array is not */
        mv.n_mount_flags = 3;
        ck_assert_str_eq(text(&r.base), "{volume_capability: {mount: {}}}");

        /* the same through the wire: empty sub-messages stay present */
        mv.n_mount_flags = 0;
        ProtobufCMessage *u = roundtrip(&r.base);
        ck_assert_str_eq(text(u), "{volume_capability: {mount: {}}}");
        protobuf_c_message_free_unpacked(u, NULL);
}
END_TEST

START_TEST(test_string_escaping)
{
        Csi__V1__NodeUnpublishVolumeRequest up = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;

        up.volume_id = S("a\"b\\c\nd\te\rf\x01g\x7fh");
        up.target_path = S("caf\xc3\xa9 \xe2\x82\xac");
        ck_assert_str_eq(text(&up.base), "{volume_id: \"a\\\"b\\\\c\\nd\\te\\rf\\x01g\\x7fh\", "
                                         "target_path: \"caf\xc3\xa9 \xe2\x82\xac\"}");
        /* invalid UTF-8: every byte >= 0x80 of that string escaped */
        up.volume_id = S("x\xff\xc3\xa9");
        up.target_path = S("");
        ck_assert_str_eq(text(&up.base), "{volume_id: \"x\\xff\\xc3\\xa9\"}");
        for (const char *p = out; *p; p++)
                ck_assert((unsigned char)*p >= 0x20 && *p != 0x7f);
}
END_TEST

START_TEST(test_deep_nesting)
{
        enum {
                DEPTH = 40
        };
        Vaultmount__Test__RedactProbe *p = tzalloc(DEPTH * sizeof(*p));
        for (int i = 0; i < DEPTH; i++) {
                vaultmount__test__redact_probe__init(&p[i]);
                p[i].count = i;
                if (i + 1 < DEPTH)
                        p[i].next = &p[i + 1];
        }
        (void)text(&p[0].base);
        ck_assert_ptr_nonnull(strstr(out, "{...}"));
        ck_assert_ptr_null(strstr(out, "count: 30"));
        ck_assert_ptr_nonnull(strstr(out, "count: 16"));

        /* deep nesting through the wire too */
        ProtobufCMessage *u = roundtrip(&p[0].base);
        char copy[REDACT_TEXT_MAX];
        snprintf(copy, sizeof(copy), "%s", out);
        ck_assert_str_eq(text(u), copy);
        protobuf_c_message_free_unpacked(u, NULL);
}
END_TEST

/* ---- the test-only .proto ---- */

START_TEST(test_new_secret_field_is_stripped)
{
        Vaultmount__Test__RedactProbe p = VAULTMOUNT__TEST__REDACT_PROBE__INIT;
        Vaultmount__Test__RedactProbe__Inner in = VAULTMOUNT__TEST__REDACT_PROBE__INNER__INIT;
        Vaultmount__Test__RedactProbe__Inner *items[] = { &in };
        static const char *const labels[] = { "team", "payments" };
        static const char *const creds[] = { "user", SECRET_A };
        static const char *const tags[] = { "a", "b" };
        static const char *const pw[] = { SECRET_A, SECRET_B };
        const char *want =
                "{name: \"probe\", api_key: " M ", inner: {note: \"n\", password: " M "}, "
                "labels: {\"team\": \"payments\"}, credentials: " M ", tags: [\"a\", \"b\"], "
                "passwords: " M ", items: [{note: \"n\", password: " M "}], secret_choice: " M "}";

        p.name = S("probe");
        p.api_key = S(SECRET_A);
        in.note = S("n");
        in.password = S(SECRET_B);
        p.inner = &in;
        set_map(&p.base, "labels", labels, 1);
        set_map(&p.base, "credentials", creds, 1);
        set_strings(&p.base, "tags", tags, 2);
        set_strings(&p.base, "passwords", pw, 2);
        p.n_items = 1;
        p.items = items;
        p.choice_case = VAULTMOUNT__TEST__REDACT_PROBE__CHOICE_SECRET_CHOICE;
        p.secret_choice = S(SECRET_B);

        /* the generated table has exactly the marked fields */
        ck_assert_uint_eq(redact_test_secret_fields_count, 5);
        ck_assert(csi_secret_field_in(redact_test_secret_fields, redact_test_secret_fields_count,
                                      "vaultmount.test.RedactProbe.Inner", 2));

        (void)redact_message(&p.base, redact_test_secret_fields, redact_test_secret_fields_count,
                             out, sizeof(out));
        assert_no_planted(out);
        ck_assert_str_eq(out, want);
        ck_assert_ptr_null(strstr(out, "user")); /* keys of a secret map are hidden */

        /* the table is a parameter: with the CSI table the same fields show */
        (void)redact_message(&p.base, csi_secret_fields, csi_secret_fields_count, out, sizeof(out));
        ck_assert_msg(strstr(out, SECRET_A) != NULL, "the test table is what strips");

        /* unpacked from the wire: same result */
        ProtobufCMessage *u = roundtrip(&p.base);
        (void)redact_message(u, redact_test_secret_fields, redact_test_secret_fields_count, out,
                             sizeof(out));
        assert_no_planted(out);
        ck_assert_str_eq(out, want);
        protobuf_c_message_free_unpacked(u, NULL);
}
END_TEST

START_TEST(test_scalar_types)
{
        Vaultmount__Test__RedactProbe p = VAULTMOUNT__TEST__REDACT_PROBE__INIT;
        static const uint8_t blob[] = { 1, 2, 3, 4 };
        static const char *const bynum[] = { "x", "y" };

        p.blob.data = (uint8_t *)blob;
        p.blob.len = sizeof(blob);
        p.count = -5;
        p.flag = 1;
        p.kind = VAULTMOUNT__TEST__REDACT_PROBE__KIND__KIND_B;
        p.ratio = 0.5;
        p.small = 4000000000U;
        p.choice_case = VAULTMOUNT__TEST__REDACT_PROBE__CHOICE_PLAIN_CHOICE;
        p.plain_choice = S("plain");
        (void)redact_message(&p.base, redact_test_secret_fields, redact_test_secret_fields_count,
                             out, sizeof(out));
        ck_assert_str_eq(out, "{blob: <4 bytes>, count: -5, flag: true, kind: KIND_B, ratio: 0.5, "
                              "small: 4000000000, plain_choice: \"plain\"}");

        /* a map with non-string keys */
        Vaultmount__Test__RedactProbe q = VAULTMOUNT__TEST__REDACT_PROBE__INIT;
        Vaultmount__Test__RedactProbe__ByNumberEntry e1 =
                VAULTMOUNT__TEST__REDACT_PROBE__BY_NUMBER_ENTRY__INIT;
        Vaultmount__Test__RedactProbe__ByNumberEntry *es[] = { &e1 };
        e1.key = -3;
        e1.value = S(bynum[0]);
        q.n_by_number = 1;
        q.by_number = es;
        (void)redact_message(&q.base, redact_test_secret_fields, redact_test_secret_fields_count,
                             out, sizeof(out));
        ck_assert_str_eq(out, "{by_number: {-3: \"x\"}}");
}
END_TEST

/* ---- bounds ---- */

START_TEST(test_bounded_output)
{
        Csi__V1__NodeUnpublishVolumeRequest up = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        char small[128];

#define EURO "\xe2\x82\xac"
        up.volume_id = S(EURO EURO EURO EURO EURO EURO EURO EURO EURO EURO EURO EURO);
#undef EURO
        up.target_path = S("/some/long/target/path/that/will/not/fit/in/a/small/buffer");
        for (size_t size = 0; size < sizeof(small); size++) {
                size_t n;
                memset(small, 'Z', sizeof(small));
                n = redact_message(&up.base, NULL, 0, small, size);
                if (size == 0) {
                        ck_assert_uint_eq(n, 0);
                        ck_assert_int_eq(small[0], 'Z');
                        continue;
                }
                ck_assert_uint_eq(n, strlen(small));
                ck_assert_uint_lt(n, size);
                ck_assert_msg(utf8_valid(small, n), "cut inside a UTF-8 sequence at size %zu",
                              size);
                if (size > 4 && size < 100)
                        ck_assert_str_eq(small + n - 3, "...");
                /* nothing written past the buffer */
                for (size_t k = size; k < sizeof(small); k++)
                        ck_assert_int_eq(small[k], 'Z');
        }
}
END_TEST

/* ---- the log core's token-shape scrubber ---- */

static const struct {
        const char *name, *value;
} shapes[] = {
        { "jwt", FAKE_JWT },
        { "jwt-empty-signature", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." },
        { "jwe", "eyJhbGciOiJSU0EtT0FFUCJ9.Zm9vYmFy.aXZpdg.Y2lwaGVy.dGFn" },
        { "hvs", "hvs.CAESIJlWeFxZq3wYd0zJpS1dG2eB0r9gFv7yKqL4nA6mXcQwGh4KHGh2cy5xN2M0" },
        { "hvb", "hvb.AAAAAQJBn5yK-7c_Xw3tQe0a9LmZsR2Vd8Hk4uIo6pFy1gNqWjE" },
        { "hvr", "hvr.AbCdEfGhIjKlMnOpQrStUvWx" },
        { "legacy-service", "s.AbCdEfGhIjKlMnOpQrStUvWx" },
        { "legacy-namespaced", "s.AbCdEfGhIjKlMnOpQrStUvWx.Ns9x1" },
        { "legacy-batch", "b.AAAAAQLx0m3xq7yKq4sNnOZAFvhjkl0pNtm0kbY7gq8dS5yH" },
        { "openbao-service", "s.xY7kQ2mN9pL4vR8tW3zB6cF1hJ5gD0aSeUoIiKlMnOp" },
        { "recovery", "r.AbCdEfGhIjKlMnOpQrStUvWx12" },
};

START_TEST(test_scrub_shapes)
{
        static const char *const contexts[][2] = {
                { "", "" },   { "token=", " end" },        { "{\"token\":\"", "\"}" },
                { "'", "'" }, { "X-Vault-Token: ", "\n" }, { "(", ")" },
        };
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
                for (size_t c = 0; c < sizeof(contexts) / sizeof(contexts[0]); c++) {
                        char in[512], o[512];
                        size_t n;
                        (void)snprintf(in, sizeof(in), "%s%s%s", contexts[c][0], shapes[i].value,
                                       contexts[c][1]);
                        n = log_scrub_tokens(in, o, sizeof(o));
                        ck_assert_msg(n == 1, "%s in context %zu: %zu replacements", shapes[i].name,
                                      c, n);
                        ck_assert_msg(strstr(o, shapes[i].value) == NULL, "%s leaked",
                                      shapes[i].name);
                        ck_assert_msg(strstr(o, LOG_TOKEN_MARKER) != NULL, "%s: no marker",
                                      shapes[i].name);
                }
        char o[256];
        ck_assert_uint_eq(
                log_scrub_tokens("a " FAKE_JWT " b hvr.AbCdEfGhIjKlMnOpQrStUvWx c", o, sizeof(o)),
                2);
        ck_assert_str_eq(o, "a " LOG_TOKEN_MARKER " b " LOG_TOKEN_MARKER " c");
        /* a record cut inside a token: the visible part still goes */
        ck_assert_uint_eq(
                log_scrub_tokens("cut eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.eyJzdW", o, sizeof(o)),
                1);
        ck_assert_str_eq(o, "cut " LOG_TOKEN_MARKER);
        ck_assert_uint_eq(log_scrub_tokens("cut hvs.CAESIJ", o, sizeof(o)), 1);
        ck_assert_str_eq(o, "cut " LOG_TOKEN_MARKER);
}
END_TEST

START_TEST(test_scrub_near_misses)
{
        static const char *const keep[] = {
                "",
                "plain text",
                "s.short",
                "s.AbCdEfGhIjKlMnOpQrStUv and more", /* 22: too short for s. */
                "pods.AbCdEfGhIjKlMnOpQrStUvWxYz",   /* not at a word start */
                "hvs.short and more",
                ("/var/lib/kubelet/pods/5f0c3e1a-0000-4000-8000-000000000001/volumes/"
                 "kubernetes.io~csi/pvc-1/mount"),
                "csi.storage.k8s.io/serviceAccount.tokens",
                "eyJshort.x.y",
                "eyJhbGciOiJIUzI1NiJ9 without dots",
                "eyJhbGciOiJIUzI1NiJ9.x.",
                "00 01 02 03 04 05 06", /* 7 groups */
                "deadbeefdeadbeefdeadbeefdeadbeef",
                "5f0c3e1a-0000-4000-8000-000000000001",
                "GRPC_CODE=3 DURATION_MS=0.015 took 5 s.",
                "secret/data/app and kv/data/b.c",
        };
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
                char o[512];
                ck_assert_msg(log_scrub_tokens(keep[i], o, sizeof(o)) == 0, "case %zu changed", i);
                ck_assert_str_eq(o, keep[i]);
        }
}
END_TEST

START_TEST(test_scrub_hex_dumps)
{
        /* gRPC core's tracer: hex bytes, then one character per byte in quotes */
        const char *dump = "READ DATA: 00 00 0b 00 01 0a 03 6b 65 79 12 41 27 42 "
                           "'.....\n.key.A'B' tail";
        char o[256];
        ck_assert_uint_eq(log_scrub_tokens(dump, o, sizeof(o)), 1);
        ck_assert_str_eq(o, "READ DATA: " LOG_DUMP_MARKER " tail");
        /* cut before the rendition ends */
        ck_assert_uint_eq(log_scrub_tokens("W: 00 01 02 03 04 05 06 07 'ab", o, sizeof(o)), 1);
        ck_assert_str_eq(o, "W: " LOG_DUMP_MARKER);
        /* upper case, no rendition */
        ck_assert_uint_eq(log_scrub_tokens("AA BB CC DD EE FF 00 11 22", o, sizeof(o)), 1);
        ck_assert_str_eq(o, LOG_DUMP_MARKER);
}
END_TEST

START_TEST(test_scrub_bounds)
{
        char o[8];
        memset(o, 'Z', sizeof(o));
        ck_assert_uint_eq(log_scrub_tokens("abc " FAKE_JWT, o, 5), 1);
        ck_assert_str_eq(o, "abc ");
        ck_assert_int_eq(o[5], 'Z');
        ck_assert_uint_eq(log_scrub_tokens("abcdefghij", o, sizeof(o)), 0);
        ck_assert_str_eq(o, "abcdefg");
        ck_assert_uint_eq(log_scrub_tokens("x", o, 0), 0);
        ck_assert_uint_gt(log_token_shape_at("a " FAKE_JWT, 2), 0);
        ck_assert_uint_eq(log_token_shape_at("a " FAKE_JWT, 1), 0);
}
END_TEST

/* Records reaching a sink carry no token, in the message or any field. */
typedef struct Seen {
        int calls;
        char all[4096];
} Seen;

static void seen_sink(const LogRecord *r, void *userdata) {
        Seen *s = userdata;
        size_t off = strlen(s->all);
        s->calls++;
        off += (size_t)snprintf(s->all + off, sizeof(s->all) - off, "%s|", r->message);
        for (size_t i = 0; i < r->n_fields && off < sizeof(s->all); i++)
                off += (size_t)snprintf(s->all + off, sizeof(s->all) - off, "%s=%s|",
                                        r->fields[i].key, r->fields[i].value);
}

START_TEST(test_scrub_in_log_core)
{
        Seen seen = { 0 };
        LogContext ctx = { .method = "NodePublishVolume", .volume_id = FAKE_JWT };
        const LogField f[] = { { "VAULT_PATH", "secret/data/app" },
                               { "DETAIL", "token hvs.CAESIJlWeFxZq3wYd0zJpS1dG2eB0r9gFv7yKq" } };

        log_set_sink(seen_sink, &seen);
        log_context_push(&ctx);
        log_struct(LOG_LEVEL_ERR, 0, f, 2, "login with %s failed", FAKE_JWT);
        log_context_pop(&ctx);
        log_set_sink(NULL, NULL);

        ck_assert_int_eq(seen.calls, 1);
        assert_no_planted(seen.all);
        ck_assert_ptr_null(strstr(seen.all, "hvs.CAES"));
        ck_assert_str_eq(seen.all,
                         "login with " LOG_TOKEN_MARKER " failed|"
                         "CSI_METHOD=NodePublishVolume|CSI_VOLUME_ID=" LOG_TOKEN_MARKER
                         "|VAULT_PATH=secret/data/app|DETAIL=token " LOG_TOKEN_MARKER "|");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("redact");
        TCase *tc;

        tc = tcase_create("csi");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_publish_request);
        tcase_add_test(tc, test_stage_unstage_requests);
        tcase_add_test(tc, test_unpublish_stats_expand_requests);
        tcase_add_test(tc, test_empty_requests);
        tcase_add_test(tc, test_responses);
        tcase_add_test(tc, test_generated_table);
        tcase_add_test(tc, test_builtin_rules_without_table);
        suite_add_tcase(s, tc);

        tc = tcase_create("attributes");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_attribute_policy);
        tcase_add_test(tc, test_objects_attribute);
        tcase_add_test(tc, test_token_key_variants);
        suite_add_tcase(s, tc);

        tc = tcase_create("maps");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_many_keys);
        suite_add_tcase(s, tc);

        tc = tcase_create("malformed");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_unknown_fields);
        tcase_add_test(tc, test_absent_submessages);
        tcase_add_test(tc, test_string_escaping);
        tcase_add_test(tc, test_deep_nesting);
        suite_add_tcase(s, tc);

        tc = tcase_create("test-proto");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_new_secret_field_is_stripped);
        tcase_add_test(tc, test_scalar_types);
        suite_add_tcase(s, tc);

        tc = tcase_create("bounds");
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_bounded_output);
        suite_add_tcase(s, tc);

        tc = tcase_create("scrub");
        tcase_add_test(tc, test_scrub_shapes);
        tcase_add_test(tc, test_scrub_near_misses);
        tcase_add_test(tc, test_scrub_hex_dumps);
        tcase_add_test(tc, test_scrub_bounds);
        tcase_add_test(tc, test_scrub_in_log_core);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
