/* bench-focus-media: media capacity of one focus media worker (the benchmark).
 *
 *   bench-focus-media [--quick] [--seconds S] [--policy gcm|aes-cm|both] [--conf-size N]
 *                     [--start N] [--max N] [--worker-cpu C] [--load-cpu C] [--only N]
 *                     [--rt P] [--crypto openssl|libsrtp]
 *
 * The figure: the largest number of participants — in conferences of --conf-size (10), all of
 * them sending a tone — that ONE media worker (the engine of src/focus/media.h, pinned to
 * --worker-cpu) carries for --seconds (30) with no mix tick starting more than 5 ms late, no
 * tick skipped, and under 0.1 % of packets lost; for AEAD_AES_128_GCM and for
 * AES_CM_128_HMAC_SHA1_80. Also: the worker's CPU time per participant-second, and memory per
 * participant (heap in use, from mallinfo2, for every trial; RSS growth for the first trial of
 * the process, when the heap is fresh).
 *
 * The load. `mikeyua load` cannot drive this yet, so the participants are generated in this
 * process, by one thread pinned to --load-cpu (the other core): each participant has its own
 * SSRC and sends a 20 ms G.711 µ-law packet every 20 ms, spread evenly over the 20 ms (1 ms
 * slots) like independent phones, with sendmmsg() batches; the sockets take everything the
 * focus sends back (recvmmsg()), and its sequence numbers
 * count the loss on the way out of the focus (the generator does not decrypt: the SRTP header
 * is in clear). It encrypts with OpenSSL (see below), from 16 sockets. It stands in for `mikeyua
 * load` until that lands. The focus side is the real engine: one socket pair per leg, SRTP
 * unprotect, jitter buffer, N−1 mix with talker detection (everybody talks, so every leg is encoded
 * separately), SRTP protect, one sendto per packet.
 *
 * Loss = (inbound loss the focus counts, RFC 3550, + packets its jitter buffers dropped as late
 * + gaps in the sequence numbers the generator receives) / (packets sent both ways).
 *
 * Method: trials of increasing size (doubling from --start, then halving the interval down to
 * 5 %), each a 2 s warm-up and a short measurement (--seconds / 6, at least 3 s); the largest
 * passing size is then confirmed with a full --seconds trial (stepping down 7 % until one
 * passes). With --rt, a worker above 95 % of its core is also stopped for the rest of each
 * second by the kernel's real-time throttle (sched_rt_runtime_us): the "off the CPU" figure
 * shows it, and such a size does not pass. A failed trial is repeated once before it counts (a
 * single stall of a shared virtual CPU fails a trial at any load; each late tick is reported as an
 * overrun — the worker was still busy at the deadline — or as a late wake-up). A trial where the
 * generator itself fell behind (sent under 99.5 % of its packets, or used over 90 % of its core) is
 * reported as such (LOAD) and does not count as a pass.
 * --quick: 2 s search trials and a 6 s confirmation (for a smoke run, not the figure).
 * --crypto libsrtp: the focus's libsrtp on its own crypto (NSS on Debian) instead of OpenSSL's
 * (srtpctx.h), to compare.
 * Not part of `make check`; `make bench` runs it. */
#include "focus/media.h"
#include "focus/medialeg.h"

#include "common/g711.h"
#include "common/rtp.h"
#include "common/srtpctx.h"
#include "common/tone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define FRAME 160
#define SLOTS 20 /* 1 ms send slots in a 20 ms frame */
#define BATCH 64
#define N_TONES 10
#define TARGET_GCM 1500
#define TARGET_CM 800

/* ------------------------------------------------------------------ options */

static struct {
  gboolean quick;
  double seconds;
  char *policy;
  int conf_size;
  int start;
  int max;
  int worker_cpu;
  int load_cpu;
  int rt;
  int only;
  char *crypto;
} opt = { FALSE, 30, NULL, 10, 500, 9000, 0, 1, 10, 0, NULL };

/* ------------------------------------------------------------------ the load's SRTP
 *
 * The generator encrypts with OpenSSL directly, not through libsrtp: with --crypto libsrtp the
 * focus's libsrtp runs on NSS, whose softoken takes locks on every packet, and a load thread
 * hammering it from the other core would slow the worker down by contention, not by its own
 * work; and it is an SRTP implementation of its own the focus must interoperate with (RFC 3711
 * key derivation, AES-CM with HMAC-SHA1-80, RFC 7714 AES-GCM). Every participant uses the same
 * master key, with its own SSRC, so the session keys are derived once. */

typedef struct {
  SrtpCtxPolicy policy;
  guint8 key[16];
  guint8 auth[20];
  guint8 salt[14];
  EVP_CIPHER_CTX *ctx;
} GenSrtp;

/* RFC 3711 4.3.1 with kdr 0: AES-CM keystream of the master key, IV = (salt ^ label << 48) << 16.
 */
static void kdf(const guint8 *mkey, const guint8 *msalt, gsize msalt_len, guint8 label, guint8 *out,
                gsize n)
{
  guint8 iv[16] = { 0 }, zero[32] = { 0 };
  memcpy(iv, msalt, msalt_len); /* a 12-byte (GCM) salt is padded with zeros, as libsrtp does */
  iv[7] ^= label;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len = 0;
  EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, mkey, iv);
  EVP_EncryptUpdate(c, out, &len, zero, (int)n);
  EVP_CIPHER_CTX_free(c);
}

static void gen_srtp_init(GenSrtp *g, SrtpCtxPolicy policy, const guint8 *master)
{
  memset(g, 0, sizeof *g);
  g->policy = policy;
  gsize salt_len = policy == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
  kdf(master, master + 16, salt_len, 0, g->key, 16);
  kdf(master, master + 16, salt_len, 1, g->auth, 20);
  kdf(master, master + 16, salt_len, 2, g->salt, salt_len);
  g->ctx = EVP_CIPHER_CTX_new();
  if (policy == SRTPCTX_AEAD_AES_128_GCM) {
    EVP_EncryptInit_ex(g->ctx, EVP_aes_128_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    EVP_EncryptInit_ex(g->ctx, NULL, NULL, g->key, NULL);
  } else {
    EVP_EncryptInit_ex(g->ctx, EVP_aes_128_ctr(), NULL, g->key, NULL);
  }
}

static void gen_srtp_clear(GenSrtp *g)
{
  EVP_CIPHER_CTX_free(g->ctx);
  memset(g, 0, sizeof *g);
}

/* Encrypts the 12-byte-header RTP packet buf[0..len) in place (ROC 0) and returns its new
 * length. */
static gsize gen_srtp_protect(GenSrtp *g, guint8 *buf, gsize len, guint32 ssrc, guint16 seq)
{
  int n = 0;
  if (g->policy == SRTPCTX_AEAD_AES_128_GCM) {
    /* RFC 7714 8.1: IV = (00 00 || SSRC || ROC || SEQ) ^ salt; AAD = the header */
    guint8 iv[12] = {
      0, 0, (guint8)(ssrc >> 24), (guint8)(ssrc >> 16), (guint8)(ssrc >> 8), (guint8)ssrc, 0, 0,
      0, 0, (guint8)(seq >> 8),   (guint8)seq
    };
    for (int i = 0; i < 12; i++)
      iv[i] ^= g->salt[i];
    EVP_EncryptInit_ex(g->ctx, NULL, NULL, NULL, iv);
    EVP_EncryptUpdate(g->ctx, NULL, &n, buf, RTP_HEADER_LEN);
    EVP_EncryptUpdate(g->ctx, buf + RTP_HEADER_LEN, &n, buf + RTP_HEADER_LEN,
                      (int)(len - RTP_HEADER_LEN));
    EVP_EncryptFinal_ex(g->ctx, buf + len, &n);
    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, 16, buf + len);
    return len + 16;
  }
  /* RFC 3711 4.1.1: IV = salt << 16 ^ SSRC << 64 ^ index << 16; then HMAC-SHA1 over the
   * packet and the ROC, 80 bits */
  guint8 iv[16] = { 0 };
  memcpy(iv, g->salt, 14);
  iv[4] ^= (guint8)(ssrc >> 24);
  iv[5] ^= (guint8)(ssrc >> 16);
  iv[6] ^= (guint8)(ssrc >> 8);
  iv[7] ^= (guint8)ssrc;
  iv[12] ^= (guint8)(seq >> 8);
  iv[13] ^= (guint8)seq;
  EVP_EncryptInit_ex(g->ctx, NULL, NULL, NULL, iv);
  EVP_EncryptUpdate(g->ctx, buf + RTP_HEADER_LEN, &n, buf + RTP_HEADER_LEN,
                    (int)(len - RTP_HEADER_LEN));
  memset(buf + len, 0, 4); /* ROC 0 */
  guint8 mac[EVP_MAX_MD_SIZE];
  unsigned int mlen = 0;
  HMAC(EVP_sha1(), g->auth, 20, buf, len + 4, mac, &mlen);
  memcpy(buf + len, mac, 10);
  return len + 10;
}

/* ------------------------------------------------------------------ the load generator */

#define GEN_SOCKETS 16

typedef struct {
  guint32 ssrc;
  guint16 seq;
  guint32 ts;
  struct sockaddr_in dst;
  guint slot;
  guint tone;
  /* what comes back */
  gboolean rseen;
  guint16 rseq;
  guint64 rrecv, rlost;
} GenPart;

typedef struct {
  int fds[GEN_SOCKETS]; /* participant i sends from and listens on fds[i % GEN_SOCKETS] */
  guint16 ports[GEN_SOCKETS];
  int cpu;
  GenSrtp srtp;
  GenPart *parts;
  guint n;
  gint32 *by_port; /* focus RTP port -> participant */
  guint8 tones[N_TONES][FRAME];
  gint phase; /* 0 paused, 1 sending, 2 quit (atomic); parts and n change only while 0 */
  gint acked; /* the phase the generator has seen at the end of its last round (atomic) */
  /* published totals (atomic) */
  guint64 sent, recv, lost, send_errors, late_slots;
  gint64 max_slot_late_usec;
  gint64 cpu_usec;
  pthread_t thread;
} Gen;

static gint64 mono_usec(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gint64 thread_cpu_usec(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void gen_receive(Gen *g, int fd, gboolean count, struct mmsghdr *msgs, guint8 (*bufs)[256],
                        struct sockaddr_in *from, guint64 *recv, guint64 *lost)
{
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      return;
    for (int i = 0; i < n && count; i++) {
      if (msgs[i].msg_len < RTP_HEADER_LEN)
        continue;
      gint32 idx = g->by_port[ntohs(from[i].sin_port)];
      if (idx < 0 || (guint)idx >= g->n)
        continue;
      GenPart *p = &g->parts[idx];
      guint16 seq = (guint16)(bufs[i][2] << 8 | bufs[i][3]);
      if (p->rseen) {
        gint32 d = rtp_seq_diff(seq, p->rseq);
        if (d > 1) {
          p->rlost += (guint64)(d - 1);
          *lost += (guint64)(d - 1);
        }
        if (d > 0)
          p->rseq = seq;
      } else {
        p->rseen = TRUE;
        p->rseq = seq;
      }
      p->rrecv++;
      (*recv)++;
    }
    if (n < BATCH)
      return;
  }
}

static void *gen_main(void *data)
{
  Gen *g = data;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(g->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  pthread_setname_np(pthread_self(), "load");
  if (opt.rt > 0) {
    struct sched_param sp = { .sched_priority = opt.rt };
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  }

  struct mmsghdr *smsgs = g_new0(struct mmsghdr, BATCH);
  struct iovec *siov = g_new0(struct iovec, BATCH);
  guint8(*sbufs)[256] = g_malloc0(BATCH * 256);
  struct mmsghdr *rmsgs = g_new0(struct mmsghdr, BATCH);
  struct iovec *riov = g_new0(struct iovec, BATCH);
  guint8(*rbufs)[256] = g_malloc0(BATCH * 256);
  struct sockaddr_in *from = g_new0(struct sockaddr_in, BATCH);
  for (int i = 0; i < BATCH; i++) {
    riov[i] = (struct iovec){ rbufs[i], 256 };
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
    rmsgs[i].msg_hdr.msg_name = &from[i];
  }
  guint64 sent = 0, recv = 0, lost = 0, errors = 0, late_slots = 0;
  gint64 max_late = 0;
  gint64 next = mono_usec();
  guint slot = 0;
  int phase;
  while ((phase = g_atomic_int_get(&g->phase)) != 2) {
    gint64 now = mono_usec();
    if (now < next) {
      struct timespec ts = { (next / G_USEC_PER_SEC), (next % G_USEC_PER_SEC) * 1000 };
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      now = mono_usec();
    }
    gint64 late = now - next;
    if (phase == 1) {
      if (late > max_late)
        max_late = late;
      if (late > 5000)
        late_slots++;
      /* this slot's participants, socket by socket, in sendmmsg batches */
      for (guint f = 0; f < GEN_SOCKETS; f++) {
        guint k = 0;
        for (guint i = slot + SLOTS * f; i < g->n; i += SLOTS * GEN_SOCKETS) {
          GenPart *p = &g->parts[i];
          RtpHeader h = { G711_PT_PCMU, FALSE, p->seq, p->ts, p->ssrc };
          gsize len = rtp_build(sbufs[k], 256, &h, g->tones[p->tone], FRAME);
          len = gen_srtp_protect(&g->srtp, sbufs[k], len, p->ssrc, p->seq);
          p->seq++;
          p->ts += FRAME;
          siov[k] = (struct iovec){ sbufs[k], len };
          smsgs[k].msg_hdr = (struct msghdr){
            .msg_name = &p->dst, .msg_namelen = sizeof p->dst, .msg_iov = &siov[k], .msg_iovlen = 1
          };
          if (++k == BATCH) {
            int sn = sendmmsg(g->fds[f], smsgs, k, 0);
            sent += sn > 0 ? (guint64)sn : 0;
            errors += sn > 0 ? k - (guint)sn : k;
            k = 0;
          }
        }
        if (k > 0) {
          int sn = sendmmsg(g->fds[f], smsgs, k, 0);
          sent += sn > 0 ? (guint64)sn : 0;
          errors += sn > 0 ? k - (guint)sn : k;
        }
      }
    }
    for (guint f = 0; f < GEN_SOCKETS; f++)
      gen_receive(g, g->fds[f], phase == 1, rmsgs, rbufs, from, &recv, &lost);
    __atomic_store_n(&g->sent, sent, __ATOMIC_RELAXED);
    __atomic_store_n(&g->recv, recv, __ATOMIC_RELAXED);
    __atomic_store_n(&g->lost, lost, __ATOMIC_RELAXED);
    __atomic_store_n(&g->send_errors, errors, __ATOMIC_RELAXED);
    __atomic_store_n(&g->late_slots, late_slots, __ATOMIC_RELAXED);
    __atomic_store_n(&g->max_slot_late_usec, max_late, __ATOMIC_RELAXED);
    __atomic_store_n(&g->cpu_usec, thread_cpu_usec(), __ATOMIC_RELAXED);
    g_atomic_int_set(&g->acked, phase);
    slot = (slot + 1) % SLOTS;
    next += 1000;
    if (now - next > 100000)
      next = now + 1000; /* starved for 100 ms: a new schedule (counted as late slots) */
  }
  g_free(smsgs);
  g_free(siov);
  g_free(sbufs);
  g_free(rmsgs);
  g_free(riov);
  g_free(rbufs);
  g_free(from);
  return NULL;
}

/* ------------------------------------------------------------------ a trial */

typedef struct {
  int n;
  gboolean pass;
  gboolean gen_limited;
  double seconds;
  gint64 max_late_usec;
  guint64 late_ticks, late_overrun, skipped, ticks;
  guint64 hist[6];
  gint64 max_tick_usec;
  double mean_tick_usec;
  double loss_pct;
  guint64 in_lost, late, gen_lost, packets;
  double cpu_us_per_part_s;
  double worker_cpu_pct, gen_cpu_pct;
  double heap_kib_per_part;
  double rss_kib_per_part; /* < 0: not measured */
  guint64 decrypt_failed;
  guint64 gen_late_slots;
  guint64 off_cpu_usec;
  gint64 max_off_cpu_usec;
  guint64 receive_cut;
} Trial;

static gint64 rss_kib(void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
    return -1;
  const char *p = strstr(status, "VmRSS:");
  return p ? g_ascii_strtoll(p + 6, NULL, 10) : -1;
}

static gint64 heap_bytes(void)
{
  struct mallinfo2 mi = mallinfo2();
  return (gint64)(mi.uordblks + mi.hblkhd);
}

typedef struct {
  guint64 lost_late;
  gint64 lost;
  guint64 late, in, out, decrypt_failed;
  guint active;
} LegTotals;

static LegTotals leg_totals(FocusMedia *m, GPtrArray *confs)
{
  LegTotals t;
  memset(&t, 0, sizeof t);
  for (guint i = 0; i < confs->len; i++) {
    g_autoptr(GArray) a = focus_media_get_conf_stats(m, g_ptr_array_index(confs, i));
    for (guint j = 0; j < a->len; j++) {
      const FocusMediaLegStats *s = &g_array_index(a, FocusMediaLegStats, j);
      t.lost += s->lost;
      t.late += s->late;
      t.in += s->packets_in;
      t.out += s->packets_out;
      t.decrypt_failed += s->decrypt_failed;
      if (s->packets_in > 0)
        t.active++;
    }
  }
  return t;
}

static gboolean first_trial = TRUE;

static Trial run_trial(FocusMedia *m, Gen *g, SrtpCtxPolicy policy, int n, double seconds)
{
  Trial t;
  memset(&t, 0, sizeof t);
  t.n = n;
  t.seconds = seconds;
  t.rss_kib_per_part = -1;
  gsize salt = policy == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
  guint8 k1[30], k2[30];
  for (int i = 0; i < 30; i++) {
    k1[i] = (guint8)(i * 5 + 1);
    k2[i] = (guint8)(i * 9 + 2);
  }
  /* the generator's side first, so that the memory figures are the focus's */
  gen_srtp_init(&g->srtp, policy, k1);
  g->parts = g_new0(GenPart, n);
  g->n = (guint)n;
  for (int i = 0; i < n; i++) {
    GenPart *p = &g->parts[i];
    p->ssrc = 0x10000000u + (guint32)i;
    p->seq = (guint16)(1000 + i);
    p->ts = (guint32)i * 7919u;
    p->slot = (guint)i % SLOTS;
    p->tone = (guint)i % N_TONES;
  }
  malloc_trim(0);
  gint64 heap0 = heap_bytes(), rss0 = rss_kib();

  GPtrArray *confs = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; i < n; i++) {
    if (i % opt.conf_size == 0)
      g_ptr_array_add(confs, g_strdup_printf("sip:conf-%06d@bench", i / opt.conf_size));
    const char *conf = g_ptr_array_index(confs, confs->len - 1);
    FocusMediaLegInfo info;
    g_autoptr(GError) error = NULL;
    char label[32];
    g_snprintf(label, sizeof label, "sip:p%d@bench", i);
    if (!focus_media_add_leg(m, conf, label, &info, &error)) {
      fprintf(stderr, "bench-focus-media: add leg %d: %s\n", i, error->message);
      exit(1);
    }
    FocusMediaLegParams lp = {
      .in = { policy, k1, k1 + 16, salt, g->parts[i].ssrc, 0, 0 },
      .out = { policy, k2, k2 + 16, salt, 0, 0, 0 },
      .pt = G711_PT_PCMU,
      .peer_address = "127.0.0.1",
      .peer_port = g->ports[i % GEN_SOCKETS],
    };
    if (!focus_media_leg_set_keys(m, info.id, &lp, &error)) {
      fprintf(stderr, "bench-focus-media: keys %d: %s\n", i, error->message);
      exit(1);
    }
    g->parts[i].dst = (struct sockaddr_in){ .sin_family = AF_INET,
                                            .sin_port = htons(info.rtp_port),
                                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    g->by_port[info.rtp_port] = i;
  }
  g_atomic_int_set(&g->phase, 1);
  g_usleep(2 * G_USEC_PER_SEC); /* warm-up: every conference active, buffers settled */

  if (first_trial)
    t.rss_kib_per_part = (double)(rss_kib() - rss0) / n;
  first_trial = FALSE;
  t.heap_kib_per_part = (double)(heap_bytes() - heap0) / 1024.0 / n;

  FocusMediaStats s0, s1;
  focus_media_get_stats(m, &s0);
  LegTotals l0 = leg_totals(m, confs);
  guint64 gs0 = __atomic_load_n(&g->sent, __ATOMIC_RELAXED);
  guint64 gl0 = __atomic_load_n(&g->lost, __ATOMIC_RELAXED);
  guint64 gls0 = __atomic_load_n(&g->late_slots, __ATOMIC_RELAXED);
  gint64 gc0 = __atomic_load_n(&g->cpu_usec, __ATOMIC_RELAXED);
  gint64 w0 = mono_usec();
  g_usleep((gulong)(seconds * G_USEC_PER_SEC));
  gint64 w1 = mono_usec();
  focus_media_get_stats(m, &s1);
  LegTotals l1 = leg_totals(m, confs);
  guint64 gs1 = __atomic_load_n(&g->sent, __ATOMIC_RELAXED);
  guint64 gl1 = __atomic_load_n(&g->lost, __ATOMIC_RELAXED);
  guint64 gls1 = __atomic_load_n(&g->late_slots, __ATOMIC_RELAXED);
  gint64 gc1 = __atomic_load_n(&g->cpu_usec, __ATOMIC_RELAXED);
  double wall = (double)(w1 - w0) / G_USEC_PER_SEC;

  const FocusMediaWorkerStats *a = &s0.workers[0], *b = &s1.workers[0];
  t.late_ticks = b->late_ticks - a->late_ticks;
  t.late_overrun = b->late_overrun - a->late_overrun;
  t.off_cpu_usec = b->off_cpu_usec - a->off_cpu_usec;
  t.receive_cut = b->receive_cut - a->receive_cut;
  t.max_off_cpu_usec = b->max_off_cpu_usec;
  t.skipped = b->skipped_ticks - a->skipped_ticks;
  t.ticks = b->ticks - a->ticks;
  for (int i = 0; i < 6; i++)
    t.hist[i] = b->late_hist[i] - a->late_hist[i];
  t.max_late_usec = b->max_late_usec; /* since the worker started: covers the warm-up too */
  t.max_tick_usec = b->max_tick_usec;
  t.mean_tick_usec = t.ticks ? (double)(b->tick_usec_total - a->tick_usec_total) / t.ticks : 0;
  double cpu = (double)(b->cpu_usec - a->cpu_usec);
  t.cpu_us_per_part_s = cpu / n / wall;
  t.worker_cpu_pct = cpu / (wall * 1e4);
  t.gen_cpu_pct = (double)(gc1 - gc0) / (wall * 1e4);
  t.in_lost = l1.lost > l0.lost ? (guint64)(l1.lost - l0.lost) : 0;
  t.late = l1.late - l0.late;
  t.gen_lost = gl1 - gl0;
  t.packets = (gs1 - gs0) + (l1.out - l0.out);
  t.decrypt_failed = l1.decrypt_failed;
  t.loss_pct =
      t.packets ? 100.0 * (double)(t.in_lost + t.late + t.gen_lost) / (double)t.packets : 100;
  /* The generator fell behind if it did not send what n participants send in that time (a
   * late 1 ms slot alone is jitter the focus has to absorb, as it would from a network). */
  double expected = (double)n * 50.0 * wall;
  t.gen_late_slots = gls1 - gls0;
  t.gen_limited = (double)(gs1 - gs0) < 0.995 * expected || t.gen_cpu_pct > 90;
  gboolean all_active = l1.active == (guint)n;
  t.pass = !t.gen_limited && t.late_ticks == 0 && t.skipped == 0 && t.loss_pct < 0.1 &&
           all_active && t.decrypt_failed == 0 && t.ticks > 0;

  /* tear down: the generator pauses (and says so), the conferences end, the worker empties */
  g_atomic_int_set(&g->phase, 0);
  while (g_atomic_int_get(&g->acked) != 0)
    g_usleep(1000);
  for (guint i = 0; i < confs->len; i++)
    focus_media_end_conference(m, g_ptr_array_index(confs, i));
  for (int i = 0; i < 500; i++) {
    FocusMediaStats s;
    focus_media_get_stats(m, &s);
    if (s.workers[0].legs == 0)
      break;
    g_usleep(20000);
  }
  for (int i = 0; i < 65536; i++)
    g->by_port[i] = -1;
  gen_srtp_clear(&g->srtp);
  g_free(g->parts);
  g->parts = NULL;
  g->n = 0;
  g_ptr_array_unref(confs);
  return t;
}

static void print_trial(const Trial *t)
{
  printf("  %5d participants %4.0fs: %-4s ticks late >2 ms %" G_GUINT64_FORMAT
         ", >5 ms %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " overrun, %" G_GUINT64_FORMAT
         " woke late), skipped %" G_GUINT64_FORMAT
         " (worst since start %.2f ms); tick mean %.2f ms max %.2f ms; loss %.4f%% "
         "(%" G_GUINT64_FORMAT " in + %" G_GUINT64_FORMAT " late + %" G_GUINT64_FORMAT
         " out of %" G_GUINT64_FORMAT "); worker %.0f%% CPU = %.1f us/participant-s; "
         "load %.0f%% CPU (%" G_GUINT64_FORMAT " slots > 5 ms late); heap %.1f KiB/participant%s\n",
         t->n, t->seconds, t->pass ? "ok" : (t->gen_limited ? "LOAD" : "FAIL"),
         t->hist[2] + t->hist[3] + t->hist[4] + t->hist[5], t->late_ticks, t->late_overrun,
         t->late_ticks - t->late_overrun, t->skipped, t->max_late_usec / 1000.0,
         t->mean_tick_usec / 1000.0, t->max_tick_usec / 1000.0, t->loss_pct, t->in_lost, t->late,
         t->gen_lost, t->packets, t->worker_cpu_pct, t->cpu_us_per_part_s, t->gen_cpu_pct,
         t->gen_late_slots, t->heap_kib_per_part,
         t->gen_limited ? " [the load generator fell behind: not a worker figure]" : "");
  printf("         ticks spent %.1f ms off the CPU in all (preempted or vCPU not running), "
         "at most %.2f ms in one tick since start; %" G_GUINT64_FORMAT
         " receive passes cut short by a burst\n",
         t->off_cpu_usec / 1000.0, t->max_off_cpu_usec / 1000.0, t->receive_cut);
  if (t->rss_kib_per_part >= 0)
    printf("         RSS growth of the first trial (fresh heap): %.1f KiB/participant\n",
           t->rss_kib_per_part);
  fflush(stdout);
}

/* ------------------------------------------------------------------ the search */

static FocusMedia *engine(void)
{
  int cpus[1] = { opt.worker_cpu };
  FocusMediaConfig cfg = {
    .n_workers = 1,
    .worker_cpus = cpus,
    .port_min = 20000,
    .port_max = 39999,
    .bind_address = "127.0.0.1",
    .idle_after_ms = 1000,
    .cname = "bench@focus",
    .rt_priority = opt.rt,
  };
  g_autoptr(GError) error = NULL;
  FocusMedia *m = focus_media_new(&cfg, &error);
  if (m == NULL) {
    fprintf(stderr, "bench-focus-media: %s\n", error->message);
    exit(1);
  }
  return m;
}

/* The engine is re-created per trial so that no state (the worker's maximum lateness, socket
 * buffers) carries over; the heap does, which the heap figure accounts for. */
static Trial trial_once(Gen *g, SrtpCtxPolicy policy, int n, double seconds)
{
  FocusMedia *m = engine();
  Trial t = run_trial(m, g, policy, n, seconds);
  focus_media_free(m);
  print_trial(&t);
  return t;
}

/* A failed trial is run once more before it counts: on a shared machine a single stall of the
 * virtual CPU fails a trial whatever the load (the "woke late" figure shows those). */
static Trial trial(Gen *g, SrtpCtxPolicy policy, int n, double seconds)
{
  Trial t = trial_once(g, policy, n, seconds);
  if (!t.pass) {
    printf("         (once more)\n");
    t = trial_once(g, policy, n, seconds);
  }
  return t;
}

static void capacity(Gen *g, SrtpCtxPolicy policy, int target)
{
  if (opt.only > 0) {
    printf("\n%s, %d participants\n", focus_media_policy_name(policy), opt.only);
    trial(g, policy, opt.only / opt.conf_size * opt.conf_size, opt.seconds);
    return;
  }
  double search_s = opt.quick ? 2 : MAX(3, opt.seconds / 6);
  double confirm_s = opt.quick ? 6 : opt.seconds;
  printf("\n%s (target %d participants per worker)\n", focus_media_policy_name(policy), target);
  int lo = 0, hi = 0, n = opt.start;
  while (n <= opt.max) {
    Trial t = trial(g, policy, n, search_s);
    if (!t.pass) {
      hi = n;
      break;
    }
    lo = n;
    n *= 2;
  }
  if (hi == 0)
    hi = opt.max + 1;
  if (lo == 0) {
    printf("  even %d participants fail\n", opt.start);
    return;
  }
  while (hi - lo > MAX(opt.conf_size, lo / 20)) {
    int mid = (lo + hi) / 2 / opt.conf_size * opt.conf_size;
    if (mid <= lo || mid >= hi)
      break;
    Trial t = trial(g, policy, mid, search_s);
    if (t.pass)
      lo = mid;
    else
      hi = mid;
  }
  for (int attempt = 0; attempt < 8 && lo >= opt.conf_size; attempt++) {
    Trial t = trial(g, policy, lo, confirm_s);
    if (t.pass) {
      printf("capacity %s: %d participants on one worker for %.0f s (target %d: %s); "
             "%.1f CPU us per participant-second; heap %.1f KiB per participant\n",
             focus_media_policy_name(policy), lo, confirm_s, target,
             lo >= target ? "met" : "NOT met", t.cpu_us_per_part_s, t.heap_kib_per_part);
      fflush(stdout);
      return;
    }
    lo = lo * 93 / 100 / opt.conf_size * opt.conf_size;
  }
  printf("capacity %s: no size confirmed over %.0f s\n", focus_media_policy_name(policy),
         confirm_s);
}

/* ------------------------------------------------------------------ machine */

static char *cpu_model(void)
{
  g_autofree char *info = NULL;
  if (!g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL))
    return g_strdup("unknown");
  g_auto(GStrv) lines = g_strsplit(info, "\n", -1);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix(*l, "model name")) {
      const char *colon = strchr(*l, ':');
      if (colon)
        return g_strstrip(g_strdup(colon + 1));
    }
  return g_strdup("unknown");
}

static const char *build_notes(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return " [sanitizer build: figures are not representative]";
#elif !defined(__OPTIMIZE__)
  return " [unoptimised build: figures are not representative]";
#else
  return "";
#endif
}

int main(int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "quick", 0, 0, G_OPTION_ARG_NONE, &opt.quick, "short trials (a smoke run)", NULL },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt.seconds, "confirmation trial (30)", "S" },
    { "policy", 0, 0, G_OPTION_ARG_STRING, &opt.policy, "gcm, aes-cm or both", "P" },
    { "conf-size", 0, 0, G_OPTION_ARG_INT, &opt.conf_size, "participants per conference", "N" },
    { "start", 0, 0, G_OPTION_ARG_INT, &opt.start, "first trial size (500)", "N" },
    { "max", 0, 0, G_OPTION_ARG_INT, &opt.max, "largest trial size (9000)", "N" },
    { "worker-cpu", 0, 0, G_OPTION_ARG_INT, &opt.worker_cpu, "CPU of the media worker", "C" },
    { "load-cpu", 0, 0, G_OPTION_ARG_INT, &opt.load_cpu, "CPU of the load generator", "C" },
    { "only", 0, 0, G_OPTION_ARG_INT, &opt.only,
      "one trial of N participants for --seconds, no search", "N" },
    { "rt", 0, 0, G_OPTION_ARG_INT, &opt.rt, "SCHED_FIFO priority of worker and load (10; 0: none)",
      "P" },
    { "crypto", 0, 0, G_OPTION_ARG_STRING, &opt.crypto,
      "the focus's SRTP crypto: openssl (default) or libsrtp (its own)", "C" },
    { NULL },
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- focus media capacity");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "bench-focus-media: %s\n", error->message);
    return 2;
  }
  if (opt.crypto != NULL && strcmp(opt.crypto, "openssl") != 0 &&
      strcmp(opt.crypto, "libsrtp") != 0) {
    fprintf(stderr, "bench-focus-media: --crypto openssl or libsrtp, not %s\n", opt.crypto);
    return 2;
  }
  /* before anything makes an SRTP context */
  srtpctx_set_crypto(opt.crypto != NULL && strcmp(opt.crypto, "libsrtp") == 0
                         ? SRTPCTX_CRYPTO_LIBSRTP
                         : SRTPCTX_CRYPTO_OPENSSL);
  if (!srtpctx_global_init(&error)) {
    fprintf(stderr, "bench-focus-media: %s\n", error->message);
    return 1;
  }
  if (opt.conf_size < 2)
    opt.conf_size = 2;
  if (opt.max > 9800)
    opt.max = 9800; /* the port range 20000-39999 */
  gboolean gcm = TRUE, cm = TRUE;
  if (opt.policy != NULL) {
    gcm = strcmp(opt.policy, "aes-cm") != 0;
    cm = strcmp(opt.policy, "gcm") != 0;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int fit = (int)((rl.rlim_cur - 64) / 2);
    if (opt.max > fit)
      opt.max = fit;
  }
  /* the main thread sleeps beside the generator, away from the worker */
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(opt.load_cpu, &set);
  sched_setaffinity(0, sizeof set, &set);

  struct utsname u;
  g_autofree char *model = cpu_model();
  printf("bench-focus-media: participants one media worker carries (conferences of %d, all "
         "sending)\n",
         opt.conf_size);
  printf("machine:  %s, %ld cores online\n", model, sysconf(_SC_NPROCESSORS_ONLN));
  if (uname(&u) == 0)
    printf("kernel:   %s %s %s\n", u.sysname, u.release, u.machine);
  printf("compiler: %s%s\n",
#if defined(__clang__)
         "clang " __clang_version__,
#else
         "gcc " __VERSION__,
#endif
         build_notes());
  printf("libsrtp:  %s, crypto: %s%s; glib %u.%u.%u\n", srtp_get_version_string(),
         srtpctx_crypto_name(), srtpctx_nss_for_speed() ? " (NSS started for speed)" : "",
         glib_major_version, glib_minor_version, glib_micro_version);
  printf("layout:   media worker pinned to CPU %d; load generator (in-process thread standing in "
         "for `mikeyua load`, OpenSSL SRTP, sendmmsg/recvmmsg on 16 sockets) and main thread on "
         "CPU %d; %s\n",
         opt.worker_cpu, opt.load_cpu,
         opt.rt > 0 ? "worker and load SCHED_FIFO (--rt): other processes on a shared machine "
                      "cannot preempt them"
                    : "normal scheduling (--rt 0)");
  printf("engine:   %" G_GSIZE_FORMAT " bytes of engine state per leg (worker leg with its jitter "
         "buffer and mixer slot, shared snapshot); the rest of the heap per participant is "
         "libsrtp's and its crypto's (two SRTP sessions per leg)\n",
         sizeof(MediaLeg) + sizeof(MediaLegShared));
  double load1 = 0;
  g_autofree char *la = NULL;
  if (g_file_get_contents("/proc/loadavg", &la, NULL, NULL))
    load1 = g_ascii_strtod(la, NULL);
  printf("machine load before the run: %.2f (1-minute load average)\n", load1);
  printf("pass:     no tick starts > 5 ms late, none skipped, loss < 0.1 %%, no decrypt "
         "failure, every leg heard; search trials %.0f s, confirmation %.0f s%s\n",
         opt.quick ? 2 : MAX(3, opt.seconds / 6), opt.quick ? 6 : opt.seconds,
         opt.quick ? " (--quick)" : "");
  fflush(stdout);

  Gen *g = g_new0(Gen, 1);
  g->cpu = opt.load_cpu;
  g->by_port = g_new(gint32, 65536);
  for (int i = 0; i < 65536; i++)
    g->by_port[i] = -1;
  for (int t = 0; t < N_TONES; t++) {
    ToneGen tg;
    gint16 pcm[FRAME];
    tone_init(&tg, 300 + 50 * t, 8000, 8000); /* whole periods in 20 ms: the frame repeats */
    tone_fill(&tg, pcm, FRAME);
    g711_ulaw_encode_block(pcm, g->tones[t], FRAME);
  }
  for (guint f = 0; f < GEN_SOCKETS; f++) {
    g->fds[f] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int big = 16 << 20;
    setsockopt(g->fds[f], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    setsockopt(g->fds[f], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    socklen_t alen = sizeof a;
    if (g->fds[f] < 0 || bind(g->fds[f], (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(g->fds[f], (struct sockaddr *)&a, &alen) < 0) {
      fprintf(stderr, "bench-focus-media: load socket: %s\n", g_strerror(errno));
      return 1;
    }
    g->ports[f] = ntohs(a.sin_port);
  }
  pthread_create(&g->thread, NULL, gen_main, g);

  if (gcm)
    capacity(g, SRTPCTX_AEAD_AES_128_GCM, TARGET_GCM);
  if (cm)
    capacity(g, SRTPCTX_AES_CM_128_HMAC_SHA1_80, TARGET_CM);

  g_atomic_int_set(&g->phase, 2);
  pthread_join(g->thread, NULL);
  for (guint f = 0; f < GEN_SOCKETS; f++)
    close(g->fds[f]);
  g_free(g->by_port);
  g_free(g);
  g_free(opt.policy);
  g_free(opt.crypto);
  return 0;
}
