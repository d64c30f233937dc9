/*
 * sketch.h - sketch files: the first K coded symbols of a node's set of
 * record hashes, carried by hand to a connected site, which answers with a
 * bundle of exactly what the sketch's owner lacks (docs/bundle-format.md).
 *
 *   file     = magic "STOASKT1" header symbols checksum
 *   header   = u32 big-endian length (<= SKETCH_HDR_MAX), then msgpack
 *              ["stoa sketch", 1, federation id (bin 32), created_ms,
 *               set size, K, symbols length]
 *   symbols  = K coded symbols 0..K-1 in the wire form of iblt.h, exactly
 *              `symbols length` bytes
 *   checksum = BLAKE2b-256 of every byte before it
 *
 * The symbols are the ones stoad streams in a sync (proto/iblt.c), so a
 * sketch is a sync whose first K symbols travel on a USB stick.  A sketch
 * is not signed: it only says which records its owner holds, and the worst
 * a forged one can do is ask for records that are public anyway.  Its
 * reader is strict all the same (hostile files): it checks every length
 * against the bytes that remain, the checksum, and that the symbols can be
 * those of a set of `set size` items, and it never allocates.
 */
#ifndef STOA_SKETCH_H
#define STOA_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/iblt.h"

#define SKETCH_MAGIC "STOASKT1"
#define SKETCH_MAGIC_LEN 8
#define SKETCH_VERSION 1
/* Longest header frame a reader accepts (version 1 writes ~70 bytes). */
#define SKETCH_HDR_MAX 256
/* Most symbols in a sketch: 2^20, as many as stoad's decoder takes in one
 * sync; about 43 MiB of file and ~700,000 differences.  Past that, a full
 * bundle or `export --since` is the cheaper path anyway. */
#define SKETCH_SYMBOLS_MAX (UINT32_C(1) << 20)
#define SKETCH_SUM_LEN 32
/* Largest sketch file: magic, header frame, symbols, checksum. */
#define SKETCH_FILE_MAX \
  (SKETCH_MAGIC_LEN + 4 + SKETCH_HDR_MAX + (size_t)SKETCH_SYMBOLS_MAX * IBLT_SYM_MAX + SKETCH_SUM_LEN)

typedef struct sketch_hdr {
  uint8_t fed[32];  /* federation id */
  uint64_t created; /* ms since the epoch */
  uint64_t n;       /* items in the set (symbol 0's count) */
  uint32_t k;       /* symbols in the file: 0..k-1 */
} sketch_hdr;

typedef int (*sketch_write_fn)(void *ctx, const void *buf, size_t len);

/*
 * Writes a sketch of the set whose symbols 0..h->k-1 are syms[] through
 * write(), and its size in *bytes (may be NULL).  Refuses what a reader
 * would refuse: k of 0 or above SKETCH_SYMBOLS_MAX, a count outside
 * [0, n], symbol 0's count other than n (STOA_EINVAL).  Errors of write()
 * are returned as they are; then a partial file has been written.
 * Cost: O(k); nothing is allocated.
 */
int sketch_write(const sketch_hdr *h, const iblt_sym *syms, sketch_write_fn write, void *ctx,
                 uint64_t *bytes);

/* A checked sketch in the caller's buffer (borrowed: it must outlive the
 * reader). */
typedef struct sketch_reader {
  sketch_hdr hdr;
  const uint8_t *syms; /* the symbol section */
  size_t syms_len;
  const char *why;     /* after a failure: what is wrong, static text */
  uint64_t want_len;   /* after STOA_ETRUNCATED/ETRAILING past the header: the file's length */
} sketch_reader;

/*
 * Checks a whole sketch file: magic, header, length, checksum, then every
 * symbol (strict wire form, counts within [0, set size], symbol 0 counting
 * the whole set, zero counts on zero symbols, a count of 1 on a pure
 * symbol whose checksum matches its item).  K and the set size are
 * checked against their limits and against the bytes present before
 * anything trusts them.  Never allocates; O(K).
 * Returns 0, or: STOA_EMALFORMED (not a sketch, or inconsistent content),
 * STOA_EVERSION (a sketch of another format version), STOA_ETRUNCATED (the
 * file ends early), STOA_ETRAILING (bytes after the checksum), STOA_EHASH
 * (the checksum does not match: the file was altered), STOA_ETOOBIG (K or
 * the set size beyond any real sketch).  r->why then says more.
 */
int sketch_reader_init(sketch_reader *r, const uint8_t *buf, size_t len);

/* Decodes the r->hdr.k symbols of a checked sketch into out[]. */
void sketch_reader_symbols(const sketch_reader *r, iblt_sym *out);

/*
 * Subtracts our symbols local[0, r->hdr.k) from the sketch's and peels, in
 * d (initialised here; the caller frees it with iblt_decoder_free, also
 * after a failure), until the difference is decoded.  Items on the
 * IBLT_LOCAL side are ours and missing from the sketch's owner; IBLT_REMOTE
 * items are the owner's and missing here.  *used gets the symbols taken.
 * Returns 0 (complete), STOA_ETOOBIG (not decoded with the K symbols of
 * the sketch: the difference is larger than about K / 1.4), STOA_EPROTOCOL
 * (inconsistent symbols: not the sketch of any set), STOA_ENOMEM.
 * Cost: O(K + d log K) time, ~144 bytes a symbol taken.
 */
int sketch_reconcile(const sketch_reader *r, const iblt_sym *local, iblt_decoder *d,
                     uint32_t *used);

/*
 * K for a sketch that decodes `d` differences with high probability:
 * ceil(1.4 d + 3 sqrt(d) + 32), at most SKETCH_SYMBOLS_MAX.  Measured
 * (docs/bundle-format.md): a one-sided difference of d random items needs
 * 1.37 d + ~2.1 sqrt(d) + ~17 symbols in 99% of the cases, with a heavier
 * tail for small d; this adds a margin for the 99.9th percentile.
 */
uint32_t sketch_symbols_for(uint64_t d);

/* The largest d with sketch_symbols_for(d) <= k: the differences a sketch
 * of k symbols decodes with high probability (0 below 37 symbols). */
uint64_t sketch_differences_for(uint32_t k);

#endif
