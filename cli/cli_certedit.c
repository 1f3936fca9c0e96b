/*
 * cli_certedit.c: keywarden certificate add / remove: a [certificate]
 * section appended to or cut from the configuration file.
 *
 * The file stays the operator's: everything else in it (comments, order,
 * spacing) is kept byte for byte.  The new text is parsed in full before
 * it replaces the old one (atomically, with the old file's mode), so a
 * command never leaves a configuration the daemon would refuse; a running
 * daemon is then asked to reload.
 */
#include "cli.h"
#include "../service/config.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"
#include "../common/kw_str.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void add_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] certificate add NAME --names "
          "LIST\n"
          "         [--webroot DIR] [--challenge http-01|dns-01] "
          "[--key-type TYPE]\n"
          "\n"
          "Append a [certificate \"NAME\"] section to the configuration "
          "(checked\n"
          "whole before it is written) and ask a running daemon to reload; "
          "it issues\n"
          "the certificate at once.  dns-01 needs its dns_server or "
          "dns_exec lines:\n"
          "edit the file for those.  Without a configuration file, one is "
          "created\n"
          "(its directory 0750) that keeps serve's scan of /etc/ssl and "
          "/etc/letsencrypt.\n",
          out);
}

static void remove_usage(FILE *out)
{
    fputs("Usage: keywarden [--config FILE] certificate remove NAME\n"
          "\n"
          "Cut the [certificate \"NAME\"] section from the configuration "
          "and ask a\n"
          "running daemon to reload.  Its files (live/NAME, archive/NAME) "
          "and its\n"
          "history stay; keywarden just stops renewing it.\n",
          out);
}

/* The text of a configuration that does not exist yet: a file that
 * exists replaces serve's built-in scan of /etc/ssl and /etc/letsencrypt,
 * so the new one keeps that scan in words the operator can edit. */
static void new_file_preamble(char *out, size_t cap, size_t *pos)
{
    static const char *const scan[] = {KW_CONFIG_DEFAULT_SCAN};
    size_t i;

    kw_str_appendf(out, cap, pos,
                   "# keywarden's configuration, created by `keywarden "
                   "certificate add`;\n"
                   "# keywarden(1) and keywarden.conf.example describe "
                   "every key.\n"
                   "\n"
                   "# What `keywarden serve` scanned without this file.\n"
                   "[scan]\n");
    for (i = 0; i < sizeof(scan) / sizeof(scan[0]); i++)
        kw_str_appendf(out, cap, pos, "path = %s\n", scan[i]);
}

/* Create the directory of a configuration file that does not exist yet
 * (/etc/keywarden on a fresh machine): 0750, as the daemon's
 * ConfigurationDirectory. */
static int make_conf_dir(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    int r;

    if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
        return KW_EINVAL;
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0; /* the working directory, or / */
    *slash = '\0';
    if ((r = kw_mkdir_p(dir, 0750)) != 0)
        kw_err("cannot create %s for %s: %s", dir, path, kw_strerror(r));
    return r;
}

/* *absent is set when the file does not exist (text is then ""). */
static int read_conf(const char *path, char **text, size_t *len,
                     mode_t *mode, int *absent)
{
    unsigned char *buf = malloc(KW_CONFIG_MAX_SIZE + 1);
    struct stat st;
    int fd, r;

    if (buf == NULL)
        return KW_ENOMEM;
    *mode = 0600; /* a new file may come to hold TSIG or EAB secrets */
    *len = 0;
    *absent = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *absent = 1;
        buf[0] = '\0';
        *text = (char *)buf;
        return 0;
    }
    if (fd < 0) {
        r = kw_errno();
        free(buf);
        return r;
    }
    if (fstat(fd, &st) == 0)
        *mode = st.st_mode & 07777;
    r = kw_read_fd(fd, buf, KW_CONFIG_MAX_SIZE, len);
    close(fd);
    if (r != 0) {
        free(buf);
        return r;
    }
    buf[*len] = '\0';
    *text = (char *)buf;
    return 0;
}

/* Parses text as the file; prints the error (file, line) when it is not
 * a valid configuration. */
static int check_text(const char *path, const char *text, size_t len)
{
    kw_config c;
    kw_diag d;
    int r = kw_config_parse(path, text, len, &c, &d);

    if (r != 0)
        kw_err("the result would not be valid, nothing written: %s", d.msg);
    kw_config_free(&c);
    return r;
}

static int write_and_reload(kw_cli *cli, const char *text, size_t len,
                            mode_t mode)
{
    json_t *reply = NULL, *req;
    kw_diag d;

    if (kw_write_atomic(cli->config_path, text, len, mode, &d) != 0) {
        kw_err("%s", d.msg);
        return -1;
    }
    req = json_pack("{s:s}", "cmd", "reload");
    if (req != NULL &&
        kw_cli_call_daemon(cli, req, 10000, &reply, &d) == 0) {
        if (json_is_true(json_object_get(reply, "ok")))
            kw_outf(stdout, "the running daemon reloaded %s\n",
                    cli->config_path);
        else {
            const char *why =
                json_string_value(json_object_get(reply, "error"));

            kw_err("the running daemon did not reload %s: %s",
                   cli->config_path, why != NULL ? why : "no reason given");
        }
        json_decref(reply);
    }
    json_decref(req);
    return 0;
}

/* Comment and blank lines just before the next section header belong to
 * that section: the cut ends before them. */
static size_t keep_leading_comments(const char *text, size_t start,
                                    size_t end)
{
    size_t e = end;

    while (e > start) {
        size_t ls = e - 1, i;

        /* the line ending at e - 1 */
        while (ls > start && text[ls - 1] != '\n')
            ls--;
        for (i = ls; i < e && (text[i] == ' ' || text[i] == '\t'); i++)
            ;
        if (i < e && text[i] != '\n' && text[i] != '#' && text[i] != ';')
            break;
        if (ls == start)
            break;
        e = ls;
    }
    return e;
}

/* The byte range of [certificate "name"], from its header line to the
 * next section header (or the end). */
static int find_section(const char *text, const char *name, size_t *start,
                        size_t *end)
{
    const char *p = text;
    int in = 0;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        const char *next = nl != NULL ? nl + 1 : p + strlen(p);
        const char *s = p;

        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[') {
            if (in) {
                *end = keep_leading_comments(text, *start, (size_t)(p - text));
                return 0;
            }
            /* [certificate "NAME"], spaces allowed as the parser does */
            s++;
            while (*s == ' ' || *s == '\t')
                s++;
            if (strncmp(s, "certificate", 11) == 0) {
                s += 11;
                while (*s == ' ' || *s == '\t')
                    s++;
                if (*s == '"' && strncmp(s + 1, name, strlen(name)) == 0 &&
                    s[1 + strlen(name)] == '"') {
                    in = 1;
                    *start = (size_t)(p - text);
                }
            }
        }
        p = next;
    }
    if (in) {
        *end = strlen(text);
        return 0;
    }
    return -1;
}

static int cert_add(kw_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"names", required_argument, NULL, 'n'},
        {"webroot", required_argument, NULL, 'w'},
        {"challenge", required_argument, NULL, 'c'},
        {"key-type", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *names = NULL, *webroot = NULL, *challenge = NULL,
               *key_type = NULL, *name;
    char *text = NULL, *out;
    size_t len, s, e, pos = 0, cap;
    mode_t mode;
    int ch, r, absent;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': names = optarg; break;
        case 'w': webroot = optarg; break;
        case 'c': challenge = optarg; break;
        case 'k': key_type = optarg; break;
        case 'h': add_usage(stdout); return KW_EXIT_OK;
        default: add_usage(stderr); return KW_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || names == NULL) {
        add_usage(stderr);
        return KW_EXIT_USAGE;
    }
    name = argv[optind];
    if ((r = read_conf(cli->config_path, &text, &len, &mode, &absent)) !=
        0) {
        kw_err("%s: %s", cli->config_path, kw_strerror(r));
        return KW_EXIT_FAIL;
    }
    if (find_section(text, name, &s, &e) == 0) {
        kw_err("%s: [certificate \"%s\"] is there already; remove it "
               "first or edit the file",
               cli->config_path, name);
        free(text);
        return KW_EXIT_FAIL;
    }
    cap = len + 2048 + strlen(name) + strlen(names) +
          (webroot ? strlen(webroot) : 0) +
          (challenge ? strlen(challenge) : 0) +
          (key_type ? strlen(key_type) : 0);
    out = malloc(cap);
    if (out == NULL) {
        free(text);
        kw_err("out of memory");
        return KW_EXIT_FAIL;
    }
    memcpy(out, text, len);
    pos = len;
    if (absent)
        new_file_preamble(out, cap, &pos);
    /* Values go in as they are: the parser below judges them, and
     * neither quotes nor newlines can get through it into the file. */
    if (strpbrk(name, "\"\n\r") != NULL || strpbrk(names, "\n\r") != NULL ||
        (webroot && strpbrk(webroot, "\n\r") != NULL)) {
        kw_err("certificate add: a value with a newline or quote");
        free(out);
        free(text);
        return KW_EXIT_USAGE;
    }
    kw_str_appendf(out, cap, &pos, "%s[certificate \"%s\"]\nnames = %s\n",
                   pos > 0 && out[pos - 1] != '\n' ? "\n\n"
                   : pos > 0                      ? "\n"
                                                  : "",
                   name, names);
    if (challenge != NULL)
        kw_str_appendf(out, cap, &pos, "challenge = %s\n", challenge);
    if (webroot != NULL)
        kw_str_appendf(out, cap, &pos, "http01 = webroot\nwebroot = %s\n",
                       webroot);
    if (key_type != NULL)
        kw_str_appendf(out, cap, &pos, "key_type = %s\n", key_type);
    free(text);
    if (check_text(cli->config_path, out, pos) != 0 ||
        (absent && make_conf_dir(cli->config_path) != 0) ||
        write_and_reload(cli, out, pos, mode) != 0) {
        free(out);
        return KW_EXIT_FAIL;
    }
    free(out);
    kw_outf(stdout, "added [certificate \"%s\"] to %s%s\n", name,
            cli->config_path,
            absent ? " (a new file, which keeps the scan of /etc/ssl and "
                     "/etc/letsencrypt)"
                   : "");
    return KW_EXIT_OK;
}

static int cert_remove(kw_cli *cli, int argc, char **argv)
{
    char *text = NULL;
    size_t len, s, e;
    mode_t mode;
    int r, absent;

    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && strcmp(argv[1], "--help") == 0) {
            remove_usage(stdout);
            return KW_EXIT_OK;
        }
        remove_usage(stderr);
        return KW_EXIT_USAGE;
    }
    if ((r = read_conf(cli->config_path, &text, &len, &mode, &absent)) !=
        0) {
        kw_err("%s: %s", cli->config_path, kw_strerror(r));
        return KW_EXIT_FAIL;
    }
    if (find_section(text, argv[1], &s, &e) != 0) {
        kw_err("%s: no [certificate \"%s\"]", cli->config_path, argv[1]);
        free(text);
        return KW_EXIT_FAIL;
    }
    memmove(text + s, text + e, len - e + 1);
    len -= e - s;
    if (check_text(cli->config_path, text, len) != 0 ||
        write_and_reload(cli, text, len, mode) != 0) {
        free(text);
        return KW_EXIT_FAIL;
    }
    free(text);
    kw_outf(stdout,
            "removed [certificate \"%s\"] from %s; its files and history "
            "stay\n",
            argv[1], cli->config_path);
    return KW_EXIT_OK;
}

int cli_certificate_edit(kw_cli *cli, int argc, char **argv)
{
    if (strcmp(argv[0], "add") == 0)
        return cert_add(cli, argc, argv);
    return cert_remove(cli, argc, argv);
}
