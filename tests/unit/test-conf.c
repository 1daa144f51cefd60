/* The option table (conf.h): every type from the command line and from the key file,
 * precedence defaults < file < command line, errors with file and line, reload for SIGHUP,
 * --version and --help. */
#include "common/conf.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *name;
  gint port;
  gint timeout;
  gboolean insecure;
  gboolean verbose;
  char **patterns;
  char *state_dir;
  char *dir; /* temp dir for files */
  ConfOption options[8];
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  memset(f, 0, sizeof *f);
  f->name = g_strdup("kms.example.org");
  f->port = 8443;
  f->timeout = 3;
  f->insecure = FALSE;
  f->verbose = TRUE;
  f->patterns = g_strsplit("sip:conf-*@*", ";", -1);
  f->state_dir = g_strdup("/var/lib/x");
  const ConfOption options[] = {
    { "name", 'n', CONF_STRING, &f->name, "The name", "NAME", 0, 0 },
    { "port", 'p', CONF_INT, &f->port, "The port", "PORT", 1, 65535 },
    { "timeout", 0, CONF_INT, &f->timeout, "Timeout in seconds", "S", 0, 0 },
    { "insecure", 0, CONF_BOOL, &f->insecure, "Plain HTTP", NULL, 0, 0 },
    { "verbose", 'v', CONF_BOOL, &f->verbose, "Say more", NULL, 0, 0 },
    { "pattern", 0, CONF_STRV, &f->patterns, "A pattern (repeatable)", "GLOB", 0, 0 },
    { "state-dir", 0, CONF_FILENAME, &f->state_dir, "State directory", "DIR", 0, 0 },
    { NULL },
  };
  memcpy(f->options, options, sizeof options);
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("test-conf-XXXXXX", &error);
  g_assert_no_error(error);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  GDir *d = g_dir_open(f->dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
    g_autofree char *p = g_build_filename(f->dir, name, NULL);
    g_unlink(p);
  }
  if (d != NULL)
    g_dir_close(d);
  g_rmdir(f->dir);
  g_free(f->dir);
  g_free(f->name);
  g_strfreev(f->patterns);
  g_free(f->state_dir);
}

static char *write_conf(Fixture *f, const char *name, const char *text)
{
  char *path = g_build_filename(f->dir, name, NULL);
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
  return path;
}

/* Runs conf_parse on a NULL-terminated argument list (argv[0] is added). */
static gboolean parse(Fixture *f, const char *default_path, char **config_out, GError **error, ...)
{
  GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(args, g_strdup("prog"));
  va_list ap;
  va_start(ap, error);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL)
    g_ptr_array_add(args, g_strdup(a));
  va_end(ap);
  /* conf_parse may remove entries: keep our own copy to free them. */
  int argc = (int)args->len;
  char **argv = g_new0(char *, args->len + 1);
  memcpy(argv, args->pdata, args->len * sizeof(char *));
  gboolean ok = conf_parse(f->options, "prog", "Test program.", default_path, "prog 1.2.3", &argc,
                           &argv, config_out, error);
  g_free(argv);
  g_ptr_array_unref(args);
  return ok;
}

static void test_defaults(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = g_build_filename(f->dir, "absent.conf", NULL);
  static char sentinel[] = "garbage";
  char *used = sentinel; /* must be overwritten */
  g_assert_true(parse(f, missing, &used, &error, NULL));
  g_assert_no_error(error);
  g_assert_null(used); /* a default path that does not exist is no error */
  g_assert_cmpstr(f->name, ==, "kms.example.org");
  g_assert_cmpint(f->port, ==, 8443);
  g_assert_true(f->verbose);
  g_assert_cmpuint(g_strv_length(f->patterns), ==, 1);
  g_assert_cmpstr(f->patterns[0], ==, "sip:conf-*@*");
}

static void test_file_and_cli(Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_conf(f, "prog.conf",
                                     "# comment\n"
                                     "[prog]\n"
                                     "name=from-file\n"
                                     "port = 9000\n"
                                     "timeout=-5\n"
                                     "insecure=true\n"
                                     "verbose=false\n"
                                     "pattern=sip:a@*;sip:b@*;\n"
                                     "state-dir=/srv/state\n");
  g_autoptr(GError) error = NULL;
  g_autofree char *used = NULL;

  /* The file over the defaults (found as the default path). */
  g_assert_true(parse(f, path, &used, &error, NULL));
  g_assert_no_error(error);
  g_assert_cmpstr(used, ==, path);
  g_assert_cmpstr(f->name, ==, "from-file");
  g_assert_cmpint(f->port, ==, 9000);
  g_assert_cmpint(f->timeout, ==, -5);
  g_assert_true(f->insecure);
  g_assert_false(f->verbose);
  g_assert_cmpuint(g_strv_length(f->patterns), ==, 2);
  g_assert_cmpstr(f->patterns[0], ==, "sip:a@*");
  g_assert_cmpstr(f->patterns[1], ==, "sip:b@*");
  g_assert_cmpstr(f->state_dir, ==, "/srv/state");
}

/* A key given twice: the last line wins, for every type (the fuzzer found the string value of
 * the first line leaked). */
static void test_duplicate_keys(Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_conf(f, "dup.conf",
                                     "[prog]\n"
                                     "name=first\n"
                                     "port=1\n"
                                     "pattern=sip:a@*\n"
                                     "name=second\n"
                                     "port=2\n"
                                     "pattern=sip:b@*;sip:c@*\n"
                                     "state-dir=/one\n"
                                     "state-dir=/two\n");
  g_autoptr(GError) error = NULL;
  g_assert_true(parse(f, NULL, NULL, &error, "--config", path, NULL));
  g_assert_no_error(error);
  g_assert_cmpstr(f->name, ==, "second");
  g_assert_cmpint(f->port, ==, 2);
  g_assert_cmpuint(g_strv_length(f->patterns), ==, 2);
  g_assert_cmpstr(f->patterns[0], ==, "sip:b@*");
  g_assert_cmpstr(f->state_dir, ==, "/two");
}

static void test_cli_over_file(Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_conf(f, "prog.conf",
                                     "[prog]\n"
                                     "name=from-file\n"
                                     "port=9000\n"
                                     "insecure=true\n"
                                     "pattern=sip:a@*;sip:b@*\n");
  g_autoptr(GError) error = NULL;
  g_autofree char *used = NULL;
  g_assert_true(parse(f, NULL, &used, &error, "--config", path, "-n", "from-cli", "--port=7000",
                      "--insecure=false", "-v", "--pattern", "sip:x@*", "--pattern=sip:y@*",
                      "--state-dir", "/cli/dir", NULL));
  g_assert_no_error(error);
  g_assert_cmpstr(used, ==, path);
  g_assert_cmpstr(f->name, ==, "from-cli");
  g_assert_cmpint(f->port, ==, 7000);
  g_assert_false(f->insecure);
  g_assert_true(f->verbose);
  g_assert_cmpuint(g_strv_length(f->patterns), ==, 2); /* replaces the file's list */
  g_assert_cmpstr(f->patterns[0], ==, "sip:x@*");
  g_assert_cmpstr(f->patterns[1], ==, "sip:y@*");
  g_assert_cmpstr(f->state_dir, ==, "/cli/dir");
  g_assert_cmpint(f->timeout, ==, 3); /* neither: default */
}

static void test_positional_kept(Fixture *f, gconstpointer data)
{
  const char *argv_init[] = { "prog", "user", "--port", "1234", "add", "sip:a@b", NULL };
  int argc = 6;
  char **argv = g_new0(char *, 7);
  memcpy(argv, argv_init, sizeof argv_init);
  g_autoptr(GError) error = NULL;
  g_assert_true(conf_parse(f->options, "prog", NULL, NULL, "v", &argc, &argv, NULL, &error));
  g_assert_no_error(error);
  g_assert_cmpint(argc, ==, 4);
  g_assert_cmpstr(argv[1], ==, "user");
  g_assert_cmpstr(argv[2], ==, "add");
  g_assert_cmpstr(argv[3], ==, "sip:a@b");
  g_assert_cmpint(f->port, ==, 1234);
  g_free(argv);

  /* Regression: a boolean flag must not swallow the positional word after it. */
  const char *argv2_init[] = { "prog", "--insecure", "sip:conf-1@b", "--no-verbose", NULL };
  argc = 4;
  argv = g_new0(char *, 5);
  memcpy(argv, argv2_init, sizeof argv2_init);
  f->verbose = TRUE;
  g_assert_true(conf_parse(f->options, "prog", NULL, NULL, "v", &argc, &argv, NULL, &error));
  g_assert_no_error(error);
  g_assert_cmpint(argc, ==, 2);
  g_assert_cmpstr(argv[1], ==, "sip:conf-1@b");
  g_assert_true(f->insecure);
  g_assert_false(f->verbose);
  g_free(argv);
}

typedef struct {
  const char *text;
  const char *message; /* after "<path>:" */
} BadConf;

static void test_file_errors(Fixture *f, gconstpointer data)
{
  static const BadConf cases[] = {
    { "[prog]\nname=x\n\n# c\nlisten-prot=8443\n", "5: unknown key 'listen-prot'" },
    { "[prog]\nport=70000\n", "2: port: 70000 is out of range 1..65535" },
    { "[prog]\nport=0\n", "2: port: 0 is out of range 1..65535" },
    { "[prog]\nport=eighty\n", "2: port: 'eighty' is not an integer" },
    { "[prog]\ntimeout=99999999999\n", "2: timeout: 99999999999 is out of range" },
    { "[prog]\ninsecure=maybe\n", "2: insecure: 'maybe' is not true or false" },
    { "[prog]\nname=x\njunk line\n", "3: not a key=value line" },
    { "name=x\n[prog]\n", "1: key before the first [group]" },
    { "[prog]\n[other]\nname=x\n", "2: unknown group [other]" },
    { "[prog\nname=x\n", "1: malformed group line" },
    { "[prog]\nconfig=/etc/x\n", "2: unknown key 'config'" },
    { "[prog]\nport=1\nport=2\nport=x\n", "4: port: 'x' is not an integer" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = write_conf(f, "bad.conf", cases[i].text);
    g_autoptr(GError) error = NULL;
    g_autofree char *expected = g_strdup_printf("%s:%s", path, cases[i].message);
    g_free(f->name);
    f->name = g_strdup("untouched");
    if (parse(f, NULL, NULL, &error, "--config", path, NULL))
      g_error("accepted: %s", cases[i].text);
    if (error == NULL || !g_str_has_prefix(error->message, expected))
      g_error("for:\n%s\nexpected '%s...', got '%s'", cases[i].text, expected,
              error ? error->message : "(no error)");
    g_assert_cmpstr(f->name, ==, "untouched"); /* nothing applied */
  }

  /* --config naming a missing file is an error (a default path would not be). */
  g_autofree char *missing = g_build_filename(f->dir, "missing.conf", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_false(parse(f, NULL, NULL, &error, "--config", missing, NULL));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

static void test_cli_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_false(parse(f, NULL, NULL, &error, "--port", "0", NULL));
  g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  g_assert_nonnull(strstr(error->message, "--port"));
  g_assert_nonnull(strstr(error->message, "out of range"));
  g_clear_error(&error);

  g_assert_false(parse(f, NULL, NULL, &error, "--port=abc", NULL));
  g_assert_nonnull(strstr(error->message, "not an integer"));
  g_clear_error(&error);

  g_assert_false(parse(f, NULL, NULL, &error, "--insecure=perhaps", NULL));
  g_assert_nonnull(strstr(error->message, "--insecure"));
  g_clear_error(&error);

  g_assert_false(parse(f, NULL, NULL, &error, "--no-such-option", NULL));
  g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION);
  g_clear_error(&error);

  g_assert_cmpint(f->port, ==, 8443); /* nothing applied by a failed parse */
}

static void test_reload(Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_conf(f, "prog.conf",
                                     "[prog]\n"
                                     "name=file-1\n"
                                     "port=9000\n"
                                     "timeout=10\n"
                                     "pattern=sip:a@*\n");
  g_autoptr(GError) error = NULL;
  g_assert_true(parse(f, NULL, NULL, &error, "--config", path, "--port", "7000", NULL));
  g_assert_no_error(error);
  g_assert_cmpstr(f->name, ==, "file-1");
  g_assert_cmpint(f->port, ==, 7000);
  g_assert_cmpint(f->timeout, ==, 10);

  /* The file changes: file values follow, the command line's port stays, a key removed from
   * the file goes back to its default. */
  g_assert_true(g_file_set_contents(path,
                                    "[prog]\n"
                                    "name=file-2\n"
                                    "port=9001\n"
                                    "pattern=sip:b@*;sip:c@*\n",
                                    -1, NULL));
  g_assert_true(conf_reload(f->options, "prog", path, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(f->name, ==, "file-2");
  g_assert_cmpint(f->port, ==, 7000);
  g_assert_cmpint(f->timeout, ==, 3);
  g_assert_cmpuint(g_strv_length(f->patterns), ==, 2);
  g_assert_cmpstr(f->patterns[1], ==, "sip:c@*");

  /* A bad file changes nothing and says where. */
  g_assert_true(g_file_set_contents(path, "[prog]\nname=file-3\ntimeout=x\n", -1, NULL));
  g_assert_false(conf_reload(f->options, "prog", path, &error));
  g_assert_nonnull(error);
  g_autofree char *where = g_strdup_printf("%s:3:", path);
  g_assert_true(g_str_has_prefix(error->message, where));
  g_assert_cmpstr(f->name, ==, "file-2");
}

static void test_option_names(Fixture *f, gconstpointer data)
{
  g_auto(GStrv) names = conf_option_names(f->options);
  g_assert_cmpuint(g_strv_length(names), ==, 7);
  g_assert_cmpstr(names[0], ==, "name");
  g_assert_cmpstr(names[6], ==, "state-dir");
}

static void test_version(Fixture *f, gconstpointer data)
{
  if (g_test_subprocess()) {
    parse(f, NULL, NULL, NULL, "--version", NULL);
    g_assert_not_reached(); /* --version exits */
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stdout("prog 1.2.3\n");
}

static void test_help(Fixture *f, gconstpointer data)
{
  if (g_test_subprocess()) {
    parse(f, NULL, NULL, NULL, "--help", NULL);
    g_assert_not_reached();
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stdout("*Test program.*");
  g_test_trap_assert_stdout("*--port=PORT*The port*");
  g_test_trap_assert_stdout("*--pattern=GLOB*");
  g_test_trap_assert_stdout("*--config=FILE*");
  g_test_trap_assert_stdout("*--version*");
  g_test_trap_assert_stdout("*-n, --name=NAME*");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/conf/defaults", test_defaults);
  ADD("/conf/file-over-defaults", test_file_and_cli);
  ADD("/conf/cli-over-file", test_cli_over_file);
  ADD("/conf/positional-kept", test_positional_kept);
  ADD("/conf/duplicate-keys", test_duplicate_keys);
  ADD("/conf/file-errors", test_file_errors);
  ADD("/conf/cli-errors", test_cli_errors);
  ADD("/conf/reload", test_reload);
  ADD("/conf/option-names", test_option_names);
  ADD("/conf/version", test_version);
  ADD("/conf/help", test_help);
  return g_test_run();
}
