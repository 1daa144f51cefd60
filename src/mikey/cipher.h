/* The two primitives MIKEY messages are protected with: AES in counter mode for KEMAC data
 * (RFC 3830 4.2.3, RFC 6043 6.2) and HMAC for KEMAC/V MACs. OpenSSL 3 underneath. */
#pragma once

#include "secret.h"
#include "types.h"

/* AES-CM-128 or AES-CM-256 (by encr_key->len 16/32) with
 * IV = (salt_key(14) XOR (0x0000 || csb_id || t)) || 0x0000. Encryption and decryption are the
 * same operation; in and out may be the same buffer. len must be at most 2^16 blocks. */
gboolean mikey_aes_cm(const MikeySecret *encr_key, const MikeySecret *salt_key, guint32 csb_id,
                      guint64 t, const guint8 *in, guint8 *out, gsize len, GError **error);

/* The 16-byte IV of mikey_aes_cm(), exposed for tests. */
void mikey_aes_cm_iv(const MikeySecret *salt_key, guint32 csb_id, guint64 t, guint8 iv[16]);

typedef struct {
  const guint8 *data;
  gsize len;
} MikeyIov;

/* HMAC-SHA-1-160 or HMAC-SHA-256-256 over the concatenation of parts; writes
 * mikey_mac_len(alg) bytes to out. FALSE with error on MIKEY_MAC_NULL/unknown alg. */
gboolean mikey_hmac(MikeyMacAlg alg, const MikeySecret *key, const MikeyIov *parts, guint n_parts,
                    guint8 *out, GError **error);
