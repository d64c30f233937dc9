/*
 * mp.h - a strict, non-allocating msgpack reader.
 *
 * msgpack-c's unpacker allocates an array of objects as large as the count a
 * header declares before it has seen the elements, so a 5-byte input
 * (dd ff ff ff ff) asks it for 64 GiB.  Peer data, files and user input are
 * hostile, so every decoder in Stoa reads through this cursor instead: it
 * never allocates, checks every length against the bytes that remain before
 * it trusts it, refuses ext types, and checks UTF-8 in every string.
 * Encoding uses msgpack-c's packer (proto/mpw.h).
 *
 * All functions return 0 or a negative STOA_E* code; on error the cursor is
 * left where it was.  Pointers handed out point into the input buffer and
 * live as long as it does.
 */
#ifndef STOA_MP_H
#define STOA_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 8

typedef struct mp_reader {
  const uint8_t *p;
  const uint8_t *end;
} mp_reader;

enum mp_type {
  MP_NIL = 1, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY,
  MP_MAP, MP_EXT
};

static inline void mp_reader_init(mp_reader *r, const void *buf, size_t len) {
  r->p = (const uint8_t *)buf;
  r->end = r->p + len;
}
static inline size_t mp_left(const mp_reader *r) { return (size_t)(r->end - r->p); }

/* Type of the next value (an enum mp_type), or STOA_ETRUNCATED / STOA_EMALFORMED
 * (0xc1 is never valid). */
int mp_peek(const mp_reader *r);

/* Containers: the count is checked against the bytes that remain (every
 * element takes at least one byte), so a caller may size work by it. */
int mp_read_array(mp_reader *r, uint32_t *n);
int mp_read_map(mp_reader *r, uint32_t *n);
/* A string, checked to be valid UTF-8 (no overlongs, no surrogates). */
int mp_read_str(mp_reader *r, const char **s, uint32_t *len);
int mp_read_bin(mp_reader *r, const uint8_t **b, uint32_t *len);
/* A bin of exactly `len` bytes (keys 32, ids 16, signatures 64). */
int mp_read_binn(mp_reader *r, const uint8_t **b, uint32_t len);
/* A non-negative integer (either msgpack int family). */
int mp_read_uint(mp_reader *r, uint64_t *v);
int mp_read_int(mp_reader *r, int64_t *v);
int mp_read_bool(mp_reader *r, bool *v);
int mp_read_nil(mp_reader *r);
/* The next value as raw bytes [*start, *start+*len), fully validated as
 * mp_skip() does. */
int mp_read_raw(mp_reader *r, const uint8_t **start, size_t *len, int depth);
/* Skips one value, validating it completely; `depth` is how many containers
 * enclose it (containers nested deeper than MP_MAX_DEPTH: STOA_ETOODEEP). */
int mp_skip(mp_reader *r, int depth);

/* Exactly one valid value filling buf: no trailing bytes, no ext types,
 * valid UTF-8, nesting <= MP_MAX_DEPTH. */
int mp_check(const void *buf, size_t len);

/* True when [s, s+n) is valid UTF-8 (RFC 3629). */
bool mp_utf8_valid(const uint8_t *s, size_t n);

#endif
