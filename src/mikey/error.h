/* Errors of the MIKEY library. The GError code is the MIKEY ERR number (RFC 3830 6.12,
 * RFC 6043 6.12) that a peer should be told, so callers map a failure to the wire
 * without a table of their own. The message says what and, for parse errors, where. */
#pragma once

#include <glib.h>

#define MIKEY_ERROR (mikey_error_quark())
GQuark mikey_error_quark(void);

typedef enum {
  MIKEY_ERR_AUTH_FAILURE = 0,
  MIKEY_ERR_INVALID_TS = 1,
  MIKEY_ERR_INVALID_PRF = 2,
  MIKEY_ERR_INVALID_MAC = 3,
  MIKEY_ERR_INVALID_EA = 4,
  MIKEY_ERR_INVALID_HA = 5,
  MIKEY_ERR_INVALID_DH = 6,
  MIKEY_ERR_INVALID_ID = 7,
  MIKEY_ERR_INVALID_CERT = 8,
  MIKEY_ERR_INVALID_SP = 9,
  MIKEY_ERR_INVALID_SPPAR = 10,
  MIKEY_ERR_INVALID_DT = 11,
  MIKEY_ERR_UNSPECIFIED = 12, /* also: malformed message */
  MIKEY_ERR_UNSUPPORTED_MSG = 13,
  MIKEY_ERR_INVALID_TICKET = 14,
  MIKEY_ERR_INVALID_TPPAR = 15,
} MikeyErrNo;

/* Short name of an ERR number for logs ("Auth failure", "Invalid TS", ...). */
const char *mikey_err_name(guint err_no);

/* Sets a parse error: code MIKEY_ERR_UNSPECIFIED, message "offset N: <reason>". */
void mikey_set_parse_error(GError **error, gsize offset, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
