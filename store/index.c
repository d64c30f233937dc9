/*
 * index.c - putting accepted records and keeping the indexes.
 *
 * Full-text and facet postings are append-only: every current version of an
 * entry gets a fresh document id (larger than all before it), and a posting
 * list is a run of segments keyed token\0first-docid, each holding up to
 * SEG_TARGET ascending ids as varint deltas.  Postings of a batch are
 * gathered in memory and written once per distinct token at the end of the
 * transaction, so a batch of B records costs O(distinct tokens) puts rather
 * than O(B * tokens).  A posting whose document is no longer current is
 * skipped at query time (its DB_DOC row is gone) and dropped by reindex.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"
#include "store/fold.h"

/* ---- the batch's postings ------------------------------------------------ */

/*
 * The batch's postings: an open-addressing table of the distinct tokens,
 * each with the ids of the batch's documents that hold it.  Tokens and id
 * lists live in arenas that are reset, not freed, between batches: a batch
 * of B records adds ~70 B postings, and a malloc per token was a tenth of
 * the cost of a record.  A table slot is 32 bytes; the last id sits in the
 * slot, so a repeated token costs no look at the id list.
 */
typedef struct acc_ent {
  uint32_t hash;              /* 0 = empty */
  uint32_t tok_off;           /* into toks: [len] token \0 */
  uint32_t n, cap;
  uint64_t last;
  uint64_t *ids;
} acc_ent;

typedef struct id_block { struct id_block *next; size_t cap, used; uint64_t v[]; } id_block;
#define ID_BLOCK_MIN ((size_t)1 << 17) /* ids (1 MiB) */

struct fts_acc {
  acc_ent *tab;               /* open addressing, power of two */
  size_t cap, used;
  char *toks;
  size_t tlen, tcap;
  id_block *blocks, *cur;     /* kept across batches; cur: being filled */
};

/* A token's hash, eight bytes at a time (tokens are short, and this runs
 * ~70 times per record on the committing thread). */
static uint32_t str_hash(const char *s, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  for (; n >= 8; s += 8, n -= 8) {
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  if (n) {
    w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)s[i] << (8 * i);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
  }
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  return (uint32_t)(h >> 32);
}

static uint32_t tok_hash(const char *s, size_t n) {
  return str_hash(s, n) | 1; /* 0 marks an empty slot */
}

static void acc_clear(struct fts_acc *a) {
  if (a->tab && a->used) memset(a->tab, 0, a->cap * sizeof *a->tab);
  a->used = 0;
  a->tlen = 0;
  for (id_block *b = a->blocks; b; b = b->next) b->used = 0;
  a->cur = a->blocks;
}

int index__acc_begin(store *s) {
  if (!s->acc) {
    s->acc = calloc(1, sizeof *s->acc);
    if (!s->acc) return STOA_ENOMEM;
  }
  acc_clear(s->acc);
  return 0;
}

void index__acc_free(store *s) {
  if (!s->acc) return;
  for (id_block *b = s->acc->blocks, *nb; b; b = nb) {
    nb = b->next;
    free(b);
  }
  free(s->acc->tab);
  free(s->acc->toks);
  free(s->acc);
  s->acc = NULL;
}

static int acc_grow(struct fts_acc *a, size_t want) {
  size_t ncap = a->cap ? a->cap : 4096;
  while (want * 2 > ncap) ncap *= 2;
  if (ncap == a->cap) return 0;
  acc_ent *nt = calloc(ncap, sizeof *nt);
  if (!nt) return STOA_ENOMEM;
  for (size_t i = 0; i < a->cap && a->used; i++) {
    if (!a->tab[i].hash) continue;
    size_t j = a->tab[i].hash & (ncap - 1);
    while (nt[j].hash) j = (j + 1) & (ncap - 1);
    nt[j] = a->tab[i];
  }
  free(a->tab);
  a->tab = nt;
  a->cap = ncap;
  return 0;
}

/* Room for n ids in the arena. */
static uint64_t *ids_alloc(struct fts_acc *a, size_t n) {
  id_block *b = a->cur;
  while (b && b->cap - b->used < n) b = b->next;
  if (!b) {
    size_t cap = n > ID_BLOCK_MIN ? n : ID_BLOCK_MIN;
    if (!(b = malloc(sizeof *b + cap * sizeof *b->v))) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = NULL;
    id_block **pp = &a->blocks;
    while (*pp) pp = &(*pp)->next;
    *pp = b;
  }
  a->cur = b;
  uint64_t *p = b->v + b->used;
  b->used += n;
  return p;
}

/* The slot of a token, filled in if new; the table has room for it. */
static int acc_slot(struct fts_acc *a, const char *tok, size_t n, uint32_t h, acc_ent **out) {
  size_t j = h & (a->cap - 1);
  acc_ent *x;
  for (;; j = (j + 1) & (a->cap - 1)) {
    x = &a->tab[j];
    if (!x->hash) break;
    if (x->hash == h && (uint8_t)a->toks[x->tok_off - 1] == n &&
        memcmp(a->toks + x->tok_off, tok, n) == 0)
      break;
  }
  *out = x;
  if (!x->hash) {
    if (n > UINT8_MAX) return STOA_EINVAL;
    if (a->tlen + n + 2 > a->tcap) {
      size_t nc = a->tcap ? a->tcap * 2 : 65536;
      while (nc < a->tlen + n + 2) nc *= 2;
      char *p = realloc(a->toks, nc);
      if (!p) return STOA_ENOMEM;
      a->toks = p;
      a->tcap = nc;
    }
    a->toks[a->tlen] = (char)n;
    x->hash = h;
    x->tok_off = (uint32_t)a->tlen + 1;
    memcpy(a->toks + x->tok_off, tok, n);
    a->toks[x->tok_off + n] = 0;
    a->tlen += n + 2;
    a->used++;
  }
  return 0;
}

/* Adds docid to a token's list.  A list of one id is its `last` alone: most
 * of a batch's tokens are rare, and need no room in the arena. */
static int acc_append(struct fts_acc *a, acc_ent *x, uint64_t docid) {
  if (x->n && x->last == docid) return 0;
  if (x->n >= 1 && x->n >= x->cap) { /* the second id, or a full list */
    uint32_t nc = x->cap ? x->cap * 2 : 4;
    uint64_t *p = ids_alloc(a, nc);
    if (!p) return STOA_ENOMEM;
    if (x->n == 1) p[0] = x->last;
    else memcpy(p, x->ids, x->n * sizeof *p);
    x->ids = p; /* the old room stays in the arena until the batch ends */
    x->cap = nc;
  }
  if (x->n) x->ids[x->n] = docid;
  x->n++;
  x->last = docid;
  return 0;
}

/* A token's ids: its list, or its one id. */
static const uint64_t *acc_ids(const acc_ent *x) { return x->n == 1 ? &x->last : x->ids; }

/* Adds a document's tokens ("tok tok tok") to the batch's postings.  The
 * table is far larger than the caches, so the slots of all the tokens are
 * fetched first, in parallel, and then probed. */
static int acc_add_doc(store *s, const char *toks, size_t tl, uint64_t docid) {
  struct fts_acc *a = s->acc;
  store_tok *tk = s->scr->tk;
  size_t nt = 0;
  int e;
  const char *p = toks, *end = toks + tl;
  while (p < end && nt < DOC_TOKENS_MAX / 2) {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
    if (n) tk[nt++] = (store_tok){ p, (uint32_t)n, tok_hash(p, n) };
    p += n + 1;
  }
  if ((e = acc_grow(a, a->used + nt))) return e;
  /* Three passes, each fetching ahead what the next one touches. */
  for (size_t i = 0; i < nt; i++) __builtin_prefetch(&a->tab[tk[i].hash & (a->cap - 1)]);
  acc_ent **slot = s->scr->slot;
  for (size_t i = 0; i < nt; i++) {
    if ((e = acc_slot(a, tk[i].p, tk[i].len, tk[i].hash, &slot[i]))) return e;
    if (slot[i]->n > 1 && slot[i]->n < slot[i]->cap)
      __builtin_prefetch(&slot[i]->ids[slot[i]->n], 1);
  }
  for (size_t i = 0; i < nt; i++)
    if ((e = acc_append(a, slot[i], docid))) return e;
  return 0;
}

int index__seg_decode(uint64_t first, const uint8_t *p, size_t len, uint64_t *out, size_t cap) {
  const uint8_t *end = p + len;
  uint64_t n, d, cur = first;
  if (varint_get(&p, end, &n) || n > cap || n == 0) return -1;
  for (uint64_t i = 0; i < n; i++) {
    if (varint_get(&p, end, &d)) return -1;
    cur += d;
    out[i] = cur;
  }
  return p == end ? (int)n : -1;
}

/* The count, last id and where the deltas start of a stored segment, with
 * the checks of index__seg_decode but without decoding into an array.
 * Returns the count, or -1 when malformed. */
static int seg_scan(uint64_t first, const uint8_t *p, size_t len, uint64_t *last, size_t *deltas) {
  const uint8_t *start = p, *end = p + len;
  uint64_t n, d, cur = first;
  if (varint_get(&p, end, &n) || n > SEG_TARGET || n == 0) return -1;
  *deltas = (size_t)(p - start);
  for (uint64_t i = 0; i < n; i++) {
    if (varint_get(&p, end, &d)) return -1;
    cur += d;
  }
  *last = cur;
  return p == end ? (int)n : -1;
}

/* Writes a segment through the cursor: a new key, or (old != NULL) over the
 * one the cursor stands on (MDB_CURRENT: no second search), whose deltas
 * are kept as they are and the new ids appended after its last id. */
static int seg_put(MDB_cursor *cur, const char *tok, size_t tlen, uint64_t first,
                   const uint8_t *old, size_t oldlen, size_t oldn, uint64_t prev,
                   const uint64_t *ids, size_t n) {
  uint8_t key[FTS_KEY_MAX], val[10 + SEG_TARGET * 10];
  size_t vl = varint_put(val, oldn + n);
  if (old) {
    memcpy(val + vl, old, oldlen);
    vl += oldlen;
  }
  for (size_t i = 0; i < n; i++) {
    vl += varint_put(val + vl, old || i ? ids[i] - prev : 0);
    prev = ids[i];
  }
  memcpy(key, tok, tlen);
  key[tlen] = 0;
  put_be64(key + tlen + 1, first);
  MDB_val k = { tlen + 9, key }, d = { vl, val };
  return store__err(mdb_cursor_put(cur, &k, &d, old ? MDB_CURRENT : 0));
}

/* Appends ids (ascending, all larger than any stored) to a token's postings:
 * the last segment is filled up, then new ones follow. */
static int postings_append(MDB_cursor *cur, const char *tok, size_t tlen, const uint64_t *ids,
                           size_t n) {
  uint8_t key[FTS_KEY_MAX];
  int rc, e;

  memcpy(key, tok, tlen);
  key[tlen] = 0;
  memset(key + tlen + 1, 0xff, 8);
  MDB_val k = { tlen + 9, key }, d;
  rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
  rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV) : mdb_cursor_get(cur, &k, &d, MDB_LAST);
  if (rc == 0 && k.mv_size == tlen + 9 && memcmp(k.mv_data, key, tlen + 1) == 0) {
    uint64_t first = get_be64((uint8_t *)k.mv_data + tlen + 1), last;
    size_t off;
    int got = seg_scan(first, d.mv_data, d.mv_size, &last, &off);
    if (got < 0 || ids[0] <= last) return STOA_ECORRUPT;
    if ((size_t)got < SEG_TARGET) {
      size_t take = SEG_TARGET - (size_t)got < n ? SEG_TARGET - (size_t)got : n;
      if ((e = seg_put(cur, tok, tlen, first, (const uint8_t *)d.mv_data + off, d.mv_size - off,
                       (size_t)got, last, ids, take)))
        return e;
      ids += take;
      n -= take;
    }
  } else if (rc && rc != MDB_NOTFOUND) {
    return store__err(rc);
  }
  while (n) {
    size_t take = SEG_TARGET < n ? SEG_TARGET : n;
    if ((e = seg_put(cur, tok, tlen, ids[0], NULL, 0, 0, 0, ids, take))) return e;
    ids += take;
    n -= take;
  }
  return 0;
}

static int cmp_ent(const void *a, uint64_t x, uint64_t y) {
  const struct fts_acc *acc = a;
  return strcmp(acc->toks + acc->tab[x].tok_off, acc->toks + acc->tab[y].tok_off);
}

/* Writes the batch's postings in token order (sequential pages), with two
 * cursors that walk DB_FTS and DB_VOC forward. */
int index__acc_flush(store *s, MDB_txn *txn) {
  struct fts_acc *a = s->acc;
  MDB_cursor *cur, *vc;
  int rc, e = 0;
  if (!a || !a->used) return 0;
  sort_ent *v = malloc(a->used * sizeof *v);
  size_t m = 0;
  if (!v) return STOA_ENOMEM;
  for (size_t i = 0; i < a->cap; i++)
    if (a->tab[i].hash) {
      const char *t = a->toks + a->tab[i].tok_off;
      v[m++] = (sort_ent){ sort_key(t, (uint8_t)t[-1]), i };
    }
  if ((e = store__sort(v, m, cmp_ent, a))) { free(v); return e; }
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_FTS], &cur))) { free(v); return store__err(rc); }
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_VOC], &vc))) {
    mdb_cursor_close(cur);
    free(v);
    return store__err(rc);
  }
  for (size_t i = 0; i < m && !e; i++) {
    acc_ent *x = &a->tab[v[i].idx];
    const char *tok = a->toks + x->tok_off;
    size_t tl = (uint8_t)a->toks[x->tok_off - 1];
    if ((e = postings_append(cur, tok, tl, acc_ids(x), x->n))) break;
    MDB_val k = { tl, (void *)tok }, d;
    uint64_t cnt = 0;
    uint8_t b[8];
    unsigned flags = 0;
    rc = mdb_cursor_get(vc, &k, &d, MDB_SET_KEY);
    if (rc == 0 && d.mv_size == 8) {
      cnt = get_be64(d.mv_data);
      flags = MDB_CURRENT; /* same size: written in place */
    } else if (rc && rc != MDB_NOTFOUND) {
      e = store__err(rc);
      break;
    }
    put_be64(b, cnt + x->n);
    k.mv_size = tl;
    k.mv_data = (void *)tok;
    d.mv_size = 8;
    d.mv_data = b;
    e = store__err(mdb_cursor_put(vc, &k, &d, flags));
  }
  mdb_cursor_close(vc);
  mdb_cursor_close(cur);
  free(v);
  acc_clear(a); /* empty for the next batch (or the rest of a reindex) */
  return e;
}

/* ---- document tokens ----------------------------------------------------- */

/*
 * A document's tokens are kept unique with a small open-addressing set over
 * the two lists being built (facets, words), instead of sorting them all:
 * O(tokens) rather than O(tokens log tokens) string compares.  The order is
 * deterministic (store_verify recomputes it and compares bytes) and search
 * does not rely on it.  Facets come first so that a document too long for
 * DOC_TOKENS_MAX loses words, never its kind, countries or themes.
 */
#define TOKSET_SLOTS_MAX 4096       /* a power of two; at most half used */
#define TOKSET_SLOTS_MIN 256

typedef struct toklist {
  char b[DOC_TOKENS_MAX];          /* "tok tok tok " */
  size_t len;
  bool full;
} toklist;

typedef struct tokset {
  toklist l[2];                    /* 0: facets, 1: words */
  uint32_t n, cap;                 /* tokens held; slots in use */
  /* 0 = empty, else 1 << 31 | hash tag << 21 | list << 20 | len << 12 | offset */
  uint32_t slot[TOKSET_SLOTS_MAX];
} tokset;


/* Finds the slot of [t, t+n) in list `li`: its index, or that of the empty
 * slot where it belongs (*found false). */
static uint32_t tokset_find(const tokset *ts, int li, const char *t, size_t n, uint32_t h,
                            bool *found) {
  uint32_t mask = ts->cap - 1, i = h & mask;
  uint32_t want = (h >> 22) << 21 | (uint32_t)li << 20 | (uint32_t)n << 12;
  for (;; i = (i + 1) & mask) {
    uint32_t v = ts->slot[i];
    if (!v) { *found = false; return i; }
    if ((v & 0x7ffff000u) == want && memcmp(ts->l[li].b + (v & 0xfff), t, n) == 0) {
      *found = true;
      return i;
    }
  }
}

static void tokset_put(tokset *ts, uint32_t i, int li, size_t n, uint32_t h, size_t off) {
  ts->slot[i] = 1u << 31 | (h >> 22) << 21 | (uint32_t)li << 20 | (uint32_t)n << 12 | (uint32_t)off;
}

static void tokset_grow(tokset *ts) {
  ts->cap *= 2;
  memset(ts->slot, 0, ts->cap * sizeof *ts->slot);
  for (int li = 0; li < 2; li++) {
    const char *b = ts->l[li].b, *p = b, *end = b + ts->l[li].len;
    while (p < end) {
      const char *sp = memchr(p, ' ', (size_t)(end - p));
      size_t n = (size_t)(sp - p);
      uint32_t h = str_hash(p, n);
      bool found;
      uint32_t i = tokset_find(ts, li, p, n, h, &found);
      tokset_put(ts, i, li, n, h, (size_t)(p - b));
      p = sp + 1;
    }
  }
}

static void tokset_add(tokset *ts, int li, const char *t, size_t n) {
  toklist *l = &ts->l[li];
  bool found;
  if (n == 0 || n > INDEX_TOKEN_MAX || l->full) return;
  uint32_t h = str_hash(t, n), i = tokset_find(ts, li, t, n, h, &found);
  if (found) return;
  if (l->len + n + 1 > sizeof l->b || ts->n + 1 > TOKSET_SLOTS_MAX / 2) {
    l->full = true; /* the rest of this list is dropped */
    return;
  }
  if ((ts->n + 1) * 2 > ts->cap) {
    tokset_grow(ts);
    i = tokset_find(ts, li, t, n, h, &found);
  }
  tokset_put(ts, i, li, n, h, l->len);
  memcpy(l->b + l->len, t, n);
  l->len += n;
  l->b[l->len++] = ' ';
  ts->n++;
}

static int word_add(void *ctx, const char *t, size_t n) {
  tokset_add(ctx, 1, t, n);
  return 0;
}

static void facet(tokset *ts, char tag, const char *v, size_t n) {
  char t[INDEX_TOKEN_MAX];
  if (n + 3 > sizeof t) return;
  t[0] = '~';
  t[1] = tag;
  t[2] = ':';
  for (size_t i = 0; i < n; i++) t[3 + i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
  tokset_add(ts, 0, t, n + 3);
}

/* A string of a body that rec_decode has checked whole (mp_check: lengths,
 * UTF-8), so it is not checked for UTF-8 a second time; lengths still are. */
static int body_str(mp_reader *r, const char **s, uint32_t *n) {
  const uint8_t *p = r->p;
  size_t left = mp_left(r), hl;
  uint32_t len;
  if (left < 1) return STOA_ETRUNCATED;
  if ((p[0] & 0xe0) == 0xa0) { len = p[0] & 0x1f; hl = 1; }
  else if (p[0] == 0xd9 && left >= 2) { len = p[1]; hl = 2; }
  else if (p[0] == 0xda && left >= 3) { len = (uint32_t)p[1] << 8 | p[2]; hl = 3; }
  else if (p[0] == 0xdb && left >= 5) {
    len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    hl = 5;
  } else {
    return mp_read_str(r, s, n); /* not a string: its error */
  }
  if (len > left - hl) return STOA_ETRUNCATED;
  *s = (const char *)p + hl;
  *n = len;
  r->p = p + hl + len;
  return 0;
}

/* One field value (not a list) into tokens and facets. */
static int field_tokens(tokset *ts, const schema_field *f, mp_reader *r) {
  const char *s;
  const uint8_t *bin;
  uint32_t n;
  int t = mp_peek(r), e;
  if (t == MP_STR) {
    if ((e = body_str(r, &s, &n))) return e;
    switch (f->type) {
    case SF_COUNTRY: facet(ts, 'c', s, n); return 0;
    case SF_THEME: facet(ts, 't', s, n); return 0;
    case SF_ENUM: facet(ts, 'y', s, n); return 0;
    case SF_STR:
      if (f->flags & SFF_TEXT) (void)fold_tokens(s, n, word_add, ts);
      return 0;
    default: return 0;
    }
  }
  if (t == MP_BIN && f->type == SF_REF) {
    char h[REF_HEX_LEN];
    if (mp_read_bin(r, &bin, &n) || n != EKEY_LEN) return STOA_EMALFORMED;
    index__ref_hex(bin, h);
    facet(ts, 'r', h, sizeof h);
    return 0;
  }
  return mp_skip(r, 1);
}

static int doc_tokens(tokset *ts, int kind, const uint8_t *body, size_t len, char *out, size_t cap,
                      size_t *outlen) {
  mp_reader r;
  uint32_t n;
  const char *k;
  uint32_t klen;
  int e;

  if (cap < DOC_TOKENS_MAX) return STOA_EINVAL;
  ts->l[0].len = ts->l[1].len = 0;
  ts->l[0].full = ts->l[1].full = false;
  ts->n = 0;
  ts->cap = TOKSET_SLOTS_MIN;
  memset(ts->slot, 0, ts->cap * sizeof *ts->slot);
  const char *kname = rec_kind_name(kind);
  if (kname) facet(ts, 'k', kname, strlen(kname));
  mp_reader_init(&r, body, len);
  if ((e = mp_read_map(&r, &n))) return e;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = body_str(&r, &k, &klen))) return e;
    const schema_field *f = schema_field_find(kind, k, klen);
    if (!f) { if ((e = mp_skip(&r, 1))) return e; continue; }
    if (mp_peek(&r) == MP_ARRAY) {
      uint32_t m;
      if ((e = mp_read_array(&r, &m))) return e;
      for (uint32_t j = 0; j < m; j++)
        if ((e = field_tokens(ts, f, &r))) return e;
    } else if ((e = field_tokens(ts, f, &r))) {
      return e;
    }
  }
  /* "facets words", cut at a token boundary to fit cap. */
  size_t o = 0;
  for (int li = 0; li < 2; li++) {
    const char *p = ts->l[li].b, *end = p + ts->l[li].len;
    if (p == end) continue;
    if (o + (o ? 1 : 0) + ts->l[li].len - 1 <= cap) { /* the whole list fits */
      if (o) out[o++] = ' ';
      memcpy(out + o, p, ts->l[li].len - 1);
      o += ts->l[li].len - 1;
      continue;
    }
    while (p < end) {
      const char *sp = memchr(p, ' ', (size_t)(end - p));
      size_t tl = (size_t)(sp - p);
      if (o + (o ? 1 : 0) + tl > cap) break;
      if (o) out[o++] = ' ';
      memcpy(out + o, p, tl);
      o += tl;
      p = sp + 1;
    }
    break;
  }
  *outlen = o;
  return 0;
}

int index__doc_tokens(int kind, const uint8_t *body, size_t len, char *out, size_t cap,
                      size_t *outlen) {
  tokset ts; /* 24 KiB on the stack, as fold.c's buffers: no malloc per record */
  return doc_tokens(&ts, kind, body, len, out, cap, outlen);
}

int store_item_prepare(store_item *it, char *toks, size_t cap) {
  size_t tl;
  it->prepared = true;
  it->prep_err = 0;
  it->toks = NULL;
  it->toks_len = 0;
  it->why.field[0] = it->why.msg[0] = 0;
  if (!it->r.body) return 0;
  it->prep_err = schema_check(it->r.h.kind, it->r.body, it->r.body_len, &it->why);
  if (it->prep_err || !toks || cap < DOC_TOKENS_MAX) return 0;
  if (index__doc_tokens(it->r.h.kind, it->r.body, it->r.body_len, toks, cap, &tl) == 0) {
    it->toks = toks;
    it->toks_len = tl;
  }
  return 0;
}

/* ---- the write transaction's entry rows ------------------------------------ */

/*
 * DB_ENT is keyed by random ids, so a batch's reads and writes of it land on
 * cold pages in random order: two B-tree searches of ~20 cache misses each
 * per record.  In a write transaction the rows are instead read ahead in key
 * order (index__ent_preload: neighbouring keys share their path down the
 * tree), kept here while the batch changes them, and written back in key
 * order before the commit (index__ent_flush).  Every access to DB_ENT in a
 * write transaction goes through index__ent_get / index__ent_put.
 */
enum { ENT_EMPTY, ENT_ABSENT, ENT_CLEAN, ENT_DIRTY, ENT_GONE /* to delete */ };
#define ENT_CACHE_MAX ((size_t)1 << 17) /* rows held before dirty ones are written */

typedef struct ent_slot {
  uint8_t dk[EKEY_LEN];
  uint8_t state;
  ent_val v;
} ent_slot;

struct ent_cache {
  ent_slot *tab;              /* open addressing, power of two */
  size_t cap, used;
  MDB_txn *txn;               /* the write transaction it belongs to */
};

static uint64_t dk_hash(const uint8_t dk[EKEY_LEN]) {
  uint64_t h;
  memcpy(&h, dk, 8); /* the id's first bytes are random */
  return h * 0x9e3779b97f4a7c15ull;
}

static ent_slot *ent_find(struct ent_cache *c, const uint8_t dk[EKEY_LEN]) {
  size_t mask = c->cap - 1, i = (size_t)(dk_hash(dk) >> 20) & mask;
  for (;; i = (i + 1) & mask) {
    ent_slot *x = &c->tab[i];
    if (x->state == ENT_EMPTY || memcmp(x->dk, dk, EKEY_LEN) == 0) return x;
  }
}

static int ent_grow(struct ent_cache *c) {
  size_t ncap = c->cap ? c->cap * 2 : 4096;
  ent_slot *old = c->tab, *nt = calloc(ncap, sizeof *nt);
  size_t ocap = c->cap;
  if (!nt) return STOA_ENOMEM;
  c->tab = nt;
  c->cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].state != ENT_EMPTY) *ent_find(c, old[i].dk) = old[i];
  free(old);
  return 0;
}

int index__ent_begin(store *s, MDB_txn *txn) {
  struct ent_cache *c = s->ents;
  if (!c && !(c = s->ents = calloc(1, sizeof *c))) return STOA_ENOMEM;
  if (c->used) memset(c->tab, 0, c->cap * sizeof *c->tab);
  c->used = 0;
  c->txn = txn;
  return 0;
}

void index__ent_free(store *s) {
  if (!s->ents) return;
  free(s->ents->tab);
  free(s->ents);
  s->ents = NULL;
}

static bool ent_cached(store *s, MDB_txn *txn) { return s->ents && s->ents->txn == txn && txn; }

static int cmp_slot_dk(const void *tab, uint64_t a, uint64_t b) {
  return memcmp(((const ent_slot *)tab)[a].dk, ((const ent_slot *)tab)[b].dk, EKEY_LEN);
}

/* Writes the changed rows in key order and empties the cache. */
int index__ent_flush(store *s, MDB_txn *txn) {
  struct ent_cache *c = s->ents;
  MDB_cursor *cur;
  sort_ent *v;
  int rc, e = 0;
  if (!ent_cached(s, txn) || !c->used) return 0;
  if (!(v = malloc(c->used * sizeof *v))) return STOA_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->tab[i].state == ENT_DIRTY || c->tab[i].state == ENT_GONE)
      v[m++] = (sort_ent){ sort_key(c->tab[i].dk, EKEY_LEN), i };
  if ((e = store__sort(v, m, cmp_slot_dk, c->tab))) { free(v); return e; }
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_ENT], &cur))) { free(v); return store__err(rc); }
  for (size_t i = 0; i < m && !e; i++) {
    uint8_t pv[ENT_VAL_LEN];
    const ent_slot *x = &c->tab[v[i].idx];
    MDB_val k = { EKEY_LEN, (void *)x->dk }, d = { ENT_VAL_LEN, pv };
    if (x->state == ENT_GONE) { /* an entry whose every version became void */
      rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
      e = rc == MDB_NOTFOUND ? 0 : store__err(rc ? rc : mdb_cursor_del(cur, 0));
      continue;
    }
    ent_val_pack(&x->v, pv);
    e = store__err(mdb_cursor_put(cur, &k, &d, 0));
  }
  mdb_cursor_close(cur);
  free(v);
  memset(c->tab, 0, c->cap * sizeof *c->tab);
  c->used = 0;
  return e;
}

static int ent_insert(store *s, const uint8_t dk[EKEY_LEN], int state, const ent_val *v) {
  struct ent_cache *c = s->ents;
  int e;
  if ((c->used + 1) * 2 > c->cap && (e = ent_grow(c))) return e;
  ent_slot *x = ent_find(c, dk);
  if (x->state == ENT_EMPTY) {
    memcpy(x->dk, dk, EKEY_LEN);
    c->used++;
  }
  x->state = (uint8_t)state;
  if (v) x->v = *v;
  return 0;
}

/* Reads an entry's row: 0, or STOA_ENOTFOUND. */
int index__ent_get(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], ent_val *v) {
  MDB_val k = { EKEY_LEN, (void *)dk }, d;
  int rc, e;
  if (ent_cached(s, txn) && s->ents->cap) {
    ent_slot *x = ent_find(s->ents, dk);
    if (x->state == ENT_ABSENT || x->state == ENT_GONE) return STOA_ENOTFOUND;
    if (x->state != ENT_EMPTY) { *v = x->v; return 0; }
  }
  rc = mdb_get(txn, s->dbi[DB_ENT], &k, &d);
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  if (!rc && (e = ent_val_unpack(&d, v))) return e;
  if (ent_cached(s, txn) && (e = ent_insert(s, dk, rc ? ENT_ABSENT : ENT_CLEAN, rc ? NULL : v)))
    return e;
  return rc ? STOA_ENOTFOUND : 0;
}

int index__ent_put(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], const ent_val *v) {
  int e;
  if (!ent_cached(s, txn)) {
    uint8_t pv[ENT_VAL_LEN];
    ent_val_pack(v, pv);
    MDB_val k = { EKEY_LEN, (void *)dk }, d = { ENT_VAL_LEN, pv };
    return store__err(mdb_put(txn, s->dbi[DB_ENT], &k, &d, 0));
  }
  if (s->ents->used >= ENT_CACHE_MAX && (e = index__ent_flush(s, txn))) return e;
  return ent_insert(s, dk, ENT_DIRTY, v);
}

/* Deletes an entry's row (through the cache in a write transaction). */
static int ent_del(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN]) {
  int e;
  if (!ent_cached(s, txn)) {
    MDB_val k = { EKEY_LEN, (void *)dk };
    int rc = mdb_del(txn, s->dbi[DB_ENT], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : store__err(rc);
  }
  if (s->ents->used >= ENT_CACHE_MAX && (e = index__ent_flush(s, txn))) return e;
  return ent_insert(s, dk, ENT_GONE, NULL);
}

static int cmp_dk(const void *dks, uint64_t a, uint64_t b) {
  const uint8_t *k = dks;
  return memcmp(k + a * EKEY_LEN, k + b * EKEY_LEN, EKEY_LEN);
}

/* Reads the rows of n entry keys into the cache, walking DB_ENT in key
 * order with one cursor. */
int index__ent_preload(store *s, MDB_txn *txn, uint8_t (*dks)[EKEY_LEN], size_t n) {
  MDB_cursor *cur;
  sort_ent *v;
  int rc, e = 0;
  if (!ent_cached(s, txn) || !n) return 0;
  if (s->ents->used + n > ENT_CACHE_MAX) return 0; /* would not stay: read on demand */
  if (!(v = malloc(n * sizeof *v))) return STOA_ENOMEM;
  for (size_t i = 0; i < n; i++) v[i] = (sort_ent){ sort_key(dks[i], EKEY_LEN), i };
  if ((e = store__sort(v, n, cmp_dk, dks)) ||
      (e = store__err(mdb_cursor_open(txn, s->dbi[DB_ENT], &cur)))) {
    free(v);
    return e;
  }
  for (size_t i = 0; i < n && !e; i++) {
    const uint8_t *dk = dks[v[i].idx];
    if (s->ents->cap && ent_find(s->ents, dk)->state != ENT_EMPTY) continue; /* or a repeat */
    MDB_val k = { EKEY_LEN, (void *)dk }, d;
    ent_val ev;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
    if (rc == MDB_NOTFOUND) e = ent_insert(s, dk, ENT_ABSENT, NULL);
    else if (rc) e = store__err(rc);
    else if (!(e = ent_val_unpack(&d, &ev))) e = ent_insert(s, dk, ENT_CLEAN, &ev);
  }
  mdb_cursor_close(cur);
  free(v);
  return e;
}

/* ---- putting a record ------------------------------------------------------ */

static int doc_add(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], int kind,
                   const uint8_t *body, size_t blen, const doc_toks *t, uint64_t *docid) {
  uint8_t *val = s->scr->doc;
  const char *toks;
  size_t tl;
  uint8_t kb[8];
  int e;
  if (t && t->p) {
    toks = t->p;
    tl = t->len;
  } else {
    if ((e = index__doc_tokens(kind, body, blen, s->scr->toks, DOC_TOKENS_MAX, &tl))) return e;
    toks = s->scr->toks;
  }
  if (tl > DOC_TOKENS_MAX) return STOA_EINVAL;
  uint64_t next = ++s->tx_docid;
  memcpy(val, dk, EKEY_LEN);
  val[EKEY_LEN] = (uint8_t)kind;
  memcpy(val + EKEY_LEN + 1, toks, tl);
  put_be64(kb, next);
  /* Document ids only grow: an append, never a page split in the middle. */
  MDB_val k = { 8, kb }, d = { EKEY_LEN + 1 + tl, val };
  if ((e = store__err(mdb_put(txn, s->dbi[DB_DOC], &k, &d, MDB_APPEND)))) return e;
  if ((e = acc_add_doc(s, toks, tl, next))) return e;
  *docid = next;
  return 0;
}

static int doc_del(store *s, MDB_txn *txn, uint64_t docid) {
  uint8_t kb[8];
  if (!docid) return 0;
  put_be64(kb, docid);
  MDB_val k = { 8, kb };
  int rc = mdb_del(txn, s->dbi[DB_DOC], &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

#define HK_LEN (EKEY_LEN + 8 + HASH_LEN)

static void hist_key(uint8_t hk[HK_LEN], const uint8_t dk[EKEY_LEN], uint64_t ts,
                     const uint8_t hash[HASH_LEN]) {
  memcpy(hk, dk, EKEY_LEN);
  put_be64(hk + EKEY_LEN, ts);
  memcpy(hk + EKEY_LEN + 8, hash, HASH_LEN);
}

/* A version's DB_HIST row: valid (empty value) or void (HIST_VOID). */
static int hist_put(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], uint64_t ts,
                    const uint8_t hash[HASH_LEN], bool is_void) {
  uint8_t hk[HK_LEN], mark = HIST_VOID;
  hist_key(hk, dk, ts, hash);
  MDB_val k = { sizeof hk, hk }, d = { is_void ? 1 : 0, is_void ? &mark : NULL };
  return store__err(mdb_put(txn, s->dbi[DB_HIST], &k, &d, 0));
}

/* A version's row: 1 valid, 0 void, STOA_ENOTFOUND none. */
static int hist_get(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], uint64_t ts,
                    const uint8_t hash[HASH_LEN]) {
  uint8_t hk[HK_LEN];
  hist_key(hk, dk, ts, hash);
  MDB_val k = { sizeof hk, hk }, d;
  int rc = mdb_get(txn, s->dbi[DB_HIST], &k, &d);
  if (rc) return store__err(rc);
  return d.mv_size == 0;
}

static int hist_del(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], uint64_t ts,
                    const uint8_t hash[HASH_LEN]) {
  uint8_t hk[HK_LEN];
  hist_key(hk, dk, ts, hash);
  MDB_val k = { sizeof hk, hk };
  int rc = mdb_del(txn, s->dbi[DB_HIST], &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : store__err(rc);
}

/* The DB_HIST rows of an entry, in order: valid versions only, or void ones
 * too.  *any is set when a row was passed to cb. */
static int hist_walk(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], bool void_too,
                     index_version_cb cb, void *ctx, bool *any) {
  uint8_t key[HK_LEN] = { 0 };
  MDB_cursor *cur;
  MDB_val k = { sizeof key, key }, d;
  int rc, e = 0;
  memcpy(key, dk, EKEY_LEN);
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_HIST], &cur))) return store__err(rc);
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != sizeof key || memcmp(kb, key, EKEY_LEN)) break;
    if (d.mv_size && !void_too) continue; /* a void version: held, not part of the entry */
    /* Copied out: the callback may write (an erasure rewrites records). */
    uint8_t h[HASH_LEN];
    memcpy(h, kb + EKEY_LEN + 8, HASH_LEN);
    *any = true;
    if ((e = cb(ctx, get_be64(kb + EKEY_LEN), h))) break;
  }
  mdb_cursor_close(cur);
  if (!e && rc && rc != MDB_NOTFOUND) e = store__err(rc);
  return e;
}

int index__versions(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], index_version_cb cb,
                    void *ctx) {
  ent_val v;
  bool any = false;
  int e;
  if ((e = index__ent_get(s, txn, dk, &v))) return e;
  if (v.versions == 1) return cb(ctx, v.ts, v.hash);
  return hist_walk(s, txn, dk, false, cb, ctx, &any);
}

/* Every held version of an entry, valid or void (an erasure drops the bodies
 * of both); the entry row's single version first, then DB_HIST's rows.
 * STOA_ENOTFOUND when the store holds no version of it. */
static int versions_all(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], index_version_cb cb,
                        void *ctx) {
  ent_val v;
  bool any = false;
  int e = index__ent_get(s, txn, dk, &v);
  if (e && e != STOA_ENOTFOUND) return e;
  if (!e && v.versions == 1) {
    if ((e = cb(ctx, v.ts, v.hash))) return e;
    any = true;
  }
  if ((e = hist_walk(s, txn, dk, true, cb, ctx, &any))) return e;
  return any ? 0 : STOA_ENOTFOUND;
}

int index__record(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                  int put, const doc_toks *t, bool valid, store_counts *c) {
  uint8_t dk[EKEY_LEN], sk[8];
  uint8_t stub[REC_HDR_MAX + 128];
  uint64_t until = 0;
  ent_val v;
  MDB_val k, d;
  int rc, e;
  bool erased = false;

  memcpy(dk, r->h.id, ID_LEN);
  memcpy(dk + ID_LEN, r->h.owner, KEY_LEN);
  /* A version that an erasure covers is kept as a stub, never with its body. */
  k.mv_size = EKEY_LEN;
  k.mv_data = dk;
  if (s->tx_erased_any && mdb_get(txn, s->dbi[DB_ERASED], &k, &d) == 0 && d.mv_size == 8)
    until = get_be64(d.mv_data);
  if (!r->body || (until && r->h.ts <= until)) {
    erased = true;
    if (r->body) {
      size_t sl;
      if ((e = rec_stub(r, stub, sizeof stub, &sl))) return e;
      buf = stub;
      len = sl;
      if (c) c->erased_bodies++;
    }
  }
  if (put != IDX_NONE) {
    put_be64(sk, ++s->tx_seq);
    k.mv_size = HASH_LEN;
    k.mv_data = (void *)r->hash;
    d.mv_size = 8;
    d.mv_data = sk;
    if (put == IDX_ALL && (rc = mdb_put(txn, s->dbi[DB_REC], &k, &d, MDB_NOOVERWRITE)))
      return store__err(rc);
    k.mv_size = 8;
    k.mv_data = sk;
    d.mv_size = len;
    d.mv_data = (void *)buf;
    if ((rc = mdb_put(txn, s->dbi[DB_SEQ], &k, &d, MDB_APPEND))) return store__err(rc);
  }
  if (!valid) return hist_put(s, txn, dk, r->h.ts, r->hash, true);

  e = index__ent_get(s, txn, dk, &v);
  if (e == 0) {
    /* A second version: the first, until now in the entry row alone, goes
     * into the history too. */
    if (v.versions == 1 && (e = hist_put(s, txn, dk, v.ts, v.hash, false))) return e;
    if ((e = hist_put(s, txn, dk, r->h.ts, r->hash, false))) return e;
    v.versions++;
    if (v.kind != r->h.kind || /* an entry never changes kind: keep the first */
        rec_cmp_version(r->h.ts, r->hash, v.ts, v.hash) <= 0)
      return index__ent_put(s, txn, dk, &v);
    if ((e = doc_del(s, txn, v.docid))) return e;
    v.docid = 0;
    v.ts = r->h.ts;
    memcpy(v.hash, r->hash, HASH_LEN);
    v.erased = erased;
  } else if (e == STOA_ENOTFOUND) {
    memset(&v, 0, sizeof v);
    v.versions = 1;
    v.kind = (uint8_t)r->h.kind;
    v.ts = r->h.ts;
    memcpy(v.hash, r->hash, HASH_LEN);
    v.erased = erased;
  } else {
    return e;
  }
  if (!erased && (e = doc_add(s, txn, dk, r->h.kind, r->body, r->body_len, t, &v.docid))) return e;
  return index__ent_put(s, txn, dk, &v);
}

typedef struct erase_ctx {
  store *s;
  MDB_txn *txn;
  uint64_t until;
  store_counts *c;
} erase_ctx;

/* One version of the entry: its body goes when the erasure covers it. */
static int erase_version(void *vctx, uint64_t ts, const uint8_t hash[HASH_LEN]) {
  erase_ctx *x = vctx;
  uint8_t stub[REC_HDR_MAX + 128], sk[8];
  uint64_t seq;
  MDB_val env;
  rec r;
  size_t sl;
  int e;
  if (ts > x->until) return 0;
  if ((e = store__rec_get(x->s, x->txn, hash, &env, &seq))) return e;
  if (rec_decode(env.mv_data, env.mv_size, &r)) return STOA_ECORRUPT;
  if (!r.body) return 0;
  if ((e = rec_stub(&r, stub, sizeof stub, &sl))) return e;
  put_be64(sk, seq);
  MDB_val k = { 8, sk }, d = { sl, stub };
  if ((e = store__err(mdb_put(x->txn, x->s->dbi[DB_SEQ], &k, &d, 0)))) return e;
  if (x->c) x->c->erased_bodies++;
  return 0;
}

int index__erase(store *s, MDB_txn *txn, const uint8_t ekey[EKEY_LEN], uint64_t until,
                 store_counts *c) {
  uint8_t dk[EKEY_LEN];
  erase_ctx x = { s, txn, until, c };
  ent_val v;
  int e;

  ekey_to_dbkey(ekey, dk);
  e = versions_all(s, txn, dk, erase_version, &x);
  if (e == STOA_ENOTFOUND) return 0; /* nothing of the entry is held yet */
  if (e) return e;
  /* The current version: out of the full-text index when its body is gone. */
  if ((e = index__ent_get(s, txn, dk, &v))) return e == STOA_ENOTFOUND ? 0 : e;
  if (v.ts > until || v.erased) return 0;
  if ((e = doc_del(s, txn, v.docid))) return e;
  v.docid = 0;
  v.erased = 1;
  return index__ent_put(s, txn, dk, &v);
}

/* ---- re-judging: versions that become void or valid again ------------------- */

static void rec_dk(const rec *r, uint8_t dk[EKEY_LEN]) {
  memcpy(dk, r->h.id, ID_LEN);
  memcpy(dk + ID_LEN, r->h.owner, KEY_LEN);
}

/* An entry's row as index__ent_get reads it, but without keeping it in the
 * cache: a re-judging pass over every record must not hold every row. */
static int ent_peek(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], ent_val *v) {
  MDB_val k = { EKEY_LEN, (void *)dk }, d;
  if (ent_cached(s, txn) && s->ents->cap) {
    ent_slot *x = ent_find(s->ents, dk);
    if (x->state == ENT_ABSENT || x->state == ENT_GONE) return STOA_ENOTFOUND;
    if (x->state != ENT_EMPTY) { *v = x->v; return 0; }
  }
  int rc = mdb_get(txn, s->dbi[DB_ENT], &k, &d);
  return rc ? store__err(rc) : ent_val_unpack(&d, v);
}

int index__state(store *s, MDB_txn *txn, const rec *r) {
  uint8_t dk[EKEY_LEN];
  ent_val v;
  int e;
  rec_dk(r, dk);
  if ((e = ent_peek(s, txn, dk, &v)) && e != STOA_ENOTFOUND) return e;
  uint32_t versions = e ? 0 : v.versions;
  if (versions == 1 && !memcmp(v.hash, r->hash, HASH_LEN)) return 1;
  e = hist_get(s, txn, dk, r->h.ts, r->hash);
  if (e == 1 && versions < 2) return STOA_ECORRUPT; /* a valid row the entry does not count */
  return e;
}

/* The entry's current version among its remaining valid ones: the newest of
 * the entry's kind (index__record never makes another kind current), else
 * the newest.  When `drop_last` (one valid version is left, which belongs in
 * the entry row alone), its DB_HIST row is deleted.  Reads each candidate's
 * header from newest to oldest: an entry has few versions. */
typedef struct pick { uint64_t ts; uint8_t hash[HASH_LEN]; int kind; bool found; } pick;

static int pick_current(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], int kind,
                        bool drop_last, pick *out) {
  uint8_t key[HK_LEN];
  MDB_cursor *cur;
  MDB_val k = { sizeof key, key }, d, env;
  pick first = { 0 };
  int rc, e = 0;
  out->found = false;
  memcpy(key, dk, EKEY_LEN);
  memset(key + EKEY_LEN, 0xff, sizeof key - EKEY_LEN);
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_HIST], &cur))) return store__err(rc);
  rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
  rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV) : mdb_cursor_get(cur, &k, &d, MDB_LAST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_PREV)) {
    const uint8_t *kb = k.mv_data;
    pick p;
    rec r;
    if (k.mv_size != sizeof key || memcmp(kb, dk, EKEY_LEN)) break;
    if (d.mv_size) continue; /* void */
    p.ts = get_be64(kb + EKEY_LEN);
    memcpy(p.hash, kb + EKEY_LEN + 8, HASH_LEN);
    if ((e = store__rec_get(s, txn, p.hash, &env, NULL))) break;
    if (rec_decode(env.mv_data, env.mv_size, &r)) { e = STOA_ECORRUPT; break; }
    p.kind = r.h.kind;
    p.found = true;
    if (!first.found) first = p;
    if (p.kind == kind) { *out = p; break; }
  }
  mdb_cursor_close(cur);
  if (e) return e;
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  if (!out->found) *out = first;
  if (drop_last && out->found) return hist_del(s, txn, dk, out->ts, out->hash);
  return 0;
}

/* Makes `p` the entry's current version: a fresh search document from its
 * body (none when erased). */
static int make_current(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], ent_val *v,
                        const pick *p) {
  MDB_val env;
  rec r;
  int e;
  if ((e = doc_del(s, txn, v->docid))) return e;
  v->docid = 0;
  v->ts = p->ts;
  memcpy(v->hash, p->hash, HASH_LEN);
  v->kind = (uint8_t)p->kind;
  if ((e = store__rec_get(s, txn, p->hash, &env, NULL))) return e;
  if (rec_decode(env.mv_data, env.mv_size, &r)) return STOA_ECORRUPT;
  v->erased = r.body == NULL;
  /* The tokens are computed from the body before anything is written, so
   * the map page it lies in cannot move under them. */
  if (r.body) return doc_add(s, txn, dk, r.h.kind, r.body, r.body_len, NULL, &v->docid);
  return 0;
}

int index__void(store *s, MDB_txn *txn, const rec *r) {
  uint8_t dk[EKEY_LEN];
  ent_val v;
  pick p;
  int e;
  rec_dk(r, dk);
  e = index__ent_get(s, txn, dk, &v);
  if (e == STOA_ENOTFOUND) goto mark;
  if (e) return e;
  if (v.versions == 1) {
    if (memcmp(v.hash, r->hash, HASH_LEN)) goto mark; /* not indexed */
    /* Its only valid version: the entry goes. */
    if ((e = doc_del(s, txn, v.docid)) || (e = ent_del(s, txn, dk))) return e;
    goto mark;
  }
  if ((e = hist_get(s, txn, dk, r->h.ts, r->hash)) != 1) {
    if (e < 0 && e != STOA_ENOTFOUND) return e;
    goto mark; /* void already, or not held under this entry */
  }
  if ((e = hist_del(s, txn, dk, r->h.ts, r->hash))) return e;
  v.versions--;
  bool was_current = !memcmp(v.hash, r->hash, HASH_LEN);
  if (v.versions == 1 || was_current) {
    if ((e = pick_current(s, txn, dk, v.kind, v.versions == 1, &p))) return e;
    if (!p.found) return STOA_ECORRUPT; /* versions counted more rows than there are */
    if (was_current && (e = make_current(s, txn, dk, &v, &p))) return e;
  }
  if ((e = index__ent_put(s, txn, dk, &v))) return e;
mark:
  return hist_put(s, txn, dk, r->h.ts, r->hash, true);
}

int index__unvoid(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len) {
  uint8_t dk[EKEY_LEN];
  int e;
  rec_dk(r, dk);
  if ((e = hist_del(s, txn, dk, r->h.ts, r->hash))) return e;
  return index__record(s, txn, r, buf, len, IDX_NONE, NULL, true, NULL);
}
