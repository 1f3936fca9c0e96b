/*
 * keywarden.conf: what it accepts, and that every error names the file,
 * the line and the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/kw_time.h"
#include "service/config.h"

static int parse(const char *text, kw_config *c, kw_diag *d)
{
    return kw_config_parse("k.conf", text, strlen(text), c, d);
}

static void full_file(void **state)
{
    const char *text =
        "# keywarden.conf\n"
        "; comments either way\n"
        "[daemon]\n"
        "log_level = info\n"
        "metrics_listen = 127.0.0.1:9177   # inline comment\n"
        "control_socket = /run/keywarden/control.sock\n"
        "control_group = keywarden\n"
        "concurrency = 8\n"
        "\n"
        "[scan]\r\n"
        "path = /etc/ssl\n"
        "path = \"/srv/certs with space\"\n"
        "interval = 30m\n"
        "watch = no\n"
        "\n"
        "[endpoint \"mail\"]\n"
        "  host = mail.example.com\n"
        "  starttls = smtp\n"
        "[endpoint \"web\"]\n"
        "host = 192.0.2.1\n"
        "port = 8443\n"
        "sni = www.example.com\n"
        "timeout = 5s\n"
        "interval = 15m\n";
    kw_config c;
    kw_diag d;

    (void)state;
    if (parse(text, &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.log_level, 6);
    assert_string_equal(c.metrics_listen, "127.0.0.1:9177");
    assert_string_equal(c.control_group, "keywarden");
    assert_int_equal(c.concurrency, 8);
    assert_int_equal(c.nscan_paths, 2);
    assert_string_equal(c.scan_paths[1], "/srv/certs with space");
    assert_int_equal(c.scan_interval, 30 * KW_MINUTE);
    assert_int_equal(c.scan_watch, 0);
    assert_int_equal(c.nendpoints, 2);
    assert_string_equal(c.endpoints[0].name, "mail");
    assert_int_equal(c.endpoints[0].port, 25); /* from starttls = smtp */
    assert_int_equal(c.endpoints[0].starttls, KW_TLS_SMTP);
    assert_int_equal(c.endpoints[1].port, 8443);
    assert_string_equal(c.endpoints[1].sni, "www.example.com");
    assert_int_equal(c.endpoints[1].timeout, 5);
    assert_int_equal(c.endpoints[1].interval, 15 * KW_MINUTE);
    kw_config_free(&c);
}

static void defaults(void **state)
{
    kw_config c;
    kw_diag d;

    (void)state;
    assert_int_equal(parse("", &c, &d), 0);
    assert_string_equal(c.metrics_listen, "127.0.0.1:9177");
    assert_int_equal(c.metrics_default, 1);
    assert_int_equal(c.scan_interval, KW_HOUR);
    assert_int_equal(c.scan_watch, 1);
    assert_int_equal(c.concurrency, 4);
    kw_config_free(&c);
    assert_int_equal(parse("[endpoint \"x\"]\nhost = h\nstarttls = imap\n",
                           &c, &d),
                     0);
    assert_int_equal(c.endpoints[0].port, 143);
    kw_config_free(&c);
}

static void errors_name_file_line_and_key(void **state)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"[scan]\nintervall = 1h\n",
         "k.conf:2: intervall: unknown key in [scan]; expected one of: "
         "path, interval, watch"},
        {"[scan]\ninterval = 30\n",
         "k.conf:2: interval = 30: missing unit"},
        {"[scan]\npath = relative/dir\n",
         "k.conf:2: path = relative/dir: expected an absolute path"},
        {"[scan]\nwatch = maybe\n", "k.conf:2: watch = maybe: expected yes"},
        {"[daemon]\nconcurrency = 0\n", "k.conf:2: concurrency = 0"},
        {"[daemon]\nmetrics_listen = 9177\n",
         "k.conf:2: metrics_listen = 9177: expected ADDRESS:PORT"},
        {"[daemon]\nlog_level = loud\n", "k.conf:2: log_level = loud"},
        {"[daemon]\nlog_level = info\nlog_level = debug\n",
         "k.conf:3: log_level: set twice in [daemon]"},
        {"[daemon]\n[daemon]\n", "k.conf:2: [daemon] appears twice"},
        {"[frobnicate]\n", "k.conf:1: [frobnicate]: unknown section"},
        {"[endpoint]\n", "k.conf:1: [endpoint]: expected a name"},
        {"[endpoint mail]\n", "expected a quoted name"},
        {"[endpoint \"a\"]\nport = 25\n",
         "k.conf:1: [endpoint \"a\"]: host is required"},
        {"[endpoint \"a\"]\nhost = h\nport = 70000\n",
         "k.conf:3: port = 70000: expected a port number"},
        {"[endpoint \"a\"]\nhost = h\nstarttls = ftp\n",
         "k.conf:3: starttls = ftp: expected smtp, imap, pop3 or none"},
        {"[endpoint \"a\"]\nhost = h\n[endpoint \"a\"]\nhost = i\n",
         "k.conf:3: [endpoint \"a\"] appears twice"},
        {"path = /etc/ssl\n", "k.conf:1: path: outside any section"},
        {"[scan]\njust words\n", "k.conf:2: expected \"key = value\""},
        {"[scan\n", "k.conf:1: section header without a closing ]"},
        {"[scan]\npath = \"/x\n", "k.conf:2: path: unterminated"},
        {"[scan]\npath =\n", "k.conf:2: path: empty value"},
        {"[scan]\nPath = /x\n", "keys are lower-case"},
        {"[endpoint \"a\"]\nhost = h\ntimeout = 1h\n",
         "k.conf:3: timeout = 1h: at most 5m"},
    };
    size_t i;
    kw_config c;
    kw_diag d;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d.msg[0] = '\0';
        if (parse(cases[i].text, &c, &d) != KW_EPARSE)
            fail_msg("case %zu was accepted", i);
        if (strstr(d.msg, cases[i].expect) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.msg,
                     cases[i].expect);
        /* A failed parse leaves only defaults behind. */
        assert_int_equal(c.nendpoints, 0);
        assert_int_equal(c.nscan_paths, 0);
    }
}

static void long_lines_and_nul_bytes(void **state)
{
    char *text = malloc(KW_CONFIG_MAX_LINE + 64);
    kw_config c;
    kw_diag d;

    (void)state;
    memcpy(text, "[scan]\npath = /", 15);
    memset(text + 15, 'a', KW_CONFIG_MAX_LINE);
    text[15 + KW_CONFIG_MAX_LINE] = '\0';
    assert_int_equal(parse(text, &c, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:2: line longer than"));
    free(text);
    assert_int_equal(kw_config_parse("k.conf", "[scan]\n\0x\n", 10, &c, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:2: NUL byte"));
}

/* The example in docs/ is valid: the documentation cannot drift. */
static void shipped_example(void **state)
{
    kw_config c;
    kw_diag d;

    (void)state;
    if (kw_config_load(EXAMPLE_CONF, &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_true(c.nendpoints >= 1);
    assert_true(c.nscan_paths >= 1);
    kw_config_free(&c);
}

static void missing_file(void **state)
{
    kw_config c;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_config_load("/nonexistent/keywarden.conf", &c, &d),
                     KW_ENOENT);
    assert_non_null(strstr(d.msg, "/nonexistent/keywarden.conf: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_file),
        cmocka_unit_test(defaults),
        cmocka_unit_test(errors_name_file_line_and_key),
        cmocka_unit_test(long_lines_and_nul_bytes),
        cmocka_unit_test(shipped_example),
        cmocka_unit_test(missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
