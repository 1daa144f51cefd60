/* Adaptive jitter buffer with concealment and a 200 ms bound; see jitter.h. */
#include "jitter.h"

#include "common/g711.h"
#include "common/rtp.h"

#include <string.h>

#define SLOT_MASK (FOCUS_JITTER_SLOTS - 1)
/* Extended numbers start at 2^32 + seq so that they never go below zero. */
#define EXT_BASE (G_GUINT64_CONSTANT(1) << 32)

G_STATIC_ASSERT((FOCUS_JITTER_SLOTS & SLOT_MASK) == 0);
G_STATIC_ASSERT(FOCUS_JITTER_SLOTS > FOCUS_JITTER_MAX_FRAMES);
G_STATIC_ASSERT(FOCUS_JITTER_FRAME == G711_FRAME_SAMPLES);

void focus_jitter_init(FocusJitter *jb)
{
  memset(jb, 0, sizeof *jb);
  jb->min_level = G_MAXUINT;
  jb->conceal_run = FOCUS_JITTER_CONCEAL_FRAMES;
}

void focus_jitter_reset(FocusJitter *jb)
{
  FocusJitterStats keep = jb->stats;
  focus_jitter_init(jb);
  jb->stats = keep;
}

static void restart(FocusJitter *jb, guint32 ssrc, guint16 seq)
{
  if (jb->started)
    jb->stats.restarts++;
  focus_jitter_reset(jb);
  jb->started = TRUE;
  jb->ssrc = ssrc;
  jb->play = jb->highest = EXT_BASE + seq;
  jb->hold = FOCUS_JITTER_INITIAL_HOLD;
}

guint focus_jitter_level(const FocusJitter *jb)
{
  if (!jb->started || jb->highest < jb->play)
    return 0;
  return (guint)(jb->highest - jb->play + 1);
}

gboolean focus_jitter_busy(const FocusJitter *jb)
{
  return jb->started && (focus_jitter_level(jb) > 0 || jb->hold > 0 ||
                         jb->conceal_run < FOCUS_JITTER_CONCEAL_FRAMES);
}

/* Moves the play position to new_play, dropping what is buffered before it. */
static void skip_to(FocusJitter *jb, guint64 new_play)
{
  for (guint64 p = jb->play; p < new_play; p++) {
    FocusJitterSlot *s = &jb->slot[p & SLOT_MASK];
    if (s->filled && s->ext == p) {
      s->filled = FALSE;
      jb->stats.dropped++;
    }
  }
  jb->play = new_play;
}

static void unsettle(FocusJitter *jb)
{
  jb->calm_ticks = 0;
  jb->min_level = G_MAXUINT;
}

FocusJitterPut focus_jitter_put(FocusJitter *jb, guint32 ssrc, guint16 seq, guint8 pt,
                                const guint8 *payload, gsize len)
{
  if ((pt != G711_PT_PCMU && pt != G711_PT_PCMA) || len != FOCUS_JITTER_FRAME || payload == NULL) {
    jb->stats.bad++;
    return FOCUS_JITTER_PUT_BAD;
  }
  FocusJitterPut verdict = FOCUS_JITTER_PUT_OK;
  guint64 ext = 0;
  if (!jb->started || ssrc != jb->ssrc) {
    restart(jb, ssrc, seq);
    ext = jb->play;
    verdict = FOCUS_JITTER_PUT_RESTARTED;
  } else {
    gint32 d = rtp_seq_diff(seq, (guint16)jb->highest);
    if (d > FOCUS_JITTER_MAX_JUMP || d < -FOCUS_JITTER_MAX_JUMP) {
      restart(jb, ssrc, seq);
      ext = jb->play;
      verdict = FOCUS_JITTER_PUT_RESTARTED;
    } else {
      ext = (guint64)((gint64)jb->highest + d);
    }
  }
  if (ext < jb->play) {
    jb->stats.late++;
    jb->grow = TRUE;
    unsettle(jb);
    return FOCUS_JITTER_PUT_LATE;
  }
  FocusJitterSlot *s = &jb->slot[ext & SLOT_MASK];
  if (s->filled && s->ext == ext) {
    jb->stats.duplicates++;
    return FOCUS_JITTER_PUT_DUPLICATE;
  }
  if (ext - jb->play + 1 > FOCUS_JITTER_MAX_FRAMES) {
    skip_to(jb, ext + 1 - FOCUS_JITTER_MAX_FRAMES / 2);
    unsettle(jb);
  }
  s->ext = ext;
  s->filled = TRUE;
  s->pt = pt;
  memcpy(s->data, payload, FOCUS_JITTER_FRAME);
  if (ext > jb->highest)
    jb->highest = ext;
  jb->stats.packets++;
  return verdict;
}

/* The last frame again, fading: full level, then 1/2, then 1/4, then nothing. */
static FocusJitterGet conceal(FocusJitter *jb, gint16 *out)
{
  if (!jb->have_last || jb->conceal_run >= FOCUS_JITTER_CONCEAL_FRAMES) {
    memset(out, 0, FOCUS_JITTER_FRAME * sizeof *out);
    return FOCUS_JITTER_GET_NONE;
  }
  guint shift = jb->conceal_run;
  for (guint i = 0; i < FOCUS_JITTER_FRAME; i++)
    out[i] = (gint16)(jb->last[i] >> shift);
  jb->conceal_run++;
  jb->stats.concealed++;
  return FOCUS_JITTER_GET_CONCEALED;
}

FocusJitterGet focus_jitter_get(FocusJitter *jb, gint16 out[FOCUS_JITTER_FRAME])
{
  if (!jb->started || jb->hold > 0) {
    if (jb->hold > 0)
      jb->hold--;
    memset(out, 0, FOCUS_JITTER_FRAME * sizeof *out);
    return FOCUS_JITTER_GET_NONE;
  }
  guint level = focus_jitter_level(jb);
  if (jb->grow) {
    /* A packet came too late: play one concealed frame in its place and move nothing, so
     * everything after it is played one frame later. */
    jb->grow = FALSE;
    return conceal(jb, out);
  }
  FocusJitterSlot *s = &jb->slot[jb->play & SLOT_MASK];
  if (s->filled && s->ext == jb->play) {
    if (s->pt == G711_PT_PCMA)
      g711_alaw_decode_block(s->data, out, FOCUS_JITTER_FRAME);
    else
      g711_ulaw_decode_block(s->data, out, FOCUS_JITTER_FRAME);
    s->filled = FALSE;
    jb->play++;
    jb->stats.played++;
    jb->conceal_run = 0;
    memcpy(jb->last, out, sizeof jb->last);
    jb->have_last = TRUE;
    /* Shrink: FOCUS_JITTER_SHRINK_TICKS calm ticks that all found enough frames buffered. */
    if (level < jb->min_level)
      jb->min_level = level;
    if (++jb->calm_ticks >= FOCUS_JITTER_SHRINK_TICKS) {
      if (jb->min_level >= FOCUS_JITTER_SHRINK_LEVEL)
        skip_to(jb, jb->play + 1);
      unsettle(jb);
    }
    return FOCUS_JITTER_GET_FRAME;
  }
  if (level > 0) {
    /* A hole with later frames behind it: the frame is lost. */
    jb->play++;
    unsettle(jb);
    return conceal(jb, out);
  }
  /* Empty: the next packet is late or the sender paused. Conceal, and wait for it. */
  if (jb->have_last && jb->conceal_run < FOCUS_JITTER_CONCEAL_FRAMES) {
    jb->stats.underruns++;
    unsettle(jb);
  }
  return conceal(jb, out);
}
