/* MIKEY code points: RFC 3830, RFC 6043, RFC 4563, RFC 6509, RFC 7714.
 * Every numeric value the wire format uses is named here and nowhere else. */
#pragma once

#include <glib.h>

#define MIKEY_VERSION 1
#define MIKEY_MAX_MESSAGE_SIZE 65536 /* larger messages are refused unparsed */
#define MIKEY_MAX_PAYLOADS 4096      /* payloads per message, nested ones included */

typedef enum {
  MIKEY_DT_PSK_INIT = 0,
  MIKEY_DT_PSK_RESP = 1,
  MIKEY_DT_PK_INIT = 2,
  MIKEY_DT_PK_RESP = 3,
  MIKEY_DT_DH_INIT = 4,
  MIKEY_DT_DH_RESP = 5,
  MIKEY_DT_ERROR = 6,
  MIKEY_DT_DHHMAC_INIT = 7,
  MIKEY_DT_DHHMAC_RESP = 8,
  MIKEY_DT_RSAR_INIT = 9,
  MIKEY_DT_RSAR_RESP = 10,
  MIKEY_DT_REQUEST_INIT_PSK = 11,
  MIKEY_DT_REQUEST_INIT_PK = 12,
  MIKEY_DT_REQUEST_RESP = 13,
  MIKEY_DT_TRANSFER_INIT = 14,
  MIKEY_DT_TRANSFER_RESP = 15,
  MIKEY_DT_RESOLVE_INIT_PSK = 16,
  MIKEY_DT_RESOLVE_INIT_PK = 17,
  MIKEY_DT_RESOLVE_RESP = 18,
  /* 19-25: MIKEY-IBAKE (RFC 6267) */
  MIKEY_DT_SAKKE = 26,
  MIKEY_DT_MAX = 26,
} MikeyDataType;

typedef enum {
  MIKEY_PT_LAST = 0,
  MIKEY_PT_KEMAC = 1,
  MIKEY_PT_PKE = 2,
  MIKEY_PT_DH = 3,
  MIKEY_PT_SIGN = 4,
  MIKEY_PT_T = 5,
  MIKEY_PT_ID = 6,
  MIKEY_PT_CERT = 7,
  MIKEY_PT_CHASH = 8,
  MIKEY_PT_V = 9,
  MIKEY_PT_SP = 10,
  MIKEY_PT_RAND = 11,
  MIKEY_PT_ERR = 12,
  MIKEY_PT_TR = 13,
  MIKEY_PT_IDR = 14,
  MIKEY_PT_RANDR = 15,
  MIKEY_PT_TP = 16,
  MIKEY_PT_TICKET = 17,
  MIKEY_PT_KEY_DATA = 20, /* only inside a KEMAC's (decrypted) data */
  MIKEY_PT_GEN_EXT = 21,
  MIKEY_PT_SAKKE = 26,
  /* Not a wire code: the Ticket Header that opens a base ticket's Ticket Data. */
  MIKEY_PT_THDR = 256,
} MikeyPayloadType;

/* PRF func of HDR and TP (7 bits). */
typedef enum {
  MIKEY_PRF_HMAC_SHA1 = 0,   /* MIKEY-1, 128-bit suite */
  MIKEY_PRF_HMAC_SHA256 = 1, /* PRF-HMAC-SHA-256, 256-bit suite */
} MikeyPrf;

typedef enum {
  MIKEY_ENCR_NULL = 0,
  MIKEY_ENCR_AES_CM_128 = 1,
  MIKEY_ENCR_AES_KW_128 = 2,
  MIKEY_ENCR_AES_CM_256 = 3,
} MikeyEncrAlg;

/* MAC algorithm of KEMAC and of V. */
typedef enum {
  MIKEY_MAC_NULL = 0,
  MIKEY_MAC_HMAC_SHA1_160 = 1,
  MIKEY_MAC_HMAC_SHA256_256 = 2,
} MikeyMacAlg;

typedef enum {
  MIKEY_TS_NTP_UTC = 0,
  MIKEY_TS_NTP = 1,
  MIKEY_TS_COUNTER = 2,
  MIKEY_TS_NTP_UTC_32 = 3,
} MikeyTsType;

typedef enum {
  MIKEY_TS_ROLE_TRI = 1,
  MIKEY_TS_ROLE_TRS = 2,
  MIKEY_TS_ROLE_TRE = 3,
  MIKEY_TS_ROLE_TRR = 4,
} MikeyTsRole;

typedef enum {
  MIKEY_ID_NAI = 0,
  MIKEY_ID_URI = 1,
  MIKEY_ID_BYTES = 2,
} MikeyIdType;

typedef enum {
  MIKEY_ID_ROLE_I = 1,
  MIKEY_ID_ROLE_R = 2,
  MIKEY_ID_ROLE_KMS = 3,
  MIKEY_ID_ROLE_PSK = 4,
  MIKEY_ID_ROLE_APP = 5,
  MIKEY_ID_ROLE_KMSI = 6,
  MIKEY_ID_ROLE_KMSR = 7,
} MikeyIdRole;

typedef enum {
  MIKEY_RAND_ROLE_I = 1,
  MIKEY_RAND_ROLE_R = 2,
  MIKEY_RAND_ROLE_KMS = 3,
} MikeyRandRole;

typedef enum {
  MIKEY_KEY_TGK = 0,
  MIKEY_KEY_TGK_SALT = 1,
  MIKEY_KEY_TEK = 2,
  MIKEY_KEY_TEK_SALT = 3,
  MIKEY_KEY_GTGK = 4,
  MIKEY_KEY_GTGK_SALT = 5,
  MIKEY_KEY_MPK = 6,
} MikeyKeyType;

typedef enum {
  MIKEY_KV_NULL = 0,
  MIKEY_KV_SPI = 1,
  MIKEY_KV_INTERVAL = 2,
} MikeyKv;

typedef enum {
  MIKEY_MAP_SRTP_ID = 0,
  MIKEY_MAP_EMPTY = 1,
  MIKEY_MAP_GENERIC_ID = 2,
} MikeyMapType;

typedef enum {
  MIKEY_PROT_SRTP = 0,
} MikeyProtType;

/* SRTP policy parameter types of the SP payload (RFC 3830 6.10.1, RFC 7714). */
typedef enum {
  MIKEY_SRTP_ENCR_ALG = 0,
  MIKEY_SRTP_ENCR_KEY_LEN = 1,
  MIKEY_SRTP_AUTH_ALG = 2,
  MIKEY_SRTP_AUTH_KEY_LEN = 3,
  MIKEY_SRTP_SALT_LEN = 4,
  MIKEY_SRTP_PRF = 5,
  MIKEY_SRTP_KDR = 6,
  MIKEY_SRTP_ENCR_ON = 7,
  MIKEY_SRTCP_ENCR_ON = 8,
  MIKEY_SRTP_FEC_ORDER = 9,
  MIKEY_SRTP_AUTH_ON = 10,
  MIKEY_SRTP_AUTH_TAG_LEN = 11,
  MIKEY_SRTP_PREFIX_LEN = 12,
  MIKEY_SRTP_AEAD_TAG_LEN = 20,
} MikeySrtpParam;

typedef enum {
  MIKEY_SRTP_ENCR_NULL = 0,
  MIKEY_SRTP_ENCR_AES_CM = 1,
  MIKEY_SRTP_ENCR_AES_F8 = 2,
  MIKEY_SRTP_ENCR_AES_GCM = 6,
} MikeySrtpEncrAlg;

typedef enum {
  MIKEY_GEN_EXT_VENDOR_ID = 0,
  MIKEY_GEN_EXT_SDP_IDS = 1,
  MIKEY_GEN_EXT_KEY_ID = 3,
} MikeyGenExtType;

typedef enum {
  MIKEY_TICKET_TYPE_MIKEY_BASE = 1,
  MIKEY_TICKET_TYPE_3GPP_BASE = 2,
} MikeyTicketType;

typedef enum {
  MIKEY_CHASH_SHA1 = 0,
  MIKEY_CHASH_MD5 = 1,
  MIKEY_CHASH_SHA256 = 2,
} MikeyHashFunc;

/* Ticket policy flags, in wire order: D is the low bit of the PRF byte, E..L the
 * next byte, M N O the top bits of the one after (RFC 6043 6.10). */
typedef enum {
  MIKEY_TP_D = 1u << 11,
  MIKEY_TP_E = 1u << 10,
  MIKEY_TP_F = 1u << 9,
  MIKEY_TP_G = 1u << 8,
  MIKEY_TP_H = 1u << 7,
  MIKEY_TP_I = 1u << 6,
  MIKEY_TP_J = 1u << 5,
  MIKEY_TP_K = 1u << 4,
  MIKEY_TP_L = 1u << 3,
  MIKEY_TP_M = 1u << 2,
  MIKEY_TP_N = 1u << 1,
  MIKEY_TP_O = 1u << 0,
} MikeyTpFlag;

/* Key derivation constants (RFC 3830 4.1.3/4.1.4, RFC 6043 5.1, A.2). */
#define MIKEY_C_TEK 0x2AD01C64u
#define MIKEY_C_SRTP_AUTH 0x1B5C7973u
#define MIKEY_C_SRTP_ENCR 0x15798CEFu
#define MIKEY_C_SRTP_SALT 0x39A2C14Bu
#define MIKEY_C_ENCR 0x150533E1u
#define MIKEY_C_AUTH 0x2D22AC75u
#define MIKEY_C_SALT 0x29B88916u
#define MIKEY_C_MPKI 0x220E99A2u
#define MIKEY_C_MPKR 0x1F4D675Bu
#define MIKEY_C_FORK_MPKR 0x2B288856u
#define MIKEY_C_FORK_TGK 0x1512B54Au

/* The direction/purpose byte of RFC 6043 labels. */
typedef enum {
  MIKEY_LABEL_FORK = 0x00,
  MIKEY_LABEL_INITIAL = 0x01,
  MIKEY_LABEL_RESPONSE = 0x02,
  MIKEY_LABEL_TEK = 0x03,
  MIKEY_LABEL_VR = 0x04,
  MIKEY_LABEL_TPK = 0x05,
  MIKEY_LABEL_MPK = 0x06,
} MikeyLabelPurpose;

#define MIKEY_CSB_ID_NONE 0xFFFFFFFFu /* the CSB ID of RFC 6043 labels that have none */
#define MIKEY_SALT_KEY_LEN 14         /* salt_key for the AES-CM IV */
