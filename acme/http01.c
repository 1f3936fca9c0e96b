/*
 * http01.c: http-01 answers in a webroot or the built-in responder.
 */
#include "http01.h"

#include "../common/kw_fs.h"
#include "../common/kw_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int webroot_put(const char *webroot, const char *token,
                       const char *ka, kw_diag *d)
{
    char dir[PATH_MAX], path[PATH_MAX + 300], tmp[PATH_MAX + 340];
    size_t len = strlen(ka);
    int fd;

    snprintf(dir, sizeof(dir), "%s/.well-known/acme-challenge", webroot);
    if (kw_mkdir_p(dir, 0755) != 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot create: %s", dir,
                           kw_strerror(kw_errno()));
    snprintf(path, sizeof(path), "%s/%s", dir, token);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, token);
    /* Readable by the web server (0644); no fsync: the file only has to
     * outlive the validation, not a power cut. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0644);
    if (fd < 0)
        return kw_diag_set(d, kw_errno(), "%s: cannot create: %s", tmp,
                           kw_strerror(kw_errno()));
    if (fchmod(fd, 0644) != 0 || write(fd, ka, len) != (ssize_t)len) {
        int e = kw_errno();

        close(fd);
        unlink(tmp);
        return kw_diag_set(d, e, "%s: cannot write: %s", tmp,
                           kw_strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = kw_errno();

        unlink(tmp);
        return kw_diag_set(d, e, "%s: cannot rename into place: %s", path,
                           kw_strerror(e));
    }
    return 0;
}

int kw_http01_put(kw_acme_env *env, const char *webroot, const char *listen,
                  const char *token, const char *key_authorization,
                  kw_diag *d)
{
    if (webroot != NULL)
        return webroot_put(webroot, token, key_authorization, d);
    if (env->responder == NULL) {
        kw_diag e;

        if (kw_responder_start(env->loop, listen, &env->responder, &e) != 0)
            return kw_diag_set(d, KW_EIO,
                               "the http-01 responder cannot listen on %s: "
                               "%s (set [acme] http01_listen, or http01 = "
                               "webroot)",
                               listen, e.msg);
        kw_notice("http-01 responder listening on %s", listen);
    }
    return kw_responder_add(env->responder, token, key_authorization, d);
}

void kw_http01_remove(kw_acme_env *env, const char *webroot,
                      const char *token)
{
    char path[PATH_MAX + 300];

    if (webroot != NULL) {
        snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s",
                 webroot, token);
        if (unlink(path) != 0 && errno != ENOENT)
            kw_warn("removing %s: %s", path, strerror(errno));
    } else if (env->responder != NULL) {
        kw_responder_remove(env->responder, token);
    }
}
