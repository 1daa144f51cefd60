/* proc-harness: what every integration test program needs around its child processes. One
 * temporary directory (proc_harness_init) where the children's outputs go and which is removed
 * at the end, also when the test dies on a failed assertion or a signal (kept with
 * MIKEYCONF_TEST_KEEP=1, for a look at the logs after a failure); children started through
 * launcher() are tracked, killed by a fatal signal, and die with this program
 * (PR_SET_PDEATHSIG). Every wait is bounded and runs the default main context (child exits are
 * noticed there). Used by test-kmsd, test-ua and focus-harness (test-focus, test-media,
 * test-faults, test-soak). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

/* The sanitizer runtime of GCC <= 13 / LLVM <= 16 misreads the dynamic TLS blocks of modules
 * loaded with dlopen (here GnuTLS, through glib-networking) on glibc >= 2.25, and LeakSanitizer's
 * tracer then crashes at exit ("Tracer caught signal 11"; google/sanitizers#1322). Without the
 * __tls_get_addr interceptor it does not look at those blocks. The test program's own default
 * (__asan_default_options in proc-harness.c), and added to its children's ASAN_OPTIONS by
 * launcher(). */
#define ASAN_TLS_WORKAROUND "intercept_tls_get_addr=0"

#define START_TIMEOUT_MS 30000
#define RUN_TIMEOUT_MS 90000
#define STOP_TIMEOUT_MS 30000

/* ---- the directory ---- */

/* Outputs of spawn() go to dir; a fatal signal kills the tracked children and removes dir. */
void proc_harness_init(const char *dir);
/* Removes the directory (unless MIKEYCONF_TEST_KEEP is set) and forgets it. */
void proc_harness_finish(void);
/* rm -rf path, without following symbolic links. */
void remove_tree(const char *path);

/* ---- processes ---- */

/* Runs the main context until cond(data) or the timeout; whether cond became true. */
gboolean wait_until(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms);
void sleep_ms(guint ms);

/* A child whose stdout and stderr go to files of the temporary directory. */
typedef struct {
  GSubprocess *proc;
  pid_t pid;
  gboolean done;
  int status; /* exit status, 128 + signal when killed */
  char *out_path, *err_path;
} Proc;

/* A launcher whose children die with this program and get the ASan TLS workaround. */
GSubprocessLauncher *launcher(GSubprocessFlags flags);
/* What launcher() runs in the child before exec (dies with this program); for launchers that
 * need their own child setup on top. */
void child_setup(gpointer data);
/* Records a child as alive (to kill on a fatal signal) or gone. */
void child_track(pid_t pid, gboolean alive);
/* The child's PID; 0 when it has already exited and been reaped. */
pid_t pid_of(GSubprocess *p);

Proc *spawn(const char *const *argv);
/* Whether the Proc (data) has exited: a condition for wait_until(). */
gboolean proc_done(gpointer data);
/* Waits (bounded; killed past timeout_ms) and returns the exit status; outputs in *out, *err
 * (NULL: not wanted). Frees p. */
int proc_finish(Proc *p, guint timeout_ms, char **out, char **err);
/* spawn + proc_finish with RUN_TIMEOUT_MS. */
int run(char **out, char **err, const char *const *argv);
/* spawn of bin ARGS... (first and the va_list, NULL-terminated). */
Proc *spawn_va(const char *bin, const char *first, va_list ap);
/* ---- JSON ---- */

/* Parses text (asserts it is a JSON object); the object lives as long as *parser. */
JsonObject *json_of(const char *text, JsonParser **parser);
/* A member by a dotted path ("media.received"); NULL when the last member is missing. */
JsonNode *jpath(JsonObject *o, const char *path);
gint64 jint(JsonObject *o, const char *path);      /* asserts it is there */
const char *jstr(JsonObject *o, const char *path); /* NULL for a missing or null member */

/* ---- files and ports ---- */

/* A loopback port nobody uses right now (UDP and TCP). */
guint16 free_port(void);

typedef struct {
  const char *path;
  const char *needle;
  gsize from; /* only text after this offset counts */
} LogWait;

gboolean log_has(gpointer data); /* a LogWait */
gsize file_size(const char *path);

/* /proc/PID/status VmRSS in KiB; -1 when the process is gone. */
gint64 proc_rss_kib(pid_t pid);
/* Whether a sanitizer (AddressSanitizer, LeakSanitizer, UBSan) reported anything in text. */
gboolean sanitizer_report_in(const char *text);
