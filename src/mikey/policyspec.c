/* Ticket policies in plain terms (MikeyPolicySpec) <-> TP / TICKET payloads: profile.md §5,
 * mikey-ticket.md §2.3 (TP Data = IDRkms, IDRi, TRs, TRe, [TRr], {IDRapp}, (IDRr)). */
#include "exchange.h"

#include <string.h>

void mikey_policy_spec_clear(MikeyPolicySpec *spec)
{
  if (spec == NULL)
    return;
  g_free(spec->idrkms);
  g_free(spec->idri);
  g_clear_pointer(&spec->idrapp, g_ptr_array_unref);
  g_clear_pointer(&spec->idrr, g_ptr_array_unref);
  memset(spec, 0, sizeof(*spec));
}

static MikeyPayload *tr_new(MikeyTsRole role, MikeyTsType type, guint64 ntp)
{
  /* 32-bit types carry the seconds only (mikey_ts_value64 pads them back). */
  guint64 value = type == MIKEY_TS_NTP_UTC_32 ? ntp >> 32 : ntp;
  return mikey_payload_new_tr(role, type, value);
}

MikeyPayload *mikey_policy_spec_to_payload(const MikeyPolicySpec *spec, MikeyPayloadType type,
                                           GError **error)
{
  g_return_val_if_fail(spec != NULL, NULL);
  if (type != MIKEY_PT_TP && type != MIKEY_PT_TICKET) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "a ticket policy goes into a TP or TICKET payload, not type %u", (guint)type);
    return NULL;
  }
  if (spec->prf != MIKEY_PRF_HMAC_SHA1 && spec->prf != MIKEY_PRF_HMAC_SHA256) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF, "ticket policy with unknown PRF %u",
                (guint)spec->prf);
    return NULL;
  }
  if (spec->idrr == NULL || spec->idrr->len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "ticket policy names no responder (IDRr)");
    return NULL;
  }
  if ((spec->trs || spec->tre) && spec->tr_type != MIKEY_TS_NTP_UTC &&
      spec->tr_type != MIKEY_TS_NTP_UTC_32) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "TRs/TRe must be NTP-UTC or NTP-UTC-32, not timestamp type %u",
                (guint)spec->tr_type);
    return NULL;
  }

  g_autoptr(MikeyPayload) p = mikey_payload_new(type);
  MikeyTicketBody *t = &p->u.ticket;
  t->ticket_type = MIKEY_TICKET_TYPE_MIKEY_BASE;
  t->subtype = 1;
  t->version = 1;
  t->prf = (guint8)spec->prf;
  t->flags = spec->flags & 0x0fff;
  GPtrArray *d = t->tp_data;
  if (spec->idrkms)
    g_ptr_array_add(d, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, spec->idrkms));
  if (spec->idri)
    g_ptr_array_add(d, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_I, spec->idri));
  if (spec->trs)
    g_ptr_array_add(d, tr_new(MIKEY_TS_ROLE_TRS, spec->tr_type, spec->trs));
  if (spec->tre)
    g_ptr_array_add(d, tr_new(MIKEY_TS_ROLE_TRE, spec->tr_type, spec->tre));
  if (spec->trr)
    g_ptr_array_add(d, mikey_payload_new_tr(MIKEY_TS_ROLE_TRR, MIKEY_TS_NTP_UTC_32, spec->trr));
  for (guint i = 0; spec->idrapp && i < spec->idrapp->len; i++)
    g_ptr_array_add(
        d, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_APP, g_ptr_array_index(spec->idrapp, i)));
  for (guint i = 0; i < spec->idrr->len; i++)
    g_ptr_array_add(d,
                    mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, g_ptr_array_index(spec->idrr, i)));
  return g_steal_pointer(&p);
}

/* The ID data of an IDR as a string; NULL (error set) if it holds a NUL byte, which a string
 * could not represent faithfully (two different identities would compare equal). */
static char *idr_string(const MikeyPayload *p, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data(p->u.id.data, &len);
  if (len > 0 && memchr(data, 0, len) != NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "ticket policy IDR (role %u) contains a NUL byte", p->u.id.role);
    return NULL;
  }
  return g_strndup(len ? data : "", len);
}

static gboolean set_once(char **slot, const MikeyPayload *p, const char *name, GError **error)
{
  if (*slot != NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR, "ticket policy has more than one %s",
                name);
    return FALSE;
  }
  *slot = idr_string(p, error);
  return *slot != NULL;
}

static gboolean add_string(GPtrArray **list, const MikeyPayload *p, GError **error)
{
  char *s = idr_string(p, error);
  if (s == NULL)
    return FALSE;
  if (*list == NULL)
    *list = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(*list, s);
  return TRUE;
}

static gboolean read_tr(MikeyPolicySpec *spec, const MikeyPayload *p, GError **error)
{
  guint role = p->u.t.role;
  guint type = p->u.t.ts_type;
  guint64 *slot = role == MIKEY_TS_ROLE_TRS   ? &spec->trs
                  : role == MIKEY_TS_ROLE_TRE ? &spec->tre
                                              : NULL;
  if (role == MIKEY_TS_ROLE_TRR) {
    if (type != MIKEY_TS_NTP_UTC_32) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                  "TRr must be NTP-UTC-32, not timestamp type %u", type);
      return FALSE;
    }
    if (spec->trr) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR, "ticket policy has two TRr");
      return FALSE;
    }
    spec->trr = (guint32)p->u.t.value;
    return TRUE;
  }
  if (slot == NULL)
    return TRUE; /* TRi and private roles: nothing in the spec for them */
  if (type != MIKEY_TS_NTP_UTC && type != MIKEY_TS_NTP_UTC_32) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "TRs/TRe must be NTP-UTC or NTP-UTC-32, not timestamp type %u", type);
    return FALSE;
  }
  if (*slot) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR, "ticket policy has two %s",
                role == MIKEY_TS_ROLE_TRS ? "TRs" : "TRe");
    return FALSE;
  }
  *slot = mikey_ts_value64(p);
  spec->tr_type = type;
  return TRUE;
}

gboolean mikey_policy_spec_from_body(const MikeyTicketBody *body, MikeyPolicySpec *spec,
                                     GError **error)
{
  g_return_val_if_fail(body != NULL && spec != NULL, FALSE);
  memset(spec, 0, sizeof(*spec));
  spec->prf = body->prf;
  spec->flags = body->flags;
  spec->tr_type = MIKEY_TS_NTP_UTC;
  gboolean ok = TRUE;
  for (guint i = 0; ok && body->tp_data && i < body->tp_data->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(body->tp_data, i);
    if (p->type == MIKEY_PT_TR) {
      ok = read_tr(spec, p, error);
      continue;
    }
    if (p->type != MIKEY_PT_IDR)
      continue; /* a KEMAC key template, ...: not part of the spec */
    switch (p->u.id.role) {
    case MIKEY_ID_ROLE_KMS:
      ok = set_once(&spec->idrkms, p, "IDRkms", error);
      break;
    case MIKEY_ID_ROLE_I:
      ok = set_once(&spec->idri, p, "IDRi", error);
      break;
    case MIKEY_ID_ROLE_APP:
      ok = add_string(&spec->idrapp, p, error);
      break;
    case MIKEY_ID_ROLE_R:
      ok = add_string(&spec->idrr, p, error);
      break;
    default:
      break;
    }
  }
  if (ok && (spec->idrr == NULL || spec->idrr->len == 0)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR,
                "ticket policy names no responder (IDRr)");
    ok = FALSE;
  }
  if (!ok)
    mikey_policy_spec_clear(spec);
  return ok;
}
