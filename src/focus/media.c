/* The media engine's main-thread side: port pairs, conference pinning, validation of keys and
 * parameters, the command queue to the workers, statistics snapshots; see media.h. */
#include "media.h"

#include "focus/medialeg.h"
#include "focus/mediaworker.h"

#include "common/g711.h"

#include <errno.h>
#include <gio/gio.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DSCP_EF 0xB8 /* Expedited Forwarding in the TOS/traffic class byte */

typedef struct {
  char *name;
  guint worker;
  GPtrArray *legs; /* MLeg*, in the order added (not owned) */
} MConf;

typedef struct {
  guint64 id;
  MConf *conf;
  char *label;
  guint worker;
  MediaLegShared *shared;
  guint16 rtp_port;
  guint pair;
  gboolean has_keys;
  SrtpCtxPolicy in_policy, out_policy;
} MLeg;

struct _FocusMedia {
  guint n_workers;
  MediaWorker *workers[FOCUS_MEDIA_MAX_WORKERS];
  guint worker_legs[FOCUS_MEDIA_MAX_WORKERS];
  struct sockaddr_storage bind_addr;
  socklen_t bind_len;
  guint16 port_min, port_max; /* port_min is even */
  guint n_pairs;
  guint8 *pair_used;
  guint pair_cursor;
  guint pairs_in_use;
  GHashTable *confs; /* name -> MConf* */
  GHashTable *legs;  /* &id -> MLeg* */
  guint64 next_id;
};

/* ------------------------------------------------------------------ names */

const char *focus_media_policy_name(SrtpCtxPolicy policy)
{
  switch (policy) {
  case SRTPCTX_AEAD_AES_128_GCM:
    return "AEAD_AES_128_GCM";
  case SRTPCTX_AES_CM_128_HMAC_SHA1_80:
    return "AES_CM_128_HMAC_SHA1_80";
  }
  return "?";
}

const char *focus_media_codec_name(guint8 pt)
{
  return pt == G711_PT_PCMU ? "PCMU" : pt == G711_PT_PCMA ? "PCMA" : "?";
}

/* ------------------------------------------------------------------ addresses */

static gboolean parse_numeric(const char *addr, guint16 port, struct sockaddr_storage *out,
                              socklen_t *out_len, GError **error)
{
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = AF_UNSPEC;
  char serv[8];
  g_snprintf(serv, sizeof serv, "%u", port);
  int rc = getaddrinfo(addr, serv, &hints, &res);
  if (rc != 0 || res == NULL || res->ai_addrlen > sizeof *out) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "\"%s\" is not a numeric IPv4 or IPv6 address", addr);
    if (res != NULL)
      freeaddrinfo(res);
    return FALSE;
  }
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *out_len = res->ai_addrlen;
  freeaddrinfo(res);
  return TRUE;
}

/* The participant's address in the family of our sockets (IPv4 becomes v4-mapped on an IPv6
 * socket). */
static gboolean peer_address(FocusMedia *m, const char *addr, guint16 port,
                             struct sockaddr_storage *out, socklen_t *out_len, GError **error)
{
  if (!parse_numeric(addr, port, out, out_len, error))
    return FALSE;
  if (out->ss_family == m->bind_addr.ss_family)
    return TRUE;
  if (out->ss_family == AF_INET && m->bind_addr.ss_family == AF_INET6) {
    struct sockaddr_in in;
    memcpy(&in, out, sizeof in);
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = in.sin_port;
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&in6.sin6_addr.s6_addr[12], &in.sin_addr, 4);
    memset(out, 0, sizeof *out);
    memcpy(out, &in6, sizeof in6);
    *out_len = sizeof in6;
    return TRUE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
              "the participant's address %s is IPv6, the media sockets are IPv4", addr);
  return FALSE;
}

/* ------------------------------------------------------------------ engine */

static void mconf_free(MConf *c)
{
  g_ptr_array_unref(c->legs);
  g_free(c->name);
  g_free(c);
}

static void mleg_free(MLeg *l)
{
  media_leg_shared_unref(l->shared);
  g_free(l->label);
  g_free(l);
}

FocusMedia *focus_media_new(const FocusMediaConfig *cfg, GError **error)
{
  FocusMediaConfig defaults;
  memset(&defaults, 0, sizeof defaults);
  if (cfg == NULL)
    cfg = &defaults;
  if (!srtpctx_global_init(error))
    return NULL;
  guint n = cfg->n_workers;
  if (n == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n = cores > 0 ? (guint)cores : 1;
  }
  if (n > FOCUS_MEDIA_MAX_WORKERS) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%u media workers asked for, at most %d", n, FOCUS_MEDIA_MAX_WORKERS);
    return NULL;
  }
  guint16 pmin = cfg->port_min, pmax = cfg->port_max;
  if (pmin == 0 && pmax == 0) {
    pmin = FOCUS_MEDIA_DEFAULT_PORT_MIN;
    pmax = FOCUS_MEDIA_DEFAULT_PORT_MAX;
  }
  if (pmin & 1)
    pmin++;
  if (pmin == 0 || pmax < pmin + 1) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "the RTP port range %u-%u holds no even/odd port pair", cfg->port_min,
                cfg->port_max);
    return NULL;
  }

  g_autoptr(FocusMedia) m = g_new0(FocusMedia, 1);
  m->confs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)mconf_free);
  m->legs = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)mleg_free);
  m->port_min = pmin;
  m->port_max = pmax;
  m->n_pairs = (guint)(pmax - pmin + 1) / 2;
  m->pair_used = g_new0(guint8, m->n_pairs);
  m->pair_cursor = g_random_int_range(0, (gint32)m->n_pairs);
  m->next_id = 1;
  if (!parse_numeric(cfg->bind_address ? cfg->bind_address : "0.0.0.0", 0, &m->bind_addr,
                     &m->bind_len, error))
    return NULL;

  g_autofree char *cname = cfg->cname != NULL ? g_strdup(cfg->cname)
                                              : g_strdup_printf("mikeyconfd@%s", g_get_host_name());
  guint rtcp_ms = cfg->rtcp_interval_ms ? cfg->rtcp_interval_ms : 5000;
  for (guint i = 0; i < n; i++) {
    MediaWorkerConfig wc = {
      .index = i,
      .cpu = cfg->worker_cpus != NULL ? cfg->worker_cpus[i] : -1,
      .clock = cfg->clock == FOCUS_MEDIA_CLOCK_BOOTTIME ? CLOCK_BOOTTIME : CLOCK_MONOTONIC,
      .idle_after_usec =
          (gint64)(cfg->idle_after_ms ? cfg->idle_after_ms : FOCUS_MEDIA_DEFAULT_IDLE_MS) * 1000,
      .rtcp_interval_ticks = MAX(1u, rtcp_ms * 1000 / FOCUS_MEDIA_TICK_USEC),
      .cname = cname,
      .rt_priority = CLAMP(cfg->rt_priority, 0, 99),
    };
    m->workers[i] = media_worker_new(&wc, error);
    if (m->workers[i] == NULL)
      return NULL;
    m->n_workers = i + 1;
  }
  return g_steal_pointer(&m);
}

void focus_media_free(FocusMedia *m)
{
  if (m == NULL)
    return;
  /* Workers first: they own the sockets and contexts and free them on their threads. */
  for (guint i = 0; i < m->n_workers; i++)
    media_worker_free(m->workers[i]);
  if (m->legs != NULL)
    g_hash_table_unref(m->legs);
  if (m->confs != NULL)
    g_hash_table_unref(m->confs);
  g_free(m->pair_used);
  g_free(m);
}

/* ------------------------------------------------------------------ ports */

static int open_socket(FocusMedia *m, guint16 port, GError **error)
{
  int fd = socket(m->bind_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "cannot create a UDP socket: %s",
                g_strerror(e));
    return -1;
  }
  int one = 1, zero = 0, tos = DSCP_EF;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (m->bind_addr.ss_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
  } else {
    setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  }
  struct sockaddr_storage a = m->bind_addr;
  if (a.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)(void *)&a)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)(void *)&a)->sin_port = htons(port);
  if (bind(fd, (struct sockaddr *)&a, m->bind_len) < 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "cannot bind UDP port %u: %s", port,
                g_strerror(e));
    close(fd);
    return -1;
  }
  return fd;
}

/* Binds the next free pair of the range (round robin, so a port just released is not reused
 * at once). */
static gboolean open_pair(FocusMedia *m, int *rtp_fd, int *rtcp_fd, guint *pair, GError **error)
{
  g_autoptr(GError) last = NULL;
  for (guint tries = 0; tries < m->n_pairs; tries++) {
    guint p = m->pair_cursor;
    m->pair_cursor = (m->pair_cursor + 1) % m->n_pairs;
    if (m->pair_used[p])
      continue;
    guint16 port = (guint16)(m->port_min + 2 * p);
    g_clear_error(&last);
    int a = open_socket(m, port, &last);
    if (a < 0)
      continue;
    int b = open_socket(m, (guint16)(port + 1), &last);
    if (b < 0) {
      close(a);
      continue;
    }
    m->pair_used[p] = 1;
    m->pairs_in_use++;
    *rtp_fd = a;
    *rtcp_fd = b;
    *pair = p;
    return TRUE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
              "no free RTP/RTCP port pair in %u-%u (%u pairs in use by media legs%s%s)",
              m->port_min, m->port_max, m->pairs_in_use, last ? "; last try: " : "",
              last ? last->message : "");
  return FALSE;
}

/* ------------------------------------------------------------------ legs */

static guint least_loaded_worker(FocusMedia *m)
{
  guint best = 0;
  for (guint i = 1; i < m->n_workers; i++)
    if (m->worker_legs[i] < m->worker_legs[best])
      best = i;
  return best;
}

gboolean focus_media_add_leg(FocusMedia *m, const char *conf, const char *label,
                             FocusMediaLegInfo *info, GError **error)
{
  g_return_val_if_fail(m != NULL && conf != NULL, FALSE);
  int rtp_fd = -1, rtcp_fd = -1;
  guint pair = 0;
  if (!open_pair(m, &rtp_fd, &rtcp_fd, &pair, error))
    return FALSE;
  MConf *c = g_hash_table_lookup(m->confs, conf);
  if (c == NULL) {
    c = g_new0(MConf, 1);
    c->name = g_strdup(conf);
    c->worker = least_loaded_worker(m);
    c->legs = g_ptr_array_new();
    g_hash_table_insert(m->confs, c->name, c);
  }
  MLeg *l = g_new0(MLeg, 1);
  l->id = m->next_id++;
  l->conf = c;
  l->label = g_strdup(label ? label : "");
  l->worker = c->worker;
  l->shared = media_leg_shared_new();
  l->rtp_port = (guint16)(m->port_min + 2 * pair);
  l->pair = pair;
  g_ptr_array_add(c->legs, l);
  g_hash_table_insert(m->legs, &l->id, l);
  m->worker_legs[c->worker]++;

  MediaCmd *cmd = media_cmd_new(MEDIA_CMD_ADD_LEG, l->id);
  cmd->conf = g_strdup(conf);
  cmd->shared = media_leg_shared_ref(l->shared);
  cmd->rtp_fd = rtp_fd;
  cmd->rtcp_fd = rtcp_fd;
  cmd->rtp_port = l->rtp_port;
  /* Profile 6: ROC 0 and a random SEQ in 1000-20000, so no wrap comes near a re-key. */
  cmd->tx_ssrc = g_random_int();
  if (cmd->tx_ssrc == 0)
    cmd->tx_ssrc = 1;
  cmd->tx_seq = (guint16)g_random_int_range(1000, 20001);
  l->shared->stats.out_ssrc = cmd->tx_ssrc;
  l->shared->stats.out_seq = cmd->tx_seq;
  l->shared->stats.rtp_port = l->rtp_port;
  l->shared->stats.id = l->id;
  if (info != NULL) {
    memset(info, 0, sizeof *info);
    info->id = l->id;
    info->rtp_port = l->rtp_port;
    info->rtcp_port = (guint16)(l->rtp_port + 1);
    info->tx_ssrc = cmd->tx_ssrc;
    info->tx_seq = cmd->tx_seq;
    info->tx_roc = 0;
    info->worker = c->worker;
  }
  media_worker_post(m->workers[c->worker], cmd);
  return TRUE;
}

static gsize salt_len_for(SrtpCtxPolicy policy)
{
  return policy == SRTPCTX_AEAD_AES_128_GCM ? 12 : 14;
}

/* Checks one crypto session and copies it for the worker. keys_optional: a CSB update. */
static gboolean take_crypto(const FocusMediaCrypto *c, gboolean inbound, gboolean keys_optional,
                            SrtpCtxPolicy current, MediaLegCrypto *out, GError **error)
{
  const char *what = inbound ? "inbound (CS 1)" : "outbound (CS 2)";
  if (c->policy != SRTPCTX_AEAD_AES_128_GCM && c->policy != SRTPCTX_AES_CM_128_HMAC_SHA1_80) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: unknown SRTP policy %d", what,
                (int)c->policy);
    return FALSE;
  }
  memset(out, 0, sizeof *out);
  out->policy = c->policy;
  out->ssrc = c->ssrc;
  out->roc = c->roc;
  out->seq = c->seq;
  if (inbound && c->ssrc == 0 && c->roc != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s: a ROC (%u) needs the participant's SSRC", what, c->roc);
    return FALSE;
  }
  if (c->key == NULL && c->salt == NULL && keys_optional) {
    if (c->policy != current) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "%s: a change of policy to %s needs its salt", what,
                  focus_media_policy_name(c->policy));
      return FALSE;
    }
    return TRUE;
  }
  gsize want = salt_len_for(c->policy);
  if (c->key == NULL || c->salt == NULL || c->salt_len != want) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "%s: %s needs a %d-byte master key and a %" G_GSIZE_FORMAT
                "-byte master salt (got %s, a %" G_GSIZE_FORMAT "-byte salt)",
                what, focus_media_policy_name(c->policy), SRTPCTX_KEY_LEN, want,
                c->key ? "a key" : "no key", c->salt ? c->salt_len : 0);
    return FALSE;
  }
  out->have_key = TRUE;
  memcpy(out->key, c->key, SRTPCTX_KEY_LEN);
  memcpy(out->salt, c->salt, want);
  out->salt_len = want;
  return TRUE;
}

static MLeg *lookup_leg(FocusMedia *m, guint64 leg, GError **error)
{
  MLeg *l = g_hash_table_lookup(m->legs, &leg);
  if (l == NULL)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no media leg %" G_GUINT64_FORMAT, leg);
  return l;
}

static gboolean post_keys(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                          MediaLegKeyMode mode, GError **error)
{
  MLeg *l = lookup_leg(m, leg, error);
  if (l == NULL)
    return FALSE;
  gboolean csb = mode == MEDIA_LEG_KEYS_CSB;
  if (csb && !l->has_keys) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                        "a CSB update on a leg that has no keys yet");
    return FALSE;
  }
  MediaCmd *cmd = media_cmd_new(MEDIA_CMD_KEYS, leg);
  MediaLegKeys *k = &cmd->keys;
  k->mode = mode;
  if (!take_crypto(&p->in, TRUE, csb, l->in_policy, &k->in, error) ||
      !take_crypto(&p->out, FALSE, csb, l->out_policy, &k->out, error))
    goto fail;
  if (p->pt == FOCUS_MEDIA_PT_UNCHANGED && csb) {
    k->pt = FOCUS_MEDIA_PT_UNCHANGED;
  } else if (p->pt == G711_PT_PCMU || p->pt == G711_PT_PCMA) {
    k->pt = p->pt;
  } else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "payload type %u: only PCMU (0) and PCMA (8) are sent", p->pt);
    goto fail;
  }
  if (p->peer_address != NULL) {
    if (p->peer_port == 0) {
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                          "the participant's RTP port is 0");
      goto fail;
    }
    guint16 rtcp_port = p->peer_rtcp_port ? p->peer_rtcp_port : (guint16)(p->peer_port + 1);
    socklen_t len2 = 0;
    if (!peer_address(m, p->peer_address, p->peer_port, &k->peer_rtp, &k->peer_len, error) ||
        !peer_address(m, p->peer_address, rtcp_port, &k->peer_rtcp, &len2, error))
      goto fail;
    k->have_peer = TRUE;
  }
  l->has_keys = TRUE;
  l->in_policy = p->in.policy;
  l->out_policy = p->out.policy;
  media_worker_post(m->workers[l->worker], cmd);
  return TRUE;
fail:
  media_cmd_free(cmd);
  return FALSE;
}

gboolean focus_media_leg_set_keys(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                                  GError **error)
{
  return post_keys(m, leg, p, MEDIA_LEG_KEYS_SET, error);
}

gboolean focus_media_leg_rekey(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                               GError **error)
{
  MLeg *l = lookup_leg(m, leg, error);
  if (l == NULL)
    return FALSE;
  if (!l->has_keys) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                        "a re-key on a leg that has no keys yet");
    return FALSE;
  }
  return post_keys(m, leg, p, MEDIA_LEG_KEYS_SET, error);
}

gboolean focus_media_leg_update_csb(FocusMedia *m, guint64 leg, const FocusMediaLegParams *p,
                                    GError **error)
{
  return post_keys(m, leg, p, MEDIA_LEG_KEYS_CSB, error);
}

static void forget_leg(FocusMedia *m, MLeg *l)
{
  /* Marked before the worker hears of it: from now on it sends and accepts nothing. */
  g_atomic_int_set(&l->shared->removed, 1);
  media_worker_post(m->workers[l->worker], media_cmd_new(MEDIA_CMD_REMOVE_LEG, l->id));
  m->pair_used[l->pair] = 0;
  m->pairs_in_use--;
  m->worker_legs[l->worker]--;
  MConf *c = l->conf;
  g_ptr_array_remove(c->legs, l);
  if (c->legs->len == 0)
    g_hash_table_remove(m->confs, c->name);
  g_hash_table_remove(m->legs, &l->id);
}

gboolean focus_media_remove_leg(FocusMedia *m, guint64 leg)
{
  MLeg *l = g_hash_table_lookup(m->legs, &leg);
  if (l == NULL)
    return FALSE;
  forget_leg(m, l);
  return TRUE;
}

guint focus_media_end_conference(FocusMedia *m, const char *conf)
{
  MConf *c = g_hash_table_lookup(m->confs, conf);
  if (c == NULL)
    return 0;
  guint n = c->legs->len;
  /* The last removal frees c: nothing reads it after that. */
  for (guint i = n; i > 0; i--)
    forget_leg(m, g_ptr_array_index(c->legs, i - 1));
  return n;
}

/* ------------------------------------------------------------------ statistics */

static void leg_snapshot(FocusMedia *m, MLeg *l, FocusMediaLegStats *out)
{
  MediaWorker *w = m->workers[l->worker];
  media_worker_stats_lock(w);
  *out = l->shared->stats;
  media_worker_stats_unlock(w);
  out->id = l->id;
  out->worker = l->worker;
  out->rtp_port = l->rtp_port;
  g_strlcpy(out->conf, l->conf->name, sizeof out->conf);
  g_strlcpy(out->label, l->label, sizeof out->label);
}

gboolean focus_media_leg_tx_state(FocusMedia *m, guint64 leg, guint32 *ssrc, guint32 *roc,
                                  guint16 *seq)
{
  MLeg *l = g_hash_table_lookup(m->legs, &leg);
  if (l == NULL)
    return FALSE;
  MediaWorker *w = m->workers[l->worker];
  media_worker_stats_lock(w);
  if (ssrc)
    *ssrc = l->shared->stats.out_ssrc;
  if (roc)
    *roc = l->shared->stats.out_roc;
  if (seq)
    *seq = l->shared->stats.out_seq;
  media_worker_stats_unlock(w);
  return TRUE;
}

gboolean focus_media_get_leg_stats(FocusMedia *m, guint64 leg, FocusMediaLegStats *out)
{
  MLeg *l = g_hash_table_lookup(m->legs, &leg);
  if (l == NULL)
    return FALSE;
  leg_snapshot(m, l, out);
  return TRUE;
}

GArray *focus_media_get_conf_stats(FocusMedia *m, const char *conf)
{
  GArray *a = g_array_new(FALSE, TRUE, sizeof(FocusMediaLegStats));
  MConf *c = g_hash_table_lookup(m->confs, conf);
  if (c == NULL)
    return a;
  g_array_set_size(a, c->legs->len);
  for (guint i = 0; i < c->legs->len; i++)
    leg_snapshot(m, g_ptr_array_index(c->legs, i), &g_array_index(a, FocusMediaLegStats, i));
  return a;
}

void focus_media_get_stats(FocusMedia *m, FocusMediaStats *out)
{
  memset(out, 0, sizeof *out);
  out->n_workers = m->n_workers;
  out->conferences = g_hash_table_size(m->confs);
  out->legs = g_hash_table_size(m->legs);
  out->port_min = m->port_min;
  out->port_max = m->port_max;
  out->ports_in_use = m->pairs_in_use;
  for (guint i = 0; i < m->n_workers; i++)
    media_worker_get_stats(m->workers[i], &out->workers[i]);
}

JsonNode *focus_media_leg_stats_json(const FocusMediaLegStats *s)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
#define STR(k, v)                                                                                  \
  do {                                                                                             \
    json_builder_set_member_name(b, k);                                                            \
    json_builder_add_string_value(b, v);                                                           \
  } while (0)
#define INT(k, v)                                                                                  \
  do {                                                                                             \
    json_builder_set_member_name(b, k);                                                            \
    json_builder_add_int_value(b, (gint64)(v));                                                    \
  } while (0)
#define DBL(k, v)                                                                                  \
  do {                                                                                             \
    json_builder_set_member_name(b, k);                                                            \
    json_builder_add_double_value(b, v);                                                           \
  } while (0)
  STR("identity", s->label);
  INT("leg", s->id);
  STR("address", s->peer);
  json_builder_set_member_name(b, "latched");
  json_builder_add_boolean_value(b, s->peer_latched);
  INT("port", s->rtp_port);
  INT("worker", s->worker);
  STR("codec", s->has_keys ? focus_media_codec_name(s->pt) : "");
  STR("srtp", s->has_keys ? focus_media_policy_name(s->out_policy) : "");
  if (s->has_keys && s->in_policy != s->out_policy)
    STR("srtp_in", focus_media_policy_name(s->in_policy));
  INT("packets_in", s->packets_in);
  INT("bytes_in", s->bytes_in);
  INT("packets_out", s->packets_out);
  INT("bytes_out", s->bytes_out);
  INT("rtcp_in", s->rtcp_in);
  INT("rtcp_out", s->rtcp_out);
  INT("lost", s->lost);
  DBL("jitter_ms", s->jitter_ms);
  INT("decrypt_failed", s->decrypt_failed);
  INT("replayed", s->replayed);
  INT("malformed", s->malformed);
  INT("oversized", s->oversized);
  INT("unknown_pt", s->unknown_pt);
  INT("no_key", s->no_key);
  INT("send_failed", s->send_failed);
  INT("late", s->late);
  INT("dropped", s->dropped);
  INT("concealed", s->concealed);
  INT("jb_delay_ms", s->jb_delay_ms);
  INT("rekeys", s->rekeys);
  INT("csb_updates", s->csb_updates);
  INT("ssrc_in", s->in_ssrc);
  INT("ssrc_out", s->out_ssrc);
  if (s->remote_report) {
    DBL("remote_fraction_lost", s->remote_fraction_lost);
    INT("remote_lost", s->remote_lost);
    DBL("remote_jitter_ms", s->remote_jitter_ms);
    if (s->rtt_ms >= 0)
      DBL("rtt_ms", s->rtt_ms);
  }
#undef STR
#undef INT
#undef DBL
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

JsonNode *focus_media_stats_json(const FocusMediaStats *s)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
#define INT(k, v)                                                                                  \
  do {                                                                                             \
    json_builder_set_member_name(b, k);                                                            \
    json_builder_add_int_value(b, (gint64)(v));                                                    \
  } while (0)
  INT("workers", s->n_workers);
  INT("conferences", s->conferences);
  INT("legs", s->legs);
  INT("ports_in_use", s->ports_in_use);
  json_builder_set_member_name(b, "worker");
  json_builder_begin_array(b);
  for (guint i = 0; i < s->n_workers && i < FOCUS_MEDIA_MAX_WORKERS; i++) {
    const FocusMediaWorkerStats *w = &s->workers[i];
    json_builder_begin_object(b);
    INT("index", w->index);
    INT("cpu", w->cpu);
    INT("conferences", w->conferences);
    INT("active_conferences", w->active_conferences);
    INT("legs", w->legs);
    INT("clock_running", w->clock_running);
    INT("ticks", w->ticks);
    INT("late_ticks", w->late_ticks);
    INT("late_overrun", w->late_overrun);
    INT("skipped_ticks", w->skipped_ticks);
    INT("max_late_us", w->max_late_usec);
    INT("max_tick_us", w->max_tick_usec);
    INT("max_off_cpu_us", w->max_off_cpu_usec);
    INT("receive_cut", w->receive_cut);
    INT("wakeups", w->wakeups);
    INT("packets_in", w->packets_in);
    INT("packets_out", w->packets_out);
    INT("shared_encodes", w->shared_encodes);
    INT("own_encodes", w->own_encodes);
    INT("cpu_us", w->cpu_usec);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
#undef INT
  json_builder_end_object(b);
  return json_builder_get_root(b);
}
