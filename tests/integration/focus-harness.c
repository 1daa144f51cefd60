/* What the integration tests of mikeyconfd share (focus-harness.h). */
#include "focus-harness.h"

#include "common/credential.h"
#include "common/kmsclient.h"
#include "ua/offer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
  return ASAN_TLS_WORKAROUND;
}
#endif

FocusHarness H;

/* ------------------------------------------------------------------ emergency cleanup */

#define MAX_CHILDREN 32
static volatile pid_t live_children[MAX_CHILDREN];
static char *rm_argv[4];

void child_track(pid_t pid, gboolean alive)
{
  for (guint i = 0; i < MAX_CHILDREN; i++) {
    if (alive && live_children[i] == 0) {
      live_children[i] = pid;
      return;
    }
    if (!alive && live_children[i] == pid) {
      live_children[i] = 0;
      return;
    }
  }
}

static void on_fatal_signal(int sig)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (live_children[i] > 0) {
      kill(live_children[i], SIGCONT);
      kill(live_children[i], SIGKILL);
    }
  if (rm_argv[2]) {
    pid_t pid = fork();
    if (pid == 0) {
      char *envp[] = { NULL };
      execve(rm_argv[0], rm_argv, envp);
      _exit(127);
    }
    if (pid > 0)
      waitpid(pid, NULL, 0);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* ------------------------------------------------------------------ processes */

gboolean wait_until(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  while (!cond(data)) {
    if (g_get_monotonic_time() > deadline)
      return FALSE;
    if (!g_main_context_iteration(NULL, FALSE))
      g_usleep(1000);
  }
  return TRUE;
}

void sleep_ms(guint ms)
{
  gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
  while (g_get_monotonic_time() < end)
    if (!g_main_context_iteration(NULL, FALSE))
      g_usleep(1000);
}

static void on_exit_cb(GObject *source, GAsyncResult *res, gpointer data)
{
  Proc *p = data;
  g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
  GSubprocess *s = G_SUBPROCESS(source);
  p->status = g_subprocess_get_if_exited(s)     ? g_subprocess_get_exit_status(s)
              : g_subprocess_get_if_signaled(s) ? 128 + g_subprocess_get_term_sig(s)
                                                : -1;
  child_track(p->pid, FALSE);
  p->done = TRUE;
}

static gboolean proc_done(gpointer data)
{
  return ((Proc *)data)->done;
}

/* The child's PID; 0 when it has already exited and been reaped (GLib then has no identifier:
 * a short-lived child like mikeyconfctl may be gone before the caller asks). */
pid_t pid_of(GSubprocess *p)
{
  const char *id = g_subprocess_get_identifier(p);
  return id ? (pid_t)atoi(id) : 0;
}

GSubprocessLauncher *launcher(GSubprocessFlags flags)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new(flags);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  const char *asan = g_getenv("ASAN_OPTIONS");
  if (!asan || !strstr(asan, "intercept_tls_get_addr")) {
    g_autofree char *opts = asan && *asan ? g_strconcat(asan, ":", ASAN_TLS_WORKAROUND, NULL)
                                          : g_strdup(ASAN_TLS_WORKAROUND);
    g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
  }
  return l;
}

Proc *spawn(const char *const *argv)
{
  Proc *p = g_new0(Proc, 1);
  guint n = ++H.n_runs;
  g_autofree char *o = g_strdup_printf("run-%u.out", n);
  g_autofree char *e = g_strdup_printf("run-%u.err", n);
  p->out_path = g_build_filename(H.tmp, o, NULL);
  p->err_path = g_build_filename(H.tmp, e, NULL);
  g_autoptr(GSubprocessLauncher) l = launcher(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_stdout_file_path(l, p->out_path);
  g_subprocess_launcher_set_stderr_file_path(l, p->err_path);
  g_autoptr(GError) error = NULL;
  p->proc = g_subprocess_launcher_spawnv(l, argv, &error);
  g_assert_no_error(error);
  p->pid = pid_of(p->proc);
  if (p->pid > 0)
    child_track(p->pid, TRUE);
  g_subprocess_wait_async(p->proc, NULL, on_exit_cb, p);
  return p;
}

/* Waits (bounded, running the main loop) and returns the exit status; outputs in *out, *err. */
int proc_finish(Proc *p, guint timeout_ms, char **out, char **err)
{
  if (!wait_until(proc_done, p, timeout_ms)) {
    g_test_message("%s did not finish within %u ms; killing it", p->out_path, timeout_ms);
    if (p->pid > 0)
      kill(p->pid, SIGKILL);
    g_assert_true(wait_until(proc_done, p, STOP_TIMEOUT_MS));
  }
  int status = p->status;
  if (out)
    g_assert_true(g_file_get_contents(p->out_path, out, NULL, NULL));
  if (err)
    g_assert_true(g_file_get_contents(p->err_path, err, NULL, NULL));
  g_unlink(p->out_path);
  g_unlink(p->err_path);
  g_object_unref(p->proc);
  g_free(p->out_path);
  g_free(p->err_path);
  g_free(p);
  return status;
}

int run(char **out, char **err, const char *const *argv)
{
  return proc_finish(spawn(argv), RUN_TIMEOUT_MS, out, err);
}

static Proc *spawn_va(const char *bin, const char *first, va_list ap)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)bin);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  g_ptr_array_add(argv, NULL);
  return spawn((const char *const *)argv->pdata);
}

/* mikeyua ARGS... (NULL-terminated) */
Proc *ua_spawn(const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  Proc *p = spawn_va(H.ua, first, ap);
  va_end(ap);
  return p;
}

JsonObject *json_of(const char *text, JsonParser **parser)
{
  *parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_data(*parser, text, -1, &error))
    g_test_message("not JSON: %s\n%s", error->message, text);
  g_assert_no_error(error);
  return json_node_get_object(json_parser_get_root(*parser));
}

JsonNode *jpath(JsonObject *o, const char *path)
{
  g_auto(GStrv) parts = g_strsplit(path, ".", -1);
  for (guint i = 0; parts[i + 1]; i++)
    o = json_object_get_object_member(o, parts[i]);
  return json_object_get_member(o, parts[g_strv_length(parts) - 1]);
}

gint64 jint(JsonObject *o, const char *path)
{
  JsonNode *n = jpath(o, path);
  g_assert_nonnull(n);
  return json_node_get_int(n);
}

const char *jstr(JsonObject *o, const char *path)
{
  JsonNode *n = jpath(o, path);
  return n && !JSON_NODE_HOLDS_NULL(n) ? json_node_get_string(n) : NULL;
}

/* A port nobody uses right now (UDP and TCP). */
guint16 free_port(void)
{
  for (int attempt = 0; attempt < 50; attempt++) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    g_assert_cmpint(bind(u, (struct sockaddr *)&a, sizeof a), ==, 0);
    getsockname(u, (struct sockaddr *)&a, &len);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int ok = bind(t, (struct sockaddr *)&a, sizeof a);
    /* and TLS's port + 1 is not needed here */
    close(t);
    close(u);
    if (ok == 0)
      return ntohs(a.sin_port);
  }
  g_assert_not_reached();
}

gboolean log_has(gpointer data)
{
  LogWait *w = data;
  g_autofree char *text = NULL;
  gsize len = 0;
  return g_file_get_contents(w->path, &text, &len, NULL) && len > w->from &&
         strstr(text + w->from, w->needle);
}

gsize file_size(const char *path)
{
  GStatBuf st;
  return g_stat(path, &st) == 0 ? (gsize)st.st_size : 0;
}

gint64 proc_rss_kib(pid_t pid)
{
  g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
  g_autofree char *text = NULL;
  if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  const char *line = strstr(text, "\nVmRSS:");
  return line ? g_ascii_strtoll(line + strlen("\nVmRSS:"), NULL, 10) : -1;
}

gboolean sanitizer_report_in(const char *text)
{
  return text && (strstr(text, "ERROR: AddressSanitizer") || strstr(text, "ERROR: LeakSanitizer") ||
                  strstr(text, "runtime error:"));
}

/* ------------------------------------------------------------------ the KMS */

void kmsctl_ok(const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, H.kmsd);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, H.kms_conf);
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_autofree char *err = NULL;
  int status = run(NULL, &err, (const char *const *)argv->pdata);
  if (status != 0)
    g_test_message("mikeykmsd %s: %s", first, err);
  g_assert_cmpint(status, ==, 0);
}

char *add_user(const char *uri, const char *name, const char *opt1, const char *opt2)
{
  g_autofree char *file = g_strdup_printf("%s.cred", name);
  char *path = g_build_filename(H.tmp, file, NULL);
  kmsctl_ok("user", "add", uri, "--out", path, opt1, opt2, NULL);
  return path;
}

void point_at_kms(const char *path, const char *url)
{
  Credential c;
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_load(path, &c, &error));
  g_free(c.kms_url);
  c.kms_url = g_strdup(url);
  g_assert_true(credential_save(path, &c, &error));
  g_assert_no_error(error);
  credential_clear(&c);
}

void kms_start(guint port)
{
  g_autofree char *log = g_build_filename(H.tmp, "kms.log", NULL);
  g_autofree char *p = g_strdup_printf("%u", port);
  const char *argv[] = { H.kmsd, "--config", H.kms_conf, "--port", p, "serve", NULL };
  gsize from = file_size(log);
  g_autoptr(GSubprocessLauncher) l = launcher(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_autoptr(GError) error = NULL;
  int fd = g_open(log, O_WRONLY | O_APPEND | O_CREAT, 0600); /* keep earlier runs' lines */
  g_assert_cmpint(fd, >=, 0);
  g_subprocess_launcher_take_stderr_fd(l, fd);
  H.kms = g_subprocess_launcher_spawnv(l, argv, &error);
  g_assert_no_error(error);
  H.kms_pid = pid_of(H.kms);
  child_track(H.kms_pid, TRUE);
  LogWait w = { log, "listening on ", from };
  g_assert_true(wait_until(log_has, &w, START_TIMEOUT_MS));
  if (!H.kms_url) {
    g_autofree char *text = NULL;
    g_file_get_contents(log, &text, NULL, NULL);
    const char *at = strstr(text + from, "listening on ") + strlen("listening on ");
    H.kms_url = g_strndup(at, strcspn(at, " \n"));
    const char *colon = strrchr(H.kms_url, ':');
    H.kms_port = (guint)atoi(colon + 1);
  }
}

int kms_stop(void)
{
  g_subprocess_send_signal(H.kms, SIGTERM);
  g_subprocess_wait(H.kms, NULL, NULL);
  int status = g_subprocess_get_if_exited(H.kms)     ? g_subprocess_get_exit_status(H.kms)
               : g_subprocess_get_if_signaled(H.kms) ? 128 + g_subprocess_get_term_sig(H.kms)
                                                     : -1;
  child_track(H.kms_pid, FALSE);
  g_clear_object(&H.kms);
  H.kms_pid = 0;
  return status;
}

GBytes *transfer_init_for(const char *cred_path, const char *target, int fault)
{
  g_autoptr(GError) error = NULL;
  Credential cred;
  g_assert_true(credential_load(cred_path, &cred, &error));
  g_autoptr(KmsClient) kms = kms_client_new(cred.kms_url, cred.kms_ca, FALSE, 10000, &error);
  g_assert_no_error(error);
  const char *recipients[] = { target, NULL };
  g_autoptr(GBytes) req = ua_ticket_request_build(&cred, recipients, &error);
  g_assert_no_error(error);
  guint status = 0;
  g_autoptr(GBytes) answer = kms_client_post_sync(kms, req, &status, &error);
  g_assert_no_error(error);
  MikeyTicketGrant grant;
  g_assert_true(ua_ticket_open(&cred, recipients, req, status, answer, &grant, &error));
  guint8 policies[] = { 0, 1 };
  UaTransferInitParams tp = { .grant = &grant,
                              .idri = cred.identity,
                              .idrr = target,
                              .ssrc = g_random_int(),
                              .seq = 1000,
                              .policies = policies,
                              .n_policies = 2,
                              .fault = (UaFaultKind)fault };
  GBytes *ti = ua_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  mikey_ticket_grant_clear(&grant);
  credential_clear(&cred);
  return ti;
}

/* ------------------------------------------------------------------ mikeyconfd */

void confd_write_config(const char *extra)
{
  g_autofree char *conf =
      g_strdup_printf("[mikeyconfd]\n"
                      "sip-listen=127.0.0.1:%u\n"
                      "credential=%s\n"
                      "state-dir=%s\n"
                      "control-socket=%s\n"
                      "kms-timeout=%d\n"
                      "rtp-port-min=41000\n"
                      "rtp-port-max=41999\n"
                      "media-workers=1\n"
                      "log-level=info\n%s",
                      H.sip_port, H.focus_cred, H.state, H.sock, KMS_TIMEOUT_S, extra ? extra : "");
  g_assert_true(g_file_set_contents(H.confd_conf, conf, -1, NULL));
}

static void on_confd_exit(GObject *source, GAsyncResult *res, gpointer data)
{
  GSubprocess *s = G_SUBPROCESS(source);
  g_subprocess_wait_finish(s, res, NULL);
  if (s != H.confd_proc)
    return;
  H.confd_status = g_subprocess_get_if_exited(s)     ? g_subprocess_get_exit_status(s)
                   : g_subprocess_get_if_signaled(s) ? 128 + g_subprocess_get_term_sig(s)
                                                     : -1;
  child_track(H.confd_pid, FALSE);
  H.confd_exited = TRUE;
}

static gboolean confd_exited(gpointer data)
{
  return H.confd_exited;
}

/* H.confd_fsize_limit: the stderr pipe's copy into the log runs while this is TRUE */
static gboolean confd_splicing;

static gboolean confd_splice_done(gpointer data)
{
  return !confd_splicing;
}

static void on_confd_splice(GObject *source, GAsyncResult *res, gpointer data)
{
  g_output_stream_splice_finish(G_OUTPUT_STREAM(source), res, NULL);
  confd_splicing = FALSE;
}

/* In the child, before exec: the file size limit (soft only, so that the test can raise it
 * again with prlimit) and SIGXFSZ ignored (write() then fails with EFBIG instead of killing
 * the daemon); an ignored signal stays ignored across exec. */
static void confd_limited_setup(gpointer data)
{
  child_setup(NULL);
  struct rlimit rl;
  getrlimit(RLIMIT_FSIZE, &rl);
  rl.rlim_cur = (rlim_t)(guintptr)data;
  setrlimit(RLIMIT_FSIZE, &rl);
  signal(SIGXFSZ, SIG_IGN);
}

void confd_start(void)
{
  gsize from = file_size(H.confd_log);
  const char *argv[] = { H.confd, "--config", H.confd_conf, NULL };
  guint64 limit = H.confd_fsize_limit;
  g_autoptr(GSubprocessLauncher) l =
      launcher(G_SUBPROCESS_FLAGS_STDIN_INHERIT | (limit ? G_SUBPROCESS_FLAGS_STDERR_PIPE : 0));
  if (limit) {
    g_subprocess_launcher_set_child_setup(l, confd_limited_setup, (gpointer)(guintptr)limit, NULL);
  } else {
    int fd = g_open(H.confd_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_subprocess_launcher_take_stderr_fd(l, fd);
  }
  g_autoptr(GError) error = NULL;
  H.confd_exited = FALSE;
  H.confd_proc = g_subprocess_launcher_spawnv(l, argv, &error);
  g_assert_no_error(error);
  if (limit) {
    /* the log is appended by this process, which has no such limit */
    g_autoptr(GFile) f = g_file_new_for_path(H.confd_log);
    g_autoptr(GFileOutputStream) out = g_file_append_to(f, G_FILE_CREATE_NONE, NULL, &error);
    g_assert_no_error(error);
    confd_splicing = TRUE;
    g_output_stream_splice_async(G_OUTPUT_STREAM(out), g_subprocess_get_stderr_pipe(H.confd_proc),
                                 G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                     G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                 G_PRIORITY_DEFAULT, NULL, on_confd_splice, NULL);
  }
  H.confd_pid = pid_of(H.confd_proc);
  child_track(H.confd_pid, TRUE);
  g_subprocess_wait_async(H.confd_proc, NULL, on_confd_exit, NULL);
  LogWait w = { H.confd_log, "mikeyconfd: started", from };
  if (!wait_until(log_has, &w, START_TIMEOUT_MS)) {
    g_autofree char *text = NULL;
    g_file_get_contents(H.confd_log, &text, NULL, NULL);
    g_test_message("mikeyconfd did not start:\n%s", text + from);
  }
  g_assert_false(H.confd_exited);
  g_assert_true(log_has(&w));
}

/* Sends sig and waits for the exit; returns the exit status (128 + signal when killed). */
int confd_stop(int sig)
{
  kill(H.confd_pid, sig);
  g_assert_true(wait_until(confd_exited, NULL, STOP_TIMEOUT_MS));
  g_assert_true(wait_until(confd_splice_done, NULL, STOP_TIMEOUT_MS)); /* its last lines */
  g_clear_object(&H.confd_proc);
  return H.confd_status;
}

/* Rewrites the config file (the base plus extra) and makes the daemon reload it. */
void confd_reload(const char *extra)
{
  confd_write_config(extra);
  gsize from = file_size(H.confd_log);
  kill(H.confd_pid, SIGHUP);
  LogWait w = { H.confd_log, "reloaded", from };
  g_assert_true(wait_until(log_has, &w, START_TIMEOUT_MS));
}

/* mikeyconfctl --json ARGS: the parsed answer (exit status in *status when not NULL). */
JsonObject *ctl_json(JsonParser **parser, int *status, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, H.ctl);
  g_ptr_array_add(argv, (char *)"--socket");
  g_ptr_array_add(argv, H.sock);
  g_ptr_array_add(argv, (char *)"--json");
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_autofree char *out = NULL;
  int st = run(&out, NULL, (const char *const *)argv->pdata);
  if (status)
    *status = st;
  else
    g_assert_cmpint(st, ==, 0);
  return json_of(out, parser);
}

/* The allowed set as one space-separated string. */
char *allowed_of(const char *conf)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "allowed", conf, NULL);
  JsonArray *a = json_object_get_array_member(o, "allowed");
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(a); i++)
    g_string_append_printf(s, "%s%s", i ? " " : "", json_array_get_string_element(a, i));
  return g_string_free(s, FALSE);
}

/* The audit events of a conference, as "decision/reason identity" lines. */
char *events_of(const char *conf)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "events", "--conference", conf, NULL);
  JsonArray *a = json_object_get_array_member(o, "events");
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *e = json_array_get_object_element(a, i);
    g_string_append_printf(s, "%s/%s %s\n", json_object_get_string_member(e, "decision"),
                           json_object_get_string_member_with_default(e, "reason", "-"),
                           json_object_get_string_member_with_default(e, "identity", "-"));
  }
  return g_string_free(s, FALSE);
}

gboolean events_contain(const char *conf, const char *line)
{
  g_autofree char *ev = events_of(conf);
  if (!strstr(ev, line))
    g_test_message("no event '%s' among:\n%s", line, ev);
  return strstr(ev, line) != NULL;
}

gint64 stat_int(const char *path)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "stats", NULL);
  g_autofree char *full = g_strdup_printf("stats.%s", path);
  return jint(o, full);
}

gint64 participants_of(const char *conf)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "show", conf, NULL);
  return (gint64)json_array_get_length(
      json_object_get_array_member(json_object_get_object_member(o, "conference"), "participants"));
}

gboolean has_participants(gpointer data)
{
  PartWait *w = data;
  return participants_of(w->conf) >= w->n;
}

/* ------------------------------------------------------------------ mikeyua runs */

/* Runs mikeyua to its end; the JSON report is parsed into *jp. */
int ua_run(JsonParser **jp, JsonObject **report, char **err_out, const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  Proc *p = spawn_va(H.ua, first, ap);
  va_end(ap);
  g_autofree char *out = NULL, *err = NULL;
  int status = proc_finish(p, RUN_TIMEOUT_MS, &out, &err);
  if (status != 0)
    g_test_message("mikeyua exit %d: %s\n%s", status, out, err);
  *report = json_of(out, jp);
  if (err_out)
    *err_out = g_steal_pointer(&err);
  return status;
}

static gint64 conference_count(void)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "list", NULL);
  return (gint64)json_array_get_length(json_object_get_array_member(o, "conferences"));
}

static char *newest_conference(void)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "list", NULL);
  JsonArray *a = json_object_get_array_member(o, "conferences");
  guint n = json_array_get_length(a);
  return n ? g_strdup(json_object_get_string_member(json_array_get_object_element(a, n - 1), "uri"))
           : NULL;
}

static gboolean count_above(gpointer data)
{
  return conference_count() > *(gint64 *)data;
}

Owner owner_start(const char *const *extra)
{
  gint64 before = conference_count();
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *head[] = {
    H.ua, "create", "--credential", H.alice, "--factory", H.factory, "--json"
  };
  for (guint i = 0; i < G_N_ELEMENTS(head); i++)
    g_ptr_array_add(argv, (char *)head[i]);
  for (guint i = 0; extra[i]; i++)
    g_ptr_array_add(argv, (char *)extra[i]);
  g_ptr_array_add(argv, NULL);
  Owner o = { spawn((const char *const *)argv->pdata), NULL };
  g_assert_true(wait_until(count_above, &before, RUN_TIMEOUT_MS));
  o.uri = newest_conference();
  return o;
}

JsonObject *owner_finish(Owner *o, JsonParser **jp, int expect_status)
{
  g_autofree char *out = NULL, *err = NULL;
  int status = proc_finish(o->proc, RUN_TIMEOUT_MS, &out, &err);
  if (status != expect_status)
    g_test_message("owner: exit %d\n%s\n%s", status, out, err);
  g_assert_cmpint(status, ==, expect_status);
  return json_of(out, jp);
}

/* ------------------------------------------------------------------ setup */

static char *bin_path(const char *env, const char *dir, const char *name)
{
  const char *e = g_getenv(env);
  char *path = e ? g_strdup(e) : g_test_build_filename(G_TEST_BUILT, "..", "src", dir, name, NULL);
  g_assert_true(g_file_test(path, G_FILE_TEST_IS_EXECUTABLE));
  return path;
}

void harness_setup(void)
{
  H.confd = bin_path("MIKEYCONFD", "focus", "mikeyconfd");
  H.ua = bin_path("MIKEYUA", "ua", "mikeyua");
  H.kmsd = bin_path("MIKEYKMSD", "kms", "mikeykmsd");
  H.ctl = bin_path("MIKEYCONFCTL", "ctl", "mikeyconfctl");
  g_autoptr(GError) error = NULL;
  H.tmp = g_dir_make_tmp("mikeyconfd-test-XXXXXX", &error);
  g_assert_no_error(error);
  rm_argv[0] = (char *)"/bin/rm";
  rm_argv[1] = (char *)"-rf";
  /* MIKEYCONF_TEST_KEEP=1 keeps the directory (logs) for a look after a failure */
  rm_argv[2] = g_getenv("MIKEYCONF_TEST_KEEP") ? NULL : g_strdup(H.tmp);
  signal(SIGABRT, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGINT, on_fatal_signal);

  /* the KMS: users, the focus (resolving for the factory and conferences on any port) */
  g_autofree char *kstate = g_build_filename(H.tmp, "kms", NULL);
  H.kms_conf = g_build_filename(H.tmp, "kms.conf", NULL);
  g_autofree char *kconf = g_strdup_printf("[mikeykmsd]\nlisten=127.0.0.1\nstate-dir=%s\n"
                                           "kms-uri=" KMS_URI "\nrate-limit=0\nlog-level=info\n",
                                           kstate);
  g_assert_true(g_file_set_contents(H.kms_conf, kconf, -1, NULL));
  H.ca = g_build_filename(kstate, "ca.pem", NULL);
  kmsctl_ok("init", NULL);
  H.alice = add_user(ALICE, "alice", "--may-create", NULL);
  H.bob = add_user(BOB, "bob", NULL, NULL);
  H.carol = add_user(CAROL, "carol", NULL, NULL);
  H.dave = add_user(DAVE, "dave", NULL, NULL);
  H.focus_cred = add_user(FOCUS_ID, "focus", "--focus", NULL);
  kmsctl_ok("user", "set", FOCUS_ID, "--resolves-for", "sip:conference-factory@127.0.0.1:*",
            "--resolves-for", "sip:conf-*@127.0.0.1:*", NULL);
  kms_start(0);
  const char *creds[] = { H.alice, H.bob, H.carol, H.dave, H.focus_cred };
  for (guint i = 0; i < G_N_ELEMENTS(creds); i++)
    point_at_kms(creds[i], H.kms_url);

  /* mikeyconfd */
  H.sip_port = free_port();
  H.host = g_strdup_printf("127.0.0.1:%u", H.sip_port);
  H.factory = g_strdup_printf("sip:conference-factory@%s", H.host);
  H.confd_conf = g_build_filename(H.tmp, "mikeyconfd.conf", NULL);
  H.state = g_build_filename(H.tmp, "focus", NULL);
  H.sock = g_build_filename(H.tmp, "focus.sock", NULL);
  H.confd_log = g_build_filename(H.tmp, "mikeyconfd.log", NULL);
  confd_write_config(NULL);
  confd_start();
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

void harness_teardown(int status)
{
  if (H.confd_proc) {
    kill(H.confd_pid, SIGKILL);
    wait_until(confd_exited, NULL, STOP_TIMEOUT_MS);
    g_clear_object(&H.confd_proc);
  }
  if (H.kms) {
    kill(H.kms_pid, SIGCONT);
    kms_stop();
  }
  if (status != 0 && H.confd_log) {
    g_autofree char *text = NULL;
    if (g_file_get_contents(H.confd_log, &text, NULL, NULL)) {
      gsize n = strlen(text);
      g_test_message("mikeyconfd log (end):\n%s", n > 6000 ? text + n - 6000 : text);
    }
  }
  if (H.tmp && rm_argv[2])
    remove_tree(H.tmp);
  g_free(rm_argv[2]);
  rm_argv[2] = NULL;
  char **strs[] = { &H.confd,    &H.ua,        &H.kmsd,       &H.ctl,        &H.tmp,
                    &H.kms_conf, &H.ca,        &H.kms_url,    &H.alice,      &H.bob,
                    &H.carol,    &H.dave,      &H.focus_cred, &H.confd_conf, &H.state,
                    &H.sock,     &H.confd_log, &H.host,       &H.factory };
  for (guint i = 0; i < G_N_ELEMENTS(strs); i++)
    g_clear_pointer(strs[i], g_free);
}
