/* The focus's records (src/focus/store.c, profile 7.4): conferences and audit events in
 * <state-dir>/focus.db survive a close, a kill -9 and a reopen; failed writes (full disk,
 * read-only database, duplicates, unknown or ended conferences) are GErrors that change
 * nothing; the audit log pages by id; stats are counted. */
#include "focus/store.h"

#include "common/db.h"
#include "common/log.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define DAVE "sip:dave@example.org"
#define HOST "conf.example.org"

typedef struct {
  char *tmp;   /* removed at the end */
  char *state; /* tmp/state, created by the store */
} Fixture;

static void rm_rf(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
    }
    g_dir_close(dir);
  }
  g_remove(path);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->tmp = g_dir_make_tmp("test-focus-store-XXXXXX", &error);
  g_assert_no_error(error);
  f->state = g_build_filename(f->tmp, "state", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  g_chmod(f->state, 0700);
  rm_rf(f->tmp);
  g_free(f->state);
  g_free(f->tmp);
}

static char *conf_uri(guint n)
{
  return g_strdup_printf("sip:conf-%032x@" HOST, n);
}

/* A conference record: owner plus the given identities (NULL-terminated). */
static FocusConf *conf_new(guint n, const char *owner, gint64 now, ...)
{
  g_autoptr(GPtrArray) allowed = g_ptr_array_new();
  va_list ap;
  va_start(ap, now);
  for (const char *id = va_arg(ap, const char *); id != NULL; id = va_arg(ap, const char *))
    g_ptr_array_add(allowed, (gpointer)id);
  va_end(ap);
  g_autofree char *uri = conf_uri(n);
  g_autofree char *fp = g_strdup_printf("fp-%u", n);
  return focus_conf_new(uri, owner, allowed, fp, now);
}

static FocusAuditEvent *event_new(const char *conference, const char *identity,
                                  const char *decision, const char *reason)
{
  FocusAuditEvent *ev = g_new0(FocusAuditEvent, 1);
  ev->conference = g_strdup(conference);
  ev->identity = g_strdup(identity);
  ev->source = g_strdup("192.0.2.7:5060");
  ev->decision = g_strdup(decision);
  ev->reason = g_strdup(reason);
  ev->detail = reason != NULL ? g_strdup_printf("%s because %s", decision, reason) : NULL;
  return ev;
}

static char *allowed_of(const FocusConf *conf)
{
  return focus_conf_allowed_string(conf);
}

static guint file_mode(const char *path)
{
  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  return st.st_mode & 07777;
}

/* ------------------------------------------------------------------ round trip */

static void test_round_trip(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *a_uri = conf_uri(1);
  g_autofree char *b_uri = conf_uri(2);
  {
    g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(file_mode(f->state), ==, 0700);
    g_assert_cmpuint(file_mode(focus_store_path(store)), ==, 0600);
    g_autofree char *wal = g_strconcat(focus_store_path(store), "-wal", NULL);
    g_assert_cmpuint(file_mode(wal), ==, 0600);

    g_autoptr(FocusConf) a = conf_new(1, ALICE, 1000, BOB, CAROL, NULL);
    g_autoptr(FocusAuditEvent) ev = event_new(a_uri, ALICE, "created", "new-conference");
    g_assert_true(focus_store_conf_create(store, a, ev, &error));
    g_assert_no_error(error);
    g_assert_cmpint(ev->id, >, 0);
    g_assert_cmpint(ev->time, >, 0);

    g_autoptr(FocusConf) b = conf_new(2, BOB, 1001, NULL);
    g_assert_true(focus_store_conf_create(store, b, NULL, &error));
    g_assert_no_error(error);

    /* 7.3: the owner's new set, in another URI-equal spelling of the conference */
    g_autoptr(GPtrArray) set = g_ptr_array_new();
    g_ptr_array_add(set, (gpointer) "sip:dave@EXAMPLE.org;transport=tcp");
    g_ptr_array_add(set, (gpointer)ALICE);
    g_ptr_array_add(set, (gpointer)DAVE); /* twice: stored once */
    g_autofree char *a_upper = g_strdup_printf("SIP:conf-%032x@CONF.example.org", 1);
    g_autoptr(FocusAuditEvent) ev2 = event_new(a_uri, ALICE, "set-changed", NULL);
    g_assert_true(focus_store_conf_set_allowed(store, a_upper, set, 1500, ev2, &error));
    g_assert_no_error(error);
    g_assert_cmpint(ev2->id, >, ev->id);

    g_assert_true(focus_store_conf_end(store, b_uri, 2000, NULL, &error));
    g_assert_no_error(error);
  }
  /* reopen: everything is there, ended conferences included */
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, 2);
  g_assert_no_error(error);
  g_assert_cmpuint(focus_registry_count(reg, FALSE), ==, 2);
  g_assert_cmpuint(focus_registry_count(reg, TRUE), ==, 1);

  FocusConf *a = focus_registry_lookup(reg, a_uri);
  g_assert_nonnull(a);
  g_assert_cmpstr(a->uri, ==, a_uri);
  g_assert_cmpstr(a->owner, ==, ALICE);
  g_autofree char *a_allowed = allowed_of(a);
  g_assert_cmpstr(a_allowed, ==, ALICE " " DAVE);
  g_assert_cmpstr(a->ticket_fp, ==, "fp-1");
  g_assert_cmpint(a->created, ==, 1000);
  g_assert_cmpint(a->updated, ==, 1500);
  g_assert_cmpint(a->ended, ==, 0);
  g_assert_true(focus_conf_allows(a, "sip:dave@example.org"));
  g_assert_false(focus_conf_allows(a, BOB));

  FocusConf *b = focus_registry_lookup(reg, b_uri);
  g_assert_nonnull(b);
  g_autofree char *b_allowed = allowed_of(b);
  g_assert_cmpstr(b_allowed, ==, BOB);
  g_assert_cmpint(b->ended, ==, 2000);
  g_assert_cmpint(b->updated, ==, 2000);

  /* creation order */
  GList *list = focus_registry_list(reg);
  g_assert_cmpuint(g_list_length(list), ==, 2);
  g_assert_true(list->data == a && list->next->data == b);
  g_list_free(list);

  g_autoptr(GPtrArray) events = focus_store_audit_list(store, 0, 0, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(events->len, ==, 2);
  FocusAuditEvent *e0 = g_ptr_array_index(events, 0);
  g_assert_cmpstr(e0->decision, ==, "created");
  g_assert_cmpstr(e0->reason, ==, "new-conference");
  g_assert_cmpstr(e0->conference, ==, a_uri);
  g_assert_cmpstr(e0->source, ==, "192.0.2.7:5060");
  FocusAuditEvent *e1 = g_ptr_array_index(events, 1);
  g_assert_cmpstr(e1->decision, ==, "set-changed");
  g_assert_null(e1->reason);
  g_assert_null(e1->detail);
}

/* ------------------------------------------------------------------ refusals */

static void test_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autofree char *uri = conf_uri(7);
  g_autofree char *unknown = conf_uri(8);
  g_autoptr(FocusConf) conf = conf_new(7, ALICE, 100, BOB, NULL);
  g_assert_true(focus_store_conf_create(store, conf, NULL, &error));
  g_assert_no_error(error);

  /* the same URI again (any spelling): EXISTS, and its event is not recorded */
  g_autoptr(FocusAuditEvent) ev = event_new(uri, ALICE, "created", NULL);
  g_assert_false(focus_store_conf_create(store, conf, ev, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_cmpint(ev->id, ==, 0);
  g_clear_error(&error);

  g_autoptr(GPtrArray) set = g_ptr_array_new();
  g_ptr_array_add(set, (gpointer)CAROL);
  g_assert_false(focus_store_conf_set_allowed(store, unknown, set, 200, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, unknown));
  g_clear_error(&error);
  g_assert_false(focus_store_conf_end(store, unknown, 200, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* an identity that is no URI: nothing written */
  g_ptr_array_add(set, (gpointer) "not a uri");
  g_assert_false(focus_store_conf_set_allowed(store, uri, set, 200, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  g_assert_false(focus_store_conf_end(store, "conf-7", 200, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  FocusAuditEvent no_decision = { 0 };
  g_assert_cmpint(focus_store_audit_add(store, &no_decision, &error), ==, 0);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  g_assert_true(focus_store_conf_end(store, uri, 300, NULL, &error));
  g_assert_no_error(error);
  /* ended: no second end, no set change */
  g_autoptr(FocusAuditEvent) ev2 = event_new(uri, NULL, "ended", NULL);
  g_assert_false(focus_store_conf_end(store, uri, 400, ev2, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_cmpint(ev2->id, ==, 0);
  g_clear_error(&error);
  g_ptr_array_set_size(set, 1);
  g_assert_false(focus_store_conf_set_allowed(store, uri, set, 400, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error(&error);

  g_autoptr(GPtrArray) events = focus_store_audit_list(store, 0, 0, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(events->len, ==, 0);
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, 1);
  FocusConf *loaded = focus_registry_lookup(reg, uri);
  g_assert_cmpint(loaded->ended, ==, 300);
  g_autofree char *allowed = allowed_of(loaded);
  g_assert_cmpstr(allowed, ==, ALICE " " BOB);
}

static void test_open_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_null(focus_store_open("", &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);

  /* the state directory is a file */
  g_autofree char *file = g_build_filename(f->tmp, "file", NULL);
  g_assert_true(g_file_set_contents(file, "x", 1, NULL));
  g_assert_null(focus_store_open(file, &error));
  g_assert_nonnull(error);
  g_test_message("state dir is a file: %s", error->message);
  g_clear_error(&error);

  /* a database that is not one */
  g_assert_cmpint(g_mkdir(f->state, 0700), ==, 0);
  g_autofree char *db = g_build_filename(f->state, "focus.db", NULL);
  g_assert_true(g_file_set_contents(db, "this is not a database, it is a text file of some length",
                                    -1, NULL));
  g_assert_null(focus_store_open(f->state, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, db));
  g_test_message("garbage database: %s", error->message);
  g_clear_error(&error);
  g_remove(db);

  /* a schema from a newer program */
  {
    g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
    g_assert_no_error(error);
    g_assert_cmpint(sqlite3_exec(focus_store_db(store), "PRAGMA user_version=99", NULL, NULL, NULL),
                    ==, SQLITE_OK);
  }
  g_assert_null(focus_store_open(f->state, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "newer"));
  g_clear_error(&error);
}

/* ------------------------------------------------------------------ crash */

/* A child commits records and is killed with SIGKILL without closing anything: every
 * committed record is found again (synchronous=NORMAL in WAL mode survives a process crash). */
static void test_kill9(Fixture *f, gconstpointer data)
{
  const guint n = 200;
  g_autofree char *wal = g_build_filename(f->state, "focus.db-wal", NULL);
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0) {
    FocusStore *store = focus_store_open(f->state, NULL);
    if (store == NULL)
      _exit(3);
    for (guint i = 0; i < n; i++) {
      FocusConf *conf = conf_new(1000 + i, ALICE, 5000 + i, BOB, NULL);
      FocusAuditEvent ev = { 0 };
      ev.decision = g_strdup("created");
      ev.conference = g_strdup(conf->uri);
      if (!focus_store_conf_create(store, conf, &ev, NULL))
        _exit(4);
      focus_audit_event_clear(&ev);
      focus_conf_free(conf);
    }
    g_autofree char *last = conf_uri(1000);
    if (!focus_store_conf_end(store, last, 9999, NULL, NULL))
      _exit(5);
    kill(getpid(), SIGKILL);
    _exit(6);
  }
  int status = 0;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFSIGNALED(status));
  g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
  /* the records are in the WAL only: nobody checkpointed */
  GStatBuf st;
  g_assert_cmpint(g_stat(wal, &st), ==, 0);
  g_assert_cmpint(st.st_size, >, 0);
  g_test_message("after kill -9: WAL of %" G_GINT64_FORMAT " bytes", (gint64)st.st_size);

  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, (gint)n);
  g_assert_cmpuint(focus_registry_count(reg, TRUE), ==, n - 1);
  for (guint i = 0; i < n; i++) {
    g_autofree char *uri = conf_uri(1000 + i);
    FocusConf *conf = focus_registry_lookup(reg, uri);
    g_assert_nonnull(conf);
    g_assert_true(focus_conf_allows(conf, BOB));
    g_assert_cmpint(conf->created, ==, 5000 + i);
    g_assert_cmpint(conf->ended, ==, i == 0 ? 9999 : 0);
  }
  g_autoptr(GPtrArray) events = focus_store_audit_list(store, 0, 0, NULL, &error);
  g_assert_cmpuint(events->len, ==, n);
  /* and the store keeps working after the crash */
  g_autoptr(FocusConf) more = conf_new(1, ALICE, 1, NULL);
  g_assert_true(focus_store_conf_create(store, more, NULL, &error));
  g_assert_no_error(error);
}

/* ------------------------------------------------------------------ full / read-only */

static gint64 pragma_int(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

static void test_full(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  sqlite3 *db = focus_store_db(store);
  gint64 pages = pragma_int(db, "PRAGMA page_count");
  g_autofree char *limit = g_strdup_printf("PRAGMA max_page_count=%" G_GINT64_FORMAT, pages + 2);
  g_assert_cmpint(sqlite3_exec(db, limit, NULL, NULL, NULL), ==, SQLITE_OK);

  /* fill it up: creations start failing with NO_SPACE, and a failed one leaves no trace */
  guint created = 0;
  gboolean full = FALSE;
  for (guint i = 0; i < 10000 && !full; i++) {
    g_autoptr(FocusConf) conf = conf_new(i, ALICE, 10, BOB, CAROL, DAVE, NULL);
    g_autoptr(FocusAuditEvent) ev = event_new(conf->uri, ALICE, "created", "new-conference");
    if (focus_store_conf_create(store, conf, ev, &error)) {
      created++;
      continue;
    }
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
    g_assert_cmpint(ev->id, ==, 0);
    g_test_message("after %u conferences: %s", created, error->message);
    g_clear_error(&error);
    full = TRUE;
  }
  g_assert_true(full);
  g_assert_cmpuint(created, >, 0);
  /* audit events and updates fail the same way once there is no room left at all */
  gboolean audit_failed = FALSE;
  for (guint i = 0; i < 10000 && !audit_failed; i++) {
    g_autoptr(FocusAuditEvent) ev = event_new(NULL, BOB, "refused", "not-in-allowed-set");
    if (focus_store_audit_add(store, ev, &error) == 0) {
      g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
      g_clear_error(&error);
      audit_failed = TRUE;
    }
  }
  g_assert_true(audit_failed);

  /* reads still work and show exactly what was committed */
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, (gint)created);
  g_assert_no_error(error);
  FocusStoreCounts counts;
  g_assert_true(focus_store_counts(store, &counts, &error));
  g_assert_cmpint(counts.conferences, ==, created);
  focus_store_counts_clear(&counts);

  /* room again: writes work again */
  g_assert_cmpint(sqlite3_exec(db, "PRAGMA max_page_count=1000000", NULL, NULL, NULL), ==,
                  SQLITE_OK);
  g_autoptr(FocusConf) conf = conf_new(99999, ALICE, 10, NULL);
  g_assert_true(focus_store_conf_create(store, conf, NULL, &error));
  g_assert_no_error(error);
}

static void test_read_only(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = conf_uri(1);
  {
    g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
    g_assert_no_error(error);
    g_autoptr(FocusConf) conf = conf_new(1, ALICE, 10, BOB, NULL);
    g_assert_true(focus_store_conf_create(store, conf, NULL, &error));

    /* the database refuses writes (as on a file system remounted read-only) */
    g_assert_cmpint(sqlite3_exec(focus_store_db(store), "PRAGMA query_only=1", NULL, NULL, NULL),
                    ==, SQLITE_OK);
    g_autoptr(FocusConf) other = conf_new(2, ALICE, 10, NULL);
    g_assert_false(focus_store_conf_create(store, other, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_test_message("read-only: %s", error->message);
    g_clear_error(&error);
    g_autoptr(GPtrArray) set = g_ptr_array_new();
    g_assert_false(focus_store_conf_set_allowed(store, uri, set, 20, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_clear_error(&error);
    g_assert_false(focus_store_conf_end(store, uri, 20, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_clear_error(&error);
    g_autoptr(FocusAuditEvent) ev = event_new(uri, BOB, "admitted", NULL);
    g_assert_cmpint(focus_store_audit_add(store, ev, &error), ==, 0);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_clear_error(&error);
    /* reading still works */
    g_autoptr(FocusRegistry) reg = focus_registry_new();
    g_assert_cmpint(focus_store_load(store, reg, &error), ==, 1);
    g_assert_cmpint(focus_registry_lookup(reg, uri)->ended, ==, 0);
  }
  /* a state directory the daemon may not write: refused at open (root writes anywhere) */
  if (geteuid() == 0) {
    g_test_message("running as root: the read-only directory case is not observable");
    return;
  }
  g_assert_cmpint(g_chmod(f->state, 0500), ==, 0);
  g_assert_null(focus_store_open(f->state, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  g_clear_error(&error);
}

/* ------------------------------------------------------------------ audit */

static void test_audit_paging(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autofree char *c1 = conf_uri(1);
  g_autofree char *c2 = conf_uri(2);
  const guint n = 2500;
  gint64 prev = 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(FocusAuditEvent) ev =
        event_new(i % 3 == 0 ? c1 : c2, BOB, i % 2 ? "admitted" : "refused", "r");
    ev->time = 1000000 + i;
    gint64 id = focus_store_audit_add(store, ev, &error);
    g_assert_no_error(error);
    g_assert_cmpint(id, >, prev);
    g_assert_cmpint(id, ==, ev->id);
    prev = id;
  }
  /* an event without a conference or reason */
  FocusAuditEvent bare = { 0 };
  bare.decision = g_strdup("started");
  g_assert_cmpint(focus_store_audit_add(store, &bare, &error), >, prev);
  g_assert_cmpint(bare.time, >, 0);
  focus_audit_event_clear(&bare);

  /* pages of at most FOCUS_STORE_AUDIT_PAGE, in id order, each id once */
  guint seen = 0, pages = 0;
  gint64 after = 0;
  for (;;) {
    g_autoptr(GPtrArray) page = focus_store_audit_list(store, after, 5000, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(page->len, <=, FOCUS_STORE_AUDIT_PAGE);
    if (page->len == 0)
      break;
    pages++;
    for (guint i = 0; i < page->len; i++) {
      FocusAuditEvent *ev = g_ptr_array_index(page, i);
      g_assert_cmpint(ev->id, >, after);
      after = ev->id;
      seen++;
    }
  }
  g_assert_cmpuint(seen, ==, n + 1);
  g_assert_cmpuint(pages, ==, 3);

  /* small pages */
  g_autoptr(GPtrArray) three = focus_store_audit_list(store, 10, 3, NULL, &error);
  g_assert_cmpuint(three->len, ==, 3);
  g_assert_cmpint(((FocusAuditEvent *)g_ptr_array_index(three, 0))->id, ==, 11);
  g_assert_cmpint(((FocusAuditEvent *)g_ptr_array_index(three, 0))->time, ==, 1000000 + 10);

  /* one conference's events, by any spelling of its URI */
  g_autofree char *c1_other = g_strdup_printf("sip:conf-%032x@CONF.EXAMPLE.ORG;transport=tcp", 1);
  guint in_c1 = 0;
  after = 0;
  for (;;) {
    g_autoptr(GPtrArray) page = focus_store_audit_list(store, after, 0, c1_other, &error);
    g_assert_no_error(error);
    if (page->len == 0)
      break;
    for (guint i = 0; i < page->len; i++) {
      FocusAuditEvent *ev = g_ptr_array_index(page, i);
      g_assert_cmpstr(ev->conference, ==, c1);
      after = ev->id;
      in_c1++;
    }
  }
  g_assert_cmpuint(in_c1, ==, (n + 2) / 3);
  g_autoptr(GPtrArray) none = focus_store_audit_list(store, 0, 0, "sip:nobody@example.org", &error);
  g_assert_cmpuint(none->len, ==, 0);
  g_autoptr(GPtrArray) past_end = focus_store_audit_list(store, G_MAXINT64, 0, NULL, &error);
  g_assert_cmpuint(past_end->len, ==, 0);
}

static void test_counts(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  FocusStoreCounts counts;
  g_assert_true(focus_store_counts(store, &counts, &error));
  g_assert_cmpint(counts.conferences, ==, 0);
  g_assert_cmpint(counts.events, ==, 0);
  g_assert_cmpint(counts.last_event, ==, 0);
  g_assert_cmpuint(counts.by_reason->len, ==, 0);
  focus_store_counts_clear(&counts);

  for (guint i = 0; i < 3; i++) {
    g_autoptr(FocusConf) conf = conf_new(i, ALICE, 10, NULL);
    g_autoptr(FocusAuditEvent) ev = event_new(conf->uri, ALICE, "created", NULL);
    g_assert_true(focus_store_conf_create(store, conf, ev, &error));
  }
  g_autofree char *uri0 = conf_uri(0);
  g_assert_true(focus_store_conf_end(store, uri0, 20, NULL, &error));
  const char *refusals[] = { "not-in-allowed-set", "not-in-allowed-set", "unknown-conference",
                             "not-in-allowed-set" };
  for (guint i = 0; i < G_N_ELEMENTS(refusals); i++) {
    g_autoptr(FocusAuditEvent) ev = event_new(uri0, DAVE, "refused", refusals[i]);
    g_assert_cmpint(focus_store_audit_add(store, ev, &error), >, 0);
  }
  g_assert_true(focus_store_counts(store, &counts, &error));
  g_assert_no_error(error);
  g_assert_cmpint(counts.conferences, ==, 3);
  g_assert_cmpint(counts.live, ==, 2);
  g_assert_cmpint(counts.ended, ==, 1);
  g_assert_cmpint(counts.events, ==, 7);
  g_assert_cmpint(counts.last_event, ==, 7);
  g_assert_cmpuint(counts.by_reason->len, ==, 3);
  const struct {
    const char *decision, *reason;
    gint64 count;
  } want[] = {
    { "created", "", 3 },
    { "refused", "not-in-allowed-set", 3 },
    { "refused", "unknown-conference", 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
    FocusAuditCount *c = g_ptr_array_index(counts.by_reason, i);
    g_assert_cmpstr(c->decision, ==, want[i].decision);
    g_assert_cmpstr(c->reason, ==, want[i].reason);
    g_assert_cmpint(c->count, ==, want[i].count);
  }
  focus_store_counts_clear(&counts);
}

/* A record damaged behind the store's back is skipped, the others load. */
static void test_damaged_record(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autoptr(FocusConf) conf = conf_new(1, ALICE, 10, NULL);
  g_assert_true(focus_store_conf_create(store, conf, NULL, &error));
  g_assert_cmpint(sqlite3_exec(focus_store_db(store),
                               "INSERT INTO conferences (uri, uri_norm, owner, allowed, created, "
                               "updated) VALUES ('garbage', 'garbage', 'no owner', '', 1, 1)",
                               NULL, NULL, NULL),
                  ==, SQLITE_OK);
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, 1);
  g_assert_no_error(error);
  g_assert_nonnull(focus_registry_lookup(reg, conf->uri));
}

/* ------------------------------------------------------------------ throughput */

/* Not pass/fail (no test fails on a timing): how many creations, each one committed
 * transaction with its audit event, the store takes per second. The target is well above
 * 500/s. */
static void test_throughput(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  const guint n = 3000;
  g_autoptr(GPtrArray) confs = g_ptr_array_new_with_free_func((GDestroyNotify)focus_conf_free);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add(confs, conf_new(i, ALICE, 10, BOB, CAROL, DAVE, NULL));
  gint64 t0 = g_get_monotonic_time();
  for (guint i = 0; i < n; i++) {
    FocusConf *conf = g_ptr_array_index(confs, i);
    g_autoptr(FocusAuditEvent) ev = event_new(conf->uri, ALICE, "created", "new-conference");
    g_assert_true(focus_store_conf_create(store, conf, ev, &error));
  }
  gint64 t1 = g_get_monotonic_time();
  for (guint i = 0; i < n; i++) {
    g_autoptr(FocusAuditEvent) ev = event_new(NULL, BOB, "admitted", NULL);
    g_assert_cmpint(focus_store_audit_add(store, ev, &error), >, 0);
  }
  gint64 t2 = g_get_monotonic_time();
  double create_rate = n / ((t1 - t0) / 1e6);
  double audit_rate = n / ((t2 - t1) / 1e6);
  g_test_message("conference creations (record + audit event, one commit each): %u in %.3f s = "
                 "%.0f commits/s (%.1f us each)",
                 n, (t1 - t0) / 1e6, create_rate, (t1 - t0) / (double)n);
  g_test_message("audit events alone: %u in %.3f s = %.0f commits/s", n, (t2 - t1) / 1e6,
                 audit_rate);
  gint64 t3 = g_get_monotonic_time();
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, (gint)n);
  g_test_message("load of %u conferences: %.1f ms", n, (g_get_monotonic_time() - t3) / 1e3);
}

/* The WAL is checkpointed by the store's background connection (db.c), not inside the commits
 * of the daemon's connection, whose own threshold is only a backstop; the records are all
 * there after a reopen. */
static void test_background_checkpoint(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const guint n = 400;
  {
    g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
    g_assert_no_error(error);
    sqlite3 *db = focus_store_db(store);
    sqlite3_stmt *stmt = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA wal_autocheckpoint", -1, &stmt, NULL), ==,
                    SQLITE_OK);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    g_assert_cmpint(sqlite3_column_int(stmt, 0), >, 1000);
    sqlite3_finalize(stmt);
    g_assert_cmpuint(db_background_checkpoints(db), ==, 0);
    for (guint i = 0; i < n; i++) {
      g_autoptr(FocusConf) conf = conf_new(i, ALICE, 10, BOB, NULL);
      g_autoptr(FocusAuditEvent) ev = event_new(conf->uri, ALICE, "created", "new-conference");
      g_assert_true(focus_store_conf_create(store, conf, ev, &error));
    }
    /* it runs every second: bounded wait */
    for (guint i = 0; i < 100 && db_background_checkpoints(db) == 0; i++)
      g_usleep(50 * 1000);
    g_assert_cmpuint(db_background_checkpoints(db), >, 0);
    g_test_message("background checkpoints: %u", db_background_checkpoints(db));
  }
  g_autoptr(FocusStore) store = focus_store_open(f->state, &error);
  g_assert_no_error(error);
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  g_assert_cmpint(focus_store_load(store, reg, &error), ==, (gint)n);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_init("test-focus-store", "warning", NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/focus/store/round-trip", test_round_trip);
  ADD("/focus/store/errors", test_errors);
  ADD("/focus/store/open-errors", test_open_errors);
  ADD("/focus/store/kill9", test_kill9);
  ADD("/focus/store/full", test_full);
  ADD("/focus/store/read-only", test_read_only);
  ADD("/focus/store/audit-paging", test_audit_paging);
  ADD("/focus/store/counts", test_counts);
  ADD("/focus/store/damaged-record", test_damaged_record);
  ADD("/focus/store/throughput", test_throughput);
  ADD("/focus/store/background-checkpoint", test_background_checkpoint);
  return g_test_run();
}
