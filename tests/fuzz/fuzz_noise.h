/*
 * fuzz_noise.h - what the two Noise targets and the seed generator share.
 *
 * Input format of fuzz_noise_init and fuzz_noise_resp: a sequence of
 * chunks, each a 2-byte big-endian length and that many bytes (the last one
 * may be cut short: it is taken as it is), exactly as frames arrive on a
 * connection.  The first chunks are the peer's handshake messages, the rest
 * transport frames.
 *
 * Both parties use fixed static and ephemeral keys (fuzz.h), so a whole
 * handshake is deterministic: the seed corpus holds real transcripts that
 * complete, and the fuzzer mutates from there.
 */
#ifndef STOA_FUZZ_NOISE_H
#define STOA_FUZZ_NOISE_H

#include <stdbool.h>
#include <string.h>

#include "proto/noise.h"
#include "proto/wire.h"
#include "tests/fuzz/fuzz.h"

typedef struct fuzz_chunks {
  const uint8_t *p, *end;
} fuzz_chunks;

/* The next chunk; false when the input is used up. */
static inline bool fuzz_chunk_next(fuzz_chunks *c, const uint8_t **b, size_t *n) {
  size_t left = (size_t)(c->end - c->p), len;
  if (left < 2) return false;
  len = (size_t)c->p[0] << 8 | c->p[1];
  if (len > left - 2) len = left - 2;
  *b = c->p + 2;
  *n = len;
  c->p += 2 + len;
  return true;
}

/* Starts the XX handshake of one party, as node/net.c does: the prologue
 * "stoa/1\0" || federation id, the X25519 form of the party's fixed node
 * key, and its fixed ephemeral.  The started state is made once per role
 * and copied (the struct holds no pointers): deriving the keys costs more
 * than the rest of a failed handshake, and would halve the fuzzer's rate. */
static inline void fuzz_noise_start(noise_hs *hs, bool initiator) {
  static noise_hs tmpl[2];
  static bool have[2];
  uint8_t pk[32], sk[64], x[NOISE_DHLEN], e[NOISE_DHLEN];
  uint8_t prologue[sizeof WIRE_PROLOGUE + 32];
  int i = initiator ? 1 : 0;

  if (!have[i]) {
    fuzz_key(initiator ? FUZZ_SEED_A : FUZZ_SEED_B, pk, sk);
    memcpy(prologue, WIRE_PROLOGUE, sizeof WIRE_PROLOGUE);
    fuzz_fed(prologue + sizeof WIRE_PROLOGUE);
    FUZZ_CHECK(noise_key_from_ed25519(sk, x) == 0);
    FUZZ_CHECK(noise_hs_init(&tmpl[i], NOISE_XX, initiator, prologue, sizeof prologue, x, NULL) == 0);
    memset(e, initiator ? FUZZ_EPH_I : FUZZ_EPH_R, sizeof e);
    FUZZ_CHECK(noise_hs_set_ephemeral(&tmpl[i], e) == 0);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(x, sizeof x);
    have[i] = true;
  }
  memcpy(hs, &tmpl[i], sizeof *hs);
}

/*
 * A one-entry memo of the handshake state after the peer's message `msg`
 * was read and our answer written: the state is a pure function of msg
 * (every key is fixed), and the fuzzer mostly mutates what comes after a
 * message that works, so this skips two or three X25519 operations per
 * input and doubles the rate.  Only successful steps are remembered.
 */
typedef struct fuzz_memo {
  uint8_t msg[NOISE_MAX_MSG];
  size_t len;
  bool ok;
  noise_hs hs;
} fuzz_memo;

static inline bool fuzz_memo_get(const fuzz_memo *m, const uint8_t *msg, size_t len, noise_hs *hs) {
  if (!m->ok || m->len != len || memcmp(m->msg, msg, len) != 0) return false;
  memcpy(hs, &m->hs, sizeof *hs);
  return true;
}

static inline void fuzz_memo_put(fuzz_memo *m, const uint8_t *msg, size_t len, const noise_hs *hs) {
  memcpy(m->msg, msg, len);
  m->len = len;
  memcpy(&m->hs, hs, sizeof *hs);
  m->ok = true;
}

/* Transport frames after the handshake: each chunk is decrypted; the first
 * that fails ends the connection, as in node/net.c.  A plaintext goes to
 * wire_decode like a real message.  Our own tx is exercised too. */
static inline void fuzz_noise_transport(noise_cs *tx, noise_cs *rx, fuzz_chunks *c) {
  static uint8_t pt[NOISE_MAX_MSG], ct[NOISE_MAX_MSG];
  const uint8_t *f;
  size_t n, plen, clen;
  uint64_t before;
  wire_msg m;

  while (fuzz_chunk_next(c, &f, &n)) {
    before = rx->n;
    if (noise_cs_decrypt(rx, NULL, 0, f, n, pt, sizeof pt, &plen) != 0) {
      FUZZ_CHECK(rx->n == before); /* a failed frame does not use a nonce */
      break;
    }
    FUZZ_CHECK(n >= NOISE_TAGLEN && plen == n - NOISE_TAGLEN && rx->n == before + 1);
    fuzz_note("transport frame decrypted");
    (void)wire_decode(pt, plen, &m);
    FUZZ_CHECK(noise_cs_encrypt(tx, NULL, 0, pt, plen, ct, sizeof ct, &clen) == 0);
    FUZZ_CHECK(clen == plen + NOISE_TAGLEN);
  }
}

#endif
