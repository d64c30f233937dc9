/*
 * maint.c - rebuilding and checking the indexes.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

static const int derived[] = { DB_ENT, DB_HIST, DB_DOC, DB_FTS, DB_VOC, DB_TRUST, DB_ERASEV, DB_ERASED };

typedef struct rx_ctx { store_counts c; } rx_ctx;

/* Runs cb over every record in insertion order inside txn.  A record that
 * no longer decodes is reported through bad (verify) or skipped (reindex),
 * never a reason to stop. */
static int each_record(store *s, MDB_txn *txn, int (*cb)(store *, MDB_txn *, const rec *, const uint8_t *,
                                                          size_t, void *),
                       void (*bad)(void *, const uint8_t *), void *ctx) {
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_SEQ], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    MDB_val rk = { HASH_LEN, d.mv_data }, rv;
    rec r;
    if (d.mv_size != HASH_LEN) { e = STOA_ECORRUPT; break; }
    if ((rc = mdb_get(txn, s->dbi[DB_REC], &rk, &rv))) { e = store__err(rc); break; }
    if (rec_decode(rv.mv_data, rv.mv_size, &r)) {
      if (bad) bad(ctx, d.mv_data);
      continue;
    }
    if ((e = cb(s, txn, &r, rv.mv_data, rv.mv_size, ctx))) break;
  }
  mdb_cursor_close(cur);
  if (!e && rc != MDB_NOTFOUND) e = store__err(rc);
  return e;
}

static int rx_trust(store *s, MDB_txn *txn, const rec *r, const uint8_t *b, size_t l, void *ctx) {
  (void)b; (void)l; (void)ctx;
  if ((r->h.kind != REC_ENDORSE && r->h.kind != REC_REVOKE) || !r->body) return 0;
  return ingest__trust_add(s, txn, r);
}

static int rx_index(store *s, MDB_txn *txn, const rec *r, const uint8_t *b, size_t l, void *ctx) {
  rx_ctx *x = ctx;
  /* rec_decode points into the map; index__record may rewrite DB_REC (an
   * erasure) so work from a copy. */
  uint8_t *copy = malloc(l);
  rec r2;
  int e;
  (void)r;
  if (!copy) return STOA_ENOMEM;
  memcpy(copy, b, l);
  if ((e = rec_decode(copy, l, &r2)) == 0) e = ingest__accept(s, txn, &r2, copy, l, false, &x->c);
  free(copy);
  if (!e) x->c.fresh++;
  return e;
}

static int reindex_fn(store *s, MDB_txn *txn, void *vctx) {
  rx_ctx *x = vctx;
  int e;
  memset(&x->c, 0, sizeof x->c);
  for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
    if ((e = store__err(mdb_drop(txn, s->dbi[derived[i]], 0)))) return e;
  if ((e = store__meta_put_u64(txn, s, "docid", 0))) return e;
  trust_reset(s->trust);
  s->trust_dirty = true;
  if ((e = each_record(s, txn, rx_trust, NULL, x))) return e;
  return each_record(s, txn, rx_index, NULL, x);
}

int store_reindex(store *s, store_counts *c) {
  rx_ctx x;
  if (!s->has_charter) return STOA_ESTATE;
  int e = store__write(s, reindex_fn, &x);
  if (!e && c) c->fresh += x.c.fresh;
  return e;
}

/* ---- verify ---------------------------------------------------------------------- */

typedef struct vf_ctx { const store_problem_cb *cb; int problems; } vf_ctx;

static void report(vf_ctx *v, const char *what, const uint8_t *hash) {
  v->problems++;
  if (v->cb && v->cb->problem) v->cb->problem(v->cb->ctx, what, hash);
}

static void vf_bad(void *ctx, const uint8_t *hash) { report(ctx, "record no longer decodes (damaged)", hash); }

static int vf_record(store *s, MDB_txn *txn, const rec *r, const uint8_t *b, size_t l, void *ctx) {
  vf_ctx *v = ctx;
  uint8_t hk[EKEY_LEN + 8 + HASH_LEN];
  schema_error why;
  (void)b; (void)l;
  if (rec_verify(r, s->ch.id)) report(v, "signature does not verify", r->hash);
  if (r->body && schema_check(r->h.kind, r->body, r->body_len, &why)) report(v, "body breaks its schema", r->hash);
  if (trust_check(s->trust, &r->h)) report(v, "signer is not trusted for the owner at the record's time", r->hash);
  memcpy(hk, r->h.id, ID_LEN);
  memcpy(hk + ID_LEN, r->h.owner, KEY_LEN);
  put_be64(hk + EKEY_LEN, r->h.ts);
  memcpy(hk + EKEY_LEN + 8, r->hash, HASH_LEN);
  MDB_val k = { sizeof hk, hk }, d;
  if (mdb_get(txn, s->dbi[DB_HIST], &k, &d)) report(v, "missing from the history index", r->hash);
  k.mv_size = EKEY_LEN;
  if (mdb_get(txn, s->dbi[DB_ENT], &k, &d)) report(v, "its entry is missing from the entry index", r->hash);
  return 0;
}

/* Every entry: its current version is the newest of its history, and its
 * document row holds exactly the tokens its body gives. */
static int vf_entries(store *s, MDB_txn *txn, vf_ctx *v) {
  static char toks[DOC_TOKENS_MAX];
  MDB_cursor *cur;
  MDB_val k, d;
  int rc;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENT], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    ent_val ev;
    if (k.mv_size != EKEY_LEN || ent_val_unpack(&d, &ev)) { report(v, "malformed entry index row", NULL); continue; }
    uint8_t hk[EKEY_LEN + 8 + HASH_LEN];
    memcpy(hk, k.mv_data, EKEY_LEN);
    memset(hk + EKEY_LEN, 0xff, 8 + HASH_LEN);
    MDB_cursor *hc;
    MDB_val hkv = { sizeof hk, hk }, hd;
    if (mdb_cursor_open(txn, s->dbi[DB_HIST], &hc)) continue;
    int hr = mdb_cursor_get(hc, &hkv, &hd, MDB_SET_RANGE);
    hr = hr == 0 ? mdb_cursor_get(hc, &hkv, &hd, MDB_PREV) : mdb_cursor_get(hc, &hkv, &hd, MDB_LAST);
    if (hr || hkv.mv_size != sizeof hk || memcmp(hkv.mv_data, k.mv_data, EKEY_LEN) ||
        memcmp((uint8_t *)hkv.mv_data + EKEY_LEN + 8, ev.hash, HASH_LEN))
      report(v, "entry's current version is not the newest of its history", ev.hash);
    mdb_cursor_close(hc);
    MDB_val rk = { HASH_LEN, ev.hash }, rv;
    rec r;
    if (mdb_get(txn, s->dbi[DB_REC], &rk, &rv) || rec_decode(rv.mv_data, rv.mv_size, &r)) {
      report(v, "entry's current record is missing", ev.hash);
      continue;
    }
    if (!ev.docid) {
      if (r.body && !ev.erased) report(v, "entry is missing from the search index", ev.hash);
      continue;
    }
    uint8_t kb[8];
    put_be64(kb, ev.docid);
    MDB_val dk = { 8, kb }, dv;
    size_t tl;
    if (mdb_get(txn, s->dbi[DB_DOC], &dk, &dv) || dv.mv_size < EKEY_LEN + 1 ||
        memcmp(dv.mv_data, k.mv_data, EKEY_LEN)) {
      report(v, "entry's search document is missing", ev.hash);
      continue;
    }
    if (!r.body || index__doc_tokens(r.h.kind, r.body, r.body_len, toks, sizeof toks, &tl) ||
        tl != dv.mv_size - EKEY_LEN - 1 || memcmp(toks, (uint8_t *)dv.mv_data + EKEY_LEN + 1, tl))
      report(v, "entry's search document does not match its body", ev.hash);
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

int store_verify(store *s, const store_problem_cb *cb) {
  MDB_txn *txn;
  MDB_stat a, b;
  vf_ctx v = { cb, 0 };
  int rc, e;
  if (!s->has_charter) return STOA_ESTATE;
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) return store__err(rc);
  if ((e = store__trust_sync(s, txn))) goto out;
  if (!mdb_stat(txn, s->dbi[DB_REC], &a) && !mdb_stat(txn, s->dbi[DB_SEQ], &b) && a.ms_entries != b.ms_entries)
    report(&v, "records and insertion sequence differ in number", NULL);
  if ((e = each_record(s, txn, vf_record, vf_bad, &v))) goto out;
  e = vf_entries(s, txn, &v);
out:
  mdb_txn_abort(txn);
  return e ? e : v.problems;
}
