/*
 * dkim_scan.c: the selectors the signers use, made inventory objects.
 */
#include "dkim.h"

#include "../common/kw_fs.h"
#include "../common/kw_str.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int kw_dkim_user_reads(const char *user, long uid, long gid, int mode)
{
    struct passwd pw, *res = NULL;
    char buf[4096], *end;
    gid_t groups[256];
    int ngroups = 256, i;
    long n;

    if (user == NULL || user[0] == '\0')
        return -1;
    n = strtol(user, &end, 10);
    if (*end == '\0' && end != user)
        getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &res);
    else
        getpwnam_r(user, &pw, buf, sizeof(buf), &res);
    if (res == NULL)
        return -1;
    if (pw.pw_uid == 0)
        return 1;
    if ((long)pw.pw_uid == uid)
        return (mode & S_IRUSR) != 0;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) < 0)
        return -1;
    for (i = 0; i < ngroups; i++)
        if ((long)groups[i] == gid)
            return (mode & S_IRGRP) != 0;
    return (mode & S_IROTH) != 0;
}

void kw_dkim_scan_result_free(kw_dkim_scan_result *res)
{
    size_t i;

    for (i = 0; i < res->nnotes; i++)
        free(res->notes[i]);
    free(res->notes);
    for (i = 0; i < res->nwatch; i++)
        free(res->watch[i]);
    free(res->watch);
    memset(res, 0, sizeof(*res));
}

/* What one selector's key says: its public half, the file's facts. */
typedef struct key_facts {
    kw_dkim_pub pub;
    char record[2048];
    char error[600];
    const char *state;
    struct stat st;
    int has_stat;
} key_facts;

static void load(const kw_dkim_sel *sel, key_facts *k)
{
    kw_diag d;
    int r;

    memset(k, 0, sizeof(*k));
    k->state = "ok";
    k->has_stat = stat(sel->key, &k->st) == 0;
    r = kw_dkim_key_load(sel->key, &k->pub, &d);
    if (r == KW_ENOENT) {
        k->state = "missing";
        snprintf(k->error, sizeof(k->error), "the key file is missing");
    } else if (r == KW_EACCES) {
        /* The words health reads as "we may not, the signer may". */
        k->state = "unreadable";
        snprintf(k->error, sizeof(k->error), KS_ERR_CANNOT_OPEN "%s", d.msg);
    } else if (r != 0) {
        k->state = "unreadable";
        snprintf(k->error, sizeof(k->error), "%s", d.msg);
    } else if (kw_dkim_pub_record(&k->pub, k->record, sizeof(k->record)) !=
               0) {
        k->record[0] = '\0';
    }
}

int kw_dkim_scan(ks_store *s, const kw_dkim_params *p, int discover,
                 int64_t now, kw_dkim_scan_result *res, kw_diag *d)
{
    kw_dkim_sources src;
    ks_dkim_row *rows = NULL;
    key_facts *keys = NULL;
    size_t i, j;
    int r;

    memset(res, 0, sizeof(*res));
    memset(&src, 0, sizeof(src));
    r = kw_dkim_sources_read(p, discover, &src);
    if (r != 0) {
        kw_dkim_sources_free(&src);
        return kw_diag_set(d, r, "reading the DKIM signers' configurations: "
                           "%s", kw_strerror(r));
    }
    rows = calloc(src.n + 1, sizeof(*rows));
    keys = calloc(src.n + 1, sizeof(*keys));
    if (rows == NULL || keys == NULL)
        r = KW_ENOMEM;
    for (i = 0; r == 0 && i < src.n; i++) {
        const kw_dkim_sel *v = &src.sel[i];
        key_facts *k = &keys[i];
        ks_dkim_row *w = &rows[i];

        /* One key file often signs for many domains: read it once. */
        for (j = 0; j < i && strcmp(src.sel[j].key, v->key) != 0; j++)
            ;
        if (j < i)
            *k = keys[j];
        else
            load(v, k);
        w->domain = v->domain;
        w->selector = v->selector;
        w->key_path = v->key;
        w->role = kw_dkim_role_name(v->role);
        w->signer = v->signer;
        w->source = v->source;
        w->line = v->line;
        w->state = k->state;
        w->error = k->error[0] != '\0' ? k->error : NULL;
        w->algorithm = k->pub.alg != KW_DKIM_ALG_NONE
                           ? kw_dkim_alg_name(k->pub.alg)
                           : NULL;
        w->bits = k->pub.bits;
        w->pub_hash = k->pub.hash[0] != '\0' ? k->pub.hash : NULL;
        w->record = k->record[0] != '\0' ? k->record : NULL;
        w->key_mode = k->has_stat ? (int)(k->st.st_mode & 07777) : -1;
        w->key_uid = k->has_stat ? (int64_t)k->st.st_uid : -1;
        w->key_gid = k->has_stat ? (int64_t)k->st.st_gid : -1;
        w->key_time = k->has_stat ? (int64_t)k->st.st_mtime : 0;
        w->signer_user = v->user;
        w->signer_reads =
            k->has_stat ? kw_dkim_user_reads(v->user, (long)k->st.st_uid,
                                             (long)k->st.st_gid,
                                             (int)k->st.st_mode)
                        : -1;
        w->max_age = p->max_age;
        if (v->role == KW_DKIM_ROLE_SIGNING)
            res->signing++;
        else if (v->role == KW_DKIM_ROLE_PUBLISHED)
            res->published++;
        else
            res->orphans++;
        if (strcmp(k->state, "ok") != 0) {
            res->unreadable++;
            r = kw_dkim_sources_note(&src, "%s._domainkey.%s (%s): %s",
                                     v->selector, v->domain, v->source,
                                     k->error);
        }
    }
    /* The notes are the caller's now. */
    res->notes = src.notes;
    res->nnotes = src.nnotes;
    src.notes = NULL;
    src.nnotes = src.cap_notes = 0;
    res->watch = src.watch;
    res->nwatch = src.nwatch;
    src.watch = NULL;
    src.nwatch = src.cap_watch = 0;
    if (r == 0) {
        ks_dkim_keep keep[sizeof(src.failed) / sizeof(src.failed[0])];
        char why[sizeof(keep) / sizeof(keep[0])][700];

        for (i = 0; i < src.nfailed; i++) {
            const char *w = src.failed[i].why;
            size_t pos = 0, cl = sizeof(KS_ERR_CANNOT_OPEN) - 1;
            int ours = strncmp(w, KS_ERR_CANNOT_OPEN, cl) == 0;

            why[i][0] = '\0';
            kw_str_appendf(why[i], sizeof(why[i]), &pos,
                           "%s%s's configuration could not be read (%s); "
                           "kept as last seen",
                           ours ? KS_ERR_CANNOT_OPEN : "",
                           src.failed[i].signer, ours ? w + cl : w);
            keep[i].signer = src.failed[i].signer;
            keep[i].why = why[i];
        }
        r = ks_dkim_sync(s, rows, src.n, keep, src.nfailed, now,
                         &res->stats, d);
    }
    else
        kw_diag_set(d, r, "reading DKIM keys: %s", kw_strerror(r));
    /* The public halves only, but wiped all the same: cheap, and nothing
     * read from a key file outlives the scan. */
    if (keys != NULL)
        kw_wipe(keys, (src.n + 1) * sizeof(*keys));
    free(keys);
    free(rows);
    kw_dkim_sources_free(&src);
    return r;
}
