/*
 * test_dns_zone_servers.c: kw_dns_zone_servers against a small UDP
 * responder on loopback (a thread answering from a table): a zone with
 * more NS names than it looks up, or more addresses than the caller has
 * room for, fails naming the zone and the counts instead of leaving the
 * servers past the bound unasked; a zone within the bounds is listed
 * whole.
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
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns_update.h"

/* NS names of wide.test (past the 32 looked up), of small.test. */
#define WIDE_NS 34
#define SMALL_NS 3

typedef struct responder {
    int fd, port;
    volatile int stop;
    pthread_t th;
} responder;

/* The answer to q: NS of wide.test (no glue: each name's A is asked),
 * NS of small.test with glue, A of nN.wide.test; NOERROR and empty for
 * the rest. */
static ldns_pkt *answer(const ldns_pkt *q)
{
    const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
    ldns_pkt *a = ldns_pkt_new();
    char *qname = ldns_rdf2str(ldns_rr_owner(qr)), line[200];
    ldns_rr_type t = ldns_rr_get_type(qr);
    ldns_rr *rr;
    int i;

    ldns_pkt_set_id(a, ldns_pkt_id(q));
    ldns_pkt_set_qr(a, 1);
    ldns_pkt_set_aa(a, 1);
    ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, ldns_rr_clone(qr));
    if (t == LDNS_RR_TYPE_NS && strcmp(qname, "wide.test.") == 0) {
        for (i = 0; i < WIDE_NS; i++) {
            snprintf(line, sizeof(line), "wide.test. 60 IN NS n%d.wide.test.",
                     i);
            if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) ==
                LDNS_STATUS_OK)
                ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
        }
    } else if (t == LDNS_RR_TYPE_NS && strcmp(qname, "small.test.") == 0) {
        for (i = 0; i < SMALL_NS; i++) {
            snprintf(line, sizeof(line),
                     "small.test. 60 IN NS n%d.small.test.", i);
            if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) ==
                LDNS_STATUS_OK)
                ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
            snprintf(line, sizeof(line),
                     "n%d.small.test. 60 IN A 127.0.2.%d", i, i + 1);
            if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) ==
                LDNS_STATUS_OK)
                ldns_pkt_push_rr(a, LDNS_SECTION_ADDITIONAL, rr);
        }
    } else if (t == LDNS_RR_TYPE_A && sscanf(qname, "n%d.wide.test.", &i) ==
               1) {
        snprintf(line, sizeof(line), "%s 60 IN A 127.0.1.%d", qname, i + 1);
        if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) == LDNS_STATUS_OK)
            ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
    }
    free(qname);
    return a;
}

static void *serve(void *arg)
{
    responder *r = arg;

    while (!r->stop) {
        struct pollfd pfd = { r->fd, POLLIN, 0 };
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        uint8_t buf[4096], *w = NULL;
        size_t wlen = 0;
        ldns_pkt *q = NULL, *a;
        ssize_t n;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        n = recvfrom(r->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                     &fl);
        if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
            continue;
        if (ldns_rr_list_rr_count(ldns_pkt_question(q)) == 1) {
            a = answer(q);
            if (ldns_pkt2wire(&w, a, &wlen) == LDNS_STATUS_OK)
                (void)sendto(r->fd, w, wlen, 0, (struct sockaddr *)&from,
                             fl);
            free(w);
            ldns_pkt_free(a);
        }
        ldns_pkt_free(q);
    }
    return NULL;
}

static int setup(void **state)
{
    responder *r = calloc(1, sizeof(*r));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    assert_non_null(r);
    r->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sa, &sl), 0);
    r->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&r->th, NULL, serve, r), 0);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    responder *r = *state;

    r->stop = 1;
    pthread_join(r->th, NULL);
    close(r->fd);
    free(r);
    return 0;
}

static void ask(responder *r, kw_dns_server *srv)
{
    memset(srv, 0, sizeof(*srv));
    snprintf(srv->addr, sizeof(srv->addr), "127.0.0.1");
    srv->port = r->port;
}

/* 34 NS names: the first 32 are looked up, and the call says the rest
 * were not. */
static void test_ns_past_bound(void **state)
{
    kw_dns_server srv, out[KW_DNS_SERVERS_MAX];
    kw_diag d = {""};
    size_t n = 0;

    ask(*state, &srv);
    assert_int_equal(kw_dns_zone_servers(&srv, "wide.test", 53, out,
                                         KW_DNS_SERVERS_MAX, &n, 5000, &d),
                     KW_ETOOBIG);
    assert_int_equal(n, 32);
    assert_non_null(strstr(d.msg, "zone wide.test has 34 NS names"));
    assert_non_null(strstr(d.msg, "only the first 32"));
}

/* Three addresses and room for two: refused, naming the counts. */
static void test_addresses_past_max(void **state)
{
    kw_dns_server srv, out[SMALL_NS];
    kw_diag d = {""};
    size_t n = 0;

    ask(*state, &srv);
    assert_int_equal(kw_dns_zone_servers(&srv, "small.test", 53, out, 2, &n,
                                         5000, &d), KW_ETOOBIG);
    assert_int_equal(n, 2);
    assert_non_null(strstr(d.msg, "zone small.test"));
    assert_non_null(strstr(d.msg, "3 addresses; only 2 can be asked"));
    /* With room for all three, all three. */
    assert_int_equal(kw_dns_zone_servers(&srv, "small.test", 53, out,
                                         SMALL_NS, &n, 5000, &d), 0);
    assert_int_equal(n, 3);
    assert_string_equal(out[2].addr, "127.0.2.3");
    assert_int_equal(out[2].port, 53);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ns_past_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses_past_max, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
