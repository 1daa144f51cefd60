/* The KMS HTTP client (profile 3) against an in-process libsoup server running on its own
 * thread and main context (so the synchronous API, which runs a private context, and the
 * asynchronous one on the test's default context are both served): the request as the KMS
 * sees it, status and body of the answer, the content-type rule, http:// refusal, the
 * per-request timeout, cancellation, keep-alive, the answer size cap, and TLS verification
 * against a CA generated here with OpenSSL (success, unknown CA, wrong host name). */
#include "common/kmsclient.h"
#include "common/log.h"

#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---------------------------------------------------------------------------------------- */
/* The test server                                                                          */

typedef struct {
  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;
  GTlsCertificate *cert; /* NULL: plain HTTP */
  GTlsDatabase *db;      /* with cert */
  guint port;
  GError *error;
  GMutex lock;
  GCond cond;
  gboolean ready;
  /* guarded by lock */
  guint requests;
  char *last_method;
  char *last_content_type;
  char *last_accept;
  GArray *remote_ports;
  GPtrArray *paused;
} TestServer;

static void server_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                           GHashTable *query, gpointer data)
{
  TestServer *s = data;
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);

  g_mutex_lock(&s->lock);
  s->requests++;
  g_free(s->last_method);
  s->last_method = g_strdup(soup_server_message_get_method(msg));
  g_free(s->last_content_type);
  s->last_content_type = g_strdup(soup_message_headers_get_content_type(req, NULL));
  g_free(s->last_accept);
  s->last_accept = g_strdup(soup_message_headers_get_one(req, "Accept"));
  guint16 port = G_IS_INET_SOCKET_ADDRESS(remote)
                     ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(remote))
                     : 0;
  g_array_append_val(s->remote_ports, port);
  g_mutex_unlock(&s->lock);

  if (strcmp(path, "/hang") == 0) {
    /* Never answered: the client's timeout must fire. */
    soup_server_message_pause(msg);
    g_mutex_lock(&s->lock);
    g_ptr_array_add(s->paused, g_object_ref(msg));
    g_mutex_unlock(&s->lock);
    return;
  }
  if (strcmp(path, "/text") == 0) {
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY, "hello", 5);
    return;
  }
  if (strcmp(path, "/empty") == 0) {
    soup_server_message_set_status(msg, 400, NULL);
    soup_server_message_set_response(msg, "application/mikey", SOUP_MEMORY_STATIC, "", 0);
    return;
  }
  if (strcmp(path, "/big") == 0) {
    gsize n = 300 * 1024;
    char *big = g_malloc0(n);
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, "application/mikey", SOUP_MEMORY_TAKE, big, n);
    return;
  }
  /* /echo and /forbidden answer the request body as a MIKEY message. */
  guint status = strcmp(path, "/forbidden") == 0 ? 403 : 200;
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, "Application/MIKEY", SOUP_MEMORY_COPY,
                                   g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

/* Connections are accepted by a GSocketService and handed to the SoupServer with
 * soup_server_accept_iostream() (wrapped in TLS first when there is a certificate), rather than
 * by soup_server_listen_*(): libsoup 3.2.3's own listener leaks the accepted GSocket and its
 * cached local address (fixed upstream in 3.4: b545d5f0, c07ff61f), which LeakSanitizer would
 * report against this test. */
typedef struct {
  TestServer *s;
  SoupServer *server;
} Acceptor;

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
                            gpointer data)
{
  Acceptor *a = data;
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(conn, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(conn, NULL);
  if (local == NULL || remote == NULL)
    return TRUE;
  g_autoptr(GIOStream) stream = NULL;
  if (a->s->cert != NULL) {
    GIOStream *tls = g_tls_server_connection_new(G_IO_STREAM(conn), a->s->cert, NULL);
    if (tls == NULL)
      return TRUE;
    /* A TLS database of our own: without one GnuTLS would load the system trust store. */
    g_tls_connection_set_database(G_TLS_CONNECTION(tls), a->s->db);
    stream = tls;
  } else {
    stream = g_object_ref(G_IO_STREAM(conn));
  }
  soup_server_accept_iostream(a->server, stream, local, remote, NULL);
  return TRUE;
}

static gpointer server_thread(gpointer data)
{
  TestServer *s = data;
  g_main_context_push_thread_default(s->ctx);
  Acceptor a = { .s = s, .server = soup_server_new(NULL, NULL) };
  soup_server_add_handler(a.server, NULL, server_handler, s, NULL);
  GSocketService *service = g_socket_service_new();
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(lo, 0);
  g_autoptr(GSocket) idle =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &s->error);
  gboolean ok = idle != NULL && g_socket_bind(idle, any_port, FALSE, &s->error) &&
                g_socket_listen(idle, &s->error) &&
                soup_server_listen_socket(a.server, idle, 0, &s->error);
  GSocketAddress *bound = NULL;
  ok = ok &&
       g_socket_listener_add_address(G_SOCKET_LISTENER(service), any_port, G_SOCKET_TYPE_STREAM,
                                     G_SOCKET_PROTOCOL_TCP, NULL, &bound, &s->error);
  if (ok) {
    s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_object_unref(bound);
    g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), &a);
    g_socket_service_start(service);
  }
  g_mutex_lock(&s->lock);
  s->ready = TRUE;
  g_cond_signal(&s->cond);
  g_mutex_unlock(&s->lock);
  if (ok)
    g_main_loop_run(s->loop);

  g_socket_service_stop(service);
  g_socket_listener_close(G_SOCKET_LISTENER(service));
  g_signal_handlers_disconnect_by_data(service, &a);
  g_object_unref(service);
  soup_server_disconnect(a.server);
  g_ptr_array_set_size(s->paused, 0);
  GObject *weak = G_OBJECT(a.server);
  g_object_add_weak_pointer(weak, (gpointer *)&weak);
  g_object_unref(a.server);
  /* Closing connections completes asynchronously on this context: run it until the server is
   * gone (or a second passes), so nothing of it is left for LeakSanitizer. */
  gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
  while (weak != NULL && g_get_monotonic_time() < deadline) {
    if (!g_main_context_iteration(s->ctx, FALSE))
      g_usleep(1000);
  }
  if (weak != NULL)
    g_object_remove_weak_pointer(weak, (gpointer *)&weak);
  while (g_main_context_iteration(s->ctx, FALSE))
    ;
  g_main_context_pop_thread_default(s->ctx);
  return NULL;
}

static TestServer *server_start(GTlsCertificate *cert, GTlsDatabase *db)
{
  TestServer *s = g_new0(TestServer, 1);
  s->ctx = g_main_context_new();
  s->loop = g_main_loop_new(s->ctx, FALSE);
  s->cert = cert != NULL ? g_object_ref(cert) : NULL;
  s->db = db != NULL ? g_object_ref(db) : NULL;
  s->remote_ports = g_array_new(FALSE, FALSE, sizeof(guint16));
  s->paused = g_ptr_array_new_with_free_func(g_object_unref);
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  s->thread = g_thread_new("test-server", server_thread, s);
  g_mutex_lock(&s->lock);
  while (!s->ready)
    g_cond_wait(&s->cond, &s->lock);
  g_mutex_unlock(&s->lock);
  g_assert_no_error(s->error);
  g_assert_cmpuint(s->port, >, 0);
  return s;
}

static void server_stop(TestServer *s)
{
  g_main_loop_quit(s->loop);
  g_main_context_wakeup(s->ctx);
  g_thread_join(s->thread);
  g_main_loop_unref(s->loop);
  g_main_context_unref(s->ctx);
  g_clear_object(&s->cert);
  g_clear_object(&s->db);
  g_free(s->last_method);
  g_free(s->last_content_type);
  g_free(s->last_accept);
  g_array_unref(s->remote_ports);
  g_ptr_array_unref(s->paused);
  g_mutex_clear(&s->lock);
  g_cond_clear(&s->cond);
  g_free(s);
}

static char *server_url(TestServer *s, const char *scheme, const char *host, const char *path)
{
  return g_strdup_printf("%s://%s:%u%s", scheme, host, s->port, path);
}

static KmsClient *plain_client(TestServer *s, const char *path, guint timeout_ms)
{
  g_autofree char *url = server_url(s, "http", "127.0.0.1", path);
  g_autoptr(GError) error = NULL;
  KmsClient *c = kms_client_new(url, NULL, TRUE, timeout_ms, &error);
  g_assert_no_error(error);
  g_assert_nonnull(c);
  return c;
}

static GBytes *mikey_body(void)
{
  static const guint8 msg[] = { 0x01, 0x00, 0x0b, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };
  return g_bytes_new_static(msg, sizeof msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Plain HTTP                                                                               */

static void test_sync_echo(void)
{
  TestServer *s = server_start(NULL, NULL);
  g_autoptr(KmsClient) c = plain_client(s, "/mikey/echo", 5000);
  /* The handler sees the whole path; the echo branch is the default. */
  g_autoptr(GBytes) req = mikey_body();
  g_autoptr(GError) error = NULL;
  guint status = 0;
  g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 200);
  g_assert_nonnull(answer);
  g_assert_true(g_bytes_equal(answer, req));
  g_mutex_lock(&s->lock);
  g_assert_cmpstr(s->last_method, ==, "POST");
  g_assert_cmpstr(s->last_content_type, ==, "application/mikey");
  g_assert_cmpstr(s->last_accept, ==, "application/mikey");
  g_mutex_unlock(&s->lock);

  /* A second request reuses the connection (same client port on the server side). */
  g_autoptr(GBytes) answer2 = kms_client_post_sync(c, req, &status, &error);
  g_assert_no_error(error);
  g_assert_true(g_bytes_equal(answer2, req));
  g_mutex_lock(&s->lock);
  g_assert_cmpuint(s->remote_ports->len, ==, 2);
  g_assert_cmpuint(g_array_index(s->remote_ports, guint16, 0), ==,
                   g_array_index(s->remote_ports, guint16, 1));
  g_mutex_unlock(&s->lock);
  g_clear_pointer(&c, kms_client_free);
  server_stop(s);
}

static void test_sync_statuses(void)
{
  TestServer *s = server_start(NULL, NULL);
  g_autoptr(GBytes) req = mikey_body();

  /* 403 with a MIKEY body: status and body both reach the caller. */
  {
    g_autoptr(KmsClient) c = plain_client(s, "/forbidden", 5000);
    g_autoptr(GError) error = NULL;
    guint status = 0;
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(status, ==, 403);
    g_assert_nonnull(answer);
    g_assert_true(g_bytes_equal(answer, req));
  }
  /* Another content type: the status, but no body. */
  {
    g_autoptr(KmsClient) c = plain_client(s, "/text", 5000);
    g_autoptr(GError) error = NULL;
    guint status = 0;
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(status, ==, 200);
    g_assert_null(answer);
  }
  /* application/mikey but empty (profile 3: 400 with an unparseable HDR): no body. */
  {
    g_autoptr(KmsClient) c = plain_client(s, "/empty", 5000);
    g_autoptr(GError) error = NULL;
    guint status = 0;
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(status, ==, 400);
    g_assert_null(answer);
  }
  /* An answer over the cap is an error, not a huge buffer. */
  {
    g_autoptr(KmsClient) c = plain_client(s, "/big", 5000);
    g_autoptr(GError) error = NULL;
    guint status = 99;
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
    g_assert_cmpuint(status, ==, 0);
    g_assert_null(answer);
  }
  server_stop(s);
}

typedef struct {
  GMainLoop *loop;
  KmsClient *client;
  GBytes *answer;
  guint status;
  GError *error;
  gboolean called;
} AsyncWait;

static void async_done(GObject *source, GAsyncResult *res, gpointer data)
{
  AsyncWait *w = data;
  g_assert_null(source);
  w->answer = kms_client_post_finish(w->client, res, &w->status, &w->error);
  w->called = TRUE;
  g_main_loop_quit(w->loop);
}

static void async_wait_clear(AsyncWait *w)
{
  g_main_loop_unref(w->loop);
  g_clear_pointer(&w->answer, g_bytes_unref);
  g_clear_error(&w->error);
}

static void test_async(void)
{
  TestServer *s = server_start(NULL, NULL);
  g_autoptr(GBytes) req = mikey_body();
  g_autoptr(KmsClient) c = plain_client(s, "/echo", 5000);
  g_autoptr(KmsClient) f = plain_client(s, "/forbidden", 5000);

  AsyncWait w = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  kms_client_post_async(c, req, NULL, async_done, &w);
  g_assert_false(w.called); /* never completes before returning to the loop */
  g_main_loop_run(w.loop);
  g_assert_no_error(w.error);
  g_assert_cmpuint(w.status, ==, 200);
  g_assert_true(g_bytes_equal(w.answer, req));
  async_wait_clear(&w);

  /* Two in flight at once on the same context, each gets its own answer. */
  AsyncWait w1 = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  AsyncWait w2 = { .loop = g_main_loop_new(NULL, FALSE), .client = f };
  kms_client_post_async(c, req, NULL, async_done, &w1);
  kms_client_post_async(f, req, NULL, async_done, &w2);
  while (!w1.called || !w2.called)
    g_main_context_iteration(NULL, TRUE);
  g_assert_no_error(w1.error);
  g_assert_no_error(w2.error);
  g_assert_cmpuint(w1.status, ==, 200);
  g_assert_cmpuint(w2.status, ==, 403);
  async_wait_clear(&w1);
  async_wait_clear(&w2);

  g_clear_pointer(&c, kms_client_free);
  g_clear_pointer(&f, kms_client_free);
  server_stop(s);
}

static void test_insecure_refused(void)
{
  g_autoptr(GError) error = NULL;
  g_assert_null(kms_client_new("http://127.0.0.1:8080/mikey", NULL, FALSE, 1000, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull(strstr(error->message, "http://127.0.0.1:8080/mikey"));
  g_clear_error(&error);

  static const char *const bad[] = { "", "ftp://h/x", "not a url", "https:///nohost", "/mikey" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_null(kms_client_new(bad[i], NULL, TRUE, 1000, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
  }
  g_assert_null(kms_client_new(NULL, NULL, TRUE, 1000, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);

  /* Allowed, it says so in the log (once, at creation). */
  if (g_test_subprocess()) {
    g_assert_true(log_set_level_name("warning", NULL));
    KmsClient *c = kms_client_new("http://127.0.0.1:8080/mikey", NULL, TRUE, 1000, NULL);
    g_assert_nonnull(c);
    kms_client_free(c);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stderr("*warning*http://127.0.0.1:8080/mikey*plain http*");
}

static void test_timeout(void)
{
  TestServer *s = server_start(NULL, NULL);
  g_autoptr(GBytes) req = mikey_body();
  g_autofree char *url = server_url(s, "http", "127.0.0.1", "/hang");
  g_autoptr(KmsClient) c = plain_client(s, "/hang", 300);

  gint64 t0 = g_get_monotonic_time();
  g_autoptr(GError) error = NULL;
  guint status = 99;
  g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
  gint64 elapsed_ms = (g_get_monotonic_time() - t0) / 1000;
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull(strstr(error->message, url));
  g_assert_null(answer);
  g_assert_cmpuint(status, ==, 0);
  g_assert_cmpint(elapsed_ms, >=, 250);
  g_assert_cmpint(elapsed_ms, <, 30000); /* i.e. it did not wait for libsoup's own minute */

  /* Async, on the default context. */
  AsyncWait w = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  kms_client_post_async(c, req, NULL, async_done, &w);
  g_main_loop_run(w.loop);
  g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_null(w.answer);
  async_wait_clear(&w);
  g_clear_pointer(&c, kms_client_free);

  /* The server is still fine for a client with time to wait. */
  g_autoptr(KmsClient) ok = plain_client(s, "/echo", 300);
  g_clear_error(&error);
  g_autoptr(GBytes) echoed = kms_client_post_sync(ok, req, &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 200);
  g_assert_true(g_bytes_equal(echoed, req));
  g_clear_pointer(&ok, kms_client_free);
  server_stop(s);
}

static void test_cancel(void)
{
  TestServer *s = server_start(NULL, NULL);
  g_autoptr(GBytes) req = mikey_body();
  g_autoptr(KmsClient) c = plain_client(s, "/hang", 10000);

  /* The caller's cancellable: reported as cancelled, not as a timeout. */
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  AsyncWait w = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  kms_client_post_async(c, req, cancel, async_done, &w);
  g_timeout_add_once(100, (GSourceOnceFunc)g_cancellable_cancel, cancel);
  g_main_loop_run(w.loop);
  g_assert_error(w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  async_wait_clear(&w);

  /* Already cancelled before the call. */
  g_autoptr(GCancellable) pre = g_cancellable_new();
  g_cancellable_cancel(pre);
  AsyncWait w2 = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  kms_client_post_async(c, req, pre, async_done, &w2);
  g_main_loop_run(w2.loop);
  g_assert_error(w2.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  async_wait_clear(&w2);

  /* Freeing the client with a request in flight: the request ends (cancelled), no crash. */
  AsyncWait w3 = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
  kms_client_post_async(c, req, NULL, async_done, &w3);
  g_clear_pointer(&c, kms_client_free);
  w3.client = NULL;
  g_main_loop_run(w3.loop);
  g_assert_nonnull(w3.error);
  async_wait_clear(&w3);
  server_stop(s);
}

static void test_refused(void)
{
  /* A port with nothing listening: bind one, note it, close it. */
  g_autoptr(GSocket) sock =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
  g_assert_true(g_socket_bind(sock, any, FALSE, NULL));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, NULL);
  guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_socket_close(sock, NULL);

  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/mikey", port);
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsClient) c = kms_client_new(url, NULL, TRUE, 5000, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) req = mikey_body();
  guint status = 99;
  g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
  g_assert_null(answer);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_true(g_str_has_prefix(error->message, url));
  g_assert_cmpuint(status, ==, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* TLS, with a CA and server certificate made here                                          */

typedef struct {
  EVP_PKEY *key;
  X509 *cert;
} KeyCert;

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  g_assert_nonnull(ext);
  g_assert_cmpint(X509_add_ext(cert, ext, -1), ==, 1);
  X509_EXTENSION_free(ext);
}

/* A CA (issuer NULL: self-signed) or a server certificate for san signed by issuer. */
static KeyCert make_cert(const char *cn, const char *san, const KeyCert *issuer)
{
  KeyCert kc;
  kc.key = EVP_EC_gen("P-256");
  g_assert_nonnull(kc.key);
  kc.cert = X509_new();
  X509_set_version(kc.cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(kc.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(kc.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(kc.cert), 24 * 3600);
  X509_set_pubkey(kc.cert, kc.key);
  X509_NAME *name = X509_get_subject_name(kc.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509 *issuer_cert = issuer != NULL ? issuer->cert : kc.cert;
  EVP_PKEY *issuer_key = issuer != NULL ? issuer->key : kc.key;
  X509_set_issuer_name(kc.cert, X509_get_subject_name(issuer_cert));
  if (issuer == NULL) {
    add_ext(kc.cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(kc.cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(kc.cert, issuer_cert, NID_subject_key_identifier, "hash");
  } else {
    add_ext(kc.cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(kc.cert, issuer_cert, NID_key_usage, "critical,digitalSignature");
    add_ext(kc.cert, issuer_cert, NID_ext_key_usage, "serverAuth");
    add_ext(kc.cert, issuer_cert, NID_subject_alt_name, san);
    add_ext(kc.cert, issuer_cert, NID_authority_key_identifier, "keyid");
  }
  g_assert_cmpint(X509_sign(kc.cert, issuer_key, EVP_sha256()), >, 0);
  return kc;
}

static void key_cert_free(KeyCert *kc)
{
  EVP_PKEY_free(kc->key);
  X509_free(kc->cert);
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
  BIO *bio = BIO_new_file(path, "w");
  g_assert_nonnull(bio);
  if (cert != NULL)
    g_assert_cmpint(PEM_write_bio_X509(bio, cert), ==, 1);
  if (key != NULL)
    g_assert_cmpint(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), ==, 1);
  BIO_free(bio);
}

typedef struct {
  char *dir;
  char *ca_pem;
  char *other_ca_pem;
  GTlsCertificate *server_cert;
} TlsFixture;

static void tls_setup(TlsFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("test-kmsclient-XXXXXX", &error);
  g_assert_no_error(error);
  KeyCert ca = make_cert("mikeyconf test CA", NULL, NULL);
  KeyCert other = make_cert("some other CA", NULL, NULL);
  KeyCert server = make_cert("127.0.0.1", "IP:127.0.0.1", &ca);
  f->ca_pem = g_build_filename(f->dir, "ca.pem", NULL);
  f->other_ca_pem = g_build_filename(f->dir, "other-ca.pem", NULL);
  g_autofree char *cert_pem = g_build_filename(f->dir, "server.pem", NULL);
  g_autofree char *key_pem = g_build_filename(f->dir, "server.key", NULL);
  write_pem(f->ca_pem, ca.cert, NULL);
  write_pem(f->other_ca_pem, other.cert, NULL);
  write_pem(cert_pem, server.cert, NULL);
  write_pem(key_pem, NULL, server.key);
  f->server_cert = g_tls_certificate_new_from_files(cert_pem, key_pem, &error);
  g_assert_no_error(error);
  key_cert_free(&ca);
  key_cert_free(&other);
  key_cert_free(&server);
  g_unlink(cert_pem);
  g_unlink(key_pem);
}

static void tls_teardown(TlsFixture *f, gconstpointer data)
{
  g_unlink(f->ca_pem);
  g_unlink(f->other_ca_pem);
  g_rmdir(f->dir);
  g_free(f->ca_pem);
  g_free(f->other_ca_pem);
  g_free(f->dir);
  g_clear_object(&f->server_cert);
}

static void test_tls(TlsFixture *f, gconstpointer data)
{
  g_autoptr(GError) db_error = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new(f->ca_pem, &db_error);
  g_assert_no_error(db_error);
  TestServer *s = server_start(f->server_cert, db);
  g_autoptr(GBytes) req = mikey_body();
  g_autoptr(GError) error = NULL;
  guint status = 0;

  /* The right CA: verified, answered. */
  {
    g_autofree char *url = server_url(s, "https", "127.0.0.1", "/echo");
    g_autoptr(KmsClient) c = kms_client_new(url, f->ca_pem, FALSE, 5000, &error);
    g_assert_no_error(error);
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(status, ==, 200);
    g_assert_true(g_bytes_equal(answer, req));

    /* and asynchronously */
    AsyncWait w = { .loop = g_main_loop_new(NULL, FALSE), .client = c };
    kms_client_post_async(c, req, NULL, async_done, &w);
    g_main_loop_run(w.loop);
    g_assert_no_error(w.error);
    g_assert_cmpuint(w.status, ==, 200);
    async_wait_clear(&w);
  }
  g_mutex_lock(&s->lock);
  guint served = s->requests;
  g_mutex_unlock(&s->lock);
  g_assert_cmpuint(served, ==, 2);

  /* A CA that did not sign the server certificate: refused before any request. */
  {
    g_autofree char *url = server_url(s, "https", "127.0.0.1", "/echo");
    g_autoptr(KmsClient) c = kms_client_new(url, f->other_ca_pem, FALSE, 5000, &error);
    g_assert_no_error(error);
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_null(answer);
    g_assert_nonnull(error);
    g_assert_true(error->domain == G_TLS_ERROR);
    g_assert_true(g_str_has_prefix(error->message, url));
    g_clear_error(&error);
  }
  /* The right CA but another host name than the certificate's. */
  {
    g_autofree char *url = server_url(s, "https", "localhost", "/echo");
    g_autoptr(KmsClient) c = kms_client_new(url, f->ca_pem, FALSE, 5000, &error);
    g_assert_no_error(error);
    g_autoptr(GBytes) answer = kms_client_post_sync(c, req, &status, &error);
    g_assert_null(answer);
    g_assert_nonnull(error);
    g_assert_true(error->domain == G_TLS_ERROR);
    g_clear_error(&error);
  }
  g_mutex_lock(&s->lock);
  served = s->requests;
  g_mutex_unlock(&s->lock);
  g_assert_cmpuint(served, ==, 2);

  /* A CA file that does not exist or is not PEM. */
  {
    g_autofree char *url = server_url(s, "https", "127.0.0.1", "/echo");
    g_autofree char *missing = g_build_filename(f->dir, "missing.pem", NULL);
    g_assert_null(kms_client_new(url, missing, FALSE, 5000, &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, missing));
    g_clear_error(&error);
  }
  server_stop(s);
}

/* GLib keeps idle worker threads (GTask's pool: TLS handshakes, DNS) after the tests. Ends them
 * before exit: those threads ran GnuTLS (a dlopen'ed GIO module) and carry dynamic TLS blocks
 * that GCC 12's LeakSanitizer crashes on ("Tracer caught signal 11") when it scans a live
 * thread at exit. A worker becomes "unused" half a second after its last task. */
static void end_idle_workers(void)
{
  g_thread_pool_set_max_unused_threads(0);
  gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
  gint64 settle = g_get_monotonic_time() + 700 * 1000;
  while (g_get_monotonic_time() < end) {
    g_thread_pool_stop_unused_threads();
    if (g_get_monotonic_time() > settle && g_thread_pool_get_num_unused_threads() == 0)
      break;
    g_usleep(20 * 1000);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Quiet: every http:// client logs a warning (checked in /kmsclient/insecure-refused). */
  log_set_level_name("error", NULL);
  g_test_add_func("/kmsclient/sync-echo", test_sync_echo);
  g_test_add_func("/kmsclient/sync-statuses", test_sync_statuses);
  g_test_add_func("/kmsclient/async", test_async);
  g_test_add_func("/kmsclient/insecure-refused", test_insecure_refused);
  g_test_add_func("/kmsclient/timeout", test_timeout);
  g_test_add_func("/kmsclient/cancel", test_cancel);
  g_test_add_func("/kmsclient/refused", test_refused);
  g_test_add("/kmsclient/tls", TlsFixture, NULL, tls_setup, test_tls, tls_teardown);
  int rc = g_test_run();
  end_idle_workers();
  return rc;
}
