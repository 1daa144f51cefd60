/* mikeyua's subcommands (ua.h). */
#include "ua.h"

#include "call.h"
#include "load.h"
#include "offer.h"
#include "uaconf.h"

#include "common/kmsclient.h"
#include "common/log.h"
#include "common/sipglib.h"
#include "common/tone.h"
#include "common/wav.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PROGRAM "mikeyua"

static void print_error(const char *what, const char *message)
{
  g_printerr("%s: %s%s%s\n", PROGRAM, what ? what : "", what ? ": " : "", message);
}

/* ------------------------------------------------------------------ ticket */

static int run_ticket(const UaOptions *o, const Credential *cred)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KmsClient) kms = kms_client_new(cred->kms_url, cred->kms_ca, o->insecure_http,
                                            (guint)o->timeout * 1000, &error);
  if (!kms) {
    print_error("ticket", error->message);
    return 2;
  }
  const char *const *recipients = (const char *const *)o->recipients;
  g_autoptr(GBytes) request = ua_ticket_request_build(cred, recipients, &error);
  if (!request) {
    print_error("ticket", error->message);
    return 1;
  }
  guint status = 0;
  g_autoptr(GBytes) answer = kms_client_post_sync(kms, request, &status, &error);
  MikeyTicketGrant grant;
  if (!answer && !error)
    ua_ticket_open(cred, recipients, request, status, NULL, &grant, &error);
  else if (!error)
    ua_ticket_open(cred, recipients, request, status, answer, &grant, &error);
  if (error) {
    print_error("ticket", error->message);
    return 1;
  }
  g_autofree char *text = ua_ticket_describe(&grant, o->json);
  fputs(text, stdout);
  if (o->json)
    fputc('\n', stdout);
  mikey_ticket_grant_clear(&grant);
  return 0;
}

/* ------------------------------------------------------------------ create, join */

typedef struct {
  const UaOptions *opts;
  GMainLoop *loop;
  UaCall *call;
  GArray *timers; /* guint source ids */
  guint signals;  /* how many SIGINT/SIGTERM so far */
} Single;

typedef struct {
  Single *s;
  guint index;
} ActionTimer;

static gboolean on_action(gpointer data)
{
  ActionTimer *t = data;
  const UaAction *a = &g_array_index(t->s->opts->actions, UaAction, t->index);
  ua_call_change(t->s->call, a, (double)a->at_ms / 1000.0);
  return G_SOURCE_REMOVE;
}

static gboolean on_duration(gpointer data)
{
  Single *s = data;
  log_info("duration reached: hanging up");
  ua_call_hangup(s->call);
  return G_SOURCE_REMOVE;
}

static void add_timer(Single *s, guint id)
{
  g_array_append_val(s->timers, id);
}

static void on_call_state(UaCall *call, UaCallState state, gpointer data)
{
  Single *s = data;
  const UaOptions *o = s->opts;
  if (state == UA_CALL_ESTABLISHED) {
    if (o->expect != 200) {
      /* the outcome is decided (and not the one asked for): no need to stay */
      ua_call_hangup(call);
      return;
    }
    for (guint i = 0; i < o->actions->len; i++) {
      ActionTimer *t = g_new0(ActionTimer, 1);
      t->s = s;
      t->index = i;
      guint ms = (guint)g_array_index(o->actions, UaAction, i).at_ms;
      add_timer(s, g_timeout_add_full(G_PRIORITY_DEFAULT, ms, on_action, t, g_free));
    }
    if (o->duration > 0)
      add_timer(s, g_timeout_add_seconds((guint)o->duration, on_duration, s));
  } else if (state == UA_CALL_ENDED) {
    g_main_loop_quit(s->loop);
  }
}

static gboolean on_signal(gpointer data)
{
  Single *s = data;
  if (++s->signals > 1) {
    log_warning("second signal: leaving without waiting for the BYE's answer");
    g_main_loop_quit(s->loop);
  } else {
    log_info("signal: hanging up");
    ua_call_hangup(s->call);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean is_wildcard(const char *ip)
{
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string(ip);
  return a && g_inet_address_get_is_any(a);
}

void ua_services_clear(UaServices *sv)
{
  ua_media_clock_free(sv->clock);
  kms_client_free(sv->kms);
  sip_glib_free(sv->sip);
  g_free(sv->wav);
  g_free(sv->sdp_addr);
  memset(sv, 0, sizeof *sv);
}

gboolean ua_services_init(UaServices *sv, const UaOptions *o, const Credential *cred,
                          GError **error)
{
  memset(sv, 0, sizeof *sv);
  if (o->audio_kind == UA_AUDIO_WAV) {
    sv->wav = wav_read(o->wav_path, &sv->wav_len, error);
    if (!sv->wav)
      return FALSE;
  }
  sv->kms = kms_client_new(cred->kms_url, cred->kms_ca, o->insecure_http, (guint)o->timeout * 1000,
                           error);
  if (!sv->kms)
    return FALSE;
  SipGlibConfig sc = { .listen = o->sip_host,
                       .port = o->sip_port,
                       .user_agent = PACKAGE_NAME "-ua/" PACKAGE_VERSION,
                       .shutdown_timeout_ms = (guint)o->timeout * 1000,
                       .trace = o->sip_trace };
  sv->sip = sip_glib_new(&sc, NULL, NULL, error);
  if (!sv->sip)
    return FALSE;
  sv->sdp_addr = g_strdup(is_wildcard(o->sip_host) ? sip_glib_host(sv->sip) : o->sip_host);
  sv->clock = ua_media_clock_new();
  return TRUE;
}

/* One line on stderr saying why the outcome is not the one asked for. */
static void print_unexpected(const char *mode, const UaReport *r, const UaOptions *o)
{
  g_autofree char *msg = NULL;
  if (r->error) {
    print_error(r->error_step, r->error);
    return;
  }
  if (r->status != o->expect) {
    msg = r->status ? g_strdup_printf("the INVITE got %d %s%s%s, not %d", r->status,
                                      r->reason ? r->reason : "", r->warning ? ", Warning: " : "",
                                      r->warning ? r->warning : "", o->expect)
                    : g_strdup_printf("the INVITE got no final answer");
  } else if (strcmp(r->ended_by, "them") == 0) {
    msg = g_strdup_printf("the focus ended the call (Reason cause %d%s%s)%s", r->bye_cause,
                          r->bye_text ? ": " : "", r->bye_text ? r->bye_text : "",
                          o->expect_bye_reason ? ", not with the expected cause" : "");
  } else if (o->expect_bye_reason) {
    msg = g_strdup_printf("the focus did not end the call with cause %d", o->expect_bye_reason);
  } else {
    for (guint i = 0; i < r->updates->len && !msg; i++) {
      const UaUpdateReport *u = r->updates->pdata[i];
      if (!u->ok)
        msg = g_strdup_printf("%s at %.1f s failed: %s", u->action, u->at_s,
                              u->error ? u->error : "no answer");
    }
    if (!msg)
      msg = g_strdup_printf("the call ended %s", r->ended_by);
  }
  print_error(mode, msg);
}

static int run_call(const UaOptions *o, const Credential *cred)
{
  g_autoptr(GError) error = NULL;
  UaServices sv;
  if (!ua_services_init(&sv, o, cred, &error)) {
    print_error(o->command == UA_CMD_CREATE ? "create" : "join", error->message);
    ua_services_clear(&sv);
    return 2;
  }
  g_autoptr(GPtrArray) recipients = g_ptr_array_new();
  g_ptr_array_add(recipients, o->target);
  for (guint i = 0; o->command == UA_CMD_CREATE && o->participant && o->participant[i]; i++)
    g_ptr_array_add(recipients, o->participant[i]);
  g_ptr_array_add(recipients, NULL);

  Single s = { .opts = o, .loop = g_main_loop_new(NULL, FALSE) };
  s.timers = g_array_new(FALSE, FALSE, sizeof(guint));
  UaCallConfig cc = {
    .sip = sv.sip,
    .kms = sv.kms,
    .clock = sv.clock,
    .cred = cred,
    .mode = o->command == UA_CMD_CREATE ? "create" : "join",
    .target = o->target,
    .recipients = (const char *const *)recipients->pdata,
    .media = { .bind_ip = o->sip_host,
               .audio = o->audio_kind,
               .tone_hz = o->tone_hz,
               .wav = sv.wav,
               .wav_len = sv.wav_len,
               .record_path = o->record,
               .cname = cred->identity,
               .send_loss = o->send_loss_percent },
    .sdp_addr = sv.sdp_addr,
    .codec_pt = o->codec_pt,
    .policies = o->policies,
    .n_policies = o->n_policies,
    .timeout_ms = (guint)o->timeout * 1000,
    .use_update = o->use_update,
    .fault = o->fault_kind,
    .fault_from = o->fault_from,
    .fault_offer = (guint)o->fault_offer,
    .bye_linger_ms = UA_BYE_LINGER_MS,
    .key_log = o->key_log,
    .on_state = on_call_state,
    .user_data = &s,
  };
  /* the media endpoint listens on the SIP address (a wildcard listens everywhere) */
  s.call = ua_call_new(&cc);
  guint sigint = g_unix_signal_add(SIGINT, on_signal, &s);
  guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &s);
  log_info("%s %s as %s (SIP on %s:%u)", cc.mode, o->target, cred->identity, sip_glib_host(sv.sip),
           sip_glib_port(sv.sip));
  ua_call_start(s.call);
  if (ua_call_state(s.call) != UA_CALL_ENDED)
    g_main_loop_run(s.loop);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  for (guint i = 0; i < s.timers->len; i++) {
    GSource *src = g_main_context_find_source_by_id(NULL, g_array_index(s.timers, guint, i));
    if (src)
      g_source_destroy(src);
  }
  g_array_unref(s.timers);

  UaReport *r = ua_call_report(s.call);
  gboolean expected = ua_report_check_expected(r, o->expect, o->expect_bye_reason);
  g_autofree char *out = o->json ? ua_report_to_json(r) : ua_report_to_text(r);
  fputs(out, stdout);
  if (o->json)
    fputc('\n', stdout);
  fflush(stdout);
  if (!expected)
    print_unexpected(cc.mode, r, o);
  ua_call_free(s.call);
  ua_services_clear(&sv);
  g_main_loop_unref(s.loop);
  return expected ? 0 : 1;
}

/* ------------------------------------------------------------------ analyse */

#define ANALYSE_MIN_SAMPLES (WAV_RATE / 10) /* 0.1 s: below that a level means little */

static char *analyse_json(const UaOptions *o, gsize n, gsize from, gsize len, double rms_dbfs,
                          const double *db)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "file");
  json_builder_add_string_value(b, o->analyse_path);
  json_builder_set_member_name(b, "samples");
  json_builder_add_int_value(b, (gint64)n);
  json_builder_set_member_name(b, "seconds");
  json_builder_add_double_value(b, (double)n / WAV_RATE);
  json_builder_set_member_name(b, "from_s");
  json_builder_add_double_value(b, (double)from / WAV_RATE);
  json_builder_set_member_name(b, "to_s");
  json_builder_add_double_value(b, (double)(from + len) / WAV_RATE);
  json_builder_set_member_name(b, "rms_dbfs");
  json_builder_add_double_value(b, rms_dbfs);
  json_builder_set_member_name(b, "levels");
  json_builder_begin_array(b);
  for (guint i = 0; i < o->analyse_hz->len; i++) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hz");
    json_builder_add_double_value(b, g_array_index(o->analyse_hz, double, i));
    json_builder_set_member_name(b, "db");
    json_builder_add_double_value(b, db[i]);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) g = json_generator_new();
  json_generator_set_pretty(g, TRUE);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(g, root);
  return json_generator_to_data(g, NULL);
}

/* The level of each frequency in a recording, --trim seconds left out at each end (the join
 * and the hang-up), in dB of the total power of what is left (common/tone.h): about -3 dB for
 * each of two equal tones, very negative for an absent one, so a test of "hears the others,
 * not itself" is a difference of levels. */
static int run_analyse(const UaOptions *o)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  g_autofree gint16 *pcm = wav_read(o->analyse_path, &n, &error);
  if (!pcm) {
    print_error("analyse", error->message);
    return 1;
  }
  gsize trim = (gsize)(o->trim_s * WAV_RATE + 0.5);
  if (n < ANALYSE_MIN_SAMPLES || (n - ANALYSE_MIN_SAMPLES) / 2 < trim) {
    g_autofree char *msg =
        g_strdup_printf("%s: %.2f s of audio, less than 0.1 s left after --trim %g",
                        o->analyse_path, (double)n / WAV_RATE, o->trim_s);
    print_error("analyse", msg);
    return 1;
  }
  const gint16 *x = pcm + trim;
  gsize len = n - 2 * trim;
  double total = tone_total_power(x, len);
  /* RMS relative to a full-scale amplitude */
  double rms_dbfs = total > 0 ? 10.0 * log10(total / (32767.0 * 32767.0)) : -200.0;
  g_autofree double *db = g_new(double, o->analyse_hz->len);
  for (guint i = 0; i < o->analyse_hz->len; i++)
    db[i] = goertzel_level_db(x, len, g_array_index(o->analyse_hz, double, i), WAV_RATE);
  if (o->json) {
    g_autofree char *out = analyse_json(o, n, trim, len, rms_dbfs, db);
    g_print("%s\n", out);
    return 0;
  }
  g_print("%s: %.2f s, analysed %.2f-%.2f s, RMS %.1f dBFS\n", o->analyse_path,
          (double)n / WAV_RATE, (double)trim / WAV_RATE, (double)(trim + len) / WAV_RATE, rms_dbfs);
  for (guint i = 0; i < o->analyse_hz->len; i++)
    g_print("  %8g Hz  %7.1f dB\n", g_array_index(o->analyse_hz, double, i), db[i]);
  return 0;
}

/* ------------------------------------------------------------------ main */

int ua_main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  UaOptions o;
  ua_options_init(&o);
  if (!log_init(PROGRAM, "warning", &error)) {
    print_error(NULL, error->message);
    return 2;
  }
  if (!ua_options_parse(&o, argc, argv, &error) || !log_set_level_name(o.log_level, &error)) {
    print_error(NULL, error->message);
    ua_options_clear(&o);
    return 2;
  }
  if (o.command == UA_CMD_ANALYSE) {
    int st = run_analyse(&o);
    ua_options_clear(&o);
    return st;
  }
  signal(SIGPIPE, SIG_IGN);
  Credential cred = { 0 };
  if (!credential_load(o.credential, &cred, &error)) {
    print_error("credential", error->message);
    ua_options_clear(&o);
    return 2;
  }
  int status = 2;
  switch (o.command) {
  case UA_CMD_TICKET:
    status = run_ticket(&o, &cred);
    break;
  case UA_CMD_CREATE:
  case UA_CMD_JOIN:
    status = run_call(&o, &cred);
    break;
  case UA_CMD_LOAD:
    status = ua_load_run(&o, &cred);
    break;
  case UA_CMD_ANALYSE:
    break; /* above: no credential */
  }
  credential_clear(&cred);
  ua_options_clear(&o);
  return status;
}
