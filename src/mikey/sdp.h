/* RFC 4567 key management attributes in SDP text: a=key-mgmt:<prtcl-id> <base64 data>, at
 * session level, media level or both (a media-level attribute overrides the session-level one
 * for its m-line). Only line-level SDP handling; the MIKEY bytes are handed to msg.h. */
#pragma once

#include <glib.h>

typedef struct {
  char *prtcl_id;  /* e.g. "mikey" */
  GBytes *data;    /* base64-decoded */
  int media_index; /* -1 = session level, else 0-based m-line index */
} MikeySdpKeyMgmt;

void mikey_sdp_key_mgmt_free(MikeySdpKeyMgmt *km);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeySdpKeyMgmt, mikey_sdp_key_mgmt_free)

/* Every a=key-mgmt attribute of the SDP, in order. Fails (code MIKEY_ERR_UNSPECIFIED) on a
 * malformed attribute (missing data, bad base64). Accepts CRLF or LF line ends. */
GPtrArray *mikey_sdp_find_key_mgmt(const char *sdp, gsize len, GError **error);

/* The MIKEY message that applies to m-line media_index: the media-level a=key-mgmt:mikey if
 * present, else the session-level one; NULL (no error) when there is none. */
GBytes *mikey_sdp_get_mikey(const char *sdp, gsize len, int media_index, GError **error);

/* The ';'-joined list of key-management protocol ids offered in the SDP in order of
 * appearance, each once (RFC 4567 4.1.4): the value of the SDP IDs General Extension. */
char *mikey_sdp_protocol_ids(const char *sdp, gsize len);

/* Returns a copy of sdp with a=key-mgmt:mikey <base64(mikey)> inserted at session level
 * (media_index -1: before the first m= line) or at the end of m-line media_index's block,
 * replacing an existing mikey attribute at that level. Line ends follow the input (CRLF if
 * the first line ends with CRLF). */
char *mikey_sdp_set_mikey(const char *sdp, gsize len, int media_index, GBytes *mikey);

/* Number of m= lines. */
guint mikey_sdp_media_count(const char *sdp, gsize len);
