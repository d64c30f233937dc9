/*
 * fuzz_zip.c - the receiving zstd stream of a connection (proto/zip.h):
 * ZIP messages from a peer, decompressed one after the other in one
 * stream, as node/net.c does.
 *
 * The first byte chooses the mode:
 *   even: the rest is a sequence of messages, each a 2-byte big-endian
 *         raw_len, a 2-byte length n and n bytes of compressed data (the
 *         last may be cut short).  Each goes through zip_rx_msg into a
 *         buffer of raw_len + 1 bytes; the output must never exceed
 *         raw_len (a decompression bomb costs nothing), and the first
 *         error ends the stream, as it ends the connection.
 *   odd:  the rest is a sequence of plaintext messages (a 2-byte length
 *         each) that a zip_tx at level (byte >> 1) % 19 + 1 compresses
 *         and a zip_rx must give back byte for byte.  Levels 1 to 3 only
 *         (stoad uses 3): a level-19 context costs 100 ms to set up.
 * The contexts are made once and reset for each input (zip_*_reset), as
 * setting up a zstd context costs far more than most inputs.
 */
#include <string.h>

#include "proto/err.h"
#include "proto/wire.h"
#include "proto/zip.h"
#include "tests/fuzz/fuzz.h"

static uint8_t fuzz_out[WIRE_MSG_MAX + 1];
static uint8_t fuzz_z[WIRE_FRAME_MAX];

static zip_rx *fuzz_rx;
static zip_tx *fuzz_tx[3];

static size_t fuzz_be16(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }

static void fuzz_stream(const uint8_t *p, size_t n) {
  zip_rx *rx = fuzz_rx;
  zip_rx_reset(rx);
  while (n >= 4) {
    size_t raw = fuzz_be16(p), len = fuzz_be16(p + 2);
    p += 4, n -= 4;
    if (len > n) len = n;
    if (raw == 0 || raw > WIRE_MSG_MAX) break; /* wire_decode refuses these */
    /* The canary past raw_len + 1 must stay: nothing is written beyond. */
    fuzz_out[raw + 1 < sizeof fuzz_out ? raw + 1 : raw] = 0xa5;
    int e = zip_rx_msg(rx, p, len, fuzz_out, raw + 1, raw);
    if (raw + 1 < sizeof fuzz_out) FUZZ_CHECK(fuzz_out[raw + 1] == 0xa5);
    p += len, n -= len;
    if (e) {
      FUZZ_CHECK(e == STOA_EMALFORMED || e == STOA_ETOOBIG || e == STOA_ETRUNCATED);
      break;
    }
    fuzz_note("message decompressed");
  }
}

static void fuzz_roundtrip(int level, const uint8_t *p, size_t n) {
  zip_tx *tx = fuzz_tx[level - 1];
  zip_rx *rx = fuzz_rx;
  size_t zlen;
  zip_tx_reset(tx);
  zip_rx_reset(rx);
  while (n >= 2) {
    size_t len = fuzz_be16(p);
    p += 2, n -= 2;
    if (len > n) len = n;
    if (len == 0 || len > ZIP_RAW_MAX) break;
    FUZZ_CHECK(zip_tx_msg(tx, p, len, fuzz_z, sizeof fuzz_z, &zlen) == 0);
    FUZZ_CHECK(zlen + WIRE_ZIP_OVERHEAD <= WIRE_MSG_MAX);
    FUZZ_CHECK(zip_rx_msg(rx, fuzz_z, zlen, fuzz_out, len + 1, len) == 0);
    FUZZ_CHECK(memcmp(fuzz_out, p, len) == 0);
    p += len, n -= len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (!fuzz_rx) { /* kept for the process's life, as libFuzzer runs it */
    FUZZ_CHECK(zip_rx_new(&fuzz_rx) == 0);
    for (int l = 1; l <= 3; l++) FUZZ_CHECK(zip_tx_new(&fuzz_tx[l - 1], l) == 0);
  }
  if (data[0] & 1) fuzz_roundtrip((data[0] >> 1) % 3 + 1, data + 1, size - 1);
  else fuzz_stream(data + 1, size - 1);
  return 0;
}
