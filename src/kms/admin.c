/* mikeykmsd's admin subcommands (admin.h): thin wrappers around the store (store.h), the local
 * CA (ca.h) and credential files (common/credential.h), with one clear message per mistake. */
#include "admin.h"

#include "ca.h"
#include "store.h"

#include "common/credential.h"
#include "common/sipuri.h"

#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define PROG "mikeykmsd"
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DEFAULT_TICKET_LIMIT 50

static const char *const commands[] = { "init", "user", "tpk", "tickets", NULL };

gboolean kms_admin_is_command(const char *word)
{
  return word != NULL && g_strv_contains(commands, word);
}

/* ------------------------------------------------------------------ output helpers */

static int fail(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int fail(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_printerr("%s: %s: %s\n", PROG, cmd, msg);
  return EXIT_FAIL;
}

static int usage(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int usage(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_printerr("%s: %s: %s (see %s %s --help)\n", PROG, cmd, msg, PROG, cmd);
  return EXIT_USAGE;
}

static char *hex_of_bytes(GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  GString *s = g_string_sized_new(2 * len);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf(s, "%02x", data[i]);
  return g_string_free(s, FALSE);
}

static char *time_local(gint64 t)
{
  if (t == 0)
    return g_strdup("-");
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(t);
  return dt != NULL ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
}

static char *time_iso(gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
  return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

static char *ellipsize(const char *text, glong max)
{
  if (text == NULL)
    return g_strdup("-");
  if (g_utf8_strlen(text, -1) <= max)
    return g_strdup(text);
  const char *end = g_utf8_offset_to_pointer(text, max - 3);
  return g_strdup_printf("%.*s...", (int)(end - text), text);
}

/* An aligned table: a header row and data rows (GStrv each, same length). */
static void table_print(GPtrArray *rows)
{
  if (rows->len == 0)
    return;
  guint ncols = g_strv_length(g_ptr_array_index(rows, 0));
  g_autofree glong *width = g_new0(glong, ncols);
  for (guint r = 0; r < rows->len; r++) {
    char **row = g_ptr_array_index(rows, r);
    for (guint c = 0; c < ncols; c++)
      width[c] = MAX(width[c], g_utf8_strlen(row[c], -1));
  }
  GString *line = g_string_new(NULL);
  for (guint r = 0; r < rows->len; r++) {
    char **row = g_ptr_array_index(rows, r);
    g_string_truncate(line, 0);
    for (guint c = 0; c < ncols; c++) {
      g_string_append(line, row[c]);
      if (c + 1 < ncols)
        for (glong pad = g_utf8_strlen(row[c], -1); pad < width[c] + 2; pad++)
          g_string_append_c(line, ' ');
    }
    while (line->len > 0 && line->str[line->len - 1] == ' ')
      g_string_truncate(line, line->len - 1);
    g_print("%s\n", line->str);
  }
  g_string_free(line, TRUE);
}

static void json_print(JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_pretty(gen, TRUE);
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  g_print("%s\n", text);
}

/* Parses the options of a subcommand. args[0] is a label for --help; positional words are
 * left in args. */
static gboolean parse_options(const char *cmd, const char *params, const char *summary,
                              GOptionEntry *entries, int *argc, char ***argv, int *status)
{
  g_autoptr(GOptionContext) ctx = g_option_context_new(params);
  g_option_context_set_summary(ctx, summary);
  if (entries != NULL)
    g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    *status = usage(cmd, "%s", error->message);
    return FALSE;
  }
  return TRUE;
}

static KmsStore *store_open(const char *cmd, KmsConfig *cfg, int *status)
{
  g_autoptr(GError) error = NULL;
  KmsStore *store = kms_store_open(cfg->state_dir, FALSE, &error);
  if (store == NULL)
    *status = fail(cmd, "%s", error->message);
  return store;
}

/* The one positional URI of "user show URI" and friends. */
static const char *one_uri(const char *cmd, int argc, char **argv, int *status)
{
  if (argc < 2) {
    *status = usage(cmd, "missing URI");
    return NULL;
  }
  if (argc > 2) {
    *status = usage(cmd, "unexpected argument '%s'", argv[2]);
    return NULL;
  }
  return argv[1];
}

/* ------------------------------------------------------------------ init */

static void names_add(GPtrArray *names, const char *name)
{
  if (name == NULL || name[0] == '\0')
    return;
  for (guint i = 0; i < names->len; i++)
    if (g_ascii_strcasecmp(g_ptr_array_index(names, i), name) == 0)
      return;
  g_ptr_array_add(names, g_strdup(name));
}

/* The host of an http(s) URL, without brackets. */
static char *url_host(const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host(uri) == NULL)
    return NULL;
  return g_strdup(g_uri_get_host(uri));
}

static int cmd_init(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "init";
  g_auto(GStrv) extra_names = NULL;
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING_ARRAY, &extra_names,
      "Also name the server certificate for this DNS name or IP address (repeatable)", "NAME" },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "",
                     "Creates the state directory, its key-encryption key, the first "
                     "ticket key, a local CA and a server certificate.",
                     entries, &argc, &argv, &status))
    return status;
  if (argc > 1)
    return usage(cmd, "unexpected argument '%s'", argv[1]);

  g_autofree char *kek_path = g_build_filename(cfg->state_dir, "kek", NULL);
  gboolean existed = g_file_test(kek_path, G_FILE_TEST_EXISTS);
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsStore) store = kms_store_open(cfg->state_dir, TRUE, &error);
  if (store == NULL)
    return fail(cmd, "%s", error->message);

  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  for (gsize i = 0; extra_names != NULL && extra_names[i] != NULL; i++)
    names_add(names, extra_names[i]);
  g_autofree char *public_host = cfg->public_url != NULL ? url_host(cfg->public_url) : NULL;
  names_add(names, public_host);
  g_autoptr(GInetAddress) listen_addr = g_inet_address_new_from_string(cfg->listen);
  if (listen_addr != NULL && g_inet_address_get_is_any(listen_addr))
    names_add(names, g_get_host_name());
  else
    names_add(names, cfg->listen);
  names_add(names, "localhost");
  names_add(names, "127.0.0.1");
  names_add(names, "::1");
  g_ptr_array_add(names, NULL);
  if (!kms_ca_create(cfg->state_dir, (const char *const *)names->pdata, FALSE, &error))
    return fail(cmd, "%s", error->message);

  g_autoptr(GBytes) gen = NULL;
  if (!kms_store_tpk_current(store, &gen, NULL, &error))
    return fail(cmd, "%s", error->message);
  g_autofree char *gen_hex = hex_of_bytes(gen);
  g_autofree char *ca = g_build_filename(cfg->state_dir, "ca.pem", NULL);
  g_print("%s %s\n", existed ? "state directory already initialised (kept):" : "initialised",
          cfg->state_dir);
  g_print("  ticket key generation  %s\n", gen_hex);
  g_print("  CA certificate         %s (give this to clients as kms-ca)\n", ca);
  g_print("  server certificate     %s/server.pem, key server.key\n", cfg->state_dir);
  return 0;
}

/* ------------------------------------------------------------------ user add */

/* "sip:alice@example.org" -> "alice@example.org.cred". */
static char *default_cred_name(const char *norm)
{
  const char *s = g_str_has_prefix(norm, "sip:") ? norm + 4 : norm;
  GString *out = g_string_new(NULL);
  for (; *s != '\0'; s++)
    g_string_append_c(out, g_ascii_isalnum(*s) || strchr("@.+-_", *s) != NULL ? *s : '_');
  g_string_append(out, ".cred");
  return g_string_free(out, FALSE);
}

/* profile 1: a focus resolves for the factory URI and the conference URIs of its host. */
static GStrv focus_patterns(const char *identity)
{
  SipUri uri = { 0 };
  if (!sip_uri_parse(identity, strlen(identity), &uri, NULL))
    return NULL;
  g_autofree char *hostport =
      uri.port ? g_strdup_printf("%s:%s", uri.host, uri.port) : g_strdup(uri.host);
  GStrv patterns = g_new0(char *, 3);
  patterns[0] = g_strdup_printf("%s:conference-factory@%s", uri.scheme, hostport);
  patterns[1] = g_strdup_printf("%s:conf-*@%s", uri.scheme, hostport);
  sip_uri_clear(&uri);
  return patterns;
}

static int cmd_user_add(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "user add";
  gboolean may_create = FALSE, force = FALSE, focus = FALSE;
  g_auto(GStrv) resolves_for = NULL;
  g_autofree char *out = NULL;
  GOptionEntry entries[] = {
    { "may-create", 0, 0, G_OPTION_ARG_NONE, &may_create,
      "The user may create conferences (name a factory URI in a ticket)", NULL },
    { "focus", 0, 0, G_OPTION_ARG_NONE, &focus,
      "The user is a conference focus: resolves for sip:conference-factory@HOST and "
      "sip:conf-*@HOST of its own host, unless --resolves-for says otherwise",
      NULL },
    { "resolves-for", 0, 0, G_OPTION_ARG_STRING_ARRAY, &resolves_for,
      "The user may resolve tickets for request-URIs matching PATTERN (repeatable)", "PATTERN" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      "Write the credential file here (default ./USER@HOST.cred)", "FILE" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Overwrite an existing credential file", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "URI", "Adds a user and writes its credential file (mode 0600).", entries,
                     &argc, &argv, &status))
    return status;
  const char *identity = one_uri(cmd, argc, argv, &status);
  if (identity == NULL)
    return status;

  g_autoptr(GError) error = NULL;
  g_autofree char *norm = sip_uri_normalize(identity, &error);
  if (norm == NULL)
    return fail(cmd, "'%s' is not a URI: %s", identity, error->message);
  if (focus && resolves_for == NULL)
    resolves_for = focus_patterns(identity);
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  /* The duplicate first: it is the likelier mistake, and says more than "file exists". */
  g_autoptr(KmsUser) existing = kms_store_user_by_identity(store, identity, FALSE, NULL);
  if (existing != NULL)
    return fail(cmd, "user %s already exists", existing->identity);
  if (out == NULL)
    out = default_cred_name(norm);
  if (!force && g_file_test(out, G_FILE_TEST_EXISTS))
    return fail(cmd, "%s exists (use --force to overwrite it, or --out FILE)", out);

  g_autoptr(KmsUser) user =
      kms_store_user_add(store, identity, may_create, (const char *const *)resolves_for, &error);
  if (user == NULL)
    return fail(cmd, "%s", error->message);

  gboolean https = !g_str_has_prefix(cfg->public_url, "http://");
  g_autofree char *ca = NULL;
  if (https) {
    g_autofree char *rel = g_build_filename(cfg->state_dir, "ca.pem", NULL);
    ca = g_canonicalize_filename(rel, NULL);
    if (!g_file_test(ca, G_FILE_TEST_EXISTS))
      g_printerr("%s: %s: warning: %s does not exist yet (run %s init, or edit kms-ca)\n", PROG,
                 cmd, ca, PROG);
  }
  Credential cred = {
    .identity = user->identity,
    .kms_uri = cfg->kms_uri,
    .kms_url = cfg->public_url,
    .kms_ca = ca,
    .psk_id = user->psk_id,
    .psk = user->psk,
  };
  if (!credential_save(out, &cred, &error)) {
    /* No user without its credential: the PSK exists nowhere else. */
    g_autoptr(GError) rm_error = NULL;
    kms_store_user_remove(store, user->identity, &rm_error);
    return fail(cmd, "cannot write the credential file: %s (user not added)", error->message);
  }
  g_autofree char *psk_id = hex_of_bytes(user->psk_id);
  g_print("added %s (psk-id %s%s)\n", user->identity, psk_id,
          may_create ? ", may create conferences" : "");
  g_print("credential written to %s\n", out);
  return 0;
}

/* ------------------------------------------------------------------ user list / show */

static void json_user(JsonBuilder *b, const KmsUser *u)
{
  g_autofree char *psk_id = hex_of_bytes(u->psk_id);
  g_autofree char *created = time_iso(u->created);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "identity");
  json_builder_add_string_value(b, u->identity);
  json_builder_set_member_name(b, "identity-norm");
  json_builder_add_string_value(b, u->identity_norm);
  json_builder_set_member_name(b, "psk-id");
  json_builder_add_string_value(b, psk_id);
  json_builder_set_member_name(b, "may-create");
  json_builder_add_boolean_value(b, u->may_create);
  json_builder_set_member_name(b, "resolves-for");
  json_builder_begin_array(b);
  for (gsize i = 0; u->resolves_for != NULL && u->resolves_for[i] != NULL; i++)
    json_builder_add_string_value(b, u->resolves_for[i]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "created");
  json_builder_add_string_value(b, created);
  json_builder_set_member_name(b, "disabled");
  if (u->disabled != 0) {
    g_autofree char *disabled = time_iso(u->disabled);
    json_builder_add_string_value(b, disabled);
  } else {
    json_builder_add_null_value(b);
  }
  json_builder_end_object(b);
}

static char *resolves_text(const KmsUser *u, const char *sep)
{
  if (u->resolves_for == NULL || u->resolves_for[0] == NULL)
    return g_strdup("-");
  return g_strjoinv(sep, u->resolves_for);
}

static int cmd_user_list(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "user list";
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "", "Lists the users.", entries, &argc, &argv, &status))
    return status;
  if (argc > 1)
    return usage(cmd, "unexpected argument '%s'", argv[1]);
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = kms_store_user_list(store, &error);
  if (users == NULL)
    return fail(cmd, "%s", error->message);

  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < users->len; i++)
      json_user(b, g_ptr_array_index(users, i));
    json_builder_end_array(b);
    json_print(b);
    return 0;
  }
  if (users->len == 0) {
    g_print("no users (add one with %s user add URI)\n", PROG);
    return 0;
  }
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  const char *header[] = { "IDENTITY", "PSK-ID", "CREATE", "RESOLVES-FOR", "ADDED", "STATE", NULL };
  g_ptr_array_add(rows, g_strdupv((char **)header));
  for (guint i = 0; i < users->len; i++) {
    const KmsUser *u = g_ptr_array_index(users, i);
    char **row = g_new0(char *, 7);
    row[0] = g_strdup(u->identity);
    row[1] = hex_of_bytes(u->psk_id);
    row[2] = g_strdup(u->may_create ? "yes" : "no");
    row[3] = resolves_text(u, ",");
    row[4] = time_local(u->created);
    row[5] = g_strdup(u->disabled != 0 ? "disabled" : "enabled");
    g_ptr_array_add(rows, row);
  }
  table_print(rows);
  return 0;
}

static int cmd_user_show(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "user show";
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "URI", "Shows one user (never its PSK).", entries, &argc, &argv, &status))
    return status;
  const char *identity = one_uri(cmd, argc, argv, &status);
  if (identity == NULL)
    return status;
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsUser) u = kms_store_user_by_identity(store, identity, FALSE, &error);
  if (u == NULL)
    return fail(cmd, "%s", error->message);
  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_user(b, u);
    json_print(b);
    return 0;
  }
  g_autofree char *psk_id = hex_of_bytes(u->psk_id);
  g_autofree char *created = time_local(u->created);
  g_autofree char *disabled = time_local(u->disabled);
  g_autofree char *resolves = resolves_text(u, "\n              ");
  g_print("identity      %s\n", u->identity);
  g_print("normalised    %s\n", u->identity_norm);
  g_print("psk-id        %s\n", psk_id);
  g_print("may-create    %s\n", u->may_create ? "yes" : "no");
  g_print("resolves-for  %s\n", resolves);
  g_print("added         %s\n", created);
  if (u->disabled != 0)
    g_print("state         disabled since %s\n", disabled);
  else
    g_print("state         enabled\n");
  return 0;
}

/* ------------------------------------------------------------------ user set / disable / ... */

static int cmd_user_set(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "user set";
  gboolean may_create = FALSE, no_may_create = FALSE, no_resolves_for = FALSE;
  g_auto(GStrv) resolves_for = NULL;
  GOptionEntry entries[] = {
    { "may-create", 0, 0, G_OPTION_ARG_NONE, &may_create, "The user may create conferences", NULL },
    { "no-may-create", 0, 0, G_OPTION_ARG_NONE, &no_may_create,
      "The user may not create conferences", NULL },
    { "resolves-for", 0, 0, G_OPTION_ARG_STRING_ARRAY, &resolves_for,
      "Replace the resolves-for patterns with these (repeatable)", "PATTERN" },
    { "no-resolves-for", 0, 0, G_OPTION_ARG_NONE, &no_resolves_for,
      "Remove every resolves-for pattern", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "URI", "Changes what a user may do.", entries, &argc, &argv, &status))
    return status;
  const char *identity = one_uri(cmd, argc, argv, &status);
  if (identity == NULL)
    return status;
  if (may_create && no_may_create)
    return usage(cmd, "--may-create and --no-may-create contradict each other");
  if (resolves_for != NULL && no_resolves_for)
    return usage(cmd, "--resolves-for and --no-resolves-for contradict each other");
  if (!may_create && !no_may_create && resolves_for == NULL && !no_resolves_for)
    return usage(cmd, "nothing to change (--may-create, --no-may-create, --resolves-for, "
                      "--no-resolves-for)");
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  const char *const none[] = { NULL };
  const char *const *patterns = no_resolves_for ? none : (const char *const *)resolves_for;
  int create = may_create ? 1 : no_may_create ? 0 : -1;
  g_autoptr(GError) error = NULL;
  if (!kms_store_user_set(store, identity, create, patterns, &error))
    return fail(cmd, "%s", error->message);
  g_print("changed %s\n", identity);
  return 0;
}

static int cmd_user_state(int argc, char **argv, KmsConfig *cfg, const char *verb)
{
  g_autofree char *cmd = g_strconcat("user ", verb, NULL);
  const char *summary =
      strcmp(verb, "remove") == 0    ? "Removes a user; its credential stops working at once."
      : strcmp(verb, "disable") == 0 ? "Disables a user: its requests and resolves are refused."
                                     : "Enables a disabled user again.";
  int status = 0;
  if (!parse_options(cmd, "URI", summary, NULL, &argc, &argv, &status))
    return status;
  const char *identity = one_uri(cmd, argc, argv, &status);
  if (identity == NULL)
    return status;
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  if (strcmp(verb, "remove") == 0)
    ok = kms_store_user_remove(store, identity, &error);
  else
    ok = kms_store_user_disable(store, identity, strcmp(verb, "disable") == 0, &error);
  if (!ok)
    return fail(cmd, "%s", error->message);
  g_print("%s %s\n",
          strcmp(verb, "remove") == 0    ? "removed"
          : strcmp(verb, "disable") == 0 ? "disabled"
                                         : "enabled",
          identity);
  return 0;
}

static int cmd_user(int argc, char **argv, KmsConfig *cfg)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    g_printerr("usage: %s user add|list|show|set|disable|enable|remove ...\n", PROG);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  const char *verb = argv[1];
  if (strcmp(verb, "add") == 0)
    return cmd_user_add(argc - 1, argv + 1, cfg);
  if (strcmp(verb, "list") == 0)
    return cmd_user_list(argc - 1, argv + 1, cfg);
  if (strcmp(verb, "show") == 0)
    return cmd_user_show(argc - 1, argv + 1, cfg);
  if (strcmp(verb, "set") == 0)
    return cmd_user_set(argc - 1, argv + 1, cfg);
  if (strcmp(verb, "disable") == 0 || strcmp(verb, "enable") == 0 || strcmp(verb, "remove") == 0)
    return cmd_user_state(argc - 1, argv + 1, cfg, verb);
  g_printerr("%s: user: unknown command '%s' (add, list, show, set, disable, enable, remove)\n",
             PROG, verb);
  return EXIT_USAGE;
}

/* ------------------------------------------------------------------ tpk */

static int cmd_tpk(int argc, char **argv, KmsConfig *cfg)
{
  if (argc < 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "list") != 0)) {
    if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0)
      g_printerr("%s: tpk: unknown command '%s' (rotate, list)\n", PROG, argv[1]);
    else
      g_printerr("usage: %s tpk rotate|list [--json]\n", PROG);
    return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0
                                                                                       : EXIT_USAGE;
  }
  gboolean rotate = strcmp(argv[1], "rotate") == 0;
  const char *cmd = rotate ? "tpk rotate" : "tpk list";
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    G_OPTION_ENTRY_NULL,
  };
  argc--;
  argv++;
  int status = 0;
  if (!parse_options(cmd, "",
                     rotate ? "Starts a new ticket key generation; tickets sealed under older "
                              "ones still resolve until they expire."
                            : "Lists the ticket key generations, newest first.",
                     rotate ? NULL : entries, &argc, &argv, &status))
    return status;
  if (argc > 1)
    return usage(cmd, "unexpected argument '%s'", argv[1]);
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  if (rotate) {
    g_autoptr(GBytes) gen = kms_store_tpk_rotate(store, &error);
    if (gen == NULL)
      return fail(cmd, "%s", error->message);
    g_autofree char *hex = hex_of_bytes(gen);
    g_print("new ticket key generation %s (older tickets still resolve until they expire)\n", hex);
    return 0;
  }
  g_autoptr(GPtrArray) list = kms_store_tpk_list(store, &error);
  if (list == NULL)
    return fail(cmd, "%s", error->message);
  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < list->len; i++) {
      const KmsTpkInfo *info = g_ptr_array_index(list, i);
      g_autofree char *hex = hex_of_bytes(info->id);
      g_autofree char *created = time_iso(info->created);
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "generation");
      json_builder_add_string_value(b, hex);
      json_builder_set_member_name(b, "created");
      json_builder_add_string_value(b, created);
      json_builder_set_member_name(b, "current");
      json_builder_add_boolean_value(b, info->current);
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_print(b);
    return 0;
  }
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  const char *header[] = { "GENERATION", "CREATED", "", NULL };
  g_ptr_array_add(rows, g_strdupv((char **)header));
  for (guint i = 0; i < list->len; i++) {
    const KmsTpkInfo *info = g_ptr_array_index(list, i);
    char **row = g_new0(char *, 4);
    row[0] = hex_of_bytes(info->id);
    row[1] = time_local(info->created);
    row[2] = g_strdup(info->current ? "current" : "");
    g_ptr_array_add(rows, row);
  }
  table_print(rows);
  return 0;
}

/* ------------------------------------------------------------------ tickets */

static int cmd_tickets(int argc, char **argv, KmsConfig *cfg)
{
  const char *cmd = "tickets";
  g_autofree char *user = NULL;
  gint limit = DEFAULT_TICKET_LIMIT;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user,
      "Only tickets requested by or naming this identity", "URI" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "Show at most N tickets, 0 = all (default 50)",
      "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int status = 0;
  if (!parse_options(cmd, "", "Lists issued tickets, newest first.", entries, &argc, &argv,
                     &status))
    return status;
  if (argc > 1)
    return usage(cmd, "unexpected argument '%s'", argv[1]);
  if (limit < 0)
    return usage(cmd, "--limit must be 0 or more");
  g_autoptr(GError) error = NULL;
  if (user != NULL) {
    g_autofree char *norm = sip_uri_normalize(user, &error);
    if (norm == NULL)
      return fail(cmd, "'%s' is not a URI: %s", user, error->message);
  }
  g_autoptr(KmsStore) store = store_open(cmd, cfg, &status);
  if (store == NULL)
    return status;
  g_autoptr(GPtrArray) rows = kms_store_tickets(store, user, (guint)limit, &error);
  if (rows == NULL)
    return fail(cmd, "%s", error->message);

  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < rows->len; i++) {
      const KmsTicketRow *t = g_ptr_array_index(rows, i);
      g_autofree char *trs = time_iso(t->trs);
      g_autofree char *tre = time_iso(t->tre);
      g_autofree char *issued = time_iso(t->issued);
      g_auto(GStrv) recipients = g_strsplit(t->recipients, " ", -1);
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "fingerprint");
      json_builder_add_string_value(b, t->fingerprint);
      json_builder_set_member_name(b, "requester");
      json_builder_add_string_value(b, t->requester);
      json_builder_set_member_name(b, "recipients");
      json_builder_begin_array(b);
      for (gsize r = 0; recipients[r] != NULL; r++)
        if (recipients[r][0] != '\0')
          json_builder_add_string_value(b, recipients[r]);
      json_builder_end_array(b);
      json_builder_set_member_name(b, "valid-from");
      json_builder_add_string_value(b, trs);
      json_builder_set_member_name(b, "valid-to");
      json_builder_add_string_value(b, tre);
      json_builder_set_member_name(b, "issued");
      json_builder_add_string_value(b, issued);
      json_builder_set_member_name(b, "resolve-count");
      json_builder_add_int_value(b, t->resolve_count);
      json_builder_set_member_name(b, "last-resolver");
      if (t->last_resolver != NULL)
        json_builder_add_string_value(b, t->last_resolver);
      else
        json_builder_add_null_value(b);
      json_builder_set_member_name(b, "last-resolved");
      if (t->last_resolved != 0) {
        g_autofree char *last = time_iso(t->last_resolved);
        json_builder_add_string_value(b, last);
      } else {
        json_builder_add_null_value(b);
      }
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_print(b);
    return 0;
  }
  if (rows->len == 0) {
    g_print("no tickets%s%s\n", user != NULL ? " for " : "", user != NULL ? user : "");
    return 0;
  }
  g_autoptr(GPtrArray) table = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  const char *header[] = { "FINGERPRINT", "ISSUED",   "REQUESTER",     "RECIPIENTS",
                           "VALID-TO",    "RESOLVES", "LAST-RESOLVER", NULL };
  g_ptr_array_add(table, g_strdupv((char **)header));
  for (guint i = 0; i < rows->len; i++) {
    const KmsTicketRow *t = g_ptr_array_index(rows, i);
    g_autofree char *recipients = g_strdelimit(g_strdup(t->recipients), " ", ',');
    char **row = g_new0(char *, 8);
    row[0] = ellipsize(t->fingerprint, 16);
    row[1] = time_local(t->issued);
    row[2] = g_strdup(t->requester);
    row[3] = ellipsize(recipients, 60);
    row[4] = time_local(t->tre);
    row[5] = g_strdup_printf("%" G_GINT64_FORMAT, t->resolve_count);
    row[6] = g_strdup(t->last_resolver != NULL ? t->last_resolver : "-");
    g_ptr_array_add(table, row);
  }
  table_print(table);
  return 0;
}

/* ------------------------------------------------------------------ entry */

int kms_admin_run(int argc, char **argv, KmsConfig *cfg)
{
  if (argc < 1 || argv[0] == NULL) {
    g_printerr("%s: missing command (init, user, tpk, tickets, serve)\n", PROG);
    return EXIT_USAGE;
  }
  if (cfg->public_url == NULL) {
    g_autoptr(GError) error = NULL;
    if (!kms_config_finish(cfg, &error)) {
      g_printerr("%s: %s\n", PROG, error->message);
      return EXIT_USAGE;
    }
  }
  const char *cmd = argv[0];
  if (strcmp(cmd, "init") == 0)
    return cmd_init(argc, argv, cfg);
  if (strcmp(cmd, "user") == 0)
    return cmd_user(argc, argv, cfg);
  if (strcmp(cmd, "tpk") == 0)
    return cmd_tpk(argc, argv, cfg);
  if (strcmp(cmd, "tickets") == 0)
    return cmd_tickets(argc, argv, cfg);
  g_printerr("%s: unknown command '%s' (init, user, tpk, tickets, serve)\n", PROG, cmd);
  return EXIT_USAGE;
}
