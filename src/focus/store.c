/* The focus's records (store.h; profile 7.4).
 *
 * Schema (version 1):
 *   conferences  one row per conference ever created; uri as sent in Contact, uri_norm its
 *                sip_uri_normalize() form (UNIQUE, the key of every update), allowed the
 *                normalised identities separated by single spaces (a normalised identity never
 *                contains a space: sipuri.c refuses one), times in Unix seconds, ended 0 while
 *                live.
 *   audit        the audit log; id is AUTOINCREMENT so ids are never reused, even if old rows
 *                are ever pruned: `events --after N` cursors stay valid.
 *   audit_counts a count per (decision, reason), bumped in the transaction of each event, so
 *                stats never scan the log.
 *
 * Statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reset after every use, so no
 * read transaction is left open to hold back WAL checkpoints. */
#include "store.h"

#include "common/db.h"
#include "common/log.h"
#include "common/sipuri.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#define STORE_FILE "focus.db"

struct _FocusStore {
  char *dir;
  char *path;
  sqlite3 *db;
  GHashTable *stmts; /* SQL text (static) -> sqlite3_stmt* */
};

/* ------------------------------------------------------------------ schema */

static const char *const schema_steps[] = {
  /* version 1 */
  "CREATE TABLE conferences ("
  "  id INTEGER PRIMARY KEY,"
  "  uri TEXT NOT NULL,"
  "  uri_norm TEXT NOT NULL UNIQUE,"
  "  owner TEXT NOT NULL,"
  "  allowed TEXT NOT NULL,"
  "  ticket_fp TEXT,"
  "  created INTEGER NOT NULL,"
  "  updated INTEGER NOT NULL,"
  "  ended INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE TABLE audit ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  time INTEGER NOT NULL,"
  "  conference TEXT,"
  "  identity TEXT,"
  "  source TEXT,"
  "  decision TEXT NOT NULL,"
  "  reason TEXT,"
  "  detail TEXT"
  ");"
  "CREATE INDEX audit_conference ON audit(conference, id);"
  "CREATE TABLE audit_counts ("
  "  decision TEXT NOT NULL,"
  "  reason TEXT NOT NULL,"
  "  n INTEGER NOT NULL,"
  "  PRIMARY KEY (decision, reason)"
  ") WITHOUT ROWID;",
};

#define SQL_BEGIN "BEGIN IMMEDIATE"
#define SQL_COMMIT "COMMIT"
#define SQL_CONF_INSERT                                                                            \
  "INSERT INTO conferences (uri, uri_norm, owner, allowed, ticket_fp, created, updated, ended) "   \
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
#define SQL_CONF_SET_ALLOWED                                                                       \
  "UPDATE conferences SET allowed = ?2, updated = ?3 WHERE uri_norm = ?1 AND ended = 0"
#define SQL_CONF_END                                                                               \
  "UPDATE conferences SET ended = ?2, updated = ?2 WHERE uri_norm = ?1 AND ended = 0"
#define SQL_CONF_EXISTS "SELECT ended FROM conferences WHERE uri_norm = ?1"
#define SQL_CONF_ALL                                                                               \
  "SELECT id, uri, owner, allowed, ticket_fp, created, updated, ended FROM conferences "           \
  "ORDER BY id"
#define SQL_CONF_COUNTS "SELECT count(*), coalesce(sum(ended = 0), 0) FROM conferences"
#define SQL_AUDIT_INSERT                                                                           \
  "INSERT INTO audit (time, conference, identity, source, decision, reason, detail) "              \
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
#define SQL_AUDIT_COUNT                                                                            \
  "INSERT INTO audit_counts (decision, reason, n) VALUES (?1, ?2, 1) "                             \
  "ON CONFLICT (decision, reason) DO UPDATE SET n = n + 1"
#define SQL_AUDIT_COLUMNS "SELECT id, time, conference, identity, source, decision, reason, detail "
#define SQL_AUDIT_AFTER SQL_AUDIT_COLUMNS "FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2"
#define SQL_AUDIT_AFTER_CONF                                                                       \
  SQL_AUDIT_COLUMNS "FROM audit WHERE conference = ?3 AND id > ?1 ORDER BY id LIMIT ?2"
#define SQL_AUDIT_LAST "SELECT coalesce(max(id), 0) FROM audit"
#define SQL_COUNTS "SELECT decision, reason, n FROM audit_counts ORDER BY decision, reason"

/* ------------------------------------------------------------------ helpers */

void focus_audit_event_clear(FocusAuditEvent *event)
{
  if (event == NULL)
    return;
  g_free(event->conference);
  g_free(event->identity);
  g_free(event->source);
  g_free(event->decision);
  g_free(event->reason);
  g_free(event->detail);
  memset(event, 0, sizeof *event);
}

void focus_audit_event_free(FocusAuditEvent *event)
{
  if (event == NULL)
    return;
  focus_audit_event_clear(event);
  g_free(event);
}

static void audit_count_free(gpointer p)
{
  FocusAuditCount *c = p;
  g_free(c->decision);
  g_free(c->reason);
  g_free(c);
}

void focus_store_counts_clear(FocusStoreCounts *counts)
{
  if (counts == NULL)
    return;
  g_clear_pointer(&counts->by_reason, g_ptr_array_unref);
  memset(counts, 0, sizeof *counts);
}

/* The GIOErrorEnum for the connection's last SQLite error. */
static int io_code_of(sqlite3 *db)
{
  int rc = sqlite3_extended_errcode(db);
  switch (rc & 0xff) {
  case SQLITE_FULL:
    return G_IO_ERROR_NO_SPACE;
  case SQLITE_READONLY:
  case SQLITE_PERM:
    return G_IO_ERROR_READ_ONLY;
  case SQLITE_CONSTRAINT:
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? G_IO_ERROR_EXISTS
                                                                                : G_IO_ERROR_FAILED;
  default:
    return G_IO_ERROR_FAILED;
  }
}

/* Sets error from the connection's last error: "<db path>: <what>: <SQLite's message>". */
static void store_error(FocusStore *store, GError **error, const char *what)
{
  g_set_error(error, G_IO_ERROR, io_code_of(store->db), "%s: %s: %s", store->path, what,
              sqlite3_errmsg(store->db));
}

static sqlite3_stmt *stmt_get(FocusStore *store, const char *sql, GError **error)
{
  return db_stmt_cached(store->db, store->stmts, sql, error);
}

static void stmt_done(sqlite3_stmt *stmt)
{
  db_stmt_done(stmt);
}

/* Runs a statement that returns no row. */
static gboolean stmt_run(FocusStore *store, sqlite3_stmt *stmt, const char *what, GError **error)
{
  int rc = sqlite3_step(stmt);
  gboolean ok = rc == SQLITE_DONE;
  if (!ok)
    store_error(store, error, what);
  stmt_done(stmt);
  return ok;
}

static gboolean tx_begin(FocusStore *store, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, SQL_BEGIN, error);
  return stmt != NULL && stmt_run(store, stmt, "begin a transaction", error);
}

static gboolean tx_commit(FocusStore *store, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, SQL_COMMIT, error);
  return stmt != NULL && stmt_run(store, stmt, "commit", error);
}

static void tx_rollback(FocusStore *store)
{
  db_rollback(store->db);
}

static char *normalize_uri(const char *uri, const char *what, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *norm = uri != NULL ? sip_uri_normalize(uri, &local) : NULL;
  if (norm == NULL)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s %s: %s", what,
                uri != NULL ? uri : "(none)", local != NULL ? local->message : "missing");
  return norm;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "id1 id2 …" of a FocusConf's set, which is normalised, sorted and unique already. */
static char *allowed_text_of_conf(const FocusConf *conf)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < conf->allowed->len; i++)
    g_string_append_printf(s, "%s%s", i ? " " : "", (const char *)conf->allowed->pdata[i]);
  return g_string_free(s, FALSE);
}

/* "id1 id2 …": the identities normalised, sorted, unique. */
static char *allowed_text(GPtrArray *allowed, GError **error)
{
  g_autoptr(GPtrArray) set = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; allowed != NULL && i < allowed->len; i++) {
    char *norm = normalize_uri(g_ptr_array_index(allowed, i), "identity", error);
    if (norm == NULL)
      return NULL;
    g_ptr_array_add(set, norm);
  }
  g_ptr_array_sort(set, cmp_str);
  GString *s = g_string_new(NULL);
  const char *prev = NULL;
  for (guint i = 0; i < set->len; i++) {
    const char *id = g_ptr_array_index(set, i);
    if (prev != NULL && strcmp(prev, id) == 0)
      continue;
    g_string_append_printf(s, "%s%s", s->len ? " " : "", id);
    prev = id;
  }
  return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ open / close */

FocusStore *focus_store_open(const char *state_dir, GError **error)
{
  g_return_val_if_fail(state_dir != NULL, NULL);
  if (state_dir[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty state directory name");
    return NULL;
  }
  if (g_mkdir_with_parents(state_dir, 0700) != 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                "cannot create state directory %s: %s", state_dir, g_strerror(err));
    return NULL;
  }
  g_autoptr(FocusStore) store = g_new0(FocusStore, 1);
  store->dir = g_strdup(state_dir);
  store->path = g_build_filename(state_dir, STORE_FILE, NULL);
  store->stmts = db_stmt_cache_new();

  /* A WAL database needs its directory writable (the -wal and -shm files), even to read. */
  if (access(state_dir, W_OK) != 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR,
                err == EACCES || err == EROFS || err == EPERM ? G_IO_ERROR_READ_ONLY
                                                              : g_io_error_from_errno(err),
                "state directory %s is not writable: %s", state_dir, g_strerror(err));
    return NULL;
  }
  gboolean new_db = !g_file_test(store->path, G_FILE_TEST_EXISTS);
  store->db = db_open(store->path, TRUE, error);
  if (store->db == NULL)
    return NULL;
  /* Owner, allowed sets and who was refused from where are nobody else's business; the -wal
   * and -shm files take the database's mode when SQLite creates them. */
  for (int i = 0; i < 3; i++) {
    static const char *const suffix[] = { "", "-wal", "-shm" };
    g_autofree char *path = g_strconcat(store->path, suffix[i], NULL);
    GStatBuf st;
    if (g_stat(path, &st) != 0) {
      if (i == 0 || errno != ENOENT) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot stat %s: %s", path,
                    g_strerror(err));
        return NULL;
      }
      continue;
    }
    if ((new_db || (st.st_mode & 0077) != 0) && g_chmod(path, 0600) != 0) {
      int err = errno;
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot chmod %s: %s", path,
                  g_strerror(err));
      return NULL;
    }
  }
  /* Keep the WAL from staying large after a burst: truncate it to 4 MiB at checkpoints. */
  if (!db_exec(store->db, "PRAGMA journal_size_limit=4194304", error) ||
      !db_migrate(store->db, schema_steps, G_N_ELEMENTS(schema_steps), error)) {
    g_prefix_error(error, "%s: ", store->path);
    return NULL;
  }
  return g_steal_pointer(&store);
}

void focus_store_free(FocusStore *store)
{
  if (store == NULL)
    return;
  g_hash_table_destroy(store->stmts); /* finalizes before the close */
  db_close(store->db);
  g_free(store->path);
  g_free(store->dir);
  g_free(store);
}

const char *focus_store_path(const FocusStore *store)
{
  return store->path;
}

sqlite3 *focus_store_db(FocusStore *store)
{
  return store->db;
}

/* ------------------------------------------------------------------ audit */

/* Inserts an event inside the caller's transaction. */
static gboolean audit_insert(FocusStore *store, FocusAuditEvent *ev, GError **error)
{
  if (ev->decision == NULL || ev->decision[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "audit event without decision");
    return FALSE;
  }
  if (ev->conference != NULL) {
    char *norm = sip_uri_normalize(ev->conference, NULL);
    if (norm != NULL) {
      g_free(ev->conference);
      ev->conference = norm;
    }
  }
  if (ev->time == 0)
    ev->time = g_get_real_time();
  sqlite3_stmt *stmt = stmt_get(store, SQL_AUDIT_INSERT, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64(stmt, 1, ev->time);
  db_bind_text(stmt, 2, ev->conference);
  db_bind_text(stmt, 3, ev->identity);
  db_bind_text(stmt, 4, ev->source);
  db_bind_text(stmt, 5, ev->decision);
  db_bind_text(stmt, 6, ev->reason);
  db_bind_text(stmt, 7, ev->detail);
  if (!stmt_run(store, stmt, "add an audit event", error))
    return FALSE;
  gint64 id = sqlite3_last_insert_rowid(store->db);

  stmt = stmt_get(store, SQL_AUDIT_COUNT, error);
  if (stmt == NULL)
    return FALSE;
  db_bind_text(stmt, 1, ev->decision);
  db_bind_text(stmt, 2, ev->reason != NULL ? ev->reason : "");
  if (!stmt_run(store, stmt, "count an audit event", error))
    return FALSE;
  ev->id = id;
  return TRUE;
}

gint64 focus_store_audit_add(FocusStore *store, FocusAuditEvent *event, GError **error)
{
  g_return_val_if_fail(store != NULL && event != NULL, 0);
  gint64 time = event->time;
  if (!tx_begin(store, error))
    return 0;
  if (!audit_insert(store, event, error) || !tx_commit(store, error)) {
    tx_rollback(store);
    event->id = 0;
    event->time = time;
    return 0;
  }
  return event->id;
}

/* Commits the statement's change with an optional event, or rolls back. */
static gboolean finish_write(FocusStore *store, FocusAuditEvent *event, gint64 event_time,
                             gboolean ok, GError **error)
{
  if (ok && event != NULL)
    ok = audit_insert(store, event, error);
  if (ok)
    ok = tx_commit(store, error);
  if (!ok) {
    tx_rollback(store);
    if (event != NULL) {
      event->id = 0;
      event->time = event_time;
    }
  }
  return ok;
}

GPtrArray *focus_store_audit_list(FocusStore *store, gint64 after_id, guint limit,
                                  const char *conference, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  if (limit == 0 || limit > FOCUS_STORE_AUDIT_PAGE)
    limit = FOCUS_STORE_AUDIT_PAGE;
  g_autofree char *conf_norm = NULL;
  if (conference != NULL) {
    conf_norm = sip_uri_normalize(conference, NULL);
    if (conf_norm == NULL)
      conf_norm = g_strdup(conference);
  }
  sqlite3_stmt *stmt =
      stmt_get(store, conf_norm != NULL ? SQL_AUDIT_AFTER_CONF : SQL_AUDIT_AFTER, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64(stmt, 1, MAX(after_id, 0));
  sqlite3_bind_int64(stmt, 2, limit);
  if (conf_norm != NULL)
    db_bind_text(stmt, 3, conf_norm);
  g_autoptr(GPtrArray) events =
      g_ptr_array_new_with_free_func((GDestroyNotify)focus_audit_event_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    FocusAuditEvent *ev = g_new0(FocusAuditEvent, 1);
    ev->id = sqlite3_column_int64(stmt, 0);
    ev->time = sqlite3_column_int64(stmt, 1);
    ev->conference = db_column_text(stmt, 2);
    ev->identity = db_column_text(stmt, 3);
    ev->source = db_column_text(stmt, 4);
    ev->decision = db_column_text(stmt, 5);
    ev->reason = db_column_text(stmt, 6);
    ev->detail = db_column_text(stmt, 7);
    g_ptr_array_add(events, ev);
  }
  if (rc != SQLITE_DONE) {
    store_error(store, error, "list audit events");
    stmt_done(stmt);
    return NULL;
  }
  stmt_done(stmt);
  return g_steal_pointer(&events);
}

/* ------------------------------------------------------------------ conferences */

gboolean focus_store_conf_create(FocusStore *store, const FocusConf *conf, FocusAuditEvent *event,
                                 GError **error)
{
  g_return_val_if_fail(store != NULL && conf != NULL, FALSE);
  /* a FocusConf holds both normalised already (conference.h) */
  g_autofree char *uri_norm =
      conf->key ? g_strdup(conf->key) : normalize_uri(conf->uri, "conference URI", error);
  if (uri_norm == NULL)
    return FALSE;
  g_autofree char *owner =
      conf->owner ? g_strdup(conf->owner) : normalize_uri(NULL, "owner", error);
  if (owner == NULL)
    return FALSE;
  g_autofree char *allowed = allowed_text_of_conf(conf);
  gint64 event_time = event != NULL ? event->time : 0;
  if (!tx_begin(store, error))
    return FALSE;
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_INSERT, error);
  gboolean ok = stmt != NULL;
  if (ok) {
    db_bind_text(stmt, 1, conf->uri);
    db_bind_text(stmt, 2, uri_norm);
    db_bind_text(stmt, 3, owner);
    db_bind_text(stmt, 4, allowed);
    db_bind_text(stmt, 5, conf->ticket_fp);
    sqlite3_bind_int64(stmt, 6, conf->created);
    sqlite3_bind_int64(stmt, 7, conf->updated);
    sqlite3_bind_int64(stmt, 8, conf->ended);
    g_autofree char *what = g_strdup_printf("record conference %s", conf->uri);
    ok = stmt_run(store, stmt, what, error);
  }
  return finish_write(store, event, event_time, ok, error);
}

/* After an UPDATE … WHERE uri_norm = ? AND ended = 0 changed nothing: why. */
static void set_missing_error(FocusStore *store, const char *uri, const char *uri_norm,
                              GError **error)
{
  GError *local = NULL;
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_EXISTS, &local);
  if (stmt == NULL) {
    g_propagate_error(error, local);
    return;
  }
  db_bind_text(stmt, 1, uri_norm);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "conference %s has ended", uri);
  else if (rc == SQLITE_DONE)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "unknown conference %s", uri);
  else
    store_error(store, error, "look up a conference");
  stmt_done(stmt);
}

gboolean focus_store_conf_set_allowed(FocusStore *store, const char *uri, GPtrArray *allowed,
                                      gint64 now, FocusAuditEvent *event, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *uri_norm = normalize_uri(uri, "conference URI", error);
  if (uri_norm == NULL)
    return FALSE;
  g_autofree char *text = allowed_text(allowed, error);
  if (text == NULL)
    return FALSE;
  gint64 event_time = event != NULL ? event->time : 0;
  if (!tx_begin(store, error))
    return FALSE;
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_SET_ALLOWED, error);
  gboolean ok = stmt != NULL;
  if (ok) {
    db_bind_text(stmt, 1, uri_norm);
    db_bind_text(stmt, 2, text);
    sqlite3_bind_int64(stmt, 3, now);
    g_autofree char *what = g_strdup_printf("record the allowed set of %s", uri);
    ok = stmt_run(store, stmt, what, error);
    if (ok && sqlite3_changes(store->db) == 0) {
      set_missing_error(store, uri, uri_norm, error);
      ok = FALSE;
    }
  }
  return finish_write(store, event, event_time, ok, error);
}

gboolean focus_store_conf_end(FocusStore *store, const char *uri, gint64 now,
                              FocusAuditEvent *event, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_autofree char *uri_norm = normalize_uri(uri, "conference URI", error);
  if (uri_norm == NULL)
    return FALSE;
  gint64 event_time = event != NULL ? event->time : 0;
  if (!tx_begin(store, error))
    return FALSE;
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_END, error);
  gboolean ok = stmt != NULL;
  if (ok) {
    db_bind_text(stmt, 1, uri_norm);
    sqlite3_bind_int64(stmt, 2, now > 0 ? now : 1);
    g_autofree char *what = g_strdup_printf("record the end of %s", uri);
    ok = stmt_run(store, stmt, what, error);
    if (ok && sqlite3_changes(store->db) == 0) {
      set_missing_error(store, uri, uri_norm, error);
      ok = FALSE;
    }
  }
  return finish_write(store, event, event_time, ok, error);
}

gint focus_store_load(FocusStore *store, FocusRegistry *reg, GError **error)
{
  g_return_val_if_fail(store != NULL && reg != NULL, -1);
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_ALL, error);
  if (stmt == NULL)
    return -1;
  gint n = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64(stmt, 0);
    const char *uri = (const char *)sqlite3_column_text(stmt, 1);
    const char *owner = (const char *)sqlite3_column_text(stmt, 2);
    const char *allowed = (const char *)sqlite3_column_text(stmt, 3);
    const char *fp = (const char *)sqlite3_column_text(stmt, 4);
    g_autofree char *uri_norm = uri != NULL ? sip_uri_normalize(uri, NULL) : NULL;
    g_autofree char *owner_norm = owner != NULL ? sip_uri_normalize(owner, NULL) : NULL;
    if (uri_norm == NULL || owner_norm == NULL) {
      log_warning("%s: conference record %" G_GINT64_FORMAT " (%s) is damaged and not loaded",
                  store->path, id, uri != NULL ? uri : "no URI");
      continue;
    }
    g_auto(GStrv) ids = g_strsplit(allowed != NULL ? allowed : "", " ", -1);
    g_autoptr(GPtrArray) set = g_ptr_array_new();
    for (char **p = ids; *p != NULL; p++)
      if (**p != '\0')
        g_ptr_array_add(set, *p);
    FocusConf *conf = focus_conf_new(uri, owner, set, fp, sqlite3_column_int64(stmt, 5));
    conf->updated = sqlite3_column_int64(stmt, 6);
    conf->ended = sqlite3_column_int64(stmt, 7);
    focus_registry_add(reg, conf);
    n++;
  }
  if (rc != SQLITE_DONE) {
    store_error(store, error, "load conferences");
    stmt_done(stmt);
    return -1;
  }
  stmt_done(stmt);
  return n;
}

/* ------------------------------------------------------------------ stats */

gboolean focus_store_counts(FocusStore *store, FocusStoreCounts *counts, GError **error)
{
  g_return_val_if_fail(store != NULL && counts != NULL, FALSE);
  memset(counts, 0, sizeof *counts);
  sqlite3_stmt *stmt = stmt_get(store, SQL_CONF_COUNTS, error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step(stmt) != SQLITE_ROW) {
    store_error(store, error, "count conferences");
    stmt_done(stmt);
    return FALSE;
  }
  counts->conferences = sqlite3_column_int64(stmt, 0);
  counts->live = sqlite3_column_int64(stmt, 1);
  counts->ended = counts->conferences - counts->live;
  stmt_done(stmt);

  stmt = stmt_get(store, SQL_AUDIT_LAST, error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step(stmt) != SQLITE_ROW) {
    store_error(store, error, "find the last audit event");
    stmt_done(stmt);
    return FALSE;
  }
  counts->last_event = sqlite3_column_int64(stmt, 0);
  stmt_done(stmt);

  stmt = stmt_get(store, SQL_COUNTS, error);
  if (stmt == NULL)
    return FALSE;
  counts->by_reason = g_ptr_array_new_with_free_func(audit_count_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    FocusAuditCount *c = g_new0(FocusAuditCount, 1);
    c->decision = db_column_text(stmt, 0);
    c->reason = db_column_text(stmt, 1);
    c->count = sqlite3_column_int64(stmt, 2);
    counts->events += c->count;
    g_ptr_array_add(counts->by_reason, c);
  }
  if (rc != SQLITE_DONE) {
    store_error(store, error, "count audit events");
    stmt_done(stmt);
    focus_store_counts_clear(counts);
    return FALSE;
  }
  stmt_done(stmt);
  return TRUE;
}
