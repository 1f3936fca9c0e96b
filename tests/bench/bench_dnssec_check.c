/*
 * bench_dnssec_check: 1,000 signed zones checked in full, beside one
 * `kdig +dnssec` process per question.
 *
 *   bench_dnssec_check [--quick] [--dir DIR] [--zones N] [--peer N]
 *                      [--threads N]
 *
 * 1,000 zones (zNNNN.kwbench.: SOA, NS, apex A, AAAA, MX, TXT, a few
 * names) are signed here with one ECDSA P-256 key each and NSEC
 * (tests/integration/zsign.c), their parent kwbench. holds the
 * delegations and the DS records, and one knotd serves them all as they
 * are (no signing by Knot); the benchmark waits until Knot answers SOA
 * for every zone (queries, no sleeping).  The last zone's apex TXT is
 * altered after signing, so the check must find exactly that zone
 * critical: the benchmark fails otherwise, which shows that every
 * signature is verified, not only fetched.
 *
 * Measured: one kw_dnssec_live_run_many over every zone, as `dnssec
 * check` and the daemon make it: per zone the NS set and its address
 * through the resolver (Knot itself here), SOA, DNSKEY, NS, NSEC3PARAM,
 * the sample (apex A, AAAA, MX, TXT and a name that does not exist) with
 * DO, the DS at the parent, and every RRSIG verified with ldns and its
 * times judged.  Target: under 10 s for 1,000.
 *
 * Peer, in the same run: the same ten questions per zone asked by one
 * `kdig +dnssec` process each, one after another (fetching only, no
 * signature verified), on --peer zones (100; --quick 20), extrapolated to
 * all of them, which the output says.
 *
 * --quick: 200 zones (tests/run.sh).  Fails when a zone is not judged as
 * expected or a kdig fails.
 */
#include "dnssec/dnssec_live.h"
#include "tests/integration/knot.h"
#include "tests/integration/proc.h"
#include "tests/integration/zsign.h"
#include "testpki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#define NMAX 1000
#define PARENT "kwbench"
#define KDIG "/usr/bin/kdig"
#define KNOTD "/usr/sbin/knotd"

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_dnssec_check: %s\n", what);
    exit(1);
}

static char name[NMAX][32];
static const char *zones[NMAX];
static int nzones, port;

static const char *const child_records =
    "@ SOA ns1 hostmaster 1 3600 600 86400 300\n"
    "@ NS ns1\n"
    "ns1 A 127.0.0.1\n"
    "@ A 192.0.2.1\n"
    "@ AAAA 2001:db8::1\n"
    "@ MX 10 mail\n"
    "mail A 192.0.2.2\n"
    "@ TXT \"v=spf1 mx -all\"\n"
    "www A 192.0.2.3\n";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail(path);
}

/* Every zone signed and written under work/zones; the parent's text
 * (delegations and DS) grows as the children are made. */
static void make_zones(const char *work, int64_t now)
{
    size_t cap = (size_t)nzones * 400 + 1000, o;
    char *parent = malloc(cap), path[1200], ds[300];
    zs_zone z;

    if (parent == NULL)
        fail("out of memory");
    o = (size_t)snprintf(parent, cap, "@ SOA ns1 hostmaster 1 3600 600 "
                         "86400 300\n@ NS ns1\nns1 A 127.0.0.1\n");
    for (int i = 0; i < nzones; i++) {
        if (zs_sign(name[i], child_records, now - 3600, now + 30 * 86400,
                    &z) != 0)
            fail("cannot sign a zone");
        if (i == nzones - 1 &&
            zs_tamper(&z, name[i], LDNS_RR_TYPE_TXT, "\"altered\"") != 0)
            fail("cannot alter the last zone");
        snprintf(path, sizeof(path), "%s/zones/%s.zone", work, name[i]);
        if (zs_write(&z, path) != 0 || zs_ds(&z, ds, sizeof(ds)) != 0)
            fail("cannot write a zone");
        zs_free(&z);
        o += (size_t)snprintf(parent + o, cap - o, "%s. NS ns1.%s.\n"
                              "ns1.%s. A 127.0.0.1\n%s\n", name[i], name[i],
                              name[i], ds);
        if (o >= cap)
            fail("parent zone too large");
    }
    if (zs_sign(PARENT, parent, now - 3600, now + 30 * 86400, &z) != 0)
        fail("cannot sign the parent");
    snprintf(path, sizeof(path), "%s/zones/" PARENT ".zone", work);
    if (zs_write(&z, path) != 0)
        fail("cannot write the parent");
    zs_free(&z);
    free(parent);
}

static void write_conf(const char *work, const char *conf)
{
    size_t cap = (size_t)nzones * 40 + 2000, o;
    char *t = malloc(cap);

    if (t == NULL)
        fail("out of memory");
    o = (size_t)snprintf(t, cap,
        "server:\n    rundir: \"%s\"\n    listen: 127.0.0.1@%d\n"
        "log:\n  - target: \"%s/knot.log\"\n    any: warning\n"
        "database:\n    storage: \"%s/db\"\n"
        "template:\n  - id: default\n    storage: \"%s/zones\"\n"
        "    file: \"%%s.zone\"\n    zonefile-sync: -1\n"
        "    journal-content: none\n"
        "zone:\n  - domain: " PARENT ".\n", work, port, work, work, work);
    for (int i = 0; i < nzones; i++)
        o += (size_t)snprintf(t + o, cap - o, "  - domain: %s.\n", name[i]);
    if (o >= cap)
        fail("configuration too large");
    write_text(conf, t);
    free(t);
}

/* Knot serves every zone: the first not yet seen is asked again. */
static int all_served(void *ctx)
{
    int *next = ctx;
    uint32_t s;

    if (*next == 0 && kn_soa_serial("127.0.0.1", port, PARENT ".", 200,
                                    &s) != 0)
        return 0;
    while (*next < nzones &&
           kn_soa_serial("127.0.0.1", port, name[*next], 200, &s) == 0)
        (*next)++;
    return *next == nzones;
}

/* One kdig +dnssec per question: exit code 0 counted. */
static int kdig(const char *qname, const char *type)
{
    char at[32], p[16];
    char *argv[] = { (char *)KDIG, (char *)"-p", p, at, (char *)"+dnssec",
                     (char *)"+norec", (char *)"+time=2", (char *)"+retry=0",
                     (char *)qname, (char *)type, NULL };
    char *out = NULL, *err = NULL;
    int ofd, efd, rc;
    pid_t pid;

    snprintf(at, sizeof(at), "@127.0.0.1");
    snprintf(p, sizeof(p), "%d", port);
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    if (pid <= 0)
        return -1;
    proc_drain(ofd, efd, &out, &err);
    rc = proc_wait(pid, 10000);
    free(out);
    free(err);
    return rc;
}

int main(int argc, char **argv)
{
    static const char *const types[] = { "SOA", "DNSKEY", "NS", "NSEC3PARAM",
                                         "A", "AAAA", "MX", "TXT" };
    const char *dir = "/tmp";
    char work[1024], conf[1100], path[1100];
    kw_dns_server srv = { "127.0.0.1", 0 };
    kw_dnssec_live_where w = { 0 };
    kw_dnssec_live_res *outs;
    knot k;
    kw_diag d = {{0}};
    int quick = 0, npeer = -1, threads = 16, next = 0, ok = 0, bogus = 0;
    int peer_ok = 0, peer_q = 0;
    char *kargv[4];
    double t0, t_sign, t_start, t_check, t_peer;
    int64_t now = time(NULL);

    nzones = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--zones") == 0 && i + 1 < argc)
            nzones = atoi(argv[++i]);
        else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
            npeer = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_dnssec_check [--quick] [--dir DIR] "
                    "[--zones N] [--peer N] [--threads N]\n");
            return 2;
        }
    }
    if (nzones < 2 || nzones > NMAX)
        nzones = quick ? 200 : NMAX;
    if (npeer < 1 || npeer > nzones)
        npeer = quick ? 20 : 100;
    if (access(KNOTD, X_OK) != 0 || access(KDIG, X_OK) != 0)
        fail("knotd or kdig missing (tests/deps.sh)");
    printf("keywarden DNSSEC check benchmark (%ld CPUs online)%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    fflush(stdout);

    snprintf(work, sizeof(work), "%s/kw-bench-dnssec", dir);
    proc_rm_rf(work);
    snprintf(path, sizeof(path), "%s/zones", work);
    tp_mkdirs(path);
    snprintf(path, sizeof(path), "%s/db", work);
    tp_mkdirs(path);
    for (int i = 0; i < nzones; i++) {
        snprintf(name[i], sizeof(name[i]), "z%04d." PARENT, i);
        zones[i] = name[i];
    }
    t0 = now_s();
    make_zones(work, now);
    t_sign = now_s() - t0;

    port = kn_free_port("127.0.0.1");
    snprintf(conf, sizeof(conf), "%s/knot.conf", work);
    write_conf(work, conf);
    memset(&k, 0, sizeof(k));
    kargv[0] = (char *)KNOTD;
    kargv[1] = (char *)"-c";
    kargv[2] = conf;
    kargv[3] = NULL;
    snprintf(path, sizeof(path), "%s/knotd.out", work);
    t0 = now_s();
    k.pid = proc_spawn_log(kargv, path);
    if (k.pid <= 0)
        fail("cannot start knotd");
    if (!proc_until(all_served, &next, 120000)) {
        kn_stop(&k);
        fail("Knot does not serve every zone after 120 s (see knot.log)");
    }
    t_start = now_s() - t0;
    printf("setup: %d zones signed here (ECDSA P-256, NSEC; the last one's "
           "TXT altered after signing) in %.1f s, their parent with the DS "
           "records; one knotd serving all %d, every SOA answered after "
           "%.1f s\n", nzones, t_sign, nzones + 1, t_start);
    fflush(stdout);

    outs = calloc((size_t)nzones, sizeof(*outs));
    if (outs == NULL)
        fail("out of memory");
    srv.port = port;
    w.resolver = &srv;
    w.port = port;
    w.ds_server = &srv;
    w.timeout_ms = 3000;
    t0 = now_s();
    if (kw_dnssec_live_run_many(zones, (size_t)nzones, &w, NULL, now,
                                threads, outs, &d) != 0)
        fail(d.msg);
    t_check = now_s() - t0;
    for (int i = 0; i < nzones; i++) {
        const kw_dnssec_live *r = &outs[i].live;

        if (outs[i].rc != 0) {
            fprintf(stderr, "  %s: %s\n", name[i], outs[i].diag.msg);
            continue;
        }
        if (i < nzones - 1 && r->health == KS_HEALTH_OK && r->nfind == 0 &&
            r->is_signed && r->has_ds && r->nkeys == 1 &&
            r->keys[0].ds_matched)
            ok++;
        else if (i == nzones - 1 && r->health == KS_HEALTH_CRITICAL &&
                 r->nfind == 1 && strcmp(r->find[0].code, "rrsig.bad") == 0)
            bogus = 1;
        else
            fprintf(stderr, "  %s: health %d, %zu finding(s)%s%s\n",
                    name[i], r->health, r->nfind, r->nfind ? ": " : "",
                    r->nfind ? r->find[0].text : "");
    }
    printf("keywarden: %d zones checked in full in one "
           "kw_dnssec_live_run_many (%d threads; NS and address lookup, "
           "SOA, DNSKEY, NS, NSEC3PARAM, apex A/AAAA/MX/TXT, a denial, the "
           "DS; every RRSIG verified): %.2f s, %.0f zones/s (target < 10 s "
           "for 1,000)\n", nzones, threads, t_check, nzones / t_check);
    printf("  secure: %d of %d; the altered zone critical (rrsig.bad on "
           "its TXT): %s\n", ok, nzones - 1, bogus ? "yes" : "NO");
    fflush(stdout);

    /* The peer: kdig per question, the same ten questions per zone. */
    t0 = now_s();
    for (int i = 0; i < npeer; i++) {
        char qn[80];

        for (size_t q = 0; q < sizeof(types) / sizeof(types[0]); q++) {
            peer_ok += kdig(name[i], types[q]) == 0;
            peer_q++;
        }
        snprintf(qn, sizeof(qn), "kw-nonexistent.%.31s", name[i]);
        peer_ok += kdig(qn, "A") == 0;
        peer_ok += kdig(name[i], "DS") == 0;
        peer_q += 2;
    }
    t_peer = now_s() - t0;
    printf("peer: kdig +dnssec, one process per question, one after "
           "another (fetching only, no signature verified): %d zones (%d "
           "questions) in %.2f s, %.1f ms per zone; extrapolated to %d "
           "zones: %.1f s (%.1fx keywarden); %d of %d succeeded\n", npeer,
           peer_q, t_peer, t_peer * 1000 / npeer, nzones,
           t_peer * nzones / npeer, t_peer * nzones / npeer / t_check,
           peer_ok, peer_q);
    fflush(stdout);

    kn_stop(&k);
    free(outs);
    proc_rm_rf(work);
    if (ok != nzones - 1 || !bogus)
        fail("a zone was not judged as expected");
    if (peer_ok != peer_q)
        fail("a kdig failed");
    if (nzones == NMAX && t_check >= 10.0)
        fail("1,000 zones took 10 s or more");
    return 0;
}
