/* Replay cache of authenticated initial messages (RFC 3830 5.4, profile 4): a message is
 * remembered by the SHA-256 of its bytes until its timestamp leaves the skew window, so a
 * byte-identical copy is refused while it could still pass the timestamp check. Only
 * messages whose MAC verified are added (mikey-ticket.md trap 23). Not thread-safe: one cache
 * per main loop. */
#pragma once

#include <glib.h>

typedef struct _MikeyReplayCache MikeyReplayCache;

/* window_sec: the skew window; max_entries bounds memory (the oldest entries go first). */
MikeyReplayCache *mikey_replay_cache_new(guint window_sec, guint max_entries);
void mikey_replay_cache_free(MikeyReplayCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeyReplayCache, mikey_replay_cache_free)

/* Records msg (received at now, 64-bit NTP; t = the message's T). FALSE if an identical
 * message is already recorded and not expired: a replay. */
gboolean mikey_replay_cache_check_and_add(MikeyReplayCache *cache, const guint8 *msg, gsize len,
                                          guint64 t, guint64 now);
guint mikey_replay_cache_size(const MikeyReplayCache *cache);
