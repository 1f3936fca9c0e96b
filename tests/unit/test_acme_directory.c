/*
 * test_acme_directory.c: the one reader of an ACME directory document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "acme/acme_directory.h"

static void reads_every_field(void **state)
{
    json_t *js = json_loads(
        "{\"newNonce\":\"https://ca/nonce\",\"newAccount\":\"https://ca/acct\","
        "\"newOrder\":\"https://ca/order\",\"revokeCert\":\"https://ca/rev\","
        "\"keyChange\":\"https://ca/kc\",\"renewalInfo\":\"https://ca/ari\","
        "\"meta\":{\"externalAccountRequired\":true,"
        "\"profiles\":{\"classic\":\"\",\"tlsserver\":\"\"}}}",
        0, NULL);
    acme_directory dir;

    (void)state;
    assert_non_null(js);
    acme_directory_read(js, &dir);
    assert_string_equal(dir.new_nonce, "https://ca/nonce");
    assert_string_equal(dir.new_account, "https://ca/acct");
    assert_string_equal(dir.new_order, "https://ca/order");
    assert_string_equal(dir.revoke_cert, "https://ca/rev");
    assert_string_equal(dir.key_change, "https://ca/kc");
    assert_string_equal(dir.renewal_info, "https://ca/ari");
    assert_int_equal(dir.eab_required, 1);
    assert_non_null(dir.profiles);
    assert_non_null(json_object_get(dir.profiles, "tlsserver"));
    json_decref(js);
}

/* Absent or mistyped fields read as absent, never as a wrong URL. */
static void absent_and_mistyped_fields(void **state)
{
    json_t *js = json_loads("{\"newNonce\":7,\"meta\":{\"profiles\":[],"
                            "\"externalAccountRequired\":\"yes\"}}",
                            0, NULL);
    acme_directory dir;

    (void)state;
    assert_non_null(js);
    acme_directory_read(js, &dir);
    assert_null(dir.new_nonce);
    assert_null(dir.new_account);
    assert_null(dir.renewal_info);
    assert_int_equal(dir.eab_required, 0);
    assert_null(dir.profiles);
    json_decref(js);
}

/* A body that was not JSON (the ARI lookup passes NULL) or not an
 * object offers nothing. */
static void not_an_object(void **state)
{
    json_t *arr = json_loads("[\"newNonce\"]", 0, NULL);
    acme_directory dir;

    (void)state;
    acme_directory_read(NULL, &dir);
    assert_null(dir.new_order);
    assert_null(dir.renewal_info);
    acme_directory_read(arr, &dir);
    assert_null(dir.new_nonce);
    assert_null(dir.profiles);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_every_field),
        cmocka_unit_test(absent_and_mistyped_fields),
        cmocka_unit_test(not_an_object),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
