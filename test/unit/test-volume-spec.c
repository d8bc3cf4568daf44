/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test-volume-spec.c - volumeAttributes against a hand-built node Config:
 * every attribute and error path, the objects list in YAML and JSON,
 * secretArgs typing and hygiene, and the bytes of each file
 * (secret_object_render, vault_data_unwrap_kv2).
 */
#undef NDEBUG
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "volume-spec.h"
#include "testutil.h"
#include "macro.h"

#define CANARY "S3CRET-canary-value"
#define SEC    1000000ULL

/* --- a node configuration, built by hand ---------------------------------------- */

static char s0_name[] = "default", s0_addr[] = "https://vault.example:8200",
            s0_method[] = "kubernetes", s0_mount[] = "kubernetes", s0_aud[] = "vault",
            s0_allowed0[] = "other-aud", s0_allowed1[] = "third-aud";
static char s1_name[] = "second", s1_addr[] = "https://vault2.example:8200/", s1_ns[] = "team-a",
            s1_method[] = "jwt", s1_mount[] = "jwt-k8s", s1_aud[] = "vault2";
static char *s0_allowed[] = { s0_allowed0, s0_allowed1 };
static VaultServerConfig servers[2];
static Config cfg;

static void setup(void) {
        servers[0] = (VaultServerConfig){ .name = s0_name,
                                          .address = s0_addr,
                                          .auth_method = s0_method,
                                          .auth_mount = s0_mount,
                                          .audience = s0_aud,
                                          .allowed_audiences = s0_allowed,
                                          .n_allowed_audiences = 2 };
        servers[1] = (VaultServerConfig){ .name = s1_name,
                                          .address = s1_addr,
                                          .ns = s1_ns,
                                          .auth_method = s1_method,
                                          .auth_mount = s1_mount,
                                          .audience = s1_aud };
        cfg = (Config){ .vault_servers = servers,
                        .n_vault_servers = 2,
                        .max_objects = 4,
                        .refresh_interval_default_usec = 120 * SEC,
                        .refresh_interval_min_usec = 30 * SEC };
}

static char err[1024];

#define OBJ_A "- objectName: a\n  secretPath: secret/data/a\n"

static int parse_kv(const KeyValue *kv, size_t n, VolumeSpec **s) {
        memset(err, 'x', sizeof(err));
        err[sizeof(err) - 1] = 0;
        *s = NULL;
        return volume_spec_parse(&cfg, kv, n, s, err, sizeof(err));
}

/* roleName=app plus one extra attribute. */
static int parse1(const char *key, const char *value, VolumeSpec **s) {
        KeyValue kv[] = { { "roleName", "app" }, { "objects", OBJ_A }, { key, value } };
        return parse_kv(kv, key ? 3 : 2, s);
}

/* roleName=app with an objects document. */
static int parse_objects(const char *objects, VolumeSpec **s) {
        KeyValue kv[] = { { "roleName", "app" }, { "objects", objects } };
        return parse_kv(kv, 2, s);
}

static void expect_err(int r, int want, const char *needle) {
        ck_assert_msg(r == want, "got %d, want %d (%s)", r, want, err);
        ck_assert_msg(err[0] && err[0] != 'x', "no message");
        ck_assert_msg(strstr(err, needle), "want '%s' in: %s", needle, err);
        ck_assert_msg(!strstr(err, CANARY), "secret in message: %s", err);
}

static void fail1(const char *key, const char *value, int want, const char *needle) {
        VolumeSpec *s = NULL;
        expect_err(parse1(key, value, &s), want, needle);
        ck_assert_ptr_null(s);
}

static void fail_objects(const char *objects, int want, const char *needle) {
        VolumeSpec *s = NULL;
        expect_err(parse_objects(objects, &s), want, needle);
        ck_assert_ptr_null(s);
}

static const char *args_text(const SecretObject *o) {
        static char buf[4096];
        size_t n;
        const uint8_t *p;

        ck_assert_ptr_nonnull(o->args);
        p = secret_get(o->args, &n);
        ck_assert_uint_lt(n, sizeof(buf));
        memcpy(buf, p, n);
        buf[n] = 0;
        return buf;
}

/* --- attributes ------------------------------------------------------------------ */

START_TEST(test_minimal_defaults)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const SecretObject *o;

        ck_assert_int_eq(parse1(NULL, NULL, &s), 0);
        ck_assert_ptr_eq(s->server, &servers[0]);
        ck_assert_str_eq(s->role, "app");
        ck_assert_str_eq(s->auth_mount, "kubernetes");
        ck_assert_ptr_null(s->ns);
        ck_assert_str_eq(s->audience, "vault");
        ck_assert_uint_eq(s->refresh_interval_usec, 120 * SEC);
        ck_assert_ptr_null(s->pod_name);
        ck_assert_ptr_null(s->pod_namespace);
        ck_assert_ptr_null(s->pod_uid);
        ck_assert_ptr_null(s->service_account);
        ck_assert_uint_eq(s->n_objects, 1);
        o = &s->objects[0];
        ck_assert_str_eq(o->name, "a");
        ck_assert_str_eq(o->path, "secret/data/a");
        ck_assert_ptr_null(o->key);
        ck_assert_int_eq(o->method, VAULT_METHOD_GET);
        ck_assert_ptr_null(o->args);
        ck_assert(!o->mode_set);
        ck_assert_int_eq(o->encoding, SECRET_ENCODING_UTF8);
}
END_TEST

START_TEST(test_all_attributes)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        KeyValue kv[] = {
                { "roleName", "web" },
                { "objects", OBJ_A },
                { "vaultServer", "second" },
                { "vaultAddress", "https://vault2.example:8200" },
                { "vaultAuthMountPath", "k8s-east" },
                { "vaultNamespace", "team-b" },
                { "audience", "vault2" },
                { "refreshInterval", "5m" },
                { "csi.storage.k8s.io/pod.name", "web-0" },
                { "csi.storage.k8s.io/pod.namespace", "shop" },
                { "csi.storage.k8s.io/pod.uid", "0f1e2d3c" },
                { "csi.storage.k8s.io/serviceAccount.name", "web-sa" },
                { "csi.storage.k8s.io/ephemeral", "true" },
                { "csi.storage.k8s.io/serviceAccount.tokens", "{\"vault\":{}}" },
                { "csi.storage.k8s.io/some.future.key", "x" },
        };

        ck_assert_int_eq(parse_kv(kv, ELEMENTSOF(kv), &s), 0);
        ck_assert_ptr_eq(s->server, &servers[1]);
        ck_assert_str_eq(s->role, "web");
        ck_assert_str_eq(s->auth_mount, "k8s-east");
        ck_assert_str_eq(s->ns, "team-b");
        ck_assert_str_eq(s->audience, "vault2");
        ck_assert_uint_eq(s->refresh_interval_usec, 300 * SEC);
        ck_assert_ptr_eq(s->pod_name, kv[8].value);
        ck_assert_str_eq(s->pod_namespace, "shop");
        ck_assert_str_eq(s->pod_uid, "0f1e2d3c");
        ck_assert_str_eq(s->service_account, "web-sa");
}
END_TEST

START_TEST(test_server_defaults_follow_server)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;

        ck_assert_int_eq(parse1("vaultServer", "second", &s), 0);
        ck_assert_ptr_eq(s->server, &servers[1]);
        ck_assert_str_eq(s->auth_mount, "jwt-k8s");
        ck_assert_str_eq(s->ns, "team-a");
        ck_assert_str_eq(s->audience, "vault2");
        s = volume_spec_free(s);

        /* empty optional values mean "not set" */
        ck_assert_int_eq(parse1("vaultNamespace", "", &s), 0);
        ck_assert_ptr_null(s->ns);
        ck_assert_ptr_eq(s->server, &servers[0]);
}
END_TEST

START_TEST(test_role_required)
{
        VolumeSpec *s = NULL;
        KeyValue kv[] = { { "objects", OBJ_A } };
        KeyValue kv2[] = { { "objects", OBJ_A }, { "roleName", "" } };
        KeyValue kv3[] = { { "objects", OBJ_A }, { "roleName", "a\nb" } };

        expect_err(parse_kv(kv, 1, &s), -EINVAL, "roleName is required");
        expect_err(parse_kv(kv2, 2, &s), -EINVAL, "roleName is required");
        expect_err(parse_kv(kv3, 2, &s), -EINVAL, "roleName: contains a control character");
        ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_unknown_and_duplicate_keys)
{
        VolumeSpec *s = NULL;
        KeyValue dup[] = { { "roleName", "app" }, { "objects", OBJ_A }, { "roleName", "x" } };

        fail1("roleNmae", "app", -EINVAL, "unknown volume attribute 'roleNmae'");
        fail1("roleNmae", "app", -EINVAL, "known: roleName, objects");
        fail1("secretProviderClass", "vault-db", -EINVAL, "directly in volumeAttributes");
        fail1("vaultCAPem", "x", -EINVAL, "unknown volume attribute 'vaultCAPem'");
        fail1("bad\nkey", "x", -EINVAL, "unknown volume attribute 'bad key'");
        expect_err(parse_kv(dup, 3, &s), -EINVAL, "volume attribute 'roleName' is given twice");
        ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_tls_rejected)
{
        static const char *const keys[] = { "vaultCACertPath",       "vaultCADirectory",
                                            "vaultTLSServerName",    "vaultTLSClientCertPath",
                                            "vaultTLSClientKeyPath", "vaultSkipTLSVerify",
                                            "vaultTLSAnythingNew" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                char want[128];
                snprintf(want, sizeof(want),
                         "%s: TLS settings belong to the node admin (vaultmount config "
                         "`vault-servers`)",
                         keys[i]);
                fail1(keys[i], "false", -EINVAL, want);
        }
}
END_TEST

START_TEST(test_vault_server)
{
        fail1("vaultServer", "nope", -EINVAL,
              "vaultServer: 'nope' is not a Vault server configured on this node (configured: "
              "'default', 'second')");

        /* no default: two servers, neither called "default" */
        servers[0].name = s1_ns; /* "team-a" */
        fail1(NULL, NULL, -EINVAL, "no default Vault server");
        fail1(NULL, NULL, -EINVAL, "set vaultServer to one of 'team-a', 'second'");
        cfg.default_vault_server = s1_name;
        {
                _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
                ck_assert_int_eq(parse1(NULL, NULL, &s), 0);
                ck_assert_ptr_eq(s->server, &servers[1]);
        }

        cfg.n_vault_servers = 0;
        fail1(NULL, NULL, -EINVAL, "no Vault server is configured on this node");
}
END_TEST

START_TEST(test_vault_address)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;

        /* equal up to a trailing '/' selects that server */
        ck_assert_int_eq(parse1("vaultAddress", "https://vault2.example:8200", &s), 0);
        ck_assert_ptr_eq(s->server, &servers[1]);
        s = volume_spec_free(s);
        ck_assert_int_eq(parse1("vaultAddress", "https://vault.example:8200/", &s), 0);
        ck_assert_ptr_eq(s->server, &servers[0]);
        s = volume_spec_free(s);

        fail1("vaultAddress", "https://evil.example:8200", -EINVAL,
              "vaultAddress: 'https://evil.example:8200' is not the address of a Vault server "
              "configured on this node");
        fail1("vaultAddress", "https://evil.example:8200", -EINVAL,
              "use vaultServer with one of 'default' (https://vault.example:8200), 'second'");
        fail1("vaultAddress", "http://vault.example:8200", -EINVAL, "is not the address");

        {
                KeyValue agree[] = { { "roleName", "app" },
                                     { "objects", OBJ_A },
                                     { "vaultServer", "default" },
                                     { "vaultAddress", "https://vault.example:8200" } };
                KeyValue disagree[] = { { "roleName", "app" },
                                        { "objects", OBJ_A },
                                        { "vaultServer", "default" },
                                        { "vaultAddress", "https://vault2.example:8200" } };
                ck_assert_int_eq(parse_kv(agree, 4, &s), 0);
                ck_assert_ptr_eq(s->server, &servers[0]);
                s = volume_spec_free(s);
                expect_err(parse_kv(disagree, 4, &s), -EINVAL,
                           "vaultAddress: 'https://vault2.example:8200' is not the address of "
                           "vaultServer 'default'");
        }
}
END_TEST

START_TEST(test_audience)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;

        ck_assert_int_eq(parse1("audience", "other-aud", &s), 0);
        ck_assert_str_eq(s->audience, "other-aud");
        s = volume_spec_free(s);
        ck_assert_int_eq(parse1("audience", "vault", &s), 0);
        ck_assert_str_eq(s->audience, "vault");
        s = volume_spec_free(s);

        fail1("audience", "sts.amazonaws.com", -EINVAL,
              "audience: 'sts.amazonaws.com' is not allowed for Vault server 'default': use one "
              "of 'vault', 'other-aud', 'third-aud'");
        /* another server's audience is not this one's */
        fail1("audience", "vault2", -EINVAL, "not allowed for Vault server 'default'");
}
END_TEST

START_TEST(test_auth_mount_alias)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        KeyValue same[] = { { "roleName", "app" },
                            { "objects", OBJ_A },
                            { "vaultAuthMountPath", "k8s" },
                            { "vaultKubernetesMountPath", "k8s" } };
        KeyValue differ[] = { { "roleName", "app" },
                              { "objects", OBJ_A },
                              { "vaultAuthMountPath", "k8s" },
                              { "vaultKubernetesMountPath", "kubernetes" } };

        ck_assert_int_eq(parse1("vaultKubernetesMountPath", "old-name", &s), 0);
        ck_assert_str_eq(s->auth_mount, "old-name");
        s = volume_spec_free(s);
        ck_assert_int_eq(parse_kv(same, 4, &s), 0);
        ck_assert_str_eq(s->auth_mount, "k8s");
        s = volume_spec_free(s);
        expect_err(parse_kv(differ, 4, &s), -EINVAL,
                   "vaultAuthMountPath and vaultKubernetesMountPath (its old name) disagree");
        fail1("vaultAuthMountPath", "k8s?x=1", -EINVAL,
              "vaultAuthMountPath: 'k8s?x=1' is not an auth mount path");
        fail1("vaultKubernetesMountPath", "a\tb", -EINVAL, "vaultKubernetesMountPath:");
}
END_TEST

START_TEST(test_namespace)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        char longns[300];

        ck_assert_int_eq(parse1("vaultNamespace", "admin/team-c", &s), 0);
        ck_assert_str_eq(s->ns, "admin/team-c");
        memset(longns, 'n', sizeof(longns) - 1);
        longns[sizeof(longns) - 1] = 0;
        fail1("vaultNamespace", longns, -EINVAL, "vaultNamespace:");
        fail1("vaultNamespace", "a\x01", -EINVAL, "vaultNamespace: contains a control character");
}
END_TEST

START_TEST(test_refresh_interval)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;

        ck_assert_int_eq(parse1("refreshInterval", "1h30m", &s), 0);
        ck_assert_uint_eq(s->refresh_interval_usec, 5400 * SEC);
        s = volume_spec_free(s);
        ck_assert_int_eq(parse1("refreshInterval", "30s", &s), 0);
        ck_assert_uint_eq(s->refresh_interval_usec, 30 * SEC);
        s = volume_spec_free(s);

        fail1("refreshInterval", "10s", -EINVAL,
              "refreshInterval: '10s' is below this node's minimum of 30s");
        fail1("refreshInterval", "29999ms", -EINVAL, "below this node's minimum");
        fail1("refreshInterval", "soon", -EINVAL, "refreshInterval: 'soon' is not a duration");
        fail1("refreshInterval", "-5m", -EINVAL, "is not a duration");
        fail1("refreshInterval", "9999h", -EINVAL, "longer than 30 days");
}
END_TEST

/* --- objects -------------------------------------------------------------------- */

START_TEST(test_objects_yaml_block)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *yaml = "- objectName: db-password\n"
                           "  secretPath: secret/data/db\n"
                           "  secretKey: password\n"
                           "  filePermission: 0400\n"
                           "- objectName: cert.pem\n"
                           "  secretPath: pki/issue/web\n"
                           "  secretKey: certificate\n"
                           "  method: put\n"
                           "  secretArgs:\n"
                           "    common_name: web.example.com\n"
                           "    ttl: 24h\n"
                           "- objectName: tls.key\n"
                           "  secretPath: \"/v1/secret/data/tls?version=2\"\n"
                           "  secretKey: key\n"
                           "  encoding: base64\n";
        const SecretObject *o;

        ck_assert_int_eq(parse_objects(yaml, &s), 0);
        ck_assert_uint_eq(s->n_objects, 3);
        o = &s->objects[0];
        ck_assert_str_eq(o->name, "db-password");
        ck_assert_str_eq(o->path, "secret/data/db");
        ck_assert_str_eq(o->key, "password");
        ck_assert(o->mode_set);
        ck_assert_uint_eq(o->mode, 0400);
        ck_assert_int_eq(o->method, VAULT_METHOD_GET);
        o = &s->objects[1];
        ck_assert_int_eq(o->method, VAULT_METHOD_PUT);
        ck_assert_str_eq(args_text(o), "{\"common_name\":\"web.example.com\",\"ttl\":\"24h\"}");
        ck_assert(!o->mode_set);
        o = &s->objects[2];
        ck_assert_str_eq(o->path, "/v1/secret/data/tls?version=2");
        ck_assert_int_eq(o->encoding, SECRET_ENCODING_BASE64);
}
END_TEST

START_TEST(test_objects_json)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *json =
                "[{\"objectName\":\"a\",\"secretPath\":\"secret/data/a\",\"secretKey\":\"password\","
                "\"filePermission\":288,\"encoding\":\"hex\"},"
                "{\"objectName\":\"b\",\"secretPath\":\"pki/issue/web\","
                "\"secretArgs\":{\"common_name\":\"x.example\",\"ttl\":\"24h\",\"alt\":[\"a\",1],"
                "\"exclude_cn_from_sans\":true}}]";

        ck_assert_int_eq(parse_objects(json, &s), 0);
        ck_assert_uint_eq(s->n_objects, 2);
        ck_assert_uint_eq(s->objects[0].mode, 0440);
        ck_assert_int_eq(s->objects[0].encoding, SECRET_ENCODING_HEX);
        ck_assert_int_eq(s->objects[1].method, VAULT_METHOD_POST);
        ck_assert_str_eq(args_text(&s->objects[1]),
                         "{\"alt\":[\"a\",1],\"common_name\":\"x.example\","
                         "\"exclude_cn_from_sans\":true,\"ttl\":\"24h\"}");
}
END_TEST

START_TEST(test_objects_shape_errors)
{
        VolumeSpec *s = NULL;
        KeyValue none[] = { { "roleName", "app" } };

        expect_err(parse_kv(none, 1, &s), -EINVAL, "objects is required");
        fail_objects("", -EINVAL, "objects is required");
        fail_objects("~", -EINVAL, "objects: empty");
        fail_objects("# only a comment\n", -EINVAL, "objects: empty");
        fail_objects("[]", -EINVAL, "objects: the list is empty");
        fail_objects("objectName: a\nsecretPath: b\n", -EINVAL,
                     "objects: must be a list of objects");
        fail_objects("array:\n  - |\n    objectName: a\n", -EINVAL, "got a mapping");
        fail_objects("- [", -EINVAL, "objects: not valid YAML or JSON: line");
        fail_objects("- a: 1\n- &x b: 2\n", -EINVAL, "anchors are not supported");
        fail_objects("- just-a-string\n", -EINVAL,
                     "objects[0] (line 1): must be a mapping with objectName and secretPath, "
                     "got a scalar");
        fail_objects("- secretPath: secret/data/a\n", -EINVAL,
                     "objects[0] (line 1): objectName is required");
        fail_objects(OBJ_A "- objectName:\n  secretPath: x\n", -EINVAL,
                     "objects[1] (line 3): objectName is required");
        fail_objects("- objectName: [a]\n  secretPath: x\n", -EINVAL,
                     "objects[0] (line 1): objectName must be a string, got a list");
        fail_objects("- objectName: a\n", -EINVAL, "object 'a': secretPath is required");
        fail_objects("- objectName: a\n  secretPath: \"\"\n", -EINVAL,
                     "object 'a': secretPath is required");
        fail_objects("- objectName: a\n  secretPath: secret/../sys\n", -EINVAL,
                     "object 'a': secretPath: Vault path must not contain");
        fail_objects("- objectName: a\n  secretPath: {x: 1}\n", -EINVAL,
                     "object 'a': secretPath must be a string, got a mapping");
        fail_objects("- objectName: a\n  secretPath: s/a\n  secretKey: \"a\\nb\"\n", -EINVAL,
                     "object 'a': secretKey contains a control character");
        fail_objects("- objectName: a\n  secretPath: s/a\n  objectVersion: 1\n", -EINVAL,
                     "object 'a': unknown key 'objectVersion' (known: objectName, secretPath");
        fail_objects("- objectName: a\n  secretPath: s/a\n  secretkey: x\n", -EINVAL,
                     "object 'a': unknown key 'secretkey'");
        fail_objects("- objectName: a\n  secretPath: s/a\n  secretPath: s/b\n", -EINVAL,
                     "duplicate key 'secretPath'");
}
END_TEST

START_TEST(test_objects_plain_null_fields)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;

        /* `key:` / ~ / null mean "not set", as Go leaves the field empty */
        ck_assert_int_eq(parse_objects("- objectName: a\n  secretPath: s/a\n  secretKey:\n"
                                       "  method: ~\n  encoding: null\n  filePermission:\n"
                                       "  secretArgs:\n",
                                       &s),
                         0);
        ck_assert_ptr_null(s->objects[0].key);
        ck_assert_int_eq(s->objects[0].method, VAULT_METHOD_GET);
        ck_assert(!s->objects[0].mode_set);
        ck_assert_ptr_null(s->objects[0].args);
        s = volume_spec_free(s);

        /* a quoted "null" is a string; a plain number is its text */
        ck_assert_int_eq(
                parse_objects("- objectName: a\n  secretPath: s/a\n  secretKey: \"null\"\n"
                              "- objectName: \"007\"\n  secretPath: s/b\n  secretKey: 12\n",
                              &s),
                0);
        ck_assert_str_eq(s->objects[0].key, "null");
        ck_assert_str_eq(s->objects[1].name, "007");
        ck_assert_str_eq(s->objects[1].key, "12");
}
END_TEST

START_TEST(test_duplicate_object_name)
{
        fail_objects(OBJ_A "- objectName: b\n  secretPath: s/b\n" OBJ_A, -EINVAL,
                     "object 'a': objectName is used twice (objects[0] and objects[2])");
}
END_TEST

START_TEST(test_object_names)
{
        char n253[254], n254[255];

        memset(n253, 'a', 253);
        n253[253] = 0;
        memset(n254, 'a', 254);
        n254[254] = 0;

        ck_assert(object_name_valid("a"));
        ck_assert(object_name_valid("db-password"));
        ck_assert(object_name_valid("tls.crt"));
        ck_assert(object_name_valid("a..b"));
        ck_assert(object_name_valid("with space"));
        ck_assert(object_name_valid("ünïcode"));
        ck_assert(object_name_valid(n253));

        ck_assert(!object_name_valid(NULL));
        ck_assert(!object_name_valid(""));
        ck_assert(!object_name_valid("."));
        ck_assert(!object_name_valid(".."));
        ck_assert(!object_name_valid(".hidden"));
        ck_assert(!object_name_valid("..data"));
        ck_assert(!object_name_valid("a/b"));
        ck_assert(!object_name_valid("/abs"));
        ck_assert(!object_name_valid("dir/"));
        ck_assert(!object_name_valid(n254));
        ck_assert(!object_name_valid("a\nb"));
        ck_assert(!object_name_valid("a\tb"));
        ck_assert(!object_name_valid("a\x7f"));

        fail_objects("- objectName: a/b\n  secretPath: s/a\n", -EINVAL,
                     "objects[0] (line 1): objectName 'a/b' contains '/'");
        fail_objects("- objectName: ..\n  secretPath: s/a\n", -EINVAL, "is '.' or '..'");
        fail_objects("- objectName: .hidden\n  secretPath: s/a\n", -EINVAL, "starts with '.'");
        fail_objects("- objectName: \"a\\x01b\"\n  secretPath: s/a\n", -EINVAL,
                     "contains a control character");
        {
                char doc[400];
                snprintf(doc, sizeof(doc), "- objectName: %s\n  secretPath: s/a\n", n254);
                fail_objects(doc, -EINVAL, "is longer than 253 bytes");
        }
}
END_TEST

START_TEST(test_method)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *doc = "- objectName: plain\n  secretPath: s/a\n"
                          "- objectName: pki\n  secretPath: pki/issue/r\n"
                          "  secretArgs: {common_name: a.example}\n"
                          "- objectName: put\n  secretPath: pki/issue/r\n  method: Put\n"
                          "  secretArgs: {common_name: a.example}\n"
                          "- objectName: post-no-args\n  secretPath: transit/random/32\n"
                          "  method: POST\n"
                          "- objectName: empty-args\n  secretPath: s/a\n  secretArgs: {}\n";

        cfg.max_objects = 8;
        ck_assert_msg(parse_objects(doc, &s) == 0, "%s", err);
        ck_assert_int_eq(s->objects[0].method, VAULT_METHOD_GET);
        /* vault-csi-provider would send this as GET, which Vault serves without the body */
        ck_assert_int_eq(s->objects[1].method, VAULT_METHOD_POST);
        ck_assert_str_eq(args_text(&s->objects[1]), "{\"common_name\":\"a.example\"}");
        ck_assert_int_eq(s->objects[2].method, VAULT_METHOD_PUT);
        ck_assert_int_eq(s->objects[3].method, VAULT_METHOD_POST);
        ck_assert_ptr_null(s->objects[3].args);
        ck_assert_int_eq(s->objects[4].method, VAULT_METHOD_GET);
        ck_assert_ptr_null(s->objects[4].args);

        fail_objects("- objectName: a\n  secretPath: pki/issue/r\n  method: GET\n"
                     "  secretArgs: {common_name: " CANARY "}\n",
                     -EINVAL,
                     "object 'a': method GET sends no body, so secretArgs would be ignored");
        fail_objects("- objectName: a\n  secretPath: s/a\n  method: DELETE\n", -EINVAL,
                     "object 'a': method 'DELETE' is not one of GET, POST, PUT");
        fail_objects("- objectName: a\n  secretPath: s/a\n  method: FETCH\n", -EINVAL,
                     "method 'FETCH' is not one of");
        fail_objects("- objectName: a\n  secretPath: s/a\n  secretArgs: [1, 2]\n", -EINVAL,
                     "object 'a': secretArgs must be a mapping");
        fail_objects("- objectName: a\n  secretPath: s/a\n  secretArgs: " CANARY "\n", -EINVAL,
                     "object 'a': secretArgs must be a mapping");
}
END_TEST

static unsigned mode_of(const char *perm) {
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        char doc[256];
        snprintf(doc, sizeof(doc), "- objectName: a\n  secretPath: s/a\n  filePermission: %s\n",
                 perm);
        ck_assert_msg(parse_objects(doc, &s) == 0, "%s: %s", perm, err);
        ck_assert(s->objects[0].mode_set);
        return s->objects[0].mode;
}

static void mode_bad(const char *perm, const char *needle) {
        char doc[256];
        snprintf(doc, sizeof(doc), "- objectName: a\n  secretPath: s/a\n  filePermission: %s\n",
                 perm);
        fail_objects(doc, -EINVAL, needle);
}

START_TEST(test_file_permission)
{
        ck_assert_uint_eq(mode_of("0440"), 0440);
        ck_assert_uint_eq(mode_of("\"0440\""), 0440);
        ck_assert_uint_eq(mode_of("'440'"), 0440);
        ck_assert_uint_eq(mode_of("0o440"), 0440);
        ck_assert_uint_eq(mode_of("\"0o640\""), 0640);
        ck_assert_uint_eq(mode_of("288"), 0440); /* JSON has no octal: decimal 288 */
        ck_assert_uint_eq(mode_of("0x120"), 0440);
        ck_assert_uint_eq(mode_of("0"), 0);
        ck_assert_uint_eq(mode_of("0777"), 0777);
        /* a plain 440 is decimal, as in vault-csi-provider: 0670 */
        ck_assert_uint_eq(mode_of("440"), 0670);

        mode_bad("644", "filePermission '644' is 01204 in octal, above 0777 (YAML and JSON read "
                        "it as a decimal number)");
        mode_bad("01000", "above 0777");
        mode_bad("\"0999\"", "filePermission '0999' is not an octal mode");
        mode_bad("\"1777\"", "is not an octal mode of at most 0777");
        mode_bad("rw-r-----", "filePermission 'rw-r-----' is not a file mode");
        mode_bad("-1", "is not a file mode");
        mode_bad("4.4", "is not a file mode");
        mode_bad("true", "is not a file mode");
        mode_bad("[0440]", "filePermission must be a file mode, got a list");
}
END_TEST

START_TEST(test_encodings)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *doc = "- {objectName: a, secretPath: s/a, secretKey: k, encoding: utf-8}\n"
                          "- {objectName: b, secretPath: s/a, secretKey: k, encoding: UTF8}\n"
                          "- {objectName: c, secretPath: s/a, secretKey: k, encoding: Base64}\n"
                          "- {objectName: d, secretPath: s/a, secretKey: k, encoding: HEX}\n";

        ck_assert_int_eq(parse_objects(doc, &s), 0);
        ck_assert_int_eq(s->objects[0].encoding, SECRET_ENCODING_UTF8);
        ck_assert_int_eq(s->objects[1].encoding, SECRET_ENCODING_UTF8);
        ck_assert_int_eq(s->objects[2].encoding, SECRET_ENCODING_BASE64);
        ck_assert_int_eq(s->objects[3].encoding, SECRET_ENCODING_HEX);
        s = volume_spec_free(s);

        /* utf-8 without secretKey is harmless */
        ck_assert_int_eq(parse_objects("- {objectName: a, secretPath: s/a, encoding: utf-8}", &s),
                         0);

        fail_objects("- {objectName: a, secretPath: s/a, secretKey: k, encoding: base32}", -EINVAL,
                     "object 'a': encoding 'base32' is not one of utf-8, base64, hex");
        fail_objects("- {objectName: a, secretPath: s/a, encoding: base64}", -EINVAL,
                     "object 'a': encoding applies to one value or to each expanded file: set "
                     "secretKey or expand too");
}
END_TEST

START_TEST(test_max_objects)
{
        VolumeSpec *s = NULL;
        const char *five =
                "- {objectName: a, secretPath: s/a}\n- {objectName: b, secretPath: s/a}\n"
                "- {objectName: c, secretPath: s/a}\n- {objectName: d, secretPath: s/a}\n"
                "- {objectName: e, secretPath: s/a}\n";

        expect_err(parse_objects(five, &s), -E2BIG,
                   "objects: 5 objects, more than this node's limit of 4");
        cfg.max_objects = 5;
        ck_assert_int_eq(parse_objects(five, &s), 0);
        ck_assert_uint_eq(s->n_objects, 5);
        volume_spec_free(s);
}
END_TEST

START_TEST(test_objects_too_large)
{
        /* more nodes than ytree allows */
        size_t n = 10001, len = n * 4 + 16, off = 0;
        char *doc = malloc(len);
        ck_assert_ptr_nonnull(doc);
        off += (size_t)snprintf(doc, len, "[");
        for (size_t i = 0; i < n; i++)
                off += (size_t)snprintf(doc + off, len - off, "%s1", i ? "," : "");
        snprintf(doc + off, len - off, "]");
        fail_objects(doc, -E2BIG, "objects: too large");
        free(doc);
}
END_TEST

/* --- secretArgs typing -------------------------------------------------------------- */

START_TEST(test_secret_args_typing)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *doc = "- objectName: a\n"
                          "  secretPath: pki/issue/r\n"
                          "  secretArgs:\n"
                          "    s: hello world\n"
                          "    q: \"123\"\n"
                          "    sq: 'true'\n"
                          "    i: 42\n"
                          "    neg: -7\n"
                          "    plus: +7\n"
                          "    hex: 0x1F\n"
                          "    oct: 0755\n"
                          "    oct2: 0o17\n"
                          "    bin: 0b101\n"
                          "    under: 1_000\n"
                          "    f: 1.5\n"
                          "    e: 1e3\n"
                          "    dot: .5\n"
                          "    negdot: -.25\n"
                          "    trail: 3.\n"
                          "    bad_oct: 08\n"
                          "    t: true\n"
                          "    T: True\n"
                          "    F: FALSE\n"
                          "    yes: yes\n"
                          "    on: on\n"
                          "    n: null\n"
                          "    tilde: ~\n"
                          "    empty:\n"
                          "    date: 2024-01-02\n"
                          "    ver: 1.2.3\n"
                          "    huge: 1e400\n"
                          "    minus: '-'\n"
                          "    list: [1, \"two\", false, [x]]\n"
                          "    nested: {a: {b: 1, c: [y]}}\n"
                          "    html: \"<&>\"\n"
                          "    esc: \"q\\\"b\\\\\\u00e9\\t\"\n";

        ck_assert_msg(parse_objects(doc, &s) == 0, "%s", err);
        ck_assert_int_eq(s->objects[0].method, VAULT_METHOD_POST);
        ck_assert_str_eq(args_text(&s->objects[0]),
                         "{\"F\":false,\"T\":true,\"bad_oct\":8,\"bin\":5,\"date\":\"2024-01-02\","
                         "\"dot\":0.5,\"e\":1000,\"empty\":null,\"esc\":\"q\\\"b\\\\\u00e9\\t\","
                         "\"f\":1.5,\"hex\":31,\"html\":\"\\u003c\\u0026\\u003e\","
                         "\"huge\":\"1e400\",\"i\":42,\"list\":[1,\"two\",false,[\"x\"]],"
                         "\"minus\":\"-\",\"n\":null,\"neg\":-7,\"negdot\":-0.25,"
                         "\"nested\":{\"a\":{\"b\":1,\"c\":[\"y\"]}},\"oct\":493,\"oct2\":15,"
                         "\"on\":\"on\",\"plus\":7,\"q\":\"123\",\"s\":\"hello world\","
                         "\"sq\":\"true\",\"t\":true,\"tilde\":null,\"trail\":3,\"under\":1000,"
                         "\"ver\":\"1.2.3\",\"yes\":\"yes\"}");
}
END_TEST

START_TEST(test_secret_args_big_numbers)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *doc = "- objectName: a\n"
                          "  secretPath: x/y\n"
                          "  secretArgs:\n"
                          "    big: 123456789012345678901234567890\n"
                          "    u64: 18446744073709551615\n"
                          "    i64min: -9223372036854775808\n"
                          "    i64max: 9223372036854775807\n"
                          "    hexbig: 0xFFFFFFFFFFFFFFFFFF\n";
        const char *t;

        ck_assert_msg(parse_objects(doc, &s) == 0, "%s", err);
        t = args_text(&s->objects[0]);
        /* beyond 64 bits: a double, printed as Go prints a float64 */
        ck_assert_msg(strstr(t, "\"big\":1.2345678901234568e+29"), "%s", t);
        ck_assert_msg(strstr(t, "\"i64min\":-9223372036854775808"), "%s", t);
        ck_assert_msg(strstr(t, "\"i64max\":9223372036854775807"), "%s", t);
        /* uint64 range: a double too (value-equal), printed the way Go prints one */
        ck_assert_msg(strstr(t, "\"u64\":18446744073709552000"), "%s", t);
        /* too big for any integer and not a float: a string, as in Go */
        ck_assert_msg(strstr(t, "\"hexbig\":\"0xFFFFFFFFFFFFFFFFFF\""), "%s", t);
}
END_TEST

START_TEST(test_secret_args_errors_hide_values)
{
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    ttl: .inf\n", -EINVAL,
                     "object 'a': secretArgs: the value of 'ttl' is .inf or .nan");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    n: {m: [-.INF]}\n",
                     -EINVAL, "the value of 'm' is .inf or .nan");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    n: .NaN\n", -EINVAL,
                     ".inf or .nan");
        /* the secret sits next to the fault in every one of these */
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    password: " CANARY
                     "\n    ttl: .nan\n",
                     -EINVAL, "'ttl'");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    password: " CANARY
                     "\n    password: " CANARY "2\n",
                     -EINVAL, "duplicate key 'password'");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    password: \"" CANARY
                     "\n",
                     -EINVAL, "objects: not valid YAML or JSON");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    password: " CANARY
                     "\n  bogus: 1\n",
                     -EINVAL, "unknown key 'bogus'");
        fail_objects("- objectName: a\n  secretPath: x/y\n  method: get\n  secretArgs:\n"
                     "    password: " CANARY "\n",
                     -EINVAL, "method GET sends no body");
        fail_objects("- objectName: a\n  secretPath: x/y\n  filePermission: 1000\n  secretArgs:\n"
                     "    password: " CANARY "\n",
                     -EINVAL, "filePermission");
        fail_objects("- objectName: a\n  secretPath: x/y\n  secretArgs:\n    password: " CANARY
                     "\n" OBJ_A,
                     -EINVAL, "objectName is used twice");
}
END_TEST

/* --- rendering ------------------------------------------------------------------- */

static JsonValue *parse_json(const char *text) {
        JsonValue *v = NULL;
        ck_assert_int_eq(json_parse(text, strlen(text), 0, 0, &v, NULL), 0);
        return v;
}

static SecretObject obj(const char *key, SecretEncoding enc) {
        return (SecretObject){ .name = (char *)"file",
                               .path = (char *)"secret/data/x",
                               .key = (char *)key,
                               .encoding = enc };
}

/* Renders and returns the bytes (static buffer, NUL-terminated) and their length. */
static const char *render(const char *json, const char *key, SecretEncoding enc, size_t *ret_n,
                          int *ret_r) {
        static char buf[8192];
        SecretObject o = obj(key, enc);
        JsonValue *data = json ? parse_json(json) : NULL;
        Secret *out = NULL;
        const uint8_t *p;
        size_t n = 0;

        memset(err, 'x', sizeof(err));
        err[sizeof(err) - 1] = 0;
        *ret_r = secret_object_render(&o, data, &out, err, sizeof(err));
        json_value_unref(data);
        buf[0] = 0;
        if (*ret_r == 0) {
                p = secret_get(out, &n);
                ck_assert_uint_lt(n, sizeof(buf));
                memcpy(buf, p, n);
                buf[n] = 0;
                secret_free(out);
        } else
                ck_assert_ptr_null(out);
        if (ret_n)
                *ret_n = n;
        return buf;
}

static void render_eq(const char *json, const char *key, SecretEncoding enc, const char *want) {
        size_t n;
        int r;
        const char *got = render(json, key, enc, &n, &r);
        ck_assert_msg(r == 0, "render failed %d: %s", r, err);
        ck_assert_uint_eq(n, strlen(want));
        ck_assert_str_eq(got, want);
}

static void render_fails(const char *json, const char *key, SecretEncoding enc, int want,
                         const char *needle) {
        int r;
        (void)render(json, key, enc, NULL, &r);
        expect_err(r, want, needle);
}

START_TEST(test_render_values)
{
        const char *d = "{\"password\":\"s3cr3t\",\"port\":5432,\"ratio\":0.25,\"on\":true,"
                        "\"nothing\":null,\"nested\":{\"b\":1,\"a\":\"<x>\"},"
                        "\"list\":[\"x\",6,true],\"empty\":\"\",\"nl\":\"a\\nb\"}";

        render_eq(d, "password", SECRET_ENCODING_UTF8, "s3cr3t");
        render_eq(d, "port", SECRET_ENCODING_UTF8, "5432");
        render_eq(d, "ratio", SECRET_ENCODING_UTF8, "0.25");
        render_eq(d, "on", SECRET_ENCODING_UTF8, "true");
        render_eq(d, "nothing", SECRET_ENCODING_UTF8, "null");
        render_eq(d, "nested", SECRET_ENCODING_UTF8, "{\"a\":\"\\u003cx\\u003e\",\"b\":1}");
        render_eq(d, "list", SECRET_ENCODING_UTF8, "[\"x\",6,true]");
        render_eq(d, "empty", SECRET_ENCODING_UTF8, "");
        render_eq(d, "nl", SECRET_ENCODING_UTF8, "a\nb");

        /* no secretKey: the whole data object, compact, keys sorted */
        render_eq("{\"b\":\"x\",\"a\":1}", NULL, SECRET_ENCODING_UTF8, "{\"a\":1,\"b\":\"x\"}");
        render_eq("{}", NULL, SECRET_ENCODING_UTF8, "{}");
}
END_TEST

START_TEST(test_render_nul_in_string)
{
        size_t n;
        int r;
        const char *got = render("{\"k\":\"a\\u0000b\"}", "k", SECRET_ENCODING_UTF8, &n, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(n, 3);
        ck_assert(memcmp(got, "a\0b", 3) == 0);
}
END_TEST

START_TEST(test_render_big_integer)
{
        size_t n;
        int r;
        const char *got = render("{\"n\":123456789012345678901234567890,\"m\":7}", "n",
                                 SECRET_ENCODING_UTF8, &n, &r);
        ck_assert_msg(r == 0, "%s", err);
        ck_assert_msg(strtod(got, NULL) == 123456789012345678901234567890.0, "%s", got);
        /* the other integers of that document still print as integers */
        render_eq("{\"n\":123456789012345678901234567890,\"m\":7}", "m", SECRET_ENCODING_UTF8, "7");
        got = render("{\"n\":123456789012345678901234567890}", NULL, SECRET_ENCODING_UTF8, &n, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_msg(strncmp(got, "{\"n\":", 5) == 0, "%s", got);
}
END_TEST

START_TEST(test_render_base64)
{
        size_t n;
        int r;
        const char *got;

        render_eq("{\"k\":\"aGVsbG8=\"}", "k", SECRET_ENCODING_BASE64, "hello");
        render_eq("{\"k\":\"aGk=\"}", "k", SECRET_ENCODING_BASE64, "hi");
        render_eq("{\"k\":\"aA==\"}", "k", SECRET_ENCODING_BASE64, "h");
        render_eq("{\"k\":\"aGVs\"}", "k", SECRET_ENCODING_BASE64, "hel");
        render_eq("{\"k\":\"\"}", "k", SECRET_ENCODING_BASE64, "");
        render_eq("{\"k\":\"aGVs\\r\\nbG8=\\n\"}", "k", SECRET_ENCODING_BASE64, "hello");
        render_eq("{\"k\":\"+/+/\"}", "k", SECRET_ENCODING_BASE64, "\xfb\xff\xbf");
        got = render("{\"k\":\"AAEC\"}", "k", SECRET_ENCODING_BASE64, &n, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(n, 3);
        ck_assert(memcmp(got, "\0\1\2", 3) == 0);
        /* a non-string value is decoded from its JSON text */
        render_eq("{\"k\":1234}", "k", SECRET_ENCODING_BASE64, "\xd7\x6d\xf8");

        render_fails("{\"k\":\"aGVsbG8\"}", "k", SECRET_ENCODING_BASE64, -EINVAL,
                     "object 'file': the value of key 'k' is not valid base64");
        render_fails("{\"k\":\"aGV=bG8=\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"a===\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"aG=k\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"====\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"aGk=aGk=\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"aGVs bG8=\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"aGVs\\tbG8=\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"aGVs-G8_\"}", "k", SECRET_ENCODING_BASE64, -EINVAL, "base64");
        render_fails("{\"k\":\"" CANARY "\"}", "k", SECRET_ENCODING_BASE64, -EINVAL,
                     "not valid base64");
}
END_TEST

START_TEST(test_render_hex)
{
        char hex[201], want[101];

        render_eq("{\"k\":\"48656c6c6f\"}", "k", SECRET_ENCODING_HEX, "Hello");
        render_eq("{\"k\":\"4A4b\"}", "k", SECRET_ENCODING_HEX, "JK");
        render_eq("{\"k\":\"\"}", "k", SECRET_ENCODING_HEX, "");
        render_eq("{\"k\":1234}", "k", SECRET_ENCODING_HEX, "\x12\x34");
        /* longer than one internal chunk */
        for (int i = 0; i < 100; i++) {
                snprintf(hex + 2 * i, 3, "%02x", 0x41 + i % 26);
                want[i] = (char)(0x41 + i % 26);
        }
        want[100] = 0;
        {
                char doc[300];
                snprintf(doc, sizeof(doc), "{\"k\":\"%s\"}", hex);
                render_eq(doc, "k", SECRET_ENCODING_HEX, want);
        }

        render_fails("{\"k\":\"abc\"}", "k", SECRET_ENCODING_HEX, -EINVAL,
                     "object 'file': the value of key 'k' is not valid hex");
        render_fails("{\"k\":\"4G\"}", "k", SECRET_ENCODING_HEX, -EINVAL, "not valid hex");
        render_fails("{\"k\":\"48 65\"}", "k", SECRET_ENCODING_HEX, -EINVAL, "not valid hex");
        render_fails("{\"k\":\"0x48\"}", "k", SECRET_ENCODING_HEX, -EINVAL, "not valid hex");
        render_fails("{\"k\":\"" CANARY "\"}", "k", SECRET_ENCODING_HEX, -EINVAL, "not valid hex");
}
END_TEST

START_TEST(test_render_missing)
{
        render_fails("{\"password\":\"" CANARY "\"}", "username", SECRET_ENCODING_UTF8, -ENOENT,
                     "object 'file': key 'username' does not exist");
        render_fails(NULL, "username", SECRET_ENCODING_UTF8, -ENOENT,
                     "object 'file': the secret at its secretPath has no data");
        render_fails(NULL, NULL, SECRET_ENCODING_UTF8, -ENOENT, "has no data");
        render_fails("null", "k", SECRET_ENCODING_UTF8, -ENOENT, "has no data");
        render_fails("[\"" CANARY "\"]", "k", SECRET_ENCODING_UTF8, -EINVAL,
                     "object 'file': the secret's data is not a JSON object");
}
END_TEST

START_TEST(test_unwrap_kv2)
{
        bool kv2 = false;
        const JsonValue *inner;
        JsonValue *v;

        v = parse_json("{\"data\":{\"k\":\"v\"},\"metadata\":{\"created_time\":\"2025-06-26T19:42:"
                       "02.398926Z\",\"custom_metadata\":null,\"deletion_time\":\"\","
                       "\"destroyed\":false,\"version\":3}}");
        inner = vault_data_unwrap_kv2(v, &kv2);
        ck_assert(kv2);
        ck_assert_ptr_eq(inner, json_object_member(v, "data"));
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, NULL), inner);
        json_value_unref(v);

        /* deleted or destroyed version: data null */
        v = parse_json("{\"data\":null,\"metadata\":{\"deletion_time\":\"2025-01-01T00:00:00Z\","
                       "\"destroyed\":false,\"version\":2}}");
        kv2 = false;
        ck_assert_ptr_null(vault_data_unwrap_kv2(v, &kv2));
        ck_assert(kv2);
        json_value_unref(v);

        /* a KV v1 secret that happens to have these keys stays whole */
        v = parse_json("{\"data\":{\"k\":\"v\"},\"metadata\":{\"owner\":\"team\"}}");
        kv2 = true;
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        ck_assert(!kv2);
        json_value_unref(v);
        v = parse_json("{\"data\":{\"k\":\"v\"},\"metadata\":{\"version\":\"3\"}}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        ck_assert(!kv2);
        json_value_unref(v);
        v = parse_json("{\"data\":{\"k\":\"v\"},\"metadata\":\"x\"}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        json_value_unref(v);
        v = parse_json("{\"data\":\"plain\",\"metadata\":{\"version\":1}}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        ck_assert(!kv2);
        json_value_unref(v);
        v = parse_json("{\"data\":{},\"metadata\":{\"version\":1},\"extra\":1}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        ck_assert(!kv2);
        json_value_unref(v);
        v = parse_json("{\"data\":{\"k\":\"v\"}}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        json_value_unref(v);
        v = parse_json("[1,2]");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), v);
        json_value_unref(v);
        ck_assert_ptr_null(vault_data_unwrap_kv2(NULL, &kv2));
        ck_assert(!kv2);

        /* a document with a >64-bit integer has a real version: still KV v2 */
        v = parse_json("{\"data\":{\"n\":123456789012345678901234567890},"
                       "\"metadata\":{\"version\":4}}");
        ck_assert_ptr_eq(vault_data_unwrap_kv2(v, &kv2), json_object_member(v, "data"));
        ck_assert(kv2);
        json_value_unref(v);
}
END_TEST

START_TEST(test_render_after_unwrap)
{
        JsonValue *v = parse_json("{\"data\":{\"password\":\"p\",\"user\":\"u\"},"
                                  "\"metadata\":{\"version\":1}}");
        SecretObject o = obj(NULL, SECRET_ENCODING_UTF8);
        Secret *out = NULL;
        bool kv2;

        ck_assert_int_eq(
                secret_object_render(&o, vault_data_unwrap_kv2(v, &kv2), &out, err, sizeof(err)),
                0);
        ck_assert(secret_equal_bytes(out, "{\"password\":\"p\",\"user\":\"u\"}",
                                     strlen("{\"password\":\"p\",\"user\":\"u\"}")));
        secret_free(out);
        json_value_unref(v);
}
END_TEST

/* --- the output shape (issue 12): format, expand, template, pkcs12Password --------- */

START_TEST(test_shape_fields)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        const char *doc =
                "- {objectName: a, secretPath: s/data/a}\n"
                "- {objectName: b, secretPath: s/data/a, format: YAML}\n"
                "- {objectName: c, secretPath: s/data/a, format: env}\n"
                "- {objectName: d, secretPath: s/data/a, expand: true, encoding: base64}\n";
        const char *doc2 =
                "- objectName: url\n"
                "  secretPath: s/data/a\n"
                "  template: 'postgres://{{ username }}:{{password}}@db/app {{{{'\n"
                "- {objectName: e, secretPath: s/data/a, expand: \"false\", format: json}\n"
                "- objectName: p12\n"
                "  secretPath: pki/issue/web\n"
                "  secretArgs: {common_name: a.example}\n"
                "  format: pkcs12\n"
                "  pkcs12Password: \"" CANARY "\"\n"
                "- {objectName: crt, secretPath: pki/issue/web, method: PUT, format: pem}\n";
        const uint8_t *p;
        size_t n;

        ck_assert_int_eq(parse_objects(doc, &s), 0);
        ck_assert_int_eq(s->objects[0].format, RENDER_FORMAT_JSON);
        ck_assert(!s->objects[0].expand);
        ck_assert_int_eq(s->objects[1].format, RENDER_FORMAT_YAML);
        ck_assert_int_eq(s->objects[2].format, RENDER_FORMAT_ENV);
        ck_assert(s->objects[3].expand);
        ck_assert_int_eq(s->objects[3].encoding, SECRET_ENCODING_BASE64);
        s = volume_spec_free(s);

        cfg.max_objects = 0;
        ck_assert_msg(parse_objects(doc2, &s) == 0, "%s", err);
        ck_assert_str_eq(s->objects[0].template_text,
                         "postgres://{{ username }}:{{password}}@db/app {{{{");
        ck_assert(!s->objects[1].expand);
        ck_assert_int_eq(s->objects[2].format, RENDER_FORMAT_PKCS12);
        ck_assert_ptr_nonnull(s->objects[2].pkcs12_password);
        p = secret_get(s->objects[2].pkcs12_password, &n);
        ck_assert_uint_eq(n, strlen(CANARY));
        ck_assert_mem_eq(p, CANARY, n);
        ck_assert_ptr_null(s->objects[3].pkcs12_password);
        ck_assert_int_eq(s->objects[3].format, RENDER_FORMAT_PEM);
        s = volume_spec_free(s);

        /* the empty password is a password */
        ck_assert_int_eq(parse_objects("- {objectName: k, secretPath: pki/issue/web, method: POST, "
                                       "format: pkcs12, pkcs12Password: ''}",
                                       &s),
                         0);
        ck_assert_ptr_nonnull(s->objects[0].pkcs12_password);
        ck_assert_uint_eq(secret_size(s->objects[0].pkcs12_password), 0);
}
END_TEST

START_TEST(test_shape_refusals)
{
        static const struct {
                const char *doc;
                const char *needle;
        } bad[] = {
                { "- {objectName: a, secretPath: s/a, format: toml}",
                  "object 'a': format 'toml' is not one of json, yaml, env, pem, pkcs12" },
                { "- {objectName: a, secretPath: s/a, secretKey: k, format: json}",
                  "object 'a': format shapes the whole secret and secretKey picks one value: "
                  "set only one of them" },
                { "- {objectName: a, secretPath: s/a, secretKey: k, expand: true}",
                  "expand writes every key of the secret and secretKey picks one" },
                { "- {objectName: a, secretPath: s/a, secretKey: k, template: x}",
                  "template writes the keys it names" },
                { "- {objectName: a, secretPath: s/a, expand: true, format: env}",
                  "expand writes one file per key and format" },
                { "- {objectName: a, secretPath: s/a, expand: true, template: x}",
                  "expand writes one file per key and template one file" },
                { "- {objectName: a, secretPath: s/a, format: yaml, template: x}",
                  "template is its own format" },
                { "- {objectName: a, secretPath: s/a, expand: maybe}",
                  "object 'a': expand 'maybe' is not true or false" },
                { "- {objectName: a, secretPath: s/a, expand: [true]}",
                  "object 'a': expand must be a boolean (true or false), got a list" },
                { "- {objectName: a, secretPath: s/a, template: 'x {{ k'}",
                  "object 'a': template: '{{' at line 1, column 3 is not closed" },
                { "- {objectName: a, secretPath: s/a, template: '{{ }}'}", "names no key" },
                { "- {objectName: a, secretPath: s/a, format: pem, pkcs12Password: " CANARY "}",
                  "object 'a': pkcs12Password applies only to format pkcs12" },
                { "- {objectName: a, secretPath: s/a, pkcs12Password: " CANARY "}",
                  "pkcs12Password applies only to format pkcs12" },
                { "- {objectName: a, secretPath: s/a, format: pkcs12, pkcs12Password: {x: 1}}",
                  "object 'a': pkcs12Password must be a string, got a mapping" },
                { "- {objectName: a, secretPath: pki/issue/web, format: pkcs12, pkcs12Password: "
                  "\"" CANARY "\\0x\", method: POST}",
                  "pkcs12Password holds a NUL byte" },
                { "- {objectName: a, secretPath: secret/data/x, method: POST, format: pkcs12}",
                  "object 'a': format pkcs12 needs a PKI issue response (secretPath "
                  "<mount>/issue/<role>" },
                { "- {objectName: a, secretPath: pki/sign/web, method: POST, format: pkcs12}",
                  "needs a PKI issue response" },
                { "- {objectName: a, secretPath: pki/issue/web, format: pkcs12}",
                  "object 'a': format pkcs12 needs a PKI issue, which is a POST" },
                { "- {objectName: a, secretPath: s/a, template: x, encoding: hex}",
                  "encoding applies to one value or to each expanded file" },
                { "- {objectName: a, secretPath: s/a, fromat: env}",
                  "unknown key 'fromat' (known: objectName, secretPath, secretKey, secretArgs, "
                  "method, filePermission, encoding, format, expand, template, pkcs12Password)" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                fail_objects(bad[i].doc, -EINVAL, bad[i].needle);
}
END_TEST

START_TEST(test_shape_pki_paths)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        /* pki/issue/<role> under any mount, an issuer-scoped issue path, a
         * trailing slash and a leading v1/ */
        const char *doc =
                "- {objectName: a, secretPath: pki/issue/web, method: POST, format: pkcs12}\n"
                "- {objectName: b, secretPath: /v1/pki_int/issuer/default/issue/web/, "
                "method: PUT, format: pkcs12}\n";

        cfg.max_objects = 0;
        ck_assert_msg(parse_objects(doc, &s) == 0, "%s", err);
        fail_objects("- {objectName: a, secretPath: issue, method: POST, format: pkcs12}", -EINVAL,
                     "needs a PKI issue response");
        fail_objects("- {objectName: a, secretPath: pki/issue, method: POST, format: pkcs12}",
                     -EINVAL, "needs a PKI issue response");
        fail_objects("- {objectName: a, secretPath: pki/reissue/web, method: POST, format: pkcs12}",
                     -EINVAL, "needs a PKI issue response");
}
END_TEST

START_TEST(test_shape_render_through_object)
{
        _cleanup_(volume_spec_freep) VolumeSpec *s = NULL;
        _cleanup_(json_value_unrefp) JsonValue *data = NULL;
        const char *doc = "- {objectName: e, secretPath: s/data/a, format: env}\n"
                          "- {objectName: t, secretPath: s/data/a, template: '{{ u }}:{{ p }}'}\n"
                          "- {objectName: x, secretPath: s/data/a, expand: true}\n";
        const char *json = "{\"data\":{\"u\":\"me\",\"p\":\"pw\"},\"metadata\":{\"version\":3}}";
        RenderedFile *files = NULL;
        Secret *v = NULL;
        RenderSpec spec;
        size_t n = 0;

        ck_assert_int_eq(parse_objects(doc, &s), 0);
        ck_assert_int_eq(json_parse(json, strlen(json), 0, 0, &data, NULL), 0);
        ck_assert_int_eq(secret_object_render(&s->objects[0], vault_data_unwrap_kv2(data, NULL), &v,
                                              err, sizeof(err)),
                         0);
        ck_assert(secret_equal_bytes(v, "p='pw'\nu='me'\n", 14));
        secret_freep(&v);
        ck_assert_int_eq(secret_object_render(&s->objects[1], vault_data_unwrap_kv2(data, NULL), &v,
                                              err, sizeof(err)),
                         0);
        ck_assert(secret_equal_bytes(v, "me:pw", 5));
        secret_freep(&v);
        /* expand is several files: render_object() */
        ck_assert_int_eq(secret_object_render(&s->objects[2], vault_data_unwrap_kv2(data, NULL), &v,
                                              err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_null(v);
        secret_object_render_spec(&s->objects[2], 1000, NULL, &spec);
        ck_assert(spec.expand);
        ck_assert_uint_eq(spec.max_file_bytes, 1000);
        ck_assert_int_eq(render_object(&spec, vault_data_unwrap_kv2(data, NULL), &files, &n, err,
                                       sizeof(err)),
                         0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(files[0].name, "x/p");
        ck_assert_str_eq(files[1].name, "x/u");
        rendered_files_free(files, n);
}
END_TEST

static Suite *volume_spec_suite(void) {
        Suite *s = suite_create("volume-spec");
        TCase *tc = tcase_create("attributes");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_minimal_defaults);
        tcase_add_test(tc, test_all_attributes);
        tcase_add_test(tc, test_server_defaults_follow_server);
        tcase_add_test(tc, test_role_required);
        tcase_add_test(tc, test_unknown_and_duplicate_keys);
        tcase_add_test(tc, test_tls_rejected);
        tcase_add_test(tc, test_vault_server);
        tcase_add_test(tc, test_vault_address);
        tcase_add_test(tc, test_audience);
        tcase_add_test(tc, test_auth_mount_alias);
        tcase_add_test(tc, test_namespace);
        tcase_add_test(tc, test_refresh_interval);
        suite_add_tcase(s, tc);

        tc = tcase_create("objects");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_objects_yaml_block);
        tcase_add_test(tc, test_objects_json);
        tcase_add_test(tc, test_objects_shape_errors);
        tcase_add_test(tc, test_objects_plain_null_fields);
        tcase_add_test(tc, test_duplicate_object_name);
        tcase_add_test(tc, test_object_names);
        tcase_add_test(tc, test_method);
        tcase_add_test(tc, test_file_permission);
        tcase_add_test(tc, test_encodings);
        tcase_add_test(tc, test_max_objects);
        tcase_add_test(tc, test_objects_too_large);
        suite_add_tcase(s, tc);

        tc = tcase_create("secretArgs");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_secret_args_typing);
        tcase_add_test(tc, test_secret_args_big_numbers);
        tcase_add_test(tc, test_secret_args_errors_hide_values);
        suite_add_tcase(s, tc);

        tc = tcase_create("render");
        tcase_add_test(tc, test_render_values);
        tcase_add_test(tc, test_render_nul_in_string);
        tcase_add_test(tc, test_render_big_integer);
        tcase_add_test(tc, test_render_base64);
        tcase_add_test(tc, test_render_hex);
        tcase_add_test(tc, test_render_missing);
        tcase_add_test(tc, test_unwrap_kv2);
        tcase_add_test(tc, test_render_after_unwrap);
        suite_add_tcase(s, tc);

        tc = tcase_create("shape");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_shape_fields);
        tcase_add_test(tc, test_shape_refusals);
        tcase_add_test(tc, test_shape_pki_paths);
        tcase_add_test(tc, test_shape_render_through_object);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return testutil_run(volume_spec_suite());
}
