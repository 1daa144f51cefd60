/* One option table for the command line and the key file (conf.h).
 *
 * Values are staged before anything is assigned: the command line into one array, the file into
 * another, and only when both parsed cleanly are they written to the targets (file first, then
 * the command line on top). A bad file therefore changes nothing, which conf_reload relies on.
 *
 * conf_reload has no handle, so what it must remember between calls lives in a registry keyed
 * by target address: whether the command line set the option (the file may not override it on
 * SIGHUP) and the built-in default (restored when a key disappears from the file). */
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

typedef struct {
  gboolean set;
  gint i;
  gboolean b;
  char *s;
  char **v;
} ConfValue;

static void value_clear(ConfValue *v)
{
  g_clear_pointer(&v->s, g_free);
  g_clear_pointer(&v->v, g_strfreev);
  memset(v, 0, sizeof *v);
}

static gsize count_options(const ConfOption *options)
{
  gsize n = 0;
  while (options != NULL && options[n].name != NULL)
    n++;
  return n;
}

static ConfValue *values_new(gsize n)
{
  return g_new0(ConfValue, n + 1);
}

static void values_free(ConfValue *values, gsize n)
{
  if (values == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    value_clear(&values[i]);
  g_free(values);
}

/* Writes a staged value to its target. */
static void value_apply(const ConfOption *opt, const ConfValue *v)
{
  switch (opt->type) {
  case CONF_STRING:
  case CONF_FILENAME: {
    char **t = opt->target;
    g_free(*t);
    *t = g_strdup(v->s);
    break;
  }
  case CONF_INT:
    *(gint *)opt->target = v->i;
    break;
  case CONF_BOOL:
    *(gboolean *)opt->target = v->b;
    break;
  case CONF_STRV: {
    char ***t = opt->target;
    g_strfreev(*t);
    *t = g_strdupv(v->v);
    break;
  }
  }
}

/* Reads a target's current value (the built-in default, before anything is applied). */
static void value_snapshot(const ConfOption *opt, ConfValue *v)
{
  memset(v, 0, sizeof *v);
  v->set = TRUE;
  switch (opt->type) {
  case CONF_STRING:
  case CONF_FILENAME:
    v->s = g_strdup(*(char **)opt->target);
    break;
  case CONF_INT:
    v->i = *(gint *)opt->target;
    break;
  case CONF_BOOL:
    v->b = *(gboolean *)opt->target;
    break;
  case CONF_STRV:
    v->v = g_strdupv(*(char ***)opt->target);
    break;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Registry: per target, whether the command line set it and its default                    */

typedef struct {
  const ConfOption *opt; /* for value_clear's type; the table outlives the process state */
  gboolean from_cli;
  ConfValue def;
} ConfRecord;

static GHashTable *registry; /* target -> ConfRecord */
G_LOCK_DEFINE_STATIC(registry);

static void record_free(gpointer p)
{
  ConfRecord *r = p;
  value_clear(&r->def);
  g_free(r);
}

static void registry_remember(const ConfOption *opt, gboolean from_cli, const ConfValue *def)
{
  G_LOCK(registry);
  if (registry == NULL)
    registry = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, record_free);
  ConfRecord *r = g_new0(ConfRecord, 1);
  r->opt = opt;
  r->from_cli = from_cli;
  r->def = *def;
  g_hash_table_replace(registry, opt->target, r);
  G_UNLOCK(registry);
}

/* Copies the record of a target into *def / *from_cli; FALSE if conf_parse never saw it. */
static gboolean registry_lookup(const ConfOption *opt, gboolean *from_cli, ConfValue *def)
{
  gboolean found = FALSE;
  G_LOCK(registry);
  ConfRecord *r = registry != NULL ? g_hash_table_lookup(registry, opt->target) : NULL;
  if (r != NULL) {
    found = TRUE;
    *from_cli = r->from_cli;
    *def = r->def;
    def->s = g_strdup(r->def.s);
    def->v = g_strdupv(r->def.v);
  }
  G_UNLOCK(registry);
  return found;
}

/* ---------------------------------------------------------------------------------------- */
/* Value parsing shared by both sources                                                     */

static void int_range(const ConfOption *opt, gint64 *min, gint64 *max)
{
  if (opt->min == 0 && opt->max == 0) {
    *min = G_MININT;
    *max = G_MAXINT;
  } else {
    *min = opt->min;
    *max = opt->max;
  }
}

/* Parses an int; on error sets a message without location ("'x' is not an integer"). */
static gboolean parse_int(const ConfOption *opt, const char *text, gint *out, GError **error)
{
  gint64 min, max, v;
  int_range(opt, &min, &max);
  g_autofree char *t = g_strstrip(g_strdup(text));
  g_autoptr(GError) local = NULL;
  if (!g_ascii_string_to_signed(t, 10, G_MININT64, G_MAXINT64, &v, &local)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s' is not an integer", t);
    return FALSE;
  }
  if (v < min || v > max) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, v,
                min, max);
    return FALSE;
  }
  *out = (gint)v;
  return TRUE;
}

static gboolean parse_bool(const char *text, gboolean *out, GError **error)
{
  g_autofree char *t = g_strstrip(g_strdup(text));
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };
  for (guint i = 0; yes[i]; i++) {
    if (g_ascii_strcasecmp(t, yes[i]) == 0) {
      *out = TRUE;
      return TRUE;
    }
    if (g_ascii_strcasecmp(t, no[i]) == 0) {
      *out = FALSE;
      return TRUE;
    }
  }
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s' is not true or false", t);
  return FALSE;
}

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                             */

typedef struct {
  const ConfOption *options;
  gsize n;
  ConfValue *cli;
  char *config_path;
  gboolean version;
} ParseCtx;

/* The option of a command-line name; "--no-NAME" finds the boolean NAME with *negated set. */
static const ConfOption *find_cli_option(ParseCtx *ctx, const char *option_name, gsize *index,
                                         gboolean *negated)
{
  const char *name = option_name;
  while (*name == '-')
    name++;
  gboolean is_short = option_name[0] == '-' && option_name[1] != '-';
  *negated = FALSE;
  for (int pass = 0; pass < 2; pass++) {
    for (gsize i = 0; i < ctx->n; i++) {
      const ConfOption *o = &ctx->options[i];
      if ((is_short && o->short_name != 0 && name[0] == o->short_name && name[1] == '\0') ||
          (!is_short && strcmp(o->name, name) == 0)) {
        *index = i;
        return pass == 1 && o->type != CONF_BOOL ? NULL : o;
      }
    }
    if (is_short || !g_str_has_prefix(name, "no-"))
      break;
    name += 3;
    *negated = TRUE;
  }
  return NULL;
}

static gboolean cli_callback(const char *option_name, const char *value, gpointer data,
                             GError **error)
{
  ParseCtx *ctx = data;
  gsize i = 0;
  gboolean negated = FALSE;
  const ConfOption *opt = find_cli_option(ctx, option_name, &i, &negated);
  if (opt == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option %s",
                option_name);
    return FALSE;
  }
  ConfValue *v = &ctx->cli[i];
  g_autoptr(GError) local = NULL;
  switch (opt->type) {
  case CONF_STRING:
  case CONF_FILENAME:
    g_free(v->s);
    v->s = g_strdup(value);
    break;
  case CONF_INT:
    if (!parse_int(opt, value, &v->i, &local)) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: %s", opt->name,
                  local->message);
      return FALSE;
    }
    break;
  case CONF_BOOL:
    /* a flag without argument (see bool_rewrite_argv for --NAME=VALUE) */
    v->b = !negated;
    break;
  case CONF_STRV: {
    /* Repeatable: each occurrence adds one element. */
    guint len = v->v != NULL ? g_strv_length(v->v) : 0;
    v->v = g_renew(char *, v->v, len + 2);
    v->v[len] = g_strdup(value);
    v->v[len + 1] = NULL;
    break;
  }
  }
  v->set = TRUE;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------- */
/* Config file                                                                              */

typedef struct {
  char *group; /* NULL before the first group line */
  char *key;
  guint line;
} KeyLine;

static void key_line_free(gpointer p)
{
  KeyLine *k = p;
  g_free(k->group);
  g_free(k->key);
  g_free(k);
}

/* Scans the file text the way GKeyFile reads it, to know the line of every key and group and to
 * report syntax errors with a line number (GKeyFile's own messages have none). Groups are
 * recorded with key NULL. */
static GPtrArray *scan_lines(const char *path, const char *text, gsize len, GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(key_line_free);
  char *group = NULL;
  guint lineno = 0;
  gsize pos = 0;
  while (pos < len) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    gsize line_len = nl ? (gsize)(nl - line) : len - pos;
    pos += line_len + 1;
    lineno++;
    gsize i = 0;
    while (i < line_len && g_ascii_isspace(line[i]))
      i++;
    gsize end = line_len;
    while (end > i && g_ascii_isspace(line[end - 1]))
      end--;
    if (i == end || line[i] == '#')
      continue;
    if (line[i] == '[') {
      if (line[end - 1] != ']' || end - i < 3) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s:%u: malformed group line",
                    path, lineno);
        goto fail;
      }
      g_free(group);
      group = g_strndup(line + i + 1, end - i - 2);
      KeyLine *k = g_new0(KeyLine, 1);
      k->group = g_strdup(group);
      k->line = lineno;
      g_ptr_array_add(out, k);
      continue;
    }
    const char *eq = memchr(line + i, '=', end - i);
    if (eq == NULL) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                  "%s:%u: not a key=value line, a [group] or a # comment", path, lineno);
      goto fail;
    }
    gsize key_end = (gsize)(eq - line);
    while (key_end > i && g_ascii_isspace(line[key_end - 1]))
      key_end--;
    if (key_end == i) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s:%u: empty key", path,
                  lineno);
      goto fail;
    }
    if (group == NULL) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                  "%s:%u: key before the first [group]", path, lineno);
      goto fail;
    }
    KeyLine *k = g_new0(KeyLine, 1);
    k->group = g_strdup(group);
    k->key = g_strndup(line + i, key_end - i);
    k->line = lineno;
    g_ptr_array_add(out, k);
  }
  g_free(group);
  return out;

fail:
  g_free(group);
  g_ptr_array_unref(out);
  return NULL;
}

/* The line of the last occurrence of key in group (GKeyFile keeps the last), or 0. */
static guint find_line(GPtrArray *lines, const char *group, const char *key)
{
  guint line = 0;
  for (guint i = 0; i < lines->len; i++) {
    KeyLine *k = lines->pdata[i];
    if (g_strcmp0(k->group, group) == 0 && g_strcmp0(k->key, key) == 0)
      line = k->line;
  }
  return line;
}

static const ConfOption *find_option(const ConfOption *options, gsize n, const char *name,
                                     gsize *index)
{
  for (gsize i = 0; i < n; i++) {
    if (strcmp(options[i].name, name) == 0) {
      *index = i;
      return &options[i];
    }
  }
  return NULL;
}

/* Reads path into staged values (one per option; set when the file has the key). */
static ConfValue *load_file(const ConfOption *options, gsize n, const char *group, const char *path,
                            GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autofree char *name = g_filename_display_name(path);
  g_autoptr(GError) local = NULL;
  if (!g_file_get_contents(path, &text, &len, &local)) {
    g_set_error(error, local->domain, local->code, "%s", local->message);
    return NULL;
  }
  g_autoptr(GPtrArray) lines = scan_lines(name, text, len, error);
  if (lines == NULL)
    return NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
    g_set_error(error, G_KEY_FILE_ERROR, local->code, "%s: %s", name, local->message);
    return NULL;
  }
  /* Only the program's own group: another one is most likely a misspelt group name. */
  for (guint i = 0; i < lines->len; i++) {
    KeyLine *k = lines->pdata[i];
    if (k->key == NULL && strcmp(k->group, group) != 0) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                  "%s:%u: unknown group [%s] (expected [%s])", name, k->line, k->group, group);
      return NULL;
    }
  }
  ConfValue *values = values_new(n);
  g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
  for (gsize k = 0; keys != NULL && keys[k] != NULL; k++) {
    const char *key = keys[k];
    guint line = find_line(lines, group, key);
    gsize i = 0;
    const ConfOption *opt = find_option(options, n, key, &i);
    if (opt == NULL) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                  "%s:%u: unknown key '%s'", name, line, key);
      goto fail;
    }
    ConfValue *v = &values[i];
    if (v->set)
      continue; /* a key given twice is listed twice; GKeyFile's value is the last line's */
    g_clear_error(&local);
    switch (opt->type) {
    case CONF_STRING:
    case CONF_FILENAME:
      v->s = g_key_file_get_string(kf, group, key, &local);
      break;
    case CONF_INT:
    case CONF_BOOL: {
      g_autofree char *raw = g_key_file_get_string(kf, group, key, &local);
      if (raw == NULL)
        break;
      if (opt->type == CONF_INT)
        parse_int(opt, raw, &v->i, &local);
      else
        parse_bool(raw, &v->b, &local);
      break;
    }
    case CONF_STRV: {
      gsize count = 0;
      v->v = g_key_file_get_string_list(kf, group, key, &count, &local);
      if (v->v == NULL && local != NULL &&
          g_error_matches(local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE)) {
        /* An empty value is an empty list. */
        g_autofree char *raw = g_key_file_get_value(kf, group, key, NULL);
        if (raw != NULL && raw[0] == '\0') {
          g_clear_error(&local);
          v->v = g_new0(char *, 1);
        }
      }
      break;
    }
    }
    if (local != NULL) {
      g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s:%u: %s: %s", name,
                  line, key, local->message);
      goto fail;
    }
    v->set = TRUE;
  }
  return values;

fail:
  values_free(values, n);
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                             */

static void check_table(const ConfOption *options, gsize n)
{
  /* Programming errors in the table (not input): caught by any test that parses it. */
  for (gsize i = 0; i < n; i++) {
    g_return_if_fail(options[i].target != NULL);
    g_return_if_fail(strcmp(options[i].name, "config") != 0);
    g_return_if_fail(strcmp(options[i].name, "version") != 0);
    g_return_if_fail(strcmp(options[i].name, "help") != 0);
  }
}

/* "--NAME=VALUE" for a boolean NAME becomes "--NAME" or "--no-NAME", so that booleans can be
 * plain flags for GOption and still be switched off explicitly. New strings go to owned. */
static gboolean bool_rewrite_argv(const ConfOption *options, gsize n, int *argc, char ***argv,
                                  GPtrArray *owned, GError **error)
{
  for (int a = 1; a < *argc; a++) {
    char *arg = (*argv)[a];
    if (strcmp(arg, "--") == 0)
      break;
    const char *eq = strchr(arg, '=');
    if (!g_str_has_prefix(arg, "--") || eq == NULL)
      continue;
    g_autofree char *name = g_strndup(arg + 2, (gsize)(eq - arg - 2));
    for (gsize i = 0; i < n; i++) {
      if (options[i].type != CONF_BOOL || strcmp(options[i].name, name) != 0)
        continue;
      gboolean b;
      g_autoptr(GError) local = NULL;
      if (!parse_bool(eq + 1, &b, &local)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: %s", name,
                    local->message);
        return FALSE;
      }
      char *flag = g_strdup_printf(b ? "--%s" : "--no-%s", name);
      g_ptr_array_add(owned, flag);
      (*argv)[a] = flag;
    }
  }
  return TRUE;
}

gboolean conf_parse(const ConfOption *options, const char *group, const char *summary,
                    const char *default_path, const char *version_text, int *argc, char ***argv,
                    char **config_path_out, GError **error)
{
  g_return_val_if_fail(options != NULL && group != NULL && argc != NULL && argv != NULL, FALSE);
  if (config_path_out != NULL)
    *config_path_out = NULL;
  gsize n = count_options(options);
  check_table(options, n);

  ParseCtx ctx = { .options = options, .n = n, .cli = values_new(n) };
  g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
  if (!bool_rewrite_argv(options, n, argc, argv, owned, error)) {
    values_free(ctx.cli, n);
    return FALSE;
  }
  GOptionEntry *entries = g_new0(GOptionEntry, 2 * n + 3);
  gsize n_entries = n;
  for (gsize i = 0; i < n; i++) {
    const ConfOption *o = &options[i];
    GOptionEntry *e = &entries[i];
    e->long_name = o->name;
    e->short_name = o->short_name;
    e->arg = G_OPTION_ARG_CALLBACK;
    e->arg_data = (gpointer)cli_callback;
    e->description = o->description;
    e->arg_description = o->arg_description;
    if (o->type == CONF_BOOL) {
      /* A flag taking no argument: an optional one would swallow the next positional word
       * ("--json sip:conf-..."). --no-NAME (hidden) and --NAME=false undo the file. */
      e->flags = G_OPTION_FLAG_NO_ARG;
      e->arg_description = NULL;
      char *neg = g_strdup_printf("no-%s", o->name);
      g_ptr_array_add(owned, neg);
      entries[n_entries++] = (GOptionEntry){ neg,
                                             0,
                                             G_OPTION_FLAG_NO_ARG | G_OPTION_FLAG_HIDDEN,
                                             G_OPTION_ARG_CALLBACK,
                                             (gpointer)cli_callback,
                                             NULL,
                                             NULL };
    } else if (o->type == CONF_FILENAME) {
      e->flags = G_OPTION_FLAG_FILENAME;
    }
  }
  entries[n_entries] =
      (GOptionEntry){ "config", 0, 0, G_OPTION_ARG_FILENAME, &ctx.config_path, "Configuration file",
                      "FILE" };
  entries[n_entries + 1] = (GOptionEntry){
    "version", 0, 0, G_OPTION_ARG_NONE, &ctx.version, "Print the version and exit", NULL
  };

  GOptionContext *octx = g_option_context_new(NULL);
  if (summary != NULL)
    g_option_context_set_summary(octx, summary);
  GOptionGroup *main_group = g_option_group_new(NULL, NULL, NULL, &ctx, NULL);
  g_option_group_add_entries(main_group, entries);
  g_option_context_set_main_group(octx, main_group);
  g_option_context_set_help_enabled(octx, TRUE);

  gboolean ok = g_option_context_parse(octx, argc, argv, error);
  g_option_context_free(octx);
  g_free(entries);
  ConfValue *file = NULL;
  char *path = NULL;
  if (!ok)
    goto out;

  if (ctx.version) {
    printf("%s\n", version_text != NULL ? version_text : PACKAGE_STRING);
    fflush(stdout);
    exit(0);
  }

  if (ctx.config_path != NULL)
    path = g_strdup(ctx.config_path);
  else if (default_path != NULL && g_file_test(default_path, G_FILE_TEST_EXISTS))
    path = g_strdup(default_path);
  if (path != NULL) {
    file = load_file(options, n, group, path, error);
    if (file == NULL) {
      ok = FALSE;
      goto out;
    }
  }

  /* Defaults are remembered before the first assignment, then file, then command line. */
  for (gsize i = 0; i < n; i++) {
    ConfValue def;
    value_snapshot(&options[i], &def);
    registry_remember(&options[i], ctx.cli[i].set, &def);
    if (file != NULL && file[i].set)
      value_apply(&options[i], &file[i]);
    if (ctx.cli[i].set)
      value_apply(&options[i], &ctx.cli[i]);
  }
  if (config_path_out != NULL)
    *config_path_out = g_steal_pointer(&path);

out:
  g_free(path);
  g_free(ctx.config_path);
  values_free(ctx.cli, n);
  values_free(file, n);
  return ok;
}

gboolean conf_reload(const ConfOption *options, const char *group, const char *path, GError **error)
{
  g_return_val_if_fail(options != NULL && group != NULL, FALSE);
  gsize n = count_options(options);
  ConfValue *file = NULL;
  if (path != NULL) {
    file = load_file(options, n, group, path, error);
    if (file == NULL)
      return FALSE;
  }
  for (gsize i = 0; i < n; i++) {
    gboolean from_cli = FALSE;
    ConfValue def = { 0 };
    gboolean known = registry_lookup(&options[i], &from_cli, &def);
    if (!from_cli) {
      if (file != NULL && file[i].set)
        value_apply(&options[i], &file[i]);
      else if (known)
        value_apply(&options[i], &def); /* the key left the file: back to the default */
    }
    value_clear(&def);
  }
  values_free(file, n);
  return TRUE;
}

GStrv conf_option_names(const ConfOption *options)
{
  gsize n = count_options(options);
  GStrv names = g_new0(char *, n + 1);
  for (gsize i = 0; i < n; i++)
    names[i] = g_strdup(options[i].name);
  return names;
}

gboolean conf_require(const char *name, const char *value, GError **error)
{
  if (value != NULL && value[0] != '\0')
    return TRUE;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s is empty", name);
  return FALSE;
}
