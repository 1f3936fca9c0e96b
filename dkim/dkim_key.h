/*
 * dkim_key.h: DKIM key types shared by dkim/ (minimal version: the
 * algorithm and the bound of a p= value, which dkim_record.h needs).
 */
#ifndef KW_DKIM_KEY_H
#define KW_DKIM_KEY_H

typedef enum kw_dkim_alg { KW_DKIM_ALG_NONE = 0, KW_DKIM_ALG_RSA, KW_DKIM_ALG_ED25519 } kw_dkim_alg;
#define KW_DKIM_P_MAX 1200   /* bytes of a p= value, decoded */

#endif
