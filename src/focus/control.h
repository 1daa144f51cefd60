/* The control socket of mikeyconfd: a UNIX stream socket (default
 * FOCUS_CONTROL_DEFAULT_SOCKET, mode 0660) on the GLib main loop, speaking newline-delimited
 * JSON; mikeyconfctl(8) documents the protocol for people.
 *
 * One request per line, one response line per request, in order:
 *   {"cmd":"list"}
 *   {"cmd":"show","conference":"sip:conf-…@host"}
 *   {"cmd":"allowed","conference":"sip:conf-…@host"}
 *   {"cmd":"kick","conference":"sip:conf-…@host","identity":"sip:bob@example.org"}
 *   {"cmd":"end","conference":"sip:conf-…@host"}
 *   {"cmd":"stats"}
 *   {"cmd":"events","after":0,"limit":1000,"conference":"sip:conf-…","follow":false}
 * answered by
 *   {"ok":true, …members of the handler's answer…}
 *   {"ok":false,"error":"unknown conference sip:conf-…","code":"not-found"}
 * Error codes: see FocusControlError. Members a command does not know are ignored.
 *
 * This module owns the socket, the framing, the validation of every request (types, URIs,
 * ranges) and the event stream; what a command means lives in the daemon, which passes a
 * FocusControlHandler. The handler is called on the main loop with a validated request and
 * answers with a JSON object whose members go into the response (NULL = nothing to add), or
 * NULL and a GError (FOCUS_CONTROL_ERROR, or G_IO_ERROR mapped by focus_control_error_code()).
 * Before the call the server sets the request's "peer" member to the connecting process's
 * credentials, "uid=U pid=P" (a client-sent "peer" is replaced), for the audit log.
 *
 * What the handler is expected to answer (what mikeyconfctl prints; times are Unix seconds
 * for conferences, microseconds for events; every member is optional to the CLI):
 *   list    {"conferences":[{"uri","owner","allowed":[…],"participants":N,"created",
 *             "updated","ended"}…]}
 *   show    {"conference":{"uri","owner","allowed":[…],"ticket_fp","created","updated","ended",
 *             "participants":[{"identity","address","codec","srtp","packets_in","packets_out",
 *             "lost","jitter_ms"}…]}}
 *   allowed {"conference":"sip:conf-…","allowed":[…]}
 *   kick    {"conference":"…","identity":"…","legs":N}
 *   end     {"conference":"…","ended":T}
 *   stats   {"stats":{…}} — any nesting of objects and numbers, printed flattened
 *   events  {"events":[event…]}: the events with id > "after" in id order, at most "limit"
 *           (1..1000, default 1000), of one conference when "conference" is given; an event is
 *           focus_control_event_json() of a FocusAuditEvent.
 * focus_control_conf_json() gives the members of a FocusConf for list and show.
 *
 * Following the audit stream: {"cmd":"events","after":N,"follow":true} is answered with
 * {"ok":true,"following":true}, then one line {"event":{…}} per event: first the stored ones
 * after N (the server pages through them by calling the handler's "events" with "after" and
 * "limit" — without "follow" — whenever the client has read the previous page, until a page is
 * empty), then each event the daemon passes to focus_control_publish_event(), in the order
 * published. Publish an event after the store committed it, from the main loop, in id order;
 * events that carry an "id" not above the last one a client received are not sent to it twice.
 * A following client sends nothing more (what it sends is ignored).
 *
 * Bounds: a request line of at most FOCUS_CONTROL_MAX_LINE bytes (a longer one is answered
 * "too-large" and the connection closed), JSON nesting at most FOCUS_CONTROL_MAX_DEPTH, at most
 * FOCUS_CONTROL_MAX_CLIENTS connections (the next is answered "busy" and closed), at most
 * FOCUS_CONTROL_MAX_QUEUED bytes of answers and live events waiting for one client (a client
 * that reads slower than that is dropped, with a log line; backlog pages do not count, as the
 * next is fetched only once the last is read), and a client that is not following and sends
 * nothing for FOCUS_CONTROL_IDLE_TIMEOUT seconds (nor reads what it is sent) is closed. */
#pragma once

#include "focus/conference.h"
#include "focus/store.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#define FOCUS_CONTROL_DEFAULT_SOCKET "/run/mikeyconf/mikeyconfd.sock"
#define FOCUS_CONTROL_MAX_LINE (64 * 1024)
#define FOCUS_CONTROL_MAX_DEPTH 16
#define FOCUS_CONTROL_MAX_CLIENTS 64
#define FOCUS_CONTROL_MAX_QUEUED (1024 * 1024)
#define FOCUS_CONTROL_IDLE_TIMEOUT 60
#define FOCUS_CONTROL_EVENTS_PAGE 1000

/* Errors of the protocol; focus_control_error_code() gives the "code" string of each. */
#define FOCUS_CONTROL_ERROR (focus_control_error_quark())
GQuark focus_control_error_quark(void);

typedef enum {
  FOCUS_CONTROL_ERROR_BAD_REQUEST,     /* "bad-request": not JSON, not an object, bad member */
  FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND, /* "unknown-command" */
  FOCUS_CONTROL_ERROR_NOT_FOUND,       /* "not-found": unknown conference or participant */
  FOCUS_CONTROL_ERROR_CONFLICT,        /* "conflict": e.g. the conference has already ended */
  FOCUS_CONTROL_ERROR_TOO_LARGE,       /* "too-large": request line over the limit */
  FOCUS_CONTROL_ERROR_BUSY,            /* "busy": too many control clients */
  FOCUS_CONTROL_ERROR_UNAVAILABLE,     /* "unavailable": the records cannot be written now */
  FOCUS_CONTROL_ERROR_FAILED,          /* "failed": anything else */
} FocusControlError;

/* The protocol's "code" for an error: FOCUS_CONTROL_ERROR codes as above; from G_IO_ERROR,
 * NOT_FOUND -> not-found, INVALID_ARGUMENT -> bad-request, EXISTS and CLOSED -> conflict,
 * NO_SPACE, READ_ONLY and BUSY -> unavailable; anything else "failed". */
const char *focus_control_error_code(const GError *error);

/* The daemon's side: answers one validated request (see above). Returns a new JsonNode
 * (transfer full; an object, or NULL for nothing to add), or NULL with error set. */
typedef JsonNode *(*FocusControlHandler)(const char *cmd, JsonObject *request, GError **error,
                                         gpointer data);

typedef struct _FocusControl FocusControl;

/* Listens on path (created 0660; its directory 0755 when missing) on the thread-default main
 * context. The socket is bound under umask 0177 (the umask is the process's: call this at
 * start-up, before threads that create files). An existing socket file nobody answers on (left by a
 * crash) is replaced; a file that is not a socket, or a socket another daemon answers on, is
 * refused (G_IO_ERROR_ADDRESS_IN_USE). */
FocusControl *focus_control_new(const char *path, FocusControlHandler handle, gpointer data,
                                GError **error);
/* Closes every connection and removes the socket file (if it is still this server's). */
void focus_control_free(FocusControl *ctl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusControl, focus_control_free)
const char *focus_control_path(const FocusControl *ctl);
/* Changes the bounds (0 keeps a value); for tests and configuration. */
void focus_control_set_limits(FocusControl *ctl, guint max_clients, gsize max_line,
                              gsize max_queued, guint idle_timeout_s);
guint focus_control_n_clients(const FocusControl *ctl);
guint focus_control_n_followers(const FocusControl *ctl);

/* Sends an event (an object, usually focus_control_event_json()) to every client following the
 * audit stream, as {"event":…}. The node is not taken. */
void focus_control_publish_event(FocusControl *ctl, JsonNode *event);

/* {"id","time","conference","identity","source","decision","reason","detail"} (NULL members
 * left out). */
JsonNode *focus_control_event_json(const FocusAuditEvent *event);
/* {"uri","owner","allowed":[…],"ticket_fp","created","updated","ended"}: add members (e.g.
 * "participants") with json_node_get_object(). */
JsonNode *focus_control_conf_json(const FocusConf *conf);

/* The pieces of the protocol, exposed for tests and the fuzz harness (tests/fuzz/fuzz-control.c).
 *
 * Framing: where the first line of buf ends. Returns the bytes it takes including its '\n' and
 * sets *line_len to its length without the '\n' (and a '\r' before it); 0 when buf holds no
 * complete line yet; -1 when the line (complete or not) is longer than max_line. */
gssize focus_control_next_line(const char *buf, gsize len, gsize max_line, gsize *line_len);
/* Parses and validates one request line (without its newline): returns the request object
 * with *cmd pointing at its command name (valid while the object lives); NULL with a
 * FOCUS_CONTROL_ERROR otherwise. Never keeps state. */
JsonObject *focus_control_parse_request(const char *line, gsize len, const char **cmd,
                                        GError **error);
/* The response line ("…\n", NUL-terminated, g_free) to one request line: parse, validate, ask
 * handle, serialise. An "events" request with "follow" is answered like one without. */
char *focus_control_respond(const char *line, gsize len, FocusControlHandler handle, gpointer data);
