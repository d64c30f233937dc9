/*
 * search.c - full-text and facet queries.
 *
 * Every filter (kind, country, theme, reference) is a facet token and every
 * whole query word a token.  Their posting lists are intersected by
 * leapfrogging, newest document first: each list can seek to the largest
 * docid <= a target (a B-tree descent to the right segment, then a galloping
 * search in the decoded segment, which stays cached), and the lists take
 * turns lowering the target until all agree.  The work is proportional to
 * the number of times the lists interleave (at most about twice the shortest
 * list, usually far less), in cheap in-memory steps, not to a random DB_DOC
 * fetch per posting of the rarest term.  Only documents in every list are
 * fetched from DB_DOC, to drop stale postings (the row is gone when the entry
 * changed or was erased), to check the kind and prefix terms, and to find the
 * entry.
 *
 * A prefix term is a union of the posting lists of the words that start with
 * it (from DB_VOC), kept as a heap.  When those are at most FILTER_MAX and
 * the estimate in union_pays says the union costs less than checking the
 * candidates' DB_DOC rows, or once the rows checked have shown the estimate
 * wrong (plan_promote), the union joins the leapfrog as one more list;
 * until then candidates are checked against their row.  A query of
 * prefixes only is driven by the union of the longest prefix's EXPAND_MAX
 * most frequent words, and a query with no terms at all by the union of
 * the three entry kinds.
 *
 * Hits are those a check of every document against every term would give
 * (but for the EXPAND_MAX limit of a query of prefixes only): current
 * entries of the kind asked (org, actor or practice when none is), newest
 * document first, each once, the first `offset` of them skipped.
 */
#include "store/store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "store/fold.h"

#define EXPAND_MAX 32   /* words of a prefix that drives alone */
#define EXPAND_SCAN 4096
#define FILTER_MAX 256  /* words of a prefix that filters as a union */
#define SUBS_MAX 512    /* posting lists open for one query */
#define TERMS_MAX (FOLD_QUERY_MAX + 2 * STORE_QUERY_FILTERS + 2)
#define FACET_MAX 80    /* longest facet token index.c writes (its facet()) */
#define TOKEN_KEY_MAX (FACET_MAX + 9)

/* ---- one token's posting list ------------------------------------------- */

typedef struct tok_it {
  MDB_cursor *cur;            /* on the segment in ids[] once one is loaded */
  uint8_t key[TOKEN_KEY_MAX]; /* token \0 docid, for seeking */
  size_t tlen;
  uint64_t *ids;              /* the decoded segment, ascending */
  int n, i;                   /* ids[0..n); ids[i] is the current posting */
  uint64_t at;                /* the largest posting <= the last target */
  bool started, done;
} tok_it;

static int tok_open(tok_it *it, MDB_txn *txn, MDB_dbi dbi, const char *tok, size_t tlen) {
  memset(it, 0, sizeof *it);
  if (tlen + 9 > sizeof it->key) return STOA_EINVAL;
  it->tlen = tlen;
  memcpy(it->key, tok, tlen);
  it->key[tlen] = 0;
  int rc = mdb_cursor_open(txn, dbi, &it->cur);
  if (rc) { it->cur = NULL; return store__err(rc); }
  return 0;
}

static void tok_close(tok_it *it) {
  if (it->cur) mdb_cursor_close(it->cur);
  free(it->ids);
  it->cur = NULL;
  it->ids = NULL;
}

static bool tok_ours(const tok_it *it, const MDB_val *k) {
  return k->mv_size == it->tlen + 9 && memcmp(k->mv_data, it->key, it->tlen + 1) == 0;
}

/* Decodes the segment under the cursor.  A segment's ids ascend from the
 * docid in its key; anything else is damage. */
static int tok_decode(tok_it *it, const MDB_val *k, const MDB_val *d) {
  uint64_t first = get_be64((const uint8_t *)k->mv_data + it->tlen + 1);
  if (!it->ids && !(it->ids = malloc(SEG_TARGET * sizeof *it->ids))) return STOA_ENOMEM;
  it->n = index__seg_decode(first, d->mv_data, d->mv_size, it->ids, SEG_TARGET);
  if (it->n <= 0 || it->ids[0] != first) { it->n = 0; return STOA_ECORRUPT; }
  for (int j = 1; j < it->n; j++)
    if (it->ids[j] < it->ids[j - 1]) { it->n = 0; return STOA_ECORRUPT; }
  return 0;
}

/* Loads the segment that holds the largest posting <= t (t >= 1): the one
 * before the current when it starts low enough (a cheap step), else the
 * last segment whose first docid is <= t, found by MDB_SET_RANGE on
 * token\0(t+1) and a step back.  *found is false when there is none. */
static int tok_load(tok_it *it, uint64_t t, bool *found) {
  MDB_val k, d;
  int rc;
  *found = false;
  if (it->n) {
    rc = mdb_cursor_get(it->cur, &k, &d, MDB_PREV);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return store__err(rc);
    if (!tok_ours(it, &k)) return 0;
    if (get_be64((const uint8_t *)k.mv_data + it->tlen + 1) <= t) {
      *found = true;
      return tok_decode(it, &k, &d);
    }
  }
  size_t kl = it->tlen + 9;
  if (t == UINT64_MAX) { /* past every key of the token */
    it->key[it->tlen] = 1;
    kl = it->tlen + 1;
  } else {
    put_be64(it->key + it->tlen + 1, t + 1);
  }
  k.mv_size = kl;
  k.mv_data = it->key;
  rc = mdb_cursor_get(it->cur, &k, &d, MDB_SET_RANGE);
  it->key[it->tlen] = 0;
  if (rc == 0) rc = mdb_cursor_get(it->cur, &k, &d, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(it->cur, &k, &d, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store__err(rc);
  if (!tok_ours(it, &k)) return 0;
  *found = true;
  return tok_decode(it, &k, &d);
}

/* The largest posting <= t, or 0 when none is left.  Targets never rise,
 * so the answer only moves down: within the cached segment it is found by
 * galloping down from the current position, O(log distance). */
static int tok_seek(tok_it *it, uint64_t t, uint64_t *out) {
  int e;
  if (it->started && it->at <= t) { *out = it->at; return 0; }
  it->started = true;
  if (it->done || t == 0) goto none;
  int hi = it->i;             /* ids[hi] > t, or hi == n */
  if (!it->n || it->ids[0] > t) {
    bool found;
    if ((e = tok_load(it, t, &found))) return e;
    if (!found) goto none;
    hi = it->n;
  }
  /* ids[0] <= t: gallop down from hi, then bisect (lo, hi). */
  int lo = hi - 1, step = 1;
  while (lo > 0 && it->ids[lo] > t) {
    hi = lo;
    lo = lo > step ? lo - step : 0;
    step *= 2;
  }
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (it->ids[mid] <= t) lo = mid;
    else hi = mid;
  }
  it->i = lo;
  *out = it->at = it->ids[lo];
  return 0;
none:
  it->done = true;
  *out = it->at = 0;
  return 0;
}

/* ---- a term: one token, or the union of a prefix's words ------------------ */

typedef struct term_it {
  tok_it **sub;               /* lists not exhausted: a max-heap on ->at */
  size_t nsub;
  uint64_t est;               /* postings (for ordering) */
  uint64_t at;
  bool started;
} term_it;

static void heap_down(tok_it **h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < n && h[l]->at > h[m]->at) m = l;
    if (l + 1 < n && h[l + 1]->at > h[m]->at) m = l + 1;
    if (m == i) return;
    tok_it *x = h[i];
    h[i] = h[m];
    h[m] = x;
    i = m;
  }
}

/* The largest posting <= t of any of the term's lists.  Only the lists
 * whose current posting is above t move (the top of the heap), so a union
 * of many lists costs O(log k) per posting passed, not O(k) per seek. */
static int term_seek(term_it *u, uint64_t t, uint64_t *out) {
  uint64_t p;
  int e;
  if (u->started && u->at <= t) { *out = u->at; return 0; }
  if (!u->started) {
    u->started = true;
    for (size_t j = 0; j < u->nsub;) {
      if ((e = tok_seek(u->sub[j], t, &p))) return e;
      if (p) { j++; continue; }
      tok_it *x = u->sub[j]; /* exhausted: kept past the heap */
      u->sub[j] = u->sub[--u->nsub];
      u->sub[u->nsub] = x;
    }
    for (size_t j = u->nsub / 2; j-- > 0;) heap_down(u->sub, u->nsub, j);
  }
  while (u->nsub && u->sub[0]->at > t) {
    if ((e = tok_seek(u->sub[0], t, &p))) return e;
    if (!p) {
      tok_it *x = u->sub[0];
      u->sub[0] = u->sub[--u->nsub];
      u->sub[u->nsub] = x;
    }
    heap_down(u->sub, u->nsub, 0);
  }
  *out = u->at = u->nsub ? u->sub[0]->at : 0;
  return 0;
}

/* ---- the query's terms ---------------------------------------------------- */

typedef struct want {
  char tok[FOLD_TOKEN_MAX + 80];
  size_t len;
  bool prefix;
  bool covered;               /* proven by a posting list: no row check */
  uint32_t defer;             /* words of a union kept back (0 = none) */
  uint32_t rejected;          /* rows that failed on this term */
} want;

static uint64_t voc_count(MDB_txn *txn, store *s, const char *tok, size_t n) {
  MDB_val k = { n, (void *)tok }, d;
  if (mdb_get(txn, s->dbi[DB_VOC], &k, &d) || d.mv_size != 8) return 0;
  return get_be64(d.mv_data);
}

/* Does the space-separated token list (facets first, then words, each once)
 * hold w, whole or as a prefix?  A linear scan: the list is short. */
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

/* A facet term, lower-cased as index.c writes it.  False when the value is
 * longer than index.c ever indexes: then nothing can match. */
static bool add_facet(want *w, size_t *n, char tag, const char *v) {
  size_t l = strlen(v);
  if (l + 3 > FACET_MAX) return false;
  want *x = &w[(*n)++];
  memset(x, 0, sizeof *x);
  x->tok[0] = '~';
  x->tok[1] = tag;
  x->tok[2] = ':';
  for (size_t i = 0; i < l; i++) x->tok[3 + i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
  x->len = l + 3;
  return true;
}

typedef struct cand { char tok[FACET_MAX + 1]; size_t len; uint64_t cnt; } cand;

static int cmp_cand(const void *a, const void *b) {
  uint64_t x = ((const cand *)a)->cnt, y = ((const cand *)b)->cnt;
  return (x < y) - (x > y);
}

/* Up to EXPAND_MAX most frequent tokens starting with the prefix, among the
 * first EXPAND_SCAN: the driver of a query of prefixes only. */
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
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  qsort(out, n, sizeof *out, cmp_cand);
  *nout = n;
  return 0;
}

/* Every token starting with the prefix, when there are at most max: *nout
 * is then their number (0: no document has the prefix).  *complete is false
 * when there are more, or a key that could not be a posting list. */
static int expand_all(MDB_txn *txn, store *s, const want *w, cand *out, size_t max, size_t *nout,
                      bool *complete) {
  MDB_cursor *cur;
  MDB_val k = { w->len, (void *)w->tok }, d;
  size_t n = 0;
  int rc;
  bool more = false;
  *complete = false;
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_VOC], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size < w->len || memcmp(k.mv_data, w->tok, w->len)) break;
    if (n == max || k.mv_size > FOLD_TOKEN_MAX || d.mv_size != 8) { more = true; break; }
    memcpy(out[n].tok, k.mv_data, k.mv_size);
    out[n].len = k.mv_size;
    out[n++].cnt = get_be64(d.mv_data);
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  *complete = !more;
  *nout = n;
  return 0;
}

/*
 * Is a prefix's union (its words' counts c[0..k), u postings in all) worth
 * joining the leapfrog?  About `cands` documents pass the other lists, and
 * the search stops after `need` hits: taking the terms as independent, it
 * examines min(cands, need * docs / u) of them, a fraction f of the docid
 * range.  Checking those against their rows costs a random DB_DOC fetch
 * each; in the union each list loads its newest segment, then at most one
 * more per move and per segment in range, and moves at most once per
 * posting in range and per candidate.  Costs in microseconds, measured on
 * a 1M-entry store in a fresh process, where a page first touched costs a
 * fault: a row fetch ~2.5, a segment load ~8, a move ~0.05.  Rough, but it
 * keeps a rare word from paying for many big lists, a common prefix from
 * loading them all when the first rows fetched will do, and a facet from
 * fetching every row when the prefix is rare among its documents.
 */
static bool union_pays(double cands, double need, double docs, const cand *c, size_t k, uint64_t u) {
  double sel = docs > (double)u ? (double)u / docs : 1;
  double exam = sel > 0 && need / sel < cands ? need / sel : cands;
  double f = cands > 0 ? exam / cands : 1, cost = 0;
  for (size_t j = 0; j < k; j++) {
    double in = (double)c[j].cnt * f;
    double moves = in < exam ? in : exam;
    double segs = in / SEG_TARGET;
    cost += (1 + (segs < moves ? segs : moves)) * 8.0 + moves * 0.05;
  }
  return cost < exam * 2.5;
}

/* ---- the search ------------------------------------------------------------ */

typedef struct plan {
  tok_it *pool;               /* SUBS_MAX lists */
  tok_it *subp[SUBS_MAX];
  size_t npool;
  term_it term[TERMS_MAX];
  size_t nterm;
  cand cand[FILTER_MAX > EXPAND_MAX ? FILTER_MAX : EXPAND_MAX]; /* words of a prefix */
} plan;

/* Opens a term over the tokens c[0..n). */
static int plan_add(plan *p, MDB_txn *txn, store *s, const cand *c, size_t n) {
  int e;
  if (p->nterm == TERMS_MAX || p->npool + n > SUBS_MAX) return STOA_ENOMEM;
  term_it *t = &p->term[p->nterm++];
  memset(t, 0, sizeof *t);
  t->sub = &p->subp[p->npool];
  for (size_t i = 0; i < n; i++) {
    tok_it *x = &p->pool[p->npool];
    if ((e = tok_open(x, txn, s->dbi[DB_FTS], c[i].tok, c[i].len))) return e;
    p->subp[p->npool++] = x;
    t->sub[t->nsub++] = x;
    t->est += c[i].cnt;
  }
  return 0;
}

static int cmp_term(const void *a, const void *b) {
  uint64_t x = ((const term_it *)a)->est, y = ((const term_it *)b)->est;
  return (x > y) - (x < y);
}

/* The query's terms as tokens; false when a filter cannot match anything. */
static bool query_terms(const store_query *q, const fold_query_t *fq, want *w, size_t *nw) {
  size_t n = 0;
  for (size_t i = 0; i < fq->nterms; i++) {
    want *x = &w[n++];
    memset(x, 0, sizeof *x);
    memcpy(x->tok, fq->term[i].text, fq->term[i].len);
    x->len = fq->term[i].len;
    x->prefix = fq->term[i].prefix;
  }
  if (q->kind && !add_facet(w, &n, 'k', rec_kind_name(q->kind))) return false;
  for (int i = 0; i < STORE_QUERY_FILTERS && q->country[i]; i++)
    if (!add_facet(w, &n, 'c', q->country[i])) return false;
  for (int i = 0; i < STORE_QUERY_FILTERS && q->theme[i]; i++)
    if (!add_facet(w, &n, 't', q->theme[i])) return false;
  if (q->ref) {
    char h[REF_HEX_LEN + 1];
    index__ref_hex(q->ref, h);
    h[REF_HEX_LEN] = 0;
    if (!add_facet(w, &n, 'r', h)) return false;
  }
  *nw = n;
  return true;
}

/*
 * Chooses the lists to leapfrog.  Returns 1 when nothing can match, 0 with
 * p->term[] set (sparsest first) and w[].covered set for terms the lists
 * prove, or an error.
 */
static int plan_make(plan *p, MDB_txn *txn, store *s, want *w, size_t nw, double need) {
  cand *c = p->cand;
  size_t nc = 0;
  int e;
  double cands = 0;           /* documents expected to pass the lists so far */
  uint64_t docs = 0;          /* documents ever indexed (the largest docid) */
  size_t pi = SIZE_MAX;       /* the prefix that drives a query of prefixes */
  bool exact = false;

  if ((e = store__meta_u64(txn, s, "docid", &docs))) return e;

  for (size_t i = 0; i < nw; i++) {
    if (w[i].prefix) continue;
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = !w[j].prefix && w[j].len == w[i].len && memcmp(w[j].tok, w[i].tok, w[i].len) == 0;
    w[i].covered = true;
    if (dup) continue;
    memcpy(c[0].tok, w[i].tok, w[i].len);
    c[0].len = w[i].len;
    if (!(c[0].cnt = voc_count(txn, s, w[i].tok, w[i].len))) return 1; /* a word no document has */
    if ((e = plan_add(p, txn, s, c, 1))) return e;
    exact = true;
  }
  if (exact) {
    /* Independent terms: the sparsest list times the others' densities. */
    qsort(p->term, p->nterm, sizeof *p->term, cmp_term);
    cands = (double)p->term[0].est;
    for (size_t i = 1; i < p->nterm && docs; i++) cands *= (double)p->term[i].est / (double)docs;
  } else {
    for (size_t i = 0; i < nw; i++) /* the longest prefix is likely the most selective */
      if (pi == SIZE_MAX || w[i].len > w[pi].len) pi = i;
    if (pi == SIZE_MAX) {
      const char *kinds[] = { "~k:org", "~k:actor", "~k:practice" };
      for (nc = 0; nc < 3; nc++) {
        strcpy(c[nc].tok, kinds[nc]);
        c[nc].len = strlen(kinds[nc]);
        c[nc].cnt = 0;
      }
    } else if ((e = expand(txn, s, &w[pi], c, &nc))) {
      return e;
    }
    if (!nc) return 1;
    if ((e = plan_add(p, txn, s, c, nc))) return e;
    cands = (double)p->term[0].est;
  }
  for (size_t i = 0; i < nw; i++) {
    bool complete;
    uint64_t u = 0;
    if (!w[i].prefix || i == pi) continue;
    if ((e = expand_all(txn, s, &w[i], c, FILTER_MAX, &nc, &complete))) return e;
    if (!complete) continue;
    if (!nc) return 1; /* no word starts with it */
    for (size_t j = 0; j < nc; j++) u += c[j].cnt;
    if (p->npool + nc > SUBS_MAX || p->nterm == TERMS_MAX ||
        !union_pays(cands, need, (double)docs, c, nc, u)) {
      w[i].defer = (uint32_t)nc; /* unless the rows say otherwise: plan_promote */
      continue;
    }
    if ((e = plan_add(p, txn, s, c, nc))) return e;
    w[i].covered = true;
    if (docs > u) cands *= (double)u / (double)docs;
  }
  return 0;
}

/*
 * The estimate in union_pays takes terms as independent; they are not (a
 * Spanish word is rare among documents from the Philippines).  A prefix
 * whose union was kept back joins the leapfrog once the rows that failed on
 * it have cost about what its union's first loads cost (rejected * 2.5 us
 * >= k * 8 us): then a wrong guess costs at most about twice the better
 * plan, instead of a row fetch for every candidate.
 */
static int plan_promote(plan *p, MDB_txn *txn, store *s, want *x) {
  size_t nc = 0;
  bool complete;
  int e;
  x->defer = 0;
  if ((e = expand_all(txn, s, x, p->cand, FILTER_MAX, &nc, &complete))) return e;
  if (!complete || !nc || p->npool + nc > SUBS_MAX || p->nterm == TERMS_MAX) return 0;
  if ((e = plan_add(p, txn, s, p->cand, nc))) return e;
  x->covered = true;
  return 0;
}

/* Checks a document that every list holds: its row must still be there (a
 * posting of an older version is stale), of the kind asked, hold the terms
 * no list proved, and be its entry's current document.  Returns 1 with *out
 * set for a match, 0 for none (*blame = the term that failed, or SIZE_MAX),
 * or an error. */
static int check_doc(MDB_txn *txn, store *s, const store_query *q, const want *w, size_t nw,
                     uint64_t id, store_entry *out, size_t *blame) {
  uint8_t kb[8];
  *blame = SIZE_MAX;
  put_be64(kb, id);
  MDB_val k = { 8, kb }, d;
  int rc = mdb_get(txn, s->dbi[DB_DOC], &k, &d);
  if (rc == MDB_NOTFOUND) return 0; /* a stale posting: no longer current */
  if (rc) return store__err(rc);
  if (d.mv_size < EKEY_LEN + 1) return STOA_ECORRUPT;
  const uint8_t *dv = d.mv_data;
  int kind = dv[EKEY_LEN];
  if (q->kind ? kind != q->kind : !rec_kind_is_entry(kind)) return 0;
  const char *toks = (const char *)dv + EKEY_LEN + 1;
  size_t tl = d.mv_size - EKEY_LEN - 1;
  for (size_t i = 0; i < nw; i++)
    if (!w[i].covered && !doc_has(toks, tl, &w[i])) { *blame = i; return 0; }
  MDB_val ek = { EKEY_LEN, (void *)dv }, ev;
  ent_val v;
  rc = mdb_get(txn, s->dbi[DB_ENT], &ek, &ev);
  if (rc == MDB_NOTFOUND) return STOA_ECORRUPT;
  if (rc) return store__err(rc);
  if (ent_val_unpack(&ev, &v)) return STOA_ECORRUPT;
  if (v.docid != id) return 0;
  dbkey_to_ekey(dv, out->ekey);
  out->kind = v.kind;
  out->ts = v.ts;
  memcpy(out->hash, v.hash, HASH_LEN);
  out->versions = v.versions;
  out->erased = v.erased;
  return 1;
}

/*
 * Leapfrog, newest first: t is the candidate, and `agree` lists in a row
 * have it.  Each list in turn seeks the largest posting <= t; a smaller one
 * becomes the new t.  When all agree, t is checked and passed to cb.
 */
static int plan_run(plan *p, MDB_txn *txn, store *s, const store_query *q, want *w, size_t nw,
                    size_t limit, size_t skip, store_hit_cb cb, void *ctx) {
  uint64_t t = UINT64_MAX, at;
  size_t agree = 0, m = p->nterm, hits = 0, blame;
  int e = 0;
  for (size_t i = 0; hits < limit; i = i + 1 >= m ? 0 : i + 1) {
    if ((e = term_seek(&p->term[i], t, &at)) || !at) break;
    if (at != t) { t = at; agree = 1; }
    else agree++;
    if (agree < m) continue;
    store_entry out;
    int r = check_doc(txn, s, q, w, nw, t, &out, &blame);
    if (r < 0) { e = r; break; }
    if (r && skip) {
      skip--;
    } else if (r) {
      hits++;
      if (cb && (e = cb(ctx, &out))) break;
    } else if (blame != SIZE_MAX && w[blame].defer &&
               (uint64_t)++w[blame].rejected * 5 >= (uint64_t)w[blame].defer * 16) {
      if ((e = plan_promote(p, txn, s, &w[blame]))) break;
      m = p->nterm;
    }
    if (t == 1) break;
    t--;
    agree = 0;
  }
  return e < 0 ? e : (int)hits;
}

int store_search(store_rd *rd, const store_query *q, store_hit_cb cb, void *ctx) {
  fold_query_t fq;
  want w[TERMS_MAX];
  size_t nw = 0, limit = q->limit ? q->limit : 50;
  plan *p;
  int e;

  if (q->kind && !rec_kind_name(q->kind)) return STOA_EINVAL;
  if (limit > INT_MAX) limit = INT_MAX;
  memset(&fq, 0, sizeof fq);
  if (q->text && (e = fold_query(q->text, strlen(q->text), &fq))) return e;
  if (!query_terms(q, &fq, w, &nw)) return 0;
  if (!(p = calloc(1, sizeof *p)) || !(p->pool = calloc(SUBS_MAX, sizeof *p->pool))) {
    free(p);
    return STOA_ENOMEM;
  }
  e = plan_make(p, rd->txn, rd->s, w, nw, (double)limit + (double)q->offset);
  if (e == 1) e = 0; /* nothing can match */
  else if (!e) e = plan_run(p, rd->txn, rd->s, q, w, nw, limit, q->offset, cb, ctx);
  for (size_t i = 0; i < p->npool; i++) tok_close(&p->pool[i]);
  free(p->pool);
  free(p);
  return e;
}
