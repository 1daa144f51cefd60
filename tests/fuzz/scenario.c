/* Scenario A helpers for the fuzz harnesses (scenario.h). */
#include "scenario.h"

#include "kdf.h"

#include <stdlib.h>
#include <string.h>

GBytes *fz_hex_bytes(const char *hex)
{
  gsize n = strlen(hex) / 2;
  guint8 *b = g_malloc(n ? n : 1);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) << 4 | g_ascii_xdigit_value(hex[2 * i + 1]));
  return g_bytes_new_take(b, n);
}

MikeySecret *fz_hex_secret(const char *hex)
{
  MikeySecret *s = mikey_secret_new_from_hex(hex, NULL);
  if (s == NULL)
    abort(); /* a constant of this file is wrong */
  return s;
}

const guint8 *fz_bytes_data(GBytes *b, gsize *len)
{
  *len = 0;
  if (b == NULL)
    return (const guint8 *)"";
  const guint8 *d = g_bytes_get_data(b, len);
  return d ? d : (const guint8 *)"";
}

MikeyIov fz_iov_bytes(GBytes *b)
{
  gsize n;
  const guint8 *d = fz_bytes_data(b, &n);
  return (MikeyIov){ d, n };
}

MikeyIov fz_iov_str(const char *s)
{
  return (MikeyIov){ (const guint8 *)s, strlen(s) };
}

/* Recomputes the base-ticket MAC of a TICKET with the TPK, whatever its contents; FALSE when
 * its Ticket Data has no RAND and closing V of its suite to do it with. */
gboolean fz_ticket_resign(MikeyPayload *ticket, const MikeySecret *tpk)
{
  MikeyTicketBody *t = &ticket->u.ticket;
  if (t->prf != MIKEY_PRF_HMAC_SHA1 && t->prf != MIKEY_PRF_HMAC_SHA256)
    return FALSE;
  MikeyMacAlg alg = mikey_suite_mac_alg(t->prf);
  gsize mac_len = (gsize)mikey_mac_len(alg);
  gsize len;
  const guint8 *d = fz_bytes_data(t->ticket_data, &len);
  g_autoptr(GPtrArray) chain = mikey_chain_parse(d, len, FALSE, MIKEY_PT_THDR, 0, NULL);
  if (chain == NULL || chain->len == 0)
    return FALSE;
  MikeyPayload *rand = mikey_chain_find(chain, MIKEY_PT_RAND, 0, 0);
  MikeyPayload *v = g_ptr_array_index(chain, chain->len - 1);
  if (rand == NULL || v->type != MIKEY_PT_V || v->u.v.alg != alg || len < mac_len)
    return FALSE;
  gsize rand_len;
  const guint8 *rand_data = fz_bytes_data(rand->u.rand.data, &rand_len);
  g_autoptr(MikeySecret) key =
      mikey_kdf_ticket(t->prf, tpk, MIKEY_C_AUTH, MIKEY_LABEL_TPK, rand_data, rand_len,
                       (gsize)mikey_auth_key_len(alg), NULL);
  g_autoptr(GBytes) alone = mikey_payload_encode(ticket, NULL);
  guint8 mac[64];
  if (key == NULL || alone == NULL ||
      !mikey_ticket_mac(alg, key, alone, g_bytes_get_size(t->initiator_data), mac_len, mac, NULL))
    return FALSE;
  guint8 *patched = g_memdup2(d, len);
  memcpy(patched + len - mac_len, mac, mac_len);
  g_bytes_unref(t->ticket_data);
  t->ticket_data = g_bytes_new_take(patched, len);
  return TRUE;
}

/* The V of a REQUEST_INIT_PSK / RESOLVE_INIT_PSK, signed again with the requester's PSK (and
 * the ticket's MAC with the TPK): what alice or the focus could send. NULL if it cannot be. */
GBytes *fz_kms_request_resign(MikeyKmsRequest *req, const MikeySecret *psk, const char *fallback,
                              const MikeySecret *tpk)
{
  MikeyMsg *msg = req->msg;
  gboolean request = msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK;
  if (!request && req->tp->type == MIKEY_PT_TICKET)
    fz_ticket_resign(req->tp, tpk);
  MikeyPrf prf = msg->hdr.prf;
  gsize rand_len;
  const guint8 *rand = fz_bytes_data(req->rand, &rand_len);
  g_autoptr(MikeySecret) auth = mikey_kdf_msg(
      prf, psk, MIKEY_C_AUTH, msg->hdr.csb_id, MIKEY_LABEL_INITIAL, request ? rand : NULL,
      request ? rand_len : 0, request ? NULL : rand, request ? 0 : rand_len,
      (gsize)mikey_auth_key_len(mikey_suite_mac_alg(prf)), NULL);
  if (auth == NULL)
    return NULL;
  MikeyIov ids[2] = { req->id ? fz_iov_bytes(req->id) : fz_iov_str(fallback),
                      req->id_kms ? fz_iov_bytes(req->id_kms) : fz_iov_str(KMS) };
  return mikey_msg_sign(msg, auth, ids, 2, NULL);
}
