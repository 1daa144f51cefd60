/* Tone generator and Goertzel detector as the end-to-end tests use them: a lone tone reads
 * about 0 dB at its frequency and >= 40 dB less elsewhere, a mix shows each of its tones, the
 * phase carries across 20 ms frames, and the verdicts survive G.711. */
#include "common/g711.h"
#include "common/tone.h"

#include <math.h>
#include <string.h>

static void test_single_tone(void)
{
  gint16 buf[8000];
  ToneGen t;
  tone_init(&t, 400, 8000, TONE_RATE);
  tone_fill(&t, buf, G_N_ELEMENTS(buf));
  /* peak 8000 -> mean square 8000^2 / 2 */
  g_assert_cmpfloat_with_epsilon(tone_total_power(buf, G_N_ELEMENTS(buf)), 32e6, 0.1e6);
  g_assert_cmpfloat_with_epsilon(goertzel_power(buf, G_N_ELEMENTS(buf), 400, TONE_RATE), 32e6, 1e6);
  double at400 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 400, TONE_RATE);
  double at1100 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 1100, TONE_RATE);
  g_test_message("400 Hz tone: %.2f dB at 400 Hz, %.1f dB at 1100 Hz", at400, at1100);
  g_assert_cmpfloat(fabs(at400), <, 0.5);
  g_assert_cmpfloat(at400 - at1100, >=, 40.0);

  /* one 20 ms frame is enough too (bins are 50 Hz wide there) */
  double f400 = goertzel_level_db(buf, TONE_FRAME_SAMPLES, 400, TONE_RATE);
  double f1100 = goertzel_level_db(buf, TONE_FRAME_SAMPLES, 1100, TONE_RATE);
  g_assert_cmpfloat(fabs(f400), <, 1.5);
  g_assert_cmpfloat(f400 - f1100, >=, 40.0);

  /* a frequency between bins: within the 1.5 dB the header promises */
  ToneGen u;
  tone_init(&u, 1013, 8000, TONE_RATE);
  tone_fill(&u, buf, 1000);
  g_assert_cmpfloat(fabs(goertzel_level_db(buf, 1000, 1013, TONE_RATE)), <, 1.5);
}

static void test_two_tones(void)
{
  gint16 buf[4000] = { 0 };
  ToneGen a, b;
  tone_init(&a, 400, 6000, TONE_RATE);
  tone_init(&b, 700, 6000, TONE_RATE);
  tone_add(&a, buf, G_N_ELEMENTS(buf));
  tone_add(&b, buf, G_N_ELEMENTS(buf));
  double l400 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 400, TONE_RATE);
  double l700 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 700, TONE_RATE);
  double l1100 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 1100, TONE_RATE);
  g_test_message("400+700 Hz: %.2f / %.2f dB, 1100 Hz %.1f dB", l400, l700, l1100);
  g_assert_cmpfloat(fabs(l400 + 3.0), <, 0.5); /* each holds half the power */
  g_assert_cmpfloat(fabs(l700 + 3.0), <, 0.5);
  g_assert_cmpfloat(l400 - l1100, >=, 40.0);

  /* the e2e criterion after a µ-law round trip: both heard, 1100 Hz >= 30 dB below */
  for (gsize i = 0; i < G_N_ELEMENTS(buf); i++)
    buf[i] = g711_ulaw_decode(g711_ulaw_encode(buf[i]));
  l400 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 400, TONE_RATE);
  l700 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 700, TONE_RATE);
  l1100 = goertzel_level_db(buf, G_N_ELEMENTS(buf), 1100, TONE_RATE);
  g_test_message("after µ-law: %.2f / %.2f dB, 1100 Hz %.1f dB", l400, l700, l1100);
  g_assert_cmpfloat(l400, >, -4.0);
  g_assert_cmpfloat(l700, >, -4.0);
  g_assert_cmpfloat(l400 - l1100, >=, 30.0);
  g_assert_cmpfloat(l700 - l1100, >=, 30.0);

  /* tone_add saturates instead of wrapping */
  gint16 loud[160];
  for (int i = 0; i < 160; i++)
    loud[i] = 30000;
  ToneGen c;
  tone_init(&c, 1000, 20000, TONE_RATE);
  tone_add(&c, loud, 160);
  for (int i = 0; i < 160; i++)
    g_assert_cmpint(loud[i], >=, 10000);
}

static void test_phase_continuity(void)
{
  gint16 whole[8000], frames[8000];
  ToneGen a, b;
  tone_init(&a, 1100, 12000, TONE_RATE);
  tone_init(&b, 1100, 12000, TONE_RATE);
  tone_fill(&a, whole, G_N_ELEMENTS(whole));
  for (gsize off = 0; off < G_N_ELEMENTS(frames); off += TONE_FRAME_SAMPLES)
    tone_fill(&b, frames + off, TONE_FRAME_SAMPLES);
  g_assert_cmpmem(whole, sizeof whole, frames, sizeof frames);
  /* and no click: consecutive samples of a 1100 Hz sine at peak 12000 differ by at most
   * 12000 * 2 sin(pi 1100 / 8000) ~ 10,000 */
  for (gsize i = 1; i < G_N_ELEMENTS(frames); i++)
    g_assert_cmpint(ABS(frames[i] - frames[i - 1]), <=, 10300);
}

static void test_silence_and_edges(void)
{
  gint16 zero[160];
  memset(zero, 0, sizeof zero);
  g_assert_cmpfloat(goertzel_level_db(zero, 160, 400, TONE_RATE), ==, -200.0);
  g_assert_cmpfloat(goertzel_power(zero, 1, 400, TONE_RATE), ==, 0.0);
  g_assert_cmpfloat(tone_total_power(zero, 0), ==, 0.0);
  g_assert_cmpfloat(goertzel_level_db(zero, 0, 400, TONE_RATE), ==, -200.0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/tone/single", test_single_tone);
  g_test_add_func("/tone/two-tones", test_two_tones);
  g_test_add_func("/tone/phase-continuity", test_phase_continuity);
  g_test_add_func("/tone/silence-and-edges", test_silence_and_edges);
  return g_test_run();
}
