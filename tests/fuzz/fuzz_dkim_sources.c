/*
 * libFuzzer target for the DKIM signers' configurations and key files: the
 * input is written as an opendkim.conf, as rspamd's local.d
 * dkim_signing.conf and as a key file, and each reader runs on it.  A
 * relative "KeyTable file:in" in the input names the input itself, so the
 * table reader is reached too.  Beyond ASan and UBSan: every selector
 * found has a non-empty domain and selector, every note is NUL-terminated
 * text, and a key that loads has a bounded public half.
 */
#include "dkim/dkim_key.h"
#include "dkim/dkim_source.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *rel, const uint8_t *data, size_t size)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
        abort();
    close(fd);
}

static void check(const kw_dkim_sources *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->sel[i].domain[0] == '\0' || s->sel[i].selector[0] == '\0' ||
            s->sel[i].signer == NULL)
            abort();
    for (i = 0; i < s->nnotes; i++)
        if (s->notes[i] == NULL || strlen(s->notes[i]) >= 768)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kw_dkim_sources s;
    kw_dkim_pub k;
    kw_diag d;
    char path[128];

    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/kw-fuzz-dkim-%ld", (long)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof(path), "%s/local.d", dir);
        mkdir(path, 0700);
    }
    put("in", data, size);
    put("local.d/dkim_signing.conf", data, size);

    memset(&s, 0, sizeof(s));
    snprintf(path, sizeof(path), "%s/in", dir);
    if (kw_dkim_read_opendkim(path, &s) == 0)
        check(&s);
    kw_dkim_sources_free(&s);

    memset(&s, 0, sizeof(s));
    if (kw_dkim_read_rspamd(dir, &s) == 0)
        check(&s);
    kw_dkim_sources_free(&s);

    if (kw_dkim_key_load(path, &k, &d) == 0 &&
        (k.p_len == 0 || k.p_len > KW_DKIM_P_MAX || strlen(k.hash) != 64))
        abort();
    return 0;
}
