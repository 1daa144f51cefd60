/* test-focus-ctl: the real mikeyconfctl ($MIKEYCONFCTL or $G_TEST_BUILDDIR/../src/ctl/
 * mikeyconfctl) against a control server (src/focus/control.c) run by this test on its own
 * main loop, with a stub handler standing in for mikeyconfd: every command's table and JSON
 * output, exit statuses (0 done, 1 refused or unreachable, 2 usage), the daemon-not-running and
 * unknown-conference messages, paging through events, events --follow, a daemon that never
 * answers. (--help against mikeyconfctl(8): test-man.) */
#include "focus/control.h"

#include "common/log.h"
#include "common/sipuri.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#define ASAN_TLS_WORKAROUND "intercept_tls_get_addr=0"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define CONF "sip:conf-00112233445566778899aabbccddeeff@conf.example.org"
#define CONF2 "sip:conf-ffeeddccbbaa99887766554433221100@conf.example.org"
#define UNKNOWN "sip:conf-0000000000000000000000000000dead@conf.example.org"
#define RUN_TIMEOUT_MS 60000

typedef struct {
  int unused;
} Fixture;

static struct {
  char *bin;
  char *tmp;
  char *path; /* the control socket */
  FocusRegistry *reg;
  GPtrArray *events; /* JsonNode*, ids 1..n */
  FocusControl *ctl;
} G;

/* ------------------------------------------------------------------ the stub daemon */

static void add_event(const char *conference, const char *identity, const char *decision,
                      const char *reason, gboolean publish)
{
  FocusAuditEvent ev = { 0 };
  ev.id = (gint64)G.events->len + 1;
  ev.time = 1700000000000000 + ev.id * 1000;
  ev.conference = g_strdup(conference);
  ev.identity = g_strdup(identity);
  ev.source = g_strdup("192.0.2.7:5060");
  ev.decision = g_strdup(decision);
  ev.reason = g_strdup(reason);
  JsonNode *node = focus_control_event_json(&ev);
  g_ptr_array_add(G.events, node);
  if (publish && G.ctl != NULL)
    focus_control_publish_event(G.ctl, node);
  focus_audit_event_clear(&ev);
}

static JsonNode *object_node(JsonObject *o)
{
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

static FocusConf *lookup(JsonObject *req, GError **error)
{
  const char *uri = json_object_get_string_member(req, "conference");
  FocusConf *conf = focus_registry_lookup(G.reg, uri);
  if (conf == NULL)
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND, "unknown conference %s",
                uri);
  return conf;
}

static JsonNode *handle(const char *cmd, JsonObject *req, GError **error, gpointer data)
{
  JsonObject *o = json_object_new();
  if (strcmp(cmd, "list") == 0) {
    JsonArray *arr = json_array_new();
    GList *list = focus_registry_list(G.reg);
    for (GList *l = list; l != NULL; l = l->next) {
      JsonNode *n = focus_control_conf_json(l->data);
      json_object_set_int_member(json_node_get_object(n), "participants",
                                 ((FocusConf *)l->data)->ended ? 0 : 1);
      json_array_add_element(arr, n);
    }
    g_list_free(list);
    json_object_set_array_member(o, "conferences", arr);
  } else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "allowed") == 0 || strcmp(cmd, "kick") == 0 ||
             strcmp(cmd, "end") == 0) {
    FocusConf *conf = lookup(req, error);
    if (conf == NULL) {
      json_object_unref(o);
      return NULL;
    }
    JsonNode *cj = focus_control_conf_json(conf);
    if (strcmp(cmd, "show") == 0) {
      JsonArray *parts = json_array_new();
      if (conf->ended == 0) {
        JsonObject *p = json_object_new();
        json_object_set_string_member(p, "identity", BOB);
        json_object_set_string_member(p, "address", "192.0.2.7:40000");
        json_object_set_string_member(p, "codec", "PCMU");
        json_object_set_string_member(p, "srtp", "AES_CM_128_HMAC_SHA1_80");
        json_object_set_int_member(p, "packets_in", 1500);
        json_object_set_int_member(p, "packets_out", 1499);
        json_object_set_int_member(p, "lost", 1);
        json_object_set_double_member(p, "jitter_ms", 2.5);
        json_array_add_object_element(parts, p);
      }
      json_object_set_array_member(json_node_get_object(cj), "participants", parts);
      json_object_set_member(o, "conference", g_steal_pointer(&cj));
    } else if (strcmp(cmd, "allowed") == 0) {
      json_object_set_string_member(o, "conference", conf->uri);
      json_object_set_member(
          o, "allowed",
          json_node_copy(json_object_get_member(json_node_get_object(cj), "allowed")));
    } else if (strcmp(cmd, "kick") == 0) {
      const char *who = json_object_get_string_member(req, "identity");
      if (!focus_conf_allows(conf, who)) {
        g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND,
                    "%s is not in conference %s", who, conf->uri);
        json_node_unref(cj);
        json_object_unref(o);
        return NULL;
      }
      add_event(conf->uri, who, "kicked", "operator", TRUE);
      json_object_set_string_member(o, "conference", conf->uri);
      json_object_set_int_member(o, "legs", 2);
    } else {
      if (conf->ended) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "conference %s has ended", conf->uri);
        json_node_unref(cj);
        json_object_unref(o);
        return NULL;
      }
      conf->ended = 1700000500;
      add_event(conf->uri, NULL, "ended", "operator", TRUE);
      json_object_set_string_member(o, "conference", conf->uri);
      json_object_set_int_member(o, "ended", conf->ended);
    }
    if (cj != NULL)
      json_node_unref(cj);
  } else if (strcmp(cmd, "stats") == 0) {
    JsonObject *st = json_object_new();
    JsonObject *confs = json_object_new();
    json_object_set_int_member(confs, "live", focus_registry_count(G.reg, TRUE));
    json_object_set_int_member(
        confs, "ended", focus_registry_count(G.reg, FALSE) - focus_registry_count(G.reg, TRUE));
    json_object_set_object_member(st, "conferences", confs);
    JsonObject *res = json_object_new();
    json_object_set_int_member(res, "count", 42);
    json_object_set_double_member(res, "p50_ms", 1.25);
    json_object_set_object_member(st, "resolves", res);
    JsonObject *ref = json_object_new();
    json_object_set_int_member(ref, "not-in-allowed-set", 3);
    json_object_set_object_member(st, "refusals", ref);
    json_object_set_object_member(o, "stats", st);
  } else if (strcmp(cmd, "events") == 0) {
    gint64 after = json_object_get_int_member_with_default(req, "after", 0);
    gint64 limit = json_object_get_int_member_with_default(req, "limit", 1000);
    const char *conf = json_object_get_string_member_with_default(req, "conference", NULL);
    JsonArray *arr = json_array_new();
    for (guint i = (guint)MIN(after, (gint64)G.events->len);
         i < G.events->len && json_array_get_length(arr) < limit; i++) {
      JsonNode *ev = g_ptr_array_index(G.events, i);
      const char *c =
          json_object_get_string_member_with_default(json_node_get_object(ev), "conference", "");
      if (conf == NULL || sip_uri_equal(c, conf))
        json_array_add_element(arr, json_node_copy(ev));
    }
    json_object_set_array_member(o, "events", arr);
  }
  return object_node(o);
}

/* ------------------------------------------------------------------ running mikeyconfctl */

static void child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *spawn(GPtrArray *argv)
{
  g_autoptr(GSubprocessLauncher) l =
      g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  g_subprocess_launcher_setenv(l, "LC_ALL", "C.UTF-8", TRUE);
  const char *asan = g_getenv("ASAN_OPTIONS");
  if (asan == NULL || strstr(asan, "intercept_tls_get_addr") == NULL) {
    g_autofree char *opts = asan != NULL && *asan
                                ? g_strconcat(asan, ":", ASAN_TLS_WORKAROUND, NULL)
                                : g_strdup(ASAN_TLS_WORKAROUND);
    g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
  }
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
  g_assert_no_error(error);
  return proc;
}

static GPtrArray *argv_new(gboolean with_socket, va_list ap)
{
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.bin);
  if (with_socket) {
    g_ptr_array_add(argv, (char *)"--socket");
    g_ptr_array_add(argv, G.path);
  }
  for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  g_ptr_array_add(argv, NULL);
  return argv;
}

typedef struct {
  gboolean done;
  char *out, *err;
} Run;

static void on_communicated(GObject *source, GAsyncResult *res, gpointer data)
{
  Run *r = data;
  g_autoptr(GError) error = NULL;
  g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), res, &r->out, &r->err, &error);
  g_assert_no_error(error);
  r->done = TRUE;
}

/* Runs argv to its end while this test's main loop serves the control socket. */
static int run_argv(GPtrArray *argv, char **out, char **err)
{
  g_autoptr(GSubprocess) proc = spawn(argv);
  Run r = { 0 };
  g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_communicated, &r);
  gint64 deadline = g_get_monotonic_time() + RUN_TIMEOUT_MS * 1000;
  while (!r.done) {
    if (g_get_monotonic_time() > deadline) {
      g_subprocess_force_exit(proc);
      g_test_message("mikeyconfctl did not finish within %d ms", RUN_TIMEOUT_MS);
      g_assert_not_reached();
    }
    g_main_context_iteration(NULL, TRUE);
  }
  g_assert_true(g_subprocess_get_if_exited(proc));
  int status = g_subprocess_get_exit_status(proc);
  if (out != NULL)
    *out = g_steal_pointer(&r.out);
  if (err != NULL)
    *err = g_steal_pointer(&r.err);
  g_free(r.out);
  g_free(r.err);
  return status;
}

/* mikeyconfctl --socket PATH ARGS...: the exit status, stdout and stderr. */
static int ctl(char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
static int ctl(char **out, char **err, ...)
{
  va_list ap;
  va_start(ap, err);
  g_autoptr(GPtrArray) argv = argv_new(TRUE, ap);
  va_end(ap);
  return run_argv(argv, out, err);
}

/* mikeyconfctl ARGS... (no --socket added). */
static int ctl_bare(char **out, char **err, ...) G_GNUC_NULL_TERMINATED;
static int ctl_bare(char **out, char **err, ...)
{
  va_list ap;
  va_start(ap, err);
  g_autoptr(GPtrArray) argv = argv_new(FALSE, ap);
  va_end(ap);
  return run_argv(argv, out, err);
}

static JsonObject *parse_object(const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_data(parser, text, -1, &error))
    g_test_message("not JSON: %s", text);
  g_assert_no_error(error);
  JsonNode *root = json_parser_get_root(parser);
  g_assert_nonnull(root);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
  return json_object_ref(json_node_get_object(root));
}

static void assert_contains(const char *text, const char *part)
{
  if (strstr(text, part) == NULL)
    g_test_message("\"%s\" not found in:\n%s", part, text);
  g_assert_nonnull(strstr(text, part));
}

/* A "KEY   VALUE" row of a two-column table. */
static void assert_row(const char *line, const char *key, const char *value)
{
  g_assert_true(g_str_has_prefix(line, key));
  g_autofree char *rest = g_strdup(line + strlen(key));
  g_assert_true(rest[0] == ' ' && rest[1] == ' ');
  g_assert_cmpstr(g_strstrip(rest), ==, value);
}

static guint count_lines(const char *text)
{
  guint n = 0;
  for (const char *p = text; *p; p++)
    n += *p == '\n';
  return n;
}

/* ------------------------------------------------------------------ fixture */

static void rm_rf(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
    }
    g_dir_close(dir);
  }
  g_remove(path);
}

static void setup(Fixture *f, gconstpointer data)
{
  G.reg = focus_registry_new();
  g_autoptr(GPtrArray) allowed = g_ptr_array_new();
  g_ptr_array_add(allowed, (gpointer)BOB);
  focus_registry_add(G.reg, focus_conf_new(CONF, ALICE, allowed, "fp-1", 1700000000));
  FocusConf *ended = focus_conf_new(CONF2, CAROL, NULL, NULL, 1700000100);
  ended->ended = 1700000200;
  focus_registry_add(G.reg, ended);
  G.events = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  G.path = g_build_filename(G.tmp, "mikeyconfd.sock", NULL);
  g_autoptr(GError) error = NULL;
  G.ctl = focus_control_new(G.path, handle, NULL, &error);
  g_assert_no_error(error);
}

static void teardown(Fixture *f, gconstpointer data)
{
  focus_control_free(G.ctl);
  G.ctl = NULL;
  while (g_main_context_iteration(NULL, FALSE))
    ;
  focus_registry_free(G.reg);
  g_ptr_array_unref(G.events);
  g_free(G.path);
}

/* ------------------------------------------------------------------ tests */

static void test_list(Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(ctl(&out, &err, "list", NULL), ==, 0);
  g_test_message("%s", out);
  assert_contains(out, "CONFERENCE");
  assert_contains(out, "PARTICIPANTS");
  g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 4); /* header, two rows, "" */
  assert_contains(lines[1], CONF);
  assert_contains(lines[1], ALICE);
  assert_contains(lines[1], "2023-11-14 22:13:20Z");
  g_assert_true(g_str_has_suffix(lines[1], "live"));
  assert_contains(lines[2], CONF2);
  g_assert_true(g_str_has_suffix(lines[2], "ended"));
  g_assert_cmpstr(err, ==, "");

  g_autofree char *json = NULL;
  g_assert_cmpint(ctl(&json, NULL, "--json", "list", NULL), ==, 0);
  g_assert_cmpuint(count_lines(json), ==, 1);
  g_autoptr(JsonObject) o = parse_object(json);
  g_assert_true(json_object_get_boolean_member(o, "ok"));
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "conferences")), ==, 2);
}

static void test_show(Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_assert_cmpint(ctl(&out, NULL, "show", CONF, NULL), ==, 0);
  g_test_message("%s", out);
  assert_contains(out, "conference    " CONF "\n");
  assert_contains(out, "owner         " ALICE "\n");
  assert_contains(out, "state         live\n");
  assert_contains(out, "ticket        fp-1\n");
  assert_contains(out, "allowed       " ALICE "\n              " BOB "\n");
  assert_contains(out, "participants  1\n");
  assert_contains(out, "  IDENTITY");
  assert_contains(out, "JITTER MS");
  assert_contains(out, "192.0.2.7:40000");
  assert_contains(out, "AES_CM_128_HMAC_SHA1_80");
  assert_contains(out, "1500");
  assert_contains(out, "2.5");

  g_autofree char *ended = NULL;
  g_assert_cmpint(ctl(&ended, NULL, "show", CONF2, NULL), ==, 0);
  assert_contains(ended, "state         ended 2023-11-14 22:16:40Z\n");
  assert_contains(ended, "participants  0\n");

  /* unknown conference: the daemon's words, status 1 */
  g_autofree char *out2 = NULL, *err2 = NULL;
  g_assert_cmpint(ctl(&out2, &err2, "show", UNKNOWN, NULL), ==, 1);
  g_assert_cmpstr(out2, ==, "");
  g_assert_cmpstr(err2, ==, "mikeyconfctl: unknown conference " UNKNOWN "\n");
  g_autofree char *out3 = NULL;
  g_assert_cmpint(ctl(&out3, NULL, "--json", "show", UNKNOWN, NULL), ==, 1);
  g_autoptr(JsonObject) o = parse_object(out3);
  g_assert_false(json_object_get_boolean_member(o, "ok"));
  g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "not-found");

  /* a CONF that is no URI: refused by the server's validation */
  g_autofree char *err4 = NULL;
  g_assert_cmpint(ctl(NULL, &err4, "show", "conf-1", NULL), ==, 1);
  assert_contains(err4, "\"conference\" is not a URI");
}

static void test_allowed(Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_assert_cmpint(ctl(&out, NULL, "allowed", CONF, NULL), ==, 0);
  g_assert_cmpstr(out, ==, ALICE "\n" BOB "\n");
  g_autofree char *json = NULL;
  g_assert_cmpint(ctl(&json, NULL, "allowed", "--json", CONF, NULL), ==, 0);
  g_autoptr(JsonObject) o = parse_object(json);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "allowed")), ==, 2);
}

static void test_kick_end(Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_assert_cmpint(ctl(&out, NULL, "kick", CONF, BOB, NULL), ==, 0);
  g_assert_cmpstr(out, ==, "kicked " BOB " from " CONF " (2 legs)\n");
  g_autofree char *err = NULL;
  g_assert_cmpint(ctl(NULL, &err, "kick", CONF, CAROL, NULL), ==, 1);
  g_assert_cmpstr(err, ==, "mikeyconfctl: " CAROL " is not in conference " CONF "\n");

  g_autofree char *out2 = NULL;
  g_assert_cmpint(ctl(&out2, NULL, "end", CONF, NULL), ==, 0);
  g_assert_cmpstr(out2, ==, "ended " CONF "\n");
  g_autofree char *err2 = NULL, *out3 = NULL;
  g_assert_cmpint(ctl(&out3, &err2, "--json", "end", CONF, NULL), ==, 1);
  assert_contains(err2, "has ended");
  g_autoptr(JsonObject) o = parse_object(out3);
  g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "conflict");
  g_assert_cmpuint(G.events->len, ==, 2);
}

static void test_stats(Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_assert_cmpint(ctl(&out, NULL, "stats", NULL), ==, 0);
  g_test_message("%s", out);
  g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 6);
  assert_row(lines[0], "conferences.live", "1");
  assert_row(lines[1], "conferences.ended", "1");
  assert_row(lines[2], "resolves.count", "42");
  assert_row(lines[3], "resolves.p50_ms", "1.25");
  assert_row(lines[4], "refusals.not-in-allowed-set", "3");
  g_autofree char *json = NULL;
  g_assert_cmpint(ctl(&json, NULL, "stats", "-j", NULL), ==, 0);
  g_autoptr(JsonObject) o = parse_object(json);
  g_assert_nonnull(json_object_get_object_member(o, "stats"));
}

static void test_events(Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 2500; i++)
    add_event(i % 5 ? CONF : CONF2, i % 2 ? BOB : CAROL, i % 2 ? "admitted" : "refused",
              i % 2 ? NULL : "not-in-allowed-set", FALSE);
  /* three pages, one line each, in order */
  g_autofree char *out = NULL;
  g_assert_cmpint(ctl(&out, NULL, "events", NULL), ==, 0);
  g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 2501);
  g_assert_cmpstr(lines[0], ==,
                  "2023-11-14 22:13:20.001Z #1 refused (not-in-allowed-set) " CONF2 " " CAROL
                  " from 192.0.2.7:5060");
  g_assert_cmpstr(lines[1], ==,
                  "2023-11-14 22:13:20.002Z #2 admitted " CONF " " BOB " from 192.0.2.7:5060");
  for (guint i = 0; i < 2500; i++) {
    g_autofree char *id = g_strdup_printf(" #%u ", i + 1);
    assert_contains(lines[i], id);
  }
  g_autofree char *after = NULL;
  g_assert_cmpint(ctl(&after, NULL, "events", "--after", "2400", NULL), ==, 0);
  g_assert_cmpuint(count_lines(after), ==, 100);
  g_assert_true(g_str_has_prefix(after, "2023-11-14 22:13:22.401Z #2401 "));
  g_autofree char *one = NULL;
  g_assert_cmpint(ctl(&one, NULL, "events", "--conference", CONF2, NULL), ==, 0);
  g_assert_cmpuint(count_lines(one), ==, 500);
  g_autofree char *json = NULL;
  g_assert_cmpint(ctl(&json, NULL, "--json", "events", "--after=10", NULL), ==, 0);
  g_assert_cmpuint(count_lines(json), ==, 1);
  g_autoptr(JsonObject) o = parse_object(json);
  JsonArray *arr = json_object_get_array_member(o, "events");
  g_assert_cmpuint(json_array_get_length(arr), ==, 2490);
  g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(arr, 0), "id"), ==, 11);
  /* none */
  g_autofree char *none = NULL;
  g_assert_cmpint(ctl(&none, NULL, "events", "--after", "99999", NULL), ==, 0);
  g_assert_cmpstr(none, ==, "");
}

/* events --follow: the stored events, then each published one as it happens. */
typedef struct {
  GPtrArray *lines;
  GDataInputStream *in;
  gboolean eof;
} Reader;

static void on_line(GObject *source, GAsyncResult *res, gpointer data)
{
  Reader *r = data;
  gsize len;
  char *line =
      g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), res, &len, NULL);
  if (line == NULL) {
    r->eof = TRUE;
    return;
  }
  g_ptr_array_add(r->lines, line);
  g_data_input_stream_read_line_async(r->in, G_PRIORITY_DEFAULT, NULL, on_line, r);
}

static void wait_lines(Reader *r, guint n)
{
  gint64 deadline = g_get_monotonic_time() + RUN_TIMEOUT_MS * 1000;
  while (r->lines->len < n && !r->eof) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_main_context_iteration(NULL, TRUE);
  }
  if (r->lines->len < n)
    g_test_message("got %u lines of %u", r->lines->len, n);
  g_assert_cmpuint(r->lines->len, >=, n);
}

static void on_exited(GObject *source, GAsyncResult *res, gpointer data)
{
  g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
  *(gboolean *)data = TRUE;
}

static void follow(gboolean json)
{
  for (guint i = 0; i < 3; i++)
    add_event(CONF, BOB, "admitted", NULL, FALSE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.bin);
  g_ptr_array_add(argv, (char *)"--socket");
  g_ptr_array_add(argv, G.path);
  if (json)
    g_ptr_array_add(argv, (char *)"--json");
  g_ptr_array_add(argv, (char *)"events");
  g_ptr_array_add(argv, (char *)"--follow");
  g_ptr_array_add(argv, (char *)"--after=1");
  g_ptr_array_add(argv, NULL);
  g_autoptr(GSubprocess) proc = spawn(argv);
  Reader r = { g_ptr_array_new_with_free_func(g_free), NULL, FALSE };
  r.in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
  g_data_input_stream_read_line_async(r.in, G_PRIORITY_DEFAULT, NULL, on_line, &r);
  guint first = json ? 1 : 0; /* --json prints the daemon's {"ok":true,"following":true} */
  wait_lines(&r, first + 2);
  if (json) {
    g_autoptr(JsonObject) head = parse_object(g_ptr_array_index(r.lines, 0));
    g_assert_true(json_object_get_boolean_member(head, "following"));
  }
  /* wait until the daemon side follows, then publish */
  gint64 deadline = g_get_monotonic_time() + RUN_TIMEOUT_MS * 1000;
  while (focus_control_n_followers(G.ctl) < 1 && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, FALSE);
  add_event(CONF, CAROL, "refused", "not-in-allowed-set", TRUE);
  add_event(CONF, NULL, "ended", "empty-timeout", TRUE);
  wait_lines(&r, first + 4);
  for (guint i = 0; i < 4; i++) {
    const char *line = g_ptr_array_index(r.lines, first + i);
    if (json) {
      g_autoptr(JsonObject) o = parse_object(line);
      JsonObject *ev = json_object_get_object_member(o, "event");
      g_assert_cmpint(json_object_get_int_member(ev, "id"), ==, i + 2);
    } else {
      g_autofree char *id = g_strdup_printf(" #%u ", i + 2);
      assert_contains(line, id);
    }
  }
  if (!json)
    assert_contains(g_ptr_array_index(r.lines, 2), "refused (not-in-allowed-set) " CONF " " CAROL);

  /* the daemon goes away: the follower ends with status 1 */
  focus_control_free(G.ctl);
  G.ctl = NULL;
  gboolean exited = FALSE;
  g_subprocess_wait_async(proc, NULL, on_exited, &exited);
  deadline = g_get_monotonic_time() + RUN_TIMEOUT_MS * 1000;
  while (!exited && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, TRUE);
  g_assert_true(exited);
  g_assert_true(g_subprocess_get_if_exited(proc));
  g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 1);
  GInputStream *err_pipe = g_subprocess_get_stderr_pipe(proc);
  char buf[512] = { 0 };
  gsize n = 0;
  g_input_stream_read_all(err_pipe, buf, sizeof buf - 1, &n, NULL, NULL);
  assert_contains(buf, "mikeyconfd closed the connection");
  while (!r.eof)
    g_main_context_iteration(NULL, TRUE);
  g_object_unref(r.in);
  g_ptr_array_unref(r.lines);
}

static void test_follow(Fixture *f, gconstpointer data)
{
  follow(FALSE);
}

static void test_follow_json(Fixture *f, gconstpointer data)
{
  follow(TRUE);
}

static void test_not_running(Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename(G.tmp, "no-such.sock", NULL);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(ctl_bare(&out, &err, "--socket", missing, "list", NULL), ==, 1);
  g_autofree char *want =
      g_strdup_printf("mikeyconfctl: mikeyconfd is not running (no socket at %s)\n", missing);
  g_assert_cmpstr(err, ==, want);
  g_assert_cmpstr(out, ==, "");
  g_autofree char *json = NULL;
  g_assert_cmpint(ctl_bare(&json, NULL, "--socket", missing, "--json", "stats", NULL), ==, 1);
  g_autoptr(JsonObject) o = parse_object(json);
  g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "not-running");

  /* a socket file left by a crash */
  focus_control_free(G.ctl);
  G.ctl = NULL;
  {
    g_autoptr(GSocket) s =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(G.path);
    g_assert_true(g_socket_bind(s, addr, FALSE, NULL));
    g_socket_close(s, NULL);
  }
  g_autofree char *err2 = NULL;
  g_assert_cmpint(ctl(NULL, &err2, "list", NULL), ==, 1);
  assert_contains(err2, "mikeyconfd is not running (nobody answers on");
  g_unlink(G.path);

  /* the default path is documented and used */
  g_autofree char *help = NULL;
  g_assert_cmpint(ctl_bare(&help, NULL, "--help", NULL), ==, 0);
  assert_contains(help, FOCUS_CONTROL_DEFAULT_SOCKET);
}

/* A daemon that accepts the connection and never answers. */
static void test_timeout(Fixture *f, gconstpointer data)
{
  focus_control_free(G.ctl);
  G.ctl = NULL;
  g_autoptr(GSocket) s =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(G.path);
  g_assert_true(g_socket_bind(s, addr, FALSE, NULL));
  g_assert_true(g_socket_listen(s, NULL));
  g_autofree char *err = NULL;
  gint64 t0 = g_get_monotonic_time();
  g_assert_cmpint(ctl(NULL, &err, "--timeout", "1", "list", NULL), ==, 1);
  g_assert_cmpstr(err, ==, "mikeyconfctl: no answer from mikeyconfd within 1 s\n");
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 20 * G_USEC_PER_SEC);
  g_socket_close(s, NULL);
  g_unlink(G.path);
}

static void test_usage(Fixture *f, gconstpointer data)
{
  const struct {
    const char *args[4];
    const char *message;
  } cases[] = {
    { { NULL }, "no command given" },
    { { "frobnicate", NULL }, "unknown command 'frobnicate'" },
    { { "show", NULL }, "usage: mikeyconfctl show CONF" },
    { { "list", "extra", NULL }, "usage: mikeyconfctl list" },
    { { "kick", CONF, NULL }, "usage: mikeyconfctl kick CONF URI" },
    { { "list", "--follow", NULL }, "belong to the events command" },
    { { "stats", "--after", "3", NULL }, "belong to the events command" },
    { { "--bogus", "list", NULL }, "--bogus" },
    { { "events", "--after", "x", NULL }, "--after" },
    { { "--timeout", "0", "list", NULL }, "--timeout" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, G.bin);
    g_ptr_array_add(argv, (char *)"--socket");
    g_ptr_array_add(argv, G.path);
    for (guint k = 0; k < 4 && cases[i].args[k] != NULL; k++)
      g_ptr_array_add(argv, (char *)cases[i].args[k]);
    g_ptr_array_add(argv, NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint(run_argv(argv, &out, &err), ==, 2);
    assert_contains(err, cases[i].message);
    assert_contains(err, "Try 'mikeyconfctl --help'.");
    g_assert_cmpstr(out, ==, "");
  }
  g_autofree char *version = NULL;
  g_assert_cmpint(ctl_bare(&version, NULL, "--version", NULL), ==, 0);
  g_assert_cmpstr(version, ==, "mikeyconfctl " PACKAGE_VERSION "\n");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_init("test-focus-ctl", "error", NULL);
  const char *bin = g_getenv("MIKEYCONFCTL");
  G.bin = bin != NULL
              ? g_strdup(bin)
              : g_test_build_filename(G_TEST_BUILT, "..", "src", "ctl", "mikeyconfctl", NULL);
  if (!g_file_test(G.bin, G_FILE_TEST_IS_EXECUTABLE)) {
    g_printerr("test-focus-ctl: no mikeyconfctl at %s (run make first, or set MIKEYCONFCTL)\n",
               G.bin);
    return 1;
  }
  g_autoptr(GError) error = NULL;
  G.tmp = g_dir_make_tmp("test-focus-ctl-XXXXXX", &error);
  g_assert_no_error(error);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
  ADD("/ctl/list", test_list);
  ADD("/ctl/show", test_show);
  ADD("/ctl/allowed", test_allowed);
  ADD("/ctl/kick-end", test_kick_end);
  ADD("/ctl/stats", test_stats);
  ADD("/ctl/events", test_events);
  ADD("/ctl/events-follow", test_follow);
  ADD("/ctl/events-follow-json", test_follow_json);
  ADD("/ctl/not-running", test_not_running);
  ADD("/ctl/timeout", test_timeout);
  ADD("/ctl/usage", test_usage);
  int status = g_test_run();
  rm_rf(G.tmp);
  g_free(G.tmp);
  g_free(G.bin);
  return status;
}
