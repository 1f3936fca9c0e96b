/*
 * dns_net.c: moving DNS messages with bounded waits.
 *
 * UDP: one connected socket (so only the server's address and port can
 * answer), the query resent after 1, 2, then every 4 seconds, and every
 * datagram whose ID, QR bit or question does not match ignored, so a late
 * or stray answer cannot be taken for ours.  TCP: a non-blocking connect
 * and a length-prefixed exchange, each step polled against the deadline.
 */
#include "dns_net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t dnsn_now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

uint16_t dnsn_random_id(void)
{
    uint16_t id = 0;

    /* A predictable ID would make spoofing an answer easy; getrandom
     * without flags only blocks before the pool is first seeded. */
    while (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        if (errno != EINTR)
            abort();
    }
    return id;
}

void dnsn_server_str(const kw_dns_server *s, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    if (s == NULL) {
        snprintf(buf, cap, "(no server)");
        return;
    }
    if (memchr(s->addr, ':', strnlen(s->addr, sizeof(s->addr))) != NULL)
        snprintf(buf, cap, "[%.*s]:%d", (int)sizeof(s->addr), s->addr,
                 s->port);
    else
        snprintf(buf, cap, "%.*s:%d", (int)sizeof(s->addr), s->addr,
                 s->port);
}

static int to_sockaddr(const kw_dns_server *srv, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    char addr[sizeof(srv->addr)];

    memset(ss, 0, sizeof(*ss));
    if (memchr(srv->addr, '\0', sizeof(srv->addr)) == NULL ||
        srv->port < 1 || srv->port > 65535)
        return KW_EINVAL;
    memcpy(addr, srv->addr, sizeof(addr));
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)srv->port);
            *len = sizeof(*a4);
            return 0;
        }
        if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)srv->port);
            *len = sizeof(*a6);
            return 0;
        }
    }
    return KW_EINVAL;
}

int kw_dns_reachable(const kw_dns_server *srv, kw_diag *d)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    char who[96];
    int fd, err = 0;

    dnsn_server_str(srv, who, sizeof(who));
    if (to_sockaddr(srv, &ss, &sslen) != 0)
        return kw_diag_set(d, KW_EINVAL, "%s: not an IP address and port",
                           who);
    /* A UDP connect() sends nothing: it only asks the kernel for a route
     * and a source address, which is what a query would need. */
    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        err = errno;
    else if (connect(fd, (struct sockaddr *)&ss, sslen) != 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    if (err == 0)
        return 0;
    if (err == ENETUNREACH || err == EHOSTUNREACH || err == EADDRNOTAVAIL ||
        err == EAFNOSUPPORT)
        return kw_diag_set(d, -ENETUNREACH, "%s: no %s route from this "
                           "host (%s)", who,
                           ss.ss_family == AF_INET6 ? "IPv6" : "IPv4",
                           strerror(err));
    return kw_diag_set(d, -err, "%s: %s", who, strerror(err));
}

/* Length of the question section of q (header excluded), or 0. */
static size_t question_len(const uint8_t *q, size_t qlen)
{
    size_t pos = 12;

    if (qlen < 12 || ((q[4] << 8) | q[5]) != 1)
        return 0;
    while (pos < qlen && q[pos] != 0) {
        if (q[pos] > 63)
            return 0;
        pos += (size_t)q[pos] + 1;
    }
    pos += 1 + 4;
    return pos <= qlen ? pos - 12 : 0;
}

/* Is r (rlen octets) the answer to q?  0: yes; 1: not ours; -1: ours but
 * too short to be a message. */
int dnsn_matches(const uint8_t *q, size_t qlen, const uint8_t *r,
                 size_t rlen)
{
    size_t ql = question_len(q, qlen), i;
    int rcode;

    if (rlen < 12 || qlen < 12)
        return 1;
    if (r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80) ||
        (r[2] & 0x78) != (q[2] & 0x78))
        return 1;
    rcode = r[3] & 0x0f;
    /* Some servers drop the question from error answers. */
    if (((r[4] << 8) | r[5]) == 0)
        return rcode != 0 ? 0 : 1;
    if (ql == 0 || rlen < 12 + ql)
        return 1;
    for (i = 12; i < 12 + ql; i++)
        if (tolower(q[i]) != tolower(r[i]))
            return 1;
    return 0;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - dnsn_now_ms();
        struct pollfd p = {fd, events, 0};
        int r;

        if (left <= 0)
            return 0;
        r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int exchange_udp(const char *who,
                        const struct sockaddr_storage *ss, socklen_t sslen,
                        const uint8_t *q, size_t qlen, int64_t deadline,
                        uint8_t *reply, size_t *rlen, kw_diag *d)
{
    int64_t start = dnsn_now_ms(), next = start, gap = 1000;
    int fd, rc = KW_ETIMEDOUT, sent = 0;

    fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot open a UDP socket: %s",
                           who, strerror(errno));
    if (connect(fd, (const struct sockaddr *)ss, sslen) != 0) {
        rc = kw_errno();
        kw_diag_set(d, rc, "%s: UDP: %s", who, strerror(errno));
        goto out;
    }
    for (;;) {
        int64_t now = dnsn_now_ms(), until;
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;
        int r;

        if (now >= deadline)
            break;
        if (now >= next) {
            if (send(fd, q, qlen, 0) < 0 && errno != EINTR) {
                if (errno == ECONNREFUSED)
                    goto refused;
                rc = kw_errno();
                kw_diag_set(d, rc, "%s: UDP send: %s", who, strerror(errno));
                goto out;
            }
            sent++;
            next = now + gap;
            if (gap < 4000)
                gap *= 2;
        }
        until = next < deadline ? next : deadline;
        r = poll(&p, 1, (int)(until - now));
        if (r < 0 && errno != EINTR) {
            rc = kw_errno();
            kw_diag_set(d, rc, "%s: poll: %s", who, strerror(errno));
            goto out;
        }
        if (r <= 0)
            continue;
        n = recv(fd, reply, DNSN_MSG_MAX, 0);
        if (n < 0) {
            if (errno == ECONNREFUSED)
                goto refused;
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = kw_errno();
            kw_diag_set(d, rc, "%s: UDP receive: %s", who, strerror(errno));
            goto out;
        }
        if (dnsn_matches(q, qlen, reply, (size_t)n) == 0) {
            *rlen = (size_t)n;
            rc = 0;
            goto out;
        }
        /* Not our answer (a late reply to an earlier query, or forged):
         * keep waiting for the real one. */
    }
    kw_diag_set(d, KW_ETIMEDOUT,
                "%s: no answer within %lld ms (UDP, %d %s)", who,
                (long long)(dnsn_now_ms() - start), sent,
                sent == 1 ? "try" : "tries");
    rc = KW_ETIMEDOUT;
    goto out;
refused:
    rc = -ECONNREFUSED;
    kw_diag_set(d, rc, "%s: nothing listens there (UDP port unreachable)",
                who);
out:
    close(fd);
    return rc;
}

static int exchange_tcp(const char *who, const struct sockaddr_storage *ss,
                        socklen_t sslen, const uint8_t *q, size_t qlen,
                        int64_t deadline, uint8_t *reply, size_t *rlen,
                        kw_diag *d)
{
    int64_t start = dnsn_now_ms();
    uint8_t hdr[2];
    size_t want, got;
    int fd, rc, err = 0, w, hdr_done;
    socklen_t elen = sizeof(err);
    const char *step = "connect";

    if (qlen > DNSN_MSG_MAX)
        return kw_diag_set(d, KW_ETOOBIG, "%s: message too large", who);
    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot open a TCP socket: %s",
                           who, strerror(errno));
    if (connect(fd, (const struct sockaddr *)ss, sslen) != 0) {
        if (errno != EINPROGRESS) {
            err = errno;
            goto sockerr;
        }
        w = wait_fd(fd, POLLOUT, deadline);
        if (w == 0)
            goto timeout;
        if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
        if (err != 0)
            goto sockerr;
    }

    step = "send";
    {
        uint8_t len2[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
        const uint8_t *parts[2] = {len2, q};
        size_t sizes[2] = {2, qlen}, i;

        for (i = 0; i < 2; i++) {
            size_t off = 0;

            while (off < sizes[i]) {
                ssize_t n = send(fd, parts[i] + off, sizes[i] - off,
                                 MSG_NOSIGNAL);
                if (n > 0) {
                    off += (size_t)n;
                    continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    err = errno;
                    goto sockerr;
                }
                w = wait_fd(fd, POLLOUT, deadline);
                if (w == 0)
                    goto timeout;
                if (w < 0) {
                    err = errno;
                    goto sockerr;
                }
            }
        }
    }

    /* The 2-octet length, then the message; the length bounds the read
     * (DNSN_MSG_MAX is the largest a 16-bit length can say). */
    step = "receive";
    want = 2;
    got = 0;
    hdr_done = 0;
    for (;;) {
        uint8_t *dst = hdr_done ? reply + got : hdr + got;
        ssize_t n = recv(fd, dst, want - got, 0);

        if (n > 0) {
            got += (size_t)n;
            if (got < want)
                continue;
            if (hdr_done)
                break;
            hdr_done = 1;
            want = ((size_t)hdr[0] << 8) | hdr[1];
            got = 0;
            if (want < 12) {
                rc = KW_EPARSE;
                kw_diag_set(d, rc, "%s: TCP answer of %zu octets is too "
                            "short to be DNS", who, want);
                goto out;
            }
            continue;
        }
        if (n == 0) {
            rc = KW_EIO;
            kw_diag_set(d, rc, "%s: the server closed the TCP connection "
                        "without a complete answer", who);
            goto out;
        }
        if (errno != EAGAIN && errno != EINTR) {
            err = errno;
            goto sockerr;
        }
        w = wait_fd(fd, POLLIN, deadline);
        if (w == 0)
            goto timeout;
        if (w < 0) {
            err = errno;
            goto sockerr;
        }
    }
    if (dnsn_matches(q, qlen, reply, want) != 0) {
        rc = KW_EPARSE;
        kw_diag_set(d, rc, "%s: the TCP answer does not match the query "
                    "(ID or question differs)", who);
        goto out;
    }
    *rlen = want;
    rc = 0;
    goto out;

timeout:
    rc = KW_ETIMEDOUT;
    kw_diag_set(d, rc, "%s: no answer within %lld ms (TCP %s)", who,
                (long long)(dnsn_now_ms() - start), step);
    goto out;
sockerr:
    if (err == ECONNREFUSED) {
        rc = -ECONNREFUSED;
        kw_diag_set(d, rc, "%s: nothing listens there (TCP connection "
                    "refused)", who);
    } else {
        rc = err > 0 ? -err : KW_EIO;
        kw_diag_set(d, rc, "%s: TCP %s: %s", who, step, strerror(err));
    }
out:
    close(fd);
    return rc;
}

int dnsn_exchange(const kw_dns_server *srv, const uint8_t *q, size_t qlen,
                  int tcp, int64_t deadline, uint8_t *reply, size_t *rlen,
                  kw_diag *d)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    char who[96];

    *rlen = 0;
    dnsn_server_str(srv, who, sizeof(who));
    if (to_sockaddr(srv, &ss, &sslen) != 0)
        return kw_diag_set(d, KW_EINVAL, "%s: not an IP address and port",
                           who);
    if (tcp)
        return exchange_tcp(who, &ss, sslen, q, qlen, deadline, reply, rlen,
                            d);
    return exchange_udp(who, &ss, sslen, q, qlen, deadline, reply, rlen, d);
}

int dnsn_send(const kw_dns_server *srv, const ldns_pkt *query,
              int64_t deadline, ldns_pkt **out, uint8_t **wire,
              size_t *wlen, kw_diag *d)
{
    uint8_t *q = NULL, *r = NULL;
    size_t qlen = 0, rlen = 0;
    ldns_pkt *p = NULL;
    char who[96];
    int rc, tcp;

    *out = NULL;
    if (wire != NULL) {
        *wire = NULL;
        *wlen = 0;
    }
    dnsn_server_str(srv, who, sizeof(who));
    if (ldns_pkt2wire(&q, query, &qlen) != LDNS_STATUS_OK)
        return kw_diag_set(d, KW_ENOMEM, "%s: cannot build the query", who);
    r = malloc(DNSN_MSG_MAX);
    if (r == NULL) {
        rc = kw_diag_set(d, KW_ENOMEM, "out of memory");
        goto out;
    }
    tcp = qlen > DNSN_UDP_MAX;
    rc = dnsn_exchange(srv, q, qlen, tcp, deadline, r, &rlen, d);
    if (rc == 0 && !tcp && (r[2] & 0x02)) {
        /* Truncated: the whole answer only comes over TCP. */
        rc = dnsn_exchange(srv, q, qlen, 1, deadline, r, &rlen, d);
    }
    if (rc != 0)
        goto out;
    if (ldns_wire2pkt(&p, r, rlen) != LDNS_STATUS_OK) {
        rc = kw_diag_set(d, KW_EPARSE, "%s: the answer is not a valid DNS "
                         "message (%zu octets)", who, rlen);
        goto out;
    }
    *out = p;
    if (wire != NULL) {
        *wire = r;
        *wlen = rlen;
        r = NULL;
    }
out:
    free(r);
    free(q);  /* ldns allocates with malloc (LDNS_XMALLOC) */
    return rc;
}

int dnsn_query(const kw_dns_server *srv, const char *name, ldns_rr_type type,
               int rd, int64_t deadline, ldns_pkt **out, kw_diag *d)
{
    return dnsn_query_wire(srv, name, type, rd, deadline, out, NULL, NULL,
                           d);
}

int dnsn_query_wire(const kw_dns_server *srv, const char *name,
                    ldns_rr_type type, int rd, int64_t deadline,
                    ldns_pkt **out, uint8_t **wire, size_t *wlen, kw_diag *d)
{
    ldns_rdf *qname;
    ldns_pkt *q;
    int rc;

    *out = NULL;
    qname = ldns_dname_new_frm_str(name);
    if (qname == NULL)
        return kw_diag_set(d, KW_EINVAL, "%s: not a DNS name", name);
    q = ldns_pkt_query_new(qname, type, LDNS_RR_CLASS_IN,
                           rd ? LDNS_RD : 0);
    if (q == NULL) {
        ldns_rdf_deep_free(qname);
        return kw_diag_set(d, KW_ENOMEM, "out of memory");
    }
    ldns_pkt_set_id(q, dnsn_random_id());
    ldns_pkt_set_edns_udp_size(q, DNSN_EDNS_SIZE);
    rc = dnsn_send(srv, q, deadline, out, wire, wlen, d);
    ldns_pkt_free(q);
    return rc;
}

void dnsn_dname_text(const ldns_rdf *dname, char *buf, size_t cap)
{
    const uint8_t *p;
    size_t len, pos = 0, o = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (dname == NULL || ldns_rdf_get_type(dname) != LDNS_RDF_TYPE_DNAME)
        return;
    p = ldns_rdf_data(dname);
    len = ldns_rdf_size(dname);
    while (pos < len && p[pos] != 0) {
        size_t l = p[pos++], i;

        if (l > 63 || pos + l > len)
            break;
        if (o > 0 && o + 1 < cap)
            buf[o++] = '.';
        for (i = 0; i < l; i++) {
            unsigned c = p[pos + i];

            if (isalnum(c) || c == '-' || c == '_') {
                if (o + 1 < cap)
                    buf[o++] = (char)tolower((int)c);
            } else if (o + 4 < cap) {
                /* Never valid in the names we handle, but shown safely. */
                snprintf(buf + o, cap - o, "\\%03u", c);
                o += 4;
            }
        }
        pos += l;
    }
    buf[o < cap ? o : cap - 1] = '\0';
}

int dnsn_dname_is(const ldns_rdf *dname, const char *name)
{
    char text[LDNS_MAX_DOMAINLEN * 4 + 8];
    size_t n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    dnsn_dname_text(dname, text, sizeof(text));
    return strlen(text) == n && strncasecmp(text, name, n) == 0;
}

int dnsn_tlsa_rr(const char *name, const char *rdata, ldns_rr **rr)
{
    char buf[1024];
    size_t nl = name != NULL ? strlen(name) : 0;

    *rr = NULL;
    /* The owner made absolute for ldns: a name given with its final dot
     * (dane_hosts = mx.example.com. is a valid name) gets no second one,
     * which would make an empty label and refuse good data. */
    if (name == NULL || rdata == NULL ||
        snprintf(buf, sizeof(buf), "%s%s 0 IN TLSA %s", name,
                 nl > 0 && name[nl - 1] == '.' ? "" : ".", rdata) >=
            (int)sizeof(buf))
        return KW_EINVAL;
    if (ldns_rr_new_frm_str(rr, buf, 0, NULL, NULL) != LDNS_STATUS_OK ||
        *rr == NULL || ldns_rr_rd_count(*rr) != 4) {
        ldns_rr_free(*rr);
        *rr = NULL;
        return KW_EINVAL;
    }
    return 0;
}

const char *dnsn_rcode_name(int rcode, char buf[16])
{
    static const char *const names[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};

    if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    snprintf(buf, 16, "RCODE%d", rcode);
    return buf;
}

int dnsn_txt_join(const ldns_rr *rr, char *buf, size_t cap, size_t *len)
{
    size_t i, o = 0;

    if (cap == 0)
        return -1;
    for (i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *r = ldns_rr_rdf(rr, i);
        const uint8_t *p = ldns_rdf_data(r);
        size_t sz = ldns_rdf_size(r);

        if (sz == 0 || (size_t)p[0] + 1 != sz)
            return -1;
        if (o + sz - 1 >= cap)
            return -1;
        memcpy(buf + o, p + 1, sz - 1);
        o += sz - 1;
    }
    buf[o] = '\0';
    *len = o;
    return 0;
}

void dnsn_shown(const char *s, size_t len, char *buf, size_t cap)
{
    size_t i, o = 0;

    if (cap == 0)
        return;
    for (i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        /* Long values (DKIM keys share their first 40 characters) show
         * their head and their tail, where two keys differ. */
        if (i == 36 && len > 64) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            i = len - 24;
            c = (unsigned char)s[i];
            if (o + 5 >= cap)
                break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\%03u", c);
    }
    buf[o < cap ? o : cap - 1] = '\0';
}
