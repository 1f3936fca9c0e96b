/*
 * libFuzzer target: what keywarden does with a DNS answer from the
 * network before and beyond ldns's own parsing: matching it to the query
 * (dnsn_matches, raw octets) and judging a TXT answer the way the dns-01
 * propagation wait does (kw_dns_judge_txt_wire).  A hostile or broken
 * authoritative server controls all of these bytes.
 */
#include "dns/dns_net.h"
#include "dns/dns_update.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A fixed query: _acme-challenge.example.com TXT, id 0x1234. */
    static const uint8_t q[] = {
        0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 15,   '_',  'a',  'c',  'm',  'e',  '-',  'c',  'h',  'a',
        'l',  'l',  'e',  'n',  'g',  'e',  7,    'e',  'x',  'a',  'm',
        'p',  'l',  'e',  3,    'c',  'o',  'm',  0,    0x00, 0x10, 0x00,
        0x01};
    char status[512];
    int r;

    (void)dnsn_matches(q, sizeof(q), data, size);
    (void)dnsn_matches(data, size, q, sizeof(q));
    r = kw_dns_judge_txt_wire(data, size, "_acme-challenge.example.com",
                              "value-we-wait-for", status, sizeof(status));
    if (r < -1 || r > 1 || memchr(status, '\0', sizeof(status)) == NULL)
        __builtin_trap();
    (void)kw_dns_judge_txt_wire(data, size, "_acme-challenge.example.com",
                                NULL, status, sizeof(status));
    return 0;
}
