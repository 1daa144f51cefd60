/* What mikeyua reports about a call, as text or JSON (--json), and the exit status it implies.
 * The JSON shape is part of the interface tests use:
 *
 *   { "mode": "create", "identity": "sip:alice@...", "target": "sip:conference-factory@...",
 *     "outcome": "ok" | "refused" | "failed",
 *     "sip": { "status": 200, "reason": "OK", "warning": "399 host \"...\"" | null },
 *     "error": { "step": "ticket" | "invite" | "answer" | "media" | ..., "message": "..." } | null,
 *     "conference_uri": "sip:conf-...@..." | null,
 *     "policy": "AEAD_AES_128_GCM" | null, "codec": "PCMU" | null,
 *     "setup_ms": 12.3 | null,
 *     "media": { "sent": N, "received": N, "decrypt_failed": N, "received_previous_key": N,
 *                "rtcp_sent": N, "rtcp_received": N, "lost": N, "jitter": N, "rekeys": N,
 *                "dropped_by_us": N, "datagrams": N,
 *                "last_rtp_after_bye_ms": -12.5 | null },
 *     "updates": [ { "action": "new-ticket", "at_s": 2.0, "method": "INVITE", "status": 200,
 *                    "reason": "OK", "warning": null, "ok": true, "error": null,
 *                    "policy": "...", "retries": 0 } ],
 *     "ended": { "by": "us" | "them" | "error" | "not-established",
 *                "reason_cause": 403 | null, "reason_text": "..." | null },
 *     "expected": true }
 */
#pragma once

#include "media.h"

#include <glib.h>

typedef struct {
  char *action;
  double at_s;
  char *method;
  int status; /* 0: no final answer */
  char *reason;
  char *warning;
  gboolean ok;
  char *error;
  char *policy;
  guint retries; /* 491 glare retries */
} UaUpdateReport;

typedef struct {
  char *mode;
  char *identity;
  char *target;
  int status; /* final status of the INVITE, 0 when none */
  char *reason;
  char *warning;
  char *error_step; /* NULL: no error */
  char *error;
  char *conference_uri;
  char *policy;
  char *codec;
  double setup_ms; /* < 0: not established */
  gboolean have_media;
  UaMediaStats media;
  /* after the peer's BYE: when the last datagram came on the RTP socket, in ms after the BYE
   * (negative: before it); FALSE when there was no such BYE or no datagram */
  gboolean have_last_rtp_after_bye;
  double last_rtp_after_bye_ms;
  GPtrArray *updates; /* UaUpdateReport* */
  char *ended_by;     /* "us", "them", "error", "not-established" */
  int bye_cause;      /* 0: none */
  char *bye_text;
  gboolean expected;
} UaReport;

UaReport *ua_report_new(const char *mode, const char *identity, const char *target);
void ua_report_free(UaReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UaReport, ua_report_free)

UaUpdateReport *ua_report_add_update(UaReport *r, const char *action, double at_s,
                                     const char *method);
/* Sets the error once (the first failure is the one that counts). */
void ua_report_set_error(UaReport *r, const char *step, const char *message);

/* "ok" (established and, when asked, the expected ending), "refused" (a final status >= 300)
 * or "failed". */
const char *ua_report_outcome(const UaReport *r);
char *ua_report_to_json(const UaReport *r);
char *ua_report_to_text(const UaReport *r);

/* Whether the call ended as the options demanded: --expect STATUS for the INVITE's final
 * status (200 by default, and then an error-free call that we ended, or the focus's BYE when
 * expect_bye_reason is set and its Reason has that cause). Sets r->expected. */
gboolean ua_report_check_expected(UaReport *r, int expect_status, int expect_bye_reason);
