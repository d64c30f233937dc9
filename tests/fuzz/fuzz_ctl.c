/*
 * fuzz_ctl.c - the control socket's request decoder (proto/ctl.h), which
 * reads what any local process writes to stoad.sock.
 *
 * The first four bytes also go through ctl_frame_len.  The rest is one
 * request body: ctl_req_decode, and when it accepts, the argument must lie
 * inside the input and within CTL_ARG_MAX, and the request must re-encode
 * and decode again to the same command and argument.
 */
#include <string.h>

#include "proto/ctl.h"
#include "proto/err.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t out[CTL_ARG_MAX + 64];
  ctl_req r, r2;
  uint32_t flen;
  size_t n;
  int e;

  if (size >= 4 && ctl_frame_len(data, &flen) == 0) FUZZ_CHECK(flen >= 1 && flen <= CTL_MAX);
  e = ctl_req_decode(data, size, &r);
  if (e) {
    FUZZ_CHECK(e < 0 && r.cmd == 0 && r.arg == NULL);
    return 0;
  }
  FUZZ_CHECK(ctl_cmd_name(r.cmd) != NULL);
  FUZZ_CHECK(ctl_cmd_from_name(ctl_cmd_name(r.cmd), strlen(ctl_cmd_name(r.cmd))) == r.cmd);
  if (r.arg) {
    FUZZ_CHECK(r.arg_len <= CTL_ARG_MAX);
    FUZZ_CHECK((const uint8_t *)r.arg >= data && (const uint8_t *)r.arg + r.arg_len <= data + size);
  }
  FUZZ_CHECK(ctl_req_encode(&r, out, sizeof out, &n) == 0);
  FUZZ_CHECK(n <= sizeof out);
  FUZZ_CHECK(ctl_req_decode(out, n, &r2) == 0);
  FUZZ_CHECK(r2.cmd == r.cmd && (r2.arg == NULL) == (r.arg == NULL));
  if (r.arg) FUZZ_CHECK(r2.arg_len == r.arg_len && (!r.arg_len || !memcmp(r2.arg, r.arg, r.arg_len)));
  return 0;
}
