/* RTP headers and sequence numbers: build/parse round trips, refusal of every malformed or
 * truncated header (under ASan in the sanitizer build: no read past the end), wrap-aware
 * comparison, the RFC 3711 index estimate across 65535 -> 0, and RFC 3550 A.1 state. */
#include "common/rtp.h"

#include <string.h>

static void test_round_trip(void)
{
  guint8 payload[160];
  for (gsize i = 0; i < sizeof payload; i++)
    payload[i] = (guint8)(i * 7);
  static const RtpHeader hs[] = {
    { 0, FALSE, 0, 0, 0 },
    { 8, TRUE, 65535, 0xFFFFFFFF, 0xDEADBEEF },
    { 127, FALSE, 12345, 160, 1 },
    { 96, TRUE, 1, 0x80000000, 0x7FFFFFFF },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(hs); i++) {
    guint8 buf[200];
    gsize len = rtp_build(buf, sizeof buf, &hs[i], payload, sizeof payload);
    g_assert_cmpuint(len, ==, RTP_HEADER_LEN + sizeof payload);
    RtpPacket p;
    g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_OK);
    g_assert_cmpuint(p.pt, ==, hs[i].pt);
    g_assert_cmpint(p.marker, ==, hs[i].marker);
    g_assert_cmpuint(p.seq, ==, hs[i].seq);
    g_assert_cmpuint(p.ts, ==, hs[i].ts);
    g_assert_cmpuint(p.ssrc, ==, hs[i].ssrc);
    g_assert_cmpuint(p.csrc_count, ==, 0);
    g_assert_false(p.has_extension);
    g_assert_cmpuint(p.header_len, ==, RTP_HEADER_LEN);
    g_assert_true(p.payload == buf + RTP_HEADER_LEN);
    g_assert_cmpmem(p.payload, p.payload_len, payload, sizeof payload);
    g_assert_cmpuint(rtp_header_len(buf, len), ==, RTP_HEADER_LEN);
    g_assert_false(rtp_is_rtcp(buf, len));
  }

  /* Exact bytes of one header (RFC 3550 5.1 layout). */
  guint8 buf[RTP_HEADER_LEN];
  RtpHeader h = { 8, TRUE, 0x1234, 0xDECAFBAD, 0xCAFEBABE };
  g_assert_cmpuint(rtp_build(buf, sizeof buf, &h, NULL, 0), ==, 12);
  static const guint8 want[] = { 0x80, 0x88, 0x12, 0x34, 0xde, 0xca,
                                 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe };
  g_assert_cmpmem(buf, sizeof buf, want, sizeof want);
}

static void test_build_limits(void)
{
  guint8 buf[172];
  RtpHeader h = { 0, FALSE, 1, 2, 3 };
  guint8 payload[160] = { 0 };
  g_assert_cmpuint(rtp_build(buf, 171, &h, payload, 160), ==, 0); /* one byte short */
  g_assert_cmpuint(rtp_build(buf, 11, &h, NULL, 0), ==, 0);
  g_assert_cmpuint(rtp_build(buf, sizeof buf, &h, payload, 160), ==, 172);
  h.pt = 128;
  g_assert_cmpuint(rtp_build(buf, sizeof buf, &h, payload, 160), ==, 0);

  /* payload NULL: the caller encodes straight into the buffer, which is left alone */
  h.pt = 0;
  memset(buf, 0xAB, sizeof buf);
  g_assert_cmpuint(rtp_build(buf, sizeof buf, &h, NULL, 160), ==, 172);
  g_assert_cmpuint(buf[12], ==, 0xAB);
  g_assert_cmpuint(buf[171], ==, 0xAB);
}

/* V=2 P=1 X=1 CC=2, extension 0xBEDE with 2 words, 10 payload bytes, 4 padding bytes. */
static gsize full_packet(guint8 *buf)
{
  gsize n = 0;
  buf[n++] = 0x80 | 0x20 | 0x10 | 2;
  buf[n++] = 0x80 | 0;
  buf[n++] = 0x01;
  buf[n++] = 0x02; /* seq 0x0102 */
  for (int i = 0; i < 4; i++)
    buf[n++] = (guint8)(0x10 + i); /* ts */
  for (int i = 0; i < 4; i++)
    buf[n++] = (guint8)(0x20 + i); /* ssrc */
  for (int i = 0; i < 8; i++)
    buf[n++] = (guint8)(0x30 + i); /* 2 CSRCs */
  buf[n++] = 0xBE;
  buf[n++] = 0xDE;
  buf[n++] = 0x00;
  buf[n++] = 0x02; /* 2 words */
  for (int i = 0; i < 8; i++)
    buf[n++] = (guint8)(0x40 + i);
  for (int i = 0; i < 10; i++)
    buf[n++] = (guint8)(0x50 + i); /* payload */
  buf[n++] = 0;
  buf[n++] = 0;
  buf[n++] = 0;
  buf[n++] = 4; /* padding count */
  return n;
}

static void test_csrc_ext_padding(void)
{
  guint8 buf[64];
  gsize len = full_packet(buf);
  RtpPacket p;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_OK);
  g_assert_cmpuint(p.csrc_count, ==, 2);
  g_assert_cmpuint(rtp_csrc(buf, 0), ==, 0x30313233);
  g_assert_cmpuint(rtp_csrc(buf, 1), ==, 0x34353637);
  g_assert_true(p.has_extension);
  g_assert_cmphex(p.ext_profile, ==, 0xBEDE);
  g_assert_cmpuint(p.ext_len, ==, 8);
  g_assert_cmpuint(p.ext[0], ==, 0x40);
  g_assert_cmpuint(p.header_len, ==, 12 + 8 + 4 + 8);
  g_assert_cmpuint(p.padding_len, ==, 4);
  g_assert_cmpuint(p.payload_len, ==, 10);
  g_assert_cmpuint(p.payload[0], ==, 0x50);
  g_assert_cmpuint(p.payload[9], ==, 0x59);
  g_assert_true(p.marker);
  g_assert_cmpuint(p.seq, ==, 0x0102);
  g_assert_cmpuint(p.ts, ==, 0x10111213);
  g_assert_cmpuint(p.ssrc, ==, 0x20212223);
  g_assert_cmpuint(rtp_header_len(buf, len), ==, 32);
}

static void test_truncations(void)
{
  guint8 full[64];
  gsize len = full_packet(full);
  gsize hlen = 32;
  for (gsize n = 0; n < len; n++) {
    /* a fresh copy of exactly n bytes, so ASan sees any read past the end */
    guint8 *buf = g_memdup2(full, MAX(n, 1));
    RtpPacket p;
    RtpResult r = rtp_parse(buf, n, &p);
    RtpResult want = n < 12     ? RTP_ERR_SHORT
                     : n < 20   ? RTP_ERR_CSRC_TRUNCATED
                     : n < hlen ? RTP_ERR_EXT_TRUNCATED
                                : RTP_OK;
    if (n < hlen) {
      g_assert_cmpint(r, ==, want);
      g_assert_cmpuint(rtp_header_len(buf, n), ==, 0);
    } else {
      /* The header is complete; the last byte is read as a pad count: refused unless it
       * happens to fit the payload. */
      g_assert_cmpuint(rtp_header_len(buf, n), ==, hlen);
      guint8 pad = buf[n - 1];
      if (n == hlen || pad == 0 || pad > n - hlen)
        g_assert_cmpint(r, ==, RTP_ERR_PADDING);
      else
        g_assert_cmpint(r, ==, RTP_OK);
    }
    g_free(buf);
  }
}

static void test_malformed(void)
{
  guint8 buf[64];
  RtpPacket p;
  gsize len;

  /* every version but 2 */
  for (int v = 0; v < 4; v++) {
    len = full_packet(buf);
    buf[0] = (guint8)((buf[0] & 0x3f) | v << 6);
    g_assert_cmpint(rtp_parse(buf, len, &p), ==, v == 2 ? RTP_OK : RTP_ERR_VERSION);
    g_assert_cmpuint(rtp_header_len(buf, len), ==, v == 2 ? 32 : 0);
  }
  /* CC = 15 in a short packet */
  len = full_packet(buf);
  buf[0] |= 0x0f;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_CSRC_TRUNCATED);
  /* extension length far past the end */
  len = full_packet(buf);
  buf[22] = 0xFF;
  buf[23] = 0xFF;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_EXT_TRUNCATED);
  /* extension one word too long */
  len = full_packet(buf);
  buf[23] = 2 + 5; /* the 10 payload + 4 pad bytes hold 3 words, not 5 */
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_EXT_TRUNCATED);
  /* padding count 0 */
  len = full_packet(buf);
  buf[len - 1] = 0;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_PADDING);
  /* padding larger than the payload */
  len = full_packet(buf);
  buf[len - 1] = 15;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_PADDING);
  /* padding exactly the whole payload: valid, empty payload */
  buf[len - 1] = 14;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_OK);
  g_assert_cmpuint(p.payload_len, ==, 0);
  /* P set on a header-only packet */
  RtpHeader h = { 0, FALSE, 1, 2, 3 };
  len = rtp_build(buf, sizeof buf, &h, NULL, 0);
  buf[0] |= 0x20;
  g_assert_cmpint(rtp_parse(buf, len, &p), ==, RTP_ERR_PADDING);

  for (int r = RTP_OK; r <= RTP_ERR_PADDING; r++)
    g_assert_nonnull(rtp_result_str((RtpResult)r));
  g_assert_cmpstr(rtp_result_str(RTP_ERR_VERSION), ==, "RTP version is not 2");
}

static void test_is_rtcp(void)
{
  guint8 b[2] = { 0x80, 200 };
  g_assert_true(rtp_is_rtcp(b, 2));
  b[1] = 223;
  g_assert_true(rtp_is_rtcp(b, 2));
  b[1] = 224;
  g_assert_false(rtp_is_rtcp(b, 2));
  b[1] = 0x80 | 8; /* PCMA with marker */
  g_assert_false(rtp_is_rtcp(b, 2));
  g_assert_false(rtp_is_rtcp(b, 1));
}

static void test_seq_compare(void)
{
  g_assert_cmpint(rtp_seq_diff(0, 65535), ==, 1);
  g_assert_cmpint(rtp_seq_diff(65535, 0), ==, -1);
  g_assert_cmpint(rtp_seq_diff(5, 3), ==, 2);
  g_assert_cmpint(rtp_seq_diff(100, 65500), ==, 136);
  g_assert_true(rtp_seq_lt(65535, 0));
  g_assert_true(rtp_seq_lt(65000, 100));
  g_assert_false(rtp_seq_lt(0, 65535));
  g_assert_false(rtp_seq_lt(7, 7));
  g_assert_true(rtp_seq_lt(1, 2));
  g_assert_cmpint(rtp_seq_diff(32768, 0), ==, -32768); /* the ambiguous half-way point */
}

static void test_roc_estimate(void)
{
  /* RFC 3711 3.3.1 cases */
  g_assert_cmpuint(rtp_roc_estimate(0, 65534, 1), ==, 1);             /* wrapped forwards */
  g_assert_cmpuint(rtp_roc_estimate(1, 2, 65530), ==, 0);             /* late packet of ROC 0 */
  g_assert_cmpuint(rtp_roc_estimate(1, 40000, 40010), ==, 1);         /* ordinary */
  g_assert_cmpuint(rtp_roc_estimate(0, 100, 65000), ==, G_MAXUINT32); /* literal: ROC - 1 */
  g_assert_cmpuint(rtp_roc_estimate(7, 30000, 62769), ==, 6);
  g_assert_cmpuint(rtp_roc_estimate(7, 30000, 62768), ==, 7); /* exactly 2^15 ahead: same ROC */
  g_assert_cmpuint(rtp_roc_estimate(7, 50000, 17231), ==, 8);
  g_assert_cmpuint(rtp_roc_estimate(7, 50000, 17232), ==, 7);

  g_assert_cmphex(rtp_index_estimate(0xFFFE, 1), ==, 0x10001);
  g_assert_cmphex(rtp_index_estimate(0x10002, 65530), ==, 0x0FFFA);
  g_assert_cmphex(rtp_index_estimate(100, 65000), ==, 65000); /* no ROC -1: clamped to 0 */
  g_assert_cmphex(rtp_index_estimate(0x5FFFF, 0), ==, 0x60000);

  /* A sender crossing 65535 -> 0 three times, with reordering by up to 3 packets and loss:
   * the estimate always finds the true index. */
  guint64 highest = 64000;
  g_autoptr(GRand) rnd = g_rand_new_with_seed(42);
  for (guint64 idx = 64000; idx < 64000 + 3 * 65536; idx += 4) {
    guint64 batch[4] = { idx, idx + 1, idx + 2, idx + 3 };
    for (int i = 3; i > 0; i--) { /* shuffle */
      int j = g_rand_int_range(rnd, 0, i + 1);
      guint64 t = batch[i];
      batch[i] = batch[j];
      batch[j] = t;
    }
    for (int i = 0; i < 4; i++) {
      if (g_rand_int_range(rnd, 0, 20) == 0)
        continue; /* lost */
      guint64 est = rtp_index_estimate(highest, (guint16)batch[i]);
      if (est != batch[i])
        g_error("index %" G_GUINT64_FORMAT ": estimated %" G_GUINT64_FORMAT
                " from highest %" G_GUINT64_FORMAT,
                batch[i], est, highest);
      highest = MAX(highest, est);
    }
  }
}

static void test_seq_tracker_wrap(void)
{
  RtpSeq s;
  rtp_seq_init(&s, 1);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 0);
  /* counted from the first packet; crossing 65535 -> 0 */
  for (guint32 i = 0; i < 100; i++)
    g_assert_cmpint(rtp_seq_update(&s, (guint16)(65500 + i)), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(s.cycles, ==, 65536);
  g_assert_cmpuint(s.max_seq, ==, (guint16)(65500 + 99));
  g_assert_cmpuint(rtp_seq_ext_max(&s), ==, 65500 + 99);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 100);
  g_assert_cmpuint(s.received, ==, 100);
  /* a late packet from before the wrap: counted, no new cycle */
  g_assert_cmpint(rtp_seq_update(&s, 65530), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(s.cycles, ==, 65536);
  g_assert_cmpuint(s.received, ==, 101);
  /* a gap of 2,000 is permissible */
  g_assert_cmpint(rtp_seq_update(&s, (guint16)(65599 + 2000)), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 2100);
}

static void test_seq_tracker_probation_jump(void)
{
  RtpSeq s;
  rtp_seq_init(&s, 2); /* RFC 3550 A.1 MIN_SEQUENTIAL */
  g_assert_cmpint(rtp_seq_update(&s, 1000), ==, RTP_SEQ_PROBATION);
  g_assert_cmpint(rtp_seq_update(&s, 1001), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(s.base_seq, ==, 1001);
  g_assert_cmpuint(s.received, ==, 1);
  g_assert_cmpint(rtp_seq_update(&s, 1002), ==, RTP_SEQ_VALID);
  /* out-of-order during probation restarts it */
  RtpSeq q;
  rtp_seq_init(&q, 2);
  g_assert_cmpint(rtp_seq_update(&q, 10), ==, RTP_SEQ_PROBATION);
  g_assert_cmpint(rtp_seq_update(&q, 12), ==, RTP_SEQ_PROBATION);
  g_assert_cmpint(rtp_seq_update(&q, 13), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(q.base_seq, ==, 13);

  /* a jump of 20,000: bad once, then confirmed by the next packet -> restart */
  g_assert_cmpint(rtp_seq_update(&s, 21002), ==, RTP_SEQ_BAD);
  g_assert_cmpuint(s.received, ==, 2);
  g_assert_cmpint(rtp_seq_update(&s, 21003), ==, RTP_SEQ_RESTARTED);
  g_assert_cmpuint(s.base_seq, ==, 21003);
  g_assert_cmpuint(s.received, ==, 1);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 1);
  /* an unconfirmed jump does not disturb counting */
  g_assert_cmpint(rtp_seq_update(&s, 50000), ==, RTP_SEQ_BAD);
  g_assert_cmpint(rtp_seq_update(&s, 21004), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 2);
  /* duplicates are counted (A.1), so "lost" can go negative */
  g_assert_cmpint(rtp_seq_update(&s, 21004), ==, RTP_SEQ_VALID);
  g_assert_cmpuint(s.received, ==, 3);
  g_assert_cmpuint(rtp_seq_expected(&s), ==, 2);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtp/round-trip", test_round_trip);
  g_test_add_func("/rtp/build-limits", test_build_limits);
  g_test_add_func("/rtp/csrc-ext-padding", test_csrc_ext_padding);
  g_test_add_func("/rtp/truncations", test_truncations);
  g_test_add_func("/rtp/malformed", test_malformed);
  g_test_add_func("/rtp/is-rtcp", test_is_rtcp);
  g_test_add_func("/rtp/seq-compare", test_seq_compare);
  g_test_add_func("/rtp/roc-estimate", test_roc_estimate);
  g_test_add_func("/rtp/seq-tracker-wrap", test_seq_tracker_wrap);
  g_test_add_func("/rtp/seq-tracker-probation-jump", test_seq_tracker_probation_jump);
  return g_test_run();
}
