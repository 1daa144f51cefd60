/* The control socket of mikeyconfd (control.h; mikeyconfctl(8)).
 *
 * A request line goes through three checks before the daemon's handler sees it: the framing
 * (focus_control_next_line: a line, at most max_line bytes), a strict RFC 8259 syntax check
 * with a nesting bound (json_check: json-glib's own parser accepts single quotes, comments and
 * trailing text, and recurses once per nesting level, so a line of 64 KiB of '[' must never
 * reach it), then json-glib and the command table (focus_control_parse_request). Each client
 * is a small state machine on the main loop: an async read into a bounded buffer, a queue of
 * answer lines written one after the other, and for a follower of the audit stream either
 * "backlog" (pages of stored events fetched from the handler each time the queue drains) or
 * "live" (events pushed by focus_control_publish_event()). A client holds one reference for
 * the server's list and one for each async operation in flight; closing cancels those, and
 * their callbacks see `closed` and only drop their reference. */
#include "control.h"

#include "common/log.h"
#include "common/sipuri.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#define READ_CHUNK 4096
#define MAX_URI_MEMBER 1024
#define MAX_NUMBER_TOKEN 24
#define MAX_INT_DIGITS 18
#define LISTEN_BACKLOG 64

G_DEFINE_QUARK(focus - control - error - quark, focus_control_error)

/* ------------------------------------------------------------------ errors */

const char *focus_control_error_code(const GError *error)
{
  static const char *const codes[] = {
    [FOCUS_CONTROL_ERROR_BAD_REQUEST] = "bad-request",
    [FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND] = "unknown-command",
    [FOCUS_CONTROL_ERROR_NOT_FOUND] = "not-found",
    [FOCUS_CONTROL_ERROR_CONFLICT] = "conflict",
    [FOCUS_CONTROL_ERROR_TOO_LARGE] = "too-large",
    [FOCUS_CONTROL_ERROR_BUSY] = "busy",
    [FOCUS_CONTROL_ERROR_UNAVAILABLE] = "unavailable",
    [FOCUS_CONTROL_ERROR_FAILED] = "failed",
  };
  if (error == NULL)
    return "failed";
  if (error->domain == FOCUS_CONTROL_ERROR) {
    if (error->code >= 0 && (gsize)error->code < G_N_ELEMENTS(codes))
      return codes[error->code];
    return "failed";
  }
  if (error->domain == G_IO_ERROR) {
    switch (error->code) {
    case G_IO_ERROR_NOT_FOUND:
      return "not-found";
    case G_IO_ERROR_INVALID_ARGUMENT:
      return "bad-request";
    case G_IO_ERROR_EXISTS:
    case G_IO_ERROR_CLOSED:
      return "conflict";
    case G_IO_ERROR_NO_SPACE:
    case G_IO_ERROR_READ_ONLY:
    case G_IO_ERROR_BUSY:
      return "unavailable";
    default:
      break;
    }
  }
  return "failed";
}

/* ------------------------------------------------------------------ framing */

gssize focus_control_next_line(const char *buf, gsize len, gsize max_line, gsize *line_len)
{
  gsize scan = MIN(len, max_line + 2); /* room for "\r\n" after a line of max_line bytes */
  const char *nl = buf != NULL ? memchr(buf, '\n', scan) : NULL;
  if (nl == NULL)
    return len > max_line ? -1 : 0;
  gsize n = (gsize)(nl - buf);
  gsize used = n + 1;
  if (n > 0 && buf[n - 1] == '\r')
    n--;
  if (n > max_line)
    return -1;
  *line_len = n;
  return (gssize)used;
}

/* ------------------------------------------------------------------ strict JSON syntax */

typedef struct {
  const char *s;
  gsize n;
  gsize i;
  const char *why;
} Scan;

static void skip_ws(Scan *sc)
{
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\r' ||
                           sc->s[sc->i] == '\n'))
    sc->i++;
}

static gboolean scan_fail(Scan *sc, const char *why)
{
  sc->why = why;
  return FALSE;
}

/* The value of 4 hex digits at s[at], -1 when there are not 4. */
static int hex4(const Scan *sc, gsize at)
{
  if (at + 4 > sc->n)
    return -1;
  int v = 0;
  for (gsize k = at; k < at + 4; k++) {
    int d = g_ascii_xdigit_value(sc->s[k]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

static gboolean scan_string(Scan *sc)
{
  sc->i++; /* the opening quote */
  while (sc->i < sc->n) {
    guchar c = (guchar)sc->s[sc->i];
    if (c == '"') {
      sc->i++;
      return TRUE;
    }
    if (c < 0x20)
      return scan_fail(sc, "control character in a string");
    if (c == '\\') {
      if (sc->i + 1 >= sc->n)
        break;
      char e = sc->s[sc->i + 1];
      if (e == 'u') {
        int unit = hex4(sc, sc->i + 2);
        if (unit < 0)
          return scan_fail(sc, "bad \\u escape in a string");
        if (unit == 0)
          return scan_fail(sc, "NUL character in a string");
        /* UTF-16 surrogates only as a pair: json-glib turns a lone one into bytes that are
         * not UTF-8 */
        if (unit >= 0xdc00 && unit <= 0xdfff)
          return scan_fail(sc, "lone surrogate in a string");
        if (unit >= 0xd800 && unit <= 0xdbff) {
          int low = sc->i + 12 <= sc->n && sc->s[sc->i + 6] == '\\' && sc->s[sc->i + 7] == 'u'
                        ? hex4(sc, sc->i + 8)
                        : -1;
          if (low < 0xdc00 || low > 0xdfff)
            return scan_fail(sc, "lone surrogate in a string");
          sc->i += 6;
        }
        sc->i += 6;
        continue;
      }
      if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
        return scan_fail(sc, "bad escape in a string");
      sc->i += 2;
      continue;
    }
    sc->i++;
  }
  return scan_fail(sc, "unterminated string");
}

static gboolean scan_digits(Scan *sc, gsize *count)
{
  gsize start = sc->i;
  while (sc->i < sc->n && g_ascii_isdigit(sc->s[sc->i]))
    sc->i++;
  *count = sc->i - start;
  return *count > 0;
}

static gboolean scan_number(Scan *sc)
{
  gsize start = sc->i, digits, more;
  if (sc->s[sc->i] == '-')
    sc->i++;
  if (sc->i < sc->n && sc->s[sc->i] == '0') {
    sc->i++;
    digits = 1;
  } else if (!scan_digits(sc, &digits)) {
    return scan_fail(sc, "bad number");
  }
  if (digits > MAX_INT_DIGITS)
    return scan_fail(sc, "number too large");
  if (sc->i < sc->n && sc->s[sc->i] == '.') {
    sc->i++;
    if (!scan_digits(sc, &more))
      return scan_fail(sc, "bad number");
  }
  if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
    sc->i++;
    if (sc->i < sc->n && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-'))
      sc->i++;
    if (!scan_digits(sc, &more))
      return scan_fail(sc, "bad number");
  }
  if (sc->i - start > MAX_NUMBER_TOKEN)
    return scan_fail(sc, "number too long");
  return TRUE;
}

static gboolean scan_literal(Scan *sc, const char *word)
{
  gsize len = strlen(word);
  if (sc->n - sc->i < len || memcmp(sc->s + sc->i, word, len) != 0)
    return scan_fail(sc, "expected a value");
  sc->i += len;
  return TRUE;
}

/* Checks that s[0..n) is one JSON value (RFC 8259) nested at most max_depth deep, with
 * nothing after it but white space; iterative, so any input is safe. */
static gboolean json_check(const char *s, gsize n, guint max_depth, const char **why, gsize *where)
{
  char stack[FOCUS_CONTROL_MAX_DEPTH];
  guint depth = 0;
  enum { VALUE, KEY, AFTER } state = VALUE;
  Scan sc = { s, n, 0, NULL };
  max_depth = MIN(max_depth, (guint)sizeof stack);
  gboolean ok = TRUE;

  while (ok) {
    skip_ws(&sc);
    if (state == VALUE) {
      if (sc.i >= n) {
        ok = scan_fail(&sc, depth ? "unexpected end of the line" : "empty request");
        break;
      }
      char c = s[sc.i];
      if (c == '{' || c == '[') {
        if (depth >= max_depth) {
          ok = scan_fail(&sc, "nested too deeply");
          break;
        }
        stack[depth++] = c;
        sc.i++;
        skip_ws(&sc);
        if (sc.i < n && s[sc.i] == (c == '{' ? '}' : ']')) {
          depth--;
          sc.i++;
          state = AFTER;
        } else {
          state = c == '{' ? KEY : VALUE;
        }
      } else if (c == '"') {
        ok = scan_string(&sc);
        state = AFTER;
      } else if (c == '-' || g_ascii_isdigit(c)) {
        ok = scan_number(&sc);
        state = AFTER;
      } else if (c == 't') {
        ok = scan_literal(&sc, "true");
        state = AFTER;
      } else if (c == 'f') {
        ok = scan_literal(&sc, "false");
        state = AFTER;
      } else if (c == 'n') {
        ok = scan_literal(&sc, "null");
        state = AFTER;
      } else {
        ok = scan_fail(&sc, "expected a value");
      }
    } else if (state == KEY) {
      if (sc.i >= n || s[sc.i] != '"') {
        ok = scan_fail(&sc, "expected a member name in double quotes");
        break;
      }
      ok = scan_string(&sc);
      if (!ok)
        break;
      skip_ws(&sc);
      if (sc.i >= n || s[sc.i] != ':') {
        ok = scan_fail(&sc, "expected ':' after a member name");
        break;
      }
      sc.i++;
      state = VALUE;
    } else { /* AFTER */
      if (depth == 0)
        break;
      char top = stack[depth - 1];
      if (sc.i < n && s[sc.i] == ',') {
        sc.i++;
        state = top == '{' ? KEY : VALUE;
      } else if (sc.i < n && s[sc.i] == (top == '{' ? '}' : ']')) {
        sc.i++;
        depth--;
      } else {
        ok = scan_fail(&sc, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }
  if (ok && sc.i < n)
    ok = scan_fail(&sc, "unexpected text after the request");
  *why = sc.why;
  *where = sc.i;
  return ok;
}

/* ------------------------------------------------------------------ requests */

enum {
  NEED_CONFERENCE = 1 << 0,
  NEED_IDENTITY = 1 << 1,
  EVENTS_ARGS = 1 << 2,
};

typedef struct {
  const char *name;
  guint args;
} Command;

static const Command commands[] = {
  { "list", 0 },
  { "show", NEED_CONFERENCE },
  { "allowed", NEED_CONFERENCE },
  { "kick", NEED_CONFERENCE | NEED_IDENTITY },
  { "end", NEED_CONFERENCE },
  { "events", EVENTS_ARGS },
  { "stats", 0 },
};

G_GNUC_PRINTF(2, 3)
static void bad_request(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_BAD_REQUEST, msg);
}

/* A string member that must be a URI (sipuri.h). */
static gboolean check_uri(JsonObject *req, const char *name, gboolean required, GError **error)
{
  JsonNode *node = json_object_get_member(req, name);
  if (node == NULL) {
    if (required)
      bad_request(error, "\"%s\" is missing", name);
    return !required;
  }
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
    bad_request(error, "\"%s\" must be a string", name);
    return FALSE;
  }
  const char *text = json_node_get_string(node);
  if (strlen(text) > MAX_URI_MEMBER) {
    bad_request(error, "\"%s\" is longer than %d bytes", name, MAX_URI_MEMBER);
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  g_autofree char *norm = sip_uri_normalize(text, &local);
  if (norm == NULL) {
    bad_request(error, "\"%s\" is not a URI (%s)", name, local->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean check_int(JsonObject *req, const char *name, gint64 min, gint64 max, GError **error)
{
  JsonNode *node = json_object_get_member(req, name);
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
    bad_request(error, "\"%s\" must be an integer", name);
    return FALSE;
  }
  gint64 v = json_node_get_int(node);
  if (v < min || v > max) {
    bad_request(error, "\"%s\" must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT, name,
                min, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean check_bool(JsonObject *req, const char *name, GError **error)
{
  JsonNode *node = json_object_get_member(req, name);
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
    bad_request(error, "\"%s\" must be true or false", name);
    return FALSE;
  }
  return TRUE;
}

JsonObject *focus_control_parse_request(const char *line, gsize len, const char **cmd,
                                        GError **error)
{
  if (len > FOCUS_CONTROL_MAX_LINE) {
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_TOO_LARGE,
                "request longer than %d bytes", FOCUS_CONTROL_MAX_LINE);
    return NULL;
  }
  if (len > 0 && memchr(line, '\0', len) != NULL) {
    bad_request(error, "NUL byte in the request");
    return NULL;
  }
  if (!g_utf8_validate(line, (gssize)len, NULL)) {
    bad_request(error, "the request is not UTF-8");
    return NULL;
  }
  const char *why = NULL;
  gsize where = 0;
  if (!json_check(line, len, FOCUS_CONTROL_MAX_DEPTH, &why, &where)) {
    bad_request(error, "malformed JSON at byte %" G_GSIZE_FORMAT ": %s", where, why);
    return NULL;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data(parser, len ? line : "", (gssize)len, &local)) {
    bad_request(error, "malformed JSON: %s", local->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    bad_request(error, "the request must be a JSON object");
    return NULL;
  }
  JsonObject *req = json_node_get_object(root);
  JsonNode *cmd_node = json_object_get_member(req, "cmd");
  if (cmd_node == NULL) {
    bad_request(error, "the request has no \"cmd\"");
    return NULL;
  }
  if (!JSON_NODE_HOLDS_VALUE(cmd_node) || json_node_get_value_type(cmd_node) != G_TYPE_STRING) {
    bad_request(error, "\"cmd\" must be a string");
    return NULL;
  }
  const char *name = json_node_get_string(cmd_node);
  const Command *command = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(commands) && command == NULL; i++)
    if (strcmp(commands[i].name, name) == 0)
      command = &commands[i];
  if (command == NULL) {
    g_autofree char *shown = g_utf8_substring(name, 0, MIN(g_utf8_strlen(name, -1), 32));
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND,
                "unknown command \"%s\" (commands: list, show, allowed, kick, end, events, "
                "stats)",
                shown);
    return NULL;
  }
  if (!check_uri(req, "conference", (command->args & NEED_CONFERENCE) != 0, error) ||
      ((command->args & NEED_IDENTITY) && !check_uri(req, "identity", TRUE, error)))
    return NULL;
  if ((command->args & EVENTS_ARGS) &&
      (!check_int(req, "after", 0, G_MAXINT64, error) ||
       !check_int(req, "limit", 1, FOCUS_CONTROL_EVENTS_PAGE, error) ||
       !check_bool(req, "follow", error)))
    return NULL;
  JsonObject *out = json_object_ref(req);
  *cmd = json_object_get_string_member(out, "cmd");
  return out;
}

/* ------------------------------------------------------------------ responses */

static char *node_line(JsonNode *node)
{
  g_autofree char *text = json_to_string(node, FALSE);
  return g_strconcat(text, "\n", NULL);
}

static char *object_line(JsonObject *obj)
{
  g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(node, obj);
  return node_line(node);
}

static char *error_line(const GError *error)
{
  g_autoptr(JsonObject) obj = json_object_new();
  json_object_set_boolean_member(obj, "ok", FALSE);
  /* A message may quote the request; whatever it holds, the answer stays UTF-8. */
  g_autofree char *msg = g_utf8_make_valid(error != NULL ? error->message : "failed", -1);
  json_object_set_string_member(obj, "error", msg);
  json_object_set_string_member(obj, "code", focus_control_error_code(error));
  return object_line(obj);
}

/* {"ok":true} plus the members of the handler's answer. */
static char *ok_line(JsonNode *answer)
{
  g_autoptr(JsonObject) obj = json_object_new();
  json_object_set_boolean_member(obj, "ok", TRUE);
  if (answer != NULL && JSON_NODE_HOLDS_OBJECT(answer)) {
    JsonObject *a = json_node_get_object(answer);
    g_autoptr(GList) members = json_object_get_members(a);
    for (GList *l = members; l != NULL; l = l->next)
      if (strcmp(l->data, "ok") != 0)
        json_object_set_member(obj, l->data, json_node_copy(json_object_get_member(a, l->data)));
  } else if (answer != NULL && !JSON_NODE_HOLDS_NULL(answer)) {
    json_object_set_member(obj, "result", json_node_copy(answer));
  }
  return object_line(obj);
}

static char *dispatch(const char *cmd, JsonObject *req, FocusControlHandler handle, gpointer data)
{
  g_autoptr(GError) error = NULL;
  if (handle == NULL) {
    g_set_error(&error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_FAILED, "no handler for %s", cmd);
    return error_line(error);
  }
  g_autoptr(JsonNode) answer = handle(cmd, req, &error, data);
  if (error != NULL)
    return error_line(error);
  char *line = ok_line(answer);
  if (!g_utf8_validate(line, -1, NULL)) {
    /* json-glib writes strings as they are: never pass bytes that are not UTF-8 on */
    g_free(line);
    g_set_error(&error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_FAILED,
                "the answer to %s is not UTF-8", cmd);
    return error_line(error);
  }
  return line;
}

char *focus_control_respond(const char *line, gsize len, FocusControlHandler handle, gpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *cmd = NULL;
  g_autoptr(JsonObject) req = focus_control_parse_request(line, len, &cmd, &error);
  if (req == NULL)
    return error_line(error);
  if (json_object_has_member(req, "follow"))
    json_object_remove_member(req, "follow");
  return dispatch(cmd, req, handle, data);
}

/* ------------------------------------------------------------------ JSON of records */

JsonNode *focus_control_event_json(const FocusAuditEvent *ev)
{
  JsonObject *o = json_object_new();
  json_object_set_int_member(o, "id", ev->id);
  json_object_set_int_member(o, "time", ev->time);
  const struct {
    const char *name;
    const char *value;
  } fields[] = {
    { "conference", ev->conference }, { "identity", ev->identity }, { "source", ev->source },
    { "decision", ev->decision },     { "reason", ev->reason },     { "detail", ev->detail },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
    if (fields[i].value != NULL)
      json_object_set_string_member(o, fields[i].name, fields[i].value);
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

JsonNode *focus_control_conf_json(const FocusConf *conf)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "uri", conf->uri);
  if (conf->owner != NULL)
    json_object_set_string_member(o, "owner", conf->owner);
  JsonArray *allowed = json_array_new();
  for (guint i = 0; conf->allowed != NULL && i < conf->allowed->len; i++)
    json_array_add_string_element(allowed, g_ptr_array_index(conf->allowed, i));
  json_object_set_array_member(o, "allowed", allowed);
  if (conf->ticket_fp != NULL)
    json_object_set_string_member(o, "ticket_fp", conf->ticket_fp);
  json_object_set_int_member(o, "created", conf->created);
  json_object_set_int_member(o, "updated", conf->updated);
  json_object_set_int_member(o, "ended", conf->ended);
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

/* ------------------------------------------------------------------ the server */

typedef struct _Client Client;

struct _FocusControl {
  char *path;
  dev_t dev;
  ino_t ino;
  GSocketService *service;
  FocusControlHandler handle;
  gpointer data;
  GQueue clients; /* Client* (one reference each) */
  guint max_clients;
  gsize max_line;
  gsize max_queued;
  guint idle_timeout;
  guint sweep_source;
  guint next_id;
};

struct _Client {
  gint refs;
  guint id;
  FocusControl *ctl; /* NULL once closed */
  GSocketConnection *conn;
  GCancellable *cancel;
  GByteArray *in;
  char buf[READ_CHUNK];
  GQueue out; /* GBytes*: answer lines not yet written */
  gsize queued;
  gboolean reading;
  gboolean writing;
  gboolean closing; /* close once out is written */
  gboolean closed;
  gboolean following;
  gboolean backlog; /* following, still paging through stored events */
  gint64 last_id;
  char *filter; /* normalised conference a follower asked for; NULL = all */
  char *peer;
  gint64 last_active; /* g_get_monotonic_time() */
};

static Client *client_ref(Client *c)
{
  c->refs++;
  return c;
}

static void client_unref(Client *c)
{
  if (--c->refs > 0)
    return;
  g_byte_array_unref(c->in);
  g_queue_clear_full(&c->out, (GDestroyNotify)g_bytes_unref);
  g_free(c->filter);
  g_free(c->peer);
  g_object_unref(c->cancel);
  g_object_unref(c->conn);
  g_free(c);
}

static void client_close(Client *c, const char *why)
{
  if (c->closed)
    return;
  c->closed = TRUE;
  FocusControl *ctl = c->ctl;
  c->ctl = NULL;
  if (why != NULL)
    log_info("control: client %u (%s) closed: %s", c->id, c->peer, why);
  g_cancellable_cancel(c->cancel);
  /* The peer sees the end now; the descriptor is closed with the connection, after the
   * cancelled operations have returned. */
  g_socket_shutdown(g_socket_connection_get_socket(c->conn), TRUE, TRUE, NULL);
  if (ctl != NULL && g_queue_remove(&ctl->clients, c)) {
    if (g_queue_is_empty(&ctl->clients) && ctl->sweep_source != 0) {
      g_source_remove(ctl->sweep_source);
      ctl->sweep_source = 0;
    }
    client_unref(c);
  }
}

static void client_write(Client *c);
static void client_pump(Client *c);

/* Queues an answer line (taken). Drops a client that has too much unread, unless the line is
 * part of a backlog page (those are only fetched once the queue has drained, so a page is the
 * most that can wait). */
static gboolean client_queue(Client *c, char *line, gboolean bounded)
{
  if (c->closed) {
    g_free(line);
    return FALSE;
  }
  gsize len = strlen(line);
  if (bounded && c->queued + len > c->ctl->max_queued) {
    g_free(line);
    g_autofree char *why =
        g_strdup_printf("too slow: over %" G_GSIZE_FORMAT " bytes unread", c->ctl->max_queued);
    log_warning("control: client %u (%s) dropped: %s", c->id, c->peer, why);
    client_close(c, NULL);
    return FALSE;
  }
  g_queue_push_tail(&c->out, g_bytes_new_take(line, len));
  c->queued += len;
  client_write(c);
  return TRUE;
}

static gboolean client_send(Client *c, char *line)
{
  return client_queue(c, line, TRUE);
}

static void on_write(GObject *source, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_output_stream_write_bytes_finish(G_OUTPUT_STREAM(source), res, &error);
  c->writing = FALSE;
  if (c->closed) {
    client_unref(c);
    return;
  }
  if (n < 0) {
    client_close(c, error->message);
    client_unref(c);
    return;
  }
  c->last_active = g_get_monotonic_time();
  GBytes *head = g_queue_pop_head(&c->out);
  gsize len = g_bytes_get_size(head);
  c->queued -= (gsize)n;
  if ((gsize)n < len)
    g_queue_push_head(&c->out, g_bytes_new_from_bytes(head, (gsize)n, len - (gsize)n));
  g_bytes_unref(head);
  if (!g_queue_is_empty(&c->out))
    client_write(c);
  else if (c->closing)
    client_close(c, NULL);
  else if (c->following && c->backlog)
    client_pump(c);
  client_unref(c);
}

static void client_write(Client *c)
{
  if (c->writing || c->closed || g_queue_is_empty(&c->out))
    return;
  c->writing = TRUE;
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
  g_output_stream_write_bytes_async(out, g_queue_peek_head(&c->out), G_PRIORITY_DEFAULT, c->cancel,
                                    on_write, client_ref(c));
}

/* A follower in backlog mode whose queue drained: the next page of stored events. */
static void client_pump(Client *c)
{
  FocusControl *ctl = c->ctl;
  g_autoptr(JsonObject) req = json_object_new();
  json_object_set_string_member(req, "cmd", "events");
  json_object_set_int_member(req, "after", c->last_id);
  json_object_set_int_member(req, "limit", FOCUS_CONTROL_EVENTS_PAGE);
  if (c->filter != NULL)
    json_object_set_string_member(req, "conference", c->filter);
  json_object_set_string_member(req, "peer", c->peer);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) answer = ctl->handle("events", req, &error, ctl->data);
  if (error != NULL) {
    c->backlog = FALSE;
    c->following = FALSE;
    c->closing = TRUE;
    client_send(c, error_line(error));
    return;
  }
  JsonArray *events = NULL;
  if (answer != NULL && JSON_NODE_HOLDS_OBJECT(answer)) {
    JsonNode *member = json_object_get_member(json_node_get_object(answer), "events");
    if (member != NULL && JSON_NODE_HOLDS_ARRAY(member))
      events = json_node_get_array(member);
  }
  guint n = events != NULL ? json_array_get_length(events) : 0;
  gboolean progress = FALSE;
  for (guint i = 0; i < n && !c->closed; i++) {
    JsonNode *ev = json_array_get_element(events, i);
    if (!JSON_NODE_HOLDS_OBJECT(ev))
      continue;
    gint64 id = json_object_get_int_member_with_default(json_node_get_object(ev), "id", 0);
    if (id <= c->last_id)
      continue; /* a handler that ignores "after" must not make this loop forever */
    c->last_id = id;
    progress = TRUE;
    g_autofree char *text = json_to_string(ev, FALSE);
    client_queue(c, g_strdup_printf("{\"event\":%s}\n", text), FALSE);
  }
  if (!progress)
    c->backlog = FALSE; /* caught up: from now on, published events */
}

static void client_follow(Client *c, JsonObject *req)
{
  c->following = TRUE;
  c->backlog = TRUE;
  c->last_id = json_object_get_int_member_with_default(req, "after", 0);
  const char *conf = json_object_get_string_member_with_default(req, "conference", NULL);
  if (conf != NULL)
    c->filter = sip_uri_normalize(conf, NULL);
  log_debug("control: client %u (%s) follows events after %" G_GINT64_FORMAT, c->id, c->peer,
            c->last_id);
  /* The first page is fetched once this line is written. */
  client_send(c, g_strdup("{\"ok\":true,\"following\":true}\n"));
}

static gboolean is_blank(const char *s, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return FALSE;
  return TRUE;
}

static void client_line(Client *c, const char *line, gsize len)
{
  if (c->following || is_blank(line, len))
    return;
  g_autoptr(GError) error = NULL;
  const char *cmd = NULL;
  g_autoptr(JsonObject) req = focus_control_parse_request(line, len, &cmd, &error);
  if (req == NULL) {
    log_debug("control: client %u (%s): %s", c->id, c->peer, error->message);
    client_send(c, error_line(error));
    return;
  }
  json_object_set_string_member(req, "peer", c->peer);
  gboolean follow = json_object_get_boolean_member_with_default(req, "follow", FALSE);
  if (json_object_has_member(req, "follow"))
    json_object_remove_member(req, "follow");
  if (strcmp(cmd, "events") == 0 && follow) {
    client_follow(c, req);
    return;
  }
  log_debug("control: client %u (%s): %s", c->id, c->peer, cmd);
  FocusControl *ctl = c->ctl;
  client_send(c, dispatch(cmd, req, ctl->handle, ctl->data));
}

static void client_read(Client *c);

static void client_input(Client *c)
{
  while (!c->closed && !c->closing && c->in->len > 0) {
    gsize line_len = 0;
    gssize used =
        focus_control_next_line((const char *)c->in->data, c->in->len, c->ctl->max_line, &line_len);
    if (used == 0)
      break;
    if (used < 0) {
      g_autoptr(GError) error =
          g_error_new(FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_TOO_LARGE,
                      "request longer than %" G_GSIZE_FORMAT " bytes", c->ctl->max_line);
      log_warning("control: client %u (%s): %s", c->id, c->peer, error->message);
      g_byte_array_set_size(c->in, 0);
      c->closing = TRUE;
      client_send(c, error_line(error));
      break;
    }
    client_line(c, (const char *)c->in->data, line_len);
    if (!c->closed)
      g_byte_array_remove_range(c->in, 0, (guint)used);
  }
}

static void on_read(GObject *source, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);
  c->reading = FALSE;
  if (c->closed) {
    client_unref(c);
    return;
  }
  if (n < 0) {
    client_close(c, error->message);
  } else if (n == 0) {
    /* End of the requests: answers still queued are written first. */
    if (c->following || (g_queue_is_empty(&c->out) && !c->writing))
      client_close(c, NULL);
    else
      c->closing = TRUE;
  } else {
    c->last_active = g_get_monotonic_time();
    g_byte_array_append(c->in, (const guint8 *)c->buf, (guint)n);
    client_input(c);
    client_read(c);
  }
  client_unref(c);
}

static void client_read(Client *c)
{
  if (c->reading || c->closed || c->closing)
    return;
  c->reading = TRUE;
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->conn));
  g_input_stream_read_async(in, c->buf, sizeof c->buf, G_PRIORITY_DEFAULT, c->cancel, on_read,
                            client_ref(c));
}

static gboolean on_sweep(gpointer data)
{
  FocusControl *ctl = data;
  gint64 limit = g_get_monotonic_time() - (gint64)ctl->idle_timeout * G_USEC_PER_SEC;
  GList *l = ctl->clients.head;
  while (l != NULL) {
    GList *next = l->next;
    Client *c = l->data;
    if (!c->following && c->last_active < limit)
      client_close(c, "idle");
    l = next;
  }
  if (g_queue_is_empty(&ctl->clients)) {
    ctl->sweep_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static char *peer_of(GSocketConnection *conn)
{
  g_autoptr(GCredentials) cred =
      g_socket_get_credentials(g_socket_connection_get_socket(conn), NULL);
  if (cred == NULL)
    return g_strdup("uid=? pid=?");
  return g_strdup_printf("uid=%u pid=%d", (guint)g_credentials_get_unix_user(cred, NULL),
                         (int)g_credentials_get_unix_pid(cred, NULL));
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
                            gpointer data)
{
  FocusControl *ctl = data;
  (void)service;
  (void)source;
  if (g_queue_get_length(&ctl->clients) >= ctl->max_clients) {
    g_autoptr(GError) error =
        g_error_new(FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_BUSY,
                    "too many control clients (at most %u); try again later", ctl->max_clients);
    g_autofree char *line = error_line(error);
    g_autofree char *peer = peer_of(conn);
    log_warning("control: connection from %s refused: %s", peer, error->message);
    /* A new socket's send buffer is empty: this short line goes out without blocking. */
    g_socket_send_with_blocking(g_socket_connection_get_socket(conn), line, strlen(line), FALSE,
                                NULL, NULL);
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    return TRUE;
  }
  Client *c = g_new0(Client, 1);
  c->refs = 1;
  c->id = ++ctl->next_id;
  c->ctl = ctl;
  c->conn = g_object_ref(conn);
  c->cancel = g_cancellable_new();
  c->in = g_byte_array_new();
  g_queue_init(&c->out);
  c->peer = peer_of(conn);
  c->last_active = g_get_monotonic_time();
  g_queue_push_tail(&ctl->clients, c);
  log_debug("control: client %u (%s) connected", c->id, c->peer);
  if (ctl->sweep_source == 0)
    ctl->sweep_source = g_timeout_add_seconds(1, on_sweep, ctl);
  client_read(c);
  return TRUE;
}

/* TRUE if a server accepts connections on path (or has a full backlog: busy, but alive). */
static gboolean socket_answers(const char *path)
{
  g_autoptr(GSocket) sock =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  if (sock == NULL)
    return FALSE;
  g_socket_set_blocking(sock, FALSE);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
  g_autoptr(GError) error = NULL;
  gboolean alive = g_socket_connect(sock, addr, NULL, &error);
  if (!alive && (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING) ||
                 g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
    alive = TRUE;
  g_socket_close(sock, NULL);
  return alive;
}

/* Makes path free for a new socket: its directory exists, and a stale socket is removed. */
static gboolean path_prepare(const char *path, GError **error)
{
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                  "control socket %s exists and is not a socket", path);
      return FALSE;
    }
    if (socket_answers(path)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                  "another mikeyconfd is listening on %s", path);
      return FALSE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
      int err = errno;
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                  "cannot remove the stale control socket %s: %s", path, g_strerror(err));
      return FALSE;
    }
    log_info("control: removed the stale socket %s (nobody answered on it)", path);
  } else if (errno != ENOENT) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "control socket %s: %s", path,
                g_strerror(err));
    return FALSE;
  }
  g_autofree char *dir = g_path_get_dirname(path);
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot create %s: %s", dir,
                g_strerror(err));
    return FALSE;
  }
  return TRUE;
}

static gboolean control_listen(FocusControl *ctl, GError **error)
{
  g_autoptr(GSocket) sock =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (sock == NULL)
    return FALSE;
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(ctl->path);
  /* Created 0600 (nobody else can connect in between), then opened to the group. */
  mode_t old = umask(0177);
  gboolean bound = g_socket_bind(sock, addr, FALSE, error);
  umask(old);
  if (!bound) {
    g_prefix_error(error, "control socket %s: ", ctl->path);
    return FALSE;
  }
  struct stat st;
  if (chmod(ctl->path, 0660) != 0 || lstat(ctl->path, &st) != 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "control socket %s: %s", ctl->path,
                g_strerror(err));
    unlink(ctl->path);
    return FALSE;
  }
  ctl->dev = st.st_dev;
  ctl->ino = st.st_ino;
  g_socket_set_listen_backlog(sock, LISTEN_BACKLOG);
  if (!g_socket_listen(sock, error)) {
    g_prefix_error(error, "control socket %s: ", ctl->path);
    unlink(ctl->path);
    return FALSE;
  }
  ctl->service = g_socket_service_new();
  if (!g_socket_listener_add_socket(G_SOCKET_LISTENER(ctl->service), sock, NULL, error)) {
    unlink(ctl->path);
    return FALSE;
  }
  g_signal_connect(ctl->service, "incoming", G_CALLBACK(on_incoming), ctl);
  g_socket_service_start(ctl->service);
  return TRUE;
}

FocusControl *focus_control_new(const char *path, FocusControlHandler handle, gpointer data,
                                GError **error)
{
  g_return_val_if_fail(path != NULL && handle != NULL, NULL);
  if (path[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty control socket path");
    return NULL;
  }
  if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "control socket path %s is too long (at most %zu bytes)", path,
                sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
    return NULL;
  }
  if (!path_prepare(path, error))
    return NULL;
  FocusControl *ctl = g_new0(FocusControl, 1);
  ctl->path = g_strdup(path);
  ctl->handle = handle;
  ctl->data = data;
  g_queue_init(&ctl->clients);
  ctl->max_clients = FOCUS_CONTROL_MAX_CLIENTS;
  ctl->max_line = FOCUS_CONTROL_MAX_LINE;
  ctl->max_queued = FOCUS_CONTROL_MAX_QUEUED;
  ctl->idle_timeout = FOCUS_CONTROL_IDLE_TIMEOUT;
  if (!control_listen(ctl, error)) {
    focus_control_free(ctl);
    return NULL;
  }
  log_info("control: listening on %s", path);
  return ctl;
}

void focus_control_free(FocusControl *ctl)
{
  if (ctl == NULL)
    return;
  if (ctl->service != NULL) {
    g_signal_handlers_disconnect_by_data(ctl->service, ctl);
    g_socket_service_stop(ctl->service);
    g_socket_listener_close(G_SOCKET_LISTENER(ctl->service));
    g_clear_object(&ctl->service);
    /* Remove the file only if it is still the one this server bound. */
    struct stat st;
    if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
      unlink(ctl->path);
  }
  while (!g_queue_is_empty(&ctl->clients))
    client_close(g_queue_peek_head(&ctl->clients), NULL);
  if (ctl->sweep_source != 0)
    g_source_remove(ctl->sweep_source);
  g_free(ctl->path);
  g_free(ctl);
}

const char *focus_control_path(const FocusControl *ctl)
{
  return ctl->path;
}

void focus_control_set_limits(FocusControl *ctl, guint max_clients, gsize max_line,
                              gsize max_queued, guint idle_timeout_s)
{
  if (max_clients != 0)
    ctl->max_clients = max_clients;
  if (max_line != 0)
    ctl->max_line = MIN(max_line, (gsize)FOCUS_CONTROL_MAX_LINE);
  if (max_queued != 0)
    ctl->max_queued = max_queued;
  if (idle_timeout_s != 0)
    ctl->idle_timeout = idle_timeout_s;
}

guint focus_control_n_clients(const FocusControl *ctl)
{
  return g_queue_get_length((GQueue *)&ctl->clients);
}

guint focus_control_n_followers(const FocusControl *ctl)
{
  guint n = 0;
  for (GList *l = ctl->clients.head; l != NULL; l = l->next)
    n += ((Client *)l->data)->following;
  return n;
}

void focus_control_publish_event(FocusControl *ctl, JsonNode *event)
{
  if (ctl == NULL || event == NULL || !JSON_NODE_HOLDS_OBJECT(event))
    return;
  JsonObject *obj = json_node_get_object(event);
  gint64 id = json_object_get_int_member_with_default(obj, "id", 0);
  const char *conf = json_object_get_string_member_with_default(obj, "conference", NULL);
  g_autofree char *conf_norm = conf != NULL ? sip_uri_normalize(conf, NULL) : NULL;
  g_autofree char *line = NULL;
  GList *l = ctl->clients.head;
  while (l != NULL) {
    GList *next = l->next;
    Client *c = l->data;
    l = next;
    if (!c->following || c->backlog || (id > 0 && id <= c->last_id))
      continue;
    if (c->filter != NULL && (conf_norm == NULL || strcmp(c->filter, conf_norm) != 0))
      continue;
    if (line == NULL) {
      g_autofree char *text = json_to_string(event, FALSE);
      line = g_strdup_printf("{\"event\":%s}\n", text);
    }
    if (id > 0)
      c->last_id = id;
    client_send(c, g_strdup(line));
  }
}
