/* test-man: the man pages, --help and the option tables cannot drift apart. For each of the four
 * programs (and each subcommand or command where options are per subcommand), what --help lists
 * is what the page documents, both ways:
 *
 *   mikeykmsd    global options = the OPTIONS entries of mikeykmsd(8); subcommands = its
 *                SUBCOMMANDS entries; each subcommand's options (`mikeykmsd user add --help`)
 *                = the options its entry names (global options may be mentioned too)
 *   mikeyconfd   options = the OPTIONS entries of mikeyconfd(8)
 *   mikeyconfctl options = its OPTIONS entries, and an option --help marks "CMD:" is the one
 *                whose entry says "(CMD)"; commands = its COMMANDS entries, each with its
 *                {"cmd":...} request in PROTOCOL; every error code the daemon (libfocus) and
 *                mikeyconfctl can answer is documented
 *   mikeyua      subcommands = its SUBCOMMANDS entries; each subcommand's options = the
 *                OPTIONS entries under the .SS headings naming it ("Every subcommand", "create
 *                and join", ...; an entry starting "(create)" is that subcommand's only)
 *
 * and the configuration keys: the option table of mikeykmsd (libkms) and of mikeyconfd (libfocus)
 * = the KEYS entries of mikeykmsd.conf(5) / mikeyconfd.conf(5) = the keys of
 * data/NAME.conf.example = the program's --help options but --help, --config and --version.
 * Finally every --option any page names (examples included) is an option of some program, every
 * one a .1/.8 page names outside EXAMPLES is its own program's, and each page's .TH carries the
 * package version that --version prints.
 *
 * Pages are read from $G_TEST_SRCDIR/../man, examples from $G_TEST_SRCDIR/../data; programs from
 * $MIKEYKMSD, $MIKEYCONFD, $MIKEYCONFCTL, $MIKEYUA or the build tree. Nothing is started but
 * `--help` and `--version`. */
#include "focus/control.h"
#include "focus/focusconf.h"
#include "kms/kmsconf.h"

#include <string.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------ running --help */

static char *bin_path(const char *env, const char *dir, const char *name)
{
  const char *e = g_getenv(env);
  char *path = e ? g_strdup(e) : g_test_build_filename(G_TEST_BUILT, "..", "src", dir, name, NULL);
  g_assert_true(g_file_test(path, G_FILE_TEST_IS_EXECUTABLE));
  return path;
}

/* Runs argv; stdout in *out, stderr in *err (either may be NULL); returns the exit status. */
static int run(const char *const *argv, char **out, char **err)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *o = NULL, *e = NULL;
  int wait_status = 0;
  g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &wait_status,
               &error);
  g_assert_no_error(error);
  if (out)
    *out = g_steal_pointer(&o);
  if (err)
    *err = g_steal_pointer(&e);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

/* PROGRAM [WORDS...] --help, which must succeed. */
static char *help_of(const char *bin, const char *words)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(argv, g_strdup(bin));
  g_auto(GStrv) w = g_strsplit(words ? words : "", " ", -1);
  for (guint i = 0; w[i]; i++)
    if (w[i][0])
      g_ptr_array_add(argv, g_strdup(w[i]));
  g_ptr_array_add(argv, g_strdup("--help"));
  g_ptr_array_add(argv, NULL);
  char *out = NULL;
  g_autofree char *err = NULL;
  int status = run((const char *const *)argv->pdata, &out, &err);
  if (status != 0)
    g_test_message("%s %s --help: exit %d: %s", bin, words ? words : "", status, err);
  g_assert_cmpint(status, ==, 0);
  return out;
}

/* The options of a GOption --help ("  -o, --out=FILE   Write ..."): long name -> description;
 * the short letters in *shorts (long name -> "o"), when wanted. */
static GHashTable *help_options(const char *help, GHashTable **shorts)
{
  GHashTable *opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (shorts)
    *shorts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GRegex) re = g_regex_new("^  (?:-([A-Za-z]), )?--([a-z][a-z0-9-]*)(?:=\\S+)?\\s*(.*)$",
                                     G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GMatchInfo) mi = NULL;
  g_regex_match(re, help, 0, &mi);
  while (g_match_info_matches(mi)) {
    g_autofree char *s = g_match_info_fetch(mi, 1);
    char *name = g_match_info_fetch(mi, 2);
    if (shorts && s && s[0])
      g_hash_table_insert(*shorts, g_strdup(name), g_strdup(s));
    g_hash_table_insert(opts, name, g_match_info_fetch(mi, 3));
    g_match_info_next(mi, NULL);
  }
  return opts;
}

/* The command names of a --help block that starts with a line beginning with header: lines
 * indented by exactly two spaces, each "name words ARGS  description"; a line may list several,
 * comma-separated ("user disable URI, user enable URI"). Names are the leading lower-case words. */
static GPtrArray *help_commands(const char *help, const char *header)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) lines = g_strsplit(help, "\n", -1);
  guint i = 0;
  while (lines[i] && !g_str_has_prefix(lines[i], header))
    i++;
  g_assert_nonnull(lines[i]);
  g_autoptr(GRegex) gap = g_regex_new("\\s{2,}", 0, 0, NULL);
  for (i++; lines[i] && lines[i][0] == ' '; i++) {
    if (lines[i][2] == ' ' || !g_ascii_islower(lines[i][2]))
      continue; /* a continuation line */
    g_auto(GStrv) parts = g_regex_split(gap, lines[i] + 2, 0);
    g_auto(GStrv) items = g_strsplit(parts[0], ", ", -1);
    for (guint k = 0; items[k]; k++) {
      g_auto(GStrv) words = g_strsplit(items[k], " ", -1);
      GString *name = g_string_new(NULL);
      for (guint j = 0; words[j] && words[j][0] && g_ascii_islower(words[j][0]) &&
                        strspn(words[j], "abcdefghijklmnopqrstuvwxyz") == strlen(words[j]);
           j++)
        g_string_append_printf(name, "%s%s", name->len ? " " : "", words[j]);
      if (name->len)
        g_ptr_array_add(names, g_string_free(name, FALSE));
      else
        g_string_free(name, TRUE);
    }
  }
  return names;
}

/* ------------------------------------------------------------------ reading the pages */

/* A page as text lines: roff escapes that matter here are resolved (\- is -, font changes
 * \fB \fI \fR \fP go, \e is a backslash, \& nothing); requests (.TP, .B, ...) stay. */
typedef struct {
  char *name;
  GPtrArray *lines;
} Page;

static void page_free(Page *p)
{
  g_free(p->name);
  g_ptr_array_unref(p->lines);
  g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Page, page_free)

static char *roff_plain(const char *line)
{
  GString *s = g_string_new(NULL);
  for (const char *p = line; *p; p++) {
    if (p[0] == '\\' && p[1] == '-') {
      g_string_append_c(s, '-');
      p++;
    } else if (p[0] == '\\' && p[1] == 'f' && p[2]) {
      p += 2;
    } else if (p[0] == '\\' && p[1] == 'e') {
      g_string_append_c(s, '\\');
      p++;
    } else if (p[0] == '\\' && p[1] == '&') {
      p++;
    } else {
      g_string_append_c(s, *p);
    }
  }
  return g_string_free(s, FALSE);
}

static Page *page_load(const char *name)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "man", name, NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(path, &text, NULL, &error);
  g_assert_no_error(error);
  Page *p = g_new0(Page, 1);
  p->name = g_strdup(name);
  p->lines = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    g_ptr_array_add(p->lines, roff_plain(lines[i]));
  return p;
}

static const char *line_at(const Page *p, guint i)
{
  return i < p->lines->len ? g_ptr_array_index(p->lines, i) : NULL;
}

/* The lines [*from, *to) of section NAME (".SH NAME" up to the next .SH). */
static void section(const Page *p, const char *name, guint *from, guint *to)
{
  g_autofree char *head = g_strdup_printf(".SH %s", name);
  guint i = 0;
  while (line_at(p, i) && strcmp(line_at(p, i), head) != 0)
    i++;
  if (!line_at(p, i))
    g_test_message("%s has no section %s", p->name, name);
  g_assert_nonnull(line_at(p, i));
  *from = ++i;
  while (line_at(p, i) && !g_str_has_prefix(line_at(p, i), ".SH "))
    i++;
  *to = i;
}

/* One .TP entry: its tag line without the request (".B user add URI" -> "user add URI"), the
 * .SS heading it is under, and tag + body as one text. */
typedef struct {
  char *tag;
  char *heading;
  char *text;
  char *first_body_line;
} Entry;

static void entry_free(gpointer data)
{
  Entry *e = data;
  g_free(e->tag);
  g_free(e->heading);
  g_free(e->text);
  g_free(e->first_body_line);
  g_free(e);
}

/* Drops a leading request (".B ", ".BR ", ...) and the quotes and spaces roff uses to join. */
static char *strip_request(const char *line)
{
  const char *p = line;
  if (p[0] == '.') {
    p += strcspn(p, " ");
    p += strspn(p, " ");
  }
  GString *s = g_string_new(NULL);
  for (; *p; p++)
    if (*p != '"')
      g_string_append_c(s, *p);
  return g_strstrip(g_string_free(s, FALSE));
}

static GPtrArray *entries(const Page *p, const char *sect)
{
  guint from, to;
  section(p, sect, &from, &to);
  GPtrArray *out = g_ptr_array_new_with_free_func(entry_free);
  g_autofree char *heading = g_strdup("");
  for (guint i = from; i < to; i++) {
    const char *l = line_at(p, i);
    if (g_str_has_prefix(l, ".SS ")) {
      g_free(heading);
      heading = strip_request(l);
      continue;
    }
    if (strcmp(l, ".TP") != 0 || i + 1 >= to)
      continue;
    Entry *e = g_new0(Entry, 1);
    e->tag = strip_request(line_at(p, i + 1));
    e->heading = g_strdup(heading);
    GString *text = g_string_new(line_at(p, i + 1));
    guint j = i + 2;
    for (; j < to; j++) {
      const char *b = line_at(p, j);
      if (g_str_has_prefix(b, ".TP") || g_str_has_prefix(b, ".PP") || g_str_has_prefix(b, ".SS ") ||
          g_str_has_prefix(b, ".SH ") || g_str_has_prefix(b, ".RS"))
        break;
      if (!e->first_body_line)
        e->first_body_line = strip_request(b);
      g_string_append_printf(text, "\n%s", b);
    }
    e->text = g_string_free(text, FALSE);
    g_ptr_array_add(out, e);
    i = j - 1;
  }
  return out;
}

/* Every --option in text, as names without the dashes. */
static void add_options_in(GHashTable *set, const char *text)
{
  g_autoptr(GRegex) re = g_regex_new("(?<![A-Za-z0-9-])--([a-z][a-z0-9-]*)", 0, 0, NULL);
  g_autoptr(GMatchInfo) mi = NULL;
  g_regex_match(re, text, 0, &mi);
  while (g_match_info_matches(mi)) {
    g_hash_table_add(set, g_match_info_fetch(mi, 1));
    g_match_info_next(mi, NULL);
  }
}

static GHashTable *str_set(void)
{
  return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* Names the leading lower-case words of s ("user add URI [...]" -> "user add"). */
static char *leading_words(const char *s)
{
  g_auto(GStrv) words = g_strsplit(s, " ", -1);
  GString *name = g_string_new(NULL);
  for (guint j = 0; words[j] && words[j][0] &&
                    strspn(words[j], "abcdefghijklmnopqrstuvwxyz") == strlen(words[j]);
       j++)
    g_string_append_printf(name, "%s%s", name->len ? " " : "", words[j]);
  return g_string_free(name, FALSE);
}

static gboolean has_token(const char *text, const char *token)
{
  g_autofree char *quoted = g_regex_escape_string(token, -1);
  g_autofree char *pattern = g_strdup_printf("(?<![A-Za-z0-9-])%s(?![A-Za-z0-9-])", quoted);
  return g_regex_match_simple(pattern, text, 0, 0);
}

/* a == b as sets of names, each difference named. */
static void assert_same_set(GHashTable *a, const char *a_what, GHashTable *b, const char *b_what)
{
  guint missing = 0;
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, a);
  while (g_hash_table_iter_next(&it, &key, NULL))
    if (!g_hash_table_contains(b, key)) {
      g_test_message("%s has '%s', %s does not", a_what, (char *)key, b_what);
      missing++;
    }
  g_hash_table_iter_init(&it, b);
  while (g_hash_table_iter_next(&it, &key, NULL))
    if (!g_hash_table_contains(a, key)) {
      g_test_message("%s has '%s', %s does not", b_what, (char *)key, a_what);
      missing++;
    }
  g_assert_cmpuint(missing, ==, 0);
}

static GHashTable *keys_of(GHashTable *map)
{
  GHashTable *set = str_set();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, map);
  while (g_hash_table_iter_next(&it, &key, NULL))
    g_hash_table_add(set, g_strdup(key));
  return set;
}

/* ------------------------------------------------------------------ shared checks */

static struct {
  char *kmsd, *confd, *ctl, *ua;
} G;

/* The options the OPTIONS entries of page document (every --x of their tags), each short letter
 * seen in the same tag in *shorts_out (long -> the tag). */
static GHashTable *documented_options(const Page *p, GPtrArray **entries_out)
{
  GPtrArray *es = entries(p, "OPTIONS");
  GHashTable *set = str_set();
  for (guint i = 0; i < es->len; i++)
    add_options_in(set, ((Entry *)g_ptr_array_index(es, i))->tag);
  if (entries_out)
    *entries_out = es;
  else
    g_ptr_array_unref(es);
  return set;
}

static Entry *entry_documenting(GPtrArray *es, const char *option)
{
  g_autofree char *dashed = g_strdup_printf("--%s", option);
  for (guint i = 0; i < es->len; i++) {
    Entry *e = g_ptr_array_index(es, i);
    if (has_token(e->tag, dashed))
      return e;
  }
  return NULL;
}

/* A program's --help options = the OPTIONS entries of its page, and each short option is in the
 * tag of its long option's entry. */
static void check_options_section(const char *help, const Page *page, const char *what)
{
  g_autoptr(GHashTable) shorts = NULL;
  g_autoptr(GHashTable) opts = help_options(help, &shorts);
  g_assert_cmpuint(g_hash_table_size(opts), >, 2);
  g_autoptr(GPtrArray) es = NULL;
  g_autoptr(GHashTable) documented = documented_options(page, &es);
  g_autoptr(GHashTable) listed = keys_of(opts);
  g_autofree char *help_what = g_strdup_printf("%s --help", what);
  g_autofree char *page_what = g_strdup_printf("OPTIONS of %s", page->name);
  assert_same_set(listed, help_what, documented, page_what);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, shorts);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    Entry *e = entry_documenting(es, key);
    g_autofree char *flag = g_strdup_printf("-%s", (char *)value);
    if (!has_token(e->tag, flag))
      g_test_message("%s: -%s, --%s: the entry of --%s does not name -%s", page->name,
                     (char *)value, (char *)key, (char *)key, (char *)value);
    g_assert_true(has_token(e->tag, flag));
  }
}

/* A configuration table = the KEYS of its page(5) = the keys of its example file = the
 * program's options but help, config and version. */
static void check_keys(const ConfOption *table, const char *page_name, const char *example,
                       const char *help)
{
  g_autoptr(GHashTable) t = str_set();
  for (const ConfOption *o = table; o->name; o++)
    g_hash_table_add(t, g_strdup(o->name));
  g_assert_cmpuint(g_hash_table_size(t), >=, 10);

  g_autoptr(Page) page = page_load(page_name);
  g_autoptr(GPtrArray) es = entries(page, "KEYS");
  g_autoptr(GHashTable) k = str_set();
  for (guint i = 0; i < es->len; i++)
    g_hash_table_add(k, g_strdup(((Entry *)g_ptr_array_index(es, i))->tag));
  g_autofree char *keys_what = g_strdup_printf("KEYS of %s", page_name);
  assert_same_set(t, "the option table", k, keys_what);

  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", example, NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(path, &text, NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GHashTable) e = str_set();
  g_autoptr(GRegex) re = g_regex_new("^#?([a-z][a-z0-9-]*)=", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GMatchInfo) mi = NULL;
  g_regex_match(re, text, 0, &mi);
  while (g_match_info_matches(mi)) {
    g_hash_table_add(e, g_match_info_fetch(mi, 1));
    g_match_info_next(mi, NULL);
  }
  assert_same_set(t, "the option table", e, example);

  g_autoptr(GHashTable) opts = help_options(help, NULL);
  g_autoptr(GHashTable) h = keys_of(opts);
  const char *not_keys[] = { "help", "config", "version" };
  for (guint i = 0; i < G_N_ELEMENTS(not_keys); i++) {
    g_assert_true(g_hash_table_contains(h, not_keys[i]));
    g_hash_table_remove(h, not_keys[i]);
  }
  assert_same_set(t, "the option table", h, "--help");
}

/* ------------------------------------------------------------------ mikeykmsd */

static void test_kmsd_options(void)
{
  g_autofree char *help = help_of(G.kmsd, NULL);
  g_autoptr(Page) page = page_load("mikeykmsd.8");
  check_options_section(help, page, "mikeykmsd");
}

/* A subcommand's own options ("serve" has none: it refuses --help like any argument). */
static GHashTable *kmsd_sub_options(const char *sub, GHashTable **shorts)
{
  g_auto(GStrv) words = g_strsplit(sub, " ", -1);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.kmsd);
  for (guint i = 0; words[i]; i++)
    g_ptr_array_add(argv, words[i]);
  g_ptr_array_add(argv, (char *)"--help");
  g_ptr_array_add(argv, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int status = run((const char *const *)argv->pdata, &out, &err);
  if (status == 2 && strstr(err, "takes no arguments")) {
    *shorts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  }
  if (status != 0)
    g_test_message("mikeykmsd %s --help: exit %d: %s", sub, status, err);
  g_assert_cmpint(status, ==, 0);
  return help_options(out, shorts);
}

static void test_kmsd_subcommands(void)
{
  g_autofree char *help = help_of(G.kmsd, NULL);
  g_autoptr(GHashTable) global = help_options(help, NULL);
  g_autoptr(GPtrArray) listed = help_commands(help, "Subcommands");
  g_autoptr(Page) page = page_load("mikeykmsd.8");
  g_autoptr(GPtrArray) es = entries(page, "SUBCOMMANDS");
  g_autoptr(GHashTable) in_help = str_set();
  for (guint i = 0; i < listed->len; i++)
    g_hash_table_add(in_help, g_strdup(g_ptr_array_index(listed, i)));
  g_autoptr(GHashTable) in_page = str_set();
  for (guint i = 0; i < es->len; i++)
    g_hash_table_add(in_page, leading_words(((Entry *)g_ptr_array_index(es, i))->tag));
  g_assert_cmpuint(g_hash_table_size(in_help), >=, 10);
  assert_same_set(in_help, "mikeykmsd --help", in_page, "SUBCOMMANDS of mikeykmsd(8)");

  for (guint i = 0; i < es->len; i++) {
    Entry *e = g_ptr_array_index(es, i);
    g_autofree char *sub = leading_words(e->tag);
    g_autoptr(GHashTable) shorts = NULL;
    g_autoptr(GHashTable) own = kmsd_sub_options(sub, &shorts);
    g_hash_table_remove(own, "help");
    g_hash_table_remove(shorts, "help");
    /* what the subcommand has, its entry names */
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, own);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
      g_autofree char *dashed = g_strdup_printf("--%s", (char *)key);
      if (!has_token(e->text, dashed))
        g_test_message("mikeykmsd %s --help has %s, its entry in mikeykmsd(8) does not", sub,
                       dashed);
      g_assert_true(has_token(e->text, dashed));
    }
    g_hash_table_iter_init(&it, shorts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
      g_autofree char *flag = g_strdup_printf("-%s", (char *)value);
      if (!has_token(e->text, flag))
        g_test_message("mikeykmsd %s: the entry does not name -%s", sub, (char *)value);
      g_assert_true(has_token(e->text, flag));
    }
    /* and what the entry names, the subcommand (or the program) has */
    g_autoptr(GHashTable) named = str_set();
    add_options_in(named, e->text);
    g_hash_table_iter_init(&it, named);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
      gboolean known = g_hash_table_contains(own, key) || g_hash_table_contains(global, key);
      if (!known)
        g_test_message("mikeykmsd(8) names --%s for %s, which has no such option", (char *)key,
                       sub);
      g_assert_true(known);
    }
  }
}

static void test_kmsd_keys(void)
{
  KmsConfig cfg;
  kms_config_init_defaults(&cfg);
  g_autofree char *help = help_of(G.kmsd, NULL);
  check_keys(kms_config_options(&cfg), "mikeykmsd.conf.5", "mikeykmsd.conf.example", help);
  kms_config_clear(&cfg);
}

/* ------------------------------------------------------------------ mikeyconfd */

static void test_confd_options(void)
{
  g_autofree char *help = help_of(G.confd, NULL);
  g_autoptr(Page) page = page_load("mikeyconfd.8");
  check_options_section(help, page, "mikeyconfd");
}

static void test_confd_keys(void)
{
  FocusConfig cfg;
  focus_config_init_defaults(&cfg);
  g_autofree char *help = help_of(G.confd, NULL);
  check_keys(focus_config_options(&cfg), "mikeyconfd.conf.5", "mikeyconfd.conf.example", help);
  focus_config_clear(&cfg);
}

/* ------------------------------------------------------------------ mikeyconfctl */

/* "(events)" at the start of an entry's body, or "events:" at the start of a --help
 * description: the commands an option belongs to ("" if it is everyone's). */
static char *scope_of_body(const char *first_body_line)
{
  if (!first_body_line || first_body_line[0] != '(')
    return g_strdup("");
  const char *end = strchr(first_body_line, ')');
  g_assert_nonnull(end);
  g_autofree char *inner = g_strndup(first_body_line + 1, (gsize)(end - first_body_line - 1));
  return g_strstrip(g_strdup(inner));
}

static void test_ctl_options(void)
{
  g_autofree char *help = help_of(G.ctl, NULL);
  g_autoptr(Page) page = page_load("mikeyconfctl.8");
  check_options_section(help, page, "mikeyconfctl");
  /* an option for one command says so in both places */
  g_autoptr(GHashTable) opts = help_options(help, NULL);
  g_autoptr(GPtrArray) es = NULL;
  g_autoptr(GHashTable) documented = documented_options(page, &es);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, opts);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const char *desc = value;
    g_autofree char *help_scope = g_regex_match_simple("^[a-z]+: ", desc, 0, 0)
                                      ? g_strndup(desc, strcspn(desc, ":"))
                                      : g_strdup("");
    Entry *e = entry_documenting(es, key);
    g_autofree char *page_scope = scope_of_body(e->first_body_line);
    if (strcmp(help_scope, page_scope) != 0)
      g_test_message("--%s: --help says it is for '%s', mikeyconfctl(8) for '%s'", (char *)key,
                     help_scope, page_scope);
    g_assert_cmpstr(help_scope, ==, page_scope);
  }
}

static void test_ctl_commands(void)
{
  g_autofree char *help = help_of(G.ctl, NULL);
  g_autoptr(GPtrArray) listed = help_commands(help, "Commands:");
  g_autoptr(Page) page = page_load("mikeyconfctl.8");
  g_autoptr(GPtrArray) es = entries(page, "COMMANDS");
  g_autoptr(GHashTable) in_help = str_set();
  for (guint i = 0; i < listed->len; i++)
    g_hash_table_add(in_help, g_strdup(g_ptr_array_index(listed, i)));
  g_autoptr(GHashTable) in_page = str_set();
  for (guint i = 0; i < es->len; i++)
    g_hash_table_add(in_page, leading_words(((Entry *)g_ptr_array_index(es, i))->tag));
  g_assert_cmpuint(g_hash_table_size(in_help), >=, 7);
  assert_same_set(in_help, "mikeyconfctl --help", in_page, "COMMANDS of mikeyconfctl(8)");

  /* each command's request in PROTOCOL */
  guint from, to;
  section(page, "PROTOCOL", &from, &to);
  GString *protocol = g_string_new(NULL);
  for (guint i = from; i < to; i++)
    g_string_append_printf(protocol, "%s\n", line_at(page, i));
  for (guint i = 0; i < listed->len; i++) {
    g_autofree char *request = g_strdup_printf("{\"cmd\":\"%s\"", (char *)listed->pdata[i]);
    if (!strstr(protocol->str, request))
      g_test_message("PROTOCOL of mikeyconfctl(8) does not show %s...}", request);
    g_assert_nonnull(strstr(protocol->str, request));
  }
  /* every error code: the daemon's (what libfocus answers) and mikeyconfctl's own */
  g_autoptr(GPtrArray) codes = g_ptr_array_new_with_free_func(g_free);
  for (int c = FOCUS_CONTROL_ERROR_BAD_REQUEST; c <= FOCUS_CONTROL_ERROR_FAILED; c++) {
    g_autoptr(GError) error = g_error_new_literal(FOCUS_CONTROL_ERROR, c, "x");
    g_ptr_array_add(codes, g_strdup(focus_control_error_code(error)));
  }
  g_ptr_array_add(codes, g_strdup("not-running"));
  for (guint i = 0; i < codes->len; i++) {
    g_autofree char *entry = g_strdup_printf("\n.TP\n.B %s\n", (char *)codes->pdata[i]);
    if (!strstr(protocol->str, entry))
      g_test_message("PROTOCOL of mikeyconfctl(8) does not document the code %s",
                     (char *)codes->pdata[i]);
    g_assert_nonnull(strstr(protocol->str, entry));
  }
  g_string_free(protocol, TRUE);
}

/* ------------------------------------------------------------------ mikeyua */

/* The subcommands a heading or an entry's "(create)" names: "Every subcommand" is all of them
 * (but those named after "except"); otherwise the subcommand names it contains. */
static GHashTable *subcommands_named(const char *text, GPtrArray *all)
{
  GHashTable *set = str_set();
  gboolean every = g_str_has_prefix(text, "Every subcommand");
  for (guint i = 0; i < all->len; i++) {
    gboolean named = has_token(text, all->pdata[i]);
    if (every ? !named : named)
      g_hash_table_add(set, g_strdup(all->pdata[i]));
  }
  return set;
}

static void test_ua_subcommands(void)
{
  g_autofree char *help = help_of(G.ua, NULL);
  g_autoptr(GPtrArray) subs = help_commands(help, "Subcommands");
  g_autoptr(Page) page = page_load("mikeyua.1");
  g_autoptr(GPtrArray) es = entries(page, "SUBCOMMANDS");
  g_autoptr(GHashTable) in_help = str_set();
  for (guint i = 0; i < subs->len; i++)
    g_hash_table_add(in_help, g_strdup(subs->pdata[i]));
  g_autoptr(GHashTable) in_page = str_set();
  for (guint i = 0; i < es->len; i++)
    g_hash_table_add(in_page, leading_words(((Entry *)g_ptr_array_index(es, i))->tag));
  g_assert_cmpuint(g_hash_table_size(in_help), >=, 4);
  assert_same_set(in_help, "mikeyua --help", in_page, "SUBCOMMANDS of mikeyua(1)");
}

static void test_ua_options(void)
{
  g_autofree char *top = help_of(G.ua, NULL);
  g_autoptr(GPtrArray) subs = help_commands(top, "Subcommands");
  g_autoptr(Page) page = page_load("mikeyua.1");
  g_autoptr(GPtrArray) es = entries(page, "OPTIONS");
  /* option -> the subcommands the page documents it for */
  g_autoptr(GHashTable) page_for =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  for (guint i = 0; i < es->len; i++) {
    Entry *e = g_ptr_array_index(es, i);
    g_autoptr(GHashTable) named = str_set();
    add_options_in(named, e->tag);
    if (g_hash_table_size(named) == 0)
      continue; /* a value of an option, e.g. the actions of --at */
    g_autofree char *scope = scope_of_body(e->first_body_line);
    GHashTable *for_subs = subcommands_named(scope[0] ? scope : e->heading, subs);
    if (g_hash_table_size(for_subs) == 0)
      g_test_message("mikeyua(1): '%s' is under '%s', which names no subcommand", e->tag,
                     e->heading);
    g_assert_cmpuint(g_hash_table_size(for_subs), >, 0);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, named);
    while (g_hash_table_iter_next(&it, &key, NULL))
      g_hash_table_insert(page_for, g_strdup(key), g_hash_table_ref(for_subs));
    g_hash_table_unref(for_subs);
  }
  /* each subcommand's --help = the options documented for it */
  for (guint s = 0; s < subs->len; s++) {
    const char *sub = subs->pdata[s];
    g_autofree char *help = help_of(G.ua, sub);
    g_autoptr(GHashTable) opts = help_options(help, NULL);
    g_autoptr(GHashTable) listed = keys_of(opts);
    g_hash_table_remove(listed, "help");
    g_autoptr(GHashTable) documented = str_set();
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, page_for);
    while (g_hash_table_iter_next(&it, &key, &value))
      if (g_hash_table_contains(value, sub))
        g_hash_table_add(documented, g_strdup(key));
    g_autofree char *help_what = g_strdup_printf("mikeyua %s --help", sub);
    g_autofree char *page_what = g_strdup_printf("mikeyua(1) for %s", sub);
    assert_same_set(listed, help_what, documented, page_what);
  }
}

/* ------------------------------------------------------------------ all pages */

static const char *const PAGES[] = { "mikeykmsd.8",       "mikeykmsd.conf.5", "mikeyconfd.8",
                                     "mikeyconfd.conf.5", "mikeyconfctl.8",   "mikeyua.1" };

/* Every option of every program and subcommand, and of each program on its own. */
static void all_options(GHashTable *suite, GHashTable *kmsd, GHashTable *confd, GHashTable *ctl,
                        GHashTable *ua)
{
  struct {
    const char *bin;
    GHashTable *own;
  } progs[] = { { G.kmsd, kmsd }, { G.confd, confd }, { G.ctl, ctl }, { G.ua, ua } };
  for (guint p = 0; p < G_N_ELEMENTS(progs); p++) {
    g_autofree char *help = help_of(progs[p].bin, NULL);
    g_autoptr(GPtrArray) subs = p == 0   ? help_commands(help, "Subcommands")
                                : p == 3 ? help_commands(help, "Subcommands")
                                         : g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) opts = help_options(help, NULL);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, &key, NULL))
      g_hash_table_add(progs[p].own, g_strdup(key));
    for (guint s = 0; s < subs->len; s++) {
      g_autoptr(GHashTable) shorts = NULL;
      g_autoptr(GHashTable) sub_opts = NULL;
      if (p == 0) {
        sub_opts = kmsd_sub_options(subs->pdata[s], &shorts);
      } else {
        g_autofree char *sub_help = help_of(progs[p].bin, subs->pdata[s]);
        sub_opts = help_options(sub_help, NULL);
      }
      g_hash_table_iter_init(&it, sub_opts);
      while (g_hash_table_iter_next(&it, &key, NULL))
        g_hash_table_add(progs[p].own, g_strdup(key));
    }
    g_hash_table_iter_init(&it, progs[p].own);
    while (g_hash_table_iter_next(&it, &key, NULL))
      g_hash_table_add(suite, g_strdup(key));
  }
}

/* No page names an option that does not exist; outside EXAMPLES, a program's page names only
 * its own (a .5 page: its program's, or an option spelled after another program's name). */
static void test_no_stale_options(void)
{
  g_autoptr(GHashTable) suite = str_set(), kmsd = str_set(), confd = str_set(), ctl = str_set(),
                        ua = str_set();
  all_options(suite, kmsd, confd, ctl, ua);
  GHashTable *own_of[] = { kmsd, kmsd, confd, confd, ctl, ua };
  for (guint p = 0; p < G_N_ELEMENTS(PAGES); p++) {
    g_autoptr(Page) page = page_load(PAGES[p]);
    gboolean in_examples = FALSE;
    gboolean file_page = g_str_has_suffix(PAGES[p], ".5");
    for (guint i = 0; i < page->lines->len; i++) {
      const char *l = line_at(page, i);
      if (g_str_has_prefix(l, ".SH "))
        in_examples = g_str_has_prefix(l, ".SH EXAMPLE");
      g_autoptr(GHashTable) named = str_set();
      add_options_in(named, l);
      GHashTableIter it;
      gpointer key;
      g_hash_table_iter_init(&it, named);
      while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!g_hash_table_contains(suite, key))
          g_test_message("%s:%u names --%s, an option no program has", PAGES[p], i + 1,
                         (char *)key);
        g_assert_true(g_hash_table_contains(suite, key));
        gboolean other_program =
            file_page && g_regex_match_simple("mikey[a-z]+ [A-Za-z ]*--", l, 0, 0);
        if (in_examples || other_program)
          continue;
        if (!g_hash_table_contains(own_of[p], key))
          g_test_message("%s:%u names --%s, which is not an option of its program", PAGES[p], i + 1,
                         (char *)key);
        g_assert_true(g_hash_table_contains(own_of[p], key));
      }
    }
  }
}

/* Each page's .TH says the version the programs print. */
static void test_versions(void)
{
  const char *bins[] = { G.kmsd, G.kmsd, G.confd, G.confd, G.ctl, G.ua };
  const char *names[] = { "mikeykmsd",  "mikeykmsd",    "mikeyconfd",
                          "mikeyconfd", "mikeyconfctl", "mikeyua" };
  for (guint p = 0; p < G_N_ELEMENTS(PAGES); p++) {
    g_autoptr(Page) page = page_load(PAGES[p]);
    const char *th = NULL;
    for (guint i = 0; i < page->lines->len && !th; i++)
      if (g_str_has_prefix(line_at(page, i), ".TH "))
        th = line_at(page, i);
    g_assert_nonnull(th);
    if (!strstr(th, "\"mikeyconf " PACKAGE_VERSION "\""))
      g_test_message("%s: '%s' is not of mikeyconf " PACKAGE_VERSION, PAGES[p], th);
    g_assert_nonnull(strstr(th, "\"mikeyconf " PACKAGE_VERSION "\""));
    const char *argv[] = { bins[p], "--version", NULL };
    g_autofree char *out = NULL;
    g_assert_cmpint(run(argv, &out, NULL), ==, 0);
    g_autofree char *expect = g_strdup_printf("%s " PACKAGE_VERSION "\n", names[p]);
    g_assert_cmpstr(out, ==, expect);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  G.kmsd = bin_path("MIKEYKMSD", "kms", "mikeykmsd");
  G.confd = bin_path("MIKEYCONFD", "focus", "mikeyconfd");
  G.ctl = bin_path("MIKEYCONFCTL", "ctl", "mikeyconfctl");
  G.ua = bin_path("MIKEYUA", "ua", "mikeyua");
  g_test_add_func("/man/mikeykmsd/options", test_kmsd_options);
  g_test_add_func("/man/mikeykmsd/subcommands", test_kmsd_subcommands);
  g_test_add_func("/man/mikeykmsd.conf/keys", test_kmsd_keys);
  g_test_add_func("/man/mikeyconfd/options", test_confd_options);
  g_test_add_func("/man/mikeyconfd.conf/keys", test_confd_keys);
  g_test_add_func("/man/mikeyconfctl/options", test_ctl_options);
  g_test_add_func("/man/mikeyconfctl/commands", test_ctl_commands);
  g_test_add_func("/man/mikeyua/subcommands", test_ua_subcommands);
  g_test_add_func("/man/mikeyua/options", test_ua_options);
  g_test_add_func("/man/no-stale-options", test_no_stale_options);
  g_test_add_func("/man/versions", test_versions);
  int status = g_test_run();
  g_free(G.kmsd);
  g_free(G.confd);
  g_free(G.ctl);
  g_free(G.ua);
  return status;
}
