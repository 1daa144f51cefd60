/* fuzz-sdpaudio: the audio session description (src/common/sdpaudio.h) on a peer's SDP body.
 *
 * The input is an SDP body (any bytes, not NUL-terminated). It goes through what the focus does
 * with an offer and mikeyua with an answer; these invariants must hold (abort() otherwise, a
 * finding):
 *   - sdp_audio_parse() either gives a description or an SDP_AUDIO_ERROR with a Warning code;
 *   - a description names an existing m-line as its audio stream, an address, at most 128
 *     payload types, and savp exactly when the proto is RTP/SAVP;
 *   - when sdp_audio_negotiate() accepts it (initial and in-dialog), the answer built from it
 *     parses again, has as many m-lines, the audio stream in the same place, carries the MIKEY
 *     message it was given, and passes sdp_audio_check_answer() with the chosen codec;
 *   - build(parse(x)) of the description's own values parses to the same values. */
#include "fuzz.h"

#include "common/sdpaudio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-sdpaudio: invariant broken at %s:%d: %s\n", __FILE__, __LINE__,        \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static const guint8 answer_mikey[] = { 0x01, 0x0f, 0x05, 0x01 };

static SdpAudioDesc *parse_checked(const char *sdp, gsize len)
{
  g_autoptr(GError) error = NULL;
  SdpAudioDesc *d = sdp_audio_parse(sdp, len, &error);
  if (!d) {
    CHECK(error != NULL && error->domain == SDP_AUDIO_ERROR);
    CHECK(sdp_audio_error_warning(error) == 306 || sdp_audio_error_warning(error) == 399);
    return NULL;
  }
  CHECK(error == NULL);
  CHECK(d->media != NULL && d->audio_index < d->media->len);
  CHECK(d->addr != NULL && d->proto != NULL && d->key_mgmt_ids != NULL);
  CHECK(d->payloads != NULL && d->payloads->len <= 128);
  CHECK(d->savp == (strcmp(d->proto, "RTP/SAVP") == 0));
  CHECK(d->sess_id <= G_MAXINT64 && d->sess_version <= G_MAXINT64);
  const SdpAudioMedia *m = d->media->pdata[d->audio_index];
  CHECK(strcmp(m->media, "audio") == 0 && m->port == d->port);
  return d;
}

static void answer_checked(const SdpAudioDesc *d, gboolean keyed)
{
  SdpAudioNegotiateOptions o = { .dialog_keyed = keyed };
  SdpAudioAnswer a;
  g_autoptr(GError) error = NULL;
  if (!sdp_audio_negotiate(d, &o, &a, &error)) {
    CHECK(error != NULL && error->domain == SDP_AUDIO_ERROR);
    return;
  }
  CHECK(a.keys == SDP_AUDIO_KEYS_KEEP || d->mikey != NULL);
  CHECK(a.n_formats <= SDP_AUDIO_MAX_FORMATS);
  g_autoptr(GBytes) mikey = g_bytes_new_static(answer_mikey, sizeof answer_mikey);
  SdpAudioParams p = { .sess_id = d->sess_id,
                       .version = d->sess_version,
                       .addr = d->addr_type == SDP_AUDIO_IP6 ? "2001:db8::5" : "198.51.100.5",
                       .port = a.rejected ? 0 : 30000,
                       .formats = a.formats,
                       .n_formats = a.n_formats,
                       .ptime = SDP_AUDIO_PTIME,
                       .direction = a.direction,
                       .mikey = mikey,
                       .offer = d };
  gsize len = 0;
  g_autofree char *ans = sdp_audio_build(&p, &len, &error);
  if (!ans)
    fprintf(stderr, "fuzz-sdpaudio: answer not built: %s\n", error->message);
  CHECK(ans != NULL);
  g_autoptr(SdpAudioDesc) back = parse_checked(ans, len);
  if (!back)
    fprintf(stderr, "fuzz-sdpaudio: our answer does not parse:\n%s\n", ans);
  CHECK(back != NULL);
  CHECK(back->media->len == d->media->len);
  CHECK(back->mikey != NULL && g_bytes_equal(back->mikey, mikey));
  if (a.rejected) {
    CHECK(back->port == 0);
    return;
  }
  CHECK(back->audio_index == d->audio_index);
  CHECK(back->direction == a.direction);
  SdpAudioFormat offered = a.codec, chosen;
  CHECK(sdp_audio_check_answer(back, &offered, 1, TRUE, &chosen, NULL));
  CHECK(chosen.pt == a.codec.pt && chosen.codec == a.codec.codec);
}

/* The description's own values written back parse to the same values. */
static void rebuild_checked(const SdpAudioDesc *d)
{
  if (d->payloads->len == 0 || d->payloads->len > SDP_AUDIO_MAX_FORMATS)
    return;
  SdpAudioFormat f[SDP_AUDIO_MAX_FORMATS];
  for (guint i = 0; i < d->payloads->len; i++) {
    const SdpAudioPayload *pl = &g_array_index(d->payloads, SdpAudioPayload, i);
    f[i].pt = pl->pt;
    f[i].codec = pl->codec;
  }
  SdpAudioParams p = { .sess_id = d->sess_id,
                       .version = d->sess_version,
                       .addr = d->addr,
                       .port = d->port,
                       .formats = f,
                       .n_formats = d->payloads->len,
                       .ptime = d->ptime,
                       .direction = d->direction,
                       .mikey = d->mikey };
  gsize len = 0;
  g_autofree char *body = sdp_audio_build(&p, &len, NULL);
  CHECK(body != NULL); /* whatever parses can be written back */
  g_autoptr(SdpAudioDesc) again = parse_checked(body, len);
  CHECK(again != NULL);
  CHECK(again->sess_id == d->sess_id && again->sess_version == d->sess_version);
  CHECK(strcmp(again->addr, d->addr) == 0 && again->addr_type == d->addr_type);
  CHECK(again->port == d->port && again->payloads->len == d->payloads->len);
  CHECK(again->ptime == d->ptime && again->direction == d->direction);
  CHECK((again->mikey == NULL) == (d->mikey == NULL));
  CHECK(d->mikey == NULL || g_bytes_equal(again->mikey, d->mikey));
  for (guint i = 0; i < d->payloads->len; i++) {
    const SdpAudioPayload *a = &g_array_index(again->payloads, SdpAudioPayload, i);
    CHECK(a->pt == f[i].pt);
    /* A codec we know is written with its canonical rtpmap and read back as itself. */
    if (f[i].codec != SDP_AUDIO_CODEC_UNKNOWN)
      CHECK(a->codec == f[i].codec);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *sdp = size ? (const char *)data : "";
  g_autoptr(SdpAudioDesc) d = parse_checked(sdp, size);
  if (!d)
    return 0;
  answer_checked(d, FALSE);
  answer_checked(d, TRUE);
  rebuild_checked(d);
  SdpAudioKeys keys;
  if (sdp_audio_offer_keys(d, FALSE, &keys, NULL))
    CHECK(keys == SDP_AUDIO_KEYS_NEW && d->mikey != NULL);
  return 0;
}
