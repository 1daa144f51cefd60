/* NTP timestamps (RFC 3830 6.6, RFC 6043 6.6) with the RFC 4330 era rule. */
#include "ntp.h"

/* Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch). */
#define NTP_UNIX_OFFSET G_GINT64_CONSTANT(2208988800)
#define NTP_ERA_SECONDS G_GINT64_CONSTANT(4294967296) /* 2^32 */
#define USEC_PER_SEC G_GINT64_CONSTANT(1000000)

/* Seconds since 1900-01-01 of a 32-bit NTP seconds value, era rule applied: top bit set is
 * era 0 (1968-01-20 .. 2036-02-07), top bit clear is era 1 (2036-02-07 .. 2104-02-26). */
static gint64 ntp32_extended(guint32 ntp_seconds)
{
  if (ntp_seconds & 0x80000000u)
    return (gint64)ntp_seconds;
  return (gint64)ntp_seconds + NTP_ERA_SECONDS;
}

guint64 mikey_ntp_now(void)
{
  return mikey_ntp_from_unix_usec(g_get_real_time());
}

guint64 mikey_ntp_from_unix_usec(gint64 usec)
{
  gint64 sec = usec / USEC_PER_SEC;
  gint64 us = usec % USEC_PER_SEC;
  if (us < 0) {
    us += USEC_PER_SEC;
    sec -= 1;
  }
  /* NTP seconds wrap every 2^32 s; times outside 1968-2104 map onto the era rule's range
   * modulo 2^32 (unsigned arithmetic, so no signed overflow for any input). */
  guint32 ntp_sec = (guint32)((guint64)sec + (guint64)NTP_UNIX_OFFSET);
  /* Rounded so that Unix -> NTP -> Unix is exact to the microsecond. */
  guint64 frac = (((guint64)us << 32) + (guint64)(USEC_PER_SEC / 2)) / (guint64)USEC_PER_SEC;
  return ((guint64)ntp_sec << 32) | frac;
}

gint64 mikey_ntp_to_unix_usec(guint64 ntp)
{
  gint64 sec = mikey_ntp_to_unix_sec(ntp);
  guint64 frac = ntp & 0xFFFFFFFFu;
  gint64 us = (gint64)((frac * (guint64)USEC_PER_SEC + (G_GUINT64_CONSTANT(1) << 31)) >> 32);
  return sec * USEC_PER_SEC + us; /* us may round up to 10^6: the addition carries */
}

gint64 mikey_ntp32_to_unix_sec(guint32 ntp_seconds)
{
  return ntp32_extended(ntp_seconds) - NTP_UNIX_OFFSET;
}

gint64 mikey_ntp_to_unix_sec(guint64 ntp)
{
  return mikey_ntp32_to_unix_sec((guint32)(ntp >> 32));
}

int mikey_ntp_compare(guint64 a, guint64 b, gint64 b_offset_sec)
{
  /* Era-extended seconds differ by less than 2^34; offsets beyond 2^40 s decide alone. */
  const gint64 limit = G_GINT64_CONSTANT(1) << 40;
  if (b_offset_sec > limit)
    return -1;
  if (b_offset_sec < -limit)
    return 1;
  gint64 d = ntp32_extended((guint32)(a >> 32)) - ntp32_extended((guint32)(b >> 32)) - b_offset_sec;
  /* a - (b + offset) = d * 2^32 + (frac_a - frac_b), and |frac_a - frac_b| < 2^32, so the sign
   * is the sign of d unless d is 0. */
  if (d != 0)
    return d < 0 ? -1 : 1;
  guint32 fa = (guint32)a, fb = (guint32)b;
  return fa < fb ? -1 : (fa > fb ? 1 : 0);
}

gboolean mikey_ntp_within(guint64 t, guint64 now, guint window_sec)
{
  return mikey_ntp_compare(t, now, (gint64)window_sec) <= 0 &&
         mikey_ntp_compare(t, now, -(gint64)window_sec) >= 0;
}
