#include "error.h"

#include <stdarg.h>

G_DEFINE_QUARK(mikey - error - quark, mikey_error)

const char *mikey_err_name(guint err_no)
{
  static const char *const names[] = {
    "Auth failure",      "Invalid TS",          "Invalid PRF",    "Invalid MAC",
    "Invalid EA",        "Invalid HA",          "Invalid DH",     "Invalid ID",
    "Invalid Cert",      "Invalid SP",          "Invalid SPpar",  "Invalid DT",
    "Unspecified error", "Unsupported message", "Invalid TICKET", "Invalid TPpar",
  };
  return err_no < G_N_ELEMENTS(names) ? names[err_no] : "Unknown error";
}

void mikey_set_parse_error(GError **error, gsize offset, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *reason = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED, "offset %" G_GSIZE_FORMAT ": %s", offset,
              reason);
}
