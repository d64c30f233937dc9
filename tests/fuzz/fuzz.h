/*
 * fuzz.h - what the fuzz targets and the seed generator share: fixed test
 * keys, the federation id, and a check that survives NDEBUG.
 *
 * Every target is one file tests/fuzz/fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput.  It is linked either with libFuzzer (meson
 * -Dfuzz=true, clang) or with replay.c, which runs the committed corpus and
 * past crash inputs on every `make test`.  The keys are fixed so that a run
 * is a pure function of its input: a crash found once replays for ever, and
 * the seed corpus (gen_corpus.c) can hold whole valid Noise transcripts.
 * These keys are public: never use them outside tests.
 */
#ifndef STOA_FUZZ_H
#define STOA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property every input must keep.  Not assert(): it must not compile out
 * in a release build, and abort() is what libFuzzer records as a crash. */
#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                        \
      abort();                                                               \
    }                                                                        \
  } while (0)

/* With STOA_FUZZ_TRACE set, prints that an input reached a milestone (a
 * completed handshake, a body the schema took): to check by hand that the
 * seeds go deep, since a fuzzer that never gets past a MAC is wasted. */
static inline void fuzz_note(const char *what) {
  static int on = -1;
  if (on < 0) on = getenv("STOA_FUZZ_TRACE") != NULL;
  if (on) fprintf(stderr, "reached: %s\n", what);
}

/* Ed25519 seeds of the two test parties and the federation id. */
#define FUZZ_SEED_A 0x11
#define FUZZ_SEED_B 0x22
#define FUZZ_FED 0xfe

/* The Ed25519 key pair made from 32 bytes of `fill`. */
static inline void fuzz_key(uint8_t fill, uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  for (size_t i = 0; i < sizeof seed; i++) seed[i] = fill;
  crypto_sign_seed_keypair(pk, sk, seed);
}

static inline void fuzz_fed(uint8_t fed[32]) {
  for (size_t i = 0; i < 32; i++) fed[i] = FUZZ_FED;
}

/* libsodium once; aborts when it cannot start (nothing else would work). */
static inline void fuzz_sodium(void) {
  static int done;
  if (!done) {
    if (sodium_init() < 0) abort();
    done = 1;
  }
}

/* Fixed ephemeral keys of the Noise targets: initiator and responder. */
#define FUZZ_EPH_I 0x31
#define FUZZ_EPH_R 0x42

/* The payload buffer of a handshake message, as in node/net.c. */
#define FUZZ_HS_PAYLOAD 256

#endif
