/* The focus's media engine (src/focus/media.h) driven for real: the engine's worker threads on
 * loopback UDP, and in-test SRTP participants built on srtpctx, rtp, g711 and tone, each on
 * its own UDP socket pair, sending a tone every 20 ms from a thread of their own and recording
 * what the focus sends them. What is checked is what a participant hears (Goertzel levels of
 * the tones in its recording), what it receives (sequence and timestamp continuity, decryption)
 * and the engine's counters.
 *
 * Also pure tests of the jitter buffer and the mixer, and the API's refusals.
 *
 * Nothing here fails on machine speed alone: the audio checks look at levels and continuity,
 * and the few time bounds (a removed leg stops receiving within 100 ms, no gap over 40 ms across
 * a re-key) are measured on kernel arrival timestamps and RTP timestamps, not on when the test
 * thread got to run. */
#include "focus/jitter.h"
#include "focus/media.h"
#include "focus/mixer.h"

#include "common/g711.h"
#include "common/rtcp.h"
#include "common/rtp.h"
#include "common/srtpctx.h"
#include "common/tone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME 160
#define TONE_AMP 8000.0
#define CONF "sip:conf-0123456789abcdef0123456789abcdef@focus.test"

/* ------------------------------------------------------------------ the jitter buffer */

static void frame_of(guint8 *out, guint8 v)
{
  memset(out, v, FRAME);
}

static FocusJitterGet get_value(FocusJitter *jb, gint16 *first)
{
  gint16 pcm[FRAME];
  FocusJitterGet r = focus_jitter_get(jb, pcm);
  *first = pcm[0];
  return r;
}

/* µ-law code c decodes to g711_ulaw_table[c]: the tests tell frames apart by their code. */
static void test_jitter_order_loss_reorder(void)
{
  FocusJitter jb;
  focus_jitter_init(&jb);
  guint8 f[FRAME];
  gint16 v;
  frame_of(f, 0x10);
  g_assert_cmpint(focus_jitter_put(&jb, 7, 100, 0, f, FRAME), ==, FOCUS_JITTER_PUT_RESTARTED);
  /* the initial hold: one tick of nothing */
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_NONE);
  frame_of(f, 0x11);
  focus_jitter_put(&jb, 7, 101, 0, f, FRAME);
  frame_of(f, 0x13); /* 102 is lost, 103 comes */
  focus_jitter_put(&jb, 7, 103, 0, f, FRAME);
  frame_of(f, 0x15); /* 105 before 104: reordered */
  focus_jitter_put(&jb, 7, 105, 0, f, FRAME);
  frame_of(f, 0x14);
  focus_jitter_put(&jb, 7, 104, 0, f, FRAME);

  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
  g_assert_cmpint(v, ==, g711_ulaw_decode(0x10));
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
  g_assert_cmpint(v, ==, g711_ulaw_decode(0x11));
  /* 102: concealed with the last frame at full level */
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_CONCEALED);
  g_assert_cmpint(v, ==, g711_ulaw_decode(0x11));
  for (guint8 c = 0x13; c <= 0x15; c++) {
    g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
    g_assert_cmpint(v, ==, g711_ulaw_decode(c));
  }
  g_assert_cmpuint(jb.stats.concealed, ==, 1);
  g_assert_cmpuint(jb.stats.played, ==, 5);
  /* the sender stops: three fading concealed frames, then nothing */
  gint16 prev = g711_ulaw_decode(0x15);
  for (int i = 0; i < 3; i++) {
    g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_CONCEALED);
    g_assert_cmpint(ABS(v), <=, ABS(prev));
    prev = v;
  }
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_NONE);
  g_assert_cmpint(v, ==, 0);
  g_assert_false(focus_jitter_busy(&jb));
  /* ... and resumes where it stopped: played at once */
  frame_of(f, 0x16);
  g_assert_cmpint(focus_jitter_put(&jb, 7, 106, 0, f, FRAME), ==, FOCUS_JITTER_PUT_OK);
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
  g_assert_cmpint(v, ==, g711_ulaw_decode(0x16));
}

static void test_jitter_late_duplicate_bad(void)
{
  FocusJitter jb;
  focus_jitter_init(&jb);
  guint8 f[FRAME];
  gint16 v;
  frame_of(f, 0x20);
  focus_jitter_put(&jb, 1, 10, 8, f, FRAME);
  g_assert_cmpint(focus_jitter_put(&jb, 1, 10, 8, f, FRAME), ==, FOCUS_JITTER_PUT_DUPLICATE);
  get_value(&jb, &v); /* hold */
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
  g_assert_cmpint(v, ==, g711_alaw_decode(0x20)); /* PT 8 is A-law */
  g_assert_cmpint(focus_jitter_put(&jb, 1, 10, 8, f, FRAME), ==, FOCUS_JITTER_PUT_LATE);
  g_assert_cmpint(focus_jitter_put(&jb, 1, 11, 18, f, FRAME), ==, FOCUS_JITTER_PUT_BAD);
  g_assert_cmpint(focus_jitter_put(&jb, 1, 11, 0, f, 80), ==, FOCUS_JITTER_PUT_BAD);
  g_assert_cmpuint(jb.stats.late, ==, 1);
  g_assert_cmpuint(jb.stats.duplicates, ==, 1);
  g_assert_cmpuint(jb.stats.bad, ==, 2);
  /* a late packet adds a frame of delay: the next tick conceals without moving on */
  focus_jitter_put(&jb, 1, 11, 8, f, FRAME);
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_CONCEALED);
  g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
}

static void test_jitter_wrap_ssrc_bound(void)
{
  FocusJitter jb;
  focus_jitter_init(&jb);
  guint8 f[FRAME];
  gint16 v;
  /* across the 16-bit wrap: no restart, every frame in order */
  guint16 seq = 65530;
  for (int i = 0; i < 12; i++, seq++) {
    frame_of(f, (guint8)(0x30 + i));
    FocusJitterPut r = focus_jitter_put(&jb, 5, seq, 0, f, FRAME);
    g_assert_cmpint(r, ==, i == 0 ? FOCUS_JITTER_PUT_RESTARTED : FOCUS_JITTER_PUT_OK);
    if (i == 0)
      get_value(&jb, &v);
    g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
    g_assert_cmpint(v, ==, g711_ulaw_decode((guint8)(0x30 + i)));
  }
  g_assert_cmpuint(jb.stats.restarts, ==, 0);
  /* a new SSRC restarts the buffer */
  frame_of(f, 0x50);
  g_assert_cmpint(focus_jitter_put(&jb, 6, 500, 0, f, FRAME), ==, FOCUS_JITTER_PUT_RESTARTED);
  g_assert_cmpuint(jb.stats.restarts, ==, 1);
  /* a jump of more than 10 s restarts it too */
  g_assert_cmpint(focus_jitter_put(&jb, 6, 500 + 20000, 0, f, FRAME), ==,
                  FOCUS_JITTER_PUT_RESTARTED);
  /* a burst never buffers more than 200 ms */
  focus_jitter_init(&jb);
  for (guint16 s = 0; s < 40; s++) {
    focus_jitter_put(&jb, 9, s, 0, f, FRAME);
    g_assert_cmpuint(focus_jitter_level(&jb), <=, FOCUS_JITTER_MAX_FRAMES);
  }
  g_assert_cmpuint(jb.stats.dropped, >, 0);
}

static void test_jitter_adapts(void)
{
  FocusJitter jb;
  focus_jitter_init(&jb);
  guint8 f[FRAME];
  frame_of(f, 0x40);
  gint16 v;
  guint16 seq = 1000;
  /* A burst of 4 then steady one per tick: 4 frames of delay, more than needed ... */
  for (int i = 0; i < 4; i++)
    focus_jitter_put(&jb, 3, seq++, 0, f, FRAME);
  get_value(&jb, &v);
  guint start = focus_jitter_level(&jb);
  for (int t = 0; t < 2 * FOCUS_JITTER_SHRINK_TICKS + 10; t++) {
    focus_jitter_put(&jb, 3, seq++, 0, f, FRAME);
    g_assert_cmpint(get_value(&jb, &v), ==, FOCUS_JITTER_GET_FRAME);
  }
  /* ... which it sheds, one frame per calm period */
  g_assert_cmpuint(focus_jitter_level(&jb), <, start);
  g_assert_cmpuint(jb.stats.dropped, >=, 1);
  g_assert_cmpuint(jb.stats.concealed, ==, 0);
}

/* ------------------------------------------------------------------ the mixer */

static void test_mixer_n_minus_one(void)
{
  FocusMixer mx;
  focus_mixer_init(&mx);
  FocusMixLeg legs[5];
  memset(legs, 0, sizeof legs);
  FocusMixLeg *ptr[5];
  const gint16 level[5] = { 1000, 2000, 4000, 0, 0 }; /* three talkers, two silent */
  for (int i = 0; i < 5; i++) {
    for (int s = 0; s < FRAME; s++)
      legs[i].pcm[s] = level[i];
    legs[i].has_audio = TRUE;
    legs[i].wants_output = TRUE;
    legs[i].pt = i == 4 ? G711_PT_PCMA : G711_PT_PCMU;
    ptr[i] = &legs[i];
  }
  g_assert_cmpuint(focus_mixer_run(&mx, ptr, 5), ==, 3);
  for (int i = 0; i < 5; i++) {
    gint16 pcm[FRAME];
    if (legs[i].pt == G711_PT_PCMA)
      g711_alaw_decode_block(legs[i].out, pcm, FRAME);
    else
      g711_ulaw_decode_block(legs[i].out, pcm, FRAME);
    int want = 7000 - (legs[i].talker ? level[i] : 0);
    g_assert_cmpint(ABS(pcm[0] - want), <=, want / 16 + 8); /* within a G.711 step */
  }
  g_assert_true(legs[0].out == legs[0].own);
  g_assert_true(legs[3].out == mx.shared[0]); /* the silent PCMU leg: the shared frame */
  g_assert_true(legs[4].out == mx.shared[1]); /* the PCMA one: its own codec's shared frame */
  g_assert_cmpuint(mx.own_encodes, ==, 3);
  g_assert_cmpuint(mx.shared_encodes, ==, 2);

  /* saturation: two loud talkers, the listener gets full scale, not a wrapped value */
  gint32 sum[FRAME];
  memset(sum, 0, sizeof sum);
  gint16 loud[FRAME], out[FRAME];
  for (int s = 0; s < FRAME; s++)
    loud[s] = (gint16)(s & 1 ? -30000 : 30000);
  focus_mix_add(sum, loud, FRAME);
  focus_mix_add(sum, loud, FRAME);
  focus_mix_saturate(sum, out, FRAME);
  g_assert_cmpint(out[0], ==, G_MAXINT16);
  g_assert_cmpint(out[1], ==, G_MININT16);
  focus_mix_minus(sum, loud, out, FRAME); /* N−1 is exact below the limit */
  g_assert_cmpint(out[0], ==, 30000);
  g_assert_cmpint(out[1], ==, -30000);
}

static void test_mixer_hangover(void)
{
  FocusMixer mx;
  focus_mixer_init(&mx);
  FocusMixLeg a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  FocusMixLeg *ptr[2] = { &a, &b };
  a.has_audio = b.has_audio = TRUE;
  a.wants_output = b.wants_output = TRUE;
  for (int s = 0; s < FRAME; s++)
    a.pcm[s] = 3000;
  focus_mixer_run(&mx, ptr, 2);
  g_assert_true(a.talker);
  g_assert_false(b.talker);
  memset(a.pcm, 0, sizeof a.pcm); /* falls silent: still a talker for the hangover */
  for (int t = 0; t < FOCUS_MIX_HANGOVER; t++) {
    focus_mixer_run(&mx, ptr, 2);
    g_assert_true(a.talker);
  }
  focus_mixer_run(&mx, ptr, 2);
  g_assert_false(a.talker);
  g_assert_cmpuint(focus_mix_energy(a.pcm, FRAME), ==, 0);
}

/* ------------------------------------------------------------------ participants */

typedef struct {
  guint8 key[16];
  guint8 salt[14];
} Keys;

typedef struct {
  char name[16];
  guint64 leg;
  FocusMediaLegInfo info;
  SrtpCtxPolicy policy;
  guint8 pt;
  double freq;
  Keys k1, k2; /* CS 1 (we send), CS 2 (the focus sends) */
  int fd, rtcp_fd;
  guint16 port, rtcp_port;
  struct sockaddr_in focus, focus_rtcp;
  /* sending */
  SrtpCtx *tx;
  guint32 ssrc;
  guint64 index; /* ROC << 16 | SEQ of the next packet */
  guint32 ts;
  ToneGen tone;
  gboolean sending;
  double loss;
  GRand *rand;
  guint64 sent, dropped_on_purpose, rtcp_sent;
  guint8 last_packet[256]; /* the last packet sent, for replays */
  gsize last_len;
  /* receiving */
  SrtpRx rx;
  GArray *rec; /* gint16 samples in arrival order */
  guint64 received, decrypt_failed, rx_previous, rtcp_received;
  gboolean have_seq;
  guint16 last_seq;
  guint32 last_ts;
  guint32 last_ssrc;
  guint64 seq_gaps;
  guint32 max_ts_gap;       /* between consecutive packets of one SSRC */
  gint64 last_arrival_real; /* kernel timestamp of the last packet (µs, realtime) */
} Peer;

typedef struct {
  FocusMedia *m;
  pthread_mutex_t lock;
  GPtrArray *peers;
  GThread *thread;
  gint stop;
} Net;

/* The first (even) of n consecutive UDP ports free on 127.0.0.1 now: other programs (another
 * test, a daemon's media range) may hold whole ranges, so the tests look instead of assuming.
 * The engine skips ports taken later, so a race costs nothing as long as a few stay free. */
static guint16 free_ports(guint n)
{
  guint span = 62000 - 20000;
  guint start = (guint)(getpid() * 97) % span;
  for (guint k = 0; k < span; k += n) {
    guint16 base = (guint16)(20000 + ((start + k) % (span - n)) / 2 * 2);
    guint ok = 0;
    int *fds = g_new(int, n);
    for (; ok < n; ok++) {
      fds[ok] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in a = { .sin_family = AF_INET,
                               .sin_port = htons((guint16)(base + ok)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
      if (fds[ok] < 0 || bind(fds[ok], (struct sockaddr *)&a, sizeof a) < 0) {
        if (fds[ok] >= 0)
          close(fds[ok]);
        break;
      }
    }
    for (guint i = 0; i < ok; i++)
      close(fds[i]);
    g_free(fds);
    if (ok == n)
      return base;
  }
  g_assert_not_reached();
  return 0;
}

static FocusMedia *engine_new(guint workers, guint idle_ms, guint16 pmin, guint16 pmax)
{
  guint16 base = pmin ? 0 : free_ports(40);
  FocusMediaConfig cfg = {
    .n_workers = workers,
    .port_min = pmin ? pmin : base,
    .port_max = pmax ? pmax : (guint16)(base + 39),
    .bind_address = "127.0.0.1",
    .idle_after_ms = idle_ms,
    .cname = "focus@test",
    .rtcp_interval_ms = 500,
  };
  g_autoptr(GError) error = NULL;
  FocusMedia *m = focus_media_new(&cfg, &error);
  g_assert_no_error(error);
  g_assert_nonnull(m);
  return m;
}

static int udp_socket(guint16 *port)
{
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint(fd, >=, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  int one = 1, big = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  return fd;
}

static gsize salt_len(SrtpCtxPolicy p)
{
  return p == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
}

static SrtpCtx *ctx(SrtpCtxPolicy policy, SrtpCtxDirection dir, const Keys *k, guint32 ssrc,
                    guint32 roc)
{
  SrtpCtxParams p = {
    .policy = policy,
    .direction = dir,
    .master_key = k->key,
    .master_salt = k->salt,
    .master_salt_len = salt_len(policy),
    .any_ssrc = ssrc == 0,
    .ssrc = ssrc,
    .roc = roc,
  };
  g_autoptr(GError) error = NULL;
  SrtpCtx *c = srtpctx_new(&p, &error);
  g_assert_no_error(error);
  return c;
}

static void random_keys(Keys *k)
{
  for (gsize i = 0; i < sizeof k->key; i++)
    k->key[i] = (guint8)g_random_int();
  for (gsize i = 0; i < sizeof k->salt; i++)
    k->salt[i] = (guint8)g_random_int();
}

static FocusMediaLegParams leg_params(const Peer *p, const Keys *k1, const Keys *k2,
                                      guint32 in_ssrc, guint32 in_roc)
{
  FocusMediaLegParams lp = {
    .in = { .policy = p->policy,
            .key = k1->key,
            .salt = k1->salt,
            .salt_len = salt_len(p->policy),
            .ssrc = in_ssrc,
            .roc = in_roc },
    .out = { .policy = p->policy,
             .key = k2->key,
             .salt = k2->salt,
             .salt_len = salt_len(p->policy),
             .ssrc = 0 },
    .pt = p->pt,
    .peer_address = "127.0.0.1",
    .peer_port = p->port,
    .peer_rtcp_port = p->rtcp_port,
  };
  return lp;
}

typedef struct {
  SrtpCtxPolicy policy;
  guint8 pt;
  double freq;
  guint16 seq;           /* 0: random */
  guint32 roc;           /* of our first packet */
  guint16 focus_seq;     /* 0: the engine's; else the focus's stream starts here */
  gboolean tamper_focus; /* the focus gets a wrong CS 1 key */
  double loss;
  gboolean muted; /* joins without sending */
} PeerOpts;

static Peer *peer_join(Net *net, const char *name, const PeerOpts *o)
{
  Peer *p = g_new0(Peer, 1);
  g_strlcpy(p->name, name, sizeof p->name);
  p->policy = o->policy;
  p->pt = o->pt;
  p->freq = o->freq;
  p->loss = o->loss;
  p->rand = g_rand_new_with_seed((guint32)(o->freq * 7));
  p->fd = udp_socket(&p->port);
  p->rtcp_fd = udp_socket(&p->rtcp_port);
  p->rec = g_array_new(FALSE, FALSE, sizeof(gint16));
  random_keys(&p->k1);
  random_keys(&p->k2);
  p->ssrc = g_random_int() | 1;
  p->index = (guint64)o->roc << 16 | (o->seq ? o->seq : (guint16)g_random_int_range(1000, 20001));
  p->ts = g_random_int();
  tone_init(&p->tone, o->freq, TONE_AMP, 8000);
  srtp_rx_init(&p->rx);

  g_autoptr(GError) error = NULL;
  gboolean added = focus_media_add_leg(net->m, CONF, name, &p->info, &error);
  g_assert_no_error(error);
  g_assert_true(added);
  p->leg = p->info.id;
  Keys focus_k1 = p->k1;
  if (o->tamper_focus)
    focus_k1.key[3] ^= 0x40;
  FocusMediaLegParams lp = leg_params(p, &focus_k1, &p->k2, p->ssrc, o->roc);
  guint32 focus_ssrc = p->info.tx_ssrc;
  if (o->focus_seq) {
    focus_ssrc = g_random_int() | 2;
    lp.out.ssrc = focus_ssrc;
    lp.out.seq = o->focus_seq;
    lp.out.roc = 0;
  }
  g_assert_true(focus_media_leg_set_keys(net->m, p->leg, &lp, &error));
  g_assert_no_error(error);
  p->tx = ctx(p->policy, SRTPCTX_OUTBOUND, &p->k1, p->ssrc, o->roc);
  srtp_rx_install(&p->rx, ctx(p->policy, SRTPCTX_INBOUND, &p->k2, focus_ssrc, 0),
                  g_get_monotonic_time(), 0);
  p->focus = (struct sockaddr_in){ .sin_family = AF_INET,
                                   .sin_port = htons(p->info.rtp_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  p->focus_rtcp = p->focus;
  p->focus_rtcp.sin_port = htons(p->info.rtcp_port);
  p->sending = !o->muted;
  pthread_mutex_lock(&net->lock);
  g_ptr_array_add(net->peers, p);
  pthread_mutex_unlock(&net->lock);
  return p;
}

static void peer_free(Peer *p)
{
  srtpctx_free(p->tx);
  srtp_rx_clear(&p->rx);
  close(p->fd);
  close(p->rtcp_fd);
  g_array_unref(p->rec);
  g_rand_free(p->rand);
  g_free(p);
}

/* One 20 ms frame of our tone (peer thread, under the lock). */
static void peer_send(Peer *p)
{
  if (!p->sending || p->tx == NULL)
    return;
  gint16 pcm[FRAME];
  guint8 payload[FRAME];
  tone_fill(&p->tone, pcm, FRAME);
  if (p->pt == G711_PT_PCMA)
    g711_alaw_encode_block(pcm, payload, FRAME);
  else
    g711_ulaw_encode_block(pcm, payload, FRAME);
  RtpHeader h = { p->pt, FALSE, (guint16)p->index, p->ts, p->ssrc };
  guint8 buf[256];
  gsize len = rtp_build(buf, sizeof buf, &h, payload, FRAME);
  g_assert_cmpint(srtpctx_protect_rtp(p->tx, buf, &len, sizeof buf), ==, SRTPCTX_OK);
  p->index++;
  p->ts += FRAME;
  memcpy(p->last_packet, buf, len);
  p->last_len = len;
  if (p->loss > 0 && g_rand_double(p->rand) < p->loss) {
    p->dropped_on_purpose++;
    return;
  }
  if (sendto(p->fd, buf, len, 0, (struct sockaddr *)&p->focus, sizeof p->focus) == (ssize_t)len)
    p->sent++;
  /* an SRTCP sender report now and then, to the focus's RTCP port */
  if (p->sent % 25 == 1) {
    RtcpReport r;
    memset(&r, 0, sizeof r);
    r.ssrc = p->ssrc;
    r.is_sr = TRUE;
    r.ntp = rtcp_ntp_from_unix_usec(g_get_real_time());
    r.rtp_ts = p->ts;
    r.packet_count = (guint32)p->sent;
    r.octet_count = (guint32)(p->sent * FRAME);
    g_strlcpy(r.cname, p->name, sizeof r.cname);
    len = rtcp_build(buf, sizeof buf - SRTPCTX_MAX_RTCP_OVERHEAD, &r);
    if (len > 0 && srtpctx_protect_rtcp(p->tx, buf, &len, sizeof buf) == SRTPCTX_OK &&
        sendto(p->rtcp_fd, buf, len, 0, (struct sockaddr *)&p->focus_rtcp, sizeof p->focus_rtcp) ==
            (ssize_t)len)
      p->rtcp_sent++;
  }
}

static void peer_receive(Peer *p, int fd, gboolean rtcp)
{
  for (;;) {
    guint8 buf[2048];
    union {
      struct cmsghdr align;
      char b[CMSG_SPACE(sizeof(struct timespec))];
    } ctl;
    struct iovec iov = { buf, sizeof buf };
    struct msghdr h = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b
    };
    ssize_t n = recvmsg(fd, &h, MSG_DONTWAIT);
    if (n < 0)
      return;
    gint64 arrival = g_get_real_time();
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c != NULL; c = CMSG_NXTHDR(&h, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        arrival = (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
      }
    gsize len = (gsize)n;
    gboolean prev = FALSE;
    gint64 now = g_get_monotonic_time();
    if (rtcp) {
      if (srtp_rx_unprotect_rtcp(&p->rx, buf, &len, now, &prev) == SRTPCTX_OK)
        p->rtcp_received++;
      continue;
    }
    /* across a CSB update that changed the focus's SSRC, SrtpRx tries both contexts */
    SrtpCtxResult r = srtp_rx_unprotect_rtp(&p->rx, buf, &len, now, &prev);
    if (r != SRTPCTX_OK) {
      p->decrypt_failed++;
      continue;
    }
    p->last_arrival_real = arrival;
    if (prev)
      p->rx_previous++;
    RtpPacket pkt;
    g_assert_cmpint(rtp_parse(buf, len, &pkt), ==, RTP_OK);
    g_assert_cmpuint(pkt.payload_len, ==, FRAME);
    p->received++;
    if (p->have_seq && pkt.ssrc == p->last_ssrc) {
      gint32 d = rtp_seq_diff(pkt.seq, p->last_seq);
      if (d > 1)
        p->seq_gaps += (guint64)(d - 1);
      guint32 tg = pkt.ts - p->last_ts;
      if (d > 0 && tg > p->max_ts_gap)
        p->max_ts_gap = tg;
    }
    p->have_seq = TRUE;
    p->last_seq = pkt.seq;
    p->last_ts = pkt.ts;
    p->last_ssrc = pkt.ssrc;
    gint16 pcm[FRAME];
    if (pkt.pt == G711_PT_PCMA)
      g711_alaw_decode_block(pkt.payload, pcm, FRAME);
    else
      g711_ulaw_decode_block(pkt.payload, pcm, FRAME);
    g_array_append_vals(p->rec, pcm, FRAME);
  }
}

static gpointer net_thread(gpointer data)
{
  Net *net = data;
  gint64 next = g_get_monotonic_time();
  while (!g_atomic_int_get(&net->stop)) {
    gint64 now = g_get_monotonic_time();
    if (now >= next) {
      pthread_mutex_lock(&net->lock);
      for (guint i = 0; i < net->peers->len; i++)
        peer_send(g_ptr_array_index(net->peers, i));
      pthread_mutex_unlock(&net->lock);
      next += 20000;
      if (now - next > 200000)
        next = now + 20000; /* the test thread was starved: start the schedule again */
    }
    pthread_mutex_lock(&net->lock);
    guint n = net->peers->len;
    struct pollfd *fds = g_new0(struct pollfd, 2 * n + 1);
    for (guint i = 0; i < n; i++) {
      Peer *p = g_ptr_array_index(net->peers, i);
      fds[2 * i] = (struct pollfd){ p->fd, POLLIN, 0 };
      fds[2 * i + 1] = (struct pollfd){ p->rtcp_fd, POLLIN, 0 };
    }
    pthread_mutex_unlock(&net->lock);
    gint64 wait = next - g_get_monotonic_time();
    struct timespec ts = { 0, wait > 0 ? wait * 1000 : 0 };
    int r = ppoll(fds, 2 * n, &ts, NULL);
    if (r > 0) {
      pthread_mutex_lock(&net->lock);
      for (guint i = 0; i < n && i < net->peers->len; i++) {
        Peer *p = g_ptr_array_index(net->peers, i);
        if (fds[2 * i].revents & POLLIN)
          peer_receive(p, p->fd, FALSE);
        if (fds[2 * i + 1].revents & POLLIN)
          peer_receive(p, p->rtcp_fd, TRUE);
      }
      pthread_mutex_unlock(&net->lock);
    }
    g_free(fds);
  }
  return NULL;
}

static Net *net_new(guint workers, guint idle_ms)
{
  Net *net = g_new0(Net, 1);
  pthread_mutex_init(&net->lock, NULL);
  net->peers = g_ptr_array_new_with_free_func((GDestroyNotify)peer_free);
  net->m = engine_new(workers, idle_ms, 0, 0);
  net->thread = g_thread_new("peers", net_thread, net);
  return net;
}

static void net_free(Net *net)
{
  g_atomic_int_set(&net->stop, 1);
  g_thread_join(net->thread);
  focus_media_free(net->m);
  g_ptr_array_unref(net->peers);
  pthread_mutex_destroy(&net->lock);
  g_free(net);
}

/* Lets the main loop thread (the test) wait while the peers and workers run. */
static void run_for(guint ms)
{
  g_usleep((gulong)ms * 1000);
}

static gboolean leg_stats(Net *net, const Peer *p, FocusMediaLegStats *s)
{
  return focus_media_get_leg_stats(net->m, p->leg, s);
}

/* Levels (dB relative to all that arrived) of freqs in the last ms of p's recording. */
static void heard(Net *net, Peer *p, guint ms, const double *freqs, guint n, double *db)
{
  pthread_mutex_lock(&net->lock);
  gsize want = (gsize)ms * 8;
  gsize have = p->rec->len;
  gsize from = have > want ? have - want : 0;
  const gint16 *x = &g_array_index(p->rec, gint16, 0) + from;
  for (guint i = 0; i < n; i++)
    db[i] = have - from >= 1600 ? goertzel_level_db(x, have - from, freqs[i], 8000) : -200;
  pthread_mutex_unlock(&net->lock);
}

/* Every peer hears every other sending peer's tone and its own at least 30 dB below them. */
static void assert_hears_others(Net *net, GPtrArray *peers, guint ms)
{
  for (guint i = 0; i < peers->len; i++) {
    Peer *p = g_ptr_array_index(peers, i);
    double worst_other = 0, own = -200;
    for (guint j = 0; j < peers->len; j++) {
      Peer *q = g_ptr_array_index(peers, j);
      double db;
      heard(net, p, ms, &q->freq, 1, &db);
      if (q == p) {
        own = db;
      } else {
        g_test_message("%s hears %s (%.0f Hz) at %.1f dB", p->name, q->name, q->freq, db);
        g_assert_cmpfloat(db, >, -12.0);
        worst_other = MIN(worst_other, db);
      }
    }
    g_test_message("%s hears itself (%.0f Hz) at %.1f dB", p->name, p->freq, own);
    g_assert_cmpfloat(own, <=, worst_other - 30.0);
  }
}

static void assert_no_decrypt_failures(Net *net, GPtrArray *peers)
{
  for (guint i = 0; i < peers->len; i++) {
    Peer *p = g_ptr_array_index(peers, i);
    FocusMediaLegStats s;
    g_assert_true(leg_stats(net, p, &s));
    g_test_message("%s: in %" G_GUINT64_FORMAT " out %" G_GUINT64_FORMAT " lost %" G_GINT64_FORMAT
                   " concealed %" G_GUINT64_FORMAT " late %" G_GUINT64_FORMAT " jb %u ms "
                   "jitter %.2f ms rtcp in/out %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                   p->name, s.packets_in, s.packets_out, s.lost, s.concealed, s.late, s.jb_delay_ms,
                   s.jitter_ms, s.rtcp_in, s.rtcp_out);
    g_assert_cmpuint(s.decrypt_failed, ==, 0);
    g_assert_cmpuint(s.replayed, ==, 0);
    g_assert_cmpuint(s.malformed, ==, 0);
    g_assert_cmpuint(s.packets_in, >, 0);
    g_assert_cmpuint(s.packets_out, >, 0);
    pthread_mutex_lock(&net->lock);
    g_assert_cmpuint(p->decrypt_failed, ==, 0);
    g_assert_cmpuint(p->received, >, 0);
    pthread_mutex_unlock(&net->lock);
  }
}

/* Polls a leg's published statistics until cond holds (the worker publishes every 100 ms). */
#define WAIT_FOR(net, p, s, cond)                                                                  \
  do {                                                                                             \
    for (int w_ = 0; w_ < 300; w_++) {                                                             \
      g_assert_true(leg_stats(net, p, &s));                                                        \
      if (cond)                                                                                    \
        break;                                                                                     \
      g_usleep(10000);                                                                             \
    }                                                                                              \
    g_assert_true(cond);                                                                           \
  } while (0)

static GPtrArray *three_peers(Net *net, SrtpCtxPolicy policy, guint8 pt_c, const PeerOpts *extra)
{
  GPtrArray *peers = g_ptr_array_new();
  static const char *names[3] = { "alice", "bob", "carol" };
  static const double freqs[3] = { 400, 700, 1100 };
  for (guint i = 0; i < 3; i++) {
    PeerOpts o = extra ? extra[i] : (PeerOpts){ 0 };
    o.policy = policy;
    o.pt = i == 2 ? pt_c : G711_PT_PCMU;
    o.freq = freqs[i];
    g_ptr_array_add(peers, peer_join(net, names[i], &o));
  }
  return peers;
}

static void check_three_tones(SrtpCtxPolicy policy, guint8 pt_c)
{
  Net *net = net_new(2, 0);
  GPtrArray *peers = three_peers(net, policy, pt_c, NULL);
  run_for(1600);
  assert_hears_others(net, peers, 1000);
  assert_no_decrypt_failures(net, peers);
  FocusMediaLegStats s;
  Peer *alice = g_ptr_array_index(peers, 0);
  WAIT_FOR(net, alice, s, s.rtcp_in > 0 && s.rtcp_out > 0);
  g_assert_true(s.peer_latched);
  g_assert_cmpint(s.in_policy, ==, policy);
  g_assert_cmpstr(s.label, ==, "alice");
  g_assert_cmpstr(s.conf, ==, CONF);
  g_assert_cmpuint(s.in_ssrc, ==, alice->ssrc);
  pthread_mutex_lock(&net->lock);
  g_assert_cmpuint(alice->rtcp_received, >, 0);
  pthread_mutex_unlock(&net->lock);
  FocusMediaStats es;
  focus_media_get_stats(net->m, &es);
  g_assert_cmpuint(es.legs, ==, 3);
  g_assert_cmpuint(es.conferences, ==, 1);
  /* the conference lives on one worker */
  guint on = 0;
  for (guint i = 0; i < es.n_workers; i++)
    if (es.workers[i].legs > 0) {
      on++;
      g_assert_cmpuint(es.workers[i].legs, ==, 3);
      g_assert_cmpuint(es.workers[i].ticks, >, 50);
      g_assert_cmpuint(es.workers[i].shared_encodes + es.workers[i].own_encodes, >, 0);
    }
  g_assert_cmpuint(on, ==, 1);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void test_three_tones_gcm(void)
{
  check_three_tones(SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU);
}

static void test_three_tones_aes_cm(void)
{
  /* carol also takes A-law: two shared frames, one per codec */
  check_three_tones(SRTPCTX_AES_CM_128_HMAC_SHA1_80, G711_PT_PCMA);
}

static void test_remove_leg(void)
{
  Net *net = net_new(1, 0);
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, NULL);
  run_for(800);
  Peer *alice = g_ptr_array_index(peers, 0), *carol = g_ptr_array_index(peers, 2);
  pthread_mutex_lock(&net->lock);
  guint64 before = carol->received;
  pthread_mutex_unlock(&net->lock);
  g_assert_cmpuint(before, >, 0);
  gint64 removed_at = g_get_real_time();
  g_assert_true(focus_media_remove_leg(net->m, carol->leg));
  g_assert_false(focus_media_remove_leg(net->m, carol->leg));
  FocusMediaLegStats s;
  g_assert_false(leg_stats(net, carol, &s));
  run_for(1200);
  pthread_mutex_lock(&net->lock);
  gint64 last = carol->last_arrival_real;
  pthread_mutex_unlock(&net->lock);
  g_test_message("carol's last packet arrived %" G_GINT64_FORMAT " us after the removal",
                 last - removed_at);
  g_assert_cmpint(last - removed_at, <=, 100000);
  /* carol's tone is gone from alice's last second, bob's is still there */
  double f[2] = { carol->freq, 700 }, db[2];
  heard(net, alice, 800, f, 2, db);
  g_test_message("alice: carol %.1f dB, bob %.1f dB", db[0], db[1]);
  g_assert_cmpfloat(db[1], >, -6.0);
  g_assert_cmpfloat(db[0], <=, db[1] - 30.0);
  FocusMediaStats es;
  focus_media_get_stats(net->m, &es);
  g_assert_cmpuint(es.legs, ==, 2);
  g_assert_cmpuint(es.ports_in_use, ==, 2);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void test_wrong_key(void)
{
  Net *net = net_new(1, 0);
  PeerOpts extra[3] = { { 0 }, { 0 }, { .tamper_focus = TRUE } };
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, extra);
  run_for(1600);
  Peer *alice = g_ptr_array_index(peers, 0), *bob = g_ptr_array_index(peers, 1),
       *carol = g_ptr_array_index(peers, 2);
  FocusMediaLegStats s;
  WAIT_FOR(net, carol, s, s.decrypt_failed > 40);
  g_assert_cmpuint(s.packets_in, ==, 0);
  g_assert_false(s.peer_latched);
  /* nobody hears carol; alice and bob hear each other as before */
  double f[3] = { 400, 700, 1100 }, db[3];
  heard(net, alice, 1000, f, 3, db);
  g_assert_cmpfloat(db[1], >, -6.0);
  g_assert_cmpfloat(db[2], <=, db[1] - 30.0);
  g_assert_cmpfloat(db[0], <=, db[1] - 30.0);
  heard(net, bob, 1000, f, 3, db);
  g_assert_cmpfloat(db[0], >, -6.0);
  g_assert_cmpfloat(db[2], <=, db[0] - 30.0);
  GPtrArray *good = g_ptr_array_new();
  g_ptr_array_add(good, alice);
  g_ptr_array_add(good, bob);
  assert_no_decrypt_failures(net, good);
  g_ptr_array_unref(good);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void test_loss(void)
{
  Net *net = net_new(1, 0);
  PeerOpts extra[3] = { { .loss = 0.05 }, { .loss = 0.05 }, { .loss = 0.05 } };
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, extra);
  run_for(2600);
  assert_hears_others(net, peers, 2000);
  guint64 concealed = 0;
  for (guint i = 0; i < peers->len; i++) {
    Peer *p = g_ptr_array_index(peers, i);
    FocusMediaLegStats s;
    g_assert_true(leg_stats(net, p, &s));
    pthread_mutex_lock(&net->lock);
    g_test_message("%s: dropped %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   "; focus: lost %" G_GINT64_FORMAT " concealed %" G_GUINT64_FORMAT,
                   p->name, p->dropped_on_purpose, p->sent + p->dropped_on_purpose, s.lost,
                   s.concealed);
    g_assert_cmpuint(p->dropped_on_purpose, >, 0);
    pthread_mutex_unlock(&net->lock);
    g_assert_cmpint(s.lost, >, 0);
    g_assert_cmpuint(s.decrypt_failed, ==, 0);
    concealed += s.concealed;
    /* the audio keeps going: nearly every 20 ms of the last 2 s carries the others' tones */
    pthread_mutex_lock(&net->lock);
    gsize n = p->rec->len, frames = 0, loud = 0;
    for (gsize f = n > 16000 ? n - 16000 : 0; f + FRAME <= n; f += FRAME, frames++)
      if (focus_mix_energy(&g_array_index(p->rec, gint16, f), FRAME) > 1000000)
        loud++;
    pthread_mutex_unlock(&net->lock);
    g_test_message("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " frames loud", p->name, loud,
                   frames);
    g_assert_cmpuint(loud * 100, >=, frames * 95);
  }
  g_assert_cmpuint(concealed, >, 0);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void send_raw(int fd, guint16 port, const guint8 *buf, gsize len)
{
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  g_assert_cmpint(sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof a), ==, (ssize_t)len);
}

static FocusMediaWorkerStats worker_stats(FocusMedia *m, guint i)
{
  FocusMediaStats es;
  focus_media_get_stats(m, &es);
  return es.workers[i];
}

static void test_garbage(void)
{
  Net *net = net_new(1, 300);
  PeerOpts o = { .policy = SRTPCTX_AEAD_AES_128_GCM, .pt = 0, .freq = 400, .muted = TRUE };
  Peer *alice = peer_join(net, "alice", &o);
  o.freq = 700;
  Peer *bob = peer_join(net, "bob", &o);
  guint16 junk_port;
  int junk = udp_socket(&junk_port);
  GRand *r = g_rand_new_with_seed(4242);
  guint8 buf[4000];
  /* while idle: random datagrams wake the worker but never start its clock */
  for (int i = 0; i < 300; i++) {
    gsize len = (gsize)g_rand_int_range(r, 0, 400);
    for (gsize j = 0; j < len; j++)
      buf[j] = (guint8)g_rand_int(r);
    if (i % 3 == 0 && len >= 12)
      buf[0] = 0x80; /* looks like RTP version 2 */
    send_raw(junk, i % 2 ? alice->info.rtcp_port : alice->info.rtp_port, buf, len);
  }
  memset(buf, 0x80, sizeof buf);
  send_raw(junk, alice->info.rtp_port, buf, 3000); /* oversized */
  FocusMediaLegStats s;
  WAIT_FOR(net, alice, s, s.decrypt_failed + s.malformed + s.oversized >= 290 && s.oversized == 1);
  g_assert_cmpuint(s.packets_in, ==, 0);
  g_assert_false(s.peer_latched);
  g_assert_false(worker_stats(net->m, 0).clock_running);
  g_assert_cmpuint(worker_stats(net->m, 0).ticks, ==, 0);

  /* media flows; then a replay, an unknown payload type, more garbage in the middle of it */
  pthread_mutex_lock(&net->lock);
  alice->sending = bob->sending = TRUE;
  pthread_mutex_unlock(&net->lock);
  run_for(500);
  pthread_mutex_lock(&net->lock);
  gsize rlen = alice->last_len;
  memcpy(buf, alice->last_packet, rlen);
  /* PT 101 (telephone-event), properly encrypted: authenticated, counted, not mixed */
  RtpHeader h = { 101, FALSE, (guint16)alice->index, alice->ts, alice->ssrc };
  guint8 ev[64];
  guint8 evp[4] = { 1, 0x0a, 0, 160 };
  gsize evlen = rtp_build(ev, sizeof ev, &h, evp, sizeof evp);
  g_assert_cmpint(srtpctx_protect_rtp(alice->tx, ev, &evlen, sizeof ev), ==, SRTPCTX_OK);
  alice->index++;
  pthread_mutex_unlock(&net->lock);
  send_raw(junk, alice->info.rtp_port, buf, rlen);      /* a replay of the last packet */
  send_raw(alice->fd, alice->info.rtp_port, ev, evlen); /* from alice: it authenticates */
  for (int i = 0; i < 200; i++) {
    gsize len = (gsize)g_rand_int_range(r, 12, 300);
    for (gsize j = 0; j < len; j++)
      buf[j] = (guint8)g_rand_int(r);
    buf[0] = 0x80;
    buf[1] = 0;
    if (i % 2) { /* alice's SSRC: these get as far as the authentication tag */
      buf[8] = (guint8)(alice->ssrc >> 24);
      buf[9] = (guint8)(alice->ssrc >> 16);
      buf[10] = (guint8)(alice->ssrc >> 8);
      buf[11] = (guint8)alice->ssrc;
    }
    send_raw(junk, alice->info.rtp_port, buf, len);
  }
  run_for(800);
  WAIT_FOR(net, alice, s, s.replayed >= 1 && s.unknown_pt == 1);
  g_test_message("alice: decrypt_failed %" G_GUINT64_FORMAT " malformed %" G_GUINT64_FORMAT
                 " oversized %" G_GUINT64_FORMAT " replayed %" G_GUINT64_FORMAT
                 " unknown_pt %" G_GUINT64_FORMAT,
                 s.decrypt_failed, s.malformed, s.oversized, s.replayed, s.unknown_pt);
  /* random bytes mostly fail before the MAC (wrong SSRC for the key: malformed) */
  /* (loopback may drop a few of a burst of 200 if the socket buffer fills) */
  g_assert_cmpuint(s.decrypt_failed + s.malformed + s.replayed, >=, 450);
  g_assert_cmpuint(s.decrypt_failed, >=, 40);
  /* symmetric RTP stayed with alice: the junk socket never became the destination */
  g_autofree char *want = g_strdup_printf("127.0.0.1:%u", alice->port);
  g_assert_cmpstr(s.peer, ==, want);
  /* the audio went on */
  double db;
  heard(net, bob, 600, &alice->freq, 1, &db);
  g_assert_cmpfloat(db, >, -3.0);
  heard(net, alice, 600, &bob->freq, 1, &db);
  g_assert_cmpfloat(db, >, -3.0);
  g_rand_free(r);
  close(junk);
  net_free(net);
}

static void test_idle_no_wakeups(void)
{
  Net *net = net_new(1, 300);
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, NULL);
  run_for(600);
  g_assert_true(worker_stats(net->m, 0).clock_running);
  pthread_mutex_lock(&net->lock);
  for (guint i = 0; i < peers->len; i++)
    ((Peer *)g_ptr_array_index(peers, i))->sending = FALSE;
  pthread_mutex_unlock(&net->lock);
  /* the clock stops idle_after (300 ms) after the last packet */
  gboolean stopped = FALSE;
  for (int i = 0; i < 300 && !stopped; i++) {
    g_usleep(10000);
    stopped = !worker_stats(net->m, 0).clock_running;
  }
  g_assert_true(stopped);
  g_usleep(200000); /* packets still in flight */
  FocusMediaWorkerStats a = worker_stats(net->m, 0);
  run_for(1500);
  FocusMediaWorkerStats b = worker_stats(net->m, 0);
  g_test_message("idle: %" G_GUINT64_FORMAT " wake-ups and %" G_GUINT64_FORMAT
                 " ticks in 1.5 s (cpu %" G_GINT64_FORMAT " us)",
                 b.wakeups - a.wakeups, b.ticks - a.ticks, b.cpu_usec - a.cpu_usec);
  g_assert_cmpuint(b.wakeups, ==, a.wakeups);
  g_assert_cmpuint(b.ticks, ==, a.ticks);
  g_assert_false(b.clock_running);
  /* the first packet starts it again, and the audio flows */
  Peer *alice = g_ptr_array_index(peers, 0), *bob = g_ptr_array_index(peers, 1);
  pthread_mutex_lock(&net->lock);
  alice->sending = TRUE;
  gsize rec_before = bob->rec->len;
  pthread_mutex_unlock(&net->lock);
  run_for(800);
  FocusMediaWorkerStats c = worker_stats(net->m, 0);
  g_assert_true(c.clock_running);
  g_assert_cmpuint(c.clock_starts, >, b.clock_starts);
  pthread_mutex_lock(&net->lock);
  g_assert_cmpuint(bob->rec->len, >, rec_before + 20 * FRAME);
  pthread_mutex_unlock(&net->lock);
  double db;
  heard(net, bob, 400, &alice->freq, 1, &db);
  g_assert_cmpfloat(db, >, -3.0);
  g_ptr_array_unref(peers);
  net_free(net);
}

/* Profile 8 from the participant's side: it offered new keys; it switches its sending key when
 * the answer comes (right after the focus was given the keys), keeps its previous inbound key
 * for 2 s, and must lose nothing. */
static void peer_rekey(Net *net, Peer *p, const Keys *k1, const Keys *k2)
{
  pthread_mutex_lock(&net->lock);
  p->k1 = *k1;
  p->k2 = *k2;
  srtpctx_free(p->tx);
  p->tx = ctx(p->policy, SRTPCTX_OUTBOUND, k1, p->ssrc, (guint32)(p->index >> 16));
  srtp_rx_install(&p->rx, ctx(p->policy, SRTPCTX_INBOUND, k2, p->info.tx_ssrc, 0),
                  g_get_monotonic_time(), SRTP_RX_KEEP_PREVIOUS_USEC);
  pthread_mutex_unlock(&net->lock);
}

static void test_rekey(void)
{
  Net *net = net_new(1, 0);
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, NULL);
  Peer *alice = g_ptr_array_index(peers, 0), *bob = g_ptr_array_index(peers, 1);
  run_for(800);
  FocusMediaLegStats s0;
  g_assert_true(leg_stats(net, alice, &s0));
  /* alice re-keys (a new ticket): the focus gets the keys, then she switches */
  Keys k1, k2;
  random_keys(&k1);
  random_keys(&k2);
  FocusMediaLegParams lp = leg_params(alice, &k1, &k2, alice->ssrc, 0);
  g_autoptr(GError) error = NULL;
  g_assert_true(focus_media_leg_rekey(net->m, alice->leg, &lp, &error));
  g_assert_no_error(error);
  peer_rekey(net, alice, &k1, &k2);
  /* bob re-keys while he is muted: the focus cannot see him switch, so it switches after 1 s */
  pthread_mutex_lock(&net->lock);
  bob->sending = FALSE;
  pthread_mutex_unlock(&net->lock);
  random_keys(&k1);
  random_keys(&k2);
  lp = leg_params(bob, &k1, &k2, bob->ssrc, 0);
  g_assert_true(focus_media_leg_rekey(net->m, bob->leg, &lp, &error));
  peer_rekey(net, bob, &k1, &k2);
  FocusMediaLegStats s;
  WAIT_FOR(net, bob, s, s.rekeys == 1);
  run_for(1500);
  pthread_mutex_lock(&net->lock);
  bob->sending = TRUE;
  pthread_mutex_unlock(&net->lock);
  run_for(1000);

  WAIT_FOR(net, alice, s, s.rekeys == 1 && !s.out_switch_pending);
  g_test_message("alice: lost %" G_GINT64_FORMAT " late %" G_GUINT64_FORMAT
                 " previous-key packets %" G_GUINT64_FORMAT,
                 s.lost, s.late, s.in_previous_key);
  g_assert_cmpint(s.lost, ==, 0);
  g_assert_cmpuint(s.decrypt_failed, ==, 0);
  WAIT_FOR(net, bob, s, !s.out_switch_pending);
  g_assert_cmpuint(s.decrypt_failed, ==, 0);
  for (guint i = 0; i < 2; i++) {
    Peer *p = i ? bob : alice;
    pthread_mutex_lock(&net->lock);
    g_test_message("%s: received %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
                   " on the previous key), gaps %" G_GUINT64_FORMAT ", longest step %u samples",
                   p->name, p->received, p->rx_previous, p->seq_gaps, p->max_ts_gap);
    g_assert_cmpuint(p->decrypt_failed, ==, 0);
    g_assert_cmpuint(p->seq_gaps, ==, 0);
    g_assert_cmpuint(p->max_ts_gap, <=, 320); /* no audio gap over 40 ms */
    pthread_mutex_unlock(&net->lock);
  }
  assert_hears_others(net, peers, 800);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void test_csb_update(void)
{
  Net *net = net_new(1, 0);
  GPtrArray *peers = three_peers(net, SRTPCTX_AEAD_AES_128_GCM, G711_PT_PCMU, NULL);
  Peer *bob = g_ptr_array_index(peers, 1);
  run_for(700);
  /* bob changes his SSRC, and the focus's stream to him gets a new one too; keys unchanged */
  guint32 new_ssrc = bob->ssrc ^ 0x5a5a0000;
  guint32 focus_ssrc = bob->info.tx_ssrc ^ 0x00a5a500;
  FocusMediaLegParams lp = {
    .in = { .policy = bob->policy, .ssrc = new_ssrc },
    .out = { .policy = bob->policy, .ssrc = focus_ssrc, .seq = 3000 },
    .pt = FOCUS_MEDIA_PT_UNCHANGED,
  };
  g_autoptr(GError) error = NULL;
  g_assert_true(focus_media_leg_update_csb(net->m, bob->leg, &lp, &error));
  g_assert_no_error(error);
  pthread_mutex_lock(&net->lock);
  bob->ssrc = new_ssrc;
  srtpctx_free(bob->tx);
  bob->tx = ctx(bob->policy, SRTPCTX_OUTBOUND, &bob->k1, new_ssrc, 0);
  bob->index = 7000;
  srtp_rx_install(&bob->rx, ctx(bob->policy, SRTPCTX_INBOUND, &bob->k2, focus_ssrc, 0),
                  g_get_monotonic_time(), SRTP_RX_KEEP_PREVIOUS_USEC);
  pthread_mutex_unlock(&net->lock);
  run_for(1200);
  FocusMediaLegStats s;
  WAIT_FOR(net, bob, s, s.csb_updates == 1 && s.in_ssrc == new_ssrc);
  g_test_message("bob: in %" G_GUINT64_FORMAT " decrypt_failed %" G_GUINT64_FORMAT
                 " malformed %" G_GUINT64_FORMAT " ssrc changes %" G_GUINT64_FORMAT,
                 s.packets_in, s.decrypt_failed, s.malformed, s.ssrc_changes);
  g_assert_cmpuint(s.ssrc_changes, ==, 1);
  g_assert_cmpuint(s.out_ssrc, ==, focus_ssrc);
  g_assert_cmpuint(s.decrypt_failed, ==, 0);
  g_assert_cmpuint(s.rekeys, ==, 0);
  pthread_mutex_lock(&net->lock);
  g_assert_cmpuint(bob->last_ssrc, ==, focus_ssrc);
  g_assert_cmpuint(bob->decrypt_failed, ==, 0);
  pthread_mutex_unlock(&net->lock);
  guint32 ssrc = 0, roc = 9;
  guint16 seq = 0;
  g_assert_true(focus_media_leg_tx_state(net->m, bob->leg, &ssrc, &roc, &seq));
  g_assert_cmpuint(ssrc, ==, focus_ssrc);
  g_assert_cmpuint(roc, ==, 0);
  g_assert_cmpuint(seq, >, 3000);
  assert_hears_others(net, peers, 800);

  /* a policy change without the salt of the new policy is refused */
  lp.in.policy = SRTPCTX_AES_CM_128_HMAC_SHA1_80;
  g_assert_false(focus_media_leg_update_csb(net->m, bob->leg, &lp, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_ptr_array_unref(peers);
  net_free(net);
}

static void test_seq_wrap(void)
{
  Net *net = net_new(1, 0);
  /* everybody's sequence numbers wrap after 0.7 s; carol's stream starts at ROC 3 */
  PeerOpts extra[3] = { { .seq = 65500, .focus_seq = 65510 },
                        { .seq = 65530, .focus_seq = 65500 },
                        { .seq = 65490, .roc = 3, .focus_seq = 65535 } };
  GPtrArray *peers = three_peers(net, SRTPCTX_AES_CM_128_HMAC_SHA1_80, G711_PT_PCMU, extra);
  run_for(2200);
  assert_hears_others(net, peers, 1000);
  assert_no_decrypt_failures(net, peers);
  for (guint i = 0; i < peers->len; i++) {
    Peer *p = g_ptr_array_index(peers, i);
    FocusMediaLegStats s;
    g_assert_true(leg_stats(net, p, &s));
    g_assert_cmpint(s.lost, <=, 0);
    g_assert_cmpuint(s.out_roc, ==, 1); /* the focus's streams wrapped too */
    pthread_mutex_lock(&net->lock);
    g_assert_cmpuint(p->index >> 16, ==, i == 2 ? 4 : 1);
    g_assert_cmpuint(p->seq_gaps, ==, 0);
    pthread_mutex_unlock(&net->lock);
  }
  g_ptr_array_unref(peers);
  net_free(net);
}

/* ------------------------------------------------------------------ the API */

static void test_api_refusals(void)
{
  guint16 base = free_ports(4);
  FocusMedia *m = engine_new(2, 0, base, (guint16)(base + 3)); /* two pairs */
  g_autoptr(GError) error = NULL;
  FocusMediaLegInfo a, b, c;
  g_assert_true(focus_media_add_leg(m, "conf-a", "alice", &a, &error));
  g_assert_true(focus_media_add_leg(m, "conf-b", "bob", &b, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(a.rtp_port % 2, ==, 0);
  g_assert_cmpuint(a.rtcp_port, ==, a.rtp_port + 1);
  g_assert_cmpuint(a.worker, !=, b.worker); /* a new conference goes to the least loaded */
  g_assert_cmpuint(a.tx_seq, >=, 1000);
  g_assert_cmpuint(a.tx_seq, <=, 20000);
  g_assert_false(focus_media_add_leg(m, "conf-a", "carol", &c, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error(&error);

  Keys k;
  random_keys(&k);
  FocusMediaLegParams lp = {
    .in = { SRTPCTX_AEAD_AES_128_GCM, k.key, k.salt, 12, 1234, 0, 0 },
    .out = { SRTPCTX_AEAD_AES_128_GCM, k.key, k.salt, 12, 0, 0, 0 },
    .pt = 0,
    .peer_address = "127.0.0.1",
    .peer_port = 5004,
  };
  g_assert_false(focus_media_leg_update_csb(m, a.id, &lp, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
  g_clear_error(&error);
  g_assert_false(focus_media_leg_rekey(m, a.id, &lp, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
  g_clear_error(&error);
  g_assert_false(focus_media_leg_set_keys(m, 999, &lp, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);

  FocusMediaLegParams bad = lp;
  bad.in.salt_len = 14; /* AES-CM's salt length with GCM */
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.out.key = NULL;
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.pt = 18;
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.peer_address = "focus.example.org"; /* never a DNS lookup on the main thread */
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.peer_address = "::1"; /* IPv6 peer, IPv4 sockets */
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.in.ssrc = 0;
  bad.in.roc = 2; /* a ROC for a wildcard stream */
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  bad = lp;
  bad.in.policy = (SrtpCtxPolicy)7;
  g_assert_false(focus_media_leg_set_keys(m, a.id, &bad, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  g_assert_true(focus_media_leg_set_keys(m, a.id, &lp, &error));
  g_assert_no_error(error);
  guint32 ssrc = 0;
  guint16 seq = 0;
  g_assert_true(focus_media_leg_tx_state(m, a.id, &ssrc, NULL, &seq));
  g_assert_cmpuint(ssrc, ==, a.tx_ssrc);
  FocusMediaLegStats s;
  g_assert_true(focus_media_get_leg_stats(m, a.id, &s));
  g_assert_cmpstr(s.label, ==, "alice");
  g_autoptr(JsonNode) j = focus_media_leg_stats_json(&s);
  JsonObject *o = json_node_get_object(j);
  for (const char *const *k2 =
           (const char *const[]){ "identity", "address", "codec", "srtp", "packets_in",
                                  "packets_out", "lost", "jitter_ms", "decrypt_failed", NULL };
       *k2 != NULL; k2++)
    g_assert_true(json_object_has_member(o, *k2));
  FocusMediaStats es;
  focus_media_get_stats(m, &es);
  g_assert_cmpuint(es.n_workers, ==, 2);
  g_assert_cmpuint(es.ports_in_use, ==, 2);
  g_autoptr(JsonNode) js = focus_media_stats_json(&es);
  g_assert_cmpint(json_object_get_int_member(json_node_get_object(js), "legs"), ==, 2);

  /* ending a conference frees its ports at once */
  g_assert_cmpuint(focus_media_end_conference(m, "conf-a"), ==, 1);
  g_assert_cmpuint(focus_media_end_conference(m, "conf-a"), ==, 0);
  g_autoptr(GArray) none = focus_media_get_conf_stats(m, "conf-a");
  g_assert_cmpuint(none->len, ==, 0);
  g_assert_false(focus_media_get_leg_stats(m, a.id, &s));
  /* the port may still be closing on the worker: the allocator takes the other pair or waits */
  gboolean added = FALSE;
  for (int i = 0; i < 100 && !added; i++) {
    added = focus_media_add_leg(m, "conf-c", "carol", &c, NULL);
    if (!added)
      g_usleep(10000);
  }
  g_assert_true(added);
  g_autoptr(GArray) one = focus_media_get_conf_stats(m, "conf-c");
  g_assert_cmpuint(one->len, ==, 1);
  focus_media_free(m);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/focus-media/jitter/order-loss-reorder", test_jitter_order_loss_reorder);
  g_test_add_func("/focus-media/jitter/late-duplicate-bad", test_jitter_late_duplicate_bad);
  g_test_add_func("/focus-media/jitter/wrap-ssrc-bound", test_jitter_wrap_ssrc_bound);
  g_test_add_func("/focus-media/jitter/adapts", test_jitter_adapts);
  g_test_add_func("/focus-media/mixer/n-minus-one", test_mixer_n_minus_one);
  g_test_add_func("/focus-media/mixer/hangover", test_mixer_hangover);
  g_test_add_func("/focus-media/api/refusals", test_api_refusals);
  g_test_add_func("/focus-media/conference/three-tones-gcm", test_three_tones_gcm);
  g_test_add_func("/focus-media/conference/three-tones-aes-cm", test_three_tones_aes_cm);
  g_test_add_func("/focus-media/conference/remove-leg", test_remove_leg);
  g_test_add_func("/focus-media/conference/wrong-key", test_wrong_key);
  g_test_add_func("/focus-media/conference/loss-5pc", test_loss);
  g_test_add_func("/focus-media/conference/garbage", test_garbage);
  g_test_add_func("/focus-media/conference/idle-no-wakeups", test_idle_no_wakeups);
  g_test_add_func("/focus-media/conference/rekey", test_rekey);
  g_test_add_func("/focus-media/conference/csb-update", test_csb_update);
  g_test_add_func("/focus-media/conference/seq-wrap-roc", test_seq_wrap);
  return g_test_run();
}
