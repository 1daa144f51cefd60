/* Ticket Resolve at the KMS for the focus (profile 3, 6, RFC 6043 5.2): RESOLVE_INIT_PSK with
 * the focus credential, sent asynchronously over HTTPS (common/kmsclient.h, the certificate
 * verified against the credential's kms-ca) on the caller's main loop, and the RESOLVE_RESP
 * verified and opened with the same PSK. The loop never blocks on the KMS.
 *
 * Bounds: at most max_in_flight resolves at a time (focus_resolver_start() refuses the next,
 * the SIP layer answers 503 + Retry-After), and each one ends within timeout_ms (the KMS
 * client's own timer; the result is then FOCUS_RESOLVE_UNAVAILABLE).
 *
 * Outcomes map to the SIP answers of profile 6:
 *   OK           the keys (MPKi, MPKr', TGK', RANDRkms) for the TRANSFER_INIT check and answer
 *   REFUSED      the KMS answered 403 (a MIKEY Error: ticket, identity, policy...) -> 403
 *   BAD_TICKET   the KMS answered 400 (e.g. a malformed ticket inside)           -> 488 + 399
 *   UNAVAILABLE  unreachable, no answer in time, 5xx, or a 200 whose RESOLVE_RESP does not
 *                verify                                                          -> 503
 *   CANCELLED    the caller cancelled (a CANCEL of the INVITE): the late answer is dropped */
#pragma once

#include "common/credential.h"
#include "mikey/exchange.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

typedef enum {
  FOCUS_RESOLVE_OK,
  FOCUS_RESOLVE_REFUSED,
  FOCUS_RESOLVE_BAD_TICKET,
  FOCUS_RESOLVE_UNAVAILABLE,
  FOCUS_RESOLVE_CANCELLED,
} FocusResolveStatus;

const char *focus_resolve_status_name(FocusResolveStatus status);

typedef struct {
  FocusResolveStatus status;
  MikeyResolvedKeys keys; /* OK only; the callee (focus_resolve_result_clear) wipes them */
  guint http_status;      /* 0 when there was no HTTP answer */
  int mikey_err;          /* ERR number of the KMS's MIKEY Error; -1 when none */
  char *detail;           /* one sentence for logs and Warning text */
  gint64 usec;            /* time from start to the answer */
} FocusResolveResult;

void focus_resolve_result_clear(FocusResolveResult *r);

/* Called on the main loop exactly once per started resolve, never from inside
 * focus_resolver_start(). The result is the callee's to keep: clear it. */
typedef void (*FocusResolveFunc)(FocusResolveResult *result, gpointer user_data);

typedef struct _FocusResolver FocusResolver;

/* cred is copied. Fails when the credential's kms-url or kms-ca is unusable, or is plain http
 * without allow_insecure. */
FocusResolver *focus_resolver_new(const Credential *cred, guint timeout_ms, guint max_in_flight,
                                  gboolean allow_insecure, GError **error);
/* Pending resolves are cancelled; their callbacks still run (CANCELLED) once the loop runs. */
void focus_resolver_free(FocusResolver *r);
/* New bounds (SIGHUP); the timeout applies to resolves started afterwards. */
void focus_resolver_set_limits(FocusResolver *r, guint timeout_ms, guint max_in_flight);

/* Sends RESOLVE_INIT_PSK for the TRANSFER_INIT's ticket with IDRr = idrr. FALSE (and no
 * callback) when max_in_flight resolves are already in flight. */
gboolean focus_resolver_start(FocusResolver *r, const MikeyTransferInitView *view, const char *idrr,
                              GCancellable *cancellable, FocusResolveFunc func, gpointer user_data);

guint focus_resolver_in_flight(const FocusResolver *r);

/* Counters since start, for `mikeyconfctl stats`: {"started","ok","refused","bad_ticket",
 * "unavailable","cancelled","busy","in_flight","max_in_flight","timeout_ms",
 * "latency_ms":{"p50","p90","p99","max","samples"}} (latency over the last 4096 answers). */
JsonNode *focus_resolver_stats_json(const FocusResolver *r);
