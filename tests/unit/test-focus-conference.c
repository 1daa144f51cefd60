/* Profile 7's rules as src/focus/conference.c decides them: allowed sets from tickets,
 * creation and join decisions, which IDRr is resolved, and what each in-dialog offer of
 * 7.3 does to the set. */
#include "focus/conference.h"

#include <string.h>

#define FACTORY "sip:conference-factory@conf.example.org"
#define FOCUS "sip:focus@conf.example.org"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define DAVE "sip:dave@example.org"
#define ERIN "sip:erin@example.org"
#define CONF "sip:conf-00112233445566778899aabbccddeeff@conf.example.org"

static FocusIdentities ids;

static void ids_init(void)
{
  ids.factory_uri = g_strdup(FACTORY);
  ids.conf_host = g_strdup("conf.example.org");
  ids.conf_scheme = g_strdup("sip");
  ids.focus_identity = g_strdup(FOCUS);
}

/* A TICKET payload with this IDRi and these IDRr (policy only: no Ticket Data needed). */
static MikeyPayload *ticket_for(const char *idri, guint16 extra_flags, ...)
{
  MikeyPolicySpec spec = { 0 };
  va_list ap;
  spec.prf = MIKEY_PRF_HMAC_SHA256;
  spec.flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
               MIKEY_TP_N | MIKEY_TP_O | extra_flags;
  spec.idri = g_strdup(idri);
  spec.idrr = g_ptr_array_new_with_free_func(g_free);
  va_start(ap, extra_flags);
  for (const char *r = va_arg(ap, const char *); r; r = va_arg(ap, const char *))
    g_ptr_array_add(spec.idrr, g_strdup(r));
  va_end(ap);
  MikeyPayload *t = mikey_policy_spec_to_payload(&spec, MIKEY_PT_TICKET, NULL);
  g_assert_nonnull(t);
  mikey_policy_spec_clear(&spec);
  return t;
}

static FocusConf *conf_of(const char *owner, ...)
{
  va_list ap;
  g_autoptr(GPtrArray) allowed = g_ptr_array_new();
  va_start(ap, owner);
  for (const char *r = va_arg(ap, const char *); r; r = va_arg(ap, const char *))
    g_ptr_array_add(allowed, (gpointer)r);
  va_end(ap);
  return focus_conf_new(CONF, owner, allowed, "fp", 1000);
}

static void assert_set(GPtrArray *set, const char *want)
{
  g_autoptr(GString) s = g_string_new(NULL);
  for (guint i = 0; set && i < set->len; i++)
    g_string_append_printf(s, "%s%s", i ? " " : "", (char *)g_ptr_array_index(set, i));
  g_assert_cmpstr(s->str, ==, want);
}

static void test_uri_kinds(void)
{
  g_assert_cmpint(focus_uri_kind(&ids, FACTORY), ==, FOCUS_URI_FACTORY);
  g_assert_cmpint(focus_uri_kind(&ids, "SIP:conference-factory@CONF.example.org;transport=tcp"), ==,
                  FOCUS_URI_FACTORY);
  g_assert_cmpint(focus_uri_kind(&ids, FOCUS), ==, FOCUS_URI_FOCUS);
  g_assert_cmpint(focus_uri_kind(&ids, CONF), ==, FOCUS_URI_CONFERENCE);
  /* wrong host, upper-case hex, short id, port differs: not ours */
  g_assert_cmpint(focus_uri_kind(&ids, "sip:conf-00112233445566778899aabbccddeeff@other.org"), ==,
                  FOCUS_URI_OTHER);
  g_assert_cmpint(
      focus_uri_kind(&ids, "sip:conf-00112233445566778899AABBCCDDEEFF@conf.example.org"), ==,
      FOCUS_URI_OTHER);
  g_assert_cmpint(focus_uri_kind(&ids, "sip:conf-0011@conf.example.org"), ==, FOCUS_URI_OTHER);
  g_assert_cmpint(
      focus_uri_kind(&ids, "sip:conf-00112233445566778899aabbccddeeff@conf.example.org:5060"), ==,
      FOCUS_URI_OTHER);
  g_assert_cmpint(focus_uri_kind(&ids, BOB), ==, FOCUS_URI_OTHER);
  g_assert_cmpint(focus_uri_kind(&ids, "not a uri"), ==, FOCUS_URI_OTHER);

  g_autofree char *a = focus_conf_uri_new(&ids);
  g_autofree char *b = focus_conf_uri_new(&ids);
  g_assert_cmpint(focus_uri_kind(&ids, a), ==, FOCUS_URI_CONFERENCE);
  g_assert_cmpstr(a, !=, b);
  g_assert_cmpuint(strlen(a), ==, strlen(CONF));
}

/* 7.1 step 3: IDRr - focus identities + owner */
static void test_allowed_from_ticket(void)
{
  g_autoptr(MikeyPayload) t = ticket_for(ALICE, 0, FACTORY, BOB, CAROL, FOCUS, CONF,
                                         "sip:Bob@example.org", "SIP:bob@EXAMPLE.org", NULL);
  g_autoptr(GPtrArray) set = focus_allowed_from_ticket(&ids, &t->u.ticket, ALICE);
  /* sorted, unique; Bob with capital B is another user (user part is case-sensitive) */
  assert_set(set, "sip:Bob@example.org sip:alice@example.org sip:bob@example.org "
                  "sip:carol@example.org");
  g_assert_false(focus_ticket_names_only_focus(&ids, &t->u.ticket));
  g_autoptr(MikeyPayload) f = ticket_for(ALICE, 0, CONF, FACTORY, NULL);
  g_assert_true(focus_ticket_names_only_focus(&ids, &f->u.ticket));
  g_autoptr(GPtrArray) only_owner = focus_allowed_from_ticket(&ids, &f->u.ticket, ALICE);
  assert_set(only_owner, ALICE);
  g_autofree char *initiator = focus_ticket_initiator(&t->u.ticket);
  g_assert_cmpstr(initiator, ==, ALICE);
}

/* 7.1 / 7.2: which IDRr the focus resolves with, decided before any crypto */
static void test_initial_idrr(void)
{
  FocusDecision d = { 0 };
  char *idrr = NULL;
  g_autoptr(FocusConf) conf = conf_of(ALICE, BOB, NULL);

  g_autoptr(MikeyPayload) creation = ticket_for(ALICE, MIKEY_TP_J, FACTORY, BOB, NULL);
  g_assert_true(focus_initial_idrr(&ids, FACTORY, NULL, &creation->u.ticket, &idrr, &d));
  g_assert_cmpstr(idrr, ==, FACTORY);
  g_clear_pointer(&idrr, g_free);

  g_autoptr(MikeyPayload) join = ticket_for(BOB, 0, CONF, NULL);
  g_assert_false(focus_initial_idrr(&ids, FACTORY, NULL, &join->u.ticket, &idrr, &d));
  g_assert_cmpint(d.sip_status, ==, 403);
  g_assert_cmpstr(d.reason, ==, "ticket-not-for-factory");

  g_assert_true(focus_initial_idrr(&ids, CONF, conf, &join->u.ticket, &idrr, &d));
  g_assert_cmpstr(idrr, ==, CONF);
  g_clear_pointer(&idrr, g_free);

  /* the owner re-joins with its creation ticket: resolve for the factory */
  g_assert_true(focus_initial_idrr(&ids, CONF, conf, &creation->u.ticket, &idrr, &d));
  g_assert_cmpstr(idrr, ==, FACTORY);
  g_clear_pointer(&idrr, g_free);
  /* bob with a factory ticket (not the owner): refused before the resolve */
  g_autoptr(MikeyPayload) bobs_factory = ticket_for(BOB, 0, FACTORY, NULL);
  g_assert_false(focus_initial_idrr(&ids, CONF, conf, &bobs_factory->u.ticket, &idrr, &d));
  g_assert_cmpint(d.sip_status, ==, 403);
  /* a ticket for another conference */
  g_autoptr(MikeyPayload) other =
      ticket_for(BOB, 0, "sip:conf-ffffffffffffffffffffffffffffffff@conf.example.org", NULL);
  g_assert_false(focus_initial_idrr(&ids, CONF, conf, &other->u.ticket, &idrr, &d));
  g_assert_cmpstr(d.reason, ==, "ticket-not-for-conference");

  /* unknown and ended conferences: 404 */
  g_assert_false(focus_initial_idrr(&ids, CONF, NULL, &join->u.ticket, &idrr, &d));
  g_assert_cmpint(d.sip_status, ==, 404);
  conf->ended = 2000;
  g_assert_false(focus_initial_idrr(&ids, CONF, conf, &join->u.ticket, &idrr, &d));
  g_assert_cmpint(d.sip_status, ==, 404);
  g_assert_cmpstr(d.reason, ==, "conference-ended");
  g_assert_false(focus_initial_idrr(&ids, BOB, NULL, &join->u.ticket, &idrr, &d));
  g_assert_cmpint(d.sip_status, ==, 404);
  g_assert_null(idrr);
  focus_decision_clear(&d);
}

static void test_create_and_join(void)
{
  FocusDecision d = { 0 };
  g_assert_true(focus_decide_create(&ids, ALICE, &d));
  ids.creators = g_strsplit("sip:alice@example.org sip:zoe@example.org", " ", -1);
  g_assert_true(focus_decide_create(&ids, "sip:alice@EXAMPLE.org", &d));
  g_assert_false(focus_decide_create(&ids, BOB, &d));
  g_assert_cmpstr(d.reason, ==, "not-a-creator");
  g_clear_pointer(&ids.creators, g_strfreev);

  g_autoptr(FocusConf) conf = conf_of(ALICE, BOB, CAROL, NULL);
  g_assert_true(focus_decide_join(conf, BOB, FALSE, &d));
  g_assert_true(focus_decide_join(conf, "sip:bob@example.org;transport=tcp", FALSE, &d));
  g_assert_false(focus_decide_join(conf, DAVE, FALSE, &d));
  g_assert_cmpint(d.sip_status, ==, 403);
  g_assert_cmpstr(d.reason, ==, "not-in-allowed-set");
  g_assert_true(focus_decide_join(conf, ALICE, TRUE, &d));
  g_assert_false(focus_decide_join(conf, BOB, TRUE, &d));
  g_assert_cmpstr(d.reason, ==, "factory-ticket-not-owner");
  conf->ended = 5;
  g_assert_false(focus_decide_join(conf, BOB, FALSE, &d));
  g_assert_cmpint(d.sip_status, ==, 404);
  focus_decision_clear(&d);
}

/* 7.3: the four forms of an owner's in-dialog offer, and a non-owner's */
static void test_offers(void)
{
  FocusDecision d = { 0 };
  GPtrArray *next = NULL, *gone = NULL;
  g_autoptr(FocusConf) conf = conf_of(ALICE, BOB, CAROL, NULL);
  g_autoptr(MikeyPayload) creation = ticket_for(ALICE, MIKEY_TP_J, FACTORY, BOB, CAROL, NULL);
  MikeyTransferInitView view = { 0 };

  g_assert_cmpint(focus_classify_offer(&ids, NULL, creation), ==, FOCUS_OFFER_NO_KEYS);
  view.is_update = TRUE;
  g_assert_cmpint(focus_classify_offer(&ids, &view, creation), ==, FOCUS_OFFER_CSB_UPDATE);
  view.is_update = FALSE;

  /* the same ticket again (other Initiator Data would not matter) */
  g_autoptr(MikeyPayload) again = mikey_payload_dup(creation, NULL);
  g_bytes_unref(again->u.ticket.initiator_data);
  again->u.ticket.initiator_data = g_bytes_new("\x09", 1);
  view.ticket = again;
  g_assert_cmpint(focus_classify_offer(&ids, &view, creation), ==, FOCUS_OFFER_SAME_TICKET);
  g_assert_true(focus_decide_offer(&ids, conf, ALICE, FOCUS_OFFER_SAME_TICKET, &again->u.ticket,
                                   &next, &gone, &d));
  g_assert_null(next);

  /* J = 0: reuse refused */
  g_autoptr(MikeyPayload) no_reuse = ticket_for(ALICE, 0, FACTORY, BOB, CAROL, NULL);
  g_assert_false(focus_decide_offer(&ids, conf, ALICE, FOCUS_OFFER_SAME_TICKET, &no_reuse->u.ticket,
                                    &next, &gone, &d));
  g_assert_cmpstr(d.reason, ==, "ticket-reuse-refused");

  /* focus-only ticket: re-key, set unchanged */
  g_autoptr(MikeyPayload) focus_only = ticket_for(ALICE, 0, CONF, NULL);
  view.ticket = focus_only;
  g_assert_cmpint(focus_classify_offer(&ids, &view, creation), ==, FOCUS_OFFER_FOCUS_ONLY);
  g_assert_true(focus_decide_offer(&ids, conf, ALICE, FOCUS_OFFER_FOCUS_ONLY, &focus_only->u.ticket,
                                   &next, &gone, &d));
  g_assert_null(next);

  /* new set bob + erin: carol leaves */
  g_autoptr(MikeyPayload) change = ticket_for(ALICE, 0, CONF, BOB, ERIN, NULL);
  view.ticket = change;
  g_assert_cmpint(focus_classify_offer(&ids, &view, creation), ==, FOCUS_OFFER_NEW_SET);
  g_autofree char *idrr = focus_indialog_idrr(&ids, conf, &view);
  g_assert_cmpstr(idrr, ==, CONF);
  g_assert_true(focus_decide_offer(&ids, conf, ALICE, FOCUS_OFFER_NEW_SET, &change->u.ticket, &next,
                                   &gone, &d));
  g_assert_cmpstr(d.reason, ==, "set-changed");
  assert_set(next, "sip:alice@example.org sip:bob@example.org sip:erin@example.org");
  assert_set(gone, CAROL);
  g_clear_pointer(&next, g_ptr_array_unref);
  g_clear_pointer(&gone, g_ptr_array_unref);

  /* the same offer from bob (not the owner) re-keys bob's leg only */
  g_autoptr(MikeyPayload) bobs = ticket_for(BOB, 0, CONF, DAVE, NULL);
  g_assert_true(
      focus_decide_offer(&ids, conf, BOB, FOCUS_OFFER_NEW_SET, &bobs->u.ticket, &next, &gone, &d));
  g_assert_cmpstr(d.reason, ==, "rekey-non-owner");
  g_assert_null(next);
  g_assert_null(gone);

  /* a ticket issued to someone else than the leg: refused, leg unchanged */
  g_assert_false(focus_decide_offer(&ids, conf, ALICE, FOCUS_OFFER_NEW_SET, &bobs->u.ticket, &next,
                                    &gone, &d));
  g_assert_cmpint(d.sip_status, ==, 403);
  g_assert_cmpstr(d.reason, ==, "ticket-of-another-identity");

  /* IDRr choice: a focus identity in the TRANSFER_INIT wins; else the conference if named;
   * else the factory (the creation ticket sent again) */
  view.id_r = g_bytes_new(FACTORY, strlen(FACTORY));
  view.ticket = creation;
  g_autofree char *i1 = focus_indialog_idrr(&ids, conf, &view);
  g_assert_cmpstr(i1, ==, FACTORY);
  g_bytes_unref(view.id_r);
  view.id_r = g_bytes_new(BOB, strlen(BOB));
  g_autofree char *i2 = focus_indialog_idrr(&ids, conf, &view);
  g_assert_cmpstr(i2, ==, FACTORY);
  view.ticket = change;
  g_autofree char *i3 = focus_indialog_idrr(&ids, conf, &view);
  g_assert_cmpstr(i3, ==, CONF);
  g_bytes_unref(view.id_r);
  focus_decision_clear(&d);
}

static void test_registry(void)
{
  g_autoptr(FocusRegistry) reg = focus_registry_new();
  focus_registry_add(reg, conf_of(ALICE, BOB, NULL));
  FocusConf *c =
      focus_registry_lookup(reg, "SIP:conf-00112233445566778899aabbccddeeff@Conf.Example.org");
  g_assert_nonnull(c);
  g_assert_true(focus_conf_allows(c, ALICE));
  g_autofree char *set = focus_conf_allowed_string(c);
  g_assert_cmpstr(set, ==, "sip:alice@example.org sip:bob@example.org");
  g_assert_cmpuint(focus_registry_count(reg, TRUE), ==, 1);
  c->ended = 7;
  g_assert_cmpuint(focus_registry_count(reg, TRUE), ==, 0);
  g_assert_cmpuint(focus_registry_count(reg, FALSE), ==, 1);
  GList *all = focus_registry_list(reg);
  g_assert_cmpuint(g_list_length(all), ==, 1);
  g_list_free(all);
  g_assert_true(focus_registry_remove(reg, CONF));
  g_assert_null(focus_registry_lookup(reg, CONF));
  g_assert_false(focus_registry_remove(reg, CONF));
}

/* A conference record keeps its URI as given and its normalised key; its set is normalised,
 * sorted and unique however it was given; identities are shared between conferences (one
 * interned string each); the registry keeps creation order, and a URI-equal conference
 * replaces the old one. */
static void test_records(void)
{
  static const char *const given[] = { "SIP:Dave@example.org", BOB, "sip:bob@example.org;x=1",
                                       "<sip:carol@EXAMPLE.org>", "not a uri" };
  g_autoptr(GPtrArray) allowed = g_ptr_array_new();
  for (guint i = 0; i < G_N_ELEMENTS(given); i++)
    g_ptr_array_add(allowed, (gpointer)given[i]);
  const char *loose = "SIP:conf-00112233445566778899aabbccddeeff@Conf.Example.org";
  FocusConf *a = focus_conf_new(loose, "sip:Alice@Example.org", allowed, "fp-a", 5);
  g_assert_cmpstr(a->uri, ==, loose);
  g_assert_cmpstr(a->key, ==, CONF);
  g_assert_cmpstr(a->owner, ==, "sip:Alice@example.org");
  g_assert_cmpstr(a->ticket_fp, ==, "fp-a");
  assert_set(a->allowed, "sip:Alice@example.org sip:Dave@example.org sip:bob@example.org "
                         "sip:carol@example.org");
  g_autofree char *other_uri = g_strdup_printf("sip:conf-%032x@conf.example.org", 7);
  FocusConf *b = focus_conf_new(other_uri, "sip:Alice@example.org", allowed, NULL, 6);
  g_assert_true(b->key == b->uri); /* already normalised: no second copy */
  g_assert_null(b->ticket_fp);
  g_assert_true(a->owner == b->owner);
  for (guint i = 0; i < a->allowed->len; i++)
    g_assert_true(g_ptr_array_index(a->allowed, i) == g_ptr_array_index(b->allowed, i));

  g_autoptr(FocusRegistry) reg = focus_registry_new();
  focus_registry_add(reg, a);
  focus_registry_add(reg, b);
  FocusConf *again = focus_conf_new(CONF, BOB, NULL, "fp-again", 8);
  focus_registry_add(reg, again); /* replaces a, which is freed */
  g_assert_true(focus_registry_lookup(reg, loose) == again);
  GList *all = focus_registry_list(reg);
  g_assert_cmpuint(g_list_length(all), ==, 2);
  g_assert_true(all->data == b);
  g_assert_true(all->next->data == again);
  g_list_free(all);
  focus_registry_add(reg, again); /* the same record again: no change */
  g_assert_cmpuint(focus_registry_count(reg, FALSE), ==, 2);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  ids_init();
  g_test_add_func("/focus-conference/uri-kinds", test_uri_kinds);
  g_test_add_func("/focus-conference/allowed-from-ticket", test_allowed_from_ticket);
  g_test_add_func("/focus-conference/initial-idrr", test_initial_idrr);
  g_test_add_func("/focus-conference/create-and-join", test_create_and_join);
  g_test_add_func("/focus-conference/offers", test_offers);
  g_test_add_func("/focus-conference/registry", test_registry);
  g_test_add_func("/focus-conference/records", test_records);
  int rc = g_test_run();
  focus_identities_clear(&ids);
  return rc;
}
