/*
 * fuzz_noise_resp.c - a real Noise XX handshake as the responder (the
 * listening node, which anyone on the network can reach), with the
 * initiator's messages and then its transport frames taken from the input
 * (format: fuzz_noise.h).
 *
 *   -> e                chunk 1
 *   <- e, ee, s, es     (ours)
 *   -> s, se            chunk 2
 *   transport frames    chunks 3...
 *
 * A failed read must leave the handshake dead, and completion must come
 * with the remote static key.  Our write of message 2 may fail only when
 * the initiator's e is a low-order point.  (The state after message 1 and
 * our answer is memoised: fuzz_noise.h.)
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
    fuzz_noise_start(&hs, false);
    FUZZ_CHECK(!noise_hs_my_turn(&hs));
    if ((e = noise_hs_read(&hs, in, n, payload, sizeof payload, &plen)) != 0) {
      FUZZ_CHECK(e == STOA_EHANDSHAKE || e == STOA_ETOOBIG);
      goto out;
    }
    FUZZ_CHECK(plen <= sizeof payload && noise_hs_remote_static(&hs) == NULL);
    FUZZ_CHECK(noise_hs_my_turn(&hs));
    /* The initiator's e may be a low-order point: our DH with it then gives
     * zeros and the write kills the handshake (noise.h). */
    if ((e = noise_hs_write(&hs, NULL, 0, msg, sizeof msg, &n2)) != 0) {
      FUZZ_CHECK(e == STOA_EHANDSHAKE && !noise_hs_my_turn(&hs));
      goto out;
    }
    fuzz_memo_put(&memo, in, n, &hs);
  }
  if (!fuzz_chunk_next(&c, &in, &n)) goto out;
  if ((e = noise_hs_read(&hs, in, n, payload, sizeof payload, &plen)) != 0) {
    FUZZ_CHECK(e == STOA_EHANDSHAKE || e == STOA_ETOOBIG);
    if (e == STOA_EHANDSHAKE)
      FUZZ_CHECK(noise_hs_read(&hs, in, n, payload, sizeof payload, &plen) == STOA_ESTATE);
    goto out;
  }
  FUZZ_CHECK(noise_hs_done(&hs) && noise_hs_remote_static(&hs) != NULL);
  FUZZ_CHECK(noise_hs_split(&hs, &tx, &rx) == 0);
  fuzz_note("handshake complete");
  fuzz_noise_transport(&tx, &rx, &c);
  noise_cs_wipe(&tx);
  noise_cs_wipe(&rx);
out:
  noise_hs_wipe(&hs);
  return 0;
}
