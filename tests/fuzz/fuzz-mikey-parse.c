/* fuzz-mikey-parse: the MIKEY codec (msg.h, keydata.h) on a peer's bytes.
 *
 * The input is one MIKEY message. Whatever it is, parsing must not crash or leak; when it
 * parses, these invariants of our codec must hold (abort() otherwise, which is a finding):
 *   - mikey_msg_encode() reproduces the input byte for byte, and records the same payload
 *     offsets as the parser did; top-level payloads tile the message after the HDR;
 *   - mikey_hdr_peek() succeeds and agrees with the parsed HDR;
 *   - every payload encoded alone (mikey_payload_encode) is its slice of the message with a
 *     zero next-payload byte, and mikey_payload_dup() gives the same encoding;
 *   - the nested chains round-trip: TP Data (inside the message), a TICKET's Ticket Data
 *     (THDR first, no type byte), a TICKET's Initiator Data (leading type byte), and the Key
 *     data of NULL-encrypted KEMACs (mikey_key_data_parse/encode);
 *   - GENERIC-ID SRTP Session Data decodes and re-encodes to itself;
 *   - the V MAC excluded range lies inside the message.
 * Policy checks (policy.h) run on every TP/TICKET body for their error paths. */
#include "fuzz.h"

#include "keydata.h"
#include "mac.h"
#include "msg.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-mikey-parse: invariant broken at %s:%d: %s\n", __FILE__, __LINE__,     \
              #cond);                                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static gboolean same_bytes(GBytes *got, const guint8 *want, gsize want_len)
{
  gsize len = 0;
  const guint8 *d = got ? g_bytes_get_data(got, &len) : NULL;
  return len == want_len && (len == 0 || memcmp(d, want, len) == 0);
}

static const guint8 *bytes_data(GBytes *b, gsize *len)
{
  *len = 0;
  if (b == NULL)
    return (const guint8 *)"";
  const guint8 *d = g_bytes_get_data(b, len);
  return d ? d : (const guint8 *)"";
}

/* Key data of a KEMAC whose Encr data is plaintext (NULL encryption). */
static void fuzz_key_data(GBytes *plain)
{
  gsize len;
  const guint8 *d = bytes_data(plain, &len);
  g_autoptr(GPtrArray) keys = mikey_key_data_parse(d, len, NULL);
  if (keys == NULL)
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) again = mikey_key_data_encode(keys, &error);
  if (again == NULL)
    fprintf(stderr, "fuzz-mikey-parse: Key data parsed but does not encode: %s\n", error->message);
  CHECK(again != NULL);
  CHECK(again->len == len && (len == 0 || memcmp(again->data, d, len) == 0));
  for (guint i = 0; i < keys->len; i++) {
    const MikeyKeyData *kd = g_ptr_array_index(keys, i);
    CHECK(kd->key != NULL);
    CHECK((kd->salt != NULL) == mikey_key_type_has_salt(kd->type));
  }
}

/* Payloads of a chain lie one after the other inside [start, end), from start and up to end
 * when asked. */
static void check_tiling(GPtrArray *chain, gsize start, gsize end, gboolean from_start,
                         gboolean to_end)
{
  gsize pos = start;
  for (guint i = 0; i < chain->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(chain, i);
    if (i > 0 || from_start)
      CHECK(p->offset == pos);
    CHECK(p->offset >= start && p->length > 0 && p->length <= end - p->offset);
    pos = p->offset + p->length;
  }
  CHECK(chain->len == 0 || !to_end || pos == end);
}

static void fuzz_payload(const MikeyPayload *p, guint depth);

static void fuzz_chain(GPtrArray *chain, guint depth)
{
  for (guint i = 0; chain && i < chain->len; i++)
    fuzz_payload(g_ptr_array_index(chain, i), depth);
}

/* A nested chain held as bytes (Ticket Data, Initiator Data): parse, re-encode, recurse. */
static void fuzz_nested(GBytes *bytes, gboolean leading_type_byte, MikeyPayloadType first,
                        guint depth)
{
  gsize len;
  const guint8 *d = bytes_data(bytes, &len);
  g_autoptr(GPtrArray) chain = mikey_chain_parse(d, len, leading_type_byte, first, 0, NULL);
  if (chain == NULL)
    return;
  if (first == MIKEY_PT_THDR && chain->len > 0)
    CHECK(((MikeyPayload *)g_ptr_array_index(chain, 0))->type == MIKEY_PT_THDR);
  check_tiling(chain, leading_type_byte ? 1 : 0, len, TRUE, TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) again = mikey_chain_encode(chain, leading_type_byte, &error);
  if (again == NULL)
    fprintf(stderr, "fuzz-mikey-parse: nested chain parsed but does not encode: %s\n",
            error->message);
  CHECK(again != NULL);
  CHECK(same_bytes(again, d, len));
  fuzz_chain(chain, depth + 1);
}

static void fuzz_ticket_body(const MikeyPayload *p, guint depth)
{
  const MikeyTicketBody *t = &p->u.ticket;
  g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
  mikey_policy_check_type(t, &e1);
  mikey_policy_check_flags(t->flags, TRUE, &e2);
  mikey_policy_check_flags(t->flags, FALSE, NULL);
  mikey_policy_check_validity(t, G_GUINT64_CONSTANT(0xed00b61180000000), 120, &e3);
  guint64 trs, tre;
  mikey_policy_get_trs(t, &trs);
  mikey_policy_get_tre(t, &tre);
  g_free(mikey_policy_flags_to_string(t->flags));
  /* TP Data was parsed with the message: its payloads sit inside this payload (a TICKET's
   * Ticket Data and Initiator Data follow it). */
  if (t->tp_data && t->tp_data->len > 0)
    check_tiling(t->tp_data, p->offset, p->offset + p->length, FALSE, p->type == MIKEY_PT_TP);
  fuzz_chain(t->tp_data, depth + 1);
  if (p->type == MIKEY_PT_TICKET) {
    fuzz_nested(t->ticket_data, FALSE, MIKEY_PT_THDR, depth);
    fuzz_nested(t->initiator_data, TRUE, MIKEY_PT_LAST, depth);
  }
}

static void fuzz_payload(const MikeyPayload *p, guint depth)
{
  CHECK(depth < 4); /* the parser refuses TP/TICKET inside nested chains */
  switch (p->type) {
  case MIKEY_PT_KEMAC:
    if (p->u.kemac.encr_alg == MIKEY_ENCR_NULL)
      fuzz_key_data(p->u.kemac.encr_data);
    break;
  case MIKEY_PT_T:
  case MIKEY_PT_TR:
    (void)mikey_ts_value64(p);
    break;
  case MIKEY_PT_TP:
  case MIKEY_PT_TICKET:
    fuzz_ticket_body(p, depth);
    break;
  default:
    break;
  }
}

/* Each top-level payload encoded alone is its slice of the message with next-payload 0. */
static void check_alone(const MikeyPayload *p, const guint8 *data, gsize size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) alone = mikey_payload_encode(p, &error);
  CHECK(alone != NULL);
  gsize len;
  const guint8 *a = g_bytes_get_data(alone, &len);
  CHECK(len == p->length && p->offset + len <= size);
  if (p->type == MIKEY_PT_SIGN) {
    CHECK(memcmp(a, data + p->offset, len) == 0);
  } else {
    CHECK(len >= 1 && a[0] == MIKEY_PT_LAST);
    CHECK(memcmp(a + 1, data + p->offset + 1, len - 1) == 0);
  }
  g_autoptr(MikeyPayload) dup = mikey_payload_dup(p, &error);
  CHECK(dup != NULL && dup->type == p->type);
  g_autoptr(GBytes) dup_alone = mikey_payload_encode(dup, NULL);
  CHECK(dup_alone != NULL && g_bytes_equal(dup_alone, alone));
}

static void check_hdr_peek(const MikeyMsg *msg, const guint8 *data, gsize size)
{
  MikeyHdr hdr;
  memset(&hdr, 0, sizeof hdr);
  CHECK(mikey_hdr_peek(data, size, &hdr, NULL));
  CHECK(hdr.version == msg->hdr.version && hdr.data_type == msg->hdr.data_type &&
        hdr.v == msg->hdr.v && hdr.prf == msg->hdr.prf && hdr.csb_id == msg->hdr.csb_id &&
        hdr.map_type == msg->hdr.map_type && hdr.cs && msg->hdr.cs &&
        hdr.cs->len == msg->hdr.cs->len);
  mikey_hdr_clear(&hdr);
}

static void check_session_data(const MikeyMsg *msg)
{
  if (msg->hdr.map_type != MIKEY_MAP_GENERIC_ID || msg->hdr.cs == NULL)
    return;
  for (guint i = 0; i < msg->hdr.cs->len; i++) {
    const MikeyCs *cs = g_ptr_array_index(msg->hdr.cs, i);
    CHECK(cs->session_data != NULL && cs->spi != NULL);
    MikeySrtpSessionData sd;
    if (!mikey_srtp_session_data_decode(cs->session_data, &sd, NULL))
      continue;
    g_autoptr(GBytes) again = mikey_srtp_session_data_encode(&sd);
    CHECK(again != NULL && g_bytes_equal(again, cs->session_data));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* The header alone: what the KMS reads to answer a broken body with an Error. */
  MikeyHdr peek;
  memset(&peek, 0, sizeof peek);
  if (mikey_hdr_peek(data, size, &peek, NULL))
    mikey_hdr_clear(&peek);

  g_autoptr(GError) error = NULL;
  g_autoptr(MikeyMsg) msg = mikey_msg_parse(data, size, &error);
  if (msg == NULL) {
    CHECK(error != NULL && error->domain == MIKEY_ERROR);
    return 0;
  }
  CHECK(msg->raw != NULL && same_bytes(msg->raw, data, size));
  check_hdr_peek(msg, data, size);
  check_session_data(msg);

  /* Offsets as parsed; the payloads tile the message after the HDR. */
  guint n = msg->payloads->len;
  g_autofree gsize *offsets = g_new0(gsize, n + 1);
  g_autofree gsize *lengths = g_new0(gsize, n + 1);
  for (guint i = 0; i < n; i++) {
    const MikeyPayload *p = g_ptr_array_index(msg->payloads, i);
    offsets[i] = p->offset;
    lengths[i] = p->length;
  }
  check_tiling(msg->payloads, 0, size, FALSE, TRUE);
  CHECK(n == 0 || offsets[0] >= 10);

  gsize ex_start, ex_end;
  mikey_mac_excluded_range(msg, &ex_start, &ex_end);
  CHECK(ex_start <= ex_end && ex_end <= size);

  for (guint i = 0; i < n; i++) {
    const MikeyPayload *p = g_ptr_array_index(msg->payloads, i);
    check_alone(p, data, size);
    fuzz_payload(p, 0);
  }

  /* The round trip: byte for byte, same offsets. */
  g_autoptr(GBytes) again = mikey_msg_encode(msg, &error);
  if (again == NULL)
    fprintf(stderr, "fuzz-mikey-parse: parsed message does not encode: %s\n", error->message);
  CHECK(again != NULL);
  CHECK(same_bytes(again, data, size));
  for (guint i = 0; i < n; i++) {
    const MikeyPayload *p = g_ptr_array_index(msg->payloads, i);
    CHECK(p->offset == offsets[i] && p->length == lengths[i]);
  }
  return 0;
}
