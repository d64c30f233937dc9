/*
 * charter.h - the federation's charter.
 *
 * charter body = msgpack ["stoa charter", 1, name, quorum, [founder keys],
 *                         created_ms]
 * charter file = msgpack [body(bin), [[founder key(bin 32), sig(bin 64)], ...]]
 * Every founder signs "stoa charter v1\0" || body.  The federation id is
 * BLAKE2b-256(body).  See docs/record-format.md.
 */
#ifndef STOA_CHARTER_H
#define STOA_CHARTER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"

#define CHARTER_MAX_FOUNDERS 64
#define CHARTER_NAME_MAX 200
#define CHARTER_MAX 8192

typedef struct charter {
  char name[CHARTER_NAME_MAX + 1];
  uint32_t quorum;
  uint32_t nfounders;
  uint8_t founders[CHARTER_MAX_FOUNDERS][KEY_LEN];
  uint64_t created;
  uint8_t id[HASH_LEN];     /* federation id */
} charter;

/*
 * Builds a charter file signed by every founder (`sks`, libsodium secret
 * keys, one per founder).  Writes at most CHARTER_MAX bytes to out.
 * Errors: STOA_EINVAL (quorum 0 or above the founders, no founder, name
 * empty or too long, a founder twice), STOA_ETOOBIG.
 */
int charter_build(const char *name, uint32_t quorum, const uint8_t (*sks)[64],
                  size_t n, uint64_t created, uint8_t *out, size_t cap,
                  size_t *outlen);

/* Strict decode of a charter file; checks every founder's signature and
 * computes the id.  Errors: STOA_ECHARTER, STOA_EBADSIG, decoding errors. */
int charter_decode(const uint8_t *buf, size_t len, charter *c);

#endif
