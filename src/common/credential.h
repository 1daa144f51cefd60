/* Credential files (profile 2): what `mikeykmsd user add` writes and mikeyua / mikeyconfd read.
 *   [credential]
 *   identity=sip:alice@example.org
 *   kms-uri=kms.example.org
 *   kms-url=https://127.0.0.1:8443/mikey
 *   kms-ca=/path/to/ca.pem          (omitted for plain http)
 *   psk-id=<32 hex>
 *   psk=<64 hex>
 * Files are written mode 0600 (atomically) and refused on load when group or others may read
 * them: they hold a key. */
#pragma once

#include "mikey/secret.h"

typedef struct {
  char *identity;
  char *kms_uri;
  char *kms_url;
  char *kms_ca; /* NULL for http:// */
  GBytes *psk_id;
  MikeySecret *psk;
} Credential;

/* Errors name the file and what is wrong ("alice.cred: psk is not 64 hex digits"). */
gboolean credential_load(const char *path, Credential *cred, GError **error);
gboolean credential_save(const char *path, const Credential *cred, GError **error);
void credential_clear(Credential *cred);
