/* test-soak: issue 8's soak and key hygiene, with the real processes on loopback
 * (focus-harness.h: mikeykmsd, mikeyconfd, mikeyua, mikeyconfctl).
 *
 * /soak/churn: rounds of conference churn, each round at once:
 *  - alice creates a conference allowing bob and carol and, 5 s in, changes the set to bob and
 *    dave with a new ticket (carol is removed: BYE, Reason 403), then a CSB update and a
 *    focus-only ticket, in re-INVITEs or UPDATEs (alternating by round); bob joins and offers
 *    the same ticket again; dave joins once allowed (and is kicked by the operator every other
 *    round); the conference ends by `mikeyconfctl end` or by empty-timeout (alternating);
 *  - `mikeyua load` creates 3 more conferences with 2 participants each (user1..user4), 3 s
 *    calls; they end by empty-timeout (2 s here);
 *  - every call sends and receives SRTP audio; every report is checked (status, no decrypt
 *    failure, the load without failure).
 * After WARMUP_ROUNDS rounds and with nothing going on (no leg, no live conference), the RSS
 * (VmRSS) and open file descriptors of mikeykmsd and mikeyconfd are taken; rounds then go on
 * for SOAK_SECONDS (environment, default 60: the CI version; `make soak` runs 600), and once
 * quiet again both must be within 10 % of their warm-up level (GROWTH_PERCENT: wider in
 * sanitizer builds, whose allocator grows by itself). File descriptors: the HTTP
 * keep-alive connections between the focus and the KMS are counted apart (their number is
 * that of the resolves the focus last had in parallel, up to its connection limit, and says
 * nothing of a leak). For the others 10 % of a count of about 15 is 1, so an absolute floor
 * of FD_FLOOR (3) is allowed: a descriptor may legitimately be open at one sample and not at
 * the other (a SIP TCP connection still closing, a file SQLite opens for a moment), while a
 * leak of one per call or per conference (hundreds per soak) still fails.
 *
 * /soak/key-hygiene: a demo run with debug logs (mikeyconfd also traces SIP) in which every
 * mikeyua writes its keys with --key-log; then the PSKs (the credential files), and the MPKs,
 * TGKs and SRTP master keys and salts (the key log) are searched for in hex (both cases),
 * base64 (at each of the 3 alignments, standard and URL alphabets) and raw binary in: every
 * log file, the SQLite files of both daemons (*.db, -wal, -shm, while they run), the output of
 * every mikeyconfctl command (--json and text) and of every mikeyua of the run. The search is
 * shown to work: it finds every key of the key log in the key log itself, and each encoding
 * of a key planted in a buffer.
 *
 * /soak/clean-exit: SIGTERM to both daemons: exit 0 and, in sanitizer builds, no
 * AddressSanitizer/LeakSanitizer report in their logs; then their databases (WAL merged) are
 * searched again for the keys. */
#include "focus-harness.h"

#include "common/credential.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOAK_DEFAULT_S 60
#define WARMUP_ROUNDS 3
#define LOAD_CONFERENCES "3"
#define LOAD_PARTICIPANTS "2"
#define FD_FLOOR 3
#define N_USERS 4 /* user1..user4, the load's participants */

#if defined(__SANITIZE_ADDRESS__)
#define SAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_BUILD 1
#endif
#endif

/* RSS growth allowed from the warm-up to the end. The daemons' own heap is small (heaptrack,
 * 4 minutes of churn: peak 1.4 MiB for mikeykmsd, 2.6 MiB for mikeyconfd; their RSS, about 17
 * and 22 MiB, is mostly libraries and thread stacks), so 10 % of the RSS catches any leak that
 * matters. In sanitizer builds ASan's allocator keeps what it maps per size class and thread,
 * and its stack depot stores every new allocation stack for good: their RSS grows by 10 to 13 %
 * in 5 minutes without a leak, so the bound there is wider and the leak check is
 * LeakSanitizer's (/soak/clean-exit). */
#ifdef SAN_BUILD
#define GROWTH_PERCENT 25
#else
#define GROWTH_PERCENT 10
#endif

/* the keys of the hygiene run, searched for again in the databases after the exits */
typedef struct {
  char *what; /* "PSK of alice.cred", "SRTP_TX_KEY 1a2b3c4d" */
  GBytes *key;
} Secret;

static GArray *secrets; /* Secret */
static char *key_log;

/* ------------------------------------------------------------------ helpers */

static guint soak_seconds(void)
{
  const char *e = g_getenv("SOAK_SECONDS");
  guint s = e ? (guint)atoi(e) : SOAK_DEFAULT_S;
  return s > 0 ? s : SOAK_DEFAULT_S;
}

static gboolean no_sip_legs(gpointer data)
{
  return stat_int("sip_legs") == 0;
}

static gboolean nothing_live(gpointer data)
{
  return stat_int("sip_legs") == 0 && stat_int("conferences.live") == 0;
}

static gboolean allowed_has(gpointer data)
{
  const char *const *cw = data; /* conference, identity */
  g_autofree char *set = allowed_of(cw[0]);
  return strstr(set, cw[1]) != NULL;
}

/* Whether identity cw[1] has a leg in conference cw[0]. */
static gboolean participant_in(gpointer data)
{
  const char *const *cw = data;
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "show", cw[0], NULL);
  JsonArray *a =
      json_object_get_array_member(json_object_get_object_member(o, "conference"), "participants");
  for (guint i = 0; i < json_array_get_length(a); i++)
    if (strcmp(json_object_get_string_member(json_array_get_object_element(a, i), "identity"),
               cw[1]) == 0)
      return TRUE;
  return FALSE;
}

/* ------------------------------------------------------------------ file descriptors */

/* TCP sockets by inode (/proc/net/tcp: local and remote address, state, inode columns): the
 * state (hex, 01 established, 08 close-wait, ...) and whether the KMS's port is at one end. */
typedef struct {
  char state[3];
  gboolean kms;
} TcpSock;

static GHashTable *tcp_sockets(void)
{
  GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *port = g_strdup_printf(":%04X", H.kms_port);
  g_autofree char *text = NULL;
  if (!g_file_get_contents("/proc/net/tcp", &text, NULL, NULL))
    return map;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 1; lines[i]; i++) {
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " ", -1);
    g_autoptr(GPtrArray) v = g_ptr_array_new();
    for (guint k = 0; f[k]; k++)
      if (*f[k])
        g_ptr_array_add(v, f[k]);
    if (v->len < 10)
      continue;
    TcpSock *t = g_new0(TcpSock, 1);
    g_strlcpy(t->state, g_ptr_array_index(v, 3), sizeof t->state);
    t->kms = g_str_has_suffix(g_ptr_array_index(v, 1), port) ||
             g_str_has_suffix(g_ptr_array_index(v, 2), port);
    g_hash_table_replace(map, g_strdup(g_ptr_array_index(v, 9)), t);
  }
  return map;
}

typedef struct {
  gint64 rss_kib;
  gint64 fds;      /* without the KMS keep-alive connections */
  gint64 kms_conn; /* those: established TCP connections between the focus and the KMS */
  char *detail;    /* the fds by kind, for the messages */
} Usage;

static Usage usage_of(pid_t pid)
{
  Usage u = { proc_rss_kib(pid), 0, 0, NULL };
  g_autoptr(GHashTable) tcp = tcp_sockets();
  g_autoptr(GHashTable) kinds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
  GDir *dir = g_dir_open(path, 0, NULL);
  g_assert_nonnull(dir);
  const char *name;
  while ((name = g_dir_read_name(dir))) {
    g_autofree char *fd = g_build_filename(path, name, NULL);
    g_autofree char *target = g_file_read_link(fd, NULL);
    g_autofree char *kind = NULL;
    if (target && g_str_has_prefix(target, "socket:[")) {
      g_autofree char *inode = g_strndup(target + 8, strcspn(target + 8, "]"));
      TcpSock *t = g_hash_table_lookup(tcp, inode);
      if (t && t->kms && strcmp(t->state, "01") == 0) {
        u.kms_conn++; /* an end of a kept-alive connection of the focus's pool */
        continue;
      }
      kind = t ? g_strdup_printf("tcp-%s%s", t->state, t->kms ? "-kms" : "") : g_strdup("socket");
    } else if (target && target[0] == '/') {
      kind = g_strdup("file");
    } else {
      kind = g_strndup(target ? target : "?", target ? strcspn(target, ":[") : 1);
    }
    u.fds++;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(kinds, kind));
    g_hash_table_replace(kinds, g_steal_pointer(&kind), GUINT_TO_POINTER(n + 1));
  }
  g_dir_close(dir);
  GString *d = g_string_new(NULL);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, kinds);
  while (g_hash_table_iter_next(&it, &k, &v))
    g_string_append_printf(d, "%s%s %u", d->len ? ", " : "", (char *)k, GPOINTER_TO_UINT(v));
  u.detail = g_string_free(d, FALSE);
  return u;
}

/* ------------------------------------------------------------------ one round */

typedef struct {
  guint n;
  gboolean key_log; /* every mikeyua appends its keys to key_log */
  gboolean debug;   /* mikeyua --log-level debug --sip-trace */
  GString *outputs; /* when not NULL: every mikeyua's and mikeyconfctl's output, appended */
} RoundOpts;

/* mikeyua with the round's common options (argv NULL-terminated). */
static Proc *ua_round_spawn(const RoundOpts *ro, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, H.ua);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (char *)args[i]);
  if (ro->key_log) {
    g_ptr_array_add(argv, (char *)"--key-log");
    g_ptr_array_add(argv, key_log);
  }
  if (ro->debug) {
    g_ptr_array_add(argv, (char *)"--log-level");
    g_ptr_array_add(argv, (char *)"debug");
    g_ptr_array_add(argv, (char *)"--sip-trace");
  }
  g_ptr_array_add(argv, NULL);
  return spawn((const char *const *)argv->pdata);
}

static JsonObject *ua_round_finish(const RoundOpts *ro, Proc *p, JsonParser **jp, int expect,
                                   const char *who)
{
  g_autofree char *out = NULL, *err = NULL;
  int st = proc_finish(p, RUN_TIMEOUT_MS, &out, &err);
  if (st != expect)
    g_test_message("round %u, %s: exit %d (expected %d)\n%s\n%s", ro->n, who, st, expect, out, err);
  g_assert_cmpint(st, ==, expect);
  if (ro->outputs)
    g_string_append_printf(ro->outputs, "%s\n%s\n", out, err);
  return json_of(out, jp);
}

/* mikeyconfctl ARGS (--json or not), output kept when the round keeps outputs. */
static int ctl_round(const RoundOpts *ro, gboolean json, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, H.ctl);
  g_ptr_array_add(argv, (char *)"--socket");
  g_ptr_array_add(argv, H.sock);
  if (json)
    g_ptr_array_add(argv, (char *)"--json");
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (char *)args[i]);
  g_ptr_array_add(argv, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int st = run(&out, &err, (const char *const *)argv->pdata);
  if (ro->outputs)
    g_string_append_printf(ro->outputs, "%s\n%s\n", out, err);
  return st;
}

/* Every mikeyconfctl command, --json and text, about conf. */
static void ctl_all_commands(const RoundOpts *ro, const char *conf)
{
  const char *list[] = { "list", NULL };
  const char *show[] = { "show", conf, NULL };
  const char *allowed[] = { "allowed", conf, NULL };
  const char *events[] = { "events", NULL };
  const char *events_conf[] = { "events", "--conference", conf, NULL };
  const char *events_after[] = { "events", "--after", "1", NULL };
  const char *stats[] = { "stats", NULL };
  const char *const *cmds[] = { list, show, allowed, events, events_conf, events_after, stats };
  for (guint i = 0; i < G_N_ELEMENTS(cmds); i++)
    for (int json = 0; json <= 1; json++)
      g_assert_cmpint(ctl_round(ro, json, cmds[i]), ==, 0);
}

static void churn_round(const RoundOpts *ro)
{
  gboolean odd = ro->n % 2;
  /* alice's conference (started alone: owner_start takes the newest conference) */
  g_autoptr(GPtrArray) extra = g_ptr_array_new();
  const char *base[] = { "--participant",
                         BOB,
                         "--participant",
                         CAROL,
                         "--at",
                         "5:new-ticket:" BOB "," DAVE,
                         "--at",
                         "6:csb-update",
                         "--at",
                         "7:focus-ticket",
                         "--update-method",
                         odd ? "update" : "reinvite",
                         "--duration",
                         "9" };
  for (guint i = 0; i < G_N_ELEMENTS(base); i++)
    g_ptr_array_add(extra, (char *)base[i]);
  if (ro->key_log) {
    g_ptr_array_add(extra, (char *)"--key-log");
    g_ptr_array_add(extra, key_log);
  }
  if (ro->debug) {
    g_ptr_array_add(extra, (char *)"--log-level");
    g_ptr_array_add(extra, (char *)"debug");
    g_ptr_array_add(extra, (char *)"--sip-trace");
  }
  g_ptr_array_add(extra, NULL);
  Owner own = owner_start((const char *const *)extra->pdata);
  const char *carol_args[] = { "join",       "--credential", H.carol,
                               "--duration", "30",           "--expect-bye-reason",
                               "403",        "--json",       own.uri,
                               NULL };
  Proc *carol = ua_round_spawn(ro, carol_args);
  /* carol must be in before the set changes (5 s after alice's call is up: a wide margin
   * for a loaded machine) */
  const char *cin[] = { own.uri, CAROL };
  g_assert_true(wait_until(participant_in, cin, 4000));
  const char *bob_args[] = { "join", "--credential",  H.bob,    "--duration", "5",
                             "--at", "1:same-ticket", "--json", own.uri,      NULL };
  Proc *bob = ua_round_spawn(ro, bob_args);
  /* the load's conferences meanwhile */
  g_autofree char *pattern = g_build_filename(H.tmp, "user%d.cred", NULL);
  const char *load_args[] = { "load",
                              "--credential",
                              H.alice,
                              "--factory",
                              H.factory,
                              "--conferences",
                              LOAD_CONFERENCES,
                              "--participants",
                              LOAD_PARTICIPANTS,
                              "--participant-credentials",
                              pattern,
                              "--call-length",
                              "3",
                              "--join-rate",
                              "20",
                              "--json",
                              NULL };
  Proc *load = ua_round_spawn(ro, load_args);
  /* dave once the owner's new ticket allows him; kicked every other round */
  const char *cw[] = { own.uri, DAVE };
  g_assert_true(wait_until(allowed_has, cw, RUN_TIMEOUT_MS));
  const char *dave_stay[] = { "join",       "--credential", H.dave,
                              "--duration", "30",           "--expect-bye-reason",
                              "403",        "--json",       own.uri,
                              NULL };
  const char *dave_short[] = { "join", "--credential", H.dave,  "--duration",
                               "2",    "--json",       own.uri, NULL };
  Proc *dave = ua_round_spawn(ro, odd ? dave_stay : dave_short);
  if (ro->outputs)
    ctl_all_commands(ro, own.uri); /* with everybody in */
  if (odd) {
    /* dave's leg is there once he is admitted */
    const char *cw2[] = { own.uri, DAVE };
    g_assert_true(wait_until(participant_in, cw2, RUN_TIMEOUT_MS));
    const char *kick[] = { "kick", own.uri, DAVE, NULL };
    g_assert_cmpint(ctl_round(ro, TRUE, kick), ==, 0);
  }

  g_autoptr(JsonParser) cp = NULL, bp = NULL, dp = NULL, lp = NULL, op = NULL;
  JsonObject *cr = ua_round_finish(ro, carol, &cp, 0, "carol");
  g_assert_cmpint(jint(cr, "ended.reason_cause"), ==, 403);
  JsonObject *br = ua_round_finish(ro, bob, &bp, 0, "bob");
  g_assert_cmpint(jint(br, "media.received"), >, 0);
  g_assert_cmpint(jint(br, "media.decrypt_failed"), ==, 0);
  g_assert_cmpint(jint(br, "media.rekeys"), ==, 1);
  ua_round_finish(ro, dave, &dp, 0, "dave");
  JsonObject *lr = ua_round_finish(ro, load, &lp, 0, "load");
  g_assert_cmpint(jint(lr, "failed"), ==, 0);
  g_autofree char *oout = NULL, *oerr = NULL;
  int ost = proc_finish(own.proc, RUN_TIMEOUT_MS, &oout, &oerr);
  if (ost != 0)
    g_test_message("round %u, alice: exit %d\n%s\n%s", ro->n, ost, oout, oerr);
  g_assert_cmpint(ost, ==, 0);
  if (ro->outputs)
    g_string_append_printf(ro->outputs, "%s\n%s\n", oout, oerr);
  JsonObject *orep = json_of(oout, &op);
  g_assert_cmpint(jint(orep, "media.rekeys"), ==, 2); /* new ticket and focus ticket */
  g_assert_cmpint(jint(orep, "media.decrypt_failed"), ==, 0);
  /* the owner's conference ends by the operator (even rounds) or by itself (odd) */
  if (!odd) {
    const char *end[] = { "end", own.uri, NULL };
    g_assert_cmpint(ctl_round(ro, TRUE, end), ==, 0);
  }
  g_free(own.uri);
}

/* ------------------------------------------------------------------ /soak/churn */

static void wait_quiet(void)
{
  g_assert_true(wait_until(nothing_live, NULL, RUN_TIMEOUT_MS));
  sleep_ms(2000); /* closing connections, the last BYE transactions */
}

static void test_churn(void)
{
  /* empty conferences end 2 s after their last participant: without that, the load's
   * conferences would pile up (live rooms are memory) and make the comparison meaningless */
  confd_reload("empty-timeout=2\n");
  gint64 t0 = g_get_monotonic_time();
  guint n = 0;
  for (; n < WARMUP_ROUNDS; n++) {
    RoundOpts ro = { .n = n };
    churn_round(&ro);
  }
  wait_quiet();
  Usage kms_w = usage_of(H.kms_pid), confd_w = usage_of(H.confd_pid);
  gint64 conf_w = stat_int("conferences.total");
  g_test_message("after %u warm-up rounds (%.0f s): mikeykmsd RSS %" G_GINT64_FORMAT
                 " KiB, %" G_GINT64_FORMAT " fds (+%" G_GINT64_FORMAT
                 " KMS connections); mikeyconfd RSS %" G_GINT64_FORMAT " KiB, %" G_GINT64_FORMAT
                 " fds (+%" G_GINT64_FORMAT " KMS connections)",
                 n, (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, kms_w.rss_kib,
                 kms_w.fds, kms_w.kms_conn, confd_w.rss_kib, confd_w.fds, confd_w.kms_conn);

  guint secs = soak_seconds();
  gint64 t1 = g_get_monotonic_time();
  gint64 end = t1 + (gint64)secs * G_USEC_PER_SEC;
  gint64 rss_kms_max = kms_w.rss_kib, rss_confd_max = confd_w.rss_kib;
  while (g_get_monotonic_time() < end) {
    RoundOpts ro = { .n = n++ };
    churn_round(&ro);
    gint64 k = proc_rss_kib(H.kms_pid), c = proc_rss_kib(H.confd_pid);
    rss_kms_max = MAX(rss_kms_max, k);
    rss_confd_max = MAX(rss_confd_max, c);
    g_test_message("round %u (%.0f s): RSS mikeykmsd %" G_GINT64_FORMAT
                   " KiB, mikeyconfd %" G_GINT64_FORMAT " KiB",
                   ro.n, (double)(g_get_monotonic_time() - t1) / G_USEC_PER_SEC, k, c);
  }
  wait_quiet();
  Usage kms_e = usage_of(H.kms_pid), confd_e = usage_of(H.confd_pid);
  gint64 conf_e = stat_int("conferences.total");
  g_test_message("after %u more rounds (%.0f s, %" G_GINT64_FORMAT
                 " conferences): mikeykmsd RSS %" G_GINT64_FORMAT " KiB (at most %" G_GINT64_FORMAT
                 "), %" G_GINT64_FORMAT " fds (+%" G_GINT64_FORMAT
                 " KMS connections); mikeyconfd RSS %" G_GINT64_FORMAT
                 " KiB (at most %" G_GINT64_FORMAT "), %" G_GINT64_FORMAT " fds (+%" G_GINT64_FORMAT
                 " KMS connections)",
                 n - WARMUP_ROUNDS, (double)(g_get_monotonic_time() - t1) / G_USEC_PER_SEC,
                 conf_e - conf_w, kms_e.rss_kib, rss_kms_max, kms_e.fds, kms_e.kms_conn,
                 confd_e.rss_kib, rss_confd_max, confd_e.fds, confd_e.kms_conn);
  g_assert_cmpint(n - WARMUP_ROUNDS, >=, 1);
  const struct {
    const char *who;
    Usage w, e;
  } cmp[] = { { "mikeykmsd", kms_w, kms_e }, { "mikeyconfd", confd_w, confd_e } };
  for (guint i = 0; i < G_N_ELEMENTS(cmp); i++) {
    gint64 rss_max = cmp[i].w.rss_kib + cmp[i].w.rss_kib * GROWTH_PERCENT / 100;
    gint64 fd_max = cmp[i].w.fds + MAX(cmp[i].w.fds * GROWTH_PERCENT / 100, FD_FLOOR);
    g_test_message("%s: RSS %" G_GINT64_FORMAT " KiB (at most %" G_GINT64_FORMAT
                   "), fds %" G_GINT64_FORMAT " (at most %" G_GINT64_FORMAT "): %s; "
                   "after the warm-up: %s",
                   cmp[i].who, cmp[i].e.rss_kib, rss_max, cmp[i].e.fds, fd_max, cmp[i].e.detail,
                   cmp[i].w.detail);
    g_assert_cmpint(cmp[i].e.rss_kib, <=, rss_max);
    g_assert_cmpint(cmp[i].e.fds, <=, fd_max);
    /* the keep-alive pool is bounded by the focus's connection limit (kmsclient.c: 16) */
    g_assert_cmpint(cmp[i].e.kms_conn, <=, 16);
  }
  for (guint i = 0; i < G_N_ELEMENTS(cmp); i++) {
    g_free(cmp[i].w.detail);
    g_free(cmp[i].e.detail);
  }
  confd_reload(NULL);
}

/* ------------------------------------------------------------------ key hygiene */

static void secret_add(const char *what, const guint8 *data, gsize len)
{
  Secret s = { g_strdup(what), g_bytes_new(data, len) };
  g_array_append_val(secrets, s);
}

static void secret_clear(Secret *s)
{
  g_free(s->what);
  g_bytes_unref(s->key);
}

/* The lines "LABEL CSB-ID HEX" of the key log (mikeyua(1), --key-log). */
static guint secrets_from_key_log(const char *path, GHashTable *labels)
{
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  guint n = 0;
  for (guint i = 0; lines[i]; i++) {
    if (!*lines[i] || lines[i][0] == '#')
      continue;
    g_auto(GStrv) f = g_strsplit(lines[i], " ", 3);
    g_assert_cmpuint(g_strv_length(f), ==, 3);
    gsize len = strlen(f[2]);
    g_assert_cmpuint(len % 2, ==, 0);
    g_assert_cmpuint(len, >=, 24);
    g_autofree guint8 *bytes = g_malloc(len / 2);
    for (gsize k = 0; k < len / 2; k++) {
      int hi = g_ascii_xdigit_value(f[2][2 * k]), lo = g_ascii_xdigit_value(f[2][2 * k + 1]);
      g_assert_true(hi >= 0 && lo >= 0);
      bytes[k] = (guint8)(hi << 4 | lo);
    }
    g_autofree char *what = g_strdup_printf("%s %s", f[0], f[1]);
    secret_add(what, bytes, len / 2);
    g_hash_table_add(labels, g_strdup(f[0]));
    n++;
  }
  return n;
}

static void secrets_from_credentials(void)
{
  g_autoptr(GDir) dir = g_dir_open(H.tmp, 0, NULL);
  const char *name;
  guint n = 0;
  while ((name = g_dir_read_name(dir))) {
    if (!g_str_has_suffix(name, ".cred"))
      continue;
    g_autofree char *path = g_build_filename(H.tmp, name, NULL);
    Credential c;
    g_autoptr(GError) error = NULL;
    g_assert_true(credential_load(path, &c, &error));
    g_autofree char *what = g_strdup_printf("PSK of %s", name);
    secret_add(what, c.psk->data, c.psk->len);
    credential_clear(&c);
    n++;
  }
  g_assert_cmpuint(n, >=, 5 + N_USERS);
}

/* Base64 of key as it would appear inside a longer base64 text that holds it at offset
 * shift (0, 1 or 2) of a 3-byte group: the characters that come from the key's bits only. */
static char *b64_inner(GBytes *key, guint shift, gboolean url)
{
  gsize len;
  const guint8 *d = g_bytes_get_data(key, &len);
  g_autofree guint8 *buf = g_malloc0(len + shift);
  memcpy(buf + shift, d, len);
  g_autofree char *enc = g_base64_encode(buf, len + shift);
  /* character i holds bits [6i, 6i + 6) of buf; the key's are [8 shift, 8 (shift + len)) */
  gsize first = (8 * shift + 5) / 6, last = (8 * (shift + len)) / 6; /* [first, last) */
  char *out = g_strndup(enc + first, last - first);
  if (url)
    g_strdelimit(g_strdelimit(out, "+", '-'), "/", '_');
  return out;
}

/* Where a key shows in data: NULL when nowhere, else the encoding found (g_free). */
static char *key_in(GBytes *key, const char *data, gsize len)
{
  gsize klen;
  const guint8 *k = g_bytes_get_data(key, &klen);
  if (memmem(data, len, k, klen))
    return g_strdup("raw bytes");
  g_autofree char *lower = g_malloc(2 * klen + 1), *upper = g_malloc(2 * klen + 1);
  for (gsize i = 0; i < klen; i++) {
    g_snprintf(lower + 2 * i, 3, "%02x", k[i]);
    g_snprintf(upper + 2 * i, 3, "%02X", k[i]);
  }
  if (memmem(data, len, lower, 2 * klen))
    return g_strdup("hex");
  if (memmem(data, len, upper, 2 * klen))
    return g_strdup("HEX");
  for (guint shift = 0; shift < 3; shift++)
    for (int url = 0; url <= 1; url++) {
      g_autofree char *b = b64_inner(key, shift, url);
      if (memmem(data, len, b, strlen(b)))
        return g_strdup_printf("base64%s (offset %u)", url ? "url" : "", shift);
    }
  return NULL;
}

/* Every secret against data; the findings, one line each (empty: none). */
static void search_secrets(const char *where, const char *data, gsize len, GString *found)
{
  for (guint i = 0; i < secrets->len; i++) {
    Secret *s = &g_array_index(secrets, Secret, i);
    g_autofree char *how = key_in(s->key, data, len);
    if (how)
      g_string_append_printf(found, "%s: %s in %s\n", where, s->what, how);
  }
}

static void search_file(const char *path, GString *found, guint *n_files, gsize *n_bytes)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &data, &len, NULL))
    return;
  search_secrets(path, data, len, found);
  (*n_files)++;
  *n_bytes += len;
}

/* The daemons' SQLite files (*.db, *.db-wal, *.db-shm) under dir. */
static void search_db_files(const char *dir, GString *found, guint *n_files, gsize *n_bytes,
                            GString *names)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name;
  while ((name = g_dir_read_name(d)))
    if (g_str_has_suffix(name, ".db") || g_str_has_suffix(name, ".db-wal") ||
        g_str_has_suffix(name, ".db-shm")) {
      g_autofree char *p = g_build_filename(dir, name, NULL);
      search_file(p, found, n_files, n_bytes);
      g_string_append_printf(names, " %s", name);
    }
}

/* The search finds what it looks for: each key of the key log in the key log (its hex), and
 * every other encoding of a key planted in a buffer. */
static void check_search_works(void)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(key_log, &text, &len, NULL));
  guint in_log = 0;
  for (guint i = 0; i < secrets->len; i++) {
    Secret *s = &g_array_index(secrets, Secret, i);
    if (g_str_has_prefix(s->what, "PSK of "))
      continue;
    g_autofree char *how = key_in(s->key, text, len);
    g_assert_cmpstr(how, ==, "hex");
    in_log++;
  }
  g_assert_cmpuint(in_log, >, 0);
  Secret *s = &g_array_index(secrets, Secret, secrets->len - 1);
  gsize klen;
  const guint8 *k = g_bytes_get_data(s->key, &klen);
  for (guint shift = 0; shift < 3; shift++) {
    /* the key inside a longer message, base64 as a whole (e.g. a MIKEY message in SDP) */
    g_autofree guint8 *msg = g_malloc0(klen + 7);
    memcpy(msg + 1 + shift, k, klen);
    g_autofree char *b64 = g_base64_encode(msg, klen + 7);
    g_autofree char *how = key_in(s->key, b64, strlen(b64));
    g_autofree char *expect = g_strdup_printf("base64 (offset %u)", (1 + shift) % 3);
    g_assert_cmpstr(how, ==, expect);
    g_strdelimit(g_strdelimit(b64, "+", '-'), "/", '_');
    g_autofree char *how_url = key_in(s->key, b64, strlen(b64));
    g_assert_nonnull(how_url);
  }
  g_autofree char *raw = g_malloc0(klen + 10);
  memcpy(raw + 5, k, klen);
  g_autofree char *how_raw = key_in(s->key, raw, klen + 10);
  g_assert_cmpstr(how_raw, ==, "raw bytes");
  GString *up = g_string_new("key: ");
  for (gsize i = 0; i < klen; i++)
    g_string_append_printf(up, "%02X", k[i]);
  g_autofree char *how_up = key_in(s->key, up->str, up->len);
  g_assert_cmpstr(how_up, ==, "HEX");
  g_string_free(up, TRUE);
}

static void test_key_hygiene(void)
{
  key_log = g_build_filename(H.tmp, "keys.log", NULL);
  /* debug logs everywhere: the KMS restarted with log-level=debug (the last line wins), the
   * focus with debug and SIP traces */
  g_autofree char *kconf = NULL;
  g_assert_true(g_file_get_contents(H.kms_conf, &kconf, NULL, NULL));
  g_autofree char *kconf_debug = g_strconcat(kconf, "log-level=debug\n", NULL);
  g_assert_true(g_file_set_contents(H.kms_conf, kconf_debug, -1, NULL));
  int kst = kms_stop();
  g_assert_cmpint(kst, ==, 0);
  kms_start(H.kms_port);
  confd_write_config("log-level=debug\nsip-trace=true\n");
  g_assert_cmpint(confd_stop(SIGTERM), ==, 0);
  confd_start();

  /* the demo run: creation, joins, removal by the owner's new ticket, a CSB update, a focus
   * ticket, the same ticket again, a kick, the load's conferences, the end */
  GString *outputs = g_string_new(NULL);
  RoundOpts ro = { .n = 1, .key_log = TRUE, .debug = TRUE, .outputs = outputs };
  churn_round(&ro);
  g_assert_true(wait_until(no_sip_legs, NULL, RUN_TIMEOUT_MS));
  /* the commands once more, after the end, and an end that is refused */
  g_autoptr(JsonParser) lp = NULL;
  JsonObject *list = ctl_json(&lp, NULL, "list", NULL);
  JsonArray *confs = json_object_get_array_member(list, "conferences");
  const char *last = json_object_get_string_member(
      json_array_get_object_element(confs, json_array_get_length(confs) - 1), "uri");
  ctl_all_commands(&ro, last);
  const char *end[] = { "end", last, NULL };
  ctl_round(&ro, TRUE, end);
  ctl_round(&ro, FALSE, end);

  /* the keys */
  secrets = g_array_new(FALSE, FALSE, sizeof(Secret));
  g_array_set_clear_func(secrets, (GDestroyNotify)secret_clear);
  secrets_from_credentials();
  g_autoptr(GHashTable) labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  guint n_session = secrets_from_key_log(key_log, labels);
  const char *need[] = {
    "MPKI", "TGK", "SRTP_TX_KEY", "SRTP_TX_SALT", "SRTP_RX_KEY", "SRTP_RX_SALT"
  };
  for (guint i = 0; i < G_N_ELEMENTS(need); i++) {
    if (!g_hash_table_contains(labels, need[i]))
      g_test_message("the key log has no %s", need[i]);
    g_assert_true(g_hash_table_contains(labels, need[i]));
  }
  check_search_works();

  /* where they must not be */
  GString *found = g_string_new(NULL);
  guint n_files = 0;
  gsize n_bytes = 0;
  g_autoptr(GDir) dir = g_dir_open(H.tmp, 0, NULL);
  const char *name;
  g_autoptr(GString) logs = g_string_new(NULL);
  while ((name = g_dir_read_name(dir)))
    if (g_str_has_suffix(name, ".log") && strcmp(name, "keys.log") != 0) {
      g_autofree char *p = g_build_filename(H.tmp, name, NULL);
      search_file(p, found, &n_files, &n_bytes);
      g_string_append_printf(logs, " %s", name);
    }
  g_autofree char *kms_state = g_build_filename(H.tmp, "kms", NULL);
  g_autoptr(GString) dbs = g_string_new(NULL);
  search_db_files(kms_state, found, &n_files, &n_bytes, dbs);
  search_db_files(H.state, found, &n_files, &n_bytes, dbs);
  search_secrets("mikeyua and mikeyconfctl output", outputs->str, outputs->len, found);
  g_test_message("%u keys (%u PSKs, %u session keys) searched for in %u files (logs:%s; "
                 "databases:%s), %zu bytes, and %zu bytes of program output",
                 secrets->len, secrets->len - n_session, n_session, n_files, logs->str, dbs->str,
                 n_bytes, outputs->len);
  if (found->len)
    g_test_message("keys found:\n%s", found->str);
  g_assert_cmpuint(found->len, ==, 0);
  g_assert_true(strstr(logs->str, "mikeyconfd.log") && strstr(logs->str, "kms.log"));
  g_assert_true(strstr(dbs->str, ".db-wal")); /* the daemons run: their WAL is there */
  /* the debug logs were written (the search covered something) */
  g_assert_cmpuint(outputs->len, >, 10000);
  g_string_free(found, TRUE);
  g_string_free(outputs, TRUE);
}

/* ------------------------------------------------------------------ the exits */

static void test_clean_exit(void)
{
  g_autofree char *kms_log = g_build_filename(H.tmp, "kms.log", NULL);
  int cst = confd_stop(SIGTERM);
  int kst = kms_stop();
  g_autofree char *ctext = NULL, *ktext = NULL;
  g_assert_true(g_file_get_contents(H.confd_log, &ctext, NULL, NULL));
  g_assert_true(g_file_get_contents(kms_log, &ktext, NULL, NULL));
  gboolean crep = sanitizer_report_in(ctext), krep = sanitizer_report_in(ktext);
  if (cst != 0 || crep) {
    gsize n = strlen(ctext);
    g_test_message("mikeyconfd: exit %d\n%s", cst, n > 20000 ? ctext + n - 20000 : ctext);
  }
  if (kst != 0 || krep) {
    gsize n = strlen(ktext);
    g_test_message("mikeykmsd: exit %d\n%s", kst, n > 20000 ? ktext + n - 20000 : ktext);
  }
#ifdef SAN_BUILD
  g_test_message("sanitizer build: LeakSanitizer checked both daemons at their exit");
#else
  g_test_message("not a sanitizer build: exit statuses checked, no LeakSanitizer");
#endif
  g_assert_cmpint(cst, ==, 0);
  g_assert_cmpint(kst, ==, 0);
  g_assert_false(crep);
  g_assert_false(krep);
  /* the databases once the WAL is merged */
  if (secrets) {
    GString *found = g_string_new(NULL);
    guint n_files = 0;
    gsize n_bytes = 0;
    g_autoptr(GString) dbs = g_string_new(NULL);
    g_autofree char *kms_state = g_build_filename(H.tmp, "kms", NULL);
    search_db_files(kms_state, found, &n_files, &n_bytes, dbs);
    search_db_files(H.state, found, &n_files, &n_bytes, dbs);
    g_test_message("after the exits: %u keys searched for in%s (%zu bytes)", secrets->len, dbs->str,
                   n_bytes);
    if (found->len)
      g_test_message("keys found:\n%s", found->str);
    g_assert_cmpuint(found->len, ==, 0);
    g_assert_cmpuint(n_files, >=, 2);
    g_string_free(found, TRUE);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Sanitizer builds: ASan keeps freed memory in a quarantine (256 MiB by default) that would
   * grow the daemons' RSS for minutes; a small one fills during the warm-up. */
  const char *asan = g_getenv("ASAN_OPTIONS");
  g_autofree char *opts =
      g_strdup_printf("%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : "");
  g_setenv("ASAN_OPTIONS", opts, TRUE);
  harness_setup();
  for (guint i = 1; i <= N_USERS; i++) {
    g_autofree char *uri = g_strdup_printf("sip:user%u@example.org", i);
    g_autofree char *name = g_strdup_printf("user%u", i);
    g_autofree char *cred = add_user(uri, name, NULL, NULL);
    point_at_kms(cred, H.kms_url);
  }
  g_test_add_func("/soak/churn", test_churn);
  g_test_add_func("/soak/key-hygiene", test_key_hygiene);
  g_test_add_func("/soak/clean-exit", test_clean_exit);
  int status = g_test_run();
  if (secrets)
    g_array_unref(secrets);
  g_free(key_log);
  harness_teardown(status);
  return status;
}
