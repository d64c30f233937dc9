/*
 * test_sketch.c - sketch files: round trip, every truncation, every bit
 * flip, wrong magic / version / header, absurd K and set sizes, forged
 * symbols under a valid checksum, reconciliation against a sketch in both
 * directions, and the sizing rule against the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/err.h"
#include "proto/iblt.h"
#include "proto/sketch.h"

#define L IBLT_ITEM_LEN

static uint64_t rng_state;
static uint64_t rng(void) {
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void items_make(uint8_t *it, size_t n) {
  for (size_t i = 0; i < n * L; i += 8) {
    uint64_t r = rng();
    memcpy(it + i, &r, 8);
  }
}

/* A growing memory file for sketch_write. */
typedef struct mem {
  uint8_t *b;
  size_t n, cap;
  int calls, fail_at; /* fail_at > 0: the fail_at-th write fails */
} mem;

static int mem_write(void *ctx, const void *buf, size_t len) {
  mem *m = ctx;
  if (m->fail_at && ++m->calls == m->fail_at) return -5; /* -EIO */
  if (m->n + len > m->cap) {
    size_t nc = (m->n + len) * 2;
    uint8_t *p = realloc(m->b, nc);
    assert_non_null(p);
    m->b = p;
    m->cap = nc;
  }
  memcpy(m->b + m->n, buf, len);
  m->n += len;
  return 0;
}

static const uint8_t FED[32] = { 0xfe, 0xd0, 1, 2, 3 };

/* Writes the sketch of n random items (returned in *items) with k symbols. */
static mem sketch_of(uint8_t **items, size_t n, uint32_t k, iblt_sym **syms_out) {
  mem m = { 0 };
  uint8_t *it = malloc(n * L + 1);
  iblt_sym *sy = calloc(k, sizeof *sy);
  assert_non_null(it);
  assert_non_null(sy);
  items_make(it, n);
  iblt_symbols_compute(sy, 0, k, it, n);
  sketch_hdr h = { .created = 1764242000000, .n = n, .k = k };
  memcpy(h.fed, FED, 32);
  uint64_t bytes = 0;
  assert_int_equal(sketch_write(&h, sy, mem_write, &m, &bytes), 0);
  assert_int_equal(bytes, m.n);
  if (items) *items = it;
  else free(it);
  if (syms_out) *syms_out = sy;
  else free(sy);
  return m;
}

static void test_round_trip(void **state) {
  (void)state;
  rng_state = 1;
  static const size_t ns[] = { 0, 1, 2, 50, 5000 };
  static const uint32_t ks[] = { 1, 2, 37, 800, 4096 };
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
    for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) {
      iblt_sym *sy;
      mem m = sketch_of(NULL, ns[a], ks[b], &sy);
      sketch_reader r;
      assert_int_equal(sketch_reader_init(&r, m.b, m.n), 0);
      assert_null(r.why);
      assert_memory_equal(r.hdr.fed, FED, 32);
      assert_int_equal(r.hdr.created, 1764242000000);
      assert_int_equal(r.hdr.n, ns[a]);
      assert_int_equal(r.hdr.k, ks[b]);
      iblt_sym *back = calloc(ks[b], sizeof *back);
      assert_non_null(back);
      sketch_reader_symbols(&r, back);
      for (uint32_t i = 0; i < ks[b]; i++) {
        assert_memory_equal(back[i].sum, sy[i].sum, L);
        assert_int_equal(back[i].chk, sy[i].chk);
        assert_int_equal(back[i].count, sy[i].count);
      }
      /* Size: header ~80 bytes, then ~41-44 bytes a non-empty symbol. */
      if (ns[a] >= 50 && ks[b] >= 800) assert_true(m.n < 120 + (size_t)ks[b] * 45);
      free(back);
      free(sy);
      free(m.b);
    }
}

static void test_truncations(void **state) {
  (void)state;
  rng_state = 2;
  mem m = sketch_of(NULL, 300, 64, NULL);
  sketch_reader r;
  for (size_t len = 0; len < m.n; len++) {
    int e = sketch_reader_init(&r, m.b, len);
    if (e != STOA_ETRUNCATED) fprintf(stderr, "prefix of %zu bytes: %d\n", len, e);
    assert_int_equal(e, STOA_ETRUNCATED);
    assert_non_null(r.why);
  }
  /* One byte more: trailing bytes. */
  uint8_t *big = malloc(m.n + 1);
  assert_non_null(big);
  memcpy(big, m.b, m.n);
  big[m.n] = 0;
  assert_int_equal(sketch_reader_init(&r, big, m.n + 1), STOA_ETRAILING);
  assert_int_equal(r.want_len, m.n);
  free(big);
  free(m.b);
}

static void test_bit_flips(void **state) {
  (void)state;
  rng_state = 3;
  mem m = sketch_of(NULL, 40, 20, NULL);
  size_t hdr_end = SKETCH_MAGIC_LEN + 4 + ((size_t)m.b[10] << 8 | m.b[11]);
  sketch_reader r;
  for (size_t i = 0; i < m.n; i++)
    for (int bit = 0; bit < 8; bit++) {
      m.b[i] ^= (uint8_t)(1u << bit);
      int e = sketch_reader_init(&r, m.b, m.n);
      if (e == 0) fprintf(stderr, "flip of bit %d of byte %zu accepted\n", bit, i);
      assert_int_not_equal(e, 0);
      assert_non_null(r.why);
      /* Past the header, every flip is seen by the checksum. */
      if (i >= hdr_end) assert_int_equal(e, STOA_EHASH);
      m.b[i] ^= (uint8_t)(1u << bit);
    }
  assert_int_equal(sketch_reader_init(&r, m.b, m.n), 0);
  free(m.b);
}

/* ---- crafted files: a header of our choice under a valid checksum ---------- */

typedef struct craft {
  const char *magic;
  const char *tag;
  uint64_t version, created, n, k, symlen;
  int nfields;       /* 7, or more: extra fields */
  int fed_len;       /* 32 */
  const uint8_t *syms;
  size_t syms_len;
  int bad_sum;
} craft;

static void put_u64(mem *m, uint64_t v) {
  uint8_t b[9] = { 0xcf };
  for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
  mem_write(m, b, 9);
}

static mem craft_file(const craft *c) {
  mem h = { 0 }, m = { 0 };
  uint8_t b = (uint8_t)(0x90 | c->nfields);
  mem_write(&h, &b, 1);
  b = (uint8_t)(0xa0 | strlen(c->tag));
  mem_write(&h, &b, 1);
  mem_write(&h, c->tag, strlen(c->tag));
  put_u64(&h, c->version);
  uint8_t bin[2] = { 0xc4, (uint8_t)c->fed_len };
  mem_write(&h, bin, 2);
  mem_write(&h, FED, (size_t)c->fed_len);
  put_u64(&h, c->created);
  put_u64(&h, c->n);
  put_u64(&h, c->k);
  put_u64(&h, c->symlen);
  for (int i = 7; i < c->nfields; i++) {
    b = 0xc0; /* nil: a later version's field */
    mem_write(&h, &b, 1);
  }
  mem_write(&m, c->magic, 8);
  uint8_t l4[4] = { 0, 0, (uint8_t)(h.n >> 8), (uint8_t)h.n };
  mem_write(&m, l4, 4);
  mem_write(&m, h.b, h.n);
  if (c->syms_len) mem_write(&m, c->syms, c->syms_len);
  uint8_t sum[32];
  crypto_generichash_blake2b(sum, 32, m.b, m.n, NULL, 0);
  if (c->bad_sum) sum[0] ^= 1;
  mem_write(&m, sum, 32);
  free(h.b);
  return m;
}

static int craft_read(const craft *c, sketch_reader *r) {
  mem m = craft_file(c);
  int e = sketch_reader_init(r, m.b, m.n);
  free(m.b);
  return e;
}

/* Symbols of 3 items, k = 4, in wire form. */
static size_t good_syms(uint8_t *out, iblt_sym *sy) {
  uint8_t it[3 * L];
  size_t n = 0, len;
  items_make(it, 3);
  iblt_symbols_compute(sy, 0, 4, it, 3);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(iblt_sym_encode(&sy[i], out + n, IBLT_SYM_MAX, &len), 0);
    n += len;
  }
  return n;
}

static craft base(const uint8_t *syms, size_t len) {
  craft c = { SKETCH_MAGIC, "stoa sketch", 1, 1764242000000, 3, 4, len, 7, 32, syms, len, 0 };
  return c;
}

static void test_headers(void **state) {
  (void)state;
  rng_state = 4;
  uint8_t syms[4 * IBLT_SYM_MAX];
  iblt_sym sy[4];
  size_t sl = good_syms(syms, sy);
  sketch_reader r;
  craft c = base(syms, sl);
  assert_int_equal(craft_read(&c, &r), 0); /* the crafted form is right */
  c.nfields = 9;
  assert_int_equal(craft_read(&c, &r), 0); /* later fields are skipped */

  c = base(syms, sl);
  c.magic = "STOABDL1"; /* a bundle */
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c.magic = "XTOASKT1";
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c.magic = "STOASKT2";
  assert_int_equal(craft_read(&c, &r), STOA_EVERSION);
  c = base(syms, sl);
  c.version = 2;
  assert_int_equal(craft_read(&c, &r), STOA_EVERSION);
  c.version = 0;
  assert_int_equal(craft_read(&c, &r), STOA_EVERSION);
  c = base(syms, sl);
  c.tag = "stoa bundle";
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c = base(syms, sl);
  c.nfields = 6;
  assert_int_not_equal(craft_read(&c, &r), 0);
  c = base(syms, sl);
  c.fed_len = 31;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c = base(syms, sl);
  c.bad_sum = 1;
  assert_int_equal(craft_read(&c, &r), STOA_EHASH);

  /* A header frame longer than any header, and one past the file. */
  c = base(syms, sl);
  mem m = craft_file(&c);
  m.b[10] = 0x7f;
  assert_int_equal(sketch_reader_init(&r, m.b, m.n), STOA_EMALFORMED);
  m.b[10] = 0;
  m.b[11] = 0xff;
  assert_int_equal(sketch_reader_init(&r, m.b, 200), STOA_ETRUNCATED);
  free(m.b);
}

/* Absurd sizes are refused from the header, before the caller could size
 * anything by them, and whatever the file's length. */
static void test_absurd_sizes(void **state) {
  (void)state;
  rng_state = 5;
  uint8_t syms[4 * IBLT_SYM_MAX];
  iblt_sym sy[4];
  size_t sl = good_syms(syms, sy);
  sketch_reader r;
  craft c = base(syms, sl);
  static const uint64_t ks[] = { UINT64_MAX, UINT32_MAX, (UINT64_C(1) << 32) + 4,
                                 SKETCH_SYMBOLS_MAX + UINT64_C(1) };
  for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
    c.k = ks[i];
    assert_int_equal(craft_read(&c, &r), STOA_ETOOBIG);
  }
  c.k = 0;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  /* The most symbols allowed, in a file that cannot hold them. */
  c.k = SKETCH_SYMBOLS_MAX;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED); /* symlen < k */
  c.symlen = SKETCH_SYMBOLS_MAX;
  assert_int_equal(craft_read(&c, &r), STOA_ETRUNCATED);
  assert_true(r.want_len > SKETCH_SYMBOLS_MAX);
  c = base(syms, sl);
  c.symlen = UINT64_MAX;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c.symlen = 4 * IBLT_SYM_MAX + 1;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c = base(syms, sl);
  c.n = UINT64_MAX;
  assert_int_equal(craft_read(&c, &r), STOA_ETOOBIG);
  c.n = (uint64_t)IBLT_COUNT_MAX + 1;
  assert_int_equal(craft_read(&c, &r), STOA_ETOOBIG);
}

/* Intact files whose symbols cannot be those of a set. */
static void test_forged_symbols(void **state) {
  (void)state;
  rng_state = 6;
  uint8_t syms[4 * IBLT_SYM_MAX], buf[4 * IBLT_SYM_MAX];
  iblt_sym sy[4], f[4];
  size_t sl = good_syms(syms, sy);
  sketch_reader r;
  craft c = base(syms, sl);
  assert_int_equal(craft_read(&c, &r), 0);
  c.n = 4; /* symbol 0 counts 3 */
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c.n = 2; /* symbol 0 counts more than the set */
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);

  for (int what = 0; what < 5; what++) {
    memcpy(f, sy, sizeof f);
    switch (what) {
    case 0: f[1].count = -1; break;                       /* negative */
    case 1: f[1].count = 0; f[1].sum[0] ^= 1; break;      /* empty but not zero */
    case 2: f[1].count = 1; f[1].chk ^= 1; break;         /* pure, wrong checksum */
    case 3: f[2].count = 4; break;                        /* above the set size */
    case 4: f[0].count = 2; break;                        /* symbol 0 != n */
    }
    size_t n = 0, len;
    for (int i = 0; i < 4; i++) {
      assert_int_equal(iblt_sym_encode(&f[i], buf + n, IBLT_SYM_MAX, &len), 0);
      n += len;
    }
    c = base(buf, n);
    assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
    assert_non_null(r.why);
    /* The writer refuses to write such a file. */
    mem m = { 0 };
    sketch_hdr h = { .n = 3, .k = 4 };
    assert_int_equal(sketch_write(&h, f, mem_write, &m, NULL), STOA_EINVAL);
    assert_int_equal(m.n, 0);
    free(m.b);
  }
  /* Fewer and more symbols than announced. */
  c = base(syms, sl);
  c.k = 5;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  c.k = 3;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
  /* A malformed varint (a non-minimal zero symbol) under a valid sum. */
  uint8_t bad[5] = { 0x81, 0x00, 0x01, 0x01, 0x01 };
  c = base(bad, 5);
  c.n = 0;
  assert_int_equal(craft_read(&c, &r), STOA_EMALFORMED);
}

static void test_writer(void **state) {
  (void)state;
  rng_state = 7;
  iblt_sym sy[8];
  uint8_t it[5 * L];
  items_make(it, 5);
  iblt_symbols_compute(sy, 0, 8, it, 5);
  sketch_hdr h = { .n = 5, .k = 0 };
  mem m = { 0 };
  assert_int_equal(sketch_write(&h, sy, mem_write, &m, NULL), STOA_EINVAL);
  h.k = SKETCH_SYMBOLS_MAX + 1;
  assert_int_equal(sketch_write(&h, sy, mem_write, &m, NULL), STOA_EINVAL);
  h.k = 8;
  h.n = 6;
  assert_int_equal(sketch_write(&h, sy, mem_write, &m, NULL), STOA_EINVAL);
  assert_int_equal(m.n, 0);
  /* A failing write is returned, at every step. */
  h.n = 5;
  for (int at = 1; at <= 5; at++) {
    mem f = { .fail_at = at };
    assert_int_equal(sketch_write(&h, sy, mem_write, &f, NULL), -5);
    free(f.b);
  }
  free(m.b);
}

/* ---- reconciliation against a sketch ------------------------------------------- */

static int cmp_item(const void *a, const void *b) { return memcmp(a, b, L); }

/* Ours: common + mine; the sketch's owner: common + theirs.  Decodes and
 * checks that exactly mine come out as LOCAL and theirs as REMOTE. */
static int reconcile_case(size_t common, size_t mine, size_t theirs, uint32_t k, uint32_t *used) {
  size_t na = common + mine, nb = common + theirs;
  uint8_t *all = malloc((common + mine + theirs) * L + 1);
  uint8_t *a = malloc(na * L + 1), *b = malloc(nb * L + 1);
  iblt_sym *sa = calloc(k, sizeof *sa), *sb = calloc(k, sizeof *sb);
  assert_true(all && a && b && sa && sb);
  items_make(all, common + mine + theirs);
  memcpy(a, all, na * L);                                     /* common, mine */
  memcpy(b, all, common * L);                                 /* common */
  memcpy(b + common * L, all + na * L, theirs * L);           /* theirs */
  iblt_symbols_compute(sa, 0, k, a, na);
  iblt_symbols_compute(sb, 0, k, b, nb);
  sketch_hdr h = { .n = nb, .k = k };
  mem m = { 0 };
  assert_int_equal(sketch_write(&h, sb, mem_write, &m, NULL), 0);
  sketch_reader r;
  assert_int_equal(sketch_reader_init(&r, m.b, m.n), 0);
  iblt_decoder d;
  int e = sketch_reconcile(&r, sa, &d, used);
  if (e == 0) {
    uint32_t n = iblt_decoder_count(&d);
    uint8_t *got_l = malloc((size_t)n * L + 1), *got_r = malloc((size_t)n * L + 1);
    size_t nl = 0, nr = 0;
    assert_true(got_l && got_r);
    for (uint32_t i = 0; i < n; i++) {
      int side;
      const uint8_t *x = iblt_decoder_item(&d, i, &side);
      if (side == IBLT_LOCAL) memcpy(got_l + nl++ * L, x, L);
      else memcpy(got_r + nr++ * L, x, L);
    }
    assert_int_equal(nl, mine);
    assert_int_equal(nr, theirs);
    qsort(got_l, nl, L, cmp_item);
    qsort(got_r, nr, L, cmp_item);
    qsort(all + common * L, mine, L, cmp_item);
    qsort(all + na * L, theirs, L, cmp_item);
    if (mine) assert_memory_equal(got_l, all + common * L, mine * L);
    if (theirs) assert_memory_equal(got_r, all + na * L, theirs * L);
    free(got_l);
    free(got_r);
  }
  iblt_decoder_free(&d);
  free(m.b);
  free(all);
  free(a);
  free(b);
  free(sa);
  free(sb);
  return e;
}

static void test_reconcile(void **state) {
  (void)state;
  uint32_t used;
  rng_state = 8;
  /* Equal sets: the first symbol says so. */
  assert_int_equal(reconcile_case(1000, 0, 0, 100, &used), 0);
  assert_int_equal(used, 1);
  /* One side, the other, both. */
  static const size_t ds[][2] = { { 1, 0 }, { 0, 1 }, { 10, 0 }, { 7, 5 }, { 300, 0 }, { 250, 50 },
                                  { 2000, 0 } };
  for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
    uint32_t k = sketch_symbols_for(ds[i][0] + ds[i][1]);
    assert_int_equal(reconcile_case(3000, ds[i][0], ds[i][1], k, &used), 0);
    assert_true(used <= k);
  }
  /* Too small a sketch for the difference: said so, not guessed. */
  assert_int_equal(reconcile_case(3000, 1000, 0, 300, &used), STOA_ETOOBIG);
  assert_int_equal(used, 300);
  /* An empty node's sketch: every item of ours is missing there. */
  assert_int_equal(reconcile_case(0, 40, 0, sketch_symbols_for(40), &used), 0);
}

/* The sizing rule: monotone, the inverse agrees with it, and each sketch
 * sized for d decodes d differences (fixed seeds: the same sets every
 * run, so this cannot flicker; 20 sets for each d). */
static void test_sizing(void **state) {
  (void)state;
  assert_int_equal(sketch_differences_for(10), 0);
  assert_int_equal(sketch_symbols_for(UINT64_MAX), SKETCH_SYMBOLS_MAX);
  uint32_t prev = 0;
  for (uint64_t d = 0; d < 100000; d += 1 + d / 16) {
    uint32_t k = sketch_symbols_for(d);
    assert_true(k >= prev);
    assert_true(k > d);
    assert_true(sketch_differences_for(k) >= d);
    assert_true(sketch_symbols_for(sketch_differences_for(k)) <= k);
    assert_true(sketch_symbols_for(sketch_differences_for(k) + 1) > k);
    prev = k;
  }
  assert_true(sketch_differences_for(SKETCH_SYMBOLS_MAX) > 700000);
  rng_state = 9;
  static const size_t ds[] = { 1, 2, 5, 10, 30, 100, 500 };
  for (size_t i = 0; i < sizeof ds / sizeof *ds; i++)
    for (int t = 0; t < 20; t++) {
      uint32_t used;
      assert_int_equal(reconcile_case(200, ds[i], 0, sketch_symbols_for(ds[i]), &used), 0);
    }
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_truncations),
    cmocka_unit_test(test_bit_flips),
    cmocka_unit_test(test_headers),
    cmocka_unit_test(test_absurd_sizes),
    cmocka_unit_test(test_forged_symbols),
    cmocka_unit_test(test_writer),
    cmocka_unit_test(test_reconcile),
    cmocka_unit_test(test_sizing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
