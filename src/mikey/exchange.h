/* The MIKEY-TICKET exchanges of the mikeyconf profile (profile.md 3-7, RFC 6043 4-5):
 * builders and verifiers for REQUEST_INIT_PSK/REQUEST_RESP, TRANSFER_INIT/TRANSFER_RESP
 * (initial and CSB update), RESOLVE_INIT_PSK/RESOLVE_RESP and Error messages.
 *
 * Every builder is deterministic: CSB IDs, RANDs and timestamps are parameters, so the golden
 * vectors can be reproduced byte for byte; callers draw them from mikey_random_bytes() and
 * mikey_ntp_now(). Failures are GErrors whose code is the MIKEY ERR number to report. */
#pragma once

#include "kdf.h"
#include "keydata.h"
#include "mac.h"
#include "msg.h"

/* ------------------------------------------------------------------ suites (profile 4) */

/* The algorithms that go with a PRF: PRF 1 = AES-CM-256 + HMAC-SHA-256-256, 32-byte keys;
 * PRF 0 = AES-CM-128 + HMAC-SHA-1-160, 16-byte keys. */
MikeyEncrAlg mikey_suite_encr_alg(MikeyPrf prf);
MikeyMacAlg mikey_suite_mac_alg(MikeyPrf prf);
gsize mikey_suite_key_len(MikeyPrf prf); /* MPK, TGK length */
#define MIKEY_RAND_LEN 32                /* every RAND this project sends (profile 4) */
#define MIKEY_SPI_LEN 4                  /* every SPI this project sends (profile 5) */

/* Refuses a message whose algorithms are not one suite: HDR PRF unknown or TP/TICKET PRF
 * different (ERR 2), V or KEMAC MAC algorithm of the other suite (ERR 3), KEMAC encryption of
 * the other suite (ERR 4). NULL algorithms are allowed where the profile uses them (the MAC of
 * a KEMAC whose message has a V). */
gboolean mikey_suite_check(const MikeyMsg *msg, GError **error);

/* An answer that is a MIKEY Error message becomes a GError whose code is its ERR number
 * ("<who> refused: Invalid TPpar (ERR 15)"); TRUE for any other message. */
gboolean mikey_reply_check_error(const MikeyMsg *msg, const char *who, GError **error);

/* ------------------------------------------------------------------ ticket policy */

/* A ticket policy in plain terms (TP Data order of profile 5: IDRkms, IDRi, TRs, TRe, [TRr],
 * {IDRapp}, (IDRr)). Strings are URIs (ID type 1). */
typedef struct {
  MikeyPrf prf;
  guint16 flags;
  char *idrkms;        /* NULL = absent */
  char *idri;          /* NULL = absent */
  guint64 trs, tre;    /* 64-bit NTP; 0 = absent */
  MikeyTsType tr_type; /* of TRs/TRe: NTP-UTC (grants) or NTP-UTC-32 */
  guint32 trr;         /* seconds (TRr, NTP-UTC-32); 0 = absent */
  GPtrArray *idrapp;   /* char*; may be NULL */
  GPtrArray *idrr;     /* char*, at least one */
} MikeyPolicySpec;

void mikey_policy_spec_clear(MikeyPolicySpec *spec);
/* A TP (type MIKEY_PT_TP) or TICKET payload (policy only; Ticket Data to be sealed) with
 * ticket type/subtype/version 1/1/1. */
MikeyPayload *mikey_policy_spec_to_payload(const MikeyPolicySpec *spec, MikeyPayloadType type,
                                           GError **error);
/* Reads a TP/TICKET body into a spec (strings copied; IDR payloads of other ID types are
 * copied as their raw bytes). */
gboolean mikey_policy_spec_from_body(const MikeyTicketBody *body, MikeyPolicySpec *spec,
                                     GError **error);

/* ------------------------------------------------------------------ base ticket (KMS) */

/* Seals the Ticket Data of a MIKEY base ticket (RFC 6043 A.1) into ticket (a TICKET payload
 * whose policy is set): THDR, T, RAND, KEMAC(E(TPK keys: keys)), IDRpsk(tpk_id), V. keys are
 * the MPK first, then the TGK(s), each with an SPI. The PRF is the ticket policy's. */
typedef struct {
  guint64 t;
  const guint8 *rand;
  gsize rand_len;
  const MikeySecret *tpk;
  GBytes *tpk_id;
  GPtrArray *keys; /* MikeyKeyData* */
} MikeyTicketSeal;

gboolean mikey_ticket_seal(MikeyPayload *ticket, const MikeyTicketSeal *seal, GError **error);

/* Finds the TPK of a generation id; NULL when unknown. */
typedef const MikeySecret *(*MikeyTpkLookup)(GBytes *tpk_id, gpointer user_data);

typedef struct {
  guint64 t;
  GBytes *rand;
  GBytes *tpk_id;
  GPtrArray *keys; /* MikeyKeyData*: MPK, then TGK(s) */
} MikeyOpenedTicket;

/* Opens a base ticket: type 1/1/1, Ticket Data well-formed, known TPK generation, ticket MAC
 * verifies, KEMAC decrypts to an MPK first. ERR 14 (Invalid TICKET) for every failure. */
gboolean mikey_ticket_open(const MikeyPayload *ticket, MikeyTpkLookup lookup, gpointer user_data,
                           MikeyOpenedTicket *out, GError **error);
void mikey_opened_ticket_clear(MikeyOpenedTicket *t);

/* MPKi / MPKr of a ticket (RFC 6043 A.2), from its MPK and RAND, with the policy's PRF. */
MikeySecret *mikey_ticket_derive_mpk(MikeyPrf prf, const MikeySecret *mpk, guint32 constant,
                                     GBytes *rand, GError **error);

/* Initiator Data for key forking (profile 6): 0x09 || Vi || Vr, where Vi carries vi_mac
 * (the TRANSFER_INIT's V MAC) and Vr is keyed from the unforked MPKr. */
GBytes *mikey_initiator_data_build(MikeyPrf tp_prf, MikeyMacAlg alg, GBytes *vi_mac,
                                   const MikeySecret *mpkr, GError **error);
/* Verifies Vr; returns Vi's MAC in *vi_mac. ERR 14 when absent or malformed, ERR 0 when Vr
 * does not verify. */
gboolean mikey_initiator_data_verify(MikeyPrf tp_prf, GBytes *initiator_data,
                                     const MikeySecret *mpkr, GBytes **vi_mac, GError **error);

/* ------------------------------------------------------------------ KMS side */

/* A received REQUEST_INIT_PSK or RESOLVE_INIT_PSK, structurally checked. Borrowed pointers
 * point into msg. */
typedef struct {
  MikeyMsg *msg;
  guint64 t;
  GBytes *rand;      /* RANDRi (request) or RANDRr (resolve) */
  GBytes *psk_id;    /* IDRpsk data; NULL when absent */
  GBytes *id;        /* IDRi (request) or IDRr (resolve) data; NULL when absent */
  GBytes *id_kms;    /* IDRkms data; NULL when absent */
  MikeyPayload *tp;  /* TP (request) or TICKET (resolve) */
  MikeyMsgKeys keys; /* initial-direction keys, set by mikey_kms_request_verify() */
} MikeyKmsRequest;

/* Parses and checks a request body: data type 11 or 16 (else ERR 11), every required payload
 * present (else ERR 12), one suite (ERR 2/3/4). */
gboolean mikey_kms_request_parse(GBytes *body, MikeyKmsRequest *req, GError **error);
/* Derives the initial-direction keys from the PSK and verifies V over the message ||
 * identity || kms identity, where identity is the IDRi/IDRr of the message or, when absent,
 * fallback_identity (the PSK owner's), and the KMS identity the message's IDRkms or
 * kms_identity. ERR 0 on a wrong MAC. */
gboolean mikey_kms_request_verify(MikeyKmsRequest *req, const MikeySecret *psk,
                                  const char *fallback_identity, const char *kms_identity,
                                  GError **error);
void mikey_kms_request_clear(MikeyKmsRequest *req);

/* REQUEST_RESP: HDR (CSB ID, PRF of the request), T, IDRkms, TICKET, KEMAC(E(response keys:
 * keys)), V over REQUEST_RESP || REQUEST_INIT. keys: MPKi, [MPKr], TGK with SPIs. */
GBytes *mikey_request_resp_build(const MikeyKmsRequest *req, const MikeySecret *psk, guint64 t,
                                 const char *idrkms, const MikeyPayload *ticket, GPtrArray *keys,
                                 GError **error);

/* RESOLVE_RESP: HDR, T, IDRkms, KEMAC(E(keys)), IDRr (idrr bytes), [RANDRkms], V over
 * RESOLVE_RESP || RESOLVE_INIT. keys: MPKi, [MPKr'], TGK' (or TGK). */
GBytes *mikey_resolve_resp_build(const MikeyKmsRequest *req, const MikeySecret *psk, guint64 t,
                                 const char *idrkms, GPtrArray *keys, GBytes *idrr,
                                 GBytes *randrkms, GError **error);

/* The whole KMS side of a resolve after authorisation: derive MPKi (and MPKr) from the opened
 * ticket, verify the Initiator Data when the ticket forks (I flag), fork MPKr' and TGK' with
 * randrkms and idrr, and build RESOLVE_RESP. randrkms is ignored without forking. */
GBytes *mikey_kms_resolve_respond(const MikeyKmsRequest *req, const MikeySecret *psk,
                                  const MikeyOpenedTicket *ticket, GBytes *idrr,
                                  const guint8 *randrkms, gsize randrkms_len, guint64 t,
                                  const char *idrkms, GError **error);

/* Error message (profile 3): HDR (version, PRF, CSB ID of the failing message, V = 0, Empty
 * map), T, ERR, and a V keyed with auth_key over the Error alone when auth_key is given. */
GBytes *mikey_error_build(const MikeyHdr *failing, guint64 t, MikeyErrNo err_no,
                          const MikeySecret *auth_key, MikeyMacAlg alg, GError **error);

/* ------------------------------------------------------------------ initiator side */

typedef struct {
  MikeyPrf prf;
  guint32 csb_id;
  guint64 t;
  const guint8 *randri;
  gsize randri_len;
  const char *idri;
  const char *idrkms;
  GBytes *psk_id;
  const MikeySecret *psk;
  const MikeyPolicySpec *policy; /* requested TP */
} MikeyRequestInitParams;

GBytes *mikey_request_init_build(const MikeyRequestInitParams *p, GError **error);

/* What a REQUEST_RESP grants: the TICKET (with the granted policy) and the keys. */
typedef struct {
  MikeyPayload *ticket;
  MikeySecret *mpki;
  MikeySecret *mpkr; /* NULL without forking */
  MikeySecret *tgk;
  GBytes *tgk_spi;
  guint64 t;
} MikeyTicketGrant;

/* Verifies and opens a REQUEST_RESP to request_init. An Error body gives a GError with the
 * ERR number as code ("KMS refused: ..."). */
gboolean mikey_request_resp_open(GBytes *resp, GBytes *request_init, const MikeySecret *psk,
                                 MikeyTicketGrant *grant, GError **error);
void mikey_ticket_grant_clear(MikeyTicketGrant *grant);

/* ------------------------------------------------------------------ Ticket Transfer */

/* The keys and identities of one crypto session bundle, as each end holds them after the
 * initial TRANSFER_INIT/TRANSFER_RESP; CSB updates and SRTP keys come from it. */
typedef struct {
  MikeyPrf prf; /* HDR PRF */
  guint32 csb_id;
  guint16 flags;         /* the ticket's (G, H, I matter) */
  GBytes *randri;        /* of the initial TRANSFER_INIT */
  GBytes *randrr;        /* of the TRANSFER_RESP (G = 1); NULL otherwise */
  MikeySecret *tgk;      /* TGK' when forking, else TGK */
  GBytes *spi;           /* TGK SPI */
  MikeySecret *auth_key; /* of the TRANSFER_RESP: keys both CSB update messages */
  GBytes *id_i;          /* Identity_i */
  GBytes *id_r;          /* IDRr of the TRANSFER_RESP */
} MikeyCsbState;

void mikey_csb_state_clear(MikeyCsbState *s);

/* SRTP master key (16 bytes) and salt (salt_len: 12 for AEAD_AES_128_GCM, 14 for AES-CM) of a
 * crypto session (RFC 6043 5.1.3, profile 6). */
gboolean mikey_csb_srtp_keys(const MikeyCsbState *s, guint8 cs_id, gsize salt_len,
                             MikeySecret **master_key, MikeySecret **master_salt, GError **error);

/* The profile's SRTP policies (profile 6): policy 0 AEAD_AES_128_GCM, policy 1
 * AES_CM_128_HMAC_SHA1_80; the salt length each needs. */
#define MIKEY_POLICY_AEAD_AES_128_GCM 0
#define MIKEY_POLICY_AES_CM_128_HMAC_SHA1_80 1
MikeyPayload *mikey_profile_sp(guint8 policy_no);
/* Which profile policy an SP payload is (exactly the profile's TLVs); -1 if neither. */
int mikey_profile_sp_match(const MikeyPayload *sp);
gsize mikey_profile_salt_len(guint8 policy_no);

typedef struct {
  MikeyPrf prf;
  guint32 csb_id;
  guint64 t;
  const guint8 *randri; /* initial only */
  gsize randri_len;
  const char *idri;
  const char *idrr; /* the Request-URI (initial) */
  guint32 ssrc;     /* CS 1: the Initiator's stream */
  guint32 roc;
  guint16 seq;
  GBytes *spi;                   /* TGK SPI, for both map entries */
  const char *sdp_ids;           /* SDP IDs extension value ("mikey"); NULL = none */
  const MikeyTicketGrant *grant; /* ticket, MPKi (V) and MPKr (Vr when forking) */
  const guint8 *policies;        /* offered profile policies in preference order (MIKEY_POLICY_*);
                                  * NULL = AEAD_AES_128_GCM, then AES_CM_128_HMAC_SHA1_80 */
  guint n_policies;
  gboolean omit_idri; /* for tests: leave IDRi out (the MAC still covers it) */
} MikeyTransferInitParams;

/* Initial TRANSFER_INIT: HDR (V = F), T, RANDRi, IDRi, IDRr, SP 0, SP 1, [SDP IDs], TICKET
 * (Initiator Data 0x09 || Vi || Vr when forking), V keyed by MPKi. */
GBytes *mikey_transfer_init_build(const MikeyTransferInitParams *p, GError **error);

/* A received TRANSFER_INIT (initial or CSB update), structurally checked. */
typedef struct {
  MikeyMsg *msg;
  gboolean is_update; /* no RANDRi and no TICKET */
  guint64 t;
  GBytes *randri;
  GBytes *id_i;    /* IDRi data; NULL when absent */
  GBytes *id_r;    /* IDRr data; NULL when absent */
  GBytes *sdp_ids; /* SDP IDs extension; NULL when absent */
  MikeyPayload *ticket;
} MikeyTransferInitView;

/* Data type 14, GENERIC-ID map with CS 1 and CS 2, T and V present; initial: RANDRi and TICKET;
 * update: neither. A KEMAC is refused (granted L = 0, profile 7.3). ERR 12/11 etc. */
gboolean mikey_transfer_init_parse(GBytes *bytes, MikeyTransferInitView *view, GError **error);
void mikey_transfer_init_view_clear(MikeyTransferInitView *view);

/* The policy the answer names for both CSs: the first offered SP (in CS 1's policy list
 * order) that is one of the profile's policies. ERR 9 (Invalid SP) when none is. */
gboolean mikey_transfer_choose_policy(const MikeyTransferInitView *view, guint8 *policy_no,
                                      GError **error);
/* Which profile policy (MIKEY_POLICY_*) the offer's policy number stands for; 0xff if none. */
guint8 mikey_transfer_policy_profile(const MikeyTransferInitView *view, guint8 policy_no);

/* Responder, Ticket Resolve: RESOLVE_INIT_PSK: HDR (#CS 0, Empty map), T, RANDRr, IDRr, IDRkms,
 * TICKET (as received, Initiator Data included), IDRpsk, V keyed by the responder's PSK. */
typedef struct {
  MikeyPrf prf;
  guint32 csb_id;
  guint64 t;
  const guint8 *randrr;
  gsize randrr_len;
  const char *idrr;
  const char *idrkms;
  const MikeyPayload *ticket;
  GBytes *psk_id;
  const MikeySecret *psk;
} MikeyResolveInitParams;

GBytes *mikey_resolve_init_build(const MikeyResolveInitParams *p, GError **error);

/* What a RESOLVE_RESP gives the responder. */
typedef struct {
  MikeySecret *mpki;
  MikeySecret *mpkr; /* MPKr' with forking; NULL otherwise */
  MikeySecret *tgk;  /* TGK' with forking, else TGK */
  GBytes *tgk_spi;
  GBytes *idrr;     /* the ticket's matching IDRr bytes */
  GBytes *randrkms; /* NULL without forking */
} MikeyResolvedKeys;

/* Verifies and opens a RESOLVE_RESP to resolve_init (psk = the responder's). An Error body
 * gives a GError with the ERR number as code. */
gboolean mikey_resolve_resp_open(GBytes *resp, GBytes *resolve_init, const MikeySecret *psk,
                                 MikeyResolvedKeys *keys, GError **error);
void mikey_resolved_keys_clear(MikeyResolvedKeys *keys);

/* Responder: verifies an initial TRANSFER_INIT with MPKi after the resolve (V over the message
 * without Initiator Data || Identity_i || Identity_r; with forking also V == Vi). identity_r is
 * the IDRr the initiator addressed (its IDRr payload, else the Request-URI). ERR 0. */
gboolean mikey_transfer_init_verify(const MikeyTransferInitView *view,
                                    const MikeyResolvedKeys *keys, const char *identity_r,
                                    GError **error);

/* Responder: the answer to an initial TRANSFER_INIT, after mikey_transfer_init_verify():
 * HDR (15, map completed: one policy per CS, CS 2 with the responder's SSRC/ROC/SEQ), T,
 * [RANDRr when G], IDRr, [RANDRkms when forking], V keyed by MPKr' (forking) or MPKi.
 * Fills *state for CSB updates and SRTP keys. */
typedef struct {
  guint64 t;
  const guint8 *randrr;
  gsize randrr_len;
  guint8 policy_no; /* chosen for both CSs */
  guint32 ssrc;     /* CS 2: the responder's stream */
  guint32 roc;
  guint16 seq;
} MikeyTransferRespParams;

GBytes *mikey_transfer_resp_build(const MikeyTransferInitView *view, const MikeyResolvedKeys *keys,
                                  const MikeyTransferRespParams *p, MikeyCsbState *state,
                                  GError **error);

/* Initiator: verifies the TRANSFER_RESP to transfer_init: forks MPKr'/TGK' from its IDRr and
 * RANDRkms when the ticket forks, checks V, and fills *state. Reports the chosen policy and
 * the responder's SSRC/SEQ from CS 2. An Error body gives a GError with its ERR number. */
typedef struct {
  guint8 policy_no;
  MikeySrtpSessionData cs2;
} MikeyTransferAnswer;

gboolean mikey_transfer_resp_open(GBytes *resp, GBytes *transfer_init,
                                  const MikeyTicketGrant *grant, MikeyCsbState *state,
                                  MikeyTransferAnswer *answer, GError **error);

/* CSB update (profile 7.3): same CSB ID, new T, no RANDs, no TICKET, V keyed by state->auth_key.
 * TRANSFER_INIT: HDR (V = 1), T, IDRi, IDRr (state->id_r), the SPs (policies as for the initial
 * TRANSFER_INIT; NULL = the profile's order), V. */
GBytes *mikey_csb_update_init_build(const MikeyCsbState *state, guint64 t, guint32 ssrc,
                                    guint32 roc, guint16 seq, const guint8 *policies,
                                    guint n_policies, GError **error);
/* Responder: V of an update over the message || Identity_i || Identity_r (state's). */
gboolean mikey_csb_update_verify(const MikeyTransferInitView *view, const MikeyCsbState *state,
                                 GError **error);
/* Responder: TRANSFER_RESP of an update: HDR (map completed), T, IDRr, V over RESP || INIT. */
GBytes *mikey_csb_update_resp_build(const MikeyTransferInitView *view, const MikeyCsbState *state,
                                    guint64 t, guint8 policy_no, guint32 ssrc, guint32 roc,
                                    guint16 seq, GError **error);
/* Initiator: verifies the update answer. */
gboolean mikey_csb_update_resp_open(GBytes *resp, GBytes *update_init, const MikeyCsbState *state,
                                    MikeyTransferAnswer *answer, GError **error);

/* The "same ticket" test of profile 7.3: equal TICKET bytes without the next-payload byte, the
 * Initiator Data length and the Initiator Data (what the base-ticket MAC covers). */
gboolean mikey_ticket_same(const MikeyPayload *a, const MikeyPayload *b);
/* A fingerprint of the same bytes (SHA-256, hex), for records and logs. g_free. */
char *mikey_ticket_fingerprint(const MikeyPayload *ticket);
