/* Identities (profile 1): RFC 3261 19.1.4 comparison as the KMS and the focus apply it, the
 * canonical form stores key on, the '*' patterns of resolves-for / factory-uris /
 * conference-uris, and the refusal of malformed or hostile input. */
#include "common/sipuri.h"

#include <gio/gio.h>
#include <string.h>

typedef struct {
  const char *a;
  const char *b;
} Pair;

static void test_equal(void)
{
  static const Pair same[] = {
    { "sip:alice@example.org", "sip:alice@example.org" },
    { "SIP:alice@example.org", "sip:alice@example.org" },     /* scheme case */
    { "sip:alice@EXAMPLE.Org", "sip:alice@example.org" },     /* host case */
    { "sip:%61lice@example.org", "sip:alice@example.org" },   /* %-escape */
    { "sip:%61lice@example.org", "sip:%61lice@example.org" }, /* both escaped */
    { "sip:a%6cice@example.org", "sip:alice@example.org" },   /* lower-case hex digits */
    { "sip:alice@example.org;transport=tcp", "sip:alice@example.org" },
    { "sip:alice@example.org;transport=tcp", "sip:alice@example.org;lr" },
    { "sip:alice@example.org?subject=hi", "sip:alice@example.org" },
    { "sip:alice@example.org:5070", "sip:alice@Example.org:5070;maddr=x" },
    { "\"Alice\" <sip:alice@example.org>", "sip:alice@example.org" },
    { "Alice <sip:alice@example.org>;tag=123", "sip:alice@example.org" },
    { "<sip:alice@example.org>", "sip:alice@example.org" },
    { "\"A <b> \\\" c\" <sip:alice@example.org>", "sip:alice@example.org" },
    { "sips:bob@example.org", "SIPS:bob@EXAMPLE.ORG" },
    { "sip:example.org", "sip:EXAMPLE.ORG" }, /* no user part */
    { "sip:[2001:DB8::1]:5060", "sip:[2001:db8::1]:5060" },
    { "sip:conf-0123@example.org", "sip:conf-0123@example.org;isfocus" },
    { "tel:+1-201-555-0123", "TEL:+1-201-555-0123" }, /* other scheme: scheme case only */
    { "urn:service:mcptt", "URN:service:mcptt" },
    { " sip:alice@example.org ", "sip:alice@example.org" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(same); i++) {
    if (!sip_uri_equal(same[i].a, same[i].b) || !sip_uri_equal(same[i].b, same[i].a))
      g_error("expected equal: '%s' and '%s'", same[i].a, same[i].b);
  }
}

static void test_unequal(void)
{
  static const Pair differ[] = {
    { "sip:alice@example.org", "sip:Alice@example.org" },      /* user case-sensitive */
    { "sip:alice@example.org", "sip:alice@example.org:5060" }, /* absent port != 5060 */
    { "sip:alice@example.org:5060", "sip:alice@example.org:5061" },
    { "sip:alice@example.org:5060", "sip:alice@example.org:05060" }, /* port literal */
    { "sip:alice@example.org", "sips:alice@example.org" },           /* different schemes */
    { "sip:alice@example.org", "sip:bob@example.org" },
    { "sip:alice@example.org", "sip:alice@example.com" },
    { "sip:alice@example.org", "sip:example.org" },           /* user vs no user */
    { "sip:%41lice@example.org", "sip:alice@example.org" },   /* %41 is 'A' */
    { "sip:al%40ice@example.org", "sip:al@ice@example.org" }, /* the second one is invalid */
    { "tel:+1-201-555-0123", "tel:+1-201-555-0123;x" },       /* other scheme: byte exact */
    { "tel:abc", "tel:ABC" },
    { "tel:alice@example.org", "sip:alice@example.org" },
    { "sip:alice@example.org", "" },
    { "sip:alice@example.org", "garbage" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(differ); i++) {
    if (sip_uri_equal(differ[i].a, differ[i].b) || sip_uri_equal(differ[i].b, differ[i].a))
      g_error("expected different: '%s' and '%s'", differ[i].a, differ[i].b);
  }
  g_assert_false(sip_uri_equal(NULL, "sip:a@b"));
  g_assert_false(sip_uri_equal(NULL, NULL));
}

static void test_parse_fields(void)
{
  g_autoptr(GError) error = NULL;
  SipUri uri;
  const char *text = "\"Alice\" <SIP:%61l%69ce@Example.ORG:5070;transport=tcp?h=v>;tag=1";
  g_assert_true(sip_uri_parse(text, strlen(text), &uri, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(uri.scheme, ==, "sip");
  g_assert_cmpstr(uri.user, ==, "alice");
  g_assert_cmpstr(uri.host, ==, "example.org");
  g_assert_cmpstr(uri.port, ==, "5070");
  sip_uri_clear(&uri);
  g_assert_null(uri.scheme);

  g_assert_true(sip_uri_parse("sip:example.org", (gsize)-1, &uri, &error));
  g_assert_null(uri.user);
  g_assert_null(uri.port);
  g_assert_cmpstr(uri.host, ==, "example.org");
  sip_uri_clear(&uri);

  /* The user part may carry ';' and '?' (RFC 3261 user-unreserved). */
  g_assert_true(sip_uri_parse("sip:a;b?c@h;p", (gsize)-1, &uri, &error));
  g_assert_cmpstr(uri.user, ==, "a;b?c");
  g_assert_cmpstr(uri.host, ==, "h");
  sip_uri_clear(&uri);

  g_assert_true(sip_uri_parse("Tel:+49-89;phone-context=x", (gsize)-1, &uri, &error));
  g_assert_cmpstr(uri.scheme, ==, "tel");
  g_assert_null(uri.user);
  g_assert_cmpstr(uri.host, ==, "+49-89;phone-context=x");
  sip_uri_clear(&uri);

  /* Only len bytes are read. */
  g_assert_true(sip_uri_parse("sip:bob@example.orgXYZ", 19, &uri, &error));
  g_assert_cmpstr(uri.host, ==, "example.org");
  sip_uri_clear(&uri);
  sip_uri_clear(NULL);
}

static void test_normalize(void)
{
  static const Pair cases[] = {
    { "SIP:%61lice@EXAMPLE.org:5070;transport=tcp", "sip:alice@example.org:5070" },
    { "\"Bob\" <sips:bob@Example.org>;tag=9", "sips:bob@example.org" },
    { "sip:al%40ice@example.org", "sip:al%40ice@example.org" },
    { "sip:al%2fice@example.org", "sip:al/ice@example.org" }, /* '/' needs no escape */
    { "sip:%c3%a9t%C3%A9@example.org", "sip:%C3%A9t%C3%A9@example.org" },
    { "sip:a%20b@example.org", "sip:a%20b@example.org" },
    { "sip:a%25b@example.org", "sip:a%25b@example.org" },
    { "sip:EXAMPLE.org", "sip:example.org" },
    { "TEL:+1-201-555-0123", "tel:+1-201-555-0123" },
    { "sip:conf-ABC@example.org", "sip:conf-ABC@example.org" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *norm = sip_uri_normalize(cases[i].a, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(norm, ==, cases[i].b);
    /* The normal form is a fixed point and the same identity. */
    g_autofree char *again = sip_uri_normalize(norm, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again, ==, norm);
    g_assert_true(sip_uri_equal(norm, cases[i].a));
  }
  g_autoptr(GError) error = NULL;
  g_assert_null(sip_uri_normalize("sip:@example.org", &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void assert_refused(const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  SipUri uri;
  if (sip_uri_parse(text, len, &uri, &error)) {
    g_autofree char *shown = g_strescape(text != NULL ? text : "(null)", NULL);
    g_error("accepted malformed URI '%s' (len %" G_GSIZE_FORMAT ")", shown, len);
  }
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null(uri.scheme);
  g_assert_null(uri.host);
}

static void test_malformed(void)
{
  static const char *const bad[] = {
    "",
    " ",
    "alice@example.org",            /* no scheme */
    ":alice@example.org",           /* empty scheme */
    "1sip:alice@example.org",       /* scheme must start with a letter */
    "sip:",                         /* nothing after the scheme */
    "sip:@",                        /* empty user and host */
    "sip:@example.org",             /* empty user */
    "sip:alice@",                   /* empty host */
    "sip:alice@;transport=tcp",     /* empty host before params */
    "sip:%4@example.org",           /* truncated escape */
    "sip:alice%4@example.org",      /* truncated escape */
    "sip:al%zzice@example.org",     /* not hex */
    "sip:al%00ice@example.org",     /* NUL by escape */
    "sip:al%0aice@example.org",     /* newline by escape */
    "sip:alice:secret@example.org", /* password */
    "sip:alice@example.org:",       /* empty port */
    "sip:alice@example.org:50x0",   /* port not a number */
    "sip:alice@example.org:123456", /* port too long */
    "sip:alice@exa mple.org",       /* space */
    "sip:ali ce@example.org",
    "sip:alice@exa%41mple.org", /* escapes in the host */
    "sip:alice@[2001:db8::1",   /* unterminated IPv6 */
    "sip:alice@[]",
    "sip:alice@[2001:db8::1]x",    /* junk after IPv6 */
    "sip:alice@example.org;a=b@c", /* '@' in params */
    "<sip:alice@example.org",      /* unbalanced */
    "sip:alice@example.org>",
    "\"Alice <sip:alice@example.org>", /* unterminated quote */
    "\"Alice\" sip:alice@example.org", /* display name without <> */
    "<>",
    "sip:alice@example.org\r\nVia: x", /* header injection */
    "sip:alice@exam\tple.org",
    "tel:",
    "tel:has space",
    /* found by fuzzing: a '<' inside the URI made a normal form that did not parse back */
    "S\"A\"8<sipm:8<sip%6s11@:[y>",
    "<tel:a<b>",
    "tel:a\"b",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
    assert_refused(bad[i], strlen(bad[i]));
  assert_refused(NULL, 0);

  /* Embedded NUL through the _len variant: not "sip:alice@example.org". */
  static const char with_nul[] = "sip:alice@example.org\0.evil.com";
  assert_refused(with_nul, sizeof with_nul - 1);
  g_assert_false(
      sip_uri_equal_len(with_nul, sizeof with_nul - 1, "sip:alice@example.org", (gsize)-1));
  static const char nul_user[] = "sip:ali\0ce@example.org";
  assert_refused(nul_user, sizeof nul_user - 1);

  /* Very long input: refused past 1024 bytes, accepted up to it. */
  GString *s = g_string_new("sip:");
  while (s->len < 1020)
    g_string_append_c(s, 'a');
  g_string_append(s, "@b.c");
  g_assert_cmpuint(s->len, ==, 1024);
  SipUri uri;
  g_assert_true(sip_uri_parse(s->str, s->len, &uri, NULL));
  sip_uri_clear(&uri);
  g_string_insert_c(s, 4, 'a');
  assert_refused(s->str, s->len);
  g_assert_false(sip_uri_equal(s->str, s->str));
  g_string_free(s, TRUE);

  GString *huge = g_string_new("sip:");
  for (int i = 0; i < 100000; i++)
    g_string_append(huge, "%41");
  g_string_append(huge, "@example.org");
  assert_refused(huge->str, huge->len);
  g_string_free(huge, TRUE);
}

typedef struct {
  const char *pattern;
  const char *uri;
  gboolean match;
} MatchCase;

static void test_match(void)
{
  static const MatchCase cases[] = {
    /* the KMS defaults (profile 1) */
    { "sip:conf-*@*", "sip:conf-0123456789abcdef0123456789abcdef@example.org", TRUE },
    { "sip:conf-*@*", "sip:conf-@example.org", TRUE },
    { "sip:conf-*@*", "sip:CONF-1@example.org", FALSE }, /* user part is case-sensitive */
    { "sip:conf-*@*", "sip:alice@example.org", FALSE },
    { "sip:conf-*@*", "sips:conf-1@example.org", FALSE }, /* scheme */
    { "sip:conf-*@*", "sip:conf-1@example.org:5070", TRUE },
    { "sip:conf-*@*", "sip:%63onf-1@example.org", TRUE }, /* matched after unescaping */
    { "sip:conf-*@*", "<sip:conf-1@example.org;transport=tcp>", TRUE },
    { "sip:conference-factory@*", "sip:conference-factory@example.org", TRUE },
    { "sip:conference-factory@*", "sip:conference-factory@EXAMPLE.ORG:5060", TRUE },
    { "sip:conference-factory@*", "sip:conference-factory2@example.org", FALSE },
    { "sip:conference-factory@*", "sip:xconference-factory@example.org", FALSE },
    /* host globs are against lower-case host[:port] */
    { "sip:conf-*@example.org", "sip:conf-1@Example.ORG", TRUE },
    { "sip:conf-*@EXAMPLE.org", "sip:conf-1@example.org", TRUE },
    { "sip:conf-*@example.org", "sip:conf-1@example.org:5060", FALSE },
    { "sip:conf-*@example.org", "sip:conf-1@example.org.evil.com", FALSE },
    { "sip:conf-*@example.org:5060", "sip:conf-1@example.org:5060", TRUE },
    { "sip:conf-*@example.org:5060", "sip:conf-1@example.org", FALSE },
    { "sip:conf-*@example.org:*", "sip:conf-1@example.org:5070", TRUE },
    { "sip:conf-*@*.example.org", "sip:conf-1@a.example.org", TRUE },
    { "sip:conf-*@*.example.org", "sip:conf-1@example.org", FALSE },
    /* user glob only inside the user part: '*' never crosses '@' */
    { "sip:a*@b", "sip:a@x@b", FALSE },
    /* without '@': URIs without a user part only */
    { "sip:*", "sip:example.org", TRUE },
    { "sip:*", "sip:alice@example.org", FALSE },
    { "sip:*@*", "sip:example.org", FALSE },
    { "sip:*@*", "sip:alice@example.org", TRUE },
    { "SIP:alice@*", "sip:alice@example.org", TRUE },
    /* other schemes: glob against the byte-exact rest */
    { "tel:+1-*", "tel:+1-201-555-0123", TRUE },
    { "tel:+1-*", "TEL:+1-201", TRUE },
    { "tel:+1-*", "tel:+44-1", FALSE },
    /* invalid patterns or URIs never match */
    { "conf-*@*", "sip:conf-1@example.org", FALSE },
    { "sip:conf-*@", "sip:conf-1@example.org", FALSE },
    { "sip:@*", "sip:conf-1@example.org", FALSE },
    { "", "sip:conf-1@example.org", FALSE },
    { "sip:*@*", "sip:@example.org", FALSE },
    { "sip:*@*", "", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    gboolean m = sip_uri_match(cases[i].pattern, cases[i].uri);
    if (m != cases[i].match)
      g_error("pattern '%s' on '%s': got %s, expected %s", cases[i].pattern, cases[i].uri,
              m ? "match" : "no match", cases[i].match ? "match" : "no match");
  }
  g_assert_false(sip_uri_match(NULL, "sip:a@b"));
  g_assert_false(sip_uri_match("sip:*@*", NULL));
}

static void test_pattern_valid(void)
{
  static const char *const good[] = {
    "sip:conf-*@*",
    "sip:conference-factory@*",
    "sip:*",
    "sips:*@example.org:5061",
    "sip:*@[2001:db8::1]",
    "tel:*",
    "sip:%61*@*",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    if (!sip_uri_pattern_valid(good[i], &error))
      g_error("pattern '%s' refused: %s", good[i], error->message);
  }
  static const char *const bad[] = {
    "",          "*",
    "conf-*@*",  "*:alice@*",
    "sip:",      "sip:conf-*@",
    "sip:@*",    "sip:a b@*",
    "sip:a@b c", "sip:a@b;transport=tcp",
    "sip:%4*@*", "sip:a@b\n",
    "sip:a@<b>",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    if (sip_uri_pattern_valid(bad[i], &error))
      g_error("pattern '%s' accepted", bad[i]);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  }
  g_autoptr(GError) error = NULL;
  g_assert_false(sip_uri_pattern_valid(NULL, &error));
  g_assert_nonnull(error);
}

static void test_glob(void)
{
  g_assert_true(glob_match("*", ""));
  g_assert_true(glob_match("*", "abc"));
  g_assert_true(glob_match("", ""));
  g_assert_false(glob_match("", "a"));
  g_assert_true(glob_match("abc", "abc"));
  g_assert_false(glob_match("abc", "abcd"));
  g_assert_false(glob_match("abcd", "abc"));
  g_assert_true(glob_match("a*c", "abbbc"));
  g_assert_true(glob_match("a*c", "ac"));
  g_assert_false(glob_match("a*c", "acb"));
  g_assert_true(glob_match("a*b*c", "axxbyyc"));
  g_assert_true(glob_match("a*b*c", "abcbc"));
  g_assert_false(glob_match("a*b*c", "acb"));
  g_assert_true(glob_match("**a**", "bab"));
  g_assert_true(glob_match("*ab", "aab"));
  g_assert_false(glob_match("?", "a")); /* only '*' is special */
  g_assert_true(glob_match("?", "?"));
  g_assert_false(glob_match(NULL, "a"));
  g_assert_false(glob_match("a", NULL));

  /* Pathological backtracking stays fast (would take ages if exponential). */
  GString *p = g_string_new(NULL), *t = g_string_new(NULL);
  for (int i = 0; i < 200; i++)
    g_string_append(p, "*a");
  g_string_append(p, "b");
  for (int i = 0; i < 1000; i++)
    g_string_append_c(t, 'a');
  g_assert_false(glob_match(p->str, t->str));
  g_string_free(p, TRUE);
  g_string_free(t, TRUE);
}

/* Deterministic noise through the parser: never crashes, and every accepted URI normalises to
 * a fixed point (the same property the fuzz harness checks). */
static void test_noise(void)
{
  static const char alphabet[] = "sip:SIP@%<>\";?=.-_*[]:0123456789aAfFzZ \t\r\n\x01\x7f\xc3\xa9";
  GRand *rand = g_rand_new_with_seed(6043);
  int accepted = 0;
  for (int round = 0; round < 20000; round++) {
    char buf[64];
    gsize len = (gsize)g_rand_int_range(rand, 0, sizeof buf);
    gsize prefix = 0;
    if (g_rand_boolean(rand)) {
      memcpy(buf, "sip:", 4);
      prefix = MIN(len, 4);
    }
    /* Half the rounds without the control characters and the space (the first 38 characters),
     * so that a fair share of the inputs parses. */
    gint32 alpha_len = g_rand_boolean(rand) ? 38 : (gint32)sizeof alphabet - 1;
    for (gsize i = prefix; i < len; i++)
      buf[i] = alphabet[g_rand_int_range(rand, 0, alpha_len)];
    SipUri uri;
    if (sip_uri_parse(buf, len, &uri, NULL)) {
      g_autofree char *copy = g_strndup(buf, len);
      g_autofree char *norm = sip_uri_normalize(copy, NULL);
      g_assert_nonnull(norm);
      g_autofree char *again = sip_uri_normalize(norm, NULL);
      g_assert_cmpstr(again, ==, norm);
      g_assert_true(sip_uri_equal(norm, copy));
      sip_uri_clear(&uri);
      accepted++;
    }
  }
  g_rand_free(rand);
  g_assert_cmpint(accepted, >, 200); /* the property above was checked on real URIs */
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sipuri/equal", test_equal);
  g_test_add_func("/sipuri/unequal", test_unequal);
  g_test_add_func("/sipuri/parse-fields", test_parse_fields);
  g_test_add_func("/sipuri/normalize", test_normalize);
  g_test_add_func("/sipuri/malformed", test_malformed);
  g_test_add_func("/sipuri/match", test_match);
  g_test_add_func("/sipuri/pattern-valid", test_pattern_valid);
  g_test_add_func("/sipuri/glob", test_glob);
  g_test_add_func("/sipuri/noise", test_noise);
  return g_test_run();
}
