#include "cli.h"
#include "config.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_time.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kw_cli_init(kw_cli *cli, const char *opt)
{
    const char *env = getenv("KEYWARDEN_STATE_DIR");
    const char *home, *xdg, *pin, *why;
    int n;

    memset(cli, 0, sizeof(*cli));
    if (opt != NULL && *opt != '\0') {
        n = snprintf(cli->state_dir, sizeof(cli->state_dir), "%s", opt);
    } else if (env != NULL && *env != '\0') {
        n = snprintf(cli->state_dir, sizeof(cli->state_dir), "%s", env);
    } else if (geteuid() == 0) {
        n = snprintf(cli->state_dir, sizeof(cli->state_dir),
                     "/var/lib/keywarden");
    } else if ((xdg = getenv("XDG_STATE_HOME")) != NULL && xdg[0] == '/') {
        n = snprintf(cli->state_dir, sizeof(cli->state_dir), "%s/keywarden",
                     xdg);
    } else {
        home = getenv("HOME");
        if (home == NULL || *home == '\0') {
            struct passwd *pw = getpwuid(geteuid());
            home = pw != NULL ? pw->pw_dir : "/";
        }
        n = snprintf(cli->state_dir, sizeof(cli->state_dir),
                     "%s/.local/state/keywarden", home);
    }
    if (n < 0 || (size_t)n >= sizeof(cli->state_dir) ||
        (size_t)snprintf(cli->db_path, sizeof(cli->db_path),
                         "%s/keywarden.db", cli->state_dir) >=
            sizeof(cli->db_path)) {
        kw_err("state directory path is too long");
        return KW_EINVAL;
    }
    snprintf(cli->config_path, sizeof(cli->config_path), "%s",
             KW_CONFIG_DEFAULT_PATH);
    if (kw_now_check(&pin, &why) != 0) {
        kw_err("KEYWARDEN_NOW=%s: %s", pin, why);
        return KW_EINVAL;
    }
    cli->now = kw_now();
    return 0;
}

/* Is there an inventory at path?  A missing file is none, and so is an
 * empty one (a database being created, or one truncated): a reading
 * command must not take it for an empty inventory, nor create the schema
 * in it.  A WAL database is never 0 bytes once its schema exists, since
 * switching to WAL writes the header to the file itself. */
static int inventory_exists(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return errno != ENOENT; /* let the open name any other error */
    return st.st_size > 0;
}

int kw_cli_open(kw_cli *cli, int create, ks_store **out)
{
    kw_diag d;
    int r;

    *out = NULL;
    if (!create && !inventory_exists(cli->db_path))
        return KW_ENOENT;
    if (create) {
        r = kw_mkdir_p(cli->state_dir, 0700);
        if (r != 0) {
            kw_err("cannot create state directory %s: %s", cli->state_dir,
                   kw_strerror(r));
            return r;
        }
    }
    r = ks_open(cli->db_path, create ? KS_OPEN_CREATE : 0, out, &d);
    if (r != 0 && !create && access(cli->db_path, W_OK) != 0) {
        /* A monitoring user may read the inventory without owning it. */
        r = ks_open(cli->db_path, KS_OPEN_READONLY, out, &d);
    }
    if (r != 0)
        kw_err("%s", d.msg);
    return r;
}

int kw_cli_open_existing(kw_cli *cli, ks_store **out)
{
    int r = kw_cli_open(cli, 0, out);

    if (r == KW_ENOENT)
        kw_err("no inventory at %s; run `keywarden scan PATH...` first "
               "(or give --state-dir)",
               cli->db_path);
    return r;
}

int kw_cli_shared_opt(kw_cli *cli, int c, const char *arg, ks_thresholds *t,
                      void (*usage)(FILE *), int bad_usage)
{
    switch (c) {
    case 'S':
        return kw_cli_init(cli, arg) == 0 ? KW_CLI_NEXT : KW_EXIT_FAIL;
    case 'w':
    case 'c':
        if (t == NULL)
            break;
        if (kw_parse_duration_opt(c == 'w' ? "--warn" : "--crit", arg,
                                  c == 'w' ? &t->warn : &t->crit) != 0)
            return bad_usage;
        return KW_CLI_NEXT;
    case 'h':
        usage(stdout);
        return KW_EXIT_OK;
    case '?':
    case ':':
        usage(stderr);
        return bad_usage;
    default:
        break;
    }
    return KW_CLI_NOT_SHARED;
}
