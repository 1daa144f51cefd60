/* mikeyconfd: the mikeyconf conference factory and focus (mikeyconfd(8)). Options come from
 * one table (focusconf.h) for the command line and [mikeyconfd] in mikeyconfd.conf; the daemon
 * is focus.c. SIGTERM/SIGINT: BYE every leg, then exit 0 (every record is committed as it is
 * made). SIGHUP: reload the config file. */
#include "focus.h"

#include "common/log.h"
#include "common/srtpctx.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>

#define PROGRAM "mikeyconfd"
#define STOP_TIMEOUT_MS 3000

/* GnuTLS (glib-networking's backend) for the KMS client: no TLS 1.0/1.1, no SSL 3.0. An
 * operator's own setting wins. */
#define TLS_PRIORITY "NORMAL:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS-ALL"

typedef struct {
  Focus *focus;
  GMainLoop *loop;
  gboolean stopping;
} Daemon;

static gboolean on_stopped(gpointer data)
{
  Daemon *d = data;
  g_main_loop_quit(d->loop);
  return G_SOURCE_REMOVE;
}

static gboolean on_sigterm(gpointer data)
{
  Daemon *d = data;
  if (d->stopping) {
    log_warning("second signal: stopping now");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
  }
  d->stopping = TRUE;
  focus_stop(d->focus, STOP_TIMEOUT_MS, on_stopped, d);
  return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer data)
{
  Daemon *d = data;
  g_autoptr(GError) error = NULL;
  if (!focus_reload(d->focus, &error))
    log_error("reload failed, settings unchanged where they could not be read: %s", error->message);
  return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  FocusConfig cfg;
  focus_config_init_defaults(&cfg);
  if (!log_init(PROGRAM, cfg.log_level, &error)) {
    g_printerr("%s: %s\n", PROGRAM, error->message);
    return 1;
  }
  const ConfOption *options = focus_config_options(&cfg);
  g_autofree char *config_path = NULL;
  if (!conf_parse(options, PROGRAM,
                  "The mikeyconf conference factory and focus. See mikeyconfd(8) and "
                  "mikeyconfd.conf(5).",
                  FOCUS_DEFAULT_CONFIG, PROGRAM " " PACKAGE_VERSION, &argc, &argv, &config_path,
                  &error) ||
      !focus_config_finish(&cfg, &error) || !log_set_level_name(cfg.log_level, &error)) {
    g_printerr("%s: %s\n", PROGRAM, error->message);
    focus_config_clear(&cfg);
    return 2;
  }
  if (argc > 1) {
    g_printerr("%s: unexpected argument '%s' (see %s --help)\n", PROGRAM, argv[1], PROGRAM);
    focus_config_clear(&cfg);
    return 2;
  }
  if (!g_getenv("G_TLS_GNUTLS_PRIORITY"))
    g_setenv("G_TLS_GNUTLS_PRIORITY", TLS_PRIORITY, TRUE);
  signal(SIGPIPE, SIG_IGN);
  if (!srtpctx_global_init(&error)) {
    log_error("%s", error->message);
    focus_config_clear(&cfg);
    return 1;
  }

  Daemon d = { 0 };
  d.focus = focus_new(&cfg, options, config_path, &error);
  if (!d.focus) {
    log_error("%s", error->message);
    focus_config_clear(&cfg);
    return 1;
  }
  log_info("started%s%s, SRTP crypto: %s", config_path ? ", config " : "",
           config_path ? config_path : "", srtpctx_crypto_name());
  d.loop = g_main_loop_new(NULL, FALSE);
  guint term_id = g_unix_signal_add(SIGTERM, on_sigterm, &d);
  guint int_id = g_unix_signal_add(SIGINT, on_sigterm, &d);
  guint hup_id = g_unix_signal_add(SIGHUP, on_sighup, &d);
  g_main_loop_run(d.loop);
  g_source_remove(term_id);
  g_source_remove(int_id);
  g_source_remove(hup_id);
  focus_free(d.focus);
  g_main_loop_unref(d.loop);
  focus_config_clear(&cfg);
  log_info("stopped");
  return 0;
}
