/*
 * The daemon's job table (service/job.c): every row is complete, names
 * are unique and found, planning asks for what the configuration names,
 * a periodic job's next run, and the per-type counters /metrics renders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/kw_time.h"
#include "service/job.h"

static void rows_are_complete(void **state)
{
    size_t i, k, n = kw_job_types_count();
    char names[256];

    (void)state;
    kw_job_type_names(names, sizeof(names));
    for (i = 0; i < n; i++) {
        const kw_job_type *t = kw_job_type_at(i);

        assert_non_null(t->name);
        assert_true(strlen(t->name) < sizeof(((ks_jobrec *)0)->type));
        assert_true(t->size >= sizeof(kw_job));
        assert_non_null(t->keys);
        assert_non_null(t->start);
        assert_non_null(t->work);
        assert_non_null(t->next_run);
        assert_non_null(t->report);
        /* A type keyed by configuration names can check them. */
        assert_int_equal(t->noun != NULL, t->known != NULL);
        assert_ptr_equal(kw_job_type_find(t->name), t);
        for (k = 0; k < i; k++)
            assert_string_not_equal(kw_job_type_at(k)->name, t->name);
        assert_non_null(strstr(names, t->name));
    }
    assert_null(kw_job_type_at(n));
    assert_null(kw_job_type_find("nope"));
    assert_null(kw_job_type_find(NULL));
}

static const char conf_text[] =
    "[scan]\n"
    "path = /etc/ssl\n"
    "[endpoint \"mail\"]\n"
    "host = mail.example.com\n"
    "[endpoint \"web\"]\n"
    "host = 127.0.0.1\n"
    "[certificate \"www\"]\n"
    "names = example.com\n"
    "webroot = /var/www/html\n"
    "[certificate \"quiet\"]\n"
    "names = quiet.example.com\n"
    "precheck = off\n"
    "[certificate \"wild\"]\n"
    "names = *.example.com\n"
    "challenge = dns-01\n"
    "dns_exec = /bin/true\n"
    "dns_check = 127.0.0.1\n";

static void plan_keys(const kw_config *c, const char *type, char *out,
                      size_t len)
{
    const kw_job_type *t = kw_job_type_find(type);
    kw_job_keys k;
    size_t i, o = 0;

    memset(&k, 0, sizeof(k));
    assert_non_null(t);
    assert_int_equal(t->keys(c, &k), 0);
    out[0] = '\0';
    for (i = 0; i < k.n; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "",
                              k.v[i]);
    kw_job_keys_free(&k);
}

static void planning_follows_the_configuration(void **state)
{
    kw_config c;
    kw_diag d;
    char keys[256];

    (void)state;
    if (kw_config_parse("test.conf", conf_text, strlen(conf_text), &c, &d) !=
        0)
        fail_msg("%s", d.msg);
    plan_keys(&c, "scan", keys, sizeof(keys));
    assert_string_equal(keys, "all");
    plan_keys(&c, "probe", keys, sizeof(keys));
    assert_string_equal(keys, "mail web");
    plan_keys(&c, "renew", keys, sizeof(keys));
    assert_string_equal(keys, "www quiet wild");
    /* Only http-01 with a pre-check. */
    plan_keys(&c, "precheck", keys, sizeof(keys));
    assert_string_equal(keys, "www");
    /* run-job checks the name against the configuration; a pre-check is
     * asked for by certificate, as before. */
    assert_true(kw_job_type_find("probe")->known(&c, "web"));
    assert_false(kw_job_type_find("probe")->known(&c, "www"));
    assert_true(kw_job_type_find("precheck")->known(&c, "wild"));
    assert_false(kw_job_type_find("renew")->known(&c, "mail"));
    assert_null(kw_job_type_find("scan")->noun);
    kw_config_free(&c);

    /* Nothing to scan: no scan job. */
    kw_config_defaults(&c);
    plan_keys(&c, "scan", keys, sizeof(keys));
    assert_string_equal(keys, "");
    kw_config_free(&c);
}

static void periodic_next_run(void **state)
{
    kw_job j;
    int64_t now = 1000000, at;

    (void)state;
    memset(&j, 0, sizeof(j));
    j.type = kw_job_type_find("scan");
    at = kw_job_next_periodic(&j, now, KW_HOUR);
    assert_true(at >= now + KW_HOUR && at <= now + KW_HOUR + KW_HOUR / 20);
    /* Third failure in a row: 60 s doubled twice, plus up to 10%. */
    j.r = KW_EIO;
    j.rec.attempt = 3;
    at = kw_job_next_periodic(&j, now, KW_HOUR);
    assert_true(at >= now + 240 && at <= now + 264);
    j.rec.attempt = 40;
    at = kw_job_next_periodic(&j, now, KW_HOUR);
    assert_true(at >= now + 6 * KW_HOUR && at <= now + 6 * KW_HOUR * 11 / 10);
}

static void counters_per_type(void **state)
{
    kw_metrics_counters c, copy;
    size_t i;

    (void)state;
    memset(&c, 0, sizeof(c));
    for (i = 0; i < kw_job_types_count(); i++)
        assert_int_equal(kw_metrics_add_job_type(&c, kw_job_type_at(i)->name),
                         0);
    assert_int_equal(kw_metrics_add_job_type(&c, "scan"), 0); /* once */
    assert_int_equal(c.njobs, kw_job_types_count());
    kw_metrics_job_ended(&c, "renew", 1);
    kw_metrics_job_ended(&c, "renew", 0);
    kw_metrics_job_ended(&c, "renew", 1);
    kw_metrics_job_ended(&c, "unknown", 0); /* not a row: not counted */
    assert_int_equal(kw_metrics_counters_copy(&copy, &c), 0);
    kw_metrics_job_ended(&c, "renew", 1);
    assert_string_equal(copy.jobs[2].type, "renew");
    assert_int_equal(copy.jobs[2].ok, 2);
    assert_int_equal(copy.jobs[2].failed, 1);
    assert_int_equal(c.jobs[2].ok, 3);
    assert_int_equal(copy.jobs[0].ok + copy.jobs[0].failed, 0);
    kw_metrics_counters_free(&copy);
    kw_metrics_counters_free(&c);
}

/* A zone that did not answer is asked again in 5 minutes even when
 * another selector is critical (the worst health alone hid it). */
static void dkim_unheard_asked_again_soon(void **state)
{
    (void)state;
    assert_int_equal(kw_job_dkim_every(KW_HOUR, 0), KW_HOUR);
    assert_int_equal(kw_job_dkim_every(KW_HOUR, 1), 5 * KW_MINUTE);
    assert_int_equal(kw_job_dkim_every(2, 3), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_are_complete),
        cmocka_unit_test(planning_follows_the_configuration),
        cmocka_unit_test(periodic_next_run),
        cmocka_unit_test(counters_per_type),
        cmocka_unit_test(dkim_unheard_asked_again_soon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
