/* The RTP/SRTP endpoint of one mikeyua call (profile 6, 8): a UDP socket pair (RTP on an
 * ephemeral port, RTCP on the next one) on the main loop, 20 ms G.711 frames from a tone, a WAV
 * file or silence, SRTP per direction with the keys of the call's crypto session bundle, the
 * profile 8 key switch of the offerer (mikeyua offers every re-key: outbound switches when the
 * verified answer arrives, which is what lets the answerer switch; inbound keeps the previous
 * key 2 s), SRTCP sender reports, and an optional WAV recording of what arrives.
 *
 * Frames are sent by a UaMediaClock shared by every endpoint of the process (load mode runs one
 * 20 ms timer for all calls). */
#pragma once

#include "uaconf.h"

#include "mikey/secret.h"

#include <glib.h>

typedef struct _UaMedia UaMedia;
typedef struct _UaMediaClock UaMediaClock;

typedef struct {
  const char *bind_ip;
  UaAudioKind audio;
  guint tone_hz;
  const gint16 *wav; /* UA_AUDIO_WAV: samples sent in a loop (borrowed, outlives the media) */
  gsize wav_len;
  const char *record_path; /* NULL = no recording */
  const char *cname;       /* RTCP CNAME */
  double send_loss;        /* --send-loss: percent of RTP packets not sent, at random (tests) */
} UaMediaConfig;

typedef struct {
  guint64 sent;                  /* RTP packets sent */
  guint64 received;              /* RTP packets that decrypted */
  guint64 decrypt_failed;        /* RTP packets that did not (auth, replay, ...) */
  guint64 received_previous_key; /* of received: under the previous inbound key */
  guint64 dropped_by_us;         /* RTP packets built but not sent (--send-loss) */
  guint64 datagrams;             /* raw datagrams on the RTP socket, decryptable or not */
  gint64 last_datagram_usec;     /* monotonic time of the last of them; 0: none */
  guint64 rtcp_sent;
  guint64 rtcp_received;
  gint64 lost;    /* RFC 3550 cumulative loss of the inbound stream */
  guint32 jitter; /* timestamp units */
  guint rekeys;   /* key switches after the first keys */
} UaMediaStats;

UaMedia *ua_media_new(const UaMediaConfig *cfg, UaMediaClock *clock, GError **error);
void ua_media_free(UaMedia *m);

guint16 ua_media_port(const UaMedia *m);
/* Our stream: its SSRC and the ROC/SEQ of the next packet (for the MIKEY Session Data). */
guint32 ua_media_ssrc(const UaMedia *m);
guint32 ua_media_next_roc(const UaMedia *m);
guint16 ua_media_next_seq(const UaMedia *m);

/* Where to send, and with which payload type (0 PCMU, 8 PCMA). */
gboolean ua_media_set_remote(UaMedia *m, const char *addr, guint16 port, guint8 pt, GError **error);

/* Installs keys: tx for our stream (CS 1), rx for the peer's (CS 2; peer_ssrc 0 = any SSRC,
 * else with peer_roc). The first call starts sending; later calls re-key (profile 8). */
gboolean ua_media_set_keys(UaMedia *m, guint8 policy_no, const MikeySecret *tx_key,
                           const MikeySecret *tx_salt, const MikeySecret *rx_key,
                           const MikeySecret *rx_salt, guint32 peer_ssrc, guint32 peer_roc,
                           GError **error);
/* Stops sending (the call is ending); receiving goes on until freed. */
void ua_media_stop(UaMedia *m);
void ua_media_get_stats(const UaMedia *m, UaMediaStats *stats);

/* ---- the shared 20 ms clock ---- */
UaMediaClock *ua_media_clock_new(void);
void ua_media_clock_free(UaMediaClock *clock);
