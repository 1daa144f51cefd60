/* Sofia-SIP nua on the GLib main loop (sipglib.h). */
#include "sipglib.h"

#include "log.h"

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

/* The largest SIP message accepted (Sofia-SIP's default is 2 MiB). Ours are a few KiB (an SDP
 * offer with a=key-mgmt: about 2 KiB); a 64 KiB cap keeps a 60 KiB SDP working. Without it one
 * 250 KiB message of 20,000 short headers over TCP takes Sofia's parser about a second of the
 * main loop (the time grows faster than the size), during which nothing else is served. */
#define SIP_GLIB_MAX_MESSAGE (64 * 1024)

SIP_GLIB_SOFIA_BEGIN
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag_io.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>
SIP_GLIB_SOFIA_END

#define DEFAULT_SHUTDOWN_MS 3000
#define START_TIMEOUT_MS 5000
/* Everything this project answers itself or lets the stack answer (design.md). */
#define SIP_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"

struct _SipGlib {
  su_home_t home[1];
  su_root_t *root;
  GSource *source;
  GMainContext *context;
  nua_t *nua;
  SipGlibIncomingFunc incoming;
  gpointer user_data;
  guint shutdown_timeout_ms;
  /* start: the bound contact from nua_r_get_params */
  gboolean have_params;
  char *host;
  guint16 port;
  /* teardown */
  gboolean shutdown_done;
  int shutdown_status;
};

static void refuse_unowned(nua_event_t event, nua_handle_t *nh, nua_t *nua)
{
  switch (event) {
  case nua_i_invite:
    nua_respond(nh, SIP_480_TEMPORARILY_UNAVAILABLE, NUTAG_WITH_THIS(nua), TAG_END());
    nua_handle_destroy(nh);
    break;
  case nua_i_update:
  case nua_i_message:
  case nua_i_info:
  case nua_i_refer:
  case nua_i_notify:
  case nua_i_subscribe:
  case nua_i_publish:
  case nua_i_register:
    nua_respond(nh, SIP_405_METHOD_NOT_ALLOWED, NUTAG_WITH_THIS(nua), TAG_END());
    nua_handle_destroy(nh);
    break;
  case nua_i_options:
  case nua_i_outbound:
    /* the stack answers these itself */
    nua_handle_destroy(nh);
    break;
  default:
    break;
  }
}

static void on_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                     nua_magic_t *magic, nua_handle_t *nh, nua_hmagic_t *hmagic, sip_t const *sip,
                     tagi_t tags[])
{
  SipGlib *sg = (SipGlib *)magic;
  if (event == nua_r_shutdown) {
    log_debug("SIP stack shutdown: %d %s", status, phrase ? phrase : "");
    if (status >= 200) {
      sg->shutdown_done = TRUE;
      sg->shutdown_status = status;
    }
    return;
  }
  if (event == nua_r_get_params) {
    sip_contact_t const *m = NULL;
    tl_gets(tags, NTATAG_CONTACT_REF(m), TAG_END());
    if (m && m->m_url->url_host) {
      g_free(sg->host);
      sg->host = g_strdup(m->m_url->url_host);
      sg->port = (guint16)(m->m_url->url_port ? atoi(m->m_url->url_port) : 5060);
    }
    sg->have_params = TRUE;
    return;
  }
  if (hmagic) {
    SipGlibHandler *h = (SipGlibHandler *)hmagic;
    h->event(h, event, status, phrase, nh, sip, tags);
    return;
  }
  if (!nh)
    return;
  if (sg->incoming) {
    sg->incoming(sg, event, status, phrase, nh, sip, tags, sg->user_data);
    return;
  }
  refuse_unowned(event, nh, nua);
}

static gboolean tick(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the context until *flag is set or the fuse blows; a 20 ms timer keeps each blocking
 * iteration short so the deadline is checked. */
static gboolean wait_flag(SipGlib *sg, const gboolean *flag, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  GSource *fuse = g_timeout_source_new(20);
  g_source_set_callback(fuse, tick, NULL, NULL);
  g_source_attach(fuse, sg->context);
  while (!*flag && g_get_monotonic_time() < deadline)
    g_main_context_iteration(sg->context, TRUE);
  g_source_destroy(fuse);
  g_source_unref(fuse);
  return *flag;
}

/* Sofia's diagnostics (every module logs through the default log unless redirected) become
 * debug lines of ours; with --sip-trace they stay on stderr as Sofia prints them. Sofia logs a
 * message in pieces, so pieces are gathered up to the newline. */
static GString *sofia_line;

static void sofia_logger(void *stream, char const *fmt, va_list ap)
{
  if (!sofia_line)
    sofia_line = g_string_new(NULL);
  g_string_append_vprintf(sofia_line, fmt, ap);
  char *nl;
  while ((nl = strchr(sofia_line->str, '\n'))) {
    *nl = '\0';
    if (sofia_line->str[0])
      log_debug("sofia: %s", sofia_line->str);
    g_string_erase(sofia_line, 0, (gssize)(nl - sofia_line->str) + 1);
  }
}

static void trace_enable(void)
{
  /* tport logs every message it sends and receives when TPORT_LOG is set at its creation. */
  if (!g_getenv("TPORT_LOG"))
    g_setenv("TPORT_LOG", "1", TRUE);
}

SipGlib *sip_glib_new(const SipGlibConfig *cfg, SipGlibIncomingFunc incoming, gpointer user_data,
                      GError **error)
{
  const char *listen = cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1";
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(listen);
  if (!addr) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "SIP listen address '%s' is not an IP address", listen);
    return NULL;
  }
  if (cfg->port > 65535 || cfg->tls_port > 65535) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "SIP port %u is out of range",
                cfg->port > 65535 ? cfg->port : cfg->tls_port);
    return NULL;
  }
  gboolean v6 = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6;
  g_autofree char *host = v6 ? g_strdup_printf("[%s]", listen) : g_strdup(listen);
  g_autofree char *url = g_strdup_printf("sip:%s:%u", host, cfg->port);
  g_autofree char *sips_url = NULL;
  if (cfg->tls_dir) {
    guint tls_port = cfg->tls_port ? cfg->tls_port : cfg->port ? cfg->port + 1 : 0;
    sips_url = g_strdup_printf("sips:%s:%u", host, tls_port);
  }
  if (cfg->trace)
    trace_enable();
  else
    su_log_redirect(su_log_default, sofia_logger, NULL);
  const char *ua = cfg->user_agent ? cfg->user_agent : PACKAGE_NAME "/" PACKAGE_VERSION;

  if (su_init() != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "su_init failed");
    return NULL;
  }
  SipGlib *sg = g_new0(SipGlib, 1);
  su_home_init(sg->home);
  sg->incoming = incoming;
  sg->user_data = user_data;
  sg->shutdown_timeout_ms =
      cfg->shutdown_timeout_ms ? cfg->shutdown_timeout_ms : DEFAULT_SHUTDOWN_MS;
  sg->context = g_main_context_ref_thread_default();
  /* On this thread (su_glib asserts it), threading off before nua_create (design.md). */
  sg->root = su_glib_root_create(sg);
  if (!sg->root) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "su_glib_root_create failed");
    goto fail;
  }
  su_root_threading(sg->root, 0);
  sg->source = su_glib_root_gsource(sg->root);
  g_source_attach(sg->source, sg->context);

  const char *supported = cfg->session_timers && cfg->use_100rel ? "timer, 100rel"
                          : cfg->session_timers                  ? "timer"
                          : cfg->use_100rel                      ? "100rel"
                                                                 : NULL;
  sg->nua = nua_create(
      sg->root, on_event, (nua_magic_t *)sg, NUTAG_URL(url),
      TAG_IF(sips_url, NUTAG_SIPS_URL(sips_url)), TAG_IF(sips_url, TPTAG_CERTIFICATE(cfg->tls_dir)),
      NUTAG_MEDIA_ENABLE(0), NUTAG_APPL_METHOD("UPDATE"), SIPTAG_ALLOW_STR(SIP_ALLOW),
      SIPTAG_SUPPORTED_STR(supported), NUTAG_SESSION_TIMER(cfg->session_timers ? 1800 : 0),
      NUTAG_EARLY_MEDIA(0), NUTAG_AUTOACK(1), NUTAG_AUTOANSWER(0), NUTAG_ENABLEMESSAGE(0),
      NUTAG_KEEPALIVE(0), NUTAG_OUTBOUND("no-options-keepalive, no-validate"),
      NTATAG_MAXSIZE(SIP_GLIB_MAX_MESSAGE), SIPTAG_USER_AGENT_STR(ua), TAG_END());
  if (!sg->nua) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                "cannot listen for SIP on %s (UDP and TCP%s): address in use or not local", url,
                sips_url ? ", and TLS" : "");
    goto fail;
  }
  nua_get_params(sg->nua, TAG_ANY(), TAG_END());
  if (!wait_flag(sg, &sg->have_params, START_TIMEOUT_MS) || !sg->host) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "the SIP stack did not report its address within %u ms", START_TIMEOUT_MS);
    goto fail;
  }
  log_debug("SIP listening on sip:%s:%u (UDP and TCP%s)", sg->host, sg->port,
            sips_url ? ", TLS" : "");
  return sg;

fail:
  sip_glib_free(sg);
  return NULL;
}

void sip_glib_free(SipGlib *sg)
{
  if (!sg)
    return;
  if (sg->nua) {
    nua_shutdown(sg->nua);
    if (!wait_flag(sg, &sg->shutdown_done, sg->shutdown_timeout_ms))
      log_warning("SIP stack did not shut down within %u ms; destroying it anyway",
                  sg->shutdown_timeout_ms);
    nua_destroy(sg->nua);
    sg->nua = NULL;
  }
  if (sg->source) {
    /* Detach only: the GSource is the su_port itself, and the root drops the last reference
     * to it in su_root_destroy (an unref here would free the port under the root). */
    g_source_destroy(sg->source);
    sg->source = NULL;
  }
  if (sg->root) {
    su_root_destroy(sg->root);
    sg->root = NULL;
  }
  su_deinit();
  su_home_deinit(sg->home);
  g_main_context_unref(sg->context);
  g_free(sg->host);
  g_free(sg);
}

nua_t *sip_glib_nua(SipGlib *sg)
{
  return sg->nua;
}

const char *sip_glib_host(SipGlib *sg)
{
  return sg->host;
}

guint16 sip_glib_port(SipGlib *sg)
{
  return sg->port;
}

nua_handle_t *sip_glib_handle_new(SipGlib *sg, SipGlibHandler *handler, tag_type_t tag,
                                  tag_value_t value, ...)
{
  ta_list ta;
  ta_start(ta, tag, value);
  nua_handle_t *nh = nua_handle(sg->nua, (nua_hmagic_t *)handler, ta_tags(ta));
  /* ta_end expands to a comma expression GCC finds pointless */
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wunused-value\"");
  ta_end(ta);
  _Pragma("GCC diagnostic pop");
  return nh;
}

void sip_glib_handle_bind(nua_handle_t *nh, SipGlibHandler *handler)
{
  nua_handle_bind(nh, (nua_hmagic_t *)handler);
}

/* ------------------------------------------------------------------ message helpers */

/* A quoted-string's content with its escapes resolved; other text as it is. */
static char *unquote(const char *s)
{
  if (!s)
    return NULL;
  gsize n = strlen(s);
  if (n < 2 || s[0] != '"' || s[n - 1] != '"')
    return g_strdup(s);
  GString *out = g_string_sized_new(n);
  for (gsize i = 1; i + 1 < n; i++) {
    if (s[i] == '\\' && i + 2 < n)
      i++;
    g_string_append_c(out, s[i]);
  }
  return g_string_free(out, FALSE);
}

char *sip_glib_warning(const sip_t *sip)
{
  if (!sip || !sip->sip_warning)
    return NULL;
  const sip_warning_t *w = sip->sip_warning;
  g_autofree char *text = unquote(w->w_text);
  return g_strdup_printf("%03u %s%s%s \"%s\"", w->w_code, w->w_host ? w->w_host : "-",
                         w->w_port ? ":" : "", w->w_port ? w->w_port : "", text ? text : "");
}

gboolean sip_glib_reason(const sip_t *sip, int *cause, char **text)
{
  if (cause)
    *cause = 0;
  if (text)
    *text = NULL;
  if (!sip)
    return FALSE;
  for (const sip_reason_t *re = sip->sip_reason; re; re = re->re_next) {
    if (!re->re_protocol || g_ascii_strcasecmp(re->re_protocol, "SIP") != 0)
      continue;
    if (cause && re->re_cause)
      *cause = atoi(re->re_cause);
    if (text && re->re_text)
      *text = unquote(re->re_text);
    return TRUE;
  }
  return FALSE;
}

char *sip_glib_contact_uri(const sip_t *sip, gboolean *isfocus)
{
  if (isfocus)
    *isfocus = FALSE;
  if (!sip || !sip->sip_contact)
    return NULL;
  const sip_contact_t *m = sip->sip_contact;
  if (isfocus)
    *isfocus = m->m_params && msg_params_find(m->m_params, "isfocus") != NULL;
  su_home_t home[1] = { SU_HOME_INIT(home) };
  char *s = url_as_string(home, m->m_url);
  char *out = g_strdup(s);
  su_home_deinit(home);
  return out;
}

char *sip_glib_body(const sip_t *sip, const char **content_type)
{
  if (content_type)
    *content_type = sip && sip->sip_content_type ? sip->sip_content_type->c_type : NULL;
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data)
    return NULL;
  return g_strndup(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

guint sip_glib_glare_delay_ms(gboolean call_id_owner)
{
  /* RFC 3261 14.1: owner 2.1-4 s, else 0-2 s, in units of 10 ms */
  return call_id_owner ? (guint)g_random_int_range(210, 401) * 10
                       : (guint)g_random_int_range(0, 201) * 10;
}
