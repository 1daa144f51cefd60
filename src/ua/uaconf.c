/* mikeyua's options (uaconf.h). */
#include "uaconf.h"

#include "common/conf.h"
#include "common/sipuri.h"
#include "mikey/exchange.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "mikeyua"

const char UA_SUBCOMMANDS[] =
    "Subcommands (options after the subcommand):\n"
    "  ticket --recipient URI...       request a ticket from the KMS and print its policy\n"
    "  create --factory URI [--participant URI]...\n"
    "                                  create a conference and stay in it for --duration\n"
    "  join CONF-URI                   join a conference for --duration\n"
    "  load --factory URI --conferences N --participants M ...\n"
    "                                  many creators and participants in one process\n"
    "  analyse FILE.wav HZ...          each frequency's level in a recording (no SIP)\n"
    "See mikeyua(1); `mikeyua SUBCOMMAND --help` lists a subcommand's options.";

const char *ua_action_name(UaActionKind kind)
{
  switch (kind) {
  case UA_ACTION_NEW_TICKET:
    return "new-ticket";
  case UA_ACTION_SAME_TICKET:
    return "same-ticket";
  case UA_ACTION_FOCUS_TICKET:
    return "focus-ticket";
  case UA_ACTION_CSB_UPDATE:
    return "csb-update";
  }
  return "?";
}

static const char *const fault_names[] = {
  [UA_FAULT_NONE] = "none",
  [UA_FAULT_TAMPER_MAC] = "tamper-mac",
  [UA_FAULT_TAMPER_TICKET] = "tamper-ticket",
  [UA_FAULT_STALE_TIMESTAMP] = "stale-timestamp",
  [UA_FAULT_REPLAY_PREVIOUS] = "replay-previous",
  [UA_FAULT_FROM_MISMATCH] = "from-mismatch",
  [UA_FAULT_MALFORMED_SDP] = "malformed-sdp",
  [UA_FAULT_NO_KEY_MGMT] = "no-key-mgmt",
  [UA_FAULT_GARBAGE_KEY_MGMT] = "garbage-key-mgmt",
  [UA_FAULT_TAMPER_SRTP_KEY] = "tamper-srtp-key",
};

const char *ua_fault_name(UaFaultKind kind)
{
  return (guint)kind < G_N_ELEMENTS(fault_names) ? fault_names[kind] : "?";
}

void ua_options_init(UaOptions *o)
{
  memset(o, 0, sizeof *o);
  o->sip_listen = g_strdup("127.0.0.1:0");
  o->duration = 10;
  o->audio = g_strdup("tone:440");
  o->policy = g_strdup("both");
  o->codec = g_strdup("pcmu");
  o->timeout = 10;
  o->update_method = g_strdup("reinvite");
  o->fault_offer = -1;
  o->expect = 200;
  o->log_level = g_strdup("warning");
  o->conferences = 1;
  o->participants = 2;
  o->send_loss = g_strdup("0");
  o->trim = g_strdup("0");
  o->join_rate = g_strdup("10");
  o->call_length = 10;
  o->actions = g_array_new(FALSE, TRUE, sizeof(UaAction));
  g_array_set_clear_func(o->actions, (GDestroyNotify)ua_action_clear);
}

void ua_options_clear(UaOptions *o)
{
  g_free(o->credential);
  g_free(o->sip_listen);
  g_free(o->audio);
  g_free(o->record);
  g_free(o->policy);
  g_free(o->codec);
  g_strfreev(o->at);
  g_free(o->update_method);
  g_strfreev(o->fault);
  g_free(o->log_level);
  g_free(o->key_log);
  g_strfreev(o->recipients);
  g_free(o->factory);
  g_strfreev(o->participant);
  g_free(o->join_rate);
  g_free(o->participant_credentials);
  g_free(o->send_loss);
  g_free(o->trim);
  g_free(o->analyse_path);
  if (o->analyse_hz)
    g_array_unref(o->analyse_hz);
  g_free(o->target);
  g_free(o->sip_host);
  g_free(o->wav_path);
  if (o->actions)
    g_array_unref(o->actions);
  g_free(o->fault_from);
  memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------------ the tables */

#define OPT(name, type, target, desc, arg, min, max)                                               \
  (ConfOption)                                                                                     \
  {                                                                                                \
    name, 0, type, target, desc, arg, min, max                                                     \
  }

static void add(GArray *t, ConfOption o)
{
  g_array_append_val(t, o);
}

static void add_common(GArray *t, UaOptions *o)
{
  add(t, OPT("credential", CONF_FILENAME, &o->credential,
             "Credential file written by `mikeykmsd user add` (required)", "FILE", 0, 0));
  add(t, OPT("timeout", CONF_INT, &o->timeout, "Seconds each SIP or KMS step may take (default 10)",
             "SEC", 1, 600));
  add(t, OPT("json", CONF_BOOL, &o->json, "Print the report as JSON", NULL, 0, 0));
  add(t, OPT("insecure-http", CONF_BOOL, &o->insecure_http,
             "Allow a plain http:// kms-url (tests and demos only)", NULL, 0, 0));
  add(t, OPT("log-level", CONF_STRING, &o->log_level,
             "error, warning, info or debug (default warning)", "LEVEL", 0, 0));
}

static void add_sip(GArray *t, UaOptions *o)
{
  add(t, OPT("sip-listen", CONF_STRING, &o->sip_listen,
             "SIP (UDP and TCP) and RTP address, port 0 = ephemeral (default 127.0.0.1:0)",
             "IP[:PORT]", 0, 0));
  add(t, OPT("audio", CONF_STRING, &o->audio,
             "What to send: tone:HZ, a WAV file (8 kHz mono 16-bit) or silence (default tone:440)",
             "SOURCE", 0, 0));
  add(t, OPT("policy", CONF_STRING, &o->policy,
             "SRTP policies to offer, in order: gcm, aes-cm or both (default both, GCM first)",
             "POLICY", 0, 0));
  add(t, OPT("codec", CONF_STRING, &o->codec, "Codec offered first: pcmu or pcma (default pcmu)",
             "CODEC", 0, 0));
  add(t, OPT("sip-trace", CONF_BOOL, &o->sip_trace, "Log every SIP message sent and received", NULL,
             0, 0));
  add(t, OPT("key-log", CONF_FILENAME, &o->key_log,
             "Append every call's MPK, TGK and SRTP master keys and salts in hex to FILE "
             "(debugging only: the file decrypts the calls)",
             "FILE", 0, 0));
}

static void add_call(GArray *t, UaOptions *o)
{
  add(t,
      OPT("duration", CONF_INT, &o->duration,
          "Seconds to stay in the call, 0 = until a signal or BYE (default 10)", "SEC", 0, 86400));
  add(t, OPT("record", CONF_FILENAME, &o->record, "Write the audio received to a WAV file", "FILE",
             0, 0));
  add(t, OPT("at", CONF_STRV, &o->at,
             "Change the leg SEC seconds after it is up: new-ticket:URI,..., same-ticket, "
             "focus-ticket or csb-update (repeatable)",
             "SEC:ACTION[:ARG]", 0, 0));
  add(t, OPT("update-method", CONF_STRING, &o->update_method,
             "Send --at offers in a reinvite or an update (default reinvite)", "METHOD", 0, 0));
  add(t, OPT("fault", CONF_STRV, &o->fault,
             "Send a faulty offer (tests): tamper-mac, tamper-ticket, stale-timestamp, "
             "replay-previous, from-mismatch:URI, malformed-sdp, no-key-mgmt, garbage-key-mgmt; "
             "or tamper-srtp-key (our outbound SRTP key has a bit flipped)",
             "FAULT", 0, 0));
  add(t, OPT("fault-offer", CONF_INT, &o->fault_offer,
             "Which offer gets the --fault: 0 = the INVITE, N = the N-th --at offer (default 0; "
             "1 for replay-previous)",
             "N", -1, 1000));
  add(t, OPT("expect", CONF_INT, &o->expect,
             "Exit 0 only if the INVITE gets this final status (default 200)", "STATUS", 100, 699));
  add(t, OPT("expect-bye-reason", CONF_INT, &o->expect_bye_reason,
             "Exit 0 only if the focus ends the call with a BYE whose Reason has this cause",
             "CAUSE", 0, 699));
  add(t, OPT("send-loss", CONF_STRING, &o->send_loss,
             "Drop this percentage of our RTP packets at random before sending (tests; default 0)",
             "PERCENT", 0, 0));
}

static GArray *table_for(UaCommand cmd, UaOptions *o)
{
  GArray *t = g_array_new(TRUE, TRUE, sizeof(ConfOption));
  if (cmd == UA_CMD_ANALYSE) {
    add(t, OPT("json", CONF_BOOL, &o->json, "Print the levels as JSON", NULL, 0, 0));
    add(t, OPT("trim", CONF_STRING, &o->trim,
               "Leave out SEC seconds at each end of the recording (default 0)", "SEC", 0, 0));
    return t;
  }
  add_common(t, o);
  switch (cmd) {
  case UA_CMD_TICKET:
    add(t, OPT("recipient", CONF_STRV, &o->recipients,
               "A recipient (IDRr) of the ticket (repeatable)", "URI", 0, 0));
    break;
  case UA_CMD_CREATE:
    add_sip(t, o);
    add_call(t, o);
    add(t, OPT("factory", CONF_STRING, &o->factory, "The conference factory URI (required)", "URI",
               0, 0));
    add(t, OPT("participant", CONF_STRV, &o->participant,
               "Someone allowed in the conference (repeatable)", "URI", 0, 0));
    break;
  case UA_CMD_JOIN:
    add_sip(t, o);
    add_call(t, o);
    break;
  case UA_CMD_LOAD:
    add_sip(t, o);
    add(t, OPT("factory", CONF_STRING, &o->factory, "The conference factory URI (required)", "URI",
               0, 0));
    add(t, OPT("conferences", CONF_INT, &o->conferences,
               "Conferences to create, each by the --credential user (default 1)", "N", 1, 10000));
    add(t, OPT("participants", CONF_INT, &o->participants,
               "Participants joining each conference (default 2)", "M", 0, 10000));
    add(t, OPT("participant-credentials", CONF_STRING, &o->participant_credentials,
               "Participants' credential files: a directory of *.cred or a pattern with %d "
               "(1, 2, ...) (required when M > 0)",
               "DIR|PATTERN", 0, 0));
    add(t, OPT("join-rate", CONF_STRING, &o->join_rate,
               "Calls started per second, conferences first (default 10)", "R[/s]", 0, 0));
    add(t, OPT("call-length", CONF_INT, &o->call_length,
               "Seconds each participant stays (default 10)", "SEC", 1, 86400));
    break;
  case UA_CMD_ANALYSE:
    break;
  }
  return t;
}

/* ------------------------------------------------------------------ value parsers */

static gboolean bad(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean bad(GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, msg);
  return FALSE;
}

/* A decimal number in [min, max], the whole text (no unit). */
static gboolean number_parse(const char *text, double min, double max, double *out)
{
  char *end = NULL;
  double v = g_ascii_strtod(text, &end);
  if (!*text || *end || !(v >= min && v <= max))
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean uri_ok(const char *uri, const char *what, GError **error)
{
  SipUri u;
  g_autoptr(GError) local = NULL;
  if (!sip_uri_parse(uri, strlen(uri), &u, &local))
    return bad(error, "%s '%s' is not a URI: %s", what, uri, local->message);
  sip_uri_clear(&u);
  return TRUE;
}

void ua_action_clear(UaAction *a)
{
  g_clear_pointer(&a->uris, g_strfreev);
}

gboolean ua_action_parse(const char *text, UaAction *a, GError **error)
{
  memset(a, 0, sizeof *a);
  const char *colon = strchr(text, ':');
  if (!colon)
    return bad(error, "--at %s: expected SEC:ACTION[:ARG]", text);
  g_autofree char *sec = g_strndup(text, (gsize)(colon - text));
  char *end = NULL;
  double s = g_ascii_strtod(sec, &end);
  if (!*sec || *end || !(s >= 0) || s > 86400)
    return bad(error, "--at %s: '%s' is not a number of seconds (0 to 86400)", text, sec);
  a->at_ms = (gint64)(s * 1000 + 0.5);
  const char *action = colon + 1;
  const char *arg = strchr(action, ':');
  g_autofree char *name = arg ? g_strndup(action, (gsize)(arg - action)) : g_strdup(action);
  if (arg)
    arg++;
  if (strcmp(name, "new-ticket") == 0) {
    a->kind = UA_ACTION_NEW_TICKET;
    if (!arg || !*arg)
      return bad(error, "--at %s: new-ticket needs the URIs of the new set (new-ticket:URI,URI)",
                 text);
    a->uris = g_strsplit(arg, ",", -1);
    for (guint i = 0; a->uris[i]; i++) {
      g_strstrip(a->uris[i]);
      if (!uri_ok(a->uris[i], "new-ticket recipient", error)) {
        ua_action_clear(a);
        return FALSE;
      }
    }
    return TRUE;
  }
  if (strcmp(name, "same-ticket") == 0)
    a->kind = UA_ACTION_SAME_TICKET;
  else if (strcmp(name, "focus-ticket") == 0)
    a->kind = UA_ACTION_FOCUS_TICKET;
  else if (strcmp(name, "csb-update") == 0)
    a->kind = UA_ACTION_CSB_UPDATE;
  else
    return bad(error,
               "--at %s: unknown action '%s' (new-ticket:URI,..., same-ticket, focus-ticket, "
               "csb-update)",
               text, name);
  if (arg)
    return bad(error, "--at %s: %s takes no argument", text, name);
  return TRUE;
}

gboolean ua_policy_parse(const char *text, guint8 policies[2], guint *n, GError **error)
{
  *n = 0;
  if (strcmp(text, "both") == 0)
    text = "gcm,aes-cm";
  g_auto(GStrv) parts = g_strsplit(text, ",", -1);
  for (guint i = 0; parts[i]; i++) {
    g_strstrip(parts[i]);
    guint8 p;
    if (g_ascii_strcasecmp(parts[i], "gcm") == 0)
      p = MIKEY_POLICY_AEAD_AES_128_GCM;
    else if (g_ascii_strcasecmp(parts[i], "aes-cm") == 0)
      p = MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80;
    else
      return bad(error, "--policy %s: '%s' is not gcm, aes-cm or both", text, parts[i]);
    if (*n == 2 || (*n == 1 && policies[0] == p))
      return bad(error, "--policy %s: each policy at most once", text);
    policies[(*n)++] = p;
  }
  if (*n == 0)
    return bad(error, "--policy: empty");
  return TRUE;
}

gboolean ua_listen_parse(const char *text, char **host, guint *port, GError **error)
{
  g_autofree char *h = NULL;
  const char *p = NULL;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || (close[1] && close[1] != ':'))
      return bad(error, "--sip-listen %s: expected [IPv6]:PORT", text);
    h = g_strndup(text + 1, (gsize)(close - text - 1));
    p = close[1] ? close + 2 : NULL;
  } else {
    const char *c = strchr(text, ':');
    if (c && strchr(c + 1, ':')) {
      h = g_strdup(text); /* a bare IPv6 address */
    } else if (c) {
      h = g_strndup(text, (gsize)(c - text));
      p = c + 1;
    } else {
      h = g_strdup(text);
    }
  }
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(h);
  if (!addr)
    return bad(error, "--sip-listen %s: '%s' is not an IP address", text, h);
  guint64 v = 0;
  if (p && !g_ascii_string_to_unsigned(p, 10, 0, 65535, &v, NULL))
    return bad(error, "--sip-listen %s: '%s' is not a port (0-65535)", text, p);
  *host = g_steal_pointer(&h);
  *port = (guint)v;
  return TRUE;
}

static gboolean audio_parse(UaOptions *o, GError **error)
{
  if (strcmp(o->audio, "silence") == 0) {
    o->audio_kind = UA_AUDIO_SILENCE;
    return TRUE;
  }
  if (g_str_has_prefix(o->audio, "tone:")) {
    guint64 hz;
    if (!g_ascii_string_to_unsigned(o->audio + 5, 10, 1, 3999, &hz, NULL))
      return bad(error, "--audio %s: the tone must be 1 to 3999 Hz", o->audio);
    o->audio_kind = UA_AUDIO_TONE;
    o->tone_hz = (guint)hz;
    return TRUE;
  }
  if (!g_file_test(o->audio, G_FILE_TEST_IS_REGULAR))
    return bad(error, "--audio %s: not tone:HZ, silence or a readable WAV file", o->audio);
  o->audio_kind = UA_AUDIO_WAV;
  o->wav_path = g_strdup(o->audio);
  return TRUE;
}

static gboolean fault_parse(UaOptions *o, GError **error)
{
  if (!o->fault || !o->fault[0])
    return TRUE;
  if (o->fault[1])
    return bad(error, "--fault: one fault per run (got '%s' and '%s')", o->fault[0], o->fault[1]);
  const char *f = o->fault[0];
  if (g_str_has_prefix(f, "from-mismatch:")) {
    o->fault_kind = UA_FAULT_FROM_MISMATCH;
    o->fault_from = g_strdup(f + strlen("from-mismatch:"));
    return uri_ok(o->fault_from, "--fault from-mismatch", error);
  }
  for (guint k = UA_FAULT_TAMPER_MAC; k < G_N_ELEMENTS(fault_names); k++) {
    if (k != UA_FAULT_FROM_MISMATCH && strcmp(f, fault_names[k]) == 0) {
      o->fault_kind = (UaFaultKind)k;
      return TRUE;
    }
  }
  return bad(error,
             "--fault %s: not tamper-mac, tamper-ticket, stale-timestamp, replay-previous, "
             "from-mismatch:URI, malformed-sdp, no-key-mgmt, garbage-key-mgmt or tamper-srtp-key",
             f);
}

static gint action_cmp(gconstpointer a, gconstpointer b)
{
  gint64 x = ((const UaAction *)a)->at_ms, y = ((const UaAction *)b)->at_ms;
  return x < y ? -1 : x > y;
}

static gboolean check_call(UaOptions *o, GError **error)
{
  for (guint i = 0; o->at && o->at[i]; i++) {
    UaAction a;
    if (!ua_action_parse(o->at[i], &a, error))
      return FALSE;
    if (o->duration > 0 && a.at_ms >= (gint64)o->duration * 1000) {
      ua_action_clear(&a);
      return bad(error, "--at %s: at or after the end of the call (--duration %d)", o->at[i],
                 o->duration);
    }
    g_array_append_val(o->actions, a);
  }
  /* stable for equal times: the command-line order */
  g_array_sort(o->actions, action_cmp);
  if (strcmp(o->update_method, "reinvite") == 0)
    o->use_update = FALSE;
  else if (strcmp(o->update_method, "update") == 0)
    o->use_update = TRUE;
  else
    return bad(error, "--update-method %s: not reinvite or update", o->update_method);
  if (!fault_parse(o, error))
    return FALSE;
  if (o->fault_offer < 0)
    o->fault_offer = o->fault_kind == UA_FAULT_REPLAY_PREVIOUS ? 1 : 0;
  if (o->fault_kind == UA_FAULT_REPLAY_PREVIOUS && o->fault_offer == 0)
    return bad(error, "--fault replay-previous: the INVITE has no previous offer (use "
                      "--fault-offer 1 or later)");
  if (o->fault_kind != UA_FAULT_NONE && (guint)o->fault_offer > o->actions->len)
    return bad(error, "--fault-offer %d: there are only %u --at offers", o->fault_offer,
               o->actions->len);
  if (o->fault_kind == UA_FAULT_FROM_MISMATCH && o->fault_offer != 0)
    return bad(error, "--fault from-mismatch applies to the INVITE only (--fault-offer 0)");
  if (o->fault_kind == UA_FAULT_TAMPER_SRTP_KEY && o->fault_offer != 0)
    return bad(error, "--fault tamper-srtp-key applies to every key of the call, not to one offer "
                      "(no --fault-offer)");
  /* "5" or "5%" */
  g_autofree char *loss = g_strdup(o->send_loss);
  if (g_str_has_suffix(loss, "%"))
    loss[strlen(loss) - 1] = '\0';
  if (!number_parse(loss, 0, 100, &o->send_loss_percent))
    return bad(error, "--send-loss %s: not a percentage from 0 to 100", o->send_loss);
  if (o->record && !*o->record)
    return bad(error, "--record: empty file name");
  return TRUE;
}

static gboolean check_media(UaOptions *o, GError **error)
{
  if (!ua_listen_parse(o->sip_listen, &o->sip_host, &o->sip_port, error))
    return FALSE;
  if (!audio_parse(o, error))
    return FALSE;
  if (!ua_policy_parse(o->policy, o->policies, &o->n_policies, error))
    return FALSE;
  if (g_ascii_strcasecmp(o->codec, "pcmu") == 0)
    o->codec_pt = 0;
  else if (g_ascii_strcasecmp(o->codec, "pcma") == 0)
    o->codec_pt = 8;
  else
    return bad(error, "--codec %s: not pcmu or pcma", o->codec);
  return TRUE;
}

static gboolean check_load(UaOptions *o, GError **error)
{
  const char *r = o->join_rate;
  g_autofree char *num = g_str_has_suffix(r, "/s") ? g_strndup(r, strlen(r) - 2) : g_strdup(r);
  char *end = NULL;
  double v = g_ascii_strtod(num, &end);
  if (!*num || *end || !(v > 0) || v > 100000)
    return bad(error, "--join-rate %s: not a rate in calls per second (e.g. 20 or 20/s)", r);
  o->join_rate_per_s = v;
  if (o->participants > 0 && !o->participant_credentials)
    return bad(error, "load: --participant-credentials DIR|PATTERN is required with "
                      "--participants > 0");
  return TRUE;
}

/* analyse FILE.wav HZ...: the file (read later), the frequencies, --trim. */
static gboolean analyse_args(UaOptions *o, GPtrArray *positional, GError **error)
{
  if (positional->len < 2)
    return bad(error, "analyse: a WAV file and at least one frequency are needed (analyse "
                      "FILE.wav HZ...)");
  o->analyse_path = g_strdup(positional->pdata[0]);
  o->analyse_hz = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 1; i < positional->len; i++) {
    const char *text = positional->pdata[i];
    double hz;
    /* below half the 8 kHz sampling rate */
    if (!number_parse(text, 1, 3999, &hz))
      return bad(error, "analyse: '%s' is not a frequency from 1 to 3999 Hz", text);
    g_array_append_val(o->analyse_hz, hz);
  }
  if (!number_parse(o->trim, 0, 86400, &o->trim_s))
    return bad(error, "--trim %s: not a number of seconds (0 or more)", o->trim);
  return TRUE;
}

/* Whether --name (of the table, or --config) is followed by its value. */
static gboolean option_takes_value(GArray *table, const char *name)
{
  if (strcmp(name, "config") == 0)
    return TRUE;
  for (guint i = 0; i < table->len; i++) {
    const ConfOption *opt = &g_array_index(table, ConfOption, i);
    if (strcmp(opt->name, name) == 0)
      return opt->type != CONF_BOOL;
  }
  return FALSE;
}

static gboolean command_from_name(const char *name, UaCommand *cmd)
{
  static const char *const names[] = { "ticket", "create", "join", "load", "analyse" };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    if (strcmp(name, names[i]) == 0) {
      *cmd = (UaCommand)i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean ua_options_parse(UaOptions *o, int argc, char **argv, GError **error)
{
  if (argc < 2 || argv[1][0] == '-') {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
      g_print("%s %s\n", PROGRAM, PACKAGE_VERSION);
      exit(0);
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
      g_print("Usage: %s SUBCOMMAND [OPTION...]\n\nA MIKEY-TICKET SIP user agent.\n\n%s\n", PROGRAM,
              UA_SUBCOMMANDS);
      exit(0);
    }
    return bad(error,
               "a subcommand is needed: ticket, create, join, load or analyse (see %s --help)",
               PROGRAM);
  }
  if (!command_from_name(argv[1], &o->command))
    return bad(error, "unknown subcommand '%s' (ticket, create, join, load or analyse)", argv[1]);

  g_autoptr(GArray) table = table_for(o->command, o);
  /* Positional arguments are taken out first: GOption would give a flag (--json) the word that
   * follows it as its optional value. */
  g_autofree char **sub_argv_mem = g_new0(char *, (gsize)argc + 1);
  g_autoptr(GPtrArray) positional = g_ptr_array_new();
  g_autofree char *prog = g_strdup_printf("%s %s", PROGRAM, argv[1]);
  int sub_argc = 0;
  sub_argv_mem[sub_argc++] = prog;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++)
        g_ptr_array_add(positional, argv[i]);
      break;
    }
    if (a[0] != '-' || a[1] == '\0') {
      g_ptr_array_add(positional, argv[i]);
      continue;
    }
    sub_argv_mem[sub_argc++] = argv[i];
    if (a[1] == '-' && !strchr(a, '=') && option_takes_value(table, a + 2) && i + 1 < argc)
      sub_argv_mem[sub_argc++] = argv[++i];
  }
  char **sub_argv = sub_argv_mem;
  const char *summaries[] = {
    "Requests a ticket naming the --recipient URIs from the KMS and prints its policy.",
    "Creates a conference: a ticket naming --factory and every --participant, then an INVITE "
    "to the factory.",
    "Joins the conference CONF-URI: a ticket naming it, then an INVITE to it.",
    "Runs --conferences conferences of --participants participants each, every one a real SIP "
    "call with SRTP media, and prints setup latency, failures and media statistics.",
    "Prints the level of each frequency HZ in FILE.wav (a --record recording) with a Goertzel "
    "filter, in dB of the total power.",
  };
  if (!conf_parse((const ConfOption *)(void *)table->data, PROGRAM, summaries[o->command], NULL,
                  PROGRAM " " PACKAGE_VERSION, &sub_argc, &sub_argv, NULL, error))
    return FALSE;

  if (sub_argc > 1) /* not reached: conf_parse consumes options only */
    return bad(error, "%s: unexpected argument '%s'", argv[1], sub_argv[1]);
  if (o->command == UA_CMD_JOIN) {
    if (positional->len != 1)
      return bad(error, "join: exactly one CONF-URI is needed%s%s",
                 positional->len > 1 ? ", got also " : "",
                 positional->len > 1 ? (const char *)positional->pdata[1] : "");
    if (!uri_ok(positional->pdata[0], "CONF-URI", error))
      return FALSE;
    o->target = g_strdup(positional->pdata[0]);
  } else if (o->command == UA_CMD_ANALYSE) {
    return analyse_args(o, positional, error);
  } else if (positional->len > 0) {
    return bad(error, "%s: unexpected argument '%s'", argv[1], (const char *)positional->pdata[0]);
  }

  if (!o->credential)
    return bad(error, "%s: --credential FILE is required", argv[1]);
  switch (o->command) {
  case UA_CMD_TICKET:
    if (!o->recipients || !o->recipients[0])
      return bad(error, "ticket: at least one --recipient URI is needed");
    for (guint i = 0; o->recipients[i]; i++)
      if (!uri_ok(o->recipients[i], "--recipient", error))
        return FALSE;
    return TRUE;
  case UA_CMD_CREATE:
    if (!o->factory)
      return bad(error, "create: --factory URI is required");
    if (!uri_ok(o->factory, "--factory", error))
      return FALSE;
    for (guint i = 0; o->participant && o->participant[i]; i++)
      if (!uri_ok(o->participant[i], "--participant", error))
        return FALSE;
    o->target = g_strdup(o->factory);
    return check_media(o, error) && check_call(o, error);
  case UA_CMD_JOIN:
    return check_media(o, error) && check_call(o, error);
  case UA_CMD_LOAD:
    if (!o->factory)
      return bad(error, "load: --factory URI is required");
    if (!uri_ok(o->factory, "--factory", error))
      return FALSE;
    o->target = g_strdup(o->factory);
    return check_media(o, error) && check_load(o, error);
  case UA_CMD_ANALYSE:
    break; /* done above */
  }
  return TRUE;
}
