/* Ticket policy checks (RFC 6043 6.10, profile.md 5): type/subtype/version, the flag
 * dependencies, the validity window. Pure functions of the TP/TICKET body and a clock value. */
#pragma once

#include "msg.h"

/* Ticket type 1, subtype 1, version 1 (the MIKEY base ticket). ERR 14 otherwise. */
gboolean mikey_policy_check_type(const MikeyTicketBody *tp, GError **error);

/* The flag dependencies: not D => L, G => F, not G => H, not H => G, I => E, K => D, M => F;
 * F when I and a TGK is carried (tgk_in_ticket). ERR 15 naming the broken rule otherwise. */
gboolean mikey_policy_check_flags(guint16 flags, gboolean tgk_in_ticket, GError **error);

/* Validity window from the TRs/TRe payloads of TP Data (absent = open-ended):
 * TRs <= now + skew, and now < TRe (TRe checked strictly). ERR 15 when TRe <= TRs,
 * ERR 14 when now is outside the window. now is a 64-bit NTP value. */
gboolean mikey_policy_check_validity(const MikeyTicketBody *tp, guint64 now, guint skew_sec,
                                     GError **error);

/* Finds TRs/TRe in TP Data as 64-bit NTP values (32-bit ones padded); FALSE if absent. */
gboolean mikey_policy_get_trs(const MikeyTicketBody *tp, guint64 *trs);
gboolean mikey_policy_get_tre(const MikeyTicketBody *tp, guint64 *tre);

/* Short text of a flag set, e.g. "D E F G H I J N O", for logs and tests. Free with g_free. */
char *mikey_policy_flags_to_string(guint16 flags);
