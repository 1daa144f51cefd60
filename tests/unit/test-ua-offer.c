/* mikeyua's MIKEY side (src/ua/offer.c) and its SDP offer (ua_call_sdp_offer), against a KMS
 * and a focus made of the MIKEY library in memory: the Ticket Request and the KMS's refusals as
 * the user sees them; the TRANSFER_INIT inside the offer (verifies at the focus, IDRr = the
 * Request-URI, SDP IDs = the SDP's key-management ids, CS 1 = our stream, the policies in the
 * configured order); the focus's TRANSFER_RESP and CSB update answers opened by the UA; the
 * faults; and the profile 7.3 IDRr choice for each of the four in-dialog actions. */
#include "ua/call.h"
#include "ua/offer.h"

#include "common/sdpaudio.h"
#include "mikey/exchange.h"
#include "mikey/ntp.h"
#include "mikey/policy.h"
#include "mikey/sdp.h"

#include <string.h>

#define KMS_URI "kms.example.org"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define FACTORY "sip:conference-factory@conf.example.org"
#define CONF "sip:conf-0123456789abcdef0123456789abcdef@conf.example.org"
#define FOCUS "sip:focus@conf.example.org"

typedef struct {
  MikeySecret *tpk;
  GBytes *tpk_id;
  Credential alice;
  MikeySecret *focus_psk;
  GBytes *focus_psk_id;
  guint err_no; /* != 0: the KMS refuses every request with this ERR */
} World;

static GBytes *random_bytes(gsize n)
{
  guint8 *b = g_malloc(n);
  g_assert_true(mikey_random_bytes(b, n, NULL));
  return g_bytes_new_take(b, n);
}

static void world_init(World *w)
{
  memset(w, 0, sizeof *w);
  w->tpk = mikey_secret_new_random(32, NULL);
  w->tpk_id = random_bytes(16);
  w->alice.identity = g_strdup(ALICE);
  w->alice.kms_uri = g_strdup(KMS_URI);
  w->alice.kms_url = g_strdup("https://127.0.0.1:8443/mikey");
  w->alice.psk = mikey_secret_new_random(32, NULL);
  w->alice.psk_id = random_bytes(16);
  w->focus_psk = mikey_secret_new_random(32, NULL);
  w->focus_psk_id = random_bytes(16);
}

static void world_clear(World *w)
{
  mikey_secret_free(w->tpk);
  g_bytes_unref(w->tpk_id);
  credential_clear(&w->alice);
  mikey_secret_free(w->focus_psk);
  g_bytes_unref(w->focus_psk_id);
}

static const MikeySecret *lookup_tpk(GBytes *id, gpointer user_data)
{
  World *w = user_data;
  return g_bytes_equal(id, w->tpk_id) ? w->tpk : NULL;
}

static MikeyKeyData *key_with_spi(MikeyKeyType type, const MikeySecret *key, GBytes *spi)
{
  return mikey_key_data_new(type, key, g_bytes_get_data(spi, NULL), g_bytes_get_size(spi));
}

/* The KMS side of a Ticket Request, reduced to the library: authenticate alice, grant what she
 * asked for (IDRi = her), seal, answer; or an Error with w->err_no. */
static GBytes *kms_answer(World *w, GBytes *body, guint *http_status)
{
  MikeyKmsRequest req;
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_kms_request_parse(body, &req, &error));
  g_assert_true(mikey_kms_request_verify(&req, w->alice.psk, ALICE, KMS_URI, &error));
  guint64 now = mikey_ntp_now();
  GBytes *out;
  if (w->err_no) {
    *http_status = 403;
    out = mikey_error_build(&req.msg->hdr, now, w->err_no, req.keys.auth,
                            mikey_suite_mac_alg(req.msg->hdr.prf), &error);
  } else {
    *http_status = 200;
    MikeyPolicySpec spec = { 0 };
    g_assert_true(mikey_policy_spec_from_body(&req.tp->u.ticket, &spec, &error));
    spec.tr_type = MIKEY_TS_NTP_UTC;
    g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TICKET, &error);
    MikeyPrf prf = spec.prf;
    mikey_policy_spec_clear(&spec);
    g_autoptr(MikeySecret) mpk = mikey_secret_new_random(mikey_suite_key_len(prf), NULL);
    g_autoptr(MikeySecret) tgk = mikey_secret_new_random(mikey_suite_key_len(prf), NULL);
    g_autoptr(GBytes) mpk_spi = random_bytes(MIKEY_SPI_LEN);
    g_autoptr(GBytes) tgk_spi = random_bytes(MIKEY_SPI_LEN);
    g_autoptr(GBytes) rand = random_bytes(MIKEY_RAND_LEN);
    g_autoptr(GPtrArray) sealed = mikey_key_data_list_new();
    g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_MPK, mpk, mpk_spi));
    g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
    MikeyTicketSeal seal = {
      now, g_bytes_get_data(rand, NULL), g_bytes_get_size(rand), w->tpk, w->tpk_id, sealed
    };
    g_assert_true(mikey_ticket_seal(ticket, &seal, &error));
    g_autoptr(MikeySecret) mpki = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKI, rand, &error);
    g_autoptr(MikeySecret) mpkr = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKR, rand, &error);
    g_autoptr(GPtrArray) keys = mikey_key_data_list_new();
    g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpki, mpk_spi));
    g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpkr, mpk_spi));
    g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
    out = mikey_request_resp_build(&req, w->alice.psk, now, KMS_URI, ticket, keys, &error);
  }
  g_assert_no_error(error);
  mikey_kms_request_clear(&req);
  return out;
}

static void get_grant(World *w, const char *const *recipients, MikeyTicketGrant *grant)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) req = ua_ticket_request_build(&w->alice, recipients, &error);
  g_assert_no_error(error);
  guint status = 0;
  g_autoptr(GBytes) answer = kms_answer(w, req, &status);
  g_assert_true(ua_ticket_open(&w->alice, recipients, req, status, answer, grant, &error));
  g_assert_no_error(error);
}

/* The focus: resolve (as the KMS would answer it: MPKi, forked MPKr' and TGK' for idrr) and
 * verify the TRANSFER_INIT; keys for the answer. */
static void focus_resolve(World *w, MikeyTransferInitView *view, const char *idrr,
                          MikeyResolvedKeys *keys)
{
  g_autoptr(GError) error = NULL;
  MikeyOpenedTicket opened = { 0 };
  g_assert_true(mikey_ticket_open(view->ticket, lookup_tpk, w, &opened, &error));
  g_assert_no_error(error);
  /* the KMS's part, without the HTTP: RESOLVE_INIT from the focus, RESOLVE_RESP back */
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyResolveInitParams rp = {
    view->msg->hdr.prf, 7,           mikey_ntp_now(), g_bytes_get_data(randrr, NULL),
    MIKEY_RAND_LEN,     idrr,        KMS_URI,         view->ticket,
    w->focus_psk_id,    w->focus_psk
  };
  g_autoptr(GBytes) ri = mikey_resolve_init_build(&rp, &error);
  g_assert_no_error(error);
  MikeyKmsRequest req;
  g_assert_true(mikey_kms_request_parse(ri, &req, &error));
  g_assert_true(mikey_kms_request_verify(&req, w->focus_psk, FOCUS, KMS_URI, &error));
  g_autoptr(GBytes) randrkms = random_bytes(MIKEY_RAND_LEN);
  g_autoptr(GBytes) id = g_bytes_new(idrr, strlen(idrr));
  g_autoptr(GBytes) rr =
      mikey_kms_resolve_respond(&req, w->focus_psk, &opened, id, g_bytes_get_data(randrkms, NULL),
                                MIKEY_RAND_LEN, mikey_ntp_now(), KMS_URI, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_resolve_resp_open(rr, ri, w->focus_psk, keys, &error));
  g_assert_no_error(error);
  mikey_kms_request_clear(&req);
  mikey_opened_ticket_clear(&opened);
}

static const guint8 BOTH[] = { MIKEY_POLICY_AEAD_AES_128_GCM,
                               MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80 };
static const guint8 GCM[] = { MIKEY_POLICY_AEAD_AES_128_GCM };
static const guint8 AES_CM[] = { MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80 };
static const guint8 AES_CM_FIRST[] = { MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80,
                                       MIKEY_POLICY_AEAD_AES_128_GCM };

static GBytes *build_ti(const MikeyTicketGrant *g, const char *idrr, const guint8 *policies,
                        guint n, UaFaultKind fault)
{
  g_autoptr(GError) error = NULL;
  UaTransferInitParams p = { .grant = g,
                             .idri = ALICE,
                             .idrr = idrr,
                             .ssrc = 0xdeadbeef,
                             .seq = 4242,
                             .policies = policies,
                             .n_policies = n,
                             .fault = fault };
  GBytes *ti = ua_transfer_init_build(&p, &error);
  g_assert_no_error(error);
  return ti;
}

static char *id_string(GBytes *b)
{
  gsize n;
  const char *d = g_bytes_get_data(b, &n);
  return g_strndup(d, n);
}

/* ------------------------------------------------------------------ Ticket Request */

static void test_ticket_request(void)
{
  World w;
  world_init(&w);
  const char *recipients[] = { FACTORY, BOB, NULL };
  MikeyTicketGrant g;
  get_grant(&w, recipients, &g);
  const MikeyTicketBody *tb = &g.ticket->u.ticket;
  /* profile 5 flags asked for, J included (the owner may send its ticket again) */
  g_assert_true(tb->flags & MIKEY_TP_I);
  g_assert_true(tb->flags & MIKEY_TP_J);
  g_assert_nonnull(g.mpkr);
  g_assert_cmpuint(mikey_chain_count(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R), ==, 2);
  g_autofree char *r0 =
      id_string(mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0)->u.id.data);
  g_assert_cmpstr(r0, ==, FACTORY);
  guint64 trs = 0, tre = 0;
  g_assert_true(mikey_policy_get_trs(tb, &trs));
  g_assert_true(mikey_policy_get_tre(tb, &tre));
  g_assert_cmpint(mikey_ntp_to_unix_sec(tre) - mikey_ntp_to_unix_sec(trs), ==,
                  UA_TICKET_LIFETIME_S);

  g_autofree char *text = ua_ticket_describe(&g, FALSE);
  g_assert_nonnull(strstr(text, "recipient:    " FACTORY "\n"));
  g_assert_nonnull(strstr(text, "initiator:    " ALICE "\n"));
  g_assert_nonnull(strstr(text, "flags:        D E F G H I J N O\n"));
  g_autofree char *json = ua_ticket_describe(&g, TRUE);
  g_assert_nonnull(strstr(json, "\"recipients\" : [\n    \"" FACTORY "\",\n    \"" BOB "\"\n"));
  mikey_ticket_grant_clear(&g);
  world_clear(&w);
}

static void test_ticket_refused(void)
{
  World w;
  world_init(&w);
  g_autoptr(GError) error = NULL;
  MikeyTicketGrant g;

  /* a non-creator naming the factory: ERR 15, said plainly with what to do */
  const char *with_factory[] = { FACTORY, BOB, NULL };
  w.err_no = MIKEY_ERR_INVALID_TPPAR;
  g_autoptr(GBytes) req = ua_ticket_request_build(&w.alice, with_factory, &error);
  guint status = 0;
  g_autoptr(GBytes) answer = kms_answer(&w, req, &status);
  g_assert_false(ua_ticket_open(&w.alice, with_factory, req, status, answer, &g, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR);
  g_assert_nonnull(strstr(error->message, "HTTP 403"));
  g_assert_nonnull(strstr(error->message, "Invalid TPpar (ERR 15)"));
  g_assert_nonnull(strstr(error->message, "allowed to create conferences"));
  g_clear_error(&error);

  /* the same ERR without a factory: no word about creating */
  const char *no_factory[] = { BOB, NULL };
  g_autoptr(GBytes) req2 = ua_ticket_request_build(&w.alice, no_factory, &error);
  g_autoptr(GBytes) answer2 = kms_answer(&w, req2, &status);
  g_assert_false(ua_ticket_open(&w.alice, no_factory, req2, status, answer2, &g, &error));
  g_assert_null(strstr(error->message, "create"));
  g_clear_error(&error);

  /* unknown user */
  w.err_no = MIKEY_ERR_INVALID_ID;
  g_autoptr(GBytes) req3 = ua_ticket_request_build(&w.alice, no_factory, &error);
  g_autoptr(GBytes) answer3 = kms_answer(&w, req3, &status);
  g_assert_false(ua_ticket_open(&w.alice, no_factory, req3, status, answer3, &g, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID);
  g_assert_nonnull(strstr(error->message, "does not know this user"));
  g_clear_error(&error);

  /* overloaded: no MIKEY body */
  g_assert_false(ua_ticket_open(&w.alice, no_factory, req3, 503, NULL, &g, &error));
  g_assert_nonnull(strstr(error->message, "HTTP 503 without a MIKEY body"));
  g_clear_error(&error);

  /* a REQUEST_RESP for another request does not verify */
  w.err_no = 0;
  g_autoptr(GBytes) req4 = ua_ticket_request_build(&w.alice, no_factory, &error);
  g_autoptr(GBytes) answer4 = kms_answer(&w, req4, &status);
  g_assert_false(ua_ticket_open(&w.alice, no_factory, req3, status, answer4, &g, &error));
  g_assert_nonnull(error);
  world_clear(&w);
}

/* ------------------------------------------------------------------ the offer */

/* The TRANSFER_INIT inside the SDP offer verifies at the focus, names the Request-URI as IDRr,
 * carries SDP IDs = the SDP's protocol ids, our SSRC/SEQ/ROC in CS 1, zeros in CS 2, and the
 * policies in the order asked for; the focus then chooses the first one. */
static void check_offer(const guint8 *policies, guint n)
{
  World w;
  world_init(&w);
  g_autoptr(GError) error = NULL;
  const char *recipients[] = { FACTORY, BOB, NULL };
  MikeyTicketGrant g;
  get_grant(&w, recipients, &g);
  g_autoptr(GBytes) ti = build_ti(&g, FACTORY, policies, n, UA_FAULT_NONE);

  g_autofree char *sdp = ua_call_sdp_offer("127.0.0.1", 40000, 8, ti, UA_FAULT_NONE, 77, 1, &error);
  g_assert_no_error(error);
  g_autoptr(SdpAudioDesc) desc = sdp_audio_parse(sdp, strlen(sdp), &error);
  g_assert_no_error(error);
  g_assert_true(desc->savp);
  g_assert_cmpuint(desc->port, ==, 40000);
  g_assert_cmpstr(desc->addr, ==, "127.0.0.1");
  g_assert_cmpuint(g_array_index(desc->payloads, SdpAudioPayload, 0).pt, ==, 8); /* first */
  g_assert_cmpuint(g_array_index(desc->payloads, SdpAudioPayload, 1).pt, ==, 0);
  g_assert_true(g_bytes_equal(desc->mikey, ti));
  /* session level (profile 6) */
  g_assert_true(strstr(sdp, "a=key-mgmt:mikey ") < strstr(sdp, "m=audio"));

  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(desc->mikey, &view, &error));
  g_assert_no_error(error);
  g_assert_false(view.is_update);
  g_autofree char *idrr = id_string(view.id_r);
  g_autofree char *idri = id_string(view.id_i);
  g_assert_cmpstr(idrr, ==, FACTORY);
  g_assert_cmpstr(idri, ==, ALICE);
  g_autofree char *ids = id_string(view.sdp_ids);
  g_autofree char *sdp_ids = mikey_sdp_protocol_ids(sdp, strlen(sdp));
  g_assert_cmpstr(ids, ==, "mikey");
  g_assert_cmpstr(ids, ==, sdp_ids);
  for (guint i = 0; i < view.msg->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(view.msg->hdr.cs, i);
    MikeySrtpSessionData sd;
    g_assert_true(mikey_srtp_session_data_decode(cs->session_data, &sd, &error));
    g_assert_true(sd.has_roc_seq);
    if (cs->cs_id == 1) {
      g_assert_cmphex(sd.ssrc, ==, 0xdeadbeef);
      g_assert_cmpuint(sd.seq, ==, 4242);
    } else {
      g_assert_cmpuint(sd.ssrc, ==, 0);
      g_assert_cmpuint(sd.seq, ==, 0);
    }
    g_assert_cmpuint(sd.roc, ==, 0);
    g_assert_cmpuint(cs->n_policies, ==, n);
    g_assert_cmpmem(cs->policies, n, policies, n);
  }
  g_assert_cmpuint(mikey_chain_count(view.msg->payloads, MIKEY_PT_SP, 0), ==, n);
  for (guint k = 0; k < n; k++) {
    MikeyPayload *sp = mikey_msg_find(view.msg, MIKEY_PT_SP, 0, k);
    g_assert_cmpint(mikey_profile_sp_match(sp), ==, policies[k]);
  }

  MikeyResolvedKeys keys;
  focus_resolve(&w, &view, FACTORY, &keys);
  g_assert_true(mikey_transfer_init_verify(&view, &keys, FACTORY, &error));
  g_assert_no_error(error);
  guint8 chosen;
  g_assert_true(mikey_transfer_choose_policy(&view, &chosen, &error));
  g_assert_cmpuint(mikey_transfer_policy_profile(&view, chosen), ==, policies[0]);

  /* the answer, opened by the UA: the same SRTP keys on both ends */
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = {
    mikey_ntp_now(), g_bytes_get_data(randrr, NULL), MIKEY_RAND_LEN, chosen, 0x11223344, 0, 777
  };
  MikeyCsbState fs = { 0 }, us = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &ap, &fs, &error);
  g_assert_no_error(error);
  MikeyTransferAnswer ans;
  g_assert_true(ua_transfer_answer_open(tr, ti, &g, policies, n, &us, &ans, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(ans.policy_no, ==, policies[0]);
  g_assert_cmphex(ans.cs2.ssrc, ==, 0x11223344);
  g_assert_cmpuint(ans.cs2.seq, ==, 777);
  gsize salt_len = mikey_profile_salt_len(policies[0]);
  for (guint8 cs = 1; cs <= 2; cs++) {
    g_autoptr(MikeySecret) ku = NULL, su = NULL, kf = NULL, sf = NULL;
    g_assert_true(mikey_csb_srtp_keys(&us, cs, salt_len, &ku, &su, &error));
    g_assert_true(mikey_csb_srtp_keys(&fs, cs, salt_len, &kf, &sf, &error));
    g_assert_true(mikey_secret_equal(ku, kf));
    g_assert_true(mikey_secret_equal(su, sf));
    g_assert_cmpuint(su->len, ==, salt_len);
  }

  /* a CSB update in the same order: verified by the focus with the bundle's key, answered */
  g_autoptr(GBytes) ui =
      ua_csb_update_build(&us, 0xdeadbeef, 5000, policies, n, UA_FAULT_NONE, &error);
  g_assert_no_error(error);
  MikeyTransferInitView uv;
  g_assert_true(mikey_transfer_init_parse(ui, &uv, &error));
  g_assert_true(uv.is_update);
  g_assert_null(uv.sdp_ids); /* none in updates (profile 6) */
  g_assert_true(mikey_csb_update_verify(&uv, &fs, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(mikey_chain_count(uv.msg->payloads, MIKEY_PT_SP, 0), ==, n);
  guint8 uchosen;
  g_assert_true(mikey_transfer_choose_policy(&uv, &uchosen, &error));
  g_autoptr(GBytes) ur =
      mikey_csb_update_resp_build(&uv, &fs, mikey_ntp_now(), uchosen, 0x11223344, 0, 900, &error);
  g_assert_no_error(error);
  g_assert_true(ua_csb_update_answer_open(ur, ui, &us, policies, n, &ans, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(ans.policy_no, ==, policies[0]);

  mikey_transfer_init_view_clear(&uv);
  mikey_csb_state_clear(&fs);
  mikey_csb_state_clear(&us);
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&g);
  world_clear(&w);
}

static void test_offer_both(void)
{
  check_offer(BOTH, 2);
}

static void test_offer_gcm(void)
{
  check_offer(GCM, 1);
}

static void test_offer_aes_cm(void)
{
  check_offer(AES_CM, 1);
}

static void test_offer_aes_cm_first(void)
{
  check_offer(AES_CM_FIRST, 2);
}

/* The default order is the library's TRANSFER_INIT byte for byte apart from the random parts:
 * same length, same payload order. */
static void test_offer_default_is_library_layout(void)
{
  World w;
  world_init(&w);
  const char *recipients[] = { CONF, NULL };
  MikeyTicketGrant g;
  get_grant(&w, recipients, &g);
  g_autoptr(GBytes) a = build_ti(&g, CONF, BOTH, 2, UA_FAULT_NONE);
  g_autoptr(GBytes) b = build_ti(&g, CONF, AES_CM_FIRST, 2, UA_FAULT_NONE);
  g_assert_cmpuint(g_bytes_get_size(a), ==, g_bytes_get_size(b));
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(a, NULL);
  const MikeyPayloadType order[] = { MIKEY_PT_T,       MIKEY_PT_RANDR,  MIKEY_PT_IDR,
                                     MIKEY_PT_IDR,     MIKEY_PT_SP,     MIKEY_PT_SP,
                                     MIKEY_PT_GEN_EXT, MIKEY_PT_TICKET, MIKEY_PT_V };
  g_assert_cmpuint(m->payloads->len, ==, G_N_ELEMENTS(order));
  for (guint i = 0; i < G_N_ELEMENTS(order); i++)
    g_assert_cmpint(((MikeyPayload *)m->payloads->pdata[i])->type, ==, order[i]);
  mikey_ticket_grant_clear(&g);
  world_clear(&w);
}

/* --fault: what each one does to the offer, and that the focus's checks catch it. */
static void test_offer_faults(void)
{
  World w;
  world_init(&w);
  g_autoptr(GError) error = NULL;
  const char *recipients[] = { CONF, NULL };
  MikeyTicketGrant g;
  get_grant(&w, recipients, &g);

  /* tamper-mac: the focus's MAC check fails (ERR 0) */
  g_autoptr(GBytes) tm = build_ti(&g, CONF, BOTH, 2, UA_FAULT_TAMPER_MAC);
  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(tm, &view, &error));
  MikeyResolvedKeys keys;
  focus_resolve(&w, &view, CONF, &keys);
  g_assert_false(mikey_transfer_init_verify(&view, &keys, CONF, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);

  /* tamper-ticket: the message MAC is right, the ticket does not open at the KMS (ERR 14) */
  g_autoptr(GBytes) tt = build_ti(&g, CONF, GCM, 1, UA_FAULT_TAMPER_TICKET);
  g_assert_true(mikey_transfer_init_parse(tt, &view, &error));
  MikeyOpenedTicket opened = { 0 };
  g_assert_false(mikey_ticket_open(view.ticket, lookup_tpk, &w, &opened, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET);
  g_clear_error(&error);
  mikey_transfer_init_view_clear(&view);

  /* stale-timestamp: T ten minutes old, outside the 120 s window */
  g_autoptr(GBytes) st = build_ti(&g, CONF, BOTH, 2, UA_FAULT_STALE_TIMESTAMP);
  g_assert_true(mikey_transfer_init_parse(st, &view, &error));
  g_assert_false(mikey_ntp_within(view.t, mikey_ntp_now(), 120));
  g_assert_true(mikey_ntp_within(view.t, mikey_ntp_now(), 700));
  focus_resolve(&w, &view, CONF, &keys);
  g_assert_true(mikey_transfer_init_verify(&view, &keys, CONF, &error)); /* only T is off */
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);

  /* SDP faults */
  g_autoptr(GBytes) ti = build_ti(&g, CONF, BOTH, 2, UA_FAULT_NONE);
  g_autofree char *none =
      ua_call_sdp_offer("127.0.0.1", 4000, 0, ti, UA_FAULT_NO_KEY_MGMT, 1, 1, &error);
  g_autoptr(SdpAudioDesc) d1 = sdp_audio_parse(none, strlen(none), &error);
  g_assert_no_error(error);
  g_assert_null(d1->mikey);
  g_assert_null(strstr(none, "key-mgmt"));
  g_autofree char *garbage =
      ua_call_sdp_offer("127.0.0.1", 4000, 0, ti, UA_FAULT_GARBAGE_KEY_MGMT, 1, 1, &error);
  g_autoptr(SdpAudioDesc) d2 = sdp_audio_parse(garbage, strlen(garbage), &error);
  g_assert_no_error(error);
  g_assert_nonnull(d2->mikey);
  g_assert_false(mikey_transfer_init_parse(d2->mikey, &view, &error));
  g_clear_error(&error);
  g_autofree char *bad =
      ua_call_sdp_offer("127.0.0.1", 4000, 0, ti, UA_FAULT_MALFORMED_SDP, 1, 1, &error);
  g_assert_null(sdp_audio_parse(bad, strlen(bad), &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_MALFORMED);
  g_clear_error(&error);

  mikey_ticket_grant_clear(&g);
  world_clear(&w);
}

/* An answer that chose a policy we did not offer, or was tampered with, is refused. */
static void test_answer_refused(void)
{
  World w;
  world_init(&w);
  g_autoptr(GError) error = NULL;
  const char *recipients[] = { CONF, NULL };
  MikeyTicketGrant g;
  get_grant(&w, recipients, &g);
  g_autoptr(GBytes) ti = build_ti(&g, CONF, GCM, 1, UA_FAULT_NONE);
  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(ti, &view, &error));
  MikeyResolvedKeys keys;
  focus_resolve(&w, &view, CONF, &keys);
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = { mikey_ntp_now(),
                                 g_bytes_get_data(randrr, NULL),
                                 MIKEY_RAND_LEN,
                                 MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80,
                                 1,
                                 0,
                                 1 };
  MikeyCsbState fs = { 0 }, us = { 0 };
  MikeyTransferAnswer ans;
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &ap, &fs, &error);
  g_assert_no_error(error);
  g_assert_false(ua_transfer_answer_open(tr, ti, &g, GCM, 1, &us, &ans, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP);
  g_assert_nonnull(strstr(error->message, "not offered"));
  g_assert_null(us.tgk); /* nothing taken from it */
  g_clear_error(&error);

  ap.policy_no = MIKEY_POLICY_AEAD_AES_128_GCM;
  g_autoptr(GBytes) tr2 = mikey_transfer_resp_build(&view, &keys, &ap, &fs, &error);
  gsize n;
  guint8 *d = g_bytes_unref_to_data(g_bytes_ref(tr2), &n);
  d[n - 1] ^= 1;
  g_autoptr(GBytes) forged = g_bytes_new_take(d, n);
  g_assert_false(ua_transfer_answer_open(forged, ti, &g, GCM, 1, &us, &ans, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  g_assert_true(ua_transfer_answer_open(tr2, ti, &g, GCM, 1, &us, &ans, &error));

  mikey_csb_state_clear(&fs);
  mikey_csb_state_clear(&us);
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&g);
  world_clear(&w);
}

/* ------------------------------------------------------------------ profile 7.3 */

static void test_action_idrr(void)
{
  MikeyCsbState s = { 0 };
  s.id_r = g_bytes_new_static(FACTORY, strlen(FACTORY));
  /* owner who created the conference through the factory */
  g_autofree char *a = ua_action_idrr(UA_ACTION_NEW_TICKET, CONF, FACTORY, &s);
  g_autofree char *b = ua_action_idrr(UA_ACTION_FOCUS_TICKET, CONF, FACTORY, &s);
  g_autofree char *c = ua_action_idrr(UA_ACTION_SAME_TICKET, CONF, FACTORY, &s);
  g_autofree char *d = ua_action_idrr(UA_ACTION_CSB_UPDATE, CONF, FACTORY, &s);
  g_assert_cmpstr(a, ==, CONF);
  g_assert_cmpstr(b, ==, CONF);
  g_assert_cmpstr(c, ==, FACTORY); /* the original target */
  g_assert_cmpstr(d, ==, FACTORY); /* the IDRr of the initial TRANSFER_RESP */
  /* a participant who joined the conference URI: its original target is the conference */
  g_autofree char *e = ua_action_idrr(UA_ACTION_SAME_TICKET, CONF, CONF, &s);
  g_assert_cmpstr(e, ==, CONF);
  g_bytes_unref(s.id_r);

  /* the tickets the actions ask for */
  char *uris[] = { (char *)BOB, (char *)CONF, (char *)"sip:carol@example.org", NULL };
  UaAction nt = { 1000, UA_ACTION_NEW_TICKET, uris };
  g_auto(GStrv) r1 = ua_action_recipients(&nt, CONF);
  g_assert_cmpuint(g_strv_length(r1), ==, 3);
  g_assert_cmpstr(r1[0], ==, CONF); /* first, and once */
  g_assert_cmpstr(r1[1], ==, BOB);
  g_assert_cmpstr(r1[2], ==, "sip:carol@example.org");
  UaAction ft = { 0, UA_ACTION_FOCUS_TICKET, NULL };
  g_auto(GStrv) r2 = ua_action_recipients(&ft, CONF);
  g_assert_cmpuint(g_strv_length(r2), ==, 1);
  g_assert_cmpstr(r2[0], ==, CONF);
  UaAction st = { 0, UA_ACTION_SAME_TICKET, NULL };
  UaAction cu = { 0, UA_ACTION_CSB_UPDATE, NULL };
  g_assert_null(ua_action_recipients(&st, CONF));
  g_assert_null(ua_action_recipients(&cu, CONF));
}

/* In-dialog offers of each kind verify at the focus with the IDRr the focus resolves with
 * (profile 7.3: the TRANSFER_INIT's IDRr when it is a focus identity). */
static void test_in_dialog_offers_verify(void)
{
  World w;
  world_init(&w);
  g_autoptr(GError) error = NULL;
  const char *create[] = { FACTORY, BOB, NULL };
  MikeyTicketGrant g0;
  get_grant(&w, create, &g0);

  /* same-ticket: the creation ticket to the factory URI again, fresh CSB ID and RANDRi */
  g_autofree char *idrr = ua_action_idrr(UA_ACTION_SAME_TICKET, CONF, FACTORY, NULL);
  g_autoptr(GBytes) t1 = build_ti(&g0, idrr, BOTH, 2, UA_FAULT_NONE);
  g_autoptr(GBytes) t2 = build_ti(&g0, idrr, BOTH, 2, UA_FAULT_NONE);
  MikeyTransferInitView v1, v2;
  g_assert_true(mikey_transfer_init_parse(t1, &v1, &error));
  g_assert_true(mikey_transfer_init_parse(t2, &v2, &error));
  g_assert_cmphex(v1.msg->hdr.csb_id, !=, v2.msg->hdr.csb_id);
  g_assert_false(g_bytes_equal(v1.randri, v2.randri));
  g_assert_true(mikey_ticket_same(v1.ticket, v2.ticket)); /* "the same ticket" to the focus */
  MikeyResolvedKeys k;
  focus_resolve(&w, &v2, FACTORY, &k);
  g_assert_true(mikey_transfer_init_verify(&v2, &k, FACTORY, &error));
  g_assert_no_error(error);
  mikey_resolved_keys_clear(&k);
  mikey_transfer_init_view_clear(&v1);
  mikey_transfer_init_view_clear(&v2);

  /* new-ticket: a ticket naming the conference URI and the new set, IDRr = the conference */
  char *uris[] = { (char *)BOB, NULL };
  UaAction nt = { 0, UA_ACTION_NEW_TICKET, uris };
  g_auto(GStrv) recipients = ua_action_recipients(&nt, CONF);
  MikeyTicketGrant g1;
  get_grant(&w, (const char *const *)recipients, &g1);
  g_autofree char *idrr2 = ua_action_idrr(UA_ACTION_NEW_TICKET, CONF, FACTORY, NULL);
  g_autoptr(GBytes) t3 = build_ti(&g1, idrr2, BOTH, 2, UA_FAULT_NONE);
  g_assert_true(mikey_transfer_init_parse(t3, &v1, &error));
  g_autofree char *id = id_string(v1.id_r);
  g_assert_cmpstr(id, ==, CONF);
  focus_resolve(&w, &v1, CONF, &k);
  g_assert_true(mikey_transfer_init_verify(&v1, &k, CONF, &error));
  g_assert_no_error(error);
  mikey_resolved_keys_clear(&k);
  mikey_transfer_init_view_clear(&v1);

  mikey_ticket_grant_clear(&g1);
  mikey_ticket_grant_clear(&g0);
  world_clear(&w);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ua-offer/ticket/request", test_ticket_request);
  g_test_add_func("/ua-offer/ticket/refused", test_ticket_refused);
  g_test_add_func("/ua-offer/offer/both", test_offer_both);
  g_test_add_func("/ua-offer/offer/gcm", test_offer_gcm);
  g_test_add_func("/ua-offer/offer/aes-cm", test_offer_aes_cm);
  g_test_add_func("/ua-offer/offer/aes-cm-first", test_offer_aes_cm_first);
  g_test_add_func("/ua-offer/offer/library-layout", test_offer_default_is_library_layout);
  g_test_add_func("/ua-offer/offer/faults", test_offer_faults);
  g_test_add_func("/ua-offer/answer/refused", test_answer_refused);
  g_test_add_func("/ua-offer/7.3/idrr", test_action_idrr);
  g_test_add_func("/ua-offer/7.3/in-dialog-offers-verify", test_in_dialog_offers_verify);
  return g_test_run();
}
