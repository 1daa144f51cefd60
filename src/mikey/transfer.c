/* Ticket Transfer (RFC 6043 4.2.5-4.2.6, profile 6 and 7.3): TRANSFER_INIT/TRANSFER_RESP,
 * initial and CSB update, for both the Initiator (mikeyua) and the Responder (the focus). */
#include "exchange.h"

#include "kdf.h"

#include <string.h>

/* ------------------------------------------------------------------ profile SRTP policies */

typedef struct {
  guint8 type;
  guint8 value;
} Tlv;

/* profile 6: exactly these TLVs, in this order when we send them */
static const Tlv policy_gcm[] = {
  { MIKEY_SRTP_ENCR_ALG, MIKEY_SRTP_ENCR_AES_GCM },
  { MIKEY_SRTP_ENCR_KEY_LEN, 16 },
  { MIKEY_SRTP_SALT_LEN, 12 },
  { MIKEY_SRTP_AEAD_TAG_LEN, 16 },
};
static const Tlv policy_aes_cm[] = {
  { MIKEY_SRTP_ENCR_ALG, MIKEY_SRTP_ENCR_AES_CM },
  { MIKEY_SRTP_ENCR_KEY_LEN, 16 },
  { MIKEY_SRTP_AUTH_ALG, 1 },
  { MIKEY_SRTP_AUTH_KEY_LEN, 20 },
  { MIKEY_SRTP_SALT_LEN, 14 },
  { MIKEY_SRTP_AUTH_TAG_LEN, 10 },
};

static const Tlv *profile_policy(guint8 policy_no, gsize *n)
{
  switch (policy_no) {
  case MIKEY_POLICY_AEAD_AES_128_GCM:
    *n = G_N_ELEMENTS(policy_gcm);
    return policy_gcm;
  case MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80:
    *n = G_N_ELEMENTS(policy_aes_cm);
    return policy_aes_cm;
  default:
    *n = 0;
    return NULL;
  }
}

MikeyPayload *mikey_profile_sp(guint8 policy_no)
{
  gsize n;
  const Tlv *tlv = profile_policy(policy_no, &n);
  MikeyPayload *sp = mikey_payload_new_sp(policy_no, MIKEY_PROT_SRTP);
  for (gsize i = 0; i < n; i++)
    mikey_sp_add_param(sp, tlv[i].type, &tlv[i].value, 1);
  return sp;
}

gsize mikey_profile_salt_len(guint8 policy_no)
{
  return policy_no == MIKEY_POLICY_AEAD_AES_128_GCM ? 12 : 14;
}

/* An SP is a profile policy when its TLVs are exactly the profile's set (any order). */
int mikey_profile_sp_match(const MikeyPayload *sp)
{
  if (sp->type != MIKEY_PT_SP || sp->u.sp.prot_type != MIKEY_PROT_SRTP)
    return -1;
  for (guint8 no = MIKEY_POLICY_AEAD_AES_128_GCM; no <= MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80;
       no++) {
    gsize n;
    const Tlv *tlv = profile_policy(no, &n);
    if (sp->u.sp.params->len != n)
      continue;
    gsize found = 0;
    for (gsize i = 0; i < n; i++) {
      for (guint j = 0; j < sp->u.sp.params->len; j++) {
        const MikeySpParam *param = g_ptr_array_index(sp->u.sp.params, j);
        gsize vlen;
        const guint8 *v = g_bytes_get_data(param->value, &vlen);
        if (param->type == tlv[i].type && vlen == 1 && v[0] == tlv[i].value) {
          found++;
          break;
        }
      }
    }
    if (found == n)
      return no;
  }
  return -1;
}

/* ------------------------------------------------------------------ helpers */

static GBytes *str_bytes(const char *s)
{
  return g_bytes_new(s, strlen(s));
}

static MikeyIov iov_bytes(GBytes *b)
{
  gsize n = 0;
  const guint8 *d = b ? g_bytes_get_data(b, &n) : NULL;
  return (MikeyIov){ d, n };
}

static const guint8 *bytes_data(GBytes *b, gsize *len)
{
  *len = 0;
  return b ? g_bytes_get_data(b, len) : NULL;
}

static GBytes *payload_data(const MikeyMsg *msg, MikeyPayloadType type, guint8 role)
{
  MikeyPayload *p = mikey_msg_find(msg, type, role, 0);
  if (!p)
    return NULL;
  if (type == MIKEY_PT_IDR)
    return p->u.id.data;
  if (type == MIKEY_PT_RANDR)
    return p->u.rand.data;
  if (type == MIKEY_PT_GEN_EXT)
    return p->u.ext.data;
  return NULL;
}

gboolean mikey_reply_check_error(const MikeyMsg *msg, const char *who, GError **error)
{
  if (msg->hdr.data_type != MIKEY_DT_ERROR)
    return TRUE;
  MikeyPayload *err = mikey_msg_find(msg, MIKEY_PT_ERR, 0, 0);
  guint no = err ? err->u.err.err_no : MIKEY_ERR_UNSPECIFIED;
  g_set_error(error, MIKEY_ERROR, (gint)no, "%s refused: %s (ERR %u)", who, mikey_err_name(no), no);
  return FALSE;
}

static const guint8 profile_order[] = { MIKEY_POLICY_AEAD_AES_128_GCM,
                                        MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80 };

/* The offered policy list: profile policies, 1 or 2 of them, no repeats. */
static gboolean offer_policies(const guint8 **policies, guint *n, GError **error)
{
  if (*policies == NULL) {
    *policies = profile_order;
    *n = G_N_ELEMENTS(profile_order);
    return TRUE;
  }
  gboolean ok = *n >= 1 && *n <= G_N_ELEMENTS(profile_order);
  for (guint i = 0; ok && i < *n; i++)
    ok = (*policies)[i] <= MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80 &&
         (i == 0 || (*policies)[i] != (*policies)[0]);
  if (!ok)
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP,
                "an offer names one or two of the profile's SRTP policies, each once");
  return ok;
}

static void add_cs(MikeyMsg *msg, guint8 cs_id, const guint8 *policies, guint n_policies,
                   GBytes *sd, GBytes *spi)
{
  MikeyCs *cs = mikey_cs_new();
  cs->cs_id = cs_id;
  cs->prot_type = MIKEY_PROT_SRTP;
  cs->s_flag = TRUE;
  cs->n_policies = (guint8)n_policies;
  memcpy(cs->policies, policies, n_policies);
  g_bytes_unref(cs->session_data);
  cs->session_data = g_bytes_ref(sd);
  if (spi) {
    g_bytes_unref(cs->spi);
    cs->spi = g_bytes_ref(spi);
  }
  g_ptr_array_add(msg->hdr.cs, cs);
}

static GBytes *session_data(guint32 ssrc, guint32 roc, guint16 seq)
{
  MikeySrtpSessionData sd = { .ssrc = ssrc, .roc = roc, .seq = seq, .has_roc_seq = TRUE };
  return mikey_srtp_session_data_encode(&sd);
}

/* The offer's map: CS 1 = the Initiator's stream, CS 2 = the Responder's (zeros). */
static void add_offer_map(MikeyMsg *msg, guint32 ssrc, guint32 roc, guint16 seq, GBytes *spi,
                          const guint8 *policies, guint n_policies)
{
  g_autoptr(GBytes) sd1 = session_data(ssrc, roc, seq);
  g_autoptr(GBytes) sd2 = session_data(0, 0, 0);
  add_cs(msg, 1, policies, n_policies, sd1, spi);
  add_cs(msg, 2, policies, n_policies, sd2, spi);
}

static void add_offer_sps(MikeyMsg *msg, const guint8 *policies, guint n_policies)
{
  for (guint i = 0; i < n_policies; i++)
    mikey_msg_add(msg, mikey_profile_sp(policies[i]));
}

/* The answer's map: each offered CS with the chosen policy, CS 2 with our stream. */
static void add_answer_map(MikeyMsg *msg, const MikeyMsg *offer, guint8 policy_no, guint32 ssrc,
                           guint32 roc, guint16 seq, GBytes *spi)
{
  g_autoptr(GBytes) ours = session_data(ssrc, roc, seq);
  for (guint i = 0; i < offer->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(offer->hdr.cs, i);
    GBytes *cs_spi = g_bytes_get_size(cs->spi) ? cs->spi : spi;
    add_cs(msg, cs->cs_id, &policy_no, 1, cs->cs_id == 2 ? ours : cs->session_data, cs_spi);
  }
}

static MikeySecret *response_auth_key(MikeyPrf prf, const MikeySecret *inkey, guint32 csb_id,
                                      GBytes *randri, GBytes *randrr, GError **error)
{
  gsize ri_len, rr_len;
  const guint8 *ri = bytes_data(randri, &ri_len);
  const guint8 *rr = bytes_data(randrr, &rr_len);
  gssize len = mikey_auth_key_len(mikey_suite_mac_alg(prf));
  return mikey_kdf_msg(prf, inkey, MIKEY_C_AUTH, csb_id, MIKEY_LABEL_RESPONSE, ri, ri_len, rr,
                       rr_len, (gsize)len, error);
}

static guint16 ticket_flags(const MikeyPayload *ticket)
{
  return ticket ? ticket->u.ticket.flags : 0;
}

/* ------------------------------------------------------------------ CSB state */

void mikey_csb_state_clear(MikeyCsbState *s)
{
  g_clear_pointer(&s->randri, g_bytes_unref);
  g_clear_pointer(&s->randrr, g_bytes_unref);
  g_clear_pointer(&s->tgk, mikey_secret_free);
  g_clear_pointer(&s->spi, g_bytes_unref);
  g_clear_pointer(&s->auth_key, mikey_secret_free);
  g_clear_pointer(&s->id_i, g_bytes_unref);
  g_clear_pointer(&s->id_r, g_bytes_unref);
  memset(s, 0, sizeof *s);
}

gboolean mikey_csb_srtp_keys(const MikeyCsbState *s, guint8 cs_id, gsize salt_len,
                             MikeySecret **master_key, MikeySecret **master_salt, GError **error)
{
  /* RFC 6043 5.1.3: RANDRi iff H, RANDRr iff G */
  gsize ri_len = 0, rr_len = 0;
  const guint8 *ri = (s->flags & MIKEY_TP_H) ? bytes_data(s->randri, &ri_len) : NULL;
  const guint8 *rr = (s->flags & MIKEY_TP_G) ? bytes_data(s->randrr, &rr_len) : NULL;
  g_autoptr(MikeySecret) key =
      mikey_kdf_tek(s->prf, s->tgk, MIKEY_C_TEK, cs_id, ri, ri_len, rr, rr_len, 16, error);
  if (!key)
    return FALSE;
  g_autoptr(MikeySecret) salt = mikey_kdf_tek(s->prf, s->tgk, MIKEY_C_SRTP_SALT, cs_id, ri, ri_len,
                                              rr, rr_len, salt_len, error);
  if (!salt)
    return FALSE;
  *master_key = g_steal_pointer(&key);
  *master_salt = g_steal_pointer(&salt);
  return TRUE;
}

/* ------------------------------------------------------------------ initial TRANSFER_INIT */

GBytes *mikey_transfer_init_build(const MikeyTransferInitParams *p, GError **error)
{
  const MikeyTicketGrant *grant = p->grant;
  const MikeyTicketBody *tb = &grant->ticket->u.ticket;
  MikeyMacAlg alg = mikey_suite_mac_alg(p->prf);
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_TRANSFER_INIT, p->prf, p->csb_id, MIKEY_MAP_GENERIC_ID);
  const guint8 *policies = p->policies;
  guint n_policies = p->n_policies;
  if (!offer_policies(&policies, &n_policies, error))
    return NULL;
  msg->hdr.v = (tb->flags & MIKEY_TP_F) != 0; /* V = F (mikey-ticket.md trap 15) */
  add_offer_map(msg, p->ssrc, p->roc, p->seq, p->spi, policies, n_policies);
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, p->t));
  mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_I, p->randri, p->randri_len));
  if (!p->omit_idri)
    mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_I, p->idri));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, p->idrr));
  add_offer_sps(msg, policies, n_policies);
  if (p->sdp_ids)
    mikey_msg_add(msg, mikey_payload_new_ext(MIKEY_GEN_EXT_SDP_IDS, (const guint8 *)p->sdp_ids,
                                             strlen(p->sdp_ids)));
  MikeyPayload *ticket = mikey_payload_dup(grant->ticket, error);
  if (!ticket)
    return NULL;
  mikey_msg_add(msg, ticket);
  MikeyPayload *v = mikey_msg_add(msg, mikey_payload_new_v(alg));

  g_autoptr(MikeySecret) auth =
      mikey_kdf_msg(p->prf, grant->mpki, MIKEY_C_AUTH, p->csb_id, MIKEY_LABEL_INITIAL, p->randri,
                    p->randri_len, NULL, 0, (gsize)mikey_auth_key_len(alg), error);
  if (!auth)
    return NULL;
  MikeyIov ids[2] = { { (const guint8 *)p->idri, strlen(p->idri) },
                      { (const guint8 *)p->idrr, strlen(p->idrr) } };
  /* The V MAC leaves out the Initiator Data, so it can be computed first and then copied
   * into Vi (profile 6). */
  g_autoptr(GBytes) signed_once = mikey_msg_sign(msg, auth, ids, 2, error);
  if (!signed_once)
    return NULL;
  if (!(tb->flags & MIKEY_TP_I))
    return g_bytes_ref(msg->raw);
  if (!grant->mpkr) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET,
                "the ticket forks keys but the grant has no MPKr");
    return NULL;
  }
  GBytes *init_data = mikey_initiator_data_build(tb->prf, alg, v->u.v.mac, grant->mpkr, error);
  if (!init_data)
    return NULL;
  g_bytes_unref(ticket->u.ticket.initiator_data);
  ticket->u.ticket.initiator_data = init_data;
  return mikey_msg_encode(msg, error);
}

/* ------------------------------------------------------------------ responder: parse */

void mikey_transfer_init_view_clear(MikeyTransferInitView *view)
{
  g_clear_pointer(&view->msg, mikey_msg_free);
  memset(view, 0, sizeof *view);
}

gboolean mikey_transfer_init_parse(GBytes *bytes, MikeyTransferInitView *view, GError **error)
{
  memset(view, 0, sizeof *view);
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(bytes, error);
  if (!msg)
    return FALSE;
  if (msg->hdr.data_type != MIKEY_DT_TRANSFER_INIT) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_DT,
                "data type %u where TRANSFER_INIT (14) belongs", msg->hdr.data_type);
    return FALSE;
  }
  if (msg->hdr.map_type != MIKEY_MAP_GENERIC_ID) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "TRANSFER_INIT with CS ID map type %u (GENERIC-ID required)", msg->hdr.map_type);
    return FALSE;
  }
  gboolean have_cs1 = FALSE, have_cs2 = FALSE;
  for (guint i = 0; i < msg->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(msg->hdr.cs, i);
    have_cs1 |= cs->cs_id == 1;
    have_cs2 |= cs->cs_id == 2;
    if (cs->prot_type != MIKEY_PROT_SRTP) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP, "crypto session %u is not SRTP",
                  cs->cs_id);
      return FALSE;
    }
  }
  if (!have_cs1 || !have_cs2 || msg->hdr.cs->len != 2) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "TRANSFER_INIT must describe crypto sessions 1 and 2");
    return FALSE;
  }
  if (!mikey_suite_check(msg, error))
    return FALSE;
  MikeyPayload *t = mikey_msg_find(msg, MIKEY_PT_T, 0, 0);
  MikeyPayload *last = g_ptr_array_index(msg->payloads, msg->payloads->len - 1);
  if (!t || last->type != MIKEY_PT_V) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "TRANSFER_INIT without %s",
                t ? "a closing V payload" : "a T payload");
    return FALSE;
  }
  if (t->u.t.ts_type == MIKEY_TS_COUNTER) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TS, "COUNTER timestamps are refused");
    return FALSE;
  }
  if (mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0)) {
    /* the granted policy has L = 0: session keys come from the KMS only (profile 7.3) */
    g_set_error(
        error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
        "KEMAC in TRANSFER_INIT refused: the ticket policy does not let the initiator supply keys");
    return FALSE;
  }
  view->randri = payload_data(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I);
  view->ticket = mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0);
  if (!view->randri != !view->ticket) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "TRANSFER_INIT with %s but no %s",
                view->ticket ? "a TICKET" : "RANDRi", view->ticket ? "RANDRi" : "TICKET");
    return FALSE;
  }
  view->is_update = view->ticket == NULL;
  view->t = mikey_ts_value64(t);
  view->id_i = payload_data(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_I);
  view->id_r = payload_data(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint n = 0; n < mikey_chain_count(msg->payloads, MIKEY_PT_GEN_EXT, 0); n++) {
    MikeyPayload *ext = mikey_msg_find(msg, MIKEY_PT_GEN_EXT, 0, n);
    if (ext->u.ext.type == MIKEY_GEN_EXT_SDP_IDS) {
      view->sdp_ids = ext->u.ext.data;
      break;
    }
  }
  view->msg = g_steal_pointer(&msg);
  return TRUE;
}

gboolean mikey_transfer_choose_policy(const MikeyTransferInitView *view, guint8 *policy_no,
                                      GError **error)
{
  const MikeyMsg *msg = view->msg;
  for (guint i = 0; i < msg->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(msg->hdr.cs, i);
    if (cs->cs_id != 1)
      continue;
    /* the first offered policy we support wins (profile 6); #P = 0 lets us choose among
     * all SP payloads in their order */
    guint n_sp = mikey_chain_count(msg->payloads, MIKEY_PT_SP, 0);
    guint n = cs->n_policies ? cs->n_policies : n_sp;
    for (guint j = 0; j < n; j++) {
      for (guint k = 0; k < n_sp; k++) {
        MikeyPayload *sp = mikey_msg_find(msg, MIKEY_PT_SP, 0, k);
        gboolean offered = cs->n_policies ? sp->u.sp.policy_no == cs->policies[j] : k == j;
        if (offered && mikey_profile_sp_match(sp) >= 0) {
          *policy_no = sp->u.sp.policy_no;
          return TRUE;
        }
      }
    }
  }
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP,
              "no offered SRTP policy is AEAD_AES_128_GCM or AES_CM_128_HMAC_SHA1_80 as the "
              "profile defines them");
  return FALSE;
}

guint8 mikey_transfer_policy_profile(const MikeyTransferInitView *view, guint8 policy_no)
{
  for (guint k = 0; k < mikey_chain_count(view->msg->payloads, MIKEY_PT_SP, 0); k++) {
    MikeyPayload *sp = mikey_msg_find(view->msg, MIKEY_PT_SP, 0, k);
    if (sp->u.sp.policy_no == policy_no)
      return (guint8)mikey_profile_sp_match(sp);
  }
  return 0xff;
}

/* Identity_i of a TRANSFER_INIT: its IDRi, else the ticket's IDRi (the identity "known by
 * other means", RFC 6043 5.5). */
static GBytes *initiator_identity(const MikeyTransferInitView *view)
{
  if (view->id_i)
    return view->id_i;
  if (!view->ticket)
    return NULL;
  MikeyPayload *idri =
      mikey_chain_find(view->ticket->u.ticket.tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
  return idri ? idri->u.id.data : NULL;
}

gboolean mikey_transfer_init_verify(const MikeyTransferInitView *view,
                                    const MikeyResolvedKeys *keys, const char *identity_r,
                                    GError **error)
{
  const MikeyMsg *msg = view->msg;
  MikeyMacAlg alg = mikey_suite_mac_alg(msg->hdr.prf);
  GBytes *id_i = initiator_identity(view);
  if (view->is_update || !id_i) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID,
                view->is_update ? "a CSB update is not an initial TRANSFER_INIT"
                                : "TRANSFER_INIT names no initiator");
    return FALSE;
  }
  gsize ri_len;
  const guint8 *ri = bytes_data(view->randri, &ri_len);
  g_autoptr(MikeySecret) auth =
      mikey_kdf_msg(msg->hdr.prf, keys->mpki, MIKEY_C_AUTH, msg->hdr.csb_id, MIKEY_LABEL_INITIAL,
                    ri, ri_len, NULL, 0, (gsize)mikey_auth_key_len(alg), error);
  if (!auth)
    return FALSE;
  g_autoptr(GBytes) id_r_given = identity_r ? str_bytes(identity_r) : NULL;
  MikeyIov ids[2] = { iov_bytes(id_i), iov_bytes(view->id_r ? view->id_r : id_r_given) };
  if (!mikey_msg_verify(msg, auth, ids, 2, error))
    return FALSE;
  if (!(view->ticket->u.ticket.flags & MIKEY_TP_I))
    return TRUE;
  /* with forking the KMS verified Vr; here Vi must be this message's V (profile 6) */
  gsize len;
  const guint8 *idd = bytes_data(view->ticket->u.ticket.initiator_data, &len);
  g_autoptr(GPtrArray) chain = mikey_chain_parse(idd, len, TRUE, 0, 0, NULL);
  MikeyPayload *vi = chain ? mikey_chain_find(chain, MIKEY_PT_V, 0, 0) : NULL;
  MikeyPayload *v = g_ptr_array_index(msg->payloads, msg->payloads->len - 1);
  gsize a_len, b_len;
  const guint8 *a = vi ? bytes_data(vi->u.v.mac, &a_len) : NULL;
  const guint8 *b = bytes_data(v->u.v.mac, &b_len);
  if (!a || !mikey_const_equal(a, a_len, b, b_len)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE,
                "Vi in the ticket's Initiator Data is not this TRANSFER_INIT's MAC");
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------ TRANSFER_RESP */

GBytes *mikey_transfer_resp_build(const MikeyTransferInitView *view, const MikeyResolvedKeys *keys,
                                  const MikeyTransferRespParams *p, MikeyCsbState *state,
                                  GError **error)
{
  const MikeyMsg *init = view->msg;
  guint16 flags = ticket_flags(view->ticket);
  gboolean forking = (flags & MIKEY_TP_I) != 0;
  MikeyPrf prf = init->hdr.prf;
  if (forking && (!keys->mpkr || !keys->randrkms)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET,
                "the ticket forks keys but the resolve gave no MPKr' or RANDRkms");
    return NULL;
  }
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_TRANSFER_RESP, prf, init->hdr.csb_id, MIKEY_MAP_GENERIC_ID);
  add_answer_map(msg, init, p->policy_no, p->ssrc, p->roc, p->seq, keys->tgk_spi);
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, p->t));
  g_autoptr(GBytes) randrr = NULL;
  if (flags & MIKEY_TP_G) {
    randrr = g_bytes_new(p->randrr, p->randrr_len);
    mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_R, p->randrr, p->randrr_len));
  }
  gsize idrr_len;
  const guint8 *idrr = bytes_data(keys->idrr, &idrr_len);
  mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_R, MIKEY_ID_URI, idrr, idrr_len));
  if (forking) {
    gsize n;
    const guint8 *r = bytes_data(keys->randrkms, &n);
    mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_KMS, r, n));
  }
  mikey_msg_add(msg, mikey_payload_new_v(mikey_suite_mac_alg(prf)));
  g_autoptr(MikeySecret) auth = response_auth_key(prf, forking ? keys->mpkr : keys->mpki,
                                                  init->hdr.csb_id, view->randri, randrr, error);
  if (!auth)
    return NULL;
  MikeyIov whole = iov_bytes(init->raw);
  g_autoptr(GBytes) out = mikey_msg_sign(msg, auth, &whole, 1, error);
  if (!out)
    return NULL;
  mikey_csb_state_clear(state);
  state->prf = prf;
  state->csb_id = init->hdr.csb_id;
  state->flags = flags;
  state->randri = g_bytes_ref(view->randri);
  state->randrr = randrr ? g_bytes_ref(randrr) : NULL;
  state->tgk = mikey_secret_dup(keys->tgk);
  state->spi = keys->tgk_spi ? g_bytes_ref(keys->tgk_spi) : NULL;
  state->auth_key = g_steal_pointer(&auth);
  state->id_i = g_bytes_ref(initiator_identity(view));
  state->id_r = g_bytes_ref(keys->idrr);
  return g_steal_pointer(&out);
}

/* Reads the chosen policy (one per CS, the same for both) and CS 2's session data. */
static gboolean read_answer_map(const MikeyMsg *resp, const MikeyMsg *offer,
                                MikeyTransferAnswer *answer, GError **error)
{
  gboolean have_cs2 = FALSE;
  if (resp->hdr.map_type != MIKEY_MAP_GENERIC_ID || resp->hdr.cs->len != offer->hdr.cs->len) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "TRANSFER_RESP does not answer every offered crypto session");
    return FALSE;
  }
  for (guint i = 0; i < resp->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(resp->hdr.cs, i);
    if (cs->n_policies != 1 || (i > 0 && cs->policies[0] != answer->policy_no)) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP,
                  "TRANSFER_RESP must choose one policy for every crypto session");
      return FALSE;
    }
    if (cs->policies[0] > MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP, "policy %u was not offered",
                  cs->policies[0]);
      return FALSE;
    }
    answer->policy_no = cs->policies[0];
    if (cs->cs_id == 2) {
      have_cs2 = TRUE;
      if (!mikey_srtp_session_data_decode(cs->session_data, &answer->cs2, error))
        return FALSE;
    }
  }
  if (!have_cs2) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "TRANSFER_RESP lacks crypto session 2");
    return FALSE;
  }
  return TRUE;
}

static MikeyMsg *parse_answer(GBytes *resp, const MikeyMsg *offer, GError **error)
{
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(resp, error);
  if (!msg || !mikey_reply_check_error(msg, "responder", error))
    return NULL;
  if (msg->hdr.data_type != MIKEY_DT_TRANSFER_RESP || msg->hdr.csb_id != offer->hdr.csb_id ||
      msg->hdr.prf != offer->hdr.prf) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "answer is not a TRANSFER_RESP to this TRANSFER_INIT (type %u, CSB ID %08x)",
                msg->hdr.data_type, msg->hdr.csb_id);
    return NULL;
  }
  if (!mikey_suite_check(msg, error))
    return NULL;
  return g_steal_pointer(&msg);
}

gboolean mikey_transfer_resp_open(GBytes *resp, GBytes *transfer_init,
                                  const MikeyTicketGrant *grant, MikeyCsbState *state,
                                  MikeyTransferAnswer *answer, GError **error)
{
  g_autoptr(MikeyMsg) offer = mikey_msg_parse_bytes(transfer_init, error);
  if (!offer)
    return FALSE;
  g_autoptr(MikeyMsg) msg = parse_answer(resp, offer, error);
  if (!msg)
    return FALSE;
  const MikeyTicketBody *tb = &grant->ticket->u.ticket;
  gboolean forking = (tb->flags & MIKEY_TP_I) != 0;
  GBytes *randri = payload_data(offer, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I);
  GBytes *randrr = payload_data(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_R);
  GBytes *idrr = payload_data(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  GBytes *randrkms = payload_data(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_KMS);
  GBytes *idri = payload_data(offer, MIKEY_PT_IDR, MIKEY_ID_ROLE_I);
  if (!randri || !idrr || (!randrr && (tb->flags & MIKEY_TP_G)) || (forking && !randrkms)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "TRANSFER_RESP lacks %s",
                !idrr                  ? "IDRr"
                : !randri              ? "the offer's RANDRi"
                : forking && !randrkms ? "RANDRkms"
                                       : "RANDRr");
    return FALSE;
  }
  if (!read_answer_map(msg, offer, answer, error))
    return FALSE;

  /* forked keys follow the IDRr and RANDRkms the responder echoes (RFC 6043 5.1.5) */
  g_autoptr(MikeySecret) mpkr_f = NULL, tgk_f = NULL;
  if (forking) {
    gsize id_len, rk_len;
    const guint8 *id = bytes_data(idrr, &id_len);
    const guint8 *rk = bytes_data(randrkms, &rk_len);
    if (!grant->mpkr) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET, "forking ticket without MPKr");
      return FALSE;
    }
    mpkr_f = mikey_kdf_fork(tb->prf, grant->mpkr, MIKEY_C_FORK_MPKR, id, id_len, rk, rk_len, error);
    if (!mpkr_f)
      return FALSE;
    tgk_f = mikey_kdf_fork(tb->prf, grant->tgk, MIKEY_C_FORK_TGK, id, id_len, rk, rk_len, error);
    if (!tgk_f)
      return FALSE;
  }
  GBytes *rr_for_keys = (tb->flags & MIKEY_TP_G) ? randrr : NULL;
  g_autoptr(MikeySecret) auth = response_auth_key(msg->hdr.prf, forking ? mpkr_f : grant->mpki,
                                                  msg->hdr.csb_id, randri, rr_for_keys, error);
  if (!auth)
    return FALSE;
  MikeyIov whole = iov_bytes(transfer_init);
  if (!mikey_msg_verify(msg, auth, &whole, 1, error))
    return FALSE;
  mikey_csb_state_clear(state);
  state->prf = msg->hdr.prf;
  state->csb_id = msg->hdr.csb_id;
  state->flags = tb->flags;
  state->randri = g_bytes_ref(randri);
  state->randrr = rr_for_keys ? g_bytes_ref(rr_for_keys) : NULL;
  state->tgk = forking ? g_steal_pointer(&tgk_f) : mikey_secret_dup(grant->tgk);
  state->spi = grant->tgk_spi ? g_bytes_ref(grant->tgk_spi) : NULL;
  state->auth_key = g_steal_pointer(&auth);
  state->id_i = idri ? g_bytes_ref(idri) : NULL;
  if (!state->id_i) {
    MikeyPayload *tp_idri = mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
    state->id_i = tp_idri ? g_bytes_ref(tp_idri->u.id.data) : NULL;
  }
  state->id_r = g_bytes_ref(idrr);
  return TRUE;
}

/* ------------------------------------------------------------------ CSB updates */

GBytes *mikey_csb_update_init_build(const MikeyCsbState *state, guint64 t, guint32 ssrc,
                                    guint32 roc, guint16 seq, const guint8 *policies,
                                    guint n_policies, GError **error)
{
  if (!offer_policies(&policies, &n_policies, error))
    return NULL;
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_TRANSFER_INIT, state->prf, state->csb_id, MIKEY_MAP_GENERIC_ID);
  msg->hdr.v = TRUE; /* in an update V really asks for the answer */
  add_offer_map(msg, ssrc, roc, seq, state->spi, policies, n_policies);
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, t));
  gsize n;
  const guint8 *d = bytes_data(state->id_i, &n);
  mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_I, MIKEY_ID_URI, d, n));
  d = bytes_data(state->id_r, &n);
  mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_R, MIKEY_ID_URI, d, n));
  add_offer_sps(msg, policies, n_policies);
  mikey_msg_add(msg, mikey_payload_new_v(mikey_suite_mac_alg(state->prf)));
  MikeyIov ids[2] = { iov_bytes(state->id_i), iov_bytes(state->id_r) };
  return mikey_msg_sign(msg, state->auth_key, ids, 2, error);
}

gboolean mikey_csb_update_verify(const MikeyTransferInitView *view, const MikeyCsbState *state,
                                 GError **error)
{
  if (!view->is_update || view->msg->hdr.csb_id != state->csb_id ||
      view->msg->hdr.prf != state->prf) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "not a CSB update of this crypto session bundle (CSB ID %08x, expected %08x)",
                view->msg->hdr.csb_id, state->csb_id);
    return FALSE;
  }
  MikeyIov ids[2] = { iov_bytes(state->id_i), iov_bytes(state->id_r) };
  return mikey_msg_verify(view->msg, state->auth_key, ids, 2, error);
}

GBytes *mikey_csb_update_resp_build(const MikeyTransferInitView *view, const MikeyCsbState *state,
                                    guint64 t, guint8 policy_no, guint32 ssrc, guint32 roc,
                                    guint16 seq, GError **error)
{
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_TRANSFER_RESP, state->prf, state->csb_id, MIKEY_MAP_GENERIC_ID);
  add_answer_map(msg, view->msg, policy_no, ssrc, roc, seq, state->spi);
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, t));
  gsize n;
  const guint8 *d = bytes_data(state->id_r, &n);
  mikey_msg_add(msg, mikey_payload_new_idr(MIKEY_ID_ROLE_R, MIKEY_ID_URI, d, n));
  mikey_msg_add(msg, mikey_payload_new_v(mikey_suite_mac_alg(state->prf)));
  MikeyIov whole = iov_bytes(view->msg->raw);
  return mikey_msg_sign(msg, state->auth_key, &whole, 1, error);
}

gboolean mikey_csb_update_resp_open(GBytes *resp, GBytes *update_init, const MikeyCsbState *state,
                                    MikeyTransferAnswer *answer, GError **error)
{
  g_autoptr(MikeyMsg) offer = mikey_msg_parse_bytes(update_init, error);
  if (!offer)
    return FALSE;
  g_autoptr(MikeyMsg) msg = parse_answer(resp, offer, error);
  if (!msg || !read_answer_map(msg, offer, answer, error))
    return FALSE;
  MikeyIov whole = iov_bytes(update_init);
  return mikey_msg_verify(msg, state->auth_key, &whole, 1, error);
}
