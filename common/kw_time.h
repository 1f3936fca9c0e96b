/*
 * kw_time.h: absolute UTC times and durations.
 *
 * keywarden stores absolute times as int64 seconds since the Unix epoch,
 * UTC, and computes relative figures ("3 days left") only when asked, with
 * the clock passed in so tests can walk time freely.
 */
#ifndef KW_TIME_H
#define KW_TIME_H

#include <stddef.h>
#include <stdint.h>

#define KW_MINUTE INT64_C(60)
#define KW_HOUR (60 * KW_MINUTE)
#define KW_DAY (24 * KW_HOUR)
#define KW_WEEK (7 * KW_DAY)

/* The range of times keywarden reads and writes: 0000-01-01T00:00:00Z to
 * 9999-12-31T23:59:59Z, what X.509 and RFC 3339 can express. */
#define KW_TIME_MIN INT64_C(-62167219200)
#define KW_TIME_MAX INT64_C(253402300799)

/* The wall clock, UTC seconds.  KEYWARDEN_NOW (seconds, or RFC 3339)
 * overrides it, which is how tests and demos pin time without touching
 * the code under test.  An invalid KEYWARDEN_NOW is ignored here: every
 * entry point refuses to start with one (kw_now_check). */
int64_t kw_now(void);

/* Is KEYWARDEN_NOW, if set, valid?  0, or KW_EINVAL with *value the
 * variable's text and *why the reason. */
int kw_now_check(const char **value, const char **why);

/* Parse a KEYWARDEN_NOW value: seconds since the epoch or RFC 3339, in
 * KW_TIME_MIN..KW_TIME_MAX.  0, or KW_EINVAL with the reason in *why. */
int kw_now_parse(const char *s, int64_t *out, const char **why);

/* Time arithmetic that saturates at INT64_MIN/INT64_MAX instead of
 * overflowing: t + d, and a - b.  Every sum or difference of times that
 * come from outside (certificates, the clock, the database) goes through
 * these, so an extreme value stays extreme and keeps its sign. */
int64_t kw_time_add(int64_t t, int64_t d);
int64_t kw_time_diff(int64_t a, int64_t b);

/* Days in month (1-12) of year in the proleptic Gregorian calendar; 0
 * for a month out of range. */
int kw_days_in_month(int year, int month);

/* Parse a duration such as "30d", "12h", "2w", "90m", "45s" or "1w2d".
 * Units are required; the total must be positive and at most 100 years.
 * Returns 0 and sets *out, or KW_EINVAL with the reason in *why. */
int kw_duration_parse(const char *s, int64_t *out, const char **why);

/* Format a duration compactly: "3d 4h", "5h 12m", "42s", "-2d 3h". */
void kw_duration_format(int64_t secs, char *buf, size_t len);

/* Format t as "2026-11-26T23:51:26Z".  buf must hold 32 bytes. */
void kw_time_rfc3339(int64_t t, char *buf, size_t len);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (or with a numeric offset).  0 or
 * KW_EINVAL. */
int kw_time_parse_rfc3339(const char *s, int64_t *out);

/* Seconds since the epoch for a proleptic Gregorian UTC date; month 1-12.
 * Pure arithmetic, valid for years 0..9999. */
int64_t kw_time_from_civil(int year, int month, int day, int hour, int min,
                           int sec);

/* Whole days left until t (floor), negative once t has passed. */
int64_t kw_days_left(int64_t t, int64_t now);

#endif
