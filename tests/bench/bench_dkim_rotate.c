/*
 * bench_dkim_rotate: 1,000 domains' DKIM rotations started together,
 * beside a cron script's knsupdate per record.
 *
 *   bench_dkim_rotate [--quick] [--dir DIR] [--domains N] [--single N]
 *                     [--key-type rsa2048|rsa3072|ed25519]
 *
 * A Knot primary and a secondary (every zone transferred with TSIG, the
 * secondary notified, as tests/integration/knot.c sets them up) serve
 * 1,000 mail domains, one zone each (rNNNN.example).  Each domain is a
 * managed [dkim "DOMAIN"] section: key_type = ed25519 (--key-type: an
 * RSA key costs 50-150 ms of CPU, which then dominates), RFC 2136 updates
 * to the primary signed with TSIG, the zone found by SOA queries and its
 * servers by NS and A queries, as a configuration without dns_zone does.
 *
 * Measured: one kw_dkim_rotate_many call for all of them at a pinned
 * clock, as the daemon makes it: every key generated and written, every
 * record sent, then every name polled on both authoritative servers until
 * each serves it; each rotation ends at *visible*, waiting for the
 * propagation time, which the clock passed in skips (it is hours of
 * waiting, not work).  Must take under 30 s for 1,000.  Then, for
 * scale, --single further domains (20; --quick 5) rotated one
 * kw_dkim_rotate_run after another, each with its own blocking
 * visibility wait: the cost the batch removes.
 *
 * Peer, in the same run: the same records added by knsupdate, one process
 * per record (its input written to a file first, as a shell script from
 * cron would), one after another: the publication alone, no key made and
 * no visibility checked.
 *
 * The batch's own phase times (kw_dkim_rotate_many_timed) split the total
 * into the keys' CPU (RSA: 50-150 ms each, whatever the tool) and the
 * publication and visibility work the 30 s target is about.  For scale,
 * in the same run: the same number of keys made with ks_keygen on as
 * many threads as the batch uses, and `openssl genpkey` per key for a
 * sample.
 *
 * --quick: 200 domains (tests/run.sh); --domains N up to 1,000.  The benchmark fails when a
 * rotation does not end at visible or the peer's knsupdate fails.
 */
#include "dkim/dkim_rotate.h"
#include "common/kw_log.h"
#include "keystore/ks_keygen.h"
#include "keystore/ks_store.h"
#include "tests/integration/knot.h"
#include "tests/integration/proc.h"
#include "testpki.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NMAX 1000
#define SINGLE_MAX 200
#define NOW 1800000000 /* 2027-01-15T08:00:00Z */
#define KEY_THREADS 16    /* as dkim_rotate_many.c's BATCH_THREADS */
#define PEER_KEYS 20      /* openssl genpkey processes, for scale */

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_dkim_rotate: %s\n", what);
    exit(1);
}

/* Domain i's managed section, as config_dkim.c would fill it. */
static void section(kw_dkim_rot_params *p, const char *domain,
                    const char *work, const knot *pri, const char *key_type)
{
    char buf[1200];

    kw_dkim_rot_params_defaults(p);
    p->domain = strdup(domain);
    p->selector = strdup("kw%Y%m");
    snprintf(buf, sizeof(buf), "%s/keys", work);
    p->key_dir = strdup(buf);
    p->key_type = strdup(key_type);
    snprintf(buf, sizeof(buf), "%s:%d", pri->addr, pri->port);
    p->dns_server = strdup(buf);
    p->tsig_key = strdup(pri->key_name);
    p->tsig_algorithm = strdup(pri->key_alg);
    p->tsig_secret = strdup(pri->key_secret);
    p->dns_port = pri->port;
    if (p->domain == NULL || p->selector == NULL || p->key_dir == NULL ||
        p->dns_server == NULL || p->tsig_secret == NULL)
        fail("out of memory");
}

static int count_stage(const kw_dkim_rot_out *o, int n, const char *stage)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += strcmp(o[i].rot.stage, stage) == 0;
    return k;
}

static void first_other(const kw_dkim_rot_out *o, int n, const char *stage)
{
    for (int i = 0; i < n; i++)
        if (strcmp(o[i].rot.stage, stage) != 0) {
            fprintf(stderr, "bench_dkim_rotate: %s at %s: %s%s\n",
                    o[i].rot.domain, o[i].rot.stage, o[i].rot.stopped,
                    o[i].rot.waits_for);
            return;
        }
}

typedef struct keygen_pool {
    pthread_mutex_t mu;
    int next, n, failed;
    ks_key_type type;
} keygen_pool;

static void *keygen_worker(void *arg)
{
    keygen_pool *p = arg;

    for (;;) {
        EVP_PKEY *k;
        kw_diag d;
        int i;

        pthread_mutex_lock(&p->mu);
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            return NULL;
        if ((k = ks_keygen(p->type, &d)) == NULL) {
            pthread_mutex_lock(&p->mu);
            p->failed++;
            pthread_mutex_unlock(&p->mu);
        }
        EVP_PKEY_free(k);
    }
}

/* Seconds to make n keys of key_type on KEY_THREADS threads (no file
 * written), or -1. */
static double keygen_alone(const char *key_type, int n)
{
    pthread_t t[KEY_THREADS];
    keygen_pool p;
    int started = 0;
    double t0 = now_s();

    memset(&p, 0, sizeof(p));
    if (ks_key_type_parse(key_type, &p.type) != 0)
        return -1;
    p.n = n;
    pthread_mutex_init(&p.mu, NULL);
    for (int i = 0; i < KEY_THREADS; i++)
        if (pthread_create(&t[started], NULL, keygen_worker, &p) == 0)
            started++;
    if (started == 0)
        keygen_worker(&p);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p.mu);
    return p.failed ? -1 : now_s() - t0;
}

/* Seconds per key for `openssl genpkey`, one process per key (the way a
 * script makes them), over PEER_KEYS keys, or -1. */
static double openssl_per_key(const char *key_type, const char *work)
{
    char out[1100];
    char *rsa[] = {(char *)"/usr/bin/openssl", (char *)"genpkey",
                   (char *)"-algorithm", (char *)"RSA", (char *)"-pkeyopt",
                   NULL, (char *)"-out", out, NULL};
    char *ed[] = {(char *)"/usr/bin/openssl", (char *)"genpkey",
                  (char *)"-algorithm", (char *)"ED25519", (char *)"-out",
                  out, NULL};
    char bits[40], log[1100];
    double t0;

    snprintf(out, sizeof(out), "%s/peer.key", work);
    snprintf(log, sizeof(log), "%s/peer-openssl.log", work);
    if (strncmp(key_type, "rsa", 3) == 0) {
        snprintf(bits, sizeof(bits), "rsa_keygen_bits:%s", key_type + 3);
        rsa[5] = bits;
    }
    t0 = now_s();
    for (int i = 0; i < PEER_KEYS; i++)
        if (proc_wait(proc_spawn_log(strncmp(key_type, "rsa", 3) == 0 ? rsa
                                                                      : ed,
                                     log), 60000) != 0)
            return -1;
    return (now_s() - t0) / PEER_KEYS;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp", *key_type = "ed25519";
    static char name[NMAX + SINGLE_MAX][32];
    static kn_zone zones[NMAX + SINGLE_MAX];
    static kw_dkim_rot_params prm[NMAX + SINGLE_MAX];
    static const kw_dkim_rot_params *pp[NMAX];
    static kw_dkim_rot_out outs[NMAX + SINGLE_MAX];
    static char record[NMAX][200];
    char work[1024], path[1100];
    knot pri, sec;
    kn_opts ko;
    ks_store *st;
    kw_diag d;
    int quick = 0, n = -1, single = -1, visible, single_visible = 0;
    int peer_ok = 0;
    double t0, t_setup, t_many, t_single = 0, t_peer, t_keys, t_openssl;
    kw_dkim_rot_times phase;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--single") == 0 && i + 1 < argc)
            single = atoi(argv[++i]);
        else if (strcmp(argv[i], "--key-type") == 0 && i + 1 < argc)
            key_type = argv[++i];
        else {
            fprintf(stderr, "usage: bench_dkim_rotate [--quick] [--dir DIR] "
                    "[--domains N] [--single N] [--key-type TYPE]\n");
            return 2;
        }
    }
    if (n < 1 || n > NMAX)
        n = quick ? 200 : NMAX;
    if (single < 0 || single > SINGLE_MAX)
        single = quick ? 5 : 20;
    /* Each stage change is logged at info: 6,000 lines are not the
     * measure. */
    kw_log_set_level(KW_LOG_WARNING);

    printf("keywarden DKIM rotation benchmark (%ld CPUs online)%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    fflush(stdout);
    t0 = now_s();
    snprintf(work, sizeof(work), "%s/kw-bench-dkim-rotate", dir);
    proc_rm_rf(work);
    tp_mkdirs(work);
    for (int i = 0; i < n + single; i++) {
        snprintf(name[i], sizeof(name[i]), "r%04d.example", i);
        zones[i].name = name[i];
        zones[i].records = "@ IN MX 10 mail\nmail IN A 192.0.2.1\n";
    }
    memset(&ko, 0, sizeof(ko));
    ko.zone = "kwbench.example";
    ko.ns2_addr = "127.0.0.2";
    ko.bulk = zones;
    ko.nbulk = n + single;
    if (kn_primary_start(work, "primary", &ko, &pri) != 0 ||
        kn_secondary_start(work, "secondary", &pri, "127.0.0.2", &sec) != 0)
        fail("cannot start Knot");
    snprintf(path, sizeof(path), "%s/k.db", work);
    if (ks_open(path, KS_OPEN_CREATE, &st, &d) != 0)
        fail(d.msg);
    for (int i = 0; i < n + single; i++)
        section(&prm[i], name[i], work, &pri, key_type);
    for (int i = 0; i < n; i++)
        pp[i] = &prm[i];
    t_setup = now_s() - t0;
    printf("setup: %d zones (one per domain) on a Knot primary and a "
           "secondary (IXFR after NOTIFY, TSIG): %.1f s\n", n + single + 1,
           t_setup);
    fflush(stdout);

    /* keywarden: every domain in one call. */
    t0 = now_s();
    if (kw_dkim_rotate_many_timed(st, pp, (size_t)n, NULL, 0, NOW, outs,
                                  &phase, &d) != 0)
        fail(d.msg);
    t_many = now_s() - t0;
    visible = count_stage(outs, n, "visible");
    printf("keywarden: %d rotations in one kw_dkim_rotate_many (%s key "
           "written, TXT added by RFC 2136 with TSIG, then every name "
           "polled on both servers until served): %.2f s, %.1f ms per "
           "domain (target < 30 s for 1,000 with ed25519)\n", n, key_type,
           t_many, t_many * 1000 / n);
    printf("  of which: keys made %.2f s, updates sent %.2f s, polled "
           "until visible %.2f s; publication and visibility %.2f s "
           "(target < 30 s for 1,000, whatever the key type)\n",
           phase.keys, phase.publish, phase.visible,
           phase.publish + phase.visible);
    printf("  at visible (waiting for propagation): %d of %d\n", visible, n);
    fflush(stdout);
    if (visible != n)
        first_other(outs, n, "visible");
    for (int i = 0; i < n; i++)
        snprintf(record[i], sizeof(record[i]), "%.190s", outs[i].rot.record);

    /* For scale: further domains one after another, each waiting
     * alone. */
    if (single > 0) {
        t0 = now_s();
        for (int i = n; i < n + single; i++) {
            if (kw_dkim_rotate_run(st, &prm[i], NULL, 0, NOW, &outs[i],
                                   &d) != 0)
                fail(d.msg);
            single_visible += strcmp(outs[i].rot.stage, "visible") == 0;
        }
        t_single = now_s() - t0;
        printf("  for scale, one kw_dkim_rotate_run after another (a "
               "blocking visibility wait each): %d domains in %.2f s, "
               "%.1f ms per domain; %d at visible\n", single, t_single,
               t_single * 1000 / single, single_visible);
        fflush(stdout);
        if (single_visible != single)
            first_other(outs + n, single, "visible");
    }

    /* The peer: knsupdate per record, the same records. */
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        char lines[1400];

        snprintf(lines, sizeof(lines), "update add peer._domainkey.%.31s. "
                 "3600 TXT \"%.190s\"\n", name[i], record[i]);
        peer_ok += kn_update(&pri, name[i], lines) == 0;
    }
    t_peer = now_s() - t0;
    printf("peer: knsupdate, one process per record, one after another "
           "(publication only: no key made, no visibility checked): %d "
           "records in %.2f s (%.1f ms each); %d succeeded\n", n, t_peer,
           t_peer * 1000 / n, peer_ok);
    fflush(stdout);

    /* The keys alone: what of t_many was CPU for key generation. */
    t_keys = keygen_alone(key_type, n);
    t_openssl = openssl_per_key(key_type, work);
    if (t_keys < 0 || t_openssl < 0)
        fail("generating keys alone failed");
    printf("key generation alone: %d %s keys with ks_keygen on %d "
           "threads: %.2f s; `openssl genpkey`, one process per key: "
           "%.1f ms each (%d keys), %.1f s for %d\n", n, key_type,
           KEY_THREADS, t_keys, t_openssl * 1000, PEER_KEYS,
           t_openssl * n, n);
    fflush(stdout);

    ks_close(st);
    kn_stop(&sec);
    kn_stop(&pri);
    for (int i = 0; i < n + single; i++)
        kw_dkim_rot_params_free(&prm[i]);
    proc_rm_rf(work);
    if (visible != n || single_visible != single || peer_ok != n)
        fail("a rotation did not reach visible, or knsupdate failed");
    if (n == NMAX && t_many >= 30.0 && strcmp(key_type, "ed25519") == 0)
        fail("1,000 rotations took 30 s or more");
    if (n == NMAX && phase.publish + phase.visible >= 30.0)
        fail("1,000 publications and visibility checks took 30 s or more");
    return 0;
}
