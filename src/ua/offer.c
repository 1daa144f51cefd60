/* The MIKEY side of mikeyua (offer.h). */
#include "offer.h"

#include "common/sipuri.h"
#include "mikey/kdf.h"
#include "mikey/mac.h"
#include "mikey/ntp.h"
#include "mikey/policy.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define STALE_SECONDS 600 /* well outside the default 120 s window (profile 4) */

static gboolean random_u32(guint32 *v, GError **error)
{
  return mikey_random_bytes((guint8 *)v, sizeof *v, error);
}

static guint64 ntp_plus(guint64 ntp, gint64 seconds)
{
  return ntp + (guint64)(seconds * ((gint64)1 << 32));
}

/* ------------------------------------------------------------------ Ticket Request */

GBytes *ua_ticket_request_build(const Credential *cred, const char *const *recipients,
                                GError **error)
{
  guint64 now = mikey_ntp_now();
  MikeyPolicySpec spec = { 0 };
  spec.prf = MIKEY_PRF_HMAC_SHA256;
  /* profile 5: the flags the KMS grants; J so that the owner may offer its ticket again */
  spec.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
               MIKEY_TP_J | MIKEY_TP_N | MIKEY_TP_O;
  spec.idrkms = g_strdup(cred->kms_uri);
  spec.idri = g_strdup(cred->identity);
  spec.trs = now;
  spec.tre = ntp_plus(now, UA_TICKET_LIFETIME_S);
  spec.tr_type = MIKEY_TS_NTP_UTC;
  spec.idrr = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; recipients[i]; i++)
    g_ptr_array_add(spec.idrr, g_strdup(recipients[i]));
  guint8 randri[MIKEY_RAND_LEN];
  guint32 csb_id;
  GBytes *out = NULL;
  if (mikey_random_bytes(randri, sizeof randri, error) && random_u32(&csb_id, error)) {
    MikeyRequestInitParams p = {
      MIKEY_PRF_HMAC_SHA256, csb_id,        now,          randri,    sizeof randri,
      cred->identity,        cred->kms_uri, cred->psk_id, cred->psk, &spec
    };
    out = mikey_request_init_build(&p, error);
  }
  mikey_policy_spec_clear(&spec);
  return out;
}

static gboolean names_factory(const char *const *recipients)
{
  for (guint i = 0; recipients && recipients[i]; i++)
    if (sip_uri_match("sip:conference-factory@*", recipients[i]) ||
        sip_uri_match("sips:conference-factory@*", recipients[i]))
      return TRUE;
  return FALSE;
}

static const char *refusal_hint(guint err_no, const Credential *cred, const char *const *recipients)
{
  switch (err_no) {
  case MIKEY_ERR_AUTH_FAILURE:
    return "the KMS does not accept this credential's key: is the credential file current?";
  case MIKEY_ERR_INVALID_TS:
    return "timestamp outside the KMS's window (clock skew) or a replayed request";
  case MIKEY_ERR_INVALID_ID:
    return "the KMS does not know this user, the user is disabled, or the credential is for "
           "another KMS";
  case MIKEY_ERR_INVALID_TPPAR:
    return names_factory(recipients)
               ? "a ticket naming a conference factory needs a user allowed to create "
                 "conferences (mikeykmsd user set IDENTITY --may-create), and at most "
                 "max-recipients recipients"
               : "too many recipients, or a validity the KMS refuses";
  default:
    return NULL;
  }
}

gboolean ua_ticket_open(const Credential *cred, const char *const *recipients, GBytes *request,
                        guint http_status, GBytes *answer, MikeyTicketGrant *grant, GError **error)
{
  memset(grant, 0, sizeof *grant);
  if (!answer) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "KMS answered HTTP %u without a MIKEY body%s",
                http_status, http_status == 503 ? " (overloaded: try again later)" : "");
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  if (mikey_request_resp_open(answer, request, cred->psk, grant, &local)) {
    if (http_status != 200) {
      mikey_ticket_grant_clear(grant);
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                  "KMS answered HTTP %u with a ticket; refusing it", http_status);
      return FALSE;
    }
    return TRUE;
  }
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(answer, NULL);
  if (m && m->hdr.data_type == MIKEY_DT_ERROR) {
    const char *hint = refusal_hint((guint)local->code, cred, recipients);
    MikeyPayload *err = mikey_msg_find(m, MIKEY_PT_ERR, 0, 0);
    guint no = err ? err->u.err.err_no : MIKEY_ERR_UNSPECIFIED;
    g_set_error(error, MIKEY_ERROR, (gint)no,
                "KMS refused the ticket request for %s (HTTP %u): %s (ERR %u)%s%s", cred->identity,
                http_status, mikey_err_name(no), no, hint ? ": " : "", hint ? hint : "");
    return FALSE;
  }
  g_set_error(error, MIKEY_ERROR, local->code, "KMS answer (HTTP %u) does not verify: %s",
              http_status, local->message);
  return FALSE;
}

static char *id_string(const MikeyPayload *p)
{
  gsize n;
  const char *d = g_bytes_get_data(p->u.id.data, &n);
  return g_strndup(d, n);
}

static char *ntp_iso(guint64 ntp)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(mikey_ntp_to_unix_sec(ntp));
  return dt ? g_date_time_format_iso8601(dt) : g_strdup("?");
}

char *ua_ticket_describe(const MikeyTicketGrant *grant, gboolean json)
{
  const MikeyTicketBody *tb = &grant->ticket->u.ticket;
  g_autofree char *flags = mikey_policy_flags_to_string(tb->flags);
  g_autofree char *fp = mikey_ticket_fingerprint(grant->ticket);
  guint64 trs = 0, tre = 0;
  gboolean has_trs = mikey_policy_get_trs(tb, &trs);
  gboolean has_tre = mikey_policy_get_tre(tb, &tre);
  g_autofree char *trs_s = has_trs ? ntp_iso(trs) : NULL;
  g_autofree char *tre_s = has_tre ? ntp_iso(tre) : NULL;
  MikeyPayload *kms = mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, 0);
  MikeyPayload *idri = mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
  g_autofree char *kms_s = kms ? id_string(kms) : NULL;
  g_autofree char *idri_s = idri ? id_string(idri) : NULL;
  guint n_r = mikey_chain_count(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);

  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ticket_type");
    json_builder_add_int_value(b, tb->ticket_type);
    json_builder_set_member_name(b, "prf");
    json_builder_add_int_value(b, tb->prf);
    json_builder_set_member_name(b, "flags");
    json_builder_add_string_value(b, flags);
    json_builder_set_member_name(b, "kms");
    json_builder_add_string_value(b, kms_s);
    json_builder_set_member_name(b, "initiator");
    json_builder_add_string_value(b, idri_s);
    json_builder_set_member_name(b, "valid_from");
    json_builder_add_string_value(b, trs_s);
    json_builder_set_member_name(b, "valid_until");
    json_builder_add_string_value(b, tre_s);
    json_builder_set_member_name(b, "recipients");
    json_builder_begin_array(b);
    for (guint i = 0; i < n_r; i++) {
      g_autofree char *r =
          id_string(mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i));
      json_builder_add_string_value(b, r);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "fingerprint");
    json_builder_add_string_value(b, fp);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_pretty(g, TRUE);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    return json_generator_to_data(g, NULL);
  }
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "ticket type:  %u/%u/%u (MIKEY base ticket)\n", tb->ticket_type,
                         tb->subtype, tb->version);
  g_string_append_printf(s, "prf:          %u\n", tb->prf);
  g_string_append_printf(s, "flags:        %s\n", flags);
  g_string_append_printf(s, "kms:          %s\n", kms_s ? kms_s : "-");
  g_string_append_printf(s, "initiator:    %s\n", idri_s ? idri_s : "-");
  g_string_append_printf(s, "valid from:   %s\n", trs_s ? trs_s : "-");
  g_string_append_printf(s, "valid until:  %s\n", tre_s ? tre_s : "-");
  for (guint i = 0; i < n_r; i++) {
    g_autofree char *r = id_string(mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i));
    g_string_append_printf(s, "recipient:    %s\n", r);
  }
  g_string_append_printf(s, "fingerprint:  %s\n", fp);
  return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ TRANSFER_INIT */

static GBytes *flip_last_bit(GBytes *b)
{
  gsize n;
  guint8 *d = g_bytes_unref_to_data(b, &n);
  d[n - 1] ^= 0x01;
  return g_bytes_new_take(d, n);
}

GBytes *ua_transfer_init_build(const UaTransferInitParams *p, GError **error)
{
  guint8 randri[MIKEY_RAND_LEN];
  guint32 csb_id;
  if (!mikey_random_bytes(randri, sizeof randri, error) || !random_u32(&csb_id, error))
    return NULL;
  guint64 t = mikey_ntp_now();
  if (p->fault == UA_FAULT_STALE_TIMESTAMP)
    t = ntp_plus(t, -STALE_SECONDS);
  /* --fault tamper-ticket: a ticket changed after the KMS sealed it, in an otherwise valid
   * offer (the KMS must refuse it at the resolve) */
  MikeyTicketGrant tampered;
  const MikeyTicketGrant *grant = p->grant;
  g_autoptr(MikeyPayload) bad_ticket = NULL;
  if (p->fault == UA_FAULT_TAMPER_TICKET) {
    bad_ticket = mikey_payload_dup(p->grant->ticket, error);
    if (!bad_ticket)
      return NULL;
    gsize n;
    guint8 *d = g_bytes_unref_to_data(bad_ticket->u.ticket.ticket_data, &n);
    d[n / 2] ^= 0x01;
    bad_ticket->u.ticket.ticket_data = g_bytes_new_take(d, n);
    tampered = *p->grant;
    tampered.ticket = bad_ticket;
    grant = &tampered;
  }
  MikeyTransferInitParams tp = { .prf = grant->ticket->u.ticket.prf,
                                 .csb_id = csb_id,
                                 .t = t,
                                 .randri = randri,
                                 .randri_len = sizeof randri,
                                 .idri = p->idri,
                                 .idrr = p->idrr,
                                 .ssrc = p->ssrc,
                                 .roc = 0,
                                 .seq = p->seq,
                                 .spi = grant->tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = grant,
                                 .policies = p->policies,
                                 .n_policies = p->n_policies };
  g_autoptr(GBytes) built = mikey_transfer_init_build(&tp, error);
  if (!built)
    return NULL;
  if (p->fault == UA_FAULT_TAMPER_MAC)
    return flip_last_bit(g_steal_pointer(&built));
  return g_steal_pointer(&built);
}

GBytes *ua_csb_update_build(const MikeyCsbState *state, guint32 ssrc, guint16 seq,
                            const guint8 *policies, guint n_policies, UaFaultKind fault,
                            GError **error)
{
  guint64 t = mikey_ntp_now();
  if (fault == UA_FAULT_STALE_TIMESTAMP)
    t = ntp_plus(t, -STALE_SECONDS);
  g_autoptr(GBytes) built =
      mikey_csb_update_init_build(state, t, ssrc, 0, seq, policies, n_policies, error);
  if (!built)
    return NULL;
  if (fault == UA_FAULT_TAMPER_MAC)
    return flip_last_bit(g_steal_pointer(&built));
  return g_steal_pointer(&built);
}

static gboolean check_offered(const MikeyTransferAnswer *a, const guint8 *policies, guint n,
                              GError **error)
{
  for (guint i = 0; i < n; i++)
    if (policies[i] == a->policy_no)
      return TRUE;
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP,
              "the answer chose SRTP policy %u (%s), which was not offered", a->policy_no,
              ua_policy_name(a->policy_no));
  return FALSE;
}

gboolean ua_transfer_answer_open(GBytes *resp, GBytes *transfer_init, const MikeyTicketGrant *grant,
                                 const guint8 *policies, guint n_policies, MikeyCsbState *state,
                                 MikeyTransferAnswer *answer, GError **error)
{
  MikeyCsbState s = { 0 };
  if (!mikey_transfer_resp_open(resp, transfer_init, grant, &s, answer, error))
    return FALSE;
  if (!check_offered(answer, policies, n_policies, error)) {
    mikey_csb_state_clear(&s);
    return FALSE;
  }
  mikey_csb_state_clear(state);
  *state = s;
  return TRUE;
}

gboolean ua_csb_update_answer_open(GBytes *resp, GBytes *update_init, const MikeyCsbState *state,
                                   const guint8 *policies, guint n_policies,
                                   MikeyTransferAnswer *answer, GError **error)
{
  return mikey_csb_update_resp_open(resp, update_init, state, answer, error) &&
         check_offered(answer, policies, n_policies, error);
}

const char *ua_policy_name(guint8 policy_no)
{
  switch (policy_no) {
  case MIKEY_POLICY_AEAD_AES_128_GCM:
    return "AEAD_AES_128_GCM";
  case MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80:
    return "AES_CM_128_HMAC_SHA1_80";
  default:
    return "unknown";
  }
}

/* ------------------------------------------------------------------ profile 7.3 */

char *ua_action_idrr(UaActionKind kind, const char *conference_uri, const char *original_target,
                     const MikeyCsbState *state)
{
  switch (kind) {
  case UA_ACTION_NEW_TICKET:
  case UA_ACTION_FOCUS_TICKET:
    return g_strdup(conference_uri);
  case UA_ACTION_SAME_TICKET:
    return g_strdup(original_target);
  case UA_ACTION_CSB_UPDATE:
    if (!state || !state->id_r)
      return NULL;
    gsize n;
    const char *d = g_bytes_get_data(state->id_r, &n);
    return g_strndup(d, n);
  }
  return NULL;
}

char **ua_action_recipients(const UaAction *action, const char *conference_uri)
{
  if (action->kind != UA_ACTION_NEW_TICKET && action->kind != UA_ACTION_FOCUS_TICKET)
    return NULL;
  GPtrArray *r = g_ptr_array_new();
  g_ptr_array_add(r, g_strdup(conference_uri));
  for (guint i = 0; action->kind == UA_ACTION_NEW_TICKET && action->uris && action->uris[i]; i++)
    if (!sip_uri_equal(action->uris[i], conference_uri))
      g_ptr_array_add(r, g_strdup(action->uris[i]));
  g_ptr_array_add(r, NULL);
  return (char **)g_ptr_array_free(r, FALSE);
}
