/* The conference rules of profile 7 as pure functions over a registry of conferences: which
 * identity may create, who may join, which IDRr the focus resolves with, what an in-dialog
 * offer changes. The SIP glue (sip.c) asks these and turns each FocusDecision into a SIP
 * response and an audit event; nothing here does I/O or reads a clock.
 *
 * Identities are compared as profile 1 says (sipuri.h) and stored normalised. An identity is
 * a URI; later it may be an MC service ID rather than a SIP AOR — nothing here assumes "sip:". */
#pragma once

#include "mikey/exchange.h"

#include <glib.h>

/* Who the focus is (profile 1). */
typedef struct {
  char *factory_uri;    /* sip:conference-factory@HOST by default */
  char *conf_host;      /* host[:port] of conference URIs: sip:conf-<32 hex>@conf_host */
  char *conf_scheme;    /* "sip" */
  char *focus_identity; /* the focus credential's identity */
  GStrv creators;       /* optional focus-side creator list (7.1 step 2); NULL = any */
} FocusIdentities;

void focus_identities_clear(FocusIdentities *ids);

/* A conference and its allowed set. The strings are read-only: the URIs and the fingerprint
 * share the conference's allocation, identities are interned (conference.c). */
typedef struct {
  const char *uri;       /* the conference URI, as sent in Contact */
  const char *key;       /* its sip_uri_normalize() form: the registry's key (NULL: none) */
  const char *owner;     /* normalised identity of the creator */
  GPtrArray *allowed;    /* normalised identities (interned), unique, sorted; holds the owner */
  const char *ticket_fp; /* fingerprint of the creation ticket */
  gint64 created;        /* Unix seconds */
  gint64 updated;
  gint64 ended;     /* 0 while live */
  GList order_link; /* in its registry's creation order */
} FocusConf;

FocusConf *focus_conf_new(const char *uri, const char *owner, GPtrArray *allowed,
                          const char *ticket_fp, gint64 now);
void focus_conf_free(FocusConf *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusConf, focus_conf_free)
/* Is this identity (any URI-equal form) in the allowed set? */
gboolean focus_conf_allows(const FocusConf *conf, const char *identity);
/* The allowed set as one space-separated string (records, logs). g_free. */
char *focus_conf_allowed_string(const FocusConf *conf);

/* Conferences by URI (URI-equal forms find the same one), ended ones included. */
typedef struct _FocusRegistry FocusRegistry;
FocusRegistry *focus_registry_new(void);
void focus_registry_free(FocusRegistry *reg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FocusRegistry, focus_registry_free)
void focus_registry_add(FocusRegistry *reg, FocusConf *conf); /* takes ownership */
FocusConf *focus_registry_lookup(FocusRegistry *reg, const char *uri);
gboolean focus_registry_remove(FocusRegistry *reg, const char *uri);
guint focus_registry_count(FocusRegistry *reg, gboolean live_only);
/* Conferences in creation order; the list is the caller's, the conferences are not. */
GList *focus_registry_list(FocusRegistry *reg);

/* A new conference URI: <scheme>:conf-<32 lowercase hex, random>@<conf_host>. */
char *focus_conf_uri_new(const FocusIdentities *ids);

/* What a URI is to this focus. */
typedef enum {
  FOCUS_URI_OTHER = 0,
  FOCUS_URI_FACTORY,
  FOCUS_URI_CONFERENCE, /* has the shape of a conference URI of this focus */
  FOCUS_URI_FOCUS,      /* the focus credential's own identity */
} FocusUriKind;

FocusUriKind focus_uri_kind(const FocusIdentities *ids, const char *uri);

/* The allowed set a ticket describes (7.1 step 3, 7.3): its IDRr list minus focus identities
 * (factory, conference URIs, the focus) plus the owner. IDRr payloads that are not URIs are
 * left out. Returns normalised identities, unique, sorted. */
GPtrArray *focus_allowed_from_ticket(const FocusIdentities *ids, const MikeyTicketBody *tp,
                                     const char *owner);
/* TRUE if every IDRr of the ticket is a focus identity (7.3 "focus-only ticket"). */
gboolean focus_ticket_names_only_focus(const FocusIdentities *ids, const MikeyTicketBody *tp);
/* TRUE if one IDRr of the ticket is URI-equal to uri. */
gboolean focus_ticket_names(const MikeyTicketBody *tp, const char *uri);
/* The ticket's IDRi as a normalised identity; NULL when absent or not a URI. g_free. */
char *focus_ticket_initiator(const MikeyTicketBody *tp);

/* A decision and why, for the SIP answer, the log line and the audit event. */
typedef struct {
  gboolean ok;
  int sip_status;     /* when refused: 403, 404, 488 */
  const char *reason; /* short, stable, for audit/metrics: "not-in-allowed-set", ... */
  char *detail;       /* one sentence for logs and Warning/Reason text */
} FocusDecision;

void focus_decision_clear(FocusDecision *d);

/* 7.1/7.2, before the resolve (the ticket is not verified yet, so only its shape is used):
 * the IDRr the focus resolves with for an initial INVITE to request_uri. conf is the
 * conference the Request-URI names (NULL for the factory or an unknown URI). Refusals:
 * 404 for an unknown or ended conference, 403 for a ticket naming neither target. */
gboolean focus_initial_idrr(const FocusIdentities *ids, const char *request_uri,
                            const FocusConf *conf, const MikeyTicketBody *tp, char **idrr,
                            FocusDecision *d);

/* 7.1 after the resolve and the MAC check: may this (KMS-authenticated) identity create? */
gboolean focus_decide_create(const FocusIdentities *ids, const char *identity, FocusDecision *d);

/* 7.2 after the resolve and the MAC check: may this identity join conf? When the ticket was
 * resolved for the factory URI (the owner re-joining with its creation ticket), identity must
 * be the owner. */
gboolean focus_decide_join(const FocusConf *conf, const char *identity, gboolean via_factory,
                           FocusDecision *d);

/* 7.3: what an in-dialog offer is. */
typedef enum {
  FOCUS_OFFER_NO_KEYS,     /* no SDP, or SDP without key-mgmt: accepted, keys unchanged */
  FOCUS_OFFER_CSB_UPDATE,  /* same CSB ID, no RANDs, no TICKET: crypto sessions only */
  FOCUS_OFFER_SAME_TICKET, /* the leg's ticket again: re-key, set unchanged */
  FOCUS_OFFER_FOCUS_ONLY,  /* a new ticket naming only focus identities: re-key */
  FOCUS_OFFER_NEW_SET,     /* a new ticket naming others: the owner's set change */
} FocusOfferKind;

const char *focus_offer_kind_name(FocusOfferKind kind);

/* Classifies a parsed in-dialog TRANSFER_INIT (view NULL = no key-mgmt) against the ticket
 * the leg last used. */
FocusOfferKind focus_classify_offer(const FocusIdentities *ids, const MikeyTransferInitView *view,
                                    const MikeyPayload *leg_ticket);

/* focus_classify_offer(), and the conference's creation ticket (conf->ticket_fp) counts as
 * "the same ticket" too: the owner sending its creation ticket again after a new one re-keys,
 * it does not bring the creation set back (7.3; mikeyua's same-ticket). */
FocusOfferKind focus_classify_offer_in(const FocusIdentities *ids, const FocusConf *conf,
                                       const MikeyTransferInitView *view,
                                       const MikeyPayload *leg_ticket);

/* 7.3: the IDRr the focus resolves an in-dialog ticket with: the TRANSFER_INIT's IDRr when it
 * is a focus identity, else the conference URI if the ticket names it, else the factory URI. */
char *focus_indialog_idrr(const FocusIdentities *ids, const FocusConf *conf,
                          const MikeyTransferInitView *view);

/* 7.3 after the resolve and MAC check of an in-dialog ticket offer from the leg of
 * leg_identity: *new_allowed receives the set to install (NULL = unchanged) and *removed the
 * identities that leave it (NULL when none). Refuses (403, leg unchanged) a ticket whose IDRi
 * is not the leg's identity, and the reuse of a ticket whose policy has J = 0. */
gboolean focus_decide_offer(const FocusIdentities *ids, const FocusConf *conf,
                            const char *leg_identity, FocusOfferKind kind,
                            const MikeyTicketBody *tp, GPtrArray **new_allowed, GPtrArray **removed,
                            FocusDecision *d);

/* 7.2: the participant is the IDRi of its ticket, not the From header: a From URI that is not
 * URI-equal to that identity is refused (403, "from-mismatch") unless allow_mismatch (the
 * allow-from-mismatch setting). Applies to creation (7.1) as well. */
gboolean focus_decide_from(const char *identity, const char *from_uri, gboolean allow_mismatch,
                           FocusDecision *d);
