/* HTTP(S) client to the KMS (profile 3) on libsoup-3 (design.md: not Sofia's nth).
 *
 * One SoupSession per client keeps the connection alive between requests. Each request holds
 * its own reference to the session and a copy of the URL, so freeing the client while a request
 * is in flight is safe (the request then fails as cancelled). The timeout is ours, not the
 * session's (libsoup counts whole seconds): a GSource on the caller's main context cancels a
 * private GCancellable, and the result is reported as G_IO_ERROR_TIMED_OUT. The answer body is
 * read with a cap, so a hostile or broken server cannot make us buffer without bound. */
#include "kmsclient.h"

#include "log.h"

#include <libsoup/soup.h>
#include <string.h>

#define KMS_CONTENT_TYPE "application/mikey"
/* Profile 3 caps request bodies at 64 KiB; answers are smaller than requests in practice. */
#define KMS_MAX_ANSWER (256 * 1024)
/* Answers are a few hundred bytes: every read allocates its whole chunk (and every answer
 * takes a second read to see the end), so a large chunk only costs allocations and page
 * faults under load. */
#define KMS_READ_CHUNK 4096
/* Requests in flight to the KMS at once, each on its own kept-alive connection: libsoup's
 * default of 2 per host serialises a busy focus's resolves behind each other (HTTP/1.1 has no
 * pipelining in libsoup), and under load every request then waits for two round trips
 * through both main loops. */
#define KMS_MAX_CONNS 16

struct _KmsClient {
  char *url;
  GUri *uri;
  SoupSession *session;
  guint timeout_ms;
  GMainContext *sync_ctx; /* kms_client_post_sync's private context, made on first use */
};

KmsClient *kms_client_new(const char *url, const char *ca_file, gboolean allow_insecure,
                          guint timeout_ms, GError **error)
{
  if (url == NULL || url[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no KMS URL configured");
    return NULL;
  }
  g_autoptr(GError) local = NULL;
  g_autoptr(GUri) uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, &local);
  if (uri == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: not a valid URL: %s", url,
                local->message);
    return NULL;
  }
  const char *scheme = g_uri_get_scheme(uri);
  gboolean https = g_ascii_strcasecmp(scheme, "https") == 0;
  if (!https && g_ascii_strcasecmp(scheme, "http") != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s: the KMS URL must be https:// (or http:// for tests)", url);
    return NULL;
  }
  if (g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: no host in the KMS URL", url);
    return NULL;
  }
  if (!https && !allow_insecure) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                "%s: plain http:// to the KMS is refused unless insecure HTTP is allowed "
                "(tests and demos only)",
                url);
    return NULL;
  }

  g_autoptr(GTlsDatabase) db = NULL;
  if (https && ca_file != NULL) {
    db = g_tls_file_database_new(ca_file, &local);
    if (db == NULL) {
      g_set_error(error, local->domain, local->code, "%s: CA file %s: %s", url, ca_file,
                  local->message);
      return NULL;
    }
  }

  KmsClient *client = g_new0(KmsClient, 1);
  client->url = g_strdup(url);
  client->uri = g_steal_pointer(&uri);
  client->timeout_ms = timeout_ms;
  /* Idle connections are kept (no idle timeout): mikeykmsd built on libsoup 3.2 loses a
   * kept-alive connection that its client closes while idle (server.c), and the KMS only keeps
   * the connections of resolves, so the focus's pool stays as it is until the focus stops.
   * No proxy: the KMS is an internal service, and a proxy inherited from the environment would
   * be a surprising extra hop for key traffic. Certificates are checked against the CA file
   * (or the system store without one); GIO always verifies the host name against the URL. */
  client->session = soup_session_new_with_options(
      "proxy-resolver", NULL, "user-agent", PACKAGE_NAME "/" PACKAGE_VERSION, "max-conns",
      KMS_MAX_CONNS, "max-conns-per-host", KMS_MAX_CONNS, "idle-timeout", 0, NULL);
  if (db != NULL) {
    soup_session_set_tls_database(client->session, db);
    /* libsoup builds each TLS connection before it gives it the session's database, and
     * glib-networking loads the process's default database (the system CA bundle: about
     * 3.5 MB, kept for the process's life) in that construction. With a CA file of our own
     * that bundle is never used: our programs open no other GIO TLS client connection, and
     * trusting only the KMS CA could only make one stricter. */
    g_tls_backend_set_default_database(g_tls_backend_get_default(), db);
  }
  if (!https)
    log_warning("KMS URL %s is plain http: no TLS, no server authentication (tests and demos only)",
                url);
  return client;
}

void kms_client_free(KmsClient *client)
{
  if (client == NULL)
    return;
  soup_session_abort(client->session);
  g_object_unref(client->session);
  g_uri_unref(client->uri);
  if (client->sync_ctx != NULL) {
    /* Let libsoup's sources on the private context finish before it goes. */
    while (g_main_context_iteration(client->sync_ctx, FALSE))
      ;
    g_main_context_unref(client->sync_ctx);
  }
  g_free(client->url);
  g_free(client);
}

/* ---------------------------------------------------------------------------------------- */
/* One request                                                                              */

typedef struct {
  SoupSession *session;
  SoupMessage *msg;
  char *url;
  guint timeout_ms;
  GCancellable *internal; /* what libsoup sees: cancelled by the timer or the caller */
  GCancellable *caller;   /* the caller's, if any */
  gulong caller_handler;
  GSource *timer;
  gboolean timed_out;
  GInputStream *stream;
  GByteArray *body;
  guint status;
  GTlsCertificateFlags tls_errors; /* why the KMS's certificate was refused; 0: it was not */
} Request;

static void request_free(gpointer p)
{
  Request *r = p;
  if (r->timer != NULL) {
    g_source_destroy(r->timer);
    g_source_unref(r->timer);
  }
  if (r->caller != NULL) {
    g_cancellable_disconnect(r->caller, r->caller_handler);
    g_object_unref(r->caller);
  }
  g_clear_object(&r->stream);
  g_clear_object(&r->internal);
  if (r->msg != NULL)
    g_signal_handlers_disconnect_by_data(r->msg, r); /* libsoup may hold it a little longer */
  g_clear_object(&r->msg);
  g_clear_object(&r->session);
  if (r->body != NULL)
    g_byte_array_unref(r->body);
  g_free(r->url);
  g_free(r);
}

/* Stops the timer and the link to the caller's cancellable once the outcome is known. */
static void request_settle(Request *r)
{
  if (r->timer != NULL) {
    g_source_destroy(r->timer);
    g_clear_pointer(&r->timer, g_source_unref);
  }
  if (r->caller != NULL) {
    g_cancellable_disconnect(r->caller, r->caller_handler);
    r->caller_handler = 0;
    g_clear_object(&r->caller);
  }
}

/* What is wrong with a refused certificate, for the error ("...; the KMS's certificate is ..."). */
static char *tls_errors_text(GTlsCertificateFlags f)
{
  static const struct {
    GTlsCertificateFlags flag;
    const char *text;
  } names[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA, "not issued by the configured CA (kms-ca)" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "not for the host name of the kms-url" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "expired" },
    { G_TLS_CERTIFICATE_REVOKED, "revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "insecure algorithm" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "unusable" },
  };
  GString *s = g_string_new(NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
    if (f & names[i].flag)
      g_string_append_printf(s, "%s%s", s->len ? ", " : "", names[i].text);
  return g_string_free(s, FALSE);
}

/* libsoup asks before refusing a certificate: keep the reasons (the error it then reports
 * only says "Unacceptable TLS certificate") and refuse. */
static gboolean on_accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
                                      GTlsCertificateFlags errors, gpointer data)
{
  ((Request *)data)->tls_errors = errors;
  return FALSE;
}

static void request_fail(GTask *task, GError *err)
{
  Request *r = g_task_get_task_data(task);
  request_settle(r);
  if (r->timed_out && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "%s: no answer from the KMS within %u ms", r->url, r->timeout_ms);
  } else if (r->tls_errors != 0) {
    g_autofree char *why = tls_errors_text(r->tls_errors);
    g_task_return_new_error(task, err->domain, err->code, "%s: %s; the KMS's certificate is %s",
                            r->url, err->message, why);
  } else {
    g_task_return_new_error(task, err->domain, err->code, "%s: %s", r->url, err->message);
  }
  g_error_free(err);
  g_object_unref(task);
}

static void request_done(GTask *task)
{
  Request *r = g_task_get_task_data(task);
  request_settle(r);
  r->status = soup_message_get_status(r->msg);
  const char *ctype =
      soup_message_headers_get_content_type(soup_message_get_response_headers(r->msg), NULL);
  GBytes *body = NULL;
  if (ctype != NULL && g_ascii_strcasecmp(ctype, KMS_CONTENT_TYPE) == 0 && r->body->len > 0)
    body = g_byte_array_free_to_bytes(g_steal_pointer(&r->body));
  g_task_return_pointer(task, body, (GDestroyNotify)g_bytes_unref);
  g_object_unref(task);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Request *r = g_task_get_task_data(task);
  GError *err = NULL;
  GBytes *chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &err);
  if (chunk == NULL) {
    request_fail(task, err);
    return;
  }
  gsize len = 0;
  const guint8 *data_ptr = g_bytes_get_data(chunk, &len);
  if (len == 0) {
    g_bytes_unref(chunk);
    /* At EOF the body stream closes without blocking; the connection goes back to the pool. */
    g_input_stream_close(r->stream, NULL, NULL);
    request_done(task);
    return;
  }
  if (r->body->len + len > KMS_MAX_ANSWER) {
    g_bytes_unref(chunk);
    request_fail(task, g_error_new(G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                   "answer body larger than %d bytes", KMS_MAX_ANSWER));
    return;
  }
  g_byte_array_append(r->body, data_ptr, (guint)len);
  g_bytes_unref(chunk);
  g_input_stream_read_bytes_async(r->stream, KMS_READ_CHUNK, G_PRIORITY_DEFAULT, r->internal,
                                  on_read, task);
}

static void on_sent(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Request *r = g_task_get_task_data(task);
  GError *err = NULL;
  r->stream = soup_session_send_finish(SOUP_SESSION(source), res, &err);
  if (r->stream == NULL) {
    request_fail(task, err);
    return;
  }
  r->body = g_byte_array_new();
  g_input_stream_read_bytes_async(r->stream, KMS_READ_CHUNK, G_PRIORITY_DEFAULT, r->internal,
                                  on_read, task);
}

static gboolean on_timeout(gpointer data)
{
  Request *r = data;
  r->timed_out = TRUE;
  g_cancellable_cancel(r->internal);
  return G_SOURCE_REMOVE;
}

static void on_caller_cancelled(GCancellable *cancellable, gpointer data)
{
  g_cancellable_cancel(G_CANCELLABLE(data));
}

void kms_client_post_async(KmsClient *client, GBytes *body, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(client != NULL && body != NULL);
  GTask *task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, kms_client_post_async);
  g_task_set_name(task, "kms_client_post");
  /* The error replaces a cancellation only when it is ours: report the caller's own
   * cancellation as such, not GTask's generic one. */
  g_task_set_check_cancellable(task, FALSE);

  Request *r = g_new0(Request, 1);
  r->session = g_object_ref(client->session);
  r->url = g_strdup(client->url);
  r->timeout_ms = client->timeout_ms;
  r->internal = g_cancellable_new();
  r->msg = soup_message_new_from_uri(SOUP_METHOD_POST, client->uri);
  g_signal_connect(r->msg, "accept-certificate", G_CALLBACK(on_accept_certificate), r);
  g_task_set_task_data(task, r, request_free);

  /* No redirects (never from https to anything else). IDEMPOTENT: libsoup reuses a kept-alive
   * connection only for idempotent requests. Should the KMS close an idle connection just as
   * we reuse it, libsoup re-sends; a message the KMS did see is then refused as a replay (403,
   * ERR 1), which the caller handles like any refusal. That rare case is cheaper than a TCP and
   * TLS handshake for every ticket request. */
  soup_message_add_flags(r->msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
  soup_message_set_request_body_from_bytes(r->msg, KMS_CONTENT_TYPE, body);
  soup_message_headers_replace(soup_message_get_request_headers(r->msg), "Accept",
                               KMS_CONTENT_TYPE);

  if (cancellable != NULL) {
    r->caller = g_object_ref(cancellable);
    /* Runs at once if already cancelled. */
    r->caller_handler =
        g_cancellable_connect(cancellable, G_CALLBACK(on_caller_cancelled), r->internal, NULL);
  }
  if (r->timeout_ms > 0) {
    r->timer = g_timeout_source_new(r->timeout_ms);
    g_source_set_callback(r->timer, on_timeout, r, NULL);
    g_source_set_name(r->timer, "kms_client timeout");
    g_source_attach(r->timer, g_main_context_get_thread_default());
  }
  soup_session_send_async(r->session, r->msg, G_PRIORITY_DEFAULT, r->internal, on_sent, task);
}

GBytes *kms_client_post_finish(KmsClient *client, GAsyncResult *result, guint *http_status,
                               GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  GTask *task = G_TASK(result);
  Request *r = g_task_get_task_data(task);
  GError *local = NULL;
  GBytes *body = g_task_propagate_pointer(task, &local);
  if (http_status != NULL)
    *http_status = local == NULL ? r->status : 0;
  if (local != NULL)
    g_propagate_error(error, local);
  return body;
}

typedef struct {
  GAsyncResult *result;
} SyncWait;

static void sync_done(GObject *source, GAsyncResult *res, gpointer data)
{
  SyncWait *w = data;
  w->result = g_object_ref(res);
}

GBytes *kms_client_post_sync(KmsClient *client, GBytes *body, guint *http_status, GError **error)
{
  g_return_val_if_fail(client != NULL && body != NULL, NULL);
  /* A private main context: the caller's loop (if any) does not run while we wait, and
   * nothing of ours runs on it. libsoup (>= 3.2) serves a request on the thread-default
   * context it was started from. One context per client, kept for its lifetime: a kept-alive
   * connection has sources on the context that last used it, and with a fresh context per
   * call libsoup stalled once the per-host connection limit was reached. */
  if (client->sync_ctx == NULL)
    client->sync_ctx = g_main_context_new();
  GMainContext *ctx = client->sync_ctx;
  g_main_context_push_thread_default(ctx);
  SyncWait w = { NULL };
  kms_client_post_async(client, body, NULL, sync_done, &w);
  while (w.result == NULL)
    g_main_context_iteration(ctx, TRUE);
  GBytes *answer = kms_client_post_finish(client, w.result, http_status, error);
  g_object_unref(w.result);
  g_main_context_pop_thread_default(ctx);
  return answer;
}
