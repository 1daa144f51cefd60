/* Ticket Resolve, responder side (RFC 6043 4.2.7-4.2.8, profile 3): RESOLVE_INIT_PSK to the
 * KMS and the RESOLVE_RESP that brings the keys back. The KMS side is kms.c. */
#include "exchange.h"

#include "cipher.h"
#include "kdf.h"

#include <string.h>

GBytes *mikey_resolve_init_build(const MikeyResolveInitParams *p, GError **error)
{
  MikeyMacAlg alg = mikey_suite_mac_alg(p->prf);
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_RESOLVE_INIT_PSK, p->prf, p->csb_id, MIKEY_MAP_EMPTY);
  msg->hdr.v = TRUE;
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, p->t));
  mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_R, p->randrr, p->randrr_len));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, p->idrr));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, p->idrkms));
  MikeyPayload *ticket = mikey_payload_dup(p->ticket, error);
  if (!ticket)
    return NULL;
  mikey_msg_add(msg, ticket);
  gsize id_len;
  const guint8 *id = g_bytes_get_data(p->psk_id, &id_len);
  mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_PSK, MIKEY_ID_BYTES, id, id_len));
  mikey_msg_add(msg, mikey_payload_new_v(alg));
  /* Resolve keys use RANDRr only (mikey-ticket.md trap 8) */
  g_autoptr(MikeySecret) auth =
      mikey_kdf_msg(p->prf, p->psk, MIKEY_C_AUTH, p->csb_id, MIKEY_LABEL_INITIAL, NULL, 0,
                    p->randrr, p->randrr_len, (gsize)mikey_auth_key_len(alg), error);
  if (!auth)
    return NULL;
  MikeyIov ids[2] = { { (const guint8 *)p->idrr, strlen(p->idrr) },
                      { (const guint8 *)p->idrkms, strlen(p->idrkms) } };
  return mikey_msg_sign(msg, auth, ids, 2, error);
}

void mikey_resolved_keys_clear(MikeyResolvedKeys *keys)
{
  g_clear_pointer(&keys->mpki, mikey_secret_free);
  g_clear_pointer(&keys->mpkr, mikey_secret_free);
  g_clear_pointer(&keys->tgk, mikey_secret_free);
  g_clear_pointer(&keys->tgk_spi, g_bytes_unref);
  g_clear_pointer(&keys->idrr, g_bytes_unref);
  g_clear_pointer(&keys->randrkms, g_bytes_unref);
}

/* KEMAC of RESOLVE_RESP: MPKi, [MPKr'], TGK' (or TGK), every key with an SPI. */
static gboolean take_keys(GPtrArray *kds, MikeyResolvedKeys *keys, GError **error)
{
  for (guint i = 0; i < kds->len; i++) {
    MikeyKeyData *kd = g_ptr_array_index(kds, i);
    if (kd->kv != MIKEY_KV_SPI) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "key %u of RESOLVE_RESP carries no SPI", i + 1);
      return FALSE;
    }
    if (kd->type == MIKEY_KEY_MPK && !keys->mpki)
      keys->mpki = mikey_secret_dup(kd->key);
    else if (kd->type == MIKEY_KEY_MPK && !keys->mpkr && !keys->tgk)
      keys->mpkr = mikey_secret_dup(kd->key);
    else if (kd->type == MIKEY_KEY_TGK && keys->mpki && !keys->tgk) {
      keys->tgk = mikey_secret_dup(kd->key);
      keys->tgk_spi = g_bytes_ref(kd->spi);
    } else {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "unexpected key type %u at position %u of RESOLVE_RESP", kd->type, i + 1);
      return FALSE;
    }
  }
  if (!keys->mpki || !keys->tgk) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "RESOLVE_RESP lacks %s",
                keys->mpki ? "a TGK" : "the MPKi");
    return FALSE;
  }
  return TRUE;
}

gboolean mikey_resolve_resp_open(GBytes *resp, GBytes *resolve_init, const MikeySecret *psk,
                                 MikeyResolvedKeys *keys, GError **error)
{
  memset(keys, 0, sizeof *keys);
  g_autoptr(MikeyMsg) init = mikey_msg_parse_bytes(resolve_init, error);
  if (!init)
    return FALSE;
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(resp, error);
  if (!msg)
    return FALSE;
  if (!mikey_reply_check_error(msg, "KMS", error))
    return FALSE;
  if (msg->hdr.data_type != MIKEY_DT_RESOLVE_RESP || msg->hdr.csb_id != init->hdr.csb_id ||
      msg->hdr.prf != init->hdr.prf) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "answer is not a RESOLVE_RESP to this RESOLVE_INIT (type %u, CSB ID %08x)",
                msg->hdr.data_type, msg->hdr.csb_id);
    return FALSE;
  }
  if (!mikey_suite_check(msg, error))
    return FALSE;
  MikeyPayload *t = mikey_msg_find(msg, MIKEY_PT_T, 0, 0);
  MikeyPayload *kemac = mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0);
  MikeyPayload *idrr = mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0);
  MikeyPayload *randrkms = mikey_msg_find(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_KMS, 0);
  MikeyPayload *randrr = mikey_msg_find(init, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_R, 0);
  if (!t || !kemac || !idrr || !randrr) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "RESOLVE_RESP lacks %s",
                !t       ? "T"
                : !kemac ? "KEMAC"
                : !idrr  ? "IDRr"
                         : "a RANDRr in its RESOLVE_INIT");
    return FALSE;
  }
  MikeyPrf prf = msg->hdr.prf;
  gsize rr_len;
  const guint8 *rr = g_bytes_get_data(randrr->u.rand.data, &rr_len);
  MikeyMsgKeys mk = { 0 };
  gboolean ok =
      mikey_msg_keys_derive(&mk, prf, psk, msg->hdr.csb_id, MIKEY_LABEL_RESPONSE, NULL, 0, rr,
                            rr_len, kemac->u.kemac.encr_alg, mikey_suite_mac_alg(prf), error);
  if (ok) {
    MikeyIov whole = { g_bytes_get_data(resolve_init, NULL), g_bytes_get_size(resolve_init) };
    ok = mikey_msg_verify(msg, mk.auth, &whole, 1, error);
  }
  g_autoptr(MikeySecret) plain = NULL;
  if (ok) {
    gsize n;
    const guint8 *enc = g_bytes_get_data(kemac->u.kemac.encr_data, &n);
    plain = mikey_secret_new(n);
    /* the IV uses the T of the message that carries the KEMAC (profile 4) */
    ok = mikey_aes_cm(mk.encr, mk.salt, msg->hdr.csb_id, mikey_ts_value64(t), enc, plain->data, n,
                      error);
  }
  mikey_msg_keys_clear(&mk);
  if (!ok)
    return FALSE;
  g_autoptr(GPtrArray) kds = mikey_key_data_parse(plain->data, plain->len, error);
  if (!kds || !take_keys(kds, keys, error)) {
    mikey_resolved_keys_clear(keys);
    return FALSE;
  }
  keys->idrr = g_bytes_ref(idrr->u.id.data);
  keys->randrkms = randrkms ? g_bytes_ref(randrkms->u.rand.data) : NULL;
  return TRUE;
}
