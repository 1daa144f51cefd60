/* G.711 µ-law (PCMU, RTP payload type 0) and A-law (PCMA, 8) for 16-bit linear PCM.
 *
 * Bit-exact with the ITU-T G.191 reference (STL g711.c: ulaw_compress/expand,
 * alaw_compress/expand). Decoding, and A-law encoding, are also bit-exact with the classic Sun
 * reference (linear2ulaw & co.); Sun's µ-law encoder maps a negative input x as if it were
 * x - 4 (magnitude -(x >> 2) instead of ~x >> 2), so for x < 0 the two may differ by one step.
 * Decoding is a table lookup, encoding a few integer operations (a block: a lookup in a table
 * made from them on first use); no other state, no allocation. */
#pragma once

#include <glib.h>

#define G711_FRAME_SAMPLES 160 /* 20 ms at 8 kHz */
#define G711_PT_PCMU 0
#define G711_PT_PCMA 8

/* The decode tables (immutable): code -> linear sample. */
extern const gint16 g711_ulaw_table[256];
extern const gint16 g711_alaw_table[256];

static inline gint16 g711_ulaw_decode(guint8 code)
{
  return g711_ulaw_table[code];
}

static inline gint16 g711_alaw_decode(guint8 code)
{
  return g711_alaw_table[code];
}

/* µ-law: 14-bit magnitude (one's complement for negatives) + 33, clipped to 0x1FFF; the
 * segment is its bit length - 6. 0 encodes as 0xFF. */
static inline guint8 g711_ulaw_encode(gint16 pcm)
{
  int sign = pcm >> 15; /* 0 or -1 */
  int mag = ((pcm ^ sign) >> 2) + 33;
  if (mag > 0x1FFF)
    mag = 0x1FFF;
  int seg = 26 - __builtin_clz((unsigned)mag); /* 31 - clz - 5: 0..7 */
  int code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F);
  return (guint8)(code ^ (sign ? 0x7F : 0xFF));
}

/* A-law: 12-bit magnitude (one's complement for negatives); even bits inverted (0x55).
 * 0 encodes as 0xD5. */
static inline guint8 g711_alaw_encode(gint16 pcm)
{
  int sign = pcm >> 15;
  int mag = (pcm ^ sign) >> 3;                          /* 0..4095 */
  int seg = 27 - __builtin_clz((unsigned)(mag | 16));   /* 31 - clz - 4: 0..7 */
  int shift = 27 - __builtin_clz((unsigned)(mag | 32)); /* max(seg, 1) */
  int code = (seg << 4) | ((mag >> shift) & 0x0F);
  return (guint8)(code ^ (sign ? 0x55 : 0xD5));
}

/* n samples at a time (a 20 ms frame is G711_FRAME_SAMPLES); in and out must not overlap. */
void g711_ulaw_encode_block(const gint16 *pcm, guint8 *out, gsize n);
void g711_ulaw_decode_block(const guint8 *in, gint16 *pcm, gsize n);
void g711_alaw_encode_block(const gint16 *pcm, guint8 *out, gsize n);
void g711_alaw_decode_block(const guint8 *in, gint16 *pcm, gsize n);
