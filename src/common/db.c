/* SQLite as every daemon uses it (db.h). */
#include "db.h"

#include <gio/gio.h>

#define DB_BUSY_TIMEOUT_MS 5000

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
