/* The control socket (src/focus/control.c): a server on this test's main loop with a stub
 * handler standing in for the daemon, and raw clients on the socket. Every command's request
 * and response, malformed and oversized requests, many clients, the audit stream
 * (backlog pages, then published events, in order, each once), slow and idle clients, the
 * socket file (mode 0660, a second server refused, a stale file replaced), and the pure pieces
 * (framing, validation) the fuzz harness drives. */
#include "focus/control.h"

#include "common/log.h"
#include "common/sipuri.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define CONF "sip:conf-00112233445566778899aabbccddeeff@conf.example.org"
#define CONF2 "sip:conf-ffeeddccbbaa99887766554433221100@conf.example.org"
#define UNKNOWN "sip:conf-0000000000000000000000000000dead@conf.example.org"
#define WAIT_MS 5000

/* ------------------------------------------------------------------ the stub daemon */

typedef struct {
  FocusRegistry *reg;
  GPtrArray *events; /* JsonNode*, ids 1..n */
  FocusControl *ctl; /* for publishing */
  char *last_cmd;
  char *last_peer;
  guint calls;
  guint events_calls;
} Stub;

static void stub_event(Stub *s, const char *conference, const char *identity, const char *decision,
                       const char *reason, gboolean publish)
{
  FocusAuditEvent ev = { 0 };
  ev.id = (gint64)s->events->len + 1;
  ev.time = 1700000000000000 + ev.id;
  ev.conference = g_strdup(conference);
  ev.identity = g_strdup(identity);
  ev.source = g_strdup("192.0.2.7:5060");
  ev.decision = g_strdup(decision);
  ev.reason = g_strdup(reason);
  JsonNode *node = focus_control_event_json(&ev);
  g_ptr_array_add(s->events, node);
  if (publish && s->ctl != NULL)
    focus_control_publish_event(s->ctl, node);
  focus_audit_event_clear(&ev);
}

static void stub_init(Stub *s)
{
  memset(s, 0, sizeof *s);
  s->reg = focus_registry_new();
  s->events = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  g_autoptr(GPtrArray) allowed = g_ptr_array_new();
  g_ptr_array_add(allowed, (gpointer)BOB);
  focus_registry_add(s->reg, focus_conf_new(CONF, ALICE, allowed, "fp1", 1000));
  focus_registry_add(s->reg, focus_conf_new(CONF2, CAROL, NULL, NULL, 2000));
}

static void stub_clear(Stub *s)
{
  focus_registry_free(s->reg);
  g_ptr_array_unref(s->events);
  g_free(s->last_cmd);
  g_free(s->last_peer);
}

static JsonNode *object_node(JsonObject *o)
{
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

static FocusConf *stub_conf(Stub *s, JsonObject *req, GError **error)
{
  const char *uri = json_object_get_string_member(req, "conference");
  FocusConf *conf = focus_registry_lookup(s->reg, uri);
  if (conf == NULL)
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND, "unknown conference %s",
                uri);
  return conf;
}

static JsonNode *stub_handle(const char *cmd, JsonObject *req, GError **error, gpointer data)
{
  Stub *s = data;
  s->calls++;
  g_free(s->last_cmd);
  s->last_cmd = g_strdup(cmd);
  g_free(s->last_peer);
  s->last_peer = g_strdup(json_object_get_string_member_with_default(req, "peer", NULL));
  g_assert_false(json_object_has_member(req, "follow"));

  if (strcmp(cmd, "list") == 0) {
    JsonArray *arr = json_array_new();
    GList *list = focus_registry_list(s->reg);
    for (GList *l = list; l != NULL; l = l->next) {
      JsonNode *n = focus_control_conf_json(l->data);
      json_object_set_int_member(json_node_get_object(n), "participants", 1);
      json_array_add_element(arr, n);
    }
    g_list_free(list);
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "conferences", arr);
    return object_node(o);
  }
  if (strcmp(cmd, "show") == 0) {
    FocusConf *conf = stub_conf(s, req, error);
    if (conf == NULL)
      return NULL;
    JsonNode *n = focus_control_conf_json(conf);
    JsonArray *parts = json_array_new();
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "identity", BOB);
    json_object_set_string_member(p, "address", "192.0.2.7:40000");
    json_object_set_string_member(p, "codec", "PCMU");
    json_array_add_object_element(parts, p);
    json_object_set_array_member(json_node_get_object(n), "participants", parts);
    JsonObject *o = json_object_new();
    json_object_set_member(o, "conference", n);
    return object_node(o);
  }
  if (strcmp(cmd, "allowed") == 0) {
    FocusConf *conf = stub_conf(s, req, error);
    if (conf == NULL)
      return NULL;
    JsonNode *n = focus_control_conf_json(conf);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_member(
        o, "allowed", json_node_copy(json_object_get_member(json_node_get_object(n), "allowed")));
    json_node_unref(n);
    return object_node(o);
  }
  if (strcmp(cmd, "kick") == 0) {
    FocusConf *conf = stub_conf(s, req, error);
    if (conf == NULL)
      return NULL;
    const char *who = json_object_get_string_member(req, "identity");
    if (!focus_conf_allows(conf, who)) {
      g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND,
                  "%s is not in conference %s", who, conf->uri);
      return NULL;
    }
    stub_event(s, conf->uri, who, "kicked", "operator", TRUE);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_string_member(o, "identity", who);
    json_object_set_int_member(o, "legs", 2);
    return object_node(o);
  }
  if (strcmp(cmd, "end") == 0) {
    FocusConf *conf = stub_conf(s, req, error);
    if (conf == NULL)
      return NULL;
    if (conf->ended) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "conference %s has ended", conf->uri);
      return NULL;
    }
    conf->ended = 3000;
    stub_event(s, conf->uri, NULL, "ended", "operator", TRUE);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_int_member(o, "ended", conf->ended);
    return object_node(o);
  }
  if (strcmp(cmd, "stats") == 0) {
    JsonObject *st = json_object_new();
    JsonObject *confs = json_object_new();
    json_object_set_int_member(confs, "live", focus_registry_count(s->reg, TRUE));
    json_object_set_int_member(
        confs, "ended", focus_registry_count(s->reg, FALSE) - focus_registry_count(s->reg, TRUE));
    json_object_set_object_member(st, "conferences", confs);
    json_object_set_double_member(st, "resolve_p50_ms", 1.25);
    JsonObject *o = json_object_new();
    json_object_set_object_member(o, "stats", st);
    return object_node(o);
  }
  if (strcmp(cmd, "events") == 0) {
    s->events_calls++;
    gint64 after = json_object_get_int_member_with_default(req, "after", 0);
    gint64 limit = json_object_get_int_member_with_default(req, "limit", 1000);
    const char *conf = json_object_get_string_member_with_default(req, "conference", NULL);
    JsonArray *arr = json_array_new();
    for (guint i = (guint)MIN(after, (gint64)s->events->len);
         i < s->events->len && json_array_get_length(arr) < limit; i++) {
      JsonNode *ev = g_ptr_array_index(s->events, i);
      const char *c =
          json_object_get_string_member_with_default(json_node_get_object(ev), "conference", "");
      if (conf == NULL || sip_uri_equal(c, conf))
        json_array_add_element(arr, json_node_copy(ev));
    }
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "events", arr);
    return object_node(o);
  }
  g_assert_not_reached();
  return NULL;
}

/* ------------------------------------------------------------------ a raw client */

typedef struct {
  GSocket *sock;
  GString *in;
  gboolean eof;
} Client;

static void pump(void)
{
  while (g_main_context_iteration(NULL, FALSE))
    ;
}

static Client *client_connect(const char *path)
{
  g_autoptr(GError) error = NULL;
  Client *c = g_new0(Client, 1);
  c->sock =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error(error);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
  g_assert_true(g_socket_connect(c->sock, addr, NULL, &error));
  g_assert_no_error(error);
  g_socket_set_blocking(c->sock, FALSE);
  c->in = g_string_new(NULL);
  return c;
}

static void client_free(Client *c)
{
  g_socket_close(c->sock, NULL);
  g_object_unref(c->sock);
  g_string_free(c->in, TRUE);
  g_free(c);
  pump();
}

static void client_send(Client *c, const char *data, gssize len)
{
  gsize n = len < 0 ? strlen(data) : (gsize)len, off = 0;
  gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
  while (off < n) {
    g_autoptr(GError) error = NULL;
    gssize r = g_socket_send(c->sock, data + off, n - off, NULL, &error);
    if (r > 0) {
      off += (gsize)r;
      continue;
    }
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      g_test_message("send: %s", error->message);
      return; /* the server closed: the test checks what it answered */
    }
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    pump();
    g_usleep(500);
  }
}

/* Reads what has arrived; FALSE when nothing did. */
static gboolean client_poll(Client *c)
{
  char buf[8192];
  g_autoptr(GError) error = NULL;
  gssize r = g_socket_receive(c->sock, buf, sizeof buf, NULL, &error);
  if (r > 0) {
    g_string_append_len(c->in, buf, r);
    return TRUE;
  }
  if (r == 0 || !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    c->eof = TRUE;
  return FALSE;
}

/* The next line (g_free), or NULL at the end of the stream or after timeout_ms. */
static char *client_line_within(Client *c, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  for (;;) {
    char *nl = memchr(c->in->str, '\n', c->in->len);
    if (nl != NULL) {
      char *line = g_strndup(c->in->str, (gsize)(nl - c->in->str));
      g_string_erase(c->in, 0, nl - c->in->str + 1);
      return line;
    }
    if (c->eof || g_get_monotonic_time() > deadline)
      return NULL;
    pump();
    if (!client_poll(c) && !c->eof)
      g_usleep(200);
  }
}

static char *client_line(Client *c)
{
  char *line = client_line_within(c, WAIT_MS);
  g_assert_nonnull(line);
  return line;
}

static gboolean client_wait_eof(Client *c, guint timeout_ms)
{
  g_autofree char *line = client_line_within(c, timeout_ms);
  g_assert_null(line);
  return c->eof;
}

static JsonObject *parse_object(const char *line)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_data(parser, line, -1, &error))
    g_test_message("not JSON: %s", line);
  g_assert_no_error(error);
  JsonNode *root = json_parser_get_root(parser);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
  return json_object_ref(json_node_get_object(root));
}

static JsonObject *client_json(Client *c)
{
  g_autofree char *line = client_line(c);
  return parse_object(line);
}

/* Sends one request line and returns the response object. */
static JsonObject *client_request(Client *c, const char *request)
{
  g_autofree char *line = g_strconcat(request, "\n", NULL);
  client_send(c, line, -1);
  return client_json(c);
}

static void assert_ok(JsonObject *r)
{
  if (!json_object_get_boolean_member_with_default(r, "ok", FALSE))
    g_test_message("error: %s", json_object_get_string_member_with_default(r, "error", "?"));
  g_assert_true(json_object_get_boolean_member(r, "ok"));
  g_assert_false(json_object_has_member(r, "error"));
}

static void assert_error(JsonObject *r, const char *code, const char *text)
{
  g_assert_false(json_object_get_boolean_member(r, "ok"));
  g_assert_cmpstr(json_object_get_string_member(r, "code"), ==, code);
  const char *msg = json_object_get_string_member(r, "error");
  g_assert_nonnull(msg);
  if (text != NULL && strstr(msg, text) == NULL)
    g_test_message("error \"%s\" does not contain \"%s\"", msg, text);
  g_assert_true(text == NULL || strstr(msg, text) != NULL);
}

/* ------------------------------------------------------------------ fixture */

typedef struct {
  char *tmp;
  char *path;
  Stub stub;
  FocusControl *ctl;
} Fixture;

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

static void fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->tmp = g_dir_make_tmp("test-focus-control-XXXXXX", &error);
  g_assert_no_error(error);
  f->path = g_build_filename(f->tmp, "run", "mikeyconfd.sock", NULL);
  stub_init(&f->stub);
  f->ctl = focus_control_new(f->path, stub_handle, &f->stub, &error);
  g_assert_no_error(error);
  f->stub.ctl = f->ctl;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  focus_control_free(f->ctl);
  pump();
  stub_clear(&f->stub);
  rm_rf(f->tmp);
  g_free(f->path);
  g_free(f->tmp);
}

/* ------------------------------------------------------------------ commands */

static void test_commands(Fixture *f, gconstpointer data)
{
  Client *c = client_connect(f->path);

  g_autoptr(JsonObject) list = client_request(c, "{\"cmd\":\"list\"}");
  assert_ok(list);
  JsonArray *confs = json_object_get_array_member(list, "conferences");
  g_assert_cmpuint(json_array_get_length(confs), ==, 2);
  JsonObject *c0 = json_array_get_object_element(confs, 0);
  g_assert_cmpstr(json_object_get_string_member(c0, "uri"), ==, CONF);
  g_assert_cmpstr(json_object_get_string_member(c0, "owner"), ==, ALICE);
  g_assert_cmpstr(json_object_get_string_member(c0, "ticket_fp"), ==, "fp1");
  g_assert_cmpint(json_object_get_int_member(c0, "created"), ==, 1000);
  g_assert_cmpint(json_object_get_int_member(c0, "ended"), ==, 0);
  JsonArray *allowed = json_object_get_array_member(c0, "allowed");
  g_assert_cmpuint(json_array_get_length(allowed), ==, 2);
  g_assert_cmpstr(json_array_get_string_element(allowed, 0), ==, ALICE);
  g_assert_cmpstr(json_array_get_string_element(allowed, 1), ==, BOB);
  g_assert_cmpstr(f->stub.last_cmd, ==, "list");
  /* the server tells the daemon who asked */
  g_autofree char *peer = g_strdup_printf("uid=%u pid=%d", (guint)getuid(), (int)getpid());
  g_assert_cmpstr(f->stub.last_peer, ==, peer);

  g_autoptr(JsonObject) show = client_request(c, "{\"cmd\":\"show\",\"conference\":\"" CONF "\"}");
  assert_ok(show);
  JsonObject *conf = json_object_get_object_member(show, "conference");
  g_assert_cmpstr(json_object_get_string_member(conf, "uri"), ==, CONF);
  JsonArray *parts = json_object_get_array_member(conf, "participants");
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(parts, 0), "codec"),
                  ==, "PCMU");

  g_autoptr(JsonObject) unknown =
      client_request(c, "{\"cmd\":\"show\",\"conference\":\"" UNKNOWN "\"}");
  assert_error(unknown, "not-found", "unknown conference " UNKNOWN);

  g_autoptr(JsonObject) al =
      client_request(c, "{\"cmd\":\"allowed\",\"conference\":\"" CONF "\",\"extra\":[1,2]}");
  assert_ok(al);
  g_assert_cmpstr(json_object_get_string_member(al, "conference"), ==, CONF);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(al, "allowed")), ==, 2);

  g_autoptr(JsonObject) kick =
      client_request(c, "{\"cmd\":\"kick\",\"conference\":\"" CONF "\",\"identity\":\"" BOB "\"}");
  assert_ok(kick);
  g_assert_cmpint(json_object_get_int_member(kick, "legs"), ==, 2);
  g_autoptr(JsonObject) kick2 = client_request(c, "{\"cmd\":\"kick\",\"conference\":\"" CONF
                                                  "\",\"identity\":\"" CAROL "\"}");
  assert_error(kick2, "not-found", CAROL);
  g_autoptr(JsonObject) kick3 = client_request(c, "{\"cmd\":\"kick\",\"conference\":\"" CONF "\"}");
  assert_error(kick3, "bad-request", "\"identity\" is missing");

  g_autoptr(JsonObject) end = client_request(c, "{\"cmd\":\"end\",\"conference\":\"" CONF2 "\"}");
  assert_ok(end);
  g_assert_cmpint(json_object_get_int_member(end, "ended"), ==, 3000);
  g_autoptr(JsonObject) end2 = client_request(c, "{\"cmd\":\"end\",\"conference\":\"" CONF2 "\"}");
  assert_error(end2, "conflict", "has ended");

  g_autoptr(JsonObject) stats = client_request(c, "{\"cmd\":\"stats\"}");
  assert_ok(stats);
  JsonObject *st = json_object_get_object_member(stats, "stats");
  g_assert_cmpint(
      json_object_get_int_member(json_object_get_object_member(st, "conferences"), "ended"), ==, 1);

  /* events without follow: one answer with the stored events (kick and end made two) */
  g_autoptr(JsonObject) evs = client_request(c, "{\"cmd\":\"events\"}");
  assert_ok(evs);
  JsonArray *arr = json_object_get_array_member(evs, "events");
  g_assert_cmpuint(json_array_get_length(arr), ==, 2);
  JsonObject *e0 = json_array_get_object_element(arr, 0);
  g_assert_cmpint(json_object_get_int_member(e0, "id"), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(e0, "decision"), ==, "kicked");
  g_assert_cmpstr(json_object_get_string_member(e0, "identity"), ==, BOB);
  g_autoptr(JsonObject) evs2 =
      client_request(c, "{\"cmd\":\"events\",\"after\":1,\"limit\":5,\"follow\":false}");
  assert_ok(evs2);
  arr = json_object_get_array_member(evs2, "events");
  g_assert_cmpuint(json_array_get_length(arr), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(arr, 0), "decision"),
                  ==, "ended");

  /* a client-sent "peer" does not reach the daemon */
  g_autoptr(JsonObject) forged = client_request(c, "{\"cmd\":\"list\",\"peer\":\"uid=0 pid=1\"}");
  assert_ok(forged);
  g_assert_cmpstr(f->stub.last_peer, ==, peer);
  client_free(c);
}

static void test_malformed(Fixture *f, gconstpointer data)
{
  Client *c = client_connect(f->path);
  const struct {
    const char *line;
    const char *code;
    const char *text;
  } cases[] = {
    { "not json", "bad-request", "malformed JSON" },
    { "{", "bad-request", "malformed JSON" },
    { "[1,2]", "bad-request", "must be a JSON object" },
    { "\"list\"", "bad-request", "must be a JSON object" },
    { "null", "bad-request", "must be a JSON object" },
    { "{}", "bad-request", "no \"cmd\"" },
    { "{\"cmd\":1}", "bad-request", "\"cmd\" must be a string" },
    { "{\"cmd\":null}", "bad-request", "\"cmd\" must be a string" },
    { "{'cmd':'list'}", "bad-request", "malformed JSON" },
    { "{\"cmd\":\"list\"} {}", "bad-request", "after the request" },
    { "{\"cmd\":\"list\",}", "bad-request", "malformed JSON" },
    { "{\"cmd\":\"list\" /* c */}", "bad-request", "malformed JSON" },
    { "{\"cmd\":\"li\\u0000st\"}", "bad-request", "NUL" },
    /* json-glib would turn these into bytes that are not UTF-8 (found by fuzz-control) */
    { "{\"cmd\":\"sh\\ude00\"}", "bad-request", "lone surrogate" },
    { "{\"cmd\":\"list\",\"x\":\"\\ud800x\"}", "bad-request", "lone surrogate" },
    { "{\"cmd\":\"list\",\"x\":\"\\ud800\\u0041\"}", "bad-request", "lone surrogate" },
    { "{\"cmd\":\"list\",\"n\":123456789012345678901234}", "bad-request", "number too large" },
    { "{\"cmd\":\"frobnicate\"}", "unknown-command", "frobnicate" },
    { "{\"cmd\":\"LIST\"}", "unknown-command", "LIST" },
    { "{\"cmd\":\"show\"}", "bad-request", "\"conference\" is missing" },
    { "{\"cmd\":\"show\",\"conference\":7}", "bad-request", "must be a string" },
    { "{\"cmd\":\"show\",\"conference\":\"not a uri\"}", "bad-request", "not a URI" },
    { "{\"cmd\":\"show\",\"conference\":\"sip:a\\nb@x\"}", "bad-request", "not a URI" },
    { "{\"cmd\":\"events\",\"after\":-1}", "bad-request", "\"after\" must be between" },
    { "{\"cmd\":\"events\",\"after\":1.5}", "bad-request", "\"after\" must be an integer" },
    { "{\"cmd\":\"events\",\"after\":\"3\"}", "bad-request", "\"after\" must be an integer" },
    { "{\"cmd\":\"events\",\"limit\":0}", "bad-request", "\"limit\" must be between" },
    { "{\"cmd\":\"events\",\"limit\":1001}", "bad-request", "\"limit\" must be between" },
    { "{\"cmd\":\"events\",\"follow\":\"yes\"}", "bad-request", "true or false" },
    { "{\"cmd\":\"events\",\"conference\":\"x\"}", "bad-request", "not a URI" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(JsonObject) r = client_request(c, cases[i].line);
    if (json_object_get_boolean_member(r, "ok"))
      g_test_message("accepted: %s", cases[i].line);
    assert_error(r, cases[i].code, cases[i].text);
  }
  /* bytes that are not UTF-8, a NUL byte, deep nesting */
  client_send(c, "{\"cmd\":\"\xff\xfe\"}\n", -1);
  g_autoptr(JsonObject) r1 = client_json(c);
  assert_error(r1, "bad-request", "UTF-8");
  client_send(c, "{\"cmd\":\"list\"\0}\n", 16);
  g_autoptr(JsonObject) r2 = client_json(c);
  assert_error(r2, "bad-request", "NUL");
  GString *deep = g_string_new(NULL);
  for (guint i = 0; i < 60000; i++)
    g_string_append_c(deep, '[');
  g_string_append_c(deep, '\n');
  client_send(c, deep->str, (gssize)deep->len);
  g_string_free(deep, TRUE);
  g_autoptr(JsonObject) r3 = client_json(c);
  assert_error(r3, "bad-request", "nested too deeply");
  GString *deep_obj = g_string_new("{\"cmd\":\"list\",\"a\":");
  for (guint i = 0; i < 20; i++)
    g_string_append(deep_obj, "{\"a\":");
  g_string_append(deep_obj, "1");
  for (guint i = 0; i < 21; i++)
    g_string_append_c(deep_obj, '}');
  g_autoptr(JsonObject) r4 = client_request(c, deep_obj->str);
  g_string_free(deep_obj, TRUE);
  assert_error(r4, "bad-request", "nested too deeply");

  /* blank lines get no answer, CRLF is a line end, and the connection still works */
  client_send(c, "\n  \r\n{\"cmd\":\"stats\"}\r\n", -1);
  g_autoptr(JsonObject) ok = client_json(c);
  assert_ok(ok);
  g_assert_nonnull(json_object_get_object_member(ok, "stats"));
  g_autofree char *none = client_line_within(c, 100);
  g_assert_null(none);
  g_assert_false(c->eof);
  client_free(c);
}

static void test_pipelined(Fixture *f, gconstpointer data)
{
  Client *c = client_connect(f->path);
  GString *many = g_string_new(NULL);
  const guint n = 300;
  for (guint i = 0; i < n; i++)
    g_string_append(many, i % 2 ? "{\"cmd\":\"stats\"}\n" : "{\"cmd\":\"bogus\"}\n");
  client_send(c, many->str, (gssize)many->len);
  g_string_free(many, TRUE);
  for (guint i = 0; i < n; i++) {
    g_autoptr(JsonObject) r = client_json(c);
    if (i % 2)
      assert_ok(r);
    else
      assert_error(r, "unknown-command", "bogus");
  }
  client_free(c);
}

static void test_oversized(Fixture *f, gconstpointer data)
{
  /* exactly the limit: served */
  Client *c = client_connect(f->path);
  GString *line = g_string_new("{\"cmd\":\"stats\",\"pad\":\"");
  while (line->len < FOCUS_CONTROL_MAX_LINE - 2)
    g_string_append_c(line, 'x');
  g_string_append(line, "\"}");
  g_assert_cmpuint(line->len, ==, FOCUS_CONTROL_MAX_LINE);
  g_autoptr(JsonObject) ok = client_request(c, line->str);
  assert_ok(ok);

  /* one byte more, no newline yet: refused as soon as it is over, then closed */
  g_string_insert_c(line, 1, ' ');
  client_send(c, line->str, (gssize)line->len);
  g_autoptr(JsonObject) r = client_json(c);
  assert_error(r, "too-large", "longer than 65536 bytes");
  g_assert_true(client_wait_eof(c, WAIT_MS));
  client_free(c);

  /* a huge line sent at once (more than the server reads at a time) */
  Client *c2 = client_connect(f->path);
  GString *huge = g_string_new(NULL);
  for (guint i = 0; i < 200000; i++)
    g_string_append_c(huge, 'a');
  g_string_append_c(huge, '\n');
  client_send(c2, huge->str, (gssize)huge->len);
  g_autoptr(JsonObject) r2 = client_json(c2);
  assert_error(r2, "too-large", NULL);
  g_assert_true(client_wait_eof(c2, WAIT_MS));
  client_free(c2);
  g_string_free(huge, TRUE);
  g_string_free(line, TRUE);

  /* the server is fine */
  Client *c3 = client_connect(f->path);
  g_autoptr(JsonObject) r3 = client_request(c3, "{\"cmd\":\"list\"}");
  assert_ok(r3);
  client_free(c3);
}

static void test_many_clients(Fixture *f, gconstpointer data)
{
  GPtrArray *clients = g_ptr_array_new();
  for (guint i = 0; i < FOCUS_CONTROL_MAX_CLIENTS; i++)
    g_ptr_array_add(clients, client_connect(f->path));
  /* every one is served, interleaved */
  for (guint i = 0; i < clients->len; i++)
    client_send(g_ptr_array_index(clients, i), "{\"cmd\":\"stats\"}\n", -1);
  for (guint i = 0; i < clients->len; i++) {
    g_autoptr(JsonObject) r = client_json(g_ptr_array_index(clients, i));
    assert_ok(r);
  }
  g_assert_cmpuint(focus_control_n_clients(f->ctl), ==, FOCUS_CONTROL_MAX_CLIENTS);
  /* one more: "busy", closed */
  Client *extra = client_connect(f->path);
  g_autoptr(JsonObject) busy = client_json(extra);
  assert_error(busy, "busy", "too many control clients");
  g_assert_true(client_wait_eof(extra, WAIT_MS));
  client_free(extra);
  /* one leaves: room again */
  client_free(g_ptr_array_index(clients, 0));
  g_ptr_array_remove_index(clients, 0);
  gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
  while (focus_control_n_clients(f->ctl) >= FOCUS_CONTROL_MAX_CLIENTS &&
         g_get_monotonic_time() < deadline) {
    pump();
    g_usleep(1000);
  }
  Client *again = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(again, "{\"cmd\":\"list\"}");
  assert_ok(r);
  client_free(again);
  for (guint i = 0; i < clients->len; i++)
    client_free(g_ptr_array_index(clients, i));
  g_ptr_array_unref(clients);
  deadline = g_get_monotonic_time() + WAIT_MS * 1000;
  while (focus_control_n_clients(f->ctl) > 0 && g_get_monotonic_time() < deadline) {
    pump();
    g_usleep(1000);
  }
  g_assert_cmpuint(focus_control_n_clients(f->ctl), ==, 0);
}

/* ------------------------------------------------------------------ the audit stream */

static gint64 event_id(JsonObject *line)
{
  g_assert_false(json_object_has_member(line, "ok"));
  JsonObject *ev = json_object_get_object_member(line, "event");
  g_assert_nonnull(ev);
  return json_object_get_int_member(ev, "id");
}

static void test_follow(Fixture *f, gconstpointer data)
{
  /* a backlog of 2500 stored events: three pages */
  for (guint i = 0; i < 2500; i++)
    stub_event(&f->stub, i % 5 ? CONF : CONF2, BOB, i % 2 ? "admitted" : "refused",
               "not-in-allowed-set", FALSE);
  Client *a = client_connect(f->path);
  Client *b = client_connect(f->path);
  g_autoptr(JsonObject) ra = client_request(a, "{\"cmd\":\"events\",\"after\":0,\"follow\":true}");
  assert_ok(ra);
  g_assert_true(json_object_get_boolean_member(ra, "following"));
  /* b follows one conference only, from id 2000 */
  g_autoptr(JsonObject) rb = client_request(
      b, "{\"cmd\":\"events\",\"after\":2000,\"follow\":true,\"conference\":\"" CONF2 "\"}");
  assert_ok(rb);

  /* events published while a is still paging through the backlog are neither lost nor
   * doubled */
  for (guint i = 0; i < 10; i++)
    stub_event(&f->stub, CONF2, CAROL, "refused", "unknown-conference", TRUE);
  gint64 expect = 1;
  for (; expect <= 2510; expect++) {
    g_autoptr(JsonObject) line = client_json(a);
    g_assert_cmpint(event_id(line), ==, expect);
  }
  guint b_seen = 0;
  gint64 b_last = 2000;
  for (;;) {
    g_autofree char *text = client_line_within(b, 300);
    if (text == NULL)
      break;
    g_autoptr(JsonObject) line = parse_object(text);
    gint64 id = event_id(line);
    g_assert_cmpint(id, >, b_last);
    b_last = id;
    JsonObject *ev = json_object_get_object_member(line, "event");
    g_assert_cmpstr(json_object_get_string_member(ev, "conference"), ==, CONF2);
    b_seen++;
  }
  g_assert_cmpuint(b_seen, ==, 100 + 10);
  g_assert_cmpuint(focus_control_n_followers(f->ctl), ==, 2);

  /* live: published events arrive in order; a second publish of the same event is not sent */
  for (guint i = 0; i < 5; i++)
    stub_event(&f->stub, CONF, ALICE, "admitted", NULL, TRUE);
  focus_control_publish_event(f->ctl, g_ptr_array_index(f->stub.events, 2511));
  /* an event without an id (not stored) is passed on as it is */
  g_autoptr(JsonNode) loose = json_from_string("{\"decision\":\"started\"}", NULL);
  focus_control_publish_event(f->ctl, loose);
  for (expect = 2511; expect <= 2515; expect++) {
    g_autoptr(JsonObject) line = client_json(a);
    g_assert_cmpint(event_id(line), ==, expect);
  }
  g_autoptr(JsonObject) loose_line = client_json(a);
  g_assert_cmpstr(
      json_object_get_string_member(json_object_get_object_member(loose_line, "event"), "decision"),
      ==, "started");
  g_autofree char *nothing = client_line_within(a, 200);
  g_assert_null(nothing);
  g_autofree char *nothing_b = client_line_within(b, 50);
  g_assert_null(nothing_b);

  /* what a follower sends is ignored; the stream goes on */
  client_send(a, "{\"cmd\":\"list\"}\n", -1);
  stub_event(&f->stub, CONF, BOB, "rekeyed", NULL, TRUE);
  g_autoptr(JsonObject) after = client_json(a);
  g_assert_cmpint(event_id(after), ==, 2516);
  client_free(a);
  client_free(b);
}

/* Publishing from inside the handler (a kick audits and publishes) reaches followers. */
static void test_follow_publish_in_handler(Fixture *f, gconstpointer data)
{
  Client *follower = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(follower, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r);
  g_autofree char *empty = client_line_within(follower, 100);
  g_assert_null(empty);
  Client *op = client_connect(f->path);
  g_autoptr(JsonObject) k =
      client_request(op, "{\"cmd\":\"kick\",\"conference\":\"" CONF "\",\"identity\":\"" BOB "\"}");
  assert_ok(k);
  g_autoptr(JsonObject) line = client_json(follower);
  JsonObject *ev = json_object_get_object_member(line, "event");
  g_assert_cmpstr(json_object_get_string_member(ev, "decision"), ==, "kicked");
  g_assert_cmpstr(json_object_get_string_member(ev, "identity"), ==, BOB);
  client_free(op);
  client_free(follower);
}

static void test_slow_client(Fixture *f, gconstpointer data)
{
  focus_control_set_limits(f->ctl, 0, 0, 16 * 1024, 0);
  Client *slow = client_connect(f->path);
  Client *fast = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(slow, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r);
  g_autoptr(JsonObject) r2 = client_request(fast, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r2);
  pump();
  g_assert_cmpuint(focus_control_n_followers(f->ctl), ==, 2);
  /* the slow one never reads: once the socket buffer and 16 KiB of queue are full, dropped;
   * the fast one reads everything */
  guint published = 0, fast_seen = 0;
  while (focus_control_n_followers(f->ctl) == 2 && published < 200000) {
    stub_event(&f->stub, CONF, BOB, "admitted", "a reason long enough to fill buffers quickly",
               TRUE);
    published++;
    pump();
    while (client_poll(fast))
      ;
  }
  g_assert_cmpuint(focus_control_n_followers(f->ctl), ==, 1);
  g_test_message("slow follower dropped after %u events", published);
  for (;;) {
    g_autofree char *line = client_line_within(fast, 300);
    if (line == NULL)
      break;
    fast_seen++;
  }
  g_assert_cmpuint(fast_seen, ==, published);
  client_free(fast);
  client_free(slow);
}

/* A backlog page may be larger than the queue bound: it is paced by the client's reading, so
 * a client that reads is never dropped for it. */
static void test_follow_big_backlog(Fixture *f, gconstpointer data)
{
  focus_control_set_limits(f->ctl, 0, 0, 4096, 0);
  for (guint i = 0; i < 3000; i++)
    stub_event(&f->stub, CONF, BOB, "admitted", "a reason long enough to make pages big", FALSE);
  Client *c = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(c, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r);
  for (gint64 expect = 1; expect <= 3000; expect++) {
    g_autoptr(JsonObject) line = client_json(c);
    g_assert_cmpint(event_id(line), ==, expect);
  }
  g_assert_cmpuint(focus_control_n_followers(f->ctl), ==, 1);
  client_free(c);
}

static void test_idle(Fixture *f, gconstpointer data)
{
  focus_control_set_limits(f->ctl, 0, 0, 0, 1);
  Client *idle = client_connect(f->path);
  Client *follower = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(follower, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r);
  gint64 t0 = g_get_monotonic_time();
  g_assert_true(client_wait_eof(idle, 4000));
  g_test_message("idle client closed after %.1f s", (g_get_monotonic_time() - t0) / 1e6);
  g_autofree char *none = client_line_within(follower, 100);
  g_assert_null(none);
  g_assert_false(follower->eof);
  g_assert_cmpuint(focus_control_n_clients(f->ctl), ==, 1);
  client_free(idle);
  client_free(follower);
}

static void test_half_close(Fixture *f, gconstpointer data)
{
  Client *c = client_connect(f->path);
  client_send(c, "{\"cmd\":\"list\"}\n{\"cmd\":\"stats\"}\n", -1);
  g_assert_true(g_socket_shutdown(c->sock, FALSE, TRUE, NULL));
  g_autoptr(JsonObject) a = client_json(c);
  assert_ok(a);
  g_assert_true(json_object_has_member(a, "conferences"));
  g_autoptr(JsonObject) b = client_json(c);
  assert_ok(b);
  g_assert_true(json_object_has_member(b, "stats"));
  g_assert_true(client_wait_eof(c, WAIT_MS));
  client_free(c);
}

/* The server goes away with clients connected: they see the end, nothing leaks. */
static void test_free_with_clients(Fixture *f, gconstpointer data)
{
  Client *a = client_connect(f->path);
  Client *b = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(a, "{\"cmd\":\"events\",\"follow\":true}");
  assert_ok(r);
  client_send(b, "{\"cmd\":\"li", -1);
  pump();
  focus_control_free(f->ctl);
  f->ctl = NULL;
  f->stub.ctl = NULL;
  g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
  g_assert_true(client_wait_eof(a, WAIT_MS));
  g_assert_true(client_wait_eof(b, WAIT_MS));
  client_free(a);
  client_free(b);
}

/* ------------------------------------------------------------------ the socket file */

static void test_socket_mode(Fixture *f, gconstpointer data)
{
  struct stat st;
  g_assert_cmpint(lstat(f->path, &st), ==, 0);
  g_assert_true(S_ISSOCK(st.st_mode));
  g_assert_cmpuint(st.st_mode & 07777, ==, 0660);
  g_autofree char *dir = g_path_get_dirname(f->path);
  g_assert_cmpint(lstat(dir, &st), ==, 0);
  g_assert_cmpuint(st.st_mode & 07777, ==, 0755);

  /* whatever the umask */
  focus_control_free(f->ctl);
  mode_t old = umask(0);
  g_autoptr(GError) error = NULL;
  f->ctl = focus_control_new(f->path, stub_handle, &f->stub, &error);
  umask(old);
  g_assert_no_error(error);
  f->stub.ctl = f->ctl;
  g_assert_cmpint(lstat(f->path, &st), ==, 0);
  g_assert_cmpuint(st.st_mode & 07777, ==, 0660);
  g_assert_cmpuint(umask(old), ==, old); /* restored */
}

static void test_second_refused(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Stub other;
  stub_init(&other);
  FocusControl *second = focus_control_new(f->path, stub_handle, &other, &error);
  g_assert_null(second);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull(strstr(error->message, "another mikeyconfd is listening"));
  g_clear_error(&error);
  /* the first one still owns the path and answers */
  Client *c = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(c, "{\"cmd\":\"list\"}");
  assert_ok(r);
  client_free(c);
  g_assert_cmpuint(other.calls, ==, 0);

  /* a file that is not a socket is never removed */
  g_autofree char *file = g_build_filename(f->tmp, "file", NULL);
  g_assert_true(g_file_set_contents(file, "keep", -1, NULL));
  g_assert_null(focus_control_new(file, stub_handle, &other, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull(strstr(error->message, "not a socket"));
  g_clear_error(&error);
  g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));

  /* a path too long for a socket */
  GString *lng = g_string_new(f->tmp);
  while (lng->len < 120)
    g_string_append(lng, "/x");
  g_assert_null(focus_control_new(lng->str, stub_handle, &other, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  g_string_free(lng, TRUE);
  stub_clear(&other);
}

static void test_stale_replaced(Fixture *f, gconstpointer data)
{
  focus_control_free(f->ctl);
  f->ctl = NULL;
  f->stub.ctl = NULL;
  g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
  /* a socket file nobody listens on, as a crashed daemon leaves it */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) s =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(f->path);
    g_assert_true(g_socket_bind(s, addr, FALSE, &error));
    g_assert_true(g_socket_listen(s, &error));
    g_socket_close(s, NULL);
  }
  g_assert_true(g_file_test(f->path, G_FILE_TEST_EXISTS));
  g_autoptr(GError) error = NULL;
  f->ctl = focus_control_new(f->path, stub_handle, &f->stub, &error);
  g_assert_no_error(error);
  f->stub.ctl = f->ctl;
  Client *c = client_connect(f->path);
  g_autoptr(JsonObject) r = client_request(c, "{\"cmd\":\"stats\"}");
  assert_ok(r);
  client_free(c);

  /* the path was taken over by someone else: freeing does not remove their file */
  g_assert_cmpint(g_unlink(f->path), ==, 0);
  g_assert_true(g_file_set_contents(f->path, "theirs", -1, NULL));
  focus_control_free(f->ctl);
  f->ctl = NULL;
  f->stub.ctl = NULL;
  g_assert_true(g_file_test(f->path, G_FILE_TEST_IS_REGULAR));
}

/* ------------------------------------------------------------------ pure pieces */

static void test_next_line(void)
{
  gsize n = 99;
  g_assert_cmpint(focus_control_next_line("", 0, 10, &n), ==, 0);
  g_assert_cmpint(focus_control_next_line("abc", 3, 10, &n), ==, 0);
  g_assert_cmpint(focus_control_next_line("abc\ndef", 7, 10, &n), ==, 4);
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpint(focus_control_next_line("abc\r\n", 5, 10, &n), ==, 5);
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpint(focus_control_next_line("\n", 1, 10, &n), ==, 1);
  g_assert_cmpuint(n, ==, 0);
  /* the limit: 10 bytes pass, 11 do not, with or without their newline yet */
  g_assert_cmpint(focus_control_next_line("0123456789\n", 11, 10, &n), ==, 11);
  g_assert_cmpint(focus_control_next_line("0123456789\r\n", 12, 10, &n), ==, 12);
  g_assert_cmpuint(n, ==, 10);
  g_assert_cmpint(focus_control_next_line("0123456789", 10, 10, &n), ==, 0);
  g_assert_cmpint(focus_control_next_line("0123456789a", 11, 10, &n), ==, -1);
  g_assert_cmpint(focus_control_next_line("0123456789a\n", 12, 10, &n), ==, -1);
  g_assert_cmpint(focus_control_next_line("0123456789ab\r\n", 14, 10, &n), ==, -1);
}

static JsonNode *bad_utf8_handle(const char *cmd, JsonObject *req, GError **error, gpointer data)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "name", "caf\xe9");
  return object_node(o);
}

static void test_parse_request(void)
{
  g_autoptr(GError) error = NULL;
  const char *cmd = NULL;
  const char *line = "{\"cmd\":\"kick\",\"conference\":\"" CONF "\",\"identity\":\"" BOB "\"}";
  g_autoptr(JsonObject) req = focus_control_parse_request(line, strlen(line), &cmd, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(cmd, ==, "kick");
  g_assert_cmpstr(json_object_get_string_member(req, "identity"), ==, BOB);
  /* white space around is fine */
  const char *spaced = " \t{ \"cmd\" : \"list\" } ";
  g_autoptr(JsonObject) req2 = focus_control_parse_request(spaced, strlen(spaced), &cmd, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(cmd, ==, "list");
  g_assert_null(focus_control_parse_request("", 0, &cmd, &error));
  g_assert_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_BAD_REQUEST);
  g_clear_error(&error);
  g_assert_null(focus_control_parse_request("{\"cmd\":\"x\"}", 11, &cmd, &error));
  g_assert_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND);
  g_clear_error(&error);

  /* every command answers through respond() the way the server does */
  Stub s;
  stub_init(&s);
  const char *ok_lines[] = {
    "{\"cmd\":\"list\"}",
    "{\"cmd\":\"show\",\"conference\":\"" CONF "\"}",
    "{\"cmd\":\"allowed\",\"conference\":\"" CONF "\"}",
    "{\"cmd\":\"kick\",\"conference\":\"" CONF "\",\"identity\":\"" BOB "\"}",
    "{\"cmd\":\"end\",\"conference\":\"" CONF "\"}",
    "{\"cmd\":\"stats\"}",
    "{\"cmd\":\"events\",\"after\":0,\"limit\":10,\"follow\":true}",
  };
  for (guint i = 0; i < G_N_ELEMENTS(ok_lines); i++) {
    g_autofree char *resp =
        focus_control_respond(ok_lines[i], strlen(ok_lines[i]), stub_handle, &s);
    g_assert_true(g_str_has_suffix(resp, "\n"));
    g_assert_true(strchr(resp, '\n') == resp + strlen(resp) - 1);
    g_autoptr(JsonObject) r = parse_object(resp);
    assert_ok(r);
  }
  /* a surrogate pair is fine */
  const char *pair = "{\"cmd\":\"list\",\"x\":\"\\ud83d\\ude00\"}";
  g_autoptr(JsonObject) req3 = focus_control_parse_request(pair, strlen(pair), &cmd, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(json_object_get_string_member(req3, "x"), ==, "\xf0\x9f\x98\x80");
  /* a handler answering bytes that are not UTF-8 gets an error line instead */
  g_autofree char *bad = focus_control_respond("{\"cmd\":\"stats\"}", 15, bad_utf8_handle, NULL);
  g_assert_true(g_utf8_validate(bad, -1, NULL));
  g_autoptr(JsonObject) rb = parse_object(bad);
  assert_error(rb, "failed", "not UTF-8");
  g_autofree char *resp = focus_control_respond("{\"cmd\":\"events\"}", 16, stub_handle, &s);
  g_autoptr(JsonObject) r = parse_object(resp);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(r, "events")), ==, 2);
  stub_clear(&s);
}

static void test_error_codes(void)
{
  const struct {
    GQuark domain;
    int code;
    const char *name;
  } cases[] = {
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_BAD_REQUEST, "bad-request" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND, "unknown-command" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND, "not-found" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_CONFLICT, "conflict" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_TOO_LARGE, "too-large" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_BUSY, "busy" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_UNAVAILABLE, "unavailable" },
    { FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_FAILED, "failed" },
    { FOCUS_CONTROL_ERROR, 999, "failed" },
    { G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "not-found" },
    { G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad-request" },
    { G_IO_ERROR, G_IO_ERROR_EXISTS, "conflict" },
    { G_IO_ERROR, G_IO_ERROR_CLOSED, "conflict" },
    { G_IO_ERROR, G_IO_ERROR_NO_SPACE, "unavailable" },
    { G_IO_ERROR, G_IO_ERROR_READ_ONLY, "unavailable" },
    { G_IO_ERROR, G_IO_ERROR_FAILED, "failed" },
    { G_FILE_ERROR, G_FILE_ERROR_NOENT, "failed" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) e = g_error_new_literal(cases[i].domain, cases[i].code, "x");
    g_assert_cmpstr(focus_control_error_code(e), ==, cases[i].name);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_init("test-focus-control", "error", NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/focus/control/commands", test_commands);
  ADD("/focus/control/malformed", test_malformed);
  ADD("/focus/control/pipelined", test_pipelined);
  ADD("/focus/control/oversized", test_oversized);
  ADD("/focus/control/many-clients", test_many_clients);
  ADD("/focus/control/follow", test_follow);
  ADD("/focus/control/follow-publish-in-handler", test_follow_publish_in_handler);
  ADD("/focus/control/slow-client", test_slow_client);
  ADD("/focus/control/follow-big-backlog", test_follow_big_backlog);
  ADD("/focus/control/idle", test_idle);
  ADD("/focus/control/half-close", test_half_close);
  ADD("/focus/control/free-with-clients", test_free_with_clients);
  ADD("/focus/control/socket-mode", test_socket_mode);
  ADD("/focus/control/second-refused", test_second_refused);
  ADD("/focus/control/stale-replaced", test_stale_replaced);
  g_test_add_func("/focus/control/next-line", test_next_line);
  g_test_add_func("/focus/control/parse-request", test_parse_request);
  g_test_add_func("/focus/control/error-codes", test_error_codes);
  return g_test_run();
}
