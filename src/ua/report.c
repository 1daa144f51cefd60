/* mikeyua's call report (report.h). */
#include "report.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void update_free(gpointer p)
{
  UaUpdateReport *u = p;
  g_free(u->action);
  g_free(u->method);
  g_free(u->reason);
  g_free(u->warning);
  g_free(u->error);
  g_free(u->policy);
  g_free(u);
}

UaReport *ua_report_new(const char *mode, const char *identity, const char *target)
{
  UaReport *r = g_new0(UaReport, 1);
  r->mode = g_strdup(mode);
  r->identity = g_strdup(identity);
  r->target = g_strdup(target);
  r->setup_ms = -1;
  r->updates = g_ptr_array_new_with_free_func(update_free);
  r->ended_by = g_strdup("not-established");
  return r;
}

void ua_report_free(UaReport *r)
{
  if (!r)
    return;
  g_free(r->mode);
  g_free(r->identity);
  g_free(r->target);
  g_free(r->reason);
  g_free(r->warning);
  g_free(r->error_step);
  g_free(r->error);
  g_free(r->conference_uri);
  g_free(r->policy);
  g_free(r->codec);
  g_ptr_array_unref(r->updates);
  g_free(r->ended_by);
  g_free(r->bye_text);
  g_free(r);
}

UaUpdateReport *ua_report_add_update(UaReport *r, const char *action, double at_s,
                                     const char *method)
{
  UaUpdateReport *u = g_new0(UaUpdateReport, 1);
  u->action = g_strdup(action);
  u->at_s = at_s;
  u->method = g_strdup(method);
  g_ptr_array_add(r->updates, u);
  return u;
}

void ua_report_set_error(UaReport *r, const char *step, const char *message)
{
  if (r->error)
    return;
  r->error_step = g_strdup(step);
  r->error = g_strdup(message);
}

static gboolean updates_ok(const UaReport *r)
{
  for (guint i = 0; i < r->updates->len; i++)
    if (!((UaUpdateReport *)r->updates->pdata[i])->ok)
      return FALSE;
  return TRUE;
}

const char *ua_report_outcome(const UaReport *r)
{
  if (r->status >= 300)
    return "refused";
  if (r->status >= 200 && r->status < 300 && !r->error && updates_ok(r))
    return "ok";
  return "failed";
}

gboolean ua_report_check_expected(UaReport *r, int expect_status, int expect_bye_reason)
{
  gboolean ok;
  if (expect_status != 200)
    ok = r->status == expect_status;
  else if (strcmp(ua_report_outcome(r), "ok") != 0)
    ok = FALSE;
  else if (expect_bye_reason)
    ok = strcmp(r->ended_by, "them") == 0 && r->bye_cause == expect_bye_reason;
  else
    ok = strcmp(r->ended_by, "us") == 0;
  r->expected = ok;
  return ok;
}

/* ------------------------------------------------------------------ JSON */

static void member_str(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void member_int(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}

static void member_int_or_null(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_int_value(b, value);
  else
    json_builder_add_null_value(b);
}

char *ua_report_to_json(const UaReport *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  member_str(b, "mode", r->mode);
  member_str(b, "identity", r->identity);
  member_str(b, "target", r->target);
  member_str(b, "outcome", ua_report_outcome(r));
  json_builder_set_member_name(b, "sip");
  json_builder_begin_object(b);
  member_int_or_null(b, "status", r->status);
  member_str(b, "reason", r->reason);
  member_str(b, "warning", r->warning);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "error");
  if (r->error) {
    json_builder_begin_object(b);
    member_str(b, "step", r->error_step);
    member_str(b, "message", r->error);
    json_builder_end_object(b);
  } else {
    json_builder_add_null_value(b);
  }
  member_str(b, "conference_uri", r->conference_uri);
  member_str(b, "policy", r->policy);
  member_str(b, "codec", r->codec);
  json_builder_set_member_name(b, "setup_ms");
  if (r->setup_ms >= 0)
    json_builder_add_double_value(b, r->setup_ms);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "media");
  if (r->have_media) {
    const UaMediaStats *m = &r->media;
    json_builder_begin_object(b);
    member_int(b, "sent", (gint64)m->sent);
    member_int(b, "received", (gint64)m->received);
    member_int(b, "decrypt_failed", (gint64)m->decrypt_failed);
    member_int(b, "received_previous_key", (gint64)m->received_previous_key);
    member_int(b, "rtcp_sent", (gint64)m->rtcp_sent);
    member_int(b, "rtcp_received", (gint64)m->rtcp_received);
    member_int(b, "lost", m->lost);
    member_int(b, "jitter", m->jitter);
    member_int(b, "rekeys", m->rekeys);
    member_int(b, "dropped_by_us", (gint64)m->dropped_by_us);
    member_int(b, "datagrams", (gint64)m->datagrams);
    json_builder_set_member_name(b, "last_rtp_after_bye_ms");
    if (r->have_last_rtp_after_bye)
      json_builder_add_double_value(b, r->last_rtp_after_bye_ms);
    else
      json_builder_add_null_value(b);
    json_builder_end_object(b);
  } else {
    json_builder_add_null_value(b);
  }
  json_builder_set_member_name(b, "updates");
  json_builder_begin_array(b);
  for (guint i = 0; i < r->updates->len; i++) {
    const UaUpdateReport *u = r->updates->pdata[i];
    json_builder_begin_object(b);
    member_str(b, "action", u->action);
    json_builder_set_member_name(b, "at_s");
    json_builder_add_double_value(b, u->at_s);
    member_str(b, "method", u->method);
    member_int_or_null(b, "status", u->status);
    member_str(b, "reason", u->reason);
    member_str(b, "warning", u->warning);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, u->ok);
    member_str(b, "error", u->error);
    member_str(b, "policy", u->policy);
    member_int(b, "retries", u->retries);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "ended");
  json_builder_begin_object(b);
  member_str(b, "by", r->ended_by);
  member_int_or_null(b, "reason_cause", r->bye_cause);
  member_str(b, "reason_text", r->bye_text);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "expected");
  json_builder_add_boolean_value(b, r->expected);
  json_builder_end_object(b);

  g_autoptr(JsonGenerator) g = json_generator_new();
  json_generator_set_pretty(g, TRUE);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(g, root);
  return json_generator_to_data(g, NULL);
}

/* ------------------------------------------------------------------ text */

char *ua_report_to_text(const UaReport *r)
{
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "mikeyua %s: %s%s\n", r->mode, ua_report_outcome(r),
                         r->expected ? " (as expected)" : " (NOT as expected)");
  g_string_append_printf(s, "  identity:    %s\n", r->identity);
  g_string_append_printf(s, "  target:      %s\n", r->target);
  if (r->status)
    g_string_append_printf(s, "  SIP:         %d %s\n", r->status, r->reason ? r->reason : "");
  else
    g_string_append(s, "  SIP:         no final response\n");
  if (r->warning)
    g_string_append_printf(s, "  warning:     %s\n", r->warning);
  if (r->error)
    g_string_append_printf(s, "  error:       %s: %s\n", r->error_step, r->error);
  if (r->conference_uri)
    g_string_append_printf(s, "  conference:  %s\n", r->conference_uri);
  if (r->policy)
    g_string_append_printf(s, "  SRTP:        %s, %s\n", r->policy, r->codec ? r->codec : "?");
  if (r->setup_ms >= 0)
    g_string_append_printf(s, "  setup:       %.1f ms\n", r->setup_ms);
  if (r->have_media) {
    const UaMediaStats *m = &r->media;
    g_string_append_printf(s,
                           "  media:       sent %" G_GUINT64_FORMAT ", received %" G_GUINT64_FORMAT
                           ", failed to decrypt %" G_GUINT64_FORMAT
                           " (previous key %" G_GUINT64_FORMAT "), lost %" G_GINT64_FORMAT
                           ", jitter %u, RTCP %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
                           ", re-keys %u\n",
                           m->sent, m->received, m->decrypt_failed, m->received_previous_key,
                           m->lost, m->jitter, m->rtcp_sent, m->rtcp_received, m->rekeys);
    if (m->dropped_by_us)
      g_string_append_printf(s, "  send loss:   %" G_GUINT64_FORMAT " RTP packets dropped by us\n",
                             m->dropped_by_us);
    if (r->have_last_rtp_after_bye)
      g_string_append_printf(s, "  after BYE:   last RTP datagram %+.1f ms from the BYE\n",
                             r->last_rtp_after_bye_ms);
  }
  for (guint i = 0; i < r->updates->len; i++) {
    const UaUpdateReport *u = r->updates->pdata[i];
    g_string_append_printf(s, "  update %u:    %s at %.1f s (%s", i + 1, u->action, u->at_s,
                           u->method);
    if (u->retries)
      g_string_append_printf(s, ", %u glare retries", u->retries);
    if (u->status)
      g_string_append_printf(s, "): %d %s", u->status, u->reason ? u->reason : "");
    else
      g_string_append(s, "): no final response");
    if (u->ok && u->policy)
      g_string_append_printf(s, ", %s", u->policy);
    if (u->warning)
      g_string_append_printf(s, ", Warning: %s", u->warning);
    if (u->error)
      g_string_append_printf(s, ", %s", u->error);
    g_string_append_c(s, '\n');
  }
  g_string_append_printf(s, "  ended:       %s", r->ended_by);
  if (r->bye_cause || r->bye_text)
    g_string_append_printf(s, " (Reason: SIP;cause=%d;text=\"%s\")", r->bye_cause,
                           r->bye_text ? r->bye_text : "");
  g_string_append_c(s, '\n');
  return g_string_free(s, FALSE);
}
