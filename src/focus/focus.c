/* mikeyconfd, the daemon object (focus.h). */
#include "focus.h"

#include "sip.h"

#include "common/log.h"
#include "common/sipuri.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define SWEEP_INTERVAL_MS 1000
#define REPLAY_CACHE_ENTRIES 200000
#define RATE_BUCKETS_MAX 65536
#define RATE_BUCKET_IDLE_USEC (10 * G_USEC_PER_SEC)
/* A burst of calls is over when no leg has ended for this long. */
#define TRIM_QUIET_USEC (2 * G_USEC_PER_SEC)
/* Sofia keeps an ended call's transactions for 64*T1 (32 s) to absorb retransmissions: their
 * memory comes free that much later. */
#define TRIM_LATE_USEC (34 * G_USEC_PER_SEC)
/* the newest conferences that fit in this many bytes of `list` (the control server drops a
 * client with more than FOCUS_CONTROL_MAX_QUEUED bytes unread) */
#define LIST_MAX_BYTES (FOCUS_CONTROL_MAX_QUEUED / 2)

typedef struct {
  double tokens;
  gint64 last; /* monotonic usec */
} RateBucket;

/* ------------------------------------------------------------------ rooms */

/* The rooms' list links are embedded (in the legs, in the room itself): never g_queue_clear()
 * such a queue, which would free them. */
static void room_free(gpointer p)
{
  g_free(p);
}

FocusRoom *focus_room(Focus *f, FocusConf *conf)
{
  FocusRoom *room = g_hash_table_lookup(f->rooms, conf);
  if (!room && conf->ended == 0) {
    room = g_new0(FocusRoom, 1);
    room->conf = conf;
    room->empty_link.data = room;
    room->empty_since = g_get_monotonic_time();
    g_queue_push_tail_link(&f->empty, &room->empty_link);
    g_hash_table_insert(f->rooms, conf, room);
  }
  return room;
}

static gboolean room_is_empty_listed(Focus *f, FocusRoom *room)
{
  return room->empty_link.prev || room->empty_link.next || f->empty.head == &room->empty_link;
}

void focus_room_add_leg(Focus *f, FocusConf *conf, FocusLeg *leg, GList *link)
{
  FocusRoom *room = focus_room(f, conf);
  if (!room)
    return;
  if (room_is_empty_listed(f, room))
    g_queue_unlink(&f->empty, &room->empty_link);
  link->data = leg;
  g_queue_push_tail_link(&room->legs, link);
}

void focus_room_remove_leg(Focus *f, FocusConf *conf, GList *link)
{
  FocusRoom *room = g_hash_table_lookup(f->rooms, conf);
  if (!room)
    return;
  g_queue_unlink(&room->legs, link);
  if (g_queue_is_empty(&room->legs) && !room_is_empty_listed(f, room)) {
    room->empty_since = g_get_monotonic_time();
    g_queue_push_tail_link(&f->empty, &room->empty_link);
  }
}

static void room_forget(Focus *f, FocusConf *conf)
{
  FocusRoom *room = g_hash_table_lookup(f->rooms, conf);
  if (!room)
    return;
  if (room_is_empty_listed(f, room))
    g_queue_unlink(&f->empty, &room->empty_link);
  g_hash_table_remove(f->rooms, conf);
}

static guint room_n_legs(Focus *f, FocusConf *conf)
{
  FocusRoom *room = g_hash_table_lookup(f->rooms, conf);
  return room ? g_queue_get_length(&room->legs) : 0;
}

/* The legs of conf (of one identity when not NULL), referenced by a new array. */
static GPtrArray *room_legs(Focus *f, FocusConf *conf, const char *identity)
{
  GPtrArray *out = g_ptr_array_new();
  FocusRoom *room = g_hash_table_lookup(f->rooms, conf);
  for (GList *l = room ? room->legs.head : NULL; l; l = l->next)
    if (!identity || sip_uri_equal(focus_leg_identity(l->data), identity))
      g_ptr_array_add(out, l->data);
  return out;
}

/* ------------------------------------------------------------------ audit */

static void count_decision(Focus *f, const char *decision)
{
  struct {
    const char *name;
    guint64 *counter;
  } map[] = { { "created", &f->n.created },         { "admitted", &f->n.admitted },
              { "refused", &f->n.refused },         { "rekeyed", &f->n.rekeyed },
              { "set-changed", &f->n.set_changes }, { "removed", &f->n.removed },
              { "kicked", &f->n.kicked },           { "ended", &f->n.ended } };
  for (guint i = 0; i < G_N_ELEMENTS(map); i++)
    if (strcmp(map[i].name, decision) == 0)
      (*map[i].counter)++;
}

/* The log line of a decision (never a key: only identities, URIs, codes and sentences). */
static void log_event(const FocusAuditEvent *ev)
{
  log_info("%s%s%s%s %s%s%s from %s: %s", ev->decision, ev->reason ? " (" : "",
           ev->reason ? ev->reason : "", ev->reason ? ")" : "",
           ev->conference ? ev->conference : "-", ev->identity ? " " : "",
           ev->identity ? ev->identity : "", ev->source ? ev->source : "-",
           ev->detail ? ev->detail : "");
}

static void publish(Focus *f, const FocusAuditEvent *ev)
{
  count_decision(f, ev->decision);
  log_event(ev);
  /* the JSON is for `events --follow` clients only */
  if (f->ctl && focus_control_n_followers(f->ctl) > 0) {
    g_autoptr(JsonNode) node = focus_control_event_json(ev);
    focus_control_publish_event(f->ctl, node);
  }
}

static void event_init(FocusAuditEvent *ev, const char *conference, const char *identity,
                       const char *source, const char *decision, const char *reason,
                       const char *detail)
{
  memset(ev, 0, sizeof *ev);
  ev->conference = g_strdup(conference);
  ev->identity = g_strdup(identity);
  ev->source = g_strdup(source);
  ev->decision = g_strdup(decision);
  ev->reason = g_strdup(reason);
  ev->detail = g_strdup(detail);
}

void focus_audit(Focus *f, const char *conference, const char *identity, const char *source,
                 const char *decision, const char *reason, const char *detail)
{
  FocusAuditEvent ev;
  event_init(&ev, conference, identity, source, decision, reason, detail);
  g_autoptr(GError) error = NULL;
  if (!focus_store_audit_add(f->store, &ev, &error)) {
    f->n.store_failures++;
    log_error("audit event not recorded: %s", error->message);
    count_decision(f, ev.decision);
    log_event(&ev);
  } else {
    publish(f, &ev);
  }
  focus_audit_event_clear(&ev);
}

int focus_store_error_status(const GError *error)
{
  return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) ||
                 g_error_matches(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY)
             ? 503
             : 500;
}

/* ------------------------------------------------------------------ conferences */

FocusConf *focus_create_conference(Focus *f, const char *uri, const char *owner, GPtrArray *allowed,
                                   const char *ticket_fp, const char *source, GError **error)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  FocusConf *conf = focus_conf_new(uri, owner, allowed, ticket_fp, now);
  g_autofree char *set = focus_conf_allowed_string(conf);
  g_autofree char *detail =
      g_strdup_printf("created by %s; allowed: %s; ticket %.16s", owner, set, ticket_fp);
  FocusAuditEvent ev;
  event_init(&ev, conf->uri, owner, source, "created", "created", detail);
  if (!focus_store_conf_create(f->store, conf, &ev, error)) {
    focus_audit_event_clear(&ev);
    focus_conf_free(conf);
    return NULL;
  }
  focus_registry_add(f->reg, conf);
  focus_room(f, conf);
  publish(f, &ev);
  focus_audit_event_clear(&ev);
  return conf;
}

gboolean focus_change_allowed(Focus *f, FocusConf *conf, GPtrArray *allowed, GPtrArray *removed,
                              const char *identity, const char *source, const char *detail,
                              GError **error)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(FocusConf) next = focus_conf_new(conf->uri, conf->owner, allowed, NULL, now);
  g_autofree char *set = focus_conf_allowed_string(next);
  g_autofree char *d = g_strdup_printf("%s; allowed: %s", detail, set);
  FocusAuditEvent ev;
  event_init(&ev, conf->uri, identity, source, "set-changed", "owner-new-ticket", d);
  if (!focus_store_conf_set_allowed(f->store, conf->uri, next->allowed, now, &ev, error)) {
    focus_audit_event_clear(&ev);
    return FALSE;
  }
  /* installed only once committed */
  GPtrArray *old = conf->allowed;
  conf->allowed = g_ptr_array_ref(next->allowed);
  g_ptr_array_unref(old);
  conf->updated = now;
  publish(f, &ev);
  focus_audit_event_clear(&ev);
  for (guint i = 0; removed && i < removed->len; i++) {
    const char *who = g_ptr_array_index(removed, i);
    g_autoptr(GPtrArray) legs = room_legs(f, conf, who);
    for (guint j = 0; j < legs->len; j++)
      focus_leg_bye(g_ptr_array_index(legs, j), 403, "removed from the allowed set");
    g_autofree char *rd =
        g_strdup_printf("%s left the allowed set; %u leg(s) sent BYE", who, legs->len);
    focus_audit(f, conf->uri, who, source, "removed", "left-allowed-set", rd);
  }
  return TRUE;
}

/* Ends a live conference: record, BYE to every leg, out of the rooms. */
static gboolean end_conference(Focus *f, FocusConf *conf, const char *source, const char *reason,
                               const char *detail, GError **error)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  FocusAuditEvent ev;
  event_init(&ev, conf->uri, NULL, source, "ended", reason, detail);
  if (!focus_store_conf_end(f->store, conf->uri, now, &ev, error)) {
    focus_audit_event_clear(&ev);
    return FALSE;
  }
  conf->ended = now;
  conf->updated = now;
  publish(f, &ev);
  focus_audit_event_clear(&ev);
  g_autoptr(GPtrArray) legs = room_legs(f, conf, NULL);
  for (guint i = 0; i < legs->len; i++)
    focus_leg_bye(g_ptr_array_index(legs, i), 410, "the conference has ended");
  room_forget(f, conf);
  return TRUE;
}

/* ------------------------------------------------------------------ rate limit, timers */

gboolean focus_rate_allow(Focus *f, const char *source_ip)
{
  gint rate = f->cfg->rate_limit;
  if (rate <= 0)
    return TRUE;
  gint64 now = g_get_monotonic_time();
  RateBucket *b = g_hash_table_lookup(f->sources, source_ip);
  if (!b) {
    if (g_hash_table_size(f->sources) >= RATE_BUCKETS_MAX)
      return FALSE; /* too many sources at once: a flood */
    b = g_new0(RateBucket, 1);
    b->tokens = rate;
    b->last = now;
    g_hash_table_insert(f->sources, g_strdup(source_ip), b);
  }
  b->tokens = MIN((double)rate, b->tokens + (double)(now - b->last) * rate / G_USEC_PER_SEC);
  b->last = now;
  if (b->tokens < 1.0)
    return FALSE;
  b->tokens -= 1.0;
  return TRUE;
}

static gboolean bucket_idle(gpointer key, gpointer value, gpointer data)
{
  RateBucket *b = value;
  return *(gint64 *)data - b->last > RATE_BUCKET_IDLE_USEC;
}

void focus_count_setup(Focus *f, gint64 usec)
{
  f->n.setup_ms[f->n.setup_next] = (double)usec / 1000.0;
  f->n.setup_next = (f->n.setup_next + 1) % G_N_ELEMENTS(f->n.setup_ms);
  f->n.n_setup = MIN(f->n.n_setup + 1, G_N_ELEMENTS(f->n.setup_ms));
}

void focus_note_leg_end(Focus *f)
{
  f->ends_since_trim++;
  f->last_end = g_get_monotonic_time();
}

/* glibc keeps what a burst of calls freed (their legs, messages, TLS records) in its heap, and
 * the long-lived records made during the burst keep most of those pages from the top of the
 * heap, where glibc would return them by itself. malloc_trim() hands every wholly free page
 * back to the kernel. It runs once a burst is over and once more when Sofia has dropped the
 * burst's last transactions, never during steady traffic (where the pages are reused anyway):
 * on a heap of tens of MB it takes a few ms, some 20 ms the first time. */
static void trim_heap(Focus *f, gint64 now)
{
  gboolean due = FALSE;
  if (f->ends_since_trim > 0 && now - f->last_end >= TRIM_QUIET_USEC) {
    log_debug("a burst of %u leg(s) is over: giving freed memory back", f->ends_since_trim);
    f->ends_since_trim = 0;
    f->late_trim_at = f->last_end + TRIM_LATE_USEC;
    due = TRUE;
  } else if (f->late_trim_at && now >= f->late_trim_at && f->ends_since_trim == 0) {
    f->late_trim_at = 0;
    due = TRUE;
  }
#if defined(__GLIBC__)
  if (due) {
    malloc_trim(0);
    log_debug("freed heap given back in %.1f ms", (double)(g_get_monotonic_time() - now) / 1000.0);
  }
#else
  (void)due; /* other C libraries: nothing to call */
#endif
}

static gboolean on_sweep(gpointer data)
{
  Focus *f = data;
  gint64 now = g_get_monotonic_time();
  trim_heap(f, now);
  g_hash_table_foreach_remove(f->sources, bucket_idle, &now);
  gint timeout = f->cfg->empty_timeout;
  if (timeout <= 0 || f->stopping)
    return G_SOURCE_CONTINUE;
  /* the queue is in order of empty_since: only its head can be due */
  while (!g_queue_is_empty(&f->empty)) {
    FocusRoom *room = g_queue_peek_head(&f->empty);
    if (now - room->empty_since < (gint64)timeout * G_USEC_PER_SEC)
      break;
    g_autoptr(GError) error = NULL;
    g_autofree char *detail = g_strdup_printf("no participant for %d s (empty-timeout)", timeout);
    if (!end_conference(f, room->conf, "focus", "empty-timeout", detail, &error)) {
      f->n.store_failures++;
      log_error("cannot end %s after empty-timeout: %s; trying again later", room->conf->uri,
                error->message);
      g_queue_unlink(&f->empty, &room->empty_link);
      room->empty_since = now;
      g_queue_push_tail_link(&f->empty, &room->empty_link);
      break;
    }
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ control */

static JsonNode *object_node(JsonObject *o)
{
  JsonNode *node = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(node, o);
  return node;
}

static FocusConf *control_conf(Focus *f, JsonObject *req, GError **error)
{
  const char *uri = json_object_get_string_member_with_default(req, "conference", NULL);
  FocusConf *conf = uri ? focus_registry_lookup(f->reg, uri) : NULL;
  if (!conf)
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND, "unknown conference %s",
                uri ? uri : "(none)");
  return conf;
}

static char *control_source(JsonObject *req)
{
  const char *peer = json_object_get_string_member_with_default(req, "peer", NULL);
  return g_strdup_printf("control%s%s", peer ? " " : "", peer ? peer : "");
}

static JsonNode *conf_entry(Focus *f, FocusConf *conf)
{
  JsonNode *n = focus_control_conf_json(conf);
  json_object_set_int_member(json_node_get_object(n), "participants", room_n_legs(f, conf));
  return n;
}

static void add_latency(JsonObject *o, const char *name, const double *samples, guint n)
{
  JsonObject *lat = json_object_new();
  json_object_set_int_member(lat, "samples", n);
  if (n) {
    g_autofree double *v = g_memdup2(samples, sizeof(double) * n);
    for (guint i = 1; i < n; i++) /* insertion sort: n <= 1024 */
      for (guint j = i; j > 0 && v[j - 1] > v[j]; j--) {
        double t = v[j];
        v[j] = v[j - 1];
        v[j - 1] = t;
      }
    const char *names[] = { "p50", "p90", "p99", "max" };
    const double ps[] = { 50, 90, 99, 100 };
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
      guint rank = CLAMP((guint)ceil(ps[i] / 100.0 * n), 1, n);
      json_object_set_double_member(lat, names[i], round(v[rank - 1] * 1000.0) / 1000.0);
    }
  }
  json_object_set_object_member(o, name, lat);
}

static JsonNode *control_stats(Focus *f, GError **error)
{
  FocusStoreCounts counts = { 0 };
  if (!focus_store_counts(f->store, &counts, error))
    return NULL;
  JsonObject *st = json_object_new();
  JsonObject *c = json_object_new();
  json_object_set_int_member(c, "live", counts.live);
  json_object_set_int_member(c, "ended", counts.ended);
  json_object_set_int_member(c, "total", counts.conferences);
  json_object_set_int_member(c, "created_since_start", (gint64)f->n.created);
  json_object_set_object_member(st, "conferences", c);
  guint legs = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, f->rooms);
  while (g_hash_table_iter_next(&it, &k, &v))
    legs += g_queue_get_length(&((FocusRoom *)v)->legs);
  json_object_set_int_member(st, "participants", legs);
  json_object_set_int_member(st, "sip_legs", f->sip ? focus_sip_n_legs(f->sip) : 0);
  json_object_set_member(st, "resolves", focus_resolver_stats_json(f->resolver));
  add_latency(st, "setup_ms", f->n.setup_ms, f->n.n_setup);
  JsonObject *dec = json_object_new();
  struct {
    const char *name;
    guint64 value;
  } d[] = { { "created", f->n.created },
            { "admitted", f->n.admitted },
            { "refused", f->n.refused },
            { "rekeyed", f->n.rekeyed },
            { "set_changed", f->n.set_changes },
            { "removed", f->n.removed },
            { "kicked", f->n.kicked },
            { "ended", f->n.ended },
            { "rate_limited", f->n.rate_limited },
            { "busy", f->n.busy },
            { "store_failures", f->n.store_failures } };
  for (guint i = 0; i < G_N_ELEMENTS(d); i++)
    json_object_set_int_member(dec, d[i].name, (gint64)d[i].value);
  json_object_set_object_member(st, "since_start", dec);
  JsonObject *sip = json_object_new();
  struct {
    const char *name;
    guint64 value;
  } s[] = { { "invites", f->n.invites },
            { "reinvites", f->n.reinvites },
            { "updates", f->n.updates },
            { "byes", f->n.byes },
            { "cancels", f->n.cancels },
            { "options", f->n.options },
            { "rejected_methods", f->n.rejected_methods } };
  for (guint i = 0; i < G_N_ELEMENTS(s); i++)
    json_object_set_int_member(sip, s[i].name, (gint64)s[i].value);
  json_object_set_object_member(st, "sip", sip);
  /* refusals by reason, from the audit log (all time) */
  JsonObject *ref = json_object_new();
  JsonObject *all = json_object_new();
  for (guint i = 0; counts.by_reason && i < counts.by_reason->len; i++) {
    FocusAuditCount *ac = g_ptr_array_index(counts.by_reason, i);
    if (strcmp(ac->decision, "refused") == 0)
      json_object_set_int_member(ref, ac->reason[0] ? ac->reason : "unspecified", ac->count);
    g_autofree char *key = g_strdup_printf("%s/%s", ac->decision, ac->reason);
    json_object_set_int_member(all, key, ac->count);
  }
  json_object_set_object_member(st, "refusals", ref);
  json_object_set_object_member(st, "decisions", all);
  json_object_set_int_member(st, "audit_events", counts.events);
  json_object_set_int_member(st, "replay_cache", mikey_replay_cache_size(f->replay));
  FocusMediaStats ms;
  focus_media_get_stats(f->media, &ms);
  json_object_set_member(st, "media", focus_media_stats_json(&ms));
  focus_store_counts_clear(&counts);
  JsonObject *o = json_object_new();
  json_object_set_object_member(o, "stats", st);
  return object_node(o);
}

static JsonNode *control_handle(const char *cmd, JsonObject *req, GError **error, gpointer data)
{
  Focus *f = data;
  if (strcmp(cmd, "list") == 0) {
    /* One answer line must stay under the control server's per-client bound: past
     * LIST_MAX_BYTES the oldest conferences are left out ("truncated", "total" say so). */
    GList *list = focus_registry_list(f->reg);
    GQueue entries = G_QUEUE_INIT;
    gsize bytes = 0;
    guint total = 0;
    for (GList *l = g_list_last(list); l; l = l->prev, total++) {
      if (bytes >= LIST_MAX_BYTES)
        continue;
      JsonNode *e = conf_entry(f, l->data);
      g_autofree char *text = json_to_string(e, FALSE);
      bytes += strlen(text) + 1;
      g_queue_push_head(&entries, e);
    }
    g_list_free(list);
    JsonArray *arr = json_array_new();
    while (!g_queue_is_empty(&entries))
      json_array_add_element(arr, g_queue_pop_head(&entries));
    JsonObject *o = json_object_new();
    if (json_array_get_length(arr) < total) {
      json_object_set_boolean_member(o, "truncated", TRUE);
      json_object_set_int_member(o, "total", total);
    }
    json_object_set_array_member(o, "conferences", arr);
    return object_node(o);
  }
  if (strcmp(cmd, "stats") == 0)
    return control_stats(f, error);
  if (strcmp(cmd, "events") == 0) {
    gint64 after = json_object_get_int_member_with_default(req, "after", 0);
    gint64 limit = json_object_get_int_member_with_default(req, "limit", 0);
    const char *conf = json_object_get_string_member_with_default(req, "conference", NULL);
    g_autoptr(GPtrArray) evs =
        focus_store_audit_list(f->store, after, (guint)CLAMP(limit, 0, G_MAXUINT), conf, error);
    if (!evs)
      return NULL;
    JsonArray *arr = json_array_new();
    for (guint i = 0; i < evs->len; i++)
      json_array_add_element(arr, focus_control_event_json(g_ptr_array_index(evs, i)));
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "events", arr);
    return object_node(o);
  }
  FocusConf *conf = control_conf(f, req, error);
  if (!conf)
    return NULL;
  JsonObject *o = json_object_new();
  if (strcmp(cmd, "show") == 0) {
    JsonNode *cj = conf_entry(f, conf);
    JsonArray *parts = json_array_new();
    g_autoptr(GPtrArray) legs = room_legs(f, conf, NULL);
    for (guint i = 0; i < legs->len; i++)
      json_array_add_element(parts, focus_leg_json(g_ptr_array_index(legs, i)));
    json_object_set_array_member(json_node_get_object(cj), "participants", parts);
    json_object_set_member(o, "conference", cj);
  } else if (strcmp(cmd, "allowed") == 0) {
    g_autoptr(JsonNode) cj = focus_control_conf_json(conf);
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_member(
        o, "allowed", json_node_copy(json_object_get_member(json_node_get_object(cj), "allowed")));
  } else if (strcmp(cmd, "kick") == 0) {
    const char *who = json_object_get_string_member_with_default(req, "identity", NULL);
    g_autoptr(GPtrArray) legs = who ? room_legs(f, conf, who) : g_ptr_array_new();
    if (legs->len == 0) {
      g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_NOT_FOUND,
                  "%s is not connected to %s", who ? who : "(nobody)", conf->uri);
      json_object_unref(o);
      return NULL;
    }
    g_autofree char *source = control_source(req);
    g_autofree char *detail = g_strdup_printf(
        "%u leg(s) sent BYE by the operator; the allowed set is unchanged", legs->len);
    focus_audit(f, conf->uri, who, source, "kicked", "operator", detail);
    for (guint i = 0; i < legs->len; i++)
      focus_leg_bye(g_ptr_array_index(legs, i), 403, "disconnected by the operator");
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_string_member(o, "identity", who);
    json_object_set_int_member(o, "legs", legs->len);
  } else if (strcmp(cmd, "end") == 0) {
    if (conf->ended) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "conference %s has already ended",
                  conf->uri);
      json_object_unref(o);
      return NULL;
    }
    g_autofree char *source = control_source(req);
    guint n = room_n_legs(f, conf);
    g_autofree char *detail = g_strdup_printf("ended by the operator; %u leg(s) sent BYE", n);
    if (!end_conference(f, conf, source, "operator", detail, error)) {
      json_object_unref(o);
      return NULL;
    }
    json_object_set_string_member(o, "conference", conf->uri);
    json_object_set_int_member(o, "ended", conf->ended);
  } else {
    g_set_error(error, FOCUS_CONTROL_ERROR, FOCUS_CONTROL_ERROR_UNKNOWN_COMMAND,
                "unknown command %s", cmd);
    json_object_unref(o);
    return NULL;
  }
  return object_node(o);
}

/* ------------------------------------------------------------------ life */

static void identities_set(Focus *f)
{
  FocusConfig *cfg = f->cfg;
  focus_identities_clear(&f->ids);
  g_autofree char *host =
      cfg->host && cfg->host[0]
          ? g_strdup(cfg->host)
          : focus_listen_uri_host(cfg->listens[0].ip, cfg->listens[0].port || !f->sip
                                                          ? cfg->listens[0].port
                                                          : focus_sip_port(f->sip));
  f->ids.conf_host = g_strdup(host);
  f->ids.conf_scheme = g_strdup("sip");
  f->ids.factory_uri = cfg->factory_uri && cfg->factory_uri[0]
                           ? g_strdup(cfg->factory_uri)
                           : g_strdup_printf("sip:conference-factory@%s", host);
  f->ids.focus_identity = g_strdup(f->cred.identity);
  f->ids.creators = g_strdupv(cfg->creators);
  g_free(f->warn_agent);
  f->warn_agent = g_strdup(host);
}

/* Every participant holds two UDP sockets (RTP, RTCP) while its call lasts, and a call's
 * sockets are closed by the media worker a moment after its BYE: at 1,000 calls/s of 1 s that
 * is 2,000-3,000 descriptors, and the soft limit a service manager gives by default is 1024
 * (the media engine then refuses legs: 503 "no media resources"). The soft limit goes up to
 * the hard one: GLib, Sofia (on the GLib loop) and libsoup poll(); nothing here uses
 * select(), which could not take descriptors past 1023. */
static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
    return;
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
    log_info("file descriptor limit raised from %llu to %llu", (unsigned long long)was,
             (unsigned long long)rl.rlim_cur);
}

Focus *focus_new(FocusConfig *cfg, const ConfOption *options, const char *config_path,
                 GError **error)
{
  Focus *f = g_new0(Focus, 1);
  f->cfg = cfg;
  f->options = options;
  f->config_path = g_strdup(config_path);
  f->rooms = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, room_free);
  g_queue_init(&f->empty);
  f->sources = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (!credential_load(cfg->credential, &f->cred, error))
    goto fail;
  identities_set(f);
  f->store = focus_store_open(cfg->state_dir, error);
  if (!f->store)
    goto fail;
  f->reg = focus_registry_new();
  gint n = focus_store_load(f->store, f->reg, error);
  if (n < 0)
    goto fail;
  /* 7.4: every live conference is back, with no participant yet */
  GList *list = focus_registry_list(f->reg);
  guint live = 0;
  for (GList *l = list; l; l = l->next)
    if (((FocusConf *)l->data)->ended == 0 && focus_room(f, l->data))
      live++;
  g_list_free(list);
  log_info("records: %s, %d conference(s), %u live", focus_store_path(f->store), n, live);

  raise_fd_limit();
  FocusMediaConfig mc = { .n_workers = (guint)cfg->media_workers,
                          .port_min = (guint16)cfg->rtp_port_min,
                          .port_max = (guint16)cfg->rtp_port_max,
                          .bind_address = cfg->sdp_address };
  f->media = focus_media_new(&mc, error);
  if (!f->media)
    goto fail;
  f->resolver = focus_resolver_new(&f->cred, (guint)cfg->kms_timeout * 1000,
                                   (guint)cfg->max_resolves, cfg->insecure_http, error);
  if (!f->resolver)
    goto fail;
  if (g_str_has_prefix(f->cred.kms_url, "http:"))
    log_warning("INSECURE: the KMS URL %s is plain http: tickets are resolved without TLS "
                "(tests and demos only, profile 3)",
                f->cred.kms_url);
  f->replay = mikey_replay_cache_new((guint)cfg->skew, REPLAY_CACHE_ENTRIES);
  f->ctl = focus_control_new(cfg->control_socket, control_handle, f, error);
  if (!f->ctl)
    goto fail;
  f->sip = focus_sip_new(f, cfg, error);
  if (!f->sip)
    goto fail;
  identities_set(f); /* the bound port, when 0 was asked */
  f->sweep_timer = g_timeout_add(SWEEP_INTERVAL_MS, on_sweep, f);
  log_info("factory %s, conferences sip:conf-*@%s, focus %s, KMS %s, control %s",
           f->ids.factory_uri, f->ids.conf_host, f->cred.identity, f->cred.kms_url,
           cfg->control_socket);
  return f;

fail:
  focus_free(f);
  return NULL;
}

void focus_free(Focus *f)
{
  if (!f)
    return;
  if (f->sweep_timer)
    g_source_remove(f->sweep_timer);
  focus_sip_free(f->sip);
  f->sip = NULL;
  focus_control_free(f->ctl);
  f->ctl = NULL;
  focus_resolver_free(f->resolver);
  /* let the cancelled resolves and libsoup's sources finish */
  for (int i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++)
    ;
  focus_media_free(f->media);
  g_queue_init(&f->empty); /* embedded links of the rooms, freed with them */
  g_hash_table_unref(f->rooms);
  focus_registry_free(f->reg);
  focus_store_free(f->store);
  if (f->replay)
    mikey_replay_cache_free(f->replay);
  g_hash_table_unref(f->sources);
  focus_identities_clear(&f->ids);
  credential_clear(&f->cred);
  g_free(f->warn_agent);
  g_free(f->config_path);
  g_free(f);
}

typedef struct {
  Focus *f;
  GSourceFunc done;
  gpointer data;
  gint64 deadline;
} StopWait;

static gboolean on_stop_poll(gpointer p)
{
  StopWait *w = p;
  if (focus_sip_n_legs(w->f->sip) > 0 && g_get_monotonic_time() < w->deadline)
    return G_SOURCE_CONTINUE;
  if (focus_sip_n_legs(w->f->sip) > 0)
    log_warning("%u leg(s) did not answer the BYE in time", focus_sip_n_legs(w->f->sip));
  w->done(w->data);
  return G_SOURCE_REMOVE;
}

void focus_stop(Focus *f, guint timeout_ms, GSourceFunc done, gpointer data)
{
  f->stopping = TRUE;
  guint n = focus_sip_bye_all(f->sip);
  log_info("stopping: BYE to %u participant(s)", n);
  StopWait *w = g_new0(StopWait, 1);
  w->f = f;
  w->done = done;
  w->data = data;
  w->deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  g_timeout_add_full(G_PRIORITY_DEFAULT, 20, on_stop_poll, w, g_free);
}

gboolean focus_reload(Focus *f, GError **error)
{
  if (!f->config_path) {
    log_info("SIGHUP: no config file to reload");
    return TRUE;
  }
  if (!conf_reload(f->options, "mikeyconfd", f->config_path, error) ||
      !focus_config_finish(f->cfg, error))
    return FALSE;
  g_autoptr(GError) local = NULL;
  if (!log_set_level_name(f->cfg->log_level, &local))
    log_warning("reload: %s", local->message);
  focus_resolver_set_limits(f->resolver, (guint)f->cfg->kms_timeout * 1000,
                            (guint)f->cfg->max_resolves);
  g_strfreev(f->ids.creators);
  f->ids.creators = g_strdupv(f->cfg->creators);
  log_info("reloaded %s (sip-listen, host, factory-uri, credential, state-dir, control-socket "
           "and the media settings need a restart)",
           f->config_path);
  return TRUE;
}
