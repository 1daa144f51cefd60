/* bench-focus: mikeyconfd's conference creations per second and joins per second, each with
 * the real Ticket Resolve at the real mikeykmsd (HTTPS) and the SQLite commit before the
 * answer; setup latency p50/p99; the daemon's RSS per idle conference.
 *
 * Everything runs on this machine. Two drivers:
 *   1. `mikeyua load` (real SIP, real MIKEY, real SRTP media both ways): mikeyua also asks the
 *      KMS for a ticket for every call and verifies every TRANSFER_RESP, so the rates are
 *      those of the whole system (mikeyua, mikeykmsd and mikeyconfd share the cores);
 *   2. SIPp (data/sipp/uac-focus-call.xml) with TRANSFER_INITs made before the run from
 *      tickets the KMS issued (a fresh CSB ID, RAND and timestamp per call, so the replay
 *      cache passes each once): the focus does all its work (resolve, MAC, replay cache,
 *      decisions, media leg, commit, answer), the peer very little; SIPp sends no RTP.
 * For each offered rate:
 *   - achieved: what the focus did, from its audit log (first to last "created" or "admitted"
 *     event of the run, microsecond timestamps: each event is committed before the 200 OK);
 *   - focus:    INVITE received to 200 OK sent, at the focus (its `stats`, last 1024 calls);
 *   - INVITE:   INVITE sent to the TRANSFER_RESP verified, at mikeyua;
 *   - setup:    mikeyua's ticket request to the TRANSFER_RESP verified;
 *   - CPU per call of each process (the focus's main thread apart);
 *   - SIPp runs also: resolve p50/p99 (the focus's KMS round trips, last 4096) and, when SIPp
 *     fails calls, why, from the focus's counters (503 resolves-busy, refusals by reason).
 * RSS per idle conference, measured first on the fresh daemon (empty-timeout 0): two batches
 * of --idle conferences, each made with a 1 s call and then left idle; VmRSS 0.5 s after a
 * batch's calls and --settle seconds later, when the calls' transient state is gone (Sofia
 * keeps a call's transactions 32 s; the focus gives freed heap back after a burst). The first
 * batch carries the daemon's one-time costs (TLS to the KMS, SQLite's page cache filling to its
 * bound); the second shows what one more idle conference costs.
 *
 * Options: --rates LIST (creations/s offered to mikeyua, default 100,250,500,1000), --seconds N
 * (of calls per rate, default 4), --join-rates LIST (default 100,250,500,1000), --conferences
 * N (of the join runs, default 20), --users N (participant credentials, default 100), --idle N
 * (conferences per memory batch, default 3000), --idle-rate N (their creations/s, default
 * 250), --settle N (seconds, default 40), --sipp-rates LIST (default 250,500,1000,1500),
 * --sipp-identities N (default 20), --parts LIST (of memory,creations,joins,sipp; default all),
 * --builddir DIR (the programs of another build, to compare two builds on one machine),
 * --keep (the temporary directory with the daemons' logs), --hold N (keep the daemons N
 * seconds after the runs, to look at them), --wrap CMD (run mikeyconfd under e.g. valgrind).
 * Targets on a 2-core machine: 500 creations/s, 1,000 joins/s, p99 setup under 50 ms, under
 * 16 KiB per idle conference. Never pass/fail: the figures are printed (and written to
 * tests/bench/results/ by make bench). The machine line and the load averages come first:
 * other work on a shared machine lowers the rates, so compare runs made side by side. */
#include "bench-util.h"

#include "common/credential.h"
#include "common/kmsclient.h"
#include "ua/offer.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef BENCH_BUILDDIR
#define BENCH_BUILDDIR "."
#endif
#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

#define KMS_URI "kms.bench.example"
#define ALICE "sip:alice@example.org"
#define FOCUS_ID "sip:focus@127.0.0.1"

static char *opt_rates = NULL;
static char *opt_join_rates = NULL;
static gint opt_seconds = 4;
static gint opt_conferences = 20;
static gint opt_users = 100;
static gint opt_idle = 3000;
static gint opt_idle_rate = 250;
static gint opt_settle = 40;
static char *opt_sipp_rates = NULL;
static gint opt_sipp_identities = 20;
static char *opt_parts = NULL;
static gboolean opt_keep = FALSE;
static gint opt_hold = 0;
static char *opt_wrap = NULL;
static char *opt_builddir = NULL;

/* Is part (memory, creations, joins, sipp) one of --parts? */
static gboolean part_on(const char *part)
{
  if (!opt_parts)
    return TRUE;
  g_auto(GStrv) parts = g_strsplit(opt_parts, ",", -1);
  return g_strv_contains((const char *const *)parts, part);
}

static struct {
  char *tmp, *kmsd, *confd, *ua, *ctl;
  char *kms_conf, *kms_url, *alice, *focus, *users, *confd_conf, *sock;
  GSubprocess *kms, *focusd;
  char *factory;
  gint64 cursor; /* last audit event id seen */
  char *sipp;    /* NULL: not installed */
  guint16 sip_port;
} B;

/* ------------------------------------------------------------------ processes */

static void child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *launcher(void)
{
  GSubprocessLauncher *l =
      g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  return l;
}

/* Runs argv to its end; stdout in *out. Returns the exit status; on failure the child's
 * standard error is shown, or when quiet only its first line about a call (SIPp prints every
 * failed call with the whole message). */
static int run_full(const char *const *argv, char **out, gboolean quiet)
{
  g_autoptr(GSubprocessLauncher) l = launcher();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv, &error);
  if (!p) {
    g_printerr("bench-focus: %s: %s\n", argv[0], error->message);
    return -1;
  }
  g_autofree char *o = NULL, *e = NULL;
  if (!g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &error)) {
    g_printerr("bench-focus: %s: %s\n", argv[0], error->message);
    return -1;
  }
  int st = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
  if (st != 0 && e && *e && !quiet)
    g_printerr("%s", e);
  if (st != 0 && e && quiet) {
    const char *call = strstr(e, " call");
    const char *line = call ? call : e;
    while (line > e && line[-1] != '\n')
      line--;
    g_printerr("  (%s: %.*s)\n", argv[0], (int)MIN(strcspn(line, "\n"), 160), line);
  }
  if (out)
    *out = g_steal_pointer(&o);
  return st;
}

static int run(const char *const *argv, char **out)
{
  return run_full(argv, out, FALSE);
}

static gboolean kmsd_ok(const char *first, ...) G_GNUC_NULL_TERMINATED;
static gboolean kmsd_ok(const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, B.kmsd);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, B.kms_conf);
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  return run((const char *const *)argv->pdata, NULL) == 0;
}

/* Starts a daemon whose stderr goes to log; waits (60 s at most) for needle in it. */
static GSubprocess *daemon_start(const char *const *argv, const char *log, const char *needle)
{
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  g_subprocess_launcher_set_stderr_file_path(l, log);
  g_subprocess_launcher_set_stdout_file_path(l, "/dev/null");
  g_autoptr(GError) error = NULL;
  GSubprocess *p = g_subprocess_launcher_spawnv(l, argv, &error);
  if (!p) {
    g_printerr("bench-focus: %s: %s\n", argv[0], error->message);
    return NULL;
  }
  for (int i = 0; i < 6000; i++) {
    g_autofree char *text = NULL;
    if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, needle))
      return p;
    g_usleep(10000);
  }
  g_printerr("bench-focus: %s did not start (see %s)\n", argv[0], log);
  g_subprocess_force_exit(p);
  g_object_unref(p);
  return NULL;
}

static void daemon_stop(GSubprocess **p)
{
  if (!*p)
    return;
  g_subprocess_send_signal(*p, SIGTERM);
  g_subprocess_wait(*p, NULL, NULL);
  g_clear_object(p);
}

static guint16 free_port(void)
{
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  bind(u, (struct sockaddr *)&a, sizeof a);
  getsockname(u, (struct sockaddr *)&a, &len);
  close(u);
  return ntohs(a.sin_port);
}

static void point_at_kms(const char *path)
{
  g_autofree char *text = NULL;
  g_file_get_contents(path, &text, NULL, NULL);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix(lines[i], "kms-url=")) {
      g_free(lines[i]);
      lines[i] = g_strdup_printf("kms-url=%s", B.kms_url);
    }
  g_autofree char *out = g_strjoinv("\n", lines);
  g_file_set_contents_full(path, out, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
}

static gint64 rss_kib(GSubprocess *p)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(p));
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  const char *at = strstr(text, "VmRSS:");
  return at ? g_ascii_strtoll(at + 6, NULL, 10) : -1;
}

/* CPU time (user + system, seconds) of a thread or process from its stat file. */
static double stat_cpu(const char *path)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return 0;
  const char *rp = strrchr(text, ')'); /* the name may hold spaces */
  if (!rp)
    return 0;
  g_auto(GStrv) f = g_strsplit(rp + 2, " ", -1);
  if (g_strv_length(f) < 13)
    return 0;
  /* fields after the name: state(0) ... utime(11) stime(12) */
  return (double)(g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10)) /
         (double)sysconf(_SC_CLK_TCK);
}

/* CPU of the whole system under test: the focus (its main thread apart), the KMS, and the
 * children this program waited for (mikeyua, mikeyconfctl). */
typedef struct {
  double focus, focus_main, kms, children;
} Cpu;

static void cpu_now(Cpu *c)
{
  const char *fpid = g_subprocess_get_identifier(B.focusd);
  g_autofree char *fp = g_strdup_printf("/proc/%s/stat", fpid);
  g_autofree char *fm = g_strdup_printf("/proc/%s/task/%s/stat", fpid, fpid);
  g_autofree char *kp = g_strdup_printf("/proc/%s/stat", g_subprocess_get_identifier(B.kms));
  c->focus = stat_cpu(fp);
  c->focus_main = stat_cpu(fm);
  c->kms = stat_cpu(kp);
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  c->children = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void print_cpu(const Cpu *a, const Cpu *b, gint64 calls)
{
  if (calls <= 0)
    return;
  double n = (double)calls / 1000.0; /* ms per call */
  g_print("           CPU per call: mikeyconfd %.2f ms (main thread %.2f ms, media and other "
          "threads %.2f ms), mikeykmsd %.2f ms, mikeyua %.2f ms\n",
          (b->focus - a->focus) / n, (b->focus_main - a->focus_main) / n,
          ((b->focus - a->focus) - (b->focus_main - a->focus_main)) / n, (b->kms - a->kms) / n,
          (b->children - a->children) / n);
}

/* ------------------------------------------------------------------ the control socket */

static JsonNode *ctl_json(const char *first, ...) G_GNUC_NULL_TERMINATED;
static JsonNode *ctl_json(const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, B.ctl);
  g_ptr_array_add(argv, (char *)"--socket");
  g_ptr_array_add(argv, B.sock);
  g_ptr_array_add(argv, (char *)"--json");
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_autofree char *out = NULL;
  if (run((const char *const *)argv->pdata, &out) != 0)
    return NULL;
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, out, -1, NULL))
    return NULL;
  return json_node_copy(json_parser_get_root(p));
}

/* Rate of the run's events of one decision, from their commit times: (n - 1) / span. */
static double event_rate(const char *decision, guint *n_out)
{
  g_autofree char *after = g_strdup_printf("%" G_GINT64_FORMAT, B.cursor);
  g_autoptr(JsonNode) root = ctl_json("events", "--after", after, NULL);
  *n_out = 0;
  if (!root)
    return 0;
  JsonArray *a = json_object_get_array_member(json_node_get_object(root), "events");
  gint64 t0 = 0, t1 = 0;
  guint n = 0;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *e = json_array_get_object_element(a, i);
    B.cursor = MAX(B.cursor, json_object_get_int_member(e, "id"));
    if (strcmp(json_object_get_string_member(e, "decision"), decision) != 0)
      continue;
    gint64 t = json_object_get_int_member(e, "time");
    if (n == 0 || t < t0)
      t0 = t;
    if (n == 0 || t > t1)
      t1 = t;
    n++;
  }
  *n_out = n;
  return n > 1 && t1 > t0 ? (double)(n - 1) / ((double)(t1 - t0) / G_USEC_PER_SEC) : 0;
}

/* What the focus's `stats` say: setup and resolve latency (its last calls), and the counts of
 * answers that were not a 200 (to tell, after a run, why calls failed). */
typedef struct {
  double setup_p50, setup_p99, resolve_p50, resolve_p99;
  gint64 busy, rate_limited, store_failures;
  GHashTable *refusals; /* reason -> count (gint64 in a pointer-sized box) */
} FocusStats;

static void focus_stats_clear(FocusStats *s)
{
  g_clear_pointer(&s->refusals, g_hash_table_unref);
  memset(s, 0, sizeof *s);
}

static void focus_stats(FocusStats *out)
{
  memset(out, 0, sizeof *out);
  out->refusals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(JsonNode) root = ctl_json("stats", NULL);
  if (!root)
    return;
  JsonObject *st = json_object_get_object_member(json_node_get_object(root), "stats");
  JsonObject *s = json_object_get_object_member(st, "setup_ms");
  out->setup_p50 = json_object_get_double_member_with_default(s, "p50", 0);
  out->setup_p99 = json_object_get_double_member_with_default(s, "p99", 0);
  JsonObject *r =
      json_object_get_object_member(json_object_get_object_member(st, "resolves"), "latency_ms");
  out->resolve_p50 = json_object_get_double_member_with_default(r, "p50", 0);
  out->resolve_p99 = json_object_get_double_member_with_default(r, "p99", 0);
  JsonObject *d = json_object_get_object_member(st, "since_start");
  out->busy = json_object_get_int_member_with_default(d, "busy", 0);
  out->rate_limited = json_object_get_int_member_with_default(d, "rate_limited", 0);
  out->store_failures = json_object_get_int_member_with_default(d, "store_failures", 0);
  JsonObject *ref = json_object_get_object_member(st, "refusals");
  GList *keys = ref ? json_object_get_members(ref) : NULL;
  for (GList *k = keys; k; k = k->next) {
    gint64 *n = g_new(gint64, 1);
    *n = json_object_get_int_member(ref, k->data);
    g_hash_table_insert(out->refusals, g_strdup(k->data), n);
  }
  g_list_free(keys);
}

/* "N x reason; ..." for the answers other than 200 between two snapshots ("" when none). */
static char *focus_failures(const FocusStats *a, const FocusStats *b)
{
  GString *out = g_string_new(NULL);
  if (b->busy > a->busy)
    g_string_append_printf(out, "%" G_GINT64_FORMAT " x 503 resolves-busy", b->busy - a->busy);
  if (b->rate_limited > a->rate_limited)
    g_string_append_printf(out, "%s%" G_GINT64_FORMAT " x 503 rate-limited", out->len ? "; " : "",
                           b->rate_limited - a->rate_limited);
  if (b->store_failures > a->store_failures)
    g_string_append_printf(out, "%s%" G_GINT64_FORMAT " x store failure", out->len ? "; " : "",
                           b->store_failures - a->store_failures);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, b->refusals);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    const gint64 *before = a->refusals ? g_hash_table_lookup(a->refusals, k) : NULL;
    gint64 n = *(gint64 *)v - (before ? *before : 0);
    if (n > 0)
      g_string_append_printf(out, "%s%" G_GINT64_FORMAT " x refused %s", out->len ? "; " : "", n,
                             (char *)k);
  }
  return g_string_free(out, FALSE);
}

static void focus_setup_ms(double *p50, double *p99)
{
  FocusStats s;
  focus_stats(&s);
  *p50 = s.setup_p50;
  *p99 = s.setup_p99;
  focus_stats_clear(&s);
}

static void skip_events(void)
{
  guint n;
  event_rate("-", &n);
}

/* ------------------------------------------------------------------ mikeyua load */

typedef struct {
  gint64 calls, ok;
  double seconds;
  double setup_p50, setup_p99, invite_p50, invite_p99;
  char *failures;
} Load;

static gboolean load_run(guint conferences, guint participants, double rate, Load *r)
{
  memset(r, 0, sizeof *r);
  g_autofree char *c = g_strdup_printf("%u", conferences);
  g_autofree char *p = g_strdup_printf("%u", participants);
  g_autofree char *jr = g_strdup_printf("%.0f", rate);
  const char *argv[] = { B.ua,
                         "load",
                         "--credential",
                         B.alice,
                         "--factory",
                         B.factory,
                         "--conferences",
                         c,
                         "--participants",
                         p,
                         "--participant-credentials",
                         B.users,
                         "--join-rate",
                         jr,
                         "--call-length",
                         "1",
                         "--audio",
                         "silence",
                         "--timeout",
                         "20",
                         "--json",
                         NULL };
  g_autofree char *out = NULL;
  run(argv, &out);
  g_autoptr(JsonParser) jp = json_parser_new();
  if (!out || !json_parser_load_from_data(jp, out, -1, NULL)) {
    g_print("  mikeyua load gave no report\n");
    return FALSE;
  }
  JsonObject *o = json_node_get_object(json_parser_get_root(jp));
  r->calls = json_object_get_int_member(o, "calls");
  r->ok = json_object_get_int_member(o, "ok");
  r->seconds = json_object_get_double_member(o, "seconds");
  JsonObject *s = json_object_get_object_member(o, "setup_ms");
  JsonObject *i = json_object_get_object_member(o, "invite_ms");
  r->setup_p50 = json_object_get_double_member_with_default(s, "p50", 0);
  r->setup_p99 = json_object_get_double_member_with_default(s, "p99", 0);
  r->invite_p50 = json_object_get_double_member_with_default(i, "p50", 0);
  r->invite_p99 = json_object_get_double_member_with_default(i, "p99", 0);
  JsonObject *f = json_object_get_object_member(o, "failures");
  GString *fs = g_string_new(NULL);
  GList *keys = json_object_get_members(f);
  for (GList *k = keys; k; k = k->next)
    g_string_append_printf(fs, "%s%" G_GINT64_FORMAT " x %s", fs->len ? "; " : "",
                           json_object_get_int_member(f, k->data), (char *)k->data);
  g_list_free(keys);
  r->failures = g_string_free(fs, FALSE);
  return TRUE;
}

static void print_row(double offered, const Load *r, double achieved, double f50, double f99)
{
  g_autofree char *focus = g_strdup_printf("%.1f / %.1f", f50, f99);
  g_autofree char *invite = g_strdup_printf("%.1f / %.1f", r->invite_p50, r->invite_p99);
  g_autofree char *setup = g_strdup_printf("%.1f / %.1f", r->setup_p50, r->setup_p99);
  g_print("  %-8.0f %-7" G_GINT64_FORMAT " %-10.0f %-22s %-22s %-22s %s\n", offered, r->ok,
          achieved, focus, invite, setup, r->ok == r->calls ? "none" : r->failures);
}

static double *parse_rates(const char *text, const char *fallback, guint *n)
{
  g_auto(GStrv) parts = g_strsplit(text ? text : fallback, ",", -1);
  double *v = g_new0(double, g_strv_length(parts) + 1);
  *n = 0;
  for (guint i = 0; parts[i]; i++) {
    double x = g_ascii_strtod(parts[i], NULL);
    if (x > 0)
      v[(*n)++] = x;
  }
  return v;
}

/* ------------------------------------------------------------------ SIPp with pre-issued tickets
 */

/* A ticket from the KMS for the user of cred_path naming recipients. */
static gboolean grant_for(const char *cred_path, const char *const *recipients, Credential *cred,
                          MikeyTicketGrant *grant)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsClient) kms = NULL;
  g_autoptr(GBytes) req = NULL, answer = NULL;
  guint status = 0;
  gboolean ok = credential_load(cred_path, cred, &error) &&
                (kms = kms_client_new(cred->kms_url, cred->kms_ca, FALSE, 10000, &error)) &&
                (req = ua_ticket_request_build(cred, recipients, &error)) &&
                ((answer = kms_client_post_sync(kms, req, &status, &error)) || !error) &&
                ua_ticket_open(cred, recipients, req, status, answer, grant, &error);
  if (!ok)
    g_printerr("bench-focus: ticket for %s: %s\n", cred_path, error ? error->message : "?");
  return ok;
}

/* One fresh TRANSFER_INIT (new CSB ID, RANDRi, T) of a granted ticket, in base64. */
static char *transfer_init_b64(const Credential *cred, const MikeyTicketGrant *grant,
                               const char *idrr)
{
  static const guint8 policies[] = { 0, 1 };
  UaTransferInitParams tp = { .grant = grant,
                              .idri = cred->identity,
                              .idrr = idrr,
                              .ssrc = g_random_int() | 1,
                              .seq = (guint16)g_random_int_range(1000, 20001),
                              .policies = policies,
                              .n_policies = 2 };
  g_autoptr(GBytes) ti = ua_transfer_init_build(&tp, NULL);
  if (!ti)
    return NULL;
  gsize n;
  const guint8 *d = g_bytes_get_data(ti, &n);
  return g_base64_encode(d, n);
}

/* Runs SIPp over the calls of csv at rate; its exit status (0: every call succeeded). */
static int sipp_run(const char *csv, guint calls, double rate)
{
  g_autofree char *sf = g_build_filename(BENCH_SRCDIR, "data", "sipp", "uac-focus-call.xml", NULL);
  g_autofree char *target = g_strdup_printf("127.0.0.1:%u", B.sip_port);
  g_autofree char *m = g_strdup_printf("%u", calls);
  g_autofree char *r = g_strdup_printf("%.0f", rate);
  g_autofree char *port = g_strdup_printf("%u", free_port());
  const char *argv[] = { B.sipp,
                         target,
                         "-sf",
                         sf,
                         "-inf",
                         csv,
                         "-i",
                         "127.0.0.1",
                         "-p",
                         port,
                         "-m",
                         m,
                         "-r",
                         r,
                         "-l",
                         "20000",
                         "-nostdin",
                         "-timeout",
                         "120",
                         "-timeout_error",
                         "-max_recv_loops",
                         "10000",
                         "-max_sched_loops",
                         "10000",
                         NULL };
  return run_full(argv, NULL, TRUE);
}

static void sipp_row(double offered, guint calls, int status, double achieved,
                     const FocusStats *before, const FocusStats *after)
{
  g_autofree char *focus = g_strdup_printf("%.1f / %.1f", after->setup_p50, after->setup_p99);
  g_autofree char *resolve = g_strdup_printf("%.1f / %.1f", after->resolve_p50, after->resolve_p99);
  g_autofree char *why = focus_failures(before, after);
  g_autofree char *failures =
      status == 0 ? g_strdup("none")
                  : g_strdup_printf("SIPp exit status %d%s%s", status, *why ? ": " : "", why);
  g_print("  %-8.0f %-7u %-10.0f %-22s %-22s %s\n", offered, calls, achieved, focus, resolve,
          failures);
}

/* SIPp as the peer: it costs little, so the rates are the focus's (with the KMS). Each call
 * still has the real resolve, MAC checks, replay cache, media leg and commit; SIPp sends no
 * RTP, so the focus only sets up media (sockets, keys), it does not mix. */
static void bench_sipp(void)
{
  if (!B.sipp) {
    g_print("\nSIPp (sip-tester) is not installed: the runs with pre-issued tickets are "
            "skipped\n");
    return;
  }
  skip_events();
  guint n_rates = 0;
  g_autofree double *rates = parse_rates(opt_sipp_rates, "250,500,1000,1500", &n_rates);
  guint n_ids = (guint)CLAMP(opt_sipp_identities, 1, MIN(opt_users, 200));
  /* alice's creation ticket names the factory and the participants */
  g_autoptr(GPtrArray) recipients = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(recipients, g_strdup(B.factory));
  for (guint i = 1; i <= n_ids; i++)
    g_ptr_array_add(recipients, g_strdup_printf("sip:user%u@example.org", i));
  g_ptr_array_add(recipients, NULL);
  Credential alice;
  MikeyTicketGrant agrant;
  if (!grant_for(B.alice, (const char *const *)recipients->pdata, &alice, &agrant))
    return;
  g_autofree char *csv = g_build_filename(B.tmp, "calls.csv", NULL);
  g_print("\nSIPp as the peer, pre-issued tickets (a fresh TRANSFER_INIT per call, made before "
          "the run; SIPp sends no media):\n");
  g_print("creations:\n  %-8s %-7s %-10s %-22s %-22s %s\n", "offered", "calls", "achieved",
          "focus p50/p99 ms", "resolve p50/p99 ms", "failures");
  double best_create = 0;
  for (guint i = 0; i < n_rates; i++) {
    guint n = (guint)(rates[i] * opt_seconds);
    GString *lines = g_string_new("SEQUENTIAL\n");
    for (guint k = 0; k < n; k++) {
      g_autofree char *b64 = transfer_init_b64(&alice, &agrant, B.factory);
      g_string_append_printf(lines, "%s;conference-factory;%s\n", b64, alice.identity);
    }
    g_file_set_contents(csv, lines->str, (gssize)lines->len, NULL);
    g_string_free(lines, TRUE);
    Cpu c0, c1;
    FocusStats s0, s1;
    focus_stats(&s0);
    cpu_now(&c0);
    int st = sipp_run(csv, n, rates[i]);
    cpu_now(&c1);
    guint created = 0;
    double achieved = event_rate("created", &created);
    focus_stats(&s1);
    sipp_row(rates[i], created, st, achieved, &s0, &s1);
    focus_stats_clear(&s0);
    focus_stats_clear(&s1);
    print_cpu(&c0, &c1, n);
    if (st == 0 && created == n && achieved > best_create)
      best_create = achieved;
  }

  /* joins: conferences of alice's (live: empty-timeout is 0), participants user1..userN with
   * one ticket each naming every one of them */
  g_autoptr(JsonNode) list = ctl_json("list", NULL);
  g_autoptr(GPtrArray) confs = g_ptr_array_new_with_free_func(g_free);
  JsonArray *a =
      list ? json_object_get_array_member(json_node_get_object(list), "conferences") : NULL;
  for (guint i = 0; a && i < json_array_get_length(a) && confs->len < (guint)opt_conferences; i++) {
    JsonObject *c = json_array_get_object_element(a, json_array_get_length(a) - 1 - i);
    JsonArray *allowed = json_object_get_array_member(c, "allowed");
    if (json_array_get_length(allowed) == n_ids + 1)
      g_ptr_array_add(confs, g_strdup(json_object_get_string_member(c, "uri")));
  }
  if (confs->len == 0) {
    g_print("joins: no conference to join\n");
    mikey_ticket_grant_clear(&agrant);
    credential_clear(&alice);
    return;
  }
  g_ptr_array_add(confs, NULL);
  Credential *users = g_new0(Credential, n_ids);
  MikeyTicketGrant *grants = g_new0(MikeyTicketGrant, n_ids);
  guint ok_ids = 0;
  for (guint u = 0; u < n_ids; u++) {
    g_autofree char *name = g_strdup_printf("user%04u.cred", u + 1);
    g_autofree char *path = g_build_filename(B.users, name, NULL);
    if (!grant_for(path, (const char *const *)confs->pdata, &users[u], &grants[u]))
      break;
    ok_ids++;
  }
  guint n_confs = confs->len - 1;
  g_print("joins (%u conferences, %u identities):\n  %-8s %-7s %-10s %-22s %-22s %s\n", n_confs,
          ok_ids, "offered", "calls", "achieved", "focus p50/p99 ms", "resolve p50/p99 ms",
          "failures");
  double best_join = 0;
  for (guint i = 0; ok_ids && i < n_rates; i++) {
    guint n = (guint)(rates[i] * opt_seconds);
    GString *lines = g_string_new("SEQUENTIAL\n");
    for (guint k = 0; k < n; k++) {
      guint u = k % ok_ids;
      const char *conf = g_ptr_array_index(confs, k % n_confs);
      g_autofree char *b64 = transfer_init_b64(&users[u], &grants[u], conf);
      const char *user_part = strchr(conf, ':') + 1;
      g_autofree char *user = g_strndup(user_part, strcspn(user_part, "@"));
      g_string_append_printf(lines, "%s;%s;%s\n", b64, user, users[u].identity);
    }
    g_file_set_contents(csv, lines->str, (gssize)lines->len, NULL);
    g_string_free(lines, TRUE);
    Cpu c0, c1;
    FocusStats s0, s1;
    focus_stats(&s0);
    cpu_now(&c0);
    int st = sipp_run(csv, n, rates[i]);
    cpu_now(&c1);
    guint admitted = 0;
    double achieved = event_rate("admitted", &admitted);
    focus_stats(&s1);
    sipp_row(rates[i], admitted, st, achieved, &s0, &s1);
    focus_stats_clear(&s0);
    focus_stats_clear(&s1);
    print_cpu(&c0, &c1, n);
    if (st == 0 && admitted == n && achieved > best_join)
      best_join = achieved;
  }
  g_print("SIPp summary: %.0f creations/s and %.0f joins/s sustained without a failure\n",
          best_create, best_join);
  for (guint u = 0; u < n_ids; u++) {
    if (u < ok_ids)
      mikey_ticket_grant_clear(&grants[u]);
    credential_clear(&users[u]);
  }
  g_free(users);
  g_free(grants);
  mikey_ticket_grant_clear(&agrant);
  credential_clear(&alice);
}

/* ------------------------------------------------------------------ setup */

static gboolean setup(void)
{
  const char *dir = opt_builddir ? opt_builddir : BENCH_BUILDDIR;
  B.kmsd = g_build_filename(dir, "src", "kms", "mikeykmsd", NULL);
  B.confd = g_build_filename(dir, "src", "focus", "mikeyconfd", NULL);
  B.ua = g_build_filename(dir, "src", "ua", "mikeyua", NULL);
  B.ctl = g_build_filename(dir, "src", "ctl", "mikeyconfctl", NULL);
  const char *bins[] = { B.kmsd, B.confd, B.ua, B.ctl };
  for (guint i = 0; i < G_N_ELEMENTS(bins); i++)
    if (!g_file_test(bins[i], G_FILE_TEST_IS_EXECUTABLE)) {
      g_printerr("bench-focus: %s is not built (make first)\n", bins[i]);
      return FALSE;
    }
  g_autoptr(GError) error = NULL;
  B.tmp = g_dir_make_tmp("bench-focus-XXXXXX", &error);
  if (!B.tmp)
    return FALSE;
  g_autofree char *kstate = g_build_filename(B.tmp, "kms", NULL);
  B.kms_conf = g_build_filename(B.tmp, "kms.conf", NULL);
  g_autofree char *kconf = g_strdup_printf("[mikeykmsd]\nlisten=127.0.0.1\nport=0\nstate-dir=%s\n"
                                           "kms-uri=" KMS_URI "\nrate-limit=0\n"
                                           "log-level=warning\n",
                                           kstate);
  g_file_set_contents(B.kms_conf, kconf, -1, NULL);
  B.alice = g_build_filename(B.tmp, "alice.cred", NULL);
  B.focus = g_build_filename(B.tmp, "focus.cred", NULL);
  B.users = g_build_filename(B.tmp, "users", NULL);
  g_mkdir(B.users, 0700);
  if (!kmsd_ok("init", NULL) ||
      !kmsd_ok("user", "add", ALICE, "--may-create", "--out", B.alice, NULL) ||
      !kmsd_ok("user", "add", FOCUS_ID, "--focus", "--resolves-for",
               "sip:conference-factory@127.0.0.1:*", "--resolves-for", "sip:conf-*@127.0.0.1:*",
               "--out", B.focus, NULL))
    return FALSE;
  for (gint i = 1; i <= opt_users; i++) {
    g_autofree char *uri = g_strdup_printf("sip:user%d@example.org", i);
    g_autofree char *name = g_strdup_printf("user%04d.cred", i);
    g_autofree char *path = g_build_filename(B.users, name, NULL);
    if (!kmsd_ok("user", "add", uri, "--out", path, NULL))
      return FALSE;
  }
  g_autofree char *klog = g_build_filename(B.tmp, "kms.log", NULL);
  /* kms-url in the credentials: warning level does not say where it listens, info does */
  const char *kargv[] = { B.kmsd, "--config", B.kms_conf, "--log-level", "info", "serve", NULL };
  B.kms = daemon_start(kargv, klog, "listening on ");
  if (!B.kms)
    return FALSE;
  g_autofree char *ktext = NULL;
  g_file_get_contents(klog, &ktext, NULL, NULL);
  const char *at = strstr(ktext, "listening on ") + strlen("listening on ");
  B.kms_url = g_strndup(at, strcspn(at, " \n"));
  point_at_kms(B.alice);
  point_at_kms(B.focus);
  g_autoptr(GDir) d = g_dir_open(B.users, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d))) {
    g_autofree char *p = g_build_filename(B.users, name, NULL);
    point_at_kms(p);
  }

  B.sipp = g_find_program_in_path("sipp");
  guint16 port = free_port();
  B.sip_port = port;
  B.factory = g_strdup_printf("sip:conference-factory@127.0.0.1:%u", port);
  B.sock = g_build_filename(B.tmp, "focus.sock", NULL);
  B.confd_conf = g_build_filename(B.tmp, "mikeyconfd.conf", NULL);
  g_autofree char *fstate = g_build_filename(B.tmp, "focus", NULL);
  g_autofree char *fconf = g_strdup_printf(
      "[mikeyconfd]\nsip-listen=127.0.0.1:%u\ncredential=%s\nstate-dir=%s\ncontrol-socket=%s\n"
      "rate-limit=0\nempty-timeout=0\nlog-level=warning\n"
      "rtp-port-min=42000\nrtp-port-max=59999\nmedia-workers=1\n",
      port, B.focus, fstate, B.sock);
  g_file_set_contents(B.confd_conf, fconf, -1, NULL);
  g_autofree char *flog = g_build_filename(B.tmp, "mikeyconfd.log", NULL);
  g_autoptr(GStrvBuilder) fb = g_strv_builder_new();
  g_auto(GStrv) wrap = opt_wrap ? g_strsplit(opt_wrap, " ", -1) : NULL;
  if (wrap)
    g_strv_builder_addv(fb, (const char **)wrap);
  const char *fargv[] = { B.confd, "--config", B.confd_conf, "--log-level", "info", NULL };
  g_strv_builder_addv(fb, fargv);
  g_auto(GStrv) fv = g_strv_builder_end(fb);
  B.focusd = daemon_start((const char *const *)fv, flog, "mikeyconfd: started");
  return B.focusd != NULL;
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

/* ------------------------------------------------------------------ main */

static gint64 live_conferences(void)
{
  g_autoptr(JsonNode) st = ctl_json("stats", NULL);
  if (!st)
    return -1;
  JsonObject *s = json_object_get_object_member(json_node_get_object(st), "stats");
  return json_object_get_int_member(json_object_get_object_member(s, "conferences"), "live");
}

/* One batch of --idle conferences, each created with a 1 s call and then left idle: the RSS
 * 0.5 s after the calls (*now) and once their transient state is gone (*settled: Sofia keeps a
 * call's transactions 32 s, the focus gives freed memory back after a burst). Returns the
 * conferences made. */
static gint64 idle_batch(gint64 *now, gint64 *settled)
{
  Load m;
  gboolean ok = load_run((guint)opt_idle, 0, MAX(1, opt_idle_rate), &m);
  skip_events();
  g_usleep(G_USEC_PER_SEC / 2);
  *now = rss_kib(B.focusd);
  g_usleep((gulong)opt_settle * G_USEC_PER_SEC);
  *settled = rss_kib(B.focusd);
  g_free(m.failures);
  return ok ? m.ok : 0;
}

/* memory: the fresh daemon's RSS, then over two batches of idle conferences. The first batch
 * pays the daemon's one-time costs (first TLS connections to the KMS, the SQLite page cache
 * filling up to its bound); the second shows what one more idle conference costs. */
static void bench_memory(void)
{
  g_print("\nmemory (first, on the fresh daemon; batches of %d conferences created at %d/s, each "
          "with a 1 s call, then idle; RSS 0.5 s after the calls and %d s later):\n",
          opt_idle, opt_idle_rate, opt_settle);
  gint64 rss0 = rss_kib(B.focusd);
  gint64 a_now, a_settled, b_now, b_settled;
  gint64 n1 = idle_batch(&a_now, &a_settled);
  gint64 n2 = idle_batch(&b_now, &b_settled);
  gint64 live = live_conferences();
  g_print("  fresh daemon %" G_GINT64_FORMAT " KiB\n", rss0);
  if (n1 > 0)
    g_print("  batch 1 (%" G_GINT64_FORMAT " conferences): %" G_GINT64_FORMAT " KiB (%.1f KiB "
            "per conference), settled %" G_GINT64_FORMAT " KiB (%.1f KiB per idle conference, "
            "one-time costs included)\n",
            n1, a_now, (double)(a_now - rss0) / (double)n1, a_settled,
            (double)(a_settled - rss0) / (double)n1);
  if (n2 > 0)
    g_print("  batch 2 (%" G_GINT64_FORMAT " more): %" G_GINT64_FORMAT " KiB (%+.1f KiB per "
            "conference), settled %" G_GINT64_FORMAT " KiB (%+.1f KiB per idle conference); "
            "%" G_GINT64_FORMAT " live in all\n",
            n2, b_now, (double)(b_now - a_settled) / (double)n2, b_settled,
            (double)(b_settled - a_settled) / (double)n2, live);
  if (n1 > 0 && n2 > 0)
    g_print("  per idle conference: %.1f KiB over both batches from the fresh daemon, %.1f KiB "
            "for one more (target < 16 KiB)\n",
            (double)(b_settled - rss0) / (double)(n1 + n2),
            (double)(b_settled - a_settled) / (double)n2);
}

static void bench(void)
{
  g_autofree char *load = NULL;
  if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL)) {
    g_auto(GStrv) f = g_strsplit(load, " ", 4);
    if (g_strv_length(f) >= 3)
      g_print("load:      %s %s %s (1, 5, 15 min) before the runs: other work on the machine "
              "lowers the rates\n",
              f[0], f[1], f[2]);
  }
  g_print("setup:     mikeykmsd (HTTPS, rate-limit 0), mikeyconfd (1 media worker, log-level "
          "info: a line per decision), mikeyua load (one process); %d participant identities; "
          "calls of 1 s with SRTP media; all on this machine\n",
          opt_users);
  g_print("programs:  %s\n", opt_builddir ? opt_builddir : BENCH_BUILDDIR);
  skip_events();

  if (part_on("memory"))
    bench_memory();

  /* creations */
  guint n_rates = 0;
  g_autofree double *rates = parse_rates(opt_rates, "100,250,500,1000", &n_rates);
  g_print("\ncreations (INVITE to the factory: resolve at the KMS, conference record and audit "
          "event committed, 200 OK):\n");
  g_print("  %-8s %-7s %-10s %-22s %-22s %-22s %s\n", "offered", "calls", "achieved",
          "focus p50/p99 ms", "INVITE p50/p99 ms", "setup p50/p99 ms", "failures");
  double best_create = 0;
  for (guint i = 0; part_on("creations") && i < n_rates; i++) {
    guint n = (guint)(rates[i] * opt_seconds);
    Load r;
    Cpu c0, c1;
    cpu_now(&c0);
    if (!load_run(n, 0, rates[i], &r))
      continue;
    cpu_now(&c1);
    guint created = 0;
    double achieved = event_rate("created", &created);
    double f50, f99;
    focus_setup_ms(&f50, &f99);
    print_row(rates[i], &r, achieved, f50, f99);
    print_cpu(&c0, &c1, r.calls);
    if (r.ok == r.calls && achieved > best_create)
      best_create = achieved;
    g_free(r.failures);
  }

  /* joins */
  guint n_jrates = 0;
  g_autofree double *jrates = parse_rates(opt_join_rates, "100,250,500,1000", &n_jrates);
  g_print("\njoins (INVITE to a conference URI: resolve at the KMS, allowed-set check, audit "
          "event committed, 200 OK; %d conferences per run):\n",
          opt_conferences);
  g_print("  %-8s %-7s %-10s %-22s %-22s %-22s %s\n", "offered", "calls", "achieved",
          "focus p50/p99 ms", "INVITE p50/p99 ms", "setup p50/p99 ms", "failures");
  double best_join = 0;
  for (guint i = 0; part_on("joins") && i < n_jrates; i++) {
    guint per = MAX(1, (guint)(jrates[i] * opt_seconds / opt_conferences));
    Load r;
    Cpu c0, c1;
    cpu_now(&c0);
    if (!load_run((guint)opt_conferences, per, jrates[i], &r))
      continue;
    cpu_now(&c1);
    guint admitted = 0;
    double achieved = event_rate("admitted", &admitted);
    double f50, f99;
    focus_setup_ms(&f50, &f99);
    print_row(jrates[i], &r, achieved, f50, f99);
    print_cpu(&c0, &c1, r.calls);
    if (r.ok == r.calls && achieved > best_join)
      best_join = achieved;
    g_free(r.failures);
  }

  if (part_on("sipp"))
    bench_sipp();

  g_print("\nsummary (mikeyua load): %.0f creations/s and %.0f joins/s sustained without a "
          "failure (targets 500 and 1000)\n",
          best_create, best_join);
}

int main(int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "rates", 0, 0, G_OPTION_ARG_STRING, &opt_rates, "Creations/s offered (100,250,500,1000)",
      "LIST" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds, "Seconds of calls per rate (4)", "N" },
    { "join-rates", 0, 0, G_OPTION_ARG_STRING, &opt_join_rates,
      "Joins/s offered (100,250,500,1000)", "LIST" },
    { "conferences", 0, 0, G_OPTION_ARG_INT, &opt_conferences, "Conferences of the join runs (20)",
      "N" },
    { "users", 0, 0, G_OPTION_ARG_INT, &opt_users, "Participant credentials (100)", "N" },
    { "idle", 0, 0, G_OPTION_ARG_INT, &opt_idle, "Conferences for the RSS figure (3000)", "N" },
    { "idle-rate", 0, 0, G_OPTION_ARG_INT, &opt_idle_rate,
      "Creations/s of the conferences for the RSS figure (250)", "N" },
    { "settle", 0, 0, G_OPTION_ARG_INT, &opt_settle,
      "Seconds after a batch of idle conferences before the settled RSS (40)", "N" },
    { "sipp-rates", 0, 0, G_OPTION_ARG_STRING, &opt_sipp_rates,
      "Calls/s offered by SIPp (250,500,1000,1500)", "LIST" },
    { "sipp-identities", 0, 0, G_OPTION_ARG_INT, &opt_sipp_identities,
      "Participants of the SIPp joins (20)", "N" },
    { "parts", 0, 0, G_OPTION_ARG_STRING, &opt_parts,
      "Parts to run (memory,creations,joins,sipp: all)", "LIST" },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &opt_keep,
      "Keep the temporary directory (daemon logs, records) and print its name", NULL },
    { "hold", 0, 0, G_OPTION_ARG_INT, &opt_hold,
      "Keep the daemons running N seconds after the runs (to look at them)", "N" },
    { "builddir", 0, 0, G_OPTION_ARG_FILENAME, &opt_builddir,
      "Run the programs of this build tree (to compare two builds on one machine)", "DIR" },
    { "wrap", 0, 0, G_OPTION_ARG_STRING, &opt_wrap,
      "Run mikeyconfd under this command (e.g. 'valgrind --tool=massif'; the CPU figures are "
      "then the wrapper's)",
      "CMD" },
    { NULL },
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- mikeyconfd creations, joins, memory");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("bench-focus: %s\n", error->message);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  bench_print_machine("bench-focus: mikeyconfd creations/s, joins/s, setup latency, RSS per "
                      "idle conference",
                      NULL,
                      "rates from the focus's audit log (commit times); latency from the "
                      "focus's stats and mikeyua's report");
  int status = 0;
  if (setup())
    bench();
  else
    status = 1;
  if (opt_hold > 0 && B.focusd) {
    g_print("holding for %d s: mikeyconfd pid %s, mikeykmsd pid %s, control socket %s\n", opt_hold,
            g_subprocess_get_identifier(B.focusd), g_subprocess_get_identifier(B.kms), B.sock);
    g_usleep((gulong)opt_hold * G_USEC_PER_SEC);
  }
  daemon_stop(&B.focusd);
  daemon_stop(&B.kms);
  if (B.tmp && opt_keep)
    g_print("kept: %s\n", B.tmp);
  else if (B.tmp)
    remove_tree(B.tmp);
  return status;
}
