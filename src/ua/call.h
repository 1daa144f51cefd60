/* One mikeyua call: ticket from the KMS, INVITE with the TRANSFER_INIT in the SDP offer
 * (profile 6), the 200 OK's TRANSFER_RESP verified and SRTP started, in-dialog key changes
 * (profile 7.3, re-INVITE or UPDATE, 491 glare retried after the RFC 3261 14.1 delay), the
 * peer's re-INVITEs and UPDATEs answered, BYE either way. Every step is bounded by the
 * configured timeout; every failure names its step, the SIP status and why.
 *
 * Everything runs on the thread of the main loop that runs the SipGlib stack. A call is
 * reference counted so that a KMS answer arriving after ua_call_free() finds it still
 * allocated (and does nothing). */
#pragma once

#include "media.h"
#include "report.h"
#include "uaconf.h"

#include "common/credential.h"
#include "common/kmsclient.h"
#include "common/sipglib.h"

typedef struct _UaCall UaCall;

typedef enum {
  UA_CALL_IDLE,
  UA_CALL_TICKET,      /* waiting for the KMS */
  UA_CALL_INVITING,    /* INVITE sent */
  UA_CALL_ESTABLISHED, /* 200 OK verified, media running */
  UA_CALL_ENDING,      /* BYE or CANCEL sent */
  UA_CALL_ENDED,
} UaCallState;

const char *ua_call_state_name(UaCallState state);

typedef void (*UaCallStateFunc)(UaCall *call, UaCallState state, gpointer user_data);

typedef struct {
  SipGlib *sip;
  KmsClient *kms;
  UaMediaClock *clock; /* NULL: media not sent (tests) */
  const Credential *cred;
  const char *mode;              /* report label: "create", "join", "load" */
  const char *target;            /* Request-URI, and the IDRr of the INVITE's TRANSFER_INIT */
  const char *const *recipients; /* the first ticket's IDRr list */
  UaMediaConfig media;           /* bind address, audio, recording */
  const char *sdp_addr;          /* c= address (media.bind_ip unless that is a wildcard) */
  guint8 codec_pt;               /* offered first (0 PCMU, 8 PCMA); the other one second */
  const guint8 *policies;
  guint n_policies;
  guint timeout_ms;    /* each SIP and KMS step */
  gboolean use_update; /* in-dialog offers in UPDATE instead of re-INVITE */
  UaFaultKind fault;
  const char *fault_from;
  guint fault_offer; /* 0 = the INVITE, n = the n-th in-dialog offer */
  /* after the peer's BYE, keep the RTP socket open and counted this long before the call is
   * UA_CALL_ENDED (the report's last_rtp_after_bye_ms); 0: end at once */
  guint bye_linger_ms;
  /* --key-log: append the call's secrets (MPK, TGK, SRTP master keys and salts) in hex to this
   * file each time keys are installed (debugging aid, like SSLKEYLOGFILE); NULL: never */
  const char *key_log;
  UaCallStateFunc on_state;
  gpointer user_data;
} UaCallConfig;

/* Copies what it needs from cfg (strings, the recipients), not the services. */
UaCall *ua_call_new(const UaCallConfig *cfg);
UaCall *ua_call_ref(UaCall *call);
void ua_call_unref(UaCall *call);
/* Detaches the call from its handle and callbacks without signalling (for teardown), then
 * drops the caller's reference. */
void ua_call_free(UaCall *call);

void ua_call_start(UaCall *call);
/* Queues an in-dialog key change; sent when the call is established and the previous one is
 * done. at_s is what the report shows. */
void ua_call_change(UaCall *call, const UaAction *action, double at_s);
/* Ends the call: stops the KMS request, CANCELs an unanswered INVITE or sends BYE. The state
 * callback reports UA_CALL_ENDED when it is over (bounded by the timeout). */
void ua_call_hangup(UaCall *call);

UaCallState ua_call_state(const UaCall *call);
/* The report so far (media statistics brought up to date). Borrowed. */
UaReport *ua_call_report(UaCall *call);
/* Microseconds from start to the verified 200 OK, and from the INVITE to it; -1 when not. */
gint64 ua_call_setup_usec(const UaCall *call);
gint64 ua_call_invite_usec(const UaCall *call);
const char *ua_call_conference_uri(const UaCall *call);

/* ---- the pieces below are exposed for unit tests ---- */

/* The SDP offer of a call: our media address and port, the two codecs (codec_pt first),
 * a=key-mgmt:mikey with transfer_init (NULL: none), or the SDP faults. g_free. */
char *ua_call_sdp_offer(const char *addr, guint16 port, guint8 codec_pt, GBytes *transfer_init,
                        UaFaultKind fault, guint64 sess_id, guint64 version, GError **error);
