/*
 * fuzz_iblt.c - the receiving side of reconciliation (proto/iblt.h): the
 * wire form of symbols and the peeling decoder, against a small local set.
 *
 * The local set is fixed: FUZZ_LOCAL items (BLAKE2b of their number), in a
 * sketch of FUZZ_CAP symbols.  The first byte chooses the mode:
 *   even: the rest is a stream of symbols as a SYNC message carries them.
 *         Each is decoded with iblt_sym_decode and fed to iblt_decoder_add
 *         until the decoder is complete, refuses, or the stream ends.  A
 *         lying remote may make the decoder give up (STOA_EPROTOCOL), never
 *         make it read or write out of bounds, and never decode more items
 *         than it received symbols.
 *   odd:  the rest describes an honest remote set: byte 1 says which local
 *         items it holds (a bit each), then every 8 bytes make one item of
 *         its own (BLAKE2b of them, so the fuzzer cannot craft colliding
 *         index sequences, which real record hashes never have).  Its
 *         symbols go through the wire form to the decoder, which must
 *         complete and return exactly the symmetric difference, each item
 *         on its side.
 */
#include <string.h>

#include "proto/err.h"
#include "proto/iblt.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_LOCAL 8
#define FUZZ_CAP 1024
#define FUZZ_REMOTE_MAX 24 /* own items of the remote: decodes in far fewer than FUZZ_CAP */

static iblt_sketch fuzz_local;
static uint8_t fuzz_items[FUZZ_LOCAL][IBLT_ITEM_LEN];
static iblt_sym fuzz_rsym[FUZZ_CAP];

static void fuzz_setup(void) {
  static int done;
  if (done) return;
  fuzz_sodium();
  FUZZ_CHECK(iblt_sketch_init(&fuzz_local, FUZZ_CAP) == 0);
  for (uint8_t i = 0; i < FUZZ_LOCAL; i++) {
    crypto_generichash(fuzz_items[i], IBLT_ITEM_LEN, &i, 1, NULL, 0);
    iblt_sketch_add(&fuzz_local, fuzz_items[i]);
  }
  done = 1;
}

static void fuzz_stream(const uint8_t *p, size_t n) {
  iblt_decoder d;
  iblt_sym s;
  size_t used;
  int e = 0;

  FUZZ_CHECK(iblt_decoder_init(&d, &fuzz_local, FUZZ_CAP) == 0);
  while (n > 0 && !iblt_decoder_complete(&d)) {
    if (iblt_sym_decode(&s, p, n, &used) != 0) break;
    FUZZ_CHECK(used >= 1 && used <= n && used <= IBLT_SYM_MAX);
    p += used;
    n -= used;
    if ((e = iblt_decoder_add(&d, &s, NULL)) != 0) break;
    FUZZ_CHECK(iblt_decoder_count(&d) <= d.m);
  }
  FUZZ_CHECK(e == 0 || e == STOA_EPROTOCOL || e == STOA_ETOOBIG || e == STOA_EINVAL);
  if (e != STOA_EPROTOCOL) {
    uint32_t k = iblt_decoder_count(&d);
    FUZZ_CHECK(k <= d.m);
    for (uint32_t i = 0; i < k; i++) {
      int side = 0;
      FUZZ_CHECK(iblt_decoder_item(&d, i, &side) != NULL);
      FUZZ_CHECK(side == IBLT_LOCAL || side == IBLT_REMOTE);
    }
    FUZZ_CHECK(iblt_decoder_item(&d, k, NULL) == NULL);
  }
  iblt_decoder_free(&d);
}

static void fuzz_honest(const uint8_t *p, size_t n) {
  static uint8_t items[FUZZ_LOCAL + FUZZ_REMOTE_MAX][IBLT_ITEM_LEN];
  uint8_t found[FUZZ_LOCAL + FUZZ_REMOTE_MAX] = { 0 };
  uint8_t wire[IBLT_SYM_MAX];
  size_t k = 0, own, wlen, used;
  unsigned mask;
  iblt_decoder d;
  iblt_sym s;

  if (n < 1) return;
  mask = p[0];
  p++, n--;
  for (unsigned i = 0; i < FUZZ_LOCAL; i++)
    if (mask & (1u << i)) memcpy(items[k++], fuzz_items[i], IBLT_ITEM_LEN);
  own = n / 8 < FUZZ_REMOTE_MAX ? n / 8 : FUZZ_REMOTE_MAX;
  for (size_t i = 0; i < own; i++) {
    uint8_t tag = 0xa5; /* keeps them apart from the local items */
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, IBLT_ITEM_LEN);
    crypto_generichash_update(&h, &tag, 1);
    crypto_generichash_update(&h, p + 8 * i, 8);
    crypto_generichash_final(&h, items[k], IBLT_ITEM_LEN);
    /* Equal 8-byte groups make equal items: a set holds each once. */
    bool dup = false;
    for (size_t j = 0; j < k && !dup; j++) dup = !memcmp(items[j], items[k], IBLT_ITEM_LEN);
    if (!dup) k++;
  }
  FUZZ_CHECK(iblt_decoder_init(&d, &fuzz_local, FUZZ_CAP) == 0);
  for (uint32_t i = 0; i < FUZZ_CAP && !iblt_decoder_complete(&d); i++) {
    /* The remote's symbols a block at a time, as a sender streams them:
     * a small difference needs only the first block or two. */
    if (i % 64 == 0) iblt_symbols_compute(fuzz_rsym + i, i, 64, &items[0][0], k);
    FUZZ_CHECK(iblt_sym_encode(&fuzz_rsym[i], wire, sizeof wire, &wlen) == 0);
    FUZZ_CHECK(iblt_sym_decode(&s, wire, wlen, &used) == 0 && used == wlen);
    FUZZ_CHECK(!memcmp(&s, &fuzz_rsym[i], sizeof s));
    FUZZ_CHECK(iblt_decoder_add(&d, &s, NULL) == 0);
  }
  FUZZ_CHECK(iblt_decoder_complete(&d));
  fuzz_note("honest set decoded");

  /* Expected: the local items the remote lacks, and its own items
   * (items[nl, k)). */
  size_t nl = 0, want;
  for (unsigned i = 0; i < FUZZ_LOCAL; i++) nl += (mask >> i) & 1u;
  want = (FUZZ_LOCAL - nl) + (k - nl);
  FUZZ_CHECK(iblt_decoder_count(&d) == want);
  for (uint32_t i = 0; i < iblt_decoder_count(&d); i++) {
    int side;
    const uint8_t *it = iblt_decoder_item(&d, i, &side);
    bool ok = false;
    FUZZ_CHECK(it != NULL);
    if (side == IBLT_LOCAL) {
      for (unsigned j = 0; j < FUZZ_LOCAL && !ok; j++)
        if (!(mask & (1u << j)) && !memcmp(it, fuzz_items[j], IBLT_ITEM_LEN) && !found[j]++) ok = true;
    } else {
      FUZZ_CHECK(side == IBLT_REMOTE);
      for (size_t j = nl; j < k && !ok; j++)
        if (!memcmp(it, items[j], IBLT_ITEM_LEN) && !found[FUZZ_LOCAL + j - nl]++) ok = true;
    }
    FUZZ_CHECK(ok);
  }
  iblt_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  fuzz_setup();
  if (data[0] & 1) fuzz_honest(data + 1, size - 1);
  else fuzz_stream(data + 1, size - 1);
  return 0;
}
