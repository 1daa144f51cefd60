/* bench-kms: mikeykmsd's Ticket Resolve throughput and latency over HTTPS, and its memory.
 *
 * Starts the real daemon (built in the tree) on a loopback port in a temporary state directory,
 * with --rate-limit 0 and --log-level warning, and has one ticket issued to a creator. Then:
 *
 *   1. resolves: CLIENTS client threads, each with one keep-alive TLS 1.2+ connection (OpenSSL,
 *      certificate verified against the KMS's CA), send RESOLVE_INIT_PSK messages built before
 *      the timed part (each one unique: the KMS keeps a replay cache) back to back; every
 *      answer must be 200 (a sample is opened and verified as a RESOLVE_RESP). Reported:
 *      resolves per second, p50/p99/max latency seen by the clients, the daemon's RSS.
 *   2. users: the daemon is stopped, USERS users are added to its store directly (kms_store_*
 *      of libkms, as `user add` would, without credential files), the daemon is started again
 *      and its RSS measured idle and after another resolve run.
 *
 * The client is deliberately lean (pre-built messages, a hand-written HTTP/1.1 exchange) so that
 * on a small machine it leaves the CPU to the daemon; both still share the machine, which the
 * report says. Options: --clients N (16), --resolves N (50000), --warmup N (2000),
 * --users N (100000; 0 skips part 2). Targets on a 2-core machine: 10,000 resolves/s with p99
 * under 5 ms; under 64 MiB RSS with 100,000 users. Never a pass/fail: the figures are printed. */
#include "common/credential.h"
#include "kms/store.h"
#include "mikey/exchange.h"
#include "mikey/ntp.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#ifndef BENCH_KMSD
#define BENCH_KMSD "src/kms/mikeykmsd"
#endif

#define KMS_URI "kms.bench.example"
#define ALICE "sip:alice@example.org"
#define FOCUS "sip:focus@conf.example.org"
#define FACTORY "sip:conference-factory@conf.example.org"
#define START_TIMEOUT_US (60 * G_USEC_PER_SEC)

static gint opt_clients = 16;
static gint opt_resolves = 50000;
static gint opt_warmup = 2000;
static gint opt_users = 100000;

static char *tmp_dir, *state_dir, *conf_path, *ca_path, *kmsd_bin;

/* ------------------------------------------------------------------ the daemon */

typedef struct {
  GSubprocess *proc;
  char *log_path;
  guint16 port;
} Kmsd;

static void child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static int run_tool(const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, kmsd_bin);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, conf_path);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (char *)args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p =
      g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
  if (!p || !g_subprocess_wait_check(p, NULL, &error)) {
    g_printerr("bench-kms: mikeykmsd %s: %s\n", args[0], error->message);
    return -1;
  }
  return 0;
}

/* Not inlined: GCC 12's -Wdangling-pointer mistakes the returned buffer for the local that
 * g_file_get_contents() filled. */
static G_GNUC_NO_INLINE char *read_log(const Kmsd *k)
{
  char *text = NULL;
  if (!g_file_get_contents(k->log_path, &text, NULL, NULL))
    text = g_strdup("");
  return text;
}

/* A free loopback port: bound, read, closed (the daemon logs at warning level, so its own
 * "listening on" line cannot be read). */
static guint16 free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { 0 };
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  guint16 port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static gboolean port_open(guint16 port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { 0 };
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  gboolean ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

static Kmsd *kmsd_start(void)
{
  static guint n;
  Kmsd *k = g_new0(Kmsd, 1);
  g_autofree char *name = g_strdup_printf("kmsd-%u.log", ++n);
  k->log_path = g_build_filename(tmp_dir, name, NULL);
  k->port = free_port();
  g_autofree char *port = g_strdup_printf("%u", k->port);
  const char *argv[] = { kmsd_bin, "--config", conf_path, "--port", port, "serve", NULL };
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  g_subprocess_launcher_set_stdout_file_path(l, k->log_path);
  g_autoptr(GError) error = NULL;
  k->proc = g_subprocess_launcher_spawnv(l, argv, &error);
  if (!k->proc) {
    g_printerr("bench-kms: %s\n", error->message);
    g_free(k->log_path);
    g_free(k);
    return NULL;
  }
  gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;
  while (g_get_monotonic_time() < deadline) {
    if (port_open(k->port))
      return k;
    if (g_subprocess_get_identifier(k->proc) == NULL) {
      g_autofree char *text = read_log(k);
      g_printerr("bench-kms: mikeykmsd did not start:\n%s\n", text);
      g_object_unref(k->proc);
      g_free(k->log_path);
      g_free(k);
      return NULL;
    }
    g_usleep(10000);
  }
  g_printerr("bench-kms: mikeykmsd did not start within 60 s\n");
  return k;
}

static void kmsd_stop(Kmsd *k)
{
  if (!k)
    return;
  g_subprocess_send_signal(k->proc, SIGTERM);
  g_autoptr(GError) error = NULL;
  if (!g_subprocess_wait_check(k->proc, NULL, &error))
    g_printerr("bench-kms: mikeykmsd: %s\n", error->message);
  g_object_unref(k->proc);
  g_free(k->log_path);
  g_free(k);
}

/* VmRSS and VmHWM of the daemon, KiB. */
static void kmsd_rss(Kmsd *k, guint64 *rss, guint64 *hwm)
{
  *rss = *hwm = 0;
  g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(k->proc));
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  const char *p = strstr(text, "VmRSS:");
  if (p)
    *rss = g_ascii_strtoull(p + 6, NULL, 10);
  p = strstr(text, "VmHWM:");
  if (p)
    *hwm = g_ascii_strtoull(p + 6, NULL, 10);
}

/* ------------------------------------------------------------------ MIKEY */

static guint32 random_u32(void)
{
  guint32 v = 0;
  mikey_random_bytes((guint8 *)&v, sizeof v, NULL);
  return v;
}

typedef struct {
  MikeyTicketGrant grant;
  GBytes *ti;
  MikeyTransferInitView view;
} Offer;

/* A ticket for alice naming the factory (over the same HTTPS endpoint, through libsoup), and
 * the TRANSFER_INIT whose TICKET the focus resolves. */
static gboolean get_offer(Kmsd *k, const Credential *alice, Offer *o)
{
  memset(o, 0, sizeof *o);
  guint64 now = mikey_ntp_now();
  MikeyPolicySpec spec = { 0 };
  spec.prf = MIKEY_PRF_HMAC_SHA256;
  spec.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
               MIKEY_TP_J | MIKEY_TP_N | MIKEY_TP_O;
  spec.idrkms = g_strdup(KMS_URI);
  spec.idri = g_strdup(ALICE);
  spec.trs = now;
  spec.tre = now + ((guint64)3600 << 32);
  spec.tr_type = MIKEY_TS_NTP_UTC;
  spec.idrr = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(spec.idrr, g_strdup(FACTORY));
  guint8 randri[MIKEY_RAND_LEN];
  mikey_random_bytes(randri, sizeof randri, NULL);
  MikeyRequestInitParams p = {
    MIKEY_PRF_HMAC_SHA256, random_u32(), now,  randri, sizeof randri, ALICE, KMS_URI,
    alice->psk_id,         alice->psk,   &spec
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) init = mikey_request_init_build(&p, &error);
  mikey_policy_spec_clear(&spec);
  if (!init)
    return FALSE;

  g_autoptr(GTlsDatabase) db = g_tls_file_database_new(ca_path, &error);
  g_autoptr(SoupSession) s = soup_session_new_with_options("tls-database", db, NULL);
  g_autofree char *url = g_strdup_printf("https://127.0.0.1:%u/mikey", k->port);
  g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
  soup_message_set_request_body_from_bytes(msg, "application/mikey", init);
  g_autoptr(GBytes) resp = soup_session_send_and_read(s, msg, NULL, &error);
  if (!resp || soup_message_get_status(msg) != 200) {
    g_printerr("bench-kms: ticket request failed: %s (HTTP %u)\n",
               error ? error->message : "refused", soup_message_get_status(msg));
    return FALSE;
  }
  if (!mikey_request_resp_open(resp, init, alice->psk, &o->grant, &error))
    return FALSE;
  guint8 r2[MIKEY_RAND_LEN];
  mikey_random_bytes(r2, sizeof r2, NULL);
  MikeyTransferInitParams tp = { .prf = MIKEY_PRF_HMAC_SHA256,
                                 .csb_id = random_u32(),
                                 .t = now,
                                 .randri = r2,
                                 .randri_len = sizeof r2,
                                 .idri = ALICE,
                                 .idrr = FACTORY,
                                 .ssrc = random_u32(),
                                 .seq = 1000,
                                 .spi = o->grant.tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = &o->grant };
  o->ti = mikey_transfer_init_build(&tp, &error);
  return o->ti && mikey_transfer_init_parse(o->ti, &o->view, &error);
}

static void offer_clear(Offer *o)
{
  mikey_transfer_init_view_clear(&o->view);
  g_clear_pointer(&o->ti, g_bytes_unref);
  mikey_ticket_grant_clear(&o->grant);
}

/* n RESOLVE_INITs as complete HTTP requests. */
static GPtrArray *build_requests(const Credential *focus, const MikeyPayload *ticket, guint16 port,
                                 guint n)
{
  GPtrArray *out = g_ptr_array_new_full(n, (GDestroyNotify)g_bytes_unref);
  guint64 now = mikey_ntp_now();
  for (guint i = 0; i < n; i++) {
    guint8 randrr[MIKEY_RAND_LEN];
    mikey_random_bytes(randrr, sizeof randrr, NULL);
    MikeyResolveInitParams rp = { MIKEY_PRF_HMAC_SHA256, random_u32(), now,     randrr,
                                  sizeof randrr,         FACTORY,      KMS_URI, ticket,
                                  focus->psk_id,         focus->psk };
    g_autoptr(GBytes) body = mikey_resolve_init_build(&rp, NULL);
    gsize len;
    const char *data = g_bytes_get_data(body, &len);
    GString *req = g_string_new(NULL);
    g_string_printf(req,
                    "POST /mikey HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                    "Content-Type: application/mikey\r\nContent-Length: %" G_GSIZE_FORMAT
                    "\r\n\r\n",
                    port, len);
    g_string_append_len(req, data, (gssize)len);
    gsize total = req->len;
    g_ptr_array_add(out, g_bytes_new_take(g_string_free(req, FALSE), total));
  }
  return out;
}

/* ------------------------------------------------------------------ the client */

typedef struct {
  SSL_CTX *ctx;
  guint16 port;
  GPtrArray *requests; /* shared, read-only */
  gint *next;          /* next request index (atomic) */
  guint limit;         /* requests to send in this run */
  const Credential *focus;
  /* per thread */
  double *latency_ms; /* room for limit entries */
  guint n_done;
  guint n_errors;
  guint n_verified;
  char error[256];
} Client;

static gboolean write_all(SSL *ssl, const void *data, gsize len)
{
  const char *p = data;
  while (len > 0) {
    int n = SSL_write(ssl, p, (int)len);
    if (n <= 0)
      return FALSE;
    p += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* Reads one HTTP/1.1 response: status and body. buf keeps what was read past it (none here:
 * one request at a time on each connection). */
static gboolean read_response(SSL *ssl, GByteArray *buf, guint *status, GBytes **body)
{
  g_byte_array_set_size(buf, 0);
  char chunk[4096];
  gssize header_end = -1;
  while (header_end < 0) {
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0)
      return FALSE;
    g_byte_array_append(buf, (guint8 *)chunk, (guint)n);
    for (guint i = 3; i < buf->len; i++)
      if (memcmp(buf->data + i - 3, "\r\n\r\n", 4) == 0) {
        header_end = i + 1;
        break;
      }
  }
  g_autofree char *head = g_strndup((char *)buf->data, (gsize)header_end);
  if (sscanf(head, "HTTP/1.%*d %u", status) != 1)
    return FALSE;
  gsize clen = 0;
  char *cl = strcasestr(head, "\r\nContent-Length:");
  if (cl)
    clen = g_ascii_strtoull(cl + 17, NULL, 10);
  while (buf->len < (guint)header_end + clen) {
    int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0)
      return FALSE;
    g_byte_array_append(buf, (guint8 *)chunk, (guint)n);
  }
  *body = g_bytes_new(buf->data + header_end, clen);
  return TRUE;
}

static SSL *client_connect(Client *c)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = { 0 };
  sa.sin_family = AF_INET;
  sa.sin_port = htons(c->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    g_snprintf(c->error, sizeof c->error, "connect: %s", g_strerror(errno));
    close(fd);
    return NULL;
  }
  SSL *ssl = SSL_new(c->ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    g_snprintf(c->error, sizeof c->error, "TLS: %s", ERR_reason_error_string(ERR_get_error()));
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
  return ssl;
}

static void client_close(SSL *ssl)
{
  if (!ssl)
    return;
  int fd = SSL_get_fd(ssl);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
}

static gpointer client_thread(gpointer data)
{
  Client *c = data;
  SSL *ssl = client_connect(c);
  if (!ssl) {
    c->n_errors++;
    return NULL;
  }
  GByteArray *buf = g_byte_array_sized_new(8192);
  for (;;) {
    gint i = g_atomic_int_add(c->next, 1);
    if ((guint)i >= c->limit)
      break;
    GBytes *req = g_ptr_array_index(c->requests, i);
    gsize len;
    const char *data_ptr = g_bytes_get_data(req, &len);
    gint64 t0 = g_get_monotonic_time();
    guint status = 0;
    GBytes *body = NULL;
    if (!write_all(ssl, data_ptr, len) || !read_response(ssl, buf, &status, &body)) {
      c->n_errors++;
      g_snprintf(c->error, sizeof c->error, "connection lost after %u answers", c->n_done);
      break;
    }
    gint64 t1 = g_get_monotonic_time();
    c->latency_ms[c->n_done++] = (double)(t1 - t0) / 1000.0;
    if (status != 200) {
      c->n_errors++;
      g_snprintf(c->error, sizeof c->error, "HTTP %u", status);
    } else if (c->n_verified < 3) {
      /* the answer is a RESOLVE_RESP that verifies with the focus's PSK */
      const char *sep = g_strstr_len(data_ptr, (gssize)len, "\r\n\r\n");
      g_autoptr(GBytes) ri = g_bytes_new(sep + 4, len - (gsize)(sep + 4 - data_ptr));
      MikeyResolvedKeys keys;
      g_autoptr(GError) error = NULL;
      if (mikey_resolve_resp_open(body, ri, c->focus->psk, &keys, &error)) {
        mikey_resolved_keys_clear(&keys);
        c->n_verified++;
      } else {
        c->n_errors++;
        g_snprintf(c->error, sizeof c->error, "RESOLVE_RESP: %s", error->message);
      }
    }
    g_bytes_unref(body);
  }
  g_byte_array_unref(buf);
  client_close(ssl);
  return NULL;
}

static int compare_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  guint done, errors;
  double seconds, rate, p50, p99, max;
  char first_error[256];
} RunResult;

static gboolean run_resolves(Kmsd *k, SSL_CTX *ctx, const Credential *focus,
                             const MikeyPayload *ticket, guint n, RunResult *res)
{
  memset(res, 0, sizeof *res);
  g_autoptr(GPtrArray) requests = build_requests(focus, ticket, k->port, n);
  gint next = 0;
  guint nc = (guint)opt_clients;
  Client *clients = g_new0(Client, nc);
  GThread **threads = g_new0(GThread *, nc);
  for (guint i = 0; i < nc; i++) {
    clients[i] = (Client){ .ctx = ctx,
                           .port = k->port,
                           .requests = requests,
                           .next = &next,
                           .limit = n,
                           .focus = focus,
                           .latency_ms = g_new(double, n) };
  }
  gint64 t0 = g_get_monotonic_time();
  for (guint i = 0; i < nc; i++)
    threads[i] = g_thread_new("client", client_thread, &clients[i]);
  for (guint i = 0; i < nc; i++)
    g_thread_join(threads[i]);
  gint64 t1 = g_get_monotonic_time();

  double *all = g_new(double, n);
  guint m = 0;
  for (guint i = 0; i < nc; i++) {
    memcpy(all + m, clients[i].latency_ms, clients[i].n_done * sizeof(double));
    m += clients[i].n_done;
    res->errors += clients[i].n_errors;
    if (clients[i].error[0] && !res->first_error[0])
      g_strlcpy(res->first_error, clients[i].error, sizeof res->first_error);
    g_free(clients[i].latency_ms);
  }
  qsort(all, m, sizeof(double), compare_double);
  res->done = m;
  res->seconds = (double)(t1 - t0) / G_USEC_PER_SEC;
  res->rate = m / res->seconds;
  if (m) {
    res->p50 = all[m / 2];
    res->p99 = all[MIN(m - 1, (guint)((double)m * 0.99))];
    res->max = all[m - 1];
  }
  g_free(all);
  g_free(clients);
  g_free(threads);
  return res->errors == 0 && res->done == n;
}

/* ------------------------------------------------------------------ report */

static char *first_line_of(const char *path, const char *key)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return g_strdup("?");
  const char *p = strstr(text, key);
  if (!p)
    return g_strdup("?");
  p = strchr(p, ':');
  if (!p)
    return g_strdup("?");
  const char *end = strchr(p, '\n');
  return g_strstrip(g_strndup(p + 1, end ? (gsize)(end - p - 1) : strlen(p + 1)));
}

static void print_machine(void)
{
  struct utsname u;
  uname(&u);
  g_autofree char *cpu = first_line_of("/proc/cpuinfo", "model name");
  g_print("machine:   %s, %u cores (online), Linux %s %s\n", cpu, g_get_num_processors(), u.release,
          u.machine);
  g_print("compiler:  gcc %s\n", __VERSION__);
  g_print("libraries: %s, GLib %u.%u.%u, libsoup %u.%u.%u, SQLite %s; TLS on the server: "
          "glib-networking (GnuTLS)\n",
          OpenSSL_version(OPENSSL_VERSION), glib_major_version, glib_minor_version,
          glib_micro_version, soup_get_major_version(), soup_get_minor_version(),
          soup_get_micro_version(), sqlite3_libversion());
}

static void print_run(const char *what, const RunResult *r)
{
  g_print("%s: %u resolves in %.2f s = %.0f resolves/s; latency p50 %.3f ms, p99 %.3f ms, max "
          "%.3f ms; %u errors%s%s\n",
          what, r->done, r->seconds, r->rate, r->p50, r->p99, r->max, r->errors,
          r->first_error[0] ? ": " : "", r->first_error);
}

static void remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir) {
    const char *name;
    while ((name = g_dir_read_name(dir))) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
        remove_tree(child);
      else
        g_unlink(child);
    }
    g_dir_close(dir);
  }
  g_rmdir(path);
}

/* Adds n users straight into the store (what `user add` does, minus the credential files). */
static gboolean populate(guint n, double *seconds)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = kms_store_open(state_dir, FALSE, &error);
  if (!store) {
    g_printerr("bench-kms: %s\n", error->message);
    return FALSE;
  }
  gint64 t0 = g_get_monotonic_time();
  for (guint i = 0; i < n; i++) {
    g_autofree char *uri = g_strdup_printf("sip:user%06u@load.example.org", i);
    g_autoptr(KmsUser) u = kms_store_user_add(store, uri, FALSE, NULL, &error);
    if (!u) {
      g_printerr("bench-kms: adding %s: %s\n", uri, error->message);
      return FALSE;
    }
  }
  *seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
  return TRUE;
}

int main(int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "clients", 0, 0, G_OPTION_ARG_INT, &opt_clients, "Concurrent clients (16)", "N" },
    { "resolves", 0, 0, G_OPTION_ARG_INT, &opt_resolves, "Resolves per measured run (50000)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &opt_warmup, "Resolves before measuring (2000)", "N" },
    { "users", 0, 0, G_OPTION_ARG_INT, &opt_users, "Users for the memory run, 0 = skip (100000)",
      "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) octx = g_option_context_new("- mikeykmsd resolve benchmark");
  g_option_context_add_main_entries(octx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(octx, &argc, &argv, &error)) {
    g_printerr("bench-kms: %s\n", error->message);
    return 2;
  }
  if (opt_clients < 1 || opt_resolves < 1 || opt_warmup < 0 || opt_users < 0) {
    g_printerr("bench-kms: counts must be positive\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  kmsd_bin = g_strdup(g_getenv("MIKEYKMSD") ? g_getenv("MIKEYKMSD") : BENCH_KMSD);
  print_machine();

  int status = 1;
  Kmsd *k = NULL;
  SSL_CTX *ctx = NULL;
  Credential alice = { 0 }, focus = { 0 };
  Offer offer = { 0 };
  tmp_dir = g_dir_make_tmp("bench-kms-XXXXXX", &error);
  if (!tmp_dir) {
    g_printerr("bench-kms: %s\n", error->message);
    return 1;
  }
  state_dir = g_build_filename(tmp_dir, "kms", NULL);
  conf_path = g_build_filename(tmp_dir, "kms.conf", NULL);
  ca_path = g_build_filename(state_dir, "ca.pem", NULL);
  g_autofree char *conf = g_strdup_printf("[mikeykmsd]\nlisten=127.0.0.1\nstate-dir=%s\n"
                                          "kms-uri=" KMS_URI "\nrate-limit=0\n"
                                          "log-level=warning\n",
                                          state_dir);
  g_autofree char *alice_cred = g_build_filename(tmp_dir, "alice.cred", NULL);
  g_autofree char *focus_cred = g_build_filename(tmp_dir, "focus.cred", NULL);
  const char *init[] = { "init", NULL };
  const char *add_alice[] = { "user", "add", ALICE, "--may-create", "--out", alice_cred, NULL };
  const char *add_focus[] = { "user", "add", FOCUS, "--focus", "--out", focus_cred, NULL };
  if (!g_file_set_contents(conf_path, conf, -1, &error) || run_tool(init) || run_tool(add_alice) ||
      run_tool(add_focus) || !credential_load(alice_cred, &alice, &error) ||
      !credential_load(focus_cred, &focus, &error)) {
    if (error)
      g_printerr("bench-kms: %s\n", error->message);
    goto out;
  }
  if (!(k = kmsd_start()))
    goto out;
  if (!get_offer(k, &alice, &offer)) {
    g_printerr("bench-kms: no ticket\n");
    goto out;
  }

  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1) {
    g_printerr("bench-kms: cannot load %s\n", ca_path);
    goto out;
  }

  g_print("setup:     %s on https://127.0.0.1:%u (log-level warning, no rate limit); %d client "
          "threads, one keep-alive TLS connection each (OpenSSL); RESOLVE_INIT_PSK for a ticket "
          "with key forking, 256-bit suite; clients and daemon share the machine\n",
          kmsd_bin, k->port, opt_clients);
  RunResult r;
  guint64 rss, hwm, rss0;
  if (opt_warmup > 0)
    run_resolves(k, ctx, &focus, offer.view.ticket, (guint)opt_warmup, &r);
  kmsd_rss(k, &rss0, &hwm);
  gboolean ok = run_resolves(k, ctx, &focus, offer.view.ticket, (guint)opt_resolves, &r);
  kmsd_rss(k, &rss, &hwm);
  print_run("resolves", &r);
  g_print("daemon:    RSS %.1f MiB (peak %.1f MiB) with 2 users, after %u resolves\n", rss / 1024.0,
          hwm / 1024.0, (guint)(opt_warmup + opt_resolves));
  if (!ok)
    goto out;
  {
    /* The replay cache keeps every authenticated message for the skew window (profile 4), at
     * most 2^20 of them: a run of a few seconds does not reach the steady state. */
    double per = rss > rss0 ? (double)(rss - rss0) * 1024.0 / opt_resolves : 0;
    double held = MIN(r.rate * 120.0, 1048576.0);
    double projected = rss / 1024.0 + per * (held - (opt_warmup + opt_resolves)) / 1048576.0;
    g_print("memory:    %.0f bytes of RSS per resolve during the run (replay cache); at this rate "
            "for 120 s (the default skew window, %.0f messages held) RSS would be about %.0f MiB\n",
            per, held, projected);
  }

  if (opt_users > 0) {
    kmsd_stop(k);
    k = NULL;
    double secs = 0;
    if (!populate((guint)opt_users, &secs))
      goto out;
    g_print("users:     %d users added to the store in %.1f s (%.0f/s)\n", opt_users, secs,
            opt_users / secs);
    if (!(k = kmsd_start()))
      goto out;
    g_usleep(500 * 1000);
    kmsd_rss(k, &rss, &hwm);
    g_print("daemon:    RSS %.1f MiB (peak %.1f MiB) idle with %d users\n", rss / 1024.0,
            hwm / 1024.0, opt_users + 2);
    ok = run_resolves(k, ctx, &focus, offer.view.ticket, (guint)opt_resolves, &r);
    kmsd_rss(k, &rss, &hwm);
    print_run("resolves", &r);
    g_print("daemon:    RSS %.1f MiB (peak %.1f MiB) with %d users, after %d resolves\n",
            rss / 1024.0, hwm / 1024.0, opt_users + 2, opt_resolves);
    if (!ok)
      goto out;
  }
  g_print("targets:   >= 10000 resolves/s with p99 < 5 ms (2 cores); < 64 MiB RSS with 100000 "
          "users\n");
  status = 0;

out:
  if (k && status != 0) {
    g_autofree char *text = read_log(k);
    gsize len = strlen(text);
    g_printerr("bench-kms: the daemon's log ends with:\n%s\n",
               text + (len > 2000 ? len - 2000 : 0));
  }
  kmsd_stop(k);
  offer_clear(&offer);
  credential_clear(&alice);
  credential_clear(&focus);
  if (ctx)
    SSL_CTX_free(ctx);
  remove_tree(tmp_dir);
  g_free(tmp_dir);
  g_free(state_dir);
  g_free(conf_path);
  g_free(ca_path);
  g_free(kmsd_bin);
  return status;
}
