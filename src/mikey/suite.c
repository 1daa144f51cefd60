/* The two algorithm suites of the profile (profile.md §4, mikey-ticket.md §2.2): PRF 1 goes with
 * AES-CM-256 and HMAC-SHA-256-256, PRF 0 with AES-CM-128 and HMAC-SHA-1-160, and a message never
 * mixes them (profile §3: ERR 2 / 3 / 4). */
#include "exchange.h"

#include <stdarg.h>

MikeyEncrAlg mikey_suite_encr_alg(MikeyPrf prf)
{
  return prf == MIKEY_PRF_HMAC_SHA256 ? MIKEY_ENCR_AES_CM_256 : MIKEY_ENCR_AES_CM_128;
}

MikeyMacAlg mikey_suite_mac_alg(MikeyPrf prf)
{
  return prf == MIKEY_PRF_HMAC_SHA256 ? MIKEY_MAC_HMAC_SHA256_256 : MIKEY_MAC_HMAC_SHA1_160;
}

gsize mikey_suite_key_len(MikeyPrf prf)
{
  return prf == MIKEY_PRF_HMAC_SHA256 ? 32 : 16;
}

static gboolean prf_known(guint prf)
{
  return prf == MIKEY_PRF_HMAC_SHA1 || prf == MIKEY_PRF_HMAC_SHA256;
}

static const char *prf_name(guint prf)
{
  return prf == MIKEY_PRF_HMAC_SHA256 ? "PRF-HMAC-SHA-256" : "MIKEY-1 (HMAC-SHA-1)";
}

/* The first problem of each kind found in a message: PRF (ERR 2), MAC algorithm (ERR 3),
 * encryption algorithm (ERR 4). Reported in that order, whatever the payload order, so one
 * message always gets the same answer. */
typedef struct {
  GError *prf, *mac, *encr;
} SuiteProblems;

G_GNUC_PRINTF(3, 4)
static void note(GError **slot, MikeyErrNo code, const char *fmt, ...)
{
  if (*slot != NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  *slot = g_error_new_valist(MIKEY_ERROR, (gint)code, fmt, ap);
  va_end(ap);
}

/* A KEMAC of the message (in_tp: a key request template inside TP Data, which is NULL/NULL by
 * RFC 6043 6.10). Its MAC may be NULL: the profile protects every KEMAC with the V. */
static void check_kemac(const MikeyPayload *p, MikeyPrf prf, gboolean in_tp, SuiteProblems *sp)
{
  guint encr = p->u.kemac.encr_alg;
  guint mac = p->u.kemac.mac_alg;
  if (encr != mikey_suite_encr_alg(prf) && !(in_tp && encr == MIKEY_ENCR_NULL))
    note(&sp->encr, MIKEY_ERR_INVALID_EA,
         "KEMAC%s encryption algorithm %u does not belong to the suite of %s",
         in_tp ? " in TP Data" : "", encr, prf_name(prf));
  if (mac != MIKEY_MAC_NULL && mac != mikey_suite_mac_alg(prf))
    note(&sp->mac, MIKEY_ERR_INVALID_MAC,
         "KEMAC%s MAC algorithm %u does not belong to the suite of %s", in_tp ? " in TP Data" : "",
         mac, prf_name(prf));
}

gboolean mikey_suite_check(const MikeyMsg *msg, GError **error)
{
  g_return_val_if_fail(msg != NULL, FALSE);
  guint prf = msg->hdr.prf;
  if (!prf_known(prf)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF, "unknown PRF %u in the common header",
                prf);
    return FALSE;
  }
  SuiteProblems sp = { NULL, NULL, NULL };
  for (guint i = 0; i < msg->payloads->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(msg->payloads, i);
    switch (p->type) {
    case MIKEY_PT_V:
      if (p->u.v.alg != mikey_suite_mac_alg(prf))
        note(&sp.mac, MIKEY_ERR_INVALID_MAC,
             "V payload MAC algorithm %u does not belong to the suite of %s", p->u.v.alg,
             prf_name(prf));
      break;
    case MIKEY_PT_KEMAC:
      check_kemac(p, prf, FALSE, &sp);
      break;
    case MIKEY_PT_TP:
    case MIKEY_PT_TICKET: {
      const MikeyTicketBody *t = &p->u.ticket;
      if (t->prf != prf)
        note(&sp.prf, MIKEY_ERR_INVALID_PRF, "%s PRF %u differs from the common header's PRF %u",
             p->type == MIKEY_PT_TP ? "ticket policy" : "ticket", t->prf, prf);
      for (guint j = 0; t->tp_data && j < t->tp_data->len; j++) {
        const MikeyPayload *q = g_ptr_array_index(t->tp_data, j);
        if (q->type == MIKEY_PT_KEMAC)
          check_kemac(q, prf, TRUE, &sp);
      }
      break;
    }
    default:
      break;
    }
  }
  GError *first = sp.prf ? sp.prf : sp.mac ? sp.mac : sp.encr;
  gboolean ok = first == NULL;
  if (!ok)
    g_propagate_error(error, g_error_copy(first));
  g_clear_error(&sp.prf);
  g_clear_error(&sp.mac);
  g_clear_error(&sp.encr);
  return ok;
}
