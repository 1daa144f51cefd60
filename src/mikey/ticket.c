/* The MIKEY base ticket (RFC 6043 Appendix A, profile.md §5): sealing and opening Ticket Data
 * with the TPK, MPKi/MPKr, the Initiator Data of key forking (profile §6), and the "same
 * ticket" test and fingerprint of profile §7.3.
 *
 * Ticket Data = THDR, T, RAND, KEMAC(E(TPK keys: MPK, TGK...)), IDRpsk(TPK generation), V.
 * The ticket V covers the TICKET payload without its next-payload byte, the Initiator Data
 * length, the Initiator Data and the MAC field (mac.h mikey_ticket_mac). */
#include "exchange.h"

#include "kdf.h"
#include "policy.h"

#include <stdarg.h>
#include <string.h>

/* Number of payloads of a base ticket's Ticket Data, in this order. */
enum { TD_THDR, TD_T, TD_RAND, TD_KEMAC, TD_IDRPSK, TD_V, TD_COUNT };

/* ------------------------------------------------------------------ errors */

G_GNUC_PRINTF(2, 3)
static gboolean ticket_fail(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "invalid ticket: %s", reason);
  return FALSE;
}

/* Re-labels any failure below as ERR 14, keeping its text. */
static gboolean ticket_fail_from(GError **error, GError *cause, const char *what)
{
  ticket_fail(error, "%s: %s", what, cause ? cause->message : "failed");
  g_clear_error(&cause);
  return FALSE;
}

/* ------------------------------------------------------------------ TPK keys */

typedef struct {
  MikeySecret *encr;
  MikeySecret *auth;
  MikeySecret *salt;
} TicketKeys;

static void ticket_keys_clear(TicketKeys *k)
{
  g_clear_pointer(&k->encr, mikey_secret_free);
  g_clear_pointer(&k->auth, mikey_secret_free);
  g_clear_pointer(&k->salt, mikey_secret_free);
}

/* encr/auth/salt of the base ticket from the TPK (RFC 6043 A.2, label purpose 0x05). */
static gboolean ticket_keys_derive(TicketKeys *k, MikeyPrf prf, const MikeySecret *tpk,
                                   const guint8 *rand, gsize rand_len, GError **error)
{
  memset(k, 0, sizeof(*k));
  gsize encr_len = (gsize)mikey_encr_key_len(mikey_suite_encr_alg(prf));
  gsize auth_len = (gsize)mikey_auth_key_len(mikey_suite_mac_alg(prf));
  k->encr =
      mikey_kdf_ticket(prf, tpk, MIKEY_C_ENCR, MIKEY_LABEL_TPK, rand, rand_len, encr_len, error);
  if (k->encr)
    k->auth =
        mikey_kdf_ticket(prf, tpk, MIKEY_C_AUTH, MIKEY_LABEL_TPK, rand, rand_len, auth_len, error);
  if (k->auth)
    k->salt = mikey_kdf_ticket(prf, tpk, MIKEY_C_SALT, MIKEY_LABEL_TPK, rand, rand_len,
                               MIKEY_SALT_KEY_LEN, error);
  if (k->salt == NULL) {
    ticket_keys_clear(k);
    return FALSE;
  }
  return TRUE;
}

static gboolean prf_known(guint prf)
{
  return prf == MIKEY_PRF_HMAC_SHA1 || prf == MIKEY_PRF_HMAC_SHA256;
}

/* ------------------------------------------------------------------ seal */

gboolean mikey_ticket_seal(MikeyPayload *ticket, const MikeyTicketSeal *seal, GError **error)
{
  g_return_val_if_fail(ticket != NULL && seal != NULL, FALSE);
  if (ticket->type != MIKEY_PT_TICKET)
    return ticket_fail(error, "payload type %u is not a TICKET", (guint)ticket->type);
  MikeyPrf prf = ticket->u.ticket.prf;
  if (!prf_known(prf))
    return ticket_fail(error, "unknown ticket PRF %u", (guint)prf);
  if (seal->tpk == NULL || seal->tpk_id == NULL || seal->keys == NULL || seal->keys->len == 0)
    return ticket_fail(error, "nothing to seal: TPK, TPK generation id and keys are required");
  if (seal->rand == NULL || seal->rand_len == 0 || seal->rand_len > G_MAXUINT8)
    return ticket_fail(error, "ticket RAND of %" G_GSIZE_FORMAT " bytes", seal->rand_len);
  const MikeyKeyData *first = g_ptr_array_index(seal->keys, 0);
  if (first->type != MIKEY_KEY_MPK)
    return ticket_fail(error, "the first key of a ticket must be the MPK, not key type %u",
                       (guint)first->type);
  for (guint i = 0; i < seal->keys->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(seal->keys, i);
    if (kd->kv != MIKEY_KV_SPI || kd->spi == NULL)
      return ticket_fail(error, "key %u carries no SPI (RFC 6043 6.13)", i);
  }

  MikeyEncrAlg encr_alg = mikey_suite_encr_alg(prf);
  MikeyMacAlg mac_alg = mikey_suite_mac_alg(prf);
  gsize mac_len = (gsize)mikey_mac_len(mac_alg);
  TicketKeys k;
  if (!ticket_keys_derive(&k, prf, seal->tpk, seal->rand, seal->rand_len, error))
    return FALSE;

  /* KEMAC: E(encr_key, MPK || TGK...), IV with CSB ID 0xFFFFFFFF and the ticket's T (§4). */
  gboolean ok = FALSE;
  g_autoptr(MikeySecret) plain = mikey_key_data_encode(seal->keys, error);
  g_autoptr(GPtrArray) chain = mikey_chain_new();
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GBytes) alone = NULL;
  g_autoptr(GBytes) encr = NULL;
  g_autoptr(GBytes) old_data = NULL; /* put back if sealing fails half-way */
  guint8 *cipher = NULL;
  guint8 mac[64];
  if (plain == NULL)
    goto out;
  cipher = g_malloc(MAX(plain->len, 1));
  if (!mikey_aes_cm(k.encr, k.salt, MIKEY_CSB_ID_NONE, seal->t, plain->data, cipher, plain->len,
                    error))
    goto out;
  g_ptr_array_add(chain, mikey_payload_new_thdr());
  g_ptr_array_add(chain, mikey_payload_new_t(MIKEY_TS_NTP_UTC, seal->t));
  g_ptr_array_add(chain, mikey_payload_new_rand(seal->rand, seal->rand_len));
  encr = g_bytes_new_take(g_steal_pointer(&cipher), plain->len);
  g_ptr_array_add(chain, mikey_payload_new_kemac(encr_alg, encr, MIKEY_MAC_NULL));
  gsize id_len;
  const guint8 *id = g_bytes_get_data(seal->tpk_id, &id_len);
  g_ptr_array_add(chain, mikey_payload_new_idr(MIKEY_ID_ROLE_PSK, MIKEY_ID_BYTES, id, id_len));
  g_ptr_array_add(chain, mikey_payload_new_v(mac_alg));
  data = mikey_chain_encode(chain, FALSE, error);
  if (data == NULL)
    goto out;

  /* The V MAC closes Ticket Data, so the MAC field is its last mac_len bytes. */
  old_data = g_steal_pointer(&ticket->u.ticket.ticket_data);
  ticket->u.ticket.ticket_data = g_bytes_ref(data);
  if (ticket->u.ticket.initiator_data == NULL)
    ticket->u.ticket.initiator_data = g_bytes_new(NULL, 0);
  alone = mikey_payload_encode(ticket, error);
  if (alone == NULL ||
      !mikey_ticket_mac(mac_alg, k.auth, alone, g_bytes_get_size(ticket->u.ticket.initiator_data),
                        mac_len, mac, error))
    goto out;
  gsize data_len;
  guint8 *sealed = g_bytes_unref_to_data(g_steal_pointer(&data), &data_len);
  memcpy(sealed + data_len - mac_len, mac, mac_len);
  g_bytes_unref(ticket->u.ticket.ticket_data);
  ticket->u.ticket.ticket_data = g_bytes_new_take(sealed, data_len);
  ok = TRUE;

out:
  if (!ok && old_data) {
    g_clear_pointer(&ticket->u.ticket.ticket_data, g_bytes_unref);
    ticket->u.ticket.ticket_data = g_steal_pointer(&old_data);
  }
  g_free(cipher);
  ticket_keys_clear(&k);
  return ok;
}

/* ------------------------------------------------------------------ open */

void mikey_opened_ticket_clear(MikeyOpenedTicket *t)
{
  if (t == NULL)
    return;
  g_clear_pointer(&t->rand, g_bytes_unref);
  g_clear_pointer(&t->tpk_id, g_bytes_unref);
  g_clear_pointer(&t->keys, g_ptr_array_unref);
  memset(t, 0, sizeof(*t));
}

/* Ticket Data parsed and checked for the base-ticket layout; ERR 14 otherwise. */
static GPtrArray *ticket_data_parse(GBytes *ticket_data, MikeyPrf prf, GError **error)
{
  gsize len = 0;
  const guint8 *d = ticket_data ? g_bytes_get_data(ticket_data, &len) : NULL;
  if (len == 0) {
    ticket_fail(error, "no Ticket Data");
    return NULL;
  }
  GError *cause = NULL;
  g_autoptr(GPtrArray) chain = mikey_chain_parse(d, len, FALSE, MIKEY_PT_THDR, 0, &cause);
  if (chain == NULL) {
    ticket_fail_from(error, cause, "malformed Ticket Data");
    return NULL;
  }
  static const MikeyPayloadType layout[TD_COUNT] = { MIKEY_PT_THDR,  MIKEY_PT_T,   MIKEY_PT_RAND,
                                                     MIKEY_PT_KEMAC, MIKEY_PT_IDR, MIKEY_PT_V };
  static const char *const names[TD_COUNT] = { "THDR", "T", "RAND", "KEMAC", "IDRpsk", "V" };
  for (guint i = 0; i < TD_COUNT; i++) {
    const MikeyPayload *p = i < chain->len ? g_ptr_array_index(chain, i) : NULL;
    if (p == NULL || p->type != layout[i]) {
      ticket_fail(error, "Ticket Data lacks its %s (base ticket: THDR, T, RAND, KEMAC, IDRpsk, V)",
                  names[i]);
      return NULL;
    }
  }
  if (chain->len != TD_COUNT) {
    ticket_fail(error, "%u payloads after the V of Ticket Data", chain->len - TD_COUNT);
    return NULL;
  }
  const MikeyPayload *rand = g_ptr_array_index(chain, TD_RAND);
  const MikeyPayload *kemac = g_ptr_array_index(chain, TD_KEMAC);
  const MikeyPayload *idr = g_ptr_array_index(chain, TD_IDRPSK);
  const MikeyPayload *v = g_ptr_array_index(chain, TD_V);
  if (g_bytes_get_size(rand->u.rand.data) < 16) {
    ticket_fail(error, "ticket RAND of %" G_GSIZE_FORMAT " bytes (at least 16)",
                g_bytes_get_size(rand->u.rand.data));
    return NULL;
  }
  if (kemac->u.kemac.encr_alg != mikey_suite_encr_alg(prf) ||
      kemac->u.kemac.mac_alg != MIKEY_MAC_NULL) {
    ticket_fail(error, "ticket KEMAC algorithms %u/%u are not AES-CM of the PRF %u suite / NULL",
                kemac->u.kemac.encr_alg, kemac->u.kemac.mac_alg, (guint)prf);
    return NULL;
  }
  if (idr->u.id.role != MIKEY_ID_ROLE_PSK || g_bytes_get_size(idr->u.id.data) == 0) {
    ticket_fail(error, "Ticket Data names no TPK generation (IDRpsk)");
    return NULL;
  }
  if (v->u.v.alg != mikey_suite_mac_alg(prf)) {
    ticket_fail(error, "ticket V algorithm %u is not the PRF %u suite's", v->u.v.alg, (guint)prf);
    return NULL;
  }
  return g_steal_pointer(&chain);
}

gboolean mikey_ticket_open(const MikeyPayload *ticket, MikeyTpkLookup lookup, gpointer user_data,
                           MikeyOpenedTicket *out, GError **error)
{
  g_return_val_if_fail(ticket != NULL && lookup != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof(*out));
  if (ticket->type != MIKEY_PT_TICKET)
    return ticket_fail(error, "payload type %u is not a TICKET", (guint)ticket->type);
  if (!mikey_policy_check_type(&ticket->u.ticket, error))
    return FALSE; /* ERR 14 */
  MikeyPrf prf = ticket->u.ticket.prf;
  if (!prf_known(prf))
    return ticket_fail(error, "unknown ticket PRF %u", (guint)prf);

  g_autoptr(GPtrArray) chain = ticket_data_parse(ticket->u.ticket.ticket_data, prf, error);
  if (chain == NULL)
    return FALSE;
  const MikeyPayload *t = g_ptr_array_index(chain, TD_T);
  const MikeyPayload *rand = g_ptr_array_index(chain, TD_RAND);
  const MikeyPayload *kemac = g_ptr_array_index(chain, TD_KEMAC);
  const MikeyPayload *idr = g_ptr_array_index(chain, TD_IDRPSK);
  const MikeyPayload *v = g_ptr_array_index(chain, TD_V);

  const MikeySecret *tpk = lookup(idr->u.id.data, user_data);
  if (tpk == NULL)
    return ticket_fail(error, "unknown TPK generation");

  gsize rand_len;
  const guint8 *rand_data = g_bytes_get_data(rand->u.rand.data, &rand_len);
  TicketKeys k;
  GError *cause = NULL;
  if (!ticket_keys_derive(&k, prf, tpk, rand_data, rand_len, &cause))
    return ticket_fail_from(error, cause, "ticket keys");

  gboolean ok = FALSE;
  guint8 mac[64];
  gsize want_len;
  const guint8 *want = g_bytes_get_data(v->u.v.mac, &want_len);
  g_autoptr(GBytes) alone = mikey_payload_encode(ticket, &cause);
  g_autoptr(MikeySecret) plain = NULL;
  g_autoptr(GPtrArray) keys = NULL;
  if (alone == NULL ||
      !mikey_ticket_mac(v->u.v.alg, k.auth, alone,
                        g_bytes_get_size(ticket->u.ticket.initiator_data), want_len, mac, &cause)) {
    ticket_fail_from(error, cause, "ticket MAC");
    goto done;
  }
  if (!mikey_const_equal(mac, (gsize)mikey_mac_len(v->u.v.alg), want, want_len)) {
    ticket_fail(error, "ticket MAC does not verify (tampered, or another TPK)");
    goto done;
  }

  gsize enc_len;
  const guint8 *enc = g_bytes_get_data(kemac->u.kemac.encr_data, &enc_len);
  plain = mikey_secret_new(enc_len);
  if (!mikey_aes_cm(k.encr, k.salt, MIKEY_CSB_ID_NONE, mikey_ts_value64(t), enc, plain->data,
                    enc_len, &cause)) {
    ticket_fail_from(error, cause, "ticket KEMAC");
    goto done;
  }
  keys = mikey_key_data_parse(plain->data, plain->len, &cause);
  if (keys == NULL) {
    ticket_fail_from(error, cause, "ticket KEMAC key data");
    goto done;
  }
  const MikeyKeyData *mpk = keys->len ? g_ptr_array_index(keys, 0) : NULL;
  if (mpk == NULL || mpk->type != MIKEY_KEY_MPK || mpk->key->len != mikey_suite_key_len(prf)) {
    ticket_fail(error, "ticket KEMAC does not start with a %" G_GSIZE_FORMAT "-byte MPK",
                mikey_suite_key_len(prf));
    goto done;
  }
  for (guint i = 0; i < keys->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(keys, i);
    if (kd->kv != MIKEY_KV_SPI || kd->spi == NULL || kd->key->len == 0) {
      ticket_fail(error, "ticket key %u carries no key or no SPI", i);
      goto done;
    }
  }
  out->t = mikey_ts_value64(t);
  out->rand = g_bytes_ref(rand->u.rand.data);
  out->tpk_id = g_bytes_ref(idr->u.id.data);
  out->keys = g_steal_pointer(&keys);
  ok = TRUE;

done:
  ticket_keys_clear(&k);
  return ok;
}

MikeySecret *mikey_ticket_derive_mpk(MikeyPrf prf, const MikeySecret *mpk, guint32 constant,
                                     GBytes *rand, GError **error)
{
  if (constant != MIKEY_C_MPKI && constant != MIKEY_C_MPKR) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "MPK derivation with constant 0x%08x (MPKi or MPKr expected)", constant);
    return NULL;
  }
  if (mpk == NULL || rand == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "MPK derivation without MPK/RAND");
    return NULL;
  }
  gsize len;
  const guint8 *r = g_bytes_get_data(rand, &len);
  return mikey_kdf_ticket(prf, mpk, constant, MIKEY_LABEL_MPK, r, len, mpk->len, error);
}

/* ------------------------------------------------------------------ Initiator Data */

GBytes *mikey_initiator_data_build(MikeyPrf tp_prf, MikeyMacAlg alg, GBytes *vi_mac,
                                   const MikeySecret *mpkr, GError **error)
{
  gssize mac_len = mikey_mac_len(alg);
  if (mac_len <= 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC,
                "Initiator Data needs a real MAC algorithm, not %d", (int)alg);
    return NULL;
  }
  if (vi_mac == NULL || g_bytes_get_size(vi_mac) != (gsize)mac_len) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC,
                "Vi MAC of %" G_GSIZE_FORMAT " bytes for a %" G_GSSIZE_FORMAT "-byte algorithm",
                vi_mac ? g_bytes_get_size(vi_mac) : 0, mac_len);
    return NULL;
  }
  g_autoptr(MikeySecret) key =
      mikey_kdf_vr(tp_prf, mpkr, MIKEY_C_AUTH, (gsize)mikey_auth_key_len(alg), error);
  if (key == NULL)
    return NULL;
  /* 0x09 || Vi (next 9: Vr follows) || Vr (next 0) */
  g_autoptr(GPtrArray) chain = mikey_chain_new();
  MikeyPayload *vi = mikey_payload_new_v(alg);
  g_bytes_unref(vi->u.v.mac);
  vi->u.v.mac = g_bytes_ref(vi_mac);
  g_ptr_array_add(chain, vi);
  g_ptr_array_add(chain, mikey_payload_new_v(alg));
  g_autoptr(GBytes) unsigned_data = mikey_chain_encode(chain, TRUE, error);
  if (unsigned_data == NULL)
    return NULL;
  gsize len;
  guint8 *d = g_bytes_unref_to_data(g_steal_pointer(&unsigned_data), &len);
  MikeyIov part = { d, len - (gsize)mac_len };
  if (!mikey_hmac(alg, key, &part, 1, d + len - (gsize)mac_len, error)) {
    g_free(d);
    return NULL;
  }
  return g_bytes_new_take(d, len);
}

gboolean mikey_initiator_data_verify(MikeyPrf tp_prf, GBytes *initiator_data,
                                     const MikeySecret *mpkr, GBytes **vi_mac, GError **error)
{
  if (vi_mac)
    *vi_mac = NULL;
  gsize len = 0;
  const guint8 *d = initiator_data ? g_bytes_get_data(initiator_data, &len) : NULL;
  if (len == 0)
    return ticket_fail(error, "ticket uses key forking (I = 1) but carries no Initiator Data");
  GError *cause = NULL;
  g_autoptr(GPtrArray) chain = mikey_chain_parse(d, len, TRUE, MIKEY_PT_LAST, 0, &cause);
  if (chain == NULL)
    return ticket_fail_from(error, cause, "malformed Initiator Data");
  const MikeyPayload *vi = chain->len == 2 ? g_ptr_array_index(chain, 0) : NULL;
  const MikeyPayload *vr = chain->len == 2 ? g_ptr_array_index(chain, 1) : NULL;
  if (vi == NULL || vi->type != MIKEY_PT_V || vr->type != MIKEY_PT_V)
    return ticket_fail(error, "Initiator Data is not Vi, Vr");
  if (vi->u.v.alg != vr->u.v.alg || vr->u.v.alg == MIKEY_MAC_NULL)
    return ticket_fail(error, "Initiator Data Vi/Vr algorithms %u/%u", vi->u.v.alg, vr->u.v.alg);
  MikeyMacAlg alg = vr->u.v.alg;
  gsize mac_len = (gsize)mikey_mac_len(alg);
  g_autoptr(MikeySecret) key =
      mikey_kdf_vr(tp_prf, mpkr, MIKEY_C_AUTH, (gsize)mikey_auth_key_len(alg), error);
  if (key == NULL)
    return FALSE;
  guint8 mac[64];
  MikeyIov part = { d, len - mac_len };
  if (!mikey_hmac(alg, key, &part, 1, mac, error))
    return FALSE;
  gsize want_len;
  const guint8 *want = g_bytes_get_data(vr->u.v.mac, &want_len);
  if (!mikey_const_equal(mac, mac_len, want, want_len)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE,
                "Vr of the Initiator Data does not verify");
    return FALSE;
  }
  if (vi_mac)
    *vi_mac = g_bytes_ref(vi->u.v.mac);
  return TRUE;
}

/* ------------------------------------------------------------------ same ticket, fingerprint */

/* The TICKET payload encoded alone without its next-payload byte, the Initiator Data length
 * and the Initiator Data (profile §7.3). NULL when not a TICKET or not encodable. */
static GBytes *ticket_identity_bytes(const MikeyPayload *ticket)
{
  if (ticket == NULL || ticket->type != MIKEY_PT_TICKET)
    return NULL;
  g_autoptr(GBytes) alone = mikey_payload_encode(ticket, NULL);
  if (alone == NULL)
    return NULL;
  gsize len = g_bytes_get_size(alone);
  gsize cut = 2 + g_bytes_get_size(ticket->u.ticket.initiator_data);
  if (len < 1 + cut)
    return NULL;
  return g_bytes_new_from_bytes(alone, 1, len - 1 - cut);
}

gboolean mikey_ticket_same(const MikeyPayload *a, const MikeyPayload *b)
{
  g_autoptr(GBytes) x = ticket_identity_bytes(a);
  g_autoptr(GBytes) y = ticket_identity_bytes(b);
  return x != NULL && y != NULL && g_bytes_equal(x, y);
}

char *mikey_ticket_fingerprint(const MikeyPayload *ticket)
{
  g_autoptr(GBytes) x = ticket_identity_bytes(ticket);
  if (x == NULL)
    return NULL;
  gsize len;
  const guint8 *d = g_bytes_get_data(x, &len);
  return g_compute_checksum_for_data(G_CHECKSUM_SHA256, d, len);
}
