/* Scenario A of tests/data/exchange for the fuzz harnesses that act as (or talk to) its
 * parties: the keys and identities, hex helpers, and the re-signing an authenticated peer can do
 * (alice holds her PSK, the focus its PSK; the KMS's TPK seals tickets). Kept in
 * tests/fuzz/libfuzzscenario.a, linked by fuzz-ticket and fuzz-kms-body. */
#pragma once

#include "exchange.h"

#include <glib.h>

#define A_PSK_ALICE "a80fdb322dff8b43c7df6e7515982cf534109de3883be8274e315c1cb4eed641"
#define A_PSK_FOCUS "c044e246f815bf09eb0d6079ab68ef6517e1180fb889f3430a10bd9f336c19bb"
#define A_TPK "95faea175242201213e32eaf05f43f017d1b5abba40c9a25d4db58a873708bbb"
#define A_TPK_ID "5143d51c65d4969cc2ab8e17231dccb3"
#define A_MPK "5811cdb559f8f3192edba623072c0b157003d078ef4c85ce742a8cf24cf83960"
#define A_MPK_SPI "d45fb556"
#define A_TGK "3af14b5f6887b8283ea443e920305601ecdea1d07a2461fb87cf6570cd2643f6"
#define A_TGK_SPI "f86a100d"
#define A_TICKET_RAND "82888402b427cc213336a1e211ea743ae85b26bebd4130421aed62eb13e2352f"
#define A_MPKI "c9b23220335cb6b5eb7c5cba99429e1c3c142ec1d43f7bf817c20b44ad478ab5"
#define A_MPKR "9d7961045e118f64eaf6039ad9bfbe2851ad17e14ec0419261388eb13c7cb32d"
#define A_MPKR_FORKED "32bff51e544621b600cc7e5bfea7ecd60fd1763beb90b797b091000c4445e3ce"
#define A_TGK_FORKED "cd8cb0c4507729f7b676fe86faf33cc4b9cc3430c9355d7628b9e2e214c806d1"
#define A_RANDRKMS "7a67d1fff5196655e9b2f1aafba1b0b62e7b76f60a20322f5904c9ff2b15d617"
#define A_RANDRR "bece0d81eeb2a099619f46c8eb7a3f52b4c977c627bcb02a753e90f3d786181a"
#define A_T_TICKET G_GUINT64_CONSTANT(0xed00b6103f000000)
#define A_T_REQUEST_RESP G_GUINT64_CONSTANT(0xed00b6103f400000)
#define A_T_RESOLVE_INIT G_GUINT64_CONSTANT(0xed00b6119a000000)
#define A_T_RESOLVE_RESP G_GUINT64_CONSTANT(0xed00b611a3d70000)
#define A_T_TRANSFER_RESP G_GUINT64_CONSTANT(0xed00b611b8520000)
#define A_T_UPDATE_RESP G_GUINT64_CONSTANT(0xed00b62e66660000)
#define A_SSRC_FOCUS 0x2c9e5b17u
#define A_SEQ_FOCUS 15023
#define A_SEQ_FOCUS_UPDATE 16448
#define ALICE "sip:alice@example.org"
#define FOCUS "sip:focus@conf.example.org"
#define KMS "kms.example.org"
#define TARGET "sip:conference-factory@conf.example.org"
#define SKEW 120

GBytes *fz_hex_bytes(const char *hex);
MikeySecret *fz_hex_secret(const char *hex); /* aborts on a malformed constant */
/* The bytes of b ("" for NULL), never NULL. */
const guint8 *fz_bytes_data(GBytes *b, gsize *len);
MikeyIov fz_iov_bytes(GBytes *b);
MikeyIov fz_iov_str(const char *s);

/* Recomputes the base-ticket MAC of a TICKET with the TPK, whatever its contents; FALSE when
 * its Ticket Data has no RAND and closing V of its suite to do it with. */
gboolean fz_ticket_resign(MikeyPayload *ticket, const MikeySecret *tpk);
/* The V of a REQUEST_INIT_PSK / RESOLVE_INIT_PSK signed again with the requester's PSK (and a
 * RESOLVE_INIT's ticket MAC with the TPK); fallback names the requester when the message has no
 * IDRi. NULL if it cannot be. */
GBytes *fz_kms_request_resign(MikeyKmsRequest *req, const MikeySecret *psk, const char *fallback,
                              const MikeySecret *tpk);
