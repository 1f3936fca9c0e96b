#include "kw_log.h"

#include "kw_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum kw_log_level g_level = KW_LOG_NOTICE;
static int g_journal = -1; /* -1: not yet decided */

void kw_log_set_level(enum kw_log_level level)
{
    g_level = level;
}

enum kw_log_level kw_log_get_level(void)
{
    return g_level;
}

int kw_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        enum kw_log_level level;
    } names[] = {
        {"error", KW_LOG_ERR},   {"warning", KW_LOG_WARNING},
        {"notice", KW_LOG_NOTICE}, {"info", KW_LOG_INFO},
        {"debug", KW_LOG_DEBUG},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0)
            return (int)names[i].level;
    return -1;
}

static const char *level_word(enum kw_log_level level)
{
    switch (level) {
    case KW_LOG_ERR: return "error: ";
    case KW_LOG_WARNING: return "warning: ";
    case KW_LOG_DEBUG: return "debug: ";
    default: return "";
    }
}

void kw_log(enum kw_log_level level, const char *fmt, ...)
{
    char line[2048];
    size_t pos = 0;
    va_list ap;

    if (level > g_level)
        return;
    if (g_journal < 0)
        g_journal = getenv("JOURNAL_STREAM") != NULL;

    /* Arguments are escaped (paths, hook output, servers' answers): a
     * newline in one must not forge a second log line or journal entry. */
    line[0] = '\0';
    va_start(ap, fmt);
    kw_str_vsafef(line, sizeof(line), &pos, fmt, ap);
    va_end(ap);

    /* One fprintf per line so concurrent writers do not interleave. */
    if (g_journal)
        fprintf(stderr, "<%d>%s\n", (int)level, line);
    else
        fprintf(stderr, "keywarden: %s%s\n", level_word(level), line);
}
