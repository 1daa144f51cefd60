/* RFC 4567 key management attributes in SDP (profile.md §6, mikey-ticket.md §3.1):
 *
 *   a=key-mgmt:<prtcl-id> <keymgmt-data>   key-mgmt-att-value = 0*1SP prtcl-id SP keymgmt-data
 *
 * Line-level only: an SDP body is split into lines at LF (a CR before the LF is dropped), the
 * last line may lack its line end (a final lone CR is dropped too), empty lines are skipped. Every
 * read is bounded by the length given; the body need not be NUL-terminated. */
#include "sdp.h"

#include "error.h"

#include <string.h>

#define KEY_MGMT_NAME "key-mgmt" /* the attribute name, after "a=" */
#define MIKEY_PRTCL_ID "mikey"

void mikey_sdp_key_mgmt_free(MikeySdpKeyMgmt *km)
{
  if (!km)
    return;
  g_free(km->prtcl_id);
  if (km->data)
    g_bytes_unref(km->data);
  g_free(km);
}

/* ---- line iteration ---- */

typedef struct {
  const char *sdp;
  gsize len;
  gsize pos; /* start of the next line */
  guint lineno;
  /* the current line */
  const char *line; /* its text without the line end */
  gsize line_len;
  gsize start; /* offset of the line */
  gsize end;   /* offset after its line end (if any) */
} SdpIter;

static void sdp_iter_init(SdpIter *it, const char *sdp, gsize len)
{
  memset(it, 0, sizeof *it);
  it->sdp = sdp;
  it->len = sdp ? len : 0;
}

static gboolean sdp_iter_next(SdpIter *it)
{
  if (it->pos >= it->len)
    return FALSE;
  const char *begin = it->sdp + it->pos;
  gsize avail = it->len - it->pos;
  const char *nl = memchr(begin, '\n', avail);
  gsize content = nl ? (gsize)(nl - begin) : avail;
  it->line = begin;
  it->start = it->pos;
  it->end = it->pos + (nl ? content + 1 : content);
  it->line_len = content;
  /* CRLF, or a lone CR at the very end of a body cut between CR and LF. */
  if (content > 0 && begin[content - 1] == '\r')
    it->line_len--;
  it->pos = it->end;
  it->lineno++;
  return TRUE;
}

static gboolean line_is_media(const SdpIter *it)
{
  return it->line_len >= 2 && it->line[0] == 'm' && it->line[1] == '=';
}

/* If the current line is an a=key-mgmt attribute, points *value at what follows the ':' (an
 * empty value when the line is a bare "a=key-mgmt" or ends at the ':'). */
static gboolean line_key_mgmt_value(const SdpIter *it, const char **value, gsize *value_len)
{
  const gsize plen = 2 + sizeof KEY_MGMT_NAME - 1; /* "a=key-mgmt" */
  if (it->line_len < plen || it->line[0] != 'a' || it->line[1] != '=' ||
      g_ascii_strncasecmp(it->line + 2, KEY_MGMT_NAME, sizeof KEY_MGMT_NAME - 1) != 0)
    return FALSE;
  if (it->line_len == plen) {
    *value = it->line + plen;
    *value_len = 0;
    return TRUE;
  }
  if (it->line[plen] != ':')
    return FALSE; /* another attribute, e.g. a=key-mgmt-foo */
  *value = it->line + plen + 1;
  *value_len = it->line_len - plen - 1;
  return TRUE;
}

/* ---- attribute value ---- */

/* prtcl-id = non-ws-string (VCHAR / %x80-FF); ';' is refused as well, since the SDP IDs list
 * (RFC 4567 4.1.4) joins the ids with it. */
static gboolean prtcl_id_char_ok(guchar c)
{
  return (c > 0x20 && c < 0x7F && c != ';') || c >= 0x80;
}

static int b64_value(guchar c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Strict RFC 4648 base64 (standard alphabet, padding required, canonical padding bits). The
 * checks run from the most specific (a bad character) to the least (the length). */
static gboolean b64_check(const char *s, gsize n, guint lineno, GError **error)
{
  for (gsize i = 0; i < n; i++) {
    guchar c = (guchar)s[i];
    if (c == '=' || b64_value(c) >= 0)
      continue;
    if (c >= 0x20 && c < 0x7F)
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "SDP line %u: a=key-mgmt data: invalid base64 character '%c' at data offset "
                  "%" G_GSIZE_FORMAT,
                  lineno, c, i);
    else
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "SDP line %u: a=key-mgmt data: invalid base64 byte 0x%02x at data offset "
                  "%" G_GSIZE_FORMAT,
                  lineno, c, i);
    return FALSE;
  }
  if (n % 4 != 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: a=key-mgmt data: base64 length %" G_GSIZE_FORMAT
                " is not a multiple of 4",
                lineno, n);
    return FALSE;
  }
  gsize pad = 0;
  if (n >= 2 && s[n - 1] == '=')
    pad = s[n - 2] == '=' ? 2 : 1;
  const char *eq = memchr(s, '=', n - pad);
  if (eq) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: a=key-mgmt data: base64 padding '=' at data offset %" G_GSIZE_FORMAT
                " before the end",
                lineno, (gsize)(eq - s));
    return FALSE;
  }
  /* The bits below the last full byte must be zero (g_base64_decode ignores them). */
  if ((pad == 2 && (b64_value((guchar)s[n - 3]) & 0x0F) != 0) ||
      (pad == 1 && (b64_value((guchar)s[n - 2]) & 0x03) != 0)) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: a=key-mgmt data: non-zero bits before the base64 padding", lineno);
    return FALSE;
  }
  return TRUE;
}

/* Copy of a protocol id for messages (it may hold non-UTF-8 bytes). */
static char *printable_id(const char *id, gsize len)
{
  return g_utf8_make_valid(id, (gssize)len);
}

/* Splits "0*1SP prtcl-id SP keymgmt-data" and decodes the data. */
static MikeySdpKeyMgmt *parse_key_mgmt(const char *v, gsize n, guint lineno, int media_index,
                                       GError **error)
{
  /* Trailing blanks are tolerated (some stacks pad lines). */
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  if (n > 0 && v[0] == ' ') {
    v++;
    n--;
  }
  if (n == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: empty a=key-mgmt value (expected <prtcl-id> <base64 data>)", lineno);
    return NULL;
  }
  gsize id_len = 0;
  while (id_len < n && v[id_len] != ' ') {
    guchar c = (guchar)v[id_len];
    if (!prtcl_id_char_ok(c)) {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "SDP line %u: a=key-mgmt protocol id has an invalid byte 0x%02x at offset "
                  "%" G_GSIZE_FORMAT,
                  lineno, c, id_len);
      return NULL;
    }
    id_len++;
  }
  if (id_len == 0) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: a=key-mgmt value has no protocol id", lineno);
    return NULL;
  }
  if (id_len + 1 >= n) {
    g_autofree char *id = printable_id(v, id_len);
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                "SDP line %u: a=key-mgmt:%s has no key management data", lineno, id);
    return NULL;
  }
  const char *data = v + id_len + 1;
  gsize data_len = n - id_len - 1;
  if (!b64_check(data, data_len, lineno, error))
    return NULL;

  g_autofree char *text = g_strndup(data, data_len);
  gsize out_len = 0;
  guchar *out = g_base64_decode(text, &out_len);
  MikeySdpKeyMgmt *km = g_new0(MikeySdpKeyMgmt, 1);
  km->prtcl_id = g_strndup(v, id_len);
  km->data = g_bytes_new_take(out, out_len);
  km->media_index = media_index;
  return km;
}

/* ---- public ---- */

GPtrArray *mikey_sdp_find_key_mgmt(const char *sdp, gsize len, GError **error)
{
  g_return_val_if_fail(sdp != NULL || len == 0, NULL);
  g_autoptr(GPtrArray) found =
      g_ptr_array_new_with_free_func((GDestroyNotify)mikey_sdp_key_mgmt_free);
  SdpIter it;
  int media_index = -1;
  sdp_iter_init(&it, sdp, len);
  while (sdp_iter_next(&it)) {
    if (it.line_len == 0)
      continue;
    if (it.line_len < 2 || !g_ascii_isalpha(it.line[0]) || it.line[1] != '=') {
      g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                  "SDP line %u: not an SDP line (expected <type>=<value>)", it.lineno);
      return NULL;
    }
    if (line_is_media(&it)) {
      media_index++;
      continue;
    }
    const char *value;
    gsize value_len;
    if (!line_key_mgmt_value(&it, &value, &value_len))
      continue;
    MikeySdpKeyMgmt *km = parse_key_mgmt(value, value_len, it.lineno, media_index, error);
    if (!km)
      return NULL;
    g_ptr_array_add(found, km);
  }
  return g_steal_pointer(&found);
}

GBytes *mikey_sdp_get_mikey(const char *sdp, gsize len, int media_index, GError **error)
{
  g_autoptr(GPtrArray) all = mikey_sdp_find_key_mgmt(sdp, len, error);
  if (!all)
    return NULL;
  /* RFC 4567: a media-level attribute overrides the session-level one for its m-line. */
  const MikeySdpKeyMgmt *session = NULL, *media = NULL;
  for (guint i = 0; i < all->len; i++) {
    const MikeySdpKeyMgmt *km = all->pdata[i];
    if (strcmp(km->prtcl_id, MIKEY_PRTCL_ID) != 0)
      continue;
    const MikeySdpKeyMgmt **slot;
    if (km->media_index < 0)
      slot = &session;
    else if (media_index >= 0 && km->media_index == media_index)
      slot = &media;
    else
      continue;
    if (*slot) {
      if (km->media_index < 0)
        g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                    "SDP: more than one a=key-mgmt:mikey at session level");
      else
        g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED,
                    "SDP: more than one a=key-mgmt:mikey for m-line %d", km->media_index);
      return NULL;
    }
    *slot = km;
  }
  const MikeySdpKeyMgmt *use = media ? media : session;
  return use ? g_bytes_ref(use->data) : NULL;
}

char *mikey_sdp_protocol_ids(const char *sdp, gsize len)
{
  g_return_val_if_fail(sdp != NULL || len == 0, NULL);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  SdpIter it;
  sdp_iter_init(&it, sdp, len);
  while (sdp_iter_next(&it)) {
    const char *v;
    gsize n;
    if (!line_key_mgmt_value(&it, &v, &n))
      continue;
    if (n > 0 && v[0] == ' ') {
      v++;
      n--;
    }
    gsize id_len = 0;
    while (id_len < n && v[id_len] != ' ' && prtcl_id_char_ok((guchar)v[id_len]))
      id_len++;
    if (id_len == 0 || (id_len < n && v[id_len] != ' '))
      continue; /* malformed id: mikey_sdp_find_key_mgmt() reports it */
    g_autofree char *id = g_strndup(v, id_len);
    gboolean seen = FALSE;
    for (guint i = 0; i < ids->len && !seen; i++)
      seen = strcmp(ids->pdata[i], id) == 0;
    if (!seen)
      g_ptr_array_add(ids, g_steal_pointer(&id));
  }
  g_ptr_array_add(ids, NULL);
  return g_strjoinv(";", (char **)ids->pdata);
}

guint mikey_sdp_media_count(const char *sdp, gsize len)
{
  g_return_val_if_fail(sdp != NULL || len == 0, 0);
  guint count = 0;
  SdpIter it;
  sdp_iter_init(&it, sdp, len);
  while (sdp_iter_next(&it))
    if (line_is_media(&it))
      count++;
  return count;
}

static gboolean line_is_mikey(const SdpIter *it)
{
  const char *v;
  gsize n;
  if (!line_key_mgmt_value(it, &v, &n))
    return FALSE;
  if (n > 0 && v[0] == ' ') {
    v++;
    n--;
  }
  const gsize id_len = sizeof MIKEY_PRTCL_ID - 1;
  return n >= id_len && memcmp(v, MIKEY_PRTCL_ID, id_len) == 0 &&
         (n == id_len || v[id_len] == ' ' || v[id_len] == '\t');
}

char *mikey_sdp_set_mikey(const char *sdp, gsize len, int media_index, GBytes *mikey)
{
  g_return_val_if_fail(sdp != NULL || len == 0, NULL);
  g_return_val_if_fail(mikey != NULL, NULL);
  gsize mikey_len = 0;
  const guint8 *mikey_data = g_bytes_get_data(mikey, &mikey_len);
  if (mikey_len == 0 || media_index < -1)
    return NULL;
  if (!sdp)
    sdp = "";

  /* Line end of the output: that of the first line; CRLF (RFC 4566) if there is none. */
  const char *eol = "\r\n";
  const char *first_nl = memchr(sdp, '\n', len);
  if (first_nl && (first_nl == sdp || first_nl[-1] != '\r'))
    eol = "\n";

  /* One pass to find the mikey lines of the target level and the end of its block. */
  g_autoptr(GArray) replace = g_array_new(FALSE, FALSE, sizeof(gsize) * 2);
  gsize insert_at = 0;
  gboolean in_block = media_index < 0;
  int level = -1;
  SdpIter it;
  sdp_iter_init(&it, sdp, len);
  while (sdp_iter_next(&it)) {
    if (line_is_media(&it)) {
      level++;
      in_block = level == media_index;
    }
    if (!in_block || it.line_len == 0)
      continue;
    insert_at = it.end; /* after the block's last non-empty line */
    if (line_is_mikey(&it)) {
      gsize range[2] = { it.start, it.end };
      g_array_append_vals(replace, range, 1);
    }
  }
  if (media_index >= 0 && level < media_index)
    return NULL; /* no such m-line */

  g_autofree char *b64 = g_base64_encode(mikey_data, mikey_len);
  GString *out = g_string_sized_new(len + strlen(b64) + 32);
  if (replace->len == 0) {
    if (insert_at > 0 && sdp[insert_at - 1] != '\n') {
      /* the last line had no line end; a lone CR there is half of one, not content */
      gsize keep = sdp[insert_at - 1] == '\r' ? insert_at - 1 : insert_at;
      g_string_append_len(out, sdp, (gssize)keep);
      g_string_append(out, eol);
    } else {
      g_string_append_len(out, sdp, (gssize)insert_at);
    }
    g_string_append_printf(out, "a=key-mgmt:" MIKEY_PRTCL_ID " %s%s", b64, eol);
    g_string_append_len(out, sdp + insert_at, (gssize)(len - insert_at));
  } else {
    /* The first mikey line of the level is replaced in place, any others dropped. */
    gsize cursor = 0;
    for (guint i = 0; i < replace->len; i++) {
      const gsize *range = &g_array_index(replace, gsize, 2 * i);
      g_string_append_len(out, sdp + cursor, (gssize)(range[0] - cursor));
      if (i == 0)
        g_string_append_printf(out, "a=key-mgmt:" MIKEY_PRTCL_ID " %s%s", b64, eol);
      cursor = range[1];
    }
    g_string_append_len(out, sdp + cursor, (gssize)(len - cursor));
  }
  return g_string_free(out, FALSE);
}
