/* One leg of a media worker: keys, receive path, outbound frames, SRTCP; see medialeg.h. */
#include "medialeg.h"

#include "common/g711.h"
#include "common/rtp.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#define CLOCK_RATE 8000
#define SAMPLES_PER_FRAME FOCUS_JITTER_FRAME

/* ------------------------------------------------------------------ shared part */

MediaLegShared *media_leg_shared_new(void)
{
  MediaLegShared *s = g_new0(MediaLegShared, 1);
  s->refs = 1;
  return s;
}

MediaLegShared *media_leg_shared_ref(MediaLegShared *s)
{
  __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
  return s;
}

void media_leg_shared_unref(MediaLegShared *s)
{
  if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
    g_free(s);
}

void media_leg_keys_wipe(MediaLegKeys *k)
{
  explicit_bzero(k, sizeof *k);
}

/* ------------------------------------------------------------------ addresses */

void media_sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, gsize cap)
{
  char host[INET6_ADDRSTRLEN] = "?";
  guint port = 0;
  if (cap == 0)
    return;
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    g_snprintf(buf, cap, "%s:%u", host, port);
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
      g_snprintf(buf, cap, "%s:%u", host, ntohs(in6->sin6_port));
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      g_snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
  } else {
    buf[0] = '\0';
  }
}

gboolean media_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr *b,
                              socklen_t blen)
{
  if (a->ss_family != b->sa_family)
    return FALSE;
  if (b->sa_family == AF_INET && blen >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)a;
    const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (b->sa_family == AF_INET6 && blen >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return FALSE;
}

static guint16 sockaddr_port(const struct sockaddr_storage *ss)
{
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
  return 0;
}

static void sockaddr_set_port(struct sockaddr_storage *ss, guint16 port)
{
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
  else if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
}

/* ------------------------------------------------------------------ life */

MediaLeg *media_leg_new(guint64 id, MediaLegShared *shared, int rtp_fd, int rtcp_fd,
                        guint16 rtp_port, guint32 tx_ssrc, guint16 tx_seq)
{
  MediaLeg *leg = g_aligned_alloc0(1, sizeof(MediaLeg), 64); /* cache lines: see medialeg.h */
  leg->id = id;
  leg->shared = shared;
  leg->rtp = (MediaLegSocket){ .leg = leg, .fd = rtp_fd, .rtcp = FALSE };
  leg->rtcp = (MediaLegSocket){ .leg = leg, .fd = rtcp_fd, .rtcp = TRUE };
  leg->rtp_port = rtp_port;
  leg->tx_ssrc = tx_ssrc;
  leg->tx_index = tx_seq;
  leg->tx_ts_base = g_random_int();
  leg->rtcp_phase = g_random_int();
  leg->pt = G711_PT_PCMU;
  leg->rtt_usec = -1;
  srtp_rx_init(&leg->rx);
  focus_jitter_init(&leg->jb);
  rtcp_rx_init(&leg->rxs, CLOCK_RATE, 1);
  leg->dirty = TRUE;
  return leg;
}

void media_leg_drop_media(MediaLeg *leg)
{
  srtp_rx_clear(&leg->rx);
  srtpctx_free(leg->tx);
  leg->tx = NULL;
  leg->has_keys = FALSE;
  leg->tx_switch_pending = FALSE;
  explicit_bzero(&leg->in_keys, sizeof leg->in_keys);
  explicit_bzero(&leg->out_keys, sizeof leg->out_keys);
  explicit_bzero(&leg->tx_next, sizeof leg->tx_next);
  leg->dirty = TRUE;
}

void media_leg_free(MediaLeg *leg)
{
  if (leg == NULL)
    return;
  media_leg_drop_media(leg);
  if (leg->rtp.fd >= 0)
    close(leg->rtp.fd);
  if (leg->rtcp.fd >= 0)
    close(leg->rtcp.fd);
  media_leg_shared_unref(leg->shared);
  g_aligned_free(leg);
}

/* ------------------------------------------------------------------ keys */

static SrtpCtx *make_ctx(const MediaLegCrypto *c, SrtpCtxDirection dir, guint32 ssrc, guint32 roc,
                         GError **error)
{
  SrtpCtxParams p = {
    .policy = c->policy,
    .direction = dir,
    .master_key = c->key,
    .master_salt = c->salt,
    .master_salt_len = c->salt_len,
    .any_ssrc = ssrc == 0,
    .ssrc = ssrc,
    .roc = ssrc == 0 ? 0 : roc,
  };
  return srtpctx_new(&p, error);
}

/* The ROC the participant's stream ssrc has reached, from libsrtp, when the new inbound
 * parameters carry none. */
static guint32 inbound_roc(MediaLeg *leg, const MediaLegCrypto *in)
{
  guint32 roc = in->roc;
  if (roc == 0 && in->ssrc != 0 && leg->in_seen && in->ssrc == leg->seen_ssrc &&
      leg->rx.current != NULL) {
    guint32 r = 0;
    if (srtpctx_get_roc(leg->rx.current, in->ssrc, &r))
      roc = r;
  }
  return roc;
}

static void switch_tx(MediaLeg *leg, SrtpCtx *ctx)
{
  srtpctx_free(leg->tx);
  leg->tx = ctx;
}

/* The re-key's outbound key takes over (the peer has switched, or 1 s has passed). */
static void finish_tx_switch(MediaLeg *leg)
{
  if (!leg->tx_switch_pending)
    return;
  leg->tx_switch_pending = FALSE;
  MediaLegCrypto *n = &leg->tx_next;
  if (n->ssrc != 0 && n->ssrc != leg->tx_ssrc) {
    leg->tx_ssrc = n->ssrc;
    leg->tx_index = (guint64)n->roc << 16 | n->seq;
    leg->tx_started = FALSE;
  }
  g_autoptr(GError) error = NULL;
  SrtpCtx *ctx =
      make_ctx(n, SRTPCTX_OUTBOUND, leg->tx_ssrc, (guint32)(leg->tx_index >> 16), &error);
  if (ctx == NULL) {
    /* Only a libsrtp failure gets here (the parameters were checked): keep the old key. */
    g_warning("leg %" G_GUINT64_FORMAT ": outbound re-key failed: %s", leg->id, error->message);
  } else {
    switch_tx(leg, ctx);
    leg->out_keys = *n;
  }
  explicit_bzero(n, sizeof *n);
  leg->dirty = TRUE;
}

/* The SDP's address. A re-INVITE that repeats it keeps a latched destination. */
static void set_destination(MediaLeg *leg, const MediaLegKeys *k)
{
  if (!k->have_peer)
    return;
  if (leg->have_sdp &&
      media_sockaddr_equal(&leg->sdp_rtp, (const struct sockaddr *)&k->peer_rtp, k->peer_len) &&
      media_sockaddr_equal(&leg->sdp_rtcp, (const struct sockaddr *)&k->peer_rtcp, k->peer_len))
    return;
  leg->sdp_rtp = leg->dst_rtp = k->peer_rtp;
  leg->sdp_rtcp = leg->dst_rtcp = k->peer_rtcp;
  leg->dst_len = k->peer_len;
  leg->dst_str[0] = '\0';
  leg->have_dst = leg->have_sdp = TRUE;
  leg->latched_rtp = leg->latched_rtcp = FALSE;
}

static gboolean apply_initial(MediaLeg *leg, const MediaLegKeys *k, gint64 now, GError **error)
{
  guint32 tx_ssrc = leg->tx_ssrc;
  guint64 tx_index = leg->tx_index;
  if (k->out.ssrc != 0) {
    tx_ssrc = k->out.ssrc;
    tx_index = (guint64)k->out.roc << 16 | k->out.seq;
  }
  SrtpCtx *rx = make_ctx(&k->in, SRTPCTX_INBOUND, k->in.ssrc, k->in.roc, error);
  if (rx == NULL)
    return FALSE;
  SrtpCtx *tx = make_ctx(&k->out, SRTPCTX_OUTBOUND, tx_ssrc, (guint32)(tx_index >> 16), error);
  if (tx == NULL) {
    srtpctx_free(rx);
    return FALSE;
  }
  srtp_rx_install(&leg->rx, rx, now, 0);
  switch_tx(leg, tx);
  leg->tx_ssrc = tx_ssrc;
  leg->tx_index = tx_index;
  leg->in_keys = k->in;
  leg->out_keys = k->out;
  leg->in_ssrc = k->in.ssrc;
  leg->has_keys = TRUE;
  return TRUE;
}

/* The inbound crypto a leg already has. A second context for the same key would give every
 * packet a second replay window (the fuzzer showed it). Every re-key carries a fresh RAND, so a
 * peer cannot bring the same key again, but the worker does not rely on that. */
static gboolean same_inbound(const MediaLegCrypto *have, const MediaLegCrypto *next)
{
  return have->have_key && next->have_key && have->policy == next->policy &&
         have->ssrc == next->ssrc && have->salt_len == next->salt_len &&
         CRYPTO_memcmp(have->key, next->key, sizeof have->key) == 0 &&
         CRYPTO_memcmp(have->salt, next->salt, have->salt_len) == 0;
}

static gboolean apply_rekey(MediaLeg *leg, const MediaLegKeys *k, gint64 now, GError **error)
{
  if (!same_inbound(&leg->in_keys, &k->in)) {
    SrtpCtx *rx = make_ctx(&k->in, SRTPCTX_INBOUND, k->in.ssrc, inbound_roc(leg, &k->in), error);
    if (rx == NULL)
      return FALSE;
    srtp_rx_install(&leg->rx, rx, now, SRTP_RX_KEEP_PREVIOUS_USEC);
  }
  leg->in_keys = k->in;
  if (k->in.ssrc != 0)
    leg->in_ssrc = k->in.ssrc;
  /* Profile 8: the old outbound key until the peer is seen on the new inbound key. */
  leg->tx_next = k->out;
  leg->tx_switch_pending = TRUE;
  leg->tx_switch_deadline = now + FOCUS_MEDIA_SWITCH_MAX_USEC;
  leg->c.rekeys++;
  return TRUE;
}

static void merge_crypto(MediaLegCrypto *dst, const MediaLegCrypto *kept, const MediaLegCrypto *u)
{
  *dst = *u;
  if (!u->have_key) {
    memcpy(dst->key, kept->key, sizeof dst->key);
    memcpy(dst->salt, kept->salt, sizeof dst->salt);
    dst->salt_len = kept->salt_len;
    dst->have_key = TRUE;
  }
}

static gboolean apply_csb(MediaLeg *leg, const MediaLegKeys *k, gint64 now, GError **error)
{
  finish_tx_switch(leg);
  MediaLegCrypto in, out;
  merge_crypto(&in, &leg->in_keys, &k->in);
  merge_crypto(&out, &leg->out_keys, &k->out);

  gboolean in_changed =
      in.policy != leg->in_keys.policy || in.ssrc != leg->in_keys.ssrc || k->in.have_key;
  SrtpCtx *rx = NULL, *tx = NULL;
  if (in_changed) {
    rx = make_ctx(&in, SRTPCTX_INBOUND, in.ssrc, inbound_roc(leg, &in), error);
    if (rx == NULL)
      goto fail;
  }
  guint32 tx_ssrc = leg->tx_ssrc;
  guint64 tx_index = leg->tx_index;
  if (out.ssrc != 0 && out.ssrc != leg->tx_ssrc) {
    tx_ssrc = out.ssrc;
    tx_index = (guint64)out.roc << 16 | out.seq;
  }
  gboolean out_changed =
      tx_ssrc != leg->tx_ssrc || out.policy != leg->out_keys.policy || k->out.have_key;
  if (out_changed) {
    tx = make_ctx(&out, SRTPCTX_OUTBOUND, tx_ssrc, (guint32)(tx_index >> 16), error);
    if (tx == NULL)
      goto fail;
  }
  if (rx != NULL) {
    srtp_rx_install(&leg->rx, rx, now, SRTP_RX_KEEP_PREVIOUS_USEC);
    if (in.ssrc != 0)
      leg->in_ssrc = in.ssrc;
  }
  if (tx != NULL) {
    switch_tx(leg, tx);
    if (tx_ssrc != leg->tx_ssrc)
      leg->tx_started = FALSE;
    leg->tx_ssrc = tx_ssrc;
    leg->tx_index = tx_index;
  }
  leg->in_keys = in;
  leg->out_keys = out;
  leg->c.csb_updates++;
  explicit_bzero(&in, sizeof in);
  explicit_bzero(&out, sizeof out);
  return TRUE;
fail:
  srtpctx_free(rx);
  explicit_bzero(&in, sizeof in);
  explicit_bzero(&out, sizeof out);
  return FALSE;
}

gboolean media_leg_apply_keys(MediaLeg *leg, const MediaLegKeys *k, gint64 now, GError **error)
{
  gboolean ok;
  if (!leg->has_keys)
    ok = k->mode == MEDIA_LEG_KEYS_SET ? apply_initial(leg, k, now, error) : FALSE;
  else if (k->mode == MEDIA_LEG_KEYS_CSB)
    ok = apply_csb(leg, k, now, error);
  else
    ok = apply_rekey(leg, k, now, error);
  if (!ok && error != NULL && *error == NULL)
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                        "a CSB update needs keys first");
  if (!ok)
    return FALSE;
  if (k->pt != FOCUS_MEDIA_PT_UNCHANGED)
    leg->pt = k->pt;
  set_destination(leg, k);
  leg->dirty = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------ receive */

void media_leg_count_oversized(MediaLeg *leg)
{
  leg->c.oversized++;
  leg->dirty = TRUE;
}

static void count_failure(MediaLeg *leg, SrtpCtxResult r)
{
  switch (r) {
  case SRTPCTX_ERR_REPLAY:
  case SRTPCTX_ERR_REPLAY_OLD:
    leg->c.replayed++;
    break;
  case SRTPCTX_ERR_LENGTH:
  case SRTPCTX_ERR_HEADER:
  case SRTPCTX_ERR_SSRC:
    leg->c.malformed++;
    break;
  case SRTPCTX_ERR_NO_KEY:
    leg->c.no_key++;
    break;
  default:
    leg->c.decrypt_failed++;
    break;
  }
}

static SrtpCtxResult rx_unprotect(MediaLeg *leg, gboolean rtcp, guint8 *buf, gsize *len, gint64 now,
                                  gboolean *used_previous)
{
  return rtcp ? srtp_rx_unprotect_rtcp(&leg->rx, buf, len, now, used_previous)
              : srtp_rx_unprotect_rtp(&leg->rx, buf, len, now, used_previous);
}

static SrtpCtxResult unprotect(MediaLeg *leg, gboolean rtcp, guint8 *buf, gsize *len, gint64 now,
                               gboolean *used_previous, MediaLegRetry retry, gpointer retry_data)
{
  SrtpCtxResult r = rx_unprotect(leg, rtcp, buf, len, now, used_previous);
  if ((r == SRTPCTX_ERR_AUTH || r == SRTPCTX_ERR_SSRC) && retry != NULL && retry(retry_data) &&
      !leg->removed && leg->has_keys)
    r = rx_unprotect(leg, rtcp, buf, len, now, used_previous);
  return r;
}

/* Symmetric RTP: media goes where authenticated packets come from. */
static void latch(MediaLeg *leg, gboolean rtcp, const struct sockaddr *from, socklen_t fromlen)
{
  if (from == NULL || fromlen > sizeof(struct sockaddr_storage))
    return;
  if (rtcp) {
    if (!media_sockaddr_equal(&leg->dst_rtcp, from, fromlen))
      memcpy(&leg->dst_rtcp, from, fromlen);
    leg->latched_rtcp = TRUE;
    return;
  }
  if (!leg->have_dst || !media_sockaddr_equal(&leg->dst_rtp, from, fromlen)) {
    if (!leg->latched_rtcp) {
      /* Until the peer's RTCP arrives, send it beside where its RTP comes from, as far from
       * it as the SDP said (a=rtcp), or on the next port. */
      int offset = leg->have_dst ? sockaddr_port(&leg->dst_rtcp) - sockaddr_port(&leg->dst_rtp) : 1;
      memcpy(&leg->dst_rtcp, from, fromlen);
      sockaddr_set_port(&leg->dst_rtcp, (guint16)(sockaddr_port(&leg->dst_rtcp) + offset));
    }
    memcpy(&leg->dst_rtp, from, fromlen);
    leg->dst_len = fromlen;
    leg->have_dst = TRUE;
    leg->dst_str[0] = '\0';
  }
  leg->latched_rtp = TRUE;
}

static MediaLegRx receive_rtcp(MediaLeg *leg, guint8 *buf, gsize len, gint64 arrival, gint64 now,
                               const struct sockaddr *from, socklen_t fromlen, MediaLegRetry retry,
                               gpointer retry_data)
{
  if (!leg->has_keys) {
    leg->c.no_key++;
    return MEDIA_LEG_RX_DROPPED;
  }
  gboolean prev = FALSE;
  SrtpCtxResult r = unprotect(leg, TRUE, buf, &len, now, &prev, retry, retry_data);
  if (r != SRTPCTX_OK) {
    count_failure(leg, r);
    return MEDIA_LEG_RX_DROPPED;
  }
  RtcpReport rep;
  if (rtcp_parse(buf, len, &rep) != RTCP_OK) {
    leg->c.malformed++;
    return MEDIA_LEG_RX_DROPPED;
  }
  leg->c.rtcp_in++;
  latch(leg, TRUE, from, fromlen);
  if (rep.is_sr && (!leg->in_seen || rep.ssrc == leg->seen_ssrc))
    rtcp_rx_sr_received(&leg->rxs, rep.ntp, arrival);
  for (guint i = 0; i < rep.n_blocks; i++) {
    if (rep.blocks[i].ssrc != leg->tx_ssrc)
      continue;
    leg->remote = rep.blocks[i];
    leg->have_remote = TRUE;
    leg->rtt_usec = rtcp_rtt_usec(&rep.blocks[i], rtcp_ntp_from_unix_usec(g_get_real_time()));
  }
  return MEDIA_LEG_RX_OTHER;
}

MediaLegRx media_leg_receive(MediaLeg *leg, guint8 *buf, gsize len, gboolean on_rtcp_port,
                             gint64 arrival, gint64 now, const struct sockaddr *from,
                             socklen_t fromlen, MediaLegRetry retry, gpointer retry_data)
{
  if (leg->removed || g_atomic_int_get(&leg->shared->removed))
    return MEDIA_LEG_RX_DROPPED;
  leg->dirty = TRUE;
  if (len > FOCUS_MEDIA_MAX_PACKET) {
    leg->c.oversized++;
    return MEDIA_LEG_RX_DROPPED;
  }
  if (on_rtcp_port || rtp_is_rtcp(buf, len))
    return receive_rtcp(leg, buf, len, arrival, now, from, fromlen, retry, retry_data);
  if (len < RTP_HEADER_LEN) {
    leg->c.malformed++;
    return MEDIA_LEG_RX_DROPPED;
  }
  if (!leg->has_keys) {
    leg->c.no_key++;
    return MEDIA_LEG_RX_DROPPED;
  }
  gsize wire_len = len;
  gboolean prev = FALSE;
  SrtpCtxResult r = unprotect(leg, FALSE, buf, &len, now, &prev, retry, retry_data);
  if (r != SRTPCTX_OK) {
    count_failure(leg, r);
    return MEDIA_LEG_RX_DROPPED;
  }
  if (prev)
    leg->c.in_previous_key++;
  if (leg->tx_switch_pending && leg->rx.current_seen)
    finish_tx_switch(leg);
  RtpPacket pkt;
  if (rtp_parse(buf, len, &pkt) != RTP_OK) {
    leg->c.malformed++;
    return MEDIA_LEG_RX_DROPPED;
  }
  latch(leg, FALSE, from, fromlen);
  leg->c.packets_in++;
  leg->c.bytes_in += wire_len;
  if (pkt.pt != G711_PT_PCMU && pkt.pt != G711_PT_PCMA) {
    leg->c.unknown_pt++;
    return MEDIA_LEG_RX_OTHER;
  }
  if (leg->in_seen && pkt.ssrc != leg->seen_ssrc) {
    leg->c.ssrc_changes++;
    rtcp_rx_init(&leg->rxs, CLOCK_RATE, 1);
  }
  leg->in_ssrc = leg->seen_ssrc = pkt.ssrc;
  leg->in_seen = TRUE;
  rtcp_rx_update(&leg->rxs, pkt.seq, pkt.ts, arrival, pkt.payload_len);
  FocusJitterPut put =
      focus_jitter_put(&leg->jb, pkt.ssrc, pkt.seq, pkt.pt, pkt.payload, pkt.payload_len);
  if (put == FOCUS_JITTER_PUT_BAD) {
    leg->c.malformed++;
    return MEDIA_LEG_RX_DROPPED;
  }
  leg->last_rx = now;
  return MEDIA_LEG_RX_AUDIO;
}

/* ------------------------------------------------------------------ send */

void media_leg_pull(MediaLeg *leg)
{
  FocusMixLeg *m = &leg->mix;
  m->has_audio = focus_jitter_get(&leg->jb, m->pcm) != FOCUS_JITTER_GET_NONE;
  m->wants_output = !leg->removed && leg->has_keys && leg->tx != NULL && leg->have_dst &&
                    !g_atomic_int_get(&leg->shared->removed);
  m->pt = leg->pt;
}

gsize media_leg_build_rtp(MediaLeg *leg, guint64 frame, guint8 *buf, gsize cap)
{
  if (leg->mix.out == NULL || leg->tx == NULL || !leg->have_dst || leg->removed ||
      g_atomic_int_get(&leg->shared->removed) || cap < MEDIA_LEG_BUF)
    return 0;
  gboolean marker = FALSE;
  if (!leg->tx_started) {
    leg->tx_started = TRUE;
    leg->tx_frame0 = frame;
    marker = TRUE;
  } else if (frame != leg->tx_last_frame + 1) {
    marker = TRUE; /* a talkspurt after a pause (the conference went idle) */
  }
  RtpHeader h = {
    .pt = leg->pt,
    .marker = marker,
    .seq = (guint16)leg->tx_index,
    .ts = leg->tx_ts_base + (guint32)((frame - leg->tx_frame0) * SAMPLES_PER_FRAME),
    .ssrc = leg->tx_ssrc,
  };
  gsize len = rtp_build(buf, cap, &h, leg->mix.out, FOCUS_MIX_FRAME);
  if (len == 0)
    return 0;
  SrtpCtxResult r = srtpctx_protect_rtp(leg->tx, buf, &len, cap);
  if (r != SRTPCTX_OK) {
    leg->c.send_failed++;
    leg->dirty = TRUE;
    return 0;
  }
  leg->tx_index++;
  leg->tx_last_frame = frame;
  return len;
}

gsize media_leg_build_rtcp(MediaLeg *leg, gint64 now, const char *cname, guint8 *buf, gsize cap)
{
  if (leg->tx == NULL || !leg->have_dst || leg->removed ||
      g_atomic_int_get(&leg->shared->removed) || cap < MEDIA_LEG_BUF)
    return 0;
  RtcpReport rep;
  memset(&rep, 0, sizeof rep);
  rep.ssrc = leg->tx_ssrc;
  if (leg->c.packets_out > 0) {
    rep.is_sr = TRUE;
    rep.ntp = rtcp_ntp_from_unix_usec(g_get_real_time());
    rep.rtp_ts =
        leg->tx_ts_base + (guint32)((leg->tx_last_frame - leg->tx_frame0) * SAMPLES_PER_FRAME);
    rep.packet_count = (guint32)leg->c.packets_out;
    rep.octet_count = (guint32)(leg->c.packets_out * FOCUS_MIX_FRAME);
  }
  if (leg->in_seen) {
    rtcp_rx_report(&leg->rxs, leg->seen_ssrc, now, &rep.blocks[0]);
    rep.n_blocks = 1;
  }
  if (!rep.is_sr && rep.n_blocks == 0)
    return 0;
  g_strlcpy(rep.cname, cname != NULL ? cname : "", sizeof rep.cname);
  gsize len = rtcp_build(buf, cap - SRTPCTX_MAX_RTCP_OVERHEAD, &rep);
  if (len == 0)
    return 0;
  if (srtpctx_protect_rtcp(leg->tx, buf, &len, cap) != SRTPCTX_OK) {
    leg->c.send_failed++;
    leg->dirty = TRUE;
    return 0;
  }
  return len;
}

void media_leg_sent(MediaLeg *leg, gboolean rtcp, gsize len, gboolean ok)
{
  if (!ok) {
    leg->c.send_failed++;
  } else if (rtcp) {
    leg->c.rtcp_out++;
  } else {
    leg->c.packets_out++;
    leg->c.bytes_out += len;
  }
  leg->dirty = TRUE;
}

void media_leg_housekeeping(MediaLeg *leg, gint64 now)
{
  if (leg->tx_switch_pending && now >= leg->tx_switch_deadline)
    finish_tx_switch(leg);
  if (leg->rx.previous != NULL && now >= leg->rx.previous_until) {
    srtp_rx_expire(&leg->rx, now);
    leg->dirty = TRUE;
  }
}

void media_leg_idle(MediaLeg *leg)
{
  focus_jitter_reset(&leg->jb);
  leg->mix.hangover = 0;
  leg->mix.talker = FALSE;
}

/* ------------------------------------------------------------------ statistics */

void media_leg_snapshot(MediaLeg *leg, FocusMediaLegStats *s)
{
  const MediaLegCounters *c = &leg->c;
  const FocusJitterStats *j = &leg->jb.stats;
  s->id = leg->id;
  s->rtp_port = leg->rtp_port;
  s->has_keys = leg->has_keys;
  s->in_policy = leg->in_keys.policy;
  s->out_policy = leg->out_keys.policy;
  s->pt = leg->pt;
  if (leg->have_dst && leg->dst_str[0] == '\0') /* formatted once per change, not per snapshot */
    media_sockaddr_format((const struct sockaddr *)&leg->dst_rtp, leg->dst_len, leg->dst_str,
                          sizeof leg->dst_str);
  g_strlcpy(s->peer, leg->have_dst ? leg->dst_str : "", sizeof s->peer);
  s->peer_latched = leg->latched_rtp;
  s->in_ssrc = leg->in_ssrc;
  s->out_ssrc = leg->tx_ssrc;
  s->out_roc = (guint32)(leg->tx_index >> 16);
  s->out_seq = (guint16)leg->tx_index;
  s->packets_in = c->packets_in;
  s->bytes_in = c->bytes_in;
  s->packets_out = c->packets_out;
  s->bytes_out = c->bytes_out;
  s->rtcp_in = c->rtcp_in;
  s->rtcp_out = c->rtcp_out;
  s->lost = leg->in_seen ? rtcp_rx_lost(&leg->rxs) : 0;
  s->jitter_ms = leg->in_seen ? rtcp_rx_jitter(&leg->rxs) / (CLOCK_RATE / 1000.0) : 0;
  s->decrypt_failed = c->decrypt_failed;
  s->replayed = c->replayed;
  s->malformed = c->malformed;
  s->oversized = c->oversized;
  s->unknown_pt = c->unknown_pt;
  s->no_key = c->no_key;
  s->send_failed = c->send_failed;
  s->late = j->late;
  s->dropped = j->dropped + j->duplicates;
  s->concealed = j->concealed;
  s->underruns = j->underruns;
  s->jb_delay_ms = focus_jitter_level(&leg->jb) * (FOCUS_MEDIA_TICK_USEC / 1000);
  s->rekeys = c->rekeys;
  s->csb_updates = c->csb_updates;
  s->out_switch_pending = leg->tx_switch_pending;
  s->in_previous_key = c->in_previous_key;
  s->ssrc_changes = c->ssrc_changes;
  s->remote_report = leg->have_remote;
  s->remote_fraction_lost = leg->remote.fraction_lost / 256.0;
  s->remote_lost = leg->remote.cumulative_lost;
  s->remote_jitter_ms = leg->remote.jitter / (CLOCK_RATE / 1000.0);
  s->rtt_ms = leg->rtt_usec >= 0 ? leg->rtt_usec / 1000.0 : -1;
  s->talking = leg->mix.talker;
}
