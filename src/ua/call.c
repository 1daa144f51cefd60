/* One mikeyua call (call.h). */
#include "call.h"

#include "offer.h"

#include "common/log.h"
#include "common/sdpaudio.h"
#include "mikey/exchange.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

SIP_GLIB_SOFIA_BEGIN
#include <sofia-sip/su_tag_io.h>
SIP_GLIB_SOFIA_END

#define MAX_GLARE_RETRIES 5
#define SDP_TYPE "application/sdp"

typedef struct {
  UaAction action;
  double at_s;
  UaUpdateReport *rep;
  MikeyTicketGrant grant; /* new-ticket, focus-ticket */
  gboolean have_grant;
  GBytes *request_init;
  GBytes *ti; /* the TRANSFER_INIT offered */
  gboolean is_csb;
  gboolean sent;
  char *sdp; /* the offer, kept for a 491 retry */
  guint retry_timer;
} Pending;

struct _UaCall {
  SipGlibHandler handler; /* first: nua hands it back to us */
  gint refs;
  gboolean detached;
  UaCallState state;

  /* configuration (copied) */
  SipGlib *sip;
  KmsClient *kms;
  UaMediaClock *clock;
  const Credential *cred;
  char *target;
  char **recipients;
  UaMediaConfig media_cfg;
  char *bind_ip, *record_path, *cname, *sdp_addr;
  guint8 codec_pt;
  guint8 policies[2];
  guint n_policies;
  guint timeout_ms;
  gboolean use_update;
  UaFaultKind fault;
  char *fault_from;
  guint fault_offer;
  guint bye_linger_ms;
  char *key_log;
  UaCallStateFunc on_state;
  gpointer user_data;

  UaReport *report;
  nua_handle_t *nh;
  GCancellable *cancel;
  guint step_timer;
  guint fuse_timer;
  guint linger_timer;
  gint64 t_start, t_invite, t_established;
  gint64 t_bye; /* when the peer's BYE arrived; 0: it did not */
  gint64 setup_usec, invite_usec;

  /* MIKEY */
  GBytes *request_init;
  MikeyTicketGrant grant0; /* the call's first ticket (same-ticket offers it again) */
  gboolean have_grant0;
  GBytes *ti;      /* the TRANSFER_INIT of the INVITE */
  GBytes *ti_last; /* of the last offer sent (replay-previous) */
  MikeyCsbState csb;
  guint8 policy;
  char *conference_uri;
  guint offers; /* offers sent: 1 after the INVITE */

  /* SDP and media */
  guint64 sdp_id, sdp_version;
  SdpAudioFormat codec;
  UaMedia *media;
  char *remote_addr;
  guint16 remote_port;

  /* in-dialog changes */
  GQueue queue; /* Pending* not yet started */
  Pending *cur;
};

static void on_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                     nua_handle_t *nh, const sip_t *sip, tagi_t tags[]);
static void start_next_update(UaCall *call);

const char *ua_call_state_name(UaCallState state)
{
  static const char *const names[] = { "idle",        "ticket", "inviting",
                                       "established", "ending", "ended" };
  return (guint)state < G_N_ELEMENTS(names) ? names[state] : "?";
}

/* ------------------------------------------------------------------ lifetime */

static void pending_free(Pending *p)
{
  if (!p)
    return;
  ua_action_clear(&p->action);
  if (p->have_grant)
    mikey_ticket_grant_clear(&p->grant);
  g_clear_pointer(&p->request_init, g_bytes_unref);
  g_clear_pointer(&p->ti, g_bytes_unref);
  g_free(p->sdp);
  if (p->retry_timer)
    g_source_remove(p->retry_timer);
  g_free(p);
}

UaCall *ua_call_new(const UaCallConfig *cfg)
{
  UaCall *call = g_new0(UaCall, 1);
  call->handler.event = on_event;
  call->refs = 1;
  call->sip = cfg->sip;
  call->kms = cfg->kms;
  call->clock = cfg->clock;
  call->cred = cfg->cred;
  call->target = g_strdup(cfg->target);
  call->recipients = g_strdupv((char **)cfg->recipients);
  call->media_cfg = cfg->media;
  call->bind_ip = g_strdup(cfg->media.bind_ip);
  call->record_path = g_strdup(cfg->media.record_path);
  call->cname = g_strdup(cfg->media.cname ? cfg->media.cname : cfg->cred->identity);
  call->media_cfg.bind_ip = call->bind_ip;
  call->media_cfg.record_path = call->record_path;
  call->media_cfg.cname = call->cname;
  call->sdp_addr = g_strdup(cfg->sdp_addr ? cfg->sdp_addr : cfg->media.bind_ip);
  call->codec_pt = cfg->codec_pt;
  call->n_policies = MIN(cfg->n_policies, 2);
  memcpy(call->policies, cfg->policies, call->n_policies);
  call->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
  call->use_update = cfg->use_update;
  call->fault = cfg->fault;
  call->fault_from = g_strdup(cfg->fault_from);
  call->fault_offer = cfg->fault_offer;
  call->bye_linger_ms = cfg->bye_linger_ms;
  call->key_log = g_strdup(cfg->key_log);
  call->on_state = cfg->on_state;
  call->user_data = cfg->user_data;
  call->report = ua_report_new(cfg->mode, cfg->cred->identity, cfg->target);
  call->cancel = g_cancellable_new();
  call->setup_usec = call->invite_usec = -1;
  g_queue_init(&call->queue);
  guint32 r;
  mikey_random_bytes((guint8 *)&r, sizeof r, NULL);
  call->sdp_id = (r & 0x3fffffff) + 1;
  return call;
}

UaCall *ua_call_ref(UaCall *call)
{
  call->refs++;
  return call;
}

static void stop_timer(guint *id)
{
  if (*id) {
    g_source_remove(*id);
    *id = 0;
  }
}

void ua_call_unref(UaCall *call)
{
  if (!call || --call->refs > 0)
    return;
  stop_timer(&call->step_timer);
  stop_timer(&call->fuse_timer);
  stop_timer(&call->linger_timer);
  if (call->nh) {
    nua_handle_bind(call->nh, NULL);
    nua_handle_destroy(call->nh);
  }
  g_queue_clear_full(&call->queue, (GDestroyNotify)pending_free);
  pending_free(call->cur);
  ua_media_free(call->media);
  g_object_unref(call->cancel);
  g_clear_pointer(&call->request_init, g_bytes_unref);
  if (call->have_grant0)
    mikey_ticket_grant_clear(&call->grant0);
  g_clear_pointer(&call->ti, g_bytes_unref);
  g_clear_pointer(&call->ti_last, g_bytes_unref);
  mikey_csb_state_clear(&call->csb);
  ua_report_free(call->report);
  g_free(call->target);
  g_free(call->key_log);
  g_strfreev(call->recipients);
  g_free(call->bind_ip);
  g_free(call->record_path);
  g_free(call->cname);
  g_free(call->sdp_addr);
  g_free(call->fault_from);
  g_free(call->conference_uri);
  g_free(call->remote_addr);
  g_free(call);
}

void ua_call_free(UaCall *call)
{
  if (!call)
    return;
  call->detached = TRUE;
  call->on_state = NULL;
  g_cancellable_cancel(call->cancel);
  ua_call_unref(call);
}

UaCallState ua_call_state(const UaCall *call)
{
  return call->state;
}

gint64 ua_call_setup_usec(const UaCall *call)
{
  return call->setup_usec;
}

gint64 ua_call_invite_usec(const UaCall *call)
{
  return call->invite_usec;
}

const char *ua_call_conference_uri(const UaCall *call)
{
  return call->conference_uri;
}

UaReport *ua_call_report(UaCall *call)
{
  UaReport *r = call->report;
  if (call->media) {
    r->have_media = TRUE;
    ua_media_get_stats(call->media, &r->media);
    r->have_last_rtp_after_bye = call->t_bye != 0 && r->media.last_datagram_usec != 0;
    if (r->have_last_rtp_after_bye)
      r->last_rtp_after_bye_ms = (double)(r->media.last_datagram_usec - call->t_bye) / 1000.0;
  }
  return r;
}

static void set_state(UaCall *call, UaCallState state)
{
  if (call->state == state)
    return;
  log_debug("call %s: %s -> %s", call->target, ua_call_state_name(call->state),
            ua_call_state_name(state));
  call->state = state;
  if (call->on_state)
    call->on_state(call, state, call->user_data);
}

static void set_ended_by(UaCall *call, const char *by)
{
  g_free(call->report->ended_by);
  call->report->ended_by = g_strdup(by);
}

static void end_now(UaCall *call)
{
  if (call->media)
    ua_call_report(call);
  ua_call_ref(call);
  set_state(call, UA_CALL_ENDED);
  ua_call_unref(call);
}

static gboolean on_linger(gpointer data)
{
  UaCall *call = data;
  call->linger_timer = 0;
  end_now(call);
  return G_SOURCE_REMOVE;
}

/* The end: no more timers, media stopped (statistics kept), the handle destroyed. After the
 * peer's BYE the RTP socket stays open and counted for bye_linger_ms more, so that the report
 * can say whether media still came after it (a removed participant must get none). */
static void finish(UaCall *call)
{
  if (call->state == UA_CALL_ENDED || call->linger_timer)
    return;
  stop_timer(&call->step_timer);
  stop_timer(&call->fuse_timer);
  g_cancellable_cancel(call->cancel);
  if (call->cur && call->cur->rep && !call->cur->rep->status && !call->cur->rep->error)
    call->cur->rep->error = g_strdup("the call ended before the answer");
  if (call->media) {
    ua_media_stop(call->media);
    ua_call_report(call);
  }
  if (call->nh) {
    nua_handle_bind(call->nh, NULL);
    nua_handle_destroy(call->nh);
    call->nh = NULL;
  }
  if (call->media && call->t_bye && call->bye_linger_ms && !call->detached) {
    set_state(call, UA_CALL_ENDING); /* no change or hang-up is started meanwhile */
    call->linger_timer = g_timeout_add(call->bye_linger_ms, on_linger, call);
    return;
  }
  end_now(call);
}

/* A failure that ends the call: reported once, then BYE (established) or the end. */
static void fail(UaCall *call, const char *step, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void send_bye(UaCall *call, int cause, const char *text);

static void fail(UaCall *call, const char *step, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  log_warning("%s: %s: %s", call->target, step, msg);
  ua_report_set_error(call->report, step, msg);
  if (call->state == UA_CALL_ESTABLISHED) {
    set_ended_by(call, "error");
    send_bye(call, 488, msg);
  } else {
    if (call->state != UA_CALL_ENDING && strcmp(call->report->ended_by, "not-established") != 0)
      set_ended_by(call, "error");
    finish(call);
  }
}

static gboolean on_fuse(gpointer data)
{
  UaCall *call = data;
  call->fuse_timer = 0;
  log_warning("%s: no answer to our %s within %u ms; giving up on it", call->target,
              call->state == UA_CALL_ENDING ? "BYE/CANCEL" : "request", call->timeout_ms);
  finish(call);
  return G_SOURCE_REMOVE;
}

static void arm_fuse(UaCall *call)
{
  stop_timer(&call->fuse_timer);
  call->fuse_timer = g_timeout_add(call->timeout_ms, on_fuse, call);
}

static void send_bye(UaCall *call, int cause, const char *text)
{
  if (call->state == UA_CALL_ENDING || call->state == UA_CALL_ENDED || !call->nh)
    return;
  stop_timer(&call->step_timer);
  if (call->media)
    ua_media_stop(call->media);
  g_autofree char *reason = NULL;
  if (cause) {
    g_autofree char *clean = g_strdup(text);
    g_strdelimit(clean, "\"\\\r\n", '\'');
    reason = g_strdup_printf("SIP;cause=%d;text=\"%s\"", cause, clean);
  }
  nua_bye(call->nh, TAG_IF(reason, SIPTAG_REASON_STR(reason)), TAG_END());
  set_state(call, UA_CALL_ENDING);
  arm_fuse(call);
}

/* ------------------------------------------------------------------ SDP */

char *ua_call_sdp_offer(const char *addr, guint16 port, guint8 codec_pt, GBytes *transfer_init,
                        UaFaultKind fault, guint64 sess_id, guint64 version, GError **error)
{
  if (fault == UA_FAULT_MALFORMED_SDP)
    return g_strdup("v=0\r\no=- broken\r\nthis is not an SDP body\r\nm=audio\r\n");
  SdpAudioFormat formats[2] = {
    { codec_pt, codec_pt == 8 ? SDP_AUDIO_CODEC_PCMA : SDP_AUDIO_CODEC_PCMU },
    { codec_pt == 8 ? 0 : 8, codec_pt == 8 ? SDP_AUDIO_CODEC_PCMU : SDP_AUDIO_CODEC_PCMA }
  };
  g_autoptr(GBytes) garbage = NULL;
  GBytes *mikey = transfer_init;
  if (fault == UA_FAULT_NO_KEY_MGMT) {
    mikey = NULL;
  } else if (fault == UA_FAULT_GARBAGE_KEY_MGMT) {
    guint8 junk[64];
    mikey_random_bytes(junk, sizeof junk, NULL);
    junk[0] = 0x01; /* version 1, so that it gets as far as the payloads */
    garbage = g_bytes_new(junk, sizeof junk);
    mikey = garbage;
  }
  SdpAudioParams p = { .sess_id = sess_id,
                       .version = version,
                       .addr = addr,
                       .port = port,
                       .formats = formats,
                       .n_formats = 2,
                       .ptime = SDP_AUDIO_PTIME,
                       .direction = SDP_AUDIO_SENDRECV,
                       .mikey = mikey,
                       .offer = NULL };
  return sdp_audio_build(&p, NULL, error);
}

static void offered_formats(guint8 codec_pt, SdpAudioFormat f[2])
{
  f[0] = (SdpAudioFormat){ codec_pt, codec_pt == 8 ? SDP_AUDIO_CODEC_PCMA : SDP_AUDIO_CODEC_PCMU };
  f[1] = (SdpAudioFormat){ codec_pt == 8 ? 0 : 8,
                           codec_pt == 8 ? SDP_AUDIO_CODEC_PCMU : SDP_AUDIO_CODEC_PCMA };
}

static UaFaultKind fault_for_offer(UaCall *call)
{
  /* tamper-srtp-key is not in any offer: it is applied to the keys (install_keys) */
  if (call->fault == UA_FAULT_TAMPER_SRTP_KEY)
    return UA_FAULT_NONE;
  return call->offers == call->fault_offer ? call->fault : UA_FAULT_NONE;
}

/* ------------------------------------------------------------------ keys */

/* One "LABEL CSB-ID HEX" line appended to buf (*at: the length used so far); left out if it
 * would not fit (the buffer is sized for the longest block, so it always does). */
static void key_log_line(MikeySecret *buf, gsize *at, const char *label, guint32 csb_id,
                         const MikeySecret *k)
{
  if (!k)
    return;
  char *p = (char *)buf->data;
  if (*at + strlen(label) + 12 + 2 * k->len > buf->len)
    return;
  *at += (gsize)g_snprintf(p + *at, buf->len - *at, "%s %08x ", label, csb_id);
  for (gsize i = 0; i < k->len; i++)
    *at += (gsize)g_snprintf(p + *at, buf->len - *at, "%02x", k->data[i]);
  p[(*at)++] = '\n';
}

/* --key-log: the secrets of the keys just derived, appended in hex (a debugging aid, like
 * SSLKEYLOGFILE: whoever reads the file can decrypt the call). grant is the ticket whose MPK
 * keyed the exchange (NULL for a CSB update: no new MPK). The block is built in a MikeySecret
 * (wiped when freed) and written with one write() on an O_APPEND file, so that blocks of
 * several mikeyua processes sharing the file do not interleave. */
static void key_log_append(UaCall *call, const MikeyTicketGrant *grant, guint8 policy,
                           const MikeySecret *tx_key, const MikeySecret *tx_salt,
                           const MikeySecret *rx_key, const MikeySecret *rx_salt)
{
  guint32 id = call->csb.csb_id;
  g_autoptr(MikeySecret) buf = mikey_secret_new(4096);
  gsize at = (gsize)g_snprintf(
      (char *)buf->data, 1024, "# %.400s %.500s csb %08x %s\n", call->cred->identity,
      call->conference_uri ? call->conference_uri : call->target, id, ua_policy_name(policy));
  at = MIN(at, 1023);
  if (grant) {
    key_log_line(buf, &at, "MPKI", id, grant->mpki);
    key_log_line(buf, &at, "MPKR", id, grant->mpkr);
    key_log_line(buf, &at, "TGK", id, grant->tgk);
  }
  /* the bundle's: TGK' when the ticket forks, else the ticket's TGK again (not repeated) */
  if (!grant || !grant->tgk || !mikey_secret_equal(grant->tgk, call->csb.tgk))
    key_log_line(buf, &at, "TGK_BUNDLE", id, call->csb.tgk);
  key_log_line(buf, &at, "SRTP_TX_KEY", id, tx_key);
  key_log_line(buf, &at, "SRTP_TX_SALT", id, tx_salt);
  key_log_line(buf, &at, "SRTP_RX_KEY", id, rx_key);
  key_log_line(buf, &at, "SRTP_RX_SALT", id, rx_salt);
  int fd = open(call->key_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, buf->data, at) != (gssize)at)
    log_warning("--key-log %s: cannot append: %s", call->key_log, g_strerror(errno));
  if (fd >= 0)
    close(fd);
}

/* SRTP keys of the bundle in call->csb for policy, into the media endpoint (first time or
 * re-key), with the peer's stream from the answer's CS 2. grant: the ticket of the exchange
 * (for --key-log; NULL after a CSB update). */
static gboolean install_keys(UaCall *call, const MikeyTicketGrant *grant, guint8 policy,
                             const MikeySrtpSessionData *cs2, GError **error)
{
  gsize salt_len = mikey_profile_salt_len(policy);
  g_autoptr(MikeySecret) tx_key = NULL, tx_salt = NULL, rx_key = NULL, rx_salt = NULL;
  if (!mikey_csb_srtp_keys(&call->csb, 1, salt_len, &tx_key, &tx_salt, error) ||
      !mikey_csb_srtp_keys(&call->csb, 2, salt_len, &rx_key, &rx_salt, error))
    return FALSE;
  /* the keys of the bundle as both ends derive them (before tamper-srtp-key below) */
  if (call->key_log)
    key_log_append(call, grant, policy, tx_key, tx_salt, rx_key, rx_salt);
  /* --fault tamper-srtp-key: one bit of our outbound master key flipped after the derivation,
   * on every key installed, so that the focus authenticates none of our packets; the inbound
   * key is left as it is */
  if (call->fault == UA_FAULT_TAMPER_SRTP_KEY)
    tx_key->data[0] ^= 0x01;
  if (!call->media)
    return TRUE;
  return ua_media_set_keys(call->media, policy, tx_key, tx_salt, rx_key, rx_salt, cs2->ssrc,
                           cs2->has_roc_seq ? cs2->roc : 0, error);
}

/* The answer SDP of one of our offers: parsed, checked against the offer (RTP/SAVP, codec,
 * key-mgmt), the media address taken. Returns the desc (its mikey is the TRANSFER_RESP). */
static SdpAudioDesc *open_answer_sdp(UaCall *call, const sip_t *sip, gboolean offered_mikey,
                                     GError **error)
{
  const char *ctype = NULL;
  g_autofree char *body = sip_glib_body(sip, &ctype);
  if (!body) {
    g_set_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_MALFORMED, "the answer has no SDP body");
    return NULL;
  }
  if (ctype && g_ascii_strcasecmp(ctype, SDP_TYPE) != 0) {
    g_set_error(error, SDP_AUDIO_ERROR, SDP_AUDIO_ERR_MALFORMED,
                "the answer's body is %s, not application/sdp", ctype);
    return NULL;
  }
  g_autoptr(SdpAudioDesc) desc = sdp_audio_parse(body, strlen(body), error);
  if (!desc)
    return NULL;
  SdpAudioFormat offered[2];
  offered_formats(call->codec_pt, offered);
  SdpAudioFormat codec;
  if (!sdp_audio_check_answer(desc, offered, 2, offered_mikey, &codec, error))
    return NULL;
  call->codec = codec;
  g_free(call->remote_addr);
  call->remote_addr = g_strdup(desc->addr);
  call->remote_port = desc->port;
  if (call->media && !ua_media_set_remote(call->media, desc->addr, desc->port, codec.pt, error))
    return NULL;
  return g_steal_pointer(&desc);
}

static void record_status(UaCall *call, int status, const char *phrase, const sip_t *sip)
{
  UaReport *r = call->report;
  r->status = status;
  g_free(r->reason);
  r->reason = g_strdup(phrase);
  g_free(r->warning);
  r->warning = sip_glib_warning(sip);
}

/* ------------------------------------------------------------------ the INVITE */

static gboolean on_step_timeout(gpointer data)
{
  UaCall *call = data;
  call->step_timer = 0;
  if (call->state == UA_CALL_INVITING) {
    g_autofree char *msg =
        g_strdup_printf("no final response to the INVITE within %u ms", call->timeout_ms);
    log_warning("%s: invite: %s", call->target, msg);
    ua_report_set_error(call->report, "invite", msg);
    nua_cancel(call->nh, TAG_END());
    set_state(call, UA_CALL_ENDING);
    arm_fuse(call);
  } else if (call->state == UA_CALL_ESTABLISHED && call->cur) {
    Pending *p = call->cur;
    p->rep->error = g_strdup_printf("no final response within %u ms", call->timeout_ms);
    fail(call, "update", "%s: no final response to the %s within %u ms",
         ua_action_name(p->action.kind), p->rep->method, call->timeout_ms);
  }
  return G_SOURCE_REMOVE;
}

static void arm_step(UaCall *call)
{
  stop_timer(&call->step_timer);
  call->step_timer = g_timeout_add(call->timeout_ms, on_step_timeout, call);
}

static void send_invite(UaCall *call)
{
  g_autoptr(GError) error = NULL;
  UaFaultKind fault = fault_for_offer(call);
  UaTransferInitParams tp = { .grant = &call->grant0,
                              .idri = call->cred->identity,
                              .idrr = call->target,
                              .ssrc = call->media ? ua_media_ssrc(call->media) : 0x01020304,
                              .seq = call->media ? ua_media_next_seq(call->media) : 1000,
                              .policies = call->policies,
                              .n_policies = call->n_policies,
                              .fault = fault };
  call->ti = ua_transfer_init_build(&tp, &error);
  if (!call->ti) {
    fail(call, "offer", "cannot build the TRANSFER_INIT: %s", error->message);
    return;
  }
  guint16 port = call->media ? ua_media_port(call->media) : 9;
  g_autofree char *sdp = ua_call_sdp_offer(call->sdp_addr, port, call->codec_pt, call->ti, fault,
                                           call->sdp_id, ++call->sdp_version, &error);
  if (!sdp) {
    fail(call, "offer", "cannot build the SDP offer: %s", error->message);
    return;
  }
  call->ti_last = g_bytes_ref(call->ti);
  call->offers++;
  const char *from = fault == UA_FAULT_FROM_MISMATCH ? call->fault_from : call->cred->identity;
  call->nh = sip_glib_handle_new(call->sip, &call->handler, SIPTAG_TO_STR(call->target),
                                 SIPTAG_FROM_STR(from), TAG_END());
  if (!call->nh) {
    fail(call, "invite", "cannot create a SIP handle for %s", call->target);
    return;
  }
  log_info("INVITE %s (%zu-byte SDP, %zu-byte TRANSFER_INIT)", call->target, strlen(sdp),
           g_bytes_get_size(call->ti));
  call->t_invite = g_get_monotonic_time();
  /* No automatic retry (Sofia-SIP sends the request again after a 503 with a short
   * Retry-After): the first final answer is the one to report, within --timeout. A handle
   * preference, so it holds for the dialog's later requests too. */
  nua_invite(call->nh, NUTAG_URL(call->target), NUTAG_RETRY_COUNT(0),
             SIPTAG_CONTENT_TYPE_STR(SDP_TYPE), SIPTAG_PAYLOAD_STR(sdp), TAG_END());
  set_state(call, UA_CALL_INVITING);
  arm_step(call);
}

static void on_ticket(GObject *source, GAsyncResult *res, gpointer data)
{
  UaCall *call = data;
  guint status = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) answer = kms_client_post_finish(call->kms, res, &status, &error);
  if (g_cancellable_is_cancelled(call->cancel) || call->state != UA_CALL_TICKET) {
    ua_call_unref(call);
    return;
  }
  if (!error)
    ua_ticket_open(call->cred, (const char *const *)call->recipients, call->request_init, status,
                   answer, &call->grant0, &error);
  if (error) {
    fail(call, "ticket", "%s", error->message);
  } else {
    call->have_grant0 = TRUE;
    send_invite(call);
  }
  ua_call_unref(call);
}

void ua_call_start(UaCall *call)
{
  g_return_if_fail(call->state == UA_CALL_IDLE);
  g_autoptr(GError) error = NULL;
  call->t_start = g_get_monotonic_time();
  if (call->clock) {
    call->media = ua_media_new(&call->media_cfg, call->clock, &error);
    if (!call->media) {
      fail(call, "media", "%s", error->message);
      return;
    }
  }
  call->request_init =
      ua_ticket_request_build(call->cred, (const char *const *)call->recipients, &error);
  if (!call->request_init) {
    fail(call, "ticket", "cannot build the ticket request: %s", error->message);
    return;
  }
  set_state(call, UA_CALL_TICKET);
  kms_client_post_async(call->kms, call->request_init, call->cancel, on_ticket, ua_call_ref(call));
}

/* The 200 OK to the INVITE. */
static void on_invite_ok(UaCall *call, int status, const char *phrase, const sip_t *sip)
{
  g_autoptr(GError) error = NULL;
  stop_timer(&call->step_timer);
  record_status(call, status, phrase, sip);
  gboolean isfocus = FALSE;
  g_autofree char *contact = sip_glib_contact_uri(sip, &isfocus);
  if (contact && !isfocus)
    log_warning("%s: the 200 OK's Contact %s has no isfocus parameter", call->target, contact);
  call->conference_uri = contact ? g_steal_pointer(&contact) : g_strdup(call->target);
  g_free(call->report->conference_uri);
  call->report->conference_uri = g_strdup(call->conference_uri);
  /* A dialog exists now: failures below send BYE. The owner hears of it once the keys are. */
  call->state = UA_CALL_ESTABLISHED;

  g_autoptr(SdpAudioDesc) desc = open_answer_sdp(call, sip, TRUE, &error);
  if (!desc) {
    fail(call, "answer", "the SDP answer is not acceptable: %s", error->message);
    return;
  }
  MikeyTransferAnswer ans;
  if (!ua_transfer_answer_open(desc->mikey, call->ti, &call->grant0, call->policies,
                               call->n_policies, &call->csb, &ans, &error)) {
    fail(call, "answer", "MIKEY verification of the TRANSFER_RESP failed: %s (ERR %d)",
         error->message, error->code);
    return;
  }
  call->policy = ans.policy_no;
  if (!install_keys(call, &call->grant0, ans.policy_no, &ans.cs2, &error)) {
    fail(call, "media", "cannot start SRTP: %s", error->message);
    return;
  }
  gint64 now = g_get_monotonic_time();
  call->t_established = now;
  call->setup_usec = now - call->t_start;
  call->invite_usec = now - call->t_invite;
  UaReport *r = call->report;
  r->setup_ms = (double)call->setup_usec / 1000.0;
  g_free(r->policy);
  r->policy = g_strdup(ua_policy_name(ans.policy_no));
  g_free(r->codec);
  r->codec = g_strdup(sdp_audio_codec_name(call->codec.codec));
  set_ended_by(call, "error"); /* until the ending says otherwise */
  log_info("%s: established: conference %s, %s, %s, setup %.1f ms", call->target,
           call->conference_uri, r->policy, r->codec, r->setup_ms);
  ua_call_ref(call);
  if (call->on_state)
    call->on_state(call, UA_CALL_ESTABLISHED, call->user_data);
  start_next_update(call);
  ua_call_unref(call);
}

/* ------------------------------------------------------------------ in-dialog changes */

static void finish_update(UaCall *call)
{
  pending_free(call->cur);
  call->cur = NULL;
  stop_timer(&call->step_timer);
  start_next_update(call);
}

static void send_update_offer(UaCall *call)
{
  Pending *p = call->cur;
  g_autoptr(GError) error = NULL;
  if (!p->sdp) {
    UaFaultKind fault = fault_for_offer(call);
    guint16 port = call->media ? ua_media_port(call->media) : 9;
    p->sdp = ua_call_sdp_offer(call->sdp_addr, port, call->codec_pt, p->ti,
                               fault == UA_FAULT_REPLAY_PREVIOUS ? UA_FAULT_NONE : fault,
                               call->sdp_id, ++call->sdp_version, &error);
    if (!p->sdp) {
      fail(call, "update", "cannot build the SDP offer: %s", error->message);
      return;
    }
    g_clear_pointer(&call->ti_last, g_bytes_unref);
    call->ti_last = g_bytes_ref(p->ti);
  }
  log_info("%s: %s offer (%s)", call->conference_uri, p->rep->method,
           ua_action_name(p->action.kind));
  p->sent = TRUE;
  if (call->use_update)
    nua_update(call->nh, SIPTAG_CONTENT_TYPE_STR(SDP_TYPE), SIPTAG_PAYLOAD_STR(p->sdp), TAG_END());
  else
    nua_invite(call->nh, SIPTAG_CONTENT_TYPE_STR(SDP_TYPE), SIPTAG_PAYLOAD_STR(p->sdp), TAG_END());
  arm_step(call);
}

/* Builds the TRANSFER_INIT of the current change (its ticket, if any, is there). */
static void build_update(UaCall *call)
{
  Pending *p = call->cur;
  g_autoptr(GError) error = NULL;
  UaFaultKind fault = fault_for_offer(call);
  guint32 ssrc = call->media ? ua_media_ssrc(call->media) : 0x01020304;
  guint16 seq = call->media ? ua_media_next_seq(call->media) : 1000;
  if (fault == UA_FAULT_REPLAY_PREVIOUS) {
    p->ti = g_bytes_ref(call->ti_last);
    p->is_csb = FALSE;
  } else if (p->action.kind == UA_ACTION_CSB_UPDATE) {
    p->is_csb = TRUE;
    p->ti =
        ua_csb_update_build(&call->csb, ssrc, seq, call->policies, call->n_policies, fault, &error);
  } else {
    g_autofree char *idrr =
        ua_action_idrr(p->action.kind, call->conference_uri, call->target, &call->csb);
    UaTransferInitParams tp = { .grant = p->have_grant ? &p->grant : &call->grant0,
                                .idri = call->cred->identity,
                                .idrr = idrr,
                                .ssrc = ssrc,
                                .seq = seq,
                                .policies = call->policies,
                                .n_policies = call->n_policies,
                                .fault = fault };
    p->ti = ua_transfer_init_build(&tp, &error);
  }
  if (!p->ti) {
    p->rep->error = g_strdup_printf("cannot build the TRANSFER_INIT: %s", error->message);
    finish_update(call);
    return;
  }
  call->offers++;
  send_update_offer(call);
}

static void on_update_ticket(GObject *source, GAsyncResult *res, gpointer data)
{
  UaCall *call = data;
  guint status = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) answer = kms_client_post_finish(call->kms, res, &status, &error);
  if (g_cancellable_is_cancelled(call->cancel) || call->state != UA_CALL_ESTABLISHED ||
      !call->cur) {
    ua_call_unref(call);
    return;
  }
  Pending *p = call->cur;
  g_auto(GStrv) recipients = ua_action_recipients(&p->action, call->conference_uri);
  if (!error)
    ua_ticket_open(call->cred, (const char *const *)recipients, p->request_init, status, answer,
                   &p->grant, &error);
  if (error) {
    log_warning("%s: %s: %s", call->conference_uri, ua_action_name(p->action.kind), error->message);
    p->rep->error = g_strdup_printf("ticket: %s", error->message);
    finish_update(call);
  } else {
    p->have_grant = TRUE;
    build_update(call);
  }
  ua_call_unref(call);
}

static void start_next_update(UaCall *call)
{
  if (call->cur || call->state != UA_CALL_ESTABLISHED || g_queue_is_empty(&call->queue))
    return;
  Pending *p = g_queue_pop_head(&call->queue);
  call->cur = p;
  p->rep = ua_report_add_update(call->report, ua_action_name(p->action.kind), p->at_s,
                                call->use_update ? "UPDATE" : "INVITE");
  g_auto(GStrv) recipients = ua_action_recipients(&p->action, call->conference_uri);
  /* the (offers + 1)-th offer is this one: a replayed one needs no ticket */
  gboolean replay = call->offers == call->fault_offer && call->fault == UA_FAULT_REPLAY_PREVIOUS;
  if (!recipients || replay) {
    build_update(call);
    return;
  }
  g_autoptr(GError) error = NULL;
  p->request_init = ua_ticket_request_build(call->cred, (const char *const *)recipients, &error);
  if (!p->request_init) {
    p->rep->error = g_strdup_printf("cannot build the ticket request: %s", error->message);
    finish_update(call);
    return;
  }
  kms_client_post_async(call->kms, p->request_init, call->cancel, on_update_ticket,
                        ua_call_ref(call));
}

void ua_call_change(UaCall *call, const UaAction *action, double at_s)
{
  if (call->state == UA_CALL_ENDING || call->state == UA_CALL_ENDED)
    return;
  Pending *p = g_new0(Pending, 1);
  p->action = *action;
  p->action.uris = g_strdupv(action->uris);
  p->at_s = at_s;
  g_queue_push_tail(&call->queue, p);
  start_next_update(call);
}

static gboolean on_glare_retry(gpointer data)
{
  UaCall *call = data;
  if (call->cur) {
    call->cur->retry_timer = 0;
    send_update_offer(call);
  }
  return G_SOURCE_REMOVE;
}

/* The final answer to our re-INVITE or UPDATE. */
static void on_update_answer(UaCall *call, int status, const char *phrase, const sip_t *sip)
{
  Pending *p = call->cur;
  if (!p || !p->sent || status < 200)
    return;
  stop_timer(&call->step_timer);
  UaUpdateReport *u = p->rep;
  u->status = status;
  g_free(u->reason);
  u->reason = g_strdup(phrase);
  g_free(u->warning);
  u->warning = sip_glib_warning(sip);
  if (status == 491 && u->retries < MAX_GLARE_RETRIES) {
    u->retries++;
    guint delay = sip_glib_glare_delay_ms(TRUE);
    log_info("%s: 491 (glare): the %s again in %u ms", call->conference_uri, u->method, delay);
    u->status = 0;
    p->retry_timer = g_timeout_add(delay, on_glare_retry, call);
    return;
  }
  if (status >= 300) {
    log_warning("%s: %s refused: %d %s%s%s", call->conference_uri, ua_action_name(p->action.kind),
                status, phrase, u->warning ? ", Warning: " : "", u->warning ? u->warning : "");
    u->error = g_strdup_printf("refused: %d %s", status, phrase);
    if (status == 481 || status == 408) {
      fail(call, "update", "the dialog is gone (%d %s)", status, phrase);
      return;
    }
    finish_update(call); /* the leg stays as it was (profile 7.3) */
    return;
  }
  g_autoptr(GError) error = NULL;
  g_autoptr(SdpAudioDesc) desc = open_answer_sdp(call, sip, TRUE, &error);
  if (!desc) {
    u->error = g_strdup_printf("SDP answer: %s", error->message);
    fail(call, "update", "the SDP answer to the %s is not acceptable: %s", u->method,
         error->message);
    return;
  }
  MikeyTransferAnswer ans;
  if (p->is_csb) {
    if (!ua_csb_update_answer_open(desc->mikey, p->ti, &call->csb, call->policies, call->n_policies,
                                   &ans, &error)) {
      u->error = g_strdup_printf("MIKEY: %s", error->message);
      fail(call, "update", "MIKEY verification of the CSB update answer failed: %s",
           error->message);
      return;
    }
    if (ans.policy_no != call->policy &&
        !install_keys(call, NULL, ans.policy_no, &ans.cs2, &error)) {
      fail(call, "media", "cannot switch SRTP policy: %s", error->message);
      return;
    }
  } else {
    const MikeyTicketGrant *g = p->have_grant ? &p->grant : &call->grant0;
    if (!ua_transfer_answer_open(desc->mikey, p->ti, g, call->policies, call->n_policies,
                                 &call->csb, &ans, &error)) {
      u->error = g_strdup_printf("MIKEY: %s", error->message);
      fail(call, "update", "MIKEY verification of the TRANSFER_RESP failed: %s (ERR %d)",
           error->message, error->code);
      return;
    }
    if (!install_keys(call, g, ans.policy_no, &ans.cs2, &error)) {
      fail(call, "media", "cannot re-key SRTP: %s", error->message);
      return;
    }
  }
  call->policy = ans.policy_no;
  u->ok = TRUE;
  u->policy = g_strdup(ua_policy_name(ans.policy_no));
  g_free(call->report->policy);
  call->report->policy = g_strdup(u->policy);
  log_info("%s: %s done: %s", call->conference_uri, ua_action_name(p->action.kind), u->policy);
  finish_update(call);
}

/* ------------------------------------------------------------------ the peer's offers */

static void answer_peer_offer(UaCall *call, nua_event_t event, const sip_t *sip)
{
  nua_t *nua = sip_glib_nua(call->sip);
  if (call->cur && call->cur->sent) {
    nua_respond(call->nh, SIP_491_REQUEST_PENDING, NUTAG_WITH_THIS(nua), TAG_END());
    return;
  }
  g_autoptr(GError) error = NULL;
  const char *ctype = NULL;
  g_autofree char *body = sip_glib_body(sip, &ctype);
  g_autofree char *sdp = NULL;
  if (body) {
    g_autoptr(SdpAudioDesc) offer = sdp_audio_parse(body, strlen(body), &error);
    SdpAudioNegotiateOptions opts = { .dialog_keyed = TRUE };
    SdpAudioAnswer ans;
    if (offer && offer->mikey) {
      nua_respond(call->nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua),
                  SIPTAG_WARNING_STR("399 mikeyua \"a user agent does not answer MIKEY offers\""),
                  TAG_END());
      return;
    }
    if (!offer || !sdp_audio_negotiate(offer, &opts, &ans, &error)) {
      g_autofree char *text = g_strdup(error->message);
      g_strdelimit(text, "\"\\\r\n", '\'');
      guint code = sdp_audio_error_warning(error);
      g_autofree char *w = g_strdup_printf("%u mikeyua \"%s\"", code ? code : 399, text);
      nua_respond(call->nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua), SIPTAG_WARNING_STR(w),
                  TAG_END());
      return;
    }
    if (call->media && !ans.rejected)
      ua_media_set_remote(call->media, offer->addr, offer->port, ans.codec.pt, NULL);
    SdpAudioParams p = { .sess_id = call->sdp_id,
                         .version = ++call->sdp_version,
                         .addr = call->sdp_addr,
                         .port = call->media ? ua_media_port(call->media) : 9,
                         .formats = ans.formats,
                         .n_formats = ans.n_formats,
                         .ptime = SDP_AUDIO_PTIME,
                         .direction = ans.direction,
                         .mikey = NULL,
                         .offer = offer };
    sdp = sdp_audio_build(&p, NULL, &error);
  } else {
    /* no offer: ours goes in the 200, without key-mgmt (keys unchanged, profile 7.3) */
    sdp = ua_call_sdp_offer(call->sdp_addr, call->media ? ua_media_port(call->media) : 9,
                            call->codec.pt, NULL, UA_FAULT_NONE, call->sdp_id, ++call->sdp_version,
                            &error);
  }
  if (!sdp) {
    nua_respond(call->nh, SIP_500_INTERNAL_SERVER_ERROR, NUTAG_WITH_THIS(nua), TAG_END());
    return;
  }
  log_info("%s: answered the peer's %s (keys unchanged)", call->conference_uri,
           event == nua_i_update ? "UPDATE" : "re-INVITE");
  nua_respond(call->nh, SIP_200_OK, NUTAG_WITH_THIS(nua), SIPTAG_CONTENT_TYPE_STR(SDP_TYPE),
              SIPTAG_PAYLOAD_STR(sdp), TAG_END());
}

/* ------------------------------------------------------------------ events */

static void on_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                     nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
  UaCall *call = (UaCall *)h;
  if (call->detached || call->state == UA_CALL_ENDED)
    return;
  ua_call_ref(call);
  log_debug("call %s: %s %d %s", call->target, nua_event_name(event), status, phrase ? phrase : "");
  switch (event) {
  case nua_r_invite:
    if (call->state == UA_CALL_INVITING ||
        (call->state == UA_CALL_ENDING && call->t_established == 0)) {
      if (status < 200)
        break;
      if (status < 300 && call->state == UA_CALL_INVITING) {
        on_invite_ok(call, status, phrase, sip);
      } else if (status < 300) {
        /* answered just as we cancelled: the dialog must be ended with a BYE */
        record_status(call, status, phrase, sip);
        nua_bye(call->nh, TAG_END());
      } else {
        stop_timer(&call->step_timer);
        record_status(call, status, phrase, sip);
        log_info("%s: INVITE refused: %d %s", call->target, status, phrase);
        finish(call);
      }
    } else if (call->state == UA_CALL_ESTABLISHED) {
      on_update_answer(call, status, phrase, sip);
    }
    break;
  case nua_r_update:
    if (call->state == UA_CALL_ESTABLISHED)
      on_update_answer(call, status, phrase, sip);
    break;
  case nua_i_invite:
  case nua_i_update:
    if (call->state == UA_CALL_ESTABLISHED)
      answer_peer_offer(call, event, sip);
    break;
  case nua_i_bye: {
    int cause = 0;
    char *text = NULL;
    sip_glib_reason(sip, &cause, &text);
    call->report->bye_cause = cause;
    g_free(call->report->bye_text);
    call->report->bye_text = text;
    call->t_bye = g_get_monotonic_time();
    set_ended_by(call, "them");
    log_info("%s: BYE from the peer%s%s", call->target, text ? ": " : "", text ? text : "");
    break;
  }
  case nua_r_bye:
    if (status >= 200)
      finish(call);
    break;
  case nua_i_state: {
    int cs = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
    if (cs == nua_callstate_terminated)
      finish(call);
    break;
  }
  default:
    break;
  }
  ua_call_unref(call);
}

/* ------------------------------------------------------------------ hang up */

void ua_call_hangup(UaCall *call)
{
  switch (call->state) {
  case UA_CALL_IDLE:
  case UA_CALL_TICKET:
    g_cancellable_cancel(call->cancel);
    finish(call);
    break;
  case UA_CALL_INVITING:
    stop_timer(&call->step_timer);
    nua_cancel(call->nh, TAG_END());
    set_state(call, UA_CALL_ENDING);
    arm_fuse(call);
    break;
  case UA_CALL_ESTABLISHED:
    if (strcmp(call->report->ended_by, "them") != 0)
      set_ended_by(call, "us");
    send_bye(call, 0, NULL);
    break;
  case UA_CALL_ENDING:
  case UA_CALL_ENDED:
    break;
  }
}
