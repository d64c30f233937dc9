/*
 * ctl.h - the control socket between `stoa` and `stoad` (docs/protocol.md §4).
 *
 * Frames: a 4-byte big-endian length (1..CTL_MAX) and a msgpack map.
 *   request  = {"cmd": str, "arg": str (optional)}
 *   response = {"ok": bool, "error": str (when not ok), ...fields of the
 *               command} - built by the daemon with msgpack-c, read by the
 *               CLI as a generic map.
 */
#ifndef STOA_CTL_H
#define STOA_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_MAX (1u << 20)
#define CTL_ARG_MAX 512
#define CTL_SOCKET "stoad.sock"

enum ctl_cmd {
  CTL_STATUS = 1, /* node, federation, records, peers with their counters */
  CTL_PEERS,      /* configured and connected peers */
  CTL_PEER_ADD,   /* arg: host:port */
  CTL_PEER_REMOVE,/* arg: host:port */
  CTL_SYNC,       /* arg: host:port, or none for every connected peer */
  CTL_NOTIFY,     /* the CLI wrote records: send them on now */
  CTL_BOOK,       /* the address book: addresses learned, their history */
};

typedef struct ctl_req {
  int cmd;
  const char *arg;        /* NULL when absent; not NUL-terminated */
  uint32_t arg_len;
} ctl_req;

const char *ctl_cmd_name(int cmd);
int ctl_cmd_from_name(const char *s, size_t n);

/* Encodes a request (without the 4-byte length).  STOA_ETOOBIG, STOA_EINVAL. */
int ctl_req_encode(const ctl_req *r, uint8_t *out, size_t cap, size_t *len);
/* Strict decode; unknown keys are ignored.  STOA_EMALFORMED, STOA_EPROTOCOL
 * (unknown command), decoding errors. */
int ctl_req_decode(const uint8_t *buf, size_t len, ctl_req *r);
/* Reads a frame header: the length, checked against CTL_MAX. */
int ctl_frame_len(const uint8_t hdr[4], uint32_t *len);
void ctl_frame_put(uint8_t hdr[4], uint32_t len);

#endif
