#include "proto/trust.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

/* A change of a boolean over time: valid from ts on (on) or not (off). */
typedef struct change { uint64_t ts; bool on; } change;

typedef struct history {
  change *v;
  size_t n, cap;
} history;

typedef struct net {
  uint8_t key[KEY_LEN];
  history member;
  bool is_member;
  /* vote sets: indexes into t->nets of issuers */
  uint32_t *endorsers, nend, capend;
  uint32_t *revokers, nrev, caprev;
} net;

typedef struct keyent {
  uint8_t net[KEY_LEN];
  uint8_t key[KEY_LEN];
  uint8_t role;
  history valid;
} keyent;

struct trust_state {
  charter ch;
  net *nets;
  size_t nnets, capnets;
  keyent *keys;
  size_t nkeys, capkeys;
  bool any;
  uint64_t last_ts;
  uint8_t last_hash[HASH_LEN];
};

static const char *const role_names[] = { NULL, "member", "editor", "node" };

int trust_role_from_name(const char *s, size_t n) {
  for (int i = 1; i <= TRUST_NODE; i++)
    if (strlen(role_names[i]) == n && memcmp(role_names[i], s, n) == 0) return i;
  return 0;
}

const char *trust_role_name(int role) {
  return role >= TRUST_MEMBER && role <= TRUST_NODE ? role_names[role] : "?";
}

/* Grows *v (of *cap elements of size sz) to hold one more. */
static int grow(void **v, size_t *cap, size_t n, size_t sz) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 8;
  void *p = realloc(*v, nc * sz);
  if (!p) return STOA_ENOMEM;
  *v = p;
  *cap = nc;
  return 0;
}

static int history_push(history *h, uint64_t ts, bool on) {
  if (h->n && h->v[h->n - 1].on == on) return 0;
  int e = grow((void **)&h->v, &h->cap, h->n, sizeof *h->v);
  if (e) return e;
  h->v[h->n++] = (change){ ts, on };
  return 1;
}

/* Value at time `at`: the last change at or before it.  O(log n). */
static bool history_at(const history *h, uint64_t at) {
  size_t lo = 0, hi = h->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (h->v[mid].ts <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo ? h->v[lo - 1].on : false;
}

/* Linear lookups: a federation has hundreds of networks, not millions, and
 * the replay runs only when trust records arrive. */
static net *find_net(const trust_state *t, const uint8_t key[KEY_LEN]) {
  for (size_t i = 0; i < t->nnets; i++)
    if (memcmp(t->nets[i].key, key, KEY_LEN) == 0) return &t->nets[i];
  return NULL;
}

static net *get_net(trust_state *t, const uint8_t key[KEY_LEN]) {
  net *n = find_net(t, key);
  if (n) return n;
  if (grow((void **)&t->nets, &t->capnets, t->nnets, sizeof *t->nets)) return NULL;
  n = &t->nets[t->nnets++];
  memset(n, 0, sizeof *n);
  memcpy(n->key, key, KEY_LEN);
  return n;
}

static keyent *find_key(const trust_state *t, const uint8_t nk[KEY_LEN],
                        const uint8_t key[KEY_LEN], int role) {
  for (size_t i = 0; i < t->nkeys; i++) {
    keyent *k = &t->keys[i];
    if (k->role == role && memcmp(k->key, key, KEY_LEN) == 0 && memcmp(k->net, nk, KEY_LEN) == 0)
      return k;
  }
  return NULL;
}

static void free_contents(trust_state *t) {
  for (size_t i = 0; i < t->nnets; i++) {
    free(t->nets[i].member.v);
    free(t->nets[i].endorsers);
    free(t->nets[i].revokers);
  }
  for (size_t i = 0; i < t->nkeys; i++) free(t->keys[i].valid.v);
  free(t->nets);
  free(t->keys);
  t->nets = NULL;
  t->keys = NULL;
  t->nnets = t->capnets = t->nkeys = t->capkeys = 0;
}

void trust_reset(trust_state *t) {
  free_contents(t);
  t->any = false;
  t->last_ts = 0;
  memset(t->last_hash, 0, HASH_LEN);
  for (uint32_t i = 0; i < t->ch.nfounders; i++) {
    net *n = get_net(t, t->ch.founders[i]);
    if (!n) continue; /* allocation failure: checked again on lookup */
    n->is_member = true;
    history_push(&n->member, 0, true);
  }
}

int trust_new(trust_state **out, const charter *c) {
  trust_state *t = calloc(1, sizeof *t);
  if (!t) return STOA_ENOMEM;
  t->ch = *c;
  trust_reset(t);
  if (t->nnets != c->nfounders) { trust_free(t); return STOA_ENOMEM; }
  *out = t;
  return 0;
}

void trust_free(trust_state *t) {
  if (!t) return;
  free_contents(t);
  free(t);
}

uint32_t trust_quorum(const trust_state *t) { return t->ch.quorum; }

bool trust_in_order(const trust_state *t, const trust_event *ev) {
  if (!t->any) return true;
  if (ev->ts != t->last_ts) return ev->ts > t->last_ts;
  return memcmp(ev->hash, t->last_hash, HASH_LEN) > 0;
}

/* Adds idx to a vote set (no duplicates); removes it with add == false. */
static int vote_set(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t idx, bool add) {
  for (uint32_t i = 0; i < *n; i++)
    if ((*v)[i] == idx) {
      if (!add) (*v)[i] = (*v)[--*n];
      return 0;
    }
  if (!add) return 0;
  size_t c = *cap;
  int e = grow((void **)v, &c, *n, sizeof **v);
  *cap = (uint32_t)c;
  if (e) return e;
  (*v)[(*n)++] = idx;
  return 0;
}

static uint32_t count_members(const trust_state *t, const uint32_t *v, uint32_t n) {
  uint32_t c = 0;
  for (uint32_t i = 0; i < n; i++) c += t->nets[v[i]].is_member;
  return c;
}

static int apply_member(trust_state *t, const trust_event *ev) {
  net *issuer = find_net(t, ev->owner);
  if (!issuer || !issuer->is_member || memcmp(ev->owner, ev->subject, KEY_LEN) == 0) return 0;
  uint32_t iidx = (uint32_t)(issuer - t->nets);
  net *s = get_net(t, ev->subject); /* may move t->nets */
  if (!s) return STOA_ENOMEM;
  int e;
  bool endorse = ev->kind == REC_ENDORSE;
  if ((e = vote_set(&s->endorsers, &s->nend, &s->capend, iidx, endorse)) ||
      (e = vote_set(&s->revokers, &s->nrev, &s->caprev, iidx, !endorse)))
    return e;
  if (endorse && !s->is_member && count_members(t, s->endorsers, s->nend) >= t->ch.quorum) {
    s->is_member = true;
    s->nrev = 0;
    return history_push(&s->member, ev->ts, true);
  }
  if (!endorse && s->is_member && count_members(t, s->revokers, s->nrev) >= t->ch.quorum) {
    s->is_member = false;
    s->nend = s->nrev = 0;
    return history_push(&s->member, ev->ts, false);
  }
  return 0;
}

/* A network's own keys: recorded whatever its membership, since records are
 * judged by trust_is_member of their owner anyway (a network endorses its
 * editor key at `init`, before it is admitted). */
static int apply_key(trust_state *t, const trust_event *ev) {
  keyent *k = find_key(t, ev->owner, ev->subject, ev->role);
  if (!k) {
    if (ev->kind != REC_ENDORSE) return 0;
    if (grow((void **)&t->keys, &t->capkeys, t->nkeys, sizeof *t->keys)) return STOA_ENOMEM;
    k = &t->keys[t->nkeys++];
    memset(k, 0, sizeof *k);
    memcpy(k->net, ev->owner, KEY_LEN);
    memcpy(k->key, ev->subject, KEY_LEN);
    k->role = ev->role;
  }
  return history_push(&k->valid, ev->ts, ev->kind == REC_ENDORSE);
}

int trust_apply(trust_state *t, const trust_event *ev) {
  if (!trust_in_order(t, ev)) return STOA_ESTATE;
  if (ev->kind != REC_ENDORSE && ev->kind != REC_REVOKE) return STOA_EINVAL;
  t->any = true;
  t->last_ts = ev->ts;
  memcpy(t->last_hash, ev->hash, HASH_LEN);
  switch (ev->role) {
  case TRUST_MEMBER: return apply_member(t, ev);
  case TRUST_EDITOR: case TRUST_NODE: return apply_key(t, ev);
  default: return STOA_EINVAL;
  }
}

/* A network's records count when it is a member now, or when they predate
 * its removal: records written while a network waited for admission become
 * valid when it is admitted, and a removed network's history stays. */
bool trust_is_member(const trust_state *t, const uint8_t nk[KEY_LEN], uint64_t at) {
  const net *n = find_net(t, nk);
  if (!n || !n->member.n) return false;
  const change *last = &n->member.v[n->member.n - 1];
  return last->on || at < last->ts;
}

bool trust_key_valid(const trust_state *t, const uint8_t nk[KEY_LEN],
                     const uint8_t key[KEY_LEN], int role, uint64_t at) {
  const keyent *k = find_key(t, nk, key, role);
  return k && history_at(&k->valid, at);
}

int trust_check(const trust_state *t, const rec_header *h) {
  if (!trust_is_member(t, h->owner, h->ts)) return STOA_EUNTRUSTED;
  if (memcmp(h->owner, h->signer, KEY_LEN) == 0) return 0;
  switch (h->kind) {
  case REC_ORG: case REC_ACTOR: case REC_PRACTICE: case REC_ERASE:
    return trust_key_valid(t, h->owner, h->signer, TRUST_EDITOR, h->ts) ? 0 : STOA_EUNTRUSTED;
  case REC_PEER:
    return trust_key_valid(t, h->owner, h->signer, TRUST_NODE, h->ts) ||
                   trust_key_valid(t, h->owner, h->signer, TRUST_EDITOR, h->ts)
               ? 0 : STOA_EUNTRUSTED;
  default:
    return STOA_EUNTRUSTED; /* endorse and revoke: the network key only */
  }
}

int trust_event_from_record(const rec *r, trust_event *ev) {
  mp_reader rd;
  uint32_t n, klen, vlen;
  const char *k, *v;
  const uint8_t *subj = NULL;
  int role = 0, e;

  if (!rec_kind_is_trust(r->h.kind) || r->h.kind == REC_ERASE || !r->body) return STOA_EINVAL;
  mp_reader_init(&rd, r->body, r->body_len);
  if ((e = mp_read_map(&rd, &n))) return e;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = mp_read_str(&rd, &k, &klen))) return e;
    if (klen == 7 && memcmp(k, "subject", 7) == 0) {
      if ((e = mp_read_binn(&rd, &subj, KEY_LEN))) return e;
    } else if (klen == 4 && memcmp(k, "role", 4) == 0) {
      if ((e = mp_read_str(&rd, &v, &vlen))) return e;
      role = trust_role_from_name(v, vlen);
    } else if ((e = mp_skip(&rd, 1))) {
      return e;
    }
  }
  if (!subj || !role) return STOA_ESCHEMA;
  ev->ts = r->h.ts;
  memcpy(ev->hash, r->hash, HASH_LEN);
  ev->kind = (uint8_t)r->h.kind;
  ev->role = (uint8_t)role;
  memcpy(ev->owner, r->h.owner, KEY_LEN);
  memcpy(ev->subject, subj, KEY_LEN);
  return 0;
}

size_t trust_members(const trust_state *t, uint64_t at, uint8_t (*out)[KEY_LEN], size_t max) {
  size_t c = 0;
  for (size_t i = 0; i < t->nnets; i++)
    if (history_at(&t->nets[i].member, at)) {
      if (c < max) memcpy(out[c], t->nets[i].key, KEY_LEN);
      c++;
    }
  return c;
}
