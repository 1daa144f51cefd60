/* bench-mikey: what the MIKEY-TICKET exchanges cost on one core.
 *
 *   bench-mikey [--data DIR] [--cpu N] [--seconds S] [--trials N]
 *
 * Inputs are scenario A of the golden exchange (DIR, default tests/data/exchange of the source
 * tree: exchange.json and the NN-a-*.bin messages). The process pins itself to one CPU (0 by
 * default) and, for each figure, warms up, then runs the operation in --trials rounds of at
 * least --seconds each and prints the median rate. Figures:
 *   1. parse of the TRANSFER_INIT (03, 687 bytes): mikey_msg_parse(), and
 *      mikey_transfer_init_parse() (the parse with the focus's structural checks);
 *   2. the initiator builds a TRANSFER_INIT (fresh RANDRi each time) and the focus parses and
 *      verifies it with the resolved keys;
 *   3. the KMS side of a Resolve: RESOLVE_INIT (04) parse + MAC + ticket open + authorisation
 *      (its IDRr among the ticket's IDRr) + RESOLVE_RESP with a fresh RANDRkms;
 *   4. the focus after the resolve: mikey_resolve_resp_open() (05) + mikey_transfer_init_verify()
 *      of the TRANSFER_INIT (parsed once).
 * Every operation is checked to succeed. Not part of `make check`; `make bench` runs it. */
#include "bench-util.h"
#include "exchange.h"

#include <json-glib/json-glib.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MIKEY_BENCH_DATADIR
#define MIKEY_BENCH_DATADIR "tests/data/exchange"
#endif

/* ------------------------------------------------------------------ inputs */

typedef struct {
  JsonParser *parser;
  JsonObject *inputs;
  const char *dir;
} Vectors;

static void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;

static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("bench-mikey: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static const char *input_hex(Vectors *v, const char *name)
{
  JsonObject *o = json_object_get_object_member(v->inputs, name);
  if (o == NULL || !json_object_has_member(o, "hex"))
    die("exchange.json: scenario A has no input \"%s\"", name);
  return json_object_get_string_member(o, "hex");
}

static GBytes *hex_bytes(const char *hex)
{
  gsize n = strlen(hex) / 2;
  guint8 *b = g_malloc(n ? n : 1);
  for (gsize i = 0; i < n; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      die("bad hex \"%s\"", hex);
    b[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(b, n);
}

static GBytes *in_bytes(Vectors *v, const char *name)
{
  return hex_bytes(input_hex(v, name));
}

static guint64 in_u64(Vectors *v, const char *name)
{
  return g_ascii_strtoull(input_hex(v, name), NULL, 16);
}

static char *in_text(Vectors *v, const char *name)
{
  g_autoptr(GBytes) b = in_bytes(v, name);
  return g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static MikeySecret *in_secret(Vectors *v, const char *name)
{
  g_autoptr(GError) error = NULL;
  MikeySecret *s = mikey_secret_new_from_hex(input_hex(v, name), &error);
  if (s == NULL)
    die("input \"%s\": %s", name, error->message);
  return s;
}

static GBytes *load(Vectors *v, const char *file)
{
  g_autofree char *path = g_build_filename(v->dir, file, NULL);
  g_autoptr(GError) error = NULL;
  char *data;
  gsize len;
  if (!g_file_get_contents(path, &data, &len, &error))
    die("%s", error->message);
  return g_bytes_new_take(data, len);
}

static void vectors_load(Vectors *v, const char *dir)
{
  g_autofree char *path = g_build_filename(dir, "exchange.json", NULL);
  g_autoptr(GError) error = NULL;
  v->dir = dir;
  v->parser = json_parser_new();
  if (!json_parser_load_from_file(v->parser, path, &error))
    die("%s: %s (use --data DIR)", path, error->message);
  JsonObject *root = json_node_get_object(json_parser_get_root(v->parser));
  JsonObject *scenarios = json_object_get_object_member(root, "scenarios");
  JsonObject *a = scenarios ? json_object_get_object_member(scenarios, "A") : NULL;
  v->inputs = a ? json_object_get_object_member(a, "inputs") : NULL;
  if (v->inputs == NULL)
    die("%s: no scenarios.A.inputs", path);
}

/* ------------------------------------------------------------------ the exchange */

typedef struct {
  /* scenario A inputs */
  MikeySecret *psk_alice, *psk_focus, *tpk;
  GBytes *tgk_spi;
  char *alice, *target, *kms, *focus;
  guint32 csb_transfer;
  guint64 t_transfer_init, t_resolve_resp;
  guint32 ssrc;
  guint16 seq;
  /* messages */
  GBytes *request_init, *request_resp, *transfer_init, *resolve_init, *resolve_resp;
  /* both ends' keys, from the vectors through the library */
  MikeyTicketGrant grant;
  MikeyResolvedKeys resolved;
  MikeyTransferInitView view; /* of transfer_init */
} Exchange;

static const MikeySecret *lookup_tpk(GBytes *tpk_id, gpointer user_data)
{
  (void)tpk_id;
  return ((Exchange *)user_data)->tpk;
}

static void exchange_load(Exchange *x, Vectors *v)
{
  g_autoptr(GError) error = NULL;
  x->psk_alice = in_secret(v, "PSK(alice)");
  x->psk_focus = in_secret(v, "PSK(focus)");
  x->tpk = in_secret(v, "TPK");
  x->tgk_spi = in_bytes(v, "TGK SPI");
  x->alice = in_text(v, "identity(initiator)");
  x->focus = in_text(v, "identity(focus)");
  x->target = in_text(v, "target");
  x->kms = in_text(v, "KMS URI");
  x->csb_transfer = (guint32)in_u64(v, "CSB ID(transfer)");
  x->t_transfer_init = in_u64(v, "T(TRANSFER_INIT)");
  x->t_resolve_resp = in_u64(v, "T(RESOLVE_RESP)");
  x->ssrc = (guint32)in_u64(v, "SSRC(initiator)");
  x->seq = (guint16)in_u64(v, "SEQ(initiator)");
  x->request_init = load(v, "01-a-request_init.bin");
  x->request_resp = load(v, "02-a-request_resp.bin");
  x->transfer_init = load(v, "03-a-transfer_init.bin");
  x->resolve_init = load(v, "04-a-resolve_init.bin");
  x->resolve_resp = load(v, "05-a-resolve_resp.bin");
  if (!mikey_request_resp_open(x->request_resp, x->request_init, x->psk_alice, &x->grant, &error))
    die("REQUEST_RESP 02 does not open: %s", error->message);
  if (!mikey_resolve_resp_open(x->resolve_resp, x->resolve_init, x->psk_focus, &x->resolved,
                               &error))
    die("RESOLVE_RESP 05 does not open: %s", error->message);
  if (!mikey_transfer_init_parse(x->transfer_init, &x->view, &error) ||
      !mikey_transfer_init_verify(&x->view, &x->resolved, x->target, &error))
    die("TRANSFER_INIT 03 does not verify: %s", error->message);
}

static void exchange_clear(Exchange *x)
{
  mikey_secret_free(x->psk_alice);
  mikey_secret_free(x->psk_focus);
  mikey_secret_free(x->tpk);
  g_bytes_unref(x->tgk_spi);
  g_free(x->alice);
  g_free(x->focus);
  g_free(x->target);
  g_free(x->kms);
  g_bytes_unref(x->request_init);
  g_bytes_unref(x->request_resp);
  g_bytes_unref(x->transfer_init);
  g_bytes_unref(x->resolve_init);
  g_bytes_unref(x->resolve_resp);
  mikey_ticket_grant_clear(&x->grant);
  mikey_resolved_keys_clear(&x->resolved);
  mikey_transfer_init_view_clear(&x->view);
}

/* ------------------------------------------------------------------ operations */

typedef gboolean (*BenchOp)(Exchange *x, GError **error);

/* 1. mikey_msg_parse of the TRANSFER_INIT */
static gboolean op_msg_parse(Exchange *x, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data(x->transfer_init, &len);
  MikeyMsg *msg = mikey_msg_parse(d, len, error);
  mikey_msg_free(msg);
  return msg != NULL;
}

/* 1b. the focus's parse: message + structural checks */
static gboolean op_transfer_init_parse(Exchange *x, GError **error)
{
  MikeyTransferInitView view;
  gboolean ok = mikey_transfer_init_parse(x->transfer_init, &view, error);
  if (ok)
    mikey_transfer_init_view_clear(&view);
  return ok;
}

/* 2. build (fresh RANDRi) + the focus's parse and verify */
static gboolean op_transfer_init_build_verify(Exchange *x, GError **error)
{
  guint8 randri[MIKEY_RAND_LEN];
  if (!mikey_random_bytes(randri, sizeof randri, error))
    return FALSE;
  MikeyTransferInitParams p = {
    .prf = x->grant.ticket->u.ticket.prf,
    .csb_id = x->csb_transfer,
    .t = x->t_transfer_init,
    .randri = randri,
    .randri_len = sizeof randri,
    .idri = x->alice,
    .idrr = x->target,
    .ssrc = x->ssrc,
    .seq = x->seq,
    .spi = x->tgk_spi,
    .sdp_ids = "mikey",
    .grant = &x->grant,
  };
  g_autoptr(GBytes) init = mikey_transfer_init_build(&p, error);
  if (init == NULL)
    return FALSE;
  MikeyTransferInitView view;
  if (!mikey_transfer_init_parse(init, &view, error))
    return FALSE;
  gboolean ok = mikey_transfer_init_verify(&view, &x->resolved, x->target, error);
  mikey_transfer_init_view_clear(&view);
  return ok;
}

/* The ticket's IDRr that the RESOLVE_INIT's IDRr names (bytes compared). */
static GBytes *authorise(const MikeyKmsRequest *req)
{
  if (req->id == NULL)
    return NULL;
  GPtrArray *tp = req->tp->u.ticket.tp_data;
  gsize want_len;
  const guint8 *want = g_bytes_get_data(req->id, &want_len);
  for (guint i = 0; i < tp->len; i++) {
    const MikeyPayload *p = g_ptr_array_index(tp, i);
    if (p->type != MIKEY_PT_IDR || p->u.id.role != MIKEY_ID_ROLE_R)
      continue;
    gsize len;
    const guint8 *d = g_bytes_get_data(p->u.id.data, &len);
    if (len == want_len && memcmp(d, want, len) == 0)
      return p->u.id.data;
  }
  return NULL;
}

/* 3. the KMS side of a Resolve, after the request parsed */
static gboolean kms_resolve(Exchange *x, MikeyKmsRequest *req, MikeyOpenedTicket *ticket,
                            GError **error)
{
  if (!mikey_kms_request_verify(req, x->psk_focus, x->focus, x->kms, error) ||
      !mikey_ticket_open(req->tp, lookup_tpk, x, ticket, error))
    return FALSE;
  GBytes *idrr = authorise(req);
  if (idrr == NULL) {
    g_set_error(error, MIKEY_ERROR, MIKEY_ERR_INVALID_ID, "IDRr not named by the ticket");
    return FALSE;
  }
  guint8 randrkms[MIKEY_RAND_LEN];
  if (!mikey_random_bytes(randrkms, sizeof randrkms, error))
    return FALSE;
  g_autoptr(GBytes) resp = mikey_kms_resolve_respond(
      req, x->psk_focus, ticket, idrr, randrkms, sizeof randrkms, x->t_resolve_resp, x->kms, error);
  return resp != NULL;
}

static gboolean op_kms_resolve(Exchange *x, GError **error)
{
  MikeyKmsRequest req;
  if (!mikey_kms_request_parse(x->resolve_init, &req, error))
    return FALSE;
  MikeyOpenedTicket ticket = { 0 };
  gboolean ok = kms_resolve(x, &req, &ticket, error);
  mikey_opened_ticket_clear(&ticket);
  mikey_kms_request_clear(&req);
  return ok;
}

/* 4. the focus after the resolve */
static gboolean op_resolve_resp_open_verify(Exchange *x, GError **error)
{
  MikeyResolvedKeys keys;
  if (!mikey_resolve_resp_open(x->resolve_resp, x->resolve_init, x->psk_focus, &keys, error))
    return FALSE;
  gboolean ok = mikey_transfer_init_verify(&x->view, &keys, x->target, error);
  mikey_resolved_keys_clear(&keys);
  return ok;
}

/* ------------------------------------------------------------------ timing */

typedef struct {
  Exchange *x;
  BenchOp op;
  const char *name;
} Trial;

/* Runs the op for at least seconds; returns operations per second. */
static double run_trial(gpointer data, double seconds)
{
  Trial *t = data;
  g_autoptr(GError) error = NULL;
  guint64 n = 0;
  double start = bench_now_sec(), elapsed;
  do {
    for (int i = 0; i < 16; i++, n++)
      if (!t->op(t->x, &error))
        die("%s failed: %s", t->name, error ? error->message : "?");
    elapsed = bench_now_sec() - start;
  } while (elapsed < seconds);
  return (double)n / elapsed;
}

static void bench(Exchange *x, const char *name, BenchOp op, double seconds, int trials)
{
  Trial t = { x, op, name };
  bench_median(name, "ops", run_trial, &t, seconds, trials);
}

int main(int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  int cpu = 0, trials = 3;
  double seconds = 1.0;
  GOptionEntry entries[] = {
    { "data", 0, 0, G_OPTION_ARG_FILENAME, &data_dir,
      "golden exchange directory (exchange.json, *.bin)", "DIR" },
    { "cpu", 0, 0, G_OPTION_ARG_INT, &cpu, "CPU to pin to (default 0)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "minimum time per trial (default 1)", "S" },
    { "trials", 0, 0, G_OPTION_ARG_INT, &trials, "trials per figure, median printed (default 3)",
      "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- MIKEY-TICKET benchmarks");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error))
    die("%s", error->message);
  if (seconds < 1.0)
    fprintf(stderr,
            "bench-mikey: note: --seconds %.2f is below the 1 s per figure of the "
            "published figures\n",
            seconds);

  g_autofree char *pinned = bench_pin_cpu(cpu);
  g_autofree char *libs =
      g_strdup_printf("openssl:  %s; glib %u.%u.%u", OpenSSL_version(OPENSSL_VERSION),
                      glib_major_version, glib_minor_version, glib_micro_version);
  bench_print_machine(
      "bench-mikey: MIKEY-TICKET exchange costs (scenario A: PRF-HMAC-SHA-256, key forking)", libs,
      pinned);
  printf("method:   warm-up, then %d trials of >= %.1f s each; median rate (best trial in "
         "brackets); spread = (max - min) / median, high on a busy machine\n\n",
         trials, seconds);

  Vectors v = { 0 };
  vectors_load(&v, data_dir ? data_dir : MIKEY_BENCH_DATADIR);
  Exchange x = { 0 };
  exchange_load(&x, &v);

  g_autofree char *parse_name =
      g_strdup_printf("1. TRANSFER_INIT parse, mikey_msg_parse (%" G_GSIZE_FORMAT " B)",
                      g_bytes_get_size(x.transfer_init));
  bench(&x, parse_name, op_msg_parse, seconds, trials);
  bench(&x, "1b. TRANSFER_INIT parse + checks, transfer_init_parse", op_transfer_init_parse,
        seconds, trials);
  bench(&x, "2. TRANSFER_INIT build + parse + verify (fresh RANDRi)", op_transfer_init_build_verify,
        seconds, trials);
  bench(&x, "3. KMS resolve: parse+MAC+ticket open+authz+RESOLVE_RESP", op_kms_resolve, seconds,
        trials);
  bench(&x, "4. focus: resolve_resp_open + transfer_init_verify", op_resolve_resp_open_verify,
        seconds, trials);

  exchange_clear(&x);
  g_object_unref(v.parser);
  return 0;
}
