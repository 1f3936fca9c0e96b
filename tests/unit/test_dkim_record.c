/*
 * DKIM key records (dkim/dkim_record.h): real records as opendkim-genkey
 * and rspamadm dkim_keygen print them, folded and concatenated ones, and
 * malformed ones, each with the words and the offset its error must carry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dkim/dkim_record.h"

#include <openssl/err.h>

/* opendkim-genkey -b 1024 -d mail.test -s s1 */
#define RSA1024                                                              \
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDq1b5REYaLO3LZN8aj0W/Q1ZK5Xka+tn" \
    "sfNn9og2h9m1IlON4j3YQrrlecS/z8xtQ3JTKI0QvmSwDUv2yujtIg/eRS22CkZBWQDq7O" \
    "zYt9Kexrf7o5h5yy5pFBzrrh7GHtvrR4D//XUwr8Yrb0WURMQj+IEZN3lY6HdOnZRfebuw" \
    "IDAQAB"
/* The same key as a bare RSAPublicKey. */
#define RSA1024_BARE                                                         \
    "MIGJAoGBAOrVvlERhos7ctk3xqPRb9DVkrleRr62ex82f2iDaH2bUiU43iPdhCuuV5xL/P" \
    "zG1DclMojRC+ZLANS/bK6O0iD95FLbYKRkFZAOrs7Ni30p7Gt/ujmHnLLmkUHOuuHsYe2+" \
    "tHgP/9dTCvxitvRZRExCP4gRk3eVjod06dlF95u7AgMBAAE="
/* opendkim-genkey -b 2048: its s2.txt holds two strings, split inside p=. */
#define RSA2048_A                                                            \
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwr/35gPRrtjkPBJoC6a6zpx/44" \
    "Edl8YDW+LoezOOUrgiDYyh8FNXXo8hJlbp6TYGhUcFyGqrnZ756Mw+YQ2/UqSahg7soEgk" \
    "WRLP/7cyNB90pHsHWAQmldQgo5PDhzNBmovgu6zwm8HRMWlpgcVmXHZHwtlIboySBLw7kZ" \
    "6mA0lMhbi7y3yuBub6bbI4RFYFZhs6GAFyHmYxCd"
#define RSA2048_B                                                            \
    "1mh01ibADpWt7ZMP2fYcHmlvAiI6kOC+vCo4TwbqVddT24vdwG0ycCz9m/LZ9vCVsgoyek" \
    "SQKCBXf4qwDkX4SmqmeeeltBtei0sH0QJYkTvrypz3Ij0tlYq+pEQJjyb61GbQPfJQIDAQ" \
    "AB"
/* rspamadm dkim_keygen -b 1024 -s r1 */
#define RSPAMD1024                                                           \
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDISCd89FSCQNispZ4dLWzPw6RW2mEAC2" \
    "Wn5zBsOqeS27pqWy0A97qcXh5Aa8CzEm1IDXFGCTfU0CVQkLM/wYt/40S/Ye7rJfvWzqfi" \
    "kiq4NyCoztlrqM7khAPpX7pN+t53/GbYddmilffjaHAgaPfjGGcyZWkj2N4zzJJiSFj9hQ" \
    "IDAQAB"
/* rspamadm dkim_keygen -t ed25519 */
#define ED25519 "A30FD91t/rJewvTZIhcjF3FwRwMEWPDJ2YvWQpG3uGM="
/* openssl pkey -pubout of an Ed25519 key: the SPKI, wrong for p=. */
#define ED25519_SPKI "MCowBQYDK2VwAyEAYpFEPSNg3EwKwu3uRhF26iMoSD1kFEciyTasIUg/DpE="
/* A P-256 key's SPKI: not RSA. */
#define EC_SPKI                                                              \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/vue1bFAWg40EAPLI5IYsRSPA4hMED9NiU" \
    "2Qc+avc+jggINQ0O1ZjytEa+JK68rS2H35mwKFudMpj+Dfh1+Zbg=="
#define RSA512                                                               \
    "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKjHlLU5pqzAGkRQGQmaIBkQUsJK8/WWkFkbn9" \
    "F+cQDU5ig/VEnkKzYhLYCUxTCyiGS6TY79JrKuZwLLuFAa/m0CAwEAAQ=="

typedef struct rcase {
    const char *name;
    const char *txt;
    size_t len;          /* 0: strlen(txt) */
    int rc;
    const char *msg;     /* a part of the error message, in order */
    const char *msg2;
    /* For rc == 0: */
    kw_dkim_alg k;
    int has_v, bits, revoked, t_y, t_s, h_sha1, h_sha256;
    size_t p_len;
    int warn;            /* the first warning's code, 0: none */
    const char *h, *s;
} rcase;

#define OK(n, t, ...) {n, t, 0, 0, NULL, NULL, __VA_ARGS__}
#define ERR(n, t, r, m, m2) {n, t, 0, r, m, m2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL}

static const rcase cases[] = {
    /* name, text; k, has_v, bits, revoked, t_y, t_s, sha1, sha256, p_len,
     * warning, h, s */
    OK("opendkim-genkey 1024", "v=DKIM1; h=sha256; k=rsa; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 0, 1, 162, 0, "sha256", ""),
    OK("opendkim-genkey 2048, two strings concatenated",
       "v=DKIM1; h=sha256; k=rsa; p=" RSA2048_A RSA2048_B,
       KW_DKIM_ALG_RSA, 1, 2048, 0, 0, 0, 0, 1, 294, 0, "sha256", ""),
    OK("rspamadm rsa", "v=DKIM1; k=rsa; p=" RSPAMD1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", ""),
    OK("rspamadm ed25519", "v=DKIM1; k=ed25519; p=" ED25519,
       KW_DKIM_ALG_ED25519, 1, 256, 0, 0, 0, 1, 1, 32, 0, "", ""),
    OK("bare RSAPublicKey", "v=DKIM1; p=" RSA1024_BARE,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 140, 0, "", ""),
    OK("512-bit key parses (the checker judges its size)", "p=" RSA512,
       KW_DKIM_ALG_RSA, 0, 512, 0, 0, 0, 1, 1, 94, 0, "", ""),
    OK("folded whitespace everywhere",
       " v = DKIM1 ;\r\n\tk\t=\trsa ;\r\n p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDq1b5REYaLO3LZN8aj0W/Q1ZK5Xka+tn \r\n\t"
       "sfNn9og2h9m1IlON4j3YQrrlecS/z8xtQ3JTKI0QvmSwDUv2yujtIg/eRS22CkZBWQDq7O zYt9K"
       "exrf7o5h5yy5pFBzrrh7GHtvrR4D//XUwr8Yrb0WURMQj+IEZN3lY6HdOnZRfebuw\tIDAQ AB ; ",
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", ""),
    OK("no v=, no k=", "p=" RSA1024,
       KW_DKIM_ALG_RSA, 0, 1024, 0, 0, 0, 1, 1, 162, 0, "", ""),
    OK("trailing semicolon", "v=DKIM1; p=" ED25519 "; k=ed25519;",
       KW_DKIM_ALG_ED25519, 1, 256, 0, 0, 0, 1, 1, 32, 0, "", ""),
    OK("revoked", "v=DKIM1; k=rsa; p=",
       KW_DKIM_ALG_RSA, 1, 0, 1, 0, 0, 1, 1, 0, 0, "", ""),
    OK("revoked with spaces", "v=DKIM1; p= ; n=retired 2026",
       KW_DKIM_ALG_RSA, 1, 0, 1, 0, 0, 1, 1, 0, 0, "", ""),
    OK("t=y", "v=DKIM1; t=y; p=" ED25519 "; k=ed25519",
       KW_DKIM_ALG_ED25519, 1, 256, 0, 1, 0, 1, 1, 32, 0, "", ""),
    OK("t=y:s with an unknown flag", "v=DKIM1; t = s : x-new : y; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 1, 1, 1, 1, 162, 0, "", ""),
    OK("t=s only", "t=s; p=" RSA1024,
       KW_DKIM_ALG_RSA, 0, 1024, 0, 0, 1, 1, 1, 162, 0, "", ""),
    OK("unknown tags ignored",
       "v=DKIM1; g=*; n=notes with spaces, and: punctuation!; x_future=1; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", ""),
    OK("h=sha1:sha256", "v=DKIM1; h=sha1 : sha256; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "sha1:sha256", ""),
    OK("h= with an unknown algorithm beside sha256", "h=sha512:sha256; p=" RSA1024,
       KW_DKIM_ALG_RSA, 0, 1024, 0, 0, 0, 0, 1, 162, 0, "sha512:sha256", ""),
    OK("h=sha1 alone warns", "v=DKIM1; h=sha1; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 0, 162, KW_DKIM_W_SHA1_ONLY,
       "sha1", ""),
    OK("s=email", "v=DKIM1; s=email; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", "email"),
    OK("s=*", "v=DKIM1; s=*; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", "*"),
    OK("s=tlsrpt warns", "v=DKIM1; s=tlsrpt; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, KW_DKIM_W_NOT_EMAIL,
       "", "tlsrpt"),
    OK("s=tlsrpt:email", "v=DKIM1; s=tlsrpt:email; p=" RSA1024,
       KW_DKIM_ALG_RSA, 1, 1024, 0, 0, 0, 1, 1, 162, 0, "", "tlsrpt:email"),

    ERR("empty", "", KW_EPARSE, "DKIM record: empty record", NULL),
    ERR("whitespace only", " \t ", KW_EPARSE, "empty record", NULL),
    ERR("v=DKIM2", "v=DKIM2; p=" RSA1024, KW_EPARSE, "tag v= (offset 2)",
        "\"DKIM2\", verifiers discard any but DKIM1"),
    ERR("v=dkim1 (case)", "v=dkim1; p=", KW_EPARSE, "tag v= (offset 2)",
        "DKIM1"),
    ERR("v= not first", "k=rsa; v=DKIM1; p=" RSA1024, KW_EPARSE,
        "tag v= (offset 7) must be the first tag", NULL),
    ERR("unknown k=", "v=DKIM1; k=dsa; p=" RSA1024, KW_EPARSE,
        "tag k= (offset 11): unknown key type \"dsa\"", NULL),
    ERR("k=RSA (case)", "v=DKIM1; k=RSA; p=" RSA1024, KW_EPARSE,
        "unknown key type \"RSA\"", "case-sensitive"),
    ERR("k= empty", "v=DKIM1; k=; p=", KW_EPARSE, "unknown key type \"\"",
        NULL),
    ERR("no p=", "v=DKIM1; k=rsa", KW_EPARSE, "no p= tag", NULL),
    ERR("bad base64 char", "v=DKIM1; p=abc!defg", KW_EPARSE,
        "tag p= (offset 14): invalid base64 character '!'", NULL),
    ERR("base64url is not base64", "v=DKIM1; p=ab-_", KW_EPARSE,
        "tag p= (offset 13): invalid base64 character '-'", NULL),
    ERR("data after padding", "v=DKIM1; p=QUI=QUJD", KW_EPARSE,
        "tag p= (offset 15): base64 data after the '=' padding", NULL),
    ERR("padding too early", "v=DKIM1; p=Q===", KW_EPARSE,
        "tag p= (offset 12): '=' padding where base64 data", NULL),
    ERR("cut short", "v=DKIM1; p=" RSA1024 "QU", KW_EPARSE,
        "tag p= (offset 11):", "not a multiple of 4"),
    ERR("not a key", "v=DKIM1; p=QUJD", KW_EPARSE,
        "tag p= (offset 11): 3 bytes that are not an RSA public key", NULL),
    ERR("EC key under k=rsa", "v=DKIM1; p=" EC_SPKI, KW_EPARSE,
        "the key is EC, not RSA", NULL),
    ERR("bytes after the key", "v=DKIM1; p=" RSA1024 "AAAA", KW_EPARSE,
        "tag p= (offset 11): 3 bytes after the end of the RSA key", NULL),
    ERR("ed25519 SPKI instead of raw", "v=DKIM1; k=ed25519; p=" ED25519_SPKI,
        KW_EPARSE, "needs the raw 32-byte public key (RFC 8463)",
        "decodes to 44 bytes (a SubjectPublicKeyInfo"),
    ERR("ed25519 with an RSA key", "v=DKIM1; k=ed25519; p=" RSA1024,
        KW_EPARSE, "decodes to 162 bytes", NULL),
    ERR("duplicate p=", "v=DKIM1; p=; p=" RSA1024, KW_EPARSE,
        "tag p= appears twice (offsets 9 and 13)", NULL),
    ERR("duplicate unknown tag", "v=DKIM1; n=a; n=b; p=", KW_EPARSE,
        "tag n= appears twice", NULL),
    ERR("empty tag-spec", "v=DKIM1;; p=", KW_EPARSE,
        "offset 8: empty tag", NULL),
    ERR("leading semicolon", "; p=", KW_EPARSE, "offset 0: empty tag", NULL),
    ERR("no '='", "v=DKIM1; p", KW_EPARSE,
        "offset 10: expected '=' after tag name \"p\", found the end", NULL),
    ERR("space inside a name", "v=DKIM1; k x=rsa; p=", KW_EPARSE,
        "offset 11: expected '=' after tag name \"k\", found 'x'", NULL),
    ERR("name starts with a digit", "v=DKIM1; 1p=a; p=", KW_EPARSE,
        "offset 9: a tag name must start with a letter, found '1'", NULL),
    ERR("bare LF", "v=DKIM1;\np=", KW_EPARSE,
        "offset 8: a tag name must start with a letter, found '\\x0a'", NULL),
    ERR("CR LF not followed by space", "v=DKIM1; n=a\r\nb; p=", KW_EPARSE,
        "tag n= (offset 12): '\\x0d' is not allowed in a value", NULL),
    ERR("8-bit byte in a value", "v=DKIM1; n=caf\xc3\xa9; p=", KW_EPARSE,
        "tag n= (offset 14): '\\xc3' is not allowed", NULL),
    ERR("h= with no known algorithm", "v=DKIM1; h=md5:sha512; p=" RSA1024,
        KW_EPARSE, "tag h= (offset 11): h=md5:sha512 allows no hash", NULL),
    ERR("h= empty item", "v=DKIM1; h=sha256::sha1; p=" RSA1024, KW_EPARSE,
        "tag h= (offset 18): empty item", NULL),
    ERR("h= bad separator", "v=DKIM1; h=sha256,sha1; p=" RSA1024, KW_EPARSE,
        "tag h= (offset 17): expected ':' between items, found ','", NULL),
    ERR("t= empty", "v=DKIM1; t=; p=" RSA1024, KW_EPARSE,
        "tag t= (offset 11): empty item", NULL),
};

static void record_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const rcase *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->txt);
        kw_dkim_record rec;
        kw_diag d = {""};
        int r = kw_dkim_record_parse(c->txt, len, &rec, &d);
        int ok = r == c->rc;

        if (ok && c->rc != 0) {
            const char *m1 = strstr(d.msg, c->msg);

            ok = m1 != NULL &&
                 (c->msg2 == NULL || strstr(m1, c->msg2) != NULL);
        } else if (ok) {
            ok = rec.k == c->k && rec.has_v == c->has_v &&
                 rec.bits == c->bits && rec.revoked == c->revoked &&
                 rec.t_y == c->t_y && rec.t_s == c->t_s &&
                 rec.h_sha1 == c->h_sha1 && rec.h_sha256 == c->h_sha256 &&
                 rec.p_len == c->p_len && strcmp(rec.h, c->h) == 0 &&
                 strcmp(rec.s, c->s) == 0 &&
                 (c->warn == 0 ? rec.n_warn == 0
                               : rec.n_warn == 1 && rec.warn[0].code == c->warn);
        }
        if (!ok)
            fail_msg("case \"%s\": rc %d (want %d), msg \"%s\"; k %d bits %d "
                     "p_len %zu revoked %d t_y %d t_s %d sha1 %d sha256 %d "
                     "h \"%s\" s \"%s\" warnings %zu", c->name, r, c->rc,
                     d.msg, rec.k, rec.bits, rec.p_len, rec.revoked, rec.t_y,
                     rec.t_s, rec.h_sha1, rec.h_sha256, rec.h, rec.s,
                     rec.n_warn);
    }
}

/* The decoded p= is the key's DER: compare with the bytes base64 gives. */
static void p_bytes(void **state)
{
    static const unsigned char ed[] = {
        0x03, 0x7d, 0x05, 0x0f, 0xdd, 0x6d, 0xfe, 0xb2, 0x5e, 0xc2, 0xf4,
        0xd9, 0x22, 0x17, 0x23, 0x17, 0x71, 0x70, 0x47, 0x03, 0x04, 0x58,
        0xf0, 0xc9, 0xd9, 0x8b, 0xd6, 0x42, 0x91, 0xb7, 0xb8, 0x63};
    kw_dkim_record rec;
    kw_diag d;

    (void)state;
    assert_int_equal(kw_dkim_record_parse("k=ed25519;p=" ED25519,
                                          strlen("k=ed25519;p=" ED25519),
                                          &rec, &d), 0);
    assert_int_equal(rec.p_len, 32);
    assert_memory_equal(rec.p, ed, 32);
    assert_string_equal(rec.k_text, "ed25519");
    assert_int_equal(rec.p_off, 12);
    assert_int_equal(kw_dkim_record_parse("p=" RSA1024, strlen("p=" RSA1024),
                                          &rec, &d), 0);
    assert_int_equal(rec.p[0], 0x30);
    assert_int_equal(rec.p[1], 0x81);
    assert_int_equal(rec.p[161], 0x01);
    /* A p= that is no key leaves no OpenSSL error behind for whatever
     * reads the thread's queue next. */
    ERR_clear_error();
    assert_int_equal(kw_dkim_record_parse("p=QUJD", 6, &rec, &d), KW_EPARSE);
    assert_int_equal(ERR_peek_error(), 0);
}

/* Records up to the size of a TXT record parse without overflow; larger
 * input and oversized p= are refused with KW_ETOOBIG. */
static void bounds(void **state)
{
    size_t cap = KW_DKIM_TXT_MAX + 2, n, i;
    char *big = malloc(cap);
    kw_dkim_record rec;
    kw_diag d;

    (void)state;
    assert_non_null(big);
    /* A 65535-byte valid record: long notes, then the key. */
    n = (size_t)snprintf(big, cap, "v=DKIM1; p=%s; n=", RSA1024);
    memset(big + n, 'x', KW_DKIM_TXT_MAX - n);
    assert_int_equal(kw_dkim_record_parse(big, KW_DKIM_TXT_MAX, &rec, &d), 0);
    assert_int_equal(rec.bits, 1024);
    big[KW_DKIM_TXT_MAX] = 'x';
    assert_int_equal(kw_dkim_record_parse(big, KW_DKIM_TXT_MAX + 1, &rec, &d),
                     KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "65536 bytes, more than a TXT record"));

    /* 64 KiB of base64: p= far beyond KW_DKIM_P_MAX. */
    memcpy(big, "p=", 2);
    memset(big + 2, 'A', KW_DKIM_TXT_MAX - 2);
    assert_int_equal(kw_dkim_record_parse(big, KW_DKIM_TXT_MAX, &rec, &d),
                     KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "tag p= (offset 2): the key is longer than "
                                  "1200 bytes"));
    /* One quad more than KW_DKIM_P_MAX is refused. */
    memset(big + 2, 'A', KW_DKIM_P_MAX / 3 * 4 + 4);
    assert_int_equal(kw_dkim_record_parse(big, 2 + KW_DKIM_P_MAX / 3 * 4 + 4,
                                          &rec, &d), KW_ETOOBIG);
    /* Exactly KW_DKIM_P_MAX decoded bytes fit (and are not a key). */
    memset(big + 2, 'A', KW_DKIM_P_MAX / 3 * 4);
    assert_int_equal(kw_dkim_record_parse(big, 2 + KW_DKIM_P_MAX / 3 * 4,
                                          &rec, &d), KW_EPARSE);
    assert_int_equal(rec.p_len, KW_DKIM_P_MAX);
    assert_non_null(strstr(d.msg, "not an RSA public key"));

    /* 64 KiB of tags: refused past KW_DKIM_TAGS_MAX. */
    for (n = 0, i = 0; n + 16 < KW_DKIM_TXT_MAX; i++)
        n += (size_t)snprintf(big + n, cap - n, "a%zu=1;", i);
    assert_int_equal(kw_dkim_record_parse(big, n, &rec, &d), KW_ETOOBIG);
    assert_non_null(strstr(d.msg, "more than 64 tags (offset "));

    /* 64 KiB of every byte value: refused, never overread. */
    for (i = 0; i < KW_DKIM_TXT_MAX; i++)
        big[i] = (char)(i * 7);
    assert_int_equal(kw_dkim_record_parse(big, KW_DKIM_TXT_MAX, &rec, &d),
                     KW_EPARSE);
    /* A NUL inside the value. */
    assert_int_equal(kw_dkim_record_parse("p=\0AAA", 6, &rec, &d), KW_EPARSE);
    assert_non_null(strstr(d.msg, "tag p= (offset 2): '\\x00' is not allowed"));
    free(big);
}

static void looks_like(void **state)
{
    static const struct {
        const char *txt;
        int want;
    } t[] = {
        {"v=DKIM1; k=rsa; p=" RSA1024, 1},
        {"v=DKIM1", 1},
        {" v = DKIM1 ;", 1},
        {"v=DKIM1;p=", 1},
        {"p=" RSA1024, 1},
        {"k=rsa; p=", 1},
        {"x=1;p =2", 1},
        {"x=1;\r\n\tp\r\n =2", 1},
        {"v\r\n = \r\n DKIM1\r\n ;", 1},
        {"n=broken record;; p=abc!", 1},
        {"v=DKIM2; p=abc", 0},
        {"v=DKIM1x; p=abc", 0},
        {"v=spf1 include:_spf.example.net -all", 0},
        {"v=DMARC1; p=none", 0},
        {"google-site-verification=abc", 0},
        {"xp=1; k=rsa", 0},
        {"", 0},
        {"p", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (kw_dkim_record_looks_like(t[i].txt, strlen(t[i].txt)) != t[i].want)
            fail_msg("looks_like(\"%s\") != %d", t[i].txt, t[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_table),
        cmocka_unit_test(p_bytes),
        cmocka_unit_test(bounds),
        cmocka_unit_test(looks_like),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
