/*
 * test_search.c - store_search against a brute-force oracle.
 *
 * A store is filled with a few thousand generated entries (orgs, actors,
 * practices) whose words, countries and themes cluster, so that some terms
 * rarely occur together and others often do; posting lists span several
 * segments; some entries are edited (their old postings go stale), some get
 * an older version that does not become current, some are erased and some
 * of those written again.  The test keeps its own model of every entry's
 * current tokens and of the order in which entries last changed, and
 * compares every result list of many random queries (words, prefixes,
 * accented and plain forms, kind, country, theme and reference filters,
 * limits and offsets) with a plain filter over the model.
 *
 * One documented approximation is allowed: a query of prefixes only is
 * driven by the EXPAND_MAX (32) most frequent words of its longest prefix
 * (docs/storage.md), so when that prefix has more words than that, the
 * hits must be a correctly ordered subset of the oracle's, not all of it.
 *
 * STOA_TEST_SEED=N repeats a run with another seed.
 */
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
#include <sodium.h>
#include <unistd.h>

#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "proto/schema.h"
#include "store/store.h"

#define NOW 1700000000000ull
#define N_ENT 4000
#define N_CLUSTER 6
#define PREFIX_DRIVER_MAX 32 /* store/search.c EXPAND_MAX */

/* ---- random numbers ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return (size_t)(rnd() % n); }
static bool chance(unsigned pct) { return below(100) < pct; }
static void rnd_fill(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}

/* ---- vocabulary: words as written, and as folded ----------------------------- */

static const char *const accented[][2] = {
  { "Société", "societe" }, { "München", "munchen" }, { "Straße", "strasse" },
  { "niñas", "ninas" },     { "Zürich", "zurich" },   { "migración", "migracion" },
  { "réfugiés", "refugies" }, { "Łódź", "lodz" },   { "Malmö", "malmo" },
  { "GENÈVE", "geneve" },   { "Bogotá", "bogota" },   { "Yaoundé", "yaounde" },
  { "Kraków", "krakow" },   { "Ørsted", "orsted" },   { "Ærø", "aero" },
};
#define N_ACC (sizeof accented / sizeof *accented)
static const char *const syl[] = { "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po" };
#define N_GEN 300
#define N_WORDS (N_ACC + N_GEN)

typedef struct word {
  char shown[32];  /* as written in bodies */
  char folded[32]; /* as the index holds it */
} word;
static word words[N_WORDS];

static void vocab_init(void) {
  size_t n = 0;
  for (size_t i = 0; i < N_ACC; i++, n++) {
    snprintf(words[n].shown, sizeof words[n].shown, "%s", accented[i][0]);
    snprintf(words[n].folded, sizeof words[n].folded, "%s", accented[i][1]);
  }
  /* Every two-syllable word, then three-syllable ones: prefixes of one,
   * two and three syllables have many, some and few words. */
  for (size_t a = 0; a < 10; a++)
    for (size_t b = 0; b < 10; b++, n++) {
      snprintf(words[n].folded, sizeof words[n].folded, "%s%s", syl[a], syl[b]);
      memcpy(words[n].shown, words[n].folded, sizeof words[n].shown);
    }
  for (size_t k = 0; n < N_WORDS; k += 7, n++) {
    snprintf(words[n].folded, sizeof words[n].folded, "%s%s%s", syl[k % 10], syl[(k / 10) % 10],
             syl[(k / 100) % 10]);
    memcpy(words[n].shown, words[n].folded, sizeof words[n].shown);
  }
}

/* A word, skewed towards low indexes (some words common, most rare), and
 * mostly from the cluster's share of the vocabulary. */
static size_t pick_word(int cluster) {
  size_t w = below(N_WORDS) * below(N_WORDS) / N_WORDS;
  if (chance(80)) w = w - w % N_CLUSTER + (size_t)cluster;
  return w < N_WORDS ? w : (size_t)cluster;
}

static const char *const countries[] = { "FR", "DE", "PH", "CO", "SN", "MX", "MA", "CA", "ES", "JO",
                                          "IS", "NZ" };
#define N_COUNTRY 12
static size_t n_themes(void) {
  size_t n = 0;
  while (schema_themes[n]) n++;
  return n;
}

/* ---- the model ---------------------------------------------------------------- */

#define MAXW 24
typedef struct ent {
  uint8_t ekey[EKEY_LEN];
  int kind, cluster;
  uint64_t ts, first_ts;        /* current version's; the first version's */
  uint8_t hash[HASH_LEN];
  uint32_t versions;
  bool erased;                  /* the current version's body is gone */
  uint64_t order;               /* when it last became current (docid order) */
  uint16_t w[MAXW];             /* words of the current version */
  size_t nw;
  uint8_t c[3], nc;             /* countries */
  uint8_t t[4], nt;             /* themes */
  int ref[3], nref;             /* referenced entries (indexes) */
} ent;

typedef struct world {
  uint8_t pk[KEY_LEN], sk[64];
  uint8_t fed[HASH_LEN];
  ent e[N_ENT];
  size_t n;
  uint64_t order, clock;
  bool ever[N_WORDS];           /* words some document ever held (DB_VOC) */
  store *s;
  char dir[256];
} world;

/* ---- building records ---------------------------------------------------------- */

static void pk_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }

static void pk_words(msgpack_packer *pk, const ent *x, size_t from, size_t to) {
  char buf[MAXW * 34];
  size_t o = 0;
  for (size_t i = from; i < to && i < x->nw; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", o ? " " : "", words[x->w[i]].shown);
  if (!o) o = (size_t)snprintf(buf, sizeof buf, "%s", words[x->w[0]].shown);
  msgpack_pack_str_with_body(pk, buf, o);
}

/* Lists may not repeat an item (schema). */
static void add_uniq(uint8_t *v, uint8_t *n, size_t x) {
  for (uint8_t i = 0; i < *n; i++)
    if (v[i] == x) return;
  v[(*n)++] = (uint8_t)x;
}

/* New content for x (kind and cluster kept): words, countries, themes, refs. */
static void ent_fill(world *wd, ent *x, size_t self) {
  size_t nth = n_themes();
  x->nw = 3 + below(MAXW - 3);
  for (size_t i = 0; i < x->nw; i++) x->w[i] = (uint16_t)pick_word(x->cluster);
  x->nc = 0;
  if (x->kind != REC_ACTOR || chance(70)) {
    add_uniq(x->c, &x->nc, chance(85) ? (size_t)x->cluster : below(N_COUNTRY));
    if (x->kind == REC_PRACTICE && chance(40)) add_uniq(x->c, &x->nc, below(N_COUNTRY));
    if (x->kind == REC_PRACTICE && chance(20)) add_uniq(x->c, &x->nc, 0); /* FR is common */
  }
  x->nt = 0;
  if (x->kind == REC_PRACTICE || chance(70)) {
    add_uniq(x->t, &x->nt, chance(80) ? (size_t)x->cluster : below(nth));
    for (int i = 0; i < 3 && chance(35); i++) add_uniq(x->t, &x->nt, below(nth));
  }
  x->nref = 0;
  /* References go to the first 40 orgs, so that a reference filter has
   * dozens of hits. */
  size_t hubs = self < 40 ? self : 40;
  size_t nref = x->kind == REC_ACTOR ? (size_t)chance(80) : x->kind == REC_PRACTICE ? below(3)
                                                                              : (size_t)chance(20);
  for (size_t i = 0; i < nref && hubs; i++) {
    int r = (int)below(hubs);
    if (wd->e[r].kind != REC_ORG) continue;
    bool dup = false;
    for (int j = 0; j < x->nref; j++) dup |= x->ref[j] == r;
    if (!dup) x->ref[x->nref++] = r;
  }
}

static void pk_themes(msgpack_packer *pk, const ent *x) {
  msgpack_pack_array(pk, x->nt);
  for (size_t i = 0; i < x->nt; i++) pk_str(pk, schema_themes[x->t[i]]);
}

/* The body of x's current content, packed into sb. */
static void ent_body(const world *wd, const ent *x, msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  size_t third = x->nw / 3 ? x->nw / 3 : 1;
  switch (x->kind) {
  case REC_ORG:
    msgpack_pack_map(&pk, 5 + (x->nt > 0) + (x->nref > 0));
    pk_str(&pk, "name"); pk_words(&pk, x, 0, third);
    pk_str(&pk, "country"); pk_str(&pk, countries[x->c[0]]);
    pk_str(&pk, "type"); pk_str(&pk, "ngo");
    pk_str(&pk, "city"); pk_words(&pk, x, third, third + 1);
    pk_str(&pk, "description"); pk_words(&pk, x, third + 1, x->nw);
    if (x->nt) { pk_str(&pk, "themes"); pk_themes(&pk, x); }
    if (x->nref) {
      pk_str(&pk, "member_of");
      msgpack_pack_array(&pk, (size_t)x->nref);
      for (int i = 0; i < x->nref; i++) msgpack_pack_bin_with_body(&pk, wd->e[x->ref[i]].ekey, EKEY_LEN);
    }
    break;
  case REC_ACTOR:
    msgpack_pack_map(&pk, 2 + (x->nc > 0) + (x->nt > 0) + (x->nref > 0));
    pk_str(&pk, "name"); pk_words(&pk, x, 0, third);
    pk_str(&pk, "role"); pk_words(&pk, x, third, x->nw);
    if (x->nc) { pk_str(&pk, "country"); pk_str(&pk, countries[x->c[0]]); }
    if (x->nt) { pk_str(&pk, "themes"); pk_themes(&pk, x); }
    if (x->nref) { pk_str(&pk, "org"); msgpack_pack_bin_with_body(&pk, wd->e[x->ref[0]].ekey, EKEY_LEN); }
    break;
  default:
    msgpack_pack_map(&pk, 3 + (x->nc > 0) + (x->nref > 0));
    pk_str(&pk, "title"); pk_words(&pk, x, 0, third);
    pk_str(&pk, "summary"); pk_words(&pk, x, third, x->nw);
    pk_str(&pk, "themes"); pk_themes(&pk, x);
    if (x->nc) {
      pk_str(&pk, "countries");
      msgpack_pack_array(&pk, x->nc);
      for (size_t i = 0; i < x->nc; i++) pk_str(&pk, countries[x->c[i]]);
    }
    if (x->nref) {
      pk_str(&pk, "orgs");
      msgpack_pack_array(&pk, (size_t)x->nref);
      for (int i = 0; i < x->nref; i++) msgpack_pack_bin_with_body(&pk, wd->e[x->ref[i]].ekey, EKEY_LEN);
    }
  }
}

/* A batch of signed records waiting to be ingested together. */
#define BATCH 128
typedef struct batch {
  uint8_t buf[BATCH][2048];
  size_t len[BATCH];
  size_t n;
} batch;

static void batch_flush(world *wd, batch *b) {
  static store_item items[BATCH];
  store_counts c = { 0 };
  for (size_t i = 0; i < b->n; i++) {
    memset(&items[i], 0, sizeof items[i]);
    items[i].buf = b->buf[i];
    items[i].len = b->len[i];
    assert_int_equal(rec_decode(b->buf[i], b->len[i], &items[i].r), 0);
    items[i].sig_ok = true; /* signed just now by the founder key */
  }
  assert_int_equal(store_ingest(wd->s, items, b->n, NOW, &c), 0);
  for (size_t i = 0; i < b->n; i++)
    if (items[i].status != ST_NEW)
      fail_msg("record %zu: status %d (%s: %s %s)", i, items[i].status, stoa_errname(items[i].err),
               items[i].why.field, items[i].why.msg);
  b->n = 0;
}

/* Signs a version of x with body sb at ts into the batch; returns its hash. */
static void batch_add(world *wd, batch *b, int kind, const uint8_t ekey[EKEY_LEN], uint64_t ts,
                      const msgpack_sbuffer *sb, uint8_t hash[HASH_LEN]) {
  rec r;
  if (b->n == BATCH) batch_flush(wd, b);
  assert_int_equal(rec_build(kind, ekey, ekey + KEY_LEN, ts, wd->sk, (const uint8_t *)sb->data,
                             sb->size, wd->fed, b->buf[b->n], sizeof b->buf[b->n], &b->len[b->n]),
                   0);
  assert_int_equal(rec_decode(b->buf[b->n], b->len[b->n], &r), 0);
  memcpy(hash, r.hash, HASH_LEN);
  b->n++;
}

/* x's new content becomes its current version. */
static void write_current(world *wd, batch *b, ent *x) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  ent_body(wd, x, &sb);
  x->ts = wd->clock += 1000;
  if (!x->first_ts) x->first_ts = x->ts;
  batch_add(wd, b, x->kind, x->ekey, x->ts, &sb, x->hash);
  msgpack_sbuffer_destroy(&sb);
  x->versions++;
  x->erased = false;
  x->order = ++wd->order;
  for (size_t i = 0; i < x->nw; i++) wd->ever[x->w[i]] = true;
}

/* A version older than every other of x: kept, never current. */
static void write_older(world *wd, batch *b, ent *x) {
  ent tmp = *x;
  msgpack_sbuffer sb;
  uint8_t hash[HASH_LEN];
  ent_fill(wd, &tmp, (size_t)(x - wd->e));
  msgpack_sbuffer_init(&sb);
  ent_body(wd, &tmp, &sb);
  x->first_ts -= 1;
  batch_add(wd, b, x->kind, x->ekey, x->first_ts, &sb, hash);
  msgpack_sbuffer_destroy(&sb);
  x->versions++;
}

/* The owner erases x's versions up to now: out of every search. */
static void erase(world *wd, batch *b, ent *x) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t ek[EKEY_LEN], hash[HASH_LEN];
  batch_flush(wd, b); /* erasures are applied first in a batch: keep them apart */
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "target");
  msgpack_pack_bin_with_body(&pk, x->ekey, EKEY_LEN);
  pk_str(&pk, "until");
  msgpack_pack_uint64(&pk, x->ts);
  memcpy(ek, wd->pk, KEY_LEN);
  rnd_fill(ek + KEY_LEN, ID_LEN);
  batch_add(wd, b, REC_ERASE, ek, wd->clock += 1000, &sb, hash);
  msgpack_sbuffer_destroy(&sb);
  batch_flush(wd, b);
  x->erased = true;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static uint64_t seed_now(void) {
  const char *v = getenv("STOA_TEST_SEED");
  return v && *v ? strtoull(v, NULL, 10) : 20240611;
}

static world *world_make(void) {
  world *wd = calloc(1, sizeof *wd);
  uint8_t ch[CHARTER_MAX], seed[crypto_sign_SEEDBYTES];
  size_t chlen;
  charter c;
  const char *tmp = getenv("TMPDIR");
  assert_non_null(wd);
  memset(seed, 7, sizeof seed);
  crypto_sign_seed_keypair(wd->pk, wd->sk, seed);
  assert_int_equal(charter_build("Search test", 1, (const uint8_t (*)[64])wd->sk, 1,
                                 NOW - 400 * 24 * 3600 * 1000ull, ch, sizeof ch, &chlen), 0);
  assert_int_equal(charter_decode(ch, chlen, &c), 0);
  memcpy(wd->fed, c.id, HASH_LEN);
  snprintf(wd->dir, sizeof wd->dir, "%s/stoa-test-search-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(wd->dir));
  assert_int_equal(store_open(&wd->s, wd->dir, NULL), 0);
  assert_int_equal(store_set_charter(wd->s, ch, chlen), 0);
  wd->clock = NOW - 300 * 24 * 3600 * 1000ull;
  return wd;
}

static void world_free(world *wd) {
  if (!wd) return;
  if (wd->s) store_close(wd->s);
  nftw(wd->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
  free(wd);
}

/* Fills the store: entries, then edits, older versions, erasures and
 * re-writes, interleaved so that stale postings sit among live ones. */
static void world_fill(world *wd) {
  batch *b = calloc(1, sizeof *b);
  assert_non_null(b);
  for (size_t i = 0; i < N_ENT; i++) {
    ent *x = &wd->e[wd->n++];
    memcpy(x->ekey, wd->pk, KEY_LEN);
    rnd_fill(x->ekey + KEY_LEN, ID_LEN);
    x->kind = i < 40 || chance(55) ? REC_ORG : chance(60) ? REC_ACTOR : REC_PRACTICE;
    x->cluster = (int)below(N_CLUSTER);
    ent_fill(wd, x, i);
    write_current(wd, b, x);
    if (i > 100 && chance(12)) { /* an edit of an earlier entry */
      ent *y = &wd->e[below(i)];
      if (!y->erased) {
        ent_fill(wd, y, (size_t)(y - wd->e));
        write_current(wd, b, y);
      }
    }
    if (i > 100 && chance(2)) write_older(wd, b, &wd->e[below(i)]);
    if (i > 100 && chance(1)) {
      ent *y = &wd->e[below(i)];
      if (!y->erased) {
        erase(wd, b, y);
        if (chance(30)) { /* written again after its erasure */
          ent_fill(wd, y, (size_t)(y - wd->e));
          write_current(wd, b, y);
        }
      }
    }
  }
  batch_flush(wd, b);
  free(b);
}

/* ---- queries and the oracle ------------------------------------------------------ */

typedef struct qterm {
  char folded[32];
  bool prefix;
} qterm;

typedef struct gq {
  char text[256];
  qterm t[4];
  size_t nt;
  store_query q;
  int ref;                      /* entry index, or -1 */
} gq;

static bool has_word(const ent *x, const qterm *t) {
  size_t l = strlen(t->folded);
  for (size_t i = 0; i < x->nw; i++) {
    const char *f = words[x->w[i]].folded;
    if (t->prefix ? strncmp(f, t->folded, l) == 0 : strcmp(f, t->folded) == 0) return true;
  }
  return false;
}

static bool oracle_match(const world *wd, const gq *g, const ent *x) {
  (void)wd;
  if (x->erased) return false;
  if (g->q.kind && x->kind != g->q.kind) return false;
  for (int i = 0; i < STORE_QUERY_FILTERS && g->q.country[i]; i++) {
    bool ok = false;
    for (size_t j = 0; j < x->nc; j++) ok |= strcasecmp(countries[x->c[j]], g->q.country[i]) == 0;
    if (!ok) return false;
  }
  for (int i = 0; i < STORE_QUERY_FILTERS && g->q.theme[i]; i++) {
    bool ok = false;
    for (size_t j = 0; j < x->nt; j++) ok |= strcmp(schema_themes[x->t[j]], g->q.theme[i]) == 0;
    if (!ok) return false;
  }
  if (g->ref >= 0) {
    bool ok = false;
    for (int j = 0; j < x->nref; j++) ok |= x->ref[j] == g->ref;
    if (!ok) return false;
  }
  for (size_t i = 0; i < g->nt; i++)
    if (!has_word(x, &g->t[i])) return false;
  return true;
}

/* Whether the store may answer with a subset: a query of prefixes only
 * whose longest prefix has more words than drive such a query. */
static bool prefix_driven_subset(const world *wd, const gq *g) {
  size_t pi = SIZE_MAX, n = 0;
  if (g->q.kind || g->q.country[0] || g->q.theme[0] || g->ref >= 0) return false;
  for (size_t i = 0; i < g->nt; i++) {
    if (!g->t[i].prefix) return false;
    if (pi == SIZE_MAX || strlen(g->t[i].folded) > strlen(g->t[pi].folded)) pi = i;
  }
  if (pi == SIZE_MAX) return false;
  size_t l = strlen(g->t[pi].folded);
  for (size_t w = 0; w < N_WORDS; w++)
    if (wd->ever[w] && !strncmp(words[w].folded, g->t[pi].folded, l)) n++;
  return n > PREFIX_DRIVER_MAX;
}

static int cmp_order_desc(const void *a, const void *b, void *ctx) {
  const world *wd = ctx;
  uint64_t x = wd->e[*(const size_t *)a].order, y = wd->e[*(const size_t *)b].order;
  return (x < y) - (x > y);
}

#define GOT_MAX 4096
typedef struct got {
  store_entry e[GOT_MAX];
  size_t n;
  int stop_after;               /* the callback returns -1 after this many; 0 = never */
} got;

static int got_cb(void *ctx, const store_entry *e) {
  got *g = ctx;
  assert_true(g->n < GOT_MAX);
  g->e[g->n++] = *e;
  return g->stop_after && (int)g->n >= g->stop_after ? STOA_EINVAL : 0;
}

static int run(world *wd, const store_query *q, got *out) {
  store_rd *rd;
  out->n = 0;
  assert_int_equal(store_rd_begin(wd->s, &rd), 0);
  int r = store_search(rd, q, got_cb, out);
  store_rd_end(rd);
  return r;
}

static size_t find_ent(const world *wd, const uint8_t ekey[EKEY_LEN]) {
  for (size_t i = 0; i < wd->n; i++)
    if (!memcmp(wd->e[i].ekey, ekey, EKEY_LEN)) return i;
  fail_msg("a hit that is no entry");
  return 0;
}

static void describe(const gq *g, char *out, size_t cap) {
  snprintf(out, cap, "[%s] kind=%d country=%s,%s theme=%s,%s ref=%d limit=%zu offset=%zu", g->q.text ? g->q.text : "",
           g->q.kind, g->q.country[0] ? g->q.country[0] : "-", g->q.country[1] ? g->q.country[1] : "-",
           g->q.theme[0] ? g->q.theme[0] : "-", g->q.theme[1] ? g->q.theme[1] : "-", g->ref, g->q.limit,
           g->q.offset);
}

/* Runs g and checks its hits against the oracle.  Returns the number of
 * matches the oracle found (before limit and offset). */
static size_t check_query(world *wd, gq *g, got *res, size_t *idx) {
  char d[512];
  size_t m = 0;
  for (size_t i = 0; i < wd->n; i++)
    if (oracle_match(wd, g, &wd->e[i])) idx[m++] = i;
  qsort_r(idx, m, sizeof *idx, cmp_order_desc, wd);
  size_t limit = g->q.limit ? g->q.limit : 50;
  size_t from = g->q.offset < m ? g->q.offset : m;
  size_t want = m - from < limit ? m - from : limit;
  int r = run(wd, &g->q, res);
  describe(g, d, sizeof d);
  if (r < 0) fail_msg("%s: %s", d, stoa_errname(r));
  if ((size_t)r != res->n) fail_msg("%s: returned %d, reported %zu", d, r, res->n);
  bool subset = prefix_driven_subset(wd, g);
  if (!subset && res->n != want) fail_msg("%s: %zu hits, the oracle has %zu (of %zu)", d, res->n, want, m);
  if (subset && res->n > limit) fail_msg("%s: %zu hits over the limit", d, res->n);
  uint64_t last = UINT64_MAX;
  for (size_t i = 0; i < res->n; i++) {
    size_t k = find_ent(wd, res->e[i].ekey);
    const ent *x = &wd->e[k];
    if (!subset && k != idx[from + i]) fail_msg("%s: hit %zu is entry %zu, the oracle says %zu", d, i, k, idx[from + i]);
    if (subset && !oracle_match(wd, g, x)) fail_msg("%s: hit %zu (entry %zu) does not match", d, i, k);
    if (x->order >= last) fail_msg("%s: hit %zu out of order", d, i);
    last = x->order;
    assert_int_equal(res->e[i].kind, x->kind);
    assert_int_equal(res->e[i].ts, x->ts);
    assert_int_equal(res->e[i].versions, x->versions);
    assert_memory_equal(res->e[i].hash, x->hash, HASH_LEN);
    assert_false(res->e[i].erased);
  }
  return m;
}

/* A query term: a word as written or folded (upper case at times), a prefix
 * of a folded word, or a word no entry has. */
static void gen_term(gq *g, bool last) {
  qterm *t = &g->t[g->nt++];
  size_t w = chance(50) ? pick_word((int)below(N_CLUSTER)) : below(N_WORDS);
  size_t o = strlen(g->text);
  char shown[40];
  t->prefix = chance(35);
  if (chance(3)) {
    snprintf(t->folded, sizeof t->folded, "%s", t->prefix ? "qxq" : "qxqzz");
    snprintf(shown, sizeof shown, "%s", t->folded);
  } else if (t->prefix) {
    size_t l = strlen(words[w].folded), k = 1 + below(l < 7 ? l : 7);
    snprintf(t->folded, sizeof t->folded, "%.*s", (int)k, words[w].folded);
    snprintf(shown, sizeof shown, "%s", t->folded);
    if (chance(20)) shown[0] = (char)(shown[0] - 32);
  } else {
    snprintf(t->folded, sizeof t->folded, "%s", words[w].folded);
    snprintf(shown, sizeof shown, "%s", chance(50) ? words[w].shown : words[w].folded);
    if (chance(15) && shown[0] >= 'a' && shown[0] <= 'z') shown[0] = (char)(shown[0] - 32);
  }
  /* A prefix ends with '*' or ends the query; a last whole word has a space after it. */
  const char *suffix = t->prefix ? (last && chance(60) ? "" : "*") : (last ? " " : "");
  snprintf(g->text + o, sizeof g->text - o, "%s%s%s", o ? " " : "", shown, suffix);
}

static void gen_query(world *wd, gq *g) {
  size_t nth = n_themes();
  memset(g, 0, sizeof *g);
  g->ref = -1;
  size_t nt = below(100) < 15 ? 0 : 1 + below(3);
  for (size_t i = 0; i < nt; i++) gen_term(g, i + 1 == nt);
  g->q.text = nt || chance(50) ? g->text : NULL;
  if (chance(35)) g->q.kind = REC_ORG + (int)below(3);
  int ncty = chance(60) ? 0 : chance(75) ? 1 : 2;
  for (int i = 0; i < ncty; i++) {
    static char lower[N_COUNTRY][3];
    size_t c = below(N_COUNTRY);
    lower[c][0] = (char)(countries[c][0] + 32);
    lower[c][1] = (char)(countries[c][1] + 32);
    g->q.country[i] = chance(80) ? countries[c] : lower[c];
  }
  int nthq = chance(65) ? 0 : chance(75) ? 1 : 2;
  for (int i = 0; i < nthq; i++) g->q.theme[i] = schema_themes[below(nth)];
  if (chance(6)) {
    g->ref = (int)below(40);
    g->q.ref = wd->e[g->ref].ekey;
  }
  g->q.limit = chance(40) ? 0 : chance(50) ? 1 + below(20) : 1 + below(300);
  g->q.offset = chance(70) ? 0 : below(40);
}

/* ---- tests ----------------------------------------------------------------------- */

typedef struct fx {
  world *wd;
  got *res;
  size_t *idx;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  if (!f) return -1;
  *state = f;
  rng_state = seed_now();
  vocab_init();
  f->wd = world_make();
  f->res = calloc(1, sizeof *f->res);
  f->idx = calloc(N_ENT, sizeof *f->idx);
  if (!f->res || !f->idx) return -1;
  world_fill(f->wd);
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  world_free(f->wd);
  free(f->res);
  free(f->idx);
  free(f);
  return 0;
}

/* Many random queries, each against the oracle. */
static void test_search_random(void **state) {
  fx *f = *state;
  size_t nonempty = 0, rare = 0;
  for (int i = 0; i < 1500; i++) {
    gq g;
    gen_query(f->wd, &g);
    size_t m = check_query(f->wd, &g, f->res, f->idx);
    nonempty += m > 0;
    rare += m > 0 && m < 10;
  }
  /* The generator must give queries of every sort, or the test tests little. */
  assert_true(nonempty > 500);
  assert_true(rare > 50);
}

/* Pairs of terms that rarely occur together, over long lists: a word of
 * one cluster with the country and theme of another, under every kind. */
static void test_search_rare_pairs(void **state) {
  fx *f = *state;
  for (int c1 = 0; c1 < N_CLUSTER; c1++)
    for (int c2 = 0; c2 < N_CLUSTER; c2++)
      for (int kind = 0; kind <= REC_PRACTICE; kind++) {
        gq g;
        memset(&g, 0, sizeof g);
        g.ref = -1;
        size_t w = (size_t)c1 + N_CLUSTER * (size_t)(kind + c2);
        snprintf(g.t[0].folded, sizeof g.t[0].folded, "%s", words[w].folded);
        snprintf(g.text, sizeof g.text, "%s ", words[w].shown);
        g.nt = 1;
        g.q.text = g.text;
        g.q.kind = kind;
        g.q.country[0] = countries[c2];
        if (kind & 1) g.q.theme[0] = schema_themes[c2];
        g.q.limit = 1000;
        check_query(f->wd, &g, f->res, f->idx);
        /* The same with a prefix of a third cluster's word. */
        size_t w2 = (size_t)((c1 + c2 + 1) % N_CLUSTER) + N_CLUSTER * (size_t)kind;
        size_t l = strlen(g.text);
        snprintf(g.text + l, sizeof g.text - l, "%.3s", words[w2].folded);
        snprintf(g.t[1].folded, sizeof g.t[1].folded, "%.3s", words[w2].folded);
        g.t[1].prefix = true;
        g.nt = 2;
        check_query(f->wd, &g, f->res, f->idx);
      }
}

/* Paging: pages of any size put together are the whole list, in order. */
static void test_search_pages(void **state) {
  fx *f = *state;
  static got all, page;
  static const char *const texts[] = { NULL, "ka", "kaka ", "lo mi", "sa*" };
  for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
    store_query q;
    memset(&q, 0, sizeof q);
    q.text = texts[t];
    q.country[0] = t == 0 ? "FR" : NULL;
    q.limit = GOT_MAX;
    int n = run(f->wd, &q, &all);
    assert_true(n >= 0);
    for (size_t size = 1; size <= 97; size += 24) {
      size_t at = 0;
      for (q.offset = 0;; q.offset += size) {
        q.limit = size;
        int r = run(f->wd, &q, &page);
        assert_true(r >= 0 && (size_t)r <= size);
        for (int i = 0; i < r; i++) assert_memory_equal(page.e[i].ekey, all.e[at + (size_t)i].ekey, EKEY_LEN);
        at += (size_t)r;
        if ((size_t)r < size || q.offset > (size_t)n) break;
      }
      assert_int_equal(at, (size_t)n);
    }
  }
}

/* The limits of a query: a callback that stops the search, filters that
 * cannot match, a kind that does not exist. */
static void test_search_edges(void **state) {
  fx *f = *state;
  static got g;
  store_query q;
  char long_cty[300];

  memset(&q, 0, sizeof q);
  q.limit = 100;
  g.stop_after = 3;
  assert_int_equal(run(f->wd, &q, &g), STOA_EINVAL); /* the callback's error */
  assert_int_equal(g.n, 3);
  g.stop_after = 0;

  /* No entry has a country of 299 letters: no hits, not every entry. */
  memset(long_cty, 'x', sizeof long_cty - 1);
  long_cty[sizeof long_cty - 1] = 0;
  q.country[0] = long_cty;
  assert_int_equal(run(f->wd, &q, &g), 0);
  long_cty[77] = 0; /* a facet token of 80 bytes, the longest index.c writes */
  assert_int_equal(run(f->wd, &q, &g), 0);
  long_cty[77] = 'x'; /* 81 bytes: never indexed */
  long_cty[78] = 0;
  assert_int_equal(run(f->wd, &q, &g), 0);
  q.country[0] = "zz";
  assert_int_equal(run(f->wd, &q, &g), 0);
  q.country[0] = NULL;
  q.theme[0] = "no-such-theme";
  assert_int_equal(run(f->wd, &q, &g), 0);
  q.theme[0] = NULL;

  q.kind = 99;
  assert_int_equal(run(f->wd, &q, &g), STOA_EINVAL);
  q.kind = -1;
  assert_int_equal(run(f->wd, &q, &g), STOA_EINVAL);
  q.kind = REC_ERASE; /* erase records are not entries: nothing to find by text */
  q.text = "ka";
  assert_int_equal(run(f->wd, &q, &g), 0);
  q.kind = 0;

  /* Invalid UTF-8 is refused; an empty or blank query lists everything. */
  q.text = "\xff\xfe";
  assert_true(run(f->wd, &q, &g) < 0);
  q.text = "   ";
  q.limit = 10;
  assert_int_equal(run(f->wd, &q, &g), 10);
  q.text = "";
  assert_int_equal(run(f->wd, &q, &g), 10);
  /* Stray stars and signs: never an error, never a facet ("~c:fr" is the
   * words "c" and "fr"). */
  static const char *const odd[] = { "*", " * ", "**ka", "~c:fr ", "ka*lo*", "\t\n" };
  for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
    q.text = odd[i];
    int r = run(f->wd, &q, &g);
    assert_true(r >= 0 && r <= 10);
  }
  q.text = NULL;

  /* A word repeated is the word once. */
  gq a;
  memset(&a, 0, sizeof a);
  a.ref = -1;
  snprintf(a.text, sizeof a.text, "kalo KALO kalo* ");
  a.q.text = a.text;
  a.q.limit = 500;
  a.nt = 2;
  snprintf(a.t[0].folded, sizeof a.t[0].folded, "kalo");
  snprintf(a.t[1].folded, sizeof a.t[1].folded, "kalo");
  a.t[1].prefix = true;
  check_query(f->wd, &a, f->res, f->idx);
}

/* A reference names an entry by owner and id; ids are chosen by their
 * writer, so another network may use the same id.  A reference filter
 * finds the references to this owner's entry only (and a store written in
 * format 2, which indexed the id alone, is reindexed when opened). */
static void ref_actor(world *wd, batch *b, const char *name, const uint8_t target[EKEY_LEN],
                      uint8_t ek[EKEY_LEN]) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t hash[HASH_LEN];
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pk_str(&pk, "name"); pk_str(&pk, name);
  pk_str(&pk, "role"); pk_str(&pk, "coordinator");
  pk_str(&pk, "org"); msgpack_pack_bin_with_body(&pk, target, EKEY_LEN);
  memcpy(ek, wd->pk, KEY_LEN);
  rnd_fill(ek + KEY_LEN, ID_LEN);
  batch_add(wd, b, REC_ACTOR, ek, wd->clock += 1000, &sb, hash);
  msgpack_sbuffer_destroy(&sb);
}

static void test_search_ref_owner(void **state) {
  fx *f = *state;
  world *wd = f->wd;
  static got g;
  static batch b;
  store_query q;
  uint8_t other[EKEY_LEN], mine[EKEY_LEN], theirs[EKEY_LEN];
  const ent *org = &wd->e[0]; /* the first 40 entries are orgs */

  memcpy(other, org->ekey, EKEY_LEN);
  other[0] ^= 0x80; /* another owner, the same id */
  b.n = 0;
  ref_actor(wd, &b, "Refowner mine", org->ekey, mine);
  ref_actor(wd, &b, "Refowner theirs", other, theirs);
  batch_flush(wd, &b);

  memset(&q, 0, sizeof q);
  q.text = "refowner";
  q.limit = 10;
  for (int pass = 0; pass < 2; pass++) {
    q.ref = org->ekey;
    assert_int_equal(run(wd, &q, &g), 1);
    assert_memory_equal(g.e[0].ekey, mine, EKEY_LEN);
    q.ref = other;
    assert_int_equal(run(wd, &q, &g), 1);
    assert_memory_equal(g.e[0].ekey, theirs, EKEY_LEN);
    q.ref = NULL;
    assert_int_equal(run(wd, &q, &g), 2);
    /* The second pass: a store of format 2 (its search index emptied
     * here, so that only the upgrade's reindex can bring the hits back). */
    if (pass == 0) {
      MDB_env *env;
      MDB_txn *txn;
      MDB_dbi meta, fts;
      uint8_t v[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
      MDB_val k = { 6, "format" }, d = { 8, v };
      store_close(wd->s);
      wd->s = NULL;
      assert_int_equal(mdb_env_create(&env), 0);
      assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
      assert_int_equal(mdb_env_open(env, wd->dir, MDB_NOTLS, 0600), 0);
      assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
      assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
      assert_int_equal(mdb_dbi_open(txn, "fts", 0, &fts), 0);
      assert_int_equal(mdb_put(txn, meta, &k, &d, 0), 0);
      assert_int_equal(mdb_drop(txn, fts, 0), 0);
      assert_int_equal(mdb_txn_commit(txn), 0);
      mdb_env_close(env);
      assert_int_equal(store_open(&wd->s, wd->dir, NULL), 0);
    }
  }
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_search_random),
    cmocka_unit_test(test_search_rare_pairs),
    cmocka_unit_test(test_search_pages),
    cmocka_unit_test(test_search_edges),
    cmocka_unit_test(test_search_ref_owner),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
