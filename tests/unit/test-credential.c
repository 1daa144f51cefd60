/* Credential files (profile 2): the exact text written, mode 0600 on disk, the round trip, and
 * the specific refusals a user sees for a bad file. */
#include "common/credential.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static const char psk_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char psk_id_hex[] = "92dc0a1b2c3d4e5f60718293a4b5c6d7";

typedef struct {
  char *dir;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("test-credential-XXXXXX", &error);
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
}

static void fill(Credential *c, gboolean https)
{
  memset(c, 0, sizeof *c);
  c->identity = g_strdup("sip:alice@example.org");
  c->kms_uri = g_strdup("kms.example.org");
  c->kms_url = g_strdup(https ? "https://127.0.0.1:8443/mikey" : "http://127.0.0.1:8080/mikey");
  c->kms_ca = https ? g_strdup("/etc/mikeyconf/ca.pem") : NULL;
  guint8 id[16];
  for (int i = 0; i < 16; i++)
    id[i] =
        (guint8)g_ascii_strtoull((char[]){ psk_id_hex[2 * i], psk_id_hex[2 * i + 1], 0 }, NULL, 16);
  c->psk_id = g_bytes_new(id, sizeof id);
  g_autoptr(GError) error = NULL;
  c->psk = mikey_secret_new_from_hex(psk_hex, &error);
  g_assert_no_error(error);
}

/* Writes text as a credential file of the given mode. */
static char *write_file(Fixture *f, const char *name, const char *text, int mode)
{
  char *path = g_build_filename(f->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_NONE, mode, &error));
  g_assert_no_error(error);
  g_assert_cmpint(g_chmod(path, mode), ==, 0);
  return path;
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
  Credential c;
  fill(&c, TRUE);
  g_autofree char *path = g_build_filename(f->dir, "alice.cred", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_save(path, &c, &error));
  g_assert_no_error(error);

  /* Exactly profile 2: this group, these keys in this order, no comments. */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_autofree char *expected = g_strdup_printf("[credential]\n"
                                              "identity=sip:alice@example.org\n"
                                              "kms-uri=kms.example.org\n"
                                              "kms-url=https://127.0.0.1:8443/mikey\n"
                                              "kms-ca=/etc/mikeyconf/ca.pem\n"
                                              "psk-id=%s\n"
                                              "psk=%s\n",
                                              psk_id_hex, psk_hex);
  g_assert_cmpstr(text, ==, expected);
  g_assert_null(strchr(text, '#'));

  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0600);

  Credential back;
  g_assert_true(credential_load(path, &back, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(back.identity, ==, c.identity);
  g_assert_cmpstr(back.kms_uri, ==, c.kms_uri);
  g_assert_cmpstr(back.kms_url, ==, c.kms_url);
  g_assert_cmpstr(back.kms_ca, ==, c.kms_ca);
  g_assert_true(g_bytes_equal(back.psk_id, c.psk_id));
  g_assert_true(mikey_secret_equal(back.psk, c.psk));
  credential_clear(&back);
  g_assert_null(back.psk);
  credential_clear(&back); /* idempotent */

  /* Overwriting an existing file keeps 0600 even under a permissive umask. */
  mode_t old = umask(0);
  g_assert_true(credential_save(path, &c, &error));
  umask(old);
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0600);
  credential_clear(&c);
}

static void test_http_without_ca(Fixture *f, gconstpointer data)
{
  Credential c;
  fill(&c, FALSE);
  g_autofree char *path = g_build_filename(f->dir, "bob.cred", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_save(path, &c, &error));
  g_assert_no_error(error);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_null(strstr(text, "kms-ca"));

  Credential back;
  g_assert_true(credential_load(path, &back, &error));
  g_assert_no_error(error);
  g_assert_null(back.kms_ca);
  g_assert_cmpstr(back.kms_url, ==, "http://127.0.0.1:8080/mikey");
  credential_clear(&back);
  credential_clear(&c);
}

static void test_refuse_readable(Fixture *f, gconstpointer data)
{
  Credential c;
  fill(&c, TRUE);
  g_autofree char *path = g_build_filename(f->dir, "open.cred", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_save(path, &c, &error));
  credential_clear(&c);

  static const int modes[] = { 0644, 0640, 0604, 0660, 0620 };
  for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
    g_assert_cmpint(g_chmod(path, modes[i]), ==, 0);
    Credential back;
    g_clear_error(&error);
    g_assert_false(credential_load(path, &back, &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "chmod 600"));
    g_assert_null(back.psk);
  }
  g_assert_cmpint(g_chmod(path, 0400), ==, 0);
  Credential back;
  g_clear_error(&error);
  g_assert_true(credential_load(path, &back, &error));
  g_assert_no_error(error);
  credential_clear(&back);
}

typedef struct {
  const char *name;
  const char *text;
  const char *message; /* what the error must say, after "<path>: " */
} BadFile;

static void test_bad_files(Fixture *f, gconstpointer data)
{
  const char *good_tail = "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
                          "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
  g_autofree char *head = g_strdup("[credential]\n"
                                   "identity=sip:alice@example.org\n"
                                   "kms-uri=kms.example.org\n"
                                   "kms-url=http://127.0.0.1:8080/mikey\n");
  const BadFile cases[] = {
    { "no-psk",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n",
      "missing key psk" },
    { "short-psk",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\npsk=0001\n",
      "psk is not 64 hex digits" },
    { "long-psk",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
      "psk is not 64 hex digits" },
    { "nonhex-psk",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "psk is not 64 hex digits" },
    { "short-id",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "psk-id is not 32 hex digits" },
    { "no-identity",
      "[credential]\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "missing key identity" },
    { "bad-identity",
      "[credential]\nidentity=alice\nkms-uri=k\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "identity: invalid URI" },
    { "no-kms-url",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "missing key kms-url" },
    { "no-kms-uri",
      "[credential]\nidentity=sip:a@b\nkms-url=http://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "missing key kms-uri" },
    { "https-no-ca",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=https://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "kms-ca is required" },
    { "ftp-url",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=ftp://h/\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "kms-url is not an http:// or https:// URL" },
    { "unknown-key",
      "[credential]\nidentity=sip:a@b\nkms-uri=k\nkms-url=http://h/\n"
      "kms_ca=/x\n"
      "psk-id=92dc0a1b2c3d4e5f60718293a4b5c6d7\n"
      "psk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "unknown key 'kms_ca'" },
    { "no-group", "identity=sip:a@b\n", "missing key psk" },
    { "other-group",
      "[cred]\npsk=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      "missing key psk" },
    { "empty", "", "missing key psk" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *name = g_strdup_printf("%s.cred", cases[i].name);
    g_autofree char *path = write_file(f, name, cases[i].text, 0600);
    Credential c;
    g_autoptr(GError) error = NULL;
    gboolean ok = credential_load(path, &c, &error);
    if (ok)
      g_error("%s: accepted", cases[i].name);
    g_assert_nonnull(error);
    g_autofree char *prefix = g_strdup_printf("%s: ", path);
    if (!g_str_has_prefix(error->message, prefix) ||
        strstr(error->message, cases[i].message) == NULL)
      g_error("%s: error '%s' does not name the file and say '%s'", cases[i].name, error->message,
              cases[i].message);
    /* Never the key itself in a message. */
    g_assert_null(strstr(error->message, "0102030405060708"));
    g_assert_null(c.psk);
    g_assert_null(c.identity);
  }

  /* The good tail after the head loads (the table above is not failing for another reason). */
  g_autofree char *good = g_strconcat(head, good_tail, NULL);
  g_autofree char *path = write_file(f, "good.cred", good, 0600);
  Credential c;
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_load(path, &c, &error));
  g_assert_no_error(error);
  credential_clear(&c);

  /* A missing file names it. */
  g_autofree char *missing = g_build_filename(f->dir, "missing.cred", NULL);
  g_assert_false(credential_load(missing, &c, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull(strstr(error->message, missing));
}

static void test_tolerant_syntax(Fixture *f, gconstpointer data)
{
  /* Whitespace around '=' and upper-case hex are what a hand edit produces. */
  g_autofree char *path =
      write_file(f, "hand.cred",
                 "[credential]\n"
                 "identity = sip:alice@example.org\n"
                 "kms-uri = kms.example.org\n"
                 "kms-url = http://127.0.0.1:8080/mikey\n"
                 "psk-id = 92DC0A1B2C3D4E5F60718293A4B5C6D7\n"
                 "psk = 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n",
                 0600);
  Credential c, ref;
  fill(&ref, FALSE);
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_load(path, &c, &error));
  g_assert_no_error(error);
  g_assert_true(mikey_secret_equal(c.psk, ref.psk));
  g_assert_true(g_bytes_equal(c.psk_id, ref.psk_id));
  g_assert_cmpstr(c.identity, ==, "sip:alice@example.org");
  credential_clear(&c);
  credential_clear(&ref);
}

static void test_save_refuses(Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename(f->dir, "x.cred", NULL);
  Credential c;
  g_autoptr(GError) error = NULL;

  fill(&c, TRUE);
  g_clear_pointer(&c.kms_ca, g_free);
  g_assert_false(credential_save(path, &c, &error));
  g_assert_nonnull(strstr(error->message, "kms-ca"));
  credential_clear(&c);
  g_clear_error(&error);

  fill(&c, TRUE);
  g_bytes_unref(c.psk_id);
  c.psk_id = g_bytes_new("short", 5);
  g_assert_false(credential_save(path, &c, &error));
  g_assert_nonnull(strstr(error->message, "psk-id"));
  credential_clear(&c);
  g_clear_error(&error);

  fill(&c, TRUE);
  g_free(c.identity);
  c.identity = g_strdup("sip:alice@example.org\nkms-url=http://evil/");
  g_assert_false(credential_save(path, &c, &error));
  credential_clear(&c);
  g_clear_error(&error);

  fill(&c, TRUE);
  mikey_secret_free(c.psk);
  c.psk = mikey_secret_new(16);
  g_assert_false(credential_save(path, &c, &error));
  g_assert_nonnull(strstr(error->message, "psk"));
  credential_clear(&c);
  g_clear_error(&error);

  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

  /* A directory that does not exist: the error names the file. */
  fill(&c, TRUE);
  g_autofree char *nodir = g_build_filename(f->dir, "nope", "x.cred", NULL);
  g_assert_false(credential_save(nodir, &c, &error));
  g_assert_nonnull(strstr(error->message, nodir));
  credential_clear(&c);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/credential/round-trip", test_round_trip);
  ADD("/credential/http-without-ca", test_http_without_ca);
  ADD("/credential/refuse-readable", test_refuse_readable);
  ADD("/credential/bad-files", test_bad_files);
  ADD("/credential/tolerant-syntax", test_tolerant_syntax);
  ADD("/credential/save-refuses", test_save_refuses);
  return g_test_run();
}
