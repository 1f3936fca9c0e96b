#include "servers.h"

#include "proc.h"
#include "testpki.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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
    tp_mkdirs(prefix);
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
            "  ssl_certificate %s;\n  ssl_certificate_key %s;\n }\n}\n",
            prefix, prefix, prefix, prefix, prefix, prefix, prefix, port,
            cert, key) >= sizeof(text))
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
