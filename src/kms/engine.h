/* The KMS's decisions (profile 3 and 5), without HTTP: one POST /mikey body in, the HTTP status
 * and the MIKEY answer out, plus one log line that says who, what and why. Checks run in the
 * order of profile 3: T window -> PSK lookup -> MAC -> replay -> user state -> policy; the
 * first failure decides. The server (server.c) only moves bytes. */
#pragma once

#include "kmsconf.h"
#include "metrics.h"
#include "store.h"

typedef struct _KmsEngine KmsEngine;

typedef struct {
  guint status; /* 200, 400, 403 */
  GBytes *body; /* application/mikey; NULL for an empty body */
  char *log_line; /* "request from sip:alice@example.org (psk-id 92dc…): granted ticket 7ff8… for 3
                     recipients" */
} KmsAnswer;

void kms_answer_clear(KmsAnswer *answer);

KmsEngine *kms_engine_new(KmsStore *store, const KmsConfig *cfg, KmsMetrics *metrics);
void kms_engine_free(KmsEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsEngine, kms_engine_free)
/* After SIGHUP: the new settings (skew, lifetime, limits, patterns). */
void kms_engine_set_config(KmsEngine *engine, const KmsConfig *cfg);

/* now: 64-bit NTP (mikey_ntp_now() in the daemon; fixed in tests). peer: the source address,
 * for logs. */
void kms_engine_handle(KmsEngine *engine, GBytes *body, guint64 now, const char *peer,
                       KmsAnswer *answer);
