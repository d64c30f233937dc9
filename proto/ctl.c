/*
 * ctl.c - requests on the control socket (docs/protocol.md §4).
 *
 * A request is tiny (a command name and an argument of at most CTL_ARG_MAX
 * bytes), so it is written by hand into the caller's buffer and read with
 * the strict cursor of mp.h; neither side allocates.  Responses are generic
 * maps built by the daemon with msgpack-c and are not handled here.
 */
#include "proto/ctl.h"

#include <stdbool.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

static const char *const ctl__names[] = {
  [CTL_STATUS] = "status", [CTL_PEERS] = "peers", [CTL_PEER_ADD] = "peer-add",
  [CTL_PEER_REMOVE] = "peer-remove", [CTL_SYNC] = "sync", [CTL_NOTIFY] = "notify",
  [CTL_BOOK] = "book",
};
#define CTL__NCMD ((int)(sizeof ctl__names / sizeof ctl__names[0]))

/* The name of a command, or NULL for a number that is none. */
const char *ctl_cmd_name(int cmd) {
  if (cmd < CTL_STATUS || cmd >= CTL__NCMD) return NULL;
  return ctl__names[cmd];
}

/* The command named by [s, s+n), or STOA_EPROTOCOL. */
int ctl_cmd_from_name(const char *s, size_t n) {
  if (s == NULL) return STOA_EPROTOCOL;
  for (int c = CTL_STATUS; c < CTL__NCMD; c++)
    if (strlen(ctl__names[c]) == n && memcmp(ctl__names[c], s, n) == 0) return c;
  return STOA_EPROTOCOL;
}

/* Appends a msgpack str; false when it does not fit. */
static bool ctl__put_str(uint8_t *out, size_t cap, size_t *at, const char *s, size_t n) {
  size_t h = n <= 31 ? 1 : n <= UINT8_MAX ? 2 : 3; /* n <= CTL_ARG_MAX < 65536 */
  if (h + n > cap - *at) return false;
  uint8_t *p = out + *at;
  if (h == 1) p[0] = (uint8_t)(0xa0 | n);
  else if (h == 2) { p[0] = 0xd9; p[1] = (uint8_t)n; }
  else { p[0] = 0xda; p[1] = (uint8_t)(n >> 8); p[2] = (uint8_t)n; }
  if (n) memcpy(p + h, s, n);
  *at += h + n;
  return true;
}

int ctl_req_encode(const ctl_req *r, uint8_t *out, size_t cap, size_t *len) {
  const char *name = ctl_cmd_name(r->cmd);
  bool has_arg = r->arg != NULL;
  size_t at = 0;
  if (name == NULL) return STOA_EINVAL;
  if (has_arg && (r->arg_len > CTL_ARG_MAX ||
                  !mp_utf8_valid((const uint8_t *)r->arg, r->arg_len)))
    return STOA_EINVAL;
  if (cap > CTL_MAX) cap = CTL_MAX;
  if (cap < 1) return STOA_ETOOBIG;
  out[at++] = (uint8_t)(0x80 | (has_arg ? 2 : 1)); /* fixmap */
  if (!ctl__put_str(out, cap, &at, "cmd", 3) || !ctl__put_str(out, cap, &at, name, strlen(name)))
    return STOA_ETOOBIG;
  if (has_arg && (!ctl__put_str(out, cap, &at, "arg", 3) ||
                  !ctl__put_str(out, cap, &at, r->arg, r->arg_len)))
    return STOA_ETOOBIG;
  *len = at;
  return 0;
}

/*
 * The map is read whole before the command is looked up, so a well-formed
 * request naming an unknown command is told apart (STOA_EPROTOCOL) from a
 * broken one.  Keys must be strings; "cmd" and "arg" may appear once each
 * and must be strings; other keys are skipped (validated).  O(len).
 */
int ctl_req_decode(const uint8_t *buf, size_t len, ctl_req *r) {
  mp_reader rd;
  uint32_t n, klen, cmd_len = 0;
  const char *key, *cmd = NULL;
  int e;
  memset(r, 0, sizeof *r);
  if (len == 0) return STOA_ETRUNCATED;
  if (len > CTL_MAX) return STOA_ETOOBIG;
  mp_reader_init(&rd, buf, len);
  if ((e = mp_read_map(&rd, &n))) return e;
  for (uint32_t i = 0; i < n; i++) {
    if ((e = mp_read_str(&rd, &key, &klen))) goto out;
    if (klen == 3 && memcmp(key, "cmd", 3) == 0) {
      if (cmd != NULL) { e = STOA_EMALFORMED; goto out; }
      if ((e = mp_read_str(&rd, &cmd, &cmd_len))) goto out;
    } else if (klen == 3 && memcmp(key, "arg", 3) == 0) {
      if (r->arg != NULL) { e = STOA_EMALFORMED; goto out; }
      if ((e = mp_read_str(&rd, &r->arg, &r->arg_len))) goto out;
      if (r->arg_len > CTL_ARG_MAX) { e = STOA_ETOOBIG; goto out; }
    } else if ((e = mp_skip(&rd, 1))) {
      goto out;
    }
  }
  if (mp_left(&rd)) { e = STOA_ETRAILING; goto out; }
  if (cmd == NULL) { e = STOA_EMALFORMED; goto out; }
  if ((e = ctl_cmd_from_name(cmd, cmd_len)) < 0) goto out;
  r->cmd = e;
  e = 0;
out:
  if (e) memset(r, 0, sizeof *r);
  return e;
}

/* Length 0 is a protocol error; more than CTL_MAX is STOA_ETOOBIG. */
int ctl_frame_len(const uint8_t hdr[4], uint32_t *len) {
  uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n == 0) return STOA_EPROTOCOL;
  if (n > CTL_MAX) return STOA_ETOOBIG;
  *len = n;
  return 0;
}

void ctl_frame_put(uint8_t hdr[4], uint32_t len) {
  hdr[0] = (uint8_t)(len >> 24);
  hdr[1] = (uint8_t)(len >> 16);
  hdr[2] = (uint8_t)(len >> 8);
  hdr[3] = (uint8_t)len;
}
