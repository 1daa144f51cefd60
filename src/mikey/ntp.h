/* NTP timestamps as MIKEY carries them (RFC 3830 6.6, RFC 6043 6.6): 64-bit values with the
 * seconds since 1900-01-01 in the high 32 bits. 32-bit seconds (NTP-UTC-32) are read with the
 * RFC 4330 era rule: values with the top bit set are 1968-2036, the others 2036-2104. */
#pragma once

#include <glib.h>

/* Current wall-clock time as a 64-bit NTP value. */
guint64 mikey_ntp_now(void);
/* Conversions to and from Unix time in microseconds (gint64, as g_get_real_time()). */
guint64 mikey_ntp_from_unix_usec(gint64 usec);
gint64 mikey_ntp_to_unix_usec(guint64 ntp);
/* Seconds of a 32-bit NTP value in Unix time with the era rule (1968-2104). */
gint64 mikey_ntp32_to_unix_sec(guint32 ntp_seconds);
/* Unix seconds of a 64-bit NTP value whose high half follows the era rule. */
gint64 mikey_ntp_to_unix_sec(guint64 ntp);
/* TRUE if |t - now| <= window_sec (both NTP 64-bit, era rule applied). */
gboolean mikey_ntp_within(guint64 t, guint64 now, guint window_sec);
/* Compares a with b + b_offset_sec (both NTP 64-bit, era rule applied), exactly (the fractions
 * included, no overflow for any offset): < 0, 0 or > 0 like strcmp. */
int mikey_ntp_compare(guint64 a, guint64 b, gint64 b_offset_sec);
