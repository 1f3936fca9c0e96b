/* udpresp.h: a DNS responder on 127.0.0.1 for unit tests: a thread that
 * answers each UDP query with what answer() builds from it, its name
 * (presentation form, final dot) and type (NULL: no reply).  udpresp_start binds an ephemeral port (r->port) and starts the
 * thread; udpresp_stop joins it and closes the socket. */
#ifndef KW_TEST_UDPRESP_H
#define KW_TEST_UDPRESP_H

#include <ldns/ldns.h>
#include <pthread.h>

typedef ldns_pkt *(*udpresp_fn)(const ldns_pkt *q, const char *qname,
                                ldns_rr_type type);

typedef struct udpresp {
    int fd, port;
    volatile int stop;
    udpresp_fn answer;
    pthread_t th;
} udpresp;

/* 0, or -1 when the socket or the thread could not be had. */
int udpresp_start(udpresp *r, udpresp_fn answer);
void udpresp_stop(udpresp *r);

/* An empty reply to q: its id and question, QR and AA set. */
ldns_pkt *udpresp_reply(const ldns_pkt *q);

/* Adds the record of the presentation line fmt... to section sec of a. */
void udpresp_add(ldns_pkt *a, ldns_pkt_section sec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
