/* RTCP: SR and RR compound packets with SDES CNAME built, parsed back and checked byte by
 * byte; refusal of truncated and malformed compounds (every prefix under ASan); receiver
 * statistics on synthetic streams with known loss, wrap, duplicates and jitter (RFC 3550 A.3,
 * A.8); LSR/DLSR and the round-trip time. */
#include "common/rtcp.h"

#include <math.h>
#include <string.h>

static RtcpReport sample_sr(void)
{
  RtcpReport r;
  memset(&r, 0, sizeof r);
  r.ssrc = 0x11223344;
  r.is_sr = TRUE;
  r.ntp = 0xE1234567890ABCDEull;
  r.rtp_ts = 160000;
  r.packet_count = 1000;
  r.octet_count = 160000;
  r.n_blocks = 1;
  r.blocks[0] = (RtcpReportBlock){ .ssrc = 0xCAFEBABE,
                                   .fraction_lost = 25,
                                   .cumulative_lost = 100,
                                   .ext_highest_seq = 0x0001FFFF,
                                   .jitter = 37,
                                   .lsr = 0x45678901,
                                   .dlsr = 32768 };
  g_strlcpy(r.cname, "alice@example.org", sizeof r.cname);
  return r;
}

static void assert_report_equal(const RtcpReport *a, const RtcpReport *b)
{
  g_assert_cmpuint(a->ssrc, ==, b->ssrc);
  g_assert_cmpint(a->is_sr, ==, b->is_sr);
  g_assert_cmphex(a->ntp, ==, b->ntp);
  g_assert_cmpuint(a->rtp_ts, ==, b->rtp_ts);
  g_assert_cmpuint(a->packet_count, ==, b->packet_count);
  g_assert_cmpuint(a->octet_count, ==, b->octet_count);
  g_assert_cmpuint(a->n_blocks, ==, b->n_blocks);
  for (guint i = 0; i < a->n_blocks; i++) {
    const RtcpReportBlock *x = &a->blocks[i], *y = &b->blocks[i];
    g_assert_cmpuint(x->ssrc, ==, y->ssrc);
    g_assert_cmpuint(x->fraction_lost, ==, y->fraction_lost);
    g_assert_cmpint(x->cumulative_lost, ==, y->cumulative_lost);
    g_assert_cmpuint(x->ext_highest_seq, ==, y->ext_highest_seq);
    g_assert_cmpuint(x->jitter, ==, y->jitter);
    g_assert_cmpuint(x->lsr, ==, y->lsr);
    g_assert_cmpuint(x->dlsr, ==, y->dlsr);
  }
  g_assert_cmpstr(a->cname, ==, b->cname);
}

static void test_sr_round_trip(void)
{
  RtcpReport r = sample_sr();
  guint8 buf[RTCP_MAX_BUILD_LEN];
  gsize len = rtcp_build(buf, sizeof buf, &r);
  /* SR 28 + block 24 = 52; SDES 4 + 4 + 2 + 17 + END 1 = 28 */
  g_assert_cmpuint(len, ==, 52 + 28);
  static const guint8 head[] = { 0x81, 200,  0x00, 12,   0x11, 0x22, 0x33, 0x44,
                                 0xE1, 0x23, 0x45, 0x67, 0x89, 0x0A, 0xBC, 0xDE };
  g_assert_cmpmem(buf, sizeof head, head, sizeof head);
  static const guint8 block_head[] = { 0xCA, 0xFE, 0xBA, 0xBE, 25, 0, 0, 100 };
  g_assert_cmpmem(buf + 28, sizeof block_head, block_head, sizeof block_head);
  static const guint8 sdes[] = { 0x81, 202, 0, 6, 0x11, 0x22, 0x33, 0x44, 1, 17 };
  g_assert_cmpmem(buf + 52, sizeof sdes, sdes, sizeof sdes);
  g_assert_cmpmem(buf + 62, 17, "alice@example.org", 17);
  g_assert_cmpuint(buf[79], ==, 0); /* END */

  RtcpReport back;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  assert_report_equal(&back, &r);
  g_assert_false(back.bye);

  /* CNAME lengths around the 32-bit padding, up to the maximum */
  for (gsize n = 0; n <= RTCP_MAX_CNAME; n++) {
    memset(r.cname, 'a' + (int)(n % 26), n);
    r.cname[n] = '\0';
    len = rtcp_build(buf, sizeof buf, &r);
    g_assert_cmpuint(len % 4, ==, 0);
    g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
    g_assert_cmpstr(back.cname, ==, r.cname);
  }
}

static void test_rr_round_trip(void)
{
  RtcpReport r = sample_sr();
  r.is_sr = FALSE;
  r.ntp = 0;
  r.rtp_ts = r.packet_count = r.octet_count = 0;
  r.blocks[0].cumulative_lost = -5; /* duplicates */
  guint8 buf[RTCP_MAX_BUILD_LEN];
  gsize len = rtcp_build(buf, sizeof buf, &r);
  g_assert_cmpuint(len, ==, 32 + 28);
  g_assert_cmpuint(buf[1], ==, RTCP_PT_RR);
  g_assert_cmphex(buf[13], ==, 0xFF); /* -5 as 24-bit two's complement */
  g_assert_cmphex(buf[15], ==, 0xFB);
  RtcpReport back;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  assert_report_equal(&back, &r);

  /* no blocks, no CNAME: a bare 8-byte RR */
  r.n_blocks = 0;
  r.cname[0] = '\0';
  len = rtcp_build(buf, sizeof buf, &r);
  g_assert_cmpuint(len, ==, 8);
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  assert_report_equal(&back, &r);

  /* clamping of the 24-bit cumulative loss */
  r.n_blocks = 1;
  r.blocks[0].cumulative_lost = 100000000;
  len = rtcp_build(buf, sizeof buf, &r);
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  g_assert_cmpint(back.blocks[0].cumulative_lost, ==, 0x7FFFFF);
  r.blocks[0].cumulative_lost = -100000000;
  len = rtcp_build(buf, sizeof buf, &r);
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  g_assert_cmpint(back.blocks[0].cumulative_lost, ==, -0x800000);

  /* build limits */
  r.n_blocks = RTCP_MAX_BLOCKS + 1;
  g_assert_cmpuint(rtcp_build(buf, sizeof buf, &r), ==, 0);
  r = sample_sr();
  g_assert_cmpuint(rtcp_build(buf, 79, &r), ==, 0);
  g_assert_cmpuint(rtcp_build(buf, 80, &r), ==, 80);
}

/* Every prefix of a compound: a cut inside a packet is refused; a cut at the SR/SDES boundary
 * is a valid compound of one SR. */
static void test_truncations(void)
{
  RtcpReport r = sample_sr();
  guint8 full[RTCP_MAX_BUILD_LEN];
  gsize len = rtcp_build(full, sizeof full, &r);
  for (gsize n = 0; n < len; n++) {
    guint8 *cut = g_memdup2(full, MAX(n, 1));
    RtcpReport back;
    RtcpResult res = rtcp_parse(cut, n, &back);
    if (n == 52) {
      g_assert_cmpint(res, ==, RTCP_OK);
      g_assert_cmpstr(back.cname, ==, "");
    } else {
      g_assert_cmpint(res, ==, RTCP_ERR_SHORT);
    }
    g_free(cut);
  }
}

static void test_malformed(void)
{
  RtcpReport r = sample_sr(), back;
  guint8 buf[RTCP_MAX_BUILD_LEN];
  gsize len;

  len = rtcp_build(buf, sizeof buf, &r);
  buf[52] = 0x41; /* SDES version 1 */
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_VERSION);

  len = rtcp_build(buf, sizeof buf, &r);
  buf[0] = 0x01;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_VERSION);

  /* SDES first (RFC 3550 A.2: must start with SR or RR) */
  len = rtcp_build(buf, sizeof buf, &r);
  g_assert_cmpint(rtcp_parse(buf + 52, len - 52, &back), ==, RTCP_ERR_FIRST);

  /* padding bit on the first of two packets */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[0] |= 0x20;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_PADDING);

  /* padding on the last: count 0, too large, valid */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[52] |= 0x20;
  buf[len - 1] = 0;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_PADDING);
  buf[len - 1] = 200;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_PADDING);

  /* report count larger than the packet */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[0] = 0x82;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_REPORT);
  /* an SR too short for its sender info */
  guint8 tiny[8] = { 0x80, 200, 0, 1, 1, 2, 3, 4 };
  g_assert_cmpint(rtcp_parse(tiny, 8, &back), ==, RTCP_ERR_REPORT);
  guint8 zero_len[4] = { 0x80, 201, 0, 0 };
  g_assert_cmpint(rtcp_parse(zero_len, 4, &back), ==, RTCP_ERR_SHORT);

  /* SDES item running past its packet */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[61] = 40;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_SDES);
  /* SDES chunk without an END item */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[61] = 18; /* the item now covers the END octet exactly */
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_SDES);
  /* SDES claiming two chunks */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[52] = 0x82;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_ERR_SDES);

  for (int i = RTCP_OK; i <= RTCP_ERR_SDES; i++)
    g_assert_nonnull(rtcp_result_str((RtcpResult)i));
}

static void test_compound_extras(void)
{
  RtcpReport r = sample_sr(), back;
  guint8 buf[512];
  gsize len = rtcp_build(buf, sizeof buf, &r);
  /* append: an APP packet (skipped), an RR with 5 blocks (the first 3 fit), a BYE */
  guint8 app[12] = { 0x80, 204, 0, 2, 0x11, 0x22, 0x33, 0x44, 'm', 'k', 'y', 'c' };
  memcpy(buf + len, app, sizeof app);
  len += sizeof app;
  guint8 *rr = buf + len;
  rr[0] = 0x85;
  rr[1] = 201;
  rr[2] = 0;
  rr[3] = (guint8)(1 + 5 * 6);
  memset(rr + 4, 0, 4 + 5 * 24);
  for (int i = 0; i < 5; i++)
    rr[8 + 24 * i + 3] = (guint8)(i + 1); /* block SSRCs 1..5 */
  len += 8 + 5 * 24;
  guint8 bye[8] = { 0x81, 203, 0, 1, 0x11, 0x22, 0x33, 0x44 };
  memcpy(buf + len, bye, sizeof bye);
  len += sizeof bye;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  g_assert_true(back.bye);
  g_assert_cmpuint(back.n_blocks, ==, RTCP_MAX_BLOCKS);
  g_assert_cmpuint(back.blocks[0].ssrc, ==, 0xCAFEBABE);
  g_assert_cmpuint(back.blocks[1].ssrc, ==, 1);
  g_assert_cmpuint(back.blocks[3].ssrc, ==, 3);
  g_assert_cmpstr(back.cname, ==, "alice@example.org");

  /* an SDES whose CNAME is for another SSRC is not ours */
  len = rtcp_build(buf, sizeof buf, &r);
  buf[56] ^= 0xFF;
  g_assert_cmpint(rtcp_parse(buf, len, &back), ==, RTCP_OK);
  g_assert_cmpstr(back.cname, ==, "");
}

/* 1,000 packets from SEQ 65000 across the wrap, every 10th lost, steady 20 ms spacing. */
static void test_stats_loss(void)
{
  RtcpRxStats s;
  rtcp_rx_init(&s, 8000, 1);
  gint64 t0 = 5 * G_USEC_PER_SEC;
  for (guint32 i = 0; i < 1000; i++) {
    if (i % 10 == 5)
      continue;
    g_assert_cmpint(
        rtcp_rx_update(&s, (guint16)(65000 + i), 1000 + 160 * i, t0 + 20000 * (gint64)i, 160), ==,
        RTP_SEQ_VALID);
  }
  RtcpReportBlock b;
  rtcp_rx_report(&s, 0x1234, t0 + 20 * G_USEC_PER_SEC, &b);
  g_assert_cmpuint(b.ssrc, ==, 0x1234);
  g_assert_cmpuint(b.ext_highest_seq, ==, 65000 + 999);
  g_assert_cmpint(b.cumulative_lost, ==, 100);
  g_assert_cmpuint(b.fraction_lost, ==, 25); /* 100/1000 * 256 = 25.6 */
  g_assert_cmpuint(b.jitter, ==, 0);
  g_assert_cmpuint(b.lsr, ==, 0);
  g_assert_cmpuint(b.dlsr, ==, 0);
  g_assert_cmpuint(s.packets, ==, 900);
  g_assert_cmpuint(s.octets, ==, 900 * 160);
  g_assert_cmpint(rtcp_rx_lost(&s), ==, 100);

  /* next interval: 500 packets, none lost -> fraction 0, cumulative unchanged */
  for (guint32 i = 1000; i < 1500; i++)
    rtcp_rx_update(&s, (guint16)(65000 + i), 1000 + 160 * i, t0 + 20000 * (gint64)i, 160);
  rtcp_rx_report(&s, 0x1234, t0 + 30 * G_USEC_PER_SEC, &b);
  g_assert_cmpuint(b.fraction_lost, ==, 0);
  g_assert_cmpint(b.cumulative_lost, ==, 100);
  g_assert_cmpuint(b.ext_highest_seq, ==, 65000 + 1499);

  /* an interval losing half: 0.5 * 256 = 128 */
  for (guint32 i = 1500; i < 1600; i += 2)
    rtcp_rx_update(&s, (guint16)(65000 + i), 1000 + 160 * i, t0 + 20000 * (gint64)i, 160);
  rtcp_rx_report(&s, 0x1234, t0 + 40 * G_USEC_PER_SEC, &b);
  g_assert_cmpuint(b.fraction_lost, ==, 126); /* 49 of 99 expected: 49 * 256 / 99 */
  g_assert_cmpint(b.cumulative_lost, ==, 149);

  /* duplicates: more received than expected -> negative cumulative loss, fraction 0 */
  RtcpRxStats d;
  rtcp_rx_init(&d, 8000, 1);
  for (int k = 0; k < 2; k++)
    for (guint16 i = 0; i < 10; i++)
      rtcp_rx_update(&d, (guint16)(100 + i), 160u * i, 20000 * (gint64)i, 160);
  rtcp_rx_report(&d, 1, 0, &b);
  g_assert_cmpint(b.cumulative_lost, ==, -10);
  g_assert_cmpuint(b.fraction_lost, ==, 0);
}

/* Arrival times that alternate 0 / +3 ms around the 20 ms grid: |D| = 24 timestamp units
 * each packet, so the A.8 estimate converges to 24. Checked against the floating-point form. */
static void test_stats_jitter(void)
{
  RtcpRxStats s;
  rtcp_rx_init(&s, 8000, 1);
  double j = 0, prev_transit = 0;
  for (guint32 i = 0; i < 400; i++) {
    gint64 arrival =
        20000 * (gint64)i + (i % 2 ? 3000 : 0) + G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC;
    guint32 ts = 4242 + 160 * i;
    rtcp_rx_update(&s, (guint16)(7 + i), ts, arrival, 160);
    double transit = (double)(arrival % (1000 * G_USEC_PER_SEC)) * 8000 / 1e6 - ts;
    if (i > 0)
      j += (fabs(transit - prev_transit) - j) / 16;
    prev_transit = transit;
  }
  g_test_message("jitter %u (float %.2f)", rtcp_rx_jitter(&s), j);
  g_assert_cmpuint(rtcp_rx_jitter(&s), >=, 23);
  g_assert_cmpuint(rtcp_rx_jitter(&s), <=, 24);
  g_assert_cmpfloat(fabs(rtcp_rx_jitter(&s) - j), <, 1.0);
  RtcpReportBlock b;
  rtcp_rx_report(&s, 9, 0, &b);
  g_assert_cmpuint(b.jitter, ==, rtcp_rx_jitter(&s));
}

static void test_lsr_rtt(void)
{
  RtcpRxStats s;
  rtcp_rx_init(&s, 8000, 1);
  rtcp_rx_update(&s, 1, 0, 0, 160);
  guint64 sr_ntp = rtcp_ntp_from_unix_usec(G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC);
  rtcp_rx_sr_received(&s, sr_ntp, 10 * G_USEC_PER_SEC);
  RtcpReportBlock b;
  rtcp_rx_report(&s, 1, 10 * G_USEC_PER_SEC + 500000, &b);
  g_assert_cmpuint(b.lsr, ==, (guint32)(sr_ntp >> 16));
  g_assert_cmpuint(b.dlsr, ==, 32768); /* 0.5 s in 1/65536 s */

  /* the SR's sender gets the block back 0.58 s after it sent the SR: RTT = 80 ms */
  guint64 now = rtcp_ntp_from_unix_usec(G_GINT64_CONSTANT(1700000000) * G_USEC_PER_SEC + 580000);
  gint64 rtt = rtcp_rtt_usec(&b, now);
  g_assert_cmpint(ABS(rtt - 80000), <, 50);
  b.lsr = 0;
  g_assert_cmpint(rtcp_rtt_usec(&b, now), ==, -1);
  /* NTP of the Unix epoch: 2208988800 s */
  g_assert_cmphex(rtcp_ntp_from_unix_usec(0), ==, (guint64)2208988800u << 32);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtcp/sr-round-trip", test_sr_round_trip);
  g_test_add_func("/rtcp/rr-round-trip", test_rr_round_trip);
  g_test_add_func("/rtcp/truncations", test_truncations);
  g_test_add_func("/rtcp/malformed", test_malformed);
  g_test_add_func("/rtcp/compound-extras", test_compound_extras);
  g_test_add_func("/rtcp/stats-loss", test_stats_loss);
  g_test_add_func("/rtcp/stats-jitter", test_stats_jitter);
  g_test_add_func("/rtcp/lsr-rtt", test_lsr_rtt);
  return g_test_run();
}
