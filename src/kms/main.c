/* mikeykmsd: the mikeyconf Key Management Server. Global options come from one table
 * (kmsconf.h) for the command line and [mikeykmsd] in mikeykmsd.conf; then a subcommand: none or
 * `serve` runs the daemon, the others (init, user, tpk, tickets) are admin.c's. */
#include "admin.h"
#include "engine.h"
#include "kmsconf.h"
#include "metrics.h"
#include "server.h"
#include "store.h"

#include "common/conf.h"
#include "common/log.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "mikeykmsd"
#define DEFAULT_CONFIG "/etc/mikeyconf/mikeykmsd.conf"
#define STOP_TIMEOUT_MS 5000

/* GnuTLS (glib-networking's backend) priority: its defaults plus %COMPAT, without TLS 1.0/1.1,
 * SSL 3.0 and DTLS. glib-networking reads G_TLS_GNUTLS_PRIORITY once, when it first makes a TLS
 * connection; an operator's own setting wins. */
#define TLS_PRIORITY "NORMAL:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS-ALL"

/* The second part of --help: the subcommands (the same text as mikeykmsd(8)). */
static const char SUBCOMMANDS[] =
    "Subcommands (global options go before the subcommand, its own options after it):\n"
    "  serve                 run the KMS (also without a subcommand)\n"
    "  init [--name NAME]...\n"
    "                        create the state directory, KEK, first TPK, and a local CA with a\n"
    "                        server certificate for the NAMEs (DNS names or IP addresses)\n"
    "  user add URI [--may-create] [--focus] [--resolves-for PATTERN]... [--out FILE]\n"
    "               [--force]\n"
    "                        add a user and write its credential file\n"
    "  user list [--json]    list the users\n"
    "  user show URI [--json]\n"
    "                        show one user\n"
    "  user set URI [--may-create|--no-may-create] [--resolves-for PATTERN]...\n"
    "               [--no-resolves-for]\n"
    "                        change what a user may do\n"
    "  user disable URI, user enable URI, user remove URI\n"
    "  tpk rotate            start a new ticket protection key generation\n"
    "  tpk list [--json]     list the TPK generations\n"
    "  tickets [--user URI] [--limit N] [--json]\n"
    "                        the issued-ticket log\n"
    "See mikeykmsd(8) and mikeykmsd.conf(5).";

typedef struct {
  KmsConfig *cfg;
  const ConfOption *options;
  char *config_path;
  GMainLoop *loop;
  KmsStore *store;
  KmsMetrics *metrics;
  KmsEngine *engine;
  KmsServer *server;
  gboolean stopping;
} Daemon;

static void on_stopped(KmsServer *server, gpointer user_data)
{
  Daemon *d = user_data;
  g_main_loop_quit(d->loop);
}

static gboolean on_sigterm(gpointer user_data)
{
  Daemon *d = user_data;
  if (!d->stopping) {
    d->stopping = TRUE;
    log_info("stopping: finishing %u request(s) in flight", kms_server_in_flight(d->server));
    kms_server_stop(d->server, STOP_TIMEOUT_MS, on_stopped, d);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr(GError) error = NULL;
  if (d->config_path) {
    if (!conf_reload(d->options, PROGRAM, d->config_path, &error) ||
        !kms_config_finish(d->cfg, &error)) {
      log_error("reload of %s failed, settings unchanged: %s", d->config_path, error->message);
      return G_SOURCE_CONTINUE;
    }
    if (!log_set_level_name(d->cfg->log_level, &error)) {
      log_warning("reload: %s", error->message);
      g_clear_error(&error);
    }
    kms_engine_set_config(d->engine, d->cfg);
  }
  if (!kms_server_reload(d->server, d->cfg, &error)) {
    log_error("reload: %s; the previous certificate stays in use", error->message);
    return G_SOURCE_CONTINUE;
  }
  log_info("reloaded %s", d->config_path ? d->config_path : "the TLS certificate (no config file)");
  return G_SOURCE_CONTINUE;
}

static int serve(KmsConfig *cfg, const ConfOption *options, const char *config_path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  Daemon d = { 0 };
  d.cfg = cfg;
  d.options = options;
  d.config_path = g_strdup(config_path);
  int status = 1;

  if (!g_getenv("G_TLS_GNUTLS_PRIORITY"))
    g_setenv("G_TLS_GNUTLS_PRIORITY", TLS_PRIORITY, TRUE);

  d.store = kms_store_open(cfg->state_dir, FALSE, &error);
  if (!d.store) {
    log_error("%s", error->message);
    goto out;
  }
  d.metrics = kms_metrics_new();
  d.engine = kms_engine_new(d.store, cfg, d.metrics);
  d.server = kms_server_new(cfg, d.store, d.engine, d.metrics, &error);
  if (!d.server) {
    log_error("%s", error->message);
    goto out;
  }
  url = kms_server_get_url(d.server);
  if (cfg->insecure_http) {
    log_warning("INSECURE: serving plain HTTP without TLS on %s: anyone on this host can read "
                "the traffic; for tests and demos only (profile 3)",
                url);
  }
  log_info("listening on %s (kms-uri %s, state %s%s%s)", url, cfg->kms_uri, cfg->state_dir,
           config_path ? ", config " : "", config_path ? config_path : "");

  d.loop = g_main_loop_new(NULL, FALSE);
  guint term_id = g_unix_signal_add(SIGTERM, on_sigterm, &d);
  guint int_id = g_unix_signal_add(SIGINT, on_sigterm, &d);
  guint hup_id = g_unix_signal_add(SIGHUP, on_sighup, &d);
  g_main_loop_run(d.loop);
  g_source_remove(term_id);
  g_source_remove(int_id);
  g_source_remove(hup_id);
  log_info("stopped");
  status = 0;

out:
  kms_server_free(d.server);
  kms_engine_free(d.engine);
  kms_metrics_free(d.metrics);
  if (d.store && !kms_store_flush(d.store, &error)) {
    log_error("%s", error->message);
    status = 1;
  }
  kms_store_free(d.store);
  if (d.loop)
    g_main_loop_unref(d.loop);
  g_free(d.config_path);
  return status;
}

/* Where the global options end: the index of the first word that is neither an option nor an
 * option's value (the subcommand), or argc. Computed from the option table so that a
 * subcommand's own options (user add URI --may-create) never reach the global parser. */
static int global_options_end(const ConfOption *options, int argc, char **argv)
{
  int i = 1;
  while (i < argc) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0)
      return i;
    if (a[0] != '-' || a[1] == '\0')
      return i;
    gboolean takes_value = FALSE;
    if (a[1] == '-') {
      const char *name = a + 2;
      if (strchr(name, '=') == NULL) {
        if (strcmp(name, "config") == 0)
          takes_value = TRUE;
        for (const ConfOption *o = options; o->name; o++)
          if (strcmp(o->name, name) == 0)
            takes_value = o->type != CONF_BOOL;
      }
    } else {
      /* -p 8443, -p8443, or a cluster of flags */
      for (const ConfOption *o = options; o->name; o++)
        if (o->short_name == a[1] && o->type != CONF_BOOL && a[2] == '\0')
          takes_value = TRUE;
    }
    i += takes_value ? 2 : 1;
  }
  return argc;
}

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  KmsConfig cfg;
  kms_config_init_defaults(&cfg);
  if (!log_init(PROGRAM, cfg.log_level, &error)) {
    g_printerr("%s: %s\n", PROGRAM, error->message);
    return 1;
  }
  const ConfOption *options = kms_config_options(&cfg);

  /* Global options: argv[0 .. end) go to conf_parse, the subcommand and its words stay. */
  int end = global_options_end(options, argc, argv);
  int gargc = end;
  g_autofree char **gargv_mem = g_new0(char *, end + 1);
  memcpy(gargv_mem, argv, sizeof(char *) * (gsize)end);
  char **gargv = gargv_mem;
  g_autofree char *summary =
      g_strdup_printf("The mikeyconf Key Management Server.\n\n%s", SUBCOMMANDS);
  g_autofree char *config_path = NULL;
  if (!conf_parse(options, PROGRAM, summary, DEFAULT_CONFIG, PROGRAM " " PACKAGE_VERSION, &gargc,
                  &gargv, &config_path, &error) ||
      !kms_config_finish(&cfg, &error) || !log_set_level_name(cfg.log_level, &error)) {
    g_printerr("%s: %s\n", PROGRAM, error->message);
    kms_config_clear(&cfg);
    return 2;
  }
  if (gargc > 1) {
    /* not reached: conf_parse consumes options only */
    g_printerr("%s: unexpected argument '%s'\n", PROGRAM, gargv[1]);
    kms_config_clear(&cfg);
    return 2;
  }
  int sub_argc = argc - end;
  char **sub_argv = argv + end;
  if (sub_argc > 0 && strcmp(sub_argv[0], "--") == 0) {
    sub_argc--;
    sub_argv++;
  }

  int status;
  if (sub_argc == 0 || strcmp(sub_argv[0], "serve") == 0) {
    if (sub_argc > 1) {
      g_printerr("%s: serve takes no arguments (got '%s')\n", PROGRAM, sub_argv[1]);
      status = 2;
    } else {
      status = serve(&cfg, options, config_path);
    }
  } else if (kms_admin_is_command(sub_argv[0])) {
    status = kms_admin_run(sub_argc, sub_argv, &cfg);
  } else {
    g_printerr("%s: unknown subcommand '%s' (see %s --help)\n", PROGRAM, sub_argv[0], PROGRAM);
    status = 2;
  }
  kms_config_clear(&cfg);
  return status;
}
