/* Ticket policy checks (src/mikey/policy.c) and NTP time (src/mikey/ntp.c):
 * mikey-ticket.md §1.4, §2.3, traps 17-18; profile.md §4-§5. */
#include "error.h"
#include "msg.h"
#include "ntp.h"
#include "policy.h"

#include <string.h>

#define NTP_UNIX_OFFSET G_GINT64_CONSTANT(2208988800)
#define SEC(s) ((guint64)(s) << 32) /* a whole number of seconds as an NTP 64-bit delta */

/* Exchange A (vectors/exchange/README.md): TRs, TRe, T(TRANSFER_INIT). */
#define A_TRS G_GUINT64_CONSTANT(0xed00b6101a2b0000)
#define A_TRE G_GUINT64_CONSTANT(0xed00c4201a2b0000)
#define A_T_TRANSFER_INIT G_GUINT64_CONSTANT(0xed00b61180000000)

#define PROFILE_FLAGS                                                                              \
  (MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I | MIKEY_TP_J |      \
   MIKEY_TP_N | MIKEY_TP_O)

/* ---- helpers ---- */

typedef struct {
  MikeyTicketBody tp;
} Policy;

static Policy *policy_new(void)
{
  Policy *p = g_new0(Policy, 1);
  p->tp.ticket_type = MIKEY_TICKET_TYPE_MIKEY_BASE;
  p->tp.subtype = 1;
  p->tp.version = 1;
  p->tp.prf = MIKEY_PRF_HMAC_SHA256;
  p->tp.flags = PROFILE_FLAGS;
  p->tp.tp_data = mikey_chain_new();
  return p;
}

static void policy_free(Policy *p)
{
  g_ptr_array_unref(p->tp.tp_data);
  g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Policy, policy_free)

static void policy_add_tr(Policy *p, MikeyTsRole role, MikeyTsType type, guint64 value)
{
  g_ptr_array_add(p->tp.tp_data, mikey_payload_new_tr(role, type, value));
}

/* A policy with TRs/TRe as NTP-UTC; 0 = absent. */
static Policy *policy_window(guint64 trs, guint64 tre)
{
  Policy *p = policy_new();
  g_ptr_array_add(p->tp.tp_data, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_KMS, "kms.example.org"));
  if (trs)
    policy_add_tr(p, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC, trs);
  if (tre)
    policy_add_tr(p, MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC, tre);
  g_ptr_array_add(p->tp.tp_data, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, "sip:bob@example.org"));
  return p;
}

static void assert_valid(const Policy *p, guint64 now, guint skew)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = mikey_policy_check_validity(&p->tp, now, skew, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
}

static void assert_invalid(const Policy *p, guint64 now, guint skew, int code, const char *text)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = mikey_policy_check_validity(&p->tp, now, skew, &error);
  g_assert_false(ok);
  g_assert_error(error, MIKEY_ERROR, code);
  if (!strstr(error->message, text))
    g_error("\"%s\" does not contain \"%s\"", error->message, text);
}

static guint64 ntp_of_iso(const char *iso)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(iso, NULL);
  g_assert_nonnull(dt);
  return mikey_ntp_from_unix_usec(g_date_time_to_unix(dt) * G_USEC_PER_SEC);
}

static char *iso_of_unix(gint64 sec)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(sec);
  g_assert_nonnull(dt);
  return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

/* ---- NTP ---- */

static void test_ntp_known_values(void)
{
  /* Unix epoch. */
  g_assert_cmphex(mikey_ntp_from_unix_usec(0), ==, (guint64)NTP_UNIX_OFFSET << 32);
  g_assert_cmpint(mikey_ntp_to_unix_usec((guint64)NTP_UNIX_OFFSET << 32), ==, 0);
  /* 2026-01-01T09:00:00Z is 0xed00b610 NTP seconds (exchange A). */
  g_assert_cmphex(ntp_of_iso("2026-01-01T09:00:00Z") >> 32, ==, 0xed00b610);
  g_autofree char *a = iso_of_unix(mikey_ntp_to_unix_sec(A_TRS));
  g_assert_cmpstr(a, ==, "2026-01-01T09:00:00Z");
  /* Half a second is 0x80000000 of fraction. */
  g_assert_cmphex(mikey_ntp_from_unix_usec(500000) & 0xffffffffu, ==, 0x80000000u);
  g_assert_cmpint(mikey_ntp_to_unix_usec(A_T_TRANSFER_INIT) % G_USEC_PER_SEC, ==, 500000);
  /* 2040-01-01 is in era 1: top bit clear. */
  guint64 y2040 = ntp_of_iso("2040-01-01T00:00:00Z");
  g_assert_cmphex(y2040 >> 32, ==, 0x0754fd00);
  g_assert_cmpint(mikey_ntp_to_unix_sec(y2040), ==, G_GINT64_CONSTANT(2208988800));
  /* Before 1970: 1969-12-31T23:59:59.5Z. */
  guint64 pre = mikey_ntp_from_unix_usec(-500000);
  g_assert_cmphex(pre, ==, ((guint64)(NTP_UNIX_OFFSET - 1) << 32) | 0x80000000u);
  g_assert_cmpint(mikey_ntp_to_unix_usec(pre), ==, -500000);
}

static void test_ntp_round_trip(void)
{
  static const gint64 secs[] = {
    0,          1,          -1,         946684800, 1767258000, 2085978495,
    2085978496, 2208988800, 4102444800, -61505152, 4233462143, 1234567890,
  };
  static const gint64 usecs[] = { 0, 1, 499999, 500000, 500001, 999999, 123456 };
  for (guint i = 0; i < G_N_ELEMENTS(secs); i++)
    for (guint j = 0; j < G_N_ELEMENTS(usecs); j++) {
      gint64 us = secs[i] * G_USEC_PER_SEC + usecs[j];
      guint64 ntp = mikey_ntp_from_unix_usec(us);
      g_assert_cmpint(mikey_ntp_to_unix_usec(ntp), ==, us);
      g_assert_cmpint(mikey_ntp_to_unix_sec(ntp), ==, secs[i]);
    }
  /* Every microsecond of one second. */
  for (gint64 us = 0; us < G_USEC_PER_SEC; us++) {
    gint64 t = G_GINT64_CONSTANT(1767258000) * G_USEC_PER_SEC + us;
    g_assert_cmpint(mikey_ntp_to_unix_usec(mikey_ntp_from_unix_usec(t)), ==, t);
  }
  /* NTP -> Unix -> NTP is exact to the microsecond. */
  guint64 ntp = A_TRS;
  guint64 back = mikey_ntp_from_unix_usec(mikey_ntp_to_unix_usec(ntp));
  g_assert_cmpuint(back >> 32, ==, ntp >> 32);
  gint64 frac_diff = (gint64)(back & 0xffffffffu) - (gint64)(ntp & 0xffffffffu);
  g_assert_cmpint(ABS(frac_diff), <=, 4295 / 2 + 1);
  /* A fraction that rounds up to a whole second carries into the seconds. */
  guint64 almost = SEC(0xed00b610) | 0xffffffffu;
  g_assert_cmpint(mikey_ntp_to_unix_usec(almost), ==,
                  G_GINT64_CONSTANT(1767258001) * G_USEC_PER_SEC);
}

static void test_ntp_era(void)
{
  struct {
    guint32 ntp;
    const char *utc;
  } cases[] = {
    { 0x80000000u, "1968-01-20T03:14:08Z" }, /* first second of the range */
    { 0xffffffffu, "2036-02-07T06:28:15Z" }, /* last second of era 0 */
    { 0x00000000u, "2036-02-07T06:28:16Z" }, /* first second of era 1 */
    { 0x7fffffffu, "2104-02-26T09:42:23Z" }, /* last second of the range */
    { 0xed00b610u, "2026-01-01T09:00:00Z" }, { 0x0754fd00u, "2040-01-01T00:00:00Z" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *s32 = iso_of_unix(mikey_ntp32_to_unix_sec(cases[i].ntp));
    g_assert_cmpstr(s32, ==, cases[i].utc);
    g_autofree char *s64 = iso_of_unix(mikey_ntp_to_unix_sec(SEC(cases[i].ntp) | 0x12345678u));
    g_assert_cmpstr(s64, ==, cases[i].utc);
    /* And back. */
    g_assert_cmphex(ntp_of_iso(cases[i].utc) >> 32, ==, cases[i].ntp);
  }
  g_assert_cmpint(mikey_ntp32_to_unix_sec(0x00000000u) - mikey_ntp32_to_unix_sec(0xffffffffu), ==,
                  1);
}

static void test_ntp_compare_and_within(void)
{
  guint64 t = A_TRS;
  g_assert_cmpint(mikey_ntp_compare(t, t, 0), ==, 0);
  g_assert_cmpint(mikey_ntp_compare(t + 1, t, 0), >, 0);
  g_assert_cmpint(mikey_ntp_compare(t, t + 1, 0), <, 0);
  g_assert_cmpint(mikey_ntp_compare(t + SEC(5), t, 5), ==, 0);
  g_assert_cmpint(mikey_ntp_compare(t + SEC(5) + 1, t, 5), >, 0);
  g_assert_cmpint(mikey_ntp_compare(t + SEC(5) - 1, t, 5), <, 0);
  g_assert_cmpint(mikey_ntp_compare(t - SEC(5), t, -5), ==, 0);
  g_assert_cmpint(mikey_ntp_compare(t, t, G_MAXINT64), <, 0);
  g_assert_cmpint(mikey_ntp_compare(t, t, G_MININT64), >, 0);
  /* Across the era boundary: era 1 values are later though numerically smaller. */
  guint64 end0 = SEC(0xffffffffu), start1 = SEC(0);
  g_assert_cmpint(mikey_ntp_compare(start1, end0, 0), >, 0);
  g_assert_cmpint(mikey_ntp_compare(start1, end0, 1), ==, 0);
  g_assert_cmpint(mikey_ntp_compare(SEC(0x7fffffffu), SEC(0x80000000u), 0), >, 0);

  g_assert_true(mikey_ntp_within(t, t, 0));
  g_assert_true(mikey_ntp_within(t + SEC(120), t, 120));
  g_assert_false(mikey_ntp_within(t + SEC(120) + 1, t, 120));
  g_assert_true(mikey_ntp_within(t - SEC(120), t, 120));
  g_assert_false(mikey_ntp_within(t - SEC(120) - 1, t, 120));
  g_assert_true(mikey_ntp_within(t + 0x7fffffffu, t, 0) == FALSE);
  g_assert_true(mikey_ntp_within(start1 | 0x80000000u, end0, 1) == FALSE);
  g_assert_true(mikey_ntp_within(start1, end0 | 0x80000000u, 1));
  g_assert_true(mikey_ntp_within(SEC(0x10), SEC(0xfffffff0u), 32));
  g_assert_false(mikey_ntp_within(SEC(0x10), SEC(0xfffffff0u), 31));
  g_assert_true(mikey_ntp_within(SEC(0x80000000u), SEC(0x7fffffffu), G_MAXUINT));
}

static void test_ntp_now(void)
{
  gint64 before = g_get_real_time();
  guint64 now = mikey_ntp_now();
  gint64 after = g_get_real_time();
  gint64 us = mikey_ntp_to_unix_usec(now);
  g_assert_cmpint(us, >=, before);
  g_assert_cmpint(us, <=, after);
}

/* ---- type ---- */

static void test_type(void)
{
  g_autoptr(Policy) p = policy_new();
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_policy_check_type(&p->tp, &error));
  g_assert_no_error(error);

  struct {
    guint16 type;
    guint8 subtype, version;
  } bad[] = { { 2, 1, 1 }, { 0, 1, 1 }, { 0x0101, 1, 1 }, { 1, 0, 1 },
              { 1, 2, 1 }, { 1, 1, 0 }, { 1, 1, 2 },      { 1, 255, 255 } };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    p->tp.ticket_type = bad[i].type;
    p->tp.subtype = bad[i].subtype;
    p->tp.version = bad[i].version;
    g_assert_false(mikey_policy_check_type(&p->tp, &error));
    g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET);
    g_autofree char *want = g_strdup_printf("ticket type %u, subtype %u, version %u not supported",
                                            bad[i].type, bad[i].subtype, bad[i].version);
    g_assert_nonnull(strstr(error->message, want));
    g_clear_error(&error);
  }
}

/* ---- flags ---- */

static void test_flags_to_string(void)
{
  g_autofree char *a = mikey_policy_flags_to_string(PROFILE_FLAGS);
  g_assert_cmpstr(a, ==, "D E F G H I J N O");
  g_autofree char *none = mikey_policy_flags_to_string(0);
  g_assert_cmpstr(none, ==, "");
  g_autofree char *all = mikey_policy_flags_to_string(0xffff);
  g_assert_cmpstr(all, ==, "D E F G H I J K L M N O");
  g_autofree char *one = mikey_policy_flags_to_string(MIKEY_TP_K);
  g_assert_cmpstr(one, ==, "K");
  /* Wire bytes 03 fc 60 of exchange A: D is bit 0 of the PRF byte, E..L, M N O. */
  guint16 wire = (guint16)((0x03 & 1) << 11 | 0xfc << 3 | 0x60 >> 5);
  g_autofree char *w = mikey_policy_flags_to_string(wire);
  g_assert_cmpstr(w, ==, "D E F G H I J N O");
}

static void test_flags_valid(void)
{
  g_autoptr(GError) error = NULL;
  /* The profile grant (§5), with and without forking, with and without J and K. */
  static const guint16 good[] = {
    PROFILE_FLAGS,
    PROFILE_FLAGS & ~MIKEY_TP_I,
    PROFILE_FLAGS & ~MIKEY_TP_J,
    PROFILE_FLAGS | MIKEY_TP_K,
    /* The requests of exchanges A/B carry the same flags as the grants. */
    MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_J | MIKEY_TP_N |
        MIKEY_TP_O,
    /* Minimal consistent sets. */
    MIKEY_TP_D | MIKEY_TP_H,
    MIKEY_TP_D | MIKEY_TP_F | MIKEY_TP_G,
    MIKEY_TP_L | MIKEY_TP_H,
    MIKEY_TP_D | MIKEY_TP_F | MIKEY_TP_H | MIKEY_TP_M,
    MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_H | MIKEY_TP_I,
  };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    g_assert_true(mikey_policy_check_flags(good[i], TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(mikey_policy_check_flags(good[i], FALSE, &error));
    g_assert_no_error(error);
  }
}

static void test_flags_rules(void)
{
  /* Each set breaks exactly the rule(s) named and no other. */
  static const struct {
    guint16 flags;
    gboolean tgk;
    const char *rule, *also;
  } bad[] = {
    { MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_N | MIKEY_TP_O, TRUE,
      "not D => L", NULL },
    { MIKEY_TP_D | MIKEY_TP_G | MIKEY_TP_H, FALSE, "G => F", NULL },
    /* not G => H and not H => G are one condition (G or H): both are named. */
    { MIKEY_TP_D | MIKEY_TP_F, FALSE, "not G => H", "not H => G" },
    { MIKEY_TP_D | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I, TRUE, "I => E", NULL },
    { MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_K | MIKEY_TP_L, FALSE, "K => D",
      NULL },
    { MIKEY_TP_D | MIKEY_TP_H | MIKEY_TP_M, FALSE, "M => F", NULL },
    { MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_H | MIKEY_TP_I, TRUE, "I and TGK => F", NULL },
    /* The profile grant without one flag. */
    { PROFILE_FLAGS & ~MIKEY_TP_D, TRUE, "not D => L", NULL },
    { PROFILE_FLAGS & ~MIKEY_TP_E, TRUE, "I => E", NULL },
    { PROFILE_FLAGS & ~MIKEY_TP_F, FALSE, "G => F", NULL },
    { PROFILE_FLAGS & ~MIKEY_TP_F, TRUE, "G => F", "I and TGK => F" },
    { PROFILE_FLAGS & ~(MIKEY_TP_G | MIKEY_TP_H), TRUE, "not G => H", "not H => G" },
    { (PROFILE_FLAGS | MIKEY_TP_K | MIKEY_TP_L) & ~MIKEY_TP_D, TRUE, "K => D", NULL },
    { PROFILE_FLAGS | MIKEY_TP_M, TRUE, NULL, NULL }, /* M with F: fine */
  };
  static const char *const all_rules[] = {
    "not D => L", "G => F", "not G => H", "not H => G",
    "I => E",     "K => D", "M => F",     "I and TGK => F",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    if (!bad[i].rule) {
      g_assert_true(mikey_policy_check_flags(bad[i].flags, bad[i].tgk, &error));
      g_assert_no_error(error);
      continue;
    }
    g_assert_false(mikey_policy_check_flags(bad[i].flags, bad[i].tgk, &error));
    g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR);
    g_autofree char *names = mikey_policy_flags_to_string(bad[i].flags);
    g_autofree char *prefix = g_strdup_printf("ticket policy flags [%s] violate ", names);
    g_assert_true(g_str_has_prefix(error->message, prefix));
    /* The rules are listed as "<rule>: <why>" separated by "; " ("G => F" also occurs inside
     * "not G => H", hence the exact match on the separators). */
    for (guint r = 0; r < G_N_ELEMENTS(all_rules); r++) {
      gboolean expected = strcmp(all_rules[r], bad[i].rule) == 0 ||
                          (bad[i].also && strcmp(all_rules[r], bad[i].also) == 0);
      g_autofree char *first = g_strdup_printf("%s%s: ", prefix, all_rules[r]);
      g_autofree char *later = g_strdup_printf("; %s: ", all_rules[r]);
      gboolean named =
          g_str_has_prefix(error->message, first) || strstr(error->message, later) != NULL;
      if (named != expected)
        g_error("flags [%s]: rule \"%s\" named=%d expected=%d in \"%s\"", names, all_rules[r],
                named, expected, error->message);
    }
  }
  /* The I and TGK rule applies only with a TGK in the ticket. */
  g_assert_true(
      mikey_policy_check_flags(MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_H | MIKEY_TP_I, FALSE, NULL));
  /* Everything wrong at once: every rule whose premise holds. */
  g_autoptr(GError) error = NULL;
  g_assert_false(mikey_policy_check_flags(MIKEY_TP_I | MIKEY_TP_K | MIKEY_TP_M, TRUE, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR);
  for (guint r = 0; r < G_N_ELEMENTS(all_rules); r++)
    if (strcmp(all_rules[r], "G => F") != 0)
      g_assert_nonnull(strstr(error->message, all_rules[r]));
}

/* ---- validity ---- */

static void test_validity_window(void)
{
  g_autoptr(Policy) p = policy_window(A_TRS, A_TRE);
  guint64 trs = 0, tre = 0;
  g_assert_true(mikey_policy_get_trs(&p->tp, &trs));
  g_assert_true(mikey_policy_get_tre(&p->tp, &tre));
  g_assert_cmphex(trs, ==, A_TRS);
  g_assert_cmphex(tre, ==, A_TRE);

  /* Inside. */
  assert_valid(p, A_T_TRANSFER_INIT, 120);
  assert_valid(p, A_TRS, 0);
  assert_valid(p, A_TRE - 1, 0);
  assert_valid(p, A_TRE - 1, 120);
  assert_valid(p, A_TRS + SEC(1800), 120);
  /* Before TRs: allowed down to TRs - skew. */
  assert_valid(p, A_TRS - SEC(119), 120);
  assert_valid(p, A_TRS - SEC(120), 120);
  assert_invalid(p, A_TRS - SEC(120) - 1, 120, MIKEY_ERR_INVALID_TICKET, "ticket not yet valid");
  assert_invalid(p, A_TRS - SEC(121), 120, MIKEY_ERR_INVALID_TICKET,
                 "TRs 2026-01-01T09:00:00Z is after now 2026-01-01T08:57:59Z plus 120 s");
  assert_invalid(p, A_TRS - 1, 0, MIKEY_ERR_INVALID_TICKET, "not yet valid");
  /* At and after TRe: refused, whatever the skew. */
  assert_invalid(p, A_TRE, 120, MIKEY_ERR_INVALID_TICKET,
                 "ticket expired: TRe 2026-01-01T10:00:00Z is not after now 2026-01-01T10:00:00Z");
  assert_invalid(p, A_TRE + 1, 120, MIKEY_ERR_INVALID_TICKET, "ticket expired");
  assert_invalid(p, A_TRE + SEC(86400), 0, MIKEY_ERR_INVALID_TICKET, "ticket expired");
}

static void test_validity_empty_window(void)
{
  g_autoptr(Policy) equal = policy_window(A_TRS, A_TRS);
  assert_invalid(equal, A_TRS, 120, MIKEY_ERR_INVALID_TPPAR,
                 "TRe 2026-01-01T09:00:00Z is not after TRs 2026-01-01T09:00:00Z");
  g_autoptr(Policy) reversed = policy_window(A_TRE, A_TRS);
  assert_invalid(reversed, A_TRS + SEC(60), 120, MIKEY_ERR_INVALID_TPPAR, "validity is empty");
  /* One NTP unit apart is a (tiny) window. */
  g_autoptr(Policy) tiny = policy_window(A_TRS, A_TRS + 1);
  assert_valid(tiny, A_TRS, 0);
  /* The empty window is reported whatever the clock says. */
  assert_invalid(reversed, 0, 0, MIKEY_ERR_INVALID_TPPAR, "validity is empty");
}

static void test_validity_open_ended(void)
{
  g_autoptr(Policy) none = policy_window(0, 0);
  g_assert_false(mikey_policy_get_trs(&none->tp, NULL));
  g_assert_false(mikey_policy_get_tre(&none->tp, NULL));
  assert_valid(none, A_TRS, 0);
  assert_valid(none, SEC(0x80000000u), 0);
  assert_valid(none, SEC(0x7fffffffu), 0);

  g_autoptr(Policy) from = policy_window(A_TRS, 0);
  assert_valid(from, A_TRE + SEC(10 * 365 * 86400), 0);
  assert_invalid(from, A_TRS - SEC(121), 120, MIKEY_ERR_INVALID_TICKET, "not yet valid");

  g_autoptr(Policy) until = policy_window(0, A_TRE);
  assert_valid(until, SEC(0x80000000u), 0); /* 1968 */
  assert_invalid(until, A_TRE, 120, MIKEY_ERR_INVALID_TICKET, "expired");

  /* An empty TP Data. */
  g_autoptr(Policy) empty = policy_new();
  assert_valid(empty, A_TRS, 0);
}

static void test_validity_ntp_utc_32(void)
{
  /* Requests may use NTP-UTC-32 (profile §5); values are padded with a zero fraction. */
  g_autoptr(Policy) p = policy_new();
  policy_add_tr(p, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC_32, A_TRS >> 32);
  policy_add_tr(p, MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC_32, A_TRE >> 32);
  guint64 trs = 0, tre = 0;
  g_assert_true(mikey_policy_get_trs(&p->tp, &trs));
  g_assert_true(mikey_policy_get_tre(&p->tp, &tre));
  g_assert_cmphex(trs, ==, A_TRS & ~G_GUINT64_CONSTANT(0xffffffff));
  g_assert_cmphex(tre, ==, A_TRE & ~G_GUINT64_CONSTANT(0xffffffff));
  assert_valid(p, A_T_TRANSFER_INIT, 120);
  assert_invalid(p, A_TRE & ~G_GUINT64_CONSTANT(0xffffffff), 0, MIKEY_ERR_INVALID_TICKET,
                 "expired");

  /* Era 1: a window in 2039-2040, top bit clear. */
  guint64 s2039 = ntp_of_iso("2039-12-31T00:00:00Z");
  guint64 e2040 = ntp_of_iso("2040-01-01T00:00:00Z");
  g_assert_cmphex(s2039 >> 63, ==, 0);
  g_assert_cmphex(e2040 >> 63, ==, 0);
  g_autoptr(Policy) era1 = policy_new();
  policy_add_tr(era1, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC_32, s2039 >> 32);
  policy_add_tr(era1, MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC, e2040);
  assert_valid(era1, ntp_of_iso("2039-12-31T12:00:00Z"), 120);
  assert_invalid(era1, A_TRS, 120, MIKEY_ERR_INVALID_TICKET,
                 "TRs 2039-12-31T00:00:00Z is after now 2026-01-01T09:00:00Z");
  assert_invalid(era1, ntp_of_iso("2040-01-01T00:00:00Z"), 120, MIKEY_ERR_INVALID_TICKET,
                 "TRe 2040-01-01T00:00:00Z is not after now 2040-01-01T00:00:00Z");

  /* A window across the 2036 wrap: TRs (era 0) > TRe (era 1) as numbers, yet TRs is earlier. */
  g_autoptr(Policy) wrap = policy_new();
  policy_add_tr(wrap, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC_32, A_TRS >> 32);
  policy_add_tr(wrap, MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC_32, e2040 >> 32);
  g_assert_cmphex(A_TRS >> 32, >, e2040 >> 32);
  assert_valid(wrap, ntp_of_iso("2036-02-07T06:28:15Z"), 0);
  assert_valid(wrap, ntp_of_iso("2036-02-07T06:28:16Z"), 0);
  assert_valid(wrap, ntp_of_iso("2038-01-19T03:14:08Z"), 0);
  assert_invalid(wrap, e2040, 0, MIKEY_ERR_INVALID_TICKET, "expired");
  /* ... and reversed, TRe in 2026 and TRs in 2040: empty. */
  g_autoptr(Policy) rev = policy_new();
  policy_add_tr(rev, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC_32, e2040 >> 32);
  policy_add_tr(rev, MIKEY_TS_ROLE_TRE, MIKEY_TS_NTP_UTC_32, A_TRE >> 32);
  assert_invalid(rev, A_TRS, 0, MIKEY_ERR_INVALID_TPPAR,
                 "TRe 2026-01-01T10:00:00Z is not after TRs 2040-01-01T00:00:00Z");
}

static void test_validity_bad_tr(void)
{
  /* COUNTER is no time of day (profile §4). */
  g_autoptr(Policy) counter = policy_new();
  policy_add_tr(counter, MIKEY_TS_ROLE_TRS, MIKEY_TS_COUNTER, 5);
  assert_invalid(counter, A_TRS, 120, MIKEY_ERR_INVALID_TPPAR, "TRs has timestamp type 2");
  g_autoptr(Policy) counter_e = policy_new();
  policy_add_tr(counter_e, MIKEY_TS_ROLE_TRE, MIKEY_TS_COUNTER, 5);
  assert_invalid(counter_e, A_TRS, 120, MIKEY_ERR_INVALID_TPPAR, "TRe has timestamp type 2");
  /* Two TRs: ambiguous. */
  g_autoptr(Policy) two = policy_window(A_TRS, A_TRE);
  policy_add_tr(two, MIKEY_TS_ROLE_TRS, MIKEY_TS_NTP_UTC, A_TRS);
  assert_invalid(two, A_T_TRANSFER_INIT, 120, MIKEY_ERR_INVALID_TPPAR,
                 "ticket policy has 2 TRs payloads");
  /* TRi/TRr do not count as TRs/TRe. */
  g_autoptr(Policy) other = policy_new();
  policy_add_tr(other, MIKEY_TS_ROLE_TRI, MIKEY_TS_NTP_UTC, A_TRE);
  policy_add_tr(other, MIKEY_TS_ROLE_TRR, MIKEY_TS_NTP_UTC_32, 3600);
  assert_valid(other, A_TRE + SEC(3600), 0);
}

/* ---- on the exchange vectors ---- */

static MikeyMsg *load_msg(const char *name)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange", name, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &contents, &len, &error))
    g_error("cannot read %s: %s", path, error->message);
  MikeyMsg *msg = mikey_msg_parse((const guint8 *)contents, len, &error);
  g_assert_no_error(error);
  return msg;
}

static void test_vectors(void)
{
  static const struct {
    const char *file;
    MikeyPayloadType type;
    const char *flags;
    guint64 trs, tre, t;
  } cases[] = {
    { "01-a-request_init.bin", MIKEY_PT_TP, "D E F G H I J N O", A_TRS, A_TRE, A_TRS },
    { "02-a-request_resp.bin", MIKEY_PT_TICKET, "D E F G H I J N O", A_TRS, A_TRE, A_TRS },
    { "03-a-transfer_init.bin", MIKEY_PT_TICKET, "D E F G H I J N O", A_TRS, A_TRE,
      A_T_TRANSFER_INIT },
    { "04-a-resolve_init.bin", MIKEY_PT_TICKET, "D E F G H I J N O", A_TRS, A_TRE,
      A_T_TRANSFER_INIT },
    { "11-b-request_init.bin", MIKEY_PT_TP, "D E F G H J N O",
      G_GUINT64_CONSTANT(0xed00b73c11110000), G_GUINT64_CONSTANT(0xed00c54c11110000),
      G_GUINT64_CONSTANT(0xed00b73c11110000) },
    { "13-b-transfer_init.bin", MIKEY_PT_TICKET, "D E F G H J N O",
      G_GUINT64_CONSTANT(0xed00b73c11110000), G_GUINT64_CONSTANT(0xed00c54c11110000),
      G_GUINT64_CONSTANT(0xed00b73d0a3d0000) },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(MikeyMsg) msg = load_msg(cases[i].file);
    MikeyPayload *p = mikey_msg_find(msg, cases[i].type, 0, 0);
    g_assert_nonnull(p);
    const MikeyTicketBody *tp = &p->u.ticket;
    g_autoptr(GError) error = NULL;
    g_assert_true(mikey_policy_check_type(tp, &error));
    g_assert_no_error(error);
    g_assert_true(mikey_policy_check_flags(tp->flags, TRUE, &error));
    g_assert_no_error(error);
    g_autofree char *flags = mikey_policy_flags_to_string(tp->flags);
    g_assert_cmpstr(flags, ==, cases[i].flags);
    guint64 trs, tre;
    g_assert_true(mikey_policy_get_trs(tp, &trs));
    g_assert_true(mikey_policy_get_tre(tp, &tre));
    g_assert_cmphex(trs, ==, cases[i].trs);
    g_assert_cmphex(tre, ==, cases[i].tre);
    g_assert_true(mikey_policy_check_validity(tp, cases[i].t, 120, &error));
    g_assert_no_error(error);
    g_assert_false(mikey_policy_check_validity(tp, cases[i].tre, 120, &error));
    g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TICKET);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ntp/known-values", test_ntp_known_values);
  g_test_add_func("/ntp/round-trip", test_ntp_round_trip);
  g_test_add_func("/ntp/era", test_ntp_era);
  g_test_add_func("/ntp/compare-and-within", test_ntp_compare_and_within);
  g_test_add_func("/ntp/now", test_ntp_now);
  g_test_add_func("/policy/type", test_type);
  g_test_add_func("/policy/flags/to-string", test_flags_to_string);
  g_test_add_func("/policy/flags/valid", test_flags_valid);
  g_test_add_func("/policy/flags/rules", test_flags_rules);
  g_test_add_func("/policy/validity/window", test_validity_window);
  g_test_add_func("/policy/validity/empty-window", test_validity_empty_window);
  g_test_add_func("/policy/validity/open-ended", test_validity_open_ended);
  g_test_add_func("/policy/validity/ntp-utc-32", test_validity_ntp_utc_32);
  g_test_add_func("/policy/validity/bad-tr", test_validity_bad_tr);
  g_test_add_func("/policy/vectors", test_vectors);
  return g_test_run();
}
