/* mikeyconfctl: the operator CLI of a running mikeyconfd. One connection to its control socket
 * (src/focus/control.h has the protocol, mikeyconfctl(8) documents it), one request per
 * command (events pages through the log with several), tables for people or the daemon's JSON
 * with --json. Exit status: 0 done, 1 the daemon refused or could not be reached, 2 bad usage. */
#include "focus/control.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

#define PROGRAM "mikeyconfctl"
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define DEFAULT_TIMEOUT 10
#define MAX_ANSWER (256 * 1024 * 1024)

static char *opt_socket = NULL;
static gboolean opt_json = FALSE;
static gboolean opt_follow = FALSE;
static gint64 opt_after = -1;
static char *opt_conference = NULL;
static gint opt_timeout = DEFAULT_TIMEOUT;
static gboolean opt_version = FALSE;

static const GOptionEntry options[] = {
  { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
    "Control socket of mikeyconfd (default " FOCUS_CONTROL_DEFAULT_SOCKET ")", "PATH" },
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print the daemon's JSON instead of tables",
    NULL },
  { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow, "events: keep printing events as they happen",
    NULL },
  { "after", 0, 0, G_OPTION_ARG_INT64, &opt_after, "events: only events with an id above N", "N" },
  { "conference", 0, 0, G_OPTION_ARG_STRING, &opt_conference,
    "events: only the events of conference CONF", "CONF" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout, "Seconds to wait for an answer (default 10)",
    "SECONDS" },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
};

static const char summary[] =
    "Commands:\n"
    "  list                 the conferences: URI, owner, allowed set size, participants, state\n"
    "  show CONF            one conference: owner, allowed set, participants with address,\n"
    "                       codec, SRTP policy, packets, loss and jitter\n"
    "  allowed CONF         its allowed set, one identity per line\n"
    "  kick CONF URI        disconnects every leg of participant URI\n"
    "  end CONF             ends the conference (its URI then answers 404)\n"
    "  events               the audit log (with --follow: and then each new event)\n"
    "  stats                counts, resolves and their latency, refusals by reason";

static const char description[] =
    "Exit status: 0 done, 1 mikeyconfd refused or could not be reached, 2 bad usage.\n"
    "See mikeyconfctl(8).";

/* ------------------------------------------------------------------ output helpers */

G_GNUC_PRINTF(1, 2)
static void fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", PROGRAM, msg);
}

/* With --json, an error that did not come from the daemon is still a JSON answer. */
static void fail_json(const char *code, const char *msg)
{
  if (!opt_json)
    return;
  g_autoptr(JsonObject) o = json_object_new();
  json_object_set_boolean_member(o, "ok", FALSE);
  json_object_set_string_member(o, "error", msg);
  json_object_set_string_member(o, "code", code);
  g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(n, o);
  g_autofree char *text = json_to_string(n, FALSE);
  printf("%s\n", text);
}

static char *time_text(gint64 seconds)
{
  if (seconds <= 0)
    return g_strdup("-");
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(seconds);
  return dt != NULL ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%SZ") : g_strdup("?");
}

static char *time_us_text(gint64 us)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(us / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup("?");
  g_autofree char *s = g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
  return g_strdup_printf("%s.%03dZ", s, (int)((us % G_USEC_PER_SEC) / 1000));
}

/* A member as text: strings as they are, numbers and booleans printed, "-" when absent. */
static char *member_text(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;
  if (n == NULL || JSON_NODE_HOLDS_NULL(n))
    return g_strdup("-");
  if (JSON_NODE_HOLDS_VALUE(n)) {
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
      return g_strdup(json_node_get_string(n));
    if (t == G_TYPE_INT64)
      return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    if (t == G_TYPE_DOUBLE)
      return g_strdup_printf("%.3g", json_node_get_double(n));
    if (t == G_TYPE_BOOLEAN)
      return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
  }
  if (JSON_NODE_HOLDS_ARRAY(n))
    return g_strdup_printf("%u", json_array_get_length(json_node_get_array(n)));
  return json_to_string(n, FALSE);
}

static gint64 member_int(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE(n))
    return 0;
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64)
    return json_node_get_int(n);
  if (t == G_TYPE_DOUBLE)
    return (gint64)json_node_get_double(n);
  return 0;
}

static JsonArray *member_array(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;
  return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *member_object(JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;
  return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* A table: rows of cells (the first row is the header), columns as wide as their widest cell
 * (in characters), two spaces apart. */
typedef struct {
  GPtrArray *rows; /* GPtrArray* of char* */
} Table;

static void table_row(Table *t, ...)
{
  GPtrArray *row = g_ptr_array_new_with_free_func(g_free);
  va_list ap;
  va_start(ap, t);
  for (char *cell = va_arg(ap, char *); cell != NULL; cell = va_arg(ap, char *))
    g_ptr_array_add(row, cell);
  va_end(ap);
  g_ptr_array_add(t->rows, row);
}

static void table_print(Table *t, const char *indent)
{
  guint cols = 0;
  for (guint r = 0; r < t->rows->len; r++)
    cols = MAX(cols, ((GPtrArray *)g_ptr_array_index(t->rows, r))->len);
  g_autofree glong *width = g_new0(glong, cols);
  for (guint r = 0; r < t->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index(t->rows, r);
    for (guint c = 0; c < row->len; c++)
      width[c] = MAX(width[c], g_utf8_strlen(g_ptr_array_index(row, c), -1));
  }
  for (guint r = 0; r < t->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index(t->rows, r);
    GString *line = g_string_new(indent);
    for (guint c = 0; c < row->len; c++) {
      const char *cell = g_ptr_array_index(row, c);
      g_string_append(line, cell);
      if (c + 1 < row->len)
        for (glong pad = g_utf8_strlen(cell, -1); pad < width[c] + 2; pad++)
          g_string_append_c(line, ' ');
    }
    printf("%s\n", line->str);
    g_string_free(line, TRUE);
  }
  g_ptr_array_unref(t->rows);
  t->rows = NULL;
}

static Table table_new(void)
{
  Table t = { g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref) };
  return t;
}

/* ------------------------------------------------------------------ the connection */

typedef struct {
  GSocket *sock;
  GString *in;
  const char *path;
} Conn;

static gboolean conn_open(Conn *c, const char *path)
{
  g_autoptr(GError) error = NULL;
  c->path = path;
  c->in = g_string_new(NULL);
  c->sock =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (c->sock == NULL) {
    fail("cannot create a socket: %s", error->message);
    fail_json("not-running", error->message);
    return FALSE;
  }
  g_socket_set_timeout(c->sock, (guint)opt_timeout);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
  if (g_socket_connect(c->sock, addr, NULL, &error))
    return TRUE;
  g_autofree char *msg = NULL;
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    msg = g_strdup_printf("mikeyconfd is not running (no socket at %s)", path);
  else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    msg = g_strdup_printf("mikeyconfd is not running (nobody answers on %s)", path);
  else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    msg =
        g_strdup_printf("permission denied on %s (run as root or as a member of its group)", path);
  else
    msg = g_strdup_printf("cannot connect to mikeyconfd at %s: %s", path, error->message);
  fail("%s", msg);
  fail_json("not-running", msg);
  return FALSE;
}

static void conn_close(Conn *c)
{
  if (c->sock != NULL) {
    g_socket_close(c->sock, NULL);
    g_clear_object(&c->sock);
  }
  if (c->in != NULL)
    g_string_free(c->in, TRUE);
  c->in = NULL;
}

static gboolean conn_send(Conn *c, JsonObject *req)
{
  g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(n, req);
  g_autofree char *text = json_to_string(n, FALSE);
  g_autofree char *line = g_strconcat(text, "\n", NULL);
  gsize len = strlen(line), off = 0;
  while (off < len) {
    g_autoptr(GError) error = NULL;
    gssize w = g_socket_send(c->sock, line + off, len - off, NULL, &error);
    if (w < 0) {
      g_autofree char *msg = g_strdup_printf("cannot send to mikeyconfd: %s", error->message);
      fail("%s", msg);
      fail_json("failed", msg);
      return FALSE;
    }
    off += (gsize)w;
  }
  return TRUE;
}

/* The next line from the daemon (g_free), or NULL with a message. */
static char *conn_line(Conn *c)
{
  for (;;) {
    char *nl = memchr(c->in->str, '\n', c->in->len);
    if (nl != NULL) {
      char *line = g_strndup(c->in->str, (gsize)(nl - c->in->str));
      g_string_erase(c->in, 0, nl - c->in->str + 1);
      return line;
    }
    if (c->in->len > MAX_ANSWER) {
      fail("the answer of mikeyconfd is too large");
      fail_json("failed", "the answer of mikeyconfd is too large");
      return NULL;
    }
    char buf[16384];
    g_autoptr(GError) error = NULL;
    gssize r = g_socket_receive(c->sock, buf, sizeof buf, NULL, &error);
    if (r > 0) {
      g_string_append_len(c->in, buf, r);
      continue;
    }
    g_autofree char *msg = NULL;
    if (r == 0)
      msg = g_strdup("mikeyconfd closed the connection");
    else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      msg = g_strdup_printf("no answer from mikeyconfd within %d s", opt_timeout);
    else
      msg = g_strdup_printf("connection to mikeyconfd lost: %s", error->message);
    fail("%s", msg);
    fail_json("failed", msg);
    return NULL;
  }
}

/* Reads one answer: the parsed object in *answer and the raw line in *raw; FALSE (with a
 * message, and with --json the daemon's error printed) when there is none or it says no. */
static gboolean conn_answer(Conn *c, JsonObject **answer, char **raw)
{
  g_autofree char *line = conn_line(c);
  if (line == NULL)
    return FALSE;
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonNode *root = NULL;
  if (json_parser_load_from_data(parser, line, -1, NULL))
    root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    fail("mikeyconfd answered something that is not a JSON object");
    fail_json("failed", "mikeyconfd answered something that is not a JSON object");
    return FALSE;
  }
  JsonObject *o = json_node_get_object(root);
  if (!json_object_get_boolean_member_with_default(o, "ok", FALSE)) {
    const char *msg = json_object_get_string_member_with_default(o, "error", "request refused");
    fail("%s", msg);
    if (opt_json)
      printf("%s\n", line);
    return FALSE;
  }
  *answer = json_object_ref(o);
  if (raw != NULL)
    *raw = g_steal_pointer(&line);
  return TRUE;
}

static JsonObject *request_new(const char *cmd)
{
  JsonObject *req = json_object_new();
  json_object_set_string_member(req, "cmd", cmd);
  return req;
}

/* ------------------------------------------------------------------ commands */

static void print_list(JsonObject *a)
{
  JsonArray *confs = member_array(a, "conferences");
  guint n = confs != NULL ? json_array_get_length(confs) : 0;
  if (n == 0) {
    printf("no conferences\n");
    return;
  }
  Table t = table_new();
  table_row(&t, g_strdup("CONFERENCE"), g_strdup("OWNER"), g_strdup("ALLOWED"),
            g_strdup("PARTICIPANTS"), g_strdup("CREATED"), g_strdup("STATE"), NULL);
  for (guint i = 0; i < n; i++) {
    JsonObject *c = json_array_get_object_element(confs, i);
    if (c == NULL)
      continue;
    gint64 ended = member_int(c, "ended");
    table_row(&t, member_text(c, "uri"), member_text(c, "owner"), member_text(c, "allowed"),
              member_text(c, "participants"), time_text(member_int(c, "created")),
              g_strdup(ended > 0 ? "ended" : "live"), NULL);
  }
  table_print(&t, "");
}

static void print_show(JsonObject *a)
{
  JsonObject *c = member_object(a, "conference");
  gint64 ended = member_int(c, "ended");
  g_autofree char *uri = member_text(c, "uri");
  g_autofree char *owner = member_text(c, "owner");
  g_autofree char *created = time_text(member_int(c, "created"));
  g_autofree char *updated = time_text(member_int(c, "updated"));
  g_autofree char *ended_at = time_text(ended);
  g_autofree char *fp = member_text(c, "ticket_fp");
  printf("conference    %s\n", uri);
  printf("owner         %s\n", owner);
  printf("state         %s%s\n", ended > 0 ? "ended " : "live", ended > 0 ? ended_at : "");
  printf("created       %s\n", created);
  printf("updated       %s\n", updated);
  printf("ticket        %s\n", fp);
  JsonArray *allowed = member_array(c, "allowed");
  guint na = allowed != NULL ? json_array_get_length(allowed) : 0;
  for (guint i = 0; i < na; i++) {
    JsonNode *n = json_array_get_element(allowed, i);
    const char *id = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                         ? json_node_get_string(n)
                         : "?";
    printf("%s%s\n", i == 0 ? "allowed       " : "              ", id);
  }
  if (na == 0)
    printf("allowed       -\n");
  JsonArray *parts = member_array(c, "participants");
  guint np = parts != NULL ? json_array_get_length(parts) : 0;
  printf("participants  %u\n", np);
  if (np == 0)
    return;
  Table t = table_new();
  table_row(&t, g_strdup("IDENTITY"), g_strdup("ADDRESS"), g_strdup("CODEC"), g_strdup("SRTP"),
            g_strdup("PACKETS IN"), g_strdup("PACKETS OUT"), g_strdup("LOST"),
            g_strdup("JITTER MS"), NULL);
  for (guint i = 0; i < np; i++) {
    JsonObject *p = json_array_get_object_element(parts, i);
    if (p == NULL)
      continue;
    table_row(&t, member_text(p, "identity"), member_text(p, "address"), member_text(p, "codec"),
              member_text(p, "srtp"), member_text(p, "packets_in"), member_text(p, "packets_out"),
              member_text(p, "lost"), member_text(p, "jitter_ms"), NULL);
  }
  table_print(&t, "  ");
}

static void print_allowed(JsonObject *a)
{
  JsonArray *allowed = member_array(a, "allowed");
  guint n = allowed != NULL ? json_array_get_length(allowed) : 0;
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element(allowed, i);
    if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
      printf("%s\n", json_node_get_string(e));
  }
}

/* "prefix.key  value" for every scalar of a nested object, in the daemon's order. */
static void flatten(Table *t, const char *prefix, JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT(node)) {
    JsonObject *o = json_node_get_object(node);
    g_autoptr(GList) names = json_object_get_members(o);
    for (GList *l = names; l != NULL; l = l->next) {
      g_autofree char *key =
          prefix[0] ? g_strdup_printf("%s.%s", prefix, (char *)l->data) : g_strdup(l->data);
      flatten(t, key, json_object_get_member(o, l->data));
    }
  } else if (JSON_NODE_HOLDS_ARRAY(node)) {
    JsonArray *arr = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      g_autofree char *key = g_strdup_printf("%s.%u", prefix, i);
      flatten(t, key, json_array_get_element(arr, i));
    }
  } else {
    g_autoptr(JsonObject) holder = json_object_new();
    json_object_set_member(holder, "v", json_node_copy(node));
    table_row(t, g_strdup(prefix), member_text(holder, "v"), NULL);
  }
}

static void print_stats(JsonObject *a)
{
  JsonNode *stats = json_object_get_member(a, "stats");
  if (stats == NULL) {
    printf("no statistics\n");
    return;
  }
  Table t = table_new();
  flatten(&t, "", stats);
  table_print(&t, "");
}

static void print_event(JsonObject *ev)
{
  if (ev == NULL)
    return;
  g_autofree char *when = time_us_text(member_int(ev, "time"));
  GString *line = g_string_new(NULL);
  g_string_append_printf(line, "%s #%" G_GINT64_FORMAT " ", when, member_int(ev, "id"));
  g_autofree char *decision = member_text(ev, "decision");
  g_string_append(line, decision);
  const struct {
    const char *name, *before, *after;
  } fields[] = {
    { "reason", " (", ")" },    { "conference", " ", "" }, { "identity", " ", "" },
    { "source", " from ", "" }, { "detail", ": ", "" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
    if (!json_object_has_member(ev, fields[i].name))
      continue;
    g_autofree char *v = member_text(ev, fields[i].name);
    g_string_append_printf(line, "%s%s%s", fields[i].before, v, fields[i].after);
  }
  printf("%s\n", line->str);
  g_string_free(line, TRUE);
}

/* events without --follow: every page after --after, printed as it comes (tables) or merged
 * into one answer (--json). */
static int cmd_events(Conn *c)
{
  gint64 after = MAX(opt_after, 0);
  g_autoptr(JsonArray) all = opt_json ? json_array_new() : NULL;
  for (;;) {
    g_autoptr(JsonObject) req = request_new("events");
    json_object_set_int_member(req, "after", after);
    json_object_set_int_member(req, "limit", FOCUS_CONTROL_EVENTS_PAGE);
    if (opt_conference != NULL)
      json_object_set_string_member(req, "conference", opt_conference);
    g_autoptr(JsonObject) a = NULL;
    if (!conn_send(c, req) || !conn_answer(c, &a, NULL))
      return EXIT_FAILED;
    JsonArray *events = member_array(a, "events");
    guint n = events != NULL ? json_array_get_length(events) : 0;
    gint64 last = after;
    for (guint i = 0; i < n; i++) {
      JsonObject *ev = json_array_get_object_element(events, i);
      if (ev == NULL)
        continue;
      last = MAX(last, member_int(ev, "id"));
      if (all != NULL)
        json_array_add_object_element(all, json_object_ref(ev));
      else
        print_event(ev);
    }
    if (n == 0 || last <= after)
      break; /* the end (or a daemon that does not page: no endless loop) */
    after = last;
  }
  if (all != NULL) {
    g_autoptr(JsonObject) o = json_object_new();
    json_object_set_boolean_member(o, "ok", TRUE);
    json_object_set_array_member(o, "events", json_array_ref(all));
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(n, o);
    g_autofree char *text = json_to_string(n, FALSE);
    printf("%s\n", text);
  }
  return EXIT_SUCCESS;
}

static int cmd_follow(Conn *c)
{
  g_autoptr(JsonObject) req = request_new("events");
  json_object_set_int_member(req, "after", MAX(opt_after, 0));
  json_object_set_boolean_member(req, "follow", TRUE);
  if (opt_conference != NULL)
    json_object_set_string_member(req, "conference", opt_conference);
  g_autoptr(JsonObject) a = NULL;
  g_autofree char *raw = NULL;
  if (!conn_send(c, req) || !conn_answer(c, &a, &raw))
    return EXIT_FAILED;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (opt_json)
    printf("%s\n", raw);
  g_socket_set_timeout(c->sock, 0); /* events come when they come */
  for (;;) {
    g_autofree char *line = conn_line(c);
    if (line == NULL)
      return EXIT_FAILED;
    if (opt_json) {
      printf("%s\n", line);
      continue;
    }
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, -1, NULL))
      continue;
    JsonNode *root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
      continue;
    JsonObject *o = json_node_get_object(root);
    if (json_object_has_member(o, "ok") &&
        !json_object_get_boolean_member_with_default(o, "ok", FALSE)) {
      fail("%s", json_object_get_string_member_with_default(o, "error", "the stream failed"));
      return EXIT_FAILED;
    }
    print_event(member_object(o, "event"));
  }
}

typedef struct {
  const char *name;
  guint n_args;
  const char *usage;
} Command;

static const Command commands[] = {
  { "list", 0, "list" },
  { "show", 1, "show CONF" },
  { "allowed", 1, "allowed CONF" },
  { "kick", 2, "kick CONF URI" },
  { "end", 1, "end CONF" },
  { "events", 0, "events [--follow] [--after N] [--conference CONF]" },
  { "stats", 0, "stats" },
};

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PROGRAM, msg, PROGRAM);
  return EXIT_USAGE;
}

static int run(int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARG…]");
  g_option_context_add_main_entries(ctx, options, NULL);
  g_option_context_set_summary(ctx, summary);
  g_option_context_set_description(ctx, description);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error))
    return usage_error("%s", error->message);
  if (opt_version) {
    printf("%s %s\n", PROGRAM, PACKAGE_VERSION);
    return EXIT_SUCCESS;
  }
  if (argc < 2)
    return usage_error("no command given (list, show, allowed, kick, end, events, stats)");
  const Command *cmd = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(commands) && cmd == NULL; i++)
    if (strcmp(commands[i].name, argv[1]) == 0)
      cmd = &commands[i];
  if (cmd == NULL)
    return usage_error("unknown command '%s' (list, show, allowed, kick, end, events, stats)",
                       argv[1]);
  if ((guint)(argc - 2) != cmd->n_args)
    return usage_error("usage: %s %s", PROGRAM, cmd->usage);
  gboolean events = strcmp(cmd->name, "events") == 0;
  if (!events && (opt_follow || opt_after >= 0 || opt_conference != NULL))
    return usage_error("--follow, --after and --conference belong to the events command");
  if (opt_after < -1)
    return usage_error("--after must be 0 or more");
  if (opt_timeout < 1 || opt_timeout > 86400)
    return usage_error("--timeout must be between 1 and 86400 seconds");

  const char *path = opt_socket != NULL ? opt_socket : FOCUS_CONTROL_DEFAULT_SOCKET;
  Conn c = { 0 };
  if (!conn_open(&c, path)) {
    conn_close(&c);
    return EXIT_FAILED;
  }
  int status = EXIT_FAILED;
  if (events) {
    status = opt_follow ? cmd_follow(&c) : cmd_events(&c);
    conn_close(&c);
    return status;
  }
  g_autoptr(JsonObject) req = request_new(cmd->name);
  if (cmd->n_args >= 1)
    json_object_set_string_member(req, "conference", argv[2]);
  if (cmd->n_args >= 2)
    json_object_set_string_member(req, "identity", argv[3]);
  g_autoptr(JsonObject) a = NULL;
  g_autofree char *raw = NULL;
  if (conn_send(&c, req) && conn_answer(&c, &a, &raw)) {
    status = EXIT_SUCCESS;
    if (opt_json) {
      printf("%s\n", raw);
    } else if (strcmp(cmd->name, "list") == 0) {
      print_list(a);
    } else if (strcmp(cmd->name, "show") == 0) {
      print_show(a);
    } else if (strcmp(cmd->name, "allowed") == 0) {
      print_allowed(a);
    } else if (strcmp(cmd->name, "kick") == 0) {
      gint64 legs = member_int(a, "legs");
      printf("kicked %s from %s", argv[3], argv[2]);
      if (json_object_has_member(a, "legs"))
        printf(" (%" G_GINT64_FORMAT " leg%s)", legs, legs == 1 ? "" : "s");
      printf("\n");
    } else if (strcmp(cmd->name, "end") == 0) {
      printf("ended %s\n", argv[2]);
    } else {
      print_stats(a);
    }
  }
  conn_close(&c);
  return status;
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  int status = run(argc, argv);
  g_free(opt_socket);
  g_free(opt_conference);
  if (fflush(stdout) != 0 && status == EXIT_SUCCESS) {
    fprintf(stderr, "%s: cannot write the output: %s\n", PROGRAM, g_strerror(errno));
    status = EXIT_FAILED;
  }
  return status;
}
