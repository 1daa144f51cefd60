/* The MIKEY codec against the vectors of mikey-ticket.md 6 and the golden exchange:
 * field values, byte-exact round trips, and refusal of every truncation, bad length and
 * unknown code without reading out of bounds (run under ASan in the sanitizer build). */
#include "keydata.h"
#include "msg.h"

#include <string.h>

static GBytes *load(const char *name)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", name, NULL);
  g_autoptr(GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &data, &len, &error))
    g_error("cannot read test vector %s: %s", path, error->message);
  return g_bytes_new_take(data, len);
}

static MikeyMsg *parse_ok(GBytes *b)
{
  g_autoptr(GError) error = NULL;
  MikeyMsg *msg = mikey_msg_parse_bytes(b, &error);
  g_assert_no_error(error);
  g_assert_nonnull(msg);
  return msg;
}

static void assert_bytes_hex(GBytes *b, const char *hex)
{
  gsize n = 0;
  const guint8 *d = g_bytes_get_data(b, &n);
  g_autoptr(GString) s = g_string_new(NULL);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf(s, "%02x", d[i]);
  g_assert_cmpstr(s->str, ==, hex);
}

static void assert_bytes_str(GBytes *b, const char *str)
{
  gsize n = 0;
  const char *d = g_bytes_get_data(b, &n);
  g_assert_cmpmem(d, n, str, strlen(str));
}

static const char *const all_vectors[] = {
  "req_init.bin",
  "psk_i.bin",
  "psk_r.bin",
  "rfc4567_init.bin",
  "gortsplib_a.bin",
  "exchange/01-a-request_init.bin",
  "exchange/02-a-request_resp.bin",
  "exchange/03-a-transfer_init.bin",
  "exchange/04-a-resolve_init.bin",
  "exchange/05-a-resolve_resp.bin",
  "exchange/06-a-transfer_resp.bin",
  "exchange/07-a-csb_update_init.bin",
  "exchange/08-a-csb_update_resp.bin",
  "exchange/11-b-request_init.bin",
  "exchange/12-b-request_resp.bin",
  "exchange/13-b-transfer_init.bin",
  "exchange/14-b-resolve_init.bin",
  "exchange/15-b-resolve_resp.bin",
  "exchange/16-b-transfer_resp.bin",
  "exchange/17-b-csb_update_init.bin",
  "exchange/18-b-csb_update_resp.bin",
  "exchange/21-c-request_init_bad_mac.bin",
  "exchange/22-c-error_auth_failure.bin",
  "exchange/23-c-error_replay.bin",
  "exchange/24-c-request_init_bob_factory.bin",
  "exchange/25-c-error_tppar.bin",
};

static void test_round_trip_all(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(all_vectors); i++) {
    g_autoptr(GBytes) b = load(all_vectors[i]);
    g_autoptr(MikeyMsg) msg = parse_ok(b);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) out = mikey_msg_encode(msg, &error);
    g_assert_no_error(error);
    if (!g_bytes_equal(b, out))
      g_error("%s does not round-trip", all_vectors[i]);
    /* offsets and lengths of the outer chain tile the message after the header */
    MikeyPayload *last = g_ptr_array_index(msg->payloads, msg->payloads->len - 1);
    g_assert_cmpuint(last->offset + last->length, ==, g_bytes_get_size(b));
  }
}

/* mikey-ticket.md 6.4: REQUEST_INIT_PSK, 128-bit suite. */
static void test_request_init_fields(void)
{
  g_autoptr(GBytes) b = load("req_init.bin");
  g_autoptr(MikeyMsg) msg = parse_ok(b);
  g_assert_cmpuint(msg->hdr.data_type, ==, MIKEY_DT_REQUEST_INIT_PSK);
  g_assert_true(msg->hdr.v);
  g_assert_cmpuint(msg->hdr.prf, ==, MIKEY_PRF_HMAC_SHA1);
  g_assert_cmphex(msg->hdr.csb_id, ==, 0x12345678);
  g_assert_cmpuint(msg->hdr.map_type, ==, MIKEY_MAP_EMPTY);
  g_assert_cmpuint(msg->hdr.cs->len, ==, 0);
  g_assert_cmpuint(msg->payloads->len, ==, 7);

  MikeyPayload *t = mikey_msg_find(msg, MIKEY_PT_T, 0, 0);
  g_assert_cmpuint(t->offset, ==, 10);
  g_assert_cmpuint(t->u.t.ts_type, ==, MIKEY_TS_NTP_UTC);
  g_assert_cmphex(t->u.t.value, ==, 0xe8a1b2c300000000ull);

  MikeyPayload *ri = mikey_msg_find(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I, 0);
  g_assert_cmpuint(ri->offset, ==, 20);
  assert_bytes_hex(ri->u.rand.data, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");

  MikeyPayload *idri = mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
  g_assert_cmpuint(idri->offset, ==, 39);
  g_assert_cmpuint(idri->u.id.id_type, ==, MIKEY_ID_URI);
  assert_bytes_str(idri->u.id.data, "sip:alice@example.org");
  assert_bytes_str(mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, 0)->u.id.data,
                   "kms.example.org");

  MikeyPayload *tp = mikey_msg_find(msg, MIKEY_PT_TP, 0, 0);
  g_assert_cmpuint(tp->offset, ==, 85);
  g_assert_cmpuint(tp->length, ==, 95);
  g_assert_cmpuint(tp->u.ticket.ticket_type, ==, MIKEY_TICKET_TYPE_MIKEY_BASE);
  g_assert_cmpuint(tp->u.ticket.subtype, ==, 1);
  g_assert_cmpuint(tp->u.ticket.version, ==, 1);
  g_assert_cmpuint(tp->u.ticket.prf, ==, 0);
  g_assert_cmphex(tp->u.ticket.flags, ==,
                  MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_J);
  GPtrArray *tpd = tp->u.ticket.tp_data;
  g_assert_cmpuint(tpd->len, ==, 5);
  MikeyPayload *trs = mikey_chain_find(tpd, MIKEY_PT_TR, MIKEY_TS_ROLE_TRS, 0);
  g_assert_cmpuint(trs->u.t.ts_type, ==, MIKEY_TS_NTP_UTC_32);
  g_assert_cmphex(trs->u.t.value, ==, 0xe8a1b2c3);
  g_assert_cmphex(mikey_ts_value64(trs), ==, 0xe8a1b2c300000000ull);
  g_assert_cmphex(mikey_chain_find(tpd, MIKEY_PT_TR, MIKEY_TS_ROLE_TRE, 0)->u.t.value, ==,
                  0xe8a30443);
  assert_bytes_str(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0)->u.id.data,
                   "sip:bob@example.org");
  g_assert_cmpuint(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, 0)->offset, ==, 96);

  MikeyPayload *psk = mikey_msg_find(msg, MIKEY_PT_IDR, MIKEY_ID_ROLE_PSK, 0);
  g_assert_cmpuint(psk->offset, ==, 180);
  g_assert_cmpuint(psk->u.id.id_type, ==, MIKEY_ID_BYTES);
  assert_bytes_str(psk->u.id.data, "psk-id-1");
  MikeyPayload *v = mikey_msg_find(msg, MIKEY_PT_V, 0, 0);
  g_assert_cmpuint(v->offset, ==, 193);
  g_assert_cmpuint(v->u.v.alg, ==, MIKEY_MAC_HMAC_SHA1_160);
  assert_bytes_hex(v->u.v.mac, "62576092234db00a19e23f7a9e62f6e1e265c549");
}

/* Scenario A message 03: GENERIC-ID map, SP policies, SDP IDs, TICKET with Initiator Data. */
static void test_transfer_init_fields(void)
{
  g_autoptr(GBytes) b = load("exchange/03-a-transfer_init.bin");
  g_autoptr(MikeyMsg) msg = parse_ok(b);
  g_autoptr(GError) error = NULL;
  g_assert_cmpuint(msg->hdr.data_type, ==, MIKEY_DT_TRANSFER_INIT);
  g_assert_cmpuint(msg->hdr.prf, ==, MIKEY_PRF_HMAC_SHA256);
  g_assert_cmphex(msg->hdr.csb_id, ==, 0x9240cb89);
  g_assert_cmpuint(msg->hdr.map_type, ==, MIKEY_MAP_GENERIC_ID);
  g_assert_cmpuint(msg->hdr.cs->len, ==, 2);
  MikeyCs *cs1 = g_ptr_array_index(msg->hdr.cs, 0);
  MikeyCs *cs2 = g_ptr_array_index(msg->hdr.cs, 1);
  g_assert_cmpuint(cs1->cs_id, ==, 1);
  g_assert_cmpuint(cs2->cs_id, ==, 2);
  g_assert_true(cs1->s_flag);
  g_assert_cmpuint(cs1->n_policies, ==, 2);
  g_assert_cmpuint(cs1->policies[0], ==, 0);
  g_assert_cmpuint(cs1->policies[1], ==, 1);
  assert_bytes_hex(cs1->spi, "f86a100d");
  MikeySrtpSessionData sd;
  g_assert_true(mikey_srtp_session_data_decode(cs1->session_data, &sd, &error));
  g_assert_cmphex(sd.ssrc, ==, 0x8a3f12c4);
  g_assert_cmpuint(sd.roc, ==, 0);
  g_assert_cmpuint(sd.seq, ==, 4711);
  g_assert_true(mikey_srtp_session_data_decode(cs2->session_data, &sd, &error));
  g_assert_cmphex(sd.ssrc, ==, 0);
  g_autoptr(GBytes) sd_again = mikey_srtp_session_data_encode(
      &(MikeySrtpSessionData){ .ssrc = 0x8a3f12c4, .seq = 4711, .has_roc_seq = TRUE });
  g_assert_true(g_bytes_equal(sd_again, cs1->session_data));

  static const guint expect_offsets[] = { 54, 64, 99, 125, 169, 186, 209, 218, 653 };
  g_assert_cmpuint(msg->payloads->len, ==, G_N_ELEMENTS(expect_offsets));
  for (guint i = 0; i < msg->payloads->len; i++)
    g_assert_cmpuint(((MikeyPayload *)g_ptr_array_index(msg->payloads, i))->offset, ==,
                     expect_offsets[i]);

  MikeyPayload *sp0 = mikey_msg_find(msg, MIKEY_PT_SP, 0, 0);
  g_assert_cmpuint(sp0->u.sp.policy_no, ==, 0);
  g_assert_cmpuint(sp0->u.sp.params->len, ==, 4);
  MikeySpParam *tag = g_ptr_array_index(sp0->u.sp.params, 3);
  g_assert_cmpuint(tag->type, ==, MIKEY_SRTP_AEAD_TAG_LEN);
  assert_bytes_hex(tag->value, "10");
  MikeyPayload *sp1 = mikey_msg_find(msg, MIKEY_PT_SP, 0, 1);
  g_assert_cmpuint(sp1->u.sp.params->len, ==, 6);

  MikeyPayload *ext = mikey_msg_find(msg, MIKEY_PT_GEN_EXT, 0, 0);
  g_assert_cmpuint(ext->u.ext.type, ==, MIKEY_GEN_EXT_SDP_IDS);
  assert_bytes_str(ext->u.ext.data, "mikey");

  MikeyPayload *ticket = mikey_msg_find(msg, MIKEY_PT_TICKET, 0, 0);
  g_assert_cmpuint(ticket->length, ==, 435);
  g_assert_cmphex(ticket->u.ticket.flags, ==,
                  MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
                      MIKEY_TP_J | MIKEY_TP_N | MIKEY_TP_O);
  g_assert_cmpuint(ticket->u.ticket.prf, ==, 1);
  GPtrArray *tpd = ticket->u.ticket.tp_data;
  g_assert_cmpuint(mikey_chain_count(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R), ==, 3);
  g_assert_cmpuint(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 2)->offset, ==, 365);
  assert_bytes_str(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 2)->u.id.data,
                   "sip:carol@example.org");
  g_assert_cmpuint(g_bytes_get_size(ticket->u.ticket.ticket_data), ==, 189);
  g_assert_cmpuint(g_bytes_get_size(ticket->u.ticket.initiator_data), ==, 69);

  /* Ticket Data of a base ticket: THDR, T, RAND, KEMAC, IDRpsk, V at [393, 582) */
  gsize td_len;
  const guint8 *td = g_bytes_get_data(ticket->u.ticket.ticket_data, &td_len);
  g_autoptr(GPtrArray) tdc = mikey_chain_parse(td, td_len, FALSE, MIKEY_PT_THDR, 393, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(tdc->len, ==, 6);
  g_assert_cmpuint(((MikeyPayload *)g_ptr_array_index(tdc, 0))->type, ==, MIKEY_PT_THDR);
  g_assert_cmpuint(((MikeyPayload *)g_ptr_array_index(tdc, 0))->length, ==, 3);
  MikeyPayload *kemac = mikey_chain_find(tdc, MIKEY_PT_KEMAC, 0, 0);
  g_assert_cmpuint(kemac->offset, ==, 440); /* 393 + THDR 3 + T 10 + RAND 34 */
  g_assert_cmpuint(kemac->u.kemac.encr_alg, ==, MIKEY_ENCR_AES_CM_256);
  g_assert_cmpuint(g_bytes_get_size(kemac->u.kemac.encr_data), ==, 82);
  g_assert_cmpuint(kemac->u.kemac.mac_alg, ==, MIKEY_MAC_NULL);
  assert_bytes_hex(mikey_chain_find(tdc, MIKEY_PT_IDR, MIKEY_ID_ROLE_PSK, 0)->u.id.data,
                   "5143d51c65d4969cc2ab8e17231dccb3");
  g_autoptr(GBytes) td_again = mikey_chain_encode(tdc, FALSE, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(td_again, ticket->u.ticket.ticket_data));

  /* Initiator Data: first type 9, Vi, Vr */
  gsize id_len;
  const guint8 *idd = g_bytes_get_data(ticket->u.ticket.initiator_data, &id_len);
  g_autoptr(GPtrArray) idc = mikey_chain_parse(idd, id_len, TRUE, 0, 584, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(idc->len, ==, 2);
  MikeyPayload *vi = g_ptr_array_index(idc, 0);
  g_assert_cmpuint(vi->offset, ==, 585);
  assert_bytes_hex(vi->u.v.mac, "1c670e816677266f68c60b8cefec792d6077952940528db80e9aa0c465509686");
  g_assert_true(g_bytes_equal(vi->u.v.mac, mikey_msg_find(msg, MIKEY_PT_V, 0, 0)->u.v.mac));
  g_autoptr(GBytes) id_again = mikey_chain_encode(idc, TRUE, &error);
  g_assert_true(g_bytes_equal(id_again, ticket->u.ticket.initiator_data));
}

static void test_rfc3830_vectors(void)
{
  g_autoptr(GBytes) b = load("rfc4567_init.bin");
  g_autoptr(MikeyMsg) msg = parse_ok(b);
  g_assert_cmpuint(msg->hdr.data_type, ==, MIKEY_DT_PSK_INIT);
  g_assert_cmpuint(msg->hdr.map_type, ==, MIKEY_MAP_SRTP_ID);
  g_assert_cmphex(msg->hdr.csb_id, ==, 0xcd177e50);
  g_assert_cmpuint(msg->hdr.cs->len, ==, 1);
  MikeyCs *cs = g_ptr_array_index(msg->hdr.cs, 0);
  g_assert_cmpuint(cs->cs_id, ==, 1);
  g_assert_cmpuint(cs->ssrc, ==, 0);
  g_assert_cmphex(mikey_msg_find(msg, MIKEY_PT_T, 0, 0)->u.t.value, ==, 0xc8e350ea00000000ull);
  MikeyPayload *id = mikey_msg_find(msg, MIKEY_PT_ID, 0, 0);
  g_assert_cmpuint(id->u.id.id_type, ==, MIKEY_ID_NAI);
  assert_bytes_str(id->u.id.data, "donald@duck.com");
  MikeyPayload *kemac = mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0);
  g_assert_cmpuint(kemac->u.kemac.encr_alg, ==, MIKEY_ENCR_AES_CM_128);
  g_assert_cmpuint(g_bytes_get_size(kemac->u.kemac.encr_data), ==, 36);
  g_assert_cmpuint(kemac->u.kemac.mac_alg, ==, MIKEY_MAC_HMAC_SHA1_160);

  g_autoptr(GBytes) r = load("psk_r.bin");
  g_autoptr(MikeyMsg) resp = parse_ok(r);
  g_assert_cmpuint(resp->hdr.data_type, ==, MIKEY_DT_PSK_RESP);
  assert_bytes_str(mikey_msg_find(resp, MIKEY_PT_ID, 0, 0)->u.id.data, "sip:bob@example.org");
  assert_bytes_hex(mikey_msg_find(resp, MIKEY_PT_V, 0, 0)->u.v.mac,
                   "db0df37fd6ca53fb9f12ec9c26f5ea05eb836580");
}

/* gortsplib: NULL KEMAC whose Key data is readable: one 30-byte TEK (key || salt). */
static void test_gortsplib_key_data(void)
{
  g_autoptr(GBytes) b = load("gortsplib_a.bin");
  g_autoptr(MikeyMsg) msg = parse_ok(b);
  g_autoptr(GError) error = NULL;
  g_assert_false(msg->hdr.v);
  g_assert_cmphex(msg->hdr.csb_id, ==, 0xe69d51f8);
  g_assert_cmphex(((MikeyCs *)g_ptr_array_index(msg->hdr.cs, 0))->ssrc, ==, 0x30685760);
  MikeyPayload *kemac = mikey_msg_find(msg, MIKEY_PT_KEMAC, 0, 0);
  g_assert_cmpuint(kemac->u.kemac.encr_alg, ==, MIKEY_ENCR_NULL);
  gsize n;
  const guint8 *d = g_bytes_get_data(kemac->u.kemac.encr_data, &n);
  g_autoptr(GPtrArray) kds = mikey_key_data_parse(d, n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(kds->len, ==, 1);
  MikeyKeyData *kd = g_ptr_array_index(kds, 0);
  g_assert_cmpuint(kd->type, ==, MIKEY_KEY_TEK);
  g_assert_cmpuint(kd->kv, ==, MIKEY_KV_NULL);
  g_assert_cmpuint(kd->key->len, ==, 30);
  g_autoptr(MikeySecret) again = mikey_key_data_encode(kds, &error);
  g_assert_no_error(error);
  g_assert_cmpmem(again->data, again->len, d, n);
}

static void test_errors_parse(void)
{
  static const struct {
    const char *file;
    guint err_no;
    gboolean has_v;
  } cases[] = {
    { "exchange/22-c-error_auth_failure.bin", MIKEY_ERR_AUTH_FAILURE, FALSE },
    { "exchange/23-c-error_replay.bin", MIKEY_ERR_INVALID_TS, TRUE },
    { "exchange/25-c-error_tppar.bin", MIKEY_ERR_INVALID_TPPAR, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) b = load(cases[i].file);
    g_autoptr(MikeyMsg) msg = parse_ok(b);
    g_assert_cmpuint(msg->hdr.data_type, ==, MIKEY_DT_ERROR);
    g_assert_false(msg->hdr.v);
    g_assert_cmpuint(mikey_msg_find(msg, MIKEY_PT_ERR, 0, 0)->u.err.err_no, ==, cases[i].err_no);
    g_assert_cmpint(mikey_msg_find(msg, MIKEY_PT_V, 0, 0) != NULL, ==, cases[i].has_v);
  }
}

/* Key data with every KV form and a salt type, as the KEMACs of the exchange carry them. */
static void test_key_data_forms(void)
{
  g_autoptr(GError) error = NULL;
  /* scenario A ticket KEMAC plaintext: MPK and TGK, each with a 4-byte SPI */
  static const char *hex =
      "146100205811cdb559f8f3192edba623072c0b157003d078ef4c85ce742a8cf24cf8396004d45fb5560001"
      "00203af14b5f6887b8283ea443e920305601ecdea1d07a2461fb87cf6570cd2643f604f86a100d";
  g_autoptr(MikeySecret) plain = mikey_secret_new_from_hex(hex, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) kds = mikey_key_data_parse(plain->data, plain->len, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(kds->len, ==, 2);
  MikeyKeyData *mpk = g_ptr_array_index(kds, 0);
  g_assert_cmpuint(mpk->type, ==, MIKEY_KEY_MPK);
  g_assert_cmpuint(mpk->kv, ==, MIKEY_KV_SPI);
  assert_bytes_hex(mpk->spi, "d45fb556");
  g_assert_cmpuint(((MikeyKeyData *)g_ptr_array_index(kds, 1))->type, ==, MIKEY_KEY_TGK);
  g_autoptr(MikeySecret) again = mikey_key_data_encode(kds, &error);
  g_assert_true(mikey_secret_equal(again, plain));

  /* TEK+SALT with an interval, then a GTGK with a NULL KV */
  g_autoptr(GPtrArray) list = mikey_key_data_list_new();
  g_autoptr(MikeySecret) k = mikey_secret_new_from_hex("00112233445566778899aabbccddeeff", NULL);
  MikeyKeyData *tek = mikey_key_data_new(MIKEY_KEY_TEK_SALT, k, NULL, 0);
  tek->salt = mikey_secret_new_from_hex("0102030405060708090a0b0c0d0e", NULL);
  tek->kv = MIKEY_KV_INTERVAL;
  tek->valid_from = g_bytes_new("\0\0\0\0\0\1", 6);
  tek->valid_to = g_bytes_new("\0\0\0\1\0\0", 6);
  g_ptr_array_add(list, tek);
  g_ptr_array_add(list, mikey_key_data_new(MIKEY_KEY_GTGK, k, NULL, 0));
  g_autoptr(MikeySecret) enc = mikey_key_data_encode(list, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(enc->len, ==, (4 + 16 + 2 + 14 + 1 + 6 + 1 + 6) + (4 + 16));
  g_autoptr(GPtrArray) back = mikey_key_data_parse(enc->data, enc->len, &error);
  g_assert_no_error(error);
  MikeyKeyData *t2 = g_ptr_array_index(back, 0);
  g_assert_cmpuint(t2->type, ==, MIKEY_KEY_TEK_SALT);
  g_assert_true(mikey_secret_equal(t2->salt, tek->salt));
  g_assert_true(g_bytes_equal(t2->valid_to, tek->valid_to));
  g_assert_cmpuint(((MikeyKeyData *)g_ptr_array_index(back, 1))->type, ==, MIKEY_KEY_GTGK);

  /* truncation of Key data at every length */
  for (gsize cut = 0; cut < enc->len; cut++) {
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) none = mikey_key_data_parse(enc->data, cut, &e);
    g_assert_null(none);
    g_assert_error(e, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  }
  /* unknown key type 7, unknown KV 3, foreign next payload */
  static const guint8 bad_type[] = { 0, 0x70, 0, 1, 0xaa };
  static const guint8 bad_kv[] = { 0, 0x03, 0, 1, 0xaa };
  static const guint8 bad_next[] = { 5, 0x00, 0, 1, 0xaa };
  g_assert_null(mikey_key_data_parse(bad_type, sizeof bad_type, NULL));
  g_assert_null(mikey_key_data_parse(bad_kv, sizeof bad_kv, NULL));
  g_assert_null(mikey_key_data_parse(bad_next, sizeof bad_next, NULL));
}

/* Build mikey-ticket.md 6.4 from constructors; only the MAC is taken from the vector. */
static void test_build_request_init(void)
{
  g_autoptr(GBytes) expect = load("req_init.bin");
  g_autoptr(GError) error = NULL;
  static const guint8 rand[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                   0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
  g_autoptr(MikeyMsg) msg =
      mikey_msg_new(MIKEY_DT_REQUEST_INIT_PSK, MIKEY_PRF_HMAC_SHA1, 0x12345678, MIKEY_MAP_EMPTY);
  msg->hdr.v = TRUE;
  mikey_msg_add(msg, mikey_payload_new_t(MIKEY_TS_NTP_UTC, 0xe8a1b2c300000000ull));
  mikey_msg_add(msg, mikey_payload_new_randr(MIKEY_RAND_ROLE_I, rand, sizeof rand));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_I, "sip:alice@example.org"));
  mikey_msg_add(msg, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, "kms.example.org"));
  MikeyPayload *tp = mikey_msg_add(msg, mikey_payload_new(MIKEY_PT_TP));
  tp->u.ticket.ticket_type = MIKEY_TICKET_TYPE_MIKEY_BASE;
  tp->u.ticket.subtype = 1;
  tp->u.ticket.version = 1;
  tp->u.ticket.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_J;
  GPtrArray *tpd = tp->u.ticket.tp_data;
  g_ptr_array_add(tpd, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, "kms.example.org"));
  g_ptr_array_add(tpd, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_I, "sip:alice@example.org"));
  g_ptr_array_add(tpd, mikey_payload_new_tr(MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC_32, 0xe8a1b2c3));
  g_ptr_array_add(tpd, mikey_payload_new_tr(MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC_32, 0xe8a30443));
  g_ptr_array_add(tpd, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, "sip:bob@example.org"));
  mikey_msg_add(
      msg, mikey_payload_new_idr(MIKEY_ID_ROLE_PSK, MIKEY_ID_BYTES, (const guint8 *)"psk-id-1", 8));
  MikeyPayload *v = mikey_msg_add(msg, mikey_payload_new_v(MIKEY_MAC_HMAC_SHA1_160));
  g_bytes_unref(v->u.v.mac);
  v->u.v.mac = g_bytes_new((const guint8 *)g_bytes_get_data(expect, NULL) + 195, 20);
  g_autoptr(GBytes) out = mikey_msg_encode(msg, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(out, expect));
  g_assert_cmpuint(v->offset, ==, 193);
  g_assert_cmpuint(mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0)->offset, ==, 156);
}

/* Every proper prefix of every vector is refused with an offset in the message. */
static void test_truncation(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(all_vectors); i++) {
    g_autoptr(GBytes) b = load(all_vectors[i]);
    gsize n;
    const guint8 *d = g_bytes_get_data(b, &n);
    for (gsize cut = 0; cut < n; cut++) {
      g_autoptr(GError) error = NULL;
      /* a heap copy of exactly cut bytes, so ASan sees any over-read */
      g_autofree guint8 *copy = g_memdup2(d, cut ? cut : 1);
      g_autoptr(MikeyMsg) msg = mikey_msg_parse(copy, cut, &error);
      if (msg)
        g_error("%s truncated to %" G_GSIZE_FORMAT " bytes parsed", all_vectors[i], cut);
      g_assert_nonnull(error);
      g_assert_true(g_str_has_prefix(error->message, "offset "));
    }
  }
}

/* Any single-bit flip either fails to parse or round-trips exactly: the codec never
 * accepts bytes it cannot reproduce. */
static void test_bit_flips(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(all_vectors); i++) {
    g_autoptr(GBytes) b = load(all_vectors[i]);
    gsize n;
    const guint8 *d = g_bytes_get_data(b, &n);
    g_autofree guint8 *copy = g_memdup2(d, n);
    for (gsize bit = 0; bit < n * 8; bit++) {
      copy[bit / 8] ^= (guint8)(1u << (bit % 8));
      g_autoptr(GError) error = NULL;
      g_autoptr(MikeyMsg) msg = mikey_msg_parse(copy, n, &error);
      if (msg) {
        g_autoptr(GBytes) out = mikey_msg_encode(msg, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(out, NULL), g_bytes_get_size(out), copy, n);
      } else {
        g_assert_nonnull(error);
      }
      copy[bit / 8] ^= (guint8)(1u << (bit % 8));
    }
  }
}

static void expect_refused(const guint8 *data, gsize len, guint code, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) msg = mikey_msg_parse(data, len, &error);
  g_assert_null(msg);
  g_assert_error(error, MIKEY_ERROR, (gint)code);
  if (!strstr(error->message, fragment))
    g_error("error \"%s\" lacks \"%s\"", error->message, fragment);
}

static void test_refusals(void)
{
  /* HDR with Empty map and one ERR payload, as a base for the cases */
  guint8 ok[] = { 1, 6, 12, 0, 0, 0, 0, 1, 0, 1, 0, 7, 0, 0 };
  g_autoptr(MikeyMsg) good = mikey_msg_parse(ok, sizeof ok, NULL);
  g_assert_nonnull(good);

  guint8 m[sizeof ok];
  memcpy(m, ok, sizeof ok);
  m[0] = 2;
  expect_refused(m, sizeof m, MIKEY_ERR_UNSPECIFIED, "offset 0: unsupported MIKEY version 2");
  memcpy(m, ok, sizeof ok);
  m[1] = 19;
  expect_refused(m, sizeof m, MIKEY_ERR_INVALID_DT, "offset 1: unknown data type 19");
  memcpy(m, ok, sizeof ok);
  m[9] = 3;
  expect_refused(m, sizeof m, MIKEY_ERR_UNSPECIFIED, "offset 9: unknown CS ID map type 3");
  memcpy(m, ok, sizeof ok);
  m[2] = 18; /* unassigned payload type */
  expect_refused(m, sizeof m, MIKEY_ERR_UNSPECIFIED,
                 "offset 10: unknown or misplaced payload type 18");
  memcpy(m, ok, sizeof ok);
  m[2] = MIKEY_PT_KEY_DATA; /* Key data outside a KEMAC */
  expect_refused(m, sizeof m, MIKEY_ERR_UNSPECIFIED, "misplaced payload type 20");
  memcpy(m, ok, sizeof ok);
  m[10] = 12; /* ERR says another ERR follows, but the message ends */
  expect_refused(m, sizeof m, MIKEY_ERR_UNSPECIFIED, "offset 14: truncated payload header");

  guint8 trailing[sizeof ok + 1];
  memcpy(trailing, ok, sizeof ok);
  trailing[sizeof ok] = 0;
  expect_refused(trailing, sizeof trailing, MIKEY_ERR_UNSPECIFIED, "1 trailing bytes");

  /* V with an unknown MAC algorithm: length unknowable, ERR 3 */
  guint8 v[] = { 1, 6, 9, 0, 0, 0, 0, 1, 0, 1, 0, 7 };
  expect_refused(v, sizeof v, MIKEY_ERR_INVALID_MAC,
                 "offset 11: V payload: unknown MAC algorithm 7");
  /* T with an unknown TS type: ERR 1 */
  guint8 t[] = { 1, 6, 5, 0, 0, 0, 0, 1, 0, 1, 0, 9, 0, 0, 0, 0 };
  expect_refused(t, sizeof t, MIKEY_ERR_INVALID_TS, "unknown timestamp type 9");
  /* SP whose TLV runs past its parameter length */
  guint8 sp[] = { 1, 6, 10, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 3, 1, 5, 0 };
  expect_refused(sp, sizeof sp, MIKEY_ERR_UNSPECIFIED, "SP parameter 1 value runs past");
  /* SIGN must be last: bytes after it are trailing */
  guint8 sign[] = { 1, 2, 4, 0, 0, 0, 0, 1, 0, 1, 0x00, 0x01, 0xaa, 0xbb };
  expect_refused(sign, sizeof sign, MIKEY_ERR_UNSPECIFIED, "1 trailing bytes");
  /* TP Data that names a TICKET (no recursion) */
  guint8 nested[] = { 1, 11, 16, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 17 };
  expect_refused(nested, sizeof nested, MIKEY_ERR_UNSPECIFIED, "misplaced payload type 17");

  /* size limit: one byte over 64 KiB is refused before anything is read */
  g_autofree guint8 *big = g_malloc0(MIKEY_MAX_MESSAGE_SIZE + 1);
  expect_refused(big, MIKEY_MAX_MESSAGE_SIZE + 1, MIKEY_ERR_UNSPECIFIED, "exceeds 65536");

  /* payload count limit: 4097 ERR payloads */
  gsize n = 10 + 4 * 4097;
  g_autofree guint8 *many = g_malloc0(n);
  memcpy(many, ok, 10);
  for (gsize i = 0; i < 4097; i++)
    many[10 + 4 * i] = i + 1 < 4097 ? 12 : 0;
  expect_refused(many, n, MIKEY_ERR_UNSPECIFIED, "more than 4096 payloads");
  g_autoptr(MikeyMsg) max_ok = mikey_msg_parse(many, n - 4, NULL);
  g_assert_null(max_ok); /* n-4 leaves the last ERR pointing at a missing one */
  many[10 + 4 * 4095] = 0;
  g_autoptr(MikeyMsg) exactly = mikey_msg_parse(many, 10 + 4 * 4096, NULL);
  g_assert_nonnull(exactly);
  g_assert_cmpuint(exactly->payloads->len, ==, 4096);
}

static void test_hdr_peek(void)
{
  g_autoptr(GBytes) b = load("exchange/04-a-resolve_init.bin");
  gsize n;
  const guint8 *d = g_bytes_get_data(b, &n);
  MikeyHdr hdr;
  g_assert_true(mikey_hdr_peek(d, 12, &hdr, NULL)); /* header only, body missing */
  g_assert_cmpuint(hdr.data_type, ==, MIKEY_DT_RESOLVE_INIT_PSK);
  g_assert_cmphex(hdr.csb_id, ==, 0x27f825d9);
  mikey_hdr_clear(&hdr);
  g_assert_false(mikey_hdr_peek(d, 9, &hdr, NULL));
}

static void test_encode_refusals(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) msg = mikey_msg_new(MIKEY_DT_ERROR, 0, 1, MIKEY_MAP_EMPTY);
  guint8 big[300] = { 0 };
  mikey_msg_add(msg, mikey_payload_new_rand(big, sizeof big));
  g_assert_null(mikey_msg_encode(msg, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  g_clear_error(&error);

  g_autoptr(MikeyMsg) msg2 = mikey_msg_new(MIKEY_DT_ERROR, 0, 1, MIKEY_MAP_EMPTY);
  MikeyPayload *v = mikey_msg_add(msg2, mikey_payload_new_v(MIKEY_MAC_HMAC_SHA256_256));
  g_bytes_unref(v->u.v.mac);
  v->u.v.mac = g_bytes_new(big, 20);
  g_assert_null(mikey_msg_encode(msg2, &error));
  g_assert_nonnull(strstr(error->message, "MAC of 20 bytes"));
  g_clear_error(&error);

  g_autoptr(MikeyMsg) msg3 = mikey_msg_new(MIKEY_DT_PK_INIT, 0, 1, MIKEY_MAP_EMPTY);
  MikeyPayload *s = mikey_msg_add(msg3, mikey_payload_new(MIKEY_PT_SIGN));
  s->u.sign.signature = g_bytes_new(big, 4);
  mikey_msg_add(msg3, mikey_payload_new_err(MIKEY_ERR_AUTH_FAILURE));
  g_assert_null(mikey_msg_encode(msg3, &error));
  g_assert_nonnull(strstr(error->message, "SIGN must be the last payload"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/codec/round-trip", test_round_trip_all);
  g_test_add_func("/codec/request-init-fields", test_request_init_fields);
  g_test_add_func("/codec/transfer-init-fields", test_transfer_init_fields);
  g_test_add_func("/codec/rfc3830-vectors", test_rfc3830_vectors);
  g_test_add_func("/codec/gortsplib-key-data", test_gortsplib_key_data);
  g_test_add_func("/codec/error-messages", test_errors_parse);
  g_test_add_func("/codec/key-data-forms", test_key_data_forms);
  g_test_add_func("/codec/build-request-init", test_build_request_init);
  g_test_add_func("/codec/truncation", test_truncation);
  g_test_add_func("/codec/bit-flips", test_bit_flips);
  g_test_add_func("/codec/refusals", test_refusals);
  g_test_add_func("/codec/hdr-peek", test_hdr_peek);
  g_test_add_func("/codec/encode-refusals", test_encode_refusals);
  return g_test_run();
}
