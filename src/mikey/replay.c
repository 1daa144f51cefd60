/* A hash set of message digests plus a FIFO of expiry times: lookups are O(1), expiry is
 * amortised O(1) because entries expire in insertion order (within the skew window, which the
 * caller enforces before adding). */
#include "replay.h"

#include <string.h>

#include <openssl/sha.h>

typedef struct {
  guint8 digest[SHA256_DIGEST_LENGTH];
  guint64 expires; /* 64-bit NTP */
} Entry;

struct _MikeyReplayCache {
  guint window_sec;
  guint max_entries;
  GHashTable *set; /* Entry* (digest) -> Entry* */
  GQueue fifo;     /* Entry*, oldest first */
};

static guint entry_hash(gconstpointer p)
{
  const Entry *e = p;
  guint h;
  memcpy(&h, e->digest, sizeof h); /* a SHA-256 prefix is already uniform */
  return h;
}

static gboolean entry_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(((const Entry *)a)->digest, ((const Entry *)b)->digest, SHA256_DIGEST_LENGTH) == 0;
}

MikeyReplayCache *mikey_replay_cache_new(guint window_sec, guint max_entries)
{
  MikeyReplayCache *c = g_new0(MikeyReplayCache, 1);
  c->window_sec = window_sec;
  c->max_entries = max_entries ? max_entries : 1;
  c->set = g_hash_table_new(entry_hash, entry_equal);
  g_queue_init(&c->fifo);
  return c;
}

void mikey_replay_cache_free(MikeyReplayCache *c)
{
  if (!c)
    return;
  g_hash_table_destroy(c->set);
  g_queue_clear_full(&c->fifo, g_free);
  g_free(c);
}

static void drop_oldest(MikeyReplayCache *c)
{
  Entry *e = g_queue_pop_head(&c->fifo);
  g_hash_table_remove(c->set, e);
  g_free(e);
}

gboolean mikey_replay_cache_check_and_add(MikeyReplayCache *c, const guint8 *msg, gsize len,
                                          guint64 t, guint64 now)
{
  Entry probe;
  SHA256(msg, len, probe.digest);
  while (!g_queue_is_empty(&c->fifo) && ((Entry *)g_queue_peek_head(&c->fifo))->expires <= now)
    drop_oldest(c);
  Entry *seen = g_hash_table_lookup(c->set, &probe);
  if (seen && seen->expires > now)
    return FALSE;
  if (seen)
    return TRUE; /* expired but not yet dropped: the timestamp check refuses it anyway */
  while (g_queue_get_length(&c->fifo) >= c->max_entries)
    drop_oldest(c);
  Entry *e = g_memdup2(&probe, sizeof probe);
  /* keep it as long as its T can still pass the window: until T + window, and at least
   * until now + window for a T from the future */
  guint64 span = (guint64)c->window_sec << 32;
  e->expires = MAX(t, now) + span;
  g_hash_table_add(c->set, e);
  g_queue_push_tail(&c->fifo, e);
  return TRUE;
}

guint mikey_replay_cache_size(const MikeyReplayCache *c)
{
  return g_queue_get_length((GQueue *)&c->fifo);
}
