/* mikeyua's report (src/ua/report.c): the JSON shape tests and scripts read, the text form, and
 * which outcomes count as expected for --expect and --expect-bye-reason. */
#include "ua/report.h"

#include <json-glib/json-glib.h>
#include <string.h>

static JsonObject *parse(const char *text, JsonParser **parser)
{
  *parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  g_assert_true(json_parser_load_from_data(*parser, text, -1, &error));
  g_assert_no_error(error);
  JsonNode *root = json_parser_get_root(*parser);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
  return json_node_get_object(root);
}

static UaReport *established_call(void)
{
  UaReport *r =
      ua_report_new("create", "sip:alice@example.org", "sip:conference-factory@conf.example.org");
  r->status = 200;
  r->reason = g_strdup("OK");
  r->conference_uri = g_strdup("sip:conf-00112233445566778899aabbccddeeff@conf.example.org");
  r->policy = g_strdup("AEAD_AES_128_GCM");
  r->codec = g_strdup("PCMU");
  r->setup_ms = 12.5;
  r->have_media = TRUE;
  r->media.sent = 500;
  r->media.received = 498;
  r->media.decrypt_failed = 1;
  r->media.rekeys = 1;
  UaUpdateReport *u = ua_report_add_update(r, "new-ticket", 2.0, "INVITE");
  u->status = 200;
  u->reason = g_strdup("OK");
  u->ok = TRUE;
  u->policy = g_strdup("AEAD_AES_128_GCM");
  u->retries = 1;
  g_free(r->ended_by);
  r->ended_by = g_strdup("us");
  return r;
}

static void test_json_established(void)
{
  g_autoptr(UaReport) r = established_call();
  g_assert_true(ua_report_check_expected(r, 200, 0));
  g_autofree char *text = ua_report_to_json(r);
  g_autoptr(JsonParser) p = NULL;
  JsonObject *o = parse(text, &p);
  g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, "create");
  g_assert_cmpstr(json_object_get_string_member(o, "identity"), ==, "sip:alice@example.org");
  g_assert_cmpstr(json_object_get_string_member(o, "outcome"), ==, "ok");
  JsonObject *sip = json_object_get_object_member(o, "sip");
  g_assert_cmpint(json_object_get_int_member(sip, "status"), ==, 200);
  g_assert_cmpstr(json_object_get_string_member(sip, "reason"), ==, "OK");
  g_assert_true(json_object_get_null_member(sip, "warning"));
  g_assert_true(json_object_get_null_member(o, "error"));
  g_assert_cmpstr(json_object_get_string_member(o, "conference_uri"), ==,
                  "sip:conf-00112233445566778899aabbccddeeff@conf.example.org");
  g_assert_cmpstr(json_object_get_string_member(o, "policy"), ==, "AEAD_AES_128_GCM");
  g_assert_cmpstr(json_object_get_string_member(o, "codec"), ==, "PCMU");
  g_assert_cmpfloat(json_object_get_double_member(o, "setup_ms"), ==, 12.5);
  JsonObject *m = json_object_get_object_member(o, "media");
  const char *counters[] = {
    "sent",      "received",      "decrypt_failed", "received_previous_key",
    "rtcp_sent", "rtcp_received", "lost",           "jitter",
    "rekeys",    "dropped_by_us", "datagrams",      "last_rtp_after_bye_ms"
  };
  for (guint i = 0; i < G_N_ELEMENTS(counters); i++)
    g_assert_true(json_object_has_member(m, counters[i]));
  g_assert_cmpint(json_object_get_int_member(m, "sent"), ==, 500);
  g_assert_cmpint(json_object_get_int_member(m, "received"), ==, 498);
  g_assert_cmpint(json_object_get_int_member(m, "decrypt_failed"), ==, 1);
  g_assert_true(json_object_get_null_member(m, "last_rtp_after_bye_ms")); /* we ended it */
  JsonArray *ups = json_object_get_array_member(o, "updates");
  g_assert_cmpuint(json_array_get_length(ups), ==, 1);
  JsonObject *u = json_array_get_object_element(ups, 0);
  g_assert_cmpstr(json_object_get_string_member(u, "action"), ==, "new-ticket");
  g_assert_cmpfloat(json_object_get_double_member(u, "at_s"), ==, 2.0);
  g_assert_cmpstr(json_object_get_string_member(u, "method"), ==, "INVITE");
  g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 200);
  g_assert_true(json_object_get_boolean_member(u, "ok"));
  g_assert_true(json_object_get_null_member(u, "error"));
  g_assert_cmpint(json_object_get_int_member(u, "retries"), ==, 1);
  JsonObject *e = json_object_get_object_member(o, "ended");
  g_assert_cmpstr(json_object_get_string_member(e, "by"), ==, "us");
  g_assert_true(json_object_get_null_member(e, "reason_cause"));
  g_assert_true(json_object_get_null_member(e, "reason_text"));
  g_assert_true(json_object_get_boolean_member(o, "expected"));
}

/* Ended by the focus's BYE: the Reason, the send loss, and when the last datagram came. */
static void test_json_bye(void)
{
  g_autoptr(UaReport) r = established_call();
  g_free(r->ended_by);
  r->ended_by = g_strdup("them");
  r->bye_cause = 403;
  r->bye_text = g_strdup("removed from the allowed set");
  r->media.dropped_by_us = 7;
  r->media.datagrams = 520;
  r->have_last_rtp_after_bye = TRUE;
  r->last_rtp_after_bye_ms = -12.5;
  g_assert_true(ua_report_check_expected(r, 200, 403));
  g_autofree char *text = ua_report_to_json(r);
  g_autoptr(JsonParser) p = NULL;
  JsonObject *o = parse(text, &p);
  JsonObject *m = json_object_get_object_member(o, "media");
  g_assert_cmpint(json_object_get_int_member(m, "dropped_by_us"), ==, 7);
  g_assert_cmpint(json_object_get_int_member(m, "datagrams"), ==, 520);
  g_assert_cmpfloat(json_object_get_double_member(m, "last_rtp_after_bye_ms"), ==, -12.5);
  JsonObject *e = json_object_get_object_member(o, "ended");
  g_assert_cmpint(json_object_get_int_member(e, "reason_cause"), ==, 403);
  g_autofree char *plain = ua_report_to_text(r);
  g_assert_nonnull(strstr(plain, "7 RTP packets dropped by us"));
  g_assert_nonnull(strstr(plain, "last RTP datagram -12.5 ms from the BYE"));
}

static void test_json_refused(void)
{
  g_autoptr(UaReport) r =
      ua_report_new("join", "sip:bob@example.org", "sip:conf-1@conf.example.org");
  r->status = 488;
  r->reason = g_strdup("Not Acceptable Here");
  r->warning = g_strdup("306 focus \"no a=key-mgmt:mikey\"");
  g_assert_false(ua_report_check_expected(r, 200, 0));
  g_autofree char *text = ua_report_to_json(r);
  g_autoptr(JsonParser) p = NULL;
  JsonObject *o = parse(text, &p);
  g_assert_cmpstr(json_object_get_string_member(o, "outcome"), ==, "refused");
  JsonObject *sip = json_object_get_object_member(o, "sip");
  g_assert_cmpint(json_object_get_int_member(sip, "status"), ==, 488);
  g_assert_cmpstr(json_object_get_string_member(sip, "warning"), ==,
                  "306 focus \"no a=key-mgmt:mikey\"");
  g_assert_true(json_object_get_null_member(o, "conference_uri"));
  g_assert_true(json_object_get_null_member(o, "policy"));
  g_assert_true(json_object_get_null_member(o, "setup_ms"));
  g_assert_true(json_object_get_null_member(o, "media"));
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "ended"), "by"),
                  ==, "not-established");
  g_assert_false(json_object_get_boolean_member(o, "expected"));
  /* --expect 488 makes it the expected outcome */
  g_assert_true(ua_report_check_expected(r, 488, 0));
  g_assert_false(ua_report_check_expected(r, 403, 0));

  /* a failure names its step */
  g_autoptr(UaReport) f = ua_report_new("join", "sip:bob@example.org", "sip:c@d");
  f->status = 200;
  ua_report_set_error(f, "answer", "MIKEY verification of the TRANSFER_RESP failed");
  ua_report_set_error(f, "media", "a later failure does not replace the first");
  g_autofree char *ft = ua_report_to_json(f);
  g_autoptr(JsonParser) fp = NULL;
  JsonObject *fo = parse(ft, &fp);
  g_assert_cmpstr(json_object_get_string_member(fo, "outcome"), ==, "failed");
  JsonObject *err = json_object_get_object_member(fo, "error");
  g_assert_cmpstr(json_object_get_string_member(err, "step"), ==, "answer");
  g_assert_cmpstr(json_object_get_string_member(err, "message"), ==,
                  "MIKEY verification of the TRANSFER_RESP failed");
}

static void test_expected(void)
{
  g_autoptr(UaReport) r = established_call();
  /* a BYE from the focus is not the default expectation... */
  g_free(r->ended_by);
  r->ended_by = g_strdup("them");
  r->bye_cause = 403;
  r->bye_text = g_strdup("removed from the allowed set");
  g_assert_false(ua_report_check_expected(r, 200, 0));
  /* ...but it is with --expect-bye-reason and the same cause */
  g_assert_true(ua_report_check_expected(r, 200, 403));
  g_assert_false(ua_report_check_expected(r, 200, 480));
  g_autofree char *text = ua_report_to_text(r);
  g_assert_nonnull(strstr(text, "ended:       them (Reason: SIP;cause=403;text=\"removed from "
                                "the allowed set\")"));
  /* a failed in-dialog change makes the run unexpected */
  UaUpdateReport *u = ua_report_add_update(r, "new-ticket", 3.0, "UPDATE");
  u->status = 403;
  u->reason = g_strdup("Forbidden");
  u->error = g_strdup("refused: 403 Forbidden");
  g_assert_cmpstr(ua_report_outcome(r), ==, "failed");
  g_assert_false(ua_report_check_expected(r, 200, 403));
  g_autofree char *text2 = ua_report_to_text(r);
  g_assert_nonnull(strstr(text2, "update 2:    new-ticket at 3.0 s (UPDATE): 403 Forbidden"));
}

static void test_text(void)
{
  g_autoptr(UaReport) r = established_call();
  ua_report_check_expected(r, 200, 0);
  g_autofree char *text = ua_report_to_text(r);
  g_assert_true(g_str_has_prefix(text, "mikeyua create: ok (as expected)\n"));
  g_assert_nonnull(strstr(text, "  SIP:         200 OK\n"));
  g_assert_nonnull(strstr(text, "  conference:  sip:conf-"));
  g_assert_nonnull(strstr(text, "  SRTP:        AEAD_AES_128_GCM, PCMU\n"));
  g_assert_nonnull(strstr(text, "sent 500, received 498, failed to decrypt 1"));
  g_assert_nonnull(strstr(text, "update 1:    new-ticket at 2.0 s (INVITE, 1 glare retries): "
                                "200 OK, AEAD_AES_128_GCM\n"));
  g_assert_nonnull(strstr(text, "  ended:       us\n"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ua-report/json/established", test_json_established);
  g_test_add_func("/ua-report/json/bye", test_json_bye);
  g_test_add_func("/ua-report/json/refused", test_json_refused);
  g_test_add_func("/ua-report/expected", test_expected);
  g_test_add_func("/ua-report/text", test_text);
  return g_test_run();
}
