/* The KMS state directory (profile 2, issue 3): kms.db (SQLite, WAL) with users, TPK
 * generations and the issued-ticket log; kek (32 random bytes, mode 0600) that encrypts every
 * PSK and TPK at rest (AES-256-GCM, the row's id as associated data). Admin commands and the
 * daemon open the same files concurrently: every read goes to the database (the daemon sees a
 * user added a moment ago), decrypted keys live only in MikeySecrets. */
#pragma once

#include "mikey/secret.h"

#include <glib.h>

typedef struct _KmsStore KmsStore;

typedef struct {
  gint64 id;
  char *identity;      /* as given (a URI) */
  char *identity_norm; /* sip_uri_normalize() of it: unique */
  GBytes *psk_id;      /* 16 bytes */
  MikeySecret *psk;    /* 32 bytes; NULL in listings */
  gboolean may_create; /* may name a factory URI (profile 5) */
  GStrv resolves_for;  /* patterns this credential may resolve for (profile 1); may be empty */
  gint64 created;      /* Unix seconds */
  gint64 disabled;     /* Unix seconds; 0 = enabled */
} KmsUser;

void kms_user_free(KmsUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsUser, kms_user_free)

/* Opens the state directory. With create: makes the directory (0700), the KEK and the schema
 * when missing. Without: refuses a directory that was never initialised ("run mikeykmsd init"). */
KmsStore *kms_store_open(const char *state_dir, gboolean create, GError **error);
void kms_store_free(KmsStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KmsStore, kms_store_free)
const char *kms_store_dir(const KmsStore *store);

/* Users. Errors (G_IO_ERROR_*): EXISTS for a duplicate identity, NOT_FOUND for an unknown one,
 * INVALID_ARGUMENT for an identity that is not a URI or a bad pattern. */
KmsUser *kms_store_user_add(KmsStore *store, const char *identity, gboolean may_create,
                            const char *const *resolves_for, GError **error);
/* Lookup for the request path: the user with this PSK ID, PSK decrypted; NULL without error
 * when there is none. */
KmsUser *kms_store_user_by_psk_id(KmsStore *store, GBytes *psk_id, GError **error);
KmsUser *kms_store_user_by_identity(KmsStore *store, const char *identity, gboolean with_psk,
                                    GError **error);
GPtrArray *kms_store_user_list(KmsStore *store, GError **error); /* KmsUser*, no PSKs */
/* may_create < 0 and resolves_for NULL leave the field as it is. */
gboolean kms_store_user_set(KmsStore *store, const char *identity, int may_create,
                            const char *const *resolves_for, GError **error);
gboolean kms_store_user_disable(KmsStore *store, const char *identity, gboolean disabled,
                                GError **error);
gboolean kms_store_user_remove(KmsStore *store, const char *identity, GError **error);
guint kms_store_user_count(KmsStore *store, GError **error);

/* TPK generations (profile 5): the current one seals new tickets; every generation that is
 * not retired opens old ones. */
gboolean kms_store_tpk_current(KmsStore *store, GBytes **generation_id, MikeySecret **tpk,
                               GError **error);
/* NULL (no error) for an unknown generation. Results are cached: generations never change. */
const MikeySecret *kms_store_tpk_lookup(KmsStore *store, GBytes *generation_id);
GBytes *kms_store_tpk_rotate(KmsStore *store, GError **error);

/* Imports with given keys (tests with fixed vectors, migrations from another KMS). Added for the
 * engine tests (test-kms-engine.c). A user like kms_store_user_add() but with this PSK ID (16
 * bytes) and PSK (32 bytes): EXISTS also for a PSK ID already in use, INVALID_ARGUMENT for
 * other lengths. */
KmsUser *kms_store_user_add_with_key(KmsStore *store, const char *identity, gboolean may_create,
                                     const char *const *resolves_for, GBytes *psk_id,
                                     const MikeySecret *psk, GError **error);
/* A TPK generation with this id (16 bytes) and key (32 bytes); it becomes the current one. */
gboolean kms_store_tpk_import(KmsStore *store, GBytes *generation_id, const MikeySecret *tpk,
                              GError **error);
/* Every generation, newest (the current one) first; for `mikeykmsd tpk list`. */
typedef struct {
  GBytes *id;
  gint64 created; /* Unix seconds */
  gboolean current;
} KmsTpkInfo;
void kms_tpk_info_free(KmsTpkInfo *info);
GPtrArray *kms_store_tpk_list(KmsStore *store, GError **error); /* KmsTpkInfo* */

/* The issued-ticket log. */
typedef struct {
  char *fingerprint;
  char *requester;
  char *recipients; /* space-separated */
  gint64 trs, tre;  /* Unix seconds */
  gint64 issued;
  gint64 resolve_count;
  char *last_resolver;
  gint64 last_resolved;
} KmsTicketRow;

void kms_ticket_row_free(KmsTicketRow *row);
gboolean kms_store_ticket_issued(KmsStore *store, const char *fingerprint, const char *requester,
                                 const char *const *recipients, gint64 trs, gint64 tre,
                                 GError **error);
/* Counts a resolve. Buffered in memory and written by kms_store_flush() (the daemon flushes
 * every second and at exit) so that resolves do not each cost a transaction. */
void kms_store_ticket_resolved(KmsStore *store, const char *fingerprint, const char *resolver);
gboolean kms_store_flush(KmsStore *store, GError **error);
/* Newest first; user NULL = all, else tickets requested by or naming that identity. */
GPtrArray *kms_store_tickets(KmsStore *store, const char *user, guint limit, GError **error);
