/* G.711: known code values, symmetry and monotonicity of the decode tables, encode(decode(c))
 * for every code, bit-exactness against the ITU-T G.191 reference algorithm for all 65,536
 * inputs (and against the Sun reference where the two agree), and the codec's SNR. */
#include "common/g711.h"

#include <math.h>

/* ITU-T G.191 STL g711.c, ulaw_compress / alaw_compress for one sample, transcribed from the
 * algorithm (one's complement for negatives, segment by bit length). */
static guint8 ref_g191_ulaw(gint16 x)
{
  int absno = x < 0 ? ((~x) >> 2) + 33 : (x >> 2) + 33;
  if (absno > 0x1FFF)
    absno = 0x1FFF;
  int i = absno >> 6, segno = 1;
  while (i != 0) {
    segno++;
    i >>= 1;
  }
  int high = 8 - segno;
  int low = 0x0F - ((absno >> segno) & 0x0F);
  int out = (high << 4) | low;
  if (x >= 0)
    out |= 0x80;
  return (guint8)out;
}

static guint8 ref_g191_alaw(gint16 x)
{
  int ix = x < 0 ? (~x) >> 4 : x >> 4;
  if (ix > 15) {
    int iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (x >= 0)
    ix |= 0x80;
  return (guint8)(ix ^ 0x55);
}

/* Sun Microsystems' public-domain g711.c (linear2ulaw, linear2alaw), same algorithm. */
static int ref_sun_search(int val, const int *table)
{
  for (int i = 0; i < 8; i++)
    if (val <= table[i])
      return i;
  return 8;
}

static guint8 ref_sun_ulaw(gint16 pcm)
{
  static const int seg_uend[8] = { 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF };
  int v = pcm >> 2, mask;
  if (v < 0) {
    v = -v;
    mask = 0x7F;
  } else {
    mask = 0xFF;
  }
  if (v > 8159)
    v = 8159;
  v += 0x84 >> 2;
  int seg = ref_sun_search(v, seg_uend);
  if (seg >= 8)
    return (guint8)(0x7F ^ mask);
  return (guint8)(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask);
}

static guint8 ref_sun_alaw(gint16 pcm)
{
  static const int seg_aend[8] = { 0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF };
  int v = pcm >> 3, mask;
  if (v >= 0) {
    mask = 0xD5;
  } else {
    mask = 0x55;
    v = -v - 1;
  }
  int seg = ref_sun_search(v, seg_aend);
  if (seg >= 8)
    return (guint8)(0x7F ^ mask);
  int a = seg << 4;
  a |= seg < 2 ? (v >> 1) & 0xF : (v >> seg) & 0xF;
  return (guint8)(a ^ mask);
}

static void test_known_values(void)
{
  g_assert_cmphex(g711_ulaw_encode(0), ==, 0xFF);
  g_assert_cmpint(g711_ulaw_decode(0xFF), ==, 0);
  g_assert_cmpint(g711_ulaw_decode(0x7F), ==, 0); /* negative zero */
  g_assert_cmpint(g711_ulaw_decode(0x80), ==, 32124);
  g_assert_cmpint(g711_ulaw_decode(0x00), ==, -32124);
  g_assert_cmphex(g711_ulaw_encode(32767), ==, 0x80);
  g_assert_cmphex(g711_ulaw_encode(-32768), ==, 0x00);
  g_assert_cmpint(g711_ulaw_decode(0xFE), ==, 8);
  g_assert_cmpint(g711_ulaw_decode(0x7E), ==, -8);

  g_assert_cmphex(g711_alaw_encode(0), ==, 0xD5);
  g_assert_cmpint(g711_alaw_decode(0xD5), ==, 8);
  g_assert_cmphex(g711_alaw_encode(8), ==, 0xD5);
  g_assert_cmpint(g711_alaw_decode(0x55), ==, -8);
  g_assert_cmphex(g711_alaw_encode(-1), ==, 0x55);
  g_assert_cmpint(g711_alaw_decode(0xAA), ==, 32256);
  g_assert_cmpint(g711_alaw_decode(0x2A), ==, -32256);
  g_assert_cmphex(g711_alaw_encode(32767), ==, 0xAA);
  g_assert_cmphex(g711_alaw_encode(-32768), ==, 0x2A);
}

static void test_table_properties(void)
{
  for (int c = 0; c < 256; c++) {
    /* the sign bit mirrors the value */
    g_assert_cmpint(g711_ulaw_decode((guint8)c), ==, -g711_ulaw_decode((guint8)(c ^ 0x80)));
    g_assert_cmpint(g711_alaw_decode((guint8)c), ==, -g711_alaw_decode((guint8)(c ^ 0x80)));
    /* positive codes decode to >= 0; A-law never to 0 */
    if (c & 0x80) {
      g_assert_cmpint(g711_ulaw_decode((guint8)c), >=, 0);
      g_assert_cmpint(g711_alaw_decode((guint8)c), >, 0);
    }
  }
  /* µ-law magnitude grows as the complemented code falls: 0xFF (0) .. 0x80 (32124) */
  for (int c = 0xFF; c > 0x80; c--)
    g_assert_cmpint(g711_ulaw_decode((guint8)(c - 1)), >, g711_ulaw_decode((guint8)c));
  /* A-law: magnitude grows with (code ^ 0x55) & 0x7F */
  for (int m = 0; m < 127; m++)
    g_assert_cmpint(g711_alaw_decode((guint8)((m + 1) ^ 0xD5)), >,
                    g711_alaw_decode((guint8)(m ^ 0xD5)));
}

static void test_encode_decode_codes(void)
{
  for (int c = 0; c < 256; c++) {
    guint8 u = g711_ulaw_encode(g711_ulaw_decode((guint8)c));
    if (c == 0x7F)
      g_assert_cmphex(u, ==, 0xFF); /* the two zeros: encode gives the positive one */
    else
      g_assert_cmphex(u, ==, c);
    g_assert_cmphex(g711_alaw_encode(g711_alaw_decode((guint8)c)), ==, c);
  }
}

static void test_reference_bit_exact(void)
{
  guint sun_ulaw_differs = 0;
  for (int x = -32768; x <= 32767; x++) {
    gint16 s = (gint16)x;
    guint8 u = g711_ulaw_encode(s), a = g711_alaw_encode(s);
    if (u != ref_g191_ulaw(s))
      g_error("ulaw_encode(%d) = 0x%02x, G.191 0x%02x", x, u, ref_g191_ulaw(s));
    if (a != ref_g191_alaw(s))
      g_error("alaw_encode(%d) = 0x%02x, G.191 0x%02x", x, a, ref_g191_alaw(s));
    if (a != ref_sun_alaw(s))
      g_error("alaw_encode(%d) = 0x%02x, Sun 0x%02x", x, a, ref_sun_alaw(s));
    if (x >= 0 && u != ref_sun_ulaw(s))
      g_error("ulaw_encode(%d) = 0x%02x, Sun 0x%02x", x, u, ref_sun_ulaw(s));
    if (x < 0 && u != ref_sun_ulaw(s)) {
      sun_ulaw_differs++;
      /* Sun encodes x as G.191 encodes x - 4: G.191(x) == Sun(x + 4), and -4..-1 are G.191's
       * negative zero */
      if (x < -4)
        g_assert_cmphex(u, ==, ref_sun_ulaw((gint16)(x + 4)));
      else
        g_assert_cmphex(u, ==, 0x7F);
    }
  }
  /* the known µ-law difference on negative inputs exists (256 step boundaries x 4 values) */
  g_assert_cmpuint(sun_ulaw_differs, >, 0);
  g_assert_cmpuint(sun_ulaw_differs, <, 2048);
}

static void test_blocks(void)
{
  gint16 pcm[G711_FRAME_SAMPLES], back[G711_FRAME_SAMPLES];
  guint8 code[G711_FRAME_SAMPLES];
  for (int i = 0; i < G711_FRAME_SAMPLES; i++)
    pcm[i] = (gint16)(i * 409 - 32768);
  g711_ulaw_encode_block(pcm, code, G711_FRAME_SAMPLES);
  g711_ulaw_decode_block(code, back, G711_FRAME_SAMPLES);
  for (int i = 0; i < G711_FRAME_SAMPLES; i++) {
    g_assert_cmphex(code[i], ==, g711_ulaw_encode(pcm[i]));
    g_assert_cmpint(back[i], ==, g711_ulaw_decode(code[i]));
  }
  g711_alaw_encode_block(pcm, code, G711_FRAME_SAMPLES);
  g711_alaw_decode_block(code, back, G711_FRAME_SAMPLES);
  for (int i = 0; i < G711_FRAME_SAMPLES; i++) {
    g_assert_cmphex(code[i], ==, g711_alaw_encode(pcm[i]));
    g_assert_cmpint(back[i], ==, g711_alaw_decode(code[i]));
  }
  /* block encoding (through tables) gives the per-sample codes for every 16-bit input */
  static gint16 all[65536];
  static guint8 ucodes[65536], acodes[65536];
  for (int x = -32768; x < 32768; x++)
    all[x + 32768] = (gint16)x;
  g711_ulaw_encode_block(all, ucodes, G_N_ELEMENTS(all));
  g711_alaw_encode_block(all, acodes, G_N_ELEMENTS(all));
  for (int i = 0; i < 65536; i++) {
    if (ucodes[i] != g711_ulaw_encode(all[i]) || acodes[i] != g711_alaw_encode(all[i]))
      g_error("block encoding of %d: 0x%02x 0x%02x, per sample 0x%02x 0x%02x", all[i], ucodes[i],
              acodes[i], g711_ulaw_encode(all[i]), g711_alaw_encode(all[i]));
  }
}

/* A 1 kHz sine at -6 dBFS through each codec keeps an SNR near G.711's ~38 dB. */
static void test_snr(void)
{
  for (int law = 0; law < 2; law++) {
    double sig = 0, err = 0;
    for (int i = 0; i < 8000; i++) {
      gint16 x = (gint16)lrint(16000.0 * sin(2 * G_PI * 1000.0 * i / 8000.0 + 0.1));
      gint16 y =
          law ? g711_alaw_decode(g711_alaw_encode(x)) : g711_ulaw_decode(g711_ulaw_encode(x));
      sig += (double)x * x;
      err += (double)(y - x) * (y - x);
    }
    double snr = 10 * log10(sig / err);
    g_test_message("%s SNR %.1f dB", law ? "A-law" : "µ-law", snr);
    g_assert_cmpfloat(snr, >, 35.0);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/g711/known-values", test_known_values);
  g_test_add_func("/g711/table-properties", test_table_properties);
  g_test_add_func("/g711/encode-decode-codes", test_encode_decode_codes);
  g_test_add_func("/g711/reference-bit-exact", test_reference_bit_exact);
  g_test_add_func("/g711/blocks", test_blocks);
  g_test_add_func("/g711/snr", test_snr);
  return g_test_run();
}
