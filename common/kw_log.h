/*
 * kw_log.h: leveled logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line carries the sd-daemon
 * "<N>" priority prefix so journald files it at the right level; on a
 * terminal lines read "keywarden: warning: ...".  Secrets are never passed
 * here: callers log names, paths and fingerprints, not key bytes.
 */
#ifndef KW_LOG_H
#define KW_LOG_H

enum kw_log_level {
    KW_LOG_ERR = 3,
    KW_LOG_WARNING = 4,
    KW_LOG_NOTICE = 5,
    KW_LOG_INFO = 6,
    KW_LOG_DEBUG = 7,
};

/* Messages above this level are dropped.  Default KW_LOG_NOTICE. */
void kw_log_set_level(enum kw_log_level level);
enum kw_log_level kw_log_get_level(void);

/* Parse "error", "warning", "notice", "info" or "debug"; -1 if unknown. */
int kw_log_level_parse(const char *s);

void kw_log(enum kw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define kw_err(...) kw_log(KW_LOG_ERR, __VA_ARGS__)
#define kw_warn(...) kw_log(KW_LOG_WARNING, __VA_ARGS__)
#define kw_notice(...) kw_log(KW_LOG_NOTICE, __VA_ARGS__)
#define kw_info(...) kw_log(KW_LOG_INFO, __VA_ARGS__)
#define kw_debug(...) kw_log(KW_LOG_DEBUG, __VA_ARGS__)

#endif
