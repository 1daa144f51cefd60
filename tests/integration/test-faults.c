/* test-faults: issue 8's fault injection and abuse, with the real processes on loopback
 * (focus-harness.h: mikeykmsd, mikeyconfd, mikeyua, mikeyconfctl, SIPp).
 *
 * Faults:
 *  - the KMS killed (SIGKILL) in the middle of a burst of creations, with resolves in flight:
 *    every INVITE gets 200 or 503 within kms-timeout + a margin (mikeyua's --timeout), no
 *    dialog is left, and once the KMS is back creations and joins work. So that resolves are
 *    certainly in flight at the kill, the focus reaches the KMS through a TCP relay in this
 *    process that holds the focus's bytes (mikeyua talks to the KMS directly): the KMS then
 *    dies with requests on the way to it, and the relay drops each connection as the KMS does;
 *  - mikeyconfd killed (kill -9) during a burst of creations: after a restart the conferences
 *    are exactly those that got a 200 OK (mikeyua's reports), each with its full allowed set;
 *  - SQLite write failure: mikeyconfd runs with RLIMIT_FSIZE just above the size of its
 *    database files and SIGXFSZ ignored, so a write that grows the WAL fails (EFBIG) as on a
 *    full disk, for this process only. A read-only state directory or a full file system are
 *    not practical here: root ignores file modes, and mounting a small tmpfs needs privileges a
 *    container often lacks. The INVITE that cannot be recorded is refused (500 or 503), nothing
 *    of it is left (no record, no leg), the daemon keeps answering (OPTIONS, a join to an
 *    existing conference), and when the limit is lifted (prlimit on the running daemon) the
 *    next creation succeeds, also after a restart;
 *  - the KMS's TLS certificate wrong (from another CA; for another name): 503 and a log line
 *    naming the certificate problem, and the relay in front of the KMS saw nothing but TLS
 *    records (no plain HTTP request reached the KMS's port).
 *
 * Abuse:
 *  - SIPp floods of junk INVITEs to the factory (rate limited) and to a conference URI, while a
 *    valid creation (another source address) and a valid join succeed, RSS bounded;
 *  - malformed SIP in the spirit of RFC 4475 (bad Content-Length, missing headers, unterminated
 *    quotes, huge headers, bad Request-URIs, escaped and raw NULs, multiple bodies, a 60 KiB SDP
 *    with a=key-mgmt, ...) raw over UDP and TCP: never a 2xx, OPTIONS answered after each, the
 *    daemon alive, a valid creation afterwards, RSS bounded;
 *  - thousands of concurrent pending resolves (the KMS frozen with SIGSTOP, max-resolves 2000,
 *    3,000 INVITEs whose TRANSFER_INIT is real): 503 past the cap, OPTIONS and mikeyconfctl
 *    answered meanwhile, RSS bounded, everything answered once the KMS is back.
 *
 * Every restart of mikeyconfd with SIGTERM checks its exit status and, in sanitizer builds,
 * that its log has no sanitizer report. */
#include "focus-harness.h"

#include "common/credential.h"
#include "ua/uaconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST 12             /* creations in a burst */
#define BURST_GAP_MS 120     /* between their starts */
#define ANSWER_MARGIN_S 3    /* an INVITE's final answer within kms-timeout + this */
#define FLOOD_CALLS "1500"   /* junk INVITEs per SIPp flood */
#define FLOOD_RATE "300"     /* per second */
#define RESOLVE_CAP 2000     /* max-resolves for the pending-resolves test */
#define RESOLVE_INVITES 3000 /* INVITEs sent while the KMS is frozen */
#define RESOLVE_RATE "500"   /* per second */
#define MALFORMED_ANSWER_MS 1000
#define OPTIONS_WAIT_MS 5000
#define FLOODED_OPTIONS_WAIT_MS 16000 /* 6 sends, timer E from 500 ms */
#define SETTLE_MS 7000                /* > T4, the life of a UDP INVITE transaction after its ACK */

/* RSS growth allowed during a flood (measured: 13 to 17 MiB; sanitizer build about 55), and
 * per pending resolve (measured: 35 KiB; sanitizer build 71). The sanitizer builds add shadow
 * memory, redzones and a quarantine of freed memory (16 MiB: main() sets it), so their bounds
 * are wider. */
#if defined(__SANITIZE_ADDRESS__)
#define SAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_BUILD 1
#endif
#endif
#ifdef SAN_BUILD
#define RSS_GROWTH_MAX_KIB (128 * 1024)
#define PENDING_RESOLVE_MAX_KIB 160
#define MALFORMED_CPU_MAX_MS 600
#else
#define RSS_GROWTH_MAX_KIB (48 * 1024)
#define PENDING_RESOLVE_MAX_KIB 64
/* CPU time mikeyconfd may spend on one malformed message and an OPTIONS (measured: at most
 * 30 ms, for 4,000 headers in 47 KiB; before the 64 KiB message cap of sipglib.c, 900 ms for
 * 20,000 headers in 250 KiB over TCP) */
#define MALFORMED_CPU_MAX_MS 200
#endif

static char *sipp_path;
static char *focus_cred_orig; /* the harness's focus credential, while a variant is in use */

/* ------------------------------------------------------------------ helpers */

static gboolean need_sipp(void)
{
  if (!sipp_path)
    g_test_skip("sipp (Debian: sip-tester) is not installed");
  return sipp_path != NULL;
}

/* Stops mikeyconfd with SIGTERM: exit 0 and no sanitizer report in what it logged. */
static void confd_stop_clean(void)
{
  gsize from = file_size(H.confd_log);
  int st = confd_stop(SIGTERM);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(H.confd_log, &text, NULL, NULL));
  if (st != 0 || sanitizer_report_in(text + MIN(from, strlen(text))))
    g_test_message("mikeyconfd exit %d:\n%s", st, text + MIN(from, strlen(text)));
  g_assert_cmpint(st, ==, 0);
  g_assert_false(sanitizer_report_in(text + MIN(from, strlen(text))));
}

/* A clean restart with config extra (NULL: the base). */
static void confd_restart(const char *extra)
{
  confd_write_config(extra);
  confd_stop_clean();
  confd_start();
}

/* The KMS URL with another host and port. */
static char *kms_url_at(const char *host, guint16 port)
{
  g_autoptr(GUri) u = g_uri_parse(H.kms_url, G_URI_FLAGS_NONE, NULL);
  g_assert_nonnull(u);
  g_autoptr(GUri) v = g_uri_build(G_URI_FLAGS_NONE, g_uri_get_scheme(u), NULL, host, port,
                                  g_uri_get_path(u), g_uri_get_query(u), NULL);
  return g_uri_to_string(v);
}

/* mikeyconfd restarted with a focus credential whose kms-url and kms-ca are these (url NULL:
 * the harness's own credential again). */
static void focus_use_kms(const char *url, const char *ca)
{
  if (!focus_cred_orig)
    focus_cred_orig = H.focus_cred;
  if (H.focus_cred != focus_cred_orig)
    g_free(H.focus_cred);
  H.focus_cred = focus_cred_orig;
  if (url) {
    g_autoptr(GError) error = NULL;
    Credential c;
    g_assert_true(credential_load(focus_cred_orig, &c, &error));
    g_free(c.kms_url);
    c.kms_url = g_strdup(url);
    g_free(c.kms_ca);
    c.kms_ca = g_strdup(ca);
    H.focus_cred = g_build_filename(H.tmp, "focus-variant.cred", NULL);
    g_assert_true(credential_save(H.focus_cred, &c, &error));
    g_assert_no_error(error);
    credential_clear(&c);
  }
  confd_restart(NULL);
}

static gint64 conference_total(void)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "list", NULL);
  return (gint64)json_array_get_length(json_object_get_array_member(o, "conferences"));
}

/* The URIs of every conference mikeyconfctl lists. */
static GHashTable *conference_set(void)
{
  g_autoptr(JsonParser) jp = NULL;
  JsonObject *o = ctl_json(&jp, NULL, "list", NULL);
  JsonArray *a = json_object_get_array_member(o, "conferences");
  GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < json_array_get_length(a); i++)
    g_hash_table_add(
        set, g_strdup(json_object_get_string_member(json_array_get_object_element(a, i), "uri")));
  return set;
}

/* CPU time (user + system) in ms of a process (tid 0) or of one of its threads (its main
 * thread: tid = pid), from /proc/PID[/task/TID]/stat. */
static gint64 cpu_ms(pid_t pid, pid_t tid)
{
  g_autofree char *path = tid ? g_strdup_printf("/proc/%d/task/%d/stat", (int)pid, (int)tid)
                              : g_strdup_printf("/proc/%d/stat", (int)pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  const char *p = strrchr(text, ')'); /* the command name may hold spaces */
  g_auto(GStrv) f = g_strsplit(p ? p + 2 : text, " ", -1);
  if (g_strv_length(f) < 13)
    return -1;
  /* fields 14 and 15 of the line: utime, stime (here 11 and 12, counted from the state) */
  gint64 ticks = g_ascii_strtoll(f[11], NULL, 10) + g_ascii_strtoll(f[12], NULL, 10);
  return ticks * 1000 / sysconf(_SC_CLK_TCK);
}

static gboolean no_sip_legs(gpointer data)
{
  return stat_int("sip_legs") == 0;
}

/* Live participants over every conference. */
static gint64 participants_total(void)
{
  return stat_int("participants");
}

/* mikeyua create (alice, bob allowed), 1 s in the conference, every step bounded by
 * timeout_s; extra options before --json (NULL-terminated, may be NULL). */
static Proc *create_spawn(guint timeout_s, const char *const *extra)
{
  g_autofree char *t = g_strdup_printf("%u", timeout_s);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *head[] = { H.ua,         "create",  "--credential",  H.alice,
                         "--factory",  H.factory, "--participant", BOB,
                         "--duration", "1",       "--timeout",     t };
  for (guint i = 0; i < G_N_ELEMENTS(head); i++)
    g_ptr_array_add(argv, (char *)head[i]);
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add(argv, (char *)extra[i]);
  g_ptr_array_add(argv, (char *)"--json");
  g_ptr_array_add(argv, NULL);
  return spawn((const char *const *)argv->pdata);
}

/* What a mikeyua report says (the fields the fault tests look at). */
typedef struct {
  int status;    /* the INVITE's final status; 0: none */
  char *conf;    /* conference_uri */
  char *step;    /* error.step, NULL: no error */
  char *message; /* error.message */
  char *warning; /* sip.warning */
} Outcome;

static void outcome_clear(Outcome *o)
{
  g_free(o->conf);
  g_free(o->step);
  g_free(o->message);
  g_free(o->warning);
}

static Outcome outcome_of(Proc *p)
{
  g_autofree char *out = NULL, *err = NULL;
  int st = proc_finish(p, RUN_TIMEOUT_MS, &out, &err);
  g_autoptr(JsonParser) jp = NULL;
  if (!out || !*out)
    g_test_message("mikeyua exit %d, no report:\n%s", st, err);
  JsonObject *r = json_of(out, &jp);
  Outcome o = { 0 };
  o.status = (int)jint(r, "sip.status");
  o.conf = g_strdup(jstr(r, "conference_uri"));
  JsonNode *e = json_object_get_member(r, "error");
  if (e && JSON_NODE_HOLDS_OBJECT(e)) {
    o.step = g_strdup(jstr(r, "error.step"));
    o.message = g_strdup(jstr(r, "error.message"));
  }
  o.warning = g_strdup(jstr(r, "sip.warning"));
  return o;
}

/* A creation and a join that must work (after a fault is over). */
static void creation_and_join_work(void)
{
  const char *extra[] = { "--participant", BOB, "--duration", "4", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--duration", "1", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(br, "sip.status"), ==, 200);
  g_autoptr(JsonParser) op = NULL;
  JsonObject *orep = owner_finish(&own, &op, 0);
  g_assert_cmpint(jint(orep, "sip.status"), ==, 200);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ a TCP relay */

/* Relays TCP connections from listen_ip:port to 127.0.0.1:upstream_port on its own thread (so
 * that it runs while this thread waits for a child), and keeps every byte the clients sent,
 * one record per connection. With hold set, the clients' bytes are kept but not forwarded
 * (sent on when hold is cleared). A connection ends when either side ends it, or at once
 * when the upstream refuses. */
typedef struct {
  int cfd, ufd;
  GByteArray *held;
  GByteArray *seen; /* in Relay.records */
} RelayConn;

typedef struct {
  int lfd;
  guint16 port;
  guint16 upstream_port;
  int wake[2];
  gint hold;
  gint stop;
  GThread *thread;
  GMutex lock; /* records */
  GPtrArray *records;
  GPtrArray *conns; /* the thread's */
} Relay;

static gboolean send_all(int fd, const guint8 *data, gsize len)
{
  while (len > 0) {
    gssize n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

static void relay_conn_close(Relay *r, guint i)
{
  RelayConn *c = g_ptr_array_index(r->conns, i);
  close(c->cfd);
  if (c->ufd >= 0)
    close(c->ufd);
  g_byte_array_unref(c->held);
  g_free(c);
  g_ptr_array_remove_index(r->conns, i);
}

static void relay_accept(Relay *r)
{
  int cfd = accept(r->lfd, NULL, NULL);
  if (cfd < 0)
    return;
  RelayConn *c = g_new0(RelayConn, 1);
  c->cfd = cfd;
  c->held = g_byte_array_new();
  c->seen = g_byte_array_new();
  g_mutex_lock(&r->lock);
  g_ptr_array_add(r->records, c->seen);
  g_mutex_unlock(&r->lock);
  c->ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons(r->upstream_port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(c->ufd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(c->ufd);
    c->ufd = -1; /* the upstream is gone: the client sees its connection end at once */
  }
  g_ptr_array_add(r->conns, c);
  if (c->ufd < 0)
    relay_conn_close(r, r->conns->len - 1);
}

static gpointer relay_thread(gpointer data)
{
  Relay *r = data;
  guint8 buf[16384];
  while (!g_atomic_int_get(&r->stop)) {
    guint n = r->conns->len;
    g_autofree struct pollfd *fds = g_new0(struct pollfd, 2 + 2 * n);
    fds[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
    fds[1] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
    for (guint i = 0; i < n; i++) {
      RelayConn *c = g_ptr_array_index(r->conns, i);
      fds[2 + 2 * i] = (struct pollfd){ .fd = c->cfd, .events = POLLIN };
      fds[3 + 2 * i] = (struct pollfd){ .fd = c->ufd, .events = POLLIN };
    }
    if (poll(fds, 2 + 2 * n, 50) < 0 && errno != EINTR)
      break;
    gboolean hold = g_atomic_int_get(&r->hold);
    /* from the last, so that closing one does not move those still to be looked at */
    for (guint i = n; i-- > 0;) {
      RelayConn *c = g_ptr_array_index(r->conns, i);
      gboolean ok = TRUE;
      if (fds[2 + 2 * i].revents) {
        gssize got = recv(c->cfd, buf, sizeof buf, 0);
        if (got <= 0) {
          ok = FALSE;
        } else {
          g_mutex_lock(&r->lock);
          g_byte_array_append(c->seen, buf, (guint)got);
          g_mutex_unlock(&r->lock);
          g_byte_array_append(c->held, buf, (guint)got);
        }
      }
      if (ok && !hold && c->held->len) {
        ok = send_all(c->ufd, c->held->data, c->held->len);
        g_byte_array_set_size(c->held, 0);
      }
      if (ok && fds[3 + 2 * i].revents) {
        gssize got = recv(c->ufd, buf, sizeof buf, 0);
        ok = got > 0 && send_all(c->cfd, buf, (gsize)got);
      }
      if (!ok)
        relay_conn_close(r, i);
    }
    if (fds[1].revents)
      relay_accept(r);
    if (fds[0].revents) {
      char b;
      if (read(r->wake[0], &b, 1) < 0)
        break;
    }
  }
  while (r->conns->len)
    relay_conn_close(r, r->conns->len - 1);
  return NULL;
}

static Relay *relay_start(const char *listen_ip, guint16 upstream_port, gboolean hold)
{
  Relay *r = g_new0(Relay, 1);
  r->upstream_port = upstream_port;
  r->hold = hold;
  g_mutex_init(&r->lock);
  r->records = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  r->conns = g_ptr_array_new();
  g_assert_cmpint(pipe(r->wake), ==, 0);
  r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET };
  g_assert_cmpint(inet_pton(AF_INET, listen_ip, &a.sin_addr), ==, 1);
  g_assert_cmpint(bind(r->lfd, (struct sockaddr *)&a, sizeof a), ==, 0);
  g_assert_cmpint(listen(r->lfd, 128), ==, 0);
  socklen_t len = sizeof a;
  getsockname(r->lfd, (struct sockaddr *)&a, &len);
  r->port = ntohs(a.sin_port);
  r->thread = g_thread_new("relay", relay_thread, r);
  return r;
}

static void relay_set_hold(Relay *r, gboolean hold)
{
  g_atomic_int_set(&r->hold, hold);
  if (write(r->wake[1], "x", 1) != 1)
    g_assert_not_reached();
}

static void relay_stop(Relay *r)
{
  g_atomic_int_set(&r->stop, 1);
  if (write(r->wake[1], "x", 1) != 1)
    g_assert_not_reached();
  g_thread_join(r->thread);
  close(r->lfd);
  close(r->wake[0]);
  close(r->wake[1]);
  g_ptr_array_unref(r->conns);
  g_ptr_array_unref(r->records);
  g_mutex_clear(&r->lock);
  g_free(r);
}

/* Connections made so far, and whether every one of them carried only TLS records from the
 * client: the first byte is a TLS handshake record (0x16, version 3.x), and no HTTP request
 * line or header appears in the bytes. */
static guint relay_check_tls_only(Relay *r)
{
  g_mutex_lock(&r->lock);
  guint n = r->records->len;
  for (guint i = 0; i < n; i++) {
    GByteArray *b = g_ptr_array_index(r->records, i);
    if (b->len == 0)
      continue; /* connected, nothing sent (yet) */
    g_test_message("relay connection %u: %u bytes, first %02x %02x", i, b->len, b->data[0],
                   b->len > 1 ? b->data[1] : 0);
    g_assert_cmpuint(b->data[0], ==, 0x16);
    g_assert_cmpuint(b->len, >, 1);
    g_assert_cmpuint(b->data[1], ==, 0x03);
    const char *plain[] = { "POST ", "GET ", "HTTP/1.", "application/mikey", "Host:" };
    for (guint k = 0; k < G_N_ELEMENTS(plain); k++) {
      gboolean found = memmem(b->data, b->len, plain[k], strlen(plain[k])) != NULL;
      if (found)
        g_test_message("relay connection %u carried plain '%s'", i, plain[k]);
      g_assert_false(found);
    }
  }
  g_mutex_unlock(&r->lock);
  return n;
}

/* ------------------------------------------------------------------ raw SIP */

/* A loopback socket of the given type bound to an ephemeral port; the port in *port. */
static int bound_socket(gboolean tcp, guint16 *port)
{
  int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

/* Replaces the template's tokens: $T transport, $P our port, $H the focus's host:port, $B a
 * fresh branch/tag, $C a fresh Call-ID. */
static GString *sip_fill(const char *tmpl, gboolean tcp, guint16 port)
{
  GString *s = g_string_new(tmpl);
  g_autofree char *p = g_strdup_printf("%u", port);
  g_autofree char *b = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
  g_autofree char *c = g_strdup_printf("%08x-%08x", g_random_int(), g_random_int());
  g_string_replace(s, "$T", tcp ? "TCP" : "UDP", 0);
  g_string_replace(s, "$P", p, 0);
  g_string_replace(s, "$H", H.host, 0);
  g_string_replace(s, "$B", b, 0);
  g_string_replace(s, "$C", c, 0);
  return s;
}

/* Sends msg to the daemon raw, over a fresh TCP connection or from a fresh UDP port (the
 * template is filled with that port), and waits up to wait_ms for the first answer: its status
 * line (NULL: none). */
static char *sip_raw(gboolean tcp, const GBytes *tmpl_bytes, guint wait_ms)
{
  guint16 port;
  int fd = bound_socket(tcp, &port);
  gsize tlen;
  const char *tdata = g_bytes_get_data((GBytes *)tmpl_bytes, &tlen);
  /* the template may hold NULs: fill the text part up to the first one, keep the rest */
  gsize text_len = strnlen(tdata, tlen);
  g_autofree char *text = g_strndup(tdata, text_len);
  GString *msg = sip_fill(text, tcp, port);
  g_string_append_len(msg, tdata + text_len, (gssize)(tlen - text_len));
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons(H.sip_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  char *answer = NULL;
  gboolean sent;
  if (tcp) {
    sent = connect(fd, (struct sockaddr *)&to, sizeof to) == 0 &&
           send_all(fd, (const guint8 *)msg->str, msg->len);
  } else {
    sent = sendto(fd, msg->str, msg->len, 0, (struct sockaddr *)&to, sizeof to) == (gssize)msg->len;
  }
  if (!sent)
    g_test_message("could not send %zu bytes over %s: %s", msg->len, tcp ? "TCP" : "UDP",
                   g_strerror(errno));
  GString *in = g_string_new(NULL);
  gint64 deadline = g_get_monotonic_time() + (gint64)wait_ms * 1000;
  gint64 interval = 500, resend_at = g_get_monotonic_time() + interval * 1000;
  guint sends = 1;
  while (sent && !answer) {
    /* provisional answers (with their empty bodies) are skipped: the final one counts */
    const char *eol = strstr(in->str, "\r\n");
    const char *end = strstr(in->str, "\r\n\r\n");
    if (eol && g_str_has_prefix(in->str, "SIP/2.0 1") && end) {
      g_string_erase(in, 0, end + 4 - in->str);
      continue;
    }
    if (eol && !g_str_has_prefix(in->str, "SIP/2.0 1")) {
      answer = g_strndup(in->str, (gsize)(eol - in->str));
      break;
    }
    gint64 now = g_get_monotonic_time();
    if (now >= deadline)
      break;
    /* over UDP the request goes again after 500 ms, 1 s, 2 s, ... (RFC 3261 timer E): a
     * datagram may be dropped when the daemon's socket buffer is full */
    if (!tcp && now >= resend_at) {
      if (sendto(fd, msg->str, msg->len, 0, (struct sockaddr *)&to, sizeof to) > 0)
        sends++;
      interval = MIN(interval * 2, 4000);
      resend_at = now + interval * 1000;
    }
    gint64 left = (MIN(deadline, tcp ? deadline : resend_at) - now) / 1000;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int ready = poll(&pfd, 1, (int)MAX(left, 1));
    if (ready < 0)
      break;
    if (ready == 0)
      continue;
    char buf[8192];
    gssize n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    g_string_append_len(in, buf, n);
  }
  if (sends > 1)
    g_test_message("sent %u times over UDP before %s", sends, answer ? "an answer" : "giving up");
  g_string_free(in, TRUE);
  g_string_free(msg, TRUE);
  close(fd);
  return answer;
}

static const char OPTIONS_TMPL[] = "OPTIONS sip:conference-factory@$H SIP/2.0\r\n"
                                   "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                                   "Max-Forwards: 70\r\n"
                                   "From: <sip:probe@127.0.0.1>;tag=$B\r\n"
                                   "To: <sip:conference-factory@$H>\r\n"
                                   "Call-ID: options-$C\r\n"
                                   "CSeq: 1 OPTIONS\r\n"
                                   "Content-Length: 0\r\n\r\n";

/* The daemon answers OPTIONS over UDP or TCP with 200 within wait_ms (over UDP the request
 * is sent again as timer E says). */
static void options_ok_within(gboolean tcp, guint wait_ms)
{
  g_autoptr(GBytes) m = g_bytes_new_static(OPTIONS_TMPL, strlen(OPTIONS_TMPL));
  gint64 t0 = g_get_monotonic_time();
  g_autofree char *a = sip_raw(tcp, m, wait_ms);
  if (g_strcmp0(a, "SIP/2.0 200 OK") != 0)
    g_test_message("OPTIONS over %s: %s after %.3f s", tcp ? "TCP" : "UDP", a ? a : "no answer",
                   (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
  g_assert_cmpstr(a, ==, "SIP/2.0 200 OK");
  g_assert_false(H.confd_exited);
}

static void options_ok(gboolean tcp)
{
  options_ok_within(tcp, OPTIONS_WAIT_MS);
}

/* ------------------------------------------------------------------ 1a: the KMS killed */

static gboolean conferences_above(gpointer data)
{
  return conference_total() >= *(gint64 *)data;
}

static gboolean resolves_in_flight(gpointer data)
{
  return stat_int("resolves.in_flight") >= *(gint64 *)data;
}

static void test_kms_killed_burst(void)
{
  /* the focus reaches the KMS through the relay (forwarding for now) */
  Relay *relay = relay_start("127.0.0.1", (guint16)H.kms_port, FALSE);
  g_autofree char *url = kms_url_at("127.0.0.1", relay->port);
  focus_use_kms(url, H.ca);
  gint64 unavailable0 = stat_int("resolves.unavailable");
  gint64 one_more = conference_total() + 1;

  guint timeout_s = KMS_TIMEOUT_S + ANSWER_MARGIN_S;
  Proc *procs[BURST];
  guint n = 0;
  gboolean killed = FALSE;
  gint64 in_flight_at_kill = 0;
  gint64 want = 2;
  for (; n < BURST; n++) {
    procs[n] = create_spawn(timeout_s, NULL);
    sleep_ms(BURST_GAP_MS);
    if (n + 1 == BURST / 4) {
      /* the first creations go through; from now on the relay holds the focus's requests */
      g_assert_true(wait_until(conferences_above, &one_more, RUN_TIMEOUT_MS));
      relay_set_hold(relay, TRUE);
    } else if (!killed && n + 1 >= BURST / 2) {
      /* half the burst is under way: once resolves wait at the relay, kill the KMS */
      g_assert_true(wait_until(resolves_in_flight, &want, 20000));
      in_flight_at_kill = stat_int("resolves.in_flight");
      kill(H.kms_pid, SIGKILL);
      killed = TRUE;
    }
  }
  /* the KMS is reaped (the harness's kms_stop would send SIGTERM: it is already dead) */
  g_subprocess_wait(H.kms, NULL, NULL);
  child_track(H.kms_pid, FALSE);
  g_clear_object(&H.kms);
  H.kms_pid = 0;
  g_test_message("KMS killed with %" G_GINT64_FORMAT " resolves in flight", in_flight_at_kill);

  guint n200 = 0, n503 = 0, no_invite = 0;
  for (guint i = 0; i < n; i++) {
    Outcome o = outcome_of(procs[i]);
    g_test_message("create %u: status %d, step %s: %s; %s", i, o.status, o.step ? o.step : "-",
                   o.message ? o.message : "-", o.warning ? o.warning : "-");
    if (o.status == 0) {
      /* no INVITE was answered: it must be that none was sent (no ticket: the KMS is dead) */
      g_assert_cmpstr(o.step, ==, "ticket");
      no_invite++;
    } else if (o.status == 200) {
      n200++;
    } else {
      g_assert_cmpint(o.status, ==, 503);
      g_assert_nonnull(strstr(o.warning, "key management server is unavailable"));
      n503++;
    }
    /* within kms-timeout + margin: mikeyua's own bound on the INVITE did not fire */
    g_assert_null(o.message ? strstr(o.message, "no final response") : NULL);
    outcome_clear(&o);
  }
  g_test_message("burst of %u: %u x 200, %u x 503, %u without a ticket", n, n200, n503, no_invite);
  g_assert_cmpuint(n200, >=, 1);
  g_assert_cmpuint(n503, >=, (guint)in_flight_at_kill);
  g_assert_cmpint(stat_int("resolves.unavailable"), >=, unavailable0 + in_flight_at_kill);
  g_assert_cmpint(stat_int("resolves.in_flight"), ==, 0);
  g_assert_true(wait_until(no_sip_legs, NULL, RUN_TIMEOUT_MS));
  g_assert_cmpint(participants_total(), ==, 0);

  /* the KMS back on its port: creations and joins work (the relay forwards again) */
  kms_start(H.kms_port);
  relay_set_hold(relay, FALSE);
  creation_and_join_work();
  focus_use_kms(NULL, NULL);
  relay_stop(relay);
}

/* ------------------------------------------------------------------ 1b: mikeyconfd killed */

static void test_confd_kill9_burst(void)
{
  g_autoptr(GHashTable) before = conference_set();
  Proc *procs[BURST];
  gint64 want = g_hash_table_size(before) + 3;
  gboolean killed = FALSE;
  for (guint n = 0; n < BURST; n++) {
    procs[n] = create_spawn(KMS_TIMEOUT_S + ANSWER_MARGIN_S, NULL);
    sleep_ms(BURST_GAP_MS);
    if (!killed && n + 1 >= BURST / 2) {
      g_assert_true(wait_until(conferences_above, &want, RUN_TIMEOUT_MS));
      g_assert_cmpint(confd_stop(SIGKILL), ==, 128 + SIGKILL);
      killed = TRUE;
    }
  }
  g_autoptr(GHashTable) got200 = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < BURST; i++) {
    Outcome o = outcome_of(procs[i]);
    g_test_message("create %u: status %d, %s, step %s", i, o.status, o.conf ? o.conf : "-",
                   o.step ? o.step : "-");
    if (o.status == 200) {
      g_assert_nonnull(o.conf);
      g_hash_table_add(got200, g_steal_pointer(&o.conf));
    }
    outcome_clear(&o);
  }
  confd_start();
  g_autoptr(GHashTable) after = conference_set();
  /* after = before + exactly the conferences that got a 200 OK */
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, got200);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    if (!g_hash_table_contains(after, k))
      g_test_message("%s got a 200 OK but is not there after the restart", (char *)k);
    g_assert_true(g_hash_table_contains(after, k));
    g_autofree char *set = allowed_of(k);
    g_assert_cmpstr(set, ==, ALICE " " BOB);
  }
  g_hash_table_iter_init(&it, after);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    if (!g_hash_table_contains(before, k) && !g_hash_table_contains(got200, k))
      g_test_message("%s is there but no creator got a 200 OK for it", (char *)k);
    g_assert_true(g_hash_table_contains(before, k) || g_hash_table_contains(got200, k));
  }
  g_test_message("%u conferences got a 200 OK before the kill; all there, nothing else",
                 g_hash_table_size(got200));
  g_assert_cmpuint(g_hash_table_size(got200), >=, 3);
  g_assert_cmpuint(g_hash_table_size(after), ==,
                   g_hash_table_size(before) + g_hash_table_size(got200));
  creation_and_join_work();
}

/* ------------------------------------------------------------------ 1c: SQLite write failure */

static gsize state_file_size(const char *suffix)
{
  g_autoptr(GDir) dir = g_dir_open(H.state, 0, NULL);
  g_assert_nonnull(dir);
  gsize max = 0;
  const char *name;
  while ((name = g_dir_read_name(dir)))
    if (g_str_has_suffix(name, suffix)) {
      g_autofree char *p = g_build_filename(H.state, name, NULL);
      max = MAX(max, file_size(p));
    }
  return max;
}

static void test_sqlite_write_failure(void)
{
  /* an existing conference to join later */
  const char *extra[] = { "--participant", BOB, "--duration", "1", NULL };
  Owner own = owner_start(extra);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);

  /* stopped cleanly, the WAL is merged into the database; the daemon starts again allowed to
   * write files up to just past the largest one (the shared-memory index takes 32 KiB): the
   * WAL, which starts empty, can grow by a few pages only */
  confd_stop_clean();
  gsize db = state_file_size(".db"), wal = state_file_size("-wal"), shm = state_file_size("-shm");
  guint64 limit = MAX(MAX(db, wal), MAX(shm, (gsize)32768)) + 4096;
  g_test_message("database %zu bytes, WAL %zu, shm %zu: RLIMIT_FSIZE %" G_GUINT64_FORMAT, db, wal,
                 shm, limit);
  H.confd_fsize_limit = limit;
  confd_start();
  H.confd_fsize_limit = 0;
  gint64 failures0 = stat_int("since_start.store_failures");

  /* creations until one cannot be recorded */
  g_autoptr(GPtrArray) created = g_ptr_array_new_with_free_func(g_free);
  Outcome fail = { 0 };
  for (guint i = 0; i < 40 && !fail.status; i++) {
    gint64 n_before = conference_total();
    Outcome o = outcome_of(create_spawn(10, NULL));
    g_test_message("creation %u under the limit: %d %s", i, o.status, o.warning ? o.warning : "");
    if (o.status == 200) {
      g_ptr_array_add(created, g_steal_pointer(&o.conf));
      outcome_clear(&o);
      continue;
    }
    g_assert_true(o.status == 500 || o.status == 503);
    /* nothing half-written: no new record, no leg */
    g_assert_cmpint(conference_total(), ==, n_before);
    fail = o;
  }
  g_assert_cmpint(fail.status, !=, 0);
  g_test_message("refused with %d (%s) after %u creations", fail.status, fail.warning,
                 created->len);
  g_assert_true(wait_until(no_sip_legs, NULL, RUN_TIMEOUT_MS));
  g_assert_cmpint(stat_int("since_start.store_failures"), >, failures0);
  outcome_clear(&fail);

  /* still answering: OPTIONS, and a join to the existing conference (admission needs no new
   * record; its audit event cannot be written and is logged instead) */
  options_ok(FALSE);
  options_ok(TRUE);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--duration", "1", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(br, "sip.status"), ==, 200);

  /* space returns (the limit lifted on the running daemon): creations are recorded again */
  struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
  g_assert_cmpint(prlimit(H.confd_pid, RLIMIT_FSIZE, &rl, NULL), ==, 0);
  Outcome ok = outcome_of(create_spawn(10, NULL));
  g_assert_cmpint(ok.status, ==, 200);
  g_ptr_array_add(created, g_steal_pointer(&ok.conf));
  outcome_clear(&ok);

  /* and after a restart every conference that got a 200 OK is there */
  gint64 total = conference_total();
  confd_restart(NULL);
  g_assert_cmpint(conference_total(), ==, total);
  for (guint i = 0; i < created->len; i++) {
    g_autofree char *set = allowed_of(g_ptr_array_index(created, i));
    g_assert_cmpstr(set, ==, ALICE " " BOB);
  }
  g_free(own.uri);
}

/* ------------------------------------------------------------------ 1d: the KMS's certificate */

static void check_tls_refusal(const char *what, const char *url, const char *ca, const char *why,
                              Relay *relay)
{
  focus_use_kms(url, ca);
  gsize from = file_size(H.confd_log);
  Outcome o = outcome_of(create_spawn(10, NULL));
  g_test_message("%s: %d %s", what, o.status, o.warning ? o.warning : "-");
  g_assert_cmpint(o.status, ==, 503);
  g_assert_nonnull(strstr(o.warning, "key management server is unavailable"));
  outcome_clear(&o);
  /* the log says what is wrong with the certificate */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(H.confd_log, &text, NULL, NULL));
  g_autofree char *lower = g_ascii_strdown(text + from, -1);
  g_auto(GStrv) ls = g_strsplit(lower, "\n", -1);
  gboolean named = FALSE;
  for (guint i = 0; ls[i]; i++)
    if (strstr(ls[i], "kms-unavailable") && strstr(ls[i], why)) {
      g_test_message("%s: log: %s", what, ls[i]);
      named = TRUE;
    }
  if (!named)
    g_test_message("%s: no log line names the certificate:\n%s", what, text + from);
  g_assert_true(named);
  /* TLS only on the KMS's port: no plain HTTP went there */
  g_assert_cmpuint(relay_check_tls_only(relay), >=, 1);
}

static void test_kms_tls_wrong(void)
{
  /* another CA: a second KMS state directory initialised here */
  g_autofree char *other = g_build_filename(H.tmp, "kms-other", NULL);
  g_autofree char *other_conf = g_build_filename(H.tmp, "kms-other.conf", NULL);
  g_autofree char *text = g_strdup_printf("[mikeykmsd]\nlisten=127.0.0.1\nstate-dir=%s\n"
                                          "kms-uri=other.test.example\n",
                                          other);
  g_assert_true(g_file_set_contents(other_conf, text, -1, NULL));
  const char *init[] = { H.kmsd, "--config", other_conf, "init", NULL };
  g_assert_cmpint(run(NULL, NULL, init), ==, 0);
  g_autofree char *other_ca = g_build_filename(other, "ca.pem", NULL);

  /* the real KMS behind a relay that records what the focus sends */
  Relay *r1 = relay_start("127.0.0.1", (guint16)H.kms_port, FALSE);
  g_autofree char *url1 = kms_url_at("127.0.0.1", r1->port);
  check_tls_refusal("certificate from another CA", url1, other_ca,
                    "certificate is not issued by the configured ca", r1);
  relay_stop(r1);

  /* the right CA, another name: the KMS's certificate is for localhost, 127.0.0.1 and ::1 */
  Relay *r2 = relay_start("127.0.0.2", (guint16)H.kms_port, FALSE);
  g_autofree char *url2 = kms_url_at("127.0.0.2", r2->port);
  check_tls_refusal("certificate for another name", url2, H.ca,
                    "certificate is not for the host name", r2);
  relay_stop(r2);

  focus_use_kms(NULL, NULL);
  creation_and_join_work();
}

/* ------------------------------------------------------------------ abuse: SIPp floods */

static Proc *sipp_spawn(const char *scenario, const char *service, const char *calls,
                        const char *rate, const char *inf)
{
  g_autofree char *sf = g_test_build_filename(G_TEST_DIST, "..", "data", "sipp", scenario, NULL);
  g_autofree char *port = g_strdup_printf("%u", free_port());
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *args[] = { sipp_path, H.host,     "-sf",       sf,   "-s",
                         service,   "-i",       "127.0.0.1", "-p", port,
                         "-m",      calls,      "-r",        rate, "-l",
                         "5000",    "-nostdin", "-timeout",  "90", "-timeout_error" };
  for (guint i = 0; i < G_N_ELEMENTS(args); i++)
    g_ptr_array_add(argv, (char *)args[i]);
  if (inf) {
    g_ptr_array_add(argv, (char *)"-inf");
    g_ptr_array_add(argv, (char *)inf);
  }
  g_ptr_array_add(argv, NULL);
  return spawn((const char *const *)argv->pdata);
}

static int sipp_finish(Proc *p, const char *what)
{
  g_autofree char *out = NULL, *err = NULL;
  int st = proc_finish(p, 180000, &out, &err);
  if (st != 0)
    g_test_message("sipp %s: exit %d\n%s\n%s", what, st, out, err);
  return st;
}

/* The user part of a conference URI (sip:conf-...@host -> conf-...). */
static char *user_of(const char *uri)
{
  const char *at = strchr(uri, '@');
  return g_strndup(uri + 4, (gsize)(at - uri - 4));
}

static void test_sipp_floods(void)
{
  if (!need_sipp())
    return;
  const char *extra[] = { "--participant", BOB, "--duration", "60", NULL };
  Owner own = owner_start(extra);
  g_autofree char *user = user_of(own.uri);
  gint64 rss0 = proc_rss_kib(H.confd_pid), rss_max = rss0;

  /* the factory: junk at 300/s from 127.0.0.1 (rate limited), and meanwhile a valid creation
   * from another source address */
  gint64 limited = stat_int("since_start.rate_limited");
  Proc *f =
      sipp_spawn("uac-garbage-key-mgmt.xml", "conference-factory", FLOOD_CALLS, FLOOD_RATE, NULL);
  sleep_ms(1500);
  const char *from3[] = { "--sip-listen", "127.0.0.3:0", NULL };
  Outcome c = outcome_of(create_spawn(10, from3));
  g_assert_cmpint(c.status, ==, 200);
  outcome_clear(&c);
  rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
  options_ok(FALSE);
  g_assert_cmpint(sipp_finish(f, "factory flood"), ==, 0);
  g_assert_cmpint(stat_int("since_start.rate_limited"), >, limited);
  rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));

  /* a conference URI: junk at 300/s, and meanwhile bob joins */
  gint64 refused = stat_int("since_start.refused");
  Proc *g = sipp_spawn("uac-garbage-key-mgmt.xml", user, FLOOD_CALLS, FLOOD_RATE, NULL);
  sleep_ms(1500);
  g_autoptr(JsonParser) bp = NULL;
  JsonObject *br = NULL;
  g_assert_cmpint(ua_run(&bp, &br, NULL, "join", "--credential", H.bob, "--duration", "1", "--json",
                         own.uri, NULL),
                  ==, 0);
  g_assert_cmpint(jint(br, "sip.status"), ==, 200);
  rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
  options_ok(TRUE);
  g_assert_cmpint(sipp_finish(g, "conference flood"), ==, 0);
  g_assert_cmpint(stat_int("since_start.refused"), >=, refused + atoi(FLOOD_CALLS));
  rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
  gint64 rss1 = proc_rss_kib(H.confd_pid);
  g_test_message("mikeyconfd RSS: %" G_GINT64_FORMAT
                 " KiB before the floods, at most %" G_GINT64_FORMAT " during, %" G_GINT64_FORMAT
                 " after",
                 rss0, rss_max, rss1);
  g_assert_cmpint(rss_max - rss0, <, RSS_GROWTH_MAX_KIB);
  g_assert_cmpint(stat_int("sip_legs"), ==, 1); /* alice's */
  kill(own.proc->pid, SIGINT);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  g_free(own.uri);
}

/* ------------------------------------------------------------------ abuse: malformed SIP */

#define HDRS_AFTER_RURI                                                                            \
  "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"                                        \
  "Max-Forwards: 70\r\n"                                                                           \
  "From: <sip:mallory@example.org>;tag=$B\r\n"                                                     \
  "To: <sip:conference-factory@$H>\r\n"                                                            \
  "Call-ID: $C@mallory\r\n"                                                                        \
  "CSeq: 1 INVITE\r\n"                                                                             \
  "Contact: <sip:mallory@127.0.0.1:$P>\r\n"
#define INVITE_LINE "INVITE sip:conference-factory@$H SIP/2.0\r\n"
#define SDP_KEY                                                                                    \
  "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"                      \
  "a=key-mgmt:mikey AQAAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\r\n"      \
  "m=audio 49170 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"

typedef struct {
  const char *name;
  GBytes *msg;
} Malformed;

/* An INVITE of head (request line and headers, without Content-Type/Length), then those two
 * for body with Content-Length len_text (NULL: the true length), then body. */
static GBytes *invite_with(const char *head, const char *ctype, const char *len_text,
                           const char *body, gsize body_len)
{
  GString *s = g_string_new(head);
  if (ctype)
    g_string_append_printf(s, "Content-Type: %s\r\n", ctype);
  if (len_text)
    g_string_append_printf(s, "Content-Length: %s\r\n\r\n", len_text);
  else
    g_string_append_printf(s, "Content-Length: %zu\r\n\r\n", body_len);
  g_string_append_len(s, body, (gssize)body_len);
  gsize n = s->len;
  return g_bytes_new_take(g_string_free(s, FALSE), n);
}

static void add_malformed(GArray *a, const char *name, GBytes *msg)
{
  Malformed m = { name, msg };
  g_array_append_val(a, m);
}

/* RFC 4475's categories, our own messages; max_udp keeps UDP datagrams within 64 KiB. */
static GArray *malformed_set(gboolean tcp)
{
  GArray *a = g_array_new(FALSE, FALSE, sizeof(Malformed));
  const char *sdp = SDP_KEY;
  gsize sdp_len = strlen(sdp);
  const char *head = INVITE_LINE HDRS_AFTER_RURI;
  /* Content-Length */
  add_malformed(a, "content-length-negative",
                invite_with(head, "application/sdp", "-5", sdp, sdp_len));
  add_malformed(a, "content-length-too-large",
                invite_with(head, "application/sdp", "999999", sdp, sdp_len));
  add_malformed(a, "content-length-huge-number",
                invite_with(head, "application/sdp", "184467440737095516160", sdp, sdp_len));
  add_malformed(a, "content-length-short",
                invite_with(head, "application/sdp", "20", sdp, sdp_len));
  add_malformed(a, "content-length-not-a-number",
                invite_with(head, "application/sdp", "twelve", sdp, sdp_len));
  {
    g_autofree char *h = g_strconcat(head, "Content-Length: 3\r\n", NULL);
    add_malformed(a, "content-length-twice", invite_with(h, "application/sdp", NULL, sdp, sdp_len));
  }
  /* missing required headers */
  const char *needed[] = { "Via: ", "From: ", "To: ", "Call-ID: ", "CSeq: ", "Max-Forwards: " };
  const char *names[] = {
    "no-via", "no-from", "no-to", "no-call-id", "no-cseq", "no-max-forwards"
  };
  for (guint i = 0; i < G_N_ELEMENTS(needed); i++) {
    g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);
    GString *h = g_string_new(NULL);
    for (guint k = 0; lines[k] && *lines[k]; k++)
      if (!g_str_has_prefix(lines[k], needed[i]))
        g_string_append_printf(h, "%s\r\n", lines[k]);
    add_malformed(a, names[i], invite_with(h->str, "application/sdp", NULL, sdp, sdp_len));
    g_string_free(h, TRUE);
  }
  /* unterminated quoted strings, bad parameters */
  add_malformed(a, "unterminated-quote-from",
                invite_with(INVITE_LINE "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                                        "Max-Forwards: 70\r\n"
                                        "From: \"Mallory <sip:mallory@example.org>;tag=$B\r\n"
                                        "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                                        "CSeq: 1 INVITE\r\nContact: <sip:mallory@127.0.0.1:$P>\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  add_malformed(a, "unterminated-quote-via",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;branch=\"z9hG4bK$B\r\n"
                            "Max-Forwards: 70\r\nFrom: <sip:mallory@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 1 INVITE\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  add_malformed(a, "unterminated-angle-contact",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                            "Max-Forwards: 70\r\nFrom: <sip:mallory@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 1 INVITE\r\nContact: <sip:mallory@127.0.0.1:$P\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  /* huge headers: one long one (UDP: within a datagram), and many */
  {
    gsize big = tcp ? 200000 : 60000;
    g_autofree char *junk = g_strnfill(big, 'a');
    g_autofree char *h = g_strdup_printf("%sX-Junk: %s\r\n", head, junk);
    add_malformed(a, "huge-header", invite_with(h, "application/sdp", NULL, sdp, sdp_len));
    GString *many = g_string_new(head);
    for (guint i = 0; i < (tcp ? 20000u : 4000u); i++)
      g_string_append_printf(many, "X-H%u: v\r\n", i);
    add_malformed(a, "many-headers", invite_with(many->str, "application/sdp", NULL, sdp, sdp_len));
    g_string_free(many, TRUE);
    g_autofree char *cid = g_strnfill(tcp ? 100000 : 30000, 'c');
    g_autofree char *h2 =
        g_strdup_printf(INVITE_LINE "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                                    "Max-Forwards: 70\r\nFrom: <sip:m@example.org>;tag=$B\r\n"
                                    "To: <sip:conference-factory@$H>\r\nCall-ID: %s\r\n"
                                    "CSeq: 1 INVITE\r\n",
                        cid);
    add_malformed(a, "huge-call-id", invite_with(h2, "application/sdp", NULL, sdp, sdp_len));
  }
  /* Request-URIs */
  const char *ruris[] = { "INVITE sip:conference-factory@@$H:::x SIP/2.0\r\n",
                          "INVITE http://example.org/conference SIP/2.0\r\n",
                          "INVITE sip:conf-%00deadbeef@$H SIP/2.0\r\n",
                          "INVITE sip:conference-factory@$H;lr=\"x SIP/2.0\r\n",
                          "INVITE <sip:conference-factory@$H> SIP/2.0\r\n",
                          "INVITE sip:conference-factory@$H SIP/7.0\r\n",
                          "INVITE  sip:conference-factory@$H  SIP/2.0\r\n",
                          "INVITE sip:[::1@$H SIP/2.0\r\n" };
  const char *rnames[] = { "ruri-double-at",    "ruri-not-sip",  "ruri-escaped-null",
                           "ruri-unterminated", "ruri-in-angle", "bad-sip-version",
                           "ruri-extra-spaces", "ruri-bad-ipv6" };
  for (guint i = 0; i < G_N_ELEMENTS(ruris); i++) {
    g_autofree char *h = g_strconcat(ruris[i], HDRS_AFTER_RURI, NULL);
    add_malformed(a, rnames[i], invite_with(h, "application/sdp", NULL, sdp, sdp_len));
  }
  /* NULs: escaped in URIs, raw in a header value and in the SDP */
  add_malformed(a, "escaped-null-from",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                            "Max-Forwards: 70\r\nFrom: <sip:null-%00-null@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 1 INVITE\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  {
    static const char raw_nul[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\0-\r\nc=IN IP4 "
                                  "127.0.0.1\r\nt=0 0\r\na=key-mgmt:mikey AQAA\0AAECAwQF\r\n"
                                  "m=audio 49170 RTP/SAVP 0\r\n";
    add_malformed(a, "raw-nul-in-sdp",
                  invite_with(head, "application/sdp", NULL, raw_nul, sizeof raw_nul - 1));
  }
  /* multiple bodies: multipart with two offers, two key-mgmt lines in one SDP */
  {
    g_autofree char *mp =
        g_strdup_printf("--b1\r\nContent-Type: application/sdp\r\n\r\n%s"
                        "--b1\r\nContent-Type: application/sdp\r\n\r\n%s--b1--\r\n",
                        sdp, sdp);
    add_malformed(a, "multipart-two-sdp",
                  invite_with(head, "multipart/mixed;boundary=b1", NULL, mp, strlen(mp)));
    add_malformed(a, "multipart-no-boundary",
                  invite_with(head, "multipart/mixed", NULL, mp, strlen(mp)));
    g_autofree char *two = g_strdup_printf(
        "%sa=key-mgmt:mikey AQAAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\r\n", sdp);
    add_malformed(a, "two-key-mgmt", invite_with(head, "application/sdp", NULL, two, strlen(two)));
  }
  /* oversized SDP (60 KiB) with a=key-mgmt, and a huge key-mgmt value */
  {
    GString *big = g_string_new(sdp);
    while (big->len < 60 * 1024)
      g_string_append(big, "a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
    add_malformed(a, "sdp-60k", invite_with(head, "application/sdp", NULL, big->str, big->len));
    g_string_free(big, TRUE);
    g_autofree char *b64 = g_strnfill(45000, 'A');
    g_autofree char *km =
        g_strdup_printf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                        "a=key-mgmt:mikey AQ%s\r\nm=audio 49170 RTP/SAVP 0\r\n",
                        b64);
    add_malformed(a, "key-mgmt-45k", invite_with(head, "application/sdp", NULL, km, strlen(km)));
    add_malformed(a, "key-mgmt-not-base64",
                  invite_with(head, "application/sdp", NULL,
                              "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                              "t=0 0\r\na=key-mgmt:mikey !!!%%%***\r\nm=audio 49170 RTP/SAVP 0\r\n",
                              strlen("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 "
                                     "127.0.0.1\r\nt=0 0\r\na=key-mgmt:mikey !!!%%%***\r\nm="
                                     "audio 49170 RTP/SAVP 0\r\n")));
  }
  /* other torture: CSeq, Max-Forwards, folding, garbage */
  add_malformed(a, "cseq-method-mismatch",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                            "Max-Forwards: 70\r\nFrom: <sip:mallory@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 1 OPTIONS\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  add_malformed(a, "cseq-huge",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                            "Max-Forwards: 70\r\nFrom: <sip:mallory@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 99999999999999999999999 INVITE\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  add_malformed(a, "max-forwards-negative",
                invite_with(INVITE_LINE
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                            "Max-Forwards: -1\r\nFrom: <sip:mallory@example.org>;tag=$B\r\n"
                            "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                            "CSeq: 1 INVITE\r\n",
                            "application/sdp", NULL, sdp, sdp_len));
  add_malformed(
      a, "folded-headers",
      invite_with(INVITE_LINE
                  "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\r\n"
                  "Max-Forwards: 70\r\nFrom:\r\n  <sip:mallory@example.org>\r\n\t;tag=$B\r\n"
                  "To: <sip:conference-factory@$H>\r\nCall-ID: $C@mallory\r\n"
                  "CSeq:\r\n 1\r\n INVITE\r\nSubject:\r\n\r\n",
                  "application/sdp", NULL, sdp, sdp_len));
  add_malformed(a, "bare-lf",
                invite_with("INVITE sip:conference-factory@$H SIP/2.0\n"
                            "Via: SIP/2.0/$T 127.0.0.1:$P;rport;branch=z9hG4bK$B\n"
                            "Max-Forwards: 70\nFrom: <sip:mallory@example.org>;tag=$B\n"
                            "To: <sip:conference-factory@$H>\nCall-ID: $C@mallory\n"
                            "CSeq: 1 INVITE\n",
                            "application/sdp", NULL, sdp, sdp_len));
  {
    guint8 junk[1500];
    for (guint i = 0; i < sizeof junk; i++)
      junk[i] = (guint8)g_random_int();
    add_malformed(a, "random-bytes", g_bytes_new(junk, sizeof junk));
    add_malformed(a, "empty-lines", g_bytes_new_static("\r\n\r\n\r\n\r\n", 8));
  }
  return a;
}

/* Until mikeyconfd's main thread is idle (under 20 ms of CPU in 500 ms; at most 15 s): the
 * work of an earlier test (a flood's transactions ending) is not counted against a message. */
static void wait_main_thread_idle(void)
{
  for (guint i = 0; i < 30; i++) {
    gint64 c0 = cpu_ms(H.confd_pid, H.confd_pid);
    sleep_ms(500);
    if (cpu_ms(H.confd_pid, H.confd_pid) - c0 < 20)
      return;
  }
}

static void check_malformed(gboolean tcp)
{
  const char *tr = tcp ? "TCP" : "UDP";
  GArray *set = malformed_set(tcp);
  wait_main_thread_idle();
  gint64 rss0 = proc_rss_kib(H.confd_pid), rss_max = rss0;
  for (guint i = 0; i < set->len; i++) {
    Malformed *m = &g_array_index(set, Malformed, i);
    /* the main thread's: SIP is parsed there (the media workers and SQLite's checkpointer,
     * still busy after the floods, have threads of their own) */
    gint64 cpu0 = cpu_ms(H.confd_pid, H.confd_pid);
    g_autofree char *a = sip_raw(tcp, m->msg, MALFORMED_ANSWER_MS);
    /* never accepted */
    g_assert_false(a && g_str_has_prefix(a, "SIP/2.0 2"));
    options_ok(tcp);
    gint64 cpu = cpu_ms(H.confd_pid, H.confd_pid) - cpu0;
    g_test_message("%s %s (%zu bytes): %s; %" G_GINT64_FORMAT " ms of CPU", tr, m->name,
                   g_bytes_get_size(m->msg), a ? a : "no answer", cpu);
    /* no message costs the daemon much (its main loop serves nothing else meanwhile) */
    g_assert_cmpint(cpu, <, MALFORMED_CPU_MAX_MS);
    rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
    g_bytes_unref(m->msg);
  }
  g_test_message("%s: %u malformed messages; mikeyconfd RSS %" G_GINT64_FORMAT
                 " KiB before, at most %" G_GINT64_FORMAT " after one",
                 tr, set->len, rss0, rss_max);
  g_assert_cmpint(rss_max - rss0, <, RSS_GROWTH_MAX_KIB);
  g_array_unref(set);
}

static void test_malformed_sip(void)
{
  check_malformed(FALSE);
  check_malformed(TRUE);
  g_assert_true(wait_until(no_sip_legs, NULL, RUN_TIMEOUT_MS));
  Outcome c = outcome_of(create_spawn(10, NULL));
  g_assert_cmpint(c.status, ==, 200);
  outcome_clear(&c);
}

/* ------------------------------------------------------------------ abuse: pending resolves */

/* Datagrams the kernel dropped on mikeyconfd's SIP socket (its receive buffer full): the
 * last column of its line in /proc/net/udp. */
static gint64 sip_socket_drops(void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents("/proc/net/udp", &text, NULL, NULL))
    return -1;
  g_autofree char *local = g_strdup_printf("0100007F:%04X ", H.sip_port);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 1; lines[i]; i++)
    if (strstr(lines[i], local)) {
      g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " ", -1);
      guint n = g_strv_length(f);
      return n ? g_ascii_strtoll(f[n - 1], NULL, 10) : -1;
    }
  return -1;
}

/* One round: the KMS frozen, RESOLVE_INVITES INVITEs at RESOLVE_RATE a second; while they pile up
 * OPTIONS and mikeyconfctl answer; past the cap 503 at once; the KMS back, every one answered.
 * Returns the largest RSS seen (KiB). */
static gint64 pending_resolves_round(guint round, const char *user, const char *inf)
{
  gint64 busy0 = stat_int("resolves.busy");
  gint64 invites0 = stat_int("sip.invites"), started0 = stat_int("resolves.started");
  gint64 rss_max = proc_rss_kib(H.confd_pid);
  gint64 drops0 = sip_socket_drops();
  gint64 cpu0 = cpu_ms(H.confd_pid, 0);
  kill(H.kms_pid, SIGSTOP);
  g_autofree char *calls = g_strdup_printf("%d", RESOLVE_INVITES);
  gint64 t0 = g_get_monotonic_time();
  Proc *s = sipp_spawn("uac-invite-key-mgmt.xml", user, calls, RESOLVE_RATE, inf);
  gint64 peak = 0, busy = 0, arrived = 0;
  /* until every INVITE has arrived (a datagram lost on the way comes again, SIPp retransmits) */
  for (guint i = 0; i < 40 && arrived < RESOLVE_INVITES; i++) {
    sleep_ms(500);
    /* UDP datagrams are dropped when the socket buffer overflows (on a loaded machine the
     * daemon may not get the CPU to keep up with the flood): a client retransmits */
    options_ok_within(FALSE, FLOODED_OPTIONS_WAIT_MS);
    gint64 t1 = g_get_monotonic_time();
    gint64 in_flight = stat_int("resolves.in_flight");
    gint64 ctl_ms = (g_get_monotonic_time() - t1) / 1000;
    busy = stat_int("resolves.busy") - busy0;
    arrived = busy + stat_int("resolves.started") - started0;
    peak = MAX(peak, in_flight);
    rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
    g_test_message("round %u, %.1f s: %" G_GINT64_FORMAT
                   " resolves in flight (stats answered in %" G_GINT64_FORMAT
                   " ms), %" G_GINT64_FORMAT " refused as busy",
                   round, (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, in_flight, ctl_ms,
                   busy);
  }
  /* the cap held, and every INVITE past it was refused at once (503) */
  g_assert_cmpint(peak, >=, RESOLVE_CAP * 9 / 10);
  g_assert_cmpint(stat_int("resolves.max_in_flight"), ==, RESOLVE_CAP);
  g_test_message("round %u: %" G_GINT64_FORMAT " INVITEs so far, %" G_GINT64_FORMAT
                 " resolves; %" G_GINT64_FORMAT " datagrams dropped (socket buffer full); "
                 "mikeyconfd CPU %" G_GINT64_FORMAT " ms",
                 round, stat_int("sip.invites") - invites0, stat_int("resolves.started") - started0,
                 sip_socket_drops() - drops0, cpu_ms(H.confd_pid, 0) - cpu0);
  g_assert_cmpint(arrived, ==, RESOLVE_INVITES);
  g_assert_cmpint(busy, ==, RESOLVE_INVITES - RESOLVE_CAP);
  rss_max = MAX(rss_max, proc_rss_kib(H.confd_pid));
  /* the KMS back: the pending resolves are answered (403: the MAC); SIPp saw no other answer */
  kill(H.kms_pid, SIGCONT);
  g_assert_cmpint(sipp_finish(s, "pending resolves"), ==, 0);
  g_test_message("round %u: %d INVITEs answered in %.1f s; peak %" G_GINT64_FORMAT
                 " resolves in flight; mikeyconfd RSS at most %" G_GINT64_FORMAT " KiB",
                 round, RESOLVE_INVITES, (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC,
                 peak, rss_max);
  g_test_message("round %u: %" G_GINT64_FORMAT " INVITEs, %" G_GINT64_FORMAT
                 " resolves, %" G_GINT64_FORMAT " busy",
                 round, stat_int("sip.invites") - invites0, stat_int("resolves.started") - started0,
                 stat_int("resolves.busy") - busy0);
  g_assert_cmpint(stat_int("resolves.in_flight"), ==, 0);
  g_assert_true(wait_until(no_sip_legs, NULL, RUN_TIMEOUT_MS));
  /* the server transactions live on for T4 (5 s) after the ACK (RFC 3261 17.2.1) */
  sleep_ms(SETTLE_MS);
  return rss_max;
}

static void test_pending_resolves(void)
{
  if (!need_sipp())
    return;
  g_autofree char *extra = g_strdup_printf("max-resolves=%d\nkms-timeout=30\n", RESOLVE_CAP);
  confd_restart(extra);
  const char *oextra[] = { "--participant", BOB, "--duration", "1", NULL };
  Owner own = owner_start(oextra);
  g_autoptr(JsonParser) op = NULL;
  owner_finish(&own, &op, 0);
  /* one real TRANSFER_INIT of bob's for the conference, its MAC tampered so that no call can
   * be admitted; the KMS resolves its ticket all the same */
  g_autoptr(GBytes) ti = transfer_init_for(H.bob, own.uri, UA_FAULT_TAMPER_MAC);
  g_autofree char *b64 = g_base64_encode(g_bytes_get_data(ti, NULL), g_bytes_get_size(ti));
  g_autofree char *inf = g_build_filename(H.tmp, "ti.csv", NULL);
  g_autofree char *csv = g_strdup_printf("SEQUENTIAL\n%s;\n", b64);
  g_assert_true(g_file_set_contents(inf, csv, -1, NULL));
  g_autofree char *user = user_of(own.uri);

  /* memory is bounded by the cap (a budget per pending resolve), and a second round the same
   * as the first reuses what the first one used: its peak may be a little higher (the
   * allocator's fragmentation, about 10 % here) but nowhere near another round's worth, which
   * a leak of the pending state would add. Smaller leaks are LeakSanitizer's (sanitizer
   * build, at the clean exits of confd_restart). */
  gint64 rss0 = proc_rss_kib(H.confd_pid);
  gint64 max1 = pending_resolves_round(1, user, inf);
  gint64 max2 = pending_resolves_round(2, user, inf);
  gint64 after = proc_rss_kib(H.confd_pid);
  g_test_message("mikeyconfd RSS: %" G_GINT64_FORMAT " KiB before, peaks %" G_GINT64_FORMAT
                 " and %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " after: %.1f KiB per pending "
                 "resolve",
                 rss0, max1, max2, after, (double)(max1 - rss0) / RESOLVE_CAP);
  g_assert_cmpint(max1 - rss0, <, (gint64)RESOLVE_CAP * PENDING_RESOLVE_MAX_KIB);
  g_assert_cmpint(max2 - max1, <, (max1 - rss0) / 4);
  confd_restart(NULL);
  creation_and_join_work();
  g_free(own.uri);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Sanitizer builds: ASan keeps freed memory in a quarantine (256 MiB by default) that the
   * daemons' RSS would show as growth; with a small one the memory bounds mean something. */
  const char *asan = g_getenv("ASAN_OPTIONS");
  g_autofree char *opts =
      g_strdup_printf("%s%squarantine_size_mb=16", asan ? asan : "", asan && *asan ? ":" : "");
  g_setenv("ASAN_OPTIONS", opts, TRUE);
  harness_setup();
  sipp_path = g_find_program_in_path("sipp");
  /* first, while the database is small (the limit must sit just above its size) */
  g_test_add_func("/faults/sqlite-write-failure", test_sqlite_write_failure);
  g_test_add_func("/faults/kms-killed-burst", test_kms_killed_burst);
  g_test_add_func("/faults/confd-kill9-burst", test_confd_kill9_burst);
  g_test_add_func("/faults/kms-tls-wrong", test_kms_tls_wrong);
  g_test_add_func("/abuse/sipp-floods", test_sipp_floods);
  g_test_add_func("/abuse/malformed-sip", test_malformed_sip);
  g_test_add_func("/abuse/pending-resolves", test_pending_resolves);
  int status = g_test_run();
  if (focus_cred_orig && H.focus_cred != focus_cred_orig) {
    g_free(H.focus_cred);
    H.focus_cred = focus_cred_orig;
  }
  g_free(sipp_path);
  harness_teardown(status);
  return status;
}
