#include "knot.h"

#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KNOTD "/usr/sbin/knotd"
#define KEYMGR "/usr/sbin/keymgr"
#define KNOTC "/usr/sbin/knotc"
#define KNSUPDATE "/usr/bin/knsupdate"
#define UNBOUND "/usr/sbin/unbound"
/* The transfer key's name, in both servers' configurations. */
#define KN_XFR_KEY "kw-xfr"
/* A zone file's fixed part (its records are appended apart). */
#define KN_ZONE_TEXT 1024
#define START_MS 15000

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return -1;
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void print_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (f == NULL)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

/* ----- a raw SOA query, independent of the code under test ----- */

static size_t put_name(uint8_t *b, size_t cap, const char *name)
{
    size_t o = 0;
    const char *p = name;

    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (l == 0 || l > 63 || o + l + 2 > cap)
            return 0;
        b[o++] = (uint8_t)l;
        memcpy(b + o, p, l);
        o += l;
        p += l;
        if (*p == '.')
            p++;
    }
    b[o++] = 0;
    return o;
}

static size_t skip_name(const uint8_t *b, size_t len, size_t pos)
{
    while (pos < len) {
        if ((b[pos] & 0xc0) == 0xc0)
            return pos + 2 <= len ? pos + 2 : 0;
        if (b[pos] == 0)
            return pos + 1;
        pos += (size_t)b[pos] + 1;
    }
    return 0;
}

int kn_ask(const char *addr, int port, const char *name, int qtype, int rd,
           int timeout_ms, uint8_t *r, size_t cap, size_t *rlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    uint8_t q[300];
    uint16_t id;
    size_t ql;
    ssize_t n;
    int fd, rc = -1;
    int64_t end = now_ms() + timeout_ms;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr)) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, addr,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr)) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        return -1;
    }
    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint16_t)now_ms();
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[2] = rd ? 0x01 : 0x00;
    q[5] = 1; /* QDCOUNT */
    ql = put_name(q + 12, sizeof(q) - 16, name);
    if (ql == 0)
        return -1;
    ql += 12;
    q[ql++] = (uint8_t)(qtype >> 8);
    q[ql++] = (uint8_t)qtype;
    q[ql++] = 0;
    q[ql++] = 1; /* IN */

    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 ||
        send(fd, q, ql, 0) != (ssize_t)ql)
        goto out;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - now_ms();

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            goto out;
        n = recv(fd, r, cap, 0);
        if (n < 0)
            goto out; /* ECONNREFUSED: not listening yet */
        if (n >= 12 && r[0] == q[0] && r[1] == q[1] && (r[2] & 0x80))
            break;
    }
    *rlen = (size_t)n;
    rc = 0;
out:
    close(fd);
    return rc;
}

int kn_soa_serial(const char *addr, int port, const char *zone,
                  int timeout_ms, uint32_t *serial)
{
    uint8_t r[4096];
    size_t n, pos;

    if (kn_ask(addr, port, zone, 6, 0, timeout_ms, r, sizeof(r), &n) != 0)
        return -1;
    /* QR, AA, NOERROR, an answer. */
    if (!(r[2] & 0x04) || (r[3] & 0x0f) != 0 || ((r[6] << 8) | r[7]) == 0)
        return -1;
    pos = skip_name(r, n, 12);
    if (pos == 0 || pos + 4 > n)
        return -1;
    pos = skip_name(r, n, pos + 4); /* the answer's owner */
    if (pos == 0 || pos + 10 > n || r[pos] != 0 || r[pos + 1] != 6)
        return -1;
    pos += 10;
    pos = skip_name(r, n, pos); /* MNAME */
    if (pos != 0)
        pos = skip_name(r, n, pos); /* RNAME */
    if (pos == 0 || pos + 4 > n)
        return -1;
    *serial = ((uint32_t)r[pos] << 24) | ((uint32_t)r[pos + 1] << 16) |
              ((uint32_t)r[pos + 2] << 8) | r[pos + 3];
    return 0;
}

int kn_wait_serial(const char *addr, int port, const char *zone,
                   uint32_t min, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;

    do {
        uint32_t s;

        if (kn_soa_serial(addr, port, zone, 200, &s) == 0 && s >= min)
            return 0;
        poll(NULL, 0, 20);
    } while (now_ms() < end);
    return -1;
}

int kn_free_port(const char *addr)
{
    int tries;

    for (tries = 0; tries < 100; tries++) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        int t = socket(AF_INET, SOCK_STREAM, 0), u, port, ok;

        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        inet_pton(AF_INET, addr, &a.sin_addr);
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            getsockname(t, (struct sockaddr *)&a, &len) != 0)
            abort();
        port = ntohs(a.sin_port);
        u = socket(AF_INET, SOCK_DGRAM, 0);
        ok = u >= 0 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(u);
        close(t);
        if (ok)
            return port;
    }
    abort();
}

/* ----- processes ----- */

/* Runs prog -c conf [extra] in the foreground, output into log. */
static pid_t spawn_daemon(const char *prog, const char *conf,
                          const char *extra, const char *log)
{
    char *argv[] = {(char *)prog, (char *)"-c", (char *)conf, (char *)extra,
                    NULL};
    pid_t pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return -1;
    pid = proc_fork_tied();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);

        if (nul >= 0)
            dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd);
    return pid;
}

void kn_stop(knot *k)
{
    if (k == NULL || k->pid <= 0)
        return;
    if (kill(k->pid, SIGTERM) == 0 && proc_wait(k->pid, 5000) == -1) {
        kill(k->pid, SIGKILL);
        proc_wait(k->pid, 5000);
    } else {
        waitpid(k->pid, NULL, WNOHANG);
    }
    k->pid = 0;
}

/* Wait until k serves its zone with serial >= min, or its process dies. */
static int wait_ready(knot *k, uint32_t min)
{
    int64_t end = now_ms() + START_MS;

    do {
        uint32_t s;
        int status;

        if (kn_soa_serial(k->addr, k->port, k->zone, 200, &s) == 0 &&
            s >= min)
            return 0;
        if (waitpid(k->pid, &status, WNOHANG) == k->pid) {
            fprintf(stderr, "knot: knotd (%s) exited at start\n", k->conf);
            k->pid = 0;
            print_log(k->log);
            return -1;
        }
        poll(NULL, 0, 20);
    } while (now_ms() < end);
    fprintf(stderr, "knot: %s@%d does not serve %s after %d ms\n", k->addr,
            k->port, k->zone, START_MS);
    print_log(k->log);
    kn_stop(k);
    return -1;
}

static int make_dirs(const char *dir, const char *name, knot *k)
{
    static const char *const subs[] = {"run", "db", "zones"};
    char p[KN_PATH + 16];
    size_t i;

    if ((size_t)snprintf(k->dir, sizeof(k->dir), "%s/%s", dir, name) >=
        sizeof(k->dir))
        return -1;
    if (mkdir(k->dir, 0700) != 0 && errno != EEXIST)
        return -1;
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", k->dir, subs[i]);
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
    }
    snprintf(k->conf, sizeof(k->conf), "%s/knot.conf", k->dir);
    snprintf(k->log, sizeof(k->log), "%s/knotd.log", k->dir);
    return 0;
}

/* keymgr -t NAME ALG prints "key: - id: NAME algorithm: ALG secret: B64". */
static int make_key(const char *name, const char *alg, char *secret,
                    size_t cap)
{
    char *argv[] = {(char *)KEYMGR, (char *)"-t", (char *)name, (char *)alg,
                    NULL};
    char *out = NULL, *err = NULL, *s;
    int ofd, efd, rc = -1;
    pid_t pid;
    size_t n;

    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &out, &err);
    if (proc_wait(pid, 10000) != 0) {
        fprintf(stderr, "knot: keymgr -t failed: %s\n", err);
        goto out;
    }
    s = strstr(out, "secret: ");
    if (s == NULL)
        goto out;
    s += 8;
    n = strcspn(s, " \r\n");
    if (n == 0 || n >= cap)
        goto out;
    memcpy(secret, s, n);
    secret[n] = '\0';
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "knot: no secret in keymgr's output: %s\n", out);
    free(out);
    free(err);
    return rc;
}

static const char *rr_type(const char *addr)
{
    return strchr(addr, ':') != NULL ? "AAAA" : "A";
}

/* Writes dir/zones/ZONE.zone: SOA, NS ns1 (and ns2), their addresses,
 * then records. */
static int write_zone(const knot *k, const char *zone, const char *ns2,
                      const char *ns2_6, const char *records, int neg)
{
    char text[KN_ZONE_TEXT], path[KN_PATH + 300];
    size_t zl;
    int rc;

    zl = (size_t)snprintf(text, sizeof(text),
        "$ORIGIN %s.\n"
        "$TTL 60\n"
        "@   %d IN SOA ns1 hostmaster 1 3600 600 86400 %d\n"
        "@   IN NS  ns1\n"
        "ns1 IN %s %s\n",
        zone, neg, neg, rr_type(k->addr), k->addr);
    if (ns2 != NULL && zl < sizeof(text))
        zl += (size_t)snprintf(text + zl, sizeof(text) - zl,
            "@   IN NS  ns2\n"
            "ns2 IN %s %s\n", rr_type(ns2), ns2);
    if (ns2 != NULL && ns2_6 != NULL && zl < sizeof(text))
        zl += (size_t)snprintf(text + zl, sizeof(text) - zl,
            "ns2 IN AAAA %s\n", ns2_6);
    if (zl >= sizeof(text))
        return -1;
    snprintf(path, sizeof(path), "%s/zones/%s.zone", k->dir, zone);
    if (write_file(path, text) != 0)
        return -1;
    if (records == NULL)
        return 0;
    /* Records may be large (a 64 KiB TXT RRset): appended as given. */
    {
        FILE *f = fopen(path, "a");

        if (f == NULL)
            return -1;
        rc = fputs(records, f) >= 0 && fputs("\n", f) >= 0 ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    return rc;
}

/* k's zones: the few it keeps, then the caller's bulk ones. */
static int zone_count(const knot *k)
{
    return k->nzones + k->nbulk;
}

static const char *zone_at(const knot *k, int i)
{
    return i < k->nzones ? k->zones[i] : k->bulk[i - k->nzones].name;
}

/* A configuration buffer: the fixed part plus room for each zone's
 * entry (a path and a name or two).  NULL when out of memory. */
static char *conf_alloc(const knot *k, size_t *cap)
{
    *cap = 8192 + (size_t)zone_count(k) * (2 * KN_PATH + 600);
    return malloc(*cap);
}

/* "zone:" entries for k's zones, each with the given extra lines. */
static size_t zone_conf(const knot *k, char *conf, size_t cap, size_t cl,
                        const char *extra)
{
    int i;

    if (cl < cap)
        cl += (size_t)snprintf(conf + cl, cap - cl, "zone:\n");
    for (i = 0; i < zone_count(k) && cl < cap; i++)
        cl += (size_t)snprintf(conf + cl, cap - cl,
            "  - domain: %s\n"
            "    storage: \"%s/zones\"\n"
            "    file: \"%s.zone\"\n"
            "%s",
            zone_at(k, i), k->dir, zone_at(k, i), extra);
    return cl;
}

/* Wait until k serves every zone with serial >= min, or its process
 * dies. */
static int wait_zones(knot *k, uint32_t min)
{
    int i;

    for (i = 0; i < zone_count(k); i++) {
        snprintf(k->zone, sizeof(k->zone), "%s", zone_at(k, i));
        if (wait_ready(k, min) != 0)
            return -1;
    }
    memcpy(k->zone, k->zones[0], sizeof(k->zone));
    return 0;
}

/* Writes conf (cl octets used of cap) to k->conf, frees it, and starts
 * knotd on it.  0 or -1. */
static int conf_start(knot *k, char *conf, size_t cl, size_t cap)
{
    int rc = cl < cap ? write_file(k->conf, conf) : -1;

    free(conf);
    if (rc != 0)
        return -1;
    k->pid = spawn_daemon(KNOTD, k->conf, NULL, k->log);
    return k->pid < 0 ? -1 : 0;
}

int kn_primary_start(const char *dir, const char *name, const kn_opts *o,
                     knot *k)
{
    static const kn_opts none;
    char *conf;
    size_t cl, cap;
    int i, neg;

    if (o == NULL)
        o = &none;
    memset(k, 0, sizeof(*k));
    snprintf(k->zone, sizeof(k->zone), "%s", o->zone ? o->zone
                                                      : "example.com");
    snprintf(k->addr, sizeof(k->addr), "%s", o->addr ? o->addr
                                                      : "127.0.0.1");
    k->port = o->port > 0 ? o->port : kn_free_port(k->addr);
    snprintf(k->key_name, sizeof(k->key_name), "%s",
             o->key_name ? o->key_name : "kw-test-key");
    snprintf(k->key_alg, sizeof(k->key_alg), "%s",
             o->key_alg ? o->key_alg : "hmac-sha256");
    if (o->nmore < 0 || o->nmore >= KN_ZONES_MAX)
        return -1;
    memcpy(k->zones[0], k->zone, sizeof(k->zone));
    for (i = 0; i < o->nmore; i++)
        snprintf(k->zones[i + 1], sizeof(k->zones[0]), "%s",
                 o->more[i].name);
    k->nzones = 1 + o->nmore;
    if (o->nbulk < 0 || (o->nbulk > 0 && o->bulk == NULL))
        return -1;
    k->bulk = o->bulk;
    k->nbulk = o->nbulk;
    if (access(KNOTD, X_OK) != 0) {
        fprintf(stderr, "knot: %s missing (apt-get install knot)\n", KNOTD);
        return -1;
    }
    if (make_dirs(dir, name, k) != 0 ||
        make_key(k->key_name, k->key_alg, k->key_secret,
                 sizeof(k->key_secret)) != 0)
        return -1;
    if (o->ns2_addr != NULL &&
        make_key(KN_XFR_KEY, k->key_alg, k->xfr_secret,
                 sizeof(k->xfr_secret)) != 0)
        return -1;
    if (o->ns2_addr6 != NULL)
        snprintf(k->ns2_addr6, sizeof(k->ns2_addr6), "%s", o->ns2_addr6);
    neg = o->neg_ttl > 0 ? o->neg_ttl : 60;
    if (write_zone(k, k->zone, o->ns2_addr, o->ns2_addr6, o->records,
                   neg) != 0)
        return -1;
    for (i = 0; i < o->nmore; i++)
        if (write_zone(k, o->more[i].name, o->ns2_addr, o->ns2_addr6,
                       o->more[i].records, neg) != 0)
            return -1;
    for (i = 0; i < o->nbulk; i++)
        if (write_zone(k, o->bulk[i].name, o->ns2_addr, o->ns2_addr6,
                       o->bulk[i].records, neg) != 0)
            return -1;

    if ((conf = conf_alloc(k, &cap)) == NULL)
        return -1;
    cl = (size_t)snprintf(conf, cap,
        "server:\n"
        "    rundir: \"%s/run\"\n"
        "    listen: %s@%d\n"
        "    udp-workers: 1\n"
        "    tcp-workers: 1\n"
        "    background-workers: 1\n"
        "log:\n"
        "  - target: stderr\n"
        "    any: info\n"
        "database:\n"
        "    storage: \"%s/db\"\n"
        "key:\n"
        "  - id: %s\n"
        "    algorithm: %s\n"
        "    secret: %s\n",
        k->dir, k->addr, k->port, k->dir, k->key_name, k->key_alg,
        k->key_secret);
    if (o->ns2_addr != NULL && cl < cap)
        cl += (size_t)snprintf(conf + cl, cap - cl,
            "  - id: %s\n"
            "    algorithm: %s\n"
            "    secret: %s\n"
            "remote:\n"
            "  - id: secondary\n"
            "    address: %s@%d\n"
            "    key: %s\n"
            "acl:\n"
            "  - id: transfer_by_key\n"
            "    key: %s\n"
            "    action: transfer\n",
            KN_XFR_KEY, k->key_alg, k->xfr_secret, o->ns2_addr, k->port,
            KN_XFR_KEY, KN_XFR_KEY);
    else if (cl < cap)
        cl += (size_t)snprintf(conf + cl, cap - cl, "acl:\n");
    if (cl < cap)
        cl += (size_t)snprintf(conf + cl, cap - cl,
            "  - id: update_by_key\n"
            "    key: %s\n"
            "    action: update\n", k->key_name);
    cl = zone_conf(k, conf, cap, cl,
                   o->ns2_addr != NULL
                       ? (o->sign ? "    acl: [update_by_key, "
                                    "transfer_by_key]\n"
                                    "    notify: secondary\n"
                                    "    dnssec-signing: on\n"
                                  : "    acl: [update_by_key, "
                                    "transfer_by_key]\n"
                                    "    notify: secondary\n")
                       : (o->sign ? "    acl: update_by_key\n"
                                    "    dnssec-signing: on\n"
                                  : "    acl: update_by_key\n"));
    if (conf_start(k, conf, cl, cap) != 0)
        return -1;
    return wait_zones(k, 1);
}

int kn_secondary_start(const char *dir, const char *name,
                       const knot *primary, const char *addr, knot *k)
{
    char *conf, listen[160];
    uint32_t serial = 0, s;
    size_t cl, cap;
    int i;

    memset(k, 0, sizeof(*k));
    snprintf(k->zone, sizeof(k->zone), "%s", primary->zone);
    memcpy(k->zones, primary->zones, sizeof(k->zones));
    k->nzones = primary->nzones;
    k->bulk = primary->bulk;
    k->nbulk = primary->nbulk;
    snprintf(k->addr, sizeof(k->addr), "%s", addr);
    k->port = primary->port;
    snprintf(k->key_alg, sizeof(k->key_alg), "%s", primary->key_alg);
    memcpy(k->xfr_secret, primary->xfr_secret, sizeof(k->xfr_secret));
    if (k->xfr_secret[0] == '\0') {
        fprintf(stderr, "knot: the primary was started without ns2_addr\n");
        return -1;
    }
    /* The lowest serial among the zones: every zone must reach its own,
     * and all start at 1 unless a test updated one already. */
    for (i = 0; i < zone_count(primary); i++) {
        if (kn_soa_serial(primary->addr, primary->port, zone_at(primary, i),
                          2000, &s) != 0) {
            fprintf(stderr, "knot: the primary does not answer SOA for "
                    "%s\n", zone_at(primary, i));
            return -1;
        }
        if (i == 0 || s < serial)
            serial = s;
    }
    if (make_dirs(dir, name, k) != 0)
        return -1;
    if (primary->ns2_addr6[0] != '\0')
        snprintf(listen, sizeof(listen), "[%s@%d, %s@%d]", k->addr, k->port,
                 primary->ns2_addr6, k->port);
    else
        snprintf(listen, sizeof(listen), "%s@%d", k->addr, k->port);
    if ((conf = conf_alloc(k, &cap)) == NULL)
        return -1;
    cl = (size_t)snprintf(conf, cap,
        "server:\n"
        "    rundir: \"%s/run\"\n"
        "    listen: %s\n"
        "    udp-workers: 1\n"
        "    tcp-workers: 1\n"
        "    background-workers: 1\n"
        "log:\n"
        "  - target: stderr\n"
        "    any: info\n"
        "database:\n"
        "    storage: \"%s/db\"\n"
        "key:\n"
        "  - id: %s\n"
        "    algorithm: %s\n"
        "    secret: %s\n"
        "remote:\n"
        "  - id: primary\n"
        "    address: %s@%d\n"
        "    key: %s\n"
        "acl:\n"
        "  - id: notify_by_key\n"
        "    key: %s\n"
        "    action: notify\n",
        k->dir, listen, k->dir, KN_XFR_KEY, k->key_alg,
        k->xfr_secret, primary->addr, primary->port, KN_XFR_KEY,
        KN_XFR_KEY);
    cl = zone_conf(k, conf, cap, cl,
                   "    master: primary\n"
                   "    acl: notify_by_key\n");
    if (conf_start(k, conf, cl, cap) != 0)
        return -1;
    return wait_zones(k, serial);
}

/* Runs argv, its output shown when it fails; the exit code or -1. */
static int run_tool(char *const argv[], int timeout_ms)
{
    char *out = NULL, *err = NULL;
    int ofd, efd, rc;
    pid_t pid;

    pid = proc_spawn_pipes(argv, &ofd, &efd);
    if (pid < 0)
        return -1;
    proc_drain(ofd, efd, &out, &err);
    rc = proc_wait(pid, timeout_ms);
    if (rc != 0)
        fprintf(stderr, "knot: %s %s failed (%d): %s%s\n", argv[0],
                argv[3] != NULL ? argv[3] : "", rc, out ? out : "",
                err ? err : "");
    free(out);
    free(err);
    return rc;
}

int kn_knotc(const knot *k, const char *cmd, const char *zone)
{
    char *argv[] = {(char *)KNOTC, (char *)"-c", (char *)k->conf,
                    (char *)"-t", (char *)"10", (char *)cmd, (char *)zone,
                    NULL};

    if (k->pid <= 0)
        return -1;
    return run_tool(argv, 15000);
}

int kn_update(const knot *k, const char *zone, const char *lines)
{
    char path[KN_PATH + 32], key[300], *text;
    char *argv[] = {(char *)KNSUPDATE, (char *)"-y", key, path, NULL};
    size_t cap;
    int rc;

    if (zone == NULL)
        zone = k->zone;
    cap = strlen(lines) + 1024;
    text = malloc(cap);
    if (text == NULL)
        return -1;
    snprintf(text, cap, "server %s %d\nzone %s.\n%s%ssend\n", k->addr,
             k->port, zone, lines,
             lines[0] && lines[strlen(lines) - 1] == '\n' ? "" : "\n");
    snprintf(key, sizeof(key), "%s:%s:%s", k->key_alg, k->key_name,
             k->key_secret);
    snprintf(path, sizeof(path), "%s/update.txt", k->dir);
    rc = write_file(path, text);
    free(text);
    if (rc != 0)
        return -1;
    return run_tool(argv, 15000) == 0 ? 0 : -1;
}

/* ----- servers that do not answer, or answer garbage ----- */

static void fake_loop(int fd, kn_fake_mode mode)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        uint8_t q[512], r[600];
        ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
                             &fl);
        size_t qend;

        if (n < 12 || mode == KN_FAKE_SILENT)
            continue;
        /* The header and question, echoed so the answer is taken as
         * ours; ANCOUNT 1; then a record cut off after its owner. */
        qend = skip_name(q, (size_t)n, 12);
        if (qend == 0 || qend + 4 > (size_t)n)
            continue;
        qend += 4;
        memcpy(r, q, qend);
        r[2] = (uint8_t)(0x80 | (q[2] & 0x79)) | 0x04; /* QR, AA, RD kept */
        r[3] = 0;
        r[4] = 0;
        r[5] = 1;
        r[6] = 0;
        r[7] = 1;
        memset(r + 8, 0, 4);
        if (mode == KN_FAKE_LAME) {
            r[2] &= (uint8_t)~0x04; /* no authority, no records */
            r[7] = 0;
            sendto(fd, r, qend, 0, (struct sockaddr *)&from, fl);
            continue;
        }
        memcpy(r + qend, "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\xff"
               "\x07garbage", 20);
        sendto(fd, r, qend + 20, 0, (struct sockaddr *)&from, fl);
    }
}

int kn_fake_start(const char *addr, int port, kn_fake_mode mode,
                  kn_fake *f)
{
    struct sockaddr_in a;
    int fd;

    memset(f, 0, sizeof(*f));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "knot: fake server on %s@%d: %s\n", addr, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    f->pid = proc_fork_tied();
    if (f->pid == 0) {
        fake_loop(fd, mode);
        _exit(0);
    }
    close(fd);
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    f->port = port;
    return 0;
}

void kn_fake_stop(kn_fake *f)
{
    if (f == NULL || f->pid <= 0)
        return;
    kill(f->pid, SIGKILL);
    proc_wait(f->pid, 5000);
    f->pid = 0;
}

/* ----- a recursive resolver in front of the primary ----- */

int kn_resolver_start(const char *dir, const char *name,
                      const knot *primary, knot *u)
{
    char *conf;
    uint8_t r[4096];
    size_t cl, n, cap;
    int64_t end;
    int i, rc;

    memset(u, 0, sizeof(*u));
    snprintf(u->addr, sizeof(u->addr), "%s", primary->addr);
    u->port = kn_free_port(u->addr);
    memcpy(u->zones, primary->zones, sizeof(u->zones));
    u->nzones = primary->nzones;
    u->bulk = primary->bulk;
    u->nbulk = primary->nbulk;
    memcpy(u->zone, primary->zone, sizeof(u->zone));
    if (access(UNBOUND, X_OK) != 0) {
        fprintf(stderr, "knot: %s missing (apt-get install unbound)\n",
                UNBOUND);
        return -1;
    }
    if (make_dirs(dir, name, u) != 0)
        return -1;
    /* Iterator only (nothing to validate), no cache beyond a second so
     * a test sees changes, every zone sent to the primary (unbound's
     * stub-zone directive: an authoritative server asked directly). */
    if ((conf = conf_alloc(u, &cap)) == NULL)
        return -1;
    cl = (size_t)snprintf(conf, cap,
        "server:\n"
        "    interface: %s@%d\n"
        "    port: %d\n"
        "    access-control: 127.0.0.0/8 allow\n"
        "    do-not-query-localhost: no\n"
        "    username: \"\"\n"
        "    chroot: \"\"\n"
        "    directory: \"%s\"\n"
        "    pidfile: \"%s/run/unbound.pid\"\n"
        "    use-syslog: no\n"
        "    logfile: \"\"\n"
        "    module-config: \"iterator\"\n"
        "    qname-minimisation: no\n"
        "    cache-max-ttl: 1\n"
        "    cache-max-negative-ttl: 1\n"
        "    num-threads: 1\n"
        "remote-control:\n"
        "    control-enable: no\n",
        u->addr, u->port, u->port, u->dir, u->dir);
    for (i = 0; i < zone_count(primary) && cl < cap; i++)
        cl += (size_t)snprintf(conf + cl, cap - cl,
            "stub-zone:\n"
            "    name: \"%s\"\n"
            "    stub-addr: %s@%d\n",
            zone_at(primary, i), primary->addr, primary->port);
    rc = cl < cap ? write_file(u->conf, conf) : -1;
    free(conf);
    if (rc != 0)
        return -1;
    u->pid = spawn_daemon(UNBOUND, u->conf, "-d", u->log);
    if (u->pid < 0)
        return -1;
    /* Ready when it resolves the first zone's SOA (NOERROR, an answer,
     * recursion available). */
    end = now_ms() + START_MS;
    do {
        int status;

        if (kn_ask(u->addr, u->port, u->zone, 6, 1, 200, r, sizeof(r),
                   &n) == 0 &&
            (r[3] & 0x8f) == 0x80 && ((r[6] << 8) | r[7]) > 0)
            return 0;
        if (waitpid(u->pid, &status, WNOHANG) == u->pid) {
            fprintf(stderr, "knot: unbound (%s) exited at start\n",
                    u->conf);
            u->pid = 0;
            print_log(u->log);
            return -1;
        }
        poll(NULL, 0, 20);
    } while (now_ms() < end);
    fprintf(stderr, "knot: unbound %s@%d does not resolve %s\n", u->addr,
            u->port, u->zone);
    print_log(u->log);
    kn_stop(u);
    return -1;
}

int kn_pair_start(const char *dir, knot *primary, knot *secondary)
{
    kn_opts o;

    memset(&o, 0, sizeof(o));
    o.ns2_addr = "127.0.0.2";
    if (kn_primary_start(dir, "primary", &o, primary) != 0)
        return -1;
    return kn_secondary_start(dir, "secondary", primary, "127.0.0.2",
                              secondary);
}
