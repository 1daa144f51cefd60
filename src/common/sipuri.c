/* Identities as profile 1 compares them: RFC 3261 19.1.4 reduced to what an identity needs.
 * Input comes from peers (IDRi/IDRr payloads, Request-URIs, From headers), so every path here
 * treats the text as hostile: bounded length, no NUL or control characters, no recursion, and
 * a glob matcher that is O(pattern x text) at worst. */
#include "sipuri.h"

#include <gio/gio.h>
#include <string.h>

#define SIP_URI_MAX_LEN 1024

static gboolean set_invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean set_invalid(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid URI: %s", msg);
  return FALSE;
}

static gboolean is_sip_scheme(const char *scheme)
{
  return strcmp(scheme, "sip") == 0 || strcmp(scheme, "sips") == 0;
}

/* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static gboolean scheme_valid(const char *s, gsize len)
{
  if (len == 0 || !g_ascii_isalpha(s[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++) {
    char c = s[i];
    if (!g_ascii_isalnum(c) && c != '+' && c != '-' && c != '.')
      return FALSE;
  }
  return TRUE;
}

/* Characters a user part may carry unescaped (RFC 3261 25.1: unreserved / user-unreserved). */
static gboolean user_char_plain(guchar c)
{
  if (g_ascii_isalnum(c))
    return TRUE;
  return c != '\0' && strchr("-_.!~*'()&=+$,;?/", c) != NULL;
}

static gboolean host_char(guchar c)
{
  return g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* %-unescapes s[0..len) into a new string; refuses bad escapes and any control character
 * or NUL in the result, so the user part is always a printable C string. */
static char *unescape_part(const char *s, gsize len, const char *what, GError **error)
{
  GString *out = g_string_sized_new(len + 1);
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)s[i];
    if (c == '%') {
      if (len - i < 3 || !g_ascii_isxdigit(s[i + 1]) || !g_ascii_isxdigit(s[i + 2])) {
        g_string_free(out, TRUE);
        set_invalid(error, "bad %%-escape in the %s at offset %" G_GSIZE_FORMAT, what, i);
        return NULL;
      }
      c = (guchar)(g_ascii_xdigit_value(s[i + 1]) << 4 | g_ascii_xdigit_value(s[i + 2]));
      i += 2;
    }
    if (c < 0x20 || c == 0x7f) {
      g_string_free(out, TRUE);
      set_invalid(error, "control character in the %s", what);
      return NULL;
    }
    g_string_append_c(out, (char)c);
  }
  return g_string_free(out, FALSE);
}

/* Finds the URI inside an optional display name: `"Alice" <sip:...>`, `Alice <sip:...>` or a
 * bare URI. Sets *start and *end (exclusive) within text. */
static gboolean strip_display_name(const char *text, gsize len, gsize *start, gsize *end,
                                   GError **error)
{
  gsize i = 0;
  while (i < len && text[i] == ' ')
    i++;
  gsize j = len;
  while (j > i && text[j - 1] == ' ')
    j--;
  gsize search_from = i;
  if (i < j && text[i] == '"') {
    gsize k = i + 1;
    for (; k < j; k++) {
      if (text[k] == '\\') {
        k++; /* quoted-pair */
        continue;
      }
      if (text[k] == '"')
        break;
    }
    if (k >= j)
      return set_invalid(error, "unterminated quoted display name");
    search_from = k + 1;
  }
  const char *lt = memchr(text + search_from, '<', j - search_from);
  if (lt == NULL) {
    if (search_from != i)
      return set_invalid(error, "display name without <URI>");
    if (memchr(text + i, '>', j - i) != NULL)
      return set_invalid(error, "'>' without '<'");
    *start = i;
    *end = j;
    return TRUE;
  }
  gsize open = (gsize)(lt - text) + 1;
  const char *gt = memchr(text + open, '>', j - open);
  if (gt == NULL)
    return set_invalid(error, "'<' without '>'");
  /* Whatever follows '>' (header parameters such as ;tag=) is not part of the identity. */
  *start = open;
  *end = (gsize)(gt - text);
  return TRUE;
}

static gboolean parse_hostport(const char *s, gsize len, SipUri *uri, GError **error)
{
  gsize host_end;
  gsize i = 0;
  if (len == 0)
    return set_invalid(error, "empty host");
  if (s[0] == '[') {
    /* IPv6 reference */
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return set_invalid(error, "unterminated IPv6 reference");
    host_end = (gsize)(close - s) + 1;
    if (host_end == 2)
      return set_invalid(error, "empty IPv6 reference");
    for (i = 1; i < host_end - 1; i++) {
      if (!g_ascii_isxdigit(s[i]) && s[i] != ':' && s[i] != '.')
        return set_invalid(error, "bad character in IPv6 reference");
    }
  } else {
    for (i = 0; i < len && s[i] != ':'; i++) {
      if (!host_char((guchar)s[i]))
        return set_invalid(error, "bad character in host at offset %" G_GSIZE_FORMAT, i);
    }
    host_end = i;
    if (host_end == 0)
      return set_invalid(error, "empty host");
  }
  if (host_end < len) {
    if (s[host_end] != ':')
      return set_invalid(error, "unexpected character after host");
    gsize plen = len - host_end - 1;
    if (plen == 0)
      return set_invalid(error, "empty port");
    if (plen > 5)
      return set_invalid(error, "port too long");
    for (gsize k = host_end + 1; k < len; k++) {
      if (!g_ascii_isdigit(s[k]))
        return set_invalid(error, "port is not a number");
    }
    uri->port = g_strndup(s + host_end + 1, plen);
  }
  uri->host = g_ascii_strdown(s, (gssize)host_end);
  return TRUE;
}

gboolean sip_uri_parse(const char *text, gsize len, SipUri *uri, GError **error)
{
  g_return_val_if_fail(uri != NULL, FALSE);
  memset(uri, 0, sizeof *uri);
  if (text == NULL)
    return set_invalid(error, "empty");
  if (len == (gsize)-1)
    len = strnlen(text, SIP_URI_MAX_LEN + 1);
  if (len == 0)
    return set_invalid(error, "empty");
  if (len > SIP_URI_MAX_LEN)
    return set_invalid(error, "longer than %d bytes", SIP_URI_MAX_LEN);
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)text[i];
    if (c < 0x20 || c == 0x7f)
      return set_invalid(error, "control character at offset %" G_GSIZE_FORMAT, i);
  }

  gsize start = 0, end = 0;
  if (!strip_display_name(text, len, &start, &end, error))
    return FALSE;
  const char *s = text + start;
  gsize n = end - start;
  if (n == 0)
    return set_invalid(error, "empty");

  /* Outside a display name these never appear unescaped in a URI (RFC 3986 2.2, 2.3); refusing
   * them keeps the normal form parseable as it is. */
  for (gsize i = 0; i < n; i++) {
    if (s[i] == ' ' || s[i] == '<' || s[i] == '>' || s[i] == '"')
      return set_invalid(error, "'%c' inside the URI", s[i]);
  }
  const char *colon = memchr(s, ':', n);
  if (colon == NULL || !scheme_valid(s, (gsize)(colon - s)))
    return set_invalid(error, "no scheme");
  gsize scheme_len = (gsize)(colon - s);
  g_autofree char *scheme = g_ascii_strdown(s, (gssize)scheme_len);
  const char *rest = colon + 1;
  gsize rest_len = n - scheme_len - 1;
  if (rest_len == 0)
    return set_invalid(error, "nothing after the scheme");

  SipUri out = { 0 };
  if (!is_sip_scheme(scheme)) {
    /* Other schemes: byte-exact rest (control characters were refused above). */
    out.scheme = g_steal_pointer(&scheme);
    out.host = g_strndup(rest, rest_len);
    *uri = out;
    return TRUE;
  }

  /* sip/sips: [userinfo "@"] hostport [;params] [?headers]. Neither params nor headers may
   * contain an unescaped '@', while the user part may contain ';' and '?': the first '@'
   * ends the userinfo. */
  const char *at = memchr(rest, '@', rest_len);
  const char *hp = rest;
  gsize hp_len = rest_len;
  if (at != NULL) {
    gsize ulen = (gsize)(at - rest);
    if (ulen == 0)
      return set_invalid(error, "empty user part");
    for (gsize i = 0; i < ulen; i++) {
      guchar c = (guchar)rest[i];
      if (c == ':')
        return set_invalid(error, "password in the user part");
      if (c != '%' && !user_char_plain(c))
        return set_invalid(error, "bad character in the user part at offset %" G_GSIZE_FORMAT, i);
    }
    out.user = unescape_part(rest, ulen, "user part", error);
    if (out.user == NULL)
      return FALSE;
    hp = at + 1;
    hp_len = rest_len - ulen - 1;
  }
  gsize k = 0;
  while (k < hp_len && hp[k] != ';' && hp[k] != '?')
    k++;
  /* Parameters and headers are ignored for identity, but must not hide a second '@'. */
  for (gsize i = k; i < hp_len; i++) {
    if (hp[i] == '@') {
      g_free(out.user);
      return set_invalid(error, "'@' in URI parameters");
    }
  }
  if (!parse_hostport(hp, k, &out, error)) {
    sip_uri_clear(&out);
    return FALSE;
  }
  out.scheme = g_steal_pointer(&scheme);
  *uri = out;
  return TRUE;
}

void sip_uri_clear(SipUri *uri)
{
  if (uri == NULL)
    return;
  g_free(uri->scheme);
  g_free(uri->user);
  g_free(uri->host);
  g_free(uri->port);
  memset(uri, 0, sizeof *uri);
}

/* The user part re-escaped canonically: plain characters as they are, every other byte (and
 * '%') as %XX upper case, so the normal form parses back to the same identity. */
static void append_user_escaped(GString *out, const char *user)
{
  for (const guchar *p = (const guchar *)user; *p; p++) {
    if (user_char_plain(*p))
      g_string_append_c(out, (char)*p);
    else
      g_string_append_printf(out, "%%%02X", *p);
  }
}

static char *uri_to_string(const SipUri *uri)
{
  GString *out = g_string_new(uri->scheme);
  g_string_append_c(out, ':');
  if (!is_sip_scheme(uri->scheme)) {
    g_string_append(out, uri->host);
    return g_string_free(out, FALSE);
  }
  if (uri->user != NULL) {
    append_user_escaped(out, uri->user);
    g_string_append_c(out, '@');
  }
  g_string_append(out, uri->host);
  if (uri->port != NULL)
    g_string_append_printf(out, ":%s", uri->port);
  return g_string_free(out, FALSE);
}

char *sip_uri_normalize(const char *text, GError **error)
{
  SipUri uri;
  if (!sip_uri_parse(text, (gsize)-1, &uri, error))
    return NULL;
  char *s = uri_to_string(&uri);
  sip_uri_clear(&uri);
  return s;
}

static gboolean uri_equal(const SipUri *a, const SipUri *b)
{
  return g_strcmp0(a->scheme, b->scheme) == 0 && g_strcmp0(a->user, b->user) == 0 &&
         g_strcmp0(a->host, b->host) == 0 && g_strcmp0(a->port, b->port) == 0;
}

gboolean sip_uri_equal_len(const char *a, gsize a_len, const char *b, gsize b_len)
{
  SipUri ua, ub;
  if (!sip_uri_parse(a, a_len, &ua, NULL))
    return FALSE;
  if (!sip_uri_parse(b, b_len, &ub, NULL)) {
    sip_uri_clear(&ua);
    return FALSE;
  }
  gboolean eq = uri_equal(&ua, &ub);
  sip_uri_clear(&ua);
  sip_uri_clear(&ub);
  return eq;
}

gboolean sip_uri_equal(const char *a, const char *b)
{
  return sip_uri_equal_len(a, (gsize)-1, b, (gsize)-1);
}

/* ---------------------------------------------------------------------------------------- */
/* Patterns                                                                                 */

typedef struct {
  char *scheme;    /* lower case */
  char *user_glob; /* unescaped; NULL: the pattern matches URIs without a user part */
  char *host_glob; /* lower case, against host[:port]; other schemes: against the rest */
} SipPattern;

static void pattern_clear(SipPattern *p)
{
  g_free(p->scheme);
  g_free(p->user_glob);
  g_free(p->host_glob);
  memset(p, 0, sizeof *p);
}

static gboolean pattern_parse(const char *pattern, SipPattern *out, GError **error)
{
  memset(out, 0, sizeof *out);
  if (pattern == NULL || pattern[0] == '\0')
    return set_invalid(error, "empty pattern");
  gsize len = strnlen(pattern, SIP_URI_MAX_LEN + 1);
  if (len > SIP_URI_MAX_LEN)
    return set_invalid(error, "pattern longer than %d bytes", SIP_URI_MAX_LEN);
  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)pattern[i];
    if (c <= 0x20 || c == 0x7f)
      return set_invalid(error, "control character or space in pattern");
  }
  const char *colon = strchr(pattern, ':');
  if (colon == NULL || !scheme_valid(pattern, (gsize)(colon - pattern)))
    return set_invalid(error, "pattern '%s' has no scheme", pattern);
  const char *rest = colon + 1;
  if (*rest == '\0')
    return set_invalid(error, "pattern '%s' has nothing after the scheme", pattern);
  SipPattern p = { 0 };
  p.scheme = g_ascii_strdown(pattern, colon - pattern);
  if (!is_sip_scheme(p.scheme)) {
    p.host_glob = g_strdup(rest);
    *out = p;
    return TRUE;
  }
  const char *at = strchr(rest, '@');
  const char *host = rest;
  if (at != NULL) {
    gsize ulen = (gsize)(at - rest);
    if (ulen == 0) {
      pattern_clear(&p);
      return set_invalid(error, "pattern '%s' has an empty user glob", pattern);
    }
    for (gsize i = 0; i < ulen; i++) {
      guchar c = (guchar)rest[i];
      if (c != '%' && !user_char_plain(c)) {
        pattern_clear(&p);
        return set_invalid(error, "pattern '%s' has a bad character in its user glob", pattern);
      }
    }
    p.user_glob = unescape_part(rest, ulen, "user glob", error);
    if (p.user_glob == NULL) {
      pattern_clear(&p);
      return FALSE;
    }
    host = at + 1;
  }
  if (*host == '\0') {
    pattern_clear(&p);
    return set_invalid(error, "pattern '%s' has an empty host glob", pattern);
  }
  for (const char *h = host; *h; h++) {
    if (!host_char((guchar)*h) && *h != '*' && *h != ':' && *h != '[' && *h != ']') {
      pattern_clear(&p);
      return set_invalid(error, "pattern '%s' has a bad character in its host glob", pattern);
    }
  }
  p.host_glob = g_ascii_strdown(host, -1);
  *out = p;
  return TRUE;
}

gboolean sip_uri_pattern_valid(const char *pattern, GError **error)
{
  SipPattern p;
  if (!pattern_parse(pattern, &p, error))
    return FALSE;
  pattern_clear(&p);
  return TRUE;
}

gboolean sip_uri_match(const char *pattern, const char *uri)
{
  SipPattern p;
  if (!pattern_parse(pattern, &p, NULL))
    return FALSE;
  SipUri u;
  if (!sip_uri_parse(uri, (gsize)-1, &u, NULL)) {
    pattern_clear(&p);
    return FALSE;
  }
  gboolean match = FALSE;
  if (strcmp(p.scheme, u.scheme) != 0)
    goto out;
  if (!is_sip_scheme(u.scheme)) {
    match = glob_match(p.host_glob, u.host);
    goto out;
  }
  if ((p.user_glob == NULL) != (u.user == NULL))
    goto out;
  if (p.user_glob != NULL && !glob_match(p.user_glob, u.user))
    goto out;
  if (u.port != NULL) {
    g_autofree char *hostport = g_strdup_printf("%s:%s", u.host, u.port);
    match = glob_match(p.host_glob, hostport);
  } else {
    match = glob_match(p.host_glob, u.host);
  }
out:
  pattern_clear(&p);
  sip_uri_clear(&u);
  return match;
}

/* Iterative '*' glob with single backtrack point: O(|pattern| * |text|) worst case, no
 * recursion, so a hostile pattern or text cannot blow the stack or the clock. */
gboolean glob_match(const char *pattern, const char *text)
{
  if (pattern == NULL || text == NULL)
    return FALSE;
  const char *p = pattern, *t = text;
  const char *star = NULL, *star_t = NULL;
  while (*t) {
    if (*p == '*') {
      while (*p == '*')
        p++;
      if (*p == '\0')
        return TRUE;
      star = p;
      star_t = t;
    } else if (*p == *t) {
      p++;
      t++;
    } else if (star != NULL) {
      p = star;
      t = ++star_t;
    } else {
      return FALSE;
    }
  }
  while (*p == '*')
    p++;
  return *p == '\0';
}
