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

FocusHarness H;

/* ------------------------------------------------------------------ mikeyua */

/* mikeyua ARGS... (NULL-terminated) */
Proc *ua_spawn(const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  Proc *p = spawn_va(H.ua, first, ap);
  va_end(ap);
  return p;
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
  proc_harness_init(H.tmp);

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
  proc_harness_finish();
  char **strs[] = { &H.confd,    &H.ua,        &H.kmsd,       &H.ctl,        &H.tmp,
                    &H.kms_conf, &H.ca,        &H.kms_url,    &H.alice,      &H.bob,
                    &H.carol,    &H.dave,      &H.focus_cred, &H.confd_conf, &H.state,
                    &H.sock,     &H.confd_log, &H.host,       &H.factory };
  for (guint i = 0; i < G_N_ELEMENTS(strs); i++)
    g_clear_pointer(strs[i], g_free);
}
