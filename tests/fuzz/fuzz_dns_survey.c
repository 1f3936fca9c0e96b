/*
 * libFuzzer target: the DNS survey's judgement of one answer
 * (kw_dns_survey_judge_wire: rcode, AA, CNAME chain, TXT strings joined,
 * SOA serial), then the comparison and the words made of it.  Every byte
 * comes from a server the survey asks, hostile or broken.  The input is
 * split in two answers so the comparison sees two servers.
 */
#include "dns/dns_survey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const kw_dns_answer *a, int rc)
{
    size_t i;

    if (rc != a->status || memchr(a->error, '\0', sizeof(a->error)) == NULL ||
        memchr(a->cname, '\0', sizeof(a->cname)) == NULL)
        __builtin_trap();
    if (rc != 0 && rc != KW_EPARSE && rc != KW_EIO && rc != KW_EACCES &&
        rc != KW_ELOOP && rc != KW_ENOMEM)
        __builtin_trap();
    for (i = 0; i < a->ntxt; i++)
        if (a->txt[i].s[a->txt[i].len] != '\0')
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kw_dns_survey s;
    kw_dns_answer ans[2];
    size_t cut = size / 2;
    char words[1024];
    int rc;

    memset(&s, 0, sizeof(s));
    memset(ans, 0, sizeof(ans));
    /* The whole input as one answer, then its halves as two. */
    rc = kw_dns_survey_judge_wire(data, size, "s1._domainkey.example.net",
                                  &ans[0]);
    check(&ans[0], rc);
    kw_dns_answer_words(&ans[0], words, sizeof(words));
    if (memchr(words, '\0', sizeof(words)) == NULL)
        __builtin_trap();
    kw_dns_answer_clear(&ans[0]);

    rc = kw_dns_survey_judge_wire(data, cut, "s1._domainkey.example.net",
                                  &ans[0]);
    check(&ans[0], rc);
    rc = kw_dns_survey_judge_wire(data + cut, size - cut,
                                  "s1._domainkey.example.net", &ans[1]);
    check(&ans[1], rc);
    ans[0].aa = 1;
    ans[1].aa = 1;
    memcpy(s.name, "s1._domainkey.example.net", 26);
    memcpy(s.steps[0].name, s.name, sizeof(s.name));
    s.steps[0].auth = ans;
    s.steps[0].nauth = 2;
    s.nsteps = 1;
    if ((unsigned)kw_dns_survey_compare(&s, words, sizeof(words)) >
        KW_DNS_INCOMPLETE || memchr(words, '\0', sizeof(words)) == NULL)
        __builtin_trap();
    kw_dns_answer_clear(&ans[0]);
    kw_dns_answer_clear(&ans[1]);
    return 0;
}
