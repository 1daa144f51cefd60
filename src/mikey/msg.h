/* The MIKEY message model: a header and an ordered chain of payloads, parsed from and
 * encoded to the wire format of RFC 3830 / RFC 6043 byte for byte.
 *
 * Next-payload bytes are not stored: they follow from the order of the payload arrays, so a
 * model can never disagree with itself. Payloads remember where they sit in the encoded or
 * parsed buffer (offset, length from message byte 0), which the MAC coverage rules need. */
#pragma once

#include "error.h"
#include "secret.h"
#include "types.h"

typedef struct _MikeyPayload MikeyPayload;

/* One crypto session of the CS ID map. SRTP-ID entries use policy_no/ssrc/roc (their CS ID is
 * the 1-based position); GENERIC-ID entries use the rest. */
typedef struct {
  /* SRTP-ID (map type 0) */
  guint8 policy_no;
  guint32 ssrc;
  guint32 roc;
  /* GENERIC-ID (map type 2) */
  guint8 cs_id;
  guint8 prot_type;
  gboolean s_flag;
  guint8 n_policies;
  guint8 policies[127];
  GBytes *session_data; /* may be empty, never NULL after parse */
  GBytes *spi;          /* may be empty, never NULL after parse */
} MikeyCs;

typedef struct {
  guint8 version;
  guint8 data_type;
  gboolean v;
  guint8 prf; /* 7 bits */
  guint32 csb_id;
  guint8 map_type;
  GPtrArray *cs; /* MikeyCs*, #CS = cs->len; empty for the Empty map */
} MikeyHdr;

/* SRTP Session Data of a GENERIC-ID entry: SSRC(4) [ROC(4) SEQ(2)]. */
typedef struct {
  guint32 ssrc;
  guint32 roc;
  guint16 seq;
  gboolean has_roc_seq;
} MikeySrtpSessionData;

typedef struct {
  guint8 type;
  GBytes *value;
} MikeySpParam;

typedef struct {
  guint16 ticket_type;
  guint8 subtype;
  guint8 version;
  guint8 prf;         /* 7 bits */
  guint16 flags;      /* MikeyTpFlag bits */
  guint8 reserved;    /* low 5 bits of the third flag byte, kept for the round trip */
  GPtrArray *tp_data; /* MikeyPayload* chain; empty = TP Data length 0 */
  /* TICKET only: */
  GBytes *ticket_data;    /* opaque here; a base ticket is opened by ticket.h */
  GBytes *initiator_data; /* empty when absent (length 0) */
} MikeyTicketBody;

struct _MikeyPayload {
  MikeyPayloadType type;
  gsize offset; /* from message byte 0; set by parse and by encode */
  gsize length;
  union {
    /* T (5) and TR (13; role used) */
    struct {
      guint8 role;
      guint8 ts_type;
      guint64 value; /* 4-byte types in the low 32 bits */
    } t;
    /* RAND (11) and RANDR (15; role used) */
    struct {
      guint8 role;
      GBytes *data;
    } rand;
    /* ID (6), IDR (14; role used), CERT (7; id_type = cert type) */
    struct {
      guint8 role;
      guint8 id_type;
      GBytes *data;
    } id;
    struct {
      guint8 func;
      GBytes *hash;
    } chash;
    struct {
      guint8 encr_alg;
      GBytes *encr_data; /* as on the wire (encrypted unless NULL encryption) */
      guint8 mac_alg;
      GBytes *mac;
    } kemac;
    /* V (9) */
    struct {
      guint8 alg;
      GBytes *mac;
    } v;
    struct {
      guint8 policy_no;
      guint8 prot_type;
      GPtrArray *params; /* MikeySpParam* in wire order */
    } sp;
    struct {
      guint8 err_no;
      guint16 reserved;
    } err;
    /* General Extension (21) */
    struct {
      guint8 type;
      GBytes *data;
    } ext;
    struct {
      guint8 c;
      GBytes *data;
    } pke;
    /* DH (3), kept opaque past the group: value and the KV part */
    struct {
      guint8 group;
      GBytes *value;
      guint8 kv_byte; /* reserved(4) | KV(4) */
      GBytes *kv_data;
    } dh;
    /* SIGN (4): no next-payload byte; always last */
    struct {
      guint8 s_type;
      GBytes *signature;
    } sign;
    /* SAKKE (26) */
    struct {
      guint8 params;
      guint8 id_scheme;
      GBytes *data;
    } sakke;
    /* THDR (first payload of a base ticket's Ticket Data, no type code) */
    struct {
      GBytes *data;
    } thdr;
    /* TP (16) and TICKET (17) */
    MikeyTicketBody ticket;
  } u;
};

typedef struct {
  MikeyHdr hdr;
  GPtrArray *payloads; /* MikeyPayload* */
  GBytes *raw;         /* the parsed or last encoded bytes; NULL for a fresh model */
} MikeyMsg;

/* ---- lifetime ---- */
MikeyMsg *mikey_msg_new(MikeyDataType data_type, MikeyPrf prf, guint32 csb_id, MikeyMapType map);
void mikey_msg_free(MikeyMsg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeyMsg, mikey_msg_free)

MikeyPayload *mikey_payload_new(MikeyPayloadType type);
void mikey_payload_free(MikeyPayload *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MikeyPayload, mikey_payload_free)
GPtrArray *mikey_chain_new(void); /* a GPtrArray that frees its MikeyPayload* */

MikeyCs *mikey_cs_new(void);
void mikey_cs_free(MikeyCs *cs);
MikeySpParam *mikey_sp_param_new(guint8 type, const guint8 *value, gsize len);
void mikey_sp_param_free(MikeySpParam *param);

/* ---- codec ---- */
/* Parses a whole message. Refuses (GError, MIKEY_ERROR, code = ERR number, message with the
 * byte offset): messages over MIKEY_MAX_MESSAGE_SIZE, version != 1, unknown data type (ERR 11),
 * unknown map type, unknown payload types, lengths that do not fit, algorithms whose length is
 * unknown, trailing bytes, more than MIKEY_MAX_PAYLOADS payloads. Never reads out of bounds. */
MikeyMsg *mikey_msg_parse(const guint8 *data, gsize len, GError **error);
MikeyMsg *mikey_msg_parse_bytes(GBytes *bytes, GError **error);

/* Parses only the common header (for an Error reply to a message whose body is broken). */
gboolean mikey_hdr_peek(const guint8 *data, gsize len, MikeyHdr *hdr, GError **error);
void mikey_hdr_clear(MikeyHdr *hdr);

/* Encodes the model, records offset/length in every payload (nested ones relative to the
 * message too) and stores the result in msg->raw. NULL with error if the model cannot be
 * encoded (a field too long for its length field, a MAC of the wrong length, ...). */
GBytes *mikey_msg_encode(MikeyMsg *msg, GError **error);

/* Parses a payload chain that starts with a type byte (TP Data, Initiator Data) or, for
 * Ticket Data of a base ticket, first_type = MIKEY_PT_THDR and no type byte. base_offset is
 * added to the recorded offsets. */
GPtrArray *mikey_chain_parse(const guint8 *data, gsize len, gboolean leading_type_byte,
                             MikeyPayloadType first_type, gsize base_offset, GError **error);
/* Encodes a chain (with the leading type byte when asked). */
GBytes *mikey_chain_encode(GPtrArray *chain, gboolean leading_type_byte, GError **error);

/* Encodes one payload alone (next-payload byte 0 first, except SIGN) without touching its
 * recorded offsets; the form the base-ticket MAC and fingerprints work on. */
GBytes *mikey_payload_encode(const MikeyPayload *p, GError **error);
/* A deep copy (through encode and parse); offsets are relative to the copy. */
MikeyPayload *mikey_payload_dup(const MikeyPayload *p, GError **error);

/* ---- accessors ---- */
/* The n-th (0-based) payload of a type, and for TR/IDR/RANDR of a role (role 0 = any). */
MikeyPayload *mikey_msg_find(const MikeyMsg *msg, MikeyPayloadType type, guint8 role, guint n);
MikeyPayload *mikey_chain_find(GPtrArray *chain, MikeyPayloadType type, guint8 role, guint n);
guint mikey_chain_count(GPtrArray *chain, MikeyPayloadType type, guint8 role);
/* Appends a payload (takes ownership) and returns it. */
MikeyPayload *mikey_msg_add(MikeyMsg *msg, MikeyPayload *p);

/* Payload constructors (copy their inputs). */
MikeyPayload *mikey_payload_new_t(MikeyTsType ts_type, guint64 value);
MikeyPayload *mikey_payload_new_tr(MikeyTsRole role, MikeyTsType ts_type, guint64 value);
MikeyPayload *mikey_payload_new_rand(const guint8 *rand, gsize len);
MikeyPayload *mikey_payload_new_randr(MikeyRandRole role, const guint8 *rand, gsize len);
MikeyPayload *mikey_payload_new_id(MikeyIdType id_type, const guint8 *id, gsize len);
MikeyPayload *mikey_payload_new_idr(MikeyIdRole role, MikeyIdType id_type, const guint8 *id,
                                    gsize len);
/* An IDR of type URI from a string. */
MikeyPayload *mikey_payload_new_idr_uri(MikeyIdRole role, const char *uri);
MikeyPayload *mikey_payload_new_v(MikeyMacAlg alg); /* MAC zero-filled, to be set later */
MikeyPayload *mikey_payload_new_kemac(MikeyEncrAlg encr_alg, GBytes *encr_data,
                                      MikeyMacAlg mac_alg);
MikeyPayload *mikey_payload_new_err(MikeyErrNo err_no);
MikeyPayload *mikey_payload_new_ext(MikeyGenExtType type, const guint8 *data, gsize len);
MikeyPayload *mikey_payload_new_sp(guint8 policy_no, MikeyProtType prot);
void mikey_sp_add_param(MikeyPayload *sp, guint8 type, const guint8 *value, gsize len);
MikeyPayload *mikey_payload_new_thdr(void);

/* GENERIC-ID SRTP Session Data helpers. */
GBytes *mikey_srtp_session_data_encode(const MikeySrtpSessionData *sd);
gboolean mikey_srtp_session_data_decode(GBytes *data, MikeySrtpSessionData *sd, GError **error);

/* The value of a T/TR payload as a 64-bit NTP value (NTP-UTC-32 and COUNTER padded per
 * RFC 6043 6.6: 32-bit seconds get a zero fraction, COUNTER is zero-extended). */
guint64 mikey_ts_value64(const MikeyPayload *t);
