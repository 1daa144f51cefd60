/* test-focus: the real mikeyconfd with the real mikeykmsd (HTTPS, its own CA), driven by the
 * real mikeyua, SIPp (data/sipp/uac-*.xml) and, where a test needs a TRANSFER_INIT sent twice
 * or an INVITE cancelled at a chosen moment, a small SIP client in this process (sipglib and
 * mikeyua's MIKEY code). What is asserted is what a user or a peer sees: SIP status, Warning
 * and Reason, mikeyua's --json report, the audit log and allowed set through mikeyconfctl
 * --json, and the daemon's records across a kill -9.
 *
 * Profile 6 and 7: creation, allowed join, refused join (403 + audit event), From spoofing,
 * the owner's set change by re-INVITE and by UPDATE (BYE with the removal Reason, a newly
 * allowed participant admitted), focus-only ticket / same ticket / CSB update (set unchanged),
 * a non-owner's new ticket (set unchanged), unknown and ended conferences (404), tampered MAC,
 * tampered ticket, stale timestamp (403), replayed TRANSFER_INITs (403), malformed MIKEY and
 * missing key-mgmt (488 + 306), KMS stopped or frozen (503 within kms-timeout, joins work
 * again after), CANCEL during a resolve, kill -9 and restart, kick and end, empty-timeout
 * after SIGHUP, SIGTERM (BYE to everyone, exit 0), SIPp (OPTIONS, INVITE without SDP, garbage
 * key-mgmt, a bounded flood). (--help against mikeyconfd(8) and mikeyconfd.conf(5): test-man.)
 *
 * The processes, the KMS and its users, the daemon and the mikeyua and mikeyconfctl runs are
 * focus-harness.h's (bounded waits, every child killed by its PID at the end). SIPp comes from
 * PATH (its tests are skipped without it). */
#include "focus-harness.h"

#include "ua/call.h"
#include "ua/offer.h"

#include "common/credential.h"
#include "common/kmsclient.h"
#include "common/sipglib.h"
#include "mikey/ntp.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

/* test-focus's own state besides the harness's: the in-process SIP client's stack, SIPp */
static SipGlib *uac_stack;
static char *sipp_path;

/* ------------------------------------------------------------------ the in-process client */

/* One request's answer. */
typedef struct {
  gboolean final;
  int status;
  char *warning;
  int retry_after; /* -1: none */
  char *body;
  gint64 t_sent, t_final;
} UacAnswer;

typedef struct {
  SipGlibHandler handler;
  nua_handle_t *nh;
  gboolean terminated;
  UacAnswer invite, update; /* of the last INVITE / UPDATE sent */
} Uac;

static void answer_reset(UacAnswer *a)
{
  g_clear_pointer(&a->warning, g_free);
  g_clear_pointer(&a->body, g_free);
  memset(a, 0, sizeof *a);
  a->t_sent = g_get_monotonic_time();
}

static void answer_take(UacAnswer *a, int status, const sip_t *sip)
{
  if (a->final || status < 200)
    return;
  a->final = TRUE;
  a->status = status;
  a->t_final = g_get_monotonic_time();
  a->warning = sip_glib_warning(sip);
  a->retry_after = sip && sip->sip_retry_after ? (int)sip->sip_retry_after->af_delta : -1;
  a->body = sip_glib_body(sip, NULL);
}

static void uac_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                      nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
  Uac *u = (Uac *)h;
  if (event == nua_r_invite) {
    answer_take(&u->invite, status, sip);
  } else if (event == nua_r_update) {
    answer_take(&u->update, status, sip);
  } else if (event == nua_i_state) {
    int cs = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
    if (cs == nua_callstate_terminated)
      u->terminated = TRUE;
  }
}

static gboolean answered(gpointer data)
{
  return ((UacAnswer *)data)->final;
}

static gboolean uac_terminated(gpointer data)
{
  return ((Uac *)data)->terminated;
}

static void uac_free(Uac *u)
{
  if (u->nh) {
    nua_handle_bind(u->nh, NULL);
    nua_handle_destroy(u->nh);
  }
  answer_reset(&u->invite);
  answer_reset(&u->update);
  g_free(u);
}

static Uac *uac_invite(const char *target, const char *from, const char *sdp)
{
  if (!uac_stack) {
    g_autoptr(GError) error = NULL;
    SipGlibConfig cfg = { .listen = "127.0.0.1", .port = 0, .user_agent = "test-focus" };
    uac_stack = sip_glib_new(&cfg, NULL, NULL, &error);
    g_assert_no_error(error);
  }
  Uac *u = g_new0(Uac, 1);
  u->handler.event = uac_event;
  u->nh = sip_glib_handle_new(uac_stack, &u->handler, SIPTAG_TO_STR(target), SIPTAG_FROM_STR(from),
                              TAG_END());
  answer_reset(&u->invite);
  /* no automatic retry after a 503 with Retry-After: the test looks at the first answer */
  nua_invite(u->nh, NUTAG_URL(target), NUTAG_RETRY_COUNT(0),
             SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp), TAG_END());
  return u;
}

/* In dialog: a re-INVITE or an UPDATE, with an SDP offer or without (sdp NULL). */
static void uac_reinvite(Uac *u, const char *sdp)
{
  answer_reset(&u->invite);
  nua_invite(u->nh, NUTAG_RETRY_COUNT(0), TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
             TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
}

static void uac_update(Uac *u, const char *sdp)
{
  answer_reset(&u->update);
  nua_update(u->nh, NUTAG_RETRY_COUNT(0), TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR("application/sdp")),
             TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
}

/* Ends an established call (BYE) and waits for its end. */
static void uac_hangup(Uac *u)
{
  if (u->invite.status >= 200 && u->invite.status < 300 && !u->terminated) {
    nua_bye(u->nh, TAG_END());
    g_assert_true(wait_until(uac_terminated, u, RUN_TIMEOUT_MS));
  }
}

/* An SDP offer whose a=key-mgmt carries a fresh TRANSFER_INIT of the user in cred_path for
 * target (a ticket naming target is requested from the KMS first). */
static char *offer_for(const char *cred_path, const char *target)
{
  g_autoptr(GError) error = NULL;
  Credential cred;
  g_assert_true(credential_load(cred_path, &cred, &error));
  g_autoptr(KmsClient) kms = kms_client_new(cred.kms_url, cred.kms_ca, FALSE, 10000, &error);
  g_assert_no_error(error);
  const char *recipients[] = { target, NULL };
  g_autoptr(GBytes) req = ua_ticket_request_build(&cred, recipients, &error);
  g_assert_no_error(error);
  guint status = 0;
  g_autoptr(GBytes) answer = kms_client_post_sync(kms, req, &status, &error);
  g_assert_no_error(error);
  MikeyTicketGrant grant;
  g_assert_true(ua_ticket_open(&cred, recipients, req, status, answer, &grant, &error));
  guint8 policies[] = { 0, 1 };
  UaTransferInitParams tp = { .grant = &grant,
                              .idri = cred.identity,
                              .idrr = target,
                              .ssrc = 0x11223344,
                              .seq = 1234,
                              .policies = policies,
                              .n_policies = 2 };
  g_autoptr(GBytes) ti = ua_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  char *sdp = ua_call_sdp_offer("127.0.0.1", 9, 0, ti, UA_FAULT_NONE, 77, 1, &error);
  g_assert_no_error(error);
  mikey_ticket_grant_clear(&grant);
  credential_clear(&cred);
  return sdp;
}

/* ------------------------------------------------------------------ tests: 7.1, 7.2 */

/* Creation: 200 OK with the conference URI (Contact, isfocus), SRTP both ways through the
 * focus, the record and its "created" event, the allowed set = ticket recipients - factory +
 * owner. */
static void test_create(void)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *r = NULL;
  int st = ua_run(&jp, &r, NULL, "create", "--credential", H.alice, "--factory", H.factory,
                  "--participant", BOB, "--participant", CAROL, "--duration", "2", "--json", NULL);
  g_assert_cmpint(st, ==, 0);
  g_assert_cmpstr(jstr(r, "outcome"), ==, "ok");
  g_assert_cmpint(jint(r, "sip.status"), ==, 200);
  const char *conf = jstr(r, "conference_uri");
  g_assert_true(g_str_has_prefix(conf, "sip:conf-"));
  g_assert_true(g_str_has_suffix(conf, H.host));
  g_assert_cmpuint(strlen(conf), ==, strlen("sip:conf-") + 32 + 1 + strlen(H.host));
  g_assert_cmpstr(jstr(r, "policy"), ==, "AEAD_AES_128_GCM");
  g_assert_cmpint(jint(r, "media.received"), >, 20); /* the focus sends to its only leg too */
  g_assert_cmpint(jint(r, "media.decrypt_failed"), ==, 0);
  g_assert_cmpstr(jstr(r, "ended.by"), ==, "us");
  g_autofree char *allowed = allowed_of(conf);
  g_assert_cmpstr(allowed, ==, ALICE " " BOB " " CAROL);
  g_assert_true(events_contain(conf, "created/created " ALICE "\n"));
  /* the record: owner, ticket fingerprint, live */
  g_autoptr(JsonParser) sp = NULL;
  JsonObject *show = ctl_json(&sp, NULL, "show", conf, NULL);
  g_assert_cmpstr(jstr(show, "conference.owner"), ==, ALICE);
  g_assert_cmpuint(strlen(jstr(show, "conference.ticket_fp")), ==, 64);
  g_assert_cmpint(jint(show, "conference.ended"), ==, 0);
}

/* Join: bob (allowed) is admitted, both hear each other (N-1 mix), show lists both legs with
 * codec and SRTP policy; dave (not allowed) gets 403 and an audit event; bob with a From of
 * carol (spoofing) gets 403. */
static void test_join(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "8", NULL };
  Owner own = owner_start(extra);
  Proc *bob = ua_spawn("join", "--credential", H.bob, "--duration", "3", "--policy", "aes-cm",
                       "--codec", "pcma", "--json", "--log-level", "info", own.uri, NULL);
  PartWait pw = { own.uri, 2 };
  g_assert_true(wait_until(has_participants, &pw, RUN_TIMEOUT_MS));
  g_autoptr(JsonParser) sp = NULL;
  JsonObject *show = ctl_json(&sp, NULL, "show", own.uri, NULL);
  JsonArray *parts = json_object_get_array_member(json_object_get_object_member(show, "conference"),
                                                  "participants");
  gboolean saw_bob = FALSE;
  for (guint i = 0; i < json_array_get_length(parts); i++) {
    JsonObject *p = json_array_get_object_element(parts, i);
    if (strcmp(json_object_get_string_member(p, "identity"), BOB) == 0) {
      saw_bob = TRUE;
      g_assert_cmpstr(json_object_get_string_member(p, "codec"), ==, "PCMA");
      g_assert_cmpstr(json_object_get_string_member(p, "srtp"), ==, "AES_CM_128_HMAC_SHA1_80");
      g_assert_true(g_str_has_prefix(json_object_get_string_member(p, "address"), "127.0.0.1:"));
    }
  }
  g_assert_true(saw_bob);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(proc_finish(bob, RUN_TIMEOUT_MS, &out, &err), ==, 0);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = json_of(out, &bp);
  if (jint(br, "media.decrypt_failed") != 0)
    g_test_message("bob: %s", err);
  g_assert_cmpstr(jstr(br, "conference_uri"), ==, own.uri);
  g_assert_cmpstr(jstr(br, "policy"), ==, "AES_CM_128_HMAC_SHA1_80");
  g_assert_cmpstr(jstr(br, "codec"), ==, "PCMA");
  g_assert_cmpint(jint(br, "media.received"), >, 50); /* alice's tone, mixed for bob */
  g_assert_cmpint(jint(br, "media.decrypt_failed"), ==, 0);
  g_assert_true(events_contain(own.uri, "admitted/admitted " BOB "\n"));

  /* not in the allowed set */
  g_autoptr(JsonParser) dp = NULL;
  JsonObject *dr = NULL;
  g_assert_cmpint(ua_run(&dp, &dr, NULL, "join", "--credential", H.dave, "--expect", "403",
                         "--json", own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(dr, "sip.status"), ==, 403);
  g_assert_nonnull(strstr(jstr(dr, "sip.warning"), "is not in the allowed set"));
  g_assert_true(events_contain(own.uri, "refused/not-in-allowed-set " DAVE "\n"));

  /* From spoofing: bob's ticket, carol's From */
  g_autoptr(JsonParser) fp = NULL;
  JsonObject *fr = NULL;
  g_assert_cmpint(ua_run(&fp, &fr, NULL, "join", "--credential", H.bob, "--fault",
                         "from-mismatch:" CAROL, "--expect", "403", "--json", own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(fr, "sip.status"), ==, 403);
  g_assert_nonnull(strstr(jstr(fr, "sip.warning"), "From URI " CAROL));
  g_assert_true(events_contain(own.uri, "refused/from-mismatch " BOB "\n"));

  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ tests: 7.3 */

/* The owner changes the set with a new ticket (re-INVITE or UPDATE): carol, removed, gets a
 * BYE with the removal Reason; dave, newly allowed, is admitted; then the owner's focus-only
 * ticket, its creation ticket again and a CSB update leave the set as it is. */
static void check_owner_update(gboolean use_update)
{
  const char *extra[] = { "--participant",
                          BOB,
                          "--participant",
                          CAROL,
                          "--at",
                          "2:new-ticket:" BOB "," DAVE,
                          "--at",
                          "4:focus-ticket",
                          "--at",
                          "5:same-ticket",
                          "--at",
                          "6:csb-update",
                          "--update-method",
                          use_update ? "update" : "reinvite",
                          "--duration",
                          "8",
                          NULL };
  Owner own = owner_start(extra);
  Proc *carol = ua_spawn("join", "--credential", H.carol, "--duration", "30", "--expect-bye-reason",
                         "403", "--json", own.uri, NULL);
  /* dave is refused before the change... */
  g_autoptr(JsonParser) d0 = NULL;
  JsonObject *r0 = NULL;
  g_assert_cmpint(ua_run(&d0, &r0, NULL, "join", "--credential", H.dave, "--expect", "403",
                         "--json", own.uri, NULL),
                  ==, 0);
  /* ...and carol is removed by it */
  g_autofree char *cout = NULL;
  g_assert_cmpint(proc_finish(carol, RUN_TIMEOUT_MS, &cout, NULL), ==, 0);
  g_autoptr(JsonParser) cp = NULL;
  JsonObject *cr = json_of(cout, &cp);
  g_assert_cmpint(jint(cr, "sip.status"), ==, 200);
  g_assert_cmpstr(jstr(cr, "ended.by"), ==, "them");
  g_assert_cmpint(jint(cr, "ended.reason_cause"), ==, 403);
  g_assert_cmpstr(jstr(cr, "ended.reason_text"), ==, REMOVED_TEXT);
  g_autofree char *set = allowed_of(own.uri);
  g_assert_cmpstr(set, ==, ALICE " " BOB " " DAVE);
  /* dave now joins */
  g_autoptr(JsonParser) d1 = NULL;
  JsonObject *r1 = NULL;
  g_assert_cmpint(ua_run(&d1, &r1, NULL, "join", "--credential", H.dave, "--duration", "1",
                         "--json", own.uri, NULL),
                  ==, 0);
  /* carol cannot come back */
  g_autoptr(JsonParser) c2 = NULL;
  JsonObject *r2 = NULL;
  g_assert_cmpint(ua_run(&c2, &r2, NULL, "join", "--credential", H.carol, "--expect", "403",
                         "--json", own.uri, NULL),
                  ==, 0);
  g_autoptr(JsonParser) op = NULL;
  JsonObject *orep = owner_finish(&own, &op, 0);
  JsonArray *ups = json_object_get_array_member(orep, "updates");
  g_assert_cmpuint(json_array_get_length(ups), ==, 4);
  for (guint i = 0; i < 4; i++) {
    JsonObject *u = json_array_get_object_element(ups, i);
    g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 200);
    g_assert_true(json_object_get_boolean_member(u, "ok"));
    g_assert_cmpstr(json_object_get_string_member(u, "method"), ==,
                    use_update ? "UPDATE" : "INVITE");
  }
  g_assert_cmpint(jint(orep, "media.rekeys"), ==, 3);
  g_assert_cmpint(jint(orep, "media.decrypt_failed"), ==, 0);
  /* the set did not move after the change */
  g_autofree char *set2 = allowed_of(own.uri);
  g_assert_cmpstr(set2, ==, ALICE " " BOB " " DAVE);
  g_autofree char *ev = events_of(own.uri);
  g_assert_nonnull(strstr(ev, "set-changed/owner-new-ticket " ALICE "\n"));
  g_assert_nonnull(strstr(ev, "removed/left-allowed-set " CAROL "\n"));
  g_assert_nonnull(strstr(ev, "rekeyed/focus-only " ALICE "\n"));
  g_assert_nonnull(strstr(ev, "rekeyed/same-ticket " ALICE "\n"));
  g_assert_nonnull(strstr(ev, "rekeyed/csb-update " ALICE "\n"));
  g_assert_nonnull(strstr(ev, "admitted/admitted " DAVE "\n"));
  /* one set change only */
  g_assert_null(strstr(strstr(ev, "set-changed/") + 1, "set-changed/"));
  g_free(own.uri);
}

static void test_owner_update_reinvite(void)
{
  check_owner_update(FALSE);
}

static void test_owner_update_update(void)
{
  check_owner_update(TRUE);
}

/* A non-owner's new ticket naming others re-keys its leg only: the set stays. */
static void test_non_owner_ticket(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "6", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--at",
                         "1:new-ticket:" DAVE, "--duration", "3", "--json", own.uri, NULL),
                  ==, 0);
  JsonObject *u = json_array_get_object_element(json_object_get_array_member(br, "updates"), 0);
  g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 200);
  g_assert_cmpint(jint(br, "media.rekeys"), ==, 1);
  g_autofree char *set = allowed_of(own.uri);
  g_assert_cmpstr(set, ==, ALICE " " BOB);
  g_assert_true(events_contain(own.uri, "rekeyed/rekey-non-owner " BOB "\n"));
  g_autoptr(JsonParser) dp = NULL;
  JsonObject *dr = NULL;
  g_assert_cmpint(ua_run(&dp, &dr, NULL, "join", "--credential", H.dave, "--expect", "403",
                         "--json", own.uri, NULL),
                  ==, 0);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ tests: refusals */

/* Unknown and ended conferences: 404 (and an audit event each). */
static void test_unknown_and_ended(void)
{
  g_autofree char *unknown =
      g_strdup_printf("sip:conf-0000000000000000000000000000dead@%s", H.host);
  g_autoptr(JsonParser) up = NULL;
  JsonObject *ur = NULL;
  g_assert_cmpint(ua_run(&up, &ur, NULL, "join", "--credential", H.bob, "--expect", "404", "--json",
                         unknown, NULL),
                  ==, 0);
  g_assert_cmpint(jint(ur, "sip.status"), ==, 404);
  g_assert_true(events_contain(unknown, "refused/unknown-conference -\n"));

  const char *extra[] = { "--participant",       BOB,   "--duration", "30",
                          "--expect-bye-reason", "410", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) ep = NULL;
  JsonObject *er = ctl_json(&ep, NULL, "end", own.uri, NULL);
  g_assert_cmpint(jint(er, "ended"), >, 0);
  /* alice got a BYE (cause 410), and the URI answers 404 */
  g_autoptr(JsonParser) op = NULL;
  JsonObject *orep = owner_finish(&own, &op, 0);
  g_assert_cmpstr(jstr(orep, "ended.by"), ==, "them");
  g_assert_cmpint(jint(orep, "ended.reason_cause"), ==, 410);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--expect", "404", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_assert_true(events_contain(own.uri, "ended/operator -\n"));
  g_assert_true(events_contain(own.uri, "refused/conference-ended -\n"));
  /* ending it again: conflict, exit 1 */
  int st = 0;
  g_autoptr(JsonParser) e2 = NULL;
  JsonObject *er2 = ctl_json(&e2, &st, "end", own.uri, NULL);
  g_assert_cmpint(st, ==, 1);
  g_assert_cmpstr(jstr(er2, "code"), ==, "conflict");
  g_free(own.uri);
}

/* Profile 6's table, through mikeyua's faults. */
static void test_faults(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "30", NULL };
  Owner own = owner_start(extra);
  const struct {
    const char *fault;
    int status;
    const char *warning; /* prefix of the first Warning */
    const char *reason;  /* of the audit event */
  } cases[] = {
    { "tamper-mac", 403, "399 ", "refused/bad-mac" },
    { "tamper-ticket", 403, "399 ", "refused/kms-refused" },
    { "stale-timestamp", 403, "399 ", "refused/stale-timestamp" },
    { "garbage-key-mgmt", 488, "306 ", "refused/bad-mikey" },
    { "no-key-mgmt", 488, "306 ", "refused/no-key-mgmt" },
    { "malformed-sdp", 488, "399 ", "refused/bad-sdp" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(JsonParser) jp = NULL;
    JsonObject *r = NULL;
    g_autofree char *status = g_strdup_printf("%d", cases[i].status);
    int rc = ua_run(&jp, &r, NULL, "join", "--credential", H.bob, "--fault", cases[i].fault,
                    "--expect", status, "--json", own.uri, NULL);
    g_test_message("--fault %s: %" G_GINT64_FORMAT " %s", cases[i].fault, jint(r, "sip.status"),
                   jstr(r, "sip.warning"));
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(jint(r, "sip.status"), ==, cases[i].status);
    g_assert_true(g_str_has_prefix(jstr(r, "sip.warning"), cases[i].warning));
    g_autofree char *line = g_strdup_printf("%s -\n", cases[i].reason);
    g_assert_true(events_contain(own.uri, line));
  }
  /* a replayed TRANSFER_INIT in a re-INVITE: 403, the leg goes on with its keys */
  g_autoptr(JsonParser) rp = NULL;
  JsonObject *rr = NULL;
  g_autofree char *err = NULL;
  g_assert_cmpint(ua_run(&rp, &rr, &err, "join", "--credential", H.bob, "--fault",
                         "replay-previous", "--at", "0.5:focus-ticket", "--duration", "2", "--json",
                         own.uri, NULL),
                  ==, 1);
  JsonObject *u = json_array_get_object_element(json_object_get_array_member(rr, "updates"), 0);
  g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 403);
  g_assert_nonnull(strstr(json_object_get_string_member(u, "warning"), "replayed"));
  g_assert_cmpint(jint(rr, "media.rekeys"), ==, 0);
  g_assert_cmpint(jint(rr, "media.decrypt_failed"), ==, 0);
  g_assert_cmpstr(jstr(rr, "ended.by"), ==, "us");
  g_assert_true(events_contain(own.uri, "refused/replay " BOB "\n"));
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* A replayed initial INVITE: the same TRANSFER_INIT in a new INVITE (another dialog) is
 * refused with 403 once the first one was taken. Before that, the first dialog's re-INVITE
 * and UPDATE without an offer are answered 200, keys unchanged (the re-INVITE's 200 carries an
 * offer without key-mgmt). */
static void test_replayed_invite(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "30", NULL };
  Owner own = owner_start(extra);
  g_autofree char *sdp = offer_for(H.bob, own.uri);
  Uac *first = uac_invite(own.uri, BOB, sdp);
  g_assert_true(wait_until(answered, &first->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(first->invite.status, ==, 200);
  g_assert_nonnull(strstr(first->invite.body, "a=key-mgmt:mikey "));
  /* profile 7.3: in-dialog requests without an offer are answered, keys unchanged */
  uac_reinvite(first, NULL);
  g_assert_true(wait_until(answered, &first->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(first->invite.status, ==, 200);
  g_assert_nonnull(strstr(first->invite.body, "m=audio "));
  g_assert_null(strstr(first->invite.body, "key-mgmt"));
  uac_update(first, NULL);
  g_assert_true(wait_until(answered, &first->update, RUN_TIMEOUT_MS));
  g_assert_cmpint(first->update.status, ==, 200);
  uac_hangup(first);
  Uac *again = uac_invite(own.uri, BOB, sdp);
  g_assert_true(wait_until(answered, &again->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(again->invite.status, ==, 403);
  g_assert_nonnull(strstr(again->invite.warning, "replayed TRANSFER_INIT"));
  g_assert_true(events_contain(own.uri, "refused/replay " BOB "\n"));
  uac_free(first);
  uac_free(again);
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ tests: the KMS */

/* KMS stopped: 503 + Retry-After at once (connection refused); KMS frozen (SIGSTOP): 503 +
 * Retry-After within kms-timeout, no dialog left; while an in-dialog offer waits for the frozen
 * KMS, the next offer of the dialog is answered 491 (glare), a new INVITE past max-resolves
 * (1, set by SIGHUP) 503 at once, and the waiting offer 503 in time; a CANCEL during a
 * resolve: 487, the late answer dropped; the KMS back: joins work again. */
static void test_kms_down(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "60", NULL };
  Owner own = owner_start(extra);
  /* offers made while the KMS is up (the tickets come from it) */
  g_autofree char *sdp0 = offer_for(H.bob, own.uri);
  g_autofree char *sdp1 = offer_for(H.bob, own.uri);
  g_autofree char *sdp2 = offer_for(H.bob, own.uri);
  g_autofree char *sdp3 = offer_for(H.bob, own.uri);
  g_autofree char *sdp4 = offer_for(H.bob, own.uri);
  g_autofree char *sdp5 = offer_for(H.bob, own.uri);
  Uac *call = uac_invite(own.uri, BOB, sdp0);
  g_assert_true(wait_until(answered, &call->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(call->invite.status, ==, 200);

  kms_stop();
  Uac *u = uac_invite(own.uri, BOB, sdp1);
  g_assert_true(wait_until(answered, &u->invite, RUN_TIMEOUT_MS));
  double took = (double)(u->invite.t_final - u->invite.t_sent) / G_USEC_PER_SEC;
  g_test_message("KMS stopped: %d after %.3f s, Retry-After %d, %s", u->invite.status, took,
                 u->invite.retry_after, u->invite.warning);
  g_assert_cmpint(u->invite.status, ==, 503);
  g_assert_cmpint(u->invite.retry_after, >, 0);
  g_assert_cmpfloat(took, <, KMS_TIMEOUT_S + 0.5);
  g_assert_true(events_contain(own.uri, "refused/kms-unavailable -\n"));
  uac_free(u);

  /* frozen: the connection is accepted, nothing answers */
  kms_start(H.kms_port);
  kill(H.kms_pid, SIGSTOP);
  u = uac_invite(own.uri, BOB, sdp2);
  g_assert_true(wait_until(answered, &u->invite, RUN_TIMEOUT_MS));
  took = (double)(u->invite.t_final - u->invite.t_sent) / G_USEC_PER_SEC;
  g_test_message("KMS frozen: %d after %.3f s, Retry-After %d", u->invite.status, took,
                 u->invite.retry_after);
  g_assert_cmpint(u->invite.status, ==, 503);
  g_assert_cmpint(u->invite.retry_after, >, 0);
  g_assert_cmpfloat(took, >=, KMS_TIMEOUT_S - 0.2);
  g_assert_cmpfloat(took, <, KMS_TIMEOUT_S + 1.0);
  g_assert_true(wait_until(uac_terminated, u, RUN_TIMEOUT_MS));
  uac_free(u);

  /* at most one resolve in flight from now on (SIGHUP) */
  confd_reload("max-resolves=1\n");

  /* glare: a re-INVITE with a new ticket waits for the KMS; an UPDATE meanwhile gets 491 */
  uac_reinvite(call, sdp4);
  sleep_ms(300);
  g_assert_false(call->invite.final);
  uac_update(call, NULL);
  g_assert_true(wait_until(answered, &call->update, RUN_TIMEOUT_MS));
  g_assert_cmpint(call->update.status, ==, 491);
  /* and a new INVITE finds the one resolve slot taken: 503 at once, Retry-After */
  gint64 busy = stat_int("resolves.busy");
  u = uac_invite(own.uri, BOB, sdp5);
  g_assert_true(wait_until(answered, &u->invite, RUN_TIMEOUT_MS));
  took = (double)(u->invite.t_final - u->invite.t_sent) / G_USEC_PER_SEC;
  g_assert_cmpint(u->invite.status, ==, 503);
  g_assert_cmpint(u->invite.retry_after, ==, 1);
  g_assert_cmpfloat(took, <, 1.0);
  g_assert_cmpint(stat_int("resolves.busy"), ==, busy + 1);
  uac_free(u);
  gint64 byes = stat_int("sip.byes");
  g_assert_true(wait_until(answered, &call->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(call->invite.status, ==, 503);
  g_assert_cmpint(call->invite.retry_after, >, 0);
  /* the focus keeps the leg; a Sofia-SIP client ends it after a 5xx to its re-INVITE (RFC 5057
   * lets the UA choose): the BYE comes from the client */
  g_assert_true(wait_until(uac_terminated, call, RUN_TIMEOUT_MS));
  g_assert_cmpint(stat_int("sip.byes"), ==, byes + 1);
  uac_free(call);

  /* CANCEL while the resolve waits: 487, no leg left, the resolve counted as cancelled */
  gint64 cancelled = stat_int("resolves.cancelled");
  u = uac_invite(own.uri, BOB, sdp3);
  sleep_ms(300);
  g_assert_false(u->invite.final);
  nua_cancel(u->nh, TAG_END());
  g_assert_true(wait_until(answered, &u->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(u->invite.status, ==, 487);
  g_assert_true(wait_until(uac_terminated, u, RUN_TIMEOUT_MS));
  uac_free(u);
  g_assert_cmpint(stat_int("resolves.cancelled"), ==, cancelled + 1);

  kill(H.kms_pid, SIGCONT);
  confd_reload(NULL);
  g_assert_cmpint(stat_int("sip_legs"), ==, 1); /* alice's */
  /* back: bob joins */
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--duration", "1", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(br, "sip.status"), ==, 200);
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ tests: operator */

/* kick: every leg of bob gets a BYE (Reason 403), the set is unchanged, an audit event. */
static void test_kick(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "30", NULL };
  Owner own = owner_start(extra);
  Proc *b1 = ua_spawn("join", "--credential", H.bob, "--duration", "30", "--expect-bye-reason",
                      "403", "--json", own.uri, NULL);
  Proc *b2 = ua_spawn("join", "--credential", H.bob, "--duration", "30", "--expect-bye-reason",
                      "403", "--json", own.uri, NULL);
  PartWait pw = { own.uri, 3 };
  g_assert_true(wait_until(has_participants, &pw, RUN_TIMEOUT_MS));
  g_autoptr(JsonParser) kp = NULL;
  JsonObject *k = ctl_json(&kp, NULL, "kick", own.uri, BOB, NULL);
  g_assert_cmpint(jint(k, "legs"), ==, 2);
  g_assert_cmpint(proc_finish(b1, RUN_TIMEOUT_MS, NULL, NULL), ==, 0);
  g_assert_cmpint(proc_finish(b2, RUN_TIMEOUT_MS, NULL, NULL), ==, 0);
  g_assert_cmpint(participants_of(own.uri), ==, 1);
  g_autofree char *set = allowed_of(own.uri);
  g_assert_cmpstr(set, ==, ALICE " " BOB);
  g_assert_true(events_contain(own.uri, "kicked/operator " BOB "\n"));
  /* nobody to kick now: not-found, exit 1 */
  int st = 0;
  g_autoptr(JsonParser) np = NULL;
  JsonObject *n = ctl_json(&np, &st, "kick", own.uri, BOB, NULL);
  g_assert_cmpint(st, ==, 1);
  g_assert_cmpstr(jstr(n, "code"), ==, "not-found");
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* kill -9, then a restart: every record is there (same events, same set), the conference
 * URI works with the same allowed set. */
static void test_restart_kill9(void)
{
  const char *extra[] = { "--participant", BOB, "--at", "1:new-ticket:" CAROL,
                          "--duration",    "3", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_autofree char *set = allowed_of(own.uri);
  g_assert_cmpstr(set, ==, ALICE " " CAROL);
  g_autoptr(JsonParser) ep = NULL;
  JsonObject *ev = ctl_json(&ep, NULL, "events", NULL);
  guint n_events = json_array_get_length(json_object_get_array_member(ev, "events"));
  g_autoptr(JsonParser) lp = NULL;
  JsonObject *list = ctl_json(&lp, NULL, "list", NULL);
  guint n_confs = json_array_get_length(json_object_get_array_member(list, "conferences"));

  g_assert_cmpint(confd_stop(SIGKILL), ==, 128 + SIGKILL);
  confd_start();

  g_autoptr(JsonParser) ep2 = NULL;
  JsonObject *ev2 = ctl_json(&ep2, NULL, "events", NULL);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(ev2, "events")), ==,
                   n_events);
  g_autoptr(JsonParser) lp2 = NULL;
  JsonObject *list2 = ctl_json(&lp2, NULL, "list", NULL);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(list2, "conferences")), ==,
                   n_confs);
  g_autofree char *set2 = allowed_of(own.uri);
  g_assert_cmpstr(set2, ==, ALICE " " CAROL);
  g_autoptr(JsonParser) cp = NULL;
  JsonObject *cr = NULL;
  g_assert_cmpint(ua_run(&cp, &cr, NULL, "join", "--credential", H.carol, "--duration", "1",
                         "--json", own.uri, NULL),
                  ==, 0);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--expect", "403", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_free(own.uri);
}

/* SIGHUP with empty-timeout=2: an idle conference ends by itself, then answers 404. */
static void test_empty_timeout(void)
{
  gsize from = file_size(H.confd_log);
  confd_reload("empty-timeout=2\n");
  const char *extra[] = { "--participant", BOB, "--duration", "1", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_autofree char *needle = g_strdup_printf("ended (empty-timeout) %s ", own.uri);
  LogWait e = { H.confd_log, needle, from };
  g_assert_true(wait_until(log_has, &e, 10000));
  g_assert_true(events_contain(own.uri, "ended/empty-timeout -\n"));
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--expect", "404", "--json",
                         own.uri, NULL),
                  ==, 0);
  confd_reload(NULL);
  g_free(own.uri);
}

/* SIGHUP applies creators (7.1 step 2: the focus's own creator list, after the KMS's) and
 * allow-from-mismatch (7.2) at once. */
static void test_reload_policy(void)
{
  confd_reload("creators=" CAROL ";" DAVE "\nallow-from-mismatch=true\n");
  g_autoptr(JsonParser) ap = NULL;
  JsonObject *ar = NULL;
  g_assert_cmpint(ua_run(&ap, &ar, NULL, "create", "--credential", H.alice, "--factory", H.factory,
                         "--participant", BOB, "--expect", "403", "--json", NULL),
                  ==, 0);
  g_assert_nonnull(strstr(jstr(ar, "sip.warning"), "creator list"));
  g_assert_true(events_contain(H.factory, "refused/not-a-creator " ALICE "\n"));
  confd_reload("allow-from-mismatch=true\n");
  const char *extra[] = { "--participant", BOB, "--duration", "30", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--fault",
                         "from-mismatch:" CAROL, "--duration", "1", "--json", own.uri, NULL),
                  ==, 0);
  g_assert_true(events_contain(own.uri, "admitted/admitted " BOB "\n"));
  confd_reload(NULL);
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* SIGTERM: every participant gets a BYE (Reason cause 503), an INVITE still waiting for its
 * resolve a 480, the daemon exits 0 (sanitizer builds: without a leak); started again it serves
 * as before. */
static void test_sigterm(void)
{
  const char *extra[] = { "--participant",       BOB,   "--duration", "60",
                          "--expect-bye-reason", "503", NULL };
  Owner own = owner_start(extra);
  Proc *bob = ua_spawn("join", "--credential", H.bob, "--duration", "60", "--expect-bye-reason",
                       "503", "--json", own.uri, NULL);
  PartWait pw = { own.uri, 2 };
  g_assert_true(wait_until(has_participants, &pw, RUN_TIMEOUT_MS));
  /* and an INVITE whose ticket is being resolved (the KMS frozen) */
  g_autofree char *sdp = offer_for(H.carol, own.uri);
  kill(H.kms_pid, SIGSTOP);
  Uac *u = uac_invite(own.uri, CAROL, sdp);
  sleep_ms(300);
  g_assert_false(u->invite.final);
  gint64 t0 = g_get_monotonic_time();
  g_assert_cmpint(confd_stop(SIGTERM), ==, 0);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
  kill(H.kms_pid, SIGCONT);
  g_assert_true(wait_until(answered, &u->invite, RUN_TIMEOUT_MS));
  g_assert_cmpint(u->invite.status, ==, 480);
  g_assert_nonnull(strstr(u->invite.warning, "shutting down"));
  uac_free(u);
  g_autofree char *out = NULL;
  g_assert_cmpint(proc_finish(bob, RUN_TIMEOUT_MS, &out, NULL), ==, 0);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = json_of(out, &bp);
  g_assert_cmpstr(jstr(br, "ended.by"), ==, "them");
  g_assert_cmpint(jint(br, "ended.reason_cause"), ==, 503);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  confd_start();
  g_autofree char *set = allowed_of(own.uri);
  g_assert_cmpstr(set, ==, ALICE " " BOB);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ tests: listeners */

static char *options_request(const char *transport, const char *host_port)
{
  return g_strdup_printf("OPTIONS sip:conference-factory@%s SIP/2.0\r\n"
                         "Via: SIP/2.0/%s 127.0.0.1:5999;rport;branch=z9hG4bK-%u\r\n"
                         "From: <sip:test@127.0.0.1>;tag=1\r\n"
                         "To: <sip:conference-factory@%s>\r\n"
                         "Call-ID: options-%u@test\r\n"
                         "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                         host_port, transport, g_random_int(), host_port, g_random_int());
}

/* OPTIONS over UDP to ip:port; the first line of the answer (NULL when none in 5 s). */
static char *options_udp(const char *ip, guint port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error(error);
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(ip);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new(addr, (guint16)port);
  g_autofree char *hp = g_strdup_printf("%s:%u", ip, port);
  g_autofree char *req = options_request("UDP", hp);
  g_assert_cmpint(g_socket_send_to(sock, to, req, strlen(req), NULL, &error), >, 0);
  g_socket_set_timeout(sock, 5);
  char buf[4096];
  gssize n = g_socket_receive(sock, buf, sizeof buf - 1, NULL, &error);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return g_strndup(buf, strcspn(buf, "\r\n"));
}

static void on_tls_connected(GObject *src, GAsyncResult *res, gpointer data)
{
  *(GSocketConnection **)data = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, NULL);
  if (!*(GSocketConnection **)data)
    *(GSocketConnection **)data = (GSocketConnection *)g_object_new(G_TYPE_OBJECT, NULL);
}

static gboolean pointer_set(gpointer data)
{
  return *(gpointer *)data != NULL;
}

static void on_client_event(GSocketClient *client, GSocketClientEvent event,
                            GSocketConnectable *connectable, GIOStream *conn, gpointer data)
{
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
    g_tls_connection_set_database(G_TLS_CONNECTION(conn), data);
}

/* OPTIONS over TLS (the server certificate checked against the KMS's CA, which issued it);
 * the first line of the answer. */
static char *options_tls(const char *ip, guint port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = g_tls_file_database_new(H.ca, &error);
  g_assert_no_error(error);
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_socket_client_set_tls(client, TRUE);
  g_socket_client_set_timeout(client, 5);
  /* the CA is set on the TLS connection as it is made */
  g_signal_connect(client, "event", G_CALLBACK(on_client_event), db);
  GSocketConnection *conn = NULL;
  g_autofree char *hp = g_strdup_printf("%s:%u", ip, port);
  g_socket_client_connect_to_host_async(client, hp, 0, NULL, on_tls_connected, &conn);
  g_assert_true(wait_until(pointer_set, &conn, RUN_TIMEOUT_MS));
  if (!G_IS_SOCKET_CONNECTION(conn)) {
    g_object_unref(conn);
    return NULL;
  }
  g_autoptr(GSocketConnection) c = conn;
  g_autofree char *sip_hp = g_strdup_printf("%s:%u", ip, port - 1);
  g_autofree char *req = options_request("TLS", sip_hp);
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c));
  g_assert_true(g_output_stream_write_all(out, req, strlen(req), NULL, NULL, &error));
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c));
  char buf[4096];
  gssize n = g_input_stream_read(in, buf, sizeof buf - 1, NULL, &error);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return g_strndup(buf, strcspn(buf, "\r\n"));
}

/* A second daemon with two SIP addresses and TLS: OPTIONS answered on each address (UDP) and
 * over TLS on the port after the first, with the configured certificate. */
static void test_listeners_tls(void)
{
  guint16 p1 = free_port(), p2 = free_port();
  g_autofree char *dir = g_build_filename(H.tmp, "focus2", NULL);
  g_autofree char *sock = g_build_filename(H.tmp, "focus2.sock", NULL);
  g_autofree char *conf = g_build_filename(H.tmp, "focus2.conf", NULL);
  g_autofree char *log = g_build_filename(H.tmp, "focus2.log", NULL);
  g_autofree char *kstate = g_build_filename(H.tmp, "kms", NULL);
  g_autofree char *text = g_strdup_printf(
      "[mikeyconfd]\nsip-listen=127.0.0.1:%u;127.0.0.2:%u\ncredential=%s\nstate-dir=%s\n"
      "control-socket=%s\ntls-cert=%s/server.pem\ntls-key=%s/server.key\n"
      "rtp-port-min=43000\nrtp-port-max=43099\nmedia-workers=1\nlog-level=info\n",
      p1, p2, H.focus_cred, dir, sock, kstate, kstate);
  g_assert_true(g_file_set_contents(conf, text, -1, NULL));
  const char *argv[] = { H.confd, "--config", conf, NULL };
  g_autoptr(GSubprocessLauncher) l = launcher(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_stderr_file_path(l, log);
  /* Sanitizer builds: Sofia-SIP 1.12.11's tport_tls does not free the SSL object of a TLS
   * connection the peer closed (SSL_new in tls_init_secondary). That leak is Sofia's, and it is
   * suppressed for this daemon only, with full stacks so that the suppression matches Sofia's
   * frames and nothing else. */
  g_autofree char *supp = g_build_filename(H.tmp, "sofia-tls.supp", NULL);
  g_assert_true(g_file_set_contents(supp, "leak:tls_init_secondary\nleak:tls_connect\n", -1, NULL));
  const char *asan = g_getenv("ASAN_OPTIONS");
  g_autofree char *asan_opts =
      g_strdup_printf("%s%s" ASAN_TLS_WORKAROUND ":fast_unwind_on_malloc=0", asan ? asan : "",
                      asan && *asan ? ":" : "");
  g_autofree char *lsan_opts = g_strdup_printf("suppressions=%s:print_suppressions=0", supp);
  g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", asan_opts, TRUE);
  g_subprocess_launcher_setenv(l, "LSAN_OPTIONS", lsan_opts, TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv, &error);
  g_assert_no_error(error);
  pid_t pid = pid_of(p);
  child_track(pid, TRUE);
  LogWait w = { log, "mikeyconfd: started", 0 };
  g_assert_true(wait_until(log_has, &w, START_TIMEOUT_MS));
  g_autofree char *expect = g_strdup_printf("factory sip:conference-factory@127.0.0.1:%u,", p1);
  LogWait w2 = { log, expect, 0 };
  g_assert_true(log_has(&w2));

  g_autofree char *a = options_udp("127.0.0.1", p1);
  g_autofree char *b = options_udp("127.0.0.2", p2);
  g_assert_cmpstr(a, ==, "SIP/2.0 200 OK");
  g_assert_cmpstr(b, ==, "SIP/2.0 200 OK");
  g_autofree char *t = options_tls("127.0.0.1", p1 + 1u);
  g_assert_cmpstr(t, ==, "SIP/2.0 200 OK");

  kill(pid, SIGTERM);
  g_subprocess_wait(p, NULL, NULL);
  child_track(pid, FALSE);
  g_assert_true(g_subprocess_get_if_exited(p));
  g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
  /* the key copy for Sofia is gone */
  g_autofree char *pem = g_build_filename(dir, "sip-tls", "agent.pem", NULL);
  g_assert_false(g_file_test(pem, G_FILE_TEST_EXISTS));
}

/* ------------------------------------------------------------------ tests: SIPp */

static gboolean need_sipp(void)
{
  if (!sipp_path)
    g_test_skip("sipp (Debian: sip-tester) is not installed");
  return sipp_path != NULL;
}

static int sipp_run(const char *scenario, const char *calls, const char *rate)
{
  g_autofree char *sf = g_test_build_filename(G_TEST_DIST, "..", "data", "sipp", scenario, NULL);
  g_autofree char *port = g_strdup_printf("%u", free_port());
  const char *argv[] = { sipp_path, H.host,      "-sf",      sf,         "-s", "conference-factory",
                         "-i",      "127.0.0.1", "-p",       port,       "-m", calls,
                         "-r",      rate,        "-nostdin", "-timeout", "60", "-timeout_error",
                         NULL };
  g_autofree char *out = NULL;
  int st = run(&out, NULL, argv);
  if (st != 0)
    g_test_message("sipp %s: exit %d\n%s", scenario, st, out);
  return st;
}

static void test_sipp_options(void)
{
  if (!need_sipp())
    return;
  gint64 n = stat_int("sip.options");
  g_assert_cmpint(sipp_run("uac-options.xml", "1", "10"), ==, 0);
  g_assert_cmpint(stat_int("sip.options"), ==, n + 1);
}

static void test_sipp_no_sdp(void)
{
  if (!need_sipp())
    return;
  g_assert_cmpint(sipp_run("uac-invite-no-sdp.xml", "1", "10"), ==, 0);
  g_assert_true(events_contain(H.factory, "refused/no-sdp -\n"));
}

static void test_sipp_garbage_key_mgmt(void)
{
  if (!need_sipp())
    return;
  g_assert_cmpint(sipp_run("uac-garbage-key-mgmt.xml", "1", "10"), ==, 0);
  g_assert_true(events_contain(H.factory, "refused/bad-mikey -\n"));
}

/* 2000 junk INVITEs at 200/s: each gets a final answer (488, or 503 past the rate limit), no
 * leg is left, and a valid creation works right after. */
static void test_sipp_flood(void)
{
  if (!need_sipp())
    return;
  gint64 invites = stat_int("sip.invites");
  g_assert_cmpint(sipp_run("uac-garbage-key-mgmt.xml", "2000", "200"), ==, 0);
  g_assert_cmpint(stat_int("sip.invites"), >=, invites + 2000);
  g_assert_cmpint(stat_int("since_start.rate_limited"), >, 0);
  g_assert_cmpint(stat_int("sip_legs"), ==, 0);
  sleep_ms(1100); /* the rate limit's bucket refills */
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *r = NULL;
  g_assert_cmpint(ua_run(&jp, &r, NULL, "create", "--credential", H.alice, "--factory", H.factory,
                         "--participant", BOB, "--duration", "1", "--json", NULL),
                  ==, 0);
  g_assert_cmpint(jint(r, "sip.status"), ==, 200);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  harness_setup();
  sipp_path = g_find_program_in_path("sipp");
  g_test_add_func("/focus/create", test_create);
  g_test_add_func("/focus/join", test_join);
  g_test_add_func("/focus/owner-update/reinvite", test_owner_update_reinvite);
  g_test_add_func("/focus/owner-update/update", test_owner_update_update);
  g_test_add_func("/focus/non-owner-ticket", test_non_owner_ticket);
  g_test_add_func("/focus/unknown-and-ended", test_unknown_and_ended);
  g_test_add_func("/focus/faults", test_faults);
  g_test_add_func("/focus/replayed-invite", test_replayed_invite);
  g_test_add_func("/focus/kick", test_kick);
  g_test_add_func("/focus/kms-down", test_kms_down);
  g_test_add_func("/focus/listeners-tls", test_listeners_tls);
  g_test_add_func("/focus/sipp/options", test_sipp_options);
  g_test_add_func("/focus/sipp/invite-no-sdp", test_sipp_no_sdp);
  g_test_add_func("/focus/sipp/garbage-key-mgmt", test_sipp_garbage_key_mgmt);
  g_test_add_func("/focus/sipp/flood", test_sipp_flood);
  g_test_add_func("/focus/reload-policy", test_reload_policy);
  g_test_add_func("/focus/restart-kill9", test_restart_kill9);
  g_test_add_func("/focus/sigterm", test_sigterm);
  g_test_add_func("/focus/empty-timeout", test_empty_timeout);
  int status = g_test_run();
  if (uac_stack)
    sip_glib_free(uac_stack);
  g_free(sipp_path);
  harness_teardown(status);
  return status;
}
