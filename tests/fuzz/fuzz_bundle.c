/*
 * fuzz_bundle.c - the bundle reader (proto/bundle.h) over a whole file, and
 * rec_decode of every record it hands out, as `stoa import` does.
 *
 * Every record view must lie inside the input and within REC_MAX; the
 * reader must stop (0 or an error) within as many steps as the input has
 * frames; a verified end means the trailer's count matched; an error
 * stays an error when the reader is asked again.  Records that
 * decode have their signature checked against the fixed federation.
 */
#include <string.h>

#include "proto/bundle.h"
#include "proto/err.h"
#include "proto/record.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bundle_reader br;
  uint8_t fed[32];
  const uint8_t *b;
  size_t n, steps = 0;
  rec r;
  int e;

  fuzz_sodium();
  fuzz_fed(fed);
  if ((e = bundle_reader_init(&br, data, size)) != 0) {
    FUZZ_CHECK(e < 0);
    return 0;
  }
  FUZZ_CHECK(br.hdr.part <= UINT32_MAX && br.p <= data + size);
  /* Each frame takes at least its 4-byte length. */
  while ((e = bundle_reader_next(&br, &b, &n)) == 1) {
    FUZZ_CHECK(++steps <= size / 4);
    FUZZ_CHECK(n <= REC_MAX && b >= data && b + n <= data + size);
    if (rec_decode(b, n, &r) == 0) (void)rec_verify(&r, fed);
  }
  FUZZ_CHECK(e <= 0);
  /* An error is final: asking again must not hand out what follows a
   * failed trailer (nor read a finalised hash state again). */
  if (e < 0) FUZZ_CHECK(bundle_reader_next(&br, &b, &n) < 0);
  if (e == 0) {
    fuzz_note("bundle trailer verified");
    FUZZ_CHECK(br.done == 1 && br.count == steps && br.p == data + size);
    FUZZ_CHECK(bundle_reader_next(&br, &b, &n) == 0);
  }
  return 0;
}
