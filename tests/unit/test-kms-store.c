/* The KMS state directory (src/kms/store.c) and its local CA (src/kms/ca.c): issue 3,
 * profile.md §1 (identity comparison), §2 (credentials, PSKs at rest), §5 (TPK generations).
 *
 * Every test works in its own temporary state directory, removed at the end. Timings of the
 * 100,000-user case are printed (g_test_message), never asserted. */
#include "kms/ca.h"
#include "kms/store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define FOCUS "sip:focus@example.org"

/* ------------------------------------------------------------------ fixture */

typedef struct {
  char *tmp;   /* removed at the end */
  char *state; /* tmp/state, not created */
} Fixture;

static void rm_rf(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
    }
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->tmp = g_dir_make_tmp("test-kms-store-XXXXXX", &error);
  g_assert_no_error(error);
  f->state = g_build_filename(f->tmp, "state", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  rm_rf(f->tmp);
  g_free(f->state);
  g_free(f->tmp);
}

static KmsStore *open_store(Fixture *f, gboolean create)
{
  g_autoptr(GError) error = NULL;
  KmsStore *store = kms_store_open(f->state, create, &error);
  g_assert_no_error(error);
  g_assert_nonnull(store);
  return store;
}

static KmsUser *add_user(KmsStore *store, const char *identity, gboolean may_create)
{
  g_autoptr(GError) error = NULL;
  KmsUser *user = kms_store_user_add(store, identity, may_create, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(user);
  return user;
}

static guint file_mode(const char *path)
{
  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  return st.st_mode & 07777;
}

static gboolean bytes_contain(const guint8 *hay, gsize hay_len, const guint8 *needle, gsize len)
{
  for (gsize i = 0; len <= hay_len && i <= hay_len - len; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, len) == 0)
      return TRUE;
  return FALSE;
}

/* TRUE if any file of the state directory other than kek holds the key, raw or in hex. */
static gboolean state_contains_key(Fixture *f, const guint8 *key, gsize len)
{
  g_autofree char *hex = g_malloc(2 * len + 1);
  g_autofree char *HEX = g_malloc(2 * len + 1);
  for (gsize i = 0; i < len; i++) {
    g_snprintf(hex + 2 * i, 3, "%02x", key[i]);
    g_snprintf(HEX + 2 * i, 3, "%02X", key[i]);
  }
  g_autoptr(GDir) dir = g_dir_open(f->state, 0, NULL);
  g_assert_nonnull(dir);
  const char *name;
  gboolean found = FALSE;
  while ((name = g_dir_read_name(dir)) != NULL) {
    if (strcmp(name, "kek") == 0)
      continue;
    g_autofree char *path = g_build_filename(f->state, name, NULL);
    g_autofree char *data = NULL;
    gsize data_len = 0;
    g_assert_true(g_file_get_contents(path, &data, &data_len, NULL));
    if (bytes_contain((guint8 *)data, data_len, key, len) ||
        bytes_contain((guint8 *)data, data_len, (guint8 *)hex, 2 * len) ||
        bytes_contain((guint8 *)data, data_len, (guint8 *)HEX, 2 * len))
      found = TRUE;
  }
  return found;
}

/* A second, raw connection to the database, as an attacker or a test would use it. */
static sqlite3 *raw_db(Fixture *f)
{
  g_autofree char *path = g_build_filename(f->state, "kms.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK)
    g_error("%s: %s", sql, err);
}

/* Flips one bit of a user's stored PSK box. */
static void raw_flip_bit(sqlite3 *db, const char *identity_norm, int offset)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(
      sqlite3_prepare_v2(db, "SELECT psk_box FROM users WHERE identity_norm = ?", -1, &stmt, NULL),
      ==, SQLITE_OK);
  sqlite3_bind_text(stmt, 1, identity_norm, -1, SQLITE_STATIC);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  int len = sqlite3_column_bytes(stmt, 0);
  g_assert_cmpint(len, >, offset);
  g_autofree guint8 *box = g_memdup2(sqlite3_column_blob(stmt, 0), (gsize)len);
  sqlite3_finalize(stmt);
  box[offset] ^= 0x01;
  g_assert_cmpint(sqlite3_prepare_v2(db, "UPDATE users SET psk_box = ? WHERE identity_norm = ?", -1,
                                     &stmt, NULL),
                  ==, SQLITE_OK);
  sqlite3_bind_blob(stmt, 1, box, len, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, identity_norm, -1, SQLITE_STATIC);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_DONE);
  sqlite3_finalize(stmt);
}

/* ------------------------------------------------------------------ open / init */

static void test_init(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* Never initialised: refused with a hint, nothing created. */
  g_autoptr(KmsStore) none = kms_store_open(f->state, FALSE, &error);
  g_assert_null(none);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
  g_assert_nonnull(strstr(error->message, "mikeykmsd init"));
  g_assert_false(g_file_test(f->state, G_FILE_TEST_EXISTS));
  g_clear_error(&error);

  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_assert_cmpstr(kms_store_dir(store), ==, f->state);
  g_autofree char *kek = g_build_filename(f->state, "kek", NULL);
  g_autofree char *db = g_build_filename(f->state, "kms.db", NULL);
  g_assert_true(g_file_test(kek, G_FILE_TEST_IS_REGULAR));
  g_assert_true(g_file_test(db, G_FILE_TEST_IS_REGULAR));
  g_assert_cmphex(file_mode(kek), ==, 0600);
  g_assert_cmphex(file_mode(db), ==, 0600);
  g_assert_cmphex(file_mode(f->state), ==, 0700);
  g_autofree char *kek_data = NULL;
  gsize kek_len = 0;
  g_assert_true(g_file_get_contents(kek, &kek_data, &kek_len, NULL));
  g_assert_cmpuint(kek_len, ==, 32);

  /* The first TPK generation exists from the start. */
  g_autoptr(GBytes) gen = NULL;
  g_autoptr(MikeySecret) tpk = NULL;
  g_assert_true(kms_store_tpk_current(store, &gen, &tpk, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(gen), ==, 16);
  g_assert_cmpuint(tpk->len, ==, 32);
  g_clear_pointer(&store, kms_store_free);

  /* Initialised now: opens without create; create again keeps the kek. */
  g_autoptr(KmsStore) again = open_store(f, FALSE);
  g_clear_pointer(&again, kms_store_free);
  g_autoptr(KmsStore) again2 = open_store(f, TRUE);
  g_autofree char *kek_data2 = NULL;
  g_assert_true(g_file_get_contents(kek, &kek_data2, &kek_len, NULL));
  g_assert_cmpmem(kek_data, 32, kek_data2, kek_len);
}

static void test_open_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* A state directory that cannot be created: its parent is a regular file. */
  g_autofree char *file = g_build_filename(f->tmp, "file", NULL);
  g_assert_true(g_file_set_contents(file, "x", 1, NULL));
  g_autofree char *under = g_build_filename(file, "state", NULL);
  g_autoptr(KmsStore) s1 = kms_store_open(under, TRUE, &error);
  g_assert_null(s1);
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "cannot create state directory"));
  g_assert_nonnull(strstr(error->message, under));
  g_clear_error(&error);

  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(KmsUser) alice = add_user(store, ALICE, FALSE);
  g_clear_pointer(&store, kms_store_free);
  g_autofree char *kek = g_build_filename(f->state, "kek", NULL);

  /* A kek readable by others is refused. */
  g_assert_cmpint(g_chmod(kek, 0644), ==, 0);
  g_autoptr(KmsStore) s2 = kms_store_open(f->state, FALSE, &error);
  g_assert_null(s2);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull(strstr(error->message, "chmod 600"));
  g_clear_error(&error);
  g_assert_cmpint(g_chmod(kek, 0600), ==, 0);

  /* Another kek: told apart from tampering, at open. */
  g_autofree char *saved = NULL;
  gsize saved_len = 0;
  g_assert_true(g_file_get_contents(kek, &saved, &saved_len, NULL));
  guint8 other[32];
  memset(other, 0x5a, sizeof other);
  g_assert_true(
      g_file_set_contents_full(kek, (char *)other, 32, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_autoptr(KmsStore) s3 = kms_store_open(f->state, FALSE, &error);
  g_assert_null(s3);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "does not belong"));
  g_clear_error(&error);

  /* A truncated kek. */
  g_assert_true(g_file_set_contents_full(kek, saved, 16, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  g_autoptr(KmsStore) s4 = kms_store_open(f->state, FALSE, &error);
  g_assert_null(s4);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error(&error);

  /* A lost kek is never replaced by a new one while the database exists. */
  g_assert_cmpint(g_unlink(kek), ==, 0);
  g_autoptr(KmsStore) s5 = kms_store_open(f->state, TRUE, &error);
  g_assert_null(s5);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false(g_file_test(kek, G_FILE_TEST_EXISTS));
  g_clear_error(&error);

  /* Restored, everything is back. */
  g_assert_true(g_file_set_contents_full(kek, saved, (gssize)saved_len, G_FILE_SET_CONTENTS_NONE,
                                         0600, NULL));
  g_autoptr(KmsStore) s6 = open_store(f, FALSE);
  g_autoptr(KmsUser) back = kms_store_user_by_psk_id(s6, alice->psk_id, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_secret_equal(back->psk, alice->psk));
}

/* ------------------------------------------------------------------ users */

static void test_users(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = open_store(f, TRUE);

  const char *const focus_patterns[] = { "sip:conference-factory@example.org",
                                         "sip:conf-*@example.org", NULL };
  g_autoptr(KmsUser) alice = add_user(store, ALICE, TRUE);
  g_autoptr(KmsUser) focus =
      kms_store_user_add(store, "Focus <" FOCUS ">", FALSE, focus_patterns, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(focus->identity, ==, FOCUS); /* display name dropped */
  g_assert_cmpuint(g_bytes_get_size(alice->psk_id), ==, 16);
  g_assert_cmpuint(alice->psk->len, ==, 32);
  g_assert_false(g_bytes_equal(alice->psk_id, focus->psk_id));
  g_assert_false(mikey_secret_equal(alice->psk, focus->psk));
  g_assert_cmpstr(alice->identity_norm, ==, ALICE);
  g_assert_true(alice->may_create);
  g_assert_cmpuint(g_strv_length(alice->resolves_for), ==, 0);
  g_assert_cmpint(alice->created, >, 0);
  g_assert_cmpint(alice->disabled, ==, 0);

  /* By PSK ID: the PSK decrypted. */
  g_autoptr(KmsUser) a1 = kms_store_user_by_psk_id(store, alice->psk_id, &error);
  g_assert_no_error(error);
  g_assert_nonnull(a1);
  g_assert_cmpstr(a1->identity, ==, ALICE);
  g_assert_true(mikey_secret_equal(a1->psk, alice->psk));
  g_assert_true(a1->may_create);

  /* By identity: URI-equal forms find the same user (profile §1). */
  const char *forms[] = { ALICE,
                          "SIP:alice@EXAMPLE.ORG",
                          "sip:al%69ce@example.org",
                          "sip:alice@example.org;transport=tcp",
                          "<sip:alice@example.org>",
                          "Alice <sip:alice@Example.Org?subject=x>" };
  for (gsize i = 0; i < G_N_ELEMENTS(forms); i++) {
    g_autoptr(KmsUser) u = kms_store_user_by_identity(store, forms[i], TRUE, &error);
    g_assert_no_error(error);
    g_assert_nonnull(u);
    g_assert_cmpint(u->id, ==, alice->id);
    g_assert_true(mikey_secret_equal(u->psk, alice->psk));
  }
  /* Not equal: user part is case-sensitive, a port is not the default port. */
  const char *others[] = { "sip:Alice@example.org", "sip:alice@example.org:5060",
                           "sips:alice@example.org" };
  for (gsize i = 0; i < G_N_ELEMENTS(others); i++) {
    g_autoptr(KmsUser) u = kms_store_user_by_identity(store, others[i], FALSE, &error);
    g_assert_null(u);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error(&error);
  }
  g_autoptr(KmsUser) f1 = kms_store_user_by_identity(store, FOCUS, FALSE, &error);
  g_assert_no_error(error);
  g_assert_null(f1->psk); /* not asked for */
  g_assert_cmpuint(g_strv_length(f1->resolves_for), ==, 2);
  g_assert_cmpstr(f1->resolves_for[1], ==, "sip:conf-*@example.org");

  /* Duplicates, in any equal form. */
  g_autoptr(KmsUser) dup = kms_store_user_add(store, "sip:alice@EXAMPLE.org", FALSE, NULL, &error);
  g_assert_null(dup);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_nonnull(strstr(error->message, ALICE));
  g_clear_error(&error);

  /* Unknown: an error by identity, a plain NULL by PSK ID. */
  g_autoptr(KmsUser) nobody = kms_store_user_by_identity(store, BOB, FALSE, &error);
  g_assert_null(nobody);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_autoptr(GBytes) zero_id = g_bytes_new_static("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  g_autoptr(KmsUser) nobody2 = kms_store_user_by_psk_id(store, zero_id, &error);
  g_assert_no_error(error);
  g_assert_null(nobody2);

  /* Bad input. */
  const char *bad[] = { "alice", "", "sip:", "sip:alice@", "sip:%zz@example.org" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(KmsUser) u = kms_store_user_add(store, bad[i], FALSE, NULL, &error);
    g_assert_null(u);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
  }
  const char *const bad_patterns[] = { "conf-*", NULL };
  g_autoptr(KmsUser) bp = kms_store_user_add(store, BOB, FALSE, bad_patterns, &error);
  g_assert_null(bp);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  /* Changes. */
  g_assert_true(kms_store_user_set(store, "sip:alice@EXAMPLE.ORG", 0, focus_patterns, &error));
  g_assert_no_error(error);
  g_autoptr(KmsUser) a2 = kms_store_user_by_identity(store, ALICE, FALSE, &error);
  g_assert_false(a2->may_create);
  g_assert_cmpuint(g_strv_length(a2->resolves_for), ==, 2);
  g_assert_true(kms_store_user_set(store, ALICE, 1, NULL, &error)); /* patterns kept */
  g_autoptr(KmsUser) a3 = kms_store_user_by_identity(store, ALICE, FALSE, &error);
  g_assert_true(a3->may_create);
  g_assert_cmpuint(g_strv_length(a3->resolves_for), ==, 2);
  const char *const none[] = { NULL };
  g_assert_true(kms_store_user_set(store, ALICE, -1, none, &error)); /* flag kept */
  g_autoptr(KmsUser) a4 = kms_store_user_by_identity(store, ALICE, FALSE, &error);
  g_assert_true(a4->may_create);
  g_assert_cmpuint(g_strv_length(a4->resolves_for), ==, 0);
  g_assert_false(kms_store_user_set(store, BOB, 1, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(kms_store_user_set(store, ALICE, 1, bad_patterns, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  /* Disable / enable: the user is still found (the engine answers ERR 7 with a V). */
  g_assert_true(kms_store_user_disable(store, ALICE, TRUE, &error));
  g_autoptr(KmsUser) a5 = kms_store_user_by_psk_id(store, alice->psk_id, &error);
  g_assert_no_error(error);
  g_assert_cmpint(a5->disabled, >, 0);
  g_assert_true(kms_store_user_disable(store, ALICE, FALSE, &error));
  g_autoptr(KmsUser) a6 = kms_store_user_by_psk_id(store, alice->psk_id, &error);
  g_assert_cmpint(a6->disabled, ==, 0);
  g_assert_false(kms_store_user_disable(store, BOB, TRUE, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* List (sorted, no PSKs) and count. */
  g_autoptr(KmsUser) bob = add_user(store, BOB, FALSE);
  g_assert_cmpuint(kms_store_user_count(store, &error), ==, 3);
  g_autoptr(GPtrArray) list = kms_store_user_list(store, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 3);
  g_assert_cmpstr(((KmsUser *)list->pdata[0])->identity, ==, ALICE);
  g_assert_cmpstr(((KmsUser *)list->pdata[1])->identity, ==, BOB);
  g_assert_cmpstr(((KmsUser *)list->pdata[2])->identity, ==, FOCUS);
  for (guint i = 0; i < list->len; i++)
    g_assert_null(((KmsUser *)list->pdata[i])->psk);

  /* Remove: gone by identity and by PSK ID; the identity can be added again (new keys). */
  g_assert_true(kms_store_user_remove(store, "sip:bob@example.org;x=y", &error));
  g_assert_no_error(error);
  g_autoptr(KmsUser) b1 = kms_store_user_by_psk_id(store, bob->psk_id, &error);
  g_assert_no_error(error);
  g_assert_null(b1);
  g_assert_false(kms_store_user_remove(store, BOB, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_autoptr(KmsUser) bob2 = add_user(store, BOB, FALSE);
  g_assert_false(g_bytes_equal(bob2->psk_id, bob->psk_id));
  g_assert_cmpuint(kms_store_user_count(store, &error), ==, 3);
}

/* ------------------------------------------------------------------ keys at rest */

static void test_psk_not_plaintext(Fixture *f, gconstpointer data)
{
  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func((GDestroyNotify)kms_user_free);
  for (int i = 0; i < 20; i++) {
    g_autofree char *id = g_strdup_printf("sip:user%d@example.org", i);
    g_ptr_array_add(users, add_user(store, id, FALSE));
  }
  g_autoptr(GBytes) gen1 = NULL;
  g_autoptr(MikeySecret) tpk1 = NULL;
  g_assert_true(kms_store_tpk_current(store, &gen1, &tpk1, NULL));

  /* While open (WAL and shm present), then after the close (checkpointed). */
  for (int pass = 0; pass < 2; pass++) {
    for (guint i = 0; i < users->len; i++) {
      const KmsUser *u = users->pdata[i];
      g_assert_false(state_contains_key(f, u->psk->data, u->psk->len));
      /* The PSK ID is public and is stored as is: the search does find what is there. */
      g_assert_true(state_contains_key(f, g_bytes_get_data(u->psk_id, NULL), 16));
    }
    g_assert_false(state_contains_key(f, tpk1->data, tpk1->len));
    g_clear_pointer(&store, kms_store_free);
  }
}

static void test_tamper(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(KmsUser) alice = add_user(store, ALICE, FALSE);
  g_autoptr(KmsUser) bob = add_user(store, BOB, FALSE);
  g_autoptr(KmsUser) focus = add_user(store, FOCUS, FALSE);
  g_autoptr(GBytes) gen = NULL;
  g_assert_true(kms_store_tpk_current(store, &gen, NULL, NULL));

  sqlite3 *db = raw_db(f);
  /* One bit of alice's box flipped (in the ciphertext). */
  raw_flip_bit(db, ALICE, 20);
  /* bob's box swapped for focus's: each is bound to its own PSK ID. */
  raw_exec(db, "UPDATE users SET psk_box = (SELECT psk_box FROM users WHERE identity_norm = '" FOCUS
               "') WHERE identity_norm = '" BOB "'");
  /* The TPK box truncated. */
  raw_exec(db, "UPDATE tpk SET tpk_box = substr(tpk_box, 1, 40)");
  sqlite3_close(db);

  g_autoptr(KmsUser) a = kms_store_user_by_psk_id(store, alice->psk_id, &error);
  g_assert_null(a);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "does not decrypt"));
  g_clear_error(&error);
  g_autoptr(KmsUser) b = kms_store_user_by_psk_id(store, bob->psk_id, &error);
  g_assert_null(b);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error(&error);
  g_autoptr(KmsUser) b2 = kms_store_user_by_identity(store, BOB, TRUE, &error);
  g_assert_null(b2);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error(&error);
  /* Without the PSK, the rest of the row is still readable (user show, user list). */
  g_autoptr(KmsUser) b3 = kms_store_user_by_identity(store, BOB, FALSE, &error);
  g_assert_no_error(error);
  g_autoptr(KmsUser) fo = kms_store_user_by_psk_id(store, focus->psk_id, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_secret_equal(fo->psk, focus->psk));

  /* The TPK: the cache of this store still has it; a fresh store cannot open it. */
  g_assert_nonnull(kms_store_tpk_lookup(store, gen));
  g_clear_pointer(&store, kms_store_free);
  g_autoptr(KmsStore) fresh = open_store(f, FALSE);
  g_assert_null(kms_store_tpk_lookup(fresh, gen));
  g_assert_false(kms_store_tpk_current(fresh, NULL, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* ------------------------------------------------------------------ TPK generations */

static void test_tpk_rotate(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(GBytes) g1 = NULL;
  g_autoptr(MikeySecret) k1 = NULL;
  g_assert_true(kms_store_tpk_current(store, &g1, &k1, &error));

  /* A second process (the admin command) rotates while the daemon's store is open. */
  g_autoptr(KmsStore) admin = open_store(f, FALSE);
  g_autoptr(GBytes) g2 = kms_store_tpk_rotate(admin, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(g2), ==, 16);
  g_assert_false(g_bytes_equal(g1, g2));

  g_autoptr(GBytes) cur = NULL;
  g_autoptr(MikeySecret) k2 = NULL;
  g_assert_true(kms_store_tpk_current(store, &cur, &k2, &error));
  g_assert_true(g_bytes_equal(cur, g2));
  g_assert_false(mikey_secret_equal(k1, k2));

  /* The old generation still opens old tickets, with the old key. */
  const MikeySecret *old = kms_store_tpk_lookup(store, g1);
  g_assert_nonnull(old);
  g_assert_true(mikey_secret_equal(old, k1));
  g_assert_true(old == kms_store_tpk_lookup(store, g1)); /* cached */
  g_assert_true(mikey_secret_equal(kms_store_tpk_lookup(store, g2), k2));
  g_autoptr(GBytes) unknown = g_bytes_new_static("0123456789abcdef", 16);
  g_assert_null(kms_store_tpk_lookup(store, unknown));
  g_autoptr(GBytes) short_id = g_bytes_new_static("0123", 4);
  g_assert_null(kms_store_tpk_lookup(store, short_id));

  g_autoptr(GPtrArray) list = kms_store_tpk_list(store, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 2);
  g_assert_true(g_bytes_equal(((KmsTpkInfo *)list->pdata[0])->id, g2));
  g_assert_true(((KmsTpkInfo *)list->pdata[0])->current);
  g_assert_false(((KmsTpkInfo *)list->pdata[1])->current);

  /* After a restart, both generations and the current one are as before. */
  g_clear_pointer(&store, kms_store_free);
  g_clear_pointer(&admin, kms_store_free);
  g_autoptr(KmsStore) restarted = open_store(f, FALSE);
  g_assert_true(mikey_secret_equal(kms_store_tpk_lookup(restarted, g1), k1));
  g_autoptr(GBytes) cur2 = NULL;
  g_assert_true(kms_store_tpk_current(restarted, &cur2, NULL, &error));
  g_assert_true(g_bytes_equal(cur2, g2));
}

/* ------------------------------------------------------------------ ticket log, restart */

static void test_tickets_restart(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(KmsUser) alice = add_user(store, ALICE, TRUE);
  const char *const r1[] = { "sip:conference-factory@example.org", BOB, NULL };
  const char *const r2[] = { "sip:conf-0123@example.org", NULL };
  g_assert_true(kms_store_ticket_issued(store, "fp-1", ALICE, r1, 1000, 4600, &error));
  g_assert_no_error(error);
  g_assert_true(
      kms_store_ticket_issued(store, "fp-2", "sip:carol@example.org", r2, 2000, 5600, &error));
  g_assert_true(kms_store_ticket_issued(store, "fp-3", BOB, NULL, 3000, 6600, &error));
  g_assert_no_error(error);

  /* Resolves are counted in memory until the flush. */
  for (int i = 0; i < 3; i++)
    kms_store_ticket_resolved(store, "fp-1", FOCUS);
  kms_store_ticket_resolved(store, "fp-2", "sip:focus2@example.org");
  kms_store_ticket_resolved(store, "fp-unknown", FOCUS); /* harmless */
  g_autoptr(KmsStore) other = open_store(f, FALSE);
  g_autoptr(GPtrArray) before = kms_store_tickets(other, NULL, 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(before->len, ==, 3);
  for (guint i = 0; i < before->len; i++)
    g_assert_cmpint(((KmsTicketRow *)before->pdata[i])->resolve_count, ==, 0);
  g_assert_true(kms_store_flush(store, &error));
  g_assert_no_error(error);
  g_assert_true(kms_store_flush(store, &error)); /* nothing pending */
  kms_store_ticket_resolved(store, "fp-1", "sip:focus3@example.org");
  g_assert_true(kms_store_flush(store, &error));

  g_autoptr(GPtrArray) all = kms_store_tickets(other, NULL, 0, &error);
  g_assert_cmpuint(all->len, ==, 3);
  const KmsTicketRow *t3 = all->pdata[0], *t1 = all->pdata[2];
  g_assert_cmpstr(t3->fingerprint, ==, "fp-3"); /* newest first */
  g_assert_cmpstr(t3->recipients, ==, "");
  g_assert_cmpint(t3->resolve_count, ==, 0);
  g_assert_null(t3->last_resolver);
  g_assert_cmpstr(t1->fingerprint, ==, "fp-1");
  g_assert_cmpstr(t1->requester, ==, ALICE);
  g_assert_cmpstr(t1->recipients, ==, "sip:conference-factory@example.org " BOB);
  g_assert_cmpint(t1->trs, ==, 1000);
  g_assert_cmpint(t1->tre, ==, 4600);
  g_assert_cmpint(t1->issued, >, 0);
  g_assert_cmpint(t1->resolve_count, ==, 4);
  g_assert_cmpstr(t1->last_resolver, ==, "sip:focus3@example.org");
  g_assert_cmpint(t1->last_resolved, >, 0);

  /* By user: requested by or naming, in any URI-equal form; limits. */
  g_autoptr(GPtrArray) by_bob = kms_store_tickets(other, "SIP:bob@EXAMPLE.org", 0, &error);
  g_assert_cmpuint(by_bob->len, ==, 2);
  g_assert_cmpstr(((KmsTicketRow *)by_bob->pdata[0])->fingerprint, ==, "fp-3");
  g_assert_cmpstr(((KmsTicketRow *)by_bob->pdata[1])->fingerprint, ==, "fp-1");
  g_autoptr(GPtrArray) by_bob1 = kms_store_tickets(other, BOB, 1, &error);
  g_assert_cmpuint(by_bob1->len, ==, 1);
  g_autoptr(GPtrArray) by_conf = kms_store_tickets(other, "sip:conf-0123@example.org", 0, &error);
  g_assert_cmpuint(by_conf->len, ==, 1);
  g_autoptr(GPtrArray) by_nobody = kms_store_tickets(other, "sip:nobody@example.org", 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(by_nobody->len, ==, 0);
  g_autoptr(GPtrArray) two = kms_store_tickets(other, NULL, 2, &error);
  g_assert_cmpuint(two->len, ==, 2);

  /* A duplicate fingerprint is an error, and leaves nothing behind. */
  g_assert_false(kms_store_ticket_issued(store, "fp-1", ALICE, r1, 1, 2, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);

  /* Buffered counts are written at free, too; after the restart everything is there. */
  kms_store_ticket_resolved(store, "fp-2", FOCUS);
  g_autoptr(GBytes) gen = NULL;
  g_autoptr(MikeySecret) tpk = NULL;
  g_assert_true(kms_store_tpk_current(store, &gen, &tpk, NULL));
  g_clear_pointer(&store, kms_store_free);
  g_clear_pointer(&other, kms_store_free);

  g_autoptr(KmsStore) restarted = open_store(f, FALSE);
  g_autoptr(KmsUser) a = kms_store_user_by_psk_id(restarted, alice->psk_id, &error);
  g_assert_no_error(error);
  g_assert_nonnull(a);
  g_assert_true(mikey_secret_equal(a->psk, alice->psk));
  g_assert_true(a->may_create);
  g_assert_true(mikey_secret_equal(kms_store_tpk_lookup(restarted, gen), tpk));
  g_autoptr(GPtrArray) after = kms_store_tickets(restarted, "sip:carol@example.org", 0, &error);
  g_assert_cmpuint(after->len, ==, 1);
  g_assert_cmpint(((KmsTicketRow *)after->pdata[0])->resolve_count, ==, 2);
  g_assert_cmpstr(((KmsTicketRow *)after->pdata[0])->last_resolver, ==, FOCUS);
  g_autoptr(GPtrArray) every = kms_store_tickets(restarted, NULL, 0, &error);
  g_assert_cmpuint(every->len, ==, 3);
}

/* ------------------------------------------------------------------ scale */

static glong rss_kib(void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
    return -1;
  const char *line = strstr(status, "VmRSS:");
  return line != NULL ? strtol(line + 6, NULL, 10) : -1;
}

static goffset file_size(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  GStatBuf st;
  return g_stat(path, &st) == 0 ? (goffset)st.st_size : 0;
}

static void test_many_users(Fixture *f, gconstpointer data)
{
  const guint n = g_test_thorough() ? 1000000 : 100000;
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = open_store(f, TRUE);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

  gint64 t0 = g_get_monotonic_time();
  for (guint i = 0; i < n; i++) {
    g_autofree char *id = g_strdup_printf("sip:user%06u@example.org", i);
    g_autoptr(KmsUser) u = kms_store_user_add(store, id, FALSE, NULL, &error);
    g_assert_no_error(error);
    if (i % 97 == 0)
      g_ptr_array_add(ids, g_bytes_ref(u->psk_id));
  }
  gint64 t1 = g_get_monotonic_time();
  g_test_message("%u users added one by one (one transaction each) in %.2f s (%.1f us/user)", n,
                 (t1 - t0) / 1e6, (double)(t1 - t0) / n);
  g_test_message("kms.db %.1f MiB + kms.db-wal %.1f MiB", file_size(f->state, "kms.db") / 1048576.0,
                 file_size(f->state, "kms.db-wal") / 1048576.0);
  g_assert_cmpuint(kms_store_user_count(store, &error), ==, n);
  g_clear_pointer(&store, kms_store_free);
  g_test_message("after close (checkpoint): kms.db %.1f MiB",
                 file_size(f->state, "kms.db") / 1048576.0);

  /* The daemon's view: a fresh open, lookups by PSK ID. */
  glong rss0 = rss_kib();
  g_autoptr(KmsStore) daemon = open_store(f, FALSE);
  gint64 t2 = g_get_monotonic_time();
  const guint rounds = 20000;
  for (guint i = 0; i < rounds; i++) {
    GBytes *id = ids->pdata[(i * 7919u) % ids->len];
    g_autoptr(KmsUser) u = kms_store_user_by_psk_id(daemon, id, &error);
    g_assert_no_error(error);
    g_assert_nonnull(u);
    g_assert_nonnull(u->psk);
  }
  gint64 t3 = g_get_monotonic_time();
  g_autoptr(KmsUser) last =
      kms_store_user_by_identity(daemon, "sip:user099999@example.org", TRUE, &error);
  g_assert_no_error(error);
  glong rss1 = rss_kib();
  g_test_message("%u lookups by PSK ID among %u users: %.2f us each (PSK decrypted)", rounds, n,
                 (double)(t3 - t2) / rounds);
  g_test_message("RSS of the test process: %ld KiB before the open, %ld KiB after the lookups",
                 rss0, rss1);

  /* O(index): the planner answers the lookups from the UNIQUE indexes, never a table scan. */
  sqlite3 *db = raw_db(f);
  const char *queries[] = { "EXPLAIN QUERY PLAN SELECT * FROM users WHERE psk_id = x'00'",
                            "EXPLAIN QUERY PLAN SELECT * FROM users WHERE identity_norm = 'x'" };
  for (gsize q = 0; q < G_N_ELEMENTS(queries); q++) {
    sqlite3_stmt *stmt = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, queries[q], -1, &stmt, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    const char *detail = (const char *)sqlite3_column_text(stmt, 3);
    g_test_message("%s: %s", queries[q] + 19, detail);
    g_assert_nonnull(strstr(detail, "USING INDEX"));
    g_assert_null(strstr(detail, "SCAN"));
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
}

/* ------------------------------------------------------------------ CA */

static X509 *load_cert(const char *path)
{
  BIO *bio = BIO_new_file(path, "r");
  g_assert_nonnull(bio);
  X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  g_assert_nonnull(cert);
  return cert;
}

/* X509_verify_cert of server against ca, for TLS server use. */
static int verify_server(X509 *ca, X509 *server)
{
  X509_STORE *trust = X509_STORE_new();
  X509_STORE_add_cert(trust, ca);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  g_assert_cmpint(X509_STORE_CTX_init(ctx, trust, server, NULL), ==, 1);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  int ok = X509_verify_cert(ctx);
  if (ok != 1)
    g_test_message("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(trust);
  return ok;
}

static void test_ca(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(g_mkdir(f->state, 0700), ==, 0);
  const char *const names[] = { "kms.example.org", "127.0.0.1", "::1", "localhost", NULL };
  g_assert_true(kms_ca_create(f->state, names, FALSE, &error));
  g_assert_no_error(error);

  g_autofree char *ca_pem = g_build_filename(f->state, "ca.pem", NULL);
  g_autofree char *ca_key = g_build_filename(f->state, "ca.key", NULL);
  g_autofree char *srv_pem = g_build_filename(f->state, "server.pem", NULL);
  g_autofree char *srv_key = g_build_filename(f->state, "server.key", NULL);
  g_assert_cmphex(file_mode(ca_key), ==, 0600);
  g_assert_cmphex(file_mode(srv_key), ==, 0600);
  g_assert_cmphex(file_mode(ca_pem), ==, 0644);
  g_assert_cmphex(file_mode(srv_pem), ==, 0644);

  X509 *ca = load_cert(ca_pem);
  X509 *srv = load_cert(srv_pem);
  g_assert_cmpint(X509_check_ca(ca), >=, 1);
  g_assert_cmpint(X509_check_ca(srv), ==, 0);
  g_assert_cmpint(verify_server(ca, srv), ==, 1);
  g_assert_cmpint(X509_check_host(srv, "kms.example.org", 0, 0, NULL), ==, 1);
  g_assert_cmpint(X509_check_host(srv, "localhost", 0, 0, NULL), ==, 1);
  g_assert_cmpint(X509_check_ip_asc(srv, "127.0.0.1", 0), ==, 1);
  g_assert_cmpint(X509_check_ip_asc(srv, "::1", 0), ==, 1);
  g_assert_cmpint(X509_check_host(srv, "other.example.org", 0, 0, NULL), ==, 0);
  g_assert_cmpint(X509_check_ip_asc(srv, "127.0.0.2", 0), ==, 0);
  EVP_PKEY *pub = X509_get0_pubkey(srv);
  g_assert_true(EVP_PKEY_is_a(pub, "EC"));
  g_assert_cmpint(EVP_PKEY_get_bits(pub), ==, 256);
  /* The CA is valid about 10 years, the server certificate about 2. */
  int days = 0, secs = 0;
  g_assert_cmpint(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(ca)), ==, 1);
  g_assert_cmpint(days, >=, 3640);
  g_assert_cmpint(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(srv)), ==, 1);
  g_assert_cmpint(days, >=, 720);
  g_assert_cmpint(days, <=, 740);

  /* Run again: everything kept. */
  g_autofree char *before = NULL;
  g_assert_true(g_file_get_contents(srv_pem, &before, NULL, NULL));
  g_assert_true(kms_ca_create(f->state, names, FALSE, &error));
  g_autofree char *after = NULL;
  g_assert_true(g_file_get_contents(srv_pem, &after, NULL, NULL));
  g_assert_cmpstr(before, ==, after);

  /* The server certificate lost: a new one from the same CA. */
  g_assert_cmpint(g_unlink(srv_pem), ==, 0);
  const char *const other_names[] = { "kms2.example.org", NULL };
  g_assert_true(kms_ca_create(f->state, other_names, FALSE, &error));
  g_assert_no_error(error);
  X509 *srv2 = load_cert(srv_pem);
  g_assert_cmpint(verify_server(ca, srv2), ==, 1);
  g_assert_cmpint(X509_check_host(srv2, "kms2.example.org", 0, 0, NULL), ==, 1);

  /* Overwrite: a new CA, which the old one does not vouch for. */
  g_assert_true(kms_ca_create(f->state, names, TRUE, &error));
  X509 *ca3 = load_cert(ca_pem);
  X509 *srv3 = load_cert(srv_pem);
  g_assert_cmpint(verify_server(ca3, srv3), ==, 1);
  g_assert_cmpint(verify_server(ca, srv3), ==, 0);

  /* Bad names. */
  const char *const bad[] = { "kms example", NULL };
  g_assert_false(kms_ca_create(f->state, bad, TRUE, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  const char *const empty[] = { NULL };
  g_assert_false(kms_ca_create(f->state, empty, TRUE, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  X509_free(ca);
  X509_free(srv);
  X509_free(srv2);
  X509_free(ca3);
  X509_free(srv3);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kms-store/init", test_init);
  ADD("/kms-store/open-errors", test_open_errors);
  ADD("/kms-store/users", test_users);
  ADD("/kms-store/psk-not-plaintext", test_psk_not_plaintext);
  ADD("/kms-store/tamper", test_tamper);
  ADD("/kms-store/tpk-rotate", test_tpk_rotate);
  ADD("/kms-store/tickets-restart", test_tickets_restart);
  ADD("/kms-store/many-users", test_many_users);
  ADD("/kms-store/ca", test_ca);
  return g_test_run();
}
