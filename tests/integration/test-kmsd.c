/* test-kmsd: the real mikeykmsd on a loopback port (profile 3), driven by a client built on the
 * MIKEY library and common/kmsclient. One KMS is initialised in a temporary state directory
 * (`init`, `user add` for alice (may create), bob, carol (then disabled) and the focus) and
 * started with --port 0; its bound port is read from its log. Every refusal of the profile 3
 * table that a client can provoke is checked for its HTTP status, ERR code and whether the Error
 * carries a V. Further daemons are started for the startup errors, a second KMS (a ticket of a
 * TPK generation this KMS never had), plain HTTP and the graceful stop.
 *
 * Every wait is bounded; every daemon is killed at the end (and by the kernel if this program
 * dies: PR_SET_PDEATHSIG); the temporary directory is removed. The daemon is found as
 * $MIKEYKMSD or $G_TEST_BUILDDIR/../src/kms/mikeykmsd. (--help against the man pages: test-man.)
 */
#include "common/credential.h"
#include "proc-harness.h"

#include "common/kmsclient.h"
#include "mikey/exchange.h"
#include "mikey/ntp.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KMS_URI "kms.test.example"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define FOCUS "sip:focus@conf.example.org"
#define FACTORY "sip:conference-factory@conf.example.org"
#define CONF_URI "sip:conf-0123456789abcdef0123456789abcdef@conf.example.org"
#define MAX_RECIPIENTS 16
/* Generous: the daemon may be an ASan binary on a loaded machine. */
#define TOOL_TIMEOUT_MS 60000
#define CLIENT_TIMEOUT_MS 20000
#define CONCURRENT_CLIENTS 16
#define CONCURRENT_RESOLVES 10000

typedef struct {
  GSubprocess *proc;
  pid_t pid;
  gboolean exited;
  int status; /* exit status, or 128 + signal */
  char *log_path;
  char *url;  /* of /mikey */
  char *base; /* scheme://host:port */
  guint16 port;
  KmsClient *client;
} Kmsd;

static struct {
  char *bin;
  char *tmp;
  char *state, *conf; /* the main KMS */
  char *ca;
  Kmsd *kmsd;
  Credential alice, bob, carol, focus;
  guint n_runs; /* names log files */
} G;

/* ------------------------------------------------------------------ processes */

static void exit_status_of(GSubprocess *proc, int *status)
{
  if (g_subprocess_get_if_exited(proc))
    *status = g_subprocess_get_exit_status(proc);
  else if (g_subprocess_get_if_signaled(proc))
    *status = 128 + g_subprocess_get_term_sig(proc);
  else
    *status = -1;
}

/* Runs argv to completion (bounded: a tool that hangs fails the test); returns the exit status,
 * the outputs in *out and *err. */
static int run_argv(const char *const *argv, char **out, char **err)
{
  Proc *p = spawn(argv);
  if (!wait_until(proc_done, p, TOOL_TIMEOUT_MS)) {
    g_test_message("%s did not finish within %u ms", argv[1], TOOL_TIMEOUT_MS);
    proc_finish(p, 0, NULL, NULL);
    g_assert_not_reached();
  }
  return proc_finish(p, STOP_TIMEOUT_MS, out, err);
}

/* mikeykmsd --config CONF ARGS...; asserts exit status 0 unless status is wanted back. */
static int kmsctl(const char *conf, char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
static int kmsctl(const char *conf, char **out, char **err, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.bin);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, (char *)conf);
  va_list ap;
  va_start(ap, err);
  for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  return run_argv((const char *const *)argv->pdata, out, err);
}

static void kmsctl_ok(const char *conf, ...) G_GNUC_NULL_TERMINATED;
static void kmsctl_ok(const char *conf, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.bin);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, (char *)conf);
  va_list ap;
  va_start(ap, conf);
  for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_autofree char *err = NULL;
  int status = run_argv((const char *const *)argv->pdata, NULL, &err);
  if (status != 0)
    g_test_message("%s: %s", (char *)argv->pdata[3], err);
  g_assert_cmpint(status, ==, 0);
}

static void on_kmsd_exit(GObject *source, GAsyncResult *res, gpointer data)
{
  Kmsd *k = data;
  g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
  exit_status_of(G_SUBPROCESS(source), &k->status);
  child_track(k->pid, FALSE);
  k->exited = TRUE;
}

static gboolean kmsd_exited(gpointer data)
{
  return ((Kmsd *)data)->exited;
}

/* Not inlined: GCC 12's -Wdangling-pointer mistakes the returned buffer for the local that
 * g_file_get_contents() filled. */
static G_GNUC_NO_INLINE char *kmsd_log(Kmsd *k)
{
  char *text = NULL;
  if (!g_file_get_contents(k->log_path, &text, NULL, NULL))
    text = g_strdup("");
  return text;
}

static guint count_in(const char *text, const char *needle)
{
  guint n = 0;
  gsize step = strlen(needle);
  for (gsize at = 0;; n++) {
    const char *p = strstr(text + at, needle);
    if (!p)
      break;
    at = (gsize)(p - text) + step;
  }
  return n;
}

typedef struct {
  Kmsd *k;
  const char *needle;
  guint count;
} KmsdLogWait;

static gboolean kmsd_log_has(gpointer data)
{
  KmsdLogWait *w = data;
  char *text = kmsd_log(w->k);
  gboolean found = count_in(text, w->needle) >= w->count;
  g_free(text);
  return found || w->k->exited;
}

/* Waits until the log holds count occurrences of needle; FALSE on timeout or exit. */
static gboolean kmsd_wait_log(Kmsd *k, const char *needle, guint count, guint timeout_ms)
{
  KmsdLogWait w = { k, needle, count };
  wait_until(kmsd_log_has, &w, timeout_ms);
  char *text = kmsd_log(k);
  gboolean found = count_in(text, needle) >= count;
  g_free(text);
  return found;
}

static void kmsd_free(Kmsd *k)
{
  if (!k)
    return;
  if (!k->exited) {
    g_subprocess_force_exit(k->proc);
    wait_until(kmsd_exited, k, STOP_TIMEOUT_MS);
  }
  g_assert_true(k->exited);
  g_clear_pointer(&k->client, kms_client_free);
  g_object_unref(k->proc);
  g_free(k->log_path);
  g_free(k->url);
  g_free(k->base);
  g_free(k);
}

/* Starts `mikeykmsd --config CONF --port 0 [extra...] serve`. Returns the daemon once it logged
 * "listening on URL", or NULL when it exited first (its status in *status and its log in *log)
 * or did not start within the timeout (a test failure). */
static Kmsd *kmsd_try_start(const char *conf, const char *ca, const char *const *extra, int *status,
                            char **log)
{
  guint n = ++G.n_runs;
  g_autofree char *name = g_strdup_printf("kmsd-%u.log", n);
  Kmsd *k = g_new0(Kmsd, 1);
  k->log_path = g_build_filename(G.tmp, name, NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.bin);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, (char *)conf);
  g_ptr_array_add(argv, (char *)"--port");
  g_ptr_array_add(argv, (char *)"0");
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add(argv, (char *)extra[i]);
  g_ptr_array_add(argv, (char *)"serve");
  g_ptr_array_add(argv, NULL);
  g_autoptr(GSubprocessLauncher) l =
      launcher(G_SUBPROCESS_FLAGS_STDIN_INHERIT | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_stdout_file_path(l, k->log_path);
  g_autoptr(GError) error = NULL;
  k->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
  g_assert_no_error(error);
  k->pid = (pid_t)atoi(g_subprocess_get_identifier(k->proc));
  child_track(k->pid, TRUE);
  g_subprocess_wait_async(k->proc, NULL, on_kmsd_exit, k);

  if (!kmsd_wait_log(k, "listening on ", 1, START_TIMEOUT_MS)) {
    if (!k->exited) {
      g_autofree char *text = kmsd_log(k);
      g_test_message("mikeykmsd did not start within %u ms:\n%s", START_TIMEOUT_MS, text);
      kmsd_free(k);
      g_assert_not_reached();
    }
    if (status)
      *status = k->status;
    if (log)
      *log = kmsd_log(k);
    kmsd_free(k);
    return NULL;
  }
  char *text = kmsd_log(k);
  gsize at = (gsize)(strstr(text, "listening on ") - text) + strlen("listening on ");
  gsize len = strcspn(text + at, " \n");
  k->url = g_strndup(text + at, len);
  g_free(text);
  g_autoptr(GUri) uri = g_uri_parse(k->url, G_URI_FLAGS_NONE, &error);
  g_assert_no_error(error);
  k->port = (guint16)g_uri_get_port(uri);
  g_assert_cmpuint(k->port, >, 0);
  k->base = g_strdup_printf("%s://%s:%u", g_uri_get_scheme(uri), g_uri_get_host(uri), k->port);
  gboolean https = g_str_has_prefix(k->url, "https:");
  k->client = kms_client_new(k->url, https ? ca : NULL, !https, CLIENT_TIMEOUT_MS, &error);
  g_assert_no_error(error);
  return k;
}

static Kmsd *kmsd_start(const char *conf, const char *ca, const char *const *extra)
{
  int status = 0;
  g_autofree char *log = NULL;
  Kmsd *k = kmsd_try_start(conf, ca, extra, &status, &log);
  if (!k)
    g_test_message("mikeykmsd exited with status %d:\n%s", status, log);
  g_assert_nonnull(k);
  return k;
}

/* SIGTERM, then the exit status (bounded wait). */
static int kmsd_stop(Kmsd *k)
{
  g_subprocess_send_signal(k->proc, SIGTERM);
  if (!wait_until(kmsd_exited, k, STOP_TIMEOUT_MS)) {
    g_test_message("mikeykmsd did not stop within %u ms of SIGTERM", STOP_TIMEOUT_MS);
    return -1;
  }
  if (k->status != 0) {
    g_autofree char *text = kmsd_log(k);
    gsize len = strlen(text);
    g_test_message("mikeykmsd exited with %d; the end of its log:\n%s", k->status,
                   text + (len > 3000 ? len - 3000 : 0));
  }
  return k->status;
}

static char *write_conf(const char *name, const char *state, int rate_limit, int max_recipients,
                        const char *extra)
{
  char *path = g_build_filename(G.tmp, name, NULL);
  g_autofree char *text = g_strdup_printf("# test configuration\n"
                                          "[mikeykmsd]\n"
                                          "listen=127.0.0.1\n"
                                          "state-dir=%s\n"
                                          "kms-uri=" KMS_URI "\n"
                                          "max-recipients=%d\n"
                                          "rate-limit=%d\n"
                                          "log-level=info\n"
                                          "%s",
                                          state, max_recipients, rate_limit, extra ? extra : "");
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
  return path;
}

/* `user add URI [options] --out tmp/NAME.cred` and the credential it wrote. */
static void add_user(const char *conf, const char *uri, const char *name, Credential *cred,
                     const char *opt1, const char *opt2, const char *opt3, const char *opt4)
{
  g_autofree char *file = g_strdup_printf("%s.cred", name);
  g_autofree char *path = g_build_filename(G.tmp, file, NULL);
  kmsctl_ok(conf, "user", "add", uri, "--out", path, opt1, opt2, opt3, opt4, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_load(path, cred, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(cred->kms_uri, ==, KMS_URI);
}

/* ------------------------------------------------------------------ MIKEY client side */

static GBytes *random_bytes(gsize n)
{
  guint8 *b = g_malloc(n);
  g_assert_true(mikey_random_bytes(b, n, NULL));
  return g_bytes_new_take(b, n);
}

static guint32 random_u32(void)
{
  guint32 v;
  g_assert_true(mikey_random_bytes((guint8 *)&v, sizeof v, NULL));
  return v;
}

static guint64 ntp_plus(guint64 ntp, gint64 seconds)
{
  return ntp + (guint64)(seconds * ((gint64)1 << 32));
}

/* REQUEST_INIT_PSK from cred asking for a ticket naming recipients (profile 5 flags). */
static GBytes *build_request(const Credential *c, const char *const *recipients, guint64 t,
                             guint64 trs, guint64 tre)
{
  MikeyPolicySpec spec = { 0 };
  spec.prf = MIKEY_PRF_HMAC_SHA256;
  spec.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
               MIKEY_TP_J | MIKEY_TP_N | MIKEY_TP_O;
  spec.idrkms = g_strdup(c->kms_uri);
  spec.idri = g_strdup(c->identity);
  spec.trs = trs;
  spec.tre = tre;
  spec.tr_type = MIKEY_TS_NTP_UTC;
  spec.idrr = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; recipients[i]; i++)
    g_ptr_array_add(spec.idrr, g_strdup(recipients[i]));
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyRequestInitParams p = { MIKEY_PRF_HMAC_SHA256,
                               random_u32(),
                               t,
                               g_bytes_get_data(randri, NULL),
                               MIKEY_RAND_LEN,
                               c->identity,
                               c->kms_uri,
                               c->psk_id,
                               c->psk,
                               &spec };
  g_autoptr(GError) error = NULL;
  GBytes *out = mikey_request_init_build(&p, &error);
  g_assert_no_error(error);
  mikey_policy_spec_clear(&spec);
  return out;
}

static GBytes *request_now(const Credential *c, const char *const *recipients)
{
  guint64 now = mikey_ntp_now();
  return build_request(c, recipients, now, now, ntp_plus(now, 3600));
}

static GBytes *post(Kmsd *k, GBytes *body, guint *status)
{
  g_autoptr(GError) error = NULL;
  GBytes *out = kms_client_post_sync(k->client, body, status, &error);
  g_assert_no_error(error);
  return out;
}

static void get_ticket(Kmsd *k, const Credential *c, const char *const *recipients,
                       MikeyTicketGrant *grant)
{
  g_autoptr(GBytes) init = request_now(c, recipients);
  guint status = 0;
  g_autoptr(GBytes) resp = post(k, init, &status);
  g_assert_cmpuint(status, ==, 200);
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_request_resp_open(resp, init, c->psk, grant, &error));
  g_assert_no_error(error);
}

/* The creator's TRANSFER_INIT to idrr, parsed as the focus sees it (its TICKET carries the
 * Initiator Data that a forking ticket needs at resolve). */
typedef struct {
  MikeyTicketGrant grant;
  GBytes *ti;
  MikeyTransferInitView view;
} Offer;

static void offer_make(Offer *o, Kmsd *k, const Credential *creator, const char *const *recipients,
                       const char *idrr)
{
  memset(o, 0, sizeof *o);
  get_ticket(k, creator, recipients, &o->grant);
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferInitParams tp = { .prf = MIKEY_PRF_HMAC_SHA256,
                                 .csb_id = random_u32(),
                                 .t = mikey_ntp_now(),
                                 .randri = g_bytes_get_data(randri, NULL),
                                 .randri_len = MIKEY_RAND_LEN,
                                 .idri = creator->identity,
                                 .idrr = idrr,
                                 .ssrc = random_u32(),
                                 .seq = 4242,
                                 .spi = o->grant.tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = &o->grant };
  g_autoptr(GError) error = NULL;
  o->ti = mikey_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_transfer_init_parse(o->ti, &o->view, &error));
  g_assert_no_error(error);
}

static void offer_clear(Offer *o)
{
  mikey_transfer_init_view_clear(&o->view);
  g_clear_pointer(&o->ti, g_bytes_unref);
  mikey_ticket_grant_clear(&o->grant);
}

static GBytes *build_resolve(const Credential *resolver, const MikeyPayload *ticket,
                             const char *idrr, guint64 t)
{
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyResolveInitParams rp = { MIKEY_PRF_HMAC_SHA256,
                                random_u32(),
                                t,
                                g_bytes_get_data(randrr, NULL),
                                MIKEY_RAND_LEN,
                                idrr,
                                resolver->kms_uri,
                                ticket,
                                resolver->psk_id,
                                resolver->psk };
  g_autoptr(GError) error = NULL;
  GBytes *out = mikey_resolve_init_build(&rp, &error);
  g_assert_no_error(error);
  return out;
}

/* Resolves and asserts success (RESOLVE_RESP verifies with the resolver's PSK). */
static void resolve_ok(Kmsd *k, const Credential *resolver, const MikeyPayload *ticket,
                       const char *idrr, MikeyResolvedKeys *keys_out)
{
  g_autoptr(GBytes) ri = build_resolve(resolver, ticket, idrr, mikey_ntp_now());
  guint status = 0;
  g_autoptr(GBytes) rr = post(k, ri, &status);
  g_assert_cmpuint(status, ==, 200);
  MikeyResolvedKeys keys;
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_resolve_resp_open(rr, ri, resolver->psk, &keys, &error));
  g_assert_no_error(error);
  if (keys_out)
    *keys_out = keys;
  else
    mikey_resolved_keys_clear(&keys);
}

/* An answer is the MIKEY Error of profile 3 with this status, ERR and V (or no V). */
static void assert_refusal(GBytes *body, guint status, guint want_status, guint want_err,
                           gboolean want_v)
{
  g_assert_cmpuint(status, ==, want_status);
  g_assert_nonnull(body);
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(body, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(m->hdr.data_type, ==, MIKEY_DT_ERROR);
  MikeyPayload *err = mikey_msg_find(m, MIKEY_PT_ERR, 0, 0);
  g_assert_nonnull(err);
  g_assert_cmpuint(err->u.err.err_no, ==, want_err);
  g_assert_cmpint(mikey_msg_find(m, MIKEY_PT_V, 0, 0) != NULL, ==, want_v);
}

static void post_expect(Kmsd *k, GBytes *body, guint want_status, guint want_err, gboolean want_v)
{
  guint status = 0;
  g_autoptr(GBytes) answer = post(k, body, &status);
  assert_refusal(answer, status, want_status, want_err, want_v);
}

/* ------------------------------------------------------------------ raw HTTP */

static SoupSession *raw_session(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new(G.ca, &error);
  g_assert_no_error(error);
  return soup_session_new_with_options("tls-database", db, "timeout", 30, "proxy-resolver", NULL,
                                       NULL);
}

typedef struct {
  guint status;
  GBytes *body;
  SoupMessageHeaders *headers; /* response */
} RawAnswer;

static void raw_answer_clear(RawAnswer *a)
{
  g_clear_pointer(&a->body, g_bytes_unref);
  g_clear_pointer(&a->headers, soup_message_headers_unref);
}

/* method base+path; body with content_type (NULL: no Content-Type); chunked: no length. */
static void raw_send(SoupSession *s, Kmsd *k, const char *method, const char *path,
                     const char *content_type, GBytes *body, gboolean chunked, RawAnswer *out)
{
  g_autofree char *url = g_strconcat(k->base, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new(method, url);
  g_assert_nonnull(msg);
  if (body && chunked) {
    g_autoptr(GInputStream) in = g_memory_input_stream_new_from_bytes(body);
    soup_message_set_request_body(msg, content_type, in, -1);
  } else if (body) {
    soup_message_set_request_body_from_bytes(msg, content_type, body);
  }
  g_autoptr(GError) error = NULL;
  out->body = soup_session_send_and_read(s, msg, NULL, &error);
  g_assert_no_error(error);
  out->status = soup_message_get_status(msg);
  out->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
}

/* ------------------------------------------------------------------ tests */

static void test_healthz(void)
{
  g_autoptr(SoupSession) s = raw_session();
  RawAnswer a = { 0 };
  raw_send(s, G.kmsd, "GET", "/healthz", NULL, NULL, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 200);
  g_autofree char *text = g_strndup(g_bytes_get_data(a.body, NULL), g_bytes_get_size(a.body));
  g_assert_true(g_str_has_prefix(text, "ok"));
  raw_answer_clear(&a);
  raw_send(s, G.kmsd, "GET", "/no-such-thing", NULL, NULL, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 404);
  raw_answer_clear(&a);
}

/* Request (alice, may create) -> TRANSFER_INIT to the factory -> resolve (focus) -> TRANSFER_RESP:
 * both ends derive the same SRTP keys, over HTTPS verified with the KMS's own CA. */
static void test_request_resolve(void)
{
  const char *recipients[] = { FACTORY, BOB, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  MikeyResolvedKeys keys;
  resolve_ok(G.kmsd, &G.focus, o.view.ticket, FACTORY, &keys);
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_transfer_init_verify(&o.view, &keys, FACTORY, &error));
  g_assert_no_error(error);
  g_assert_nonnull(keys.randrkms); /* every grant forks keys (profile 5, I = 1) */

  guint8 policy;
  g_assert_true(mikey_transfer_choose_policy(&o.view, &policy, &error));
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = {
    mikey_ntp_now(), g_bytes_get_data(randrr, NULL), MIKEY_RAND_LEN, policy, random_u32(), 0, 1234
  };
  MikeyCsbState focus_state = { 0 }, alice_state = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&o.view, &keys, &ap, &focus_state, &error);
  g_assert_no_error(error);
  MikeyTransferAnswer ans;
  g_assert_true(mikey_transfer_resp_open(tr, o.ti, &o.grant, &alice_state, &ans, &error));
  g_assert_no_error(error);
  for (guint8 cs = 1; cs <= 2; cs++) {
    g_autoptr(MikeySecret) ka = NULL, sa = NULL, kf = NULL, sf = NULL;
    g_assert_true(mikey_csb_srtp_keys(&alice_state, cs, 12, &ka, &sa, &error));
    g_assert_true(mikey_csb_srtp_keys(&focus_state, cs, 12, &kf, &sf, &error));
    g_assert_true(mikey_secret_equal(ka, kf));
    g_assert_true(mikey_secret_equal(sa, sf));
  }
  mikey_csb_state_clear(&focus_state);
  mikey_csb_state_clear(&alice_state);
  mikey_resolved_keys_clear(&keys);

  /* bob, named by the ticket, may resolve it for himself (his own identity) */
  resolve_ok(G.kmsd, &G.bob, o.view.ticket, BOB, NULL);
  offer_clear(&o);
}

static void test_refuse_forged_mac(void)
{
  const char *recipients[] = { BOB, NULL };
  g_autoptr(GBytes) init = request_now(&G.alice, recipients);
  gsize len;
  guint8 *data = g_bytes_unref_to_data(g_bytes_ref(init), &len);
  data[len - 1] ^= 0x01; /* the last byte of V's MAC */
  g_autoptr(GBytes) forged = g_bytes_new_take(data, len);
  post_expect(G.kmsd, forged, 403, MIKEY_ERR_AUTH_FAILURE, FALSE);
}

static void test_refuse_unknown_psk_id(void)
{
  const char *recipients[] = { BOB, NULL };
  Credential c = G.alice;
  g_autoptr(GBytes) id = random_bytes(16);
  c.psk_id = id;
  g_autoptr(GBytes) init = request_now(&c, recipients);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_ID, FALSE);
}

static void test_refuse_disabled_user(void)
{
  const char *recipients[] = { BOB, NULL };
  g_autoptr(GBytes) init = request_now(&G.carol, recipients);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_ID, TRUE);
}

static void test_refuse_stale_timestamp(void)
{
  const char *recipients[] = { BOB, NULL };
  guint64 then = ntp_plus(mikey_ntp_now(), -600);
  g_autoptr(GBytes) init = build_request(&G.alice, recipients, then, then, ntp_plus(then, 3600));
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_TS, FALSE);
  guint64 later = ntp_plus(mikey_ntp_now(), 600);
  g_autoptr(GBytes) init2 = build_request(&G.alice, recipients, later, 0, 0);
  post_expect(G.kmsd, init2, 403, MIKEY_ERR_INVALID_TS, FALSE);
}

static void test_refuse_replay(void)
{
  const char *recipients[] = { BOB, NULL };
  g_autoptr(GBytes) init = request_now(&G.alice, recipients);
  guint status = 0;
  g_autoptr(GBytes) first = post(G.kmsd, init, &status);
  g_assert_cmpuint(status, ==, 200);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_TS, TRUE);

  /* a replayed resolve too */
  const char *r2[] = { FACTORY, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, r2, FACTORY);
  g_autoptr(GBytes) ri = build_resolve(&G.focus, o.view.ticket, FACTORY, mikey_ntp_now());
  g_autoptr(GBytes) rr = post(G.kmsd, ri, &status);
  g_assert_cmpuint(status, ==, 200);
  post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_TS, TRUE);
  offer_clear(&o);
}

static void test_refuse_non_creator_factory(void)
{
  const char *recipients[] = { ALICE, FACTORY, NULL };
  g_autoptr(GBytes) init = request_now(&G.bob, recipients);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_TPPAR, TRUE);
  /* the same request without the factory is fine */
  const char *r2[] = { ALICE, NULL };
  MikeyTicketGrant grant;
  get_ticket(G.kmsd, &G.bob, r2, &grant);
  mikey_ticket_grant_clear(&grant);
}

static void test_refuse_too_many_recipients(void)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < MAX_RECIPIENTS; i++)
    g_ptr_array_add(names, g_strdup_printf("sip:user%u@example.org", i));
  g_ptr_array_add(names, NULL);
  MikeyTicketGrant grant;
  get_ticket(G.kmsd, &G.alice, (const char *const *)names->pdata, &grant); /* exactly the limit */
  mikey_ticket_grant_clear(&grant);
  g_ptr_array_remove_index(names, names->len - 1);
  g_ptr_array_add(names, g_strdup("sip:one-too-many@example.org"));
  g_ptr_array_add(names, NULL);
  g_autoptr(GBytes) init = request_now(&G.alice, (const char *const *)names->pdata);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_TPPAR, TRUE);
}

static void test_refuse_resolver_not_recipient(void)
{
  const char *recipients[] = { FACTORY, BOB, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  /* a conference URI the focus may resolve for, but the ticket does not name it */
  g_autoptr(GBytes) ri = build_resolve(&G.focus, o.view.ticket, CONF_URI, mikey_ntp_now());
  post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_ID, TRUE);
  /* bob resolving for alice (his credential may resolve for nobody but himself): alice is not
   * named by the ticket either, and that is checked first */
  g_autoptr(GBytes) ri2 = build_resolve(&G.bob, o.view.ticket, ALICE, mikey_ntp_now());
  post_expect(G.kmsd, ri2, 403, MIKEY_ERR_INVALID_ID, TRUE);
  offer_clear(&o);
}

static void test_refuse_resolves_for(void)
{
  const char *recipients[] = { FACTORY, BOB, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  /* bob is named by the ticket, but the focus may resolve only for the factory and conf-* */
  g_autoptr(GBytes) ri = build_resolve(&G.focus, o.view.ticket, BOB, mikey_ntp_now());
  post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_ID, TRUE);
  /* and bob may not resolve for the factory */
  g_autoptr(GBytes) ri2 = build_resolve(&G.bob, o.view.ticket, FACTORY, mikey_ntp_now());
  post_expect(G.kmsd, ri2, 403, MIKEY_ERR_INVALID_ID, TRUE);
  offer_clear(&o);
}

static void test_refuse_expired_ticket(void)
{
  /* TRs 100 s ago (inside the skew window, so granted as asked), TRe 10 s ago */
  const char *recipients[] = { FACTORY, NULL };
  guint64 now = mikey_ntp_now();
  g_autoptr(GBytes) init =
      build_request(&G.alice, recipients, now, ntp_plus(now, -100), ntp_plus(now, -10));
  guint status = 0;
  g_autoptr(GBytes) resp = post(G.kmsd, init, &status);
  g_assert_cmpuint(status, ==, 200);
  Offer o = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_request_resp_open(resp, init, G.alice.psk, &o.grant, &error));
  g_assert_no_error(error);
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferInitParams tp = { .prf = MIKEY_PRF_HMAC_SHA256,
                                 .csb_id = random_u32(),
                                 .t = now,
                                 .randri = g_bytes_get_data(randri, NULL),
                                 .randri_len = MIKEY_RAND_LEN,
                                 .idri = ALICE,
                                 .idrr = FACTORY,
                                 .ssrc = 1,
                                 .spi = o.grant.tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = &o.grant };
  o.ti = mikey_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_transfer_init_parse(o.ti, &o.view, &error));
  g_autoptr(GBytes) ri = build_resolve(&G.focus, o.view.ticket, FACTORY, mikey_ntp_now());
  post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_TICKET, TRUE);
  offer_clear(&o);
}

static void test_refuse_tampered_ticket(void)
{
  const char *recipients[] = { FACTORY, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  g_autoptr(GError) error = NULL;
  /* one bit of the sealed Ticket Data (inside its KEMAC), then one of the policy */
  for (guint variant = 0; variant < 2; variant++) {
    g_autoptr(MikeyPayload) t = mikey_payload_dup(o.view.ticket, &error);
    g_assert_no_error(error);
    if (variant == 0) {
      gsize len;
      guint8 *data = g_bytes_unref_to_data(t->u.ticket.ticket_data, &len);
      data[len / 2] ^= 0x40;
      t->u.ticket.ticket_data = g_bytes_new_take(data, len);
    } else {
      MikeyPayload *r = mikey_chain_find(t->u.ticket.tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0);
      g_assert_nonnull(r);
      g_bytes_unref(r->u.id.data);
      r->u.id.data = g_bytes_new_static("sip:conference-factory@conf.example.org",
                                        strlen("sip:conference-factory@conf.example.org"));
      t->u.ticket.flags ^= MIKEY_TP_J; /* the MAC covers the policy: any change is caught */
    }
    g_autoptr(GBytes) ri = build_resolve(&G.focus, t, FACTORY, mikey_ntp_now());
    post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_TICKET, TRUE);
  }
  offer_clear(&o);
}

/* A ticket sealed by another KMS (same kms-uri, its own TPK generations) is not this KMS's. */
static void test_refuse_unknown_tpk_generation(void)
{
  g_autofree char *state = g_build_filename(G.tmp, "other-kms", NULL);
  g_autofree char *conf = write_conf("other.conf", state, 0, MAX_RECIPIENTS, NULL);
  kmsctl_ok(conf, "init", NULL);
  Credential alice2 = { 0 };
  add_user(conf, ALICE, "alice-other", &alice2, "--may-create", NULL, NULL, NULL);
  g_autofree char *ca = g_build_filename(state, "ca.pem", NULL);
  Kmsd *other = kmsd_start(conf, ca, NULL);
  const char *recipients[] = { FACTORY, NULL };
  Offer o;
  offer_make(&o, other, &alice2, recipients, FACTORY);
  /* the focus takes it to its own KMS, which never had that TPK generation */
  g_autoptr(GBytes) ri = build_resolve(&G.focus, o.view.ticket, FACTORY, mikey_ntp_now());
  post_expect(G.kmsd, ri, 403, MIKEY_ERR_INVALID_TICKET, TRUE);
  offer_clear(&o);
  g_assert_cmpint(kmsd_stop(other), ==, 0);
  kmsd_free(other);
  credential_clear(&alice2);
}

static void test_malformed(void)
{
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  guint status = 0;
  g_autoptr(GBytes) a1 = post(G.kmsd, empty, &status);
  g_assert_cmpuint(status, ==, 400);
  g_assert_true(a1 == NULL || g_bytes_get_size(a1) == 0);

  /* a REQUEST_INIT cut in half: the HDR parses, so the answer is an Error with ERR 12 */
  const char *recipients[] = { BOB, NULL };
  g_autoptr(GBytes) init = request_now(&G.alice, recipients);
  g_autoptr(GBytes) half = g_bytes_new_from_bytes(init, 0, g_bytes_get_size(init) / 2);
  post_expect(G.kmsd, half, 400, MIKEY_ERR_UNSPECIFIED, FALSE);

  /* random bytes (version byte not 1): 400 with an empty body */
  for (guint i = 0; i < 8; i++) {
    g_autoptr(GBytes) rnd = random_bytes(16 + i * 97);
    gsize len;
    guint8 *data = g_bytes_unref_to_data(g_bytes_ref(rnd), &len);
    data[0] = 0x80 | (guint8)i;
    g_autoptr(GBytes) junk = g_bytes_new_take(data, len);
    g_autoptr(GBytes) a = post(G.kmsd, junk, &status);
    g_assert_cmpuint(status, ==, 400);
    g_assert_true(a == NULL || g_bytes_get_size(a) == 0);
  }
  /* random bytes after a valid-looking HDR: 400 (ERR 12 when a reply is possible) */
  for (guint i = 0; i < 8; i++) {
    g_autoptr(GBytes) rnd = random_bytes(200);
    gsize len;
    guint8 *data = g_bytes_unref_to_data(g_bytes_ref(rnd), &len);
    memcpy(data, g_bytes_get_data(init, NULL), 10);
    g_autoptr(GBytes) junk = g_bytes_new_take(data, len);
    g_autoptr(GBytes) a = post(G.kmsd, junk, &status);
    g_assert_cmpuint(status, ==, 400);
  }

  /* an Error message is never answered with an Error */
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(init, NULL);
  g_autoptr(GBytes) err = mikey_error_build(&m->hdr, mikey_ntp_now(), MIKEY_ERR_UNSPECIFIED, NULL,
                                            MIKEY_MAC_NULL, NULL);
  g_assert_nonnull(err);
  g_autoptr(GBytes) a2 = post(G.kmsd, err, &status);
  g_assert_cmpuint(status, ==, 400);
  g_assert_true(a2 == NULL || g_bytes_get_size(a2) == 0);
}

static void test_body_too_large(void)
{
  g_autoptr(SoupSession) s = raw_session();
  /* 1 MiB with a Content-Length: 413, empty */
  g_autoptr(GBytes) big = random_bytes(1024 * 1024);
  RawAnswer a = { 0 };
  raw_send(s, G.kmsd, "POST", "/mikey", "application/mikey", big, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 413);
  g_assert_cmpuint(g_bytes_get_size(a.body), ==, 0);
  raw_answer_clear(&a);
  /* just over 64 KiB, chunked (no Content-Length): also 413 */
  g_autoptr(GBytes) over = random_bytes(64 * 1024 + 1);
  raw_send(s, G.kmsd, "POST", "/mikey", "application/mikey", over, TRUE, &a);
  g_assert_cmpuint(a.status, ==, 413);
  raw_answer_clear(&a);
  /* exactly 64 KiB is read and judged by the engine: not a MIKEY message, 400 */
  g_autoptr(GBytes) limit = random_bytes(64 * 1024);
  raw_send(s, G.kmsd, "POST", "/mikey", "application/mikey", limit, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 400);
  raw_answer_clear(&a);
  /* the daemon still serves */
  raw_send(s, G.kmsd, "GET", "/healthz", NULL, NULL, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 200);
  raw_answer_clear(&a);
}

static void test_content_type_and_method(void)
{
  g_autoptr(SoupSession) s = raw_session();
  const char *recipients[] = { BOB, NULL };
  g_autoptr(GBytes) init = request_now(&G.alice, recipients);
  RawAnswer a = { 0 };
  raw_send(s, G.kmsd, "POST", "/mikey", "text/plain", init, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 415);
  g_assert_cmpuint(g_bytes_get_size(a.body), ==, 0);
  raw_answer_clear(&a);
  raw_send(s, G.kmsd, "POST", "/mikey", NULL, init, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 415);
  raw_answer_clear(&a);
  raw_send(s, G.kmsd, "GET", "/mikey", NULL, NULL, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 405);
  g_assert_cmpuint(g_bytes_get_size(a.body), ==, 0);
  g_assert_cmpstr(soup_message_headers_get_one(a.headers, "Allow"), ==, "POST");
  raw_answer_clear(&a);
  raw_send(s, G.kmsd, "PUT", "/mikey", "application/mikey", init, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 405);
  raw_answer_clear(&a);
  raw_send(s, G.kmsd, "POST", "/healthz", "application/mikey", init, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 405);
  raw_answer_clear(&a);
  /* with the right type the same bytes are a request (parameters are allowed) */
  raw_send(s, G.kmsd, "POST", "/mikey", "application/mikey; x=y", init, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 200);
  g_assert_cmpstr(soup_message_headers_get_content_type(a.headers, NULL), ==, "application/mikey");
  raw_answer_clear(&a);
}

/* HTTPS only: a plain-HTTP client gets no answer from the HTTPS port; TLS 1.1 is refused. */
static void test_tls_only(void)
{
  g_autofree char *http_url = g_strdup_printf("http://127.0.0.1:%u/mikey", G.kmsd->port);
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsClient) c = kms_client_new(http_url, NULL, TRUE, 5000, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) body = g_bytes_new_static("x", 1);
  guint status = 0;
  g_autoptr(GBytes) a = kms_client_post_sync(c, body, &status, &error);
  g_assert_null(a);
  g_assert_nonnull(error);
  g_clear_error(&error);

  g_autofree char *openssl = g_find_program_in_path("openssl");
  if (!openssl) {
    g_test_message("openssl not installed: TLS version check skipped");
    return;
  }
  /* OPENSSL_CONF=/dev/null and SECLEVEL=0 so that the client itself is willing to speak the old
   * protocol: the refusal must come from the server. */
  g_autofree char *connect = g_strdup_printf("127.0.0.1:%u", G.kmsd->port);
  const char *old[] = { "/bin/sh",
                        "-c",
                        "OPENSSL_CONF=/dev/null exec \"$0\" s_client -connect \"$1\" -tls1_1 "
                        "-cipher DEFAULT@SECLEVEL=0 </dev/null",
                        openssl,
                        connect,
                        NULL };
  const char *cur[] = { "/bin/sh",
                        "-c",
                        "OPENSSL_CONF=/dev/null exec \"$0\" s_client -connect \"$1\" -tls1_2 "
                        "</dev/null",
                        openssl,
                        connect,
                        NULL };
  g_autofree char *out = NULL, *err = NULL;
  int st = run_argv(cur, &out, &err);
  g_assert_cmpint(st, ==, 0);
  g_assert_nonnull(strstr(out, "TLSv1.2"));
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  st = run_argv(old, &out, &err);
  g_assert_cmpint(st, !=, 0);
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  const char *older[] = { "/bin/sh",
                          "-c",
                          "OPENSSL_CONF=/dev/null exec \"$0\" s_client -connect \"$1\" -tls1 "
                          "-cipher DEFAULT@SECLEVEL=0 </dev/null",
                          openssl,
                          connect,
                          NULL };
  st = run_argv(older, &out, &err);
  g_assert_cmpint(st, !=, 0);
}

static void test_metrics(void)
{
  g_autoptr(SoupSession) s = raw_session();
  RawAnswer a = { 0 };
  raw_send(s, G.kmsd, "GET", "/metrics", NULL, NULL, FALSE, &a);
  g_assert_cmpuint(a.status, ==, 200);
  g_assert_true(
      g_str_has_prefix(soup_message_headers_get_content_type(a.headers, NULL), "text/plain"));
  g_autofree char *text = g_strndup(g_bytes_get_data(a.body, NULL), g_bytes_get_size(a.body));
  g_assert_nonnull(strstr(text, "mikeykmsd_requests_total{type=\"request\",outcome=\"ok\"}"));
  g_assert_nonnull(strstr(text, "mikeykmsd_requests_total{type=\"resolve\",outcome=\"ok\"}"));
  g_assert_nonnull(strstr(text, "mikeykmsd_request_duration_seconds_bucket"));
  g_assert_nonnull(strstr(text, "mikeykmsd_tickets_issued_total"));
  g_assert_nonnull(strstr(text, "mikeykmsd_tickets_resolved_total"));
  g_assert_nonnull(strstr(text, "mikeykmsd_users 4\n"));
  raw_answer_clear(&a);
}

/* SIGHUP re-reads the file: a rate limit of 1/s appears (503 + Retry-After), then goes away;
 * max-recipients follows the file too. */
static void test_sighup_reload(void)
{
  /* "reloaded FILE" once per successful reload */
  g_autofree char *needle = g_strdup_printf("reloaded %s", G.conf);
  g_autofree char *log0 = kmsd_log(G.kmsd);
  guint reloads = count_in(log0, needle);
  g_autofree char *conf_limited = write_conf("kms.conf", G.state, 1, MAX_RECIPIENTS, NULL);
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 1, START_TIMEOUT_MS));

  g_autoptr(SoupSession) s = raw_session();
  g_autoptr(GBytes) junk = g_bytes_new_static("\x01", 1);
  guint refused = 0, answered = 0;
  gint64 t0 = g_get_monotonic_time();
  for (guint i = 0; i < 40; i++) {
    RawAnswer a = { 0 };
    raw_send(s, G.kmsd, "POST", "/mikey", "application/mikey", junk, FALSE, &a);
    if (a.status == 503) {
      refused++;
      g_assert_cmpstr(soup_message_headers_get_one(a.headers, "Retry-After"), ==, "1");
      g_assert_cmpuint(g_bytes_get_size(a.body), ==, 0);
    } else {
      g_assert_cmpuint(a.status, ==, 400);
      answered++;
    }
    raw_answer_clear(&a);
  }
  double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
  /* a bucket of 1 token refilled at 1/s lets through at most 1 + elapsed seconds (+1 for the
   * rounding of the edges), however slow the daemon (an ASan build) is */
  g_test_message("rate limit 1/s: %u answered, %u refused with 503 in %.1f s", answered, refused,
                 secs);
  g_assert_cmpuint(answered, >=, 1);
  g_assert_cmpfloat(answered, <=, 2 + secs);
  g_assert_cmpuint(refused, ==, 40 - answered);
  g_assert_cmpuint(refused, >=, 1);

  g_autofree char *conf_small = write_conf("kms.conf", G.state, 0, 1, NULL);
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 2, START_TIMEOUT_MS));
  const char *two[] = { BOB, CAROL, NULL };
  g_autoptr(GBytes) init = request_now(&G.alice, two);
  post_expect(G.kmsd, init, 403, MIKEY_ERR_INVALID_TPPAR, TRUE);

  /* a broken file changes nothing and is reported */
  g_assert_true(g_file_set_contents(G.conf, "[mikeykmsd]\nno-such-key=1\n", -1, NULL));
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, "no-such-key", 1, START_TIMEOUT_MS));
  g_autoptr(GBytes) init2 = request_now(&G.alice, two);
  post_expect(G.kmsd, init2, 403, MIKEY_ERR_INVALID_TPPAR, TRUE);

  g_autofree char *conf_back = write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, NULL);
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 3, START_TIMEOUT_MS));
  MikeyTicketGrant grant;
  get_ticket(G.kmsd, &G.alice, two, &grant);
  mikey_ticket_grant_clear(&grant);
}

/* SIGHUP with tls-cert/tls-key pointing at another certificate (of another CA): new
 * connections get it; back to the first one on the next SIGHUP. */
static void test_sighup_tls_reload(void)
{
  g_autofree char *needle = g_strdup_printf("reloaded %s", G.conf);
  g_autofree char *log0 = kmsd_log(G.kmsd);
  guint reloads = count_in(log0, needle);
  g_autofree char *state2 = g_build_filename(G.tmp, "tls2", NULL);
  g_autofree char *conf2 = write_conf("tls2.conf", state2, 0, MAX_RECIPIENTS, NULL);
  kmsctl_ok(conf2, "init", NULL);
  g_autofree char *ca2 = g_build_filename(state2, "ca.pem", NULL);
  g_autofree char *extra =
      g_strdup_printf("tls-cert=%s/server.pem\ntls-key=%s/server.key\n", state2, state2);
  g_autofree char *c1 = write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, extra);
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 1, START_TIMEOUT_MS));

  const char *recipients[] = { BOB, NULL };
  g_autoptr(GError) error = NULL;
  for (guint round = 0; round < 2; round++) {
    const char *good = round == 0 ? ca2 : G.ca, *bad = round == 0 ? G.ca : ca2;
    g_autoptr(KmsClient) ok = kms_client_new(G.kmsd->url, good, FALSE, CLIENT_TIMEOUT_MS, &error);
    g_assert_no_error(error);
    g_autoptr(GBytes) init = request_now(&G.alice, recipients);
    guint status = 0;
    g_autoptr(GBytes) a = kms_client_post_sync(ok, init, &status, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(status, ==, 200);
    g_autoptr(KmsClient) no = kms_client_new(G.kmsd->url, bad, FALSE, CLIENT_TIMEOUT_MS, &error);
    g_assert_no_error(error);
    g_autoptr(GBytes) init2 = request_now(&G.alice, recipients);
    g_autoptr(GBytes) b = kms_client_post_sync(no, init2, &status, &error);
    g_assert_null(b);
    g_assert_error(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
    g_clear_error(&error);
    if (round == 0) {
      g_autofree char *c2 = write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, NULL);
      g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
      g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 2, START_TIMEOUT_MS));
    }
  }
  /* an unreadable certificate on reload: reported, the old one stays */
  g_autofree char *c3 =
      write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, "tls-cert=/nonexistent/cert.pem\n");
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(
      kmsd_wait_log(G.kmsd, "the previous certificate stays in use", 1, START_TIMEOUT_MS));
  g_autoptr(KmsClient) c = kms_client_new(G.kmsd->url, G.ca, FALSE, CLIENT_TIMEOUT_MS, &error);
  g_autoptr(GBytes) init3 = request_now(&G.alice, recipients);
  guint status = 0;
  g_autoptr(GBytes) a3 = kms_client_post_sync(c, init3, &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 200);
  g_autofree char *c4 = write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, NULL);
  g_subprocess_send_signal(G.kmsd->proc, SIGHUP);
  g_assert_true(kmsd_wait_log(G.kmsd, needle, reloads + 3, START_TIMEOUT_MS));
}

typedef struct {
  KmsClient *client;
  guint index;
} Runner;

typedef struct {
  Runner runners[CONCURRENT_CLIENTS];
  const MikeyPayload *ticket;
  guint started, completed, errors;
  guint in_flight;
  GBytes *inits[CONCURRENT_CLIENTS];
  char *first_error;
} Concurrent;

static Concurrent *conc;

static void runner_next(Runner *r);

static void on_resolved(GObject *source, GAsyncResult *res, gpointer data)
{
  Runner *r = data;
  guint status = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rr = kms_client_post_finish(r->client, res, &status, &error);
  conc->in_flight--;
  conc->completed++;
  GBytes *ri = conc->inits[r->index];
  conc->inits[r->index] = NULL;
  MikeyResolvedKeys keys;
  if (error || status != 200 || !mikey_resolve_resp_open(rr, ri, G.focus.psk, &keys, &error)) {
    conc->errors++;
    if (!conc->first_error)
      conc->first_error =
          g_strdup_printf("status %u: %s", status, error ? error->message : "(no error)");
  } else {
    mikey_resolved_keys_clear(&keys);
  }
  g_bytes_unref(ri);
  runner_next(r);
}

static void runner_next(Runner *r)
{
  if (conc->started >= CONCURRENT_RESOLVES)
    return;
  conc->started++;
  conc->in_flight++;
  conc->inits[r->index] = build_resolve(&G.focus, conc->ticket, FACTORY, mikey_ntp_now());
  kms_client_post_async(r->client, conc->inits[r->index], NULL, on_resolved, r);
}

static gboolean conc_done(gpointer data)
{
  return conc->completed >= CONCURRENT_RESOLVES;
}

static gboolean fuse_cb(gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* 16 clients, each with its own keep-alive connection, 10,000 resolves: no errors. */
static void test_concurrent(void)
{
  const char *recipients[] = { FACTORY, BOB, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  conc = g_new0(Concurrent, 1);
  conc->ticket = o.view.ticket;
  for (guint i = 0; i < CONCURRENT_CLIENTS; i++) {
    g_autoptr(GError) error = NULL;
    conc->runners[i].client = kms_client_new(G.kmsd->url, G.ca, FALSE, CLIENT_TIMEOUT_MS, &error);
    g_assert_no_error(error);
    conc->runners[i].index = i;
  }
  gint64 start = g_get_monotonic_time();
  for (guint i = 0; i < CONCURRENT_CLIENTS; i++)
    runner_next(&conc->runners[i]);
  gboolean timed_out = FALSE;
  guint fuse = g_timeout_add_seconds(300, fuse_cb, &timed_out);
  while (!conc_done(NULL) && !timed_out)
    g_main_context_iteration(NULL, TRUE);
  if (!timed_out)
    g_source_remove(fuse);
  double secs = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
  g_test_message("%u resolves by %u clients in %.2f s (%.0f/s), %u errors%s%s", conc->completed,
                 CONCURRENT_CLIENTS, secs, conc->completed / secs, conc->errors,
                 conc->first_error ? ", first: " : "", conc->first_error ? conc->first_error : "");
  g_assert_false(timed_out);
  g_assert_cmpuint(conc->completed, ==, CONCURRENT_RESOLVES);
  g_assert_cmpuint(conc->errors, ==, 0);
  for (guint i = 0; i < CONCURRENT_CLIENTS; i++)
    kms_client_free(conc->runners[i].client);
  g_free(conc->first_error);
  g_clear_pointer(&conc, g_free);
  offer_clear(&o);
}

/* `tpk rotate` while the daemon runs: tickets of the old generation still resolve, new ones are
 * sealed under the new generation and resolve too. */
static void test_tpk_rotate(void)
{
  const char *recipients[] = { FACTORY, NULL };
  Offer before;
  offer_make(&before, G.kmsd, &G.alice, recipients, FACTORY);
  resolve_ok(G.kmsd, &G.focus, before.view.ticket, FACTORY, NULL);
  kmsctl_ok(G.conf, "tpk", "rotate", NULL);
  resolve_ok(G.kmsd, &G.focus, before.view.ticket, FACTORY, NULL);
  Offer after;
  offer_make(&after, G.kmsd, &G.alice, recipients, FACTORY);
  resolve_ok(G.kmsd, &G.focus, after.view.ticket, FACTORY, NULL);
  g_assert_false(mikey_ticket_same(before.view.ticket, after.view.ticket));
  offer_clear(&after);
  offer_clear(&before);
}

/* SIGTERM: exit 0 (an ASan daemon: LeakSanitizer clean). A new daemon on the same state knows
 * the users and resolves a ticket issued before the restart. */
static void test_restart(void)
{
  const char *recipients[] = { FACTORY, BOB, NULL };
  Offer o;
  offer_make(&o, G.kmsd, &G.alice, recipients, FACTORY);
  g_assert_cmpint(kmsd_stop(G.kmsd), ==, 0);
  g_autofree char *log = kmsd_log(G.kmsd);
  g_assert_nonnull(strstr(log, "stopped"));
  kmsd_free(G.kmsd);
  G.kmsd = kmsd_start(G.conf, G.ca, NULL);
  resolve_ok(G.kmsd, &G.focus, o.view.ticket, FACTORY, NULL);
  resolve_ok(G.kmsd, &G.bob, o.view.ticket, BOB, NULL);
  MikeyTicketGrant grant;
  get_ticket(G.kmsd, &G.alice, recipients, &grant);
  mikey_ticket_grant_clear(&grant);
  /* the ticket log survived: the earlier ticket is listed with its resolves */
  g_autofree char *out = NULL;
  g_assert_cmpint(kmsctl(G.conf, &out, NULL, "tickets", "--limit", "0", NULL), ==, 0);
  g_autofree char *fp = mikey_ticket_fingerprint(o.view.ticket);
  g_autofree char *fp_short = g_strndup(fp, 12);
  g_assert_nonnull(strstr(out, fp_short));
  offer_clear(&o);
}

static void test_startup_insecure_refused(void)
{
  const char *extra[] = { "--insecure-http", "--listen", "0.0.0.0", NULL };
  int status = 0;
  g_autofree char *log = NULL;
  Kmsd *k = kmsd_try_start(G.conf, G.ca, extra, &status, &log);
  g_assert_null(k);
  g_assert_cmpint(status, !=, 0);
  g_assert_nonnull(strstr(log, "loopback"));
}

static void test_startup_port_in_use(void)
{
  g_autofree char *port = g_strdup_printf("%u", G.kmsd->port);
  const char *extra[] = { "--port", port, NULL };
  int status = 0;
  g_autofree char *log = NULL;
  Kmsd *k = kmsd_try_start(G.conf, G.ca, extra, &status, &log);
  g_assert_null(k);
  g_assert_cmpint(status, ==, 1);
  g_autofree char *where = g_strdup_printf("cannot listen on 127.0.0.1:%u", G.kmsd->port);
  g_assert_nonnull(strstr(log, where));
  g_assert_nonnull(strstr(log, "Address already in use"));
}

static void test_startup_bad_certificate(void)
{
  g_autofree char *missing = g_build_filename(G.tmp, "missing.pem", NULL);
  const char *extra[] = { "--tls-cert", missing, NULL };
  int status = 0;
  g_autofree char *log = NULL;
  g_assert_null(kmsd_try_start(G.conf, G.ca, extra, &status, &log));
  g_assert_cmpint(status, ==, 1);
  g_assert_nonnull(strstr(log, "cannot load TLS certificate"));
  g_assert_nonnull(strstr(log, "missing.pem"));

  g_autofree char *garbage = g_build_filename(G.tmp, "garbage.pem", NULL);
  g_assert_true(g_file_set_contents(garbage, "not a certificate\n", -1, NULL));
  g_chmod(garbage, 0);
  const char *extra2[] = { "--tls-cert", garbage, NULL };
  g_clear_pointer(&log, g_free);
  g_assert_null(kmsd_try_start(G.conf, G.ca, extra2, &status, &log));
  g_assert_cmpint(status, ==, 1);
  g_assert_nonnull(strstr(log, "cannot load TLS certificate"));
  g_assert_nonnull(strstr(log, "garbage.pem"));

  /* a key of another certificate (the CA's) */
  g_autofree char *ca_key = g_build_filename(G.state, "ca.key", NULL);
  const char *extra3[] = { "--tls-key", ca_key, NULL };
  g_clear_pointer(&log, g_free);
  g_assert_null(kmsd_try_start(G.conf, G.ca, extra3, &status, &log));
  g_assert_cmpint(status, ==, 1);
  g_assert_nonnull(strstr(log, "the key does not belong to the certificate"));
}

/* Plain HTTP on loopback (loudly logged); SIGTERM while a request is half sent: the request is
 * still answered (Connection: close), then the daemon exits 0. */
static void test_insecure_and_graceful_stop(void)
{
  const char *extra[] = { "--insecure-http", NULL };
  Kmsd *k = kmsd_start(G.conf, G.ca, extra);
  g_assert_true(g_str_has_prefix(k->url, "http://127.0.0.1:"));
  g_autofree char *log = kmsd_log(k);
  g_assert_nonnull(strstr(log, "INSECURE"));
  const char *recipients[] = { BOB, NULL };
  MikeyTicketGrant grant;
  get_ticket(k, &G.alice, recipients, &grant);
  mikey_ticket_grant_clear(&grant);

  /* a raw connection: headers and half the body, SIGTERM, the rest */
  g_autoptr(GBytes) init = request_now(&G.alice, recipients);
  gsize len;
  const char *data = g_bytes_get_data(init, &len);
  g_autoptr(GSocketClient) sc = g_socket_client_new();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) conn =
      g_socket_client_connect_to_host(sc, "127.0.0.1", k->port, NULL, &error);
  g_assert_no_error(error);
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
  g_autofree char *head = g_strdup_printf("POST /mikey HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Content-Type: application/mikey\r\n"
                                          "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
                                          len);
  g_assert_true(g_output_stream_write_all(out, head, strlen(head), NULL, NULL, &error));
  g_assert_true(g_output_stream_write_all(out, data, len / 2, NULL, NULL, &error));
  g_assert_no_error(error);
  g_usleep(200 * 1000); /* the daemon has the headers */
  g_subprocess_send_signal(k->proc, SIGTERM);
  g_assert_true(kmsd_wait_log(k, "stopping", 1, START_TIMEOUT_MS));
  /* new connections are refused now */
  g_autoptr(GSocketClient) sc2 = g_socket_client_new();
  g_autoptr(GError) refused = NULL;
  g_autoptr(GSocketConnection) conn2 =
      g_socket_client_connect_to_host(sc2, "127.0.0.1", k->port, NULL, &refused);
  g_assert_null(conn2);
  g_assert_nonnull(refused);
  g_assert_false(k->exited);
  g_assert_true(g_output_stream_write_all(out, data + len / 2, len - len / 2, NULL, NULL, &error));
  g_assert_no_error(error);
  GString *answer = g_string_new(NULL);
  char buf[4096];
  gssize n;
  g_socket_set_timeout(g_socket_connection_get_socket(conn), 20);
  while ((n = g_input_stream_read(in, buf, sizeof buf, NULL, &error)) > 0)
    g_string_append_len(answer, buf, n);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(answer->str, "HTTP/1.1 200"));
  g_assert_nonnull(strcasestr(answer->str, "\r\nConnection: close\r\n"));
  g_string_free(answer, TRUE);
  g_assert_true(wait_until(kmsd_exited, k, STOP_TIMEOUT_MS));
  g_assert_cmpint(k->status, ==, 0);
  kmsd_free(k);
}

/* ------------------------------------------------------------------ setup */

static void setup(void)
{
  const char *env = g_getenv("MIKEYKMSD");
  G.bin = env ? g_strdup(env)
              : g_test_build_filename(G_TEST_BUILT, "..", "src", "kms", "mikeykmsd", NULL);
  g_assert_true(g_file_test(G.bin, G_FILE_TEST_IS_EXECUTABLE));
  g_autoptr(GError) error = NULL;
  G.tmp = g_dir_make_tmp("mikeykmsd-test-XXXXXX", &error);
  g_assert_no_error(error);
  proc_harness_init(G.tmp);
  G.state = g_build_filename(G.tmp, "kms", NULL);
  G.conf = write_conf("kms.conf", G.state, 0, MAX_RECIPIENTS, NULL);
  G.ca = g_build_filename(G.state, "ca.pem", NULL);
  kmsctl_ok(G.conf, "init", NULL);
  add_user(G.conf, ALICE, "alice", &G.alice, "--may-create", NULL, NULL, NULL);
  add_user(G.conf, BOB, "bob", &G.bob, NULL, NULL, NULL, NULL);
  add_user(G.conf, CAROL, "carol", &G.carol, NULL, NULL, NULL, NULL);
  kmsctl_ok(G.conf, "user", "disable", CAROL, NULL);
  /* --focus: resolves for sip:conference-factory@ and sip:conf-*@ its own host (profile 1) */
  add_user(G.conf, FOCUS, "focus", &G.focus, "--focus", NULL, NULL, NULL);
  g_assert_cmpstr(G.alice.kms_ca, ==, G.ca);
  G.kmsd = kmsd_start(G.conf, G.ca, NULL);
}

static void teardown(void)
{
  if (G.kmsd) {
    kmsd_stop(G.kmsd);
    kmsd_free(G.kmsd);
  }
  credential_clear(&G.alice);
  credential_clear(&G.bob);
  credential_clear(&G.carol);
  credential_clear(&G.focus);
  proc_harness_finish();
  g_free(G.tmp);
  g_free(G.state);
  g_free(G.conf);
  g_free(G.ca);
  g_free(G.bin);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  setup();
  g_test_add_func("/kmsd/healthz", test_healthz);
  g_test_add_func("/kmsd/request-resolve", test_request_resolve);
  g_test_add_func("/kmsd/refuse/forged-mac", test_refuse_forged_mac);
  g_test_add_func("/kmsd/refuse/unknown-psk-id", test_refuse_unknown_psk_id);
  g_test_add_func("/kmsd/refuse/disabled-user", test_refuse_disabled_user);
  g_test_add_func("/kmsd/refuse/stale-timestamp", test_refuse_stale_timestamp);
  g_test_add_func("/kmsd/refuse/replay", test_refuse_replay);
  g_test_add_func("/kmsd/refuse/non-creator-factory", test_refuse_non_creator_factory);
  g_test_add_func("/kmsd/refuse/too-many-recipients", test_refuse_too_many_recipients);
  g_test_add_func("/kmsd/refuse/resolver-not-recipient", test_refuse_resolver_not_recipient);
  g_test_add_func("/kmsd/refuse/resolves-for", test_refuse_resolves_for);
  g_test_add_func("/kmsd/refuse/expired-ticket", test_refuse_expired_ticket);
  g_test_add_func("/kmsd/refuse/tampered-ticket", test_refuse_tampered_ticket);
  g_test_add_func("/kmsd/refuse/unknown-tpk-generation", test_refuse_unknown_tpk_generation);
  g_test_add_func("/kmsd/http/malformed", test_malformed);
  g_test_add_func("/kmsd/http/body-too-large", test_body_too_large);
  g_test_add_func("/kmsd/http/content-type-and-method", test_content_type_and_method);
  g_test_add_func("/kmsd/http/tls-only", test_tls_only);
  g_test_add_func("/kmsd/http/metrics", test_metrics);
  g_test_add_func("/kmsd/sighup-reload", test_sighup_reload);
  g_test_add_func("/kmsd/sighup-tls-reload", test_sighup_tls_reload);
  g_test_add_func("/kmsd/concurrent", test_concurrent);
  g_test_add_func("/kmsd/tpk-rotate", test_tpk_rotate);
  g_test_add_func("/kmsd/restart", test_restart);
  g_test_add_func("/kmsd/startup/insecure-http-non-loopback", test_startup_insecure_refused);
  g_test_add_func("/kmsd/startup/port-in-use", test_startup_port_in_use);
  g_test_add_func("/kmsd/startup/bad-certificate", test_startup_bad_certificate);
  g_test_add_func("/kmsd/insecure-http-and-graceful-stop", test_insecure_and_graceful_stop);
  int status = g_test_run();
  teardown();
  return status;
}
