#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/kw_err.h"
#include "common/kw_time.h"

static void durations_parse(void **state)
{
    int64_t v;
    const char *why;

    (void)state;
    assert_int_equal(kw_duration_parse("30d", &v, &why), 0);
    assert_int_equal(v, 30 * KW_DAY);
    assert_int_equal(kw_duration_parse("12h", &v, &why), 0);
    assert_int_equal(v, 12 * KW_HOUR);
    assert_int_equal(kw_duration_parse("2w", &v, &why), 0);
    assert_int_equal(v, 14 * KW_DAY);
    assert_int_equal(kw_duration_parse("90m", &v, &why), 0);
    assert_int_equal(v, 90 * KW_MINUTE);
    assert_int_equal(kw_duration_parse("45s", &v, &why), 0);
    assert_int_equal(v, 45);
    assert_int_equal(kw_duration_parse("1w2d3h", &v, &why), 0);
    assert_int_equal(v, 9 * KW_DAY + 3 * KW_HOUR);
}

static void durations_reject(void **state)
{
    static const char *const bad[] = {
        "", "30", "d", "30x", "-5d", "3.5d", "0d", "1d ", " 1d",
        "99999999999999999999d", "40000d",
    };
    int64_t v = 7;
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kw_duration_parse(bad[i], &v, &why), KW_EINVAL);
        assert_non_null(why);
        assert_int_equal(v, 0);
    }
}

static void durations_format(void **state)
{
    char b[32];

    (void)state;
    kw_duration_format(3 * KW_DAY + 4 * KW_HOUR + 5, b, sizeof(b));
    assert_string_equal(b, "3d 4h");
    kw_duration_format(5 * KW_HOUR + 12 * KW_MINUTE, b, sizeof(b));
    assert_string_equal(b, "5h 12m");
    kw_duration_format(42, b, sizeof(b));
    assert_string_equal(b, "42s");
    kw_duration_format(-(2 * KW_DAY + 3 * KW_HOUR), b, sizeof(b));
    assert_string_equal(b, "-2d 3h");
    kw_duration_format(INT64_MIN, b, sizeof(b)); /* must not overflow */
    assert_true(b[0] == '-');
}

static void rfc3339(void **state)
{
    char b[32];
    int64_t t;

    (void)state;
    kw_time_rfc3339(0, b, sizeof(b));
    assert_string_equal(b, "1970-01-01T00:00:00Z");
    kw_time_rfc3339(1795651200, b, sizeof(b));
    assert_string_equal(b, "2026-11-26T00:00:00Z");
    assert_int_equal(kw_time_parse_rfc3339("2026-11-26T00:00:00Z", &t), 0);
    assert_int_equal(t, 1795651200);
    assert_int_equal(kw_time_parse_rfc3339("2026-11-26T02:00:00+02:00", &t),
                     0);
    assert_int_equal(t, 1795651200);
    assert_int_equal(kw_time_parse_rfc3339("2026-11-26T00:00:00.123Z", &t),
                     0);
    assert_int_equal(t, 1795651200);
    assert_int_equal(kw_time_parse_rfc3339("2026-13-26T00:00:00Z", &t),
                     KW_EINVAL);
    assert_int_equal(kw_time_parse_rfc3339("yesterday", &t), KW_EINVAL);
    /* Leap day and year 2000 rules. */
    assert_int_equal(kw_time_from_civil(2000, 2, 29, 0, 0, 0), 951782400);
    assert_int_equal(kw_time_from_civil(2100, 3, 1, 0, 0, 0), 4107542400);
}

/* The arithmetic formatter agrees with gmtime_r across four centuries. */
static void rfc3339_matches_gmtime(void **state)
{
    int64_t t;

    (void)state;
    for (t = -2208988800; t < 7258118400; t += 86399 * 7 + 3601) {
        char mine[32], ref[32];
        time_t tt = (time_t)t;
        struct tm tm;

        gmtime_r(&tt, &tm);
        strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%SZ", &tm);
        kw_time_rfc3339(t, mine, sizeof(mine));
        if (strcmp(mine, ref) != 0)
            fail_msg("%lld: %s != %s", (long long)t, mine, ref);
    }
}

static void days_left_floors(void **state)
{
    (void)state;
    assert_int_equal(kw_days_left(1000 + 3 * KW_DAY, 1000), 3);
    assert_int_equal(kw_days_left(1000 + 3 * KW_DAY - 1, 1000), 2);
    assert_int_equal(kw_days_left(1000, 1000), 0);
    assert_int_equal(kw_days_left(1000 - 1, 1000), -1);
    assert_int_equal(kw_days_left(1000 - KW_DAY, 1000), -1);
    assert_int_equal(kw_days_left(1000 - KW_DAY - 1, 1000), -2);
}

static void now_can_be_pinned(void **state)
{
    (void)state;
    setenv("KEYWARDEN_NOW", "2026-01-02T03:04:05Z", 1);
    assert_int_equal(kw_now(), kw_time_from_civil(2026, 1, 2, 3, 4, 5));
    setenv("KEYWARDEN_NOW", "12345", 1);
    assert_int_equal(kw_now(), 12345);
    unsetenv("KEYWARDEN_NOW");
}

/* Calendar fields are checked against the calendar: no 30 February
 * taken as 2 March, no 29 February outside leap years. */
static void rfc3339_strict_calendar(void **state)
{
    static const char *const bad[] = {
        "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-13-45T99:99:99Z", "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
    };
    size_t i;
    int64_t t;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kw_time_parse_rfc3339(bad[i], &t) != KW_EINVAL)
            fail_msg("%s was accepted as %lld", bad[i], (long long)t);
    assert_int_equal(kw_time_parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
    assert_int_equal(kw_time_parse_rfc3339("2000-02-29T12:00:00Z", &t), 0);
    assert_int_equal(kw_time_parse_rfc3339("2026-12-31T23:59:59Z", &t), 0);
    assert_int_equal(kw_days_in_month(2024, 2), 29);
    assert_int_equal(kw_days_in_month(2100, 2), 28);
    assert_int_equal(kw_days_in_month(2026, 13), 0);
}

/* KEYWARDEN_NOW is a valid time or an error, never the real clock in
 * disguise; and never a value whose arithmetic overflows. */
static void now_rejects_invalid(void **state)
{
    static const char *const bad[] = {
        "abc", "", "12345abc", "2026-13-45T99:99:99Z",
        "2026-02-30T00:00:00Z", "2026-02-30", "-", "1e9",
        "9223372036854775807", "-9223372036854775808",
        "99999999999999999999999", "253402300800", "-62167219201",
        "0000-01-01T00:00:00+00:01",
    };
    const char *value, *why;
    size_t i;
    int64_t t;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (kw_now_parse(bad[i], &t, &why) != KW_EINVAL || why == NULL)
            fail_msg("KEYWARDEN_NOW=%s was accepted as %lld", bad[i],
                     (long long)t);
        setenv("KEYWARDEN_NOW", bad[i], 1);
        assert_int_equal(kw_now_check(&value, &why), KW_EINVAL);
        assert_string_equal(value, bad[i]);
        assert_non_null(why);
    }
    assert_int_equal(kw_now_parse("253402300799", &t, &why), 0);
    assert_int_equal(t, KW_TIME_MAX);
    assert_int_equal(kw_now_parse("-62167219200", &t, &why), 0);
    assert_int_equal(t, KW_TIME_MIN);
    assert_int_equal(kw_now_parse("0", &t, &why), 0);
    assert_int_equal(t, 0);
    assert_int_equal(kw_now_parse("9999-12-31T23:59:59Z", &t, &why), 0);
    assert_int_equal(t, KW_TIME_MAX);
    assert_int_equal(kw_time_from_civil(0, 1, 1, 0, 0, 0), KW_TIME_MIN);
    unsetenv("KEYWARDEN_NOW");
    assert_int_equal(kw_now_check(&value, &why), 0);
    assert_null(value);
}

/* Sums and differences of times saturate, keeping their sign. */
static void arithmetic_saturates(void **state)
{
    (void)state;
    assert_true(kw_time_add(INT64_MAX, 1) == INT64_MAX);
    assert_true(kw_time_add(INT64_MAX - 5, 21 * KW_DAY) == INT64_MAX);
    assert_true(kw_time_add(INT64_MIN, -1) == INT64_MIN);
    assert_true(kw_time_add(5, -7) == -2);
    assert_true(kw_time_diff(INT64_MIN, 1) == INT64_MIN);
    assert_true(kw_time_diff(INT64_MAX, -1) == INT64_MAX);
    assert_true(kw_time_diff(0, INT64_MIN) == INT64_MAX);
    assert_true(kw_time_diff(-1, INT64_MAX) == INT64_MIN);
    assert_true(kw_time_diff(7, 9) == -2);
    /* A deadline in year 0 seen from the end of time is long past. */
    assert_true(kw_days_left(KW_TIME_MIN, INT64_MAX) < 0);
    assert_true(kw_days_left(INT64_MIN, INT64_MAX) < 0);
    assert_true(kw_days_left(INT64_MAX, INT64_MIN) > 0);
    assert_int_equal(kw_days_left(KW_TIME_MAX, KW_TIME_MIN),
                     (KW_TIME_MAX - KW_TIME_MIN) / KW_DAY);
}

/* Formatting a time out of range says so, without overflowing. */
static void rfc3339_out_of_range(void **state)
{
    char b[64];

    (void)state;
    kw_time_rfc3339(INT64_MIN, b, sizeof(b));
    assert_non_null(strstr(b, "invalid time"));
    kw_time_rfc3339(INT64_MAX, b, sizeof(b));
    assert_non_null(strstr(b, "invalid time"));
    kw_time_rfc3339(KW_TIME_MIN, b, sizeof(b));
    assert_string_equal(b, "0000-01-01T00:00:00Z");
    kw_time_rfc3339(KW_TIME_MAX, b, sizeof(b));
    assert_string_equal(b, "9999-12-31T23:59:59Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_parse),
        cmocka_unit_test(durations_reject),
        cmocka_unit_test(durations_format),
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(rfc3339_matches_gmtime),
        cmocka_unit_test(days_left_floors),
        cmocka_unit_test(now_can_be_pinned),
        cmocka_unit_test(rfc3339_strict_calendar),
        cmocka_unit_test(now_rejects_invalid),
        cmocka_unit_test(arithmetic_saturates),
        cmocka_unit_test(rfc3339_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
