/* Ticket Resolve for the focus (resolve.h). */
#include "resolve.h"

#include "common/kmsclient.h"
#include "common/log.h"
#include "mikey/ntp.h"

#include <math.h>
#include <string.h>

#define LATENCY_SAMPLES 4096

struct _FocusResolver {
  KmsClient *kms;
  Credential cred; /* a copy: identity, kms-uri, PSK ID, PSK */
  guint timeout_ms;
  guint max_in_flight;
  guint in_flight;
  guint max_seen;
  GQueue pending; /* Pending* in flight */
  /* counters */
  guint64 started, busy, by_status[FOCUS_RESOLVE_CANCELLED + 1];
  double latency_ms[LATENCY_SAMPLES];
  guint n_latency, latency_next;
};

typedef struct {
  FocusResolver *r; /* NULL once the resolver is gone */
  GList link;       /* in r->pending */
  GBytes *resolve_init;
  GCancellable *cancel; /* what the KMS client sees: the caller's, the timer or the end */
  GCancellable *caller;
  gulong caller_handler;
  guint timer;
  gboolean timed_out;
  FocusResolveFunc func;
  gpointer user_data;
  gint64 t0;
} Pending;

const char *focus_resolve_status_name(FocusResolveStatus status)
{
  static const char *const names[] = { "ok", "refused", "bad-ticket", "unavailable", "cancelled" };
  return (guint)status < G_N_ELEMENTS(names) ? names[status] : "?";
}

void focus_resolve_result_clear(FocusResolveResult *r)
{
  mikey_resolved_keys_clear(&r->keys);
  g_clear_pointer(&r->detail, g_free);
}

static void credential_copy(Credential *dst, const Credential *src)
{
  memset(dst, 0, sizeof *dst);
  dst->identity = g_strdup(src->identity);
  dst->kms_uri = g_strdup(src->kms_uri);
  dst->kms_url = g_strdup(src->kms_url);
  dst->kms_ca = g_strdup(src->kms_ca);
  dst->psk_id = src->psk_id ? g_bytes_ref(src->psk_id) : NULL;
  dst->psk = src->psk ? mikey_secret_dup(src->psk) : NULL;
}

FocusResolver *focus_resolver_new(const Credential *cred, guint timeout_ms, guint max_in_flight,
                                  gboolean allow_insecure, GError **error)
{
  /* the timeout is ours (per resolve, changeable on SIGHUP): the client gets none */
  KmsClient *kms = kms_client_new(cred->kms_url, cred->kms_ca, allow_insecure, 0, error);
  if (!kms)
    return NULL;
  FocusResolver *r = g_new0(FocusResolver, 1);
  r->kms = kms;
  credential_copy(&r->cred, cred);
  r->timeout_ms = timeout_ms;
  r->max_in_flight = max_in_flight ? max_in_flight : 1;
  g_queue_init(&r->pending);
  return r;
}

void focus_resolver_free(FocusResolver *r)
{
  if (!r)
    return;
  /* Pending resolves are cancelled: their callbacks run later (CANCELLED) without r. */
  while (!g_queue_is_empty(&r->pending)) {
    Pending *p = g_queue_pop_head(&r->pending);
    p->r = NULL;
    if (p->timer) {
      g_source_remove(p->timer);
      p->timer = 0;
    }
    g_cancellable_cancel(p->cancel);
  }
  kms_client_free(r->kms);
  credential_clear(&r->cred);
  g_free(r);
}

void focus_resolver_set_limits(FocusResolver *r, guint timeout_ms, guint max_in_flight)
{
  r->timeout_ms = timeout_ms;
  r->max_in_flight = max_in_flight ? max_in_flight : 1;
}

guint focus_resolver_in_flight(const FocusResolver *r)
{
  return r->in_flight;
}

static void on_cancelled(GCancellable *c, gpointer data)
{
  g_cancellable_cancel(G_CANCELLABLE(data));
}

static gboolean on_timeout(gpointer data)
{
  Pending *p = data;
  p->timer = 0;
  p->timed_out = TRUE;
  g_cancellable_cancel(p->cancel);
  return G_SOURCE_REMOVE;
}

static void pending_free(Pending *p)
{
  if (p->caller) {
    g_cancellable_disconnect(p->caller, p->caller_handler);
    g_object_unref(p->caller);
  }
  if (p->timer)
    g_source_remove(p->timer);
  if (p->r)
    g_queue_unlink(&p->r->pending, &p->link);
  g_object_unref(p->cancel);
  g_bytes_unref(p->resolve_init);
  g_free(p);
}

/* The MIKEY Error in a refusal, if the KMS sent one: its ERR number, else -1. */
static int error_number(GBytes *body, char **text)
{
  *text = NULL;
  if (!body)
    return -1;
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(body, NULL);
  if (!msg)
    return -1;
  g_autoptr(GError) error = NULL;
  if (mikey_reply_check_error(msg, "the KMS", &error))
    return -1;
  *text = g_strdup(error->message);
  return error->code;
}

static void on_answer(GObject *source, GAsyncResult *res, gpointer data)
{
  Pending *p = data;
  FocusResolver *r = p->r;
  FocusResolveResult result = { 0 };
  result.mikey_err = -1;
  result.usec = g_get_monotonic_time() - p->t0;
  g_autoptr(GError) error = NULL;
  guint status = 0;
  /* the client is only used for argument checks here; the task carries everything */
  g_autoptr(GBytes) body = kms_client_post_finish(r ? r->kms : NULL, res, &status, &error);
  result.http_status = status;
  gboolean cancelled = !p->timed_out && (g_cancellable_is_cancelled(p->cancel) ||
                                         g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  if (!r && !cancelled) {
    cancelled = TRUE;
  }
  if (cancelled) {
    result.status = FOCUS_RESOLVE_CANCELLED;
    result.detail = g_strdup("cancelled");
  } else if (p->timed_out) {
    result.status = FOCUS_RESOLVE_UNAVAILABLE;
    result.detail = g_strdup_printf("no answer from the KMS within %u ms", r->timeout_ms);
  } else if (error) {
    result.status = FOCUS_RESOLVE_UNAVAILABLE;
    result.detail = g_strdup_printf("the KMS did not answer: %s", error->message);
  } else if (status == 200) {
    if (mikey_resolve_resp_open(body, p->resolve_init, r->cred.psk, &result.keys, &error)) {
      result.status = FOCUS_RESOLVE_OK;
      result.detail = g_strdup("resolved");
    } else {
      result.status = FOCUS_RESOLVE_UNAVAILABLE;
      result.detail = g_strdup_printf("the KMS's RESOLVE_RESP does not verify: %s", error->message);
    }
  } else {
    g_autofree char *text = NULL;
    result.mikey_err = error_number(body, &text);
    if (status == 403) {
      result.status = FOCUS_RESOLVE_REFUSED;
      result.detail = text ? g_strdup(text) : g_strdup("the KMS refused the ticket (HTTP 403)");
    } else if (status == 400) {
      result.status = FOCUS_RESOLVE_BAD_TICKET;
      result.detail = text ? g_strdup(text)
                           : g_strdup("the KMS found the resolve request malformed (HTTP 400)");
    } else {
      result.status = FOCUS_RESOLVE_UNAVAILABLE;
      result.detail = g_strdup_printf("the KMS answered HTTP %u", status);
    }
  }
  if (r) {
    r->in_flight--;
    r->by_status[result.status]++;
    if (result.status != FOCUS_RESOLVE_CANCELLED) {
      r->latency_ms[r->latency_next] = (double)result.usec / 1000.0;
      r->latency_next = (r->latency_next + 1) % LATENCY_SAMPLES;
      r->n_latency = MIN(r->n_latency + 1, LATENCY_SAMPLES);
    }
  }
  FocusResolveFunc func = p->func;
  gpointer user_data = p->user_data;
  pending_free(p);
  func(&result, user_data);
}

gboolean focus_resolver_start(FocusResolver *r, const MikeyTransferInitView *view, const char *idrr,
                              GCancellable *cancellable, FocusResolveFunc func, gpointer user_data)
{
  if (r->in_flight >= r->max_in_flight) {
    r->busy++;
    return FALSE;
  }
  guint8 randrr[MIKEY_RAND_LEN];
  guint32 csb_id = 0;
  g_autoptr(GError) error = NULL;
  if (!mikey_random_bytes(randrr, sizeof randrr, &error) ||
      !mikey_random_bytes((guint8 *)&csb_id, sizeof csb_id, &error)) {
    log_error("resolve: no random bytes: %s", error->message);
    return FALSE;
  }
  MikeyResolveInitParams rp = { .prf = view->msg->hdr.prf,
                                .csb_id = csb_id,
                                .t = mikey_ntp_now(),
                                .randrr = randrr,
                                .randrr_len = sizeof randrr,
                                .idrr = idrr,
                                .idrkms = r->cred.kms_uri,
                                .ticket = view->ticket,
                                .psk_id = r->cred.psk_id,
                                .psk = r->cred.psk };
  GBytes *ri = mikey_resolve_init_build(&rp, &error);
  if (!ri) {
    log_error("resolve: cannot build RESOLVE_INIT: %s", error->message);
    return FALSE;
  }
  Pending *p = g_new0(Pending, 1);
  p->r = r;
  p->resolve_init = ri;
  p->cancel = g_cancellable_new();
  p->func = func;
  p->user_data = user_data;
  p->t0 = g_get_monotonic_time();
  if (cancellable) {
    p->caller = g_object_ref(cancellable);
    p->caller_handler =
        g_cancellable_connect(cancellable, G_CALLBACK(on_cancelled), p->cancel, NULL);
  }
  p->link.data = p;
  g_queue_push_tail_link(&r->pending, &p->link);
  if (r->timeout_ms)
    p->timer = g_timeout_add(r->timeout_ms, on_timeout, p);
  r->in_flight++;
  r->max_seen = MAX(r->max_seen, r->in_flight);
  r->started++;
  kms_client_post_async(r->kms, ri, p->cancel, on_answer, p);
  return TRUE;
}

static int dbl_cmp(gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

JsonNode *focus_resolver_stats_json(const FocusResolver *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
#define MEMBER_INT(name, value)                                                                    \
  do {                                                                                             \
    json_builder_set_member_name(b, name);                                                         \
    json_builder_add_int_value(b, (gint64)(value));                                                \
  } while (0)
  MEMBER_INT("started", r->started);
  MEMBER_INT("ok", r->by_status[FOCUS_RESOLVE_OK]);
  MEMBER_INT("refused", r->by_status[FOCUS_RESOLVE_REFUSED]);
  MEMBER_INT("bad_ticket", r->by_status[FOCUS_RESOLVE_BAD_TICKET]);
  MEMBER_INT("unavailable", r->by_status[FOCUS_RESOLVE_UNAVAILABLE]);
  MEMBER_INT("cancelled", r->by_status[FOCUS_RESOLVE_CANCELLED]);
  MEMBER_INT("busy", r->busy);
  MEMBER_INT("in_flight", r->in_flight);
  MEMBER_INT("max_in_flight", r->max_seen);
  MEMBER_INT("limit_in_flight", r->max_in_flight);
  MEMBER_INT("timeout_ms", r->timeout_ms);
#undef MEMBER_INT
  json_builder_set_member_name(b, "latency_ms");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "samples");
  json_builder_add_int_value(b, r->n_latency);
  if (r->n_latency) {
    g_autofree double *v = g_memdup2(r->latency_ms, sizeof(double) * r->n_latency);
    qsort(v, r->n_latency, sizeof(double), (int (*)(const void *, const void *))dbl_cmp);
    const char *names[] = { "p50", "p90", "p99", "max" };
    const double ps[] = { 50, 90, 99, 100 };
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
      guint rank = (guint)ceil(ps[i] / 100.0 * r->n_latency);
      rank = CLAMP(rank, 1, r->n_latency);
      json_builder_set_member_name(b, names[i]);
      json_builder_add_double_value(b, round(v[rank - 1] * 1000.0) / 1000.0);
    }
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}
