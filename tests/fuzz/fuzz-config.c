/* fuzz-config: the configuration files an operator (or whoever can write them) hands the
 * programs, through the same code the programs run: conf_parse() with --config FILE on the
 * option table of mikeykmsd (kmsconf.c) and of mikeyconfd (focusconf.c), then the table's
 * finish step (derived values, cross-checks: listen addresses, port ranges, URIs...), then
 * conf_reload() of the same file, as SIGHUP does. mikeyua reads its file through
 * ua_options_parse() (uaconf.c) with the `join` subcommand.
 *
 * The first byte of the input chooses the program (byte % 3); the rest is the file. Each
 * program's configuration is built from its defaults for every input and cleared after, so no
 * state is kept between inputs (conf.c's reload registry is keyed by target address and
 * replaced on every parse).
 *
 * Invariants (abort() otherwise, a finding): a parse that fails says why (a GError with a
 * message); a file that parsed once reloads the same way. */
#include "fuzz.h"

#include "common/conf.h"
#include "common/log.h"
#include "focus/focusconf.h"
#include "kms/kmsconf.h"
#include "ua/uaconf.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-config: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static char *conf_path;

static void remove_conf(void)
{
  g_unlink(conf_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  g_autoptr(GError) error = NULL;
  int fd = g_file_open_tmp("fuzz-config-XXXXXX.conf", &conf_path, &error);
  CHECK(fd >= 0);
  close(fd);
  atexit(remove_conf);
  /* the programs' log lines (a bad level name, say) stay out of the fuzzer's output */
  CHECK(log_init("fuzz-config", "error", NULL));
  return 0;
}

/* Runs conf_parse + finish on `table`; on success reloads the same file. */
static void parse_table(const ConfOption *table, const char *group,
                        gboolean (*finish)(gpointer cfg, GError **error), gpointer cfg)
{
  char *args[] = { (char *)group, (char *)"--config", conf_path, NULL };
  int argc = 3;
  char **argv = args;
  g_autofree char *used = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok = conf_parse(table, group, "fuzz", NULL, "fuzz", &argc, &argv, &used, &error) &&
                finish(cfg, &error);
  CHECK(ok || (error != NULL && error->message != NULL && *error->message));
  if (!ok)
    return;
  g_autoptr(GError) again = NULL;
  CHECK(conf_reload(table, group, conf_path, &again));
}

static gboolean kms_finish(gpointer cfg, GError **error)
{
  return kms_config_finish(cfg, error);
}

static gboolean focus_finish(gpointer cfg, GError **error)
{
  return focus_config_finish(cfg, error);
}

static void fuzz_kms(void)
{
  KmsConfig cfg;
  kms_config_init_defaults(&cfg);
  parse_table(kms_config_options(&cfg), "mikeykmsd", kms_finish, &cfg);
  kms_config_clear(&cfg);
}

static void fuzz_focus(void)
{
  FocusConfig cfg;
  focus_config_init_defaults(&cfg);
  parse_table(focus_config_options(&cfg), "mikeyconfd", focus_finish, &cfg);
  focus_config_clear(&cfg);
}

static void fuzz_ua(void)
{
  UaOptions opts;
  ua_options_init(&opts);
  char *argv[] = { (char *)"mikeyua",
                   (char *)"join",
                   (char *)"--config",
                   conf_path,
                   (char *)"--credential",
                   (char *)"/nonexistent.cred",
                   (char *)"sip:conf@example.org",
                   NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok = ua_options_parse(&opts, 7, argv, &error);
  CHECK(ok || (error != NULL && error->message != NULL && *error->message));
  ua_options_clear(&opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  g_autoptr(GError) error = NULL;
  CHECK(g_file_set_contents(conf_path, (const char *)data + 1, (gssize)size - 1, &error));
  switch (data[0] % 3) {
  case 0:
    fuzz_kms();
    break;
  case 1:
    fuzz_focus();
    break;
  default:
    fuzz_ua();
    break;
  }
  return 0;
}
