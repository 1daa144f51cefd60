/* mikeykmsd's admin subcommands (src/kms/admin.c) and its settings (src/kms/kmsconf.c):
 * issue 3, profile.md §2 (credential files) and §3 (plain HTTP only on loopback).
 *
 * Each command runs in a subprocess (g_test_trap_subprocess), as `mikeykmsd CMD...` would: the
 * test sets ADMIN_ARGS (the words, shell-quoted), ADMIN_STATE (the state directory), ADMIN_CWD
 * and optionally ADMIN_INSECURE, and the child runs kms_admin_run() and exits with its status
 * after printing "[exit N]" on stderr. */
#include "kms/admin.h"
#include "kms/kmsconf.h"
#include "kms/store.h"

#include "common/credential.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"

static char *tmp;   /* one directory for the whole program, removed at the end */
static char *state; /* tmp/state */

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

/* ------------------------------------------------------------------ the child */

static void child_run(void)
{
  if (!g_test_subprocess())
    return;
  g_auto(GStrv) words = NULL;
  int n = 0;
  g_assert_true(g_shell_parse_argv(g_getenv("ADMIN_ARGS"), &n, &words, NULL));
  g_assert_cmpint(g_chdir(g_getenv("ADMIN_CWD")), ==, 0);
  KmsConfig cfg;
  kms_config_init_defaults(&cfg);
  g_free(cfg.state_dir);
  cfg.state_dir = g_strdup(g_getenv("ADMIN_STATE"));
  cfg.insecure_http = g_getenv("ADMIN_INSECURE") != NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(kms_config_finish(&cfg, &error));
  /* kms_admin_run may reorder the array (GOption): keep the strings to free them. */
  char **argv = g_memdup2(words, sizeof(char *) * ((gsize)n + 1));
  int status = kms_admin_run(n, argv, &cfg);
  g_free(argv);
  kms_config_clear(&cfg);
  g_strfreev(g_steal_pointer(&words));
  g_printerr("[exit %d]\n", status);
  exit(status);
}

/* Runs "mikeykmsd ARGS" in a subprocess; the caller asserts on g_test_trap_*. */
static void admin_in(const char *cwd, gboolean insecure, const char *args)
{
  g_setenv("ADMIN_ARGS", args, TRUE);
  g_setenv("ADMIN_STATE", state, TRUE);
  g_setenv("ADMIN_CWD", cwd, TRUE);
  if (insecure)
    g_setenv("ADMIN_INSECURE", "1", TRUE);
  else
    g_unsetenv("ADMIN_INSECURE");
  g_test_trap_subprocess("/kms-admin/child", 0, G_TEST_SUBPROCESS_DEFAULT);
}

static void admin(const char *args)
{
  admin_in(tmp, FALSE, args);
}

#define assert_ok(args)                                                                            \
  do {                                                                                             \
    admin(args);                                                                                   \
    g_test_trap_assert_passed();                                                                   \
  } while (0)

#define assert_fails(args, status, pattern)                                                        \
  do {                                                                                             \
    admin(args);                                                                                   \
    g_test_trap_assert_failed();                                                                   \
    g_test_trap_assert_stderr("*[exit " #status "]*");                                             \
    g_test_trap_assert_stderr(pattern);                                                            \
  } while (0)

static KmsStore *store_open(void)
{
  g_autoptr(GError) error = NULL;
  KmsStore *store = kms_store_open(state, FALSE, &error);
  g_assert_no_error(error);
  return store;
}

static guint file_mode(const char *path)
{
  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void ensure_init(void)
{
  g_autofree char *kek = g_build_filename(state, "kek", NULL);
  if (!g_file_test(kek, G_FILE_TEST_EXISTS))
    assert_ok("init");
}

/* ------------------------------------------------------------------ init */

static void test_uninitialised(void)
{
  rm_rf(state);
  assert_fails("user list", 1, "*state directory*is not initialised (run mikeykmsd init)*");
  assert_fails("tpk rotate", 1, "*not initialised*");
  assert_fails("tickets", 1, "*not initialised*");
  assert_fails("user add " ALICE " --out alice-uninit.cred", 1, "*not initialised*");
  g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
}

static void test_init(void)
{
  rm_rf(state);
  assert_ok("init --name kms.example.org");
  g_test_trap_assert_stdout("*initialised*ticket key generation*ca.pem*");
  const char *files[] = { "kek", "kms.db", "ca.pem", "ca.key", "server.pem", "server.key" };
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *path = g_build_filename(state, files[i], NULL);
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
  }
  g_autofree char *kek = g_build_filename(state, "kek", NULL);
  g_autofree char *ca_key = g_build_filename(state, "ca.key", NULL);
  g_autofree char *srv_key = g_build_filename(state, "server.key", NULL);
  g_assert_cmphex(file_mode(kek), ==, 0600);
  g_assert_cmphex(file_mode(ca_key), ==, 0600);
  g_assert_cmphex(file_mode(srv_key), ==, 0600);

  /* Again: kept, said so. */
  g_autofree char *ca_before = NULL, *ca_after = NULL;
  g_autofree char *ca_pem = g_build_filename(state, "ca.pem", NULL);
  g_assert_true(g_file_get_contents(ca_pem, &ca_before, NULL, NULL));
  assert_ok("init");
  g_test_trap_assert_stdout("*already initialised (kept)*");
  g_assert_true(g_file_get_contents(ca_pem, &ca_after, NULL, NULL));
  g_assert_cmpstr(ca_before, ==, ca_after);

  assert_fails("init extra", 2, "*unexpected argument 'extra'*");
  assert_fails("init --name 'bad name'", 1, "*neither a DNS name nor an IP address*");
}

static void test_unwritable(void)
{
  g_autofree char *file = g_build_filename(tmp, "a-file", NULL);
  g_assert_true(g_file_set_contents(file, "x", 1, NULL));
  g_autofree char *saved = g_strdup(state);
  g_free(state);
  state = g_build_filename(file, "state", NULL);
  assert_fails("init", 1, "*cannot create state directory*a-file/state*");
  assert_fails("user list", 1, "*not initialised*");
  g_free(state);
  state = g_steal_pointer(&saved);
}

/* ------------------------------------------------------------------ user add */

static void check_credential(const char *path, const char *identity, gboolean https)
{
  g_assert_cmphex(file_mode(path), ==, 0600);
  g_autoptr(GError) error = NULL;
  Credential cred = { 0 };
  g_assert_true(credential_load(path, &cred, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(cred.identity, ==, identity);
  g_assert_cmpstr(cred.kms_uri, ==, "kms.example.org");
  if (https) {
    g_autofree char *ca = g_build_filename(state, "ca.pem", NULL);
    g_assert_cmpstr(cred.kms_url, ==, "https://127.0.0.1:8443/mikey");
    g_assert_cmpstr(cred.kms_ca, ==, ca);
  } else {
    g_assert_cmpstr(cred.kms_url, ==, "http://127.0.0.1:8443/mikey");
    g_assert_null(cred.kms_ca);
  }
  /* The same keys as the store's. */
  g_autoptr(KmsStore) store = store_open();
  g_autoptr(KmsUser) user = kms_store_user_by_psk_id(store, cred.psk_id, &error);
  g_assert_no_error(error);
  g_assert_nonnull(user);
  g_assert_cmpstr(user->identity, ==, identity);
  g_assert_true(mikey_secret_equal(user->psk, cred.psk));
  credential_clear(&cred);

  /* No comments, exactly the keys of profile §2. */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_null(strchr(text, '#'));
  g_assert_true(g_str_has_prefix(text, "[credential]\n"));
  g_assert_nonnull(strstr(text, "\npsk-id="));
  g_assert_nonnull(strstr(text, "\npsk="));
  g_assert_true((strstr(text, "\nkms-ca=") != NULL) == https);
}

static void test_user_add(void)
{
  ensure_init();
  g_autofree char *alice_cred = g_build_filename(tmp, "alice.cred", NULL);
  g_unlink(alice_cred);
  assert_ok("user add " ALICE " --may-create --out alice.cred");
  g_test_trap_assert_stdout("*added " ALICE " (psk-id *, may create conferences)*");
  g_test_trap_assert_stdout("*credential written to alice.cred*");
  check_credential(alice_cred, ALICE, TRUE);

  /* The default file name, in the current directory; plain http without kms-ca. */
  g_autofree char *bob_cred = g_build_filename(tmp, "bob@example.org.cred", NULL);
  g_unlink(bob_cred);
  admin_in(tmp, TRUE, "user add " BOB);
  g_test_trap_assert_passed();
  g_test_trap_assert_stdout("*credential written to bob@example.org.cred*");
  check_credential(bob_cred, BOB, FALSE);

  /* A focus credential with its resolves-for patterns. */
  g_autofree char *focus_cred = g_build_filename(tmp, "focus.cred", NULL);
  g_unlink(focus_cred);
  assert_ok("user add sip:focus@example.org --out focus.cred"
            " --resolves-for sip:conference-factory@example.org"
            " --resolves-for 'sip:conf-*@example.org'");
  g_autoptr(KmsStore) store = store_open();
  g_autoptr(KmsUser) focus =
      kms_store_user_by_identity(store, "sip:focus@example.org", FALSE, NULL);
  g_assert_nonnull(focus);
  g_assert_cmpuint(g_strv_length(focus->resolves_for), ==, 2);
  g_assert_cmpstr(focus->resolves_for[1], ==, "sip:conf-*@example.org");
  g_assert_false(focus->may_create);

  /* --focus gives the same patterns for the focus's own host and port (profile 1) */
  g_autofree char *f2_cred = g_build_filename(tmp, "focus2.cred", NULL);
  g_unlink(f2_cred);
  assert_ok("user add sip:focus@conf.example.net:5070 --focus --out focus2.cred");
  g_autoptr(KmsUser) f2 =
      kms_store_user_by_identity(store, "sip:focus@conf.example.net:5070", FALSE, NULL);
  g_assert_nonnull(f2);
  g_assert_cmpuint(g_strv_length(f2->resolves_for), ==, 2);
  g_assert_cmpstr(f2->resolves_for[0], ==, "sip:conference-factory@conf.example.net:5070");
  g_assert_cmpstr(f2->resolves_for[1], ==, "sip:conf-*@conf.example.net:5070");
}

static void test_user_add_mistakes(void)
{
  ensure_init();
  g_autofree char *alice_cred = g_build_filename(tmp, "alice.cred", NULL);
  if (!g_file_test(alice_cred, G_FILE_TEST_EXISTS))
    assert_ok("user add " ALICE " --out alice.cred");

  /* Duplicate (in another form), to a file that does not exist yet: refused, no file. */
  assert_fails("user add SIP:alice@EXAMPLE.ORG --out alice2.cred", 1,
               "*user add: user " ALICE " already exists*");
  g_autofree char *alice2 = g_build_filename(tmp, "alice2.cred", NULL);
  g_assert_false(g_file_test(alice2, G_FILE_TEST_EXISTS));

  /* An existing file is not overwritten, and the user is not added. */
  assert_fails("user add sip:carol@example.org --out alice.cred", 1,
               "*alice.cred exists (use --force*");
  assert_fails("user show sip:carol@example.org", 1, "*no user sip:carol@example.org*");
  assert_ok("user add sip:carol@example.org --out alice.cred --force");
  check_credential(alice_cred, "sip:carol@example.org", TRUE);

  /* A file that cannot be written: no user left behind. */
  assert_fails("user add sip:dave@example.org --out no-such-dir/dave.cred", 1,
               "*cannot write the credential file*user not added*");
  assert_fails("user show sip:dave@example.org", 1, "*no user sip:dave@example.org*");

  assert_fails("user add alice --out x.cred", 1, "*'alice' is not a URI*");
  assert_fails("user add 'sip:%zz@example.org' --out x.cred", 1, "*is not a URI*");
  assert_fails("user add sip:erin@example.org --resolves-for nonsense --out x.cred", 1,
               "*bad pattern 'nonsense'*");
  assert_fails("user add", 2, "*user add: missing URI*");
  assert_fails("user add " BOB " " ALICE, 2, "*unexpected argument*");
  assert_fails("user add " BOB " --frobnicate", 2, "*Unknown option --frobnicate*");
  g_autofree char *x = g_build_filename(tmp, "x.cred", NULL);
  g_assert_false(g_file_test(x, G_FILE_TEST_EXISTS));
}

/* ------------------------------------------------------------------ list / show / set */

/* The column at which `word` starts on each line of text that contains it, -1 if absent. */
static int column_of(const char *line, const char *word)
{
  const char *p = strstr(line, word);
  return p != NULL ? (int)(p - line) : -1;
}

static void test_user_list_show(void)
{
  ensure_init();
  g_autoptr(KmsStore) store = store_open();
  g_autoptr(GError) error = NULL;
  const char *ids[] = { "sip:list-a@example.org", "sip:list-bbbbbbbbbbbbbbbbbb@example.org" };
  for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
    g_autoptr(KmsUser) u = kms_store_user_by_identity(store, ids[i], FALSE, NULL);
    if (u == NULL) {
      g_autoptr(KmsUser) added = kms_store_user_add(store, ids[i], i == 0, NULL, &error);
      g_assert_no_error(error);
    }
  }
  g_autoptr(KmsUser) a = kms_store_user_by_identity(store, ids[0], FALSE, &error);
  g_autofree char *hex = NULL;
  {
    gsize len;
    const guint8 *d = g_bytes_get_data(a->psk_id, &len);
    GString *s = g_string_new(NULL);
    for (gsize i = 0; i < len; i++)
      g_string_append_printf(s, "%02x", d[i]);
    hex = g_string_free(s, FALSE);
  }

  /* The table: every column starts at the same offset on every line. */
  assert_ok("user list");
  g_test_trap_assert_stdout("IDENTITY*PSK-ID*CREATE*RESOLVES-FOR*ADDED*STATE*");
  g_test_trap_assert_stdout("*sip:list-a@example.org*yes*enabled*");
  g_test_trap_assert_stdout_unmatched("*psk=*");
  /* g_test_trap has no getter for the output: capture it through a file to look at it. */
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  {
    g_autofree char *path = g_build_filename(tmp, "list.out", NULL);
    g_setenv("ADMIN_STDOUT", path, TRUE);
    admin("user list");
    g_unsetenv("ADMIN_STDOUT");
    g_test_trap_assert_passed();
    g_assert_true(g_file_get_contents(path, &out, NULL, NULL));
    lines = g_strsplit(out, "\n", -1);
  }
  int psk_col = column_of(lines[0], "PSK-ID");
  int state_col = column_of(lines[0], "STATE");
  g_assert_cmpint(psk_col, >, 0);
  guint rows = 0;
  for (guint i = 1; lines[i] != NULL && lines[i][0] != '\0'; i++, rows++) {
    g_assert_cmpint(lines[i][psk_col - 1], ==, ' ');
    g_assert_true(g_ascii_isxdigit(lines[i][psk_col]));
    g_assert_true(strcmp(lines[i] + state_col, "enabled") == 0 ||
                  strcmp(lines[i] + state_col, "disabled") == 0);
  }
  g_assert_cmpuint(rows, ==, kms_store_user_count(store, NULL));

  /* JSON. */
  {
    g_autofree char *path = g_build_filename(tmp, "list.json", NULL);
    g_setenv("ADMIN_STDOUT", path, TRUE);
    admin("user list --json");
    g_unsetenv("ADMIN_STDOUT");
    g_test_trap_assert_passed();
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_file(parser, path, &error));
    JsonArray *arr = json_node_get_array(json_parser_get_root(parser));
    g_assert_cmpuint(json_array_get_length(arr), ==, kms_store_user_count(store, NULL));
    gboolean found = FALSE;
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      JsonObject *o = json_array_get_object_element(arr, i);
      g_assert_false(json_object_has_member(o, "psk"));
      if (strcmp(json_object_get_string_member(o, "identity"), ids[0]) == 0) {
        found = TRUE;
        g_assert_cmpstr(json_object_get_string_member(o, "psk-id"), ==, hex);
        g_assert_true(json_object_get_boolean_member(o, "may-create"));
        g_assert_true(json_object_get_null_member(o, "disabled"));
      }
    }
    g_assert_true(found);
  }

  /* show, in another form of the URI. */
  assert_ok("user show SIP:list-a@EXAMPLE.ORG");
  g_test_trap_assert_stdout("*identity*sip:list-a@example.org*psk-id*may-create*yes*enabled*");
  assert_ok("user show sip:list-a@example.org --json");
  g_test_trap_assert_stdout("*\"psk-id\" : \"*");
  assert_fails("user show sip:nobody@example.org", 1,
               "*mikeykmsd: user show: no user sip:nobody@example.org*");
  assert_fails("user show", 2, "*missing URI*");
  assert_fails("user show 'not a uri'", 1, "*not a URI*");

  /* set */
  assert_ok("user set sip:list-a@example.org --no-may-create --resolves-for 'sip:conf-*@x.org'");
  assert_ok("user show sip:list-a@example.org");
  g_test_trap_assert_stdout("*may-create*no*resolves-for*sip:conf-*@x.org*");
  assert_ok("user set sip:list-a@example.org --no-resolves-for");
  g_autoptr(KmsUser) a2 = kms_store_user_by_identity(store, ids[0], FALSE, &error);
  g_assert_false(a2->may_create);
  g_assert_cmpuint(g_strv_length(a2->resolves_for), ==, 0);
  assert_fails("user set sip:list-a@example.org", 2, "*nothing to change*");
  assert_fails("user set sip:list-a@example.org --may-create --no-may-create", 2, "*contradict*");
  assert_fails("user set sip:nobody@example.org --may-create", 1, "*no user*");
  assert_fails("user set sip:list-a@example.org --resolves-for bad", 1, "*bad pattern*");

  /* disable / enable / remove */
  assert_ok("user disable sip:list-a@example.org");
  g_test_trap_assert_stdout("*disabled sip:list-a@example.org*");
  assert_ok("user show sip:list-a@example.org");
  g_test_trap_assert_stdout("*disabled since*");
  assert_ok("user enable sip:list-a@example.org");
  assert_ok("user show sip:list-a@example.org");
  g_test_trap_assert_stdout("*state*enabled*");
  assert_ok("user remove sip:list-a@example.org");
  assert_fails("user show sip:list-a@example.org", 1, "*no user*");
  assert_fails("user remove sip:list-a@example.org", 1, "*no user sip:list-a@example.org*");
  assert_fails("user disable sip:nobody@example.org", 1, "*no user*");
  assert_fails("user frob", 2, "*user: unknown command 'frob'*");
  assert_fails("user", 2, "*usage*");
}

/* ------------------------------------------------------------------ tpk, tickets, misc */

static void test_tpk(void)
{
  ensure_init();
  g_autoptr(KmsStore) store = store_open();
  g_autoptr(GBytes) g1 = NULL;
  g_autoptr(MikeySecret) k1 = NULL;
  g_assert_true(kms_store_tpk_current(store, &g1, &k1, NULL));
  assert_ok("tpk rotate");
  g_test_trap_assert_stdout("*new ticket key generation *");
  g_autoptr(GBytes) g2 = NULL;
  g_assert_true(kms_store_tpk_current(store, &g2, NULL, NULL));
  g_assert_false(g_bytes_equal(g1, g2));
  g_assert_true(mikey_secret_equal(kms_store_tpk_lookup(store, g1), k1));
  assert_ok("tpk list");
  g_test_trap_assert_stdout("GENERATION*CREATED*current*");
  assert_ok("tpk list --json");
  g_test_trap_assert_stdout("*\"current\" : true*\"current\" : false*");
  assert_fails("tpk spin", 2, "*tpk: unknown command 'spin'*");
  assert_fails("tpk rotate now", 2, "*unexpected argument 'now'*");
}

static void test_tickets(void)
{
  ensure_init();
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = store_open();
  const char *const r1[] = { "sip:conference-factory@example.org", BOB, NULL };
  g_assert_true(kms_store_ticket_issued(store, "aaaa0001", ALICE, r1, 1000, 4600, &error));
  g_assert_true(kms_store_ticket_issued(store, "aaaa0002", "sip:carol@example.org", NULL, 1000,
                                        4600, &error));
  kms_store_ticket_resolved(store, "aaaa0001", "sip:focus@example.org");
  g_assert_true(kms_store_flush(store, &error));
  g_assert_no_error(error);

  assert_ok("tickets");
  g_test_trap_assert_stdout("FINGERPRINT*ISSUED*REQUESTER*RECIPIENTS*VALID-TO*RESOLVES*LAST-"
                            "RESOLVER*aaaa0002*aaaa0001*" ALICE "*sip:conference-factory@example."
                            "org," BOB "*1*sip:focus@example.org*");
  assert_ok("tickets --user SIP:bob@EXAMPLE.ORG");
  g_test_trap_assert_stdout("*aaaa0001*");
  g_test_trap_assert_stdout_unmatched("*aaaa0002*");
  assert_ok("tickets --limit 1");
  g_test_trap_assert_stdout("*aaaa0002*");
  g_test_trap_assert_stdout_unmatched("*aaaa0001*");
  assert_ok("tickets --user sip:nobody@example.org");
  g_test_trap_assert_stdout("no tickets for sip:nobody@example.org*");
  assert_ok("tickets --user " BOB " --json");
  g_test_trap_assert_stdout("*\"fingerprint\" : \"aaaa0001\"*\"resolve-count\" : 1*");
  assert_fails("tickets --limit -1", 2, "*--limit must be 0 or more*");
  assert_fails("tickets --limit x", 2, "*Cannot parse integer value*");
  assert_fails("tickets --user bob", 1, "*'bob' is not a URI*");
}

static void test_misc(void)
{
  assert_fails("frobnicate", 2, "*unknown command 'frobnicate'*");
  g_assert_true(kms_admin_is_command("init"));
  g_assert_true(kms_admin_is_command("user"));
  g_assert_true(kms_admin_is_command("tpk"));
  g_assert_true(kms_admin_is_command("tickets"));
  g_assert_false(kms_admin_is_command("serve"));
  g_assert_false(kms_admin_is_command(NULL));
}

/* ------------------------------------------------------------------ kmsconf */

static void test_config(void)
{
  g_autoptr(GError) error = NULL;
  KmsConfig cfg;
  kms_config_init_defaults(&cfg);
  g_assert_cmpstr(cfg.listen, ==, "127.0.0.1");
  g_assert_cmpint(cfg.port, ==, 8443);
  g_assert_cmpstr(cfg.state_dir, ==, "/var/lib/mikeyconf/kms");
  g_assert_cmpstr(cfg.kms_uri, ==, "kms.example.org");
  g_assert_cmpint(cfg.skew, ==, 120);
  g_assert_cmpint(cfg.ticket_lifetime, ==, 3600);
  g_assert_cmpint(cfg.max_recipients, ==, 256);
  g_assert_cmpint(cfg.rate_limit, ==, 2000);
  g_assert_cmpstr(cfg.factory_uris[0], ==, "sip:conference-factory@*");
  g_assert_cmpstr(cfg.conference_uris[0], ==, "sip:conf-*@*");
  g_assert_cmpstr(cfg.log_level, ==, "info");
  g_assert_false(cfg.insecure_http);
  g_assert_true(kms_config_finish(&cfg, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(cfg.tls_cert, ==, "/var/lib/mikeyconf/kms/server.pem");
  g_assert_cmpstr(cfg.tls_key, ==, "/var/lib/mikeyconf/kms/server.key");
  g_assert_cmpstr(cfg.public_url, ==, "https://127.0.0.1:8443/mikey");

  /* The option table: every KmsConfig field, bound to cfg. */
  const ConfOption *opts = kms_config_options(&cfg);
  const char *expected[] = { "listen",         "port",
                             "tls-cert",       "tls-key",
                             "insecure-http",  "state-dir",
                             "kms-uri",        "public-url",
                             "skew",           "ticket-lifetime",
                             "max-recipients", "rate-limit",
                             "factory-uris",   "conference-uris",
                             "log-level",      NULL };
  guint n = 0;
  for (; opts[n].name != NULL; n++) {
    g_assert_true(g_strv_contains(expected, opts[n].name));
    g_assert_nonnull(opts[n].target);
    g_assert_nonnull(opts[n].description);
  }
  g_assert_cmpuint(n, ==, g_strv_length((char **)expected));
  g_assert_true(opts[0].target == (gpointer)&cfg.listen);
  kms_config_clear(&cfg);

  /* insecure-http: loopback only (profile §3). */
  struct {
    const char *listen;
    gboolean ok;
    const char *url;
  } cases[] = {
    { "127.0.0.1", TRUE, "http://127.0.0.1:8080/mikey" },
    { "127.1.2.3", TRUE, "http://127.1.2.3:8080/mikey" },
    { "::1", TRUE, "http://[::1]:8080/mikey" },
    { "localhost", TRUE, "http://localhost:8080/mikey" },
    { "0.0.0.0", FALSE, NULL },
    { "::", FALSE, NULL },
    { "192.0.2.1", FALSE, NULL },
    { "kms.example.org", FALSE, NULL },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    kms_config_init_defaults(&cfg);
    g_free(cfg.listen);
    cfg.listen = g_strdup(cases[i].listen);
    cfg.insecure_http = TRUE;
    cfg.port = 8080;
    gboolean ok = kms_config_finish(&cfg, &error);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (ok) {
      g_assert_cmpstr(cfg.public_url, ==, cases[i].url);
    } else {
      g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull(strstr(error->message, "loopback"));
      g_clear_error(&error);
    }
    kms_config_clear(&cfg);
  }

  /* Explicit values are kept; bad ones named. */
  kms_config_init_defaults(&cfg);
  cfg.public_url = g_strdup("https://kms.example.org/mikey");
  cfg.tls_cert = g_strdup("/etc/ssl/kms.pem");
  g_assert_true(kms_config_finish(&cfg, &error));
  g_assert_cmpstr(cfg.public_url, ==, "https://kms.example.org/mikey");
  g_assert_cmpstr(cfg.tls_cert, ==, "/etc/ssl/kms.pem");
  g_free(cfg.public_url);
  cfg.public_url = g_strdup("ftp://kms.example.org/");
  g_assert_false(kms_config_finish(&cfg, &error));
  g_assert_nonnull(strstr(error->message, "public-url"));
  g_clear_error(&error);
  g_free(cfg.public_url);
  cfg.public_url = NULL;
  g_free(cfg.log_level);
  cfg.log_level = g_strdup("loud");
  g_assert_false(kms_config_finish(&cfg, &error));
  g_assert_nonnull(strstr(error->message, "log-level"));
  g_clear_error(&error);
  g_free(cfg.log_level);
  cfg.log_level = g_strdup("debug");
  g_strfreev(cfg.factory_uris);
  cfg.factory_uris = g_strsplit("conference-factory", ";", -1);
  g_assert_false(kms_config_finish(&cfg, &error));
  g_assert_nonnull(strstr(error->message, "factory-uris"));
  g_clear_error(&error);
  kms_config_clear(&cfg);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (g_test_subprocess()) {
    /* The child's stdout may be redirected to a file for tests that read it back. */
    const char *out = g_getenv("ADMIN_STDOUT");
    if (out != NULL)
      g_assert_nonnull(freopen(out, "w", stdout));
  } else {
    g_autoptr(GError) error = NULL;
    tmp = g_dir_make_tmp("test-kms-admin-XXXXXX", &error);
    g_assert_no_error(error);
    state = g_build_filename(tmp, "state", NULL);
  }
  g_test_add_func("/kms-admin/child", child_run);
  g_test_add_func("/kms-admin/config", test_config);
  g_test_add_func("/kms-admin/uninitialised", test_uninitialised);
  g_test_add_func("/kms-admin/init", test_init);
  g_test_add_func("/kms-admin/unwritable", test_unwritable);
  g_test_add_func("/kms-admin/user-add", test_user_add);
  g_test_add_func("/kms-admin/user-add-mistakes", test_user_add_mistakes);
  g_test_add_func("/kms-admin/user-list-show-set", test_user_list_show);
  g_test_add_func("/kms-admin/tpk", test_tpk);
  g_test_add_func("/kms-admin/tickets", test_tickets);
  g_test_add_func("/kms-admin/misc", test_misc);
  int status = g_test_run();
  if (tmp != NULL) {
    rm_rf(tmp);
    g_free(state);
    g_free(tmp);
  }
  return status;
}
