/*
 * dane_roll_run.h: one run of a [certificate] with dane ='s key rollover
 * (dane/dane_roll.h) as the daemon's dane-roll job and `keywarden dane
 * step NAME` make it: the machine stepped with the probe, then the
 * rollover's health recorded as the certificate's findings (keystore/
 * ks_check.h, checker "dane-roll") so list, show, check, --json and
 * /metrics show it, with a health.changed event when it moves.
 *
 * The probe connects where the configuration's [endpoint]s say: an
 * SMTP endpoint whose sni (or whose host, when it is a name) is a dane
 * host gives the port and STARTTLS to use for that host, and its address
 * when host is one (a name as host: every address of it), as the
 * dane-check job probes it; any other dane host is probed at its own
 * addresses on dane_port.
 *
 * Lifetimes: the kw_dane_probe_at entries borrow the configuration's
 * strings (copy them when the configuration may be reloaded meanwhile).
 * kw_dane_roll_run BLOCKS (the database, DNS, the probes): the pool's,
 * or the CLI's.  No callbacks, no state of its own.
 */
#ifndef KW_DANE_ROLL_RUN_H
#define KW_DANE_ROLL_RUN_H

#include "config.h"

#include "../acme/renew.h"
#include "../dane/dane_roll.h"
#include "../keystore/ks_store.h"

#include <stddef.h>
#include <stdint.h>

/* Most dane hosts (and so probe addresses) of one certificate. */
#define KW_DANE_ROLL_HOSTS_MAX 16

/* Into at (max): where the probe connects for each dane host of cc that
 * an SMTP [endpoint] of c names.  Returns how many. */
size_t kw_dane_roll_probe_at(const kw_config *c, const kw_cert_conf *cc,
                             kw_dane_probe_at *at, size_t max);

typedef struct kw_dane_roll_run_out {
    kw_dane_roll_out out;  /* the rollover after the step */
    kw_dane_roll_health h; /* its health at now */
    int recorded;          /* 0: no live version in the inventory yet,
                            * nothing to record the health on */
    int changed;           /* the recorded health moved: an event */
} kw_dane_roll_run_out;

/* One step of rp's rollover at now (its files under certs_dir, the probe
 * at at[nat]) and its health recorded.  0, or KW_E* with d when the
 * database or a key file fails (a DNS or probe failure is the rollover's
 * state, in o->out.roll.stopped). */
int kw_dane_roll_run(ks_store *s, const kw_renew_params *rp,
                     const char *certs_dir, const kw_dane_probe_at *at,
                     size_t nat, int64_t now, kw_dane_roll_run_out *o,
                     kw_diag *d);

/* The finding the rollover's health h is on its certificate's object
 * (fix: what the operator does), for kw_dane_roll_run and the tests. */
void kw_dane_roll_fix(const ks_dane_roll *r, const kw_dane_roll_health *h,
                      char *fix, size_t cap);

#endif
