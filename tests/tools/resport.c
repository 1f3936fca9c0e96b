/*
 * resport.c: an LD_PRELOAD shim that points every res_ninit() user
 * (glibc's libresolv: Postfix's posttls-finger) at one DNS server on any
 * port, RESPORT_ADDR (default 127.0.0.1) and RESPORT_PORT, instead of
 * /etc/resolv.conf's (which cannot name a port).  Tests run Postfix's
 * own DANE client through it against the test's validating unbound.
 * From the DNS test bench's shim (shared/reference/dns-bench/resport.c).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>

static void redirect(res_state s)
{
    const char *a = getenv("RESPORT_ADDR"), *p = getenv("RESPORT_PORT");

    s->nscount = 1;
    s->nsaddr_list[0].sin_family = AF_INET;
    s->nsaddr_list[0].sin_port = htons((uint16_t)(p ? atoi(p) : 53));
    inet_pton(AF_INET, a ? a : "127.0.0.1", &s->nsaddr_list[0].sin_addr);
    s->_u._ext.nscount = 0; /* drop the IPv6 servers glibc loaded */
}

int __res_ninit(res_state s)
{
    static int (*real)(res_state);
    int r;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "__res_ninit");
    if (real == NULL)
        return -1;
    r = real(s);
    if (r == 0)
        redirect(s);
    return r;
}
