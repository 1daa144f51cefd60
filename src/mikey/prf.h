/* The MIKEY PRF (RFC 3830 4.1.2) with HMAC-SHA-1 (PRF 0) or HMAC-SHA-256 (PRF 1, RFC 6043).
 * inkey is split into 256-bit chunks (the last one the remainder, or a full 32 bytes), the
 * P-function output of each chunk is XORed into out. */
#pragma once

#include "types.h"

#include <openssl/types.h>

/* Writes out_len bytes to out (which must not overlap inkey or label). FALSE (error set) only on
 * an unknown PRF, an empty inkey (it would yield all-zero keys) or an OpenSSL failure. */
gboolean mikey_prf(MikeyPrf prf, const guint8 *inkey, gsize inkey_len, const guint8 *label,
                   gsize label_len, guint8 *out, gsize out_len, GError **error);

/* The OpenSSL digest behind a PRF (SHA-1 for PRF 0, SHA-256 for PRF 1; the same digests serve
 * the HMAC-SHA-1-160 / HMAC-SHA-256-256 MACs of cipher.h). Fetched once per process and shared
 * read-only by all threads, because an EVP_MD_fetch costs more than a whole PRF call. NULL with
 * error on an unknown PRF or a provider without the digest. */
const EVP_MD *mikey_prf_md(MikeyPrf prf, GError **error);
