/* Logging for the daemons and tools: one line per event, "time level program: message", to
 * stderr (journald picks it up under systemd). Levels error < warning < info < debug. Messages
 * never carry secrets: there is deliberately no helper that formats a MikeySecret, and
 * log_hex() refuses more than 64 bytes so a key cannot be dumped by accident through it. */
#pragma once

#include <glib.h>

typedef enum {
  LOG_LEVEL_ERROR = 0,
  LOG_LEVEL_WARNING = 1,
  LOG_LEVEL_INFO = 2,
  LOG_LEVEL_DEBUG = 3,
} LogLevel;

/* Sets the program name and level ("error", "warning", "info", "debug"); FALSE with error on an
 * unknown name. Also routes GLib's g_warning()/g_message() through the same output. */
gboolean log_init(const char *program, const char *level, GError **error);
gboolean log_set_level_name(const char *level, GError **error);
LogLevel log_get_level(void);

void log_write(LogLevel level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_write(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Hex of public bytes (PSK IDs, SPIs, fingerprints) for log lines; at most 64 bytes shown.
 * Free with g_free. */
char *log_hex(GBytes *bytes);
