#include "servers.h"

#include "proc.h"
#include "testpki.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int port_open(void *ctx)
{
    int port = *(int *)ctx, fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

pid_t nginx_start(const char *dir, int port, const char *cert,
                  const char *key)
{
    char prefix[1024], conf[1100], out[1100], text[8192];
    char *argv[6];
    pid_t pid;

    if ((size_t)snprintf(prefix, sizeof(prefix), "%s/nginx/", dir) >=
        sizeof(prefix))
        return -1;
    snprintf(conf, sizeof(conf), "%sconf.d", prefix);
    tp_mkdirs(conf);
    /* The certificate is named in an included file, as sites and
     * snippets do (discovery must follow it). */
    snprintf(conf, sizeof(conf), "%sconf.d/tls.conf", prefix);
    if ((size_t)snprintf(text, sizeof(text),
                         "# included by nginx.conf's server block\n"
                         "ssl_certificate %s;\nssl_certificate_key %s;\n",
                         cert, key) >= sizeof(text))
        return -1;
    tp_write_bytes(conf, text, strlen(text), 0644);
    snprintf(conf, sizeof(conf), "%snginx.conf", prefix);
    snprintf(out, sizeof(out), "%snginx.out", prefix);
    if ((size_t)snprintf(
            text, sizeof(text),
            "daemon off;\npid %snginx.pid;\nerror_log %serror.log;\n"
            "worker_processes 1;\nevents { worker_connections 1024; }\n"
            "http {\n access_log off;\n"
            " client_body_temp_path %sbody;\n proxy_temp_path %sproxy;\n"
            " fastcgi_temp_path %sfcgi;\n uwsgi_temp_path %suwsgi;\n"
            " scgi_temp_path %sscgi;\n server {\n"
            "  listen 127.0.0.1:%d ssl;\n  server_name web.example.com;\n"
            "  include conf.d/*.conf;\n }\n}\n",
            prefix, prefix, prefix, prefix, prefix, prefix, prefix, port) >=
        sizeof(text))
        return -1;
    tp_write_bytes(conf, text, strlen(text), 0644);
    argv[0] = (char *)"/usr/sbin/nginx";
    argv[1] = (char *)"-c";
    argv[2] = conf;
    argv[3] = (char *)"-p";
    argv[4] = prefix;
    argv[5] = NULL;
    pid = proc_spawn_log(argv, out);
    if (!proc_until(port_open, &port, 10000))
        return -1;
    return pid;
}

pid_t dovecot_start(const char *dir, const int ports[DV_NPORTS],
                    const char *cert, const char *key, const char **skip)
{
    static const char *const bins[] = {
        "/usr/sbin/dovecot", "/usr/lib/dovecot/imap-login",
        "/usr/lib/dovecot/pop3-login", NULL};
    char base[1024], conf[1100], out[1100], text[8192];
    char *argv[5];
    pid_t pid;
    int i;

    if (skip != NULL)
        *skip = NULL;
    for (i = 0; bins[i] != NULL; i++)
        if (access(bins[i], X_OK) != 0) {
            if (skip != NULL)
                *skip = "Dovecot is not installed (dovecot-core, "
                        "dovecot-imapd, dovecot-pop3d)";
            return 0;
        }
    /* The master binds the ports and runs the login processes as
     * dovenull, the auth and other internal processes as dovecot. */
    if (geteuid() != 0 || getpwnam("dovecot") == NULL ||
        getpwnam("dovenull") == NULL) {
        if (skip != NULL)
            *skip = "Dovecot needs root and the users dovecot and dovenull";
        return 0;
    }
    if ((size_t)snprintf(base, sizeof(base), "%s/dovecot", dir) >=
        sizeof(base))
        return -1;
    tp_mkdirs(base);
    snprintf(conf, sizeof(conf), "%s/dovecot.conf", base);
    snprintf(out, sizeof(out), "%s/dovecot.out", base);
    /* base_dir holds the Unix sockets (paths under 108 bytes), state_dir
     * the instance registry; nothing outside dir is written.  The login
     * processes read the certificate from the config process, which runs
     * as root.  passdb "static" with deny refuses every login. */
    if ((size_t)snprintf(
            text, sizeof(text),
            "base_dir = %s/run\nstate_dir = %s/state\n"
            "log_path = %s/dovecot.log\n"
            "protocols = imap pop3\nlisten = 127.0.0.1\n"
            "default_internal_user = dovecot\n"
            "default_login_user = dovenull\n"
            "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
            "passdb {\n  driver = static\n  args = nopassword=y\n"
            "  deny = yes\n}\n"
            "userdb {\n  driver = static\n"
            "  args = uid=nobody gid=nogroup\n}\n"
            "service imap-login {\n"
            "  inet_listener imap {\n    address = 127.0.0.1\n"
            "    port = %d\n  }\n"
            "  inet_listener imaps {\n    address = 127.0.0.1\n"
            "    port = %d\n    ssl = yes\n  }\n}\n"
            "service pop3-login {\n"
            "  inet_listener pop3 {\n    address = 127.0.0.1\n"
            "    port = %d\n  }\n"
            "  inet_listener pop3s {\n    address = 127.0.0.1\n"
            "    port = %d\n    ssl = yes\n  }\n}\n",
            base, base, base, cert, key, ports[DV_IMAP], ports[DV_IMAPS],
            ports[DV_POP3], ports[DV_POP3S]) >= sizeof(text))
        return -1;
    tp_write_bytes(conf, text, strlen(text), 0644);
    argv[0] = (char *)"/usr/sbin/dovecot";
    argv[1] = (char *)"-F";
    argv[2] = (char *)"-c";
    argv[3] = conf;
    argv[4] = NULL;
    pid = proc_spawn_log(argv, out);
    for (i = 0; i < DV_NPORTS; i++) {
        int port = ports[i];

        if (!proc_until(port_open, &port, 10000)) {
            kill(pid, SIGTERM);
            if (proc_wait(pid, 10000) < 0) {
                kill(pid, SIGKILL);
                proc_wait(pid, 5000);
            }
            return -1;
        }
    }
    return pid;
}

pid_t postfix_master_pid(const char *dir)
{
    char p[1100];
    FILE *f;
    long pid = 0;

    if ((size_t)snprintf(p, sizeof(p), "%s/postfix/queue/pid/master.pid",
                         dir) >= sizeof(p))
        return 0;
    f = fopen(p, "r");
    if (f == NULL)
        return 0;
    /* Postfix writes the pid right-aligned in a fixed-width field. */
    if (fscanf(f, " %ld", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

static int pid_gone(void *ctx)
{
    return kill(*(pid_t *)ctx, 0) != 0;
}

void postfix_stop(const char *dir, pid_t pid)
{
    pid_t master;

    if (pid <= 0)
        return;
    /* The master is the start-fg shell's child, not ours: it is reaped
     * there, so kill(pid, 0) failing means it is gone.  Its children
     * (smtpd, qmgr...) go with it. */
    master = postfix_master_pid(dir);
    if (master > 0 && master != pid && kill(master, SIGTERM) == 0)
        proc_until(pid_gone, &master, 10000);
    kill(pid, SIGTERM);
    if (proc_wait(pid, 10000) < 0) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
}

/* 1 when the main.cf lines in text set the parameter name. */
static int main_cf_sets(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *l = text; l != NULL && *l != '\0';) {
        if (strncmp(l, name, n) == 0 && l[n + strspn(l + n, " \t")] == '=')
            return 1;
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    return 0;
}

pid_t postfix_start(const char *dir, int port, const char *cert,
                    const char *key, const char *extra_main_cf,
                    const char **skip)
{
    char etc[1024], queue[1024], data[1024], p[1100], out[1100];
    char text[8192];
    struct passwd *pw = getpwnam("postfix");
    char *argv[5];
    pid_t pid;

    if (skip != NULL)
        *skip = NULL;
    if (geteuid() != 0 || pw == NULL ||
        access("/usr/sbin/postfix", X_OK) != 0) {
        if (skip != NULL)
            *skip = "Postfix needs root, the user postfix and "
                    "/usr/sbin/postfix (postfix)";
        return 0;
    }
    if ((size_t)snprintf(etc, sizeof(etc), "%s/postfix/etc", dir) >=
            sizeof(etc) ||
        (size_t)snprintf(queue, sizeof(queue), "%s/postfix/queue", dir) >=
            sizeof(queue) ||
        (size_t)snprintf(data, sizeof(data), "%s/postfix/data", dir) >=
            sizeof(data))
        return -1;
    tp_mkdirs(etc);
    tp_mkdirs(queue);
    tp_mkdirs(data);
    /* Postfix's unprivileged processes must reach their directories. */
    if (chown(data, pw->pw_uid, pw->pw_gid) != 0 || chmod(dir, 0711) != 0) {
        if (skip != NULL)
            *skip = "cannot give Postfix its data directory";
        return 0;
    }
    /* Postfix reads the key as root before dropping privileges. */
    snprintf(p, sizeof(p), "%s/main.cf", etc);
    /* A default the caller's lines set again is left out: Postfix warns
     * of every overridden entry in every process it starts, and
     * postlogd's own warnings at a reload go to its own socket (a
     * datagram queue of net.unix.max_dgram_qlen, 10 on Debian) while it
     * is not yet reading it.  Under a burst of logging that wedges the
     * whole instance: seen as a master that stopped answering after a
     * reload, the greeting never sent. */
    {
        static const char *const defaults[][2] = {
            { "myhostname", "mail.example.net" },
            { "inet_interfaces", "127.0.0.1" },
            { "inet_protocols", "ipv4" },
            { "mydestination", "" },
            { "smtpd_tls_security_level", "may" },
        };
        const char *extra = extra_main_cf != NULL ? extra_main_cf : "";
        size_t len;

        len = (size_t)snprintf(text, sizeof(text),
                               "compatibility_level = 3.6\n"
                               "queue_directory = %s\ndata_directory = %s\n"
                               "mail_owner = postfix\n"
                               "maillog_file = /dev/stdout\n"
                               "smtpd_tls_cert_file = %s\n"
                               "smtpd_tls_key_file = %s\n",
                               queue, data, cert, key);
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) &&
                           len < sizeof(text);
             i++)
            if (!main_cf_sets(extra, defaults[i][0]))
                len += (size_t)snprintf(text + len, sizeof(text) - len,
                                        "%s = %s\n", defaults[i][0],
                                        defaults[i][1]);
        if (len < sizeof(text))
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s",
                                    extra);
        if (len >= sizeof(text))
            return -1;
    }
    tp_write_bytes(p, text, strlen(text), 0644);
    snprintf(p, sizeof(p), "%s/master.cf", etc);
    if ((size_t)snprintf(text, sizeof(text),
                         "127.0.0.1:%d inet n - n - - smtpd\n"
                         "pickup unix n - n 60 1 pickup\n"
                         "cleanup unix n - n - 0 cleanup\n"
                         "qmgr unix n - n 300 1 qmgr\n"
                         "tlsmgr unix - - n 1000? 1 tlsmgr\n"
                         "rewrite unix - - n - - trivial-rewrite\n"
                         "bounce unix - - n - 0 bounce\n"
                         "defer unix - - n - 0 bounce\n"
                         "trace unix - - n - 0 bounce\n"
                         "verify unix - - n - 1 verify\n"
                         "flush unix n - n 1000? 0 flush\n"
                         "proxymap unix - - n - - proxymap\n"
                         "smtp unix - - n - - smtp\n"
                         "relay unix - - n - - smtp\n"
                         "showq unix n - n - - showq\n"
                         "error unix - - n - - error\n"
                         "retry unix - - n - - error\n"
                         "discard unix - - n - - discard\n"
                         "local unix - n n - - local\n"
                         "anvil unix - - n - 1 anvil\n"
                         "scache unix - - n - 1 scache\n"
                         "postlog unix-dgram n - n - 1 postlogd\n",
                         port) >= sizeof(text))
        return -1;
    tp_write_bytes(p, text, strlen(text), 0644);
    snprintf(out, sizeof(out), "%s/postfix/postfix.out", dir);
    argv[0] = (char *)"/usr/sbin/postfix";
    argv[1] = (char *)"-c";
    argv[2] = etc;
    argv[3] = (char *)"start-fg";
    argv[4] = NULL;
    pid = proc_spawn_log(argv, out);
    if (!proc_until(port_open, &port, 20000)) {
        postfix_stop(dir, pid);
        return -1;
    }
    return pid;
}
