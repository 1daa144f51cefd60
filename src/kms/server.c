/* server.c: the HTTP(S) front end of mikeykmsd (profile 3). It only moves bytes: every decision
 * about a MIKEY message is kms_engine_handle()'s. What it decides itself is transport: method,
 * content type, size, the per-source rate limit, TLS, and the order of a graceful stop.
 *
 * Connections are accepted here (a GSocketService on a socket we bind), TLS is set up here
 * (GTlsServerConnection with the current certificate, handshake before libsoup sees the
 * stream), and the established stream is handed to libsoup with soup_server_accept_iostream().
 * libsoup's own HTTPS listener is not used because replacing SoupServer:tls-certificate on
 * SIGHUP leaks the previous certificate inside libsoup's listener (3.2.3 and later:
 * SoupListener's set_property overwrites its reference without releasing it). Owning the
 * listening socket also makes the graceful stop exact: closing it refuses new connections
 * while libsoup finishes the requests it has.
 *
 * libsoup keeps a connection alive after a response only while the server has a listener
 * (request_finished() in soup-server.c checks priv->listeners); connections given with
 * soup_server_accept_iostream() count on that too. So the server gets one listener that can
 * never accept anything: one end of a socketpair whose other end (kept here) never writes. */
#include "server.h"

#include "common/log.h"
#include "mikey/ntp.h"
#include "mikey/types.h"

#include <errno.h>
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define MIKEY_CONTENT_TYPE "application/mikey"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define FLUSH_INTERVAL_MS 1000
#define HANDSHAKE_TIMEOUT_S 10
#define BUCKET_PRUNE_INTERVAL_S 10
#define BUCKET_IDLE_USEC (10 * G_USEC_PER_SEC)

/* One token bucket per source address: rate tokens a second, as many at most. */
typedef struct {
  double tokens;
  gint64 last; /* monotonic usec */
} Bucket;

struct _KmsServer {
  SoupServer *soup;
  GSocketService *service; /* accepts on our listening socket */
  GTlsCertificate *cert;   /* NULL for plain HTTP */
  GSocket *anchor;         /* the never-writing end of the keep-alive anchor (see above) */
  KmsStore *store;
  KmsEngine *engine;
  KmsMetrics *metrics;
  gboolean https;
  char *listen;
  gint cfg_port; /* as configured (0: ephemeral) */
  guint16 port;  /* as bound */
  char *tls_cert_path, *tls_key_path;
  gint rate_limit;      /* requests per second per source; 0 = off */
  GHashTable *buckets;  /* char *host -> Bucket* */
  GHashTable *requests; /* Request* of live messages (set) */
  guint flush_id;       /* periodic store flush */
  guint prune_id;       /* bucket cleanup */
  guint in_flight;      /* messages between got-headers and finished */
  guint handshaking;    /* TLS handshakes under way */
  gboolean stopping;
  gboolean stopped;
  guint stop_fuse_id; /* timeout of the drain */
  guint stop_idle_id; /* completes the stop outside signal handlers */
  KmsServerStopped stop_done;
  gpointer stop_data;
};

/* Per request state, attached to the SoupServerMessage. */
typedef struct {
  KmsServer *server;
  gboolean counted;    /* counted in in_flight */
  gboolean collecting; /* /mikey body accepted for reading: chunks go to body */
  gboolean too_large;
  GByteArray *body;
} Request;

static const char REQUEST_KEY[] = "kms-server-request";

static void request_free(gpointer data)
{
  Request *req = data;
  if (req->server)
    g_hash_table_remove(req->server->requests, req);
  if (req->body)
    g_byte_array_unref(req->body);
  g_free(req);
}

static Request *request_get(SoupServerMessage *msg)
{
  return g_object_get_data(G_OBJECT(msg), REQUEST_KEY);
}

/* ------------------------------------------------------------------ helpers */

static void flush_store(KmsServer *server)
{
  g_autoptr(GError) error = NULL;
  if (!kms_store_flush(server->store, &error))
    log_warning("cannot write resolve counts to the store: %s", error->message);
}

static gboolean flush_cb(gpointer user_data)
{
  flush_store(user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean prune_buckets_cb(gpointer user_data)
{
  KmsServer *server = user_data;
  gint64 now = g_get_monotonic_time();
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init(&iter, server->buckets);
  while (g_hash_table_iter_next(&iter, NULL, &value)) {
    Bucket *b = value;
    if (now - b->last > BUCKET_IDLE_USEC)
      g_hash_table_iter_remove(&iter);
  }
  return G_SOURCE_CONTINUE;
}

/* TRUE if a request from host may go on; FALSE when its bucket is empty. */
static gboolean rate_allow(KmsServer *server, const char *host)
{
  if (server->rate_limit <= 0)
    return TRUE;
  if (!host)
    host = "";
  gint64 now = g_get_monotonic_time();
  double rate = server->rate_limit;
  Bucket *b = g_hash_table_lookup(server->buckets, host);
  if (!b) {
    b = g_new(Bucket, 1);
    b->tokens = rate;
    b->last = now;
    g_hash_table_insert(server->buckets, g_strdup(host), b);
  } else {
    b->tokens += (double)(now - b->last) * rate / G_USEC_PER_SEC;
    if (b->tokens > rate)
      b->tokens = rate;
    b->last = now;
  }
  if (b->tokens < 1.0)
    return FALSE;
  b->tokens -= 1.0;
  return TRUE;
}

static void set_close(SoupServerMessage *msg)
{
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                               "close");
}

/* An empty answer with a status (405, 413, 415, 503, 404). */
static void refuse(SoupServerMessage *msg, guint status)
{
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, NULL, SOUP_MEMORY_STATIC, NULL, 0);
}

/* The media type of a Content-Type header, without parameters, matches type? */
static gboolean content_type_is(SoupServerMessage *msg, const char *type)
{
  const char *ct =
      soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), NULL);
  return ct && g_ascii_strcasecmp(ct, type) == 0;
}

static void maybe_finish_stop(KmsServer *server);

/* ------------------------------------------------------------------ message life cycle */

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  Request *req = request_get(msg);
  if (!req || !req->server || !req->collecting || req->too_large)
    return;
  gsize len = g_bytes_get_size(chunk);
  if (req->body->len + len > KMS_SERVER_MAX_BODY) {
    /* A chunked body over the limit: stop keeping it, refuse it when it is complete. */
    req->too_large = TRUE;
    g_byte_array_set_size(req->body, 0);
    return;
  }
  g_byte_array_append(req->body, g_bytes_get_data(chunk, NULL), (guint)len);
}

static void on_got_headers(SoupServerMessage *msg, gpointer user_data)
{
  Request *req = request_get(msg);
  if (!req || !req->server || req->counted)
    return;
  req->counted = TRUE;
  req->server->in_flight++;
  if (req->server->stopping)
    set_close(msg);
}

static void on_finished(SoupServerMessage *msg, gpointer user_data)
{
  Request *req = request_get(msg);
  if (!req || !req->server || !req->counted)
    return;
  req->counted = FALSE;
  KmsServer *server = req->server;
  g_assert(server->in_flight > 0);
  server->in_flight--;
  if (server->stopping)
    maybe_finish_stop(server);
}

/* Every answer closes its connection, except a RESOLVE_RESP (mikey_handler), which keeps the
 * focus's connection alive. libsoup 3.2 (Debian 12) never frees a kept-alive connection that
 * the client closes while it is idle (fixed in libsoup 3.3, commit d20c6601): the socket stays
 * in CLOSE_WAIT with its TLS state, one file descriptor lost per client that goes away, and
 * every mikeyua that asked for a ticket goes away. Only an authenticated focus now gets a
 * connection kept; it keeps it open (kmsclient.c: no idle timeout), so what can still be lost
 * is a few connections each time a focus stops. */
static void on_request_started(SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
  KmsServer *server = user_data;
  set_close(msg);
  Request *req = g_new0(Request, 1);
  req->server = server;
  g_hash_table_add(server->requests, req);
  g_object_set_data_full(G_OBJECT(msg), REQUEST_KEY, req, request_free);
  g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), NULL);
  g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), NULL);
  g_signal_connect(msg, "finished", G_CALLBACK(on_finished), NULL);
}

/* ------------------------------------------------------------------ POST /mikey */

/* After the headers, before the body: everything that can be refused without reading it. */
static void mikey_early_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                                GHashTable *query, gpointer user_data)
{
  KmsServer *server = user_data;
  Request *req = request_get(msg);
  SoupMessageHeaders *hdrs = soup_server_message_get_request_headers(msg);
  /* The body is collected by on_got_chunk (bounded), never accumulated by libsoup. */
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);

  if (strcmp(path, "/mikey") != 0) {
    refuse(msg, SOUP_STATUS_NOT_FOUND);
    return;
  }
  if (!rate_allow(server, soup_server_message_get_remote_host(msg))) {
    refuse(msg, SOUP_STATUS_SERVICE_UNAVAILABLE);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "1");
    kms_metrics_count(server->metrics, KMS_REQ_OTHER, "ratelimit", 0);
    return;
  }
  if (strcmp(soup_server_message_get_method(msg), SOUP_METHOD_POST) != 0) {
    refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "POST");
    kms_metrics_count(server->metrics, KMS_REQ_OTHER, "malformed", 0);
    return;
  }
  if (!content_type_is(msg, MIKEY_CONTENT_TYPE)) {
    refuse(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE);
    kms_metrics_count(server->metrics, KMS_REQ_OTHER, "malformed", 0);
    return;
  }
  if (soup_message_headers_get_encoding(hdrs) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length(hdrs) > KMS_SERVER_MAX_BODY) {
    /* libsoup still reads (and here discards) the body before it answers; the connection is
     * closed after the answer so that a client cannot keep streaming. */
    refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
    set_close(msg);
    kms_metrics_count(server->metrics, KMS_REQ_OTHER, "malformed", 0);
    return;
  }
  if (req) {
    req->collecting = TRUE;
    req->body = g_byte_array_sized_new(
        (guint)MIN(soup_message_headers_get_content_length(hdrs), KMS_SERVER_MAX_BODY));
  }
}

static void mikey_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer user_data)
{
  KmsServer *server = user_data;
  Request *req = request_get(msg);
  if (!req || !req->collecting) {
    /* not reached: the early handler either refused or started collecting */
    refuse(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR);
    return;
  }
  if (req->too_large) {
    refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
    set_close(msg);
    kms_metrics_count(server->metrics, KMS_REQ_OTHER, "malformed", 0);
    return;
  }
  g_autoptr(GBytes) body = g_byte_array_free_to_bytes(g_steal_pointer(&req->body));
  KmsAnswer answer = { 0 };
  kms_engine_handle(server->engine, body, mikey_ntp_now(), soup_server_message_get_remote_host(msg),
                    &answer);
  soup_server_message_set_status(msg, answer.status, NULL);
  if (answer.body) {
    gsize len;
    const guint8 *data = g_bytes_get_data(answer.body, &len);
    soup_server_message_set_response(msg, MIKEY_CONTENT_TYPE, SOUP_MEMORY_COPY, (const char *)data,
                                     len);
  } else {
    soup_server_message_set_response(msg, NULL, SOUP_MEMORY_STATIC, NULL, 0);
  }
  /* the engine has logged answer.log_line */
  gsize len = 0;
  const guint8 *data = answer.body ? g_bytes_get_data(answer.body, &len) : NULL;
  if (answer.status == SOUP_STATUS_OK && len >= 2 && data[1] == MIKEY_DT_RESOLVE_RESP &&
      !server->stopping)
    soup_message_headers_remove(soup_server_message_get_response_headers(msg), "Connection");
  kms_answer_clear(&answer);
}

/* ------------------------------------------------------------------ GET /healthz, /metrics */

static gboolean get_only(SoupServerMessage *msg)
{
  const char *method = soup_server_message_get_method(msg);
  if (strcmp(method, SOUP_METHOD_GET) == 0 || strcmp(method, SOUP_METHOD_HEAD) == 0)
    return TRUE;
  refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED);
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD");
  return FALSE;
}

static void healthz_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer user_data)
{
  if (strcmp(path, "/healthz") != 0) {
    refuse(msg, SOUP_STATUS_NOT_FOUND);
    return;
  }
  if (!get_only(msg))
    return;
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, "ok\n", 3);
}

static void metrics_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer user_data)
{
  KmsServer *server = user_data;
  if (strcmp(path, "/metrics") != 0) {
    refuse(msg, SOUP_STATUS_NOT_FOUND);
    return;
  }
  if (!get_only(msg))
    return;
  g_autoptr(GError) error = NULL;
  guint users = kms_store_user_count(server->store, &error);
  if (error)
    log_warning("metrics: cannot count users: %s", error->message);
  char *text = kms_metrics_render(server->metrics, users);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, METRICS_CONTENT_TYPE, SOUP_MEMORY_TAKE, text, strlen(text));
}

static void default_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer user_data)
{
  refuse(msg, SOUP_STATUS_NOT_FOUND);
}

/* ------------------------------------------------------------------ connections */

/* A TLS handshake under way: the server may be freed before it ends (the stop cancels it). */
typedef struct {
  KmsServer *server; /* NULL once the server is gone */
  GIOStream *tls;
  GSocketConnection *conn;
  GCancellable *cancel; /* by the timeout or the stop */
  guint timeout_id;
} Handshake;

static GList *handshakes; /* Handshake* pending (main loop only) */

static void handshake_free(Handshake *h)
{
  handshakes = g_list_remove(handshakes, h);
  if (h->server) {
    h->server->handshaking--;
    if (h->server->stopping)
      maybe_finish_stop(h->server);
  }
  if (h->timeout_id)
    g_source_remove(h->timeout_id);
  g_object_unref(h->tls);
  g_object_unref(h->conn);
  g_object_unref(h->cancel);
  g_free(h);
}

/* Hands an established stream (TCP or TLS over it) to libsoup. */
static void accept_stream(KmsServer *server, GIOStream *stream, GSocketConnection *conn)
{
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(conn, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(conn, NULL);
  g_autoptr(GError) error = NULL;
  if (!local || !remote ||
      !soup_server_accept_iostream(server->soup, stream, local, remote, &error))
    log_debug("dropping a connection: %s", error ? error->message : "no address");
}

static gboolean handshake_timeout_cb(gpointer data)
{
  Handshake *h = data;
  h->timeout_id = 0;
  /* the handshake fails as cancelled; its callback frees h */
  g_cancellable_cancel(h->cancel);
  return G_SOURCE_REMOVE;
}

static void on_handshake(GObject *source, GAsyncResult *res, gpointer data)
{
  Handshake *h = data;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error);
  if (ok && h->server && !h->server->stopping) {
    accept_stream(h->server, h->tls, h->conn);
  } else {
    if (!ok && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(h->conn, NULL);
      g_autofree char *peer = remote ? g_inet_address_to_string(g_inet_socket_address_get_address(
                                           G_INET_SOCKET_ADDRESS(remote)))
                                     : g_strdup("?");
      log_debug("TLS handshake with %s failed: %s", peer, error->message);
    }
    g_io_stream_close(h->tls, NULL, NULL);
  }
  handshake_free(h);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
                            gpointer user_data)
{
  KmsServer *server = user_data;
  if (server->stopping)
    return TRUE; /* closed when unreferenced */
  GSocket *sock = g_socket_connection_get_socket(conn);
  g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  if (!server->https) {
    accept_stream(server, G_IO_STREAM(conn), conn);
    return TRUE;
  }
  /* "database" NULL: no client certificates are asked for, so no trust store is needed.
   * Left unset, glib-networking builds each connection a trust list from the system CA bundle
   * (about 3.5 MB and a few ms of CPU per connection). HTTP/1.1 delimits its messages, so a
   * missing close_notify is no truncation attack. */
  static const char *const alpn[] = { "http/1.1", NULL };
  g_autoptr(GError) error = NULL;
  GIOStream *tls =
      g_initable_new(g_tls_backend_get_server_connection_type(g_tls_backend_get_default()), NULL,
                     &error, "base-io-stream", conn, "certificate", server->cert, "database", NULL,
                     "require-close-notify", FALSE, "advertised-protocols", alpn, NULL);
  if (!tls) {
    log_warning("cannot set up TLS for a connection: %s", error->message);
    return TRUE;
  }
  Handshake *h = g_new0(Handshake, 1);
  h->server = server;
  h->tls = tls;
  h->conn = g_object_ref(conn);
  h->cancel = g_cancellable_new();
  h->timeout_id = g_timeout_add_seconds(HANDSHAKE_TIMEOUT_S, handshake_timeout_cb, h);
  handshakes = g_list_prepend(handshakes, h);
  server->handshaking++;
  g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, h->cancel,
                                   on_handshake, h);
  return TRUE;
}

/* ------------------------------------------------------------------ setup */

static gboolean add_keepalive_anchor(KmsServer *server, GError **error)
{
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "socketpair: %s", g_strerror(e));
    return FALSE;
  }
  g_autoptr(GSocket) a = g_socket_new_from_fd(fds[0], error);
  if (!a) {
    close(fds[0]);
    close(fds[1]);
    return FALSE;
  }
  server->anchor = g_socket_new_from_fd(fds[1], error);
  if (!server->anchor) {
    close(fds[1]);
    return FALSE;
  }
  return soup_server_listen_socket(server->soup, a, 0, error);
}

/* Does the private key belong to the (first) certificate? GIO loads a mismatched pair without
 * complaint and every handshake then fails; OpenSSL (linked anyway) checks it at load. */
static gboolean key_matches(const char *cert, const char *key, GError **error)
{
  gboolean ok = FALSE;
  X509 *x = NULL;
  EVP_PKEY *k = NULL;
  BIO *b = BIO_new_file(cert, "r");
  if (b)
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  b = BIO_new_file(key, "r");
  if (b)
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (x && k && X509_check_private_key(x, k) == 1)
    ok = TRUE;
  else
    g_set_error(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                "cannot load TLS certificate %s (key %s): the key does not belong to the "
                "certificate",
                cert, key);
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  return ok;
}

static GTlsCertificate *load_certificate(const char *cert, const char *key, GError **error)
{
  if (!cert || !*cert || !key || !*key) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "HTTPS needs tls-cert and tls-key (or --insecure-http on a loopback address)");
    return NULL;
  }
  GError *local = NULL;
  GTlsCertificate *c = g_tls_certificate_new_from_files(cert, key, &local);
  if (!c) {
    g_set_error(error, local->domain, local->code, "cannot load TLS certificate %s (key %s): %s",
                cert, key, local->message);
    g_error_free(local);
    return NULL;
  }
  if (!key_matches(cert, key, error)) {
    g_object_unref(c);
    return NULL;
  }
  return c;
}

static GInetAddress *resolve_listen(const char *listen, GError **error)
{
  GInetAddress *addr = g_inet_address_new_from_string(listen);
  if (addr)
    return addr;
  GResolver *resolver = g_resolver_get_default();
  GError *local = NULL;
  GList *list = g_resolver_lookup_by_name(resolver, listen, NULL, &local);
  g_object_unref(resolver);
  if (!list) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "cannot resolve listen address '%s': %s", listen, local->message);
    g_error_free(local);
    return NULL;
  }
  addr = g_object_ref(list->data);
  g_resolver_free_addresses(list);
  return addr;
}

static GSocket *listen_socket(const char *listen, guint16 port, GError **error)
{
  g_autoptr(GInetAddress) inet = resolve_listen(listen, error);
  if (!inet)
    return NULL;
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(inet, port);
  g_autofree char *where = g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6
                               ? g_strdup_printf("[%s]:%u", listen, port)
                               : g_strdup_printf("%s:%u", listen, port);
  GError *local = NULL;
  g_autoptr(GSocket) sock = g_socket_new(g_inet_address_get_family(inet), G_SOCKET_TYPE_STREAM,
                                         G_SOCKET_PROTOCOL_TCP, &local);
  if (sock && g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option(sock, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, NULL);
  if (sock)
    g_socket_set_listen_backlog(sock, 512);
  if (!sock || !g_socket_bind(sock, sa, TRUE, &local) || !g_socket_listen(sock, &local)) {
    /* GIO's message repeats the address ("Error binding to address 127.0.0.1:8443: Address
     * already in use"); keep only the reason. */
    const char *reason = local->message;
    const char *colon = strrchr(reason, ':');
    if (g_str_has_prefix(reason, "Error ") && colon)
      reason = colon + 2;
    g_set_error(error, local->domain, local->code, "cannot listen on %s: %s", where, reason);
    g_error_free(local);
    return NULL;
  }
  return g_steal_pointer(&sock);
}

KmsServer *kms_server_new(const KmsConfig *cfg, KmsStore *store, KmsEngine *engine,
                          KmsMetrics *metrics, GError **error)
{
  g_return_val_if_fail(cfg && store && engine && metrics, NULL);
  if (cfg->port < 0 || cfg->port > 65535) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "port %d out of range", cfg->port);
    return NULL;
  }
  g_autoptr(GTlsCertificate) cert = NULL;
  if (!cfg->insecure_http) {
    cert = load_certificate(cfg->tls_cert, cfg->tls_key, error);
    if (!cert)
      return NULL;
  }
  const char *listen = cfg->listen ? cfg->listen : "127.0.0.1";
  g_autoptr(GSocket) sock = listen_socket(listen, (guint16)cfg->port, error);
  if (!sock)
    return NULL;

  KmsServer *server = g_new0(KmsServer, 1);
  server->store = store;
  server->engine = engine;
  server->metrics = metrics;
  server->https = !cfg->insecure_http;
  server->listen = g_strdup(listen);
  server->cfg_port = cfg->port;
  server->rate_limit = cfg->rate_limit;
  server->tls_cert_path = g_strdup(cfg->tls_cert);
  server->tls_key_path = g_strdup(cfg->tls_key);
  server->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  server->requests = g_hash_table_new(NULL, NULL);
  server->soup = soup_server_new("server-header", "mikeykmsd/" PACKAGE_VERSION " ", NULL);
  server->cert = g_steal_pointer(&cert);
  g_signal_connect(server->soup, "request-started", G_CALLBACK(on_request_started), server);
  soup_server_add_early_handler(server->soup, "/mikey", mikey_early_handler, server, NULL);
  soup_server_add_handler(server->soup, "/mikey", mikey_handler, server, NULL);
  soup_server_add_handler(server->soup, "/healthz", healthz_handler, server, NULL);
  soup_server_add_handler(server->soup, "/metrics", metrics_handler, server, NULL);
  soup_server_add_handler(server->soup, NULL, default_handler, server, NULL);

  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, NULL);
  if (bound)
    server->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  server->service = g_socket_service_new();
  if (!g_socket_listener_add_socket(G_SOCKET_LISTENER(server->service), sock, NULL, error)) {
    kms_server_free(server);
    return NULL;
  }
  g_signal_connect(server->service, "incoming", G_CALLBACK(on_incoming), server);
  if (!add_keepalive_anchor(server, error)) {
    kms_server_free(server);
    return NULL;
  }
  g_socket_service_start(server->service);
  server->flush_id = g_timeout_add(FLUSH_INTERVAL_MS, flush_cb, server);
  server->prune_id = g_timeout_add_seconds(BUCKET_PRUNE_INTERVAL_S, prune_buckets_cb, server);
  return server;
}

guint16 kms_server_get_port(const KmsServer *server)
{
  return server->port;
}

char *kms_server_get_url(const KmsServer *server)
{
  gboolean v6 = strchr(server->listen, ':') != NULL;
  return g_strdup_printf("%s://%s%s%s:%u/mikey", server->https ? "https" : "http", v6 ? "[" : "",
                         server->listen, v6 ? "]" : "", server->port);
}

guint kms_server_in_flight(const KmsServer *server)
{
  return server->in_flight;
}

gboolean kms_server_reload(KmsServer *server, const KmsConfig *cfg, GError **error)
{
  if (cfg->rate_limit != server->rate_limit) {
    log_info("rate limit: %d requests per second per source (was %d)", cfg->rate_limit,
             server->rate_limit);
    server->rate_limit = cfg->rate_limit;
    g_hash_table_remove_all(server->buckets);
  }
  if (g_strcmp0(cfg->listen, server->listen) != 0 || cfg->port != server->cfg_port ||
      (!cfg->insecure_http) != server->https)
    log_warning("listen address, port and insecure-http take effect at the next start only");
  if (!server->https)
    return TRUE;
  g_autoptr(GTlsCertificate) cert = load_certificate(cfg->tls_cert, cfg->tls_key, error);
  if (!cert)
    return FALSE;
  g_set_object(&server->cert, cert);
  g_free(server->tls_cert_path);
  g_free(server->tls_key_path);
  server->tls_cert_path = g_strdup(cfg->tls_cert);
  server->tls_key_path = g_strdup(cfg->tls_key);
  log_info("TLS certificate reloaded from %s", cfg->tls_cert);
  return TRUE;
}

/* ------------------------------------------------------------------ graceful stop */

static gboolean stop_complete_cb(gpointer user_data)
{
  KmsServer *server = user_data;
  server->stop_idle_id = 0;
  if (server->stopped)
    return G_SOURCE_REMOVE;
  server->stopped = TRUE;
  if (server->stop_fuse_id) {
    g_source_remove(server->stop_fuse_id);
    server->stop_fuse_id = 0;
  }
  if (server->in_flight)
    log_warning("stopping with %u request(s) unanswered", server->in_flight);
  /* Closes every remaining (idle keep-alive) connection and the listener. */
  soup_server_disconnect(server->soup);
  flush_store(server);
  if (server->stop_done)
    server->stop_done(server, server->stop_data);
  return G_SOURCE_REMOVE;
}

static void maybe_finish_stop(KmsServer *server)
{
  /* Not from inside libsoup's signal emission: the next main loop iteration does it. */
  if (server->in_flight == 0 && server->handshaking == 0 && !server->stop_idle_id &&
      !server->stopped)
    server->stop_idle_id = g_idle_add(stop_complete_cb, server);
}

static gboolean stop_fuse_cb(gpointer user_data)
{
  KmsServer *server = user_data;
  server->stop_fuse_id = 0;
  if (!server->stop_idle_id && !server->stopped)
    server->stop_idle_id = g_idle_add(stop_complete_cb, server);
  return G_SOURCE_REMOVE;
}

void kms_server_stop(KmsServer *server, guint timeout_ms, KmsServerStopped done, gpointer user_data)
{
  if (server->stopping)
    return;
  server->stopping = TRUE;
  server->stop_done = done;
  server->stop_data = user_data;
  /* The listening socket is closed: new connections are refused; handshakes not yet done are
   * abandoned (their clients never sent a request). */
  if (server->service) {
    g_socket_service_stop(server->service);
    g_socket_listener_close(G_SOCKET_LISTENER(server->service));
  }
  for (GList *l = handshakes; l; l = l->next)
    if (((Handshake *)l->data)->server == server)
      g_cancellable_cancel(((Handshake *)l->data)->cancel);
  if (server->flush_id) {
    g_source_remove(server->flush_id);
    server->flush_id = 0;
  }
  server->stop_fuse_id = g_timeout_add(timeout_ms, stop_fuse_cb, server);
  maybe_finish_stop(server);
}

void kms_server_free(KmsServer *server)
{
  if (!server)
    return;
  if (server->flush_id)
    g_source_remove(server->flush_id);
  if (server->prune_id)
    g_source_remove(server->prune_id);
  if (server->stop_fuse_id)
    g_source_remove(server->stop_fuse_id);
  if (server->stop_idle_id)
    g_source_remove(server->stop_idle_id);
  /* Handshakes and messages can outlive the server (they finish on the main loop). */
  for (GList *l = handshakes; l; l = l->next) {
    Handshake *h = l->data;
    if (h->server == server) {
      h->server = NULL;
      server->handshaking--;
      g_cancellable_cancel(h->cancel);
    }
  }
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init(&iter, server->requests);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    ((Request *)key)->server = NULL;
  g_hash_table_remove_all(server->requests);
  if (server->soup) {
    soup_server_disconnect(server->soup);
    g_signal_handlers_disconnect_by_data(server->soup, server);
    g_object_unref(server->soup);
  }
  if (server->service) {
    g_socket_service_stop(server->service);
    g_socket_listener_close(G_SOCKET_LISTENER(server->service));
    g_signal_handlers_disconnect_by_data(server->service, server);
    g_object_unref(server->service);
  }
  g_clear_object(&server->cert);
  g_clear_object(&server->anchor);
  g_hash_table_unref(server->buckets);
  g_hash_table_unref(server->requests);
  g_free(server->listen);
  g_free(server->tls_cert_path);
  g_free(server->tls_key_path);
  g_free(server);
}
