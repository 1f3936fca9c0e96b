/*
 * test_dnssec_signer_keys.c: the keys a running signer signs a zone with,
 * read from the signer's own records, held against the DNSKEY set the
 * signer serves: every served key is in the inventory with the same
 * DNSKEY, tag and flags.
 *   - Knot with automatic key management (dnssec-policy), its KASP read
 *     through keymgr (dnssec/dnssec_knot.h): the first KSK ready and
 *     waiting for its DS, the ZSK active.
 *   - BIND's named with dnssec-policy, its key directory read
 *     (dnssec/dnssec_bind.h): the .state files named writes hold no field
 *     the parser does not know, with the key states filled in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "dnssec/dnssec_bind.h"
#include "dnssec/dnssec_knot.h"
#include "knot.h"
#include "proc.h"
#include "signers.h"
#include "tmpdir.h"

static char dir[256];

/* Every served DNSKEY is one of keys, byte for byte; returns the index of
 * the inventory entry for served key i. */
static size_t match_served(const sg_signer *s, size_t i, const kw_dnssec_key *keys,
                           size_t n)
{
    ldns_rr *rr = ldns_rr_list_rr(s->keys, i);
    kw_dnssec_key served_key = { 0 };
    kw_diag d = { { 0 } };
    char line[4096] = "";
    size_t pos = 0, j;

    for (size_t f = 0; f < ldns_rr_rd_count(rr); f++) {
        char *rd = ldns_rdf2str(ldns_rr_rdf(rr, f));

        pos += (size_t)snprintf(line + pos, sizeof line - pos, "%s%s",
                                f ? " " : "", rd);
        free(rd);
    }
    assert_int_equal(kw_dnssec_key_set_dnskey(&served_key, line, &d), 0);
    for (j = 0; j < n && keys[j].tag != served_key.tag; j++)
        ;
    if (j == n)
        fail_msg("served key %u is not in the inventory", served_key.tag);
    assert_string_equal(served_key.dnskey, keys[j].dnskey);
    assert_int_equal(keys[j].flags, served_key.flags);
    assert_string_equal(keys[j].zone, "child.test");
    assert_int_equal(keys[j].algorithm, 13);
    return j;
}

static void test_knot_signed_zone(void **state)
{
    kw_dnssec_key keys[8];
    size_t n = 0;
    kw_diag d = { { 0 } };
    sg_signer s;
    kw_dnssec_knot_opts o = { .conf = s.conf, .timeout_ms = 30000 };
    int64_t now = (int64_t)time(NULL);

    tmpdir_make(dir, sizeof dir, "dnssec-knot");
    sg_start_knot(&s, dir);

    assert_int_equal(kw_dnssec_knot_list(&o, "child.test", keys, 8, &n, &d), 0);
    assert_int_equal(n, ldns_rr_list_rr_count(s.keys));
    for (size_t i = 0; i < ldns_rr_list_rr_count(s.keys); i++) {
        size_t j = match_served(&s, i, keys, n);

        if (keys[j].role == KW_DNSSEC_KSK) {
            kw_dnssec_stage next;
            int64_t at = -1;

            /* No parent confirms the DS: Knot's KSK stays ready. */
            assert_int_equal(kw_dnssec_key_stage(&keys[j], now + 60, &next, &at),
                             KW_DNSSEC_ST_READY);
            assert_int_equal(next, KW_DNSSEC_ST_ACTIVE);
            assert_int_equal(at, 0);
        } else {
            assert_int_equal(keys[j].role, KW_DNSSEC_ZSK);
            assert_int_equal(kw_dnssec_key_stage(&keys[j], now + 60, NULL, NULL),
                             KW_DNSSEC_ST_ACTIVE);
        }
    }
    sg_stop(&s);
    tmpdir_remove(dir);
}

static void test_named_signed_zone(void **state)
{
    kw_dnssec_bind_key keys[8];
    kw_dnssec_key plain[8];
    size_t n = 0;
    kw_diag d = { { 0 } };
    sg_signer s;
    int64_t now = (int64_t)time(NULL);

    tmpdir_make(dir, sizeof dir, "dnssec-named");
    sg_start_named(&s, dir);

    assert_int_equal(kw_dnssec_bind_read_dir(s.keydir, "child.test", keys, 8, &n,
                                             &d), 0);
    assert_int_equal(n, ldns_rr_list_rr_count(s.keys));
    for (size_t i = 0; i < n; i++)
        plain[i] = keys[i].key;
    for (size_t i = 0; i < ldns_rr_list_rr_count(s.keys); i++) {
        size_t j = match_served(&s, i, plain, n);
        const kw_dnssec_bind_key *bk = &keys[j];

        /* Every field named writes is known: nothing left as a note. */
        assert_int_equal(bk->state.nunknown, 0);
        assert_string_equal(bk->note, "");
        assert_true(bk->has_private);
        assert_string_equal(bk->state.goal, "omnipresent");
        assert_true(bk->state.dnskey[0] != '\0');
        assert_int_equal(bk->state.algorithm, 13);
        assert_int_equal(bk->state.length, 256);
        assert_true(bk->key.publish > 0 && bk->key.publish <= now + 60);
        if (bk->key.role == KW_DNSSEC_KSK) {
            assert_true(bk->state.ksk && !bk->state.zsk);
            assert_true(bk->state.ds[0] != '\0');
            assert_int_equal(bk->state.lifetime, 0);
        } else {
            assert_int_equal(bk->key.role, KW_DNSSEC_ZSK);
            assert_true(bk->state.zrrsig[0] != '\0');
            assert_int_equal(bk->state.lifetime, 30 * 86400);
            assert_int_equal(kw_dnssec_key_stage(&bk->key, now + 60, NULL, NULL),
                             KW_DNSSEC_ST_ACTIVE);
        }
    }
    sg_stop(&s);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knot_signed_zone),
        cmocka_unit_test(test_named_signed_zone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
