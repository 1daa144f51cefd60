/* Secret byte strings (PSKs, MPKs, TGKs, TEKs, derived MIKEY keys, SRTP master keys).
 * One allocator for all of them: the bytes are wiped (OPENSSL_cleanse) when the buffer is
 * freed, and comparisons are constant-time. Nothing in the project logs a MikeySecret. */
#pragma once

#include <glib.h>

typedef struct {
  gsize len;
  guint8 *data;
} MikeySecret;

MikeySecret *mikey_secret_new(gsize len); /* zero-filled */
MikeySecret *mikey_secret_new_from_data(const guint8 *data, gsize len);
/* From a hex string (no separators); NULL and error on bad hex. */
MikeySecret *mikey_secret_new_from_hex(const char *hex, GError **error);
/* Cryptographically random bytes (RAND_bytes); NULL with error if the RNG fails. */
MikeySecret *mikey_secret_new_random(gsize len, GError **error);
MikeySecret *mikey_secret_dup(const MikeySecret *secret);
void mikey_secret_free(MikeySecret *secret);
/* Constant-time equality of length and contents. */
gboolean mikey_secret_equal(const MikeySecret *a, const MikeySecret *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeySecret, mikey_secret_free)

/* Constant-time comparison of two byte strings (CRYPTO_memcmp); FALSE if lengths differ. */
gboolean mikey_const_equal(const guint8 *a, gsize a_len, const guint8 *b, gsize b_len);
/* Fills buf with random bytes; FALSE with error if the RNG fails. */
gboolean mikey_random_bytes(guint8 *buf, gsize len, GError **error);
