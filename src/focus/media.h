/* The focus's media engine (profile 6 SRTP part, profile 8): per-leg SRTP keyed from MIKEY,
 * N−1 mixing of G.711 on media worker threads, jitter buffers, SRTCP reports, re-keying.
 *
 * Threads. Every function here is for the main-loop thread only (the SIP thread), and none of
 * them waits for a worker except focus_media_free(). The engine runs a pool of media workers
 * (default: one per online core). A conference is pinned to one worker — the least loaded when
 * its first leg is added — and that worker owns the conference's sockets, SRTP contexts,
 * jitter buffers and mixer; the main thread never touches them. Changes go to the worker
 * through a queue (a mutex-protected list and an eventfd); statistics come back as snapshots the
 * worker publishes (at most 100 ms old while media flows, current when it is idle). A worker is
 * a plain epoll loop (see mediaworker.c for why not a GMainContext).
 *
 * The clock. Each worker has one 20 ms mix clock: a periodic timerfd on absolute deadlines
 * (t0 + k·20 ms on CLOCK_MONOTONIC; it also wakes the worker every 5 ms between mix ticks to
 * read what has arrived), so it does not drift; a tick that starts late is counted
 * (FocusMediaWorkerStats), and a worker that falls more than FOCUS_MEDIA_MAX_CATCH_UP ticks
 * behind skips ticks rather than bunching them. A conference is active while one of its legs
 * has sent an authenticated packet in the last idle_after_ms; only active conferences are mixed
 * and sent to, and when no conference of a worker is active its clock stops: the worker then
 * sleeps in epoll_wait with no timeout until a packet or a command arrives (no idle wake-ups).
 * The first authenticated packet restarts the clock. (Garbage wakes the worker but never
 * restarts the clock.)
 *
 * A leg. focus_media_add_leg() binds an RTP/RTCP socket pair (an even port from the range and
 * the next one) on the main thread — so the port is known at once for the SDP answer — and
 * hands the sockets to the conference's worker. focus_media_leg_set_keys() gives it the two
 * crypto sessions of profile 6 (CS 1 = what the participant sends: inbound; CS 2 = what the
 * focus sends: outbound), the payload type and the SDP address of the participant. Media goes
 * to that address until authenticated packets arrive from elsewhere: then to where they come
 * from (symmetric RTP; RTCP likewise). Only packets that authenticate move the destination.
 *
 * Re-keying (profile 8). focus_media_leg_set_keys() on a leg that has keys (or
 * focus_media_leg_rekey()) installs the new inbound key at once, keeping the previous one 2 s;
 * the old outbound key stays until a packet from the participant decrypts under the new
 * inbound key, or FOCUS_MEDIA_SWITCH_MAX_USEC have passed. The outbound stream keeps its SSRC,
 * sequence numbers and ROC across the switch. focus_media_leg_update_csb() applies a CSB
 * update (SSRC, policy; keys unchanged): inbound, the context for the new parameters becomes
 * current and the old one is kept 2 s; outbound, the change applies at once.
 *
 * Removal. focus_media_remove_leg() takes effect immediately: the leg is marked removed before
 * the call returns (the worker checks that mark before every packet it sends or accepts), and
 * the worker destroys its contexts and closes its sockets as soon as it reads the command.
 *
 * Bad media input — garbage, wrong keys, replays, oversized packets, unknown payload types — is
 * counted per leg (FocusMediaLegStats) and dropped.
 *
 * SRTP is srtpctx's (libsrtp2 on OpenSSL's crypto); focus_media_new() calls
 * srtpctx_global_init(), which may also have run before. */
#pragma once

#include "common/srtpctx.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#define FOCUS_MEDIA_TICK_USEC 20000
#define FOCUS_MEDIA_SWITCH_MAX_USEC G_USEC_PER_SEC /* profile 8: at most 1 s on the old key */
#define FOCUS_MEDIA_MAX_CATCH_UP 5                 /* ticks run back to back after a stall */
#define FOCUS_MEDIA_LATE_USEC 5000                 /* a tick that starts this late is late */
#define FOCUS_MEDIA_MAX_WORKERS 64
#define FOCUS_MEDIA_DEFAULT_PORT_MIN 20000
#define FOCUS_MEDIA_DEFAULT_PORT_MAX 29999
#define FOCUS_MEDIA_DEFAULT_IDLE_MS 2000
#define FOCUS_MEDIA_PT_UNCHANGED 255 /* focus_media_leg_update_csb(): keep the payload type */

typedef enum {
  FOCUS_MEDIA_CLOCK_MONOTONIC = 0, /* CLOCK_MONOTONIC (default) */
  FOCUS_MEDIA_CLOCK_BOOTTIME,      /* CLOCK_BOOTTIME: also counts time suspended */
} FocusMediaClock;

typedef struct {
  guint n_workers;          /* 0: one per online core (at most FOCUS_MEDIA_MAX_WORKERS) */
  const int *worker_cpus;   /* NULL, or n_workers CPU numbers to pin the workers to (-1: none) */
  guint16 port_min;         /* RTP ports: even ones in [port_min, port_max - 1]; RTCP = RTP + 1 */
  guint16 port_max;         /* 0, 0: FOCUS_MEDIA_DEFAULT_PORT_MIN..MAX */
  const char *bind_address; /* numeric IPv4 or IPv6 address; NULL: "0.0.0.0" */
  FocusMediaClock clock;
  guint idle_after_ms;    /* a conference with no packet for this long stops (0: default 2000) */
  const char *cname;      /* RTCP SDES CNAME; NULL: "mikeyconfd@<host name>" */
  guint rtcp_interval_ms; /* between SRTCP reports of a leg while media flows; 0: 5000 */
  int rt_priority; /* 1..99: the workers run SCHED_FIFO at this priority (needs CAP_SYS_NICE or
                    * an RLIMIT_RTPRIO; a refusal is logged and they run as usual); 0: not */
} FocusMediaConfig;

typedef struct _FocusMedia FocusMedia;

/* Starts the workers. Errors: G_IO_ERROR_INVALID_ARGUMENT (port range, address, workers),
 * or the failure to create a worker's epoll/eventfd/timerfd/thread. */
FocusMedia *focus_media_new(const FocusMediaConfig *cfg, GError **error);
/* Stops every worker (waits for them: the only blocking call), closes every socket and wipes
 * every key. */
void focus_media_free(FocusMedia *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusMedia, focus_media_free)

/* What focus_media_add_leg() gives back for the SDP answer and the MIKEY Session Data of CS 2
 * (the focus's stream: SSRC, ROC and SEQ of its first packet; profile 6: ROC 0, SEQ random in
 * 1000..20000). */
typedef struct {
  guint64 id; /* > 0; names the leg in every later call */
  guint16 rtp_port;
  guint16 rtcp_port; /* rtp_port + 1 */
  guint32 tx_ssrc;
  guint32 tx_roc;
  guint16 tx_seq;
  guint worker; /* index of the worker the conference is pinned to */
} FocusMediaLegInfo;

/* Adds a leg to conference conf (any string naming it: the conference URI), creating the
 * conference on the least loaded worker if it is new. label names the leg in statistics (the
 * participant's identity). The leg sends and accepts nothing until it has keys.
 * G_IO_ERROR_NO_SPACE when no port pair of the range is free. */
gboolean focus_media_add_leg(FocusMedia *m, const char *conf, const char *label,
                             FocusMediaLegInfo *info, GError **error);

/* One crypto session (profile 6). */
typedef struct {
  SrtpCtxPolicy policy; /* SRTPCTX_AEAD_AES_128_GCM (policy 0) or _AES_CM_128_HMAC_SHA1_80 (1) */
  const guint8 *key;    /* SRTPCTX_KEY_LEN bytes (copied; the caller wipes its own) */
  const guint8 *salt;   /* 12 bytes for GCM, 14 for AES-CM */
  gsize salt_len;
  guint32 ssrc; /* inbound: the participant's SSRC, 0 = any; outbound: 0 = the one of the
                 * FocusMediaLegInfo (roc and seq then ignored) */
  guint32 roc;  /* ROC of the stream's next packet (inbound: needs an ssrc) */
  guint16 seq;  /* outbound: SEQ of the next packet */
} FocusMediaCrypto;

typedef struct {
  FocusMediaCrypto in;      /* CS 1: media the participant sends */
  FocusMediaCrypto out;     /* CS 2: media the focus sends */
  guint8 pt;                /* 0 PCMU or 8 PCMA (what the focus sends; it accepts both) */
  const char *peer_address; /* numeric address of the SDP c= line */
  guint16 peer_port;        /* its m= port */
  guint16 peer_rtcp_port;   /* its a=rtcp port; 0: peer_port + 1 */
} FocusMediaLegParams;

/* Keys and parameters after an offer/answer. On a leg without keys this starts its media; on
 * a leg with keys it is a profile 8 re-key (see above). G_IO_ERROR_NOT_FOUND for an unknown or
 * removed leg, G_IO_ERROR_INVALID_ARGUMENT for bad parameters (key, salt length for the policy,
 * ROC with a wildcard SSRC, payload type, address that is not numeric or of the wrong family). */
gboolean focus_media_leg_set_keys(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                                  GError **error);
/* The same, for a leg that must already have keys (G_IO_ERROR_NOT_INITIALIZED otherwise). */
gboolean focus_media_leg_rekey(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                               GError **error);
/* A CSB update: new SSRCs and/or policies, keys unchanged. In p, a NULL key or salt keeps the
 * leg's key or salt (a policy change needs the salt for the new policy: its length differs),
 * peer_address NULL keeps the destination and pt FOCUS_MEDIA_PT_UNCHANGED keeps the codec. An
 * outbound ssrc 0 keeps the focus's stream as it is (SSRC, SEQ, ROC). */
gboolean focus_media_leg_update_csb(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                                    GError **error);
/* Removes a leg: no packet goes to or is accepted from it once this returns; its contexts are
 * destroyed and its ports closed by its worker right away. FALSE if the leg is unknown. */
gboolean focus_media_remove_leg(FocusMedia *m, guint64 leg);
/* Removes every leg of conf; returns how many. */
guint focus_media_end_conference(FocusMedia *m, const char *conf);

/* The focus's outbound stream of a leg as last published by its worker: SSRC, ROC and SEQ of
 * the next packet (for the Session Data of an answer). FALSE if the leg is unknown. */
gboolean focus_media_leg_tx_state(FocusMedia *m, guint64 leg, guint32 *ssrc, guint32 *roc,
                                  guint16 *seq);

/* ------------------------------------------------------------------ statistics */

typedef struct {
  guint64 id;
  char conf[256];  /* truncated if longer */
  char label[256]; /* truncated if longer */
  guint worker;
  guint16 rtp_port;
  gboolean has_keys;
  SrtpCtxPolicy in_policy, out_policy;
  guint8 pt;             /* what the focus sends */
  char peer[64];         /* "address:port" media goes to ("" before keys); [v6]:port */
  gboolean peer_latched; /* from an authenticated packet (symmetric RTP), not the SDP */
  guint32 in_ssrc;       /* SSRC of the participant's stream (last seen or expected) */
  guint32 out_ssrc;
  guint32 out_roc; /* of the next packet */
  guint16 out_seq;
  /* traffic */
  guint64 packets_in, bytes_in; /* authenticated RTP packets and their UDP payload bytes */
  guint64 packets_out, bytes_out;
  guint64 rtcp_in, rtcp_out;
  gint64 lost;      /* RFC 3550 cumulative loss of the inbound stream */
  double jitter_ms; /* RFC 3550 interarrival jitter of the inbound stream */
  /* bad input, counted and dropped */
  guint64 decrypt_failed; /* authentication failures (wrong key, tampering, garbage) */
  guint64 replayed;       /* replayed or too old for the replay window */
  guint64 malformed;      /* not RTP/RTCP, truncated, wrong SSRC for the key, bad length */
  guint64 oversized;      /* datagrams larger than FOCUS_MEDIA_MAX_PACKET */
  guint64 unknown_pt;     /* payload types other than 0 and 8 (e.g. telephone-event) */
  guint64 no_key;         /* packets before the leg had keys */
  guint64 send_failed;    /* datagrams the kernel refused (full buffer, unreachable) */
  /* jitter buffer */
  guint64 late;      /* packets that arrived after their frame was played */
  guint64 dropped;   /* frames dropped (delay bound, delay shrink, duplicates) */
  guint64 concealed; /* frames concealed (loss, underrun) */
  guint64 underruns;
  guint jb_delay_ms; /* current buffering */
  /* keys */
  guint rekeys; /* re-keys applied */
  guint csb_updates;
  gboolean out_switch_pending; /* the old outbound key is still in use (profile 8) */
  guint64 in_previous_key;     /* packets that decrypted under the previous inbound key */
  guint64 ssrc_changes;        /* the participant's stream changed SSRC */
  /* what the participant reports about the focus's stream (its last SRTCP RR/SR block) */
  gboolean remote_report;
  double remote_fraction_lost; /* 0..1 */
  gint64 remote_lost;
  double remote_jitter_ms;
  double rtt_ms;    /* -1 if unknown */
  gboolean talking; /* a talker in the last mixed tick */
} FocusMediaLegStats;

typedef struct {
  guint index;
  int cpu; /* pinned to, -1 if not */
  guint conferences, active_conferences, legs;
  gboolean clock_running;
  guint64 ticks;        /* mix ticks run */
  guint64 late_ticks;   /* ticks that started more than FOCUS_MEDIA_LATE_USEC late */
  guint64 late_overrun; /* of those: the worker was still busy at the deadline (overload);
                         * the others woke late from sleep (scheduler or hypervisor stalls) */
  guint64 skipped_ticks;
  gint64 max_late_usec;    /* worst tick start lateness */
  guint64 late_hist[6];    /* tick start lateness: <1, <2, <5, <10, <20, >=20 ms */
  gint64 max_tick_usec;    /* longest tick (receive, mix, send) */
  guint64 receive_cut;     /* receive passes cut short to keep a mix tick on time (bursts) */
  guint64 off_cpu_usec;    /* time ticks spent not running on a CPU (preempted, vCPU stolen) */
  gint64 max_off_cpu_usec; /* the most in one tick */
  guint64 tick_usec_total;
  guint64 wakeups; /* epoll_wait returns */
  guint64 clock_starts;
  guint64 commands;
  guint64 packets_in, packets_out;
  guint64 shared_encodes, own_encodes;
  gint64 cpu_usec; /* CPU time of the worker thread */
} FocusMediaWorkerStats;

typedef struct {
  guint n_workers;
  guint conferences;
  guint legs;
  guint16 port_min, port_max;
  guint ports_in_use; /* RTP/RTCP pairs */
  FocusMediaWorkerStats workers[FOCUS_MEDIA_MAX_WORKERS];
} FocusMediaStats;

/* Snapshot of one leg (FALSE if unknown), or of every leg of conf (in the order they were
 * added; an empty array for an unknown conference). */
gboolean focus_media_get_leg_stats(FocusMedia *m, guint64 leg, FocusMediaLegStats *out);
GArray *focus_media_get_conf_stats(FocusMedia *m, const char *conf); /* of FocusMediaLegStats */
void focus_media_get_stats(FocusMedia *m, FocusMediaStats *out);

/* For mikeyconfctl show: one participant entry {"identity","address","codec","srtp",
 * "packets_in","packets_out","lost","jitter_ms", and the other counters}. */
JsonNode *focus_media_leg_stats_json(const FocusMediaLegStats *s);
/* For mikeyconfctl stats: {"workers":N,"conferences":…,"legs":…,"ports_in_use":…,
 * "worker":[{…}…]}. */
JsonNode *focus_media_stats_json(const FocusMediaStats *s);

const char *focus_media_policy_name(SrtpCtxPolicy policy); /* "AEAD_AES_128_GCM", … */
const char *focus_media_codec_name(guint8 pt);             /* "PCMU", "PCMA", "?" */
