/* One participant leg inside a media worker: its SRTP contexts (inbound with the profile 8
 * re-key window, outbound with the delayed switch), the receive path (SRTP unprotect -> RTP
 * parse -> symmetric-RTP latch -> receiver statistics -> jitter buffer), the frame it is sent
 * each tick (RTP build -> SRTP protect), and its SRTCP reports.
 *
 * Owned by one worker thread; it does no I/O itself (the worker reads and writes the sockets),
 * so the fuzz harness and the tests drive it directly. The main thread sees only the
 * MediaLegShared part. */
#pragma once

#include "focus/jitter.h"
#include "focus/media.h"
#include "focus/mixer.h"

#include "common/rtcp.h"
#include "common/srtpctx.h"

#include <stddef.h>
#include <sys/socket.h>

#define FOCUS_MEDIA_MAX_PACKET 1500 /* larger datagrams are counted as oversized and dropped */
#define MEDIA_LEG_BUF (FOCUS_MEDIA_MAX_PACKET + SRTPCTX_MAX_RTCP_OVERHEAD)

/* What the main thread and the worker share about a leg (reference-counted: one reference
 * each; the count is a C11-style atomic, so that ThreadSanitizer sees it). */
typedef struct {
  gint refs;                /* atomic */
  gint removed;             /* atomic: set by the main thread when it removes the leg */
  FocusMediaLegStats stats; /* the worker's last snapshot, under the worker's stats lock */
} MediaLegShared;

MediaLegShared *media_leg_shared_new(void);
MediaLegShared *media_leg_shared_ref(MediaLegShared *s);
void media_leg_shared_unref(MediaLegShared *s);

/* One crypto session as the worker keeps it (the key bytes are wiped when dropped). */
typedef struct {
  SrtpCtxPolicy policy;
  gboolean have_key; /* FALSE in a CSB update that keeps the key */
  guint8 key[SRTPCTX_KEY_LEN];
  guint8 salt[14];
  gsize salt_len;
  guint32 ssrc;
  guint32 roc;
  guint16 seq;
} MediaLegCrypto;

typedef enum {
  MEDIA_LEG_KEYS_SET = 0, /* initial keys, or a profile 8 re-key on a leg with keys */
  MEDIA_LEG_KEYS_CSB,     /* CSB update: SSRC/policy, keys unchanged */
} MediaLegKeyMode;

typedef struct {
  MediaLegKeyMode mode;
  MediaLegCrypto in, out;
  guint8 pt; /* FOCUS_MEDIA_PT_UNCHANGED: keep */
  gboolean have_peer;
  struct sockaddr_storage peer_rtp, peer_rtcp;
  socklen_t peer_len;
} MediaLegKeys;

void media_leg_keys_wipe(MediaLegKeys *k);

typedef struct _MediaLeg MediaLeg;

typedef struct {
  MediaLeg *leg;
  int fd;
  gboolean rtcp;
  guint32 pass;  /* the worker's receive pass that last read it */
  guint32 reads; /* datagrams read in that pass */
} MediaLegSocket;

/* The counters the leg keeps itself (the jitter buffer and RTCP statistics keep theirs). */
typedef struct {
  guint64 packets_in, bytes_in, packets_out, bytes_out, rtcp_in, rtcp_out;
  guint64 decrypt_failed, replayed, malformed, oversized, unknown_pt, no_key, send_failed;
  guint rekeys, csb_updates;
  guint64 in_previous_key, ssrc_changes;
} MediaLegCounters;

/* The members a packet or a tick touches come first, packed into a few cache lines, and the
 * leg is allocated on a cache-line boundary: a worker walks thousands of legs per tick, and by
 * the time it comes back to one, that leg's state has left the caches (at 1,800 legs the hot
 * members of a leg cost about 6 lines instead of 12). Keys, SDP addresses and reports follow. */
struct _MediaLeg {
  /* --- hot: every packet, every tick */
  guint64 id;
  gpointer conf; /* the worker's conference */
  MediaLegShared *shared;
  MediaLegSocket rtp, rtcp;
  gboolean removed; /* worker side: contexts gone, sockets closed, waiting to be freed */
  gboolean dirty;   /* counters changed since the last snapshot */
  gboolean has_keys;
  gboolean tx_switch_pending; /* a re-key's outbound key waits for the peer (profile 8) */
  SrtpRx rx;
  SrtpCtx *tx;

  /* where media goes */
  gboolean have_dst, latched_rtp, latched_rtcp;
  socklen_t dst_len;
  guint8 pt;
  guint16 rtp_port;

  /* the participant's stream */
  guint32 in_ssrc;   /* last seen (or expected): for statistics */
  guint32 seen_ssrc; /* last seen, valid when in_seen */
  gboolean in_seen;

  /* the focus's stream */
  gboolean tx_started;
  guint32 tx_ssrc;
  guint32 tx_ts_base;
  guint32 rtcp_phase;
  guint64 tx_index; /* ROC << 16 | SEQ of the next packet */
  guint64 tx_frame0, tx_last_frame;
  gint64 last_rx; /* last authenticated audio packet (worker clock, µs) */

  MediaLegCounters c;
  struct sockaddr_storage dst_rtp; /* (an IPv4/IPv6 address uses its first 16/28 bytes) */
  RtcpRxStats rxs;
  FocusJitter jb;
  FocusMixLeg mix;

  /* --- cold: keys (kept for CSB updates), re-key, addresses, reports */
  MediaLegCrypto in_keys, out_keys;
  MediaLegCrypto tx_next;
  gint64 tx_switch_deadline;
  gboolean have_sdp;
  struct sockaddr_storage dst_rtcp;
  struct sockaddr_storage sdp_rtp, sdp_rtcp; /* what the SDP said */
  char dst_str[64]; /* dst_rtp as text, for snapshots ("" until formatted) */

  /* the participant's view of our stream (its last report block about it) */
  gboolean have_remote;
  RtcpReportBlock remote;
  gint64 rtt_usec;
};

/* Starts loading what the next packet or tick of leg touches, so that the wait overlaps other
 * work (a hint, no effect on behaviour): its hot members, and — once those are in — the shared
 * part and its SRTP contexts (media_leg_prefetch_more). A worker calls them a leg or two ahead. */
static inline void media_leg_prefetch(const MediaLeg *leg)
{
  for (gsize off = 0; off < offsetof(MediaLeg, jb) + 128; off += 64)
    __builtin_prefetch((const char *)leg + off);
}

static inline void media_leg_prefetch_more(const MediaLeg *leg)
{
  __builtin_prefetch(leg->shared);
  __builtin_prefetch(leg->rx.current);
  __builtin_prefetch(leg->tx);
}

/* A leg on two sockets (which it closes when freed; -1 for none). The focus's stream starts
 * with tx_ssrc and tx_seq (ROC 0). */
MediaLeg *media_leg_new(guint64 id, MediaLegShared *shared, int rtp_fd, int rtcp_fd,
                        guint16 rtp_port, guint32 tx_ssrc, guint16 tx_seq);
/* Destroys the contexts and wipes the keys at once (removal); the leg stays allocated. */
void media_leg_drop_media(MediaLeg *leg);
void media_leg_free(MediaLeg *leg);

/* Applies keys (initial, re-key or CSB update as k->mode and the leg's state say). FALSE with
 * error if libsrtp refuses a context (the leg keeps what it had). */
gboolean media_leg_apply_keys(MediaLeg *leg, const MediaLegKeys *k, gint64 now, GError **error);

/* Called when an authenticated-looking packet fails authentication: the worker applies
 * commands still queued (a re-key may be on its way) and answers TRUE if it did, so that the
 * packet is tried once more. */
typedef gboolean (*MediaLegRetry)(gpointer data);

typedef enum {
  MEDIA_LEG_RX_DROPPED = 0, /* counted and dropped */
  MEDIA_LEG_RX_AUDIO,       /* an authenticated audio packet went into the jitter buffer */
  MEDIA_LEG_RX_OTHER,       /* an authenticated RTCP packet, or RTP of another payload type */
} MediaLegRx;

/* One received datagram (buf is modified: decrypted in place). on_rtcp_port: it came to the
 * RTCP socket (else the RTP one, where RTCP is recognised too: rtcp-mux). arrival and now are
 * on the worker clock (µs). from may be NULL (no latching). */
MediaLegRx media_leg_receive(MediaLeg *leg, guint8 *buf, gsize len, gboolean on_rtcp_port,
                             gint64 arrival, gint64 now, const struct sockaddr *from,
                             socklen_t fromlen, MediaLegRetry retry, gpointer retry_data);
/* The datagram was larger than the receive buffer. */
void media_leg_count_oversized(MediaLeg *leg);

/* Takes this tick's frame from the jitter buffer into leg->mix (pcm, has_audio, wants_output). */
void media_leg_pull(MediaLeg *leg);
/* The packet for this tick (leg->mix.out) for absolute frame number frame: RTP header, payload,
 * SRTP. Returns its length in buf (cap >= MEDIA_LEG_BUF), 0 when nothing is to be sent. */
gsize media_leg_build_rtp(MediaLeg *leg, guint64 frame, guint8 *buf, gsize cap);
/* An SRTCP compound (SR or RR + SDES CNAME) for now; 0 when nothing is to be sent. */
gsize media_leg_build_rtcp(MediaLeg *leg, gint64 now, const char *cname, guint8 *buf, gsize cap);
/* The outcome of sending what a build gave. */
void media_leg_sent(MediaLeg *leg, gboolean rtcp, gsize len, gboolean ok);
/* Timers of the leg: the 1 s outbound switch limit, expiry of the previous inbound key. */
void media_leg_housekeeping(MediaLeg *leg, gint64 now);
/* Restart of the inbound stream after the conference went idle. */
void media_leg_idle(MediaLeg *leg);
/* Fills the worker-side members of a statistics snapshot. */
void media_leg_snapshot(MediaLeg *leg, FocusMediaLegStats *s);

/* "a.b.c.d:port" or "[v6]:port" of sa into buf. */
void media_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, gsize cap);
gboolean media_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr *b,
                              socklen_t blen);
