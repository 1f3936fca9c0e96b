/* udpresp.h: a DNS responder on 127.0.0.1 for unit tests: a thread that
 * answers each UDP query with what answer() builds from it (NULL: no
 * reply).  udpresp_start binds an ephemeral port (r->port) and starts the
 * thread; udpresp_stop joins it and closes the socket. */
#ifndef KW_TEST_UDPRESP_H
#define KW_TEST_UDPRESP_H

#include <ldns/ldns.h>
#include <pthread.h>

typedef ldns_pkt *(*udpresp_fn)(const ldns_pkt *q);

typedef struct udpresp {
    int fd, port;
    volatile int stop;
    udpresp_fn answer;
    pthread_t th;
} udpresp;

/* 0, or -1 when the socket or the thread could not be had. */
int udpresp_start(udpresp *r, udpresp_fn answer);
void udpresp_stop(udpresp *r);

/* A reply to q (its id and question, QR and AA set) with the records of
 * the presentation lines rrs[0..n) in the answer section. */
ldns_pkt *udpresp_reply(const ldns_pkt *q, const char *const *rrs, size_t n);

#endif
