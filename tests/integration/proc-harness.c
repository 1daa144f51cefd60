/* Child processes, waits and files for the integration tests (proc-harness.h). */
#include "proc-harness.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

static struct {
  char *dir;    /* where spawn() puts the children's outputs */
  guint n_runs; /* names them */
} P;

/* ------------------------------------------------------------------ emergency cleanup */

/* A failed assertion aborts, and `make check` kills a test that hangs (SIGTERM): the children
 * still running are killed and the directory removed even then. Only async-signal-safe calls
 * (kill, fork, execve, waitpid) in the handler. */

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

void child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* ------------------------------------------------------------------ the directory */

void proc_harness_init(const char *dir)
{
  g_free(P.dir);
  P.dir = g_strdup(dir);
  rm_argv[0] = (char *)"/bin/rm";
  rm_argv[1] = (char *)"-rf";
  /* MIKEYCONF_TEST_KEEP=1 keeps the directory (logs) for a look after a failure */
  rm_argv[2] = g_getenv("MIKEYCONF_TEST_KEEP") ? NULL : g_strdup(dir);
  rm_argv[3] = NULL;
  signal(SIGABRT, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGINT, on_fatal_signal);
}

void remove_tree(const char *path)
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

void proc_harness_finish(void)
{
  if (P.dir && rm_argv[2])
    remove_tree(P.dir);
  g_clear_pointer(&rm_argv[2], g_free);
  g_clear_pointer(&P.dir, g_free);
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

gboolean proc_done(gpointer data)
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
  guint n = ++P.n_runs;
  g_autofree char *o = g_strdup_printf("run-%u.out", n);
  g_autofree char *e = g_strdup_printf("run-%u.err", n);
  p->out_path = g_build_filename(P.dir, o, NULL);
  p->err_path = g_build_filename(P.dir, e, NULL);
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

Proc *spawn_va(const char *bin, const char *first, va_list ap)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)bin);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  g_ptr_array_add(argv, NULL);
  return spawn((const char *const *)argv->pdata);
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
