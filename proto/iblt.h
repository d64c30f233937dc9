/*
 * iblt.h - rateless IBLT set reconciliation (Yang, Gilad, Alizadeh,
 * "Practical Rateless Set Reconciliation", SIGCOMM 2024).
 *
 * Items are 32-byte record hashes.  Coded symbol i of a set is the XOR of
 * the items that map to i, the XOR of their 64-bit checksums and their
 * count.  Every item maps to index 0 and to index i >= 1 with probability
 * 1/(1+i/2); the exact mapping is specified at the top of iblt.c.  The
 * sender streams its symbols 0, 1, 2, ...; the receiver subtracts its own
 * symbol of the same index and peels, and says stop once the decoder is
 * complete.  About 1.35 symbols per differing item suffice for a large
 * difference; equal sets finish after symbol 0.
 *
 *   iblt_sketch    the first `cap` symbols of a node's set, kept up to date
 *                  on every insert (O(log cap) each);
 *   iblt_symbols_* symbols of any range [start, start+count) from the full
 *                  set, for a difference too large for the cached prefix;
 *   iblt_decoder   the receiving side: remote symbols in, items out;
 *   iblt_sym_*     the wire form of one symbol.
 *
 * Everything here is pure: no I/O, no clocks.  Memory is allocated only by
 * iblt_sketch_init / iblt_sketch_copy and by the decoder, in proportion to
 * the symbols it has received.
 */
#ifndef STOA_IBLT_H
#define STOA_IBLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IBLT_ITEM_LEN 32
/* Indices are below this; an item's sequence ends there (iblt.c). */
#define IBLT_INDEX_LIMIT (UINT32_C(1) << 30)
/* Longest wire form of a symbol: a 10-byte varint, sum, checksum. */
#define IBLT_SYM_MAX (10 + IBLT_ITEM_LEN + 8)
/* |count| larger than this is refused on the wire (no real set is so big,
 * and it keeps remote - local free of overflow). */
#define IBLT_COUNT_MAX ((INT64_C(1) << 62) - 1)

/* Side of a decoded item. */
enum iblt_side {
  IBLT_LOCAL = -1, /* we hold it, the remote lacks it */
  IBLT_REMOTE = 1  /* the remote holds it, we lack it */
};

/* One coded symbol: 48 bytes. */
typedef struct iblt_sym {
  uint8_t sum[IBLT_ITEM_LEN]; /* XOR of the items */
  uint64_t chk;               /* XOR of their checksums */
  int64_t count;              /* number of items (signed in a difference) */
} iblt_sym;

/* The cached prefix [0, cap) of a set's symbols.  Caller allocates the
 * struct; sym is owned by the sketch. */
typedef struct iblt_sketch {
  iblt_sym *sym;
  uint32_t cap;
  uint64_t n; /* items added */
} iblt_sketch;

/* Checksum of an item: SipHash-2-4 under the fixed key of iblt.c. */
uint64_t iblt_item_chk(const uint8_t item[IBLT_ITEM_LEN]);

/* Writes up to `max` indices of `item` that lie in [from, limit), in
 * increasing order, to out; returns how many (for tests and tools). */
size_t iblt_item_indices(const uint8_t item[IBLT_ITEM_LEN], uint32_t from,
                         uint32_t limit, uint32_t *out, size_t max);

/* Allocates an empty sketch of `cap` symbols (1 <= cap <= IBLT_INDEX_LIMIT).
 * Returns 0, STOA_EINVAL or STOA_ENOMEM (then nothing is held). */
int iblt_sketch_init(iblt_sketch *sk, uint32_t cap);

/* Adds an item not yet in the set, in O(log cap).  Adding an item twice
 * corrupts the sketch: the caller adds each item once. */
void iblt_sketch_add(iblt_sketch *sk, const uint8_t item[IBLT_ITEM_LEN]);

/* Makes dst an independent copy of src, a frozen snapshot for one sync
 * while src keeps taking inserts.  Returns 0 or STOA_ENOMEM. */
int iblt_sketch_copy(iblt_sketch *dst, const iblt_sketch *src);

/* Frees the symbols; the struct may be reused with iblt_sketch_init. */
void iblt_sketch_free(iblt_sketch *sk);

/* Symbol i (NULL when i >= sk->cap); valid until free, changed by add. */
const iblt_sym *iblt_sketch_sym(const iblt_sketch *sk, uint32_t i);

/* Zeroes out[0, count): the start of a from-full-set computation. */
void iblt_symbols_clear(iblt_sym *out, size_t count);

/* Adds one item to symbols [start, start+count) held in out[0, count).
 * Costs O(1 + log((start+count)/start)) expected, independent of how far
 * start is from 0, so that one pass over a set of n items (an LMDB cursor,
 * an array) yields any range in O(n + count). */
void iblt_symbols_add_item(iblt_sym *out, uint32_t start, uint32_t count,
                           const uint8_t item[IBLT_ITEM_LEN]);

/* Symbols [start, start+count) of the n items in items (n * 32 bytes):
 * clear, then add each item.  Indices from IBLT_INDEX_LIMIT on stay zero. */
void iblt_symbols_compute(iblt_sym *out, uint32_t start, uint32_t count,
                          const uint8_t *items, size_t n);

/* Wire form of one symbol into buf[0, cap): a zero symbol is the single
 * byte 0x01; any other is varint(zigzag(count) << 1) || sum || chk (LE).
 * Sets *len.  Returns 0, STOA_ETOOBIG (buffer too small: IBLT_SYM_MAX
 * always suffices) or STOA_EINVAL (|count| > IBLT_COUNT_MAX). */
int iblt_sym_encode(const iblt_sym *s, uint8_t *buf, size_t cap, size_t *len);

/* Reads one symbol from the front of buf[0, len); sets *used to the bytes
 * it took.  Strict: never reads past len; a non-minimal varint, a count
 * beyond IBLT_COUNT_MAX, or a zero symbol in the long form is malformed.
 * Returns 0, STOA_ETRUNCATED or STOA_EMALFORMED. */
int iblt_sym_decode(iblt_sym *s, const uint8_t *buf, size_t len, size_t *used);

/* The receiving side.  Opaque: use the functions below. */
typedef struct iblt_dsym iblt_dsym;
typedef struct iblt_ditem iblt_ditem;
typedef struct iblt_decoder {
  const iblt_sketch *local; /* borrowed; NULL when the caller gives all */
  uint32_t max;             /* most symbols it will take */
  uint32_t m;               /* symbols received: the next index */
  uint32_t cap;             /* symbols allocated */
  uint32_t nonzero;         /* received symbols not yet peeled to zero */
  uint32_t ndec;            /* items decoded */
  uint32_t nheap;
  uint32_t nqueue;
  iblt_dsym *diff;          /* remote - local - decoded, per index */
  uint32_t *queue;          /* candidates for peeling */
  iblt_ditem *dec;          /* decoded items */
  uint32_t *heap;           /* decoded items by their next index */
} iblt_decoder;

/* Prepares a decoder that will take at most max_symbols remote symbols
 * and subtract the symbols of `local` (borrowed: it must not change until
 * iblt_decoder_free; pass an iblt_sketch_copy when inserts may happen),
 * or NULL when every local symbol will be passed in.  Allocates nothing
 * yet; iblt_decoder_add grows it to ~144 bytes per symbol received.
 * Returns 0 or STOA_EINVAL (max_symbols is 0 or above IBLT_INDEX_LIMIT). */
int iblt_decoder_init(iblt_decoder *d, const iblt_sketch *local,
                      uint32_t max_symbols);

/* Takes the remote symbol of index d->m, subtracts `local_sym` (our symbol
 * of that index; NULL to take it from the sketch, which then must cover
 * the index) and peels what it can, in O(1 + peeled * log m).
 * Returns 0; STOA_ETOOBIG (max_symbols reached) and STOA_ENOMEM leave the
 * decoder as it was; STOA_EINVAL (no local symbol for that index);
 * STOA_EPROTOCOL (more items peeled than symbols received: the remote
 * lies), after which the decoder may only be freed. */
int iblt_decoder_add(iblt_decoder *d, const iblt_sym *remote,
                     const iblt_sym *local_sym);

/* True when at least one symbol was received and every received symbol
 * is zero after peeling: the decoded items are the whole difference. */
bool iblt_decoder_complete(const iblt_decoder *d);

/* Number of items decoded so far; new ones are appended. */
uint32_t iblt_decoder_count(const iblt_decoder *d);

/* Decoded item i (32 bytes; valid until the next iblt_decoder_add, reset
 * or free: copy it out) and its side (IBLT_REMOTE or IBLT_LOCAL) in *side
 * when side is not NULL.  NULL when i >= count. */
const uint8_t *iblt_decoder_item(const iblt_decoder *d, uint32_t i, int *side);

/* Starts a new session against `local` (as in init), keeping the memory
 * and the limit: for a node that syncs again and again. */
void iblt_decoder_reset(iblt_decoder *d, const iblt_sketch *local);

/* Frees what the decoder holds; the struct may be reused after init. */
void iblt_decoder_free(iblt_decoder *d);

#endif
