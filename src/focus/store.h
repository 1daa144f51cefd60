/* The focus's records (profile 7.4): <state-dir>/focus.db, SQLite in WAL mode with
 * synchronous=NORMAL (common/db.h), so a committed transaction survives a kill -9 of the
 * daemon. It holds
 *   - conferences: URI, owner, allowed set, creation-ticket fingerprint, created / updated /
 *     ended (Unix seconds); ended records stay, so their URIs keep answering 404;
 *   - the audit log: one row per decision (time in microseconds, conference, identity, source
 *     address, decision, reason, detail), with ids that only grow (never reused), and a running
 *     count per (decision, reason) for `mikeyconfctl stats`.
 *
 * Every write is one transaction, committed before the function returns TRUE: call it before
 * sending the SIP answer that depends on it (7.1 step 4, 7.3). A write that carries an audit
 * event writes both in the same transaction. The store is used from one thread (the main
 * loop); it is not locked.
 *
 * Errors (G_IO_ERROR domain; the SIP layer answers 500 or 503 to any of them):
 *   G_IO_ERROR_NO_SPACE          the disk (or the database's page limit) is full
 *   G_IO_ERROR_READ_ONLY         the database or its directory cannot be written
 *   G_IO_ERROR_EXISTS            conf_create of a URI that is already recorded
 *   G_IO_ERROR_NOT_FOUND         no record of that conference
 *   G_IO_ERROR_CLOSED            conf_end of a conference that has already ended
 *   G_IO_ERROR_INVALID_ARGUMENT  a URI or identity that does not parse (sipuri.h)
 *   G_IO_ERROR_FAILED            anything else SQLite reports (its message is kept)
 * A failed write changes nothing on disk. */
#pragma once

#include "focus/conference.h"

#include <glib.h>
#include <sqlite3.h>

typedef struct _FocusStore FocusStore;

/* Default and largest page of focus_store_audit_list(). */
#define FOCUS_STORE_AUDIT_PAGE 1000

/* One audit event. Strings may be NULL (not known / not applicable), except decision. */
typedef struct {
  gint64 id;        /* set by the store; grows by at least 1 per event, never reused */
  gint64 time;      /* microseconds since the epoch (g_get_real_time()); 0 = now */
  char *conference; /* conference URI (stored normalised when it parses) */
  char *identity;   /* the (KMS-authenticated) identity concerned */
  char *source;     /* the peer's address, e.g. "192.0.2.7:5060", or "control" */
  char *decision; /* admitted, refused, created, set-changed, removed, rekeyed, ended, kicked… */
  char *reason;   /* short stable code: "not-in-allowed-set", "unknown-conference", … */
  char *detail;   /* one sentence for people */
} FocusAuditEvent;

void focus_audit_event_clear(FocusAuditEvent *event);
void focus_audit_event_free(FocusAuditEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusAuditEvent, focus_audit_event_free)

/* Opens <state_dir>/focus.db, creating the directory (0700) and the database (0600, with its
 * -wal and -shm files) when missing, and brings its schema up to date. */
FocusStore *focus_store_open(const char *state_dir, GError **error);
void focus_store_free(FocusStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusStore, focus_store_free)
const char *focus_store_path(const FocusStore *store); /* the database file */

/* Records a new conference (7.1 step 4): conf's uri, owner, allowed set, ticket_fp and times.
 * event (may be NULL) is added in the same transaction; its id and time are filled in. */
gboolean focus_store_conf_create(FocusStore *store, const FocusConf *conf, FocusAuditEvent *event,
                                 GError **error);
/* Replaces the allowed set of the conference uri names (any URI-equal form) and sets its
 * updated time to now (7.3). allowed: identities, normalised here (sorted, unique). Install
 * the set in memory only after this returned TRUE. */
gboolean focus_store_conf_set_allowed(FocusStore *store, const char *uri, GPtrArray *allowed,
                                      gint64 now, FocusAuditEvent *event, GError **error);
/* Marks a live conference ended at now (7.4). */
gboolean focus_store_conf_end(FocusStore *store, const char *uri, gint64 now,
                              FocusAuditEvent *event, GError **error);

/* Adds every recorded conference to reg, ended ones included, in creation order (7.4 after a
 * restart). A record that no longer parses is skipped with a warning in the log. Returns the
 * number added, -1 with error on failure. */
gint focus_store_load(FocusStore *store, FocusRegistry *reg, GError **error);

/* Adds an audit event in its own transaction; returns its id (> 0), or 0 with error. event's
 * id (and time when it was 0) are filled in. */
gint64 focus_store_audit_add(FocusStore *store, FocusAuditEvent *event, GError **error);

/* Events with id > after_id in id order, at most limit (0 = FOCUS_STORE_AUDIT_PAGE; larger
 * values are capped to it); conference (NULL = all) keeps those of one conference (any
 * URI-equal form). Returns FocusAuditEvent*, possibly empty; NULL with error on failure.
 * Page through the log by passing the last id seen as after_id. */
GPtrArray *focus_store_audit_list(FocusStore *store, gint64 after_id, guint limit,
                                  const char *conference, GError **error);

/* For stats: records and events since the database was created. */
typedef struct {
  char *decision;
  char *reason; /* "" when the events had none */
  gint64 count;
} FocusAuditCount;

typedef struct {
  gint64 conferences; /* records, live + ended */
  gint64 live;
  gint64 ended;
  gint64 events;        /* audit events ever added */
  gint64 last_event;    /* id of the newest event; 0 when none */
  GPtrArray *by_reason; /* FocusAuditCount*, ordered by decision then reason */
} FocusStoreCounts;

gboolean focus_store_counts(FocusStore *store, FocusStoreCounts *counts, GError **error);
void focus_store_counts_clear(FocusStoreCounts *counts);

/* The connection, for tests and diagnostics only (e.g. PRAGMA max_page_count to simulate a
 * full disk, PRAGMA query_only to simulate a read-only one). */
sqlite3 *focus_store_db(FocusStore *store);
