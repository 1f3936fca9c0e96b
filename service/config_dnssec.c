/*
 * config_dnssec.c: [dnssec] and [zone "NAME"] in keywarden.conf: where
 * the signers' configurations are, how the live checks ask, and the zones
 * watched from outside, into dnssec/'s own kw_dnssec_params; and [dane],
 * how the DANE check of the SMTP endpoints asks (kw_dane_conf), and
 * [mta-sts] with its [mta-sts "DOMAIN"] sections (kw_mtasts_conf), here
 * because they share the DNSSEC side's resolver and name checks.  The
 * reader's state and helpers are config_int.h's.
 */
#include "config_int.h"

#include "../common/kw_time.h"
#include "../dns/dns_update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kw_config_dnssec_begin(parser *p, const char *name, const char *sub)
{
    kw_dnssec_params *dp = &p->c->dnssec;
    kw_dnssec_zone_conf *nz;
    char zone[256];
    size_t n, i;

    dp->configured = 1;
    if (strcmp(name, "dnssec") == 0) {
        p->sec = SEC_DNSSEC;
        if (sub != NULL)
            return FAIL(p, "[dnssec \"%s\"]: [dnssec] takes no name; a zone "
                           "watched from outside is [zone \"%s\"]",
                        sub, sub);
        if (p->seen_sections & (1u << SEC_DNSSEC))
            return FAIL(p, "[dnssec] appears twice; merge the two");
        p->seen_sections |= 1u << SEC_DNSSEC;
        p->dnssec_line = p->line;
        return 0;
    }
    p->sec = SEC_ZONE;
    if (sub == NULL)
        return FAIL(p, "[zone]: expected the zone's name, as in [zone "
                       "\"example.com\"]");
    n = strlen(sub);
    if (n > 1 && sub[n - 1] == '.')
        n--;
    if (n == 0 || n >= sizeof(zone))
        return FAIL(p, "[zone \"%s\"]: expected a zone name", sub);
    for (i = 0; i < n; i++)
        zone[i] = (char)(sub[i] >= 'A' && sub[i] <= 'Z' ? sub[i] + 32
                                                         : sub[i]);
    zone[n] = '\0';
    if (!kw_config_dns_name_ok(zone, 253))
        return FAIL(p, "[zone \"%s\"]: expected a zone name, as in [zone "
                       "\"example.com\"]",
                    sub);
    for (i = 0; i < dp->nzones; i++)
        if (strcmp(dp->zones[i].zone, zone) == 0)
            return FAIL(p, "[zone \"%s\"] appears twice (first at line %d)",
                        zone, dp->zones[i].line);
    nz = kw_vec_grow(dp->zones, &p->cap_zones, dp->nzones + 1, sizeof(*nz));
    if (nz == NULL)
        return KW_ENOMEM;
    dp->zones = nz;
    p->zone = &dp->zones[dp->nzones];
    memset(p->zone, 0, sizeof(*p->zone));
    if ((p->zone->zone = strdup(zone)) == NULL)
        return KW_ENOMEM;
    p->zone->line = p->line;
    dp->nzones++;
    return 0;
}

/* An absolute path (the daemon's working directory is not the
 * operator's). */
static int abs_path(parser *p, const char *key, const char *v, char **dst)
{
    if (v[0] != '/')
        return FAIL(p, "%s = %s: expected an absolute path", key, v);
    return kw_config_set_str(dst, v);
}

static int one_server(parser *p, const char *key, const char *v, char **dst)
{
    kw_dns_server srv;
    kw_diag why;

    if (kw_dns_server_parse(v, 53, &srv, &why) != 0)
        return FAIL(p, "%s = %s: expected an IP address with an optional "
                       "port (192.0.2.1, 192.0.2.1:5353, [2001:db8::1]:53)",
                    key, v);
    return kw_config_set_str(dst, v);
}

int kw_config_dnssec_key(parser *p, int k, const char *key, const char *v)
{
    kw_dnssec_params *dp = &p->c->dnssec;
    char *end;
    long port;

    if (p->sec == SEC_ZONE) {
        if (k == 0)
            return kw_config_server_list(p, key, v, &p->zone->servers,
                                         &p->zone->nservers);
        return one_server(p, key, v, &p->zone->ds_server);
    }
    switch (k) {
    case 0: return abs_path(p, key, v, &dp->named_conf);
    case 1: return abs_path(p, key, v, &dp->knot_conf);
    case 2: /* keymgr: run with argv, never a shell */
        if (v[0] != '/' || access(v, X_OK) != 0)
            return FAIL(p, "keymgr = %s: expected the absolute path of an "
                           "executable program",
                        v);
        return kw_config_set_str(&dp->keymgr, v);
    case 3: return one_server(p, key, v, &dp->resolver);
    case 4: /* dns_port: NS records carry no port */
        port = strtol(v, &end, 10);
        if (*end != '\0' || port < 1 || port > 65535)
            return FAIL(p, "dns_port = %s: expected a port, 1 to 65535", v);
        dp->dns_port = (int)port;
        return 0;
    case 5:
        if (kw_config_duration(p, key, v, &dp->interval) != 0)
            return KW_EPARSE;
        if (dp->interval < 60)
            return FAIL(p, "interval = %s: at least 1m", v);
        return 0;
    case 6: return kw_config_duration(p, key, v, &dp->warn);
    default: return kw_config_duration(p, key, v, &dp->crit);
    }
}

int kw_config_dnssec_end(parser *p)
{
    kw_dnssec_params *dp = &p->c->dnssec;

    if (dp->crit > dp->warn) {
        p->line = p->dnssec_line;
        return FAIL(p, "[dnssec]: crit (%lld s) is longer than warn (%lld "
                       "s): a signature cannot be critical before it warns",
                    (long long)dp->crit, (long long)dp->warn);
    }
    return 0;
}

int kw_config_dane_begin(parser *p, const char *sub)
{
    p->sec = SEC_DANE;
    if (sub != NULL)
        return FAIL(p, "[dane \"%s\"]: [dane] takes no name; the hosts it "
                       "checks are the [endpoint] sections with starttls = "
                       "smtp and the MX hosts of the [dkim \"DOMAIN\"] and "
                       "[mta-sts \"DOMAIN\"] domains",
                    sub);
    if (p->seen_sections & (1u << SEC_DANE))
        return FAIL(p, "[dane] appears twice; merge the two");
    p->seen_sections |= 1u << SEC_DANE;
    p->c->dane.configured = 1;
    return 0;
}

static int port_of(parser *p, const char *key, const char *v, int *out)
{
    char *end;
    long port = strtol(v, &end, 10);

    if (*end != '\0' || port < 1 || port > 65535)
        return FAIL(p, "%s = %s: expected a port, 1 to 65535", key, v);
    *out = (int)port;
    return 0;
}

int kw_config_dane_key(parser *p, int k, const char *key, const char *v)
{
    kw_dane_conf *dc = &p->c->dane;

    switch (k) {
    case 0: return one_server(p, key, v, &dc->resolver);
    case 1:
        if (kw_config_duration(p, key, v, &dc->interval) != 0)
            return KW_EPARSE;
        if (dc->interval < 60)
            return FAIL(p, "interval = %s: at least 1m", v);
        return 0;
    case 3: return port_of(p, key, v, &dc->smtp_port);
    default:
        if (kw_config_duration(p, key, v, &dc->timeout) != 0)
            return KW_EPARSE;
        if (dc->timeout < 1 || dc->timeout > 120)
            return FAIL(p, "timeout = %s: from 1s to 2m", v);
        return 0;
    }
}

int kw_config_mtasts_begin(parser *p, const char *sub)
{
    kw_mtasts_conf *mc = &p->c->mtasts;
    char dom[254], **grown;
    size_t n, i;

    p->sec = SEC_MTASTS;
    p->mtasts_domain = sub != NULL;
    if (sub == NULL) {
        if (p->seen_sections & (1u << SEC_MTASTS))
            return FAIL(p, "[mta-sts] appears twice; merge the two");
        p->seen_sections |= 1u << SEC_MTASTS;
        return 0;
    }
    n = strlen(sub);
    if (n > 1 && sub[n - 1] == '.')
        n--;
    if (n == 0 || n >= sizeof(dom))
        return FAIL(p, "[mta-sts \"%s\"]: expected a mail domain", sub);
    for (i = 0; i < n; i++)
        dom[i] = (char)(sub[i] >= 'A' && sub[i] <= 'Z' ? sub[i] + 32
                                                       : sub[i]);
    dom[n] = '\0';
    if (!kw_config_dns_name_ok(dom, 253))
        return FAIL(p, "[mta-sts \"%s\"]: expected a mail domain, as in "
                       "[mta-sts \"example.com\"]",
                    sub);
    for (i = 0; i < mc->ndomains; i++)
        if (strcmp(mc->domains[i], dom) == 0)
            return FAIL(p, "[mta-sts \"%s\"] appears twice", dom);
    grown = realloc(mc->domains, (mc->ndomains + 1) * sizeof(*grown));
    if (grown == NULL)
        return KW_ENOMEM;
    mc->domains = grown;
    if ((mc->domains[mc->ndomains] = strdup(dom)) == NULL)
        return KW_ENOMEM;
    mc->ndomains++;
    return 0;
}


int kw_config_mtasts_key(parser *p, int k, const char *key, const char *v)
{
    kw_mtasts_conf *mc = &p->c->mtasts;

    if (p->mtasts_domain)
        return FAIL(p, "%s: [mta-sts \"DOMAIN\"] only names a domain; "
                       "how every domain is checked is [mta-sts]'s",
                    key);
    switch (k) {
    case 0: return one_server(p, key, v, &mc->resolver);
    case 1: return abs_path(p, key, v, &mc->cafile);
    case 2: return port_of(p, key, v, &mc->https_port);
    case 3: return port_of(p, key, v, &mc->smtp_port);
    case 4:
        if (kw_config_duration(p, key, v, &mc->interval) != 0)
            return KW_EPARSE;
        if (mc->interval < 60)
            return FAIL(p, "interval = %s: at least 1m", v);
        return 0;
    default:
        if (kw_config_duration(p, key, v, &mc->timeout) != 0)
            return KW_EPARSE;
        if (mc->timeout < 1 || mc->timeout > 120)
            return FAIL(p, "timeout = %s: from 1s to 2m", v);
        return 0;
    }
}
