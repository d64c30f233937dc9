/*
 * test_bombs.c - allocation bombs and the largest inputs, against every
 * decoder that reads bytes from a peer, a file or a local socket.
 *
 * A msgpack header can claim 4 GiB in five bytes (dd ff ff ff ff); a
 * decoder that sizes a buffer by it before checking the bytes that remain
 * hands a peer the node's memory.  Each bomb below is fed to rec_decode,
 * wire_decode, ctl_req_decode and the bundle reader in the place where
 * that type is expected, and must be refused with the right code while the
 * heap grows by at most BOMB_BUDGET(input).  Deep nesting (tens of
 * thousands of container headers) must stop at MP_MAX_DEPTH, and a whole
 * frame of garbage must be refused by the decoder and by the cipher.
 *
 * Heap growth is the peak of live bytes during the call: under
 * AddressSanitizer (as `make test` builds) every malloc and free is
 * counted through the sanitizer's hooks; elsewhere mallinfo2() gives the
 * growth that remains after the call only.  The meter checks itself first
 * (a 1 MiB allocation must show), so a meter that sees nothing fails.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/bundle.h"
#include "proto/ctl.h"
#include "proto/err.h"
#include "proto/iblt.h"
#include "proto/mp.h"
#include "proto/noise.h"
#include "proto/record.h"
#include "proto/wire.h"

/* ---- the heap meter -------------------------------------------------------- */

/* The sanitizer's allocator interface (compiler-rt; gcc ships no header
 * for it).  Weak: absent in a build without ASan. */
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *))
    __attribute__((weak));
size_t __sanitizer_get_allocated_size(const volatile void *p) __attribute__((weak));

static struct {
  bool on, hooks;
  size_t cur, peak;
  size_t mi_before;
} meter;

static void meter_on_malloc(const volatile void *p, size_t n) {
  (void)p;
  if (!meter.on) return;
  meter.cur += n;
  if (meter.cur > meter.peak) meter.peak = meter.cur;
}

/* Blocks freed that were allocated before the start saturate at 0. */
static void meter_on_free(const volatile void *p) {
  if (!meter.on || !p) return;
  size_t n = __sanitizer_get_allocated_size(p);
  meter.cur = meter.cur > n ? meter.cur - n : 0;
}

/* Bytes in use, mmapped blocks included (large ones are mmapped). */
static size_t meter_mallinfo(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static void meter_start(void) {
  meter.cur = meter.peak = 0;
  if (meter.hooks) meter.on = true;
  else meter.mi_before = meter_mallinfo();
}

/* Peak growth since meter_start (without hooks: the growth left). */
static size_t meter_stop(void) {
  if (meter.hooks) {
    meter.on = false;
    return meter.peak;
  }
  size_t now = meter_mallinfo();
  return now > meter.mi_before ? now - meter.mi_before : 0;
}

/* What an input of n bytes may cost: a small multiple of it. */
#define BOMB_BUDGET(n) (4 * (size_t)(n) + 64 * 1024)

static int setup(void **state) {
  (void)state;
  if (sodium_init() < 0) return -1;
  if (__sanitizer_install_malloc_and_free_hooks && __sanitizer_get_allocated_size)
    meter.hooks = __sanitizer_install_malloc_and_free_hooks(meter_on_malloc, meter_on_free) != 0;
  printf("# heap meter: %s\n", meter.hooks ? "sanitizer hooks (peak)" : "mallinfo2 (net growth)");
  return 0;
}

static void test_meter_sees(void **state) {
  (void)state;
  meter_start();
  volatile uint8_t *p = malloc(1 << 20);
  assert_non_null(p);
  p[0] = 1;
  size_t with = meter.hooks ? 0 : meter_stop();
  free((void *)p);
  if (meter.hooks) with = meter_stop();
  assert_true(with >= (1u << 20));
}

/* ---- decoders under test -------------------------------------------------- */

enum { D_REC, D_WIRE, D_CTL, D_BUNDLE };

/* Runs decoder `which` over buf and returns its result, with the heap
 * growth checked against the budget.  For a bundle, the result is the first
 * non-record result of the reader, or rec_decode's error on a record. */
static int bomb_run(int which, const uint8_t *buf, size_t len) {
  rec r;
  wire_msg m;
  ctl_req q;
  bundle_reader br;
  const uint8_t *b;
  size_t n;
  int e;

  meter_start();
  switch (which) {
  case D_REC: e = rec_decode(buf, len, &r); break;
  case D_WIRE: e = wire_decode(buf, len, &m); break;
  case D_CTL: e = ctl_req_decode(buf, len, &q); break;
  default:
    if ((e = bundle_reader_init(&br, buf, len)) != 0) break;
    while ((e = bundle_reader_next(&br, &b, &n)) == 1)
      if ((e = rec_decode(b, n, &r)) != 0) break;
    break;
  }
  size_t grew = meter_stop();
  if (grew > BOMB_BUDGET(len))
    fail_msg("decoder %d: %zu bytes of input made the heap grow by %zu", which, len, grew);
  return e;
}

/* A byte string built from pieces: cat(&b, "\x93", 1) ... */
typedef struct bytes {
  uint8_t *p;
  size_t n, cap;
} bytes;

static void cat(bytes *b, const void *s, size_t n) {
  if (n == 0) return;
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
#define CAT(b, lit) cat((b), (lit), sizeof(lit) - 1)

static const uint8_t ARR32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MAP32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
static const uint8_t STR32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff };
static const uint8_t BIN32[] = { 0xc6, 0xff, 0xff, 0xff, 0xff };

/* A valid record of kind org with the given body bytes (rec_build does
 * not look inside the body; rec_decode does). */
static size_t make_record(const uint8_t *body, size_t blen, uint8_t *out, size_t cap) {
  uint8_t pk[32], sk[64], fed[32], id[ID_LEN] = { 1 };
  size_t n;
  memset(fed, 0xfe, sizeof fed);
  crypto_sign_keypair(pk, sk);
  assert_int_equal(rec_build(REC_ORG, pk, id, 1700000000000ull, sk, body, blen, fed, out, cap, &n), 0);
  sodium_memzero(sk, sizeof sk);
  return n;
}

/* A bundle: magic, a valid header frame, then the given frame payloads
 * (each with its 4-byte length) and no trailer. */
static void make_bundle(bytes *b, const uint8_t *frame, size_t flen, bool raw_len, uint32_t len) {
  static const uint8_t hdr[] = { 0x96, 0xab, 's', 't', 'o', 'a', ' ', 'b', 'u', 'n', 'd', 'l', 'e',
                                 0x01, 0xc4, 0x20 };
  uint8_t fed[32], tail[] = { 0x00, 0x01, 0x01 };
  uint32_t hl = sizeof hdr + sizeof fed + sizeof tail;
  uint8_t l[4] = { 0, 0, (uint8_t)(hl >> 8), (uint8_t)hl };
  memset(fed, 0xfe, sizeof fed);
  b->n = 0;
  CAT(b, BUNDLE_MAGIC);
  cat(b, l, 4);
  cat(b, hdr, sizeof hdr);
  cat(b, fed, sizeof fed);
  cat(b, tail, sizeof tail);
  uint32_t fl = raw_len ? len : (uint32_t)flen;
  uint8_t f4[4] = { (uint8_t)(fl >> 24), (uint8_t)(fl >> 16), (uint8_t)(fl >> 8), (uint8_t)fl };
  cat(b, f4, 4);
  cat(b, frame, flen);
}

/* ---- length bombs ----------------------------------------------------------- */

static void test_length_bombs_record(void **state) {
  static uint8_t env[REC_MAX];
  bytes b = { 0 };
  (void)state;

  /* The envelope itself, and its header bin. */
  assert_int_equal(bomb_run(D_REC, ARR32, sizeof ARR32), STOA_ETRUNCATED);
  assert_int_equal(bomb_run(D_REC, MAP32, sizeof MAP32), STOA_EMALFORMED); /* not an array */
  CAT(&b, "\x93");
  cat(&b, BIN32, sizeof BIN32);
  assert_int_equal(bomb_run(D_REC, b.p, b.n), STOA_ETRUNCATED);
  /* Inside the header: its array, then the kind string. */
  b.n = 0;
  CAT(&b, "\x93\xc4\x05");
  cat(&b, ARR32, sizeof ARR32);
  assert_int_equal(bomb_run(D_REC, b.p, b.n), STOA_ETRUNCATED);
  b.n = 0;
  CAT(&b, "\x93\xc4\x07\x98\x01");
  cat(&b, STR32, sizeof STR32);
  assert_int_equal(bomb_run(D_REC, b.p, b.n), STOA_ETRUNCATED);
  /* A valid header and signature, then a body bin claiming 4 GiB. */
  size_t n = make_record((const uint8_t *)"\x80", 1, env, sizeof env);
  b.n = 0;
  cat(&b, env, n - 3); /* drop the body: c4 01 80 */
  cat(&b, BIN32, sizeof BIN32);
  assert_int_equal(bomb_run(D_REC, b.p, b.n), STOA_ETRUNCATED);
  /* Bodies whose hash matches but which hold a bomb: map32, array32,
   * str32 and bin32 inside the map. */
  n = make_record(MAP32, sizeof MAP32, env, sizeof env);
  assert_int_equal(bomb_run(D_REC, env, n), STOA_ETRUNCATED);
  const uint8_t *inner[] = { ARR32, MAP32, STR32, BIN32 };
  for (size_t i = 0; i < 4; i++) {
    b.n = 0;
    CAT(&b, "\x81\xa1k");
    cat(&b, inner[i], 5);
    n = make_record(b.p, b.n, env, sizeof env);
    assert_int_equal(bomb_run(D_REC, env, n), STOA_ETRUNCATED);
  }
  free(b.p);
}

static void test_length_bombs_wire(void **state) {
  bytes b = { 0 };
  (void)state;
  static const struct {
    const char *pre;
    size_t plen;
    const uint8_t *bomb;
  } cases[] = {
    { "", 0, ARR32 },                           /* the message array */
    { "\x98\x01\x01", 3, ARR32 },               /* HELLO capabilities */
    { "\x98\x01\x01\x91", 4, STR32 },           /* a capability */
    { "\x98\x01\x01\x90", 4, BIN32 },           /* HELLO node key */
    { "\x95\x02\x07\x00", 4, BIN32 },           /* SYNC symbols */
    { "\x92\x05", 2, BIN32 },                   /* WANT hashes */
    { "\x92\x06", 2, ARR32 },                   /* RECORDS array */
    { "\x92\x06\x91", 3, BIN32 },               /* one record */
    { "\x93\x0a\x01", 3, STR32 },               /* ERROR reason */
    { "\x93\x08\x00", 3, MAP32 },               /* PING, an extra element */
    { "\x93\x08\x00", 3, ARR32 },
    { "\x93\x08\x00", 3, STR32 },
    { "\x93\x08\x00", 3, BIN32 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    b.n = 0;
    cat(&b, cases[i].pre, cases[i].plen);
    cat(&b, cases[i].bomb, 5);
    int e = bomb_run(D_WIRE, b.p, b.n);
    if (e != STOA_ETRUNCATED) fail_msg("wire case %zu: %s", i, stoa_errname(e));
  }
  free(b.p);
}

static void test_length_bombs_ctl_bundle(void **state) {
  static uint8_t env[REC_MAX];
  bytes b = { 0 };
  (void)state;

  assert_int_equal(bomb_run(D_CTL, MAP32, sizeof MAP32), STOA_ETRUNCATED);
  CAT(&b, "\x81");
  cat(&b, STR32, sizeof STR32);
  assert_int_equal(bomb_run(D_CTL, b.p, b.n), STOA_ETRUNCATED);
  b.n = 0;
  CAT(&b, "\x82\xa3" "cmd\xa6status\xa1x");
  cat(&b, ARR32, sizeof ARR32);
  assert_int_equal(bomb_run(D_CTL, b.p, b.n), STOA_ETRUNCATED);

  /* Bundles: a frame length of 4 GiB, for the header and for a record. */
  b.n = 0;
  CAT(&b, BUNDLE_MAGIC "\xff\xff\xff\xff");
  assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETOOBIG);
  make_bundle(&b, NULL, 0, true, 0xffffffffu);
  assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETOOBIG);
  /* The header's array, and a record frame holding bombs. */
  b.n = 0;
  CAT(&b, BUNDLE_MAGIC "\x00\x00\x00\x05");
  cat(&b, ARR32, sizeof ARR32);
  assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETRUNCATED);
  make_bundle(&b, ARR32, sizeof ARR32, false, 0);
  assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETRUNCATED);
  size_t n = make_record(MAP32, sizeof MAP32, env, sizeof env);
  make_bundle(&b, env, n, false, 0);
  assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETRUNCATED);
  free(b.p);
}

/* ---- nesting bombs --------------------------------------------------------- */

#define DEEP 60000 /* container headers: a whole record's worth */

/* `depth` nested one-element containers (arrays, or maps with key "k"),
 * ending in nil. */
static void nest(bytes *b, size_t depth, bool maps) {
  for (size_t i = 0; i < depth; i++) {
    if (maps) CAT(b, "\x81\xa1k");
    else CAT(b, "\x91");
  }
  CAT(b, "\xc0");
}

static void test_nesting_bombs(void **state) {
  static uint8_t env[REC_MAX];
  bytes b = { 0 };
  (void)state;

  for (int maps = 0; maps <= 1; maps++) {
    size_t depth = maps ? DEEP / 3 : DEEP;
    b.n = 0;
    nest(&b, depth, maps);
    meter_start();
    assert_int_equal(mp_check(b.p, b.n), STOA_ETOODEEP);
    assert_true(meter_stop() <= BOMB_BUDGET(b.n));

    /* A record body: the body map, then the nesting under key "k". */
    b.n = 0;
    CAT(&b, "\x81\xa1k");
    nest(&b, depth, maps);
    size_t n = make_record(b.p, b.n, env, sizeof env);
    assert_int_equal(bomb_run(D_REC, env, n), STOA_ETOODEEP);

    /* Wire: as an extra element of PING, and of HELLO. */
    b.n = 0;
    CAT(&b, "\x93\x08\x00");
    nest(&b, depth, maps);
    assert_int_equal(bomb_run(D_WIRE, b.p, b.n), STOA_ETOODEEP);

    /* Control: as the value of an unknown key. */
    b.n = 0;
    CAT(&b, "\x82\xa3" "cmd\xa6status\xa1x");
    nest(&b, depth, maps);
    assert_int_equal(bomb_run(D_CTL, b.p, b.n), STOA_ETOODEEP);

    /* Bundle: the record above as a frame. */
    make_bundle(&b, env, n, false, 0);
    assert_int_equal(bomb_run(D_BUNDLE, b.p, b.n), STOA_ETOODEEP);
  }
  /* The deepest that is allowed still passes: the limit is not off by one. */
  b.n = 0;
  nest(&b, MP_MAX_DEPTH, false);
  assert_int_equal(mp_check(b.p, b.n), 0);
  b.n = 0;
  nest(&b, MP_MAX_DEPTH + 1, false);
  assert_int_equal(mp_check(b.p, b.n), STOA_ETOODEEP);
  free(b.p);
}

/* ---- a maximal frame of garbage ------------------------------------------ */

static void test_max_frame_garbage(void **state) {
  static uint8_t junk[WIRE_FRAME_MAX + 1], out[WIRE_FRAME_MAX];
  static const uint8_t seed[randombytes_SEEDBYTES] = { 's', 't', 'o', 'a' };
  noise_hs i, r;
  noise_cs itx, irx, rtx, rrx;
  uint8_t m[128], p[64];
  size_t n, pl;
  (void)state;

  randombytes_buf_deterministic(junk, sizeof junk, seed);
  /* The design's frame limit: 65,535 bytes, each a Noise message. */
  assert_int_equal(bomb_run(D_WIRE, junk, WIRE_FRAME_MAX), STOA_ETOOBIG);
  assert_true(bomb_run(D_WIRE, junk, WIRE_MSG_MAX) < 0);
  assert_int_equal(bomb_run(D_REC, junk, WIRE_FRAME_MAX), STOA_ETOOBIG);
  assert_true(bomb_run(D_REC, junk, REC_MAX) < 0);
  assert_true(bomb_run(D_CTL, junk, WIRE_FRAME_MAX) < 0);
  memcpy(junk, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN);
  assert_true(bomb_run(D_BUNDLE, junk, WIRE_FRAME_MAX) < 0);

  /* The cipher: a real NN session, then a whole frame of garbage. */
  assert_int_equal(noise_hs_init(&i, NOISE_NN, true, NULL, 0, NULL, NULL), 0);
  assert_int_equal(noise_hs_init(&r, NOISE_NN, false, NULL, 0, NULL, NULL), 0);
  assert_int_equal(noise_hs_write(&i, NULL, 0, m, sizeof m, &n), 0);
  assert_int_equal(noise_hs_read(&r, m, n, p, sizeof p, &pl), 0);
  assert_int_equal(noise_hs_write(&r, NULL, 0, m, sizeof m, &n), 0);
  assert_int_equal(noise_hs_read(&i, m, n, p, sizeof p, &pl), 0);
  assert_int_equal(noise_hs_split(&i, &itx, &irx), 0);
  assert_int_equal(noise_hs_split(&r, &rtx, &rrx), 0);
  meter_start();
  assert_int_equal(noise_cs_decrypt(&rrx, NULL, 0, junk, WIRE_FRAME_MAX, out, sizeof out, &n),
                   STOA_EDECRYPT);
  assert_int_equal(noise_cs_decrypt(&rrx, NULL, 0, junk, WIRE_FRAME_MAX + 1, out, sizeof out, &n),
                   STOA_ETOOBIG);
  assert_true(meter_stop() <= BOMB_BUDGET(WIRE_FRAME_MAX));
  /* The session survives the failure (the nonce did not move). */
  assert_int_equal(noise_cs_encrypt(&itx, NULL, 0, junk, 100, out, sizeof out, &n), 0);
  assert_int_equal(noise_cs_decrypt(&rrx, NULL, 0, out, n, out, sizeof out, &pl), 0);
  assert_int_equal(pl, 100);
  noise_hs_wipe(&i);
  noise_hs_wipe(&r);
  noise_cs_wipe(&itx);
  noise_cs_wipe(&irx);
  noise_cs_wipe(&rtx);
  noise_cs_wipe(&rrx);
}

/*
 * The reconciliation decoder is the one that allocates on peer input, by
 * design: ~144 bytes per symbol received (iblt.h), up to its limit.  The
 * cheapest symbol on the wire is the 1-byte zero symbol, so one frame of
 * them is the worst ratio a peer can get, about 180 bytes of heap per byte
 * of input: far beyond BOMB_BUDGET.  What is checked here is the
 * documented per-symbol cost; the ratio is printed, and the node's limit,
 * sync_max_symbols, is what caps the total (docs/security.md).
 */
static void test_iblt_frame_of_zero_symbols(void **state) {
  static uint8_t frame[WIRE_MSG_MAX];
  iblt_sketch sk;
  iblt_decoder d;
  iblt_sym s;
  size_t at = 0, used;
  uint32_t got = 0;
  uint8_t item[IBLT_ITEM_LEN];
  (void)state;

  memset(frame, 0x01, sizeof frame);
  assert_int_equal(iblt_sketch_init(&sk, 1u << 16), 0);
  for (int i = 0; i < 100; i++) {
    memset(item, i + 1, sizeof item);
    iblt_sketch_add(&sk, item);
  }
  assert_int_equal(iblt_decoder_init(&d, &sk, 1u << 16), 0);
  meter_start();
  while (at < sizeof frame && iblt_sym_decode(&s, frame + at, sizeof frame - at, &used) == 0) {
    at += used;
    if (iblt_decoder_add(&d, &s, NULL) != 0) break;
    got++;
  }
  size_t grew = meter_stop();
  assert_int_equal(got, sizeof frame);
  printf("# iblt: %u zero symbols (%zu bytes) -> heap %zu bytes (%.0f per input byte)\n", got,
         sizeof frame, grew, (double)grew / (double)sizeof frame);
  /* ~144 bytes a symbol (iblt.h), arrays grown by doubling: at most
   * twice that while the last growth copies. */
  if (meter.hooks) assert_true(grew <= 2 * 144 * (size_t)got + 64 * 1024);
  iblt_decoder_free(&d);
  iblt_sketch_free(&sk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_meter_sees),
    cmocka_unit_test(test_length_bombs_record),
    cmocka_unit_test(test_length_bombs_wire),
    cmocka_unit_test(test_length_bombs_ctl_bundle),
    cmocka_unit_test(test_nesting_bombs),
    cmocka_unit_test(test_max_frame_garbage),
    cmocka_unit_test(test_iblt_frame_of_zero_symbols),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
