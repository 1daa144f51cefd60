/* Sofia-SIP's nua on the GLib main loop, shared by mikeyua and mikeyconfd (design.md "Threads and
 * data flow", "Pitfalls"): the su_root is created on the loop's thread with threading off, its
 * GSource attached to the thread-default main context, and nua created with the listen
 * addresses, the built-in media (SOA) off, UPDATE answered by the application, an explicit Allow
 * list, and session timers and 100rel off unless asked for. Every nua event goes to one callback
 * that dispatches it to the object bound to its handle (SipGlibHandler, nua_handle_magic);
 * requests on handles nobody owns yet go to the "incoming" function.
 *
 * Teardown (sip_glib_free) is the order the stack needs: nua_shutdown, wait for nua_r_shutdown
 * >= 200 (a GLib timeout is the fuse), nua_destroy, g_source_destroy, su_root_destroy, su_deinit.
 *
 * Sofia's own headers need <sofia-sip/su_config.h> before <sofia-sip/sofia_features.h>; this
 * header includes what a user of the glue needs in that order. */
#pragma once

#include <glib.h>

/* Sofia's headers test undefined macros (SU_HAVE_WINSOCK, ...): quiet -Wundef for them only.
 * Include other Sofia headers between SIP_GLIB_SOFIA_BEGIN and SIP_GLIB_SOFIA_END. */
#define SIP_GLIB_SOFIA_BEGIN                                                                       \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wundef\"")
#define SIP_GLIB_SOFIA_END _Pragma("GCC diagnostic pop")

SIP_GLIB_SOFIA_BEGIN
#include <sofia-sip/su_config.h>
#include <sofia-sip/sofia_features.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_glib.h>
SIP_GLIB_SOFIA_END

typedef struct _SipGlib SipGlib;

typedef struct {
  const char *listen;        /* IP address to bind ("127.0.0.1", "0.0.0.0", "::1") */
  guint port;                /* UDP and TCP share it; 0 = an ephemeral port */
  const char *tls_dir;       /* with agent.pem (+ cafile.pem): also sips: on tls_port */
  guint tls_port;            /* 0 = port + 1 (or ephemeral when port is 0) */
  gboolean session_timers;   /* advertise and use RFC 4028 timers (default off) */
  gboolean use_100rel;       /* advertise RFC 3262 (default off) */
  const char *user_agent;    /* User-Agent / Server; NULL = PACKAGE_NAME/PACKAGE_VERSION */
  guint shutdown_timeout_ms; /* fuse of sip_glib_free's wait; 0 = 3000 */
  gboolean trace;            /* log every SIP message sent and received (TPORT_LOG) */
} SipGlibConfig;

/* The event of one nua handle, delivered to the object bound to it. Embed a SipGlibHandler as a
 * member of that object and bind it with sip_glib_handle_new() or sip_glib_handle_bind(). */
typedef struct _SipGlibHandler SipGlibHandler;
typedef void (*SipGlibEventFunc)(SipGlibHandler *handler, nua_event_t event, int status,
                                 const char *phrase, nua_handle_t *nh, const sip_t *sip,
                                 tagi_t tags[]);
struct _SipGlibHandler {
  SipGlibEventFunc event;
};

/* Events on handles without a bound handler (a new incoming INVITE, OPTIONS, ...). The function
 * either binds a handler to nh (and then owns the handle) or answers and destroys it. Without
 * one, new requests are refused (480 to INVITE, 405 to others) and their handles destroyed. */
typedef void (*SipGlibIncomingFunc)(SipGlib *sg, nua_event_t event, int status, const char *phrase,
                                    nua_handle_t *nh, const sip_t *sip, tagi_t tags[],
                                    gpointer user_data);

/* Creates the stack on the calling thread's thread-default main context (the thread that runs
 * its loop). Fails with a message naming the address when binding does. */
SipGlib *sip_glib_new(const SipGlibConfig *cfg, SipGlibIncomingFunc incoming, gpointer user_data,
                      GError **error);
/* Shuts the stack down (bounded by the configured fuse) and frees it. Handles still bound must
 * not be used afterwards; their owners get no further events. */
void sip_glib_free(SipGlib *sg);

nua_t *sip_glib_nua(SipGlib *sg);
/* The address and port the stack listens on (the port actually bound when 0 was asked). */
const char *sip_glib_host(SipGlib *sg);
guint16 sip_glib_port(SipGlib *sg);

/* A new handle bound to handler (tags as for nua_handle). */
nua_handle_t *sip_glib_handle_new(SipGlib *sg, SipGlibHandler *handler, tag_type_t tag,
                                  tag_value_t value, ...);
void sip_glib_handle_bind(nua_handle_t *nh, SipGlibHandler *handler);

/* ------------------------------------------------------------------ message helpers */

/* The first Warning header as "CODE AGENT \"TEXT\"", or NULL. g_free. */
char *sip_glib_warning(const sip_t *sip);
/* The Reason header with protocol SIP: its cause and text (NULL when absent; g_free). FALSE when
 * the message has no SIP Reason. */
gboolean sip_glib_reason(const sip_t *sip, int *cause, char **text);
/* The URI of the first Contact (g_free) and whether it carries the isfocus parameter
 * (RFC 4579); NULL when there is no Contact. */
char *sip_glib_contact_uri(const sip_t *sip, gboolean *isfocus);
/* The body as a NUL-terminated string (g_free), or NULL when there is none; *content_type gets
 * the media type ("application/sdp") when not NULL. */
char *sip_glib_body(const sip_t *sip, const char **content_type);
/* The random delay before re-sending a re-INVITE after a 491 (RFC 3261 14.1), in ms: 2100-4000
 * in 10 ms steps when we own the Call-ID (we sent the initial INVITE), else 0-2000. */
guint sip_glib_glare_delay_ms(gboolean call_id_owner);
