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
