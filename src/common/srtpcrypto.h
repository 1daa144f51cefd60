/* OpenSSL under libsrtp2: the three crypto primitives of the profile's two SRTP policies —
 * AES-ICM-128 (AES counter mode, RFC 3711 4.1.1; also libsrtp's key derivation), AES-GCM-128
 * (RFC 7714) and HMAC-SHA1 — as libsrtp cipher and auth types, installed in libsrtp's crypto
 * kernel with its srtp_replace_cipher_type() / srtp_replace_auth_type(). libsrtp keeps doing
 * all of SRTP (key derivation, packet formats, replay windows, ROC, key limits); only the block
 * cipher and MAC calls under it change.
 *
 * Why: Debian's libsrtp2 is built on NSS, and NSS's PKCS#11 layer makes every packet expensive
 * where the cipher itself is cheap: its GCM opens and closes a softoken session and schedules
 * the AES key again for each packet, and every call takes several locks; each context also
 * keeps NSS objects of a few KiB. Measured on a focus worker at 1,370 legs: NSS was ~34 % of the
 * worker's time, of which AES itself was ~3 %. Here each cipher keeps an OpenSSL context with
 * its key schedule for the life of the libsrtp stream, so a packet costs one IV set-up and the
 * cipher pass.
 *
 * Safety: libsrtp runs its own known-answer and random self-tests on a replacement — the test
 * cases of the implementation being replaced as well as the ones given here (RFC 3711 B.2,
 * the GCM specification's test case 4, RFC 2202) — and refuses it if any fails, so a wrong
 * implementation is never installed. */
#pragma once

#include <glib.h>

/* Installs the three types. Call once, after srtp_init() and before any SRTP context exists
 * (srtpctx_global_init() does). FALSE with error if OpenSSL lacks an algorithm or libsrtp refuses
 * a type (then libsrtp keeps its own implementation of that one and of those after it). */
gboolean srtp_crypto_install(GError **error);
