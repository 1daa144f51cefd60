/* mikeyconfd's settings (focusconf.h). Every name here is documented in mikeyconfd.conf(5) and
 * mikeyconfd(8); tests/integration/test-focus compares --help with the man page. */
#include "focusconf.h"

#include "focus/control.h"
#include "focus/media.h"

#include "common/sipuri.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LISTEN "127.0.0.1:5060"
#define DEFAULT_CREDENTIAL "/etc/mikeyconf/focus.cred"
#define DEFAULT_STATE_DIR "/var/lib/mikeyconf/focus"
#define DEFAULT_KMS_TIMEOUT 3
#define DEFAULT_EMPTY_TIMEOUT 300
#define DEFAULT_RATE_LIMIT 50
#define DEFAULT_MAX_RESOLVES 256
#define DEFAULT_SKEW 120
#define DEFAULT_LOG_LEVEL "info"

void focus_config_init_defaults(FocusConfig *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  const char *listen[] = { DEFAULT_LISTEN, NULL };
  cfg->sip_listen = g_strdupv((char **)listen);
  cfg->credential = g_strdup(DEFAULT_CREDENTIAL);
  cfg->kms_timeout = DEFAULT_KMS_TIMEOUT;
  cfg->state_dir = g_strdup(DEFAULT_STATE_DIR);
  cfg->control_socket = g_strdup(FOCUS_CONTROL_DEFAULT_SOCKET);
  cfg->empty_timeout = DEFAULT_EMPTY_TIMEOUT;
  cfg->rate_limit = DEFAULT_RATE_LIMIT;
  cfg->max_resolves = DEFAULT_MAX_RESOLVES;
  cfg->rtp_port_min = FOCUS_MEDIA_DEFAULT_PORT_MIN;
  cfg->rtp_port_max = FOCUS_MEDIA_DEFAULT_PORT_MAX;
  cfg->skew = DEFAULT_SKEW;
  cfg->log_level = g_strdup(DEFAULT_LOG_LEVEL);
}

static void listens_clear(FocusConfig *cfg)
{
  for (guint i = 0; i < cfg->n_listens; i++)
    g_free(cfg->listens[i].ip);
  g_clear_pointer(&cfg->listens, g_free);
  cfg->n_listens = 0;
}

void focus_config_clear(FocusConfig *cfg)
{
  g_clear_pointer(&cfg->sip_listen, g_strfreev);
  g_clear_pointer(&cfg->host, g_free);
  g_clear_pointer(&cfg->factory_uri, g_free);
  g_clear_pointer(&cfg->credential, g_free);
  g_clear_pointer(&cfg->state_dir, g_free);
  g_clear_pointer(&cfg->control_socket, g_free);
  g_clear_pointer(&cfg->creators, g_strfreev);
  g_clear_pointer(&cfg->rtp_address, g_free);
  g_clear_pointer(&cfg->tls_cert, g_free);
  g_clear_pointer(&cfg->tls_key, g_free);
  g_clear_pointer(&cfg->log_level, g_free);
  g_clear_pointer(&cfg->sdp_address, g_free);
  listens_clear(cfg);
}

const ConfOption *focus_config_options(FocusConfig *cfg)
{
  static ConfOption options[23];
  const ConfOption table[] = {
    { "sip-listen", 0, CONF_STRV, &cfg->sip_listen,
      "SIP address, UDP and TCP, repeatable (default 127.0.0.1:5060)", "IP[:PORT]", 0, 0 },
    { "host", 0, CONF_STRING, &cfg->host,
      "host[:port] of the factory and conference URIs (default: the first sip-listen address)",
      "HOST", 0, 0 },
    { "factory-uri", 0, CONF_STRING, &cfg->factory_uri,
      "The conference factory URI (default sip:conference-factory@HOST)", "URI", 0, 0 },
    { "credential", 0, CONF_FILENAME, &cfg->credential,
      "The focus credential file (default /etc/mikeyconf/focus.cred)", "FILE", 0, 0 },
    { "kms-timeout", 0, CONF_INT, &cfg->kms_timeout,
      "Seconds to wait for the KMS to resolve a ticket (default 3)", "SECONDS", 1, 60 },
    { "state-dir", 0, CONF_FILENAME, &cfg->state_dir,
      "Records and audit log (default /var/lib/mikeyconf/focus)", "DIR", 0, 0 },
    { "control-socket", 0, CONF_FILENAME, &cfg->control_socket,
      "The control socket of mikeyconfctl (default " FOCUS_CONTROL_DEFAULT_SOCKET ")", "PATH", 0,
      0 },
    { "empty-timeout", 0, CONF_INT, &cfg->empty_timeout,
      "Seconds without participants before a conference ends, 0 = never (default 300)", "SECONDS",
      0, 31536000 },
    { "allow-from-mismatch", 0, CONF_BOOL, &cfg->allow_from_mismatch,
      "Admit a participant whose From URI is not its ticket identity", NULL, 0, 0 },
    { "creators", 0, CONF_STRV, &cfg->creators,
      "Only these identities may create conferences, repeatable (default: whom the KMS allows)",
      "URI", 0, 0 },
    { "rate-limit", 0, CONF_INT, &cfg->rate_limit,
      "Factory INVITEs per second per source address, 0 = unlimited (default 50)", "N", 0,
      10000000 },
    { "max-resolves", 0, CONF_INT, &cfg->max_resolves,
      "KMS resolves in flight at most (default 256)", "N", 1, 100000 },
    { "rtp-address", 0, CONF_STRING, &cfg->rtp_address,
      "Address of the media sockets and the SDP (default: the first sip-listen address)", "IP", 0,
      0 },
    { "rtp-port-min", 0, CONF_INT, &cfg->rtp_port_min, "Lowest RTP port (default 20000)", "PORT",
      1024, 65534 },
    { "rtp-port-max", 0, CONF_INT, &cfg->rtp_port_max, "Highest RTP port (default 29999)", "PORT",
      1025, 65535 },
    { "media-workers", 0, CONF_INT, &cfg->media_workers,
      "Media worker threads, 0 = one per core (default 0)", "N", 0, FOCUS_MEDIA_MAX_WORKERS },
    { "skew", 0, CONF_INT, &cfg->skew, "Accepted clock skew in seconds (default 120)", "SECONDS", 1,
      3600 },
    { "tls-cert", 0, CONF_FILENAME, &cfg->tls_cert,
      "Certificate (PEM) for SIP over TLS (sips:) on the SIP port + 1", "FILE", 0, 0 },
    { "tls-key", 0, CONF_FILENAME, &cfg->tls_key, "Private key (PEM) of tls-cert", "FILE", 0, 0 },
    { "insecure-http", 0, CONF_BOOL, &cfg->insecure_http,
      "Accept a plain http:// kms-url in the credential (tests and demos only)", NULL, 0, 0 },
    { "log-level", 0, CONF_STRING, &cfg->log_level, "error, warning, info or debug (default info)",
      "LEVEL", 0, 0 },
    { "sip-trace", 0, CONF_BOOL, &cfg->sip_trace,
      "Log every SIP message sent and received (Sofia-SIP's TPORT_LOG)", NULL, 0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 },
  };
  G_STATIC_ASSERT(G_N_ELEMENTS(table) == G_N_ELEMENTS(options));
  memcpy(options, table, sizeof options);
  return options;
}

static gboolean parse_port(const char *text, guint *port)
{
  char *end = NULL;
  if (!text[0] || !g_ascii_isdigit(text[0]))
    return FALSE;
  guint64 v = g_ascii_strtoull(text, &end, 10);
  if (*end || v > 65535)
    return FALSE;
  *port = (guint)v;
  return TRUE;
}

gboolean focus_listen_parse(const char *text, guint default_port, FocusListen *out, GError **error)
{
  g_autofree char *ip = NULL;
  guint port = default_port;
  gboolean port_ok = TRUE;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "sip-listen '%s': no ']'", text);
      return FALSE;
    }
    ip = g_strndup(text + 1, (gsize)(close - text - 1));
    if (close[1] == ':')
      port_ok = parse_port(close + 2, &port);
    else if (close[1])
      port_ok = FALSE;
  } else {
    const char *colon = strchr(text, ':');
    if (colon && strchr(colon + 1, ':')) {
      ip = g_strdup(text); /* a bare IPv6 address */
    } else if (colon) {
      ip = g_strndup(text, (gsize)(colon - text));
      port_ok = parse_port(colon + 1, &port);
    } else {
      ip = g_strdup(text);
    }
  }
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(ip);
  if (!addr || !port_ok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "sip-listen '%s' is not IP, IP:PORT or [IPv6]:PORT (a numeric address, a port "
                "of 0-65535)",
                text);
    return FALSE;
  }
  out->ip = g_steal_pointer(&ip);
  out->port = port;
  return TRUE;
}

char *focus_listen_uri_host(const char *ip, guint port)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(ip);
  g_autofree char *host = NULL;
  if (addr && g_inet_address_get_is_any(addr))
    host = g_strdup(g_get_host_name());
  else if (strchr(ip, ':'))
    host = g_strdup_printf("[%s]", ip);
  else
    host = g_strdup(ip);
  if (port == 5060)
    return g_steal_pointer(&host);
  return g_strdup_printf("%s:%u", host, port);
}

static gboolean is_wildcard(const char *ip)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(ip);
  return addr && g_inet_address_get_is_any(addr);
}

gboolean focus_config_finish(FocusConfig *cfg, GError **error)
{
  listens_clear(cfg);
  g_clear_pointer(&cfg->sdp_address, g_free);
  if (!cfg->sip_listen || !cfg->sip_listen[0]) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "sip-listen: at least one address is needed");
    return FALSE;
  }
  guint n = g_strv_length(cfg->sip_listen);
  cfg->listens = g_new0(FocusListen, n);
  for (guint i = 0; i < n; i++) {
    if (!focus_listen_parse(cfg->sip_listen[i], 5060, &cfg->listens[i], error))
      return FALSE;
    cfg->n_listens++;
    for (guint j = 0; j < i; j++)
      if (cfg->listens[i].port != 0 && cfg->listens[j].port == cfg->listens[i].port &&
          strcmp(cfg->listens[j].ip, cfg->listens[i].ip) == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "sip-listen '%s' is given twice", cfg->sip_listen[i]);
        return FALSE;
      }
  }
  if (!conf_require("state-dir", cfg->state_dir, error))
    return FALSE;
  if (!conf_require("credential", cfg->credential, error))
    return FALSE;
  if (!conf_require("control-socket", cfg->control_socket, error))
    return FALSE;
  if (cfg->host && (!cfg->host[0] || strpbrk(cfg->host, "@;?<> \t/"))) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "host '%s' is not a host[:port] (e.g. conf.example.org or 192.0.2.1:5070)",
                cfg->host);
    return FALSE;
  }
  if (cfg->factory_uri) {
    g_autoptr(GError) local = NULL;
    g_autofree char *norm = sip_uri_normalize(cfg->factory_uri, &local);
    if (!norm) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "factory-uri '%s': %s",
                  cfg->factory_uri, local->message);
      return FALSE;
    }
  }
  for (guint i = 0; cfg->creators && cfg->creators[i]; i++) {
    g_autoptr(GError) local = NULL;
    g_autofree char *norm = sip_uri_normalize(cfg->creators[i], &local);
    if (!norm) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "creators: '%s': %s",
                  cfg->creators[i], local->message);
      return FALSE;
    }
  }
  if (cfg->rtp_port_min >= cfg->rtp_port_max) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "rtp-port-min (%d) must be below rtp-port-max (%d)", cfg->rtp_port_min,
                cfg->rtp_port_max);
    return FALSE;
  }
  if ((cfg->tls_cert != NULL) != (cfg->tls_key != NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "tls-cert and tls-key go together: %s is missing",
                cfg->tls_cert ? "tls-key" : "tls-cert");
    return FALSE;
  }
  for (guint i = 0; cfg->tls_cert && i < cfg->n_listens; i++)
    if (cfg->listens[i].port == 0 || cfg->listens[i].port == 65535) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "sip-listen '%s': with tls-cert every address needs a port (TLS is on the "
                  "next one)",
                  cfg->sip_listen[i]);
      return FALSE;
    }
  const char *levels[] = { "error", "warning", "info", "debug", NULL };
  if (cfg->log_level == NULL || !g_strv_contains(levels, cfg->log_level)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "log-level '%s' is not one of error, warning, info, debug",
                cfg->log_level ? cfg->log_level : "");
    return FALSE;
  }
  /* media: bind rtp_address (or the first listen address); the SDP needs a concrete one */
  const char *rtp = cfg->rtp_address && cfg->rtp_address[0] ? cfg->rtp_address : cfg->listens[0].ip;
  g_autoptr(GInetAddress) raddr = g_inet_address_new_from_string(rtp);
  if (!raddr) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "rtp-address '%s' is not a numeric IP address", rtp);
    return FALSE;
  }
  if (is_wildcard(rtp)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "the SDP needs a concrete media address: set rtp-address (sip-listen %s is a "
                "wildcard)",
                rtp);
    return FALSE;
  }
  cfg->sdp_address = g_strdup(rtp);
  return TRUE;
}
