/* The audio session description (src/common/sdpaudio.c): profile.md §6, §7.3, §8; RFC 4566,
 * RFC 3264, RFC 4567. Golden bodies: tests/data/exchange/ *.sdp and exchange.json. */
#include "common/sdpaudio.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* ---- helpers ---- */

static char *data_path(const char *name)
{
  return g_test_build_filename(G_TEST_DIST, "data", "exchange", name, NULL);
}

static char *load_text(const char *name, gsize *len)
{
  g_autofree char *path = data_path(name);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  if (!g_file_get_contents(path, &contents, len, &error))
    g_error("cannot read %s: %s", path, error->message);
  return contents;
}

static GBytes *load_bytes(const char *name)
{
  gsize len;
  char *contents = load_text(name, &len);
  return g_bytes_new_take(contents, len);
}

/* A heap copy of exactly len bytes (no NUL after it), so ASan sees any read past the end. */
static char *exact_copy(const char *s, gsize len)
{
  return g_memdup2(len ? s : "", len ? len : 1);
}

static SdpAudioDesc *parse_exact(const char *sdp, gsize len, GError **error)
{
  g_autofree char *copy = exact_copy(sdp, len);
  return sdp_audio_parse(copy, len, error);
}

static SdpAudioDesc *parse_ok(const char *sdp)
{
  g_autoptr(GError) error = NULL;
  SdpAudioDesc *desc = parse_exact(sdp, strlen(sdp), &error);
  if (!desc)
    g_error("parse failed: %s\n--- SDP ---\n%s", error->message, sdp);
  return desc;
}

static void parse_fail(const char *sdp, gsize len, SdpAudioError code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SdpAudioDesc) desc = parse_exact(sdp, len, &error);
  if (desc)
    g_error("parse accepted (expected code %d):\n%.*s", code, (int)MIN(len, 2000), sdp);
  g_assert_error(error, SDP_AUDIO_ERROR, (gint)code);
  g_test_message("refused as expected: %s", error->message);
}

static void parse_fail_str(const char *sdp, SdpAudioError code)
{
  parse_fail(sdp, strlen(sdp), code);
}

static void assert_bytes_equal(GBytes *got, GBytes *want)
{
  g_assert_nonnull(got);
  g_assert_nonnull(want);
  gsize got_len, want_len;
  const guint8 *g = g_bytes_get_data(got, &got_len);
  const guint8 *w = g_bytes_get_data(want, &want_len);
  g_assert_cmpmem(g, got_len, w, want_len);
}

static char *lf_only(const char *s)
{
  GString *out = g_string_new(NULL);
  for (; *s; s++)
    if (!(s[0] == '\r' && s[1] == '\n'))
      g_string_append_c(out, *s);
  return g_string_free(out, FALSE);
}

static const guint8 mikey_dummy_bytes[] = { 0x01, 0x02, 0x03, 0x04 }; /* "AQIDBA==" */
static const guint8 mikey_other_bytes[] = { 0x05, 0x06, 0x07 };       /* "BQYH" */

#define HEAD4 "v=0\r\no=- 7 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
#define KM "a=key-mgmt:mikey AQIDBA==\r\n"
#define KM_OTHER "a=key-mgmt:mikey BQYH\r\n"
#define AUDIO_PCMU_PCMA                                                                            \
  "m=audio 5004 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"              \
  "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"

static const SdpAudioFormat fmt_offer[] = {
  { 0, SDP_AUDIO_CODEC_PCMU },
  { 8, SDP_AUDIO_CODEC_PCMA },
  { 101, SDP_AUDIO_CODEC_TELEPHONE_EVENT },
};
static const SdpAudioFormat fmt_answer[] = {
  { 0, SDP_AUDIO_CODEC_PCMU },
  { 101, SDP_AUDIO_CODEC_TELEPHONE_EVENT },
};

/* ---- golden vectors ----
 * exchange.json's "sdp" section of each scenario holds the body text only; the parameters that
 * produced it are the ones below (o= sess-id/version, address, port, payload types), with the
 * MIKEY message of the same step from its .bin file. */

typedef struct {
  const char *sdp;
  const char *bin;
  const char *scenario; /* exchange.json scenarios/<X>/sdp/<key> */
  const char *key;
  guint64 sess_id;
  guint64 version;
  const char *addr;
  guint16 port;
  gboolean offer;
} Vector;

static const Vector vectors[] = {
  { "03-a-offer.sdp", "03-a-transfer_init.bin", "A", "offer", 2890844526u, 1, "192.0.2.10", 49170,
    TRUE },
  { "06-a-answer.sdp", "06-a-transfer_resp.bin", "A", "answer", 2890842807u, 1, "198.51.100.5",
    30000, FALSE },
  { "07-a-update_offer.sdp", "07-a-csb_update_init.bin", "A", "update offer", 2890844526u, 2,
    "192.0.2.10", 49170, TRUE },
  { "08-a-update_answer.sdp", "08-a-csb_update_resp.bin", "A", "update answer", 2890842807u, 2,
    "198.51.100.5", 30000, FALSE },
  { "13-b-offer.sdp", "13-b-transfer_init.bin", "B", "offer", 1734892001u, 1, "192.0.2.20", 40376,
    TRUE },
  { "16-b-answer.sdp", "16-b-transfer_resp.bin", "B", "answer", 1734892733u, 1, "198.51.100.5",
    30002, FALSE },
  { "17-b-update_offer.sdp", "17-b-csb_update_init.bin", "B", "update offer", 1734892001u, 2,
    "192.0.2.20", 40376, TRUE },
  { "18-b-update_answer.sdp", "18-b-csb_update_resp.bin", "B", "update answer", 1734892733u, 2,
    "198.51.100.5", 30002, FALSE },
};

static char *json_sdp_text(JsonParser *parser, const Vector *v)
{
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  JsonObject *sc =
      json_object_get_object_member(json_object_get_object_member(root, "scenarios"), v->scenario);
  JsonObject *entry =
      json_object_get_object_member(json_object_get_object_member(sc, "sdp"), v->key);
  g_assert_nonnull(entry);
  g_assert_cmpstr(json_object_get_string_member(entry, "file"), ==, v->sdp);
  return g_strdup(json_object_get_string_member(entry, "text"));
}

static JsonParser *load_json(void)
{
  g_autofree char *path = data_path("exchange.json");
  JsonParser *parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, path, &error))
    g_error("cannot read %s: %s", path, error->message);
  return parser;
}

static void vector_params(const Vector *v, GBytes *mikey, SdpAudioParams *p)
{
  memset(p, 0, sizeof *p);
  p->sess_id = v->sess_id;
  p->version = v->version;
  p->addr = v->addr;
  p->port = v->port;
  p->formats = v->offer ? fmt_offer : fmt_answer;
  p->n_formats = v->offer ? G_N_ELEMENTS(fmt_offer) : G_N_ELEMENTS(fmt_answer);
  p->ptime = SDP_AUDIO_PTIME;
  p->direction = SDP_AUDIO_SENDRECV;
  p->mikey = mikey;
}

static void test_build_golden(void)
{
  g_autoptr(JsonParser) json = load_json();
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    const Vector *v = &vectors[i];
    gsize want_len;
    g_autofree char *want = load_text(v->sdp, &want_len);
    g_autofree char *json_text = json_sdp_text(json, v);
    g_assert_cmpstr(json_text, ==, want);
    g_autoptr(GBytes) mikey = load_bytes(v->bin);

    SdpAudioParams p;
    vector_params(v, mikey, &p);
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    g_autofree char *body = sdp_audio_build(&p, &len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, strlen(body));
    if (len != want_len || memcmp(body, want, len) != 0)
      g_error("%s: built\n%s\nexpected\n%s", v->sdp, body, want);
  }
}

static void test_parse_golden(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    const Vector *v = &vectors[i];
    gsize len;
    g_autofree char *text = load_text(v->sdp, &len);
    g_autoptr(GBytes) mikey = load_bytes(v->bin);
    g_autofree char *lf = lf_only(text);
    const char *bodies[] = { text, lf };
    for (guint b = 0; b < G_N_ELEMENTS(bodies); b++) {
      g_autoptr(GError) error = NULL;
      g_autoptr(SdpAudioDesc) d = parse_exact(bodies[b], strlen(bodies[b]), &error);
      g_assert_no_error(error);
      g_assert_cmpuint(d->sess_id, ==, v->sess_id);
      g_assert_cmpuint(d->sess_version, ==, v->version);
      g_assert_cmpstr(d->addr, ==, v->addr);
      g_assert_cmpint(d->addr_type, ==, SDP_AUDIO_IP4);
      g_assert_cmpuint(d->port, ==, v->port);
      g_assert_cmpuint(d->port_count, ==, 1);
      g_assert_cmpstr(d->proto, ==, "RTP/SAVP");
      g_assert_true(d->savp);
      g_assert_cmpuint(d->audio_index, ==, 0);
      g_assert_cmpuint(d->media->len, ==, 1);
      g_assert_cmpuint(d->ptime, ==, 20);
      g_assert_cmpint(d->direction, ==, SDP_AUDIO_SENDRECV);
      g_assert_cmpstr(d->key_mgmt_ids, ==, "mikey");
      assert_bytes_equal(d->mikey, mikey);
      const SdpAudioFormat *want = v->offer ? fmt_offer : fmt_answer;
      guint n_want = v->offer ? G_N_ELEMENTS(fmt_offer) : G_N_ELEMENTS(fmt_answer);
      g_assert_cmpuint(d->payloads->len, ==, n_want);
      for (guint k = 0; k < n_want; k++) {
        const SdpAudioPayload *pl = &g_array_index(d->payloads, SdpAudioPayload, k);
        g_assert_cmpuint(pl->pt, ==, want[k].pt);
        g_assert_cmpint(pl->codec, ==, want[k].codec);
        g_assert_cmpstr(pl->encoding, ==, sdp_audio_codec_name(want[k].codec));
        g_assert_cmpuint(pl->rate, ==, 8000);
        g_assert_cmpuint(pl->channels, ==, 1);
        if (want[k].codec == SDP_AUDIO_CODEC_TELEPHONE_EVENT)
          g_assert_cmpstr(pl->fmtp, ==, "0-15");
        else
          g_assert_null(pl->fmtp);
      }
      g_assert_true(sdp_audio_desc_payload(d, want[0].pt) ==
                    &g_array_index(d->payloads, SdpAudioPayload, 0));
      g_assert_null(sdp_audio_desc_payload(d, 99));
    }
  }
}

/* build(parse(x)) == x: everything the goldens carry is in the description. */
static void test_roundtrip_golden(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    gsize len;
    g_autofree char *text = load_text(vectors[i].sdp, &len);
    g_autoptr(SdpAudioDesc) d = parse_ok(text);
    SdpAudioFormat f[SDP_AUDIO_MAX_FORMATS];
    for (guint k = 0; k < d->payloads->len; k++) {
      f[k].pt = g_array_index(d->payloads, SdpAudioPayload, k).pt;
      f[k].codec = g_array_index(d->payloads, SdpAudioPayload, k).codec;
    }
    SdpAudioParams p = { .sess_id = d->sess_id,
                         .version = d->sess_version,
                         .addr = d->addr,
                         .port = d->port,
                         .formats = f,
                         .n_formats = d->payloads->len,
                         .ptime = d->ptime,
                         .direction = d->direction,
                         .mikey = d->mikey };
    g_autofree char *body = sdp_audio_build(&p, NULL, NULL);
    g_assert_cmpstr(body, ==, text);
  }
}

/* The offer/answer exchange of both scenarios through SdpAudioSession and negotiation. */
static void run_exchange(guint offer_i, guint answer_i, guint update_i, guint update_answer_i)
{
  const Vector *vo = &vectors[offer_i], *va = &vectors[answer_i];
  g_autoptr(SdpAudioSession) offerer = sdp_audio_session_new(vo->sess_id);
  g_autoptr(SdpAudioSession) answerer = sdp_audio_session_new(va->sess_id);
  g_assert_cmpuint(sdp_audio_session_version(offerer), ==, 0);

  const guint steps[2][2] = { { offer_i, answer_i }, { update_i, update_answer_i } };
  for (guint s = 0; s < 2; s++) {
    const Vector *o = &vectors[steps[s][0]], *a = &vectors[steps[s][1]];
    g_autoptr(GBytes) offer_mikey = load_bytes(o->bin);
    g_autoptr(GBytes) answer_mikey = load_bytes(a->bin);
    g_autofree char *want_offer = load_text(o->sdp, NULL);
    g_autofree char *want_answer = load_text(a->sdp, NULL);

    /* Offerer: codec preference from configuration. */
    SdpAudioFormat prefs[SDP_AUDIO_MAX_FORMATS];
    guint n_prefs = 0;
    g_assert_true(sdp_audio_formats_parse("PCMU, PCMA, telephone-event", prefs, &n_prefs, NULL));
    SdpAudioParams op = { .addr = vo->addr,
                          .port = vo->port,
                          .formats = prefs,
                          .n_formats = n_prefs,
                          .ptime = SDP_AUDIO_PTIME,
                          .mikey = offer_mikey };
    gsize offer_len;
    g_autofree char *offer = sdp_audio_session_build(offerer, &op, &offer_len, NULL);
    g_assert_cmpstr(offer, ==, want_offer);
    g_assert_cmpuint(offer_len, ==, strlen(want_offer));
    g_assert_cmpuint(sdp_audio_session_version(offerer), ==, s + 1);

    /* Answerer. */
    g_autoptr(SdpAudioDesc) od = parse_ok(offer);
    SdpAudioNegotiateOptions opts = { .dialog_keyed = s > 0 };
    SdpAudioAnswer ans;
    g_autoptr(GError) error = NULL;
    g_assert_true(sdp_audio_negotiate(od, &opts, &ans, &error));
    g_assert_no_error(error);
    g_assert_cmpint(ans.keys, ==, SDP_AUDIO_KEYS_NEW);
    g_assert_false(ans.rejected);
    g_assert_cmpint(ans.codec.codec, ==, SDP_AUDIO_CODEC_PCMU);
    g_assert_true(ans.telephone_event);
    g_assert_cmpuint(ans.telephone_event_pt, ==, 101);
    SdpAudioParams ap = { .addr = va->addr,
                          .port = va->port,
                          .formats = ans.formats,
                          .n_formats = ans.n_formats,
                          .ptime = SDP_AUDIO_PTIME,
                          .direction = ans.direction,
                          .mikey = answer_mikey,
                          .offer = od };
    g_autofree char *answer = sdp_audio_session_build(answerer, &ap, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(answer, ==, want_answer);

    /* Offerer checks the answer. */
    g_autoptr(SdpAudioDesc) ad = parse_ok(answer);
    SdpAudioFormat chosen = { 0 };
    g_assert_true(sdp_audio_check_answer(ad, prefs, n_prefs, TRUE, &chosen, &error));
    g_assert_no_error(error);
    g_assert_cmpint(chosen.codec, ==, SDP_AUDIO_CODEC_PCMU);
    g_assert_cmpuint(chosen.pt, ==, 0);
    assert_bytes_equal(ad->mikey, answer_mikey);
  }
  g_assert_cmpuint(sdp_audio_session_id(offerer), ==, vo->sess_id);
  g_assert_cmpuint(sdp_audio_session_version(offerer), ==, 2);
  g_assert_cmpuint(sdp_audio_session_version(answerer), ==, 2);
}

static void test_exchange_a(void)
{
  run_exchange(0, 1, 2, 3);
}

static void test_exchange_b(void)
{
  run_exchange(4, 5, 6, 7);
}

/* ---- o= version (RFC 3264 §8) ---- */

static void test_session_version(void)
{
  g_autoptr(GBytes) m1 = g_bytes_new_static(mikey_dummy_bytes, sizeof mikey_dummy_bytes);
  g_autoptr(GBytes) m2 = g_bytes_new_static(mikey_other_bytes, sizeof mikey_other_bytes);
  g_autoptr(SdpAudioSession) s = sdp_audio_session_new(42);
  SdpAudioParams p = { .addr = "192.0.2.1",
                       .port = 5000,
                       .formats = fmt_offer,
                       .n_formats = 2,
                       .ptime = 20,
                       .mikey = m1 };
  g_autofree char *b1 = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_nonnull(strstr(b1, "o=- 42 1 IN IP4 192.0.2.1\r\n"));
  /* The same body again keeps the version. */
  g_autofree char *b1again = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_cmpstr(b1again, ==, b1);
  g_assert_cmpuint(sdp_audio_session_version(s), ==, 1);
  /* New keys: a new version. */
  p.mikey = m2;
  g_autofree char *b2 = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_nonnull(strstr(b2, "o=- 42 2 IN IP4 192.0.2.1\r\n"));
  /* A re-INVITE without offer gets an offer without key-mgmt: changed, version 3. */
  p.mikey = NULL;
  g_autofree char *b3 = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_nonnull(strstr(b3, "o=- 42 3 IN IP4 192.0.2.1\r\n"));
  g_assert_null(strstr(b3, "key-mgmt"));
  /* Direction change: version 4. */
  p.direction = SDP_AUDIO_SENDONLY;
  g_autofree char *b4 = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_nonnull(strstr(b4, "o=- 42 4 "));
  g_assert_nonnull(strstr(b4, "a=sendonly\r\n"));
  /* A failing build leaves the version alone. */
  p.addr = "not-an-address";
  g_autoptr(GError) error = NULL;
  g_assert_null(sdp_audio_session_build(s, &p, NULL, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_INVALID_PARAM);
  g_assert_cmpuint(sdp_audio_session_version(s), ==, 4);
  g_assert_cmpuint(sdp_audio_session_id(s), ==, 42);

  /* Random session ids: non-zero, below 2^62, different. */
  g_autoptr(SdpAudioSession) r1 = sdp_audio_session_new(0);
  g_autoptr(SdpAudioSession) r2 = sdp_audio_session_new(0);
  g_assert_cmpuint(sdp_audio_session_id(r1), >, 0);
  g_assert_cmpuint(sdp_audio_session_id(r1), <, G_GUINT64_CONSTANT(1) << 62);
  g_assert_cmpuint(sdp_audio_session_id(r1), !=, sdp_audio_session_id(r2));
}

/* ---- building ---- */

static void test_build_variants(void)
{
  /* IPv6, recvonly, PCMA first, no key-mgmt, no ptime. */
  SdpAudioFormat f[] = { { 8, SDP_AUDIO_CODEC_PCMA }, { 0, SDP_AUDIO_CODEC_PCMU } };
  SdpAudioParams p = { .sess_id = 5,
                       .version = 9,
                       .addr = "2001:db8::7",
                       .port = 6000,
                       .formats = f,
                       .n_formats = 2,
                       .direction = SDP_AUDIO_RECVONLY };
  g_autofree char *b = sdp_audio_build(&p, NULL, NULL);
  g_assert_cmpstr(b, ==,
                  "v=0\r\no=- 5 9 IN IP6 2001:db8::7\r\ns=-\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\n"
                  "m=audio 6000 RTP/SAVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
                  "a=recvonly\r\n");
  g_autoptr(SdpAudioDesc) d = parse_ok(b);
  g_assert_cmpint(d->addr_type, ==, SDP_AUDIO_IP6);
  g_assert_cmpstr(d->addr, ==, "2001:db8::7");
  g_assert_null(d->mikey);
  g_assert_cmpstr(d->key_mgmt_ids, ==, "");
  g_assert_cmpuint(d->ptime, ==, 0);
  g_assert_cmpint(d->direction, ==, SDP_AUDIO_RECVONLY);

  /* Every direction is written at media level. */
  for (SdpAudioDirection dir = SDP_AUDIO_SENDRECV; dir <= SDP_AUDIO_INACTIVE; dir++) {
    p.direction = dir;
    g_autofree char *bd = sdp_audio_build(&p, NULL, NULL);
    g_autofree char *line = g_strdup_printf("a=%s\r\n", sdp_audio_direction_name(dir));
    g_assert_true(g_str_has_suffix(bd, line));
    g_autoptr(SdpAudioDesc) dd = parse_ok(bd);
    g_assert_cmpint(dd->direction, ==, dir);
  }

  /* Refusals. */
  struct {
    const char *addr;
    guint n;
    SdpAudioFormat f[3];
    guint64 version;
  } bad[] = {
    { "conf.example.org", 1, { { 0, SDP_AUDIO_CODEC_PCMU } }, 1 },
    { "192.0.2.1/24", 1, { { 0, SDP_AUDIO_CODEC_PCMU } }, 1 },
    { NULL, 1, { { 0, SDP_AUDIO_CODEC_PCMU } }, 1 },
    { "192.0.2.1", 0, { { 0, 0 } }, 1 },
    { "192.0.2.1", 2, { { 0, SDP_AUDIO_CODEC_PCMU }, { 0, SDP_AUDIO_CODEC_PCMA } }, 1 },
    { "192.0.2.1", 1, { { 128, SDP_AUDIO_CODEC_PCMU } }, 1 },
    { "192.0.2.1", 1, { { 0, SDP_AUDIO_CODEC_PCMU } }, G_GUINT64_CONSTANT(1) << 63 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    SdpAudioParams bp = { .addr = bad[i].addr,
                          .port = 1,
                          .formats = bad[i].f,
                          .n_formats = bad[i].n,
                          .version = bad[i].version };
    g_autoptr(GError) error = NULL;
    g_autofree char *out = sdp_audio_build(&bp, NULL, &error);
    g_assert_null(out);
    g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_INVALID_PARAM);
  }
  /* An empty MIKEY message. */
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  SdpAudioParams ep = {
    .addr = "192.0.2.1", .port = 1, .formats = f, .n_formats = 1, .mikey = empty
  };
  g_autoptr(GError) error = NULL;
  g_assert_null(sdp_audio_build(&ep, NULL, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_INVALID_PARAM);
}

static void test_formats_parse(void)
{
  SdpAudioFormat f[SDP_AUDIO_MAX_FORMATS];
  guint n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(sdp_audio_formats_parse("PCMA,pcmu telephone-EVENT", f, &n, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpuint(f[0].pt, ==, 8);
  g_assert_cmpint(f[0].codec, ==, SDP_AUDIO_CODEC_PCMA);
  g_assert_cmpuint(f[1].pt, ==, 0);
  g_assert_cmpuint(f[2].pt, ==, 101);
  g_assert_cmpint(f[2].codec, ==, SDP_AUDIO_CODEC_TELEPHONE_EVENT);
  g_assert_true(sdp_audio_formats_parse("PCMU", f, &n, NULL));
  g_assert_cmpuint(n, ==, 1);

  const char *bad[] = { "", "G729", "PCMU,G729", "telephone-event", "PCMU,PCMU", " , " };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) e = NULL;
    n = 77;
    g_assert_false(sdp_audio_formats_parse(bad[i], f, &n, &e));
    g_assert_error(e, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_INVALID_PARAM);
    g_assert_cmpuint(n, ==, 77);
  }
}

/* ---- negotiation ---- */

static SdpAudioDesc *offer_desc(const char *session_attrs, const char *media)
{
  g_autofree char *sdp = g_strconcat(HEAD4, session_attrs, media, NULL);
  return parse_ok(sdp);
}

static void negotiate_fail(const char *session_attrs, const char *media, gboolean keyed,
                           SdpAudioError code, guint warning)
{
  g_autoptr(SdpAudioDesc) d = offer_desc(session_attrs, media);
  SdpAudioNegotiateOptions o = { .dialog_keyed = keyed };
  SdpAudioAnswer a;
  g_autoptr(GError) error = NULL;
  g_assert_false(sdp_audio_negotiate(d, &o, &a, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, (gint)code);
  g_assert_cmpuint(sdp_audio_error_warning(error), ==, warning);
}

/* Negotiates and builds the answer; returns its text. */
static char *negotiate_answer(const SdpAudioDesc *d, const SdpAudioNegotiateOptions *o,
                              SdpAudioAnswer *a)
{
  g_autoptr(GError) error = NULL;
  if (!sdp_audio_negotiate(d, o, a, &error))
    g_error("negotiate: %s", error->message);
  g_autoptr(GBytes) m = g_bytes_new_static(mikey_other_bytes, sizeof mikey_other_bytes);
  SdpAudioParams p = { .sess_id = 1,
                       .version = 1,
                       .addr = "198.51.100.5",
                       .port = a->rejected ? 0 : 30000,
                       .formats = a->formats,
                       .n_formats = a->n_formats,
                       .ptime = 20,
                       .direction = a->direction,
                       .mikey = m,
                       .offer = d };
  char *body = sdp_audio_build(&p, NULL, &error);
  g_assert_no_error(error);
  /* The answer parses, and is what the offerer accepts. */
  g_autoptr(SdpAudioDesc) back = parse_ok(body);
  g_assert_cmpuint(back->media->len, ==, d->media->len);
  g_assert_cmpuint(back->audio_index, ==, d->audio_index);
  if (!a->rejected) {
    SdpAudioFormat chosen;
    g_assert_true(sdp_audio_check_answer(back, fmt_offer, 3, TRUE, &chosen, &error));
    g_assert_no_error(error);
    g_assert_cmpint(chosen.codec, ==, a->codec.codec);
    g_assert_cmpint(back->direction, ==, a->direction);
  }
  return body;
}

static void test_negotiate_codecs(void)
{
  SdpAudioAnswer a;
  /* PCMA only -> PCMA. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 5000 RTP/SAVP 8\r\n");
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_cmpint(a.codec.codec, ==, SDP_AUDIO_CODEC_PCMA);
    g_assert_cmpuint(a.codec.pt, ==, 8);
    g_assert_false(a.telephone_event);
    g_assert_cmpuint(a.n_formats, ==, 1);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
                                 "a=ptime:20\r\na=sendrecv\r\n"));
    g_assert_cmpint(a.keys, ==, SDP_AUDIO_KEYS_NEW);
  }
  /* The offerer's order wins. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 5000 RTP/SAVP 18 8 0\r\n"
                                               "a=rtpmap:18 G729/8000\r\n");
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP "));
    g_assert_cmpint(a.codec.codec, ==, SDP_AUDIO_CODEC_PCMA);
  }
  /* Our codec set restricts the choice. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 5000 RTP/SAVP 8 0\r\n");
    SdpAudioNegotiateOptions o = { .codecs = SDP_AUDIO_CODEC_PCMU };
    g_autofree char *ans = negotiate_answer(d, &o, &a);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP "));
    g_assert_cmpint(a.codec.codec, ==, SDP_AUDIO_CODEC_PCMU);
    g_assert_cmpuint(a.codec.pt, ==, 0);
  }
  /* A dynamic PT mapped to PCMU; telephone-event with the offerer's PT; rtpmap names are
   * case-insensitive. */
  {
    g_autoptr(SdpAudioDesc) d =
        offer_desc(KM, "m=audio 5000 RTP/SAVP 96 97\r\na=rtpmap:96 pcmu/8000\r\n"
                       "a=rtpmap:97 TELEPHONE-EVENT/8000\r\na=fmtp:97 0-16\r\n");
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_cmpint(a.codec.codec, ==, SDP_AUDIO_CODEC_PCMU);
    g_assert_cmpuint(a.codec.pt, ==, 96);
    g_assert_true(a.telephone_event);
    g_assert_cmpuint(a.telephone_event_pt, ==, 97);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP 96 97\r\na=rtpmap:96 PCMU/8000\r\n"
                                 "a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-15\r\n"));
    g_assert_cmpstr(sdp_audio_desc_payload(d, 97)->fmtp, ==, "0-16");
  }
  /* telephone-event at 16 kHz, PCMU at 16 kHz and stereo PCMA are not ours. */
  {
    g_autoptr(SdpAudioDesc) d =
        offer_desc(KM, "m=audio 5000 RTP/SAVP 96 98 97 0\r\na=rtpmap:96 PCMU/16000\r\n"
                       "a=rtpmap:98 PCMA/8000/2\r\na=rtpmap:97 telephone-event/16000\r\n");
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP "));
    g_assert_cmpuint(a.codec.pt, ==, 0);
    g_assert_false(a.telephone_event);
    g_assert_cmpint(sdp_audio_desc_payload(d, 98)->codec, ==, SDP_AUDIO_CODEC_UNKNOWN);
    g_assert_cmpuint(sdp_audio_desc_payload(d, 98)->channels, ==, 2);
  }
  /* A static PT renamed by an rtpmap follows the rtpmap. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 5000 RTP/SAVP 0 8\r\n"
                                               "a=rtpmap:0 G722/8000\r\n");
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP "));
    g_assert_cmpuint(a.codec.pt, ==, 8);
  }
  /* Only G.729 -> NO_COMMON_CODEC (488 + 399); telephone-event alone is no codec. */
  negotiate_fail(KM, "m=audio 5000 RTP/SAVP 18\r\na=rtpmap:18 G729/8000\r\n", FALSE,
                 SDP_AUDIO_ERR_NO_COMMON_CODEC, 399);
  negotiate_fail(KM, "m=audio 5000 RTP/SAVP 101\r\na=rtpmap:101 telephone-event/8000\r\n", FALSE,
                 SDP_AUDIO_ERR_NO_COMMON_CODEC, 399);
  negotiate_fail(KM, "m=audio 5000 RTP/SAVP 96\r\n", FALSE, SDP_AUDIO_ERR_NO_COMMON_CODEC, 399);
}

static void test_negotiate_refusals(void)
{
  /* Not RTP/SAVP (profile §6: 488 + 306), checked before keys and codecs. */
  negotiate_fail(KM, "m=audio 5000 RTP/AVP 0\r\n", FALSE, SDP_AUDIO_ERR_NOT_SAVP, 306);
  negotiate_fail("", "m=audio 5000 RTP/SAVPF 18\r\n", FALSE, SDP_AUDIO_ERR_NOT_SAVP, 306);
  negotiate_fail(KM, "m=audio 5000 UDP/TLS/RTP/SAVP 0\r\n", TRUE, SDP_AUDIO_ERR_NOT_SAVP, 306);
  /* No key-mgmt on an initial offer (488 + 306). */
  negotiate_fail("", "m=audio 5000 RTP/SAVP 0\r\n", FALSE, SDP_AUDIO_ERR_NO_KEY_MGMT, 306);
  /* key-mgmt of another protocol only: refused even in-dialog. */
  negotiate_fail("a=key-mgmt:keyp1 AQIDBA==\r\n", "m=audio 5000 RTP/SAVP 0\r\n", FALSE,
                 SDP_AUDIO_ERR_NO_KEY_MGMT, 306);
  negotiate_fail("a=key-mgmt:keyp1 AQIDBA==\r\n", "m=audio 5000 RTP/SAVP 0\r\n", TRUE,
                 SDP_AUDIO_ERR_NO_KEY_MGMT, 306);
  /* A mikey attribute for another m-line does not key the audio stream. */
  negotiate_fail("", "m=audio 5000 RTP/SAVP 0\r\nm=video 5002 RTP/SAVP 96\r\n" KM, FALSE,
                 SDP_AUDIO_ERR_NO_KEY_MGMT, 306);
  /* Keys first, then codecs. */
  negotiate_fail("", "m=audio 5000 RTP/SAVP 18\r\n", FALSE, SDP_AUDIO_ERR_NO_KEY_MGMT, 306);
}

static void test_negotiate_in_dialog(void)
{
  /* Profile §7.3: an in-dialog offer without key-mgmt on a keyed dialog keeps the keys. */
  g_autoptr(SdpAudioDesc) d = offer_desc("", AUDIO_PCMU_PCMA);
  SdpAudioNegotiateOptions o = { .dialog_keyed = TRUE };
  SdpAudioAnswer a;
  g_autoptr(GError) error = NULL;
  g_assert_true(sdp_audio_negotiate(d, &o, &a, &error));
  g_assert_no_error(error);
  g_assert_cmpint(a.keys, ==, SDP_AUDIO_KEYS_KEEP);
  g_assert_cmpint(a.codec.codec, ==, SDP_AUDIO_CODEC_PCMU);

  /* sdp_audio_offer_keys() directly, with and without an SDP. */
  SdpAudioKeys k;
  g_assert_true(sdp_audio_offer_keys(NULL, TRUE, &k, NULL));
  g_assert_cmpint(k, ==, SDP_AUDIO_KEYS_KEEP);
  g_assert_true(sdp_audio_offer_keys(d, TRUE, &k, NULL));
  g_assert_cmpint(k, ==, SDP_AUDIO_KEYS_KEEP);
  g_autoptr(GError) e1 = NULL;
  g_assert_false(sdp_audio_offer_keys(NULL, FALSE, &k, &e1));
  g_assert_error(e1, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_KEY_MGMT);
  g_autoptr(GError) e2 = NULL;
  g_assert_false(sdp_audio_offer_keys(d, FALSE, &k, &e2));
  g_assert_error(e2, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_KEY_MGMT);
  g_autoptr(SdpAudioDesc) keyed = offer_desc(KM, AUDIO_PCMU_PCMA);
  g_assert_true(sdp_audio_offer_keys(keyed, TRUE, &k, NULL));
  g_assert_cmpint(k, ==, SDP_AUDIO_KEYS_NEW);
  g_assert_true(sdp_audio_offer_keys(keyed, FALSE, &k, NULL));
  g_assert_cmpint(k, ==, SDP_AUDIO_KEYS_NEW);
}

static void test_key_mgmt_levels(void)
{
  g_autoptr(GBytes) session = g_bytes_new_static(mikey_dummy_bytes, sizeof mikey_dummy_bytes);
  g_autoptr(GBytes) media = g_bytes_new_static(mikey_other_bytes, sizeof mikey_other_bytes);
  /* Media level overrides session level for its m-line. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 5000 RTP/SAVP 0\r\n" KM_OTHER);
    assert_bytes_equal(d->mikey, media);
    g_assert_cmpstr(d->key_mgmt_ids, ==, "mikey");
  }
  /* ...but not for another m-line: the audio stream uses the session-level one. */
  {
    g_autoptr(SdpAudioDesc) d =
        offer_desc(KM, "m=video 5002 RTP/SAVP 96\r\n" KM_OTHER "m=audio 5000 RTP/SAVP 0\r\n");
    g_assert_cmpuint(d->audio_index, ==, 1);
    assert_bytes_equal(d->mikey, session);
  }
  /* Media level only. */
  {
    g_autoptr(SdpAudioDesc) d = offer_desc("", "m=audio 5000 RTP/SAVP 0\r\n" KM_OTHER);
    assert_bytes_equal(d->mikey, media);
  }
  /* The SDP IDs value lists every protocol in order, each once. */
  {
    g_autoptr(SdpAudioDesc) d =
        offer_desc(KM "a=key-mgmt:keyp1 AQIDBA==\r\n", "m=audio 5000 RTP/SAVP 0\r\n" KM_OTHER);
    g_assert_cmpstr(d->key_mgmt_ids, ==, "mikey;keyp1");
  }
  /* Malformed key-mgmt anywhere aborts (RFC 4567): BAD_KEY_MGMT, 488 + 306. */
  const char *bad[] = {
    HEAD4 "a=key-mgmt:mikey AQIDB\r\nm=audio 5000 RTP/SAVP 0\r\n",
    HEAD4 KM KM "m=audio 5000 RTP/SAVP 0\r\n",
    HEAD4 "m=audio 5000 RTP/SAVP 0\r\n" KM KM_OTHER,
    HEAD4 "a=key-mgmt:mikey\r\nm=audio 5000 RTP/SAVP 0\r\n",
    HEAD4 "m=audio 5000 RTP/SAVP 0\r\nm=video 0 RTP/SAVP 96\r\na=key-mgmt:mikey !!!!\r\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(SdpAudioDesc) d = parse_exact(bad[i], strlen(bad[i]), &error);
    g_assert_null(d);
    g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_BAD_KEY_MGMT);
    g_assert_cmpuint(sdp_audio_error_warning(error), ==, 306);
  }
}

static void test_connection(void)
{
  /* IPv6 c= at session level. */
  {
    g_autoptr(SdpAudioDesc) d =
        parse_ok("v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n" KM
                 "m=audio 5000 RTP/SAVP 0\r\n");
    g_assert_cmpint(d->addr_type, ==, SDP_AUDIO_IP6);
    g_assert_cmpstr(d->addr, ==, "2001:db8::1");
    SdpAudioAnswer a;
    g_autofree char *ans = negotiate_answer(d, NULL, &a);
    g_assert_nonnull(strstr(ans, "c=IN IP4 198.51.100.5\r\n"));
  }
  /* c= only at media level; the session has none. */
  {
    g_autoptr(SdpAudioDesc) d = parse_ok("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" KM
                                         "m=audio 5000 RTP/SAVP 0\r\nc=IN IP4 203.0.113.9\r\n");
    g_assert_cmpstr(d->addr, ==, "203.0.113.9");
    g_assert_cmpint(d->addr_type, ==, SDP_AUDIO_IP4);
  }
  /* Media level overrides session level, also across address types; other m-lines' c= do not
   * matter. */
  {
    g_autoptr(SdpAudioDesc) d = parse_ok(HEAD4 KM "m=video 0 RTP/SAVP 96\r\nc=IN IP4 10.0.0.1\r\n"
                                                  "m=audio 5000 RTP/SAVP 0\r\nc=IN IP6 ::1\r\n");
    g_assert_cmpstr(d->addr, ==, "::1");
    g_assert_cmpint(d->addr_type, ==, SDP_AUDIO_IP6);
  }
  /* Multicast suffixes are cut off. */
  {
    g_autoptr(SdpAudioDesc) d = parse_ok(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\n"
                                                  "c=IN IP4 233.252.0.1/127/2\r\n");
    g_assert_cmpstr(d->addr, ==, "233.252.0.1");
  }
  /* No c= for the audio stream (only another m-line has one). */
  parse_fail_str("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" KM
                 "m=audio 5000 RTP/SAVP 0\r\nm=video 5002 RTP/SAVP 96\r\nc=IN IP4 10.0.0.1\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
  const char *bad_c[] = {
    "c=IN IP4 999.0.2.1",    "c=IN IP4 2001:db8::1",  "c=IN IP6 192.0.2.1",
    "c=IN IP7 192.0.2.1",    "c=ATM NSAP 12",         "c=IN IP4",
    "c=IN IP4 192.0.2.1 x",  "c=IN IP4 host.example", "c=IN IP4 192.0.2.1/",
    "c=IN IP4 192.0.2.1/a",  "c=IN IP6 ::1/2/3",      "c=IN IP4 1.2.3.4/1/2/3",
    "c=IN IP6 fe80::1%eth0",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad_c); i++) {
    g_autofree char *sdp = g_strdup_printf("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n%s\r\n"
                                           "t=0 0\r\n" KM "m=audio 5000 RTP/SAVP 0\r\n",
                                           bad_c[i]);
    parse_fail_str(sdp, SDP_AUDIO_ERR_MALFORMED);
  }
  /* Two c= at one level. */
  parse_fail_str(HEAD4 "c=IN IP4 192.0.2.2\r\n" KM "m=audio 5000 RTP/SAVP 0\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
}

static void test_port_zero(void)
{
  /* A rejected/disabled stream: parsed, answered with port 0 mirroring the m-line. */
  g_autoptr(SdpAudioDesc) d = offer_desc(KM, "m=audio 0 RTP/SAVP 8 0\r\n");
  g_assert_cmpuint(d->port, ==, 0);
  SdpAudioAnswer a;
  g_autofree char *ans = negotiate_answer(d, NULL, &a);
  g_assert_true(a.rejected);
  g_assert_cmpuint(a.n_formats, ==, 1);
  g_assert_cmpuint(a.formats[0].pt, ==, 8);
  g_assert_true(g_str_has_suffix(ans, "\r\nm=audio 0 RTP/SAVP 8\r\n"));

  /* Not RTP/SAVP, but rejected: no NOT_SAVP; the answer keeps the proto. */
  g_autoptr(SdpAudioDesc) avp = offer_desc(KM, "m=audio 0 RTP/AVP 18\r\n");
  g_autofree char *ans2 = negotiate_answer(avp, NULL, &a);
  g_assert_true(a.rejected);
  g_assert_true(g_str_has_suffix(ans2, "\r\nm=audio 0 RTP/AVP 18\r\n"));

  /* A non-RTP rejected stream: its first format is mirrored. */
  g_autoptr(SdpAudioDesc) udp = offer_desc(KM, "m=audio 0 udp foo bar\r\n");
  g_assert_cmpuint(udp->payloads->len, ==, 0);
  g_autofree char *ans3 = negotiate_answer(udp, NULL, &a);
  g_assert_true(g_str_has_suffix(ans3, "\r\nm=audio 0 udp foo\r\n"));

  /* The offerer refuses an answer that rejected the stream. */
  g_autoptr(SdpAudioDesc) rej = parse_ok(ans);
  g_autoptr(GError) error = NULL;
  g_assert_false(sdp_audio_check_answer(rej, fmt_offer, 3, TRUE, NULL, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_REJECTED);

  /* An active SAVP audio stream is preferred over an earlier disabled one. */
  g_autoptr(SdpAudioDesc) two = offer_desc(
      KM, "m=audio 0 RTP/SAVP 0\r\nm=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/SAVP 8\r\n");
  g_assert_cmpuint(two->audio_index, ==, 2);
  g_assert_cmpuint(two->port, ==, 5002);
  g_autofree char *ans4 = negotiate_answer(two, NULL, &a);
  g_assert_nonnull(strstr(ans4, "t=0 0\r\na=key-mgmt:mikey BQYH\r\nm=audio 0 RTP/SAVP 0\r\n"
                                "m=audio 0 RTP/AVP 0\r\nm=audio 30000 RTP/SAVP 8\r\n"));
  /* Without an SAVP one, the first with a port (then refused). */
  g_autoptr(SdpAudioDesc) avp2 =
      offer_desc(KM, "m=audio 0 RTP/SAVP 0\r\nm=audio 5000 RTP/AVP 0\r\n");
  g_assert_cmpuint(avp2->audio_index, ==, 1);
  g_assert_false(avp2->savp);

  /* Port count. */
  g_autoptr(SdpAudioDesc) pc = offer_desc(KM, "m=audio 5000/2 RTP/SAVP 0\r\n");
  g_assert_cmpuint(pc->port, ==, 5000);
  g_assert_cmpuint(pc->port_count, ==, 2);
}

static void test_multi_media(void)
{
  /* Video first: the answer mirrors it rejected, audio keeps its place. */
  g_autoptr(SdpAudioDesc) d =
      offer_desc(KM, "m=video 5002 RTP/SAVP 96 97\r\na=rtpmap:96 H264/90000\r\n" AUDIO_PCMU_PCMA
                     "m=application 5004 UDP/BFCP *\r\n");
  g_assert_cmpuint(d->media->len, ==, 3);
  g_assert_cmpuint(d->audio_index, ==, 1);
  const SdpAudioMedia *v = d->media->pdata[0];
  g_assert_cmpstr(v->media, ==, "video");
  g_assert_cmpuint(v->port, ==, 5002);
  g_assert_cmpstr(v->proto, ==, "RTP/SAVP");
  g_assert_cmpstr(v->fmt, ==, "96");
  /* Attributes of other m-lines are not the audio stream's. */
  g_assert_cmpuint(d->payloads->len, ==, 3);
  SdpAudioAnswer a;
  g_autofree char *ans = negotiate_answer(d, NULL, &a);
  g_assert_nonnull(strstr(ans, "\r\nm=video 0 RTP/SAVP 96\r\nm=audio 30000 RTP/SAVP 0 101\r\n"));
  g_assert_true(g_str_has_suffix(ans, "a=sendrecv\r\nm=application 0 UDP/BFCP *\r\n"));
}

static void test_direction(void)
{
  static const struct {
    const char *session;
    const char *media;
    SdpAudioDirection offered;
    SdpAudioDirection local;
    SdpAudioDirection answer;
  } cases[] = {
    { "", "", SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDRECV },
    { "", "a=sendrecv\r\n", SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDRECV },
    { "", "a=sendonly\r\n", SDP_AUDIO_SENDONLY, SDP_AUDIO_SENDRECV, SDP_AUDIO_RECVONLY },
    { "", "a=recvonly\r\n", SDP_AUDIO_RECVONLY, SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDONLY },
    { "", "a=inactive\r\n", SDP_AUDIO_INACTIVE, SDP_AUDIO_SENDRECV, SDP_AUDIO_INACTIVE },
    { "a=sendonly\r\n", "", SDP_AUDIO_SENDONLY, SDP_AUDIO_SENDRECV, SDP_AUDIO_RECVONLY },
    { "a=sendonly\r\n", "a=inactive\r\n", SDP_AUDIO_INACTIVE, SDP_AUDIO_SENDRECV,
      SDP_AUDIO_INACTIVE },
    { "a=inactive\r\n", "a=sendrecv\r\n", SDP_AUDIO_SENDRECV, SDP_AUDIO_SENDRECV,
      SDP_AUDIO_SENDRECV },
    { "", "", SDP_AUDIO_SENDRECV, SDP_AUDIO_RECVONLY, SDP_AUDIO_RECVONLY },
    { "", "a=sendonly\r\n", SDP_AUDIO_SENDONLY, SDP_AUDIO_SENDONLY, SDP_AUDIO_INACTIVE },
    { "", "a=recvonly\r\n", SDP_AUDIO_RECVONLY, SDP_AUDIO_SENDONLY, SDP_AUDIO_SENDONLY },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *media = g_strconcat("m=audio 5000 RTP/SAVP 0\r\n", cases[i].media, NULL);
    g_autofree char *sess = g_strconcat(KM, cases[i].session, NULL);
    g_autoptr(SdpAudioDesc) d = offer_desc(sess, media);
    g_assert_cmpint(d->direction, ==, cases[i].offered);
    SdpAudioNegotiateOptions o = { .direction = cases[i].local };
    SdpAudioAnswer a;
    g_autofree char *ans = negotiate_answer(d, &o, &a);
    g_assert_nonnull(strstr(ans, "m=audio 30000 RTP/SAVP "));
    g_assert_cmpint(a.direction, ==, cases[i].answer);
    g_assert_cmpint(sdp_audio_direction_answer(cases[i].offered, cases[i].local), ==,
                    cases[i].answer);
  }
  SdpAudioDirection dir;
  g_assert_true(sdp_audio_direction_from_name("recvonly", &dir));
  g_assert_cmpint(dir, ==, SDP_AUDIO_RECVONLY);
  g_assert_false(sdp_audio_direction_from_name("RECVONLY", &dir));
  g_assert_false(sdp_audio_direction_from_name("", &dir));
  /* Conflicts and values are refused. */
  parse_fail_str(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\na=sendonly\r\na=recvonly\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 KM "a=sendonly\r\na=sendonly\r\nm=audio 5000 RTP/SAVP 0\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\na=sendrecv:yes\r\n", SDP_AUDIO_ERR_MALFORMED);
  /* ...but not on other m-lines. */
  g_autoptr(SdpAudioDesc) d =
      parse_ok(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\nm=video 0 RTP/SAVP 96\r\na=sendonly\r\n"
                        "a=recvonly\r\n");
  g_assert_cmpint(d->direction, ==, SDP_AUDIO_SENDRECV);
}

static void test_check_answer(void)
{
  g_autofree char *text = load_text("06-a-answer.sdp", NULL);
  g_autoptr(SdpAudioDesc) d = parse_ok(text);
  SdpAudioFormat c = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_true(sdp_audio_check_answer(d, fmt_offer, 3, TRUE, &c, &error));
  g_assert_cmpint(c.codec, ==, SDP_AUDIO_CODEC_PCMU);
  /* We offered PCMA only: the answer's PCMU is no answer to it. */
  g_assert_false(sdp_audio_check_answer(d, &fmt_offer[1], 1, TRUE, &c, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_COMMON_CODEC);
  g_clear_error(&error);
  /* No key-mgmt in the answer to a keyed offer. */
  g_autoptr(SdpAudioDesc) nokm = parse_ok(HEAD4 "m=audio 5000 RTP/SAVP 0\r\n");
  g_assert_false(sdp_audio_check_answer(nokm, fmt_offer, 3, TRUE, NULL, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_KEY_MGMT);
  g_clear_error(&error);
  /* ...fine for an offer without key-mgmt (profile §7.3). */
  g_assert_true(sdp_audio_check_answer(nokm, fmt_offer, 3, FALSE, NULL, &error));
  g_assert_no_error(error);
  g_autoptr(SdpAudioDesc) avp = parse_ok(HEAD4 KM "m=audio 5000 RTP/AVP 0\r\n");
  g_assert_false(sdp_audio_check_answer(avp, fmt_offer, 3, TRUE, NULL, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NOT_SAVP);
}

static void test_offer_without_key_mgmt(void)
{
  /* Focus answering a re-INVITE without offer: a 200 whose offer has no key-mgmt. */
  g_autoptr(SdpAudioSession) s = sdp_audio_session_new(77);
  SdpAudioParams p = {
    .addr = "198.51.100.5", .port = 30000, .formats = fmt_offer, .n_formats = 3, .ptime = 20
  };
  g_autofree char *offer = sdp_audio_session_build(s, &p, NULL, NULL);
  g_assert_null(strstr(offer, "key-mgmt"));
  g_autoptr(SdpAudioDesc) d = parse_ok(offer);
  g_assert_null(d->mikey);
  g_assert_cmpstr(d->key_mgmt_ids, ==, "");
  SdpAudioKeys k;
  g_assert_true(sdp_audio_offer_keys(d, TRUE, &k, NULL));
  g_assert_cmpint(k, ==, SDP_AUDIO_KEYS_KEEP);
  /* The UA answers it (in the ACK) without key-mgmt either. */
  SdpAudioNegotiateOptions o = { .dialog_keyed = TRUE };
  SdpAudioAnswer a;
  g_assert_true(sdp_audio_negotiate(d, &o, &a, NULL));
  SdpAudioParams ap = { .addr = "192.0.2.10",
                        .port = 49170,
                        .formats = a.formats,
                        .n_formats = a.n_formats,
                        .ptime = 20,
                        .direction = a.direction,
                        .offer = d };
  g_autofree char *ans = sdp_audio_build(&ap, NULL, NULL);
  g_autoptr(SdpAudioDesc) ad = parse_ok(ans);
  g_assert_true(sdp_audio_check_answer(ad, fmt_offer, 3, FALSE, NULL, NULL));
}

static void test_warning_codes(void)
{
  g_autoptr(GError) other = g_error_new_literal(g_quark_from_static_string("other-domain"), 1, "x");
  g_assert_cmpuint(sdp_audio_error_warning(other), ==, 0);
  g_assert_cmpuint(sdp_audio_error_warning(NULL), ==, 0);
  static const struct {
    SdpAudioError code;
    guint warning;
  } map[] = {
    { SDP_AUDIO_ERR_MALFORMED, 399 },       { SDP_AUDIO_ERR_TOO_LARGE, 399 },
    { SDP_AUDIO_ERR_NO_AUDIO, 399 },        { SDP_AUDIO_ERR_NOT_SAVP, 306 },
    { SDP_AUDIO_ERR_NO_KEY_MGMT, 306 },     { SDP_AUDIO_ERR_BAD_KEY_MGMT, 306 },
    { SDP_AUDIO_ERR_NO_COMMON_CODEC, 399 }, { SDP_AUDIO_ERR_REJECTED, 399 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
    g_autoptr(GError) e = g_error_new_literal(SDP_AUDIO_ERROR, (gint)map[i].code, "x");
    g_assert_cmpuint(sdp_audio_error_warning(e), ==, map[i].warning);
  }
}

/* ---- malformed input ---- */

static void test_malformed(void)
{
  /* Structure. */
  parse_fail("", 0, SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str("\r\n\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str("v=0\r\n", SDP_AUDIO_ERR_MALFORMED); /* no o= */
  parse_fail_str(HEAD4 KM, SDP_AUDIO_ERR_NO_AUDIO);   /* missing m= */
  parse_fail_str(HEAD4 KM "m=video 5000 RTP/SAVP 96\r\n", SDP_AUDIO_ERR_NO_AUDIO);
  parse_fail_str(HEAD4 KM "m=Audio 5000 RTP/SAVP 0\r\n", SDP_AUDIO_ERR_NO_AUDIO);
  parse_fail_str("o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n" KM "m=audio 5000 RTP/SAVP 0\r\n",
                 SDP_AUDIO_ERR_MALFORMED); /* v= not first */
  parse_fail_str("v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n"
                 "m=audio 5000 RTP/SAVP 0\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str("V=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "v=0\r\nm=audio 5000 RTP/SAVP 0\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "o=- 1 1 IN IP4 192.0.2.1\r\nm=audio 5000 RTP/SAVP 0\r\n",
                 SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "x=unknown\r\nm=audio 5000 RTP/SAVP 0\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "m=audio 5000 RTP/SAVP 0\r\nt=0 0\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "m=audio 5000 RTP/SAVP 0\r\ngarbage\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "m=audio 5000 RTP/SAVP 0\r\na\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "m=audio 5000 RTP/SAVP 0\r\na=ptime\r\r\n", SDP_AUDIO_ERR_MALFORMED);
  parse_fail_str(HEAD4 "m=audio 5000 RTP/SAVP 0\r\na=x\ry\r\n", SDP_AUDIO_ERR_MALFORMED);
  /* A NUL byte. */
  static const char with_nul[] = HEAD4 "m=audio 5000 RTP/SAVP 0\r\na=x\0y\r\n";
  parse_fail(with_nul, sizeof with_nul - 1, SDP_AUDIO_ERR_MALFORMED);

  /* o= */
  const char *bad_o[] = {
    "o=- 1 1 IN IP4",
    "o=- 1 IN IP4 192.0.2.1",
    "o=- x 1 IN IP4 192.0.2.1",
    "o=- 1 -1 IN IP4 192.0.2.1",
    "o=- 9223372036854775808 1 IN IP4 192.0.2.1",
    "o=- 1 99999999999999999999999 IN IP4 192.0.2.1",
    "o=- 1 1 ATM IP4 192.0.2.1",
    "o=- 1 1 IN IPX 192.0.2.1",
    "o=- 1 1 IN IP4 192.0.2.1 extra",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad_o); i++) {
    g_autofree char *sdp = g_strdup_printf("v=0\r\n%s\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" KM
                                           "m=audio 5000 RTP/SAVP 0\r\n",
                                           bad_o[i]);
    parse_fail_str(sdp, SDP_AUDIO_ERR_MALFORMED);
  }
  g_autoptr(SdpAudioDesc) big = parse_ok("v=0\r\no=- 9223372036854775807 0 IN IP4 x.example\r\n"
                                         "c=IN IP4 192.0.2.1\r\nm=audio 1 RTP/SAVP 0\r\n");
  g_assert_cmpuint(big->sess_id, ==, G_MAXINT64);

  /* m= and payload types */
  const char *bad_m[] = {
    "m=audio 65536 RTP/SAVP 0",
    "m=audio -1 RTP/SAVP 0",
    "m=audio abc RTP/SAVP 0",
    "m=audio 5000/0 RTP/SAVP 0",
    "m=audio 5000/ RTP/SAVP 0",
    "m=audio 5000/2/3 RTP/SAVP 0",
    "m=audio 5000 RTP/SAVP",
    "m=audio 5000",
    "m=audio",
    "m=audio  ",
    "m=audio 5000 RTP/SAVP 128",
    "m=audio 5000 RTP/SAVP 0 0",
    "m=audio 5000 RTP/SAVP x",
    "m=audio 5000 RTP/SAVP 01x",
    "m=audio 99999999999999999999999 RTP/SAVP 0",
    "m=audio 5000 RTP/SAVP 0\x7f",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad_m); i++) {
    g_autofree char *sdp = g_strdup_printf(HEAD4 KM "%s\r\n", bad_m[i]);
    parse_fail_str(sdp, SDP_AUDIO_ERR_MALFORMED);
  }
  /* Attributes of the audio stream. */
  const char *bad_a[] = {
    "a=rtpmap:0",
    "a=rtpmap:0 PCMU",
    "a=rtpmap:0 PCMU/",
    "a=rtpmap:0 PCMU/x",
    "a=rtpmap:128 PCMU/8000",
    "a=rtpmap:x PCMU/8000",
    "a=rtpmap:0 /8000",
    "a=rtpmap:0 PCMU/8000/1/2",
    "a=rtpmap:0 PCMU/8000/256",
    "a=rtpmap:0 PCMU/4294967296",
    "a=rtpmap:0 PCMU/8000 x",
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:0 PCMU/8000",
    "a=fmtp:",
    "a=fmtp:x 0-15",
    "a=fmtp:0 a\r\na=fmtp:0 b",
    "a=ptime:",
    "a=ptime:x",
    "a=ptime:20\r\na=ptime:30",
    "a=ptime:10001",
    "a=ptime:20.",
    "a=ptime:-20",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad_a); i++) {
    g_autofree char *sdp = g_strdup_printf(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\n%s\r\n", bad_a[i]);
    parse_fail_str(sdp, SDP_AUDIO_ERR_MALFORMED);
  }
  /* Tolerated: LF only, blank lines, extra blanks, fractional ptime, rtpmap/fmtp for a PT not
   * in the m-line, attributes of other m-lines. */
  g_autoptr(SdpAudioDesc) ok = parse_ok(
      "v=0\n\no=-  1 1  IN IP4 192.0.2.1 \ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
      "a=key-mgmt:mikey AQIDBA==\nm=audio 5000 RTP/SAVP  0 \na=ptime:20.5\n"
      "a=rtpmap:9 G722/8000\na=fmtp:9 x\nm=video 0 RTP/SAVP 96\na=rtpmap:96 x\na=ptime:bad\n");
  g_assert_cmpuint(ok->ptime, ==, 20);
  g_assert_cmpuint(ok->payloads->len, ==, 1);
  g_assert_cmpint(g_array_index(ok->payloads, SdpAudioPayload, 0).codec, ==, SDP_AUDIO_CODEC_PCMU);
  g_assert_null(g_array_index(ok->payloads, SdpAudioPayload, 0).encoding);
  /* The final line without a line end, and a final lone CR. */
  g_autoptr(SdpAudioDesc) noeol = parse_ok(HEAD4 KM "m=audio 5000 RTP/SAVP 0");
  g_assert_cmpuint(noeol->payloads->len, ==, 1);
  g_autoptr(SdpAudioDesc) lonecr = parse_ok(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r");
  g_assert_cmpuint(lonecr->payloads->len, ==, 1);
}

static void test_size_limit(void)
{
  /* Exactly 64 KiB parses; one byte more is refused before parsing. */
  GString *b = g_string_new(HEAD4 KM "m=audio 5000 RTP/SAVP 0\r\na=x-pad:");
  while (b->len < SDP_AUDIO_MAX_BODY - 2)
    g_string_append_c(b, 'p');
  g_string_append(b, "\r\n");
  g_assert_cmpuint(b->len, ==, SDP_AUDIO_MAX_BODY);
  g_autoptr(SdpAudioDesc) d = parse_ok(b->str);
  g_assert_cmpuint(d->port, ==, 5000);
  g_string_insert_c(b, b->len - 2, 'p');
  g_assert_cmpuint(b->len, ==, SDP_AUDIO_MAX_BODY + 1);
  parse_fail(b->str, b->len, SDP_AUDIO_ERR_TOO_LARGE);
  g_autoptr(GError) error = NULL;
  g_assert_null(sdp_audio_parse(b->str, G_MAXSIZE, &error));
  g_assert_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_TOO_LARGE);
  g_string_free(b, TRUE);

  /* Many payload types and many m-lines stay linear. */
  GString *m = g_string_new(HEAD4 KM "m=audio 5000 RTP/SAVP");
  for (guint pt = 127; pt > 0; pt--)
    g_string_append_printf(m, " %u", pt);
  g_string_append(m, " 0\r\n");
  for (guint pt = 0; pt < 128; pt++)
    g_string_append_printf(m, "a=rtpmap:%u X%u/8000\r\n", pt, pt);
  while (m->len < SDP_AUDIO_MAX_BODY - 64)
    g_string_append(m, "m=video 0 RTP/AVP 96\r\n");
  g_autoptr(SdpAudioDesc) many = parse_ok(m->str);
  g_assert_cmpuint(many->payloads->len, ==, 128);
  g_assert_cmpuint(many->media->len, >, 2000);
  SdpAudioAnswer a;
  g_autoptr(GError) e2 = NULL;
  g_assert_false(sdp_audio_negotiate(many, NULL, &a, &e2));
  g_assert_error(e2, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_COMMON_CODEC);
  g_string_free(m, TRUE);
}

/* Every prefix of every golden body: no crash, an SDP_AUDIO_ERROR when refused. */
static void test_truncations(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    gsize len;
    g_autofree char *text = load_text(vectors[i].sdp, &len);
    const char *m = strstr(text, "\r\nm=audio");
    g_assert_nonnull(m);
    gsize m_at = (gsize)(m - text) + 2;
    for (gsize cut = 0; cut < len; cut++) {
      g_autoptr(GError) error = NULL;
      g_autoptr(SdpAudioDesc) d = parse_exact(text, cut, &error);
      g_assert_true((d == NULL) == (error != NULL));
      if (error)
        g_assert_true(error->domain == SDP_AUDIO_ERROR);
      if (cut < m_at)
        g_assert_null(d); /* before the m= line: never an audio stream */
      else if (cut >= m_at + strlen("m=audio 49170 RTP/SAVP 0") && d)
        g_assert_cmpuint(d->payloads->len, >=, 1);
    }
  }
}

/* ---- random mutations ---- */

static const char *const splice_tokens[] = {
  "\r\n",
  "\n",
  "\r",
  " ",
  "\0",
  "/",
  ":",
  "=",
  "m=audio 0 ",
  "m=audio 5 RTP/SAVP 0\r\n",
  "a=key-mgmt:mikey ",
  "a=key-mgmt:mikey AQIDBA==\r\n",
  "c=IN IP6 ::1\r\n",
  "c=IN IP4 ",
  "a=rtpmap:",
  "a=rtpmap:0 PCMA/8000\r\n",
  "a=fmtp:101 ",
  "a=sendonly\r\n",
  "a=inactive",
  "99999999999999999999999",
  "127",
  "128",
  "65535",
  "65536",
  "RTP/AVP",
  "RTP/SAVP",
  "m=video 0 RTP/SAVP 96\r\n",
  "/8000/2",
  "a=ptime:",
  "o=- 1 1 IN IP4 1.2.3.4\r\n",
  "v=0\r\n",
};

static gsize mutate(GRand *r, const guint8 *in, gsize len, guint8 *out, gsize cap)
{
  gsize n = MIN(len, cap);
  memcpy(out, in, n);
  guint rounds = (guint)g_rand_int_range(r, 1, 5);
  for (guint k = 0; k < rounds; k++) {
    guint op = (guint)g_rand_int_range(r, 0, 7);
    gsize at = n ? (gsize)g_rand_int_range(r, 0, (gint32)n + 1) : 0;
    switch (op) {
    case 0: /* flip a byte */
      if (n)
        out[MIN(at, n - 1)] ^= (guint8)g_rand_int_range(r, 1, 256);
      break;
    case 1: /* set a byte to something interesting */
      if (n) {
        static const guint8 interesting[] = { '\r', '\n', ' ', '/', ':', '0', '9', 0, 0xff, '=' };
        out[MIN(at, n - 1)] = interesting[g_rand_int_range(r, 0, G_N_ELEMENTS(interesting))];
      }
      break;
    case 2: /* delete a range */
      if (n) {
        gsize want = (gsize)g_rand_int_range(r, 1, 64); /* MIN() evaluates twice */
        gsize del = MIN(want, n - at);
        memmove(out + at, out + at + del, n - at - del);
        n -= del;
      }
      break;
    case 3: /* truncate */
      n = at;
      break;
    case 4:
    case 5: { /* splice a token */
      const char *t = splice_tokens[g_rand_int_range(r, 0, G_N_ELEMENTS(splice_tokens))];
      gsize tl = t[0] ? strlen(t) : 1;
      if (n + tl <= cap) {
        memmove(out + at + tl, out + at, n - at);
        memcpy(out + at, t, tl);
        n += tl;
      }
      break;
    }
    default: { /* duplicate a chunk */
      gsize from = n ? (gsize)g_rand_int_range(r, 0, (gint32)n) : 0;
      gsize want = (gsize)g_rand_int_range(r, 1, 80);
      gsize cl = MIN(want, n - from);
      guint8 chunk[80];
      if (n + cl <= cap) {
        memcpy(chunk, out + from, cl);
        memmove(out + at + cl, out + at, n - at);
        memcpy(out + at, chunk, cl);
        n += cl;
      }
      break;
    }
    }
  }
  return n;
}

/* What a focus does with a peer's body, with invariants on what it accepts. */
static void exercise(const char *buf, gsize n, guint *accepted)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SdpAudioDesc) d = parse_exact(buf, n, &error);
  if (!d) {
    g_assert_nonnull(error);
    g_assert_true(error->domain == SDP_AUDIO_ERROR);
    g_assert_cmpuint(sdp_audio_error_warning(error), !=, 0);
    return;
  }
  (*accepted)++;
  g_assert_cmpuint(d->audio_index, <, d->media->len);
  g_assert_nonnull(d->addr);
  g_assert_nonnull(d->proto);
  g_assert_nonnull(d->key_mgmt_ids);
  g_assert_cmpuint(d->payloads->len, <=, 128);
  g_assert_true(d->savp == (strcmp(d->proto, "RTP/SAVP") == 0));
  for (gboolean keyed = FALSE; keyed <= TRUE; keyed++) {
    SdpAudioNegotiateOptions o = { .dialog_keyed = keyed };
    SdpAudioAnswer a;
    g_autoptr(GError) ne = NULL;
    if (!sdp_audio_negotiate(d, &o, &a, &ne)) {
      g_assert_true(ne->domain == SDP_AUDIO_ERROR);
      continue;
    }
    g_assert_true(a.keys == SDP_AUDIO_KEYS_KEEP || d->mikey != NULL);
    g_autoptr(GBytes) m = g_bytes_new_static(mikey_dummy_bytes, sizeof mikey_dummy_bytes);
    SdpAudioParams p = { .sess_id = d->sess_id,
                         .version = d->sess_version,
                         .addr = "2001:db8::5",
                         .port = a.rejected ? 0 : 4000,
                         .formats = a.formats,
                         .n_formats = a.n_formats,
                         .ptime = 20,
                         .direction = a.direction,
                         .mikey = m,
                         .offer = d };
    g_autoptr(GError) be = NULL;
    gsize alen = 0;
    g_autofree char *ans = sdp_audio_build(&p, &alen, &be);
    g_assert_no_error(be);
    g_autoptr(GError) pe = NULL;
    g_autoptr(SdpAudioDesc) back = parse_exact(ans, alen, &pe);
    if (!back)
      g_error("our answer does not parse: %s\n%s", pe->message, ans);
    g_assert_cmpuint(back->media->len, ==, d->media->len);
    if (!a.rejected) {
      g_assert_cmpuint(back->audio_index, ==, d->audio_index);
      SdpAudioFormat chosen;
      SdpAudioFormat offered[SDP_AUDIO_MAX_FORMATS];
      guint no = 0;
      for (guint i = 0; i < d->payloads->len && no < SDP_AUDIO_MAX_FORMATS; i++) {
        const SdpAudioPayload *pl = &g_array_index(d->payloads, SdpAudioPayload, i);
        if (pl->pt == a.codec.pt) {
          offered[no].pt = pl->pt;
          offered[no++].codec = pl->codec;
        }
      }
      g_assert_true(sdp_audio_check_answer(back, offered, no, TRUE, &chosen, NULL));
      g_assert_cmpuint(chosen.pt, ==, a.codec.pt);
    }
  }
}

static void test_random_mutations(void)
{
  GRand *r = g_rand_new_with_seed(0x5d9a0d10);
  g_autoptr(GPtrArray) seeds = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++)
    g_ptr_array_add(seeds, load_bytes(vectors[i].sdp));
  static const char *const extra[] = {
    HEAD4 KM "m=video 5002 RTP/SAVP 96\r\nc=IN IP6 ::1\r\n" AUDIO_PCMU_PCMA "a=sendonly\r\n",
    "v=0\no=- 1 1 IN IP6 ::1\nc=IN IP6 ::1\nm=audio 0 RTP/SAVP 8\n" KM_OTHER,
  };
  for (guint i = 0; i < G_N_ELEMENTS(extra); i++)
    g_ptr_array_add(seeds, g_bytes_new_static(extra[i], strlen(extra[i])));
  const gsize cap = 4096;
  guint8 *buf = g_malloc(cap);
  guint accepted = 0;
  for (guint i = 0; i < 5000; i++) {
    gsize seed_len;
    const guint8 *seed = g_bytes_get_data(seeds->pdata[i % seeds->len], &seed_len);
    gsize n = mutate(r, seed, seed_len, buf, cap);
    g_autofree char *exact = exact_copy((const char *)buf, n);
    exercise(exact, n, &accepted);
  }
  /* The mutations are not all refused (else the loop tests little). */
  g_assert_cmpuint(accepted, >, 300);
  g_test_message("5000 mutations, %u parsed", accepted);
  g_free(buf);
  g_rand_free(r);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sdpaudio/build/golden", test_build_golden);
  g_test_add_func("/sdpaudio/build/variants", test_build_variants);
  g_test_add_func("/sdpaudio/build/formats-parse", test_formats_parse);
  g_test_add_func("/sdpaudio/parse/golden", test_parse_golden);
  g_test_add_func("/sdpaudio/parse/roundtrip", test_roundtrip_golden);
  g_test_add_func("/sdpaudio/exchange/scenario-a", test_exchange_a);
  g_test_add_func("/sdpaudio/exchange/scenario-b", test_exchange_b);
  g_test_add_func("/sdpaudio/session/version", test_session_version);
  g_test_add_func("/sdpaudio/negotiate/codecs", test_negotiate_codecs);
  g_test_add_func("/sdpaudio/negotiate/refusals", test_negotiate_refusals);
  g_test_add_func("/sdpaudio/negotiate/in-dialog", test_negotiate_in_dialog);
  g_test_add_func("/sdpaudio/negotiate/direction", test_direction);
  g_test_add_func("/sdpaudio/negotiate/port-zero", test_port_zero);
  g_test_add_func("/sdpaudio/negotiate/multi-media", test_multi_media);
  g_test_add_func("/sdpaudio/key-mgmt/levels", test_key_mgmt_levels);
  g_test_add_func("/sdpaudio/key-mgmt/offer-without", test_offer_without_key_mgmt);
  g_test_add_func("/sdpaudio/connection", test_connection);
  g_test_add_func("/sdpaudio/answer/check", test_check_answer);
  g_test_add_func("/sdpaudio/errors/warning-codes", test_warning_codes);
  g_test_add_func("/sdpaudio/robust/malformed", test_malformed);
  g_test_add_func("/sdpaudio/robust/size-limit", test_size_limit);
  g_test_add_func("/sdpaudio/robust/truncations", test_truncations);
  g_test_add_func("/sdpaudio/robust/random-mutations", test_random_mutations);
  return g_test_run();
}
