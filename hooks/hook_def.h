/*
 * hook_def.h: what a [hook "NAME"] section says, which events it takes,
 * and the commands of the built-in reload actions.
 *
 * A hook is either a command (`run`, an argv; a shell only with
 * `shell = yes`) or a built-in reload of a daemon (`reload = postfix`...),
 * never both.  The event types it listens to are checked against the
 * event registry (keystore/ks_events.h), so a typo is a configuration
 * error instead of a hook that never runs.
 */
#ifndef KW_HOOK_DEF_H
#define KW_HOOK_DEF_H

#include <stddef.h>
#include <stdint.h>

typedef enum kw_reload {
    KW_RELOAD_NONE = 0,
    KW_RELOAD_POSTFIX,
    KW_RELOAD_OPENDKIM,
    KW_RELOAD_NGINX,
    KW_RELOAD_DOVECOT,
    KW_RELOAD_APACHE2,
    KW_RELOAD_AUTO, /* the daemons discovery saw using the changed files */
} kw_reload;

typedef struct kw_hook_def {
    char *name;
    char **on;            /* event type patterns ("cert.renewed", "cert.*") */
    size_t non;
    char **objects;       /* fnmatch globs on the object's name; none: all */
    size_t nobjects;
    char **kinds;         /* tls, endpoint, dkim, dnssec, account, hook */
    size_t nkinds;
    char **argv;          /* run = ..., split; NULL for a reload; with
                           * shell, one element: the line */
    size_t nargv;
    char *run_line;       /* run = as written */
    int shell;            /* run is one /bin/sh -c command */
    kw_reload reload;
    char *reload_config;  /* the daemon's configuration, when not default */
    int64_t timeout;      /* seconds, per command */
    char *user, *group;   /* drop to these; NULL: keep keywarden's */
    int retries;          /* runs after the first failed one */
    int64_t retry_delay;  /* first wait, doubled each time (max 1 h) */
    int64_t coalesce;     /* seconds events wait to share one run */
    int line;             /* where the section starts */
} kw_hook_def;

#define KW_HOOK_DEFAULT_TIMEOUT 60
#define KW_HOOK_DEFAULT_RETRIES 3
#define KW_HOOK_DEFAULT_RETRY_DELAY 30
#define KW_HOOK_RELOAD_COALESCE 10 /* default for reload = ... */
#define KW_HOOK_MAX_RETRY_WAIT 3600

/* 1 if pattern (a type or an fnmatch glob) matches at least one type of
 * the event registry (keystore/ks_events.h), reserved ones included. */
int kw_hook_event_pattern_ok(const char *pattern);

/* 1 if it matches a type something emits today: the registry's reserved
 * types (dkim.*, dnssec.*) wait for lifecycles that do not exist yet. */
int kw_hook_event_emitted(const char *pattern);

/* "postfix" ... "auto" to KW_RELOAD_*; -1 if not one of them. */
int kw_reload_parse(const char *word);
const char *kw_reload_word(kw_reload r);

/* Does the hook take this event?  type and kind are required; object may
 * be NULL (matches only when the hook has no object filter).  A
 * hook.failed event is never delivered to the hook it is about (source),
 * so a failing alert hook cannot feed itself. */
int kw_hook_matches(const kw_hook_def *h, const char *type,
                    const char *object, const char *kind,
                    const char *source_hook);

/* Split a `run =` value into argv: words separated by blanks, "double"
 * or 'single' quotes group, a backslash escapes the next character inside
 * double quotes and outside quotes.  No variables, globs or other shell
 * syntax.  0, or -1 with why set (unbalanced quote, empty). */
int kw_hook_split(const char *line, char ***argv, size_t *argc,
                  const char **why);

void kw_hook_def_free(kw_hook_def *h);
/* A deep copy; 0 or KW_ENOMEM. */
int kw_hook_def_copy(kw_hook_def *dst, const kw_hook_def *src);

/*
 * The commands a built-in reload runs, in order; each must exit 0 for the
 * next to run.  A step with signal != 0 is not a command: it sends that
 * signal to the pid in pidfile, after checking that the process is
 * `comm` (so a stale pid file never signals a stranger).
 */
#define KW_RELOAD_MAX_STEPS 2
#define KW_RELOAD_MAX_ARGS 8
typedef struct kw_reload_step {
    const char *argv[KW_RELOAD_MAX_ARGS];
    int signal;
    char pidfile[512];
    const char *comm;
    const char *hint; /* where the daemon reports a failure, if not on
                         stderr */
} kw_reload_step;

typedef struct kw_reload_plan {
    kw_reload_step steps[KW_RELOAD_MAX_STEPS];
    int nsteps;
    char config[512]; /* owns what argv points into */
} kw_reload_plan;

/* The plan for r (not NONE or AUTO) with its configuration (NULL: the
 * daemon's default).  For opendkim the pid file is read from the
 * configuration's PidFile, else Debian's /run/opendkim/opendkim.pid. */
void kw_reload_plan_make(kw_reload r, const char *config,
                         kw_reload_plan *p);

#endif
