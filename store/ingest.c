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

/* ---- accepting ------------------------------------------------------------- */

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
 * a stored record is indexed whatever its body says. */
int ingest__accept(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                   int put, const doc_toks *t, store_counts *c) {
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
  if ((e = index__record(s, txn, r, buf, len, put, t, c))) return e;
  if (trust) return trust_put(s, txn, &ev);
  if (erase) return erase_apply(s, txn, r, &eb, c);
  return 0;
}

/* ---- pending area ----------------------------------------------------------- */

static int pend_put(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                    int why, uint64_t now, store_counts *c, bool *dropped) {
  MDB_stat st;
  uint8_t *val;
  int rc;
  *dropped = false;
  if ((rc = mdb_stat(txn, s->dbi[DB_PEND], &st))) return store__err(rc);
  if (st.ms_entries >= s->o.pending_max) {
    uint64_t n;
    *dropped = true;
    if (c) c->dropped++;
    if ((rc = store__meta_u64(txn, s, "dropped", &n))) return rc;
    return store__meta_put_u64(txn, s, "dropped", n + 1);
  }
  MDB_val k = { HASH_LEN, (void *)r->hash }, d = { 12 + len, NULL };
  if ((rc = mdb_put(txn, s->dbi[DB_PEND], &k, &d, MDB_RESERVE))) return store__err(rc);
  s->tx_pend_any = true;
  val = d.mv_data;
  val[0] = (uint8_t)((uint32_t)-why >> 24);
  val[1] = (uint8_t)((uint32_t)-why >> 16);
  val[2] = (uint8_t)((uint32_t)-why >> 8);
  val[3] = (uint8_t)(uint32_t)-why;
  put_be64(val + 4, now);
  memcpy(val + 12, buf, len);
  return 0;
}

/* Judges a decoded, signature-checked record that is not yet stored:
 * 0 = acceptable, or STOA_EFUTURE / STOA_EUNTRUSTED. */
static int judge(store *s, const rec *r, uint64_t now) {
  if (r->h.ts > now + REC_FUTURE_MS) return STOA_EFUTURE;
  return trust_check(s->trust, &r->h);
}

/* Releases pending records that have become valid; loops while releasing
 * trust records makes more valid.  Drops what has waited too long. */
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
      if (d.mv_size < 12 || rec_decode(v + 12, d.mv_size - 12, &r)) {
        if ((rc = mdb_cursor_del(cur, 0))) break;
        continue;
      }
      if (trust_phase && !rec_kind_is_trust(r.h.kind)) continue;
      if (judge(s, &r, now) == 0) {
        /* Copy out: the cursor's page may change under the put. */
        uint8_t *copy = malloc(d.mv_size - 12);
        size_t len = d.mv_size - 12;
        if (!copy) { e = STOA_ENOMEM; break; }
        memcpy(copy, v + 12, len);
        if ((rc = mdb_cursor_del(cur, 0))) { free(copy); break; }
        rec r2;
        if (rec_decode(copy, len, &r2) == 0)
          e = ingest__accept(s, txn, &r2, copy, len, IDX_ALL, NULL, c);
        free(copy);
        if (e) break;
        released++;
        if (c) c->released++;
      } else if (get_be64(v + 4) + PENDING_MAX_AGE_MS < now) {
        if ((rc = mdb_cursor_del(cur, 0))) break;
        uint64_t n;
        if ((e = store__meta_u64(txn, s, "dropped", &n)) ||
            (e = store__meta_put_u64(txn, s, "dropped", n + 1)))
          break;
        if (c) c->dropped++;
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
  uint8_t (*dks)[EKEY_LEN];   /* entry keys to read ahead */
} ingest_ctx;

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
static int ingest_one(store *s, MDB_txn *txn, ingest_ctx *ctx, store_item *it, bool held) {
  MDB_val k = { HASH_LEN, it->r.hash }, d;
  int e;
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
  if (!e && (e = judge(s, &it->r, ctx->now))) {
    bool dropped;
    int pe = pend_put(s, txn, &it->r, it->buf, it->len, e, ctx->now, &ctx->c, &dropped);
    if (pe) return pe;
    it->status = dropped ? ST_REJECTED : ST_PENDING;
    it->err = dropped ? STOA_EPENDING : e;
    if (dropped) ctx->c.rejected++;
    else ctx->c.pending++;
    return 0;
  }
  if (!e) {
    doc_toks t = { it->toks, it->toks_len };
    if ((e = claims_add(s, it->r.hash, s->tx_seq + 1))) return e;
    e = ingest__accept(s, txn, &it->r, it->buf, it->len, IDX_CLAIMED, it->prepared ? &t : NULL,
                       &ctx->c);
    if (!e) {
      it->status = ST_NEW;
      ctx->c.fresh++;
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

static int ingest_fn(store *s, MDB_txn *txn, void *vctx) {
  ingest_ctx *ctx = vctx;
  int e;
  memset(&ctx->c, 0, sizeof ctx->c);
  if ((e = claims_begin(s, txn)) || (e = ingest_lookup(s, txn, ctx))) return e;
  for (size_t j = 0; j < ctx->n; j++)
    if ((e = ingest_one(s, txn, ctx, &ctx->items[ctx->order[j]], ctx->held[ctx->order[j]])))
      return e;
  if ((e = claims_flush(s, txn))) return e;
  if (s->trust_dirty) {
    size_t before = ctx->c.released;
    if ((e = pend_recheck(s, txn, ctx->now, &ctx->c))) return e;
    /* Records of this batch that were put pending and are now released
     * count as new rather than pending. */
    if (ctx->c.released > before) {
      for (size_t j = 0; j < ctx->n; j++) {
        store_item *it = &ctx->items[j];
        MDB_val k = { HASH_LEN, it->r.hash }, d;
        if (it->status == ST_PENDING && mdb_get(txn, s->dbi[DB_REC], &k, &d) == 0) {
          it->status = ST_NEW;
          it->err = 0;
          ctx->c.pending--;
          ctx->c.fresh++;
          ctx->c.released--;
        }
      }
    }
  }
  return 0;
}

int store_ingest(store *s, store_item *items, size_t n, uint64_t now, store_counts *c) {
  ingest_ctx ctx = { items, n, now, { 0 }, NULL, NULL, NULL, NULL };
  int e = 0;
  if (!s->has_charter) return STOA_ESTATE;
  if (!n) return 0;
  ctx.order = malloc(n * sizeof *ctx.order);
  ctx.byhash = malloc(n * sizeof *ctx.byhash);
  ctx.held = malloc(n * sizeof *ctx.held);
  ctx.dks = malloc(n * sizeof *ctx.dks);
  if (!ctx.order || !ctx.byhash || !ctx.held || !ctx.dks) { e = STOA_ENOMEM; goto out; }
  if (!(e = ingest_orders(&ctx))) e = store__write(s, ingest_fn, &ctx);
out:
  free(ctx.order);
  free(ctx.byhash);
  free(ctx.held);
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
  memset(&ctx->c, 0, sizeof ctx->c);
  return pend_recheck(s, txn, ctx->now, &ctx->c);
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
