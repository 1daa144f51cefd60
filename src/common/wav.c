/* WAV (RIFF/WAVE) reading and writing; see wav.h. */
#include "wav.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "g711.h"

#define WAV_TAG_PCM 0x0001
#define WAV_TAG_FLOAT 0x0003
#define WAV_TAG_ALAW 0x0006
#define WAV_TAG_MULAW 0x0007
#define WAV_TAG_EXTENSIBLE 0xFFFE
#define WAV_HEADER_LEN 44
#define WAV_MAX_DATA (G_MAXUINT32 - (WAV_HEADER_LEN - 8))

/* The 14 bytes after the format tag in a KSDATAFORMAT_SUBTYPE_* GUID. */
static const guint8 wav_guid_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                          0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };

static inline guint16 le16(const guint8 *p)
{
  return (guint16)(p[0] | p[1] << 8);
}

static inline guint32 le32(const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static inline void put16(guint8 *p, guint16 v)
{
  p[0] = (guint8)v;
  p[1] = (guint8)(v >> 8);
}

static inline void put32(guint8 *p, guint32 v)
{
  p[0] = (guint8)v;
  p[1] = (guint8)(v >> 8);
  p[2] = (guint8)(v >> 16);
  p[3] = (guint8)(v >> 24);
}

/* ------------------------------------------------------------------ reading */

typedef struct {
  guint16 tag; /* the sub-format for WAVE_FORMAT_EXTENSIBLE */
  guint16 channels;
  guint32 rate;
  guint16 block_align;
  guint16 bits;
} WavFmt;

static gboolean fail(GError **error, int code, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean fail(GError **error, int code, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, G_IO_ERROR, code, "%s: %s", name, msg);
  return FALSE;
}

/* A chunk id fit for a message: printable ASCII, others as '?'. */
static void chunk_name(const guint8 *id, char out[5])
{
  for (int i = 0; i < 4; i++)
    out[i] = (id[i] >= 0x20 && id[i] < 0x7f) ? (char)id[i] : '?';
  out[4] = '\0';
}

static char *fmt_describe(const WavFmt *f)
{
  g_autofree char *coding = NULL;
  switch (f->tag) {
  case WAV_TAG_PCM:
    coding = g_strdup_printf("%u-bit PCM", f->bits);
    break;
  case WAV_TAG_FLOAT:
    coding = g_strdup_printf("%u-bit IEEE float", f->bits);
    break;
  case WAV_TAG_MULAW:
    coding = g_strdup_printf("%u-bit µ-law", f->bits);
    break;
  case WAV_TAG_ALAW:
    coding = g_strdup_printf("%u-bit A-law", f->bits);
    break;
  default:
    coding = g_strdup_printf("format 0x%04x (%u-bit)", f->tag, f->bits);
    break;
  }
  g_autofree char *chans = f->channels == 1   ? g_strdup("mono")
                           : f->channels == 2 ? g_strdup("stereo")
                                              : g_strdup_printf("%u channels", f->channels);
  return g_strdup_printf("%s, %s, %u Hz", coding, chans, f->rate);
}

static gboolean fmt_parse(const guint8 *p, guint32 size, const char *name, WavFmt *f,
                          GError **error)
{
  if (size < 16)
    return fail(error, G_IO_ERROR_INVALID_DATA, name, "fmt chunk of %u bytes (at least 16)", size);
  f->tag = le16(p);
  f->channels = le16(p + 2);
  f->rate = le32(p + 4);
  f->block_align = le16(p + 12);
  f->bits = le16(p + 14);
  if (f->tag == WAV_TAG_EXTENSIBLE) {
    if (size < 40 || le16(p + 16) < 22)
      return fail(error, G_IO_ERROR_INVALID_DATA, name,
                  "WAVE_FORMAT_EXTENSIBLE fmt chunk of %u bytes (needs 40)", size);
    if (memcmp(p + 26, wav_guid_tail, sizeof wav_guid_tail) != 0)
      return fail(error, G_IO_ERROR_NOT_SUPPORTED, name,
                  "unsupported WAV format: WAVE_FORMAT_EXTENSIBLE with a non-standard "
                  "sub-format GUID");
    f->tag = le16(p + 24);
  }
  if (f->channels == 0 || f->bits == 0 || f->bits % 8 != 0 ||
      f->block_align != f->channels * (f->bits / 8))
    return fail(error, G_IO_ERROR_INVALID_DATA, name,
                "inconsistent fmt chunk: %u channels, %u bits per sample, block align %u",
                f->channels, f->bits, f->block_align);
  gboolean coding_ok = (f->tag == WAV_TAG_PCM && f->bits == 16) ||
                       ((f->tag == WAV_TAG_MULAW || f->tag == WAV_TAG_ALAW) && f->bits == 8);
  if (!coding_ok || f->channels != 1 || f->rate != WAV_RATE) {
    g_autofree char *found = fmt_describe(f);
    return fail(error, G_IO_ERROR_NOT_SUPPORTED, name,
                "unsupported WAV format: %s (supported: mono %u Hz 16-bit PCM, µ-law or A-law)",
                found, WAV_RATE);
  }
  return TRUE;
}

gint16 *wav_parse(const guint8 *data, gsize len, const char *name, gsize *n_samples, GError **error)
{
  if (len < 12 || memcmp(data, "RIFF", 4) != 0 || memcmp(data + 8, "WAVE", 4) != 0) {
    if (len >= 4 && memcmp(data, "RIFX", 4) == 0)
      fail(error, G_IO_ERROR_NOT_SUPPORTED, name, "unsupported WAV format: big-endian RIFX file");
    else
      fail(error, G_IO_ERROR_INVALID_DATA, name, "not a WAV file (no RIFF/WAVE header)");
    return NULL;
  }
  /* Chunks end at the RIFF size or the end of the file, whichever comes first. */
  gsize end = len;
  guint64 riff_end = 8 + (guint64)le32(data + 4);
  if (riff_end >= 12 && riff_end < end)
    end = (gsize)riff_end;

  WavFmt f = { 0 };
  gboolean have_fmt = FALSE;
  const guint8 *body = NULL;
  gsize body_len = 0;
  gsize pos = 12;
  while (end - pos >= 8) {
    const guint8 *id = data + pos;
    guint32 size = le32(data + pos + 4);
    gsize avail = end - (pos + 8);
    char cname[5];
    chunk_name(id, cname);
    if (memcmp(id, "fmt ", 4) == 0) {
      if (have_fmt) {
        fail(error, G_IO_ERROR_INVALID_DATA, name, "two fmt chunks");
        return NULL;
      }
      if (size > avail) {
        fail(error, G_IO_ERROR_INVALID_DATA, name,
             "fmt chunk of %u bytes runs past the end of the file", size);
        return NULL;
      }
      if (!fmt_parse(id + 8, size, name, &f, error))
        return NULL;
      have_fmt = TRUE;
    } else if (memcmp(id, "data", 4) == 0) {
      if (!have_fmt) {
        fail(error, G_IO_ERROR_INVALID_DATA, name, "data chunk before the fmt chunk");
        return NULL;
      }
      body = id + 8;
      body_len = MIN((gsize)size, avail); /* cut short: take what is there */
      break;
    } else if (size > avail) {
      fail(error, G_IO_ERROR_INVALID_DATA, name,
           "chunk '%s' of %u bytes runs past the end of the file", cname, size);
      return NULL;
    }
    /* Chunks are padded to an even length; the pad may be missing at the very end. */
    guint64 next = (guint64)pos + 8 + size + (size & 1);
    if (next >= end)
      break;
    pos = (gsize)next;
  }
  if (!have_fmt) {
    fail(error, G_IO_ERROR_INVALID_DATA, name, "no fmt chunk");
    return NULL;
  }
  if (body == NULL) {
    fail(error, G_IO_ERROR_INVALID_DATA, name, "no data chunk");
    return NULL;
  }

  gsize n = body_len / f.block_align;
  gint16 *out = g_new(gint16, MAX(n, 1));
  switch (f.tag) {
  case WAV_TAG_PCM:
    for (gsize i = 0; i < n; i++)
      out[i] = (gint16)le16(body + 2 * i);
    break;
  case WAV_TAG_MULAW:
    g711_ulaw_decode_block(body, out, n);
    break;
  default: /* WAV_TAG_ALAW, the only other one fmt_parse lets through */
    g711_alaw_decode_block(body, out, n);
    break;
  }
  *n_samples = n;
  return out;
}

static gboolean fail_errno(GError **error, int err, const char *what, const char *path)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s: %s", path, what,
              g_strerror(err));
  return FALSE;
}

gint16 *wav_read(const char *path, gsize *n_samples, GError **error)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail_errno(error, errno, "cannot open", path);
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail_errno(error, errno, "cannot stat", path);
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((guint64)st.st_size > WAV_MAX_FILE_SIZE) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "%s: %" G_GUINT64_FORMAT " bytes, more than the %u MiB a WAV file may have here",
                path, (guint64)st.st_size, WAV_MAX_FILE_SIZE >> 20);
    close(fd);
    return NULL;
  }
  gsize cap = (gsize)st.st_size, len = 0;
  g_autofree guint8 *buf = g_malloc(MAX(cap, 1));
  while (len < cap) {
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      fail_errno(error, errno, "read error", path);
      close(fd);
      return NULL;
    }
    if (r == 0)
      break; /* shrank while reading: parse what we have */
    len += (gsize)r;
  }
  close(fd);
  return wav_parse(buf, len, path, n_samples, error);
}

/* ------------------------------------------------------------------ writing */

struct WavWriter {
  int fd;
  char *path;
  guint64 samples;
  guint64 samples_in_header;
};

static gboolean write_all(int fd, const guint8 *p, gsize n)
{
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return FALSE;
    p += r;
    n -= (gsize)r;
  }
  return TRUE;
}

static gboolean pwrite_all(int fd, const guint8 *p, gsize n, off_t off)
{
  while (n > 0) {
    ssize_t r = pwrite(fd, p, n, off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return FALSE;
    p += r;
    n -= (gsize)r;
    off += r;
  }
  return TRUE;
}

static void header_build(guint8 h[WAV_HEADER_LEN], guint32 data_bytes)
{
  memcpy(h, "RIFF", 4);
  put32(h + 4, data_bytes + (WAV_HEADER_LEN - 8));
  memcpy(h + 8, "WAVEfmt ", 8);
  put32(h + 16, 16);
  put16(h + 20, WAV_TAG_PCM);
  put16(h + 22, 1);
  put32(h + 24, WAV_RATE);
  put32(h + 28, WAV_RATE * 2);
  put16(h + 32, 2);
  put16(h + 34, 16);
  memcpy(h + 36, "data", 4);
  put32(h + 40, data_bytes);
}

/* Rewrites the two size fields for the samples written so far. */
static gboolean header_update(WavWriter *w, GError **error)
{
  guint8 h[WAV_HEADER_LEN];
  header_build(h, (guint32)(w->samples * 2));
  if (!pwrite_all(w->fd, h + 4, 4, 4) || !pwrite_all(w->fd, h + 40, 4, 40))
    return fail_errno(error, errno, "cannot update the WAV header", w->path);
  w->samples_in_header = w->samples;
  return TRUE;
}

WavWriter *wav_writer_open(const char *path, GError **error)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail_errno(error, errno, "cannot create", path);
    return NULL;
  }
  guint8 h[WAV_HEADER_LEN];
  header_build(h, 0);
  if (!write_all(fd, h, sizeof h)) {
    fail_errno(error, errno, "write error", path);
    close(fd);
    return NULL;
  }
  WavWriter *w = g_new0(WavWriter, 1);
  w->fd = fd;
  w->path = g_strdup(path);
  return w;
}

gboolean wav_writer_write(WavWriter *w, const gint16 *samples, gsize n, GError **error)
{
  if (n > (WAV_MAX_DATA / 2) - w->samples) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                "%s: a WAV file holds at most 4 GiB of samples", w->path);
    return FALSE;
  }
  guint8 buf[2048];
  gsize done = 0;
  while (done < n) {
    gsize k = MIN(n - done, sizeof buf / 2);
    for (gsize i = 0; i < k; i++)
      put16(buf + 2 * i, (guint16)samples[done + i]);
    if (!write_all(w->fd, buf, 2 * k))
      return fail_errno(error, errno, "write error", w->path);
    done += k;
    w->samples += k;
  }
  if (w->samples - w->samples_in_header >= WAV_UPDATE_SAMPLES)
    return header_update(w, error);
  return TRUE;
}

guint64 wav_writer_samples(const WavWriter *w)
{
  return w->samples;
}

gboolean wav_writer_close(WavWriter *w, GError **error)
{
  if (w == NULL)
    return TRUE;
  gboolean ok = header_update(w, error);
  if (close(w->fd) != 0 && ok)
    ok = fail_errno(error, errno, "close failed", w->path);
  g_free(w->path);
  g_free(w);
  return ok;
}

void wav_writer_free(WavWriter *w)
{
  wav_writer_close(w, NULL);
}
