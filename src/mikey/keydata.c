/* Key data sub-payloads (RFC 3830 6.13): the plaintext inside a KEMAC. */
#include "keydata.h"

#include "error.h"

#include <string.h>

gboolean mikey_key_type_has_salt(MikeyKeyType type)
{
  return type == MIKEY_KEY_TGK_SALT || type == MIKEY_KEY_TEK_SALT || type == MIKEY_KEY_GTGK_SALT;
}

MikeyKeyData *mikey_key_data_new(MikeyKeyType type, const MikeySecret *key, const guint8 *spi,
                                 gsize spi_len)
{
  MikeyKeyData *kd = g_new0(MikeyKeyData, 1);
  kd->type = type;
  kd->key = mikey_secret_dup(key);
  if (spi) {
    kd->kv = MIKEY_KV_SPI;
    kd->spi = g_bytes_new(spi, spi_len);
  }
  return kd;
}

void mikey_key_data_free(MikeyKeyData *kd)
{
  if (!kd)
    return;
  mikey_secret_free(kd->key);
  mikey_secret_free(kd->salt);
  g_clear_pointer(&kd->spi, g_bytes_unref);
  g_clear_pointer(&kd->valid_from, g_bytes_unref);
  g_clear_pointer(&kd->valid_to, g_bytes_unref);
  g_free(kd);
}

GPtrArray *mikey_key_data_list_new(void)
{
  return g_ptr_array_new_with_free_func((GDestroyNotify)mikey_key_data_free);
}

/* Reads "len(lenbytes) data" at *pos of plain; FALSE if it does not fit. */
static gboolean read_counted(const guint8 *plain, gsize len, gsize *pos, guint lenbytes,
                             const guint8 **data, gsize *n)
{
  if (len - *pos < lenbytes)
    return FALSE;
  *n = lenbytes == 1 ? plain[*pos] : (gsize)(plain[*pos] << 8 | plain[*pos + 1]);
  *pos += lenbytes;
  if (len - *pos < *n)
    return FALSE;
  *data = plain + *pos;
  *pos += *n;
  return TRUE;
}

GPtrArray *mikey_key_data_parse(const guint8 *plain, gsize len, GError **error)
{
  g_autoptr(GPtrArray) list = mikey_key_data_list_new();
  gsize pos = 0;
  guint8 next = MIKEY_PT_KEY_DATA;
  while (next == MIKEY_PT_KEY_DATA) {
    gsize start = pos;
    const guint8 *d;
    gsize n;
    if (len - pos < 2) {
      mikey_set_parse_error(error, start, "truncated Key data sub-payload");
      return NULL;
    }
    if (list->len >= MIKEY_MAX_PAYLOADS) {
      mikey_set_parse_error(error, start, "more than %d Key data sub-payloads", MIKEY_MAX_PAYLOADS);
      return NULL;
    }
    next = plain[pos++];
    guint type = plain[pos] >> 4;
    guint kv = plain[pos] & 0x0f;
    pos++;
    if (next != MIKEY_PT_KEY_DATA && next != MIKEY_PT_LAST) {
      mikey_set_parse_error(error, start, "Key data followed by payload type %u", next);
      return NULL;
    }
    if (type > MIKEY_KEY_MPK || kv > MIKEY_KV_INTERVAL) {
      mikey_set_parse_error(error, start + 1, "unknown key type %u or key validity %u", type, kv);
      return NULL;
    }
    g_autoptr(MikeyKeyData) kd = g_new0(MikeyKeyData, 1);
    kd->type = type;
    kd->kv = kv;
    if (!read_counted(plain, len, &pos, 2, &d, &n)) {
      mikey_set_parse_error(error, start, "truncated key");
      return NULL;
    }
    kd->key = mikey_secret_new_from_data(d, n);
    if (mikey_key_type_has_salt(type)) {
      if (!read_counted(plain, len, &pos, 2, &d, &n)) {
        mikey_set_parse_error(error, start, "truncated salt");
        return NULL;
      }
      kd->salt = mikey_secret_new_from_data(d, n);
    }
    if (kv == MIKEY_KV_SPI) {
      if (!read_counted(plain, len, &pos, 1, &d, &n)) {
        mikey_set_parse_error(error, start, "truncated SPI");
        return NULL;
      }
      kd->spi = g_bytes_new(d, n);
    } else if (kv == MIKEY_KV_INTERVAL) {
      if (!read_counted(plain, len, &pos, 1, &d, &n)) {
        mikey_set_parse_error(error, start, "truncated validity interval");
        return NULL;
      }
      kd->valid_from = g_bytes_new(d, n);
      if (!read_counted(plain, len, &pos, 1, &d, &n)) {
        mikey_set_parse_error(error, start, "truncated validity interval");
        return NULL;
      }
      kd->valid_to = g_bytes_new(d, n);
    }
    g_ptr_array_add(list, g_steal_pointer(&kd));
  }
  if (pos != len) {
    mikey_set_parse_error(error, pos, "%" G_GSIZE_FORMAT " trailing bytes after Key data",
                          len - pos);
    return NULL;
  }
  return g_steal_pointer(&list);
}

static gboolean put_counted(guint8 *out, gsize *pos, guint lenbytes, const guint8 *data, gsize n)
{
  if (n > (lenbytes == 1 ? 0xffu : 0xffffu))
    return FALSE;
  if (lenbytes == 2)
    out[(*pos)++] = (guint8)(n >> 8);
  out[(*pos)++] = (guint8)n;
  if (n)
    memcpy(out + *pos, data, n);
  *pos += n;
  return TRUE;
}

static gsize bytes_len(GBytes *b)
{
  return b ? g_bytes_get_size(b) : 0;
}

static const guint8 *bytes_data(GBytes *b)
{
  return b ? g_bytes_get_data(b, NULL) : NULL;
}

MikeySecret *mikey_key_data_encode(GPtrArray *list, GError **error)
{
  gsize total = 0;
  for (guint i = 0; i < list->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(list, i);
    total += 4 + (kd->key ? kd->key->len : 0) + 2 + (kd->salt ? kd->salt->len : 0) + 2 +
             bytes_len(kd->spi) + bytes_len(kd->valid_from) + bytes_len(kd->valid_to);
  }
  g_autoptr(MikeySecret) buf = mikey_secret_new(total);
  gsize pos = 0;
  for (guint i = 0; i < list->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(list, i);
    gboolean ok = TRUE;
    buf->data[pos++] = i + 1 < list->len ? MIKEY_PT_KEY_DATA : MIKEY_PT_LAST;
    buf->data[pos++] = (guint8)((kd->type & 0x0f) << 4 | (kd->kv & 0x0f));
    ok &= kd->key != NULL && put_counted(buf->data, &pos, 2, kd->key ? kd->key->data : NULL,
                                         kd->key ? kd->key->len : 0);
    if (mikey_key_type_has_salt(kd->type))
      ok &= kd->salt != NULL && put_counted(buf->data, &pos, 2, kd->salt->data, kd->salt->len);
    if (kd->kv == MIKEY_KV_SPI)
      ok &= put_counted(buf->data, &pos, 1, bytes_data(kd->spi), bytes_len(kd->spi));
    else if (kd->kv == MIKEY_KV_INTERVAL)
      ok &=
          put_counted(buf->data, &pos, 1, bytes_data(kd->valid_from), bytes_len(kd->valid_from)) &&
          put_counted(buf->data, &pos, 1, bytes_data(kd->valid_to), bytes_len(kd->valid_to));
    if (!ok) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "cannot encode Key data %u: missing key/salt or field too long", i);
      return NULL;
    }
  }
  g_autoptr(MikeySecret) out = mikey_secret_new_from_data(buf->data, pos);
  return g_steal_pointer(&out);
}
