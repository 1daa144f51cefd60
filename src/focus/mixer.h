/* The N−1 audio mix of one conference for one 20 ms tick (profile 8).
 *
 * Every leg brings the frame its jitter buffer gave (decoded to 16-bit linear PCM, 8 kHz).
 * Talkers are found by energy: a leg whose frame's mean square is above
 * FOCUS_MIX_TALK_THRESHOLD (about −60 dBov) talks, and goes on talking for FOCUS_MIX_HANGOVER
 * ticks after it falls below, so that word endings are not cut. Only talkers are mixed: the
 * sum of their frames, in 32 bits. A talker is sent sat16(sum − its own frame), encoded for it
 * alone; every other leg hears the whole sum, and that is encoded once per codec and shared by
 * all of them (the frame a non-talker is sent holds nobody's audio but the talkers', so nobody
 * ever hears themselves). With the usual one or two talkers, a conference of N legs costs one
 * or two encodes plus one per codec, not N.
 *
 * Pure; one thread at a time. */
#pragma once

#include <glib.h>

#define FOCUS_MIX_FRAME 160
#define FOCUS_MIX_TALK_THRESHOLD 1000 /* mean square, in sample units squared */
#define FOCUS_MIX_HANGOVER 10         /* ticks: 200 ms */

typedef struct {
  /* Set by the caller before focus_mixer_run(). */
  gboolean has_audio;    /* pcm holds a frame (received or concealed) */
  gboolean wants_output; /* the leg is sent a frame this tick (keys and an address) */
  guint8 pt;             /* 0 PCMU or 8 PCMA: what the leg is sent */
  /* Kept between ticks. */
  guint hangover;
  /* Results. */
  gboolean talker;
  guint64 energy;              /* mean square of pcm */
  const guint8 *out;           /* FOCUS_MIX_FRAME encoded bytes to send, when wants_output */
  gint16 pcm[FOCUS_MIX_FRAME]; /* (set by the caller) */
  guint8 own[FOCUS_MIX_FRAME]; /* a talker's own N−1 frame (out points here then) */
} FocusMixLeg;

typedef struct {
  gint32 sum[FOCUS_MIX_FRAME];
  guint8 shared[2][FOCUS_MIX_FRAME]; /* the whole mix: [0] PCMU, [1] PCMA */
  guint talkers;                     /* of the last tick */
  guint64 shared_encodes;
  guint64 own_encodes;
} FocusMixer;

void focus_mixer_init(FocusMixer *mx);
/* Mixes one tick for legs[0..n). Returns the number of talkers. */
guint focus_mixer_run(FocusMixer *mx, FocusMixLeg *const *legs, guint n);

/* The pieces, for tests. */
guint64 focus_mix_energy(const gint16 *pcm, gsize n);
void focus_mix_add(gint32 *sum, const gint16 *pcm, gsize n);
/* out = sat16(sum - own) */
void focus_mix_minus(const gint32 *sum, const gint16 *own, gint16 *out, gsize n);
/* out = sat16(sum) */
void focus_mix_saturate(const gint32 *sum, gint16 *out, gsize n);
/* Encodes 160 samples for pt (8 A-law, anything else µ-law). */
void focus_mix_encode(guint8 pt, const gint16 *pcm, guint8 *out);
