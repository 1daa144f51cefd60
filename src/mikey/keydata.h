/* Key data sub-payloads (RFC 3830 6.13, RFC 6043 6.13): the plaintext chain inside a KEMAC's
 * Encr data. Keys and salts are MikeySecret, wiped when the list is freed. */
#pragma once

#include "secret.h"
#include "types.h"

typedef struct {
  MikeyKeyType type;
  MikeyKv kv;
  MikeySecret *key;
  MikeySecret *salt;  /* only for the +SALT types; NULL otherwise */
  GBytes *spi;        /* KV = SPI */
  GBytes *valid_from; /* KV = Interval */
  GBytes *valid_to;
} MikeyKeyData;

MikeyKeyData *mikey_key_data_new(MikeyKeyType type, const MikeySecret *key, const guint8 *spi,
                                 gsize spi_len);
void mikey_key_data_free(MikeyKeyData *kd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeyKeyData, mikey_key_data_free)
GPtrArray *mikey_key_data_list_new(void); /* frees its MikeyKeyData* */

/* Parses the plaintext chain (first sub-payload implicitly Key data). Errors name the offset
 * within the plaintext; code MIKEY_ERR_UNSPECIFIED. */
GPtrArray *mikey_key_data_parse(const guint8 *plain, gsize len, GError **error);
/* Encodes the list to a plaintext chain (a secret: it holds keys). */
MikeySecret *mikey_key_data_encode(GPtrArray *list, GError **error);

gboolean mikey_key_type_has_salt(MikeyKeyType type);
