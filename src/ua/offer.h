/* The MIKEY side of mikeyua, free of SIP and sockets so that unit tests can drive it: the
 * Ticket Request to the KMS, the TRANSFER_INIT of an offer (profile 6) with the SRTP policies in
 * the configured order, CSB updates, the answer checks, and the profile 7.3 rule for which IDRr
 * an in-dialog offer names. */
#pragma once

#include "uaconf.h"

#include "common/credential.h"
#include "mikey/exchange.h"

/* ------------------------------------------------------------------ Ticket Request */

/* The ticket lifetime this UA asks for (the KMS may shorten it). */
#define UA_TICKET_LIFETIME_S 3600

/* REQUEST_INIT_PSK from cred asking for a ticket naming recipients in that order, with the
 * profile 5 flags (D E F G H I J N O). */
GBytes *ua_ticket_request_build(const Credential *cred, const char *const *recipients,
                                GError **error);
/* Opens the KMS's answer: the grant on HTTP 200; otherwise an error that says what the KMS
 * said ("KMS refused (HTTP 403): Invalid TPpar (ERR 15)" with a hint when a factory was asked
 * for). The GError code is the MIKEY ERR number when the KMS sent a MIKEY Error. */
gboolean ua_ticket_open(const Credential *cred, const char *const *recipients, GBytes *request,
                        guint http_status, GBytes *answer, MikeyTicketGrant *grant, GError **error);
/* The granted policy as text (one "key: value" line each) or as a JSON object (g_free). */
char *ua_ticket_describe(const MikeyTicketGrant *grant, gboolean json);

/* ------------------------------------------------------------------ TRANSFER_INIT */

typedef struct {
  const MikeyTicketGrant *grant;
  const char *idri;       /* our identity */
  const char *idrr;       /* profile 6: the Request-URI's identity (7.3 in dialog) */
  guint32 ssrc;           /* CS 1: our stream */
  guint16 seq;            /* its first SEQ (ROC 0) */
  const guint8 *policies; /* profile policy numbers in offer order (1 or 2) */
  guint n_policies;
  UaFaultKind fault; /* TAMPER_MAC, TAMPER_TICKET, STALE_TIMESTAMP honoured here */
} UaTransferInitParams;

/* An initial TRANSFER_INIT (fresh CSB ID and RANDRi): HDR, T, RANDRi, IDRi, IDRr, SP..., SDP IDs
 * "mikey", TICKET, V. */
GBytes *ua_transfer_init_build(const UaTransferInitParams *p, GError **error);

/* A CSB update of state (same CSB ID, no RANDs, no TICKET), offering policies in order. */
GBytes *ua_csb_update_build(const MikeyCsbState *state, guint32 ssrc, guint16 seq,
                            const guint8 *policies, guint n_policies, UaFaultKind fault,
                            GError **error);

/* Verifies the TRANSFER_RESP to transfer_init and fills *state: wraps
 * mikey_transfer_resp_open and also refuses a policy that was not offered. */
gboolean ua_transfer_answer_open(GBytes *resp, GBytes *transfer_init, const MikeyTicketGrant *grant,
                                 const guint8 *policies, guint n_policies, MikeyCsbState *state,
                                 MikeyTransferAnswer *answer, GError **error);
gboolean ua_csb_update_answer_open(GBytes *resp, GBytes *update_init, const MikeyCsbState *state,
                                   const guint8 *policies, guint n_policies,
                                   MikeyTransferAnswer *answer, GError **error);

/* "AEAD_AES_128_GCM" / "AES_CM_128_HMAC_SHA1_80". */
const char *ua_policy_name(guint8 policy_no);

/* ------------------------------------------------------------------ profile 7.3 */

/* The IDRr an in-dialog TRANSFER_INIT names: the conference URI for a new and a focus-only
 * ticket, the original target (the factory URI when the call created the conference) for the
 * first ticket again, and the IDRr of the initial TRANSFER_RESP (state->id_r) for a CSB update.
 * g_free. */
char *ua_action_idrr(UaActionKind kind, const char *conference_uri, const char *original_target,
                     const MikeyCsbState *state);
/* The recipients of the ticket an action requests: the conference URI, then the action's URIs
 * (new-ticket); just the conference URI (focus-ticket); NULL when the action needs no new
 * ticket (same-ticket, csb-update). g_strfreev. */
char **ua_action_recipients(const UaAction *action, const char *conference_uri);
