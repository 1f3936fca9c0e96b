/*
 * The dns module against real Knot DNS servers on loopback: a primary
 * (127.0.0.1) that takes RFC 2136 updates signed with a TSIG key made by
 * keymgr at test time, and a secondary (127.0.0.2, same port) that
 * transfers the zone and is notified.  Updates with the right key, a wrong
 * secret, an unknown key and no key; large updates over TCP; the zone's
 * servers from its NS records; waiting until every server serves a value
 * (and until the stopped secondary does too); finding the zone of a name;
 * servers that never answer (UDP and TCP) and ports nobody listens on;
 * answers that are unsigned, badly signed or not ours.
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
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns_update.h"
#include "knot.h"
#include "tmpdir.h"

#define ZONE "example.com"
#define NAME "_acme-challenge.www.example.com"

static char g_dir[256];
static knot g_primary, g_secondary;
static kw_dns_server g_srv;         /* the primary */
static kw_dns_tsig g_key;

static int64_t ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static kw_dns_server server(const char *addr, int port)
{
    kw_dns_server s;

    memset(&s, 0, sizeof(s));
    snprintf(s.addr, sizeof(s.addr), "%s", addr);
    s.port = port;
    return s;
}

/* A socket bound on 127.0.0.1 that never reads (UDP) or never accepts
 * (TCP: the kernel completes the handshake, nobody answers). */
static int black_hole(int type, int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, type, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        (type == SOCK_STREAM && listen(fd, 8) != 0) ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    *port = ntohs(a.sin_port);
    return fd;
}

/* 32 random octets in base64 (43 characters, the last with its two low
 * bits clear, and one '='). */
static void random_secret(char *buf, size_t cap)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    assert_true(cap > 45);
    for (i = 0; i < 42; i++)
        buf[i] = b64[rand() % 64];
    buf[42] = b64[(rand() % 16) * 4];
    buf[43] = '=';
    buf[44] = '\0';
}

static void contains(const char *msg, const char *needle)
{
    if (strstr(msg, needle) == NULL)
        fail_msg("\"%s\" not in: %s", needle, msg);
}

/* ----- setup ----- */

static int group_setup(void **state)
{
    kn_opts o;
    int64_t t0 = ms();

    (void)state;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    tmpdir_make(g_dir, sizeof(g_dir), "dns");
    memset(&o, 0, sizeof(o));
    o.zone = ZONE;
    o.ns2_addr = "127.0.0.2";
    if (kn_primary_start(g_dir, "primary", &o, &g_primary) != 0)
        return -1;
    fprintf(stderr, "# knotd primary %s@%d up in %lld ms (key %s)\n",
            g_primary.addr, g_primary.port, (long long)(ms() - t0),
            g_primary.key_name);
    t0 = ms();
    if (kn_secondary_start(g_dir, "secondary", &g_primary, "127.0.0.2",
                           &g_secondary) != 0)
        return -1;
    fprintf(stderr, "# knotd secondary %s@%d up in %lld ms\n",
            g_secondary.addr, g_secondary.port, (long long)(ms() - t0));
    g_srv = server(g_primary.addr, g_primary.port);
    g_key.name = g_primary.key_name;
    g_key.alg = NULL; /* the default, hmac-sha256, as keymgr made it */
    g_key.secret = g_primary.key_secret;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kn_stop(&g_secondary);
    kn_stop(&g_primary);
    if (g_dir[0] != '\0' && getenv("KW_KEEP_TMP") == NULL)
        tmpdir_remove(g_dir);
    return 0;
}

static int group_setup_or_clean(void **state)
{
    if (group_setup(state) != 0) {
        group_teardown(state);
        return -1;
    }
    return 0;
}

/* The zone's two servers, from its NS records, at the test port. */
static size_t zone_servers(kw_dns_server *out, size_t max)
{
    kw_diag d = {""};
    size_t n = 0;
    int rc = kw_dns_zone_servers(&g_srv, ZONE, g_primary.port, out, max, &n,
                                 3000, &d);

    if (rc != 0)
        fail_msg("zone servers: %s", d.msg);
    return n;
}

/* ----- tests ----- */

static void servers_from_ns_records(void **state)
{
    kw_dns_server s[8];
    size_t n;
    char a[96], b[96];

    (void)state;
    n = zone_servers(s, 8);
    assert_int_equal(n, 2);
    kw_dns_server_str(&s[0], a, sizeof(a));
    kw_dns_server_str(&s[1], b, sizeof(b));
    fprintf(stderr, "# NS of %s: %s %s\n", ZONE, a, b);
    assert_true((strcmp(s[0].addr, "127.0.0.1") == 0 &&
                 strcmp(s[1].addr, "127.0.0.2") == 0) ||
                (strcmp(s[0].addr, "127.0.0.2") == 0 &&
                 strcmp(s[1].addr, "127.0.0.1") == 0));
    assert_int_equal(s[0].port, g_primary.port);
    assert_int_equal(s[1].port, g_primary.port);

    /* max bounds the output, and a server left out fails the call
     * (it would never be asked), the one that fitted still given. */
    {
        kw_diag d = {""};
        size_t one = 0;

        assert_int_equal(kw_dns_zone_servers(&g_srv, ZONE, g_primary.port,
                                             s, 1, &one, 3000, &d),
                         KW_ETOOBIG);
        assert_int_equal(one, 1);
        fprintf(stderr, "# max 1: %s\n", d.msg);
        assert_non_null(strstr(d.msg, ZONE));
    }
}

static void add_wait_delete(void **state)
{
    kw_dns_server s[8];
    kw_diag d = {""};
    size_t n = zone_servers(s, 8);
    const char *v = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    int64_t t0 = ms();
    int rc;

    (void)state;
    rc = kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, NAME, v, 60, 3000, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    fprintf(stderr, "# add: %lld ms\n", (long long)(ms() - t0));
    t0 = ms();
    rc = kw_dns_txt_wait(s, n, NAME, v, 10000, 50, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    fprintf(stderr, "# visible on both servers after %lld ms\n",
            (long long)(ms() - t0));

    /* Adding it again is no error (retries are safe). */
    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, NAME, v, 60,
                                       3000, &d), 0);

    t0 = ms();
    rc = kw_dns_txt_update(&g_srv, ZONE, &g_key, 0, NAME, v, 0, 3000, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    rc = kw_dns_txt_wait(s, n, NAME, NULL, 10000, 50, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    fprintf(stderr, "# delete seen everywhere after %lld ms\n",
            (long long)(ms() - t0));

    /* Waiting for the deleted value times out and says what each server
     * answered. */
    t0 = ms();
    rc = kw_dns_txt_wait(s, n, NAME, v, 600, 100, &d);
    assert_int_equal(rc, KW_ETIMEDOUT);
    assert_true(ms() - t0 < 1500);
    fprintf(stderr, "# %s\n", d.msg);
    contains(d.msg, NAME);
    contains(d.msg, "2 of 2 servers");
    contains(d.msg, "127.0.0.1:");
    contains(d.msg, "127.0.0.2:");
    contains(d.msg, "NXDOMAIN");
}

static void delete_one_value_or_all(void **state)
{
    kw_dns_server s[8];
    kw_diag d = {""};
    size_t n = zone_servers(s, 8);
    const char *a = "value-for-the-name", *b = "value-for-the-wildcard";

    (void)state;
    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, NAME, a, 60,
                                       3000, &d), 0);
    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, NAME, b, 60,
                                       3000, &d), 0);
    /* Either value is found among the two records. */
    assert_int_equal(kw_dns_txt_wait(s, n, NAME, a, 10000, 50, &d), 0);
    assert_int_equal(kw_dns_txt_wait(s, n, NAME, b, 10000, 50, &d), 0);
    /* Deleting a removes a only. */
    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 0, NAME, a, 0,
                                       3000, &d), 0);
    assert_int_equal(kw_dns_txt_wait(s, 1, NAME, b, 10000, 50, &d), 0);
    assert_int_equal(kw_dns_txt_wait(s, 1, NAME, a, 300, 50, &d),
                     KW_ETIMEDOUT);
    contains(d.msg, "value-for-the-wildcard");
    /* value NULL: every TXT at the name. */
    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 0, NAME, NULL,
                                       0, 3000, &d), 0);
    if (kw_dns_txt_wait(s, n, NAME, NULL, 10000, 50, &d) != 0)
        fail_msg("%s", d.msg);
}

static void large_value_goes_over_tcp(void **state)
{
    kw_dns_server s[8];
    kw_diag d = {""};
    size_t n = zone_servers(s, 8), i;
    char v[1201];
    const char *name = "sel._domainkey.example.com";

    (void)state;
    /* A DKIM-sized value: three 255-octet strings and more, an update of
     * over 512 octets, so over TCP. */
    for (i = 0; i < sizeof(v) - 1; i++)
        v[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[i % 36];
    v[sizeof(v) - 1] = '\0';
    memcpy(v, "v=DKIM1; k=rsa; p=", 18);
    if (kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, name, v, 300, 3000, &d))
        fail_msg("%s", d.msg);
    if (kw_dns_txt_wait(s, n, name, v, 10000, 50, &d) != 0)
        fail_msg("%s", d.msg);
    if (kw_dns_txt_update(&g_srv, ZONE, &g_key, 0, name, v, 0, 3000, &d))
        fail_msg("%s", d.msg);
    if (kw_dns_txt_wait(s, n, name, NULL, 10000, 50, &d) != 0)
        fail_msg("%s", d.msg);
}

static void wrong_secret_is_notauth(void **state)
{
    kw_dns_tsig k = g_key;
    kw_diag d = {""};
    char secret[64];
    int rc;

    (void)state;
    random_secret(secret, sizeof(secret));
    k.secret = secret;
    rc = kw_dns_txt_update(&g_srv, ZONE, &k, 1, NAME, "x", 60, 3000, &d);
    fprintf(stderr, "# %s\n", d.msg);
    assert_int_equal(rc, KW_EACCES);
    contains(d.msg, "NOTAUTH");
    contains(d.msg, "the TSIG key was not accepted");
    contains(d.msg, "BADSIG");
    contains(d.msg, NAME);
    contains(d.msg, "zone " ZONE);
    contains(d.msg, "127.0.0.1:");
    contains(d.msg, g_primary.key_name);
}

static void unknown_key_is_notauth(void **state)
{
    kw_dns_tsig k = g_key;
    kw_diag d = {""};
    int rc;

    (void)state;
    k.name = "no-such-key";
    rc = kw_dns_txt_update(&g_srv, ZONE, &k, 1, NAME, "x", 60, 3000, &d);
    fprintf(stderr, "# %s\n", d.msg);
    assert_int_equal(rc, KW_EACCES);
    contains(d.msg, "the TSIG key was not accepted");
    contains(d.msg, "BADKEY");
}

static void no_tsig_is_denied(void **state)
{
    kw_diag d = {""};
    int rc;

    (void)state;
    rc = kw_dns_txt_update(&g_srv, ZONE, NULL, 1, NAME, "x", 60, 3000, &d);
    fprintf(stderr, "# %s\n", d.msg);
    assert_int_equal(rc, KW_EACCES);
    /* BIND says REFUSED; Knot 3.2 says NOTAUTH (its acl check fails).
     * Either way the words point at the acl. */
    if (strstr(d.msg, "REFUSED") != NULL)
        contains(d.msg, "the server refuses updates from us (check its "
                 "acl)");
    else
        contains(d.msg, "NOTAUTH (the server wants a TSIG key for updates "
                 "(check its acl)");
    contains(d.msg, "127.0.0.1:");
    contains(d.msg, NAME);
    contains(d.msg, ZONE);
}

static void other_zone_is_notauth_or_notzone(void **state)
{
    kw_diag d = {""};
    int rc;

    (void)state;
    /* A zone this server does not have. */
    rc = kw_dns_txt_update(&g_srv, "example.org", &g_key, 1,
                           "_acme-challenge.example.org", "x", 60, 3000, &d);
    fprintf(stderr, "# %s\n", d.msg);
    assert_true(rc == KW_EACCES || rc == KW_ENOTFOUND);
    contains(d.msg, "example.org");
}

static void silent_server_times_out(void **state)
{
    kw_diag d = {""};
    kw_dns_server hole, s[3];
    char who[96];
    int port, fd, rc;
    int64_t t0;

    (void)state;
    /* UDP: the datagrams go nowhere. */
    fd = black_hole(SOCK_DGRAM, &port);
    hole = server("127.0.0.1", port);
    kw_dns_server_str(&hole, who, sizeof(who));
    t0 = ms();
    rc = kw_dns_txt_update(&hole, ZONE, &g_key, 1, NAME, "x", 60, 800, &d);
    fprintf(stderr, "# after %lld ms: %s\n", (long long)(ms() - t0), d.msg);
    assert_int_equal(rc, KW_ETIMEDOUT);
    assert_true(ms() - t0 >= 750 && ms() - t0 < 1500);
    contains(d.msg, who);
    contains(d.msg, "no answer within");
    contains(d.msg, ZONE);

    /* Polling: the silent server is named, the good one is not. */
    s[0] = g_srv;
    s[1] = hole;
    t0 = ms();
    rc = kw_dns_txt_wait(s, 2, "example.com", NULL, 700, 100, &d);
    fprintf(stderr, "# after %lld ms: %s\n", (long long)(ms() - t0), d.msg);
    assert_int_equal(rc, KW_ETIMEDOUT);
    assert_true(ms() - t0 < 1500);
    contains(d.msg, "1 of 2 servers");
    contains(d.msg, who);
    contains(d.msg, "did not answer");

    t0 = ms();
    {
        char zone[256];

        rc = kw_dns_find_zone(&hole, NAME, zone, sizeof(zone), 500, &d);
    }
    assert_int_equal(rc, KW_ETIMEDOUT);
    assert_true(ms() - t0 < 1200);
    contains(d.msg, who);
    close(fd);

    /* TCP: the connection is accepted by the kernel, nobody answers.  An
     * update over 512 octets goes over TCP. */
    fd = black_hole(SOCK_STREAM, &port);
    hole = server("127.0.0.1", port);
    kw_dns_server_str(&hole, who, sizeof(who));
    {
        char v[700];

        memset(v, 'a', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        t0 = ms();
        rc = kw_dns_txt_update(&hole, ZONE, &g_key, 1, NAME, v, 60, 600, &d);
    }
    fprintf(stderr, "# after %lld ms: %s\n", (long long)(ms() - t0), d.msg);
    assert_int_equal(rc, KW_ETIMEDOUT);
    assert_true(ms() - t0 >= 550 && ms() - t0 < 1300);
    contains(d.msg, who);
    contains(d.msg, "TCP");
    close(fd);
}

static void nobody_listening_is_refused_at_once(void **state)
{
    kw_diag d = {""};
    kw_dns_server s;
    int fd, port, rc;
    int64_t t0;

    (void)state;
    fd = black_hole(SOCK_DGRAM, &port);
    close(fd); /* now nothing listens there */
    s = server("127.0.0.1", port);
    t0 = ms();
    rc = kw_dns_txt_update(&s, ZONE, &g_key, 1, NAME, "x", 60, 3000, &d);
    fprintf(stderr, "# after %lld ms: %s\n", (long long)(ms() - t0), d.msg);
    assert_int_equal(rc, -ECONNREFUSED);
    assert_true(ms() - t0 < 1000);
    contains(d.msg, "nothing listens");
}

/* A fake server: answers each UDP query once, as mode says. */
enum { FAKE_UNSIGNED, FAKE_WRONG_ID, FAKE_BAD_MAC };
typedef struct fake {
    int fd, mode;
} fake;

static void *fake_serve(void *arg)
{
    fake *f = arg;
    uint8_t q[4096];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(f->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
                         &fl);
    size_t pos = 12;

    if (n < 12)
        return NULL;
    q[2] |= 0x80;             /* QR */
    q[3] &= 0xf0;             /* NOERROR */
    if (f->mode == FAKE_WRONG_ID)
        q[1] ^= 0x5a;
    if (f->mode == FAKE_BAD_MAC) {
        /* Echo the whole signed update back as its "answer": the TSIG is
         * there but cannot verify as a response to it. */
        sendto(f->fd, q, (size_t)n, 0, (struct sockaddr *)&from, fl);
        return NULL;
    }
    /* Header and zone section only, unsigned. */
    while (pos < (size_t)n && q[pos] != 0)
        pos += (size_t)q[pos] + 1;
    pos += 5;
    memset(q + 6, 0, 6);      /* AN, NS, AR counts */
    sendto(f->fd, q, pos, 0, (struct sockaddr *)&from, fl);
    return NULL;
}

static int fake_update(int mode, int timeout_ms, kw_diag *d)
{
    pthread_t th;
    fake f;
    kw_dns_server s;
    int port, rc;

    f.fd = black_hole(SOCK_DGRAM, &port);
    f.mode = mode;
    s = server("127.0.0.1", port);
    assert_int_equal(pthread_create(&th, NULL, fake_serve, &f), 0);
    rc = kw_dns_txt_update(&s, ZONE, &g_key, 1, NAME, "x", 60, timeout_ms,
                           d);
    pthread_join(th, NULL);
    close(f.fd);
    fprintf(stderr, "# %s\n", d->msg);
    return rc;
}

static void untrusted_answers(void **state)
{
    kw_diag d = {""};

    (void)state;
    /* NOERROR without a signature is not a success. */
    assert_int_equal(fake_update(FAKE_UNSIGNED, 2000, &d), KW_ECRYPTO);
    contains(d.msg, "not signed");
    /* Nor with a signature that does not verify. */
    assert_int_equal(fake_update(FAKE_BAD_MAC, 2000, &d), KW_ECRYPTO);
    contains(d.msg, "TSIG");
    /* An answer with another ID is not ours: still waiting, then timeout. */
    assert_int_equal(fake_update(FAKE_WRONG_ID, 700, &d), KW_ETIMEDOUT);
}

static void find_zone(void **state)
{
    kw_diag d = {""};
    char zone[256], small[5];
    int rc;

    (void)state;
    rc = kw_dns_find_zone(&g_srv, "_acme-challenge.a.b.example.com", zone,
                          sizeof(zone), 3000, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    assert_string_equal(zone, "example.com");
    rc = kw_dns_find_zone(&g_srv, "WWW.Example.COM.", zone, sizeof(zone),
                          3000, &d);
    assert_int_equal(rc, 0);
    assert_string_equal(zone, "example.com");
    rc = kw_dns_find_zone(&g_srv, "example.com", small, sizeof(small), 3000,
                          &d);
    assert_int_equal(rc, KW_ETOOBIG);
    rc = kw_dns_find_zone(&g_srv, "www.example.org", zone, sizeof(zone), 3000,
                          &d);
    fprintf(stderr, "# %s\n", d.msg);
    assert_int_equal(rc, KW_ENOTFOUND);
    contains(d.msg, "www.example.org");
    assert_string_equal(zone, "");
}

/*
 * The secondary stopped (SIGSTOP): the primary has the value, the
 * secondary does not, and kw_dns_txt_wait keeps waiting, naming it.  Once
 * it runs again it gets the NOTIFY, transfers, and the wait succeeds.
 */
static void waits_for_every_server(void **state)
{
    kw_dns_server s[8];
    kw_diag d = {""};
    size_t n = zone_servers(s, 8);
    const char *v = "both-servers-or-nothing";
    char who2[96];
    uint32_t serial = 0;
    int64_t t0;
    int rc;

    (void)state;
    assert_int_equal(n, 2);
    assert_int_equal(kill(g_secondary.pid, SIGSTOP), 0);
    rc = kw_dns_txt_update(&g_srv, ZONE, &g_key, 1, NAME, v, 60, 3000, &d);
    if (rc != 0) {
        kill(g_secondary.pid, SIGCONT);
        fail_msg("%s", d.msg);
    }
    t0 = ms();
    rc = kw_dns_txt_wait(s, n, NAME, v, 1500, 100, &d);
    fprintf(stderr, "# secondary stopped, after %lld ms: %s\n",
            (long long)(ms() - t0), d.msg);
    kill(g_secondary.pid, SIGCONT);
    assert_int_equal(rc, KW_ETIMEDOUT);
    {
        kw_dns_server sec = server("127.0.0.2", g_primary.port);

        kw_dns_server_str(&sec, who2, sizeof(who2));
    }
    contains(d.msg, "1 of 2 servers");
    contains(d.msg, who2);
    contains(d.msg, "did not answer");
    /* The primary alone has it. */
    assert_int_equal(kw_dns_txt_wait(&g_srv, 1, NAME, v, 1000, 50, &d), 0);

    t0 = ms();
    rc = kw_dns_txt_wait(s, n, NAME, v, 15000, 100, &d);
    if (rc != 0)
        fail_msg("%s", d.msg);
    fprintf(stderr, "# secondary resumed: both serve it after %lld ms\n",
            (long long)(ms() - t0));
    assert_int_equal(kn_soa_serial(g_primary.addr, g_primary.port, ZONE,
                                   1000, &serial), 0);
    assert_int_equal(kn_wait_serial("127.0.0.2", g_primary.port, ZONE,
                                    serial, 1000), 0);

    assert_int_equal(kw_dns_txt_update(&g_srv, ZONE, &g_key, 0, NAME, NULL,
                                       0, 3000, &d), 0);
    if (kw_dns_txt_wait(s, n, NAME, NULL, 10000, 50, &d) != 0)
        fail_msg("%s", d.msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(servers_from_ns_records),
        cmocka_unit_test(add_wait_delete),
        cmocka_unit_test(delete_one_value_or_all),
        cmocka_unit_test(large_value_goes_over_tcp),
        cmocka_unit_test(wrong_secret_is_notauth),
        cmocka_unit_test(unknown_key_is_notauth),
        cmocka_unit_test(no_tsig_is_denied),
        cmocka_unit_test(other_zone_is_notauth_or_notzone),
        cmocka_unit_test(silent_server_times_out),
        cmocka_unit_test(nobody_listening_is_refused_at_once),
        cmocka_unit_test(untrusted_answers),
        cmocka_unit_test(find_zone),
        cmocka_unit_test(waits_for_every_server),
    };

    return cmocka_run_group_tests(tests, group_setup_or_clean,
                                  group_teardown);
}
