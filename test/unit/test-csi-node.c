/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-csi-node.c - NodePublishVolume/NodeUnpublishVolume request validation
 * (CSI v1.12, csi-facts 1.3-1.4 and 2.2), csi_node_context_get, and the Node
 * handler paths that need no gRPC call, Vault or mount back-end (invalid
 * requests, NodeGetInfo, the unsupported RPCs). NodeGetCapabilities and the
 * publish path itself are covered by the integration suite.
 */
#undef NDEBUG
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "csi-node.h"
#include "csi-service.h"
#include "csi.pb-c.h"
#include "config.h"
#include "status.h"

#include <check.h>

#include "testutil.h"

typedef Csi__V1__NodePublishVolumeRequest__VolumeContextEntry VolCtxEntry;

typedef struct Publish {
        Csi__V1__VolumeCapability__MountVolume mount;
        Csi__V1__VolumeCapability__BlockVolume block;
        Csi__V1__VolumeCapability__AccessMode mode;
        Csi__V1__VolumeCapability cap;
        Csi__V1__NodePublishVolumeRequest req;
} Publish;

/* A request as kubelet sends it for an inline volume (csi-facts 3.2). */
static void publish_init(Publish *p) {
        *p = (Publish){
                .mount = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT,
                .block = CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT,
                .mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT,
                .cap = CSI__V1__VOLUME_CAPABILITY__INIT,
                .req = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT,
        };
        p->mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
        p->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
        p->cap.mount = &p->mount;
        p->cap.access_mode = &p->mode;
        p->req.volume_id = (char *)"csi-d891ff2a";
        p->req.target_path = (char *)"/var/lib/kubelet/pods/0f1e2d3c/volumes/"
                                     "kubernetes.io~csi/vault-secrets/mount";
        p->req.volume_capability = &p->cap;
}

/* Expects INVALID_ARGUMENT with a message naming the method and `needle`. */
static void expect_invalid(const Publish *p, const char *needle) {
        CsiStatus st = CSI_STATUS_INIT;
        int r = csi_node_validate_publish(&p->req, &st);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert(st.set);
        ck_assert_int_eq(st.code, CSI_INVALID_ARGUMENT);
        ck_assert_msg(strncmp(st.message, "NodePublishVolume: ", 19) == 0, "'%s'", st.message);
        ck_assert_msg(strstr(st.message, needle) != NULL, "'%s' not in '%s'", needle, st.message);
}

static void expect_valid(const Publish *p) {
        CsiStatus st = CSI_STATUS_INIT;
        int r = csi_node_validate_publish(&p->req, &st);
        ck_assert_msg(r == 0, "rejected: %s", st.message);
        ck_assert(!st.set);
}

/* ---- publish validation ---- */

START_TEST(test_publish_valid)
{
        Publish p;
        publish_init(&p);
        expect_valid(&p);
        /* optional fields may be empty: fs_type "", no flags, readonly either way */
        p.req.readonly = 1;
        expect_valid(&p);
        p.mount.fs_type = (char *)"ext4";
        p.mount.volume_mount_group = (char *)"2000";
        expect_valid(&p);
        /* staging_target_path is ignored */
        p.req.staging_target_path = (char *)"/staging";
        expect_valid(&p);
}
END_TEST

START_TEST(test_publish_volume_id)
{
        Publish p;
        publish_init(&p);
        p.req.volume_id = (char *)"";
        expect_invalid(&p, "volume_id is required");
        p.req.volume_id = NULL;
        expect_invalid(&p, "volume_id is required");
}
END_TEST

START_TEST(test_publish_target_path)
{
        Publish p;
        publish_init(&p);
        p.req.target_path = (char *)"";
        expect_invalid(&p, "target_path is required");
        p.req.target_path = NULL;
        expect_invalid(&p, "target_path is required");
        /* volume_id is checked first */
        p.req.volume_id = (char *)"";
        expect_invalid(&p, "volume_id");
}
END_TEST

START_TEST(test_publish_capability_missing)
{
        Publish p;
        publish_init(&p);
        p.req.volume_capability = NULL;
        expect_invalid(&p, "volume_capability is required");
}
END_TEST

START_TEST(test_publish_block)
{
        Publish p;
        publish_init(&p);
        p.cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
        p.cap.block = &p.block;
        expect_invalid(&p, "block");
}
END_TEST

START_TEST(test_publish_no_access_type)
{
        Publish p;
        publish_init(&p);
        p.cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET;
        p.cap.mount = NULL;
        expect_invalid(&p, "volume_capability");
        expect_invalid(&p, "access type");
}
END_TEST

START_TEST(test_publish_access_mode_missing)
{
        Publish p;
        publish_init(&p);
        p.cap.access_mode = NULL;
        expect_invalid(&p, "volume_capability.access_mode is required");
}
END_TEST

START_TEST(test_publish_access_mode_unknown)
{
        Publish p;
        publish_init(&p);
        p.mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN;
        expect_invalid(&p, "volume_capability.access_mode.mode 0");
        /* values beyond the enum (a newer CO) are rejected the same way */
        p.mode.mode = (Csi__V1__VolumeCapability__AccessMode__Mode)8;
        expect_invalid(&p, "access_mode.mode 8");
        p.mode.mode = (Csi__V1__VolumeCapability__AccessMode__Mode)-1;
        expect_invalid(&p, "access_mode.mode -1");
}
END_TEST

START_TEST(test_publish_access_modes_1_to_5)
{
        Publish p;
        publish_init(&p);
        for (int m = 1; m <= 5; m++) {
                p.mode.mode = (Csi__V1__VolumeCapability__AccessMode__Mode)m;
                expect_valid(&p);
        }
}
END_TEST

START_TEST(test_publish_access_modes_6_7)
{
        /* SINGLE_NODE_SINGLE_WRITER / SINGLE_NODE_MULTI_WRITER need a capability
         * that is not advertised */
        Publish p;
        publish_init(&p);
        p.mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER;
        expect_invalid(&p, "access mode 6");
        expect_invalid(&p, "SINGLE_NODE_MULTI_WRITER");
        p.mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER;
        expect_invalid(&p, "access mode 7");
}
END_TEST

START_TEST(test_publish_first_status_wins)
{
        /* a status already set by the caller is kept (first wins) */
        Publish p;
        CsiStatus st = CSI_STATUS_INIT;
        publish_init(&p);
        p.req.volume_id = (char *)"";
        csi_status_set(&st, CSI_ABORTED, "earlier");
        ck_assert_int_eq(csi_node_validate_publish(&p.req, &st), -EINVAL);
        ck_assert_int_eq(st.code, CSI_ABORTED);
        ck_assert_str_eq(st.message, "earlier");
}
END_TEST

/* ---- unpublish validation ---- */

START_TEST(test_unpublish)
{
        Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        CsiStatus st = CSI_STATUS_INIT;

        req.volume_id = (char *)"csi-1";
        req.target_path = (char *)"/t/mount";
        ck_assert_int_eq(csi_node_validate_unpublish(&req, &st), 0);
        ck_assert(!st.set);

        req.volume_id = (char *)"";
        ck_assert_int_eq(csi_node_validate_unpublish(&req, &st), -EINVAL);
        ck_assert_int_eq(st.code, CSI_INVALID_ARGUMENT);
        ck_assert_str_eq(st.message, "NodeUnpublishVolume: volume_id is required");

        st = (CsiStatus)CSI_STATUS_INIT;
        req.volume_id = (char *)"csi-1";
        req.target_path = (char *)"";
        ck_assert_int_eq(csi_node_validate_unpublish(&req, &st), -EINVAL);
        ck_assert_int_eq(st.code, CSI_INVALID_ARGUMENT);
        ck_assert_str_eq(st.message, "NodeUnpublishVolume: target_path is required");

        st = (CsiStatus)CSI_STATUS_INIT;
        req.target_path = NULL;
        ck_assert_int_eq(csi_node_validate_unpublish(&req, &st), -EINVAL);
        ck_assert_ptr_nonnull(strstr(st.message, "target_path"));

        st = (CsiStatus)CSI_STATUS_INIT;
        req.volume_id = NULL;
        ck_assert_int_eq(csi_node_validate_unpublish(&req, &st), -EINVAL);
        ck_assert_ptr_nonnull(strstr(st.message, "volume_id"));
}
END_TEST

/* ---- csi_node_context_get ---- */

START_TEST(test_context_get)
{
        VolCtxEntry e[4] = {
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
        };
        VolCtxEntry *v[4] = { &e[0], &e[1], &e[2], &e[3] };

        e[0].key = NULL; /* tolerated */
        e[0].value = (char *)"orphan";
        e[1].key = (char *)"csi.storage.k8s.io/pod.name";
        e[1].value = (char *)"web-0";
        e[2].key = (char *)"csi.storage.k8s.io/pod.namespace";
        e[2].value = (char *)"prod";
        e[3].key = (char *)"csi.storage.k8s.io/pod.name";
        e[3].value = (char *)"duplicate";

        ck_assert_str_eq(csi_node_context_get(v, 4, "csi.storage.k8s.io/pod.name"), "web-0");
        ck_assert_str_eq(csi_node_context_get(v, 4, "csi.storage.k8s.io/pod.namespace"), "prod");
        ck_assert_ptr_null(csi_node_context_get(v, 4, "csi.storage.k8s.io/pod.uid"));
        ck_assert_ptr_null(csi_node_context_get(v, 4, "csi.storage.k8s.io/pod"));
        ck_assert_ptr_null(csi_node_context_get(v, 4, "CSI.storage.k8s.io/pod.name"));
        ck_assert_ptr_null(csi_node_context_get(v, 4, ""));
        /* n bounds the search */
        ck_assert_ptr_null(csi_node_context_get(v, 1, "csi.storage.k8s.io/pod.name"));
        ck_assert_ptr_null(csi_node_context_get(NULL, 0, "x"));
}
END_TEST

/* ---- handlers ---- */

START_TEST(test_handler_publish_invalid)
{
        /* A request that fails validation is answered before the publish
         * path (Vault, mounts) is touched: no publisher is needed here. */
        Config cfg = { .node_id = (char *)"n" };
        CsiDriver d = { .config = &cfg, .publisher = NULL };
        Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
        VolCtxEntry e[3] = {
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
                CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT,
        };
        VolCtxEntry *v[3] = { &e[0], &e[1], &e[2] };
        LogContext ctx = { .method = "NodePublishVolume" };
        CsiStatus st = CSI_STATUS_INIT;
        Publish p;

        publish_init(&p);
        e[0].key = (char *)"csi.storage.k8s.io/pod.name";
        e[0].value = (char *)"web-0";
        e[1].key = (char *)"csi.storage.k8s.io/pod.namespace";
        e[1].value = (char *)"prod";
        e[2].key = (char *)"csi.storage.k8s.io/pod.uid";
        e[2].value = (char *)"0f1e2d3c";
        p.req.n_volume_context = 3;
        p.req.volume_context = v;
        p.cap.access_mode = NULL;

        csi_node_publish_volume(&d, NULL, &p.req.base, &resp.base, &st, &ctx);
        ck_assert_int_eq(st.code, CSI_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(st.message, "access_mode"));
        /* the log context still names the volume and pod for the outcome line */
        ck_assert_str_eq(ctx.volume_id, p.req.volume_id);
        ck_assert_str_eq(ctx.target_path, p.req.target_path);
        ck_assert_str_eq(ctx.pod_name, "web-0");
        ck_assert_str_eq(ctx.pod_namespace, "prod");
        ck_assert_str_eq(ctx.pod_uid, "0f1e2d3c");
}
END_TEST

START_TEST(test_handler_unpublish_invalid)
{
        Config cfg = { .node_id = (char *)"n" };
        CsiDriver d = { .config = &cfg, .publisher = NULL };
        Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
        Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
        LogContext ctx = { .method = "NodeUnpublishVolume" };
        CsiStatus st = CSI_STATUS_INIT;

        req.volume_id = (char *)"csi-unknown";
        req.target_path = (char *)"";
        csi_node_unpublish_volume(&d, NULL, &req.base, &resp.base, &st, &ctx);
        ck_assert_int_eq(st.code, CSI_INVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(st.message, "target_path"));
        ck_assert_str_eq(ctx.volume_id, "csi-unknown");
        ck_assert_str_eq(ctx.target_path, "");
}
END_TEST

START_TEST(test_handler_get_info)
{
        Config cfg = { .node_id = (char *)"worker-3", .max_volumes_per_node = 17 };
        CsiDriver d = { .config = &cfg };
        Csi__V1__NodeGetInfoRequest req = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
        Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
        CsiStatus st = CSI_STATUS_INIT;
        LogContext ctx = { 0 };

        csi_node_get_info(&d, NULL, &req.base, &resp.base, &st, &ctx);
        ck_assert(!st.set);
        ck_assert_str_eq(resp.node_id, "worker-3");
        ck_assert_int_eq(resp.max_volumes_per_node, 17);
        /* no topology is advertised */
        ck_assert_ptr_null(resp.accessible_topology);
}
END_TEST

START_TEST(test_handler_unsupported)
{
        static const struct {
                const ProtobufCMessageDescriptor *d;
                const char *name;
        } cases[] = {
                { &csi__v1__node_stage_volume_request__descriptor, "NodeStageVolume" },
                { &csi__v1__node_unstage_volume_request__descriptor, "NodeUnstageVolume" },
                { &csi__v1__node_get_volume_stats_request__descriptor, "NodeGetVolumeStats" },
                { &csi__v1__node_expand_volume_request__descriptor, "NodeExpandVolume" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ProtobufCMessage req = PROTOBUF_C_MESSAGE_INIT(cases[i].d);
                CsiStatus st = CSI_STATUS_INIT;
                char want[128];
                csi_node_unsupported(NULL, NULL, &req, NULL, &st, NULL);
                ck_assert_int_eq(st.code, CSI_UNIMPLEMENTED);
                (void)snprintf(want, sizeof(want), "%s is not supported", cases[i].name);
                ck_assert_msg(strncmp(st.message, want, strlen(want)) == 0, "'%s'", st.message);
                ck_assert(csi_code_is_final(st.code)); /* kubelet must not retry forever */
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("csi-node");
        TCase *tc;

        tc = tcase_create("validate_publish");
        tcase_add_test(tc, test_publish_valid);
        tcase_add_test(tc, test_publish_volume_id);
        tcase_add_test(tc, test_publish_target_path);
        tcase_add_test(tc, test_publish_capability_missing);
        tcase_add_test(tc, test_publish_block);
        tcase_add_test(tc, test_publish_no_access_type);
        tcase_add_test(tc, test_publish_access_mode_missing);
        tcase_add_test(tc, test_publish_access_mode_unknown);
        tcase_add_test(tc, test_publish_access_modes_1_to_5);
        tcase_add_test(tc, test_publish_access_modes_6_7);
        tcase_add_test(tc, test_publish_first_status_wins);
        suite_add_tcase(s, tc);

        tc = tcase_create("validate_unpublish");
        tcase_add_test(tc, test_unpublish);
        suite_add_tcase(s, tc);

        tc = tcase_create("context_get");
        tcase_add_test(tc, test_context_get);
        suite_add_tcase(s, tc);

        tc = tcase_create("handlers");
        tcase_add_test(tc, test_handler_publish_invalid);
        tcase_add_test(tc, test_handler_unpublish_invalid);
        tcase_add_test(tc, test_handler_get_info);
        tcase_add_test(tc, test_handler_unsupported);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(suite());
}
