/*
 * ingest.c - validating and committing batches of records.
 *
 * The caller decodes records and checks signatures (on as many cores as it
 * has); this file does what needs the store: schema, trust, future dating,
 * erasure and the pending area, all inside one write transaction per batch.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/err.h"
#include "proto/mp.h"

#define PENDING_MAX_AGE_MS (30ull * 24 * 3600 * 1000)

/* ---- erasure ------------------------------------------------------------- */

typedef struct erase_body {
  uint8_t target[EKEY_LEN];
  uint64_t until;
} erase_body;

static int erase_parse(const rec *r, erase_body *eb) {
  mp_reader rd;
  uint32_t n, klen;
  const char *k;
  const uint8_t *t = NULL;
  bool have_until = false;
  int e;
  mp_reader_init(&rd, r->body, r->body_len);
  if ((e = mp_read_map(&rd, &n))) return e;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = mp_read_str(&rd, &k, &klen))) return e;
    if (klen == 6 && !memcmp(k, "target", 6)) {
      if ((e = mp_read_binn(&rd, &t, EKEY_LEN))) return e;
    } else if (klen == 5 && !memcmp(k, "until", 5)) {
      if ((e = mp_read_uint(&rd, &eb->until))) return e;
      have_until = true;
    } else if ((e = mp_skip(&rd, 1))) {
      return e;
    }
  }
  if (!t || !have_until) return STOA_ESCHEMA;
  memcpy(eb->target, t, EKEY_LEN);
  return 0;
}

static int cmp_u64_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x < y) - (x > y);
}

/*
 * Effective erasure time of a target: the owner's own erasures count alone;
 * other networks' count when `quorum` distinct networks, each a member at
 * its erasure's time, agree - up to the quorum-th largest of their times.
 */
static int erase_effective(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], uint64_t *out) {
  enum { MAXV = 256 };
  uint8_t nets[MAXV][KEY_LEN];
  uint64_t untils[MAXV];
  size_t nn = 0;
  uint64_t own = 0;
  MDB_cursor *cur;
  MDB_val k = { EKEY_LEN, (void *)dk }, d;
  int rc;
  uint8_t ekey[EKEY_LEN];
  dbkey_to_ekey(dk, ekey);

  if ((rc = mdb_cursor_open(txn, s->dbi[DB_ERASEV], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size != EKEY_LEN + HASH_LEN || memcmp(k.mv_data, dk, EKEY_LEN)) break;
    const uint8_t *p = d.mv_data;
    if (d.mv_size != KEY_LEN + 16) continue;
    uint64_t until = get_be64(p + KEY_LEN), ts = get_be64(p + KEY_LEN + 8);
    if (memcmp(p, ekey, KEY_LEN) == 0) { /* the owner itself */
      if (until > own) own = until;
      continue;
    }
    if (!trust_is_member(s->trust, p, ts)) continue;
    size_t i;
    for (i = 0; i < nn; i++)
      if (memcmp(nets[i], p, KEY_LEN) == 0) break;
    if (i == nn) {
      if (nn == MAXV) continue;
      memcpy(nets[nn], p, KEY_LEN);
      untils[nn++] = until;
    } else if (until > untils[i]) {
      untils[i] = until;
    }
  }
  mdb_cursor_close(cur);
  uint32_t q = trust_quorum(s->trust);
  if (nn >= q) {
    qsort(untils, nn, sizeof *untils, cmp_u64_desc);
    if (untils[q - 1] > own) own = untils[q - 1];
  }
  *out = own;
  return 0;
}

static int erase_apply(store *s, MDB_txn *txn, const rec *r, const erase_body *eb,
                       store_counts *c) {
  uint8_t dk[EKEY_LEN + HASH_LEN], val[KEY_LEN + 16], ub[8];
  uint64_t until, prev = 0;
  MDB_val k, d;
  int e;
  ekey_to_dbkey(eb->target, dk);
  memcpy(dk + EKEY_LEN, r->hash, HASH_LEN);
  memcpy(val, r->h.owner, KEY_LEN);
  put_be64(val + KEY_LEN, eb->until);
  put_be64(val + KEY_LEN + 8, r->h.ts);
  k.mv_size = sizeof dk;
  k.mv_data = dk;
  d.mv_size = sizeof val;
  d.mv_data = val;
  if ((e = store__err(mdb_put(txn, s->dbi[DB_ERASEV], &k, &d, 0)))) return e;
  if ((e = erase_effective(s, txn, dk, &until))) return e;
  k.mv_size = EKEY_LEN;
  if (mdb_get(txn, s->dbi[DB_ERASED], &k, &d) == 0 && d.mv_size == 8) prev = get_be64(d.mv_data);
  if (until <= prev) return 0;
  put_be64(ub, until);
  d.mv_size = 8;
  d.mv_data = ub;
  if ((e = store__err(mdb_put(txn, s->dbi[DB_ERASED], &k, &d, 0)))) return e;
  s->tx_erased_any = true;
  return index__erase(s, txn, eb->target, until, c);
}

/* ---- the write transaction's trust bookkeeping -------------------------------- */

#define EVER_LEN (2 * KEY_LEN + 1)   /* network || key || role */
#define MX_KEY_LEN (2 + 2 * KEY_LEN) /* "mx" || owner || signer */

typedef struct mx_slot {
  uint8_t k[2 * KEY_LEN];     /* owner || signer */
  uint64_t ts;
  bool used;
} mx_slot;

/* A key some endorse record names, and the earliest such endorsement. */
typedef struct ever_key {
  uint8_t k[EVER_LEN];
  uint64_t ts;
} ever_key;

struct judge_ctx {
  /* Keys endorse records name, sorted (loaded from DB_TRUST when first
   * needed: only records that fail trust_check ask). */
  ever_key *ever;
  size_t never, capever;
  bool ever_loaded;
  judge_ev *ev;               /* trust events added */
  size_t nev, capev;
  mx_slot *mx;                /* open addressing, power of two */
  size_t mxcap, mxused;
  size_t data_stored;         /* records other than endorse/revoke stored */
  bool mx_complete;
};

int ingest__jc_begin(store *s, MDB_txn *txn) {
  struct judge_ctx *jc = s->jc;
  uint64_t ok, seq;
  int e;
  if (!jc && !(jc = s->jc = calloc(1, sizeof *jc))) return STOA_ENOMEM;
  jc->never = jc->nev = jc->data_stored = 0;
  jc->ever_loaded = false;
  if (jc->mxused) memset(jc->mx, 0, jc->mxcap * sizeof *jc->mx);
  jc->mxused = 0;
  if ((e = store__meta_u64(txn, s, "mxok", &ok)) || (e = store__meta_u64(txn, s, "seq", &seq)))
    return e;
  jc->mx_complete = ok == 1 || seq == 0;
  return 0;
}

void ingest__jc_free(store *s) {
  struct judge_ctx *jc = s->jc;
  if (!jc) return;
  free(jc->ever);
  free(jc->ev);
  free(jc->mx);
  free(jc);
  s->jc = NULL;
}

const judge_ev *ingest__added(store *s, size_t *n) {
  *n = s->jc ? s->jc->nev : 0;
  return s->jc ? s->jc->ev : NULL;
}

bool ingest__mx_complete(store *s) { return s->jc && s->jc->mx_complete; }
void ingest__mx_covered(store *s) { if (s->jc) s->jc->mx_complete = true; }

static int cmp_ever(const void *a, const void *b) {
  return memcmp(((const ever_key *)a)->k, ((const ever_key *)b)->k, EVER_LEN);
}

static void ever_keyof(ever_key *x, const uint8_t net[KEY_LEN], const uint8_t key[KEY_LEN],
                       int role) {
  memcpy(x->k, net, KEY_LEN);
  memcpy(x->k + KEY_LEN, key, KEY_LEN);
  x->k[2 * KEY_LEN] = (uint8_t)role;
}

/* Adds an endorsement (appended, or in its sorted place: then an earlier
 * one of the same key is kept). */
static int ever_add(struct judge_ctx *jc, const uint8_t net[KEY_LEN], const uint8_t key[KEY_LEN],
                    int role, uint64_t ts, bool sorted) {
  ever_key x;
  ever_keyof(&x, net, key, role);
  x.ts = ts;
  size_t at = jc->never;
  if (sorted) {
    size_t lo = 0, hi = jc->never;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      int c = memcmp(jc->ever[mid].k, x.k, EVER_LEN);
      if (c == 0) {
        if (ts < jc->ever[mid].ts) jc->ever[mid].ts = ts;
        return 0;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    at = lo;
  }
  if (jc->never == jc->capever) {
    size_t nc = jc->capever ? jc->capever * 2 : 64;
    ever_key *p = realloc(jc->ever, nc * sizeof *p);
    if (!p) return STOA_ENOMEM;
    jc->ever = p;
    jc->capever = nc;
  }
  if (at < jc->never) memmove(&jc->ever[at + 1], &jc->ever[at], (jc->never - at) * sizeof *jc->ever);
  jc->ever[at] = x;
  jc->never++;
  return 0;
}

/* Every editor and node key an endorse record in DB_TRUST names, with its
 * earliest endorsement.  O(trust records), once per write transaction that
 * meets an untrusted record. */
static int ever_load(store *s, MDB_txn *txn) {
  struct judge_ctx *jc = s->jc;
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;
  jc->never = 0;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_TRUST], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0 && !e;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *p = d.mv_data;
    if (d.mv_size != 2 + 2 * KEY_LEN || k.mv_size != 8 + HASH_LEN) continue;
    if (p[0] == REC_ENDORSE && (p[1] == TRUST_EDITOR || p[1] == TRUST_NODE))
      e = ever_add(jc, p + 2, p + 2 + KEY_LEN, p[1], get_be64(k.mv_data), false);
  }
  mdb_cursor_close(cur);
  if (e) return e;
  if (rc != MDB_NOTFOUND) return store__err(rc);
  /* One row per key: the earliest of its endorsements. */
  if (jc->never) qsort(jc->ever, jc->never, sizeof *jc->ever, cmp_ever);
  size_t m = 0;
  for (size_t i = 0; i < jc->never; i++) {
    if (m && !memcmp(jc->ever[m - 1].k, jc->ever[i].k, EVER_LEN)) {
      if (jc->ever[i].ts < jc->ever[m - 1].ts) jc->ever[m - 1].ts = jc->ever[i].ts;
      continue;
    }
    jc->ever[m++] = jc->ever[i];
  }
  jc->never = m;
  jc->ever_loaded = true;
  return 0;
}

/* Whether the network endorsed the key for the role at or before `at`. */
static bool ever_before(const struct judge_ctx *jc, const uint8_t net[KEY_LEN],
                        const uint8_t key[KEY_LEN], int role, uint64_t at) {
  ever_key x;
  ever_keyof(&x, net, key, role);
  const ever_key *f = jc->never ? bsearch(&x, jc->ever, jc->never, sizeof *jc->ever, cmp_ever) : NULL;
  return f && f->ts <= at;
}

/* The (owner, signer) slot of the transaction's timestamps. */
static mx_slot *mx_find(struct judge_ctx *jc, const uint8_t k[2 * KEY_LEN]) {
  uint64_t h;
  memcpy(&h, k + KEY_LEN, 8); /* public keys: random already */
  size_t mask = jc->mxcap - 1, i = (size_t)(h ^ k[0]) & mask;
  while (jc->mx[i].used && memcmp(jc->mx[i].k, k, sizeof jc->mx[i].k)) i = (i + 1) & mask;
  return &jc->mx[i];
}

int ingest__mx_note(store *s, const uint8_t owner[KEY_LEN], const uint8_t signer[KEY_LEN],
                    uint64_t ts) {
  struct judge_ctx *jc = s->jc;
  uint8_t k[2 * KEY_LEN];
  if (!jc) return 0;
  if ((jc->mxused + 1) * 2 > jc->mxcap) {
    size_t oc = jc->mxcap, nc = oc ? oc * 2 : 64;
    mx_slot *old = jc->mx, *nt = calloc(nc, sizeof *nt);
    if (!nt) return STOA_ENOMEM;
    jc->mx = nt;
    jc->mxcap = nc;
    for (size_t i = 0; i < oc; i++)
      if (old[i].used) *mx_find(jc, old[i].k) = old[i];
    free(old);
  }
  memcpy(k, owner, KEY_LEN);
  memcpy(k + KEY_LEN, signer, KEY_LEN);
  mx_slot *x = mx_find(jc, k);
  if (!x->used) {
    memcpy(x->k, k, sizeof k);
    x->used = true;
    x->ts = ts;
    jc->mxused++;
  } else if (ts > x->ts) {
    x->ts = ts;
  }
  return 0;
}

static int mx_meta(store *s, MDB_txn *txn, const uint8_t k[2 * KEY_LEN], uint64_t *ts) {
  uint8_t mk[MX_KEY_LEN] = { 'm', 'x' };
  memcpy(mk + 2, k, 2 * KEY_LEN);
  MDB_val key = { sizeof mk, mk }, d;
  int rc = mdb_get(txn, s->dbi[DB_META], &key, &d);
  *ts = 0;
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store__err(rc);
  if (d.mv_size != 8) return STOA_ECORRUPT;
  *ts = get_be64(d.mv_data);
  return 0;
}

int ingest__mx_get(store *s, MDB_txn *txn, const uint8_t owner[KEY_LEN],
                   const uint8_t signer[KEY_LEN], bool with_txn, uint64_t *ts) {
  uint8_t k[2 * KEY_LEN];
  int e;
  memcpy(k, owner, KEY_LEN);
  memcpy(k + KEY_LEN, signer, KEY_LEN);
  if ((e = mx_meta(s, txn, k, ts))) return e;
  if (with_txn && s->jc && s->jc->mxcap) {
    const mx_slot *x = mx_find(s->jc, k);
    if (x->used && x->ts > *ts) *ts = x->ts;
  }
  return 0;
}

int ingest__mx_flush(store *s, MDB_txn *txn) {
  struct judge_ctx *jc = s->jc;
  uint64_t ok;
  int e;
  if (!jc) return 0;
  for (size_t i = 0; i < jc->mxcap && jc->mxused; i++) {
    const mx_slot *x = &jc->mx[i];
    uint8_t mk[MX_KEY_LEN] = { 'm', 'x' }, v[8];
    uint64_t have;
    if (!x->used) continue;
    if ((e = mx_meta(s, txn, x->k, &have))) return e;
    if (have >= x->ts) continue;
    memcpy(mk + 2, x->k, 2 * KEY_LEN);
    put_be64(v, x->ts);
    MDB_val key = { sizeof mk, mk }, d = { 8, v };
    if ((e = store__err(mdb_put(txn, s->dbi[DB_META], &key, &d, 0)))) return e;
  }
  if (!jc->mx_complete) return 0;
  if ((e = store__meta_u64(txn, s, "mxok", &ok))) return e;
  return ok == 1 ? 0 : store__meta_put_u64(txn, s, "mxok", 1);
}

/* ---- judging ------------------------------------------------------------------- */

/* Whether a record that trust_check refuses is still held (void): its owner
 * was a member at some time, and its signer is the owner or a key that the
 * owner endorsed for the record's kind at or before the record's time.  Such
 * a record may have been valid on some node (before a revocation or a
 * removal reached it), so every node must hold it for their record sets to
 * agree; and a node that judged it valid held that endorsement, which
 * reaches every node, so all of them come to hold it.  Records of networks
 * never admitted and of keys not endorsed by then wait in the pending area
 * instead: no one vouched for them, and its bound keeps them few. */
static int admissible(store *s, MDB_txn *txn, const rec_header *h, bool *ok) {
  struct judge_ctx *jc = s->jc;
  int e;
  *ok = false;
  if (!trust_is_member(s->trust, h->owner, 0)) return 0; /* never a member */
  if (!memcmp(h->owner, h->signer, KEY_LEN)) { *ok = true; return 0; }
  if (!jc) return 0;
  if (!jc->ever_loaded && (e = ever_load(s, txn))) return e;
  switch (h->kind) {
  case REC_ORG: case REC_ACTOR: case REC_PRACTICE: case REC_ERASE:
    *ok = ever_before(jc, h->owner, h->signer, TRUST_EDITOR, h->ts);
    break;
  case REC_PEER:
    *ok = ever_before(jc, h->owner, h->signer, TRUST_NODE, h->ts) ||
          ever_before(jc, h->owner, h->signer, TRUST_EDITOR, h->ts);
    break;
  default:
    break; /* endorse and revoke: the network key only */
  }
  return 0;
}

enum { JUDGE_VALID = 0, JUDGE_VOID = 1 };

/* Judges a decoded, signature-checked record that is not yet stored: into
 * *verdict JUDGE_VALID, JUDGE_VOID (held, in no index), or the reason it
 * waits in the pending area (STOA_EFUTURE, STOA_EUNTRUSTED).  Returns 0 or
 * a store error. */
static int judge(store *s, MDB_txn *txn, const rec *r, uint64_t now, int *verdict) {
  bool ok;
  int e;
  if (r->h.ts > now + REC_FUTURE_MS) { *verdict = STOA_EFUTURE; return 0; }
  if (trust_check(s->trust, &r->h) == 0) { *verdict = JUDGE_VALID; return 0; }
  if ((e = admissible(s, txn, &r->h, &ok))) return e;
  *verdict = ok ? JUDGE_VOID : STOA_EUNTRUSTED;
  return 0;
}

/* ---- accepting ------------------------------------------------------------- */

/* Notes a trust event this transaction added, for store__rejudge. */
static int jc_event(store *s, const trust_event *ev) {
  struct judge_ctx *jc = s->jc;
  int e;
  if (!jc) return 0;
  if (jc->nev == jc->capev) {
    size_t nc = jc->capev ? jc->capev * 2 : 16;
    judge_ev *p = realloc(jc->ev, nc * sizeof *p);
    if (!p) return STOA_ENOMEM;
    jc->ev = p;
    jc->capev = nc;
  }
  jc->ev[jc->nev].ev = *ev;
  jc->ev[jc->nev++].late = jc->data_stored > 0;
  if (jc->ever_loaded && ev->kind == REC_ENDORSE &&
      (ev->role == TRUST_EDITOR || ev->role == TRUST_NODE) &&
      (e = ever_add(jc, ev->owner, ev->subject, ev->role, ev->ts, true)))
    return e;
  return 0;
}

static int trust_put(store *s, MDB_txn *txn, const trust_event *pev) {
  trust_event ev = *pev;
  uint8_t key[8 + HASH_LEN], val[2 + 2 * KEY_LEN];
  int e;
  put_be64(key, ev.ts);
  memcpy(key + 8, ev.hash, HASH_LEN);
  val[0] = ev.kind;
  val[1] = ev.role;
  memcpy(val + 2, ev.owner, KEY_LEN);
  memcpy(val + 2 + KEY_LEN, ev.subject, KEY_LEN);
  MDB_val k = { sizeof key, key }, d = { sizeof val, val };
  if ((e = store__err(mdb_put(txn, s->dbi[DB_TRUST], &k, &d, 0)))) return e;
  s->trust_dirty = true;
  if ((e = jc_event(s, &ev))) return e;
  if (trust_in_order(s->trust, &ev)) return trust_apply(s->trust, &ev) < 0 ? STOA_ENOMEM : 0;
  return store__trust_replay(s, txn); /* a back-dated trust record */
}

int ingest__trust_add(store *s, MDB_txn *txn, const rec *r) {
  trust_event ev;
  int e = trust_event_from_record(r, &ev);
  return e ? e : trust_put(s, txn, &ev);
}

/* A trust or erase body is read before anything is stored, so that one the
 * schema let through but that means nothing (STOA_ESCHEMA) is rejected
 * whole rather than stored and reported rejected.  On reindex (IDX_NONE)
 * a stored record is indexed whatever its body says.  A void record's trust
 * event is replayed and its erasure applied like a valid one's: a void
 * endorse or revoke has no effect on any verdict (its network is not a
 * member at its time, so the replay ignores its votes and no record of that
 * network then counts), and an erasure cannot be taken back on the nodes
 * that applied it before the revocation reached them. */
int ingest__accept(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                   int put, const doc_toks *t, bool valid, store_counts *c) {
  trust_event ev;
  erase_body eb;
  bool trust = false, erase = false;
  int e;
  if (r->body && (r->h.kind == REC_ENDORSE || r->h.kind == REC_REVOKE) && put != IDX_NONE) {
    if ((e = trust_event_from_record(r, &ev))) return e;
    trust = true;
  }
  if (r->body && r->h.kind == REC_ERASE) {
    if ((e = erase_parse(r, &eb)) && put != IDX_NONE) return e;
    erase = !e;
  }
  if ((e = index__record(s, txn, r, buf, len, put, t, valid, c))) return e;
  if (put != IDX_NONE && s->jc) {
    if (r->h.kind != REC_ENDORSE && r->h.kind != REC_REVOKE) s->jc->data_stored++;
    if (memcmp(r->h.owner, r->h.signer, KEY_LEN) &&
        (e = ingest__mx_note(s, r->h.owner, r->h.signer, r->h.ts)))
      return e;
  }
  if (trust) return trust_put(s, txn, &ev);
  if (erase) return erase_apply(s, txn, r, &eb, c);
  return 0;
}

/* ---- pending area ----------------------------------------------------------- */

static const uint8_t pend_local[STORE_SRC_LEN]; /* zeros: this node's own user */

static bool pend_is_local(const uint8_t *src) { return sodium_is_zero(src, STORE_SRC_LEN); }

/* The count of pending rows from a peer source (DB_META "ps" || src). */
static int pend_src_get(store *s, MDB_txn *txn, const uint8_t *src, uint64_t *n) {
  uint8_t kb[2 + STORE_SRC_LEN] = { 'p', 's' };
  memcpy(kb + 2, src, STORE_SRC_LEN);
  MDB_val k = { sizeof kb, kb }, d;
  int rc = mdb_get(txn, s->dbi[DB_META], &k, &d);
  *n = 0;
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store__err(rc);
  if (d.mv_size != 8) return STOA_ECORRUPT;
  *n = get_be64(d.mv_data);
  return 0;
}

static int pend_src_add(store *s, MDB_txn *txn, const uint8_t *src, int delta) {
  uint8_t kb[2 + STORE_SRC_LEN] = { 'p', 's' }, vb[8];
  uint64_t n;
  int e, rc;
  if (pend_is_local(src)) return 0;
  if ((e = pend_src_get(s, txn, src, &n))) return e;
  n = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
  memcpy(kb + 2, src, STORE_SRC_LEN);
  MDB_val k = { sizeof kb, kb }, d = { 8, vb };
  if (!n) {
    rc = mdb_del(txn, s->dbi[DB_META], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : store__err(rc);
  }
  put_be64(vb, n);
  return store__err(mdb_put(txn, s->dbi[DB_META], &k, &d, 0));
}

static int pend_count_drop(store *s, MDB_txn *txn, store_counts *c) {
  uint64_t n;
  int rc;
  if (c) c->dropped++;
  if ((rc = store__meta_u64(txn, s, "dropped", &n))) return rc;
  return store__meta_put_u64(txn, s, "dropped", n + 1);
}

/* Deletes the row under the cursor, and counts it off its source. */
static int pend_del(store *s, MDB_txn *txn, MDB_cursor *cur, const uint8_t *v, size_t vlen) {
  uint8_t src[STORE_SRC_LEN];
  bool has = vlen >= PEND_HDR;
  if (has) memcpy(src, v + 12, STORE_SRC_LEN); /* before the row goes */
  int rc = mdb_cursor_del(cur, 0);
  if (rc) return store__err(rc);
  return has ? pend_src_add(s, txn, src, -1) : 0;
}

typedef struct src_count { uint8_t src[STORE_SRC_LEN]; uint64_t n; bool seen; } src_count;

int ingest__pend_recount(store *s, MDB_txn *txn, bool fix, size_t *wrong) {
  static const uint8_t prefix[2] = { 'p', 's' };
  src_count *v = NULL;
  size_t nv = 0, cap = 0;
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;
  *wrong = 0;
  /* What the rows say (sources are a node's peers: few, a linear look). */
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_PEND], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *src = (const uint8_t *)d.mv_data + 12;
    size_t i = 0;
    if (d.mv_size < PEND_HDR || pend_is_local(src)) continue;
    while (i < nv && memcmp(v[i].src, src, STORE_SRC_LEN)) i++;
    if (i == nv) {
      if (nv == cap) {
        src_count *nw = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
        if (!nw) { e = STOA_ENOMEM; break; }
        v = nw;
      }
      memset(&v[nv], 0, sizeof v[nv]);
      memcpy(v[nv++].src, src, STORE_SRC_LEN);
    }
    v[i].n++;
  }
  mdb_cursor_close(cur);
  if (e || (rc && rc != MDB_NOTFOUND)) { free(v); return e ? e : store__err(rc); }
  /* Against the counters; with fix, the counters go and come back. */
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_META], &cur))) { free(v); return store__err(rc); }
  k = (MDB_val){ sizeof prefix, (void *)prefix };
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size < 2 || memcmp(k.mv_data, prefix, 2)) break;
    size_t i = 0;
    if (k.mv_size == 2 + STORE_SRC_LEN)
      while (i < nv && memcmp(v[i].src, (const uint8_t *)k.mv_data + 2, STORE_SRC_LEN)) i++;
    if (k.mv_size != 2 + STORE_SRC_LEN || i == nv || d.mv_size != 8 || get_be64(d.mv_data) != v[i].n) (*wrong)++;
    if (k.mv_size == 2 + STORE_SRC_LEN && i < nv) v[i].seen = true;
    if (fix && (rc = mdb_cursor_del(cur, 0))) break;
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND) e = store__err(rc);
  for (size_t i = 0; i < nv && !e; i++) {
    if (!v[i].seen) (*wrong)++;
    if (!fix) continue;
    uint8_t kb[2 + STORE_SRC_LEN] = { 'p', 's' }, vb[8];
    memcpy(kb + 2, v[i].src, STORE_SRC_LEN);
    put_be64(vb, v[i].n);
    MDB_val pk = { sizeof kb, kb }, pv = { 8, vb };
    e = store__err(mdb_put(txn, s->dbi[DB_META], &pk, &pv, 0));
  }
  free(v);
  return e;
}

static int pend_put(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                    int why, uint64_t now, const uint8_t *src, store_counts *c, bool *dropped) {
  MDB_stat st;
  uint8_t *val;
  uint64_t mine = 0;
  int rc;
  *dropped = false;
  if (!src) src = pend_local;
  size_t share = s->o.pending_per_source ? s->o.pending_per_source : s->o.pending_max / 4;
  if ((rc = mdb_stat(txn, s->dbi[DB_PEND], &st))) return store__err(rc);
  if (!pend_is_local(src) && (rc = pend_src_get(s, txn, src, &mine))) return rc;
  if (st.ms_entries >= s->o.pending_max || (!pend_is_local(src) && mine >= (share ? share : 1))) {
    *dropped = true;
    return pend_count_drop(s, txn, c);
  }
  MDB_val k = { HASH_LEN, (void *)r->hash }, d = { PEND_HDR + len, NULL };
  if ((rc = mdb_put(txn, s->dbi[DB_PEND], &k, &d, MDB_RESERVE))) return store__err(rc);
  s->tx_pend_any = true;
  val = d.mv_data;
  val[0] = (uint8_t)((uint32_t)-why >> 24);
  val[1] = (uint8_t)((uint32_t)-why >> 16);
  val[2] = (uint8_t)((uint32_t)-why >> 8);
  val[3] = (uint8_t)(uint32_t)-why;
  put_be64(val + 4, now);
  memcpy(val + 12, src, STORE_SRC_LEN);
  memcpy(val + PEND_HDR, buf, len);
  return pend_src_add(s, txn, src, +1);
}

/* Releases pending records that have become valid or held void; loops
 * while releasing trust records makes more valid.  Drops what has waited
 * too long. */
static int pend_recheck(store *s, MDB_txn *txn, uint64_t now, store_counts *c) {
  /* Each round runs when the one before released records that changed the
   * trust state; a chain of admissions settles in a few rounds.  Trust
   * records are released first, until they settle, and only then the rest:
   * a record must be judged against every trust record this recheck lets
   * in, not only those that sort before it in the pending area. */
  bool trust_phase = true;
  for (int round = 0; round < 64; round++) {
    MDB_cursor *cur;
    MDB_val k, d;
    int rc, e = 0;
    size_t released = 0;
    bool dirty = s->trust_dirty;
    s->trust_dirty = false;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_PEND], &cur))) return store__err(rc);
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
      rec r;
      const uint8_t *v = d.mv_data;
      if (d.mv_size < PEND_HDR || rec_decode(v + PEND_HDR, d.mv_size - PEND_HDR, &r)) {
        if ((e = pend_del(s, txn, cur, v, d.mv_size))) break;
        continue;
      }
      if (trust_phase && !rec_kind_is_trust(r.h.kind)) continue;
      int verdict;
      if ((e = judge(s, txn, &r, now, &verdict))) break;
      if (verdict >= 0) {
        /* Copy out: the cursor's page may change under the put. */
        uint8_t *copy = malloc(d.mv_size - PEND_HDR);
        size_t len = d.mv_size - PEND_HDR;
        if (!copy) { e = STOA_ENOMEM; break; }
        memcpy(copy, v + PEND_HDR, len);
        if ((e = pend_del(s, txn, cur, v, d.mv_size))) { free(copy); break; }
        rec r2;
        if (rec_decode(copy, len, &r2) == 0)
          e = ingest__accept(s, txn, &r2, copy, len, IDX_ALL, NULL, verdict == JUDGE_VALID, c);
        free(copy);
        if (e) break;
        released++;
        if (c) c->released++;
      } else if (get_be64(v + 4) + PENDING_MAX_AGE_MS < now) {
        if ((e = pend_del(s, txn, cur, v, d.mv_size)) || (e = pend_count_drop(s, txn, c))) break;
      }
    }
    mdb_cursor_close(cur);
    bool more = s->trust_dirty;
    s->trust_dirty = s->trust_dirty || dirty;
    if (e) return e;
    if (rc && rc != MDB_NOTFOUND) return store__err(rc);
    if (released && more) { trust_phase = true; continue; }
    if (trust_phase) { trust_phase = false; continue; }
    return 0;
  }
  return 0;
}

/* ---- the batch's rows of DB_REC -------------------------------------------------- */

/*
 * DB_REC is keyed by record hashes, so a batch's searches in it land on cold
 * pages in random order, ~20 cache misses each.  A batch instead looks its
 * hashes up in hash order with one cursor (neighbouring keys share their
 * path down the tree), keeps the rows of the records it accepts here (hash
 * -> sequence number), and writes them in hash order at its end.
 */
typedef struct claim {
  uint8_t hash[HASH_LEN];
  uint64_t seq;
} claim;

struct rec_claims {
  claim *v;                   /* in the order they were made */
  size_t n, cap;
  uint32_t *tab;              /* open addressing: index into v + 1 */
  size_t tcap;
  MDB_txn *txn;               /* the write transaction they belong to */
};

static size_t claim_slot(const struct rec_claims *c, const uint8_t hash[HASH_LEN]) {
  uint64_t h;
  memcpy(&h, hash, 8); /* a hash: random already */
  size_t mask = c->tcap - 1, i = (size_t)h & mask;
  while (c->tab[i] && memcmp(c->v[c->tab[i] - 1].hash, hash, HASH_LEN)) i = (i + 1) & mask;
  return i;
}

static int claims_begin(store *s, MDB_txn *txn) {
  struct rec_claims *c = s->claims;
  if (!c && !(c = s->claims = calloc(1, sizeof *c))) return STOA_ENOMEM;
  if (c->n) memset(c->tab, 0, c->tcap * sizeof *c->tab);
  c->n = 0;
  c->txn = txn;
  return 0;
}

void ingest__claims_reset(store *s) {
  struct rec_claims *c = s->claims;
  if (!c) return;
  if (c->n) memset(c->tab, 0, c->tcap * sizeof *c->tab);
  c->n = 0;
  c->txn = NULL;
}

void ingest__claims_free(store *s) {
  if (!s->claims) return;
  free(s->claims->v);
  free(s->claims->tab);
  free(s->claims);
  s->claims = NULL;
}

uint64_t ingest__claimed(store *s, MDB_txn *txn, const uint8_t hash[HASH_LEN]) {
  struct rec_claims *c = s->claims;
  if (!c || !txn || c->txn != txn || !c->n) return 0;
  uint32_t x = c->tab[claim_slot(c, hash)];
  return x ? c->v[x - 1].seq : 0;
}

static int claims_add(store *s, const uint8_t hash[HASH_LEN], uint64_t seq) {
  struct rec_claims *c = s->claims;
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 4096;
    claim *v = realloc(c->v, nc * sizeof *v);
    if (!v) return STOA_ENOMEM;
    c->v = v;
    c->cap = nc;
  }
  if ((c->n + 1) * 2 > c->tcap) {
    size_t nc = c->tcap ? c->tcap * 2 : 8192;
    uint32_t *t = calloc(nc, sizeof *t);
    if (!t) return STOA_ENOMEM;
    free(c->tab);
    c->tab = t;
    c->tcap = nc;
    for (size_t i = 0; i < c->n; i++) c->tab[claim_slot(c, c->v[i].hash)] = (uint32_t)i + 1;
  }
  memcpy(c->v[c->n].hash, hash, HASH_LEN);
  c->v[c->n].seq = seq;
  c->tab[claim_slot(c, hash)] = (uint32_t)++c->n;
  return 0;
}

/* Takes back the last claim. */
static void claims_pop(store *s) {
  struct rec_claims *c = s->claims;
  size_t i = claim_slot(c, c->v[c->n - 1].hash), mask = c->tcap - 1;
  c->tab[i] = 0;
  c->n--;
  /* Linear probing: the run after the hole is put back in place. */
  for (size_t j = (i + 1) & mask; c->tab[j]; j = (j + 1) & mask) {
    uint32_t x = c->tab[j];
    c->tab[j] = 0;
    c->tab[claim_slot(c, c->v[x - 1].hash)] = x;
  }
}

static int cmp_claim(const void *v, uint64_t a, uint64_t b) {
  return memcmp(((const claim *)v)[a].hash, ((const claim *)v)[b].hash, HASH_LEN);
}

/* Writes the batch's rows in hash order and forgets them. */
static int claims_flush(store *s, MDB_txn *txn) {
  struct rec_claims *c = s->claims;
  MDB_cursor *cur;
  sort_ent *v;
  int e = 0;
  if (!c->n) return 0;
  if (!(v = malloc(c->n * sizeof *v))) return STOA_ENOMEM;
  for (size_t i = 0; i < c->n; i++) v[i] = (sort_ent){ sort_key(c->v[i].hash, HASH_LEN), i };
  if ((e = store__sort(v, c->n, cmp_claim, c->v)) ||
      (e = store__err(mdb_cursor_open(txn, s->dbi[DB_REC], &cur)))) {
    free(v);
    return e;
  }
  for (size_t i = 0; i < c->n && !e; i++) {
    uint8_t sk[8];
    const claim *x = &c->v[v[i].idx];
    put_be64(sk, x->seq);
    MDB_val k = { HASH_LEN, (void *)x->hash }, d = { 8, sk };
    e = store__err(mdb_cursor_put(cur, &k, &d, MDB_NOOVERWRITE));
  }
  mdb_cursor_close(cur);
  free(v);
  memset(c->tab, 0, c->tcap * sizeof *c->tab);
  c->n = 0;
  c->txn = NULL;
  return e == STOA_EEXISTS ? STOA_ECORRUPT : e;
}

/* ---- batches ------------------------------------------------------------------ */

typedef struct ingest_ctx {
  store_item *items;
  size_t n;
  uint64_t now;
  store_counts c;
  size_t *order;              /* processing order: trust records first */
  size_t *byhash;             /* items by hash */
  bool *held;                 /* DB_REC had it before the batch */
  uint8_t *fate;              /* what this batch did with it (enum fate) */
  uint8_t (*dks)[EKEY_LEN];   /* entry keys to read ahead */
} ingest_ctx;

enum fate { FATE_NONE, FATE_PENDED, FATE_HELD };

static int cmp_item_hash(const void *items, uint64_t a, uint64_t b) {
  const store_item *it = items;
  return memcmp(it[a].r.hash, it[b].r.hash, HASH_LEN);
}

/* Trust records in replay order (there are few). */
static int cmp_trust(const void *a, const void *b, void *items) {
  const store_item *x = (const store_item *)items + *(const size_t *)a,
                   *y = (const store_item *)items + *(const size_t *)b;
  return rec_cmp_version(x->r.h.ts, x->r.hash, y->r.h.ts, y->r.hash);
}

static bool is_trust(const store_item *it) { return it->sig_ok && rec_kind_is_trust(it->r.h.kind); }

/* The processing order (trust records first, in replay order, so that the
 * rest validate at once; then the others as given) and the hash order. */
static int ingest_orders(ingest_ctx *ctx) {
  size_t nt = 0, k;
  sort_ent *v = malloc(ctx->n * sizeof *v);
  int e;
  if (!v) return STOA_ENOMEM;
  for (size_t i = 0; i < ctx->n; i++)
    if (is_trust(&ctx->items[i])) ctx->order[nt++] = i;
  qsort_r(ctx->order, nt, sizeof *ctx->order, cmp_trust, ctx->items);
  k = nt;
  for (size_t i = 0; i < ctx->n; i++)
    if (!is_trust(&ctx->items[i])) ctx->order[k++] = i;
  for (size_t i = 0; i < ctx->n; i++)
    v[i] = (sort_ent){ sort_key(ctx->items[i].r.hash, HASH_LEN), i };
  if (!(e = store__sort(v, ctx->n, cmp_item_hash, ctx->items)))
    for (size_t i = 0; i < ctx->n; i++) ctx->byhash[i] = v[i].idx;
  free(v);
  return e;
}

/* One record of a batch, in processing order. */
static int ingest_one(store *s, MDB_txn *txn, ingest_ctx *ctx, store_item *it, bool held,
                      uint8_t *fate) {
  MDB_val k = { HASH_LEN, it->r.hash }, d;
  int e, verdict = JUDGE_VALID;
  *fate = FATE_NONE;
  it->err = 0;
  if (!it->prepared) it->why.field[0] = it->why.msg[0] = 0;
  if (!it->sig_ok) {
    it->status = ST_REJECTED;
    it->err = STOA_EBADSIG;
    ctx->c.rejected++;
    return 0;
  }
  if (held || ingest__claimed(s, txn, it->r.hash) ||
      (s->tx_pend_any && mdb_get(txn, s->dbi[DB_PEND], &k, &d) == 0)) {
    it->status = ST_KNOWN;
    ctx->c.known++;
    return 0;
  }
  e = it->prepared ? it->prep_err
      : it->r.body ? schema_check(it->r.h.kind, it->r.body, it->r.body_len, &it->why) : 0;
  if (!e) {
    int je = judge(s, txn, &it->r, ctx->now, &verdict);
    if (je) return je;
  }
  if (!e && verdict < 0) {
    bool dropped;
    int pe = pend_put(s, txn, &it->r, it->buf, it->len, verdict, ctx->now, it->src, &ctx->c, &dropped);
    if (pe) return pe;
    it->status = dropped ? ST_REJECTED : ST_PENDING;
    it->err = dropped ? STOA_EPENDING : verdict;
    if (dropped) ctx->c.rejected++;
    else ctx->c.pending++;
    if (!dropped) *fate = FATE_PENDED;
    return 0;
  }
  if (!e) {
    doc_toks t = { it->toks, it->toks_len };
    if ((e = claims_add(s, it->r.hash, s->tx_seq + 1))) return e;
    e = ingest__accept(s, txn, &it->r, it->buf, it->len, IDX_CLAIMED, it->prepared ? &t : NULL,
                       verdict == JUDGE_VALID, &ctx->c);
    if (!e) {
      /* A void record is held (it is part of the record set) but in effect
       * nowhere: to the caller it is pending, waiting for trust. */
      *fate = FATE_HELD;
      it->status = verdict == JUDGE_VALID ? ST_NEW : ST_PENDING;
      it->err = verdict == JUDGE_VALID ? 0 : STOA_EUNTRUSTED;
      if (verdict == JUDGE_VALID) ctx->c.fresh++;
      else ctx->c.pending++;
      return 0;
    }
    claims_pop(s);
    if (e != STOA_ESCHEMA) return e; /* ESCHEMA: a trust/erase body the schema let through */
  }
  it->status = ST_REJECTED;
  it->err = e;
  ctx->c.rejected++;
  return 0;
}

/* Which of the batch's records DB_REC holds, looked up in hash order; and
 * the entry rows of the rest, read ahead in key order. */
static int ingest_lookup(store *s, MDB_txn *txn, ingest_ctx *ctx) {
  MDB_cursor *cur;
  size_t m = 0;
  int rc;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_REC], &cur))) return store__err(rc);
  for (size_t j = 0; j < ctx->n; j++) {
    store_item *it = &ctx->items[ctx->byhash[j]];
    MDB_val k = { HASH_LEN, it->r.hash }, d;
    ctx->held[ctx->byhash[j]] = false;
    if (!it->sig_ok) continue;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
    if (rc && rc != MDB_NOTFOUND) break;
    ctx->held[ctx->byhash[j]] = rc == 0;
    if (rc == 0) continue;
    memcpy(ctx->dks[m], it->r.h.id, ID_LEN);
    memcpy(ctx->dks[m++] + ID_LEN, it->r.h.owner, KEY_LEN);
    rc = 0;
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  return index__ent_preload(s, txn, ctx->dks, m);
}

/*
 * After a recheck or re-judging changed the trust state, the batch's items
 * say where they stand now: a record of the batch that the recheck took
 * from the pending area counts as the batch's, not as released; a held one
 * is new when valid and pending (held, void) when not.  O(batch) trust
 * checks, only when trust records arrived.
 */
static int ingest_restate(store *s, MDB_txn *txn, ingest_ctx *ctx) {
  ctx->c.fresh = ctx->c.pending = 0;
  for (size_t j = 0; j < ctx->n; j++) {
    store_item *it = &ctx->items[j];
    MDB_val k = { HASH_LEN, it->r.hash }, d;
    if (it->status == ST_PENDING && ctx->fate[j] == FATE_PENDED) {
      int rc = mdb_get(txn, s->dbi[DB_REC], &k, &d);
      if (rc && rc != MDB_NOTFOUND) return store__err(rc);
      if (rc == 0) {
        ctx->fate[j] = FATE_HELD;
        ctx->c.released--;
      }
    }
    if (ctx->fate[j] == FATE_HELD) {
      bool valid = trust_check(s->trust, &it->r.h) == 0;
      it->status = valid ? ST_NEW : ST_PENDING;
      it->err = valid ? 0 : STOA_EUNTRUSTED;
    }
    if (it->status == ST_NEW) ctx->c.fresh++;
    else if (it->status == ST_PENDING) ctx->c.pending++;
  }
  return 0;
}

static int ingest_body(store *s, MDB_txn *txn, ingest_ctx *ctx) {
  size_t nev;
  int e;
  memset(&ctx->c, 0, sizeof ctx->c);
  if ((e = ingest__jc_begin(s, txn)) || (e = claims_begin(s, txn)) ||
      (e = ingest_lookup(s, txn, ctx)))
    return e;
  for (size_t j = 0; j < ctx->n; j++)
    if ((e = ingest_one(s, txn, ctx, &ctx->items[ctx->order[j]], ctx->held[ctx->order[j]],
                        &ctx->fate[ctx->order[j]])))
      return e;
  if ((e = claims_flush(s, txn))) return e;
  size_t before = ctx->c.released;
  if (s->trust_dirty && (e = pend_recheck(s, txn, ctx->now, &ctx->c))) return e;
  if ((e = store__rejudge(s, txn, NULL))) return e;
  ingest__added(s, &nev);
  if ((nev || ctx->c.released > before) && (e = ingest_restate(s, txn, ctx))) return e;
  return ingest__mx_flush(s, txn);
}

static int ingest_fn(store *s, MDB_txn *txn, void *vctx) {
  int e = ingest_body(s, txn, vctx);
  ingest__jc_free(s);
  return e;
}

int store_ingest(store *s, store_item *items, size_t n, uint64_t now, store_counts *c) {
  ingest_ctx ctx = { items, n, now, { 0 }, NULL, NULL, NULL, NULL, NULL };
  int e = 0;
  if (!s->has_charter) return STOA_ESTATE;
  if (!n) return 0;
  ctx.order = malloc(n * sizeof *ctx.order);
  ctx.byhash = malloc(n * sizeof *ctx.byhash);
  ctx.held = malloc(n * sizeof *ctx.held);
  ctx.fate = malloc(n * sizeof *ctx.fate);
  ctx.dks = malloc(n * sizeof *ctx.dks);
  if (!ctx.order || !ctx.byhash || !ctx.held || !ctx.fate || !ctx.dks) { e = STOA_ENOMEM; goto out; }
  if (!(e = ingest_orders(&ctx))) e = store__write(s, ingest_fn, &ctx);
out:
  free(ctx.order);
  free(ctx.byhash);
  free(ctx.held);
  free(ctx.fate);
  free(ctx.dks);
  if (e) return e;
  if (c) {
    c->fresh += ctx.c.fresh;
    c->known += ctx.c.known;
    c->pending += ctx.c.pending;
    c->rejected += ctx.c.rejected;
    c->released += ctx.c.released;
    c->dropped += ctx.c.dropped;
    c->erased_bodies += ctx.c.erased_bodies;
  }
  return 0;
}

typedef struct recheck_ctx { uint64_t now; store_counts c; } recheck_ctx;

static int recheck_fn(store *s, MDB_txn *txn, void *vctx) {
  recheck_ctx *ctx = vctx;
  int e;
  memset(&ctx->c, 0, sizeof ctx->c);
  if (!(e = ingest__jc_begin(s, txn)) && !(e = pend_recheck(s, txn, ctx->now, &ctx->c)) &&
      !(e = store__rejudge(s, txn, NULL)))
    e = ingest__mx_flush(s, txn);
  ingest__jc_free(s);
  return e;
}

int store_pending_recheck(store *s, uint64_t now, store_counts *c) {
  recheck_ctx ctx = { now, { 0 } };
  if (!s->has_charter) return 0;
  int e = store__write(s, recheck_fn, &ctx);
  if (!e && c) {
    c->released += ctx.c.released;
    c->dropped += ctx.c.dropped;
    c->erased_bodies += ctx.c.erased_bodies;
  }
  return e;
}
