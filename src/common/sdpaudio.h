/* The one audio session description mikeyua and the focus speak (profile.md §6, §7.3, §8):
 * RFC 4566 SDP, RFC 3264 offer/answer, one audio m-line, RTP/SAVP, PCMU (0) / PCMA (8) at
 * 8 kHz with optional telephone-event, keys in a=key-mgmt:mikey (RFC 4567, through
 * src/mikey/sdp.h).
 *
 *   build:     sdp_audio_build() writes an offer or an answer from SdpAudioParams;
 *              SdpAudioSession keeps the o= sess-id and version of one side (RFC 3264 §8).
 *   parse:     sdp_audio_parse() reads a peer's offer or answer into an SdpAudioDesc. Input is
 *              hostile: bounded (SDP_AUDIO_MAX_BODY), never read past len, no NUL bytes.
 *   negotiate: sdp_audio_negotiate() decides the answer to a parsed offer (codec, direction,
 *              what to do with the keys).
 *
 * Errors are in SDP_AUDIO_ERROR; sdp_audio_error_warning() maps one to the SIP Warning code of
 * the 488 that refuses the offer (profile §6 table). */
#pragma once

#include <glib.h>

#define SDP_AUDIO_ERROR (sdp_audio_error_quark())
GQuark sdp_audio_error_quark(void);

typedef enum {
  SDP_AUDIO_ERR_MALFORMED,       /* not an SDP body this parser accepts (syntax, numbers,
                                    missing v=/o=/c=, an unknown line type, ...) */
  SDP_AUDIO_ERR_TOO_LARGE,       /* body over SDP_AUDIO_MAX_BODY bytes */
  SDP_AUDIO_ERR_NO_AUDIO,        /* no m=audio line */
  SDP_AUDIO_ERR_NOT_SAVP,        /* the audio stream is not RTP/SAVP */
  SDP_AUDIO_ERR_NO_KEY_MGMT,     /* no a=key-mgmt:mikey where one is required (or only
                                    key-mgmt attributes of other protocols) */
  SDP_AUDIO_ERR_BAD_KEY_MGMT,    /* a malformed a=key-mgmt attribute (bad base64, two mikey
                                    attributes at one level, ...) */
  SDP_AUDIO_ERR_NO_COMMON_CODEC, /* no offered payload type is one we support */
  SDP_AUDIO_ERR_REJECTED,        /* sdp_audio_check_answer(): the answer rejected the audio
                                    stream (port 0) */
  SDP_AUDIO_ERR_INVALID_PARAM,   /* a local parameter (build, codec list) is unusable */
} SdpAudioError;

/* Bodies longer than this are refused (SDP_AUDIO_ERR_TOO_LARGE) before any parsing. */
#define SDP_AUDIO_MAX_BODY 65536

/* The Warning code (RFC 3261 §20.43) of the 488 that refuses an offer for this error:
 * 306 "Attribute not understood" for the key-management failures of the profile §6 table
 * (NO_KEY_MGMT, BAD_KEY_MGMT, NOT_SAVP), 399 (miscellaneous, with the error text) for every
 * other SDP_AUDIO_ERROR; 0 for an error of another domain. */
guint sdp_audio_error_warning(const GError *error);

/* ---- codecs and directions ---- */

/* A codec we know; the values are bits, so a set of codecs is their OR. */
typedef enum {
  SDP_AUDIO_CODEC_UNKNOWN = 0,
  SDP_AUDIO_CODEC_PCMU = 1 << 0,            /* PCMU/8000, static PT 0 */
  SDP_AUDIO_CODEC_PCMA = 1 << 1,            /* PCMA/8000, static PT 8 */
  SDP_AUDIO_CODEC_TELEPHONE_EVENT = 1 << 2, /* telephone-event/8000, dynamic (101 here) */
} SdpAudioCodec;

/* What the focus and mikeyua can send and receive (profile §8). */
#define SDP_AUDIO_CODECS_DEFAULT (SDP_AUDIO_CODEC_PCMU | SDP_AUDIO_CODEC_PCMA)
/* The payload type this project uses for telephone-event in its offers. */
#define SDP_AUDIO_PT_TELEPHONE_EVENT 101
#define SDP_AUDIO_PTIME 20

/* "PCMU", "PCMA", "telephone-event"; NULL for UNKNOWN or a set of several. */
const char *sdp_audio_codec_name(SdpAudioCodec codec);

/* One payload type of an m-line as we write it: a=rtpmap (and for telephone-event
 * a=fmtp:<pt> 0-15) follow from the codec; UNKNOWN writes only the number. */
typedef struct {
  guint8 pt; /* 0..127 */
  SdpAudioCodec codec;
} SdpAudioFormat;

/* At most every codec once plus room to mirror an offer. */
#define SDP_AUDIO_MAX_FORMATS 8

/* A codec preference list from configuration, e.g. "PCMA,PCMU,telephone-event" (names
 * case-insensitive, separated by ',' and/or blanks, each at most once) into formats[] with
 * their payload types (0, 8, 101); *n_formats gets the count. Refuses (INVALID_PARAM) an unknown
 * or repeated name and a list without PCMU or PCMA. */
gboolean sdp_audio_formats_parse(const char *list, SdpAudioFormat formats[SDP_AUDIO_MAX_FORMATS],
                                 guint *n_formats, GError **error);

typedef enum {
  SDP_AUDIO_SENDRECV = 0, /* also the default when an SDP says nothing */
  SDP_AUDIO_SENDONLY,
  SDP_AUDIO_RECVONLY,
  SDP_AUDIO_INACTIVE,
} SdpAudioDirection;

/* "sendrecv", "sendonly", "recvonly", "inactive". */
const char *sdp_audio_direction_name(SdpAudioDirection direction);
/* The attribute name back to the direction; FALSE if name is none of the four. */
gboolean sdp_audio_direction_from_name(const char *name, SdpAudioDirection *direction);

/* The direction of an answer (RFC 3264 §6.1): we send only if the offerer receives and we are
 * willing to send (local), and receive only if the offerer sends and we are willing to receive.
 * sendonly -> recvonly, recvonly -> sendonly, sendrecv -> local, inactive -> inactive. */
SdpAudioDirection sdp_audio_direction_answer(SdpAudioDirection offered, SdpAudioDirection local);

/* ---- parsed description ---- */

typedef enum {
  SDP_AUDIO_IP4 = 4,
  SDP_AUDIO_IP6 = 6,
} SdpAudioAddrType;

/* A payload type of the audio m-line. */
typedef struct {
  guint8 pt;
  SdpAudioCodec codec; /* from the a=rtpmap (name case-insensitive, rate 8000, 1 channel), or
                          from the static PT 0/8 when there is no a=rtpmap; else UNKNOWN */
  char *encoding;      /* a=rtpmap encoding name as written; NULL without a=rtpmap */
  guint32 rate;        /* a=rtpmap clock rate (8000 for static 0/8 without one); 0 if unknown */
  guint channels;      /* a=rtpmap encoding parameter; 1 when absent */
  char *fmtp;          /* a=fmtp:<pt> value; NULL when none */
} SdpAudioPayload;

/* Any m-line, as an answer has to mirror it (RFC 3264 §6: same number and order of m-lines). */
typedef struct {
  char *media; /* "audio", "video", ... */
  guint16 port;
  char *proto;
  char *fmt; /* the first format, as written */
} SdpAudioMedia;

typedef struct {
  /* o= */
  guint64 sess_id;      /* <= G_MAXINT64 (RFC 3264 §5) */
  guint64 sess_version; /* idem */

  /* The audio stream: the first m=audio with a port and RTP/SAVP, else the first with a port,
   * else the first m=audio. */
  guint audio_index;           /* its 0-based m-line index */
  guint16 port;                /* 0: the stream is rejected/disabled (RFC 3264 §5.1, §6) */
  guint port_count;            /* m=audio <port>/<count>; 1 when absent */
  char *proto;                 /* "RTP/SAVP", ... */
  gboolean savp;               /* proto is exactly "RTP/SAVP" */
  SdpAudioAddrType addr_type;  /* connection address of the audio stream: media-level c= if */
  char *addr;                  /* any, else session-level c= (IP literal; "/ttl" cut off) */
  GArray *payloads;            /* SdpAudioPayload, in m-line order (empty for a non-RTP proto) */
  guint ptime;                 /* a=ptime of the audio m-line; 0 when absent */
  SdpAudioDirection direction; /* media-level attribute, else session-level, else sendrecv */

  /* Keys: the a=key-mgmt:mikey that applies to the audio m-line (media level overrides
   * session level, RFC 4567) base64-decoded, NULL when there is none; and the SDP IDs value
   * (RFC 4567 §4.1.4, profile §6): the ';'-joined protocol ids of every a=key-mgmt of the
   * body in order, "" when there is none. */
  GBytes *mikey;
  char *key_mgmt_ids;

  GPtrArray *media; /* SdpAudioMedia of every m-line, in order */
} SdpAudioDesc;

void sdp_audio_desc_free(SdpAudioDesc *desc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SdpAudioDesc, sdp_audio_desc_free)

/* Parses an offer or an answer (CRLF or LF line ends; sdp need not be NUL-terminated; every
 * read stays within len). Checks the syntax of what it uses: v=0 first, one o=, a c= for the
 * audio stream, known line types only, numbers in range, no duplicate payload types, rtpmap or
 * direction attributes. Fails with MALFORMED, TOO_LARGE, NO_AUDIO or BAD_KEY_MGMT. Whether
 * the stream is RTP/SAVP and keys are present is the caller's rule: see sdp_audio_negotiate()
 * for offers and sdp_audio_check_answer() for answers. */
SdpAudioDesc *sdp_audio_parse(const char *sdp, gsize len, GError **error);

/* The payload of the audio m-line with that PT, or NULL. */
const SdpAudioPayload *sdp_audio_desc_payload(const SdpAudioDesc *desc, guint8 pt);

/* ---- keys of an offer (profile §6, §7.3) ---- */

typedef enum {
  SDP_AUDIO_KEYS_NEW,  /* the offer carries a=key-mgmt:mikey (desc->mikey): run MIKEY on it */
  SDP_AUDIO_KEYS_KEEP, /* in-dialog offer without SDP or without key-mgmt on a dialog that
                          already has keys: accept it, keys unchanged */
} SdpAudioKeys;

/* What an offer (NULL: an in-dialog request or a 200/ACK without SDP) means for the keys of
 * its dialog. dialog_keyed: the dialog already has keys (not an initial INVITE). Fails with
 * NO_KEY_MGMT when keys are needed and the offer has no a=key-mgmt:mikey, and always when it
 * carries key-mgmt of other protocols only (a re-key we cannot do). */
gboolean sdp_audio_offer_keys(const SdpAudioDesc *offer, gboolean dialog_keyed, SdpAudioKeys *keys,
                              GError **error);

/* ---- negotiation (answerer) ---- */

typedef struct {
  guint codecs;                /* SdpAudioCodec set we can use; 0 = SDP_AUDIO_CODECS_DEFAULT */
  SdpAudioDirection direction; /* what we are willing to do; SENDRECV (0) by default */
  gboolean dialog_keyed;       /* as for sdp_audio_offer_keys() */
} SdpAudioNegotiateOptions;

typedef struct {
  gboolean rejected;        /* the offer's audio port is 0: answer port 0 (RFC 3264 §6) */
  SdpAudioKeys keys;        /* NEW: hand offer->mikey to MIKEY; KEEP: keys unchanged */
  SdpAudioFormat codec;     /* the chosen codec with the offerer's PT (not when rejected) */
  gboolean telephone_event; /* the offer has telephone-event/8000: kept, with its PT */
  guint8 telephone_event_pt;
  SdpAudioDirection direction; /* direction_answer(offer, local); inactive when rejected */
  SdpAudioFormat formats[SDP_AUDIO_MAX_FORMATS]; /* the answer's m-line: codec [, te]; for a */
  guint n_formats;                               /* rejected stream the first offered PT */
} SdpAudioAnswer;

/* Decides the answer to a parsed offer (options NULL = defaults): the first offered payload
 * type that is a codec in options->codecs (the offerer's preference, profile §8),
 * telephone-event kept if offered and ignored, direction per RFC 3264. Refuses, in this order,
 * NOT_SAVP (an active stream that is not RTP/SAVP), NO_KEY_MGMT (see sdp_audio_offer_keys())
 * and NO_COMMON_CODEC. A rejected stream (port 0) skips the SAVP and codec checks. */
gboolean sdp_audio_negotiate(const SdpAudioDesc *offer, const SdpAudioNegotiateOptions *options,
                             SdpAudioAnswer *answer, GError **error);

/* Checks a parsed answer against the offer we sent: audio not rejected (REJECTED otherwise,
 * which the offerer treats as a failed call), RTP/SAVP (NOT_SAVP), a=key-mgmt:mikey present
 * when our offer carried one (NO_KEY_MGMT), and one payload type that is a codec of our offer
 * (NO_COMMON_CODEC); *codec gets it (may be NULL). */
gboolean sdp_audio_check_answer(const SdpAudioDesc *answer, const SdpAudioFormat *offered,
                                guint n_offered, gboolean offered_mikey, SdpAudioFormat *codec,
                                GError **error);

/* ---- building ---- */

typedef struct {
  guint64 sess_id;               /* o= sess-id and sess-version (<= G_MAXINT64) */
  guint64 version;               /* (set by SdpAudioSession when built through it) */
  const char *addr;              /* IPv4 or IPv6 literal, for o= and c= (IP4/IP6 follows) */
  guint16 port;                  /* 0 = stream rejected/disabled */
  const SdpAudioFormat *formats; /* m= payload types in preference order */
  guint n_formats;               /* 1..SDP_AUDIO_MAX_FORMATS */
  guint ptime;                   /* a=ptime; 0 = none */
  SdpAudioDirection direction;   /* written at media level (a=sendrecv too) */
  GBytes *mikey;                 /* session-level a=key-mgmt:mikey; NULL = none (an offer
                                    without key-mgmt, profile §7.3) */
  const SdpAudioDesc *offer;     /* answers: the offer, so that its other m-lines are mirrored
                                    rejected (port 0) in order and a rejected audio stream
                                    keeps its proto; NULL for offers */
} SdpAudioParams;

/* The SDP body (CRLF line ends, NUL-terminated; *len gets its length if len is not NULL):
 *
 *   v=0 / o=- <sess-id> <version> IN IP4|IP6 <addr> / s=- / c=IN IP4|IP6 <addr> / t=0 0 /
 *   [a=key-mgmt:mikey <base64>] / m=audio <port> RTP/SAVP <pts> / a=rtpmap:<pt> <name>/8000 ... /
 *   [a=fmtp:<te-pt> 0-15] / [a=ptime:<n>] / a=<direction>
 *
 * Fails with INVALID_PARAM for an address that is not an IP literal, an empty or too long
 * format list, a PT over 127 or repeated, or a version/sess-id over G_MAXINT64. */
char *sdp_audio_build(const SdpAudioParams *params, gsize *len, GError **error);

/* Our side of one SDP session (RFC 3264 §8): the sess-id stays, and the version goes up by one
 * for every body that differs from the last one built (the first body has version 1); a body
 * equal to the last keeps its version. */
typedef struct SdpAudioSession SdpAudioSession;

/* sess_id 0 = a random one (below 2^62). */
SdpAudioSession *sdp_audio_session_new(guint64 sess_id);
void sdp_audio_session_free(SdpAudioSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SdpAudioSession, sdp_audio_session_free)

guint64 sdp_audio_session_id(const SdpAudioSession *session);
/* The version of the last body built; 0 before the first. */
guint64 sdp_audio_session_version(const SdpAudioSession *session);

/* sdp_audio_build() with params->sess_id and params->version replaced by the session's. */
char *sdp_audio_session_build(SdpAudioSession *session, const SdpAudioParams *params, gsize *len,
                              GError **error);
