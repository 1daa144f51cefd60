/* focus-harness: what the integration tests of mikeyconfd share (test-focus, test-media). One
 * temporary directory; the real mikeykmsd (HTTPS, its own CA) with the users alice (may create),
 * bob, carol, dave and the focus; one mikeyconfd on a free loopback port (one media worker,
 * RTP ports 41000-41999); mikeyua and mikeyconfctl run as child processes.
 *
 * Every wait is bounded and runs the default main context (child exits are noticed there).
 * Every process started here is tracked: harness_teardown() and a fatal signal kill it by its
 * PID, and the kernel does if the test program dies (PR_SET_PDEATHSIG); the temporary directory
 * is removed (kept with MIKEYCONF_TEST_KEEP=1, for a look at the logs after a failure).
 * Binaries: $MIKEYCONFD, $MIKEYUA, $MIKEYKMSD, $MIKEYCONFCTL or the build tree. */
#pragma once

#include "proc-harness.h"

#define KMS_URI "kms.test.example"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define DAVE "sip:dave@example.org"
#define FOCUS_ID "sip:focus@127.0.0.1"
#define KMS_TIMEOUT_S 2
#define REMOVED_TEXT "removed from the allowed set"

typedef struct {
  char *confd, *ua, *kmsd, *ctl; /* the binaries */
  char *tmp;
  char *kms_conf, *ca, *kms_url;
  guint kms_port;
  GSubprocess *kms;
  pid_t kms_pid;
  char *alice, *bob, *carol, *dave; /* credential paths */
  char *focus_cred;
  /* the daemon under test */
  char *confd_conf, *state, *sock, *confd_log;
  guint16 sip_port;
  char *host; /* 127.0.0.1:PORT */
  char *factory;
  GSubprocess *confd_proc;
  pid_t confd_pid;
  gboolean confd_exited;
  int confd_status;
  guint n_runs;
  /* > 0: confd_start() runs mikeyconfd with RLIMIT_FSIZE (soft) at this many bytes and SIGXFSZ
   * ignored, so that its writes past that size fail with EFBIG (a full disk for this process
   * alone); its stderr then reaches confd_log through a pipe, so the log is not limited. */
  guint64 confd_fsize_limit;
} FocusHarness;

extern FocusHarness H;

/* Starts the KMS (users created) and mikeyconfd; asserts that they run. */
void harness_setup(void);
/* Kills what still runs, shows the end of mikeyconfd's log when status != 0, removes the
 * temporary directory. */
void harness_teardown(int status);

/* mikeyua ARGS... (NULL-terminated), in the background. */
Proc *ua_spawn(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Runs mikeyua to its end; the JSON report (it must be given --json) is parsed into *jp. */
int ua_run(JsonParser **jp, JsonObject **report, char **err_out, const char *first,
           ...) G_GNUC_NULL_TERMINATED;

/* ---- the KMS ---- */

/* mikeykmsd --config KMS-CONF ARGS... (NULL-terminated); asserts exit 0. */
void kmsctl_ok(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Adds a user; returns the path of its credential (g_free). */
char *add_user(const char *uri, const char *name, const char *opt1, const char *opt2);
/* Sets the kms-url of a credential file (add_user writes the KMS's public URL). */
void point_at_kms(const char *path, const char *url);
void kms_start(guint port); /* 0: an ephemeral port (kept in H.kms_port for a restart) */
/* SIGTERM and wait; returns the exit status (128 + signal when killed). */
int kms_stop(void);

/* A TRANSFER_INIT (profile 6) of the user in cred_path for target, with a fresh ticket naming
 * target from the KMS; fault as mikeyua's --fault (UA_FAULT_NONE, or TAMPER_MAC etc.). For
 * tests that send offers themselves (SIPp). */
GBytes *transfer_init_for(const char *cred_path, const char *target, int fault);

/* ---- mikeyconfd ---- */

/* Writes the daemon's config file: the base and extra lines ("key=value\n", NULL: none). */
void confd_write_config(const char *extra);
void confd_start(void);
/* Sends sig and waits for the exit; returns the exit status (128 + signal when killed). */
int confd_stop(int sig);
/* Rewrites the config file (the base plus extra) and makes the daemon reload it (SIGHUP). */
void confd_reload(const char *extra);

/* mikeyconfctl --json ARGS: the parsed answer (exit status in *status when not NULL, else
 * asserted 0). */
JsonObject *ctl_json(JsonParser **parser, int *status, const char *first,
                     ...) G_GNUC_NULL_TERMINATED;
/* The allowed set as one space-separated string (g_free). */
char *allowed_of(const char *conf);
/* The audit events of a conference, as "decision/reason identity" lines (g_free). */
char *events_of(const char *conf);
gboolean events_contain(const char *conf, const char *line);
/* mikeyconfctl stats: the integer at "stats.PATH". */
gint64 stat_int(const char *path);
gint64 participants_of(const char *conf);

typedef struct {
  const char *conf;
  gint64 n;
} PartWait;

gboolean has_participants(gpointer data); /* a PartWait: at least n participants */

/* ---- the owner ---- */

/* A conference created by alice (mikeyua create --json and extra, in the background); its URI
 * once it exists. */
typedef struct {
  Proc *proc;
  char *uri;
} Owner;

Owner owner_start(const char *const *extra);
/* Waits for the owner's mikeyua, asserts its exit status, returns its report. */
JsonObject *owner_finish(Owner *o, JsonParser **jp, int expect_status);
