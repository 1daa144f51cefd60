/* mikeyconfd, the daemon object: the conference registry (conference.h) and its records
 * (store.h), the audit log and its live stream (control.h), the control handler behind
 * mikeyconfctl, the media engine (media.h), the KMS resolver (resolve.h), the replay cache of
 * authenticated TRANSFER_INITs, per-source rate limits, empty-timeout, and the SIP side
 * (sip.h), which asks this module to commit what it decided before it answers.
 *
 * Everything runs on the one main loop (design.md "Threads"): no locks. */
#pragma once

#include "focus/conference.h"
#include "focus/control.h"
#include "focus/focusconf.h"
#include "focus/media.h"
#include "focus/resolve.h"
#include "focus/store.h"

#include "common/credential.h"
#include "mikey/replay.h"

typedef struct _Focus Focus;
typedef struct _FocusSip FocusSip;
typedef struct _FocusLeg FocusLeg;

/* What the daemon knows of a conference while it runs: its record (owned by the registry) and
 * the legs connected to it. */
typedef struct {
  FocusConf *conf;
  GQueue legs;        /* FocusLeg* */
  GList empty_link;   /* in Focus.empty while the conference has no leg */
  gint64 empty_since; /* monotonic usec */
} FocusRoom;

/* Counters of `mikeyconfctl stats` kept here (the resolver and the store keep their own). */
typedef struct {
  guint64 invites, reinvites, updates, byes, cancels, options, rejected_methods;
  guint64 created, admitted, refused, rekeyed, set_changes, removed, kicked, ended;
  guint64 rate_limited, busy, store_failures;
  double setup_ms[1024]; /* INVITE received -> 200 OK sent, last 1024 */
  guint n_setup, setup_next;
} FocusCounters;

struct _Focus {
  FocusConfig *cfg;
  const ConfOption *options;
  char *config_path;
  FocusIdentities ids;
  Credential cred;
  FocusStore *store;
  FocusRegistry *reg;
  GHashTable *rooms; /* FocusConf* -> FocusRoom* (owned) */
  GQueue empty;      /* FocusRoom* without legs, oldest first */
  FocusControl *ctl;
  FocusMedia *media;
  FocusResolver *resolver;
  MikeyReplayCache *replay;
  FocusSip *sip;
  GHashTable *sources; /* rate limit: source IP -> bucket */
  guint sweep_timer;
  char *warn_agent; /* the warn-agent of our Warning headers (the host) */
  FocusCounters n;
  gboolean stopping;
  /* giving freed memory back after a burst of calls (focus.c, trim_heap) */
  guint ends_since_trim;
  gint64 last_end;     /* monotonic usec of the last leg's end */
  gint64 late_trim_at; /* monotonic usec; 0: none due */
};

/* Opens the records (loading every conference), the control socket, the media engine, the
 * resolver and the SIP listeners. Errors name what failed. */
Focus *focus_new(FocusConfig *cfg, const ConfOption *options, const char *config_path,
                 GError **error);
void focus_free(Focus *f);
/* SIGTERM: BYE every leg; done(data) runs once they are answered or after timeout_ms. */
void focus_stop(Focus *f, guint timeout_ms, GSourceFunc done, gpointer data);
/* SIGHUP: re-reads the config file and applies what can change at run time (log-level,
 * kms-timeout, max-resolves, rate-limit, empty-timeout, allow-from-mismatch, creators, skew). */
gboolean focus_reload(Focus *f, GError **error);

/* ---- for sip.c ---- */

FocusRoom *focus_room(Focus *f, FocusConf *conf);
/* An audit event: committed to the store, published to followers, logged (one line per
 * decision). Failures to record are logged and counted. */
void focus_audit(Focus *f, const char *conference, const char *identity, const char *source,
                 const char *decision, const char *reason, const char *detail);
/* 7.1 step 4: the record of a new conference (uri from focus_conf_uri_new()) and its
 * "created" audit event committed in one transaction; then it is in the registry. */
FocusConf *focus_create_conference(Focus *f, const char *uri, const char *owner, GPtrArray *allowed,
                                   const char *ticket_fp, const char *source, GError **error);
/* 7.3: commits the new set (with its "set-changed" event), installs it, and sends BYE with the
 * removal Reason to every leg of each removed identity (a "removed" event each). */
gboolean focus_change_allowed(Focus *f, FocusConf *conf, GPtrArray *allowed, GPtrArray *removed,
                              const char *identity, const char *source, const char *detail,
                              GError **error);
/* Leg bookkeeping: participant counts and the empty-timeout. */
void focus_room_add_leg(Focus *f, FocusConf *conf, FocusLeg *leg, GList *link);
void focus_room_remove_leg(Focus *f, FocusConf *conf, GList *link);
/* A factory INVITE from source_ip: FALSE when its rate limit is exceeded. */
gboolean focus_rate_allow(Focus *f, const char *source_ip);
void focus_count_setup(Focus *f, gint64 usec);
/* A SIP leg ended (its memory is freed): lets the daemon give memory back once a burst ends. */
void focus_note_leg_end(Focus *f);

/* SIP status for a store failure: 503 for a full or read-only disk, else 500. */
int focus_store_error_status(const GError *error);
