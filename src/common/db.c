/* SQLite as every daemon uses it (db.h). */
#include "db.h"

#include <gio/gio.h>

#define DB_BUSY_TIMEOUT_MS 5000
/* How often the background connection checkpoints the WAL. */
#define DB_CHECKPOINT_INTERVAL_MS 1000
/* The daemon's own connection checkpoints only if the background one falls this far behind
 * (pages of WAL; SQLite's default is 1000). */
#define DB_CHECKPOINT_BACKSTOP_PAGES 8192

/* A commit in WAL mode with synchronous=NORMAL writes the WAL and returns: it survives a
 * process crash without an fsync. The fsyncs come with checkpoints, which SQLite runs inside
 * the commit that crosses 1000 pages of WAL: on a busy disk that one commit took 100-200 ms
 * on the daemon's main loop (measured in bench-focus), and every SIP answer queued behind it.
 * So a thread with its own connection checkpoints every second instead (PASSIVE: it never
 * waits for, nor blocks, the daemon's connection), and the daemon's connection keeps a far
 * larger threshold only as a backstop. */
typedef struct {
  char *path;
  GThread *thread;
  GMutex lock;
  GCond cond;
  gboolean stop;
  gint done; /* checkpoints that copied frames (atomic) */
} Checkpointer;

static GMutex checkpointers_lock;
static GHashTable *checkpointers; /* sqlite3* (the daemon's connection) -> Checkpointer* */

static gpointer checkpointer_main(gpointer data)
{
  Checkpointer *c = data;
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    g_debug("%s: no checkpoint connection: %s", c->path, db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    db = NULL; /* the backstop checkpoints then */
  }
  g_mutex_lock(&c->lock);
  while (!c->stop) {
    gint64 end = g_get_monotonic_time() + DB_CHECKPOINT_INTERVAL_MS * G_TIME_SPAN_MILLISECOND;
    while (!c->stop && g_cond_wait_until(&c->cond, &c->lock, end))
      ;
    if (c->stop || db == NULL)
      continue;
    g_mutex_unlock(&c->lock);
    int frames = 0, copied = 0;
    /* A checkpoint on a connection that has not seen the database in WAL mode yet does
     * nothing (a new file gets its WAL header with the first commit): a read first opens the
     * WAL. Errors (a full disk, a read-only file) are the daemon's connection's to report:
     * the next round tries again. */
    sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL);
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied) ==
            SQLITE_OK &&
        copied > 0)
      g_atomic_int_inc(&c->done);
    g_mutex_lock(&c->lock);
  }
  g_mutex_unlock(&c->lock);
  sqlite3_close(db);
  return NULL;
}

static void checkpointer_start(sqlite3 *db, const char *path)
{
  Checkpointer *c = g_new0(Checkpointer, 1);
  c->path = g_strdup(path);
  g_mutex_init(&c->lock);
  g_cond_init(&c->cond);
  c->thread = g_thread_try_new("db-checkpoint", checkpointer_main, c, NULL);
  if (c->thread == NULL) {
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->cond);
    g_free(c->path);
    g_free(c);
    return; /* SQLite's own checkpoints, in the commits */
  }
  sqlite3_wal_autocheckpoint(db, DB_CHECKPOINT_BACKSTOP_PAGES);
  g_mutex_lock(&checkpointers_lock);
  if (checkpointers == NULL)
    checkpointers = g_hash_table_new(g_direct_hash, g_direct_equal);
  g_hash_table_insert(checkpointers, db, c);
  g_mutex_unlock(&checkpointers_lock);
}

static void checkpointer_stop(sqlite3 *db)
{
  g_mutex_lock(&checkpointers_lock);
  Checkpointer *c = checkpointers ? g_hash_table_lookup(checkpointers, db) : NULL;
  if (c != NULL)
    g_hash_table_remove(checkpointers, db);
  g_mutex_unlock(&checkpointers_lock);
  if (c == NULL)
    return;
  g_mutex_lock(&c->lock);
  c->stop = TRUE;
  g_cond_signal(&c->cond);
  g_mutex_unlock(&c->lock);
  g_thread_join(c->thread);
  g_mutex_clear(&c->lock);
  g_cond_clear(&c->cond);
  g_free(c->path);
  g_free(c);
}

guint db_background_checkpoints(sqlite3 *db)
{
  g_mutex_lock(&checkpointers_lock);
  Checkpointer *c = checkpointers ? g_hash_table_lookup(checkpointers, db) : NULL;
  guint n = c != NULL ? (guint)g_atomic_int_get(&c->done) : 0;
  g_mutex_unlock(&checkpointers_lock);
  return n;
}

void db_set_error(sqlite3 *db, GError **error, const char *what)
{
  const char *msg = db != NULL ? sqlite3_errmsg(db) : "out of memory";
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, msg);
}

gboolean db_exec(sqlite3 *db, const char *sql, GError **error)
{
  char *errmsg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &errmsg);
  if (rc != SQLITE_OK) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "SQL: %s",
                errmsg != NULL ? errmsg : sqlite3_errstr(rc));
    sqlite3_free(errmsg);
    return FALSE;
  }
  return TRUE;
}

/* Runs a PRAGMA that answers one row and returns its first column (g_free), or NULL. */
static char *pragma_text(sqlite3 *db, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = db_prepare(db, sql, error);
  if (stmt == NULL)
    return NULL;
  char *value = NULL;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    value = g_strdup(text != NULL ? (const char *)text : "");
  } else if (rc == SQLITE_DONE) {
    value = g_strdup("");
  } else {
    db_set_error(db, error, sql);
  }
  sqlite3_finalize(stmt);
  return value;
}

sqlite3 *db_open(const char *path, gboolean create, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &db, flags, NULL);
  if (rc != SQLITE_OK) {
    g_autofree char *what = g_strdup_printf("open %s", path);
    db_set_error(db, error, what);
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);
  g_autofree char *mode = pragma_text(db, "PRAGMA journal_mode=WAL", error);
  if (mode == NULL)
    goto fail;
  /* An in-memory database answers "memory"; a file that cannot do WAL would say otherwise. */
  if (g_ascii_strcasecmp(mode, "wal") != 0 && g_ascii_strcasecmp(mode, "memory") != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot use a WAL journal (got %s)", mode);
    goto fail;
  }
  if (!db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", error))
    goto fail;
  if (g_ascii_strcasecmp(mode, "wal") == 0)
    checkpointer_start(db, path);
  return db;

fail:
  g_prefix_error(error, "%s: ", path);
  sqlite3_close(db);
  return NULL;
}

void db_close(sqlite3 *db)
{
  if (db == NULL)
    return;
  /* first, so that the daemon's connection is the last one and checkpoints as it closes */
  checkpointer_stop(db);
  /* Finalises nothing on the caller's behalf: a statement left open keeps the connection
   * (sqlite3_close_v2 defers the close until the last statement is finalised). */
  sqlite3_close_v2(db);
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK) {
    g_autofree char *what = g_strdup_printf("prepare \"%s\"", sql);
    db_set_error(db, error, what);
    sqlite3_finalize(stmt);
    return NULL;
  }
  return stmt;
}

gboolean db_begin(sqlite3 *db, GError **error)
{
  return db_exec(db, "BEGIN IMMEDIATE", error);
}

gboolean db_commit(sqlite3 *db, GError **error)
{
  return db_exec(db, "COMMIT", error);
}

void db_rollback(sqlite3 *db)
{
  if (db != NULL && !sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

gboolean db_migrate(sqlite3 *db, const char *const *steps, guint n_steps, GError **error)
{
  g_autofree char *v = pragma_text(db, "PRAGMA user_version", error);
  if (v == NULL)
    return FALSE;
  gint64 version = g_ascii_strtoll(v, NULL, 10);
  if (version < 0 || version > (gint64)n_steps) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "database schema version %" G_GINT64_FORMAT " is newer than this program's (%u)",
                version, n_steps);
    return FALSE;
  }
  for (guint step = (guint)version; step < n_steps; step++) {
    if (!db_begin(db, error))
      return FALSE;
    g_autofree char *bump = g_strdup_printf("PRAGMA user_version=%u", step + 1);
    if (!db_exec(db, steps[step], error) || !db_exec(db, bump, error) || !db_commit(db, error)) {
      db_rollback(db);
      g_prefix_error(error, "schema migration %u -> %u: ", step, step + 1);
      return FALSE;
    }
  }
  return TRUE;
}

static void stmt_finalize(gpointer stmt)
{
  sqlite3_finalize(stmt);
}

GHashTable *db_stmt_cache_new(void)
{
  return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, stmt_finalize);
}

sqlite3_stmt *db_stmt_cached(sqlite3 *db, GHashTable *cache, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup(cache, sql);
  if (stmt == NULL) {
    stmt = db_prepare(db, sql, error);
    if (stmt == NULL)
      return NULL;
    g_hash_table_insert(cache, (gpointer)sql, stmt);
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return stmt;
}

void db_stmt_done(sqlite3_stmt *stmt)
{
  if (stmt != NULL) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
}

void db_bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
  if (text == NULL)
    sqlite3_bind_null(stmt, i);
  else
    sqlite3_bind_text(stmt, i, text, -1, SQLITE_TRANSIENT);
}

char *db_column_text(sqlite3_stmt *stmt, int i)
{
  const unsigned char *text = sqlite3_column_text(stmt, i);
  return text != NULL ? g_strdup((const char *)text) : NULL;
}
