/* RFC 4567 a=key-mgmt handling (src/mikey/sdp.c), profile.md §6. */
#include "error.h"
#include "sdp.h"

#include <string.h>

/* ---- helpers ---- */

static GBytes *load_data(const char *name)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange", name, NULL);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &contents, &len, &error))
    g_error("cannot read %s: %s", path, error->message);
  return g_bytes_new_take(contents, len);
}

static char *load_text(const char *name, gsize *len)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange", name, NULL);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  if (!g_file_get_contents(path, &contents, len, &error))
    g_error("cannot read %s: %s", path, error->message);
  return contents;
}

/* A heap copy of exactly len bytes (no NUL after it), so ASan sees any read past the end. */
static char *exact_copy(const char *s, gsize len)
{
  return g_memdup2(len ? s : "", len ? len : 1);
}

static GBytes *get_mikey_exact(const char *sdp, gsize len, int media_index, GError **error)
{
  g_autofree char *copy = exact_copy(sdp, len);
  return mikey_sdp_get_mikey(copy, len, media_index, error);
}

static GPtrArray *find_exact(const char *sdp, gsize len, GError **error)
{
  g_autofree char *copy = exact_copy(sdp, len);
  return mikey_sdp_find_key_mgmt(copy, len, error);
}

static void assert_bytes_equal(GBytes *got, GBytes *want)
{
  g_assert_nonnull(got);
  gsize got_len, want_len;
  const guint8 *g = g_bytes_get_data(got, &got_len);
  const guint8 *w = g_bytes_get_data(want, &want_len);
  g_assert_cmpmem(g, got_len, w, want_len);
}

static char *crlf_to_lf(const char *s)
{
  GString *out = g_string_new(NULL);
  for (; *s; s++)
    if (!(s[0] == '\r' && s[1] == '\n'))
      g_string_append_c(out, *s);
  return g_string_free(out, FALSE);
}

/* Removes the first line that starts with prefix (line end included). */
static char *remove_line(const char *s, const char *prefix)
{
  const char *at = strstr(s, prefix);
  g_assert_nonnull(at);
  const char *nl = strchr(at, '\n');
  g_assert_nonnull(nl);
  GString *out = g_string_new_len(s, at - s);
  g_string_append(out, nl + 1);
  return g_string_free(out, FALSE);
}

static guint count_substr(const char *s, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void assert_sdp_error(const char *sdp, const char *expected_substring)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) found = find_exact(sdp, strlen(sdp), &error);
  g_assert_null(found);
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  if (!strstr(error->message, expected_substring))
    g_error("error \"%s\" does not contain \"%s\" (SDP %s)", error->message, expected_substring,
            sdp);
  /* get_mikey reports the same failure. */
  g_autoptr(GError) error2 = NULL;
  g_autoptr(GBytes) m = get_mikey_exact(sdp, strlen(sdp), 0, &error2);
  g_assert_null(m);
  g_assert_error(error2, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
}

#define BASIC_SESSION "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
#define AUDIO_BLOCK "m=audio 5000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

/* ---- vectors ---- */

static const struct {
  const char *sdp;
  const char *bin;
} vectors[] = {
  { "03-a-offer.sdp", "03-a-transfer_init.bin" },
  { "06-a-answer.sdp", "06-a-transfer_resp.bin" },
  { "07-a-update_offer.sdp", "07-a-csb_update_init.bin" },
  { "08-a-update_answer.sdp", "08-a-csb_update_resp.bin" },
  { "13-b-offer.sdp", "13-b-transfer_init.bin" },
  { "16-b-answer.sdp", "16-b-transfer_resp.bin" },
  { "17-b-update_offer.sdp", "17-b-csb_update_init.bin" },
  { "18-b-update_answer.sdp", "18-b-csb_update_resp.bin" },
};

static void test_vectors_decode(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    gsize len;
    g_autofree char *sdp = load_text(vectors[i].sdp, &len);
    g_autoptr(GBytes) want = load_data(vectors[i].bin);
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(strstr(sdp, "\r\n")); /* the vectors use CRLF */
    g_autoptr(GPtrArray) all = find_exact(sdp, len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(all->len, ==, 1);
    const MikeySdpKeyMgmt *km = all->pdata[0];
    g_assert_cmpstr(km->prtcl_id, ==, "mikey");
    g_assert_cmpint(km->media_index, ==, -1);
    assert_bytes_equal(km->data, want);

    /* Session level applies to the m-line and to the session. */
    g_autoptr(GBytes) m0 = get_mikey_exact(sdp, len, 0, &error);
    g_assert_no_error(error);
    assert_bytes_equal(m0, want);
    g_autoptr(GBytes) ms = get_mikey_exact(sdp, len, -1, &error);
    g_assert_no_error(error);
    assert_bytes_equal(ms, want);

    g_autofree char *ids = mikey_sdp_protocol_ids(sdp, len);
    g_assert_cmpstr(ids, ==, "mikey");
    g_assert_cmpuint(mikey_sdp_media_count(sdp, len), ==, 1);
  }
}

static void test_vectors_lf_and_no_trailing_newline(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    gsize len;
    g_autofree char *sdp = load_text(vectors[i].sdp, &len);
    g_autoptr(GBytes) want = load_data(vectors[i].bin);
    g_autoptr(GError) error = NULL;

    g_autofree char *lf = crlf_to_lf(sdp);
    g_assert_null(strchr(lf, '\r'));
    g_autoptr(GBytes) m_lf = get_mikey_exact(lf, strlen(lf), 0, &error);
    g_assert_no_error(error);
    assert_bytes_equal(m_lf, want);

    /* Without the final line end, CRLF and LF. */
    g_assert_true(g_str_has_suffix(sdp, "\r\n"));
    g_autoptr(GBytes) m_cut = get_mikey_exact(sdp, len - 2, 0, &error);
    g_assert_no_error(error);
    assert_bytes_equal(m_cut, want);
    g_autoptr(GBytes) m_cut_lf = get_mikey_exact(lf, strlen(lf) - 1, 0, &error);
    g_assert_no_error(error);
    assert_bytes_equal(m_cut_lf, want);
  }
}

/* The key-mgmt line as the very last line, without a line end. */
static void test_key_mgmt_last_line(void)
{
  gsize len;
  g_autofree char *sdp = load_text("06-a-answer.sdp", &len);
  g_autoptr(GBytes) want = load_data("06-a-transfer_resp.bin");
  const char *km = strstr(sdp, "a=key-mgmt:");
  g_assert_nonnull(km);
  const char *nl = strstr(km, "\r\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = get_mikey_exact(sdp, (gsize)(nl - sdp), -1, &error);
  g_assert_no_error(error);
  assert_bytes_equal(got, want);
  /* ... and with a trailing CR only. */
  g_autoptr(GBytes) got_cr = get_mikey_exact(sdp, (gsize)(nl - sdp) + 1, -1, &error);
  g_assert_no_error(error);
  assert_bytes_equal(got_cr, want);
}

/* ---- levels ---- */

static void test_media_overrides_session(void)
{
  const char *sdp = BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" /* 01 02 03 */
                                  "m=audio 5000 RTP/SAVP 0\r\n"
                                  "a=key-mgmt:mikey BAUG\r\n" /* 04 05 06 */
                                  "m=video 5002 RTP/AVP 96\r\n"
                                  "m=audio 5004 RTP/SAVP 0\r\n"
                                  "a=key-mgmt:mikey Bwg=\r\n"; /* 07 08 */
  gsize len = strlen(sdp);
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint(mikey_sdp_media_count(sdp, len), ==, 3);
  g_autoptr(GPtrArray) all = find_exact(sdp, len, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 3);
  g_assert_cmpint(((MikeySdpKeyMgmt *)all->pdata[0])->media_index, ==, -1);
  g_assert_cmpint(((MikeySdpKeyMgmt *)all->pdata[1])->media_index, ==, 0);
  g_assert_cmpint(((MikeySdpKeyMgmt *)all->pdata[2])->media_index, ==, 2);

  static const guint8 s[] = { 1, 2, 3 }, m0[] = { 4, 5, 6 }, m2[] = { 7, 8 };
  g_autoptr(GBytes) bs = g_bytes_new_static(s, sizeof s);
  g_autoptr(GBytes) bm0 = g_bytes_new_static(m0, sizeof m0);
  g_autoptr(GBytes) bm2 = g_bytes_new_static(m2, sizeof m2);

  g_autoptr(GBytes) g_s = get_mikey_exact(sdp, len, -1, &error);
  g_assert_no_error(error);
  assert_bytes_equal(g_s, bs);
  g_autoptr(GBytes) g_0 = get_mikey_exact(sdp, len, 0, &error);
  g_assert_no_error(error);
  assert_bytes_equal(g_0, bm0);
  g_autoptr(GBytes) g_1 = get_mikey_exact(sdp, len, 1, &error);
  g_assert_no_error(error);
  assert_bytes_equal(g_1, bs);
  g_autoptr(GBytes) g_2 = get_mikey_exact(sdp, len, 2, &error);
  g_assert_no_error(error);
  assert_bytes_equal(g_2, bm2);
  g_autoptr(GBytes) g_9 = get_mikey_exact(sdp, len, 9, &error); /* no such m-line: session */
  g_assert_no_error(error);
  assert_bytes_equal(g_9, bs);
}

static void test_media_only(void)
{
  const char *sdp = BASIC_SESSION "m=audio 5000 RTP/SAVP 0\r\n"
                                  "m=audio 5002 RTP/SAVP 0\r\n"
                                  "a=key-mgmt:mikey AQID\r\n";
  gsize len = strlen(sdp);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) none0 = get_mikey_exact(sdp, len, 0, &error);
  g_assert_no_error(error);
  g_assert_null(none0);
  g_autoptr(GBytes) none_s = get_mikey_exact(sdp, len, -1, &error);
  g_assert_no_error(error);
  g_assert_null(none_s);
  g_autoptr(GBytes) one = get_mikey_exact(sdp, len, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(one), ==, 3);
}

static void test_no_key_mgmt(void)
{
  const char *sdp = BASIC_SESSION AUDIO_BLOCK;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = find_exact(sdp, strlen(sdp), &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 0);
  g_autoptr(GBytes) m = get_mikey_exact(sdp, strlen(sdp), 0, &error);
  g_assert_no_error(error);
  g_assert_null(m);
  g_autofree char *ids = mikey_sdp_protocol_ids(sdp, strlen(sdp));
  g_assert_cmpstr(ids, ==, "");

  /* Empty body. */
  g_autoptr(GPtrArray) none = mikey_sdp_find_key_mgmt("", 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(none->len, ==, 0);
  g_assert_cmpuint(mikey_sdp_media_count("", 0), ==, 0);
  g_autofree char *no_ids = mikey_sdp_protocol_ids("", 0);
  g_assert_cmpstr(no_ids, ==, "");
}

/* Other protocols and attributes that merely start like key-mgmt are not MIKEY. */
static void test_other_protocols(void)
{
  const char *sdp =
      BASIC_SESSION "a=key-mgmt:keyp1 AAAA\r\n"
                    "a=key-mgmt:mikey AQID\r\n"
                    "a=key-mgmt-x:whatever ###\r\n" AUDIO_BLOCK "a=key-mgmt:keyp1 AAAA\r\n";
  gsize len = strlen(sdp);
  g_autoptr(GError) error = NULL;
  g_autofree char *ids = mikey_sdp_protocol_ids(sdp, len);
  g_assert_cmpstr(ids, ==, "keyp1;mikey");
  g_autoptr(GPtrArray) all = find_exact(sdp, len, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 3);
  g_assert_cmpstr(((MikeySdpKeyMgmt *)all->pdata[0])->prtcl_id, ==, "keyp1");
  g_assert_cmpstr(((MikeySdpKeyMgmt *)all->pdata[1])->prtcl_id, ==, "mikey");
  g_autoptr(GBytes) m = get_mikey_exact(sdp, len, 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(m), ==, 3);

  const char *sdp2 =
      BASIC_SESSION "a=key-mgmt:mikey AQID\r\n"
                    "a=key-mgmt:keyp1 AAAA\r\n" AUDIO_BLOCK "a=key-mgmt:mikey AQID\r\n"
                    "a=key-mgmt:keyp2 AAAA\r\n";
  g_autofree char *ids2 = mikey_sdp_protocol_ids(sdp2, strlen(sdp2));
  g_assert_cmpstr(ids2, ==, "mikey;keyp1;keyp2");

  /* prtcl-id is case-sensitive: "MIKEY" is another protocol. */
  const char *sdp3 = BASIC_SESSION "a=key-mgmt:MIKEY AQID\r\n" AUDIO_BLOCK;
  g_autoptr(GBytes) none = get_mikey_exact(sdp3, strlen(sdp3), 0, &error);
  g_assert_no_error(error);
  g_assert_null(none);
  g_autofree char *ids3 = mikey_sdp_protocol_ids(sdp3, strlen(sdp3));
  g_assert_cmpstr(ids3, ==, "MIKEY");
}

/* key-mgmt-att-value = 0*1SP prtcl-id SP keymgmt-data; trailing blanks tolerated. */
static void test_optional_space_and_blanks(void)
{
  const char *sdp = BASIC_SESSION "a=key-mgmt: mikey AQID \t\r\n" AUDIO_BLOCK;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) m = get_mikey_exact(sdp, strlen(sdp), 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(m), ==, 3);
  g_autofree char *ids = mikey_sdp_protocol_ids(sdp, strlen(sdp));
  g_assert_cmpstr(ids, ==, "mikey");
}

static void test_empty_lines(void)
{
  const char *sdp = "\r\n" BASIC_SESSION "\r\n\n"
                    "a=key-mgmt:mikey AQID\r\n"
                    "\r\n" AUDIO_BLOCK "\r\n\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) m = get_mikey_exact(sdp, strlen(sdp), 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(m), ==, 3);
  g_assert_cmpuint(mikey_sdp_media_count(sdp, strlen(sdp)), ==, 1);
}

static void test_duplicate_mikey(void)
{
  /* Each attribute is well-formed (find lists both), but which one applies is ambiguous. */
  const char *ses = BASIC_SESSION "a=key-mgmt:mikey AQID\r\na=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = find_exact(ses, strlen(ses), &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 2);
  g_autoptr(GBytes) ms = get_mikey_exact(ses, strlen(ses), 0, &error);
  g_assert_null(ms);
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  g_assert_nonnull(strstr(error->message, "more than one a=key-mgmt:mikey at session level"));
  g_clear_error(&error);
  /* Twice in one m-line. */
  const char *sdp = BASIC_SESSION AUDIO_BLOCK "a=key-mgmt:mikey AQID\r\na=key-mgmt:mikey AQID\r\n";
  g_autoptr(GBytes) m = get_mikey_exact(sdp, strlen(sdp), 0, &error);
  g_assert_null(m);
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  g_assert_nonnull(strstr(error->message, "m-line 0"));
}

/* ---- errors ---- */

static void test_errors(void)
{
  /* Bad base64. */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQ*D\r\n" AUDIO_BLOCK,
                   "line 6: a=key-mgmt data: invalid base64 character '*' at data offset 2");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQIDB\r\n" AUDIO_BLOCK,
                   "base64 length 5 is not a multiple of 4");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQI\r\n" AUDIO_BLOCK,
                   "base64 length 3 is not a multiple of 4");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQ==AQID\r\n" AUDIO_BLOCK,
                   "padding '=' at data offset 2 before the end");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey A===\r\n" AUDIO_BLOCK,
                   "padding '=' at data offset 1 before the end");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey ====\r\n" AUDIO_BLOCK, "padding '='");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AR==\r\n" AUDIO_BLOCK,
                   "non-zero bits before the base64 padding");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQIE=\r\n" AUDIO_BLOCK, "multiple of 4");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQJ=\r\n" AUDIO_BLOCK,
                   "non-zero bits before the base64 padding");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQ-_\r\n" AUDIO_BLOCK,
                   "invalid base64 character '-'"); /* base64url is not RFC 4567 */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQID AQID\r\n" AUDIO_BLOCK,
                   "invalid base64 character ' '");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey  AQID\r\n" AUDIO_BLOCK,
                   "invalid base64 character ' '");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQ\x80\x81\r\n" AUDIO_BLOCK,
                   "invalid base64 byte 0x80");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQ\rD\r\n" AUDIO_BLOCK,
                   "invalid base64 byte 0x0d");
  /* A bad attribute at media level fails the whole SDP too (RFC 4567). */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK
                                 "a=key-mgmt:mikey !!!!\r\n",
                   "line 9: a=key-mgmt data: invalid base64 character '!'");
  /* ... also for another protocol. */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:keyp1 ****\r\na=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK,
                   "invalid base64 character '*'");

  /* Missing data. */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey\r\n" AUDIO_BLOCK,
                   "line 6: a=key-mgmt:mikey has no key management data");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey \r\n" AUDIO_BLOCK,
                   "a=key-mgmt:mikey has no key management data");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey", "a=key-mgmt:mikey has no key management data");

  /* Empty value. */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:\r\n" AUDIO_BLOCK, "line 6: empty a=key-mgmt value");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt: \r\n" AUDIO_BLOCK, "empty a=key-mgmt value");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt\r\n" AUDIO_BLOCK, "empty a=key-mgmt value");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:  AQID\r\n" AUDIO_BLOCK,
                   "a=key-mgmt value has no protocol id");

  /* Bad protocol ids. */
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mi;key AQID\r\n" AUDIO_BLOCK,
                   "protocol id has an invalid byte 0x3b");
  assert_sdp_error(BASIC_SESSION "a=key-mgmt:mikey\tAQID\r\n" AUDIO_BLOCK,
                   "protocol id has an invalid byte 0x09");

  /* Garbage lines. */
  assert_sdp_error(BASIC_SESSION "garbage here\r\n" AUDIO_BLOCK,
                   "line 6: not an SDP line (expected <type>=<value>)");
  assert_sdp_error("v=0\r\n=x\r\n", "line 2: not an SDP line");
  assert_sdp_error("v=0\r\nx\r\n", "line 2: not an SDP line");
  assert_sdp_error("v=0\r\n \r\n", "line 2: not an SDP line");
  assert_sdp_error("v=0\r\n\x01\x02\x03\r\n", "line 2: not an SDP line");
  assert_sdp_error("\xff\xfe", "line 1: not an SDP line");
}

/* ---- insert / replace ---- */

static void test_insert_restores_vector(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(vectors); i++) {
    gsize len;
    g_autofree char *sdp = load_text(vectors[i].sdp, &len);
    g_autoptr(GBytes) bin = load_data(vectors[i].bin);
    g_autofree char *bare = remove_line(sdp, "a=key-mgmt:");
    g_autoptr(GError) error = NULL;

    g_autoptr(GBytes) none = get_mikey_exact(bare, strlen(bare), 0, &error);
    g_assert_no_error(error);
    g_assert_null(none);

    /* The vectors put the attribute last in the session block: inserting it gives the file. */
    g_autofree char *copy = exact_copy(bare, strlen(bare));
    g_autofree char *with = mikey_sdp_set_mikey(copy, strlen(bare), -1, bin);
    g_assert_cmpstr(with, ==, sdp);

    /* Replacing with the same message gives the same text again; with another message, only the
     * attribute changes. */
    g_autofree char *same = mikey_sdp_set_mikey(sdp, len, -1, bin);
    g_assert_cmpstr(same, ==, sdp);
    static const guint8 other[] = { 0xde, 0xad, 0xbe, 0xef };
    g_autoptr(GBytes) ob = g_bytes_new_static(other, sizeof other);
    g_autofree char *replaced = mikey_sdp_set_mikey(sdp, len, -1, ob);
    g_assert_cmpuint(count_substr(replaced, "a=key-mgmt:"), ==, 1);
    g_assert_nonnull(strstr(replaced, "a=key-mgmt:mikey 3q2+7w==\r\n"));
    g_autoptr(GBytes) got = get_mikey_exact(replaced, strlen(replaced), 0, &error);
    g_assert_no_error(error);
    assert_bytes_equal(got, ob);
    g_autofree char *back = mikey_sdp_set_mikey(replaced, strlen(replaced), -1, bin);
    g_assert_cmpstr(back, ==, sdp);
  }
}

static void test_insert_media_level(void)
{
  const char *sdp = BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK
                                  "m=video 5002 RTP/SAVP 96\r\na=rtpmap:96 H264/90000\r\n";
  gsize len = strlen(sdp);
  static const guint8 v[] = { 9, 9, 9, 9, 9 };
  g_autoptr(GBytes) vb = g_bytes_new_static(v, sizeof v);
  g_autoptr(GError) error = NULL;

  g_autofree char *out = mikey_sdp_set_mikey(sdp, len, 1, vb);
  g_assert_cmpstr(out, ==,
                  BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK
                                "m=video 5002 RTP/SAVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                "a=key-mgmt:mikey CQkJCQk=\r\n");
  g_autoptr(GBytes) m1 = get_mikey_exact(out, strlen(out), 1, &error);
  g_assert_no_error(error);
  assert_bytes_equal(m1, vb);
  g_autoptr(GBytes) m0 = get_mikey_exact(out, strlen(out), 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(m0), ==, 3);

  /* Into the first m-line: at the end of its block, before the next m= line. */
  g_autofree char *out0 = mikey_sdp_set_mikey(sdp, len, 0, vb);
  g_assert_cmpstr(out0, ==,
                  BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK
                                "a=key-mgmt:mikey CQkJCQk=\r\n"
                                "m=video 5002 RTP/SAVP 96\r\na=rtpmap:96 H264/90000\r\n");
  /* Replacing the media-level one leaves session level alone. */
  static const guint8 w[] = { 1 };
  g_autoptr(GBytes) wb = g_bytes_new_static(w, sizeof w);
  g_autofree char *out00 = mikey_sdp_set_mikey(out0, strlen(out0), 0, wb);
  g_assert_cmpstr(out00, ==,
                  BASIC_SESSION "a=key-mgmt:mikey AQID\r\n" AUDIO_BLOCK "a=key-mgmt:mikey AQ==\r\n"
                                "m=video 5002 RTP/SAVP 96\r\na=rtpmap:96 H264/90000\r\n");

  /* No such m-line. */
  g_assert_null(mikey_sdp_set_mikey(sdp, len, 2, vb));
  g_assert_null(mikey_sdp_set_mikey(sdp, len, -2, vb));
  /* An empty message is not a message. */
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  g_assert_null(mikey_sdp_set_mikey(sdp, len, -1, empty));
}

static void test_insert_line_ends(void)
{
  static const guint8 v[] = { 1, 2, 3 };
  g_autoptr(GBytes) vb = g_bytes_new_static(v, sizeof v);

  /* LF input gives LF output. */
  const char *lf = "v=0\ns=-\nt=0 0\nm=audio 5000 RTP/SAVP 0\n";
  g_autofree char *out = mikey_sdp_set_mikey(lf, strlen(lf), -1, vb);
  g_assert_cmpstr(out, ==, "v=0\ns=-\nt=0 0\na=key-mgmt:mikey AQID\nm=audio 5000 RTP/SAVP 0\n");

  /* No trailing newline: the last line gets one before the attribute. */
  const char *cut = "v=0\r\ns=-\r\nt=0 0";
  g_autofree char *out2 = mikey_sdp_set_mikey(cut, strlen(cut), -1, vb);
  g_assert_cmpstr(out2, ==, "v=0\r\ns=-\r\nt=0 0\r\na=key-mgmt:mikey AQID\r\n");
  const char *cut_m = "v=0\ns=-\nt=0 0\nm=audio 5000 RTP/SAVP 0";
  g_autofree char *out3 = mikey_sdp_set_mikey(cut_m, strlen(cut_m), 0, vb);
  g_assert_cmpstr(out3, ==, "v=0\ns=-\nt=0 0\nm=audio 5000 RTP/SAVP 0\na=key-mgmt:mikey AQID\n");
  g_autofree char *out4 = mikey_sdp_set_mikey(cut_m, strlen(cut_m), -1, vb);
  g_assert_cmpstr(out4, ==, "v=0\ns=-\nt=0 0\na=key-mgmt:mikey AQID\nm=audio 5000 RTP/SAVP 0");

  /* Trailing empty lines stay after the block. */
  const char *blank = "v=0\r\nt=0 0\r\n\r\n";
  g_autofree char *out5 = mikey_sdp_set_mikey(blank, strlen(blank), -1, vb);
  g_assert_cmpstr(out5, ==, "v=0\r\nt=0 0\r\na=key-mgmt:mikey AQID\r\n\r\n");

  /* Replacing a last line that has no line end. */
  const char *last = "v=0\r\nt=0 0\r\na=key-mgmt:mikey AAAA";
  g_autofree char *out6 = mikey_sdp_set_mikey(last, strlen(last), -1, vb);
  g_assert_cmpstr(out6, ==, "v=0\r\nt=0 0\r\na=key-mgmt:mikey AQID\r\n");

  /* Several mikey lines at the level (or a broken one) collapse into one. */
  const char *dup = "v=0\r\na=key-mgmt:mikey AAAA\r\na=key-mgmt:keyp1 AAAA\r\n"
                    "a=key-mgmt:mikey !!\r\nm=audio 5000 RTP/SAVP 0\r\na=key-mgmt:mikey AAAA\r\n";
  g_autofree char *out7 = mikey_sdp_set_mikey(dup, strlen(dup), -1, vb);
  g_assert_cmpstr(out7, ==,
                  "v=0\r\na=key-mgmt:mikey AQID\r\na=key-mgmt:keyp1 AAAA\r\n"
                  "m=audio 5000 RTP/SAVP 0\r\na=key-mgmt:mikey AAAA\r\n");

  /* Empty SDP. */
  g_autofree char *out8 = mikey_sdp_set_mikey("", 0, -1, vb);
  g_assert_cmpstr(out8, ==, "a=key-mgmt:mikey AQID\r\n");
}

/* ---- counts ---- */

static void test_media_count(void)
{
  g_assert_cmpuint(mikey_sdp_media_count(BASIC_SESSION, strlen(BASIC_SESSION)), ==, 0);
  const char *three = BASIC_SESSION AUDIO_BLOCK "m=video 1 RTP/AVP 96\nm=audio 2 RTP/SAVP 0";
  g_assert_cmpuint(mikey_sdp_media_count(three, strlen(three)), ==, 3);
  /* Only "m=" at a line start counts. */
  const char *fake = "v=0\r\na=x m=audio\r\nam=1\r\n";
  g_assert_cmpuint(mikey_sdp_media_count(fake, strlen(fake)), ==, 0);
  /* The length bounds the body. */
  g_assert_cmpuint(mikey_sdp_media_count(three, strlen(three) - 22), ==, 2);
}

/* ---- robustness ---- */

static void check_any(const char *buf, gsize len)
{
  g_autofree char *copy = exact_copy(buf, len);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = mikey_sdp_find_key_mgmt(copy, len, &error);
  g_assert_true((all == NULL) == (error != NULL));
  g_clear_error(&error);
  g_autoptr(GBytes) m = mikey_sdp_get_mikey(copy, len, 0, &error);
  g_assert_true(m == NULL || error == NULL);
  g_clear_error(&error);
  g_free(mikey_sdp_protocol_ids(copy, len));
  (void)mikey_sdp_media_count(copy, len);
  static const guint8 one[] = { 1 };
  g_autoptr(GBytes) ob = g_bytes_new_static(one, 1);
  g_free(mikey_sdp_set_mikey(copy, len, -1, ob));
  g_free(mikey_sdp_set_mikey(copy, len, 0, ob));
}

static void test_truncations(void)
{
  gsize len;
  g_autofree char *sdp = load_text("03-a-offer.sdp", &len);
  for (gsize n = 0; n <= len; n++)
    check_any(sdp, n);
}

static void test_random_mutations(void)
{
  gsize len;
  g_autofree char *sdp = load_text("13-b-offer.sdp", &len);
  static const char alphabet[] = "a=key-mgmt:mikey \r\n=+/AZaz09m\t;\x80\xff";
  GRand *rand = g_rand_new_with_seed(4567);
  for (guint iter = 0; iter < 3000; iter++) {
    g_autofree char *buf = g_memdup2(sdp, len);
    guint edits = g_rand_int_range(rand, 1, 8);
    for (guint e = 0; e < edits; e++)
      buf[g_rand_int_range(rand, 0, (gint32)len)] =
          alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)];
    check_any(buf, g_rand_int_range(rand, 0, (gint32)len + 1));
  }
  /* Random NUL-free bytes. */
  for (guint iter = 0; iter < 2000; iter++) {
    gsize n = g_rand_int_range(rand, 0, 200);
    g_autofree char *buf = g_malloc(n + 1);
    for (gsize i = 0; i < n; i++) {
      guint r = g_rand_int_range(rand, 0, 4);
      buf[i] = r == 0 ? (char)g_rand_int_range(rand, 1, 256)
                      : alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)];
    }
    check_any(buf, n);
  }
  g_rand_free(rand);
}

/* Regression (found by fuzz-sdp): a body cut between CR and LF must not leave the CR in the
 * line that set_mikey() completes. */
static void test_set_after_lone_cr(void)
{
  static const char body[] = "v=0\r\ns=-\r\nt=0 0\r\na=key-mgmt:foo QUJD\r";
  g_autoptr(GBytes) mikey = g_bytes_new("\x01\x02\x03", 3);
  g_autofree char *out = mikey_sdp_set_mikey(body, strlen(body), -1, mikey);
  g_assert_nonnull(out);
  g_assert_null(strstr(out, "\r\r"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = mikey_sdp_find_key_mgmt(out, strlen(out), &error);
  g_assert_no_error(error);
  g_assert_cmpuint(all->len, ==, 2);
  g_autoptr(GBytes) back = mikey_sdp_get_mikey(out, strlen(out), -1, &error);
  g_assert_true(g_bytes_equal(back, mikey));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sdp/vectors/decode", test_vectors_decode);
  g_test_add_func("/sdp/vectors/lf-and-no-trailing-newline",
                  test_vectors_lf_and_no_trailing_newline);
  g_test_add_func("/sdp/vectors/key-mgmt-last-line", test_key_mgmt_last_line);
  g_test_add_func("/sdp/vectors/insert-restores", test_insert_restores_vector);
  g_test_add_func("/sdp/level/media-overrides-session", test_media_overrides_session);
  g_test_add_func("/sdp/level/media-only", test_media_only);
  g_test_add_func("/sdp/level/duplicate-mikey", test_duplicate_mikey);
  g_test_add_func("/sdp/parse/no-key-mgmt", test_no_key_mgmt);
  g_test_add_func("/sdp/parse/other-protocols", test_other_protocols);
  g_test_add_func("/sdp/parse/optional-space-and-blanks", test_optional_space_and_blanks);
  g_test_add_func("/sdp/parse/empty-lines", test_empty_lines);
  g_test_add_func("/sdp/parse/errors", test_errors);
  g_test_add_func("/sdp/set/media-level", test_insert_media_level);
  g_test_add_func("/sdp/set/line-ends", test_insert_line_ends);
  g_test_add_func("/sdp/media-count", test_media_count);
  g_test_add_func("/sdp/robust/truncations", test_truncations);
  g_test_add_func("/sdp/robust/random-mutations", test_random_mutations);
  g_test_add_func("/sdp/set-after-lone-cr", test_set_after_lone_cr);
  return g_test_run();
}
