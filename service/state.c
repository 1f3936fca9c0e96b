/*
 * state.c: the state directory, its inventory and its lock (state.h).
 */
#include "state.h"
#include "config.h"

#include "../common/kw_fs.h"
#include "../common/kw_time.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int kw_state_init(kw_state *st, const char *opt, kw_diag *d)
{
    const char *env = getenv("KEYWARDEN_STATE_DIR");
    const char *home, *xdg, *pin, *why;
    int n;

    memset(st, 0, sizeof(*st));
    if (opt != NULL && *opt != '\0') {
        n = snprintf(st->state_dir, sizeof(st->state_dir), "%s", opt);
    } else if (env != NULL && *env != '\0') {
        n = snprintf(st->state_dir, sizeof(st->state_dir), "%s", env);
    } else if (geteuid() == 0) {
        n = snprintf(st->state_dir, sizeof(st->state_dir),
                     "/var/lib/keywarden");
    } else if ((xdg = getenv("XDG_STATE_HOME")) != NULL && xdg[0] == '/') {
        n = snprintf(st->state_dir, sizeof(st->state_dir), "%s/keywarden",
                     xdg);
    } else {
        home = getenv("HOME");
        if (home == NULL || *home == '\0') {
            struct passwd *pw = getpwuid(geteuid());
            home = pw != NULL ? pw->pw_dir : "/";
        }
        n = snprintf(st->state_dir, sizeof(st->state_dir),
                     "%s/.local/state/keywarden", home);
    }
    if (n < 0 || (size_t)n >= sizeof(st->state_dir) ||
        (size_t)snprintf(st->db_path, sizeof(st->db_path),
                         "%s/keywarden.db", st->state_dir) >=
            sizeof(st->db_path))
        return kw_diag_set(d, KW_EINVAL, "state directory path is too long");
    snprintf(st->config_path, sizeof(st->config_path), "%s",
             KW_CONFIG_DEFAULT_PATH);
    if (kw_now_check(&pin, &why) != 0)
        return kw_diag_set(d, KW_EINVAL, "KEYWARDEN_NOW=%s: %s", pin, why);
    st->now = kw_now();
    return 0;
}

/* A WAL database is never 0 bytes once its schema exists, since
 * switching to WAL writes the header to the file itself. */
int kw_state_has_inventory(const kw_state *st)
{
    struct stat sb;

    if (stat(st->db_path, &sb) != 0)
        return errno != ENOENT; /* let the open name any other error */
    return sb.st_size > 0;
}

int kw_state_open(const kw_state *st, int create, ks_store **out,
                  kw_diag *d)
{
    int r;

    *out = NULL;
    if (create) {
        r = kw_mkdir_p(st->state_dir, 0700);
        if (r != 0)
            return kw_diag_set(d, r, "cannot create state directory %s: %s",
                               st->state_dir, kw_strerror(r));
    }
    r = ks_open(st->db_path, create ? KS_OPEN_CREATE : 0, out, d);
    if (r != 0 && !create && access(st->db_path, W_OK) != 0)
        r = ks_open(st->db_path, KS_OPEN_READONLY, out, d);
    return r;
}

int kw_state_lock(const kw_state *st, const char *what, int *out_fd,
                  kw_diag *d)
{
    const char *state_dir = st->state_dir;
    char path[PATH_MAX], held[96], *holder;
    ssize_t n;
    long pid;
    int fd;

    *out_fd = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/keywarden.lock",
                         state_dir) >= sizeof(path))
        return kw_diag_set(d, KW_EINVAL, "%s: path too long", state_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot open: %s", path,
                           strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        n = pread(fd, held, sizeof(held) - 1, 0);
        held[n > 0 ? n : 0] = '\0';
        held[strcspn(held, "\n")] = '\0';
        close(fd);
        if (e != EWOULDBLOCK)
            return kw_diag_set(d, -e, "%s: cannot lock: %s", path,
                               strerror(e));
        /* "PID COMMAND": who holds it, so the message names it. */
        pid = strtol(held, &holder, 10);
        holder += strspn(holder, " ");
        if (pid <= 0)
            return kw_diag_set(d, KW_EBUSY,
                               "another keywarden process holds %s", path);
        if (*holder == '\0')
            return kw_diag_set(d, KW_EBUSY,
                               "another keywarden process (pid %ld) holds %s",
                               pid, path);
        if (strcmp(holder, "serve") == 0)
            return kw_diag_set(d, KW_EBUSY,
                               "a keywarden daemon (keywarden serve, pid %ld) "
                               "is running on %s",
                               pid, state_dir);
        return kw_diag_set(d, KW_EBUSY,
                           "keywarden %.40s (pid %ld) is running on %s and "
                           "holds its lock; try again when it is done",
                           holder, pid, state_dir);
    }
    n = snprintf(held, sizeof(held), "%ld %.40s\n", (long)getpid(), what);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, held, (size_t)n, 0) != n) {
        close(fd);
        return kw_diag_set(d, KW_EIO, "%s: cannot write the pid", path);
    }
    *out_fd = fd;
    return 0;
}

void kw_state_control_path(const kw_state *st, const char *configured,
                           char *out, size_t len)
{
    int n;

    if (configured != NULL)
        n = snprintf(out, len, "%s", configured);
    else
        n = snprintf(out, len, "%s/keywarden.sock", st->state_dir);
    if (n < 0 || (size_t)n >= len)
        out[0] = '\0'; /* too long: no control socket */
}
