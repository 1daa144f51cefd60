/* fuzz-control: the request side of mikeyconfd's control socket (src/focus/control.c), which any
 * process allowed on the socket reaches with any bytes.
 *
 * The input is what a client sends: it is cut into lines by focus_control_next_line() (the
 * server's framing, with the real 64 KiB limit and with a small one chosen by the first byte,
 * so both paths of the limit are reached), and every line goes through
 * focus_control_parse_request() and focus_control_respond() with a stub handler. Invariants
 * (abort() otherwise, a finding):
 *   - framing: a line never includes its '\n', never exceeds the limit, and the bytes consumed
 *     are the line plus its end;
 *   - parse: a request (object, known "cmd", members of the right types) xor an error of
 *     FOCUS_CONTROL_ERROR;
 *   - respond: exactly one line, ending in its only '\n', valid UTF-8, a JSON object with a
 *     boolean "ok"; "ok":false carries an "error" string and a "code" among the documented
 *     ones, the parse error's code when parsing failed; "ok":true only for requests that
 *     parse. */
#include "fuzz.h"

#include "focus/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-control: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static const char *const known_commands[] = { "list", "show",   "allowed", "kick",
                                              "end",  "events", "stats" };
static const char *const known_codes[] = { "bad-request", "unknown-command", "not-found",
                                           "conflict",    "too-large",       "busy",
                                           "unavailable", "failed" };

static gboolean in_list(const char *s, const char *const *list, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (strcmp(s, list[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Answers like a daemon would, reflecting the request's strings back; refuses some commands
 * the ways the daemon may (a FOCUS_CONTROL_ERROR, a G_IO_ERROR). */
static JsonNode *stub(const char *cmd, JsonObject *req, GError **error, gpointer data)
{
  CHECK(in_list(cmd, known_commands, G_N_ELEMENTS(known_commands)));
  CHECK(!json_object_has_member(req, "follow"));
  const char *conf = json_object_get_string_member_with_default(req, "conference", NULL);
  if (strcmp(cmd, "show") == 0) {
    CHECK(conf != NULL);
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND, "unknown conference %s",
                conf);
    return NULL;
  }
  if (strcmp(cmd, "kick") == 0) {
    CHECK(conf != NULL && json_object_get_string_member_with_default(req, "identity", NULL));
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full");
    return NULL;
  }
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "cmd", cmd);
  if (conf != NULL)
    json_object_set_string_member(o, "conference", conf);
  if (strcmp(cmd, "events") == 0) {
    FocusAuditEvent ev = { 0 };
    ev.id = json_object_get_int_member_with_default(req, "after", 0) + 1;
    ev.time = 1;
    ev.conference = (char *)conf;
    ev.decision = (char *)"admitted";
    JsonArray *arr = json_array_new();
    json_array_add_element(arr, focus_control_event_json(&ev));
    json_object_set_array_member(o, "events", arr);
  }
  if (strcmp(cmd, "list") == 0) {
    g_autoptr(GPtrArray) allowed = g_ptr_array_new();
    FocusConf *c = focus_conf_new("sip:conf-0@x", "sip:a@x", allowed, NULL, 1);
    JsonArray *arr = json_array_new();
    json_array_add_element(arr, focus_control_conf_json(c));
    focus_conf_free(c);
    json_object_set_array_member(o, "conferences", arr);
  }
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

static void check_line(const char *line, gsize len)
{
  g_autoptr(GError) error = NULL;
  const char *cmd = NULL;
  g_autoptr(JsonObject) req = focus_control_parse_request(line, len, &cmd, &error);
  CHECK((req == NULL) != (error == NULL));
  if (req != NULL) {
    CHECK(cmd != NULL && in_list(cmd, known_commands, G_N_ELEMENTS(known_commands)));
    CHECK(strcmp(json_object_get_string_member(req, "cmd"), cmd) == 0);
  } else {
    CHECK(error->domain == FOCUS_CONTROL_ERROR);
    CHECK(error->message != NULL && g_utf8_validate(error->message, -1, NULL));
  }

  g_autofree char *resp = focus_control_respond(line, len, stub, NULL);
  CHECK(resp != NULL);
  gsize n = strlen(resp);
  CHECK(n >= 2 && resp[n - 1] == '\n' && memchr(resp, '\n', n - 1) == NULL);
  CHECK(g_utf8_validate(resp, (gssize)n, NULL));
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) perr = NULL;
  if (!json_parser_load_from_data(parser, resp, (gssize)n - 1, &perr))
    fprintf(stderr, "fuzz-control: response is not JSON (%s): %s", perr->message, resp);
  CHECK(perr == NULL);
  JsonNode *root = json_parser_get_root(parser);
  CHECK(root != NULL && JSON_NODE_HOLDS_OBJECT(root));
  JsonObject *o = json_node_get_object(root);
  JsonNode *ok = json_object_get_member(o, "ok");
  CHECK(ok != NULL && JSON_NODE_HOLDS_VALUE(ok) && json_node_get_value_type(ok) == G_TYPE_BOOLEAN);
  if (json_node_get_boolean(ok)) {
    CHECK(req != NULL);
    return;
  }
  const char *msg = json_object_get_string_member_with_default(o, "error", NULL);
  const char *code = json_object_get_string_member_with_default(o, "code", NULL);
  CHECK(msg != NULL && code != NULL);
  CHECK(in_list(code, known_codes, G_N_ELEMENTS(known_codes)));
  if (req == NULL)
    CHECK(strcmp(code, focus_control_error_code(error)) == 0);
  else
    CHECK(strcmp(cmd, "show") == 0 || strcmp(cmd, "kick") == 0);
}

static void run(const char *data, gsize size, gsize max_line)
{
  gsize off = 0;
  while (off < size) {
    gsize line_len = (gsize)-1;
    gssize used = focus_control_next_line(data + off, size - off, max_line, &line_len);
    if (used == 0) {
      /* no line end yet: the server waits for more; check the rest as a last line */
      CHECK(memchr(data + off, '\n', size - off) == NULL && size - off <= max_line);
      check_line(data + off, size - off);
      return;
    }
    if (used < 0) {
      /* over the limit: the server answers too-large and closes */
      const char *nl = memchr(data + off, '\n', size - off);
      gsize n = nl != NULL ? (gsize)(nl - (data + off)) : size - off;
      if (nl != NULL && n > 0 && data[off + n - 1] == '\r')
        n--;
      CHECK(n > max_line);
      return;
    }
    CHECK(line_len <= max_line && (gsize)used <= size - off);
    CHECK(data[off + (gsize)used - 1] == '\n');
    CHECK(line_len == (gsize)used - 1 ||
          (line_len == (gsize)used - 2 && data[off + line_len] == '\r'));
    CHECK(memchr(data + off, '\n', line_len) == NULL);
    check_line(data + off, line_len);
    off += (gsize)used;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = size ? (const char *)data : "";
  run(text, size, FOCUS_CONTROL_MAX_LINE);
  /* a small limit chosen by the input, so that the framing's refusal is reached too */
  if (size > 0)
    run(text, size, 1 + data[0] % 64);
  return 0;
}
