/*
 * test_store.c - unit tests for store/: the LMDB store through its public
 * API (store/store.h).  Records are built and signed here with real keys,
 * bodies follow proto/schema.c, and every store lives in its own mkdtemp
 * folder that the teardown removes.  One test opens the LMDB environment
 * directly (lmdb.h) to damage a record, which the API cannot do.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <sodium.h>
#include <unistd.h>

#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "proto/trust.h"
#include "store/store.h"

#define NOW 1700000000000ull /* the wall clock the tests pretend it is */
#define MIN_MS (60ull * 1000)

/* ---- keys, federations ----------------------------------------------------- */

typedef struct key {
  uint8_t pk[KEY_LEN];
  uint8_t sk[64];
} key;

/* Deterministic keys, so that hashes (and a failure) repeat run after run. */
static void key_make(key *k, uint8_t tag) {
  uint8_t seed[crypto_sign_SEEDBYTES];
  memset(seed, tag, sizeof seed);
  seed[0] = 0x5a;
  crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

typedef struct fed {
  uint8_t ch[CHARTER_MAX];
  size_t chlen;
  uint8_t id[HASH_LEN];
} fed;

static void fed_make(fed *fd, const key *const *founders, size_t n, uint32_t quorum) {
  uint8_t sks[8][64];
  charter c;
  assert_true(n <= 8);
  for (size_t i = 0; i < n; i++) memcpy(sks[i], founders[i]->sk, 64);
  assert_int_equal(charter_build("Test federation", quorum, (const uint8_t (*)[64])sks, n,
                                 NOW - 365 * 24 * 3600 * 1000ull, fd->ch, sizeof fd->ch,
                                 &fd->chlen), 0);
  assert_int_equal(charter_decode(fd->ch, fd->chlen, &c), 0);
  memcpy(fd->id, c.id, HASH_LEN);
  sodium_memzero(sks, sizeof sks);
}

/* The usual federation: key a (seed 1) its one founder, quorum 1. */
static void solo_fed(key *a, fed *fd) {
  key_make(a, 1);
  const key *fa[] = { a };
  fed_make(fd, fa, 1, 1);
}

/* ---- bodies ----------------------------------------------------------------- */

typedef struct body {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} body;

static void b_init(body *b, uint32_t nfields) {
  msgpack_sbuffer_init(&b->sb);
  msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
  msgpack_pack_map(&b->pk, nfields);
}
static void b_key(body *b, const char *k) { msgpack_pack_str_with_body(&b->pk, k, strlen(k)); }
static void b_str(body *b, const char *k, const char *v) {
  b_key(b, k);
  msgpack_pack_str_with_body(&b->pk, v, strlen(v));
}
static void b_bin(body *b, const char *k, const uint8_t *v, size_t n) {
  b_key(b, k);
  msgpack_pack_bin_with_body(&b->pk, v, n);
}
static void b_u64(body *b, const char *k, uint64_t v) {
  b_key(b, k);
  msgpack_pack_uint64(&b->pk, v);
}
/* A list of strings, NULL-terminated. */
static void b_strs(body *b, const char *k, const char *const *v) {
  uint32_t n = 0;
  while (v[n]) n++;
  b_key(b, k);
  msgpack_pack_array(&b->pk, n);
  for (uint32_t i = 0; i < n; i++) msgpack_pack_str_with_body(&b->pk, v[i], strlen(v[i]));
}
static void b_free(body *b) { msgpack_sbuffer_destroy(&b->sb); }

/* ---- records ---------------------------------------------------------------- */

/* A built envelope.  Never copied: store_item.r points into b. */
typedef struct rb {
  size_t len;
  uint8_t hash[HASH_LEN];
  uint64_t ts;
  uint8_t ekey[EKEY_LEN];
  uint8_t b[1536];
} rb;

/* Deterministic, random-looking entry ids from a counter. */
static void id_make(uint8_t id[ID_LEN]) {
  static uint64_t ctr;
  uint8_t c[8];
  ctr++;
  memcpy(c, &ctr, 8);
  crypto_generichash_blake2b(id, ID_LEN, c, 8, (const uint8_t *)"ids", 3);
}

static void mk(rb *o, const fed *fd, int kind, const uint8_t owner[KEY_LEN],
               const uint8_t id[ID_LEN], uint64_t ts, const key *signer, body *bd) {
  rec r;
  assert_int_equal(rec_build(kind, owner, id, ts, signer->sk, (const uint8_t *)bd->sb.data,
                             bd->sb.size, fd->id, o->b, sizeof o->b, &o->len), 0);
  b_free(bd);
  assert_int_equal(rec_decode(o->b, o->len, &r), 0);
  memcpy(o->hash, r.hash, HASH_LEN);
  o->ts = ts;
  memcpy(o->ekey, owner, KEY_LEN);
  memcpy(o->ekey + KEY_LEN, id, ID_LEN);
}

/* An org (name, country, type ngo), with optional city and themes. */
static void mk_org(rb *o, const fed *fd, const key *owner, const key *signer,
                   const uint8_t id[ID_LEN], uint64_t ts, const char *name,
                   const char *country, const char *city, const char *const *themes) {
  body b;
  b_init(&b, 3 + (city != NULL) + (themes != NULL));
  b_str(&b, "name", name);
  b_str(&b, "country", country);
  b_str(&b, "type", "ngo");
  if (city) b_str(&b, "city", city);
  if (themes) b_strs(&b, "themes", themes);
  mk(o, fd, REC_ORG, owner->pk, id, ts, signer, &b);
}

/* A new org entry with a fresh id. */
static void mk_org_new(rb *o, const fed *fd, const key *owner, const key *signer, uint64_t ts,
                       const char *name) {
  uint8_t id[ID_LEN];
  id_make(id);
  mk_org(o, fd, owner, signer, id, ts, name, "FR", NULL, NULL);
}

static void mk_trust(rb *o, const fed *fd, int kind, const key *issuer, const uint8_t subject[KEY_LEN],
                     const char *role, uint64_t ts) {
  body b;
  uint8_t id[ID_LEN];
  id_make(id);
  b_init(&b, 2);
  b_bin(&b, "subject", subject, KEY_LEN);
  b_str(&b, "role", role);
  mk(o, fd, kind, issuer->pk, id, ts, issuer, &b);
}

static void mk_erase(rb *o, const fed *fd, const key *issuer, const uint8_t target[EKEY_LEN],
                     uint64_t until, uint64_t ts) {
  body b;
  uint8_t id[ID_LEN];
  id_make(id);
  b_init(&b, 2);
  b_bin(&b, "target", target, EKEY_LEN);
  b_u64(&b, "until", until);
  mk(o, fd, REC_ERASE, issuer->pk, id, ts, issuer, &b);
}

/* ---- ingest helpers --------------------------------------------------------- */

static void item_set(store_item *it, const rb *r, const fed *fd) {
  memset(it, 0, sizeof *it);
  it->buf = r->b;
  it->len = r->len;
  assert_int_equal(rec_decode(r->b, r->len, &it->r), 0);
  it->sig_ok = rec_verify(&it->r, fd->id) == 0;
}

/* Ingests a batch; statuses into st[] and errors into er[] (either may be NULL). */
static void ingest_n(store *s, const fed *fd, rb *const *rs, size_t n, uint64_t now,
                     store_counts *c, int *st, int *er) {
  static store_item items[512];
  assert_true(n <= 512);
  for (size_t i = 0; i < n; i++) item_set(&items[i], rs[i], fd);
  int e = store_ingest(s, items, n, now, c);
  for (size_t i = 0; i < n; i++) {
    if (st) st[i] = items[i].status;
    if (er) er[i] = items[i].err;
  }
  assert_int_equal(e, 0);
}

/* Ingests one record alone; returns its status, its error into *err. */
static int ingest1(store *s, const fed *fd, rb *r, uint64_t now, store_counts *c, int *err) {
  int st, er;
  ingest_n(s, fd, &r, 1, now, c, &st, &er);
  if (err) *err = er;
  return st;
}

static void expect_new(store *s, const fed *fd, rb *r) {
  int err;
  int st = ingest1(s, fd, r, NOW, NULL, &err);
  if (st != ST_NEW) fail_msg("expected ST_NEW, got status %d err %s", st, stoa_errname(err));
}

/* ---- fixture: scratch folders and their stores ------------------------------ */

#define FX_MAX 4
typedef struct fx {
  char dir[FX_MAX][256];
  store *s[FX_MAX];
  int n;
  void *mem[4];     /* freed by the teardown, so a failed assertion leaks nothing */
  int nmem;
} fx;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  if (!f) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  for (int i = 0; i < f->n; i++) {
    store_close(f->s[i]);
    if (f->dir[i][0]) nftw(f->dir[i], rm_one, 8, FTW_DEPTH | FTW_PHYS);
  }
  for (int i = 0; i < f->nmem; i++) free(f->mem[i]);
  free(f);
  return 0;
}

/* A fresh scratch folder; its index in f. */
static int fx_dir(fx *f) {
  const char *tmp = getenv("TMPDIR");
  assert_true(f->n < FX_MAX);
  int i = f->n++;
  snprintf(f->dir[i], sizeof f->dir[i], "%s/stoa-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(f->dir[i]));
  return i;
}

/* Zeroed memory that lives until the teardown. */
static void *fx_alloc(fx *f, size_t n) {
  assert_true(f->nmem < 4);
  void *p = calloc(1, n);
  assert_non_null(p);
  f->mem[f->nmem++] = p;
  return p;
}

/* A store in a fresh folder bound to fd (o may be NULL). */
static store *fx_store(fx *f, const fed *fd, const store_opts *o) {
  int i = fx_dir(f);
  assert_int_equal(store_open(&f->s[i], f->dir[i], o), 0);
  assert_int_equal(store_set_charter(f->s[i], fd->ch, fd->chlen), 0);
  return f->s[i];
}

/* ---- read helpers ----------------------------------------------------------- */

static bool has(store *s, const uint8_t hash[HASH_LEN]) {
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  bool r = store_has(rd, hash);
  store_rd_end(rd);
  return r;
}

static store_stats stats(store *s) {
  store_rd *rd;
  store_stats st;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_stats_get(rd, &st), 0);
  store_rd_end(rd);
  return st;
}

static int entry(store *s, const uint8_t ekey[EKEY_LEN], store_entry *out) {
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  int e = store_entry_get(rd, ekey, out);
  store_rd_end(rd);
  return e;
}

/* Whether the stored record still has its body (asserts it is held). */
static bool has_body(store *s, const rb *r) {
  store_rd *rd;
  const uint8_t *buf;
  size_t len;
  rec x;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_get(rd, r->hash, &buf, &len), 0);
  assert_int_equal(rec_decode(buf, len, &x), 0);
  assert_memory_equal(x.hash, r->hash, HASH_LEN); /* a stub keeps its identity */
  bool b = x.body != NULL;
  if (b) {
    rec orig;
    assert_int_equal(rec_decode(r->b, r->len, &orig), 0);
    assert_int_equal(x.body_len, orig.body_len);
    assert_memory_equal(x.body, orig.body, x.body_len);
  }
  store_rd_end(rd);
  return b;
}

#define HITS_MAX 512
typedef struct hits {
  size_t n;
  store_entry e[HITS_MAX];
} hits;

static int hit_cb(void *ctx, const store_entry *e) {
  hits *h = ctx;
  if (h->n < HITS_MAX) h->e[h->n] = *e;
  h->n++;
  return 0;
}

/* Runs q; the hits live in a static buffer until the next search.  Asserts
 * that the count returned matches the callbacks and that no entry repeats. */
static hits *search_q(store *s, const store_query *q) {
  static hits h;
  store_rd *rd;
  memset(&h, 0, sizeof h);
  assert_int_equal(store_rd_begin(s, &rd), 0);
  int r = store_search(rd, q, hit_cb, &h);
  store_rd_end(rd);
  assert_true(r >= 0);
  assert_int_equal((size_t)r, h.n);
  /* Never the same entry twice. */
  for (size_t i = 0; i < h.n && i < HITS_MAX; i++)
    for (size_t j = 0; j < i; j++)
      assert_memory_not_equal(h.e[i].ekey, h.e[j].ekey, EKEY_LEN);
  return &h;
}

static hits *search(store *s, const char *text) {
  store_query q;
  memset(&q, 0, sizeof q);
  q.text = text;
  q.limit = 1000;
  return search_q(s, &q);
}

static bool hits_have(const hits *h, const uint8_t ekey[EKEY_LEN]) {
  for (size_t i = 0; i < h->n && i < HITS_MAX; i++)
    if (!memcmp(h->e[i].ekey, ekey, EKEY_LEN)) return true;
  return false;
}

static int verify(store *s) {
  int r = store_verify(s, NULL);
  assert_true(r >= 0);
  return r;
}

/* ---- open, close, charter ------------------------------------------------------ */

static void test_open_charter_reopen(void **state) {
  fx *f = *state;
  key a, b, ed;
  fed fd, other;
  key_make(&a, 1);
  key_make(&b, 2);
  key_make(&ed, 3);
  const key *fa[] = { &a }, *fb[] = { &b };
  fed_make(&fd, fa, 1, 1);
  fed_make(&other, fb, 1, 1);

  int i = fx_dir(f);
  store *s;
  assert_int_equal(store_open(&f->s[i], f->dir[i], NULL), 0);
  s = f->s[i];
  assert_null(store_charter(s));

  /* No federation yet: nothing can be ingested. */
  rb r1;
  store_item it;
  mk_org_new(&r1, &fd, &a, &a, NOW - 1000, "Before the charter");
  item_set(&it, &r1, &fd);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), STOA_ESTATE);

  /* A damaged charter is refused and binds nothing. */
  uint8_t bad[CHARTER_MAX];
  memcpy(bad, fd.ch, fd.chlen);
  bad[fd.chlen - 1] ^= 1; /* inside the last signature */
  assert_int_not_equal(store_set_charter(s, bad, fd.chlen), 0);
  assert_null(store_charter(s));

  assert_int_equal(store_set_charter(s, fd.ch, fd.chlen), 0);
  const charter *c = store_charter(s);
  assert_non_null(c);
  assert_memory_equal(c->id, fd.id, HASH_LEN);
  assert_int_equal(c->quorum, 1);
  assert_int_equal(c->nfounders, 1);
  assert_memory_equal(c->founders[0], a.pk, KEY_LEN);
  assert_int_equal(store_set_charter(s, fd.ch, fd.chlen), STOA_EEXISTS);
  assert_int_equal(store_set_charter(s, other.ch, other.chlen), STOA_EEXISTS);
  assert_memory_equal(store_charter(s)->id, fd.id, HASH_LEN);

  uint8_t *cb;
  size_t cl;
  assert_int_equal(store_charter_bytes(s, &cb, &cl), 0);
  assert_int_equal(cl, fd.chlen);
  assert_memory_equal(cb, fd.ch, cl);
  free(cb);

  /* Write something, including trust state, then close and reopen. */
  rb e1, r2;
  mk_trust(&e1, &fd, REC_ENDORSE, &a, ed.pk, "editor", NOW - 5000);
  expect_new(s, &fd, &r1);
  expect_new(s, &fd, &e1);
  store_close(s);
  f->s[i] = NULL;

  assert_int_equal(store_open(&f->s[i], f->dir[i], NULL), 0);
  s = f->s[i];
  c = store_charter(s);
  assert_non_null(c);
  assert_memory_equal(c->id, fd.id, HASH_LEN);
  assert_int_equal(store_set_charter(s, fd.ch, fd.chlen), STOA_EEXISTS);
  assert_true(has(s, r1.hash));
  assert_true(has(s, e1.hash));
  store_stats st = stats(s);
  assert_int_equal(st.records, 2);
  assert_int_equal(st.trust_events, 1);
  /* The editor endorsed before the close still writes after it. */
  mk_org_new(&r2, &fd, &a, &ed, NOW - 100, "Written by the editor");
  expect_new(s, &fd, &r2);
  assert_int_equal(verify(s), 0);
}

/* ---- ingest: new, known, bad signature, schema ------------------------------- */

static void test_ingest_basic(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;
  int err;

  rb r1, r2;
  mk_org_new(&r1, &fd, &a, &a, NOW - 1000, "Caritas Manila");
  mk_org_new(&r2, &fd, &a, &a, NOW - 900, "Migrant Forum");

  /* One batch: new, new, and r1 again (known within the same batch). */
  rb *batch[] = { &r1, &r2, &r1 };
  int st[3], er[3];
  memset(&c, 0, sizeof c);
  ingest_n(s, &fd, batch, 3, NOW, &c, st, er);
  assert_int_equal(st[0], ST_NEW);
  assert_int_equal(st[1], ST_NEW);
  assert_int_equal(st[2], ST_KNOWN);
  assert_int_equal(c.fresh, 2);
  assert_int_equal(c.known, 1);
  assert_int_equal(c.rejected + c.pending, 0);
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &r2, NOW, &c, &err), ST_KNOWN);
  assert_int_equal(c.known, 1);
  assert_int_equal(c.fresh, 0);
  assert_int_equal(stats(s).records, 2);

  /* The caller said the signature failed: rejected, not stored. */
  rb r3;
  store_item it;
  mk_org_new(&r3, &fd, &a, &a, NOW - 800, "Unsigned");
  item_set(&it, &r3, &fd);
  assert_true(it.sig_ok);
  it.sig_ok = false;
  memset(&c, 0, sizeof c);
  assert_int_equal(store_ingest(s, &it, 1, NOW, &c), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_EBADSIG);
  assert_int_equal(c.rejected, 1);
  assert_false(has(s, r3.hash));

  /* A really bad signature: one bit of it flipped; rec_verify says so. */
  rb r4;
  mk_org_new(&r4, &fd, &a, &a, NOW - 700, "Forged");
  rec x;
  assert_int_equal(rec_decode(r4.b, r4.len, &x), 0);
  r4.b[(size_t)(x.sig - r4.b) + 10] ^= 0x40;
  assert_int_equal(ingest1(s, &fd, &r4, NOW, NULL, &err), ST_REJECTED);
  assert_int_equal(err, STOA_EBADSIG);
  assert_int_equal(stats(s).records, 2);

  /* A record of another federation does not verify in this one. */
  key b;
  fed other;
  key_make(&b, 9);
  const key *fb[] = { &a, &b };
  fed_make(&other, fb, 2, 1);
  rb r5;
  mk_org_new(&r5, &other, &a, &a, NOW - 600, "Elsewhere");
  assert_int_equal(ingest1(s, &fd, &r5, NOW, NULL, &err), ST_REJECTED);
  assert_int_equal(err, STOA_EBADSIG);

  /* Schema: an org without a country. */
  rb r6;
  body bd;
  uint8_t id[ID_LEN];
  id_make(id);
  b_init(&bd, 2);
  b_str(&bd, "name", "No country");
  b_str(&bd, "type", "ngo");
  mk(&r6, &fd, REC_ORG, a.pk, id, NOW - 500, &a, &bd);
  item_set(&it, &r6, &fd);
  memset(&c, 0, sizeof c);
  assert_int_equal(store_ingest(s, &it, 1, NOW, &c), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_ESCHEMA);
  assert_string_equal(it.why.field, "country");
  assert_true(strlen(it.why.msg) > 0);
  assert_int_equal(c.rejected, 1);
  assert_false(has(s, r6.hash));

  /* A bad value: a country that is not an ISO code. */
  rb r7;
  id_make(id);
  mk_org(&r7, &fd, &a, &a, id, NOW - 400, "Bad country", "XX", NULL, NULL);
  item_set(&it, &r7, &fd);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_ESCHEMA);
  assert_string_equal(it.why.field, "country");
  assert_false(has(s, r7.hash));

  /* A trust record with an unknown role. */
  rb r8;
  mk_trust(&r8, &fd, REC_ENDORSE, &a, b.pk, "admin", NOW - 300);
  item_set(&it, &r8, &fd);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_ESCHEMA);
  assert_string_equal(it.why.field, "role");
  assert_false(has(s, r8.hash));

  assert_int_equal(stats(s).records, 2);
  assert_int_equal(stats(s).trust_events, 0);
  assert_int_equal(verify(s), 0);
}

/* ---- pending: untrusted signers ------------------------------------------------- */

static void test_pending_released_later(void **state) {
  fx *f = *state;
  key a, ed;
  fed fd;
  key_make(&ed, 2);
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;
  int err;

  rb r1, end;
  mk_org_new(&r1, &fd, &a, &ed, NOW - 1000, "Kanlungan Centre");
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &r1, NOW, &c, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);
  assert_int_equal(c.pending, 1);
  assert_false(has(s, r1.hash));
  assert_int_equal(stats(s).pending, 1);
  assert_int_equal(search(s, "kanlungan")->n, 0);
  /* Already pending: known. */
  assert_int_equal(ingest1(s, &fd, &r1, NOW, NULL, &err), ST_KNOWN);
  assert_int_equal(stats(s).pending, 1);

  /* The endorsement comes in a later batch and releases the record. */
  mk_trust(&end, &fd, REC_ENDORSE, &a, ed.pk, "editor", NOW - 2000);
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &end, NOW, &c, &err), ST_NEW);
  assert_int_equal(c.fresh, 1);
  assert_int_equal(c.released, 1);
  assert_true(has(s, r1.hash));
  assert_int_equal(stats(s).pending, 0);
  assert_int_equal(stats(s).records, 2);
  store_entry e;
  assert_int_equal(entry(s, r1.ekey, &e), 0);
  assert_memory_equal(e.hash, r1.hash, HASH_LEN);
  assert_int_equal(search(s, "kanlungan")->n, 1);

  /* Now known for good. */
  assert_int_equal(ingest1(s, &fd, &r1, NOW, NULL, &err), ST_KNOWN);
  assert_int_equal(verify(s), 0);
}

static void test_pending_same_batch(void **state) {
  fx *f = *state;
  key a, ed, ed2;
  fed fd;
  key_make(&ed, 2);
  key_make(&ed2, 3);
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;

  /* The entry comes before its endorsement in the batch: trust goes first. */
  rb r1, end;
  mk_org_new(&r1, &fd, &a, &ed, NOW - 1000, "Entry first");
  mk_trust(&end, &fd, REC_ENDORSE, &a, ed.pk, "editor", NOW - 2000);
  rb *batch[] = { &r1, &end };
  int st[2], er[2];
  memset(&c, 0, sizeof c);
  ingest_n(s, &fd, batch, 2, NOW, &c, st, er);
  assert_int_equal(st[0], ST_NEW);
  assert_int_equal(st[1], ST_NEW);
  assert_int_equal(c.fresh, 2);
  assert_int_equal(c.pending, 0);
  assert_true(has(s, r1.hash));
  assert_true(has(s, end.hash));

  /* An endorsement dated after the record does not cover it. */
  rb r2, late;
  mk_org_new(&r2, &fd, &a, &ed2, NOW - 1000, "Endorsed too late");
  mk_trust(&late, &fd, REC_ENDORSE, &a, ed2.pk, "editor", NOW - 500);
  rb *batch2[] = { &r2, &late };
  ingest_n(s, &fd, batch2, 2, NOW, NULL, st, er);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(er[0], STOA_EUNTRUSTED);
  assert_int_equal(st[1], ST_NEW);
  assert_false(has(s, r2.hash));
  /* An editor endorsed as a node key may not write entries. */
  key nd;
  key_make(&nd, 4);
  rb r3, ndk;
  mk_trust(&ndk, &fd, REC_ENDORSE, &a, nd.pk, "node", NOW - 5000);
  mk_org_new(&r3, &fd, &a, &nd, NOW - 1000, "Node key writing");
  rb *batch3[] = { &r3, &ndk };
  ingest_n(s, &fd, batch3, 2, NOW, NULL, st, er);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(er[0], STOA_EUNTRUSTED);
  assert_int_equal(st[1], ST_NEW);
  assert_int_equal(verify(s), 0);
}

static void test_pending_future(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;
  int err;

  rb near, far;
  mk_org_new(&near, &fd, &a, &a, NOW + 14 * MIN_MS, "Nearly now");
  mk_org_new(&far, &fd, &a, &a, NOW + 16 * MIN_MS, "Tomorrow's news");
  assert_int_equal(ingest1(s, &fd, &near, NOW, NULL, &err), ST_NEW);
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &far, NOW, &c, &err), ST_PENDING);
  assert_int_equal(err, STOA_EFUTURE);
  assert_int_equal(c.pending, 1);
  assert_false(has(s, far.hash));

  /* Its time has not come yet. */
  memset(&c, 0, sizeof c);
  assert_int_equal(store_pending_recheck(s, NOW + 30 * 1000, &c), 0);
  assert_int_equal(c.released, 0);
  assert_false(has(s, far.hash));
  assert_int_equal(stats(s).pending, 1);

  memset(&c, 0, sizeof c);
  assert_int_equal(store_pending_recheck(s, NOW + 2 * MIN_MS, &c), 0);
  assert_int_equal(c.released, 1);
  assert_int_equal(c.dropped, 0);
  assert_true(has(s, far.hash));
  assert_int_equal(stats(s).pending, 0);
  assert_int_equal(search(s, "tomorrow")->n, 1);
}

static void test_pending_bound(void **state) {
  fx *f = *state;
  key a, stranger;
  fed fd;
  key_make(&stranger, 7);
  solo_fed(&a, &fd);
  store_opts o = { .pending_max = 5 };
  store *s = fx_store(f, &fd, &o);
  store_counts c;

  rb r[7];
  rb *batch[6];
  for (int i = 0; i < 7; i++) {
    char name[32];
    snprintf(name, sizeof name, "Untrusted %d", i);
    mk_org_new(&r[i], &fd, &a, &stranger, NOW - 1000 + (uint64_t)i, name);
  }
  for (int i = 0; i < 6; i++) batch[i] = &r[i];
  int st[6], er[6];
  memset(&c, 0, sizeof c);
  ingest_n(s, &fd, batch, 6, NOW, &c, st, er);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(st[i], ST_PENDING);
    assert_int_equal(er[i], STOA_EUNTRUSTED);
  }
  assert_int_equal(st[5], ST_REJECTED);
  assert_int_equal(er[5], STOA_EPENDING);
  assert_int_equal(c.pending, 5);
  assert_int_equal(c.rejected, 1);
  assert_int_equal(c.dropped, 1);
  store_stats ss = stats(s);
  assert_int_equal(ss.pending, 5);
  assert_int_equal(ss.dropped, 1);
  assert_int_equal(ss.records, 0);

  /* Still full in a later batch; the count persists. */
  int err;
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &r[6], NOW, &c, &err), ST_REJECTED);
  assert_int_equal(err, STOA_EPENDING);
  assert_int_equal(c.dropped, 1);
  assert_int_equal(stats(s).dropped, 2);
  assert_int_equal(stats(s).pending, 5);

  /* What never becomes valid is dropped after a long wait, with a count. */
  memset(&c, 0, sizeof c);
  assert_int_equal(store_pending_recheck(s, NOW + 24 * 3600 * 1000ull, &c), 0);
  assert_int_equal(c.dropped, 0);
  assert_int_equal(stats(s).pending, 5);
  assert_int_equal(store_pending_recheck(s, NOW + 60ull * 24 * 3600 * 1000, &c), 0);
  assert_int_equal(c.dropped, 5);
  assert_int_equal(c.released, 0);
  assert_int_equal(stats(s).pending, 0);
  assert_int_equal(stats(s).dropped, 7);
  assert_int_equal(stats(s).records, 0);
}

/* Ingests records from one source (NULL: this node's user); statuses and
 * errors into st[] and er[]. */
static void ingest_from(store *s, const fed *fd, const uint8_t *src, rb *rs, size_t n, int *st, int *er) {
  static store_item items[16];
  assert_true(n <= 16);
  for (size_t i = 0; i < n; i++) {
    item_set(&items[i], &rs[i], fd);
    items[i].src = src;
  }
  assert_int_equal(store_ingest(s, items, n, NOW, NULL), 0);
  for (size_t i = 0; i < n; i++) {
    st[i] = items[i].status;
    er[i] = items[i].err;
  }
}

/* n organisations of owner a signed by `signer`, named PREFIX 0, 1, ...,
 * timed from t on. */
static void mk_orgs(rb *out, int n, const fed *fd, const key *a, const key *signer, uint64_t t,
                    const char *prefix) {
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "%s %d", prefix, i);
    mk_org_new(&out[i], fd, a, signer, t + (uint64_t)i, name);
  }
}

/* The store in dir, opened with LMDB alone: to write what only an older
 * format or a damaged store holds.  raw_end commits and closes. */
static MDB_txn *raw_begin(const char *dir, MDB_env **env, MDB_dbi *meta) {
  MDB_txn *txn;
  assert_int_equal(mdb_env_create(env), 0);
  assert_int_equal(mdb_env_set_maxdbs(*env, 32), 0);
  assert_int_equal(mdb_env_open(*env, dir, MDB_NOTLS, 0600), 0);
  assert_int_equal(mdb_txn_begin(*env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, meta), 0);
  return txn;
}

static void raw_end(MDB_env *env, MDB_txn *txn) {
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/* A peer's records take at most its share of the pending area (a quarter
 * by default): one peer cannot crowd out the records of the others, nor
 * what this node's user imports.  Released records give their places back.
 * A pending row of format 3 (no source) is converted when the store opens. */
static void test_pending_share(void **state) {
  fx *f = *state;
  key a, ed;
  fed fd;
  key_make(&ed, 2);
  solo_fed(&a, &fd);
  store_opts o = { .pending_max = 8 }; /* a share of 2 */
  store *s = fx_store(f, &fd, &o);
  uint8_t x[STORE_SRC_LEN], y[STORE_SRC_LEN];
  memset(x, 0x11, sizeof x);
  memset(y, 0x22, sizeof y);
  rb r[12];
  int st[12], er[12];
  mk_orgs(r, 12, &fd, &a, &ed, NOW - 1000, "Waiting"); /* ed: not endorsed yet */

  ingest_from(s, &fd, x, &r[0], 4, st, er); /* x floods */
  for (int i = 0; i < 2; i++) assert_int_equal(st[i], ST_PENDING);
  for (int i = 2; i < 4; i++) {
    assert_int_equal(st[i], ST_REJECTED);
    assert_int_equal(er[i], STOA_EPENDING);
  }
  ingest_from(s, &fd, y, &r[4], 2, st, er); /* y still has its share */
  for (int i = 0; i < 2; i++) assert_int_equal(st[i], ST_PENDING);
  ingest_from(s, &fd, NULL, &r[6], 5, st, er); /* our user: up to the whole bound */
  for (int i = 0; i < 4; i++) assert_int_equal(st[i], ST_PENDING);
  assert_int_equal(st[4], ST_REJECTED);
  assert_int_equal(er[4], STOA_EPENDING);
  assert_int_equal(stats(s).pending, 8);
  assert_int_equal(stats(s).dropped, 3);

  /* The endorsement releases them all; x has its share again. */
  rb end;
  int err;
  mk_trust(&end, &fd, REC_ENDORSE, &a, ed.pk, "editor", NOW - 5000);
  assert_int_equal(ingest1(s, &fd, &end, NOW, NULL, &err), ST_NEW);
  assert_int_equal(stats(s).pending, 0);
  assert_int_equal(stats(s).records, 1 + 8);
  key ed2;
  key_make(&ed2, 3);
  rb w[3];
  mk_orgs(w, 3, &fd, &a, &ed2, NOW - 900, "Later");
  ingest_from(s, &fd, x, w, 3, st, er);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(st[1], ST_PENDING);
  assert_int_equal(st[2], ST_REJECTED);

  /* A store of format 3: its pending rows had no source.  Rewrite one row
   * in that layout, and the rest go; the upgrade at open converts it, and
   * it is released like any other. */
  store_close(s);
  f->s[f->n - 1] = NULL;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi meta, pend;
  MDB_val k = { HASH_LEN, w[0].hash }, d;
  uint8_t fmt[8] = { 0, 0, 0, 0, 0, 0, 0, 3 }, old[12 + REC_MAX];
  MDB_val fk = { 6, "format" }, fv = { 8, fmt };
  txn = raw_begin(f->dir[f->n - 1], &env, &meta);
  assert_int_equal(mdb_dbi_open(txn, "pend", 0, &pend), 0);
  assert_int_equal(mdb_get(txn, pend, &k, &d), 0);
  assert_int_equal(d.mv_size, 12 + STORE_SRC_LEN + w[0].len);
  memcpy(old, d.mv_data, 12);
  memcpy(old + 12, w[0].b, w[0].len);
  MDB_val ov = { 12 + w[0].len, old };
  uint8_t pskey[2 + STORE_SRC_LEN] = { 'p', 's' };
  memcpy(pskey + 2, x, STORE_SRC_LEN);
  MDB_val pk = { sizeof pskey, pskey };
  assert_int_equal(mdb_drop(txn, pend, 0), 0);
  assert_int_equal(mdb_put(txn, pend, &k, &ov, 0), 0);
  assert_int_equal(mdb_del(txn, meta, &pk, NULL), 0); /* format 3 had no counters */
  assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
  raw_end(env, txn);
  assert_int_equal(store_open(&s, f->dir[f->n - 1], &o), 0);
  f->s[f->n - 1] = s;
  assert_int_equal(stats(s).pending, 1);
  rb end2;
  mk_trust(&end2, &fd, REC_ENDORSE, &a, ed2.pk, "editor", NOW - 5000);
  assert_int_equal(ingest1(s, &fd, &end2, NOW, NULL, &err), ST_NEW);
  assert_int_equal(stats(s).pending, 0);
  assert_true(has(s, w[0].hash));
  assert_int_equal(verify(s), 0);

  /* A counter that disagrees with the rows: verify says so, and reindex
   * counts the rows again (x has one pending record: one more place). */
  key ed3;
  key_make(&ed3, 4);
  rb u[3];
  mk_orgs(u, 3, &fd, &a, &ed3, NOW - 800, "Recount");
  ingest_from(s, &fd, x, u, 1, st, er);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(verify(s), 0);
  store_close(s);
  f->s[f->n - 1] = NULL;
  uint8_t many[8] = { 0, 0, 0, 0, 0, 0, 0, 99 };
  MDB_val pv = { 8, many };
  txn = raw_begin(f->dir[f->n - 1], &env, &meta);
  assert_int_equal(mdb_put(txn, meta, &pk, &pv, 0), 0);
  raw_end(env, txn);
  assert_int_equal(store_open(&s, f->dir[f->n - 1], &o), 0);
  f->s[f->n - 1] = s;
  ingest_from(s, &fd, x, &u[1], 1, st, er);
  assert_int_equal(st[0], ST_REJECTED); /* the counter says x's share is used */
  assert_int_equal(verify(s), 1);
  store_counts rc;
  assert_int_equal(store_reindex(s, &rc), 0);
  assert_int_equal(verify(s), 0);
  ingest_from(s, &fd, x, &u[1], 2, st, er);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(st[1], ST_REJECTED);
}

/* ---- membership ---------------------------------------------------------------- */

static bool member(store *s, const uint8_t net[KEY_LEN], uint64_t at) {
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  const trust_state *t = store_trust(rd);
  assert_non_null(t);
  bool m = trust_is_member(t, net, at);
  store_rd_end(rd);
  return m;
}

static void test_member_quorum1(void **state) {
  fx *f = *state;
  key a, n;
  fed fd;
  key_make(&n, 2);
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;
  int err;
  const uint64_t T = NOW - 100000;

  rb before, pub, adm;
  mk_org_new(&before, &fd, &n, &n, T - 10, "Written before admission");
  mk_org_new(&pub, &fd, &n, &n, T + 10, "Second network org");
  assert_int_equal(ingest1(s, &fd, &before, NOW, NULL, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);
  assert_int_equal(ingest1(s, &fd, &pub, NOW, NULL, &err), ST_PENDING);
  assert_false(member(s, n.pk, T + 10));

  mk_trust(&adm, &fd, REC_ENDORSE, &a, n.pk, "member", T);
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &adm, NOW, &c, &err), ST_NEW);
  /* What it wrote while waiting for admission counts once it is admitted
   * (trust.h), whether dated before or after the endorsement. */
  assert_int_equal(c.released, 2);
  assert_true(has(s, pub.hash));
  assert_true(has(s, before.hash));
  assert_int_equal(stats(s).pending, 0);
  assert_true(member(s, n.pk, T));
  assert_true(member(s, n.pk, NOW));
  assert_true(member(s, n.pk, T - 1));
  assert_true(member(s, a.pk, 0));
  store_rd *rd;
  uint8_t m[4][KEY_LEN];
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(trust_members(store_trust(rd), T - 1, m, 4), 1); /* the founder */
  assert_int_equal(trust_members(store_trust(rd), T, m, 4), 2);
  assert_memory_equal(m[1], n.pk, KEY_LEN);
  store_rd_end(rd);

  /* The new member endorses its own editor, no quorum needed. */
  key ed;
  key_make(&ed, 3);
  rb eend, byed;
  mk_trust(&eend, &fd, REC_ENDORSE, &n, ed.pk, "editor", T + 20);
  mk_org_new(&byed, &fd, &n, &ed, T + 30, "By the second network's editor");
  rb *batch[] = { &byed, &eend };
  int st[2];
  ingest_n(s, &fd, batch, 2, NOW, NULL, st, NULL);
  assert_int_equal(st[0], ST_NEW);
  assert_int_equal(st[1], ST_NEW);
  /* But it cannot endorse editors for the founder. */
  key ed2;
  key_make(&ed2, 4);
  rb foreign;
  body bd;
  uint8_t id[ID_LEN];
  id_make(id);
  b_init(&bd, 2);
  b_bin(&bd, "subject", ed2.pk, KEY_LEN);
  b_str(&bd, "role", "editor");
  mk(&foreign, &fd, REC_ENDORSE, a.pk, id, T + 40, &n, &bd); /* owner a, signed by n */
  assert_int_equal(ingest1(s, &fd, &foreign, NOW, NULL, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);
  assert_int_equal(verify(s), 0);
}

static void test_member_quorum2_and_revoke(void **state) {
  fx *f = *state;
  key a, b, n;
  fed fd;
  key_make(&a, 1);
  key_make(&b, 2);
  key_make(&n, 3);
  const key *fa[] = { &a, &b };
  fed_make(&fd, fa, 2, 2);
  store *s = fx_store(f, &fd, NULL);
  store_counts c;
  int err;
  const uint64_t T = NOW - 1000000;

  rb e1, e2, p1;
  mk_trust(&e1, &fd, REC_ENDORSE, &a, n.pk, "member", T);
  mk_trust(&e2, &fd, REC_ENDORSE, &b, n.pk, "member", T + 100);
  mk_org_new(&p1, &fd, &n, &n, T + 200, "Admitted by two");

  assert_int_equal(ingest1(s, &fd, &e1, NOW, NULL, &err), ST_NEW);
  assert_false(member(s, n.pk, T + 200));
  assert_int_equal(ingest1(s, &fd, &p1, NOW, NULL, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);
  /* The same founder endorsing again is not a second vote. */
  rb e1b;
  mk_trust(&e1b, &fd, REC_ENDORSE, &a, n.pk, "member", T + 50);
  assert_int_equal(ingest1(s, &fd, &e1b, NOW, NULL, &err), ST_NEW);
  assert_false(member(s, n.pk, T + 200));
  assert_false(has(s, p1.hash));

  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &e2, NOW, &c, &err), ST_NEW);
  assert_int_equal(c.released, 1);
  assert_true(has(s, p1.hash));
  assert_true(member(s, n.pk, T + 100));
  assert_true(member(s, n.pk, T + 99)); /* a member now: its earlier records count */

  /* Revocation: one vote is not enough, two are. */
  rb p2, v1, v2, p3, p4;
  mk_org_new(&p2, &fd, &n, &n, T + 1000, "Before the revocation");
  expect_new(s, &fd, &p2);
  mk_trust(&v1, &fd, REC_REVOKE, &a, n.pk, "member", T + 2000);
  expect_new(s, &fd, &v1);
  assert_true(member(s, n.pk, T + 2500));
  mk_org_new(&p3, &fd, &n, &n, T + 2500, "Between the votes");
  expect_new(s, &fd, &p3);
  mk_trust(&v2, &fd, REC_REVOKE, &b, n.pk, "member", T + 3000);
  expect_new(s, &fd, &v2);
  assert_false(member(s, n.pk, T + 3000));
  assert_false(member(s, n.pk, NOW));
  assert_true(member(s, n.pk, T + 2999));
  assert_true(member(s, n.pk, T + 200));
  mk_org_new(&p4, &fd, &n, &n, T + 4000, "After the revocation");
  assert_int_equal(ingest1(s, &fd, &p4, NOW, NULL, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);

  /* The earlier records stay, and stay valid. */
  assert_true(has(s, p1.hash));
  assert_true(has(s, p2.hash));
  assert_true(has(s, p3.hash));
  assert_int_equal(search(s, "revocation")->n, 1);
  assert_int_equal(verify(s), 0);

  store_rd *rd;
  uint8_t m[4][KEY_LEN];
  assert_int_equal(store_rd_begin(s, &rd), 0);
  const trust_state *t = store_trust(rd);
  assert_int_equal(trust_quorum(t), 2);
  assert_int_equal(trust_members(t, T + 99, m, 4), 2);
  assert_int_equal(trust_members(t, T + 500, m, 4), 3);
  assert_int_equal(trust_members(t, NOW, m, 4), 2);
  store_rd_end(rd);
}

/* Trust replay order independence ------------------------------------------- */

typedef struct evlist {
  size_t n;
  trust_event ev[64];
} evlist;

static int ev_cb(void *ctx, const trust_event *ev) {
  evlist *l = ctx;
  if (l->n < 64) l->ev[l->n] = *ev;
  l->n++;
  return 0;
}

static void test_trust_order_independence(void **state) {
  fx *f = *state;
  key a, b, c, n1, n2, e1, e2, e3;
  fed fd;
  key_make(&a, 1);
  key_make(&b, 2);
  key_make(&c, 3);
  key_make(&n1, 4);
  key_make(&n2, 5);
  key_make(&e1, 6);
  key_make(&e2, 7);
  key_make(&e3, 8);
  const key *fa[] = { &a, &b, &c };
  fed_make(&fd, fa, 3, 2);
  const uint64_t T = NOW - 10000000;

  enum { NR = 14 };
  rb *r = fx_alloc(f, NR * sizeof *r);
  int k = 0;
  mk_trust(&r[k++], &fd, REC_ENDORSE, &a, n1.pk, "member", T + 100);
  mk_trust(&r[k++], &fd, REC_ENDORSE, &b, n1.pk, "member", T + 110);  /* n1 member */
  mk_trust(&r[k++], &fd, REC_ENDORSE, &n1, e1.pk, "editor", T + 120);
  mk_trust(&r[k++], &fd, REC_ENDORSE, &a, n2.pk, "member", T + 130);
  mk_trust(&r[k++], &fd, REC_ENDORSE, &n1, n2.pk, "member", T + 140); /* n2 member */
  mk_trust(&r[k++], &fd, REC_ENDORSE, &n2, e2.pk, "editor", T + 150);
  mk_trust(&r[k++], &fd, REC_REVOKE, &n1, e1.pk, "editor", T + 160);
  mk_trust(&r[k++], &fd, REC_REVOKE, &a, n1.pk, "member", T + 200);
  mk_trust(&r[k++], &fd, REC_REVOKE, &c, n1.pk, "member", T + 210);  /* n1 out */
  mk_trust(&r[k++], &fd, REC_ENDORSE, &n1, e3.pk, "editor", T + 220); /* n1 no longer may */
  mk_trust(&r[k++], &fd, REC_ENDORSE, &b, n2.pk, "editor", T + 230);  /* odd but harmless */
  mk_org_new(&r[k++], &fd, &n1, &e1, T + 125, "By e1 in time");
  mk_org_new(&r[k++], &fd, &n2, &e2, T + 155, "By e2 in time");
  mk_org_new(&r[k++], &fd, &n1, &n1, T + 205, "By n1 between the votes");
  assert_int_equal(k, NR);

  /* Store 0: one by one in time order.  Store 1: one by one, reversed.
   * Store 2: all in one batch, shuffled. */
  store *s[3];
  for (int i = 0; i < 3; i++) s[i] = fx_store(f, &fd, NULL);
  for (int i = 0; i < NR; i++) ingest1(s[0], &fd, &r[i], NOW, NULL, NULL);
  for (int i = NR - 1; i >= 0; i--) ingest1(s[1], &fd, &r[i], NOW, NULL, NULL);
  rb *shuf[NR];
  for (int i = 0; i < NR; i++) shuf[i] = &r[i];
  uint32_t x = 12345;
  for (int i = NR - 1; i > 0; i--) {
    x = x * 1103515245u + 12345u;
    int j = (int)((x >> 8) % (uint32_t)(i + 1));
    rb *t = shuf[i];
    shuf[i] = shuf[j];
    shuf[j] = t;
  }
  ingest_n(s[2], &fd, shuf, NR, NOW, NULL, NULL, NULL);

  const key *nets[] = { &a, &b, &c, &n1, &n2, &e1 };
  const uint64_t times[] = { 0, T + 105, T + 110, T + 125, T + 135, T + 140, T + 155,
                             T + 160, T + 165, T + 205, T + 210, T + 215, T + 225, NOW };
  enum { NT = sizeof times / sizeof *times };
  struct { const key *net, *key; int role; } keys[] = {
    { &n1, &e1, TRUST_EDITOR }, { &n2, &e2, TRUST_EDITOR }, { &n1, &e3, TRUST_EDITOR },
    { &n2, &e1, TRUST_EDITOR }, { &b, &n2, TRUST_EDITOR }, { &n1, &e1, TRUST_NODE },
  };
  bool mem[3][6][NT], kv[3][6][NT];
  evlist evs[3];
  for (int i = 0; i < 3; i++) {
    store_rd *rd;
    assert_int_equal(store_rd_begin(s[i], &rd), 0);
    const trust_state *t = store_trust(rd);
    assert_non_null(t);
    for (int j = 0; j < 6; j++)
      for (int u = 0; u < NT; u++) {
        mem[i][j][u] = trust_is_member(t, nets[j]->pk, times[u]);
        kv[i][j][u] = trust_key_valid(t, keys[j].net->pk, keys[j].key->pk, keys[j].role, times[u]);
      }
    memset(&evs[i], 0, sizeof evs[i]);
    assert_int_equal(store_trust_events(rd, ev_cb, &evs[i]), 0);
    store_rd_end(rd);
  }
  for (int i = 1; i < 3; i++) {
    for (int j = 0; j < 6; j++)
      for (int u = 0; u < NT; u++) {
        if (mem[i][j][u] != mem[0][j][u])
          fail_msg("store %d: membership of net %d at time %d differs", i, j, u);
        if (kv[i][j][u] != kv[0][j][u])
          fail_msg("store %d: validity of key %d at time %d differs", i, j, u);
      }
  }
  /* And the answers are the right ones. */
  for (int u = 0; u < NT; u++) {
    uint64_t t = times[u];
    assert_true(mem[0][0][u] && mem[0][1][u] && mem[0][2][u]);
    /* Records of a network count if it is a member now or they predate
     * its removal (trust.h): n1 was removed at T+210, n2 is a member. */
    assert_int_equal(mem[0][3][u], t < T + 210);                   /* n1 */
    assert_true(mem[0][4][u]);                                     /* n2 */
    assert_false(mem[0][5][u]);                                    /* a key, never a net */
    assert_int_equal(kv[0][0][u], t >= T + 120 && t < T + 160);    /* e1 for n1 */
    assert_int_equal(kv[0][1][u], t >= T + 150);                   /* e2 for n2 */
    /* e3: n1 endorsed it after it was out.  That endorsement is held void
     * and replayed (docs/trust.md, "Re-judging"), so the key's own history
     * shows it; no record of n1 dated after its removal counts anyway
     * (checked below). */
    assert_int_equal(kv[0][2][u], t >= T + 220);
    assert_false(kv[0][3][u]);
    assert_int_equal(kv[0][4][u], t >= T + 230);                   /* b's own "editor" n2 */
    assert_false(kv[0][5][u]);
  }
  /* The same trust records were taken in, in the same replay order. */
  for (int i = 1; i < 3; i++) {
    assert_int_equal(evs[i].n, evs[0].n);
    for (size_t j = 0; j < evs[0].n && j < 64; j++) {
      assert_int_equal(evs[i].ev[j].ts, evs[0].ev[j].ts);
      assert_memory_equal(evs[i].ev[j].hash, evs[0].ev[j].hash, HASH_LEN);
    }
  }
  /* n1's endorsement of e3 came after it left: held everywhere (n1 was a
   * member once), in no index. */
  rec_header late;
  memset(&late, 0, sizeof late);
  late.kind = REC_ORG;
  memcpy(late.owner, n1.pk, KEY_LEN);
  memcpy(late.signer, e3.pk, KEY_LEN);
  late.ts = T + 225;
  for (int i = 0; i < 3; i++) {
    store_entry en;
    assert_true(has(s[i], r[9].hash));
    assert_int_equal(entry(s[i], r[9].ekey, &en), STOA_ENOTFOUND);
    assert_true(has(s[i], r[11].hash));
    assert_true(has(s[i], r[12].hash));
    assert_true(has(s[i], r[13].hash));
    assert_int_equal(stats(s[i]).records, NR);
    assert_int_equal(stats(s[i]).pending, 0);
    assert_int_equal(verify(s[i]), 0);
    store_rd *rd;
    assert_int_equal(store_rd_begin(s[i], &rd), 0);
    assert_int_equal(trust_check(store_trust(rd), &late), STOA_EUNTRUSTED);
    store_rd_end(rd);
  }
}

/*
 * Pending records released in one recheck must be judged against every
 * trust record that the same recheck releases, not only those that happen
 * to sort before them in the pending area.  Arrival in reverse time order:
 * an editor's record dated after its key was revoked, the revocation, the
 * endorsement, then the admission of its network that makes the rest valid.
 * Hashes are chosen so that the pending area holds them in the order
 * endorsement < record < revocation, the order that lets a release-as-found
 * recheck accept the record between the two.
 */
static void test_pending_release_trust_first(void **state) {
  fx *f = *state;
  key a, b, n, e;
  fed fd;
  key_make(&a, 1);
  key_make(&b, 2);
  key_make(&n, 3);
  key_make(&e, 4);
  const key *fa[] = { &a, &b };
  fed_make(&fd, fa, 2, 2);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 10000000;

  rb *r = fx_alloc(f, 6 * sizeof *r);
  rb *adm_a = &r[0], *adm_b = &r[1], *endo = &r[2], *rev = &r[3], *ok = &r[4], *late = &r[5];
  mk_trust(adm_a, &fd, REC_ENDORSE, &a, n.pk, "member", T + 100);
  mk_trust(adm_b, &fd, REC_ENDORSE, &b, n.pk, "member", T + 110);
  mk_org_new(ok, &fd, &n, &e, T + 125, "Written while the key was valid");
  int tries = 0;
  do {
    mk_trust(endo, &fd, REC_ENDORSE, &n, e.pk, "editor", T + 120);
    mk_trust(rev, &fd, REC_REVOKE, &n, e.pk, "editor", T + 160);
    mk_org_new(late, &fd, &n, &e, T + 165, "Written after the key was revoked");
    assert_true(++tries < 10000);
  } while (!(memcmp(endo->hash, late->hash, HASH_LEN) < 0 &&
             memcmp(late->hash, rev->hash, HASH_LEN) < 0));

  rb *arrival[] = { late, ok, rev, endo };
  int st[4], er[4];
  for (int i = 0; i < 4; i++) {
    st[i] = ingest1(s, &fd, arrival[i], NOW, NULL, &er[i]);
    assert_int_equal(st[i], ST_PENDING);
    assert_int_equal(er[i], STOA_EUNTRUSTED);
  }
  expect_new(s, &fd, adm_b); /* a founder's vote: taken at once, one of two */
  assert_int_equal(stats(s).pending, 4);
  store_counts c;
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, adm_a, NOW, &c, NULL), ST_NEW);
  assert_true(has(s, adm_b->hash));
  assert_true(has(s, endo->hash));
  assert_true(has(s, rev->hash));
  assert_true(has(s, ok->hash));
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_false(trust_key_valid(store_trust(rd), n.pk, e.pk, TRUST_EDITOR, T + 165));
  store_rd_end(rd);
  /* The same verdict as a node that got them in time order: held (in the
   * record set, as every node that once took it as valid holds it) but
   * void: in no index. */
  store_entry en;
  assert_true(has(s, late->hash));
  assert_int_equal(entry(s, late->ekey, &en), STOA_ENOTFOUND);
  assert_int_equal(entry(s, ok->ekey, &en), 0);
  assert_int_equal(search(s, "revoked")->n, 0);
  assert_int_equal(search(s, "valid")->n, 1);
  assert_int_equal(stats(s).pending, 0);
  assert_int_equal(c.released, 4);
  assert_int_equal(verify(s), 0);
}

/* ---- history and the current version ------------------------------------------- */

typedef struct vlist {
  size_t n;
  uint64_t ts[16];
  uint8_t hash[16][HASH_LEN];
} vlist;

static int version_cb(void *ctx, uint64_t ts, const uint8_t hash[HASH_LEN]) {
  vlist *v = ctx;
  if (v->n < 16) {
    v->ts[v->n] = ts;
    memcpy(v->hash[v->n], hash, HASH_LEN);
  }
  v->n++;
  return 0;
}

static vlist history(store *s, const uint8_t ekey[EKEY_LEN]) {
  vlist v;
  store_rd *rd;
  memset(&v, 0, sizeof v);
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_history(rd, ekey, version_cb, &v), 0);
  store_rd_end(rd);
  return v;
}

static void test_history_current(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 500000;
  uint8_t id[ID_LEN];
  store_entry e;

  rb v1, v2, v3;
  id_make(id);
  mk_org(&v1, &fd, &a, &a, id, T + 1000, "Alpha Kooperative", "DE", NULL, NULL);
  mk_org(&v2, &fd, &a, &a, id, T + 2000, "Gamma Kooperative", "DE", NULL, NULL);
  mk_org(&v3, &fd, &a, &a, id, T + 3000, "Beta Kooperative", "DE", "Berlin", NULL);
  expect_new(s, &fd, &v1);
  expect_new(s, &fd, &v3);
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_memory_equal(e.hash, v3.hash, HASH_LEN);
  assert_int_equal(e.ts, T + 3000);
  assert_int_equal(e.versions, 2);
  /* The older v2 arrives last and changes nothing. */
  expect_new(s, &fd, &v2);
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_memory_equal(e.hash, v3.hash, HASH_LEN);
  assert_int_equal(e.ts, T + 3000);
  assert_int_equal(e.versions, 3);
  assert_int_equal(e.kind, REC_ORG);
  assert_false(e.erased);

  vlist h = history(s, v1.ekey);
  assert_int_equal(h.n, 3);
  assert_int_equal(h.ts[0], T + 1000);
  assert_int_equal(h.ts[1], T + 2000);
  assert_int_equal(h.ts[2], T + 3000);
  assert_memory_equal(h.hash[0], v1.hash, HASH_LEN);
  assert_memory_equal(h.hash[1], v2.hash, HASH_LEN);
  assert_memory_equal(h.hash[2], v3.hash, HASH_LEN);
  /* Every version is held with its body. */
  assert_true(has_body(s, &v1));
  assert_true(has_body(s, &v2));
  assert_true(has_body(s, &v3));

  /* Search sees the current version only. */
  assert_int_equal(search(s, "beta")->n, 1);
  assert_int_equal(search(s, "berlin")->n, 1);
  assert_int_equal(search(s, "alpha")->n, 0);
  assert_int_equal(search(s, "gamma")->n, 0);
  assert_int_equal(search(s, "kooperative")->n, 1);

  /* Equal timestamps: the larger hash wins, whatever the arrival order. */
  for (int order = 0; order < 2; order++) {
    rb x, y;
    id_make(id);
    mk_org(&x, &fd, &a, &a, id, T + 5000, "Tie one", "DE", NULL, NULL);
    mk_org(&y, &fd, &a, &a, id, T + 5000, "Tie two", "DE", NULL, NULL);
    rb *big = memcmp(x.hash, y.hash, HASH_LEN) > 0 ? &x : &y;
    rb *small = big == &x ? &y : &x;
    expect_new(s, &fd, order ? big : small);
    expect_new(s, &fd, order ? small : big);
    assert_int_equal(entry(s, x.ekey, &e), 0);
    assert_memory_equal(e.hash, big->hash, HASH_LEN);
    assert_int_equal(e.versions, 2);
    vlist hv = history(s, x.ekey);
    assert_int_equal(hv.n, 2);
    assert_int_equal(hv.ts[0], T + 5000);
    assert_int_equal(hv.ts[1], T + 5000);
  }
  assert_int_equal(search(s, "tie")->n, 2);

  /* An unknown entry. */
  uint8_t nokey[EKEY_LEN] = { 0 };
  assert_int_equal(entry(s, nokey, &e), STOA_ENOTFOUND);
  assert_int_equal(history(s, nokey).n, 0);
  assert_int_equal(verify(s), 0);
}

/* ---- erasure ------------------------------------------------------------------------ */

static void test_erase_owner(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 500000;
  uint8_t id[ID_LEN];
  store_entry e;
  store_counts c;
  int err;

  rb v0, v1, v2, v3, er, other;
  id_make(id);
  mk_org(&v0, &fd, &a, &a, id, T + 500, "Zorana Early", "RS", NULL, NULL);
  mk_org(&v1, &fd, &a, &a, id, T + 1000, "Zorana Petrovic Association", "RS", NULL, NULL);
  mk_org(&v2, &fd, &a, &a, id, T + 2000, "Zorana Petrovic Foundation", "RS", NULL, NULL);
  mk_org(&v3, &fd, &a, &a, id, T + 4000, "Renamed Foundation", "RS", NULL, NULL);
  mk_org_new(&other, &fd, &a, &a, T + 1500, "Unrelated Petrovic neighbours");
  expect_new(s, &fd, &v1);
  expect_new(s, &fd, &v2);
  expect_new(s, &fd, &other);
  assert_int_equal(search(s, "zorana")->n, 1);

  mk_erase(&er, &fd, &a, v1.ekey, T + 2000, T + 3000);
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &er, NOW, &c, &err), ST_NEW);
  assert_int_equal(c.erased_bodies, 2);
  assert_false(has_body(s, &v1));
  assert_false(has_body(s, &v2));
  assert_true(has_body(s, &other));
  assert_true(has_body(s, &er));
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_true(e.erased);
  assert_memory_equal(e.hash, v2.hash, HASH_LEN);
  assert_int_equal(search(s, "zorana")->n, 0);
  hits *hh = search(s, "petrovic");
  assert_int_equal(hh->n, 1);
  assert_memory_equal(hh->e[0].ekey, other.ekey, EKEY_LEN);
  vlist h = history(s, v1.ekey);
  assert_int_equal(h.n, 2);
  assert_memory_equal(h.hash[0], v1.hash, HASH_LEN);
  assert_memory_equal(h.hash[1], v2.hash, HASH_LEN);
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_erased_until(rd, v1.ekey), T + 2000);
  assert_int_equal(store_erased_until(rd, other.ekey), 0);
  store_rd_end(rd);

  /* An old version arriving later is kept without its body. */
  memset(&c, 0, sizeof c);
  assert_int_equal(ingest1(s, &fd, &v0, NOW, &c, &err), ST_NEW);
  assert_int_equal(c.erased_bodies, 1);
  assert_true(has(s, v0.hash));
  assert_false(has_body(s, &v0));
  assert_int_equal(search(s, "early")->n, 0);
  assert_int_equal(history(s, v1.ekey).n, 3);
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_true(e.erased);
  assert_int_equal(e.versions, 3);
  /* And a stub arrives as a stub and is known thereafter. */
  assert_int_equal(ingest1(s, &fd, &v1, NOW, NULL, &err), ST_KNOWN);

  /* A version after `until` is searchable again. */
  expect_new(s, &fd, &v3);
  assert_true(has_body(s, &v3));
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_false(e.erased);
  assert_memory_equal(e.hash, v3.hash, HASH_LEN);
  hh = search(s, "renamed");
  assert_int_equal(hh->n, 1);
  assert_memory_equal(hh->e[0].ekey, v1.ekey, EKEY_LEN);
  assert_int_equal(search(s, "zorana")->n, 0);
  assert_int_equal(history(s, v1.ekey).n, 4);
  assert_int_equal(verify(s), 0);
}

static void test_erase_quorum(void **state) {
  fx *f = *state;
  key a, b, c, d;
  fed fd;
  key_make(&a, 1);
  key_make(&b, 2);
  key_make(&c, 3);
  key_make(&d, 4);
  const key *fa[] = { &a, &b, &c };
  fed_make(&fd, fa, 3, 2);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 500000;
  store_entry e;
  int err;

  rb v1, eb, eb2, ed, ec;
  mk_org_new(&v1, &fd, &a, &a, T + 1000, "Personal Data Holder");
  expect_new(s, &fd, &v1);

  /* One other member: nothing happens, even voting twice. */
  mk_erase(&eb, &fd, &b, v1.ekey, T + 1000, T + 2000);
  mk_erase(&eb2, &fd, &b, v1.ekey, T + 1500, T + 2100);
  expect_new(s, &fd, &eb);
  expect_new(s, &fd, &eb2);
  assert_true(has_body(s, &v1));
  assert_int_equal(search(s, "personal")->n, 1);
  /* A non-member's erasure does not count (it is not even accepted). */
  mk_erase(&ed, &fd, &d, v1.ekey, T + 1000, T + 2200);
  assert_int_equal(ingest1(s, &fd, &ed, NOW, NULL, &err), ST_PENDING);
  assert_int_equal(err, STOA_EUNTRUSTED);
  assert_true(has_body(s, &v1));

  /* A second member: the quorum erases. */
  mk_erase(&ec, &fd, &c, v1.ekey, T + 1200, T + 2300);
  expect_new(s, &fd, &ec);
  assert_false(has_body(s, &v1));
  assert_int_equal(entry(s, v1.ekey, &e), 0);
  assert_true(e.erased);
  assert_int_equal(search(s, "personal")->n, 0);
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  uint64_t until = store_erased_until(rd, v1.ekey);
  store_rd_end(rd);
  /* The quorum agrees up to the smaller of the two votes' times. */
  assert_int_equal(until, T + 1200);
  assert_int_equal(verify(s), 0);
}

/* ---- search ---------------------------------------------------------------------- */

static void test_search(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 900000;
  uint64_t ts = T;
  uint8_t id[ID_LEN];
  hits *h;

  rb o1, o2, o3, o4, act, pr, edit1, edit2;
  const char *th_gender[] = { "gender", "domestic-workers", NULL };
  const char *th_labour[] = { "labour-rights", NULL };
  id_make(id);
  mk_org(&o1, &fd, &a, &a, id, ts += 10, "Société d'Entraide Migrante", "FR", "Lyon", th_gender);
  mk_org_new(&o2, &fd, &a, &a, ts += 10, "Verein Neue Straße");
  id_make(id);
  mk_org(&o3, &fd, &a, &a, id, ts += 10, "Entreprise solidaire", "BE", "Liège", th_labour);
  id_make(id);
  mk_org(&o4, &fd, &a, &a, id, ts += 10, "Kooperative der Societe", "DE", "Köln", th_labour);
  {
    body b;
    id_make(id);
    b_init(&b, 4);
    b_str(&b, "name", "Amina Diallo");
    b_str(&b, "role", "coordinatrice");
    b_bin(&b, "org", o1.ekey, EKEY_LEN);
    b_str(&b, "country", "SN");
    mk(&act, &fd, REC_ACTOR, a.pk, id, ts += 10, &a, &b);
  }
  {
    body b;
    const char *th[] = { "gender", "recruitment", NULL };
    const char *co[] = { "FR", "SN", NULL };
    id_make(id);
    b_init(&b, 5);
    b_str(&b, "title", "Mentorat entre femmes migrantes");
    b_str(&b, "summary", "Des binômes d'entraide pour l'accès à l'emploi");
    b_strs(&b, "themes", th);
    b_strs(&b, "countries", co);
    b_key(&b, "orgs");
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_bin_with_body(&b.pk, o3.ekey, EKEY_LEN);
    mk(&pr, &fd, REC_PRACTICE, a.pk, id, ts += 10, &a, &b);
  }
  rb *all[] = { &o1, &o2, &o3, &o4, &act, &pr };
  for (int i = 0; i < 6; i++) expect_new(s, &fd, all[i]);

  /* Folding. */
  h = search(s, "societe ");
  assert_int_equal(h->n, 2);
  assert_true(hits_have(h, o1.ekey) && hits_have(h, o4.ekey));
  h = search(s, "SOCIÉTÉ ");
  assert_int_equal(h->n, 2);
  h = search(s, "strasse");
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, o2.ekey, EKEY_LEN);
  assert_int_equal(search(s, "STRASSE ")->n, 1);
  assert_int_equal(search(s, "straße")->n, 1);
  assert_int_equal(search(s, "liege")->n, 1);
  assert_int_equal(search(s, "koln")->n, 1);

  /* Prefixes: "entr" is entraide (o1, pr), entreprise (o3), entre (pr). */
  h = search(s, "entr");
  assert_int_equal(h->n, 3);
  assert_true(hits_have(h, o1.ekey) && hits_have(h, o3.ekey) && hits_have(h, pr.ekey));
  assert_int_equal(search(s, "entrai")->n, 2);
  assert_int_equal(search(s, "entr ")->n, 0); /* a whole word now */
  assert_int_equal(search(s, "zzz")->n, 0);
  assert_int_equal(search(s, "nothing ")->n, 0);

  /* Several words: all must match. */
  h = search(s, "societe entraide");
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, o1.ekey, EKEY_LEN);
  h = search(s, "entraide migrantes");
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, pr.ekey, EKEY_LEN);
  assert_int_equal(search(s, "societe liege ")->n, 0);

  /* Filters. */
  store_query q;
  memset(&q, 0, sizeof q);
  q.kind = REC_ACTOR;
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, act.ekey, EKEY_LEN);
  assert_int_equal(h->e[0].kind, REC_ACTOR);
  q.kind = REC_ORG;
  assert_int_equal(search_q(s, &q)->n, 4);
  q.text = "entr";
  assert_int_equal(search_q(s, &q)->n, 2);
  memset(&q, 0, sizeof q);
  q.country[0] = "FR";
  h = search_q(s, &q);
  assert_int_equal(h->n, 3); /* o1, o2 (FR by default), and the practice */
  assert_true(hits_have(h, o1.ekey) && hits_have(h, o2.ekey) && hits_have(h, pr.ekey));
  q.country[1] = "SN";
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, pr.ekey, EKEY_LEN);
  memset(&q, 0, sizeof q);
  q.theme[0] = "labour-rights";
  h = search_q(s, &q);
  assert_int_equal(h->n, 2);
  assert_true(hits_have(h, o3.ekey) && hits_have(h, o4.ekey));
  q.country[0] = "de";
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, o4.ekey, EKEY_LEN);
  memset(&q, 0, sizeof q);
  q.theme[0] = "gender";
  q.kind = REC_PRACTICE;
  assert_int_equal(search_q(s, &q)->n, 1);
  q.theme[0] = "climate";
  q.kind = 0;
  assert_int_equal(search_q(s, &q)->n, 0);

  /* References. */
  memset(&q, 0, sizeof q);
  q.ref = o1.ekey;
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, act.ekey, EKEY_LEN);
  q.ref = o3.ekey;
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, pr.ekey, EKEY_LEN);
  q.ref = o2.ekey;
  assert_int_equal(search_q(s, &q)->n, 0);
  q.ref = o1.ekey;
  q.text = "amina";
  assert_int_equal(search_q(s, &q)->n, 1);
  q.text = "mentorat";
  assert_int_equal(search_q(s, &q)->n, 0);

  /* All, newest first. */
  memset(&q, 0, sizeof q);
  h = search_q(s, &q);
  assert_int_equal(h->n, 6);
  for (size_t i = 1; i < h->n; i++) assert_true(h->e[i - 1].ts > h->e[i].ts);
  assert_memory_equal(h->e[0].ekey, pr.ekey, EKEY_LEN);
  assert_memory_equal(h->e[5].ekey, o1.ekey, EKEY_LEN);

  /* Limit and offset page through without overlap or gap. */
  rb page[7];
  for (int i = 0; i < 7; i++) {
    char name[40];
    snprintf(name, sizeof name, "Paging Network %d", i);
    mk_org_new(&page[i], &fd, &a, &a, ts += 10, name);
    expect_new(s, &fd, &page[i]);
  }
  uint8_t seen[7][EKEY_LEN];
  size_t nseen = 0;
  memset(&q, 0, sizeof q);
  q.text = "paging";
  q.limit = 3;
  for (q.offset = 0; q.offset < 9; q.offset += 3) {
    h = search_q(s, &q);
    assert_int_equal(h->n, q.offset < 6 ? 3 : 1);
    for (size_t i = 0; i < h->n; i++) {
      /* page[6] is newest: offset k shows page[6 - k]. */
      assert_memory_equal(h->e[i].ekey, page[6 - q.offset - i].ekey, EKEY_LEN);
      for (size_t j = 0; j < nseen; j++) assert_memory_not_equal(seen[j], h->e[i].ekey, EKEY_LEN);
      memcpy(seen[nseen++], h->e[i].ekey, EKEY_LEN);
    }
  }
  assert_int_equal(nseen, 7);
  q.offset = 7;
  assert_int_equal(search_q(s, &q)->n, 0);
  q.offset = 0;
  q.limit = 0; /* the default, 50 */
  assert_int_equal(search_q(s, &q)->n, 7);

  /* An edit: found by the new text, not the removed one, and moves first. */
  mk_org(&edit1, &fd, &a, &a, o3.ekey + KEY_LEN, ts += 10, "Atelier solidaire", "BE", "Namur",
         th_labour);
  expect_new(s, &fd, &edit1);
  assert_int_equal(search(s, "entreprise")->n, 0);
  assert_int_equal(search(s, "liege")->n, 0);
  h = search(s, "atelier");
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, o3.ekey, EKEY_LEN);
  assert_memory_equal(h->e[0].hash, edit1.hash, HASH_LEN);
  assert_int_equal(h->e[0].versions, 2);
  h = search(s, "solidaire");
  assert_int_equal(h->n, 1);
  memset(&q, 0, sizeof q);
  q.theme[0] = "labour-rights";
  h = search_q(s, &q);
  assert_int_equal(h->n, 2);
  assert_memory_equal(h->e[0].ekey, o3.ekey, EKEY_LEN);
  /* Edited back and forth: still one hit each, no duplicates. */
  mk_org(&edit2, &fd, &a, &a, o3.ekey + KEY_LEN, ts += 10, "Entreprise solidaire", "BE", "Liège",
         th_labour);
  expect_new(s, &fd, &edit2);
  assert_int_equal(search(s, "atelier")->n, 0);
  assert_int_equal(search(s, "entreprise")->n, 1);
  assert_int_equal(search(s, "solidaire")->n, 1);
  assert_int_equal(search(s, "entr")->n, 3);
  memset(&q, 0, sizeof q);
  q.limit = 100;
  assert_int_equal(search_q(s, &q)->n, 13);
  assert_int_equal(verify(s), 0);
}

/* ---- vocabularies that grow ------------------------------------------------------ */

/* A record of a later version, with a theme, an org type and a practice
 * status this version does not know (slugs all), is taken in and indexed
 * like any other: ls --theme finds it by the new theme.  A value that is no
 * slug, or an unknown role in a trust record, is still refused. */
static void test_open_vocabulary(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  uint8_t id[ID_LEN];
  store_item it;
  store_query q;
  hits *h;
  body b;

  rb org, pr, old, bad, role;
  const char *th_new[] = { "gender", "digital-rights-2031", NULL };
  id_make(id);
  b_init(&b, 4);
  b_str(&b, "name", "Cooperativa Futura");
  b_str(&b, "country", "PT");
  b_str(&b, "type", "cooperative");
  b_strs(&b, "themes", th_new);
  mk(&org, &fd, REC_ORG, a.pk, id, NOW - 5000, &a, &b);
  expect_new(s, &fd, &org);
  assert_true(has_body(s, &org)); /* kept byte for byte */

  const char *th_only[] = { "digital-rights-2031", NULL };
  id_make(id);
  b_init(&b, 4);
  b_str(&b, "title", "Offline archives");
  b_str(&b, "summary", "Kept on paper too.");
  b_strs(&b, "themes", th_only);
  b_str(&b, "status", "on-hold");
  mk(&pr, &fd, REC_PRACTICE, a.pk, id, NOW - 4000, &a, &b);
  expect_new(s, &fd, &pr);

  const char *th_old[] = { "gender", NULL };
  id_make(id);
  mk_org(&old, &fd, &a, &a, id, NOW - 3000, "Known themes only", "FR", NULL, th_old);
  expect_new(s, &fd, &old);

  /* The facet index holds the new theme like a known one. */
  memset(&q, 0, sizeof q);
  q.theme[0] = "digital-rights-2031";
  q.limit = 100;
  h = search_q(s, &q);
  assert_int_equal(h->n, 2);
  assert_true(hits_have(h, org.ekey) && hits_have(h, pr.ekey));
  q.theme[0] = "gender";
  h = search_q(s, &q);
  assert_int_equal(h->n, 2);
  assert_true(hits_have(h, org.ekey) && hits_have(h, old.ekey));
  q.kind = REC_PRACTICE;
  q.theme[0] = "digital-rights-2031";
  h = search_q(s, &q);
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, pr.ekey, EKEY_LEN);
  assert_int_equal(search(s, "futura")->n, 1);

  /* No slug: upper case and a space. */
  const char *th_bad[] = { "gender", "Digital Rights", NULL };
  id_make(id);
  mk_org(&bad, &fd, &a, &a, id, NOW - 2000, "Not a slug", "FR", NULL, th_bad);
  item_set(&it, &bad, &fd);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_ESCHEMA);
  assert_string_equal(it.why.field, "themes");
  assert_false(has(s, bad.hash));

  /* The role of a trust record stays closed, slug or not. */
  key z;
  key_make(&z, 9);
  mk_trust(&role, &fd, REC_ENDORSE, &a, z.pk, "observer", NOW - 1000);
  item_set(&it, &role, &fd);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), 0);
  assert_int_equal(it.status, ST_REJECTED);
  assert_int_equal(it.err, STOA_ESCHEMA);
  assert_string_equal(it.why.field, "role");
  assert_false(has(s, role.hash));

  assert_int_equal(stats(s).records, 3);
  assert_int_equal(verify(s), 0); /* the indexes agree with the records */
}

/* ---- resolve ------------------------------------------------------------------------ */

static void test_resolve(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 100000;
  store_rd *rd;
  store_entry e;

  static const uint8_t id1[ID_LEN] = { 0xab, 0x12, 0x00, 0x01 };
  static const uint8_t id2[ID_LEN] = { 0xab, 0x12, 0xff, 0x02 };
  static const uint8_t id3[ID_LEN] = { 0xcd, 0x34, 0x56, 0x78, 0x9a };
  rb r1, r2, r3, r3b;
  mk_org(&r1, &fd, &a, &a, id1, T, "First", "FR", NULL, NULL);
  mk_org(&r2, &fd, &a, &a, id2, T + 1, "Second", "FR", NULL, NULL);
  mk_org(&r3, &fd, &a, &a, id3, T + 2, "Third", "FR", NULL, NULL);
  mk_org(&r3b, &fd, &a, &a, id3, T + 3, "Third, edited", "FR", NULL, NULL);
  expect_new(s, &fd, &r1);
  expect_new(s, &fd, &r2);
  expect_new(s, &fd, &r3);
  expect_new(s, &fd, &r3b);

  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_resolve(rd, "ab12", &e), STOA_EAMBIGUOUS);
  assert_int_equal(store_resolve(rd, "ab1", &e), STOA_EINVAL); /* too short */
  assert_int_equal(store_resolve(rd, "ab120", &e), 0);
  assert_memory_equal(e.ekey, r1.ekey, EKEY_LEN);
  assert_int_equal(store_resolve(rd, "AB12F", &e), 0);
  assert_memory_equal(e.ekey, r2.ekey, EKEY_LEN);
  assert_int_equal(store_resolve(rd, "cd34", &e), 0);
  assert_memory_equal(e.ekey, r3.ekey, EKEY_LEN);
  assert_memory_equal(e.hash, r3b.hash, HASH_LEN);
  assert_int_equal(e.versions, 2);
  assert_int_equal(e.kind, REC_ORG);
  char full[2 * ID_LEN + 2];
  for (int i = 0; i < ID_LEN; i++) sprintf(full + 2 * i, "%02x", id2[i]);
  assert_int_equal(store_resolve(rd, full, &e), 0);
  assert_memory_equal(e.ekey, r2.ekey, EKEY_LEN);
  strcat(full, "0"); /* one nibble more than an id */
  assert_int_equal(store_resolve(rd, full, &e), STOA_EINVAL);
  assert_int_equal(store_resolve(rd, "ab13", &e), STOA_ENOTFOUND);
  assert_int_equal(store_resolve(rd, "0000", &e), STOA_ENOTFOUND);
  assert_int_equal(store_resolve(rd, "ffff", &e), STOA_ENOTFOUND);
  assert_int_equal(store_resolve(rd, "ab1g", &e), STOA_EINVAL);
  assert_int_equal(store_resolve(rd, "ab12 ", &e), STOA_EINVAL);
  assert_int_equal(store_resolve(rd, "-b12", &e), STOA_EINVAL);
  assert_int_equal(store_resolve(rd, "", &e), STOA_EINVAL);
  store_rd_end(rd);
}

/* ---- map growth ---------------------------------------------------------------------- */

typedef struct scan_ctx {
  uint64_t n, last;
  const rb *expect; /* records in insertion order, or NULL */
  size_t nexpect;
} scan_ctx;

static int scan_cb(void *ctx, uint64_t seq, const uint8_t *buf, size_t len) {
  scan_ctx *x = ctx;
  rec r;
  if (seq != x->last + 1) return -1;
  x->last = seq;
  if (rec_decode(buf, len, &r)) return -2;
  if (x->expect) {
    if (x->n >= x->nexpect) return -3;
    if (memcmp(r.hash, x->expect[x->n].hash, HASH_LEN)) return -4;
  }
  x->n++;
  return 0;
}

static void test_map_growth(void **state) {
  fx *f = *state;
  key a;
  fed fd;
  solo_fed(&a, &fd);
  store_opts o = { .map_size = 256 * 1024 };
  store *s = fx_store(f, &fd, &o);
  enum { N = 3000, B = 250 };
  const uint64_t T = NOW - 10000000;
  static const char *const words[] = { "river", "forest", "harbour", "valley", "summit" };

  rb *r = fx_alloc(f, N * sizeof *r);
  uint64_t map0 = stats(s).map_size;
  assert_true(map0 <= 1024 * 1024);
  for (int i = 0; i < N; i++) {
    char name[80];
    snprintf(name, sizeof name, "Growth %s association number%d", words[i % 5], i);
    mk_org_new(&r[i], &fd, &a, &a, T + (uint64_t)i, name);
  }
  for (int i = 0; i < N; i += B) {
    rb *batch[B];
    int st[B];
    store_counts c;
    memset(&c, 0, sizeof c);
    for (int j = 0; j < B; j++) batch[j] = &r[i + j];
    ingest_n(s, &fd, batch, B, NOW, &c, st, NULL);
    assert_int_equal(c.fresh, B);
    for (int j = 0; j < B; j++) assert_int_equal(st[j], ST_NEW);
  }
  store_stats st = stats(s);
  assert_int_equal(st.records, N);
  assert_int_equal(st.entries, N);
  assert_true(st.map_size > map0);
  assert_true(st.used_bytes <= st.map_size);

  store_rd *rd;
  scan_ctx sc = { 0, 0, r, N };
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_scan(rd, 1, scan_cb, &sc), 0);
  assert_int_equal(sc.n, N);
  assert_int_equal(store_last_seq(rd), N);
  for (int i = 0; i < N; i += 97) assert_true(store_has(rd, r[i].hash));
  store_rd_end(rd);

  store_query q;
  memset(&q, 0, sizeof q);
  q.text = "harbour ";
  q.limit = 5000;
  assert_int_equal(search_q(s, &q)->n, N / 5);
  q.text = "growth ";
  assert_int_equal(search_q(s, &q)->n, N);
  hits *h = search(s, "number1234 ");
  assert_int_equal(h->n, 1);
  assert_memory_equal(h->e[0].ekey, r[1234].ekey, EKEY_LEN);
  h = search(s, "number2999");
  assert_int_equal(h->n, 1);
  assert_int_equal(verify(s), 0);

  /* Reopened with the small map size asked again: the data is all there. */
  int i = f->n - 1;
  store_close(f->s[i]);
  f->s[i] = NULL;
  assert_int_equal(store_open(&f->s[i], f->dir[i], &o), 0);
  s = f->s[i];
  assert_int_equal(stats(s).records, N);
  rb more;
  mk_org_new(&more, &fd, &a, &a, T + N, "After reopening");
  expect_new(s, &fd, &more);
  assert_int_equal(search(s, "reopening")->n, 1);
}

/* ---- writing on another thread (store_ingest_bg) ------------------------------ */

typedef struct bg_job {
  store *s;
  store_item *items;
  size_t n;
  int err;
  _Atomic int done;
} bg_job;

static void *bg_main(void *arg) {
  bg_job *j = arg;
  j->err = store_ingest_bg(j->s, j->items, j->n, NOW, NULL);
  j->done = 1;
  return NULL;
}

/* Batches written on a second thread while this one reads, as stoad does:
 * the reads see each commit whole or not at all, the readers' trust state
 * follows an endorsement made on the other thread, and when the map must
 * grow (it starts at 256 KiB) the writer stores nothing and says -EAGAIN,
 * and the batch goes again on the reading thread.  Nothing is lost. */
/* A federation of one founder whose editor key signs: a store whose map
 * starts at 256 KiB, and n records, the endorsement of the editor key
 * first, then n - 1 organisations "<what> association number<i>". */
typedef struct small_fed {
  key a, ed;
  fed fd;
  store *s;
  rb *r;
} small_fed;

static void small_fed_make(fx *f, small_fed *x, int n, const char *what) {
  const uint64_t T = NOW - 10000000;
  key_make(&x->a, 1);
  key_make(&x->ed, 2);
  const key *fa[] = { &x->a };
  fed_make(&x->fd, fa, 1, 1);
  store_opts o = { .map_size = 256 * 1024 };
  x->s = fx_store(f, &x->fd, &o);
  x->r = fx_alloc(f, (size_t)n * sizeof *x->r);
  mk_trust(&x->r[0], &x->fd, REC_ENDORSE, &x->a, x->ed.pk, "editor", T);
  for (int i = 1; i < n; i++) {
    char name[80];
    snprintf(name, sizeof name, "%s association number%d", what, i);
    mk_org_new(&x->r[i], &x->fd, &x->a, &x->ed, T + (uint64_t)i, name);
  }
}

static void test_ingest_bg(void **state) {
  fx *f = *state;
  enum { N = 3001, B = 250 };
  small_fed x;
  small_fed_make(f, &x, N, "Threaded");
  store *s = x.s;
  rb *r = x.r;
  store_item *items = fx_alloc(f, B * sizeof *items);
  int again = 0, reads = 0;
  for (int i = 0; i < N;) {
    size_t n = i == 0 ? 1 : (size_t)(N - i < B ? N - i : B);
    for (size_t j = 0; j < n; j++) item_set(&items[j], &r[i + (int)j], &x.fd);
    bg_job job = { s, items, n, 0, 0 };
    pthread_t th;
    store_writer_busy(s, true);
    assert_int_equal(pthread_create(&th, NULL, bg_main, &job), 0);
    while (!job.done) { /* reads meanwhile: a commit is seen whole or not at all */
      store_rd *rd;
      assert_int_equal(store_rd_begin(s, &rd), 0);
      bool first = store_has(rd, r[i].hash), last = store_has(rd, r[i + (int)n - 1].hash);
      assert_true(first == last);
      const uint8_t *buf;
      size_t len;
      assert_int_equal(store_get(rd, r[i].hash, &buf, &len), first ? 0 : STOA_ENOTFOUND);
      const trust_state *t = store_trust(rd);
      assert_non_null(t);
      if (i > 0) assert_true(trust_key_valid(t, x.a.pk, x.ed.pk, TRUST_EDITOR, NOW));
      store_rd_end(rd);
      reads++;
    }
    pthread_join(th, NULL);
    store_writer_busy(s, false);
    if (job.err == -EAGAIN) { /* the map must grow: here, no read open */
      again++;
      for (size_t j = 0; j < n; j++) assert_false(has(s, r[i + (int)j].hash));
      assert_int_equal(store_ingest(s, items, n, NOW, NULL), 0);
    } else {
      assert_int_equal(job.err, 0);
    }
    for (size_t j = 0; j < n; j++) assert_int_equal(items[j].status, ST_NEW);
    i += (int)n;
  }
  print_message("    %d batches written on a second thread, %d of them again on the reader's "
                "(map full); %d reads meanwhile\n", (N + B - 2) / B + 1, again, reads);
  assert_true(again >= 1);
  assert_int_equal(stats(s).records, N);
  assert_int_equal(search(s, "number2999")->n, 1);
  assert_int_equal(verify(s), 0);
}

/* store_reserve grows the map ahead of a write, so that the writer on the
 * second thread finds room and the batch is not written twice; never
 * while a read is open in this process. */
static void test_reserve(void **state) {
  fx *f = *state;
  enum { N = 1001 };
  small_fed x;
  small_fed_make(f, &x, N, "Reserved");
  store *s = x.s;
  store_item *items = fx_alloc(f, N * sizeof *items);
  size_t bytes = 0;
  for (int i = 0; i < N; i++) item_set(&items[i], &x.r[i], &x.fd), bytes += items[i].len;
  store_stats before = stats(s);
  assert_int_equal(before.map_size, 256 * 1024);
  /* Room enough already: nothing changes. */
  assert_int_equal(store_reserve(s, 4096), 0);
  assert_int_equal(stats(s).map_size, before.map_size);
  /* A read open: refused, nothing changes. */
  store_rd *rd;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_reserve(s, 6 * bytes), -EBUSY);
  store_rd_end(rd);
  assert_int_equal(stats(s).map_size, before.map_size);
  /* Now: the map doubles until the room follows the pages in use. */
  assert_int_equal(store_reserve(s, 6 * bytes), 0);
  store_stats after = stats(s);
  assert_true(after.map_size >= after.used_bytes + 6 * bytes);
  assert_true(after.map_size / 2 < after.used_bytes + 6 * bytes);
  assert_int_equal(after.map_size % before.map_size, 0);
  /* The whole batch on a second thread: written there, the first time. */
  bg_job job = { s, items, N, 0, 0 };
  pthread_t th;
  store_writer_busy(s, true);
  assert_int_equal(pthread_create(&th, NULL, bg_main, &job), 0);
  pthread_join(th, NULL);
  store_writer_busy(s, false);
  assert_int_equal(job.err, 0);
  for (int i = 0; i < N; i++) assert_int_equal(items[i].status, ST_NEW);
  assert_int_equal(stats(s).records, N);
  assert_int_equal(stats(s).map_size, after.map_size);
  print_message("    %zu record bytes: map 256 KiB -> %llu KiB before the write, %llu KiB used after it\n",
                bytes, (unsigned long long)after.map_size / 1024,
                (unsigned long long)stats(s).used_bytes / 1024);
  assert_int_equal(verify(s), 0);
}

/* ---- reindex and verify ---------------------------------------------------------------- */

typedef struct problems {
  int n, sig;
} problems;

static void problem_cb(void *ctx, const char *what, const uint8_t hash[HASH_LEN]) {
  problems *p = ctx;
  (void)hash;
  p->n++;
  if (strstr(what, "signature")) p->sig++;
}

/* Every hit of a query, for comparing before and after a reindex. */
static void snapshot(store *s, const char *text, int kind, hits *out) {
  store_query q;
  memset(&q, 0, sizeof q);
  q.text = text;
  q.kind = kind;
  q.limit = 1000;
  *out = *search_q(s, &q);
}

static void test_reindex_verify(void **state) {
  fx *f = *state;
  key a, b, ed;
  fed fd;
  key_make(&b, 2);
  key_make(&ed, 3);
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 1000000;
  uint8_t id[ID_LEN];

  /* A varied store: trust, edits, an erasure, an actor referencing an org. */
  rb tr[2], v[40], er, act;
  mk_trust(&tr[0], &fd, REC_ENDORSE, &a, b.pk, "member", T);
  mk_trust(&tr[1], &fd, REC_ENDORSE, &b, ed.pk, "editor", T + 1);
  expect_new(s, &fd, &tr[0]);
  expect_new(s, &fd, &tr[1]);
  for (int i = 0; i < 40; i++) {
    char name[64];
    const char *th[] = { i % 2 ? "climate" : "diaspora", NULL };
    snprintf(name, sizeof name, "Réseau %s numéro %d", i % 3 ? "Öffentlich" : "privé", i % 20);
    if (i < 20) id_make(id);
    else memcpy(id, v[i - 20].ekey + KEY_LEN, ID_LEN); /* a second version */
    const key *own = i % 4 == 1 ? &b : &a, *sig = i % 4 == 1 ? &ed : &a;
    if (i >= 20) { own = (i - 20) % 4 == 1 ? &b : &a; sig = own; }
    mk_org(&v[i], &fd, own, sig, id, T + 100 + (uint64_t)i, name, i % 2 ? "PH" : "MX", NULL, th);
    expect_new(s, &fd, &v[i]);
  }
  mk_erase(&er, &fd, &a, v[4].ekey, T + 200, T + 300);
  expect_new(s, &fd, &er);
  {
    body bd;
    id_make(id);
    b_init(&bd, 2);
    b_str(&bd, "name", "Referencing actor");
    b_bin(&bd, "org", v[2].ekey, EKEY_LEN);
    mk(&act, &fd, REC_ACTOR, a.pk, id, T + 400, &a, &bd);
  }
  expect_new(s, &fd, &act);

  const char *queries[] = { "reseau", "offentlich ", "prive ", "numero 7", "r", NULL };
  static hits before[6], after[6];
  assert_int_equal(verify(s), 0);
  for (int i = 0; queries[i]; i++) snapshot(s, queries[i], 0, &before[i]);
  assert_true(before[0].n == 19); /* 20 entries, one erased */
  store_query q;
  memset(&q, 0, sizeof q);
  q.ref = v[2].ekey;
  static hits refb, refa;
  refb = *search_q(s, &q);
  assert_int_equal(refb.n, 1);
  store_stats s0 = stats(s);

  store_counts c;
  memset(&c, 0, sizeof c);
  assert_int_equal(store_reindex(s, &c), 0);
  assert_int_equal(c.fresh, s0.records);
  for (int i = 0; queries[i]; i++) {
    snapshot(s, queries[i], 0, &after[i]);
    assert_int_equal(after[i].n, before[i].n);
    for (size_t j = 0; j < before[i].n; j++) {
      assert_memory_equal(after[i].e[j].ekey, before[i].e[j].ekey, EKEY_LEN);
      assert_memory_equal(after[i].e[j].hash, before[i].e[j].hash, HASH_LEN);
      assert_int_equal(after[i].e[j].versions, before[i].e[j].versions);
    }
  }
  refa = *search_q(s, &q);
  assert_int_equal(refa.n, 1);
  assert_memory_equal(refa.e[0].ekey, act.ekey, EKEY_LEN);
  store_stats s1 = stats(s);
  assert_int_equal(s1.records, s0.records);
  assert_int_equal(s1.entries, s0.entries);
  assert_int_equal(s1.trust_events, s0.trust_events);
  assert_false(has_body(s, &v[4]));
  assert_int_equal(verify(s), 0);
  /* The trust state survived the rebuild: the editor still writes. */
  rb late;
  mk_org_new(&late, &fd, &b, &ed, T + 500, "After the reindex");
  expect_new(s, &fd, &late);
  assert_int_equal(verify(s), 0);

  /* Damage one stored record's signature behind the store's back. */
  int di = f->n - 1;
  store_close(f->s[di]);
  f->s[di] = NULL;
  {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi, rdbi;
    MDB_val k = { HASH_LEN, v[7].hash }, d;
    uint8_t seq[8];
    rec x;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, f->dir[di], 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    /* docs/storage.md: "rec" maps a hash to its sequence number, "seq" a
     * sequence number to the envelope. */
    assert_int_equal(mdb_dbi_open(txn, "rec", 0, &rdbi), 0);
    assert_int_equal(mdb_get(txn, rdbi, &k, &d), 0);
    assert_int_equal(d.mv_size, 8);
    memcpy(seq, d.mv_data, 8);
    k.mv_size = 8;
    k.mv_data = seq;
    assert_int_equal(mdb_dbi_open(txn, "seq", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &d), 0);
    uint8_t *copy = malloc(d.mv_size);
    assert_non_null(copy);
    memcpy(copy, d.mv_data, d.mv_size);
    assert_int_equal(rec_decode(copy, d.mv_size, &x), 0);
    copy[(size_t)(x.sig - copy) + 5] ^= 0x01;
    d.mv_data = copy;
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(copy);
  }
  assert_int_equal(store_open(&f->s[di], f->dir[di], NULL), 0);
  s = f->s[di];
  problems p = { 0, 0 };
  store_problem_cb pcb = { problem_cb, &p };
  int np = store_verify(s, &pcb);
  assert_true(np > 0);
  assert_int_equal(np, p.n);
  assert_true(p.sig >= 1);
}

/* ---- scan and sequence ------------------------------------------------------------------ */

typedef struct stop_ctx { int calls; } stop_ctx;
static int stop_cb(void *ctx, uint64_t seq, const uint8_t *buf, size_t len) {
  stop_ctx *x = ctx;
  (void)seq; (void)buf; (void)len;
  return ++x->calls == 2 ? 42 : 0;
}

static void test_scan_seq(void **state) {
  fx *f = *state;
  key a, ed;
  fed fd;
  key_make(&ed, 2);
  solo_fed(&a, &fd);
  store *s = fx_store(f, &fd, NULL);
  const uint64_t T = NOW - 100000;
  store_rd *rd;

  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_last_seq(rd), 0);
  scan_ctx sc0 = { 0, 0, NULL, 0 };
  assert_int_equal(store_scan(rd, 1, scan_cb, &sc0), 0);
  assert_int_equal(sc0.n, 0);
  store_rd_end(rd);

  /* Insertion order, not time order: timestamps go backwards. */
  rb r[10];
  for (int i = 0; i < 10; i++) {
    char name[32];
    snprintf(name, sizeof name, "Sequence %d", i);
    mk_org_new(&r[i], &fd, &a, i == 6 ? &ed : &a, T - (uint64_t)i * 10, name);
  }
  rb *b1[] = { &r[0], &r[1], &r[2] };
  ingest_n(s, &fd, b1, 3, NOW, NULL, NULL, NULL);
  rb *b2[] = { &r[3], &r[4], &r[0], &r[5] }; /* r[0] known: no new number */
  ingest_n(s, &fd, b2, 4, NOW, NULL, NULL, NULL);
  int err;
  assert_int_equal(ingest1(s, &fd, &r[6], NOW, NULL, &err), ST_PENDING); /* held back */
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_last_seq(rd), 6);
  store_rd_end(rd);
  /* Released: numbered when it is stored, after the endorsement itself. */
  rb endo;
  mk_trust(&endo, &fd, REC_ENDORSE, &a, ed.pk, "editor", T - 1000);
  expect_new(s, &fd, &endo);
  rb *b3[] = { &r[7], &r[8], &r[9] };
  ingest_n(s, &fd, b3, 3, NOW, NULL, NULL, NULL);

  rb *order[] = { &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &endo, &r[6], &r[7], &r[8], &r[9] };
  enum { NO = sizeof order / sizeof *order };
  rb *exp = fx_alloc(f, NO * sizeof *exp);
  for (int i = 0; i < NO; i++) memcpy(exp[i].hash, order[i]->hash, HASH_LEN);

  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_last_seq(rd), NO);
  scan_ctx sc = { 0, 0, exp, NO };
  assert_int_equal(store_scan(rd, 1, scan_cb, &sc), 0);
  assert_int_equal(sc.n, NO);
  assert_int_equal(sc.last, NO);
  /* From the middle. */
  scan_ctx sc2 = { 0, 7, exp + 7, NO - 7 };
  assert_int_equal(store_scan(rd, 8, scan_cb, &sc2), 0);
  assert_int_equal(sc2.n, NO - 7);
  scan_ctx sc3 = { 0, 0, NULL, 0 };
  assert_int_equal(store_scan(rd, NO + 1, scan_cb, &sc3), 0);
  assert_int_equal(sc3.n, 0);
  /* A callback's non-zero return stops the scan and is returned. */
  stop_ctx st = { 0 };
  assert_int_equal(store_scan(rd, 1, stop_cb, &st), 42);
  assert_int_equal(st.calls, 2);
  store_rd_end(rd);

  /* A snapshot does not see later writes; a new one does. */
  assert_int_equal(store_rd_begin(s, &rd), 0);
  rb extra;
  mk_org_new(&extra, &fd, &a, &a, T, "Later write");
  store_rd *rd2;
  expect_new(s, &fd, &extra); /* while rd is open: readers do not block writers */
  assert_int_equal(store_last_seq(rd), NO);
  assert_false(store_has(rd, extra.hash));
  assert_int_equal(store_rd_begin(s, &rd2), 0);
  assert_int_equal(store_last_seq(rd2), NO + 1);
  assert_true(store_has(rd2, extra.hash));
  store_rd_end(rd2);
  store_rd_end(rd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_open_charter_reopen, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_basic, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_released_later, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_same_batch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_future, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_bound, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_share, setup, teardown),
    cmocka_unit_test_setup_teardown(test_member_quorum1, setup, teardown),
    cmocka_unit_test_setup_teardown(test_member_quorum2_and_revoke, setup, teardown),
    cmocka_unit_test_setup_teardown(test_trust_order_independence, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_release_trust_first, setup, teardown),
    cmocka_unit_test_setup_teardown(test_history_current, setup, teardown),
    cmocka_unit_test_setup_teardown(test_erase_owner, setup, teardown),
    cmocka_unit_test_setup_teardown(test_erase_quorum, setup, teardown),
    cmocka_unit_test_setup_teardown(test_search, setup, teardown),
    cmocka_unit_test_setup_teardown(test_open_vocabulary, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
    cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_bg, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reindex_verify, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_seq, setup, teardown),
  };
  if (sodium_init() < 0) return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
