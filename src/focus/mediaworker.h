/* A media worker thread: the conferences pinned to it, their legs' sockets and SRTP contexts,
 * the 20 ms mix clock. The main thread talks to it only through media_worker_post() (a queue
 * and an eventfd) and reads what it publishes under its stats lock. See mediaworker.c for the loop.
 */
#pragma once

#include "focus/medialeg.h"
#include "focus/media.h"

#include <time.h>

typedef enum {
  MEDIA_CMD_ADD_LEG,
  MEDIA_CMD_KEYS,
  MEDIA_CMD_REMOVE_LEG,
  MEDIA_CMD_QUIT,
} MediaCmdType;

typedef struct {
  MediaCmdType type;
  guint64 leg;
  /* MEDIA_CMD_ADD_LEG */
  char *conf;
  MediaLegShared *shared; /* a reference for the worker */
  int rtp_fd, rtcp_fd;
  guint16 rtp_port;
  guint32 tx_ssrc;
  guint16 tx_seq;
  /* MEDIA_CMD_KEYS */
  MediaLegKeys keys;
} MediaCmd;

MediaCmd *media_cmd_new(MediaCmdType type, guint64 leg);
/* Frees the command, wiping its keys and closing sockets it still owns. */
void media_cmd_free(MediaCmd *cmd);

typedef struct {
  guint index;
  int cpu; /* -1: not pinned */
  clockid_t clock;
  gint64 idle_after_usec;
  guint rtcp_interval_ticks;
  const char *cname;
  int rt_priority; /* 0: normal scheduling */
} MediaWorkerConfig;

typedef struct _MediaWorker MediaWorker;

MediaWorker *media_worker_new(const MediaWorkerConfig *cfg, GError **error);
/* Queues cmd (the worker takes it) and wakes the worker. Any thread. */
void media_worker_post(MediaWorker *w, MediaCmd *cmd);
/* Asks the worker to stop, waits for it, frees everything. */
void media_worker_free(MediaWorker *w);

/* The published snapshots: hold the lock while reading MediaLegShared.stats of this worker's
 * legs. */
void media_worker_stats_lock(MediaWorker *w);
void media_worker_stats_unlock(MediaWorker *w);
void media_worker_get_stats(MediaWorker *w, FocusMediaWorkerStats *out);
