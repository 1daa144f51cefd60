/* Secret byte strings: one allocator that wipes on free, constant-time comparison. */
#include "secret.h"

#include "error.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

MikeySecret *mikey_secret_new(gsize len)
{
  MikeySecret *secret = g_new0(MikeySecret, 1);
  secret->len = len;
  /* At least one byte, so data is never NULL and callers may memcpy/CRYPTO_memcmp freely. */
  secret->data = g_malloc0(MAX(len, 1));
  return secret;
}

MikeySecret *mikey_secret_new_from_data(const guint8 *data, gsize len)
{
  MikeySecret *secret = mikey_secret_new(len);
  if (len > 0)
    memcpy(secret->data, data, len);
  return secret;
}

static int hex_digit_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

MikeySecret *mikey_secret_new_from_hex(const char *hex, GError **error)
{
  if (hex == NULL || hex[0] == '\0') {
    /* A zero-length key is never meaningful; an empty config value is a mistake to report. */
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "empty hex key");
    return NULL;
  }
  gsize hex_len = strlen(hex);
  if (hex_len % 2 != 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "hex key has an odd number of digits (%" G_GSIZE_FORMAT ")", hex_len);
    return NULL;
  }
  /* Decode straight into the wiping buffer so no copy of the key is left behind. */
  MikeySecret *secret = mikey_secret_new(hex_len / 2);
  for (gsize i = 0; i < secret->len; i++) {
    int hi = hex_digit_value(hex[2 * i]);
    int lo = hex_digit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      /* The position, not the character: the string may be a key. */
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "hex key has a non-hex character at position %" G_GSIZE_FORMAT,
                  hi < 0 ? 2 * i : 2 * i + 1);
      mikey_secret_free(secret);
      return NULL;
    }
    secret->data[i] = (guint8)((hi << 4) | lo);
  }
  return secret;
}

MikeySecret *mikey_secret_new_random(gsize len, GError **error)
{
  if (len > INT_MAX) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "random secret too long");
    return NULL;
  }
  MikeySecret *secret = mikey_secret_new(len);
  /* RAND_priv_bytes: OpenSSL keeps a separate DRBG for values that must stay private, so a
   * peer that sees our public RANDs learns nothing about the generator state behind keys. */
  if (len > 0 && RAND_priv_bytes(secret->data, (int)len) != 1) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "random number generator failed");
    mikey_secret_free(secret);
    return NULL;
  }
  return secret;
}

MikeySecret *mikey_secret_dup(const MikeySecret *secret)
{
  if (secret == NULL)
    return NULL;
  return mikey_secret_new_from_data(secret->data, secret->len);
}

void mikey_secret_free(MikeySecret *secret)
{
  if (secret == NULL)
    return;
  /* OPENSSL_cleanse, not memset: the compiler may drop a memset of memory about to be freed. */
  OPENSSL_cleanse(secret->data, MAX(secret->len, 1));
  g_free(secret->data);
  secret->data = NULL;
  secret->len = 0;
  g_free(secret);
}

gboolean mikey_secret_equal(const MikeySecret *a, const MikeySecret *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return mikey_const_equal(a->data, a->len, b->data, b->len);
}

gboolean mikey_const_equal(const guint8 *a, gsize a_len, const guint8 *b, gsize b_len)
{
  /* Lengths are public (MAC and key lengths follow from the algorithms); only the contents
   * must be compared in constant time. */
  if (a_len != b_len)
    return FALSE;
  if (a_len == 0)
    return TRUE;
  if (a == NULL || b == NULL)
    return FALSE;
  return CRYPTO_memcmp(a, b, a_len) == 0;
}

gboolean mikey_random_bytes(guint8 *buf, gsize len, GError **error)
{
  /* RAND_bytes takes an int: fill in slices so any gsize works. */
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    if (RAND_bytes(buf, chunk) != 1) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "random number generator failed");
      return FALSE;
    }
    buf += chunk;
    len -= (gsize)chunk;
  }
  return TRUE;
}
