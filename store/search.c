/*
 * search.c - full-text and facet queries.
 *
 * Plan: every filter (kind, country, theme, reference) is a facet token and
 * every whole query word a token; the one with the fewest postings (DB_VOC)
 * drives, newest document first, and each candidate is checked against the
 * rest in its DB_DOC row (its sorted, folded tokens).  A query of prefixes
 * only is driven by the union of the prefix's most frequent expansions.
 * The cost is proportional to the candidates the driver yields before
 * `limit` hits are found, not to the size of the store.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "store/fold.h"

#define EXPAND_MAX 32
#define EXPAND_SCAN 4096

typedef struct piter {
  MDB_cursor *cur;
  uint8_t key[FTS_KEY_MAX];
  size_t tlen;                /* token length, without the NUL */
  uint64_t ids[SEG_TARGET];
  int n, i;                   /* ids[0..n), next to yield is ids[i] (going down) */
  bool done;
  uint64_t head;              /* for unions */
} piter;

/* Positions the cursor on the token's last (newest) segment. */
static int piter_open(piter *it, MDB_txn *txn, MDB_dbi dbi, const char *tok, size_t tlen) {
  MDB_val k, d;
  int rc;
  memset(it, 0, sizeof *it);
  it->tlen = tlen;
  memcpy(it->key, tok, tlen);
  it->key[tlen] = 0;
  memset(it->key + tlen + 1, 0xff, 8);
  if ((rc = mdb_cursor_open(txn, dbi, &it->cur))) return store__err(rc);
  k.mv_size = tlen + 9;
  k.mv_data = it->key;
  rc = mdb_cursor_get(it->cur, &k, &d, MDB_SET_RANGE);
  rc = rc == 0 ? mdb_cursor_get(it->cur, &k, &d, MDB_PREV) : mdb_cursor_get(it->cur, &k, &d, MDB_LAST);
  it->i = -1;
  if (rc || k.mv_size != tlen + 9 || memcmp(k.mv_data, it->key, tlen + 1)) { it->done = true; return 0; }
  it->n = index__seg_decode(get_be64((uint8_t *)k.mv_data + tlen + 1), d.mv_data, d.mv_size,
                            it->ids, SEG_TARGET);
  if (it->n < 0) return STOA_ECORRUPT;
  it->i = it->n - 1;
  return 0;
}

static void piter_close(piter *it) {
  if (it->cur) mdb_cursor_close(it->cur);
  it->cur = NULL;
}

/* Next docid going down; 0 when done. */
static int piter_next(piter *it, uint64_t *out) {
  MDB_val k, d;
  while (!it->done && it->i < 0) {
    int rc = mdb_cursor_get(it->cur, &k, &d, MDB_PREV);
    if (rc || k.mv_size != it->tlen + 9 || memcmp(k.mv_data, it->key, it->tlen + 1)) {
      it->done = true;
      break;
    }
    it->n = index__seg_decode(get_be64((uint8_t *)k.mv_data + it->tlen + 1), d.mv_data,
                              d.mv_size, it->ids, SEG_TARGET);
    if (it->n < 0) return STOA_ECORRUPT;
    it->i = it->n - 1;
  }
  *out = it->done ? 0 : it->ids[it->i--];
  return 0;
}

static uint64_t voc_count(MDB_txn *txn, store *s, const char *tok, size_t n) {
  MDB_val k = { n, (void *)tok }, d;
  if (mdb_get(txn, s->dbi[DB_VOC], &k, &d) || d.mv_size != 8) return 0;
  return get_be64(d.mv_data);
}

typedef struct want {
  char tok[FOLD_TOKEN_MAX + 80];
  size_t len;
  bool prefix;
} want;

/* Does the sorted, space-separated token list hold w (whole or prefix)? */
static bool doc_has(const char *toks, size_t n, const want *w) {
  const char *p = toks, *end = toks + n;
  while (p < end) {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    size_t l = sp ? (size_t)(sp - p) : (size_t)(end - p);
    if (w->prefix ? (l >= w->len && memcmp(p, w->tok, w->len) == 0)
                  : (l == w->len && memcmp(p, w->tok, l) == 0))
      return true;
    p += l + 1;
  }
  return false;
}

static void add_facet(want *w, size_t *n, char tag, const char *v) {
  size_t l = strlen(v);
  if (l + 3 > sizeof w[0].tok - 1) return;
  want *x = &w[(*n)++];
  x->tok[0] = '~';
  x->tok[1] = tag;
  x->tok[2] = ':';
  for (size_t i = 0; i < l; i++) x->tok[3 + i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
  x->len = l + 3;
  x->tok[x->len] = 0;
  x->prefix = false;
}

typedef struct cand { char tok[FOLD_TOKEN_MAX + 1]; size_t len; uint64_t cnt; } cand;

static int cmp_cand(const void *a, const void *b) {
  uint64_t x = ((const cand *)a)->cnt, y = ((const cand *)b)->cnt;
  return (x < y) - (x > y);
}

/* Up to EXPAND_MAX most frequent tokens starting with the prefix. */
static int expand(MDB_txn *txn, store *s, const want *w, cand *out, size_t *nout) {
  MDB_cursor *cur;
  MDB_val k = { w->len, (void *)w->tok }, d;
  size_t n = 0, seen = 0;
  int rc;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_VOC], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && seen < EXPAND_SCAN;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT), seen++) {
    if (k.mv_size < w->len || memcmp(k.mv_data, w->tok, w->len)) break;
    if (k.mv_size > FOLD_TOKEN_MAX || d.mv_size != 8) continue;
    cand c;
    memcpy(c.tok, k.mv_data, k.mv_size);
    c.len = k.mv_size;
    c.cnt = get_be64(d.mv_data);
    if (n < EXPAND_MAX) {
      out[n++] = c;
    } else {
      size_t lo = 0; /* replace the least frequent */
      for (size_t i = 1; i < n; i++)
        if (out[i].cnt < out[lo].cnt) lo = i;
      if (c.cnt > out[lo].cnt) out[lo] = c;
    }
  }
  mdb_cursor_close(cur);
  qsort(out, n, sizeof *out, cmp_cand);
  *nout = n;
  return 0;
}

int store_search(store_rd *rd, const store_query *q, store_hit_cb cb, void *ctx) {
  store *s = rd->s;
  MDB_txn *txn = rd->txn;
  fold_query_t fq;
  want w[FOLD_QUERY_MAX + 4 * STORE_QUERY_FILTERS + 4];
  size_t nw = 0, limit = q->limit ? q->limit : 50, skip = q->offset, hits = 0;
  piter *its = NULL;
  size_t nits = 0;
  int e = 0;

  memset(&fq, 0, sizeof fq);
  if (q->text && (e = fold_query(q->text, strlen(q->text), &fq))) return e;
  for (size_t i = 0; i < fq.nterms; i++) {
    want *x = &w[nw++];
    memcpy(x->tok, fq.term[i].text, fq.term[i].len);
    x->len = fq.term[i].len;
    x->tok[x->len] = 0;
    x->prefix = fq.term[i].prefix;
  }
  if (q->kind) add_facet(w, &nw, 'k', rec_kind_name(q->kind));
  for (int i = 0; i < STORE_QUERY_FILTERS && q->country[i]; i++) add_facet(w, &nw, 'c', q->country[i]);
  for (int i = 0; i < STORE_QUERY_FILTERS && q->theme[i]; i++) add_facet(w, &nw, 't', q->theme[i]);
  if (q->ref) {
    static const char d[] = "0123456789abcdef";
    char h[2 * ID_LEN + 1];
    for (int i = 0; i < ID_LEN; i++) {
      h[2 * i] = d[q->ref[KEY_LEN + i] >> 4];
      h[2 * i + 1] = d[q->ref[KEY_LEN + i] & 15];
    }
    h[2 * ID_LEN] = 0;
    add_facet(w, &nw, 'r', h);
  }

  /* Choose the driver. */
  ssize_t best = -1;
  uint64_t bestc = UINT64_MAX;
  for (size_t i = 0; i < nw; i++) {
    if (w[i].prefix) continue;
    uint64_t c = voc_count(txn, s, w[i].tok, w[i].len);
    if (c < bestc) { bestc = c; best = (ssize_t)i; }
  }
  if (best >= 0 && bestc == 0) return 0; /* a word no document has */
  its = calloc(EXPAND_MAX, sizeof *its);
  if (!its) return STOA_ENOMEM;
  if (best >= 0) {
    e = piter_open(&its[0], txn, s->dbi[DB_FTS], w[best].tok, w[best].len);
    nits = 1;
  } else {
    cand c[EXPAND_MAX];
    size_t nc = 0;
    if (nw) {
      /* The longest prefix is likely the most selective. */
      size_t pi = 0;
      for (size_t i = 1; i < nw; i++)
        if (w[i].len > w[pi].len) pi = i;
      e = expand(txn, s, &w[pi], c, &nc);
    } else {
      const char *kinds[] = { "~k:org", "~k:actor", "~k:practice" };
      for (int i = 0; i < 3; i++) {
        strcpy(c[nc].tok, kinds[i]);
        c[nc].len = strlen(kinds[i]);
        c[nc++].cnt = 0;
      }
    }
    for (size_t i = 0; i < nc && !e; i++, nits++)
      e = piter_open(&its[i], txn, s->dbi[DB_FTS], c[i].tok, c[i].len);
  }
  for (size_t i = 0; i < nits && !e; i++) e = piter_next(&its[i], &its[i].head);

  while (!e && hits < limit) {
    uint64_t id = 0;
    for (size_t i = 0; i < nits; i++)
      if (its[i].head > id) id = its[i].head;
    if (!id) break;
    for (size_t i = 0; i < nits && !e; i++)
      if (its[i].head == id) e = piter_next(&its[i], &its[i].head);
    if (e) break;
    uint8_t kb[8];
    put_be64(kb, id);
    MDB_val k = { 8, kb }, d;
    if (mdb_get(txn, s->dbi[DB_DOC], &k, &d)) continue; /* no longer current */
    if (d.mv_size < EKEY_LEN + 1) { e = STOA_ECORRUPT; break; }
    const uint8_t *dv = d.mv_data;
    int kind = dv[EKEY_LEN];
    if (q->kind ? kind != q->kind : !rec_kind_is_entry(kind)) continue;
    const char *toks = (const char *)dv + EKEY_LEN + 1;
    size_t tl = d.mv_size - EKEY_LEN - 1;
    size_t i;
    for (i = 0; i < nw; i++)
      if ((ssize_t)i != best && !doc_has(toks, tl, &w[i])) break;
    if (i < nw) continue;
    if (skip) { skip--; continue; }
    /* The entry itself, for its current version. */
    MDB_val ek = { EKEY_LEN, (void *)dv }, ev;
    ent_val v;
    store_entry out;
    if (mdb_get(txn, s->dbi[DB_ENT], &ek, &ev) || ent_val_unpack(&ev, &v)) { e = STOA_ECORRUPT; break; }
    if (v.docid != id) continue;
    dbkey_to_ekey(dv, out.ekey);
    out.kind = v.kind;
    out.ts = v.ts;
    memcpy(out.hash, v.hash, HASH_LEN);
    out.versions = v.versions;
    out.erased = v.erased;
    hits++;
    if (cb && (e = cb(ctx, &out))) break;
  }
  for (size_t i = 0; i < nits; i++) piter_close(&its[i]);
  free(its);
  return e < 0 ? e : (int)hits;
}
