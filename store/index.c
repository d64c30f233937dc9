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

typedef struct acc_ent {
  uint32_t tok_off;           /* into arena; token is NUL-terminated */
  uint32_t tok_len;
  uint32_t hash;
  uint64_t *ids;
  uint32_t n, cap;
} acc_ent;

struct fts_acc {
  acc_ent *tab;               /* open addressing, power of two */
  size_t cap, used;
  char *arena;
  size_t alen, acap;
};

static uint32_t tok_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h | 1; /* 0 marks an empty slot */
}

static void acc_clear(struct fts_acc *a) {
  if (!a->tab) return;
  for (size_t i = 0; i < a->cap; i++) free(a->tab[i].ids);
  memset(a->tab, 0, a->cap * sizeof *a->tab);
  a->used = 0;
  a->alen = 0;
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
  acc_clear(s->acc);
  free(s->acc->tab);
  free(s->acc->arena);
  free(s->acc);
  s->acc = NULL;
}

static int acc_grow(struct fts_acc *a) {
  size_t ncap = a->cap ? a->cap * 2 : 4096;
  acc_ent *nt = calloc(ncap, sizeof *nt);
  if (!nt) return STOA_ENOMEM;
  for (size_t i = 0; i < a->cap; i++) {
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

static int acc_add(struct fts_acc *a, const char *tok, size_t n, uint64_t docid) {
  int e;
  if ((a->used + 1) * 2 > a->cap && (e = acc_grow(a))) return e;
  uint32_t h = tok_hash(tok, n);
  size_t j = h & (a->cap - 1);
  while (a->tab[j].hash) {
    acc_ent *x = &a->tab[j];
    if (x->hash == h && x->tok_len == n && memcmp(a->arena + x->tok_off, tok, n) == 0) break;
    j = (j + 1) & (a->cap - 1);
  }
  acc_ent *x = &a->tab[j];
  if (!x->hash) {
    if (a->alen + n + 1 > a->acap) {
      size_t nc = a->acap ? a->acap * 2 : 65536;
      while (nc < a->alen + n + 1) nc *= 2;
      char *p = realloc(a->arena, nc);
      if (!p) return STOA_ENOMEM;
      a->arena = p;
      a->acap = nc;
    }
    x->hash = h;
    x->tok_off = (uint32_t)a->alen;
    x->tok_len = (uint32_t)n;
    memcpy(a->arena + a->alen, tok, n);
    a->arena[a->alen + n] = 0;
    a->alen += n + 1;
    a->used++;
  }
  if (x->n && x->ids[x->n - 1] == docid) return 0;
  if (x->n == x->cap) {
    uint32_t nc = x->cap ? x->cap * 2 : 4;
    uint64_t *p = realloc(x->ids, nc * sizeof *p);
    if (!p) return STOA_ENOMEM;
    x->ids = p;
    x->cap = nc;
  }
  x->ids[x->n++] = docid;
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

static int seg_put(MDB_txn *txn, MDB_dbi dbi, const char *tok, size_t tlen,
                   const uint64_t *ids, size_t n) {
  uint8_t key[FTS_KEY_MAX], val[10 + SEG_TARGET * 10];
  size_t vl = varint_put(val, n);
  for (size_t i = 0; i < n; i++) vl += varint_put(val + vl, i ? ids[i] - ids[i - 1] : 0);
  memcpy(key, tok, tlen);
  key[tlen] = 0;
  put_be64(key + tlen + 1, ids[0]);
  MDB_val k = { tlen + 9, key }, d = { vl, val };
  return store__err(mdb_put(txn, dbi, &k, &d, 0));
}

/* Appends ids (ascending, all larger than any stored) to a token's postings. */
static int postings_append(store *s, MDB_txn *txn, MDB_cursor *cur, const char *tok,
                           size_t tlen, const uint64_t *ids, size_t n) {
  static uint64_t buf[SEG_TARGET * 2];
  uint8_t key[FTS_KEY_MAX];
  size_t have = 0;
  int rc, e;

  memcpy(key, tok, tlen);
  key[tlen] = 0;
  memset(key + tlen + 1, 0xff, 8);
  MDB_val k = { tlen + 9, key }, d;
  rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
  rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV) : mdb_cursor_get(cur, &k, &d, MDB_LAST);
  if (rc == 0 && k.mv_size == tlen + 9 && memcmp(k.mv_data, key, tlen + 1) == 0) {
    int got = index__seg_decode(get_be64((uint8_t *)k.mv_data + tlen + 1), d.mv_data, d.mv_size,
                                buf, SEG_TARGET);
    if (got < 0) return STOA_ECORRUPT;
    if ((size_t)got < SEG_TARGET) have = (size_t)got; /* fill the last segment up */
  } else if (rc && rc != MDB_NOTFOUND) {
    return store__err(rc);
  }
  while (n) {
    size_t take = SEG_TARGET - have < n ? SEG_TARGET - have : n;
    memcpy(buf + have, ids, take * sizeof *ids);
    if ((e = seg_put(txn, s->dbi[DB_FTS], tok, tlen, buf, have + take))) return e;
    ids += take;
    n -= take;
    have = 0;
  }
  return 0;
}

static int cmp_ent(const void *a, const void *b, void *arena) {
  const acc_ent *x = a, *y = b;
  return strcmp((char *)arena + x->tok_off, (char *)arena + y->tok_off);
}

/* Writes the batch's postings in token order (sequential pages). */
int index__acc_flush(store *s, MDB_txn *txn) {
  struct fts_acc *a = s->acc;
  MDB_cursor *cur;
  int rc, e = 0;
  if (!a || !a->used) return 0;
  size_t m = 0;
  for (size_t i = 0; i < a->cap; i++)
    if (a->tab[i].hash) a->tab[m++] = a->tab[i];
  memset(a->tab + m, 0, (a->cap - m) * sizeof *a->tab);
  qsort_r(a->tab, m, sizeof *a->tab, cmp_ent, a->arena);
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_FTS], &cur))) return store__err(rc);
  for (size_t i = 0; i < m && !e; i++) {
    acc_ent *x = &a->tab[i];
    const char *tok = a->arena + x->tok_off;
    e = postings_append(s, txn, cur, tok, x->tok_len, x->ids, x->n);
    if (e) break;
    MDB_val k = { x->tok_len, (void *)tok }, d;
    uint64_t cnt = 0;
    uint8_t b[8];
    if (mdb_get(txn, s->dbi[DB_VOC], &k, &d) == 0 && d.mv_size == 8) cnt = get_be64(d.mv_data);
    put_be64(b, cnt + x->n);
    d.mv_size = 8;
    d.mv_data = b;
    e = store__err(mdb_put(txn, s->dbi[DB_VOC], &k, &d, 0));
  }
  mdb_cursor_close(cur);
  /* The table was compacted for sorting: rebuild it empty for reuse. */
  acc_clear(a);
  return e;
}

/* ---- document tokens ----------------------------------------------------- */

typedef struct tokbuf {
  char *out;
  size_t cap, len;
  uint32_t offs[2048];
  uint16_t lens[2048];
  size_t n;
  bool full;
} tokbuf;

static int tok_add(void *ctx, const char *t, size_t n) {
  tokbuf *b = ctx;
  if (b->n == 2048 || b->len + n + 1 > b->cap) { b->full = true; return 0; }
  b->offs[b->n] = (uint32_t)b->len;
  b->lens[b->n++] = (uint16_t)n;
  memcpy(b->out + b->len, t, n);
  b->len += n;
  b->out[b->len++] = ' ';
  return 0;
}

static int facet(tokbuf *b, char tag, const char *v, size_t n) {
  char t[80];
  if (n + 3 > sizeof t) return 0;
  t[0] = '~';
  t[1] = tag;
  t[2] = ':';
  for (size_t i = 0; i < n; i++) t[3 + i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
  return tok_add(b, t, n + 3);
}

static void hex(const uint8_t *p, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) { out[2 * i] = d[p[i] >> 4]; out[2 * i + 1] = d[p[i] & 15]; }
}

/* One field value (not a list) into tokens and facets. */
static int field_tokens(tokbuf *b, const schema_field *f, mp_reader *r) {
  const char *s;
  const uint8_t *bin;
  uint32_t n;
  int t = mp_peek(r);
  if (t == MP_STR) {
    if (mp_read_str(r, &s, &n)) return STOA_EMALFORMED;
    switch (f->type) {
    case SF_COUNTRY: return facet(b, 'c', s, n);
    case SF_THEME: return facet(b, 't', s, n);
    case SF_ENUM: return facet(b, 'y', s, n);
    case SF_STR:
      if (f->flags & SFF_TEXT) return fold_tokens(s, n, tok_add, b) < 0 ? 0 : 0;
      return 0;
    default: return 0;
    }
  }
  if (t == MP_BIN && f->type == SF_REF) {
    char h[2 * ID_LEN];
    if (mp_read_bin(r, &bin, &n) || n != EKEY_LEN) return STOA_EMALFORMED;
    hex(bin + KEY_LEN, ID_LEN, h);
    return facet(b, 'r', h, sizeof h);
  }
  return mp_skip(r, 1);
}

static int cmp_tok(const void *a, const void *bb, void *ctx) {
  const tokbuf *b = ctx;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)bb;
  size_t lx = b->lens[x], ly = b->lens[y];
  int c = memcmp(b->out + b->offs[x], b->out + b->offs[y], lx < ly ? lx : ly);
  return c ? c : (lx > ly) - (lx < ly);
}

int index__doc_tokens(int kind, const uint8_t *body, size_t len, char *out, size_t cap,
                      size_t *outlen) {
  static tokbuf b;       /* 12 KiB of offsets: not on the stack */
  static char raw[DOC_TOKENS_MAX * 4];
  static uint32_t order[2048];
  mp_reader r;
  uint32_t n;
  const char *k;
  uint32_t klen;
  int e;

  b.out = raw;
  b.cap = sizeof raw;
  b.len = b.n = 0;
  b.full = false;
  const char *kname = rec_kind_name(kind);
  if ((e = facet(&b, 'k', kname, strlen(kname)))) return e;
  mp_reader_init(&r, body, len);
  if ((e = mp_read_map(&r, &n))) return e;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = mp_read_str(&r, &k, &klen))) return e;
    const schema_field *f = schema_field_find(kind, k, klen);
    if (!f) { if ((e = mp_skip(&r, 1))) return e; continue; }
    if (mp_peek(&r) == MP_ARRAY) {
      uint32_t m;
      if ((e = mp_read_array(&r, &m))) return e;
      for (uint32_t j = 0; j < m; j++)
        if ((e = field_tokens(&b, f, &r))) return e;
    } else if ((e = field_tokens(&b, f, &r))) {
      return e;
    }
  }
  /* Sort and drop duplicates; write "tok tok tok". */
  for (size_t i = 0; i < b.n; i++) order[i] = (uint32_t)i;
  qsort_r(order, b.n, sizeof *order, cmp_tok, &b);
  size_t o = 0;
  for (size_t i = 0; i < b.n; i++) {
    uint32_t x = order[i];
    if (i && cmp_tok(&order[i - 1], &x, &b) == 0) continue;
    if (o + b.lens[x] + 1 > cap) break;
    memcpy(out + o, b.out + b.offs[x], b.lens[x]);
    o += b.lens[x];
    out[o++] = ' ';
  }
  *outlen = o ? o - 1 : 0;
  return 0;
}

/* ---- putting a record ------------------------------------------------------ */

static int doc_add(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], int kind,
                   const uint8_t *body, size_t blen, uint64_t *docid) {
  static char val[EKEY_LEN + 1 + DOC_TOKENS_MAX];
  size_t tl;
  uint64_t next;
  uint8_t kb[8];
  int e;
  if ((e = index__doc_tokens(kind, body, blen, val + EKEY_LEN + 1, DOC_TOKENS_MAX, &tl))) return e;
  if ((e = store__meta_u64(txn, s, "docid", &next))) return e;
  next++;
  if ((e = store__meta_put_u64(txn, s, "docid", next))) return e;
  memcpy(val, dk, EKEY_LEN);
  val[EKEY_LEN] = (char)kind;
  put_be64(kb, next);
  MDB_val k = { 8, kb }, d = { EKEY_LEN + 1 + tl, val };
  if ((e = store__err(mdb_put(txn, s->dbi[DB_DOC], &k, &d, 0)))) return e;
  /* Postings: every token of the list. */
  const char *p = val + EKEY_LEN + 1, *end = p + tl;
  while (p < end) {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
    if (n && (e = acc_add(s->acc, p, n, next))) return e;
    p += n + 1;
  }
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

int index__record(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                  bool put_rec, store_counts *c) {
  uint8_t dk[EKEY_LEN], hk[EKEY_LEN + 8 + HASH_LEN], sk[8];
  uint8_t stub[REC_HDR_MAX + 128];
  uint64_t seq, until = 0;
  ent_val v;
  MDB_val k, d;
  int rc, e;
  bool erased = false;

  memcpy(dk, r->h.id, ID_LEN);
  memcpy(dk + ID_LEN, r->h.owner, KEY_LEN);
  /* A version that an erasure covers is kept as a stub, never with its body. */
  k.mv_size = EKEY_LEN;
  k.mv_data = dk;
  if (mdb_get(txn, s->dbi[DB_ERASED], &k, &d) == 0 && d.mv_size == 8) until = get_be64(d.mv_data);
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
  if (!put_rec) goto indexes; /* reindex: the record and its sequence stay */
  k.mv_size = HASH_LEN;
  k.mv_data = (void *)r->hash;
  d.mv_size = len;
  d.mv_data = (void *)buf;
  if ((rc = mdb_put(txn, s->dbi[DB_REC], &k, &d, MDB_NOOVERWRITE))) return store__err(rc);
  if ((e = store__meta_u64(txn, s, "seq", &seq))) return e;
  seq++;
  if ((e = store__meta_put_u64(txn, s, "seq", seq))) return e;
  put_be64(sk, seq);
  k.mv_size = 8;
  k.mv_data = sk;
  d.mv_size = HASH_LEN;
  d.mv_data = (void *)r->hash;
  if ((rc = mdb_put(txn, s->dbi[DB_SEQ], &k, &d, MDB_APPEND))) return store__err(rc);

indexes:
  memcpy(hk, dk, EKEY_LEN);
  put_be64(hk + EKEY_LEN, r->h.ts);
  memcpy(hk + EKEY_LEN + 8, r->hash, HASH_LEN);
  k.mv_size = sizeof hk;
  k.mv_data = hk;
  d.mv_size = 0;
  d.mv_data = NULL;
  if ((rc = mdb_put(txn, s->dbi[DB_HIST], &k, &d, 0))) return store__err(rc);

  k.mv_size = EKEY_LEN;
  k.mv_data = dk;
  rc = mdb_get(txn, s->dbi[DB_ENT], &k, &d);
  if (rc == 0) {
    if ((e = ent_val_unpack(&d, &v))) return e;
    v.versions++;
    if (v.kind != r->h.kind) { /* an entry never changes kind: keep the first */
      uint8_t pv[ENT_VAL_LEN];
      ent_val_pack(&v, pv);
      d.mv_size = ENT_VAL_LEN;
      d.mv_data = pv;
      return store__err(mdb_put(txn, s->dbi[DB_ENT], &k, &d, 0));
    }
    if (rec_cmp_version(r->h.ts, r->hash, v.ts, v.hash) > 0) {
      if ((e = doc_del(s, txn, v.docid))) return e;
      v.docid = 0;
      v.ts = r->h.ts;
      memcpy(v.hash, r->hash, HASH_LEN);
      v.erased = erased;
    } else {
      uint8_t pv[ENT_VAL_LEN];
      ent_val_pack(&v, pv);
      d.mv_size = ENT_VAL_LEN;
      d.mv_data = pv;
      return store__err(mdb_put(txn, s->dbi[DB_ENT], &k, &d, 0));
    }
  } else if (rc == MDB_NOTFOUND) {
    memset(&v, 0, sizeof v);
    v.versions = 1;
    v.kind = (uint8_t)r->h.kind;
    v.ts = r->h.ts;
    memcpy(v.hash, r->hash, HASH_LEN);
    v.erased = erased;
  } else {
    return store__err(rc);
  }
  if (!erased && (e = doc_add(s, txn, dk, r->h.kind, r->body, r->body_len, &v.docid))) return e;
  uint8_t pv[ENT_VAL_LEN];
  ent_val_pack(&v, pv);
  k.mv_size = EKEY_LEN;
  k.mv_data = dk;
  d.mv_size = ENT_VAL_LEN;
  d.mv_data = pv;
  return store__err(mdb_put(txn, s->dbi[DB_ENT], &k, &d, 0));
}

int index__erase(store *s, MDB_txn *txn, const uint8_t ekey[EKEY_LEN], uint64_t until,
                 store_counts *c) {
  uint8_t key[EKEY_LEN + 8 + HASH_LEN] = { 0 }, stub[REC_HDR_MAX + 128];
  MDB_cursor *cur;
  MDB_val k, d;
  int rc, e = 0;

  ekey_to_dbkey(ekey, key);
  if ((rc = mdb_cursor_open(txn, s->dbi[DB_HIST], &cur))) return store__err(rc);
  k.mv_size = sizeof key;
  k.mv_data = key;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != sizeof key || memcmp(kb, key, EKEY_LEN)) break;
    if (get_be64(kb + EKEY_LEN) > until) break;
    MDB_val rk = { HASH_LEN, (void *)(kb + EKEY_LEN + 8) }, rv;
    rec r;
    size_t sl;
    if ((rc = mdb_get(txn, s->dbi[DB_REC], &rk, &rv))) { e = store__err(rc); break; }
    if ((e = rec_decode(rv.mv_data, rv.mv_size, &r))) { e = STOA_ECORRUPT; break; }
    if (!r.body) continue;
    if ((e = rec_stub(&r, stub, sizeof stub, &sl))) break;
    rv.mv_size = sl;
    rv.mv_data = stub;
    if ((rc = mdb_put(txn, s->dbi[DB_REC], &rk, &rv, 0))) { e = store__err(rc); break; }
    if (c) c->erased_bodies++;
  }
  mdb_cursor_close(cur);
  if (e) return e;
  if (rc && rc != MDB_NOTFOUND) return store__err(rc);
  /* The current version: out of the full-text index when its body is gone. */
  uint8_t dk[EKEY_LEN];
  ent_val v;
  ekey_to_dbkey(ekey, dk);
  k.mv_size = EKEY_LEN;
  k.mv_data = dk;
  rc = mdb_get(txn, s->dbi[DB_ENT], &k, &d);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store__err(rc);
  if ((e = ent_val_unpack(&d, &v))) return e;
  if (v.ts > until || v.erased) return 0;
  if ((e = doc_del(s, txn, v.docid))) return e;
  v.docid = 0;
  v.erased = 1;
  uint8_t pv[ENT_VAL_LEN];
  ent_val_pack(&v, pv);
  d.mv_size = ENT_VAL_LEN;
  d.mv_data = pv;
  return store__err(mdb_put(txn, s->dbi[DB_ENT], &k, &d, 0));
}
