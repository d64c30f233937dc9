/*
 * bench_recon.c - rateless IBLT reconciliation: symbols, bytes and CPU
 * against the size of the difference.
 *
 * Two sets of N items each (default 1,000,000; the local one N - 1 when d
 * is odd) differ in d items, split evenly between the sides.  The sender streams the wire form of its
 * symbols from index 0 in frames; the receiver decodes until complete.
 * Each node caches the first CAP symbols of its set; a difference too
 * large for them goes on with symbols computed from the full sets (the
 * graceful path).  Printed, per d: symbols needed, bytes of their wire
 * form, bytes / optimum (32 bytes per differing item), symbols per
 * difference, frames and round trips, and CPU time of sketch building,
 * of the full-set symbols past the cache, and of the decode.  A second
 * table holds d fixed and varies N: the decode tracks d, not N.
 *
 * Usage: bench_recon [N]      A figure, never a pass/fail test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/iblt.h"

#define CAP (1u << 16)    /* cached prefix per node: 3 MiB, ~48,000 differences */
#define BATCH (1u << 16)  /* full-set symbols computed per pass past the cache */
#define MAX_SYMBOLS (1u << 24)
/* A frame is at most 65535 bytes: a Noise transport message (16-byte tag)
 * holding one msgpack message; 32 bytes are left for its header and
 * fields, the rest carries whole symbols. */
#define FRAME_PAYLOAD (65535 - 16 - 32)

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint64_t rng_state;
static uint64_t rng(void) {
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "bench_recon: out of memory\n");
    exit(1);
  }
  return p;
}

static void fill(uint8_t *items, size_t n) {
  for (size_t i = 0; i < n * IBLT_ITEM_LEN; i += 8) {
    uint64_t r = rng();
    memcpy(items + i, &r, 8);
  }
}

/* One node's side: its items and its cached sketch, plus the symbols past
 * the cache computed so far (the graceful path). */
typedef struct side {
  uint8_t *items;
  size_t n;
  iblt_sketch sk;
  iblt_sym *past;
  uint32_t past_start, past_count;
  double past_ms;
} side;

/* Symbol i of a side: from the cache, or from the full set in batches. */
static const iblt_sym *side_sym(side *s, uint32_t i) {
  if (i < s->sk.cap) return &s->sk.sym[i];
  if (s->past == NULL || i < s->past_start || i >= s->past_start + s->past_count) {
    if (s->past == NULL) s->past = xmalloc(BATCH * sizeof *s->past);
    uint32_t start = (i - s->sk.cap) / BATCH * BATCH + s->sk.cap;
    double t0 = cpu_ms();
    iblt_symbols_compute(s->past, start, BATCH, s->items, s->n);
    s->past_ms += cpu_ms() - t0;
    s->past_start = start;
    s->past_count = BATCH;
  }
  return &s->past[i - s->past_start];
}

static int cmp_item(const void *a, const void *b) { return memcmp(a, b, IBLT_ITEM_LEN); }

typedef struct result {
  uint32_t symbols;
  uint64_t bytes;
  uint32_t frames;
  uint32_t decoded;
  double past_ms, encode_ms, decode_ms;
  int ok;
} result;

/* The part both sides share: `n` items and the sketch of all but the last
 * `spare` of them, built once per N. */
typedef struct base {
  uint8_t *items;
  size_t n, spare;
  iblt_sketch sk;
  double build_ms; /* CPU for a sketch of all n items from scratch */
} base;

static void base_init(base *b, size_t n, size_t spare) {
  b->n = n;
  b->spare = spare;
  b->items = xmalloc(n * IBLT_ITEM_LEN);
  rng_state = 42;
  fill(b->items, n);
  iblt_sketch full;
  if (iblt_sketch_init(&full, CAP) != 0 || iblt_sketch_init(&b->sk, CAP) != 0) exit(1);
  double t0 = cpu_ms();
  for (size_t i = 0; i < n; i++) iblt_sketch_add(&full, b->items + i * IBLT_ITEM_LEN);
  b->build_ms = cpu_ms() - t0;
  iblt_sketch_free(&full);
  for (size_t i = 0; i < n - spare; i++) iblt_sketch_add(&b->sk, b->items + i * IBLT_ITEM_LEN);
}

static void base_free(base *b) {
  iblt_sketch_free(&b->sk);
  free(b->items);
}

/* Sets up one side: the first `common` items of the base, then `own`
 * fresh ones; its sketch starts from the base's. */
static void side_init(side *s, const base *b, size_t common, size_t own) {
  memset(s, 0, sizeof *s);
  s->n = common + own;
  s->items = xmalloc(s->n * IBLT_ITEM_LEN);
  memcpy(s->items, b->items, common * IBLT_ITEM_LEN);
  fill(s->items + common * IBLT_ITEM_LEN, own);
  if (iblt_sketch_copy(&s->sk, &b->sk) != 0) exit(1);
  for (size_t i = b->n - b->spare; i < s->n; i++)
    iblt_sketch_add(&s->sk, s->items + i * IBLT_ITEM_LEN);
}

/* Runs one reconciliation: the remote holds N items, the local N - 1 when
 * d is odd; d differ, split evenly; `seed` picks the differing items. */
static result run(const base *b, size_t d, uint64_t seed) {
  result res;
  memset(&res, 0, sizeof res);
  size_t dr = (d + 1) / 2, dl = d / 2, common = b->n - dr; /* remote-only, local-only */
  if (dr > b->spare) exit(1);
  side loc, rem;
  rng_state = seed;
  side_init(&loc, b, common, dl);
  side_init(&rem, b, common, dr);
  double t0;

  iblt_decoder dec;
  if (iblt_decoder_init(&dec, &loc.sk, MAX_SYMBOLS) != 0) exit(1);
  uint8_t *frame = xmalloc(FRAME_PAYLOAD);
  uint32_t next = 0;
  while (!iblt_decoder_complete(&dec) && next < MAX_SYMBOLS) {
    /* Sender: fill one frame with whole symbols. */
    size_t used = 0, len;
    uint32_t first = next;
    t0 = cpu_ms();
    for (;;) {
      uint8_t tmp[IBLT_SYM_MAX];
      const iblt_sym *s = side_sym(&rem, next);
      if (iblt_sym_encode(s, tmp, sizeof tmp, &len) != 0) exit(1);
      if (used + len > FRAME_PAYLOAD) break;
      memcpy(frame + used, tmp, len);
      used += len;
      next++;
    }
    res.encode_ms += cpu_ms() - t0;
    res.frames++;
    /* Receiver: decode symbols until complete; the rest of the frame is
     * not needed and not counted in `bytes`. */
    size_t pos = 0;
    double past0 = loc.past_ms;
    t0 = cpu_ms();
    for (uint32_t i = first; i < next && !iblt_decoder_complete(&dec); i++) {
      const iblt_sym *ls = i < CAP ? NULL : side_sym(&loc, i);
      iblt_sym s;
      if (iblt_sym_decode(&s, frame + pos, used - pos, &len) != 0) exit(1);
      pos += len;
      if (iblt_decoder_add(&dec, &s, ls) != 0) exit(1);
      res.symbols++;
      res.bytes += len;
    }
    res.decode_ms += cpu_ms() - t0 - (loc.past_ms - past0);
  }
  res.past_ms = loc.past_ms + rem.past_ms;
  res.decoded = iblt_decoder_count(&dec);
  res.ok = iblt_decoder_complete(&dec) && res.decoded == d;
  /* The decoded items must be exactly the difference, on the right side:
   * sort both and compare. */
  if (res.ok) {
    uint8_t *got[2] = {xmalloc(dr * IBLT_ITEM_LEN), xmalloc(dl * IBLT_ITEM_LEN)};
    size_t cnt[2] = {0, 0};
    for (uint32_t i = 0; i < res.decoded && res.ok; i++) {
      int sd;
      const uint8_t *it = iblt_decoder_item(&dec, i, &sd);
      int w = sd == IBLT_REMOTE ? 0 : 1;
      if (cnt[w] == (w ? dl : dr)) res.ok = 0;
      else memcpy(got[w] + cnt[w]++ * IBLT_ITEM_LEN, it, IBLT_ITEM_LEN);
    }
    const uint8_t *want[2] = {rem.items + common * IBLT_ITEM_LEN,
                              loc.items + common * IBLT_ITEM_LEN};
    for (int w = 0; w < 2 && res.ok; w++) {
      uint8_t *t = xmalloc(cnt[w] * IBLT_ITEM_LEN);
      memcpy(t, want[w], cnt[w] * IBLT_ITEM_LEN);
      qsort(t, cnt[w], IBLT_ITEM_LEN, cmp_item);
      qsort(got[w], cnt[w], IBLT_ITEM_LEN, cmp_item);
      if (memcmp(t, got[w], cnt[w] * IBLT_ITEM_LEN) != 0) res.ok = 0;
      free(t);
    }
    free(got[0]);
    free(got[1]);
  }
  iblt_decoder_free(&dec);
  iblt_sketch_free(&loc.sk);
  iblt_sketch_free(&rem.sk);
  free(loc.past);
  free(rem.past);
  free(loc.items);
  free(rem.items);
  free(frame);
  return res;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
  static const size_t ds[] = {0, 1, 10, 100, 1000, 10000, 100000};
  static const int trials[] = {3, 30, 30, 30, 10, 3, 1};
  if (n < 200000) {
    fprintf(stderr, "usage: bench_recon [N >= 200000]\n");
    return 2;
  }
  base b;
  base_init(&b, n, 50000);
  printf("rateless IBLT: N = %zu items per side, cache %u symbols (%zu KiB),\n"
         "frame payload %d bytes; sketch of N items built in %.0f ms CPU\n"
         "(%.2f us per insert)\n\n",
         n, CAP, CAP * sizeof(iblt_sym) / 1024, FRAME_PAYLOAD, b.build_ms,
         b.build_ms * 1e3 / (double)n);
  printf("%7s %6s %9s %7s %9s %9s %6s %6s %6s %9s %9s %4s\n", "d", "runs", "symbols", "sym/d",
         "bytes", "bytes/opt", "frames", "RT-sw", "RT-st", "past-ms", "decode-ms", "ok");
  for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
    size_t d = ds[k];
    double sym = 0, bytes = 0, frames = 0, past = 0, decode = 0;
    int ok = 1;
    for (int t = 0; t < trials[k]; t++) {
      result r = run(&b, d, 1000 + (uint64_t)t);
      sym += r.symbols;
      bytes += (double)r.bytes;
      frames += r.frames;
      past += r.past_ms;
      decode += r.decode_ms;
      ok &= r.ok;
    }
    double nt = trials[k];
    sym /= nt, bytes /= nt, frames /= nt, past /= nt, decode /= nt;
    char symd[16] = "-", opt[16] = "-";
    if (d) {
      snprintf(symd, sizeof symd, "%.3f", sym / (double)d);
      snprintf(opt, sizeof opt, "%.3f", bytes / (32.0 * (double)d));
    }
    printf("%7zu %6d %9.1f %7s %9.0f %9s %6.0f %6.0f %6d %9.1f %9.3f %4s\n", d, trials[k], sym,
           symd, bytes, opt, frames, frames, 1, past, decode, ok ? "yes" : "NO");
  }
  printf("\nMeans over `runs` reconciliations (different differing items).\n"
         "sym/d: symbols per differing item; bytes/opt: wire bytes of the\n"
         "symbols needed / (32 * d); RT-sw: round trips if the sender waits for\n"
         "\"more\" after each frame; RT-st: streaming until \"stop\" (1 round trip,\n"
         "plus whatever the link holds when the stop arrives, not counted);\n"
         "past-ms: CPU for symbols past the cache, from the full sets, both\n"
         "sides; decode-ms: receiver CPU for wire decoding, subtracting and\n"
         "peeling.\n\n");
  base_free(&b);

  /* Decode time against N at a fixed d. */
  printf("d = 1000 as N grows: building grows with N, decoding does not\n");
  printf("%9s %9s %9s %9s\n", "N", "build-ms", "decode-ms", "symbols");
  static const size_t ns[] = {200000, 500000, 1000000, 2000000};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    base_init(&b, ns[k], 500);
    result r = run(&b, 1000, 7);
    printf("%9zu %9.0f %9.3f %9u%s\n", ns[k], b.build_ms, r.decode_ms, r.symbols,
           r.ok ? "" : "  WRONG");
    base_free(&b);
  }
  return 0;
}
