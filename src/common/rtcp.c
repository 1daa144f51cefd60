/* RTCP SR/RR + SDES CNAME build and parse (RFC 3550 6.4, 6.5, A.2), receiver statistics
 * (A.1, A.3, A.8); see rtcp.h. Parsing is bounds-checked packet by packet and item by item. */
#include "rtcp.h"

#include <string.h>

#include "mikey/ntp.h"

#define RTCP_SDES_END 0
#define RTCP_SDES_CNAME 1
#define RTCP_LOST_MAX 0x7FFFFF
#define RTCP_LOST_MIN (-0x800000)
#define RTCP_JITTER_MAX_STEP (1 << 24) /* a transit change beyond this is a clock jump */

static inline guint16 rd16(const guint8 *p)
{
  return (guint16)(p[0] << 8 | p[1]);
}

static inline guint32 rd32(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static inline void wr16(guint8 *p, guint16 v)
{
  p[0] = (guint8)(v >> 8);
  p[1] = (guint8)v;
}

static inline void wr32(guint8 *p, guint32 v)
{
  p[0] = (guint8)(v >> 24);
  p[1] = (guint8)(v >> 16);
  p[2] = (guint8)(v >> 8);
  p[3] = (guint8)v;
}

static inline gsize align4(gsize n)
{
  return (n + 3) & ~(gsize)3;
}

/* ------------------------------------------------------------------ build */

static void block_write(guint8 *p, const RtcpReportBlock *b)
{
  gint32 lost = CLAMP(b->cumulative_lost, RTCP_LOST_MIN, RTCP_LOST_MAX);
  wr32(p, b->ssrc);
  wr32(p + 4, (guint32)b->fraction_lost << 24 | ((guint32)lost & 0xFFFFFF));
  wr32(p + 8, b->ext_highest_seq);
  wr32(p + 12, b->jitter);
  wr32(p + 16, b->lsr);
  wr32(p + 20, b->dlsr);
}

gsize rtcp_build(guint8 *buf, gsize cap, const RtcpReport *r)
{
  if (r->n_blocks > RTCP_MAX_BLOCKS)
    return 0;
  gsize cname_len = strnlen(r->cname, sizeof r->cname);
  if (cname_len > RTCP_MAX_CNAME)
    return 0;
  gsize report_len = (r->is_sr ? 28 : 8) + 24 * r->n_blocks;
  gsize sdes_len = cname_len ? align4(4 + 4 + 2 + cname_len + 1) : 0;
  if (cap < report_len + sdes_len)
    return 0;

  guint8 *p = buf;
  p[0] = (guint8)(RTP_VERSION << 6 | r->n_blocks);
  p[1] = r->is_sr ? RTCP_PT_SR : RTCP_PT_RR;
  wr16(p + 2, (guint16)(report_len / 4 - 1));
  wr32(p + 4, r->ssrc);
  p += 8;
  if (r->is_sr) {
    wr32(p, (guint32)(r->ntp >> 32));
    wr32(p + 4, (guint32)r->ntp);
    wr32(p + 8, r->rtp_ts);
    wr32(p + 12, r->packet_count);
    wr32(p + 16, r->octet_count);
    p += 20;
  }
  for (guint i = 0; i < r->n_blocks; i++, p += 24)
    block_write(p, &r->blocks[i]);

  if (sdes_len) {
    p[0] = RTP_VERSION << 6 | 1; /* one chunk */
    p[1] = RTCP_PT_SDES;
    wr16(p + 2, (guint16)(sdes_len / 4 - 1));
    wr32(p + 4, r->ssrc);
    p[8] = RTCP_SDES_CNAME;
    p[9] = (guint8)cname_len;
    memcpy(p + 10, r->cname, cname_len);
    /* the END item, then zeros to the 32-bit boundary */
    memset(p + 10 + cname_len, 0, sdes_len - (10 + cname_len));
  }
  return report_len + sdes_len;
}

/* ------------------------------------------------------------------ parse */

static void block_read(const guint8 *p, RtcpReportBlock *b)
{
  guint32 w = rd32(p + 4);
  b->ssrc = rd32(p);
  b->fraction_lost = (guint8)(w >> 24);
  b->cumulative_lost = (gint32)((w & 0xFFFFFF) ^ 0x800000) - 0x800000; /* sign-extend 24 bits */
  b->ext_highest_seq = rd32(p + 8);
  b->jitter = rd32(p + 12);
  b->lsr = rd32(p + 16);
  b->dlsr = rd32(p + 20);
}

/* The SDES packet body p[0..len) with count chunks; copies the CNAME of ssrc's chunk. */
static RtcpResult sdes_parse(const guint8 *p, gsize len, guint count, guint32 ssrc, RtcpReport *r)
{
  gsize pos = 4; /* after the common header; chunks are 32-bit aligned within the packet */
  for (guint c = 0; c < count; c++) {
    if (len - pos < 4)
      return RTCP_ERR_SDES;
    guint32 chunk_ssrc = rd32(p + pos);
    pos += 4;
    for (;;) {
      if (pos >= len)
        return RTCP_ERR_SDES; /* no END item */
      guint8 type = p[pos];
      if (type == RTCP_SDES_END) {
        pos = align4(pos + 1);
        if (pos > len)
          return RTCP_ERR_SDES;
        break;
      }
      if (len - pos < 2 || len - pos - 2 < p[pos + 1])
        return RTCP_ERR_SDES;
      guint8 ilen = p[pos + 1];
      if (type == RTCP_SDES_CNAME && chunk_ssrc == ssrc && r->cname[0] == '\0') {
        memcpy(r->cname, p + pos + 2, ilen);
        r->cname[ilen] = '\0';
      }
      pos += 2 + (gsize)ilen;
    }
  }
  return RTCP_OK;
}

RtcpResult rtcp_parse(const guint8 *buf, gsize len, RtcpReport *out)
{
  RtcpReport r;
  memset(&r, 0, sizeof r);
  if (len < 8)
    return RTCP_ERR_SHORT;
  gsize pos = 0;
  gboolean first = TRUE;
  while (pos < len) {
    if (len - pos < 4)
      return RTCP_ERR_SHORT;
    const guint8 *p = buf + pos;
    if ((p[0] >> 6) != RTP_VERSION)
      return RTCP_ERR_VERSION;
    guint8 pt = p[1];
    guint count = p[0] & 0x1f;
    gsize plen = 4 * ((gsize)rd16(p + 2) + 1);
    if (plen > len - pos)
      return RTCP_ERR_SHORT;
    gsize body = plen; /* without padding */
    if (p[0] & 0x20) {
      if (pos + plen != len)
        return RTCP_ERR_PADDING; /* RFC 3550 A.2: only the last packet may be padded */
      guint8 pad = p[plen - 1];
      if (pad == 0 || pad > plen - 4)
        return RTCP_ERR_PADDING;
      body = plen - pad;
    }
    if (first && pt != RTCP_PT_SR && pt != RTCP_PT_RR)
      return RTCP_ERR_FIRST;

    if (pt == RTCP_PT_SR || pt == RTCP_PT_RR) {
      gsize info = pt == RTCP_PT_SR ? 20 : 0;
      if (body < 8 + info + 24 * (gsize)count)
        return RTCP_ERR_REPORT;
      if (first) {
        r.ssrc = rd32(p + 4);
        r.is_sr = pt == RTCP_PT_SR;
        if (r.is_sr) {
          r.ntp = (guint64)rd32(p + 8) << 32 | rd32(p + 12);
          r.rtp_ts = rd32(p + 16);
          r.packet_count = rd32(p + 20);
          r.octet_count = rd32(p + 24);
        }
      }
      /* further RRs of the same compound carry more blocks (RFC 3550 6.4.2) */
      for (guint i = 0; i < count && r.n_blocks < RTCP_MAX_BLOCKS; i++)
        block_read(p + 8 + info + 24 * i, &r.blocks[r.n_blocks++]);
    } else if (pt == RTCP_PT_SDES) {
      RtcpResult res = sdes_parse(p, body, count, r.ssrc, &r);
      if (res != RTCP_OK)
        return res;
    } else if (pt == RTCP_PT_BYE) {
      r.bye = TRUE;
    }
    pos += plen;
    first = FALSE;
  }
  *out = r;
  return RTCP_OK;
}

const char *rtcp_result_str(RtcpResult res)
{
  switch (res) {
  case RTCP_OK:
    return "valid";
  case RTCP_ERR_SHORT:
    return "RTCP packet truncated";
  case RTCP_ERR_VERSION:
    return "RTCP version is not 2";
  case RTCP_ERR_FIRST:
    return "compound RTCP does not start with SR or RR";
  case RTCP_ERR_PADDING:
    return "invalid RTCP padding";
  case RTCP_ERR_REPORT:
    return "SR/RR shorter than its report count";
  case RTCP_ERR_SDES:
    return "malformed SDES";
  }
  return "unknown RTCP error";
}

guint64 rtcp_ntp_from_unix_usec(gint64 usec)
{
  return mikey_ntp_from_unix_usec(usec);
}

gint64 rtcp_rtt_usec(const RtcpReportBlock *b, guint64 now_ntp)
{
  if (b->lsr == 0)
    return -1;
  gint32 rtt = (gint32)(rtcp_ntp_middle(now_ntp) - b->lsr - b->dlsr); /* 1/65536 s */
  if (rtt < 0)
    return -1;
  return (gint64)rtt * G_USEC_PER_SEC / 65536;
}

/* ------------------------------------------------------------------ receiver statistics */

void rtcp_rx_init(RtcpRxStats *s, guint32 clock_rate, guint min_sequential)
{
  memset(s, 0, sizeof *s);
  rtp_seq_init(&s->seq, min_sequential);
  s->clock_rate = clock_rate;
}

/* Arrival time in timestamp units, modulo 2^32 (only differences are used). */
static guint32 arrival_ts(gint64 usec, guint32 rate)
{
  gint64 sec = usec / G_USEC_PER_SEC, rem = usec % G_USEC_PER_SEC;
  return (guint32)((guint64)sec * rate + (guint64)(rem * (gint64)rate / G_USEC_PER_SEC));
}

RtpSeqResult rtcp_rx_update(RtcpRxStats *s, guint16 seq, guint32 rtp_ts, gint64 arrival_usec,
                            gsize payload_len)
{
  s->packets++;
  s->octets += payload_len;
  RtpSeqResult res = rtp_seq_update(&s->seq, seq);
  if (res == RTP_SEQ_RESTARTED)
    s->have_transit = FALSE;
  if (res != RTP_SEQ_VALID && res != RTP_SEQ_RESTARTED)
    return res;
  /* A.8: J += (|D| - J) / 16, kept as 16 J in integers. */
  guint32 transit = arrival_ts(arrival_usec, s->clock_rate) - rtp_ts;
  if (s->have_transit) {
    gint32 d = (gint32)(transit - s->transit);
    guint32 ad = d < 0 ? (guint32) - (gint64)d : (guint32)d;
    ad = MIN(ad, (guint32)RTCP_JITTER_MAX_STEP);
    s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
  }
  s->transit = transit;
  s->have_transit = TRUE;
  return res;
}

void rtcp_rx_sr_received(RtcpRxStats *s, guint64 sr_ntp, gint64 arrival_usec)
{
  s->lsr = rtcp_ntp_middle(sr_ntp);
  s->lsr_arrival_usec = arrival_usec;
}

gint64 rtcp_rx_lost(const RtcpRxStats *s)
{
  return (gint64)rtp_seq_expected(&s->seq) - (gint64)s->seq.received;
}

guint32 rtcp_rx_jitter(const RtcpRxStats *s)
{
  return s->jitter_q4 >> 4;
}

void rtcp_rx_report(RtcpRxStats *s, guint32 ssrc, gint64 now_usec, RtcpReportBlock *b)
{
  RtpSeq *q = &s->seq;
  guint32 expected = rtp_seq_expected(q);
  /* A.3 */
  guint32 expected_interval = expected - q->expected_prior;
  guint32 received_interval = q->received - q->received_prior;
  q->expected_prior = expected;
  q->received_prior = q->received;
  gint64 lost_interval = (gint64)expected_interval - (gint64)received_interval;

  memset(b, 0, sizeof *b);
  b->ssrc = ssrc;
  if (expected_interval != 0 && lost_interval > 0)
    b->fraction_lost = (guint8)MIN(255, (lost_interval << 8) / expected_interval);
  b->cumulative_lost = (gint32)CLAMP(rtcp_rx_lost(s), RTCP_LOST_MIN, RTCP_LOST_MAX);
  b->ext_highest_seq = q->started && !q->probation ? rtp_seq_ext_max(q) : 0;
  b->jitter = rtcp_rx_jitter(s);
  if (s->lsr != 0) {
    b->lsr = s->lsr;
    gint64 delay = MAX(now_usec - s->lsr_arrival_usec, 0);
    b->dlsr = (guint32)MIN(delay * 65536 / G_USEC_PER_SEC, (gint64)G_MAXUINT32);
  }
}
