/* The audio session description of profile.md §6/§8 (RFC 4566, RFC 3264, RFC 4567).
 *
 * Parsing treats the body as hostile: the length is checked first (SDP_AUDIO_MAX_BODY), a NUL
 * byte or a CR inside a line is refused, every read is bounded by the length given, every number
 * is range-checked before use, and the work is linear in the body (payload types are looked up
 * through a 128-entry table, not by scanning). Lines are split at LF with one CR before it
 * dropped, as src/mikey/sdp.c does, so m-line indexes agree with mikey_sdp_get_mikey(). */
#include "common/sdpaudio.h"

#include "sdp.h"

#include <arpa/inet.h>
#include <string.h>

G_DEFINE_QUARK(sdp - audio - error - quark, sdp_audio_error)

#define MAX_NUMBER_DIGITS 20
#define MAX_PTIME 10000
#define PT_MAX 127

static gboolean set_error(GError **error, SdpAudioError code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean set_error(GError **error, SdpAudioError code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, SDP_AUDIO_ERROR, code, msg);
  return FALSE;
}

guint sdp_audio_error_warning(const GError *error)
{
  if (error == NULL || error->domain != SDP_AUDIO_ERROR)
    return 0;
  switch ((SdpAudioError)error->code) {
  case SDP_AUDIO_ERR_NO_KEY_MGMT:
  case SDP_AUDIO_ERR_BAD_KEY_MGMT:
  case SDP_AUDIO_ERR_NOT_SAVP:
    return 306;
  case SDP_AUDIO_ERR_MALFORMED:
  case SDP_AUDIO_ERR_TOO_LARGE:
  case SDP_AUDIO_ERR_NO_AUDIO:
  case SDP_AUDIO_ERR_NO_COMMON_CODEC:
  case SDP_AUDIO_ERR_REJECTED:
  case SDP_AUDIO_ERR_INVALID_PARAM:
    break;
  }
  return 399;
}

/* ---- codecs and directions ---- */

const char *sdp_audio_codec_name(SdpAudioCodec codec)
{
  switch (codec) {
  case SDP_AUDIO_CODEC_PCMU:
    return "PCMU";
  case SDP_AUDIO_CODEC_PCMA:
    return "PCMA";
  case SDP_AUDIO_CODEC_TELEPHONE_EVENT:
    return "telephone-event";
  case SDP_AUDIO_CODEC_UNKNOWN:
    break;
  }
  return NULL;
}

static guint8 codec_default_pt(SdpAudioCodec codec)
{
  switch (codec) {
  case SDP_AUDIO_CODEC_PCMA:
    return 8;
  case SDP_AUDIO_CODEC_TELEPHONE_EVENT:
    return SDP_AUDIO_PT_TELEPHONE_EVENT;
  case SDP_AUDIO_CODEC_PCMU:
  case SDP_AUDIO_CODEC_UNKNOWN:
    break;
  }
  return 0;
}

gboolean sdp_audio_formats_parse(const char *list, SdpAudioFormat formats[SDP_AUDIO_MAX_FORMATS],
                                 guint *n_formats, GError **error)
{
  g_return_val_if_fail(list != NULL && formats != NULL && n_formats != NULL, FALSE);
  static const SdpAudioCodec known[] = { SDP_AUDIO_CODEC_PCMU, SDP_AUDIO_CODEC_PCMA,
                                         SDP_AUDIO_CODEC_TELEPHONE_EVENT };
  g_auto(GStrv) names = g_strsplit_set(list, ", \t", -1);
  guint n = 0, seen = 0;
  for (guint i = 0; names[i]; i++) {
    if (names[i][0] == '\0')
      continue;
    SdpAudioCodec codec = SDP_AUDIO_CODEC_UNKNOWN;
    for (guint k = 0; k < G_N_ELEMENTS(known); k++)
      if (g_ascii_strcasecmp(names[i], sdp_audio_codec_name(known[k])) == 0)
        codec = known[k];
    if (codec == SDP_AUDIO_CODEC_UNKNOWN) {
      g_autofree char *name = g_utf8_make_valid(names[i], -1);
      return set_error(error, SDP_AUDIO_ERR_INVALID_PARAM,
                       "codec list \"%s\": unknown codec \"%s\" (known: PCMU, PCMA, "
                       "telephone-event)",
                       list, name);
    }
    if (seen & codec)
      return set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "codec list \"%s\": %s given twice",
                       list, sdp_audio_codec_name(codec));
    seen |= codec;
    formats[n].pt = codec_default_pt(codec);
    formats[n].codec = codec;
    n++;
  }
  if (!(seen & SDP_AUDIO_CODECS_DEFAULT))
    return set_error(error, SDP_AUDIO_ERR_INVALID_PARAM,
                     "codec list \"%s\": needs PCMU or PCMA (profile §8)", list);
  *n_formats = n;
  return TRUE;
}

static const char *const direction_names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

const char *sdp_audio_direction_name(SdpAudioDirection direction)
{
  if ((guint)direction < G_N_ELEMENTS(direction_names))
    return direction_names[direction];
  return direction_names[0];
}

static gboolean direction_from_text(const char *name, gsize len, SdpAudioDirection *direction)
{
  for (guint i = 0; i < G_N_ELEMENTS(direction_names); i++) {
    if (strlen(direction_names[i]) == len && memcmp(direction_names[i], name, len) == 0) {
      *direction = (SdpAudioDirection)i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean sdp_audio_direction_from_name(const char *name, SdpAudioDirection *direction)
{
  g_return_val_if_fail(name != NULL && direction != NULL, FALSE);
  return direction_from_text(name, strlen(name), direction);
}

static gboolean dir_sends(SdpAudioDirection d)
{
  return d == SDP_AUDIO_SENDRECV || d == SDP_AUDIO_SENDONLY;
}

static gboolean dir_receives(SdpAudioDirection d)
{
  return d == SDP_AUDIO_SENDRECV || d == SDP_AUDIO_RECVONLY;
}

static SdpAudioDirection dir_make(gboolean send, gboolean recv)
{
  if (send && recv)
    return SDP_AUDIO_SENDRECV;
  if (send)
    return SDP_AUDIO_SENDONLY;
  if (recv)
    return SDP_AUDIO_RECVONLY;
  return SDP_AUDIO_INACTIVE;
}

SdpAudioDirection sdp_audio_direction_answer(SdpAudioDirection offered, SdpAudioDirection local)
{
  return dir_make(dir_receives(offered) && dir_sends(local),
                  dir_sends(offered) && dir_receives(local));
}

/* ---- description ---- */

static void payload_clear(gpointer p)
{
  SdpAudioPayload *pl = p;
  g_free(pl->encoding);
  g_free(pl->fmtp);
}

static void media_free(gpointer p)
{
  SdpAudioMedia *m = p;
  if (!m)
    return;
  g_free(m->media);
  g_free(m->proto);
  g_free(m->fmt);
  g_free(m);
}

void sdp_audio_desc_free(SdpAudioDesc *desc)
{
  if (!desc)
    return;
  g_free(desc->proto);
  g_free(desc->addr);
  if (desc->payloads)
    g_array_unref(desc->payloads);
  if (desc->mikey)
    g_bytes_unref(desc->mikey);
  g_free(desc->key_mgmt_ids);
  if (desc->media)
    g_ptr_array_unref(desc->media);
  g_free(desc);
}

const SdpAudioPayload *sdp_audio_desc_payload(const SdpAudioDesc *desc, guint8 pt)
{
  g_return_val_if_fail(desc != NULL, NULL);
  for (guint i = 0; desc->payloads && i < desc->payloads->len; i++) {
    const SdpAudioPayload *pl = &g_array_index(desc->payloads, SdpAudioPayload, i);
    if (pl->pt == pt)
      return pl;
  }
  return NULL;
}

/* ---- lexical helpers (all bounded by an explicit length) ---- */

typedef struct {
  const char *p;
  gsize n;
} Span;

static gboolean span_eq(Span s, const char *lit)
{
  gsize n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

static gboolean is_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* Splits s at runs of blanks into at most max fields; returns the count, or max + 1 when there
 * are more fields than max (the last field then is not split further). */
static guint split_fields(Span s, Span *fields, guint max)
{
  guint count = 0;
  gsize i = 0;
  while (i < s.n) {
    while (i < s.n && is_blank(s.p[i]))
      i++;
    if (i >= s.n)
      break;
    if (count == max)
      return max + 1;
    gsize start = i;
    while (i < s.n && !is_blank(s.p[i]))
      i++;
    fields[count].p = s.p + start;
    fields[count].n = i - start;
    count++;
  }
  return count;
}

/* Splits s at every '/' into at most max parts; returns the count, max + 1 when there are
 * more. */
static guint split_slash(Span s, Span *parts, guint max)
{
  guint count = 0;
  while (TRUE) {
    if (count == max)
      return max + 1;
    const char *slash = memchr(s.p, '/', s.n);
    parts[count].p = s.p;
    parts[count].n = slash ? (gsize)(slash - s.p) : s.n;
    count++;
    if (!slash)
      return count;
    s.n -= parts[count - 1].n + 1;
    s.p = slash + 1;
  }
}

/* Everything after the first field and the blanks following it (for a=fmtp parameters). */
static Span rest_after_first(Span s)
{
  gsize i = 0;
  while (i < s.n && is_blank(s.p[i]))
    i++;
  while (i < s.n && !is_blank(s.p[i]))
    i++;
  while (i < s.n && is_blank(s.p[i]))
    i++;
  Span r = { s.p + i, s.n - i };
  while (r.n > 0 && is_blank(r.p[r.n - 1]))
    r.n--;
  return r;
}

/* 1*DIGIT, at most MAX_NUMBER_DIGITS digits, value <= max. */
static gboolean parse_uint(Span s, guint64 max, guint64 *out)
{
  if (s.n == 0 || s.n > MAX_NUMBER_DIGITS)
    return FALSE;
  guint64 v = 0;
  for (gsize i = 0; i < s.n; i++) {
    if (!g_ascii_isdigit(s.p[i]))
      return FALSE;
    guint d = (guint)(s.p[i] - '0');
    if (v > (max - d) / 10)
      return FALSE;
    v = v * 10 + d;
  }
  *out = v;
  return TRUE;
}

/* Visible ASCII, no blanks: what this parser accepts for tokens it keeps or writes back
 * (media, proto, formats, encoding names). */
static gboolean is_token(Span s)
{
  if (s.n == 0)
    return FALSE;
  for (gsize i = 0; i < s.n; i++)
    if ((guchar)s.p[i] <= 0x20 || (guchar)s.p[i] >= 0x7F)
      return FALSE;
  return TRUE;
}

/* A short printable copy of a span for error messages. */
static char *shown(Span s)
{
  gsize n = MIN(s.n, 64);
  GString *out = g_string_sized_new(n + 4);
  for (gsize i = 0; i < n; i++) {
    guchar c = (guchar)s.p[i];
    if (c >= 0x20 && c < 0x7F && c != '\\')
      g_string_append_c(out, (char)c);
    else
      g_string_append_printf(out, "\\x%02x", c);
  }
  if (s.n > n)
    g_string_append(out, "...");
  return g_string_free(out, FALSE);
}

/* Checks an IP literal of the given type; *len of the literal must be < 64. */
static gboolean ip_literal_ok(Span s, SdpAudioAddrType type)
{
  char buf[64];
  guint8 addr[16];
  if (s.n == 0 || s.n >= sizeof buf)
    return FALSE;
  memcpy(buf, s.p, s.n);
  buf[s.n] = '\0';
  return inet_pton(type == SDP_AUDIO_IP6 ? AF_INET6 : AF_INET, buf, addr) == 1;
}

/* ---- lines ---- */

typedef struct {
  char type;
  Span value;
  guint lineno;
  int block; /* -1 = session level, else the m-line index */
} Line;

/* Line types of RFC 4566 §5; a parser must not accept others. */
static gboolean type_known(char t)
{
  return strchr("vosiuepcbtrzkam", t) != NULL;
}

/* Types allowed after the first m= line (RFC 4566 §5: i, c, b, k, a). */
static gboolean type_media_level(char t)
{
  return strchr("icbka", t) != NULL;
}

static gboolean split_lines(const char *sdp, gsize len, GArray *lines, GError **error)
{
  gsize pos = 0;
  guint lineno = 0;
  int block = -1;
  while (pos < len) {
    const char *begin = sdp + pos;
    gsize avail = len - pos;
    const char *nl = memchr(begin, '\n', avail);
    gsize content = nl ? (gsize)(nl - begin) : avail;
    pos += nl ? content + 1 : content;
    lineno++;
    if (content > 0 && begin[content - 1] == '\r')
      content--;
    if (content == 0)
      continue; /* tolerated, as src/mikey/sdp.c does */
    Span line = { begin, content };
    const char *cr = memchr(line.p, '\r', line.n);
    if (cr)
      return set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: CR inside a line", lineno);
    if (line.n < 2 || line.p[1] != '=' || !g_ascii_islower(line.p[0])) {
      g_autofree char *s = shown(line);
      return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                       "SDP line %u: \"%s\" is not an SDP line (<type>=<value>)", lineno, s);
    }
    char type = line.p[0];
    if (!type_known(type))
      return set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: unknown line type '%c='",
                       lineno, type);
    if (type == 'm')
      block++;
    else if (block >= 0 && !type_media_level(type))
      return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                       "SDP line %u: '%c=' is a session-level line, after an m= line", lineno,
                       type);
    Line l = { type, { line.p + 2, line.n - 2 }, lineno, block };
    g_array_append_val(lines, l);
  }
  return TRUE;
}

/* An attribute "a=<name>[:<value>]". */
static void attr_split(Span v, Span *name, Span *value, gboolean *has_value)
{
  const char *colon = memchr(v.p, ':', v.n);
  if (colon) {
    name->p = v.p;
    name->n = (gsize)(colon - v.p);
    value->p = colon + 1;
    value->n = v.n - name->n - 1;
    *has_value = TRUE;
  } else {
    *name = v;
    value->p = v.p + v.n;
    value->n = 0;
    *has_value = FALSE;
  }
}

/* ---- parsing pieces ---- */

static gboolean parse_origin(const Line *l, SdpAudioDesc *desc, GError **error)
{
  Span f[6];
  guint n = split_fields(l->value, f, 6);
  if (n != 6)
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: o= needs 6 fields (<username> <sess-id> <sess-version> IN "
                     "<addrtype> <address>)",
                     l->lineno);
  /* RFC 3264 §5: both representable as a 64-bit signed integer. */
  if (!parse_uint(f[1], G_MAXINT64, &desc->sess_id) ||
      !parse_uint(f[2], G_MAXINT64, &desc->sess_version))
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: o= sess-id and sess-version must be numbers below 2^63",
                     l->lineno);
  if (!span_eq(f[3], "IN") || !(span_eq(f[4], "IP4") || span_eq(f[4], "IP6")) || !is_token(f[5]) ||
      !is_token(f[0]))
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: o= expects network type IN and address type IP4 or IP6",
                     l->lineno);
  return TRUE;
}

/* c=IN IP4 <addr>[/<ttl>[/<n>]] or c=IN IP6 <addr>[/<n>] */
static gboolean parse_connection(const Line *l, SdpAudioAddrType *type, char **addr, GError **error)
{
  Span f[3];
  guint n = split_fields(l->value, f, 3);
  if (n != 3 || !span_eq(f[0], "IN"))
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: c= must be \"IN IP4|IP6 <address>\"", l->lineno);
  SdpAudioAddrType t;
  if (span_eq(f[1], "IP4"))
    t = SDP_AUDIO_IP4;
  else if (span_eq(f[1], "IP6"))
    t = SDP_AUDIO_IP6;
  else {
    g_autofree char *s = shown(f[1]);
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: c= address type \"%s\" (expected IP4 or IP6)", l->lineno, s);
  }
  /* <address>, then multicast suffixes: IP4 /ttl[/count], IP6 /count */
  Span parts[3];
  guint np = split_slash(f[2], parts, 3);
  gboolean suffix_ok = np <= (t == SDP_AUDIO_IP4 ? 3u : 2u);
  for (guint i = 1; suffix_ok && i < np; i++) {
    guint64 v;
    suffix_ok = parse_uint(parts[i], 65535, &v);
  }
  if (!suffix_ok)
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: c= bad multicast suffix after the address", l->lineno);
  Span a = parts[0];
  if (!ip_literal_ok(a, t)) {
    g_autofree char *s = shown(a);
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: c= address \"%s\" is not an IP%d literal", l->lineno, s, t);
  }
  *type = t;
  *addr = g_strndup(a.p, a.n);
  return TRUE;
}

typedef struct {
  SdpAudioMedia *m;
  guint port_count;
  Span fmts; /* the whole format list */
} MediaLine;

/* m=<media> <port>[/<count>] <proto> <fmt> ... */
static gboolean parse_media(const Line *l, MediaLine *out, GError **error)
{
  Span f[4];
  guint n = split_fields(l->value, f, 3);
  if (n < 4) /* n == 4 means "more than 3": at least one format */
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: m= needs <media> <port> <proto> <fmt> ...", l->lineno);
  if (!is_token(f[0]) || !is_token(f[2])) {
    return set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: m= bad media or proto",
                     l->lineno);
  }
  Span pc[2];
  guint np = split_slash(f[1], pc, 2);
  guint64 port_v, count_v = 1;
  if (np > 2 || !parse_uint(pc[0], 65535, &port_v) ||
      (np == 2 && (!parse_uint(pc[1], 65535, &count_v) || count_v == 0))) {
    g_autofree char *s = shown(f[1]);
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: m= port \"%s\" is not a number 0..65535[/count]", l->lineno, s);
  }
  /* The formats: everything after proto. */
  Span fmts = { f[2].p + f[2].n, (gsize)(l->value.p + l->value.n - (f[2].p + f[2].n)) };
  while (fmts.n > 0 && is_blank(fmts.p[0])) {
    fmts.p++;
    fmts.n--;
  }
  while (fmts.n > 0 && is_blank(fmts.p[fmts.n - 1]))
    fmts.n--;
  Span first = { fmts.p, 0 };
  split_fields(fmts, &first, 1);
  SdpAudioMedia *m = g_new0(SdpAudioMedia, 1);
  m->media = g_strndup(f[0].p, f[0].n);
  m->port = (guint16)port_v;
  m->proto = g_strndup(f[2].p, f[2].n);
  m->fmt = g_strndup(first.p, first.n);
  out->m = m;
  out->port_count = (guint)count_v;
  out->fmts = fmts;
  return TRUE;
}

/* a=rtpmap:<pt> <encoding>/<rate>[/<channels>] */
static gboolean parse_rtpmap(const Line *l, Span value, guint8 *pt, Span *enc, guint32 *rate,
                             guint *channels, GError **error)
{
  Span f[2];
  guint64 v;
  if (split_fields(value, f, 2) != 2 || !parse_uint(f[0], PT_MAX, &v))
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: a=rtpmap must be <payload type> <encoding>/<rate>", l->lineno);
  *pt = (guint8)v;
  Span parts[3];
  guint np = split_slash(f[1], parts, 3);
  guint64 r, c = 1;
  if (np < 2 || np > 3 || !is_token(parts[0]) || !parse_uint(parts[1], G_MAXUINT32, &r) ||
      (np == 3 && !parse_uint(parts[2], 255, &c)))
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: a=rtpmap:%u must be <encoding>/<rate>[/<channels>]", l->lineno,
                     (guint)*pt);
  *enc = parts[0];
  *rate = (guint32)r;
  *channels = (guint)c;
  return TRUE;
}

static SdpAudioCodec codec_identify(const char *enc, guint32 rate, guint channels)
{
  if (rate != 8000 || channels != 1)
    return SDP_AUDIO_CODEC_UNKNOWN;
  if (g_ascii_strcasecmp(enc, "PCMU") == 0)
    return SDP_AUDIO_CODEC_PCMU;
  if (g_ascii_strcasecmp(enc, "PCMA") == 0)
    return SDP_AUDIO_CODEC_PCMA;
  if (g_ascii_strcasecmp(enc, "telephone-event") == 0)
    return SDP_AUDIO_CODEC_TELEPHONE_EVENT;
  return SDP_AUDIO_CODEC_UNKNOWN;
}

/* The payload types of an RTP m-line into desc->payloads; pt_index[pt] = position or -1. */
static gboolean parse_payload_types(const Line *l, Span fmts, SdpAudioDesc *desc, gint16 *pt_index,
                                    GError **error)
{
  gsize i = 0;
  while (i < fmts.n) {
    while (i < fmts.n && is_blank(fmts.p[i]))
      i++;
    if (i >= fmts.n)
      break;
    gsize start = i;
    while (i < fmts.n && !is_blank(fmts.p[i]))
      i++;
    Span tok = { fmts.p + start, i - start };
    guint64 pt;
    if (!parse_uint(tok, PT_MAX, &pt)) {
      g_autofree char *s = shown(tok);
      return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                       "SDP line %u: RTP payload type \"%s\" is not a number 0..127", l->lineno, s);
    }
    if (pt_index[pt] >= 0)
      return set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: payload type %u listed twice",
                       l->lineno, (guint)pt);
    pt_index[pt] = (gint16)desc->payloads->len;
    SdpAudioPayload pl = { 0 };
    pl.pt = (guint8)pt;
    pl.channels = 1;
    g_array_append_val(desc->payloads, pl);
  }
  return TRUE;
}

static gboolean parse_ptime(const Line *l, Span value, guint *ptime, GError **error)
{
  /* Integer milliseconds; a decimal fraction ("20.0") is tolerated and dropped. */
  Span v = value;
  while (v.n > 0 && is_blank(v.p[v.n - 1]))
    v.n--;
  const char *dot = memchr(v.p, '.', v.n);
  Span whole = { v.p, dot ? (gsize)(dot - v.p) : v.n };
  guint64 ms;
  gboolean ok = parse_uint(whole, MAX_PTIME, &ms);
  if (ok && dot) {
    Span frac = { dot + 1, v.n - whole.n - 1 };
    guint64 ignored;
    ok = frac.n <= 9 && parse_uint(frac, G_MAXUINT64, &ignored);
  }
  if (!ok)
    return set_error(error, SDP_AUDIO_ERR_MALFORMED,
                     "SDP line %u: a=ptime must be a number of milliseconds up to %u", l->lineno,
                     MAX_PTIME);
  *ptime = (guint)ms;
  return TRUE;
}

/* Which m-line is the audio stream (see SdpAudioDesc). */
static int choose_audio(GPtrArray *media)
{
  int first = -1, with_port = -1;
  for (guint i = 0; i < media->len; i++) {
    const SdpAudioMedia *m = media->pdata[i];
    if (strcmp(m->media, "audio") != 0)
      continue;
    if (m->port != 0 && strcmp(m->proto, "RTP/SAVP") == 0)
      return (int)i;
    if (first < 0)
      first = (int)i;
    if (with_port < 0 && m->port != 0)
      with_port = (int)i;
  }
  return with_port >= 0 ? with_port : first;
}

SdpAudioDesc *sdp_audio_parse(const char *sdp, gsize len, GError **error)
{
  g_return_val_if_fail(sdp != NULL || len == 0, NULL);
  if (len > SDP_AUDIO_MAX_BODY) {
    set_error(error, SDP_AUDIO_ERR_TOO_LARGE,
              "SDP body of %" G_GSIZE_FORMAT " bytes (at most %u accepted)", len,
              SDP_AUDIO_MAX_BODY);
    return NULL;
  }
  if (len == 0) {
    set_error(error, SDP_AUDIO_ERR_MALFORMED, "empty SDP body");
    return NULL;
  }
  const char *nul = memchr(sdp, '\0', len);
  if (nul) {
    set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP body has a NUL byte at offset %" G_GSIZE_FORMAT,
              (gsize)(nul - sdp));
    return NULL;
  }

  g_autoptr(GArray) lines = g_array_new(FALSE, FALSE, sizeof(Line));
  if (!split_lines(sdp, len, lines, error))
    return NULL;
  if (lines->len == 0 || g_array_index(lines, Line, 0).type != 'v' ||
      !span_eq(g_array_index(lines, Line, 0).value, "0")) {
    set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP must start with v=0");
    return NULL;
  }

  g_autoptr(SdpAudioDesc) desc = g_new0(SdpAudioDesc, 1);
  desc->payloads = g_array_new(FALSE, TRUE, sizeof(SdpAudioPayload));
  g_array_set_clear_func(desc->payloads, payload_clear);
  desc->media = g_ptr_array_new_with_free_func(media_free);

  /* Pass 1: session-level lines that need no m-line context, and every m-line. */
  g_autoptr(GArray) media_lines = g_array_new(FALSE, FALSE, sizeof(MediaLine));
  guint n_origin = 0, n_version = 0;
  for (guint i = 0; i < lines->len; i++) {
    const Line *l = &g_array_index(lines, Line, i);
    if (l->type == 'v' && ++n_version > 1) {
      set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second v= line", l->lineno);
      return NULL;
    }
    if (l->type == 'o') {
      if (++n_origin > 1) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second o= line", l->lineno);
        return NULL;
      }
      if (!parse_origin(l, desc, error))
        return NULL;
    }
    if (l->type == 'm') {
      MediaLine ml = { 0 };
      if (!parse_media(l, &ml, error))
        return NULL;
      g_ptr_array_add(desc->media, ml.m);
      g_array_append_val(media_lines, ml);
    }
  }
  if (n_origin == 0) {
    set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP has no o= line");
    return NULL;
  }
  int audio = choose_audio(desc->media);
  if (audio < 0) {
    set_error(error, SDP_AUDIO_ERR_NO_AUDIO, "SDP has no m=audio line (%u m-lines)",
              desc->media->len);
    return NULL;
  }
  const SdpAudioMedia *am = desc->media->pdata[audio];
  const MediaLine *aml = &g_array_index(media_lines, MediaLine, audio);
  desc->audio_index = (guint)audio;
  desc->port = am->port;
  desc->port_count = aml->port_count;
  desc->proto = g_strdup(am->proto);
  desc->savp = strcmp(am->proto, "RTP/SAVP") == 0;

  gint16 pt_index[PT_MAX + 1];
  for (guint i = 0; i <= PT_MAX; i++)
    pt_index[i] = -1;
  gboolean rtp = g_str_has_prefix(am->proto, "RTP/");

  /* Pass 2: the session level and the audio block. */
  SdpAudioAddrType session_type = SDP_AUDIO_IP4, media_type = SDP_AUDIO_IP4;
  g_autofree char *session_addr = NULL, *media_addr = NULL;
  gboolean session_dir_set = FALSE, media_dir_set = FALSE, ptime_set = FALSE;
  SdpAudioDirection session_dir = SDP_AUDIO_SENDRECV, media_dir = SDP_AUDIO_SENDRECV;
  for (guint i = 0; i < lines->len; i++) {
    const Line *l = &g_array_index(lines, Line, i);
    gboolean in_audio = l->block == audio;
    if (l->block >= 0 && !in_audio)
      continue;
    if (l->type == 'm') {
      const Line *ml = l;
      if (rtp && !parse_payload_types(ml, aml->fmts, desc, pt_index, error))
        return NULL;
      continue;
    }
    if (l->type == 'c') {
      char **slot = in_audio ? &media_addr : &session_addr;
      SdpAudioAddrType *type = in_audio ? &media_type : &session_type;
      if (*slot) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second c= line at the %s level",
                  l->lineno, in_audio ? "audio m-line" : "session");
        return NULL;
      }
      if (!parse_connection(l, type, slot, error))
        return NULL;
      continue;
    }
    if (l->type != 'a')
      continue;
    Span name, value;
    gboolean has_value;
    attr_split(l->value, &name, &value, &has_value);
    SdpAudioDirection dir;
    if (direction_from_text(name.p, name.n, &dir)) {
      gboolean *set = in_audio ? &media_dir_set : &session_dir_set;
      if (has_value || *set) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED,
                  has_value ? "SDP line %u: a=%s takes no value"
                            : "SDP line %u: a second direction attribute (a=%s) at one level",
                  l->lineno, sdp_audio_direction_name(dir));
        return NULL;
      }
      *set = TRUE;
      *(in_audio ? &media_dir : &session_dir) = dir;
      continue;
    }
    if (!in_audio)
      continue;
    if (span_eq(name, "rtpmap") && rtp) {
      guint8 pt = 0;
      Span enc = { NULL, 0 };
      guint32 rate = 0;
      guint channels = 1;
      if (!parse_rtpmap(l, value, &pt, &enc, &rate, &channels, error))
        return NULL;
      if (pt_index[pt] < 0)
        continue; /* not one of the m-line's payload types */
      SdpAudioPayload *pl = &g_array_index(desc->payloads, SdpAudioPayload, pt_index[pt]);
      if (pl->encoding) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second a=rtpmap for %u",
                  l->lineno, (guint)pt);
        return NULL;
      }
      pl->encoding = g_strndup(enc.p, enc.n);
      pl->rate = rate;
      pl->channels = channels;
    } else if (span_eq(name, "fmtp") && rtp) {
      Span f[1];
      guint64 pt;
      if (split_fields(value, f, 1) < 1 || !parse_uint(f[0], PT_MAX, &pt)) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED,
                  "SDP line %u: a=fmtp must be <payload type> <parameters>", l->lineno);
        return NULL;
      }
      if (pt_index[pt] < 0)
        continue;
      SdpAudioPayload *pl = &g_array_index(desc->payloads, SdpAudioPayload, pt_index[pt]);
      if (pl->fmtp) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second a=fmtp for %u", l->lineno,
                  (guint)pt);
        return NULL;
      }
      Span params = rest_after_first(value);
      pl->fmtp = g_strndup(params.p, params.n);
    } else if (span_eq(name, "ptime")) {
      if (ptime_set) {
        set_error(error, SDP_AUDIO_ERR_MALFORMED, "SDP line %u: a second a=ptime", l->lineno);
        return NULL;
      }
      if (!parse_ptime(l, value, &desc->ptime, error))
        return NULL;
      ptime_set = TRUE;
    }
  }

  if (media_addr) {
    desc->addr = g_steal_pointer(&media_addr);
    desc->addr_type = media_type;
  } else if (session_addr) {
    desc->addr = g_steal_pointer(&session_addr);
    desc->addr_type = session_type;
  } else {
    set_error(error, SDP_AUDIO_ERR_MALFORMED,
              "SDP has no c= line for the audio stream (session or media level)");
    return NULL;
  }
  desc->direction = media_dir_set ? media_dir : session_dir;

  /* Codecs: the a=rtpmap if any, else the static payload types of RFC 3551. */
  for (guint i = 0; i < desc->payloads->len; i++) {
    SdpAudioPayload *pl = &g_array_index(desc->payloads, SdpAudioPayload, i);
    if (pl->encoding) {
      pl->codec = codec_identify(pl->encoding, pl->rate, pl->channels);
    } else if (pl->pt == 0 || pl->pt == 8) {
      pl->codec = pl->pt == 0 ? SDP_AUDIO_CODEC_PCMU : SDP_AUDIO_CODEC_PCMA;
      pl->rate = 8000;
    }
  }

  g_autoptr(GError) km_error = NULL;
  desc->mikey = mikey_sdp_get_mikey(sdp, len, audio, &km_error);
  if (km_error) {
    set_error(error, SDP_AUDIO_ERR_BAD_KEY_MGMT, "%s", km_error->message);
    return NULL;
  }
  desc->key_mgmt_ids = mikey_sdp_protocol_ids(sdp, len);
  return g_steal_pointer(&desc);
}

/* ---- keys and negotiation ---- */

gboolean sdp_audio_offer_keys(const SdpAudioDesc *offer, gboolean dialog_keyed, SdpAudioKeys *keys,
                              GError **error)
{
  g_return_val_if_fail(keys != NULL, FALSE);
  if (offer && offer->mikey) {
    *keys = SDP_AUDIO_KEYS_NEW;
    return TRUE;
  }
  if (offer && offer->key_mgmt_ids && offer->key_mgmt_ids[0]) {
    g_autofree char *ids = g_utf8_make_valid(offer->key_mgmt_ids, -1);
    return set_error(error, SDP_AUDIO_ERR_NO_KEY_MGMT,
                     "the offer has a=key-mgmt (%s) but no a=key-mgmt:mikey for the audio stream",
                     ids);
  }
  if (!dialog_keyed)
    return set_error(error, SDP_AUDIO_ERR_NO_KEY_MGMT,
                     offer ? "the offer has no a=key-mgmt:mikey (required to set up keys, "
                             "profile §6)"
                           : "no SDP offer, and the dialog has no keys yet (profile §7.3)");
  *keys = SDP_AUDIO_KEYS_KEEP;
  return TRUE;
}

gboolean sdp_audio_negotiate(const SdpAudioDesc *offer, const SdpAudioNegotiateOptions *options,
                             SdpAudioAnswer *answer, GError **error)
{
  g_return_val_if_fail(offer != NULL && answer != NULL, FALSE);
  SdpAudioNegotiateOptions defaults = { 0 };
  if (!options)
    options = &defaults;
  guint codecs = options->codecs ? options->codecs : SDP_AUDIO_CODECS_DEFAULT;
  codecs &= SDP_AUDIO_CODEC_PCMU | SDP_AUDIO_CODEC_PCMA;

  memset(answer, 0, sizeof *answer);
  if (offer->port != 0 && !offer->savp) {
    g_autofree char *proto = g_utf8_make_valid(offer->proto, -1);
    return set_error(error, SDP_AUDIO_ERR_NOT_SAVP,
                     "the audio stream is %s, not RTP/SAVP (profile §6)", proto);
  }
  if (!sdp_audio_offer_keys(offer, options->dialog_keyed, &answer->keys, error))
    return FALSE;
  answer->direction = sdp_audio_direction_answer(offer->direction, options->direction);

  if (offer->port == 0) {
    answer->rejected = TRUE;
    answer->direction = SDP_AUDIO_INACTIVE;
    if (offer->payloads->len > 0) {
      const SdpAudioPayload *pl = &g_array_index(offer->payloads, SdpAudioPayload, 0);
      answer->formats[0].pt = pl->pt;
      answer->formats[0].codec = pl->codec;
      answer->n_formats = 1;
    }
    return TRUE;
  }

  gboolean chosen = FALSE;
  for (guint i = 0; i < offer->payloads->len; i++) {
    const SdpAudioPayload *pl = &g_array_index(offer->payloads, SdpAudioPayload, i);
    if (!chosen && (pl->codec & codecs)) {
      answer->codec.pt = pl->pt;
      answer->codec.codec = pl->codec;
      chosen = TRUE;
    } else if (!answer->telephone_event && pl->codec == SDP_AUDIO_CODEC_TELEPHONE_EVENT) {
      answer->telephone_event = TRUE;
      answer->telephone_event_pt = pl->pt;
    }
  }
  if (!chosen) {
    GString *list = g_string_new(NULL);
    for (guint i = 0; i < offer->payloads->len && i < 16; i++) {
      const SdpAudioPayload *pl = &g_array_index(offer->payloads, SdpAudioPayload, i);
      g_autofree char *enc = pl->encoding ? g_utf8_make_valid(pl->encoding, -1) : NULL;
      g_string_append_printf(list, "%s%u%s%s", i ? " " : "", (guint)pl->pt, enc ? "/" : "",
                             enc ? enc : "");
    }
    if (offer->payloads->len > 16)
      g_string_append(list, " ...");
    if (offer->payloads->len == 0)
      g_string_append(list, "none");
    set_error(error, SDP_AUDIO_ERR_NO_COMMON_CODEC,
              "no common codec: offered %s; supported PCMU/8000, PCMA/8000", list->str);
    g_string_free(list, TRUE);
    return FALSE;
  }
  answer->formats[answer->n_formats++] = answer->codec;
  if (answer->telephone_event) {
    SdpAudioFormat te = { answer->telephone_event_pt, SDP_AUDIO_CODEC_TELEPHONE_EVENT };
    answer->formats[answer->n_formats++] = te;
  }
  return TRUE;
}

gboolean sdp_audio_check_answer(const SdpAudioDesc *answer, const SdpAudioFormat *offered,
                                guint n_offered, gboolean offered_mikey, SdpAudioFormat *codec,
                                GError **error)
{
  g_return_val_if_fail(answer != NULL && (offered != NULL || n_offered == 0), FALSE);
  if (answer->port == 0)
    return set_error(error, SDP_AUDIO_ERR_REJECTED,
                     "the answer rejected the audio stream (port 0)");
  if (!answer->savp) {
    g_autofree char *proto = g_utf8_make_valid(answer->proto, -1);
    return set_error(error, SDP_AUDIO_ERR_NOT_SAVP, "the answer's audio stream is %s, not RTP/SAVP",
                     proto);
  }
  if (offered_mikey && !answer->mikey)
    return set_error(error, SDP_AUDIO_ERR_NO_KEY_MGMT,
                     "the answer has no a=key-mgmt:mikey for our offer's TRANSFER_INIT");
  guint ours = 0;
  for (guint i = 0; i < n_offered; i++)
    ours |= offered[i].codec;
  ours &= SDP_AUDIO_CODEC_PCMU | SDP_AUDIO_CODEC_PCMA;
  for (guint i = 0; i < answer->payloads->len; i++) {
    const SdpAudioPayload *pl = &g_array_index(answer->payloads, SdpAudioPayload, i);
    if (pl->codec & ours) {
      if (codec) {
        codec->pt = pl->pt;
        codec->codec = pl->codec;
      }
      return TRUE;
    }
  }
  return set_error(error, SDP_AUDIO_ERR_NO_COMMON_CODEC,
                   "the answer names none of the codecs we offered");
}

/* ---- building ---- */

static gboolean addr_type_of(const char *addr, SdpAudioAddrType *type)
{
  if (!addr)
    return FALSE;
  Span s = { addr, strlen(addr) };
  if (ip_literal_ok(s, SDP_AUDIO_IP4)) {
    *type = SDP_AUDIO_IP4;
    return TRUE;
  }
  if (ip_literal_ok(s, SDP_AUDIO_IP6)) {
    *type = SDP_AUDIO_IP6;
    return TRUE;
  }
  return FALSE;
}

static void append_audio(GString *out, const SdpAudioParams *p)
{
  const SdpAudioDesc *offer = p->offer;
  if (p->port == 0 && offer) {
    /* A rejected stream of an answer mirrors the offer's m-line (RFC 3264 §6). */
    const SdpAudioMedia *m = offer->media->pdata[offer->audio_index];
    g_string_append_printf(out, "m=audio 0 %s", m->proto);
    if (p->n_formats == 0)
      g_string_append_printf(out, " %s", m->fmt);
    for (guint i = 0; i < p->n_formats; i++)
      g_string_append_printf(out, " %u", (guint)p->formats[i].pt);
    g_string_append(out, "\r\n");
    return;
  }
  g_string_append_printf(out, "m=audio %u RTP/SAVP", (guint)p->port);
  for (guint i = 0; i < p->n_formats; i++)
    g_string_append_printf(out, " %u", (guint)p->formats[i].pt);
  g_string_append(out, "\r\n");
  for (guint i = 0; i < p->n_formats; i++) {
    const char *name = sdp_audio_codec_name(p->formats[i].codec);
    if (name)
      g_string_append_printf(out, "a=rtpmap:%u %s/8000\r\n", (guint)p->formats[i].pt, name);
  }
  for (guint i = 0; i < p->n_formats; i++)
    if (p->formats[i].codec == SDP_AUDIO_CODEC_TELEPHONE_EVENT)
      g_string_append_printf(out, "a=fmtp:%u 0-15\r\n", (guint)p->formats[i].pt);
  if (p->ptime)
    g_string_append_printf(out, "a=ptime:%u\r\n", p->ptime);
  g_string_append_printf(out, "a=%s\r\n", sdp_audio_direction_name(p->direction));
}

char *sdp_audio_build(const SdpAudioParams *p, gsize *len, GError **error)
{
  g_return_val_if_fail(p != NULL, NULL);
  SdpAudioAddrType type;
  if (!addr_type_of(p->addr, &type)) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "local media address \"%s\" is not an IP literal",
              p->addr ? p->addr : "(none)");
    return NULL;
  }
  if (p->sess_id > G_MAXINT64 || p->version > G_MAXINT64) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "o= sess-id or version over 2^63-1");
    return NULL;
  }
  gboolean mirror = p->port == 0 && p->offer != NULL;
  if (p->n_formats > SDP_AUDIO_MAX_FORMATS || (p->n_formats == 0 && !mirror) ||
      (p->n_formats > 0 && p->formats == NULL)) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "%u payload types (1..%u)", p->n_formats,
              SDP_AUDIO_MAX_FORMATS);
    return NULL;
  }
  guint64 seen[2] = { 0, 0 };
  for (guint i = 0; i < p->n_formats; i++) {
    guint pt = p->formats[i].pt;
    if (pt > PT_MAX || (seen[pt / 64] >> (pt % 64) & 1)) {
      set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "payload type %u out of range or repeated", pt);
      return NULL;
    }
    seen[pt / 64] |= G_GUINT64_CONSTANT(1) << (pt % 64);
  }
  if ((guint)p->direction >= G_N_ELEMENTS(direction_names) || p->ptime > MAX_PTIME) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "bad direction or ptime");
    return NULL;
  }
  if (p->offer && p->offer->audio_index >= p->offer->media->len) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "offer without its audio m-line");
    return NULL;
  }
  if (p->mikey && g_bytes_get_size(p->mikey) == 0) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "empty MIKEY message");
    return NULL;
  }

  GString *out = g_string_sized_new(512);
  g_string_append_printf(out,
                         "v=0\r\n"
                         "o=- %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " IN IP%d %s\r\n"
                         "s=-\r\n"
                         "c=IN IP%d %s\r\n"
                         "t=0 0\r\n",
                         p->sess_id, p->version, (int)type, p->addr, (int)type, p->addr);
  if (p->offer) {
    /* An answer has the offer's m-lines in order; all but the audio one rejected. */
    for (guint i = 0; i < p->offer->media->len; i++) {
      const SdpAudioMedia *m = p->offer->media->pdata[i];
      if (i == p->offer->audio_index)
        append_audio(out, p);
      else
        g_string_append_printf(out, "m=%s 0 %s %s\r\n", m->media, m->proto, m->fmt);
    }
  } else {
    append_audio(out, p);
  }
  gsize body_len = out->len;
  char *body = g_string_free(out, FALSE);
  if (p->mikey) {
    /* Session level: after t=, before the first m= line (profile §6). */
    char *with = mikey_sdp_set_mikey(body, body_len, -1, p->mikey);
    g_free(body);
    body = with;
    body_len = strlen(body);
  }
  if (len)
    *len = body_len;
  return body;
}

/* ---- o= of one side ---- */

struct SdpAudioSession {
  guint64 sess_id;
  guint64 version;
  char *last;
};

SdpAudioSession *sdp_audio_session_new(guint64 sess_id)
{
  SdpAudioSession *s = g_new0(SdpAudioSession, 1);
  if (sess_id == 0 || sess_id > G_MAXINT64) {
    sess_id = (((guint64)g_random_int() << 32) | g_random_int()) >> 2;
    if (sess_id == 0)
      sess_id = 1;
  }
  s->sess_id = sess_id;
  return s;
}

void sdp_audio_session_free(SdpAudioSession *session)
{
  if (!session)
    return;
  g_free(session->last);
  g_free(session);
}

guint64 sdp_audio_session_id(const SdpAudioSession *session)
{
  g_return_val_if_fail(session != NULL, 0);
  return session->sess_id;
}

guint64 sdp_audio_session_version(const SdpAudioSession *session)
{
  g_return_val_if_fail(session != NULL, 0);
  return session->version;
}

char *sdp_audio_session_build(SdpAudioSession *session, const SdpAudioParams *params, gsize *len,
                              GError **error)
{
  g_return_val_if_fail(session != NULL && params != NULL, NULL);
  SdpAudioParams p = *params;
  p.sess_id = session->sess_id;
  if (session->last) {
    /* RFC 3264 §8: an unchanged description keeps its version. */
    p.version = session->version;
    gsize same_len;
    g_autofree char *same = sdp_audio_build(&p, &same_len, error);
    if (!same)
      return NULL;
    if (strcmp(same, session->last) == 0) {
      if (len)
        *len = same_len;
      return g_steal_pointer(&same);
    }
  }
  if (session->version >= G_MAXINT64) {
    set_error(error, SDP_AUDIO_ERR_INVALID_PARAM, "o= version exhausted");
    return NULL;
  }
  p.version = session->version + 1;
  gsize body_len;
  char *body = sdp_audio_build(&p, &body_len, error);
  if (!body)
    return NULL;
  session->version = p.version;
  g_free(session->last);
  session->last = g_strdup(body);
  if (len)
    *len = body_len;
  return body;
}
