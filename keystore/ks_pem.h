/*
 * ks_pem.h: a strict, bounded reader of PEM text (RFC 7468).
 *
 * Accepts what real servers hold: several blocks per file, CRLF or LF line
 * ends, explanatory text between blocks (openssl x509 -text output), and
 * RFC 1421 headers (Proc-Type / DEK-Info on legacy encrypted keys).  Every
 * error names the block, its label and the line.
 */
#ifndef KS_PEM_H
#define KS_PEM_H

#include "../common/kw_err.h"

#include <stddef.h>

typedef struct ks_pem_block {
    char label[65];    /* "CERTIFICATE", "PRIVATE KEY", ... */
    int index;         /* 1-based position among the file's blocks */
    int line;          /* 1-based line of the BEGIN line */
    int encrypted;     /* RFC 1421 "Proc-Type: 4,ENCRYPTED" header seen */
    int secret;        /* label names a private key ("... PRIVATE KEY"):
                        * the caller wipes der after use */
    unsigned char *der; /* decoded body, inside the caller's scratch */
    size_t der_len;
} ks_pem_block;

typedef struct ks_pem_iter {
    const unsigned char *buf;
    size_t len;
    size_t pos;
    int line;      /* line number at pos */
    int nblocks;
    unsigned char *scratch; /* decoded bodies are appended here */
    size_t scratch_cap;
    size_t scratch_used;
} ks_pem_iter;

/* Start iterating buf.  scratch must hold at least len * 3 / 4 + 3 bytes;
 * every decoded body lives there until the iterator is reset. */
void ks_pem_iter_init(ks_pem_iter *it, const unsigned char *buf, size_t len,
                      unsigned char *scratch, size_t scratch_cap);

/* 1 and *blk filled when a block was read, 0 at the end of the text,
 * KW_EPARSE with a message in d for a malformed block.  Whatever a failed
 * block had decoded into scratch is wiped before the error returns. */
int ks_pem_next(ks_pem_iter *it, ks_pem_block *blk, kw_diag *d);

/* Does buf contain a PEM BEGIN line at all? */
int ks_pem_present(const unsigned char *buf, size_t len);

#endif
