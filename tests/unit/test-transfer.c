/* Ticket Transfer and the responder's side of Ticket Resolve against the golden exchange
 * (scenario A: PRF 1 with key forking; B: PRF 0 without): every message the initiator and the
 * focus build must equal the vector byte for byte, each side must accept the other's, and
 * both must derive the vector's SRTP keys. */
#include "exchange.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
  JsonObject *inputs;
  JsonObject *inter;
  JsonObject *srtp;
  JsonParser *parser;
  const char *scn;
} Scenario;

static JsonParser *parser_load(void)
{
  g_autofree char *path =
      g_test_build_filename(G_TEST_DIST, "data", "exchange", "exchange.json", NULL);
  g_autoptr(GError) error = NULL;
  JsonParser *parser = json_parser_new();
  if (!json_parser_load_from_file(parser, path, &error))
    g_error("%s: %s", path, error->message);
  return parser;
}

static void scenario_load(Scenario *s, const char *name)
{
  s->parser = parser_load();
  s->scn = name;
  JsonObject *root = json_node_get_object(json_parser_get_root(s->parser));
  JsonObject *sc =
      json_object_get_object_member(json_object_get_object_member(root, "scenarios"), name);
  s->inputs = json_object_get_object_member(sc, "inputs");
  s->inter = json_object_get_object_member(sc, "intermediates");
}

static void scenario_clear(Scenario *s)
{
  g_clear_object(&s->parser);
}

static const char *input_hex(Scenario *s, const char *name)
{
  JsonObject *o = json_object_get_object_member(s->inputs, name);
  if (!o)
    g_error("scenario %s has no input '%s'", s->scn, name);
  return json_object_get_string_member(o, "hex");
}

static GBytes *hex_bytes(const char *hex)
{
  gsize n = strlen(hex) / 2;
  guint8 *b = g_malloc(n);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) << 4 | g_ascii_xdigit_value(hex[2 * i + 1]));
  return g_bytes_new_take(b, n);
}

static GBytes *in_bytes(Scenario *s, const char *name)
{
  return hex_bytes(input_hex(s, name));
}

static guint64 in_u64(Scenario *s, const char *name)
{
  return g_ascii_strtoull(input_hex(s, name), NULL, 16);
}

static char *in_text(Scenario *s, const char *name)
{
  g_autoptr(GBytes) b = in_bytes(s, name);
  return g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static MikeySecret *in_secret(Scenario *s, const char *name)
{
  return mikey_secret_new_from_hex(input_hex(s, name), NULL);
}

static MikeySecret *inter_secret(Scenario *s, const char *name)
{
  JsonObject *o = json_object_get_object_member(s->inter, name);
  if (!o)
    g_error("scenario %s has no intermediate '%s'", s->scn, name);
  return mikey_secret_new_from_hex(json_object_get_string_member(o, "value"), NULL);
}

static GBytes *load(const char *file)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange", file, NULL);
  char *data;
  gsize len;
  if (!g_file_get_contents(path, &data, &len, NULL))
    g_error("cannot read %s", path);
  return g_bytes_new_take(data, len);
}

static void assert_same_bytes(GBytes *got, GBytes *want, const char *what)
{
  if (g_bytes_equal(got, want))
    return;
  gsize a, b;
  const guint8 *x = g_bytes_get_data(got, &a), *y = g_bytes_get_data(want, &b);
  gsize i = 0;
  while (i < a && i < b && x[i] == y[i])
    i++;
  g_error("%s differs from the vector at byte %" G_GSIZE_FORMAT " (lengths %" G_GSIZE_FORMAT
          " vs %" G_GSIZE_FORMAT ")",
          what, i, a, b);
}

typedef struct {
  const char *scn;
  const char *request_resp, *transfer_init, *resolve_init, *resolve_resp, *transfer_resp;
  const char *update_init, *update_resp;
  gboolean forking;
} Files;

static const Files files_a = { "A",
                               "02-a-request_resp.bin",
                               "03-a-transfer_init.bin",
                               "04-a-resolve_init.bin",
                               "05-a-resolve_resp.bin",
                               "06-a-transfer_resp.bin",
                               "07-a-csb_update_init.bin",
                               "08-a-csb_update_resp.bin",
                               TRUE };
static const Files files_b = { "B",
                               "12-b-request_resp.bin",
                               "13-b-transfer_init.bin",
                               "14-b-resolve_init.bin",
                               "15-b-resolve_resp.bin",
                               "16-b-transfer_resp.bin",
                               "17-b-csb_update_init.bin",
                               "18-b-csb_update_resp.bin",
                               FALSE };

/* The initiator's grant as the vector's REQUEST_RESP gives it: its TICKET, MPKi, MPKr, TGK. */
static void grant_from_vectors(Scenario *s, const Files *f, MikeyTicketGrant *grant)
{
  g_autoptr(GBytes) b = load(f->request_resp);
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(b, NULL);
  g_assert_nonnull(m);
  memset(grant, 0, sizeof *grant);
  grant->ticket = mikey_payload_dup(mikey_msg_find(m, MIKEY_PT_TICKET, 0, 0), NULL);
  grant->mpki = inter_secret(s, "MPKi");
  grant->mpkr = f->forking ? inter_secret(s, "MPKr") : NULL;
  grant->tgk = in_secret(s, "TGK");
  grant->tgk_spi = in_bytes(s, "TGK SPI");
}

static GBytes *build_transfer_init(Scenario *s, const MikeyTicketGrant *grant, GError **error)
{
  g_autoptr(GBytes) randri = in_bytes(s, "RANDRi(transfer)");
  g_autoptr(GBytes) spi = in_bytes(s, "TGK SPI");
  g_autofree char *idri = in_text(s, "identity(initiator)");
  g_autofree char *target = in_text(s, "target");
  MikeyTransferInitParams p = {
    .prf = grant->ticket->u.ticket.prf,
    .csb_id = (guint32)in_u64(s, "CSB ID(transfer)"),
    .t = in_u64(s, "T(TRANSFER_INIT)"),
    .randri = g_bytes_get_data(randri, NULL),
    .randri_len = g_bytes_get_size(randri),
    .idri = idri,
    .idrr = target,
    .ssrc = (guint32)in_u64(s, "SSRC(initiator)"),
    .seq = (guint16)in_u64(s, "SEQ(initiator)"),
    .spi = spi,
    .sdp_ids = "mikey",
    .grant = grant,
  };
  return mikey_transfer_init_build(&p, error);
}

static GBytes *build_resolve_init(Scenario *s, const MikeyTransferInitView *view, GError **error)
{
  g_autoptr(GBytes) randrr = in_bytes(s, "RANDRr(resolve)");
  g_autoptr(GBytes) psk_id = in_bytes(s, "PSK ID(focus)");
  g_autoptr(MikeySecret) psk = in_secret(s, "PSK(focus)");
  g_autofree char *target = in_text(s, "target");
  g_autofree char *kms = in_text(s, "KMS URI");
  MikeyResolveInitParams p = {
    .prf = view->msg->hdr.prf,
    .csb_id = (guint32)in_u64(s, "CSB ID(resolve)"),
    .t = in_u64(s, "T(RESOLVE_INIT)"),
    .randrr = g_bytes_get_data(randrr, NULL),
    .randrr_len = g_bytes_get_size(randrr),
    .idrr = target,
    .idrkms = kms,
    .ticket = view->ticket,
    .psk_id = psk_id,
    .psk = psk,
  };
  return mikey_resolve_init_build(&p, error);
}

static void check_srtp(Scenario *s, const MikeyCsbState *st)
{
  static const struct {
    guint8 cs;
    const char *key, *salt_gcm, *salt_cm;
  } rows[] = { { 1, "CS1.TEK", "CS1.salt(GCM)", "CS1.salt(AES-CM)" },
               { 2, "CS2.TEK", "CS2.salt(GCM)", "CS2.salt(AES-CM)" } };
  for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
    for (guint8 pol = 0; pol <= 1; pol++) {
      g_autoptr(GError) error = NULL;
      g_autoptr(MikeySecret) key = NULL, salt = NULL;
      g_assert_true(
          mikey_csb_srtp_keys(st, rows[i].cs, mikey_profile_salt_len(pol), &key, &salt, &error));
      g_assert_no_error(error);
      g_autoptr(MikeySecret) want_key = inter_secret(s, rows[i].key);
      g_autoptr(MikeySecret) want_salt = inter_secret(s, pol ? rows[i].salt_cm : rows[i].salt_gcm);
      g_assert_true(mikey_secret_equal(key, want_key));
      g_assert_true(mikey_secret_equal(salt, want_salt));
    }
  }
}

/* The whole transfer, both ends, against one scenario. */
static void run_scenario(gconstpointer data)
{
  const Files *f = data;
  Scenario s;
  g_autoptr(GError) error = NULL;
  scenario_load(&s, f->scn);
  MikeyTicketGrant grant;
  grant_from_vectors(&s, f, &grant);

  /* initiator: TRANSFER_INIT */
  g_autoptr(GBytes) ti = build_transfer_init(&s, &grant, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) ti_want = load(f->transfer_init);
  assert_same_bytes(ti, ti_want, f->transfer_init);

  /* responder: parse, resolve */
  MikeyTransferInitView view;
  g_assert_true(mikey_transfer_init_parse(ti, &view, &error));
  g_assert_no_error(error);
  g_assert_false(view.is_update);
  g_assert_nonnull(view.sdp_ids);
  guint8 policy;
  g_assert_true(mikey_transfer_choose_policy(&view, &policy, &error));
  g_assert_cmpuint(policy, ==, in_u64(&s, "policy chosen (initial answer)"));
  g_assert_cmpuint(mikey_transfer_policy_profile(&view, policy), ==, MIKEY_POLICY_AEAD_AES_128_GCM);

  g_autoptr(GBytes) ri = build_resolve_init(&s, &view, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) ri_want = load(f->resolve_init);
  assert_same_bytes(ri, ri_want, f->resolve_init);

  g_autoptr(GBytes) rr = load(f->resolve_resp);
  g_autoptr(MikeySecret) focus_psk = in_secret(&s, "PSK(focus)");
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(rr, ri, focus_psk, &keys, &error));
  g_assert_no_error(error);
  g_autoptr(MikeySecret) want_mpki = inter_secret(&s, "MPKi");
  g_assert_true(mikey_secret_equal(keys.mpki, want_mpki));
  if (f->forking) {
    g_autoptr(MikeySecret) want_mpkr = inter_secret(&s, "MPKr'");
    g_autoptr(MikeySecret) want_tgk = inter_secret(&s, "TGK'");
    g_assert_true(mikey_secret_equal(keys.mpkr, want_mpkr));
    g_assert_true(mikey_secret_equal(keys.tgk, want_tgk));
    g_assert_nonnull(keys.randrkms);
  } else {
    g_autoptr(MikeySecret) want_tgk = in_secret(&s, "TGK");
    g_assert_null(keys.mpkr);
    g_assert_true(mikey_secret_equal(keys.tgk, want_tgk));
    g_assert_null(keys.randrkms);
  }
  g_autofree char *target = in_text(&s, "target");
  g_assert_true(mikey_transfer_init_verify(&view, &keys, target, &error));
  g_assert_no_error(error);

  /* responder: TRANSFER_RESP */
  g_autoptr(GBytes) randrr = in_bytes(&s, "RANDRr(transfer)");
  MikeyTransferRespParams rp = {
    .t = in_u64(&s, "T(TRANSFER_RESP)"),
    .randrr = g_bytes_get_data(randrr, NULL),
    .randrr_len = g_bytes_get_size(randrr),
    .policy_no = policy,
    .ssrc = (guint32)in_u64(&s, "SSRC(focus)"),
    .seq = (guint16)in_u64(&s, "SEQ(focus)"),
  };
  MikeyCsbState focus_state = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &rp, &focus_state, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) tr_want = load(f->transfer_resp);
  assert_same_bytes(tr, tr_want, f->transfer_resp);
  g_autoptr(MikeySecret) want_auth = inter_secret(&s, "TRANSFER_RESP.auth_key");
  g_assert_true(mikey_secret_equal(focus_state.auth_key, want_auth));

  /* initiator: opens the answer, derives the same keys */
  MikeyCsbState alice_state = { 0 };
  MikeyTransferAnswer ans;
  g_assert_true(mikey_transfer_resp_open(tr, ti, &grant, &alice_state, &ans, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(ans.policy_no, ==, policy);
  g_assert_cmphex(ans.cs2.ssrc, ==, in_u64(&s, "SSRC(focus)"));
  g_assert_cmpuint(ans.cs2.seq, ==, in_u64(&s, "SEQ(focus)"));
  check_srtp(&s, &alice_state);
  check_srtp(&s, &focus_state);

  /* CSB update, both directions of the check */
  g_autoptr(GBytes) ui =
      mikey_csb_update_init_build(&alice_state, in_u64(&s, "T(CSB update TRANSFER_INIT)"),
                                  (guint32)in_u64(&s, "SSRC(initiator, update)"), 0,
                                  (guint16)in_u64(&s, "SEQ(initiator, update)"), NULL, 0, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) ui_want = load(f->update_init);
  assert_same_bytes(ui, ui_want, f->update_init);
  MikeyTransferInitView uview;
  g_assert_true(mikey_transfer_init_parse(ui, &uview, &error));
  g_assert_true(uview.is_update);
  g_assert_null(uview.sdp_ids);
  g_assert_true(mikey_csb_update_verify(&uview, &focus_state, &error));
  g_assert_no_error(error);
  guint8 upol;
  g_assert_true(mikey_transfer_choose_policy(&uview, &upol, &error));
  g_autoptr(GBytes) ur = mikey_csb_update_resp_build(
      &uview, &focus_state, in_u64(&s, "T(CSB update TRANSFER_RESP)"), upol,
      (guint32)in_u64(&s, "SSRC(focus)"), 0, (guint16)in_u64(&s, "SEQ(focus, update)"), &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) ur_want = load(f->update_resp);
  assert_same_bytes(ur, ur_want, f->update_resp);
  MikeyTransferAnswer uans;
  g_assert_true(mikey_csb_update_resp_open(ur, ui, &alice_state, &uans, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(uans.cs2.seq, ==, in_u64(&s, "SEQ(focus, update)"));

  /* an update replayed under another bundle's keys fails; a tampered answer fails */
  MikeyCsbState other = { 0 };
  other.prf = focus_state.prf;
  other.csb_id = focus_state.csb_id;
  other.id_i = g_bytes_ref(focus_state.id_i);
  other.id_r = g_bytes_ref(focus_state.id_r);
  other.auth_key = mikey_secret_new(focus_state.auth_key->len);
  g_assert_false(mikey_csb_update_verify(&uview, &other, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  mikey_csb_state_clear(&other);

  mikey_transfer_init_view_clear(&uview);
  mikey_transfer_init_view_clear(&view);
  mikey_resolved_keys_clear(&keys);
  mikey_csb_state_clear(&focus_state);
  mikey_csb_state_clear(&alice_state);
  mikey_ticket_grant_clear(&grant);
  scenario_clear(&s);
}

/* Every single-byte change of the answer is refused by the initiator; every change of the
 * offer's MAC-covered bytes is refused by the responder after the resolve. */
static void run_tamper(gconstpointer data)
{
  const Files *f = data;
  Scenario s;
  scenario_load(&s, f->scn);
  MikeyTicketGrant grant;
  grant_from_vectors(&s, f, &grant);
  g_autoptr(GBytes) ti = load(f->transfer_init);
  g_autoptr(GBytes) tr = load(f->transfer_resp);
  gsize n;
  const guint8 *d = g_bytes_get_data(tr, &n);
  g_autofree guint8 *copy = g_memdup2(d, n);
  for (gsize i = 0; i < n; i++) {
    copy[i] ^= 0x01;
    g_autoptr(GBytes) bad = g_bytes_new(copy, n);
    MikeyCsbState st = { 0 };
    MikeyTransferAnswer ans;
    g_autoptr(GError) error = NULL;
    if (mikey_transfer_resp_open(bad, ti, &grant, &st, &ans, &error))
      g_error("TRANSFER_RESP with byte %" G_GSIZE_FORMAT " flipped was accepted", i);
    g_assert_nonnull(error);
    mikey_csb_state_clear(&st);
    copy[i] ^= 0x01;
  }

  /* responder side: the resolve is not repeated; flipped bytes before V must fail V */
  g_autoptr(GBytes) rr = load(f->resolve_resp);
  g_autoptr(GBytes) ri = load(f->resolve_init);
  g_autoptr(MikeySecret) focus_psk = in_secret(&s, "PSK(focus)");
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(rr, ri, focus_psk, &keys, NULL));
  g_autofree char *target = in_text(&s, "target");
  d = g_bytes_get_data(ti, &n);
  g_autofree guint8 *tcopy = g_memdup2(d, n);
  /* Vr's MAC is the one part the focus cannot check: the KMS verified it at the resolve */
  gsize vr_start = n, vr_end = n;
  if (f->forking) {
    g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(ti, NULL);
    MikeyPayload *t = mikey_msg_find(m, MIKEY_PT_TICKET, 0, 0);
    vr_end = t->offset + t->length;
    vr_start = vr_end - (gsize)mikey_mac_len(mikey_suite_mac_alg(m->hdr.prf));
  }
  for (gsize i = 0; i < n; i++) {
    tcopy[i] ^= 0x80;
    g_autoptr(GBytes) bad = g_bytes_new(tcopy, n);
    MikeyTransferInitView view;
    g_autoptr(GError) error = NULL;
    gboolean ok = mikey_transfer_init_parse(bad, &view, &error) &&
                  mikey_transfer_init_verify(&view, &keys, target, &error);
    if (ok != (i >= vr_start && i < vr_end))
      g_error("TRANSFER_INIT with byte %" G_GSIZE_FORMAT " flipped: %s", i,
              ok ? "verified" : error->message);
    mikey_transfer_init_view_clear(&view);
    tcopy[i] ^= 0x80;
  }

  /* a RESOLVE_RESP under another PSK, or answering another RESOLVE_INIT, is refused */
  g_autoptr(MikeySecret) wrong = mikey_secret_new(focus_psk->len);
  MikeyResolvedKeys k2;
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_resolve_resp_open(rr, ri, wrong, &k2, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_AUTH_FAILURE);
  mikey_resolved_keys_clear(&k2);

  mikey_resolved_keys_clear(&keys);
  mikey_ticket_grant_clear(&grant);
  scenario_clear(&s);
}

static void test_profile_sp(void)
{
  for (guint8 pol = 0; pol <= 1; pol++) {
    g_autoptr(MikeyPayload) sp = mikey_profile_sp(pol);
    g_assert_cmpint(mikey_profile_sp_match(sp), ==, pol);
    /* one TLV value changed: no longer a profile policy */
    MikeySpParam *param = g_ptr_array_index(sp->u.sp.params, 1);
    g_bytes_unref(param->value);
    param->value = g_bytes_new("\x20", 1);
    g_assert_cmpint(mikey_profile_sp_match(sp), ==, -1);
  }
  g_assert_cmpuint(mikey_profile_salt_len(MIKEY_POLICY_AEAD_AES_128_GCM), ==, 12);
  g_assert_cmpuint(mikey_profile_salt_len(MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80), ==, 14);
}

/* TRANSFER_INIT structure refusals the focus relies on (profile 6, 7.3). */
static void test_transfer_init_refusals(void)
{
  g_autoptr(GBytes) ti = load("03-a-transfer_init.bin");
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(ti, NULL);
  g_autoptr(GError) error = NULL;
  MikeyTransferInitView view;

  /* a KEMAC (L = 0) */
  g_autoptr(MikeyMsg) k = mikey_msg_parse_bytes(ti, NULL);
  g_ptr_array_insert(k->payloads, (gint)k->payloads->len - 1,
                     mikey_payload_new_kemac(MIKEY_ENCR_AES_CM_256, NULL, MIKEY_MAC_NULL));
  g_autoptr(GBytes) kb = mikey_msg_encode(k, NULL);
  g_assert_false(mikey_transfer_init_parse(kb, &view, &error));
  g_assert_nonnull(strstr(error->message, "KEMAC in TRANSFER_INIT"));
  g_clear_error(&error);

  /* a TICKET without RANDRi */
  g_autoptr(MikeyMsg) r = mikey_msg_parse_bytes(ti, NULL);
  g_ptr_array_remove_index(r->payloads, 1);
  g_autoptr(GBytes) rb = mikey_msg_encode(r, NULL);
  g_assert_false(mikey_transfer_init_parse(rb, &view, &error));
  g_assert_nonnull(strstr(error->message, "a TICKET but no RANDRi"));
  g_clear_error(&error);

  /* another data type */
  g_autoptr(GBytes) other = load("06-a-transfer_resp.bin");
  g_assert_false(mikey_transfer_init_parse(other, &view, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_DT);
  g_clear_error(&error);

  /* no profile policy offered: ERR 9 at the choice */
  g_autoptr(MikeyMsg) p = mikey_msg_parse_bytes(ti, NULL);
  for (guint i = 0; i < p->payloads->len; i++) {
    MikeyPayload *pl = g_ptr_array_index(p->payloads, i);
    if (pl->type == MIKEY_PT_SP)
      mikey_sp_add_param(pl, MIKEY_SRTP_KDR, (const guint8 *)"\x01", 1);
  }
  g_autoptr(GBytes) pb = mikey_msg_encode(p, NULL);
  g_assert_true(mikey_transfer_init_parse(pb, &view, &error));
  guint8 pol;
  g_assert_false(mikey_transfer_choose_policy(&view, &pol, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_SP);
  mikey_transfer_init_view_clear(&view);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_data_func("/transfer/scenario-a-forking-prf1", &files_a, run_scenario);
  g_test_add_data_func("/transfer/scenario-b-prf0", &files_b, run_scenario);
  g_test_add_data_func("/transfer/tamper-a", &files_a, run_tamper);
  g_test_add_data_func("/transfer/tamper-b", &files_b, run_tamper);
  g_test_add_func("/transfer/profile-sp", test_profile_sp);
  g_test_add_func("/transfer/init-refusals", test_transfer_init_refusals);
  return g_test_run();
}
