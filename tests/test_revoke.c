/*
 * test_revoke.c - re-judging stored records when trust changes after them
 * (docs/trust.md, "Re-judging").  The store's visible state (entries and
 * their current versions, histories, search, verify) and its record set
 * must be a function of the set of records held, not of their arrival
 * order: the same records are ingested in many orders (the revocations
 * first, last, in separate batches, in one batch) into separate stores, and
 * a canonical dump of each store must come out byte for byte the same,
 * before and after `reindex`.  One case measures the cost of a revocation
 * that takes 10,000 stored records out (reported, never a pass/fail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ftw.h>
#include <msgpack.h>
#include <sodium.h>
#include <unistd.h>

#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "proto/trust.h"
#include "store/store.h"

#define NOW 1700000000000ull
#define T (NOW - 10000000ull)

/* ---- keys, federation, records (as tests/test_store.c) --------------------- */

typedef struct key {
  uint8_t pk[KEY_LEN];
  uint8_t sk[64];
} key;

static void key_make(key *k, uint8_t tag) {
  uint8_t seed[crypto_sign_SEEDBYTES];
  memset(seed, tag, sizeof seed);
  seed[0] = 0x7e;
  crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

typedef struct fed {
  uint8_t ch[CHARTER_MAX];
  size_t chlen;
  uint8_t id[HASH_LEN];
} fed;

static void fed_make(fed *fd, const key *founder) {
  charter c;
  assert_int_equal(charter_build("Revocation tests", 1, (const uint8_t (*)[64])founder->sk, 1,
                                 T - 1000, fd->ch, sizeof fd->ch, &fd->chlen), 0);
  assert_int_equal(charter_decode(fd->ch, fd->chlen, &c), 0);
  memcpy(fd->id, c.id, HASH_LEN);
}

typedef struct rb {
  size_t len;
  uint8_t hash[HASH_LEN];
  uint8_t ekey[EKEY_LEN];
  uint8_t b[768];
} rb;

static void id_make(uint8_t id[ID_LEN]) {
  static uint64_t ctr;
  uint8_t c[8];
  ctr++;
  memcpy(c, &ctr, 8);
  crypto_generichash_blake2b(id, ID_LEN, c, 8, (const uint8_t *)"rv", 2);
}

static void mk(rb *o, const fed *fd, int kind, const key *owner, const uint8_t id[ID_LEN],
               uint64_t ts, const key *signer, msgpack_sbuffer *sb) {
  rec r;
  assert_int_equal(rec_build(kind, owner->pk, id, ts, signer->sk, (const uint8_t *)sb->data,
                             sb->size, fd->id, o->b, sizeof o->b, &o->len), 0);
  msgpack_sbuffer_destroy(sb);
  assert_int_equal(rec_decode(o->b, o->len, &r), 0);
  memcpy(o->hash, r.hash, HASH_LEN);
  memcpy(o->ekey, owner->pk, KEY_LEN);
  memcpy(o->ekey + KEY_LEN, id, ID_LEN);
}

static void pk_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

/* An org version (a fresh entry when id is NULL). */
static void mk_org(rb *o, const fed *fd, const key *owner, const key *signer,
                   const uint8_t *id, uint64_t ts, const char *name) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t fresh[ID_LEN];
  if (!id) { id_make(fresh); id = fresh; }
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pk_str(&pk, "name"); pk_str(&pk, name);
  pk_str(&pk, "country"); pk_str(&pk, "GR");
  pk_str(&pk, "type"); pk_str(&pk, "ngo");
  mk(o, fd, REC_ORG, owner, id, ts, signer, &sb);
}

static void mk_trust(rb *o, const fed *fd, int kind, const key *issuer,
                     const uint8_t subject[KEY_LEN], const char *role, uint64_t ts) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t id[ID_LEN];
  id_make(id);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "subject"); msgpack_pack_bin_with_body(&pk, subject, KEY_LEN);
  pk_str(&pk, "role"); pk_str(&pk, role);
  mk(o, fd, kind, issuer, id, ts, issuer, &sb);
}

static void mk_erase(rb *o, const fed *fd, const key *owner, const key *signer,
                     const uint8_t target[EKEY_LEN], uint64_t until, uint64_t ts) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t id[ID_LEN];
  id_make(id);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "target"); msgpack_pack_bin_with_body(&pk, target, EKEY_LEN);
  pk_str(&pk, "until"); msgpack_pack_uint64(&pk, until);
  mk(o, fd, REC_ERASE, owner, id, ts, signer, &sb);
}

/* Ingests n records in one batch; statuses into st (may be NULL). */
static void ingest(store *s, const fed *fd, rb *const *rs, size_t n, int *st) {
  store_item *items = calloc(n ? n : 1, sizeof *items);
  assert_non_null(items);
  for (size_t i = 0; i < n; i++) {
    items[i].buf = rs[i]->b;
    items[i].len = rs[i]->len;
    assert_int_equal(rec_decode(rs[i]->b, rs[i]->len, &items[i].r), 0);
    items[i].sig_ok = rec_verify(&items[i].r, fd->id) == 0;
  }
  int e = store_ingest(s, items, n, NOW, NULL);
  for (size_t i = 0; st && i < n; i++) st[i] = items[i].status;
  free(items);
  assert_int_equal(e, 0);
}

/* ---- stores in scratch folders ---------------------------------------------- */

#define FX_MAX 8
typedef struct fx {
  char dir[FX_MAX][256];
  store *s[FX_MAX];
  int n;
} fx;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  *state = f;
  return f ? 0 : -1;
}

static int teardown(void **state) {
  fx *f = *state;
  for (int i = 0; i < f->n; i++) {
    store_close(f->s[i]);
    nftw(f->dir[i], rm_one, 8, FTW_DEPTH | FTW_PHYS);
  }
  free(f);
  return 0;
}

static store *fx_store(fx *f, const fed *fd) {
  const char *tmp = getenv("TMPDIR");
  assert_true(f->n < FX_MAX);
  int i = f->n++;
  snprintf(f->dir[i], sizeof f->dir[i], "%s/stoa-test-revoke-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(f->dir[i]));
  assert_int_equal(store_open(&f->s[i], f->dir[i], NULL), 0);
  assert_int_equal(store_set_charter(f->s[i], fd->ch, fd->chlen), 0);
  return f->s[i];
}

/* ---- a canonical dump of what a store shows ---------------------------------- */

typedef struct dump {
  char *p;
  size_t n, cap;
} dump;

static void dputs(dump *d, const char *fmt, ...) {
  va_list ap;
  char line[512];
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof line);
  if (d->n + (size_t)n + 1 > d->cap) {
    d->cap = (d->cap + (size_t)n + 1) * 2;
    d->p = realloc(d->p, d->cap);
    assert_non_null(d->p);
  }
  memcpy(d->p + d->n, line, (size_t)n + 1);
  d->n += (size_t)n;
}

static void dhex(dump *d, const uint8_t *b, size_t n) {
  char h[2 * 64 + 1];
  sodium_bin2hex(h, sizeof h, b, n < 64 ? n : 64);
  dputs(d, "%s", h);
}

static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, HASH_LEN); }
static int cmp_ekey(const void *a, const void *b) { return memcmp(a, b, EKEY_LEN); }

typedef struct hashes { uint8_t (*h)[HASH_LEN]; size_t n, cap; } hashes;

static int scan_cb(void *ctx, uint64_t seq, const uint8_t *buf, size_t len) {
  hashes *x = ctx;
  rec r;
  (void)seq;
  assert_int_equal(rec_decode(buf, len, &r), 0);
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 64;
    x->h = realloc(x->h, x->cap * sizeof *x->h);
    assert_non_null(x->h);
  }
  memcpy(x->h[x->n++], r.hash, HASH_LEN);
  return 0;
}

static int version_cb(void *ctx, uint64_t ts, const uint8_t hash[HASH_LEN]) {
  dump *d = ctx;
  dputs(d, " %llu:", (unsigned long long)(ts - T));
  dhex(d, hash, 4);
  return 0;
}

typedef struct ekeys { uint8_t (*k)[EKEY_LEN]; size_t n, cap; } ekeys;

static int hit_cb(void *ctx, const store_entry *e) {
  ekeys *x = ctx;
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 64;
    x->k = realloc(x->k, x->cap * sizeof *x->k);
    assert_non_null(x->k);
  }
  memcpy(x->k[x->n++], e->ekey, EKEY_LEN);
  return 0;
}

/* Search hits as a set (their order follows local arrival, docs/storage.md). */
static void dump_search(dump *d, store_rd *rd, const char *text) {
  store_query q;
  ekeys x = { 0 };
  memset(&q, 0, sizeof q);
  q.text = text;
  q.limit = 100000;
  int n = store_search(rd, &q, hit_cb, &x);
  assert_true(n >= 0);
  if (x.n) qsort(x.k, x.n, sizeof *x.k, cmp_ekey);
  dputs(d, "search '%s': %d", text ? text : "", n);
  for (size_t i = 0; i < x.n; i++) { dputs(d, " "); dhex(d, x.k[i] + KEY_LEN, 4); }
  dputs(d, "\n");
  free(x.k);
}

static int problems;
static void problem_cb(void *ctx, const char *what, const uint8_t hash[HASH_LEN]) {
  (void)ctx;
  problems++;
  print_message("    verify: %s (%02x%02x...)\n", what, hash ? hash[0] : 0, hash ? hash[1] : 0);
}

/* Everything a user can see of the store: the held record set and which
 * bodies it keeps, every entry of the universe (current version, count,
 * erased, history), search results, pending count, verify's verdict. */
static void dump_store(store *s, rb *const *all, size_t n, const char *const *queries, dump *d) {
  store_rd *rd;
  hashes hs = { 0 };
  store_stats st;
  d->n = 0;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_scan(rd, 1, scan_cb, &hs), 0);
  if (hs.n) qsort(hs.h, hs.n, sizeof *hs.h, cmp_hash);
  dputs(d, "held %zu:", hs.n);
  for (size_t i = 0; i < hs.n; i++) {
    const uint8_t *buf;
    size_t len;
    rec r;
    dputs(d, " ");
    dhex(d, hs.h[i], 4);
    assert_int_equal(store_get(rd, hs.h[i], &buf, &len), 0);
    assert_int_equal(rec_decode(buf, len, &r), 0);
    if (!r.body) dputs(d, "(stub)");
  }
  dputs(d, "\n");
  free(hs.h);
  for (size_t i = 0; i < n; i++) {
    store_entry e;
    int r = store_entry_get(rd, all[i]->ekey, &e);
    dputs(d, "entry ");
    dhex(d, all[i]->ekey + KEY_LEN, 4);
    if (r == STOA_ENOTFOUND) { dputs(d, ": none\n"); continue; }
    assert_int_equal(r, 0);
    dputs(d, ": kind %d ts %llu cur ", e.kind, (unsigned long long)(e.ts - T));
    dhex(d, e.hash, 4);
    dputs(d, " versions %u erased %d history", e.versions, e.erased);
    assert_int_equal(store_history(rd, all[i]->ekey, version_cb, d), 0);
    dputs(d, "\n");
  }
  for (size_t i = 0; queries[i]; i++) dump_search(d, rd, queries[i]);
  dump_search(d, rd, NULL);
  assert_int_equal(store_stats_get(rd, &st), 0);
  dputs(d, "records %llu entries %llu pending %llu\n", (unsigned long long)st.records,
        (unsigned long long)st.entries, (unsigned long long)st.pending);
  store_rd_end(rd);
  problems = 0;
  store_problem_cb pcb = { problem_cb, NULL };
  int v = store_verify(s, &pcb);
  assert_true(v >= 0);
  dputs(d, "verify %d\n", v);
}

/* Fails with the first line where two dumps differ. */
static void expect_same(const dump *a, const dump *b, const char *what) {
  if (a->n == b->n && !memcmp(a->p, b->p, a->n)) return;
  const char *x = a->p, *y = b->p;
  while (*x && *x == *y) {
    x++;
    y++;
  }
  while (x > a->p && x[-1] != '\n') { x--; y--; }
  const char *xe = strchr(x, '\n'), *ye = strchr(y, '\n');
  fail_msg("%s: stores differ\n  one:   %.*s\n  other: %.*s", what,
           (int)(xe ? xe - x : (long)strlen(x)), x, (int)(ye ? ye - y : (long)strlen(y)), y);
}

/* ---- the scenario ---------------------------------------------------------------- */

/*
 * Founder A (quorum 1) with editors E1 and E2, and a second network M that
 * A admits and later removes.  E1 is revoked at T+250 and endorsed again at
 * T+400.  Entries:
 *   X: v1 by E1 @100, v2 by E2 @200, v3 by E1 @300 -> current v2, 2 versions
 *   Y: by E1 @260 (after the revocation)           -> gone
 *   Z: by E1 @240, erased by E1's erase @270        -> held, erased (see below)
 *   V: by E1 @350 (revoked then)                   -> gone
 *   W: by E1 @450 (endorsed again)                 -> present
 *   P: by M @150 (a member then)                   -> present
 *   Q: by M @500 (after its removal at @480)       -> gone
 *   R: v1 by A @100, v2 by E1 @290 (revoked)        -> current v1
 * The erase by E1 at @270 is void too, yet it takes effect: an erasure
 * cannot be undone on the nodes that applied it before the revocation
 * reached them, so every node applies it (docs/trust.md).
 */
enum { NREC = 20 };
typedef struct scenario {
  key a, e1, e2, m;
  fed fd;
  rb r[NREC];
  rb *x1, *x2, *x3, *y, *z, *zerase, *v, *w, *p, *q, *r1, *r2;
  rb *rev, *reendorse, *remove_m;
  size_t n;
} scenario;

static void scenario_make(scenario *sc) {
  uint8_t idx[ID_LEN], idr[ID_LEN];
  size_t k = 0;
  key_make(&sc->a, 1);
  key_make(&sc->e1, 2);
  key_make(&sc->e2, 3);
  key_make(&sc->m, 4);
  fed_make(&sc->fd, &sc->a);
  const fed *fd = &sc->fd;
  rb *r = sc->r;
  mk_trust(&r[k++], fd, REC_ENDORSE, &sc->a, sc->e1.pk, "editor", T + 10);
  mk_trust(&r[k++], fd, REC_ENDORSE, &sc->a, sc->e2.pk, "editor", T + 10);
  mk_trust(&r[k++], fd, REC_ENDORSE, &sc->a, sc->m.pk, "member", T + 20);
  sc->rev = &r[k];
  mk_trust(&r[k++], fd, REC_REVOKE, &sc->a, sc->e1.pk, "editor", T + 250);
  sc->reendorse = &r[k];
  mk_trust(&r[k++], fd, REC_ENDORSE, &sc->a, sc->e1.pk, "editor", T + 400);
  sc->remove_m = &r[k];
  mk_trust(&r[k++], fd, REC_REVOKE, &sc->a, sc->m.pk, "member", T + 480);
  id_make(idx);
  sc->x1 = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, idx, T + 100, "Xenia first");
  sc->x2 = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e2, idx, T + 200, "Xenia second");
  sc->x3 = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, idx, T + 300, "Xenia third");
  sc->y = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, NULL, T + 260, "Ypsilon after");
  sc->z = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, NULL, T + 240, "Zeta before");
  sc->zerase = &r[k]; mk_erase(&r[k++], fd, &sc->a, &sc->e1, sc->z->ekey, T + 245, T + 270);
  sc->v = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, NULL, T + 350, "Vita between");
  sc->w = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, NULL, T + 450, "Wega again");
  sc->p = &r[k]; mk_org(&r[k++], fd, &sc->m, &sc->m, NULL, T + 150, "Pharos member");
  sc->q = &r[k]; mk_org(&r[k++], fd, &sc->m, &sc->m, NULL, T + 500, "Quercus removed");
  id_make(idr);
  sc->r1 = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->a, idr, T + 100, "Rhodos network");
  sc->r2 = &r[k]; mk_org(&r[k++], fd, &sc->a, &sc->e1, idr, T + 290, "Rhodos revoked");
  sc->n = k;
  assert_true(k <= NREC);
}

static const char *const queries[] = { "xenia", "ypsilon", "zeta", "vita", "wega", "pharos",
                                       "quercus", "rhodos", "first", "second", "third", NULL };

static bool is_trust(const scenario *sc, const rb *x) {
  return x < sc->r + 6; /* the first six records are endorse/revoke */
}

/* The expected state, stated outright (a dump comparison alone would pass
 * if every store were equally wrong). */
static void expect_state(store *s, const scenario *sc) {
  store_rd *rd;
  store_entry e;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_entry_get(rd, sc->x1->ekey, &e), 0);
  assert_memory_equal(e.hash, sc->x2->hash, HASH_LEN);
  assert_int_equal(e.versions, 2);
  assert_int_equal(store_entry_get(rd, sc->y->ekey, &e), STOA_ENOTFOUND);
  assert_int_equal(store_entry_get(rd, sc->z->ekey, &e), 0);
  assert_true(e.erased);
  assert_int_equal(store_entry_get(rd, sc->v->ekey, &e), STOA_ENOTFOUND);
  assert_int_equal(store_entry_get(rd, sc->w->ekey, &e), 0);
  assert_memory_equal(e.hash, sc->w->hash, HASH_LEN);
  assert_int_equal(store_entry_get(rd, sc->p->ekey, &e), 0);
  assert_int_equal(store_entry_get(rd, sc->q->ekey, &e), STOA_ENOTFOUND);
  assert_int_equal(store_entry_get(rd, sc->r1->ekey, &e), 0);
  assert_memory_equal(e.hash, sc->r1->hash, HASH_LEN);
  assert_int_equal(e.versions, 1);
  /* Every record is held: void ones too (the record set is the same). */
  for (size_t i = 0; i < sc->n; i++) assert_true(store_has(rd, sc->r[i].hash));
  store_rd_end(rd);
}

typedef struct order {
  const char *name;
  rb *seq[NREC];
  size_t batch[NREC]; /* batch sizes, summing to n */
  size_t nb;
} order;

static void order_one_by_one(order *o, size_t n) {
  o->nb = n;
  for (size_t i = 0; i < n; i++) o->batch[i] = 1;
}

static void shuffle(rb **v, size_t n, uint32_t seed) {
  for (size_t i = n - 1; i > 0; i--) {
    seed = seed * 1103515245u + 12345u;
    size_t j = (seed >> 8) % (i + 1);
    rb *t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

static void apply_order(store *s, const scenario *sc, const order *o) {
  size_t at = 0;
  for (size_t b = 0; b < o->nb; b++) {
    ingest(s, &sc->fd, (rb *const *)o->seq + at, o->batch[b], NULL);
    at += o->batch[b];
  }
  assert_int_equal(at, sc->n);
}

static void test_orders(void **state) {
  fx *f = *state;
  scenario *sc = calloc(1, sizeof *sc);
  assert_non_null(sc);
  scenario_make(sc);
  size_t n = sc->n;
  enum { NORD = 7 };
  order *ord = calloc(NORD, sizeof *ord);
  assert_non_null(ord);
  rb *all[NREC];
  for (size_t i = 0; i < n; i++) all[i] = &sc->r[i];

  /* 0: creation order (trust first), one by one. */
  ord[0].name = "in order";
  memcpy(ord[0].seq, all, n * sizeof *all);
  order_one_by_one(&ord[0], n);
  /* 1: reversed, one by one (data before the trust records). */
  ord[1].name = "reversed";
  for (size_t i = 0; i < n; i++) ord[1].seq[i] = all[n - 1 - i];
  order_one_by_one(&ord[1], n);
  /* 2: the revocations and the removal first, then the rest shuffled. */
  ord[2].name = "revocations first";
  {
    size_t k = 0;
    ord[2].seq[k++] = sc->rev;
    ord[2].seq[k++] = sc->remove_m;
    for (size_t i = 0; i < n; i++)
      if (all[i] != sc->rev && all[i] != sc->remove_m) ord[2].seq[k++] = all[i];
    shuffle(ord[2].seq + 2, n - 2, 7);
    order_one_by_one(&ord[2], n);
  }
  /* 3: everything else first, the revocations and the removal last: the
   * back-dated trust records must take stored records out. */
  ord[3].name = "revocations last";
  {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (all[i] != sc->rev && all[i] != sc->remove_m && all[i] != sc->reendorse)
        ord[3].seq[k++] = all[i];
    ord[3].seq[k++] = sc->reendorse;
    ord[3].seq[k++] = sc->rev;
    ord[3].seq[k++] = sc->remove_m;
    order_one_by_one(&ord[3], n);
  }
  /* 4: shuffled, in batches of 3 (the last one shorter). */
  ord[4].name = "batches of 3";
  memcpy(ord[4].seq, all, n * sizeof *all);
  shuffle(ord[4].seq, n, 99);
  for (size_t left = n; left; left -= ord[4].batch[ord[4].nb++]) ord[4].batch[ord[4].nb] = left < 3 ? left : 3;
  /* 5: all in one batch, shuffled. */
  ord[5].name = "one batch";
  memcpy(ord[5].seq, all, n * sizeof *all);
  shuffle(ord[5].seq, n, 4242);
  ord[5].nb = 1;
  ord[5].batch[0] = n;
  /* 6: the data in one batch, then the trust records one by one, newest
   * first (the re-endorsement arrives before the revocation it follows). */
  ord[6].name = "data, then trust newest first";
  {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (!is_trust(sc, all[i])) ord[6].seq[k++] = all[i];
    ord[6].batch[ord[6].nb++] = k;
    for (size_t i = n; i-- > 0;)
      if (is_trust(sc, all[i])) { ord[6].seq[k++] = all[i]; ord[6].batch[ord[6].nb++] = 1; }
  }

  dump ref = { 0 }, cur = { 0 }, rx = { 0 };
  for (int o = 0; o < NORD; o++) {
    store *s = fx_store(f, &sc->fd);
    apply_order(s, sc, &ord[o]);
    store_counts c;
    assert_int_equal(store_pending_recheck(s, NOW, &c), 0);
    expect_state(s, sc);
    dump_store(s, all, n, queries, o ? &cur : &ref);
    if (o) expect_same(&ref, &cur, ord[o].name);
    /* A reindexed store equals the one built record by record. */
    memset(&c, 0, sizeof c);
    assert_int_equal(store_reindex(s, &c), 0);
    dump_store(s, all, n, queries, &rx);
    expect_same(o ? &cur : &ref, &rx, "reindexed");
    expect_state(s, sc);
  }
  assert_non_null(strstr(ref.p, "verify 0\n"));
  assert_non_null(strstr(ref.p, "pending 0\n"));
  free(ref.p);
  free(cur.p);
  free(rx.p);
  free(ord);
  free(sc);
}

/* A record its key signed after the revocation, arriving after it: held
 * (the record set stays the same everywhere), reported pending, in no
 * index; verify is clean; it is known when it comes again. */
static void test_late_record(void **state) {
  fx *f = *state;
  scenario *sc = calloc(1, sizeof *sc);
  assert_non_null(sc);
  scenario_make(sc);
  store *s = fx_store(f, &sc->fd);
  rb *trust[] = { &sc->r[0], &sc->r[1], sc->rev };
  int st[3];
  ingest(s, &sc->fd, trust, 3, st);
  for (int i = 0; i < 3; i++) assert_int_equal(st[i], ST_NEW);
  store_item it;
  memset(&it, 0, sizeof it);
  it.buf = sc->y->b;
  it.len = sc->y->len;
  assert_int_equal(rec_decode(it.buf, it.len, &it.r), 0);
  it.sig_ok = true;
  store_counts c;
  memset(&c, 0, sizeof c);
  assert_int_equal(store_ingest(s, &it, 1, NOW, &c), 0);
  assert_int_equal(it.status, ST_PENDING);
  assert_int_equal(it.err, STOA_EUNTRUSTED);
  assert_int_equal(c.pending, 1);
  assert_int_equal(c.fresh, 0);
  store_rd *rd;
  store_entry e;
  store_stats stt;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_true(store_has(rd, sc->y->hash));
  assert_int_equal(store_entry_get(rd, sc->y->ekey, &e), STOA_ENOTFOUND);
  assert_int_equal(store_stats_get(rd, &stt), 0);
  assert_int_equal(stt.pending, 0); /* held, not in the pending area */
  store_rd_end(rd);
  assert_int_equal(store_verify(s, NULL), 0);
  assert_int_equal(store_ingest(s, &it, 1, NOW, NULL), 0);
  assert_int_equal(it.status, ST_KNOWN);
  /* A record by a key never endorsed still waits in the pending area. */
  key stranger;
  rb sx;
  key_make(&stranger, 9);
  mk_org(&sx, &sc->fd, &sc->a, &stranger, NULL, T + 300, "Stranger");
  rb *one[] = { &sx };
  ingest(s, &sc->fd, one, 1, st);
  assert_int_equal(st[0], ST_PENDING);
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_false(store_has(rd, sx.hash));
  assert_int_equal(store_stats_get(rd, &stt), 0);
  assert_int_equal(stt.pending, 1);
  store_rd_end(rd);
  /* The key endorsed again later: the record dated after that counts at
   * once, the one dated between stays void. */
  rb *more[] = { sc->reendorse, sc->w, sc->v };
  ingest(s, &sc->fd, more, 3, st);
  assert_int_equal(st[0], ST_NEW);
  assert_int_equal(st[1], ST_NEW);
  assert_int_equal(st[2], ST_PENDING);
  assert_int_equal(store_rd_begin(s, &rd), 0);
  assert_int_equal(store_entry_get(rd, sc->w->ekey, &e), 0);
  assert_int_equal(store_entry_get(rd, sc->v->ekey, &e), STOA_ENOTFOUND);
  store_rd_end(rd);
  assert_int_equal(store_verify(s, NULL), 0);
  free(sc);
}

static double secs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t count_hits(store *s, const char *text) {
  store_rd *rd;
  ekeys x = { 0 };
  store_query q;
  memset(&q, 0, sizeof q);
  q.text = text;
  q.limit = 100000;
  assert_int_equal(store_rd_begin(s, &rd), 0);
  int n = store_search(rd, &q, hit_cb, &x);
  store_rd_end(rd);
  free(x.k);
  assert_true(n >= 0);
  return (size_t)n;
}

/*
 * Cost: 10,000 entries by E1 and 2,000 by E2 are stored; a revocation of E1
 * dated before all of them arrives and takes E1's out; the re-endorsement
 * dated before them brings them back.  Times are printed, not judged; the
 * states are checked.
 */
static void test_cost_10k(void **state) {
  fx *f = *state;
  scenario *sc = calloc(1, sizeof *sc);
  assert_non_null(sc);
  scenario_make(sc);
  enum { N1 = 10000, N2 = 2000, B = 2000 };
  rb *recs = calloc(N1 + N2, sizeof *recs);
  rb **ptr = calloc(N1 + N2, sizeof *ptr);
  assert_non_null(recs);
  assert_non_null(ptr);
  for (size_t i = 0; i < N1 + N2; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s entry %zu", i < N1 ? "Kappa" : "Lambda", i);
    mk_org(&recs[i], &sc->fd, &sc->a, i < N1 ? &sc->e1 : &sc->e2, NULL, T + 1000 + i, name);
    ptr[i] = &recs[i];
  }
  store *s = fx_store(f, &sc->fd);
  rb *trust[] = { &sc->r[0], &sc->r[1] };
  ingest(s, &sc->fd, trust, 2, NULL);
  double t0 = secs();
  for (size_t i = 0; i < N1 + N2; i += B) ingest(s, &sc->fd, ptr + i, B, NULL);
  double t1 = secs();
  assert_int_equal(count_hits(s, "kappa"), N1);
  rb rev, back;
  mk_trust(&rev, &sc->fd, REC_REVOKE, &sc->a, sc->e1.pk, "editor", T + 500);
  rb *one[] = { &rev };
  double t2 = secs();
  ingest(s, &sc->fd, one, 1, NULL);
  double t3 = secs();
  assert_int_equal(count_hits(s, "kappa"), 0);
  assert_int_equal(count_hits(s, "lambda"), N2);
  mk_trust(&back, &sc->fd, REC_ENDORSE, &sc->a, sc->e1.pk, "editor", T + 600);
  one[0] = &back;
  double t4 = secs();
  ingest(s, &sc->fd, one, 1, NULL);
  double t5 = secs();
  assert_int_equal(count_hits(s, "kappa"), N1);
  /* An endorsement of an unrelated key: no stored record is concerned, and
   * the pass is skipped (DB_META's newest timestamp per key says so). */
  key e3;
  rb other;
  key_make(&e3, 11);
  mk_trust(&other, &sc->fd, REC_ENDORSE, &sc->a, e3.pk, "editor", T + 700);
  one[0] = &other;
  double t6 = secs();
  ingest(s, &sc->fd, one, 1, NULL);
  double t7 = secs();
  /* A member event (the admission of a new network) re-judges every held
   * record: one pass over all of them. */
  key m2;
  rb adm;
  key_make(&m2, 12);
  mk_trust(&adm, &sc->fd, REC_ENDORSE, &sc->a, m2.pk, "member", T + 800);
  one[0] = &adm;
  double ta = secs();
  ingest(s, &sc->fd, one, 1, NULL);
  double tb = secs();
  assert_int_equal(count_hits(s, "kappa"), N1);
  double t8 = secs();
  assert_int_equal(store_verify(s, NULL), 0);
  double t9 = secs();
  print_message("    ingest %d records: %.3f s (%.1f us/record)\n", N1 + N2, t1 - t0,
                (t1 - t0) * 1e6 / (N1 + N2));
  print_message("    back-dated revocation taking %d records out: %.3f s (%.1f us/record)\n", N1,
                t3 - t2, (t3 - t2) * 1e6 / N1);
  print_message("    re-endorsement bringing them back: %.3f s\n", t5 - t4);
  print_message("    endorsement of an unrelated key: %.4f s\n", t7 - t6);
  print_message("    member event (a pass over all %d records): %.3f s\n", N1 + N2 + 4, tb - ta);
  print_message("    verify: %.3f s\n", t9 - t8);
  free(ptr);
  free(recs);
  free(sc);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_orders, setup, teardown),
    cmocka_unit_test_setup_teardown(test_late_record, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cost_10k, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
