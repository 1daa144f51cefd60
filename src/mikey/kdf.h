/* Every MIKEY key derivation: label construction (RFC 3830 4.1.3/4.1.4, RFC 6043 5.1, A.2)
 * on top of mikey_prf(). Each function builds the exact label of the digest's table
 * (mikey-ticket.md 1.7, 2.6) and returns a new MikeySecret of out_len bytes, or NULL with
 * error set. RAND arguments are the RAND values only (no role or length byte); a NULL or
 * zero-length RAND contributes a single 0x00 length byte where RFC 6043 labels carry one. */
#pragma once

#include "secret.h"
#include "types.h"

/* RFC 3830 4.1.3: TGK -> TEK/salt/... ; label = C || cs_id || csb_id || RAND. */
MikeySecret *mikey_kdf_3830_tgk(MikeyPrf prf, const MikeySecret *tgk, guint32 constant,
                                guint8 cs_id, guint32 csb_id, const guint8 *rand, gsize rand_len,
                                gsize out_len, GError **error);

/* RFC 3830 4.1.4: PSK/envelope key -> encr/auth/salt; label = C || 0xFF || csb_id || RAND. */
MikeySecret *mikey_kdf_3830_msg(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                                guint32 csb_id, const guint8 *rand, gsize rand_len, gsize out_len,
                                GError **error);

/* RFC 6043 5.1.2: keys protecting initial (0x01) or response (0x02) messages;
 * label = C || 0xFF || csb_id || dir || lenRi || RANDRi || lenRr || RANDRr. */
MikeySecret *mikey_kdf_msg(MikeyPrf prf, const MikeySecret *inkey, guint32 constant, guint32 csb_id,
                           MikeyLabelPurpose dir, const guint8 *randri, gsize randri_len,
                           const guint8 *randrr, gsize randrr_len, gsize out_len, GError **error);

/* RFC 6043 5.1.3: TGK/TGK'/GTGK -> TEK (and SRTP salt etc.);
 * label = C || cs_id || 0xFFFFFFFF || 0x03 || lenRi || [RANDRi] || lenRr || [RANDRr]. */
MikeySecret *mikey_kdf_tek(MikeyPrf prf, const MikeySecret *tgk, guint32 constant, guint8 cs_id,
                           const guint8 *randri, gsize randri_len, const guint8 *randrr,
                           gsize randrr_len, gsize out_len, GError **error);

/* RFC 6043 5.1.5: key forking of MPKr (C = MIKEY_C_FORK_MPKR) or a TGK (MIKEY_C_FORK_TGK);
 * label = C || 0xFF || 0xFFFFFFFF || 0x00 || lenID(2) || ID data || lenRkms(1) || RANDRkms.
 * The output is as long as inkey. */
MikeySecret *mikey_kdf_fork(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                            const guint8 *id, gsize id_len, const guint8 *randrkms,
                            gsize randrkms_len, GError **error);

/* RFC 6043 5.1.4: auth key of Vr from the unforked MPKr; label = C || 0xFF || 0xFFFFFFFF || 0x04.
 */
MikeySecret *mikey_kdf_vr(MikeyPrf prf, const MikeySecret *mpkr, guint32 constant, gsize out_len,
                          GError **error);

/* RFC 6043 A.2: base-ticket keys from the TPK (purpose MIKEY_LABEL_TPK, constants encr/auth/salt)
 * and MPKi/MPKr from the MPK (purpose MIKEY_LABEL_MPK, constants MIKEY_C_MPKI/MPKR, out_len =
 * MPK length); label = C || 0xFF || 0xFFFFFFFF || purpose || lenRAND || RAND. */
MikeySecret *mikey_kdf_ticket(MikeyPrf prf, const MikeySecret *inkey, guint32 constant,
                              MikeyLabelPurpose purpose, const guint8 *rand, gsize rand_len,
                              gsize out_len, GError **error);

/* Key lengths that go with an algorithm: encr key 16/32 (0 for NULL), auth key 20/32
 * (0 for NULL), MAC/tag length 20/32. -1 for an unknown algorithm. */
gssize mikey_encr_key_len(MikeyEncrAlg alg);
gssize mikey_auth_key_len(MikeyMacAlg alg);
gssize mikey_mac_len(MikeyMacAlg alg);

/* The three keys protecting one MIKEY message. */
typedef struct {
  MikeySecret *encr; /* NULL when encr alg is NULL */
  MikeySecret *auth; /* NULL when mac alg is NULL */
  MikeySecret *salt; /* 14 bytes */
} MikeyMsgKeys;

void mikey_msg_keys_clear(MikeyMsgKeys *keys);

/* Derives encr/auth/salt with mikey_kdf_msg() for the given algorithms. */
gboolean mikey_msg_keys_derive(MikeyMsgKeys *keys, MikeyPrf prf, const MikeySecret *inkey,
                               guint32 csb_id, MikeyLabelPurpose dir, const guint8 *randri,
                               gsize randri_len, const guint8 *randrr, gsize randrr_len,
                               MikeyEncrAlg encr_alg, MikeyMacAlg mac_alg, GError **error);
