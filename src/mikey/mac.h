/* MAC coverage of MIKEY messages (RFC 3830 5.2, RFC 6043 5.5; mikey-ticket.md 2.7):
 * what a V payload's MAC is computed over, and signing/verifying it on encoded messages. */
#pragma once

#include "cipher.h"
#include "msg.h"

/* The byte range a message's V MAC leaves out besides the MAC itself: for TRANSFER_INIT,
 * the TICKET's Initiator Data length and Initiator Data (RFC 6043 5.5); [0,0) otherwise. */
void mikey_mac_excluded_range(const MikeyMsg *msg, gsize *start, gsize *end);

/* Encodes msg, then sets the MAC of its V payload (which must be the last payload) to
 * HMAC(auth_key, encoded[0, MAC field) minus the excluded range || append[0] || ...).
 * msg->raw holds the signed bytes afterwards; returns a new reference to them. */
GBytes *mikey_msg_sign(MikeyMsg *msg, const MikeySecret *auth_key, const MikeyIov *append,
                       guint n_append, GError **error);

/* Verifies the V MAC of a parsed message (msg->raw) the same way; constant-time compare.
 * ERR 0 (Auth failure) on a mismatch, ERR 3 when V is missing or its algorithm is NULL. */
gboolean mikey_msg_verify(const MikeyMsg *msg, const MikeySecret *auth_key, const MikeyIov *append,
                          guint n_append, GError **error);

/* The MAC of a TICKET payload of a MIKEY base ticket (RFC 6043 A.1): over the payload as
 * encoded without its next-payload byte, the Initiator Data length, the Initiator Data and
 * the MAC field. payload_bytes is the TICKET payload encoded alone (next byte first);
 * mac_len the length of the ticket V's MAC. */
gboolean mikey_ticket_mac(MikeyMacAlg alg, const MikeySecret *key, GBytes *payload_bytes,
                          gsize initiator_data_len, gsize mac_len, guint8 *out, GError **error);
