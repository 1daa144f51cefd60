/* Test tones and their detection: a phase-continuous sine generator that fills 20 ms frames,
 * and a Goertzel estimator of the power of one frequency in a buffer. Used by the end-to-end
 * tests ("hears 400 and 700 Hz, its own 1,100 Hz at least 30 dB below") and the UA's
 * --tone option. Pure; a ToneGen belongs to one thread at a time. */
#pragma once

#include <glib.h>

#define TONE_RATE 8000
#define TONE_FRAME_SAMPLES 160 /* 20 ms at 8 kHz */

typedef struct {
  double phase;     /* radians, in [0, 2 pi) */
  double step;      /* radians per sample */
  double amplitude; /* peak, in sample units */
} ToneGen;

/* freq_hz in (0, rate/2); amplitude is the peak (0..32767; 8000 is about -12 dBFS). */
void tone_init(ToneGen *t, double freq_hz, double amplitude, guint rate);
/* Writes the next n samples (the phase carries over from the previous call). */
void tone_fill(ToneGen *t, gint16 *out, gsize n);
/* Adds the next n samples to out, saturating at the 16-bit limits (to mix several tones). */
void tone_add(ToneGen *t, gint16 *out, gsize n);

/* Power of the component at freq_hz (any frequency, not only bin centres) in x[0..n), as the
 * mean square it contributes: a sine of peak A gives about A^2 / 2. A Hann window keeps the
 * leakage of other tones low (sidelobes fall 18 dB per octave); a tone between bins reads up
 * to 1.5 dB low. 0 for n < 2. */
double goertzel_power(const gint16 *x, gsize n, double freq_hz, guint rate);
/* Mean square of x[0..n) (total power); 0 for n == 0. */
double tone_total_power(const gint16 *x, gsize n);
/* 10 log10(goertzel_power / total power): about 0 dB for a lone tone at freq_hz, about -3 dB
 * for each of two equal tones, very negative for an absent one; -200 dB for silence. */
double goertzel_level_db(const gint16 *x, gsize n, double freq_hz, guint rate);
