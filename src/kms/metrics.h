/* Counters and a latency histogram for GET /metrics (Prometheus text format 0.0.4). Main-loop
 * only: no locks. */
#pragma once

#include <glib.h>

typedef struct _KmsMetrics KmsMetrics;

typedef enum {
  KMS_REQ_REQUEST, /* REQUEST_INIT_PSK */
  KMS_REQ_RESOLVE, /* RESOLVE_INIT_PSK */
  KMS_REQ_OTHER,   /* unparseable or another data type */
} KmsRequestKind;

KmsMetrics *kms_metrics_new(void);
void kms_metrics_free(KmsMetrics *m);
/* outcome: "ok" or a short refusal reason ("auth", "ts", "replay", "id", "ticket", "policy",
 * "malformed", "ratelimit"). */
void kms_metrics_count(KmsMetrics *m, KmsRequestKind kind, const char *outcome, double seconds);
void kms_metrics_ticket_issued(KmsMetrics *m);
void kms_metrics_ticket_resolved(KmsMetrics *m);
/* Renders everything; users is the current user count (the store is asked by the caller). */
char *kms_metrics_render(KmsMetrics *m, guint users);
