#include "kw_time.h"

#include "kw_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The pinned clock's value: digits (an optional '-' first) within the
 * years 0000..9999, or RFC 3339.  Anything else is an error, never the
 * real clock in disguise. */
int kw_now_parse(const char *s, int64_t *out, const char **why)
{
    const char *p = s;
    int64_t t = 0;

    *out = 0;
    if (s == NULL || *s == '\0') {
        *why = "empty: unset it, or give UTC seconds since 1970 or an RFC "
               "3339 time such as 2026-11-26T00:00:00Z";
        return KW_EINVAL;
    }
    if (*p == '-')
        p++;
    if (*p != '\0' && strspn(p, "0123456789") == strlen(p)) {
        for (; *p != '\0' && t <= KW_TIME_MAX + 1; p++)
            t = t * 10 + (*p - '0'); /* stops before t * 10 could wrap */
        if (s[0] == '-')
            t = -t;
        if (*p != '\0' || t < KW_TIME_MIN || t > KW_TIME_MAX) {
            *why = "out of range: only the years 0000 to 9999 are times";
            return KW_EINVAL;
        }
        *out = t;
        return 0;
    }
    if (kw_time_parse_rfc3339(s, out) != 0) {
        *why = "not a time: give UTC seconds since 1970 or an RFC 3339 "
               "time such as 2026-11-26T00:00:00Z, with a real calendar "
               "date";
        return KW_EINVAL;
    }
    if (*out < KW_TIME_MIN || *out > KW_TIME_MAX) {
        *out = 0;
        *why = "out of range: only the years 0000 to 9999 are times";
        return KW_EINVAL;
    }
    return 0;
}

int kw_now_check(const char **value, const char **why)
{
    const char *pin = getenv("KEYWARDEN_NOW");
    int64_t t;

    *value = pin;
    *why = NULL;
    if (pin == NULL)
        return 0;
    return kw_now_parse(pin, &t, why);
}

int64_t kw_now(void)
{
    const char *pin = getenv("KEYWARDEN_NOW");
    const char *why;
    int64_t t;

    if (pin != NULL && kw_now_parse(pin, &t, &why) == 0)
        return t;
    return (int64_t)time(NULL);
}

int64_t kw_time_add(int64_t t, int64_t d)
{
    if (d > 0 && t > INT64_MAX - d)
        return INT64_MAX;
    if (d < 0 && t < INT64_MIN - d)
        return INT64_MIN;
    return t + d;
}

int64_t kw_time_diff(int64_t a, int64_t b)
{
    if (b < 0 && a > INT64_MAX + b)
        return INT64_MAX;
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

int kw_duration_parse(const char *s, int64_t *out, const char **why)
{
    const int64_t limit = 100 * 366 * KW_DAY;
    int64_t total = 0;
    const char *p = s;
    const char *dummy;

    *out = 0;
    if (why == NULL)
        why = &dummy;
    *why = NULL;

    if (s == NULL || *s == '\0') {
        *why = "empty duration";
        return KW_EINVAL;
    }
    while (*p != '\0') {
        int64_t n = 0, unit;

        if (*p < '0' || *p > '9') {
            *why = "expected a number, as in 30d, 12h, 2w, 90m or 45s";
            return KW_EINVAL;
        }
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p - '0');
            if (n > limit) {
                *why = "duration is longer than 100 years";
                return KW_EINVAL;
            }
            p++;
        }
        switch (*p) {
        case 's': unit = 1; break;
        case 'm': unit = KW_MINUTE; break;
        case 'h': unit = KW_HOUR; break;
        case 'd': unit = KW_DAY; break;
        case 'w': unit = KW_WEEK; break;
        case '\0':
            *why = "missing unit: write 30d, 12h, 2w, 90m or 45s";
            return KW_EINVAL;
        default:
            *why = "unknown unit: use s, m, h, d or w";
            return KW_EINVAL;
        }
        p++;
        if (n > limit / unit || total + n * unit > limit) {
            *why = "duration is longer than 100 years";
            return KW_EINVAL;
        }
        total += n * unit;
    }
    if (total <= 0) {
        *why = "duration must be greater than zero";
        return KW_EINVAL;
    }
    *out = total;
    return 0;
}

void kw_duration_format(int64_t secs, char *buf, size_t len)
{
    const char *sign = "";
    uint64_t a;

    if (secs < 0) {
        sign = "-";
        a = (uint64_t)(-(secs + 1)) + 1;
    } else {
        a = (uint64_t)secs;
    }
    if (a >= (uint64_t)KW_DAY)
        snprintf(buf, len, "%s%llud %lluh", sign,
                 (unsigned long long)(a / KW_DAY),
                 (unsigned long long)(a % KW_DAY / KW_HOUR));
    else if (a >= (uint64_t)KW_HOUR)
        snprintf(buf, len, "%s%lluh %llum", sign,
                 (unsigned long long)(a / KW_HOUR),
                 (unsigned long long)(a % KW_HOUR / KW_MINUTE));
    else if (a >= (uint64_t)KW_MINUTE)
        snprintf(buf, len, "%s%llum %llus", sign,
                 (unsigned long long)(a / KW_MINUTE),
                 (unsigned long long)(a % KW_MINUTE));
    else
        snprintf(buf, len, "%s%llus", sign, (unsigned long long)a);
}

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
 * calendar, no time zone database involved. */
int64_t kw_time_from_civil(int year, int month, int day, int hour, int min,
                           int sec)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;

    return days * KW_DAY + hour * KW_HOUR + min * KW_MINUTE + sec;
}

int kw_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);

    if (month < 1 || month > 12)
        return 0;
    return days[month - 1] + (month == 2 && leap);
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* The inverse (civil_from_days), so that formatting needs neither
 * gmtime_r nor its time zone lock: `list` formats two times per row. */
void kw_time_rfc3339(int64_t t, char *buf, size_t len)
{
    int64_t days, secs, z, era, doe, yoe, y, doy, mp, d, m;

    /* Outside 0000..9999 the arithmetic below could overflow. */
    if (t < KW_TIME_MIN || t > KW_TIME_MAX) {
        snprintf(buf, len, "(invalid time %lld)", (long long)t);
        return;
    }
    days = t >= 0 ? t / KW_DAY : -((-t + KW_DAY - 1) / KW_DAY);
    secs = t - days * KW_DAY;
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;

    y += m <= 2;
    if (y < 0 || y > 9999 || len < 21) {
        snprintf(buf, len, "(invalid time %lld)", (long long)t);
        return;
    }
    /* Digits by hand: this runs twice per row of a large listing. */
    put2(buf, (int)(y / 100));
    put2(buf + 2, (int)(y % 100));
    buf[4] = '-';
    put2(buf + 5, (int)m);
    buf[7] = '-';
    put2(buf + 8, (int)d);
    buf[10] = 'T';
    put2(buf + 11, (int)(secs / 3600));
    buf[13] = ':';
    put2(buf + 14, (int)(secs / 60 % 60));
    buf[16] = ':';
    put2(buf + 17, (int)(secs % 60));
    buf[19] = 'Z';
    buf[20] = '\0';
}

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int kw_time_parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, oh, om;
    const char *p;
    int64_t t;

    *out = 0;
    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
        digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &sec))
        return KW_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > kw_days_in_month(y, mo) ||
        h > 23 || mi > 59 || sec > 60)
        return KW_EINVAL;
    t = kw_time_from_civil(y, mo, d, h, mi, sec);
    p = s + 19;
    if (*p == '.') { /* fractional seconds are accepted and dropped */
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *out = t;
        return 0;
    }
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
        digits(p + 1, 2, &oh) == 0 && digits(p + 4, 2, &om) == 0 &&
        oh <= 23 && om <= 59) {
        int64_t off = oh * KW_HOUR + om * KW_MINUTE;
        *out = *p == '+' ? t - off : t + off;
        return 0;
    }
    return KW_EINVAL;
}

int64_t kw_days_left(int64_t t, int64_t now)
{
    int64_t d = kw_time_diff(t, now);

    /* Floor division, so 12 hours past the deadline is day -1, not 0;
     * written without negating d, which may be INT64_MIN. */
    return d / KW_DAY - (d % KW_DAY < 0);
}
