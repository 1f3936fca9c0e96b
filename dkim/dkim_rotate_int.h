/*
 * dkim_rotate_int.h: what the rotation's files share, not part of the
 * module's interface (dkim_rotate.h is).
 *
 *   dkim_rotate.c         the state machine: stages, set_state(), step()
 *   dkim_rotate_dns.c     the real DNS (RFC 2136, dns_exec, visibility)
 *   dkim_rotate_health.c  a domain's rotation health, pure
 *   dkim_rotate_many.c    many domains at once, in phases
 *
 * The machine below is one call's view of one domain's rotation; every
 * function BLOCKS as dkim_rotate.h says, and only the calling thread
 * writes stages (the batch's threads run effects only).
 */
#ifndef KW_DKIM_ROTATE_INT_H
#define KW_DKIM_ROTATE_INT_H

#include "dkim_rotate.h"
#include "dkim_signer.h"

#include "../dns/dns_resolve.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* SELECTOR._domainkey.DOMAIN fits. */
#define NAME_MAX_LEN 340
/* The most stage changes one call makes (the whole walk is 11). */
#define MAX_CHANGES 16

/*
 * What a batch (kw_dkim_rotate_many) keeps between the looks of its
 * rounds: each domain's servers, found once, and the servers that did not
 * answer in the current round, not asked again in it (a dead server
 * would cost LOOK_SLICE_MS for every name otherwise).  The looks of a
 * round run on several threads: mu guards the table and the dead list;
 * entries are allocated one by one, so a pointer to one stays valid.
 */
typedef struct look_cache_entry {
    const kw_dkim_rot_params *p;
    char zone[256];
    kw_dns_server srv[KW_DNS_SERVERS_MAX];
    size_t n;
    char skipped[300];
} look_cache_entry;

typedef struct look_cache {
    pthread_mutex_t mu;
    look_cache_entry **e;
    size_t n, cap;
    kw_dns_server dead[KW_DNS_SERVERS_MAX];
    char dead_why[KW_DNS_SERVERS_MAX][96];
    size_t ndead;
} look_cache;

typedef struct machine {
    ks_store *s;
    const kw_dkim_rot_params *p;
    const kw_dkim_rot_dns *dns;
    int64_t now;
    kw_dkim_rot_out *out;
    ks_dkim_rot *r;
} machine;

/* The real DNS side (dkim_rotate_dns.c). */
extern const kw_dkim_rot_dns rot_real_dns;

int rot_timeout_of(const kw_dkim_rot_params *p);
void rot_look_cache_free(look_cache *c);
int rot_real_visible(void *ctx, const kw_dkim_rot_params *p,
                     const char *name, const char *value, kw_diag *d);
void rot_die_point(const char *name);
void rot_fmt_time(int64_t t, char *buf, size_t cap);
int rot_set_state(machine *m, kw_dkim_stage to, const char *intent,
                  const char *effect, const char *result,
                  const char *stop, kw_diag *d);
void rot_dkim_name(const kw_dkim_rot_params *p, const char *selector,
                   const char *domain, char *buf,
                   size_t cap);
int rot_generate_effect(machine *m, char *effect, size_t ecap,
                        char *why, size_t wcap);
int rot_generated(machine *m, int rc, const char *effect, const char *why,
                  kw_diag *d);
int rot_publish_effect(const machine *m, kw_diag *sub);
int rot_published(machine *m, int rc, const kw_diag *sent, kw_diag *d);
int rot_visible_seen(machine *m, int rc, const kw_diag *seen, kw_diag *d);
const char *rot_signer_word(int kind);
void rot_signer_conf_of(const kw_dkim_rot_params *p,
                        kw_dkim_signer_conf *c);
int rot_activate_intent(machine *m, kw_diag *d);
int rot_activated(machine *m, int rc, const kw_dkim_switch_result *res,
                  const char *err, kw_diag *d);
int rot_step(machine *m, int *more, kw_diag *d);
int rot_finished(const ks_dkim_rot *r);
int rot_begin(machine *m, ks_store *s, const kw_dkim_rot_params *p,
              const kw_dkim_rot_dns *dns, int flags, int64_t now,
              kw_dkim_rot_out *out, int *go, kw_diag *d);

#endif
