/* The MIKEY PRF (RFC 3830 4.1.2, RFC 6043 6.1): the TLS-1.0-style P-function over HMAC-SHA-1
 * or HMAC-SHA-256, applied to each 256-bit chunk of the inkey, outputs XORed.
 *
 * Speed matters (a KMS resolve makes ~15 PRF calls), so the digests are fetched once per
 * process and each chunk's HMAC key is turned into ipad/opad digest states once and then
 * copied for every HMAC of the P-function, instead of re-hashing the padded key each time. */
#include "prf.h"

#include "error.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define PRF_CHUNK_LEN 32 /* the inkey is split into 256-bit chunks */
#define PRF_MAX_BLOCK 64 /* HMAC block size of SHA-1 and SHA-256 */
#define PRF_MAX_HLEN 32  /* largest digest (SHA-256) */

static EVP_MD *prf_md_sha1;
static EVP_MD *prf_md_sha256;

/* Fetch-once cache: a lost race frees its own copy and uses the winner's, so no lock is needed
 * and the cached object is never written again. A failed fetch is not cached (retried later). */
static const EVP_MD *prf_md_cached(EVP_MD **slot, const char *name, GError **error)
{
  EVP_MD *md = g_atomic_pointer_get(slot);
  if (G_LIKELY(md != NULL))
    return md;
  md = EVP_MD_fetch(NULL, name, NULL);
  if (md == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "OpenSSL has no %s digest", name);
    return NULL;
  }
  if (!g_atomic_pointer_compare_and_exchange(slot, NULL, md)) {
    EVP_MD_free(md);
    md = g_atomic_pointer_get(slot);
  }
  return md;
}

const EVP_MD *mikey_prf_md(MikeyPrf prf, GError **error)
{
  switch (prf) {
  case MIKEY_PRF_HMAC_SHA1:
    return prf_md_cached(&prf_md_sha1, "SHA1", error);
  case MIKEY_PRF_HMAC_SHA256:
    return prf_md_cached(&prf_md_sha256, "SHA256", error);
  }
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF, "unknown PRF %d", (int)prf);
  return NULL;
}

/* One HMAC key of the P-function: digest states after the ipad and the opad block, plus a
 * work context the states are copied into. */
typedef struct {
  EVP_MD_CTX *inner;
  EVP_MD_CTX *outer;
  EVP_MD_CTX *work;
  gsize hlen;
} PrfHmac;

static void prf_hmac_clear(PrfHmac *h)
{
  /* EVP_MD_CTX_free cleanses the digest state, which is key-equivalent for ipad/opad. */
  EVP_MD_CTX_free(h->inner);
  EVP_MD_CTX_free(h->outer);
  EVP_MD_CTX_free(h->work);
}

/* Keys the HMAC with one inkey chunk (at most 32 bytes, so shorter than the block: RFC 2104's
 * "hash long keys first" never applies). */
static gboolean prf_hmac_set_key(PrfHmac *h, const EVP_MD *md, const guint8 *key, gsize key_len)
{
  guint8 ipad[PRF_MAX_BLOCK], opad[PRF_MAX_BLOCK];
  gsize block = (gsize)EVP_MD_get_block_size(md);
  memset(ipad, 0x36, block);
  memset(opad, 0x5c, block);
  for (gsize i = 0; i < key_len; i++) {
    ipad[i] ^= key[i];
    opad[i] ^= key[i];
  }
  int ok = EVP_DigestInit_ex2(h->inner, md, NULL);
  ok = ok && EVP_DigestUpdate(h->inner, ipad, block);
  ok = ok && EVP_DigestInit_ex2(h->outer, md, NULL);
  ok = ok && EVP_DigestUpdate(h->outer, opad, block);
  OPENSSL_cleanse(ipad, sizeof(ipad));
  OPENSSL_cleanse(opad, sizeof(opad));
  return ok;
}

/* out = HMAC(key, a || b); out holds hlen bytes. */
static gboolean prf_hmac(PrfHmac *h, const guint8 *a, gsize a_len, const guint8 *b, gsize b_len,
                         guint8 *out)
{
  guint8 inner[PRF_MAX_HLEN];
  int ok = EVP_MD_CTX_copy_ex(h->work, h->inner);
  ok = ok && EVP_DigestUpdate(h->work, a, a_len);
  ok = ok && (b_len == 0 || EVP_DigestUpdate(h->work, b, b_len));
  ok = ok && EVP_DigestFinal_ex(h->work, inner, NULL);
  ok = ok && EVP_MD_CTX_copy_ex(h->work, h->outer);
  ok = ok && EVP_DigestUpdate(h->work, inner, h->hlen);
  ok = ok && EVP_DigestFinal_ex(h->work, out, NULL);
  OPENSSL_cleanse(inner, sizeof(inner));
  return ok;
}

/* XORs the first out_len bytes of P(key, label) into out:
 * A0 = label, Ai = HMAC(key, A(i-1)), P = HMAC(key, A1 || label) || HMAC(key, A2 || label) ... */
static gboolean prf_p_xor(PrfHmac *h, const guint8 *label, gsize label_len, guint8 *out,
                          gsize out_len)
{
  guint8 a[PRF_MAX_HLEN], block[PRF_MAX_HLEN];
  gboolean ok = TRUE;
  const guint8 *prev = label;
  gsize prev_len = label_len;
  for (gsize done = 0; ok && done < out_len; done += h->hlen) {
    ok = prf_hmac(h, prev, prev_len, NULL, 0, a);
    ok = ok && prf_hmac(h, a, h->hlen, label, label_len, block);
    gsize n = MIN(h->hlen, out_len - done);
    for (gsize i = 0; i < n; i++)
      out[done + i] ^= block[i];
    prev = a;
    prev_len = h->hlen;
  }
  OPENSSL_cleanse(a, sizeof(a));
  OPENSSL_cleanse(block, sizeof(block));
  return ok;
}

gboolean mikey_prf(MikeyPrf prf, const guint8 *inkey, gsize inkey_len, const guint8 *label,
                   gsize label_len, guint8 *out, gsize out_len, GError **error)
{
  const EVP_MD *md = mikey_prf_md(prf, error);
  if (md == NULL)
    return FALSE;
  if (inkey == NULL || inkey_len == 0) {
    /* Zero chunks would XOR nothing into out: an all-zero "key" must never come out. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "PRF with an empty inkey");
    return FALSE;
  }
  if (label == NULL && label_len > 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "PRF with a NULL label");
    return FALSE;
  }
  if (out_len == 0)
    return TRUE;

  PrfHmac h = { EVP_MD_CTX_new(), EVP_MD_CTX_new(), EVP_MD_CTX_new(), (gsize)EVP_MD_get_size(md) };
  gboolean ok = h.inner != NULL && h.outer != NULL && h.work != NULL;
  memset(out, 0, out_len);
  /* 256-bit chunks; the last one is the remainder or a full chunk. (inkey_len % 32 would
   * give an empty last chunk for 32- and 64-byte keys, minisip's bug.) */
  gsize n_chunks = (inkey_len + PRF_CHUNK_LEN - 1) / PRF_CHUNK_LEN;
  for (gsize i = 0; ok && i < n_chunks; i++) {
    gsize chunk_len = i == n_chunks - 1 ? inkey_len - PRF_CHUNK_LEN * i : PRF_CHUNK_LEN;
    ok = prf_hmac_set_key(&h, md, inkey + PRF_CHUNK_LEN * i, chunk_len);
    ok = ok && prf_p_xor(&h, label, label_len, out, out_len);
  }
  prf_hmac_clear(&h);
  if (!ok) {
    OPENSSL_cleanse(out, out_len);
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "OpenSSL failure in the MIKEY PRF");
  }
  return ok;
}
