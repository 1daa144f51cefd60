/* Identities as profile 1 compares them (RFC 3261 19.1.4, reduced): scheme and host are
 * case-insensitive, the user part is case-sensitive after %-unescaping, the port is compared
 * literally (absent != 5060); URI parameters, headers and a display name are ignored.
 * Identities of other schemes (tel:, an MC service ID URI, ...) compare by lower-cased scheme
 * and byte-exact rest. Also the '*' globs of the KMS and focus configuration. */
#pragma once

#include <glib.h>

typedef struct {
  char *scheme; /* lower case */
  char *user;   /* %-unescaped; NULL when the URI has no user part */
  char *host;   /* lower case; for non-SIP schemes the whole rest, byte-exact */
  char *port;   /* as written; NULL when absent */
} SipUri;

/* Parses "sip:user@host:port;params?headers", also inside "Display <...>". Refuses (GError,
 * G_IO_ERROR_INVALID_ARGUMENT) empty input, a missing scheme, an empty host, bad %-escapes,
 * control characters, and anything over 1024 bytes. */
gboolean sip_uri_parse(const char *text, gsize len, SipUri *uri, GError **error);
void sip_uri_clear(SipUri *uri);

/* The canonical text "scheme:user@host[:port]" used as a key in stores and sets. NULL with
 * error if text does not parse. */
char *sip_uri_normalize(const char *text, GError **error);

/* TRUE if both parse and are the same identity. */
gboolean sip_uri_equal(const char *a, const char *b);
gboolean sip_uri_equal_len(const char *a, gsize a_len, const char *b, gsize b_len);

/* Pattern "scheme:userglob@hostglob" ('*' matches any run of characters, within the part):
 * the user glob is matched against the unescaped user part, the host glob against host[:port]
 * (lower case). A pattern without '@' matches URIs without a user part. */
gboolean sip_uri_match(const char *pattern, const char *uri);
/* Refuses a pattern that could never match (no scheme, empty host glob, ...). */
gboolean sip_uri_pattern_valid(const char *pattern, GError **error);

/* '*'-only glob over whole strings. */
gboolean glob_match(const char *pattern, const char *text);
