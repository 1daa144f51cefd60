/* Counters and a latency histogram of mikeykmsd for GET /metrics (profile 3), rendered in the
 * Prometheus text exposition format 0.0.4. Main-loop only: no locks. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency buckets, seconds (+Inf is implicit). */
static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1.0 };
/* The same as the "le" label values (written as people write them, not 0.00050000000000000001). */
static const char *const latency_labels[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                              "0.05",   "0.1",   "0.25",   "0.5",   "1" };
G_STATIC_ASSERT(G_N_ELEMENTS(latency_bounds) == G_N_ELEMENTS(latency_labels));
#define N_BOUNDS G_N_ELEMENTS(latency_bounds)

static const char *const kind_names[] = { "request", "resolve", "other" };

typedef struct {
  guint64 count[N_BOUNDS + 1]; /* per bucket (not cumulative); the last one is > 1 s */
  guint64 total;
  double sum;
} Histogram;

struct _KmsMetrics {
  /* "kind\x1foutcome" -> guint64* */
  GHashTable *requests;
  Histogram latency[G_N_ELEMENTS(kind_names)];
  guint64 tickets_issued;
  guint64 tickets_resolved;
};

KmsMetrics *kms_metrics_new(void)
{
  KmsMetrics *m = g_new0(KmsMetrics, 1);
  m->requests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return m;
}

void kms_metrics_free(KmsMetrics *m)
{
  if (m == NULL)
    return;
  g_hash_table_destroy(m->requests);
  g_free(m);
}

/* An outcome becomes a label value: only [a-z0-9_] survive, so a caller's typo cannot break
 * the exposition format. */
static char *label_value(const char *outcome)
{
  if (outcome == NULL || *outcome == '\0')
    return g_strdup("unknown");
  char *s = g_ascii_strdown(outcome, -1);
  for (char *p = s; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '_')
      *p = '_';
  return s;
}

void kms_metrics_count(KmsMetrics *m, KmsRequestKind kind, const char *outcome, double seconds)
{
  if (m == NULL)
    return;
  if ((guint)kind >= G_N_ELEMENTS(kind_names))
    kind = KMS_REQ_OTHER;
  g_autofree char *value = label_value(outcome);
  g_autofree char *key = g_strdup_printf("%s\x1f%s", kind_names[kind], value);
  guint64 *n = g_hash_table_lookup(m->requests, key);
  if (n == NULL) {
    n = g_new0(guint64, 1);
    g_hash_table_insert(m->requests, g_steal_pointer(&key), n);
  }
  (*n)++;

  if (!(seconds >= 0)) /* also NaN */
    seconds = 0;
  Histogram *h = &m->latency[kind];
  guint i = 0;
  while (i < N_BOUNDS && seconds > latency_bounds[i])
    i++;
  h->count[i]++;
  h->total++;
  h->sum += seconds;
}

void kms_metrics_ticket_issued(KmsMetrics *m)
{
  if (m)
    m->tickets_issued++;
}

void kms_metrics_ticket_resolved(KmsMetrics *m)
{
  if (m)
    m->tickets_resolved++;
}

static int compare_keys(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A float sample value, locale-independent. */
static void append_double(GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append(out, g_ascii_formatd(buf, sizeof buf, "%.9g", v));
}

char *kms_metrics_render(KmsMetrics *m, guint users)
{
  g_return_val_if_fail(m != NULL, NULL);
  GString *out = g_string_new(NULL);

  g_string_append(out, "# HELP mikeykmsd_requests_total MIKEY requests handled, by type and "
                       "outcome.\n"
                       "# TYPE mikeykmsd_requests_total counter\n");
  /* sorted, so the output is stable */
  g_autofree gpointer *keys = g_hash_table_get_keys_as_array(m->requests, NULL);
  guint n_keys = g_hash_table_size(m->requests);
  qsort(keys, n_keys, sizeof(gpointer), compare_keys);
  for (guint i = 0; i < n_keys; i++) {
    const char *key = keys[i];
    const char *sep = strchr(key, '\x1f');
    const guint64 *n = g_hash_table_lookup(m->requests, key);
    g_string_append_printf(
        out, "mikeykmsd_requests_total{type=\"%.*s\",outcome=\"%s\"} %" G_GUINT64_FORMAT "\n",
        (int)(sep - key), key, sep + 1, *n);
  }

  g_string_append(out, "# HELP mikeykmsd_request_duration_seconds Time to decide a MIKEY "
                       "request, by type.\n"
                       "# TYPE mikeykmsd_request_duration_seconds histogram\n");
  for (guint k = 0; k < G_N_ELEMENTS(kind_names); k++) {
    const Histogram *h = &m->latency[k];
    guint64 cumulative = 0;
    for (guint i = 0; i < N_BOUNDS; i++) {
      cumulative += h->count[i];
      g_string_append_printf(out,
                             "mikeykmsd_request_duration_seconds_bucket{type=\"%s\",le=\"%s\"} "
                             "%" G_GUINT64_FORMAT "\n",
                             kind_names[k], latency_labels[i], cumulative);
    }
    g_string_append_printf(out,
                           "mikeykmsd_request_duration_seconds_bucket{type=\"%s\",le=\"+Inf\"} "
                           "%" G_GUINT64_FORMAT "\n",
                           kind_names[k], h->total);
    g_string_append_printf(out, "mikeykmsd_request_duration_seconds_sum{type=\"%s\"} ",
                           kind_names[k]);
    append_double(out, h->sum);
    g_string_append_printf(out,
                           "\nmikeykmsd_request_duration_seconds_count{type=\"%s\"} "
                           "%" G_GUINT64_FORMAT "\n",
                           kind_names[k], h->total);
  }

  g_string_append_printf(out,
                         "# HELP mikeykmsd_tickets_issued_total Tickets issued (REQUEST_RESP).\n"
                         "# TYPE mikeykmsd_tickets_issued_total counter\n"
                         "mikeykmsd_tickets_issued_total %" G_GUINT64_FORMAT "\n"
                         "# HELP mikeykmsd_tickets_resolved_total Tickets resolved "
                         "(RESOLVE_RESP).\n"
                         "# TYPE mikeykmsd_tickets_resolved_total counter\n"
                         "mikeykmsd_tickets_resolved_total %" G_GUINT64_FORMAT "\n"
                         "# HELP mikeykmsd_users Users in the KMS store.\n"
                         "# TYPE mikeykmsd_users gauge\n"
                         "mikeykmsd_users %u\n",
                         m->tickets_issued, m->tickets_resolved, users);
  return g_string_free(out, FALSE);
}
