/*
 * pebble.c: Pebble, pebble-challtestsrv and nginx as children of a test
 * (see pebble.h).
 */
#include "pebble.h"

#include "proc.h"
#include "servers.h"
#include "testpki.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ----- children --------------------------------------------------------- */

#define PB_MAX_CHILDREN 64

static pid_t children[PB_MAX_CHILDREN];
static size_t nchildren;

void pb_track(pid_t pid)
{
    if (pid > 0 && nchildren < PB_MAX_CHILDREN)
        children[nchildren++] = pid;
}

size_t pb_mark(void)
{
    return nchildren;
}

static void stop_one(pid_t pid)
{
    if (pid <= 0)
        return;
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
        waitpid(pid, NULL, WNOHANG);
        return;
    }
    if (proc_wait(pid, 5000) == -1) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
}

void pb_forget(pid_t pid)
{
    size_t i;

    for (i = 0; i < nchildren; i++) {
        if (children[i] == pid) {
            memmove(&children[i], &children[i + 1],
                    (nchildren - i - 1) * sizeof(children[0]));
            nchildren--;
            return;
        }
    }
}

void pb_stop(pid_t pid)
{
    pb_forget(pid);
    stop_one(pid);
}

void pb_stop_to(size_t mark)
{
    while (nchildren > mark)
        stop_one(children[--nchildren]);
}

pid_t pb_spawn(char *const argv[], const char *const *env, const char *log)
{
    size_t n = 0, i, k = 0, extra = 0;
    char **envp;
    pid_t pid;
    int fd;

    while (environ[n] != NULL)
        n++;
    while (env != NULL && env[extra] != NULL)
        extra++;
    /* Built before fork: the child only calls async-signal-safe
     * functions. */
    envp = calloc(n + extra + 1, sizeof(char *));
    if (envp == NULL)
        abort();
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], "PEBBLE_", 7) != 0)
            envp[k++] = environ[i];
    for (i = 0; i < extra; i++)
        envp[k++] = (char *)env[i];
    envp[k] = NULL;
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(envp);
        return -1;
    }
    pid = proc_fork_tied();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);

        if (nul >= 0)
            dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd);
    free(envp);
    pb_track(pid);
    return pid;
}

/* ----- ports ------------------------------------------------------------ */

int pb_free_port_udp(void)
{
    int tries;

    for (tries = 0; tries < 100; tries++) {
        int port = free_port(), fd = socket(AF_INET, SOCK_DGRAM, 0), ok;
        struct sockaddr_in a;

        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    abort();
}

/* ----- HTTP ------------------------------------------------------------- */

typedef struct membuf {
    char *p;
    size_t len;
} membuf;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    membuf *b = ctx;
    size_t add = size * n;
    char *np;

    if (b->len + add > (8u << 20))
        return 0;
    np = realloc(b->p, b->len + add + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->len, data, add);
    b->p = np;
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

long pb_http_get(const char *url, const char *ca_file, char **body,
                 size_t *len)
{
    static int inited;
    CURL *c;
    membuf b = {NULL, 0};
    long status = 0;

    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    c = curl_easy_init();
    if (c == NULL)
        abort();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (body != NULL)
        *body = b.p;
    else
        free(b.p);
    if (len != NULL)
        *len = b.len;
    return status;
}

/* ----- PKI -------------------------------------------------------------- */

int pb_pki_make(const char *dir, const char *tag, const char *cn,
                pb_pki *out)
{
    static const char *const dns[] = {"localhost", NULL};
    static const char *const ips[] = {"127.0.0.1", NULL};
    static long serial = 1000;
    time_t now = time(NULL);
    EVP_PKEY *cak = tp_key_ec(), *k = tp_key_ec();
    X509 *ca, *leaf;

    ca = tp_cert(&(tp_spec){.cn = cn, .is_ca = 1, .not_before = now - 3600,
                            .not_after = now + 30 * 86400,
                            .serial = serial++, .key = cak});
    leaf = tp_cert(&(tp_spec){.cn = "localhost", .dns = dns, .ips = ips,
                              .not_before = now - 3600,
                              .not_after = now + 30 * 86400,
                              .serial = serial++, .key = k, .issuer = ca,
                              .issuer_key = cak});
    snprintf(out->ca_pem, sizeof(out->ca_pem), "%s/%s-ca.pem", dir, tag);
    snprintf(out->cert_pem, sizeof(out->cert_pem), "%s/%s-cert.pem", dir,
             tag);
    snprintf(out->key_pem, sizeof(out->key_pem), "%s/%s-key.pem", dir, tag);
    tp_write_pem(out->ca_pem, &ca, 1, NULL, 0644);
    tp_write_pem(out->cert_pem, &leaf, 1, NULL, 0644);
    tp_write_key(out->key_pem, k, 0600);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(k);
    return 0;
}

/* ----- readiness -------------------------------------------------------- */

typedef struct ready_ctx {
    pid_t pid;
    int port;
    const char *url, *ca;
    int exited;
} ready_ctx;

static int child_gone(ready_ctx *c)
{
    int status;

    if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
        c->exited = 1;
        return 1;
    }
    return 0;
}

/* The port accepts, or the child died (then exited is set). */
static int port_or_exit(void *ctx)
{
    ready_ctx *c = ctx;

    return child_gone(c) || port_open(&c->port);
}

static int url_or_exit(void *ctx)
{
    ready_ctx *c = ctx;

    if (child_gone(c))
        return 1;
    return pb_http_get(c->url, c->ca, NULL, NULL) == 200;
}

/* Waits for pid to accept on port; -1 (and the pid forgotten) if it
 * exited first or the time ran out. */
static int wait_port(pid_t pid, int port, int ms, const char *what,
                     const char *log)
{
    ready_ctx c = {pid, port, NULL, NULL, 0};

    if (!proc_until(port_or_exit, &c, ms) || c.exited) {
        fprintf(stderr, "%s did not listen on 127.0.0.1:%d%s (log: %s)\n",
                what, port, c.exited ? ": it exited" : "", log);
        if (c.exited)
            pb_forget(pid); /* reaped already */
        return -1;
    }
    return 0;
}

/* ----- challtestsrv ----------------------------------------------------- */

int pb_dns_start(const char *dir, pb_dns *out)
{
    char dns[32], mgmt[32];
    char *argv[] = {(char *)"/usr/bin/pebble-challtestsrv",
                    (char *)"-defaultIPv4", (char *)"127.0.0.1",
                    (char *)"-defaultIPv6", (char *)"",
                    (char *)"-dns01", dns,
                    (char *)"-management", mgmt,
                    (char *)"-http01", (char *)"",
                    (char *)"-https01", (char *)"",
                    (char *)"-tlsalpn01", (char *)"",
                    NULL};

    memset(out, 0, sizeof(*out));
    out->dns_port = pb_free_port_udp();
    out->mgmt_port = free_port();
    snprintf(dns, sizeof(dns), "127.0.0.1:%d", out->dns_port);
    snprintf(mgmt, sizeof(mgmt), "127.0.0.1:%d", out->mgmt_port);
    snprintf(out->log, sizeof(out->log), "%s/challtestsrv.log", dir);
    out->pid = pb_spawn(argv, NULL, out->log);
    if (out->pid < 0)
        return -1;
    if (wait_port(out->pid, out->mgmt_port, 15000, "pebble-challtestsrv",
                  out->log) != 0 ||
        wait_port(out->pid, out->dns_port, 15000,
                  "pebble-challtestsrv (DNS)", out->log) != 0)
        return -1;
    return 0;
}

/* ----- Pebble ----------------------------------------------------------- */

static int copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);

    if (s == NULL || strlen(s) >= cap)
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int pb_start(const char *dir, const char *name, const pb_pki *pki,
             const pb_opts *o, pebble *p)
{
    char cfg[PB_PATH + 32], dnsarg[32], url[128], env_buf[4][64];
    const char *env[6];
    char *argv[8], *body = NULL, *text;
    size_t ne = 0, len = 0;
    json_t *js, *d;
    json_error_t err;
    ready_ctx rc;
    int argc = 0;

    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s/%s", dir, name);
    tp_mkdirs(p->dir);
    snprintf(p->log, sizeof(p->log), "%s/pebble.log", p->dir);
    snprintf(cfg, sizeof(cfg), "%s/pebble.json", p->dir);
    p->acme_port = free_port();
    p->mgmt_port = free_port();
    p->tls_port = free_port();
    p->http_port = o->http_port > 0 ? o->http_port : free_port();
    js = json_pack("{s:{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:b}}", "pebble",
                   "listenAddress", "", "managementListenAddress", "",
                   "certificate", pki->cert_pem, "privateKey", pki->key_pem,
                   "httpPort", p->http_port, "tlsPort", p->tls_port,
                   "ocspResponderURL", "", "externalAccountBindingRequired",
                   0);
    if (js == NULL)
        abort();
    d = json_object_get(js, "pebble");
    if (o->eab_kid != NULL) {
        json_object_set_new(d, "externalAccountBindingRequired",
                            json_true());
        json_object_set_new(d, "externalAccountMACKeys",
                            json_pack("{s:s}", o->eab_kid, o->eab_key));
    }
    snprintf(url, sizeof(url), "127.0.0.1:%d", p->acme_port);
    json_object_set_new(d, "listenAddress", json_string(url));
    snprintf(url, sizeof(url), "127.0.0.1:%d", p->mgmt_port);
    json_object_set_new(d, "managementListenAddress", json_string(url));
    text = json_dumps(js, JSON_INDENT(2));
    json_decref(js);
    tp_write_bytes(cfg, text, strlen(text), 0644);
    free(text);

    if (o->nosleep)
        env[ne++] = "PEBBLE_VA_NOSLEEP=1";
    if (o->sleeptime > 0) {
        snprintf(env_buf[0], sizeof(env_buf[0]), "PEBBLE_VA_SLEEPTIME=%d",
                 o->sleeptime);
        env[ne++] = env_buf[0];
    }
    if (o->nonce_reject >= 0) {
        snprintf(env_buf[1], sizeof(env_buf[1]),
                 "PEBBLE_WFE_NONCEREJECT=%d", o->nonce_reject);
        env[ne++] = env_buf[1];
    }
    if (o->authz_reuse >= 0) {
        snprintf(env_buf[2], sizeof(env_buf[2]), "PEBBLE_AUTHZREUSE=%d",
                 o->authz_reuse);
        env[ne++] = env_buf[2];
    }
    if (o->alternate_roots > 0) {
        snprintf(env_buf[3], sizeof(env_buf[3]), "PEBBLE_ALTERNATE_ROOTS=%d",
                 o->alternate_roots);
        env[ne++] = env_buf[3];
    }
    env[ne] = NULL;
    snprintf(dnsarg, sizeof(dnsarg), "127.0.0.1:%d", o->dns_port);
    argv[argc++] = (char *)"/usr/bin/pebble";
    argv[argc++] = (char *)"-config";
    argv[argc++] = cfg;
    if (o->strict)
        argv[argc++] = (char *)"-strict";
    argv[argc++] = (char *)"-dnsserver";
    argv[argc++] = dnsarg;
    argv[argc] = NULL;
    p->pid = pb_spawn(argv, env, p->log);
    if (p->pid < 0)
        return -1;
    snprintf(p->directory, sizeof(p->directory), "https://127.0.0.1:%d/dir",
             p->acme_port);
    if (wait_port(p->pid, p->acme_port, 20000, "pebble", p->log) != 0)
        return -1;
    memset(&rc, 0, sizeof(rc));
    rc.pid = p->pid;
    rc.url = p->directory;
    rc.ca = pki->ca_pem;
    if (!proc_until(url_or_exit, &rc, 20000) || rc.exited) {
        fprintf(stderr, "pebble: %s did not answer 200 (log: %s)\n",
                p->directory, p->log);
        if (rc.exited)
            pb_forget(p->pid);
        return -1;
    }
    if (pb_http_get(p->directory, pki->ca_pem, &body, &len) != 200 ||
        (js = json_loadb(body, len, 0, &err)) == NULL) {
        fprintf(stderr, "pebble: %s: no JSON directory\n", p->directory);
        free(body);
        return -1;
    }
    free(body);
    if (copy_str(p->new_nonce, sizeof(p->new_nonce),
                 json_object_get(js, "newNonce")) != 0 ||
        copy_str(p->new_account, sizeof(p->new_account),
                 json_object_get(js, "newAccount")) != 0 ||
        copy_str(p->new_order, sizeof(p->new_order),
                 json_object_get(js, "newOrder")) != 0) {
        fprintf(stderr, "pebble: %s lacks newNonce/newAccount/newOrder\n",
                p->directory);
        json_decref(js);
        return -1;
    }
    json_decref(js);
    /* The issuing root changes at every start. */
    if (wait_port(p->pid, p->mgmt_port, 10000, "pebble management",
                  p->log) != 0)
        return -1;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/roots/0", p->mgmt_port);
    body = NULL;
    if (pb_http_get(url, pki->ca_pem, &body, &len) != 200 || body == NULL ||
        strstr(body, "-----BEGIN CERTIFICATE-----") == NULL) {
        fprintf(stderr, "pebble: %s: no root certificate\n", url);
        free(body);
        return -1;
    }
    snprintf(p->root_pem, sizeof(p->root_pem), "%s/root.pem", p->dir);
    tp_write_bytes(p->root_pem, body, len, 0644);
    free(body);
    return 0;
}

/* ----- nginx ------------------------------------------------------------ */

static pid_t nginx_run2(const char *dir, const char *name, int port,
                        const char *server_body, int raw);

static pid_t nginx_run(const char *dir, const char *name, int port,
                       const char *server_body)
{
    return nginx_run2(dir, name, port, server_body, 0);
}

pid_t pb_nginx_servers(const char *dir, const char *name, int port,
                       const char *servers)
{
    return nginx_run2(dir, name, port, servers, 1);
}

static pid_t nginx_run2(const char *dir, const char *name, int port,
                        const char *server_body, int raw)
{
    char prefix[PB_PATH + 64], conf[PB_PATH + 96], log[PB_PATH + 96];
    char *text;
    char *argv[6];
    size_t cap = strlen(server_body) + 4 * PB_PATH + 2048;
    pid_t pid;

    snprintf(prefix, sizeof(prefix), "%s/%s/", dir, name);
    tp_mkdirs(prefix);
    snprintf(conf, sizeof(conf), "%snginx.conf", prefix);
    snprintf(log, sizeof(log), "%snginx.out", prefix);
    text = malloc(cap);
    if (text == NULL)
        abort();
    /* One foreground process: stopped by its PID, nothing left behind. */
    if ((size_t)snprintf(
            text, cap,
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            "pid %snginx.pid;\nerror_log %serror.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n access_log %saccess.log;\n"
            " client_body_temp_path %sbody;\n proxy_temp_path %sproxy;\n"
            " fastcgi_temp_path %sfcgi;\n uwsgi_temp_path %suwsgi;\n"
            " scgi_temp_path %sscgi;\n"
            " types { application/json json; text/plain txt; }\n"
            " default_type application/octet-stream;\n"
            "%s%s%s}\n",
            prefix, prefix, prefix, prefix, prefix, prefix, prefix, prefix,
            raw ? "" : " server {\n", server_body,
            raw ? "\n" : "\n }\n") >= cap)
        abort();
    tp_write_bytes(conf, text, strlen(text), 0644);
    free(text);
    argv[0] = (char *)"/usr/sbin/nginx";
    argv[1] = (char *)"-c";
    argv[2] = conf;
    argv[3] = (char *)"-p";
    argv[4] = prefix;
    argv[5] = NULL;
    pid = pb_spawn(argv, NULL, log);
    if (pid < 0 || wait_port(pid, port, 10000, "nginx", log) != 0)
        return -1;
    return pid;
}

pid_t pb_nginx_webroot(const char *dir, const char *name, int port,
                       const char *root)
{
    char body[PB_PATH + 256];

    snprintf(body, sizeof(body),
             "  listen 127.0.0.1:%d;\n  server_name _;\n  root %s;\n", port,
             root);
    return nginx_run(dir, name, port, body);
}

pid_t pb_nginx_tls(const char *dir, const char *name, int port,
                   const char *cert, const char *key, const char *locations)
{
    size_t cap = strlen(locations) + 3 * PB_PATH + 256;
    char *body = malloc(cap), html[PB_PATH + 64];
    pid_t pid;

    if (body == NULL)
        abort();
    snprintf(html, sizeof(html), "%s/%s/html", dir, name);
    tp_mkdirs(html);
    snprintf(body, cap,
             "  listen 127.0.0.1:%d ssl;\n  server_name _;\n"
             "  ssl_certificate %s;\n  ssl_certificate_key %s;\n"
             "  root %s;\n%s",
             port, cert, key, html, locations);
    pid = nginx_run(dir, name, port, body);
    free(body);
    return pid;
}
