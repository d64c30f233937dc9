/*
 * test_iblt.c - rateless IBLT: the mapping, sketches, the from-full-set
 * path, decoding of every difference size 0..10000 in both directions, and
 * the wire form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/err.h"
#include "proto/iblt.h"

#define L IBLT_ITEM_LEN

/* Deterministic test randomness (SplitMix64). */
static uint64_t rng_state;
static uint64_t rng(void) {
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* A random item whose last 4 bytes carry a tag, so that a decoded item
 * leads back to where it came from.  The mapping reads bytes 0..7 only. */
static void item_make(uint8_t *it, uint32_t tag) {
  for (int i = 0; i < 28; i += 4) {
    uint64_t r = rng();
    memcpy(it + i, &r, 4);
  }
  for (int i = 0; i < 4; i++) it[28 + i] = (uint8_t)(tag >> (8 * i));
}
static uint32_t item_tag(const uint8_t *it) {
  return (uint32_t)it[28] | (uint32_t)it[29] << 8 | (uint32_t)it[30] << 16 | (uint32_t)it[31] << 24;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  assert_non_null(p);
  return p;
}

/* ---- the mapping ------------------------------------------------------- */

/* Known answer, computed by an independent implementation of the
 * specification at the top of iblt.c (exact integers, bisection). */
static void test_vector(void **state) {
  (void)state;
  uint8_t it[L];
  for (int i = 0; i < L; i++) it[i] = (uint8_t)i;
  static const uint32_t want[] = {0, 1, 2, 3, 6, 10, 15, 20, 31, 48, 124, 127, 335, 1847, 1956,
                                  2381, 2679, 3209, 4062, 5980, 11473, 11692, 29333, 100342,
                                  125975, 439025};
  uint32_t got[64];
  size_t n = iblt_item_indices(it, 0, UINT32_C(1) << 20, got, 64);
  assert_int_equal(n, sizeof want / sizeof want[0]);
  assert_memory_equal(got, want, sizeof want);
  /* Random access: from any start, the first index at or after it. */
  for (size_t i = 0; i < n; i++) {
    uint32_t from = i ? want[i - 1] + 1 : 0, one;
    assert_int_equal(iblt_item_indices(it, from, UINT32_C(1) << 20, &one, 1), 1);
    assert_int_equal(one, want[i]);
  }
  assert_int_equal(iblt_item_indices(it, 439026, UINT32_C(1) << 20, got, 64), 0);
  /* SipHash-2-4, key "stoa-iblt-chk-v1", checked by a separate implementation. */
  assert_true(iblt_item_chk(it) == UINT64_C(0xf36d028ece147c63));
}

/* Square root by Newton's method (no libm in the build). */
static double root(double v) {
  double r = v > 1 ? v : 1;
  for (int i = 0; i < 60; i++) r = (r + v / r) / 2;
  return r;
}

/* Index t is present with probability 1/(1+t/2), across block edges. */
static void test_distribution(void **state) {
  (void)state;
  /* Block edges (powers of 8) and between. */
  static const uint32_t probe[] = {1, 2, 3, 6, 7, 8, 9, 63, 64, 65, 100, 511, 512, 513, 1000, 4095, 4096};
  enum { NP = sizeof probe / sizeof probe[0], N = 40000 };
  unsigned hits[NP] = {0};
  double total = 0;
  rng_state = 1;
  for (int n = 0; n < N; n++) {
    uint8_t it[L];
    uint32_t idx[256];
    item_make(it, (uint32_t)n);
    size_t k = iblt_item_indices(it, 0, 4097, idx, 256);
    assert_true(k >= 1 && idx[0] == 0);
    for (size_t i = 1; i < k; i++) assert_true(idx[i] > idx[i - 1]);
    total += (double)k;
    for (int p = 0; p < NP; p++)
      for (size_t i = 0; i < k; i++)
        if (idx[i] == probe[p]) hits[p]++;
  }
  for (int p = 0; p < NP; p++) {
    double rho = 1.0 / (1.0 + probe[p] / 2.0);
    double mean = N * rho, sd = root(N * rho * (1 - rho));
    double dev = hits[p] > mean ? hits[p] - mean : mean - hits[p];
    if (dev > 6 * sd + 1) fail_msg("index %u: %u hits, expected %.0f", probe[p], hits[p], mean);
  }
  /* Mean indices below 4097: 1 + sum_{t=1}^{4096} 2/(t+2). */
  double expect = 1;
  for (int t = 1; t <= 4096; t++) expect += 2.0 / (t + 2);
  assert_true(total / N > expect - 0.1 && total / N < expect + 0.1);
}

/* ---- sketches and the from-full-set path -------------------------------- */

static void test_sketch_and_compute(void **state) {
  (void)state;
  enum { N = 3000, CAP = 700 };
  uint8_t *items = xcalloc(N, L);
  rng_state = 2;
  for (uint32_t i = 0; i < N; i++) item_make(items + (size_t)i * L, i);
  iblt_sketch sk, cp;
  assert_int_equal(iblt_sketch_init(&sk, 0), STOA_EINVAL);
  assert_int_equal(iblt_sketch_init(&sk, IBLT_INDEX_LIMIT + 1), STOA_EINVAL);
  assert_int_equal(iblt_sketch_init(&sk, CAP), 0);
  for (size_t i = 0; i < N; i++) iblt_sketch_add(&sk, items + i * L);
  assert_int_equal(sk.n, N);
  assert_int_equal(iblt_sketch_sym(&sk, 0)->count, N);
  assert_null(iblt_sketch_sym(&sk, CAP));

  /* The cached prefix equals the from-full-set computation. */
  iblt_sym *all = xcalloc(2000, sizeof *all);
  iblt_symbols_compute(all, 0, 2000, items, N);
  assert_memory_equal(all, sk.sym, CAP * sizeof *all);
  /* Any range equals the same slice of a longer computation. */
  static const uint32_t ranges[][2] = {{0, 1}, {1, 3}, {3, 13}, {4, 60}, {63, 2}, {64, 1},
                                       {100, 900}, {1023, 977}, {1024, 1}, {1999, 1}};
  iblt_sym *part = xcalloc(2000, sizeof *part);
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
    uint32_t s = ranges[r][0], c = ranges[r][1];
    memset(part, 0xa5, c * sizeof *part); /* compute clears first */
    iblt_symbols_compute(part, s, c, items, N);
    assert_memory_equal(part, all + s, c * sizeof *part);
  }
  /* Counts sum to the number of memberships; checksum of symbol 0. */
  uint64_t chk = 0;
  for (size_t i = 0; i < N; i++) chk ^= iblt_item_chk(items + i * L);
  assert_true(all[0].chk == chk);

  /* A copy is a snapshot. */
  assert_int_equal(iblt_sketch_copy(&cp, &sk), 0);
  assert_memory_equal(cp.sym, sk.sym, CAP * sizeof *all);
  uint8_t extra[L];
  item_make(extra, 99999);
  iblt_sketch_add(&sk, extra);
  assert_int_equal(cp.sym[0].count, N);
  assert_int_equal(sk.sym[0].count, N + 1);
  iblt_sketch_free(&cp);
  iblt_sketch_free(&sk);
  free(part);
  free(all);
  free(items);
}

/* ---- decoding ------------------------------------------------------------ */

static void test_equal_sets(void **state) {
  (void)state;
  enum { N = 5000 };
  uint8_t *items = xcalloc(N, L);
  rng_state = 3;
  for (uint32_t i = 0; i < N; i++) item_make(items + (size_t)i * L, i);
  iblt_sketch a, b;
  assert_int_equal(iblt_sketch_init(&a, 1024), 0);
  assert_int_equal(iblt_sketch_init(&b, 1024), 0);
  for (size_t i = 0; i < N; i++) iblt_sketch_add(&a, items + i * L);
  for (size_t i = N; i-- > 0;) iblt_sketch_add(&b, items + i * L); /* other order */
  iblt_decoder d;
  assert_int_equal(iblt_decoder_init(&d, &b, 1024), 0);
  assert_false(iblt_decoder_complete(&d)); /* nothing received yet */
  assert_int_equal(iblt_decoder_add(&d, &a.sym[0], NULL), 0);
  assert_true(iblt_decoder_complete(&d));
  assert_int_equal(iblt_decoder_count(&d), 0);
  iblt_decoder_free(&d);

  /* Two empty sets: symbol 0 is zero on both sides. */
  iblt_sym zero;
  memset(&zero, 0, sizeof zero);
  assert_int_equal(iblt_decoder_init(&d, NULL, 8), 0);
  assert_int_equal(iblt_decoder_add(&d, &zero, &zero), 0);
  assert_true(iblt_decoder_complete(&d));
  iblt_decoder_free(&d);
  iblt_sketch_free(&a);
  iblt_sketch_free(&b);
  free(items);
}

/* Checks the decoded items are exactly diff[0, d) with sides side[].
 * Plain comparisons, one assertion: this runs for 50 million items. */
static void check_decoded(const iblt_decoder *d, const uint8_t *diff, const int8_t *side,
                          uint32_t nd, uint8_t *seen) {
  assert_int_equal(iblt_decoder_count(d), nd);
  memset(seen, 0, nd);
  uint32_t bad = 0;
  for (uint32_t i = 0; i < nd; i++) {
    int s = 0;
    const uint8_t *it = iblt_decoder_item(d, i, &s);
    uint32_t tag = it ? item_tag(it) : UINT32_MAX;
    if (tag >= nd || memcmp(it, diff + (size_t)tag * L, L) != 0 || s != side[tag] || seen[tag]) {
      bad++;
      continue;
    }
    seen[tag] = 1;
  }
  assert_int_equal(bad, 0);
  assert_null(iblt_decoder_item(d, nd, NULL));
}

/* Split patterns: the side of the t-th differing item. */
enum { NPAT = 6 };
static int8_t pattern_side(int pat, uint32_t t, uint64_t r) {
  switch (pat) {
  case 0: return IBLT_REMOTE;                             /* all remote-only */
  case 1: return IBLT_LOCAL;                              /* all local-only */
  case 2: return t % 2 ? IBLT_LOCAL : IBLT_REMOTE;        /* half and half */
  case 3: return t % 4 ? IBLT_LOCAL : IBLT_REMOTE;        /* 1/4 remote */
  case 4: return t % 10 ? IBLT_REMOTE : IBLT_LOCAL;       /* 9/10 remote */
  default: return r & 1 ? IBLT_REMOTE : IBLT_LOCAL;       /* random */
  }
}

/* Every d in 0..10000.  For each split pattern a pair of sketches (local,
 * remote) grows by one differing item per step, so building costs
 * O(log cap) per d; each d is decoded with one pattern (every pattern for
 * d <= 300), streaming from index 0 until complete.  The decodes are the
 * cost: ~50 million peels in all, ~45 s under -O1 and ASan. */
static void test_every_d(void **state) {
  (void)state;
  enum { DMAX = 10000, COMMON = 20, CAP = 1 << 15, ALL_UNTIL = 300 };
  uint8_t *diff = xcalloc(DMAX, L), *seen = xcalloc(DMAX, 1);
  int8_t *side[NPAT];
  iblt_sketch loc[NPAT], rem[NPAT];
  rng_state = 4;
  for (uint32_t t = 0; t < DMAX; t++) item_make(diff + (size_t)t * L, t);
  for (int p = 0; p < NPAT; p++) {
    side[p] = xcalloc(DMAX, 1);
    for (uint32_t t = 0; t < DMAX; t++) side[p][t] = pattern_side(p, t, rng());
    assert_int_equal(iblt_sketch_init(&loc[p], CAP), 0);
    assert_int_equal(iblt_sketch_init(&rem[p], CAP), 0);
  }
  for (uint32_t c = 0; c < COMMON; c++) {
    uint8_t it[L];
    item_make(it, 0xc0000000u + c);
    for (int p = 0; p < NPAT; p++) {
      iblt_sketch_add(&loc[p], it);
      iblt_sketch_add(&rem[p], it);
    }
  }
  uint64_t symbols = 0, dsum = 0, runs = 0;
  uint32_t worst = 0;
  double worst_ratio = 0;
  iblt_decoder dec;
  assert_int_equal(iblt_decoder_init(&dec, NULL, CAP), 0);
  for (uint32_t d = 0; d <= DMAX; d++) {
    for (int p = 0; p < NPAT; p++) {
      if (d > ALL_UNTIL && (int)(d % NPAT) != p) continue;
      iblt_decoder_reset(&dec, &loc[p]); /* one decoder, reused */
      uint32_t m = 0;
      while (!iblt_decoder_complete(&dec)) {
        if (m == CAP) fail_msg("d=%u pattern %d: not decoded in %u symbols", d, p, m);
        assert_int_equal(iblt_decoder_add(&dec, &rem[p].sym[m], NULL), 0);
        m++;
      }
      check_decoded(&dec, diff, side[p], d, seen);
      if (d == 0) assert_int_equal(m, 1);
      symbols += m;
      dsum += d;
      runs++;
      if (d >= 1000 && (double)m / d > worst_ratio) {
        worst_ratio = (double)m / d;
        worst = d;
      }
    }
    if (d == DMAX) break;
    for (int p = 0; p < NPAT; p++)
      iblt_sketch_add(side[p][d] == IBLT_REMOTE ? &rem[p] : &loc[p], diff + (size_t)d * L);
  }
  iblt_decoder_free(&dec);
  print_message("every d: %llu runs, %.3f symbols per difference overall, worst %.3f at d=%u\n",
                (unsigned long long)runs, (double)symbols / (double)dsum, worst_ratio, worst);
  for (int p = 0; p < NPAT; p++) {
    iblt_sketch_free(&loc[p]);
    iblt_sketch_free(&rem[p]);
    free(side[p]);
  }
  free(diff);
  free(seen);
}

/* A difference far larger than the cached prefix: the first CAP symbols
 * come from the sketches, the rest from the full sets, in batches. */
static void test_past_prefix(void **state) {
  (void)state;
  enum { CAP = 64, COMMON = 3000, D = 2000, BATCH = 500, MAX = 8000 };
  uint8_t *litems = xcalloc(COMMON + D, L), *ritems = xcalloc(COMMON + D, L);
  uint8_t *diff = xcalloc(D, L), *seen = xcalloc(D, 1);
  int8_t *side = xcalloc(D, 1);
  size_t nl = 0, nr = 0;
  iblt_sketch lsk, rsk;
  assert_int_equal(iblt_sketch_init(&lsk, CAP), 0);
  assert_int_equal(iblt_sketch_init(&rsk, CAP), 0);
  rng_state = 5;
  for (uint32_t t = 0; t < D; t++) {
    item_make(diff + (size_t)t * L, t);
    side[t] = t % 3 ? IBLT_REMOTE : IBLT_LOCAL;
    uint8_t *dst = side[t] == IBLT_REMOTE ? ritems + nr++ * L : litems + nl++ * L;
    memcpy(dst, diff + (size_t)t * L, L);
  }
  for (uint32_t c = 0; c < COMMON; c++) {
    item_make(litems + nl++ * L, 0x80000000u + c);
    memcpy(ritems + nr++ * L, litems + (nl - 1) * L, L);
  }
  for (size_t i = 0; i < nl; i++) iblt_sketch_add(&lsk, litems + i * L);
  for (size_t i = 0; i < nr; i++) iblt_sketch_add(&rsk, ritems + i * L);

  iblt_decoder dec;
  iblt_sym *rb = xcalloc(BATCH, sizeof *rb), *lb = xcalloc(BATCH, sizeof *lb);
  assert_int_equal(iblt_decoder_init(&dec, &lsk, MAX), 0);
  uint32_t m = 0;
  for (; m < CAP && !iblt_decoder_complete(&dec); m++)
    assert_int_equal(iblt_decoder_add(&dec, &rsk.sym[m], NULL), 0);
  assert_false(iblt_decoder_complete(&dec));
  /* Past the sketch, a local symbol is required. */
  assert_int_equal(iblt_decoder_add(&dec, &rsk.sym[0], NULL), STOA_EINVAL);
  while (!iblt_decoder_complete(&dec)) {
    assert_true(m < MAX);
    iblt_symbols_compute(rb, m, BATCH, ritems, nr);
    iblt_symbols_compute(lb, m, BATCH, litems, nl);
    for (uint32_t i = 0; i < BATCH && !iblt_decoder_complete(&dec); i++, m++)
      assert_int_equal(iblt_decoder_add(&dec, &rb[i], &lb[i]), 0);
  }
  check_decoded(&dec, diff, side, D, seen);
  print_message("past the prefix: d=%d decoded from %u symbols (%u cached)\n", D, m, CAP);
  iblt_decoder_free(&dec);

  /* The decoder stops at its limit and stays usable. */
  assert_int_equal(iblt_decoder_init(&dec, NULL, 0), STOA_EINVAL);
  assert_int_equal(iblt_decoder_init(&dec, NULL, IBLT_INDEX_LIMIT + 1), STOA_EINVAL);
  assert_int_equal(iblt_decoder_init(&dec, &lsk, 3), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(iblt_decoder_add(&dec, &rsk.sym[i], NULL), 0);
  assert_int_equal(iblt_decoder_add(&dec, &rsk.sym[3], NULL), STOA_ETOOBIG);
  assert_int_equal(dec.m, 3);
  iblt_decoder_free(&dec);

  iblt_sketch_free(&lsk);
  iblt_sketch_free(&rsk);
  free(rb);
  free(lb);
  free(litems);
  free(ritems);
  free(diff);
  free(seen);
  free(side);
}

static bool maps_to(const uint8_t *it, uint32_t j) {
  uint32_t one;
  return iblt_item_indices(it, j, j + 1, &one, 1) == 1;
}

/* A remote that lies can make one item peel more than once; the decoder
 * notices once it has peeled more items than it received symbols. */
static void test_lying_remote(void **state) {
  (void)state;
  uint8_t x[L], y[L];
  rng_state = 6;
  do item_make(x, 1); while (!maps_to(x, 1));
  do item_make(y, 2); while (!maps_to(y, 1));
  iblt_sym s0, s1, zero;
  memset(&zero, 0, sizeof zero);
  memset(&s0, 0, sizeof s0);
  memset(&s1, 0, sizeof s1);
  for (int i = 0; i < L; i++) s0.sum[i] = x[i] ^ y[i];
  s0.chk = iblt_item_chk(x) ^ iblt_item_chk(y);
  s0.count = 2;
  memcpy(s1.sum, x, L);
  s1.chk = iblt_item_chk(x);
  s1.count = 1;
  iblt_decoder d;
  assert_int_equal(iblt_decoder_init(&d, NULL, 16), 0);
  assert_int_equal(iblt_decoder_add(&d, &s0, &zero), 0);
  assert_int_equal(iblt_decoder_add(&d, &s1, &zero), STOA_EPROTOCOL);
  iblt_decoder_free(&d);

  /* A "pure" symbol at an index its item does not map to is not peeled. */
  uint8_t z[L];
  do item_make(z, 3); while (maps_to(z, 1));
  iblt_sym bad;
  memset(&bad, 0, sizeof bad);
  memcpy(bad.sum, z, L);
  bad.chk = iblt_item_chk(z);
  bad.count = -1;
  assert_int_equal(iblt_decoder_init(&d, NULL, 16), 0);
  assert_int_equal(iblt_decoder_add(&d, &zero, &zero), 0);
  assert_true(iblt_decoder_complete(&d));
  assert_int_equal(iblt_decoder_add(&d, &bad, &zero), 0);
  assert_false(iblt_decoder_complete(&d));
  assert_int_equal(iblt_decoder_count(&d), 0);
  iblt_decoder_free(&d);
}

/* ---- wire form ---------------------------------------------------------- */

static void roundtrip(const iblt_sym *s, size_t want_len) {
  uint8_t buf[IBLT_SYM_MAX];
  size_t len = 0, used = 0;
  assert_int_equal(iblt_sym_encode(s, buf, sizeof buf, &len), 0);
  if (want_len) assert_int_equal(len, want_len);
  /* Exact-size heap copy: ASan catches any read past it. */
  uint8_t *exact = malloc(len);
  assert_non_null(exact);
  memcpy(exact, buf, len);
  iblt_sym back;
  assert_int_equal(iblt_sym_decode(&back, exact, len, &used), 0);
  assert_int_equal(used, len);
  assert_memory_equal(&back, s, sizeof back);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(iblt_sym_decode(&back, exact, cut, &used), STOA_ETRUNCATED);
  free(exact);
  assert_int_equal(iblt_sym_encode(s, buf, len - 1, &used), STOA_ETOOBIG);
}

static void test_wire(void **state) {
  (void)state;
  iblt_sym s;
  memset(&s, 0, sizeof s);
  roundtrip(&s, 1);
  rng_state = 7;
  static const int64_t counts[] = {0, 1, -1, 2, -2, 31, 32, -32, -33, 1000000, -1000000,
                                   IBLT_COUNT_MAX, -IBLT_COUNT_MAX};
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    item_make(s.sum, (uint32_t)c);
    s.chk = rng();
    s.count = counts[c];
    roundtrip(&s, 0);
  }
  s.count = 1;
  roundtrip(&s, 1 + L + 8); /* the common tail symbol: 41 bytes */
  s.count = -1;
  roundtrip(&s, 1 + L + 8);
  s.count = 100000; /* zigzag 200000, shifted 400000: 3 varint bytes */
  roundtrip(&s, 3 + L + 8);
  /* Count zero with a nonzero sum or checksum uses the long form. */
  memset(&s, 0, sizeof s);
  s.chk = 1;
  roundtrip(&s, 1 + L + 8);
  memset(&s, 0, sizeof s);
  s.sum[31] = 1;
  roundtrip(&s, 1 + L + 8);

  uint8_t buf[64];
  size_t len;
  s.count = IBLT_COUNT_MAX + 1;
  assert_int_equal(iblt_sym_encode(&s, buf, sizeof buf, &len), STOA_EINVAL);
  s.count = -IBLT_COUNT_MAX - 1;
  assert_int_equal(iblt_sym_encode(&s, buf, sizeof buf, &len), STOA_EINVAL);
  memset(&s, 0, sizeof s);
  assert_int_equal(iblt_sym_encode(&s, buf, 0, &len), STOA_ETOOBIG);

  /* A stream of symbols decodes one after another. */
  uint8_t stream[10 * IBLT_SYM_MAX];
  size_t off = 0;
  iblt_sym in[10], out;
  for (int i = 0; i < 10; i++) {
    memset(&in[i], 0, sizeof in[i]);
    if (i % 3) {
      item_make(in[i].sum, (uint32_t)i);
      in[i].chk = rng();
      in[i].count = (int64_t)(rng() % 2000) - 1000;
    }
    assert_int_equal(iblt_sym_encode(&in[i], stream + off, sizeof stream - off, &len), 0);
    off += len;
  }
  size_t pos = 0;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(iblt_sym_decode(&out, stream + pos, off - pos, &len), 0);
    assert_memory_equal(&out, &in[i], sizeof out);
    pos += len;
  }
  assert_int_equal(pos, off);
}

static void test_wire_malformed(void **state) {
  (void)state;
  iblt_sym s;
  size_t used;
  uint8_t b[64];
  memset(b, 0, sizeof b);
  assert_int_equal(iblt_sym_decode(&s, b, 0, &used), STOA_ETRUNCATED);
  /* Odd header other than the single 0x01. */
  b[0] = 0x03;
  assert_int_equal(iblt_sym_decode(&s, b, sizeof b, &used), STOA_EMALFORMED);
  b[0] = 0x81; b[1] = 0x00; /* 1 in two bytes: not minimal */
  assert_int_equal(iblt_sym_decode(&s, b, sizeof b, &used), STOA_EMALFORMED);
  b[0] = 0x82; b[1] = 0x00; /* 2 in two bytes */
  assert_int_equal(iblt_sym_decode(&s, b, sizeof b, &used), STOA_EMALFORMED);
  /* Varint longer than 64 bits. */
  memset(b, 0xff, 9);
  b[9] = 0x02;
  assert_int_equal(iblt_sym_decode(&s, b, sizeof b, &used), STOA_EMALFORMED);
  memset(b, 0x80, 11);
  assert_int_equal(iblt_sym_decode(&s, b, sizeof b, &used), STOA_EMALFORMED);
  /* A varint that never ends within the input. */
  memset(b, 0x80, 5);
  assert_int_equal(iblt_sym_decode(&s, b, 5, &used), STOA_ETRUNCATED);
  /* The only count beyond the limit that 64 bits can carry: -2^62
   * (zigzag 2^63 - 1, shifted: 2^64 - 2). */
  uint64_t v = ((uint64_t)IBLT_COUNT_MAX << 2) | 2;
  size_t n = 0;
  do { b[n] = (uint8_t)(v & 0x7f); v >>= 7; if (v) b[n] |= 0x80; n++; } while (v);
  memset(b + n, 0x11, L + 8);
  assert_int_equal(iblt_sym_decode(&s, b, n + L + 8, &used), STOA_EMALFORMED);
  /* A zero symbol in the long form is not canonical. */
  memset(b, 0, sizeof b);
  assert_int_equal(iblt_sym_decode(&s, b, 1 + L + 8, &used), STOA_EMALFORMED);
  /* The long form cut short, at each length, in an exact-size buffer. */
  for (size_t cut = 1; cut < 1 + L + 8; cut++) {
    uint8_t *p = malloc(cut);
    assert_non_null(p);
    memset(p, 0x5a, cut);
    p[0] = 0x04; /* count 1: zigzag 2, shifted 4 */
    assert_int_equal(iblt_sym_decode(&s, p, cut, &used), STOA_ETRUNCATED);
    free(p);
  }
  /* Hostile random bytes: any result, but never a read past the end. */
  rng_state = 8;
  for (int i = 0; i < 20000; i++) {
    size_t len = rng() % 60;
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t k = 0; k < len; k++) p[k] = (uint8_t)rng();
    if (len && (rng() & 1)) p[0] &= 0x7e;
    int r = iblt_sym_decode(&s, p, len, &used);
    assert_true(r == 0 || r == STOA_ETRUNCATED || r == STOA_EMALFORMED);
    if (r == 0) {
      assert_true(used <= len);
      uint8_t re[IBLT_SYM_MAX];
      size_t rl;
      assert_int_equal(iblt_sym_encode(&s, re, sizeof re, &rl), 0);
      assert_int_equal(rl, used); /* canonical: re-encodes to the same bytes */
      assert_memory_equal(re, p, rl);
    }
    free(p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vector),
    cmocka_unit_test(test_distribution),
    cmocka_unit_test(test_sketch_and_compute),
    cmocka_unit_test(test_equal_sets),
    cmocka_unit_test(test_past_prefix),
    cmocka_unit_test(test_lying_remote),
    cmocka_unit_test(test_wire),
    cmocka_unit_test(test_wire_malformed),
    cmocka_unit_test(test_every_d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
