/*
 * iblt.c - rateless IBLT set reconciliation.
 *
 * THE MAPPING (normative: docs/protocol.md copies this section; a second
 * implementation must reproduce it bit for bit).
 *
 *   Items are 32 bytes.  All arithmetic below is on unsigned integers;
 *   "mod 2^64" is stated where it wraps.
 *
 *   seed(x)    = bytes 0..7 of item x read as a little-endian uint64.
 *   mix(z)     = SplitMix64's output function, mod 2^64:
 *                  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *                  z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *                  return z ^ (z >> 31)
 *   draw(x,k,t) for a block number k >= 0 and a draw number t >= 1:
 *                  z = mix(seed(x) + (k * 2^32 + t) * 0x9e3779b97f4a7c15)
 *                  V = max(z >> 32, z & 0xffffffff) + 1      (1 <= V <= 2^32)
 *   step(i, V) = the smallest integer j > i with
 *                  (j+1) * (j+2) * V^2  >  (i+1) * (i+2) * 2^64
 *                (exact integers: with i, j < 2^30 both sides are < 2^126).
 *
 *   The index sequence of x is increasing.  Index 0 is always in it.  Then
 *   come blocks k = 0, 1, ..., 14; block k covers [4^k, 4^(k+1)).  Within
 *   block k, start at the virtual index i = 4^k - 1; for t = 1, 2, ...:
 *   j = step(i, draw(x, k, t)); if j < 4^(k+1), j is in the sequence and
 *   i = j; otherwise block k is over.  (From i = 4^(k+1) - 1 the step
 *   always leaves the block, so it need not be drawn.)  Indices stop below
 *   4^15 = 2^30 = IBLT_INDEX_LIMIT.
 *
 *   chk(x)     = SipHash-2-4 of the 32 bytes of x under the 16-byte key
 *                "stoa-iblt-chk-v1" (ASCII), as a little-endian uint64
 *                (libsodium crypto_shorthash).
 *   Symbol i of a set S: sum = XOR of the x in S whose sequence holds i,
 *   chk = XOR of their chk(x), count = how many they are.
 *
 *   Known answer: the item 00 01 02 .. 1f has the indices below 64
 *   given in tests/test_iblt.c (test_vector).
 *
 * Why it works.  Let rho(t) = 1/(1+t/2) = 2/(t+2).  From index i, the
 * chance that no index lies in (i, j] is prod_{t=i+1..j} (1 - rho(t)) =
 * (i+1)(i+2) / ((j+1)(j+2)); call it S.  V / 2^32 is the larger of two
 * uniform 32-bit values, so P(V^2 <= S * 2^64) = S (to 2^-32), which is
 * what step() needs: inverse-CDF sampling, as in the paper, but with
 * exact integers and no square root, so that every platform agrees.  The
 * formula does not care whether i itself is in the sequence, so each index
 * t >= 1 is present independently with probability rho(t), across blocks
 * too.  Index 0 is in every item's sequence: symbol 0 covers the whole set,
 * and equal sets are recognised from it alone.
 *
 * Why blocks.  The paper draws one chain from index 0.  Restarting the
 * chain at every power of 4 keeps the distribution and makes it random
 * access: the indices at or after any `from` cost O(1) expected draws
 * (about 2.8 indices per block), so symbols [start, start+count) of a set
 * come from one O(n + count) pass for any start (the graceful path past
 * the cached prefix), and the decoder checks that a peeled item really maps
 * to its symbol in O(1).  Walking all indices below N costs
 * ~2 ln N + log4 N draws, so an insert into a sketch of cap symbols costs
 * O(log cap).  Within a block the target is at most ~4x the start, so the
 * floating-point guess of step() is off by at most a unit or two and the
 * exact test fixes it; no float ever decides a result.
 */
#include "proto/iblt.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/err.h"

#define BLOCK_SHIFT 2 /* blocks are powers of 4 */
#define NBLOCKS 15    /* 4^15 = IBLT_INDEX_LIMIT */
#define GAMMA UINT64_C(0x9e3779b97f4a7c15)
#define NONE UINT32_MAX

static const uint8_t chk_key[16] = "stoa-iblt-chk-v1"; /* exactly 16, no NUL */

__extension__ typedef unsigned __int128 u128;

/* Where an item is in its sequence: cur is an index of it (or the virtual
 * start of block k), draw the draws taken in block k. */
typedef struct iblt__it {
  uint64_t seed;
  uint32_t cur;
  uint32_t draw;
  uint32_t k;
} iblt__it;

struct iblt_ditem {
  uint8_t item[IBLT_ITEM_LEN];
  uint64_t chk;
  iblt__it it; /* it.cur: its first index not yet subtracted */
  int side;
};

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

uint64_t iblt_item_chk(const uint8_t item[IBLT_ITEM_LEN]) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, item, IBLT_ITEM_LEN, chk_key);
  return le64(h);
}

/* (j+1)(j+2) V^2 > a * 2^64, with a = (i+1)(i+2), V2 = V^2 < 2^64. */
static inline bool past(uint64_t j, uint64_t v2, uint64_t a) {
  return (u128)((j + 1) * (j + 2)) * v2 > (u128)a << 64;
}

/* step(i, V) of the header comment, or `end` when it is >= end.
 * i < end - 1 <= 2^30 - 1. */
static uint32_t step(uint32_t i, uint64_t v, uint32_t end) {
  if (v == UINT64_C(1) << 32) return i + 1; /* V^2 = 2^64: j = i + 1 */
  uint64_t v2 = v * v, a = (uint64_t)(i + 1) * (i + 2);
  if (!past(end - 1, v2, a)) return end;
  /* j + 1.5 ~ (i + 1.5) 2^32 / V; the loops make it exact. */
  double x = ((double)i + 1.5) * 4294967296.0 / (double)v - 0.5;
  uint64_t j = x >= (double)(end - 1) ? end - 1 : x <= (double)i + 1 ? i + 1 : (uint64_t)x;
  while (j > (uint64_t)i + 1 && past(j - 1, v2, a)) j--;
  while (!past(j, v2, a)) j++;
  return (uint32_t)j;
}

static void it_start(iblt__it *it, const uint8_t *item) {
  it->seed = le64(item);
  it->cur = 0;
  it->draw = 0;
  it->k = 0;
}

/* Moves to the next index; returns it, or IBLT_INDEX_LIMIT at the end. */
static uint32_t it_next(iblt__it *it) {
  while (it->k < NBLOCKS) {
    uint32_t end = UINT32_C(1) << (BLOCK_SHIFT * (it->k + 1));
    if (it->cur + 1 < end) {
      it->draw++;
      uint64_t z = mix(it->seed + (((uint64_t)it->k << 32) + it->draw) * GAMMA);
      uint64_t hi = z >> 32, lo = z & 0xffffffff;
      uint32_t j = step(it->cur, (hi > lo ? hi : lo) + 1, end);
      if (j < end) return it->cur = j;
    }
    it->k++;
    it->cur = end - 1;
    it->draw = 0;
  }
  return it->cur = IBLT_INDEX_LIMIT;
}

/* Positions it at the first index >= from: O(1) expected draws. */
static uint32_t it_seek(iblt__it *it, const uint8_t *item, uint32_t from) {
  it_start(it, item);
  if (from == 0) return 0;
  if (from >= IBLT_INDEX_LIMIT) return it->cur = IBLT_INDEX_LIMIT;
  uint32_t log2 = 31 - (uint32_t)__builtin_clz(from);
  it->k = log2 / BLOCK_SHIFT;
  it->cur = (UINT32_C(1) << (BLOCK_SHIFT * it->k)) - 1;
  while (it->cur < from) it_next(it);
  return it->cur;
}

size_t iblt_item_indices(const uint8_t item[IBLT_ITEM_LEN], uint32_t from,
                         uint32_t limit, uint32_t *out, size_t max) {
  iblt__it it;
  size_t n = 0;
  for (uint32_t j = it_seek(&it, item, from); j < limit && n < max; j = it_next(&it))
    out[n++] = j;
  return n;
}

/* Counts wrap rather than overflow: a hostile count must not be UB. */
static inline int64_t cnt_add(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t cnt_sub(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline void sym_apply(iblt_sym *s, const uint8_t *item, uint64_t chk, int64_t delta) {
  for (int i = 0; i < IBLT_ITEM_LEN; i++) s->sum[i] ^= item[i];
  s->chk ^= chk;
  s->count = cnt_add(s->count, delta);
}

static inline bool sym_zero(const iblt_sym *s) {
  if (s->count != 0 || s->chk != 0) return false;
  uint8_t acc = 0;
  for (int i = 0; i < IBLT_ITEM_LEN; i++) acc |= s->sum[i];
  return acc == 0;
}

/* ---- sketch ---------------------------------------------------------- */

int iblt_sketch_init(iblt_sketch *sk, uint32_t cap) {
  memset(sk, 0, sizeof *sk);
  if (cap == 0 || cap > IBLT_INDEX_LIMIT) return STOA_EINVAL;
  sk->sym = calloc(cap, sizeof *sk->sym);
  if (sk->sym == NULL) return STOA_ENOMEM;
  sk->cap = cap;
  return 0;
}

void iblt_sketch_add(iblt_sketch *sk, const uint8_t item[IBLT_ITEM_LEN]) {
  iblt_symbols_add_item(sk->sym, 0, sk->cap, item);
  sk->n++;
}

int iblt_sketch_copy(iblt_sketch *dst, const iblt_sketch *src) {
  int r = iblt_sketch_init(dst, src->cap);
  if (r != 0) return r;
  memcpy(dst->sym, src->sym, (size_t)src->cap * sizeof *src->sym);
  dst->n = src->n;
  return 0;
}

void iblt_sketch_free(iblt_sketch *sk) {
  free(sk->sym);
  memset(sk, 0, sizeof *sk);
}

const iblt_sym *iblt_sketch_sym(const iblt_sketch *sk, uint32_t i) {
  return i < sk->cap ? &sk->sym[i] : NULL;
}

/* ---- symbols from the full set ----------------------------------------- */

void iblt_symbols_clear(iblt_sym *out, size_t count) {
  memset(out, 0, count * sizeof *out);
}

void iblt_symbols_add_item(iblt_sym *out, uint32_t start, uint32_t count,
                           const uint8_t item[IBLT_ITEM_LEN]) {
  uint64_t end = (uint64_t)start + count;
  if (end > IBLT_INDEX_LIMIT) end = IBLT_INDEX_LIMIT;
  uint64_t chk = iblt_item_chk(item);
  iblt__it it;
  for (uint32_t j = it_seek(&it, item, start); j < end; j = it_next(&it))
    sym_apply(&out[j - start], item, chk, 1);
}

void iblt_symbols_compute(iblt_sym *out, uint32_t start, uint32_t count,
                          const uint8_t *items, size_t n) {
  iblt_symbols_clear(out, count);
  for (size_t i = 0; i < n; i++)
    iblt_symbols_add_item(out, start, count, items + i * IBLT_ITEM_LEN);
}

/* ---- wire form ---------------------------------------------------------- */

int iblt_sym_encode(const iblt_sym *s, uint8_t *buf, size_t cap, size_t *len) {
  if (s->count > IBLT_COUNT_MAX || s->count < -IBLT_COUNT_MAX) return STOA_EINVAL;
  if (sym_zero(s)) {
    if (cap < 1) return STOA_ETOOBIG;
    buf[0] = 0x01;
    *len = 1;
    return 0;
  }
  uint64_t zz = s->count >= 0 ? (uint64_t)s->count << 1 : ((uint64_t)-(s->count + 1) << 1) | 1;
  uint64_t v = zz << 1; /* low bit 0: the long form */
  uint8_t tmp[IBLT_SYM_MAX];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) tmp[n] |= 0x80;
    n++;
  } while (v);
  memcpy(tmp + n, s->sum, IBLT_ITEM_LEN);
  n += IBLT_ITEM_LEN;
  for (int i = 0; i < 8; i++) tmp[n++] = (uint8_t)(s->chk >> (8 * i));
  if (cap < n) return STOA_ETOOBIG;
  memcpy(buf, tmp, n);
  *len = n;
  return 0;
}

int iblt_sym_decode(iblt_sym *s, const uint8_t *buf, size_t len, size_t *used) {
  uint64_t v = 0;
  size_t n = 0;
  for (;;) {
    if (n >= len) return STOA_ETRUNCATED;
    uint8_t b = buf[n];
    if (n == 9 && b > 1) return STOA_EMALFORMED; /* beyond 64 bits */
    v |= (uint64_t)(b & 0x7f) << (7 * n);
    n++;
    if (!(b & 0x80)) {
      if (b == 0 && n > 1) return STOA_EMALFORMED; /* not minimal */
      break;
    }
  }
  if (v & 1) {
    if (v != 1) return STOA_EMALFORMED;
    memset(s, 0, sizeof *s);
    *used = n;
    return 0;
  }
  uint64_t zz = v >> 1;
  /* zz >> 1 < 2^62 here, so neither form overflows. */
  int64_t count = (zz & 1) ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1);
  if (count > IBLT_COUNT_MAX || count < -IBLT_COUNT_MAX) return STOA_EMALFORMED;
  if (len - n < IBLT_ITEM_LEN + 8) return STOA_ETRUNCATED;
  iblt_sym t;
  memcpy(t.sum, buf + n, IBLT_ITEM_LEN);
  t.chk = le64(buf + n + IBLT_ITEM_LEN);
  t.count = count;
  if (sym_zero(&t)) return STOA_EMALFORMED; /* the short form is canonical */
  *s = t;
  *used = n + IBLT_ITEM_LEN + 8;
  return 0;
}

/* ---- decoder ------------------------------------------------------------ */

int iblt_decoder_init(iblt_decoder *d, const iblt_sketch *local, uint32_t max_symbols) {
  memset(d, 0, sizeof *d);
  if (max_symbols == 0 || max_symbols > IBLT_INDEX_LIMIT) return STOA_EINVAL;
  d->local = local;
  d->max = max_symbols;
  return 0;
}

void iblt_decoder_free(iblt_decoder *d) {
  free(d->diff);
  free(d->queued);
  free(d->queue);
  free(d->dec);
  free(d->heap);
  memset(d, 0, sizeof *d);
}

bool iblt_decoder_complete(const iblt_decoder *d) { return d->m > 0 && d->nonzero == 0; }

uint32_t iblt_decoder_count(const iblt_decoder *d) { return d->ndec; }

const uint8_t *iblt_decoder_item(const iblt_decoder *d, uint32_t i, int *side) {
  if (i >= d->ndec) return NULL;
  if (side) *side = d->dec[i].side;
  return d->dec[i].item;
}

/* Every array holds at most one entry per received symbol (each peel
 * zeroes the symbol it came from for good, so ndec <= m), so they all grow
 * together, by doubling, up to max.  A failed realloc leaves the arrays
 * valid (some larger) and cap unchanged. */
static int grow(iblt_decoder *d) {
  uint64_t want = d->cap ? (uint64_t)d->cap * 2 : 256;
  uint32_t cap = want > d->max ? d->max : (uint32_t)want;
  void *p;
  if (!(p = realloc(d->diff, (size_t)cap * sizeof *d->diff))) return STOA_ENOMEM;
  d->diff = p;
  if (!(p = realloc(d->queued, cap))) return STOA_ENOMEM;
  d->queued = p;
  if (!(p = realloc(d->queue, (size_t)cap * sizeof *d->queue))) return STOA_ENOMEM;
  d->queue = p;
  if (!(p = realloc(d->dec, (size_t)cap * sizeof *d->dec))) return STOA_ENOMEM;
  d->dec = p;
  if (!(p = realloc(d->heap, (size_t)cap * sizeof *d->heap))) return STOA_ENOMEM;
  d->heap = p;
  d->cap = cap;
  return 0;
}

/* Min-heap of decoded items keyed by their next index: each index of a
 * decoded item past the received prefix is subtracted when its symbol
 * arrives, O(log ndec) each. */
static uint32_t hkey(const iblt_decoder *d, uint32_t h) { return d->dec[d->heap[h]].it.cur; }

static void heap_down(iblt_decoder *d, uint32_t h) {
  for (;;) {
    uint32_t l = 2 * h + 1, s = h;
    if (l < d->nheap && hkey(d, l) < hkey(d, s)) s = l;
    if (l + 1 < d->nheap && hkey(d, l + 1) < hkey(d, s)) s = l + 1;
    if (s == h) return;
    uint32_t t = d->heap[h];
    d->heap[h] = d->heap[s];
    d->heap[s] = t;
    h = s;
  }
}

static void heap_push(iblt_decoder *d, uint32_t id) {
  uint32_t h = d->nheap++;
  d->heap[h] = id;
  while (h > 0) {
    uint32_t p = (h - 1) / 2;
    if (hkey(d, p) <= hkey(d, h)) break;
    uint32_t t = d->heap[h];
    d->heap[h] = d->heap[p];
    d->heap[p] = t;
    h = p;
  }
}

/* Subtracts `side` times an item from received symbol j, keeping the
 * nonzero count and the peel queue up to date. */
static void dec_apply(iblt_decoder *d, uint32_t j, const uint8_t *item, uint64_t chk, int side) {
  iblt_sym *s = &d->diff[j];
  bool was = !sym_zero(s);
  sym_apply(s, item, chk, -side);
  bool now = !sym_zero(s);
  d->nonzero = d->nonzero - was + now;
  if ((s->count == 1 || s->count == -1) && !d->queued[j]) {
    d->queued[j] = 1;
    d->queue[d->nqueue++] = j;
  }
}

/* Peels symbol j if it is pure: count +-1, checksum of its sum matches,
 * and j is an index of that sum (which a random 32 bytes is not, with
 * probability ~1 - 2/(j+2): a second guard behind the checksum, and what
 * makes each peel zero its symbol for good).  O(log m). */
static int dec_peel(iblt_decoder *d, uint32_t j) {
  const iblt_sym *s = &d->diff[j];
  if (s->count != 1 && s->count != -1) return 0;
  uint64_t chk = iblt_item_chk(s->sum);
  if (chk != s->chk) return 0;
  iblt__it it;
  if (it_seek(&it, s->sum, j) != j) return 0;
  if (d->ndec >= d->m) return STOA_EPROTOCOL;
  iblt_ditem *x = &d->dec[d->ndec];
  memcpy(x->item, s->sum, IBLT_ITEM_LEN); /* s changes below */
  x->chk = chk;
  x->side = (int)s->count;
  it_start(&x->it, x->item);
  uint32_t t = 0;
  for (; t < d->m; t = it_next(&x->it)) dec_apply(d, t, x->item, chk, x->side);
  if (t < d->max) heap_push(d, d->ndec);
  d->ndec++;
  return 0;
}

int iblt_decoder_add(iblt_decoder *d, const iblt_sym *remote, const iblt_sym *local_sym) {
  int r;
  if (d->m >= d->max) return STOA_ETOOBIG;
  if (local_sym == NULL) {
    if (d->local == NULL || d->m >= d->local->cap) return STOA_EINVAL;
    local_sym = &d->local->sym[d->m];
  }
  if (d->m == d->cap && (r = grow(d)) != 0) return r;
  uint32_t j = d->m;
  iblt_sym *s = &d->diff[j];
  for (int i = 0; i < IBLT_ITEM_LEN; i++) s->sum[i] = remote->sum[i] ^ local_sym->sum[i];
  s->chk = remote->chk ^ local_sym->chk;
  s->count = cnt_sub(remote->count, local_sym->count);
  d->queued[j] = 0;
  /* Items decoded earlier that map here. */
  while (d->nheap > 0 && hkey(d, 0) == j) {
    iblt_ditem *x = &d->dec[d->heap[0]];
    sym_apply(s, x->item, x->chk, -x->side);
    if (it_next(&x->it) >= d->max) d->heap[0] = d->heap[--d->nheap];
    if (d->nheap > 0) heap_down(d, 0);
  }
  d->m++;
  if (!sym_zero(s)) d->nonzero++;
  if (s->count == 1 || s->count == -1) {
    d->queued[j] = 1;
    d->queue[d->nqueue++] = j;
  }
  while (d->nqueue > 0) {
    uint32_t q = d->queue[--d->nqueue];
    d->queued[q] = 0;
    if ((r = dec_peel(d, q)) != 0) return r;
  }
  return 0;
}
