/* dkimsign.c: signed through OpenDKIM, verified against Knot (dkimsign.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dkimsign.h"
#include "kwrun.h"
#include "opendkim.h"
#include "proc.h"

void ds_record(const ds_dns *dns, const char *sel, const char *domain,
               char *txt, size_t cap)
{
    char name[300], other[4096];
    const knot *p = dns->primary, *s = dns->secondary;

    snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
    if (kw_txt_served(p->addr, p->port, name, txt, cap) != 1)
        fail_msg("%s serves not one record at %s: \"%s\"", p->addr, name,
                 txt);
    if (kw_txt_served(s->addr, s->port, name, other, sizeof(other)) != 1 ||
        strcmp(txt, other) != 0)
        fail_msg("%s serves \"%s\" at %s, the primary \"%s\"", s->addr,
                 other, name, txt);
}

int ds_records(const ds_dns *dns, const char *sel, const char *domain)
{
    char name[300], a[4096], b[4096];
    const knot *p = dns->primary, *s = dns->secondary;
    int na, nb;

    snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
    na = kw_txt_served(p->addr, p->port, name, a, sizeof(a));
    nb = kw_txt_served(s->addr, s->port, name, b, sizeof(b));
    if (na != nb)
        fail_msg("%s: the primary serves %d records, the secondary %d",
                 name, na, nb);
    return na;
}

int ds_verifies(const ds_dns *dns, const char *msg, const char *sel,
                const char *domain, char *why, size_t cap)
{
    char txt[4096];
    int v;

    ds_record(dns, sel, domain, txt, sizeof(txt));
    v = dkim_verify(msg, sel, domain, txt, why, cap);
    if (v < 0)
        fail_msg("dkimpy could not run: %s", why);
    return v;
}

int ds_has_selector(const char *msg, const char *sel)
{
    char tag[80];
    const char *p;

    /* A tag of its own, after the space, tab or ';' that separates tags
     * (b= and bh= values hold no ';'). */
    snprintf(tag, sizeof(tag), "s=%s;", sel);
    for (p = strstr(msg, tag); p != NULL; p = strstr(p + 1, tag))
        if (p > msg && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == ';'))
            return 1;
    return 0;
}

int ds_try_sign(void *ctx)
{
    ds_try *t = ctx;

    free(t->msg);
    t->msg = NULL;
    if (opendkim_sign_from(t->base, t->port, t->domain, &t->msg) != 0)
        return 0;
    return t->sel == NULL || ds_has_selector(t->msg, t->sel);
}

char *ds_signed_ok(const ds_dns *dns, const char *base, int port,
                   const char *domain, const char *sel, const char *alg)
{
    ds_try t = {base, port, domain, sel, NULL};
    char why[2048], a[64];

    if (!proc_until(ds_try_sign, &t, 15000))
        fail_msg("OpenDKIM does not sign %s with %s: %s", domain, sel,
                 t.msg != NULL ? t.msg : "(nothing)");
    snprintf(a, sizeof(a), "a=%s;", alg);
    assert_contains(t.msg, a);
    if (ds_verifies(dns, t.msg, sel, domain, why, sizeof(why)) != 1)
        fail_msg("a message signed with %s._domainkey.%s fails against "
                 "what Knot serves: %s", sel, domain, why);
    return t.msg;
}
