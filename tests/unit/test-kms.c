/* The KMS and initiator ends of Ticket Request and Ticket Resolve (src/mikey/kms.c, request.c,
 * ticket.c, policyspec.c, suite.c) against the golden exchange vectors
 * (tests/data/exchange/README.md, exchange.json): profile.md §3-§6, mikey-ticket.md §2.
 *
 * Every builder is fed the fixed inputs of the vectors and must reproduce the messages byte for
 * byte; every verifier must refuse what profile §3's refusal table refuses, with its ERR code. */
#include "exchange.h"
#include "kdf.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define KMS_URI "kms.example.org"

#define FLAGS_A                                                                                    \
  (MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I | MIKEY_TP_J |      \
   MIKEY_TP_N | MIKEY_TP_O)
#define FLAGS_B (FLAGS_A & ~MIKEY_TP_I)

static JsonParser *vectors;

/* ------------------------------------------------------------------ vector access */

static JsonObject *scenario(const char *s)
{
  JsonObject *root = json_node_get_object(json_parser_get_root(vectors));
  return json_object_get_object_member(json_object_get_object_member(root, "scenarios"), s);
}

static GBytes *hex_bytes(const char *hex)
{
  gsize n = strlen(hex) / 2;
  guint8 *b = g_malloc(MAX(n, 1));
  for (gsize i = 0; i < n; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    g_assert_cmpint(hi, >=, 0);
    g_assert_cmpint(lo, >=, 0);
    b[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(b, n);
}

static JsonObject *input(const char *s, const char *name)
{
  JsonObject *inputs = json_object_get_object_member(scenario(s), "inputs");
  if (!json_object_has_member(inputs, name))
    g_error("scenario %s has no input \"%s\"", s, name);
  return json_object_get_object_member(inputs, name);
}

static GBytes *in_bytes(const char *s, const char *name)
{
  return hex_bytes(json_object_get_string_member(input(s, name), "hex"));
}

static MikeySecret *in_secret(const char *s, const char *name)
{
  return mikey_secret_new_from_hex(json_object_get_string_member(input(s, name), "hex"), NULL);
}

static const char *in_text(const char *s, const char *name)
{
  return json_object_get_string_member(input(s, name), "text");
}

static guint64 in_u64(const char *s, const char *name)
{
  return g_ascii_strtoull(json_object_get_string_member(input(s, name), "hex"), NULL, 16);
}

static guint32 in_u32(const char *s, const char *name)
{
  return (guint32)in_u64(s, name);
}

static MikeySecret *intermediate(const char *s, const char *name)
{
  JsonObject *im = json_object_get_object_member(scenario(s), "intermediates");
  if (!json_object_has_member(im, name))
    g_error("scenario %s has no intermediate \"%s\"", s, name);
  return mikey_secret_new_from_hex(
      json_object_get_string_member(json_object_get_object_member(im, name), "value"), NULL);
}

/* A message of the vectors by its number ("01", "22"...): the raw .bin file, checked against
 * the hex of exchange.json. */
static GBytes *message(const char *s, const char *id)
{
  JsonArray *msgs = json_object_get_array_member(scenario(s), "messages");
  for (guint i = 0; i < json_array_get_length(msgs); i++) {
    JsonObject *m = json_array_get_object_element(msgs, i);
    if (strcmp(json_object_get_string_member(m, "id"), id) != 0)
      continue;
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange",
                                                  json_object_get_string_member(m, "file"), NULL);
    g_autofree char *contents = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    GBytes *file = g_bytes_new(contents, len);
    g_autoptr(GBytes) hex = hex_bytes(json_object_get_string_member(m, "hex"));
    g_assert_true(g_bytes_equal(file, hex));
    return file;
  }
  g_error("scenario %s has no message %s", s, id);
  return NULL;
}

/* ------------------------------------------------------------------ assertions */

static void assert_bytes(GBytes *got, GBytes *want)
{
  g_assert_nonnull(got);
  gsize gl, wl;
  const guint8 *g = g_bytes_get_data(got, &gl);
  const guint8 *w = g_bytes_get_data(want, &wl);
  for (gsize i = 0; i < MIN(gl, wl); i++)
    if (g[i] != w[i])
      g_error("first difference at offset %" G_GSIZE_FORMAT ": got %02x, want %02x", i, g[i], w[i]);
  g_assert_cmpuint(gl, ==, wl);
}

static void assert_secret(const MikeySecret *got, const MikeySecret *want)
{
  g_assert_nonnull(got);
  g_assert_nonnull(want);
  g_assert_cmpmem(got->data, got->len, want->data, want->len);
}

static void assert_secret_hex(const MikeySecret *got, const char *s, const char *name)
{
  g_autoptr(MikeySecret) want = intermediate(s, name);
  assert_secret(got, want);
}

#define assert_err(error, code) g_assert_error(error, MIKEY_ERROR, (gint)(code))

/* ------------------------------------------------------------------ fixtures */

typedef struct {
  GBytes *id;
  MikeySecret *tpk;
} Tpks;

static const MikeySecret *tpk_lookup(GBytes *tpk_id, gpointer user_data)
{
  Tpks *t = user_data;
  return g_bytes_equal(tpk_id, t->id) ? t->tpk : NULL;
}

static void tpks_init(Tpks *t, const char *s)
{
  t->id = in_bytes(s, "TPK generation id");
  t->tpk = in_secret(s, "TPK");
}

static void tpks_clear(Tpks *t)
{
  g_bytes_unref(t->id);
  mikey_secret_free(t->tpk);
}

static const MikeySecret *no_tpk(GBytes *tpk_id, gpointer user_data)
{
  return NULL;
}

/* The requested policy of scenario A/B: IDRkms, IDRi, TRs, TRe (NTP-UTC), IDRr... */
static void requested_policy(const char *s, MikeyPolicySpec *spec)
{
  memset(spec, 0, sizeof(*spec));
  gboolean a = strcmp(s, "A") == 0;
  spec->prf = a ? MIKEY_PRF_HMAC_SHA256 : MIKEY_PRF_HMAC_SHA1;
  spec->flags = a ? FLAGS_A : FLAGS_B;
  spec->idrkms = g_strdup(in_text(s, "KMS URI"));
  spec->idri = g_strdup(in_text(s, "identity(initiator)"));
  spec->trs = in_u64(s, "TRs");
  spec->tre = in_u64(s, "TRe");
  spec->tr_type = MIKEY_TS_NTP_UTC;
  spec->idrr = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < 3; i++) {
    g_autofree char *name = g_strdup_printf("IDRr[%u]", i);
    if (json_object_has_member(json_object_get_object_member(scenario(s), "inputs"), name))
      g_ptr_array_add(spec->idrr, g_strdup(in_text(s, name)));
  }
}

static MikeyKeyData *key_data(MikeyKeyType type, const MikeySecret *key, GBytes *spi)
{
  gsize n;
  const guint8 *d = g_bytes_get_data(spi, &n);
  return mikey_key_data_new(type, key, d, n);
}

/* Parses and verifies a request of the vectors with the named PSK. */
static void kms_request(const char *s, const char *id, const char *psk_name, MikeyKmsRequest *req)
{
  g_autoptr(GBytes) body = message(s, id);
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) psk = in_secret(s, psk_name);
  g_assert_true(mikey_kms_request_parse(body, req, &error));
  g_assert_no_error(error);
  g_assert_true(mikey_kms_request_verify(req, psk, NULL, KMS_URI, &error));
  g_assert_no_error(error);
}

/* The KMS answering a Ticket Request of scenario A/B (profile §5): granted policy = the
 * requested one (K = 0), ticket sealed with the TPK, KEMAC MPKi, [MPKr], TGK. */
static GBytes *kms_request_resp(const char *s, const char *init_id, const char *psk_name)
{
  MikeyKmsRequest req;
  kms_request(s, init_id, psk_name, &req);
  g_autoptr(GError) error = NULL;

  MikeyPolicySpec granted;
  g_assert_true(mikey_policy_spec_from_body(&req.tp->u.ticket, &granted, &error));
  g_assert_no_error(error);
  granted.flags |= MIKEY_TP_D;
  granted.flags &= ~MIKEY_TP_K;
  g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(&granted, MIKEY_PT_TICKET, &error);
  g_assert_no_error(error);

  g_autoptr(MikeySecret) mpk = in_secret(s, "MPK");
  g_autoptr(MikeySecret) tgk = in_secret(s, "TGK");
  g_autoptr(GBytes) mpk_spi = in_bytes(s, "MPK SPI");
  g_autoptr(GBytes) tgk_spi = in_bytes(s, "TGK SPI");
  g_autoptr(GBytes) rand = in_bytes(s, "RAND(ticket)");
  Tpks tpks;
  tpks_init(&tpks, s);
  g_autoptr(GPtrArray) ticket_keys = mikey_key_data_list_new();
  g_ptr_array_add(ticket_keys, key_data(MIKEY_KEY_MPK, mpk, mpk_spi));
  g_ptr_array_add(ticket_keys, key_data(MIKEY_KEY_TGK, tgk, tgk_spi));
  MikeyTicketSeal seal = {
    .t = in_u64(s, "T(ticket)"),
    .rand = g_bytes_get_data(rand, NULL),
    .rand_len = g_bytes_get_size(rand),
    .tpk = tpks.tpk,
    .tpk_id = tpks.id,
    .keys = ticket_keys,
  };
  g_assert_true(mikey_ticket_seal(ticket, &seal, &error));
  g_assert_no_error(error);

  MikeyPrf prf = ticket->u.ticket.prf;
  g_autoptr(MikeySecret) mpki = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKI, rand, &error);
  g_autoptr(MikeySecret) mpkr = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKR, rand, &error);
  g_assert_no_error(error);
  assert_secret_hex(mpki, s, "MPKi");
  assert_secret_hex(mpkr, s, "MPKr");
  g_autoptr(GPtrArray) keys = mikey_key_data_list_new();
  g_ptr_array_add(keys, key_data(MIKEY_KEY_MPK, mpki, mpk_spi));
  if (granted.flags & MIKEY_TP_I)
    g_ptr_array_add(keys, key_data(MIKEY_KEY_MPK, mpkr, mpk_spi));
  g_ptr_array_add(keys, key_data(MIKEY_KEY_TGK, tgk, tgk_spi));

  g_autoptr(MikeySecret) psk = in_secret(s, psk_name);
  GBytes *resp = mikey_request_resp_build(&req, psk, in_u64(s, "T(REQUEST_RESP)"), KMS_URI, ticket,
                                          keys, &error);
  g_assert_no_error(error);
  mikey_policy_spec_clear(&granted);
  tpks_clear(&tpks);
  mikey_kms_request_clear(&req);
  return resp;
}

/* The KMS answering a Ticket Resolve: open the ticket, then resolve with the ticket's IDRr
 * bytes that match the resolver's and (scenario A) the fixed RANDRkms. */
static GBytes *kms_resolve_resp(const char *s, const char *init_id)
{
  MikeyKmsRequest req;
  kms_request(s, init_id, "PSK(focus)", &req);
  g_autoptr(GError) error = NULL;
  Tpks tpks;
  tpks_init(&tpks, s);
  MikeyOpenedTicket opened;
  g_assert_true(mikey_ticket_open(req.tp, tpk_lookup, &tpks, &opened, &error));
  g_assert_no_error(error);
  g_assert_cmphex(opened.t, ==, in_u64(s, "T(ticket)"));
  g_assert_cmpuint(opened.keys->len, ==, 2);

  /* the resolver named the target; the ticket names it too: those bytes are returned */
  g_autoptr(GBytes) idrr = in_bytes(s, "target");
  g_assert_true(g_bytes_equal(req.id, idrr));
  g_autoptr(GBytes) randrkms = NULL;
  if (json_object_has_member(json_object_get_object_member(scenario(s), "inputs"), "RANDRkms"))
    randrkms = in_bytes(s, "RANDRkms");
  g_autoptr(MikeySecret) psk = in_secret(s, "PSK(focus)");
  GBytes *resp = mikey_kms_resolve_respond(
      &req, psk, &opened, idrr, randrkms ? g_bytes_get_data(randrkms, NULL) : NULL,
      randrkms ? g_bytes_get_size(randrkms) : 0, in_u64(s, "T(RESOLVE_RESP)"), KMS_URI, &error);
  g_assert_no_error(error);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks);
  mikey_kms_request_clear(&req);
  return resp;
}

/* ------------------------------------------------------------------ suites */

static void test_suite_algorithms(void)
{
  g_assert_cmpint(mikey_suite_encr_alg(MIKEY_PRF_HMAC_SHA256), ==, MIKEY_ENCR_AES_CM_256);
  g_assert_cmpint(mikey_suite_mac_alg(MIKEY_PRF_HMAC_SHA256), ==, MIKEY_MAC_HMAC_SHA256_256);
  g_assert_cmpuint(mikey_suite_key_len(MIKEY_PRF_HMAC_SHA256), ==, 32);
  g_assert_cmpint(mikey_suite_encr_alg(MIKEY_PRF_HMAC_SHA1), ==, MIKEY_ENCR_AES_CM_128);
  g_assert_cmpint(mikey_suite_mac_alg(MIKEY_PRF_HMAC_SHA1), ==, MIKEY_MAC_HMAC_SHA1_160);
  g_assert_cmpuint(mikey_suite_key_len(MIKEY_PRF_HMAC_SHA1), ==, 16);

  /* every message of the vectors is one suite */
  static const char *const ids[][2] = {
    { "A", "01" }, { "A", "02" }, { "A", "03" }, { "A", "04" }, { "A", "05" }, { "A", "06" },
    { "B", "11" }, { "B", "12" }, { "B", "13" }, { "B", "14" }, { "B", "15" }, { "B", "16" },
    { "C", "22" }, { "C", "23" }, { "C", "24" }, { "C", "25" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
    g_autoptr(GBytes) b = message(ids[i][0], ids[i][1]);
    g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(b, NULL);
    g_assert_nonnull(msg);
    g_autoptr(GError) error = NULL;
    g_assert_true(mikey_suite_check(msg, &error));
    g_assert_no_error(error);
  }
}

/* Parses a message, lets edit() change the model, re-encodes it. */
static GBytes *edited(const char *s, const char *id, void (*edit)(MikeyMsg *))
{
  g_autoptr(GBytes) b = message(s, id);
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(b, NULL);
  g_assert_nonnull(msg);
  edit(msg);
  GBytes *out = mikey_msg_encode(msg, NULL);
  g_assert_nonnull(out);
  return out;
}

static void edit_v_sha1(MikeyMsg *msg)
{
  MikeyPayload *v = mikey_msg_find(msg, MIKEY_PT_V, 0, 0);
  v->u.v.alg = MIKEY_MAC_HMAC_SHA1_160;
  g_bytes_unref(v->u.v.mac);
  v->u.v.mac = g_bytes_new_take(g_malloc0(20), 20);
}

static void edit_tp_prf0(MikeyMsg *msg)
{
  mikey_msg_find(msg, MIKEY_PT_TP, 0, 0)->u.ticket.prf = MIKEY_PRF_HMAC_SHA1;
}

static void edit_ticket_prf0(MikeyMsg *msg)
{
  mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0)->u.ticket.prf = MIKEY_PRF_HMAC_SHA1;
}

static void edit_kemac_aes128(MikeyMsg *msg)
{
  mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0)->u.kemac.encr_alg = MIKEY_ENCR_AES_CM_128;
}

static void edit_kemac_mac_sha1(MikeyMsg *msg)
{
  MikeyPayload *k = mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0);
  k->u.kemac.mac_alg = MIKEY_MAC_HMAC_SHA1_160;
  g_bytes_unref(k->u.kemac.mac);
  k->u.kemac.mac = g_bytes_new_take(g_malloc0(20), 20);
}

/* KEMAC encryption and V of the other suite: the MAC problem is reported first. */
static void edit_kemac_aes128_v_sha1(MikeyMsg *msg)
{
  edit_kemac_aes128(msg);
  edit_v_sha1(msg);
}

static void edit_hdr_prf5(MikeyMsg *msg)
{
  msg->hdr.prf = 5;
}

static void edit_hdr_prf0(MikeyMsg *msg)
{
  msg->hdr.prf = MIKEY_PRF_HMAC_SHA1;
}

static void assert_request_refused(GBytes *body, int code)
{
  MikeyKmsRequest req;
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_kms_request_parse(body, &req, &error));
  assert_err(error, code);
  g_assert_null(req.msg);
}

static void test_suite_mix(void)
{
  struct {
    const char *s, *id;
    void (*edit)(MikeyMsg *);
    int code;
  } cases[] = {
    /* HDR PRF 1 with V alg 1 */
    { "A", "01", edit_v_sha1, MIKEY_ERR_INVALID_MAC },
    { "A", "04", edit_v_sha1, MIKEY_ERR_INVALID_MAC },
    /* TP / TICKET PRF differs from HDR PRF */
    { "A", "01", edit_tp_prf0, MIKEY_ERR_INVALID_PRF },
    { "A", "04", edit_ticket_prf0, MIKEY_ERR_INVALID_PRF },
    /* PRF 0 header with the 256-bit V and TP */
    { "A", "01", edit_hdr_prf0, MIKEY_ERR_INVALID_PRF },
    /* unknown HDR PRF */
    { "A", "01", edit_hdr_prf5, MIKEY_ERR_INVALID_PRF },
    { "B", "11", edit_hdr_prf5, MIKEY_ERR_INVALID_PRF },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) body = edited(cases[i].s, cases[i].id, cases[i].edit);
    assert_request_refused(body, cases[i].code);
    g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(body, NULL);
    g_autoptr(GError) error = NULL;
    g_assert_false(mikey_suite_check(msg, &error));
    assert_err(error, cases[i].code);
  }
  /* KEMAC AES-CM-128 / HMAC-SHA-1 in a PRF 1 message (REQUEST_RESP, RESOLVE_RESP) */
  struct {
    const char *id;
    void (*edit)(MikeyMsg *);
    int code;
  } resp[] = {
    { "02", edit_kemac_aes128, MIKEY_ERR_INVALID_EA },
    { "05", edit_kemac_aes128, MIKEY_ERR_INVALID_EA },
    { "02", edit_kemac_mac_sha1, MIKEY_ERR_INVALID_MAC },
    { "02", edit_v_sha1, MIKEY_ERR_INVALID_MAC },
    { "02", edit_kemac_aes128_v_sha1, MIKEY_ERR_INVALID_MAC },
    { "02", edit_ticket_prf0, MIKEY_ERR_INVALID_PRF },
  };
  for (guint i = 0; i < G_N_ELEMENTS(resp); i++) {
    g_autoptr(GBytes) body = edited("A", resp[i].id, resp[i].edit);
    g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(body, NULL);
    g_autoptr(GError) error = NULL;
    g_assert_false(mikey_suite_check(msg, &error));
    assert_err(error, resp[i].code);
  }
  /* and the initiator refuses such a REQUEST_RESP with the same code */
  g_autoptr(GBytes) bad = edited("A", "02", edit_kemac_aes128);
  g_autoptr(GBytes) init = message("A", "01");
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(alice)");
  MikeyTicketGrant grant;
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_request_resp_open(bad, init, psk, &grant, &error));
  assert_err(error, MIKEY_ERR_INVALID_EA);
  g_assert_null(grant.ticket);
}

/* ------------------------------------------------------------------ policy specs */

static void test_policy_spec(void)
{
  MikeyPolicySpec spec;
  requested_policy("A", &spec);
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyPayload) tp = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TP, &error);
  g_assert_no_error(error);
  /* equal to the TP of 01 */
  g_autoptr(GBytes) b = message("A", "01");
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(b, NULL);
  g_autoptr(GBytes) want = mikey_payload_encode(mikey_msg_find(msg, MIKEY_PT_TP, 0, 0), NULL);
  g_autoptr(GBytes) got = mikey_payload_encode(tp, NULL);
  assert_bytes(got, want);

  /* and back */
  MikeyPolicySpec back;
  g_assert_true(mikey_policy_spec_from_body(&tp->u.ticket, &back, &error));
  g_assert_no_error(error);
  g_assert_cmpint(back.prf, ==, MIKEY_PRF_HMAC_SHA256);
  g_assert_cmphex(back.flags, ==, FLAGS_A);
  g_assert_cmpstr(back.idrkms, ==, KMS_URI);
  g_assert_cmpstr(back.idri, ==, "sip:alice@example.org");
  g_assert_cmphex(back.trs, ==, spec.trs);
  g_assert_cmphex(back.tre, ==, spec.tre);
  g_assert_cmpint(back.tr_type, ==, MIKEY_TS_NTP_UTC);
  g_assert_cmpuint(back.trr, ==, 0);
  g_assert_null(back.idrapp);
  g_assert_cmpuint(back.idrr->len, ==, 3);
  g_assert_cmpstr(g_ptr_array_index(back.idrr, 0), ==, "sip:conference-factory@conf.example.org");
  g_assert_cmpstr(g_ptr_array_index(back.idrr, 2), ==, "sip:carol@example.org");
  mikey_policy_spec_clear(&back);

  /* NTP-UTC-32 TRs/TRe, TRr and IDRapp, in TP Data order */
  spec.tr_type = MIKEY_TS_NTP_UTC_32;
  spec.trs = (guint64)0xed00b610u << 32;
  spec.tre = (guint64)0xed00c420u << 32;
  spec.trr = 600;
  spec.idrapp = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(spec.idrapp, g_strdup("app-1"));
  g_autoptr(MikeyPayload) tp32 = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TICKET, &error);
  g_assert_no_error(error);
  g_assert_cmpint(tp32->type, ==, MIKEY_PT_TICKET);
  GPtrArray *d = tp32->u.ticket.tp_data;
  g_assert_cmpuint(d->len, ==, 9);
  static const guint8 order[][2] = {
    { MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS }, { MIKEY_PT_IDR, MIKEY_ID_ROLE_I },
    { MIKEY_PT_TR, MIKEY_TS_ROLE_TRS },  { MIKEY_PT_TR, MIKEY_TS_ROLE_TRE },
    { MIKEY_PT_TR, MIKEY_TS_ROLE_TRR },  { MIKEY_PT_IDR, MIKEY_ID_ROLE_APP },
    { MIKEY_PT_IDR, MIKEY_ID_ROLE_R }
  };
  for (guint i = 0; i < G_N_ELEMENTS(order); i++) {
    const MikeyPayload *p = g_ptr_array_index(d, i);
    g_assert_cmpint(p->type, ==, order[i][0]);
    g_assert_cmpint(p->type == MIKEY_PT_TR ? p->u.t.role : p->u.id.role, ==, order[i][1]);
  }
  const MikeyPayload *trs = g_ptr_array_index(d, 2);
  g_assert_cmpint(trs->u.t.ts_type, ==, MIKEY_TS_NTP_UTC_32);
  g_assert_cmphex(trs->u.t.value, ==, 0xed00b610u);
  const MikeyPayload *trr = g_ptr_array_index(d, 4);
  g_assert_cmpint(trr->u.t.ts_type, ==, MIKEY_TS_NTP_UTC_32);
  g_assert_cmpuint(trr->u.t.value, ==, 600);
  g_assert_true(mikey_policy_spec_from_body(&tp32->u.ticket, &back, &error));
  g_assert_cmphex(back.trs, ==, spec.trs);
  g_assert_cmpint(back.tr_type, ==, MIKEY_TS_NTP_UTC_32);
  g_assert_cmpuint(back.trr, ==, 600);
  g_assert_cmpuint(back.idrapp->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(back.idrapp, 0), ==, "app-1");
  mikey_policy_spec_clear(&back);

  /* no IDRr: ERR 15 both ways */
  g_ptr_array_set_size(spec.idrr, 0);
  g_assert_null(mikey_policy_spec_to_payload(&spec, MIKEY_PT_TP, &error));
  assert_err(error, MIKEY_ERR_INVALID_TPPAR);
  g_clear_error(&error);
  g_ptr_array_set_size(d, 5);
  g_assert_false(mikey_policy_spec_from_body(&tp32->u.ticket, &back, &error));
  assert_err(error, MIKEY_ERR_INVALID_TPPAR);
  g_assert_null(back.idrr);
  mikey_policy_spec_clear(&spec);
}

/* ------------------------------------------------------------------ golden messages */

static void test_a_request_init(void)
{
  MikeyPolicySpec policy;
  requested_policy("A", &policy);
  g_autoptr(GBytes) randri = in_bytes("A", "RANDRi(request)");
  g_autoptr(GBytes) psk_id = in_bytes("A", "PSK ID(alice)");
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(alice)");
  MikeyRequestInitParams p = {
    .prf = MIKEY_PRF_HMAC_SHA256,
    .csb_id = in_u32("A", "CSB ID(request)"),
    .t = in_u64("A", "T(REQUEST_INIT)"),
    .randri = g_bytes_get_data(randri, NULL),
    .randri_len = g_bytes_get_size(randri),
    .idri = in_text("A", "identity(initiator)"),
    .idrkms = in_text("A", "KMS URI"),
    .psk_id = psk_id,
    .psk = psk,
    .policy = &policy,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = mikey_request_init_build(&p, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) want = message("A", "01");
  assert_bytes(got, want);
  mikey_policy_spec_clear(&policy);
}

static void test_b_request_init(void)
{
  MikeyPolicySpec policy;
  requested_policy("B", &policy);
  g_autoptr(GBytes) randri = in_bytes("B", "RANDRi(request)");
  g_autoptr(GBytes) psk_id = in_bytes("B", "PSK ID(bob)");
  g_autoptr(MikeySecret) psk = in_secret("B", "PSK(bob)");
  MikeyRequestInitParams p = {
    .prf = MIKEY_PRF_HMAC_SHA1,
    .csb_id = in_u32("B", "CSB ID(request)"),
    .t = in_u64("B", "T(REQUEST_INIT)"),
    .randri = g_bytes_get_data(randri, NULL),
    .randri_len = g_bytes_get_size(randri),
    .idri = in_text("B", "identity(initiator)"),
    .idrkms = in_text("B", "KMS URI"),
    .psk_id = psk_id,
    .psk = psk,
    .policy = &policy,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = mikey_request_init_build(&p, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) want = message("B", "11");
  assert_bytes(got, want);

  /* a policy of the other suite is refused */
  policy.prf = MIKEY_PRF_HMAC_SHA256;
  g_assert_null(mikey_request_init_build(&p, &error));
  assert_err(error, MIKEY_ERR_INVALID_PRF);
  mikey_policy_spec_clear(&policy);
}

static void test_kms_request_parse_fields(void)
{
  MikeyKmsRequest req;
  kms_request("A", "01", "PSK(alice)", &req);
  g_assert_cmphex(req.t, ==, in_u64("A", "T(REQUEST_INIT)"));
  g_autoptr(GBytes) randri = in_bytes("A", "RANDRi(request)");
  g_autoptr(GBytes) psk_id = in_bytes("A", "PSK ID(alice)");
  g_assert_true(g_bytes_equal(req.rand, randri));
  g_assert_true(g_bytes_equal(req.psk_id, psk_id));
  g_assert_cmpmem(g_bytes_get_data(req.id, NULL), g_bytes_get_size(req.id), "sip:alice@example.org",
                  21);
  g_assert_cmpmem(g_bytes_get_data(req.id_kms, NULL), g_bytes_get_size(req.id_kms), KMS_URI, 15);
  g_assert_cmpint(req.tp->type, ==, MIKEY_PT_TP);
  assert_secret_hex(req.keys.auth, "A", "REQUEST_INIT.auth_key");
  assert_secret_hex(req.keys.encr, "A", "REQUEST_INIT.encr_key");
  assert_secret_hex(req.keys.salt, "A", "REQUEST_INIT.salt_key");
  mikey_kms_request_clear(&req);

  /* RESOLVE_INIT: RANDRr only in the labels */
  kms_request("A", "04", "PSK(focus)", &req);
  g_assert_cmpint(req.tp->type, ==, MIKEY_PT_TICKET);
  assert_secret_hex(req.keys.auth, "A", "RESOLVE_INIT.auth_key");
  mikey_kms_request_clear(&req);
  kms_request("B", "14", "PSK(focus)", &req);
  assert_secret_hex(req.keys.auth, "B", "RESOLVE_INIT.auth_key");
  mikey_kms_request_clear(&req);

  /* identities come from elsewhere when the IDR payloads are absent: the MAC still covers
   * them (RFC 6043 5.5) */
  g_autoptr(GBytes) b = message("A", "01");
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(b, NULL);
  g_ptr_array_remove(msg->payloads, mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0));
  g_ptr_array_remove(msg->payloads, mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, 0));
  g_autoptr(MikeySecret) auth = intermediate("A", "REQUEST_INIT.auth_key");
  MikeyIov ids[2] = { { (const guint8 *)"sip:alice@example.org", 21 },
                      { (const guint8 *)KMS_URI, 15 } };
  g_autoptr(GBytes) bare = mikey_msg_sign(msg, auth, ids, 2, NULL);
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(alice)");
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_kms_request_parse(bare, &req, &error));
  g_assert_null(req.id);
  g_assert_null(req.id_kms);
  g_assert_false(mikey_kms_request_verify(&req, psk, NULL, KMS_URI, &error));
  assert_err(error, MIKEY_ERR_INVALID_ID);
  g_clear_error(&error);
  g_assert_false(mikey_kms_request_verify(&req, psk, "sip:bob@example.org", KMS_URI, &error));
  assert_err(error, MIKEY_ERR_AUTH_FAILURE);
  g_assert_null(req.keys.auth);
  g_clear_error(&error);
  g_assert_true(mikey_kms_request_verify(&req, psk, "sip:alice@example.org", KMS_URI, &error));
  g_assert_no_error(error);
  mikey_kms_request_clear(&req);
}

static void test_a_request_resp(void)
{
  g_autoptr(GBytes) got = kms_request_resp("A", "01", "PSK(alice)");
  g_autoptr(GBytes) want = message("A", "02");
  assert_bytes(got, want);
}

static void test_b_request_resp(void)
{
  g_autoptr(GBytes) got = kms_request_resp("B", "11", "PSK(bob)");
  g_autoptr(GBytes) want = message("B", "12");
  assert_bytes(got, want);
}

static void test_a_resolve_resp(void)
{
  g_autoptr(GBytes) got = kms_resolve_resp("A", "04");
  g_autoptr(GBytes) want = message("A", "05");
  assert_bytes(got, want);
}

static void test_b_resolve_resp(void)
{
  g_autoptr(GBytes) got = kms_resolve_resp("B", "14");
  g_autoptr(GBytes) want = message("B", "15");
  assert_bytes(got, want);
}

/* Scenario C: the KMS refusals of profile §3, with and without V. */
static void test_c_errors(void)
{
  g_autoptr(GError) error = NULL;
  MikeyKmsRequest req;

  /* 21: the MAC does not verify -> ERR 0, an Error without V (22) */
  g_autoptr(GBytes) forged = message("C", "21");
  g_autoptr(MikeySecret) alice = in_secret("C", "PSK(alice)");
  g_assert_true(mikey_kms_request_parse(forged, &req, &error));
  g_assert_false(mikey_kms_request_verify(&req, alice, NULL, KMS_URI, &error));
  assert_err(error, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  g_assert_null(req.keys.auth);
  g_autoptr(GBytes) e22 = mikey_error_build(&req.msg->hdr, in_u64("C", "T(Error auth failure)"),
                                            MIKEY_ERR_AUTH_FAILURE, NULL, MIKEY_MAC_NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) want22 = message("C", "22");
  assert_bytes(e22, want22);
  mikey_kms_request_clear(&req);

  /* 01 again: verifies, then the replay is refused with ERR 1 and a V keyed with 01's
   * auth_key (23) */
  g_autoptr(GBytes) replayed = message("A", "01");
  g_assert_true(mikey_kms_request_parse(replayed, &req, &error));
  g_assert_true(mikey_kms_request_verify(&req, alice, NULL, KMS_URI, &error));
  g_assert_no_error(error);
  assert_secret_hex(req.keys.auth, "C", "REQUEST_INIT(01).auth_key");
  g_autoptr(GBytes) e23 =
      mikey_error_build(&req.msg->hdr, in_u64("C", "T(Error replay)"), MIKEY_ERR_INVALID_TS,
                        req.keys.auth, mikey_suite_mac_alg(req.msg->hdr.prf), &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) want23 = message("C", "23");
  assert_bytes(e23, want23);
  mikey_kms_request_clear(&req);

  /* 24: bob's request verifies; the policy refusal is ERR 15 with V (25) */
  g_autoptr(GBytes) bob_req = message("C", "24");
  g_autoptr(MikeySecret) bob = in_secret("C", "PSK(bob)");
  g_assert_true(mikey_kms_request_parse(bob_req, &req, &error));
  g_assert_true(mikey_kms_request_verify(&req, bob, NULL, KMS_URI, &error));
  g_assert_no_error(error);
  assert_secret_hex(req.keys.auth, "C", "bob REQUEST_INIT.auth_key");
  g_autoptr(GBytes) e25 =
      mikey_error_build(&req.msg->hdr, in_u64("C", "T(Error TPpar)"), MIKEY_ERR_INVALID_TPPAR,
                        req.keys.auth, MIKEY_MAC_HMAC_SHA256_256, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) want25 = message("C", "25");
  assert_bytes(e25, want25);

  /* never an Error to an Error */
  g_autoptr(MikeyMsg) err_msg = mikey_msg_parse_bytes(want25, NULL);
  g_assert_null(mikey_error_build(&err_msg->hdr, 0, MIKEY_ERR_UNSPECIFIED, NULL, 0, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  /* an authenticated Error needs a MAC algorithm */
  g_assert_null(mikey_error_build(&req.msg->hdr, 0, MIKEY_ERR_INVALID_TPPAR, req.keys.auth,
                                  MIKEY_MAC_NULL, &error));
  assert_err(error, MIKEY_ERR_INVALID_MAC);
  g_clear_error(&error);
  mikey_kms_request_clear(&req);

  /* the initiator reads the Errors as refusals with their ERR code */
  struct {
    const char *err, *init_s, *init_id, *psk_s, *psk;
    int code;
  } reads[] = {
    { "22", "C", "21", "C", "PSK(alice)", MIKEY_ERR_AUTH_FAILURE },
    { "23", "A", "01", "C", "PSK(alice)", MIKEY_ERR_INVALID_TS },
    { "25", "C", "24", "C", "PSK(bob)", MIKEY_ERR_INVALID_TPPAR },
  };
  for (guint i = 0; i < G_N_ELEMENTS(reads); i++) {
    g_autoptr(GBytes) e = message("C", reads[i].err);
    g_autoptr(GBytes) init = message(reads[i].init_s, reads[i].init_id);
    g_autoptr(MikeySecret) psk = in_secret(reads[i].psk_s, reads[i].psk);
    MikeyTicketGrant grant;
    g_assert_false(mikey_request_resp_open(e, init, psk, &grant, &error));
    assert_err(error, reads[i].code);
    g_assert_true(g_str_has_prefix(error->message, "KMS refused: "));
    g_assert_nonnull(strstr(error->message, mikey_err_name((guint)reads[i].code)));
    g_assert_null(grant.ticket);
    g_clear_error(&error);
  }
}

/* ------------------------------------------------------------------ initiator side */

static void check_grant(const char *s, const char *resp_id, const char *init_id,
                        const char *psk_name, gboolean forking)
{
  g_autoptr(GBytes) resp = message(s, resp_id);
  g_autoptr(GBytes) init = message(s, init_id);
  g_autoptr(MikeySecret) psk = in_secret(s, psk_name);
  MikeyTicketGrant grant;
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_request_resp_open(resp, init, psk, &grant, &error));
  g_assert_no_error(error);
  assert_secret_hex(grant.mpki, s, "MPKi");
  if (forking)
    assert_secret_hex(grant.mpkr, s, "MPKr");
  else
    g_assert_null(grant.mpkr);
  g_autoptr(MikeySecret) tgk = in_secret(s, "TGK");
  assert_secret(grant.tgk, tgk);
  g_autoptr(GBytes) spi = in_bytes(s, "TGK SPI");
  g_assert_true(g_bytes_equal(grant.tgk_spi, spi));
  g_assert_cmphex(grant.t, ==, in_u64(s, "T(REQUEST_RESP)"));
  g_assert_nonnull(grant.ticket);
  g_assert_cmpint(grant.ticket->type, ==, MIKEY_PT_TICKET);
  g_assert_cmpint(!!(grant.ticket->u.ticket.flags & MIKEY_TP_I), ==, forking);
  /* the ticket as it will travel: equal to the one in the TRANSFER_INIT of the vectors */
  g_autoptr(GBytes) ti = message(s, strcmp(s, "A") == 0 ? "03" : "13");
  g_autoptr(MikeyMsg) transfer = mikey_msg_parse_bytes(ti, NULL);
  g_assert_true(mikey_ticket_same(grant.ticket, mikey_msg_find(transfer, MIKEY_PT_TICKET, 0, 0)));
  mikey_ticket_grant_clear(&grant);
  g_assert_null(grant.ticket);
}

static void test_a_request_resp_open(void)
{
  check_grant("A", "02", "01", "PSK(alice)", TRUE);
}

static void test_b_request_resp_open(void)
{
  check_grant("B", "12", "11", "PSK(bob)", FALSE);
}

/* Every single-byte change of A 02 is refused, never crashes. */
static void test_request_resp_flips(void)
{
  g_autoptr(GBytes) resp = message("A", "02");
  g_autoptr(GBytes) init = message("A", "01");
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(alice)");
  gsize len;
  const guint8 *orig = g_bytes_get_data(resp, &len);
  static const guint8 masks[] = { 0x01, 0x80, 0xff };
  for (gsize i = 0; i < len; i++) {
    for (guint m = 0; m < G_N_ELEMENTS(masks); m++) {
      guint8 *copy = g_memdup2(orig, len);
      copy[i] ^= masks[m];
      g_autoptr(GBytes) bad = g_bytes_new_take(copy, len);
      MikeyTicketGrant grant;
      g_autoptr(GError) error = NULL;
      if (mikey_request_resp_open(bad, init, psk, &grant, &error))
        g_error("flip 0x%02x at offset %" G_GSIZE_FORMAT " accepted", masks[m], i);
      g_assert_nonnull(error);
      g_assert_null(grant.ticket);
      g_assert_null(grant.mpki);
    }
  }
  /* truncations too */
  for (gsize n = 0; n < len; n += 7) {
    g_autoptr(GBytes) cut = g_bytes_new(orig, n);
    MikeyTicketGrant grant;
    g_assert_false(mikey_request_resp_open(cut, init, psk, &grant, NULL));
  }
  /* another PSK, or another request */
  g_autoptr(MikeySecret) other = in_secret("A", "PSK(focus)");
  MikeyTicketGrant grant;
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_request_resp_open(resp, init, other, &grant, &error));
  assert_err(error, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  g_autoptr(GBytes) forged = message("C", "21");
  g_assert_false(mikey_request_resp_open(resp, forged, psk, &grant, &error));
  assert_err(error, MIKEY_ERR_AUTH_FAILURE);
}

/* ------------------------------------------------------------------ tickets */

/* The TICKET of a vector message (owned copy). */
static MikeyPayload *vector_ticket(const char *s, const char *id)
{
  g_autoptr(GBytes) b = message(s, id);
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(b, NULL);
  g_assert_nonnull(msg);
  MikeyPayload *t = mikey_payload_dup(mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0), NULL);
  g_assert_nonnull(t);
  return t;
}

static void assert_open_fails(const MikeyPayload *ticket, MikeyTpkLookup lookup, gpointer data,
                              int code)
{
  MikeyOpenedTicket opened;
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_ticket_open(ticket, lookup, data, &opened, &error));
  assert_err(error, code);
  g_assert_null(opened.keys);
}

static void test_ticket_open(void)
{
  Tpks tpks;
  tpks_init(&tpks, "A");
  g_autoptr(MikeyPayload) ticket = vector_ticket("A", "02");
  MikeyOpenedTicket opened;
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_ticket_open(ticket, tpk_lookup, &tpks, &opened, &error));
  g_assert_no_error(error);
  g_assert_cmphex(opened.t, ==, in_u64("A", "T(ticket)"));
  g_autoptr(GBytes) rand = in_bytes("A", "RAND(ticket)");
  g_assert_true(g_bytes_equal(opened.rand, rand));
  g_assert_true(g_bytes_equal(opened.tpk_id, tpks.id));
  g_assert_cmpuint(opened.keys->len, ==, 2);
  const MikeyKeyData *mpk = g_ptr_array_index(opened.keys, 0);
  const MikeyKeyData *tgk = g_ptr_array_index(opened.keys, 1);
  g_autoptr(MikeySecret) want_mpk = in_secret("A", "MPK");
  g_autoptr(MikeySecret) want_tgk = in_secret("A", "TGK");
  g_assert_cmpint(mpk->type, ==, MIKEY_KEY_MPK);
  assert_secret(mpk->key, want_mpk);
  g_assert_cmpint(tgk->type, ==, MIKEY_KEY_TGK);
  assert_secret(tgk->key, want_tgk);
  g_autoptr(GBytes) mpk_spi = in_bytes("A", "MPK SPI");
  g_assert_true(g_bytes_equal(mpk->spi, mpk_spi));
  mikey_opened_ticket_clear(&opened);
  g_assert_null(opened.keys);

  /* B: the 128-bit suite */
  Tpks tpks_b;
  tpks_init(&tpks_b, "B");
  g_autoptr(MikeyPayload) ticket_b = vector_ticket("B", "13");
  g_assert_true(mikey_ticket_open(ticket_b, tpk_lookup, &tpks_b, &opened, &error));
  g_assert_no_error(error);
  g_autoptr(MikeySecret) mpk_b = in_secret("B", "MPK");
  assert_secret(((MikeyKeyData *)g_ptr_array_index(opened.keys, 0))->key, mpk_b);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks_b);

  /* unknown TPK generation, or a TPK of another generation */
  assert_open_fails(ticket, no_tpk, NULL, MIKEY_ERR_INVALID_TICKET);
  Tpks wrong = { g_bytes_ref(tpks.id), in_secret("A", "PSK(focus)") };
  assert_open_fails(ticket, tpk_lookup, &wrong, MIKEY_ERR_INVALID_TICKET);
  tpks_clear(&wrong);

  /* a payload that is not a ticket, or a ticket of another type */
  g_autoptr(MikeyPayload) v = mikey_payload_new_v(MIKEY_MAC_HMAC_SHA256_256);
  assert_open_fails(v, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  ticket->u.ticket.ticket_type = MIKEY_TICKET_TYPE_3GPP_BASE;
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  ticket->u.ticket.ticket_type = MIKEY_TICKET_TYPE_MIKEY_BASE;
  ticket->u.ticket.version = 2;
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  ticket->u.ticket.version = 1;

  /* the policy is covered by the ticket MAC: a changed flag, PRF or TP Data byte */
  ticket->u.ticket.flags ^= MIKEY_TP_J;
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  ticket->u.ticket.flags ^= MIKEY_TP_J;
  MikeyPayload *idrr = mikey_chain_find(ticket->u.ticket.tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 2);
  GBytes *carol = idrr->u.id.data;
  idrr->u.id.data = g_bytes_new_static("sip:carol@example.net", 21);
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  g_bytes_unref(idrr->u.id.data);
  idrr->u.id.data = carol;
  g_ptr_array_add(ticket->u.ticket.tp_data,
                  mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, "sip:mallory@example.org"));
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  g_ptr_array_set_size(ticket->u.ticket.tp_data, ticket->u.ticket.tp_data->len - 1);

  /* every byte of Ticket Data: a flip is refused with ERR 14 */
  GBytes *td = ticket->u.ticket.ticket_data;
  gsize len;
  const guint8 *d = g_bytes_get_data(td, &len);
  for (gsize i = 0; i < len; i++) {
    guint8 *copy = g_memdup2(d, len);
    copy[i] ^= 0x01;
    ticket->u.ticket.ticket_data = g_bytes_new_take(copy, len);
    assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
    g_bytes_unref(ticket->u.ticket.ticket_data);
  }
  /* truncated, extended, empty */
  ticket->u.ticket.ticket_data = g_bytes_new(d, len - 1);
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  g_bytes_unref(ticket->u.ticket.ticket_data);
  ticket->u.ticket.ticket_data = g_bytes_new(NULL, 0);
  assert_open_fails(ticket, tpk_lookup, &tpks, MIKEY_ERR_INVALID_TICKET);
  g_bytes_unref(ticket->u.ticket.ticket_data);
  ticket->u.ticket.ticket_data = td;
  g_assert_true(mikey_ticket_open(ticket, tpk_lookup, &tpks, &opened, NULL));
  mikey_opened_ticket_clear(&opened);

  /* the ticket MAC leaves the Initiator Data out: the same ticket opens with any */
  g_autoptr(MikeyPayload) forked = vector_ticket("A", "04");
  g_assert_cmpuint(g_bytes_get_size(forked->u.ticket.initiator_data), ==, 69);
  g_assert_true(mikey_ticket_open(forked, tpk_lookup, &tpks, &opened, &error));
  g_assert_no_error(error);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks);
}

/* Seal then open, with other keys than the vectors (a GTGK passes through unforked). */
static void test_ticket_seal_open(void)
{
  g_autoptr(GError) error = NULL;
  MikeyPolicySpec spec;
  requested_policy("A", &spec);
  g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TICKET, &error);
  g_assert_no_error(error);
  g_autoptr(MikeySecret) tpk = mikey_secret_new_random(32, NULL);
  g_autoptr(MikeySecret) mpk = mikey_secret_new_random(32, NULL);
  g_autoptr(MikeySecret) tgk = mikey_secret_new_random(32, NULL);
  static const guint8 spi[4] = { 1, 2, 3, 4 }, rand[32] = { 9 };
  Tpks tpks = { g_bytes_new_static("gen-7", 5), tpk };
  g_autoptr(GPtrArray) keys = mikey_key_data_list_new();
  g_ptr_array_add(keys, mikey_key_data_new(MIKEY_KEY_MPK, mpk, spi, 4));
  g_ptr_array_add(keys, mikey_key_data_new(MIKEY_KEY_TGK, tgk, spi, 4));
  MikeyTicketSeal seal = { 0x1234, rand, sizeof rand, tpk, tpks.id, keys };
  g_assert_true(mikey_ticket_seal(ticket, &seal, &error));
  g_assert_no_error(error);
  MikeyOpenedTicket opened;
  g_assert_true(mikey_ticket_open(ticket, tpk_lookup, &tpks, &opened, &error));
  g_assert_no_error(error);
  g_assert_cmphex(opened.t, ==, 0x1234);
  assert_secret(((MikeyKeyData *)g_ptr_array_index(opened.keys, 1))->key, tgk);
  mikey_opened_ticket_clear(&opened);

  /* refused seals: MPK not first, a key without SPI, no RAND */
  g_ptr_array_remove_index(keys, 0);
  g_assert_false(mikey_ticket_seal(ticket, &seal, &error));
  assert_err(error, MIKEY_ERR_INVALID_TICKET);
  g_clear_error(&error);
  g_ptr_array_insert(keys, 0, mikey_key_data_new(MIKEY_KEY_MPK, mpk, NULL, 0));
  g_assert_false(mikey_ticket_seal(ticket, &seal, &error));
  assert_err(error, MIKEY_ERR_INVALID_TICKET);
  g_clear_error(&error);
  seal.rand_len = 0;
  g_assert_false(mikey_ticket_seal(ticket, &seal, &error));
  assert_err(error, MIKEY_ERR_INVALID_TICKET);
  g_bytes_unref(tpks.id);
  mikey_policy_spec_clear(&spec);
}

static void test_ticket_same(void)
{
  g_autoptr(MikeyPayload) t02 = vector_ticket("A", "02");
  g_autoptr(MikeyPayload) t03 = vector_ticket("A", "03");
  g_autoptr(MikeyPayload) t04 = vector_ticket("A", "04");
  g_autoptr(MikeyPayload) b13 = vector_ticket("B", "13");
  /* the same ticket in three messages; 02 without, 03/04 with Initiator Data */
  g_assert_true(mikey_ticket_same(t03, t04));
  g_assert_true(mikey_ticket_same(t02, t03));
  g_assert_false(mikey_ticket_same(t02, b13));
  /* other Initiator Data (a new TRANSFER_INIT with the same ticket): still the same ticket */
  guint8 junk[69] = { 9 };
  g_bytes_unref(t04->u.ticket.initiator_data);
  t04->u.ticket.initiator_data = g_bytes_new(junk, sizeof junk);
  g_assert_true(mikey_ticket_same(t03, t04));

  g_autofree char *fp02 = mikey_ticket_fingerprint(t02);
  g_autofree char *fp03 = mikey_ticket_fingerprint(t03);
  g_autofree char *fp04 = mikey_ticket_fingerprint(t04);
  g_assert_cmpuint(strlen(fp02), ==, 64);
  g_assert_cmpstr(fp02, ==, fp03);
  g_assert_cmpstr(fp03, ==, fp04);
  g_autofree char *again = mikey_ticket_fingerprint(t03);
  g_assert_cmpstr(again, ==, fp03);
  /* = SHA-256 of the message bytes of 02's TICKET [41, 40 + 366 - 2): no next-payload byte,
   * no Initiator Data length (README: TICKET at offset 40, 366 bytes, no Initiator Data) */
  g_autoptr(GBytes) m02 = message("A", "02");
  const guint8 *raw = g_bytes_get_data(m02, NULL);
  g_autofree char *direct = g_compute_checksum_for_data(G_CHECKSUM_SHA256, raw + 41, 366 - 3);
  g_assert_cmpstr(fp02, ==, direct);

  /* one TP byte changed: another ticket */
  MikeyPayload *trs = mikey_chain_find(t04->u.ticket.tp_data, MIKEY_PT_TR, MIKEY_TS_ROLE_TRS, 0);
  trs->u.t.value ^= 1;
  g_assert_false(mikey_ticket_same(t03, t04));
  g_autofree char *fp_changed = mikey_ticket_fingerprint(t04);
  g_assert_cmpstr(fp_changed, !=, fp03);
  /* not tickets */
  g_autoptr(MikeyPayload) v = mikey_payload_new_v(MIKEY_MAC_HMAC_SHA256_256);
  g_assert_false(mikey_ticket_same(v, v));
  g_assert_null(mikey_ticket_fingerprint(v));
}

/* ------------------------------------------------------------------ Initiator Data, forking */

static void test_initiator_data(void)
{
  g_autoptr(GBytes) m03 = message("A", "03");
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(m03, NULL);
  MikeyPayload *ticket = mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0);
  MikeyPayload *v = mikey_msg_find(msg, MIKEY_PT_V, 0, 0);
  g_autoptr(MikeySecret) mpkr = intermediate("A", "MPKr");
  g_autoptr(GError) error = NULL;
  /* 0x09 || Vi || Vr of 03, from the TRANSFER_INIT's MAC and the unforked MPKr */
  g_autoptr(GBytes) built = mikey_initiator_data_build(
      MIKEY_PRF_HMAC_SHA256, MIKEY_MAC_HMAC_SHA256_256, v->u.v.mac, mpkr, &error);
  g_assert_no_error(error);
  assert_bytes(built, ticket->u.ticket.initiator_data);
  g_autoptr(GBytes) vi = NULL;
  g_assert_true(mikey_initiator_data_verify(MIKEY_PRF_HMAC_SHA256, built, mpkr, &vi, &error));
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(vi, v->u.v.mac));
  /* the Vr key */
  g_autoptr(MikeySecret) vr_key = mikey_kdf_vr(MIKEY_PRF_HMAC_SHA256, mpkr, MIKEY_C_AUTH, 32, NULL);
  assert_secret_hex(vr_key, "A", "Vr.auth_key");

  /* every byte: a change is refused (ERR 0 for a MAC, ERR 14 for the structure) */
  gsize len;
  const guint8 *d = g_bytes_get_data(built, &len);
  for (gsize i = 0; i < len; i++) {
    guint8 *copy = g_memdup2(d, len);
    copy[i] ^= 0x01;
    g_autoptr(GBytes) bad = g_bytes_new_take(copy, len);
    g_autoptr(GError) e = NULL;
    g_autoptr(GBytes) vi2 = NULL;
    g_assert_false(mikey_initiator_data_verify(MIKEY_PRF_HMAC_SHA256, bad, mpkr, &vi2, &e));
    g_assert_true(e->code == MIKEY_ERR_AUTH_FAILURE || e->code == MIKEY_ERR_INVALID_TICKET);
    g_assert_null(vi2);
  }
  /* absent */
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_assert_false(mikey_initiator_data_verify(MIKEY_PRF_HMAC_SHA256, empty, mpkr, NULL, &error));
  assert_err(error, MIKEY_ERR_INVALID_TICKET);
  g_clear_error(&error);
  /* another MPKr: ERR 0 */
  g_autoptr(MikeySecret) mpki = intermediate("A", "MPKi");
  g_assert_false(mikey_initiator_data_verify(MIKEY_PRF_HMAC_SHA256, built, mpki, NULL, &error));
  assert_err(error, MIKEY_ERR_AUTH_FAILURE);
  g_clear_error(&error);
  /* a Vi of the wrong length */
  g_autoptr(GBytes) short_mac = g_bytes_new_static("0123456789", 10);
  g_assert_null(mikey_initiator_data_build(MIKEY_PRF_HMAC_SHA256, MIKEY_MAC_HMAC_SHA256_256,
                                           short_mac, mpkr, &error));
  g_assert_nonnull(error);
}

/* mikey_kms_resolve_respond on A 04 with its ticket changed. */
static void resolve_a04_with(void (*edit)(MikeyPayload *ticket), int code)
{
  MikeyKmsRequest req;
  kms_request("A", "04", "PSK(focus)", &req);
  g_autoptr(GError) error = NULL;
  Tpks tpks;
  tpks_init(&tpks, "A");
  MikeyOpenedTicket opened;
  edit(req.tp);
  /* the ticket MAC does not cover the Initiator Data: the ticket still opens */
  g_assert_true(mikey_ticket_open(req.tp, tpk_lookup, &tpks, &opened, &error));
  g_assert_no_error(error);
  g_autoptr(GBytes) idrr = in_bytes("A", "target");
  g_autoptr(GBytes) randrkms = in_bytes("A", "RANDRkms");
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(focus)");
  g_autoptr(GBytes) resp = mikey_kms_resolve_respond(
      &req, psk, &opened, idrr, g_bytes_get_data(randrkms, NULL), g_bytes_get_size(randrkms),
      in_u64("A", "T(RESOLVE_RESP)"), KMS_URI, &error);
  g_assert_null(resp);
  assert_err(error, code);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks);
  mikey_kms_request_clear(&req);
}

static void edit_wrong_vr(MikeyPayload *ticket)
{
  gsize len;
  guint8 *d = g_bytes_unref_to_data(ticket->u.ticket.initiator_data, &len);
  d[len - 1] ^= 0x55;
  ticket->u.ticket.initiator_data = g_bytes_new_take(d, len);
}

static void edit_wrong_vi(MikeyPayload *ticket)
{
  /* Vi is covered by Vr */
  gsize len;
  guint8 *d = g_bytes_unref_to_data(ticket->u.ticket.initiator_data, &len);
  d[3] ^= 0x55;
  ticket->u.ticket.initiator_data = g_bytes_new_take(d, len);
}

static void edit_no_initiator_data(MikeyPayload *ticket)
{
  g_bytes_unref(ticket->u.ticket.initiator_data);
  ticket->u.ticket.initiator_data = g_bytes_new(NULL, 0);
}

static void edit_only_vi(MikeyPayload *ticket)
{
  gsize len;
  guint8 *d = g_bytes_unref_to_data(ticket->u.ticket.initiator_data, &len);
  d[1] = 0; /* Vi is the last payload: Vr's bytes trail */
  ticket->u.ticket.initiator_data = g_bytes_new_take(d, len);
}

static void test_resolve_refusals(void)
{
  resolve_a04_with(edit_wrong_vr, MIKEY_ERR_AUTH_FAILURE);
  resolve_a04_with(edit_wrong_vi, MIKEY_ERR_AUTH_FAILURE);
  resolve_a04_with(edit_no_initiator_data, MIKEY_ERR_INVALID_TICKET);
  resolve_a04_with(edit_only_vi, MIKEY_ERR_INVALID_TICKET);

  /* B: Initiator Data in a ticket without forking is refused too */
  MikeyKmsRequest req;
  kms_request("B", "14", "PSK(focus)", &req);
  Tpks tpks;
  tpks_init(&tpks, "B");
  MikeyOpenedTicket opened;
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_ticket_open(req.tp, tpk_lookup, &tpks, &opened, &error));
  g_bytes_unref(req.tp->u.ticket.initiator_data);
  req.tp->u.ticket.initiator_data = g_bytes_new_static("\x09\x00\x01", 3);
  g_autoptr(GBytes) idrr = in_bytes("B", "target");
  g_autoptr(MikeySecret) psk = in_secret("B", "PSK(focus)");
  g_assert_null(mikey_kms_resolve_respond(&req, psk, &opened, idrr, NULL, 0, 1, KMS_URI, &error));
  assert_err(error, MIKEY_ERR_INVALID_TICKET);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks);
  mikey_kms_request_clear(&req);

  /* A: forking without a RANDRkms cannot be answered */
  kms_request("A", "04", "PSK(focus)", &req);
  tpks_init(&tpks, "A");
  g_assert_true(mikey_ticket_open(req.tp, tpk_lookup, &tpks, &opened, NULL));
  g_autoptr(GBytes) idrr_a = in_bytes("A", "target");
  g_autoptr(MikeySecret) psk_a = in_secret("A", "PSK(focus)");
  g_clear_error(&error);
  g_assert_null(
      mikey_kms_resolve_respond(&req, psk_a, &opened, idrr_a, NULL, 0, 1, KMS_URI, &error));
  g_assert_nonnull(error);
  mikey_opened_ticket_clear(&opened);
  tpks_clear(&tpks);
  mikey_kms_request_clear(&req);
}

/* ------------------------------------------------------------------ KMS input checks */

static void remove_type(MikeyMsg *msg, MikeyPayloadType type, guint8 role)
{
  MikeyPayload *p = mikey_msg_find(msg, type, role, 0);
  g_assert_nonnull(p);
  g_ptr_array_remove(msg->payloads, p);
}

static void edit_no_t(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_T, 0);
}

static void edit_no_randri(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I);
}

static void edit_no_randrr(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_R);
}

static void edit_no_tp(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_TP, 0);
}

static void edit_no_ticket(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_TICKET, 0);
}

static void edit_no_v(MikeyMsg *msg)
{
  remove_type(msg, MIKEY_PT_V, 0);
}

static void edit_two_t(MikeyMsg *msg)
{
  g_ptr_array_insert(msg->payloads, 0, mikey_payload_new_t(MIKEY_TS_NTP_UTC, 1));
}

static void edit_v_first(MikeyMsg *msg)
{
  MikeyPayload *v = g_ptr_array_steal_index(msg->payloads, msg->payloads->len - 1);
  g_ptr_array_insert(msg->payloads, 0, v);
}

static void edit_counter_t(MikeyMsg *msg)
{
  MikeyPayload *t = mikey_msg_find(msg, MIKEY_PT_T, 0, 0);
  t->u.t.ts_type = MIKEY_TS_COUNTER;
  t->u.t.value = 7;
}

static void test_kms_input(void)
{
  struct {
    const char *s, *id;
    void (*edit)(MikeyMsg *);
    int code;
  } cases[] = {
    { "A", "01", edit_no_t, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_no_randri, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_no_tp, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_no_v, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_two_t, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_v_first, MIKEY_ERR_UNSPECIFIED },
    { "A", "01", edit_counter_t, MIKEY_ERR_INVALID_TS },
    { "A", "04", edit_no_t, MIKEY_ERR_UNSPECIFIED },
    { "A", "04", edit_no_randrr, MIKEY_ERR_UNSPECIFIED },
    { "A", "04", edit_no_ticket, MIKEY_ERR_UNSPECIFIED },
    { "A", "04", edit_no_v, MIKEY_ERR_UNSPECIFIED },
    { "B", "11", edit_no_randri, MIKEY_ERR_UNSPECIFIED },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) body = edited(cases[i].s, cases[i].id, cases[i].edit);
    assert_request_refused(body, cases[i].code);
  }
  /* data types other than 11 and 16: ERR 11 (13 REQUEST_RESP, 14 TRANSFER_INIT, 6 Error) */
  static const char *const others[][2] = {
    { "A", "02" }, { "A", "03" }, { "A", "05" }, { "C", "22" }, { "B", "12" }
  };
  for (guint i = 0; i < G_N_ELEMENTS(others); i++) {
    g_autoptr(GBytes) body = message(others[i][0], others[i][1]);
    assert_request_refused(body, MIKEY_ERR_INVALID_DT);
  }
  /* an unknown data type already fails the parser with ERR 11, garbage with ERR 12 */
  g_autoptr(GBytes) m01 = message("A", "01");
  guint8 *copy = g_memdup2(g_bytes_get_data(m01, NULL), g_bytes_get_size(m01));
  copy[1] = 200;
  g_autoptr(GBytes) unknown = g_bytes_new_take(copy, g_bytes_get_size(m01));
  assert_request_refused(unknown, MIKEY_ERR_INVALID_DT);
  g_autoptr(GBytes) truncated = g_bytes_new(g_bytes_get_data(m01, NULL), 100);
  assert_request_refused(truncated, MIKEY_ERR_UNSPECIFIED);

  /* every single-byte flip of 01 is refused at parse or at the MAC */
  g_autoptr(MikeySecret) psk = in_secret("A", "PSK(alice)");
  gsize len;
  const guint8 *d = g_bytes_get_data(m01, &len);
  for (gsize i = 0; i < len; i++) {
    guint8 *c = g_memdup2(d, len);
    c[i] ^= 0x01;
    g_autoptr(GBytes) bad = g_bytes_new_take(c, len);
    MikeyKmsRequest req;
    g_autoptr(GError) error = NULL;
    if (mikey_kms_request_parse(bad, &req, &error)) {
      /* the MAC covers the identities: a flip in IDRi/IDRkms is not rescued by fallbacks */
      if (mikey_kms_request_verify(&req, psk, "sip:alice@example.org", KMS_URI, &error))
        g_error("flip at offset %" G_GSIZE_FORMAT " of 01 verified", i);
      mikey_kms_request_clear(&req);
    }
    g_assert_nonnull(error);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autofree char *path =
      g_test_build_filename(G_TEST_DIST, "data", "exchange", "exchange.json", NULL);
  vectors = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(vectors, path, &error))
    g_error("%s: %s", path, error->message);

  g_test_add_func("/kms/suite/algorithms", test_suite_algorithms);
  g_test_add_func("/kms/suite/mix", test_suite_mix);
  g_test_add_func("/kms/policy-spec", test_policy_spec);
  g_test_add_func("/kms/a/request-init", test_a_request_init);
  g_test_add_func("/kms/a/request-parse", test_kms_request_parse_fields);
  g_test_add_func("/kms/a/request-resp", test_a_request_resp);
  g_test_add_func("/kms/a/resolve-resp", test_a_resolve_resp);
  g_test_add_func("/kms/a/request-resp-open", test_a_request_resp_open);
  g_test_add_func("/kms/b/request-init", test_b_request_init);
  g_test_add_func("/kms/b/request-resp", test_b_request_resp);
  g_test_add_func("/kms/b/resolve-resp", test_b_resolve_resp);
  g_test_add_func("/kms/b/request-resp-open", test_b_request_resp_open);
  g_test_add_func("/kms/c/errors", test_c_errors);
  g_test_add_func("/kms/negative/request-resp-flips", test_request_resp_flips);
  g_test_add_func("/kms/negative/kms-input", test_kms_input);
  g_test_add_func("/kms/negative/resolve", test_resolve_refusals);
  g_test_add_func("/kms/ticket/open", test_ticket_open);
  g_test_add_func("/kms/ticket/seal-open", test_ticket_seal_open);
  g_test_add_func("/kms/ticket/same", test_ticket_same);
  g_test_add_func("/kms/ticket/initiator-data", test_initiator_data);
  int rc = g_test_run();
  g_object_unref(vectors);
  return rc;
}
