/* The RTP/SRTP endpoint of one mikeyua call (media.h). */
#include "media.h"

#include "common/g711.h"
#include "common/log.h"
#include "common/rtcp.h"
#include "common/rtp.h"
#include "common/srtpctx.h"
#include "common/tone.h"
#include "common/wav.h"
#include "mikey/exchange.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_USEC 20000
#define RTCP_INTERVAL_USEC (5 * G_USEC_PER_SEC)
#define PKT_MAX 1500
#define TONE_AMPLITUDE 8000.0
#define MAX_CATCH_UP 5 /* frames sent at once after a stall, then the schedule restarts */

/* One 20 ms schedule and one epoll set for every endpoint of the process: the main loop
 * watches a single descriptor however many calls there are (load mode runs hundreds), and
 * each wakeup costs the sockets that are ready, not all of them. */
struct _UaMediaClock {
  GList *members; /* UaMedia* */
  guint timer;
  gint64 next; /* monotonic µs of the next frame */
  int epfd;
  guint watch;
};

struct _UaMedia {
  UaMediaClock *clock;
  UaMediaConfig cfg;
  char *bind_ip;
  char *record_path;
  char *cname;
  int rtp_fd, rtcp_fd;
  guint rtp_watch, rtcp_watch; /* without a clock; with one its epoll set watches them */
  guint16 port;
  struct sockaddr_storage remote_rtp, remote_rtcp;
  socklen_t remote_len;
  gboolean have_remote;
  guint8 pt;
  /* our stream */
  guint32 ssrc;
  guint64 index; /* ROC << 16 | SEQ of the next packet */
  guint32 ts;
  ToneGen tone;
  gsize wav_pos;
  gboolean sending;
  /* keys */
  SrtpCtx *tx;
  SrtpRx rx; /* current and, for 2 s after a re-key, previous inbound keys */
  /* statistics */
  UaMediaStats stats;
  RtcpRxStats rx_stats;
  gboolean rx_stats_started;
  guint32 peer_ssrc;
  gint64 next_rtcp;
  guint32 sent_octets;
  WavWriter *rec; /* what arrives, decoded */
};

/* ------------------------------------------------------------------ sockets */

static int bind_udp(const char *ip, guint16 port, guint16 *bound, GError **error)
{
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
    family = s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    len = sizeof *s4;
  } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
    family = s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    len = sizeof *s6;
  } else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "RTP address '%s' is not an IP",
                ip);
    return -1;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "RTP socket: %s", g_strerror(e));
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
    int e = errno;
    close(fd);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "RTP bind %s:%u: %s", ip, port,
                g_strerror(e));
    return -1;
  }
  if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
    *bound = ntohs(family == AF_INET ? s4->sin_port : s6->sin6_port);
  return fd;
}

/* RTP on an ephemeral port, RTCP on the next (RFC 3550 11): a few tries when that is taken. */
static gboolean bind_pair(UaMedia *m, GError **error)
{
  for (int attempt = 0; attempt < 32; attempt++) {
    guint16 p = 0;
    int fd = bind_udp(m->bind_ip, 0, &p, error);
    if (fd < 0)
      return FALSE;
    if (p < 65535) {
      guint16 q = 0;
      g_autoptr(GError) local = NULL;
      int fd2 = bind_udp(m->bind_ip, (guint16)(p + 1), &q, &local);
      if (fd2 >= 0) {
        m->rtp_fd = fd;
        m->rtcp_fd = fd2;
        m->port = p;
        return TRUE;
      }
    }
    close(fd);
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
              "no free pair of UDP ports for RTP/RTCP on %s", m->bind_ip);
  return FALSE;
}

static gboolean set_sockaddr(struct sockaddr_storage *ss, socklen_t *len, const char *ip,
                             guint16 port)
{
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    *len = sizeof *s4;
    return TRUE;
  }
  if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    *len = sizeof *s6;
    return TRUE;
  }
  return FALSE;
}

/* ------------------------------------------------------------------ receiving */

static void on_rtp_packet(UaMedia *m, guint8 *buf, gsize len, gint64 now)
{
  gboolean used_previous = FALSE;
  SrtpCtxResult r = srtp_rx_unprotect_rtp(&m->rx, buf, &len, now, &used_previous);
  if (r != SRTPCTX_OK) {
    m->stats.decrypt_failed++;
    if (m->stats.decrypt_failed <= 3 || log_get_level() >= LOG_LEVEL_DEBUG)
      log_info("media %u: an SRTP packet did not decrypt: %s", m->port, srtpctx_result_str(r));
    return;
  }
  m->stats.received++;
  if (used_previous)
    m->stats.received_previous_key++;
  RtpPacket pkt;
  if (rtp_parse(buf, len, &pkt) != RTP_OK)
    return;
  if (!m->rx_stats_started) {
    rtcp_rx_init(&m->rx_stats, 8000, 1);
    m->rx_stats_started = TRUE;
  }
  m->peer_ssrc = pkt.ssrc;
  rtcp_rx_update(&m->rx_stats, pkt.seq, pkt.ts, now, pkt.payload_len);
  gint16 pcm[PKT_MAX];
  gsize n = MIN(pkt.payload_len, G_N_ELEMENTS(pcm));
  if (pkt.pt == G711_PT_PCMU)
    g711_ulaw_decode_block(pkt.payload, pcm, n);
  else if (pkt.pt == G711_PT_PCMA)
    g711_alaw_decode_block(pkt.payload, pcm, n);
  else
    return; /* telephone-event and others: counted, not played */
  if (m->rec) {
    g_autoptr(GError) error = NULL;
    if (!wav_writer_write(m->rec, pcm, n, &error)) {
      log_warning("recording stopped: %s", error->message);
      wav_writer_free(g_steal_pointer(&m->rec));
    }
  }
}

static gboolean on_rtp_readable(int fd, GIOCondition cond, gpointer data)
{
  UaMedia *m = data;
  guint8 buf[PKT_MAX + 64];
  for (int i = 0; i < 64; i++) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0)
      break;
    /* every datagram counts here, whatever it holds: after a removal the question is whether
     * anything still arrives, not whether it decrypts */
    gint64 now = g_get_monotonic_time();
    m->stats.datagrams++;
    m->stats.last_datagram_usec = now;
    if (!m->tx && !m->rx.current)
      continue; /* no keys yet: nothing can be read */
    on_rtp_packet(m, buf, (gsize)n, now);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_rtcp_readable(int fd, GIOCondition cond, gpointer data)
{
  UaMedia *m = data;
  guint8 buf[PKT_MAX + 64];
  for (int i = 0; i < 16; i++) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0)
      break;
    gsize len = (gsize)n;
    gint64 now = g_get_monotonic_time();
    if (srtp_rx_unprotect_rtcp(&m->rx, buf, &len, now, NULL) != SRTPCTX_OK)
      continue;
    RtcpReport rep;
    if (rtcp_parse(buf, len, &rep) != RTCP_OK)
      continue;
    m->stats.rtcp_received++;
    if (rep.is_sr && m->rx_stats_started)
      rtcp_rx_sr_received(&m->rx_stats, rep.ntp, now);
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ sending */

static void fill_frame(UaMedia *m, gint16 *pcm)
{
  switch (m->cfg.audio) {
  case UA_AUDIO_TONE:
    tone_fill(&m->tone, pcm, TONE_FRAME_SAMPLES);
    break;
  case UA_AUDIO_WAV:
    for (gsize i = 0; i < TONE_FRAME_SAMPLES; i++) {
      pcm[i] = m->cfg.wav_len ? m->cfg.wav[m->wav_pos] : 0;
      if (m->cfg.wav_len)
        m->wav_pos = (m->wav_pos + 1) % m->cfg.wav_len;
    }
    break;
  case UA_AUDIO_SILENCE:
    memset(pcm, 0, TONE_FRAME_SAMPLES * sizeof *pcm);
    break;
  }
}

static void send_rtcp(UaMedia *m, gint64 now)
{
  RtcpReport r = { 0 };
  r.ssrc = m->ssrc;
  r.is_sr = TRUE;
  r.ntp = rtcp_ntp_from_unix_usec(g_get_real_time());
  r.rtp_ts = m->ts;
  r.packet_count = (guint32)m->stats.sent;
  r.octet_count = m->sent_octets;
  if (m->rx_stats_started) {
    rtcp_rx_report(&m->rx_stats, m->peer_ssrc, now, &r.blocks[0]);
    r.n_blocks = 1;
  }
  g_strlcpy(r.cname, m->cname, sizeof r.cname);
  guint8 buf[RTCP_MAX_BUILD_LEN + SRTPCTX_MAX_RTCP_OVERHEAD];
  gsize len = rtcp_build(buf, sizeof buf, &r);
  if (len == 0 || srtpctx_protect_rtcp(m->tx, buf, &len, sizeof buf) != SRTPCTX_OK)
    return;
  if (sendto(m->rtcp_fd, buf, len, 0, (struct sockaddr *)&m->remote_rtcp, m->remote_len) >= 0)
    m->stats.rtcp_sent++;
}

static void send_frame(UaMedia *m, gint64 now)
{
  if (!m->sending || !m->have_remote || !m->tx)
    return;
  gint16 pcm[TONE_FRAME_SAMPLES];
  fill_frame(m, pcm);
  guint8 buf[RTP_HEADER_LEN + TONE_FRAME_SAMPLES + SRTPCTX_MAX_RTP_OVERHEAD];
  RtpHeader h = { .pt = m->pt,
                  .marker = m->stats.sent == 0,
                  .seq = (guint16)m->index,
                  .ts = m->ts,
                  .ssrc = m->ssrc };
  gsize len = rtp_build(buf, sizeof buf, &h, NULL, TONE_FRAME_SAMPLES);
  if (m->pt == G711_PT_PCMA)
    g711_alaw_encode_block(pcm, buf + RTP_HEADER_LEN, TONE_FRAME_SAMPLES);
  else
    g711_ulaw_encode_block(pcm, buf + RTP_HEADER_LEN, TONE_FRAME_SAMPLES);
  m->index++;
  m->ts += TONE_FRAME_SAMPLES;
  SrtpCtxResult r = srtpctx_protect_rtp(m->tx, buf, &len, sizeof buf);
  if (r != SRTPCTX_OK) {
    log_warning("media %u: SRTP protect failed: %s", m->port, srtpctx_result_str(r));
    return;
  }
  /* --send-loss: the packet was built and protected (its sequence number is used), so the
   * receiver sees a gap exactly as after a loss on the way */
  if (m->cfg.send_loss > 0 && g_random_double() * 100.0 < m->cfg.send_loss) {
    m->stats.dropped_by_us++;
    return;
  }
  if (sendto(m->rtp_fd, buf, len, 0, (struct sockaddr *)&m->remote_rtp, m->remote_len) >= 0) {
    m->stats.sent++;
    m->sent_octets += TONE_FRAME_SAMPLES;
  }
  if (now >= m->next_rtcp) {
    send_rtcp(m, now);
    m->next_rtcp = now + RTCP_INTERVAL_USEC;
  }
}

static gboolean on_clock(gpointer data)
{
  UaMediaClock *c = data;
  gint64 now = g_get_monotonic_time();
  int frames = 0;
  while (c->next <= now && frames < MAX_CATCH_UP) {
    for (GList *l = c->members; l; l = l->next)
      send_frame(l->data, now);
    c->next += FRAME_USEC;
    frames++;
  }
  if (c->next <= now)
    c->next = now + FRAME_USEC; /* too far behind: restart the schedule */
  return G_SOURCE_CONTINUE;
}

/* epoll_event.data.u64: the endpoint's address with bit 0 set for its RTCP socket. */
static gboolean on_epoll(int epfd, GIOCondition cond, gpointer data)
{
  struct epoll_event ev[256];
  int n = epoll_wait(epfd, ev, G_N_ELEMENTS(ev), 0);
  for (int i = 0; i < n; i++) {
    UaMedia *m = (UaMedia *)(gsize)(ev[i].data.u64 & ~(guint64)1);
    if (ev[i].data.u64 & 1)
      on_rtcp_readable(m->rtcp_fd, G_IO_IN, m);
    else
      on_rtp_readable(m->rtp_fd, G_IO_IN, m);
  }
  return G_SOURCE_CONTINUE;
}

UaMediaClock *ua_media_clock_new(void)
{
  UaMediaClock *c = g_new0(UaMediaClock, 1);
  c->next = g_get_monotonic_time() + FRAME_USEC;
  /* 5 ms ticks: frames go out within 5 ms of their time, in steps of 20 ms on average */
  c->timer = g_timeout_add(5, on_clock, c);
  c->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (c->epfd >= 0)
    c->watch = g_unix_fd_add(c->epfd, G_IO_IN, on_epoll, c);
  return c;
}

void ua_media_clock_free(UaMediaClock *c)
{
  if (!c)
    return;
  g_source_remove(c->timer);
  if (c->watch)
    g_source_remove(c->watch);
  if (c->epfd >= 0)
    close(c->epfd);
  g_list_free(c->members);
  g_free(c);
}

static gboolean clock_watch(UaMediaClock *c, UaMedia *m)
{
  if (!c || c->epfd < 0)
    return FALSE;
  struct epoll_event rtp = { .events = EPOLLIN, .data.u64 = (guint64)(gsize)m };
  struct epoll_event rtcp = { .events = EPOLLIN, .data.u64 = (guint64)(gsize)m | 1 };
  return epoll_ctl(c->epfd, EPOLL_CTL_ADD, m->rtp_fd, &rtp) == 0 &&
         epoll_ctl(c->epfd, EPOLL_CTL_ADD, m->rtcp_fd, &rtcp) == 0;
}

/* ------------------------------------------------------------------ lifetime */

UaMedia *ua_media_new(const UaMediaConfig *cfg, UaMediaClock *clock, GError **error)
{
  if (!srtpctx_global_init(error))
    return NULL;
  UaMedia *m = g_new0(UaMedia, 1);
  m->cfg = *cfg;
  m->bind_ip = g_strdup(cfg->bind_ip);
  m->record_path = g_strdup(cfg->record_path);
  m->cname = g_strdup(cfg->cname ? cfg->cname : "mikeyua");
  m->cfg.bind_ip = m->bind_ip;
  m->cfg.record_path = m->record_path;
  m->cfg.cname = m->cname;
  m->rtp_fd = m->rtcp_fd = -1;
  m->clock = clock;
  srtp_rx_init(&m->rx);
  if (!bind_pair(m, error)) {
    ua_media_free(m);
    return NULL;
  }
  guint32 r[3];
  if (!mikey_random_bytes((guint8 *)r, sizeof r, error)) {
    ua_media_free(m);
    return NULL;
  }
  m->ssrc = r[0] ? r[0] : 1;
  /* profile 6: ROC 0 and a random SEQ in 1000-20000 */
  m->index = 1000 + r[1] % 19001;
  m->ts = r[2];
  if (cfg->audio == UA_AUDIO_TONE)
    tone_init(&m->tone, cfg->tone_hz, TONE_AMPLITUDE, TONE_RATE);
  if (cfg->record_path) {
    m->rec = wav_writer_open(cfg->record_path, error);
    if (!m->rec) {
      ua_media_free(m);
      return NULL;
    }
  }
  if (!clock_watch(clock, m)) {
    m->rtp_watch = g_unix_fd_add(m->rtp_fd, G_IO_IN, on_rtp_readable, m);
    m->rtcp_watch = g_unix_fd_add(m->rtcp_fd, G_IO_IN, on_rtcp_readable, m);
  }
  if (clock)
    clock->members = g_list_prepend(clock->members, m);
  return m;
}

void ua_media_free(UaMedia *m)
{
  if (!m)
    return;
  if (m->clock)
    m->clock->members = g_list_remove(m->clock->members, m);
  if (m->rtp_watch)
    g_source_remove(m->rtp_watch);
  if (m->rtcp_watch)
    g_source_remove(m->rtcp_watch);
  if (m->rtp_fd >= 0)
    close(m->rtp_fd);
  if (m->rtcp_fd >= 0)
    close(m->rtcp_fd);
  if (m->rec) {
    g_autoptr(GError) error = NULL;
    if (!wav_writer_close(m->rec, &error))
      log_warning("recording %s: %s", m->record_path, error->message);
  }
  srtpctx_free(m->tx);
  srtp_rx_clear(&m->rx);
  g_free(m->bind_ip);
  g_free(m->record_path);
  g_free(m->cname);
  g_free(m);
}

guint16 ua_media_port(const UaMedia *m)
{
  return m->port;
}

guint32 ua_media_ssrc(const UaMedia *m)
{
  return m->ssrc;
}

guint32 ua_media_next_roc(const UaMedia *m)
{
  return (guint32)(m->index >> 16);
}

guint16 ua_media_next_seq(const UaMedia *m)
{
  return (guint16)m->index;
}

gboolean ua_media_set_remote(UaMedia *m, const char *addr, guint16 port, guint8 pt, GError **error)
{
  socklen_t len = 0;
  if (!set_sockaddr(&m->remote_rtp, &len, addr, port) ||
      !set_sockaddr(&m->remote_rtcp, &len, addr, (guint16)(port + 1))) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "the peer's media address '%s' is not an IP address", addr);
    return FALSE;
  }
  m->remote_len = len;
  m->have_remote = port != 0;
  m->pt = pt;
  return TRUE;
}

static SrtpCtx *ctx_new(guint8 policy_no, SrtpCtxDirection dir, const MikeySecret *key,
                        const MikeySecret *salt, gboolean any_ssrc, guint32 ssrc, guint32 roc,
                        GError **error)
{
  if (key->len != SRTPCTX_KEY_LEN || salt->len != mikey_profile_salt_len(policy_no)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "SRTP key/salt of %" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT " bytes for policy %u",
                key->len, salt->len, policy_no);
    return NULL;
  }
  SrtpCtxParams p = { .policy = (SrtpCtxPolicy)policy_no,
                      .direction = dir,
                      .master_key = key->data,
                      .master_salt = salt->data,
                      .master_salt_len = salt->len,
                      .any_ssrc = any_ssrc,
                      .ssrc = ssrc,
                      .roc = any_ssrc ? 0 : roc };
  return srtpctx_new(&p, error);
}

gboolean ua_media_set_keys(UaMedia *m, guint8 policy_no, const MikeySecret *tx_key,
                           const MikeySecret *tx_salt, const MikeySecret *rx_key,
                           const MikeySecret *rx_salt, guint32 peer_ssrc, guint32 peer_roc,
                           GError **error)
{
  g_autoptr(SrtpCtx) tx = ctx_new(policy_no, SRTPCTX_OUTBOUND, tx_key, tx_salt, FALSE, m->ssrc,
                                  ua_media_next_roc(m), error);
  if (!tx)
    return FALSE;
  g_autoptr(SrtpCtx) rx = ctx_new(policy_no, SRTPCTX_INBOUND, rx_key, rx_salt, peer_ssrc == 0,
                                  peer_ssrc, peer_roc, error);
  if (!rx)
    return FALSE;
  gint64 now = g_get_monotonic_time();
  if (!m->tx) {
    m->tx = g_steal_pointer(&tx);
    srtp_rx_install(&m->rx, g_steal_pointer(&rx), now, 0);
    m->sending = TRUE;
    m->next_rtcp = now + G_USEC_PER_SEC;
    return TRUE;
  }
  /* re-key (profile 8), as the offerer: the answerer already holds the new keys when its
   * answer arrives, so our stream switches now, and the answerer switches its own when our
   * first packet under the new key reaches it; its packets under the old key may still be on
   * the way, so the previous inbound key stays 2 s */
  srtp_rx_install(&m->rx, g_steal_pointer(&rx), now, SRTP_RX_KEEP_PREVIOUS_USEC);
  srtpctx_free(m->tx);
  m->tx = g_steal_pointer(&tx);
  m->stats.rekeys++;
  return TRUE;
}

void ua_media_stop(UaMedia *m)
{
  m->sending = FALSE;
}

void ua_media_get_stats(const UaMedia *m, UaMediaStats *stats)
{
  *stats = m->stats;
  if (m->rx_stats_started) {
    stats->lost = rtcp_rx_lost(&m->rx_stats);
    stats->jitter = rtcp_rx_jitter(&m->rx_stats);
  }
}
