/* A complete MIKEY-TICKET exchange in memory, with fresh random keys, RANDs and CSB IDs:
 * initiator <-> KMS (Ticket Request), initiator -> responder (Ticket Transfer), responder
 * <-> KMS (Ticket Resolve), responder -> initiator (TRANSFER_RESP), then a CSB update. Both
 * ends must derive identical SRTP keys, for both suites, with and without key forking.
 *
 * Run with --verbose to see the exchange narrated (./quickstart demo does). */
#include "exchange.h"
#include "ntp.h"
#include "policy.h"
#include "replay.h"

#include <string.h>

#define KMS_URI "kms.example.org"
#define ALICE "sip:alice@example.org"
#define FACTORY "sip:conference-factory@conf.example.org"
#define FOCUS "sip:focus@conf.example.org"

typedef struct {
  MikeySecret *psk;
  GBytes *psk_id;
  const char *identity;
} Party;

typedef struct {
  MikeySecret *tpk;
  GBytes *tpk_id;
  Party alice, focus;
  MikeyPrf prf;
  gboolean forking;
  guint64 now;
} World;

static GBytes *random_bytes(gsize n)
{
  guint8 *b = g_malloc(n);
  g_assert_true(mikey_random_bytes(b, n, NULL));
  return g_bytes_new_take(b, n);
}

static guint32 random_u32(void)
{
  guint32 v;
  g_assert_true(mikey_random_bytes((guint8 *)&v, sizeof v, NULL));
  return v;
}

static void party_init(Party *p, const char *identity)
{
  p->identity = identity;
  p->psk = mikey_secret_new_random(32, NULL);
  p->psk_id = random_bytes(16);
}

static void party_clear(Party *p)
{
  mikey_secret_free(p->psk);
  g_bytes_unref(p->psk_id);
}

static void world_init(World *w, MikeyPrf prf, gboolean forking)
{
  memset(w, 0, sizeof *w);
  w->prf = prf;
  w->forking = forking;
  w->tpk = mikey_secret_new_random(32, NULL);
  w->tpk_id = random_bytes(16);
  party_init(&w->alice, ALICE);
  party_init(&w->focus, FOCUS);
  w->now = mikey_ntp_now();
}

static void world_clear(World *w)
{
  mikey_secret_free(w->tpk);
  g_bytes_unref(w->tpk_id);
  party_clear(&w->alice);
  party_clear(&w->focus);
}

static const MikeySecret *lookup_tpk(GBytes *id, gpointer user_data)
{
  World *w = user_data;
  return g_bytes_equal(id, w->tpk_id) ? w->tpk : NULL;
}

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
  if (!g_test_verbose())
    return;
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *s = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_test_message("%s", s);
}

static MikeyKeyData *key_with_spi(MikeyKeyType type, const MikeySecret *key, GBytes *spi)
{
  return mikey_key_data_new(type, key, g_bytes_get_data(spi, NULL), g_bytes_get_size(spi));
}

/* The KMS's Ticket Request processing, reduced to what the library provides: authenticate,
 * grant the requested policy with IDRi = the authenticated requester, seal, answer. */
static GBytes *kms_request(World *w, GBytes *body, GError **error)
{
  MikeyKmsRequest req;
  if (!mikey_kms_request_parse(body, &req, error))
    return NULL;
  GBytes *out = NULL;
  if (!g_bytes_equal(req.psk_id, w->alice.psk_id)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID, "unknown PSK ID");
  } else if (mikey_kms_request_verify(&req, w->alice.psk, w->alice.identity, KMS_URI, error)) {
    MikeyPolicySpec spec = { 0 };
    g_assert_true(mikey_policy_spec_from_body(&req.tp->u.ticket, &spec, NULL));
    g_free(spec.idri);
    spec.idri = g_strdup(w->alice.identity);
    spec.tr_type = MIKEY_TS_NTP_UTC;
    g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TICKET, error);
    mikey_policy_spec_clear(&spec);
    g_autoptr(MikeySecret) mpk = mikey_secret_new_random(mikey_suite_key_len(w->prf), NULL);
    g_autoptr(MikeySecret) tgk = mikey_secret_new_random(mikey_suite_key_len(w->prf), NULL);
    g_autoptr(GBytes) mpk_spi = random_bytes(MIKEY_SPI_LEN);
    g_autoptr(GBytes) tgk_spi = random_bytes(MIKEY_SPI_LEN);
    g_autoptr(GBytes) rand = random_bytes(MIKEY_RAND_LEN);
    g_autoptr(GPtrArray) sealed = mikey_key_data_list_new();
    g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_MPK, mpk, mpk_spi));
    g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
    MikeyTicketSeal seal = {
      w->now, g_bytes_get_data(rand, NULL), g_bytes_get_size(rand), w->tpk, w->tpk_id, sealed
    };
    g_assert_true(mikey_ticket_seal(ticket, &seal, error));
    g_autoptr(MikeySecret) mpki = mikey_ticket_derive_mpk(w->prf, mpk, MIKEY_C_MPKI, rand, error);
    g_autoptr(MikeySecret) mpkr = mikey_ticket_derive_mpk(w->prf, mpk, MIKEY_C_MPKR, rand, error);
    g_autoptr(GPtrArray) keys = mikey_key_data_list_new();
    g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpki, mpk_spi));
    if (w->forking)
      g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpkr, mpk_spi));
    g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
    out = mikey_request_resp_build(&req, w->alice.psk, w->now + 1, KMS_URI, ticket, keys, error);
  }
  mikey_kms_request_clear(&req);
  return out;
}

/* The KMS's Ticket Resolve: authenticate the focus, open the ticket, check the focus asks for
 * a recipient the ticket names, fork, answer. */
static GBytes *kms_resolve(World *w, GBytes *body, GError **error)
{
  MikeyKmsRequest req;
  MikeyOpenedTicket opened = { 0 };
  GBytes *out = NULL;
  if (!mikey_kms_request_parse(body, &req, error))
    return NULL;
  if (mikey_kms_request_verify(&req, w->focus.psk, w->focus.identity, KMS_URI, error) &&
      mikey_ticket_open(req.tp, lookup_tpk, w, &opened, error)) {
    gboolean named = FALSE;
    GPtrArray *tpd = req.tp->u.ticket.tp_data;
    for (guint i = 0; i < mikey_chain_count(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R); i++)
      named |=
          g_bytes_equal(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i)->u.id.data, req.id);
    if (!named) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID, "IDRr not named by the ticket");
    } else {
      g_autoptr(GBytes) randrkms = random_bytes(MIKEY_RAND_LEN);
      out = mikey_kms_resolve_respond(&req, w->focus.psk, &opened, req.id,
                                      g_bytes_get_data(randrkms, NULL), MIKEY_RAND_LEN, w->now + 3,
                                      KMS_URI, error);
    }
  }
  mikey_opened_ticket_clear(&opened);
  mikey_kms_request_clear(&req);
  return out;
}

static void request_ticket(World *w, MikeyTicketGrant *grant)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyPolicySpec spec = { 0 };
  spec.prf = w->prf;
  spec.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_J |
               MIKEY_TP_N | MIKEY_TP_O | (w->forking ? MIKEY_TP_I : 0);
  spec.idrkms = g_strdup(KMS_URI);
  spec.idri = g_strdup(ALICE);
  spec.trs = w->now;
  spec.tre = w->now + ((guint64)3600 << 32);
  spec.tr_type = MIKEY_TS_NTP_UTC;
  spec.idrr = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(spec.idrr, g_strdup(FACTORY));
  g_ptr_array_add(spec.idrr, g_strdup("sip:bob@example.org"));
  MikeyRequestInitParams p = { w->prf,         random_u32(),
                               w->now,         g_bytes_get_data(randri, NULL),
                               MIKEY_RAND_LEN, ALICE,
                               KMS_URI,        w->alice.psk_id,
                               w->alice.psk,   &spec };
  g_autoptr(GBytes) init = mikey_request_init_build(&p, &error);
  g_assert_no_error(error);
  say("REQUEST_INIT_PSK (%" G_GSIZE_FORMAT " bytes): %s asks %s for a ticket naming %s and bob",
      g_bytes_get_size(init), ALICE, KMS_URI, FACTORY);
  g_autoptr(GBytes) resp = kms_request(w, init, &error);
  g_assert_no_error(error);
  say("REQUEST_RESP (%" G_GSIZE_FORMAT " bytes): ticket sealed under the TPK, MPKi%s and TGK "
      "encrypted to alice's PSK",
      g_bytes_get_size(resp), w->forking ? ", MPKr" : "");
  g_assert_true(mikey_request_resp_open(resp, init, w->alice.psk, grant, &error));
  g_assert_no_error(error);
  g_assert_cmpint(grant->mpkr != NULL, ==, w->forking);
  mikey_policy_spec_clear(&spec);
}

static void run_exchange(MikeyPrf prf, gboolean forking)
{
  World w;
  g_autoptr(GError) error = NULL;
  world_init(&w, prf, forking);
  say("-- suite %s, key forking %s --", prf ? "256-bit (PRF-HMAC-SHA-256)" : "128-bit (MIKEY-1)",
      forking ? "on" : "off");
  MikeyTicketGrant grant;
  request_ticket(&w, &grant);

  /* alice -> focus */
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferInitParams tp = { .prf = prf,
                                 .csb_id = random_u32(),
                                 .t = w.now + 2,
                                 .randri = g_bytes_get_data(randri, NULL),
                                 .randri_len = MIKEY_RAND_LEN,
                                 .idri = ALICE,
                                 .idrr = FACTORY,
                                 .ssrc = random_u32(),
                                 .seq = 4242,
                                 .spi = grant.tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = &grant };
  g_autoptr(GBytes) ti = mikey_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  say("TRANSFER_INIT (%" G_GSIZE_FORMAT " bytes) in the INVITE's SDP offer to %s",
      g_bytes_get_size(ti), FACTORY);

  /* focus: structure and policy first, then resolve */
  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(ti, &view, &error));
  g_assert_true(mikey_policy_check_type(&view.ticket->u.ticket, &error));
  g_assert_true(mikey_policy_check_flags(view.ticket->u.ticket.flags, TRUE, &error));
  g_assert_true(mikey_policy_check_validity(&view.ticket->u.ticket, w.now, 120, &error));
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyResolveInitParams rp = { prf,
                                random_u32(),
                                w.now + 3,
                                g_bytes_get_data(randrr, NULL),
                                MIKEY_RAND_LEN,
                                FACTORY,
                                KMS_URI,
                                view.ticket,
                                w.focus.psk_id,
                                w.focus.psk };
  g_autoptr(GBytes) ri = mikey_resolve_init_build(&rp, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) rr = kms_resolve(&w, ri, &error);
  g_assert_no_error(error);
  say("RESOLVE_INIT_PSK (%" G_GSIZE_FORMAT " bytes) -> RESOLVE_RESP (%" G_GSIZE_FORMAT
      " bytes): the KMS authenticated the focus and returned %s",
      g_bytes_get_size(ri), g_bytes_get_size(rr),
      forking ? "MPKi, the forked MPKr' and TGK', and RANDRkms" : "MPKi and the TGK");
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(rr, ri, w.focus.psk, &keys, &error));
  g_assert_no_error(error);
  g_assert_true(mikey_transfer_init_verify(&view, &keys, FACTORY, &error));
  g_assert_no_error(error);

  /* a wrong identity in the MAC input fails (RFC 6043 5.5: identities are appended) */
  g_autoptr(GError) e2 = NULL;
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(ti, NULL);
  g_ptr_array_remove_index(m->payloads, 3); /* IDRr: the focus then appends its own idea */
  g_autoptr(GBytes) no_idrr = mikey_msg_encode(m, NULL);
  MikeyTransferInitView v2;
  g_assert_true(mikey_transfer_init_parse(no_idrr, &v2, NULL));
  g_assert_false(mikey_transfer_init_verify(&v2, &keys, "sip:conf-other@conf.example.org", &e2));
  g_assert_error(e2, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  mikey_transfer_init_view_clear(&v2);

  guint8 policy;
  g_assert_true(mikey_transfer_choose_policy(&view, &policy, &error));
  g_autoptr(GBytes) randrr2 = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = {
    w.now + 4, g_bytes_get_data(randrr2, NULL), MIKEY_RAND_LEN, policy, random_u32(), 0, 1234
  };
  MikeyCsbState focus_state = { 0 }, alice_state = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &ap, &focus_state, &error);
  g_assert_no_error(error);
  MikeyTransferAnswer ans;
  g_assert_true(mikey_transfer_resp_open(tr, ti, &grant, &alice_state, &ans, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(ans.policy_no, ==, MIKEY_POLICY_AEAD_AES_128_GCM);
  say("TRANSFER_RESP (%" G_GSIZE_FORMAT " bytes) in the 200 OK: policy AEAD_AES_128_GCM; alice "
      "%s",
      g_bytes_get_size(tr), forking ? "forked MPKr'/TGK' from IDRr and RANDRkms" : "verified V");

  for (guint8 cs = 1; cs <= 2; cs++) {
    g_autoptr(MikeySecret) ka = NULL, sa = NULL, kf = NULL, sf = NULL;
    g_assert_true(mikey_csb_srtp_keys(&alice_state, cs, 12, &ka, &sa, &error));
    g_assert_true(mikey_csb_srtp_keys(&focus_state, cs, 12, &kf, &sf, &error));
    g_assert_true(mikey_secret_equal(ka, kf));
    g_assert_true(mikey_secret_equal(sa, sf));
    g_assert_cmpuint(ka->len, ==, 16);
  }
  say("both ends derived the same SRTP master keys and salts for CS 1 and CS 2");

  /* CSB update with a new SSRC: keys unchanged */
  g_autoptr(GBytes) ui =
      mikey_csb_update_init_build(&alice_state, w.now + 30, random_u32(), 0, 77, NULL, 0, &error);
  g_assert_no_error(error);
  MikeyTransferInitView uv;
  g_assert_true(mikey_transfer_init_parse(ui, &uv, &error));
  g_assert_true(mikey_csb_update_verify(&uv, &focus_state, &error));
  g_autoptr(GBytes) ur =
      mikey_csb_update_resp_build(&uv, &focus_state, w.now + 31, policy, ap.ssrc, 0, 99, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_csb_update_resp_open(ur, ui, &alice_state, &ans, &error));
  g_assert_no_error(error);
  say("CSB update (%" G_GSIZE_FORMAT " + %" G_GSIZE_FORMAT " bytes) verified both ways",
      g_bytes_get_size(ui), g_bytes_get_size(ur));

  mikey_transfer_init_view_clear(&uv);
  mikey_transfer_init_view_clear(&view);
  mikey_resolved_keys_clear(&keys);
  mikey_csb_state_clear(&focus_state);
  mikey_csb_state_clear(&alice_state);
  mikey_ticket_grant_clear(&grant);
  world_clear(&w);
}

static void test_prf1_forking(void)
{
  run_exchange(MIKEY_PRF_HMAC_SHA256, TRUE);
}

static void test_prf1_no_forking(void)
{
  run_exchange(MIKEY_PRF_HMAC_SHA256, FALSE);
}

static void test_prf0_forking(void)
{
  run_exchange(MIKEY_PRF_HMAC_SHA1, TRUE);
}

static void test_prf0_no_forking(void)
{
  run_exchange(MIKEY_PRF_HMAC_SHA1, FALSE);
}

/* Another recipient of the same ticket cannot use it against the focus (key forking): bob's
 * resolve gives keys forked for bob's IDRr, which do not verify alice's TRANSFER_RESP. */
static void test_forking_binds_identity(void)
{
  World w;
  g_autoptr(GError) error = NULL;
  world_init(&w, MIKEY_PRF_HMAC_SHA256, TRUE);
  MikeyTicketGrant grant;
  request_ticket(&w, &grant);
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferInitParams tp = { .prf = w.prf,
                                 .csb_id = 7,
                                 .t = w.now,
                                 .randri = g_bytes_get_data(randri, NULL),
                                 .randri_len = MIKEY_RAND_LEN,
                                 .idri = ALICE,
                                 .idrr = FACTORY,
                                 .ssrc = 1,
                                 .spi = grant.tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = &grant };
  g_autoptr(GBytes) ti = mikey_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(ti, &view, &error));

  /* resolve as a different recipient: the keys are forked for "sip:bob@example.org" */
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyResolveInitParams rp = { w.prf,          9,
                                w.now,          g_bytes_get_data(randrr, NULL),
                                MIKEY_RAND_LEN, "sip:bob@example.org",
                                KMS_URI,        view.ticket,
                                w.focus.psk_id, w.focus.psk };
  g_autoptr(GBytes) ri = mikey_resolve_init_build(&rp, &error);
  g_autoptr(GBytes) rr = kms_resolve(&w, ri, &error);
  g_assert_no_error(error);
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(rr, ri, w.focus.psk, &keys, &error));
  /* MPKi is not forked: the TRANSFER_INIT still verifies... */
  g_assert_true(mikey_transfer_init_verify(&view, &keys, FACTORY, &error));
  /* ...but the answer is keyed with MPKr' for bob; alice forks with the IDRr it carries, so the
   * keys agree only because IDRr is echoed; substituting the factory IDRr breaks it */
  g_bytes_unref(keys.idrr);
  keys.idrr = g_bytes_new(FACTORY, strlen(FACTORY));
  g_autoptr(GBytes) rnd = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = { w.now, g_bytes_get_data(rnd, NULL), MIKEY_RAND_LEN, 0, 5, 0, 6 };
  MikeyCsbState fs = { 0 }, as = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &ap, &fs, &error);
  g_assert_no_error(error);
  MikeyTransferAnswer ans;
  g_assert_false(mikey_transfer_resp_open(tr, ti, &grant, &as, &ans, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  mikey_csb_state_clear(&fs);
  mikey_csb_state_clear(&as);
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);
  world_clear(&w);
}

/* Replay cache and freshness (profile 4): a second identical message inside the window is a
 * replay; its timestamp outside the window is refused by the window check. */
static void test_replay_and_window(void)
{
  g_autoptr(MikeyReplayCache) cache = mikey_replay_cache_new(120, 1000);
  guint64 now = mikey_ntp_now();
  const guint8 msg[] = "a MIKEY message";
  g_assert_true(mikey_replay_cache_check_and_add(cache, msg, sizeof msg, now, now));
  g_assert_false(mikey_replay_cache_check_and_add(cache, msg, sizeof msg, now, now + (5ull << 32)));
  g_assert_true(mikey_replay_cache_check_and_add(cache, msg, sizeof msg - 1, now, now));
  g_assert_cmpuint(mikey_replay_cache_size(cache), ==, 2);
  /* after the window the entry is gone, and the old T no longer passes the window check */
  guint64 later = now + (121ull << 32);
  g_assert_false(mikey_ntp_within(now, later, 120));
  g_assert_true(mikey_replay_cache_check_and_add(cache, msg, sizeof msg, now, later));
  g_assert_true(mikey_ntp_within(now, now + (119ull << 32), 120));

  /* bounded: the oldest entries go first */
  g_autoptr(MikeyReplayCache) small = mikey_replay_cache_new(120, 3);
  for (guint8 i = 0; i < 10; i++)
    g_assert_true(mikey_replay_cache_check_and_add(small, &i, 1, now, now));
  g_assert_cmpuint(mikey_replay_cache_size(small), ==, 3);
  guint8 recent = 9;
  g_assert_false(mikey_replay_cache_check_and_add(small, &recent, 1, now, now));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/exchange/prf1-forking", test_prf1_forking);
  g_test_add_func("/exchange/prf1-no-forking", test_prf1_no_forking);
  g_test_add_func("/exchange/prf0-forking", test_prf0_forking);
  g_test_add_func("/exchange/prf0-no-forking", test_prf0_no_forking);
  g_test_add_func("/exchange/forking-binds-identity", test_forking_binds_identity);
  g_test_add_func("/exchange/replay-and-window", test_replay_and_window);
  return g_test_run();
}
