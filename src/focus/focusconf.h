/* mikeyconfd's settings: one option table for the command line and [mikeyconfd] in
 * mikeyconfd.conf (common/conf.h; man mikeyconfd.conf(5) documents every key, mikeyconfd(8)
 * every option). focus_config_finish() checks the whole and derives what follows from the
 * rest (listen addresses, URIs, the SDP address). */
#pragma once

#include "common/conf.h"

#define FOCUS_DEFAULT_CONFIG "/etc/mikeyconf/mikeyconfd.conf"

/* One SIP listen address (UDP and TCP on the same port). */
typedef struct {
  char *ip;   /* numeric, no brackets */
  guint port; /* 0 = an ephemeral port (tests) */
} FocusListen;

typedef struct {
  /* ---- bound to the option table ---- */
  char **sip_listen; /* IP[:PORT] or [IPv6]:PORT, repeatable; default 127.0.0.1:5060 */
  char *host;        /* host[:port] of the factory and conference URIs */
  char *factory_uri; /* default sip:conference-factory@HOST */
  char *credential;  /* the focus credential (profile 2) */
  gint kms_timeout;  /* seconds, profile 6: default 3 */
  char *state_dir;   /* focus.db and TLS material */
  char *control_socket;
  gint empty_timeout; /* seconds without participants before a conference ends; 0 = never */
  gboolean allow_from_mismatch;
  char **creators;   /* optional creator list (7.1 step 2) */
  gint rate_limit;   /* factory INVITEs per second per source address; 0 = unlimited */
  gint max_resolves; /* KMS resolves in flight */
  char *rtp_address; /* media sockets and the SDP c= address */
  gint rtp_port_min, rtp_port_max;
  gint media_workers; /* 0 = one per online core */
  gint skew;          /* seconds (profile 4) */
  char *tls_cert;     /* with tls_key: also sips: on the SIP port + 1 */
  char *tls_key;
  gboolean insecure_http; /* accept an http:// kms-url in the credential (tests, demos) */
  char *log_level;
  gboolean sip_trace;

  /* ---- derived by focus_config_finish() ---- */
  FocusListen *listens; /* n_listens entries */
  guint n_listens;
  char *sdp_address; /* what the SDP c= line says: rtp_address, or a listen address */
} FocusConfig;

void focus_config_init_defaults(FocusConfig *cfg);
void focus_config_clear(FocusConfig *cfg);
/* The option table bound to cfg (static storage inside: one config per process). */
const ConfOption *focus_config_options(FocusConfig *cfg);
/* Checks the settings and fills in the derived ones. Errors name the option. */
gboolean focus_config_finish(FocusConfig *cfg, GError **error);
/* "IP", "IP:PORT", "[IPv6]:PORT" or "IPv6" into an address and a port (default_port when
 * absent). */
gboolean focus_listen_parse(const char *text, guint default_port, FocusListen *out, GError **error);
/* The host[:port] of URIs for a listen address and the port actually bound: the address
 * (bracketed if IPv6; the host name for a wildcard), with ":PORT" unless it is 5060. g_free. */
char *focus_listen_uri_host(const char *ip, guint port);
