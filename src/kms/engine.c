/* The KMS's decisions (profile 3 and 5): one POST /mikey body in, the HTTP status and the MIKEY
 * answer out, plus one log line.
 *
 * Checks run in the order of profile 3, the first failure decides:
 *   1. structure: HDR (else 400, empty), data type (Error: 400 empty; not 11/16: 400 ERR 11),
 *      body and required payloads (400 ERR 12), one suite (400 ERR 2/3/4);
 *   2. T window (403 ERR 1; COUNTER refused);
 *   3. PSK lookup by IDRpsk (403 ERR 7);
 *   4. MAC (403 ERR 0);
 *   5. replay cache of authenticated messages (403 ERR 1 with V);
 *   6. user state: disabled, IDRi not the PSK's owner, IDRkms not this KMS (403 ERR 7 with V);
 *   7. policy: request_decide() (profile 5) or resolve_decide().
 * An Error carries a V (keyed with the request's initial auth key) only once the request's MAC
 * has verified (steps 5-7). */
#include "engine.h"

#include "common/log.h"
#include "common/sipuri.h"
#include "mikey/exchange.h"
#include "mikey/ntp.h"
#include "mikey/policy.h"
#include "mikey/replay.h"

#include <gio/gio.h>
#include <string.h>

#define REPLAY_MAX_ENTRIES (1u << 20)
/* IDR data shown in log lines is cut after this many bytes. */
#define LOG_ID_MAX 128

struct _KmsEngine {
  KmsStore *store;     /* borrowed */
  KmsMetrics *metrics; /* borrowed; may be NULL */
  char *kms_uri;
  guint skew;
  guint lifetime;
  guint max_recipients;
  GStrv factory_uris;
  MikeyReplayCache *replay;
  GPtrArray *transitions; /* SkewTransition*: earlier windows still in force */
  guint64 last_now;       /* the clock of the last message handled; 0 before the first */
};

/* A change of the skew window (SIGHUP) must not let a message seen under the old window be
 * replayed: its replay-cache entry lives only as long as the old window allows. So after a
 * change, until every such entry has expired, the old cache is still consulted, and a message
 * whose T could belong to one seen before the change (T < since + old window) is held to the
 * smaller of the two windows. The larger window takes full effect old-window seconds after the
 * change. */
typedef struct {
  MikeyReplayCache *cache; /* what was seen under the old window */
  guint window;            /* the old window */
  guint64 since;           /* the clock of the last message seen under it */
} SkewTransition;

static void skew_transition_free(gpointer p)
{
  SkewTransition *tr = p;
  mikey_replay_cache_free(tr->cache);
  g_free(tr);
}

/* ------------------------------------------------------------------ answers */

void kms_answer_clear(KmsAnswer *answer)
{
  if (answer == NULL)
    return;
  g_clear_pointer(&answer->body, g_bytes_unref);
  g_clear_pointer(&answer->log_line, g_free);
  answer->status = 0;
}

/* ------------------------------------------------------------------ engine */

static guint nonneg(gint v)
{
  return v > 0 ? (guint)v : 0;
}

KmsEngine *kms_engine_new(KmsStore *store, const KmsConfig *cfg, KmsMetrics *metrics)
{
  g_return_val_if_fail(store != NULL && cfg != NULL, NULL);
  KmsEngine *e = g_new0(KmsEngine, 1);
  e->store = store;
  e->metrics = metrics;
  e->transitions = g_ptr_array_new_with_free_func(skew_transition_free);
  kms_engine_set_config(e, cfg);
  return e;
}

void kms_engine_free(KmsEngine *e)
{
  if (e == NULL)
    return;
  g_free(e->kms_uri);
  g_strfreev(e->factory_uris);
  mikey_replay_cache_free(e->replay);
  g_ptr_array_unref(e->transitions);
  g_free(e);
}

void kms_engine_set_config(KmsEngine *e, const KmsConfig *cfg)
{
  g_return_if_fail(e != NULL && cfg != NULL);
  guint skew = nonneg(cfg->skew);
  g_free(e->kms_uri);
  e->kms_uri = g_strdup(cfg->kms_uri ? cfg->kms_uri : "");
  e->lifetime = nonneg(cfg->ticket_lifetime);
  e->max_recipients = nonneg(cfg->max_recipients);
  g_strfreev(e->factory_uris);
  e->factory_uris = g_strdupv(cfg->factory_uris);
  if (e->replay == NULL) {
    e->replay = mikey_replay_cache_new(skew, REPLAY_MAX_ENTRIES);
  } else if (skew != e->skew) {
    if (e->last_now != 0) { /* nothing seen yet: nothing to carry over */
      SkewTransition *tr = g_new0(SkewTransition, 1);
      tr->cache = e->replay;
      tr->window = e->skew;
      tr->since = e->last_now;
      g_ptr_array_add(e->transitions, tr);
    } else {
      mikey_replay_cache_free(e->replay);
    }
    e->replay = mikey_replay_cache_new(skew, REPLAY_MAX_ENTRIES);
  }
  e->skew = skew;
}

/* The T window for a message: the configured skew, or a smaller earlier one during a
 * transition. Drops transitions that no longer matter. */
static guint skew_window(KmsEngine *e, guint64 t, guint64 now)
{
  guint window = e->skew;
  for (guint i = e->transitions->len; i-- > 0;) {
    SkewTransition *tr = g_ptr_array_index(e->transitions, i);
    /* Its cache entries expire by since + 2 old windows; a message with T < since + old fails
     * the current window after since + old + skew. */
    if (mikey_ntp_compare(now, tr->since, 2 * (gint64)tr->window + (gint64)e->skew) > 0) {
      g_ptr_array_remove_index(e->transitions, i);
      continue;
    }
    if (mikey_ntp_compare(t, tr->since, (gint64)tr->window) < 0)
      window = MIN(window, tr->window);
  }
  return window;
}

/* FALSE when msg was seen within its window: a replay. */
static gboolean replay_check(KmsEngine *e, GBytes *msg, guint64 t, guint64 now)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(msg, &len);
  gboolean fresh = mikey_replay_cache_check_and_add(e->replay, data, len, t, now);
  for (guint i = 0; i < e->transitions->len; i++) {
    SkewTransition *tr = g_ptr_array_index(e->transitions, i);
    if (!mikey_replay_cache_check_and_add(tr->cache, data, len, t, now))
      fresh = FALSE;
  }
  return fresh;
}

/* ------------------------------------------------------------------ one decision */

typedef struct {
  KmsEngine *e;
  GBytes *body;
  guint64 now;
  const char *peer;
  KmsRequestKind kind;
  MikeyHdr hdr; /* of the message: what an Error copies */
  gboolean have_hdr;
  MikeyKmsRequest req;
  gboolean have_req;
  gboolean authenticated; /* the MAC verified: an Error gets a V */
  KmsUser *user;

  /* the decision */
  guint status;
  int err_no;          /* ERR of the Error body; -1: empty body */
  const char *outcome; /* metrics label */
  char *text;          /* "refused ..." or "granted ..." for the log line */
  GBytes *answer;      /* a 200's body */
} Decision;

static void decision_clear(Decision *d)
{
  if (d->have_hdr)
    mikey_hdr_clear(&d->hdr);
  if (d->have_req)
    mikey_kms_request_clear(&d->req);
  g_clear_pointer(&d->user, kms_user_free);
  g_clear_pointer(&d->text, g_free);
  g_clear_pointer(&d->answer, g_bytes_unref);
}

/* A refusal with a MIKEY Error (err_no >= 0) or an empty body (err_no < 0). */
G_GNUC_PRINTF(5, 6)
static void refuse(Decision *d, guint status, int err_no, const char *outcome, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *why = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  d->status = status;
  d->err_no = err_no;
  d->outcome = outcome;
  g_free(d->text);
  if (err_no >= 0)
    d->text = g_strdup_printf("refused %u ERR %d (%s)%s: %s", status, err_no,
                              mikey_err_name((guint)err_no),
                              d->authenticated ? ", authenticated" : "", why);
  else
    d->text = g_strdup_printf("refused %u: %s", status, why);
}

/* A failure of this KMS (store, RNG): 500, empty body, nothing about the request is wrong. */
G_GNUC_PRINTF(2, 3)
static void internal_error(Decision *d, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *why = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  d->status = 500;
  d->err_no = -1;
  d->outcome = "internal";
  g_free(d->text);
  d->text = g_strdup_printf("failed 500 (internal error): %s", why);
}

/* The ERR code of a library GError (ERR 12 for a foreign domain). */
static int err_code(const GError *error)
{
  if (error == NULL || error->domain != MIKEY_ERROR || error->code < 0 || error->code > 15)
    return MIKEY_ERR_UNSPECIFIED;
  return error->code;
}

static const char *err_message(const GError *error)
{
  return error ? error->message : "(no reason given)";
}

/* Printable text of identity bytes for a log line (non-printable bytes as \xNN, cut). */
static char *id_text(GBytes *id)
{
  if (id == NULL)
    return g_strdup("(none)");
  gsize len;
  const guint8 *p = g_bytes_get_data(id, &len);
  GString *s = g_string_new(NULL);
  for (gsize i = 0; i < len && i < LOG_ID_MAX; i++) {
    if (g_ascii_isprint(p[i]) && p[i] != '\\' && p[i] != '"')
      g_string_append_c(s, (char)p[i]);
    else
      g_string_append_printf(s, "\\x%02x", p[i]);
  }
  if (len > LOG_ID_MAX)
    g_string_append(s, "...");
  return g_string_free(s, FALSE);
}

/* The bytes as a C string, or NULL when they hold a NUL byte (no faithful string). */
static char *id_string(GBytes *id)
{
  gsize len;
  const char *p = g_bytes_get_data(id, &len);
  if (len > 0 && memchr(p, 0, len) != NULL)
    return NULL;
  return g_strndup(len ? p : "", len);
}

static gboolean id_uri_equal(GBytes *id, const char *uri)
{
  gsize len;
  const char *p = g_bytes_get_data(id, &len);
  return uri != NULL && sip_uri_equal_len(p ? p : "", len, uri, strlen(uri));
}

/* The KMS identity (profile 1: "kms.example.org", not necessarily a SIP URI): byte-exact, or
 * URI-equal when both are URIs. */
static gboolean is_this_kms(KmsEngine *e, const char *data, gsize len)
{
  gsize own = strlen(e->kms_uri);
  if (len == own && memcmp(data, e->kms_uri, len) == 0)
    return TRUE;
  return sip_uri_equal_len(data, len, e->kms_uri, own);
}

static gboolean is_factory(KmsEngine *e, const char *uri)
{
  for (guint i = 0; e->factory_uris && e->factory_uris[i]; i++)
    if (sip_uri_match(e->factory_uris[i], uri))
      return TRUE;
  return FALSE;
}

static char *ntp_text(guint64 ntp)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(mikey_ntp_to_unix_sec(ntp));
  if (dt == NULL)
    return g_strdup_printf("NTP %016" G_GINT64_MODIFIER "x", ntp);
  return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

static guint64 ntp_add_sec(guint64 ntp, guint sec)
{
  return ntp + ((guint64)sec << 32);
}

/* |a - b| > 1 s */
static gboolean moved(guint64 a, guint64 b)
{
  return mikey_ntp_compare(a, b, 1) > 0 || mikey_ntp_compare(a, b, -1) < 0;
}

/* ------------------------------------------------------------------ structure (step 1) */

/* The header of a message whose data type the parser does not know: what an Error copies. */
static void hdr_from_raw(MikeyHdr *hdr, const guint8 *data)
{
  memset(hdr, 0, sizeof *hdr);
  hdr->version = data[0];
  hdr->data_type = data[1];
  hdr->v = (data[3] & 0x80) != 0;
  hdr->prf = data[3] & 0x7f;
  hdr->csb_id = (guint32)data[4] << 24 | (guint32)data[5] << 16 | (guint32)data[6] << 8 | data[7];
  hdr->map_type = MIKEY_MAP_EMPTY;
  hdr->cs = g_ptr_array_new_with_free_func((GDestroyNotify)mikey_cs_free);
}

/* The HTTP status of an ERR from a structural check: every one is 400 (profile 3). */
static int structural_err(const GError *error)
{
  int code = err_code(error);
  return code >= 1 && code <= 13 ? code : MIKEY_ERR_UNSPECIFIED;
}

static gboolean check_structure(Decision *d)
{
  gsize len = 0;
  const guint8 *data = d->body ? g_bytes_get_data(d->body, &len) : NULL;
  g_autoptr(GError) error = NULL;
  if (data == NULL)
    data = (const guint8 *)"";
  if (!mikey_hdr_peek(data, len, &d->hdr, &error)) {
    if (g_error_matches(error, MIKEY_ERROR, MIKEY_ERR_INVALID_DT) && len >= 10 &&
        data[0] == MIKEY_VERSION) {
      /* The header is there, only its data type is unknown: answer ERR 11. */
      hdr_from_raw(&d->hdr, data);
      d->have_hdr = TRUE;
      refuse(d, 400, MIKEY_ERR_INVALID_DT, "malformed", "%s", error->message);
      return FALSE;
    }
    refuse(d, 400, -1, "malformed", "not a MIKEY message (%" G_GSIZE_FORMAT " bytes): %s", len,
           error->message);
    return FALSE;
  }
  d->have_hdr = TRUE;
  guint dt = d->hdr.data_type;
  d->kind = dt == MIKEY_DT_REQUEST_INIT_PSK   ? KMS_REQ_REQUEST
            : dt == MIKEY_DT_RESOLVE_INIT_PSK ? KMS_REQ_RESOLVE
                                              : KMS_REQ_OTHER;
  if (dt == MIKEY_DT_ERROR) {
    refuse(d, 400, -1, "malformed",
           "a MIKEY Error message (never an Error in answer to an Error, RFC 3830 5.1.2)");
    return FALSE;
  }
  if (d->kind == KMS_REQ_OTHER) {
    refuse(d, 400, MIKEY_ERR_INVALID_DT, "malformed",
           "data type %u: the KMS takes REQUEST_INIT_PSK (11) and RESOLVE_INIT_PSK (16) only", dt);
    return FALSE;
  }
  if (!mikey_kms_request_parse(d->body, &d->req, &error)) {
    if (g_error_matches(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TS)) {
      /* mikey_kms_request_parse() refuses COUNTER timestamps after every structural check
       * but the suite one: a COUNTER message that also mixes suites is malformed (400), else
       * it fails the T check (403, profile 4). The parser's own ERR 1 (unknown timestamp
       * type) leaves no message: malformed. */
      g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(d->body, NULL);
      if (msg != NULL) {
        g_autoptr(GError) suite = NULL;
        if (!mikey_suite_check(msg, &suite))
          refuse(d, 400, structural_err(suite), "malformed", "%s", suite->message);
        else
          refuse(d, 403, MIKEY_ERR_INVALID_TS, "ts", "%s", error->message);
        return FALSE;
      }
    }
    refuse(d, 400, structural_err(error), "malformed", "%s", err_message(error));
    return FALSE;
  }
  d->have_req = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------ authentication (2-6) */

static gboolean check_requester(Decision *d)
{
  KmsEngine *e = d->e;
  MikeyKmsRequest *req = &d->req;
  g_autoptr(GError) error = NULL;

  /* 2. T window; COUNTER was refused in check_structure() */
  guint window = skew_window(e, req->t, d->now);
  if (!mikey_ntp_within(req->t, d->now, window)) {
    g_autofree char *t = ntp_text(req->t);
    g_autofree char *n = ntp_text(d->now);
    refuse(d, 403, MIKEY_ERR_INVALID_TS, "ts",
           "timestamp %s is outside the %u s window around now (%s)", t, window, n);
    return FALSE;
  }

  /* 3. the PSK, by IDRpsk (profile 2: the PSK ID identifies the requester) */
  if (req->psk_id == NULL) {
    refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "no IDRpsk: unknown PSK ID");
    return FALSE;
  }
  d->user = kms_store_user_by_psk_id(e->store, req->psk_id, &error);
  if (d->user == NULL) {
    if (error != NULL)
      internal_error(d, "user lookup: %s", error->message);
    else
      refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "unknown PSK ID");
    return FALSE;
  }
  if (d->user->psk == NULL) {
    internal_error(d, "the store gave %s without its PSK", d->user->identity);
    return FALSE;
  }

  /* 4. MAC over the message || identity || KMS identity */
  if (!mikey_kms_request_verify(req, d->user->psk, d->user->identity, e->kms_uri, &error)) {
    int code = err_code(error);
    if (code == MIKEY_ERR_AUTH_FAILURE)
      refuse(d, 403, code, "auth", "%s", error->message);
    else /* a V without a MAC algorithm and the like */
      refuse(d, 400, structural_err(error), "malformed", "%s", err_message(error));
    return FALSE;
  }
  d->authenticated = TRUE;

  /* 5. replay of an authenticated message */
  if (!replay_check(e, d->body, req->t, d->now)) {
    refuse(d, 403, MIKEY_ERR_INVALID_TS, "replay",
           "replay of a message already seen within the %u s window", e->skew);
    return FALSE;
  }

  /* 6. user state */
  if (d->user->disabled != 0) {
    refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "the user is disabled");
    return FALSE;
  }
  if (d->kind == KMS_REQ_REQUEST && req->id != NULL && !id_uri_equal(req->id, d->user->identity)) {
    g_autofree char *id = id_text(req->id);
    refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "IDRi \"%s\" is not the PSK's owner", id);
    return FALSE;
  }
  if (req->id_kms != NULL) {
    gsize len;
    const char *kms = g_bytes_get_data(req->id_kms, &len);
    if (!is_this_kms(e, kms ? kms : "", len)) {
      g_autofree char *id = id_text(req->id_kms);
      refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "IDRkms \"%s\" is not this KMS (%s)", id,
             e->kms_uri);
      return FALSE;
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------------ Ticket Request (7) */

/* What a requested TP asks for in keys: no KEMAC template means one TGK (profile 5). */
typedef struct {
  gboolean one_tgk; /* exactly what we grant: one TGK of the suite's length */
  gboolean has_tgk; /* for the flag rule "I and TGK => F" */
} KeyTemplate;

static KeyTemplate key_template(const MikeyTicketBody *tp, MikeyPrf prf)
{
  KeyTemplate kt = { TRUE, TRUE };
  const MikeyPayload *kemac = mikey_chain_find(tp->tp_data, MIKEY_PT_KEMAC, 0, 0);
  if (kemac == NULL)
    return kt;
  kt.one_tgk = FALSE;
  if (kemac->u.kemac.encr_alg != MIKEY_ENCR_NULL ||
      mikey_chain_find(tp->tp_data, MIKEY_PT_KEMAC, 0, 1) != NULL)
    return kt; /* unreadable or ambiguous: we grant one TGK all the same (K = 1) */
  gsize len;
  const guint8 *plain = g_bytes_get_data(kemac->u.kemac.encr_data, &len);
  g_autoptr(GPtrArray) kds = mikey_key_data_parse(plain ? plain : (const guint8 *)"", len, NULL);
  if (kds == NULL)
    return kt;
  kt.has_tgk = FALSE;
  for (guint i = 0; i < kds->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(kds, i);
    if (kd->type == MIKEY_KEY_TGK || kd->type == MIKEY_KEY_TGK_SALT)
      kt.has_tgk = TRUE;
  }
  if (kds->len == 1) {
    const MikeyKeyData *kd = g_ptr_array_index(kds, 0);
    gsize klen = kd->key ? kd->key->len : 0;
    kt.one_tgk = kd->type == MIKEY_KEY_TGK && (klen == 0 || klen == mikey_suite_key_len(prf));
  }
  return kt;
}

static MikeyKeyData *key_with_spi(MikeyKeyType type, const MikeySecret *key, const guint8 *spi)
{
  return mikey_key_data_new(type, key, spi, MIKEY_SPI_LEN);
}

/* The granted TICKET: policy of the spec, IDRapp payloads of the request passed through as
 * they were (any ID type) before the IDRr payloads (TP Data order, profile 5). */
static MikeyPayload *grant_ticket(const MikeyPolicySpec *grant, const MikeyTicketBody *asked,
                                  GError **error)
{
  g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(grant, MIKEY_PT_TICKET, error);
  if (ticket == NULL)
    return NULL;
  GPtrArray *tpd = ticket->u.ticket.tp_data;
  guint at = tpd->len;
  for (guint i = 0; i < tpd->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(tpd, i);
    if (p->type == MIKEY_PT_IDR && p->u.id.role == MIKEY_ID_ROLE_R) {
      at = i;
      break;
    }
  }
  for (guint i = 0; asked->tp_data && i < asked->tp_data->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(asked->tp_data, i);
    if (p->type != MIKEY_PT_IDR || p->u.id.role != MIKEY_ID_ROLE_APP)
      continue;
    MikeyPayload *copy = mikey_payload_dup(p, error);
    if (copy == NULL)
      return NULL;
    g_ptr_array_insert(tpd, (gint)at++, copy);
  }
  return g_steal_pointer(&ticket);
}

static void request_decide(Decision *d)
{
  KmsEngine *e = d->e;
  MikeyKmsRequest *req = &d->req;
  const MikeyTicketBody *tp = &req->tp->u.ticket;
  MikeyPrf prf = req->msg->hdr.prf; /* = the TP's PRF (mikey_suite_check) */
  g_autoptr(GError) error = NULL;

  if (!mikey_policy_check_type(tp, &error)) {
    refuse(d, 403, MIKEY_ERR_INVALID_TICKET, "ticket", "%s", error->message);
    return;
  }
  /* Recipients must be URIs: they are compared and matched as such (profile 1). */
  for (guint i = 0; i < mikey_chain_count(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R); i++) {
    const MikeyPayload *p = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i);
    g_autofree char *s = p->u.id.id_type == MIKEY_ID_URI ? id_string(p->u.id.data) : NULL;
    SipUri uri;
    if (s == NULL || !sip_uri_parse(s, strlen(s), &uri, NULL)) {
      g_autofree char *t = id_text(p->u.id.data);
      refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy",
             "recipient %u (\"%s\", ID type %u) is not a URI", i + 1, t, p->u.id.id_type);
      return;
    }
    sip_uri_clear(&uri);
  }
  MikeyPolicySpec asked = { 0 };
  if (!mikey_policy_spec_from_body(tp, &asked, &error)) {
    /* no IDRr, two TRs, a TRr that is not NTP-UTC-32, ... */
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy", "%s", error->message);
    return;
  }
  MikeyPolicySpec grant = { 0 };
  g_autoptr(MikeyPayload) ticket = NULL;
  g_autoptr(GPtrArray) sealed = NULL, keys = NULL;
  g_autoptr(MikeySecret) mpk = NULL, tgk = NULL, mpki = NULL, mpkr = NULL;
  g_autoptr(MikeySecret) tpk = NULL;
  g_autoptr(GBytes) tpk_id = NULL, rand = NULL, resp = NULL;
  g_autofree char *fingerprint = NULL;
  g_autoptr(GPtrArray) recipients = NULL;

  KeyTemplate kt = key_template(tp, prf);
  if (!mikey_policy_check_flags(tp->flags, kt.has_tgk, &error)) {
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy", "%s", error->message);
    goto out;
  }
  guint n = asked.idrr->len;
  if (n > e->max_recipients) {
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy", "%u recipients (at most %u)", n,
           e->max_recipients);
    goto out;
  }
  if (asked.idrkms != NULL && !is_this_kms(e, asked.idrkms, strlen(asked.idrkms))) {
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy",
           "the ticket policy names another KMS (\"%s\")", asked.idrkms);
    goto out;
  }
  if (!d->user->may_create) {
    for (guint i = 0; i < n; i++) {
      const char *r = g_ptr_array_index(asked.idrr, i);
      if (is_factory(e, r)) {
        refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy",
               "names the conference factory %s but may not create conferences", r);
        goto out;
      }
    }
  }
  if (asked.trs != 0 && asked.tre != 0 && mikey_ntp_compare(asked.tre, asked.trs, 0) <= 0) {
    g_autofree char *s = ntp_text(asked.trs);
    g_autofree char *t = ntp_text(asked.tre);
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy", "TRe %s is not after TRs %s", t, s);
    goto out;
  }

  /* The grant (profile 5). */
  guint64 now = d->now;
  guint64 trs = now;
  if (asked.trs != 0 && mikey_ntp_compare(asked.trs, now, -(gint64)e->skew) >= 0 &&
      mikey_ntp_compare(asked.trs, now, (gint64)e->lifetime) <= 0)
    trs = asked.trs;
  guint64 tre = ntp_add_sec(trs, e->lifetime);
  if (asked.tre != 0 && mikey_ntp_compare(asked.tre, tre, 0) < 0)
    tre = asked.tre;
  if (mikey_ntp_compare(tre, trs, 0) <= 0) {
    g_autofree char *s = ntp_text(trs);
    g_autofree char *t = ntp_text(tre);
    refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy",
           "TRe %s is not after the granted TRs %s (now, the requested TRs being out of range)", t,
           s);
    goto out;
  }
  guint16 flags = MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I |
                  MIKEY_TP_N | MIKEY_TP_O | (tp->flags & MIKEY_TP_J);
  gboolean differs = (tp->flags & 0x0fff & ~MIKEY_TP_K) != flags || asked.trs == 0 ||
                     asked.tre == 0 || moved(trs, asked.trs) || moved(tre, asked.tre) ||
                     !kt.one_tgk;
  if (differs)
    flags |= MIKEY_TP_K;

  grant.prf = prf;
  grant.flags = flags;
  grant.idrkms = g_strdup(e->kms_uri);
  grant.idri = g_strdup(d->user->identity); /* the authenticated requester, always */
  grant.trs = trs;
  grant.tre = tre;
  grant.tr_type = MIKEY_TS_NTP_UTC;
  grant.trr = asked.trr;
  grant.idrr = g_ptr_array_ref(asked.idrr);
  ticket = grant_ticket(&grant, tp, &error);
  if (ticket == NULL) {
    internal_error(d, "granted policy: %s", error->message);
    goto out;
  }

  /* Keys: fresh MPK and TGK with fresh SPIs, a 32-byte ticket RAND (profile 4, 5). */
  gsize klen = mikey_suite_key_len(prf);
  guint8 mpk_spi[MIKEY_SPI_LEN], tgk_spi[MIKEY_SPI_LEN], rand_buf[MIKEY_RAND_LEN];
  mpk = mikey_secret_new_random(klen, &error);
  if (mpk != NULL)
    tgk = mikey_secret_new_random(klen, &error);
  if (tgk == NULL || !mikey_random_bytes(mpk_spi, sizeof mpk_spi, &error) ||
      !mikey_random_bytes(rand_buf, sizeof rand_buf, &error)) {
    internal_error(d, "random keys: %s", err_message(error));
    goto out;
  }
  do {
    if (!mikey_random_bytes(tgk_spi, sizeof tgk_spi, &error)) {
      internal_error(d, "random keys: %s", error->message);
      goto out;
    }
  } while (memcmp(mpk_spi, tgk_spi, MIKEY_SPI_LEN) == 0);
  rand = g_bytes_new(rand_buf, sizeof rand_buf);

  if (!kms_store_tpk_current(e->store, &tpk_id, &tpk, &error)) {
    internal_error(d, "current TPK: %s", err_message(error));
    goto out;
  }
  sealed = mikey_key_data_list_new();
  g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_MPK, mpk, mpk_spi));
  g_ptr_array_add(sealed, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
  MikeyTicketSeal seal = { now, rand_buf, sizeof rand_buf, tpk, tpk_id, sealed };
  if (!mikey_ticket_seal(ticket, &seal, &error)) {
    internal_error(d, "sealing the ticket: %s", error->message);
    goto out;
  }
  mpki = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKI, rand, &error);
  if (mpki != NULL)
    mpkr = mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKR, rand, &error);
  if (mpkr == NULL) {
    internal_error(d, "MPKi/MPKr: %s", error->message);
    goto out;
  }
  /* KEMAC to the requester: MPKi, MPKr (I = 1 in every grant), TGK */
  keys = mikey_key_data_list_new();
  g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpki, mpk_spi));
  g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_MPK, mpkr, mpk_spi));
  g_ptr_array_add(keys, key_with_spi(MIKEY_KEY_TGK, tgk, tgk_spi));
  resp = mikey_request_resp_build(req, d->user->psk, now, e->kms_uri, ticket, keys, &error);
  if (resp == NULL) {
    internal_error(d, "REQUEST_RESP: %s", error->message);
    goto out;
  }

  /* The ticket log, before the answer leaves. */
  fingerprint = mikey_ticket_fingerprint(ticket);
  recipients = g_ptr_array_new();
  for (guint i = 0; i < n; i++)
    g_ptr_array_add(recipients, g_ptr_array_index(asked.idrr, i));
  g_ptr_array_add(recipients, NULL);
  if (fingerprint == NULL ||
      !kms_store_ticket_issued(e->store, fingerprint, d->user->identity,
                               (const char *const *)recipients->pdata, mikey_ntp_to_unix_sec(trs),
                               mikey_ntp_to_unix_sec(tre), &error)) {
    internal_error(d, "ticket log: %s", err_message(error));
    goto out;
  }
  kms_metrics_ticket_issued(e->metrics);

  d->status = 200;
  d->err_no = -1;
  d->outcome = "ok";
  d->answer = g_steal_pointer(&resp);
  {
    g_autofree char *s = ntp_text(trs);
    g_autofree char *t = ntp_text(tre);
    g_autofree char *f = mikey_policy_flags_to_string(flags);
    g_autofree char *names = g_strjoinv(" ", (char **)recipients->pdata);
    d->text = g_strdup_printf("granted ticket %s for %u recipient%s (%s), %s .. %s, PRF %u, "
                              "flags %s",
                              fingerprint, n, n == 1 ? "" : "s", names, s, t, (guint)prf, f);
  }

out:
  mikey_policy_spec_clear(&asked);
  mikey_policy_spec_clear(&grant);
}

/* ------------------------------------------------------------------ Ticket Resolve (7) */

static const MikeySecret *tpk_lookup(GBytes *tpk_id, gpointer user_data)
{
  return kms_store_tpk_lookup(user_data, tpk_id);
}

/* Whom a credential may resolve for: its own identity (RFC 6043 5.3: the authenticated
 * Responder named by the ticket) and the URIs its resolves-for patterns match (profile 1). */
static gboolean may_resolve_for(const KmsUser *user, const char *uri)
{
  if (sip_uri_equal(uri, user->identity))
    return TRUE;
  for (guint i = 0; user->resolves_for && user->resolves_for[i]; i++)
    if (sip_uri_match(user->resolves_for[i], uri))
      return TRUE;
  return FALSE;
}

static void resolve_decide(Decision *d)
{
  KmsEngine *e = d->e;
  MikeyKmsRequest *req = &d->req;
  const MikeyTicketBody *tp = &req->tp->u.ticket;
  g_autoptr(GError) error = NULL;
  MikeyOpenedTicket opened = { 0 };
  g_autoptr(GBytes) asked = NULL, resp = NULL;
  g_autofree char *asked_str = NULL, *fingerprint = NULL, *creator = NULL;

  /* The ticket itself: every problem is ERR 14 (profile 3). */
  if (!mikey_ticket_open(req->tp, tpk_lookup, e->store, &opened, &error)) {
    refuse(d, 403, MIKEY_ERR_INVALID_TICKET, "ticket", "%s", error->message);
    goto out;
  }
  if (!mikey_policy_check_validity(tp, d->now, e->skew, &error)) {
    refuse(d, 403, MIKEY_ERR_INVALID_TICKET, "ticket", "%s", error->message);
    goto out;
  }
  gboolean forking = (tp->flags & MIKEY_TP_I) != 0;
  if (forking && g_bytes_get_size(tp->initiator_data) == 0) {
    refuse(d, 403, MIKEY_ERR_INVALID_TICKET, "ticket",
           "the ticket forks keys (I = 1) but carries no Initiator Data");
    goto out;
  }

  /* Authorisation: the IDRr asked for (the resolver's own identity when absent, as the MAC
   * covered it) must be named by the ticket and be one the resolver may resolve for. */
  asked =
      req->id ? g_bytes_ref(req->id) : g_bytes_new(d->user->identity, strlen(d->user->identity));
  asked_str = id_string(asked);
  const MikeyPayload *match = NULL;
  guint n = mikey_chain_count(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint i = 0; asked_str && i < n && match == NULL; i++) {
    const MikeyPayload *p = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i);
    if (id_uri_equal(p->u.id.data, asked_str))
      match = p;
  }
  if (match == NULL) {
    g_autofree char *t = id_text(asked);
    refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "IDRr \"%s\" is not named by the ticket", t);
    goto out;
  }
  if (!may_resolve_for(d->user, asked_str)) {
    refuse(d, 403, MIKEY_ERR_INVALID_ID, "id", "may not resolve for %s (resolves-for)", asked_str);
    goto out;
  }

  /* A ticket naming a factory: its creator must still be allowed to create (profile 5). */
  gboolean names_factory = FALSE;
  for (guint i = 0; i < n && !names_factory; i++) {
    const MikeyPayload *p = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i);
    g_autofree char *r = id_string(p->u.id.data);
    if (r != NULL && is_factory(e, r))
      names_factory = TRUE;
  }
  if (names_factory) {
    const MikeyPayload *idri = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
    creator = idri ? id_string(idri->u.id.data) : NULL;
    g_autoptr(KmsUser) owner = NULL;
    if (creator != NULL) {
      owner = kms_store_user_by_identity(e->store, creator, FALSE, &error);
      if (owner == NULL && error != NULL &&
          !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
          !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)) {
        internal_error(d, "creator lookup: %s", error->message);
        goto out;
      }
      g_clear_error(&error);
    }
    if (owner == NULL || !owner->may_create || owner->disabled != 0) {
      g_autofree char *t = idri ? id_text(idri->u.id.data) : g_strdup("(none)");
      refuse(d, 403, MIKEY_ERR_INVALID_TPPAR, "policy",
             "the ticket names a conference factory and its creator %s %s", t,
             owner == NULL          ? "is no longer a user"
             : owner->disabled != 0 ? "is disabled"
                                    : "may no longer create conferences");
      goto out;
    }
  }

  /* Keys: MPKi, forked MPKr' and TGK' with a fresh RANDRkms (the Initiator Data's Vr is
   * verified on the way: ERR 0 when wrong). */
  guint8 randrkms[MIKEY_RAND_LEN];
  if (forking && !mikey_random_bytes(randrkms, sizeof randrkms, &error)) {
    internal_error(d, "RANDRkms: %s", error->message);
    goto out;
  }
  resp = mikey_kms_resolve_respond(req, d->user->psk, &opened, match->u.id.data,
                                   forking ? randrkms : NULL, forking ? sizeof randrkms : 0, d->now,
                                   e->kms_uri, &error);
  if (resp == NULL) {
    int code = err_code(error);
    switch (code) {
    case MIKEY_ERR_AUTH_FAILURE:
      refuse(d, 403, code, "auth", "Initiator Data: %s", error->message);
      break;
    case MIKEY_ERR_INVALID_TICKET:
      refuse(d, 403, code, "ticket", "%s", error->message);
      break;
    default:
      refuse(d, 400, structural_err(error), "malformed", "%s", err_message(error));
      break;
    }
    goto out;
  }

  fingerprint = mikey_ticket_fingerprint(req->tp);
  if (fingerprint != NULL)
    kms_store_ticket_resolved(e->store, fingerprint, d->user->identity);
  kms_metrics_ticket_resolved(e->metrics);
  d->status = 200;
  d->err_no = -1;
  d->outcome = "ok";
  d->answer = g_steal_pointer(&resp);
  {
    const MikeyPayload *idri = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
    g_autofree char *owner = idri ? id_text(idri->u.id.data) : g_strdup("(none)");
    g_autofree char *matched = id_text(match->u.id.data);
    d->text = g_strdup_printf("resolved ticket %s of %s for %s%s", fingerprint ? fingerprint : "?",
                              owner, matched, forking ? " (keys forked)" : "");
  }

out:
  mikey_opened_ticket_clear(&opened);
}

/* ------------------------------------------------------------------ the whole */

static char *who(const Decision *d)
{
  const char *peer = d->peer ? d->peer : "?";
  if (d->user != NULL) {
    g_autofree char *hex = log_hex(d->req.psk_id);
    return g_strdup_printf("%s (psk-id %s) at %s", d->user->identity, hex, peer);
  }
  if (d->have_req && d->req.psk_id != NULL) {
    g_autofree char *hex = log_hex(d->req.psk_id);
    return g_strdup_printf("psk-id %s at %s", hex, peer);
  }
  return g_strdup_printf("%s", peer);
}

static char *what(const Decision *d)
{
  switch (d->kind) {
  case KMS_REQ_REQUEST:
    return g_strdup("request");
  case KMS_REQ_RESOLVE:
    return g_strdup("resolve");
  case KMS_REQ_OTHER:
  default:
    return d->have_hdr ? g_strdup_printf("message (data type %u)", d->hdr.data_type)
                       : g_strdup("message");
  }
}

void kms_engine_handle(KmsEngine *e, GBytes *body, guint64 now, const char *peer, KmsAnswer *answer)
{
  g_return_if_fail(e != NULL && answer != NULL);
  gint64 start = g_get_monotonic_time();
  memset(answer, 0, sizeof *answer);
  if (e->last_now == 0 || mikey_ntp_compare(now, e->last_now, 0) > 0)
    e->last_now = now;
  Decision d = { 0 };
  d.e = e;
  d.body = body;
  d.now = now;
  d.peer = peer;
  d.kind = KMS_REQ_OTHER;
  d.err_no = -1;

  if (check_structure(&d) && check_requester(&d)) {
    if (d.kind == KMS_REQ_REQUEST)
      request_decide(&d);
    else
      resolve_decide(&d);
  }
  if (d.status == 0) /* every path decides; this is a net */
    internal_error(&d, "no decision");

  answer->status = d.status;
  if (d.status == 200) {
    answer->body = g_steal_pointer(&d.answer);
  } else if (d.err_no >= 0 && d.have_hdr) {
    /* V only once the MAC verified, keyed with the request's initial auth key (profile 3) */
    const MikeySecret *key = d.authenticated ? d.req.keys.auth : NULL;
    MikeyMacAlg alg = key ? mikey_suite_mac_alg(d.req.msg->hdr.prf) : MIKEY_MAC_NULL;
    g_autoptr(GError) error = NULL;
    answer->body = mikey_error_build(&d.hdr, now, (MikeyErrNo)d.err_no, key, alg, &error);
    if (answer->body == NULL)
      log_warning("KMS: building the Error (ERR %d) failed: %s", d.err_no, error->message);
  }

  g_autofree char *w = who(&d);
  g_autofree char *x = what(&d);
  answer->log_line = g_strdup_printf("%s from %s: %s", x, w, d.text);
  LogLevel level = d.status == 200   ? LOG_LEVEL_INFO
                   : d.status >= 500 ? LOG_LEVEL_ERROR
                                     : LOG_LEVEL_WARNING;
  log_write(level, "%s", answer->log_line);
  kms_metrics_count(e->metrics, d.kind, d.outcome,
                    (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
  decision_clear(&d);
}
