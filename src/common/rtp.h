/* RTP (RFC 3550) headers and sequence numbers, for the user agent and the focus's media workers.
 *
 * Pure and allocation-free: a parse is a view into the caller's buffer, a build writes into
 * the caller's buffer, and the trackers are plain structs owned by one thread at a time.
 * All multi-byte fields are in host order here and network order on the wire. */
#pragma once

#include <glib.h>

#define RTP_VERSION 2
#define RTP_HEADER_LEN 12 /* fixed part: no CSRC, no extension */

typedef enum {
  RTP_OK = 0,
  RTP_ERR_SHORT,          /* fewer than 12 bytes */
  RTP_ERR_VERSION,        /* version field is not 2 */
  RTP_ERR_CSRC_TRUNCATED, /* the CSRC list runs past the end */
  RTP_ERR_EXT_TRUNCATED,  /* the header extension runs past the end */
  RTP_ERR_PADDING,        /* P set but the pad count is 0 or larger than the payload */
} RtpResult;

/* A parsed packet: pointers into the parsed buffer, valid while it is. */
typedef struct {
  guint8 pt; /* payload type, 0..127 */
  gboolean marker;
  guint16 seq;
  guint32 ts;
  guint32 ssrc;
  guint8 csrc_count; /* CSRC identifiers follow the fixed header: rtp_csrc() */
  gboolean has_extension;
  guint16 ext_profile; /* "defined by profile" field of the extension (0xBEDE, ...) */
  const guint8 *ext;   /* extension data (after its 4-byte header), ext_len bytes */
  gsize ext_len;
  gsize header_len; /* fixed header + CSRCs + extension */
  const guint8 *payload;
  gsize payload_len;  /* without padding */
  guint8 padding_len; /* 0 when P is clear */
} RtpPacket;

/* Parses and bounds-checks buf[0..len). Fills *pkt only on RTP_OK. */
RtpResult rtp_parse(const guint8 *buf, gsize len, RtpPacket *pkt);
/* Length of the header of buf (fixed + CSRCs + extension), 0 if it is not a valid RTP header
 * within len bytes. Unlike rtp_parse it does not look at padding (which SRTP encrypts). */
gsize rtp_header_len(const guint8 *buf, gsize len);
/* CSRC number i (< csrc_count) of a packet rtp_parse accepted. */
guint32 rtp_csrc(const guint8 *buf, guint i);
/* Short English description of r ("truncated CSRC list", ...). */
const char *rtp_result_str(RtpResult r);

/* RFC 5761 4: TRUE if buf looks like RTCP (second byte 192..223: SR, RR, SDES, BYE, APP,
 * feedback, XR), for a socket that carries both. */
gboolean rtp_is_rtcp(const guint8 *buf, gsize len);

/* What rtp_build writes: version 2, no padding, no extension, no CSRCs. */
typedef struct {
  guint8 pt;
  gboolean marker;
  guint16 seq;
  guint32 ts;
  guint32 ssrc;
} RtpHeader;

/* Writes the 12-byte header and then payload_len bytes of payload into buf (cap bytes) and
 * returns the packet length, or 0 if cap is too small or pt > 127. payload may be NULL: the
 * bytes at buf + RTP_HEADER_LEN are then left as they are (encode straight into the buffer). */
gsize rtp_build(guint8 *buf, gsize cap, const RtpHeader *h, const guint8 *payload,
                gsize payload_len);

/* ------------------------------------------------------------------ sequence numbers */

/* a - b as the shortest signed distance modulo 2^16 (wrap-aware): rtp_seq_diff(0, 65535) == 1. */
static inline gint32 rtp_seq_diff(guint16 a, guint16 b)
{
  return (gint16)(guint16)(a - b);
}

/* TRUE if a comes before b modulo 2^16 (RFC 1982 serial-number order). */
static inline gboolean rtp_seq_lt(guint16 a, guint16 b)
{
  return rtp_seq_diff(a, b) < 0;
}

/* RFC 3711 3.3.1: the 48-bit packet index (ROC << 16 | SEQ) a packet with sequence number seq
 * most likely has, given the highest index seen so far. An estimate below ROC 0 (seq far "ahead"
 * while still in ROC 0) is given ROC 0, as libsrtp does. */
guint64 rtp_index_estimate(guint64 highest_index, guint16 seq);

/* RFC 3711 3.3.1 literally: the ROC v to use for seq given the receiver's ROC and highest
 * sequence number s_l (modulo 2^32: ROC 0 may give 0xFFFFFFFF). */
guint32 rtp_roc_estimate(guint32 roc, guint16 s_l, guint16 seq);

/* RFC 3550 A.1 per-source sequence state: extended highest sequence number, packets received,
 * probation for new sources, restart after a large jump confirmed by two packets. */
typedef struct {
  guint16 max_seq;        /* highest sequence number seen */
  guint32 cycles;         /* wrap count << 16 */
  guint32 base_seq;       /* first sequence number counted */
  guint32 bad_seq;        /* last "bad" sequence number + 1 */
  guint32 probation;      /* sequential packets still needed before the source is valid */
  guint32 received;       /* packets counted (duplicates included, as A.1 does) */
  guint32 expected_prior; /* for rtcp_rx_stats_report(): values at the last report */
  guint32 received_prior;
  guint32 min_sequential; /* as given to rtp_seq_init() */
  gboolean started;       /* a first packet has been seen */
} RtpSeq;

typedef enum {
  RTP_SEQ_VALID = 0, /* counted (in order, a permissible gap, or late/duplicate) */
  RTP_SEQ_PROBATION, /* new source not yet confirmed: not counted */
  RTP_SEQ_BAD,       /* very large jump, not counted; the same jump again restarts counting */
  RTP_SEQ_RESTARTED, /* the jump was confirmed: counting restarted at this packet */
} RtpSeqResult;

/* min_sequential: packets in sequence needed before a new source counts (A.1 uses 2; 0 or 1
 * counts from the very first packet, right for an SRTP stream whose packets are authenticated). */
void rtp_seq_init(RtpSeq *s, guint min_sequential);
RtpSeqResult rtp_seq_update(RtpSeq *s, guint16 seq);
/* Extended highest sequence number received (cycles + max_seq). */
static inline guint32 rtp_seq_ext_max(const RtpSeq *s)
{
  return s->cycles + s->max_seq;
}
/* Packets expected since counting began: ext_max - base_seq + 1 (0 before the first count). */
guint32 rtp_seq_expected(const RtpSeq *s);
