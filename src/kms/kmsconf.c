/* mikeykmsd's settings (kmsconf.h): one option table for the command line and [mikeykmsd] in
 * mikeykmsd.conf. Every name here is documented in mikeykmsd.conf(5) and mikeykmsd(8). */
#include "kmsconf.h"

#include "common/sipuri.h"

#include <string.h>

#include <gio/gio.h>

#define DEFAULT_LISTEN "127.0.0.1"
#define DEFAULT_PORT 8443
#define DEFAULT_STATE_DIR "/var/lib/mikeyconf/kms"
#define DEFAULT_KMS_URI "kms.example.org"
#define DEFAULT_SKEW 120
#define DEFAULT_TICKET_LIFETIME 3600
#define DEFAULT_MAX_RECIPIENTS 256
#define DEFAULT_RATE_LIMIT 2000
#define DEFAULT_FACTORY_URIS "sip:conference-factory@*"
#define DEFAULT_CONFERENCE_URIS "sip:conf-*@*"
#define DEFAULT_LOG_LEVEL "info"

void kms_config_init_defaults(KmsConfig *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = g_strdup(DEFAULT_LISTEN);
  cfg->port = DEFAULT_PORT;
  cfg->insecure_http = FALSE;
  cfg->state_dir = g_strdup(DEFAULT_STATE_DIR);
  cfg->kms_uri = g_strdup(DEFAULT_KMS_URI);
  cfg->skew = DEFAULT_SKEW;
  cfg->ticket_lifetime = DEFAULT_TICKET_LIFETIME;
  cfg->max_recipients = DEFAULT_MAX_RECIPIENTS;
  cfg->rate_limit = DEFAULT_RATE_LIMIT;
  const char *factory[] = { DEFAULT_FACTORY_URIS, NULL };
  const char *conference[] = { DEFAULT_CONFERENCE_URIS, NULL };
  cfg->factory_uris = g_strdupv((char **)factory);
  cfg->conference_uris = g_strdupv((char **)conference);
  cfg->log_level = g_strdup(DEFAULT_LOG_LEVEL);
}

void kms_config_clear(KmsConfig *cfg)
{
  g_clear_pointer(&cfg->listen, g_free);
  g_clear_pointer(&cfg->tls_cert, g_free);
  g_clear_pointer(&cfg->tls_key, g_free);
  g_clear_pointer(&cfg->state_dir, g_free);
  g_clear_pointer(&cfg->kms_uri, g_free);
  g_clear_pointer(&cfg->public_url, g_free);
  g_clear_pointer(&cfg->factory_uris, g_strfreev);
  g_clear_pointer(&cfg->conference_uris, g_strfreev);
  g_clear_pointer(&cfg->log_level, g_free);
}

const ConfOption *kms_config_options(KmsConfig *cfg)
{
  static ConfOption options[16];
  const ConfOption table[] = {
    { "listen", 0, CONF_STRING, &cfg->listen, "Address to listen on (default 127.0.0.1)", "ADDRESS",
      0, 0 },
    { "port", 0, CONF_INT, &cfg->port, "TCP port of the HTTP(S) endpoint (default 8443)", "PORT", 0,
      65535 },
    { "tls-cert", 0, CONF_FILENAME, &cfg->tls_cert,
      "Server certificate, PEM (default STATE-DIR/server.pem)", "FILE", 0, 0 },
    { "tls-key", 0, CONF_FILENAME, &cfg->tls_key,
      "Server private key, PEM (default STATE-DIR/server.key)", "FILE", 0, 0 },
    { "insecure-http", 0, CONF_BOOL, &cfg->insecure_http,
      "Serve plain HTTP instead of HTTPS (loopback addresses only; tests and demos)", NULL, 0, 0 },
    { "state-dir", 0, CONF_FILENAME, &cfg->state_dir,
      "State directory: database, key-encryption key, CA (default /var/lib/mikeyconf/kms)", "DIR",
      0, 0 },
    { "kms-uri", 0, CONF_STRING, &cfg->kms_uri,
      "The KMS identity (IDRkms) (default kms.example.org)", "URI", 0, 0 },
    { "public-url", 0, CONF_STRING, &cfg->public_url,
      "kms-url written into credential files (default from listen and port)", "URL", 0, 0 },
    { "skew", 0, CONF_INT, &cfg->skew, "Accepted clock skew in seconds (default 120)", "SECONDS", 1,
      3600 },
    { "ticket-lifetime", 0, CONF_INT, &cfg->ticket_lifetime,
      "Longest validity of a granted ticket in seconds (default 3600)", "SECONDS", 60, 604800 },
    { "max-recipients", 0, CONF_INT, &cfg->max_recipients,
      "Most IDRr payloads in a ticket request (default 256)", "N", 1, 4096 },
    { "rate-limit", 0, CONF_INT, &cfg->rate_limit,
      "Requests per second per source address, 0 = unlimited (default 2000)", "N", 0, 10000000 },
    { "factory-uris", 0, CONF_STRV, &cfg->factory_uris,
      "Pattern of conference factory URIs (default sip:conference-factory@*)", "PATTERN", 0, 0 },
    { "conference-uris", 0, CONF_STRV, &cfg->conference_uris,
      "Pattern of conference URIs (default sip:conf-*@*)", "PATTERN", 0, 0 },
    { "log-level", 0, CONF_STRING, &cfg->log_level, "error, warning, info or debug (default info)",
      "LEVEL", 0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 },
  };
  G_STATIC_ASSERT(G_N_ELEMENTS(table) == G_N_ELEMENTS(options));
  memcpy(options, table, sizeof options);
  return options;
}

/* profile 3: plain HTTP only on 127.0.0.0/8, ::1 or "localhost". */
static gboolean is_loopback(const char *listen)
{
  if (g_ascii_strcasecmp(listen, "localhost") == 0)
    return TRUE;
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(listen);
  return addr != NULL && g_inet_address_get_is_loopback(addr);
}

static gboolean is_wildcard(const char *listen)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(listen);
  return addr != NULL && g_inet_address_get_is_any(addr);
}

static gboolean check_patterns(const char *name, char **patterns, GError **error)
{
  if (patterns == NULL || patterns[0] == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: at least one pattern needed",
                name);
    return FALSE;
  }
  for (gsize i = 0; patterns[i] != NULL; i++) {
    g_autoptr(GError) local = NULL;
    if (!sip_uri_pattern_valid(patterns[i], &local)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: bad pattern '%s': %s", name,
                  patterns[i], local != NULL ? local->message : "invalid");
      return FALSE;
    }
  }
  return TRUE;
}

gboolean kms_config_finish(KmsConfig *cfg, GError **error)
{
  if (!conf_require("state-dir", cfg->state_dir, error))
    return FALSE;
  if (!conf_require("listen", cfg->listen, error))
    return FALSE;
  if (!conf_require("kms-uri", cfg->kms_uri, error))
    return FALSE;
  if (cfg->port < 0 || cfg->port > 65535) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "port %d is not in 0-65535",
                cfg->port);
    return FALSE;
  }
  if (cfg->insecure_http && !is_loopback(cfg->listen)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "insecure-http is only allowed on a loopback address (127.0.0.0/8, ::1, "
                "localhost), not on '%s'",
                cfg->listen);
    return FALSE;
  }
  if (!check_patterns("factory-uris", cfg->factory_uris, error) ||
      !check_patterns("conference-uris", cfg->conference_uris, error))
    return FALSE;
  const char *levels[] = { "error", "warning", "info", "debug", NULL };
  if (cfg->log_level == NULL || !g_strv_contains(levels, cfg->log_level)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "log-level '%s' is not one of error, warning, info, debug",
                cfg->log_level != NULL ? cfg->log_level : "");
    return FALSE;
  }

  if (cfg->tls_cert == NULL || cfg->tls_cert[0] == '\0') {
    g_free(cfg->tls_cert);
    cfg->tls_cert = g_build_filename(cfg->state_dir, "server.pem", NULL);
  }
  if (cfg->tls_key == NULL || cfg->tls_key[0] == '\0') {
    g_free(cfg->tls_key);
    cfg->tls_key = g_build_filename(cfg->state_dir, "server.key", NULL);
  }
  if (cfg->public_url == NULL || cfg->public_url[0] == '\0') {
    /* A wildcard address is no address to connect to: name the host instead. */
    const char *host = is_wildcard(cfg->listen) ? g_get_host_name() : cfg->listen;
    gboolean v6 = strchr(host, ':') != NULL;
    g_free(cfg->public_url);
    cfg->public_url = g_strdup_printf("%s://%s%s%s:%d/mikey", cfg->insecure_http ? "http" : "https",
                                      v6 ? "[" : "", host, v6 ? "]" : "", cfg->port);
  } else if (!g_str_has_prefix(cfg->public_url, "https://") &&
             !g_str_has_prefix(cfg->public_url, "http://")) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "public-url '%s' is not an http:// or https:// URL", cfg->public_url);
    return FALSE;
  }
  return TRUE;
}
