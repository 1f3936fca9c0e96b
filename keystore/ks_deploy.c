/*
 * ks_deploy.c: versioned, atomic deployment of issued certificates.
 *
 * Everything below root is reached through directory descriptors opened
 * O_NOFOLLOW (openat, mkdirat, renameat, symlinkat, unlinkat), so a
 * symlink planted in archive/ or archive/NAME/ is never followed: it is
 * either refused or left alone.  Deploy, rollback and cleanup of one NAME
 * hold flock() on archive/NAME, so two processes (or threads) deploying
 * the same NAME cannot pick the same version number or remove each
 * other's temporary files.
 *
 * Order of a deploy (DESIGN.md, "Files on disk"):
 *   1. verify: parse the chain, key matches leaf, leaf covers every name,
 *      leaf signed by the first chain certificate -- before touching disk;
 *   2. archive/NAME/N.tmp-PID-RAND/: four files, each temp + fsync +
 *      rename; fsync the directory; rename it to N; fsync archive/NAME;
 *   3. live/.NAME.tmp-PID-RAND -> ../archive/NAME/N, renamed over
 *      live/NAME; fsync live/;
 *   4. prune old versions (best effort).
 */
#include "ks_deploy.h"
#include "ks_keygen.h"

#include "../common/kw_fs.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 200
#define PEM_MAX (1u << 20)   /* a fullchain larger than 1 MiB is not one */
#define CHAIN_MAX 16         /* certificates in one fullchain */
#define DEFAULT_KEEP 5
#define VERSION_MAX 999999999
#define TMP_TAG ".tmp-"

enum { F_CERT, F_CHAIN, F_FULL, F_KEY, F_COUNT };
static const char *const FILES[F_COUNT] = {"cert.pem", "chain.pem",
                                           "fullchain.pem", "privkey.pem"};

/* ---- small helpers ----------------------------------------------------- */

static int name_ok(const char *name)
{
    size_t i, n;

    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return 0;
    n = strlen(name);
    if (n > NAME_MAX_LEN)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A canonical version number ("1", "27"; not "0", "007", "+3"), else 0.
 * With end != NULL the digits may be followed by more text, returned
 * there; otherwise the whole string must be the number. */
static int parse_version(const char *s, const char **end)
{
    long v = 0;
    const char *p = s;

    if (*p < '1' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > VERSION_MAX)
            return 0;
        p++;
    }
    if (end != NULL)
        *end = p;
    else if (*p != '\0')
        return 0;
    return (int)v;
}

/* "N.tmp-SOMETHING": what ks_deploy leaves in archive/NAME on a crash. */
static int is_tmp_version(const char *s)
{
    const char *rest;

    return parse_version(s, &rest) > 0 &&
           strncmp(rest, TMP_TAG, strlen(TMP_TAG)) == 0 &&
           rest[strlen(TMP_TAG)] != '\0';
}

/* ".NAME.tmp-PID-RAND": a temporary link in live/.  The part after the
 * tag holds no '.', so the links of NAME "a" are never confused with
 * those of NAME "a.tmp-1" (".a.tmp-1.tmp-...").  */
static int is_tmp_link(const char *s, const char *name)
{
    size_t n = strlen(name);
    const char *p;

    if (s[0] != '.' || strncmp(s + 1, name, n) != 0 ||
        strncmp(s + 1 + n, TMP_TAG, strlen(TMP_TAG)) != 0)
        return 0;
    p = s + 1 + n + strlen(TMP_TAG);
    if (*p == '\0')
        return 0;
    for (; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || *p == '-'))
            return 0;
    return 1;
}

/* A suffix unique to this call: PID-RANDOM. */
static void make_suffix(char *out, size_t cap)
{
    static unsigned long fallback;
    unsigned char b[6];
    unsigned long x;

    if (RAND_bytes(b, sizeof(b)) == 1) {
        snprintf(out, cap, "%ld-%02x%02x%02x%02x%02x%02x", (long)getpid(),
                 b[0], b[1], b[2], b[3], b[4], b[5]);
        return;
    }
    ERR_clear_error();
    x = (unsigned long)time(NULL) ^ (unsigned long)clock() ^ ++fallback;
    snprintf(out, cap, "%ld-%lx", (long)getpid(), x);
}

/* Text from a certificate, for a message: printable ASCII only. */
static void append_clean(char *buf, size_t cap, const char *s, size_t n)
{
    size_t at = strlen(buf), i;

    for (i = 0; i < n && at + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[at++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[at] = '\0';
}

static int fsync_fd(int fd)
{
    return fsync(fd) == 0 ? 0 : kw_errno();
}

/* ---- verification ------------------------------------------------------ */

/* Parses every PEM block of pem; all must be certificates.  Returns the
 * certificates in order (leaf first) in *out. */
static int parse_chain(const char *name, const char *pem, size_t len,
                       STACK_OF(X509) **out, kw_diag *d)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b;
    int r = 0;

    *out = NULL;
    if (sk == NULL)
        return kw_diag_set(d, KW_ENOMEM, "certificate %s: out of memory",
                           name);
    b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL) {
        sk_X509_free(sk);
        return kw_diag_set(d, KW_ENOMEM, "certificate %s: out of memory",
                           name);
    }
    ERR_clear_error();
    for (;;) {
        char *pname = NULL, *header = NULL;
        unsigned char *data = NULL;
        const unsigned char *p;
        long dlen = 0;
        X509 *x;

        if (PEM_read_bio(b, &pname, &header, &data, &dlen) != 1) {
            unsigned long e = ERR_peek_last_error();

            if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
                ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break; /* no more blocks */
            r = kw_diag_set(d, KW_EPARSE,
                            "certificate %s: the certificate chain is not "
                            "valid PEM (certificate %d is damaged)",
                            name, sk_X509_num(sk) + 1);
            break;
        }
        if (strcmp(pname, "CERTIFICATE") != 0) {
            /* Never copied anywhere: it may well be a private key. */
            char what[48] = "";

            append_clean(what, sizeof(what), pname, strlen(pname));
            r = kw_diag_set(d, KW_EPARSE,
                            "certificate %s: the certificate chain holds a "
                            "\"%s\" PEM block; only certificates belong "
                            "there",
                            name, what);
            OPENSSL_free(pname);
            OPENSSL_free(header);
            OPENSSL_clear_free(data, dlen > 0 ? (size_t)dlen : 0);
            break;
        }
        p = data;
        x = d2i_X509(NULL, &p, dlen);
        if (x == NULL || p != data + dlen) {
            X509_free(x);
            r = kw_diag_set(d, KW_EPARSE,
                            "certificate %s: certificate %d of the chain is "
                            "not a valid X.509 certificate",
                            name, sk_X509_num(sk) + 1);
        } else if (sk_X509_num(sk) >= CHAIN_MAX) {
            X509_free(x);
            r = kw_diag_set(d, KW_ETOOBIG,
                            "certificate %s: the chain holds more than %d "
                            "certificates",
                            name, CHAIN_MAX);
        } else if (!sk_X509_push(sk, x)) {
            X509_free(x);
            r = kw_diag_set(d, KW_ENOMEM, "certificate %s: out of memory",
                            name);
        }
        OPENSSL_free(pname);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (r != 0)
            break;
    }
    ERR_clear_error();
    BIO_free(b);
    if (r == 0 && sk_X509_num(sk) == 0)
        r = kw_diag_set(d, KW_EPARSE,
                        "certificate %s: the certificate chain holds no "
                        "certificate",
                        name);
    if (r != 0) {
        sk_X509_pop_free(sk, X509_free);
        return r;
    }
    *out = sk;
    return 0;
}

/* "example.com, www.example.com, 192.0.2.1" from the subjectAltName, or
 * the CN when there is none. */
static void leaf_names(X509 *x, char *buf, size_t cap)
{
    GENERAL_NAMES *gens;
    int i, n = 0;

    buf[0] = '\0';
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char ip[INET6_ADDRSTRLEN] = "";

        if (g->type == GEN_DNS) {
            if (n++ > 0)
                append_clean(buf, cap, ", ", 2);
            append_clean(buf, cap, (const char *)ASN1_STRING_get0_data(
                                       g->d.dNSName),
                         (size_t)ASN1_STRING_length(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);

            if (l == 4)
                inet_ntop(AF_INET, a, ip, sizeof(ip));
            else if (l == 16)
                inet_ntop(AF_INET6, a, ip, sizeof(ip));
            else
                strcpy(ip, "?");
            if (n++ > 0)
                append_clean(buf, cap, ", ", 2);
            append_clean(buf, cap, ip, strlen(ip));
        }
    }
    GENERAL_NAMES_free(gens);
    if (n == 0) {
        X509_NAME *sn = X509_get_subject_name(x);
        int at = X509_NAME_get_index_by_NID(sn, NID_commonName, -1);

        if (at >= 0) {
            ASN1_STRING *s =
                X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, at));
            append_clean(buf, cap, "CN ", 3);
            append_clean(buf, cap, (const char *)ASN1_STRING_get0_data(s),
                         (size_t)ASN1_STRING_length(s));
        } else {
            append_clean(buf, cap, "none", 4);
        }
    }
    if (strlen(buf) + 1 >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

static void name_text(const X509_NAME *n, char *buf, size_t cap)
{
    char tmp[256];

    buf[0] = '\0';
    if (X509_NAME_oneline(n, tmp, sizeof(tmp)) == NULL)
        strcpy(tmp, "?");
    append_clean(buf, cap, tmp, strlen(tmp));
}

static int verify(const char *name, STACK_OF(X509) *chain, EVP_PKEY *key,
                  const char *const *names, size_t nnames, kw_diag *d)
{
    X509 *leaf = sk_X509_value(chain, 0);
    size_t i;

    ERR_clear_error();
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        return kw_diag_set(d, KW_EPARSE,
                           "certificate %s: the private key does not match "
                           "the certificate's public key",
                           name);
    }
    for (i = 0; i < nnames; i++) {
        char req[300] = "", have[320];

        if (names[i] == NULL || names[i][0] == '\0')
            return kw_diag_set(d, KW_EINVAL,
                               "certificate %s: requested name %zu is empty",
                               name, i + 1);
        if (ks_cert_covers(leaf, names[i]))
            continue;
        ERR_clear_error();
        append_clean(req, sizeof(req), names[i], strlen(names[i]));
        leaf_names(leaf, have, sizeof(have));
        return kw_diag_set(d, KW_EPARSE,
                           "certificate %s: the certificate does not cover "
                           "%s (its names: %s)",
                           name, req, have);
    }
    if (sk_X509_num(chain) > 1) {
        X509 *iss = sk_X509_value(chain, 1);
        EVP_PKEY *ipk;
        char a[200], b[200];

        if (X509_NAME_cmp(X509_get_issuer_name(leaf),
                          X509_get_subject_name(iss)) != 0) {
            name_text(X509_get_issuer_name(leaf), a, sizeof(a));
            name_text(X509_get_subject_name(iss), b, sizeof(b));
            return kw_diag_set(d, KW_EPARSE,
                               "certificate %s: the certificate's issuer "
                               "(%s) is not the first chain certificate "
                               "(%s)",
                               name, a, b);
        }
        ipk = X509_get0_pubkey(iss);
        if (ipk == NULL || X509_verify(leaf, ipk) != 1) {
            ERR_clear_error();
            name_text(X509_get_subject_name(iss), b, sizeof(b));
            return kw_diag_set(d, KW_EPARSE,
                               "certificate %s: the certificate's signature "
                               "does not verify with the key of the first "
                               "chain certificate (%s)",
                               name, b);
        }
    }
    ERR_clear_error();
    return 0;
}

/* ---- PEM encoding ------------------------------------------------------ */

typedef struct pem_buf {
    char *p;
    size_t n;
} pem_buf;

static int certs_pem(STACK_OF(X509) *sk, int from, int to, pem_buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m;
    int i;

    out->p = NULL;
    out->n = 0;
    if (b == NULL)
        return KW_ENOMEM;
    for (i = from; i < to; i++)
        if (PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1) {
            BIO_free(b);
            ERR_clear_error();
            return KW_ECRYPTO;
        }
    BIO_get_mem_ptr(b, &m);
    out->p = malloc(m->length + 1);
    if (out->p == NULL) {
        BIO_free(b);
        return KW_ENOMEM;
    }
    if (m->length > 0)
        memcpy(out->p, m->data, m->length);
    out->n = m->length;
    BIO_free(b);
    return 0;
}

/* ---- files and directories --------------------------------------------- */

/* Opens (creating if asked, mode exactly 0755) the directory sub of pfd,
 * never through a symlink.  Returns the fd or a negative code. */
static int open_dir_at(int pfd, const char *sub, int create)
{
    int fd, created = 0;

    fd = openat(pfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT || !create)
        return fd >= 0 ? fd : kw_errno();
    if (mkdirat(pfd, sub, 0755) == 0)
        created = 1;
    else if (errno != EEXIST)
        return kw_errno();
    fd = openat(pfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kw_errno();
    if (created) {
        /* The umask must not keep the web server out. */
        if (fchmod(fd, 0755) != 0 || fsync(pfd) != 0) {
            int r = kw_errno();
            close(fd);
            return r;
        }
    }
    return fd;
}

/* The key as PKCS#8 PEM, in a secure-heap BIO that is wiped when freed
 * (and on every growth), written like the others. */
static int write_key_at(int dfd, const char *dpath, EVP_PKEY *key,
                        mode_t mode, uid_t uid, gid_t gid, kw_diag *d)
{
    BIO *b = BIO_new(BIO_s_secmem());
    BUF_MEM *m = NULL;
    int r;

    if (b == NULL)
        return kw_diag_set(d, KW_ENOMEM, "%s/%s: out of memory", dpath,
                           FILES[F_KEY]);
    if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        ERR_clear_error();
        return kw_diag_set(d, KW_ECRYPTO,
                           "%s/%s: the private key cannot be encoded", dpath,
                           FILES[F_KEY]);
    }
    BIO_get_mem_ptr(b, &m);
    r = kw_write_at(dfd, dpath, FILES[F_KEY], TMP_TAG, m->data, m->length,
                    mode, uid, gid, d);
    kw_wipe(m->data, m->max);
    BIO_free(b);
    return r;
}

static int is_ours_in_version(const char *e)
{
    int i;

    for (i = 0; i < F_COUNT; i++) {
        size_t n = strlen(FILES[i]);
        if (strcmp(e, FILES[i]) == 0)
            return 1;
        if (strncmp(e, FILES[i], n) == 0 &&
            strncmp(e + n, TMP_TAG, strlen(TMP_TAG)) == 0)
            return 1;
    }
    return 0;
}

/* Removes the version directory sub of pfd: our files in it (regular files
 * or symlinks, never followed), then the directory.  Anything else in it
 * stays, and so does the directory (the error says so). */
static int remove_version(int pfd, const char *sub)
{
    int fd = openat(pfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                  O_CLOEXEC);
    DIR *dir;
    struct dirent *e;

    if (fd < 0)
        return kw_errno();
    dir = fdopendir(fd);
    if (dir == NULL) {
        int r = kw_errno();
        close(fd);
        return r;
    }
    while ((e = readdir(dir)) != NULL) {
        struct stat st;

        if (!is_ours_in_version(e->d_name))
            continue;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
            unlinkat(fd, e->d_name, 0);
    }
    closedir(dir);
    return unlinkat(pfd, sub, AT_REMOVEDIR) == 0 ? 0 : kw_errno();
}

/* ---- the tree ---------------------------------------------------------- */

typedef struct tree {
    char root[PATH_MAX]; /* absolute */
    int archfd;          /* archive/ */
    int livefd;          /* live/ */
    int namefd;          /* archive/NAME, flock()ed */
} tree;

static void tree_close(tree *t)
{
    if (t->archfd >= 0)
        close(t->archfd);
    if (t->livefd >= 0)
        close(t->livefd);
    if (t->namefd >= 0)
        close(t->namefd); /* releases the lock */
    t->archfd = t->livefd = t->namefd = -1;
}

static int lock_name(int fd)
{
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        /* No flock on this file system (some NFS setups refuse it on a
         * directory): go on unserialized rather than never deploy. */
        return 0;
    }
    return 0;
}

/* Opens root, archive/, live/ and archive/NAME.  With create, makes what
 * is missing; without, a missing directory leaves its fd at -1 (a root
 * that does not exist is an error either way). */
static int tree_open(const ks_deploy_opts *o, const char *name, int create,
                     tree *t, kw_diag *d)
{
    int rootfd, fd, r;

    t->archfd = t->livefd = t->namefd = -1;
    if (create) {
        struct stat st;
        int existed = stat(o->root, &st) == 0;

        r = kw_mkdir_p(o->root, 0755);
        if (r != 0)
            return kw_diag_set(d, r, "%s: cannot create: %s", o->root,
                               kw_strerror(r));
        if (!existed && chmod(o->root, 0755) != 0) { /* despite the umask */
            r = kw_errno();
            return kw_diag_set(d, r, "%s: %s", o->root, kw_strerror(r));
        }
    }
    if (realpath(o->root, t->root) == NULL) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s: %s", o->root, kw_strerror(r));
    }
    /* ks_deploy_result holds root/archive/NAME/N in 4096 bytes. */
    if (strlen(t->root) + strlen(name) + 32 >
        sizeof(((ks_deploy_result *)0)->dir))
        return kw_diag_set(d, KW_ETOOBIG, "%s: path too long", t->root);
    rootfd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s: %s", t->root, kw_strerror(r));
    }
    fd = open_dir_at(rootfd, "archive", create);
    if (fd >= 0)
        t->archfd = fd;
    else if (create || fd != KW_ENOENT)
        goto bad_archive;
    fd = open_dir_at(rootfd, "live", create);
    if (fd >= 0)
        t->livefd = fd;
    else if (create || fd != KW_ENOENT)
        goto bad_live;
    close(rootfd);
    if (t->archfd >= 0) {
        fd = open_dir_at(t->archfd, name, create);
        if (fd >= 0)
            t->namefd = fd;
        else if (create || fd != KW_ENOENT) {
            tree_close(t);
            return kw_diag_set(d, fd, "%s/archive/%s: %s%s", t->root, name,
                               kw_strerror(fd),
                               fd == KW_ELOOP || fd == -ENOTDIR
                                   ? " (not a directory; a symlink is not "
                                     "followed)"
                                   : "");
        }
    }
    if (t->namefd >= 0)
        lock_name(t->namefd);
    return 0;

bad_archive:
    close(rootfd);
    tree_close(t);
    return kw_diag_set(d, fd, "%s/archive: %s%s", t->root, kw_strerror(fd),
                       fd == KW_ELOOP || fd == -ENOTDIR
                           ? " (not a directory; a symlink is not followed)"
                           : "");
bad_live:
    close(rootfd);
    tree_close(t);
    return kw_diag_set(d, fd, "%s/live: %s%s", t->root, kw_strerror(fd),
                       fd == KW_ELOOP || fd == -ENOTDIR
                           ? " (not a directory; a symlink is not followed)"
                           : "");
}

/* live/NAME: *version 0 when absent; KW_EPARSE when it is not exactly
 * "../archive/NAME/N". */
static int read_live(int livefd, const char *name, int *version)
{
    char buf[512], want[NAME_MAX_LEN + 16];
    ssize_t n;
    size_t w;

    *version = 0;
    if (livefd < 0)
        return 0;
    n = readlinkat(livefd, name, buf, sizeof(buf) - 1);
    if (n < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == EINVAL) /* not a symlink */
            return KW_EPARSE;
        return kw_errno();
    }
    buf[n] = '\0';
    w = (size_t)snprintf(want, sizeof(want), "../archive/%s/", name);
    if ((size_t)n <= w || memcmp(buf, want, w) != 0)
        return KW_EPARSE;
    *version = parse_version(buf + w, NULL);
    return *version > 0 ? 0 : KW_EPARSE;
}

/* read_live, with the words for an operator when live/NAME is not ours. */
static int read_live_checked(const tree *t, const char *name, int *live,
                             kw_diag *d)
{
    int rc = read_live(t->livefd, name, live);

    if (rc == KW_EPARSE)
        return kw_diag_set(d, rc,
                           "certificate %s: %s/live/%s exists and is not a "
                           "link to ../archive/%s/N; not replacing it",
                           name, t->root, name, name);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s/live/%s: %s", t->root, name,
                           kw_strerror(rc));
    return 0;
}

typedef struct vlist {
    int *v;     /* real directories named N, ascending */
    size_t n;
    int max_any; /* the highest N of any entry, whatever its type */
} vlist;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int list_versions(int namefd, vlist *l)
{
    int fd = openat(namefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t cap = 0;
    DIR *dir;
    struct dirent *e;

    l->v = NULL;
    l->n = 0;
    l->max_any = 0;
    if (fd < 0)
        return kw_errno();
    dir = fdopendir(fd);
    if (dir == NULL) {
        int r = kw_errno();
        close(fd);
        return r;
    }
    while ((e = readdir(dir)) != NULL) {
        int v = parse_version(e->d_name, NULL);
        struct stat st;

        if (v == 0)
            continue;
        if (v > l->max_any)
            l->max_any = v;
        if (fstatat(namefd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (l->n == cap) {
            int *nv;
            cap = cap ? cap * 2 : 16;
            nv = realloc(l->v, cap * sizeof(*nv));
            if (nv == NULL) {
                closedir(dir);
                free(l->v);
                l->v = NULL;
                return KW_ENOMEM;
            }
            l->v = nv;
        }
        l->v[l->n++] = v;
    }
    closedir(dir);
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_int);
    return 0;
}

/* live/NAME -> ../archive/NAME/N, by renaming a fresh temp link over it. */
static int switch_live(tree *t, const char *name, int n, const char *sfx,
                       kw_diag *d)
{
    char target[NAME_MAX_LEN + 32], tmp[NAME_MAX_LEN + 64];
    int r;

    snprintf(target, sizeof(target), "../archive/%s/%d", name, n);
    snprintf(tmp, sizeof(tmp), ".%s%s%s", name, TMP_TAG, sfx);
    if (symlinkat(target, t->livefd, tmp) != 0) {
        r = kw_errno();
        return kw_diag_set(d, r, "%s/live/%s: cannot create: %s", t->root,
                           tmp, kw_strerror(r));
    }
    if (renameat(t->livefd, tmp, t->livefd, name) != 0) {
        r = kw_errno();
        unlinkat(t->livefd, tmp, 0);
        return kw_diag_set(d, r, "%s/live/%s: cannot switch: %s", t->root,
                           name, kw_strerror(r));
    }
    r = fsync_fd(t->livefd);
    if (r != 0)
        return kw_diag_set(d, r,
                           "%s/live/%s: switched to version %d, but fsync "
                           "of live/ failed: %s",
                           t->root, name, n, kw_strerror(r));
    return 0;
}

static void fill_result(const tree *t, const char *name, int version,
                        int previous, ks_deploy_result *r)
{
    if (r == NULL)
        return;
    r->version = version;
    r->previous = previous;
    /* tree_open checked that root, NAME and N fit. */
    if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/archive/%s/%d", t->root,
                         name, version) >= sizeof(r->dir) ||
        (size_t)snprintf(r->live, sizeof(r->live), "%s/live/%s", t->root,
                         name) >= sizeof(r->live))
        r->dir[0] = r->live[0] = '\0';
}

/* Keeps the newest keep versions and the live one. */
static void prune(tree *t, int keep, int live)
{
    vlist l;
    size_t i, kept = 0;
    int removed = 0;

    if (list_versions(t->namefd, &l) != 0)
        return;
    for (i = l.n; i-- > 0;) {
        char sub[16];

        if (kept < (size_t)keep) {
            kept++;
            continue;
        }
        if (l.v[i] == live)
            continue;
        snprintf(sub, sizeof(sub), "%d", l.v[i]);
        if (remove_version(t->namefd, sub) == 0)
            removed = 1;
    }
    free(l.v);
    if (removed)
        fsync(t->namefd);
}

static int check_common(const ks_deploy_opts *o, const char *name,
                        kw_diag *d)
{
    if (o == NULL || o->root == NULL || o->root[0] == '\0')
        return kw_diag_set(d, KW_EINVAL, "deploy: no root directory given");
    if (!name_ok(name)) {
        char shown[64] = "";

        if (name != NULL)
            append_clean(shown, sizeof(shown), name,
                         strnlen(name, sizeof(shown) - 1));
        return kw_diag_set(d, KW_EINVAL,
                           "certificate \"%s\": invalid name (use "
                           "A-Z a-z 0-9 . _ -, not starting with '.', at "
                           "most %d bytes)",
                           shown, NAME_MAX_LEN);
    }
    return 0;
}

/* ---- the API ----------------------------------------------------------- */

int ks_deploy(const ks_deploy_opts *o, const char *name,
              const char *fullchain_pem, size_t len, EVP_PKEY *key,
              const char *const *names, size_t nnames, ks_deploy_result *r,
              kw_diag *d)
{
    STACK_OF(X509) *chain = NULL;
    pem_buf pem[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    mode_t key_mode;
    int keep, rc, i, live = 0, n = 0, vfd = -1, have_dir = 0;
    char sfx[40], tmpdir[80], ver[16], dpath[PATH_MAX + 300];
    tree t = {.archfd = -1, .livefd = -1, .namefd = -1};
    vlist l = {NULL, 0, 0};

    rc = check_common(o, name, d);
    if (rc != 0)
        return rc;
    keep = o->keep == 0 ? DEFAULT_KEEP : o->keep;
    key_mode = o->key_mode == 0 ? 0600 : o->key_mode;
    if (keep < 1)
        return kw_diag_set(d, KW_EINVAL, "certificate %s: keep must be >= 1",
                           name);
    if ((key_mode & ~(mode_t)0640) != 0 || (key_mode & 0400) == 0)
        return kw_diag_set(d, KW_EINVAL,
                           "certificate %s: key mode %04o is not allowed "
                           "(at most 0640: 0600, or 0640 with a group)",
                           name, (unsigned)key_mode);
    if (key == NULL || fullchain_pem == NULL || (nnames > 0 && names == NULL))
        return kw_diag_set(d, KW_EINVAL,
                           "certificate %s: no key or no certificate given",
                           name);
    if (len > PEM_MAX)
        return kw_diag_set(d, KW_ETOOBIG,
                           "certificate %s: the certificate chain is larger "
                           "than %u bytes",
                           name, PEM_MAX);

    /* 1. Verify, before anything on disk changes. */
    rc = parse_chain(name, fullchain_pem, len, &chain, d);
    if (rc != 0)
        return rc;
    rc = verify(name, chain, key, names, nnames, d);
    if (rc != 0)
        goto out;
    if ((rc = certs_pem(chain, 0, 1, &pem[F_CERT])) != 0 ||
        (rc = certs_pem(chain, 1, sk_X509_num(chain), &pem[F_CHAIN])) != 0 ||
        (rc = certs_pem(chain, 0, sk_X509_num(chain), &pem[F_FULL])) != 0) {
        rc = kw_diag_set(d, rc, "certificate %s: cannot encode PEM: %s", name,
                         kw_strerror(rc));
        goto out;
    }

    /* 2. The new version, in the archive. */
    rc = tree_open(o, name, 1, &t, d);
    if (rc != 0)
        goto out;
    rc = read_live_checked(&t, name, &live, d);
    if (rc != 0)
        goto out;
    rc = list_versions(t.namefd, &l);
    if (rc != 0) {
        rc = kw_diag_set(d, rc, "%s/archive/%s: cannot list: %s", t.root,
                         name, kw_strerror(rc));
        goto out;
    }
    n = (l.max_any > live ? l.max_any : live) + 1;
    if (n > VERSION_MAX) {
        rc = kw_diag_set(d, KW_ETOOBIG,
                         "certificate %s: version numbers exhausted", name);
        goto out;
    }
    make_suffix(sfx, sizeof(sfx));
    snprintf(ver, sizeof(ver), "%d", n);
    snprintf(tmpdir, sizeof(tmpdir), "%d%s%s", n, TMP_TAG, sfx);
    snprintf(dpath, sizeof(dpath), "%s/archive/%s/%s", t.root, name, tmpdir);
    if (mkdirat(t.namefd, tmpdir, 0755) != 0) {
        rc = kw_errno();
        rc = kw_diag_set(d, rc, "%s: cannot create: %s", dpath,
                         kw_strerror(rc));
        goto out;
    }
    have_dir = 1;
    vfd = openat(t.namefd, tmpdir,
                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd < 0 || fchmod(vfd, 0755) != 0) {
        rc = kw_errno();
        rc = kw_diag_set(d, rc, "%s: %s", dpath, kw_strerror(rc));
        goto out;
    }
    for (i = F_CERT; i <= F_FULL; i++) {
        rc = kw_write_at(vfd, dpath, FILES[i], TMP_TAG, pem[i].p, pem[i].n,
                         0644, (uid_t)-1, (gid_t)-1, d);
        if (rc != 0)
            goto out;
    }
    rc = write_key_at(vfd, dpath, key, key_mode, o->owner, o->key_gid, d);
    if (rc != 0)
        goto out;
    if ((rc = fsync_fd(vfd)) != 0) {
        rc = kw_diag_set(d, rc, "%s: fsync failed: %s", dpath,
                         kw_strerror(rc));
        goto out;
    }
    close(vfd);
    vfd = -1;
    if (renameat2(t.namefd, tmpdir, t.namefd, ver, RENAME_NOREPLACE) != 0 &&
        (errno != EINVAL && errno != ENOSYS ? 1
                                            : renameat(t.namefd, tmpdir,
                                                       t.namefd, ver) != 0)) {
        rc = kw_errno();
        rc = kw_diag_set(d, rc, "%s/archive/%s/%s: cannot rename: %s",
                         t.root, name, ver, kw_strerror(rc));
        goto out;
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s", ver); /* now it is N */
    if ((rc = fsync_fd(t.namefd)) != 0) {
        rc = kw_diag_set(d, rc, "%s/archive/%s: fsync failed: %s", t.root,
                         name, kw_strerror(rc));
        goto out;
    }

    /* 3. The switch: one rename(). */
    rc = switch_live(&t, name, n, sfx, d);
    if (rc != 0) {
        int now = 0;

        /* Keep N if live/ points at it after all (fsync failed). */
        if (read_live(t.livefd, name, &now) == 0 && now == n)
            have_dir = 0;
        goto out;
    }
    have_dir = 0;

    /* 4. Old versions. */
    prune(&t, keep, n);
    fill_result(&t, name, n, live, r);
    rc = 0;

out:
    if (vfd >= 0)
        close(vfd);
    if (have_dir) {
        remove_version(t.namefd, tmpdir);
        fsync(t.namefd);
    }
    free(l.v);
    tree_close(&t);
    for (i = 0; i < 3; i++)
        free(pem[i].p);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int ks_deploy_current(const ks_deploy_opts *o, const char *name,
                      int *version, kw_diag *d)
{
    char root[PATH_MAX];
    int rootfd, livefd, rc, v = 0;

    if (version != NULL)
        *version = 0;
    rc = check_common(o, name, d);
    if (rc != 0)
        return rc;
    if (realpath(o->root, root) == NULL) {
        rc = kw_errno();
        if (rc == KW_ENOENT)
            return 0; /* no root: nothing deployed */
        return kw_diag_set(d, rc, "%s: %s", o->root, kw_strerror(rc));
    }
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        rc = kw_errno();
        return kw_diag_set(d, rc, "%s: %s", root, kw_strerror(rc));
    }
    livefd = open_dir_at(rootfd, "live", 0);
    close(rootfd);
    if (livefd == KW_ENOENT)
        return 0;
    if (livefd < 0)
        return kw_diag_set(d, livefd, "%s/live: %s", root,
                           kw_strerror(livefd));
    rc = read_live(livefd, name, &v);
    close(livefd);
    if (rc == KW_EPARSE)
        return kw_diag_set(d, rc,
                           "certificate %s: %s/live/%s is not a link to "
                           "../archive/%s/N",
                           name, root, name, name);
    if (rc != 0)
        return kw_diag_set(d, rc, "%s/live/%s: %s", root, name,
                           kw_strerror(rc));
    if (version != NULL)
        *version = v;
    return 0;
}

/* All four files present, as regular files, in archive/NAME/v. */
static int version_complete(int namefd, int v)
{
    char sub[16];
    int fd, i, ok = 1;

    snprintf(sub, sizeof(sub), "%d", v);
    fd = openat(namefd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (i = 0; i < F_COUNT && ok; i++) {
        struct stat st;
        if (fstatat(fd, FILES[i], &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            ok = 0;
    }
    close(fd);
    return ok;
}

int ks_deploy_rollback(const ks_deploy_opts *o, const char *name,
                       ks_deploy_result *r, kw_diag *d)
{
    tree t = {.archfd = -1, .livefd = -1, .namefd = -1};
    vlist l = {NULL, 0, 0};
    int rc, live = 0, target = 0;
    size_t i;
    char sfx[40];

    rc = check_common(o, name, d);
    if (rc != 0)
        return rc;
    rc = tree_open(o, name, 0, &t, d);
    if (rc != 0)
        return rc;
    rc = read_live_checked(&t, name, &live, d);
    if (rc != 0)
        goto out;
    if (live == 0 || t.namefd < 0) {
        rc = kw_diag_set(d, KW_ENOTFOUND,
                         "certificate %s: no live version to roll back from",
                         name);
        goto out;
    }
    rc = list_versions(t.namefd, &l);
    if (rc != 0) {
        rc = kw_diag_set(d, rc, "%s/archive/%s: cannot list: %s", t.root,
                         name, kw_strerror(rc));
        goto out;
    }
    for (i = l.n; i-- > 0 && target == 0;)
        if (l.v[i] < live && version_complete(t.namefd, l.v[i]))
            target = l.v[i];
    if (target == 0) {
        rc = kw_diag_set(d, KW_ENOTFOUND,
                         "certificate %s: no archived version older than %d "
                         "to roll back to",
                         name, live);
        goto out;
    }
    make_suffix(sfx, sizeof(sfx));
    rc = switch_live(&t, name, target, sfx, d);
    if (rc == 0)
        fill_result(&t, name, target, live, r);

out:
    free(l.v);
    tree_close(&t);
    return rc;
}

int ks_deploy_cleanup(const ks_deploy_opts *o, const char *name, kw_diag *d)
{
    tree t = {.archfd = -1, .livefd = -1, .namefd = -1};
    struct dirent *e;
    DIR *dir;
    int rc, fd, removed = 0;
    char stuck[128] = "";

    rc = check_common(o, name, d);
    if (rc != 0)
        return rc;
    rc = tree_open(o, name, 0, &t, d);
    if (rc == KW_ENOENT)
        return 0; /* no root at all */
    if (rc != 0)
        return rc;
    if (t.namefd < 0) /* never deployed: nothing of ours to clean */
        goto out;

    fd = openat(t.namefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (dir == NULL) {
        rc = kw_errno();
        if (fd >= 0)
            close(fd);
        rc = kw_diag_set(d, rc, "%s/archive/%s: cannot list: %s", t.root,
                         name, kw_strerror(rc));
        goto out;
    }
    while ((e = readdir(dir)) != NULL) {
        struct stat st;

        if (!is_tmp_version(e->d_name))
            continue;
        if (fstatat(t.namefd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode))
            continue; /* not something ks_deploy made */
        if (remove_version(t.namefd, e->d_name) == 0)
            removed = 1;
        else if (stuck[0] == '\0')
            append_clean(stuck, sizeof(stuck), e->d_name,
                         strlen(e->d_name));
    }
    closedir(dir);
    if (removed)
        fsync(t.namefd);

    if (t.livefd >= 0) {
        removed = 0;
        fd = openat(t.livefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (dir == NULL) {
            rc = kw_errno();
            if (fd >= 0)
                close(fd);
            rc = kw_diag_set(d, rc, "%s/live: cannot list: %s", t.root,
                             kw_strerror(rc));
            goto out;
        }
        while ((e = readdir(dir)) != NULL) {
            struct stat st;

            if (!is_tmp_link(e->d_name, name))
                continue;
            if (fstatat(t.livefd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
                    0 &&
                S_ISLNK(st.st_mode) && unlinkat(t.livefd, e->d_name, 0) == 0)
                removed = 1;
        }
        closedir(dir);
        if (removed)
            fsync(t.livefd);
    }
    if (stuck[0] != '\0')
        rc = kw_diag_set(d, KW_EIO,
                         "certificate %s: %s/archive/%s/%s holds files that "
                         "are not ours; left in place",
                         name, t.root, name, stuck);

out:
    tree_close(&t);
    return rc;
}
