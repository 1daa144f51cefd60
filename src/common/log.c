/* Logging: "2026-11-22T09:00:00.123Z info mikeykmsd: message" lines on stderr. Media workers
 * log too, so the level is atomic and each line goes out in one stdio call (stdio locks the
 * stream per call, so lines of two threads never interleave). Control characters in a message
 * are escaped: text from peers (URIs, reasons) cannot forge extra log lines. */
#include "log.h"

#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_HEX_MAX 64

static gint log_level = LOG_LEVEL_INFO;
static char log_program[64] = "mikeyconf";
static gboolean glib_routed = FALSE;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

LogLevel log_get_level(void)
{
  return (LogLevel)g_atomic_int_get(&log_level);
}

gboolean log_set_level_name(const char *level, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS(level_names); i++) {
    if (level != NULL && g_ascii_strcasecmp(level, level_names[i]) == 0) {
      g_atomic_int_set(&log_level, (gint)i);
      return TRUE;
    }
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
              "unknown log level '%s' (error, warning, info or debug)",
              level != NULL ? level : "(null)");
  return FALSE;
}

/* Appends msg with control characters escaped (\n, \r, \t, \xNN). */
static void append_escaped(GString *line, const char *msg)
{
  for (const guchar *p = (const guchar *)msg; *p; p++) {
    switch (*p) {
    case '\n':
      g_string_append(line, "\\n");
      break;
    case '\r':
      g_string_append(line, "\\r");
      break;
    case '\t':
      g_string_append(line, "\\t");
      break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf(line, "\\x%02x", *p);
      else
        g_string_append_c(line, (char)*p);
    }
  }
}

static void emit(LogLevel level, const char *domain, const char *msg)
{
  gint64 now = g_get_real_time();
  time_t secs = (time_t)(now / G_USEC_PER_SEC);
  int millis = (int)((now % G_USEC_PER_SEC) / 1000);
  struct tm tm;
  char stamp[32] = "";
  if (gmtime_r(&secs, &tm) != NULL)
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  GString *line = g_string_sized_new(128);
  g_string_append_printf(line, "%s.%03dZ %s %s: ", stamp, millis, level_names[level], log_program);
  if (domain != NULL && domain[0] != '\0') {
    append_escaped(line, domain);
    g_string_append(line, ": ");
  }
  append_escaped(line, msg != NULL ? msg : "(null)");
  g_string_append_c(line, '\n');
  fwrite(line->str, 1, line->len, stderr);
  fflush(stderr);
  g_string_free(line, TRUE);
}

void log_write(LogLevel level, const char *fmt, ...)
{
  if ((gint)level > g_atomic_int_get(&log_level))
    return;
  if ((guint)level >= G_N_ELEMENTS(level_names))
    level = LOG_LEVEL_DEBUG;
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  emit(level, NULL, msg);
}

char *log_hex(GBytes *bytes)
{
  if (bytes == NULL)
    return g_strdup("(none)");
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  gsize shown = MIN(len, LOG_HEX_MAX);
  GString *s = g_string_sized_new(2 * shown + 32);
  for (gsize i = 0; i < shown; i++)
    g_string_append_printf(s, "%02x", data[i]);
  if (len > shown)
    g_string_append_printf(s, "...(%" G_GSIZE_FORMAT " bytes)", len);
  return g_string_free(s, FALSE);
}

static LogLevel level_from_glib(GLogLevelFlags flags)
{
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return LOG_LEVEL_ERROR;
  if (flags & G_LOG_LEVEL_WARNING)
    return LOG_LEVEL_WARNING;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return LOG_LEVEL_INFO;
  return LOG_LEVEL_DEBUG;
}

static void glib_handler(const char *domain, GLogLevelFlags flags, const char *message,
                         gpointer user_data)
{
  LogLevel level = level_from_glib(flags);
  if ((gint)level > g_atomic_int_get(&log_level))
    return;
  emit(level, domain, message);
}

static GLogWriterOutput glib_writer(GLogLevelFlags flags, const GLogField *fields, gsize n_fields,
                                    gpointer user_data)
{
  LogLevel level = level_from_glib(flags);
  if ((gint)level > g_atomic_int_get(&log_level))
    return G_LOG_WRITER_HANDLED;
  const char *domain = NULL, *message = NULL;
  for (gsize i = 0; i < n_fields; i++) {
    if (fields[i].length != -1)
      continue; /* binary field: not ours to print */
    if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;
    else if (strcmp(fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
  }
  emit(level, domain, message);
  return G_LOG_WRITER_HANDLED;
}

gboolean log_init(const char *program, const char *level, GError **error)
{
  if (level != NULL && !log_set_level_name(level, error))
    return FALSE;
  if (program != NULL) {
    const char *base = strrchr(program, '/');
    g_strlcpy(log_program, base != NULL ? base + 1 : program, sizeof log_program);
  }
  if (!glib_routed) {
    /* GLib allows one writer per process: install it once, whatever log_init is called for. */
    glib_routed = TRUE;
    g_log_set_default_handler(glib_handler, NULL);
    g_log_set_writer_func(glib_writer, NULL, NULL);
  }
  return TRUE;
}
