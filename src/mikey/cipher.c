/* AES-CM for KEMAC Encr data (RFC 3830 4.2.3) and HMAC for KEMAC/V MACs, on OpenSSL 3.
 * Algorithm objects are fetched once per process: a fetch costs more than the work. */
#include "cipher.h"

#include "error.h"
#include "prf.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AES_BLOCK_LEN 16
/* The IV leaves 16 bits for the block counter, so a KEMAC holds at most 2^16 blocks. */
#define AES_CM_MAX_LEN ((gsize)AES_BLOCK_LEN << 16)
#define HMAC_MAX_BLOCK 64 /* block size of SHA-1 and SHA-256 */

static EVP_CIPHER *cipher_aes_128_ctr;
static EVP_CIPHER *cipher_aes_256_ctr;

/* Fetch-once cache, as prf.c's digests: a lost race frees its copy, failures are not cached. */
static const EVP_CIPHER *cipher_cached(EVP_CIPHER **slot, const char *name, GError **error)
{
  EVP_CIPHER *cipher = g_atomic_pointer_get(slot);
  if (G_LIKELY(cipher != NULL))
    return cipher;
  cipher = EVP_CIPHER_fetch(NULL, name, NULL);
  if (cipher == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "OpenSSL has no %s cipher", name);
    return NULL;
  }
  if (!g_atomic_pointer_compare_and_exchange(slot, NULL, cipher)) {
    EVP_CIPHER_free(cipher);
    cipher = g_atomic_pointer_get(slot);
  }
  return cipher;
}

void mikey_aes_cm_iv(const MikeySecret *salt_key, guint32 csb_id, guint64 t, guint8 iv[16])
{
  /* IV = (S(112) XOR (0x0000 || CSB_ID(32) || T(64))) || 0x0000 */
  memset(iv, 0, 16);
  if (salt_key != NULL)
    memcpy(iv, salt_key->data, MIN(salt_key->len, MIKEY_SALT_KEY_LEN));
  for (int i = 0; i < 4; i++)
    iv[2 + i] ^= (guint8)(csb_id >> (24 - 8 * i));
  for (int i = 0; i < 8; i++)
    iv[6 + i] ^= (guint8)(t >> (56 - 8 * i));
}

gboolean mikey_aes_cm(const MikeySecret *encr_key, const MikeySecret *salt_key, guint32 csb_id,
                      guint64 t, const guint8 *in, guint8 *out, gsize len, GError **error)
{
  const EVP_CIPHER *cipher;
  if (encr_key != NULL && encr_key->len == 16) {
    cipher = cipher_cached(&cipher_aes_128_ctr, "AES-128-CTR", error);
  } else if (encr_key != NULL && encr_key->len == 32) {
    cipher = cipher_cached(&cipher_aes_256_ctr, "AES-256-CTR", error);
  } else {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA,
                "AES-CM needs a 16- or 32-byte key, not %" G_GSIZE_FORMAT " bytes",
                encr_key != NULL ? encr_key->len : 0);
    return FALSE;
  }
  if (cipher == NULL)
    return FALSE;
  if (salt_key == NULL || salt_key->len != MIKEY_SALT_KEY_LEN) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA,
                "AES-CM needs a %d-byte salt key, not %" G_GSIZE_FORMAT " bytes",
                MIKEY_SALT_KEY_LEN, salt_key != NULL ? salt_key->len : 0);
    return FALSE;
  }
  if (len > AES_CM_MAX_LEN) {
    /* Beyond 2^16 blocks the 16-bit counter would run into the CSB ID/T bits of the IV. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "AES-CM data of %" G_GSIZE_FORMAT " bytes exceeds 2^16 blocks", len);
    return FALSE;
  }
  if (len == 0)
    return TRUE;
  if (in == NULL || out == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "AES-CM on a NULL buffer");
    return FALSE;
  }

  guint8 iv[16];
  mikey_aes_cm_iv(salt_key, csb_id, t, iv);
  /* OpenSSL's CTR mode increments the whole 128-bit block; the low 16 bits start at 0 and
   * count at most 2^16 blocks, so it never carries into the rest and equals MIKEY's AES-CM. */
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int out_len = 0, final_len = 0;
  int ok = ctx != NULL && EVP_EncryptInit_ex2(ctx, cipher, encr_key->data, iv, NULL);
  ok = ok && EVP_EncryptUpdate(ctx, out, &out_len, in, (int)len);
  ok = ok && EVP_EncryptFinal_ex(ctx, out + out_len, &final_len);
  ok = ok && (gsize)out_len + (gsize)final_len == len;
  EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
  OPENSSL_cleanse(iv, sizeof(iv));
  if (!ok) {
    OPENSSL_cleanse(out, len);
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "OpenSSL failure in AES-CM");
  }
  return ok;
}

gboolean mikey_hmac(MikeyMacAlg alg, const MikeySecret *key, const MikeyIov *parts, guint n_parts,
                    guint8 *out, GError **error)
{
  const EVP_MD *md;
  switch (alg) {
  case MIKEY_MAC_HMAC_SHA1_160:
    md = mikey_prf_md(MIKEY_PRF_HMAC_SHA1, error);
    break;
  case MIKEY_MAC_HMAC_SHA256_256:
    md = mikey_prf_md(MIKEY_PRF_HMAC_SHA256, error);
    break;
  default:
    /* NULL included: a caller asking for a MAC must not get an "empty MAC" that verifies. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC, "no HMAC for MAC algorithm %d",
                (int)alg);
    return FALSE;
  }
  if (md == NULL)
    return FALSE;
  if (key == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "HMAC without a key");
    return FALSE;
  }
  for (guint i = 0; i < n_parts; i++) {
    if (parts[i].data == NULL && parts[i].len > 0) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "HMAC over a NULL part");
      return FALSE;
    }
  }

  /* RFC 2104 on the digest directly (EVP_MAC would look the digest up by name on every
   * context): one pass over the parts, no copies of them. */
  gsize block = (gsize)EVP_MD_get_block_size(md);
  gsize hlen = (gsize)EVP_MD_get_size(md);
  guint8 pad[HMAC_MAX_BLOCK], inner[EVP_MAX_MD_SIZE];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL;
  memset(pad, 0, sizeof(pad));
  if (key->len > block) {
    /* Keys longer than a block are hashed first. */
    ok = ok && EVP_DigestInit_ex2(ctx, md, NULL);
    ok = ok && EVP_DigestUpdate(ctx, key->data, key->len);
    ok = ok && EVP_DigestFinal_ex(ctx, pad, NULL);
  } else if (key->len > 0) {
    memcpy(pad, key->data, key->len);
  }
  for (gsize i = 0; i < block; i++)
    pad[i] ^= 0x36;
  ok = ok && EVP_DigestInit_ex2(ctx, md, NULL);
  ok = ok && EVP_DigestUpdate(ctx, pad, block);
  for (guint i = 0; ok && i < n_parts; i++)
    ok = parts[i].len == 0 || EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
  ok = ok && EVP_DigestFinal_ex(ctx, inner, NULL);
  for (gsize i = 0; i < block; i++)
    pad[i] ^= 0x36 ^ 0x5c; /* ipad -> opad */
  ok = ok && EVP_DigestInit_ex2(ctx, md, NULL);
  ok = ok && EVP_DigestUpdate(ctx, pad, block);
  ok = ok && EVP_DigestUpdate(ctx, inner, hlen);
  ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
  EVP_MD_CTX_free(ctx);
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  if (!ok) {
    OPENSSL_cleanse(out, hlen);
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "OpenSSL failure in HMAC");
  }
  return ok;
}
