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

/* The mail domains the MX and MTA-STS checks take: [mta-sts] ones first,
 * then [dkim] ones, each once whatever its case or final dot; with them
 * the dane-check and mta-sts-check jobs are planned, without an
 * [endpoint]. */
static void mail_domains_once(void **state)
{
    static const char text[] =
        "[mta-sts \"Example.TEST\"]\n"
        "[dkim \"example.test\"]\nselector = a\nkey = /k/a.pem\n"
        "[dkim \"example.test\"]\nselector = b\nkey = /k/b.pem\n"
        "[dkim \"other.TEST.\"]\nselector = a\nkey = /k/c.pem\n"
        "[dkim \"other.test\"]\nselector = c\nkey = /k/d.pem\n";
    kw_job_keys k = { 0 };
    kw_config c;
    kw_diag d;
    char keys[256];
    size_t nexplicit = 9;

    (void)state;
    if (kw_config_parse("test.conf", text, strlen(text), &c, &d) != 0)
        fail_msg("%s", d.msg);
    assert_int_equal(kw_job_mail_domains(&c, &k, &nexplicit), 0);
    assert_int_equal(nexplicit, 1);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.v[0], "example.test");
    assert_string_equal(k.v[1], "other.test");
    kw_job_keys_free(&k);
    plan_keys(&c, "dane-check", keys, sizeof(keys));
    assert_string_equal(keys, "all");
    plan_keys(&c, "mta-sts-check", keys, sizeof(keys));
    assert_string_equal(keys, "all");
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

static kw_dkim_rot_view view(const char *stage, const char *old,
                             const char *stopped, int64_t next_step,
                             int64_t next_rotation)
{
    kw_dkim_rot_view v;

    memset(&v, 0, sizeof(v));
    v.found = stage != NULL;
    snprintf(v.rot.stage, sizeof(v.rot.stage), "%s", stage ? stage : "");
    snprintf(v.rot.old_selector, sizeof(v.rot.old_selector), "%s", old);
    snprintf(v.rot.stopped, sizeof(v.rot.stopped), "%s", stopped);
    v.h.next_step = next_step;
    v.h.next_rotation = next_rotation;
    return v;
}

/* The dkim-rotate job's next run: the earliest step any domain asks for,
 * within 10 s .. 1 h, and a minute while a reload is awaited. */
static void dkim_rotate_next_run(void **state)
{
    const int64_t now = 1800000000;
    kw_dkim_rot_view v[3];

    (void)state;
    /* No domain: an hour (health still nears max_age by the clock). */
    assert_int_equal(kw_job_dkim_rot_next(NULL, 0, now), now + KW_HOUR);
    /* The propagation wait ends in 100 s: then. */
    v[0] = view("visible", "", "", now + 100, now + 90 * KW_DAY);
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + 100);
    /* "Now" again, or a time passed: not sooner than 10 s. */
    v[0] = view("published", "", "", now, now + 90 * KW_DAY);
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + 10);
    v[0] = view("published", "", "", now - 50, 0);
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + 10);
    /* Finished: the next rotation is far; an hour at most. */
    v[0] = view("removed", "a", "", 0, now + 80 * KW_DAY);
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + KW_HOUR);
    /* Not started yet and no time known: an hour. */
    v[0] = view(NULL, "", "", 0, 0);
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + KW_HOUR);
    /* Waiting at active for the hooks' reload: a minute. */
    v[0] = view("active", "a", "", now + 3000, now + 90 * KW_DAY);
    assert_true(kw_dkim_rot_view_waits_reload(&v[0]));
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + 60);
    /* A first rotation (it replaces a key made by hand) waits for the
     * reload too. */
    v[0] = view("active", "", "", now + 3000, now + 90 * KW_DAY);
    assert_true(kw_dkim_rot_view_waits_reload(&v[0]));
    /* ... unless it stopped there (its backoff decides). */
    v[0] = view("active", "a", "no reload", now + 900, 0);
    assert_false(kw_dkim_rot_view_waits_reload(&v[0]));
    assert_int_equal(kw_job_dkim_rot_next(v, 1, now), now + 900);
    /* The earliest of several domains. */
    v[0] = view("retired", "a", "", now + 5000, 0);
    v[1] = view("visible", "", "", now + 700, 0);
    v[2] = view("published", "", "servfail", now + 1200, 0);
    assert_int_equal(kw_job_dkim_rot_next(v, 3, now), now + 700);
}

/* The dnssec-check job comes back at the moments a zone's health moves
 * by the clock (expiry less warn, less crit, the expiry), or a missing
 * DS becomes due, within the interval, never within a minute. */
static void dnssec_next_run(void **state)
{
    const int64_t now = 1800000000, h = KW_HOUR, day = KW_DAY;

    (void)state;
    /* Nothing near: the interval. */
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day, 0, 0),
                     now + h);
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day,
                                        now + 30 * day, 0), now + h);
    /* The warning moment within the hour. */
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day,
                                        now + 7 * day + 600, 0),
                     now + 600);
    /* Past warn: the critical moment next; past crit: the expiry. */
    assert_int_equal(kw_job_dnssec_next(now, 30 * day, 7 * day, 3 * day,
                                        now + 5 * day, 0), now + 2 * day);
    assert_int_equal(kw_job_dnssec_next(now, 30 * day, 7 * day, 3 * day,
                                        now + day, 0), now + day);
    /* A missing DS due sooner. */
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day,
                                        now + 30 * day, now + 1200),
                     now + 1200);
    /* Never within a minute, and a past moment is no reason. */
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day,
                                        now + 3 * day + 5, 0),
                     now + KW_JOB_DNSSEC_MIN_WAIT);
    assert_int_equal(kw_job_dnssec_next(now, h, 7 * day, 3 * day,
                                        now - 10, now - 5), now + h);
}

/* The rotations' lines /metrics renders are copied with the counters,
 * so a render on the pool never reads what the loop replaces. */
static void rotation_metrics_copied(void **state)
{
    kw_metrics_counters c, copy;
    kw_metrics_rot r[2];

    (void)state;
    memset(&c, 0, sizeof(c));
    memset(r, 0, sizeof(r));
    snprintf(r[0].domain, sizeof(r[0].domain), "a.example");
    r[0].health = 1;
    r[0].next_rotation = 42;
    snprintf(r[1].domain, sizeof(r[1].domain), "b.example");
    kw_metrics_set_rotations(&c, r, 2);
    assert_int_equal(c.nrots, 2);
    assert_int_equal(kw_metrics_counters_copy(&copy, &c), 0);
    kw_metrics_set_rotations(&c, r + 1, 1);
    assert_int_equal(copy.nrots, 2);
    assert_string_equal(copy.rots[0].domain, "a.example");
    assert_int_equal(copy.rots[0].next_rotation, 42);
    assert_int_equal(c.nrots, 1);
    assert_string_equal(c.rots[0].domain, "b.example");
    kw_metrics_set_rotations(&c, NULL, 0);
    assert_int_equal(c.nrots, 0);
    assert_null(c.rots);
    kw_metrics_counters_free(&copy);
    kw_metrics_counters_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_are_complete),
        cmocka_unit_test(planning_follows_the_configuration),
        cmocka_unit_test(mail_domains_once),
        cmocka_unit_test(periodic_next_run),
        cmocka_unit_test(counters_per_type),
        cmocka_unit_test(dkim_unheard_asked_again_soon),
        cmocka_unit_test(dkim_rotate_next_run),
        cmocka_unit_test(dnssec_next_run),
        cmocka_unit_test(rotation_metrics_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
