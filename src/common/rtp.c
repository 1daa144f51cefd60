/* RTP headers (RFC 3550 5.1) and sequence-number arithmetic (RFC 3550 A.1, RFC 3711 3.3.1).
 * Input comes from the network: every length is checked before it is read. */
#include "rtp.h"

#include <string.h>

#define RTP_SEQ_MOD (1u << 16)
#define RTP_MAX_DROPOUT 3000
#define RTP_MAX_MISORDER 100

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

/* The header length (fixed + CSRCs + extension) in *hlen, or why there is none. */
static RtpResult header_len(const guint8 *buf, gsize len, gsize *hlen)
{
  if (len < RTP_HEADER_LEN)
    return RTP_ERR_SHORT;
  if ((buf[0] >> 6) != RTP_VERSION)
    return RTP_ERR_VERSION;
  gsize n = RTP_HEADER_LEN + 4u * (buf[0] & 0x0f);
  if (n > len)
    return RTP_ERR_CSRC_TRUNCATED;
  if (buf[0] & 0x10) {
    if (n + 4 > len)
      return RTP_ERR_EXT_TRUNCATED;
    gsize words = rd16(buf + n + 2);
    n += 4 + 4 * words;
    if (n > len)
      return RTP_ERR_EXT_TRUNCATED;
  }
  *hlen = n;
  return RTP_OK;
}

gsize rtp_header_len(const guint8 *buf, gsize len)
{
  gsize n = 0;
  return header_len(buf, len, &n) == RTP_OK ? n : 0;
}

RtpResult rtp_parse(const guint8 *buf, gsize len, RtpPacket *pkt)
{
  gsize hlen = 0;
  RtpResult r = header_len(buf, len, &hlen);
  if (r != RTP_OK)
    return r;
  gsize payload_len = len - hlen;
  guint8 pad = 0;
  if (buf[0] & 0x20) {
    /* RFC 3550 5.1: the last octet counts the padding octets, itself included. */
    if (payload_len == 0)
      return RTP_ERR_PADDING;
    pad = buf[len - 1];
    if (pad == 0 || pad > payload_len)
      return RTP_ERR_PADDING;
  }
  pkt->csrc_count = buf[0] & 0x0f;
  pkt->marker = (buf[1] & 0x80) != 0;
  pkt->pt = buf[1] & 0x7f;
  pkt->seq = rd16(buf + 2);
  pkt->ts = rd32(buf + 4);
  pkt->ssrc = rd32(buf + 8);
  pkt->has_extension = (buf[0] & 0x10) != 0;
  if (pkt->has_extension) {
    const guint8 *x = buf + RTP_HEADER_LEN + 4u * pkt->csrc_count;
    pkt->ext_profile = rd16(x);
    pkt->ext = x + 4;
    pkt->ext_len = 4u * rd16(x + 2);
  } else {
    pkt->ext_profile = 0;
    pkt->ext = NULL;
    pkt->ext_len = 0;
  }
  pkt->header_len = hlen;
  pkt->payload = buf + hlen;
  pkt->payload_len = payload_len - pad;
  pkt->padding_len = pad;
  return RTP_OK;
}

guint32 rtp_csrc(const guint8 *buf, guint i)
{
  return rd32(buf + RTP_HEADER_LEN + 4u * i);
}

const char *rtp_result_str(RtpResult r)
{
  switch (r) {
  case RTP_OK:
    return "valid";
  case RTP_ERR_SHORT:
    return "shorter than the 12-byte RTP header";
  case RTP_ERR_VERSION:
    return "RTP version is not 2";
  case RTP_ERR_CSRC_TRUNCATED:
    return "CSRC list truncated";
  case RTP_ERR_EXT_TRUNCATED:
    return "header extension truncated";
  case RTP_ERR_PADDING:
    return "invalid padding count";
  }
  return "unknown RTP error";
}

gboolean rtp_is_rtcp(const guint8 *buf, gsize len)
{
  return len >= 2 && buf[1] >= 192 && buf[1] <= 223;
}

gsize rtp_build(guint8 *buf, gsize cap, const RtpHeader *h, const guint8 *payload,
                gsize payload_len)
{
  if (h->pt > 127 || cap < RTP_HEADER_LEN || payload_len > cap - RTP_HEADER_LEN)
    return 0;
  buf[0] = RTP_VERSION << 6;
  buf[1] = (guint8)((h->marker ? 0x80 : 0) | h->pt);
  wr16(buf + 2, h->seq);
  wr32(buf + 4, h->ts);
  wr32(buf + 8, h->ssrc);
  if (payload != NULL && payload_len > 0)
    memmove(buf + RTP_HEADER_LEN, payload, payload_len);
  return RTP_HEADER_LEN + payload_len;
}

/* ------------------------------------------------------------------ sequence numbers */

guint32 rtp_roc_estimate(guint32 roc, guint16 s_l, guint16 seq)
{
  if (s_l < 0x8000) {
    if (seq > s_l && seq - s_l > 0x8000)
      return roc - 1;
    return roc;
  }
  if (s_l - 0x8000 > seq)
    return roc + 1;
  return roc;
}

guint64 rtp_index_estimate(guint64 highest_index, guint16 seq)
{
  guint32 roc = (guint32)(highest_index >> 16);
  guint16 s_l = (guint16)highest_index;
  guint32 v = rtp_roc_estimate(roc, s_l, seq);
  if (roc == 0 && v == G_MAXUINT32)
    v = 0;
  return (guint64)v << 16 | seq;
}

void rtp_seq_init(RtpSeq *s, guint min_sequential)
{
  memset(s, 0, sizeof *s);
  s->min_sequential = min_sequential;
}

/* A.1 init_seq(): counting starts at seq. */
static void seq_restart(RtpSeq *s, guint16 seq)
{
  s->base_seq = seq;
  s->max_seq = seq;
  s->bad_seq = RTP_SEQ_MOD + 1; /* so seq == bad_seq is false */
  s->cycles = 0;
  s->received = 0;
  s->received_prior = 0;
  s->expected_prior = 0;
}

RtpSeqResult rtp_seq_update(RtpSeq *s, guint16 seq)
{
  if (!s->started) {
    s->started = TRUE;
    seq_restart(s, seq);
    if (s->min_sequential <= 1) {
      s->probation = 0;
      s->received = 1;
      return RTP_SEQ_VALID;
    }
    s->max_seq = (guint16)(seq - 1);
    s->probation = s->min_sequential;
  }

  guint16 udelta = (guint16)(seq - s->max_seq);
  if (s->probation) {
    if (seq == (guint16)(s->max_seq + 1)) {
      s->probation--;
      s->max_seq = seq;
      if (s->probation == 0) {
        seq_restart(s, seq);
        s->received++;
        return RTP_SEQ_VALID;
      }
    } else {
      s->probation = s->min_sequential - 1;
      s->max_seq = seq;
    }
    return RTP_SEQ_PROBATION;
  }
  if (udelta < RTP_MAX_DROPOUT) {
    /* in order, with a permissible gap */
    if (seq < s->max_seq)
      s->cycles += RTP_SEQ_MOD;
    s->max_seq = seq;
  } else if (udelta <= RTP_SEQ_MOD - RTP_MAX_MISORDER) {
    /* a very large jump: restart only if the next packet follows it */
    if (seq == s->bad_seq) {
      seq_restart(s, seq);
      s->received++;
      return RTP_SEQ_RESTARTED;
    }
    s->bad_seq = (seq + 1u) & (RTP_SEQ_MOD - 1);
    return RTP_SEQ_BAD;
  }
  /* else: duplicate or reordered, counted as A.1 does */
  s->received++;
  return RTP_SEQ_VALID;
}

guint32 rtp_seq_expected(const RtpSeq *s)
{
  if (!s->started || s->probation)
    return 0;
  return rtp_seq_ext_max(s) - s->base_seq + 1;
}
