/* The KMS's decisions (src/kms/engine.c) against profile.md §3 (refusal table and check order)
 * and §5 (ticket grant rules), with a real KmsStore in a temporary state directory and messages
 * built by the MIKEY library. For every refusal: the HTTP status, the ERR code, and whether the
 * Error carries a V and that it verifies with the request's initial auth key. For every success:
 * the other end (mikey_request_resp_open / mikey_resolve_resp_open) accepts the answer, and both
 * ends of a Ticket Transfer derive the same SRTP keys. The golden vectors of
 * tests/data/exchange (scenarios A and C) run through the engine too. */
#include "kms/engine.h"
#include "kms/kmsconf.h"
#include "kms/metrics.h"
#include "kms/store.h"

#include "common/log.h"
#include "mikey/exchange.h"
#include "mikey/kdf.h"
#include "mikey/ntp.h"
#include "mikey/policy.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsMetrics, kms_metrics_free)

#define KMS_URI "kms.example.org"
#define ALICE "sip:alice@example.org"
#define BOB "sip:bob@example.org"
#define CAROL "sip:carol@example.org"
#define DAVE "sip:dave@example.org"
#define FOCUS "sip:focus@conf.example.org"
#define FACTORY "sip:conference-factory@conf.example.org"
#define CONF "sip:conf-0123456789abcdef0123456789abcdef@conf.example.org"
#define PEER "192.0.2.7"

#define FLAGS_DEFAULT                                                                              \
  (MIKEY_TP_D | MIKEY_TP_E | MIKEY_TP_F | MIKEY_TP_G | MIKEY_TP_H | MIKEY_TP_I | MIKEY_TP_J |      \
   MIKEY_TP_N | MIKEY_TP_O)

/* 2026-01-01T09:00:00.102Z, scenario A's REQUEST_INIT T */
#define NOW0 G_GUINT64_CONSTANT(0xed00b6101a2b0000)
#define SEC(n) ((guint64)(n) << 32)

/* ------------------------------------------------------------------ fixture */

typedef struct {
  char *dir;
  KmsStore *store;
  KmsConfig cfg;
  KmsMetrics *metrics;
  KmsEngine *engine;
  KmsUser *alice, *bob, *focus, *dave;
  guint64 now;
  guint32 csb;
} Fx;

static const char *const focus_patterns[] = { "sip:conference-factory@*", "sip:conf-*@*", NULL };

static void fx_setup(Fx *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  memset(fx, 0, sizeof *fx);
  fx->dir = g_dir_make_tmp("kms-engine-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *state = g_build_filename(fx->dir, "state", NULL);
  fx->store = kms_store_open(state, TRUE, &error);
  g_assert_no_error(error);
  kms_config_init_defaults(&fx->cfg);
  g_free(fx->cfg.state_dir);
  fx->cfg.state_dir = g_strdup(state);
  fx->metrics = kms_metrics_new();
  fx->engine = kms_engine_new(fx->store, &fx->cfg, fx->metrics);
  fx->now = NOW0;
  fx->csb = 0x10000000;
  if (data != NULL) /* the golden-vector tests add their own users */
    return;
  fx->alice = kms_store_user_add(fx->store, ALICE, TRUE, NULL, &error);
  g_assert_no_error(error);
  fx->bob = kms_store_user_add(fx->store, BOB, FALSE, NULL, &error);
  g_assert_no_error(error);
  fx->focus = kms_store_user_add(fx->store, FOCUS, FALSE, focus_patterns, &error);
  g_assert_no_error(error);
  fx->dave = kms_store_user_add(fx->store, DAVE, TRUE, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(fx->alice->psk);
  g_assert_nonnull(fx->alice->psk_id);
}

static void rm_rf(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void fx_teardown(Fx *fx, gconstpointer data)
{
  kms_engine_free(fx->engine);
  kms_metrics_free(fx->metrics);
  kms_store_free(fx->store);
  kms_config_clear(&fx->cfg);
  kms_user_free(fx->alice);
  kms_user_free(fx->bob);
  kms_user_free(fx->focus);
  kms_user_free(fx->dave);
  rm_rf(fx->dir);
  g_free(fx->dir);
}

/* ------------------------------------------------------------------ message builders */

static GBytes *random_bytes(gsize n)
{
  guint8 *b = g_malloc(n);
  g_assert_true(mikey_random_bytes(b, n, NULL));
  return g_bytes_new_take(b, n);
}

/* A requested policy: recipients NULL-terminated. */
static void spec_init(MikeyPolicySpec *spec, MikeyPrf prf, guint16 flags, guint64 trs, guint64 tre,
                      const char *first, ...)
{
  memset(spec, 0, sizeof *spec);
  spec->prf = prf;
  spec->flags = flags;
  spec->idrkms = g_strdup(KMS_URI);
  spec->trs = trs;
  spec->tre = tre;
  spec->tr_type = MIKEY_TS_NTP_UTC;
  spec->idrr = g_ptr_array_new_with_free_func(g_free);
  va_list ap;
  va_start(ap, first);
  for (const char *r = first; r != NULL; r = va_arg(ap, const char *))
    g_ptr_array_add(spec->idrr, g_strdup(r));
  va_end(ap);
}

typedef struct {
  guint64 t;          /* 0: fx->now */
  const char *idri;   /* IDRi of the message; NULL: the user's identity */
  const char *idrkms; /* NULL: KMS_URI */
  gboolean no_psk_id; /* leave IDRpsk out */
} ReqOpts;

static GBytes *request_init(Fx *fx, const KmsUser *u, const MikeyPolicySpec *spec, const ReqOpts *o)
{
  ReqOpts none = { 0 };
  if (o == NULL)
    o = &none;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyRequestInitParams p = { .prf = spec->prf,
                               .csb_id = fx->csb++,
                               .t = o->t ? o->t : fx->now,
                               .randri = g_bytes_get_data(randri, NULL),
                               .randri_len = MIKEY_RAND_LEN,
                               .idri = o->idri ? o->idri : u->identity,
                               .idrkms = o->idrkms ? o->idrkms : KMS_URI,
                               .psk_id = o->no_psk_id ? NULL : u->psk_id,
                               .psk = u->psk,
                               .policy = spec };
  GBytes *init = mikey_request_init_build(&p, &error);
  g_assert_no_error(error);
  return init;
}

/* The default request: alice (or u) asks for FLAGS_DEFAULT, TRs = now, TRe = now + 1 h. */
static GBytes *simple_request(Fx *fx, const KmsUser *u, MikeyPrf prf, const char *first, ...)
{
  MikeyPolicySpec spec;
  spec_init(&spec, prf, FLAGS_DEFAULT, fx->now, fx->now + SEC(3600), NULL);
  va_list ap;
  va_start(ap, first);
  for (const char *r = first; r != NULL; r = va_arg(ap, const char *))
    g_ptr_array_add(spec.idrr, g_strdup(r));
  va_end(ap);
  GBytes *init = request_init(fx, u, &spec, NULL);
  mikey_policy_spec_clear(&spec);
  return init;
}

static GBytes *resolve_init(Fx *fx, const KmsUser *u, const MikeyPayload *ticket, const char *idrr,
                            guint64 t)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyResolveInitParams p = { ticket->u.ticket.prf,
                               fx->csb++,
                               t ? t : fx->now,
                               g_bytes_get_data(randrr, NULL),
                               MIKEY_RAND_LEN,
                               idrr,
                               KMS_URI,
                               ticket,
                               u->psk_id,
                               u->psk };
  GBytes *init = mikey_resolve_init_build(&p, &error);
  g_assert_no_error(error);
  return init;
}

/* The initial auth key of a REQUEST_INIT / RESOLVE_INIT (the key a V on its Error uses). */
static MikeySecret *init_auth_key(GBytes *init, const MikeySecret *psk)
{
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(init, NULL);
  g_assert_nonnull(msg);
  gboolean request = msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK;
  MikeyPayload *r =
      mikey_msg_find(msg, MIKEY_PT_RANDR, request ? MIKEY_RAND_ROLE_I : MIKEY_RAND_ROLE_R, 0);
  g_assert_nonnull(r);
  gsize len;
  const guint8 *rand = g_bytes_get_data(r->u.rand.data, &len);
  MikeyPrf prf = msg->hdr.prf;
  MikeySecret *key =
      mikey_kdf_msg(prf, psk, MIKEY_C_AUTH, msg->hdr.csb_id, MIKEY_LABEL_INITIAL,
                    request ? rand : NULL, request ? len : 0, request ? NULL : rand,
                    request ? 0 : len, (gsize)mikey_auth_key_len(mikey_suite_mac_alg(prf)), NULL);
  g_assert_nonnull(key);
  return key;
}

/* Signs a modified REQUEST_INIT again (V over it || IDRi || IDRkms), so that a test reaches the
 * policy checks with a structurally changed message. */
static GBytes *resign_request(MikeyMsg *msg, const MikeySecret *psk, const char *idri)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tmp = mikey_msg_encode(msg, &error);
  g_assert_no_error(error);
  g_autoptr(MikeySecret) auth = init_auth_key(tmp, psk);
  MikeyIov ids[2] = { { (const guint8 *)idri, strlen(idri) },
                      { (const guint8 *)KMS_URI, strlen(KMS_URI) } };
  GBytes *out = mikey_msg_sign(msg, auth, ids, 2, &error);
  g_assert_no_error(error);
  return out;
}

/* ------------------------------------------------------------------ assertions */

static void handle(Fx *fx, GBytes *body, guint64 now, KmsAnswer *a)
{
  kms_engine_handle(fx->engine, body, now ? now : fx->now, PEER, a);
  g_assert_nonnull(a->log_line);
  if (g_test_verbose())
    g_test_message("%u: %s", a->status, a->log_line);
}

/* A refusal: status, ERR (-1 = empty body), and V present (verifying with the initial auth key
 * of init under psk) or absent. */
static void assert_refused(const KmsAnswer *a, guint status, int err, gboolean with_v, GBytes *init,
                           const MikeySecret *psk)
{
  g_assert_cmpuint(a->status, ==, status);
  g_assert_true(strstr(a->log_line, "refused") != NULL);
  if (err < 0) {
    g_assert_null(a->body);
    return;
  }
  g_assert_nonnull(a->body);
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(a->body, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(msg->hdr.data_type, ==, MIKEY_DT_ERROR);
  g_assert_false(msg->hdr.v);
  MikeyPayload *e = mikey_msg_find(msg, MIKEY_PT_ERR, 0, 0);
  g_assert_nonnull(e);
  g_assert_cmpint(e->u.err.err_no, ==, err);
  g_assert_null(mikey_msg_find(msg, MIKEY_PT_ERR, 0, 1));
  MikeyPayload *v = mikey_msg_find(msg, MIKEY_PT_V, 0, 0);
  if (init != NULL) {
    g_autoptr(MikeyMsg) req = mikey_msg_parse_bytes(init, NULL);
    if (req != NULL) {
      g_assert_cmphex(msg->hdr.csb_id, ==, req->hdr.csb_id);
      g_assert_cmpuint(msg->hdr.prf, ==, req->hdr.prf);
    }
  }
  if (!with_v) {
    g_assert_null(v);
    return;
  }
  g_assert_nonnull(v);
  g_assert_nonnull(init);
  g_autoptr(MikeySecret) key = init_auth_key(init, psk);
  g_assert_true(mikey_msg_verify(msg, key, NULL, 0, &error));
  g_assert_no_error(error);
  /* and not with another key */
  g_autoptr(MikeySecret) other = mikey_secret_new_random(key->len, NULL);
  g_assert_false(mikey_msg_verify(msg, other, NULL, 0, NULL));
}

static void assert_log_has(const KmsAnswer *a, const char *needle)
{
  if (strstr(a->log_line, needle) == NULL)
    g_error("log line \"%s\" lacks \"%s\"", a->log_line, needle);
}

/* A log line never carries a key: neither the PSK (hex, either case) nor its bytes. */
static void assert_log_no_secret(const KmsAnswer *a, const MikeySecret *psk)
{
  g_autofree char *hex = g_malloc(psk->len * 2 + 1);
  for (gsize i = 0; i < psk->len; i++)
    g_snprintf(hex + 2 * i, 3, "%02x", psk->data[i]);
  g_autofree char *lower = g_ascii_strdown(a->log_line, -1);
  g_assert_null(strstr(lower, hex));
  g_assert_null(memmem(a->log_line, strlen(a->log_line), psk->data, psk->len));
}

/* Requests a ticket and opens the answer as the initiator would. */
static void get_ticket(Fx *fx, const KmsUser *u, GBytes *init, MikeyTicketGrant *grant)
{
  KmsAnswer a;
  handle(fx, init, 0, &a);
  if (a.status != 200)
    g_error("request refused: %s", a.log_line);
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_request_resp_open(a.body, init, u->psk, grant, &error));
  g_assert_no_error(error);
  kms_answer_clear(&a);
}

/* The granted policy of a ticket. */
static void grant_spec(const MikeyTicketGrant *grant, MikeyPolicySpec *spec)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_policy_spec_from_body(&grant->ticket->u.ticket, spec, &error));
  g_assert_no_error(error);
}

/* alice's TRANSFER_INIT to target with a granted ticket; view->ticket is the TICKET the
 * responder resolves (with Initiator Data). */
static GBytes *transfer_init(Fx *fx, const MikeyTicketGrant *grant, const char *idri,
                             const char *target, MikeyTransferInitView *view)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) randri = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferInitParams tp = { .prf = grant->ticket->u.ticket.prf,
                                 .csb_id = fx->csb++,
                                 .t = fx->now,
                                 .randri = g_bytes_get_data(randri, NULL),
                                 .randri_len = MIKEY_RAND_LEN,
                                 .idri = idri,
                                 .idrr = target,
                                 .ssrc = 0x11223344,
                                 .seq = 4711,
                                 .spi = grant->tgk_spi,
                                 .sdp_ids = "mikey",
                                 .grant = grant };
  GBytes *ti = mikey_transfer_init_build(&tp, &error);
  g_assert_no_error(error);
  g_assert_true(mikey_transfer_init_parse(ti, view, &error));
  g_assert_no_error(error);
  return ti;
}

/* ------------------------------------------------------------------ success: full flow */

/* alice requests a ticket naming the factory and bob; the focus resolves it for the factory;
 * the TRANSFER exchange completes and both ends derive the same SRTP keys. */
static void full_flow(Fx *fx, MikeyPrf prf)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, prf, FACTORY, BOB, NULL);
  KmsAnswer a;
  handle(fx, init, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  assert_log_has(&a, "request from " ALICE);
  assert_log_has(&a, "granted ticket");
  assert_log_no_secret(&a, fx->alice->psk);
  MikeyTicketGrant grant;
  g_assert_true(mikey_request_resp_open(a.body, init, fx->alice->psk, &grant, &error));
  g_assert_no_error(error);
  kms_answer_clear(&a);

  /* the grant: 1/1/1, the request's PRF and key lengths, forking, nothing changed (K = 0) */
  const MikeyTicketBody *tb = &grant.ticket->u.ticket;
  g_assert_cmpuint(tb->prf, ==, prf);
  g_assert_cmphex(tb->flags, ==, FLAGS_DEFAULT);
  g_assert_cmpuint(grant.mpki->len, ==, mikey_suite_key_len(prf));
  g_assert_cmpuint(grant.tgk->len, ==, mikey_suite_key_len(prf));
  g_assert_nonnull(grant.mpkr);
  g_assert_cmpuint(g_bytes_get_size(grant.tgk_spi), ==, MIKEY_SPI_LEN);
  g_assert_cmphex(grant.t, ==, fx->now);

  /* alice -> focus, focus -> KMS */
  MikeyTransferInitView view;
  g_autoptr(GBytes) ti = transfer_init(fx, &grant, ALICE, FACTORY, &view);
  fx->now += SEC(1);
  g_autoptr(GBytes) ri = resolve_init(fx, fx->focus, view.ticket, FACTORY, 0);
  handle(fx, ri, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  assert_log_has(&a, "resolve from " FOCUS);
  assert_log_has(&a, "resolved ticket");
  assert_log_no_secret(&a, fx->focus->psk);
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(a.body, ri, fx->focus->psk, &keys, &error));
  g_assert_no_error(error);
  kms_answer_clear(&a);
  /* the ticket's IDRr bytes, and a fresh RANDRkms (forking) */
  g_assert_cmpmem(g_bytes_get_data(keys.idrr, NULL), g_bytes_get_size(keys.idrr), FACTORY,
                  strlen(FACTORY));
  g_assert_nonnull(keys.randrkms);
  g_assert_cmpuint(g_bytes_get_size(keys.randrkms), ==, MIKEY_RAND_LEN);
  g_assert_true(mikey_secret_equal(keys.mpki, grant.mpki));
  g_assert_true(mikey_transfer_init_verify(&view, &keys, FACTORY, &error));
  g_assert_no_error(error);

  /* focus -> alice */
  guint8 policy;
  g_assert_true(mikey_transfer_choose_policy(&view, &policy, &error));
  g_autoptr(GBytes) randrr = random_bytes(MIKEY_RAND_LEN);
  MikeyTransferRespParams ap = {
    fx->now, g_bytes_get_data(randrr, NULL), MIKEY_RAND_LEN, policy, 0x55667788, 0, 1234
  };
  MikeyCsbState fs = { 0 }, as = { 0 };
  g_autoptr(GBytes) tr = mikey_transfer_resp_build(&view, &keys, &ap, &fs, &error);
  g_assert_no_error(error);
  MikeyTransferAnswer ans;
  g_assert_true(mikey_transfer_resp_open(tr, ti, &grant, &as, &ans, &error));
  g_assert_no_error(error);
  for (guint8 cs = 1; cs <= 2; cs++) {
    g_autoptr(MikeySecret) ka = NULL, sa = NULL, kf = NULL, sf = NULL;
    gsize salt_len = mikey_profile_salt_len(policy);
    g_assert_true(mikey_csb_srtp_keys(&as, cs, salt_len, &ka, &sa, &error));
    g_assert_true(mikey_csb_srtp_keys(&fs, cs, salt_len, &kf, &sf, &error));
    g_assert_no_error(error);
    g_assert_true(mikey_secret_equal(ka, kf));
    g_assert_true(mikey_secret_equal(sa, sf));
  }

  /* the ticket log knows the ticket and, after a flush, its resolve */
  g_assert_true(kms_store_flush(fx->store, &error));
  g_autoptr(GPtrArray) rows = kms_store_tickets(fx->store, NULL, 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(rows->len, ==, 1);
  KmsTicketRow *row = g_ptr_array_index(rows, 0);
  g_autofree char *fp = mikey_ticket_fingerprint(grant.ticket);
  g_assert_cmpstr(row->fingerprint, ==, fp);
  g_assert_cmpstr(row->requester, ==, ALICE);
  g_assert_cmpstr(row->recipients, ==, FACTORY " " BOB);
  g_assert_cmpint(row->trs, ==, mikey_ntp_to_unix_sec(NOW0));
  g_assert_cmpint(row->tre, ==, mikey_ntp_to_unix_sec(NOW0) + 3600);
  g_assert_cmpint(row->resolve_count, ==, 1);
  g_assert_cmpstr(row->last_resolver, ==, FOCUS);

  mikey_csb_state_clear(&fs);
  mikey_csb_state_clear(&as);
  mikey_resolved_keys_clear(&keys);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);
}

static void test_flow_prf1(Fx *fx, gconstpointer data)
{
  full_flow(fx, MIKEY_PRF_HMAC_SHA256);
}

static void test_flow_prf0(Fx *fx, gconstpointer data)
{
  full_flow(fx, MIKEY_PRF_HMAC_SHA1);
}

/* ------------------------------------------------------------------ §3 refusals: structure */

static void test_garbage(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) garbage = g_bytes_new_static("GET / HTTP/1.1\r\n\r\n", 18);
  handle(fx, garbage, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  handle(fx, empty, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
  handle(fx, NULL, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
  /* version 2: no HDR this KMS can read */
  static const guint8 v2[] = { 2, 11, 5, 0x81, 1, 2, 3, 4, 0, 1 };
  g_autoptr(GBytes) b = g_bytes_new_static(v2, sizeof v2);
  handle(fx, b, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
}

static GBytes *vector(const char *file)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "exchange", file, NULL);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
  return g_bytes_new(contents, len);
}

/* Never an Error to an Error: an Error message gets 400 with an empty body. */
static void test_error_message(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) e22 = vector("22-c-error_auth_failure.bin");
  handle(fx, e22, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
  g_autoptr(GBytes) e23 = vector("23-c-error_replay.bin");
  handle(fx, e23, 0, &a);
  assert_refused(&a, 400, -1, FALSE, NULL, NULL);
  kms_answer_clear(&a);
}

/* Other data types: 400 + ERR 11, no V. */
static void test_data_type(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) resp = vector("02-a-request_resp.bin"); /* data type 13 */
  handle(fx, resp, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_DT, FALSE, resp, NULL);
  assert_log_has(&a, "data type 13");
  kms_answer_clear(&a);
  g_autoptr(GBytes) ti = vector("03-a-transfer_init.bin"); /* 14 */
  handle(fx, ti, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_DT, FALSE, ti, NULL);
  kms_answer_clear(&a);
  /* an unknown data type: the HDR is there, so still an Error */
  static const guint8 dt30[] = { 1, 30, 0, 0x81, 0xde, 0xad, 0xbe, 0xef, 0, 1 };
  g_autoptr(GBytes) b = g_bytes_new_static(dt30, sizeof dt30);
  handle(fx, b, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_DT, FALSE, NULL, NULL);
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(a.body, NULL);
  g_assert_cmphex(msg->hdr.csb_id, ==, 0xdeadbeef);
  g_assert_cmpuint(msg->hdr.prf, ==, 1);
  kms_answer_clear(&a);
}

/* Body malformed or a required payload missing: 400 + ERR 12, no V. */
static void test_malformed(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  gsize len;
  const guint8 *d = g_bytes_get_data(init, &len);
  /* truncated */
  g_autoptr(GBytes) cut = g_bytes_new(d, len - 5);
  handle(fx, cut, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_UNSPECIFIED, FALSE, init, NULL);
  kms_answer_clear(&a);
  /* RANDRi removed (re-encoded, so it parses) */
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(init, NULL);
  MikeyPayload *r = mikey_msg_find(msg, MIKEY_PT_RANDR, MIKEY_RAND_ROLE_I, 0);
  g_ptr_array_remove(msg->payloads, r);
  g_autoptr(GBytes) no_rand = mikey_msg_encode(msg, NULL);
  handle(fx, no_rand, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_UNSPECIFIED, FALSE, init, NULL);
  kms_answer_clear(&a);
}

/* 128/256-bit mix: 400 + ERR 2 (TP PRF), 3 (V algorithm), 4 (KEMAC template encryption). */
static void test_suite_mix(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);

  g_autoptr(MikeyMsg) m2 = mikey_msg_parse_bytes(init, NULL);
  mikey_msg_find(m2, MIKEY_PT_TP, 0, 0)->u.ticket.prf = MIKEY_PRF_HMAC_SHA1;
  g_autoptr(GBytes) b2 = mikey_msg_encode(m2, NULL);
  handle(fx, b2, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_PRF, FALSE, init, NULL);
  kms_answer_clear(&a);

  g_autoptr(MikeyMsg) m3 = mikey_msg_parse_bytes(init, NULL);
  g_ptr_array_remove_index(m3->payloads, m3->payloads->len - 1);
  mikey_msg_add(m3, mikey_payload_new_v(MIKEY_MAC_HMAC_SHA1_160));
  g_autoptr(GBytes) b3 = mikey_msg_encode(m3, NULL);
  handle(fx, b3, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_MAC, FALSE, init, NULL);
  kms_answer_clear(&a);

  g_autoptr(MikeyMsg) m4 = mikey_msg_parse_bytes(init, NULL);
  guint8 zero[16] = { 0 };
  g_autoptr(GPtrArray) tmpl = mikey_key_data_list_new();
  g_autoptr(MikeySecret) z = mikey_secret_new_from_data(zero, 16);
  g_ptr_array_add(tmpl, mikey_key_data_new(MIKEY_KEY_TGK, z, NULL, 0));
  g_autoptr(MikeySecret) plain = mikey_key_data_encode(tmpl, NULL);
  g_autoptr(GBytes) enc = g_bytes_new(plain->data, plain->len);
  GPtrArray *tpd = mikey_msg_find(m4, MIKEY_PT_TP, 0, 0)->u.ticket.tp_data;
  g_ptr_array_insert(tpd, 4, mikey_payload_new_kemac(MIKEY_ENCR_AES_CM_128, enc, MIKEY_MAC_NULL));
  g_autoptr(GBytes) b4 = mikey_msg_encode(m4, NULL);
  handle(fx, b4, 0, &a);
  assert_refused(&a, 400, MIKEY_ERR_INVALID_EA, FALSE, init, NULL);
  kms_answer_clear(&a);
}

/* ------------------------------------------------------------------ §3 refusals: authentication */

/* T outside the window: 403 ERR 1, no V; the window is inclusive. COUNTER is refused. */
static void test_timestamp(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, fx->now, fx->now + SEC(3600), BOB, NULL);
  ReqOpts stale = { .t = fx->now - SEC(121) };
  g_autoptr(GBytes) old = request_init(fx, fx->alice, &spec, &stale);
  handle(fx, old, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, old, NULL);
  assert_log_has(&a, "outside");
  kms_answer_clear(&a);
  ReqOpts future = { .t = fx->now + SEC(121) };
  g_autoptr(GBytes) fut = request_init(fx, fx->alice, &spec, &future);
  handle(fx, fut, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, fut, NULL);
  kms_answer_clear(&a);
  ReqOpts edge = { .t = fx->now - SEC(120) };
  g_autoptr(GBytes) ok = request_init(fx, fx->alice, &spec, &edge);
  handle(fx, ok, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  /* the T check comes before the PSK lookup: an unknown PSK ID with a stale T is ERR 1 */
  g_autoptr(GBytes) old2 = request_init(fx, fx->alice, &spec, &stale);
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(old2, NULL);
  MikeyPayload *psk = mikey_msg_find(m, MIKEY_PT_IDR, MIKEY_ID_ROLE_PSK, 0);
  g_bytes_unref(psk->u.id.data);
  psk->u.id.data = random_bytes(16);
  g_autoptr(GBytes) b = mikey_msg_encode(m, NULL);
  handle(fx, b, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, b, NULL);
  kms_answer_clear(&a);

  /* COUNTER: refused as a T failure (profile 4) */
  g_autoptr(MikeyMsg) mc = mikey_msg_parse_bytes(ok, NULL);
  MikeyPayload *t = mikey_msg_find(mc, MIKEY_PT_T, 0, 0);
  t->u.t.ts_type = MIKEY_TS_COUNTER;
  t->u.t.value = 7;
  g_autoptr(GBytes) counter = resign_request(mc, fx->alice->psk, ALICE);
  handle(fx, counter, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, counter, NULL);
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);
}

/* Unknown PSK ID (or none): 403 ERR 7, no V. */
static void test_unknown_psk_id(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GError) error = NULL;
  /* a user the store does not know: same identity as alice, another PSK and PSK ID */
  KmsUser stranger = { 0 };
  stranger.identity = (char *)ALICE;
  stranger.psk_id = random_bytes(16);
  stranger.psk = mikey_secret_new_random(32, &error);
  g_autoptr(GBytes) init = simple_request(fx, &stranger, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  handle(fx, init, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, FALSE, init, NULL);
  assert_log_has(&a, "unknown PSK ID");
  g_autofree char *hex = log_hex(stranger.psk_id);
  assert_log_has(&a, hex);
  kms_answer_clear(&a);

  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, fx->now, fx->now + SEC(3600), BOB, NULL);
  ReqOpts none = { .no_psk_id = TRUE };
  g_autoptr(GBytes) no_id = request_init(fx, fx->alice, &spec, &none);
  handle(fx, no_id, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, FALSE, no_id, NULL);
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);
  g_bytes_unref(stranger.psk_id);
  mikey_secret_free(stranger.psk);
}

/* MAC failure: 403 ERR 0, no V. Also with the right PSK ID and a wrong PSK. */
static void test_forged_mac(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  gsize len;
  const guint8 *d = g_bytes_get_data(init, &len);
  guint8 *f = g_memdup2(d, len);
  f[len - 1] ^= 0x01;
  g_autoptr(GBytes) forged = g_bytes_new_take(f, len);
  handle(fx, forged, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_AUTH_FAILURE, FALSE, forged, NULL);
  assert_log_has(&a, ALICE); /* the PSK ID names the (claimed) user */
  kms_answer_clear(&a);
  /* the genuine message is not poisoned by the forgery (only authenticated messages enter the
   * replay cache) */
  handle(fx, init, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);

  KmsUser impostor = *fx->alice;
  impostor.psk = mikey_secret_new_random(32, NULL);
  g_autoptr(GBytes) init2 = simple_request(fx, &impostor, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  handle(fx, init2, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_AUTH_FAILURE, FALSE, init2, NULL);
  kms_answer_clear(&a);
  mikey_secret_free(impostor.psk);

  /* a resolve with a forged MAC */
  MikeyTicketGrant grant;
  g_autoptr(GBytes) r = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, NULL);
  get_ticket(fx, fx->alice, r, &grant);
  MikeyTransferInitView view;
  g_autoptr(GBytes) ti = transfer_init(fx, &grant, ALICE, FACTORY, &view);
  KmsUser fake_focus = *fx->focus;
  fake_focus.psk = mikey_secret_new_random(32, NULL);
  g_autoptr(GBytes) ri = resolve_init(fx, &fake_focus, view.ticket, FACTORY, 0);
  handle(fx, ri, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_AUTH_FAILURE, FALSE, ri, NULL);
  kms_answer_clear(&a);
  mikey_secret_free(fake_focus.psk);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);
}

/* Replay of an authenticated message: 403 ERR 1 with V (request and resolve). */
static void test_replay(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, NULL);
  MikeyTicketGrant grant;
  get_ticket(fx, fx->alice, init, &grant);
  handle(fx, init, fx->now + SEC(5), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, TRUE, init, fx->alice->psk);
  assert_log_has(&a, "replay");
  kms_answer_clear(&a);

  MikeyTransferInitView view;
  g_autoptr(GBytes) ti = transfer_init(fx, &grant, ALICE, FACTORY, &view);
  g_autoptr(GBytes) ri = resolve_init(fx, fx->focus, view.ticket, FACTORY, 0);
  handle(fx, ri, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  handle(fx, ri, fx->now + SEC(119), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, TRUE, ri, fx->focus->psk);
  kms_answer_clear(&a);
  /* after the window the T check refuses it (no V: not authenticated yet) */
  handle(fx, ri, fx->now + SEC(121), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, ri, NULL);
  kms_answer_clear(&a);

  /* a larger skew window (SIGHUP) does not reopen what the old window closed: seen at now
   * under 120 s, replayed at now + 300 s under 600 s */
  g_autoptr(GBytes) init2 = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  handle(fx, init2, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  fx->cfg.skew = 600;
  kms_engine_set_config(fx->engine, &fx->cfg);
  handle(fx, init2, fx->now + SEC(300), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, FALSE, init2, NULL);
  kms_answer_clear(&a);
  /* within the old window it is a replay (the old cache is still consulted) */
  handle(fx, init2, fx->now + SEC(100), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, TRUE, init2, fx->alice->psk);
  kms_answer_clear(&a);
  /* a message from after the change (the last message before it was handled at now + 121 s)
   * gets the new window */
  ReqOpts late = { .t = fx->now + SEC(300) };
  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, 0, 0, BOB, NULL);
  g_autoptr(GBytes) init3 = request_init(fx, fx->alice, &spec, &late);
  handle(fx, init3, fx->now + SEC(800), &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  handle(fx, init3, fx->now + SEC(850), &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TS, TRUE, init3, fx->alice->psk);
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);

  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);
}

/* User state: disabled user, IDRi not the PSK's owner, IDRkms not this KMS: 403 ERR 7 with V. */
static void test_user_state(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GError) error = NULL;
  g_assert_true(kms_store_user_disable(fx->store, DAVE, TRUE, &error));
  g_autoptr(GBytes) init = simple_request(fx, fx->dave, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  handle(fx, init, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, init, fx->dave->psk);
  assert_log_has(&a, "disabled");
  kms_answer_clear(&a);
  g_assert_true(kms_store_user_disable(fx->store, DAVE, FALSE, &error));
  g_autoptr(GBytes) init_again = simple_request(fx, fx->dave, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  handle(fx, init_again, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);

  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, fx->now, fx->now + SEC(3600), CAROL, NULL);
  /* alice's PSK, bob's identity */
  ReqOpts as_bob = { .idri = BOB };
  g_autoptr(GBytes) spoof = request_init(fx, fx->alice, &spec, &as_bob);
  handle(fx, spoof, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, spoof, fx->alice->psk);
  assert_log_has(&a, "not the PSK's owner");
  kms_answer_clear(&a);
  /* URI-equal is enough: scheme and host case-insensitive, parameters ignored */
  ReqOpts variant = { .idri = "SIP:alice@EXAMPLE.org;transport=tcp" };
  g_autoptr(GBytes) same = request_init(fx, fx->alice, &spec, &variant);
  handle(fx, same, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  /* but the user part is case-sensitive */
  ReqOpts upper = { .idri = "sip:Alice@example.org" };
  g_autoptr(GBytes) other = request_init(fx, fx->alice, &spec, &upper);
  handle(fx, other, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, other, fx->alice->psk);
  kms_answer_clear(&a);

  ReqOpts kms = { .idrkms = "kms.elsewhere.org" };
  g_autoptr(GBytes) elsewhere = request_init(fx, fx->alice, &spec, &kms);
  handle(fx, elsewhere, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, elsewhere, fx->alice->psk);
  assert_log_has(&a, "not this KMS");
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);

  /* a disabled resolver */
  MikeyTicketGrant grant;
  g_autoptr(GBytes) r = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, NULL);
  get_ticket(fx, fx->alice, r, &grant);
  MikeyTransferInitView view;
  g_autoptr(GBytes) ti = transfer_init(fx, &grant, ALICE, FACTORY, &view);
  g_assert_true(kms_store_user_disable(fx->store, FOCUS, TRUE, &error));
  g_autoptr(GBytes) ri = resolve_init(fx, fx->focus, view.ticket, FACTORY, 0);
  handle(fx, ri, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, ri, fx->focus->psk);
  kms_answer_clear(&a);
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);
}

/* ------------------------------------------------------------------ §3/§5 request policy */

static void test_non_creator_factory(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->bob, MIKEY_PRF_HMAC_SHA256, CAROL, FACTORY, NULL);
  handle(fx, init, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, init, fx->bob->psk);
  assert_log_has(&a, "may not create");
  kms_answer_clear(&a);
  /* another spelling of the factory URI is the same identity */
  g_autoptr(GBytes) init2 = simple_request(fx, fx->bob, MIKEY_PRF_HMAC_SHA256,
                                           "sip:conference-factory@CONF.example.org;lr", NULL);
  handle(fx, init2, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, init2, fx->bob->psk);
  kms_answer_clear(&a);
  /* bob may name a conference URI and people */
  g_autoptr(GBytes) ok = simple_request(fx, fx->bob, MIKEY_PRF_HMAC_SHA256, CONF, CAROL, NULL);
  handle(fx, ok, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
}

static void test_max_recipients(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  fx->cfg.max_recipients = 3;
  kms_engine_set_config(fx->engine, &fx->cfg);
  g_autoptr(GBytes) four =
      simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, BOB, CAROL, DAVE, NULL);
  handle(fx, four, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, four, fx->alice->psk);
  assert_log_has(&a, "recipients");
  kms_answer_clear(&a);
  g_autoptr(GBytes) three =
      simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, BOB, CAROL, NULL);
  handle(fx, three, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);

  /* the default is 256 */
  kms_config_clear(&fx->cfg);
  kms_config_init_defaults(&fx->cfg);
  kms_engine_set_config(fx->engine, &fx->cfg);
  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, fx->now, fx->now + SEC(3600), NULL);
  for (guint i = 0; i < 257; i++)
    g_ptr_array_add(spec.idrr, g_strdup_printf("sip:user%u@example.org", i));
  g_autoptr(GBytes) many = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, many, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, many, fx->alice->psk);
  kms_answer_clear(&a);
  g_ptr_array_remove_index(spec.idrr, 0);
  g_autoptr(GBytes) max = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, max, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  assert_log_has(&a, "256 recipients");
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);
}

/* No IDRr, TRe <= TRs, broken flag dependencies, ticket type not 1/1/1, a recipient that is not
 * a URI, another KMS in the TP. */
static void test_request_policy(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) base = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);

  /* no IDRr */
  g_autoptr(MikeyMsg) m1 = mikey_msg_parse_bytes(base, NULL);
  GPtrArray *tpd = mikey_msg_find(m1, MIKEY_PT_TP, 0, 0)->u.ticket.tp_data;
  g_ptr_array_remove(tpd, mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0));
  g_autoptr(GBytes) b1 = resign_request(m1, fx->alice->psk, ALICE);
  handle(fx, b1, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b1, fx->alice->psk);
  kms_answer_clear(&a);

  /* TRe <= TRs */
  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, fx->now, fx->now, BOB, NULL);
  g_autoptr(GBytes) b2 = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, b2, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b2, fx->alice->psk);
  kms_answer_clear(&a);
  spec.tre = fx->now - SEC(10);
  g_autoptr(GBytes) b2b = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, b2b, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b2b, fx->alice->psk);
  kms_answer_clear(&a);
  /* only a TRe, already past: the granted window would be empty */
  spec.trs = 0;
  spec.tre = fx->now - SEC(10);
  g_autoptr(GBytes) b2c = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, b2c, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b2c, fx->alice->psk);
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);

  /* I => E broken */
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT & ~MIKEY_TP_E, fx->now, fx->now + SEC(60),
            BOB, NULL);
  g_autoptr(GBytes) b3 = request_init(fx, fx->alice, &spec, NULL);
  handle(fx, b3, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b3, fx->alice->psk);
  assert_log_has(&a, "I => E");
  kms_answer_clear(&a);
  mikey_policy_spec_clear(&spec);

  /* ticket type 2 (3GPP) */
  g_autoptr(MikeyMsg) m4 = mikey_msg_parse_bytes(base, NULL);
  mikey_msg_find(m4, MIKEY_PT_TP, 0, 0)->u.ticket.ticket_type = MIKEY_TICKET_TYPE_3GPP_BASE;
  g_autoptr(GBytes) b4 = resign_request(m4, fx->alice->psk, ALICE);
  handle(fx, b4, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TICKET, TRUE, b4, fx->alice->psk);
  kms_answer_clear(&a);
  /* version 2 */
  g_autoptr(MikeyMsg) m5 = mikey_msg_parse_bytes(base, NULL);
  mikey_msg_find(m5, MIKEY_PT_TP, 0, 0)->u.ticket.version = 2;
  g_autoptr(GBytes) b5 = resign_request(m5, fx->alice->psk, ALICE);
  handle(fx, b5, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TICKET, TRUE, b5, fx->alice->psk);
  kms_answer_clear(&a);

  /* a recipient as a byte string (ID type 2) */
  g_autoptr(MikeyMsg) m6 = mikey_msg_parse_bytes(base, NULL);
  tpd = mikey_msg_find(m6, MIKEY_PT_TP, 0, 0)->u.ticket.tp_data;
  mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0)->u.id.id_type = MIKEY_ID_BYTES;
  g_autoptr(GBytes) b6 = resign_request(m6, fx->alice->psk, ALICE);
  handle(fx, b6, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b6, fx->alice->psk);
  kms_answer_clear(&a);

  /* the TP names another KMS */
  g_autoptr(MikeyMsg) m7 = mikey_msg_parse_bytes(base, NULL);
  tpd = mikey_msg_find(m7, MIKEY_PT_TP, 0, 0)->u.ticket.tp_data;
  MikeyPayload *k = mikey_chain_find(tpd, MIKEY_PT_IDR, MIKEY_ID_ROLE_KMS, 0);
  g_bytes_unref(k->u.id.data);
  k->u.id.data = g_bytes_new_static("kms.other.org", 13);
  g_autoptr(GBytes) b7 = resign_request(m7, fx->alice->psk, ALICE);
  handle(fx, b7, 0, &a);
  assert_refused(&a, 403, MIKEY_ERR_INVALID_TPPAR, TRUE, b7, fx->alice->psk);
  kms_answer_clear(&a);

  /* the unchanged request is fine */
  handle(fx, base, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
}

/* ------------------------------------------------------------------ §5 grant rules */

/* Requests spec and returns the granted policy (and flags). */
static void grant_for(Fx *fx, const MikeyPolicySpec *spec, const ReqOpts *o, MikeyPolicySpec *out,
                      MikeyTicketGrant *grant)
{
  g_autoptr(GBytes) init = request_init(fx, fx->alice, spec, o);
  get_ticket(fx, fx->alice, init, grant);
  grant_spec(grant, out);
}

static void test_grant_rules(Fx *fx, gconstpointer data)
{
  MikeyPolicySpec spec, got;
  MikeyTicketGrant grant;
  guint64 now = fx->now;

  /* exactly as requested: K = 0; IDRkms, IDRi, TRs, TRe, IDRr in order */
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, now, now + SEC(3600), FACTORY, BOB, CAROL,
            NULL);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  g_assert_cmpstr(got.idrkms, ==, KMS_URI);
  g_assert_cmpstr(got.idri, ==, ALICE);
  g_assert_cmphex(got.trs, ==, now);
  g_assert_cmphex(got.tre, ==, now + SEC(3600));
  g_assert_cmpuint(got.tr_type, ==, MIKEY_TS_NTP_UTC);
  g_assert_cmpuint(got.idrr->len, ==, 3);
  g_assert_cmpstr(g_ptr_array_index(got.idrr, 0), ==, FACTORY);
  g_assert_cmpstr(g_ptr_array_index(got.idrr, 1), ==, BOB);
  g_assert_cmpstr(g_ptr_array_index(got.idrr, 2), ==, CAROL);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);

  /* IDRi in the TP replaced by the authenticated requester (not counted as a change) */
  g_free(spec.idri);
  spec.idri = g_strdup("sip:mallory@example.org");
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmpstr(got.idri, ==, ALICE);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  /* a message without IDRi: the MAC covers the PSK owner's identity, who becomes IDRi */
  {
    g_autoptr(GBytes) init = request_init(fx, fx->alice, &spec, NULL);
    g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(init, NULL);
    g_ptr_array_remove(m->payloads, mikey_msg_find(m, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0));
    g_autoptr(GBytes) no_idri = resign_request(m, fx->alice->psk, ALICE);
    get_ticket(fx, fx->alice, no_idri, &grant);
    grant_spec(&grant, &got);
    g_assert_cmpstr(got.idri, ==, ALICE);
    mikey_policy_spec_clear(&got);
    mikey_ticket_grant_clear(&grant);
    /* signed as someone else: the MAC fails */
    g_autoptr(GBytes) as_bob = resign_request(m, fx->alice->psk, BOB);
    KmsAnswer a;
    handle(fx, as_bob, 0, &a);
    assert_refused(&a, 403, MIKEY_ERR_AUTH_FAILURE, FALSE, as_bob, NULL);
    kms_answer_clear(&a);
  }
  g_clear_pointer(&spec.idri, g_free);

  /* TRs in the past beyond the skew: now, and K */
  spec.trs = now - SEC(1000);
  spec.tre = now + SEC(600);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.trs, ==, now);
  g_assert_cmphex(got.tre, ==, now + SEC(600));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | MIKEY_TP_K);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);

  /* TRs within [now - skew, now + lifetime] is kept */
  spec.trs = now - SEC(100);
  spec.tre = now + SEC(600);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.trs, ==, now - SEC(100));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  spec.trs = now + SEC(3600);
  spec.tre = now + SEC(4000);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.trs, ==, now + SEC(3600));
  g_assert_cmphex(got.tre, ==, now + SEC(4000));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  /* too far in the future: now */
  spec.trs = now + SEC(3601);
  spec.tre = now + SEC(5000);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.trs, ==, now);
  g_assert_cmphex(got.tre, ==, now + SEC(3600));
  g_assert_true(got.flags & MIKEY_TP_K);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);

  /* TRe capped at TRs + lifetime */
  spec.trs = now;
  spec.tre = now + SEC(86400);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.tre, ==, now + SEC(3600));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | MIKEY_TP_K);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  /* ... with the configured lifetime */
  fx->cfg.ticket_lifetime = 600;
  kms_engine_set_config(fx->engine, &fx->cfg);
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.tre, ==, now + SEC(600));
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  fx->cfg.ticket_lifetime = 3600;
  kms_engine_set_config(fx->engine, &fx->cfg);

  /* no TRs/TRe: now .. now + lifetime, K */
  spec.trs = 0;
  spec.tre = 0;
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.trs, ==, now);
  g_assert_cmphex(got.tre, ==, now + SEC(3600));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | MIKEY_TP_K);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);

  /* NTP-UTC-32 in the request: NTP-UTC in the grant; a move of less than 1 s is no change */
  spec.trs = now;
  spec.tre = now + SEC(1800);
  spec.tr_type = MIKEY_TS_NTP_UTC_32;
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmpuint(got.tr_type, ==, MIKEY_TS_NTP_UTC);
  g_assert_cmphex(got.trs, ==, now & G_GUINT64_CONSTANT(0xffffffff00000000));
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  spec.tr_type = MIKEY_TS_NTP_UTC;

  /* other flags: I, L, M, J */
  spec.tre = now + SEC(1800);
  spec.flags = FLAGS_DEFAULT & ~MIKEY_TP_I;
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | MIKEY_TP_K);
  g_assert_nonnull(grant.mpkr); /* I = 1 in every grant: MPKr comes along */
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  spec.flags = FLAGS_DEFAULT | MIKEY_TP_L | MIKEY_TP_M;
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | MIKEY_TP_K);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  spec.flags = FLAGS_DEFAULT & ~MIKEY_TP_J; /* J as requested */
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT & ~MIKEY_TP_J);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  spec.flags = FLAGS_DEFAULT | MIKEY_TP_K; /* a K in the request is not kept */
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  mikey_policy_spec_clear(&spec);

  /* IDRapp passed through, TRr too */
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, now, now + SEC(600), BOB, NULL);
  spec.idrapp = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(spec.idrapp, g_strdup("urn:example:app"));
  spec.trr = 300;
  grant_for(fx, &spec, NULL, &got, &grant);
  g_assert_nonnull(got.idrapp);
  g_assert_cmpuint(got.idrapp->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(got.idrapp, 0), ==, "urn:example:app");
  g_assert_cmpuint(got.trr, ==, 300);
  g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT);
  mikey_policy_spec_clear(&got);
  mikey_ticket_grant_clear(&grant);
  mikey_policy_spec_clear(&spec);
}

/* K and the key template: one TGK of the suite's length is what is granted (K = 0); anything
 * else gets one TGK and K = 1. */
static GBytes *request_with_template(Fx *fx, const MikeyKeyType *types, guint n, gsize key_len)
{
  g_autoptr(GBytes) base = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, BOB, NULL);
  g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(base, NULL);
  g_autoptr(GPtrArray) tmpl = mikey_key_data_list_new();
  guint8 spi[4] = { 0 };
  for (guint i = 0; i < n; i++) {
    g_autoptr(MikeySecret) z = mikey_secret_new(key_len);
    g_ptr_array_add(tmpl, mikey_key_data_new(types[i], z, spi, sizeof spi));
  }
  g_autoptr(MikeySecret) plain = mikey_key_data_encode(tmpl, NULL);
  g_autoptr(GBytes) enc = g_bytes_new(plain->data, plain->len);
  GPtrArray *tpd = mikey_msg_find(m, MIKEY_PT_TP, 0, 0)->u.ticket.tp_data;
  /* TP Data: IDRkms, IDRi, TRs, TRe, KEMAC, IDRr */
  g_ptr_array_insert(tpd, 4, mikey_payload_new_kemac(MIKEY_ENCR_NULL, enc, MIKEY_MAC_NULL));
  return resign_request(m, fx->alice->psk, ALICE);
}

static void test_grant_key_template(Fx *fx, gconstpointer data)
{
  MikeyTicketGrant grant;
  MikeyPolicySpec got;
  static const MikeyKeyType one_tgk[] = { MIKEY_KEY_TGK };
  static const MikeyKeyType two[] = { MIKEY_KEY_TGK, MIKEY_KEY_TGK };
  static const MikeyKeyType tek[] = { MIKEY_KEY_TEK };
  struct {
    const MikeyKeyType *types;
    guint n;
    gsize len;
    gboolean k;
  } cases[] = {
    { one_tgk, 1, 32, FALSE },
    { one_tgk, 1, 16, TRUE },
    { two, 2, 32, TRUE },
    { tek, 1, 32, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) init = request_with_template(fx, cases[i].types, cases[i].n, cases[i].len);
    get_ticket(fx, fx->alice, init, &grant);
    grant_spec(&grant, &got);
    g_assert_cmphex(got.flags, ==, FLAGS_DEFAULT | (cases[i].k ? MIKEY_TP_K : 0));
    /* the granted policy carries no KEMAC template; one TGK of 32 bytes */
    g_assert_null(mikey_chain_find(grant.ticket->u.ticket.tp_data, MIKEY_PT_KEMAC, 0, 0));
    g_assert_cmpuint(grant.tgk->len, ==, 32);
    mikey_policy_spec_clear(&got);
    mikey_ticket_grant_clear(&grant);
  }
}

/* ------------------------------------------------------------------ resolve refusals */

typedef struct {
  MikeyTicketGrant grant;
  MikeyTransferInitView view;
  GBytes *ti;
} Issued;

/* alice's ticket for recipients (NULL-terminated), transferred to target. */
static void issue(Fx *fx, Issued *is, const char *target, guint64 trs, guint64 tre,
                  const char *first, ...)
{
  MikeyPolicySpec spec;
  spec_init(&spec, MIKEY_PRF_HMAC_SHA256, FLAGS_DEFAULT, trs, tre, NULL);
  va_list ap;
  va_start(ap, first);
  for (const char *r = first; r != NULL; r = va_arg(ap, const char *))
    g_ptr_array_add(spec.idrr, g_strdup(r));
  va_end(ap);
  g_autoptr(GBytes) init = request_init(fx, fx->alice, &spec, NULL);
  get_ticket(fx, fx->alice, init, &is->grant);
  is->ti = transfer_init(fx, &is->grant, ALICE, target, &is->view);
  mikey_policy_spec_clear(&spec);
}

static void issued_clear(Issued *is)
{
  mikey_transfer_init_view_clear(&is->view);
  mikey_ticket_grant_clear(&is->grant);
  g_clear_pointer(&is->ti, g_bytes_unref);
}

static void resolve_expect(Fx *fx, const KmsUser *u, const MikeyPayload *ticket, const char *idrr,
                           guint64 now, guint status, int err, gboolean with_v, const char *log)
{
  KmsAnswer a;
  g_autoptr(GBytes) ri = resolve_init(fx, u, ticket, idrr, now);
  handle(fx, ri, now, &a);
  if (status == 200) {
    if (a.status != 200)
      g_error("resolve refused: %s", a.log_line);
    MikeyResolvedKeys keys;
    g_autoptr(GError) error = NULL;
    g_assert_true(mikey_resolve_resp_open(a.body, ri, u->psk, &keys, &error));
    g_assert_no_error(error);
    mikey_resolved_keys_clear(&keys);
  } else {
    assert_refused(&a, status, err, with_v, ri, u->psk);
  }
  if (log != NULL)
    assert_log_has(&a, log);
  kms_answer_clear(&a);
}

static void test_resolve_not_named(Fx *fx, gconstpointer data)
{
  Issued is;
  issue(fx, &is, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, BOB, NULL);
  /* the focus asks for a conference URI the ticket does not name */
  resolve_expect(fx, fx->focus, is.view.ticket, CONF, 0, 403, MIKEY_ERR_INVALID_ID, TRUE,
                 "not named by the ticket");
  /* named with another spelling: URI-equal is enough, the ticket's bytes come back */
  KmsAnswer a;
  g_autoptr(GBytes) ri =
      resolve_init(fx, fx->focus, is.view.ticket, "sip:conference-factory@Conf.Example.ORG", 0);
  handle(fx, ri, 0, &a);
  g_assert_cmpuint(a.status, ==, 200);
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(a.body, ri, fx->focus->psk, &keys, NULL));
  g_assert_cmpmem(g_bytes_get_data(keys.idrr, NULL), g_bytes_get_size(keys.idrr), FACTORY,
                  strlen(FACTORY));
  mikey_resolved_keys_clear(&keys);
  kms_answer_clear(&a);
  issued_clear(&is);
}

static void test_resolve_outside_patterns(Fx *fx, gconstpointer data)
{
  Issued is;
  issue(fx, &is, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, BOB, CONF, NULL);
  /* bob is named, but the focus may not resolve for bob */
  resolve_expect(fx, fx->focus, is.view.ticket, BOB, 0, 403, MIKEY_ERR_INVALID_ID, TRUE,
                 "may not resolve for");
  /* the conference URI matches sip:conf-*@* */
  resolve_expect(fx, fx->focus, is.view.ticket, CONF, 0, 200, 0, FALSE, NULL);
  /* bob resolving for himself (RFC 6043: the authenticated Responder named by the ticket) */
  resolve_expect(fx, fx->bob, is.view.ticket, BOB, 0, 200, 0, FALSE, NULL);
  /* without IDRr the resolver asks for itself (the MAC covers its identity) */
  {
    g_autoptr(GBytes) ri = resolve_init(fx, fx->bob, is.view.ticket, BOB, 0);
    g_autoptr(MikeyMsg) m = mikey_msg_parse_bytes(ri, NULL);
    g_ptr_array_remove(m->payloads, mikey_msg_find(m, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0));
    g_autoptr(GBytes) no_idrr = resign_request(m, fx->bob->psk, BOB);
    KmsAnswer a;
    handle(fx, no_idrr, 0, &a);
    g_assert_cmpuint(a.status, ==, 200);
    MikeyResolvedKeys keys;
    g_assert_true(mikey_resolve_resp_open(a.body, no_idrr, fx->bob->psk, &keys, NULL));
    g_assert_cmpmem(g_bytes_get_data(keys.idrr, NULL), g_bytes_get_size(keys.idrr), BOB,
                    strlen(BOB));
    mikey_resolved_keys_clear(&keys);
    kms_answer_clear(&a);
    /* the focus without IDRr asks for its own identity, which the ticket does not name */
    g_autoptr(GBytes) fri = resolve_init(fx, fx->focus, is.view.ticket, FACTORY, 0);
    g_autoptr(MikeyMsg) fm = mikey_msg_parse_bytes(fri, NULL);
    g_ptr_array_remove(fm->payloads, mikey_msg_find(fm, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, 0));
    g_autoptr(GBytes) fno = resign_request(fm, fx->focus->psk, FOCUS);
    handle(fx, fno, 0, &a);
    assert_refused(&a, 403, MIKEY_ERR_INVALID_ID, TRUE, fno, fx->focus->psk);
    kms_answer_clear(&a);
  }
  /* bob may not resolve for the factory */
  resolve_expect(fx, fx->bob, is.view.ticket, FACTORY, 0, 403, MIKEY_ERR_INVALID_ID, TRUE, NULL);
  /* a narrower resolves-for list takes effect at once */
  g_autoptr(GError) error = NULL;
  const char *const only_conf[] = { "sip:conf-*@*", NULL };
  g_assert_true(kms_store_user_set(fx->store, FOCUS, -1, only_conf, &error));
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, 0, 403, MIKEY_ERR_INVALID_ID, TRUE, NULL);
  issued_clear(&is);
}

static void test_resolve_validity(Fx *fx, gconstpointer data)
{
  Issued is;
  guint64 t0 = fx->now;
  issue(fx, &is, FACTORY, t0, t0 + SEC(600), FACTORY, NULL);
  /* valid until TRe, strictly */
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, t0 + SEC(599), 200, 0, FALSE, NULL);
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, t0 + SEC(600), 403,
                 MIKEY_ERR_INVALID_TICKET, TRUE, "expired");
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, t0 + SEC(7200), 403,
                 MIKEY_ERR_INVALID_TICKET, TRUE, "expired");
  issued_clear(&is);

  /* not yet valid: TRs later than now + skew */
  issue(fx, &is, FACTORY, t0 + SEC(1800), t0 + SEC(3600), FACTORY, NULL);
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, t0, 403, MIKEY_ERR_INVALID_TICKET, TRUE,
                 "not yet valid");
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, t0 + SEC(1800 - 120), 200, 0, FALSE, NULL);
  issued_clear(&is);
}

/* Ticket bytes changed: Ticket Data, the policy (covered by the ticket MAC), an unknown TPK
 * generation, no Initiator Data with I = 1, a wrong Vr. */
static void test_resolve_tampered(Fx *fx, gconstpointer data)
{
  Issued is;
  issue(fx, &is, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, BOB, NULL);
  g_autoptr(GError) error = NULL;

  /* a byte of Ticket Data (inside the sealed KEMAC) */
  g_autoptr(MikeyPayload) t1 = mikey_payload_dup(is.view.ticket, &error);
  gsize len;
  guint8 *td = g_bytes_unref_to_data(t1->u.ticket.ticket_data, &len);
  td[len / 2] ^= 0x40;
  t1->u.ticket.ticket_data = g_bytes_new_take(td, len);
  resolve_expect(fx, fx->focus, t1, FACTORY, 0, 403, MIKEY_ERR_INVALID_TICKET, TRUE, NULL);

  /* the policy: J cleared, an IDRr added */
  g_autoptr(MikeyPayload) t2 = mikey_payload_dup(is.view.ticket, &error);
  t2->u.ticket.flags &= ~MIKEY_TP_J;
  resolve_expect(fx, fx->focus, t2, FACTORY, 0, 403, MIKEY_ERR_INVALID_TICKET, TRUE, NULL);
  g_autoptr(MikeyPayload) t3 = mikey_payload_dup(is.view.ticket, &error);
  g_ptr_array_add(t3->u.ticket.tp_data, mikey_payload_new_idr_uri(MIKEY_ID_ROLE_R, CONF));
  resolve_expect(fx, fx->focus, t3, CONF, 0, 403, MIKEY_ERR_INVALID_TICKET, TRUE, NULL);

  /* an unknown TPK generation: the generation id inside Ticket Data replaced */
  g_autoptr(GBytes) gen = NULL;
  g_assert_true(kms_store_tpk_current(fx->store, &gen, NULL, &error));
  g_autoptr(MikeyPayload) t4 = mikey_payload_dup(is.view.ticket, &error);
  td = g_bytes_unref_to_data(t4->u.ticket.ticket_data, &len);
  guint8 *at = memmem(td, len, g_bytes_get_data(gen, NULL), g_bytes_get_size(gen));
  g_assert_nonnull(at);
  at[0] ^= 0xff;
  t4->u.ticket.ticket_data = g_bytes_new_take(td, len);
  resolve_expect(fx, fx->focus, t4, FACTORY, 0, 403, MIKEY_ERR_INVALID_TICKET, TRUE,
                 "unknown TPK generation");

  /* Initiator Data missing although I = 1 */
  g_autoptr(MikeyPayload) t5 = mikey_payload_dup(is.view.ticket, &error);
  g_bytes_unref(t5->u.ticket.initiator_data);
  t5->u.ticket.initiator_data = g_bytes_new(NULL, 0);
  resolve_expect(fx, fx->focus, t5, FACTORY, 0, 403, MIKEY_ERR_INVALID_TICKET, TRUE,
                 "Initiator Data");

  /* a wrong Vr (the last byte of the Initiator Data): ERR 0 with V */
  g_autoptr(MikeyPayload) t6 = mikey_payload_dup(is.view.ticket, &error);
  guint8 *id = g_bytes_unref_to_data(t6->u.ticket.initiator_data, &len);
  id[len - 1] ^= 0x01;
  t6->u.ticket.initiator_data = g_bytes_new_take(id, len);
  resolve_expect(fx, fx->focus, t6, FACTORY, 0, 403, MIKEY_ERR_AUTH_FAILURE, TRUE, NULL);

  /* the genuine ticket still resolves */
  resolve_expect(fx, fx->focus, is.view.ticket, FACTORY, 0, 200, 0, FALSE, NULL);
  issued_clear(&is);
}

/* A ticket issued before a TPK rotation resolves until it expires; new tickets use the new
 * generation. */
static void test_resolve_after_rotation(Fx *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Issued old;
  issue(fx, &old, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, NULL);
  g_autoptr(GBytes) gen = kms_store_tpk_rotate(fx->store, &error);
  g_assert_no_error(error);
  Issued fresh;
  issue(fx, &fresh, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, NULL);
  g_assert_nonnull(memmem(g_bytes_get_data(fresh.view.ticket->u.ticket.ticket_data, NULL),
                          g_bytes_get_size(fresh.view.ticket->u.ticket.ticket_data),
                          g_bytes_get_data(gen, NULL), g_bytes_get_size(gen)));
  resolve_expect(fx, fx->focus, old.view.ticket, FACTORY, 0, 200, 0, FALSE, NULL);
  resolve_expect(fx, fx->focus, fresh.view.ticket, FACTORY, 0, 200, 0, FALSE, NULL);
  issued_clear(&old);
  issued_clear(&fresh);
}

/* The creator's may-create revoked between request and resolve: ERR 15 at resolve. A ticket
 * without a factory is not affected. */
static void test_resolve_creator_revoked(Fx *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  Issued creation, join;
  issue(fx, &creation, FACTORY, fx->now, fx->now + SEC(3600), FACTORY, BOB, NULL);
  issue(fx, &join, CONF, fx->now, fx->now + SEC(3600), CONF, NULL);
  g_assert_true(kms_store_user_set(fx->store, ALICE, 0, NULL, &error));
  g_assert_no_error(error);
  resolve_expect(fx, fx->focus, creation.view.ticket, FACTORY, 0, 403, MIKEY_ERR_INVALID_TPPAR,
                 TRUE, "may no longer create");
  resolve_expect(fx, fx->focus, join.view.ticket, CONF, 0, 200, 0, FALSE, NULL);
  /* allowed again */
  g_assert_true(kms_store_user_set(fx->store, ALICE, 1, NULL, &error));
  resolve_expect(fx, fx->focus, creation.view.ticket, FACTORY, 0, 200, 0, FALSE, NULL);
  /* the creator removed altogether */
  g_assert_true(kms_store_user_remove(fx->store, ALICE, &error));
  resolve_expect(fx, fx->focus, creation.view.ticket, FACTORY, 0, 403, MIKEY_ERR_INVALID_TPPAR,
                 TRUE, "no longer a user");
  issued_clear(&creation);
  issued_clear(&join);
}

/* ------------------------------------------------------------------ golden vectors */

static JsonParser *vectors;

static JsonObject *scenario_inputs(const char *s)
{
  JsonObject *root = json_node_get_object(json_parser_get_root(vectors));
  JsonObject *sc =
      json_object_get_object_member(json_object_get_object_member(root, "scenarios"), s);
  return json_object_get_object_member(sc, "inputs");
}

static const char *in_hex(const char *s, const char *name)
{
  JsonObject *in = scenario_inputs(s);
  if (!json_object_has_member(in, name))
    g_error("scenario %s has no input %s", s, name);
  return json_object_get_string_member(json_object_get_object_member(in, name), "hex");
}

static GBytes *in_bytes(const char *s, const char *name)
{
  g_autoptr(MikeySecret) b = mikey_secret_new_from_hex(in_hex(s, name), NULL);
  g_assert_nonnull(b);
  return g_bytes_new(b->data, b->len);
}

static MikeySecret *in_secret(const char *s, const char *name)
{
  MikeySecret *b = mikey_secret_new_from_hex(in_hex(s, name), NULL);
  g_assert_nonnull(b);
  return b;
}

static guint64 in_u64(const char *s, const char *name)
{
  return g_ascii_strtoull(in_hex(s, name), NULL, 16);
}

static KmsUser *import_user(Fx *fx, const char *s, const char *identity, const char *who,
                            gboolean may_create, const char *const *resolves_for)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *psk_name = g_strdup_printf("PSK(%s)", who);
  g_autofree char *id_name = g_strdup_printf("PSK ID(%s)", who);
  g_autoptr(MikeySecret) psk = in_secret(s, psk_name);
  g_autoptr(GBytes) psk_id = in_bytes(s, id_name);
  KmsUser *u = kms_store_user_add_with_key(fx->store, identity, may_create, resolves_for, psk_id,
                                           psk, &error);
  g_assert_no_error(error);
  g_assert_nonnull(u);
  return u;
}

static void golden_store(Fx *fx)
{
  g_autoptr(GError) error = NULL;
  fx->alice = import_user(fx, "A", ALICE, "alice", TRUE, NULL);
  fx->focus = import_user(fx, "A", FOCUS, "focus", FALSE, focus_patterns);
  fx->bob = import_user(fx, "C", BOB, "bob", FALSE, NULL);
  g_autoptr(MikeySecret) tpk = in_secret("A", "TPK");
  g_autoptr(GBytes) gen = in_bytes("A", "TPK generation id");
  g_assert_true(kms_store_tpk_import(fx->store, gen, tpk, &error));
  g_assert_no_error(error);
}

/* Scenario A: 01 is accepted at its T and the REQUEST_RESP opens with alice's PSK and grants
 * what 02 grants (the same policy: K = 0); the focus's 04 resolves with the vectors' TPK and
 * gives the vectors' MPKi. */
static void test_golden_a(Fx *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  golden_store(fx);
  KmsAnswer a;
  g_autoptr(GBytes) r01 = vector("01-a-request_init.bin");
  handle(fx, r01, in_u64("A", "T(REQUEST_INIT)"), &a);
  g_assert_cmpuint(a.status, ==, 200);
  MikeyTicketGrant grant;
  g_assert_true(mikey_request_resp_open(a.body, r01, fx->alice->psk, &grant, &error));
  g_assert_no_error(error);
  kms_answer_clear(&a);
  g_autoptr(GBytes) r02 = vector("02-a-request_resp.bin");
  g_autoptr(MikeyMsg) m02 = mikey_msg_parse_bytes(r02, NULL);
  MikeyPayload *want = mikey_msg_find(m02, MIKEY_PT_TICKET, 0, 0);
  /* the granted policy is byte-identical to the vectors' (TP Data), flags too */
  g_assert_cmphex(grant.ticket->u.ticket.flags, ==, want->u.ticket.flags);
  g_autoptr(GBytes) got_tpd = mikey_chain_encode(grant.ticket->u.ticket.tp_data, TRUE, NULL);
  g_autoptr(GBytes) want_tpd = mikey_chain_encode(want->u.ticket.tp_data, TRUE, NULL);
  g_assert_true(g_bytes_equal(got_tpd, want_tpd));
  mikey_ticket_grant_clear(&grant);

  g_autoptr(GBytes) r04 = vector("04-a-resolve_init.bin");
  handle(fx, r04, in_u64("A", "T(RESOLVE_INIT)"), &a);
  g_assert_cmpuint(a.status, ==, 200);
  MikeyResolvedKeys keys;
  g_assert_true(mikey_resolve_resp_open(a.body, r04, fx->focus->psk, &keys, &error));
  g_assert_no_error(error);
  JsonObject *root = json_node_get_object(json_parser_get_root(vectors));
  JsonObject *im = json_object_get_object_member(
      json_object_get_object_member(json_object_get_object_member(root, "scenarios"), "A"),
      "intermediates");
  g_autoptr(MikeySecret) mpki = mikey_secret_new_from_hex(
      json_object_get_string_member(json_object_get_object_member(im, "MPKi"), "value"), NULL);
  g_assert_true(mikey_secret_equal(keys.mpki, mpki));
  g_assert_cmpmem(g_bytes_get_data(keys.idrr, NULL), g_bytes_get_size(keys.idrr), FACTORY,
                  strlen(FACTORY));
  mikey_resolved_keys_clear(&keys);
  kms_answer_clear(&a);
}

static void assert_body_is(const KmsAnswer *a, const char *file)
{
  g_autoptr(GBytes) want = vector(file);
  g_assert_nonnull(a->body);
  g_assert_cmpmem(g_bytes_get_data(a->body, NULL), g_bytes_get_size(a->body),
                  g_bytes_get_data(want, NULL), g_bytes_get_size(want));
}

/* Scenario C: 21 gives exactly 22 (403, ERR 0, no V), 01 again gives exactly 23 (ERR 1 with
 * V), bob's 24 gives exactly 25 (ERR 15 with V). */
static void test_golden_c(Fx *fx, gconstpointer data)
{
  golden_store(fx);
  KmsAnswer a;
  g_autoptr(GBytes) r21 = vector("21-c-request_init_bad_mac.bin");
  handle(fx, r21, in_u64("C", "T(Error auth failure)"), &a);
  g_assert_cmpuint(a.status, ==, 403);
  assert_body_is(&a, "22-c-error_auth_failure.bin");
  kms_answer_clear(&a);

  g_autoptr(GBytes) r01 = vector("01-a-request_init.bin");
  handle(fx, r01, in_u64("A", "T(REQUEST_INIT)"), &a);
  g_assert_cmpuint(a.status, ==, 200);
  kms_answer_clear(&a);
  handle(fx, r01, in_u64("C", "T(Error replay)"), &a);
  g_assert_cmpuint(a.status, ==, 403);
  assert_body_is(&a, "23-c-error_replay.bin");
  kms_answer_clear(&a);

  g_autoptr(GBytes) r24 = vector("24-c-request_init_bob_factory.bin");
  handle(fx, r24, in_u64("C", "T(Error TPpar)"), &a);
  g_assert_cmpuint(a.status, ==, 403);
  assert_body_is(&a, "25-c-error_tppar.bin");
  assert_log_has(&a, BOB);
  kms_answer_clear(&a);
}

/* ------------------------------------------------------------------ metrics and logs */

static void test_metrics(Fx *fx, gconstpointer data)
{
  KmsAnswer a;
  g_autoptr(GBytes) init = simple_request(fx, fx->alice, MIKEY_PRF_HMAC_SHA256, FACTORY, NULL);
  MikeyTicketGrant grant;
  get_ticket(fx, fx->alice, init, &grant);
  handle(fx, init, 0, &a); /* replay */
  kms_answer_clear(&a);
  g_autoptr(GBytes) garbage = g_bytes_new_static("xx", 2);
  handle(fx, garbage, 0, &a);
  kms_answer_clear(&a);
  MikeyTransferInitView view;
  g_autoptr(GBytes) ti = transfer_init(fx, &grant, ALICE, FACTORY, &view);
  resolve_expect(fx, fx->focus, view.ticket, FACTORY, 0, 200, 0, FALSE, NULL);
  resolve_expect(fx, fx->focus, view.ticket, BOB, 0, 403, MIKEY_ERR_INVALID_ID, TRUE, NULL);

  g_autofree char *text = kms_metrics_render(fx->metrics, 4);
  if (g_test_verbose())
    g_test_message("%s", text);
  static const char *const lines[] = {
    "# TYPE mikeykmsd_requests_total counter\n",
    "mikeykmsd_requests_total{type=\"request\",outcome=\"ok\"} 1\n",
    "mikeykmsd_requests_total{type=\"request\",outcome=\"replay\"} 1\n",
    "mikeykmsd_requests_total{type=\"other\",outcome=\"malformed\"} 1\n",
    "mikeykmsd_requests_total{type=\"resolve\",outcome=\"ok\"} 1\n",
    "mikeykmsd_requests_total{type=\"resolve\",outcome=\"id\"} 1\n",
    "# TYPE mikeykmsd_request_duration_seconds histogram\n",
    "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"0.0005\"} ",
    "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"1\"} 2\n",
    "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"+Inf\"} 2\n",
    "mikeykmsd_request_duration_seconds_count{type=\"resolve\"} 2\n",
    "mikeykmsd_tickets_issued_total 1\n",
    "mikeykmsd_tickets_resolved_total 1\n",
    "# TYPE mikeykmsd_users gauge\nmikeykmsd_users 4\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS(lines); i++)
    if (strstr(text, lines[i]) == NULL)
      g_error("metrics lack \"%s\":\n%s", lines[i], text);
  /* every sample line is "name{labels} value" or "name value" */
  g_auto(GStrv) ls = g_strsplit(text, "\n", -1);
  for (guint i = 0; ls[i] != NULL; i++) {
    if (ls[i][0] == '\0' || ls[i][0] == '#')
      continue;
    g_assert_true(g_regex_match_simple("^[a-z_]+(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})? "
                                       "[0-9.e+-]+$",
                                       ls[i], 0, 0));
  }
  mikey_transfer_init_view_clear(&view);
  mikey_ticket_grant_clear(&grant);

  /* unit: buckets are cumulative, the boundary belongs to its bucket */
  g_autoptr(KmsMetrics) m = kms_metrics_new();
  kms_metrics_count(m, KMS_REQ_REQUEST, "ok", 0.0005);
  kms_metrics_count(m, KMS_REQ_REQUEST, "ok", 0.3);
  kms_metrics_count(m, KMS_REQ_REQUEST, "ok", 5);
  kms_metrics_count(m, KMS_REQ_OTHER, "bad label\"", 0);
  g_autofree char *t2 = kms_metrics_render(m, 0);
  g_assert_nonnull(
      strstr(t2, "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"0.0005\"} 1\n"));
  g_assert_nonnull(
      strstr(t2, "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"0.25\"} 1\n"));
  g_assert_nonnull(
      strstr(t2, "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"0.5\"} 2\n"));
  g_assert_nonnull(
      strstr(t2, "mikeykmsd_request_duration_seconds_bucket{type=\"request\",le=\"+Inf\"} 3\n"));
  g_assert_nonnull(strstr(t2, "mikeykmsd_request_duration_seconds_count{type=\"request\"} 3\n"));
  g_assert_nonnull(strstr(t2, "outcome=\"bad_label_\"} 1\n"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_init("test-kms-engine", g_test_verbose() ? "debug" : "error", NULL);
  g_autofree char *path =
      g_test_build_filename(G_TEST_DIST, "data", "exchange", "exchange.json", NULL);
  vectors = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(vectors, path, &error))
    g_error("%s: %s", path, error->message);

#define ADD(name, fn) g_test_add("/kms-engine/" name, Fx, NULL, fx_setup, fn, fx_teardown)
#define ADD_GOLDEN(name, fn)                                                                       \
  g_test_add("/kms-engine/" name, Fx, "golden", fx_setup, fn, fx_teardown)
  ADD("flow/prf1", test_flow_prf1);
  ADD("flow/prf0", test_flow_prf0);
  ADD("refuse/garbage", test_garbage);
  ADD("refuse/error-message", test_error_message);
  ADD("refuse/data-type", test_data_type);
  ADD("refuse/malformed", test_malformed);
  ADD("refuse/suite-mix", test_suite_mix);
  ADD("refuse/timestamp", test_timestamp);
  ADD("refuse/unknown-psk-id", test_unknown_psk_id);
  ADD("refuse/forged-mac", test_forged_mac);
  ADD("refuse/replay", test_replay);
  ADD("refuse/user-state", test_user_state);
  ADD("request/non-creator-factory", test_non_creator_factory);
  ADD("request/max-recipients", test_max_recipients);
  ADD("request/policy", test_request_policy);
  ADD("grant/rules", test_grant_rules);
  ADD("grant/key-template", test_grant_key_template);
  ADD("resolve/not-named", test_resolve_not_named);
  ADD("resolve/outside-patterns", test_resolve_outside_patterns);
  ADD("resolve/validity", test_resolve_validity);
  ADD("resolve/tampered", test_resolve_tampered);
  ADD("resolve/after-rotation", test_resolve_after_rotation);
  ADD("resolve/creator-revoked", test_resolve_creator_revoked);
  ADD_GOLDEN("golden/a", test_golden_a);
  ADD_GOLDEN("golden/c", test_golden_c);
  ADD("metrics", test_metrics);
  int rc = g_test_run();
  g_object_unref(vectors);
  return rc;
}
