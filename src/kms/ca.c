/* A local certificate authority for `mikeykmsd init` (ca.h), on the OpenSSL 3 API:
 *   <dir>/ca.pem, ca.key          EC P-256, self-signed, CA:TRUE pathlen 0, 10 years
 *   <dir>/server.pem, server.key  EC P-256, signed by the CA, serverAuth, 2 years,
 *                                 subjectAltName DNS/IP for each name
 * An existing CA is reused to sign a missing server certificate, so credential files that
 * name ca.pem stay valid. */
#include "ca.h"

#include <string.h>

#include <gio/gio.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_DAYS (10 * 365 + 3)
#define SERVER_DAYS (2 * 365 + 1)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free)

/* Sets error from OpenSSL's error queue (and empties it). */
static gboolean ssl_fail(GError **error, const char *what)
{
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0)
    ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, buf);
  return FALSE;
}

static gboolean add_ext(X509 *cert, X509 *issuer, int nid, const char *value, GError **error)
{
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (ext == NULL)
    return ssl_fail(error, "building a certificate extension");
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 || ssl_fail(error, "adding a certificate extension");
}

/* A new certificate with a random positive 128-bit serial, validity from an hour ago. */
static X509 *cert_new(EVP_PKEY *key, const char *cn, long days, GError **error)
{
  g_autoptr(X509) cert = X509_new();
  guint8 serial[16];
  if (cert == NULL || RAND_bytes(serial, sizeof serial) != 1) {
    ssl_fail(error, "creating a certificate");
    return NULL;
  }
  serial[0] &= 0x7f;
  serial[0] |= 0x01; /* never zero, never negative */
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  gboolean ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
  BN_free(bn);
  X509_NAME *name = X509_get_subject_name(cert);
  ok = ok && X509_set_version(cert, X509_VERSION_3) == 1 &&
       X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
       X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) != NULL &&
       X509_set_pubkey(cert, key) == 1 &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const guint8 *)"mikeyconf", -1, -1,
                                  0) == 1 &&
       (cn == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const guint8 *)cn, -1, -1, 0) == 1);
  if (!ok) {
    ssl_fail(error, "filling in a certificate");
    return NULL;
  }
  return g_steal_pointer(&cert);
}

static EVP_PKEY *key_new(GError **error)
{
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (key == NULL)
    ssl_fail(error, "generating an EC P-256 key");
  return key;
}

static gboolean write_pem(const char *path, BIO *bio, int mode, GError **error)
{
  char *data = NULL;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0)
    return ssl_fail(error, "encoding PEM");
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, mode,
                                &local)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

/* Writes a private key (0600) through a buffer that is wiped when freed. */
static gboolean write_key(const char *path, EVP_PKEY *key, GError **error)
{
  g_autoptr(BIO) bio = BIO_new(BIO_s_secmem());
  if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
    return ssl_fail(error, "encoding a private key");
  return write_pem(path, bio, 0600, error);
}

static gboolean write_cert(const char *path, X509 *cert, GError **error)
{
  g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
  if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1)
    return ssl_fail(error, "encoding a certificate");
  return write_pem(path, bio, 0644, error);
}

/* Loads an existing CA (certificate and its key). */
static gboolean ca_load(const char *cert_path, const char *key_path, X509 **cert_out,
                        EVP_PKEY **key_out, GError **error)
{
  g_autoptr(BIO) cb = BIO_new_file(cert_path, "r");
  g_autoptr(X509) cert = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  if (cert == NULL)
    return ssl_fail(error, cert_path);
  g_autoptr(BIO) kb = BIO_new_file(key_path, "r");
  g_autoptr(EVP_PKEY) key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  if (key == NULL)
    return ssl_fail(error, key_path);
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not the key of %s", key_path,
                cert_path);
    return FALSE;
  }
  *cert_out = g_steal_pointer(&cert);
  *key_out = g_steal_pointer(&key);
  return TRUE;
}

static gboolean dns_name_valid(const char *name)
{
  if (name[0] == '\0' || strlen(name) > 253)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '*' && *p != '_')
      return FALSE;
  return TRUE;
}

static GENERAL_NAMES *names_build(const char *const *names, GError **error)
{
  g_autoptr(GENERAL_NAMES) gens = sk_GENERAL_NAME_new_null();
  for (gsize i = 0; names[i] != NULL; i++) {
    GENERAL_NAME *gen = GENERAL_NAME_new();
    if (g_hostname_is_ip_address(names[i])) {
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS(names[i]);
      if (ip == NULL) {
        GENERAL_NAME_free(gen);
        ERR_clear_error();
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad IP address '%s'",
                    names[i]);
        return NULL;
      }
      GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
    } else {
      if (!dns_name_valid(names[i])) {
        GENERAL_NAME_free(gen);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "'%s' is neither a DNS name nor an IP address", names[i]);
        return NULL;
      }
      ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, names[i], -1);
      GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(gens, gen);
  }
  return g_steal_pointer(&gens);
}

gboolean kms_ca_create(const char *dir, const char *const *names, gboolean overwrite,
                       GError **error)
{
  if (names == NULL || names[0] == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "the server certificate needs at least one name");
    return FALSE;
  }
  g_autoptr(GENERAL_NAMES) sans = names_build(names, error);
  if (sans == NULL)
    return FALSE;
  g_autofree char *ca_cert_path = g_build_filename(dir, "ca.pem", NULL);
  g_autofree char *ca_key_path = g_build_filename(dir, "ca.key", NULL);
  g_autofree char *srv_cert_path = g_build_filename(dir, "server.pem", NULL);
  g_autofree char *srv_key_path = g_build_filename(dir, "server.key", NULL);

  g_autoptr(X509) ca = NULL;
  g_autoptr(EVP_PKEY) ca_key = NULL;
  gboolean have_ca =
      g_file_test(ca_cert_path, G_FILE_TEST_EXISTS) && g_file_test(ca_key_path, G_FILE_TEST_EXISTS);
  if (have_ca && !overwrite) {
    if (!ca_load(ca_cert_path, ca_key_path, &ca, &ca_key, error))
      return FALSE;
  } else {
    ca_key = key_new(error);
    if (ca_key == NULL)
      return FALSE;
    g_autofree char *host = g_utf8_make_valid(g_get_host_name(), -1);
    g_autofree char *cn = g_strdup_printf("mikeykmsd local CA %.40s", host);
    ca = cert_new(ca_key, cn, CA_DAYS, error);
    if (ca == NULL)
      return FALSE;
    if (X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1)
      return ssl_fail(error, "building the CA certificate");
    if (!add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", error) ||
        !add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign", error) ||
        !add_ext(ca, ca, NID_subject_key_identifier, "hash", error) ||
        !add_ext(ca, ca, NID_authority_key_identifier, "keyid:always", error))
      return FALSE;
    if (X509_sign(ca, ca_key, EVP_sha256()) <= 0)
      return ssl_fail(error, "signing the CA certificate");
    /* The key first: a certificate without its key is useless, the reverse is repaired by
     * running init again. */
    if (!write_key(ca_key_path, ca_key, error) || !write_cert(ca_cert_path, ca, error))
      return FALSE;
    overwrite = TRUE; /* a new CA needs a new server certificate */
  }

  if (!overwrite && g_file_test(srv_cert_path, G_FILE_TEST_EXISTS) &&
      g_file_test(srv_key_path, G_FILE_TEST_EXISTS))
    return TRUE;

  g_autoptr(EVP_PKEY) key = key_new(error);
  if (key == NULL)
    return FALSE;
  const char *cn = strlen(names[0]) <= 64 ? names[0] : NULL;
  g_autoptr(X509) cert = cert_new(key, cn, SERVER_DAYS, error);
  if (cert == NULL)
    return FALSE;
  if (X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1)
    return ssl_fail(error, "building the server certificate");
  if (!add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE", error) ||
      !add_ext(cert, ca, NID_key_usage, "critical,digitalSignature,keyAgreement", error) ||
      !add_ext(cert, ca, NID_ext_key_usage, "serverAuth", error) ||
      !add_ext(cert, ca, NID_subject_key_identifier, "hash", error) ||
      !add_ext(cert, ca, NID_authority_key_identifier, "keyid:always", error))
    return FALSE;
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1)
    return ssl_fail(error, "adding subjectAltName");
  if (X509_sign(cert, ca_key, EVP_sha256()) <= 0)
    return ssl_fail(error, "signing the server certificate");
  return write_key(srv_key_path, key, error) && write_cert(srv_cert_path, cert, error);
}
