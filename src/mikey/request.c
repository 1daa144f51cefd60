/* Ticket Request, initiator side (RFC 6043 4.2.1-4.2.4, profile.md §3, §5): REQUEST_INIT_PSK
 * and the REQUEST_RESP that brings the ticket and its keys. The KMS side is kms.c. */
#include "exchange.h"

#include "kdf.h"
#include "policy.h"

#include <stdarg.h>
#include <string.h>

GBytes *mikey_request_init_build(const MikeyRequestInitParams *p, GError **error)
{
  g_return_val_if_fail(p != NULL, NULL);
  if (p->prf != MIKEY_PRF_HMAC_SHA1 && p->prf != MIKEY_PRF_HMAC_SHA256) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF, "unknown PRF %u", (guint)p->prf);
    return NULL;
  }
  if (p->psk == NULL || p->policy == NULL || p->idri == NULL || p->idrkms == NULL ||
      p->randri == NULL || p->randri_len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "REQUEST_INIT needs a PSK, a policy, IDRi, IDRkms and RANDRi");
    return NULL;
  }
  if (p->policy->prf != p->prf) {
    /* profile 4: one suite per message */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF,
                "requested ticket PRF %u differs from the message PRF %u", (guint)p->policy->prf,
                (guint)p->prf);
    return NULL;
  }
  MikeyMacAlg alg = mikey_suite_mac_alg(p->prf);
  /* HDR (V = 1, #CS 0, Empty map), T, RANDRi, IDRi, IDRkms, TP, IDRpsk, V */
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_REQUEST_INIT_PSK, p->prf, p->csb_id, MIKEY_MAP_EMPTY);
  msg->hdr.v = TRUE;
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, p->t));
  mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_I, p->randri, p->randri_len));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_I, p->idri));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, p->idrkms));
  MikeyPayload *tp = mikey_policy_spec_to_payload(p->policy, MIKEY_PT_TP, error);
  if (tp == NULL)
    return NULL;
  mikey_msg_add(msg, tp);
  if (p->psk_id) {
    gsize len;
    const guint8 *id = g_bytes_get_data(p->psk_id, &len);
    mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_PSK, MIKEY_ID_BYTES, id, len));
  }
  mikey_msg_add(msg, mikey_payload_new_v(alg));
  /* Request keys use RANDRi only (mikey-ticket.md trap 8). */
  g_autoptr(MikeySecret) auth =
      mikey_kdf_msg(p->prf, p->psk, MIKEY_C_AUTH, p->csb_id, MIKEY_LABEL_INITIAL, p->randri,
                    p->randri_len, NULL, 0, (gsize)mikey_auth_key_len(alg), error);
  if (auth == NULL)
    return NULL;
  /* V over REQUEST_INIT || Identity_i || Identity_kms (RFC 6043 5.5) */
  MikeyIov ids[2] = { { (const guint8 *)p->idri, strlen(p->idri) },
                      { (const guint8 *)p->idrkms, strlen(p->idrkms) } };
  return mikey_msg_sign(msg, auth, ids, 2, error);
}

void mikey_ticket_grant_clear(MikeyTicketGrant *grant)
{
  if (grant == NULL)
    return;
  g_clear_pointer(&grant->ticket, mikey_payload_free);
  g_clear_pointer(&grant->mpki, mikey_secret_free);
  g_clear_pointer(&grant->mpkr, mikey_secret_free);
  g_clear_pointer(&grant->tgk, mikey_secret_free);
  g_clear_pointer(&grant->tgk_spi, g_bytes_unref);
  memset(grant, 0, sizeof(*grant));
}

G_GNUC_PRINTF(2, 3)
static gboolean resp_fail(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "REQUEST_RESP: %s", reason);
  return FALSE;
}

/* KEMAC of REQUEST_RESP: MPKi, [MPKr] (iff the ticket forks), TGK; each a suite-long key with
 * an SPI (profile 5). */
static gboolean take_keys(GPtrArray *kds, MikeyPrf prf, gboolean forking, MikeyTicketGrant *grant,
                          GError **error)
{
  gsize key_len = mikey_suite_key_len(prf);
  guint want = forking ? 3 : 2;
  if (kds->len != want)
    return resp_fail(error, "KEMAC holds %u keys, expected %u (MPKi, %sTGK)", kds->len, want,
                     forking ? "MPKr, " : "");
  for (guint i = 0; i < kds->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(kds, i);
    MikeyKeyType type = i + 1 == kds->len ? MIKEY_KEY_TGK : MIKEY_KEY_MPK;
    if (kd->type != type || kd->kv != MIKEY_KV_SPI || kd->spi == NULL || kd->key->len != key_len)
      return resp_fail(error,
                       "key %u of the KEMAC is not a %" G_GSIZE_FORMAT "-byte %s with an SPI",
                       i + 1, key_len, type == MIKEY_KEY_TGK ? "TGK" : "MPK");
  }
  const MikeyKeyData *mpki = g_ptr_array_index(kds, 0);
  const MikeyKeyData *tgk = g_ptr_array_index(kds, kds->len - 1);
  grant->mpki = mikey_secret_dup(mpki->key);
  if (forking)
    grant->mpkr = mikey_secret_dup(((const MikeyKeyData *)g_ptr_array_index(kds, 1))->key);
  grant->tgk = mikey_secret_dup(tgk->key);
  grant->tgk_spi = g_bytes_ref(tgk->spi);
  return TRUE;
}

gboolean mikey_request_resp_open(GBytes *resp, GBytes *request_init, const MikeySecret *psk,
                                 MikeyTicketGrant *grant, GError **error)
{
  g_return_val_if_fail(resp != NULL && request_init != NULL && grant != NULL, FALSE);
  memset(grant, 0, sizeof(*grant));
  g_autoptr(MikeyMsg) init = mikey_msg_parse_bytes(request_init, error);
  if (init == NULL)
    return FALSE;
  MikeyPayload *randri = mikey_msg_find(init, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I, 0);
  if (init->hdr.data_type != MIKEY_DT_REQUEST_INIT_PSK || randri == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "the request is not a REQUEST_INIT_PSK with a RANDRi");
    return FALSE;
  }
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(resp, error);
  if (msg == NULL)
    return FALSE;
  if (msg->hdr.data_type == MIKEY_DT_ERROR && msg->hdr.csb_id != init->hdr.csb_id)
    return resp_fail(error, "Error for another request (CSB ID %08x)", msg->hdr.csb_id);
  /* An Error body: its ERR number becomes the GError code ("KMS refused: ..."). */
  if (!mikey_reply_check_error(msg, "KMS", error))
    return FALSE;
  if (msg->hdr.data_type != MIKEY_DT_REQUEST_RESP) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_DT,
                "answer of data type %u is not a REQUEST_RESP", msg->hdr.data_type);
    return FALSE;
  }
  if (msg->hdr.csb_id != init->hdr.csb_id || msg->hdr.prf != init->hdr.prf)
    return resp_fail(error, "CSB ID %08x / PRF %u do not answer the request (%08x / %u)",
                     msg->hdr.csb_id, msg->hdr.prf, init->hdr.csb_id, init->hdr.prf);
  if (!mikey_suite_check(msg, error))
    return FALSE;
  MikeyPrf prf = msg->hdr.prf;
  MikeyPayload *t = mikey_msg_find(msg, MIKEY_PT_T, 0, 0);
  MikeyPayload *ticket = mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0);
  MikeyPayload *kemac = mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0);
  MikeyPayload *v = mikey_msg_find(msg, MIKEY_PT_V, 0, 0);
  if (!t || !ticket || !kemac || !v)
    return resp_fail(error, "lacks its %s payload",
                     !t        ? "T"
                     : !ticket ? "TICKET"
                     : !kemac  ? "KEMAC"
                               : "V");
  if (mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 1) || mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 1))
    return resp_fail(error, "more than one TICKET or KEMAC");

  /* V over REQUEST_RESP || the whole REQUEST_INIT, response keys with RANDRi only. */
  gsize ri_len;
  const guint8 *ri = g_bytes_get_data(randri->u.rand.data, &ri_len);
  MikeyMsgKeys mk = { 0 };
  if (!mikey_msg_keys_derive(&mk, prf, psk, msg->hdr.csb_id, MIKEY_LABEL_RESPONSE, ri, ri_len, NULL,
                             0, mikey_suite_encr_alg(prf), mikey_suite_mac_alg(prf), error))
    return FALSE;
  gboolean ok = FALSE;
  g_autoptr(MikeySecret) plain = NULL;
  g_autoptr(GPtrArray) kds = NULL;
  MikeyIov whole = { g_bytes_get_data(request_init, NULL), g_bytes_get_size(request_init) };
  if (!mikey_msg_verify(msg, mk.auth, &whole, 1, error))
    goto out;
  gsize n;
  const guint8 *enc = g_bytes_get_data(kemac->u.kemac.encr_data, &n);
  plain = mikey_secret_new(n);
  /* the IV uses the T of the REQUEST_RESP (profile 4) */
  if (!mikey_aes_cm(mk.encr, mk.salt, msg->hdr.csb_id, mikey_ts_value64(t), enc, plain->data, n,
                    error))
    goto out;
  kds = mikey_key_data_parse(plain->data, plain->len, error);
  if (kds == NULL)
    goto out;
  /* The granted policy must be one this side can use. */
  if (!mikey_policy_check_type(&ticket->u.ticket, error) ||
      !mikey_policy_check_flags(ticket->u.ticket.flags, TRUE, error))
    goto out;
  if (!take_keys(kds, prf, (ticket->u.ticket.flags & MIKEY_TP_I) != 0, grant, error))
    goto out;
  grant->t = mikey_ts_value64(t);
  guint pos = 0;
  g_ptr_array_find(msg->payloads, ticket, &pos);
  grant->ticket = g_ptr_array_steal_index(msg->payloads, pos);
  ok = TRUE;

out:
  mikey_msg_keys_clear(&mk);
  if (!ok)
    mikey_ticket_grant_clear(grant);
  return ok;
}
