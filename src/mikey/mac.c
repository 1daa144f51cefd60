/* MAC coverage (RFC 6043 5.5): one function decides which bytes a V covers. */
#include "mac.h"

#include "kdf.h"

#include <string.h>

void mikey_mac_excluded_range(const MikeyMsg *msg, gsize *start, gsize *end)
{
  *start = *end = 0;
  if (msg->hdr.data_type != MIKEY_DT_TRANSFER_INIT)
    return;
  MikeyPayload *ticket = mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0);
  if (!ticket || ticket->offset == G_MAXSIZE)
    return;
  /* the Initiator Data length field and the data close the TICKET payload */
  gsize id_len = g_bytes_get_size(ticket->u.ticket.initiator_data);
  *end = ticket->offset + ticket->length;
  *start = *end - 2 - id_len;
}

/* The V payload and its MAC field offset; NULL if the message does not end with V. */
static MikeyPayload *last_v(const MikeyMsg *msg, gsize *mac_off, GError **error)
{
  MikeyPayload *v =
      msg->payloads->len ? g_ptr_array_index(msg->payloads, msg->payloads->len - 1) : NULL;
  if (!v || v->type != MIKEY_PT_V) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC, "message does not end with a V payload");
    return NULL;
  }
  if (v->u.v.alg == MIKEY_MAC_NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC, "V payload with a NULL MAC");
    return NULL;
  }
  *mac_off = v->offset + 2; /* next payload, auth alg */
  return v;
}

/* HMAC over raw[0, mac_off) without [ex_start, ex_end), then the appended parts. */
static gboolean mac_coverage(const MikeyMsg *msg, GBytes *raw, gsize mac_off, guint8 alg,
                             const MikeySecret *key, const MikeyIov *append, guint n_append,
                             guint8 *out, GError **error)
{
  gsize ex_start, ex_end, raw_len;
  const guint8 *d = g_bytes_get_data(raw, &raw_len);
  mikey_mac_excluded_range(msg, &ex_start, &ex_end);
  g_autofree MikeyIov *parts = g_new0(MikeyIov, n_append + 2);
  guint n = 0;
  if (ex_end > ex_start && ex_end <= mac_off) {
    parts[n++] = (MikeyIov){ d, ex_start };
    parts[n++] = (MikeyIov){ d + ex_end, mac_off - ex_end };
  } else {
    parts[n++] = (MikeyIov){ d, mac_off };
  }
  for (guint i = 0; i < n_append; i++)
    parts[n++] = append[i];
  return mikey_hmac(alg, key, parts, n, out, error);
}

GBytes *mikey_msg_sign(MikeyMsg *msg, const MikeySecret *auth_key, const MikeyIov *append,
                       guint n_append, GError **error)
{
  gsize mac_off;
  MikeyPayload *v = last_v(msg, &mac_off, error);
  if (!v)
    return NULL;
  g_autoptr(GBytes) raw = mikey_msg_encode(msg, error);
  if (!raw)
    return NULL;
  mac_off = v->offset + 2;
  gsize mac_len = g_bytes_get_size(v->u.v.mac);
  guint8 mac[64];
  if (!mac_coverage(msg, raw, mac_off, v->u.v.alg, auth_key, append, n_append, mac, error))
    return NULL;
  g_bytes_unref(v->u.v.mac);
  v->u.v.mac = g_bytes_new(mac, mac_len);
  gsize len;
  guint8 *signed_bytes = g_bytes_unref_to_data(g_steal_pointer(&raw), &len);
  memcpy(signed_bytes + mac_off, mac, mac_len);
  g_clear_pointer(&msg->raw, g_bytes_unref);
  msg->raw = g_bytes_new_take(signed_bytes, len);
  return g_bytes_ref(msg->raw);
}

gboolean mikey_msg_verify(const MikeyMsg *msg, const MikeySecret *auth_key, const MikeyIov *append,
                          guint n_append, GError **error)
{
  gsize mac_off;
  MikeyPayload *v = last_v(msg, &mac_off, error);
  if (!v)
    return FALSE;
  if (!msg->raw) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "message was never encoded");
    return FALSE;
  }
  guint8 mac[64];
  if (!mac_coverage(msg, msg->raw, mac_off, v->u.v.alg, auth_key, append, n_append, mac, error))
    return FALSE;
  gsize want_len;
  const guint8 *want = g_bytes_get_data(v->u.v.mac, &want_len);
  if (!mikey_const_equal(mac, (gsize)mikey_mac_len(v->u.v.alg), want, want_len)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE, "MAC does not verify");
    return FALSE;
  }
  return TRUE;
}

gboolean mikey_ticket_mac(MikeyMacAlg alg, const MikeySecret *key, GBytes *payload_bytes,
                          gsize initiator_data_len, gsize mac_len, guint8 *out, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data(payload_bytes, &len);
  gsize tail = 2 + initiator_data_len + mac_len;
  if (len < 1 + tail) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "ticket too short for its MAC");
    return FALSE;
  }
  MikeyIov part = { d + 1, len - 1 - tail };
  return mikey_hmac(alg, key, &part, 1, out, error);
}
