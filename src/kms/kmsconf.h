/* mikeykmsd's settings: one table serves the command line and [mikeykmsd] in mikeykmsd.conf
 * (man mikeykmsd.conf(5)). */
#pragma once

#include "common/conf.h"

typedef struct {
  char *listen;           /* address, default 127.0.0.1 */
  gint port;              /* default 8443 */
  char *tls_cert;         /* default <state-dir>/server.pem */
  char *tls_key;          /* default <state-dir>/server.key */
  gboolean insecure_http; /* plain HTTP, loopback only (profile 3) */
  char *state_dir;        /* default /var/lib/mikeyconf/kms */
  char *kms_uri;          /* IDRkms, default kms.example.org */
  char *public_url;       /* kms-url written into credential files; default from listen/port */
  gint skew;              /* seconds, default 120 */
  gint ticket_lifetime;   /* seconds, default 3600 */
  gint max_recipients;    /* default 256 */
  gint rate_limit;        /* requests per second per source address, default 2000; 0 = off */
  char **factory_uris;    /* default sip:conference-factory@* */
  char **conference_uris; /* default sip:conf-*@* */
  char *log_level;        /* default info */
} KmsConfig;

void kms_config_init_defaults(KmsConfig *cfg);
void kms_config_clear(KmsConfig *cfg);
/* The option table bound to cfg (static storage inside; one config per process). */
const ConfOption *kms_config_options(KmsConfig *cfg);
/* Fills in the defaults that depend on others (tls paths, public url) and checks the whole:
 * --insecure-http only with a loopback listen address, patterns valid, ranges. */
gboolean kms_config_finish(KmsConfig *cfg, GError **error);
