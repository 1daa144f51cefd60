/* Profile 7: conferences, allowed sets and the focus's decisions. */
#include "conference.h"

#include "common/sipuri.h"
#include "mikey/secret.h"

#include <string.h>

void focus_identities_clear(FocusIdentities *ids)
{
  g_clear_pointer(&ids->factory_uri, g_free);
  g_clear_pointer(&ids->conf_host, g_free);
  g_clear_pointer(&ids->conf_scheme, g_free);
  g_clear_pointer(&ids->focus_identity, g_free);
  g_clear_pointer(&ids->creators, g_strfreev);
}

void focus_decision_clear(FocusDecision *d)
{
  g_clear_pointer(&d->detail, g_free);
  memset(d, 0, sizeof *d);
}

G_GNUC_PRINTF(4, 5)
static gboolean refuse(FocusDecision *d, int status, const char *reason, const char *fmt, ...)
{
  va_list ap;
  focus_decision_clear(d);
  d->ok = FALSE;
  d->sip_status = status;
  d->reason = reason;
  va_start(ap, fmt);
  d->detail = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  return FALSE;
}

G_GNUC_PRINTF(3, 4)
static gboolean allow(FocusDecision *d, const char *reason, const char *fmt, ...)
{
  va_list ap;
  focus_decision_clear(d);
  d->ok = TRUE;
  d->reason = reason;
  va_start(ap, fmt);
  d->detail = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  return TRUE;
}

static char *normalize(const char *uri)
{
  return uri ? sip_uri_normalize(uri, NULL) : NULL;
}

/* ------------------------------------------------------------------ conferences */

static GPtrArray *identity_set_new(void)
{
  return g_ptr_array_new_with_free_func(g_free);
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the normalised identity; set_finish() then sorts and drops the repeats. */
static void identity_set_add(GPtrArray *set, const char *identity)
{
  char *norm = normalize(identity);
  if (norm)
    g_ptr_array_add(set, norm);
}

/* Sorted, unique: one sort for the whole set rather than one per identity (a ticket names a
 * few dozen at most, but every creation and owner update builds two sets). */
static void set_finish(GPtrArray *set)
{
  g_ptr_array_sort(set, cmp_str);
  for (guint i = 1; i < set->len;) {
    if (strcmp(g_ptr_array_index(set, i - 1), g_ptr_array_index(set, i)) == 0)
      g_ptr_array_remove_index(set, i); /* frees it when the set owns its strings */
    else
      i++;
  }
}

static gboolean identity_set_has(const GPtrArray *set, const char *identity)
{
  g_autofree char *norm = normalize(identity);
  if (!norm)
    return FALSE;
  for (guint i = 0; i < set->len; i++)
    if (strcmp(g_ptr_array_index(set, i), norm) == 0)
      return TRUE;
  return FALSE;
}

/* Identities in conferences' allowed sets and owners are interned (GLib's quark strings, kept
 * for the process's life in dense blocks): the same few identities recur across conferences,
 * and an idle conference then holds no string of its own for them. Only identities from
 * KMS-vouched tickets get here, so their number is bounded by the users, like the records. */
static const char *identity_intern(const char *identity)
{
  g_autofree char *norm = normalize(identity);
  return norm ? g_intern_string(norm) : NULL;
}

/* A conference's set: interned identities (set_finish() sorts them and drops repeats). */
static void conf_set_add(GPtrArray *set, const char *identity)
{
  const char *id = identity_intern(identity);
  if (id)
    g_ptr_array_add(set, (gpointer)id);
}

/* The conference and its own strings (URI, its normalised form, ticket fingerprint) are one
 * allocation: a daemon holds thousands of idle conferences for days, and every separate small
 * block made during a call keeps a heap page from being given back once the call's transient
 * memory is freed. */
FocusConf *focus_conf_new(const char *uri, const char *owner, GPtrArray *allowed,
                          const char *ticket_fp, gint64 now)
{
  g_autofree char *key = normalize(uri);
  gboolean key_is_uri = key && uri && strcmp(key, uri) == 0;
  gsize ulen = uri ? strlen(uri) + 1 : 0;
  gsize klen = key && !key_is_uri ? strlen(key) + 1 : 0;
  gsize flen = ticket_fp ? strlen(ticket_fp) + 1 : 0;
  FocusConf *conf = g_malloc0(sizeof *conf + ulen + klen + flen);
  char *p = (char *)(conf + 1);
  if (uri) {
    conf->uri = memcpy(p, uri, ulen);
    p += ulen;
  }
  if (klen) {
    conf->key = memcpy(p, key, klen);
    p += klen;
  } else {
    conf->key = key_is_uri ? conf->uri : NULL;
  }
  if (ticket_fp)
    conf->ticket_fp = memcpy(p, ticket_fp, flen);
  conf->owner = identity_intern(owner);
  conf->allowed = g_ptr_array_new();
  for (guint i = 0; allowed && i < allowed->len; i++)
    conf_set_add(conf->allowed, g_ptr_array_index(allowed, i));
  conf_set_add(conf->allowed, owner);
  set_finish(conf->allowed);
  conf->created = conf->updated = now;
  return conf;
}

void focus_conf_free(FocusConf *conf)
{
  if (!conf)
    return;
  g_ptr_array_unref(conf->allowed);
  g_free(conf); /* its strings with it */
}

gboolean focus_conf_allows(const FocusConf *conf, const char *identity)
{
  return identity_set_has(conf->allowed, identity);
}

char *focus_conf_allowed_string(const FocusConf *conf)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < conf->allowed->len; i++)
    g_string_append_printf(s, "%s%s", i ? " " : "", (char *)g_ptr_array_index(conf->allowed, i));
  return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ registry */

struct _FocusRegistry {
  GHashTable *by_uri; /* conf->key -> FocusConf* (owned) */
  GQueue order;       /* the conferences' order_link, creation order */
};

FocusRegistry *focus_registry_new(void)
{
  FocusRegistry *reg = g_new0(FocusRegistry, 1);
  /* the keys live in the conferences */
  reg->by_uri =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)focus_conf_free);
  g_queue_init(&reg->order);
  return reg;
}

void focus_registry_free(FocusRegistry *reg)
{
  if (!reg)
    return;
  g_queue_init(&reg->order); /* embedded links, freed with their conferences */
  g_hash_table_destroy(reg->by_uri);
  g_free(reg);
}

void focus_registry_add(FocusRegistry *reg, FocusConf *conf)
{
  g_return_if_fail(conf->key != NULL);
  FocusConf *old = g_hash_table_lookup(reg->by_uri, conf->key);
  if (old == conf)
    return;
  if (old)
    g_queue_unlink(&reg->order, &old->order_link);
  g_hash_table_replace(reg->by_uri, (gpointer)conf->key, conf); /* frees old */
  conf->order_link.data = conf;
  g_queue_push_tail_link(&reg->order, &conf->order_link);
}

FocusConf *focus_registry_lookup(FocusRegistry *reg, const char *uri)
{
  g_autofree char *key = normalize(uri);
  return key ? g_hash_table_lookup(reg->by_uri, key) : NULL;
}

gboolean focus_registry_remove(FocusRegistry *reg, const char *uri)
{
  g_autofree char *key = normalize(uri);
  FocusConf *conf = key ? g_hash_table_lookup(reg->by_uri, key) : NULL;
  if (!conf)
    return FALSE;
  g_queue_unlink(&reg->order, &conf->order_link);
  return g_hash_table_remove(reg->by_uri, key);
}

guint focus_registry_count(FocusRegistry *reg, gboolean live_only)
{
  guint n = 0;
  for (GList *l = reg->order.head; l; l = l->next)
    n += !live_only || ((FocusConf *)l->data)->ended == 0;
  return n;
}

GList *focus_registry_list(FocusRegistry *reg)
{
  return g_list_copy(reg->order.head);
}

/* ------------------------------------------------------------------ URIs */

char *focus_conf_uri_new(const FocusIdentities *ids)
{
  guint8 rnd[16];
  char hex[33];
  if (!mikey_random_bytes(rnd, sizeof rnd, NULL))
    return NULL; /* the RNG failed: no conference rather than a guessable URI */
  for (guint i = 0; i < sizeof rnd; i++)
    g_snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  return g_strdup_printf("%s:conf-%s@%s", ids->conf_scheme ? ids->conf_scheme : "sip", hex,
                         ids->conf_host);
}

/* The shape of a conference URI: user "conf-" + 32 lowercase hex, our host. */
static gboolean is_conference_uri(const FocusIdentities *ids, const char *uri)
{
  SipUri u = { 0 };
  gboolean ok = FALSE;
  if (!sip_uri_parse(uri, strlen(uri), &u, NULL))
    return FALSE;
  g_autofree char *hostport = u.port ? g_strdup_printf("%s:%s", u.host, u.port) : g_strdup(u.host);
  if (u.user && strlen(u.user) == 37 && g_str_has_prefix(u.user, "conf-") &&
      g_ascii_strcasecmp(hostport, ids->conf_host) == 0 &&
      strcmp(u.scheme, ids->conf_scheme ? ids->conf_scheme : "sip") == 0) {
    ok = TRUE;
    for (const char *c = u.user + 5; *c; c++)
      ok &= g_ascii_isxdigit(*c) && !g_ascii_isupper(*c);
  }
  sip_uri_clear(&u);
  return ok;
}

FocusUriKind focus_uri_kind(const FocusIdentities *ids, const char *uri)
{
  if (!uri)
    return FOCUS_URI_OTHER;
  if (sip_uri_equal(uri, ids->factory_uri))
    return FOCUS_URI_FACTORY;
  if (ids->focus_identity && sip_uri_equal(uri, ids->focus_identity))
    return FOCUS_URI_FOCUS;
  if (is_conference_uri(ids, uri))
    return FOCUS_URI_CONFERENCE;
  return FOCUS_URI_OTHER;
}

/* ------------------------------------------------------------------ tickets */

/* The text of an IDR payload of ID type URI; NULL for other types or embedded NULs. */
static char *idrr_text(const MikeyPayload *p)
{
  gsize n;
  const char *d = g_bytes_get_data(p->u.id.data, &n);
  if (p->u.id.id_type != MIKEY_ID_URI || n == 0 || memchr(d, '\0', n))
    return NULL;
  return g_strndup(d, n);
}

GPtrArray *focus_allowed_from_ticket(const FocusIdentities *ids, const MikeyTicketBody *tp,
                                     const char *owner)
{
  GPtrArray *set = identity_set_new();
  guint n = mikey_chain_count(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint i = 0; i < n; i++) {
    g_autofree char *uri =
        idrr_text(mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i));
    if (uri && focus_uri_kind(ids, uri) == FOCUS_URI_OTHER)
      identity_set_add(set, uri);
  }
  if (owner)
    identity_set_add(set, owner);
  set_finish(set);
  return set;
}

gboolean focus_ticket_names_only_focus(const FocusIdentities *ids, const MikeyTicketBody *tp)
{
  guint n = mikey_chain_count(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint i = 0; i < n; i++) {
    g_autofree char *uri =
        idrr_text(mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i));
    if (!uri || focus_uri_kind(ids, uri) == FOCUS_URI_OTHER)
      return FALSE;
  }
  return n > 0;
}

gboolean focus_ticket_names(const MikeyTicketBody *tp, const char *uri)
{
  guint n = mikey_chain_count(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R);
  for (guint i = 0; i < n; i++) {
    g_autofree char *r = idrr_text(mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_R, i));
    if (r && sip_uri_equal(r, uri))
      return TRUE;
  }
  return FALSE;
}

char *focus_ticket_initiator(const MikeyTicketBody *tp)
{
  MikeyPayload *idri = mikey_chain_find(tp->tp_data, MIKEY_PT_IDR, MIKEY_ID_ROLE_I, 0);
  g_autofree char *uri = idri ? idrr_text(idri) : NULL;
  return normalize(uri);
}

/* ------------------------------------------------------------------ decisions */

gboolean focus_initial_idrr(const FocusIdentities *ids, const char *request_uri,
                            const FocusConf *conf, const MikeyTicketBody *tp, char **idrr,
                            FocusDecision *d)
{
  *idrr = NULL;
  switch (focus_uri_kind(ids, request_uri)) {
  case FOCUS_URI_FACTORY:
    if (!focus_ticket_names(tp, ids->factory_uri))
      return refuse(d, 403, "ticket-not-for-factory", "the ticket does not name the factory %s",
                    ids->factory_uri);
    *idrr = g_strdup(ids->factory_uri);
    return allow(d, "resolve-factory", "resolve for the factory URI");
  case FOCUS_URI_CONFERENCE:
    if (!conf || conf->ended)
      return refuse(d, 404, conf ? "conference-ended" : "unknown-conference", "%s %s",
                    conf ? "conference has ended:" : "no such conference:", request_uri);
    if (focus_ticket_names(tp, conf->uri)) {
      *idrr = g_strdup(conf->uri);
      return allow(d, "resolve-conference", "resolve for the conference URI");
    }
    if (focus_ticket_names(tp, ids->factory_uri)) {
      /* the owner re-joining with its creation ticket (J = 1); the IDRi is checked again
       * after the resolve, when the KMS has vouched for the ticket */
      g_autofree char *initiator = focus_ticket_initiator(tp);
      if (initiator && strcmp(initiator, conf->owner) == 0) {
        *idrr = g_strdup(ids->factory_uri);
        return allow(d, "resolve-factory-owner", "the owner's creation ticket");
      }
    }
    return refuse(d, 403, "ticket-not-for-conference",
                  "the ticket names neither %s nor, for its owner, the factory", conf->uri);
  default:
    return refuse(d, 404, "unknown-target", "%s is neither the factory nor a conference",
                  request_uri);
  }
}

gboolean focus_decide_create(const FocusIdentities *ids, const char *identity, FocusDecision *d)
{
  if (ids->creators && ids->creators[0]) {
    gboolean listed = FALSE;
    for (char **c = ids->creators; *c && !listed; c++)
      listed = sip_uri_equal(*c, identity);
    if (!listed)
      return refuse(d, 403, "not-a-creator", "%s is not in the focus's creator list", identity);
  }
  return allow(d, "created", "%s may create conferences", identity);
}

gboolean focus_decide_join(const FocusConf *conf, const char *identity, gboolean via_factory,
                           FocusDecision *d)
{
  if (conf->ended)
    return refuse(d, 404, "conference-ended", "conference %s has ended", conf->uri);
  if (via_factory && !sip_uri_equal(identity, conf->owner))
    return refuse(d, 403, "factory-ticket-not-owner",
                  "%s joined with a ticket for the factory but is not the owner", identity);
  if (!focus_conf_allows(conf, identity))
    return refuse(d, 403, "not-in-allowed-set", "%s is not in the allowed set of %s", identity,
                  conf->uri);
  return allow(d, "admitted", "%s admitted to %s", identity, conf->uri);
}

const char *focus_offer_kind_name(FocusOfferKind kind)
{
  static const char *const names[] = { "no-keys", "csb-update", "same-ticket", "focus-only",
                                       "new-set" };
  return kind < G_N_ELEMENTS(names) ? names[kind] : "?";
}

FocusOfferKind focus_classify_offer(const FocusIdentities *ids, const MikeyTransferInitView *view,
                                    const MikeyPayload *leg_ticket)
{
  if (!view)
    return FOCUS_OFFER_NO_KEYS;
  if (view->is_update)
    return FOCUS_OFFER_CSB_UPDATE;
  if (leg_ticket && mikey_ticket_same(view->ticket, leg_ticket))
    return FOCUS_OFFER_SAME_TICKET;
  if (focus_ticket_names_only_focus(ids, &view->ticket->u.ticket))
    return FOCUS_OFFER_FOCUS_ONLY;
  return FOCUS_OFFER_NEW_SET;
}

char *focus_indialog_idrr(const FocusIdentities *ids, const FocusConf *conf,
                          const MikeyTransferInitView *view)
{
  if (view->id_r) {
    gsize n;
    const char *d = g_bytes_get_data(view->id_r, &n);
    g_autofree char *idrr = memchr(d, '\0', n) ? NULL : g_strndup(d, n);
    if (idrr && focus_uri_kind(ids, idrr) != FOCUS_URI_OTHER)
      return g_steal_pointer(&idrr);
  }
  if (focus_ticket_names(&view->ticket->u.ticket, conf->uri))
    return g_strdup(conf->uri);
  return g_strdup(ids->factory_uri);
}

gboolean focus_decide_offer(const FocusIdentities *ids, const FocusConf *conf,
                            const char *leg_identity, FocusOfferKind kind,
                            const MikeyTicketBody *tp, GPtrArray **new_allowed, GPtrArray **removed,
                            FocusDecision *d)
{
  *new_allowed = NULL;
  *removed = NULL;
  if (kind == FOCUS_OFFER_NO_KEYS || kind == FOCUS_OFFER_CSB_UPDATE)
    return allow(d, focus_offer_kind_name(kind), "keys unchanged, set unchanged");
  g_autofree char *initiator = focus_ticket_initiator(tp);
  if (!initiator || !sip_uri_equal(initiator, leg_identity))
    return refuse(d, 403, "ticket-of-another-identity",
                  "the ticket was issued to %s, not to this leg's %s",
                  initiator ? initiator : "(nobody)", leg_identity);
  if (kind == FOCUS_OFFER_SAME_TICKET && !(tp->flags & MIKEY_TP_J))
    return refuse(d, 403, "ticket-reuse-refused", "the ticket may not be reused (J = 0)");
  if (kind != FOCUS_OFFER_NEW_SET)
    return allow(d, focus_offer_kind_name(kind), "leg re-keyed, set unchanged");
  if (!sip_uri_equal(leg_identity, conf->owner))
    /* a set change is never taken from a non-owner: it re-keys that leg only */
    return allow(d, "rekey-non-owner", "%s is not the owner: leg re-keyed, set unchanged",
                 leg_identity);
  GPtrArray *next = focus_allowed_from_ticket(ids, tp, conf->owner);
  GPtrArray *gone = identity_set_new();
  for (guint i = 0; i < conf->allowed->len; i++) {
    const char *who = g_ptr_array_index(conf->allowed, i);
    if (!identity_set_has(next, who))
      g_ptr_array_add(gone, g_strdup(who));
  }
  *new_allowed = next;
  if (gone->len)
    *removed = gone;
  else
    g_ptr_array_unref(gone);
  return allow(d, "set-changed", "allowed set of %s now has %u identities (%u removed)", conf->uri,
               next->len, *removed ? (*removed)->len : 0);
}

gboolean focus_decide_from(const char *identity, const char *from_uri, gboolean allow_mismatch,
                           FocusDecision *d)
{
  if (from_uri && sip_uri_equal(identity, from_uri))
    return allow(d, "from-matches", "the From URI is the ticket's identity");
  if (allow_mismatch)
    return allow(d, "from-mismatch-allowed",
                 "the From URI %s is not the ticket's identity %s (allowed by configuration)",
                 from_uri ? from_uri : "(none)", identity);
  return refuse(d, 403, "from-mismatch", "the From URI %s is not the ticket's identity %s",
                from_uri ? from_uri : "(none)", identity);
}

FocusOfferKind focus_classify_offer_in(const FocusIdentities *ids, const FocusConf *conf,
                                       const MikeyTransferInitView *view,
                                       const MikeyPayload *leg_ticket)
{
  FocusOfferKind kind = focus_classify_offer(ids, view, leg_ticket);
  if ((kind == FOCUS_OFFER_NEW_SET || kind == FOCUS_OFFER_FOCUS_ONLY) && conf->ticket_fp) {
    g_autofree char *fp = mikey_ticket_fingerprint(view->ticket);
    if (fp && strcmp(fp, conf->ticket_fp) == 0)
      return FOCUS_OFFER_SAME_TICKET;
  }
  return kind;
}
