/* Lifetime, constructors and accessors of the MIKEY message model (msg.h). */
#include "msg.h"

#include "kdf.h"

#include <string.h>

static GBytes *bytes_empty(void)
{
  return g_bytes_new(NULL, 0);
}

static void bytes_clear(GBytes **b)
{
  g_clear_pointer(b, g_bytes_unref);
}

MikeyCs *mikey_cs_new(void)
{
  MikeyCs *cs = g_new0(MikeyCs, 1);
  cs->session_data = bytes_empty();
  cs->spi = bytes_empty();
  return cs;
}

void mikey_cs_free(MikeyCs *cs)
{
  if (!cs)
    return;
  bytes_clear(&cs->session_data);
  bytes_clear(&cs->spi);
  g_free(cs);
}

MikeySpParam *mikey_sp_param_new(guint8 type, const guint8 *value, gsize len)
{
  MikeySpParam *param = g_new0(MikeySpParam, 1);
  param->type = type;
  param->value = g_bytes_new(value, len);
  return param;
}

void mikey_sp_param_free(MikeySpParam *param)
{
  if (!param)
    return;
  bytes_clear(&param->value);
  g_free(param);
}

GPtrArray *mikey_chain_new(void)
{
  return g_ptr_array_new_with_free_func((GDestroyNotify)mikey_payload_free);
}

MikeyPayload *mikey_payload_new(MikeyPayloadType type)
{
  MikeyPayload *p = g_new0(MikeyPayload, 1);
  p->type = type;
  p->offset = G_MAXSIZE;
  switch (type) {
  case MIKEY_PT_SP:
    p->u.sp.params = g_ptr_array_new_with_free_func((GDestroyNotify)mikey_sp_param_free);
    break;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    p->u.ticket.tp_data = mikey_chain_new();
    if (type == MIKEY_PT_TICKET) {
      p->u.ticket.ticket_data = bytes_empty();
      p->u.ticket.initiator_data = bytes_empty();
    }
    break;
  default:
    break;
  }
  return p;
}

void mikey_payload_free(MikeyPayload *p)
{
  if (!p)
    return;
  switch (p->type) {
  case MIKEY_PT_RAND:
  case MIKEY_PT_RANDR:
    bytes_clear(&p->u.rand.data);
    break;
  case MIKEY_PT_ID:
  case MIKEY_PT_IDR:
  case MIKEY_PT_CERT:
    bytes_clear(&p->u.id.data);
    break;
  case MIKEY_PT_CHASH:
    bytes_clear(&p->u.chash.hash);
    break;
  case MIKEY_PT_KEMAC:
    bytes_clear(&p->u.kemac.encr_data);
    bytes_clear(&p->u.kemac.mac);
    break;
  case MIKEY_PT_V:
    bytes_clear(&p->u.v.mac);
    break;
  case MIKEY_PT_SP:
    g_clear_pointer(&p->u.sp.params, g_ptr_array_unref);
    break;
  case MIKEY_PT_GEN_EXT:
    bytes_clear(&p->u.ext.data);
    break;
  case MIKEY_PT_PKE:
    bytes_clear(&p->u.pke.data);
    break;
  case MIKEY_PT_DH:
    bytes_clear(&p->u.dh.value);
    bytes_clear(&p->u.dh.kv_data);
    break;
  case MIKEY_PT_SIGN:
    bytes_clear(&p->u.sign.signature);
    break;
  case MIKEY_PT_SAKKE:
    bytes_clear(&p->u.sakke.data);
    break;
  case MIKEY_PT_THDR:
    bytes_clear(&p->u.thdr.data);
    break;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    g_clear_pointer(&p->u.ticket.tp_data, g_ptr_array_unref);
    bytes_clear(&p->u.ticket.ticket_data);
    bytes_clear(&p->u.ticket.initiator_data);
    break;
  default:
    break;
  }
  g_free(p);
}

MikeyMsg *mikey_msg_new(MikeyDataType data_type, MikeyPrf prf, guint32 csb_id, MikeyMapType map)
{
  MikeyMsg *msg = g_new0(MikeyMsg, 1);
  msg->hdr.version = MIKEY_VERSION;
  msg->hdr.data_type = data_type;
  msg->hdr.prf = prf;
  msg->hdr.csb_id = csb_id;
  msg->hdr.map_type = map;
  msg->hdr.cs = g_ptr_array_new_with_free_func((GDestroyNotify)mikey_cs_free);
  msg->payloads = mikey_chain_new();
  return msg;
}

void mikey_hdr_clear(MikeyHdr *hdr)
{
  g_clear_pointer(&hdr->cs, g_ptr_array_unref);
}

void mikey_msg_free(MikeyMsg *msg)
{
  if (!msg)
    return;
  mikey_hdr_clear(&msg->hdr);
  g_clear_pointer(&msg->payloads, g_ptr_array_unref);
  bytes_clear(&msg->raw);
  g_free(msg);
}

static gboolean role_matches(const MikeyPayload *p, guint8 role)
{
  if (role == 0)
    return TRUE;
  switch (p->type) {
  case MIKEY_PT_TR:
    return p->u.t.role == role;
  case MIKEY_PT_IDR:
    return p->u.id.role == role;
  case MIKEY_PT_RANDR:
    return p->u.rand.role == role;
  default:
    return TRUE;
  }
}

MikeyPayload *mikey_chain_find(GPtrArray *chain, MikeyPayloadType type, guint8 role, guint n)
{
  if (!chain)
    return NULL;
  for (guint i = 0; i < chain->len; i++) {
    MikeyPayload *p = g_ptr_array_index(chain, i);
    if (p->type == type && role_matches(p, role) && n-- == 0)
      return p;
  }
  return NULL;
}

guint mikey_chain_count(GPtrArray *chain, MikeyPayloadType type, guint8 role)
{
  guint count = 0;
  for (guint i = 0; chain && i < chain->len; i++) {
    MikeyPayload *p = g_ptr_array_index(chain, i);
    if (p->type == type && role_matches(p, role))
      count++;
  }
  return count;
}

MikeyPayload *mikey_msg_find(const MikeyMsg *msg, MikeyPayloadType type, guint8 role, guint n)
{
  return mikey_chain_find(msg->payloads, type, role, n);
}

MikeyPayload *mikey_msg_add(MikeyMsg *msg, MikeyPayload *p)
{
  g_ptr_array_add(msg->payloads, p);
  return p;
}

MikeyPayload *mikey_payload_new_t(MikeyTsType ts_type, guint64 value)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_T);
  p->u.t.ts_type = ts_type;
  p->u.t.value = value;
  return p;
}

MikeyPayload *mikey_payload_new_tr(MikeyTsRole role, MikeyTsType ts_type, guint64 value)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_TR);
  p->u.t.role = role;
  p->u.t.ts_type = ts_type;
  p->u.t.value = value;
  return p;
}

MikeyPayload *mikey_payload_new_rand(const guint8 *rand, gsize len)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_RAND);
  p->u.rand.data = g_bytes_new(rand, len);
  return p;
}

MikeyPayload *mikey_payload_new_randr(MikeyRandRole role, const guint8 *rand, gsize len)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_RANDR);
  p->u.rand.role = role;
  p->u.rand.data = g_bytes_new(rand, len);
  return p;
}

MikeyPayload *mikey_payload_new_id(MikeyIdType id_type, const guint8 *id, gsize len)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_ID);
  p->u.id.id_type = id_type;
  p->u.id.data = g_bytes_new(id, len);
  return p;
}

MikeyPayload *mikey_payload_new_idr(MikeyIdRole role, MikeyIdType id_type, const guint8 *id,
                                    gsize len)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_IDR);
  p->u.id.role = role;
  p->u.id.id_type = id_type;
  p->u.id.data = g_bytes_new(id, len);
  return p;
}

MikeyPayload *mikey_payload_new_idr_uri(MikeyIdRole role, const char *uri)
{
  return mikey_payload_new_idr(role, MIKEY_ID_URI, (const guint8 *)uri, strlen(uri));
}

MikeyPayload *mikey_payload_new_v(MikeyMacAlg alg)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_V);
  gsize len = (gsize)MAX(mikey_mac_len(alg), 0);
  p->u.v.alg = alg;
  p->u.v.mac = g_bytes_new_take(g_malloc0(len), len);
  return p;
}

MikeyPayload *mikey_payload_new_kemac(MikeyEncrAlg encr_alg, GBytes *encr_data, MikeyMacAlg mac_alg)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_KEMAC);
  gsize len = (gsize)MAX(mikey_mac_len(mac_alg), 0);
  p->u.kemac.encr_alg = encr_alg;
  p->u.kemac.encr_data = encr_data ? g_bytes_ref(encr_data) : bytes_empty();
  p->u.kemac.mac_alg = mac_alg;
  p->u.kemac.mac = g_bytes_new_take(g_malloc0(len), len);
  return p;
}

MikeyPayload *mikey_payload_new_err(MikeyErrNo err_no)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_ERR);
  p->u.err.err_no = err_no;
  return p;
}

MikeyPayload *mikey_payload_new_ext(MikeyGenExtType type, const guint8 *data, gsize len)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_GEN_EXT);
  p->u.ext.type = type;
  p->u.ext.data = g_bytes_new(data, len);
  return p;
}

MikeyPayload *mikey_payload_new_sp(guint8 policy_no, MikeyProtType prot)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_SP);
  p->u.sp.policy_no = policy_no;
  p->u.sp.prot_type = prot;
  return p;
}

void mikey_sp_add_param(MikeyPayload *sp, guint8 type, const guint8 *value, gsize len)
{
  g_return_if_fail(sp->type == MIKEY_PT_SP);
  g_ptr_array_add(sp->u.sp.params, mikey_sp_param_new(type, value, len));
}

MikeyPayload *mikey_payload_new_thdr(void)
{
  MikeyPayload *p = mikey_payload_new(MIKEY_PT_THDR);
  p->u.thdr.data = bytes_empty();
  return p;
}

GBytes *mikey_srtp_session_data_encode(const MikeySrtpSessionData *sd)
{
  guint8 buf[10];
  buf[0] = sd->ssrc >> 24;
  buf[1] = sd->ssrc >> 16;
  buf[2] = sd->ssrc >> 8;
  buf[3] = sd->ssrc;
  if (!sd->has_roc_seq)
    return g_bytes_new(buf, 4);
  buf[4] = sd->roc >> 24;
  buf[5] = sd->roc >> 16;
  buf[6] = sd->roc >> 8;
  buf[7] = sd->roc;
  buf[8] = sd->seq >> 8;
  buf[9] = sd->seq;
  return g_bytes_new(buf, 10);
}

gboolean mikey_srtp_session_data_decode(GBytes *data, MikeySrtpSessionData *sd, GError **error)
{
  gsize len = 0;
  const guint8 *b = data ? g_bytes_get_data(data, &len) : NULL;
  memset(sd, 0, sizeof *sd);
  if (len != 4 && len != 10) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SRTP Session Data is %" G_GSIZE_FORMAT " bytes, expected 4 or 10", len);
    return FALSE;
  }
  sd->ssrc = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
  if (len == 10) {
    sd->has_roc_seq = TRUE;
    sd->roc = (guint32)b[4] << 24 | (guint32)b[5] << 16 | (guint32)b[6] << 8 | b[7];
    sd->seq = (guint16)(b[8] << 8 | b[9]);
  }
  return TRUE;
}

guint64 mikey_ts_value64(const MikeyPayload *t)
{
  switch (t->u.t.ts_type) {
  case MIKEY_TS_NTP_UTC_32:
    return (guint64)(guint32)t->u.t.value << 32;
  case MIKEY_TS_COUNTER:
    return (guint32)t->u.t.value;
  default:
    return t->u.t.value;
  }
}
