/* The SIP side of mikeyconfd (sip.h). */
#include "sip.h"

#include "common/log.h"
#include "common/sdpaudio.h"
#include "common/sipglib.h"
#include "common/sipuri.h"
#include "mikey/ntp.h"
#include "mikey/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <string.h>

SIP_GLIB_SOFIA_BEGIN
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/url.h>
SIP_GLIB_SOFIA_END

#define SDP_TYPE "application/sdp"
#define SIP_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
#define RETRY_AFTER_BUSY "1"   /* rate limit, resolves in flight */
#define RETRY_AFTER_KMS "5"    /* the KMS is down or slow */
#define RETRY_AFTER_STORE "10" /* the records cannot be written */
#define SHUTDOWN_FUSE_MS 2000

struct _FocusSip {
  Focus *focus;
  GPtrArray *stacks; /* SipGlib* */
  GQueue legs;       /* every FocusLeg alive */
  char *tls_dir;
};

typedef enum {
  LEG_NEW,    /* the initial INVITE is being handled */
  LEG_ACTIVE, /* admitted: 200 OK sent */
  LEG_ENDING, /* BYE sent or received */
  LEG_ENDED,
} LegState;

/* One offer being handled: the request (saved), its SDP and TRANSFER_INIT, the resolve. */
typedef struct {
  FocusLeg *leg; /* a reference */
  nua_saved_event_t saved[1];
  gboolean have_saved;
  gboolean initial;
  const char *method; /* "INVITE", "re-INVITE", "UPDATE" */
  gint64 t0;
  char *request_uri;
  SdpAudioDesc *sdp;
  SdpAudioAnswer ans;
  MikeyTransferInitView view;
  gboolean have_view;
  FocusOfferKind kind;
  char *idrr;       /* the IDRr resolved with */
  char *identity_r; /* what the TRANSFER_INIT's MAC covers as Identity_r */
  gboolean to_factory;
  GCancellable *cancel;
  gboolean resolving;
  gboolean dead; /* the leg gave it up (CANCEL, BYE, end) while it was resolving */
} Offer;

struct _FocusLeg {
  SipGlibHandler handler; /* first: nua gives it back to us */
  gint refs;
  FocusSip *sip;
  SipGlib *sg;
  nua_handle_t *nh;
  GList link; /* in sip->legs */
  LegState state;
  char *source;    /* "ip:port" the INVITE came from */
  char *source_ip; /* for the rate limit */
  char *from_uri;
  Offer *offer; /* being handled (not resolving, or resolving and not dead) */

  /* admitted */
  FocusConf *conf;
  GList room_link;
  gboolean in_room;
  char *identity;
  char *contact; /* "<conference URI>;isfocus" */
  MikeyCsbState csb;
  gboolean keyed;
  MikeyTransferInitView tview; /* the TRANSFER_INIT of the leg's current ticket */
  guint8 policy;               /* profile policy number in use */
  guint8 pt;
  guint32 in_ssrc;
  gboolean have_media;
  FocusMediaLegInfo minfo;
  SdpAudioSession *sdp_session;
  char *peer_addr;
  guint16 peer_port;
};

static void on_leg_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                         nua_handle_t *nh, const sip_t *sip, tagi_t tags[]);
static void leg_end(FocusLeg *leg);

/* ------------------------------------------------------------------ small helpers */

static Focus *leg_focus(FocusLeg *leg)
{
  return leg->sip->focus;
}

static nua_t *leg_nua(FocusLeg *leg)
{
  return sip_glib_nua(leg->sg);
}

static FocusLeg *leg_ref(FocusLeg *leg)
{
  leg->refs++;
  return leg;
}

static void leg_unref(FocusLeg *leg)
{
  if (!leg || --leg->refs > 0)
    return;
  mikey_csb_state_clear(&leg->csb);
  mikey_transfer_init_view_clear(&leg->tview);
  sdp_audio_session_free(leg->sdp_session);
  g_free(leg->source);
  g_free(leg->source_ip);
  g_free(leg->from_uri);
  g_free(leg->identity);
  g_free(leg->contact);
  g_free(leg->peer_addr);
  g_free(leg);
}

static char *url_text(const url_t *url)
{
  if (!url)
    return NULL;
  su_home_t home[1] = { SU_HOME_INIT(home) };
  char *s = url_as_string(home, url);
  char *out = g_strdup(s);
  su_home_deinit(home);
  return out;
}

/* Text for a quoted-string: no quotes, backslashes or line breaks, bounded. */
static char *quotable(const char *text)
{
  g_autofree char *t = g_strndup(text ? text : "", 300);
  g_strdelimit(t, "\"\\\r\n", '\'');
  return g_steal_pointer(&t);
}

static char *warning_text(Focus *f, guint code, const char *text)
{
  g_autofree char *q = quotable(text);
  return g_strdup_printf("%03u %s \"%s\"", code, f->warn_agent, q);
}

/* A key-management failure (profile 6): 306, and the details as 399. */
static char *warning_306(Focus *f, const char *text)
{
  g_autofree char *a = warning_text(f, 306, "key management attribute not understood");
  g_autofree char *b = warning_text(f, 399, text);
  return g_strdup_printf("%s, %s", a, b);
}

static void source_of(nua_t *nua, char **source, char **ip)
{
  *source = NULL;
  *ip = NULL;
  msg_t *msg = nua_current_request(nua);
  su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
  if (ai && ai->ai_addr) {
    char buf[64] = "";
    su_sockaddr_t *su = (su_sockaddr_t *)ai->ai_addr;
    su_inet_ntop(su->su_family, SU_ADDR(su), buf, sizeof buf);
    guint port = ntohs(su->su_port);
    *ip = g_strdup(buf);
    *source = su->su_family == AF_INET6 ? g_strdup_printf("[%s]:%u", buf, port)
                                        : g_strdup_printf("%s:%u", buf, port);
  }
  if (!*source) {
    *source = g_strdup("unknown");
    *ip = g_strdup("unknown");
  }
}

/* ------------------------------------------------------------------ offers */

static Offer *offer_new(FocusLeg *leg, gboolean initial, const char *method)
{
  Offer *o = g_new0(Offer, 1);
  o->leg = leg_ref(leg);
  o->initial = initial;
  o->method = method;
  o->t0 = g_get_monotonic_time();
  o->cancel = g_cancellable_new();
  nua_save_event(leg_nua(leg), o->saved);
  o->have_saved = TRUE;
  return o;
}

static void offer_free(Offer *o)
{
  if (!o)
    return;
  if (o->have_saved)
    nua_destroy_event(o->saved);
  g_free(o->request_uri);
  sdp_audio_desc_free(o->sdp);
  mikey_transfer_init_view_clear(&o->view);
  g_free(o->idrr);
  g_free(o->identity_r);
  g_object_unref(o->cancel);
  leg_unref(o->leg);
  g_free(o);
}

/* The leg lets go of its offer: freed now, or by the resolve callback when one runs. */
static void offer_drop(FocusLeg *leg)
{
  Offer *o = leg->offer;
  if (!o)
    return;
  leg->offer = NULL;
  if (o->have_saved) {
    nua_destroy_event(o->saved);
    o->have_saved = FALSE;
  }
  if (o->resolving) {
    o->dead = TRUE;
    g_cancellable_cancel(o->cancel);
  } else {
    offer_free(o);
  }
}

/* The final answer to the offer's request; the offer is done. */
static void offer_reply(Offer *o, int status, const char *phrase, const char *warning,
                        const char *retry_after, const char *contact, const char *sdp)
{
  FocusLeg *leg = o->leg;
  if (o->have_saved && leg->nh) {
    nua_respond(leg->nh, status, phrase ? phrase : sip_status_phrase(status),
                NUTAG_WITH_SAVED(o->saved), TAG_IF(warning, SIPTAG_WARNING_STR(warning)),
                TAG_IF(retry_after, SIPTAG_RETRY_AFTER_STR(retry_after)),
                TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
                TAG_IF(sdp, SIPTAG_CONTENT_TYPE_STR(SDP_TYPE)),
                TAG_IF(sdp, SIPTAG_PAYLOAD_STR(sdp)), TAG_END());
    nua_destroy_event(o->saved);
    o->have_saved = FALSE;
  }
  if (leg->offer == o)
    leg->offer = NULL;
  if (o->resolving) {
    /* answered before the KMS did (a BYE, shutdown): the resolve callback frees it */
    o->dead = TRUE;
    g_cancellable_cancel(o->cancel);
    return;
  }
  offer_free(o);
}

/* A refusal: the SIP status with its Warning, a log line and an audit event (audit FALSE for
 * overload answers, which are counted instead: a flood must not fill the audit log). */
static void offer_refuse(Offer *o, int status, const char *warning, const char *retry_after,
                         const char *reason, const char *detail, gboolean audit)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  const char *conf = leg->conf ? leg->conf->uri : o->request_uri;
  if (audit) {
    g_autofree char *d = NULL;
    if (!leg->identity && leg->from_uri)
      d = g_strdup_printf("%s %d: %s (From %s)", o->method, status, detail, leg->from_uri);
    else
      d = g_strdup_printf("%s %d: %s", o->method, status, detail);
    focus_audit(f, conf, leg->identity, leg->source, "refused", reason, d);
  } else {
    log_debug("refused %s from %s to %s: %d %s (%s)", o->method, leg->source, conf ? conf : "?",
              status, detail, reason);
  }
  offer_reply(o, status, NULL, warning, retry_after, NULL, NULL);
}

static void refuse_status(Offer *o, int status, const char *reason, const char *detail)
{
  Focus *f = leg_focus(o->leg);
  g_autofree char *w = warning_text(f, 399, detail);
  offer_refuse(o, status, w, NULL, reason, detail, TRUE);
}

static void refuse_mikey(Offer *o, const char *reason, const char *detail)
{
  g_autofree char *w = warning_306(leg_focus(o->leg), detail);
  offer_refuse(o, 488, w, NULL, reason, detail, TRUE);
}

static void refuse_store(Offer *o, const GError *error)
{
  Focus *f = leg_focus(o->leg);
  int status = focus_store_error_status(error);
  f->n.store_failures++;
  log_error("records: %s", error->message);
  g_autofree char *w = warning_text(f, 399, "the focus cannot write its records");
  offer_refuse(o, status, w, status == 503 ? RETRY_AFTER_STORE : NULL, "store-failed",
               error->message, FALSE);
}

/* ------------------------------------------------------------------ SDP answers */

static gboolean cs1_session(const MikeyTransferInitView *view, MikeySrtpSessionData *sd)
{
  memset(sd, 0, sizeof *sd);
  GPtrArray *cs = view->msg->hdr.cs;
  for (guint i = 0; cs && i < cs->len; i++) {
    MikeyCs *c = g_ptr_array_index(cs, i);
    if (c->cs_id == 1 && c->session_data && g_bytes_get_size(c->session_data) > 0)
      return mikey_srtp_session_data_decode(c->session_data, sd, NULL);
  }
  return FALSE;
}

/* Our SDP answer to the offer (mikey: the TRANSFER_RESP, NULL: keys unchanged). g_free. */
static char *answer_sdp(FocusLeg *leg, Offer *o, GBytes *mikey, GError **error)
{
  Focus *f = leg_focus(leg);
  SdpAudioParams p = { .addr = f->cfg->sdp_address,
                       .port = leg->have_media && !o->ans.rejected ? leg->minfo.rtp_port : 0,
                       .formats = o->ans.formats,
                       .n_formats = o->ans.n_formats,
                       .ptime = SDP_AUDIO_PTIME,
                       .direction = o->ans.direction,
                       .mikey = mikey,
                       .offer = o->sdp };
  return sdp_audio_session_build(leg->sdp_session, &p, NULL, error);
}

/* An offer of ours without keys (the 200 to a re-INVITE without SDP, profile 7.3). */
static char *offer_sdp(FocusLeg *leg, GError **error)
{
  Focus *f = leg_focus(leg);
  SdpAudioFormat fmt = { leg->pt, leg->pt == 8 ? SDP_AUDIO_CODEC_PCMA : SDP_AUDIO_CODEC_PCMU };
  SdpAudioParams p = { .addr = f->cfg->sdp_address,
                       .port = leg->have_media ? leg->minfo.rtp_port : 0,
                       .formats = &fmt,
                       .n_formats = 1,
                       .ptime = SDP_AUDIO_PTIME,
                       .direction = SDP_AUDIO_SENDRECV };
  return sdp_audio_session_build(leg->sdp_session, &p, NULL, error);
}

/* SRTP keys of leg->csb into the media engine: first keys, re-key or (csb) a CSB update. */
static gboolean media_keys(FocusLeg *leg, Offer *o, guint8 policy, gboolean rekey, gboolean csb,
                           GError **error)
{
  Focus *f = leg_focus(leg);
  gsize salt_len = mikey_profile_salt_len(policy);
  g_autoptr(MikeySecret) in_key = NULL, in_salt = NULL, out_key = NULL, out_salt = NULL;
  if (!mikey_csb_srtp_keys(&leg->csb, 1, salt_len, &in_key, &in_salt, error) ||
      !mikey_csb_srtp_keys(&leg->csb, 2, salt_len, &out_key, &out_salt, error))
    return FALSE;
  MikeySrtpSessionData sd;
  cs1_session(&o->view, &sd);
  gboolean policy_changed = policy != leg->policy;
  gboolean give_keys = !csb || policy_changed;
  FocusMediaLegParams p = {
    .in = { .policy = (SrtpCtxPolicy)policy,
            .key = give_keys ? in_key->data : NULL,
            .salt = give_keys ? in_salt->data : NULL,
            .salt_len = give_keys ? in_salt->len : 0,
            .ssrc = sd.ssrc,
            .roc = sd.ssrc ? sd.roc : 0 },
    .out = { .policy = (SrtpCtxPolicy)policy,
             .key = give_keys ? out_key->data : NULL,
             .salt = give_keys ? out_salt->data : NULL,
             .salt_len = give_keys ? out_salt->len : 0,
             .ssrc = 0 },
    .pt = o->ans.codec.pt,
    .peer_address = o->sdp->addr,
    .peer_port = o->sdp->port,
  };
  gboolean ok = csb     ? focus_media_leg_update_csb(f->media, leg->minfo.id, &p, error)
                : rekey ? focus_media_leg_rekey(f->media, leg->minfo.id, &p, error)
                        : focus_media_leg_set_keys(f->media, leg->minfo.id, &p, error);
  if (!ok)
    return FALSE;
  leg->policy = policy;
  leg->pt = o->ans.codec.pt;
  leg->in_ssrc = sd.ssrc;
  g_free(leg->peer_addr);
  leg->peer_addr = g_strdup(o->sdp->addr);
  leg->peer_port = o->sdp->port;
  return TRUE;
}

/* The focus's stream (CS 2) as it is now, for the Session Data of an answer. */
static void tx_state(FocusLeg *leg, guint32 *ssrc, guint32 *roc, guint16 *seq)
{
  Focus *f = leg_focus(leg);
  *ssrc = leg->minfo.tx_ssrc;
  *roc = leg->minfo.tx_roc;
  *seq = leg->minfo.tx_seq;
  if (leg->keyed)
    focus_media_leg_tx_state(f->media, leg->minfo.id, ssrc, roc, seq);
}

/* ------------------------------------------------------------------ admission (7.1, 7.2) */

static void leg_take_ticket(FocusLeg *leg, Offer *o)
{
  mikey_transfer_init_view_clear(&leg->tview);
  leg->tview = o->view;
  memset(&o->view, 0, sizeof o->view);
  o->have_view = FALSE;
}

/* Builds the TRANSFER_RESP for a verified initial-type TRANSFER_INIT and installs its keys;
 * on success the leg's CSB state is the new one. */
static GBytes *answer_ticket(FocusLeg *leg, Offer *o, const MikeyResolvedKeys *keys, gboolean rekey,
                             GError **error)
{
  guint8 policy_no;
  if (!mikey_transfer_choose_policy(&o->view, &policy_no, error))
    return NULL;
  guint8 policy = mikey_transfer_policy_profile(&o->view, policy_no);
  guint8 randrr[MIKEY_RAND_LEN];
  if (!mikey_random_bytes(randrr, sizeof randrr, error))
    return NULL;
  guint32 ssrc, roc;
  guint16 seq;
  tx_state(leg, &ssrc, &roc, &seq);
  MikeyTransferRespParams rp = { .t = mikey_ntp_now(),
                                 .randrr = randrr,
                                 .randrr_len = sizeof randrr,
                                 .policy_no = policy_no,
                                 .ssrc = ssrc,
                                 .roc = roc,
                                 .seq = seq };
  MikeyCsbState next = { 0 };
  GBytes *resp = mikey_transfer_resp_build(&o->view, keys, &rp, &next, error);
  if (!resp)
    return NULL;
  MikeyCsbState prev = leg->csb;
  leg->csb = next;
  if (!media_keys(leg, o, policy, rekey, FALSE, error)) {
    mikey_csb_state_clear(&leg->csb);
    leg->csb = prev;
    g_bytes_unref(resp);
    return NULL;
  }
  mikey_csb_state_clear(&prev);
  leg->keyed = TRUE;
  return resp;
}

/* Profile 4: the replay cache of authenticated TRANSFER_INITs, checked once the offer would
 * be taken (so that a 503 for a passing shortage of ports lets the client's retry of the same
 * message through). FALSE: refused (403). */
static gboolean replay_ok(Offer *o)
{
  Focus *f = leg_focus(o->leg);
  gsize len;
  const guint8 *raw = g_bytes_get_data(o->sdp->mikey, &len);
  if (mikey_replay_cache_check_and_add(f->replay, raw, len, o->view.t, mikey_ntp_now()))
    return TRUE;
  refuse_status(o, 403, "replay", "replayed TRANSFER_INIT");
  return FALSE;
}

static const char *via_text(const Offer *o)
{
  return o->to_factory ? "created" : "joined with a ticket resolved for";
}

static void admit(Offer *o, const MikeyResolvedKeys *keys, const char *identity)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  FocusDecision d = { 0 };
  g_autoptr(GError) error = NULL;
  const MikeyTicketBody *tp = &o->view.ticket->u.ticket;

  if (!focus_decide_from(identity, leg->from_uri, f->cfg->allow_from_mismatch, &d)) {
    refuse_status(o, d.sip_status, d.reason, d.detail);
    focus_decision_clear(&d);
    return;
  }
  FocusConf *conf = NULL;
  g_autofree char *new_uri = NULL;
  g_autoptr(GPtrArray) allowed = NULL;
  if (o->to_factory) {
    if (!focus_decide_create(&f->ids, identity, &d)) {
      refuse_status(o, d.sip_status, d.reason, d.detail);
      focus_decision_clear(&d);
      return;
    }
    new_uri = focus_conf_uri_new(&f->ids);
    if (!new_uri) {
      refuse_status(o, 500, "no-random", "no conference URI: the random generator failed");
      focus_decision_clear(&d);
      return;
    }
    allowed = focus_allowed_from_ticket(&f->ids, tp, identity);
  } else {
    conf = focus_registry_lookup(f->reg, o->request_uri);
    gboolean via_factory = o->idrr && sip_uri_equal(o->idrr, f->ids.factory_uri);
    if (!conf) {
      refuse_status(o, 404, "unknown-conference", "no such conference");
      focus_decision_clear(&d);
      return;
    }
    if (!focus_decide_join(conf, identity, via_factory, &d)) {
      refuse_status(o, d.sip_status, d.reason, d.detail);
      focus_decision_clear(&d);
      return;
    }
  }
  const char *uri = conf ? conf->uri : new_uri;

  /* media first: the port goes into the SDP and CS 2 into the TRANSFER_RESP */
  if (!focus_media_add_leg(f->media, uri, identity, &leg->minfo, &error)) {
    log_warning("media for %s in %s: %s", identity, uri, error->message);
    g_autofree char *w = warning_text(f, 399, "no media resources");
    offer_refuse(o, 503, w, RETRY_AFTER_BUSY, "media-unavailable", error->message, TRUE);
    focus_decision_clear(&d);
    return;
  }
  leg->have_media = TRUE;
  if (!replay_ok(o)) {
    focus_decision_clear(&d);
    return;
  }
  g_autoptr(GBytes) resp = answer_ticket(leg, o, keys, FALSE, &error);
  if (!resp) {
    refuse_mikey(o, "answer-failed", error->message);
    focus_decision_clear(&d);
    return;
  }
  g_autofree char *fp = mikey_ticket_fingerprint(o->view.ticket);
  if (o->to_factory) {
    conf = focus_create_conference(f, new_uri, identity, allowed, fp, leg->source, &error);
    if (!conf) {
      refuse_store(o, error);
      focus_decision_clear(&d);
      return;
    }
  } else {
    g_autofree char *detail =
        g_strdup_printf("%s (%s %s, ticket %.16s)", d.detail, via_text(o), o->idrr, fp ? fp : "?");
    focus_audit(f, conf->uri, identity, leg->source, "admitted", d.reason, detail);
  }
  focus_decision_clear(&d);
  leg->conf = conf;
  leg->contact = g_strdup_printf("<%s>;isfocus", conf->uri);
  g_autofree char *sdp = answer_sdp(leg, o, resp, &error);
  if (!sdp) {
    log_error("SDP answer for %s: %s", identity, error->message);
    offer_refuse(o, 500, NULL, NULL, "answer-failed", error->message, TRUE);
    return;
  }
  leg_take_ticket(leg, o);
  leg->state = LEG_ACTIVE;
  focus_room_add_leg(f, conf, leg, &leg->room_link);
  leg->in_room = TRUE;
  focus_count_setup(f, g_get_monotonic_time() - o->t0);
  offer_reply(o, 200, NULL, NULL, NULL, leg->contact, sdp);
}

/* ------------------------------------------------------------------ in dialog (7.3) */

static void answer_in_dialog(Offer *o, GBytes *mikey)
{
  FocusLeg *leg = o->leg;
  g_autoptr(GError) error = NULL;
  g_autofree char *sdp = answer_sdp(leg, o, mikey, &error);
  if (!sdp) {
    log_error("SDP answer for %s: %s", leg->identity, error->message);
    offer_reply(o, 500, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  offer_reply(o, 200, NULL, NULL, NULL, leg->contact, sdp);
}

/* A new ticket in dialog, resolved and verified: the set (owner) and the leg's keys. */
static void rekey(Offer *o, const MikeyResolvedKeys *keys)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  FocusDecision d = { 0 };
  g_autoptr(GError) error = NULL;
  GPtrArray *next = NULL, *removed = NULL;
  if (!focus_decide_offer(&f->ids, leg->conf, leg->identity, o->kind, &o->view.ticket->u.ticket,
                          &next, &removed, &d)) {
    refuse_status(o, d.sip_status, d.reason, d.detail); /* the leg stays as it was */
    focus_decision_clear(&d);
    return;
  }
  g_autoptr(GPtrArray) next_set = next;
  g_autoptr(GPtrArray) removed_set = removed;
  if (!replay_ok(o)) {
    focus_decision_clear(&d);
    return;
  }
  /* the set is committed before the answer (7.3); removed participants get their BYE */
  if (next_set && !focus_change_allowed(f, leg->conf, next_set, removed_set, leg->identity,
                                        leg->source, d.detail, &error)) {
    refuse_store(o, error);
    focus_decision_clear(&d);
    return;
  }
  g_autoptr(GBytes) resp = answer_ticket(leg, o, keys, TRUE, &error);
  if (!resp) {
    refuse_mikey(o, "answer-failed", error->message);
    focus_decision_clear(&d);
    return;
  }
  if (!next_set) {
    g_autofree char *detail = g_strdup_printf("%s (%s, IDRr %s)", d.detail, o->method, o->idrr);
    focus_audit(f, leg->conf->uri, leg->identity, leg->source, "rekeyed", d.reason, detail);
  }
  focus_decision_clear(&d);
  leg_take_ticket(leg, o);
  answer_in_dialog(o, resp);
}

/* A CSB update (7.3): verified with the bundle's key, crypto sessions only. */
static void csb_update(Offer *o)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  g_autoptr(GError) error = NULL;
  FocusDecision d = { 0 };
  GPtrArray *next = NULL, *removed = NULL;
  if (!mikey_csb_update_verify(&o->view, &leg->csb, &error)) {
    refuse_status(o, 403, "bad-mac", error->message);
    return;
  }
  if (!replay_ok(o))
    return;
  if (!focus_decide_offer(&f->ids, leg->conf, leg->identity, o->kind, NULL, &next, &removed, &d)) {
    refuse_status(o, d.sip_status, d.reason, d.detail);
    focus_decision_clear(&d);
    return;
  }
  guint8 policy_no;
  if (!mikey_transfer_choose_policy(&o->view, &policy_no, &error)) {
    refuse_mikey(o, "bad-mikey", error->message);
    focus_decision_clear(&d);
    return;
  }
  guint8 policy = mikey_transfer_policy_profile(&o->view, policy_no);
  guint32 ssrc, roc;
  guint16 seq;
  tx_state(leg, &ssrc, &roc, &seq);
  g_autoptr(GBytes) resp = mikey_csb_update_resp_build(&o->view, &leg->csb, mikey_ntp_now(),
                                                       policy_no, ssrc, roc, seq, &error);
  if (!resp || !media_keys(leg, o, policy, FALSE, TRUE, &error)) {
    refuse_mikey(o, "answer-failed", error->message);
    focus_decision_clear(&d);
    return;
  }
  g_autofree char *detail = g_strdup_printf("%s (%s)", d.detail, o->method);
  focus_audit(f, leg->conf->uri, leg->identity, leg->source, "rekeyed", d.reason, detail);
  focus_decision_clear(&d);
  answer_in_dialog(o, resp);
}

/* An in-dialog offer without key-mgmt: accepted, keys unchanged (7.3). */
static void keep_keys(Offer *o)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  g_autoptr(GError) error = NULL;
  if (!o->ans.rejected && leg->have_media &&
      (o->ans.codec.pt != leg->pt || g_strcmp0(o->sdp->addr, leg->peer_addr) != 0 ||
       o->sdp->port != leg->peer_port)) {
    FocusMediaLegParams p = { .in = { .policy = (SrtpCtxPolicy)leg->policy, .ssrc = leg->in_ssrc },
                              .out = { .policy = (SrtpCtxPolicy)leg->policy },
                              .pt = o->ans.codec.pt,
                              .peer_address = o->sdp->addr,
                              .peer_port = o->sdp->port };
    if (focus_media_leg_update_csb(f->media, leg->minfo.id, &p, &error)) {
      leg->pt = o->ans.codec.pt;
      g_free(leg->peer_addr);
      leg->peer_addr = g_strdup(o->sdp->addr);
      leg->peer_port = o->sdp->port;
    } else {
      log_warning("%s in %s: media not updated: %s", leg->identity, leg->conf->uri, error->message);
    }
  }
  log_debug("%s in %s: %s without key-mgmt answered, keys unchanged", leg->identity, leg->conf->uri,
            o->method);
  answer_in_dialog(o, NULL);
}

/* ------------------------------------------------------------------ after the resolve */

static void on_resolved(FocusResolveResult *result, gpointer data)
{
  Offer *o = data;
  FocusLeg *leg = o->leg;
  o->resolving = FALSE;
  /* (an ended leg may outlive the SIP side at shutdown: nothing of it is touched then) */
  if (o->dead || leg->state == LEG_ENDED || leg->offer != o) {
    log_debug("late KMS answer for %s dropped (%s)", leg->source,
              focus_resolve_status_name(result->status));
    focus_resolve_result_clear(result);
    if (leg->offer == o)
      leg->offer = NULL;
    offer_free(o);
    return;
  }
  Focus *f = leg_focus(leg);
  g_autoptr(GError) error = NULL;
  switch (result->status) {
  case FOCUS_RESOLVE_OK:
    break;
  case FOCUS_RESOLVE_REFUSED:
    refuse_status(o, 403, "kms-refused", result->detail);
    focus_resolve_result_clear(result);
    return;
  case FOCUS_RESOLVE_BAD_TICKET:
    refuse_status(o, 488, "kms-bad-request", result->detail);
    focus_resolve_result_clear(result);
    return;
  case FOCUS_RESOLVE_UNAVAILABLE:
  case FOCUS_RESOLVE_CANCELLED: {
    g_autofree char *w = warning_text(f, 399, "the key management server is unavailable");
    offer_refuse(o, 503, w, RETRY_AFTER_KMS, "kms-unavailable", result->detail, TRUE);
    focus_resolve_result_clear(result);
    return;
  }
  }
  /* profile 6: the TRANSFER_INIT's MAC with MPKi, then the replay cache (authenticated
   * messages only) */
  if (!mikey_transfer_init_verify(&o->view, &result->keys, o->identity_r, &error)) {
    refuse_status(o, 403, "bad-mac", error->message);
    focus_resolve_result_clear(result);
    return;
  }
  /* the sender holds the ticket's keys: the ticket's IDRi (KMS-authenticated) is who it is */
  g_autofree char *identity = focus_ticket_initiator(&o->view.ticket->u.ticket);
  if (!identity) {
    refuse_status(o, 403, "no-identity", "the ticket names no initiator URI");
    focus_resolve_result_clear(result);
    return;
  }
  if (o->initial && !leg->identity)
    leg->identity = g_strdup(identity);
  if (o->initial)
    admit(o, &result->keys, identity);
  else
    rekey(o, &result->keys);
  focus_resolve_result_clear(result);
}

static void start_resolve(Offer *o)
{
  FocusLeg *leg = o->leg;
  Focus *f = leg_focus(leg);
  o->resolving = TRUE;
  if (!focus_resolver_start(f->resolver, &o->view, o->idrr, o->cancel, on_resolved, o)) {
    o->resolving = FALSE;
    f->n.busy++;
    g_autofree char *w = warning_text(f, 399, "too many key resolutions in progress");
    offer_refuse(o, 503, w, RETRY_AFTER_BUSY, "resolves-busy",
                 "the limit of KMS resolves in flight is reached", FALSE);
  }
}

/* ------------------------------------------------------------------ an offer arrives */

static char *idr_text(GBytes *b)
{
  if (!b)
    return NULL;
  gsize n;
  const char *d = g_bytes_get_data(b, &n);
  return n && !memchr(d, '\0', n) ? g_strndup(d, n) : NULL;
}

/* Profile 6 in order: SDP, key-mgmt, MIKEY, SDP IDs, freshness; then the target (7.1/7.2) or
 * the kind of in-dialog offer (7.3), and the resolve. */
static void offer_begin(FocusLeg *leg, const sip_t *sip, gboolean initial, const char *method)
{
  Focus *f = leg_focus(leg);
  g_autoptr(GError) error = NULL;
  Offer *o = offer_new(leg, initial, method);
  if (leg->offer || (!initial && leg->state != LEG_ACTIVE)) {
    /* glare: the previous offer of this dialog is still being handled */
    offer_reply(o, leg->state == LEG_ACTIVE || leg->state == LEG_NEW ? 491 : 481, NULL, NULL, NULL,
                NULL, NULL);
    return;
  }
  leg->offer = o;
  o->request_uri = url_text(sip->sip_request ? sip->sip_request->rq_url : NULL);
  if (!o->request_uri)
    o->request_uri = g_strdup(leg->conf ? leg->conf->uri : "");
  FocusUriKind target = FOCUS_URI_OTHER;
  if (initial) {
    target = focus_uri_kind(&f->ids, o->request_uri);
    o->to_factory = target == FOCUS_URI_FACTORY;
    if (o->to_factory && !focus_rate_allow(f, leg->source_ip)) {
      f->n.rate_limited++;
      g_autofree char *w = warning_text(f, 399, "too many conference creations from this address");
      offer_refuse(o, 503, w, RETRY_AFTER_BUSY, "rate-limited", "per-source rate limit", FALSE);
      return;
    }
  }
  const char *ctype = NULL;
  g_autofree char *body = sip_glib_body(sip, &ctype);
  if (!body) {
    if (initial) {
      g_autofree char *w = warning_text(f, 306, "no SDP offer with a=key-mgmt:mikey");
      offer_refuse(o, 488, w, NULL, "no-sdp", "the INVITE has no SDP offer", TRUE);
      return;
    }
    /* 7.3: a re-INVITE without an offer gets ours (no key-mgmt); an UPDATE without one a
     * plain 200 */
    if (strcmp(method, "UPDATE") == 0) {
      offer_reply(o, 200, NULL, NULL, NULL, leg->contact, NULL);
      return;
    }
    g_autofree char *sdp = offer_sdp(leg, &error);
    offer_reply(o, sdp ? 200 : 500, NULL, NULL, NULL, leg->contact, sdp);
    return;
  }
  if (ctype && g_ascii_strcasecmp(ctype, SDP_TYPE) != 0) {
    g_autofree char *detail = g_strdup_printf("the body is %s, not application/sdp", ctype);
    g_autofree char *w = warning_text(f, 399, detail);
    offer_refuse(o, 488, w, NULL, "bad-sdp", detail, TRUE);
    return;
  }
  o->sdp = sdp_audio_parse(body, strlen(body), &error);
  SdpAudioNegotiateOptions nopts = { .dialog_keyed = !initial && leg->keyed };
  if (!o->sdp || !sdp_audio_negotiate(o->sdp, &nopts, &o->ans, &error)) {
    guint code = sdp_audio_error_warning(error);
    g_autofree char *w = warning_text(f, code ? code : 399, error->message);
    const char *reason =
        g_error_matches(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_KEY_MGMT)       ? "no-key-mgmt"
        : g_error_matches(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NOT_SAVP)        ? "not-savp"
        : g_error_matches(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_BAD_KEY_MGMT)    ? "bad-key-mgmt"
        : g_error_matches(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_NO_COMMON_CODEC) ? "no-common-codec"
                                                                                 : "bad-sdp";
    offer_refuse(o, 488, w, NULL, reason, error->message, TRUE);
    return;
  }
  if (o->ans.rejected && initial) {
    g_autofree char *w = warning_text(f, 399, "the audio stream is rejected (port 0)");
    offer_refuse(o, 488, w, NULL, "bad-sdp", "the offer's audio port is 0", TRUE);
    return;
  }
  if (o->ans.keys == SDP_AUDIO_KEYS_KEEP) {
    keep_keys(o);
    return;
  }
  /* MIKEY (profile 6: malformed, unsupported algorithm, ticket type or policy: 488 + 306) */
  o->have_view = mikey_transfer_init_parse(o->sdp->mikey, &o->view, &error);
  if (!o->have_view) {
    g_autofree char *detail = g_strdup_printf("MIKEY: %s (ERR %d)", error->message, error->code);
    refuse_mikey(o, "bad-mikey", detail);
    return;
  }
  if (initial && o->view.is_update) {
    refuse_mikey(o, "bad-mikey", "an initial INVITE needs a TRANSFER_INIT with a ticket");
    return;
  }
  if (!o->view.is_update) {
    if (!mikey_policy_check_type(&o->view.ticket->u.ticket, &error)) {
      g_autofree char *detail = g_strdup_printf("MIKEY: %s", error->message);
      refuse_mikey(o, "bad-ticket-type", detail);
      return;
    }
    g_autofree char *ids = idr_text(o->view.sdp_ids);
    if (!ids || strcmp(ids, o->sdp->key_mgmt_ids) != 0) {
      g_autofree char *detail =
          ids ? g_strdup_printf("the SDP IDs extension '%s' does not match the SDP ('%s')", ids,
                                o->sdp->key_mgmt_ids)
              : g_strdup("the TRANSFER_INIT has no SDP IDs extension");
      g_autofree char *w = warning_text(f, 399, detail);
      offer_refuse(o, 488, w, NULL, "sdp-ids", detail, TRUE);
      return;
    }
  }
  if (!mikey_ntp_within(o->view.t, mikey_ntp_now(), (guint)f->cfg->skew)) {
    refuse_status(o, 403, "stale-timestamp", "timestamp outside the window");
    return;
  }
  g_autofree char *id_r = idr_text(o->view.id_r);
  o->identity_r = g_strdup(id_r ? id_r : o->request_uri);
  if (initial) {
    FocusConf *conf =
        target == FOCUS_URI_CONFERENCE ? focus_registry_lookup(f->reg, o->request_uri) : NULL;
    FocusDecision d = { 0 };
    if (!focus_initial_idrr(&f->ids, o->request_uri, conf, &o->view.ticket->u.ticket, &o->idrr,
                            &d)) {
      if (d.sip_status == 404) {
        g_autofree char *w = warning_text(f, 399, d.detail);
        offer_refuse(o, 404, w, NULL, d.reason, d.detail, TRUE);
      } else {
        refuse_status(o, d.sip_status, d.reason, d.detail);
      }
      focus_decision_clear(&d);
      return;
    }
    focus_decision_clear(&d);
    start_resolve(o);
    return;
  }
  o->kind = focus_classify_offer_in(&f->ids, leg->conf, &o->view, leg->tview.ticket);
  if (o->kind == FOCUS_OFFER_CSB_UPDATE) {
    csb_update(o);
    return;
  }
  o->idrr = focus_indialog_idrr(&f->ids, leg->conf, &o->view);
  start_resolve(o);
}

/* ------------------------------------------------------------------ legs */

static void leg_leave_room(FocusLeg *leg)
{
  Focus *f = leg_focus(leg);
  if (leg->in_room) {
    focus_room_remove_leg(f, leg->conf, &leg->room_link);
    leg->in_room = FALSE;
  }
  if (leg->have_media) {
    focus_media_remove_leg(f->media, leg->minfo.id);
    leg->have_media = FALSE;
  }
}

/* The end of a leg: no more media, out of its conference, the handle destroyed. */
static void leg_end(FocusLeg *leg)
{
  if (leg->state == LEG_ENDED)
    return;
  leg->state = LEG_ENDED;
  offer_drop(leg);
  leg_leave_room(leg);
  if (leg->nh) {
    nua_handle_bind(leg->nh, NULL);
    nua_handle_destroy(leg->nh);
    leg->nh = NULL;
  }
  g_queue_unlink(&leg->sip->legs, &leg->link);
  focus_note_leg_end(leg_focus(leg));
  leg_unref(leg);
}

void focus_leg_bye(FocusLeg *leg, int cause, const char *text)
{
  if (leg->state == LEG_NEW && leg->offer) {
    g_autofree char *w = warning_text(leg_focus(leg), 399, text);
    offer_reply(leg->offer, 480, NULL, w, NULL, NULL, NULL);
    return;
  }
  if (leg->state != LEG_ACTIVE)
    return;
  if (leg->offer) /* an in-dialog offer being handled: it will not be */
    offer_reply(leg->offer, 487, NULL, NULL, NULL, NULL, NULL);
  g_autofree char *q = quotable(text);
  g_autofree char *reason = g_strdup_printf("SIP;cause=%d;text=\"%s\"", cause, q);
  log_info("BYE to %s (%s) in %s: %s", leg->identity, leg->source, leg->conf->uri, text);
  nua_bye(leg->nh, SIPTAG_REASON_STR(reason), TAG_END());
  leg->state = LEG_ENDING;
  /* nothing more goes to or comes from a leg being ended */
  leg_leave_room(leg);
}

const char *focus_leg_identity(const FocusLeg *leg)
{
  return leg->identity;
}

JsonNode *focus_leg_json(FocusLeg *leg)
{
  Focus *f = leg_focus(leg);
  FocusMediaLegStats s;
  JsonNode *node = NULL;
  if (leg->have_media && focus_media_get_leg_stats(f->media, leg->minfo.id, &s)) {
    node = focus_media_leg_stats_json(&s);
  } else {
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, json_object_new());
  }
  JsonObject *o = json_node_get_object(node);
  json_object_set_string_member(o, "identity", leg->identity ? leg->identity : "");
  if (!json_object_has_member(o, "address") || !*json_object_get_string_member(o, "address")) {
    g_autofree char *addr =
        leg->peer_addr ? g_strdup_printf("%s:%u", leg->peer_addr, leg->peer_port) : g_strdup("");
    json_object_set_string_member(o, "address", addr);
  }
  /* what was negotiated (the media snapshot may not have caught up yet) */
  json_object_set_string_member(o, "codec", leg->pt == 8 ? "PCMA" : "PCMU");
  json_object_set_string_member(o, "srtp", focus_media_policy_name((SrtpCtxPolicy)leg->policy));
  json_object_set_string_member(o, "sip_source", leg->source);
  return node;
}

/* ------------------------------------------------------------------ nua events */

static void respond_405(nua_t *nua, nua_handle_t *nh)
{
  nua_respond(nh, SIP_405_METHOD_NOT_ALLOWED, NUTAG_WITH_THIS(nua), SIPTAG_ALLOW_STR(SIP_ALLOW),
              TAG_END());
}

static void on_leg_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                         nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
  FocusLeg *leg = (FocusLeg *)h;
  Focus *f = leg_focus(leg);
  nua_t *nua = leg_nua(leg);
  leg_ref(leg);
  switch (event) {
  case nua_i_invite:
    f->n.reinvites++;
    offer_begin(leg, sip, FALSE, "re-INVITE");
    break;
  case nua_i_update:
    f->n.updates++;
    offer_begin(leg, sip, FALSE, "UPDATE");
    break;
  case nua_i_cancel:
    f->n.cancels++;
    if (leg->offer) {
      log_info("%s from %s cancelled%s", leg->offer->method, leg->source,
               leg->offer->resolving ? " during the resolve: the KMS answer will be dropped" : "");
      offer_drop(leg);
    }
    break;
  case nua_i_bye:
    f->n.byes++;
    if (leg->identity && leg->conf && leg->state == LEG_ACTIVE)
      log_info("%s (%s) left %s", leg->identity, leg->source, leg->conf->uri);
    leg->state = leg->state == LEG_ACTIVE ? LEG_ENDING : leg->state;
    leg_leave_room(leg);
    break;
  case nua_i_info:
  case nua_i_message:
  case nua_i_refer:
  case nua_i_notify:
  case nua_i_subscribe:
  case nua_i_publish:
  case nua_i_register:
    f->n.rejected_methods++;
    respond_405(nua, nh);
    break;
  case nua_i_method:
    f->n.rejected_methods++;
    nua_respond(nh, SIP_501_NOT_IMPLEMENTED, NUTAG_WITH_THIS(nua), TAG_END());
    break;
  case nua_i_state: {
    int cs = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
    if (cs == nua_callstate_terminated)
      leg_end(leg);
    break;
  }
  default:
    break;
  }
  leg_unref(leg);
}

static void leg_new(FocusSip *s, SipGlib *sg, nua_handle_t *nh, const sip_t *sip)
{
  Focus *f = s->focus;
  FocusLeg *leg = g_new0(FocusLeg, 1);
  leg->handler.event = on_leg_event;
  leg->refs = 1; /* the list's */
  leg->sip = s;
  leg->sg = sg;
  leg->nh = nh;
  leg->link.data = leg;
  leg->state = LEG_NEW;
  source_of(sip_glib_nua(sg), &leg->source, &leg->source_ip);
  leg->from_uri = url_text(sip->sip_from ? sip->sip_from->a_url : NULL);
  leg->sdp_session = sdp_audio_session_new(0);
  sip_glib_handle_bind(nh, &leg->handler);
  g_queue_push_tail_link(&s->legs, &leg->link);
  f->n.invites++;
  if (f->stopping) {
    Offer *o = offer_new(leg, TRUE, "INVITE");
    leg->offer = o;
    g_autofree char *w = warning_text(f, 399, "the focus is shutting down");
    offer_refuse(o, 503, w, RETRY_AFTER_KMS, "shutting-down", "the focus is shutting down", FALSE);
    return;
  }
  offer_begin(leg, sip, TRUE, "INVITE");
}

static void on_incoming(SipGlib *sg, nua_event_t event, int status, const char *phrase,
                        nua_handle_t *nh, const sip_t *sip, tagi_t tags[], gpointer data)
{
  FocusSip *s = data;
  Focus *f = s->focus;
  nua_t *nua = sip_glib_nua(sg);
  switch (event) {
  case nua_i_invite:
    leg_new(s, sg, nh, sip);
    break;
  case nua_i_options:
    /* RFC 3261 11.2: Allow, Accept, Supported (empty: no option tag, timers and 100rel are
     * off), Accept-Encoding and Accept-Language */
    f->n.options++;
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_ALLOW_STR(SIP_ALLOW),
                SIPTAG_HEADER_STR("Supported: "), SIPTAG_ACCEPT_ENCODING_STR("identity"),
                SIPTAG_ACCEPT_LANGUAGE_STR("en"), TAG_END());
    nua_handle_destroy(nh);
    break;
  case nua_i_update:
  case nua_i_info:
  case nua_i_message:
  case nua_i_refer:
  case nua_i_notify:
  case nua_i_subscribe:
  case nua_i_publish:
  case nua_i_register:
    f->n.rejected_methods++;
    respond_405(nua, nh);
    nua_handle_destroy(nh);
    break;
  case nua_i_method:
    f->n.rejected_methods++;
    nua_respond(nh, SIP_501_NOT_IMPLEMENTED, NUTAG_WITH_THIS(nua), TAG_END());
    nua_handle_destroy(nh);
    break;
  case nua_i_outbound:
    nua_handle_destroy(nh);
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------------------ the stacks */

/* Sofia reads its TLS certificate and key from <dir>/agent.pem: one file with both. */
static char *tls_dir_make(const FocusConfig *cfg, GError **error)
{
  g_autofree char *cert = NULL, *key = NULL;
  if (!g_file_get_contents(cfg->tls_cert, &cert, NULL, error) ||
      !g_file_get_contents(cfg->tls_key, &key, NULL, error))
    return NULL;
  g_autofree char *dir = g_build_filename(cfg->state_dir, "sip-tls", NULL);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", dir, g_strerror(errno));
    return NULL;
  }
  g_chmod(dir, 0700);
  g_autofree char *pem = g_build_filename(dir, "agent.pem", NULL);
  g_autofree char *both = g_strconcat(key, "\n", cert, NULL);
  if (!g_file_set_contents_full(pem, both, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return NULL;
  explicit_bzero(key, strlen(key));
  explicit_bzero(both, strlen(both));
  return g_steal_pointer(&dir);
}

FocusSip *focus_sip_new(Focus *focus, const FocusConfig *cfg, GError **error)
{
  FocusSip *s = g_new0(FocusSip, 1);
  s->focus = focus;
  s->stacks = g_ptr_array_new();
  if (cfg->tls_cert) {
    s->tls_dir = tls_dir_make(cfg, error);
    if (!s->tls_dir) {
      focus_sip_free(s);
      return NULL;
    }
  }
  for (guint i = 0; i < cfg->n_listens; i++) {
    SipGlibConfig sc = { .listen = cfg->listens[i].ip,
                         .port = cfg->listens[i].port,
                         .tls_dir = s->tls_dir,
                         .user_agent = "mikeyconfd/" PACKAGE_VERSION,
                         .trace = cfg->sip_trace };
    g_autoptr(GError) local = NULL;
    SipGlib *sg = sip_glib_new(&sc, on_incoming, s, &local);
    if (!sg) {
      g_set_error(error, local->domain, local->code, "sip-listen %s: %s", cfg->sip_listen[i],
                  local->message);
      focus_sip_free(s);
      return NULL;
    }
    g_ptr_array_add(s->stacks, sg);
    /* OPTIONS answered here (with Supported), UPDATE as sipglib set it up */
    nua_set_params(sip_glib_nua(sg), NUTAG_APPL_METHOD("UPDATE"), NUTAG_APPL_METHOD("OPTIONS"),
                   TAG_END());
    /* the stack reports one of its contacts (the sips: one with TLS): the configured port
     * is the SIP one */
    guint port = cfg->listens[i].port ? cfg->listens[i].port : sip_glib_port(sg);
    log_info("SIP on %s:%u (UDP, TCP%s)", cfg->listens[i].ip, port,
             s->tls_dir ? ", TLS on the next port" : "");
  }
  return s;
}

void focus_sip_free(FocusSip *s)
{
  if (!s)
    return;
  while (!g_queue_is_empty(&s->legs))
    leg_end(g_queue_peek_head(&s->legs));
  for (guint i = s->stacks->len; i > 0; i--)
    sip_glib_free(g_ptr_array_index(s->stacks, i - 1));
  g_ptr_array_unref(s->stacks);
  if (s->tls_dir) {
    g_autofree char *pem = g_build_filename(s->tls_dir, "agent.pem", NULL);
    g_unlink(pem);
    g_rmdir(s->tls_dir);
    g_free(s->tls_dir);
  }
  g_free(s);
}

guint16 focus_sip_port(FocusSip *s)
{
  return s->stacks->len ? sip_glib_port(g_ptr_array_index(s->stacks, 0)) : 0;
}

guint focus_sip_n_legs(FocusSip *s)
{
  return g_queue_get_length(&s->legs);
}

guint focus_sip_bye_all(FocusSip *s)
{
  guint n = 0;
  g_autoptr(GPtrArray) legs = g_ptr_array_new();
  for (GList *l = s->legs.head; l; l = l->next)
    g_ptr_array_add(legs, leg_ref(l->data));
  for (guint i = 0; i < legs->len; i++) {
    FocusLeg *leg = g_ptr_array_index(legs, i);
    if (leg->state == LEG_ACTIVE)
      n++;
    focus_leg_bye(leg, 503, "the focus is shutting down");
    leg_unref(leg);
  }
  return n;
}
