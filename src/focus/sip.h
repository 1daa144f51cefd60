/* The SIP side of mikeyconfd (profile 6, 7): Sofia-SIP nua on the GLib main loop (sipglib.h),
 * one stack per sip-listen address (UDP and TCP on its port, TLS on the next one when a
 * certificate is configured), the built-in media off and our own SDP.
 *
 * Each INVITE to the factory or a conference URI becomes a leg. Its offer is checked in the
 * order profile 6 gives (SDP, key-mgmt, MIKEY, freshness), the ticket is resolved at the KMS
 * without blocking the loop (the request is saved with nua_save_event and answered later with
 * NUTAG_WITH_SAVED), the TRANSFER_INIT is verified and checked against the replay cache, and
 * the decision comes from conference.h: create (7.1), join (7.2), and in dialog (re-INVITE or
 * UPDATE) re-key, change the allowed set or keep the keys (7.3). What a decision changes is
 * committed (focus.h) before the answer is sent. A CANCEL during a resolve cancels the KMS
 * request and the late answer is dropped; an offer that arrives while the previous one of the
 * dialog is still being handled is answered 491. OPTIONS is answered by the stack (Allow,
 * Accept, Supported); other methods 405 with Allow (501 for unknown ones, by the stack).
 *
 * Every refusal is a SIP status with a Warning as profile 6 says, a log line and an audit
 * event. */
#pragma once

#include "focus/focus.h"

#include <json-glib/json-glib.h>

/* Binds every listen address of the configuration. Port 0 binds an ephemeral port. */
FocusSip *focus_sip_new(Focus *focus, const FocusConfig *cfg, GError **error);
/* Ends every leg without signalling and shuts the stacks down (bounded). */
void focus_sip_free(FocusSip *sip);
/* The port the first listen address is bound to. */
guint16 focus_sip_port(FocusSip *sip);
/* Legs alive (in a call or being set up). */
guint focus_sip_n_legs(FocusSip *sip);
/* SIGTERM: BYE every established leg (Reason cause 503), refuse what is being set up. Returns
 * how many BYEs went out; focus_sip_n_legs() falls to 0 as they are answered. */
guint focus_sip_bye_all(FocusSip *sip);

/* A leg's BYE with Reason: SIP;cause=CAUSE;text="TEXT" (once; later calls do nothing). Legs
 * still being set up are refused with 480 instead. */
void focus_leg_bye(FocusLeg *leg, int cause, const char *text);
/* The KMS-authenticated identity of an admitted leg. */
const char *focus_leg_identity(const FocusLeg *leg);
/* One participant entry of `mikeyconfctl show`. */
JsonNode *focus_leg_json(FocusLeg *leg);
