/* MIKEY crypto: the PRF, every label builder of kdf.h, AES-CM and HMAC against the vectors of
 * mikey-ticket.md 6 and every PRF call, MAC and KEMAC of the golden exchange
 * (tests/data/exchange/exchange.json), plus the refusals a peer's bad input must get. */
#include "cipher.h"
#include "error.h"
#include "kdf.h"
#include "prf.h"
#include "secret.h"
#include "types.h"

#include <json-glib/json-glib.h>
#include <openssl/evp.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */

static GBytes *bytes_from_hex(const char *hex)
{
  gsize n = strlen(hex);
  g_assert_cmpuint(n % 2, ==, 0);
  guint8 *buf = g_malloc(n / 2 + 1);
  for (gsize i = 0; i < n / 2; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    g_assert_cmpint(hi, >=, 0);
    g_assert_cmpint(lo, >=, 0);
    buf[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(buf, n / 2);
}

static char *hex_from_data(const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new(2 * len + 1);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf(s, "%02x", data[i]);
  return g_string_free(s, FALSE);
}

static MikeySecret *secret_from_hex(const char *hex)
{
  g_autoptr(GError) error = NULL;
  MikeySecret *s = mikey_secret_new_from_hex(hex, &error);
  g_assert_no_error(error);
  g_assert_nonnull(s);
  return s;
}

static MikeySecret *secret_from_bytes(GBytes *b)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(b, &len);
  return mikey_secret_new_from_data(data, len);
}

/* Compares as "name=hex" strings, so a failure names the value and shows both sides. */
static void assert_data_hex(const char *name, const guint8 *data, gsize len, const char *hex)
{
  g_autofree char *got_hex = hex_from_data(data, len);
  g_autofree char *got = g_strdup_printf("%s=%s", name, got_hex);
  g_autofree char *want = g_strdup_printf("%s=%s", name, hex);
  g_assert_cmpstr(got, ==, want);
}

static void assert_secret_hex(const char *name, const MikeySecret *s, const char *hex)
{
  if (s == NULL) /* g_error, not g_assert: the compiler must see that s is not NULL below */
    g_error("%s: no key was derived", name);
  assert_data_hex(name, s->data, s->len, hex);
}

static GBytes *load_file(const char *first, ...) G_GNUC_NULL_TERMINATED;

static GBytes *load_file(const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  g_autoptr(GPtrArray) parts = g_ptr_array_new();
  g_ptr_array_add(parts, (char *)g_test_get_dir(G_TEST_DIST));
  for (const char *p = first; p != NULL; p = va_arg(ap, const char *))
    g_ptr_array_add(parts, (char *)p);
  va_end(ap);
  g_ptr_array_add(parts, NULL);
  g_autofree char *path = g_build_filenamev((char **)parts->pdata);
  g_autoptr(GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &data, &len, &error))
    g_error("cannot read test vector %s: %s", path, error->message);
  return g_bytes_new_take(data, len);
}

static guint64 be_uint(GBytes *b)
{
  gsize len = 0;
  const guint8 *d = g_bytes_get_data(b, &len);
  g_assert_cmpuint(len, <=, 8);
  guint64 v = 0;
  for (gsize i = 0; i < len; i++)
    v = v << 8 | d[i];
  return v;
}

static void prf_expect(const char *name, MikeyPrf prf, const char *inkey_hex, const char *label_hex,
                       const char *out_hex)
{
  g_autoptr(GBytes) inkey = bytes_from_hex(inkey_hex);
  g_autoptr(GBytes) label = bytes_from_hex(label_hex);
  gsize out_len = strlen(out_hex) / 2;
  g_autofree guint8 *out = g_malloc(out_len);
  g_autoptr(GError) error = NULL;
  gboolean ok =
      mikey_prf(prf, g_bytes_get_data(inkey, NULL), g_bytes_get_size(inkey),
                g_bytes_get_data(label, NULL), g_bytes_get_size(label), out, out_len, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
  assert_data_hex(name, out, out_len, out_hex);
}

/* ---------------------------------------------------------------------------------------- */
/* mikey-ticket.md 6.1 / 6.3: literal labels through mikey_prf()                            */

#define K16 "000102030405060708090a0b0c0d0e0f"
#define K32 K16 "101112131415161718191a1b1c1d1e1f"
#define K48 K32 "202122232425262728292a2b2c2d2e2f"
#define RAND_A "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define RAND_B "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define RAND_C "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
#define MPK_63 "303132333435363738393a3b3c3d3e3f"
#define TPK_63 "404142434445464748494a4b4c4d4e4f"
#define TGK_62 "101112131415161718191a1b1c1d1e1f"
#define MPKR_63 "5d6ff96e8cc9ca59381c9e43caa241aa"
#define BOB_HEX "7369703a626f62406578616d706c652e6f7267" /* sip:bob@example.org */

typedef struct {
  const char *name;
  MikeyPrf prf;
  const char *inkey;
  const char *label;
  const char *out;
} PrfRow;

static const PrfRow prf_rows_3830[] = {
  { "TEK CS 1", 0, K16,
    "2ad01c64"
    "01"
    "12345678" RAND_A,
    "9ba4f67e6a85e7e7e9aa57681ca1f27d" },
  { "salt CS 1", 0, K16,
    "39a2c14b"
    "01"
    "12345678" RAND_A,
    "c19bd30c0f756df5cb26cb343639" },
  { "TEK CS 2", 0, K16,
    "2ad01c64"
    "02"
    "12345678" RAND_A,
    "516d29c1b61507585c0872488c7ff2c6" },
  { "PSK encr_key", 0, K16,
    "150533e1"
    "ff"
    "12345678" RAND_A,
    "728ffc4e7bea1d0d8106d39a7403f137" },
  { "PSK auth_key", 0, K16,
    "2d22ac75"
    "ff"
    "12345678" RAND_A,
    "1c259cd9039f914f4e376c9983028c56d93bfa48" },
  { "PSK salt_key", 0, K16,
    "29b88916"
    "ff"
    "12345678" RAND_A,
    "44f89561458faec57b3c630b5095" },
  /* one full 32-byte chunk (len % 32 == 0 must not mean "empty"), two output blocks */
  { "32-byte inkey, 40 B", 0, K32,
    "2ad01c64"
    "01"
    "12345678" RAND_A,
    "7e5a6762973f433719e65bc508c7726a31824552398e9a63081e4dc7c671b70d11de217c22a07554" },
  /* two chunks (32 + 16) XORed */
  { "48-byte inkey", 0, K48,
    "2ad01c64"
    "01"
    "12345678" RAND_A,
    "259f21e7a5879c096fab4d2d1f4cb549" },
  /* 6.2: SRTP master key/salt of CS 1 from TGK 101112..1f */
  { "6.2 SRTP key", 0, TGK_62,
    "2ad01c64"
    "01"
    "12345678" RAND_A,
    "392c8ba7d2732d4b838935ca7a943353" },
  { "6.2 SRTP salt", 0, TGK_62,
    "39a2c14b"
    "01"
    "12345678" RAND_A,
    "a947ce162d2c231991bf30c4b423" },
};

static const PrfRow prf_rows_6043[] = {
  { "initial auth_key", 0, K16,
    "2d22ac75"
    "ff"
    "12345678"
    "01"
    "10" RAND_A "00",
    "ae6bc6e742f6084f97fc43afcdd72e0fc7dec64f" },
  { "response auth_key", 0, K16,
    "2d22ac75"
    "ff"
    "12345678"
    "02"
    "10" RAND_A "00",
    "ce1a5aee5a4637bf4db65b1a90bd964076029b88" },
  { "response encr_key", 0, K16,
    "150533e1"
    "ff"
    "12345678"
    "02"
    "10" RAND_A "00",
    "2f7258f60612e33563cc1aa024320f77" },
  { "initial auth_key PRF 1", 1, K32,
    "2d22ac75"
    "ff"
    "12345678"
    "01"
    "10" RAND_A "00",
    "035470e04604ca54660a2b726c50085a6c0a8c41dd7208ada1cef9a533b07d67" },
  { "TGK->TEK H=1 G=0", 0, K16,
    "2ad01c64"
    "01"
    "ffffffff"
    "03"
    "10" RAND_A "00",
    "1df92943223f3ba43c4a5779cd0cc592" },
  { "MPKi", 0, MPK_63,
    "220e99a2"
    "ff"
    "ffffffff"
    "06"
    "10" RAND_B,
    "b0546c980a942e6993b2247fe7c7d245" },
  { "MPKr", 0, MPK_63,
    "1f4d675b"
    "ff"
    "ffffffff"
    "06"
    "10" RAND_B,
    MPKR_63 },
  { "TPK encr", 0, TPK_63,
    "150533e1"
    "ff"
    "ffffffff"
    "05"
    "10" RAND_B,
    "a69a9849f50a9653553cb36c77f7b60d" },
  { "TPK auth", 0, TPK_63,
    "2d22ac75"
    "ff"
    "ffffffff"
    "05"
    "10" RAND_B,
    "b94b7cdea5dd3fb1f4c9943d2b25ae3e6f3615f6" },
  { "TPK salt", 0, TPK_63,
    "29b88916"
    "ff"
    "ffffffff"
    "05"
    "10" RAND_B,
    "e5acf9a2487b3d24f7f24a1af533" },
  { "MPKr'", 0, MPKR_63,
    "2b288856"
    "ff"
    "ffffffff"
    "00"
    "0013" BOB_HEX "10" RAND_C,
    "2163775fb1e891a94808f6d5ff5b2219" },
  { "TGK'", 0, TGK_62,
    "1512b54a"
    "ff"
    "ffffffff"
    "00"
    "0013" BOB_HEX "10" RAND_C,
    "d01d2e2672462a3e33bee40028243991" },
  { "Vr auth_key", 0, MPKR_63,
    "2d22ac75"
    "ff"
    "ffffffff"
    "04",
    "4f5a6cb6d1cd623893c5d191bb99ae2c9f5010ba" },
};

static void test_prf_3830_literal(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(prf_rows_3830); i++) {
    const PrfRow *r = &prf_rows_3830[i];
    prf_expect(r->name, r->prf, r->inkey, r->label, r->out);
  }
}

static void test_prf_6043_literal(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(prf_rows_6043); i++) {
    const PrfRow *r = &prf_rows_6043[i];
    prf_expect(r->name, r->prf, r->inkey, r->label, r->out);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The same rows through the kdf.h builders, from semantic inputs                           */

static const guint32 CSB_6 = 0x12345678;

static void test_kdf_3830_builders(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rand = bytes_from_hex(RAND_A);
  const guint8 *r = g_bytes_get_data(rand, NULL);
  gsize rl = g_bytes_get_size(rand);
  g_autoptr(MikeySecret) k16 = secret_from_hex(K16);
  g_autoptr(MikeySecret) k32 = secret_from_hex(K32);
  g_autoptr(MikeySecret) k48 = secret_from_hex(K48);
  g_autoptr(MikeySecret) tgk = secret_from_hex(TGK_62);
  struct {
    const char *name;
    const MikeySecret *key;
    gboolean tgk_label;
    guint32 constant;
    guint8 cs_id;
    const char *out;
  } rows[] = {
    { "TEK CS 1", k16, TRUE, MIKEY_C_TEK, 1, prf_rows_3830[0].out },
    { "salt CS 1", k16, TRUE, MIKEY_C_SRTP_SALT, 1, prf_rows_3830[1].out },
    { "TEK CS 2", k16, TRUE, MIKEY_C_TEK, 2, prf_rows_3830[2].out },
    { "PSK encr_key", k16, FALSE, MIKEY_C_ENCR, 0, prf_rows_3830[3].out },
    { "PSK auth_key", k16, FALSE, MIKEY_C_AUTH, 0, prf_rows_3830[4].out },
    { "PSK salt_key", k16, FALSE, MIKEY_C_SALT, 0, prf_rows_3830[5].out },
    { "32-byte inkey, 40 B", k32, TRUE, MIKEY_C_TEK, 1, prf_rows_3830[6].out },
    { "48-byte inkey", k48, TRUE, MIKEY_C_TEK, 1, prf_rows_3830[7].out },
    { "6.2 SRTP key", tgk, TRUE, MIKEY_C_TEK, 1, prf_rows_3830[8].out },
    { "6.2 SRTP salt", tgk, TRUE, MIKEY_C_SRTP_SALT, 1, prf_rows_3830[9].out },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
    gsize out_len = strlen(rows[i].out) / 2;
    g_autoptr(MikeySecret) s = NULL;
    if (rows[i].tgk_label)
      s = mikey_kdf_3830_tgk(MIKEY_PRF_HMAC_SHA1, rows[i].key, rows[i].constant, rows[i].cs_id,
                             CSB_6, r, rl, out_len, &error);
    else
      s = mikey_kdf_3830_msg(MIKEY_PRF_HMAC_SHA1, rows[i].key, rows[i].constant, CSB_6, r, rl,
                             out_len, &error);
    g_assert_no_error(error);
    assert_secret_hex(rows[i].name, s, rows[i].out);
  }
}

static void test_kdf_6043_builders(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) ra = bytes_from_hex(RAND_A);
  g_autoptr(GBytes) rb = bytes_from_hex(RAND_B);
  g_autoptr(GBytes) rc = bytes_from_hex(RAND_C);
  g_autoptr(GBytes) bob = bytes_from_hex(BOB_HEX);
  g_autoptr(MikeySecret) k16 = secret_from_hex(K16);
  g_autoptr(MikeySecret) k32 = secret_from_hex(K32);
  g_autoptr(MikeySecret) mpk = secret_from_hex(MPK_63);
  g_autoptr(MikeySecret) tpk = secret_from_hex(TPK_63);
  g_autoptr(MikeySecret) tgk = secret_from_hex(TGK_62);
  const guint8 *a = g_bytes_get_data(ra, NULL);

  /* Ticket Request: RANDRi only; both directions from the same PSK differ. */
  g_autoptr(MikeySecret) init_auth =
      mikey_kdf_msg(0, k16, MIKEY_C_AUTH, CSB_6, MIKEY_LABEL_INITIAL, a, 16, NULL, 0, 20, &error);
  g_assert_no_error(error);
  assert_secret_hex("initial auth_key", init_auth, prf_rows_6043[0].out);
  g_autoptr(MikeySecret) resp_auth =
      mikey_kdf_msg(0, k16, MIKEY_C_AUTH, CSB_6, MIKEY_LABEL_RESPONSE, a, 16, NULL, 0, 20, &error);
  g_assert_no_error(error);
  assert_secret_hex("response auth_key", resp_auth, prf_rows_6043[1].out);
  g_autoptr(MikeySecret) resp_encr =
      mikey_kdf_msg(0, k16, MIKEY_C_ENCR, CSB_6, MIKEY_LABEL_RESPONSE, a, 16, NULL, 0, 16, &error);
  g_assert_no_error(error);
  assert_secret_hex("response encr_key", resp_encr, prf_rows_6043[2].out);
  g_autoptr(MikeySecret) init_auth1 =
      mikey_kdf_msg(1, k32, MIKEY_C_AUTH, CSB_6, MIKEY_LABEL_INITIAL, a, 16, NULL, 0, 32, &error);
  g_assert_no_error(error);
  assert_secret_hex("initial auth_key PRF 1", init_auth1, prf_rows_6043[3].out);

  /* The same keys through mikey_msg_keys_derive(): lengths follow the algorithms. */
  MikeyMsgKeys keys;
  g_assert_true(mikey_msg_keys_derive(&keys, 0, k16, CSB_6, MIKEY_LABEL_RESPONSE, a, 16, NULL, 0,
                                      MIKEY_ENCR_AES_CM_128, MIKEY_MAC_HMAC_SHA1_160, &error));
  g_assert_no_error(error);
  assert_secret_hex("keys.encr", keys.encr, prf_rows_6043[2].out);
  assert_secret_hex("keys.auth", keys.auth, prf_rows_6043[1].out);
  g_assert_cmpuint(keys.salt->len, ==, MIKEY_SALT_KEY_LEN);
  mikey_msg_keys_clear(&keys);
  g_assert_null(keys.encr);
  g_assert_null(keys.auth);
  g_assert_null(keys.salt);

  /* TGK -> TEK with H=1, G=0: RANDRr absent = a lone 0x00. */
  g_autoptr(MikeySecret) tek = mikey_kdf_tek(0, k16, MIKEY_C_TEK, 1, a, 16, NULL, 0, 16, &error);
  g_assert_no_error(error);
  assert_secret_hex("TGK->TEK", tek, prf_rows_6043[4].out);

  /* Base ticket: MPKi/MPKr from the MPK (as long as the MPK), keys from the TPK. */
  const guint8 *b = g_bytes_get_data(rb, NULL);
  g_autoptr(MikeySecret) mpki =
      mikey_kdf_ticket(0, mpk, MIKEY_C_MPKI, MIKEY_LABEL_MPK, b, 16, mpk->len, &error);
  g_assert_no_error(error);
  assert_secret_hex("MPKi", mpki, prf_rows_6043[5].out);
  g_autoptr(MikeySecret) mpkr =
      mikey_kdf_ticket(0, mpk, MIKEY_C_MPKR, MIKEY_LABEL_MPK, b, 16, mpk->len, &error);
  g_assert_no_error(error);
  assert_secret_hex("MPKr", mpkr, MPKR_63);
  const guint32 tpk_c[] = { MIKEY_C_ENCR, MIKEY_C_AUTH, MIKEY_C_SALT };
  const gsize tpk_len[] = { 16, 20, 14 };
  for (int i = 0; i < 3; i++) {
    g_autoptr(MikeySecret) k =
        mikey_kdf_ticket(0, tpk, tpk_c[i], MIKEY_LABEL_TPK, b, 16, tpk_len[i], &error);
    g_assert_no_error(error);
    assert_secret_hex(prf_rows_6043[7 + i].name, k, prf_rows_6043[7 + i].out);
  }

  /* Forking: output as long as the input; 16-bit ID length. */
  g_autoptr(MikeySecret) mpkr_f =
      mikey_kdf_fork(0, mpkr, MIKEY_C_FORK_MPKR, g_bytes_get_data(bob, NULL), g_bytes_get_size(bob),
                     g_bytes_get_data(rc, NULL), 16, &error);
  g_assert_no_error(error);
  assert_secret_hex("MPKr'", mpkr_f, prf_rows_6043[10].out);
  g_autoptr(MikeySecret) tgk_f =
      mikey_kdf_fork(0, tgk, MIKEY_C_FORK_TGK, g_bytes_get_data(bob, NULL), g_bytes_get_size(bob),
                     g_bytes_get_data(rc, NULL), 16, &error);
  g_assert_no_error(error);
  assert_secret_hex("TGK'", tgk_f, prf_rows_6043[11].out);

  g_autoptr(MikeySecret) vr = mikey_kdf_vr(0, mpkr, MIKEY_C_AUTH, 20, &error);
  g_assert_no_error(error);
  assert_secret_hex("Vr auth_key", vr, prf_rows_6043[12].out);
}

/* ---------------------------------------------------------------------------------------- */
/* PRF chunking and multi-block output as properties                                        */

static void prf_bytes(MikeyPrf prf, const guint8 *key, gsize key_len, const guint8 *label,
                      gsize label_len, guint8 *out, gsize out_len)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mikey_prf(prf, key, key_len, label, label_len, out, out_len, &error));
  g_assert_no_error(error);
}

static void test_prf_chunking(void)
{
  guint8 key[96], label[70];
  for (gsize i = 0; i < sizeof(key); i++)
    key[i] = (guint8)(7 * i + 1);
  for (gsize i = 0; i < sizeof(label); i++)
    label[i] = (guint8)(3 * i);
  for (int prf = 0; prf <= 1; prf++) {
    /* A key of n full chunks, or full chunks plus a remainder, is the XOR of the P-function
     * of each chunk. 32 and 64 are the sizes a len % 32 split gets wrong. */
    const gsize key_lens[] = { 1, 16, 31, 32, 33, 48, 63, 64, 65, 96 };
    for (gsize k = 0; k < G_N_ELEMENTS(key_lens); k++) {
      gsize kl = key_lens[k];
      guint8 whole[100], expect[100], part[100];
      prf_bytes(prf, key, kl, label, sizeof(label), whole, sizeof(whole));
      memset(expect, 0, sizeof(expect));
      for (gsize off = 0; off < kl; off += 32) {
        prf_bytes(prf, key + off, MIN(32, kl - off), label, sizeof(label), part, sizeof(part));
        for (gsize i = 0; i < sizeof(expect); i++)
          expect[i] ^= part[i];
      }
      g_autofree char *name = g_strdup_printf("PRF %d key %" G_GSIZE_FORMAT, prf, kl);
      g_autofree char *expect_hex = hex_from_data(expect, sizeof(expect));
      assert_data_hex(name, whole, sizeof(whole), expect_hex);
    }
    /* Outputs are prefixes of each other across block boundaries (20 / 32 byte blocks). */
    guint8 longer[100];
    prf_bytes(prf, key, 32, label, sizeof(label), longer, sizeof(longer));
    const gsize out_lens[] = { 1, 14, 16, 20, 21, 32, 33, 40, 64, 99 };
    for (gsize o = 0; o < G_N_ELEMENTS(out_lens); o++) {
      guint8 shorter[100];
      prf_bytes(prf, key, 32, label, sizeof(label), shorter, out_lens[o]);
      g_assert_cmpmem(shorter, out_lens[o], longer, out_lens[o]);
    }
  }
  /* Multi-block PRF 1 and an empty label still work and differ from PRF 0. */
  guint8 p0[64], p1[64];
  prf_bytes(0, key, 48, NULL, 0, p0, sizeof(p0));
  prf_bytes(1, key, 48, NULL, 0, p1, sizeof(p1));
  g_assert_false(mikey_const_equal(p0, sizeof(p0), p1, sizeof(p1)));
}

/* ---------------------------------------------------------------------------------------- */
/* The golden exchange (exchange.json)                                                      */

static JsonParser *exchange_parser;

static JsonObject *exchange_scenario(const char *name)
{
  if (exchange_parser == NULL) {
    g_autofree char *path =
        g_test_build_filename(G_TEST_DIST, "data", "exchange", "exchange.json", NULL);
    g_autoptr(GError) error = NULL;
    exchange_parser = json_parser_new();
    if (!json_parser_load_from_file(exchange_parser, path, &error))
      g_error("cannot load %s: %s", path, error->message);
  }
  JsonObject *root = json_node_get_object(json_parser_get_root(exchange_parser));
  JsonObject *scenarios = json_object_get_object_member(root, "scenarios");
  g_assert_nonnull(scenarios);
  JsonObject *sc = json_object_get_object_member(scenarios, name);
  g_assert_nonnull(sc);
  return sc;
}

/* An input ("hex") or an intermediate ("value") of the scenario, by its name. */
static GBytes *exchange_value(JsonObject *sc, const char *name)
{
  JsonObject *inputs = json_object_get_object_member(sc, "inputs");
  JsonObject *inter = json_object_get_object_member(sc, "intermediates");
  if (json_object_has_member(inter, name))
    return bytes_from_hex(
        json_object_get_string_member(json_object_get_object_member(inter, name), "value"));
  if (json_object_has_member(inputs, name))
    return bytes_from_hex(
        json_object_get_string_member(json_object_get_object_member(inputs, name), "hex"));
  g_error("exchange.json: no input or intermediate named \"%s\"", name);
  return NULL;
}

static MikeySecret *exchange_secret(JsonObject *sc, const char *name)
{
  g_autoptr(GBytes) b = exchange_value(sc, name);
  return secret_from_bytes(b);
}

static const char *exchange_hex(JsonObject *sc, const char *name)
{
  JsonObject *inter = json_object_get_object_member(sc, "intermediates");
  if (json_object_has_member(inter, name))
    return json_object_get_string_member(json_object_get_object_member(inter, name), "value");
  JsonObject *inputs = json_object_get_object_member(sc, "inputs");
  g_assert_true(json_object_has_member(inputs, name));
  return json_object_get_string_member(json_object_get_object_member(inputs, name), "hex");
}

static MikeyMacAlg mac_alg_of_prf(gint64 prf)
{
  g_assert_true(prf == 0 || prf == 1);
  return prf == 0 ? MIKEY_MAC_HMAC_SHA1_160 : MIKEY_MAC_HMAC_SHA256_256;
}

static GBytes *message_bytes(JsonObject *msg)
{
  return bytes_from_hex(json_object_get_string_member(msg, "hex"));
}

/* The base-ticket V input: the TICKET payload from the byte after its next-payload byte up
 * to the ticket V's MAC field (Initiator Data length and data come after the V). */
static GBytes *exchange_ticket_mac_input(JsonObject *sc)
{
  JsonArray *messages = json_object_get_array_member(sc, "messages");
  for (guint m = 0; m < json_array_get_length(messages); m++) {
    JsonObject *msg = json_array_get_object_element(messages, m);
    JsonArray *payloads = json_object_get_array_member(msg, "payloads");
    gint64 ticket_off = -1;
    for (guint p = 0; p < json_array_get_length(payloads); p++) {
      JsonObject *pl = json_array_get_object_element(payloads, p);
      const char *name = json_object_get_string_member(pl, "name");
      if (g_str_equal(name, "TICKET") && json_object_get_int_member(pl, "depth") == 0)
        ticket_off = json_object_get_int_member(pl, "offset");
      if (ticket_off >= 0 && g_str_equal(name, "TICKET/Ticket Data/V")) {
        const char *at = strstr(json_object_get_string_member(pl, "content"), "MAC at [");
        g_assert_nonnull(at);
        guint mac_start = 0, mac_end = 0;
        g_assert_cmpint(sscanf(at, "MAC at [%u, %u)", &mac_start, &mac_end), ==, 2);
        g_autoptr(GBytes) raw = message_bytes(msg);
        g_assert_cmpuint(mac_start, >, (guint)ticket_off + 1);
        return g_bytes_new_from_bytes(raw, (gsize)ticket_off + 1,
                                      mac_start - ((gsize)ticket_off + 1));
      }
    }
  }
  g_error("exchange.json: no message with a TICKET payload");
  return NULL;
}

/* The bytes an HMAC intermediate (empty label) covers, from its "use" text; checked against
 * the length and SHA-256 the text states when it states them. */
static GBytes *exchange_mac_input(JsonObject *sc, const char *name, const char *use)
{
  GBytes *data = NULL;
  const char *colon = strrchr(use, ':');
  if (colon != NULL && strspn(colon + 2, "0123456789abcdef") == strlen(colon + 2) &&
      strlen(colon + 2) > 0)
    data = bytes_from_hex(colon + 2);
  else if (strstr(use, "TICKET payload") != NULL)
    data = exchange_ticket_mac_input(sc);
  else
    g_error("exchange.json: don't know what the MAC \"%s\" covers: %s", name, use);

  const char *stated = strstr(use, " bytes, sha256 ");
  if (stated != NULL) {
    const char *open = strrchr(use, '(');
    guint len = 0;
    char sha[65] = { 0 };
    g_assert_cmpint(sscanf(open, "(%u bytes, sha256 %64[0-9a-f])", &len, sha), ==, 2);
    g_assert_cmpuint(g_bytes_get_size(data), ==, len);
    g_autofree char *got = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);
    g_assert_cmpstr(got, ==, sha);
  }
  return data;
}

/* Every intermediate: PRF calls by their literal label, HMACs over what they cover. The inkey
 * name resolves to an input or to the recorded value of another intermediate, which is itself
 * checked in the same loop. */
static void test_exchange_intermediates(gconstpointer data)
{
  JsonObject *sc = exchange_scenario(data);
  JsonObject *inter = json_object_get_object_member(sc, "intermediates");
  g_autoptr(GList) names = json_object_get_members(inter);
  guint n_prf = 0, n_mac = 0;
  g_assert_nonnull(names);
  for (GList *l = names; l != NULL; l = l->next) {
    const char *name = l->data;
    JsonObject *o = json_object_get_object_member(inter, name);
    const char *value = json_object_get_string_member(o, "value");
    const char *label_hex = json_object_get_string_member(o, "label");
    gint64 prf = json_object_get_int_member(o, "prf");
    g_assert_cmpuint(strlen(value), ==, 2 * (gsize)json_object_get_int_member(o, "len"));
    g_autoptr(MikeySecret) inkey = exchange_secret(sc, json_object_get_string_member(o, "inkey"));
    gsize out_len = strlen(value) / 2;
    g_autofree guint8 *out = g_malloc(MAX(out_len, 32));
    g_autoptr(GError) error = NULL;
    if (label_hex[0] != '\0') {
      g_autoptr(GBytes) label = bytes_from_hex(label_hex);
      g_assert_true(mikey_prf((MikeyPrf)prf, inkey->data, inkey->len, g_bytes_get_data(label, NULL),
                              g_bytes_get_size(label), out, out_len, &error));
      g_assert_no_error(error);
      n_prf++;
    } else {
      g_autoptr(GBytes) covered =
          exchange_mac_input(sc, name, json_object_get_string_member(o, "use"));
      MikeyIov part = { g_bytes_get_data(covered, NULL), g_bytes_get_size(covered) };
      MikeyMacAlg alg = mac_alg_of_prf(prf);
      g_assert_cmpint(mikey_mac_len(alg), ==, (gssize)out_len);
      g_assert_true(mikey_hmac(alg, inkey, &part, 1, out, &error));
      g_assert_no_error(error);
      n_mac++;
    }
    assert_data_hex(name, out, out_len, value);
  }
  g_test_message("scenario %s: %u PRF calls, %u MACs", (const char *)data, n_prf, n_mac);
  g_assert_cmpuint(n_prf + n_mac, ==, json_object_get_size(inter));
}

/* Every message's V MAC, recomputed from its stated coverage with mikey_hmac() over several
 * parts (message slices and appended identities/messages). */
static void test_exchange_message_macs(gconstpointer data)
{
  JsonObject *sc = exchange_scenario(data);
  JsonArray *messages = json_object_get_array_member(sc, "messages");
  guint n_checked = 0;
  for (guint m = 0; m < json_array_get_length(messages); m++) {
    JsonObject *msg = json_array_get_object_element(messages, m);
    JsonNode *mac_node = json_object_get_member(msg, "mac");
    if (mac_node == NULL || JSON_NODE_HOLDS_NULL(mac_node))
      continue;
    JsonObject *mac = json_node_get_object(mac_node);
    g_autoptr(GBytes) raw = message_bytes(msg);
    const guint8 *bytes = g_bytes_get_data(raw, NULL);
    const char *covers = json_object_get_string_member(mac, "covers");
    guint end = 0, cut_start = 0, cut_end = 0;
    g_assert_cmpint(sscanf(covers, "bytes [0, %u)", &end), ==, 1);
    const char *without = strstr(covers, " without [");
    if (without != NULL)
      g_assert_cmpint(sscanf(without, " without [%u, %u)", &cut_start, &cut_end), ==, 2);
    else
      cut_start = cut_end = end;
    g_assert_cmpuint(end, ==, json_object_get_int_member(mac, "mac_offset"));
    g_assert_cmpuint(cut_end, <=, end);

    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autoptr(GArray) parts = g_array_new(FALSE, FALSE, sizeof(MikeyIov));
    MikeyIov head = { bytes, cut_start }, tail = { bytes + cut_end, end - cut_end };
    g_array_append_val(parts, head);
    g_array_append_val(parts, tail);
    JsonArray *appended = json_object_get_array_member(mac, "appended");
    for (guint a = 0; a < json_array_get_length(appended); a++) {
      JsonObject *ap = json_array_get_object_element(appended, a);
      GBytes *b = bytes_from_hex(json_object_get_string_member(ap, "hex"));
      g_ptr_array_add(keep, b);
      MikeyIov part = { g_bytes_get_data(b, NULL), g_bytes_get_size(b) };
      g_array_append_val(parts, part);
    }
    gsize total = 0;
    for (guint i = 0; i < parts->len; i++)
      total += g_array_index(parts, MikeyIov, i).len;
    g_assert_cmpuint(total, ==, json_object_get_int_member(mac, "input_len"));

    const char *alg_name = json_object_get_string_member(mac, "alg");
    MikeyMacAlg alg = g_str_equal(alg_name, "HMAC-SHA-1-160") ? MIKEY_MAC_HMAC_SHA1_160
                                                              : MIKEY_MAC_HMAC_SHA256_256;
    g_assert_true(g_str_equal(alg_name, "HMAC-SHA-1-160") ||
                  g_str_equal(alg_name, "HMAC-SHA-256-256"));
    g_autoptr(MikeySecret) key = exchange_secret(sc, json_object_get_string_member(mac, "key"));
    guint8 out[32];
    g_autoptr(GError) error = NULL;
    g_assert_true(
        mikey_hmac(alg, key, &g_array_index(parts, MikeyIov, 0), parts->len, out, &error));
    g_assert_no_error(error);
    gsize mac_len = (gsize)mikey_mac_len(alg);
    g_autofree char *name = g_strdup_printf("%s MAC", json_object_get_string_member(msg, "id"));
    assert_data_hex(name, out, mac_len, json_object_get_string_member(mac, "mac"));
    /* ... and it is the MAC field of the message, which ends the message. */
    g_assert_cmpuint(end + mac_len, ==, g_bytes_get_size(raw));
    g_assert_true(mikey_const_equal(out, mac_len, bytes + end, mac_len));
    n_checked++;
  }
  g_assert_cmpuint(n_checked, >, 0);
}

/* Scenario C's 21 is 01 with its last (MAC) byte flipped: 01's coverage and key reject it. */
static void test_exchange_forged_mac(void)
{
  JsonObject *sc = exchange_scenario("A");
  g_autoptr(GBytes) good = load_file("data", "exchange", "01-a-request_init.bin", NULL);
  g_autoptr(GBytes) forged = load_file("data", "exchange", "21-c-request_init_bad_mac.bin", NULL);
  g_autoptr(GBytes) id_i = exchange_value(sc, "identity(initiator)");
  g_autoptr(GBytes) id_kms = exchange_value(sc, "KMS URI");
  g_autoptr(MikeySecret) key = exchange_secret(sc, "REQUEST_INIT.auth_key");
  g_assert_cmpuint(g_bytes_get_size(good), ==, g_bytes_get_size(forged));
  gsize len = g_bytes_get_size(good), mac_off = len - 32;
  GBytes *msgs[] = { good, forged };
  for (int i = 0; i < 2; i++) {
    const guint8 *d = g_bytes_get_data(msgs[i], NULL);
    MikeyIov parts[] = { { d, mac_off },
                         { g_bytes_get_data(id_i, NULL), g_bytes_get_size(id_i) },
                         { g_bytes_get_data(id_kms, NULL), g_bytes_get_size(id_kms) } };
    guint8 mac[32];
    g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA256_256, key, parts, 3, mac, NULL));
    g_assert_cmpint(mikey_const_equal(mac, 32, d + mac_off, 32), ==, i == 0);
  }
}

/* Every KEMAC: the IV from salt/CSB ID/T, encrypt(plaintext) = ciphertext, and back, also in
 * place; the ciphertext is the one carried in the messages. */
static void test_exchange_kemacs(gconstpointer data)
{
  JsonObject *sc = exchange_scenario(data);
  JsonObject *kemacs = json_object_get_object_member(sc, "kemac");
  JsonArray *messages = json_object_get_array_member(sc, "messages");
  g_autoptr(GList) names = json_object_get_members(kemacs);
  g_assert_nonnull(names);
  for (GList *l = names; l != NULL; l = l->next) {
    JsonObject *k = json_object_get_object_member(kemacs, l->data);
    g_autoptr(MikeySecret) salt = exchange_secret(sc, json_object_get_string_member(k, "salt_key"));
    g_autoptr(MikeySecret) encr = exchange_secret(sc, json_object_get_string_member(k, "encr_key"));
    g_autoptr(GBytes) csb_b = bytes_from_hex(json_object_get_string_member(k, "csb_id"));
    g_autoptr(GBytes) t_b = bytes_from_hex(json_object_get_string_member(k, "t"));
    guint32 csb_id = (guint32)be_uint(csb_b);
    guint64 t = be_uint(t_b);
    g_autofree char *iv_name = g_strdup_printf("%s IV", (const char *)l->data);
    guint8 iv[16];
    mikey_aes_cm_iv(salt, csb_id, t, iv);
    assert_data_hex(iv_name, iv, 16, json_object_get_string_member(k, "iv"));

    const char *plain_hex = json_object_get_string_member(k, "plaintext");
    const char *cipher_hex = json_object_get_string_member(k, "ciphertext");
    g_autoptr(GBytes) plain = bytes_from_hex(plain_hex);
    g_autoptr(GBytes) cipher = bytes_from_hex(cipher_hex);
    gsize len = g_bytes_get_size(plain);
    g_assert_cmpuint(len, ==, g_bytes_get_size(cipher));
    g_autofree guint8 *buf = g_malloc(len);
    g_autofree guint8 *back = g_malloc(len);
    g_autoptr(GError) error = NULL;
    g_assert_true(
        mikey_aes_cm(encr, salt, csb_id, t, g_bytes_get_data(plain, NULL), buf, len, &error));
    g_assert_no_error(error);
    g_autofree char *ct_name = g_strdup_printf("%s ciphertext", (const char *)l->data);
    assert_data_hex(ct_name, buf, len, cipher_hex);
    g_assert_true(mikey_aes_cm(encr, salt, csb_id, t, buf, back, len, &error));
    g_assert_cmpmem(back, len, g_bytes_get_data(plain, NULL), len);
    g_assert_true(mikey_aes_cm(encr, salt, csb_id, t, back, back, len, &error)); /* in place */
    assert_data_hex(ct_name, back, len, cipher_hex);

    gboolean carried = FALSE;
    for (guint m = 0; !carried && m < json_array_get_length(messages); m++) {
      JsonObject *msg = json_array_get_object_element(messages, m);
      carried = strstr(json_object_get_string_member(msg, "hex"), cipher_hex) != NULL;
    }
    g_assert_true(carried);
  }
}

/* Semantic rebuilds: the intermediates again, from the scenario's inputs through the kdf.h
 * builders (so the label formats, RAND choice per exchange, PRF choice and lengths are what
 * is tested, not the literal labels). */
typedef enum { RB_TICKET, RB_VR, RB_FORK, RB_TEK } RebuildKind;

typedef struct {
  const char *name; /* the intermediate compared */
  RebuildKind kind;
  const char *inkey;
  guint32 constant;
  guint8 arg;        /* CS ID (TEK) or purpose (TICKET) */
  const char *rand1; /* TICKET: ticket RAND; FORK: RANDRkms; TEK: RANDRi */
  const char *rand2; /* TEK: RANDRr */
  const char *id;    /* FORK: the ID data */
} Rebuild;

typedef struct {
  const char *prefix; /* "<prefix>.encr_key" etc. */
  const char *inkey;
  const char *csb;
  MikeyLabelPurpose dir;
  const char *randri; /* NULL = absent (0x00) */
  const char *randrr;
} MsgRebuild;

typedef struct {
  const char *scenario;
  MikeyPrf prf;
  MikeyEncrAlg encr;
  MikeyMacAlg mac;
  const MsgRebuild *msg;
  gsize n_msg;
  const Rebuild *keys;
  gsize n_keys;
} ScenarioRebuild;

#define TICKET_KEYS(rand)                                                                          \
  { "ticket.encr_key", RB_TICKET, "TPK", MIKEY_C_ENCR, MIKEY_LABEL_TPK, rand, NULL, NULL },        \
      { "ticket.auth_key", RB_TICKET, "TPK", MIKEY_C_AUTH, MIKEY_LABEL_TPK, rand, NULL, NULL },    \
      { "ticket.salt_key", RB_TICKET, "TPK", MIKEY_C_SALT, MIKEY_LABEL_TPK, rand, NULL, NULL },    \
      { "MPKi", RB_TICKET, "MPK", MIKEY_C_MPKI, MIKEY_LABEL_MPK, rand, NULL, NULL },               \
  {                                                                                                \
    "MPKr", RB_TICKET, "MPK", MIKEY_C_MPKR, MIKEY_LABEL_MPK, rand, NULL, NULL                      \
  }

#define SRTP_KEYS(tgk)                                                                             \
  { "CS1.TEK", RB_TEK, tgk, MIKEY_C_TEK, 1, "RANDRi(transfer)", "RANDRr(transfer)", NULL },        \
      { "CS1.salt(GCM)",    RB_TEK, tgk, MIKEY_C_SRTP_SALT, 1, "RANDRi(transfer)",                 \
        "RANDRr(transfer)", NULL },                                                                \
      { "CS1.salt(AES-CM)", RB_TEK, tgk, MIKEY_C_SRTP_SALT, 1, "RANDRi(transfer)",                 \
        "RANDRr(transfer)", NULL },                                                                \
      { "CS2.TEK", RB_TEK, tgk, MIKEY_C_TEK, 2, "RANDRi(transfer)", "RANDRr(transfer)", NULL },    \
      { "CS2.salt(GCM)",    RB_TEK, tgk, MIKEY_C_SRTP_SALT, 2, "RANDRi(transfer)",                 \
        "RANDRr(transfer)", NULL },                                                                \
  {                                                                                                \
    "CS2.salt(AES-CM)", RB_TEK, tgk, MIKEY_C_SRTP_SALT, 2, "RANDRi(transfer)", "RANDRr(transfer)", \
        NULL                                                                                       \
  }

/* Which RANDs each exchange's message keys take (mikey-ticket.md 2.6): Request RANDRi only,
 * Resolve RANDRr only, TRANSFER_RESP both (G=1). */
#define MSG_KEYS(transfer_resp_inkey)                                                                 \
  {                                                                                                   \
    "REQUEST_INIT", "PSK(alice)", "CSB ID(request)", MIKEY_LABEL_INITIAL, "RANDRi(request)", NULL     \
  },                                                                                                  \
      { "REQUEST_RESP",       "PSK(alice)",      "CSB ID(request)",                                   \
        MIKEY_LABEL_RESPONSE, "RANDRi(request)", NULL },                                              \
      { "TRANSFER_INIT", "MPKi", "CSB ID(transfer)", MIKEY_LABEL_INITIAL, "RANDRi(transfer)", NULL }, \
      { "RESOLVE_INIT",      "PSK(focus)", "CSB ID(resolve)",                                         \
        MIKEY_LABEL_INITIAL, NULL,         "RANDRr(resolve)" },                                       \
      { "RESOLVE_RESP",       "PSK(focus)", "CSB ID(resolve)",                                        \
        MIKEY_LABEL_RESPONSE, NULL,         "RANDRr(resolve)" },                                      \
  {                                                                                                   \
    "TRANSFER_RESP", transfer_resp_inkey, "CSB ID(transfer)", MIKEY_LABEL_RESPONSE,                   \
        "RANDRi(transfer)", "RANDRr(transfer)"                                                        \
  }

static const MsgRebuild rebuild_msg_a[] = { MSG_KEYS("MPKr'") };
static const Rebuild rebuild_keys_a[] = {
  TICKET_KEYS("RAND(ticket)"),
  { "Vr.auth_key", RB_VR, "MPKr", MIKEY_C_AUTH, 0, NULL, NULL, NULL },
  /* forked with the IDRr the KMS returned (the Request-URI, the factory) and RANDRkms */
  { "MPKr'", RB_FORK, "MPKr", MIKEY_C_FORK_MPKR, 0, "RANDRkms", NULL, "target" },
  { "TGK'", RB_FORK, "TGK", MIKEY_C_FORK_TGK, 0, "RANDRkms", NULL, "target" },
  SRTP_KEYS("TGK'"),
};

/* B: bob's keys; no forking, so TRANSFER_RESP is keyed by MPKi and the TEKs by the TGK. */
static const MsgRebuild rebuild_msg_b[] = {
  { "REQUEST_INIT", "PSK(bob)", "CSB ID(request)", MIKEY_LABEL_INITIAL, "RANDRi(request)", NULL },
  { "REQUEST_RESP", "PSK(bob)", "CSB ID(request)", MIKEY_LABEL_RESPONSE, "RANDRi(request)", NULL },
  { "TRANSFER_INIT", "MPKi", "CSB ID(transfer)", MIKEY_LABEL_INITIAL, "RANDRi(transfer)", NULL },
  { "RESOLVE_INIT", "PSK(focus)", "CSB ID(resolve)", MIKEY_LABEL_INITIAL, NULL, "RANDRr(resolve)" },
  { "RESOLVE_RESP", "PSK(focus)", "CSB ID(resolve)", MIKEY_LABEL_RESPONSE, NULL,
    "RANDRr(resolve)" },
  { "TRANSFER_RESP", "MPKi", "CSB ID(transfer)", MIKEY_LABEL_RESPONSE, "RANDRi(transfer)",
    "RANDRr(transfer)" },
};
static const Rebuild rebuild_keys_b[] = {
  TICKET_KEYS("RAND(ticket)"),
  SRTP_KEYS("TGK"),
};

static const MsgRebuild rebuild_msg_c[] = {
  { "bob REQUEST_INIT", "PSK(bob)", "CSB ID(bob request)", MIKEY_LABEL_INITIAL,
    "RANDRi(bob request)", NULL },
};

static const ScenarioRebuild rebuilds[] = {
  { "A", MIKEY_PRF_HMAC_SHA256, MIKEY_ENCR_AES_CM_256, MIKEY_MAC_HMAC_SHA256_256, rebuild_msg_a,
    G_N_ELEMENTS(rebuild_msg_a), rebuild_keys_a, G_N_ELEMENTS(rebuild_keys_a) },
  { "B", MIKEY_PRF_HMAC_SHA1, MIKEY_ENCR_AES_CM_128, MIKEY_MAC_HMAC_SHA1_160, rebuild_msg_b,
    G_N_ELEMENTS(rebuild_msg_b), rebuild_keys_b, G_N_ELEMENTS(rebuild_keys_b) },
  { "C", MIKEY_PRF_HMAC_SHA256, MIKEY_ENCR_AES_CM_256, MIKEY_MAC_HMAC_SHA256_256, rebuild_msg_c,
    G_N_ELEMENTS(rebuild_msg_c), NULL, 0 },
};

static const guint8 *opt_data(GBytes *b)
{
  return b != NULL ? g_bytes_get_data(b, NULL) : NULL;
}

static gsize opt_size(GBytes *b)
{
  return b != NULL ? g_bytes_get_size(b) : 0;
}

static GBytes *opt_value(JsonObject *sc, const char *name)
{
  return name != NULL ? exchange_value(sc, name) : NULL;
}

static void test_exchange_kdf_rebuild(gconstpointer data)
{
  const ScenarioRebuild *rb = data;
  JsonObject *sc = exchange_scenario(rb->scenario);
  g_autoptr(GError) error = NULL;

  for (gsize i = 0; i < rb->n_msg; i++) {
    const MsgRebuild *m = &rb->msg[i];
    g_autoptr(MikeySecret) inkey = exchange_secret(sc, m->inkey);
    g_autoptr(GBytes) csb = exchange_value(sc, m->csb);
    g_autoptr(GBytes) ri = opt_value(sc, m->randri);
    g_autoptr(GBytes) rr = opt_value(sc, m->randrr);
    MikeyMsgKeys keys;
    g_assert_true(mikey_msg_keys_derive(&keys, rb->prf, inkey, (guint32)be_uint(csb), m->dir,
                                        opt_data(ri), opt_size(ri), opt_data(rr), opt_size(rr),
                                        rb->encr, rb->mac, &error));
    g_assert_no_error(error);
    g_autofree char *encr = g_strdup_printf("%s.encr_key", m->prefix);
    g_autofree char *auth = g_strdup_printf("%s.auth_key", m->prefix);
    g_autofree char *salt = g_strdup_printf("%s.salt_key", m->prefix);
    assert_secret_hex(encr, keys.encr, exchange_hex(sc, encr));
    assert_secret_hex(auth, keys.auth, exchange_hex(sc, auth));
    assert_secret_hex(salt, keys.salt, exchange_hex(sc, salt));
    mikey_msg_keys_clear(&keys);
  }

  for (gsize i = 0; i < rb->n_keys; i++) {
    const Rebuild *k = &rb->keys[i];
    const char *want = exchange_hex(sc, k->name);
    gsize out_len = strlen(want) / 2;
    g_autoptr(MikeySecret) inkey = exchange_secret(sc, k->inkey);
    g_autoptr(GBytes) r1 = opt_value(sc, k->rand1);
    g_autoptr(GBytes) r2 = opt_value(sc, k->rand2);
    g_autoptr(GBytes) id = opt_value(sc, k->id);
    g_autoptr(MikeySecret) got = NULL;
    switch (k->kind) {
    case RB_TICKET:
      /* MPKi/MPKr are as long as the MPK; TPK keys as long as the algorithms say. */
      if (k->arg == MIKEY_LABEL_MPK)
        g_assert_cmpuint(out_len, ==, inkey->len);
      got = mikey_kdf_ticket(rb->prf, inkey, k->constant, k->arg, opt_data(r1), opt_size(r1),
                             out_len, &error);
      break;
    case RB_VR:
      g_assert_cmpint(out_len, ==, mikey_auth_key_len(rb->mac));
      got = mikey_kdf_vr(rb->prf, inkey, k->constant, out_len, &error);
      break;
    case RB_FORK:
      got = mikey_kdf_fork(rb->prf, inkey, k->constant, opt_data(id), opt_size(id), opt_data(r1),
                           opt_size(r1), &error);
      break;
    case RB_TEK:
      got = mikey_kdf_tek(rb->prf, inkey, k->constant, k->arg, opt_data(r1), opt_size(r1),
                          opt_data(r2), opt_size(r2), out_len, &error);
      break;
    }
    g_assert_no_error(error);
    assert_secret_hex(k->name, got, want);
  }
  /* The ticket keys have the lengths of the scenario's algorithms. */
  if (rb->n_keys > 0) {
    g_assert_cmpuint(strlen(exchange_hex(sc, "ticket.encr_key")) / 2, ==,
                     (gsize)mikey_encr_key_len(rb->encr));
    g_assert_cmpuint(strlen(exchange_hex(sc, "ticket.auth_key")) / 2, ==,
                     (gsize)mikey_auth_key_len(rb->mac));
  }
}

/* ---------------------------------------------------------------------------------------- */
/* mikey-ticket.md 6.2 / 6.4: complete RFC 3830 PSK messages and REQUEST_INIT_PSK           */

static void test_psk_exchange_vectors(void)
{
  g_autoptr(GBytes) i_msg = load_file("data", "psk_i.bin", NULL);
  g_autoptr(GBytes) r_msg = load_file("data", "psk_r.bin", NULL);
  g_autoptr(GBytes) req = load_file("data", "req_init.bin", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) psk = secret_from_hex(K16);
  g_autoptr(GBytes) rand = bytes_from_hex(RAND_A);
  const guint64 t = G_GUINT64_CONSTANT(0xE8A1B2C300000000);

  g_autoptr(MikeySecret) encr =
      mikey_kdf_3830_msg(0, psk, MIKEY_C_ENCR, CSB_6, g_bytes_get_data(rand, NULL), 16, 16, &error);
  g_autoptr(MikeySecret) auth =
      mikey_kdf_3830_msg(0, psk, MIKEY_C_AUTH, CSB_6, g_bytes_get_data(rand, NULL), 16, 20, &error);
  g_autoptr(MikeySecret) salt =
      mikey_kdf_3830_msg(0, psk, MIKEY_C_SALT, CSB_6, g_bytes_get_data(rand, NULL), 16, 14, &error);
  g_assert_no_error(error);

  /* KEMAC: IV and Key data encryption (checked there with openssl enc -aes-128-ctr). */
  guint8 iv[16];
  mikey_aes_cm_iv(salt, CSB_6, t, iv);
  assert_data_hex("6.2 IV", iv, 16, "44f8875513f74664c9ff630b50950000");
  g_autoptr(GBytes) plain = bytes_from_hex("00000010" TGK_62);
  guint8 ct[20];
  g_assert_true(
      mikey_aes_cm(encr, salt, CSB_6, t, g_bytes_get_data(plain, NULL), ct, sizeof(ct), &error));
  assert_data_hex("6.2 Key data", ct, sizeof(ct), "60bf4c2c3f232286b661b1a3288ed1b0f00e45fa");
  gsize i_len = 0;
  const guint8 *i_data = g_bytes_get_data(i_msg, &i_len);
  g_assert_cmpuint(i_len, ==, 175);
  g_assert_cmpmem(i_data + 134, sizeof(ct), ct, sizeof(ct));

  /* I_MESSAGE MAC: everything before the MAC field. */
  guint8 mac[20];
  MikeyIov i_part = { i_data, i_len - 20 };
  g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA1_160, auth, &i_part, 1, mac, &error));
  g_assert_true(mikey_const_equal(mac, 20, i_data + i_len - 20, 20));

  /* R_MESSAGE verification MAC: R || IDi || IDr || T of the Initiator. */
  gsize r_len = 0;
  const guint8 *r_data = g_bytes_get_data(r_msg, &r_len);
  const guint8 t_bytes[8] = { 0xe8, 0xa1, 0xb2, 0xc3, 0, 0, 0, 0 };
  MikeyIov r_parts[] = { { r_data, r_len - 20 },
                         { (const guint8 *)"sip:alice@example.org", 21 },
                         { (const guint8 *)"sip:bob@example.org", 19 },
                         { t_bytes, 8 } };
  g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA1_160, auth, r_parts, 4, mac, &error));
  assert_data_hex("6.2 R MAC", mac, 20, "db0df37fd6ca53fb9f12ec9c26f5ea05eb836580");
  g_assert_true(mikey_const_equal(mac, 20, r_data + r_len - 20, 20));

  /* 6.4: REQUEST_INIT_PSK MAC with the 6.3 initial auth_key, identities appended. */
  g_autoptr(MikeySecret) req_auth =
      mikey_kdf_msg(0, psk, MIKEY_C_AUTH, CSB_6, MIKEY_LABEL_INITIAL, g_bytes_get_data(rand, NULL),
                    16, NULL, 0, 20, &error);
  g_assert_no_error(error);
  gsize q_len = 0;
  const guint8 *q_data = g_bytes_get_data(req, &q_len);
  g_assert_cmpuint(q_len, ==, 215);
  MikeyIov q_parts[] = { { q_data, 195 },
                         { (const guint8 *)"sip:alice@example.org", 21 },
                         { (const guint8 *)"kms.example.org", 15 } };
  g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA1_160, req_auth, q_parts, 3, mac, &error));
  assert_data_hex("6.4 MAC", mac, 20, "62576092234db00a19e23f7a9e62f6e1e265c549");
  g_assert_true(mikey_const_equal(mac, 20, q_data + 195, 20));
}

/* ---------------------------------------------------------------------------------------- */
/* HMAC known answers (RFC 2202, RFC 4231) and multi-part == single-part                    */

static void hmac_expect(const char *name, MikeyMacAlg alg, const guint8 *key, gsize key_len,
                        const char *msg, const char *want)
{
  g_autoptr(MikeySecret) k = mikey_secret_new_from_data(key, key_len);
  g_autoptr(GError) error = NULL;
  guint8 out[32];
  MikeyIov part = { (const guint8 *)msg, strlen(msg) };
  g_assert_true(mikey_hmac(alg, k, &part, 1, out, &error));
  g_assert_no_error(error);
  assert_data_hex(name, out, (gsize)mikey_mac_len(alg), want);
}

static const char LARGER_KEY_MSG[] = "Test Using Larger Than Block-Size Key - Hash Key First";

static void test_hmac_known_answers(void)
{
  guint8 k0b[20], kaa[131];
  memset(k0b, 0x0b, sizeof(k0b));
  memset(kaa, 0xaa, sizeof(kaa));
  /* RFC 2202 (HMAC-SHA-1) test cases 1, 2, 6 */
  hmac_expect("RFC 2202 #1", MIKEY_MAC_HMAC_SHA1_160, k0b, 20, "Hi There",
              "b617318655057264e28bc0b6fb378c8ef146be00");
  hmac_expect("RFC 2202 #2", MIKEY_MAC_HMAC_SHA1_160, (const guint8 *)"Jefe", 4,
              "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  hmac_expect("RFC 2202 #6", MIKEY_MAC_HMAC_SHA1_160, kaa, 80, LARGER_KEY_MSG,
              "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  /* RFC 4231 (HMAC-SHA-256) test cases 1, 2, 6 */
  hmac_expect("RFC 4231 #1", MIKEY_MAC_HMAC_SHA256_256, k0b, 20, "Hi There",
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  hmac_expect("RFC 4231 #2", MIKEY_MAC_HMAC_SHA256_256, (const guint8 *)"Jefe", 4,
              "what do ya want for nothing?",
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  hmac_expect("RFC 4231 #6", MIKEY_MAC_HMAC_SHA256_256, kaa, 131, LARGER_KEY_MSG,
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hmac_multipart(void)
{
  guint8 data[600];
  for (gsize i = 0; i < sizeof(data); i++)
    data[i] = (guint8)(i * 31 + 7);
  g_autoptr(MikeySecret) key = secret_from_hex(K32);
  const MikeyMacAlg algs[] = { MIKEY_MAC_HMAC_SHA1_160, MIKEY_MAC_HMAC_SHA256_256 };
  for (gsize a = 0; a < G_N_ELEMENTS(algs); a++) {
    guint8 one[32], many[32];
    MikeyIov whole = { data, sizeof(data) };
    g_assert_true(mikey_hmac(algs[a], key, &whole, 1, one, NULL));
    /* Split at odd places, across block boundaries, with empty parts in between. */
    MikeyIov parts[] = { { data, 1 },       { NULL, 0 },        { data + 1, 63 },
                         { data + 64, 0 },  { data + 64, 200 }, { data + 264, 300 },
                         { data + 564, 36 } };
    g_assert_true(mikey_hmac(algs[a], key, parts, G_N_ELEMENTS(parts), many, NULL));
    gsize n = (gsize)mikey_mac_len(algs[a]);
    g_assert_cmpmem(one, n, many, n);
    /* A one-byte change anywhere changes the MAC. */
    data[599] ^= 1;
    g_assert_true(mikey_hmac(algs[a], key, &whole, 1, many, NULL));
    g_assert_false(mikey_const_equal(one, n, many, n));
    data[599] ^= 1;
  }
  /* No parts at all = HMAC of the empty string (RFC 4231 has none; cross-checked with
   * `openssl dgst -sha256 -mac HMAC -macopt hexkey:...` on an empty file). */
  guint8 empty_mac[32];
  g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA256_256, key, NULL, 0, empty_mac, NULL));
  MikeyIov nothing = { NULL, 0 };
  guint8 empty_mac2[32];
  g_assert_true(mikey_hmac(MIKEY_MAC_HMAC_SHA256_256, key, &nothing, 1, empty_mac2, NULL));
  g_assert_cmpmem(empty_mac, 32, empty_mac2, 32);
}

/* ---------------------------------------------------------------------------------------- */
/* AES-CM                                                                                   */

static void test_aes_cm_counter_limit(void)
{
  const gsize max = (gsize)16 << 16; /* 2^16 blocks */
  g_autofree guint8 *in = g_malloc0(max + 1);
  g_autofree guint8 *out = g_malloc0(max + 1);
  g_autoptr(MikeySecret) key = secret_from_hex(K16);
  g_autoptr(MikeySecret) salt = secret_from_hex("0102030405060708090a0b0c0d0e");
  g_autoptr(GError) error = NULL;
  const guint32 csb = 0xdeadbeef;
  const guint64 t = G_GUINT64_CONSTANT(0x0123456789abcdef);

  /* Over the limit: refused before anything is written. */
  memset(out, 0x5a, max + 1);
  g_assert_false(mikey_aes_cm(key, salt, csb, t, in, out, max + 1, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
  g_clear_error(&error);
  g_assert_cmpuint(out[0], ==, 0x5a);

  /* Exactly 2^16 blocks: accepted; block k is AES(key, IV with low 16 bits = k), i.e. the
   * counter lives in the low 16 bits and never carries into CSB ID / T. */
  g_assert_true(mikey_aes_cm(key, salt, csb, t, in, out, max, &error));
  g_assert_no_error(error);
  guint8 iv[16];
  mikey_aes_cm_iv(salt, csb, t, iv);
  g_assert_cmpuint(iv[14], ==, 0);
  g_assert_cmpuint(iv[15], ==, 0);
  const guint32 blocks[] = { 0, 1, 255, 256, 0xfffe, 0xffff };
  EVP_CIPHER_CTX *ecb = EVP_CIPHER_CTX_new();
  g_assert_nonnull(ecb);
  g_assert_cmpint(EVP_EncryptInit_ex(ecb, EVP_aes_128_ecb(), NULL, key->data, NULL), ==, 1);
  EVP_CIPHER_CTX_set_padding(ecb, 0);
  for (gsize b = 0; b < G_N_ELEMENTS(blocks); b++) {
    guint8 ctr[16], ks[16];
    int ks_len = 0;
    memcpy(ctr, iv, 16);
    ctr[14] = (guint8)(blocks[b] >> 8);
    ctr[15] = (guint8)blocks[b];
    g_assert_cmpint(EVP_EncryptUpdate(ecb, ks, &ks_len, ctr, 16), ==, 1);
    g_assert_cmpint(ks_len, ==, 16);
    g_assert_cmpmem(out + 16 * blocks[b], 16, ks, 16);
  }
  EVP_CIPHER_CTX_free(ecb);
}

static void test_aes_cm_iv_layout(void)
{
  /* salt XOR (0x0000 || CSB ID || T), then 0x0000: with a zero salt the IV shows the layout. */
  g_autoptr(MikeySecret) zero = mikey_secret_new(MIKEY_SALT_KEY_LEN);
  guint8 iv[16];
  mikey_aes_cm_iv(zero, 0x11223344, G_GUINT64_CONSTANT(0x5566778899aabbcc), iv);
  assert_data_hex("IV", iv, 16,
                  "00001122334455667788"
                  "99aabbcc0000");
}

/* ---------------------------------------------------------------------------------------- */
/* Refusals: bad algorithms and parameters give FALSE/NULL + GError, never a crash          */

static void test_errors(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) k16 = secret_from_hex(K16);
  g_autoptr(MikeySecret) salt = secret_from_hex("0102030405060708090a0b0c0d0e");
  guint8 out[64], in[16] = { 0 };

  /* Unknown PRF, directly and through every builder. */
  g_assert_false(mikey_prf((MikeyPrf)7, k16->data, 16, in, 4, out, 16, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF);
  g_clear_error(&error);
  g_assert_null(mikey_prf_md((MikeyPrf)2, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_msg((MikeyPrf)9, k16, MIKEY_C_AUTH, 1, MIKEY_LABEL_INITIAL, in, 16, NULL,
                              0, 20, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_vr((MikeyPrf)127, k16, MIKEY_C_AUTH, 20, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF);
  g_clear_error(&error);

  /* Empty inkey: would otherwise give an all-zero key. */
  g_assert_false(mikey_prf(MIKEY_PRF_HMAC_SHA1, NULL, 0, in, 4, out, 16, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_autoptr(MikeySecret) empty = mikey_secret_new(0);
  g_assert_null(mikey_kdf_vr(0, empty, MIKEY_C_AUTH, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_vr(0, NULL, MIKEY_C_AUTH, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_vr(0, k16, MIKEY_C_AUTH, 0, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);

  /* Purpose bytes a builder does not own; RANDs/IDs that do not fit their length field. */
  g_assert_null(
      mikey_kdf_msg(0, k16, MIKEY_C_AUTH, 1, MIKEY_LABEL_TEK, in, 16, NULL, 0, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_ticket(0, k16, MIKEY_C_AUTH, MIKEY_LABEL_INITIAL, in, 16, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_autofree guint8 *big = g_malloc0(65536);
  g_assert_null(
      mikey_kdf_msg(0, k16, MIKEY_C_AUTH, 1, MIKEY_LABEL_INITIAL, big, 256, NULL, 0, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(mikey_kdf_fork(0, k16, MIKEY_C_FORK_TGK, big, 65536, in, 16, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(
      mikey_kdf_msg(0, k16, MIKEY_C_AUTH, 1, MIKEY_LABEL_INITIAL, NULL, 16, NULL, 0, 20, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  /* A long ID that still fits goes through the heap label. */
  g_autoptr(MikeySecret) forked =
      mikey_kdf_fork(0, k16, MIKEY_C_FORK_TGK, big, 65535, in, 16, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(forked->len, ==, 16);

  /* TGK -> TEK with neither RAND (H = G = 0) is a policy error. */
  g_assert_null(mikey_kdf_tek(0, k16, MIKEY_C_TEK, 1, NULL, 0, NULL, 0, 16, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_TPPAR);
  g_clear_error(&error);

  /* Algorithms: lengths, and unknown ones refused. */
  g_assert_cmpint(mikey_encr_key_len(MIKEY_ENCR_NULL), ==, 0);
  g_assert_cmpint(mikey_encr_key_len(MIKEY_ENCR_AES_CM_128), ==, 16);
  g_assert_cmpint(mikey_encr_key_len(MIKEY_ENCR_AES_KW_128), ==, 16);
  g_assert_cmpint(mikey_encr_key_len(MIKEY_ENCR_AES_CM_256), ==, 32);
  g_assert_cmpint(mikey_encr_key_len((MikeyEncrAlg)4), ==, -1);
  g_assert_cmpint(mikey_auth_key_len(MIKEY_MAC_NULL), ==, 0);
  g_assert_cmpint(mikey_auth_key_len(MIKEY_MAC_HMAC_SHA1_160), ==, 20);
  g_assert_cmpint(mikey_auth_key_len(MIKEY_MAC_HMAC_SHA256_256), ==, 32);
  g_assert_cmpint(mikey_auth_key_len((MikeyMacAlg)3), ==, -1);
  g_assert_cmpint(mikey_mac_len(MIKEY_MAC_HMAC_SHA1_160), ==, 20);
  g_assert_cmpint(mikey_mac_len(MIKEY_MAC_HMAC_SHA256_256), ==, 32);
  g_assert_cmpint(mikey_mac_len((MikeyMacAlg)200), ==, -1);

  MikeyMsgKeys keys;
  g_assert_false(mikey_msg_keys_derive(&keys, 0, k16, 1, MIKEY_LABEL_INITIAL, in, 16, NULL, 0,
                                       (MikeyEncrAlg)9, MIKEY_MAC_HMAC_SHA1_160, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA);
  g_clear_error(&error);
  g_assert_null(keys.encr);
  g_assert_null(keys.auth);
  g_assert_null(keys.salt);
  g_assert_false(mikey_msg_keys_derive(&keys, 0, k16, 1, MIKEY_LABEL_INITIAL, in, 16, NULL, 0,
                                       MIKEY_ENCR_AES_CM_128, (MikeyMacAlg)9, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC);
  g_clear_error(&error);
  g_assert_false(mikey_msg_keys_derive(&keys, (MikeyPrf)5, k16, 1, MIKEY_LABEL_INITIAL, in, 16,
                                       NULL, 0, MIKEY_ENCR_AES_CM_128, MIKEY_MAC_HMAC_SHA1_160,
                                       &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_PRF);
  g_clear_error(&error);
  g_assert_null(keys.encr);
  /* NULL algorithms: no encr/auth key, still the salt. */
  g_assert_true(mikey_msg_keys_derive(&keys, 0, k16, 1, MIKEY_LABEL_INITIAL, in, 16, NULL, 0,
                                      MIKEY_ENCR_NULL, MIKEY_MAC_NULL, &error));
  g_assert_no_error(error);
  g_assert_null(keys.encr);
  g_assert_null(keys.auth);
  g_assert_cmpuint(keys.salt->len, ==, MIKEY_SALT_KEY_LEN);
  mikey_msg_keys_clear(&keys);

  /* HMAC: NULL MAC and unknown algorithms are no MAC at all. */
  MikeyIov part = { in, sizeof(in) };
  g_assert_false(mikey_hmac(MIKEY_MAC_NULL, k16, &part, 1, out, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC);
  g_clear_error(&error);
  g_assert_false(mikey_hmac((MikeyMacAlg)3, k16, &part, 1, out, &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_MAC);
  g_clear_error(&error);
  g_assert_false(mikey_hmac(MIKEY_MAC_HMAC_SHA1_160, NULL, &part, 1, out, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);

  /* AES-CM: key and salt lengths. */
  g_autoptr(MikeySecret) k24 = mikey_secret_new(24);
  g_assert_false(mikey_aes_cm(k24, salt, 1, 2, in, out, sizeof(in), &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA);
  g_clear_error(&error);
  g_assert_false(mikey_aes_cm(NULL, salt, 1, 2, in, out, sizeof(in), &error));
  g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_EA);
  g_clear_error(&error);
  g_autoptr(MikeySecret) salt12 = mikey_secret_new(12);
  g_assert_false(mikey_aes_cm(k16, salt12, 1, 2, in, out, sizeof(in), &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_true(mikey_aes_cm(k16, salt, 1, 2, NULL, NULL, 0, &error)); /* nothing to do */
  g_assert_no_error(error);
}

/* ---------------------------------------------------------------------------------------- */
/* Secrets                                                                                  */

static void test_secret_random(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) a = mikey_secret_new_random(32, &error);
  g_assert_no_error(error);
  g_autoptr(MikeySecret) b = mikey_secret_new_random(32, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(a->len, ==, 32);
  g_assert_cmpuint(b->len, ==, 32);
  g_assert_false(mikey_secret_equal(a, b));
  g_autoptr(MikeySecret) c = mikey_secret_new_random(14, &error);
  g_assert_cmpuint(c->len, ==, 14);
  g_autoptr(MikeySecret) z = mikey_secret_new_random(0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(z->len, ==, 0);

  guint8 r1[32], r2[32];
  g_assert_true(mikey_random_bytes(r1, sizeof(r1), &error));
  g_assert_true(mikey_random_bytes(r2, sizeof(r2), &error));
  g_assert_no_error(error);
  g_assert_false(mikey_const_equal(r1, 32, r2, 32));
}

static void test_secret_hex(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MikeySecret) s = mikey_secret_new_from_hex("00ff10AbcD", &error);
  g_assert_no_error(error);
  assert_secret_hex("hex", s, "00ff10abcd");

  const char *bad[] = { "abc", "0", "zz", "0g", "00 11", "0x00", "", "12345-", "ab\xc3\xa9" };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    MikeySecret *r = mikey_secret_new_from_hex(bad[i], &error);
    g_assert_null(r);
    g_assert_error(error, MIKEY_ERROR, MIKEY_ERR_UNSPECIFIED);
    g_clear_error(&error);
  }
  g_assert_null(mikey_secret_new_from_hex(NULL, &error));
  g_assert_nonnull(error);
}

static void test_secret_compare(void)
{
  const guint8 a[] = { 1, 2, 3, 4 }, b[] = { 1, 2, 3, 5 };
  g_assert_true(mikey_const_equal(a, 4, a, 4));
  g_assert_false(mikey_const_equal(a, 4, b, 4));
  g_assert_false(mikey_const_equal(a, 4, a, 3)); /* same prefix, different lengths */
  g_assert_false(mikey_const_equal(a, 3, a, 4));
  g_assert_true(mikey_const_equal(a, 0, b, 0));
  g_assert_true(mikey_const_equal(NULL, 0, NULL, 0));
  g_assert_false(mikey_const_equal(NULL, 4, a, 4));

  g_autoptr(MikeySecret) s = mikey_secret_new_from_data(a, 4);
  g_autoptr(MikeySecret) d = mikey_secret_dup(s);
  g_autoptr(MikeySecret) t = mikey_secret_new_from_data(a, 3);
  g_autoptr(MikeySecret) z = mikey_secret_new(4);
  g_assert_true(d != s && d->data != s->data);
  g_assert_true(mikey_secret_equal(s, d));
  g_assert_false(mikey_secret_equal(s, t));
  g_assert_false(mikey_secret_equal(s, z));
  g_assert_false(mikey_secret_equal(s, NULL));
  for (gsize i = 0; i < z->len; i++)
    g_assert_cmpuint(z->data[i], ==, 0);
  g_assert_null(mikey_secret_dup(NULL));
  mikey_secret_free(NULL);
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  g_test_add_func("/crypto/prf/rfc3830-vectors", test_prf_3830_literal);
  g_test_add_func("/crypto/prf/rfc6043-vectors", test_prf_6043_literal);
  g_test_add_func("/crypto/prf/chunking", test_prf_chunking);
  g_test_add_func("/crypto/kdf/rfc3830-builders", test_kdf_3830_builders);
  g_test_add_func("/crypto/kdf/rfc6043-builders", test_kdf_6043_builders);
  g_test_add_func("/crypto/psk-exchange-vectors", test_psk_exchange_vectors);
  const char *scenarios[] = { "A", "B", "C" };
  for (gsize i = 0; i < G_N_ELEMENTS(scenarios); i++) {
    g_autofree char *p1 = g_strdup_printf("/crypto/exchange/%s/intermediates", scenarios[i]);
    g_test_add_data_func(p1, scenarios[i], test_exchange_intermediates);
    g_autofree char *p2 = g_strdup_printf("/crypto/exchange/%s/message-macs", scenarios[i]);
    g_test_add_data_func(p2, scenarios[i], test_exchange_message_macs);
    g_autofree char *p3 = g_strdup_printf("/crypto/exchange/%s/kdf-rebuild", scenarios[i]);
    g_test_add_data_func(p3, &rebuilds[i], test_exchange_kdf_rebuild);
    if (!g_str_equal(scenarios[i], "C")) { /* C has no KEMAC */
      g_autofree char *p4 = g_strdup_printf("/crypto/exchange/%s/kemacs", scenarios[i]);
      g_test_add_data_func(p4, scenarios[i], test_exchange_kemacs);
    }
  }
  g_test_add_func("/crypto/exchange/C/forged-mac", test_exchange_forged_mac);
  g_test_add_func("/crypto/hmac/known-answers", test_hmac_known_answers);
  g_test_add_func("/crypto/hmac/multipart", test_hmac_multipart);
  g_test_add_func("/crypto/aes-cm/counter-limit", test_aes_cm_counter_limit);
  g_test_add_func("/crypto/aes-cm/iv-layout", test_aes_cm_iv_layout);
  g_test_add_func("/crypto/errors", test_errors);
  g_test_add_func("/crypto/secret/random", test_secret_random);
  g_test_add_func("/crypto/secret/hex", test_secret_hex);
  g_test_add_func("/crypto/secret/compare", test_secret_compare);

  int ret = g_test_run();
  g_clear_object(&exchange_parser);
  return ret;
}
