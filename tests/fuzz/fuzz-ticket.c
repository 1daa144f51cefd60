/* fuzz-ticket: the MIKEY-TICKET exchanges (exchange.h) on the bytes a peer can send.
 *
 * The input is one MIKEY message, handed to every place such bytes reach:
 *   - the KMS: mikey_kms_request_parse(), mikey_kms_request_verify() with the requester's PSK,
 *     mikey_ticket_open() of its TICKET (a TPK lookup that knows any generation id), the
 *     authorisation of RESOLVE_INIT (its IDRr among the ticket's IDRr), the ticket policy
 *     (policy.h, MikeyPolicySpec), and the answers: a sealed ticket in REQUEST_RESP
 *     (mikey_request_resp_build) and mikey_kms_resolve_respond();
 *   - the focus: mikey_transfer_init_parse(), mikey_transfer_choose_policy(),
 *     mikey_transfer_init_verify() with the resolved keys, mikey_transfer_resp_build(), and
 *     for a CSB update mikey_csb_update_verify() / mikey_csb_update_resp_build();
 *   - the clients, taking it as the answer to the golden requests: mikey_request_resp_open(),
 *     mikey_resolve_resp_open(), mikey_transfer_resp_open(), mikey_csb_update_resp_open();
 *   - mikey_error_build() for the header, as the KMS answers a refusal.
 * Keys and golden messages are scenario A of tests/data/exchange (PSKs, TPK, MPKi/MPKr, the
 * resolved MPKr'/TGK'), so the vectors in the corpus go all the way through.
 *
 * A MAC would stop any mutated message at the first check. So when the V (and, for a TICKET,
 * the base-ticket MAC) of a message does not verify, the harness signs it again with the right
 * key and runs it once more: this is what an authenticated but hostile peer can send (alice
 * holds her PSK; the initiator holds MPKi), and it takes the fuzzer past the MACs into the
 * policy, Initiator Data, key forking and key data code.
 *
 * Invariants of our code (abort() when broken, a finding): a message we signed verifies; a
 * ticket we sealed opens; a REQUEST_RESP / RESOLVE_RESP / TRANSFER_RESP we built opens at our
 * own client; a ticket policy survives MikeyPolicySpec and back; an Error we built parses and
 * reads as that Error. */
#include "fuzz.h"

#include "scenario.h"

#include "exchange.h"
#include "kdf.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-ticket: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Prints a library error before an invariant check fails on it. */
#define CHECK_OK(ok, error)                                                                        \
  do {                                                                                             \
    gboolean ok_ = (ok);                                                                           \
    if (!ok_)                                                                                      \
      fprintf(stderr, "fuzz-ticket: %s\n", (error) ? (error)->message : "(no error set)");         \
    CHECK(ok_);                                                                                    \
  } while (0)

/* tests/data/exchange/01-a-request_init.bin */
static const char golden_request_init_hex[] =
    "010b0581e11c756300010f00ed00b6101a2b00000e0120a249d6ecba588cd82441a9ec95a40ba9f1518d5d34"
    "e810f4de9ef7b0954d9d490e010100157369703a616c696365406578616d706c652e6f7267100301000f6b6d"
    "732e6578616d706c652e6f72670e0001010103fc6000a30e0e0301000f6b6d732e6578616d706c652e6f7267"
    "0d010100157369703a616c696365406578616d706c652e6f72670d0200ed00b6101a2b00000e0300ed00c420"
    "1a2b00000e020100277369703a636f6e666572656e63652d666163746f727940636f6e662e6578616d706c65"
    "2e6f72670e020100137369703a626f62406578616d706c652e6f726700020100157369703a6361726f6c4065"
    "78616d706c652e6f7267090402001092dcd4c50b902f83158482794251584b000288494b06bfb7437d939532"
    "9949817c25d4a9d556facb9fc3f309ef3df96fd9b5";
/* tests/data/exchange/03-a-transfer_init.bin */
static const char golden_transfer_init_hex[] =
    "010e05819240cb8902020100820001000a8a3f12c400000000126704f86a100d0200820001000a0000000000"
    "000000000004f86a100d0f00ed00b611800000000e01208a371133700be608d91b8da88ad893d9150356052f"
    "4e39d0037274353fcc1b6a0e010100157369703a616c696365406578616d706c652e6f72670a020100277369"
    "703a636f6e666572656e63652d666163746f727940636f6e662e6578616d706c652e6f72670a0000000c0001"
    "0601011004010c140110150100001200010101011002010103011404010e0b010a110100056d696b65790900"
    "01010103fc6000a30e0e0301000f6b6d732e6578616d706c652e6f72670d010100157369703a616c69636540"
    "6578616d706c652e6f72670d0200ed00b6101a2b00000e0300ed00c4201a2b00000e020100277369703a636f"
    "6e666572656e63652d666163746f727940636f6e662e6578616d706c652e6f72670e020100137369703a626f"
    "62406578616d706c652e6f726700020100157369703a6361726f6c406578616d706c652e6f726700bd050000"
    "0b00ed00b6103f000000012082888402b427cc213336a1e211ea743ae85b26bebd4130421aed62eb13e2352f"
    "0e030052abc18986192b53ce4bc644231484359c9229be87e2d4d36390e233966df536834941b5adcbd5e07a"
    "8d7a8aabb95fcd957e1ddaa31081f9e87f5d1a1190b50586159a5f8d62bfe019383d355a1d79b133d9460009"
    "040200105143d51c65d4969cc2ab8e17231dccb3000238ed20109db24e83cb1e1e214aa494a39c3cfb6bc8bd"
    "b1b4e7ff2607bae7d80500450909021c670e816677266f68c60b8cefec792d6077952940528db80e9aa0c465"
    "50968600023714867fc01dc95e87ed782e1f4185895d0060256f0b2a8e5d185f42f474c70400021c670e8166"
    "77266f68c60b8cefec792d6077952940528db80e9aa0c465509686";
/* tests/data/exchange/04-a-resolve_init.bin */
static const char golden_resolve_init_hex[] =
    "0110058127f825d900010f00ed00b6119a0000000e0220a15c8755435ba1502125fc04d460b3c8d0623c8950"
    "677ca869577875d99922b00e020100277369703a636f6e666572656e63652d666163746f727940636f6e662e"
    "6578616d706c652e6f7267110301000f6b6d732e6578616d706c652e6f72670e0001010103fc6000a30e0e03"
    "01000f6b6d732e6578616d706c652e6f72670d010100157369703a616c696365406578616d706c652e6f7267"
    "0d0200ed00b6101a2b00000e0300ed00c4201a2b00000e020100277369703a636f6e666572656e63652d6661"
    "63746f727940636f6e662e6578616d706c652e6f72670e020100137369703a626f62406578616d706c652e6f"
    "726700020100157369703a6361726f6c406578616d706c652e6f726700bd0500000b00ed00b6103f00000001"
    "2082888402b427cc213336a1e211ea743ae85b26bebd4130421aed62eb13e2352f0e030052abc18986192b53"
    "ce4bc644231484359c9229be87e2d4d36390e233966df536834941b5adcbd5e07a8d7a8aabb95fcd957e1dda"
    "a31081f9e87f5d1a1190b50586159a5f8d62bfe019383d355a1d79b133d9460009040200105143d51c65d496"
    "9cc2ab8e17231dccb3000238ed20109db24e83cb1e1e214aa494a39c3cfb6bc8bdb1b4e7ff2607bae7d80500"
    "450909021c670e816677266f68c60b8cefec792d6077952940528db80e9aa0c46550968600023714867fc01d"
    "c95e87ed782e1f4185895d0060256f0b2a8e5d185f42f474c7040904020010f4b9e4156a9c39070f3a317f1f"
    "c3dca70002998f694bb8b0d304d2bf7386c7b373e4230fa0b43b86f5261f3017d06ef20c86";
/* tests/data/exchange/07-a-csb_update_init.bin */
static const char golden_update_init_hex[] =
    "010e05819240cb8902020100820001000a61d0a9e300000000184304f86a100d0200820001000a0000000000"
    "000000000004f86a100d0e00ed00b62e4ccc00000e010100157369703a616c696365406578616d706c652e6f"
    "72670a020100277369703a636f6e666572656e63652d666163746f727940636f6e662e6578616d706c652e6f"
    "72670a0000000c00010601011004010c140110090100001200010101011002010103011404010e0b010a0002"
    "ffae2f2470f7fc57e9f09e6e157d2eb68e129383deeb75fb7188caf7e29f4cf3";

/* ------------------------------------------------------------------ golden state */

/* Built once by LLVMFuzzerInitialize() from the constants and never changed afterwards. */
typedef struct {
  MikeySecret *psk_alice, *psk_focus, *tpk;
  GBytes *tpk_id, *randrkms, *randrr;
  GBytes *request_init, *transfer_init, *resolve_init, *update_init;
  MikeyTicketGrant grant;     /* alice's keys and ticket (REQUEST_RESP 02) */
  MikeyResolvedKeys resolved; /* the focus's keys (RESOLVE_RESP 05) */
  MikeyCsbState state_r;      /* the focus after TRANSFER_RESP 06 */
  MikeyCsbState state_i;      /* alice after TRANSFER_RESP 06 */
} Golden;

static Golden g;

static const MikeySecret *lookup_tpk(GBytes *tpk_id, gpointer user_data)
{
  (void)tpk_id;
  (void)user_data;
  return g.tpk; /* every generation id is known: the MAC decides */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  g.psk_alice = fz_hex_secret(A_PSK_ALICE);
  g.psk_focus = fz_hex_secret(A_PSK_FOCUS);
  g.tpk = fz_hex_secret(A_TPK);
  g.tpk_id = fz_hex_bytes(A_TPK_ID);
  g.randrkms = fz_hex_bytes(A_RANDRKMS);
  g.randrr = fz_hex_bytes(A_RANDRR);
  g.request_init = fz_hex_bytes(golden_request_init_hex);
  g.transfer_init = fz_hex_bytes(golden_transfer_init_hex);
  g.resolve_init = fz_hex_bytes(golden_resolve_init_hex);
  g.update_init = fz_hex_bytes(golden_update_init_hex);

  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) ti = mikey_msg_parse_bytes(g.transfer_init, &error);
  CHECK_OK(ti != NULL, error);
  g.grant.ticket = mikey_payload_dup(mikey_msg_find(ti, MIKEY_PT_TICKET, 0, 0), &error);
  CHECK_OK(g.grant.ticket != NULL, error);
  g.grant.mpki = fz_hex_secret(A_MPKI);
  g.grant.mpkr = fz_hex_secret(A_MPKR);
  g.grant.tgk = fz_hex_secret(A_TGK);
  g.grant.tgk_spi = fz_hex_bytes(A_TGK_SPI);
  g.grant.t = A_T_REQUEST_RESP;

  g.resolved.mpki = fz_hex_secret(A_MPKI);
  g.resolved.mpkr = fz_hex_secret(A_MPKR_FORKED);
  g.resolved.tgk = fz_hex_secret(A_TGK_FORKED);
  g.resolved.tgk_spi = fz_hex_bytes(A_TGK_SPI);
  g.resolved.idrr = g_bytes_new_static(TARGET, strlen(TARGET));
  g.resolved.randrkms = g_bytes_ref(g.randrkms);

  /* Both ends after the initial exchange: the golden flow must go through. */
  MikeyTransferInitView view;
  gboolean ok = mikey_transfer_init_parse(g.transfer_init, &view, &error) &&
                mikey_transfer_init_verify(&view, &g.resolved, TARGET, &error);
  CHECK_OK(ok, error);
  gsize rr_len;
  const guint8 *rr = fz_bytes_data(g.randrr, &rr_len);
  MikeyTransferRespParams params = { .t = A_T_TRANSFER_RESP,
                                     .randrr = rr,
                                     .randrr_len = rr_len,
                                     .policy_no = MIKEY_POLICY_AEAD_AES_128_GCM,
                                     .ssrc = A_SSRC_FOCUS,
                                     .seq = A_SEQ_FOCUS };
  g_autoptr(GBytes) resp =
      mikey_transfer_resp_build(&view, &g.resolved, &params, &g.state_r, &error);
  CHECK_OK(resp != NULL, error);
  mikey_transfer_init_view_clear(&view);
  MikeyTransferAnswer answer;
  ok = mikey_transfer_resp_open(resp, g.transfer_init, &g.grant, &g.state_i, &answer, &error);
  CHECK_OK(ok, error);
  CHECK(mikey_secret_equal(g.state_i.auth_key, g.state_r.auth_key));
  return 0;
}

/* ------------------------------------------------------------------ re-signing */

/* A TRANSFER_INIT signed again as its initiator would (V keyed from MPKi, Vi = V in the
 * Initiator Data when the ticket forks), or a CSB update with the CSB's auth key. */
static GBytes *transfer_init_resign(MikeyTransferInitView *view)
{
  MikeyMsg *msg = view->msg;
  if (view->is_update) {
    MikeyIov ids[2] = { fz_iov_bytes(g.state_r.id_i), fz_iov_bytes(g.state_r.id_r) };
    return mikey_msg_sign(msg, g.state_r.auth_key, ids, 2, NULL);
  }
  MikeyTicketBody *tb = &view->ticket->u.ticket;
  GBytes *id_i = view->id_i;
  if (id_i == NULL) {
    MikeyPayload *idri = mikey_chain_find(tb->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
    id_i = idri ? idri->u.id.data : NULL;
  }
  if (id_i == NULL)
    return NULL;
  MikeyPrf prf = msg->hdr.prf;
  MikeyMacAlg alg = mikey_suite_mac_alg(prf);
  gsize ri_len;
  const guint8 *ri = fz_bytes_data(view->randri, &ri_len);
  g_autoptr(MikeySecret) auth =
      mikey_kdf_msg(prf, g.resolved.mpki, MIKEY_C_AUTH, msg->hdr.csb_id, MIKEY_LABEL_INITIAL, ri,
                    ri_len, NULL, 0, (gsize)mikey_auth_key_len(alg), NULL);
  if (auth == NULL)
    return NULL;
  MikeyIov ids[2] = { fz_iov_bytes(id_i),
                      view->id_r ? fz_iov_bytes(view->id_r) : fz_iov_str(TARGET) };
  g_autoptr(GBytes) signed_once = mikey_msg_sign(msg, auth, ids, 2, NULL);
  if (signed_once == NULL)
    return NULL;
  if (!(tb->flags & MIKEY_TP_I))
    return g_steal_pointer(&signed_once);
  MikeyPayload *v = g_ptr_array_index(msg->payloads, msg->payloads->len - 1);
  GBytes *init_data = mikey_initiator_data_build(tb->prf, alg, v->u.v.mac, g.grant.mpkr, NULL);
  if (init_data == NULL)
    return NULL;
  g_bytes_unref(tb->initiator_data);
  tb->initiator_data = init_data;
  return mikey_msg_encode(msg, NULL); /* the V leaves the Initiator Data out */
}

/* A REQUEST_RESP or RESOLVE_RESP signed again as the KMS would, over RESP || the golden INIT. */
static GBytes *kms_response_resign(GBytes *body)
{
  g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(body, NULL);
  if (msg == NULL)
    return NULL;
  gboolean request = msg->hdr.data_type == MIKEY_DT_REQUEST_RESP;
  if (!request && msg->hdr.data_type != MIKEY_DT_RESOLVE_RESP)
    return NULL;
  GBytes *init = request ? g.request_init : g.resolve_init;
  g_autoptr(MikeyMsg) init_msg = mikey_msg_parse_bytes(init, NULL);
  CHECK(init_msg != NULL);
  MikeyPayload *rand =
      mikey_msg_find(init_msg, MIKEY_PT_RANDR, request ? MIKEY_RAND_ROLE_I : MIKEY_RAND_ROLE_R, 0);
  CHECK(rand != NULL);
  gsize rand_len;
  const guint8 *r = fz_bytes_data(rand->u.rand.data, &rand_len);
  MikeyPrf prf = msg->hdr.prf;
  g_autoptr(MikeySecret) auth = mikey_kdf_msg(
      prf, request ? g.psk_alice : g.psk_focus, MIKEY_C_AUTH, msg->hdr.csb_id, MIKEY_LABEL_RESPONSE,
      request ? r : NULL, request ? rand_len : 0, request ? NULL : r, request ? 0 : rand_len,
      (gsize)mikey_auth_key_len(mikey_suite_mac_alg(prf)), NULL);
  if (auth == NULL)
    return NULL;
  MikeyIov whole = fz_iov_bytes(init);
  return mikey_msg_sign(msg, auth, &whole, 1, NULL);
}

/* ------------------------------------------------------------------ ticket policy */

static gboolean spec_equal(const MikeyPolicySpec *a, const MikeyPolicySpec *b)
{
  if (a->prf != b->prf || a->flags != b->flags || a->trs != b->trs || a->tre != b->tre ||
      a->trr != b->trr || g_strcmp0(a->idrkms, b->idrkms) != 0 || g_strcmp0(a->idri, b->idri) != 0)
    return FALSE;
  guint na = a->idrapp ? a->idrapp->len : 0, nb = b->idrapp ? b->idrapp->len : 0;
  if (na != nb || a->idrr->len != b->idrr->len)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (strcmp(g_ptr_array_index(a->idrapp, i), g_ptr_array_index(b->idrapp, i)) != 0)
      return FALSE;
  for (guint i = 0; i < a->idrr->len; i++)
    if (strcmp(g_ptr_array_index(a->idrr, i), g_ptr_array_index(b->idrr, i)) != 0)
      return FALSE;
  return TRUE;
}

/* The policy checks a KMS runs on a TP or TICKET body, and the MikeyPolicySpec round trip
 * (with NTP-UTC TRs/TRe, as grants carry them). Fills *spec; FALSE if it has none. */
static gboolean fuzz_policy(const MikeyPayload *p, guint64 now, MikeyPolicySpec *spec)
{
  const MikeyTicketBody *body = &p->u.ticket;
  mikey_policy_check_type(body, NULL);
  mikey_policy_check_flags(body->flags, TRUE, NULL);
  mikey_policy_check_validity(body, now, SKEW, NULL);
  g_free(mikey_policy_flags_to_string(body->flags));
  g_free(mikey_ticket_fingerprint(p));
  if (body->prf != MIKEY_PRF_HMAC_SHA1 && body->prf != MIKEY_PRF_HMAC_SHA256)
    return FALSE;
  if (!mikey_policy_spec_from_body(body, spec, NULL))
    return FALSE;
  spec->tr_type = MIKEY_TS_NTP_UTC;
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyPayload) again = mikey_policy_spec_to_payload(spec, MIKEY_PT_TICKET, &error);
  CHECK_OK(again != NULL, error);
  MikeyPolicySpec back;
  CHECK(mikey_policy_spec_from_body(&again->u.ticket, &back, NULL));
  CHECK(spec_equal(spec, &back));
  mikey_policy_spec_clear(&back);
  return TRUE;
}

/* ------------------------------------------------------------------ the KMS */

/* A key with the SPI of scenario A's MPK or TGK. */
static MikeyKeyData *key_data(MikeyKeyType type, const MikeySecret *key, const char *spi_hex)
{
  g_autoptr(GBytes) spi = fz_hex_bytes(spi_hex);
  gsize spi_len;
  const guint8 *s = fz_bytes_data(spi, &spi_len);
  return mikey_key_data_new(type, key, s, spi_len);
}

/* The first len bytes of a scenario A key (16 for the PRF 0 suite). */
static MikeySecret *key_prefix(const char *hex, gsize len)
{
  g_autoptr(MikeySecret) full = fz_hex_secret(hex);
  return mikey_secret_new_from_data(full->data, MIN(len, full->len));
}

/* The grant of an authenticated REQUEST_INIT: a ticket with the requested policy, sealed with
 * the TPK, in a REQUEST_RESP that alice's client must open. */
static void kms_grant(const MikeyKmsRequest *req, GBytes *body, const MikeySecret *psk,
                      const MikeyPolicySpec *spec)
{
  g_autoptr(GError) error = NULL;
  MikeyPrf prf = spec->prf;
  gsize key_len = mikey_suite_key_len(prf);
  g_autoptr(MikeyPayload) ticket = mikey_policy_spec_to_payload(spec, MIKEY_PT_TICKET, &error);
  CHECK_OK(ticket != NULL, error);
  g_autoptr(MikeySecret) mpk = key_prefix(A_MPK, key_len);
  g_autoptr(MikeySecret) tgk = key_prefix(A_TGK, key_len);
  g_autoptr(GPtrArray) ticket_keys = mikey_key_data_list_new();
  g_ptr_array_add(ticket_keys, key_data(MIKEY_KEY_MPK, mpk, A_MPK_SPI));
  g_ptr_array_add(ticket_keys, key_data(MIKEY_KEY_TGK, tgk, A_TGK_SPI));
  g_autoptr(GBytes) rand = fz_hex_bytes(A_TICKET_RAND);
  gsize rand_len;
  const guint8 *r = fz_bytes_data(rand, &rand_len);
  MikeyTicketSeal seal = { .t = A_T_TICKET,
                           .rand = r,
                           .rand_len = rand_len,
                           .tpk = g.tpk,
                           .tpk_id = g.tpk_id,
                           .keys = ticket_keys };
  CHECK_OK(mikey_ticket_seal(ticket, &seal, &error), error);

  /* What the KMS sealed, it opens (at the resolve), and derives the keys of REQUEST_RESP. */
  MikeyOpenedTicket opened;
  CHECK_OK(mikey_ticket_open(ticket, lookup_tpk, NULL, &opened, &error), error);
  CHECK(opened.keys->len == 2 && opened.t == A_T_TICKET);
  const MikeyKeyData *opened_mpk = g_ptr_array_index(opened.keys, 0);
  CHECK(mikey_secret_equal(opened_mpk->key, mpk));
  gboolean forking = (spec->flags & MIKEY_TP_I) != 0;
  g_autoptr(GPtrArray) resp_keys = mikey_key_data_list_new();
  g_autoptr(MikeySecret) mpki =
      mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKI, opened.rand, &error);
  CHECK_OK(mpki != NULL, error);
  g_ptr_array_add(resp_keys, key_data(MIKEY_KEY_MPK, mpki, A_MPK_SPI));
  if (forking) {
    g_autoptr(MikeySecret) mpkr =
        mikey_ticket_derive_mpk(prf, mpk, MIKEY_C_MPKR, opened.rand, &error);
    CHECK_OK(mpkr != NULL, error);
    g_ptr_array_add(resp_keys, key_data(MIKEY_KEY_MPK, mpkr, A_MPK_SPI));
  }
  g_ptr_array_add(resp_keys, key_data(MIKEY_KEY_TGK, tgk, A_TGK_SPI));
  mikey_opened_ticket_clear(&opened);

  g_autoptr(GBytes) resp =
      mikey_request_resp_build(req, psk, A_T_REQUEST_RESP, KMS, ticket, resp_keys, &error);
  CHECK_OK(resp != NULL, error);
  /* alice's client takes it, when the policy is one a client can use */
  if (!mikey_policy_check_type(&ticket->u.ticket, NULL) ||
      !mikey_policy_check_flags(ticket->u.ticket.flags, TRUE, NULL))
    return;
  MikeyTicketGrant grant;
  CHECK_OK(mikey_request_resp_open(resp, body, psk, &grant, &error), error);
  CHECK(mikey_ticket_same(grant.ticket, ticket));
  CHECK((grant.mpkr != NULL) == forking);
  mikey_ticket_grant_clear(&grant);
}

/* The IDRr of the ticket that the RESOLVE_INIT's IDRr names (byte-exact here). */
static GBytes *kms_authorise(const MikeyKmsRequest *req)
{
  if (req->id == NULL)
    return NULL;
  GPtrArray *tp = req->tp->u.ticket.tp_data;
  guint n = mikey_chain_count(tp, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint i = 0; i < n; i++) {
    MikeyPayload *idr = mikey_chain_find(tp, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i);
    if (g_bytes_equal(idr->u.id.data, req->id))
      return idr->u.id.data;
  }
  return NULL;
}

/* An authenticated RESOLVE_INIT with a ticket that opened: RESOLVE_RESP, which the focus's
 * client must open. */
static void kms_resolve(const MikeyKmsRequest *req, GBytes *body, const MikeySecret *psk,
                        const MikeyOpenedTicket *opened)
{
  GBytes *idrr = kms_authorise(req);
  if (idrr == NULL)
    return;
  gsize rk_len;
  const guint8 *rk = fz_bytes_data(g.randrkms, &rk_len);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) resp =
      mikey_kms_resolve_respond(req, psk, opened, idrr, rk, rk_len, A_T_RESOLVE_RESP, KMS, &error);
  if (resp == NULL)
    return; /* a refusal: the Error is built by the caller's code path */
  /* Our client opens what our KMS answers, for the tickets our KMS seals (MPK, then TGK). */
  if (opened->keys->len != 2 ||
      ((MikeyKeyData *)g_ptr_array_index(opened->keys, 1))->type != MIKEY_KEY_TGK)
    return;
  MikeyResolvedKeys keys;
  CHECK_OK(mikey_resolve_resp_open(resp, body, psk, &keys, &error), error);
  CHECK(g_bytes_equal(keys.idrr, idrr));
  CHECK((keys.randrkms != NULL) == ((req->tp->u.ticket.flags & MIKEY_TP_I) != 0));
  mikey_resolved_keys_clear(&keys);
}

static void kms_path(GBytes *body, gboolean resigned)
{
  MikeyKmsRequest req;
  g_autoptr(GError) error = NULL;
  if (!mikey_kms_request_parse(body, &req, &error)) {
    CHECK(error != NULL && error->domain == MIKEY_ERROR);
    CHECK(!resigned); /* we only sign what parsed */
    return;
  }
  gboolean request = req.msg->hdr.data_type == MIKEY_DT_REQUEST_INIT_PSK;
  const MikeySecret *psk = request ? g.psk_alice : g.psk_focus;
  const char *owner = request ? ALICE : FOCUS;
  gboolean verified = mikey_kms_request_verify(&req, psk, owner, KMS, &error);
  if (resigned)
    CHECK_OK(verified, error); /* what we signed verifies */
  g_clear_error(&error);

  MikeyPolicySpec spec;
  gboolean have_spec = fuzz_policy(req.tp, req.t, &spec);
  if (request) {
    if (verified && have_spec)
      kms_grant(&req, body, psk, &spec);
  } else {
    MikeyOpenedTicket opened;
    if (mikey_ticket_open(req.tp, lookup_tpk, NULL, &opened, NULL)) {
      mikey_policy_check_validity(&req.tp->u.ticket, req.t, SKEW, NULL);
      if (verified)
        kms_resolve(&req, body, psk, &opened);
      mikey_opened_ticket_clear(&opened);
    }
  }
  if (have_spec)
    mikey_policy_spec_clear(&spec);

  /* Refusals carry an Error keyed with the request's keys once its MAC verified. */
  g_autoptr(GBytes) err = mikey_error_build(&req.msg->hdr, req.t, MIKEY_ERR_INVALID_TICKET,
                                            verified ? req.keys.auth : NULL,
                                            mikey_suite_mac_alg(req.msg->hdr.prf), &error);
  CHECK_OK(err != NULL, error);

  if (!verified && !resigned) {
    g_autoptr(GBytes) again = fz_kms_request_resign(&req, psk, owner, g.tpk);
    mikey_kms_request_clear(&req);
    if (again)
      kms_path(again, TRUE);
    return;
  }
  mikey_kms_request_clear(&req);
}

/* ------------------------------------------------------------------ the focus */

static void transfer_path(GBytes *body, gboolean resigned)
{
  MikeyTransferInitView view;
  g_autoptr(GError) error = NULL;
  if (!mikey_transfer_init_parse(body, &view, &error)) {
    CHECK(!resigned);
    return;
  }
  guint8 policy_no = 0xff;
  gboolean have_policy = mikey_transfer_choose_policy(&view, &policy_no, NULL);
  if (have_policy)
    (void)mikey_transfer_policy_profile(&view, policy_no);
  /* Our initiators offer policies 0 and 1 only; answers name those. */
  gboolean answerable = have_policy && policy_no <= MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80;

  gboolean verified;
  if (view.is_update) {
    verified = mikey_csb_update_verify(&view, &g.state_r, &error);
    if (resigned && view.msg->hdr.csb_id == g.state_r.csb_id && view.msg->hdr.prf == g.state_r.prf)
      CHECK_OK(verified, error);
    if (verified && answerable) {
      g_autoptr(GBytes) resp =
          mikey_csb_update_resp_build(&view, &g.state_r, A_T_UPDATE_RESP, policy_no, A_SSRC_FOCUS,
                                      0, A_SEQ_FOCUS_UPDATE, &error);
      CHECK_OK(resp != NULL, error);
      MikeyTransferAnswer answer;
      CHECK_OK(mikey_csb_update_resp_open(resp, body, &g.state_i, &answer, &error), error);
      CHECK(answer.policy_no == policy_no && answer.cs2.ssrc == A_SSRC_FOCUS);
    }
  } else {
    MikeyOpenedTicket opened;
    if (mikey_ticket_open(view.ticket, lookup_tpk, NULL, &opened, NULL))
      mikey_opened_ticket_clear(&opened);
    verified = mikey_transfer_init_verify(&view, &g.resolved, TARGET, &error);
    if (resigned)
      CHECK_OK(verified, error);
    if (verified && answerable) {
      gsize rr_len;
      const guint8 *rr = fz_bytes_data(g.randrr, &rr_len);
      MikeyTransferRespParams params = { .t = A_T_TRANSFER_RESP,
                                         .randrr = rr,
                                         .randrr_len = rr_len,
                                         .policy_no = policy_no,
                                         .ssrc = A_SSRC_FOCUS,
                                         .seq = A_SEQ_FOCUS };
      MikeyCsbState state_r = { 0 }, state_i = { 0 };
      g_autoptr(GBytes) resp =
          mikey_transfer_resp_build(&view, &g.resolved, &params, &state_r, &error);
      CHECK_OK(resp != NULL, error);
      /* The initiator holding this ticket opens the answer; the golden forked keys are
       * those of the PRF 1 ticket. */
      const MikeyTicketBody *tb = &view.ticket->u.ticket;
      if (tb->prf == MIKEY_PRF_HMAC_SHA256) {
        MikeyTicketGrant grant = g.grant;
        grant.ticket = view.ticket;
        MikeyTransferAnswer answer;
        CHECK_OK(mikey_transfer_resp_open(resp, body, &grant, &state_i, &answer, &error), error);
        CHECK(answer.policy_no == policy_no && answer.cs2.ssrc == A_SSRC_FOCUS);
        CHECK(mikey_secret_equal(state_i.auth_key, state_r.auth_key));
        if (tb->flags & MIKEY_TP_I)
          CHECK(mikey_secret_equal(state_i.tgk, state_r.tgk));
      }
      MikeySecret *key = NULL, *salt = NULL;
      if (mikey_csb_srtp_keys(&state_r, 1, mikey_profile_salt_len(policy_no), &key, &salt, NULL)) {
        mikey_secret_free(key);
        mikey_secret_free(salt);
      }
      mikey_csb_state_clear(&state_r);
      mikey_csb_state_clear(&state_i);
    }
  }
  if (!verified && !resigned) {
    g_autoptr(GBytes) again = transfer_init_resign(&view);
    mikey_transfer_init_view_clear(&view);
    if (again)
      transfer_path(again, TRUE);
    return;
  }
  mikey_transfer_init_view_clear(&view);
}

/* ------------------------------------------------------------------ the clients */

static void responses_path(GBytes *body, gboolean resigned)
{
  MikeyTicketGrant grant;
  if (mikey_request_resp_open(body, g.request_init, g.psk_alice, &grant, NULL)) {
    g_free(mikey_ticket_fingerprint(grant.ticket));
    mikey_ticket_grant_clear(&grant);
  }
  MikeyResolvedKeys keys;
  if (mikey_resolve_resp_open(body, g.resolve_init, g.psk_focus, &keys, NULL))
    mikey_resolved_keys_clear(&keys);
  if (resigned)
    return;
  MikeyCsbState state = { 0 };
  MikeyTransferAnswer answer;
  if (mikey_transfer_resp_open(body, g.transfer_init, &g.grant, &state, &answer, NULL)) {
    MikeySecret *key = NULL, *salt = NULL;
    if (mikey_csb_srtp_keys(&state, 2, mikey_profile_salt_len(answer.policy_no), &key, &salt,
                            NULL)) {
      mikey_secret_free(key);
      mikey_secret_free(salt);
    }
  }
  mikey_csb_state_clear(&state);
  mikey_csb_update_resp_open(body, g.update_init, &g.state_i, &answer, NULL);

  g_autoptr(GBytes) again = kms_response_resign(body);
  if (again)
    responses_path(again, TRUE);
}

/* An Error answering whatever header this is reads back as that Error. */
static void error_path(const uint8_t *data, size_t size)
{
  MikeyHdr hdr;
  memset(&hdr, 0, sizeof hdr);
  if (!mikey_hdr_peek(data, size, &hdr, NULL))
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) err =
      mikey_error_build(&hdr, A_T_RESOLVE_RESP, MIKEY_ERR_UNSPECIFIED, NULL, 0, &error);
  if (hdr.data_type == MIKEY_DT_ERROR) {
    CHECK(err == NULL);
  } else {
    CHECK_OK(err != NULL, error);
    g_autoptr(MikeyMsg) msg = mikey_msg_parse_bytes(err, &error);
    CHECK_OK(msg != NULL, error);
    CHECK(msg->hdr.csb_id == hdr.csb_id && msg->hdr.prf == hdr.prf);
    g_autoptr(GError) refused = NULL;
    CHECK(!mikey_reply_check_error(msg, "KMS", &refused));
    CHECK(refused != NULL && refused->code == MIKEY_ERR_UNSPECIFIED);
  }
  mikey_hdr_clear(&hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(GBytes) body = g_bytes_new(data, size);
  error_path(data, size);
  kms_path(body, FALSE);
  transfer_path(body, FALSE);
  responses_path(body, FALSE);
  return 0;
}
