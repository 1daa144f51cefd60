/* mikeyua load (load.h). */
#include "load.h"

#include "call.h"
#include "ua.h"

#include "common/log.h"

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ credentials */

static void credential_free(gpointer p)
{
  credential_clear(p);
  g_free(p);
}

static gint str_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *ua_load_credentials(const char *spec, GError **error)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  if (g_file_test(spec, G_FILE_TEST_IS_DIR)) {
    g_autoptr(GDir) dir = g_dir_open(spec, 0, error);
    if (!dir)
      return NULL;
    const char *name;
    while ((name = g_dir_read_name(dir)))
      if (g_str_has_suffix(name, ".cred"))
        g_ptr_array_add(paths, g_build_filename(spec, name, NULL));
    g_ptr_array_sort(paths, str_cmp);
  } else if (strstr(spec, "%d")) {
    const char *at = strstr(spec, "%d");
    if (strchr(spec, '%') != at || strchr(at + 1, '%')) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "%s: a pattern has exactly one %%d and no other %%", spec);
      return NULL;
    }
    g_autofree char *head = g_strndup(spec, (gsize)(at - spec));
    for (guint i = 1; i < 1000000; i++) {
      char *path = g_strdup_printf("%s%u%s", head, i, at + 2);
      if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_free(path);
        break;
      }
      g_ptr_array_add(paths, path);
    }
  } else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s: neither a directory nor a pattern with %%d", spec);
    return NULL;
  }
  if (paths->len == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no credential files", spec);
    return NULL;
  }
  GPtrArray *creds = g_ptr_array_new_with_free_func(credential_free);
  for (guint i = 0; i < paths->len; i++) {
    Credential *c = g_new0(Credential, 1);
    if (!credential_load(paths->pdata[i], c, error)) {
      g_free(c);
      g_ptr_array_unref(creds);
      return NULL;
    }
    g_ptr_array_add(creds, c);
  }
  return creds;
}

/* ------------------------------------------------------------------ the run */

typedef struct _Load Load;

typedef struct {
  Load *load;
  guint conf;       /* conference index */
  gboolean creator; /* the conference's creation leg */
  const Credential *cred;
  UaCall *call;
  guint hangup_timer;
  gboolean started, ended;
} Leg;

typedef struct {
  Leg *creator;
  GPtrArray *participants; /* Leg* */
  guint ended;             /* participant legs ended */
  char **recipients;
} Conf;

struct _Load {
  const UaOptions *opts;
  const Credential *creator;
  GPtrArray *creds;
  UaServices sv;
  GMainLoop *loop;
  Conf *confs;
  guint n_confs;
  GQueue ready; /* Leg* that may start */
  guint started, total, ended;
  guint launched; /* calls started through the rate limiter */
  guint rate_timer;
  gint64 t0; /* the rate limiter's schedule origin (moves while nothing is ready) */
  gint64 started_at;
  gboolean stopping;
  /* results */
  GArray *setup_ms, *invite_ms; /* double */
  GHashTable *failures;         /* "403 Forbidden" -> count */
  UaMediaStats media;
  guint ok;
};

static void leg_state(UaCall *call, UaCallState state, gpointer data);

static void count_failure(Load *l, const char *what)
{
  guint n = GPOINTER_TO_UINT(g_hash_table_lookup(l->failures, what));
  g_hash_table_replace(l->failures, g_strdup(what), GUINT_TO_POINTER(n + 1));
}

static gboolean on_leg_hangup(gpointer data)
{
  Leg *leg = data;
  leg->hangup_timer = 0;
  ua_call_hangup(leg->call);
  return G_SOURCE_REMOVE;
}

static void start_leg(Load *l, Leg *leg, const char *target)
{
  const UaOptions *o = l->opts;
  Conf *c = &l->confs[leg->conf];
  const char *recip_conf[] = { target, NULL };
  UaCallConfig cc = {
    .sip = l->sv.sip,
    .kms = l->sv.kms,
    .clock = l->sv.clock,
    .cred = leg->cred,
    .mode = leg->creator ? "load-create" : "load-join",
    .target = target,
    .recipients = leg->creator ? (const char *const *)c->recipients : recip_conf,
    .media = { .bind_ip = o->sip_host,
               .audio = o->audio_kind,
               .tone_hz = o->tone_hz,
               .wav = l->sv.wav,
               .wav_len = l->sv.wav_len,
               .cname = leg->cred->identity },
    .sdp_addr = l->sv.sdp_addr,
    .codec_pt = o->codec_pt,
    .policies = o->policies,
    .n_policies = o->n_policies,
    .timeout_ms = (guint)o->timeout * 1000,
    .key_log = o->key_log,
    .on_state = leg_state,
    .user_data = leg,
  };
  leg->call = ua_call_new(&cc);
  leg->started = TRUE;
  l->started++;
  ua_call_start(leg->call);
}

static void maybe_finish(Load *l)
{
  if (l->ended == l->total ||
      (l->stopping && l->ended == l->started && g_queue_is_empty(&l->ready)))
    g_main_loop_quit(l->loop);
}

static void leg_ended(Load *l, Leg *leg)
{
  if (leg->ended)
    return;
  leg->ended = TRUE;
  l->ended++;
  UaReport *r = ua_call_report(leg->call);
  if (r->have_media) {
    l->media.sent += r->media.sent;
    l->media.received += r->media.received;
    l->media.decrypt_failed += r->media.decrypt_failed;
    l->media.rtcp_sent += r->media.rtcp_sent;
    l->media.rtcp_received += r->media.rtcp_received;
    l->media.lost += r->media.lost;
  }
  if (r->error) {
    g_autofree char *what = g_strdup_printf("%s: %s", r->error_step, r->error);
    count_failure(l, what);
  } else if (r->status >= 300) {
    g_autofree char *what = g_strdup_printf("%d %s", r->status, r->reason ? r->reason : "");
    count_failure(l, what);
  } else if (strcmp(r->ended_by, "them") == 0) {
    g_autofree char *what = g_strdup_printf("BYE from the focus (cause %d)", r->bye_cause);
    count_failure(l, what);
  } else if (r->status == 200) {
    l->ok++;
  }
  Conf *c = &l->confs[leg->conf];
  if (!leg->creator) {
    c->ended++;
    if (c->ended == c->participants->len && c->creator->call)
      ua_call_hangup(c->creator->call); /* everyone left: the creator goes too */
  } else if (ua_call_setup_usec(leg->call) < 0) {
    /* no conference: its participants cannot join */
    for (guint i = 0; i < c->participants->len; i++) {
      Leg *p = c->participants->pdata[i];
      if (!p->started) {
        p->started = p->ended = TRUE;
        l->started++;
        l->ended++;
        count_failure(l, "not started: the conference was not created");
      }
    }
  }
  maybe_finish(l);
}

static void leg_state(UaCall *call, UaCallState state, gpointer data)
{
  Leg *leg = data;
  Load *l = leg->load;
  if (state == UA_CALL_ESTABLISHED) {
    g_array_append_val(l->setup_ms, (double){ ua_call_setup_usec(call) / 1000.0 });
    g_array_append_val(l->invite_ms, (double){ ua_call_invite_usec(call) / 1000.0 });
    if (l->stopping) {
      ua_call_hangup(call);
      return;
    }
    if (leg->creator) {
      Conf *c = &l->confs[leg->conf];
      for (guint i = 0; i < c->participants->len; i++)
        g_queue_push_tail(&l->ready, c->participants->pdata[i]);
      if (c->participants->len == 0)
        leg->hangup_timer = g_timeout_add_seconds((guint)l->opts->call_length, on_leg_hangup, leg);
    } else {
      leg->hangup_timer = g_timeout_add_seconds((guint)l->opts->call_length, on_leg_hangup, leg);
    }
  } else if (state == UA_CALL_ENDED) {
    leg_ended(l, leg);
  }
}

static gboolean on_rate(gpointer data)
{
  Load *l = data;
  if (l->stopping)
    return G_SOURCE_CONTINUE;
  double elapsed = (double)(g_get_monotonic_time() - l->t0) / G_USEC_PER_SEC;
  guint due = (guint)(elapsed * l->opts->join_rate_per_s) + 1;
  while (l->launched < due && !g_queue_is_empty(&l->ready)) {
    Leg *leg = g_queue_pop_head(&l->ready);
    Conf *c = &l->confs[leg->conf];
    const char *target = leg->creator ? l->opts->target : ua_call_conference_uri(c->creator->call);
    start_leg(l, leg, target);
    l->launched++;
  }
  if (l->launched >= due)
    return G_SOURCE_CONTINUE;
  /* nothing ready: the schedule does not run ahead while conferences are being created */
  l->t0 = g_get_monotonic_time() - (gint64)((double)l->launched / l->opts->join_rate_per_s * 1e6);
  return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data)
{
  Load *l = data;
  if (l->stopping) {
    g_main_loop_quit(l->loop);
    return G_SOURCE_CONTINUE;
  }
  log_warning("signal: hanging up every call");
  l->stopping = TRUE;
  while (!g_queue_is_empty(&l->ready)) {
    Leg *leg = g_queue_pop_head(&l->ready);
    leg->started = leg->ended = TRUE;
    l->started++;
    l->ended++;
  }
  for (guint i = 0; i < l->n_confs; i++) {
    Conf *c = &l->confs[i];
    if (c->creator->call)
      ua_call_hangup(c->creator->call);
    for (guint j = 0; j < c->participants->len; j++) {
      Leg *p = c->participants->pdata[j];
      if (p->call)
        ua_call_hangup(p->call);
    }
  }
  maybe_finish(l);
  return G_SOURCE_CONTINUE;
}

static gint dbl_cmp(gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(GArray *sorted, double p)
{
  if (sorted->len == 0)
    return NAN;
  guint rank = (guint)ceil(p / 100.0 * sorted->len);
  rank = CLAMP(rank, 1, sorted->len);
  return g_array_index(sorted, double, rank - 1);
}

static void add_latency(JsonBuilder *b, const char *name, GArray *v)
{
  json_builder_set_member_name(b, name);
  json_builder_begin_object(b);
  const char *keys[] = { "p50", "p90", "p99", "max" };
  double ps[] = { 50, 90, 99, 100 };
  for (guint i = 0; i < 4; i++) {
    json_builder_set_member_name(b, keys[i]);
    if (v->len)
      json_builder_add_double_value(b, percentile(v, ps[i]));
    else
      json_builder_add_null_value(b);
  }
  json_builder_end_object(b);
}

static void print_summary(Load *l, double seconds)
{
  const UaOptions *o = l->opts;
  g_array_sort(l->setup_ms, dbl_cmp);
  g_array_sort(l->invite_ms, dbl_cmp);
  g_autoptr(GList) keys = g_hash_table_get_keys(l->failures);
  keys = g_list_sort(keys, (GCompareFunc)strcmp);
  guint failed = l->total - l->ok;
  if (o->json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "mode");
    json_builder_add_string_value(b, "load");
    json_builder_set_member_name(b, "conferences");
    json_builder_add_int_value(b, l->n_confs);
    json_builder_set_member_name(b, "participants_per_conference");
    json_builder_add_int_value(b, o->participants);
    json_builder_set_member_name(b, "calls");
    json_builder_add_int_value(b, l->total);
    json_builder_set_member_name(b, "ok");
    json_builder_add_int_value(b, l->ok);
    json_builder_set_member_name(b, "failed");
    json_builder_add_int_value(b, failed);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_double_value(b, seconds);
    add_latency(b, "setup_ms", l->setup_ms);
    add_latency(b, "invite_ms", l->invite_ms);
    json_builder_set_member_name(b, "failures");
    json_builder_begin_object(b);
    for (GList *k = keys; k; k = k->next) {
      json_builder_set_member_name(b, k->data);
      json_builder_add_int_value(b, GPOINTER_TO_UINT(g_hash_table_lookup(l->failures, k->data)));
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "media");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sent");
    json_builder_add_int_value(b, (gint64)l->media.sent);
    json_builder_set_member_name(b, "received");
    json_builder_add_int_value(b, (gint64)l->media.received);
    json_builder_set_member_name(b, "decrypt_failed");
    json_builder_add_int_value(b, (gint64)l->media.decrypt_failed);
    json_builder_set_member_name(b, "lost");
    json_builder_add_int_value(b, l->media.lost);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_pretty(g, TRUE);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    g_autofree char *text = json_generator_to_data(g, NULL);
    printf("%s\n", text);
    return;
  }
  printf("mikeyua load: %u conferences x %d participants = %u calls, join rate %.1f/s, "
         "%.1f s\n",
         l->n_confs, o->participants, l->total, o->join_rate_per_s, seconds);
  printf("  set up and ended: %u ok, %u failed\n", l->ok, failed);
  if (l->setup_ms->len)
    printf("  setup (ticket + INVITE to verified 200): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
           "max %.1f ms\n",
           percentile(l->setup_ms, 50), percentile(l->setup_ms, 90), percentile(l->setup_ms, 99),
           percentile(l->setup_ms, 100));
  if (l->invite_ms->len)
    printf("  INVITE to verified 200:                p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
           "max %.1f ms\n",
           percentile(l->invite_ms, 50), percentile(l->invite_ms, 90), percentile(l->invite_ms, 99),
           percentile(l->invite_ms, 100));
  for (GList *k = keys; k; k = k->next)
    printf("  failed: %u x %s\n", GPOINTER_TO_UINT(g_hash_table_lookup(l->failures, k->data)),
           (const char *)k->data);
  printf("  media: sent %" G_GUINT64_FORMAT ", received %" G_GUINT64_FORMAT
         ", failed to decrypt %" G_GUINT64_FORMAT ", lost %" G_GINT64_FORMAT "\n",
         l->media.sent, l->media.received, l->media.decrypt_failed, l->media.lost);
}

int ua_load_run(const UaOptions *o, const Credential *creator)
{
  g_autoptr(GError) error = NULL;
  Load l = { 0 };
  l.opts = o;
  l.creator = creator;
  if (o->participants > 0) {
    l.creds = ua_load_credentials(o->participant_credentials, &error);
    if (!l.creds) {
      g_printerr("mikeyua: load: %s\n", error->message);
      return 2;
    }
  }
  if (!ua_services_init(&l.sv, o, creator, &error)) {
    g_printerr("mikeyua: load: %s\n", error->message);
    ua_services_clear(&l.sv);
    if (l.creds)
      g_ptr_array_unref(l.creds);
    return 2;
  }
  l.loop = g_main_loop_new(NULL, FALSE);
  l.setup_ms = g_array_new(FALSE, FALSE, sizeof(double));
  l.invite_ms = g_array_new(FALSE, FALSE, sizeof(double));
  l.failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  l.n_confs = (guint)o->conferences;
  l.confs = g_new0(Conf, l.n_confs);
  guint next_cred = 0;
  for (guint i = 0; i < l.n_confs; i++) {
    Conf *c = &l.confs[i];
    c->participants = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *r = g_ptr_array_new();
    g_ptr_array_add(r, g_strdup(o->target));
    for (gint j = 0; j < o->participants; j++) {
      Leg *p = g_new0(Leg, 1);
      p->load = &l;
      p->conf = i;
      /* one credential per participant while they last, then round again (the focus allows
       * several legs per identity) */
      p->cred = l.creds->pdata[next_cred++ % l.creds->len];
      g_ptr_array_add(c->participants, p);
      gboolean dup = FALSE;
      for (guint k = 1; k < r->len; k++)
        dup |= strcmp(r->pdata[k], p->cred->identity) == 0;
      if (!dup)
        g_ptr_array_add(r, g_strdup(p->cred->identity));
    }
    g_ptr_array_add(r, NULL);
    c->recipients = (char **)g_ptr_array_free(r, FALSE);
    c->creator = g_new0(Leg, 1);
    c->creator->load = &l;
    c->creator->conf = i;
    c->creator->creator = TRUE;
    c->creator->cred = creator;
    g_queue_push_tail(&l.ready, c->creator);
    l.total += 1 + c->participants->len;
  }
  guint sigint = g_unix_signal_add(SIGINT, on_signal, &l);
  guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &l);
  l.t0 = l.started_at = g_get_monotonic_time();
  guint interval = (guint)CLAMP(1000.0 / o->join_rate_per_s, 1, 100);
  l.rate_timer = g_timeout_add(interval, on_rate, &l);
  on_rate(&l);
  g_main_loop_run(l.loop);
  double seconds = (double)(g_get_monotonic_time() - l.started_at) / G_USEC_PER_SEC;
  g_source_remove(l.rate_timer);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  print_summary(&l, seconds);
  int status = l.ok == l.total ? 0 : 1;

  for (guint i = 0; i < l.n_confs; i++) {
    Conf *c = &l.confs[i];
    for (guint j = 0; j < c->participants->len; j++) {
      Leg *p = c->participants->pdata[j];
      if (p->hangup_timer)
        g_source_remove(p->hangup_timer);
      ua_call_free(p->call);
    }
    if (c->creator->hangup_timer)
      g_source_remove(c->creator->hangup_timer);
    ua_call_free(c->creator->call);
    g_free(c->creator);
    g_ptr_array_unref(c->participants);
    g_strfreev(c->recipients);
  }
  g_free(l.confs);
  g_queue_clear(&l.ready);
  ua_services_clear(&l.sv);
  g_array_unref(l.setup_ms);
  g_array_unref(l.invite_ms);
  g_hash_table_unref(l.failures);
  if (l.creds)
    g_ptr_array_unref(l.creds);
  g_main_loop_unref(l.loop);
  return status;
}
