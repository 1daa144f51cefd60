/* SQLite as every daemon uses it: WAL journal, synchronous=NORMAL (a commit survives a process
 * crash; the last few may be lost on power failure — FULL where a store says so), a busy
 * timeout so admin commands and the daemon can share a file, schema migrations by
 * PRAGMA user_version. Errors are GErrors (G_IO_ERROR_FAILED) with SQLite's message. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

/* Opens (creating when create is TRUE) and configures a database. A file database gets a
 * thread of its own that checkpoints the WAL every second, so that commits on the caller's
 * connection never wait for an fsync (db.c); db_close() stops it. */
sqlite3 *db_open(const char *path, gboolean create, GError **error);
void db_close(sqlite3 *db);
/* How many background checkpoints copied pages into the database so far (tests, stats). */
guint db_background_checkpoints(sqlite3 *db);

gboolean db_exec(sqlite3 *db, const char *sql, GError **error);
/* Brings the schema to version n_steps by running steps[v] for each v >= user_version, each in
 * its own transaction. */
gboolean db_migrate(sqlite3 *db, const char *const *steps, guint n_steps, GError **error);

/* A cache of prepared statements keyed by their SQL text, which must be a string literal (the
 * key is not copied). Destroying the table finalizes the statements: do it before db_close. */
GHashTable *db_stmt_cache_new(void);
/* The cached statement for sql, prepared on first use, reset and unbound. */
sqlite3_stmt *db_stmt_cached(sqlite3 *db, GHashTable *cache, const char *sql, GError **error);
/* Releases what a statement holds (its read transaction, its bound values). NULL is allowed. */
void db_stmt_done(sqlite3_stmt *stmt);

/* Prepares a statement (cached by the caller). */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, GError **error);
/* Sets error from the database's last error, prefixed with what was attempted. */
void db_set_error(sqlite3 *db, GError **error, const char *what);

/* Binds text, or NULL as SQL NULL (the text is copied). */
void db_bind_text(sqlite3_stmt *stmt, int i, const char *text);
/* A column's text as a new string; NULL for SQL NULL. */
char *db_column_text(sqlite3_stmt *stmt, int i);

gboolean db_begin(sqlite3 *db, GError **error); /* BEGIN IMMEDIATE */
gboolean db_commit(sqlite3 *db, GError **error);
void db_rollback(sqlite3 *db);
