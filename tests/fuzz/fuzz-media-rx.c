/* fuzz-media-rx: the focus's media receive path (src/focus/medialeg.h) — SRTP unprotect -> RTP
 * parse
 * -> symmetric-RTP latch -> receiver statistics -> jitter buffer — and what a tick does with
 * it (jitter buffer -> mixer -> RTP build -> SRTP protect), without sockets or threads.
 *
 * One input drives one leg with fixed keys through a script of records, each
 *   op (1 byte) | length (2 bytes, big-endian) | that many bytes (fewer if the input ends)
 * where op % 8 says what the bytes are:
 *   0  a datagram to the RTP port, as is          1  a datagram to the RTCP port, as is
 *   2  an RTP packet the participant encrypts first (its SSRC put in unless op & 0x10), then
 *      delivered (twice if op & 0x20: a replay)
 *   3  an RTCP compound the participant encrypts first (its SSRC put in), to the RTCP port
 *   4  a mix tick: the leg's frame is pulled, mixed with a second, silent leg, built, protected
 *   5  a re-key (keys from the bytes); the participant switches at once
 *   6  a CSB update: the participant's new SSRC from the bytes
 *   7  time passes: the bytes' first two give milliseconds (up to 65 s)
 * The first byte of the input chooses the policy (bit 0) and a wildcard inbound SSRC (bit 1).
 *
 * Invariants (abort() otherwise, a finding): bytes the participant did not encrypt never
 * authenticate (packets_in never exceeds what it sent); the jitter buffer never holds more than
 * FOCUS_JITTER_MAX_FRAMES; every packet a tick builds decrypts under the participant's inbound
 * key to a 172-byte RTP packet with the leg's payload type and SSRC.
 * FUZZ_MEDIA_RX_VERBOSE=1 in the environment prints the leg's counters after each input. */
#include "fuzz.h"

#include "focus/medialeg.h"
#include "focus/mixer.h"

#include "common/g711.h"
#include "common/rtp.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-media-rx: invariant broken at %s:%d: %s\n", __FILE__, __LINE__,        \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define PEER_SSRC 0x11223344u
#define FOCUS_SSRC 0x55667788u

typedef struct {
  SrtpCtxPolicy policy;
  gboolean wildcard;
  MediaLeg *leg;
  SrtpCtx *peer_tx;  /* the participant's sending context (CS 1) */
  SrtpCtx *peer_rx;  /* and its receiving one (CS 2), to check what the focus sends */
  gboolean rx_stale; /* re-keyed: peer_rx follows once the focus has switched */
  guint32 ssrc;
  guint64 peer_sent; /* packets it encrypted */
  gint64 now;
  guint8 k1[30], k2[30];
} Harness;

static gsize salt_len(SrtpCtxPolicy p)
{
  return p == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
}

static SrtpCtx *ctx(Harness *h, const guint8 *k, SrtpCtxDirection dir, guint32 ssrc)
{
  SrtpCtxParams p = { .policy = h->policy,
                      .direction = dir,
                      .master_key = k,
                      .master_salt = k + 16,
                      .master_salt_len = salt_len(h->policy),
                      .any_ssrc = ssrc == 0,
                      .ssrc = ssrc };
  SrtpCtx *c = srtpctx_new(&p, NULL);
  CHECK(c != NULL);
  return c;
}

static void fill_keys(MediaLegKeys *k, Harness *h, MediaLegKeyMode mode)
{
  memset(k, 0, sizeof *k);
  k->mode = mode;
  MediaLegCrypto *c[2] = { &k->in, &k->out };
  const guint8 *src[2] = { h->k1, h->k2 };
  for (int i = 0; i < 2; i++) {
    c[i]->policy = h->policy;
    c[i]->have_key = mode == MEDIA_LEG_KEYS_SET;
    memcpy(c[i]->key, src[i], 16);
    memcpy(c[i]->salt, src[i] + 16, 14);
    c[i]->salt_len = salt_len(h->policy);
  }
  k->in.ssrc = h->wildcard ? 0 : h->ssrc;
  k->out.ssrc = mode == MEDIA_LEG_KEYS_SET ? FOCUS_SSRC : 0;
  k->out.seq = 1000;
  k->pt = G711_PT_PCMU;
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons(5004),
                           .sin_addr.s_addr = htonl(0x7f000001) };
  memcpy(&k->peer_rtp, &a, sizeof a);
  a.sin_port = htons(5005);
  memcpy(&k->peer_rtcp, &a, sizeof a);
  k->peer_len = sizeof a;
  k->have_peer = TRUE;
}

static void deliver(Harness *h, guint8 *buf, gsize len, gboolean rtcp_port)
{
  struct sockaddr_in from = { .sin_family = AF_INET,
                              .sin_port = htons(5004),
                              .sin_addr.s_addr = htonl(0x7f000001) };
  media_leg_receive(h->leg, buf, len, rtcp_port, h->now, h->now, (struct sockaddr *)&from,
                    sizeof from, NULL, NULL);
  CHECK(h->leg->c.packets_in <= h->peer_sent);
  CHECK(focus_jitter_level(&h->leg->jb) <= FOCUS_JITTER_MAX_FRAMES);
}

static void encrypted_rtp(Harness *h, guint8 op, const guint8 *data, gsize len)
{
  guint8 buf[MEDIA_LEG_BUF];
  if (len > FOCUS_MEDIA_MAX_PACKET - SRTPCTX_MAX_RTP_OVERHEAD)
    len = FOCUS_MEDIA_MAX_PACKET - SRTPCTX_MAX_RTP_OVERHEAD;
  memcpy(buf, data, len);
  if (len >= RTP_HEADER_LEN && !(op & 0x10)) {
    buf[0] = (guint8)((buf[0] & 0x3f) | 0x80);
    buf[8] = (guint8)(h->ssrc >> 24);
    buf[9] = (guint8)(h->ssrc >> 16);
    buf[10] = (guint8)(h->ssrc >> 8);
    buf[11] = (guint8)h->ssrc;
  }
  gsize n = len;
  if (srtpctx_protect_rtp(h->peer_tx, buf, &n, sizeof buf) != SRTPCTX_OK)
    return;
  h->peer_sent++;
  guint8 copy[MEDIA_LEG_BUF];
  memcpy(copy, buf, n);
  deliver(h, buf, n, FALSE);
  if (op & 0x20)
    deliver(h, copy, n, FALSE);
}

static void encrypted_rtcp(Harness *h, const guint8 *data, gsize len)
{
  guint8 buf[MEDIA_LEG_BUF];
  if (len < 8 || len > FOCUS_MEDIA_MAX_PACKET - SRTPCTX_MAX_RTCP_OVERHEAD)
    return;
  memcpy(buf, data, len);
  buf[0] = (guint8)((buf[0] & 0x3f) | 0x80);
  buf[4] = (guint8)(h->ssrc >> 24);
  buf[5] = (guint8)(h->ssrc >> 16);
  buf[6] = (guint8)(h->ssrc >> 8);
  buf[7] = (guint8)h->ssrc;
  gsize n = len;
  if (srtpctx_protect_rtcp(h->peer_tx, buf, &n, sizeof buf) != SRTPCTX_OK)
    return;
  deliver(h, buf, n, TRUE);
}

static void tick(Harness *h, guint64 frame)
{
  MediaLeg *leg = h->leg;
  FocusMixLeg other;
  memset(&other, 0, sizeof other);
  other.wants_output = TRUE;
  FocusMixer mx;
  focus_mixer_init(&mx);
  media_leg_pull(leg);
  FocusMixLeg *legs[2] = { &leg->mix, &other };
  focus_mixer_run(&mx, legs, 2);
  guint8 buf[MEDIA_LEG_BUF];
  gsize len = media_leg_build_rtp(leg, frame, buf, sizeof buf);
  CHECK(len <= sizeof buf);
  if (len > 0) {
    media_leg_sent(leg, FALSE, len, TRUE);
    SrtpCtxResult r = srtpctx_unprotect_rtp(h->peer_rx, buf, &len);
    CHECK(r == SRTPCTX_OK);
    RtpPacket pkt;
    CHECK(rtp_parse(buf, len, &pkt) == RTP_OK);
    CHECK(pkt.payload_len == FOCUS_MIX_FRAME && pkt.pt == leg->pt && pkt.ssrc == leg->tx_ssrc);
  }
  len = media_leg_build_rtcp(leg, h->now, "fuzz", buf, sizeof buf);
  CHECK(len <= sizeof buf);
  if (len > 0)
    media_leg_sent(leg, TRUE, len, TRUE);
  media_leg_housekeeping(leg, h->now);
  h->now += FOCUS_MEDIA_TICK_USEC;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  Harness h;
  memset(&h, 0, sizeof h);
  h.policy = data[0] & 1 ? SRTPCTX_AES_CM_128_HMAC_SHA1_80 : SRTPCTX_AEAD_AES_128_GCM;
  h.wildcard = (data[0] & 2) != 0;
  h.ssrc = PEER_SSRC;
  h.now = 1000000;
  for (int i = 0; i < 30; i++) {
    h.k1[i] = (guint8)(i * 7 + 1);
    h.k2[i] = (guint8)(i * 11 + 3);
  }
  h.leg = media_leg_new(1, media_leg_shared_new(), -1, -1, 20000, 0x99, 2000);
  MediaLegKeys k;
  fill_keys(&k, &h, MEDIA_LEG_KEYS_SET);
  CHECK(media_leg_apply_keys(h.leg, &k, h.now, NULL));
  h.peer_tx = ctx(&h, h.k1, SRTPCTX_OUTBOUND, h.ssrc);
  h.peer_rx = ctx(&h, h.k2, SRTPCTX_INBOUND, 0);

  guint64 frame = 100;
  size_t i = 1;
  while (i + 3 <= size) {
    guint8 op = data[i];
    size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
    i += 3;
    if (len > size - i)
      len = size - i;
    const guint8 *d = data + i;
    i += len;
    guint8 buf[4096];
    switch (op % 8) {
    case 0:
    case 1:
      if (len <= sizeof buf) {
        memcpy(buf, d, len);
        deliver(&h, buf, len, op % 8 == 1);
      }
      break;
    case 2:
      encrypted_rtp(&h, op, d, len);
      break;
    case 3:
      encrypted_rtcp(&h, d, len);
      break;
    case 4:
      tick(&h, frame++);
      break;
    case 5:
      if (len >= 1) {
        for (int j = 0; j < 30; j++) {
          h.k1[j] ^= d[j % len];
          h.k2[j] ^= (guint8)(d[j % len] + 1);
        }
        fill_keys(&k, &h, MEDIA_LEG_KEYS_SET);
        CHECK(media_leg_apply_keys(h.leg, &k, h.now, NULL));
        srtpctx_free(h.peer_tx);
        h.peer_tx = ctx(&h, h.k1, SRTPCTX_OUTBOUND, h.ssrc);
        /* the focus keeps its old outbound key until it sees the new one, or for 1 s */
        h.rx_stale = TRUE;
      }
      break;
    case 6:
      if (len >= 4) {
        guint32 s = (guint32)d[0] << 24 | (guint32)d[1] << 16 | (guint32)d[2] << 8 | d[3];
        if (s != 0 && s != h.ssrc) {
          h.ssrc = s;
          fill_keys(&k, &h, MEDIA_LEG_KEYS_CSB);
          CHECK(media_leg_apply_keys(h.leg, &k, h.now, NULL));
          srtpctx_free(h.peer_tx);
          h.peer_tx = ctx(&h, h.k1, SRTPCTX_OUTBOUND, h.ssrc);
        }
      }
      break;
    case 7:
      if (len >= 2)
        h.now += ((gint64)d[0] << 8 | d[1]) * 1000;
      media_leg_housekeeping(h.leg, h.now);
      break;
    }
    /* after a re-key the checking side follows the focus's outbound key once it switched */
    if (h.rx_stale && !h.leg->tx_switch_pending) {
      srtpctx_free(h.peer_rx);
      h.peer_rx = ctx(&h, h.k2, SRTPCTX_INBOUND, 0);
      h.rx_stale = FALSE;
    }
  }
  if (getenv("FUZZ_MEDIA_RX_VERBOSE") != NULL) {
    FocusMediaLegStats st;
    memset(&st, 0, sizeof st);
    media_leg_snapshot(h.leg, &st);
    fprintf(stderr,
            "in %" G_GUINT64_FORMAT " out %" G_GUINT64_FORMAT " rtcp %" G_GUINT64_FORMAT
            "/%" G_GUINT64_FORMAT " auth %" G_GUINT64_FORMAT " replay %" G_GUINT64_FORMAT
            " malformed %" G_GUINT64_FORMAT " oversized %" G_GUINT64_FORMAT " pt %" G_GUINT64_FORMAT
            " played %" G_GUINT64_FORMAT " concealed %" G_GUINT64_FORMAT " late %" G_GUINT64_FORMAT
            " dropped %" G_GUINT64_FORMAT " rekeys %u csb %u ssrc-changes %" G_GUINT64_FORMAT
            " prev-key %" G_GUINT64_FORMAT " remote %d\n",
            st.packets_in, st.packets_out, st.rtcp_in, st.rtcp_out, st.decrypt_failed, st.replayed,
            st.malformed, st.oversized, st.unknown_pt, h.leg->jb.stats.played, st.concealed,
            st.late, st.dropped, st.rekeys, st.csb_updates, st.ssrc_changes, st.in_previous_key,
            st.remote_report);
  }
  media_leg_keys_wipe(&k);
  srtpctx_free(h.peer_tx);
  srtpctx_free(h.peer_rx);
  media_leg_free(h.leg);
  return 0;
}
