/* Every MIKEY key derivation: one function per label format (mikey-ticket.md 1.7, 2.6), all on
 * top of mikey_prf(). Labels hold only public values (constants, IDs, RANDs), so they are not
 * wiped; the derived keys live in MikeySecrets. */
#include "kdf.h"

#include "error.h"
#include "prf.h"

#include <string.h>

/* Big enough for every label of the profile (the longest, a fork label, is about 100 bytes with
 * a URI); longer IDs fall back to the heap. */
#define LABEL_STACK_LEN 256

typedef struct {
  guint8 *data;
  gsize len;
  guint8 *heap;
  guint8 stack[LABEL_STACK_LEN];
} KdfLabel;

static void label_init(KdfLabel *l, gsize size)
{
  l->heap = size > sizeof(l->stack) ? g_malloc(size) : NULL;
  l->data = l->heap != NULL ? l->heap : l->stack;
  l->len = 0;
}

static void label_clear(KdfLabel *l)
{
  g_free(l->heap);
  l->heap = NULL;
}

static void label_put_u8(KdfLabel *l, guint8 v)
{
  l->data[l->len++] = v;
}

static void label_put_u16(KdfLabel *l, guint16 v)
{
  label_put_u8(l, (guint8)(v >> 8));
  label_put_u8(l, (guint8)v);
}

static void label_put_u32(KdfLabel *l, guint32 v)
{
  label_put_u8(l, (guint8)(v >> 24));
  label_put_u8(l, (guint8)(v >> 16));
  label_put_u8(l, (guint8)(v >> 8));
  label_put_u8(l, (guint8)v);
}

static void label_put(KdfLabel *l, const guint8 *data, gsize len)
{
  if (len > 0)
    memcpy(l->data + l->len, data, len);
  l->len += len;
}

/* RFC 6043 RANDs enter labels as len(1) || RAND; an absent RAND is a lone 0x00. */
static void label_put_rand(KdfLabel *l, const guint8 *rand, gsize rand_len)
{
  label_put_u8(l, (guint8)rand_len);
  label_put(l, rand, rand_len);
}

static gboolean kdf_check_bytes(const guint8 *data, gsize len, gsize max_len, const char *what,
                                GError **error)
{
  if (data == NULL && len > 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "key derivation: %s is NULL", what);
    return FALSE;
  }
  if (len > max_len) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "key derivation: %s of %" G_GSIZE_FORMAT " bytes does not fit its length field",
                what, len);
    return FALSE;
  }
  return TRUE;
}

static gboolean kdf_check_rand(const guint8 *rand, gsize rand_len, const char *what, GError **error)
{
  return kdf_check_bytes(rand, rand_len, G_MAXUINT8, what, error);
}

/* The common tail of every derivation: a new secret of out_len bytes = PRF(inkey, label). */
static MikeySecret *kdf_derive(MikeyPrf prf, const MikeySecret *inkey, const KdfLabel *l,
                               gsize out_len, GError **error)
{
  if (inkey == NULL || inkey->len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "key derivation from an empty key");
    return NULL;
  }
  if (out_len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "key derivation of an empty key");
    return NULL;
  }
  MikeySecret *out = mikey_secret_new(out_len);
  if (!mikey_prf(prf, inkey->data, inkey->len, l->data, l->len, out->data, out_len, error)) {
    mikey_secret_free(out);
    return NULL;
  }
  return out;
}

MikeySecret *mikey_kdf_3830_tgk(MikeyPrf prf, const MikeySecret *tgk, guint32 constant,
                                guint8 cs_id, guint32 csb_id, const guint8 *rand, gsize rand_len,
                                gsize out_len, GError **error)
{
  /* RFC 3830 labels carry the RAND bare (no length byte), so any length is encodable. */
  if (!kdf_check_bytes(rand, rand_len, G_MAXSIZE - 9, "RAND", error))
    return NULL;
  KdfLabel l;
  label_init(&l, 9 + rand_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, cs_id);
  label_put_u32(&l, csb_id);
  label_put(&l, rand, rand_len);
  MikeySecret *out = kdf_derive(prf, tgk, &l, out_len, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_3830_msg(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                                guint32 csb_id, const guint8 *rand, gsize rand_len, gsize out_len,
                                GError **error)
{
  if (!kdf_check_bytes(rand, rand_len, G_MAXSIZE - 9, "RAND", error))
    return NULL;
  KdfLabel l;
  label_init(&l, 9 + rand_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, 0xFF);
  label_put_u32(&l, csb_id);
  label_put(&l, rand, rand_len);
  MikeySecret *out = kdf_derive(prf, inkey, &l, out_len, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_msg(MikeyPrf prf, const MikeySecret *inkey, guint32 constant, guint32 csb_id,
                           MikeyLabelPurpose dir, const guint8 *randri, gsize randri_len,
                           const guint8 *randrr, gsize randrr_len, gsize out_len, GError **error)
{
  if (dir != MIKEY_LABEL_INITIAL && dir != MIKEY_LABEL_RESPONSE) {
    /* Any other purpose byte would silently derive a key nobody else derives. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "message keys need direction 0x01 or 0x02, not 0x%02x", (unsigned)dir);
    return NULL;
  }
  if (!kdf_check_rand(randri, randri_len, "RANDRi", error) ||
      !kdf_check_rand(randrr, randrr_len, "RANDRr", error))
    return NULL;
  KdfLabel l;
  label_init(&l, 12 + randri_len + randrr_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, 0xFF);
  label_put_u32(&l, csb_id);
  label_put_u8(&l, (guint8)dir);
  label_put_rand(&l, randri, randri_len);
  label_put_rand(&l, randrr, randrr_len);
  MikeySecret *out = kdf_derive(prf, inkey, &l, out_len, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_tek(MikeyPrf prf, const MikeySecret *tgk, guint32 constant, guint8 cs_id,
                           const guint8 *randri, gsize randri_len, const guint8 *randrr,
                           gsize randrr_len, gsize out_len, GError **error)
{
  if (!kdf_check_rand(randri, randri_len, "RANDRi", error) ||
      !kdf_check_rand(randrr, randrr_len, "RANDRr", error))
    return NULL;
  if (randri_len == 0 && randrr_len == 0) {
    /* RFC 6043 5.1.3: at least one RAND (H or G flag) must enter, or every ticket use would
     * yield the same TEKs. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "TEK derivation without RANDRi or RANDRr (neither H nor G)");
    return NULL;
  }
  KdfLabel l;
  label_init(&l, 12 + randri_len + randrr_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, cs_id);
  label_put_u32(&l, MIKEY_CSB_ID_NONE);
  label_put_u8(&l, MIKEY_LABEL_TEK);
  label_put_rand(&l, randri, randri_len);
  label_put_rand(&l, randrr, randrr_len);
  MikeySecret *out = kdf_derive(prf, tgk, &l, out_len, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_fork(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                            const guint8 *id, gsize id_len, const guint8 *randrkms,
                            gsize randrkms_len, GError **error)
{
  if (!kdf_check_bytes(id, id_len, G_MAXUINT16, "IDRr ID data", error) ||
      !kdf_check_rand(randrkms, randrkms_len, "RANDRkms", error))
    return NULL;
  KdfLabel l;
  label_init(&l, 13 + id_len + randrkms_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, 0xFF);
  label_put_u32(&l, MIKEY_CSB_ID_NONE);
  label_put_u8(&l, MIKEY_LABEL_FORK);
  label_put_u16(&l, (guint16)id_len); /* the only 16-bit length in the labels */
  label_put(&l, id, id_len);
  label_put_rand(&l, randrkms, randrkms_len);
  /* A forked key replaces the original one-for-one, so it keeps its length. */
  MikeySecret *out = kdf_derive(prf, inkey, &l, inkey != NULL ? inkey->len : 0, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_vr(MikeyPrf prf, const MikeySecret *mpkr, guint32 constant, gsize out_len,
                          GError **error)
{
  KdfLabel l;
  label_init(&l, 10);
  label_put_u32(&l, constant);
  label_put_u8(&l, 0xFF);
  label_put_u32(&l, MIKEY_CSB_ID_NONE);
  label_put_u8(&l, MIKEY_LABEL_VR);
  MikeySecret *out = kdf_derive(prf, mpkr, &l, out_len, error);
  label_clear(&l);
  return out;
}

MikeySecret *mikey_kdf_ticket(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                              MikeyLabelPurpose purpose, const guint8 *rand, gsize rand_len,
                              gsize out_len, GError **error)
{
  if (purpose != MIKEY_LABEL_TPK && purpose != MIKEY_LABEL_MPK) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "ticket keys need purpose 0x05 or 0x06, not 0x%02x", (unsigned)purpose);
    return NULL;
  }
  if (!kdf_check_rand(rand, rand_len, "ticket RAND", error))
    return NULL;
  KdfLabel l;
  label_init(&l, 11 + rand_len);
  label_put_u32(&l, constant);
  label_put_u8(&l, 0xFF);
  label_put_u32(&l, MIKEY_CSB_ID_NONE);
  label_put_u8(&l, (guint8)purpose);
  label_put_rand(&l, rand, rand_len);
  MikeySecret *out = kdf_derive(prf, inkey, &l, out_len, error);
  label_clear(&l);
  return out;
}

gssize mikey_encr_key_len(MikeyEncrAlg alg)
{
  switch (alg) {
  case MIKEY_ENCR_NULL:
    return 0;
  case MIKEY_ENCR_AES_CM_128:
  case MIKEY_ENCR_AES_KW_128:
    return 16;
  case MIKEY_ENCR_AES_CM_256:
    return 32;
  }
  return -1;
}

gssize mikey_auth_key_len(MikeyMacAlg alg)
{
  switch (alg) {
  case MIKEY_MAC_NULL:
    return 0;
  case MIKEY_MAC_HMAC_SHA1_160:
    return 20;
  case MIKEY_MAC_HMAC_SHA256_256:
    return 32;
  }
  return -1;
}

gssize mikey_mac_len(MikeyMacAlg alg)
{
  /* The MIKEY MACs are untruncated HMACs, so tag length = key length. */
  return mikey_auth_key_len(alg);
}

void mikey_msg_keys_clear(MikeyMsgKeys *keys)
{
  if (keys == NULL)
    return;
  g_clear_pointer(&keys->encr, mikey_secret_free);
  g_clear_pointer(&keys->auth, mikey_secret_free);
  g_clear_pointer(&keys->salt, mikey_secret_free);
}

gboolean mikey_msg_keys_derive(MikeyMsgKeys *keys, MikeyPrf prf, const MikeySecret *inkey,
                               guint32 csb_id, MikeyLabelPurpose dir, const guint8 *randri,
                               gsize randri_len, const guint8 *randrr, gsize randrr_len,
                               MikeyEncrAlg encr_alg, MikeyMacAlg mac_alg, GError **error)
{
  memset(keys, 0, sizeof(*keys));
  gssize encr_len = mikey_encr_key_len(encr_alg);
  if (encr_len < 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA, "unknown encryption algorithm %d",
                (int)encr_alg);
    return FALSE;
  }
  gssize auth_len = mikey_auth_key_len(mac_alg);
  if (auth_len < 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC, "unknown MAC algorithm %d",
                (int)mac_alg);
    return FALSE;
  }
  if (encr_len > 0) {
    keys->encr = mikey_kdf_msg(prf, inkey, MIKEY_C_ENCR, csb_id, dir, randri, randri_len, randrr,
                               randrr_len, (gsize)encr_len, error);
    if (keys->encr == NULL)
      goto fail;
  }
  if (auth_len > 0) {
    keys->auth = mikey_kdf_msg(prf, inkey, MIKEY_C_AUTH, csb_id, dir, randri, randri_len, randrr,
                               randrr_len, (gsize)auth_len, error);
    if (keys->auth == NULL)
      goto fail;
  }
  /* Always 14 bytes: the AES-CM IV takes all of it (AES-KW's 8-byte IV is its prefix, since a
   * shorter PRF output is a prefix of a longer one). */
  keys->salt = mikey_kdf_msg(prf, inkey, MIKEY_C_SALT, csb_id, dir, randri, randri_len, randrr,
                             randrr_len, MIKEY_SALT_KEY_LEN, error);
  if (keys->salt == NULL)
    goto fail;
  return TRUE;

fail:
  mikey_msg_keys_clear(keys);
  return FALSE;
}
