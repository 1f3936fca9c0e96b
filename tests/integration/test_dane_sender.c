/*
 * test_dane_sender.c: the DANE key rollover as a DANE-validating sender
 * sees it (issue 16).  A receiving Postfix on 127.0.0.1:25 is the MX of
 * example.com (mx.example.com), serving the certificate keywarden
 * manages from Pebble, with dane = 3 1 1 in a zone Knot signs
 * (dane_bed.h); a second Postfix is a sender with
 * smtp_dns_support_level = dnssec and smtp_tls_security_level = dane,
 * resolving through a validating unbound (dnssec_bed.h) that has the
 * zone's KSK as its trust anchor.  Messages are submitted to the sender
 * without pause while keywarden renews the receiver's certificate with
 * a new key, the hook reloading the receiver: every message must reach
 * the receiver (its log names each Message-ID), the sender must log no
 * deferral and end with an empty queue, and every delivery must be a
 * DANE-verified TLS connection.  Then the negative control, on the same
 * servers: the certificate without dane = (a renewal tool that knows
 * nothing of DNS) renews onto a fresh key no TLSA record names, and the
 * sender must defer ("Server certificate not verified").
 *
 * Postfix asks the system resolver, so the test runs in a network and
 * mount namespace of its own (root only; skipped with a message
 * otherwise): its loopback up, unbound on 127.0.0.1:53 and a private
 * /etc/resolv.conf bind-mounted over the real one, naming it with
 * `options trust-ad` (without it glibc 2.36 clears the AD bit and
 * Postfix takes every answer for insecure).
 *
 * Two clocks.  On the real clock (dane_ttl = 2, the zone's negative TTL
 * 2 s) keywarden serve runs the rollover by itself: the dane-roll job
 * announces the next key, waits 2 x TTL + negative TTL, probes the
 * deployment, holds one TTL, removes the old record and announces the
 * next; the test forces each renewal once the rollover is ready (the
 * daemon renews only due certificates, and never one issued less than a
 * day ago), with serve stopped meanwhile.  There the job's own spacing
 * (10 s) outlasts every cached answer, so the wait itself cannot be
 * seen.  On the lapse clock (dane_ttl = 60, the real resolver keeping
 * nothing longer than 10 s) keywarden's time runs LAPSE times faster
 * than the real one while the test waits and stands still while
 * keywarden runs (KEYWARDEN_NOW given to every run): each wait lasts at
 * least 12 real seconds, longer than any cached answer, the job's
 * spacing one real second; the daemon is started, pinned, at each time
 * it planned.  A rollover that deployed without its wait fails there
 * (seen: 11 messages deferred with the wait removed from dane_roll.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "dane_bed.h"
#include "dns/dns_raw.h"
#include "dnssec_bed.h"
#include "kwrun.h"
#include "proc.h"
#include "servers.h"
#include "testpki.h"
#include "tmpdir.h"

#define ZONE "example.com"
#define MX "mx." ZONE
#define OWNER "_25._tcp." MX
#define RT_TTL 2        /* dane_ttl on the real clock */
#define LAPSE_TTL 60    /* dane_ttl on the lapse clock */
#define NEG_TTL 2       /* the zone's negative TTL */
#define LAPSE 10        /* the lapse clock runs this much faster */
#define CYCLES 2        /* keyed renewals under traffic, on each clock */
#define PACE_MS 100     /* between two submitted messages */

static int g_ns;        /* the private namespaces are there */
static const char *g_why = "";
static dane_bed g_bed;
static char g_dir[700], g_state[800], g_conf[800], g_db[900];
static char g_rdir[800], g_sdir[800], g_rlog[900], g_slog[900];
static char g_live_cert[900], g_live_key[900], g_live_chain[900];
static pid_t g_rpid, g_spid, g_serve;
static char g_serve_log[900];
static int g_sport;
static double g_t0;     /* mono() at the lapse clock's start */
static int64_t g_v0;    /* keywarden's time then */

/* ----- the private namespaces ---------------------------------------- */

/* A network namespace with only lo (up), and a mount namespace in which
 * /etc/resolv.conf is ours.  -1 with g_why when the kernel or the user
 * may not. */
static int private_net(const char *resolv)
{
    struct ifreq ifr;
    int fd;

    if (geteuid() != 0) {
        g_why = "not root";
        return -1;
    }
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        g_why = "unshare(CLONE_NEWNET | CLONE_NEWNS) refused";
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
    close(fd);
    /* The sender's own address (Postfix looks for it among the
     * interfaces' addresses). */
    {
        char *argv[] = { (char *)"/usr/sbin/ip", (char *)"addr",
                         (char *)"add", (char *)"127.0.0.2/32",
                         (char *)"dev", (char *)"lo", NULL };

        assert_int_equal(bed_run(argv, NULL), 0);
    }
    /* Our mounts stay ours: nothing propagates back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0) {
        g_why = "cannot bind-mount /etc/resolv.conf";
        return -1;
    }
    return 0;
}

/* ----- keywarden ------------------------------------------------------- */

/* keywarden ARGS... on the real clock. */
static kwres kw_real(const char **args)
{
    unsetenv("KEYWARDEN_NOW");
    return kw_argv(g_state, g_conf, args);
}

#define KW(...) kw_real((const char *[]){__VA_ARGS__, NULL})

/* On the lapse clock: keywarden's time runs LAPSE times faster than the
 * real one while the test waits, and stands still while keywarden runs
 * (each run is pinned at its start by KEYWARDEN_NOW). */
static int64_t vnow(void)
{
    return g_v0 + (int64_t)((mono() - g_t0) * LAPSE);
}

/* keywarden's clock stands still while keywarden runs (each run is
 * pinned at its start): a slow run on a loaded machine never shortens
 * the real time its waits last.  since: mono() when the run began. */
static void clock_hold(double since)
{
    g_t0 += mono() - since;
}

/* keywarden ARGS... pinned at the lapse clock's present. */
static kwres kw_at(const char **args)
{
    char v[32];
    double t = mono();
    kwres r;

    snprintf(v, sizeof(v), "%lld", (long long)vnow());
    setenv("KEYWARDEN_NOW", v, 1);
    r = kw_argv(g_state, g_conf, args);
    clock_hold(t);
    return r;
}

#define KWV(...) kw_at((const char *[]){__VA_ARGS__, NULL})

/* Drops the lines that start with "dane" from a [certificate] text: the
 * same certificate for a tool that knows nothing of DNS. */
static void strip_dane(char *text)
{
    char *p = text;

    while (*p != '\0') {
        char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) + 1 : strlen(p);

        if (strncmp(p, "dane", 4) == 0)
            memmove(p, p + n, strlen(p + n) + 1);
        else
            p += n;
    }
}

/* The configuration: the certificate mx (with dane = 3 1 1 when dane),
 * with the hook reloading the receiver when hook is set. */
static void write_conf(int dane, int ttl, int hook)
{
    char cert[2048], text[4096];

    assert_int_equal(dane_bed_cert(&g_bed, "mx", MX, ttl, NULL, cert,
                                   sizeof(cert)),
                     0);
    if (!dane)
        strip_dane(cert);
    snprintf(text, sizeof(text),
             "[daemon]\nmetrics_listen = off\n\n%s\n"
             "[dane]\nresolver = 127.0.0.1:53\ntimeout = 5s\n%s%s%s",
             cert,
             hook ? "\n[hook \"mx-postfix\"]\non = cert.renewed\n"
                    "reload = postfix\ncoalesce = 0s\nconfig = "
                  : "",
             hook ? g_rdir : "", hook ? "/postfix/etc\n" : "");
    assert_int_equal(dane_bed_conf(&g_bed, g_conf, text), 0);
}

/* The TLSA 3 1 1 record of the live certificate's key. */
static void live_tlsa(char *buf, size_t cap)
{
    FILE *f = fopen(g_live_cert, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    tp_tlsa_spki(x, 3, buf, cap);
    X509_free(x);
}

/* Does an authoritative server serve rdata at OWNER? */
static int tlsa_served(const char *rdata)
{
    char status[300];

    return kw_dns_tlsa_look(&g_bed.servers[0], OWNER, rdata, 1, 3000,
                            status, sizeof(status)) == 1;
}

/* Does the sender's resolver (unbound on port 53, its cache as it is)
 * answer OWNER's TLSA set as secure (AD) with rdata among it? */
static int resolver_has(void *rdata)
{
    kw_dns_server ub = { "127.0.0.1", 53 };
    kw_diag d = {{0}};
    uint8_t *w = NULL;
    size_t len = 0, i;
    ldns_pkt *p = NULL;
    const char *hex = strrchr(rdata, ' ') + 1;
    int found = 0;

    if (kw_dns_ask_wire(&ub, OWNER, LDNS_RR_TYPE_TLSA,
                        KW_DNS_Q_RD | KW_DNS_Q_DO, 3000, &w, &len, &d) != 0)
        return 0;
    if (ldns_wire2pkt(&p, w, len) == LDNS_STATUS_OK && ldns_pkt_ad(p))
        for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
            char *t = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p), i));

            found |= t != NULL && strcasestr(t, hex) != NULL;
            free(t);
        }
    ldns_pkt_free(p);
    free(w);
    return found;
}

/* One forced renewal (pinned at the lapse clock's present when lapse);
 * returns its exit code, its words in out (cap). */
static int renew(int lapse, char *out, size_t cap)
{
    kwres r = lapse ? KWV("renew", "--force", "mx")
                    : KW("renew", "--force", "mx");
    int rc = r.status;

    snprintf(out, cap, "%s%s", r.out, r.err);
    kwres_free(&r);
    return rc;
}

/* The certificate's newest rollover row. */
typedef struct roll_row {
    int64_t id, wait_until;
    char stage[32], tlsa[160], stopped[600];
} roll_row;

/* 1 with the row in r, 0 when there is none yet. */
static int roll_read(roll_row *r)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    int found = 0;

    memset(r, 0, sizeof(*r));
    if (access(g_db, F_OK) != 0)
        return 0;
    assert_int_equal(sqlite3_open_v2(g_db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    if (sqlite3_prepare_v2(h, "SELECT id, wait_until, stage, tlsa, stopped "
                              "FROM dane_rollovers WHERE cert = 'mx' "
                              "ORDER BY id DESC LIMIT 1",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        r->id = sqlite3_column_int64(q, 0);
        r->wait_until = sqlite3_column_int64(q, 1);
        snprintf(r->stage, sizeof(r->stage), "%s",
                 (const char *)sqlite3_column_text(q, 2));
        snprintf(r->tlsa, sizeof(r->tlsa), "%s",
                 (const char *)sqlite3_column_text(q, 3));
        /* As tp_tlsa_spki writes it: lower-case hex. */
        for (char *c = r->tlsa; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        snprintf(r->stopped, sizeof(r->stopped), "%s",
                 (const char *)sqlite3_column_text(q, 4));
        found = 1;
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
    return found;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };

    nanosleep(&ts, NULL);
}

/* `run-job dane-roll:mx` (the daemon's clock as the environment has it)
 * once serve's control socket answers: after a forced renewal, as serve's
 * own renewal pulls the job forward after issuing (job_renew.c). */
static void nudge_roll(void)
{
    double until = mono() + 30;

    for (;;) {
        kwres r = kw(g_state, g_conf, "run-job", "dane-roll:mx");
        int ok = r.status == 0;

        if (!ok && mono() > until)
            fail_msg("run-job dane-roll:mx: %s%s", r.out, r.err);
        kwres_free(&r);
        if (ok)
            return;
        nap_ms(100);
    }
}

/* keywarden serve on the real clock, its output in the serve log.
 * nudge: nudge_roll() (the test's renewals are forced through the CLI,
 * serve stopped). */
static void serve_start(int nudge)
{
    char *argv[] = { (char *)KEYWARDEN_BIN, (char *)"--state-dir", g_state,
                     (char *)"--config", g_conf, (char *)"--log-level",
                     (char *)"info", (char *)"serve", NULL };

    unsetenv("KEYWARDEN_NOW");
    g_serve = proc_spawn_log(argv, g_serve_log);
    assert_true(g_serve > 0);
    if (nudge)
        nudge_roll();
}

/* Waits (bounded) until the rollover is READY for a key that is not the
 * live one (live): serve's dane-roll job got there on its own (the
 * probe of the last deployment, the hold, the old record's removal, the
 * next key announced and waited for).  The announced record into
 * announced. */
/* The last lines of path on stderr, for a failure's reader (CI keeps
 * only the test's output). */
static void tail_file(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    static char ring[40][512];
    int n = 0;

    if (lines > 40)
        lines = 40;
    if (f == NULL) {
        fprintf(stderr, "(%s: cannot open)\n", path);
        return;
    }
    while (fgets(ring[n % lines], sizeof(ring[0]), f) != NULL)
        n++;
    fclose(f);
    fprintf(stderr, "--- the last %d lines of %s ---\n",
            n < lines ? n : lines, path);
    for (int i = n < lines ? 0 : n - lines; i < n; i++)
        fputs(ring[i % lines], stderr);
    fprintf(stderr, "--- end of %s ---\n", path);
}

/* What a reader needs when the rollover did not get somewhere: serve's
 * log and the receiving Postfix's. */
static void dump_logs(void)
{
    tail_file(g_serve_log, 30);
    tail_file(g_rlog, 40);
}

static void await_ready(const char *live, char *announced, size_t cap)
{
    /* 90 s for the cycle, and one more minute for a probe the product
     * retried (a probe that failed is retried after 1 minute: correct
     * behaviour, which a loaded CI machine can cause). */
    double until = mono() + 150;
    roll_row r;

    for (;;) {
        int found = roll_read(&r);

        if (found && strcmp(r.stage, "ready") == 0 &&
            strcmp(r.tlsa, live) != 0)
            break;
        if (mono() > until) {
            dump_logs();
            fail_msg("the rollover is not ready for a new key after 150 s: "
                     "stage %s%s%s (see %s)", found ? r.stage : "(none)",
                     r.stopped[0] != '\0' ? ", stopped: " : "", r.stopped,
                     g_serve_log);
        }
        nap_ms(100);
    }
    snprintf(announced, cap, "%s", r.tlsa);
}

/* The dane-roll job's next run (keywarden's time), or 0 when the daemon
 * has not planned it yet. */
static int64_t job_next(void)
{
    int64_t t = db_int(g_db, "SELECT next_at FROM jobs WHERE type = "
                             "'dane-roll' AND key = 'mx' AND state = "
                             "'pending'");

    return t > 0 ? t : 0;
}

/* The daemon for one moment of keywarden's clock: serve pinned at the
 * lapse clock's present, left to run what is due (the dane-roll job,
 * planned due at once on the first start), until that job ran and is
 * planned past the present; then stopped.  nudge: nudge_roll() first
 * (the test's renewals are forced through the CLI). */
static void daemon_moment(int nudge)
{
    char now[32], sql[300];
    int64_t p = vnow();
    double t = mono();

    snprintf(now, sizeof(now), "%lld", (long long)p);
    g_serve = kw_serve_start(g_state, g_conf, now, NULL, g_serve_log);
    if (nudge)
        nudge_roll();
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM jobs WHERE type = 'dane-roll' AND key = "
             "'mx' AND state = 'pending' AND updated_at >= %lld AND "
             "next_at > %lld", (long long)p, (long long)p);
    kw_await_sql(g_db, sql, 60000, g_serve_log);
    kw_serve_stop(&g_serve);
    clock_hold(t);
}

/* Until the rollover is READY for a key that is not the live one
 * (live): the daemon's dane-roll job runs the steps (the announcement,
 * the probe of the deployment, the hold, the removal of the old record,
 * the next announcement) unattended; the test only lets keywarden's
 * clock reach each time the daemon planned, then starts it there
 * (daemon_moment).  nudge: the first start runs the job at once (after a
 * forced renewal).  Bounded; returns the daemon's runs. */
static int await_ready_lapse(const char *live, int nudge)
{
    double until = mono() + 120;
    int runs = 0;

    for (;;) {
        roll_row r;
        int found = roll_read(&r);
        int64_t next = job_next();

        if (found && strcmp(r.stage, "ready") == 0 &&
            strcmp(r.tlsa, live) != 0)
            return runs;
        if (mono() > until)
            fail_msg("the rollover is not ready for a new key after 120 s: "
                     "stage %s%s%s (see %s)", found ? r.stage : "(none)",
                     r.stopped[0] != '\0' ? ", stopped: " : "", r.stopped,
                     g_serve_log);
        if (!nudge && next > vnow()) {
            nap_ms(50);
            continue;
        }
        daemon_moment(nudge);
        nudge = 0;
        runs++;
    }
}

/* One keyed renewal: READY for a new key, then the forced renewal
 * deploys exactly the announced key (the hook reloads the receiver).
 * The announced record in announced. */
static int keyed_renewal(const char *live, int nudge, char *announced,
                         size_t cap)
{
    char out[8192], now[160];
    roll_row r;
    int runs = await_ready_lapse(live, nudge);

    assert_int_equal(roll_read(&r), 1);
    snprintf(announced, cap, "%s", r.tlsa);
    if (renew(1, out, sizeof(out)) != 0 || strstr(out, "mx: issued") == NULL)
        fail_msg("the renewal of a ready rollover did not deploy: %s", out);
    live_tlsa(now, sizeof(now));
    assert_string_equal(now, announced);
    return runs;
}

/* ----- the message stream ----------------------------------------------- */

typedef struct stream {
    int port;
    char tag[16];
    atomic_int stop;
    atomic_int sent;   /* accepted by the sender (250 after DATA) */
    char err[300];
    pthread_t th;
} stream;

/* One reply (its last line's code), the lines read into buf. */
static int reply(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        ssize_t k;
        char *line;

        if (n + 1 >= cap)
            return -1;
        k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0)
            return -1;
        n += (size_t)k;
        buf[n] = '\0';
        /* The last complete line: "NNN " ends the reply. */
        line = buf;
        for (;;) {
            char *eol = strstr(line, "\r\n");

            if (eol == NULL)
                break;
            if (eol - line >= 4 && line[3] == ' ')
                return atoi(line);
            line = eol + 2;
        }
    }
}

static int say(int fd, const char *text)
{
    size_t n = strlen(text);

    return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* One SMTP exchange: text sent, the reply's code wanted. */
static int xchg(stream *s, int fd, const char *text, int want)
{
    char buf[2048];
    int code;

    if (text != NULL && say(fd, text) != 0) {
        snprintf(s->err, sizeof(s->err), "send: %s", strerror(errno));
        return -1;
    }
    code = reply(fd, buf, sizeof(buf));
    if (code != want) {
        snprintf(s->err, sizeof(s->err), "after %.40s: %.200s",
                 text != NULL ? text : "connect", buf);
        return -1;
    }
    return 0;
}

static void *stream_run(void *arg)
{
    stream *s = arg;
    struct sockaddr_in a;
    struct timeval tv = { 10, 0 };
    char msg[600];
    int fd;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        snprintf(s->err, sizeof(s->err), "connect: %s", strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (xchg(s, fd, NULL, 220) != 0 ||
        xchg(s, fd, "HELO e2e.sender.example.net\r\n", 250) != 0)
        goto out;
    while (!atomic_load(&s->stop)) {
        struct timespec ts = { 0, PACE_MS * 1000 * 1000 };
        int n = atomic_load(&s->sent) + 1;

        snprintf(msg, sizeof(msg),
                 "From: <s@sender.example.net>\r\nTo: <u@" ZONE ">\r\n"
                 "Subject: %s %d\r\nMessage-ID: <%s-%d@sender.example.net>"
                 "\r\n\r\nmessage %d of the %s stream\r\n.\r\n",
                 s->tag, n, s->tag, n, n, s->tag);
        if (xchg(s, fd, "MAIL FROM:<s@sender.example.net>\r\n", 250) != 0 ||
            xchg(s, fd, "RCPT TO:<u@" ZONE ">\r\n", 250) != 0 ||
            xchg(s, fd, "DATA\r\n", 354) != 0 || xchg(s, fd, msg, 250) != 0)
            goto out;
        atomic_store(&s->sent, n);
        nanosleep(&ts, NULL);
    }
    xchg(s, fd, "QUIT\r\n", 221);
out:
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* The running stream (a failed test leaves it running). */
static stream *g_running;

static void stream_halt(void)
{
    if (g_running != NULL) {
        atomic_store(&g_running->stop, 1);
        pthread_join(g_running->th, NULL);
        g_running = NULL;
    }
}

static void stream_start(stream *s, const char *tag)
{
    stream_halt();
    memset(s, 0, sizeof(*s));
    g_running = s;
    s->port = g_sport;
    snprintf(s->tag, sizeof(s->tag), "%s", tag);
    assert_int_equal(pthread_create(&s->th, NULL, stream_run, s), 0);
}

/* Stops the stream; it must have run without an SMTP error. */
static int stream_stop(stream *s)
{
    atomic_store(&s->stop, 1);
    g_running = NULL;
    assert_int_equal(pthread_join(s->th, NULL), 0);
    if (s->err[0] != '\0')
        fail_msg("the %s stream to the sender: %s", s->tag, s->err);
    return atomic_load(&s->sent);
}

/* ----- reading the logs ------------------------------------------------- */

/* Occurrences of needle in the file at path. */
static int count_in(const char *path, const char *needle)
{
    size_t len;
    char *t = slurp(path, &len), *p;
    int n = 0;

    if (t == NULL)
        return 0;
    for (p = t; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(t);
    return n;
}

/* The messages of stream tag (1..n) whose Message-ID the receiver
 * logged. */
static int received(const char *tag, int n)
{
    size_t len;
    char *t = slurp(g_rlog, &len), id[120];
    int i, got = 0;

    if (t == NULL)
        return 0;
    for (i = 1; i <= n; i++) {
        snprintf(id, sizeof(id), "message-id=<%s-%d@sender.example.net>",
                 tag, i);
        got += strstr(t, id) != NULL;
    }
    free(t);
    return got;
}

typedef struct outcome {
    int sent, deferred, verified;
} outcome;

static outcome sender_log(void)
{
    outcome o;

    o.sent = count_in(g_slog, "status=sent");
    o.deferred = count_in(g_slog, "status=deferred");
    o.verified = count_in(g_slog, "Verified TLS connection established "
                                  "to " MX "[127.0.0.1]:25");
    return o;
}

typedef struct settle {
    int want;      /* deliveries attempted (sent + deferred) */
    outcome base;  /* the log's counts before the stream */
} settle;

static int settled(void *ctx)
{
    settle *s = ctx;
    outcome o = sender_log();

    return (o.sent - s->base.sent) + (o.deferred - s->base.deferred) >=
           s->want;
}

/* Three deferrals since the counts in ctx (an outcome): not one
 * unlucky delivery, the destination refused. */
static int deferrals_seen(void *ctx)
{
    const outcome *base = ctx;

    return sender_log().deferred >= base->deferred + 3;
}

/* Lines of `postqueue -j` (one per queued message). */
static int queued(void)
{
    char etc[900], *out = NULL, *p;
    char *argv[] = { (char *)"/usr/sbin/postqueue", (char *)"-c", etc,
                     (char *)"-j", NULL };
    int n = 0;

    snprintf(etc, sizeof(etc), "%s/postfix/etc", g_sdir);
    assert_int_equal(bed_run(argv, &out), 0);
    for (p = out; p != NULL && (p = strchr(p, '\n')) != NULL; p++)
        n++;
    free(out);
    return n;
}

/* The end of a rollover's stream (tag): stopped, every message tried by
 * the sender (bounded), the figures printed after what (the renewals);
 * then not one deferral, every message delivered by DANE-verified TLS,
 * received, and the sender's queue empty. */
static void stream_clean(stream *m, settle *s, const char *tag,
                         const char *what, double t)
{
    int n = stream_stop(m), got;
    outcome o;

    assert_true(n > 0);
    s->want = n;
    if (!proc_until(settled, s, 60000))
        fail_msg("the sender tried %d of %d messages in 60 s",
                 sender_log().sent - s->base.sent, n);
    got = received(tag, n);
    o = sender_log();
    print_message("%s, %d messages submitted, %d delivered (%d by "
                  "DANE-verified TLS), %d deferred, %d received, %.1f s\n",
                  what, n, o.sent - s->base.sent,
                  o.verified - s->base.verified,
                  o.deferred - s->base.deferred, got, mono() - t);
    assert_int_equal(o.deferred - s->base.deferred, 0);
    assert_int_equal(o.sent - s->base.sent, n);
    assert_true(o.verified - s->base.verified >= n);
    assert_int_equal(got, n);
    assert_int_equal(queued(), 0);
}

/* keywarden dane check of the MX through the sender's resolver: its
 * exit code (0 ok, 2 critical), its words in out. */
static int dane_check(char *out, size_t cap)
{
    char server[64];
    kwres r;
    int rc;

    snprintf(server, sizeof(server), "127.0.0.1:%d", g_bed.port);
    r = KW("dane", "check", "--resolver", "127.0.0.1:53", "--server", server,
           MX);
    rc = r.status;
    snprintf(out, cap, "%s%s", r.out, r.err);
    kwres_free(&r);
    return rc;
}

/* ----- setup ------------------------------------------------------------ */

static int setup(void **st)
{
    char resolv[800], bdir[800];
    dane_bed_opts o;
    const char *skip = NULL;

    (void)st;
    if (access("/usr/sbin/postfix", X_OK) != 0 ||
        access("/usr/bin/pebble", X_OK) != 0) {
        g_why = "Postfix or Pebble not installed (tests/deps.sh)";
        return 0;
    }
    if (bed_init("dane_sender") != 0)
        return -1;
    snprintf(g_dir, sizeof(g_dir), "%s", bed.dir);
    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", g_dir);
    bed_put_text(resolv, "nameserver 127.0.0.1\noptions trust-ad\n");
    if (private_net(resolv) != 0) {
        fprintf(stderr, "test_dane_sender: skipped: %s (the test needs "
                        "root and private network and mount namespaces "
                        "for port 53 and its own /etc/resolv.conf)\n",
                g_why);
        return 0;
    }
    g_ns = 1;
    snprintf(bdir, sizeof(bdir), "%s/dane", g_dir);
    memset(&o, 0, sizeof(o));
    o.zone = ZONE;
    o.records = "@ MX 10 mx\nmx A 127.0.0.1\nwww A 127.0.0.1\n";
    o.sign = 1;
    o.neg_ttl = NEG_TTL;
    assert_int_equal(dane_bed_start(bdir, &o, &g_bed), 0);
    /* The validating resolver the sender asks, on port 53. */
    bed.port = g_bed.port;
    bed.ub_zone = ZONE ".";
    bed.ub_port = 53;
    bed_start_unbound();

    snprintf(g_state, sizeof(g_state), "%s/state", g_dir);
    snprintf(g_conf, sizeof(g_conf), "%s/keywarden.conf", g_dir);
    snprintf(g_db, sizeof(g_db), "%s/keywarden.db", g_state);
    snprintf(g_serve_log, sizeof(g_serve_log), "%s/serve.log", g_dir);
    snprintf(g_rdir, sizeof(g_rdir), "%s/receiver", g_dir);
    snprintf(g_sdir, sizeof(g_sdir), "%s/sender", g_dir);
    snprintf(g_rlog, sizeof(g_rlog), "%s/postfix/postfix.out", g_rdir);
    snprintf(g_slog, sizeof(g_slog), "%s/postfix/postfix.out", g_sdir);
    tp_mkdirs(g_rdir);
    tp_mkdirs(g_sdir);
    /* Postfix's unprivileged processes pass through to their data. */
    assert_int_equal(chmod(g_dir, 0711), 0);

    /* The MX's first certificate, before any DANE: keywarden's dane =
     * then announces the next key beside this one. */
    write_conf(0, RT_TTL, 0);
    {
        kwres r = KW("renew", "mx");

        assert_int_equal(r.status, 0);
        kwres_free(&r);
    }
    snprintf(g_live_cert, sizeof(g_live_cert), "%s/certs/live/mx/cert.pem",
             g_state);
    snprintf(g_live_key, sizeof(g_live_key), "%s/certs/live/mx/privkey.pem",
             g_state);
    snprintf(g_live_chain, sizeof(g_live_chain),
             "%s/certs/live/mx/fullchain.pem", g_state);
    if (access(g_live_cert, R_OK) != 0)
        fail_msg("no live certificate at %s", g_live_cert);
    g_rpid = postfix_start(g_rdir, 25, g_live_chain, g_live_key,
                           "myhostname = " MX "\n"
                           "mydestination = " ZONE "\n"
                           "local_recipient_maps =\nalias_maps =\n"
                           "alias_database =\n"
                           "local_transport = discard:\n"
                           "smtpd_tls_loglevel = 1\n"
                           /* No client name lookup before the greeting:
                            * keywarden's probe waits 10 s for it, and a
                            * slow answer of the test's own resolver
                            * under load must not read as a missed
                            * reload. */
                           "smtpd_peername_lookup = no\n",
                           &skip);
    if (g_rpid == 0) {
        g_ns = 0;
        g_why = skip;
        return 0;
    }
    assert_true(g_rpid > 0);
    g_sport = free_port();
    /* The sender: its own address is 127.0.0.2, so the MX's 127.0.0.1 is
     * not "myself" (Postfix would refuse a loop); a new TLS handshake
     * for every message (no connection cache); no DNSSEC probe of the
     * root, which goes nowhere here. */
    g_spid = postfix_start(g_sdir, g_sport, g_bed.pki.cert_pem,
                           g_bed.pki.key_pem,
                           "myhostname = sender.example.net\n"
                           "inet_interfaces = 127.0.0.2\n"
                           "mynetworks = 127.0.0.0/8\n"
                           "smtp_dns_support_level = dnssec\n"
                           "smtp_tls_security_level = dane\n"
                           "smtp_tls_loglevel = 1\n"
                           "smtp_connection_cache_on_demand = no\n"
                           "dnssec_probe =\n",
                           &skip);
    assert_true(g_spid > 0);
    return 0;
}

/* After each test: what a failed one left running (serve holds the
 * state, the stream keeps the sender busy) must not fail the next. */
static int test_end(void **st)
{
    (void)st;
    stream_halt();
    kw_serve_kill(&g_serve);
    unsetenv("KEYWARDEN_NOW");
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    stream_halt();
    kw_serve_kill(&g_serve);
    unsetenv("KEYWARDEN_NOW");
    postfix_stop(g_sdir, g_spid);
    postfix_stop(g_rdir, g_rpid);
    dane_bed_stop(&g_bed);
    bed_stop();
    return 0;
}

/* ----- the tests -------------------------------------------------------- */

static void need_ns(void)
{
    if (!g_ns) {
        print_message("skipped: %s\n", g_why);
        skip();
    }
}

/* Keyed renewals under a stream of messages: keywarden serve on the
 * real clock runs the rollover (the dane-roll job: announcement, wait,
 * probe of the deployment, hold, the old record's removal, the next
 * announcement); each time it is ready the test forces the renewal
 * (serve stopped meanwhile: it holds the state; the daemon itself renews
 * only when a certificate is due, and refuses to renew one issued less
 * than a day ago), the hook reloading the receiver.  Not one deferral. */
static void test_rollover_real_clock(void **st)
{
    char first[160], cur[160], now[160], announced[160], update[300];
    char check[4096], bad_check[4096] = "";
    double t = mono();
    settle s;
    static stream m;
    char what[120];
    int renewals = 0;

    (void)st;
    need_ns();
    /* Where the MX stands before keywarden's rollover: its key's TLSA
     * record published by hand, the sender delivering with DANE. */
    live_tlsa(first, sizeof(first));
    snprintf(update, sizeof(update), "update add " OWNER ". %d TLSA %s\n",
             RT_TTL, first);
    assert_int_equal(kn_update(&g_bed.prim, NULL, update), 0);
    if (!proc_until(resolver_has, first, 20000))
        fail_msg("the sender's resolver does not serve %s securely", first);
    s.base = sender_log();
    stream_start(&m, "roll");
    write_conf(1, RT_TTL, 1);
    serve_start(0);
    snprintf(cur, sizeof(cur), "%s", first);
    for (renewals = 0; renewals < CYCLES; renewals++) {
        char out[8192];

        await_ready(cur, announced, sizeof(announced));
        /* The renewal, forced (serve stopped: it holds the state). */
        kw_serve_stop(&g_serve);
        if (renew(0, out, sizeof(out)) != 0 ||
            strstr(out, "mx: issued") == NULL)
            fail_msg("the renewal of a ready rollover did not deploy: %s",
                     out);
        live_tlsa(now, sizeof(now));
        assert_string_equal(now, announced);
        assert_string_not_equal(now, cur);
        assert_true(tlsa_served(now));
        snprintf(cur, sizeof(cur), "%s", now);
        serve_start(1);
    }
    kw_serve_stop(&g_serve);
    snprintf(what, sizeof(what), "rollover, real clock: %d keyed renewals",
             renewals);
    stream_clean(&m, &s, "roll", what, t);
    /* The record made by hand, of a key two renewals gone, was removed
     * by the rollover; keywarden's own check agrees with the sender. */
    if (tlsa_served(first))
        fail_msg("the first key's record %s is still served", first);
    if (dane_check(check, sizeof(check)) != 0)
        snprintf(bad_check, sizeof(bad_check), "%s", check);
    if (bad_check[0] != '\0')
        fail_msg("dane check after the renewals:\n%s", bad_check);
}

/* The same stream through keyed renewals with dane_ttl = 60 on the
 * lapse clock: the daemon is started, pinned, at each time it planned
 * (daemon_moment) and the renewals are forced once the rollover is
 * ready.  Here the daemon's own spacing of the job's runs (10 s) is one
 * real second, well inside the 10 s the resolver may cache the old
 * RRset, so a rollover that did not wait 2 x TTL + negative TTL would
 * be deployed while senders still hold the RRset without the new key:
 * this is the test that fails when the wait is removed. */
static void test_rollover_lapse_clock(void **st)
{
    char before[160], after[160], older[160] = "";
    char check[4096], bad_check[4096] = "";
    double t = mono();
    settle s;
    static stream m;
    char what[120];
    int i, renewals = 0, runs = 0;

    (void)st;
    need_ns();
    g_t0 = mono();
    g_v0 = (int64_t)time(NULL);
    live_tlsa(before, sizeof(before));
    s.base = sender_log();
    stream_start(&m, "lapse");
    write_conf(1, LAPSE_TTL, 1);
    for (i = 0; i < CYCLES; i++) {
        runs += keyed_renewal(before, i > 0, after, sizeof(after));
        assert_string_not_equal(after, before);
        renewals++;
        /* The key now served was announced: its record is in the zone,
         * and keywarden's own check through the sender's resolver
         * agrees. */
        assert_true(tlsa_served(after));
        if (dane_check(check, sizeof(check)) != 0 && bad_check[0] == '\0')
            snprintf(bad_check, sizeof(bad_check), "%s", check);
        /* The record of the key before the one just replaced was removed
         * in this cycle. */
        if (older[0] != '\0' && tlsa_served(older))
            fail_msg("cycle %d: the record %s of a key retired a cycle "
                     "ago is still served", i + 1, older);
        snprintf(older, sizeof(older), "%s", before);
        snprintf(before, sizeof(before), "%s", after);
    }
    snprintf(what, sizeof(what), "rollover, lapse clock: %d keyed "
             "renewals (%d daemon runs)", renewals, runs);
    stream_clean(&m, &s, "lapse", what, t);
    if (bad_check[0] != '\0')
        fail_msg("dane check after a renewal:\n%s", bad_check);
}

/* The negative control: the same certificate renewed onto a key no
 * record announced (dane = removed): the sender defers. */
static void test_unannounced_key_defers(void **st)
{
    char before[160], after[160], out[8192];
    double t = mono();
    settle s;
    static stream m;
    int n;
    outcome o;

    (void)st;
    need_ns();
    write_conf(0, RT_TTL, 1);
    live_tlsa(before, sizeof(before));
    s.base = sender_log();
    stream_start(&m, "bare");
    assert_int_equal(renew(0, out, sizeof(out)), 0);
    assert_contains(out, "mx: issued");
    live_tlsa(after, sizeof(after));
    assert_string_not_equal(after, before);
    assert_false(tlsa_served(after));
    /* keywarden's check sees what the sender will: critical. */
    if (dane_check(out, sizeof(out)) != 2)
        fail_msg("dane check of an unannounced key is not critical:\n%s",
                 out);
    /* The deferrals (bounded): the stream keeps the sender busy. */
    if (!proc_until(deferrals_seen, &s.base, 40000))
        fail_msg("fewer than 3 deferrals within 40 s of serving an "
                 "unannounced key");
    n = stream_stop(&m);
    o = sender_log();
    print_message("negative control (renewal without announcement): %d "
                  "messages submitted, %d delivered, %d deferred, %d "
                  "received, %.1f s\n",
                  n, o.sent - s.base.sent, o.deferred - s.base.deferred,
                  received("bare", n), mono() - t);
    assert_true(o.deferred - s.base.deferred > 0);
    assert_true(file_contains(g_slog, "Server certificate not verified"));
    assert_true(file_contains(g_slog, "no matching DANE TLSA records"));
    assert_true(queued() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rollover_real_clock, test_end),
        cmocka_unit_test_teardown(test_rollover_lapse_clock, test_end),
        cmocka_unit_test_teardown(test_unannounced_key_defers, test_end),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
