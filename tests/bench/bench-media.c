/* bench-media: what the media path costs per packet on one core.
 *
 *   bench-media [--cpu N] [--seconds S] [--trials N]
 *
 * The process pins itself to one CPU (0 by default) and, for each figure, warms up, then runs
 * the operation in --trials rounds of at least --seconds each and prints the median rate.
 * Figures:
 *   1. SRTP protect + unprotect of a 172-byte RTP packet (12 + 160 bytes of G.711, 20 ms),
 *      AEAD_AES_128_GCM and AES_CM_128_HMAC_SHA1_80, through srtpctx (specific-SSRC contexts,
 *      a fresh sequence number each time, every result checked), and GCM on libsrtp directly
 *      (what srtpctx's checks and its copy for an intact buffer on failure add);
 *   2. making and freeing an inbound GCM context (a join or a re-key);
 *   3. G.711 µ-law and A-law encode and decode of 160-sample frames (g711_*_block).
 * A focus leg costs 50 unprotects and 50 protects a second (20 ms packets each way), so
 * pairs/s / 50 is how many legs one core could encrypt for, before mixing and sockets.
 * Not part of `make check`; `make bench` runs it. */
#include "bench-util.h"
#include "common/g711.h"
#include "common/rtp.h"
#include "common/srtpctx.h"

#include <srtp2/srtp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("bench-media: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* ------------------------------------------------------------------ operations */

typedef struct {
  SrtpCtx *tx, *rx;
  srtp_t raw_tx, raw_rx; /* libsrtp directly, to see what the wrapper adds */
  guint16 seq;
  guint32 ts;
  gsize tag;
  guint8 payload[G711_FRAME_SAMPLES];
  guint8 buf[RTP_HEADER_LEN + G711_FRAME_SAMPLES + SRTPCTX_MAX_RTP_OVERHEAD];
  gint16 pcm[G711_FRAME_SAMPLES];
  guint8 code[G711_FRAME_SAMPLES];
  guint sink;
} Bench;

typedef void (*BenchOp)(Bench *b);

static void op_srtp_pair(Bench *b)
{
  RtpHeader h = { G711_PT_PCMU, FALSE, b->seq++, b->ts, 0x5EC0DE01 };
  b->ts += G711_FRAME_SAMPLES;
  gsize len = rtp_build(b->buf, sizeof b->buf, &h, b->payload, sizeof b->payload);
  SrtpCtxResult r = srtpctx_protect_rtp(b->tx, b->buf, &len, sizeof b->buf);
  if (r != SRTPCTX_OK || len != 172 + b->tag)
    die("protect: %s", srtpctx_result_str(r));
  r = srtpctx_unprotect_rtp(b->rx, b->buf, &len);
  if (r != SRTPCTX_OK || len != 172)
    die("unprotect: %s", srtpctx_result_str(r));
}

static void op_raw_pair(Bench *b)
{
  RtpHeader h = { G711_PT_PCMU, FALSE, b->seq++, b->ts, 0x5EC0DE01 };
  b->ts += G711_FRAME_SAMPLES;
  int len = (int)rtp_build(b->buf, sizeof b->buf, &h, b->payload, sizeof b->payload);
  if (srtp_protect(b->raw_tx, b->buf, &len) != srtp_err_status_ok ||
      srtp_unprotect(b->raw_rx, b->buf, &len) != srtp_err_status_ok || len != 172)
    die("raw libsrtp pair failed");
}

static void op_ulaw_encode(Bench *b)
{
  g711_ulaw_encode_block(b->pcm, b->code, G711_FRAME_SAMPLES);
  b->sink += b->code[b->sink % G711_FRAME_SAMPLES];
  b->pcm[b->sink % G711_FRAME_SAMPLES] ^= 1; /* not the same frame twice */
}

static void op_ulaw_decode(Bench *b)
{
  g711_ulaw_decode_block(b->code, b->pcm, G711_FRAME_SAMPLES);
  b->sink += (guint)b->pcm[b->sink % G711_FRAME_SAMPLES];
  b->code[b->sink % G711_FRAME_SAMPLES] ^= 1;
}

static void op_alaw_encode(Bench *b)
{
  g711_alaw_encode_block(b->pcm, b->code, G711_FRAME_SAMPLES);
  b->sink += b->code[b->sink % G711_FRAME_SAMPLES];
  b->pcm[b->sink % G711_FRAME_SAMPLES] ^= 1;
}

static void op_alaw_decode(Bench *b)
{
  g711_alaw_decode_block(b->code, b->pcm, G711_FRAME_SAMPLES);
  b->sink += (guint)b->pcm[b->sink % G711_FRAME_SAMPLES];
  b->code[b->sink % G711_FRAME_SAMPLES] ^= 1;
}

static void bench_srtp_setup(Bench *b, SrtpCtxPolicy policy)
{
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(i * 13 + 7);
  SrtpCtxParams p = { .policy = policy,
                      .master_key = key,
                      .master_salt = key + 16,
                      .master_salt_len = policy == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14,
                      .ssrc = 0x5EC0DE01 };
  g_autoptr(GError) error = NULL;
  p.direction = SRTPCTX_OUTBOUND;
  b->tx = srtpctx_new(&p, &error);
  p.direction = SRTPCTX_INBOUND;
  if (b->tx != NULL)
    b->rx = srtpctx_new(&p, &error);
  if (b->tx == NULL || b->rx == NULL)
    die("%s", error->message);
  b->tag = srtpctx_rtp_overhead(policy);
  b->seq = 1000;
}

/* What a join or a re-key costs: one inbound context made and freed. */
static void op_ctx_new_free(Bench *b)
{
  guint8 key[30];
  memset(key, b->seq++, sizeof key);
  SrtpCtxParams p = { .policy = SRTPCTX_AEAD_AES_128_GCM,
                      .direction = SRTPCTX_INBOUND,
                      .master_key = key,
                      .master_salt = key + 16,
                      .master_salt_len = 12,
                      .ssrc = 0x5EC0DE01 };
  g_autoptr(GError) error = NULL;
  SrtpCtx *c = srtpctx_new(&p, &error);
  if (c == NULL)
    die("%s", error->message);
  srtpctx_free(c);
}

static void bench_raw_setup(Bench *b)
{
  guint8 key[28];
  for (int i = 0; i < 28; i++)
    key[i] = (guint8)(i * 13 + 7);
  srtp_policy_t p;
  memset(&p, 0, sizeof p);
  srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
  srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
  p.ssrc.type = ssrc_specific;
  p.ssrc.value = 0x5EC0DE01;
  p.key = key;
  p.window_size = 128;
  if (srtp_create(&b->raw_tx, &p) != srtp_err_status_ok ||
      srtp_create(&b->raw_rx, &p) != srtp_err_status_ok)
    die("srtp_create failed");
  b->seq = 1000;
}

static void bench_srtp_teardown(Bench *b)
{
  g_clear_pointer(&b->tx, srtpctx_free);
  g_clear_pointer(&b->rx, srtpctx_free);
  if (b->raw_tx)
    srtp_dealloc(b->raw_tx);
  if (b->raw_rx)
    srtp_dealloc(b->raw_rx);
  b->raw_tx = b->raw_rx = NULL;
}

/* ------------------------------------------------------------------ timing */

typedef struct {
  Bench *b;
  BenchOp op;
} Trial;

static double run_trial(gpointer data, double seconds)
{
  Trial *t = data;
  guint64 n = 0;
  double start = bench_now_sec(), elapsed;
  do {
    for (int i = 0; i < 256; i++, n++)
      t->op(t->b);
    elapsed = bench_now_sec() - start;
  } while (elapsed < seconds);
  return (double)n / elapsed;
}

/* Prints and returns the median rate. */
static double bench(Bench *b, const char *name, const char *unit, BenchOp op, double seconds,
                    int trials)
{
  Trial t = { b, op };
  return bench_median(name, unit, run_trial, &t, seconds, trials);
}

int main(int argc, char **argv)
{
  int cpu = 0, trials = 3;
  double seconds = 1.0;
  GOptionEntry entries[] = {
    { "cpu", 0, 0, G_OPTION_ARG_INT, &cpu, "CPU to pin to (default 0)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "minimum time per trial (default 1)", "S" },
    { "trials", 0, 0, G_OPTION_ARG_INT, &trials, "trials per figure, median printed (default 3)",
      "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- media path benchmarks");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error))
    die("%s", error->message);
  if (!srtpctx_global_init(&error))
    die("%s", error->message);

  g_autofree char *pinned = bench_pin_cpu(cpu);
  g_autofree char *libs = g_strdup_printf("libsrtp:  %s (Debian's is built on NSS); glib %u.%u.%u",
                                          srtp_get_version_string(), glib_major_version,
                                          glib_minor_version, glib_micro_version);
  bench_print_machine("bench-media: SRTP and G.711 costs per 20 ms packet, one core", libs, pinned);
  printf("method:   warm-up, then %d trials of >= %.1f s each; median rate (best trial in "
         "brackets); spread = (max - min) / median, high on a busy machine\n\n",
         trials, seconds);

  Bench b;
  memset(&b, 0, sizeof b);
  for (int i = 0; i < G711_FRAME_SAMPLES; i++) {
    b.payload[i] = (guint8)(i * 7);
    b.pcm[i] = (gint16)(12000.0 * ((i % 20) - 10) / 10.0);
  }
  g711_ulaw_encode_block(b.pcm, b.code, G711_FRAME_SAMPLES);

  bench_srtp_setup(&b, SRTPCTX_AEAD_AES_128_GCM);
  double gcm = bench(&b, "1a. SRTP AEAD_AES_128_GCM protect+unprotect", "pairs", op_srtp_pair,
                     seconds, trials);
  bench_srtp_teardown(&b);
  bench_srtp_setup(&b, SRTPCTX_AES_CM_128_HMAC_SHA1_80);
  double cm = bench(&b, "1b. SRTP AES_CM_128_HMAC_SHA1_80 prot+unprot", "pairs", op_srtp_pair,
                    seconds, trials);
  bench_srtp_teardown(&b);
  bench_raw_setup(&b);
  bench(&b, "1c. the same as 1a on libsrtp directly", "pairs", op_raw_pair, seconds, trials);
  bench_srtp_teardown(&b);
  printf("    (172-byte packets; design.md measured 370-540 k GCM, 140-195 k AES-CM pairs/s)\n");
  printf("    legs per core, SRTP only (50 pairs/s per leg): GCM %.0f, AES-CM %.0f\n\n", gcm / 50,
         cm / 50);

  bench(&b, "2. srtpctx_new + srtpctx_free (GCM, inbound)", "ctxs", op_ctx_new_free, seconds,
        trials);
  printf("\n");

  bench(&b, "3a. G.711 u-law encode, 160-sample frame", "frames", op_ulaw_encode, seconds, trials);
  bench(&b, "3b. G.711 u-law decode, 160-sample frame", "frames", op_ulaw_decode, seconds, trials);
  bench(&b, "3c. G.711 A-law encode, 160-sample frame", "frames", op_alaw_encode, seconds, trials);
  bench(&b, "3d. G.711 A-law decode, 160-sample frame", "frames", op_alaw_decode, seconds, trials);
  if (b.sink == 0x7FFFFFFF)
    printf("(sink %u)\n", b.sink); /* keeps the results alive */
  return 0;
}
