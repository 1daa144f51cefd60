/* Message model -> MIKEY wire format. The inverse of parse.c: for every parsed message,
 * encode(parse(x)) == x. Next-payload bytes come from the order of the payload arrays. */
#include "msg.h"

#include "kdf.h"

#include <stdarg.h>
#include <string.h>

typedef struct {
  GByteArray *buf;
  GError **error;
  gboolean failed;
  gboolean record_offsets; /* store offset/length in the payloads written */
} Writer;

G_GNUC_PRINTF(2, 3)
static void wfail(Writer *w, const char *fmt, ...)
{
  if (w->failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(w->error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "cannot encode: %s", reason);
  w->failed = TRUE;
}

static void put_u8(Writer *w, guint8 v)
{
  g_byte_array_append(w->buf, &v, 1);
}

static void put_u16(Writer *w, guint16 v)
{
  guint8 b[2] = { v >> 8, v & 0xff };
  g_byte_array_append(w->buf, b, 2);
}

static void put_u32(Writer *w, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append(w->buf, b, 4);
}

static void put_u64(Writer *w, guint64 v)
{
  put_u32(w, (guint32)(v >> 32));
  put_u32(w, (guint32)v);
}

static void put_raw(Writer *w, GBytes *b)
{
  gsize n = 0;
  const guint8 *d = b ? g_bytes_get_data(b, &n) : NULL;
  if (n)
    g_byte_array_append(w->buf, d, (guint)n);
}

static gsize blen(GBytes *b)
{
  return b ? g_bytes_get_size(b) : 0;
}

/* "len data" with a 1- or 2-byte length field. */
static void put_counted(Writer *w, guint lenbytes, GBytes *b, const char *what)
{
  gsize n = blen(b);
  gsize max = lenbytes == 1 ? 0xff : 0xffff;
  if (n > max) {
    wfail(w, "%s of %" G_GSIZE_FORMAT " bytes exceeds its length field", what, n);
    return;
  }
  if (lenbytes == 1)
    put_u8(w, (guint8)n);
  else
    put_u16(w, (guint16)n);
  put_raw(w, b);
}

static void put_mac(Writer *w, guint8 alg, GBytes *mac, const char *what)
{
  gssize want = mikey_mac_len(alg);
  if (want < 0)
    wfail(w, "%s: unknown MAC algorithm %u", what, alg);
  else if (blen(mac) != (gsize)want)
    wfail(w, "%s: MAC of %" G_GSIZE_FORMAT " bytes for algorithm %u", what, blen(mac), alg);
  put_u8(w, alg);
  put_raw(w, mac);
}

static void put_ts(Writer *w, guint8 ts_type, guint64 value)
{
  put_u8(w, ts_type);
  switch (ts_type) {
  case MIKEY_TS_NTP_UTC:
  case MIKEY_TS_NTP:
    put_u64(w, value);
    break;
  case MIKEY_TS_COUNTER:
  case MIKEY_TS_NTP_UTC_32:
    if (value > G_MAXUINT32)
      wfail(w, "32-bit timestamp value out of range");
    put_u32(w, (guint32)value);
    break;
  default:
    wfail(w, "unknown timestamp type %u", ts_type);
  }
}

static void put_hdr(Writer *w, const MikeyHdr *hdr, guint8 first)
{
  guint n_cs = hdr->cs ? hdr->cs->len : 0;
  put_u8(w, hdr->version);
  put_u8(w, hdr->data_type);
  put_u8(w, first);
  if (hdr->prf > 0x7f)
    wfail(w, "PRF %u does not fit 7 bits", hdr->prf);
  put_u8(w, (guint8)((hdr->v ? 0x80 : 0) | (hdr->prf & 0x7f)));
  put_u32(w, hdr->csb_id);
  if (n_cs > 0xff)
    wfail(w, "%u crypto sessions exceed #CS", n_cs);
  put_u8(w, (guint8)n_cs);
  put_u8(w, hdr->map_type);
  for (guint i = 0; i < n_cs; i++) {
    const MikeyCs *cs = g_ptr_array_index(hdr->cs, i);
    switch (hdr->map_type) {
    case MIKEY_MAP_SRTP_ID:
      put_u8(w, cs->policy_no);
      put_u32(w, cs->ssrc);
      put_u32(w, cs->roc);
      break;
    case MIKEY_MAP_GENERIC_ID:
      put_u8(w, cs->cs_id);
      put_u8(w, cs->prot_type);
      if (cs->n_policies > 0x7f)
        wfail(w, "too many policies in CS %u", cs->cs_id);
      put_u8(w, (guint8)((cs->s_flag ? 0x80 : 0) | (cs->n_policies & 0x7f)));
      g_byte_array_append(w->buf, cs->policies, cs->n_policies & 0x7f);
      put_counted(w, 2, cs->session_data, "Session Data");
      put_counted(w, 1, cs->spi, "SPI");
      break;
    default:
      wfail(w, "crypto sessions with map type %u", hdr->map_type);
    }
  }
}

static void put_chain(Writer *w, GPtrArray *chain, guint8 *first_out);

/* Writes a chain preceded by its first-type byte (TP Data, Initiator Data). */
static void put_nested_chain(Writer *w, GPtrArray *chain)
{
  if (!chain || chain->len == 0)
    return;
  gsize type_pos = w->buf->len;
  put_u8(w, 0);
  guint8 first = 0;
  put_chain(w, chain, &first);
  w->buf->data[type_pos] = first;
}

static void put_ticket(Writer *w, const MikeyPayload *p)
{
  const MikeyTicketBody *t = &p->u.ticket;
  put_u16(w, t->ticket_type);
  put_u8(w, t->subtype);
  put_u8(w, t->version);
  if (t->prf > 0x7f)
    wfail(w, "ticket PRF %u does not fit 7 bits", t->prf);
  put_u8(w, (guint8)((t->prf & 0x7f) << 1 | ((t->flags >> 11) & 1)));
  put_u8(w, (guint8)(t->flags >> 3));
  put_u8(w, (guint8)((t->flags & 7) << 5 | (t->reserved & 0x1f)));
  gsize len_pos = w->buf->len;
  put_u16(w, 0);
  put_nested_chain(w, t->tp_data);
  gsize tp_len = w->buf->len - len_pos - 2;
  if (tp_len > 0xffff)
    wfail(w, "TP Data of %" G_GSIZE_FORMAT " bytes", tp_len);
  w->buf->data[len_pos] = (guint8)(tp_len >> 8);
  w->buf->data[len_pos + 1] = (guint8)tp_len;
  if (p->type == MIKEY_PT_TICKET) {
    put_counted(w, 2, t->ticket_data, "Ticket Data");
    put_counted(w, 2, t->initiator_data, "Initiator Data");
  }
}

/* Writes one payload's body; the next-payload byte (if any) was already written. */
static void put_body(Writer *w, const MikeyPayload *p)
{
  switch (p->type) {
  case MIKEY_PT_KEMAC:
    put_u8(w, p->u.kemac.encr_alg);
    put_counted(w, 2, p->u.kemac.encr_data, "KEMAC Encr data");
    put_mac(w, p->u.kemac.mac_alg, p->u.kemac.mac, "KEMAC");
    break;
  case MIKEY_PT_PKE:
    if (blen(p->u.pke.data) > 0x3fff || p->u.pke.c > 3)
      wfail(w, "PKE data too long");
    put_u16(w, (guint16)(p->u.pke.c << 14 | (blen(p->u.pke.data) & 0x3fff)));
    put_raw(w, p->u.pke.data);
    break;
  case MIKEY_PT_DH:
    put_u8(w, p->u.dh.group);
    put_raw(w, p->u.dh.value);
    put_u8(w, p->u.dh.kv_byte);
    put_raw(w, p->u.dh.kv_data);
    break;
  case MIKEY_PT_SIGN:
    if (blen(p->u.sign.signature) > 0x0fff || p->u.sign.s_type > 0xf)
      wfail(w, "signature too long");
    put_u16(w, (guint16)(p->u.sign.s_type << 12 | (blen(p->u.sign.signature) & 0x0fff)));
    put_raw(w, p->u.sign.signature);
    break;
  case MIKEY_PT_T:
    put_ts(w, p->u.t.ts_type, p->u.t.value);
    break;
  case MIKEY_PT_TR:
    put_u8(w, p->u.t.role);
    put_ts(w, p->u.t.ts_type, p->u.t.value);
    break;
  case MIKEY_PT_ID:
  case MIKEY_PT_CERT:
    put_u8(w, p->u.id.id_type);
    put_counted(w, 2, p->u.id.data, "ID data");
    break;
  case MIKEY_PT_IDR:
    put_u8(w, p->u.id.role);
    put_u8(w, p->u.id.id_type);
    put_counted(w, 2, p->u.id.data, "IDR data");
    break;
  case MIKEY_PT_CHASH: {
    gsize want = p->u.chash.func == MIKEY_CHASH_SHA1     ? 20
                 : p->u.chash.func == MIKEY_CHASH_MD5    ? 16
                 : p->u.chash.func == MIKEY_CHASH_SHA256 ? 32
                                                         : 0;
    if (want == 0 || blen(p->u.chash.hash) != want)
      wfail(w, "CHASH of %" G_GSIZE_FORMAT " bytes for function %u", blen(p->u.chash.hash),
            p->u.chash.func);
    put_u8(w, p->u.chash.func);
    put_raw(w, p->u.chash.hash);
    break;
  }
  case MIKEY_PT_V:
    put_mac(w, p->u.v.alg, p->u.v.mac, "V");
    break;
  case MIKEY_PT_SP: {
    put_u8(w, p->u.sp.policy_no);
    put_u8(w, p->u.sp.prot_type);
    gsize len_pos = w->buf->len;
    put_u16(w, 0);
    for (guint i = 0; i < p->u.sp.params->len; i++) {
      const MikeySpParam *param = g_ptr_array_index(p->u.sp.params, i);
      put_u8(w, param->type);
      put_counted(w, 1, param->value, "SP parameter");
    }
    gsize plen = w->buf->len - len_pos - 2;
    if (plen > 0xffff)
      wfail(w, "SP parameters too long");
    w->buf->data[len_pos] = (guint8)(plen >> 8);
    w->buf->data[len_pos + 1] = (guint8)plen;
    break;
  }
  case MIKEY_PT_RAND:
    put_counted(w, 1, p->u.rand.data, "RAND");
    break;
  case MIKEY_PT_RANDR:
    put_u8(w, p->u.rand.role);
    put_counted(w, 1, p->u.rand.data, "RANDR");
    break;
  case MIKEY_PT_ERR:
    put_u8(w, p->u.err.err_no);
    put_u16(w, p->u.err.reserved);
    break;
  case MIKEY_PT_GEN_EXT:
    put_u8(w, p->u.ext.type);
    put_counted(w, 2, p->u.ext.data, "General Extension data");
    break;
  case MIKEY_PT_SAKKE:
    put_u8(w, p->u.sakke.params);
    put_u8(w, p->u.sakke.id_scheme);
    put_counted(w, 2, p->u.sakke.data, "SAKKE data");
    break;
  case MIKEY_PT_THDR:
    put_counted(w, 2, p->u.thdr.data, "THDR data");
    break;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    put_ticket(w, p);
    break;
  default:
    wfail(w, "payload type %u cannot be encoded in a chain", p->type);
  }
}

/* Writes the payloads of chain in order. The type of the first payload is returned in
 * *first_out (the caller owns the byte that names it). */
static void put_chain(Writer *w, GPtrArray *chain, guint8 *first_out)
{
  *first_out = chain && chain->len ? ((MikeyPayload *)g_ptr_array_index(chain, 0))->type : 0;
  for (guint i = 0; chain && i < chain->len; i++) {
    MikeyPayload *p = g_ptr_array_index(chain, i);
    MikeyPayload *nx = i + 1 < chain->len ? g_ptr_array_index(chain, i + 1) : NULL;
    guint next = nx ? nx->type : MIKEY_PT_LAST;
    if (p->type == MIKEY_PT_THDR && i != 0)
      wfail(w, "THDR must open the chain");
    if (nx && nx->type == MIKEY_PT_THDR)
      wfail(w, "THDR must open the chain");
    if (p->type == MIKEY_PT_SIGN && nx)
      wfail(w, "SIGN must be the last payload");
    gsize start = w->buf->len;
    if (p->type != MIKEY_PT_SIGN)
      put_u8(w, (guint8)next);
    put_body(w, p);
    if (w->record_offsets) {
      p->offset = start;
      p->length = w->buf->len - start;
    }
  }
}

GBytes *mikey_msg_encode(MikeyMsg *msg, GError **error)
{
  Writer w = { g_byte_array_sized_new(256), error, FALSE, TRUE };
  guint8 first = msg->payloads->len ? ((MikeyPayload *)g_ptr_array_index(msg->payloads, 0))->type
                                    : MIKEY_PT_LAST;
  put_hdr(&w, &msg->hdr, first);
  put_chain(&w, msg->payloads, &first);
  if (!w.failed && w.buf->len > MIKEY_MAX_MESSAGE_SIZE)
    wfail(&w, "message of %u bytes exceeds %d", w.buf->len, MIKEY_MAX_MESSAGE_SIZE);
  if (w.failed) {
    g_byte_array_unref(w.buf);
    return NULL;
  }
  g_clear_pointer(&msg->raw, g_bytes_unref);
  msg->raw = g_byte_array_free_to_bytes(w.buf);
  return g_bytes_ref(msg->raw);
}

/* The written bytes, or NULL when anything failed (the error is already set). */
static GBytes *writer_finish(Writer *w)
{
  if (w->failed) {
    g_byte_array_unref(w->buf);
    return NULL;
  }
  return g_byte_array_free_to_bytes(w->buf);
}

GBytes *mikey_chain_encode(GPtrArray *chain, gboolean leading_type_byte, GError **error)
{
  Writer w = { g_byte_array_new(), error, FALSE, TRUE };
  if (leading_type_byte) {
    put_nested_chain(&w, chain);
  } else {
    guint8 first;
    put_chain(&w, chain, &first);
  }
  return writer_finish(&w);
}

GBytes *mikey_payload_encode(const MikeyPayload *p, GError **error)
{
  Writer w = { g_byte_array_new(), error, FALSE, FALSE };
  /* put_chain only writes offsets when asked, so the cast does not modify p */
  g_autoptr(GPtrArray) one = g_ptr_array_new();
  guint8 first;
  g_ptr_array_add(one, (gpointer)p);
  put_chain(&w, one, &first);
  return writer_finish(&w);
}

MikeyPayload *mikey_payload_dup(const MikeyPayload *p, GError **error)
{
  g_autoptr(GBytes) b = mikey_payload_encode(p, error);
  if (!b)
    return NULL;
  gsize len;
  const guint8 *d = g_bytes_get_data(b, &len);
  g_autoptr(GPtrArray) chain = mikey_chain_parse(d, len, FALSE, p->type, 0, error);
  if (!chain)
    return NULL;
  return g_ptr_array_steal_index(chain, 0);
}
