/* OpenSSL cipher and auth types for libsrtp2; see srtpcrypto.h.
 *
 * The contracts libsrtp expects (srtp2/cipher.h, srtp2/auth.h and how srtp.c calls them):
 * - a cipher is allocated for a key length that includes the salt (30 bytes for AES-ICM-128, 28
 *   for AES-GCM-128), keyed with init() (again on re-key), then per packet set_iv() and
 *   encrypt()/decrypt() in place; alloc() sets `algorithm`, by which libsrtp picks its AEAD path;
 * - AES-ICM: init() takes key ‖ 14-byte salt, set_iv() a 16-byte IV, and the counter block is
 *   IV XOR salt (RFC 3711 4.1.1); the keystream continues across encrypt() calls until the next
 *   set_iv(); decrypt is the same operation;
 * - AES-GCM: set_iv() takes the 12-byte IV libsrtp formed and the direction, set_aad() may come
 *   several times (SRTCP: header, then trailer), encrypt() leaves the tag for get_tag(), and
 *   decrypt() is given the ciphertext followed by the tag and returns the plaintext length;
 *   either may see no data at all (unencrypted SRTCP: only the tag over the AAD);
 * - HMAC: init() keys it, start() begins a message, update() adds to it, compute() adds the
 *   last part and writes the first tag_len bytes of the MAC. libsrtp's self-test calls compute()
 *   right after init(), without start().
 *
 * Beyond libsrtp's contract, a failed GCM decrypt leaves the buffer as it was (OpenSSL writes the
 * plaintext before it checks the tag; the ciphertext is put back by running the same counter
 * keystream over it again), so that srtpctx can try another key on the same bytes without
 * copying every packet aside first. */
#include "srtpcrypto.h"

#include <gio/gio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <srtp2/srtp.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <string.h>

#define ICM_KEY 16
#define ICM_SALT 14
#define ICM_BLOCK 16
#define GCM_KEY 16
#define GCM_IV 12
#define GCM_TAG_MAX 16
#define SHA1_LEN 20

/* Fetched once (an implicit fetch on every key set-up costs a provider lookup). */
static EVP_CIPHER *aes_ctr, *aes_gcm;
static EVP_MD *sha1_md;

/* ------------------------------------------------------------------ AES-ICM-128 */

typedef struct {
  EVP_CIPHER_CTX *ctx;
  guint8 salt[ICM_BLOCK]; /* the 14-byte salt, then two zero bytes */
  gsize left;             /* keystream bytes the current IV may still give */
} Icm;

static const srtp_cipher_type_t icm_type;

static void icm_free(srtp_cipher_t *c)
{
  Icm *s = c->state;
  if (s != NULL) {
    EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
    explicit_bzero(s, sizeof *s);
    g_free(s);
  }
  g_free(c);
}

static srtp_err_status_t icm_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
  (void)tag_len;
  if (key_len != SRTP_AES_ICM_128_KEY_LEN_WSALT)
    return srtp_err_status_bad_param;
  srtp_cipher_t *c = g_new0(srtp_cipher_t, 1);
  Icm *s = g_new0(Icm, 1);
  c->type = &icm_type;
  c->state = s;
  c->key_len = key_len;
  c->algorithm = SRTP_AES_ICM_128;
  s->ctx = EVP_CIPHER_CTX_new();
  if (s->ctx == NULL) {
    icm_free(c);
    return srtp_err_status_alloc_fail;
  }
  *cp = c;
  return srtp_err_status_ok;
}

static srtp_err_status_t icm_dealloc(srtp_cipher_t *c)
{
  icm_free(c);
  return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
  Icm *s = state;
  memset(s->salt, 0, sizeof s->salt);
  memcpy(s->salt, key + ICM_KEY, ICM_SALT);
  s->left = 0; /* nothing until an IV is set */
  if (EVP_EncryptInit_ex2(s->ctx, aes_ctr, key, NULL, NULL) != 1)
    return srtp_err_status_init_fail;
  return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
  (void)dir; /* counter mode: the same either way */
  Icm *s = state;
  guint8 counter[ICM_BLOCK];
  for (guint i = 0; i < ICM_BLOCK; i++)
    counter[i] = iv[i] ^ s->salt[i];
  /* RFC 3711 4.1.1: the low 16 bits count the blocks of one packet's keystream; OpenSSL would
   * carry into the IV bits beyond that, so the keystream stops where they would wrap. */
  s->left = (gsize)(0x10000 - ((guint)counter[14] << 8 | counter[15])) * ICM_BLOCK;
  int ok = EVP_EncryptInit_ex2(s->ctx, NULL, NULL, counter, NULL);
  explicit_bzero(counter, sizeof counter);
  return ok == 1 ? srtp_err_status_ok : srtp_err_status_cipher_fail;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
  Icm *s = state;
  if (*len == 0)
    return srtp_err_status_ok;
  if (*len > s->left || *len > G_MAXINT)
    return srtp_err_status_terminus;
  int out = 0;
  if (EVP_EncryptUpdate(s->ctx, buf, &out, buf, (int)*len) != 1 || out != (int)*len)
    return srtp_err_status_cipher_fail;
  s->left -= *len;
  return srtp_err_status_ok;
}

/* RFC 3711 B.2: the first two keystream blocks for session key 2B7E...4F3C, salt F0F1...FD,
 * index 0 (encrypting zeros gives the keystream). */
static const uint8_t icm_tc_key[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {
  0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
  0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd
};
static uint8_t icm_tc_iv[16]; /* libsrtp's test case type has a non-const index */
static const uint8_t icm_tc_zeros[32];
static const uint8_t icm_tc_keystream[32] = { 0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80,
                                              0xe1, 0x66, 0xb1, 0x6d, 0xd9, 0x2b, 0x4e, 0xb4,
                                              0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02, 0xd0, 0xf7,
                                              0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab };
static const srtp_cipher_test_case_t icm_test = {
  .key_length_octets = SRTP_AES_ICM_128_KEY_LEN_WSALT,
  .key = icm_tc_key,
  .idx = icm_tc_iv,
  .plaintext_length_octets = sizeof icm_tc_zeros,
  .plaintext = icm_tc_zeros,
  .ciphertext_length_octets = sizeof icm_tc_keystream,
  .ciphertext = icm_tc_keystream,
};

static const srtp_cipher_type_t icm_type = {
  .alloc = icm_alloc,
  .dealloc = icm_dealloc,
  .init = icm_init,
  .set_aad = NULL,
  .encrypt = icm_crypt,
  .decrypt = icm_crypt,
  .set_iv = icm_set_iv,
  .get_tag = NULL,
  .description = "AES-128 counter mode (OpenSSL)",
  .test_data = &icm_test,
  .id = SRTP_AES_ICM_128,
};

/* ------------------------------------------------------------------ AES-GCM-128 */

typedef struct {
  EVP_CIPHER_CTX *ctx;
  int tag_len;
  gboolean encrypt;
  gboolean ready; /* an IV is set and the operation not finished */
  guint8 iv[GCM_IV];
  guint8 tag[GCM_TAG_MAX];
} Gcm;

static const srtp_cipher_type_t gcm_type;

static void gcm_free(srtp_cipher_t *c)
{
  Gcm *s = c->state;
  if (s != NULL) {
    EVP_CIPHER_CTX_free(s->ctx);
    explicit_bzero(s, sizeof *s);
    g_free(s);
  }
  g_free(c);
}

static srtp_err_status_t gcm_alloc(srtp_cipher_t **cp, int key_len, int tag_len)
{
  if (key_len != SRTP_AES_GCM_128_KEY_LEN_WSALT || (tag_len != 8 && tag_len != GCM_TAG_MAX))
    return srtp_err_status_bad_param;
  srtp_cipher_t *c = g_new0(srtp_cipher_t, 1);
  Gcm *s = g_new0(Gcm, 1);
  c->type = &gcm_type;
  c->state = s;
  c->key_len = key_len;
  c->algorithm = SRTP_AES_GCM_128;
  s->tag_len = tag_len;
  s->ctx = EVP_CIPHER_CTX_new();
  if (s->ctx == NULL) {
    gcm_free(c);
    return srtp_err_status_alloc_fail;
  }
  *cp = c;
  return srtp_err_status_ok;
}

static srtp_err_status_t gcm_dealloc(srtp_cipher_t *c)
{
  gcm_free(c);
  return srtp_err_status_ok;
}

/* key: the 16-byte key, then the 12-byte salt, which libsrtp applies itself when it forms IVs */
static srtp_err_status_t gcm_init(void *state, const uint8_t *key)
{
  Gcm *s = state;
  s->ready = FALSE;
  if (EVP_CipherInit_ex2(s->ctx, aes_gcm, key, NULL, 1, NULL) != 1)
    return srtp_err_status_init_fail;
  return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
  Gcm *s = state;
  if (dir != srtp_direction_encrypt && dir != srtp_direction_decrypt)
    return srtp_err_status_bad_param;
  s->encrypt = dir == srtp_direction_encrypt;
  memcpy(s->iv, iv, GCM_IV);
  s->ready = EVP_CipherInit_ex2(s->ctx, NULL, NULL, s->iv, s->encrypt, NULL) == 1;
  return s->ready ? srtp_err_status_ok : srtp_err_status_cipher_fail;
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
  Gcm *s = state;
  int out = 0;
  if (!s->ready || len > G_MAXINT)
    return srtp_err_status_bad_param;
  if (len > 0 && EVP_CipherUpdate(s->ctx, NULL, &out, aad, (int)len) != 1)
    return srtp_err_status_cipher_fail;
  return srtp_err_status_ok;
}

/* Gets (encrypt) or sets (decrypt) the tag. Through the parameter interface, not
 * EVP_CIPHER_CTX_ctrl(): in OpenSSL 3 that call builds the same parameters itself and costs
 * about 2.5 times as much (measured: 235 ns against 95 ns). */
static gboolean gcm_tag(Gcm *s, gboolean set, guint8 *tag)
{
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, (gsize)s->tag_len),
    OSSL_PARAM_construct_end(),
  };
  return (set ? EVP_CIPHER_CTX_set_params(s->ctx, params)
              : EVP_CIPHER_CTX_get_params(s->ctx, params)) == 1;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
  Gcm *s = state;
  int out = 0;
  guint8 none[GCM_TAG_MAX];
  if (!s->ready || !s->encrypt || *len > G_MAXINT)
    return srtp_err_status_bad_param;
  s->ready = FALSE;
  if (*len > 0 && (EVP_CipherUpdate(s->ctx, buf, &out, buf, (int)*len) != 1 || out != (int)*len))
    return srtp_err_status_cipher_fail;
  if (EVP_CipherFinal_ex(s->ctx, none, &out) != 1 || !gcm_tag(s, FALSE, s->tag))
    return srtp_err_status_cipher_fail;
  return srtp_err_status_ok;
}

static srtp_err_status_t gcm_get_tag(void *state, uint8_t *tag, uint32_t *len)
{
  Gcm *s = state;
  memcpy(tag, s->tag, (gsize)s->tag_len);
  *len = (uint32_t)s->tag_len;
  return srtp_err_status_ok;
}

static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *len)
{
  Gcm *s = state;
  int out = 0;
  guint8 none[GCM_TAG_MAX];
  if (!s->ready || s->encrypt || *len > G_MAXINT)
    return srtp_err_status_bad_param;
  if (*len < (unsigned int)s->tag_len)
    return srtp_err_status_cipher_fail;
  s->ready = FALSE;
  int n = (int)*len - s->tag_len;
  if (!gcm_tag(s, TRUE, buf + n))
    return srtp_err_status_cipher_fail;
  if (n > 0 && (EVP_CipherUpdate(s->ctx, buf, &out, buf, n) != 1 || out != n))
    return srtp_err_status_cipher_fail;
  if (EVP_CipherFinal_ex(s->ctx, none, &out) == 1) {
    *len = (unsigned int)n;
    return srtp_err_status_ok;
  }
  /* Wrong tag: the same keystream again turns the plaintext back into the ciphertext. */
  if (n > 0 && (EVP_CipherInit_ex2(s->ctx, NULL, NULL, s->iv, 1, NULL) != 1 ||
                EVP_CipherUpdate(s->ctx, buf, &out, buf, n) != 1 || out != n)) {
    explicit_bzero(buf, (gsize)n); /* never leave unauthenticated plaintext behind */
    return srtp_err_status_cipher_fail;
  }
  return srtp_err_status_auth_fail;
}

/* The GCM specification's (McGrew and Viega) test case 4: a 60-byte plaintext, 20 bytes of AAD,
 * a 16-byte tag. The key is followed by a 12-byte salt the cipher does not use. */
static const uint8_t gcm_tc_key[SRTP_AES_GCM_128_KEY_LEN_WSALT] = {
  0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
  0x83, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};
static uint8_t gcm_tc_iv[GCM_IV] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
                                     0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88 };
static const uint8_t gcm_tc_plain[60] = {
  0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
  0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
  0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
  0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39
};
static const uint8_t gcm_tc_aad[20] = {
  0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
  0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2
};
static const uint8_t gcm_tc_cipher[76] = {
  0x42, 0x83, 0x1e, 0xc2, 0x21, 0x77, 0x74, 0x24, 0x4b, 0x72, 0x21, 0xb7, 0x84, 0xd0, 0xd4, 0x9c,
  0xe3, 0xaa, 0x21, 0x2f, 0x2c, 0x02, 0xa4, 0xe0, 0x35, 0xc1, 0x7e, 0x23, 0x29, 0xac, 0xa1, 0x2e,
  0x21, 0xd5, 0x14, 0xb2, 0x54, 0x66, 0x93, 0x1c, 0x7d, 0x8f, 0x6a, 0x5a, 0xac, 0x84, 0xaa, 0x05,
  0x1b, 0xa3, 0x0b, 0x39, 0x6a, 0x0a, 0xac, 0x97, 0x3d, 0x58, 0xe0, 0x91,
  /* tag */
  0x5b, 0xc9, 0x4f, 0xbc, 0x32, 0x21, 0xa5, 0xdb, 0x94, 0xfa, 0xe9, 0x5a, 0xe7, 0x12, 0x1a, 0x47
};
static const srtp_cipher_test_case_t gcm_test = {
  .key_length_octets = SRTP_AES_GCM_128_KEY_LEN_WSALT,
  .key = gcm_tc_key,
  .idx = gcm_tc_iv,
  .plaintext_length_octets = sizeof gcm_tc_plain,
  .plaintext = gcm_tc_plain,
  .ciphertext_length_octets = sizeof gcm_tc_cipher,
  .ciphertext = gcm_tc_cipher,
  .aad_length_octets = sizeof gcm_tc_aad,
  .aad = gcm_tc_aad,
  .tag_length_octets = GCM_TAG_MAX,
};

static const srtp_cipher_type_t gcm_type = {
  .alloc = gcm_alloc,
  .dealloc = gcm_dealloc,
  .init = gcm_init,
  .set_aad = gcm_set_aad,
  .encrypt = gcm_encrypt,
  .decrypt = gcm_decrypt,
  .set_iv = gcm_set_iv,
  .get_tag = gcm_get_tag,
  .description = "AES-128 GCM (OpenSSL)",
  .test_data = &gcm_test,
  .id = SRTP_AES_GCM_128,
};

/* ------------------------------------------------------------------ HMAC-SHA1
 *
 * RFC 2104 on two SHA-1 digest contexts, the key's inner and outer pads kept. Not EVP_MAC:
 * OpenSSL 3.0's HMAC starts each message by copying a saved digest context, and copying one
 * allocates (and frees) the digest state — twice per packet; hashing the 64-byte pad again costs
 * less (measured here: 0.74 us instead of 1.05 us for an SRTP packet's tag). */

#define SHA1_BLOCK 64

typedef struct {
  EVP_MD_CTX *inner, *outer;
  guint8 ipad[SHA1_BLOCK], opad[SHA1_BLOCK];
} Hmac;

static const srtp_auth_type_t hmac_type;

static void hmac_free(srtp_auth_t *a)
{
  Hmac *s = a->state;
  if (s != NULL) {
    EVP_MD_CTX_free(s->inner); /* cleanses the digest state */
    EVP_MD_CTX_free(s->outer);
    explicit_bzero(s, sizeof *s);
    g_free(s);
  }
  g_free(a);
}

static srtp_err_status_t hmac_alloc(srtp_auth_t **ap, int key_len, int out_len)
{
  if (key_len < 0 || out_len < 0 || out_len > SHA1_LEN)
    return srtp_err_status_bad_param;
  srtp_auth_t *a = g_new0(srtp_auth_t, 1);
  Hmac *s = g_new0(Hmac, 1);
  a->type = &hmac_type;
  a->state = s;
  a->out_len = out_len;
  a->key_len = key_len;
  a->prefix_len = 0;
  s->inner = EVP_MD_CTX_new();
  s->outer = EVP_MD_CTX_new();
  if (s->inner == NULL || s->outer == NULL) {
    hmac_free(a);
    return srtp_err_status_alloc_fail;
  }
  *ap = a;
  return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *a)
{
  hmac_free(a);
  return srtp_err_status_ok;
}

static srtp_err_status_t hmac_start(void *state)
{
  Hmac *s = state;
  if (EVP_DigestInit_ex2(s->inner, sha1_md, NULL) != 1 ||
      EVP_DigestUpdate(s->inner, s->ipad, SHA1_BLOCK) != 1)
    return srtp_err_status_auth_fail;
  return srtp_err_status_ok;
}

/* Also starts a message: libsrtp's self-test computes right after keying. */
static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
  Hmac *s = state;
  guint8 k[SHA1_BLOCK] = { 0 };
  if (key_len < 0)
    return srtp_err_status_bad_param;
  if (key_len > SHA1_BLOCK) { /* RFC 2104: a long key is hashed first */
    unsigned int n = 0;
    if (EVP_Digest(key, (gsize)key_len, k, &n, sha1_md, NULL) != 1)
      return srtp_err_status_init_fail;
  } else {
    memcpy(k, key, (gsize)key_len);
  }
  for (guint i = 0; i < SHA1_BLOCK; i++) {
    s->ipad[i] = k[i] ^ 0x36;
    s->opad[i] = k[i] ^ 0x5c;
  }
  explicit_bzero(k, sizeof k);
  return hmac_start(s) == srtp_err_status_ok ? srtp_err_status_ok : srtp_err_status_init_fail;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *msg, int len)
{
  Hmac *s = state;
  if (len < 0)
    return srtp_err_status_bad_param;
  return len == 0 || EVP_DigestUpdate(s->inner, msg, (gsize)len) == 1 ? srtp_err_status_ok
                                                                      : srtp_err_status_auth_fail;
}

static srtp_err_status_t hmac_compute(void *state, const uint8_t *msg, int len, int tag_len,
                                      uint8_t *result)
{
  Hmac *s = state;
  guint8 ih[SHA1_LEN], mac[SHA1_LEN];
  unsigned int n = 0;
  if (tag_len < 0 || tag_len > SHA1_LEN)
    return srtp_err_status_bad_param;
  srtp_err_status_t st = srtp_err_status_auth_fail;
  if (hmac_update(s, msg, len) == srtp_err_status_ok && EVP_DigestFinal_ex(s->inner, ih, &n) == 1 &&
      n == SHA1_LEN && EVP_DigestInit_ex2(s->outer, sha1_md, NULL) == 1 &&
      EVP_DigestUpdate(s->outer, s->opad, SHA1_BLOCK) == 1 &&
      EVP_DigestUpdate(s->outer, ih, SHA1_LEN) == 1 && EVP_DigestFinal_ex(s->outer, mac, &n) == 1 &&
      n == SHA1_LEN) {
    memcpy(result, mac, (gsize)tag_len);
    st = srtp_err_status_ok;
  }
  explicit_bzero(ih, sizeof ih);
  explicit_bzero(mac, sizeof mac);
  return st;
}

/* RFC 2202 test cases 6 (an 80-byte key: hashed first) and 1 */
static const uint8_t hmac_tc6_key[80] = {
  0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
  0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
  0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
  0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
  0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa
};
static const char hmac_tc6_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
static const uint8_t hmac_tc6_tag[20] = { 0xaa, 0x4a, 0xe5, 0xe1, 0x52, 0x72, 0xd0,
                                          0x0e, 0x95, 0x70, 0x56, 0x37, 0xce, 0x8a,
                                          0x3b, 0x55, 0xed, 0x40, 0x21, 0x12 };
static const srtp_auth_test_case_t hmac_test6 = {
  .key_length_octets = sizeof hmac_tc6_key,
  .key = hmac_tc6_key,
  .data_length_octets = sizeof hmac_tc6_data - 1,
  .data = (const uint8_t *)hmac_tc6_data,
  .tag_length_octets = sizeof hmac_tc6_tag,
  .tag = hmac_tc6_tag,
};
static const uint8_t hmac_tc_key[20] = {
  0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
  0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b
};
static const uint8_t hmac_tc_data[8] = { 'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e' };
static const uint8_t hmac_tc_tag[20] = {
  0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
  0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00
};
static const srtp_auth_test_case_t hmac_test = {
  .key_length_octets = sizeof hmac_tc_key,
  .key = hmac_tc_key,
  .data_length_octets = sizeof hmac_tc_data,
  .data = hmac_tc_data,
  .tag_length_octets = sizeof hmac_tc_tag,
  .tag = hmac_tc_tag,
  .next_test_case = &hmac_test6,
};

static const srtp_auth_type_t hmac_type = {
  .alloc = hmac_alloc,
  .dealloc = hmac_dealloc,
  .init = hmac_init,
  .compute = hmac_compute,
  .update = hmac_update,
  .start = hmac_start,
  .description = "HMAC-SHA1 (OpenSSL)",
  .test_data = &hmac_test,
  .id = SRTP_HMAC_SHA1,
};

/* ------------------------------------------------------------------ installing */

gboolean srtp_crypto_install(GError **error)
{
  if (aes_ctr == NULL)
    aes_ctr = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
  if (aes_gcm == NULL)
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
  if (sha1_md == NULL)
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
  if (aes_ctr == NULL || aes_gcm == NULL || sha1_md == NULL) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                        "OpenSSL offers no AES-128-CTR, AES-128-GCM or SHA-1");
    return FALSE;
  }
  srtp_err_status_t st;
  const char *what;
  if ((st = srtp_replace_cipher_type(&icm_type, SRTP_AES_ICM_128)) != srtp_err_status_ok)
    what = icm_type.description;
  else if ((st = srtp_replace_cipher_type(&gcm_type, SRTP_AES_GCM_128)) != srtp_err_status_ok)
    what = gcm_type.description;
  else if ((st = srtp_replace_auth_type(&hmac_type, SRTP_HMAC_SHA1)) != srtp_err_status_ok)
    what = hmac_type.description;
  else
    return TRUE;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
              "libsrtp2 refused %s (error %d: a self-test failed?)", what, (int)st);
  return FALSE;
}
