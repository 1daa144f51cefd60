/* WAV files for the user agent: reading audio to send, writing recordings.
 *
 * Reading accepts mono 8000 Hz 16-bit PCM, µ-law or A-law (WAVE_FORMAT_PCM, _MULAW, _ALAW or
 * WAVE_FORMAT_EXTENSIBLE with one of those sub-formats) and gives 16-bit samples. Anything else
 * is refused with a GError naming the file and the format found. The chunk walk is
 * bounds-checked: a malformed file is an error, never a crash. A data chunk that claims more
 * bytes than the file holds (a recording cut short, a streaming writer's 0xFFFFFFFF) gives the
 * whole samples present.
 *
 * Writing produces mono 8000 Hz 16-bit PCM. The header is valid from the moment the file is
 * opened and its sizes are brought up to date every WAV_UPDATE_SAMPLES samples and on close,
 * so a recording whose process is killed is still a valid file (missing at most the last
 * second). */
#pragma once

#include <glib.h>

#define WAV_RATE 8000
#define WAV_MAX_FILE_SIZE (256u << 20) /* 256 MiB read limit, about 4.6 h of 16-bit 8 kHz */
#define WAV_UPDATE_SAMPLES 8000        /* header sizes rewritten every second of audio */

/* Reads path; returns n_samples 16-bit samples (g_free them) or NULL with error (G_FILE_ERROR
 * for I/O, G_IO_ERROR_INVALID_DATA for a malformed file, G_IO_ERROR_NOT_SUPPORTED for a valid
 * but unsupported format). An empty data chunk gives a non-NULL buffer and 0 samples. */
gint16 *wav_read(const char *path, gsize *n_samples, GError **error);
/* The same on bytes in memory; name is used in error messages. */
gint16 *wav_parse(const guint8 *data, gsize len, const char *name, gsize *n_samples,
                  GError **error);

typedef struct WavWriter WavWriter;

/* Creates (or truncates) path and writes a header for an empty recording. */
WavWriter *wav_writer_open(const char *path, GError **error);
/* Appends n samples. Refuses (G_IO_ERROR_NO_SPACE) to grow past the 4 GiB WAV limit. */
gboolean wav_writer_write(WavWriter *w, const gint16 *samples, gsize n, GError **error);
/* Samples written so far. */
guint64 wav_writer_samples(const WavWriter *w);
/* Fixes the header up, closes the file and frees w (also on error). */
gboolean wav_writer_close(WavWriter *w, GError **error);
/* wav_writer_close without the error, for g_autoptr. */
void wav_writer_free(WavWriter *w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WavWriter, wav_writer_free)
