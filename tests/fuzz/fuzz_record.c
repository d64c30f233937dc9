/*
 * fuzz_record.c - record envelopes (rec_decode) and bodies (schema_check).
 *
 * The first byte chooses the mode:
 *   even: the rest is an envelope.  rec_decode; when it accepts, the views
 *         must lie inside the input and agree with the header, the
 *         signature is checked, the body goes through schema_check, and the
 *         erased stub (rec_stub) must decode to the same identity.
 *   odd:  the rest is a body of kind (byte >> 1) & 7 (0 is no kind).  A
 *         mutated envelope almost never keeps its body hash, so this mode is
 *         how the fuzzer reaches the schema rules.  A body schema_check
 *         accepts is signed with the fixed test key and must come back
 *         intact through rec_decode and rec_verify.
 */
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"
#include "proto/record.h"
#include "proto/schema.h"
#include "tests/fuzz/fuzz.h"

static uint8_t fuzz_out[REC_MAX];

static void fuzz_why_ok(const schema_error *why) {
  FUZZ_CHECK(memchr(why->field, '\0', sizeof why->field) != NULL);
  FUZZ_CHECK(memchr(why->msg, '\0', sizeof why->msg) != NULL);
}

static void fuzz_envelope(const uint8_t *data, size_t size, const uint8_t fed[32]) {
  rec r, s;
  schema_error why = { "", "" };
  size_t n;
  int e = rec_decode(data, size, &r);

  if (e) {
    FUZZ_CHECK(e < 0);
    return;
  }
  FUZZ_CHECK(size <= REC_MAX);
  FUZZ_CHECK(r.hdr >= data && r.hdr + r.hdr_len <= data + size);
  FUZZ_CHECK(r.hdr_len <= REC_HDR_MAX);
  FUZZ_CHECK(r.sig >= data && r.sig + SIG_LEN <= data + size);
  FUZZ_CHECK(r.h.version == REC_VERSION && rec_kind_name(r.h.kind) != NULL);
  if (r.body) {
    FUZZ_CHECK(r.body >= data && r.body + r.body_len <= data + size);
    FUZZ_CHECK(r.body_len == r.h.body_len);
    FUZZ_CHECK(mp_check(r.body, r.body_len) == 0);
    e = schema_check(r.h.kind, r.body, r.body_len, &why);
    FUZZ_CHECK(e <= 0);
    fuzz_why_ok(&why);
  } else {
    FUZZ_CHECK(r.body_len == 0);
  }
  if (rec_verify(&r, fed) == 0) fuzz_note("envelope verified");

  /* The stub keeps the header and signature, so the identity. */
  FUZZ_CHECK(rec_stub(&r, fuzz_out, sizeof fuzz_out, &n) == 0);
  FUZZ_CHECK(rec_decode(fuzz_out, n, &s) == 0);
  FUZZ_CHECK(s.body == NULL && memcmp(s.hash, r.hash, HASH_LEN) == 0);
  FUZZ_CHECK(s.hdr_len == r.hdr_len && memcmp(s.hdr, r.hdr, r.hdr_len) == 0);
}

static void fuzz_body(int kind, const uint8_t *body, size_t size, const uint8_t fed[32]) {
  static uint8_t pk[32], sk[64];
  static int have_key;
  static const uint8_t id[ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  schema_error why = { "", "" };
  size_t n;
  rec r;
  int e = schema_check(kind, body, size, &why);

  FUZZ_CHECK(e <= 0);
  fuzz_why_ok(&why);
  if (e) return;
  /* What the schema accepts is one valid msgpack map and fits a record. */
  FUZZ_CHECK(mp_check(body, size) == 0);
  if (!have_key) {
    fuzz_key(FUZZ_SEED_A, pk, sk);
    have_key = 1;
  }
  e = rec_build(kind, pk, id, 1700000000000ull, sk, body, size, fed, fuzz_out,
                sizeof fuzz_out, &n);
  if (e) {
    FUZZ_CHECK(e == STOA_ETOOBIG); /* a body near REC_MAX leaves no room */
    return;
  }
  FUZZ_CHECK(rec_decode(fuzz_out, n, &r) == 0);
  FUZZ_CHECK(r.h.kind == kind && r.body_len == size && memcmp(r.body, body, size) == 0);
  FUZZ_CHECK(memcmp(r.h.owner, pk, 32) == 0 && memcmp(r.h.signer, pk, 32) == 0);
  FUZZ_CHECK(rec_verify(&r, fed) == 0);
  fuzz_note("body signed and decoded");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t fed[32];

  if (size == 0) return 0;
  fuzz_sodium();
  fuzz_fed(fed);
  if (data[0] & 1) fuzz_body((data[0] >> 1) & 7, data + 1, size - 1, fed);
  else fuzz_envelope(data + 1, size - 1, fed);
  return 0;
}
