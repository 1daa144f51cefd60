/* Sine generator and Goertzel power estimate; see tone.h. */
#include "tone.h"

#include <math.h>

void tone_init(ToneGen *t, double freq_hz, double amplitude, guint rate)
{
  t->phase = 0.0;
  t->step = 2.0 * G_PI * freq_hz / (double)rate;
  t->amplitude = CLAMP(amplitude, 0.0, 32767.0);
}

static inline double tone_next(ToneGen *t)
{
  double v = t->amplitude * sin(t->phase);
  t->phase += t->step;
  if (t->phase >= 2.0 * G_PI)
    t->phase -= 2.0 * G_PI;
  return v;
}

static inline gint16 clamp16(double v)
{
  v = nearbyint(v);
  if (v > 32767.0)
    return 32767;
  if (v < -32768.0)
    return -32768;
  return (gint16)v;
}

void tone_fill(ToneGen *t, gint16 *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = clamp16(tone_next(t));
}

void tone_add(ToneGen *t, gint16 *out, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = clamp16((double)out[i] + tone_next(t));
}

double goertzel_power(const gint16 *x, gsize n, double freq_hz, guint rate)
{
  if (n < 2)
    return 0.0;
  double w = 2.0 * G_PI * freq_hz / (double)rate;
  double coeff = 2.0 * cos(w);
  double s1 = 0.0, s2 = 0.0, wsum = 0.0;
  double wstep = 2.0 * G_PI / (double)(n - 1);
  for (gsize i = 0; i < n; i++) {
    double win = 0.5 - 0.5 * cos(wstep * (double)i); /* Hann */
    double s = win * (double)x[i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
    wsum += win;
  }
  /* |X(w)|^2 of the windowed signal; a sine of peak A gives (A/2 * wsum)^2. */
  double mag2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  if (mag2 < 0.0)
    mag2 = 0.0;
  return 2.0 * mag2 / (wsum * wsum);
}

double tone_total_power(const gint16 *x, gsize n)
{
  if (n == 0)
    return 0.0;
  double sum = 0.0;
  for (gsize i = 0; i < n; i++)
    sum += (double)x[i] * (double)x[i];
  return sum / (double)n;
}

double goertzel_level_db(const gint16 *x, gsize n, double freq_hz, guint rate)
{
  double total = tone_total_power(x, n);
  double p = goertzel_power(x, n, freq_hz, rate);
  if (total <= 0.0 || p <= 0.0)
    return -200.0;
  double db = 10.0 * log10(p / total);
  return MAX(db, -200.0);
}
