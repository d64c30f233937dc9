/*
 * store_int.h - private to store/: the LMDB layout and shared helpers.
 * The layout is described in docs/storage.md; keep the two in step.
 */
#ifndef STOA_STORE_INT_H
#define STOA_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "proto/trust.h"
#include "store/store.h"

/*
 * Format 2 (format 1 is converted at open, maint.c):
 *   DB_REC  hash -> sequence number (u64 BE)
 *   DB_SEQ  sequence number -> envelope (a stub once erased), appended in
 *           order: the bulk of the data is written sequentially
 *   DB_HIST the versions of entries that have two or more; an entry with
 *           one version has it in its DB_ENT row only
 *   DB_DOC  docid -> id || owner, kind, unique tokens: facets first, then
 *           words, each in order of first appearance (index__doc_tokens)
 * Held records that the trust state does not make valid (a revoked key, a
 * removed network: docs/trust.md) stay in DB_REC and DB_SEQ but in no index:
 * a DB_HIST row whose value is HIST_VOID marks them.  DB_META holds, under
 * "mx" || owner || signer, the newest timestamp of a held record that the
 * signer (not the owner itself) wrote for the owner, so that a key's
 * endorsement or revocation re-judges stored records only when some could be
 * concerned; "mxok" says those rows cover every held record.
 */
#define STORE_FORMAT 4
#define SEG_TARGET 1024        /* postings per full-text segment */
/* A DB_PEND value: why (4, negated STOA code) || received (8, ms) ||
 * source (STORE_SRC_LEN; zeros: this node's user) || envelope.  DB_META
 * holds, under "ps" || source, how many rows a peer source has. */
#define PEND_HDR (12 + STORE_SRC_LEN)
#define DOC_TOKENS_MAX STORE_TOKS_MAX /* bytes of folded tokens kept per document */

enum {
  DB_META, DB_REC, DB_SEQ, DB_ENT, DB_HIST, DB_DOC, DB_FTS, DB_VOC, DB_TRUST,
  DB_ERASEV, DB_ERASED, DB_PEND, DB__COUNT
};

/* Value of DB_ENT (key: id || owner). */
typedef struct ent_val {
  uint64_t docid;            /* 0 = not in the full-text index */
  uint64_t ts;
  uint8_t hash[HASH_LEN];
  uint32_t versions;
  uint8_t kind;
  uint8_t erased;
} ent_val;
#define ENT_VAL_LEN (8 + 8 + HASH_LEN + 4 + 1 + 1)

struct fts_acc;
struct ent_cache;
struct rec_claims;
struct judge_ctx;

/* DB_HIST values: a valid version (empty) or a held void one (one byte). */
#define HIST_VOID 'v'

/* Work buffers of the write transaction: one per store, so that stores (and
 * threads using different stores) share nothing. */
typedef struct store_tok { const char *p; uint32_t len, hash; } store_tok;
typedef struct store_scratch {
  uint8_t doc[EKEY_LEN + 1 + DOC_TOKENS_MAX];   /* a DB_DOC value */
  char toks[DOC_TOKENS_MAX];
  store_tok tk[DOC_TOKENS_MAX / 2];             /* a document's tokens, split */
  struct acc_ent *slot[DOC_TOKENS_MAX / 2];     /* and their postings */
} store_scratch;

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB__COUNT];
  store_opts o;
  bool has_charter;
  charter ch;
  trust_state *trust;         /* the writer's: write transactions only */
  uint64_t trust_gen;         /* generation the in-memory state reflects */
  /* The readers' own copy (store_trust), so that a write on another thread
   * (store_ingest_bg) never changes the state a reader holds. */
  trust_state *rtrust;
  uint64_t rtrust_gen;
  /* Write transactions, whatever the thread, one at a time: they share the
   * work buffers below. */
  pthread_mutex_t wmu;
  /* Set by the reading thread while store_ingest_bg may run elsewhere: the
   * environment is then never reopened nor remapped (store_writer_busy). */
  bool writer_busy;
  bool trust_dirty;           /* changed in the open write txn */
  struct fts_acc *acc;        /* postings collected in the open write txn */
  /* The meta counters "seq" and "docid", read when a write transaction
   * starts and written back before it commits: not two puts per record. */
  uint64_t tx_seq, tx_docid;
  /* DB_PEND and DB_ERASED may hold rows (false: they are empty, and a
   * record needs no look-up there).  Set when a write transaction starts. */
  bool tx_pend_any, tx_erased_any;
  struct ent_cache *ents;     /* DB_ENT rows of the open write txn (index.c) */
  struct rec_claims *claims;  /* DB_REC rows the batch will write (ingest.c) */
  struct judge_ctx *jc;       /* trust changes of the open write txn (ingest.c) */
  store_scratch *scr;
};

struct store_rd {
  store *s;
  MDB_txn *txn;
};

/* LMDB code -> STOA code. */
int store__err(int rc);

/* Sorting a batch's keys (hashes, entry keys, tokens) for writes in key
 * order: a radix sort on the first eight bytes, big-endian, then runs of
 * equal prefixes by cmp(ctx, idx, idx).  O(n), where qsort's indirect
 * compares cost a good part of a microsecond per record. */
typedef struct sort_ent {
  uint64_t key;
  uint64_t idx;
} sort_ent;
int store__sort(sort_ent *v, size_t n, int (*cmp)(const void *ctx, uint64_t a, uint64_t b),
                const void *ctx);
/* The first eight bytes of p[0..n) as a big-endian number (zeros after n). */
static inline uint64_t sort_key(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t k = 0;
  for (size_t i = 0; i < 8; i++) k = k << 8 | (i < n ? b[i] : 0);
  return k;
}

/* Big-endian integers in keys, so that byte order is numeric order. */
static inline void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Entry key (owner || id) <-> the DB_ENT key (id || owner), which puts the
 * random id first so that a typed prefix finds the entry. */
static inline void ekey_to_dbkey(const uint8_t ek[EKEY_LEN], uint8_t out[EKEY_LEN]) {
  memcpy(out, ek + KEY_LEN, ID_LEN);
  memcpy(out + ID_LEN, ek, KEY_LEN);
}
static inline void dbkey_to_ekey(const uint8_t dk[EKEY_LEN], uint8_t out[EKEY_LEN]) {
  memcpy(out, dk + ID_LEN, KEY_LEN);
  memcpy(out + KEY_LEN, dk, ID_LEN);
}

void ent_val_pack(const ent_val *v, uint8_t out[ENT_VAL_LEN]);
int ent_val_unpack(const MDB_val *d, ent_val *v);

/* Meta counters. */
int store__meta_u64(MDB_txn *txn, store *s, const char *key, uint64_t *v);
int store__meta_put_u64(MDB_txn *txn, store *s, const char *key, uint64_t v);

/* Reloads the trust state when another transaction changed it. */
int store__trust_sync(store *s, MDB_txn *txn);
int store__trust_replay(store *s, MDB_txn *txn);

/* A body's search tokens computed ahead (store_item_prepare), or NULL. */
typedef struct doc_toks {
  const char *p;
  size_t len;
} doc_toks;

/* What index__record stores of the record itself. */
enum index_put {
  IDX_NONE,       /* reindex: the record and its sequence number are stored */
  IDX_ALL,        /* DB_REC and DB_SEQ */
  IDX_CLAIMED,    /* DB_SEQ only: the caller put DB_REC (hash -> tx_seq + 1) */
};

/* index.c: puts a held record (put) and updates every index when it is
 * valid; a void one (valid false) gets its HIST_VOID row only. */
int index__record(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                  int put, const doc_toks *t, bool valid, store_counts *c);
/* index.c: where a held record stands: 1 indexed as valid, 0 marked void,
 * STOA_ENOTFOUND neither (a store written before void rows existed). */
int index__state(store *s, MDB_txn *txn, const rec *r);
/* index.c: a held, indexed record becomes void: out of the entry, history
 * and search indexes, the entry's previous valid version current again (or
 * the entry gone when none is left), and marked HIST_VOID.  r must not point
 * into the map (the call writes). */
int index__void(store *s, MDB_txn *txn, const rec *r);
/* index.c: a held void record becomes valid: indexed as index__record does.
 * buf/r must not point into the map. */
int index__unvoid(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len);
/* index.c: drops bodies of an entry's versions up to `until`. */
int index__erase(store *s, MDB_txn *txn, const uint8_t ekey[EKEY_LEN], uint64_t until,
                 store_counts *c);
/* index.c: DB_ENT in a write transaction (see there).  Outside the write
 * transaction that index__ent_begin named, get and put go to the database. */
int index__ent_begin(store *s, MDB_txn *txn);
int index__ent_get(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], ent_val *v);
int index__ent_put(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], const ent_val *v);
int index__ent_preload(store *s, MDB_txn *txn, uint8_t (*dks)[EKEY_LEN], size_t n);
int index__ent_flush(store *s, MDB_txn *txn);
void index__ent_free(store *s);

/* ingest.c: the sequence number of a record this batch accepted but whose
 * DB_REC row is not written yet (0: none). */
uint64_t ingest__claimed(store *s, MDB_txn *txn, const uint8_t hash[HASH_LEN]);
void ingest__claims_reset(store *s); /* at the end of every write transaction */
void ingest__claims_free(store *s);

int index__acc_begin(store *s);
int index__acc_flush(store *s, MDB_txn *txn);
void index__acc_free(store *s);
/* The folded tokens of a decoded record's body, unique, space separated:
 * its facets first, then its words, each in order of first appearance, cut
 * at a token boundary to fit cap (>= DOC_TOKENS_MAX).  Thread-safe. */
int index__doc_tokens(int kind, const uint8_t *body, size_t len, char *out, size_t cap,
                      size_t *outlen);

/* Versions of an entry (DB_ENT key), oldest first.  DB_HIST holds the
 * versions of entries that have more than one; an entry with one version
 * has it in its DB_ENT row alone, which saves a random put per new entry. */
typedef int (*index_version_cb)(void *ctx, uint64_t ts, const uint8_t hash[HASH_LEN]);
int index__versions(store *s, MDB_txn *txn, const uint8_t dk[EKEY_LEN], index_version_cb cb,
                    void *ctx);

/* Records: DB_REC maps a hash to its sequence number, DB_SEQ a sequence
 * number to the envelope, so that the bulk of the data is appended in
 * order.  Envelope of a hash (*seq may be NULL); STOA_ENOTFOUND. */
int store__rec_get(store *s, MDB_txn *txn, const uint8_t hash[HASH_LEN], MDB_val *env,
                   uint64_t *seq);

/* ingest.c: stores (put) and indexes a record judged held; valid false:
 * void (held, in the record set, in no index).  Trust and erase records take
 * effect either way (docs/trust.md, "Re-judging"). */
int ingest__accept(store *s, MDB_txn *txn, const rec *r, const uint8_t *buf, size_t len,
                   int put, const doc_toks *t, bool valid, store_counts *c);

/*
 * ingest.c: the write transaction's trust bookkeeping (struct judge_ctx):
 * the trust events it added, which keys were ever endorsed, and the newest
 * timestamp per (owner, signer) of the records it stored.
 *   ingest__jc_begin   at the start of every write that ingests or reindexes
 *   ingest__mx_note    a held record signed by `signer` for `owner` at ts
 *   ingest__mx_flush   merges the noted timestamps into DB_META (at the end)
 *   ingest__jc_free    at the end of that write (nothing is kept between
 *                      transactions: the store's close need not know of it)
 */
int ingest__jc_begin(store *s, MDB_txn *txn);
void ingest__jc_free(store *s);
int ingest__mx_note(store *s, const uint8_t owner[KEY_LEN], const uint8_t signer[KEY_LEN],
                    uint64_t ts);
int ingest__mx_flush(store *s, MDB_txn *txn);
/* The pending rows' counters per peer source ("ps" rows of DB_META)
 * against the rows themselves: *wrong gets how many sources disagree;
 * with fix (a write transaction), the counters are rewritten from the
 * rows.  0 or an error. */
int ingest__pend_recount(store *s, MDB_txn *txn, bool fix, size_t *wrong);
/* The transaction noted every held record (a full pass): "mxok" may be set. */
void ingest__mx_covered(store *s);

/* A trust event the open write transaction added, and whether data records
 * had already been stored in it (late: they were judged without it). */
typedef struct judge_ev {
  trust_event ev;
  bool late;
} judge_ev;
/* The events added so far (borrowed until the next ingest__jc_begin). */
const judge_ev *ingest__added(store *s, size_t *n);
/* Newest timestamp of a held record by signer for owner: in DB_META before
 * this transaction (0: none), and with this transaction's records (with_txn). */
int ingest__mx_get(store *s, MDB_txn *txn, const uint8_t owner[KEY_LEN],
                   const uint8_t signer[KEY_LEN], bool with_txn, uint64_t *ts);
/* Whether DB_META's "mx" rows covered every held record when the write
 * transaction began. */
bool ingest__mx_complete(store *s);

/*
 * maint.c: re-judges the held records that the trust events this write
 * transaction added may concern, so that what is indexed is what the trust
 * state makes valid, whatever order records and trust events came in.  A key
 * event concerns the key's records for its network from its time on (and
 * only when DB_META says some exist); a member event may change any
 * network's membership (votes cascade), so it re-judges every held record.
 * Cost: nothing without trust events; otherwise one pass over the insertion
 * sequence reading headers only, plus a decode and an index update per
 * record concerned.  *changed (may be NULL) gets the number of records that
 * became void or valid.
 */
int store__rejudge(store *s, MDB_txn *txn, size_t *changed);

/* Runs fn in a write transaction, growing the map and retrying on
 * MDB_MAP_FULL; fn must be safe to run again from the start. */
int store__write(store *s, int (*fn)(store *s, MDB_txn *txn, void *ctx), void *ctx);


/* LEB128 varints in full-text segments. */
static inline size_t varint_put(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) { p[n++] = (uint8_t)(v | 0x80); v >>= 7; }
  p[n++] = (uint8_t)v;
  return n;
}
static inline int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) { *v = x; return 0; }
  }
  return -1;
}

/* Decodes a segment (first docid from its key) into out[] ascending; returns
 * the count or -1 when malformed or larger than cap. */
int index__seg_decode(uint64_t first, const uint8_t *p, size_t len, uint64_t *out, size_t cap);
/* Longest token index.c writes: a facet (its facet()) or a folded word. */
#define INDEX_TOKEN_MAX 80
#define FTS_KEY_MAX (INDEX_TOKEN_MAX + 1 + 8)

/* The value of a reference facet (~r:) for entry key ek (owner || id): the
 * id, then the first REF_OWNER_BYTES of the owner, in hex.  The owner part
 * keeps another network's entry of the same id (ids are chosen by their
 * writer) out of the references to this one; the whole owner would not fit
 * a token, and matching 8 of its bytes takes 2^64 tries. */
#define REF_OWNER_BYTES 8
#define REF_HEX_LEN (2 * (ID_LEN + REF_OWNER_BYTES))
static inline void index__ref_hex(const uint8_t ek[EKEY_LEN], char out[REF_HEX_LEN]) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < ID_LEN + REF_OWNER_BYTES; i++) {
    uint8_t b = i < ID_LEN ? ek[KEY_LEN + i] : ek[i - ID_LEN];
    out[2 * i] = d[b >> 4];
    out[2 * i + 1] = d[b & 15];
  }
}

/* maint.c: converts a store of an older format (in one transaction). */
int store__upgrade(store *s, uint64_t from);

/* ingest.c: records an endorse/revoke in DB_TRUST and the in-memory state. */
int ingest__trust_add(store *s, MDB_txn *txn, const rec *r);

#endif
