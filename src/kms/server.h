/* server.h: mikeykmsd's HTTP(S) front end (profile 3) on libsoup-3 and the GLib main loop.
 *
 *   POST /mikey    application/mikey body -> kms_engine_handle() -> status + MIKEY answer
 *   GET  /healthz  200 "ok"
 *   GET  /metrics  Prometheus text (kms_metrics_render)
 *
 * HTTPS with tls-cert/tls-key unless cfg->insecure_http (plain HTTP, which kms_config_finish()
 * allows on a loopback address only). The server refuses before the body is read when it can:
 * 503 + Retry-After: 1 over the per-source rate limit, 405 for a method other than POST, 415
 * for a Content-Type other than application/mikey, 413 when Content-Length says more than
 * 64 KiB (a chunked body is cut off at 64 KiB and refused the same way). Those answers have
 * empty bodies; a 413 also closes the connection. Every /mikey body that passes goes to the
 * engine, which decides everything else.
 *
 * Connections are accepted by the server itself and TLS-handshaken (10 s at most) before
 * libsoup reads them; see server.c for why. The engine, metrics and store are borrowed: they must
 * outlive the server. The server flushes the store's buffered resolve counts every second and when
 * it stops. Main loop only. */
#pragma once

#include "engine.h"
#include "kmsconf.h"
#include "metrics.h"
#include "store.h"

#include <gio/gio.h>

/* The largest POST /mikey body accepted (profile 3). */
#define KMS_SERVER_MAX_BODY (64 * 1024)

typedef struct _KmsServer KmsServer;

/* Loads the certificate (unless insecure), binds cfg->listen:cfg->port (port 0: an ephemeral
 * port, see kms_server_get_port) and starts serving on the thread-default main context. Errors
 * say what failed with which file or address: "cannot listen on 127.0.0.1:8443: Address already
 * in use", "cannot load TLS certificate /x/server.pem (key /x/server.key): ...". */
KmsServer *kms_server_new(const KmsConfig *cfg, KmsStore *store, KmsEngine *engine,
                          KmsMetrics *metrics, GError **error);
void kms_server_free(KmsServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsServer, kms_server_free)

/* The bound port and the URL of the endpoint ("https://127.0.0.1:8443/mikey"; g_free). */
guint16 kms_server_get_port(const KmsServer *server);
char *kms_server_get_url(const KmsServer *server);

/* SIGHUP: takes the new rate limit and reloads the certificate and key from cfg's tls-cert and
 * tls-key (new connections use them; established ones keep theirs). The listen address, port
 * and scheme are fixed at start: a change is reported in the log and needs a restart. On error
 * (unreadable or mismatched files) the old certificate stays and error says why. */
gboolean kms_server_reload(KmsServer *server, const KmsConfig *cfg, GError **error);

/* Graceful stop (SIGTERM): the listening socket is shut at once (new connections are refused),
 * requests already received are answered (with Connection: close), then every connection is
 * closed, the store flushed and done called once, from the main loop. Requests still unanswered
 * after timeout_ms are dropped. Calling it again does nothing. */
typedef void (*KmsServerStopped)(KmsServer *server, gpointer user_data);
void kms_server_stop(KmsServer *server, guint timeout_ms, KmsServerStopped done,
                     gpointer user_data);

/* Requests currently being read or answered. */
guint kms_server_in_flight(const KmsServer *server);
