/* MIKEY wire format -> message model (RFC 3830 6, RFC 6043 6).
 *
 * Every payload type has its own length rule and there is no generic length field, so an
 * unknown payload type ends parsing with an error (mikey-ticket.md trap 1). All reads go
 * through the Reader, which checks the remaining length first: no path reads out of bounds. */
#include "msg.h"

#include "kdf.h"

#include <stdarg.h>
#include <string.h>

typedef struct {
  const guint8 *base;
  gsize len;
  gsize pos;
  gsize origin;      /* offset of base[0] from message byte 0 */
  guint *n_payloads; /* shared counter across nested chains */
} Reader;

static void reader_init(Reader *r, const guint8 *base, gsize len, gsize origin, guint *counter)
{
  r->base = base;
  r->len = len;
  r->pos = 0;
  r->origin = origin;
  r->n_payloads = counter;
}

G_GNUC_PRINTF(3, 4)
static gboolean fail(const Reader *r, GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  mikey_set_parse_error(error, r->origin + r->pos, "%s", reason);
  return FALSE;
}

G_GNUC_PRINTF(4, 5)
static gboolean fail_code(const Reader *r, GError **error, MikeyErrNo code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MIKEY_ERROR, code, "offset %" G_GSIZE_FORMAT ": %s", r->origin + r->pos,
              reason);
  return FALSE;
}

static gsize remaining(const Reader *r)
{
  return r->len - r->pos;
}

static gboolean need(const Reader *r, gsize n, const char *what, GError **error)
{
  if (remaining(r) < n)
    return fail(r, error, "truncated %s: need %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " left",
                what, n, remaining(r));
  return TRUE;
}

static guint8 get_u8(Reader *r)
{
  return r->base[r->pos++];
}

static guint16 get_u16(Reader *r)
{
  guint16 v = (guint16)(r->base[r->pos] << 8 | r->base[r->pos + 1]);
  r->pos += 2;
  return v;
}

static guint32 get_u32(Reader *r)
{
  const guint8 *b = r->base + r->pos;
  r->pos += 4;
  return (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
}

static guint64 get_u64(Reader *r)
{
  guint64 hi = get_u32(r);
  return hi << 32 | get_u32(r);
}

static GBytes *get_bytes(Reader *r, gsize n)
{
  GBytes *b = g_bytes_new(r->base + r->pos, n);
  r->pos += n;
  return b;
}

/* Reads "len(lenbytes) data" where len counts bytes. */
static gboolean get_counted(Reader *r, guint lenbytes, GBytes **out, const char *what,
                            GError **error)
{
  if (!need(r, lenbytes, what, error))
    return FALSE;
  gsize n = lenbytes == 1 ? get_u8(r) : get_u16(r);
  if (!need(r, n, what, error))
    return FALSE;
  *out = get_bytes(r, n);
  return TRUE;
}

static gboolean parse_mac(Reader *r, guint8 *alg, GBytes **mac, const char *what, GError **error)
{
  if (!need(r, 1, what, error))
    return FALSE;
  *alg = get_u8(r);
  gssize n = mikey_mac_len(*alg);
  if (n < 0) {
    r->pos--;
    return fail_code(r, error, MIKEY_ERR_INVALID_MAC, "%s: unknown MAC algorithm %u", what, *alg);
  }
  if (!need(r, (gsize)n, what, error))
    return FALSE;
  *mac = get_bytes(r, (gsize)n);
  return TRUE;
}

static gboolean parse_ts(Reader *r, guint8 *ts_type, guint64 *value, GError **error)
{
  if (!need(r, 1, "timestamp", error))
    return FALSE;
  *ts_type = get_u8(r);
  switch (*ts_type) {
  case MIKEY_TS_NTP_UTC:
  case MIKEY_TS_NTP:
    if (!need(r, 8, "timestamp", error))
      return FALSE;
    *value = get_u64(r);
    return TRUE;
  case MIKEY_TS_COUNTER:
  case MIKEY_TS_NTP_UTC_32:
    if (!need(r, 4, "timestamp", error))
      return FALSE;
    *value = get_u32(r);
    return TRUE;
  default:
    r->pos--;
    return fail_code(r, error, MIKEY_ERR_INVALID_TS, "unknown timestamp type %u", *ts_type);
  }
}

static gboolean parse_cs_map(Reader *r, MikeyHdr *hdr, guint n_cs, GError **error)
{
  for (guint i = 0; i < n_cs; i++) {
    MikeyCs *cs = mikey_cs_new();
    g_ptr_array_add(hdr->cs, cs);
    if (hdr->map_type == MIKEY_MAP_SRTP_ID) {
      if (!need(r, 9, "SRTP-ID map entry", error))
        return FALSE;
      cs->cs_id = (guint8)(i + 1);
      cs->policy_no = get_u8(r);
      cs->ssrc = get_u32(r);
      cs->roc = get_u32(r);
      continue;
    }
    /* GENERIC-ID (RFC 6043 6.1.1) */
    if (!need(r, 3, "GENERIC-ID map entry", error))
      return FALSE;
    cs->cs_id = get_u8(r);
    cs->prot_type = get_u8(r);
    guint8 b = get_u8(r);
    cs->s_flag = (b & 0x80) != 0;
    cs->n_policies = b & 0x7f;
    if (!need(r, cs->n_policies, "GENERIC-ID policy list", error))
      return FALSE;
    memcpy(cs->policies, r->base + r->pos, cs->n_policies);
    r->pos += cs->n_policies;
    g_bytes_unref(cs->session_data);
    cs->session_data = NULL;
    if (!get_counted(r, 2, &cs->session_data, "GENERIC-ID Session Data", error))
      return FALSE;
    g_bytes_unref(cs->spi);
    cs->spi = NULL;
    if (!get_counted(r, 1, &cs->spi, "GENERIC-ID SPI", error))
      return FALSE;
  }
  return TRUE;
}

static gboolean parse_hdr(Reader *r, MikeyHdr *hdr, guint8 *first, GError **error)
{
  memset(hdr, 0, sizeof *hdr);
  hdr->cs = g_ptr_array_new_with_free_func((GDestroyNotify)mikey_cs_free);
  if (!need(r, 10, "common header", error))
    return FALSE;
  hdr->version = get_u8(r);
  if (hdr->version != MIKEY_VERSION) {
    r->pos--;
    return fail(r, error, "unsupported MIKEY version %u", hdr->version);
  }
  hdr->data_type = get_u8(r);
  if (hdr->data_type > MIKEY_DT_MAX ||
      (hdr->data_type > MIKEY_DT_RESOLVE_RESP && hdr->data_type < MIKEY_DT_SAKKE)) {
    r->pos--;
    return fail_code(r, error, MIKEY_ERR_INVALID_DT, "unknown data type %u", hdr->data_type);
  }
  *first = get_u8(r);
  guint8 b = get_u8(r);
  hdr->v = (b & 0x80) != 0;
  hdr->prf = b & 0x7f;
  hdr->csb_id = get_u32(r);
  guint n_cs = get_u8(r);
  hdr->map_type = get_u8(r);
  switch (hdr->map_type) {
  case MIKEY_MAP_SRTP_ID:
  case MIKEY_MAP_GENERIC_ID:
    return parse_cs_map(r, hdr, n_cs, error);
  case MIKEY_MAP_EMPTY:
    /* RFC 4563: no map info; #CS is carried but describes nothing here */
    if (n_cs != 0) {
      r->pos -= 2;
      return fail(r, error, "Empty map with #CS = %u", n_cs);
    }
    return TRUE;
  default:
    r->pos--;
    return fail(r, error, "unknown CS ID map type %u", hdr->map_type);
  }
}

static gboolean parse_chain(Reader *r, guint8 first, GPtrArray *chain, gboolean nested,
                            GError **error);

static gboolean parse_sp(Reader *r, MikeyPayload *p, GError **error)
{
  if (!need(r, 4, "SP payload", error))
    return FALSE;
  p->u.sp.policy_no = get_u8(r);
  p->u.sp.prot_type = get_u8(r);
  gsize plen = get_u16(r);
  if (!need(r, plen, "SP policy parameters", error))
    return FALSE;
  gsize end = r->pos + plen;
  while (r->pos < end) {
    if (end - r->pos < 2)
      return fail(r, error, "SP parameter header runs past the parameter length");
    guint8 type = get_u8(r);
    guint8 vlen = get_u8(r);
    if (end - r->pos < vlen)
      return fail(r, error, "SP parameter %u value runs past the parameter length", type);
    mikey_sp_add_param(p, type, r->base + r->pos, vlen);
    r->pos += vlen;
  }
  return TRUE;
}

static gboolean parse_ticket_body(Reader *r, MikeyPayload *p, GError **error)
{
  MikeyTicketBody *t = &p->u.ticket;
  if (!need(r, 9, "ticket policy header", error))
    return FALSE;
  t->ticket_type = get_u16(r);
  t->subtype = get_u8(r);
  t->version = get_u8(r);
  guint8 b5 = get_u8(r), b6 = get_u8(r), b7 = get_u8(r);
  t->prf = b5 >> 1;
  t->flags = (guint16)((b5 & 1) << 11 | b6 << 3 | b7 >> 5);
  t->reserved = b7 & 0x1f;
  gsize tp_len = get_u16(r);
  if (!need(r, tp_len, "TP Data", error))
    return FALSE;
  if (tp_len > 0) {
    Reader sub;
    reader_init(&sub, r->base + r->pos, tp_len, r->origin + r->pos, r->n_payloads);
    guint8 first = get_u8(&sub);
    if (first == MIKEY_PT_LAST)
      return fail(&sub, error, "TP Data names no payload");
    if (!parse_chain(&sub, first, t->tp_data, TRUE, error))
      return FALSE;
    r->pos += tp_len;
  }
  if (p->type == MIKEY_PT_TP)
    return TRUE;
  g_clear_pointer(&t->ticket_data, g_bytes_unref);
  if (!get_counted(r, 2, &t->ticket_data, "Ticket Data", error))
    return FALSE;
  g_clear_pointer(&t->initiator_data, g_bytes_unref);
  return get_counted(r, 2, &t->initiator_data, "Initiator Data", error);
}

/* Parses one payload of the given type; *next receives its next-payload byte. */
static gboolean parse_payload(Reader *r, guint type, guint8 *next, MikeyPayload **out,
                              GError **error)
{
  gsize start = r->pos;
  g_autoptr(MikeyPayload) p = mikey_payload_new(type);
  *next = MIKEY_PT_LAST;

  if (type == MIKEY_PT_SIGN) {
    /* no next-payload byte; always last (RFC 3830 6.5) */
    if (!need(r, 2, "SIGN payload", error))
      return FALSE;
    guint16 v = get_u16(r);
    p->u.sign.s_type = v >> 12;
    gsize n = v & 0x0fff;
    if (!need(r, n, "signature", error))
      return FALSE;
    p->u.sign.signature = get_bytes(r, n);
    goto done;
  }
  if (type == MIKEY_PT_THDR) {
    if (!need(r, 1, "THDR", error))
      return FALSE;
    *next = get_u8(r);
    if (!get_counted(r, 2, &p->u.thdr.data, "THDR data", error))
      return FALSE;
    goto done;
  }

  if (!need(r, 1, "payload header", error))
    return FALSE;
  *next = get_u8(r);
  switch (type) {
  case MIKEY_PT_KEMAC: {
    if (!need(r, 1, "KEMAC", error))
      return FALSE;
    p->u.kemac.encr_alg = get_u8(r);
    if (!get_counted(r, 2, &p->u.kemac.encr_data, "KEMAC Encr data", error))
      return FALSE;
    if (!parse_mac(r, &p->u.kemac.mac_alg, &p->u.kemac.mac, "KEMAC MAC", error))
      return FALSE;
    break;
  }
  case MIKEY_PT_PKE: {
    if (!need(r, 2, "PKE payload", error))
      return FALSE;
    guint16 v = get_u16(r);
    p->u.pke.c = v >> 14;
    gsize n = v & 0x3fff;
    if (!need(r, n, "PKE data", error))
      return FALSE;
    p->u.pke.data = get_bytes(r, n);
    break;
  }
  case MIKEY_PT_DH: {
    static const gsize group_len[] = { 192, 96, 128 };
    if (!need(r, 1, "DH payload", error))
      return FALSE;
    p->u.dh.group = get_u8(r);
    if (p->u.dh.group >= G_N_ELEMENTS(group_len)) {
      r->pos--;
      return fail_code(r, error, MIKEY_ERR_INVALID_DH, "unknown DH group %u", p->u.dh.group);
    }
    if (!need(r, group_len[p->u.dh.group] + 1, "DH value", error))
      return FALSE;
    p->u.dh.value = get_bytes(r, group_len[p->u.dh.group]);
    p->u.dh.kv_byte = get_u8(r);
    gsize kv_start = r->pos;
    guint kv = p->u.dh.kv_byte & 0x0f;
    g_autoptr(GBytes) a = NULL, b = NULL;
    if (kv == MIKEY_KV_SPI) {
      if (!get_counted(r, 1, &a, "DH KV SPI", error))
        return FALSE;
    } else if (kv == MIKEY_KV_INTERVAL) {
      if (!get_counted(r, 1, &a, "DH KV interval", error) ||
          !get_counted(r, 1, &b, "DH KV interval", error))
        return FALSE;
    } else if (kv != MIKEY_KV_NULL) {
      r->pos--;
      return fail(r, error, "unknown DH key validity type %u", kv);
    }
    p->u.dh.kv_data = g_bytes_new(r->base + kv_start, r->pos - kv_start);
    break;
  }
  case MIKEY_PT_T:
    if (!parse_ts(r, &p->u.t.ts_type, &p->u.t.value, error))
      return FALSE;
    break;
  case MIKEY_PT_TR:
    if (!need(r, 1, "TR payload", error))
      return FALSE;
    p->u.t.role = get_u8(r);
    if (!parse_ts(r, &p->u.t.ts_type, &p->u.t.value, error))
      return FALSE;
    break;
  case MIKEY_PT_ID:
  case MIKEY_PT_CERT:
    if (!need(r, 1, "ID payload", error))
      return FALSE;
    p->u.id.id_type = get_u8(r);
    if (!get_counted(r, 2, &p->u.id.data, "ID data", error))
      return FALSE;
    break;
  case MIKEY_PT_IDR:
    if (!need(r, 2, "IDR payload", error))
      return FALSE;
    p->u.id.role = get_u8(r);
    p->u.id.id_type = get_u8(r);
    if (!get_counted(r, 2, &p->u.id.data, "IDR data", error))
      return FALSE;
    break;
  case MIKEY_PT_CHASH: {
    if (!need(r, 1, "CHASH payload", error))
      return FALSE;
    p->u.chash.func = get_u8(r);
    gsize n = p->u.chash.func == MIKEY_CHASH_SHA1     ? 20
              : p->u.chash.func == MIKEY_CHASH_MD5    ? 16
              : p->u.chash.func == MIKEY_CHASH_SHA256 ? 32
                                                      : 0;
    if (n == 0) {
      r->pos--;
      return fail_code(r, error, MIKEY_ERR_INVALID_HA, "unknown hash function %u", p->u.chash.func);
    }
    if (!need(r, n, "CHASH value", error))
      return FALSE;
    p->u.chash.hash = get_bytes(r, n);
    break;
  }
  case MIKEY_PT_V:
    if (!parse_mac(r, &p->u.v.alg, &p->u.v.mac, "V payload", error))
      return FALSE;
    break;
  case MIKEY_PT_SP:
    if (!parse_sp(r, p, error))
      return FALSE;
    break;
  case MIKEY_PT_RAND:
    if (!get_counted(r, 1, &p->u.rand.data, "RAND", error))
      return FALSE;
    break;
  case MIKEY_PT_RANDR:
    if (!need(r, 1, "RANDR payload", error))
      return FALSE;
    p->u.rand.role = get_u8(r);
    if (!get_counted(r, 1, &p->u.rand.data, "RANDR", error))
      return FALSE;
    break;
  case MIKEY_PT_ERR:
    if (!need(r, 3, "ERR payload", error))
      return FALSE;
    p->u.err.err_no = get_u8(r);
    p->u.err.reserved = get_u16(r);
    break;
  case MIKEY_PT_GEN_EXT:
    if (!need(r, 1, "General Extension", error))
      return FALSE;
    p->u.ext.type = get_u8(r);
    if (!get_counted(r, 2, &p->u.ext.data, "General Extension data", error))
      return FALSE;
    break;
  case MIKEY_PT_SAKKE:
    if (!need(r, 2, "SAKKE payload", error))
      return FALSE;
    p->u.sakke.params = get_u8(r);
    p->u.sakke.id_scheme = get_u8(r);
    if (!get_counted(r, 2, &p->u.sakke.data, "SAKKE data", error))
      return FALSE;
    break;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    if (!parse_ticket_body(r, p, error))
      return FALSE;
    break;
  default:
    g_assert_not_reached(); /* callers check the type first */
  }

done:
  p->offset = r->origin + start;
  p->length = r->pos - start;
  *out = g_steal_pointer(&p);
  return TRUE;
}

static gboolean type_allowed(guint type, gboolean nested)
{
  switch (type) {
  case MIKEY_PT_KEMAC:
  case MIKEY_PT_PKE:
  case MIKEY_PT_DH:
  case MIKEY_PT_SIGN:
  case MIKEY_PT_T:
  case MIKEY_PT_ID:
  case MIKEY_PT_CERT:
  case MIKEY_PT_CHASH:
  case MIKEY_PT_V:
  case MIKEY_PT_SP:
  case MIKEY_PT_RAND:
  case MIKEY_PT_ERR:
  case MIKEY_PT_TR:
  case MIKEY_PT_IDR:
  case MIKEY_PT_RANDR:
  case MIKEY_PT_GEN_EXT:
  case MIKEY_PT_SAKKE:
    return TRUE;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    /* a ticket inside TP Data would allow unbounded recursion; no RFC puts one there */
    return !nested;
  default:
    return FALSE; /* includes Key data (20): only inside a KEMAC */
  }
}

static gboolean parse_chain(Reader *r, guint8 first, GPtrArray *chain, gboolean nested,
                            GError **error)
{
  guint type = first;
  while (type != MIKEY_PT_LAST) {
    if (!type_allowed(type, nested))
      return fail(r, error, "unknown or misplaced payload type %u", type);
    if (++*r->n_payloads > MIKEY_MAX_PAYLOADS)
      return fail(r, error, "more than %d payloads", MIKEY_MAX_PAYLOADS);
    MikeyPayload *p = NULL;
    guint8 next = MIKEY_PT_LAST;
    if (!parse_payload(r, type, &next, &p, error))
      return FALSE;
    g_ptr_array_add(chain, p);
    if (type == MIKEY_PT_SIGN)
      break; /* SIGN is always last */
    type = next;
  }
  if (remaining(r) != 0)
    return fail(r, error, "%" G_GSIZE_FORMAT " trailing bytes after the last payload",
                remaining(r));
  return TRUE;
}

static gboolean check_size(gsize len, GError **error)
{
  if (len > MIKEY_MAX_MESSAGE_SIZE) {
    mikey_set_parse_error(error, 0, "message of %" G_GSIZE_FORMAT " bytes exceeds %d", len,
                          MIKEY_MAX_MESSAGE_SIZE);
    return FALSE;
  }
  return TRUE;
}

gboolean mikey_hdr_peek(const guint8 *data, gsize len, MikeyHdr *hdr, GError **error)
{
  guint counter = 0;
  guint8 first;
  Reader r;
  if (!check_size(len, error))
    return FALSE;
  reader_init(&r, data, len, 0, &counter);
  if (!parse_hdr(&r, hdr, &first, error)) {
    mikey_hdr_clear(hdr);
    return FALSE;
  }
  return TRUE;
}

MikeyMsg *mikey_msg_parse(const guint8 *data, gsize len, GError **error)
{
  guint counter = 0;
  guint8 first;
  Reader r;
  if (!check_size(len, error))
    return NULL;
  g_autoptr(MikeyMsg) msg = g_new0(MikeyMsg, 1);
  msg->payloads = mikey_chain_new();
  reader_init(&r, data, len, 0, &counter);
  if (!parse_hdr(&r, &msg->hdr, &first, error))
    return NULL;
  if (!parse_chain(&r, first, msg->payloads, FALSE, error))
    return NULL;
  msg->raw = g_bytes_new(data, len);
  return g_steal_pointer(&msg);
}

MikeyMsg *mikey_msg_parse_bytes(GBytes *bytes, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  MikeyMsg *msg = mikey_msg_parse(data ? data : (const guint8 *)"", len, error);
  if (msg) {
    g_bytes_unref(msg->raw);
    msg->raw = g_bytes_ref(bytes);
  }
  return msg;
}

GPtrArray *mikey_chain_parse(const guint8 *data, gsize len, gboolean leading_type_byte,
                             MikeyPayloadType first_type, gsize base_offset, GError **error)
{
  guint counter = 0;
  Reader r;
  g_autoptr(GPtrArray) chain = mikey_chain_new();
  if (!check_size(len, error))
    return NULL;
  reader_init(&r, data, len, base_offset, &counter);
  if (len == 0)
    return g_steal_pointer(&chain);
  if (first_type == MIKEY_PT_THDR) {
    guint8 next;
    MikeyPayload *p = NULL;
    counter++;
    if (!parse_payload(&r, MIKEY_PT_THDR, &next, &p, error))
      return NULL;
    g_ptr_array_add(chain, p);
    if (!parse_chain(&r, next, chain, TRUE, error))
      return NULL;
    return g_steal_pointer(&chain);
  }
  guint8 first = first_type;
  if (leading_type_byte) {
    first = get_u8(&r);
    if (first == MIKEY_PT_LAST) {
      fail(&r, error, "payload chain names no payload");
      return NULL;
    }
  }
  /* a chain with a type byte is nested (TP Data, Initiator Data); one without is a payload
   * taken out of a message (mikey_payload_dup), where a TICKET may stand */
  if (!parse_chain(&r, first, chain, leading_type_byte, error))
    return NULL;
  return g_steal_pointer(&chain);
}
