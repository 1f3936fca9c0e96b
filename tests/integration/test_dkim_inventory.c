/*
 * test_dkim_inventory.c: a mail server's DKIM keys in the inventory, the
 * Debian way, in a temporary root: OpenDKIM's opendkim.conf with a
 * KeyTable (one broken row) and a refile: SigningTable, keys made by
 * opendkim-genkey in a dkimkeys directory (one world-readable, one 1024-bit
 * and only published, one that no table names), rspamd's local.d
 * dkim_signing with an Ed25519 key from rspamadm, and a [dkim "DOMAIN"]
 * section for another signer.  `keywarden scan --dkim` records them,
 * `list` shows each role, `list --json` carries them, and `check` exits
 * 2, then 1, then 0 as the problems are fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knot.h"
#include "kwrun.h"
#include "proc.h"
#include "tmpdir.h"

static char dir[256], state[512], conf[512];

static const char *at(const char *rel)
{
    return kw_path(dir, rel);
}

static void tool(const char *const argv[])
{
    kw_tool(argv, at("tools.log"));
}

static void mkdirs(const char *rel)
{
    char path[600], *p;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    mkdir(path, 0755);
}

static void genkey(const char *bits, const char *sel)
{
    tool((const char *const[]){"/usr/sbin/opendkim-genkey", "-b", bits, "-d",
                               "mail.test", "-s", sel, "-D",
                               at("etc/dkimkeys"), NULL});
}

static void write_keytable(int with_s2)
{
    write_text(at("etc/dkimkeys/keytable"),
               "# Debian layout\n"
               "s1._domainkey.mail.test mail.test:s1:%s\n"
               "wr._domainkey.mail.test mail.test:wr:%s\n"
               "broken mail.test:nokey\n"
               "%s%s%s",
               at("etc/dkimkeys/s1.private"), at("etc/dkimkeys/wr.private"),
               with_s2 ? "s2._domainkey.mail.test mail.test:s2:" : "",
               with_s2 ? at("etc/dkimkeys/s2.private") : "",
               with_s2 ? "\n" : "");
}

static int setup(void **st)
{
    struct passwd *pw = getpwuid(getuid());

    tmpdir_make(dir, sizeof(dir), "dkiminv");
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(conf, sizeof(conf), "%s/keywarden.conf", dir);
    mkdirs("etc/dkimkeys");
    mkdirs("etc/rspamd/local.d");
    mkdirs("var/lib/rspamd/dkim");
    mkdirs("etc/exim4");
    genkey("2048", "s1");
    genkey("1024", "s2");
    genkey("2048", "wr");
    genkey("2048", "old");
    assert_int_equal(chmod(at("etc/dkimkeys/wr.private"), 0644), 0);
    tool((const char *const[]){"/usr/bin/rspamadm", "dkim_keygen", "-t", "ed25519",
                               "-d", "rs.test", "-s", "r1", "-k",
                               at("var/lib/rspamd/dkim/rs.test.r1.key"),
                               NULL});
    tool((const char *const[]){"/usr/bin/openssl", "genpkey", "-algorithm", "RSA",
                               "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                               at("etc/exim4/x1.pem"), NULL});
    assert_int_equal(chmod(at("etc/exim4/x1.pem"), 0600), 0);
    write_keytable(1);
    write_text(at("etc/dkimkeys/signingtable"),
               "*@mail.test s1._domainkey.mail.test\n"
               "*@news.mail.test wr._domainkey.mail.test\n");
    write_text(at("etc/opendkim.conf"),
               "Syslog\t\t\tyes\n"
               "Canonicalization\trelaxed/simple\n"
               "UserID\t\t\t%s\n"
               "KeyTable\t\tfile:%s\n"
               "SigningTable\t\trefile:%s\n",
               pw != NULL ? pw->pw_name : "root",
               at("etc/dkimkeys/keytable"), at("etc/dkimkeys/signingtable"));
    write_text(at("etc/rspamd/local.d/dkim_signing.conf"),
               "# local.d, as an operator writes it\n"
               "path = \"%s/$domain.$selector.key\";\n"
               "selector = \"r1\";\n",
               at("var/lib/rspamd/dkim"));
    write_text(conf,
               "[dkim]\n"
               "opendkim_conf = %s\n"
               "rspamd_conf = %s\n"
               "[dkim \"exim.test\"]\n"
               "selector = x1\n"
               "key = %s\n",
               at("etc/opendkim.conf"), at("etc/rspamd"),
               at("etc/exim4/x1.pem"));
    return 0;
}

static int teardown(void **st)
{
    tmpdir_remove(dir);
    return 0;
}

/* The role list --json gives the selector named name ("" when absent). */
static const char *role_of(json_t *list, const char *name)
{
    size_t i;
    json_t *o;

    json_array_foreach(list, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            return json_string_value(
                json_object_get(json_object_get(o, "dkim"), "role"));
    }
    return "";
}

static void test_debian_mail_server(void **st)
{
    struct passwd *rspamd = getpwnam("_rspamd");
    kwres r;
    json_t *list;
    json_error_t err;

    r = kw_ok(state, conf, "scan", "--dkim");
    assert_contains(r.out, "6 selectors (4 signing, 1 published, 1 orphan");
    /* The broken row is named by file and line; the rest was read. */
    assert_contains(r.err, "keytable:4");
    kwres_free(&r);

    r = kw_ok(state, conf, "list");
    assert_contains(r.out, "s1._domainkey.mail.test");
    assert_contains(r.out, "ok        signing (opendkim)");
    assert_contains(r.out, "published (opendkim): a 1024-bit RSA key");
    assert_contains(r.out, "orphan (opendkim)");
    assert_contains(r.out, "signing (rspamd)");
    assert_contains(r.out, "signing (config)");
    kwres_free(&r);

    r = kw_ok(state, conf, "list", "--json");
    list = json_loads(r.out, 0, &err);
    assert_non_null(list);
    assert_string_equal(role_of(list, "s1._domainkey.mail.test"), "signing");
    assert_string_equal(role_of(list, "wr._domainkey.mail.test"), "signing");
    assert_string_equal(role_of(list, "s2._domainkey.mail.test"),
                        "published");
    assert_string_equal(role_of(list, "old._domainkey.mail.test"), "orphan");
    assert_string_equal(role_of(list, "r1._domainkey.rs.test"), "signing");
    assert_string_equal(role_of(list, "x1._domainkey.exim.test"), "signing");
    json_decref(list);
    kwres_free(&r);

    /* A world-readable signing key (and rspamadm's Ed25519 key, which it
     * writes 0644): critical, with the chmod. */
    r = kw_expect(2, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "CRITICAL");
    assert_contains(r.out, "wr._domainkey.mail.test");
    assert_contains(r.out, "r1._domainkey.rs.test");
    kwres_free(&r);
    r = kw_ok(state, conf, "show", "wr._domainkey.mail.test");
    assert_contains(r.out, "chmod o-rwx");
    /* The record to publish is the one opendkim-genkey wrote. */
    assert_contains(r.out, "wr._domainkey.mail.test TXT \"v=DKIM1; k=rsa; "
                           "p=MII");
    kwres_free(&r);

    /* Fixed: the 1024-bit published key is what remains, a warning. */
    assert_int_equal(chmod(at("etc/dkimkeys/wr.private"), 0600), 0);
    assert_int_equal(chmod(at("var/lib/rspamd/dkim/rs.test.r1.key"), 0600),
                     0);
    kwres_free((r = kw_ok(state, conf, "scan", "--dkim"), &r));
    /* rspamd's key is root's own now: its user may not read it. */
    if (rspamd != NULL && geteuid() == 0) {
        r = kw_expect(2, state, conf, (const char *[]){"check", NULL});
        assert_contains(r.out, "is not readable by _rspamd");
        kwres_free(&r);
        assert_int_equal(chown(at("var/lib/rspamd/dkim/rs.test.r1.key"),
                               rspamd->pw_uid, rspamd->pw_gid),
                         0);
        kwres_free((r = kw_ok(state, conf, "scan", "--dkim"), &r));
    }
    r = kw_expect(1, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "WARNING");
    assert_contains(r.out, "s2._domainkey.mail.test");
    kwres_free(&r);

    /* s2 leaves the KeyTable: its file becomes an orphan, all is ok. */
    write_keytable(0);
    r = kw_ok(state, conf, "scan", "--dkim");
    assert_contains(r.out, "0 published, 2 orphan");
    kwres_free(&r);
    r = kw_expect(0, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "OK");
    kwres_free(&r);

    /* The KeyTable gone: OpenDKIM will not start, and its selectors stay
     * in the inventory, critical, rather than vanish from check. */
    assert_int_equal(rename(at("etc/dkimkeys/keytable"),
                            at("etc/dkimkeys/keytable.moved")),
                     0);
    r = kw_ok(state, conf, "scan", "--dkim");
    assert_contains(r.err, "keytable");
    kwres_free(&r);
    r = kw_expect(2, state, conf, (const char *[]){"check", NULL});
    assert_contains(r.out, "s1._domainkey.mail.test");
    assert_contains(r.out, "opendkim's configuration could not be read");
    assert_not_contains(r.out, "r1._domainkey.rs.test");
    kwres_free(&r);
}

/* GET /metrics from 127.0.0.1:port: the whole answer, malloc'd. */
static char *get_metrics(int port)
{
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    struct sockaddr_in a;
    size_t len = 0, cap = 1 << 20;
    char *buf = calloc(1, cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    assert_non_null(buf);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    while (len + 1 < cap && (n = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)n;
    close(fd);
    return buf;
}

typedef struct serve_wait {
    char db[700];
} serve_wait;

static int dkim_recorded(void *ctx)
{
    return db_int(((serve_wait *)ctx)->db,
                  "SELECT count(*) FROM objects WHERE kind = 'dkim'") == 6;
}

/* keywarden serve's scan job records the selectors at its start, and
 * /metrics carries their health beside the certificates'. */
static void test_serve_records_them(void **st)
{
    char sconf[600], sstate[600], log[600], bin[] = KEYWARDEN_BIN, *m;
    char *argv[] = {bin, (char *)"--state-dir", sstate, (char *)"--config",
                    sconf, (char *)"serve", NULL};
    int port = kn_free_port("127.0.0.1");
    serve_wait w;
    pid_t pid;
    FILE *f;
    char *base = NULL;
    size_t blen = 0;

    snprintf(sconf, sizeof(sconf), "%s/serve.conf", dir);
    snprintf(sstate, sizeof(sstate), "%s/serve-state", dir);
    snprintf(log, sizeof(log), "%s/serve.log", dir);
    snprintf(w.db, sizeof(w.db), "%s/keywarden.db", sstate);
    base = slurp(conf, &blen);
    assert_non_null(base);
    f = fopen(sconf, "w");
    assert_non_null(f);
    fprintf(f, "[daemon]\nmetrics_listen = 127.0.0.1:%d\n%s", port, base);
    fclose(f);
    free(base);
    mkdir(sstate, 0700);

    pid = proc_spawn_log(argv, log);
    if (!proc_until(dkim_recorded, &w, 60000)) {
        kill(pid, SIGKILL);
        proc_wait(pid, 10000);
        static char shown[8192];
        char *text = slurp(log, NULL);

        snprintf(shown, sizeof(shown), "%s", text != NULL ? text : "(none)");
        free(text);
        fail_msg("serve did not record the DKIM selectors; its log:\n%s",
                 shown);
    }
    m = get_metrics(port);
    assert_contains(m, "keywarden_object_health{kind=\"dkim\","
                       "name=\"wr._domainkey.mail.test\"");
    assert_contains(m, "health=\"critical\"");
    free(m);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(proc_wait(pid, 30000), 0);
    assert_true(file_contains(log, "scan: dkim: 6 selectors (4 signing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_debian_mail_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_serve_records_them, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
