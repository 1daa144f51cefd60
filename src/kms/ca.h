/* `mikeykmsd init`: a local certificate authority and a server certificate for HTTPS, so a
 * fresh KMS works without outside PKI. EC P-256 keys, SHA-256 signatures, the CA valid 10
 * years, the server certificate 2 years with subjectAltName for each given name (DNS names and
 * IP addresses). Keys are written 0600, certificates 0644. Existing files are kept unless
 * overwrite is set. Real deployments point tls-cert/tls-key at their own certificates. */
#pragma once

#include <glib.h>

gboolean kms_ca_create(const char *dir, const char *const *names, gboolean overwrite,
                       GError **error);
