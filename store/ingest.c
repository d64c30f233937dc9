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

static int erase_apply(store *s, MDB_txn *txn, const rec *r, store_counts *c) {
  erase_body eb;
  uint8_t dk[EKEY_LEN + HASH_LEN], val[KEY_LEN + 16], ub[8];
  uint64_t until, prev = 0;
  MDB_val k, d;
  int e;
  if ((e = erase_parse(r, &eb))) return e;
  ekey_to_dbkey(eb.target, dk);
  memcpy(dk + EKEY_LEN, r->hash, HASH_LEN);
  memcpy(val, r->h.owner, KEY_LEN);
  put_be64(val + KEY_LEN, eb.until);
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
  return index__erase(s, txn, eb.target, until, c);
}

/* ---- accepting ------------------------------------------------------------- */

int ingest__trust_add(store *s, MDB_txn *txn, const rec *r) {
  trust_event ev;
  uint8_t key[8 + HASH_LEN], val[2 + 2 * KEY_LEN];
  int e;
  if ((e = trust_event_from_record(r, &ev))) return e;
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

int ingest__accept(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                   bool put_rec, store_counts *c) {
  int e;
  if ((e = index__record(s, txn, r, buf, len, put_rec, c))) return e;
  if (!r->body) return 0;
  if (r->h.kind == REC_ENDORSE || r->h.kind == REC_REVOKE) return put_rec ? ingest__trust_add(s, txn, r) : 0;
  if (r->h.kind == REC_ERASE) return erase_apply(s, txn, r, c);
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
        if (rec_decode(copy, len, &r2) == 0) e = ingest__accept(s, txn, &r2, copy, len, true, c);
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

/* ---- batches ------------------------------------------------------------------ */

typedef struct ingest_ctx {
  store_item *items;
  size_t n;
  uint64_t now;
  store_counts c;
  size_t *order;
} ingest_ctx;

static store_item *sort_items;
static int cmp_order(const void *a, const void *b) {
  const store_item *x = &sort_items[*(const size_t *)a], *y = &sort_items[*(const size_t *)b];
  bool tx = x->sig_ok && rec_kind_is_trust(x->r.h.kind), ty = y->sig_ok && rec_kind_is_trust(y->r.h.kind);
  if (tx != ty) return tx ? -1 : 1;
  if (!tx) return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
  return rec_cmp_version(x->r.h.ts, x->r.hash, y->r.h.ts, y->r.hash);
}

static int ingest_fn(store *s, MDB_txn *txn, void *vctx) {
  ingest_ctx *ctx = vctx;
  int e;
  memset(&ctx->c, 0, sizeof ctx->c);
  for (size_t j = 0; j < ctx->n; j++) {
    store_item *it = &ctx->items[ctx->order[j]];
    MDB_val k = { HASH_LEN, it->r.hash }, d;
    it->err = 0;
    it->why.field[0] = it->why.msg[0] = 0;
    if (!it->sig_ok) { it->status = ST_REJECTED; it->err = STOA_EBADSIG; ctx->c.rejected++; continue; }
    if (mdb_get(txn, s->dbi[DB_REC], &k, &d) == 0 || mdb_get(txn, s->dbi[DB_PEND], &k, &d) == 0) {
      it->status = ST_KNOWN;
      ctx->c.known++;
      continue;
    }
    if (it->r.body && (e = schema_check(it->r.h.kind, it->r.body, it->r.body_len, &it->why))) {
      it->status = ST_REJECTED;
      it->err = e;
      ctx->c.rejected++;
      continue;
    }
    if ((e = judge(s, &it->r, ctx->now))) {
      bool dropped;
      int pe = pend_put(s, txn, &it->r, it->buf, it->len, e, ctx->now, &ctx->c, &dropped);
      if (pe) return pe;
      it->status = dropped ? ST_REJECTED : ST_PENDING;
      it->err = dropped ? STOA_EPENDING : e;
      if (dropped) ctx->c.rejected++;
      else ctx->c.pending++;
      continue;
    }
    if ((e = ingest__accept(s, txn, &it->r, it->buf, it->len, true, &ctx->c))) {
      if (e == STOA_ESCHEMA) { /* a trust/erase body the schema let through */
        it->status = ST_REJECTED;
        it->err = e;
        ctx->c.rejected++;
        continue;
      }
      return e;
    }
    it->status = ST_NEW;
    ctx->c.fresh++;
  }
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
  ingest_ctx ctx = { items, n, now, { 0 }, NULL };
  int e;
  if (!s->has_charter) return STOA_ESTATE;
  if (!n) return 0;
  ctx.order = malloc(n * sizeof *ctx.order);
  if (!ctx.order) return STOA_ENOMEM;
  for (size_t i = 0; i < n; i++) ctx.order[i] = i;
  /* Trust records first, in replay order, so the rest validate at once. */
  sort_items = items;
  qsort(ctx.order, n, sizeof *ctx.order, cmp_order);
  sort_items = NULL;
  e = store__write(s, ingest_fn, &ctx);
  free(ctx.order);
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
