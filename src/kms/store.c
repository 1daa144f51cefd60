/* The KMS state directory (store.h; profile 2 and 5, issue 3).
 *
 * Files: kms.db (SQLite, WAL, through common/db.h) and kek (32 random bytes, mode 0600). Every
 * PSK and TPK is stored as an AES-256-GCM box under the KEK:
 *   box = 0x01 (format) || nonce (12 random bytes) || ciphertext || tag (16)
 * with associated data naming the row ("psk:<psk-id hex>", "tpk:<generation hex>"), so a box
 * copied to another row, or a flipped bit, fails to open instead of yielding a wrong key. The
 * meta table holds a box of nothing ("kek-check") that tells a wrong kek file from a tampered
 * row.
 *
 * Users are never cached: every lookup is one indexed SELECT (psk_id and identity_norm are
 * UNIQUE), so the daemon sees what an admin command did a moment ago and its memory does not
 * grow with the number of users. TPK generations never change once written, so decrypted TPKs
 * are cached by generation id. Resolve counters are buffered in memory and written by
 * kms_store_flush(). */
#include "store.h"

#include "common/db.h"
#include "common/log.h"
#include "common/sipuri.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEK_LEN 32
#define PSK_LEN 32
#define PSK_ID_LEN 16
#define TPK_LEN 32
#define TPK_ID_LEN 16
#define BOX_VERSION 0x01
#define BOX_NONCE_LEN 12
#define BOX_TAG_LEN 16
#define BOX_OVERHEAD (1 + BOX_NONCE_LEN + BOX_TAG_LEN)

typedef struct {
  gint64 count;
  char *last_resolver;
  gint64 last_resolved;
} PendingResolve;

struct _KmsStore {
  char *dir;
  char *db_path;
  sqlite3 *db;
  MikeySecret *kek;
  GHashTable *stmts;   /* SQL text (static) -> sqlite3_stmt* */
  GHashTable *tpk;     /* GBytes generation id -> MikeySecret* */
  GHashTable *pending; /* fingerprint -> PendingResolve* */
};

/* ------------------------------------------------------------------ schema */

static const char *const schema_steps[] = {
  /* version 1 */
  "CREATE TABLE meta ("
  "  key TEXT PRIMARY KEY,"
  "  value BLOB NOT NULL"
  ");"
  "CREATE TABLE users ("
  "  id INTEGER PRIMARY KEY,"
  "  identity TEXT NOT NULL,"
  "  identity_norm TEXT NOT NULL UNIQUE,"
  "  psk_id BLOB NOT NULL UNIQUE,"
  "  psk_box BLOB NOT NULL,"
  "  may_create INTEGER NOT NULL DEFAULT 0,"
  "  resolves_for TEXT NOT NULL DEFAULT '',"
  "  created INTEGER NOT NULL,"
  "  disabled INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE TABLE tpk ("
  "  seq INTEGER PRIMARY KEY,"
  "  gen_id BLOB NOT NULL UNIQUE,"
  "  tpk_box BLOB NOT NULL,"
  "  created INTEGER NOT NULL"
  ");"
  "CREATE TABLE tickets ("
  "  id INTEGER PRIMARY KEY,"
  "  fingerprint TEXT NOT NULL UNIQUE,"
  "  requester TEXT NOT NULL,"
  "  recipients TEXT NOT NULL,"
  "  trs INTEGER NOT NULL,"
  "  tre INTEGER NOT NULL,"
  "  issued INTEGER NOT NULL,"
  "  resolve_count INTEGER NOT NULL DEFAULT 0,"
  "  last_resolver TEXT,"
  "  last_resolved INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE INDEX tickets_issued ON tickets(issued);"
  /* Who a ticket concerns (requester and every recipient, normalised), for `tickets --user`. */
  "CREATE TABLE ticket_names ("
  "  ticket INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
  "  name TEXT NOT NULL,"
  "  PRIMARY KEY (name, ticket)"
  ") WITHOUT ROWID;",
};

/* ------------------------------------------------------------------ helpers */

static gint64 now_seconds(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

static char *hex_of(const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc(2 * len + 1);
  for (gsize i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xf];
  }
  out[2 * len] = '\0';
  return out;
}

static char *aad_for(const char *kind, GBytes *id)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(id, &len);
  g_autofree char *hex = hex_of(data, len);
  return g_strconcat(kind, ":", hex, NULL);
}

/* Seals plaintext under the KEK; the box is public (nonce, ciphertext, tag). */
static GBytes *box_seal(const MikeySecret *kek, const char *aad, const guint8 *plain, gsize len,
                        GError **error)
{
  gsize box_len = BOX_OVERHEAD + len;
  guint8 *box = g_malloc(box_len);
  box[0] = BOX_VERSION;
  guint8 *nonce = box + 1;
  guint8 *ct = nonce + BOX_NONCE_LEN;
  guint8 *tag = ct + len;
  if (!mikey_random_bytes(nonce, BOX_NONCE_LEN, error)) {
    g_free(box);
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  gboolean ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BOX_NONCE_LEN, NULL) == 1 &&
                EVP_EncryptInit_ex(ctx, NULL, NULL, kek->data, nonce) == 1 &&
                EVP_EncryptUpdate(ctx, NULL, &n, (const guint8 *)aad, (int)strlen(aad)) == 1 &&
                EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) == 1 &&
                EVP_EncryptFinal_ex(ctx, ct + n, &n) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BOX_TAG_LEN, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    g_free(box);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "AES-256-GCM encryption failed");
    return NULL;
  }
  return g_bytes_new_take(box, box_len);
}

/* Opens a box; NULL (and FALSE) when the tag does not verify. */
static MikeySecret *box_open(const MikeySecret *kek, const char *aad, const guint8 *box,
                             gsize box_len)
{
  if (box == NULL || box_len < BOX_OVERHEAD || box[0] != BOX_VERSION)
    return NULL;
  gsize len = box_len - BOX_OVERHEAD;
  const guint8 *nonce = box + 1;
  const guint8 *ct = nonce + BOX_NONCE_LEN;
  guint8 tag[BOX_TAG_LEN];
  memcpy(tag, ct + len, BOX_TAG_LEN);
  MikeySecret *plain = mikey_secret_new(len);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  gboolean ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BOX_NONCE_LEN, NULL) == 1 &&
                EVP_DecryptInit_ex(ctx, NULL, NULL, kek->data, nonce) == 1 &&
                EVP_DecryptUpdate(ctx, NULL, &n, (const guint8 *)aad, (int)strlen(aad)) == 1 &&
                EVP_DecryptUpdate(ctx, plain->data, &n, ct, (int)len) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BOX_TAG_LEN, tag) == 1 &&
                EVP_DecryptFinal_ex(ctx, plain->data + n, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    mikey_secret_free(plain);
    return NULL;
  }
  return plain;
}

static sqlite3_stmt *stmt_get(KmsStore *store, const char *sql, GError **error)
{
  return db_stmt_cached(store->db, store->stmts, sql, error);
}

static void stmt_done(sqlite3_stmt *stmt)
{
  db_stmt_done(stmt);
}

static void bind_bytes(sqlite3_stmt *stmt, int i, GBytes *bytes)
{
  gsize len;
  const void *data = g_bytes_get_data(bytes, &len);
  sqlite3_bind_blob(stmt, i, data != NULL ? data : "", (int)len, SQLITE_TRANSIENT);
}

static GBytes *column_bytes(sqlite3_stmt *stmt, int i)
{
  const void *data = sqlite3_column_blob(stmt, i);
  int len = sqlite3_column_bytes(stmt, i);
  return g_bytes_new(data, (gsize)len);
}

/* Runs a statement that returns no rows. */
static gboolean stmt_run(KmsStore *store, sqlite3_stmt *stmt, const char *what, GError **error)
{
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    db_set_error(store->db, error, what);
    stmt_done(stmt);
    return FALSE;
  }
  stmt_done(stmt);
  return TRUE;
}

/* "Alice <sip:alice@example.org>" -> "sip:alice@example.org"; otherwise the text trimmed. */
static char *identity_clean(const char *text)
{
  g_autofree char *s = g_strstrip(g_strdup(text));
  const char *lt = strchr(s, '<');
  const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
  if (lt != NULL && gt != NULL)
    return g_strndup(lt + 1, (gsize)(gt - lt - 1));
  return g_steal_pointer(&s);
}

static char *normalize_identity(const char *identity, GError **error)
{
  if (identity == NULL || identity[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty identity");
    return NULL;
  }
  g_autoptr(GError) local = NULL;
  char *norm = sip_uri_normalize(identity, &local);
  if (norm == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not a URI: %s", identity,
                local != NULL ? local->message : "parse error");
    return NULL;
  }
  return norm;
}

static gboolean patterns_valid(const char *const *patterns, GError **error)
{
  for (gsize i = 0; patterns != NULL && patterns[i] != NULL; i++) {
    g_autoptr(GError) local = NULL;
    if (patterns[i][0] == '\0' || strchr(patterns[i], '\n') != NULL ||
        !sip_uri_pattern_valid(patterns[i], &local)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad pattern '%s'%s%s",
                  patterns[i], local != NULL ? ": " : "", local != NULL ? local->message : "");
      return FALSE;
    }
  }
  return TRUE;
}

static char *patterns_join(const char *const *patterns)
{
  if (patterns == NULL || patterns[0] == NULL)
    return g_strdup("");
  return g_strjoinv("\n", (char **)patterns);
}

static GStrv patterns_split(const char *text)
{
  if (text == NULL || text[0] == '\0')
    return g_new0(char *, 1);
  return g_strsplit(text, "\n", -1);
}

/* ------------------------------------------------------------------ KEK */

static MikeySecret *kek_read(const char *path, GError **error)
{
  int fd = g_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot open %s: %s", path,
                g_strerror(err));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s is not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((st.st_mode & 077) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                "%s is readable by group or others (mode %04o); it encrypts every key: "
                "chmod 600 %s",
                path, (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return NULL;
  }
  MikeySecret *kek = mikey_secret_new(KEK_LEN);
  guint8 extra;
  ssize_t n = read(fd, kek->data, KEK_LEN);
  gboolean ok = n == KEK_LEN && read(fd, &extra, 1) == 0;
  close(fd);
  if (!ok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a key file (%d bytes wanted)",
                path, KEK_LEN);
    mikey_secret_free(kek);
    return NULL;
  }
  return kek;
}

static gboolean kek_create(const char *path, GError **error)
{
  g_autoptr(MikeySecret) kek = mikey_secret_new_random(KEK_LEN, error);
  if (kek == NULL)
    return FALSE;
  int fd = g_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot create %s: %s", path,
                g_strerror(err));
    return FALSE;
  }
  gboolean ok = fchmod(fd, 0600) == 0 && write(fd, kek->data, KEK_LEN) == KEK_LEN && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0)
    ok = FALSE;
  if (!ok) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot write %s: %s", path,
                g_strerror(err));
    g_unlink(path);
    return FALSE;
  }
  return TRUE;
}

/* The box of nothing under "kek-check": tells a wrong kek from a tampered row. */
static gboolean kek_check(KmsStore *store, gboolean create, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, "SELECT value FROM meta WHERE key = 'kek-check'", error);
  if (stmt == NULL)
    return FALSE;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    g_autoptr(MikeySecret) nothing = box_open(store->kek, "kek-check", sqlite3_column_blob(stmt, 0),
                                              (gsize)sqlite3_column_bytes(stmt, 0));
    stmt_done(stmt);
    if (nothing == NULL) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s/kek does not belong to %s (it cannot open the keys stored there)", store->dir,
                  store->db_path);
      return FALSE;
    }
    return TRUE;
  }
  stmt_done(stmt);
  if (rc != SQLITE_DONE) {
    db_set_error(store->db, error, "reading meta");
    return FALSE;
  }
  if (!create) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                "state directory %s is not initialised (run mikeykmsd init)", store->dir);
    return FALSE;
  }
  g_autoptr(GBytes) box = box_seal(store->kek, "kek-check", (const guint8 *)"", 0, error);
  if (box == NULL)
    return FALSE;
  stmt = stmt_get(store, "INSERT INTO meta (key, value) VALUES ('kek-check', ?)", error);
  if (stmt == NULL)
    return FALSE;
  bind_bytes(stmt, 1, box);
  return stmt_run(store, stmt, "writing meta", error);
}

/* ------------------------------------------------------------------ open / free */

static void pending_free(gpointer data)
{
  PendingResolve *p = data;
  g_free(p->last_resolver);
  g_free(p);
}

static gboolean tpk_ensure(KmsStore *store, GError **error);

KmsStore *kms_store_open(const char *state_dir, gboolean create, GError **error)
{
  g_return_val_if_fail(state_dir != NULL, NULL);
  if (state_dir[0] == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty state directory name");
    return NULL;
  }
  g_autoptr(KmsStore) store = g_new0(KmsStore, 1);
  store->dir = g_strdup(state_dir);
  store->db_path = g_build_filename(state_dir, "kms.db", NULL);
  store->stmts = db_stmt_cache_new();
  store->tpk = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref,
                                     (GDestroyNotify)mikey_secret_free);
  store->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, pending_free);
  g_autofree char *kek_path = g_build_filename(state_dir, "kek", NULL);

  if (create) {
    if (g_mkdir_with_parents(state_dir, 0700) != 0) {
      int err = errno;
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                  "cannot create state directory %s: %s", state_dir, g_strerror(err));
      return NULL;
    }
    if (!g_file_test(kek_path, G_FILE_TEST_EXISTS)) {
      if (g_file_test(store->db_path, G_FILE_TEST_EXISTS)) {
        /* A new kek would make every stored key unreadable: never invent one for old data. */
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "%s exists but %s is missing: the stored keys cannot be decrypted without "
                    "it (restore it from a backup)",
                    store->db_path, kek_path);
        return NULL;
      }
      if (access(state_dir, W_OK) != 0) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "state directory %s is not writable: %s", state_dir, g_strerror(err));
        return NULL;
      }
      if (!kek_create(kek_path, error))
        return NULL;
    }
  } else if (!g_file_test(state_dir, G_FILE_TEST_IS_DIR) ||
             !g_file_test(kek_path, G_FILE_TEST_EXISTS) ||
             !g_file_test(store->db_path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                "state directory %s is not initialised (run mikeykmsd init)", state_dir);
    return NULL;
  }

  store->kek = kek_read(kek_path, error);
  if (store->kek == NULL)
    return NULL;

  gboolean new_db = !g_file_test(store->db_path, G_FILE_TEST_EXISTS);
  store->db = db_open(store->db_path, create, error);
  if (store->db == NULL)
    return NULL;
  /* The boxes are safe in the open, the identities and the ticket log less so; the -wal and
   * -shm files take the database's mode. */
  for (int i = 0; new_db && i < 3; i++) {
    static const char *const suffix[] = { "", "-wal", "-shm" };
    g_autofree char *path = g_strconcat(store->db_path, suffix[i], NULL);
    if (g_chmod(path, 0600) != 0 && (i == 0 || errno != ENOENT)) {
      int err = errno;
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot chmod %s: %s", path,
                  g_strerror(err));
      return NULL;
    }
  }
  if (!db_migrate(store->db, schema_steps, G_N_ELEMENTS(schema_steps), error))
    return NULL;
  if (!kek_check(store, create, error))
    return NULL;
  if (create && !tpk_ensure(store, error))
    return NULL;
  return g_steal_pointer(&store);
}

void kms_store_free(KmsStore *store)
{
  if (store == NULL)
    return;
  if (store->db != NULL && g_hash_table_size(store->pending) > 0) {
    g_autoptr(GError) error = NULL;
    if (!kms_store_flush(store, &error))
      log_warning("resolve counters lost: %s", error->message);
  }
  g_hash_table_destroy(store->pending);
  g_hash_table_destroy(store->stmts); /* finalizes before the close */
  g_hash_table_destroy(store->tpk);
  if (store->db != NULL)
    db_close(store->db);
  mikey_secret_free(store->kek);
  g_free(store->db_path);
  g_free(store->dir);
  g_free(store);
}

const char *kms_store_dir(const KmsStore *store)
{
  return store->dir;
}

/* ------------------------------------------------------------------ users */

void kms_user_free(KmsUser *user)
{
  if (user == NULL)
    return;
  g_free(user->identity);
  g_free(user->identity_norm);
  if (user->psk_id != NULL)
    g_bytes_unref(user->psk_id);
  mikey_secret_free(user->psk);
  g_strfreev(user->resolves_for);
  g_free(user);
}

#define USER_COLUMNS                                                                               \
  "id, identity, identity_norm, psk_id, may_create, resolves_for, created, disabled, psk_box"

/* Builds a KmsUser from a row of USER_COLUMNS; decrypts the PSK when asked. */
static KmsUser *user_from_row(KmsStore *store, sqlite3_stmt *stmt, gboolean with_psk,
                              GError **error)
{
  g_autoptr(KmsUser) user = g_new0(KmsUser, 1);
  user->id = sqlite3_column_int64(stmt, 0);
  user->identity = db_column_text(stmt, 1);
  user->identity_norm = db_column_text(stmt, 2);
  user->psk_id = column_bytes(stmt, 3);
  user->may_create = sqlite3_column_int(stmt, 4) != 0;
  user->resolves_for = patterns_split((const char *)sqlite3_column_text(stmt, 5));
  user->created = sqlite3_column_int64(stmt, 6);
  user->disabled = sqlite3_column_int64(stmt, 7);
  if (with_psk) {
    g_autofree char *aad = aad_for("psk", user->psk_id);
    user->psk = box_open(store->kek, aad, sqlite3_column_blob(stmt, 8),
                         (gsize)sqlite3_column_bytes(stmt, 8));
    if (user->psk == NULL || user->psk->len != PSK_LEN) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "the stored PSK of %s does not decrypt: %s has been altered", user->identity,
                  store->db_path);
      return NULL;
    }
  }
  return g_steal_pointer(&user);
}

/* Runs a user query that binds one value at index 1; NULL without error when no row. */
static KmsUser *user_query_one(KmsStore *store, sqlite3_stmt *stmt, gboolean with_psk,
                               GError **error)
{
  int rc = sqlite3_step(stmt);
  KmsUser *user = NULL;
  if (rc == SQLITE_ROW)
    user = user_from_row(store, stmt, with_psk, error);
  else if (rc != SQLITE_DONE)
    db_set_error(store->db, error, "looking up a user");
  stmt_done(stmt);
  return user;
}

static KmsUser *user_by_norm(KmsStore *store, const char *norm, gboolean with_psk, GError **error)
{
  sqlite3_stmt *stmt =
      stmt_get(store, "SELECT " USER_COLUMNS " FROM users WHERE identity_norm = ?", error);
  if (stmt == NULL)
    return NULL;
  db_bind_text(stmt, 1, norm);
  return user_query_one(store, stmt, with_psk, error);
}

KmsUser *kms_store_user_add(KmsStore *store, const char *identity, gboolean may_create,
                            const char *const *resolves_for, GError **error)
{
  g_autofree char *clean = identity != NULL ? identity_clean(identity) : NULL;
  g_autofree char *norm = normalize_identity(clean, error);
  if (norm == NULL || !patterns_valid(resolves_for, error))
    return NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(KmsUser) existing = user_by_norm(store, norm, FALSE, &local);
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (existing != NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "user %s already exists", existing->identity);
    return NULL;
  }

  g_autoptr(KmsUser) user = g_new0(KmsUser, 1);
  user->identity = g_steal_pointer(&clean);
  user->identity_norm = g_steal_pointer(&norm);
  user->may_create = may_create;
  user->resolves_for = g_strdupv((char **)resolves_for);
  if (user->resolves_for == NULL)
    user->resolves_for = g_new0(char *, 1);
  user->created = now_seconds();
  user->psk = mikey_secret_new_random(PSK_LEN, error);
  if (user->psk == NULL)
    return NULL;
  g_autofree char *joined = patterns_join(resolves_for);

  /* A PSK ID collision (2^-128 per pair) is retried rather than trusted never to happen. */
  for (int attempt = 0;; attempt++) {
    guint8 id[PSK_ID_LEN];
    if (!mikey_random_bytes(id, sizeof id, error))
      return NULL;
    g_clear_pointer(&user->psk_id, g_bytes_unref);
    user->psk_id = g_bytes_new(id, sizeof id);
    g_autofree char *aad = aad_for("psk", user->psk_id);
    g_autoptr(GBytes) box = box_seal(store->kek, aad, user->psk->data, user->psk->len, error);
    if (box == NULL)
      return NULL;
    sqlite3_stmt *stmt = stmt_get(store,
                                  "INSERT INTO users (identity, identity_norm, psk_id, psk_box, "
                                  "may_create, resolves_for, created) VALUES (?,?,?,?,?,?,?)",
                                  error);
    if (stmt == NULL)
      return NULL;
    db_bind_text(stmt, 1, user->identity);
    db_bind_text(stmt, 2, user->identity_norm);
    bind_bytes(stmt, 3, user->psk_id);
    bind_bytes(stmt, 4, box);
    sqlite3_bind_int(stmt, 5, may_create ? 1 : 0);
    db_bind_text(stmt, 6, joined);
    sqlite3_bind_int64(stmt, 7, user->created);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
      user->id = sqlite3_last_insert_rowid(store->db);
      stmt_done(stmt);
      return g_steal_pointer(&user);
    }
    const char *msg = sqlite3_errmsg(store->db);
    gboolean dup_identity = sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_UNIQUE &&
                            strstr(msg, "identity_norm") != NULL;
    gboolean dup_psk_id = sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_UNIQUE &&
                          strstr(msg, "psk_id") != NULL;
    if (dup_identity) {
      /* Added by someone else since the check above. */
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "user %s already exists", user->identity);
      stmt_done(stmt);
      return NULL;
    }
    if (!dup_psk_id || attempt >= 3) {
      db_set_error(store->db, error, "adding a user");
      stmt_done(stmt);
      return NULL;
    }
    stmt_done(stmt);
  }
}

KmsUser *kms_store_user_by_psk_id(KmsStore *store, GBytes *psk_id, GError **error)
{
  g_return_val_if_fail(psk_id != NULL, NULL);
  sqlite3_stmt *stmt =
      stmt_get(store, "SELECT " USER_COLUMNS " FROM users WHERE psk_id = ?", error);
  if (stmt == NULL)
    return NULL;
  bind_bytes(stmt, 1, psk_id);
  return user_query_one(store, stmt, TRUE, error);
}

static KmsUser *user_require(KmsStore *store, const char *identity, gboolean with_psk,
                             GError **error)
{
  g_autofree char *clean = identity != NULL ? identity_clean(identity) : NULL;
  g_autofree char *norm = normalize_identity(clean, error);
  if (norm == NULL)
    return NULL;
  g_autoptr(GError) local = NULL;
  KmsUser *user = user_by_norm(store, norm, with_psk, &local);
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (user == NULL)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no user %s", clean);
  return user;
}

KmsUser *kms_store_user_by_identity(KmsStore *store, const char *identity, gboolean with_psk,
                                    GError **error)
{
  return user_require(store, identity, with_psk, error);
}

GPtrArray *kms_store_user_list(KmsStore *store, GError **error)
{
  sqlite3_stmt *stmt =
      stmt_get(store, "SELECT " USER_COLUMNS " FROM users ORDER BY identity_norm", error);
  if (stmt == NULL)
    return NULL;
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func((GDestroyNotify)kms_user_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    g_ptr_array_add(users, user_from_row(store, stmt, FALSE, NULL));
  stmt_done(stmt);
  if (rc != SQLITE_DONE) {
    db_set_error(store->db, error, "listing users");
    return NULL;
  }
  return g_steal_pointer(&users);
}

/* Runs a bound UPDATE/DELETE on one user; NOT_FOUND when no row changed. */
static gboolean user_change_run(KmsStore *store, sqlite3_stmt *stmt, const char *identity,
                                const char *what, GError **error)
{
  if (!stmt_run(store, stmt, what, error))
    return FALSE;
  if (sqlite3_changes(store->db) == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no user %s", identity);
    return FALSE;
  }
  return TRUE;
}

gboolean kms_store_user_set(KmsStore *store, const char *identity, int may_create,
                            const char *const *resolves_for, GError **error)
{
  g_autofree char *clean = identity != NULL ? identity_clean(identity) : NULL;
  g_autofree char *norm = normalize_identity(clean, error);
  if (norm == NULL || !patterns_valid(resolves_for, error))
    return FALSE;
  g_autofree char *joined = resolves_for != NULL ? patterns_join(resolves_for) : NULL;
  sqlite3_stmt *stmt;
  stmt = stmt_get(store,
                  "UPDATE users SET may_create = coalesce(?, may_create),"
                  " resolves_for = coalesce(?, resolves_for) WHERE identity_norm = ?",
                  error);
  if (stmt == NULL)
    return FALSE;
  if (may_create >= 0)
    sqlite3_bind_int(stmt, 1, may_create ? 1 : 0);
  db_bind_text(stmt, 2, joined);
  db_bind_text(stmt, 3, norm);
  return user_change_run(store, stmt, clean, "changing a user", error);
}

gboolean kms_store_user_disable(KmsStore *store, const char *identity, gboolean disabled,
                                GError **error)
{
  g_autofree char *clean = identity != NULL ? identity_clean(identity) : NULL;
  g_autofree char *norm = normalize_identity(clean, error);
  if (norm == NULL)
    return FALSE;
  sqlite3_stmt *stmt;
  /* Disabling twice keeps the first time. */
  stmt = stmt_get(store,
                  "UPDATE users SET disabled = CASE WHEN ? = 0 THEN 0"
                  " WHEN disabled != 0 THEN disabled ELSE ? END WHERE identity_norm = ?",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int(stmt, 1, disabled ? 1 : 0);
  sqlite3_bind_int64(stmt, 2, now_seconds());
  db_bind_text(stmt, 3, norm);
  return user_change_run(store, stmt, clean, disabled ? "disabling a user" : "enabling a user",
                         error);
}

gboolean kms_store_user_remove(KmsStore *store, const char *identity, GError **error)
{
  g_autofree char *clean = identity != NULL ? identity_clean(identity) : NULL;
  g_autofree char *norm = normalize_identity(clean, error);
  if (norm == NULL)
    return FALSE;
  sqlite3_stmt *stmt;
  stmt = stmt_get(store, "DELETE FROM users WHERE identity_norm = ?", error);
  if (stmt == NULL)
    return FALSE;
  db_bind_text(stmt, 1, norm);
  return user_change_run(store, stmt, clean, "removing a user", error);
}

guint kms_store_user_count(KmsStore *store, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, "SELECT count(*) FROM users", error);
  if (stmt == NULL)
    return 0;
  guint n = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    n = (guint)sqlite3_column_int64(stmt, 0);
  else
    db_set_error(store->db, error, "counting users");
  stmt_done(stmt);
  return n;
}

/* ------------------------------------------------------------------ TPK generations */

static GBytes *tpk_insert(KmsStore *store, GError **error)
{
  guint8 id[TPK_ID_LEN];
  if (!mikey_random_bytes(id, sizeof id, error))
    return NULL;
  g_autoptr(GBytes) gen = g_bytes_new(id, sizeof id);
  g_autoptr(MikeySecret) tpk = mikey_secret_new_random(TPK_LEN, error);
  if (tpk == NULL)
    return NULL;
  g_autofree char *aad = aad_for("tpk", gen);
  g_autoptr(GBytes) box = box_seal(store->kek, aad, tpk->data, tpk->len, error);
  if (box == NULL)
    return NULL;
  sqlite3_stmt *stmt =
      stmt_get(store, "INSERT INTO tpk (gen_id, tpk_box, created) VALUES (?, ?, ?)", error);
  if (stmt == NULL)
    return NULL;
  bind_bytes(stmt, 1, gen);
  bind_bytes(stmt, 2, box);
  sqlite3_bind_int64(stmt, 3, now_seconds());
  if (!stmt_run(store, stmt, "adding a ticket key generation", error))
    return NULL;
  g_hash_table_replace(store->tpk, g_bytes_ref(gen), g_steal_pointer(&tpk));
  return g_steal_pointer(&gen);
}

/* The id of the newest generation; NULL without error when there is none. */
static GBytes *tpk_current_id(KmsStore *store, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, "SELECT gen_id FROM tpk ORDER BY seq DESC LIMIT 1", error);
  if (stmt == NULL)
    return NULL;
  GBytes *gen = NULL;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    gen = column_bytes(stmt, 0);
  else if (rc != SQLITE_DONE)
    db_set_error(store->db, error, "reading the ticket key");
  stmt_done(stmt);
  return gen;
}

static gboolean tpk_ensure(KmsStore *store, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) gen = tpk_current_id(store, &local);
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  if (gen != NULL)
    return TRUE;
  g_autoptr(GBytes) created = tpk_insert(store, error);
  return created != NULL;
}

/* Loads a generation into the cache; NULL with error when it does not decrypt, NULL without
 * error when it does not exist. */
static const MikeySecret *tpk_load(KmsStore *store, GBytes *gen, GError **error)
{
  const MikeySecret *cached = g_hash_table_lookup(store->tpk, gen);
  if (cached != NULL)
    return cached;
  sqlite3_stmt *stmt = stmt_get(store, "SELECT tpk_box FROM tpk WHERE gen_id = ?", error);
  if (stmt == NULL)
    return NULL;
  bind_bytes(stmt, 1, gen);
  int rc = sqlite3_step(stmt);
  MikeySecret *tpk = NULL;
  if (rc == SQLITE_ROW) {
    g_autofree char *aad = aad_for("tpk", gen);
    tpk = box_open(store->kek, aad, sqlite3_column_blob(stmt, 0),
                   (gsize)sqlite3_column_bytes(stmt, 0));
    if (tpk == NULL || tpk->len != TPK_LEN) {
      g_clear_pointer(&tpk, mikey_secret_free);
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "a stored ticket key does not decrypt: %s has been altered", store->db_path);
    }
  } else if (rc != SQLITE_DONE) {
    db_set_error(store->db, error, "reading a ticket key");
  }
  stmt_done(stmt);
  if (tpk == NULL)
    return NULL;
  g_hash_table_replace(store->tpk, g_bytes_ref(gen), tpk);
  return tpk;
}

gboolean kms_store_tpk_current(KmsStore *store, GBytes **generation_id, MikeySecret **tpk,
                               GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) gen = tpk_current_id(store, &local);
  if (gen == NULL) {
    if (local != NULL)
      g_propagate_error(error, g_steal_pointer(&local));
    else
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                  "%s has no ticket key (run mikeykmsd tpk rotate)", store->db_path);
    return FALSE;
  }
  const MikeySecret *key = tpk_load(store, gen, &local);
  if (key == NULL) {
    if (local != NULL)
      g_propagate_error(error, g_steal_pointer(&local));
    else
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "ticket key generation vanished");
    return FALSE;
  }
  if (tpk != NULL)
    *tpk = mikey_secret_dup(key);
  if (generation_id != NULL)
    *generation_id = g_steal_pointer(&gen);
  return TRUE;
}

const MikeySecret *kms_store_tpk_lookup(KmsStore *store, GBytes *generation_id)
{
  if (generation_id == NULL || g_bytes_get_size(generation_id) != TPK_ID_LEN)
    return NULL;
  g_autoptr(GError) error = NULL;
  const MikeySecret *tpk = tpk_load(store, generation_id, &error);
  if (error != NULL)
    log_error("%s", error->message);
  return tpk;
}

GBytes *kms_store_tpk_rotate(KmsStore *store, GError **error)
{
  return tpk_insert(store, error);
}

void kms_tpk_info_free(KmsTpkInfo *info)
{
  if (info == NULL)
    return;
  g_bytes_unref(info->id);
  g_free(info);
}

GPtrArray *kms_store_tpk_list(KmsStore *store, GError **error)
{
  sqlite3_stmt *stmt = stmt_get(store, "SELECT gen_id, created FROM tpk ORDER BY seq DESC", error);
  if (stmt == NULL)
    return NULL;
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)kms_tpk_info_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    KmsTpkInfo *info = g_new0(KmsTpkInfo, 1);
    info->id = column_bytes(stmt, 0);
    info->created = sqlite3_column_int64(stmt, 1);
    info->current = list->len == 0;
    g_ptr_array_add(list, info);
  }
  stmt_done(stmt);
  if (rc != SQLITE_DONE) {
    db_set_error(store->db, error, "listing ticket keys");
    return NULL;
  }
  return g_steal_pointer(&list);
}

/* ------------------------------------------------------------------ ticket log */

void kms_ticket_row_free(KmsTicketRow *row)
{
  if (row == NULL)
    return;
  g_free(row->fingerprint);
  g_free(row->requester);
  g_free(row->recipients);
  g_free(row->last_resolver);
  g_free(row);
}

/* The key under which ticket_names files an identity: normalised when it parses. */
static char *name_key(const char *identity)
{
  char *norm = sip_uri_normalize(identity, NULL);
  return norm != NULL ? norm : g_strdup(identity);
}

gboolean kms_store_ticket_issued(KmsStore *store, const char *fingerprint, const char *requester,
                                 const char *const *recipients, gint64 trs, gint64 tre,
                                 GError **error)
{
  g_return_val_if_fail(fingerprint != NULL && requester != NULL, FALSE);
  g_autofree char *joined =
      recipients != NULL ? g_strjoinv(" ", (char **)recipients) : g_strdup("");
  if (!db_begin(store->db, error))
    return FALSE;
  sqlite3_stmt *stmt = stmt_get(store,
                                "INSERT INTO tickets (fingerprint, requester, recipients, trs, "
                                "tre, issued) VALUES (?,?,?,?,?,?)",
                                error);
  if (stmt == NULL)
    goto fail;
  db_bind_text(stmt, 1, fingerprint);
  db_bind_text(stmt, 2, requester);
  db_bind_text(stmt, 3, joined);
  sqlite3_bind_int64(stmt, 4, trs);
  sqlite3_bind_int64(stmt, 5, tre);
  sqlite3_bind_int64(stmt, 6, now_seconds());
  if (!stmt_run(store, stmt, "logging a ticket", error))
    goto fail;
  gint64 ticket = sqlite3_last_insert_rowid(store->db);

  stmt = stmt_get(store, "INSERT OR IGNORE INTO ticket_names (ticket, name) VALUES (?, ?)", error);
  if (stmt == NULL)
    goto fail;
  guint n_recipients = recipients != NULL ? g_strv_length((char **)recipients) : 0;
  for (guint i = 0; i <= n_recipients; i++) {
    /* The requester first, then each recipient. */
    g_autofree char *key = name_key(i == 0 ? requester : recipients[i - 1]);
    sqlite3_bind_int64(stmt, 1, ticket);
    db_bind_text(stmt, 2, key);
    if (!stmt_run(store, stmt, "logging a ticket", error))
      goto fail;
  }
  return db_commit(store->db, error);

fail:
  db_rollback(store->db);
  return FALSE;
}

void kms_store_ticket_resolved(KmsStore *store, const char *fingerprint, const char *resolver)
{
  PendingResolve *p = g_hash_table_lookup(store->pending, fingerprint);
  if (p == NULL) {
    p = g_new0(PendingResolve, 1);
    g_hash_table_insert(store->pending, g_strdup(fingerprint), p);
  }
  p->count++;
  g_free(p->last_resolver);
  p->last_resolver = g_strdup(resolver);
  p->last_resolved = now_seconds();
}

gboolean kms_store_flush(KmsStore *store, GError **error)
{
  if (g_hash_table_size(store->pending) == 0)
    return TRUE;
  if (!db_begin(store->db, error))
    return FALSE; /* kept for the next flush */
  sqlite3_stmt *stmt = stmt_get(store,
                                "UPDATE tickets SET resolve_count = resolve_count + ?,"
                                " last_resolver = ?, last_resolved = ? WHERE fingerprint = ?",
                                error);
  if (stmt == NULL) {
    db_rollback(store->db);
    return FALSE;
  }
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init(&iter, store->pending);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    PendingResolve *p = value;
    sqlite3_bind_int64(stmt, 1, p->count);
    db_bind_text(stmt, 2, p->last_resolver);
    sqlite3_bind_int64(stmt, 3, p->last_resolved);
    db_bind_text(stmt, 4, key);
    if (!stmt_run(store, stmt, "counting resolves", error)) {
      db_rollback(store->db);
      return FALSE;
    }
  }
  if (!db_commit(store->db, error)) {
    db_rollback(store->db);
    return FALSE;
  }
  g_hash_table_remove_all(store->pending);
  return TRUE;
}

GPtrArray *kms_store_tickets(KmsStore *store, const char *user, guint limit, GError **error)
{
  /* What this process counted is part of the answer. */
  if (!kms_store_flush(store, error))
    return NULL;
  sqlite3_stmt *stmt;
  g_autofree char *key = NULL;
  if (user != NULL) {
    key = name_key(user);
    stmt = stmt_get(store,
                    "SELECT fingerprint, requester, recipients, trs, tre, issued, resolve_count,"
                    " last_resolver, last_resolved FROM tickets WHERE id IN"
                    " (SELECT ticket FROM ticket_names WHERE name = ?1)"
                    " ORDER BY issued DESC, id DESC LIMIT ?2",
                    error);
    if (stmt == NULL)
      return NULL;
    db_bind_text(stmt, 1, key);
  } else {
    stmt = stmt_get(store,
                    "SELECT fingerprint, requester, recipients, trs, tre, issued, resolve_count,"
                    " last_resolver, last_resolved FROM tickets"
                    " ORDER BY issued DESC, id DESC LIMIT ?2",
                    error);
    if (stmt == NULL)
      return NULL;
  }
  sqlite3_bind_int64(stmt, 2, limit == 0 ? -1 : (gint64)limit);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)kms_ticket_row_free);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    KmsTicketRow *row = g_new0(KmsTicketRow, 1);
    row->fingerprint = db_column_text(stmt, 0);
    row->requester = db_column_text(stmt, 1);
    row->recipients = db_column_text(stmt, 2);
    row->trs = sqlite3_column_int64(stmt, 3);
    row->tre = sqlite3_column_int64(stmt, 4);
    row->issued = sqlite3_column_int64(stmt, 5);
    row->resolve_count = sqlite3_column_int64(stmt, 6);
    row->last_resolver = db_column_text(stmt, 7);
    row->last_resolved = sqlite3_column_int64(stmt, 8);
    g_ptr_array_add(rows, row);
  }
  stmt_done(stmt);
  if (rc != SQLITE_DONE) {
    db_set_error(store->db, error, "listing tickets");
    return NULL;
  }
  return g_steal_pointer(&rows);
}

/* ------------------------------------------------------------------ imports with given keys */
/* (added by the engine tests' author; see store.h) */

KmsUser *kms_store_user_add_with_key(KmsStore *store, const char *identity, gboolean may_create,
                                     const char *const *resolves_for, GBytes *psk_id,
                                     const MikeySecret *psk, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  if (psk_id == NULL || g_bytes_get_size(psk_id) != PSK_ID_LEN || psk == NULL ||
      psk->len != PSK_LEN) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "an imported credential needs a %d-byte PSK ID and a %d-byte PSK", PSK_ID_LEN,
                PSK_LEN);
    return NULL;
  }
  g_autoptr(GError) local = NULL;
  g_autoptr(KmsUser) holder = kms_store_user_by_psk_id(store, psk_id, &local);
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (holder != NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "PSK ID already in use by %s",
                holder->identity);
    return NULL;
  }
  if (!db_begin(store->db, error))
    return NULL;
  /* A user with a random credential, then its credential replaced, in one transaction. */
  g_autoptr(KmsUser) user = kms_store_user_add(store, identity, may_create, resolves_for, error);
  if (user == NULL) {
    db_rollback(store->db);
    return NULL;
  }
  g_autofree char *aad = aad_for("psk", psk_id);
  g_autoptr(GBytes) box = box_seal(store->kek, aad, psk->data, psk->len, error);
  sqlite3_stmt *stmt =
      box != NULL ? stmt_get(store, "UPDATE users SET psk_id = ?, psk_box = ? WHERE id = ?", error)
                  : NULL;
  if (stmt == NULL) {
    db_rollback(store->db);
    return NULL;
  }
  bind_bytes(stmt, 1, psk_id);
  bind_bytes(stmt, 2, box);
  sqlite3_bind_int64(stmt, 3, user->id);
  if (!stmt_run(store, stmt, "importing a credential", error) || !db_commit(store->db, error)) {
    db_rollback(store->db);
    return NULL;
  }
  g_bytes_unref(user->psk_id);
  user->psk_id = g_bytes_ref(psk_id);
  mikey_secret_free(user->psk);
  user->psk = mikey_secret_dup(psk);
  return g_steal_pointer(&user);
}

gboolean kms_store_tpk_import(KmsStore *store, GBytes *generation_id, const MikeySecret *tpk,
                              GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (generation_id == NULL || g_bytes_get_size(generation_id) != TPK_ID_LEN || tpk == NULL ||
      tpk->len != TPK_LEN) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "an imported ticket key needs a %d-byte generation id and a %d-byte key",
                TPK_ID_LEN, TPK_LEN);
    return FALSE;
  }
  g_autofree char *aad = aad_for("tpk", generation_id);
  g_autoptr(GBytes) box = box_seal(store->kek, aad, tpk->data, tpk->len, error);
  if (box == NULL)
    return FALSE;
  sqlite3_stmt *stmt =
      stmt_get(store, "INSERT INTO tpk (gen_id, tpk_box, created) VALUES (?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  bind_bytes(stmt, 1, generation_id);
  bind_bytes(stmt, 2, box);
  sqlite3_bind_int64(stmt, 3, now_seconds());
  if (!stmt_run(store, stmt, "importing a ticket key generation", error))
    return FALSE;
  g_hash_table_replace(store->tpk, g_bytes_ref(generation_id), mikey_secret_dup(tpk));
  return TRUE;
}
