/* SRTP and SRTCP for one direction of one stream, on libsrtp2, with the two policies of
 * profile 6: AEAD_AES_128_GCM (policy 0) and AES_CM_128_HMAC_SHA1_80 (policy 1).
 *
 * An SrtpCtx protects (outbound) or unprotects (inbound) RTP and RTCP in place. It is not
 * thread-safe but thread-compatible: one thread at a time (the worker that owns the leg);
 * different contexts may be used on different threads at once. Per packet there is no
 * allocation in this module for packets up to 2 KiB (libsrtp allocates once, for the first
 * packet of each SSRC a wildcard context sees). Call srtpctx_global_init() once before anything
 * else (any thread; later calls do nothing).
 *
 * Crypto. libsrtp2 does SRTP; the AES and HMAC under it are OpenSSL's (srtpcrypto.h: Debian's
 * libsrtp2 is built on NSS, whose per-packet overhead dominated the focus's media workers), unless
 * srtpctx_set_crypto() asked for libsrtp's own before the init. Either way the packets are the
 * same bytes (the tests check both against each other and against libsrtp's reference packets).
 *
 * Re-keying (profile 8): SrtpRx holds the current inbound context and, for a while, the
 * previous one; packets that fail under one are tried under the other, so no packet is lost
 * while the peer switches keys. */
#pragma once

#include <glib.h>

/* The numbers are the profile's SP policy numbers (MIKEY_POLICY_*). */
typedef enum {
  SRTPCTX_AEAD_AES_128_GCM = 0,        /* 16-byte key, 12-byte salt, 16-byte tag */
  SRTPCTX_AES_CM_128_HMAC_SHA1_80 = 1, /* 16-byte key, 14-byte salt, 10-byte tag */
} SrtpCtxPolicy;

typedef enum {
  SRTPCTX_INBOUND,  /* unprotect only */
  SRTPCTX_OUTBOUND, /* protect only */
} SrtpCtxDirection;

typedef enum {
  SRTPCTX_OK = 0,
  SRTPCTX_ERR_AUTH,       /* authentication failed: tampered, or another key */
  SRTPCTX_ERR_REPLAY,     /* index already received */
  SRTPCTX_ERR_REPLAY_OLD, /* index older than the replay window */
  SRTPCTX_ERR_LENGTH,     /* too short for header + tag, or no room for the trailer */
  SRTPCTX_ERR_HEADER,     /* not an RTP/RTCP version 2 header, or a truncated one */
  SRTPCTX_ERR_SSRC,       /* a context for one SSRC got another one */
  SRTPCTX_ERR_DIRECTION,  /* protect on an inbound context or the reverse */
  SRTPCTX_ERR_LIMIT,      /* key usage limit reached (2^48 RTP / 2^31 RTCP packets) */
  SRTPCTX_ERR_NO_KEY,     /* an SrtpRx without any context installed */
  SRTPCTX_ERR_OTHER,      /* any other libsrtp failure */
} SrtpCtxResult;

/* Bytes protect may add: the tag for RTP; E-flag/index word + tag for RTCP. */
#define SRTPCTX_MAX_RTP_OVERHEAD 16
#define SRTPCTX_MAX_RTCP_OVERHEAD 20
#define SRTPCTX_KEY_LEN 16

typedef struct {
  SrtpCtxPolicy policy;
  SrtpCtxDirection direction;
  const guint8 *master_key; /* SRTPCTX_KEY_LEN bytes; copied, the caller keeps and wipes its own */
  const guint8 *master_salt;
  gsize master_salt_len; /* 12 for GCM, 14 for AES-CM */
  gboolean any_ssrc;     /* TRUE: every SSRC of this direction (wildcard); FALSE: ssrc only */
  guint32 ssrc;
  guint32 roc;         /* ROC of ssrc's next packet (MIKEY Session Data); needs !any_ssrc */
  guint replay_window; /* packets; 0 = 128 (libsrtp's default, at least 64 per RFC 3711) */
} SrtpCtxParams;

typedef struct SrtpCtx SrtpCtx;

typedef enum {
  SRTPCTX_CRYPTO_OPENSSL = 0, /* OpenSSL's AES-CTR, AES-GCM and HMAC under libsrtp (default) */
  SRTPCTX_CRYPTO_LIBSRTP,     /* libsrtp2's own crypto (NSS on Debian) */
} SrtpCtxCrypto;

/* Once per process; thread-safe. FALSE with error if libsrtp cannot start. First it starts NSS
 * (libsrtp2's crypto on Debian) sized for speed, before libsrtp would start it sized for space
 * (srtpctx.c explains), and keeps it up for the life of the process; then libsrtp, then the
 * OpenSSL crypto (if that fails libsrtp's own is kept, with a warning). */
gboolean srtpctx_global_init(GError **error);
/* Which crypto the init installs: call before srtpctx_global_init() (tests and benchmarks
 * compare the two). Afterwards it changes nothing and answers whether crypto is the one in use.
 */
gboolean srtpctx_set_crypto(SrtpCtxCrypto crypto);
/* The crypto in use (initialises if needed), and its description for logs and benchmarks. */
SrtpCtxCrypto srtpctx_crypto(void);
const char *srtpctx_crypto_name(void);
/* TRUE if the init started NSS itself, sized for speed (FALSE: not NSS-backed, or NSS was
 * already up). */
gboolean srtpctx_nss_for_speed(void);

/* A context for p (G_IO_ERROR_INVALID_ARGUMENT for wrong lengths or a ROC with any_ssrc).
 * Calls srtpctx_global_init() if needed. The copy of the key made for libsrtp is wiped. */
SrtpCtx *srtpctx_new(const SrtpCtxParams *p, GError **error);
void srtpctx_free(SrtpCtx *c);
SrtpCtxPolicy srtpctx_policy(const SrtpCtx *c);

/* Outbound: encrypts buf[0..*len) in place and appends the tag; *len grows by
 * srtpctx_rtp_overhead() (srtpctx_rtcp_overhead()). cap is the size of buf. */
SrtpCtxResult srtpctx_protect_rtp(SrtpCtx *c, guint8 *buf, gsize *len, gsize cap);
SrtpCtxResult srtpctx_protect_rtcp(SrtpCtx *c, guint8 *buf, gsize *len, gsize cap);
/* Inbound: authenticates and decrypts in place; *len shrinks to the plain packet. On failure
 * buf and *len are as they were, so another context may be tried (on libsrtp's own crypto this
 * costs a copy of every GCM packet's body: its GCM on NSS decrypts before the tag check fails). */
SrtpCtxResult srtpctx_unprotect_rtp(SrtpCtx *c, guint8 *buf, gsize *len);
SrtpCtxResult srtpctx_unprotect_rtcp(SrtpCtx *c, guint8 *buf, gsize *len);

gsize srtpctx_rtp_overhead(SrtpCtxPolicy policy);
gsize srtpctx_rtcp_overhead(SrtpCtxPolicy policy);
/* ROC libsrtp holds for ssrc (to carry it into a re-key); FALSE if it has no stream for it. */
gboolean srtpctx_get_roc(SrtpCtx *c, guint32 ssrc, guint32 *roc);
const char *srtpctx_result_str(SrtpCtxResult r);

/* ------------------------------------------------------------------ re-key window */

typedef struct {
  SrtpCtx *current;
  SrtpCtx *previous;     /* NULL, or kept until previous_until */
  gint64 previous_until; /* on the caller's clock (e.g. g_get_monotonic_time(), µs) */
  gboolean current_seen; /* a packet has authenticated under current */
} SrtpRx;

#define SRTP_RX_KEEP_PREVIOUS_USEC (2 * G_USEC_PER_SEC) /* profile 8: previous keys for 2 s */

/* Zero-initialising an SrtpRx is the same as srtp_rx_init(). */
void srtp_rx_init(SrtpRx *rx);
/* Takes ownership of ctx (an inbound context) and makes it current; the old current becomes
 * previous until now + keep_usec (the old previous, if any, is freed). keep_usec 0 drops it. */
void srtp_rx_install(SrtpRx *rx, SrtpCtx *ctx, gint64 now, gint64 keep_usec);
/* Unprotects with current, and with previous while now < previous_until, trying first the one
 * most likely to succeed (previous until current has authenticated a packet). The second is
 * tried after an authentication failure, a replay, or an SSRC mismatch under the first (a CSB
 * update may have changed the peer's SSRC: then the two contexts are for different streams). A
 * failure under both reports the more telling error: a replay, then an authentication failure,
 * then an SSRC mismatch; between equal ones, current's. *used_previous (may be NULL) says which
 * key worked. current_seen turning TRUE tells
 * an answerer that the peer has switched, so it may switch its own sending key (profile 8). */
SrtpCtxResult srtp_rx_unprotect_rtp(SrtpRx *rx, guint8 *buf, gsize *len, gint64 now,
                                    gboolean *used_previous);
SrtpCtxResult srtp_rx_unprotect_rtcp(SrtpRx *rx, guint8 *buf, gsize *len, gint64 now,
                                     gboolean *used_previous);
/* Frees previous if its time is up (the unprotect calls do this too). */
void srtp_rx_expire(SrtpRx *rx, gint64 now);
/* Frees both contexts. */
void srtp_rx_clear(SrtpRx *rx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrtpCtx, srtpctx_free)
