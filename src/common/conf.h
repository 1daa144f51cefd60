/* conf.h: one option table for the command line and the key file (design.md): `--kms-timeout=3` and
 * `kms-timeout=3` in the program's group of its .conf file are the same option. Precedence:
 * built-in defaults (the targets' initial values) < config file < command line. */
#pragma once

#include <glib.h>

typedef enum {
  CONF_STRING,   /* char **, g_free'd when replaced */
  CONF_INT,      /* gint * */
  CONF_BOOL,     /* gboolean * ; on the command line a flag, in the file true/false */
  CONF_STRV,     /* char *** ; repeatable on the command line, ';'-list in the file */
  CONF_FILENAME, /* char ** */
} ConfType;

typedef struct {
  const char *name; /* long option and key name */
  char short_name;  /* 0 for none */
  ConfType type;
  gpointer target;
  const char *description;
  const char *arg_description;
  gint min, max; /* CONF_INT range, inclusive (both 0: unchecked) */
} ConfOption;

/* Parses argv (removing what it consumed) and the config file: --config FILE if given, else
 * default_path when that file exists (NULL: none). Errors name the file and line for bad
 * values and unknown keys ("mikeykmsd.conf:12: unknown key 'listen-prot'"), the option for bad
 * command-line values. Adds --config and --version (prints version_text, exits 0) and --help.
 * config_path_out receives the file used (NULL if none; g_free). */
gboolean conf_parse(const ConfOption *options, const char *group, const char *summary,
                    const char *default_path, const char *version_text, int *argc, char ***argv,
                    char **config_path_out, GError **error);

/* Re-reads the file for SIGHUP: only the file (command-line values are kept where given).
 * On error nothing is changed. */
gboolean conf_reload(const ConfOption *options, const char *group, const char *path,
                     GError **error);

/* For a program's finish step: FALSE with "NAME is empty" when value is NULL or "". */
gboolean conf_require(const char *name, const char *value, GError **error);

/* The option names of a table, for the test that compares --help with the man page. */
GStrv conf_option_names(const ConfOption *options);
