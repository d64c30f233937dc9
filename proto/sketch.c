/*
 * sketch.c - sketch files (sketch.h, docs/bundle-format.md).
 *
 * The reader checks in the order that gives the clearest verdict: the
 * magic and the header first (not a sketch, another version, absurd
 * sizes), then the file's length against what the header announces (a
 * truncated file is called truncated, not altered), then the checksum (a
 * bit flipped anywhere is "altered", whatever it hit), and only then the
 * symbols one by one (a file that is intact but could not come from any
 * set, i.e. forged, is "malformed").
 */
#include "proto/sketch.h"

#include <msgpack.h>
#include <sodium.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

#define SKETCH_TAG "stoa sketch"

/* ---- writing ------------------------------------------------------------------ */

/* The header is packed into a fixed buffer: no allocation, and its size is
 * known before anything is written. */
typedef struct fixbuf {
  uint8_t b[SKETCH_HDR_MAX];
  size_t n;
  int over;
} fixbuf;

static int fixbuf_write(void *data, const char *buf, size_t len) {
  fixbuf *f = data;
  if (len > sizeof f->b - f->n) { f->over = 1; return -1; }
  memcpy(f->b + f->n, buf, len);
  f->n += len;
  return 0;
}

/* What a reader demands of symbol i of a set of n items (sketch_reader_init). */
static const char *sym_check(const iblt_sym *s, uint32_t i, uint64_t n) {
  static const uint8_t zero[IBLT_ITEM_LEN];
  if (s->count < 0 || (uint64_t)s->count > n) return "a symbol counts more items than the set has";
  if (i == 0 && (uint64_t)s->count != n) return "symbol 0 does not count the whole set";
  if (s->count == 0 && (s->chk || memcmp(s->sum, zero, IBLT_ITEM_LEN)))
    return "a symbol of no items is not empty";
  if (s->count == 1 && s->chk != iblt_item_chk(s->sum))
    return "a symbol of one item does not match that item's checksum";
  return NULL;
}

/* A chunk of symbols is encoded at a time into this much room. */
#define WBUF (64 * IBLT_SYM_MAX)

int sketch_write(const sketch_hdr *h, const iblt_sym *syms, sketch_write_fn write, void *ctx,
                 uint64_t *bytes) {
  crypto_generichash_blake2b_state st;
  uint8_t buf[WBUF], l4[4], sum[SKETCH_SUM_LEN];
  uint64_t symlen = 0, total;
  size_t len, used;
  fixbuf fb = { .n = 0, .over = 0 };
  msgpack_packer pk;
  int e;

  if (h->k == 0 || h->k > SKETCH_SYMBOLS_MAX || h->n > (uint64_t)IBLT_COUNT_MAX) return STOA_EINVAL;
  for (uint32_t i = 0; i < h->k; i++) { /* first pass: check, and measure */
    if (sym_check(&syms[i], i, h->n)) return STOA_EINVAL;
    if ((e = iblt_sym_encode(&syms[i], buf, sizeof buf, &len))) return e;
    symlen += len;
  }
  msgpack_packer_init(&pk, &fb, fixbuf_write);
  msgpack_pack_array(&pk, 7);
  msgpack_pack_str_with_body(&pk, SKETCH_TAG, strlen(SKETCH_TAG));
  msgpack_pack_uint32(&pk, SKETCH_VERSION);
  msgpack_pack_bin_with_body(&pk, h->fed, sizeof h->fed);
  msgpack_pack_uint64(&pk, h->created);
  msgpack_pack_uint64(&pk, h->n);
  msgpack_pack_uint32(&pk, h->k);
  msgpack_pack_uint64(&pk, symlen);
  if (fb.over) return STOA_EINVAL; /* cannot happen: ~75 bytes */
  l4[0] = (uint8_t)(fb.n >> 24);
  l4[1] = (uint8_t)(fb.n >> 16);
  l4[2] = (uint8_t)(fb.n >> 8);
  l4[3] = (uint8_t)fb.n;

  crypto_generichash_blake2b_init(&st, NULL, 0, SKETCH_SUM_LEN);
  crypto_generichash_blake2b_update(&st, (const uint8_t *)SKETCH_MAGIC, SKETCH_MAGIC_LEN);
  crypto_generichash_blake2b_update(&st, l4, 4);
  crypto_generichash_blake2b_update(&st, fb.b, fb.n);
  if ((e = write(ctx, SKETCH_MAGIC, SKETCH_MAGIC_LEN)) || (e = write(ctx, l4, 4)) ||
      (e = write(ctx, fb.b, fb.n)))
    return e;
  total = SKETCH_MAGIC_LEN + 4 + fb.n;
  used = 0;
  for (uint32_t i = 0; i < h->k; i++) {
    if ((e = iblt_sym_encode(&syms[i], buf + used, sizeof buf - used, &len))) return e;
    used += len;
    if (sizeof buf - used < IBLT_SYM_MAX || i + 1 == h->k) {
      crypto_generichash_blake2b_update(&st, buf, used);
      if ((e = write(ctx, buf, used))) return e;
      total += used;
      used = 0;
    }
  }
  crypto_generichash_blake2b_final(&st, sum, sizeof sum);
  if ((e = write(ctx, sum, sizeof sum))) return e;
  if (bytes) *bytes = total + sizeof sum;
  return 0;
}

/* ---- reading ------------------------------------------------------------------ */

#define FAIL(err, text) do { r->why = (text); return (err); } while (0)

/* The header frame's msgpack; fills r->hdr and *symlen. */
static int hdr_read(sketch_reader *r, const uint8_t *pl, size_t pln, uint64_t *symlen) {
  mp_reader m;
  uint32_t n, slen;
  const char *s;
  const uint8_t *fed;
  uint64_t ver, k;
  int e;
  mp_reader_init(&m, pl, pln);
  if (mp_read_array(&m, &n) || n < 7) FAIL(STOA_EMALFORMED, "the header is not a sketch header");
  if (mp_read_str(&m, &s, &slen) || slen != strlen(SKETCH_TAG) || memcmp(s, SKETCH_TAG, slen))
    FAIL(STOA_EMALFORMED, "the header is not a sketch header");
  if (mp_read_uint(&m, &ver)) FAIL(STOA_EMALFORMED, "the header's version is not a number");
  if (ver != SKETCH_VERSION) FAIL(STOA_EVERSION, "a sketch of another format version");
  if (mp_read_binn(&m, &fed, sizeof r->hdr.fed)) FAIL(STOA_EMALFORMED, "the header has no federation id");
  if (mp_read_uint(&m, &r->hdr.created) || mp_read_uint(&m, &r->hdr.n) || mp_read_uint(&m, &k) ||
      mp_read_uint(&m, symlen))
    FAIL(STOA_EMALFORMED, "the header's sizes are not numbers");
  for (uint32_t i = 7; i < n; i++) /* later versions may add fields */
    if ((e = mp_skip(&m, 1))) FAIL(e, "the header is malformed");
  if (mp_left(&m)) FAIL(STOA_ETRAILING, "the header has trailing bytes");
  if (r->hdr.n > (uint64_t)IBLT_COUNT_MAX) FAIL(STOA_ETOOBIG, "the set size is beyond any real set");
  if (k == 0) FAIL(STOA_EMALFORMED, "the sketch holds no symbols");
  if (k > SKETCH_SYMBOLS_MAX) FAIL(STOA_ETOOBIG, "the number of symbols is beyond the limit");
  /* Every symbol takes 1 to IBLT_SYM_MAX bytes. */
  if (*symlen < k || *symlen > k * IBLT_SYM_MAX)
    FAIL(STOA_EMALFORMED, "the symbols' length does not fit their number");
  memcpy(r->hdr.fed, fed, sizeof r->hdr.fed);
  r->hdr.k = (uint32_t)k;
  return 0;
}

int sketch_reader_init(sketch_reader *r, const uint8_t *buf, size_t len) {
  uint8_t sum[SKETCH_SUM_LEN];
  uint64_t symlen;
  size_t hl, off;
  int e;

  memset(r, 0, sizeof *r);
  if (len < SKETCH_MAGIC_LEN && memcmp(buf, SKETCH_MAGIC, len) == 0)
    FAIL(STOA_ETRUNCATED, "the file ends in its magic");
  if (len < SKETCH_MAGIC_LEN || memcmp(buf, SKETCH_MAGIC, SKETCH_MAGIC_LEN - 1))
    FAIL(STOA_EMALFORMED, "not a Stoa sketch (wrong magic)");
  if (buf[SKETCH_MAGIC_LEN - 1] != (uint8_t)SKETCH_MAGIC[SKETCH_MAGIC_LEN - 1])
    FAIL(STOA_EVERSION, "a sketch of another format version");
  if (len - SKETCH_MAGIC_LEN < 4) FAIL(STOA_ETRUNCATED, "the file ends in its header");
  hl = (size_t)buf[8] << 24 | (size_t)buf[9] << 16 | (size_t)buf[10] << 8 | buf[11];
  if (hl > SKETCH_HDR_MAX) FAIL(STOA_EMALFORMED, "the header is too long");
  off = SKETCH_MAGIC_LEN + 4;
  if (len - off < hl) FAIL(STOA_ETRUNCATED, "the file ends in its header");
  if ((e = hdr_read(r, buf + off, hl, &symlen))) return e;
  off += hl;
  /* symlen <= 2^20 * 50: no overflow. */
  r->want_len = off + symlen + SKETCH_SUM_LEN;
  if (len < r->want_len) FAIL(STOA_ETRUNCATED, "the file ends early");
  if (len > r->want_len) FAIL(STOA_ETRAILING, "bytes follow the checksum");
  crypto_generichash_blake2b(sum, sizeof sum, buf, (size_t)(r->want_len - SKETCH_SUM_LEN), NULL, 0);
  if (sodium_memcmp(sum, buf + r->want_len - SKETCH_SUM_LEN, sizeof sum))
    FAIL(STOA_EHASH, "the contents do not match the checksum (altered)");

  const uint8_t *p = buf + off, *end = p + symlen;
  for (uint32_t i = 0; i < r->hdr.k; i++) {
    iblt_sym s;
    size_t used;
    const char *why;
    if (p == end) FAIL(STOA_EMALFORMED, "fewer symbols than the header says");
    if ((e = iblt_sym_decode(&s, p, (size_t)(end - p), &used)))
      FAIL(STOA_EMALFORMED, "a symbol is malformed");
    if ((why = sym_check(&s, i, r->hdr.n))) FAIL(STOA_EMALFORMED, why);
    p += used;
  }
  if (p != end) FAIL(STOA_EMALFORMED, "more symbols than the header says");
  r->syms = buf + off;
  r->syms_len = (size_t)symlen;
  r->why = NULL;
  return 0;
}

void sketch_reader_symbols(const sketch_reader *r, iblt_sym *out) {
  const uint8_t *p = r->syms, *end = p + r->syms_len;
  for (uint32_t i = 0; i < r->hdr.k; i++) {
    size_t used = 0;
    /* Checked by sketch_reader_init: cannot fail. */
    if (iblt_sym_decode(&out[i], p, (size_t)(end - p), &used)) memset(&out[i], 0, sizeof out[i]);
    p += used;
  }
}

int sketch_reconcile(const sketch_reader *r, const iblt_sym *local, iblt_decoder *d,
                     uint32_t *used) {
  const uint8_t *p = r->syms, *end = p + r->syms_len;
  int e;
  *used = 0;
  if ((e = iblt_decoder_init(d, NULL, r->hdr.k))) return e;
  for (uint32_t i = 0; i < r->hdr.k; i++) {
    iblt_sym s;
    size_t n;
    if (iblt_sym_decode(&s, p, (size_t)(end - p), &n)) return STOA_EMALFORMED; /* checked: never */
    p += n;
    if ((e = iblt_decoder_add(d, &s, &local[i]))) return e;
    *used = i + 1;
    if (iblt_decoder_complete(d)) return 0;
  }
  return STOA_ETOOBIG;
}

/* ---- sizing -------------------------------------------------------------------- */

static uint64_t isqrt_ceil(uint64_t v) {
  uint64_t x = 0;
  for (uint64_t b = UINT64_C(1) << 31; b; b >>= 1)
    if ((x + b) * (x + b) <= v) x += b; /* v < 2^62 here: no overflow */
  return x * x == v ? x : x + 1;
}

/* Symbols for d differences, uncapped (d <= 2^40: no overflow). */
static uint64_t symbols_need(uint64_t d) {
  return (14 * d + 9) / 10 + isqrt_ceil(9 * d) + 32;
}

uint32_t sketch_symbols_for(uint64_t d) {
  if (d >= SKETCH_SYMBOLS_MAX) return SKETCH_SYMBOLS_MAX;
  uint64_t k = symbols_need(d);
  return k > SKETCH_SYMBOLS_MAX ? SKETCH_SYMBOLS_MAX : (uint32_t)k;
}

uint64_t sketch_differences_for(uint32_t k) {
  uint64_t lo = 0, hi = k; /* symbols_need(d) > d for every d */
  if (symbols_need(0) > k) return 0;
  while (lo < hi) { /* the largest d with symbols_need(d) <= k */
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (symbols_need(mid) <= k) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
