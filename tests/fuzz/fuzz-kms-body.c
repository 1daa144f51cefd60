/* fuzz-kms-body: the body of a POST /mikey as mikeykmsd handles it — kms_engine_handle()
 * (src/kms/engine.c) over a real store (SQLite, PSKs and TPKs under the KEK) — the whole path
 * after the HTTP layer: T window, PSK-ID lookup, MAC, replay cache, user state, ticket opening,
 * policy and grant rules, resolve authorisation, the answer and its log line.
 *
 * The store holds scenario A's parties (tests/data/exchange): alice (may create) and the focus
 * (resolves for the factory and conference URIs) with their PSK IDs and PSKs, and the TPK
 * generation of the vectors, so the corpus's REQUEST_INIT and RESOLVE_INIT go through. Each
 * input is handled twice at most:
 *   1. as received, at the T of scenario A's request of that type;
 *   2. when it was refused and parses as a request: signed again with the PSK of the user its
 *      PSK ID names (or alice's, or the focus's for a RESOLVE_INIT), a RESOLVE_INIT's ticket
 *      with the TPK, and handled at the T it carries — what an authenticated but hostile user
 *      can send, which takes the fuzzer past the MACs and the clock into the policy code.
 * Every input gets a new engine (an empty replay cache): no state between inputs but the
 * store's ticket log.
 *
 * Invariants (abort() otherwise, a finding): the status is 200, 400 or 403; a 200 carries a
 * body that opens with the requester's PSK as the answer to this request (REQUEST_RESP or
 * RESOLVE_RESP); every answer has a log line; no log line holds a PSK or the TPK in hex.
 * FUZZ_KMS_BODY_VERBOSE=1 in the environment prints each answer's status and log line. */
#include "fuzz.h"
#include "scenario.h"

#include "kms/engine.h"
#include "kms/kmsconf.h"
#include "kms/metrics.h"
#include "kms/store.h"

#include "common/log.h"
#include "exchange.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-kms-body: invariant broken at %s:%d: %s\n", __FILE__, __LINE__,        \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define A_PSK_ID_ALICE "92dcd4c50b902f83158482794251584b"
#define A_PSK_ID_FOCUS "f4b9e4156a9c39070f3a317f1fc3dca7"
#define A_T_REQUEST_INIT G_GUINT64_CONSTANT(0xed00b6101a2b0000)

static struct {
  char *dir;
  KmsStore *store;
  KmsConfig cfg;
  KmsMetrics *metrics;
  MikeySecret *psk_alice, *psk_focus, *tpk;
  GBytes *psk_id_alice, *psk_id_focus;
} k;

static void remove_state(void)
{
  kms_store_free(k.store);
  g_autofree char *cmd = NULL;
  const char *names[] = { "kms.db", "kms.db-wal", "kms.db-shm", "kek", NULL };
  for (guint i = 0; names[i]; i++) {
    g_autofree char *p = g_build_filename(k.dir, "state", names[i], NULL);
    g_unlink(p);
  }
  g_autofree char *state = g_build_filename(k.dir, "state", NULL);
  g_rmdir(state);
  g_rmdir(k.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  CHECK(log_init("fuzz-kms-body", "error", NULL));
  g_autoptr(GError) error = NULL;
  k.dir = g_dir_make_tmp("fuzz-kms-body-XXXXXX", &error);
  CHECK(k.dir != NULL);
  g_autofree char *state = g_build_filename(k.dir, "state", NULL);
  k.store = kms_store_open(state, TRUE, &error);
  CHECK(k.store != NULL);
  atexit(remove_state);
  kms_config_init_defaults(&k.cfg);
  g_free(k.cfg.kms_uri);
  k.cfg.kms_uri = g_strdup(KMS);
  k.metrics = kms_metrics_new();

  k.psk_alice = fz_hex_secret(A_PSK_ALICE);
  k.psk_focus = fz_hex_secret(A_PSK_FOCUS);
  k.tpk = fz_hex_secret(A_TPK);
  k.psk_id_alice = fz_hex_bytes(A_PSK_ID_ALICE);
  k.psk_id_focus = fz_hex_bytes(A_PSK_ID_FOCUS);
  static const char *const focus_patterns[] = { "sip:conference-factory@*", "sip:conf-*@*", NULL };
  KmsUser *u =
      kms_store_user_add_with_key(k.store, ALICE, TRUE, NULL, k.psk_id_alice, k.psk_alice, &error);
  CHECK(u != NULL);
  kms_user_free(u);
  u = kms_store_user_add_with_key(k.store, FOCUS, FALSE, focus_patterns, k.psk_id_focus,
                                  k.psk_focus, &error);
  CHECK(u != NULL);
  kms_user_free(u);
  g_autoptr(GBytes) gen = fz_hex_bytes(A_TPK_ID);
  CHECK(kms_store_tpk_import(k.store, gen, k.tpk, &error));
  return 0;
}

/* No secret of the store in a log line (hex, either case). */
static void check_log_line(const char *line)
{
  CHECK(line != NULL && *line);
  g_autofree char *lower = g_ascii_strdown(line, -1);
  CHECK(strstr(lower, A_PSK_ALICE) == NULL);
  CHECK(strstr(lower, A_PSK_FOCUS) == NULL);
  CHECK(strstr(lower, A_TPK) == NULL);
}

/* The PSK of the requester a parsed request names by its PSK ID (NULL: unknown). */
static const MikeySecret *psk_of(const MikeyKmsRequest *req)
{
  if (req->psk_id == NULL)
    return NULL;
  if (g_bytes_equal(req->psk_id, k.psk_id_alice))
    return k.psk_alice;
  if (g_bytes_equal(req->psk_id, k.psk_id_focus))
    return k.psk_focus;
  return NULL;
}

/* Handles body at now; checks the answer. Returns its status. */
static guint handle(GBytes *body, guint64 now)
{
  KmsEngine *engine = kms_engine_new(k.store, &k.cfg, k.metrics);
  KmsAnswer a;
  memset(&a, 0, sizeof a);
  kms_engine_handle(engine, body, now, "192.0.2.7", &a);
  CHECK(a.status == 200 || a.status == 400 || a.status == 403);
  check_log_line(a.log_line);
  if (a.status == 200) {
    CHECK(a.body != NULL);
    MikeyKmsRequest req;
    CHECK(mikey_kms_request_parse(body, &req, NULL));
    const MikeySecret *psk = psk_of(&req);
    CHECK(psk != NULL);
    g_autoptr(GError) error = NULL;
    if (req.msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK) {
      MikeyTicketGrant grant;
      gboolean ok = mikey_request_resp_open(a.body, body, psk, &grant, &error);
      if (!ok)
        fprintf(stderr, "fuzz-kms-body: REQUEST_RESP: %s\n", error->message);
      CHECK(ok);
      mikey_ticket_grant_clear(&grant);
    } else {
      MikeyResolvedKeys keys;
      gboolean ok = mikey_resolve_resp_open(a.body, body, psk, &keys, &error);
      if (!ok)
        fprintf(stderr, "fuzz-kms-body: RESOLVE_RESP: %s\n", error->message);
      CHECK(ok);
      mikey_resolved_keys_clear(&keys);
    }
    mikey_kms_request_clear(&req);
  }
  if (g_getenv("FUZZ_KMS_BODY_VERBOSE"))
    fprintf(stderr, "fuzz-kms-body: %u %s\n", a.status, a.log_line);
  guint status = a.status;
  kms_answer_clear(&a);
  kms_engine_free(engine);
  return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) body = g_bytes_new(data, size);
  MikeyHdr hdr;
  memset(&hdr, 0, sizeof hdr);
  gboolean resolve =
      mikey_hdr_peek(data, size, &hdr, NULL) && hdr.data_type == MIKEY_DT_RESOLVE_INIT_PSK;
  mikey_hdr_clear(&hdr);
  if (handle(body, resolve ? A_T_RESOLVE_INIT : A_T_REQUEST_INIT) == 200)
    return 0;

  MikeyKmsRequest req;
  if (!mikey_kms_request_parse(body, &req, NULL))
    return 0;
  const MikeySecret *psk = psk_of(&req);
  gboolean request = req.msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK;
  if (psk == NULL)
    psk = request ? k.psk_alice : k.psk_focus;
  guint64 t = req.t;
  g_autoptr(GBytes) again = fz_kms_request_resign(&req, psk, request ? ALICE : FOCUS, k.tpk);
  mikey_kms_request_clear(&req);
  if (again != NULL)
    handle(again, t);
  return 0;
}
