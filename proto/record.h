/*
 * record.h - signed records: header, envelope, signature, hash.
 *
 * A record is a signed header and a body (docs/record-format.md).
 *   header   = msgpack [version, kind, owner(32), id(16), ts_ms, signer(32),
 *                       body_len, body_hash(32)]        (exact bytes signed)
 *   envelope = msgpack [header(bin), signature(bin 64), body(bin) | nil]
 *   signed   = Ed25519 over "stoa record v1\0" || federation id || header
 *   hash     = BLAKE2b-256(header || signature)   (the record's identity)
 * A nil body is an erased record: the header still verifies.
 */
#ifndef STOA_RECORD_H
#define STOA_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define REC_VERSION 1
/* Whole envelope: under 64 KiB, and small enough that one record and its
 * message header fit in one transport frame (65,535 bytes less the 16-byte
 * tag). */
#define REC_MAX 65000
#define REC_HDR_MAX 256
#define KEY_LEN 32
#define ID_LEN 16
#define SIG_LEN 64
#define HASH_LEN 32
#define EKEY_LEN (KEY_LEN + ID_LEN) /* entry key: owner || id */
#define REC_FUTURE_MS (15 * 60 * 1000)
#define REC_SIG_DOMAIN "stoa record v1"

enum rec_kind {
  REC_ORG = 1, REC_ACTOR, REC_PRACTICE, REC_ENDORSE, REC_REVOKE, REC_ERASE,
  REC_PEER, REC__KIND_MAX = REC_PEER
};

typedef struct rec_header {
  uint32_t version;
  int kind;
  uint8_t owner[KEY_LEN];
  uint8_t id[ID_LEN];
  uint64_t ts;              /* ms since the epoch */
  uint8_t signer[KEY_LEN];
  uint32_t body_len;
  uint8_t body_hash[HASH_LEN];
} rec_header;

/* A decoded record: a view into the caller's buffer, valid as long as it. */
typedef struct rec {
  rec_header h;
  const uint8_t *hdr;   /* exact header bytes */
  size_t hdr_len;
  const uint8_t *sig;   /* SIG_LEN bytes */
  const uint8_t *body;  /* NULL when erased (a stub) */
  size_t body_len;
  uint8_t hash[HASH_LEN];
} rec;

/* Kind name ("org") or NULL; kind from name or 0. */
const char *rec_kind_name(int kind);
int rec_kind_from_name(const char *name, size_t len);
/* Directory kinds (org, actor, practice) versus trust and peer kinds. */
static inline bool rec_kind_is_entry(int k) { return k >= REC_ORG && k <= REC_PRACTICE; }
static inline bool rec_kind_is_trust(int k) { return k >= REC_ENDORSE && k <= REC_ERASE; }

/* Strict decode of a header's bytes. */
int rec_header_decode(const uint8_t *buf, size_t len, rec_header *h);

/*
 * Strict decode of an envelope: exactly one value, no trailing bytes, header
 * well-formed, body (if present) of the declared length and hash and itself
 * a valid msgpack map (mp_check).  Computes r->hash.  Does not check the
 * signature (rec_verify) or the body's schema (schema_check).
 * Errors: STOA_ETOOBIG, STOA_EMALFORMED, STOA_ETRUNCATED, STOA_ETRAILING,
 * STOA_EVERSION, STOA_EKIND, STOA_EHASH, STOA_EUTF8, STOA_EEXT, STOA_ETOODEEP.
 */
int rec_decode(const uint8_t *buf, size_t len, rec *r);

/*
 * For envelopes from our own store only, which rec_decode checked whole
 * when they came in: rec_peek reads the envelope and header and computes
 * r->hash, without rec_decode's body hash and msgpack walk (the larger
 * part of its cost); rec_peek_header gives the header alone.  Bounds are
 * still checked, so a damaged store gives an error, never a bad read.
 */
int rec_peek(const uint8_t *buf, size_t len, rec *r);
int rec_peek_header(const uint8_t *buf, size_t len, rec_header *h);

/* Checks the signature for federation `fed`.  0 or STOA_EBADSIG. */
int rec_verify(const rec *r, const uint8_t fed[HASH_LEN]);

/*
 * Builds and signs a record.  `sk` is the signer's libsodium secret key (64
 * bytes); the signer's public key is taken from it.  Writes the envelope to
 * `out` (capacity `cap`, REC_MAX is always enough) and its length to *outlen.
 * Errors: STOA_ETOOBIG, STOA_EINVAL.
 */
int rec_build(int kind, const uint8_t owner[KEY_LEN], const uint8_t id[ID_LEN],
              uint64_t ts, const uint8_t sk[64], const uint8_t *body,
              size_t body_len, const uint8_t fed[HASH_LEN], uint8_t *out,
              size_t cap, size_t *outlen);

/* Re-encodes a decoded record without its body (an erased stub). */
int rec_stub(const rec *r, uint8_t *out, size_t cap, size_t *outlen);

/* Newer-than for the current version of an entry: later ts, ties by hash. */
static inline int rec_cmp_version(uint64_t ts_a, const uint8_t *ha, uint64_t ts_b,
                                  const uint8_t *hb) {
  if (ts_a != ts_b) return ts_a < ts_b ? -1 : 1;
  return memcmp(ha, hb, HASH_LEN);
}

#endif
