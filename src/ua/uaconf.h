/* mikeyua's options: one table per subcommand (the common options plus its own) for the command
 * line and [mikeyua] in a --config file (common/conf.h), then checked and turned into typed
 * values. Every option is in mikeyua(1). */
#pragma once

#include <glib.h>

typedef enum {
  UA_CMD_TICKET,
  UA_CMD_CREATE,
  UA_CMD_JOIN,
  UA_CMD_LOAD,
  UA_CMD_ANALYSE, /* no SIP, no credential: tone levels of a WAV file */
} UaCommand;

/* What the owner (or any participant) does to its leg during a call (profile 7.3). */
typedef enum {
  UA_ACTION_NEW_TICKET,   /* a new ticket naming the conference URI and ARG's URIs */
  UA_ACTION_SAME_TICKET,  /* the call's first ticket again (J = 1) */
  UA_ACTION_FOCUS_TICKET, /* a new ticket naming only the conference URI */
  UA_ACTION_CSB_UPDATE,   /* a CSB update of the current bundle (no ticket, keys unchanged) */
} UaActionKind;

typedef struct {
  gint64 at_ms; /* after the call is established */
  UaActionKind kind;
  char **uris; /* UA_ACTION_NEW_TICKET: the other recipients */
} UaAction;

const char *ua_action_name(UaActionKind kind);

/* Deliberate protocol faults for tests of the focus (--fault). */
typedef enum {
  UA_FAULT_NONE = 0,
  UA_FAULT_TAMPER_MAC,       /* the TRANSFER_INIT's V MAC has one bit flipped */
  UA_FAULT_TAMPER_TICKET,    /* a bit of the TICKET's Ticket Data flipped, V re-computed */
  UA_FAULT_STALE_TIMESTAMP,  /* T ten minutes in the past */
  UA_FAULT_REPLAY_PREVIOUS,  /* the previous offer's TRANSFER_INIT sent again, unchanged */
  UA_FAULT_FROM_MISMATCH,    /* the From header names another URI than the credential */
  UA_FAULT_MALFORMED_SDP,    /* a body that is not SDP */
  UA_FAULT_NO_KEY_MGMT,      /* SDP without a=key-mgmt */
  UA_FAULT_GARBAGE_KEY_MGMT, /* a=key-mgmt:mikey with random bytes */
  UA_FAULT_TAMPER_SRTP_KEY,  /* not an offer: our outbound SRTP master key has one bit flipped */
} UaFaultKind;

const char *ua_fault_name(UaFaultKind kind);

typedef enum {
  UA_AUDIO_TONE,
  UA_AUDIO_WAV,
  UA_AUDIO_SILENCE,
} UaAudioKind;

typedef struct {
  UaCommand command;

  /* ---- raw values bound to the option table ---- */
  char *credential;
  char *sip_listen;
  gint duration;
  char *audio;
  char *record;
  char *policy;
  char *codec;
  gint timeout;
  gboolean json;
  gboolean insecure_http;
  char **at;
  char *update_method;
  char **fault;
  gint fault_offer;
  gint expect;
  gint expect_bye_reason;
  char *send_loss;
  char *log_level;
  gboolean sip_trace;
  char *key_log; /* create, join, load: append the calls' secrets to this file (debugging) */
  /* ticket */
  char **recipients;
  /* create, load */
  char *factory;
  char **participant;
  /* load */
  gint conferences;
  gint participants;
  char *join_rate;
  gint call_length;
  char *participant_credentials;
  /* analyse */
  char *trim;

  /* ---- checked and typed (ua_options_parse) ---- */
  char *target;   /* join: CONF-URI; create/load: the factory */
  char *sip_host; /* IP literal, no brackets */
  guint sip_port; /* 0 = ephemeral */
  UaAudioKind audio_kind;
  guint tone_hz;
  char *wav_path;
  guint8 policies[2]; /* profile policy numbers in offer order */
  guint n_policies;
  guint8 codec_pt;     /* 0 PCMU, 8 PCMA: offered first */
  gboolean use_update; /* --update-method update */
  GArray *actions;     /* UaAction, sorted by time */
  UaFaultKind fault_kind;
  char *fault_from; /* from-mismatch:URI */
  double send_loss_percent;
  double join_rate_per_s;
  char *analyse_path; /* analyse: FILE.wav */
  GArray *analyse_hz; /* analyse: double, in the order given */
  double trim_s;
} UaOptions;

void ua_options_init(UaOptions *opts);
void ua_options_clear(UaOptions *opts);

/* Parses argv[1] (the subcommand) and the rest. --help prints the subcommand's options and
 * exits 0; so does --version. Errors name the option and the value. */
gboolean ua_options_parse(UaOptions *opts, int argc, char **argv, GError **error);

/* "SEC:ACTION[:ARG]" (SEC may have a fraction). */
gboolean ua_action_parse(const char *text, UaAction *action, GError **error);
void ua_action_clear(UaAction *action);
/* "gcm", "aes-cm", "both" (= gcm,aes-cm) or a comma list of the two in offer order. */
gboolean ua_policy_parse(const char *text, guint8 policies[2], guint *n, GError **error);
/* "IP", "IP:PORT", "[IPv6]:PORT", "IPv6". */
gboolean ua_listen_parse(const char *text, char **host, guint *port, GError **error);

/* The subcommand list of --help (the same text as the man page's synopsis). */
extern const char UA_SUBCOMMANDS[];
