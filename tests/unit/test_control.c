/*
 * The control socket's request parser (kw_control_parse): the forms it
 * takes, paths as bytes, and errors that say what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "service/control.h"

static int parse(const char *text, kw_control_request *q, kw_diag *d)
{
    return kw_control_parse(text, strlen(text), q, d);
}

static void paths_travel_as_bytes(void **state)
{
    kw_control_request q;
    kw_diag d;

    (void)state;
    /* "/tmp/a\xff" in base64url, unpadded and padded, beside plain UTF-8. */
    assert_int_equal(parse("{\"cmd\":\"scan\",\"paths\":[\"/etc/ssl\"],"
                           "\"paths_b64\":[\"L3RtcC9h_w\",\"L3RtcC9h_w==\"]}",
                           &q, &d),
                     0);
    assert_string_equal(q.cmd, "scan");
    assert_int_equal(q.npaths, 3);
    assert_string_equal(q.paths[0], "/etc/ssl");
    assert_string_equal(q.paths[1], "/tmp/a\xff");
    assert_string_equal(q.paths[2], "/tmp/a\xff");
    kw_control_request_free(&q);

    /* Not base64url, relative, or with a NUL byte ("/a\0b" is L2EAYg). */
    assert_int_equal(parse("{\"cmd\":\"scan\",\"paths_b64\":[\"L3Rt+/\"]}",
                           &q, &d),
                     KW_EINVAL);
    assert_string_equal(d.msg,
                        "paths_b64[0]: expected a path in base64url");
    assert_null(q.paths);
    assert_int_equal(parse("{\"cmd\":\"scan\",\"paths_b64\":[\"L2EAYg\"]}",
                           &q, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "paths_b64[0]: expected an absolute"));
    assert_int_equal(parse("{\"cmd\":\"scan\",\"paths\":[\"etc\"]}", &q, &d),
                     KW_EINVAL);
    assert_non_null(strstr(d.msg, "paths[0]: expected an absolute path"));
    assert_int_equal(parse("{\"cmd\":\"scan\"}", &q, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "expected 1 to 1024 paths"));
}

static void other_requests(void **state)
{
    kw_control_request q;
    kw_diag d;

    (void)state;
    assert_int_equal(parse("{\"cmd\":\"run\",\"type\":\"probe\","
                           "\"key\":\"mail\"}",
                           &q, &d),
                     0);
    assert_string_equal(q.type, "probe");
    assert_string_equal(q.key, "mail");
    kw_control_request_free(&q);
    assert_int_equal(parse("{\"cmd\":\"run\",\"type\":\"scan\"}", &q, &d),
                     0);
    assert_string_equal(q.key, "all");
    kw_control_request_free(&q);
    assert_int_equal(parse("{\"cmd\":\"run\",\"type\":\"probe\"}", &q, &d),
                     KW_EINVAL);
    assert_string_equal(d.msg, "key: which probe?");
    /* The types are the job table's rows. */
    assert_int_equal(parse("{\"cmd\":\"run\",\"type\":\"nope\"}", &q, &d),
                     KW_EINVAL);
    assert_string_equal(d.msg, "type: expected scan, probe, renew, "
                               "precheck, dkim, dkim-rotate, "
                               "dnssec-check, dane-check, "
                               "mta-sts-check or dane-roll");
    assert_int_equal(parse("{\"cmd\":\"run\",\"type\":\"precheck\","
                           "\"key\":\"www\"}",
                           &q, &d),
                     0);
    assert_string_equal(q.key, "www");
    kw_control_request_free(&q);
    assert_int_equal(parse("{\"cmd\":\"forget\",\"ids\":[1,2]}", &q, &d), 0);
    assert_int_equal(q.nids, 2);
    kw_control_request_free(&q);
    assert_int_equal(parse("{\"cmd\":\"reload\"}", &q, &d), 0);
    assert_string_equal(q.cmd, "reload");
    assert_int_equal(parse("{\"cmd\":\"nope\"}", &q, &d), KW_EINVAL);
    assert_non_null(strstr(d.msg, "unknown cmd"));
    assert_int_equal(parse("not json", &q, &d), KW_EPARSE);
    assert_string_equal(d.msg, "expected a JSON object with \"cmd\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paths_travel_as_bytes),
        cmocka_unit_test(other_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
