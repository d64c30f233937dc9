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
 *   come blocks k = 0, 1, ..., 9; block k covers [8^k, 8^(k+1)).  Within
 *   block k, start at the virtual index i = 8^k - 1; for t = 1, 2, ...:
 *   j = step(i, draw(x, k, t)); if j < 8^(k+1), j is in the sequence and
 *   i = j; otherwise block k is over.  (From i = 8^(k+1) - 1 the step
 *   always leaves the block, so it need not be drawn.)  Indices stop below
 *   8^10 = 2^30 = IBLT_INDEX_LIMIT.
 *
 *   chk(x)     = SipHash-2-4 of the 32 bytes of x under the 16-byte key
 *                "stoa-iblt-chk-v1" (ASCII), as a little-endian uint64
 *                (libsodium crypto_shorthash).
 *   Symbol i of a set S: sum = XOR of the x in S whose sequence holds i,
 *   chk = XOR of their chk(x), count = how many they are.
 *
 *   Known answers (tests/test_iblt.c, test_vector, checked against an
 *   independent implementation): the item 00 01 02 .. 1f has the indices
 *   0 1 2 3 6 10 15 20 31 48 124 127 335 1847 1956 2381 2679 3209 4062
 *   5980 11473 11692 29333 100342 125975 439025 below 2^20, and
 *   chk = 0xf36d028ece147c63.
 *
 * THE WIRE FORM of one symbol (normative too).  A header h, an unsigned
 * LEB128 varint (7 bits a byte, low group first, minimal: no final 0x00
 * byte after the first, at most 10 bytes, value < 2^64):
 *   h = 1                 the zero symbol (count 0, sum 0, chk 0), 1 byte;
 *   h = zigzag(count) * 2 otherwise, followed by the 32-byte sum and chk
 *                         as 8 bytes little-endian;
 *   zigzag(c) = 2c for c >= 0, -2c - 1 for c < 0; |count| < 2^62.
 * Any other odd h, a zero symbol in the long form, or a count out of range
 * is malformed, so every symbol has exactly one encoding.  A symbol with
 * count +-1 takes 41 bytes; a sender's early symbols carry counts of its
 * whole set (symbol 0: N), a few bytes more.
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
 * chain at every power of 8 keeps the distribution and makes it random
 * access: the indices at or after any `from` cost O(1) expected draws
 * (about 4.2 indices per block), so symbols [start, start+count) of a set
 * come from one O(n + count) pass for any start: the graceful path past
 * the cached prefix.  Walking all indices below N costs ~2 ln N + log8 N
 * draws, so an insert into a sketch of cap symbols costs O(log cap); base
 * 8 balances the draw that ends each block against the draws a seek
 * wastes in its block.  Within a block the target is at most ~8x the
 * start, so the floating-point guess of step() is off by less than one
 * and the exact test fixes it; no float ever decides a result.
 */
#include "proto/iblt.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/err.h"

#define BLOCK_SHIFT 3 /* blocks are powers of 8 */
#define NBLOCKS 10    /* 8^10 = IBLT_INDEX_LIMIT */
#define GAMMA UINT64_C(0x9e3779b97f4a7c15)

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

/* A received symbol in the decoder: remote - local - decoded.  One cache
 * line each, flag included: a peel touches ~2 ln m of them at random. */
struct iblt_dsym {
  _Alignas(64) uint64_t sum[4];
  uint64_t chk;
  int64_t count;
  uint32_t queued; /* waits in the peel queue */
};

struct iblt_ditem {
  uint8_t item[IBLT_ITEM_LEN];
  uint64_t chk;
  iblt__it it; /* it.cur: its first index not yet subtracted */
  int side;
};

static inline uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static inline uint64_t mix(uint64_t z) {
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

/* step(i, V) of the header comment, or `end` when it is >= end;
 * i < end - 1 <= 2^30 - 1.  With s = 2^32 / V, the guess (i + 1.5) s is
 * never below the exact threshold sqrt((i+1)(i+2) s^2 + 1/4) for j + 1.5,
 * and exceeds it by at most s / (4 (i + 1.5)): under one within a block,
 * so the loops turn at most once or twice.  A draw that leaves the block
 * costs no division. */
static inline uint32_t step(uint32_t i, uint64_t v, uint32_t end) {
  if (v == UINT64_C(1) << 32) return i + 1; /* V^2 = 2^64: j = i + 1 */
  uint64_t v2 = v * v, a = (uint64_t)(i + 1) * (i + 2);
  if (!past(end - 1, v2, a)) return end;
  double x = ((double)i + 1.5) * (4294967296.0 / (double)v) - 0.5;
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

/* Moves to the next index; returns it, or IBLT_INDEX_LIMIT at the end.
 * Works on a local copy: this is the hottest loop of every walk. */
static uint32_t it_next(iblt__it *it) {
  uint32_t k = it->k, cur = it->cur, draw = it->draw;
  const uint64_t seed = it->seed;
  for (; k < NBLOCKS; k++, draw = 0) {
    uint32_t end = UINT32_C(1) << (BLOCK_SHIFT * (k + 1));
    uint64_t z = seed + (((uint64_t)k << 32) + draw) * GAMMA;
    while (cur + 1 < end) {
      draw++;
      z += GAMMA;
      uint64_t r = mix(z), hi = r >> 32, lo = r & 0xffffffff;
      uint32_t j = step(cur, (hi > lo ? hi : lo) + 1, end);
      if (j >= end) break;
      cur = j;
      goto out;
    }
    cur = end - 1;
  }
  cur = IBLT_INDEX_LIMIT;
out:
  it->k = k;
  it->cur = cur;
  it->draw = draw;
  return cur;
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

/* Word-wise through memcpy: the symbols are the hot data of a decode. */
static inline void xor32(uint8_t *dst, const uint8_t *a, const uint8_t *b) {
  for (int i = 0; i < IBLT_ITEM_LEN; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    x ^= y;
    memcpy(dst + i, &x, 8);
  }
}

static inline void sym_apply(iblt_sym *s, const uint8_t *item, uint64_t chk, int64_t delta) {
  xor32(s->sum, s->sum, item);
  s->chk ^= chk;
  s->count = cnt_add(s->count, delta);
}

static inline bool sym_zero(const iblt_sym *s) {
  if (s->count != 0 || s->chk != 0) return false;
  uint64_t acc = 0;
  for (int i = 0; i < IBLT_ITEM_LEN; i += 8) {
    uint64_t x;
    memcpy(&x, s->sum + i, 8);
    acc |= x;
  }
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

void iblt_decoder_reset(iblt_decoder *d, const iblt_sketch *local) {
  d->local = local;
  d->m = d->nonzero = d->ndec = d->nheap = d->nqueue = 0;
}

void iblt_decoder_free(iblt_decoder *d) {
  free(d->diff);
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
 * together, by doubling, up to max.  On failure every array is still
 * valid (some larger) and cap is unchanged. */
static int grow(iblt_decoder *d) {
  uint64_t want = d->cap ? (uint64_t)d->cap * 2 : 256;
  uint32_t cap = want > d->max ? d->max : (uint32_t)want;
  void *p;
  /* Cache-line aligned, so no realloc: copy the received part over. */
  if (!(p = aligned_alloc(64, (size_t)cap * sizeof *d->diff))) return STOA_ENOMEM;
  if (d->m) memcpy(p, d->diff, (size_t)d->m * sizeof *d->diff);
  free(d->diff);
  d->diff = p;
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
static inline uint32_t hkey(const iblt_decoder *d, uint32_t h) { return d->dec[d->heap[h]].it.cur; }

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
 * nonzero count and (when `queue`) the peel queue up to date.  The inner
 * loop of a decode: one pass over the symbol's words. */
static inline void dec_apply(iblt_decoder *d, uint32_t j, const uint64_t w[4], uint64_t chk,
                             int side, bool queue) {
  iblt_dsym *s = &d->diff[j];
  uint64_t s0 = s->sum[0], s1 = s->sum[1], s2 = s->sum[2], s3 = s->sum[3];
  uint64_t ck = s->chk;
  int64_t c = s->count;
  uint64_t was = s0 | s1 | s2 | s3 | ck | (uint64_t)c;
  s0 ^= w[0], s1 ^= w[1], s2 ^= w[2], s3 ^= w[3], ck ^= chk;
  c = cnt_sub(c, side);
  uint64_t now = s0 | s1 | s2 | s3 | ck | (uint64_t)c;
  s->sum[0] = s0, s->sum[1] = s1, s->sum[2] = s2, s->sum[3] = s3;
  s->chk = ck;
  s->count = c;
  d->nonzero = d->nonzero - (was != 0) + (now != 0);
  if (queue && (c == 1 || c == -1) && !s->queued) {
    s->queued = 1;
    d->queue[d->nqueue++] = j;
  }
}

/* Peels symbol j if it is pure: count +-1, the checksum of its sum
 * matches, and j is an index of that sum (which a random 32 bytes is not,
 * with probability 1 - 2/(j+2): a second guard behind the checksum, and
 * what makes each peel zero its symbol for good, so ndec <= m).  The check
 * rides on the walk that subtracts the item from every received symbol
 * it maps to; in the rare case it fails (a lying remote, or a checksum
 * collision), a second walk undoes the first.  O(log m). */
static int dec_peel(iblt_decoder *d, uint32_t j) {
  const iblt_dsym *s = &d->diff[j];
  if (s->count != 1 && s->count != -1) return 0;
  uint8_t item[IBLT_ITEM_LEN];
  memcpy(item, s->sum, IBLT_ITEM_LEN);
  uint64_t chk = iblt_item_chk(item);
  if (chk != s->chk) return 0;
  if (d->ndec >= d->m) return STOA_EPROTOCOL;
  iblt_ditem *x = &d->dec[d->ndec];
  memcpy(x->item, item, IBLT_ITEM_LEN);
  x->chk = chk;
  x->side = (int)s->count;
  uint64_t w[4];
  memcpy(w, item, IBLT_ITEM_LEN);
  bool hit = false;
  uint32_t t = 0;
  iblt__it it;
  it_start(&it, item);
  for (; t < d->m; t = it_next(&it)) {
    dec_apply(d, t, w, chk, x->side, true);
    hit |= t == j;
  }
  x->it = it;
  if (!hit) {
    /* Not queueing here is what bounds the work a lying remote can cause:
     * what the first walk queued is back to a count of 0 or +-2, so it
     * will be popped and dropped without another walk. */
    it_start(&it, item);
    for (uint32_t u = 0; u < d->m; u = it_next(&it)) dec_apply(d, u, w, chk, -x->side, false);
    return 0;
  }
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
  iblt_dsym *s = &d->diff[j];
  for (int i = 0; i < 4; i++) {
    uint64_t a, b;
    memcpy(&a, remote->sum + 8 * i, 8);
    memcpy(&b, local_sym->sum + 8 * i, 8);
    s->sum[i] = a ^ b;
  }
  s->chk = remote->chk ^ local_sym->chk;
  s->count = cnt_sub(remote->count, local_sym->count);
  s->queued = 0;
  if ((s->sum[0] | s->sum[1] | s->sum[2] | s->sum[3] | s->chk | (uint64_t)s->count) != 0)
    d->nonzero++;
  d->m++;
  /* Items decoded earlier that map here. */
  while (d->nheap > 0 && hkey(d, 0) == j) {
    iblt_ditem *x = &d->dec[d->heap[0]];
    uint64_t w[4];
    memcpy(w, x->item, IBLT_ITEM_LEN);
    dec_apply(d, j, w, x->chk, x->side, false);
    if (it_next(&x->it) >= d->max) d->heap[0] = d->heap[--d->nheap];
    if (d->nheap > 0) heap_down(d, 0);
  }
  if (s->count == 1 || s->count == -1) {
    s->queued = 1;
    d->queue[d->nqueue++] = j;
  }
  while (d->nqueue > 0) {
    uint32_t q = d->queue[--d->nqueue];
    d->diff[q].queued = 0;
    if ((r = dec_peel(d, q)) != 0) return r;
  }
  return 0;
}
