/* libsrtp2 wrapper: one direction, profile 6 policies, re-key window; see srtpctx.h.
 * libsrtp2 on Debian 12 is built on NSS; srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 is a
 * macro there (srtp_crypto_policy_set_rtp_default). */
#include "srtpctx.h"

#include <dlfcn.h>
#include <gio/gio.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "rtp.h"
#include "srtpcrypto.h"

#define SRTPCTX_MAX_PACKET 65535 /* nothing larger fits a UDP datagram */
#define SRTPCTX_RTCP_HEADER 8
#define SRTPCTX_SRTCP_INDEX 4

struct SrtpCtx {
  srtp_t session;
  SrtpCtxPolicy policy;
  SrtpCtxDirection direction;
  gboolean any_ssrc;
  guint32 ssrc;
  gsize rtp_tag;         /* bytes protect adds to RTP */
  gboolean save_on_fail; /* the GCM under libsrtp may leave a failed packet decrypted */
};

/* The one process-wide state: srtp_init()'s outcome, the crypto libsrtp runs on, and what keeps
 * NSS initialised. */
static struct {
  gsize once;
  gint done;   /* (atomic) the init has run */
  gint wanted; /* (atomic) SrtpCtxCrypto for the init */
  SrtpCtxCrypto crypto;
  srtp_err_status_t status;
  gboolean nss_ours; /* NSS was started here, for speed, and stays up */
  srtp_t nss_keeper;
} srtpctx_lib;

/* ------------------------------------------------------------------ NSS
 *
 * Debian's libsrtp2 encrypts through NSS, and starts NSS itself (NSS_InitContext with
 * NSS_INIT_OPTIMIZESPACE) when its first cipher is made — srtp_init()'s self-tests already do.
 * OPTIMIZESPACE gives NSS's softoken 32-bucket session tables; libsrtp's GCM opens and closes an
 * NSS session for every packet and each context keeps sessions open, so with a thousand legs
 * every packet walks long hash chains (measured: the focus worker's cost per participant grew
 * with the number of legs, ~30 % of its time in one chain walk at 1,000 legs). Started first
 * without that flag, NSS sizes those tables for speed (1,024 buckets, one lock per bucket group).
 * Whoever initialises NSS first decides, so this runs before srtp_init(). libnss3 is already
 * loaded as libsrtp2's dependency: the entry points are looked up at run time, no new build
 * dependency. The context is kept for the life of the process, which also keeps NSS up between
 * libsrtp's contexts (else every srtp_create() after the last srtp_dealloc() starts NSS again:
 * 0.6 ms instead of 10-15 us). This matters when libsrtp runs on its own crypto
 * (SRTPCTX_CRYPTO_LIBSRTP); on OpenSSL's, NSS still serves libsrtp's own self-tests. */
#define NSS_FLAGS_NO_DB 0xF /* READONLY | NOCERTDB | NOMODDB | FORCEOPEN, not OPTIMIZESPACE */

typedef void *(*NssInitContextFn)(const char *, const char *, const char *, const char *, void *,
                                  unsigned int);
typedef int (*NssIsInitializedFn)(void);

static gboolean nss_init_for_speed(void)
{
  NssIsInitializedFn is_init = (NssIsInitializedFn)dlsym(RTLD_DEFAULT, "NSS_IsInitialized");
  NssInitContextFn init = (NssInitContextFn)dlsym(RTLD_DEFAULT, "NSS_InitContext");
  if (init == NULL || is_init == NULL || is_init())
    return FALSE; /* not NSS-backed, or someone else started it */
  return init("", "", "", "", NULL, NSS_FLAGS_NO_DB) != NULL;
}

/* A session that is never used but keeps NSS initialised, when NSS was not started here and
 * libsrtp runs on its own crypto. */
static srtp_t nss_keeper(void)
{
  guint8 key[SRTP_MASTER_KEY_LEN] = { 0 };
  srtp_policy_t pol;
  memset(&pol, 0, sizeof pol);
  srtp_crypto_policy_set_rtp_default(&pol.rtp);
  srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
  pol.ssrc.type = ssrc_any_inbound;
  pol.key = key;
  pol.window_size = 128;
  srtp_t s = NULL;
  if (srtp_create(&s, &pol) != srtp_err_status_ok)
    return NULL; /* only slower */
  return s;
}

gboolean srtpctx_set_crypto(SrtpCtxCrypto crypto)
{
  if (g_atomic_int_get(&srtpctx_lib.done))
    return srtpctx_lib.crypto == crypto;
  g_atomic_int_set(&srtpctx_lib.wanted, (gint)crypto);
  return TRUE;
}

gboolean srtpctx_global_init(GError **error)
{
  if (g_once_init_enter(&srtpctx_lib.once)) {
    srtpctx_lib.nss_ours = nss_init_for_speed();
    srtpctx_lib.status = srtp_init();
    srtpctx_lib.crypto = SRTPCTX_CRYPTO_LIBSRTP;
    if (srtpctx_lib.status == srtp_err_status_ok) {
      g_autoptr(GError) err = NULL;
      if (g_atomic_int_get(&srtpctx_lib.wanted) == SRTPCTX_CRYPTO_OPENSSL) {
        if (srtp_crypto_install(&err))
          srtpctx_lib.crypto = SRTPCTX_CRYPTO_OPENSSL;
        else
          g_warning("SRTP stays on libsrtp2's own crypto: %s", err->message);
      }
      /* (on OpenSSL's crypto no context touches NSS after the init) */
      if (!srtpctx_lib.nss_ours && srtpctx_lib.crypto == SRTPCTX_CRYPTO_LIBSRTP)
        srtpctx_lib.nss_keeper = nss_keeper();
    }
    g_atomic_int_set(&srtpctx_lib.done, 1);
    g_once_init_leave(&srtpctx_lib.once, 1);
  }
  if (srtpctx_lib.status != srtp_err_status_ok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libsrtp2 initialisation failed (error %d)",
                (int)srtpctx_lib.status);
    return FALSE;
  }
  return TRUE;
}

SrtpCtxCrypto srtpctx_crypto(void)
{
  return srtpctx_global_init(NULL) ? srtpctx_lib.crypto : SRTPCTX_CRYPTO_LIBSRTP;
}

const char *srtpctx_crypto_name(void)
{
  if (srtpctx_crypto() == SRTPCTX_CRYPTO_OPENSSL)
    return "OpenSSL's AES-128-CTR, AES-128-GCM and HMAC-SHA1 under libsrtp2";
  return "libsrtp2's own";
}

gboolean srtpctx_nss_for_speed(void)
{
  return srtpctx_global_init(NULL) && srtpctx_lib.nss_ours;
}

gsize srtpctx_rtp_overhead(SrtpCtxPolicy policy)
{
  return policy == SRTPCTX_AEAD_AES_128_GCM ? 16 : 10;
}

gsize srtpctx_rtcp_overhead(SrtpCtxPolicy policy)
{
  return SRTPCTX_SRTCP_INDEX + srtpctx_rtp_overhead(policy);
}

static const char *policy_name(SrtpCtxPolicy policy)
{
  return policy == SRTPCTX_AEAD_AES_128_GCM ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80";
}

SrtpCtx *srtpctx_new(const SrtpCtxParams *p, GError **error)
{
  if (!srtpctx_global_init(error))
    return NULL;
  gsize salt_len;
  switch (p->policy) {
  case SRTPCTX_AEAD_AES_128_GCM:
    salt_len = SRTP_AEAD_SALT_LEN;
    break;
  case SRTPCTX_AES_CM_128_HMAC_SHA1_80:
    salt_len = SRTP_SALT_LEN;
    break;
  default:
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown SRTP policy %d",
                (int)p->policy);
    return NULL;
  }
  if (p->master_key == NULL || p->master_salt == NULL || p->master_salt_len != salt_len) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s needs a %d-byte master key and a %" G_GSIZE_FORMAT "-byte master salt (got "
                "a %" G_GSIZE_FORMAT "-byte salt)",
                policy_name(p->policy), SRTPCTX_KEY_LEN, salt_len, p->master_salt_len);
    return NULL;
  }
  if (p->direction != SRTPCTX_INBOUND && p->direction != SRTPCTX_OUTBOUND) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown SRTP direction %d",
                (int)p->direction);
    return NULL;
  }
  if (p->any_ssrc && p->roc != 0) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "an initial ROC needs a specific SSRC, not a wildcard");
    return NULL;
  }
  guint window = p->replay_window ? p->replay_window : 128;
  if (window < 64 || window >= 0x8000) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "replay window of %u packets (64..32767)", window);
    return NULL;
  }

  srtp_policy_t pol;
  memset(&pol, 0, sizeof pol);
  if (p->policy == SRTPCTX_AEAD_AES_128_GCM) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
  }
  if (p->any_ssrc) {
    pol.ssrc.type = p->direction == SRTPCTX_INBOUND ? ssrc_any_inbound : ssrc_any_outbound;
  } else {
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = p->ssrc;
  }
  guint8 key[SRTPCTX_KEY_LEN + SRTP_SALT_LEN];
  memcpy(key, p->master_key, SRTPCTX_KEY_LEN);
  memcpy(key + SRTPCTX_KEY_LEN, p->master_salt, salt_len);
  pol.key = key;
  pol.window_size = window;
  pol.allow_repeat_tx = 0;
  pol.next = NULL;

  srtp_t session = NULL;
  srtp_err_status_t st = srtp_create(&session, &pol);
  explicit_bzero(key, sizeof key);
  if (st != srtp_err_status_ok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "libsrtp2 cannot create a %s context (error %d)%s", policy_name(p->policy), (int)st,
                p->policy == SRTPCTX_AEAD_AES_128_GCM && st == srtp_err_status_bad_param
                    ? ": this libsrtp2 may lack AES-GCM (built without a crypto library)"
                    : "");
    return NULL;
  }
  if (!p->any_ssrc && p->roc != 0 &&
      srtp_set_stream_roc(session, p->ssrc, p->roc) != srtp_err_status_ok) {
    srtp_dealloc(session);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libsrtp2 refused ROC %u for SSRC %08x",
                p->roc, p->ssrc);
    return NULL;
  }

  SrtpCtx *c = g_new0(SrtpCtx, 1);
  c->session = session;
  c->policy = p->policy;
  c->direction = p->direction;
  c->any_ssrc = p->any_ssrc;
  c->ssrc = p->ssrc;
  c->rtp_tag = srtpctx_rtp_overhead(p->policy);
  c->save_on_fail =
      p->policy == SRTPCTX_AEAD_AES_128_GCM && srtpctx_lib.crypto != SRTPCTX_CRYPTO_OPENSSL;
  return c;
}

void srtpctx_free(SrtpCtx *c)
{
  if (c == NULL)
    return;
  srtp_dealloc(c->session); /* libsrtp zeroes its keys */
  g_free(c);
}

SrtpCtxPolicy srtpctx_policy(const SrtpCtx *c)
{
  return c->policy;
}

static SrtpCtxResult map_status(const SrtpCtx *c, srtp_err_status_t st)
{
  switch (st) {
  case srtp_err_status_ok:
    return SRTPCTX_OK;
  case srtp_err_status_auth_fail:
    return SRTPCTX_ERR_AUTH;
  case srtp_err_status_cipher_fail:
    /* An AEAD tag mismatch surfaces as a cipher failure when the crypto library's error code
     * is not the one libsrtp looks for. */
    return c->direction == SRTPCTX_INBOUND && c->policy == SRTPCTX_AEAD_AES_128_GCM
               ? SRTPCTX_ERR_AUTH
               : SRTPCTX_ERR_OTHER;
  case srtp_err_status_replay_fail:
    return SRTPCTX_ERR_REPLAY;
  case srtp_err_status_replay_old:
    return SRTPCTX_ERR_REPLAY_OLD;
  case srtp_err_status_no_ctx:
    return SRTPCTX_ERR_SSRC;
  case srtp_err_status_key_expired:
    return SRTPCTX_ERR_LIMIT;
  case srtp_err_status_bad_param:
  case srtp_err_status_parse_err:
    return SRTPCTX_ERR_HEADER;
  default:
    return SRTPCTX_ERR_OTHER;
  }
}

static guint32 rd32(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* The checks both RTP paths share; *hlen is the RTP header length. */
static SrtpCtxResult rtp_check(const SrtpCtx *c, SrtpCtxDirection dir, const guint8 *buf, gsize len,
                               gsize *hlen)
{
  if (c->direction != dir)
    return SRTPCTX_ERR_DIRECTION;
  if (len > SRTPCTX_MAX_PACKET)
    return SRTPCTX_ERR_LENGTH;
  *hlen = rtp_header_len(buf, len);
  if (*hlen == 0)
    return len < RTP_HEADER_LEN ? SRTPCTX_ERR_LENGTH : SRTPCTX_ERR_HEADER;
  if (!c->any_ssrc && rd32(buf + 8) != c->ssrc)
    return SRTPCTX_ERR_SSRC;
  return SRTPCTX_OK;
}

/* Unprotects buf and leaves it as it was on failure. libsrtp's own GCM (on NSS) decrypts the
 * payload in place even when the tag then fails to verify (AES-CM checks the tag first; the
 * OpenSSL GCM of srtpcrypto.c puts the ciphertext back itself), so there the bytes from `from`
 * on are copied aside first: on the stack up to SRTPCTX_SAVE_STACK bytes (an audio packet), on
 * the heap above. */
#define SRTPCTX_SAVE_STACK 2048

static SrtpCtxResult unprotect_intact(SrtpCtx *c, gboolean rtcp, guint8 *buf, gsize *len,
                                      gsize from)
{
  guint8 stack[SRTPCTX_SAVE_STACK];
  guint8 *save = NULL;
  gsize n = *len - from;
  if (c->save_on_fail) {
    save = n <= sizeof stack ? stack : g_malloc(n);
    memcpy(save, buf + from, n);
  }
  int l = (int)*len;
  SrtpCtxResult r = map_status(c, rtcp ? srtp_unprotect_rtcp(c->session, buf, &l)
                                       : srtp_unprotect(c->session, buf, &l));
  if (r == SRTPCTX_OK)
    *len = (gsize)l;
  else if (save != NULL)
    memcpy(buf + from, save, n);
  if (save != NULL && save != stack)
    g_free(save);
  return r;
}

SrtpCtxResult srtpctx_protect_rtp(SrtpCtx *c, guint8 *buf, gsize *len, gsize cap)
{
  gsize hlen = 0;
  SrtpCtxResult r = rtp_check(c, SRTPCTX_OUTBOUND, buf, *len, &hlen);
  if (r != SRTPCTX_OK)
    return r;
  if (cap < *len + c->rtp_tag || *len + c->rtp_tag > SRTPCTX_MAX_PACKET)
    return SRTPCTX_ERR_LENGTH;
  int n = (int)*len;
  r = map_status(c, srtp_protect(c->session, buf, &n));
  if (r == SRTPCTX_OK)
    *len = (gsize)n;
  return r;
}

SrtpCtxResult srtpctx_unprotect_rtp(SrtpCtx *c, guint8 *buf, gsize *len)
{
  gsize hlen = 0;
  SrtpCtxResult r = rtp_check(c, SRTPCTX_INBOUND, buf, *len, &hlen);
  if (r != SRTPCTX_OK)
    return r;
  if (*len < hlen + c->rtp_tag)
    return SRTPCTX_ERR_LENGTH;
  return unprotect_intact(c, FALSE, buf, len, hlen);
}

static SrtpCtxResult rtcp_check(const SrtpCtx *c, SrtpCtxDirection dir, const guint8 *buf,
                                gsize len, gsize min_len)
{
  if (c->direction != dir)
    return SRTPCTX_ERR_DIRECTION;
  if (len < min_len || len > SRTPCTX_MAX_PACKET)
    return SRTPCTX_ERR_LENGTH;
  if ((buf[0] >> 6) != RTP_VERSION)
    return SRTPCTX_ERR_HEADER;
  if (!c->any_ssrc && rd32(buf + 4) != c->ssrc)
    return SRTPCTX_ERR_SSRC;
  return SRTPCTX_OK;
}

SrtpCtxResult srtpctx_protect_rtcp(SrtpCtx *c, guint8 *buf, gsize *len, gsize cap)
{
  SrtpCtxResult r = rtcp_check(c, SRTPCTX_OUTBOUND, buf, *len, SRTPCTX_RTCP_HEADER);
  if (r != SRTPCTX_OK)
    return r;
  gsize grow = SRTPCTX_SRTCP_INDEX + c->rtp_tag;
  if (cap < *len + grow || *len + grow > SRTPCTX_MAX_PACKET)
    return SRTPCTX_ERR_LENGTH;
  int n = (int)*len;
  r = map_status(c, srtp_protect_rtcp(c->session, buf, &n));
  if (r == SRTPCTX_OK)
    *len = (gsize)n;
  return r;
}

SrtpCtxResult srtpctx_unprotect_rtcp(SrtpCtx *c, guint8 *buf, gsize *len)
{
  SrtpCtxResult r = rtcp_check(c, SRTPCTX_INBOUND, buf, *len,
                               SRTPCTX_RTCP_HEADER + SRTPCTX_SRTCP_INDEX + c->rtp_tag);
  if (r != SRTPCTX_OK)
    return r;
  return unprotect_intact(c, TRUE, buf, len, SRTPCTX_RTCP_HEADER);
}

gboolean srtpctx_get_roc(SrtpCtx *c, guint32 ssrc, guint32 *roc)
{
  return srtp_get_stream_roc(c->session, ssrc, roc) == srtp_err_status_ok;
}

const char *srtpctx_result_str(SrtpCtxResult r)
{
  switch (r) {
  case SRTPCTX_OK:
    return "ok";
  case SRTPCTX_ERR_AUTH:
    return "authentication failed";
  case SRTPCTX_ERR_REPLAY:
    return "replayed packet";
  case SRTPCTX_ERR_REPLAY_OLD:
    return "packet older than the replay window";
  case SRTPCTX_ERR_LENGTH:
    return "bad packet length";
  case SRTPCTX_ERR_HEADER:
    return "malformed RTP/RTCP header";
  case SRTPCTX_ERR_SSRC:
    return "unexpected SSRC";
  case SRTPCTX_ERR_DIRECTION:
    return "context used in the wrong direction";
  case SRTPCTX_ERR_LIMIT:
    return "key usage limit reached";
  case SRTPCTX_ERR_NO_KEY:
    return "no inbound key";
  case SRTPCTX_ERR_OTHER:
    return "SRTP failure";
  }
  return "unknown SRTP result";
}

/* ------------------------------------------------------------------ re-key window */

void srtp_rx_init(SrtpRx *rx)
{
  memset(rx, 0, sizeof *rx);
}

void srtp_rx_install(SrtpRx *rx, SrtpCtx *ctx, gint64 now, gint64 keep_usec)
{
  srtpctx_free(rx->previous);
  rx->previous = NULL;
  if (rx->current != NULL && keep_usec > 0) {
    rx->previous = rx->current;
    rx->previous_until = now + keep_usec;
  } else {
    srtpctx_free(rx->current);
  }
  rx->current = ctx;
  rx->current_seen = FALSE;
}

void srtp_rx_expire(SrtpRx *rx, gint64 now)
{
  if (rx->previous != NULL && now >= rx->previous_until) {
    srtpctx_free(rx->previous);
    rx->previous = NULL;
  }
}

void srtp_rx_clear(SrtpRx *rx)
{
  srtpctx_free(rx->current);
  srtpctx_free(rx->previous);
  memset(rx, 0, sizeof *rx);
}

/* A failure another key might not have: the tag did not verify, the index was seen (under this
 * key; the other key's replay window is its own), or the context is for another SSRC (a CSB
 * update changed the peer's SSRC: the two contexts are for different streams). */
static gboolean worth_another_try(SrtpCtxResult r)
{
  return r == SRTPCTX_ERR_AUTH || r == SRTPCTX_ERR_REPLAY || r == SRTPCTX_ERR_REPLAY_OLD ||
         r == SRTPCTX_ERR_SSRC;
}

/* How much a failure says about the packet, when both keys refused it: a replay under one key
 * proves it genuine (it authenticated) and old; an authentication failure says it is for that
 * context's stream but forged or under another key; an SSRC mismatch only that the context is
 * for another stream. */
static int telling(SrtpCtxResult r)
{
  switch (r) {
  case SRTPCTX_ERR_REPLAY:
  case SRTPCTX_ERR_REPLAY_OLD:
    return 3;
  case SRTPCTX_ERR_AUTH:
    return 2;
  case SRTPCTX_ERR_SSRC:
    return 1;
  default:
    return 0;
  }
}

static SrtpCtxResult rx_unprotect(SrtpRx *rx, gboolean rtcp, guint8 *buf, gsize *len, gint64 now,
                                  gboolean *used_previous)
{
  SrtpCtxResult (*unprotect)(SrtpCtx *, guint8 *, gsize *) =
      rtcp ? srtpctx_unprotect_rtcp : srtpctx_unprotect_rtp;
  if (used_previous)
    *used_previous = FALSE;
  srtp_rx_expire(rx, now);
  if (rx->current == NULL)
    return SRTPCTX_ERR_NO_KEY;

  /* Until the peer is seen using the new key, its packets most likely use the old one. */
  SrtpCtx *first = rx->current, *second = rx->previous;
  if (second != NULL && !rx->current_seen) {
    first = rx->previous;
    second = rx->current;
  }
  SrtpCtxResult r1 = unprotect(first, buf, len);
  SrtpCtx *ok = r1 == SRTPCTX_OK ? first : NULL;
  SrtpCtxResult r2 = r1;
  if (ok == NULL && second != NULL && worth_another_try(r1)) {
    r2 = unprotect(second, buf, len);
    if (r2 == SRTPCTX_OK)
      ok = second;
  }
  if (ok != NULL) {
    if (ok == rx->current)
      rx->current_seen = TRUE;
    else if (used_previous)
      *used_previous = TRUE;
    return SRTPCTX_OK;
  }
  if (second == NULL || !worth_another_try(r1))
    return r1;
  /* Both failed: the more telling failure; between equals, the current key's. */
  if (telling(r1) != telling(r2))
    return telling(r1) > telling(r2) ? r1 : r2;
  return first == rx->current ? r1 : r2;
}

SrtpCtxResult srtp_rx_unprotect_rtp(SrtpRx *rx, guint8 *buf, gsize *len, gint64 now,
                                    gboolean *used_previous)
{
  return rx_unprotect(rx, FALSE, buf, len, now, used_previous);
}

SrtpCtxResult srtp_rx_unprotect_rtcp(SrtpRx *rx, guint8 *buf, gsize *len, gint64 now,
                                     gboolean *used_previous)
{
  return rx_unprotect(rx, TRUE, buf, len, now, used_previous);
}
