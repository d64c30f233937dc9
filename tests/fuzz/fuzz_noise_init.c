/*
 * fuzz_noise_init.c - a real Noise XX handshake as the initiator (the
 * dialing node), with the responder's messages and then its transport
 * frames taken from the input (format: fuzz_noise.h).
 *
 *   -> e                (ours)
 *   <- e, ee, s, es     chunk 1
 *   -> s, se            (ours)
 *   transport frames    chunks 2...
 *
 * Whatever the input, a failure must leave the handshake dead (no further
 * write or read accepted) and the handshake must only complete with a
 * remote static key present.  (The state after message 2 is memoised:
 * fuzz_noise.h.)
 */
#include "proto/err.h"
#include "tests/fuzz/fuzz_noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t msg[NOISE_MAX_MSG];
  static fuzz_memo memo;
  uint8_t payload[FUZZ_HS_PAYLOAD];
  fuzz_chunks c = { data, data + size };
  noise_hs hs;
  noise_cs tx, rx;
  const uint8_t *in;
  size_t n, n2, plen;
  int e;

  fuzz_sodium();
  if (!fuzz_chunk_next(&c, &in, &n)) return 0;
  if (!fuzz_memo_get(&memo, in, n, &hs)) {
    fuzz_noise_start(&hs, true);
    FUZZ_CHECK(noise_hs_my_turn(&hs));
    FUZZ_CHECK(noise_hs_write(&hs, NULL, 0, msg, sizeof msg, &n2) == 0 && n2 == 32);
    FUZZ_CHECK(!noise_hs_my_turn(&hs));
    if ((e = noise_hs_read(&hs, in, n, payload, sizeof payload, &plen)) != 0) {
      FUZZ_CHECK(e == STOA_EHANDSHAKE || e == STOA_ETOOBIG);
      if (e == STOA_EHANDSHAKE)
        FUZZ_CHECK(noise_hs_write(&hs, NULL, 0, msg, sizeof msg, &n2) == STOA_ESTATE);
      goto out;
    }
    FUZZ_CHECK(plen <= sizeof payload && noise_hs_remote_static(&hs) != NULL);
    FUZZ_CHECK(noise_hs_my_turn(&hs));
    FUZZ_CHECK(noise_hs_write(&hs, NULL, 0, msg, sizeof msg, &n2) == 0);
    fuzz_memo_put(&memo, in, n, &hs);
  }
  FUZZ_CHECK(noise_hs_done(&hs));
  FUZZ_CHECK(noise_hs_split(&hs, &tx, &rx) == 0);
  fuzz_note("handshake complete");
  fuzz_noise_transport(&tx, &rx, &c);
  noise_cs_wipe(&tx);
  noise_cs_wipe(&rx);
out:
  noise_hs_wipe(&hs);
  return 0;
}
