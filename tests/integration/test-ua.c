/* test-ua: mikeyua against the real mikeykmsd (HTTPS with the KMS's own CA), against SIPp
 * scenarios in data/sipp/ (refusals, a 200 OK with a garbage TRANSFER_RESP), and against a
 * miniature focus in this process (sipglib + the MIKEY library + Ticket Resolve at the real
 * KMS + an SRTP echo per leg) that stands in for mikeyconfd: creation and join with media both
 * ways, every profile 7.3 in-dialog action in re-INVITEs and UPDATEs (with the IDRr each one
 * names checked at the focus), 491 glare, a BYE with Reason, SIGINT, an INVITE too large for UDP,
 * faults, and load mode. (--help against mikeyua(1): test-man.)
 *
 * Every wait is bounded; every process started here is killed by its PID at the end (and by
 * the kernel if this program dies: PR_SET_PDEATHSIG); the temporary directory is removed.
 * Binaries: $MIKEYUA / $MIKEYKMSD or the build tree; SIPp from PATH (its tests are skipped
 * without it). */
#include "common/credential.h"
#include "common/kmsclient.h"
#include "common/rtp.h"
#include "common/sdpaudio.h"
#include "common/sipglib.h"
#include "common/srtpctx.h"
#include "common/tone.h"
#include "proc-harness.h"

#include "common/wav.h"
#include "mikey/exchange.h"
#include "mikey/ntp.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KMS_URI "kms.test.example"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define FOCUS_ID "sip:focus@127.0.0.1"

static struct {
  char *ua;
  char *kmsd;
  char *tmp;
  char *conf;
  char *ca;
  char *kms_url;
  GSubprocess *kms;
  char *alice, *bob, *carol; /* credential paths */
  char *load_dir;            /* participants' credentials for load mode */
  Credential focus;
  char *sipp;
} G;

/* ------------------------------------------------------------------ processes */

/* mikeyua ARGS... (NULL-terminated) */
static Proc *ua_spawn(const char *first, ...) G_GNUC_NULL_TERMINATED;
static Proc *ua_spawn(const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  Proc *p = spawn_va(G.ua, first, ap);
  va_end(ap);
  return p;
}

/* ------------------------------------------------------------------ the miniature focus */

typedef struct _Focus Focus;

typedef struct {
  SipGlibHandler handler;
  Focus *f;
  nua_handle_t *nh;
  nua_saved_event_t saved[1];
  gboolean have_saved;
  char *request_uri;
  GBytes *ti;
  MikeyTransferInitView view;
  GBytes *resolve_init;
  char *idrr;
  SdpAudioDesc *offer;
  MikeyCsbState csb;
  gboolean keyed;
  gboolean established;
  gboolean ended;
  /* media echo */
  int fd, rtcp_fd;
  guint watch, rtcp_watch;
  struct sockaddr_in peer;
  SrtpRx rx;
  SrtpCtx *tx, *tx_pending;
  gint64 tx_deadline;
  guint32 ssrc;
  guint16 seq;
  guint32 ts;
  guint64 echoed;
} Leg;

struct _Focus {
  SipGlib *sip;
  KmsClient *kms;
  char *host_port;
  char *factory;
  GPtrArray *legs;
  /* behaviour */
  gboolean glare_once;
  int bye_after_ms;
  /* observations */
  GPtrArray *idrr_seen; /* "initial IDRR" / "update IDRR" per TRANSFER_INIT, in order */
  guint invites, reinvites, updates, established, byes_in, rejects;
  gboolean saw_tcp;
  gboolean glared;
  char *last_from;     /* From URI of the last INVITE */
  GHashTable *ti_seen; /* TRANSFER_INITs already taken (a replay cache, profile 4) */
};

static void leg_free(gpointer p)
{
  Leg *l = p;
  if (l->have_saved)
    nua_destroy_event(l->saved);
  if (l->nh) {
    nua_handle_bind(l->nh, NULL);
    nua_handle_destroy(l->nh);
  }
  if (l->watch)
    g_source_remove(l->watch);
  if (l->rtcp_watch)
    g_source_remove(l->rtcp_watch);
  if (l->fd > 0)
    close(l->fd);
  if (l->rtcp_fd > 0)
    close(l->rtcp_fd);
  srtp_rx_clear(&l->rx);
  srtpctx_free(l->tx);
  srtpctx_free(l->tx_pending);
  g_free(l->request_uri);
  g_clear_pointer(&l->ti, g_bytes_unref);
  g_clear_pointer(&l->resolve_init, g_bytes_unref);
  g_free(l->idrr);
  mikey_transfer_init_view_clear(&l->view);
  sdp_audio_desc_free(l->offer);
  mikey_csb_state_clear(&l->csb);
  g_free(l);
}

static gboolean on_echo(int fd, GIOCondition c, gpointer data)
{
  Leg *l = data;
  guint8 buf[2048];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf - 64, 0)) > 0) {
    if (fd == l->rtcp_fd || !l->keyed)
      continue;
    gsize len = (gsize)n;
    gint64 now = g_get_monotonic_time();
    gboolean prev = FALSE;
    if (srtp_rx_unprotect_rtp(&l->rx, buf, &len, now, &prev) != SRTPCTX_OK)
      continue;
    if (l->tx_pending && (l->rx.current_seen || now > l->tx_deadline)) {
      srtpctx_free(l->tx);
      l->tx = g_steal_pointer(&l->tx_pending);
    }
    RtpPacket pkt;
    if (rtp_parse(buf, len, &pkt) != RTP_OK)
      continue;
    guint8 out[2048];
    RtpHeader h = { .pt = pkt.pt, .seq = l->seq++, .ts = l->ts, .ssrc = l->ssrc };
    l->ts += 160;
    gsize olen = rtp_build(out, sizeof out, &h, pkt.payload, pkt.payload_len);
    if (srtpctx_protect_rtp(l->tx, out, &olen, sizeof out) == SRTPCTX_OK &&
        sendto(l->fd, out, olen, 0, (struct sockaddr *)&l->peer, sizeof l->peer) > 0)
      l->echoed++;
  }
  return G_SOURCE_CONTINUE;
}

static int bind_loopback(guint16 port, guint16 *bound)
{
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *bound = ntohs(a.sin_port);
  return fd;
}

static void leg_media_start(Leg *l)
{
  if (l->fd > 0)
    return;
  for (int i = 0; i < 20 && l->fd <= 0; i++) {
    guint16 p = 0, q = 0;
    int fd = bind_loopback(0, &p);
    int fd2 = bind_loopback((guint16)(p + 1), &q);
    if (fd2 < 0) {
      close(fd);
      continue;
    }
    l->fd = fd;
    l->rtcp_fd = fd2;
  }
  g_assert_cmpint(l->fd, >, 0);
  l->watch = g_unix_fd_add(l->fd, G_IO_IN, on_echo, l);
  l->rtcp_watch = g_unix_fd_add(l->rtcp_fd, G_IO_IN, on_echo, l);
  mikey_random_bytes((guint8 *)&l->ssrc, sizeof l->ssrc, NULL);
  l->seq = 3000;
}

static guint16 leg_port(Leg *l)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(l->fd, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

/* The answerer's keys (profile 8): inbound at once, previous kept 2 s; outbound when the peer's
 * packet decrypts under the new inbound key, at most 1 s later. */
static void leg_install_keys(Leg *l, guint8 policy)
{
  g_autoptr(GError) error = NULL;
  gsize salt = mikey_profile_salt_len(policy);
  g_autoptr(MikeySecret) tk = NULL, ts = NULL, rk = NULL, rs = NULL;
  g_assert_true(mikey_csb_srtp_keys(&l->csb, 2, salt, &tk, &ts, &error));
  g_assert_true(mikey_csb_srtp_keys(&l->csb, 1, salt, &rk, &rs, &error));
  SrtpCtxParams tp = { .policy = policy,
                       .direction = SRTPCTX_OUTBOUND,
                       .master_key = tk->data,
                       .master_salt = ts->data,
                       .master_salt_len = ts->len,
                       .ssrc = l->ssrc };
  SrtpCtxParams rp = { .policy = policy,
                       .direction = SRTPCTX_INBOUND,
                       .master_key = rk->data,
                       .master_salt = rs->data,
                       .master_salt_len = rs->len,
                       .any_ssrc = TRUE };
  SrtpCtx *tx = srtpctx_new(&tp, &error);
  g_assert_no_error(error);
  SrtpCtx *rx = srtpctx_new(&rp, &error);
  g_assert_no_error(error);
  gint64 now = g_get_monotonic_time();
  if (!l->tx) {
    l->tx = tx;
    srtp_rx_install(&l->rx, rx, now, 0);
  } else {
    srtp_rx_install(&l->rx, rx, now, SRTP_RX_KEEP_PREVIOUS_USEC);
    srtpctx_free(l->tx_pending);
    l->tx_pending = tx;
    l->tx_deadline = now + G_USEC_PER_SEC;
  }
  l->keyed = TRUE;
}

static void respond(Leg *l, int status, const char *phrase, const char *warning)
{
  nua_respond(l->nh, status, phrase, NUTAG_WITH_SAVED(l->saved),
              TAG_IF(warning, SIPTAG_WARNING_STR(warning)), TAG_END());
  nua_destroy_event(l->saved);
  l->have_saved = FALSE;
  l->f->rejects++;
}

/* Answers the saved offer with our SDP carrying the TRANSFER_RESP (resp may be NULL: none). */
static void answer_ok(Leg *l, GBytes *resp)
{
  SdpAudioAnswer ans;
  g_autoptr(GError) error = NULL;
  SdpAudioNegotiateOptions opts = { .dialog_keyed = TRUE };
  g_assert_true(sdp_audio_negotiate(l->offer, &opts, &ans, &error));
  leg_media_start(l);
  inet_pton(AF_INET, l->offer->addr, &l->peer.sin_addr);
  l->peer.sin_family = AF_INET;
  l->peer.sin_port = htons(l->offer->port);
  SdpAudioParams p = { .sess_id = 4242,
                       .version = ++l->f->established + 1,
                       .addr = "127.0.0.1",
                       .port = leg_port(l),
                       .formats = ans.formats,
                       .n_formats = ans.n_formats,
                       .ptime = 20,
                       .direction = ans.direction,
                       .mikey = resp,
                       .offer = l->offer };
  g_autofree char *sdp = sdp_audio_build(&p, NULL, &error);
  g_assert_no_error(error);
  g_autofree char *contact = NULL;
  if (!l->established) {
    guint32 r[4];
    mikey_random_bytes((guint8 *)r, sizeof r, NULL);
    gboolean to_factory = g_str_has_prefix(l->request_uri, "sip:conference-factory@");
    contact = to_factory ? g_strdup_printf("<sip:conf-%08x%08x%08x%08x@%s>;isfocus", r[0], r[1],
                                           r[2], r[3], l->f->host_port)
                         : g_strdup_printf("<%s>;isfocus", l->request_uri);
  }
  nua_respond(l->nh, SIP_200_OK, NUTAG_WITH_SAVED(l->saved),
              TAG_IF(contact, SIPTAG_CONTACT_STR(contact)),
              SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp), TAG_END());
  nua_destroy_event(l->saved);
  l->have_saved = FALSE;
  l->established = TRUE;
}

static gboolean on_focus_bye(gpointer data)
{
  Leg *l = data;
  if (l->nh && !l->ended)
    nua_bye(l->nh, SIPTAG_REASON_STR("SIP;cause=403;text=\"removed from the allowed set\""),
            TAG_END());
  return G_SOURCE_REMOVE;
}

static void on_resolved(GObject *source, GAsyncResult *res, gpointer data)
{
  Leg *l = data;
  g_autoptr(GError) error = NULL;
  guint status = 0;
  g_autoptr(GBytes) body = kms_client_post_finish(l->f->kms, res, &status, &error);
  g_assert_no_error(error);
  if (status != 200) {
    respond(l, SIP_403_FORBIDDEN, NULL);
    return;
  }
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(body, l->resolve_init, G.focus.psk, &keys, &error));
  g_assert_no_error(error);
  if (!mikey_transfer_init_verify(&l->view, &keys, l->idrr, &error)) {
    mikey_resolved_keys_clear(&keys);
    respond(l, SIP_403_FORBIDDEN, NULL);
    return;
  }
  guint8 policy_no;
  g_assert_true(mikey_transfer_choose_policy(&l->view, &policy_no, &error));
  guint8 randrr[MIKEY_RAND_LEN];
  mikey_random_bytes(randrr, sizeof randrr, NULL);
  leg_media_start(l);
  MikeyTransferRespParams ap = { mikey_ntp_now(), randrr, sizeof randrr, policy_no,
                                 l->ssrc,         0,      l->seq };
  g_autoptr(GBytes) resp = mikey_transfer_resp_build(&l->view, &keys, &ap, &l->csb, &error);
  g_assert_no_error(error);
  mikey_resolved_keys_clear(&keys);
  leg_install_keys(l, mikey_transfer_policy_profile(&l->view, policy_no));
  answer_ok(l, resp);
  if (l->f->bye_after_ms && l->f->established == 1)
    g_timeout_add((guint)l->f->bye_after_ms, on_focus_bye, l);
}

/* An offer (initial or in dialog) with its key management, as profile 6 and 7.3 say. */
static void handle_offer(Leg *l, const sip_t *sip, gboolean in_dialog)
{
  Focus *f = l->f;
  nua_save_event(sip_glib_nua(f->sip), l->saved);
  l->have_saved = TRUE;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = sip_glib_body(sip, NULL);
  sdp_audio_desc_free(l->offer);
  l->offer = body ? sdp_audio_parse(body, strlen(body), &error) : NULL;
  if (!l->offer) {
    respond(l, SIP_488_NOT_ACCEPTABLE, "399 focus \"malformed SDP\"");
    return;
  }
  if (!l->offer->mikey) {
    if (in_dialog) { /* keys unchanged (profile 7.3) */
      answer_ok(l, NULL);
      return;
    }
    respond(l, SIP_488_NOT_ACCEPTABLE, "306 focus \"no a=key-mgmt:mikey\"");
    return;
  }
  mikey_transfer_init_view_clear(&l->view);
  g_clear_pointer(&l->ti, g_bytes_unref);
  l->ti = g_bytes_ref(l->offer->mikey);
  if (!mikey_transfer_init_parse(l->ti, &l->view, &error)) {
    respond(l, SIP_488_NOT_ACCEPTABLE, "306 focus \"bad MIKEY\"");
    return;
  }
  gsize n;
  const char *d = g_bytes_get_data(l->view.id_r, &n);
  g_free(l->idrr);
  l->idrr = g_strndup(d, n);
  g_ptr_array_add(f->idrr_seen,
                  g_strdup_printf("%s %s", l->view.is_update ? "update" : "initial", l->idrr));
  /* freshness (profile 4): the window, then the replay cache */
  if (!mikey_ntp_within(l->view.t, mikey_ntp_now(), 120)) {
    respond(l, SIP_403_FORBIDDEN, "399 focus \"timestamp outside the window\"");
    return;
  }
  if (g_hash_table_contains(f->ti_seen, l->ti)) {
    respond(l, SIP_403_FORBIDDEN, "399 focus \"replayed TRANSFER_INIT\"");
    return;
  }
  g_hash_table_add(f->ti_seen, g_bytes_ref(l->ti));
  if (l->view.is_update) {
    if (!l->keyed || !mikey_csb_update_verify(&l->view, &l->csb, &error)) {
      respond(l, SIP_403_FORBIDDEN, NULL);
      return;
    }
    guint8 policy_no;
    g_assert_true(mikey_transfer_choose_policy(&l->view, &policy_no, &error));
    g_autoptr(GBytes) resp = mikey_csb_update_resp_build(&l->view, &l->csb, mikey_ntp_now(),
                                                         policy_no, l->ssrc, 0, l->seq, &error);
    g_assert_no_error(error);
    answer_ok(l, resp);
    return;
  }
  /* Ticket Resolve at the KMS with the TRANSFER_INIT's IDRr (profile 7.3) */
  guint8 randrr[MIKEY_RAND_LEN];
  guint32 csb_id;
  mikey_random_bytes(randrr, sizeof randrr, NULL);
  mikey_random_bytes((guint8 *)&csb_id, sizeof csb_id, NULL);
  MikeyResolveInitParams rp = { l->view.msg->hdr.prf, csb_id,     mikey_ntp_now(), randrr,
                                sizeof randrr,        l->idrr,    G.focus.kms_uri, l->view.ticket,
                                G.focus.psk_id,       G.focus.psk };
  g_clear_pointer(&l->resolve_init, g_bytes_unref);
  l->resolve_init = mikey_resolve_init_build(&rp, &error);
  g_assert_no_error(error);
  kms_client_post_async(f->kms, l->resolve_init, NULL, on_resolved, l);
}

static void on_leg_event(SipGlibHandler *h, nua_event_t event, int status, const char *phrase,
                         nua_handle_t *nh, const sip_t *sip, tagi_t tags[])
{
  Leg *l = (Leg *)h;
  Focus *f = l->f;
  nua_t *nua = sip_glib_nua(f->sip);
  switch (event) {
  case nua_i_invite:
  case nua_i_update:
    if (event == nua_i_invite)
      f->reinvites++;
    else
      f->updates++;
    if (f->glare_once && !f->glared) {
      f->glared = TRUE;
      nua_respond(nh, SIP_491_REQUEST_PENDING, NUTAG_WITH_THIS(nua), TAG_END());
      return;
    }
    handle_offer(l, sip, TRUE);
    break;
  case nua_i_bye:
    f->byes_in++;
    break;
  case nua_i_state: {
    int cs = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(cs), TAG_END());
    if (cs == nua_callstate_terminated) {
      l->ended = TRUE;
      nua_handle_bind(l->nh, NULL);
      nua_handle_destroy(l->nh);
      l->nh = NULL;
    }
    break;
  }
  default:
    break;
  }
}

static void on_incoming(SipGlib *sg, nua_event_t event, int status, const char *phrase,
                        nua_handle_t *nh, const sip_t *sip, tagi_t tags[], gpointer data)
{
  Focus *f = data;
  if (event != nua_i_invite) {
    if (event != nua_i_state && event != nua_i_outbound)
      nua_handle_destroy(nh);
    return;
  }
  f->invites++;
  g_clear_pointer(&f->last_from, g_free);
  if (sip->sip_from) {
    su_home_t fh[1] = { SU_HOME_INIT(fh) };
    f->last_from = g_strdup(url_as_string(fh, sip->sip_from->a_url));
    su_home_deinit(fh);
  }
  if (sip->sip_via && sip->sip_via->v_protocol && g_str_has_suffix(sip->sip_via->v_protocol, "TCP"))
    f->saw_tcp = TRUE;
  Leg *l = g_new0(Leg, 1);
  l->handler.event = on_leg_event;
  l->f = f;
  l->nh = nh;
  su_home_t home[1] = { SU_HOME_INIT(home) };
  char *ruri = url_as_string(home, sip->sip_request->rq_url);
  l->request_uri = g_strdup(ruri);
  su_home_deinit(home);
  srtp_rx_init(&l->rx);
  sip_glib_handle_bind(nh, &l->handler);
  g_ptr_array_add(f->legs, l);
  handle_offer(l, sip, FALSE);
}

static Focus *focus_new(void)
{
  Focus *f = g_new0(Focus, 1);
  g_autoptr(GError) error = NULL;
  SipGlibConfig cfg = { .listen = "127.0.0.1", .port = 0, .user_agent = "test-focus" };
  f->sip = sip_glib_new(&cfg, on_incoming, f, &error);
  g_assert_no_error(error);
  f->host_port = g_strdup_printf("127.0.0.1:%u", sip_glib_port(f->sip));
  f->factory = g_strdup_printf("sip:conference-factory@%s", f->host_port);
  f->kms = kms_client_new(G.kms_url, G.ca, FALSE, 20000, &error);
  g_assert_no_error(error);
  f->legs = g_ptr_array_new_with_free_func(leg_free);
  f->idrr_seen = g_ptr_array_new_with_free_func(g_free);
  f->ti_seen =
      g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref, NULL);
  return f;
}

static void focus_free(Focus *f)
{
  g_ptr_array_unref(f->legs);
  sip_glib_free(f->sip);
  kms_client_free(f->kms);
  g_ptr_array_unref(f->idrr_seen);
  g_hash_table_unref(f->ti_seen);
  g_free(f->last_from);
  g_free(f->host_port);
  g_free(f->factory);
  g_free(f);
}

static const char *focus_seen(Focus *f, guint i)
{
  return i < f->idrr_seen->len ? f->idrr_seen->pdata[i] : "(none)";
}

/* ------------------------------------------------------------------ setup */

static void kmsctl_ok(const char *first, ...) G_GNUC_NULL_TERMINATED;
static void kmsctl_ok(const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.kmsd);
  g_ptr_array_add(argv, (char *)"--config");
  g_ptr_array_add(argv, G.conf);
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *))
    g_ptr_array_add(argv, (char *)a);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  g_autofree char *err = NULL;
  int status = run(NULL, &err, (const char *const *)argv->pdata);
  if (status != 0)
    g_test_message("mikeykmsd %s: %s", first, err);
  g_assert_cmpint(status, ==, 0);
}

/* `user add`, then the credential's kms-url pointed at the running KMS. */
static char *add_user(const char *uri, const char *name, const char *opt1, const char *opt2,
                      const char *opt3)
{
  g_autofree char *file = g_strdup_printf("%s.cred", name);
  char *path = g_build_filename(G.tmp, file, NULL);
  kmsctl_ok("user", "add", uri, "--out", path, opt1, opt2, opt3, NULL);
  return path;
}

static void point_at_kms(const char *path, const char *url)
{
  Credential c;
  g_autoptr(GError) error = NULL;
  g_assert_true(credential_load(path, &c, &error));
  g_free(c.kms_url);
  c.kms_url = g_strdup(url);
  g_assert_true(credential_save(path, &c, &error));
  g_assert_no_error(error);
  credential_clear(&c);
}

static void start_kms(void)
{
  g_autofree char *log = g_build_filename(G.tmp, "kms.log", NULL);
  const char *argv[] = { G.kmsd, "--config", G.conf, "--port", "0", "serve", NULL };
  g_autoptr(GSubprocessLauncher) l =
      g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
  g_subprocess_launcher_set_stdout_file_path(l, log);
  g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", ASAN_TLS_WORKAROUND, FALSE);
  g_autoptr(GError) error = NULL;
  G.kms = g_subprocess_launcher_spawnv(l, argv, &error);
  g_assert_no_error(error);
  child_track((pid_t)atoi(g_subprocess_get_identifier(G.kms)), TRUE);
  LogWait w = { log, "listening on " };
  g_assert_true(wait_until(log_has, &w, START_TIMEOUT_MS));
  g_autofree char *text = NULL;
  g_file_get_contents(log, &text, NULL, NULL);
  const char *at = strstr(text, "listening on ") + strlen("listening on ");
  G.kms_url = g_strndup(at, strcspn(at, " \n"));
}

static void setup(void)
{
  const char *env = g_getenv("MIKEYUA");
  G.ua =
      env ? g_strdup(env) : g_test_build_filename(G_TEST_BUILT, "..", "src", "ua", "mikeyua", NULL);
  env = g_getenv("MIKEYKMSD");
  G.kmsd = env ? g_strdup(env)
               : g_test_build_filename(G_TEST_BUILT, "..", "src", "kms", "mikeykmsd", NULL);
  g_assert_true(g_file_test(G.ua, G_FILE_TEST_IS_EXECUTABLE));
  g_assert_true(g_file_test(G.kmsd, G_FILE_TEST_IS_EXECUTABLE));
  G.sipp = g_find_program_in_path("sipp");
  g_autoptr(GError) error = NULL;
  G.tmp = g_dir_make_tmp("mikeyua-test-XXXXXX", &error);
  g_assert_no_error(error);
  proc_harness_init(G.tmp);

  g_autofree char *state = g_build_filename(G.tmp, "kms", NULL);
  G.conf = g_build_filename(G.tmp, "kms.conf", NULL);
  g_autofree char *conf = g_strdup_printf("[mikeykmsd]\nlisten=127.0.0.1\nstate-dir=%s\n"
                                          "kms-uri=" KMS_URI "\nrate-limit=0\nlog-level=info\n",
                                          state);
  g_assert_true(g_file_set_contents(G.conf, conf, -1, NULL));
  G.ca = g_build_filename(state, "ca.pem", NULL);
  kmsctl_ok("init", NULL);
  G.alice = add_user(ALICE, "alice", "--may-create", NULL, NULL);
  G.bob = add_user(BOB, "bob", NULL, NULL, NULL);
  G.carol = add_user(CAROL, "carol", NULL, NULL, NULL);
  g_autofree char *focus =
      add_user(FOCUS_ID, "focus", "--resolves-for", "sip:conference-factory@127.0.0.1:*", NULL);
  kmsctl_ok("user", "set", FOCUS_ID, "--resolves-for", "sip:conference-factory@127.0.0.1:*",
            "--resolves-for", "sip:conf-*@127.0.0.1:*", NULL);
  G.load_dir = g_build_filename(G.tmp, "load", NULL);
  g_mkdir(G.load_dir, 0700);
  for (guint i = 1; i <= 3; i++) {
    g_autofree char *uri = g_strdup_printf("sip:user%u@example.org", i);
    g_autofree char *name = g_strdup_printf("load/user%u", i);
    g_autofree char *p = add_user(uri, name, NULL, NULL, NULL);
  }
  start_kms();
  point_at_kms(G.alice, G.kms_url);
  point_at_kms(G.bob, G.kms_url);
  point_at_kms(G.carol, G.kms_url);
  point_at_kms(focus, G.kms_url);
  for (guint i = 1; i <= 3; i++) {
    g_autofree char *name = g_strdup_printf("user%u.cred", i);
    g_autofree char *p = g_build_filename(G.load_dir, name, NULL);
    point_at_kms(p, G.kms_url);
  }
  g_assert_true(credential_load(focus, &G.focus, &error));
  g_assert_no_error(error);
}

static void teardown(void)
{
  if (G.kms) {
    g_subprocess_send_signal(G.kms, SIGTERM);
    g_subprocess_wait(G.kms, NULL, NULL);
    g_object_unref(G.kms);
  }
  credential_clear(&G.focus);
  proc_harness_finish();
  g_free(G.tmp);
  g_free(G.ua);
  g_free(G.kmsd);
  g_free(G.conf);
  g_free(G.ca);
  g_free(G.kms_url);
  g_free(G.alice);
  g_free(G.bob);
  g_free(G.carol);
  g_free(G.load_dir);
  g_free(G.sipp);
}

/* ------------------------------------------------------------------ tests: the KMS */

/* A creator's ticket names the factory and the participants, over HTTPS with the KMS's CA. */
static void test_ticket_creator(void)
{
  g_autofree char *out = NULL, *err = NULL;
  Proc *p = ua_spawn("ticket", "--credential", G.alice, "--recipient",
                     "sip:conference-factory@conf.example.org", "--recipient", BOB, "--recipient",
                     CAROL, "--json", NULL);
  int status = proc_finish(p, RUN_TIMEOUT_MS, &out, &err);
  if (status != 0)
    g_test_message("%s", err);
  g_assert_cmpint(status, ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "initiator"), ==, ALICE);
  g_assert_cmpstr(jstr(o, "kms"), ==, KMS_URI);
  g_assert_nonnull(strstr(jstr(o, "flags"), "I J"));
  JsonArray *r = json_object_get_array_member(o, "recipients");
  g_assert_cmpuint(json_array_get_length(r), ==, 3);
  g_assert_cmpstr(json_array_get_string_element(r, 0), ==,
                  "sip:conference-factory@conf.example.org");
  g_assert_cmpstr(json_array_get_string_element(r, 1), ==, BOB);
  g_assert_cmpstr(json_array_get_string_element(r, 2), ==, CAROL);
  g_assert_cmpuint(strlen(jstr(o, "fingerprint")), ==, 64);

  /* the text form */
  g_free(out);
  out = NULL;
  const char *argv[] = { G.ua, "ticket", "--credential", G.bob, "--recipient", CAROL, NULL };
  g_assert_cmpint(run(&out, NULL, argv), ==, 0);
  g_assert_nonnull(strstr(out, "initiator:    " BOB "\n"));
  g_assert_nonnull(strstr(out, "recipient:    " CAROL "\n"));
}

/* A non-creator naming the factory is refused, and the message says why (ERR 15). */
static void test_ticket_non_creator(void)
{
  g_autofree char *out = NULL, *err = NULL;
  const char *argv[] = { G.ua,  "ticket",      "--credential",
                         G.bob, "--recipient", "sip:conference-factory@conf.example.org",
                         NULL };
  g_assert_cmpint(run(&out, &err, argv), ==, 1);
  g_assert_cmpstr(out, ==, "");
  g_assert_nonnull(strstr(err, "KMS refused the ticket request for " BOB " (HTTP 403)"));
  g_assert_nonnull(strstr(err, "Invalid TPpar (ERR 15)"));
  g_assert_nonnull(strstr(err, "allowed to create conferences"));
}

/* A server that accepts connections and never answers. */
static gboolean on_silent_accept(GSocketService *svc, GSocketConnection *conn, GObject *src,
                                 gpointer data)
{
  g_ptr_array_add(data, g_object_ref(conn));
  return TRUE;
}

/* KMS down: a refused connection fails at once; a KMS that does not answer fails after
 * --timeout; both say which URL. */
static void test_ticket_kms_down(void)
{
  g_autofree char *cred = g_build_filename(G.tmp, "alice-down.cred", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(G.alice, &text, NULL, NULL));
  g_assert_true(g_file_set_contents(cred, text, -1, NULL));
  g_chmod(cred, 0600);
  guint16 port = free_port();
  g_autofree char *url = g_strdup_printf("https://127.0.0.1:%u/mikey", port);
  point_at_kms(cred, url);
  g_autofree char *out = NULL, *err = NULL;
  const char *argv[] = { G.ua, "ticket", "--credential", cred, "--recipient", BOB, "--timeout",
                         "2",  NULL };
  gint64 t0 = g_get_monotonic_time();
  g_assert_cmpint(run(&out, &err, argv), ==, 1);
  g_assert_nonnull(strstr(err, url));
  g_test_message("refused: %s (%.2f s)", err, (g_get_monotonic_time() - t0) / 1e6);

  /* silent: accepted, never answered */
  g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GSocketService) svc = g_socket_service_new();
  g_autoptr(GError) error = NULL;
  guint16 silent = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(svc), NULL, &error);
  g_assert_no_error(error);
  g_signal_connect(svc, "incoming", G_CALLBACK(on_silent_accept), conns);
  g_autofree char *url2 = g_strdup_printf("https://127.0.0.1:%u/mikey", silent);
  point_at_kms(cred, url2);
  g_free(err);
  err = NULL;
  t0 = g_get_monotonic_time();
  g_assert_cmpint(run(NULL, &err, argv), ==, 1);
  double took = (g_get_monotonic_time() - t0) / 1e6;
  g_test_message("silent: %s (%.2f s)", err, took);
  g_assert_nonnull(strstr(err, "no answer from the KMS within 2000 ms"));
  g_assert_nonnull(strstr(err, url2));
  g_assert_cmpfloat(took, >=, 1.9);
  g_socket_service_stop(svc);
}

/* A peer that takes the INVITE (UDP or TCP) and never answers: the report says which step ran
 * out of time, and the whole run is bounded by about twice --timeout (the CANCEL's fuse). */
static void test_invite_timeout(void)
{
  g_autoptr(GError) error = NULL;
  guint16 port = free_port();
  g_autoptr(GSocket) udp =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error(error);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(lo, port);
  g_assert_true(g_socket_bind(udp, sa, TRUE, &error));
  g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GSocketService) svc = g_socket_service_new();
  g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(svc), sa, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error));
  g_assert_no_error(error);
  g_signal_connect(svc, "incoming", G_CALLBACK(on_silent_accept), conns);
  g_autofree char *target =
      g_strdup_printf("sip:conf-00112233445566778899aabbccddeeff@127.0.0.1:%u", port);
  g_autofree char *out = NULL, *err = NULL;
  gint64 t0 = g_get_monotonic_time();
  Proc *p = ua_spawn("join", "--credential", G.bob, "--timeout", "2", "--json", target, NULL);
  g_assert_cmpint(proc_finish(p, RUN_TIMEOUT_MS, &out, &err), ==, 1);
  double took = (g_get_monotonic_time() - t0) / 1e6;
  g_test_message("silent peer: %.2f s", took);
  g_assert_cmpfloat(took, <, 10);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "error.step"), ==, "invite");
  g_assert_cmpstr(jstr(o, "error.message"), ==, "no final response to the INVITE within 2000 ms");
  g_assert_cmpstr(jstr(o, "ended.by"), ==, "not-established");
  g_assert_nonnull(strstr(err, "invite: no final response to the INVITE within 2000 ms"));
  g_socket_service_stop(svc);
}

/* ------------------------------------------------------------------ tests: SIPp */

static Proc *sipp_start(const char *scenario, guint16 port)
{
  g_autofree char *sf = g_test_build_filename(G_TEST_DIST, "..", "data", "sipp", scenario, NULL);
  g_autofree char *p = g_strdup_printf("%u", port);
  const char *argv[] = { G.sipp, "-sf",      sf,         "-i", "127.0.0.1",      "-p", p, "-m",
                         "1",    "-nostdin", "-timeout", "30", "-timeout_error", NULL };
  Proc *proc = spawn(argv);
  g_usleep(300000); /* SIPp binds within a few ms; no log line to wait for */
  return proc;
}

static gboolean need_sipp(void)
{
  if (!G.sipp)
    g_test_skip("sipp (Debian: sip-tester) is not installed");
  return G.sipp != NULL;
}

/* 488 with Warning 306: the report shows the status, the Warning and "refused"; exit 1, or 0
 * with --expect 488. SIPp's scenario ends with the ACK, so its exit 0 shows we sent it. */
static void test_sipp_488(void)
{
  if (!need_sipp())
    return;
  for (int expect = 0; expect < 2; expect++) {
    guint16 port = free_port();
    Proc *sipp = sipp_start("uas-488.xml", port);
    g_autofree char *target = g_strdup_printf("sip:conference-factory@127.0.0.1:%u", port);
    g_autofree char *out = NULL, *err = NULL;
    Proc *p = ua_spawn("create", "--credential", G.alice, "--factory", target, "--participant", BOB,
                       "--json", "--timeout", "5", expect ? "--expect" : NULL, "488", NULL);
    int status = proc_finish(p, RUN_TIMEOUT_MS, &out, &err);
    g_assert_cmpint(status, ==, expect ? 0 : 1);
    g_autoptr(JsonParser) jp = NULL;
    JsonObject *o = json_of(out, &jp);
    g_assert_cmpstr(jstr(o, "outcome"), ==, "refused");
    g_assert_cmpint(jint(o, "sip.status"), ==, 488);
    g_assert_cmpstr(jstr(o, "sip.reason"), ==, "Not Acceptable Here");
    g_assert_cmpstr(jstr(o, "sip.warning"), ==, "306 sipp \"no a=key-mgmt:mikey\"");
    g_assert_cmpstr(jstr(o, "ended.by"), ==, "not-established");
    g_assert_cmpint(json_object_get_boolean_member(o, "expected"), ==, expect);
    if (!expect)
      g_assert_nonnull(strstr(err, "create: the INVITE got 488 Not Acceptable Here, Warning: 306 "
                                   "sipp \"no a=key-mgmt:mikey\", not 200"));
    g_assert_cmpint(proc_finish(sipp, RUN_TIMEOUT_MS, NULL, NULL), ==, 0);
  }
}

static void test_sipp_403(void)
{
  if (!need_sipp())
    return;
  guint16 port = free_port();
  Proc *sipp = sipp_start("uas-403.xml", port);
  g_autofree char *target =
      g_strdup_printf("sip:conf-00112233445566778899aabbccddeeff@127.0.0.1:%u", port);
  g_autofree char *out = NULL;
  Proc *p = ua_spawn("join", "--credential", G.bob, target, "--expect", "403", NULL);
  g_assert_cmpint(proc_finish(p, RUN_TIMEOUT_MS, &out, NULL), ==, 0);
  g_assert_true(g_str_has_prefix(out, "mikeyua join: refused (as expected)\n"));
  g_assert_nonnull(strstr(out, "  SIP:         403 Forbidden\n"));
  g_assert_nonnull(strstr(out, "  warning:     399 sipp \"not in the allowed set\"\n"));
  g_assert_cmpint(proc_finish(sipp, RUN_TIMEOUT_MS, NULL, NULL), ==, 0);
}

/* A 200 OK whose key-mgmt is not a TRANSFER_RESP: the UA ACKs, reports the MIKEY failure with
 * its step, and ends the dialog with a BYE carrying a Reason; SIPp's scenario (ACK, then BYE
 * answered) completes. */
static void test_sipp_garbage_key_mgmt(void)
{
  if (!need_sipp())
    return;
  guint16 port = free_port();
  Proc *sipp = sipp_start("uas-garbage-key-mgmt.xml", port);
  g_autofree char *target = g_strdup_printf("sip:conference-factory@127.0.0.1:%u", port);
  g_autofree char *out = NULL, *err = NULL;
  Proc *p = ua_spawn("create", "--credential", G.alice, "--factory", target, "--json", "--timeout",
                     "5", NULL);
  g_assert_cmpint(proc_finish(p, RUN_TIMEOUT_MS, &out, &err), ==, 1);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "outcome"), ==, "failed");
  g_assert_cmpint(jint(o, "sip.status"), ==, 200);
  g_assert_cmpstr(jstr(o, "error.step"), ==, "answer");
  g_assert_nonnull(strstr(jstr(o, "error.message"), "MIKEY verification of the TRANSFER_RESP"));
  g_assert_cmpstr(jstr(o, "ended.by"), ==, "error");
  g_assert_null(jstr(o, "policy"));
  g_assert_nonnull(strstr(err, "answer: MIKEY verification"));
  g_assert_cmpint(proc_finish(sipp, RUN_TIMEOUT_MS, NULL, NULL), ==, 0);
}

/* ------------------------------------------------------------------ tests: the focus */

/* Runs mikeyua ARGS against a fresh focus; returns its exit status and the JSON report. */
static int focus_run(Focus *f, char **out, char **err, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, G.ua);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (char *)args[i]);
  g_ptr_array_add(argv, NULL);
  Proc *p = spawn((const char *const *)argv->pdata);
  int status = proc_finish(p, RUN_TIMEOUT_MS, out, err);
  if (status != 0 && err && *err)
    g_test_message("mikeyua: %s", *err);
  return status;
}

/* create: ticket, INVITE to the factory (IDRr = the factory URI), 200 OK with the conference
 * URI, SRTP both ways through the focus's echo, BYE by us after --duration. */
static void test_focus_create(void)
{
  Focus *f = focus_new();
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "create",   "--credential",  G.alice, "--factory",
                         f->factory, "--participant", BOB,     "--duration",
                         "2",        "--json",        NULL };
  g_assert_cmpint(focus_run(f, &out, &err, args), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "outcome"), ==, "ok");
  g_assert_cmpint(jint(o, "sip.status"), ==, 200);
  g_assert_true(g_str_has_prefix(jstr(o, "conference_uri"), "sip:conf-"));
  g_assert_true(g_str_has_suffix(jstr(o, "conference_uri"), f->host_port));
  g_assert_cmpstr(jstr(o, "policy"), ==, "AEAD_AES_128_GCM");
  g_assert_cmpstr(jstr(o, "codec"), ==, "PCMU");
  g_assert_cmpint(jint(o, "media.sent"), >=, 60);     /* 2 s of 20 ms frames, give or take */
  g_assert_cmpint(jint(o, "media.received"), >=, 40); /* the echo */
  g_assert_cmpint(jint(o, "media.decrypt_failed"), ==, 0);
  g_assert_cmpstr(jstr(o, "ended.by"), ==, "us");
  g_assert_cmpuint(f->invites, ==, 1);
  g_autofree char *want = g_strdup_printf("initial %s", f->factory);
  g_assert_cmpstr(focus_seen(f, 0), ==, want);
  g_assert_cmpuint(f->byes_in, ==, 1);
  /* about 1.5 KB: over the 1300-byte UDP limit already, so TCP (RFC 3261 18.1.1) */
  g_assert_true(f->saw_tcp);
  focus_free(f);
}

/* --policy aes-cm --codec pcma, a WAV file as the source and --record: the focus's echo of our
 * 1000 Hz tone comes back through SRTP both ways and is what the recording holds. */
static void test_focus_policy_codec(void)
{
  Focus *f = focus_new();
  g_autoptr(GError) error = NULL;
  g_autofree char *src = g_build_filename(G.tmp, "tone1000.wav", NULL);
  g_autofree char *rec = g_build_filename(G.tmp, "heard.wav", NULL);
  WavWriter *w = wav_writer_open(src, &error);
  g_assert_no_error(error);
  ToneGen t;
  tone_init(&t, 1000, 8000, TONE_RATE);
  gint16 pcm[TONE_RATE];
  tone_fill(&t, pcm, G_N_ELEMENTS(pcm));
  g_assert_true(wav_writer_write(w, pcm, G_N_ELEMENTS(pcm), &error));
  g_assert_true(wav_writer_close(w, &error));

  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *conf =
      g_strdup_printf("sip:conf-00000000000000000000000000000001@%s", f->host_port);
  const char *args[] = { "join", "--credential", G.bob, "--policy", "aes-cm", "--codec",
                         "pcma", "--audio",      src,   "--record", rec,      "--duration",
                         "2",    "--json",       conf,  NULL };
  g_assert_cmpint(focus_run(f, &out, &err, args), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "policy"), ==, "AES_CM_128_HMAC_SHA1_80");
  g_assert_cmpstr(jstr(o, "codec"), ==, "PCMA");
  g_assert_cmpstr(jstr(o, "conference_uri"), ==, conf);
  g_assert_cmpint(jint(o, "media.received"), >, 0);
  g_assert_cmpint(jint(o, "media.decrypt_failed"), ==, 0);
  g_autofree char *want = g_strdup_printf("initial %s", conf);
  g_assert_cmpstr(focus_seen(f, 0), ==, want);

  gsize n = 0;
  g_autofree gint16 *heard = wav_read(rec, &n, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, (gsize)jint(o, "media.received") * 160);
  double at1000 = goertzel_level_db(heard, n, 1000, TONE_RATE);
  double at440 = goertzel_level_db(heard, n, 440, TONE_RATE);
  g_test_message("recording: %" G_GSIZE_FORMAT " samples, 1000 Hz %.1f dB, 440 Hz %.1f dB", n,
                 at1000, at440);
  g_assert_cmpfloat(at1000, >, -3);
  g_assert_cmpfloat(at440, <, -30);
  focus_free(f);
}

/* Every profile 7.3 action in re-INVITEs (or UPDATEs): the focus sees the IDRr each one must
 * name, every answer verifies, the keys switch without a packet failing to decrypt. */
static void check_actions(gboolean use_update)
{
  Focus *f = focus_new();
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "create",
                         "--credential",
                         G.alice,
                         "--factory",
                         f->factory,
                         "--participant",
                         BOB,
                         "--at",
                         "1:new-ticket:" CAROL,
                         "--at",
                         "2:focus-ticket",
                         "--at",
                         "3:same-ticket",
                         "--at",
                         "4:csb-update",
                         "--update-method",
                         use_update ? "update" : "reinvite",
                         "--duration",
                         "5",
                         "--json",
                         NULL };
  g_assert_cmpint(focus_run(f, &out, &err, args), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  JsonArray *ups = json_object_get_array_member(o, "updates");
  g_assert_cmpuint(json_array_get_length(ups), ==, 4);
  const char *names[] = { "new-ticket", "focus-ticket", "same-ticket", "csb-update" };
  for (guint i = 0; i < 4; i++) {
    JsonObject *u = json_array_get_object_element(ups, i);
    g_assert_cmpstr(json_object_get_string_member(u, "action"), ==, names[i]);
    g_assert_cmpstr(json_object_get_string_member(u, "method"), ==,
                    use_update ? "UPDATE" : "INVITE");
    g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 200);
    g_assert_true(json_object_get_boolean_member(u, "ok"));
  }
  const char *conf = jstr(o, "conference_uri");
  g_autofree char *s0 = g_strdup_printf("initial %s", f->factory);
  g_autofree char *s1 = g_strdup_printf("initial %s", conf);       /* new ticket: the conference */
  g_autofree char *s3 = g_strdup_printf("initial %s", f->factory); /* same ticket: target */
  g_autofree char *s4 = g_strdup_printf("update %s", f->factory);  /* IDRr of the RESP */
  g_assert_cmpstr(focus_seen(f, 0), ==, s0);
  g_assert_cmpstr(focus_seen(f, 1), ==, s1);
  g_assert_cmpstr(focus_seen(f, 2), ==, s1); /* focus-only ticket: the conference */
  g_assert_cmpstr(focus_seen(f, 3), ==, s3);
  g_assert_cmpstr(focus_seen(f, 4), ==, s4);
  g_assert_cmpuint(use_update ? f->updates : f->reinvites, ==, 4);
  /* three new key sets, switched without loss (profile 8) */
  g_assert_cmpint(jint(o, "media.rekeys"), ==, 3);
  g_assert_cmpint(jint(o, "media.decrypt_failed"), ==, 0);
  g_assert_cmpint(jint(o, "media.received"), >=, 150);
  focus_free(f);
}

static void test_focus_actions_reinvite(void)
{
  check_actions(FALSE);
}

static void test_focus_actions_update(void)
{
  check_actions(TRUE);
}

/* 491 to the first re-INVITE: sent again after the RFC 3261 14.1 delay (2.1-4 s), then done. */
static void test_focus_glare(void)
{
  Focus *f = focus_new();
  f->glare_once = TRUE;
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "create", "--credential",     G.alice,      "--factory", f->factory,
                         "--at",   "0.5:focus-ticket", "--duration", "6",         "--json",
                         NULL };
  g_assert_cmpint(focus_run(f, &out, &err, args), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  JsonObject *u = json_array_get_object_element(json_object_get_array_member(o, "updates"), 0);
  g_assert_cmpint(json_object_get_int_member(u, "retries"), ==, 1);
  g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 200);
  g_assert_true(json_object_get_boolean_member(u, "ok"));
  g_assert_cmpuint(f->reinvites, ==, 2);
  focus_free(f);
}

/* The focus removes us: BYE with Reason, reported with its cause and text. */
static void test_focus_bye_reason(void)
{
  for (int expect = 0; expect < 2; expect++) {
    Focus *f = focus_new();
    f->bye_after_ms = 700;
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *conf =
        g_strdup_printf("sip:conf-00000000000000000000000000000002@%s", f->host_port);
    const char *args[] = { "join", "--credential",
                           G.bob,  "--duration",
                           "10",   "--json",
                           conf,   expect ? "--expect-bye-reason" : NULL,
                           "403",  NULL };
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(focus_run(f, &out, &err, args), ==, expect ? 0 : 1);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 8 * G_USEC_PER_SEC); /* did not wait 10 s */
    g_autoptr(JsonParser) jp = NULL;
    JsonObject *o = json_of(out, &jp);
    g_assert_cmpstr(jstr(o, "ended.by"), ==, "them");
    g_assert_cmpint(jint(o, "ended.reason_cause"), ==, 403);
    g_assert_cmpstr(jstr(o, "ended.reason_text"), ==, "removed from the allowed set");
    if (!expect)
      g_assert_nonnull(strstr(err, "join: the focus ended the call (Reason cause 403: removed "
                                   "from the allowed set)"));
    focus_free(f);
  }
}

static gboolean focus_has_call(gpointer data)
{
  Focus *f = data;
  for (guint i = 0; i < f->legs->len; i++)
    if (((Leg *)f->legs->pdata[i])->echoed > 10)
      return TRUE;
  return FALSE;
}

/* SIGINT: BYE first, then exit 0 (we ended the call). */
static void test_focus_sigint(void)
{
  Focus *f = focus_new();
  g_autofree char *conf =
      g_strdup_printf("sip:conf-00000000000000000000000000000003@%s", f->host_port);
  Proc *p = ua_spawn("join", "--credential", G.carol, "--duration", "0", "--json", conf, NULL);
  g_assert_true(wait_until(focus_has_call, f, RUN_TIMEOUT_MS));
  kill(p->pid, SIGINT);
  g_autofree char *out = NULL;
  g_assert_cmpint(proc_finish(p, RUN_TIMEOUT_MS, &out, NULL), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpstr(jstr(o, "ended.by"), ==, "us");
  g_assert_cmpuint(f->byes_in, ==, 1);
  focus_free(f);
}

/* An INVITE over 1300 bytes goes over TCP (profile 6, RFC 3261 18.1.1): here about 4 KB, a
 * ticket naming 40 participants. */
static void test_focus_large_invite_tcp(void)
{
  Focus *f = focus_new();
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
  const char *head[] = { "create",   "--credential", G.alice, "--factory",
                         f->factory, "--duration",   "1",     "--json" };
  for (guint i = 0; i < G_N_ELEMENTS(head); i++)
    g_ptr_array_add(args, g_strdup(head[i]));
  for (guint i = 0; i < 40; i++) {
    g_ptr_array_add(args, g_strdup("--participant"));
    g_ptr_array_add(args, g_strdup_printf("sip:participant-number-%u@example.org", i));
  }
  g_ptr_array_add(args, NULL);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(focus_run(f, &out, &err, (const char *const *)args->pdata), ==, 0);
  g_assert_true(f->saw_tcp);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpint(jint(o, "sip.status"), ==, 200);
  g_assert_cmpint(jint(o, "media.received"), >, 0);
  focus_free(f);
}

/* The faults as a focus sees them: each refused with the status of the profile 6 table, and
 * --expect makes that the expected outcome. */
static void test_focus_faults(void)
{
  Focus *f = focus_new();
  g_autofree char *conf =
      g_strdup_printf("sip:conf-00000000000000000000000000000004@%s", f->host_port);
  const struct {
    const char *fault;
    int status;
    const char *warning;
  } cases[] = {
    { "tamper-mac", 403, NULL },
    { "tamper-ticket", 403, NULL }, /* the KMS refuses the resolve */
    { "stale-timestamp", 403, "399 focus \"timestamp outside the window\"" },
    { "no-key-mgmt", 488, "306 focus \"no a=key-mgmt:mikey\"" },
    { "garbage-key-mgmt", 488, "306 focus \"bad MIKEY\"" },
    { "malformed-sdp", 488, "399 focus \"malformed SDP\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *status = g_strdup_printf("%d", cases[i].status);
    const char *args[] = { "join",     "--credential", G.bob,    "--fault", cases[i].fault,
                           "--expect", status,         "--json", conf,      NULL };
    int rc = focus_run(f, &out, &err, args);
    g_autoptr(JsonParser) jp = NULL;
    JsonObject *o = json_of(out, &jp);
    if (rc != 0)
      g_test_message("--fault %s: %s", cases[i].fault, out);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(jint(o, "sip.status"), ==, cases[i].status);
    if (cases[i].warning)
      g_assert_cmpstr(jstr(o, "sip.warning"), ==, cases[i].warning);
  }

  /* from-mismatch: the From header is the URI given, the TRANSFER_INIT is still ours (this
   * focus does not compare them; mikeyconfd answers 403) */
  g_autofree char *out = NULL, *err = NULL;
  const char *a1[] = {
    "join", "--credential", G.bob, "--fault", "from-mismatch:sip:mallory@example.org", "--duration",
    "1",    "--json",       conf,  NULL
  };
  g_assert_cmpint(focus_run(f, &out, &err, a1), ==, 0);
  g_assert_cmpstr(f->last_from, ==, "sip:mallory@example.org");
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);

  /* replay-previous: the re-INVITE carries the INVITE's TRANSFER_INIT again; refused as a
   * replay, the leg goes on with its keys (profile 7.3), the run is not the expected one */
  const char *a2[] = { "join",
                       "--credential",
                       G.bob,
                       "--fault",
                       "replay-previous",
                       "--at",
                       "0.5:focus-ticket",
                       "--duration",
                       "2",
                       "--json",
                       conf,
                       NULL };
  g_assert_cmpint(focus_run(f, &out, &err, a2), ==, 1);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  JsonObject *u = json_array_get_object_element(json_object_get_array_member(o, "updates"), 0);
  g_assert_cmpint(json_object_get_int_member(u, "status"), ==, 403);
  g_assert_cmpstr(json_object_get_string_member(u, "warning"), ==,
                  "399 focus \"replayed TRANSFER_INIT\"");
  g_assert_false(json_object_get_boolean_member(u, "ok"));
  g_assert_cmpint(jint(o, "media.rekeys"), ==, 0);
  g_assert_cmpint(jint(o, "media.received"), >=, 60); /* media went on for the whole 2 s */
  g_assert_cmpint(jint(o, "media.decrypt_failed"), ==, 0);
  g_assert_cmpstr(jstr(o, "ended.by"), ==, "us");
  g_assert_nonnull(strstr(err, "focus-ticket at 0.5 s failed: refused: 403 Forbidden"));
  focus_free(f);
}

/* load: two conferences of two participants (credentials from a directory), all real calls. */
static void test_load(void)
{
  Focus *f = focus_new();
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = { "load",     "--credential",
                         G.alice,    "--factory",
                         f->factory, "--conferences",
                         "2",        "--participants",
                         "2",        "--participant-credentials",
                         G.load_dir, "--join-rate",
                         "20",       "--call-length",
                         "1",        "--json",
                         NULL };
  g_assert_cmpint(focus_run(f, &out, &err, args), ==, 0);
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = json_of(out, &jp);
  g_assert_cmpint(jint(o, "calls"), ==, 6);
  g_assert_cmpint(jint(o, "ok"), ==, 6);
  g_assert_cmpint(jint(o, "failed"), ==, 0);
  JsonObject *lat = json_object_get_object_member(o, "setup_ms");
  g_assert_cmpfloat(json_object_get_double_member(lat, "p50"), >, 0);
  g_assert_cmpfloat(json_object_get_double_member(lat, "p99"), >=,
                    json_object_get_double_member(lat, "p50"));
  g_assert_cmpuint(json_object_get_size(json_object_get_object_member(o, "failures")), ==, 0);
  g_assert_cmpint(jint(o, "media.received"), >, 0);
  g_assert_cmpint(jint(o, "media.decrypt_failed"), ==, 0);
  g_assert_cmpuint(f->invites, ==, 6);
  focus_free(f);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  setup();
  g_test_add_func("/ua/ticket/creator", test_ticket_creator);
  g_test_add_func("/ua/ticket/non-creator-factory", test_ticket_non_creator);
  g_test_add_func("/ua/ticket/kms-down", test_ticket_kms_down);
  g_test_add_func("/ua/invite-timeout", test_invite_timeout);
  g_test_add_func("/ua/sipp/488", test_sipp_488);
  g_test_add_func("/ua/sipp/403", test_sipp_403);
  g_test_add_func("/ua/sipp/garbage-key-mgmt", test_sipp_garbage_key_mgmt);
  g_test_add_func("/ua/focus/create", test_focus_create);
  g_test_add_func("/ua/focus/policy-codec", test_focus_policy_codec);
  g_test_add_func("/ua/focus/actions-reinvite", test_focus_actions_reinvite);
  g_test_add_func("/ua/focus/actions-update", test_focus_actions_update);
  g_test_add_func("/ua/focus/glare", test_focus_glare);
  g_test_add_func("/ua/focus/bye-reason", test_focus_bye_reason);
  g_test_add_func("/ua/focus/sigint", test_focus_sigint);
  g_test_add_func("/ua/focus/large-invite-tcp", test_focus_large_invite_tcp);
  g_test_add_func("/ua/focus/faults", test_focus_faults);
  g_test_add_func("/ua/load", test_load);
  int status = g_test_run();
  teardown();
  return status;
}
