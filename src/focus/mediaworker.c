/* A media worker: a plain epoll loop on its own thread; see mediaworker.h and media.h.
 *
 * Why epoll and not a GMainContext per worker: GLib's main loop polls with poll(2), handing the
 * kernel the whole fd array on every iteration and walking every source in prepare/check; a
 * worker holds two sockets per leg (3,000 fds at 1,500 legs) and wakes 50 times a second, so
 * that walk would cost more than the media. Its timeouts are also relative and in
 * milliseconds. Here the 20 ms clock is a timerfd on absolute deadlines, and the sockets sit in
 * an epoll set of their own that is only consulted when there is something to do.
 *
 * Two epoll sets:
 *   ep_wake  what the thread sleeps on: the command eventfd, the clock's timerfd, and — only
 *            while the clock is stopped — ep_media itself (an epoll fd is readable when its set
 *            has ready fds), so that the first packet to an idle worker wakes it;
 *   ep_media every leg's RTP and RTCP sockets (level-triggered).
 * While the clock runs, packets do not wake the thread: the timer does, every 5 ms. Each wake
 * takes the ready list of ep_media (epoll_wait with timeout 0) and drains each ready socket
 * into the jitter buffers (one datagram at first, the usual case; see recv_socket); every fourth
 * wake is a mix tick, which after that receive pass mixes and sends for every active conference.
 * Receiving in passes between the mix ticks keeps a mix tick short (it starts with at most 5 ms of
 * packets to read), so the packets of a tick leave sooner after its deadline and the next tick
 * starts on time under load. Receiving is bounded in time: a pass stops before the next mix
 * deadline and a mix tick reads for at most 5 ms, so a burst (a sender whose machine stalled and
 * caught up) delays its own packets, not everybody's mix; what is left is read first by the next
 * pass. Arrival times come from the kernel (SO_TIMESTAMPNS), so jitter figures do not depend on
 * when a pass read the packet. A leg's sockets carry one packet per tick each way; the sends go out
 * with one sendto per packet (each leg has its own source port, so sendmmsg cannot batch across
 * legs — it batches the load generator's side).
 *
 * Ticks: the timerfd is periodic (5 ms) with an absolute first expiry, so mix deadlines are
 * t0 + k * 20 ms and never drift. read() says how many expirations passed; a worker that fell
 * behind runs up to FOCUS_MEDIA_MAX_CATCH_UP mix ticks back to back and skips the rest (the RTP
 * timestamps still advance with real time). A tick's lateness is when it starts minus its
 * deadline.
 *
 * Commands are applied at the top of each loop iteration, and also in the middle of receiving
 * when a packet fails authentication while commands are queued (a re-key may be waiting: the
 * main thread queues the keys before the SIP answer goes out, so the peer's first packet under
 * the new key can only arrive after they are queued). Removed legs and emptied conferences are
 * freed at the end of the iteration, never while something may still point at them.
 *
 * Locks and threads are plain pthreads (not GMutex/GThread), so that ThreadSanitizer, which
 * does not see inside an uninstrumented GLib, checks them too. */
#include "mediaworker.h"

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define RECV_BATCH 8
#define RECV_MAX_PER_SOCKET 64 /* per pass: a flooded socket cannot starve the others */
#define EVENTS_BATCH 256
#define RECV_CHECK_EVERY 64     /* ready sockets per round; the clock is read after each round */
#define TICK_RECEIVE_NS 5000000 /* a mix tick reads for at most 5 ms before it mixes */
#define PUBLISH_USEC 100000     /* snapshots while the clock runs */
#define TICK_NS ((gint64)FOCUS_MEDIA_TICK_USEC * 1000)
#define PASSES 4 /* receive passes per mix tick: the timer runs at 5 ms */
#define PASS_NS (TICK_NS / PASSES)

enum { TAG_EVENTFD = 1, TAG_TIMER, TAG_MEDIA };

typedef struct {
  char *name;
  GPtrArray *legs; /* MediaLeg*, in the order they were added */
  FocusMixer mixer;
  gboolean active;
  gint64 last_rx;
} WConf;

struct _MediaWorker {
  MediaWorkerConfig cfg;
  char *cname;
  pthread_t thread;
  gboolean thread_started;
  int ep_wake, ep_media, ev_fd, timer_fd;

  pthread_mutex_t qlock;
  GQueue queue; /* MediaCmd* */
  gint pending; /* atomic: the queue is not empty */

  pthread_mutex_t stats_lock;
  FocusMediaWorkerStats pub;

  /* Everything below belongs to the worker thread. */
  GHashTable *legs;  /* &leg->id -> MediaLeg* */
  GHashTable *confs; /* name -> WConf* */
  GPtrArray *active; /* WConf* */
  GPtrArray *dead_legs;
  GPtrArray *dead_confs;
  GPtrArray *scratch; /* FocusMixLeg* for one conference's tick */
  gboolean quit;
  gboolean clock_running;
  gboolean media_in_wake;
  gint64 epoch_ns;
  gint64 t0_ns;
  guint64 pass_index; /* 5 ms timer expirations since t0 */
  guint32 pass_no;    /* receive passes (MediaLegSocket.pass) */
  guint64 tick_index; /* 20 ms mix deadlines passed since t0 */
  guint64 frame_base;
  guint64 frame; /* absolute frame number of the current tick */
  gint64 last_publish;
  gint64 busy_until_ns; /* when the last tick or receive pass ended */
  gboolean dirty;
  FocusMediaWorkerStats st;

  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iov[RECV_BATCH];
  struct sockaddr_storage from[RECV_BATCH];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(struct timespec))];
  } ctrl[RECV_BATCH];
  guint8 rbuf[RECV_BATCH][MEDIA_LEG_BUF];
  guint8 out[MEDIA_LEG_BUF];
  struct epoll_event events[EVENTS_BATCH];
};

/* ------------------------------------------------------------------ commands */

MediaCmd *media_cmd_new(MediaCmdType type, guint64 leg)
{
  MediaCmd *c = g_new0(MediaCmd, 1);
  c->type = type;
  c->leg = leg;
  c->rtp_fd = c->rtcp_fd = -1;
  return c;
}

void media_cmd_free(MediaCmd *cmd)
{
  if (cmd == NULL)
    return;
  if (cmd->rtp_fd >= 0)
    close(cmd->rtp_fd);
  if (cmd->rtcp_fd >= 0)
    close(cmd->rtcp_fd);
  media_leg_shared_unref(cmd->shared);
  g_free(cmd->conf);
  media_leg_keys_wipe(&cmd->keys);
  g_free(cmd);
}

void media_worker_post(MediaWorker *w, MediaCmd *cmd)
{
  pthread_mutex_lock(&w->qlock);
  g_queue_push_tail(&w->queue, cmd);
  g_atomic_int_set(&w->pending, 1);
  pthread_mutex_unlock(&w->qlock);
  guint64 one = 1;
  while (write(w->ev_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------------ time */

static gint64 clock_ns(const MediaWorker *w)
{
  struct timespec ts;
  clock_gettime(w->cfg.clock, &ts);
  return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_to_ts(gint64 ns)
{
  struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
  return ts;
}

static void start_clock(MediaWorker *w)
{
  gint64 now = clock_ns(w);
  w->t0_ns = now;
  w->tick_index = 0;
  w->pass_index = 0;
  guint64 f = (guint64)((now - w->epoch_ns) / TICK_NS);
  w->frame_base = MAX(f, w->frame);
  struct itimerspec its = { .it_value = ns_to_ts(now + PASS_NS), .it_interval = ns_to_ts(PASS_NS) };
  if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
    log_error("media worker %u: cannot start the mix clock: %s", w->cfg.index, g_strerror(errno));
    return;
  }
  if (w->media_in_wake) {
    epoll_ctl(w->ep_wake, EPOLL_CTL_DEL, w->ep_media, NULL);
    w->media_in_wake = FALSE;
  }
  w->clock_running = TRUE;
  w->st.clock_starts++;
}

static void stop_clock(MediaWorker *w)
{
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  timerfd_settime(w->timer_fd, 0, &its, NULL);
  if (!w->media_in_wake) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_MEDIA };
    if (epoll_ctl(w->ep_wake, EPOLL_CTL_ADD, w->ep_media, &ev) == 0)
      w->media_in_wake = TRUE;
  }
  w->clock_running = FALSE;
}

/* ------------------------------------------------------------------ conferences and legs */

static void conf_free(WConf *c)
{
  g_ptr_array_unref(c->legs);
  g_free(c->name);
  g_free(c);
}

static void activate(MediaWorker *w, WConf *c, gint64 now)
{
  c->last_rx = now;
  if (!c->active) {
    c->active = TRUE;
    g_ptr_array_add(w->active, c);
  }
}

static void deactivate(MediaWorker *w, WConf *c)
{
  if (!c->active)
    return;
  c->active = FALSE;
  g_ptr_array_remove_fast(w->active, c);
  for (guint i = 0; i < c->legs->len; i++)
    media_leg_idle(g_ptr_array_index(c->legs, i));
}

static void add_leg(MediaWorker *w, MediaCmd *cmd)
{
  WConf *c = g_hash_table_lookup(w->confs, cmd->conf);
  if (c == NULL) {
    c = g_new0(WConf, 1);
    c->name = g_strdup(cmd->conf);
    c->legs = g_ptr_array_new();
    focus_mixer_init(&c->mixer);
    g_hash_table_insert(w->confs, c->name, c);
  }
  MediaLeg *leg = media_leg_new(cmd->leg, cmd->shared, cmd->rtp_fd, cmd->rtcp_fd, cmd->rtp_port,
                                cmd->tx_ssrc, cmd->tx_seq);
  cmd->shared = NULL;
  cmd->rtp_fd = cmd->rtcp_fd = -1;
  leg->conf = c;
  g_ptr_array_add(c->legs, leg);
  g_hash_table_insert(w->legs, &leg->id, leg);
  MediaLegSocket *socks[2] = { &leg->rtp, &leg->rtcp };
  for (guint i = 0; i < 2; i++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = socks[i] };
    if (socks[i]->fd >= 0 && epoll_ctl(w->ep_media, EPOLL_CTL_ADD, socks[i]->fd, &ev) < 0)
      log_error("media worker %u: leg %" G_GUINT64_FORMAT ": epoll: %s", w->cfg.index, leg->id,
                g_strerror(errno));
  }
}

static void remove_leg(MediaWorker *w, MediaLeg *leg)
{
  leg->removed = TRUE;
  media_leg_drop_media(leg);
  MediaLegSocket *socks[2] = { &leg->rtp, &leg->rtcp };
  for (guint i = 0; i < 2; i++) {
    if (socks[i]->fd < 0)
      continue;
    epoll_ctl(w->ep_media, EPOLL_CTL_DEL, socks[i]->fd, NULL);
    close(socks[i]->fd);
    socks[i]->fd = -1;
  }
  g_hash_table_remove(w->legs, &leg->id);
  WConf *c = leg->conf;
  g_ptr_array_remove(c->legs, leg);
  g_ptr_array_add(w->dead_legs, leg);
  if (c->legs->len == 0) {
    deactivate(w, c);
    g_hash_table_steal(w->confs, c->name);
    g_ptr_array_add(w->dead_confs, c);
  }
}

static void apply_keys(MediaWorker *w, MediaCmd *cmd)
{
  MediaLeg *leg = g_hash_table_lookup(w->legs, &cmd->leg);
  if (leg == NULL)
    return;
  g_autoptr(GError) error = NULL;
  if (!media_leg_apply_keys(leg, &cmd->keys, clock_ns(w) / 1000, &error))
    log_error("media worker %u: leg %" G_GUINT64_FORMAT ": keys not applied: %s", w->cfg.index,
              leg->id, error->message);
}

/* Applies the queued commands; returns how many. */
static guint process_commands(MediaWorker *w)
{
  GQueue q = G_QUEUE_INIT;
  pthread_mutex_lock(&w->qlock);
  q = w->queue;
  g_queue_init(&w->queue);
  g_atomic_int_set(&w->pending, 0);
  pthread_mutex_unlock(&w->qlock);
  guint n = 0;
  MediaCmd *cmd;
  while ((cmd = g_queue_pop_head(&q)) != NULL) {
    switch (cmd->type) {
    case MEDIA_CMD_ADD_LEG:
      add_leg(w, cmd);
      break;
    case MEDIA_CMD_KEYS:
      apply_keys(w, cmd);
      break;
    case MEDIA_CMD_REMOVE_LEG: {
      MediaLeg *leg = g_hash_table_lookup(w->legs, &cmd->leg);
      if (leg != NULL)
        remove_leg(w, leg);
      break;
    }
    case MEDIA_CMD_QUIT:
      w->quit = TRUE;
      break;
    }
    media_cmd_free(cmd);
    n++;
  }
  w->st.commands += n;
  if (n > 0)
    w->dirty = TRUE;
  return n;
}

static gboolean retry_commands(gpointer data)
{
  MediaWorker *w = data;
  if (!g_atomic_int_get(&w->pending))
    return FALSE;
  return process_commands(w) > 0;
}

static void reap(MediaWorker *w)
{
  for (guint i = 0; i < w->dead_legs->len; i++)
    media_leg_free(g_ptr_array_index(w->dead_legs, i));
  g_ptr_array_set_size(w->dead_legs, 0);
  for (guint i = 0; i < w->dead_confs->len; i++)
    conf_free(g_ptr_array_index(w->dead_confs, i));
  g_ptr_array_set_size(w->dead_confs, 0);
}

/* ------------------------------------------------------------------ receive */

/* Reads what a ready socket holds; returns how many datagrams. A leg's socket gets one datagram
 * per 20 ms and a pass runs every 5 ms, so there is nearly always exactly one: the first visit
 * of a pass reads one (asking recvmmsg() for more makes the kernel look for a second datagram
 * and fail on almost every socket: measured, ~6 % of a loaded worker). A socket that still holds
 * more stays ready (level-triggered), comes back later in the same pass, and is then read in
 * batches; at most RECV_MAX_PER_SOCKET datagrams a pass, so that a flooded socket cannot starve
 * the others. */
static guint recv_socket(MediaWorker *w, MediaLegSocket *sock, gint64 now, gint64 real_offset)
{
  MediaLeg *leg = sock->leg;
  if (sock->pass != w->pass_no) {
    sock->pass = w->pass_no;
    sock->reads = 0;
  }
  guint got = 0;
  while (sock->reads < RECV_MAX_PER_SOCKET && !leg->removed && sock->fd >= 0) {
    guint want = sock->reads == 0 ? 1 : MIN(RECV_BATCH, RECV_MAX_PER_SOCKET - sock->reads);
    for (guint i = 0; i < want; i++) {
      w->msgs[i].msg_hdr.msg_namelen = sizeof w->from[i];
      w->msgs[i].msg_hdr.msg_controllen = sizeof w->ctrl[i].buf;
      w->msgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(sock->fd, w->msgs, want, MSG_DONTWAIT, NULL);
    if (n <= 0)
      break;
    for (int i = 0; i < n && !leg->removed; i++) {
      struct msghdr *h = &w->msgs[i].msg_hdr;
      w->st.packets_in++;
      if (h->msg_flags & MSG_TRUNC) {
        media_leg_count_oversized(leg);
        continue;
      }
      gint64 arrival = now;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          arrival = (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000 - real_offset;
          if (arrival > now)
            arrival = now;
        }
      }
      MediaLegRx r = media_leg_receive(leg, w->rbuf[i], w->msgs[i].msg_len, sock->rtcp, arrival,
                                       now, (const struct sockaddr *)&w->from[i], h->msg_namelen,
                                       retry_commands, w);
      if (r == MEDIA_LEG_RX_AUDIO && !leg->removed)
        activate(w, leg->conf, now);
    }
    sock->reads += (guint)n;
    got += (guint)n;
    if (want == 1 || (guint)n < want)
      break; /* one on a first visit; or drained */
  }
  return got;
}

/* Drains the ready sockets into the jitter buffers, until stop_ns (the worker clock): a burst
 * (a sender that stalled and caught up) must not delay the next mix tick. What is left stays in
 * the socket buffers, and the level-triggered ready list gives it first to the next pass. The
 * ready list is taken in rounds until a round reads nothing: sockets that held more than one
 * datagram come back in a later round (see recv_socket). */
static void receive_all(MediaWorker *w, gint64 now, gint64 stop_ns)
{
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  gint64 real_offset = (gint64)rt.tv_sec * G_USEC_PER_SEC + rt.tv_nsec / 1000 - now;
  w->pass_no++;
  /* Bounded: every socket once, and a batch more (level-triggered fds that are still ready
   * come back at the end of the ready list). */
  guint budget = 2 * g_hash_table_size(w->legs) + EVENTS_BATCH;
  guint seen = 0;
  while (seen < budget) {
    int n = epoll_wait(w->ep_media, w->events, RECV_CHECK_EVERY, 0);
    if (n <= 0)
      break;
    guint got = 0;
    for (int i = 0; i < n; i++) {
      /* the legs of the next ready sockets are cold: load them while this one is read */
      if (i + 2 < n)
        media_leg_prefetch(((MediaLegSocket *)w->events[i + 2].data.ptr)->leg);
      if (i + 1 < n)
        media_leg_prefetch_more(((MediaLegSocket *)w->events[i + 1].data.ptr)->leg);
      MediaLegSocket *sock = w->events[i].data.ptr;
      if (!sock->leg->removed)
        got += recv_socket(w, sock, now, real_offset);
    }
    seen += (guint)n;
    w->dirty = TRUE;
    if (got == 0)
      break; /* what is still ready has had its share of this pass */
    if (clock_ns(w) >= stop_ns) {
      w->st.receive_cut++;
      break;
    }
  }
}

/* ------------------------------------------------------------------ ticks */

static void send_to(MediaWorker *w, MediaLeg *leg, gboolean rtcp, gsize len)
{
  const MediaLegSocket *s = rtcp ? &leg->rtcp : &leg->rtp;
  const struct sockaddr_storage *dst = rtcp ? &leg->dst_rtcp : &leg->dst_rtp;
  ssize_t n;
  do
    n = sendto(s->fd, w->out, len, 0, (const struct sockaddr *)dst, leg->dst_len);
  while (n < 0 && errno == EINTR);
  media_leg_sent(leg, rtcp, len, n == (ssize_t)len);
  if (n == (ssize_t)len && !rtcp)
    w->st.packets_out++;
}

static void conf_tick(MediaWorker *w, WConf *c, gint64 now)
{
  guint n = c->legs->len;
  g_ptr_array_set_size(w->scratch, n);
  /* Each leg is cold by now (a tick walks every leg of the worker): load the next ones while
   * this one is pulled. The mix and the sends then find the conference's legs in the cache. */
  for (guint i = 0; i < MIN(n, 2); i++)
    media_leg_prefetch(g_ptr_array_index(c->legs, i));
  for (guint i = 0; i < n; i++) {
    MediaLeg *leg = g_ptr_array_index(c->legs, i);
    if (i + 2 < n)
      media_leg_prefetch(g_ptr_array_index(c->legs, i + 2));
    if (i + 1 < n)
      media_leg_prefetch_more(g_ptr_array_index(c->legs, i + 1));
    media_leg_pull(leg);
    w->scratch->pdata[i] = &leg->mix;
  }
  focus_mixer_run(&c->mixer, (FocusMixLeg *const *)w->scratch->pdata, n);
  for (guint i = 0; i < n; i++) {
    MediaLeg *leg = g_ptr_array_index(c->legs, i);
    gsize len = media_leg_build_rtp(leg, w->frame, w->out, sizeof w->out);
    if (len > 0)
      send_to(w, leg, FALSE, len);
    if (w->cfg.rtcp_interval_ticks > 0 &&
        (w->frame + leg->rtcp_phase) % w->cfg.rtcp_interval_ticks == 0) {
      len = media_leg_build_rtcp(leg, now, w->cname, w->out, sizeof w->out);
      if (len > 0)
        send_to(w, leg, TRUE, len);
    }
    media_leg_housekeeping(leg, now);
  }
}

static gint64 thread_cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_tick(MediaWorker *w, gint64 start_ns)
{
  gint64 now = start_ns / 1000;
  gint64 cpu0 = thread_cpu_ns();
  receive_all(w, now, start_ns + TICK_RECEIVE_NS);
  for (guint i = 0; i < w->active->len; i++)
    conf_tick(w, g_ptr_array_index(w->active, i), now);
  for (guint i = w->active->len; i-- > 0;) {
    WConf *c = g_ptr_array_index(w->active, i);
    if (now - c->last_rx > w->cfg.idle_after_usec)
      deactivate(w, c);
  }
  w->st.ticks++;
  gint64 took = clock_ns(w) - start_ns;
  if (took / 1000 > w->st.max_tick_usec)
    w->st.max_tick_usec = took / 1000;
  w->st.tick_usec_total += (guint64)(took / 1000);
  /* Wall time the tick took beyond its CPU time: the thread was not running (preempted, or
   * its virtual CPU was). */
  gint64 off = (took - (thread_cpu_ns() - cpu0)) / 1000;
  if (off > 0) {
    w->st.off_cpu_usec += (guint64)off;
    if (off > w->st.max_off_cpu_usec)
      w->st.max_off_cpu_usec = off;
  }
  w->dirty = TRUE;
}

/* due mix ticks */
static void run_ticks(MediaWorker *w, guint64 due)
{
  if (due > FOCUS_MEDIA_MAX_CATCH_UP) {
    guint64 skip = due - 1;
    w->tick_index += skip;
    w->st.skipped_ticks += skip;
    due = 1;
  }
  for (guint64 i = 0; i < due && w->clock_running && !w->quit; i++) {
    w->tick_index++;
    w->frame = w->frame_base + w->tick_index;
    gint64 deadline = w->t0_ns + (gint64)w->tick_index * TICK_NS;
    gint64 start = clock_ns(w);
    gint64 late = (start - deadline) / 1000;
    if (late < 0)
      late = 0;
    static const gint64 bounds[] = { 1000, 2000, 5000, 10000, 20000 };
    guint b = 0;
    while (b < G_N_ELEMENTS(bounds) && late >= bounds[b])
      b++;
    w->st.late_hist[b]++;
    if (late > FOCUS_MEDIA_LATE_USEC) {
      w->st.late_ticks++;
      if (w->busy_until_ns >= deadline)
        w->st.late_overrun++;
    }
    if (late > w->st.max_late_usec)
      w->st.max_late_usec = late;
    run_tick(w, start);
    w->busy_until_ns = clock_ns(w);
    if (w->active->len == 0)
      stop_clock(w);
  }
}

/* due expirations of the 5 ms timer: a mix tick at every fourth, a receive pass between */
static void run_timer(MediaWorker *w, guint64 due)
{
  guint64 target = w->pass_index + due;
  guint64 ticks = target / PASSES - w->pass_index / PASSES;
  w->pass_index = target;
  if (ticks > 0) {
    run_ticks(w, ticks);
  } else {
    /* a receive pass ends before the next mix deadline */
    gint64 next_tick = w->t0_ns + (gint64)(w->pass_index / PASSES + 1) * TICK_NS;
    receive_all(w, clock_ns(w) / 1000, next_tick - PASS_NS / 10);
    w->busy_until_ns = clock_ns(w);
    w->dirty = TRUE;
  }
}

/* ------------------------------------------------------------------ publishing */

static void publish(MediaWorker *w, gint64 now)
{
  guint64 shared = 0, own = 0;
  GHashTableIter it;
  gpointer value;
  GHashTableIter ci;
  g_hash_table_iter_init(&ci, w->confs);
  while (g_hash_table_iter_next(&ci, NULL, &value)) {
    const WConf *c = value;
    shared += c->mixer.shared_encodes;
    own += c->mixer.own_encodes;
  }
  pthread_mutex_lock(&w->stats_lock);
  g_hash_table_iter_init(&it, w->legs);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    MediaLeg *leg = value;
    if (leg->dirty) {
      media_leg_snapshot(leg, &leg->shared->stats);
      leg->dirty = FALSE;
    }
  }
  w->st.conferences = g_hash_table_size(w->confs);
  w->st.active_conferences = w->active->len;
  w->st.legs = g_hash_table_size(w->legs);
  w->st.clock_running = w->clock_running;
  w->st.shared_encodes = shared;
  w->st.own_encodes = own;
  w->pub = w->st;
  pthread_mutex_unlock(&w->stats_lock);
  w->last_publish = now;
  w->dirty = FALSE;
}

/* ------------------------------------------------------------------ the thread */

static void worker_loop(MediaWorker *w)
{
  struct epoll_event ev[4];
  while (!w->quit) {
    /* Snapshots: every PUBLISH_USEC while the clock runs; before every sleep when it does
     * not (that sleep has no timeout, so nothing else would publish). */
    gint64 now = clock_ns(w) / 1000;
    if (w->dirty && (!w->clock_running || now - w->last_publish >= PUBLISH_USEC))
      publish(w, now);
    int n = epoll_wait(w->ep_wake, ev, G_N_ELEMENTS(ev), -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      log_error("media worker %u: epoll_wait: %s", w->cfg.index, g_strerror(errno));
      break;
    }
    w->st.wakeups++;
    if (!w->clock_running)
      w->dirty = TRUE; /* so that every idle wake-up shows in the published count */
    guint64 due = 0;
    gboolean media = FALSE;
    for (int i = 0; i < n; i++) {
      switch (ev[i].data.u32) {
      case TAG_EVENTFD: {
        guint64 v;
        if (read(w->ev_fd, &v, sizeof v) < 0 && errno != EAGAIN)
          log_error("media worker %u: eventfd: %s", w->cfg.index, g_strerror(errno));
        break;
      }
      case TAG_TIMER: {
        guint64 v = 0;
        if (read(w->timer_fd, &v, sizeof v) == sizeof v)
          due += v;
        break;
      }
      case TAG_MEDIA:
        media = TRUE;
        break;
      default:
        break;
      }
    }
    process_commands(w);
    if (media && !w->clock_running) {
      gint64 t = clock_ns(w);
      receive_all(w, t / 1000, t + TICK_NS);
      if (w->active->len > 0)
        start_clock(w);
    }
    if (due > 0 && w->clock_running)
      run_timer(w, due);
    reap(w);
  }
}

static void *worker_main(void *data)
{
  MediaWorker *w = data;
  char name[16];
  g_snprintf(name, sizeof name, "mc-media%u", w->cfg.index);
  pthread_setname_np(pthread_self(), name);
  if (w->cfg.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cfg.cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
      log_warning("media worker %u: cannot pin to CPU %d", w->cfg.index, w->cfg.cpu);
  }
  if (w->cfg.rt_priority > 0) {
    struct sched_param sp = { .sched_priority = w->cfg.rt_priority };
    int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (e != 0)
      log_warning("media worker %u: cannot run SCHED_FIFO %d: %s", w->cfg.index, w->cfg.rt_priority,
                  g_strerror(e));
  }
  worker_loop(w);
  /* Everything still here goes with the thread that owns it. */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, w->legs);
  GPtrArray *all = g_ptr_array_new();
  while (g_hash_table_iter_next(&it, NULL, &value))
    g_ptr_array_add(all, value);
  for (guint i = 0; i < all->len; i++)
    remove_leg(w, g_ptr_array_index(all, i));
  g_ptr_array_unref(all);
  reap(w);
  publish(w, clock_ns(w) / 1000);
  return NULL;
}

MediaWorker *media_worker_new(const MediaWorkerConfig *cfg, GError **error)
{
  MediaWorker *w = g_new0(MediaWorker, 1);
  w->cfg = *cfg;
  w->cname = g_strdup(cfg->cname);
  w->cfg.cname = w->cname;
  w->ep_wake = w->ep_media = w->ev_fd = w->timer_fd = -1;
  pthread_mutex_init(&w->qlock, NULL);
  pthread_mutex_init(&w->stats_lock, NULL);
  g_queue_init(&w->queue);
  w->legs = g_hash_table_new(g_int64_hash, g_int64_equal);
  w->confs = g_hash_table_new(g_str_hash, g_str_equal);
  w->active = g_ptr_array_new();
  w->dead_legs = g_ptr_array_new();
  w->dead_confs = g_ptr_array_new();
  w->scratch = g_ptr_array_new();
  w->st.index = cfg->index;
  w->st.cpu = cfg->cpu;
  w->pub = w->st;
  for (guint i = 0; i < RECV_BATCH; i++) {
    w->iov[i].iov_base = w->rbuf[i];
    w->iov[i].iov_len = sizeof w->rbuf[i];
    w->msgs[i].msg_hdr.msg_name = &w->from[i];
    w->msgs[i].msg_hdr.msg_iov = &w->iov[i];
    w->msgs[i].msg_hdr.msg_iovlen = 1;
    w->msgs[i].msg_hdr.msg_control = w->ctrl[i].buf;
  }

  w->ep_wake = epoll_create1(EPOLL_CLOEXEC);
  w->ep_media = epoll_create1(EPOLL_CLOEXEC);
  w->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  w->timer_fd = timerfd_create(cfg->clock, TFD_NONBLOCK | TFD_CLOEXEC);
  if (w->ep_wake < 0 || w->ep_media < 0 || w->ev_fd < 0 || w->timer_fd < 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                "media worker %u: cannot create its epoll/eventfd/timerfd: %s", cfg->index,
                g_strerror(e));
    media_worker_free(w);
    return NULL;
  }
  struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_EVENTFD };
  epoll_ctl(w->ep_wake, EPOLL_CTL_ADD, w->ev_fd, &ev);
  ev.data.u32 = TAG_TIMER;
  epoll_ctl(w->ep_wake, EPOLL_CTL_ADD, w->timer_fd, &ev);
  ev.data.u32 = TAG_MEDIA;
  if (epoll_ctl(w->ep_wake, EPOLL_CTL_ADD, w->ep_media, &ev) == 0)
    w->media_in_wake = TRUE;
  w->epoch_ns = clock_ns(w);

  /* Signals stay with the main thread: the worker starts with all of them blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&w->thread, NULL, worker_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                "media worker %u: cannot start its thread: %s", cfg->index, g_strerror(e));
    media_worker_free(w);
    return NULL;
  }
  w->thread_started = TRUE;
  return w;
}

void media_worker_free(MediaWorker *w)
{
  if (w == NULL)
    return;
  if (w->thread_started) {
    media_worker_post(w, media_cmd_new(MEDIA_CMD_QUIT, 0));
    pthread_join(w->thread, NULL);
  }
  MediaCmd *cmd;
  while ((cmd = g_queue_pop_head(&w->queue)) != NULL)
    media_cmd_free(cmd);
  if (w->ep_wake >= 0)
    close(w->ep_wake);
  if (w->ep_media >= 0)
    close(w->ep_media);
  if (w->ev_fd >= 0)
    close(w->ev_fd);
  if (w->timer_fd >= 0)
    close(w->timer_fd);
  g_hash_table_unref(w->legs);
  g_hash_table_unref(w->confs);
  g_ptr_array_unref(w->active);
  g_ptr_array_unref(w->dead_legs);
  g_ptr_array_unref(w->dead_confs);
  g_ptr_array_unref(w->scratch);
  pthread_mutex_destroy(&w->qlock);
  pthread_mutex_destroy(&w->stats_lock);
  g_free(w->cname);
  g_free(w);
}

void media_worker_stats_lock(MediaWorker *w)
{
  pthread_mutex_lock(&w->stats_lock);
}

void media_worker_stats_unlock(MediaWorker *w)
{
  pthread_mutex_unlock(&w->stats_lock);
}

void media_worker_get_stats(MediaWorker *w, FocusMediaWorkerStats *out)
{
  pthread_mutex_lock(&w->stats_lock);
  *out = w->pub;
  pthread_mutex_unlock(&w->stats_lock);
  out->cpu_usec = -1;
  if (w->thread_started) {
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(w->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
      out->cpu_usec = (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
  }
}
