/* udpresp.c: a DNS responder thread for unit tests (udpresp.h). */
#include "udpresp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg)
{
    udpresp *r = arg;

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
            const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
            char *qname = ldns_rdf2str(ldns_rr_owner(qr));

            a = qname != NULL ? r->answer(q, qname, ldns_rr_get_type(qr))
                              : NULL;
            if (a != NULL && ldns_pkt2wire(&w, a, &wlen) == LDNS_STATUS_OK)
                (void)sendto(r->fd, w, wlen, 0, (struct sockaddr *)&from,
                             fl);
            free(w);
            free(qname);
            ldns_pkt_free(a);
        }
        ldns_pkt_free(q);
    }
    return NULL;
}

int udpresp_start(udpresp *r, udpresp_fn answer)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    memset(r, 0, sizeof(*r));
    r->answer = answer;
    if ((r->fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(r->fd, (struct sockaddr *)&sa, &sl) != 0 ||
        pthread_create(&r->th, NULL, serve, r) != 0) {
        close(r->fd);
        return -1;
    }
    r->port = ntohs(sa.sin_port);
    return 0;
}

void udpresp_stop(udpresp *r)
{
    r->stop = 1;
    pthread_join(r->th, NULL);
    close(r->fd);
}

ldns_pkt *udpresp_reply(const ldns_pkt *q)
{
    ldns_pkt *a = ldns_pkt_new();

    if (a == NULL)
        return NULL;
    ldns_pkt_set_id(a, ldns_pkt_id(q));
    ldns_pkt_set_qr(a, 1);
    ldns_pkt_set_aa(a, 1);
    ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
    return a;
}

void udpresp_add(ldns_pkt *a, ldns_pkt_section sec, const char *fmt, ...)
{
    char line[512];
    ldns_rr *rr;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (a != NULL &&
        ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) == LDNS_STATUS_OK)
        ldns_pkt_push_rr(a, sec, rr);
}
