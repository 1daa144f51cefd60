/* RTCP (RFC 3550 6.4, 6.5) as the user agent and the focus use it: a compound packet of one SR
 * or RR (report blocks, normally one) and an SDES with the CNAME; receiver statistics kept per
 * received RTP packet (A.1 sequence state, A.3 loss, A.8 jitter) that fill a report block.
 * Pure, allocation-free, one thread at a time per struct. */
#pragma once

#include <glib.h>

#include "rtp.h"

#define RTCP_PT_SR 200
#define RTCP_PT_RR 201
#define RTCP_PT_SDES 202
#define RTCP_PT_BYE 203
#define RTCP_MAX_BLOCKS 4 /* report blocks kept by rtcp_parse (more are skipped) */
#define RTCP_MAX_CNAME 255
/* Upper bound of rtcp_build's output: SR + RTCP_MAX_BLOCKS blocks + SDES with a full CNAME. */
#define RTCP_MAX_BUILD_LEN (28 + 24 * RTCP_MAX_BLOCKS + 12 + RTCP_MAX_CNAME + 3)

typedef struct {
  guint32 ssrc;           /* the source this block reports on */
  guint8 fraction_lost;   /* lost since the previous report, in 1/256 */
  gint32 cumulative_lost; /* 24-bit signed on the wire (clamped) */
  guint32 ext_highest_seq;
  guint32 jitter; /* interarrival jitter, timestamp units */
  guint32 lsr;    /* middle 32 bits of the NTP time of the last SR from ssrc, or 0 */
  guint32 dlsr;   /* delay since that SR, 1/65536 s */
} RtcpReportBlock;

typedef struct {
  guint32 ssrc;         /* of the sender of this report */
  gboolean is_sr;       /* SR (with the sender info below) or RR */
  guint64 ntp;          /* SR: wall clock, NTP 64-bit */
  guint32 rtp_ts;       /* SR: the same instant in RTP timestamp units */
  guint32 packet_count; /* SR: packets sent */
  guint32 octet_count;  /* SR: payload octets sent */
  guint n_blocks;       /* blocks[0..n_blocks) */
  RtcpReportBlock blocks[RTCP_MAX_BLOCKS];
  char cname[RTCP_MAX_CNAME + 1]; /* NUL-terminated; "" when there is none */
  gboolean bye;                   /* rtcp_parse: the compound carries a BYE */
} RtcpReport;

typedef enum {
  RTCP_OK = 0,
  RTCP_ERR_SHORT,   /* under 8 bytes, or a length field past the end */
  RTCP_ERR_VERSION, /* a packet whose version is not 2 */
  RTCP_ERR_FIRST,   /* the first packet is neither SR nor RR (RFC 3550 A.2) */
  RTCP_ERR_PADDING, /* padding outside the last packet, or a bad pad count */
  RTCP_ERR_REPORT,  /* an SR/RR shorter than its report count says */
  RTCP_ERR_SDES,    /* an SDES chunk or item runs past its packet */
} RtcpResult;

/* Writes the compound packet for r (SR if r->is_sr, else RR; n_blocks <= RTCP_MAX_BLOCKS; the
 * SDES CNAME chunk when cname is not empty) into buf. Returns its length, or 0 if cap is too
 * small or r is out of range. */
gsize rtcp_build(guint8 *buf, gsize cap, const RtcpReport *r);
/* Parses a compound packet (after SRTCP unprotect). Fills *r only on RTCP_OK. The CNAME is
 * the SDES item of the chunk whose SSRC is the sender's. Unknown packet types are skipped. */
RtcpResult rtcp_parse(const guint8 *buf, gsize len, RtcpReport *r);
const char *rtcp_result_str(RtcpResult res);

/* NTP 64-bit time of a Unix time in µs (g_get_real_time()), and its middle 32 bits (LSR). */
guint64 rtcp_ntp_from_unix_usec(gint64 usec);
static inline guint32 rtcp_ntp_middle(guint64 ntp)
{
  return (guint32)(ntp >> 16);
}
/* Round-trip time (RFC 3550 6.4.1) from a block about our stream received at NTP time now:
 * now - LSR - DLSR, in µs; -1 if the block has no LSR or the result is negative. */
gint64 rtcp_rtt_usec(const RtcpReportBlock *b, guint64 now_ntp);

/* ------------------------------------------------------------------ receiver statistics */

typedef struct {
  RtpSeq seq;
  guint32 clock_rate; /* Hz of the RTP timestamps (8000) */
  guint32 jitter_q4;  /* jitter * 16 (A.8 integer form) */
  guint32 transit;    /* previous packet's arrival - timestamp */
  gboolean have_transit;
  guint64 packets;         /* authenticated packets handed to rtcp_rx_update, all of them */
  guint64 octets;          /* their payload octets */
  guint32 lsr;             /* middle 32 bits of the last SR's NTP time, 0 if none */
  gint64 lsr_arrival_usec; /* when that SR arrived (the caller's clock) */
} RtcpRxStats;

/* min_sequential as for rtp_seq_init(): 1 for SRTP streams (authenticated), 2 per A.1. */
void rtcp_rx_init(RtcpRxStats *s, guint32 clock_rate, guint min_sequential);
/* One received RTP packet: sequence number, RTP timestamp, arrival time (µs on any monotonic
 * clock: only differences matter) and payload length. Returns the A.1 verdict. */
RtpSeqResult rtcp_rx_update(RtcpRxStats *s, guint16 seq, guint32 rtp_ts, gint64 arrival_usec,
                            gsize payload_len);
/* An SR from the source arrived at arrival_usec (same clock as rtcp_rx_report's now). */
void rtcp_rx_sr_received(RtcpRxStats *s, guint64 sr_ntp, gint64 arrival_usec);
/* Fills a report block about ssrc for a report sent at now_usec: fraction lost since the
 * previous call (which it starts a new interval for), cumulative lost, extended highest
 * sequence number, jitter, LSR/DLSR. */
void rtcp_rx_report(RtcpRxStats *s, guint32 ssrc, gint64 now_usec, RtcpReportBlock *b);
/* Cumulative packets lost (expected - received; negative with duplicates) and jitter in
 * timestamp units, without starting a new interval (for statistics displays). */
gint64 rtcp_rx_lost(const RtcpRxStats *s);
guint32 rtcp_rx_jitter(const RtcpRxStats *s);
