/*
 * bench_dkim: the DKIM check of 1,000 mail domains, beside a peer.
 *
 *   bench_dkim [--quick] [--dir DIR] [--threads N] [--sample N]
 *              [--no-cache]
 *
 * A Knot primary and a secondary (every zone transferred with TSIG, as
 * tests/integration/knot.c sets them up) serve 1,000 mail domains, one
 * zone each (mNNNN.example), with an unbound in front as the resolver
 * receivers use.  Each domain has two DKIM selectors (RSA 2048, a real
 * key record whose private key is a file on disk), MX, an SPF record with
 * two includes into other domains of the set, and a DMARC record.
 *
 * Measured: the whole check, as the daemon runs it, one libuv work item
 * per domain on libuv's thread pool (its default size, 4, unless
 * --threads): per selector the DNS survey (the resolver and both
 * authoritative servers, kw_dns_survey_run), the servers compared, each
 * answer's record parsed (kw_dkim_record_parse) and its key compared with
 * the private key file's (kw_dkim_key_load, kw_dkim_pub_matches); per
 * domain the SPF walk (kw_spf_walk through the resolver) and the DMARC
 * record fetched and parsed.  The surveys share a kw_dns_zone_cache
 * (--no-cache: each looks its zone up, to compare).
 *
 * Peer, in the same run: opendkim-testkey once per selector, one process
 * after another as a cron script would run it, against the same unbound
 * (through a libunbound configuration forwarding to it: opendkim-testkey
 * reads ResolverConfiguration, not Nameservers).  --sample N runs it for
 * N selectors spread over the set and scales the time to all of them;
 * --quick samples 200.
 *
 * Every 100th domain's second selector has a key file that does not
 * match its record: both keywarden and the peer must say so for exactly
 * those, or the benchmark fails.
 */
#include "dkim/dkim_dmarc.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_record.h"
#include "dkim/dkim_spf.h"
#include "dns/dns_lookup.h"
#include "dns/dns_survey.h"
#include "tests/integration/knot.h"
#include "tests/integration/proc.h"
#include "testpki.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define NDOMAINS 1000
#define NSEL 2
/* Distinct RSA keys, reused across the 2,000 key files: generating 2,000
 * RSA 2048 keys takes minutes, and what the check costs does not depend
 * on whether two files hold the same key. */
#define NKEYS 8
/* Every MISMATCH_EVERY-th domain's second selector: a key file that does
 * not match the record. */
#define MISMATCH_EVERY 100
#define OPENDKIM_TESTKEY "/usr/sbin/opendkim-testkey"

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_dkim: %s\n", what);
    exit(1);
}

static const char *const sel_name[NSEL] = {"s1", "s2"};

static void domain_name(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "m%04d.example", i);
}

static void key_path(const char *work, int i, int s, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/keys/m%04d.%s.private", work, i, sel_name[s]);
}

/* The key a selector's record publishes, and the one its file holds. */
static int record_key(int i, int s)
{
    return (NSEL * i + s) % NKEYS;
}

static int planted(int i, int s)
{
    return s == 1 && i % MISMATCH_EVERY == 0;
}

static int file_key(int i, int s)
{
    return planted(i, s) ? (record_key(i, s) + 1) % NKEYS : record_key(i, s);
}

/* ---- setup ---------------------------------------------------------------- */

/* "v=DKIM1; h=sha256; k=rsa; p=..." for k as zone file character strings
 * of at most 255 octets each, in parentheses. */
static char *dkim_txt(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    char b64[2048], *out;
    size_t bl, o, cap = 4096;

    if (n <= 0 || (size_t)n * 4 / 3 + 4 >= sizeof(b64))
        fail("encoding a public key");
    bl = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, n);
    OPENSSL_free(der);
    out = malloc(cap);
    if (out == NULL)
        fail("out of memory");
    o = (size_t)snprintf(out, cap, "( \"v=DKIM1; h=sha256; k=rsa; \" \"p=");
    for (size_t i = 0, in_str = 2; i < bl; i++, in_str++) {
        if (in_str == 255) {
            o += (size_t)snprintf(out + o, cap - o, "\" \"");
            in_str = 0;
        }
        out[o++] = b64[i];
    }
    snprintf(out + o, cap - o, "\" )");
    return out;
}

static char *zone_records(int i, char *const txt[NKEYS])
{
    char *r = malloc(8192), inc1[64], inc2[64];
    size_t o;

    if (r == NULL)
        fail("out of memory");
    domain_name((i + 1) % NDOMAINS, inc1, sizeof(inc1));
    domain_name((i + 2) % NDOMAINS, inc2, sizeof(inc2));
    o = (size_t)snprintf(r, 8192,
        "@ IN MX 10 mail\n"
        "mail IN A 192.0.2.%d\n"
        "@ IN TXT \"v=spf1 mx ip4:203.0.113.%d include:_spf.%s "
        "include:_spf.%s ~all\"\n"
        "_spf IN TXT \"v=spf1 ip4:198.51.100.%d ip6:2001:db8:%x::/48 -all\"\n"
        "_dmarc IN TXT \"v=DMARC1; p=reject; adkim=s; "
        "rua=mailto:dmarc-reports@m%04d.example\"\n",
        i % 250 + 1, i % 250 + 1, inc1, inc2, i % 250 + 1, i, i);
    for (int s = 0; s < NSEL; s++)
        o += (size_t)snprintf(r + o, 8192 - o, "%s._domainkey IN TXT %s\n",
                              sel_name[s], txt[record_key(i, s)]);
    if (o >= 8192)
        fail("a zone's records do not fit");
    return r;
}

/* ---- the check ------------------------------------------------------------ */

typedef struct bench {
    kw_dns_server resolver;
    kw_dns_survey_opts opts;
    const char *work;
    /* Results, each written by one domain's work item. */
    unsigned char match[NDOMAINS][NSEL];   /* every server serves the key */
    unsigned char agree[NDOMAINS][NSEL];
    unsigned char spf_ok[NDOMAINS];
    unsigned char dmarc_ok[NDOMAINS];
    int spf_lookups[NDOMAINS];
    /* Seconds each domain's item spent in each part (summed over the
     * pool's threads below: where the time goes). */
    double t_survey[NDOMAINS], t_key[NDOMAINS], t_spf[NDOMAINS],
        t_dmarc[NDOMAINS];
    char err[NDOMAINS][200];
    int done;
} bench;

typedef struct item {
    uv_work_t w;
    bench *b;
    int i;
} item;

/* What one selector's check knows of the key file and the last record
 * it judged: the servers usually serve the same record, parsed once. */
typedef struct sel_check {
    kw_dkim_pub pub;             /* the key file's public half */
    const kw_dns_answer *last;   /* the last answer judged, or NULL */
    int last_ok;
    kw_dkim_record rec;
} sel_check;

static int same_txt(const kw_dns_answer *a, const kw_dns_answer *b)
{
    return b != NULL && a->ntxt == 1 && b->ntxt == 1 &&
           a->txt[0].len == b->txt[0].len &&
           memcmp(a->txt[0].s, b->txt[0].s, a->txt[0].len) == 0;
}

/* Does answer a (one DKIM record) publish the key file's key? */
static int answer_matches(sel_check *c, const kw_dns_answer *a)
{
    kw_diag d;

    if (a->status != 0 || a->ntxt != 1)
        return 0;
    if (same_txt(a, c->last))
        return c->last_ok;
    c->last = a;
    c->last_ok = 0;
    if (kw_dkim_record_parse(a->txt[0].s, a->txt[0].len, &c->rec, &d) != 0 ||
        c->rec.revoked)
        return 0;
    c->last_ok = kw_dkim_pub_matches(&c->pub, c->rec.k, c->rec.p,
                                     c->rec.p_len);
    return c->last_ok;
}

static void check_selector(bench *b, int i, int s, const char *domain,
                           sel_check *c)
{
    char name[300], path[1100], words[1024];
    kw_dns_survey *sv = NULL;
    kw_diag d;
    double t0 = now_s();
    int ok;

    snprintf(name, sizeof(name), "%s._domainkey.%s", sel_name[s], domain);
    key_path(b->work, i, s, path, sizeof(path));
    if (kw_dns_survey_run(&b->resolver, name, &b->opts, &sv, &d) != 0) {
        snprintf(b->err[i], sizeof(b->err[i]), "%.190s", d.msg);
        return;
    }
    b->t_survey[i] += now_s() - t0;
    t0 = now_s();
    b->agree[i][s] = kw_dns_survey_compare(sv, words, sizeof(words)) ==
                     KW_DNS_AGREE;
    if (!b->agree[i][s])
        snprintf(b->err[i], sizeof(b->err[i]), "%.190s", words);
    c->last = NULL;
    ok = kw_dkim_key_load(path, &c->pub, &d) == 0 &&
         answer_matches(c, &sv->resolver);
    for (size_t k = 0; k < sv->nsteps && ok; k++)
        for (size_t j = 0; j < sv->steps[k].nauth && ok; j++)
            ok = answer_matches(c, &sv->steps[k].auth[j]);
    b->match[i][s] = (unsigned char)ok;
    kw_dns_survey_free(sv);
    b->t_key[i] += now_s() - t0;
}

static void check_domain(uv_work_t *w)
{
    item *it = w->data;
    bench *b = it->b;
    int i = it->i;
    char domain[64], dm[96];
    kw_dns_lookup_ctx lctx = {b->resolver, 5000};
    kw_dns_lookup lk = {kw_dns_lookup_server, &lctx};
    sel_check *rec = malloc(sizeof(*rec));
    kw_dmarc_record *dmarc = malloc(sizeof(*dmarc));
    kw_dns_rrset *set = malloc(sizeof(*set));
    kw_spf_tree t;
    kw_diag d;
    int ndmarc = 0;
    double t0;

    if (rec == NULL || dmarc == NULL || set == NULL)
        fail("out of memory");
    domain_name(i, domain, sizeof(domain));
    for (int s = 0; s < NSEL; s++)
        check_selector(b, i, s, domain, rec);

    t0 = now_s();
    if (kw_spf_walk(&lk, domain, NULL, &t, &d) == 0) {
        b->spf_ok[i] = t.permerror == 0 && t.temperror == 0 &&
                       t.warnings == 0;
        b->spf_lookups[i] = t.lookups;
        kw_spf_tree_free(&t);
    }

    b->t_spf[i] = now_s() - t0;
    t0 = now_s();
    snprintf(dm, sizeof(dm), "_dmarc.%s", domain);
    if (kw_dns_lookup_server(&lctx, dm, KW_DNS_TXT, set, &d) == 0) {
        for (size_t k = 0; k < set->n; k++) {
            if (!kw_dmarc_record_is_dmarc(kw_dns_rrset_rec(set, k),
                                          set->len[k]))
                continue;
            ndmarc++;
            if (kw_dmarc_record_parse(kw_dns_rrset_rec(set, k), set->len[k],
                                      dmarc, &d) == 0 &&
                dmarc->p == KW_DMARC_POLICY_REJECT)
                b->dmarc_ok[i] = 1;
        }
        if (ndmarc != 1)
            b->dmarc_ok[i] = 0;
    }
    b->t_dmarc[i] = now_s() - t0;
    free(rec);
    free(dmarc);
    free(set);
}

static void domain_done(uv_work_t *w, int status)
{
    item *it = w->data;

    (void)status;
    it->b->done++;
}

/* ---- the peer ------------------------------------------------------------- */

/* opendkim-testkey -x conf -d DOMAIN -s SELECTOR -k KEYFILE: its exit
 * code (0 key OK, 65 keys do not match), or -1. */
static int testkey(const char *conf, const char *domain, const char *sel,
                   const char *key)
{
    char *argv[] = {(char *)OPENDKIM_TESTKEY, (char *)"-x", (char *)conf,
                    (char *)"-d", (char *)domain, (char *)"-s", (char *)sel,
                    (char *)"-k", (char *)key, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail(path);
}

/* Runs the peer for sample selectors spread over the set; returns its
 * seconds, with its verdicts counted. */
static double peer(const char *work, const knot *res, int sample,
                   int *ok, int *mismatch, int *other, int *wrong)
{
    char conf[1100], ub[1100], text[1400];
    int total = NDOMAINS * NSEL;
    double t0;

    snprintf(ub, sizeof(ub), "%s/ub-fwd.conf", work);
    snprintf(conf, sizeof(conf), "%s/testkey.conf", work);
    snprintf(text, sizeof(text),
             "server:\n"
             "    do-not-query-localhost: no\n"
             "forward-zone:\n"
             "    name: \".\"\n"
             "    forward-addr: %s@%d\n", res->addr, res->port);
    write_text(ub, text);
    snprintf(text, sizeof(text), "ResolverConfiguration %s\n", ub);
    write_text(conf, text);

    *ok = *mismatch = *other = *wrong = 0;
    t0 = now_s();
    for (int n = 0; n < sample; n++) {
        /* Spread over the domains and both selectors; a sample takes
         * one planted mismatch in every 100 runs. */
        int sel = (int)((long)n * total / sample);
        int i = sel / NSEL, s = sel % NSEL, rc;
        char domain[64], path[1100];

        if (sample < total) {
            s = n % NSEL;
            if (n % 100 == 0) {
                i = (n / 100 * MISMATCH_EVERY) % NDOMAINS;
                s = 1;
            }
        }
        domain_name(i, domain, sizeof(domain));
        key_path(work, i, s, path, sizeof(path));
        rc = testkey(conf, domain, sel_name[s], path);
        if (rc == 0)
            (*ok)++;
        else if (rc == 65)
            (*mismatch)++;
        else
            (*other)++;
        *wrong += (rc == 65) != planted(i, s);
    }
    return now_s() - t0;
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    char work[1024], path[1100], name[NDOMAINS][32], *txt[NKEYS];
    char threads[16] = "";
    static kn_zone zones[NDOMAINS];
    static bench b;
    static item items[NDOMAINS];
    EVP_PKEY *keys[NKEYS];
    knot pri, sec, res;
    kn_opts ko;
    uv_loop_t loop;
    int quick = 0, no_cache = 0, sample = -1, matched = 0, wrong = 0, agree = 0;
    int spf_ok = 0, dmarc_ok = 0, pok, pmis, poth, pwrong;
    double ts = 0, tk = 0, tspf = 0, tdm = 0;
    double t0, t_setup, t_check, t_peer;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            snprintf(threads, sizeof(threads), "%s", argv[++i]);
        else if (strcmp(argv[i], "--no-cache") == 0)
            no_cache = 1;
        else if (strcmp(argv[i], "--sample") == 0 && i + 1 < argc)
            sample = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_dkim [--quick] [--dir DIR] "
                    "[--threads N] [--sample N] [--no-cache]\n");
            return 2;
        }
    }
    if (sample < 0 || sample > NDOMAINS * NSEL)
        sample = quick ? 200 : NDOMAINS * NSEL;
    /* libuv reads the pool's size when it first queues work. */
    if (threads[0] != '\0')
        setenv("UV_THREADPOOL_SIZE", threads, 1);

    printf("keywarden DKIM check benchmark (%ld CPUs online)%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), quick ? " [quick]" : "");
    fflush(stdout);
    t0 = now_s();
    snprintf(work, sizeof(work), "%s/kw-bench-dkim", dir);
    proc_rm_rf(work);
    snprintf(path, sizeof(path), "%s/keys", work);
    tp_mkdirs(path);
    for (int k = 0; k < NKEYS; k++) {
        keys[k] = tp_key_rsa(2048);
        txt[k] = dkim_txt(keys[k]);
    }
    for (int i = 0; i < NDOMAINS; i++) {
        domain_name(i, name[i], sizeof(name[i]));
        zones[i].name = name[i];
        zones[i].records = zone_records(i, txt);
        for (int s = 0; s < NSEL; s++) {
            key_path(work, i, s, path, sizeof(path));
            if (tp_write_key(path, keys[file_key(i, s)], 0600) != 0)
                fail("writing a key file");
        }
    }
    /* The harness's first zone is a small one of its own; the thousand
     * domains are its bulk zones. */
    memset(&ko, 0, sizeof(ko));
    ko.zone = "kwbench.example";
    ko.ns2_addr = "127.0.0.2";
    ko.bulk = zones;
    ko.nbulk = NDOMAINS;
    if (kn_primary_start(work, "primary", &ko, &pri) != 0 ||
        kn_secondary_start(work, "secondary", &pri, "127.0.0.2", &sec) != 0 ||
        kn_resolver_start(work, "unbound", &pri, &res) != 0)
        fail("cannot start Knot and unbound");
    t_setup = now_s() - t0;
    printf("setup: %d zones (one per domain) on a Knot primary and a "
           "secondary (AXFR with TSIG), unbound in front; %d RSA-2048 keys "
           "in %d key files: %.1f s\n", NDOMAINS + 1, NKEYS,
           NDOMAINS * NSEL, t_setup);
    fflush(stdout);

    /* keywarden's check: one work item per domain on libuv's pool. */
    snprintf(b.resolver.addr, sizeof(b.resolver.addr), "%s", res.addr);
    b.resolver.port = res.port;
    b.opts.auth_port = pri.port;
    b.opts.timeout_ms = 10000;
    b.opts.ipv4_only = 1;
    if (!no_cache && (b.opts.cache = kw_dns_zone_cache_new(0)) == NULL)
        fail("out of memory");
    b.work = work;
    uv_loop_init(&loop);
    t0 = now_s();
    for (int i = 0; i < NDOMAINS; i++) {
        items[i].w.data = &items[i];
        items[i].b = &b;
        items[i].i = i;
        uv_queue_work(&loop, &items[i].w, check_domain, domain_done);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    t_check = now_s() - t0;
    uv_loop_close(&loop);
    for (int i = 0; i < NDOMAINS; i++) {
        for (int s = 0; s < NSEL; s++) {
            matched += b.match[i][s];
            wrong += b.match[i][s] == planted(i, s);
            agree += b.agree[i][s];
        }
        ts += b.t_survey[i];
        tk += b.t_key[i];
        tspf += b.t_spf[i];
        tdm += b.t_dmarc[i];
        spf_ok += b.spf_ok[i];
        dmarc_ok += b.dmarc_ok[i];
    }
    printf("keywarden: %d domains, %d selectors (survey of the resolver "
           "and both authoritative servers, each answer's record parsed "
           "and its key compared with the key file), SPF walk and DMARC "
           "per domain, libuv pool of %s threads: %.2f s (target < 5 s)\n",
           NDOMAINS, NDOMAINS * NSEL,
           threads[0] ? threads : "4 (default)", t_check);
    printf("  keys match: %d, do not: %d (%d planted); servers agree: "
           "%d/%d; SPF clean: %d (%d lookups each); DMARC p=reject: %d\n",
           matched, NDOMAINS * NSEL - matched, NDOMAINS / MISMATCH_EVERY,
           agree, NDOMAINS * NSEL, spf_ok, b.spf_lookups[0], dmarc_ok);
    printf("  thread time: surveys %.2f s, key files and records %.2f s, "
           "SPF walks %.2f s, DMARC %.2f s\n", ts, tk, tspf, tdm);
    if (b.opts.cache != NULL) {
        long hits, stored;

        kw_dns_zone_cache_stats(b.opts.cache, &hits, &stored);
        printf("  zone cache: %ld surveys took their zone and servers from "
               "it, %ld looked them up\n", hits, stored);
        kw_dns_zone_cache_free(b.opts.cache);
    } else {
        printf("  zone cache off: every survey looked its zone up\n");
    }
    fflush(stdout);

    t_peer = peer(work, &res, sample, &pok, &pmis, &poth, &pwrong);
    printf("peer: opendkim-testkey, one process per selector, one after "
           "another: %d runs in %.1f s (%.1f ms each)", sample, t_peer,
           sample > 0 ? t_peer * 1000 / sample : 0.0);
    if (sample < NDOMAINS * NSEL && sample > 0)
        printf("; scaled to %d selectors: %.1f s (a sample, not measured)",
               NDOMAINS * NSEL, t_peer * NDOMAINS * NSEL / sample);
    printf("\n  key OK: %d, keys do not match: %d, other: %d\n", pok, pmis,
           poth);

    kn_stop(&res);
    kn_stop(&sec);
    kn_stop(&pri);
    proc_rm_rf(work);
    for (int k = 0; k < NKEYS; k++) {
        EVP_PKEY_free(keys[k]);
        free(txt[k]);
    }
    for (int i = 0; i < NDOMAINS; i++)
        free((char *)zones[i].records);
    if (wrong != 0 || agree != NDOMAINS * NSEL || spf_ok != NDOMAINS ||
        dmarc_ok != NDOMAINS || pwrong != 0 || poth != 0) {
        for (int i = 0; i < NDOMAINS; i++)
            if (b.err[i][0] != '\0') {
                fprintf(stderr, "bench_dkim: m%04d.example: %s\n", i,
                        b.err[i]);
                break;
            }
        fail("the check or the peer did not find what the zones hold");
    }
    return 0;
}
