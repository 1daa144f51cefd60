/* The KMS side of Ticket Request and Ticket Resolve (RFC 6043 4.2.2-4.2.4, 4.2.7-4.2.8,
 * profile.md §3, §5): REQUEST_INIT_PSK / RESOLVE_INIT_PSK checks, REQUEST_RESP and RESOLVE_RESP
 * (with key forking) and the Error messages of the refusal table. */
#include "exchange.h"

#include "kdf.h"

#include <string.h>

#define MIKEY_MIN_RAND_LEN 16

static gboolean is_request(const MikeyKmsRequest *req)
{
  return req->msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK;
}

/* The single payload of a type/role, or NULL when absent; FALSE (ERR 12) when repeated. */
static gboolean find_one(const MikeyMsg *msg, MikeyPayloadType type, guint8 role, const char *name,
                         MikeyPayload **out, GError **error)
{
  *out = mikey_msg_find(msg, type, role, 0);
  if (*out && mikey_msg_find(msg, type, role, 1)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "more than one %s payload", name);
    return FALSE;
  }
  return TRUE;
}

static gboolean require(const MikeyPayload *p, const char *msg_name, const char *name,
                        GError **error)
{
  if (p == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "%s lacks its %s payload", msg_name,
                name);
    return FALSE;
  }
  return TRUE;
}

gboolean mikey_kms_request_parse(GBytes *body, MikeyKmsRequest *req, GError **error)
{
  g_return_val_if_fail(body != NULL && req != NULL, FALSE);
  memset(req, 0, sizeof(*req));
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(body, error);
  if (msg == NULL)
    return FALSE; /* ERR 11 (data type) or 12 (malformed), from the parser */
  guint dt = msg->hdr.data_type;
  if (dt != MIKEY_DT_REQUEST_INIT_PSK && dt != MIKEY_DT_RESOLVE_INIT_PSK) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_DT,
                "data type %u: the KMS takes REQUEST_INIT_PSK (11) and RESOLVE_INIT_PSK (16) only",
                dt);
    return FALSE;
  }
  gboolean request = dt == MIKEY_DT_REQUEST_INIT_PSK;
  const char *name = request ? "REQUEST_INIT_PSK" : "RESOLVE_INIT_PSK";
  guint8 rand_role = request ? MIKEY_RAND_ROLE_I : MIKEY_RAND_ROLE_R;
  guint8 id_role = request ? MIKEY_ID_ROLE_I : MIKEY_ID_ROLE_R;
  MikeyPayloadType tp_type = request ? MIKEY_PT_TP : MIKEY_PT_TICKET;

  MikeyPayload *t, *rand, *id, *id_kms, *psk_id, *tp, *v;
  if (!find_one(msg, MIKEY_PT_T, 0, "T", &t, error) ||
      !find_one(msg, MIKEY_PT_RANDR, rand_role, request ? "RANDRi" : "RANDRr", &rand, error) ||
      !find_one(msg, MIKEY_PT_IDR, id_role, request ? "IDRi" : "IDRr", &id, error) ||
      !find_one(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, "IDRkms", &id_kms, error) ||
      !find_one(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_PSK, "IDRpsk", &psk_id, error) ||
      !find_one(msg, tp_type, 0, request ? "TP" : "TICKET", &tp, error) ||
      !find_one(msg, MIKEY_PT_V, 0, "V", &v, error))
    return FALSE;
  if (!require(t, name, "T", error) || !require(rand, name, request ? "RANDRi" : "RANDRr", error) ||
      !require(tp, name, request ? "TP" : "TICKET", error) || !require(v, name, "V", error))
    return FALSE;
  if (v != g_ptr_array_index(msg->payloads, msg->payloads->len - 1)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "%s: V is not the last payload", name);
    return FALSE;
  }
  if (g_bytes_get_size(rand->u.rand.data) < MIKEY_MIN_RAND_LEN) {
    /* the only RAND of the exchange's labels: it must carry at least 128 bits (RFC 3830 6.11,
     * RFC 6043 12.1) */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "%s: %s of %" G_GSIZE_FORMAT " bytes (at least %d)", name,
                request ? "RANDRi" : "RANDRr", g_bytes_get_size(rand->u.rand.data),
                MIKEY_MIN_RAND_LEN);
    return FALSE;
  }
  if (t->u.t.ts_type == MIKEY_TS_COUNTER) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TS,
                "%s: COUNTER timestamps are refused (profile 4)", name);
    return FALSE;
  }
  if (!mikey_suite_check(msg, error))
    return FALSE; /* ERR 2 / 3 / 4 */

  req->t = mikey_ts_value64(t);
  req->rand = rand->u.rand.data;
  req->psk_id = psk_id ? psk_id->u.id.data : NULL;
  req->id = id ? id->u.id.data : NULL;
  req->id_kms = id_kms ? id_kms->u.id.data : NULL;
  req->tp = tp;
  req->msg = g_steal_pointer(&msg);
  return TRUE;
}

static MikeyIov identity_iov(GBytes *wire, const char *fallback)
{
  if (wire)
    return (MikeyIov){ g_bytes_get_data(wire, NULL), g_bytes_get_size(wire) };
  return (MikeyIov){ (const guint8 *)fallback, fallback ? strlen(fallback) : 0 };
}

gboolean mikey_kms_request_verify(MikeyKmsRequest *req, const MikeySecret *psk,
                                  const char *fallback_identity, const char *kms_identity,
                                  GError **error)
{
  g_return_val_if_fail(req != NULL && req->msg != NULL, FALSE);
  mikey_msg_keys_clear(&req->keys);
  if (psk == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID, "no PSK for the requester");
    return FALSE;
  }
  if ((req->id == NULL && fallback_identity == NULL) ||
      (req->id_kms == NULL && kms_identity == NULL)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID,
                "the MAC covers %s, which is neither in the message nor known otherwise",
                req->id == NULL ? "the requester's identity" : "the KMS identity");
    return FALSE;
  }
  MikeyPrf prf = req->msg->hdr.prf;
  gsize rand_len;
  const guint8 *rand = g_bytes_get_data(req->rand, &rand_len);
  /* Request keys use RANDRi only, Resolve keys RANDRr only (mikey-ticket.md trap 8). */
  gboolean request = is_request(req);
  if (!mikey_msg_keys_derive(&req->keys, prf, psk, req->msg->hdr.csb_id, MIKEY_LABEL_INITIAL,
                             request ? rand : NULL, request ? rand_len : 0, request ? NULL : rand,
                             request ? 0 : rand_len, mikey_suite_encr_alg(prf),
                             mikey_suite_mac_alg(prf), error))
    return FALSE;
  MikeyIov ids[2] = { identity_iov(req->id, fallback_identity),
                      identity_iov(req->id_kms, kms_identity) };
  if (!mikey_msg_verify(req->msg, req->keys.auth, ids, 2, error)) {
    /* Keys of a message that did not verify must not key an Error (profile 3). */
    mikey_msg_keys_clear(&req->keys);
    return FALSE;
  }
  return TRUE;
}

void mikey_kms_request_clear(MikeyKmsRequest *req)
{
  if (req == NULL)
    return;
  mikey_msg_keys_clear(&req->keys);
  g_clear_pointer(&req->msg, mikey_msg_free);
  memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------------ responses */

/* A KMS response: HDR (data type, PRF and CSB ID of the request, V = 0, Empty map) and T. */
static MikeyMsg *response_new(const MikeyKmsRequest *req, MikeyDataType type, guint64 t)
{
  MikeyMsg *msg = mikey_msg_new(type, req->msg->hdr.prf, req->msg->hdr.csb_id, MIKEY_MAP_EMPTY);
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, t));
  return msg;
}

/* Response-direction keys of the exchange (label 0x02) with the request's RAND. */
static gboolean response_keys(const MikeyKmsRequest *req, const MikeySecret *psk,
                              MikeyMsgKeys *keys, GError **error)
{
  MikeyPrf prf = req->msg->hdr.prf;
  gsize rand_len;
  const guint8 *rand = g_bytes_get_data(req->rand, &rand_len);
  gboolean request = is_request(req);
  return mikey_msg_keys_derive(keys, prf, psk, req->msg->hdr.csb_id, MIKEY_LABEL_RESPONSE,
                               request ? rand : NULL, request ? rand_len : 0, request ? NULL : rand,
                               request ? 0 : rand_len, mikey_suite_encr_alg(prf),
                               mikey_suite_mac_alg(prf), error);
}

/* KEMAC(E(encr_key: keys)) with the IV of the message's own T (profile 4), NULL MAC (the V
 * protects it). Derives the response-direction keys into *mk. */
static MikeyPayload *response_kemac(const MikeyKmsRequest *req, const MikeySecret *psk, guint64 t,
                                    GPtrArray *key_list, MikeyMsgKeys *mk, GError **error)
{
  if (key_list == NULL || key_list->len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "no keys for the KEMAC");
    return NULL;
  }
  if (!response_keys(req, psk, mk, error))
    return NULL;
  g_autoptr(MikeySecret) plain = mikey_key_data_encode(key_list, error);
  if (plain == NULL)
    return NULL;
  guint8 *enc = g_malloc(MAX(plain->len, 1));
  if (!mikey_aes_cm(mk->encr, mk->salt, req->msg->hdr.csb_id, t, plain->data, enc, plain->len,
                    error)) {
    g_free(enc);
    return NULL;
  }
  g_autoptr(GBytes) data = g_bytes_new_take(enc, plain->len);
  return mikey_payload_new_kemac(mikey_suite_encr_alg(req->msg->hdr.prf), data, MIKEY_MAC_NULL);
}

/* Closes a response with its V over RESP || the whole INIT (RFC 6043 5.5). */
static GBytes *response_sign(const MikeyKmsRequest *req, MikeyMsg *msg, const MikeyMsgKeys *mk,
                             GError **error)
{
  mikey_msg_add(msg, mikey_payload_new_v(mikey_suite_mac_alg(req->msg->hdr.prf)));
  MikeyIov init = { g_bytes_get_data(req->msg->raw, NULL), g_bytes_get_size(req->msg->raw) };
  return mikey_msg_sign(msg, mk->auth, &init, 1, error);
}

GBytes *mikey_request_resp_build(const MikeyKmsRequest *req, const MikeySecret *psk, guint64 t,
                                 const char *idrkms, const MikeyPayload *ticket, GPtrArray *keys,
                                 GError **error)
{
  g_return_val_if_fail(req != NULL && req->msg != NULL && ticket != NULL, NULL);
  if (!is_request(req) || ticket->type != MIKEY_PT_TICKET) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "REQUEST_RESP answers a REQUEST_INIT_PSK and carries a TICKET");
    return NULL;
  }
  /* HDR, T, IDRkms, TICKET, KEMAC(MPKi, [MPKr], TGK), V */
  g_autoptr(MikeyMsg) msg = response_new(req, MIKEY_DT_REQUEST_RESP, t);
  if (idrkms)
    mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, idrkms));
  MikeyPayload *copy = mikey_payload_dup(ticket, error);
  if (copy == NULL)
    return NULL;
  mikey_msg_add(msg, copy);
  MikeyMsgKeys mk = { 0 };
  GBytes *out = NULL;
  MikeyPayload *kemac = response_kemac(req, psk, t, keys, &mk, error);
  if (kemac != NULL) {
    mikey_msg_add(msg, kemac);
    out = response_sign(req, msg, &mk, error);
  }
  mikey_msg_keys_clear(&mk);
  return out;
}

GBytes *mikey_resolve_resp_build(const MikeyKmsRequest *req, const MikeySecret *psk, guint64 t,
                                 const char *idrkms, GPtrArray *keys, GBytes *idrr,
                                 GBytes *randrkms, GError **error)
{
  g_return_val_if_fail(req != NULL && req->msg != NULL, NULL);
  if (is_request(req)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "RESOLVE_RESP answers a RESOLVE_INIT_PSK");
    return NULL;
  }
  /* HDR, T, IDRkms, KEMAC(MPKi, [MPKr'], TGK'), IDRr, [RANDRkms], V */
  g_autoptr(MikeyMsg) msg = response_new(req, MIKEY_DT_RESOLVE_RESP, t);
  if (idrkms)
    mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, idrkms));
  MikeyMsgKeys mk = { 0 };
  GBytes *out = NULL;
  MikeyPayload *kemac = response_kemac(req, psk, t, keys, &mk, error);
  if (kemac != NULL) {
    mikey_msg_add(msg, kemac);
    if (idrr) {
      gsize len;
      const guint8 *d = g_bytes_get_data(idrr, &len);
      mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_R, MIKEY_ID_URI, d, len));
    }
    if (randrkms) {
      gsize len;
      const guint8 *d = g_bytes_get_data(randrkms, &len);
      mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_KMS, d, len));
    }
    out = response_sign(req, msg, &mk, error);
  }
  mikey_msg_keys_clear(&mk);
  return out;
}

/* One key of the RESOLVE_RESP KEMAC, with the SPI of the ticket key it comes from (profile 5). */
static void add_key(GPtrArray *list, MikeyKeyType type, const MikeySecret *key,
                    const MikeyKeyData *from)
{
  gsize spi_len = 0;
  const guint8 *spi = from->spi ? g_bytes_get_data(from->spi, &spi_len) : NULL;
  MikeyKeyData *kd = mikey_key_data_new(type, key, spi, spi_len);
  if (from->salt)
    kd->salt = mikey_secret_dup(from->salt);
  g_ptr_array_add(list, kd);
}

static gboolean is_tgk(MikeyKeyType type)
{
  return type == MIKEY_KEY_TGK || type == MIKEY_KEY_TGK_SALT;
}

GBytes *mikey_kms_resolve_respond(const MikeyKmsRequest *req, const MikeySecret *psk,
                                  const MikeyOpenedTicket *ticket, GBytes *idrr,
                                  const guint8 *randrkms, gsize randrkms_len, guint64 t,
                                  const char *idrkms, GError **error)
{
  g_return_val_if_fail(req != NULL && req->msg != NULL && ticket != NULL, NULL);
  if (is_request(req) || req->tp == NULL || req->tp->type != MIKEY_PT_TICKET) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "not a parsed RESOLVE_INIT_PSK");
    return NULL;
  }
  const MikeyTicketBody *body = &req->tp->u.ticket;
  const MikeyKeyData *mpk =
      ticket->keys && ticket->keys->len ? g_ptr_array_index(ticket->keys, 0) : NULL;
  if (mpk == NULL || mpk->type != MIKEY_KEY_MPK || ticket->rand == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "opened ticket has no MPK");
    return NULL;
  }
  gboolean forking = (body->flags & MIKEY_TP_I) != 0;
  gsize init_len = g_bytes_get_size(body->initiator_data);
  if (!forking && init_len > 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET,
                "ticket carries Initiator Data but does not fork keys (I = 0)");
    return NULL;
  }
  if (forking &&
      (idrr == NULL || g_bytes_get_size(idrr) == 0 || randrkms == NULL || randrkms_len == 0)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "key forking needs the IDRr bytes and a RANDRkms");
    return NULL;
  }

  /* MPK derivations and forking use the ticket's PRF (mikey-ticket.md trap 9). */
  MikeyPrf prf = body->prf;
  g_autoptr(MikeySecret) mpki =
      mikey_ticket_derive_mpk(prf, mpk->key, MIKEY_C_MPKI, ticket->rand, error);
  if (mpki == NULL)
    return NULL;
  g_autoptr(GPtrArray) keys = mikey_key_data_list_new();
  add_key(keys, MIKEY_KEY_MPK, mpki, mpk);

  gsize id_len = 0;
  const guint8 *id = idrr ? g_bytes_get_data(idrr, &id_len) : NULL;
  if (forking) {
    g_autoptr(MikeySecret) mpkr =
        mikey_ticket_derive_mpk(prf, mpk->key, MIKEY_C_MPKR, ticket->rand, error);
    if (mpkr == NULL)
      return NULL;
    /* Vr with the unforked MPKr: ERR 14 when absent or malformed, ERR 0 when wrong. */
    if (!mikey_initiator_data_verify(prf, body->initiator_data, mpkr, NULL, error))
      return NULL;
    g_autoptr(MikeySecret) mpkr_f =
        mikey_kdf_fork(prf, mpkr, MIKEY_C_FORK_MPKR, id, id_len, randrkms, randrkms_len, error);
    if (mpkr_f == NULL)
      return NULL;
    add_key(keys, MIKEY_KEY_MPK, mpkr_f, mpk);
  }
  /* The other keys in ticket order: TGKs forked when I = 1, everything else as it is
   * (TEKs and GTGKs are never forked). */
  for (guint i = 1; i < ticket->keys->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(ticket->keys, i);
    if (kd->type == MIKEY_KEY_MPK) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "ticket holds a second MPK");
      return NULL;
    }
    if (forking && is_tgk(kd->type)) {
      g_autoptr(MikeySecret) tgk_f =
          mikey_kdf_fork(prf, kd->key, MIKEY_C_FORK_TGK, id, id_len, randrkms, randrkms_len, error);
      if (tgk_f == NULL)
        return NULL;
      add_key(keys, kd->type, tgk_f, kd);
    } else {
      add_key(keys, kd->type, kd->key, kd);
    }
  }
  g_autoptr(GBytes) rkms = forking ? g_bytes_new(randrkms, randrkms_len) : NULL;
  return mikey_resolve_resp_build(req, psk, t, idrkms, keys, idrr, rkms, error);
}

/* ------------------------------------------------------------------ errors */

GBytes *mikey_error_build(const MikeyHdr *failing, guint64 t, MikeyErrNo err_no,
                          const MikeySecret *auth_key, MikeyMacAlg alg, GError **error)
{
  g_return_val_if_fail(failing != NULL, NULL);
  if (failing->data_type == MIKEY_DT_ERROR) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "never an Error in answer to an Error (RFC 3830 5.1.2)");
    return NULL;
  }
  if ((guint)err_no > 0xff) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "ERR number %u", (guint)err_no);
    return NULL;
  }
  /* HDR: version, PRF and CSB ID of the failing message, V = 0, #CS 0, Empty map; T, ERR, [V] */
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_ERROR, failing->prf, failing->csb_id, MIKEY_MAP_EMPTY);
  msg->hdr.version = failing->version ? failing->version : MIKEY_VERSION;
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, t));
  mikey_msg_add(msg, mikey_payload_new_err(err_no));
  if (auth_key == NULL)
    return mikey_msg_encode(msg, error);
  if (mikey_mac_len(alg) <= 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC,
                "an authenticated Error needs a MAC algorithm, not %d", (int)alg);
    return NULL;
  }
  mikey_msg_add(msg, mikey_payload_new_v(alg));
  return mikey_msg_sign(msg, auth_key, NULL, 0, error);
}
