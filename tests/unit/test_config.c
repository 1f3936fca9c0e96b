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
#include <time.h>
#include <cmocka.h>

#include "acme/renew.h"
#include "common/kw_time.h"
#include "dkim/dkim_rotate.h"
#include "service/config.h"
#include "service/dane_roll_run.h"

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

/* What the lifecycle is given: config.c's translation, defaults applied
 * where the file says nothing. */
static void lifecycle_params(void **state)
{
    const char *text =
        "[acme]\n"
        "contact = mailto:ops@example.com\n"
        "[certificate \"d\"]\n"
        "names = d.example.com *.d.example.com\n"
        "challenge = dns-01\n"
        "dns_server = 192.0.2.53\n"
        "[certificate \"w\"]\n"
        "names = w.example.com\n"
        "directory = https://ca.example/dir\n"
        "http01 = webroot\n"
        "webroot = /srv/www\n"
        "precheck = warn\n";
    kw_config c;
    kw_acme_params a;
    kw_renew_params r;
    char dir[64];
    kw_diag d;

    (void)state;
    if (parse(text, &c, &d) != 0)
        fail_msg("%s", d.msg);
    kw_config_acme_params(&c, "/var/lib/kw", &a);
    assert_string_equal(a.directory, KW_ACME_DEFAULT_DIRECTORY);
    assert_string_equal(a.http01_listen, KW_ACME_DEFAULT_HTTP01);
    assert_string_equal(a.contact, "mailto:ops@example.com");
    assert_null(a.eab_kid);
    assert_string_equal(a.certs_dir, "/var/lib/kw/certs");
    kw_config_certs_dir(&c, "/var/lib/kw", dir, sizeof(dir));
    assert_string_equal(dir, "/var/lib/kw/certs");

    kw_config_renew_params(&c, &c.certs[0], &r);
    assert_string_equal(r.name, "d");
    assert_int_equal(r.nnames, 2);
    assert_string_equal(r.names[1], "*.d.example.com");
    assert_string_equal(r.directory, KW_ACME_DEFAULT_DIRECTORY);
    assert_int_equal(r.dns01, 1);
    assert_string_equal(r.dns.server, "192.0.2.53");
    assert_int_equal(r.dns.wait, 120);
    assert_int_equal(r.precheck, KW_RENEW_PRECHECK_ENFORCE);

    kw_config_renew_params(&c, &c.certs[1], &r);
    assert_string_equal(r.directory, "https://ca.example/dir");
    assert_int_equal(r.dns01, 0);
    assert_int_equal(r.use_webroot, 1);
    assert_string_equal(r.webroot, "/srv/www");
    assert_int_equal(r.precheck, KW_RENEW_PRECHECK_WARN);
    kw_config_free(&c);

    if (parse("[acme]\ndirectory = https://ca.example/acme\n"
              "certs_dir = /srv/certs\nhttp01_listen = 127.0.0.1:5002\n"
              "[certificate \"x\"]\nnames = x.example.com\n"
              "precheck = off\n",
              &c, &d) != 0)
        fail_msg("%s", d.msg);
    kw_config_acme_params(&c, "/var/lib/kw", &a);
    assert_string_equal(a.directory, "https://ca.example/acme");
    assert_string_equal(a.certs_dir, "/srv/certs");
    assert_string_equal(a.http01_listen, "127.0.0.1:5002");
    kw_config_renew_params(&c, &c.certs[0], &r);
    assert_string_equal(r.directory, "https://ca.example/acme");
    assert_int_equal(r.precheck, KW_RENEW_PRECHECK_OFF);
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
        /* The longest list of keys, whole (it once overran a 256-byte
         * buffer, which fuzz_config found). */
        {"[dkim]\nnope = 1\n",
         "k.conf:2: nope: unknown key in [dkim] or [dkim \"DOMAIN\"]; "
         "expected one of: opendkim_conf, rspamd_conf, max_age, interval, "
         "outbound, resolver, dns_port, selector, key, user, rotate, "
         "key_dir, group, key_type, ttl, drain, retire, old_key, publish, "
         "dns_server, dns_zone, tsig_key, tsig_algorithm, tsig_secret, "
         "dns_exec, signer, signer_exec, selector_map, path_map, "
         "dns_check"},
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
        /* hooks */
        {"[hook \"a\"]\non = cert.renewd\nreload = postfix\n",
         "k.conf:2: on = cert.renewd: keywarden emits no such event"},
        {"[hook \"a\"]\nreload = postfix\n",
         "k.conf:1: [hook \"a\"]: on = EVENT... is required"},
        {"[hook \"a\"]\non = cert.renewed\n",
         "k.conf:1: [hook \"a\"]: expected either run = COMMAND or "
         "reload = DAEMON"},
        {"[hook \"a\"]\non = cert.renewed\nrun = /bin/true\n"
         "reload = nginx\n",
         "expected either run = COMMAND or reload = DAEMON"},
        {"[hook \"a\"]\non = cert.renewed\nrun = systemctl reload x\n",
         "run = systemctl: the program must be an absolute path"},
        {"[hook \"a\"]\non = cert.renewed\nrun = /bin/x \"open\n",
         "k.conf:3: run = /bin/x \"open: unbalanced \" quote"},
        {"[hook \"a\"]\non = cert.renewed\nrun = /bin/x 'open\n",
         "k.conf:3: run = /bin/x 'open: unbalanced ' quote"},
        {"[hook \"a\"]\non = cert.renewed\nreload = exim\n",
         "k.conf:3: reload = exim: expected postfix, opendkim"},
        {"[hook \"a\"]\non = cert.renewed\nreload = auto\n"
         "config = /etc/x\n",
         "config = goes with reload = postfix"},
        {"[hook \"a\"]\non = cert.renewed\nreload = nginx\n"
         "kinds = tls, mail\n",
         "k.conf:4: kinds = mail: expected tls, endpoint"},
        {"[hook \"a\"]\non = cert.renewed\nreload = nginx\nretry = 50\n",
         "k.conf:4: retry = 50: expected a number of retries"},
        {"[hook \"a b\"]\n", "a hook's name is up to 100"},
        {"[hook \"a\"]\non = cert.renewed\nreload = nginx\n"
         "[hook \"a\"]\n",
         "k.conf:4: [hook \"a\"] appears twice"},
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

static void hooks(void **state)
{
    static const char text[] =
        "[hook \"postfix\"]\n"
        "on = cert.renewed, cert.rolled_back\n"
        "reload = postfix\n"
        "config = /etc/postfix-out\n"
        "[hook \"deploy\"]\n"
        "on = cert.*\n"
        "objects = www, mail-*\n"
        "kinds = tls\n"
        "run = /usr/local/bin/deploy --to \"host a\" $NOT_EXPANDED\n"
        "timeout = 2m\n"
        "user = nobody\n"
        "retry = 5\n"
        "retry_delay = 1m\n"
        "[hook \"sh\"]\n"
        "on = probe.stale\n"
        "run = systemctl reload nginx || logger 'reload failed'\n"
        "shell = yes\n"
        "coalesce = 0s\n";
    kw_config c;
    kw_diag d;

    (void)state;
    if (parse(text, &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.nhooks, 3);
    assert_string_equal(c.hooks[0].name, "postfix");
    assert_int_equal(c.hooks[0].non, 2);
    assert_int_equal(c.hooks[0].reload, KW_RELOAD_POSTFIX);
    assert_string_equal(c.hooks[0].reload_config, "/etc/postfix-out");
    /* Reloads coalesce by default; run hooks do not. */
    assert_int_equal(c.hooks[0].coalesce, KW_HOOK_RELOAD_COALESCE);
    assert_int_equal(c.hooks[0].timeout, KW_HOOK_DEFAULT_TIMEOUT);
    assert_int_equal(c.hooks[0].retries, KW_HOOK_DEFAULT_RETRIES);
    assert_int_equal(c.hooks[1].nargv, 4);
    assert_string_equal(c.hooks[1].argv[2], "host a");
    assert_string_equal(c.hooks[1].argv[3], "$NOT_EXPANDED");
    assert_int_equal(c.hooks[1].coalesce, 0);
    assert_int_equal(c.hooks[1].timeout, 120);
    assert_int_equal(c.hooks[1].retries, 5);
    assert_int_equal(c.hooks[1].retry_delay, 60);
    assert_string_equal(c.hooks[1].user, "nobody");
    assert_true(kw_hook_matches(&c.hooks[1], "cert.renewed", "mail-1", "tls",
                                NULL));
    assert_false(kw_hook_matches(&c.hooks[1], "cert.renewed", "web", "tls",
                                 NULL));
    assert_false(kw_hook_matches(&c.hooks[1], "probe.stale", "www",
                                 "endpoint", NULL));
    assert_int_equal(c.hooks[2].shell, 1);
    assert_int_equal(c.hooks[2].nargv, 1);
    assert_string_equal(c.hooks[2].argv[0],
                        "systemctl reload nginx || logger 'reload failed'");
    kw_config_free(&c);
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

/* Windows editors save UTF-8 with a byte-order mark; the file is read as
 * if it were not there (as Python's configparser with utf-8-sig, git and
 * systemd do), and a BOM anywhere else is an error that names it. */
static void byte_order_mark(void **state)
{
    static const char text[] = "\xef\xbb\xbf[scan]\npath = /etc/ssl\n";
    kw_config c;
    kw_diag d;

    (void)state;
    if (parse(text, &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.nscan_paths, 1);
    assert_string_equal(c.scan_paths[0], "/etc/ssl");
    kw_config_free(&c);
    assert_int_equal(parse("\xef\xbb\xbf", &c, &d), 0);
    kw_config_free(&c);
    assert_int_equal(parse("[scan]\n\xef\xbb\xbfpath = /etc/ssl\n", &c, &d),
                     KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:2: "));
    assert_non_null(strstr(d.msg, "byte-order mark"));
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 20,000 endpoints load in linear time: duplicates are found by a hash
 * set and arrays grow by doubling (a linear search and realloc by one
 * took 93 s under ASan).  The bound is loose; quadratic is far past it. */
/* [dkim] and one [dkim "DOMAIN"] per selector; keys in the wrong one of
 * the two, and a selector without its key, are named by line. */
/* Each text in bad[i][0] is refused with words containing bad[i][1]. */
static void expect_bad(const char *const bad[][2], size_t n)
{
    kw_config c;
    kw_diag d;
    size_t i;

    for (i = 0; i < n; i++) {
        if (parse(bad[i][0], &c, &d) == 0)
            fail_msg("accepted: %s", bad[i][0]);
        if (strstr(d.msg, bad[i][1]) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i][0], d.msg,
                     bad[i][1]);
    }
}

/* An endpoint's name longer than its object's rows hold is refused,
 * not cut (a cut name is never found again by the DANE check). */
static void endpoint_name_long(void **state)
{
    char text[600], name[300];
    kw_config c;
    kw_diag d;

    (void)state;
    memset(name, 'e', 256);
    name[256] = '\0';
    snprintf(text, sizeof(text), "[endpoint \"%s\"]\nhost = mx.test\n",
             name);
    assert_int_not_equal(parse(text, &c, &d), 0);
    assert_non_null(strstr(d.msg, "256 bytes long; at most 255"));
    name[255] = '\0';
    snprintf(text, sizeof(text), "[endpoint \"%s\"]\nhost = mx.test\n",
             name);
    assert_int_equal(parse(text, &c, &d), 0);
    kw_config_free(&c);
}

static void dkim_sections(void **state)
{
    kw_config c;
    kw_diag d;
    static const char *const bad[][2] = {
        {"[dkim \"a.test\"]\nselector = s1\n", "k.conf:1"},
        {"[dkim]\nselector = s1\n", "k.conf:2: selector: belongs in a"},
        {"[dkim \"a.test\"]\nmax_age = 1d\n", "belongs in [dkim]"},
        {"[dkim]\noutbound = 192.0.2.1, mail\n", "mail: expected IPv4"},
        {"[dkim]\nopendkim_conf = etc/opendkim.conf\n", "absolute path"},
        {"[dkim \"a..test\"]\n", "expected the domain"},
        {"[dkim \"a.test\"]\nselector = s1\nkey = /k\n"
         "[dkim \"A.test\"]\nselector = s1\nkey = /k2\n",
         "also set at line 1"},
        {"[dkim]\n[dkim]\n", "appears twice"},
        {"[dkim]\ndns_port = 0\n", "dns_port = 0: expected a port"},
        {"[dkim]\ndns_port = 53x\n", "expected a port"},
        {"[dkim \"a.test\"]\ndns_port = 53\n", "belongs in [dkim]"},
    };

    (void)state;
    assert_int_equal(parse("[dkim]\n"
                           "opendkim_conf = /etc/opendkim.conf\n"
                           "max_age = 90d\n"
                           "outbound = 192.0.2.1 2001:db8::1\n"
                           "dns_port = 5300\n"
                           "[dkim \"example.com\"]\n"
                           "selector = x1\n"
                           "key = /etc/exim4/dkim/x1.pem\n"
                           "user = Debian-exim\n"
                           "[dkim \"example.com\"]\n"
                           "selector = x2\n"
                           "key = /etc/exim4/dkim/x2.pem\n",
                           &c, &d),
                     0);
    assert_true(c.dkim.configured);
    assert_string_equal(c.dkim.opendkim_conf, "/etc/opendkim.conf");
    assert_int_equal(c.dkim.max_age, 90 * 86400);
    assert_int_equal(c.dkim.interval, 3600);
    assert_int_equal(c.dkim.noutbound, 2);
    assert_string_equal(c.dkim.outbound[1], "2001:db8::1");
    assert_int_equal(c.dkim.nkeys, 2);
    assert_string_equal(c.dkim.keys[1].selector, "x2");
    assert_string_equal(c.dkim.keys[0].user, "Debian-exim");
    assert_int_equal(c.dkim.keys[1].line, 10);
    assert_int_equal(c.dkim.dns_port, 5300);
    assert_string_equal(c.dkim.config_file, "k.conf");
    kw_config_free(&c);

    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* zone = and slots =: the fixed slots of a dedicated zone, each error
 * naming the file and the line of the section's end or the key. */
static void dkim_zone_sections(void **state)
{
    static const char *const bad[][2] = {
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%Y%m\n"
         "key_dir = /k\npublish = manual\nzone = dkim.example.net\n",
         "k.conf:1: [dkim \"a.test\"]: selector = kw%Y%m: with zone = the "
         "selectors are fixed slots and the template must hold %n"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%n%Y\n"
         "key_dir = /k\npublish = manual\nzone = dkim.example.net\n",
         "only %n may be used"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%n\n"
         "key_dir = /k\npublish = manual\n",
         "%n (the slot) is only for a section with zone ="},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%Y\n"
         "key_dir = /k\npublish = manual\nslots = 3\n",
         "slots = is for a dedicated zone"},
        {"[dkim \"a.test\"]\nrotate = 90d\nslots = 9\n",
         "k.conf:3: slots = 9: expected 2 to 8"},
        {"[dkim \"a.test\"]\nrotate = 90d\nslots = 1\n",
         "expected 2 to 8"},
        {"[dkim \"a.test\"]\nrotate = 90d\nzone = dkim..example\n",
         "k.conf:3: zone = dkim..example: expected the dedicated zone"},
        {"[dkim \"a.test\"]\nrotate = 90d\nzone = localhost\n",
         "expected the dedicated zone"},
    };
    kw_config c;
    kw_diag d;

    (void)state;
    if (parse("[dkim \"example.com\"]\n"
              "rotate = 30d\n"
              "key_dir = /k\n"
              "zone = dkim.example.net\n"
              "slots = 3\n"
              "dns_server = 127.0.0.1:5300\n"
              "[dkim \"example.org\"]\n"
              "rotate = 30d\n"
              "selector = s%n-x\n"
              "key_dir = /k\n"
              "zone = dkim.example.net\n"
              "publish = manual\n",
              &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.dkim.nrot, 2);
    assert_string_equal(c.dkim.rot[0].zone, "dkim.example.net");
    assert_int_equal(c.dkim.rot[0].slots, 3);
    /* The default template with zone =. */
    assert_string_equal(c.dkim.rot[0].selector, "kw%n");
    assert_string_equal(c.dkim.rot[1].selector, "s%n-x");
    assert_int_equal(c.dkim.rot[1].slots, 2);
    {
        char owner[300], target[300];

        assert_int_equal(kw_dkim_slot_cname(&c.dkim.rot[1], 2, owner,
                                            sizeof(owner), target,
                                            sizeof(target), &d), 0);
        assert_string_equal(owner, "s2-x._domainkey.example.org");
        assert_string_equal(target,
                            "s2-x._domainkey.example.org.dkim.example.net");
        assert_int_not_equal(kw_dkim_slot_cname(&c.dkim.rot[1], 3, owner,
                                                sizeof(owner), target,
                                                sizeof(target), &d), 0);
    }
    kw_config_free(&c);
    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* [certificate] dane = and its keys reach the renewal's parameters;
 * what cannot work is refused by name. */
static void cert_dane(void **state)
{
    static const char *const bad[][2] = {
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 0 1\n"
         "dns_server = 127.0.0.1\n", "use dane = 3 1 1"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 2 1 1\n"
         "dns_server = 127.0.0.1\n", "only 3 1 x"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 7\n"
         "dns_server = 127.0.0.1\n", "matching type"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1\n",
         "three numbers"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 1\n",
         "dane = needs dns_server"},
        {"[certificate \"m\"]\nnames = mx.test\ndane_port = 465\n",
         "need dane = 3 1 1"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 1\n"
         "dns_server = 127.0.0.1\ndane_ttl = 0\n", "1 to 86400"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 1\n"
         "dns_server = 127.0.0.1\ndane_hosts = bad..name\n",
         "dane_hosts: bad..name"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 0\n"
         "dns_server = 127.0.0.1\n",
         "dane = 3 1 0 with key_type ec256"},
        /* A 17th host would be cut off by the rollover's job. */
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 1\n"
         "dns_server = 127.0.0.1\ndane_hosts = m1.t m2.t m3.t m4.t m5.t "
         "m6.t m7.t m8.t m9.t m10.t m11.t m12.t m13.t m14.t m15.t m16.t "
         "m17.t\n",
         "dane_hosts: 17 names; at most 16"},
        {"[certificate \"m\"]\nnames = mx.test\ndane = 3 1 1\n"
         "dns_server = 127.0.0.1\ndns_check = 127.0.0.1 127.0.0.2 "
         "127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 "
         "127.0.0.9 127.0.0.10 127.0.0.11 127.0.0.12 127.0.0.13 "
         "127.0.0.14 127.0.0.15 127.0.0.16 127.0.0.17\n",
         "dns_check: 17 servers; at most 16"},
    };
    kw_renew_params rp;
    kw_config c;
    kw_diag d;

    (void)state;
    assert_int_equal(parse("[certificate \"m\"]\nnames = mx.test\n"
                           "dane = 3 1 1\ndns_server = 127.0.0.1\n"
                           "dane_hosts = mx1.test, mx2.test\n"
                           "dane_ttl = 300\ndane_release = yes\n",
                           &c, &d), 0);
    kw_config_renew_params(&c, &c.certs[0], &rp);
    assert_int_equal(rp.dane, 1);
    assert_int_equal(rp.dane_usage, 3);
    assert_int_equal(rp.dane_selector, 1);
    assert_int_equal(rp.dane_mtype, 1);
    assert_int_equal(rp.dane_port, 25);
    assert_int_equal(rp.dane_ttl, 300);
    assert_int_equal(rp.dane_release, 1);
    assert_int_equal(rp.ndane_hosts, 2);
    assert_string_equal(rp.dane_hosts[1], "mx2.test");
    kw_config_free(&c);
    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Where the rollover's probe connects for each dane host: an SMTP
 * [endpoint] with an address as host gives that address; one with the
 * host's name gives none, so every address of the host is probed (the
 * old record may only go when each serves the next key). */
static void dane_probe_at(void **state)
{
    kw_dane_probe_at at[KW_DANE_ROLL_HOSTS_MAX];
    kw_config c;
    kw_diag d;

    (void)state;
    assert_int_equal(parse("[certificate \"m\"]\nnames = mx1.test\n"
                           "dane = 3 1 1\ndns_server = 127.0.0.1\n"
                           "dane_hosts = mx1.test mx2.test\n\n"
                           "[endpoint \"one\"]\nhost = 127.0.0.9\n"
                           "sni = mx1.test\nport = 2525\n"
                           "starttls = smtp\n\n"
                           "[endpoint \"two\"]\nhost = mx2.test\n"
                           "port = 2526\nstarttls = smtp\n",
                           &c, &d), 0);
    assert_int_equal(kw_dane_roll_probe_at(&c, &c.certs[0], at,
                                           KW_DANE_ROLL_HOSTS_MAX), 2);
    assert_string_equal(at[0].host, "mx1.test");
    assert_non_null(at[0].connect);
    assert_string_equal(at[0].connect, "127.0.0.9");
    assert_int_equal(at[0].port, 2525);
    assert_string_equal(at[1].host, "mx2.test");
    assert_null(at[1].connect);
    assert_int_equal(at[1].port, 2526);
    kw_config_free(&c);
}

/* A managed [dkim "DOMAIN"] (rotate =) fills its own parameters, beside
 * a watched selector of the same domain, and is checked whole. */
static void dkim_rotate_sections(void **state)
{
    static const char *const bad[][2] = {
        {"[dkim \"a.test\"]\nselector = k%Y\nkey_dir = /k\n"
         "dns_server = 127.0.0.1\n",
         "need rotate ="},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k%Y\n"
         "dns_server = 127.0.0.1\n",
         "needs key_dir"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k%Y\nkey_dir = /k\n",
         "a way to publish"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k%s\nkey_dir = /k\n"
         "publish = manual\n",
         "only %Y"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k\nkey = /k/x\n"
         "key_dir = /k\npublish = manual\n",
         "writes its keys in key_dir"},
        {"[dkim \"a.test\"]\nrotate = 1h\n", "at least a day"},
        {"[dkim \"a.test\"]\nselector = k%Y\nkey = /k/x\n",
         "a template needs rotate"},
        {"[dkim \"a.test\"]\nkey_type = ec256\n", "expected rsa2048"},
        {"[dkim \"a.test\"]\nretire = drop\n", "remove or revoke"},
        {"[dkim \"a.test\"]\nold_key = keep\n", "archive or delete"},
        {"[dkim \"a.test\"]\ndns_exec = bin/x\n", "absolute path"},
        {"[dkim \"a.test\"]\ndns_check = ns1.example\n",
         "dns_check: ns1.example: expected an IP address"},
        {"[dkim \"a.test\"]\ndns_check = 192.0.2.1:99999\n",
         "expected an IP address"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k\nkey_dir = /k\n"
         "dns_server = 127.0.0.1\ntsig_key = kw\n",
         "go together"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = k\nkey_dir = /k\n"
         "publish = manual\n[dkim \"a.test\"]\nrotate = 30d\nselector = j\n"
         "key_dir = /k\npublish = manual\n",
         "one managed section per domain"},
    };
    kw_config c;
    kw_diag d;

    (void)state;
    if (parse("[dkim \"example.com\"]\n"
              "selector = x1\n"
              "key = /etc/exim4/dkim/x1.pem\n"
              "[dkim \"example.com\"]\n"
              "rotate = 90d\n"
              "selector = kw%Y%m\n"
              "key_dir = /var/lib/keywarden/dkim\n"
              "key_type = ed25519\n"
              "drain = 3d\n"
              "retire = revoke\n"
              "old_key = delete\n"
              "dns_server = 127.0.0.1:5300\n"
              "dns_zone = example.com\n"
              "tsig_key = kw\n"
              "tsig_secret = c2VjcmV0c2VjcmV0\n"
              "ttl = 300\n"
              "[dkim \"example.org\"]\n"
              "rotate = 30d\n"
              "selector = s%Y\n"
              "key_dir = /k\n"
              "dns_exec = /bin/true --zone example.org\n"
              "dns_check = 192.0.2.7, [2001:db8::7]:5353 198.51.100.1:53\n"
              "[dkim]\n"
              "resolver = 127.0.0.1@5301\n"
              "dns_port = 5300\n"
              "max_age = 120d\n",
              &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.dkim.nkeys, 1);
    assert_string_equal(c.dkim.keys[0].selector, "x1");
    assert_int_equal(c.dkim.nrot, 2);
    assert_string_equal(c.dkim.rot[0].domain, "example.com");
    assert_string_equal(c.dkim.rot[0].selector, "kw%Y%m");
    assert_int_equal(c.dkim.rot[0].rotate, 90 * 86400);
    assert_int_equal(c.dkim.rot[0].drain, 3 * 86400);
    assert_true(c.dkim.rot[0].retire_revoke);
    assert_true(c.dkim.rot[0].delete_old_key);
    assert_int_equal(c.dkim.rot[0].ttl, 300);
    assert_int_equal(c.dkim.rot[0].publish, KW_DKIM_PUBLISH_UPDATE);
    assert_string_equal(c.dkim.rot[0].tsig_key, "kw");
    assert_int_equal(c.dkim.rot[0].dns_port, 5300);
    assert_string_equal(c.dkim.rot[0].resolver, "127.0.0.1@5301");
    /* [dkim] max_age, after the managed sections, reaches them: their
     * health turns critical as the key that signs nears it. */
    assert_int_equal(c.dkim.rot[0].max_age, 120 * 86400);
    assert_int_equal(c.dkim.rot[1].max_age, 120 * 86400);
    assert_int_equal(c.dkim.rot[1].publish, KW_DKIM_PUBLISH_EXEC);
    assert_string_equal(c.dkim.rot[1].dns_exec[0], "/bin/true");
    assert_string_equal(c.dkim.rot[1].dns_exec[2], "example.org");
    assert_null(c.dkim.rot[1].dns_exec[3]);
    assert_null(c.dkim.rot[0].dns_check);
    assert_string_equal(c.dkim.rot[1].dns_check[0], "192.0.2.7");
    assert_string_equal(c.dkim.rot[1].dns_check[1], "[2001:db8::7]:5353");
    assert_string_equal(c.dkim.rot[1].dns_check[2], "198.51.100.1:53");
    assert_null(c.dkim.rot[1].dns_check[3]);
    {
        kw_dkim_params cp;

        assert_int_equal(kw_dkim_params_copy(&cp, &c.dkim), 0);
        assert_int_equal(cp.nrot, 2);
        assert_string_equal(cp.rot[1].dns_exec[1], "--zone");
        assert_string_equal(cp.rot[1].dns_check[1], "[2001:db8::7]:5353");
        kw_dkim_params_free(&cp);
    }
    kw_config_free(&c);

    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

/* key_type = rsa2048+ed25519: one section, two tracks (kw_dkim_rot_params
 * each), the template's %a replaced by each track's letter, the Ed25519
 * track with its own OpenDKIM; what cannot work is refused by line. */
static void dkim_dual_sections(void **state)
{
    static const char *const bad[][2] = {
        /* Two tracks, one selector: they would collide. */
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%Y%m\n"
         "key_type = rsa2048+ed25519\nkey_dir = /k\npublish = manual\n",
         "k.conf:1: [dkim \"a.test\"]: selector = kw%Y%m: with key_type = "
         "rsa2048+ed25519 the template must hold %a"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%Y%%a\n"
         "key_type = rsa2048+ed25519\nkey_dir = /k\npublish = manual\n",
         "must hold %a"},
        {"[dkim \"a.test\"]\nrotate = 90d\nselector = kw%a\n"
         "key_dir = /k\npublish = manual\n",
         "k.conf:1: [dkim \"a.test\"]: selector = kw%a: %a (the key's "
         "algorithm) is for key_type = rsa2048+ed25519"},
        {"[dkim \"a.test\"]\nrotate = 90d\nkey_type = rsa2048+ed25519\n"
         "key_dir = /k\npublish = manual\nsigner = rspamd\n"
         "selector_map = /m\npath_map = /p\n",
         "k.conf:1: [dkim \"a.test\"]: key_type = rsa2048+ed25519 with "
         "signer = rspamd is not supported: rspamd's selector_map holds one "
         "selector per domain"},
        {"[dkim \"a.test\"]\nrotate = 90d\nkey_type = rsa3072+ed25519\n"
         "key_dir = /k\npublish = manual\nsigner = opendkim\n",
         "k.conf:1: [dkim \"a.test\"]: key_type = rsa3072+ed25519 with "
         "signer = opendkim needs opendkim_conf_ed25519"},
        {"[dkim \"a.test\"]\nrotate = 90d\nkey_type = rsa2048\n"
         "key_dir = /k\npublish = manual\nselector = k%Y\n"
         "opendkim_conf_ed25519 = /etc/ed.conf\n",
         "opendkim_conf_ed25519 is for key_type = rsa2048+ed25519"},
        {"[dkim \"a.test\"]\nrotate = 90d\nkey_type = rsa2048+ed25519\n"
         "key_dir = /k\npublish = manual\nzone = dkim.example.net\n"
         "selector = kw%n%a\n",
         "with zone = is not supported"},
        {"[dkim \"a.test\"]\nkey_type = ed25519+rsa2048\n",
         "k.conf:2: key_type = ed25519+rsa2048: expected rsa2048"},
        {"[dkim \"a.test\"]\nopendkim_conf_ed25519 = etc/ed.conf\n",
         "absolute path"},
    };
    kw_config c;
    kw_diag d;
    char label[300];

    (void)state;
    if (parse("[dkim \"example.com\"]\n"
              "rotate = 90d\n"
              "key_type = rsa3072+ed25519\n"
              "key_dir = /k\n"
              "dns_server = 127.0.0.1:5300\n"
              "signer = opendkim\n"
              "opendkim_conf_ed25519 = /etc/opendkim-ed25519.conf\n"
              "[dkim \"example.org\"]\n"
              "rotate = 30d\n"
              "key_type = rsa2048+ed25519\n"
              "selector = m%a-%Y\n"
              "key_dir = /k\n"
              "publish = manual\n"
              "signer = exec\n"
              "signer_exec = /bin/true\n"
              "[dkim \"example.net\"]\n"
              "rotate = 30d\n"
              "selector = s%Y\n"
              "key_dir = /k\n"
              "publish = manual\n"
              "signer = opendkim\n"
              "[dkim]\n"
              "opendkim_conf = /etc/opendkim-rsa.conf\n",
              &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(c.dkim.nrot, 5);
    /* The RSA track where the section was, its Ed25519 track after. */
    assert_string_equal(c.dkim.rot[0].domain, "example.com");
    assert_int_equal(c.dkim.rot[0].track, KS_DKIM_TRACK_RSA);
    assert_string_equal(c.dkim.rot[0].key_type, "rsa3072");
    assert_string_equal(c.dkim.rot[0].selector, "kw%Y%mr");
    assert_string_equal(c.dkim.rot[0].opendkim_conf,
                        "/etc/opendkim-rsa.conf");
    assert_string_equal(c.dkim.rot[1].domain, "example.com");
    assert_int_equal(c.dkim.rot[1].track, KS_DKIM_TRACK_ED25519);
    assert_string_equal(c.dkim.rot[1].key_type, "ed25519");
    assert_string_equal(c.dkim.rot[1].selector, "kw%Y%me");
    assert_string_equal(c.dkim.rot[1].opendkim_conf,
                        "/etc/opendkim-ed25519.conf");
    assert_string_equal(c.dkim.rot[1].dns_server, "127.0.0.1:5300");
    assert_int_equal(c.dkim.rot[1].line, c.dkim.rot[0].line);
    /* %a anywhere in the template. */
    assert_string_equal(c.dkim.rot[2].selector, "mr-%Y");
    assert_string_equal(c.dkim.rot[3].selector, "me-%Y");
    assert_string_equal(c.dkim.rot[3].signer_exec[0], "/bin/true");
    assert_int_equal(c.dkim.rot[4].track, KS_DKIM_TRACK_ANY);
    assert_string_equal(c.dkim.rot[4].opendkim_conf,
                        "/etc/opendkim-rsa.conf");
    assert_string_equal(kw_dkim_rot_label(&c.dkim.rot[1], label,
                                          sizeof(label)),
                        "example.com (ed25519)");
    assert_string_equal(kw_dkim_rot_label(&c.dkim.rot[0], label,
                                          sizeof(label)),
                        "example.com (rsa3072)");
    assert_string_equal(kw_dkim_rot_label(&c.dkim.rot[4], label,
                                          sizeof(label)),
                        "example.net");
    assert_ptr_equal(kw_dkim_rot_section(&c.dkim, "EXAMPLE.com",
                                         KS_DKIM_TRACK_ED25519),
                     &c.dkim.rot[1]);
    {
        ks_dkim_rot r;

        memset(&r, 0, sizeof(r));
        snprintf(r.domain, sizeof(r.domain), "example.com");
        snprintf(r.key_type, sizeof(r.key_type), "ed25519");
        assert_ptr_equal(kw_dkim_rot_section_of(&c.dkim, &r),
                         &c.dkim.rot[1]);
        snprintf(r.key_type, sizeof(r.key_type), "rsa2048");
        assert_ptr_equal(kw_dkim_rot_section_of(&c.dkim, &r),
                         &c.dkim.rot[0]);
        snprintf(r.domain, sizeof(r.domain), "example.net");
        assert_ptr_equal(kw_dkim_rot_section_of(&c.dkim, &r),
                         &c.dkim.rot[4]);
    }
    kw_config_free(&c);

    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

static void many_endpoints(void **state)
{
    enum { N = 20000 };
    size_t cap = (size_t)N * 48 + 64, len = 0;
    char *text = malloc(cap);
    struct timespec t0;
    kw_config c;
    kw_diag d;
    double took;
    int i;

    (void)state;
    assert_non_null(text);
    for (i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "[endpoint \"e%d\"]\nhost = h%d.example\n", i,
                                i);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (kw_config_parse("k.conf", text, len, &c, &d) != 0)
        fail_msg("%s", d.msg);
    took = seconds_since(&t0);
    assert_int_equal(c.nendpoints, N);
    assert_string_equal(c.endpoints[N - 1].name, "e19999");
    assert_string_equal(c.endpoints[N - 1].host, "h19999.example");
    assert_int_equal(c.endpoints[N - 1].line, 2 * N - 1);
    kw_config_free(&c);
    print_message("20000 endpoints parsed in %.3f s\n", took);
    assert_true(took < 1.0);

    /* The last one repeats the first: still found, on its line. */
    len += (size_t)snprintf(text + len, cap - len,
                            "[endpoint \"e0\"]\nhost = again\n");
    assert_int_equal(kw_config_parse("k.conf", text, len, &c, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "k.conf:40001: [endpoint \"e0\"] appears "
                                  "twice"));
    free(text);
}

/* [dnssec] and [zone "NAME"]: the signers' files, the live checks'
 * parameters and the zones watched from outside; a copy is deep. */
/* [dane], [mta-sts] and [mta-sts "DOMAIN"]: defaults, values, and each
 * mistake named. */
static void mail_check_sections(void **state)
{
    kw_config c;
    kw_diag d;
    size_t i;
    static const char *const bad[][2] = {
        {"[dane]\nresolver = ns.test\n", "expected an IP address"},
        {"[dane]\ninterval = 5s\n", "at least 1m"},
        {"[dane]\ntimeout = 5m\n", "from 1s to 2m"},
        {"[dane \"mx\"]\n", "takes no name"},
        {"[dane]\n[dane]\n", "appears twice"},
        {"[mta-sts \"a.test\"]\ncafile = /x\n", "only names a domain"},
        {"[mta-sts \"a.test\"]\n[mta-sts \"A.test.\"]\n", "appears twice"},
        {"[mta-sts \"a..test\"]\n", "expected a mail domain"},
        {"[mta-sts]\nhttps_port = 0\n", "expected a port"},
        {"[mta-sts]\ncafile = ca.pem\n", "expected an absolute path"},
        {"[mta-sts]\nmx = a\n", "unknown key in [mta-sts]"},
    };

    (void)state;
    assert_int_equal(parse("", &c, &d), 0);
    assert_int_equal(c.dane.interval, 3600);
    assert_int_equal(c.dane.timeout, 10);
    assert_int_equal(c.mtasts.ndomains, 0);
    kw_config_free(&c);
    assert_int_equal(parse("[dane]\nresolver = 127.0.0.1:5353\n"
                           "interval = 2h\ntimeout = 5s\n"
                           "[mta-sts \"Example.COM.\"]\n"
                           "[mta-sts]\ncafile = /etc/ca.pem\n"
                           "https_port = 8443\nsmtp_port = 2525\n"
                           "[mta-sts \"b.example\"]\n", &c, &d), 0);
    assert_true(c.dane.configured);
    assert_string_equal(c.dane.resolver, "127.0.0.1:5353");
    assert_int_equal(c.dane.interval, 7200);
    assert_int_equal(c.dane.timeout, 5);
    assert_int_equal(c.mtasts.ndomains, 2);
    assert_string_equal(c.mtasts.domains[0], "example.com");
    assert_string_equal(c.mtasts.domains[1], "b.example");
    assert_string_equal(c.mtasts.cafile, "/etc/ca.pem");
    assert_int_equal(c.mtasts.https_port, 8443);
    assert_int_equal(c.mtasts.smtp_port, 2525);
    kw_config_free(&c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i][0], &c, &d) != KW_EPARSE)
            fail_msg("accepted: %s", bad[i][0]);
        if (strstr(d.msg, bad[i][1]) == NULL)
            fail_msg("%s: said \"%s\", expected \"%s\"", bad[i][0], d.msg,
                     bad[i][1]);
    }
}

static void dnssec_sections(void **state)
{
    kw_config c;
    kw_dnssec_params cp;
    kw_diag d;
    static const char *const bad[][2] = {
        {"[dnssec]\nnamed_conf = etc/named.conf\n",
         "k.conf:2: named_conf = etc/named.conf: expected an absolute"},
        {"[dnssec]\nkeymgr = /nonexistent/keymgr\n", "executable"},
        {"[dnssec]\nresolver = resolver.test\n", "expected an IP address"},
        {"[dnssec]\ndns_port = 70000\n", "expected a port"},
        {"[dnssec]\ninterval = 10s\n", "at least 1m"},
        {"[dnssec]\nwarn = 2d\ncrit = 3d\n", "k.conf:1: [dnssec]: crit"},
        {"[dnssec]\n[dnssec]\n", "appears twice"},
        {"[dnssec \"a.test\"]\n", "takes no name"},
        {"[zone]\n", "expected the zone's name"},
        {"[zone \"a..test\"]\n", "expected a zone name"},
        {"[zone \"a.test\"]\n[zone \"A.test.\"]\n",
         "k.conf:2: [zone \"a.test\"] appears twice (first at line 1)"},
        {"[zone \"a.test\"]\nservers = 192.0.2.1, ns1\n",
         "servers: ns1: expected an IP address"},
        {"[zone \"a.test\"]\nwarn = 1d\n", "unknown key in [zone \"NAME\"]"},
        {"[dnssec]\nservers = 192.0.2.1\n", "unknown key in [dnssec]"},
    };

    (void)state;
    assert_int_equal(parse("[zone \"Example.COM.\"]\n"
                           "servers = 192.0.2.1:5300, [2001:db8::1]:53\n"
                           "ds_server = 192.0.2.9\n"
                           "[dnssec]\n"
                           "named_conf = /srv/bind/named.conf\n"
                           "knot_conf = /srv/knot/knot.conf\n"
                           "resolver = 127.0.0.1:5353\n"
                           "dns_port = 5300\n"
                           "interval = 10m\n"
                           "warn = 5d\n"
                           "crit = 1d\n"
                           "[zone \"b.test\"]\n",
                           &c, &d),
                     0);
    assert_true(c.dnssec.configured);
    assert_string_equal(c.dnssec.named_conf, "/srv/bind/named.conf");
    assert_string_equal(c.dnssec.knot_conf, "/srv/knot/knot.conf");
    assert_null(c.dnssec.keymgr);
    assert_string_equal(c.dnssec.resolver, "127.0.0.1:5353");
    assert_int_equal(c.dnssec.dns_port, 5300);
    assert_int_equal(c.dnssec.interval, 600);
    assert_int_equal(c.dnssec.warn, 5 * 86400);
    assert_int_equal(c.dnssec.crit, 86400);
    assert_int_equal(c.dnssec.nzones, 2);
    assert_string_equal(c.dnssec.zones[0].zone, "example.com");
    assert_int_equal(c.dnssec.zones[0].line, 1);
    assert_int_equal(c.dnssec.zones[0].nservers, 2);
    assert_string_equal(c.dnssec.zones[0].servers[1], "[2001:db8::1]:53");
    assert_string_equal(c.dnssec.zones[0].ds_server, "192.0.2.9");
    assert_string_equal(c.dnssec.zones[1].zone, "b.test");
    assert_int_equal(c.dnssec.zones[1].nservers, 0);
    assert_string_equal(c.dnssec.config_file, "k.conf");
    assert_int_equal(kw_dnssec_params_copy(&cp, &c.dnssec), 0);
    kw_config_free(&c);
    assert_string_equal(cp.zones[0].servers[0], "192.0.2.1:5300");
    assert_string_equal(cp.knot_conf, "/srv/knot/knot.conf");
    assert_int_equal(cp.warn, 5 * 86400);
    kw_dnssec_params_free(&cp);

    /* Defaults: nothing configured. */
    assert_int_equal(parse("[daemon]\n", &c, &d), 0);
    assert_false(c.dnssec.configured);
    assert_int_equal(c.dnssec.interval, 3600);
    assert_int_equal(c.dnssec.warn, 7 * 86400);
    assert_int_equal(c.dnssec.crit, 3 * 86400);
    kw_config_free(&c);

    expect_bad(bad, sizeof(bad) / sizeof(bad[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_file),
        cmocka_unit_test(defaults),
        cmocka_unit_test(dkim_dual_sections),
        cmocka_unit_test(lifecycle_params),
        cmocka_unit_test(hooks),
        cmocka_unit_test(errors_name_file_line_and_key),
        cmocka_unit_test(long_lines_and_nul_bytes),
        cmocka_unit_test(shipped_example),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(byte_order_mark),
        cmocka_unit_test(many_endpoints),
        cmocka_unit_test(endpoint_name_long),
        cmocka_unit_test(dkim_sections),
        cmocka_unit_test(dkim_rotate_sections),
        cmocka_unit_test(cert_dane),
        cmocka_unit_test(dane_probe_at),
        cmocka_unit_test(dnssec_sections),
        cmocka_unit_test(mail_check_sections),
        cmocka_unit_test(dkim_zone_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
