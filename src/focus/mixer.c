/* N−1 mixing with talker detection and shared frames; see mixer.h. */
#include "mixer.h"

#include "common/g711.h"

#include <string.h>

G_STATIC_ASSERT(FOCUS_MIX_FRAME == G711_FRAME_SAMPLES);

void focus_mixer_init(FocusMixer *mx)
{
  memset(mx, 0, sizeof *mx);
}

guint64 focus_mix_energy(const gint16 *pcm, gsize n)
{
  if (n == 0)
    return 0;
  guint64 acc = 0;
  for (gsize i = 0; i < n; i++)
    acc += (guint64)((gint32)pcm[i] * (gint32)pcm[i]);
  return acc / n;
}

void focus_mix_add(gint32 *sum, const gint16 *pcm, gsize n)
{
  for (gsize i = 0; i < n; i++)
    sum[i] += pcm[i];
}

static inline gint16 sat16(gint32 v)
{
  return (gint16)(v > G_MAXINT16 ? G_MAXINT16 : v < G_MININT16 ? G_MININT16 : v);
}

void focus_mix_minus(const gint32 *sum, const gint16 *own, gint16 *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = sat16(sum[i] - own[i]);
}

void focus_mix_saturate(const gint32 *sum, gint16 *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = sat16(sum[i]);
}

void focus_mix_encode(guint8 pt, const gint16 *pcm, guint8 *out)
{
  if (pt == G711_PT_PCMA)
    g711_alaw_encode_block(pcm, out, FOCUS_MIX_FRAME);
  else
    g711_ulaw_encode_block(pcm, out, FOCUS_MIX_FRAME);
}

guint focus_mixer_run(FocusMixer *mx, FocusMixLeg *const *legs, guint n)
{
  memset(mx->sum, 0, sizeof mx->sum);
  guint talkers = 0;
  for (guint i = 0; i < n; i++) {
    FocusMixLeg *l = legs[i];
    l->talker = FALSE;
    l->energy = 0;
    if (!l->has_audio) {
      l->hangover = 0;
      continue;
    }
    l->energy = focus_mix_energy(l->pcm, FOCUS_MIX_FRAME);
    if (l->energy > FOCUS_MIX_TALK_THRESHOLD) {
      l->hangover = FOCUS_MIX_HANGOVER;
      l->talker = TRUE;
    } else if (l->hangover > 0) {
      l->hangover--;
      l->talker = TRUE;
    }
    if (l->talker) {
      focus_mix_add(mx->sum, l->pcm, FOCUS_MIX_FRAME);
      talkers++;
    }
  }
  mx->talkers = talkers;

  gboolean shared_done[2] = { FALSE, FALSE };
  gint16 pcm[FOCUS_MIX_FRAME];
  gboolean have_full = FALSE;
  for (guint i = 0; i < n; i++) {
    FocusMixLeg *l = legs[i];
    l->out = NULL;
    if (!l->wants_output)
      continue;
    if (l->talker) {
      focus_mix_minus(mx->sum, l->pcm, pcm, FOCUS_MIX_FRAME);
      focus_mix_encode(l->pt, pcm, l->own);
      mx->own_encodes++;
      l->out = l->own;
      have_full = FALSE; /* pcm now holds this talker's frame */
      continue;
    }
    guint c = l->pt == G711_PT_PCMA ? 1 : 0;
    if (!shared_done[c]) {
      if (!have_full) {
        focus_mix_saturate(mx->sum, pcm, FOCUS_MIX_FRAME);
        have_full = TRUE;
      }
      focus_mix_encode(l->pt, pcm, mx->shared[c]);
      mx->shared_encodes++;
      shared_done[c] = TRUE;
    }
    l->out = mx->shared[c];
  }
  return talkers;
}
