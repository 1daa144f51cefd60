/* HTTP(S) client to the KMS (profile 3) on libsoup-3: POST <kms-url> with Content-Type
 * application/mikey, the server certificate verified against the configured CA file, one
 * keep-alive session reused for every request, a timeout per request. Plain http:// is refused
 * unless allow_insecure is set (tests and the demo), and then logged. Asynchronous on the
 * caller's main context; a synchronous wrapper runs a private main context for tools. */
#pragma once

#include <gio/gio.h>

typedef struct _KmsClient KmsClient;

KmsClient *kms_client_new(const char *url, const char *ca_file, gboolean allow_insecure,
                          guint timeout_ms, GError **error);
void kms_client_free(KmsClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsClient, kms_client_free)

/* The answer: HTTP status and body (a MIKEY message when Content-Type is application/mikey,
 * else NULL). Transport failures (refused, TLS, timeout) are GErrors (G_IO_ERROR_TIMED_OUT for
 * the timeout) with a message naming the URL. */
void kms_client_post_async(KmsClient *client, GBytes *body, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
GBytes *kms_client_post_finish(KmsClient *client, GAsyncResult *result, guint *http_status,
                               GError **error);
GBytes *kms_client_post_sync(KmsClient *client, GBytes *body, guint *http_status, GError **error);
