/*
 * bundle.h - bundle files: signed records carried by hand (docs/bundle-format.md).
 *
 *   file    = magic "STOABDL1" frame*
 *   frame   = u32 big-endian length, payload (length <= REC_MAX)
 *   first   : header  msgpack ["stoa bundle", 1, federation id(32), created_ms,
 *                              part, parts]
 *   then    : one record envelope per frame
 *   last    : trailer msgpack ["end", record count, BLAKE2b-256 of every byte
 *                              before the trailer frame]
 * Records are signed one by one, so a damaged bundle still yields its intact
 * records; the trailer tells a truncated or altered file from a whole one.
 */
#ifndef STOA_BUNDLE_H
#define STOA_BUNDLE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"

#define BUNDLE_MAGIC "STOABDL1"
#define BUNDLE_MAGIC_LEN 8

typedef struct bundle_hdr {
  uint8_t fed[HASH_LEN];
  uint64_t created;
  uint32_t part, parts;       /* 1-based part of a split bundle */
} bundle_hdr;

typedef int (*bundle_write_fn)(void *ctx, const void *buf, size_t len);

typedef struct bundle_writer {
  bundle_write_fn write;
  void *ctx;
  crypto_generichash_blake2b_state h;
  uint64_t count;
  uint64_t bytes;             /* written so far */
} bundle_writer;

/* Starts a bundle: magic and header.  Errors from write are returned. */
int bundle_writer_init(bundle_writer *w, const bundle_hdr *h, bundle_write_fn write, void *ctx);
/* Appends one record envelope. */
int bundle_writer_add(bundle_writer *w, const uint8_t *env, size_t len);
/* Writes the trailer. */
int bundle_writer_finish(bundle_writer *w);
/* Bytes the trailer adds (for splitting by size). */
#define BUNDLE_TRAILER_MAX 64

typedef struct bundle_reader {
  const uint8_t *start, *p, *end;
  bundle_hdr hdr;
  crypto_generichash_blake2b_state h;
  uint64_t count;
  int done;                   /* 1 after a verified trailer, the error after a failed one */
} bundle_reader;

/* Checks the magic and reads the header.  STOA_EMALFORMED (not a bundle),
 * STOA_EVERSION, STOA_ETRUNCATED. */
int bundle_reader_init(bundle_reader *r, const uint8_t *buf, size_t len);
/*
 * Next record: 1 with *buf and *len set (pointing into the buffer), 0 at a
 * verified end, or an error: STOA_ETRUNCATED (the file stops early),
 * STOA_ETOOBIG (a frame over REC_MAX), STOA_EHASH (the trailer does not
 * match: the file was altered), STOA_EMALFORMED, STOA_ETRAILING.  Once the
 * trailer has been read, later calls return the same result again.
 */
int bundle_reader_next(bundle_reader *r, const uint8_t **buf, size_t *len);

#endif
