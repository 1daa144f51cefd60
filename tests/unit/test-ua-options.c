/* mikeyua's options (src/ua/uaconf.c): every option of every subcommand, their defaults, bad
 * values with the message the user sees, --at parsing, and the [mikeyua] group of a --config
 * file. */
#include "ua/uaconf.h"

#include "mikey/exchange.h"

#include <glib/gstdio.h>
#include <unistd.h>
#include <string.h>

/* Parses "mikeyua ARGS..." (a NULL-terminated list); asserts success. */
static void parse_ok(UaOptions *o, ...) G_GNUC_NULL_TERMINATED;
static void parse_ok(UaOptions *o, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)"mikeyua");
  va_list ap;
  va_start(ap, o);
  for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  ua_options_init(o);
  g_autoptr(GError) error = NULL;
  gboolean ok = ua_options_parse(o, (int)argv->len - 1, (char **)argv->pdata, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
}

/* Parses and expects a failure whose message contains needle. */
static void parse_bad(const char *needle, ...) G_GNUC_NULL_TERMINATED;
static void parse_bad(const char *needle, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *)"mikeyua");
  va_list ap;
  va_start(ap, needle);
  for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  UaOptions o;
  ua_options_init(&o);
  g_autoptr(GError) error = NULL;
  g_assert_false(ua_options_parse(&o, (int)argv->len - 1, (char **)argv->pdata, &error));
  g_assert_nonnull(error);
  if (!strstr(error->message, needle))
    g_test_message("expected '%s' in: %s", needle, error->message);
  g_assert_nonnull(strstr(error->message, needle));
  ua_options_clear(&o);
}

#define CRED "--credential", "alice.cred"
#define FACTORY "sip:conference-factory@conf.example.org"
#define CONF "sip:conf-00112233445566778899aabbccddeeff@conf.example.org"

static void test_defaults(void)
{
  UaOptions o;
  parse_ok(&o, "create", CRED, "--factory", FACTORY, NULL);
  g_assert_cmpint(o.command, ==, UA_CMD_CREATE);
  g_assert_cmpstr(o.target, ==, FACTORY);
  g_assert_cmpstr(o.credential, ==, "alice.cred");
  g_assert_cmpstr(o.sip_host, ==, "127.0.0.1");
  g_assert_cmpuint(o.sip_port, ==, 0);
  g_assert_cmpint(o.duration, ==, 10);
  g_assert_cmpint(o.audio_kind, ==, UA_AUDIO_TONE);
  g_assert_cmpuint(o.tone_hz, ==, 440);
  g_assert_cmpuint(o.n_policies, ==, 2); /* both, GCM first */
  g_assert_cmpuint(o.policies[0], ==, MIKEY_POLICY_AEAD_AES_128_GCM);
  g_assert_cmpuint(o.policies[1], ==, MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80);
  g_assert_cmpuint(o.codec_pt, ==, 0);
  g_assert_cmpint(o.timeout, ==, 10);
  g_assert_false(o.json);
  g_assert_false(o.insecure_http);
  g_assert_false(o.use_update);
  g_assert_cmpuint(o.actions->len, ==, 0);
  g_assert_cmpint(o.fault_kind, ==, UA_FAULT_NONE);
  g_assert_cmpint(o.fault_offer, ==, 0);
  g_assert_cmpint(o.expect, ==, 200);
  g_assert_cmpint(o.expect_bye_reason, ==, 0);
  g_assert_null(o.record);
  ua_options_clear(&o);
}

static void test_every_call_option(void)
{
  g_autofree char *wav = NULL;
  int fd = g_file_open_tmp("ua-XXXXXX.wav", &wav, NULL);
  g_assert_cmpint(fd, >=, 0);
  close(fd);
  UaOptions o;
  parse_ok(&o, "join", CRED, "--sip-listen", "127.0.0.2:5070", "--duration", "0", "--audio", wav,
           "--record", "out.wav", "--policy", "aes-cm", "--codec", "PCMA", "--timeout", "3",
           "--json", "--insecure-http", "--at", "2.5:csb-update", "--at", "1:same-ticket",
           "--update-method", "update", "--fault", "tamper-mac", "--fault-offer", "2", "--expect",
           "403", "--expect-bye-reason", "403", "--log-level", "debug", "--sip-trace", CONF, NULL);
  g_assert_cmpint(o.command, ==, UA_CMD_JOIN);
  g_assert_cmpstr(o.target, ==, CONF);
  g_assert_cmpstr(o.sip_host, ==, "127.0.0.2");
  g_assert_cmpuint(o.sip_port, ==, 5070);
  g_assert_cmpint(o.duration, ==, 0);
  g_assert_cmpint(o.audio_kind, ==, UA_AUDIO_WAV);
  g_assert_cmpstr(o.wav_path, ==, wav);
  g_assert_cmpstr(o.record, ==, "out.wav");
  g_assert_cmpuint(o.n_policies, ==, 1);
  g_assert_cmpuint(o.policies[0], ==, MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80);
  g_assert_cmpuint(o.codec_pt, ==, 8);
  g_assert_cmpint(o.timeout, ==, 3);
  g_assert_true(o.json);
  g_assert_true(o.insecure_http);
  g_assert_true(o.use_update);
  g_assert_cmpuint(o.actions->len, ==, 2); /* sorted by time */
  g_assert_cmpint(g_array_index(o.actions, UaAction, 0).at_ms, ==, 1000);
  g_assert_cmpint(g_array_index(o.actions, UaAction, 0).kind, ==, UA_ACTION_SAME_TICKET);
  g_assert_cmpint(g_array_index(o.actions, UaAction, 1).at_ms, ==, 2500);
  g_assert_cmpint(g_array_index(o.actions, UaAction, 1).kind, ==, UA_ACTION_CSB_UPDATE);
  g_assert_cmpint(o.fault_kind, ==, UA_FAULT_TAMPER_MAC);
  g_assert_cmpint(o.fault_offer, ==, 2);
  g_assert_cmpint(o.expect, ==, 403);
  g_assert_cmpint(o.expect_bye_reason, ==, 403);
  g_assert_cmpstr(o.log_level, ==, "debug");
  g_assert_true(o.sip_trace);
  ua_options_clear(&o);
  g_unlink(wav);

  parse_ok(&o, "create", CRED, "--factory", FACTORY, "--participant", "sip:bob@example.org",
           "--participant", "sip:carol@example.org", "--audio", "silence", "--policy", "aes-cm,gcm",
           "--sip-listen", "[::1]:5080", NULL);
  g_assert_cmpuint(g_strv_length(o.participant), ==, 2);
  g_assert_cmpint(o.audio_kind, ==, UA_AUDIO_SILENCE);
  g_assert_cmpuint(o.policies[0], ==, MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80);
  g_assert_cmpuint(o.policies[1], ==, MIKEY_POLICY_AEAD_AES_128_GCM);
  g_assert_cmpstr(o.sip_host, ==, "::1");
  g_assert_cmpuint(o.sip_port, ==, 5080);
  ua_options_clear(&o);

  parse_ok(&o, "join", CRED, "--sip-listen", "::1", "--policy", "gcm", CONF, NULL);
  g_assert_cmpstr(o.sip_host, ==, "::1");
  g_assert_cmpuint(o.sip_port, ==, 0);
  g_assert_cmpuint(o.n_policies, ==, 1);
  g_assert_cmpuint(o.policies[0], ==, MIKEY_POLICY_AEAD_AES_128_GCM);
  ua_options_clear(&o);
}

static void test_bad_values(void)
{
  parse_bad("--sip-listen 127.0.0.1:99999", "join", CRED, "--sip-listen", "127.0.0.1:99999", CONF,
            NULL);
  parse_bad("'example.org' is not an IP address", "join", CRED, "--sip-listen", "example.org:5060",
            CONF, NULL);
  parse_bad("expected [IPv6]:PORT", "join", CRED, "--sip-listen", "[::1", CONF, NULL);
  parse_bad("the tone must be 1 to 3999 Hz", "join", CRED, "--audio", "tone:5000", CONF, NULL);
  parse_bad("not tone:HZ, silence or a readable WAV file", "join", CRED, "--audio", "/no/such.wav",
            CONF, NULL);
  parse_bad("'chacha' is not gcm, aes-cm or both", "join", CRED, "--policy", "chacha", CONF, NULL);
  parse_bad("each policy at most once", "join", CRED, "--policy", "gcm,gcm", CONF, NULL);
  parse_bad("--codec g722: not pcmu or pcma", "join", CRED, "--codec", "g722", CONF, NULL);
  parse_bad("--timeout", "join", CRED, "--timeout", "0", CONF, NULL);
  parse_bad("--duration", "join", CRED, "--duration", "-1", CONF, NULL);
  parse_bad("--expect", "join", CRED, "--expect", "99", CONF, NULL);
  parse_bad("not an integer", "join", CRED, "--timeout", "ten", CONF, NULL);
  parse_bad("--update-method info: not reinvite or update", "join", CRED, "--update-method", "info",
            CONF, NULL);
  parse_bad("--fault nonsense", "join", CRED, "--fault", "nonsense", CONF, NULL);
  parse_bad("one fault per run", "join", CRED, "--fault", "tamper-mac", "--fault", "no-key-mgmt",
            CONF, NULL);
  parse_bad("--fault from-mismatch 'nope' is not a URI", "join", CRED, "--fault",
            "from-mismatch:nope", CONF, NULL);
  parse_bad("the INVITE has no previous offer", "join", CRED, "--fault", "replay-previous",
            "--fault-offer", "0", CONF, NULL);
  parse_bad("there are only 0 --at offers", "join", CRED, "--fault", "replay-previous", CONF, NULL);
  parse_bad("there are only 1 --at offers", "join", CRED, "--fault", "tamper-mac", "--fault-offer",
            "2", "--at", "1:csb-update", CONF, NULL);
  parse_bad("applies to the INVITE only", "join", CRED, "--fault", "from-mismatch:sip:x@y",
            "--fault-offer", "1", "--at", "1:csb-update", CONF, NULL);
}

static void test_faults(void)
{
  const struct {
    const char *arg;
    UaFaultKind kind;
  } cases[] = {
    { "tamper-mac", UA_FAULT_TAMPER_MAC },
    { "tamper-ticket", UA_FAULT_TAMPER_TICKET },
    { "stale-timestamp", UA_FAULT_STALE_TIMESTAMP },
    { "malformed-sdp", UA_FAULT_MALFORMED_SDP },
    { "no-key-mgmt", UA_FAULT_NO_KEY_MGMT },
    { "garbage-key-mgmt", UA_FAULT_GARBAGE_KEY_MGMT },
    { "tamper-srtp-key", UA_FAULT_TAMPER_SRTP_KEY },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    UaOptions o;
    parse_ok(&o, "join", CRED, "--fault", cases[i].arg, CONF, NULL);
    g_assert_cmpint(o.fault_kind, ==, cases[i].kind);
    g_assert_cmpint(o.fault_offer, ==, 0);
    g_assert_cmpstr(ua_fault_name(o.fault_kind), ==, cases[i].arg);
    ua_options_clear(&o);
  }
  UaOptions o;
  parse_ok(&o, "join", CRED, "--fault", "from-mismatch:sip:mallory@example.org", CONF, NULL);
  g_assert_cmpint(o.fault_kind, ==, UA_FAULT_FROM_MISMATCH);
  g_assert_cmpstr(o.fault_from, ==, "sip:mallory@example.org");
  ua_options_clear(&o);
  /* tamper-srtp-key is in the keys, not in an offer */
  parse_bad("applies to every key of the call", "join", CRED, "--fault", "tamper-srtp-key",
            "--fault-offer", "1", "--at", "1:csb-update", CONF, NULL);
  /* replay-previous goes to the first --at offer by default */
  parse_ok(&o, "join", CRED, "--fault", "replay-previous", "--at", "1:focus-ticket", CONF, NULL);
  g_assert_cmpint(o.fault_kind, ==, UA_FAULT_REPLAY_PREVIOUS);
  g_assert_cmpint(o.fault_offer, ==, 1);
  ua_options_clear(&o);
}

/* --send-loss: a percentage, fractions and a % sign allowed. */
static void test_send_loss(void)
{
  UaOptions o;
  parse_ok(&o, "join", CRED, CONF, NULL);
  g_assert_cmpfloat(o.send_loss_percent, ==, 0.0);
  ua_options_clear(&o);
  parse_ok(&o, "join", CRED, "--send-loss", "5", CONF, NULL);
  g_assert_cmpfloat(o.send_loss_percent, ==, 5.0);
  ua_options_clear(&o);
  parse_ok(&o, "create", CRED, "--factory", FACTORY, "--send-loss=0.5%", NULL);
  g_assert_cmpfloat(o.send_loss_percent, ==, 0.5);
  ua_options_clear(&o);
  parse_bad("--send-loss 101: not a percentage from 0 to 100", "join", CRED, "--send-loss", "101",
            CONF, NULL);
  parse_bad("--send-loss lots: not a percentage", "join", CRED, "--send-loss", "lots", CONF, NULL);
  parse_bad("Unknown option --send-loss", "load", CRED, "--factory", FACTORY, "--participants", "0",
            "--send-loss", "5", NULL);
}

/* analyse FILE.wav HZ...: no credential, frequencies below 4 kHz, --trim in seconds. */
static void test_analyse(void)
{
  UaOptions o;
  parse_ok(&o, "analyse", "--trim", "1.5", "bob.wav", "400", "700.5", "--json", NULL);
  g_assert_cmpint(o.command, ==, UA_CMD_ANALYSE);
  g_assert_cmpstr(o.analyse_path, ==, "bob.wav");
  g_assert_cmpuint(o.analyse_hz->len, ==, 2);
  g_assert_cmpfloat(g_array_index(o.analyse_hz, double, 0), ==, 400.0);
  g_assert_cmpfloat(g_array_index(o.analyse_hz, double, 1), ==, 700.5);
  g_assert_cmpfloat(o.trim_s, ==, 1.5);
  g_assert_true(o.json);
  ua_options_clear(&o);
  parse_bad("a WAV file and at least one frequency", "analyse", "bob.wav", NULL);
  parse_bad("'4000' is not a frequency from 1 to 3999 Hz", "analyse", "bob.wav", "4000", NULL);
  parse_bad("'low' is not a frequency", "analyse", "bob.wav", "low", NULL);
  parse_bad("--trim x: not a number of seconds", "analyse", "--trim", "x", "bob.wav", "400", NULL);
  parse_bad("Unknown option --credential", "analyse", CRED, "bob.wav", "400", NULL);
}

static void test_at(void)
{
  UaAction a;
  g_autoptr(GError) error = NULL;
  g_assert_true(
      ua_action_parse("3:new-ticket:sip:bob@example.org, sip:carol@example.org", &a, &error));
  g_assert_cmpint(a.at_ms, ==, 3000);
  g_assert_cmpint(a.kind, ==, UA_ACTION_NEW_TICKET);
  g_assert_cmpuint(g_strv_length(a.uris), ==, 2);
  g_assert_cmpstr(a.uris[0], ==, "sip:bob@example.org");
  g_assert_cmpstr(a.uris[1], ==, "sip:carol@example.org"); /* blanks trimmed */
  ua_action_clear(&a);
  g_assert_true(ua_action_parse("0.25:focus-ticket", &a, &error));
  g_assert_cmpint(a.at_ms, ==, 250);
  g_assert_cmpint(a.kind, ==, UA_ACTION_FOCUS_TICKET);
  g_assert_null(a.uris);
  g_assert_true(ua_action_parse("0:same-ticket", &a, &error));
  g_assert_cmpint(a.kind, ==, UA_ACTION_SAME_TICKET);
  g_assert_true(ua_action_parse("7:csb-update", &a, &error));
  g_assert_cmpint(a.kind, ==, UA_ACTION_CSB_UPDATE);
  g_assert_cmpstr(ua_action_name(UA_ACTION_NEW_TICKET), ==, "new-ticket");

  const struct {
    const char *text, *needle;
  } bad[] = {
    { "csb-update", "expected SEC:ACTION[:ARG]" },
    { "x:csb-update", "'x' is not a number of seconds" },
    { "-1:csb-update", "is not a number of seconds" },
    { "1:rekey", "unknown action 'rekey'" },
    { "1:new-ticket", "new-ticket needs the URIs" },
    { "1:new-ticket:", "new-ticket needs the URIs" },
    { "1:new-ticket:sip:bob@example.org,", "is not a URI" },
    { "1:same-ticket:sip:bob@example.org", "same-ticket takes no argument" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_clear_error(&error);
    g_assert_false(ua_action_parse(bad[i].text, &a, &error));
    if (!strstr(error->message, bad[i].needle))
      g_test_message("'%s': %s", bad[i].text, error->message);
    g_assert_nonnull(strstr(error->message, bad[i].needle));
  }
  /* on the command line: an action at or after the end of the call is refused */
  parse_bad("at or after the end of the call (--duration 5)", "join", CRED, "--duration", "5",
            "--at", "5:csb-update", CONF, NULL);
  UaOptions o;
  parse_ok(&o, "join", CRED, "--duration", "0", "--at", "500:csb-update", CONF, NULL);
  g_assert_cmpuint(o.actions->len, ==, 1);
  ua_options_clear(&o);
}

static void test_subcommands(void)
{
  parse_bad("a subcommand is needed", NULL);
  parse_bad("unknown subcommand 'dial'", "dial", NULL);
  parse_bad("--credential FILE is required", "join", CONF, NULL);
  parse_bad("at least one --recipient URI", "ticket", CRED, NULL);
  parse_bad("--recipient 'bob' is not a URI", "ticket", CRED, "--recipient", "bob", NULL);
  parse_bad("exactly one CONF-URI", "join", CRED, NULL);
  parse_bad("got also sip:b@c", "join", CRED, CONF, "sip:b@c", NULL);
  parse_bad("CONF-URI 'nope' is not a URI", "join", CRED, "nope", NULL);
  parse_bad("--factory URI is required", "create", CRED, NULL);
  parse_bad("--participant 'bob' is not a URI", "create", CRED, "--factory", FACTORY,
            "--participant", "bob", NULL);
  parse_bad("unexpected argument 'extra'", "create", CRED, "--factory", FACTORY, "extra", NULL);
  parse_bad("Unknown option --duration", "ticket", CRED, "--recipient", "sip:a@b", "--duration",
            "5", NULL); /* a call option is not a ticket option */
  parse_bad("--participant-credentials DIR|PATTERN is required", "load", CRED, "--factory", FACTORY,
            NULL);
  parse_bad("--join-rate fast", "load", CRED, "--factory", FACTORY, "--join-rate", "fast",
            "--participants", "0", NULL);
  parse_bad("--join-rate 0", "load", CRED, "--factory", FACTORY, "--join-rate", "0",
            "--participants", "0", NULL);

  UaOptions o;
  parse_ok(&o, "ticket", CRED, "--recipient", FACTORY, "--recipient", "sip:bob@example.org",
           "--json", NULL);
  g_assert_cmpint(o.command, ==, UA_CMD_TICKET);
  g_assert_cmpuint(g_strv_length(o.recipients), ==, 2);
  g_assert_true(o.json);
  ua_options_clear(&o);

  parse_ok(&o, "load", CRED, "--factory", FACTORY, "--conferences", "3", "--participants", "4",
           "--participant-credentials", "creds/user%d.cred", "--join-rate", "25/s", "--call-length",
           "7", "--codec", "pcma", NULL);
  g_assert_cmpint(o.command, ==, UA_CMD_LOAD);
  g_assert_cmpint(o.conferences, ==, 3);
  g_assert_cmpint(o.participants, ==, 4);
  g_assert_cmpstr(o.participant_credentials, ==, "creds/user%d.cred");
  g_assert_cmpfloat(o.join_rate_per_s, ==, 25.0);
  g_assert_cmpint(o.call_length, ==, 7);
  g_assert_cmpuint(o.codec_pt, ==, 8);
  ua_options_clear(&o);
}

/* The same names in [mikeyua] of a --config file; the command line wins. */
static void test_config_file(void)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp("mikeyua-XXXXXX.conf", &path, NULL);
  g_assert_cmpint(fd, >=, 0);
  close(fd);
  g_assert_true(g_file_set_contents(path,
                                    "[mikeyua]\n"
                                    "credential=bob.cred\n"
                                    "timeout=4\n"
                                    "policy=aes-cm\n"
                                    "at=1:csb-update;2:same-ticket\n",
                                    -1, NULL));
  UaOptions o;
  parse_ok(&o, "join", "--config", path, "--timeout", "6", CONF, NULL);
  g_assert_cmpstr(o.credential, ==, "bob.cred");
  g_assert_cmpint(o.timeout, ==, 6);
  g_assert_cmpuint(o.n_policies, ==, 1);
  g_assert_cmpuint(o.actions->len, ==, 2);
  ua_options_clear(&o);
  g_assert_true(g_file_set_contents(path, "[mikeyua]\nno-such-key=1\n", -1, NULL));
  g_autofree char *needle = g_strdup_printf("unknown key 'no-such-key'");
  parse_bad(needle, "join", "--config", path, CONF, NULL);
  g_unlink(path);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ua-options/defaults", test_defaults);
  g_test_add_func("/ua-options/every-call-option", test_every_call_option);
  g_test_add_func("/ua-options/bad-values", test_bad_values);
  g_test_add_func("/ua-options/faults", test_faults);
  g_test_add_func("/ua-options/send-loss", test_send_loss);
  g_test_add_func("/ua-options/analyse", test_analyse);
  g_test_add_func("/ua-options/at", test_at);
  g_test_add_func("/ua-options/subcommands", test_subcommands);
  g_test_add_func("/ua-options/config-file", test_config_file);
  return g_test_run();
}
