/* SRTP contexts: libsrtp's reference packets for both profile policies, protect/unprotect
 * between peer contexts (RTP and RTCP, specific and wildcard SSRC, across a SEQ wrap and with
 * an initial ROC), tamper/replay/wrong-key refusals with the buffer left intact, argument
 * checks, the re-key window of profile 8 (also across an SSRC change), and contexts on several
 * threads at once. The crypto: the default (OpenSSL's under libsrtp) and libsrtp's own give
 * the same bytes, the main tests pass on both, and NSS is started for speed. */
#include "common/rtp.h"
#include "common/srtpctx.h"

#include <dlfcn.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

/* Reference packets of libsrtp 2.5.0, test/srtp_driver.c (github.com/cisco/libsrtp, tag
 * v2.5.0): srtp_validate() for AES_CM_128_HMAC_SHA1_80 (test_key) and srtp_validate_gcm() for
 * AEAD_AES_128_GCM with a 16-byte tag (test_key_gcm). SSRC 0xcafebabe, SEQ 0x1234. */
static const guint8 cm_key[30] = { 0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
                                   0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
                                   0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6 };
static const guint8 gcm_key[28] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                    0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3,
                                    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab };
static const guint8 rtp_plain[28] = { 0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                      0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                      0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab };
static const guint8 rtcp_plain[24] = { 0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab };
static const guint8 cm_srtp[38] = { 0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                    0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8,
                                    0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
                                    0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb };
static const guint8 cm_srtcp[38] = { 0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28,
                                     0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41,
                                     0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
                                     0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98 };
static const guint8 gcm_srtp[44] = { 0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca,
                                     0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e, 0xde, 0x04, 0xcf,
                                     0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0,
                                     0x6e, 0xd2, 0x97, 0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01,
                                     0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92 };
static const guint8 gcm_srtcp[44] = { 0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9,
                                      0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a, 0x55, 0x85, 0x2b,
                                      0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25, 0xc5, 0x2c, 0x6f,
                                      0xbe, 0xa2, 0xb3, 0xb4, 0x46, 0xea, 0x31, 0x12, 0x3b,
                                      0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01 };

static const SrtpCtxPolicy policies[] = { SRTPCTX_AEAD_AES_128_GCM,
                                          SRTPCTX_AES_CM_128_HMAC_SHA1_80 };

static gsize salt_len(SrtpCtxPolicy p)
{
  return p == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
}

/* A context with key material key[0..16) ‖ key[16..16+salt). */
static SrtpCtx *ctx_new(SrtpCtxPolicy policy, SrtpCtxDirection dir, const guint8 *key, gboolean any,
                        guint32 ssrc, guint32 roc)
{
  SrtpCtxParams p = {
    .policy = policy,
    .direction = dir,
    .master_key = key,
    .master_salt = key + 16,
    .master_salt_len = salt_len(policy),
    .any_ssrc = any,
    .ssrc = ssrc,
    .roc = roc,
  };
  g_autoptr(GError) error = NULL;
  SrtpCtx *c = srtpctx_new(&p, &error);
  g_assert_no_error(error);
  g_assert_nonnull(c);
  return c;
}

static void test_reference_packets(void)
{
  struct {
    SrtpCtxPolicy policy;
    const guint8 *key, *srtp, *srtcp;
    gsize srtp_len, srtcp_len;
  } v[] = {
    { SRTPCTX_AES_CM_128_HMAC_SHA1_80, cm_key, cm_srtp, cm_srtcp, sizeof cm_srtp, sizeof cm_srtcp },
    { SRTPCTX_AEAD_AES_128_GCM, gcm_key, gcm_srtp, gcm_srtcp, sizeof gcm_srtp, sizeof gcm_srtcp },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
    g_autoptr(SrtpCtx) tx = ctx_new(v[i].policy, SRTPCTX_OUTBOUND, v[i].key, FALSE, 0xcafebabe, 0);
    g_autoptr(SrtpCtx) rx = ctx_new(v[i].policy, SRTPCTX_INBOUND, v[i].key, FALSE, 0xcafebabe, 0);
    guint8 buf[64];
    gsize len = sizeof rtp_plain;
    memcpy(buf, rtp_plain, len);
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, sizeof buf), ==, SRTPCTX_OK);
    g_assert_cmpmem(buf, len, v[i].srtp, v[i].srtp_len);
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_OK);
    g_assert_cmpmem(buf, len, rtp_plain, sizeof rtp_plain);

    len = sizeof rtcp_plain;
    memcpy(buf, rtcp_plain, len);
    g_assert_cmpint(srtpctx_protect_rtcp(tx, buf, &len, sizeof buf), ==, SRTPCTX_OK);
    g_assert_cmpmem(buf, len, v[i].srtcp, v[i].srtcp_len);
    g_assert_cmpint(srtpctx_unprotect_rtcp(rx, buf, &len), ==, SRTPCTX_OK);
    g_assert_cmpmem(buf, len, rtcp_plain, sizeof rtcp_plain);
    g_assert_cmpuint(srtpctx_policy(tx), ==, v[i].policy);
  }
}

/* A 172-byte G.711 packet (12 + 160) in a buffer of exactly len + room bytes. */
static guint8 *packet(guint32 ssrc, guint16 seq, gsize room, gsize *len)
{
  guint8 *buf = g_malloc(172 + room);
  guint8 payload[160];
  for (int i = 0; i < 160; i++)
    payload[i] = (guint8)(seq + i);
  RtpHeader h = { 0, FALSE, seq, (guint32)seq * 160u, ssrc };
  *len = rtp_build(buf, 172 + room, &h, payload, sizeof payload);
  g_assert_cmpuint(*len, ==, 172);
  return buf;
}

static void test_round_trip(void)
{
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(i * 11 + 1);
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    gsize tag = srtpctx_rtp_overhead(pol);
    g_assert_cmpuint(tag, ==, pol == SRTPCTX_AEAD_AES_128_GCM ? 16 : 10);
    g_assert_cmpuint(srtpctx_rtcp_overhead(pol), ==, tag + 4);
    for (int any = 0; any < 2; any++) {
      g_autoptr(SrtpCtx) tx = ctx_new(pol, SRTPCTX_OUTBOUND, key, any, 0x11223344, 0);
      g_autoptr(SrtpCtx) rx = ctx_new(pol, SRTPCTX_INBOUND, key, any, 0x11223344, 0);
      /* from SEQ 65000 across the wrap to ROC 1 */
      for (guint32 i = 0; i < 1000; i++) {
        guint16 seq = (guint16)(65000 + i);
        gsize len;
        g_autofree guint8 *buf = packet(0x11223344, seq, tag, &len);
        g_autofree guint8 *plain = g_memdup2(buf, len);
        g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_OK);
        g_assert_cmpuint(len, ==, 172 + tag);
        g_assert_cmpmem(buf, 12, plain, 12);                   /* header in the clear */
        g_assert_true(memcmp(buf + 12, plain + 12, 160) != 0); /* payload encrypted */
        g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_OK);
        g_assert_cmpmem(buf, len, plain, 172);
      }
      guint32 roc = 99;
      g_assert_true(srtpctx_get_roc(rx, 0x11223344, &roc));
      g_assert_cmpuint(roc, ==, 1);
      g_assert_true(srtpctx_get_roc(tx, 0x11223344, &roc));
      g_assert_cmpuint(roc, ==, 1);
      g_assert_false(srtpctx_get_roc(rx, 0x55555555, &roc));

      /* RTCP: a 52-byte SR-sized packet */
      for (int k = 0; k < 3; k++) {
        guint8 rtcp[52 + 20], plain[52];
        for (int i = 0; i < 52; i++)
          plain[i] = (guint8)(i + k);
        plain[0] = 0x81;
        plain[1] = 200;
        plain[2] = 0;
        plain[3] = 12;
        plain[4] = 0x11;
        plain[5] = 0x22;
        plain[6] = 0x33;
        plain[7] = 0x44;
        memcpy(rtcp, plain, 52);
        gsize len = 52;
        g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &len, 52 + tag + 4), ==, SRTPCTX_OK);
        g_assert_cmpuint(len, ==, 52 + tag + 4);
        g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &len), ==, SRTPCTX_OK);
        g_assert_cmpmem(rtcp, len, plain, 52);
      }
    }
  }
}

static void test_tamper_replay_wrong_key(void)
{
  guint8 key[30], other[30];
  for (int i = 0; i < 30; i++) {
    key[i] = (guint8)(i + 1);
    other[i] = (guint8)(i + 1);
  }
  other[5] ^= 0x01; /* one bit of the master key */
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    gsize tag = srtpctx_rtp_overhead(pol);
    g_autoptr(SrtpCtx) tx = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, 42, 0);
    g_autoptr(SrtpCtx) rx = ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, 42, 0);
    g_autoptr(SrtpCtx) wrong = ctx_new(pol, SRTPCTX_INBOUND, other, FALSE, 42, 0);
    guint8 salted[30];
    memcpy(salted, key, 30);
    salted[20] ^= 0x80; /* one bit of the master salt */
    g_autoptr(SrtpCtx) wrong_salt = ctx_new(pol, SRTPCTX_INBOUND, salted, FALSE, 42, 0);

    gsize len;
    g_autofree guint8 *buf = packet(42, 5000, tag, &len);
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_OK);
    g_autofree guint8 *srtp = g_memdup2(buf, len);
    gsize srtp_len = len;

    /* one bit flipped anywhere (header, payload, tag) -> auth failure, buffer untouched */
    static const gsize where[] = { 1, 3, 7, 11, 12, 100, 171, 172, 181 };
    for (gsize w = 0; w < G_N_ELEMENTS(where); w++) {
      if (where[w] >= srtp_len)
        continue;
      memcpy(buf, srtp, srtp_len);
      buf[where[w]] ^= 0x04;
      g_autofree guint8 *tampered = g_memdup2(buf, srtp_len);
      len = srtp_len;
      SrtpCtxResult r = srtpctx_unprotect_rtp(rx, buf, &len);
      if (where[w] == 11) /* that bit is in the SSRC: another stream */
        g_assert_cmpint(r, ==, SRTPCTX_ERR_SSRC);
      else
        g_assert_cmpint(r, ==, SRTPCTX_ERR_AUTH);
      g_assert_cmpuint(len, ==, srtp_len);
      g_assert_cmpmem(buf, len, tampered, srtp_len);
    }
    /* wrong key, wrong salt -> auth failure, buffer untouched */
    memcpy(buf, srtp, srtp_len);
    len = srtp_len;
    g_assert_cmpint(srtpctx_unprotect_rtp(wrong, buf, &len), ==, SRTPCTX_ERR_AUTH);
    g_assert_cmpmem(buf, len, srtp, srtp_len);
    g_assert_cmpint(srtpctx_unprotect_rtp(wrong_salt, buf, &len), ==, SRTPCTX_ERR_AUTH);
    g_assert_cmpmem(buf, len, srtp, srtp_len);

    /* the genuine packet, then the same again -> replay */
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_OK);
    memcpy(buf, srtp, srtp_len);
    len = srtp_len;
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_ERR_REPLAY);
    g_assert_cmpmem(buf, len, srtp, srtp_len);

    /* 200 packets later the first one is older than the 128-packet window */
    for (guint16 s = 5001; s < 5200; s++) {
      gsize l;
      g_autofree guint8 *p = packet(42, s, tag, &l);
      g_assert_cmpint(srtpctx_protect_rtp(tx, p, &l, 172 + tag), ==, SRTPCTX_OK);
      g_assert_cmpint(srtpctx_unprotect_rtp(rx, p, &l), ==, SRTPCTX_OK);
    }
    memcpy(buf, srtp, srtp_len);
    len = srtp_len;
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_ERR_REPLAY_OLD);

    /* SRTCP: tamper and replay */
    guint8 rtcp[8 + 24 + 20] = { 0x80, 201, 0, 7, 0, 0, 0, 42 };
    gsize rl = 32;
    g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &rl, sizeof rtcp), ==, SRTPCTX_OK);
    guint8 srtcp[sizeof rtcp];
    memcpy(srtcp, rtcp, rl);
    gsize srtcp_len = rl;
    rtcp[10] ^= 1;
    g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &rl), ==, SRTPCTX_ERR_AUTH);
    memcpy(rtcp, srtcp, srtcp_len);
    g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &rl), ==, SRTPCTX_OK);
    g_assert_cmpuint(rl, ==, 32);
    memcpy(rtcp, srtcp, srtcp_len);
    rl = srtcp_len;
    g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &rl), ==, SRTPCTX_ERR_REPLAY);
    g_assert_cmpint(srtpctx_unprotect_rtcp(wrong, rtcp, &rl), ==, SRTPCTX_ERR_AUTH);
  }
}

static void test_bad_packets(void)
{
  guint8 key[30] = { 0 };
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    gsize tag = srtpctx_rtp_overhead(pol);
    g_autoptr(SrtpCtx) tx = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, 7, 0);
    g_autoptr(SrtpCtx) rx = ctx_new(pol, SRTPCTX_INBOUND, key, TRUE, 0, 0);
    gsize len;
    g_autofree guint8 *buf = packet(7, 100, tag, &len);

    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag - 1), ==, SRTPCTX_ERR_LENGTH);
    g_assert_cmpint(srtpctx_unprotect_rtp(tx, buf, &len), ==, SRTPCTX_ERR_DIRECTION);
    g_assert_cmpint(srtpctx_protect_rtp(rx, buf, &len, 172 + tag), ==, SRTPCTX_ERR_DIRECTION);
    buf[8] = 0xFF; /* another SSRC than the context's */
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_ERR_SSRC);
    buf[8] = 0;
    buf[0] = 0x40; /* version 1 */
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_ERR_HEADER);
    buf[0] = 0x90; /* X set, extension length word far past the end */
    buf[14] = 0xFF;
    buf[15] = 0xFF;
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_ERR_HEADER);
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_ERR_HEADER);
    buf[0] = 0x80;
    gsize short_len = 11;
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &short_len, 172), ==, SRTPCTX_ERR_LENGTH);
    /* inbound: shorter than header + tag */
    for (gsize n = 0; n < 12 + tag; n++) {
      guint8 *cut = g_memdup2(buf, MAX(n, 1));
      gsize l = n;
      SrtpCtxResult r = srtpctx_unprotect_rtp(rx, cut, &l);
      g_assert_cmpint(r, ==, SRTPCTX_ERR_LENGTH);
      g_assert_cmpuint(l, ==, n);
      g_free(cut);
    }
    /* RTCP: under 8 bytes; bad version; inbound shorter than header + index + tag */
    guint8 rtcp[64] = { 0x80, 201, 0, 1, 0, 0, 0, 7 };
    gsize rl = 7;
    g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &rl, sizeof rtcp), ==, SRTPCTX_ERR_LENGTH);
    rl = 8;
    g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &rl, 8 + tag + 3), ==, SRTPCTX_ERR_LENGTH);
    rtcp[0] = 0x00;
    g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &rl, sizeof rtcp), ==, SRTPCTX_ERR_HEADER);
    rtcp[0] = 0x80;
    rl = 8 + 4 + tag - 1;
    g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &rl), ==, SRTPCTX_ERR_LENGTH);
    for (int r = SRTPCTX_OK; r <= SRTPCTX_ERR_OTHER; r++)
      g_assert_nonnull(srtpctx_result_str((SrtpCtxResult)r));
  }
}

static void test_params(void)
{
  guint8 key[30] = { 0 };
  g_autoptr(GError) error = NULL;
  SrtpCtxParams p = { .policy = SRTPCTX_AEAD_AES_128_GCM,
                      .direction = SRTPCTX_INBOUND,
                      .master_key = key,
                      .master_salt = key + 16,
                      .master_salt_len = 14, /* GCM needs 12 */
                      .ssrc = 1 };
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "12-byte master salt"));
  g_clear_error(&error);

  p.policy = SRTPCTX_AES_CM_128_HMAC_SHA1_80;
  p.master_salt_len = 12; /* AES-CM needs 14 */
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  p.master_salt_len = 14;
  p.any_ssrc = TRUE;
  p.roc = 3;
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  p.roc = 0;
  p.replay_window = 10;
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  p.replay_window = 0;
  p.master_key = NULL;
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  p.master_key = key;
  p.policy = (SrtpCtxPolicy)7;
  g_assert_null(srtpctx_new(&p, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  g_assert_true(srtpctx_global_init(&error)); /* again: nothing happens */
  g_assert_no_error(error);
}

/* A stream re-keyed mid-call carries its ROC in MIKEY: both ends start there. */
static void test_initial_roc(void)
{
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(200 - i);
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    gsize tag = srtpctx_rtp_overhead(pol);
    g_autoptr(SrtpCtx) tx = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, 9, 5);
    g_autoptr(SrtpCtx) rx = ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, 9, 5);
    g_autoptr(SrtpCtx) rx0 = ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, 9, 0);
    gsize len;
    g_autofree guint8 *buf = packet(9, 17000, tag, &len);
    g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, 172 + tag), ==, SRTPCTX_OK);
    g_autofree guint8 *copy = g_memdup2(buf, len);
    gsize copy_len = len;
    g_assert_cmpint(srtpctx_unprotect_rtp(rx0, copy, &copy_len), ==, SRTPCTX_ERR_AUTH);
    g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_OK);
    guint32 roc = 0;
    g_assert_true(srtpctx_get_roc(rx, 9, &roc));
    g_assert_cmpuint(roc, ==, 5);
  }
}

static void send_one(SrtpCtx *tx, guint32 ssrc, guint16 seq, guint8 **out, gsize *len)
{
  gsize tag = srtpctx_rtp_overhead(srtpctx_policy(tx));
  *out = packet(ssrc, seq, tag, len);
  g_assert_cmpint(srtpctx_protect_rtp(tx, *out, len, 172 + tag), ==, SRTPCTX_OK);
}

/* Profile 8: the receiver keeps the previous keys for 2 s; packets under either key are
 * accepted meanwhile, in any order; afterwards only the new key works. */
static void test_rekey_window(void)
{
  guint8 k1[30], k2[30];
  for (int i = 0; i < 30; i++) {
    k1[i] = (guint8)(i * 3);
    k2[i] = (guint8)(i * 5 + 1);
  }
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    const guint32 ssrc = 0xABCD0001;
    gint64 t = 1000 * G_USEC_PER_SEC;
    SrtpRx rx;
    srtp_rx_init(&rx);
    gboolean prev = TRUE;
    guint8 *p = NULL;
    gsize len = 0;

    g_autoptr(SrtpCtx) tx1 = ctx_new(pol, SRTPCTX_OUTBOUND, k1, FALSE, ssrc, 0);
    send_one(tx1, ssrc, 2999, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t, &prev), ==, SRTPCTX_ERR_NO_KEY);
    g_free(p);

    srtp_rx_install(&rx, ctx_new(pol, SRTPCTX_INBOUND, k1, FALSE, ssrc, 0), t, 0);
    for (guint16 s = 3000; s < 3010; s++) {
      send_one(tx1, ssrc, s, &p, &len);
      g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t, &prev), ==, SRTPCTX_OK);
      g_assert_false(prev);
      g_assert_cmpuint(len, ==, 172);
      g_free(p);
    }
    g_assert_true(rx.current_seen);

    /* re-key: new inbound key installed, the peer still sends under k1 for a while */
    srtp_rx_install(&rx, ctx_new(pol, SRTPCTX_INBOUND, k2, FALSE, ssrc, 0), t,
                    SRTP_RX_KEEP_PREVIOUS_USEC);
    g_assert_false(rx.current_seen);
    g_autoptr(SrtpCtx) tx2 = ctx_new(pol, SRTPCTX_OUTBOUND, k2, FALSE, ssrc, 0);
    guint8 *late = NULL, *late_copy = NULL;
    gsize late_len = 0;
    for (guint16 s = 3010; s < 3020; s++) {
      send_one(tx1, ssrc, s, &p, &len);
      if (s == 3015) { /* kept back: arrives after the switch */
        late = p;
        late_len = len;
        late_copy = g_memdup2(p, len);
        continue;
      }
      g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 100000, &prev), ==, SRTPCTX_OK);
      g_assert_true(prev);
      g_free(p);
    }
    g_assert_false(rx.current_seen); /* the answerer keeps its old sending key */
    /* the peer switches to k2 */
    for (guint16 s = 3020; s < 3030; s++) {
      send_one(tx2, ssrc, s, &p, &len);
      g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 500000, &prev), ==, SRTPCTX_OK);
      g_assert_false(prev);
      g_assert_true(rx.current_seen);
      g_free(p);
    }
    /* the late k1 packet still decrypts within the 2 s */
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, late, &late_len, t + 600000, &prev), ==, SRTPCTX_OK);
    g_assert_true(prev);
    /* and its replay is reported as a replay (not an auth failure under k2) */
    memcpy(late, late_copy, late_len + srtpctx_rtp_overhead(pol));
    late_len = 172 + srtpctx_rtp_overhead(pol);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, late, &late_len, t + 700000, &prev), ==,
                    SRTPCTX_ERR_REPLAY);
    /* SRTCP under the old key is accepted too */
    guint8 rtcp[8 + 24 + 20] = { 0x80, 201, 0, 7, 0xAB, 0xCD, 0x00, 0x01 };
    gsize rl = 32;
    g_assert_cmpint(srtpctx_protect_rtcp(tx1, rtcp, &rl, sizeof rtcp), ==, SRTPCTX_OK);
    g_assert_cmpint(srtp_rx_unprotect_rtcp(&rx, rtcp, &rl, t + 800000, &prev), ==, SRTPCTX_OK);
    g_assert_true(prev);

    /* after 2 s the old key is gone */
    send_one(tx1, ssrc, 3030, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + SRTP_RX_KEEP_PREVIOUS_USEC, &prev), ==,
                    SRTPCTX_ERR_AUTH);
    g_assert_null(rx.previous);
    g_free(p);
    send_one(tx2, ssrc, 3031, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 3 * G_USEC_PER_SEC, NULL), ==,
                    SRTPCTX_OK);
    g_free(p);
    g_free(late);
    g_free(late_copy);

    /* a tampered packet inside the window fails under both keys: auth */
    srtp_rx_install(&rx, ctx_new(pol, SRTPCTX_INBOUND, k1, FALSE, ssrc, 0), t, G_USEC_PER_SEC);
    send_one(tx2, ssrc, 3032, &p, &len);
    p[20] ^= 1;
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t, &prev), ==, SRTPCTX_ERR_AUTH);
    g_free(p);
    /* srtp_rx_expire on the caller's timer */
    srtp_rx_expire(&rx, t + G_USEC_PER_SEC - 1);
    g_assert_nonnull(rx.previous);
    srtp_rx_expire(&rx, t + G_USEC_PER_SEC);
    g_assert_null(rx.previous);
    srtp_rx_clear(&rx);
    g_assert_null(rx.current);
  }
}

/* A CSB update changed the peer's SSRC (profile 8): the new inbound context is for the new SSRC,
 * the previous one (kept 2 s) for the old. Packets of both streams are accepted in the window,
 * whichever context is tried first; a failure reports what says most about the packet. */
static void test_rekey_ssrc_change(void)
{
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(i * 7 + 3);
  const guint32 a = 0x1000000A, b = 0x2000000B;
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    gsize tag = srtpctx_rtp_overhead(pol);
    gint64 t = 50 * G_USEC_PER_SEC;
    SrtpRx rx;
    srtp_rx_init(&rx);
    gboolean prev = TRUE;
    guint8 *p = NULL;
    gsize len = 0;
    g_autoptr(SrtpCtx) tx_a = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, a, 0);
    g_autoptr(SrtpCtx) tx_b = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, b, 0);
    srtp_rx_install(&rx, ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, a, 0), t, 0);
    for (guint16 s = 100; s < 105; s++) {
      send_one(tx_a, a, s, &p, &len);
      g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t, &prev), ==, SRTPCTX_OK);
      g_assert_false(prev);
      g_free(p);
    }
    /* the CSB update: keys unchanged, SSRC a -> b */
    srtp_rx_install(&rx, ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, b, 0), t,
                    SRTP_RX_KEEP_PREVIOUS_USEC);
    /* an a packet still in flight: previous is tried first and takes it */
    guint8 *a_late = NULL;
    gsize a_late_len = 0;
    send_one(tx_a, a, 105, &a_late, &a_late_len);
    g_autofree guint8 *a_late_copy = g_memdup2(a_late, a_late_len);
    send_one(tx_a, a, 106, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 1000, &prev), ==, SRTPCTX_OK);
    g_assert_true(prev);
    g_assert_false(rx.current_seen);
    g_free(p);
    /* the first b packet: previous (for a) refuses it by its SSRC, current takes it */
    for (guint16 s = 7000; s < 7005; s++) {
      send_one(tx_b, b, s, &p, &len);
      g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 2000, &prev), ==, SRTPCTX_OK);
      g_assert_false(prev);
      g_assert_true(rx.current_seen);
      g_assert_cmpuint(len, ==, 172);
      g_free(p);
    }
    /* now current (for b) is tried first: the late a packet is refused by it, taken by previous */
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, a_late, &a_late_len, t + 3000, &prev), ==,
                    SRTPCTX_OK);
    g_assert_true(prev);
    /* SRTCP of the old stream too */
    guint8 rtcp[8 + 24 + 20] = { 0x80, 201, 0, 7, 0x10, 0x00, 0x00, 0x0A };
    gsize rl = 32;
    g_assert_cmpint(srtpctx_protect_rtcp(tx_a, rtcp, &rl, sizeof rtcp), ==, SRTPCTX_OK);
    g_assert_cmpint(srtp_rx_unprotect_rtcp(&rx, rtcp, &rl, t + 3000, &prev), ==, SRTPCTX_OK);
    g_assert_true(prev);
    g_assert_cmpuint(rl, ==, 32);

    /* failures: a replay under either key is a replay; a forged b packet fails authentication
     * (not "unexpected SSRC" from the context for a); a third SSRC fits neither */
    memcpy(a_late, a_late_copy, a_late_len + tag);
    a_late_len = 172 + tag;
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, a_late, &a_late_len, t + 4000, &prev), ==,
                    SRTPCTX_ERR_REPLAY);
    send_one(tx_b, b, 7005, &p, &len);
    g_autofree guint8 *b_copy = g_memdup2(p, len);
    gsize b_len = len;
    p[40] ^= 0x10;
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 4000, &prev), ==, SRTPCTX_ERR_AUTH);
    g_assert_cmpuint(len, ==, b_len);
    memcpy(p, b_copy, b_len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 4000, &prev), ==, SRTPCTX_OK);
    memcpy(p, b_copy, b_len);
    len = b_len;
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 4000, &prev), ==, SRTPCTX_ERR_REPLAY);
    g_free(p);
    g_autoptr(SrtpCtx) tx_c = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, 0x3000000C, 0);
    send_one(tx_c, 0x3000000C, 1, &p, &len);
    g_autofree guint8 *c_copy = g_memdup2(p, len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + 4000, &prev), ==, SRTPCTX_ERR_SSRC);
    g_assert_cmpmem(p, len, c_copy, 172 + tag);
    g_free(p);

    /* after the window only b is accepted */
    send_one(tx_a, a, 107, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + SRTP_RX_KEEP_PREVIOUS_USEC, &prev), ==,
                    SRTPCTX_ERR_SSRC);
    g_assert_null(rx.previous);
    g_free(p);
    send_one(tx_b, b, 7006, &p, &len);
    g_assert_cmpint(srtp_rx_unprotect_rtp(&rx, p, &len, t + SRTP_RX_KEEP_PREVIOUS_USEC, &prev), ==,
                    SRTPCTX_OK);
    g_free(p);
    g_free(a_late);
    srtp_rx_clear(&rx);
  }
}

/* Contexts are thread-compatible: many threads, each with its own pair, at the same time
 * (and srtpctx_global_init racing itself). */
static gpointer thread_main(gpointer data)
{
  guint id = GPOINTER_TO_UINT(data);
  g_autoptr(GError) error = NULL;
  if (!srtpctx_global_init(&error))
    return GINT_TO_POINTER(1);
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(id * 31 + i);
  SrtpCtxPolicy pol = policies[id % 2];
  gsize tag = srtpctx_rtp_overhead(pol);
  SrtpCtxParams p = { .policy = pol,
                      .master_key = key,
                      .master_salt = key + 16,
                      .master_salt_len = salt_len(pol),
                      .ssrc = id };
  p.direction = SRTPCTX_OUTBOUND;
  g_autoptr(SrtpCtx) tx = srtpctx_new(&p, &error);
  p.direction = SRTPCTX_INBOUND;
  g_autoptr(SrtpCtx) rx = srtpctx_new(&p, &error);
  if (tx == NULL || rx == NULL)
    return GINT_TO_POINTER(2);
  guint8 buf[172 + 16];
  for (guint16 s = 0; s < 2000; s++) {
    RtpHeader h = { 0, FALSE, s, s * 160u, id };
    gsize len = rtp_build(buf, sizeof buf, &h, NULL, 160);
    memset(buf + 12, (int)id, 160);
    if (srtpctx_protect_rtp(tx, buf, &len, 172 + tag) != SRTPCTX_OK ||
        srtpctx_unprotect_rtp(rx, buf, &len) != SRTPCTX_OK || len != 172 || buf[100] != id)
      return GINT_TO_POINTER(3);
  }
  return NULL;
}

static void test_threads(void)
{
  GThread *t[8];
  for (guint i = 0; i < G_N_ELEMENTS(t); i++)
    t[i] = g_thread_new("srtp", thread_main, GUINT_TO_POINTER(i + 1));
  for (guint i = 0; i < G_N_ELEMENTS(t); i++)
    g_assert_null(g_thread_join(t[i]));
}

/* ------------------------------------------------------------------ the crypto under libsrtp */

/* Protects a fixed series of packets with both policies — RTP with payloads of 0 to 299 bytes
 * (odd lengths end in partial counter blocks), from an initial ROC across a SEQ wrap; SRTCP of
 * several sizes — checks that each unprotects to what it was, and returns the SHA-256 of all
 * the protected bytes. The keys and indexes are fixed, so any correct implementation gives the
 * same digest. */
static char *protect_series_digest(void)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  guint8 key[30];
  for (int i = 0; i < 30; i++)
    key[i] = (guint8)(i * 13 + 7);
  for (gsize pi = 0; pi < G_N_ELEMENTS(policies); pi++) {
    SrtpCtxPolicy pol = policies[pi];
    g_autoptr(SrtpCtx) tx = ctx_new(pol, SRTPCTX_OUTBOUND, key, FALSE, 0x5eed0001, 3);
    g_autoptr(SrtpCtx) rx = ctx_new(pol, SRTPCTX_INBOUND, key, FALSE, 0x5eed0001, 3);
    guint8 buf[12 + 300 + 16], plain[12 + 300];
    for (guint32 i = 0; i < 300; i++) {
      guint16 seq = (guint16)(65436 + i); /* wraps to ROC 4 after 100 packets */
      guint8 payload[300];
      for (guint k = 0; k < i; k++)
        payload[k] = (guint8)(k * 3 + i);
      RtpHeader h = { 0, i % 7 == 0, seq, i * 160u, 0x5eed0001 };
      gsize len = rtp_build(buf, sizeof buf, &h, payload, i);
      g_assert_cmpuint(len, ==, 12 + i);
      memcpy(plain, buf, len);
      g_assert_cmpint(srtpctx_protect_rtp(tx, buf, &len, sizeof buf), ==, SRTPCTX_OK);
      g_checksum_update(sum, buf, (gssize)len);
      g_assert_cmpint(srtpctx_unprotect_rtp(rx, buf, &len), ==, SRTPCTX_OK);
      g_assert_cmpmem(buf, len, plain, 12 + i);
    }
    for (guint n = 8; n <= 200; n += 12) {
      guint8 rtcp[200 + 20];
      for (guint k = 0; k < n; k++)
        rtcp[k] = (guint8)(k ^ n);
      rtcp[0] = 0x80;
      rtcp[1] = 201;
      memcpy(rtcp + 4, (const guint8[]){ 0x5e, 0xed, 0x00, 0x01 }, 4);
      memcpy(plain, rtcp, n);
      gsize len = n;
      g_assert_cmpint(srtpctx_protect_rtcp(tx, rtcp, &len, sizeof rtcp), ==, SRTPCTX_OK);
      g_checksum_update(sum, rtcp, (gssize)len);
      g_assert_cmpint(srtpctx_unprotect_rtcp(rx, rtcp, &len), ==, SRTPCTX_OK);
      g_assert_cmpmem(rtcp, len, plain, n);
    }
  }
  return g_strdup(g_checksum_get_string(sum));
}

/* The default crypto is OpenSSL's, and it gives the very bytes libsrtp's own gives (computed in
 * a child process, where libsrtp keeps its crypto): the two interoperate, in both directions. */
static void test_same_bytes(void)
{
  if (g_test_subprocess()) {
    g_assert_true(srtpctx_set_crypto(SRTPCTX_CRYPTO_LIBSRTP));
    g_autofree char *digest = protect_series_digest();
    g_assert_cmpint(srtpctx_crypto(), ==, SRTPCTX_CRYPTO_LIBSRTP);
    printf("digest %s\n", digest);
    return;
  }
  g_assert_cmpint(srtpctx_crypto(), ==, SRTPCTX_CRYPTO_OPENSSL);
  g_assert_false(srtpctx_set_crypto(SRTPCTX_CRYPTO_LIBSRTP)); /* too late: nothing changes */
  g_assert_cmpint(srtpctx_crypto(), ==, SRTPCTX_CRYPTO_OPENSSL);
  g_autofree char *mine = protect_series_digest();
  g_test_message("OpenSSL under libsrtp: %s", mine);
  g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed();
  g_autofree char *want = g_strdup_printf("*digest %s*", mine);
  g_test_trap_assert_stdout(want);
}

/* The tests that matter most, again on libsrtp's own crypto (a child process each). */
static const struct {
  const char *path;
  GTestFunc fn;
} on_libsrtp[] = {
  { "/srtpctx/libsrtp-crypto/reference-packets", test_reference_packets },
  { "/srtpctx/libsrtp-crypto/round-trip", test_round_trip },
  { "/srtpctx/libsrtp-crypto/tamper-replay-wrong-key", test_tamper_replay_wrong_key },
  { "/srtpctx/libsrtp-crypto/rekey-window", test_rekey_window },
  { "/srtpctx/libsrtp-crypto/rekey-ssrc-change", test_rekey_ssrc_change },
};

static void test_on_libsrtp_crypto(gconstpointer data)
{
  guint i = GPOINTER_TO_UINT(data);
  if (g_test_subprocess()) {
    g_assert_true(srtpctx_set_crypto(SRTPCTX_CRYPTO_LIBSRTP));
    on_libsrtp[i].fn();
    g_assert_cmpint(srtpctx_crypto(), ==, SRTPCTX_CRYPTO_LIBSRTP);
    return;
  }
  g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed();
}

/* srtpctx_global_init() starts NSS (libsrtp2's crypto on Debian) itself, sized for speed,
 * before libsrtp does (srtp_init()'s self-tests would start it sized for space). */
typedef int (*NssIsInitialized)(void);

static void test_nss_for_speed(void)
{
  NssIsInitialized is_init = (NssIsInitialized)dlsym(RTLD_DEFAULT, "NSS_IsInitialized");
  if (is_init == NULL) {
    g_test_skip("libsrtp2 is not built on NSS here");
    return;
  }
  if (g_test_subprocess()) {
    g_assert_false(is_init());
    g_assert_true(srtpctx_global_init(NULL));
    g_assert_true(is_init());
    g_assert_true(srtpctx_nss_for_speed());
    return;
  }
  g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed();
  /* this process too: its first context came from srtpctx */
  g_assert_true(srtpctx_nss_for_speed());
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/srtpctx/threads", test_threads); /* first: races the global init */
  g_test_add_func("/srtpctx/reference-packets", test_reference_packets);
  g_test_add_func("/srtpctx/round-trip", test_round_trip);
  g_test_add_func("/srtpctx/tamper-replay-wrong-key", test_tamper_replay_wrong_key);
  g_test_add_func("/srtpctx/bad-packets", test_bad_packets);
  g_test_add_func("/srtpctx/params", test_params);
  g_test_add_func("/srtpctx/initial-roc", test_initial_roc);
  g_test_add_func("/srtpctx/rekey-window", test_rekey_window);
  g_test_add_func("/srtpctx/rekey-ssrc-change", test_rekey_ssrc_change);
  g_test_add_func("/srtpctx/crypto/same-bytes-as-libsrtp", test_same_bytes);
  g_test_add_func("/srtpctx/crypto/nss-for-speed", test_nss_for_speed);
  for (guint i = 0; i < G_N_ELEMENTS(on_libsrtp); i++)
    g_test_add_data_func(on_libsrtp[i].path, GUINT_TO_POINTER(i), test_on_libsrtp_crypto);
  return g_test_run();
}
