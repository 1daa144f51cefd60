/* WAV: write/read round trips, a recording that stays valid while it is written (a killed
 * process leaves a playable file), µ-law/A-law/EXTENSIBLE input, and a clear refusal of every
 * unsupported or malformed file (every truncation and random corruption under ASan). */
#include "common/g711.h"
#include "common/wav.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("test-wav-XXXXXX", &error);
  g_assert_no_error(error);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *p = g_build_filename(f->dir, name, NULL);
    g_remove(p);
  }
  g_rmdir(f->dir);
  g_free(f->dir);
}

/* A little WAV builder for hand-made files. */
static void put16(GByteArray *b, guint16 v)
{
  guint8 x[2] = { (guint8)v, (guint8)(v >> 8) };
  g_byte_array_append(b, x, 2);
}

static void put32(GByteArray *b, guint32 v)
{
  guint8 x[4] = { (guint8)v, (guint8)(v >> 8), (guint8)(v >> 16), (guint8)(v >> 24) };
  g_byte_array_append(b, x, 4);
}

static void chunk(GByteArray *b, const char *id, guint32 size, const guint8 *data, gsize len)
{
  g_byte_array_append(b, (const guint8 *)id, 4);
  put32(b, size);
  if (len)
    g_byte_array_append(b, data, (guint)len);
}

static GByteArray *riff_start(void)
{
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, (const guint8 *)"RIFF\0\0\0\0WAVE", 12);
  return b;
}

static void riff_finish(GByteArray *b)
{
  guint32 n = b->len - 8;
  b->data[4] = (guint8)n;
  b->data[5] = (guint8)(n >> 8);
  b->data[6] = (guint8)(n >> 16);
  b->data[7] = (guint8)(n >> 24);
}

static void fmt_chunk(GByteArray *b, guint16 tag, guint16 channels, guint32 rate, guint16 bits)
{
  g_byte_array_append(b, (const guint8 *)"fmt ", 4);
  put32(b, 16);
  put16(b, tag);
  put16(b, channels);
  put32(b, rate);
  put32(b, rate * channels * bits / 8);
  put16(b, (guint16)(channels * bits / 8));
  put16(b, bits);
}

static GByteArray *simple_wav(guint16 tag, guint16 channels, guint32 rate, guint16 bits,
                              const guint8 *data, gsize len)
{
  GByteArray *b = riff_start();
  fmt_chunk(b, tag, channels, rate, bits);
  chunk(b, "data", (guint32)len, data, len);
  riff_finish(b);
  return b;
}

static gint16 *parse(GByteArray *b, gsize *n, GError **error)
{
  return wav_parse(b->data, b->len, "t.wav", n, error);
}

static void assert_refused(GByteArray *b, int code, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  gint16 *s = parse(b, &n, &error);
  g_assert_null(s);
  g_assert_error(error, G_IO_ERROR, code);
  g_assert_true(g_str_has_prefix(error->message, "t.wav: "));
  if (strstr(error->message, fragment) == NULL)
    g_error("error \"%s\" does not mention \"%s\"", error->message, fragment);
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename(f->dir, "rec.wav", NULL);
  g_autoptr(GError) error = NULL;
  gint16 samples[1001];
  for (gsize i = 0; i < G_N_ELEMENTS(samples); i++)
    samples[i] = (gint16)(i * 65 - 32768 + (i % 3));
  WavWriter *w = wav_writer_open(path, &error);
  g_assert_no_error(error);
  g_assert_true(wav_writer_write(w, samples, 160, &error));
  g_assert_true(wav_writer_write(w, samples + 160, 841, &error));
  g_assert_cmpuint(wav_writer_samples(w), ==, 1001);
  g_assert_true(wav_writer_close(w, &error));
  g_assert_no_error(error);

  gsize n = 0;
  g_autofree gint16 *back = wav_read(path, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpmem(back, n * 2, samples, sizeof samples);

  /* the bytes: canonical 44-byte header, little-endian samples */
  g_autofree char *raw = NULL;
  gsize raw_len = 0;
  g_assert_true(g_file_get_contents(path, &raw, &raw_len, NULL));
  g_assert_cmpuint(raw_len, ==, 44 + 2002);
  g_assert_cmpmem(raw, 4, "RIFF", 4);
  g_assert_cmpuint(GUINT32_FROM_LE(*(guint32 *)(void *)(raw + 4)), ==, 36 + 2002);
  g_assert_cmpmem(raw + 8, 8, "WAVEfmt ", 8);
  g_assert_cmpuint(GUINT32_FROM_LE(*(guint32 *)(void *)(raw + 24)), ==, 8000);
  g_assert_cmpmem(raw + 36, 4, "data", 4);
  g_assert_cmpuint(GUINT32_FROM_LE(*(guint32 *)(void *)(raw + 40)), ==, 2002);
  g_assert_cmpuint((guint8)raw[44], ==, (guint8)samples[0]);
  g_assert_cmpuint((guint8)raw[45], ==, (guint8)((guint16)samples[0] >> 8));

  /* an empty recording is a valid file with no samples */
  g_autofree char *empty = g_build_filename(f->dir, "empty.wav", NULL);
  g_assert_true(wav_writer_close(wav_writer_open(empty, &error), &error));
  g_autofree gint16 *none = wav_read(empty, &n, &error);
  g_assert_no_error(error);
  g_assert_nonnull(none);
  g_assert_cmpuint(n, ==, 0);
}

/* While a recording is written, the file on disk is always a valid WAV: what a killed process
 * leaves behind. The header follows every WAV_UPDATE_SAMPLES samples. */
static void test_valid_while_writing(Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename(f->dir, "live.wav", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(WavWriter) w = wav_writer_open(path, &error);
  g_assert_no_error(error);
  gint16 frame[160];
  for (int i = 0; i < 160; i++)
    frame[i] = (gint16)(i * 100);
  gsize n = 99;
  g_autofree gint16 *s0 = wav_read(path, &n, &error); /* just opened */
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 0);

  for (int k = 0; k < 60; k++) /* 1.2 s */
    g_assert_true(wav_writer_write(w, frame, 160, &error));
  g_autofree gint16 *s1 = wav_read(path, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 50 * 160); /* the header was updated at the 1 s mark */
  g_assert_cmpint(s1[160 * 49 + 5], ==, frame[5]);

  for (int k = 0; k < 50; k++)
    g_assert_true(wav_writer_write(w, frame, 160, &error));
  g_autofree gint16 *s2 = wav_read(path, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 100 * 160); /* 2.2 s written: updated again at the 2 s mark */
  /* g_autoptr closes it: the final size */
  g_clear_pointer(&w, wav_writer_free);
  g_autofree gint16 *s3 = wav_read(path, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 110 * 160);
}

static void test_g711_and_extensible(void)
{
  guint8 codes[] = { 0xFF, 0x80, 0x00, 0x7E, 0xD5, 0x55 };
  g_autoptr(GError) error = NULL;
  gsize n = 0;

  g_autoptr(GByteArray) u = simple_wav(7, 1, 8000, 8, codes, sizeof codes);
  g_autofree gint16 *us = parse(u, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, sizeof codes);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpint(us[i], ==, g711_ulaw_decode(codes[i]));

  g_autoptr(GByteArray) a = simple_wav(6, 1, 8000, 8, codes, sizeof codes);
  g_autofree gint16 *as = parse(a, &n, &error);
  g_assert_no_error(error);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpint(as[i], ==, g711_alaw_decode(codes[i]));

  /* WAVE_FORMAT_EXTENSIBLE, sub-format PCM, with an odd-sized LIST chunk (padded) first */
  static const guint8 guid_pcm[16] = { 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
                                       0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };
  g_autoptr(GByteArray) e = riff_start();
  chunk(e, "LIST", 3, (const guint8 *)"abc\0", 4);
  g_byte_array_append(e, (const guint8 *)"fmt ", 4);
  put32(e, 40);
  put16(e, 0xFFFE);
  put16(e, 1);
  put32(e, 8000);
  put32(e, 16000);
  put16(e, 2);
  put16(e, 16);
  put16(e, 22);
  put16(e, 16);
  put32(e, 4); /* front centre */
  g_byte_array_append(e, guid_pcm, 16);
  guint8 pcm[4] = { 0x34, 0x12, 0xFE, 0xFF };
  chunk(e, "data", 4, pcm, 4);
  riff_finish(e);
  g_autofree gint16 *es = parse(e, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 2);
  g_assert_cmpint(es[0], ==, 0x1234);
  g_assert_cmpint(es[1], ==, -2);
}

static void test_unsupported(void)
{
  guint8 d[8] = { 0 };
  struct {
    guint16 tag, channels;
    guint32 rate;
    guint16 bits;
    const char *says;
  } cases[] = {
    { 1, 2, 8000, 16, "16-bit PCM, stereo, 8000 Hz" },
    { 1, 1, 44100, 16, "16-bit PCM, mono, 44100 Hz" },
    { 1, 1, 16000, 16, "16000 Hz" },
    { 1, 1, 8000, 8, "8-bit PCM, mono, 8000 Hz" },
    { 1, 1, 8000, 24, "24-bit PCM" },
    { 3, 1, 8000, 32, "32-bit IEEE float" },
    { 7, 1, 16000, 8, "8-bit µ-law, mono, 16000 Hz" },
    { 6, 4, 8000, 8, "A-law, 4 channels" },
    { 0x55, 1, 8000, 8, "format 0x0055" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GByteArray) b =
        simple_wav(cases[i].tag, cases[i].channels, cases[i].rate, cases[i].bits, d, sizeof d);
    assert_refused(b, G_IO_ERROR_NOT_SUPPORTED, cases[i].says);
    assert_refused(b, G_IO_ERROR_NOT_SUPPORTED, "supported: mono 8000 Hz");
  }
  g_autoptr(GByteArray) rifx = simple_wav(1, 1, 8000, 16, d, sizeof d);
  memcpy(rifx->data, "RIFX", 4);
  assert_refused(rifx, G_IO_ERROR_NOT_SUPPORTED, "RIFX");
}

static void test_malformed(void)
{
  guint8 d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  g_autoptr(GByteArray) notriff = simple_wav(1, 1, 8000, 16, d, sizeof d);
  memcpy(notriff->data + 8, "AVI ", 4);
  assert_refused(notriff, G_IO_ERROR_INVALID_DATA, "not a WAV file");

  g_autoptr(GByteArray) nofmt = riff_start();
  chunk(nofmt, "data", 8, d, 8);
  riff_finish(nofmt);
  assert_refused(nofmt, G_IO_ERROR_INVALID_DATA, "data chunk before the fmt chunk");

  g_autoptr(GByteArray) onlyfmt = riff_start();
  fmt_chunk(onlyfmt, 1, 1, 8000, 16);
  riff_finish(onlyfmt);
  assert_refused(onlyfmt, G_IO_ERROR_INVALID_DATA, "no data chunk");

  g_autoptr(GByteArray) empty = riff_start();
  riff_finish(empty);
  assert_refused(empty, G_IO_ERROR_INVALID_DATA, "no fmt chunk");

  g_autoptr(GByteArray) shortfmt = riff_start();
  chunk(shortfmt, "fmt ", 14, (const guint8 *)"\1\0\1\0\x40\x1f\0\0\x80\x3e\0\0\2\0", 14);
  chunk(shortfmt, "data", 8, d, 8);
  riff_finish(shortfmt);
  assert_refused(shortfmt, G_IO_ERROR_INVALID_DATA, "fmt chunk of 14 bytes");

  g_autoptr(GByteArray) twofmt = riff_start();
  fmt_chunk(twofmt, 1, 1, 8000, 16);
  fmt_chunk(twofmt, 1, 1, 8000, 16);
  chunk(twofmt, "data", 8, d, 8);
  riff_finish(twofmt);
  assert_refused(twofmt, G_IO_ERROR_INVALID_DATA, "two fmt chunks");

  g_autoptr(GByteArray) align = simple_wav(1, 1, 8000, 16, d, sizeof d);
  align->data[32] = 4; /* block align 4 for mono 16-bit */
  assert_refused(align, G_IO_ERROR_INVALID_DATA, "block align 4");

  g_autoptr(GByteArray) nochan = simple_wav(1, 0, 8000, 16, d, sizeof d);
  assert_refused(nochan, G_IO_ERROR_INVALID_DATA, "0 channels");

  g_autoptr(GByteArray) bigchunk = riff_start();
  chunk(bigchunk, "JUNK", 0xFFFFFFF0u, d, 8);
  fmt_chunk(bigchunk, 1, 1, 8000, 16);
  riff_finish(bigchunk);
  assert_refused(bigchunk, G_IO_ERROR_INVALID_DATA, "chunk 'JUNK' of 4294967280 bytes");

  g_autoptr(GByteArray) bigfmt = riff_start();
  chunk(bigfmt, "fmt ", 0xFFFFFFFFu, d, 8);
  riff_finish(bigfmt);
  assert_refused(bigfmt, G_IO_ERROR_INVALID_DATA, "runs past the end");

  g_autoptr(GByteArray) ext = riff_start();
  chunk(ext, "fmt ", 18, (const guint8 *)"\xfe\xff\1\0\x40\x1f\0\0\x80\x3e\0\0\2\0\x10\0\0\0", 18);
  chunk(ext, "data", 8, d, 8);
  riff_finish(ext);
  assert_refused(ext, G_IO_ERROR_INVALID_DATA, "WAVE_FORMAT_EXTENSIBLE fmt chunk of 18 bytes");

  /* A data chunk longer than the file (a recording cut short, 0xFFFFFFFF streaming size):
   * the whole samples present; an odd trailing byte is dropped. */
  g_autoptr(GByteArray) cut = riff_start();
  fmt_chunk(cut, 1, 1, 8000, 16);
  chunk(cut, "data", 0xFFFFFFFFu, d, 7);
  riff_finish(cut);
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  g_autofree gint16 *s = parse(cut, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpint(s[0], ==, 0x0201);
}

/* Every prefix of a valid file: shorter than the header is refused, longer gives the samples
 * present. Each prefix is its own allocation so ASan catches a read past its end. */
static void test_truncations(void)
{
  guint8 d[20];
  for (int i = 0; i < 20; i++)
    d[i] = (guint8)i;
  g_autoptr(GByteArray) b = simple_wav(1, 1, 8000, 16, d, sizeof d);
  g_assert_cmpuint(b->len, ==, 64);
  for (gsize len = 0; len <= b->len; len++) {
    guint8 *copy = g_memdup2(b->data, MAX(len, 1));
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gint16 *s = wav_parse(copy, len, "cut.wav", &n, &error);
    if (len < 44) {
      g_assert_null(s);
      g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    } else {
      g_assert_no_error(error);
      g_assert_cmpuint(n, ==, (len - 44) / 2);
    }
    g_free(s);
    g_free(copy);
  }
}

/* Random corruption of a valid file: any answer but a crash (ASan/UBSan in the sanitizer
 * build). */
static void test_noise(void)
{
  guint8 d[64];
  for (int i = 0; i < 64; i++)
    d[i] = (guint8)(i * 37);
  g_autoptr(GByteArray) b = simple_wav(1, 1, 8000, 16, d, sizeof d);
  g_autoptr(GRand) rnd = g_rand_new_with_seed(7);
  guint ok = 0;
  for (int round = 0; round < 20000; round++) {
    gsize len = (gsize)g_rand_int_range(rnd, 0, (gint32)b->len + 1);
    guint8 *copy = g_memdup2(b->data, MAX(len, 1));
    int flips = g_rand_int_range(rnd, 1, 4);
    for (int k = 0; k < flips && len > 0; k++)
      copy[g_rand_int_range(rnd, 0, (gint32)len)] = (guint8)g_rand_int(rnd);
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gint16 *s = wav_parse(copy, len, "noise.wav", &n, &error);
    if (s != NULL) {
      g_assert_no_error(error);
      g_assert_cmpuint(n, <=, len);
      ok++;
    } else {
      g_assert_nonnull(error);
    }
    g_free(s);
    g_free(copy);
  }
  g_test_message("%u of 20000 corrupted files still parsed", ok);
}

static void test_file_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  g_autofree char *missing = g_build_filename(f->dir, "missing.wav", NULL);
  g_assert_null(wav_read(missing, &n, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull(strstr(error->message, "missing.wav"));
  g_clear_error(&error);

  g_assert_null(wav_read(f->dir, &n, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_clear_error(&error);

  g_autofree char *text = g_build_filename(f->dir, "notes.wav", NULL);
  g_assert_true(g_file_set_contents(text, "hello, this is not audio", -1, NULL));
  g_assert_null(wav_read(text, &n, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_true(g_str_has_prefix(error->message, text));
  g_clear_error(&error);

  g_autofree char *nodir = g_build_filename(f->dir, "no", "such", "dir.wav", NULL);
  g_assert_null(wav_writer_open(nodir, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/wav/round-trip", Fixture, NULL, fixture_setup, test_round_trip, fixture_teardown);
  g_test_add("/wav/valid-while-writing", Fixture, NULL, fixture_setup, test_valid_while_writing,
             fixture_teardown);
  g_test_add_func("/wav/g711-and-extensible", test_g711_and_extensible);
  g_test_add_func("/wav/unsupported", test_unsupported);
  g_test_add_func("/wav/malformed", test_malformed);
  g_test_add_func("/wav/truncations", test_truncations);
  g_test_add_func("/wav/noise", test_noise);
  g_test_add("/wav/file-errors", Fixture, NULL, fixture_setup, test_file_errors, fixture_teardown);
  return g_test_run();
}
