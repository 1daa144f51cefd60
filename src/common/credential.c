/* Credential files (profile 2). The PSK must not outlive its use anywhere in memory: on load
 * the file is read into a buffer we wipe, the psk value is decoded straight from that buffer
 * into a MikeySecret and blanked before GKeyFile (which does not wipe) sees the text; on save
 * the text is built in a pre-sized buffer that is wiped after the write. */
#include "credential.h"

#include "sipuri.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>

#define CRED_GROUP "credential"
#define CRED_MAX_SIZE (64 * 1024)
#define PSK_ID_LEN 16
#define PSK_LEN 32

static const char *const known_keys[] = {
  "identity", "kms-uri", "kms-url", "kms-ca", "psk-id", "psk", NULL,
};

void credential_clear(Credential *cred)
{
  if (cred == NULL)
    return;
  g_free(cred->identity);
  g_free(cred->kms_uri);
  g_free(cred->kms_url);
  g_free(cred->kms_ca);
  g_clear_pointer(&cred->psk_id, g_bytes_unref);
  g_clear_pointer(&cred->psk, mikey_secret_free);
  memset(cred, 0, sizeof *cred);
}

static gboolean cred_error(GError **error, const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean cred_error(GError **error, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_autofree char *name = g_filename_display_name(path);
  g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s: %s", name, msg);
  return FALSE;
}

static void wipe_free(char *buf, gsize len)
{
  if (buf == NULL)
    return;
  OPENSSL_cleanse(buf, len);
  g_free(buf);
}

/* Reads the whole file through one descriptor, checking its mode on that descriptor (no race
 * between the check and the read). */
static char *read_private_file(const char *path, gsize *len_out, GError **error)
{
  g_autofree char *name = g_filename_display_name(path);
  int fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", name, g_strerror(e));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", name, g_strerror(e));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a regular file", name);
    return NULL;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    close(fd);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                "%s: mode %04o lets group or others access a key file (chmod 600 it)", name,
                (unsigned)(st.st_mode & 07777));
    return NULL;
  }
  if (st.st_size > CRED_MAX_SIZE) {
    close(fd);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: larger than %d bytes", name,
                CRED_MAX_SIZE);
    return NULL;
  }
  /* One buffer of the maximum size: no realloc can leave a copy of the key behind. */
  char *buf = g_malloc0(CRED_MAX_SIZE + 1);
  gsize len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, CRED_MAX_SIZE - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      wipe_free(buf, CRED_MAX_SIZE + 1);
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", name, g_strerror(e));
      return NULL;
    }
    if (n == 0)
      break;
    len += (gsize)n;
    if (len == CRED_MAX_SIZE) {
      close(fd);
      wipe_free(buf, CRED_MAX_SIZE + 1);
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: larger than %d bytes", name,
                  CRED_MAX_SIZE - 1);
      return NULL;
    }
  }
  close(fd);
  *len_out = len;
  return buf;
}

/* Finds the value of "psk" in the [credential] group the way GKeyFile will read it (the last
 * occurrence wins), decodes it into *psk and overwrites the value in buf with '0's. */
static gboolean extract_psk(char *buf, gsize len, const char *path, MikeySecret **psk,
                            GError **error)
{
  char *value = NULL;
  gsize value_len = 0;
  gboolean in_group = FALSE;
  gsize pos = 0;
  while (pos < len) {
    char *line = buf + pos;
    char *nl = memchr(line, '\n', len - pos);
    gsize line_len = nl ? (gsize)(nl - line) : len - pos;
    pos += line_len + 1;
    gsize i = 0;
    while (i < line_len && g_ascii_isspace(line[i]))
      i++;
    if (i == line_len || line[i] == '#')
      continue;
    if (line[i] == '[') {
      gsize e = line_len;
      while (e > i && g_ascii_isspace(line[e - 1]))
        e--;
      static const char header[] = "[" CRED_GROUP "]";
      in_group = e - i == sizeof header - 1 && memcmp(line + i, header, sizeof header - 1) == 0;
      continue;
    }
    if (!in_group)
      continue;
    char *eq = memchr(line + i, '=', line_len - i);
    if (eq == NULL)
      continue;
    gsize key_end = (gsize)(eq - line);
    while (key_end > i && g_ascii_isspace(line[key_end - 1]))
      key_end--;
    if (key_end - i != 3 || memcmp(line + i, "psk", 3) != 0)
      continue;
    gsize v = (gsize)(eq - line) + 1;
    while (v < line_len && line[v] == ' ')
      v++;
    gsize v_end = line_len;
    while (v_end > v && g_ascii_isspace(line[v_end - 1]))
      v_end--;
    if (value != NULL)
      memset(value, '0', value_len); /* superseded by this later one, as in GKeyFile */
    value = line + v;
    value_len = v_end - v;
  }
  if (value == NULL)
    return cred_error(error, path, "missing key psk");
  gboolean ok = value_len == 2 * PSK_LEN;
  for (gsize i = 0; ok && i < value_len; i++)
    ok = g_ascii_isxdigit(value[i]);
  if (!ok) {
    memset(value, '0', value_len);
    return cred_error(error, path, "psk is not %d hex digits", 2 * PSK_LEN);
  }
  MikeySecret *secret = mikey_secret_new(PSK_LEN);
  for (gsize i = 0; i < PSK_LEN; i++)
    secret->data[i] =
        (guint8)(g_ascii_xdigit_value(value[2 * i]) << 4 | g_ascii_xdigit_value(value[2 * i + 1]));
  memset(value, '0', value_len);
  *psk = secret;
  return TRUE;
}

static char *get_required(GKeyFile *kf, const char *path, const char *key, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *v = g_key_file_get_string(kf, CRED_GROUP, key, &local);
  if (v == NULL) {
    if (g_error_matches(local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND))
      cred_error(error, path, "missing key %s", key);
    else
      cred_error(error, path, "%s: %s", key, local->message);
    return NULL;
  }
  if (v[0] == '\0') {
    g_free(v);
    cred_error(error, path, "%s is empty", key);
    return NULL;
  }
  return v;
}

static gboolean check_url(const char *url, const char *ca, const char *path, GError **error)
{
  if (g_ascii_strncasecmp(url, "https://", 8) == 0) {
    if (ca == NULL)
      return cred_error(error, path, "kms-ca is required with an https kms-url");
  } else if (g_ascii_strncasecmp(url, "http://", 7) != 0) {
    return cred_error(error, path, "kms-url is not an http:// or https:// URL");
  }
  if (!g_uri_is_valid(url, G_URI_FLAGS_NONE, NULL))
    return cred_error(error, path, "kms-url is not a valid URL");
  return TRUE;
}

static gboolean check_identity(const char *identity, const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  SipUri uri;
  if (!sip_uri_parse(identity, (gsize)-1, &uri, &local))
    return cred_error(error, path, "identity: %s", local->message);
  sip_uri_clear(&uri);
  return TRUE;
}

gboolean credential_load(const char *path, Credential *cred, GError **error)
{
  g_return_val_if_fail(path != NULL && cred != NULL, FALSE);
  memset(cred, 0, sizeof *cred);
  gsize len = 0;
  char *buf = read_private_file(path, &len, error);
  if (buf == NULL)
    return FALSE;
  Credential c = { 0 };
  gboolean ok = extract_psk(buf, len, path, &c.psk, error);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  if (ok) {
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(kf, buf, len, G_KEY_FILE_NONE, &local))
      ok = cred_error(error, path, "%s", local->message);
  }
  wipe_free(buf, CRED_MAX_SIZE + 1);
  if (ok && !g_key_file_has_group(kf, CRED_GROUP))
    ok = cred_error(error, path, "no [" CRED_GROUP "] group");
  if (ok) {
    g_auto(GStrv) keys = g_key_file_get_keys(kf, CRED_GROUP, NULL, NULL);
    for (gsize i = 0; ok && keys != NULL && keys[i] != NULL; i++) {
      if (!g_strv_contains(known_keys, keys[i]))
        ok = cred_error(error, path, "unknown key '%s' in [" CRED_GROUP "]", keys[i]);
    }
  }
  if (ok)
    ok = (c.identity = get_required(kf, path, "identity", error)) != NULL;
  if (ok)
    ok = check_identity(c.identity, path, error);
  if (ok)
    ok = (c.kms_uri = get_required(kf, path, "kms-uri", error)) != NULL;
  if (ok)
    ok = (c.kms_url = get_required(kf, path, "kms-url", error)) != NULL;
  if (ok && g_key_file_has_key(kf, CRED_GROUP, "kms-ca", NULL))
    ok = (c.kms_ca = get_required(kf, path, "kms-ca", error)) != NULL;
  if (ok)
    ok = check_url(c.kms_url, c.kms_ca, path, error);
  if (ok) {
    g_autofree char *hex = get_required(kf, path, "psk-id", error);
    ok = hex != NULL;
    if (ok) {
      gboolean hex_ok = strlen(hex) == 2 * PSK_ID_LEN;
      for (gsize i = 0; hex_ok && hex[i]; i++)
        hex_ok = g_ascii_isxdigit(hex[i]);
      if (!hex_ok) {
        ok = cred_error(error, path, "psk-id is not %d hex digits", 2 * PSK_ID_LEN);
      } else {
        guint8 *id = g_malloc(PSK_ID_LEN);
        for (gsize i = 0; i < PSK_ID_LEN; i++)
          id[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) << 4 |
                           g_ascii_xdigit_value(hex[2 * i + 1]));
        c.psk_id = g_bytes_new_take(id, PSK_ID_LEN);
      }
    }
  }
  if (!ok) {
    credential_clear(&c);
    return FALSE;
  }
  *cred = c;
  return TRUE;
}

/* GKeyFile value escaping for the characters our values can hold (control characters are
 * refused before): a leading space and backslashes. */
static void append_value(GString *out, const char *key, const char *value)
{
  g_string_append(out, key);
  g_string_append_c(out, '=');
  for (const char *p = value; *p; p++) {
    if (*p == '\\')
      g_string_append(out, "\\\\");
    else if (*p == ' ' && p == value)
      g_string_append(out, "\\s");
    else
      g_string_append_c(out, *p);
  }
  g_string_append_c(out, '\n');
}

static gboolean check_text(const char *value, const char *key, const char *path, GError **error)
{
  if (value == NULL || value[0] == '\0')
    return cred_error(error, path, "%s is missing", key);
  for (const guchar *p = (const guchar *)value; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      return cred_error(error, path, "%s contains a control character", key);
  }
  if (!g_utf8_validate(value, -1, NULL))
    return cred_error(error, path, "%s is not valid UTF-8", key);
  return TRUE;
}

gboolean credential_save(const char *path, const Credential *cred, GError **error)
{
  g_return_val_if_fail(path != NULL && cred != NULL, FALSE);
  if (!check_text(cred->identity, "identity", path, error) ||
      !check_identity(cred->identity, path, error) ||
      !check_text(cred->kms_uri, "kms-uri", path, error) ||
      !check_text(cred->kms_url, "kms-url", path, error) ||
      (cred->kms_ca != NULL && !check_text(cred->kms_ca, "kms-ca", path, error)) ||
      !check_url(cred->kms_url, cred->kms_ca, path, error))
    return FALSE;
  if (cred->psk_id == NULL || g_bytes_get_size(cred->psk_id) != PSK_ID_LEN)
    return cred_error(error, path, "psk-id is not %d bytes", PSK_ID_LEN);
  if (cred->psk == NULL || cred->psk->len != PSK_LEN)
    return cred_error(error, path, "psk is not %d bytes", PSK_LEN);

  /* Pre-sized so the GString never reallocates (a realloc would leave a copy of the key). */
  gsize cap = 256 +
              2 * (strlen(cred->identity) + strlen(cred->kms_uri) + strlen(cred->kms_url) +
                   (cred->kms_ca ? strlen(cred->kms_ca) : 0)) +
              2 * PSK_ID_LEN + 2 * PSK_LEN;
  GString *out = g_string_sized_new(cap);
  g_string_append(out, "[" CRED_GROUP "]\n");
  append_value(out, "identity", cred->identity);
  append_value(out, "kms-uri", cred->kms_uri);
  append_value(out, "kms-url", cred->kms_url);
  if (cred->kms_ca != NULL)
    append_value(out, "kms-ca", cred->kms_ca);
  static const char hexd[] = "0123456789abcdef";
  gsize id_len = 0;
  const guint8 *id = g_bytes_get_data(cred->psk_id, &id_len);
  g_string_append(out, "psk-id=");
  for (gsize i = 0; i < id_len; i++) {
    g_string_append_c(out, hexd[id[i] >> 4]);
    g_string_append_c(out, hexd[id[i] & 15]);
  }
  g_string_append(out, "\npsk=");
  for (gsize i = 0; i < cred->psk->len; i++) {
    g_string_append_c(out, hexd[cred->psk->data[i] >> 4]);
    g_string_append_c(out, hexd[cred->psk->data[i] & 15]);
  }
  g_string_append_c(out, '\n');

  g_autoptr(GError) local = NULL;
  gboolean ok = g_file_set_contents_full(
      path, out->str, (gssize)out->len,
      G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, &local);
  gsize alloc = out->allocated_len;
  char *raw = g_string_free(out, FALSE);
  wipe_free(raw, alloc);
  if (!ok) {
    g_autofree char *name = g_filename_display_name(path);
    g_set_error(error, local->domain, local->code, "%s: %s", name, local->message);
    return FALSE;
  }
  return TRUE;
}
