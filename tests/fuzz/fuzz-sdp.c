/* fuzz-sdp: RFC 4567 key-management attributes (sdp.h) on a peer's SDP body.
 *
 * The input is an SDP body (any bytes, not NUL-terminated). Every sdp.h entry point runs on it;
 * when mikey_sdp_find_key_mgmt() accepts the body, these invariants must hold (abort()
 * otherwise, a finding):
 *   - mikey_sdp_protocol_ids() is the ';'-join of the attributes' protocol ids, each once, in
 *     order of appearance (the SDP IDs extension a Responder compares, profile §6);
 *   - mikey_sdp_get_mikey() returns the data of a mikey attribute of that m-line or of the
 *     session level, media level first;
 *   - mikey_sdp_set_mikey() at the session level and at every m-line gives an SDP that still
 *     parses, has as many m-lines, and yields the inserted message from mikey_sdp_get_mikey();
 *     setting it again replaces it instead of adding an attribute; an m-line that does not
 *     exist gives NULL.
 * The MIKEY data found is also handed to the parser, as a focus would. */
#include "fuzz.h"

#include "msg.h"
#include "sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz-sdp: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define MAX_MEDIA_CHECKED 6

static const char *const mikey_id = "mikey";

/* The ';'-joined protocol ids of a parsed attribute list, each once. */
static char *joined_ids(GPtrArray *all)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new();
  for (guint i = 0; i < all->len; i++) {
    const MikeySdpKeyMgmt *km = g_ptr_array_index(all, i);
    gboolean seen = FALSE;
    for (guint j = 0; j < ids->len && !seen; j++)
      seen = strcmp(g_ptr_array_index(ids, j), km->prtcl_id) == 0;
    if (!seen)
      g_ptr_array_add(ids, km->prtcl_id);
  }
  g_ptr_array_add(ids, NULL);
  return g_strjoinv(";", (char **)ids->pdata);
}

/* What mikey_sdp_get_mikey() must give for m-line media_index, from the attribute list:
 * NULL when none; sets *dup when the level has two mikey attributes (an error then). */
static GBytes *expected_mikey(GPtrArray *all, int media_index, gboolean *dup)
{
  GBytes *session = NULL, *media = NULL;
  *dup = FALSE;
  for (guint i = 0; i < all->len; i++) {
    const MikeySdpKeyMgmt *km = g_ptr_array_index(all, i);
    if (strcmp(km->prtcl_id, mikey_id) != 0)
      continue;
    GBytes **slot;
    if (km->media_index < 0)
      slot = &session;
    else if (media_index >= 0 && km->media_index == media_index)
      slot = &media;
    else
      continue;
    if (*slot)
      *dup = TRUE;
    *slot = km->data;
  }
  return media ? media : session;
}

static guint count_mikey(GPtrArray *all)
{
  guint n = 0;
  for (guint i = 0; i < all->len; i++)
    n += strcmp(((MikeySdpKeyMgmt *)g_ptr_array_index(all, i))->prtcl_id, mikey_id) == 0;
  return n;
}

/* The level (-1 = session, else m-line) has exactly one mikey attribute, holding data. */
static gboolean level_mikey(GPtrArray *all, int media_index, GBytes *data)
{
  guint n = 0;
  gboolean same = FALSE;
  for (guint i = 0; i < all->len; i++) {
    const MikeySdpKeyMgmt *km = g_ptr_array_index(all, i);
    if (strcmp(km->prtcl_id, mikey_id) != 0 || km->media_index != media_index)
      continue;
    n++;
    same = g_bytes_equal(km->data, data);
  }
  return n == 1 && same;
}

static void fuzz_get(const char *sdp, gsize len, int media_index, GPtrArray *all)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = mikey_sdp_get_mikey(sdp, len, media_index, &error);
  if (got) {
    gsize n;
    const guint8 *d = g_bytes_get_data(got, &n);
    MikeyMsg *msg = mikey_msg_parse(d ? d : (const guint8 *)"", n, NULL);
    mikey_msg_free(msg);
  }
  if (all == NULL) {
    CHECK(got == NULL && error != NULL);
    return;
  }
  gboolean dup;
  GBytes *want = expected_mikey(all, media_index, &dup);
  if (dup) {
    CHECK(got == NULL && error != NULL);
  } else if (want) {
    CHECK(got != NULL && g_bytes_equal(got, want));
  } else {
    CHECK(got == NULL && error == NULL);
  }
}

/* Inserts mikey at media_index (-1 = session level) and checks the result. */
static void fuzz_set(const char *sdp, gsize len, int media_index, guint n_media, GPtrArray *all,
                     GBytes *mikey, GBytes *mikey2)
{
  g_autofree char *out = mikey_sdp_set_mikey(sdp, len, media_index, mikey);
  if (media_index >= 0 && (guint)media_index >= n_media) {
    CHECK(out == NULL);
    return;
  }
  CHECK(out != NULL);
  /* The result is a C string: only a body without NUL bytes can be checked through it. */
  if (all == NULL || memchr(sdp, '\0', len) != NULL)
    return;
  gsize out_len = strlen(out);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) after = mikey_sdp_find_key_mgmt(out, out_len, &error);
  if (after == NULL)
    fprintf(stderr, "fuzz-sdp: set_mikey(%d) broke a valid SDP: %s\n", media_index, error->message);
  CHECK(after != NULL);
  CHECK(mikey_sdp_media_count(out, out_len) == n_media);
  /* Exactly one mikey attribute at that level now, with the new data; get_mikey agrees. */
  CHECK(level_mikey(after, media_index, mikey));
  fuzz_get(out, out_len, media_index, after);
  /* Other attributes are kept; at most the mikey ones of this level go. */
  CHECK(after->len + count_mikey(all) >= all->len + 1);

  /* Setting again replaces: same number of attributes, the new data found. */
  g_autofree char *out2 = mikey_sdp_set_mikey(out, out_len, media_index, mikey2);
  CHECK(out2 != NULL);
  gsize out2_len = strlen(out2);
  g_autoptr(GPtrArray) after2 = mikey_sdp_find_key_mgmt(out2, out2_len, NULL);
  CHECK(after2 != NULL && after2->len == after->len);
  CHECK(level_mikey(after2, media_index, mikey2));
  fuzz_get(out2, out2_len, media_index, after2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *sdp = size ? (const char *)data : "";
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = mikey_sdp_find_key_mgmt(sdp, size, &error);
  CHECK((all == NULL) == (error != NULL));
  if (all) {
    for (guint i = 0; i < all->len; i++) {
      const MikeySdpKeyMgmt *km = g_ptr_array_index(all, i);
      CHECK(km->prtcl_id != NULL && km->prtcl_id[0] != '\0' && km->data != NULL);
      CHECK(strchr(km->prtcl_id, ';') == NULL && strchr(km->prtcl_id, ' ') == NULL);
    }
  }
  guint n_media = mikey_sdp_media_count(sdp, size);

  g_autofree char *ids = mikey_sdp_protocol_ids(sdp, size);
  CHECK(ids != NULL);
  if (all) {
    g_autofree char *want = joined_ids(all);
    if (strcmp(ids, want) != 0)
      fprintf(stderr, "fuzz-sdp: protocol ids \"%s\", attributes say \"%s\"\n", ids, want);
    CHECK(strcmp(ids, want) == 0);
  }

  guint checked = MIN(n_media, MAX_MEDIA_CHECKED);
  for (int i = -1; i <= (int)checked; i++)
    fuzz_get(sdp, size, i, all);

  /* Data to insert: a slice of the input (never empty), then a different one. */
  static const guint8 fallback[] = { 0x01, 0x0e, 0x05, 0x80 };
  gsize cut = MIN(size, 40);
  g_autoptr(GBytes) mikey = cut ? g_bytes_new(data, cut) : g_bytes_new_static(fallback, 4);
  g_autoptr(GBytes) mikey2 = g_bytes_new_static(fallback, 4 - (cut % 3));
  fuzz_set(sdp, size, -1, n_media, all, mikey, mikey2);
  for (guint i = 0; i < checked; i++)
    fuzz_set(sdp, size, (int)i, n_media, all, mikey, mikey2);
  fuzz_set(sdp, size, (int)n_media, n_media, all, mikey, mikey2);
  return 0;
}
